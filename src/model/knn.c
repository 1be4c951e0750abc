/*
 * knn.c - exact k nearest neighbours (knn.h), and the parameterless model of model.type knn.
 */
#include "model/knn.h"

#include "base/mem.h"
#include "model/kernels.h"
#include "model/model_internal.h"
#include "sisa/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN 32

struct sisa_knn_index {
    const float *X;
    const uint64_t *id;
    const int32_t *y;
    uint64_t n;
    uint32_t d, k, cap; /* cap: candidates nominated per query, min(k + MARGIN, n) */
    sisa_metric metric;
    double *norm;    /* (n) |x|^2 */
    double max_norm; /* max |x| */
    double gamma;    /* d u / (1 - d u): the bound of a float dot product's relative error */
    float *G;        /* (SISA_KNN_BLOCK, n) Q X^T */
    sisa_knn_cand *heap;
    double *est; /* (cap) */
};

static int cand_less(const sisa_knn_cand *a, const sisa_knn_cand *b)
{
    return a->dist < b->dist || (a->dist == b->dist && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const sisa_knn_cand *a = pa, *b = pb;
    return cand_less(a, b) ? -1 : cand_less(b, a) ? 1 : 0;
}

static const sisa_knn_cand unused = {INFINITY, UINT64_MAX, -1, 0};

static double sq_norm(const float *x, uint32_t d)
{
    double s = 0;
    for (uint32_t f = 0; f < d; f++) s += (double)x[f] * x[f];
    return s;
}

double sisa_knn_distance(const float *q, const float *x, uint32_t d, sisa_metric metric, double nq,
                         double nx)
{
    double s = 0;
    if (metric == SISA_METRIC_COSINE) {
        if (nq == 0 || nx == 0) return 1.0;
        const double iq = 1.0 / sqrt(nq), ix = 1.0 / sqrt(nx);
        for (uint32_t f = 0; f < d; f++) s += ((double)q[f] * iq) * ((double)x[f] * ix);
        s = 1.0 - s;
        return s < 0 ? 0 : s > 2 ? 2 : s;
    }
    for (uint32_t f = 0; f < d; f++) {
        double t = (double)q[f] - (double)x[f];
        s += t * t;
    }
    return sqrt(s);
}

void sisa_knn_index_free(sisa_knn_index *ix)
{
    if (!ix) return;
    sisa_free(ix->norm);
    sisa_free(ix->G);
    sisa_free(ix->heap);
    sisa_free(ix->est);
    sisa_free(ix);
}

int sisa_knn_index_create(sisa_knn_index **out, const float *X, const uint64_t *id,
                          const int32_t *y, uint64_t n, uint32_t d, uint32_t k, sisa_metric metric)
{
    int err = SISA_OK;
    sisa_knn_index *ix = NULL;
    *out = NULL;
    SISA_CHECK(k >= 1 && d >= 1 && n < UINT32_MAX, SISA_EINTERNAL, "knn: bad index shape");
    SISA_CHECK(metric == SISA_METRIC_EUCLIDEAN || metric == SISA_METRIC_COSINE, SISA_EINTERNAL,
               "knn: unknown metric %d", (int)metric);
    ix = sisa_calloc(1, sizeof *ix);
    SISA_CHECK(ix, SISA_ENOMEM, "out of memory");
    ix->X = X;
    ix->id = id;
    ix->y = y;
    ix->n = n;
    ix->d = d;
    ix->k = k;
    ix->metric = metric;
    ix->cap = (uint32_t)(k + MARGIN < n ? k + MARGIN : n);
    const double u = ldexp(1.0, -24);
    ix->gamma = (double)d * u / (1.0 - (double)d * u);
    SISA_CHECK((double)d * u < 0.5, SISA_EUSAGE,
               "knn: %u features are too many for the certified float32 candidate search", d);
    ix->norm = sisa_malloc((n ? n : 1) * sizeof *ix->norm);
    ix->G = sisa_malloc((size_t)SISA_KNN_BLOCK * (n ? n : 1) * sizeof *ix->G);
    ix->heap = sisa_malloc(((size_t)ix->cap + 1) * sizeof *ix->heap);
    ix->est = sisa_malloc(((size_t)ix->cap + 1) * sizeof *ix->est);
    SISA_CHECK(ix->norm && ix->G && ix->heap && ix->est, SISA_ENOMEM,
               "out of memory for a kNN index of %llu rows (%.1f MiB of query scratch)",
               (unsigned long long)n, (double)SISA_KNN_BLOCK * (double)n * 4.0 / 1048576.0);
    for (uint64_t i = 0; i < n; i++) {
        ix->norm[i] = sq_norm(X + i * d, d);
        if (sqrt(ix->norm[i]) > ix->max_norm) ix->max_norm = sqrt(ix->norm[i]);
    }
    *out = ix;
    ix = NULL;
done:
    sisa_knn_index_free(ix);
    return err;
}

/* Nomination heap: a max-heap on (estimate, row index), kept in est[] with row indices in
 * heap[].id (the index, not yet the sample ID). */
static int est_less(double ea, uint64_t ja, double eb, uint64_t jb)
{
    return ea < eb || (ea == eb && ja < jb);
}

static void sift_down(double *e, sisa_knn_cand *h, uint32_t n)
{
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && est_less(e[m], h[m].id, e[l], h[l].id)) m = l;
        if (r < n && est_less(e[m], h[m].id, e[r], h[r].id)) m = r;
        if (m == i) return;
        double te = e[i];
        sisa_knn_cand tc = h[i];
        e[i] = e[m], h[i] = h[m];
        e[m] = te, h[m] = tc;
        i = m;
    }
}

