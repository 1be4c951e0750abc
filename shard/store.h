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
 * Writers (train, unlearn, repair) hold an exclusive lock on STORE/lock; a second writer is
 * refused as busy (SISA_EBUSY, exit 75) naming the holder's PID, or waits for it. Readers
 * (predict, eval, status, audit, verify) take no lock and write nothing: every file is committed
 * through a journal by a rename, and checked against its recorded SHA-256 before it is parsed,
 * so a reader sees each file old or new, never half, and works on a read-only copy too.
 *
 * sisa creates a store only in a missing or empty folder, and removes only files it wrote
 * (the names below, temp files, and files its journals name). A folder with a store's files but
 * no journal, a manifest the journal does not commit, or a ledger that disagrees with the
 * journal is *damage*: every command names the file and refuses (SISA_ECORRUPT), and nothing
 * ever partitions such a store again as if no deletion had happened (sisa repair rebuilds it).
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
    /* The OpenBLAS core the store was trained under (also inside `context`), and who chose it:
     * a sisa_blas_origin_token ("OPENBLAS_CORETYPE", "openblas", "sisa", ...). Stores made
     * before these keys have the core read from `context` and origin "". */
    char blas_core[64];
    char blas_core_origin[40];
    uint64_t deletions; /* deletion requests processed */
    uint64_t deleted_rows;
    /* The store's identity: a random ID made with the store, and the physical path it was made
     * at (or last accepted at). Both "" in stores made before identities. */
    char store_id[33];
    char location[SISA_PATH_MAX];
} sisa_manifest;

typedef enum {
    SISA_STORE_READ = 0,    /* must exist; no lock, nothing written */
    SISA_STORE_WRITE = 1,   /* must exist; exclusive lock */
    SISA_STORE_CREATE = 2,  /* created if missing or empty; exclusive lock */
    SISA_STORE_INSPECT = 3, /* a reader that reports damage instead of refusing it (status,
                             * audit): a ledger that disagrees with the journal is described in
                             * st->damage, and the open succeeds */
} sisa_store_mode;

/* What the folder named as a store holds (sisa_store_probe). */
typedef enum {
    SISA_FOLDER_MISSING, /* no such folder */
    SISA_FOLDER_EMPTY,   /* empty, or only what a creation that never committed leaves */
    SISA_FOLDER_STORE,   /* a store (it has a journal) */
    SISA_FOLDER_DAMAGED, /* a store's files without a journal */
    SISA_FOLDER_FOREIGN, /* not a folder, or a folder of files sisa did not write */
} sisa_folder_kind;

/* Files a writer keeps in the store folder to show what it is doing (sisa status reads them):
 * STORE/activity (command, PID, host, start) and STORE/activity-R for each rank R. */
#define SISA_ACTIVITY_FILE "activity"

#define SISA_SALT_LEN 32

typedef struct sisa_store {
    sisa_config cfg;
    char root[SISA_PATH_MAX];
    char physical[SISA_PATH_MAX]; /* root with symlinks resolved: the store's location */
    char store_id[33];            /* this store's ID (from its manifest, or made at creation) */
    int moved; /* the manifest records another location (a moved or copied store): see open */
    char config_hash[65];
    char context[SISA_CONTEXT_MAX]; /* this process's determinism context */
    int lock_fd;                    /* writers: the open lock file; -1 for readers */
    int exclusive;                  /* a writer: the lock is held */
    int created; /* this process created the store: 1 in an empty folder, 2 with the folder */
    int has_manifest;
    uint64_t requests, certified; /* deletion requests journaled, and certified */
    char damage[1024];            /* SISA_STORE_INSPECT: what is damaged ("" when nothing) */
    /* Writers: this process reports its work in STORE/activity-RANK (sisa_store_activity_*). */
    int activity_on, activity_rank;
    sisa_manifest man;
    uint8_t salt[SISA_SALT_LEN];
    int has_salt;
    /* Shards taken out of service by a deletion request that is not published yet
     * (fenced[k] != 0); predict and eval leave them out. */
    uint64_t pending_request;
    unsigned char fenced[4096];
    /* Shards of a deletion request that is not certified yet (in any state): their rows may
     * already differ from the ledger's last record of them. */
    unsigned char unsettled[4096];
} sisa_store;

/* Open the store named by cfg->store and read its manifest. Writers take the lock, waiting up to
 * `wait_seconds` for another writer (0: refuse at once with SISA_EBUSY; negative: wait as long
 * as it takes), and bring the folder in line with its journal; CREATE makes a new store in a
 * missing or empty folder. Refused: a folder that is not a store (SISA_ECONFIG), a damaged
 * store (SISA_ECORRUPT, naming the file), a store whose manifest names another config hash
 * (SISA_ECONFIG, listing the keys that differ). */
int sisa_store_open(sisa_store *st, const sisa_config *cfg, sisa_store_mode mode,
                    double wait_seconds);
void sisa_store_close(sisa_store *st);
/* After a first training failed before its manifest was committed: remove everything this
 * process's creation and partitioning wrote (only sisa's files; a folder that holds anything
 * else is kept), so that a failed command leaves nothing. A no-op unless st->created and no
 * manifest. Writers only; call before sisa_store_close. */
void sisa_store_discard_new(sisa_store *st);

