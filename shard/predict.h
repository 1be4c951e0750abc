/*
 * predict.h - a shard's posteriors for a set of rows.
 *
 * Rows are processed in blocks of SISA_PREDICT_BLOCK rows counted from row 0 of the input, so a
 * row's posterior is computed by the same BLAS call whoever computes it: splitting the input
 * over several processes (at block boundaries) gives identical bits.
 */
#ifndef SISA_SHARD_PREDICT_H
#define SISA_SHARD_PREDICT_H

#include "shard/store.h"

#include <stdint.h>

#define SISA_PREDICT_BLOCK 256

/* A shard's model loaded once to predict many blocks of rows. */
typedef struct sisa_shard_model sisa_shard_model;
int sisa_shard_model_load(sisa_shard_model **out, const sisa_store *st, const char *ckpt_path,
                          uint32_t d, uint32_t classes);
/* proba (n, classes) for X (n, d), in blocks of SISA_PREDICT_BLOCK rows from X's first row (so
 * X must start at a block boundary of the input for the bits to be the same everywhere). */
void sisa_shard_model_predict(sisa_shard_model *sm, const float *X, uint64_t n, float *proba);
void sisa_shard_model_free(sisa_shard_model *sm); /* NULL-safe */

/* Load the model in `ckpt_path` and write proba (n, classes) for X (n, d). */
int sisa_shard_predict(const sisa_store *st, const char *ckpt_path, const float *X, uint64_t n,
                       uint32_t d, uint32_t classes, float *proba);

#endif
