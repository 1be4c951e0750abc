/*
 * score.c - the statistics of `sisa gauge` (gauge/score.h; rules in docs/gauge.md).
 */
#include "gauge/score.h"

#include "base/mem.h"
#include "sisa/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sisa_gauge_work_init(sisa_gauge_work *w, size_t n)
{
    memset(w, 0, sizeof *w);
    if (n > ((size_t)1 << 40)) return SISA_ERR(SISA_ENOMEM, "gauge: %zu values is too many", n);
    w->d = sisa_malloc(6 * (n + 2) * sizeof *w->d);
    w->i = sisa_malloc(4 * (n + 2) * sizeof *w->i);
    if (!w->d || !w->i) {
        sisa_gauge_work_free(w);
        return SISA_ERR(SISA_ENOMEM, "gauge: out of memory for %zu values", n);
    }
    w->n = n;
    return SISA_OK;
}

void sisa_gauge_work_free(sisa_gauge_work *w)
{
    sisa_free(w->d);
    sisa_free(w->i);
    memset(w, 0, sizeof *w);
}

double sisa_gauge_logit(double p)
{
    if (p < SISA_GAUGE_P_CLIP) p = SISA_GAUGE_P_CLIP;
    if (p > 1.0 - SISA_GAUGE_P_CLIP) p = 1.0 - SISA_GAUGE_P_CLIP;
    return log(p) - log(1.0 - p);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

void sisa_gauge_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}

