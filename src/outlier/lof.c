/*
 * lof.c - exact k nearest neighbours and the Local Outlier Factor (outlier.h).
 *
 * A block of queries is compared with every row by one cblas_sgemm (|q|^2 + |x|^2 - 2 q.x):
 * fast, but float and dependent on the kernel. It only nominates candidates: the k + MARGIN
 * nearest by that estimate. Their distances are then recomputed in double, feature after
 * feature, and the k nearest by (distance, index) kept. The estimate errs by far less than the
 * gap to the (k + MARGIN)-th candidate on real data, so the result is the exact neighbour set;
 * and since a block is always the same rows whatever the process count, it is the same bits.
 */
#include "outlier/outlier.h"

#include "base/mem.h"
#include "model/kernels.h"
#include "model/knn.h" /* the exact distance: the kNN model's */
#include "sisa/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN 32

typedef struct {
    double d;
    uint32_t j;
} cand;

struct sisa_knn_work {
    float *G;   /* SISA_LOF_BLOCK x n */
    cand *heap; /* one query's candidates: a max-heap on (d, j) */
    uint32_t cap;
};

static int cand_less(const cand *a, const cand *b)
{
    return a->d < b->d || (a->d == b->d && a->j < b->j);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return cand_less(a, b) ? -1 : cand_less(b, a) ? 1 : 0;
}

int sisa_knn_work_init(sisa_knn_work **out, uint64_t n, uint64_t d, uint32_t k)
{
    (void)d;
    *out = NULL;
    sisa_knn_work *w = sisa_calloc(1, sizeof *w);
    if (!w) return SISA_ERR(SISA_ENOMEM, "out of memory");
    w->cap = k + MARGIN;
    w->G = sisa_malloc((size_t)SISA_LOF_BLOCK * n * sizeof *w->G);
    w->heap = sisa_malloc(w->cap * sizeof *w->heap);
    if (!w->G || !w->heap) {
        sisa_knn_work_free(w);
        return SISA_ERR(SISA_ENOMEM, "out of memory for the neighbour search (%llu rows)",
                        (unsigned long long)n);
    }
    *out = w;
    return SISA_OK;
}

void sisa_knn_work_free(sisa_knn_work *w)
{
    if (!w) return;
    sisa_free(w->G);
    sisa_free(w->heap);
    sisa_free(w);
}

void sisa_row_norms(double *out, const float *X, uint64_t n, uint64_t d)
{
    for (uint64_t i = 0; i < n; i++) {
        double s = 0;
        const float *x = X + i * d;
        for (uint64_t f = 0; f < d; f++) s += (double)x[f] * x[f];
        out[i] = s;
    }
}

/* Max-heap sift-down from the root, `n` entries. */
static void sift_down(cand *h, uint32_t n)
{
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cand_less(&h[m], &h[l])) m = l;
        if (r < n && cand_less(&h[m], &h[r])) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(cand *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!cand_less(&h[p], &h[i])) return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

int sisa_knn_block(sisa_knn_work *w, const float *X, const double *norms, uint64_t n, uint64_t d,
                   uint32_t k, sisa_metric metric, uint64_t first, uint32_t count, uint32_t *nbr,
                   double *dist)
{
    if (count > SISA_LOF_BLOCK || k < 1 || k >= n || n >= UINT32_MAX || d >= UINT32_MAX ||
        first + count > n)
        return SISA_ERR(SISA_EINTERNAL, "neighbour search: bad block");
    const uint32_t C = (uint32_t)(k + MARGIN < n - 1 ? k + MARGIN : n - 1);
    const float *Q = X + first * d;
    sisa_k_input_grad(w->G, Q, X, count, (uint32_t)n, (uint32_t)d); /* G = Q X^T */
    for (uint32_t q = 0; q < count; q++) {
        const uint64_t self = first + q;
        const float *g = w->G + (size_t)q * n;
        uint32_t size = 0;
        for (uint32_t j = 0; j < n; j++) {
            if (j == self) continue;
            double est;
            if (metric == SISA_METRIC_COSINE)
                est = norms[self] == 0 || norms[j] == 0
                          ? 1.0
                          : 1.0 - (double)g[j] / sqrt(norms[self] * norms[j]);
            else
                est = norms[self] + norms[j] - 2.0 * (double)g[j]; /* squared: same order */
            cand c = {est, j};
            if (size < C) {
                w->heap[size] = c;
                sift_up(w->heap, size++);
            } else if (cand_less(&c, &w->heap[0])) {
                w->heap[0] = c;
                sift_down(w->heap, C);
            }
        }
        /* the candidates' exact distances, then the k nearest by (distance, index) */
        const float *x = X + self * d;
        for (uint32_t c = 0; c < size; c++) {
            const uint32_t j = w->heap[c].j;
            w->heap[c].d =
                sisa_knn_distance(x, X + (size_t)j * d, (uint32_t)d, metric, norms[self], norms[j]);
        }
        qsort(w->heap, size, sizeof *w->heap, cand_cmp);
        for (uint32_t c = 0; c < k; c++) {
            nbr[(size_t)q * k + c] = w->heap[c].j;
            dist[(size_t)q * k + c] = w->heap[c].d;
        }
    }
    return SISA_OK;
}

void sisa_lof_scores(double *out, double *lrd, const uint32_t *nbr, const double *dist, uint64_t n,
                     uint32_t k)
{
    for (uint64_t p = 0; p < n; p++) {
        double s = 0;
        for (uint32_t c = 0; c < k; c++) {
            uint32_t o = nbr[p * k + c];
            double kd = dist[(size_t)o * k + k - 1], dp = dist[p * k + c];
            s += dp > kd ? dp : kd;
        }
        lrd[p] = 1.0 / (s / k + 1e-10);
    }
    for (uint64_t p = 0; p < n; p++) {
        double s = 0;
        for (uint32_t c = 0; c < k; c++) s += lrd[nbr[p * k + c]] / lrd[p];
        out[p] = s / k;
    }
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b ? 1 : 0;
}

double sisa_outlier_threshold(const double *scores, uint64_t n, double contamination,
                              double *scratch)
{
    memcpy(scratch, scores, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, cmp_double);
    double pos = (1.0 - contamination) * (double)(n - 1);
    uint64_t lo = (uint64_t)floor(pos);
    if (lo >= n - 1) return scratch[n - 1];
    double t = pos - (double)lo;
    return scratch[lo] + t * (scratch[lo + 1] - scratch[lo]);
}
