/*
 * store.h - a SISA store on disk: its folder layout, manifest, lock and determinism context.
 *
 *   STORE/journal                every change to the store's own files and every deletion
 *                                request with its states (shard/journal.h, shard/request.h)
 *   STORE/ledger                 one hash-chained record per completed deletion request
 *   STORE/manifest               text "key: value" lines: config hash, S, R, seed, dataset digest,
 *                                determinism context, deletions processed
 *   STORE/config.yaml            the canonical config the store was trained with
 *   STORE/salt                   random key of the store's hashed sample IDs (hex)
 *   STORE/lock                   locked (fcntl, OFD) by the processes using the store
 *   STORE/shards/KKKK/journal    the shard's committed files
 *   STORE/shards/KKKK/data.h5    shard K's rows, sorted by ID, with their slice numbers
 *   STORE/shards/KKKK/ckpt-RRR.h5  model + optimizer after stages 1..RRR
 *
 * Writers (train, unlearn) hold an exclusive lock, readers (predict, eval, status) a shared one;
 * a second writer is refused with a message naming the holder's PID. Every file is committed
 * through a journal and checked against its recorded SHA-256 before it is parsed.
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
    char dataset_digest[65];     /* its digest (docs/formats.md "Dataset digest") */
    int digest_version;          /* of that digest: 1 or 2 (io/dsdigest.h) */
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

#define SISA_SALT_LEN 32

typedef struct sisa_store {
    sisa_config cfg;
    char root[SISA_PATH_MAX];
    char config_hash[65];
    char context[SISA_CONTEXT_MAX]; /* this process's determinism context */
    int lock_fd;
    int lock_writable; /* lock_fd is open read-write (the lock can become exclusive) */
    int exclusive;     /* the lock is exclusive (writer, or a reader that recovered the store) */
    int has_manifest;
    sisa_manifest man;
    uint8_t salt[SISA_SALT_LEN];
    int has_salt;
    /* Shards taken out of service by a deletion request that is not published yet
     * (fenced[k] != 0); predict and eval leave them out. */
    uint64_t pending_request;
    unsigned char fenced[4096];
} sisa_store;

/* Open the store named by cfg->store, take its lock and read its manifest when present. A store
 * whose manifest names another config hash is refused (SISA_ECONFIG, listing the keys that
 * differ). */
int sisa_store_open(sisa_store *st, const sisa_config *cfg, sisa_store_mode mode);
void sisa_store_close(sisa_store *st);

/* Commit st->man (and STORE/config.yaml) through the store's journal. Writers only. */
int sisa_store_write_manifest(sisa_store *st);

/* The folder of the store's own files (STORE/journal), opened for the calling writer. The
 * caller closes it. */
struct sisa_files;
int sisa_store_files(const sisa_store *st, struct sisa_files *out, int writable);

/* Try to turn a reader's shared lock into an exclusive one (1 on success, 0 when another
 * process holds the store too, negative on error). On success the store's folder is repaired
 * as a writer's open repairs it (sisa_files_repair). */
int sisa_store_upgrade_lock(sisa_store *st);

/* Salted hash of a sample ID or a group key (32 bytes): SHA-256 of "sisa-id-v1" or
 * "sisa-group-v1", the store's salt, and the value as 8 little-endian bytes. The ledger and the
 * journal name deleted rows only this way. */
void sisa_store_hash_id(const sisa_store *st, uint64_t id, uint8_t out[32]);
void sisa_store_hash_group(const sisa_store *st, uint64_t group, uint8_t out[32]);

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
