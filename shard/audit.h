/*
 * audit.h - does a store keep its deletion promises? The checks behind `sisa audit` (no MPI).
 *
 * 1. The ledger (its check, sisa_audit_check_ledger, lives with the ledger in shard/ledger.h).
 *    STORE/ledger is a hash chain: every line carries "prev", the SHA-256 of the line before
 *    it, so an edited, dropped, reordered or inserted record breaks the chain at the following
 *    line. The chain cannot see a change to its own last line, nor a
 *    tail cut off at a line boundary. Two witnesses outside it can: the store journal, whose
 *    "certified" record of each request holds the chain's head right after that request's line
 *    (so an edited or removed last record shows), and a head kept outside the store (a deletion
 *    certificate's "ledger_head"), which must be the head after some line of the chain (so a
 *    truncated tail shows even when the journal was cut back with it).
 *
 * 2. The byte scan. A certified request names its rows only by salted ID hashes; the dataset
 *    the store was trained on gives them back: its rows whose hashed ID is named, with their
 *    stored bytes (d float32 values, little-endian, as in every sisa file). Every regular file
 *    under STORE (temp files, journals, the ledger and certificates included) is searched for
 *    each such byte string, and the count must be 0. A surviving row is searched for the same
 *    way and must be found in its shard's data file: a positive control, without which a scan
 *    that finds nothing proves nothing.
 *
 * The search (sisa_bytescan) indexes each pattern by one 8-byte window at a 4-byte offset (an
 * anchor), the window with the most distinct byte values. A file is read in chunks that overlap
 * by a pattern length less one byte, so an occurrence is seen whole in exactly one chunk; every
 * 8-byte window is looked up (a bitmap filter, then a hash table of anchors) and a candidate
 * counts only when the whole pattern matches. A pattern whose best window has fewer than
 * SISA_BYTESCAN_MIN_DISTINCT distinct byte values (mostly zeros, say) cannot be told apart from
 * ordinary data: it is "not scannable", never searched, and reported as such.
 */
#ifndef SISA_SHARD_AUDIT_H
#define SISA_SHARD_AUDIT_H

#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/store.h"

#include <stddef.h>
#include <stdint.h>

/* ---- searching files for byte patterns --------------------------------------------------- */

#define SISA_BYTESCAN_MIN_DISTINCT 3

typedef struct sisa_bytescan sisa_bytescan;

/* Index `n` patterns of `len` bytes each, stored one after the other in `patterns` (copied).
 * Patterns shorter than 8 bytes are never scannable. */
int sisa_bytescan_create(sisa_bytescan **out, const uint8_t *patterns, size_t n, size_t len);
void sisa_bytescan_free(sisa_bytescan *s); /* NULL-safe */
/* 1 when pattern i is searched for, 0 when it is not scannable (see above). */
int sisa_bytescan_scannable(const sisa_bytescan *s, size_t i);
/* Count every occurrence of every scannable pattern in the file at `path`, overlapping ones
 * included: counts[i] += occurrences of pattern i, *bytes += bytes read. The file is read
 * `chunk` bytes at a time (0: 4 MiB). SISA_EINTR when interrupted between chunks. */
int sisa_bytescan_file(const sisa_bytescan *s, const char *path, size_t chunk, uint64_t *counts,
                       uint64_t *bytes);

/* ---- the files ----------------------------------------------------------------------------
 * Every file the store's journals commit (the store's own, and each shard's) must hold the bytes
 * journaled for it: sisa status checks only sizes, readers check the files they parse, and this
 * is the full check. A shard folder or journal that is missing is a problem too. */
typedef struct sisa_audit_files {
    uint64_t checked; /* committed files whose bytes were hashed */
    uint64_t bytes;
    char **problems;
    size_t n_problems;
} sisa_audit_files;
int sisa_audit_check_files(sisa_audit_files *out, const sisa_store *st);
void sisa_audit_files_free(sisa_audit_files *a);

/* ---- the byte scan ----------------------------------------------------------------------- */

typedef struct sisa_audit_hit {
    char *path;     /* a file holding bytes of deleted rows */
    uint64_t count; /* occurrences in it */
} sisa_audit_hit;

typedef struct sisa_audit_scan {
    char dataset[SISA_PATH_MAX];
    char digest[65];  /* the dataset's digest (docs/formats.md) */
    int digest_match; /* ... equals the manifest's: these are the bytes the store was built from */
    uint64_t files, bytes;  /* regular files and bytes scanned */
    uint64_t deleted_rows;  /* dataset rows whose salted ID hash is deleted */
    uint64_t missing_rows;  /* deleted hashes that name no row of the dataset */
    uint64_t not_scannable; /* deleted rows without an anchor (not searched for) */
    uint64_t shared;        /* deleted rows whose bytes equal a surviving row's (not searched) */
    uint64_t found;         /* occurrences of deleted rows' bytes, over all files */
    sisa_audit_hit *hits;   /* the files they were found in, in scan order */
    size_t n_hits;
    int has_control;     /* a surviving, scannable row served as the positive control */
    uint64_t control_id; /* its sample ID (it is not deleted, so it may be named) */
    uint32_t control_shard;
    char control_file[SISA_PATH_MAX]; /* its shard's data file */
    uint64_t control_found;           /* occurrences of its bytes, over all files */
    uint64_t control_in_file;         /* ... in control_file */
    char **problems;
    size_t n_problems;
} sisa_audit_scan;

/* Scan every regular file under st->root for the bytes of the dataset rows (at `dataset`, read
 * with sisa_dataset_stream) whose salted ID hash (sisa_store_hash_id) is one of the `n_ids`
 * sorted hashes `ids`, with the first surviving scannable row in file order as the positive
 * control. Problems (deleted bytes found, a failed control, a dataset whose digest is not the
 * manifest's, deleted rows missing from it) are listed in *out. Negative only when the scan could
 * not run: the dataset missing, unreadable or of another shape than the store (SISA_EIO /
 * SISA_ECORRUPT naming it), a file that cannot be read, memory, or an interruption (SISA_EINTR).
 * Free *out with sisa_audit_scan_free, also after a failure. */
int sisa_audit_scan_store(sisa_audit_scan *out, const sisa_store *st, const char *dataset,
                          const uint8_t (*ids)[32], uint64_t n_ids);
void sisa_audit_scan_free(sisa_audit_scan *a);

#endif
