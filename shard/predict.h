/*
 * predict.h - a shard's posteriors for a set of rows.
 *
 * Rows are processed in blocks of SISA_PREDICT_BLOCK rows counted from row 0 of the input, so a
 * row's posterior is computed by the same BLAS call whoever computes it: splitting the input
 * over several processes (at block boundaries) gives identical bits.
 */
#ifndef SISA_SHARD_PREDICT_H
#define SISA_SHARD_PREDICT_H

#include "model/knn.h"
#include "shard/store.h"

#include <stdint.h>

#define SISA_PREDICT_BLOCK 256

/* A shard's model loaded once to predict many blocks of rows. */
typedef struct sisa_shard_model sisa_shard_model;
/* Shard `shard`'s model from its checkpoint `ckpt_path`; for knn also the shard's rows (its
 * data file, checked against the journal and against the checkpoint's lineage). */
int sisa_shard_model_load(sisa_shard_model **out, const sisa_store *st, uint32_t shard,
                          const char *ckpt_path, uint32_t d, uint32_t classes);
/* proba (n, classes) for X (n, d), in blocks of SISA_PREDICT_BLOCK rows from X's first row (so
 * X must start at a block boundary of the input for the bits to be the same everywhere). */
void sisa_shard_model_predict(sisa_shard_model *sm, const float *X, uint64_t n, float *proba);
void sisa_shard_model_free(sisa_shard_model *sm); /* NULL-safe */
/* knn: neighbours per query (model.k); 0 for the other models. */
uint32_t sisa_shard_model_k(const sisa_shard_model *sm);
/* knn: the shard's k nearest rows of every query X (n, d) into out (n, k) (model/knn.h), in
 * blocks of SISA_KNN_BLOCK from X's first row. Returns the queries answered by a full exact
 * scan. Allocates nothing. */
uint64_t sisa_shard_model_neighbours(sisa_shard_model *sm, const float *X, uint64_t n,
                                     sisa_knn_cand *out);

/* Load the model in `ckpt_path` and write proba (n, classes) for X (n, d). */
int sisa_shard_predict(const sisa_store *st, uint32_t shard, const char *ckpt_path, const float *X,
                       uint64_t n, uint32_t d, uint32_t classes, float *proba);

#endif