/* ---- what a writer is doing ------------------------------------------------------------ *
 * A writer shows its work in the store folder for sisa status: rank 0 writes STORE/activity
 * ({"command", "pid", "host", "started", "ranks"}) and every rank R its current shard and stage
 * in STORE/activity-R ({"rank", "pid", "host", "shard", "stage", "stages", "since"}). Each file
 * is replaced by a rename (seen whole), not fsynced (it says nothing about the store's state),
 * and removed by sisa_store_close. A failed write is an error like any other. Files left by a
 * writer that died are recognised because nobody holds the lock; the next writer replaces them. */
int sisa_store_activity_begin(sisa_store *st, const char *command, int rank, int ranks);
int sisa_store_activity_stage(const sisa_store *st, uint32_t shard, uint32_t stage);

/* A store whose manifest records another location than where it is now (st->moved) was moved
 * or copied. Writers refuse it (SISA_EUSAGE, saying what to do) unless told it was moved on
 * purpose (`accept`): then the new location is recorded in the manifest. Readers only warn.
 * SISA_IGNORE_STORE_LOCATION=1 in the environment skips the check and records nothing: for test
 * harnesses that copy stores and compare them byte for byte, never for real stores. */
int sisa_store_check_location(sisa_store *st, int accept);

/* Take the writers' lock of st->root (st->lock_fd), waiting as sisa_store_open says; released by
 * sisa_store_close. For sisa repair, which must lock a store that sisa_store_open refuses. */
int sisa_store_lock(sisa_store *st, double wait_seconds);
/* Parse manifest `text` (modified in place) read from `path`: SISA_ECORRUPT naming the line. */
int sisa_manifest_parse(sisa_manifest *m, char *text, const char *path);

/* The OpenBLAS core recorded by the store at `root` (its manifest's openblas_core, or the core
 * named in its context), read before the store is opened and anything is locked: 1 with the
 * core in `out`, 0 when the folder holds no manifest, or a negative error (the manifest is
 * unreadable or malformed; the caller's later open reports it). */
int sisa_store_recorded_core(const char *root, char *out, size_t cap);

/* The store's measured training speed, STORE/timing (`{"samples": N, "seconds": T}`): sample
 * visits trained by sisa train and by every deletion's retraining, and the seconds one rank
 * spent on them, summed. Advisory and not journaled: it only estimates the wall time of a
 * deletion before it is made. _read gives 0 and 0 when the file is missing or unreadable. */
void sisa_store_timing_read(const sisa_store *st, double *samples, double *seconds);
/* Add to it (rank 0 of a writer; written atomically). A failure (a full disk) is reported like
 * any other: the command's work is done and committed before it, and the message says so. */
int sisa_store_timing_add(const sisa_store *st, double samples, double seconds);

/* Commit st->man (and STORE/config.yaml) through the store's journal. Writers only. */
int sisa_store_write_manifest(sisa_store *st);

/* The folder of the store's own files (STORE/journal), opened for the calling writer. The
 * caller closes it. */
struct sisa_files;
int sisa_store_files(const sisa_store *st, struct sisa_files *out, int writable);

/* What the folder `root` holds; `detail` (may be NULL) says why it is damaged or foreign. */
int sisa_store_probe(const char *root, sisa_folder_kind *kind, char *detail, size_t cap);
/* 1 when a writer holds store `root` now (*pid: its PID when known, else 0). Opens nothing for
 * writing. */
int sisa_store_writer(const char *root, long *pid);
/* 1 when `name` is one that sisa writes at the top of a store folder. */
int sisa_store_is_own_name(const char *name);
/* Files and folders in the store that sisa did not write (never removed; sisa status lists
 * them): their count, and the first ones as paths relative to the store, comma-separated, in
 * `out`. Reads only. */
int sisa_store_foreign(const sisa_store *st, char *out, size_t cap, size_t *count);

/* Salted hash of a sample ID or a group key (32 bytes): SHA-256 of "sisa-id-v1" or
 * "sisa-group-v1", the store's salt, and the value as 8 little-endian bytes. The ledger and the
 * journal name deleted rows only this way. */
/* The salt file's text (what load writes: the hex of the salt and a newline) into `salt`: 0, or
 * -1 when it is anything else. */
int sisa_store_parse_salt(uint8_t salt[SISA_SALT_LEN], const char *text, size_t len);
void sisa_store_hash_id(const sisa_store *st, uint64_t id, uint8_t out[32]);
void sisa_store_hash_group(const sisa_store *st, uint64_t group, uint8_t out[32]);

/* ---- the store's layout: the one place its names are defined (docs/formats.md) ---------- */

#define SISA_SHARD_DATA    "data.h5" /* a shard's rows, in its folder */
#define SISA_CKPT_NAME_MAX 32        /* room for any checkpoint name */

/* "ckpt-007.h5": the name of the checkpoint after stage `stage` in its shard's folder (three
 * digits at least). `cap` >= SISA_CKPT_NAME_MAX always suffices. */
void sisa_ckpt_name(char *out, size_t cap, uint32_t stage);
/* 1 when `name` has the form of a checkpoint's file name (sisa_ckpt_name of some stage). */
int sisa_ckpt_is_name(const char *name);
/* The folder of shard `shard` ("shards/0003"), or the file `name` in it when `name` is not NULL
 * ("shards/0003/ckpt-007.h5"): under `root`, or relative to the store's root when `root` is
 * NULL. SISA_EUSAGE when it does not fit in `cap`. */
int sisa_store_path(char *out, size_t cap, const char *root, uint32_t shard, const char *name);

/* The same for an open store. */
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
