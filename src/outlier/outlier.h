/*
 * outlier.h - outlier scores of training rows: Isolation Forest (Liu, Ting and Zhou 2008) and
 * the Local Outlier Factor (Breunig et al. 2000), as `sisa outliers` computes them
 * (docs/outliers.md). Pure math on row-major float32 matrices; no I/O, no MPI.
 *
 * Determinism: every result of a row depends only on the data, the parameters and the seed,
 * never on how the rows are split between processes: trees are drawn from Philox streams keyed
 * by (seed, tree); neighbour searches run over fixed blocks of SISA_LOF_BLOCK queries whose
 * candidates come from one GEMM each and whose final distances are recomputed in double, one
 * feature after another, with ties broken by row index (rows are in ID order).
 */
#ifndef SISA_OUTLIER_H
#define SISA_OUTLIER_H

#include "sisa/config.h"

#include <stddef.h>
#include <stdint.h>

/* ---- Isolation Forest ---------------------------------------------------------------------- */

typedef struct sisa_iforest_params {
    uint32_t trees;     /* >= 1 */
    uint32_t subsample; /* rows drawn (without replacement) per tree; min(subsample, n) used */
    uint64_t seed;
} sisa_iforest_params;

typedef struct sisa_iforest sisa_iforest;

/* c(n) = 2 (ln(n - 1) + gamma) - 2 (n - 1) / n for n > 2, 1 for n = 2, 0 below: the mean path
 * length of an unsuccessful search in a binary search tree of n keys. */
double sisa_iforest_c(double n);

/* Grow the forest on X (n, d), n >= 2: each tree isolates its subsample with random splits
 * (a feature drawn uniformly among those not constant in the node, a threshold uniform between
 * their minimum and maximum) down to depth ceil(log2(subsample)). */
int sisa_iforest_fit(sisa_iforest **out, const float *X, uint64_t n, uint64_t d,
                     const sisa_iforest_params *p);
/* Anomaly scores s = 2^(-E[h(x)] / c(subsample)) of `count` rows of X (count, d) into out:
 * h = the depth of x's leaf plus c(rows of the subsample in it), averaged over the trees in
 * order. Near 1: isolated early (an outlier); well under 0.5: a normal row. */
void sisa_iforest_score(const sisa_iforest *f, const float *X, uint64_t count, double *out);
void sisa_iforest_free(sisa_iforest *f);

/* ---- Local Outlier Factor ------------------------------------------------------------------ */

#define SISA_LOF_BLOCK 256 /* queries per neighbour-search block */

/* Scratch of one neighbour search: sized for X (n, d) and k. */
typedef struct sisa_knn_work sisa_knn_work;
int sisa_knn_work_init(sisa_knn_work **out, uint64_t n, uint64_t d, uint32_t k);
void sisa_knn_work_free(sisa_knn_work *w);

/* sisa_metric (Euclidean or cosine) is sisa/config.h's. */

/* The k nearest neighbours (the row itself left out) of rows [first, first + count) of X (n, d),
 * count <= SISA_LOF_BLOCK, given norms[i] = |x_i|^2 (double) for every row: nbr (count, k) row
 * indices and dist (count, k) distances, nearest first, ties by index. Euclidean: |x - y|.
 * Cosine: 1 - (x / |x|) . (y / |y|), clipped to [0, 2], a zero row counting as orthogonal to
 * every row (scikit-learn's cosine_distances). k < n. */
int sisa_knn_block(sisa_knn_work *w, const float *X, const double *norms, uint64_t n, uint64_t d,
                   uint32_t k, sisa_metric metric, uint64_t first, uint32_t count, uint32_t *nbr,
                   double *dist);
/* |x_i|^2 of every row, in double. */
void sisa_row_norms(double *out, const float *X, uint64_t n, uint64_t d);

/* LOF of every row from the k neighbours of all n rows (nbr, dist as sisa_knn_block writes
 * them): k-distance(o) = dist of o's k-th neighbour; reach(p, o) = max(k-distance(o), d(p, o));
 * lrd(p) = 1 / (mean over p's neighbours of reach(p, o) + 1e-10); LOF(p) = mean over p's
 * neighbours o of lrd(o) / lrd(p). `lrd` is scratch (n). About 1: as dense as its
 * neighbours; well above 1: an outlier. */
void sisa_lof_scores(double *out, double *lrd, const uint32_t *nbr, const double *dist, uint64_t n,
                     uint32_t k);

/* ---- flagging ------------------------------------------------------------------------------ */

/* The score above which rows are flagged so that `contamination` of them are, by the rule of
 * scikit-learn's `contamination`: the (1 - contamination) quantile of the scores, linear
 * interpolation between closest ranks; a row is flagged when its score is above it. `scratch`
 * (n) gets the sorted scores. */
double sisa_outlier_threshold(const double *scores, uint64_t n, double contamination,
                              double *scratch);

#endif
