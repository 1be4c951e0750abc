/*
 * aggregate.h - combining the shards' posteriors into the ensemble's prediction.
 *
 * Pure math on arrays, no I/O, no MPI. Models are always combined in the order given (shard
 * order), never in arrival order, so the result is the same bits however the shards were
 * computed. Strategies:
 *   vote      each model votes for its argmax class (ties: lowest class); the label is the
 *             class with most votes (ties: lowest class); proba holds the vote fractions
 *   mean      proba = sum_k p_k / K, summed in double in model order
 *   weighted  proba = sum_k w_k p_k / sum_k w_k (w_k = the shard's row count), likewise
 * For mean and weighted the label is argmax proba (ties: lowest class).
 */
#ifndef SISA_AGGREGATE_H
#define SISA_AGGREGATE_H

#include "sisa/config.h"

#include <stdint.h>

/* Index of the largest value; the lowest index among equal maxima. */
uint32_t sisa_argmax(const float *p, uint32_t classes);

/* Combine `models` posteriors proba[k] (n, classes) into out_proba (n, classes) and out_label
 * (n). weights[k] (> 0) is used by SISA_AGG_WEIGHTED only. Returns SISA_EUSAGE for zero models
 * or non-positive weights. */
int sisa_aggregate(sisa_strategy strategy, uint32_t models, const float *const *proba,
                   const double *weights, uint64_t n, uint32_t classes, float *out_proba,
                   int32_t *out_label);

#endif