static void sift_up(double *e, sisa_knn_cand *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!est_less(e[p], h[p].id, e[i], h[i].id)) return;
        double te = e[i];
        sisa_knn_cand tc = h[i];
        e[i] = e[p], h[i] = h[p];
        e[p] = te, h[p] = tc;
        i = p;
    }
}

/* Every row's exact distance, the k smallest kept (the fallback of an uncertified query). */
static void full_scan(sisa_knn_index *ix, const float *q, double nq, sisa_knn_cand *out)
{
    const uint32_t k = ix->k;
    uint32_t size = 0;
    for (uint32_t c = 0; c < k; c++) out[c] = unused;
    for (uint64_t j = 0; j < ix->n; j++) {
        sisa_knn_cand c = {
            sisa_knn_distance(q, ix->X + j * ix->d, ix->d, ix->metric, nq, ix->norm[j]), ix->id[j],
            ix->y[j], 0};
        if (size == k && !cand_less(&c, &out[k - 1])) continue;
        /* insertion into the sorted list */
        uint32_t p = size < k ? size++ : k - 1;
        while (p > 0 && cand_less(&c, &out[p - 1])) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = c;
    }
}

uint32_t sisa_knn_index_query(sisa_knn_index *ix, const float *Q, uint32_t count,
                              sisa_knn_cand *out)
{
    const uint32_t k = ix->k, d = ix->d, C = ix->cap;
    const uint64_t n = ix->n;
    uint32_t fallbacks = 0;
    if (count == 0) return 0;
    if (n == 0) {
        for (size_t i = 0; i < (size_t)count * k; i++) out[i] = unused;
        return 0;
    }
    if (C < n) sisa_k_input_grad(ix->G, Q, ix->X, count, (uint32_t)n, d); /* G = Q X^T */
    for (uint32_t q = 0; q < count; q++) {
        const float *qx = Q + (size_t)q * d;
        sisa_knn_cand *list = out + (size_t)q * k;
        const double nq = sq_norm(qx, d);
        if (C == n) { /* every row is a candidate */
            full_scan(ix, qx, nq, list);
            continue;
        }
        const float *g = ix->G + (size_t)q * n;
        const int cosine = ix->metric == SISA_METRIC_COSINE;
        uint32_t size = 0;
        for (uint32_t j = 0; j < n; j++) {
            double e;
            if (cosine)
                e = nq == 0 || ix->norm[j] == 0 ? 1.0 : 1.0 - (double)g[j] / sqrt(nq * ix->norm[j]);
            else
                e = nq + ix->norm[j] - 2.0 * (double)g[j]; /* squared: the same order */
            if (size < C) {
                ix->est[size] = e;
                ix->heap[size].id = j;
                sift_up(ix->est, ix->heap, size++);
            } else if (est_less(e, j, ix->est[0], ix->heap[0].id)) {
                ix->est[0] = e;
                ix->heap[0].id = j;
                sift_down(ix->est, ix->heap, C);
            }
        }
        /* The farthest nominated estimate bounds every row left out from below. */
        const double floor_est = ix->est[0];
        for (uint32_t c = 0; c < C; c++) {
            const uint64_t j = ix->heap[c].id;
            ix->heap[c].dist = sisa_knn_distance(qx, ix->X + j * d, d, ix->metric, nq, ix->norm[j]);
            ix->heap[c].id = ix->id[j];
            ix->heap[c].label = ix->y[j];
            ix->heap[c].pad = 0;
        }
        qsort(ix->heap, C, sizeof *ix->heap, cand_cmp);
        const double kth = ix->heap[k - 1].dist;
        /* A row left out has true value >= its estimate - bound >= floor_est - bound. */
        int certified;
        if (cosine) {
            const double bound = ix->gamma * 1.000001 + 1e-12;
            certified = floor_est - bound > kth * (1.0 + 1e-12) + 1e-15;
        } else {
            const double bound = 2.0 * ix->gamma * 1.000001 * sqrt(nq) * ix->max_norm +
                                 1e-12 * (nq + ix->max_norm * ix->max_norm);
            certified = floor_est - bound > kth * kth * (1.0 + 1e-12) + 1e-300;
        }
        if (!certified) {
            full_scan(ix, qx, nq, list);
            fallbacks++;
            continue;
        }
        memcpy(list, ix->heap, (size_t)k * sizeof *list);
    }
    return fallbacks;
}