double sisa_gauge_quantile(const double *sorted, size_t n, double q)
{
    if (n == 0) return NAN;
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static double median_sorted(const double *v, size_t n)
{
    return 0.5 * (v[(n - 1) / 2] + v[n / 2]);
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* log(1 - delta - k/n) for k = 0..n (-inf where the argument is not positive), and log(k/n). */
static void fill_logs(double *one_minus, double *rate, size_t n, double delta)
{
    for (size_t k = 0; k <= n; k++) {
        double r = (double)k / (double)n;
        double arg = 1.0 - delta - r;
        one_minus[k] = arg > 0 ? log(arg) : -INFINITY;
        rate[k] = log(r);
    }
}

double sisa_gauge_epsilon(const double *a, size_t na, const double *b, size_t nb, double delta,
                          sisa_gauge_work *w)
{
    if (na == 0 || nb == 0 || na + nb > w->n) return NAN;
    if (!all_finite(a, na) || !all_finite(b, nb)) return NAN;

    double *sa = w->d, *sb = w->d + na;
    memcpy(sa, a, na * sizeof *a);
    memcpy(sb, b, nb * sizeof *b);
    sisa_gauge_sort(sa, na);
    sisa_gauge_sort(sb, nb);

    double ra = sa[na - 1] - sa[0], rb = sb[nb - 1] - sb[0];
    double narrow = ra < rb ? ra : rb, wide = ra < rb ? rb : ra;
    if (wide == 0 || narrow < 0.01 * wide) return SISA_GAUGE_EPS_NARROW;

    /* Positive: the larger median (a on a tie). */
    const double *sp = sa, *sq = sb;
    size_t np = na, nq = nb;
    if (median_sorted(sb, nb) > median_sorted(sa, na)) {
        sp = sb, sq = sa;
        np = nb, nq = na;
    }

    /* Bins of both, sorted (floor is monotone), then the distinct bins u[0..K) with the counts
     * of each population at or below each: cp[k] = #{positive bin <= u[k]}. */
    int64_t *bp = w->i, *bq = bp + np, *u = bq + nq, *cp = u + np + nq;
    int64_t *cq = w->i + 2 * (w->n + 2) + (w->n + 2); /* the 4th quarter */
    for (size_t k = 0; k < np; k++) bp[k] = (int64_t)floor(100.0 * sp[k]);
    for (size_t k = 0; k < nq; k++) bq[k] = (int64_t)floor(100.0 * sq[k]);
    size_t K = 0, ip = 0, iq = 0;
    while (ip < np || iq < nq) {
        int64_t v;
        if (iq >= nq || (ip < np && bp[ip] <= bq[iq]))
            v = bp[ip];
        else
            v = bq[iq];
        while (ip < np && bp[ip] == v) ip++;
        while (iq < nq && bq[iq] == v) iq++;
        u[K] = v;
        cp[K] = (int64_t)ip;
        cq[K] = (int64_t)iq;
        K++;
    }

    double *l1p = w->d + na + nb, *lrp = l1p + np + 1, *l1q = lrp + np + 1, *lrq = l1q + nq + 1;
    fill_logs(l1p, lrp, np, delta);
    fill_logs(l1q, lrq, nq, delta);

    /* Every rule is an interval of bins [u[i], u[j]] (a threshold is the interval that ends at
     * the last bin). Inside: positive. */
    double eps = 0;
    for (size_t i = 0; i < K; i++) {
        int64_t p0 = i ? cp[i - 1] : 0, q0 = i ? cq[i - 1] : 0;
        for (size_t j = i; j < K; j++) {
            size_t fn = np - (size_t)(cp[j] - p0); /* positives outside */
            size_t fp = (size_t)(cq[j] - q0);      /* negatives inside */
            if (fn == 0 && fp == 0) return INFINITY;
            if (fn == 0 || fp == 0) continue;
            /* FPR = fp/nq, FNR = fn/np */
            double e1 = l1q[fp] - lrp[fn];
            double e2 = l1p[fn] - lrq[fp];
            double e = e1 > e2 ? e1 : e2;
            if (e > eps) eps = e;
        }
    }
    return eps;
}

double sisa_gauge_bucket_score(double eps, size_t n)
{
    if (isnan(eps) || n < 3) return NAN;
    if (!isfinite(eps)) return 0;
    double buckets = 2.0 * ceil(log((double)(n - 1)));
    double k = floor(eps / 0.5);
    if (k >= buckets) return 0;
    return ldexp(1.0, -(int)k);
}

double sisa_gauge_ks_pvalue(const double *a, size_t na, const double *b, size_t nb,
                            sisa_gauge_work *w)
{
    if (na == 0 || nb == 0 || na + nb > w->n) return NAN;
    double *sa = w->d, *sb = w->d + na, *q = w->d + na + nb;
    memcpy(sa, a, na * sizeof *a);
    memcpy(sb, b, nb * sizeof *b);
    sisa_gauge_sort(sa, na);
    sisa_gauge_sort(sb, nb);

    /* The statistic times na*nb, exactly: max |i nb - j na| after each distinct value. */
    int64_t d = 0;
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        double v = (j >= nb || (i < na && sa[i] <= sb[j])) ? sa[i] : sb[j];
        while (i < na && sa[i] == v) i++;
        while (j < nb && sb[j] == v) j++;
        int64_t diff = (int64_t)i * (int64_t)nb - (int64_t)j * (int64_t)na;
        if (diff < 0) diff = -diff;
        if (diff > d) d = diff;
    }

    /* P(every lattice point of a random path from (0,0) to (na,nb) has |i nb - j na| < d),
     * as a probability per point: q(i,j) = q(i-1,j) i/(i+j) + q(i,j-1) j/(i+j). */
    for (size_t jj = 0; jj <= nb; jj++) q[jj] = 0;
    for (size_t ii = 0; ii <= na; ii++) {
        for (size_t jj = 0; jj <= nb; jj++) {
            int64_t diff = (int64_t)ii * (int64_t)nb - (int64_t)jj * (int64_t)na;
            if (diff < 0) diff = -diff;
            if (diff >= d) {
                q[jj] = 0;
                continue;
            }
            if (ii == 0 && jj == 0) {
                q[jj] = 1;
                continue;
            }
            double s = (double)(ii + jj);
            double up = ii ? q[jj] * ((double)ii / s) : 0;
            double left = jj ? q[jj - 1] * ((double)jj / s) : 0;
            q[jj] = up + left;
        }
    }
    double p = 1.0 - q[nb];
    if (p < 0) p = 0;
    if (p > 1) p = 1;
    return p;
}

double sisa_gauge_auc(const double *member, size_t n_member, const double *non, size_t n_non,
                      sisa_gauge_work *w)
{
    if (n_member == 0 || n_non == 0 || n_member + n_non > w->n) return NAN;
    double *sm = w->d, *sn = w->d + n_member;
    memcpy(sm, member, n_member * sizeof *member);
    memcpy(sn, non, n_non * sizeof *non);
    sisa_gauge_sort(sm, n_member);
    sisa_gauge_sort(sn, n_non);
    /* For each member loss: non-members above it, plus half those equal. */
    double wins = 0;
    size_t below = 0, upto = 0; /* non-members < v, <= v */
    for (size_t k = 0; k < n_member; k++) {
        double v = sm[k];
        while (below < n_non && sn[below] < v) below++;
        if (upto < below) upto = below;
        while (upto < n_non && sn[upto] <= v) upto++;
        wins += (double)(n_non - upto) + 0.5 * (double)(upto - below);
    }
    return wins / ((double)n_member * (double)n_non);
}
