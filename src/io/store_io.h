/*
 * store_io.h - the HDF5 files inside a store (docs/formats.md): shard data files, checkpoints
 * and prediction files. Layout and meaning are decided by shard/; this layer only reads and
 * writes them, atomically, with every HDF5 call checked.
 *
 * Files are byte-reproducible: object modification times are not recorded, and the same
 * content written in the same order gives the same bytes, so two checkpoints can be compared
 * by hashing the files.
 */
#ifndef SISA_IO_STORE_IO_H
#define SISA_IO_STORE_IO_H

#include "base/tensor.h"

#include <stddef.h>
#include <stdint.h>

#define SISA_SHARD_FORMAT "sisa-shard-data"
#define SISA_CKPT_FORMAT  "sisa-checkpoint"
#define SISA_PRED_FORMAT  "sisa-predictions"

/* ---- shard data: STORE/shards/KKKK/data.h5 ------------------------------------------------
 * The rows of one shard, sorted by ID, with their slice numbers. */
typedef struct sisa_shard_data {
    uint32_t shard;
    uint64_t n, d;
    int32_t num_classes;
    float *X;        /* (n, d) */
    int32_t *y;      /* (n) */
    uint64_t *id;    /* (n), strictly increasing */
    uint64_t *group; /* (n) or NULL */
    int32_t *slice;  /* (n), 0..slices-1 */
} sisa_shard_data;

/* Allocate an empty shard with room for `n` rows of `d` features (all arrays, group when
 * has_group). n may be 0. */
int sisa_shard_data_alloc(sisa_shard_data **out, uint32_t shard, uint64_t n, uint64_t d,
                          int32_t num_classes, int has_group);
void sisa_shard_data_free(sisa_shard_data *sd);

/* Write into `path` (a temp file the caller created and commits; see shard/journal.h) and
 * fsync it. The _hashed form also gives the SHA-256 (hex) of the file's bytes, computed while
 * writing them (for sisa_files_commit_hashed). */
int sisa_shard_data_write(const char *path, const sisa_shard_data *sd);
int sisa_shard_data_write_hashed(const char *path, const sisa_shard_data *sd, char sha[65]);
/* Read everything, validating shape, order and ranges. */
int sisa_shard_data_read(sisa_shard_data **out, const char *path);
/* Read only the id, slice and group columns (X and y are not read: NULL). */
int sisa_shard_data_read_index(sisa_shard_data **out, const char *path);

/* ---- checkpoints: STORE/shards/KKKK/ckpt-RRR.h5 ------------------------------------------ */
typedef struct sisa_ckpt_meta {
    uint32_t shard;
    uint32_t stage;        /* 1..stages: slices 0..stage-1 trained */
    uint32_t stages;       /* R */
    uint64_t rows;         /* rows trained in this stage */
    uint64_t steps;        /* optimizer steps since initialisation */
    uint64_t samples;      /* sample visits since initialisation (training work done) */
    uint64_t epochs;       /* epoch passes (full or partial) since initialisation */
    uint64_t rng_state[4]; /* seed, shard, next stage, next epoch: the Philox stream to resume */
    char lineage[65];      /* SHA-256 hex of the sorted IDs trained so far */
    char config_hash[65];
    char context[512];   /* determinism context */
    char model[128];     /* e.g. "mlp 784-256-10 relu" */
    char optimizer[256]; /* e.g. "adam lr=0.001 ... schedule=constant" */
} sisa_ckpt_meta;

/* Write params under /model and state under /optim, meta as root attributes, into `path` (a
 * temp file the caller created and commits; see shard/journal.h), and fsync it. */
int sisa_ckpt_write(const char *path, const sisa_ckpt_meta *meta, const sisa_tensor *params,
                    int n_params, const sisa_tensor *state, int n_state);
/* The same, giving the SHA-256 (hex) of the file's bytes, computed from memory while writing. */
int sisa_ckpt_write_hashed(const char *path, const sisa_ckpt_meta *meta, const sisa_tensor *params,
                           int n_params, const sisa_tensor *state, int n_state, char sha[65]);
/* Attributes only. */
int sisa_ckpt_read_meta(sisa_ckpt_meta *out, const char *path);
/* Attributes, then every tensor into the given views, which must match the file exactly
 * (same names, same shapes, nothing missing or extra). */
int sisa_ckpt_read(sisa_ckpt_meta *out, const char *path, const sisa_tensor *params, int n_params,
                   const sisa_tensor *state, int n_state);

/* ---- prediction files (sisa predict -o) --------------------------------------------------
 * Written block by block as the ensemble streams (no row data is held by the writer). */
typedef struct sisa_pred_file {
    uint64_t n;
    uint32_t classes;
    const uint64_t *id; /* (n): the input rows' IDs, written when the file is opened */
    const char *strategy;
    const char *config_hash;
    const char *shards_used;   /* e.g. "0-7" or "0,2,5" */
    uint32_t n_shards;         /* per-shard posteriors (/shards/KKKK), or 0 */
    const uint32_t *shard_ids; /* (n_shards) */
} sisa_pred_file;

typedef struct sisa_pred_writer sisa_pred_writer;
/* Create the file (as a temp file next to `path`) with every dataset at its full size. */
int sisa_pred_open(sisa_pred_writer **out, const char *path, const sisa_pred_file *p, int replace);
/* Rows [r0, r0 + nr): the ensemble's posteriors (nr, classes) and labels (nr). */
int sisa_pred_write_rows(sisa_pred_writer *w, uint64_t r0, uint64_t nr, const float *proba,
                         const int32_t *label);
/* Rows [r0, r0 + nr) of the k-th shard's posteriors (k indexes shard_ids). */
int sisa_pred_write_shard_rows(sisa_pred_writer *w, uint32_t k, uint64_t r0, uint64_t nr,
                               const float *proba);
/* Publish the file at `path` (atomically) and free the writer, also on failure. */
int sisa_pred_commit(sisa_pred_writer *w);
/* Drop an unfinished file (NULL-safe). */
void sisa_pred_discard(sisa_pred_writer *w);

#endif