void sisa_knn_merge(const sisa_knn_cand *a, const sisa_knn_cand *b, uint32_t k, sisa_knn_cand *out)
{
    uint32_t i = 0, j = 0;
    for (uint32_t c = 0; c < k; c++) out[c] = cand_less(&b[j], &a[i]) ? b[j++] : a[i++];
}

void sisa_knn_posterior(const sisa_knn_cand *list, uint32_t k, uint32_t classes, float *proba)
{
    uint32_t used = 0;
    for (uint32_t c = 0; c < classes; c++) proba[c] = 0.0f;
    for (uint32_t c = 0; c < k; c++)
        if (list[c].label >= 0 && (uint32_t)list[c].label < classes) used++;
    if (!used) return;
    for (uint32_t c = 0; c < k; c++)
        if (list[c].label >= 0 && (uint32_t)list[c].label < classes) proba[list[c].label] += 1.0f;
    for (uint32_t c = 0; c < classes; c++) proba[c] = (float)((double)proba[c] / (double)used);
}

/* ---- the model table's entry: knn has no parameters ---------------------------------------- */

static int knn_layout(const sisa_model_spec *ms, uint32_t widths[SISA_MODEL_MAX_LAYERS + 1])
{
    (void)ms;
    (void)widths;
    return 0;
}

static void knn_init(sisa_model *m, sisa_rng *r)
{
    (void)m;
    (void)r;
}

static void knn_forward(sisa_model *m, const float *X, uint32_t n, float *logits)
{
    /* A kNN model predicts from its rows (shard/predict.c), never from parameters. */
    (void)X;
    for (size_t i = 0; i < (size_t)n * m->spec.classes; i++) logits[i] = NAN;
}

static double knn_forward_backward(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    (void)m, (void)X, (void)y, (void)n;
    return 0.0;
}

const sisa_model_ops sisa_model_knn_ops = {
    .name = "knn",
    .layout = knn_layout,
    .init = knn_init,
    .forward = knn_forward,
    .forward_backward = knn_forward_backward,
};
