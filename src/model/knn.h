/*
 * knn.h - exact k nearest neighbours over a shard's rows: the model of `model.type: knn`.
 *
 * A kNN model is its training rows. A query's neighbours are the k rows nearest to it by
 * (distance, sample ID): equal distances go to the lower ID. Distances are computed in double,
 * feature after feature, from the float32 rows:
 *   euclidean  sqrt(sum_f (q_f - x_f)^2)
 *   cosine     1 - sum_f (q_f / |q|) (x_f / |x|), clipped to [0, 2]; a zero row is at 1 from
 *              every row (scikit-learn's cosine_distances)
 * so a pair's distance is the same bits whichever shard holds the row and whichever process
 * computes it.
 *
 * Speed comes from one cblas_sgemm per block of queries (|q|^2 + |x|^2 - 2 q.x), which only
 * nominates k + 32 candidates; the candidates' distances are then computed exactly. The float
 * product errs by at most gamma_d |q| |x| (gamma_d = d u / (1 - d u), u = 2^-24, whatever the
 * summation order of the OpenBLAS kernel), so a query is certified when every row left out
 * has an estimate farther than the k-th exact distance by more than that bound; otherwise the
 * query is answered by computing every row's exact distance. The result is therefore the exact
 * neighbour list, independent of the OpenBLAS core, never an approximation.
 *
 * Merging: the neighbour lists of disjoint row sets, merged by (distance, ID) and cut at k, are
 * the neighbour list of their union (aggregate.strategy: merge).
 */
#ifndef SISA_MODEL_KNN_H
#define SISA_MODEL_KNN_H

#include "sisa/config.h"

#include <stdint.h>

#define SISA_KNN_BLOCK 256 /* queries per sgemm */

/* One neighbour of a query. An unused slot (a list shorter than k) has dist = +inf,
 * id = UINT64_MAX, label = -1, and sorts after every real neighbour. */
typedef struct sisa_knn_cand {
    double dist;
    uint64_t id;
    int32_t label;
    uint32_t pad; /* 0: lists are compared and sent as bytes */
} sisa_knn_cand;

typedef struct sisa_knn_index sisa_knn_index;

/* An index over n rows X (n, d) with strictly increasing IDs `id` and labels y (borrowed: keep
 * them while the index lives), answering k-neighbour queries with `metric`. n may be 0 (every
 * list is then empty). Allocates everything a query needs. */
int sisa_knn_index_create(sisa_knn_index **out, const float *X, const uint64_t *id,
                          const int32_t *y, uint64_t n, uint32_t d, uint32_t k, sisa_metric metric);
void sisa_knn_index_free(sisa_knn_index *ix); /* NULL-safe */

/* The k neighbours of each of `count` (<= SISA_KNN_BLOCK) queries Q (count, d) into out
 * (count, k), nearest first; slots beyond the index's rows are unused (see above). Allocates
 * nothing. Returns the number of queries that needed the full exact scan (0 on real data;
 * benchmarks report it). */
uint32_t sisa_knn_index_query(sisa_knn_index *ix, const float *Q, uint32_t count,
                              sisa_knn_cand *out);

/* Merge two neighbour lists of one query (each sorted, k slots) into out (k slots): the k
 * smallest by (dist, id). out may not alias a or b. */
void sisa_knn_merge(const sisa_knn_cand *a, const sisa_knn_cand *b, uint32_t k, sisa_knn_cand *out);

/* The kNN posterior of one query's list: proba[c] = (neighbours of class c) / (neighbours
 * used), the neighbours used being the list's real entries; all zero for an empty list. */
void sisa_knn_posterior(const sisa_knn_cand *list, uint32_t k, uint32_t classes, float *proba);

/* The exact distance of q and x (d features) as defined above, given |q|^2 and |x|^2. */
double sisa_knn_distance(const float *q, const float *x, uint32_t d, sisa_metric metric, double nq,
                         double nx);

#endif
