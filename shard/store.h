/*
 * store.h - a SISA store on disk: its folder layout, manifest, lock and determinism context.
 *
 *   STORE/manifest               text "key: value" lines: config hash, S, R, seed, dataset digest,
 *                                determinism context, deletions processed
 *   STORE/config.yaml            the canonical config the store was trained with
 *   STORE/lock                   held (fcntl) by the process using the store
 *   STORE/shards/KKKK/data.h5    shard K's rows, sorted by ID, with their slice numbers
 *   STORE/shards/KKKK/ckpt-RRR.h5  model + optimizer after stages 1..RRR
 *
 * Writers (train, unlearn) hold an exclusive lock, readers (predict, eval, status) a shared one;
 * a second writer is refused with a message naming the holder's PID. Every file is written
 * atomically; the manifest is rewritten whole.
 */
#ifndef SISA_SHARD_STORE_H
#define SISA_SHARD_STORE_H

#include "base/fs.h"
#include "sisa/config.h"

#include <stdint.h>

#define SISA_CONTEXT_MAX 512

typedef struct sisa_manifest {
    char config_hash[65];
    uint64_t seed;
    uint32_t shards, slices;
    sisa_sharding sharding;
    char dataset[SISA_PATH_MAX]; /* the dataset partitioned into this store */
    char dataset_digest[65];     /* SHA-256 of its canonical content (docs/formats.md) */
    uint64_t rows, features;
    int32_t classes;
    char context[SISA_CONTEXT_MAX];
    uint64_t deletions; /* deletion requests processed */
    uint64_t deleted_rows;
} sisa_manifest;

typedef enum {
    SISA_STORE_READ = 0,   /* must exist; shared lock */
    SISA_STORE_WRITE = 1,  /* must exist; exclusive lock */
    SISA_STORE_CREATE = 2, /* created if missing; exclusive lock */
} sisa_store_mode;

typedef struct sisa_store {
    sisa_config cfg;
    char root[SISA_PATH_MAX];
    char config_hash[65];
    char context[SISA_CONTEXT_MAX]; /* this process's determinism context */
    int lock_fd;
    int has_manifest;
    sisa_manifest man;
} sisa_store;

/* Open the store named by cfg->store, take its lock and read its manifest when present. A store
 * whose manifest names another config hash is refused (SISA_ECONFIG, listing the keys that
 * differ). */
int sisa_store_open(sisa_store *st, const sisa_config *cfg, sisa_store_mode mode);
void sisa_store_close(sisa_store *st);

/* Write st->man (and STORE/config.yaml) atomically. */
int sisa_store_write_manifest(sisa_store *st);

/* Paths inside the store. */
int sisa_store_shard_dir(const sisa_store *st, uint32_t shard, char *out, size_t cap);
int sisa_store_data_path(const sisa_store *st, uint32_t shard, char *out, size_t cap);
int sisa_store_ckpt_path(const sisa_store *st, uint32_t shard, uint32_t stage, char *out,
                         size_t cap);

/* The determinism context of this process: sisa version and commit, compiler and flags,
 * OpenBLAS version, core and threads, floating-point mode. Call after sisa_model_fp_setup. */
void sisa_store_context(char *out, size_t cap);

/* Refuse to continue a store written under another determinism context (SISA_EUSAGE with
 * both contexts in the message). */
int sisa_store_check_context(const sisa_store *st);

#endif
