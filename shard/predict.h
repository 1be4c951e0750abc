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

/* Load the model in `ckpt_path` and write proba (n, classes) for X (n, d). */
int sisa_shard_predict(const sisa_store *st, const char *ckpt_path, const float *X, uint64_t n,
                       uint32_t d, uint32_t classes, float *proba);

#endif
