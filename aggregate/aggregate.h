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
 * For mean and weighted the label is argmax proba (ties: lowest class). The fourth strategy,
 * merge (model.type knn), combines neighbour lists rather than posteriors: it is done where the
 * lists are (run/ensemble.c, model/knn.h), and the combiner refuses it.
 *
 * The combiner does this for a stream of row blocks: a block's posteriors are added one model
 * at a time, in model order, as they arrive from the ranks, so the memory it needs is one block
 * of rows x classes, whatever the number of shards. sisa_aggregate is the combiner run over the
 * whole arrays.
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
typedef struct sisa_combiner {
    sisa_strategy strategy;
    uint32_t models, classes;
    double *weights; /* (models) for weighted */
    double wsum;
    uint64_t max_rows, rows; /* capacity, rows of the block in progress */
    uint32_t next;           /* the model due next */
    double *acc;             /* (max_rows, classes): sums, or votes */
} sisa_combiner;

/* A combiner for `models` models (weights as for sisa_aggregate; copied) and blocks of at most
 * max_rows rows. */
int sisa_combiner_init(sisa_combiner *c, sisa_strategy strategy, uint32_t models,
                       const double *weights, uint32_t classes, uint64_t max_rows);
/* Start a block of `rows` rows. */
int sisa_combiner_begin(sisa_combiner *c, uint64_t rows);
/* Add model `model`'s posteriors of the block (rows, classes): models 0, 1, ... in order
 * (anything else is SISA_EINTERNAL). */
int sisa_combiner_add(sisa_combiner *c, uint32_t model, const float *proba);
/* After the last model: the block's ensemble posteriors (rows, classes) and labels (rows). */
int sisa_combiner_finish(sisa_combiner *c, float *out_proba, int32_t *out_label);
void sisa_combiner_free(sisa_combiner *c); /* safe on a zeroed struct */

int sisa_aggregate(sisa_strategy strategy, uint32_t models, const float *const *proba,
                   const double *weights, uint64_t n, uint32_t classes, float *out_proba,
                   int32_t *out_label);

#endif
