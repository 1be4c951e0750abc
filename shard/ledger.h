/*
 * ledger.h - the deletion ledger (STORE/ledger) and the hashed-ID lists it is made of: the one
 * definition of its format (docs/formats.md), read and written only here.
 *
 * The ledger holds one JSON line per certified request: request number, time, hashed IDs and
 * groups, rows, affected shards and stages, lineage and model hashes before and after, and
 * "prev", the SHA-256 of the previous line (64 zeros for the first). The store journal's
 * "certified" record keeps the ledger's head hash after that append (shard/request.h).
 *
 * Hashed IDs and groups are salted SHA-256 hashes (sisa_store_hash_id), written as JSON arrays
 * of 64 lower-case hex digits, in journal request records and ledger records alike.
 */
#ifndef SISA_SHARD_LEDGER_H
#define SISA_SHARD_LEDGER_H

#include "base/json.h"
#include "shard/journal.h"

#include <stddef.h>
#include <stdint.h>

struct sisa_request;

/* ---- hashed-ID lists ---------------------------------------------------------------------- */

/* A growing list of 32-byte hashes. Zero it to start; release v with sisa_free. */
typedef struct sisa_hashlist {
    uint8_t (*v)[32];
    uint64_t n, cap;
} sisa_hashlist;

enum {
    SISA_HASHES_OPTIONAL = 0, /* a missing key is an empty list; anything else bad is corrupt */
    SISA_HASHES_REQUIRED = 1, /* the key must be there */
    SISA_HASHES_LENIENT = 2,  /* take what reads, skip the rest (for audits of damaged files) */
};

/* memcmp order of 32-byte hashes, for qsort and bsearch. */
int sisa_hash_cmp(const void *a, const void *b);
/* Append the hashes of the JSON array `obj`[`key`] to `l`. A problem is SISA_ECORRUPT naming
 * `where` and `key` (unless `mode` is SISA_HASHES_LENIENT). When the key is there, l->v is
 * non-NULL afterwards, also for an empty list. */
int sisa_hashlist_read(sisa_hashlist *l, const sisa_json *obj, const char *key, const char *where,
                       int mode);
/* Sort and drop repeats. */
void sisa_hashlist_sort_unique(sisa_hashlist *l);
/* 1 when `h` is in the sorted list (v, n). */
int sisa_hashes_has(const uint8_t (*v)[32], uint64_t n, const uint8_t h[32]);
/* Write (v, n) as a JSON array of hex strings. */
void sisa_hashes_write(sisa_jw *w, const uint8_t (*v)[32], uint64_t n);

/* ---- the chain --------------------------------------------------------------------------- */
typedef struct sisa_ledger_info {
    uint64_t records;
    uint64_t last_request;
    char head[65]; /* SHA-256 of the last line; 64 zeros when empty */
} sisa_ledger_info;

/* Read STORE/ledger and check its chain: every line parses, request numbers count up from 1,
 * and each "prev" is the hash of the line before. A problem is SISA_ECORRUPT naming the line. */
int sisa_ledger_check(const char *path, sisa_ledger_info *info);
/* Like sisa_ledger_check, but a last line without its newline (an append in progress, or one a
 * crash cut) is left out and counted in *torn_bytes instead of failing. */
int sisa_ledger_read(const char *path, sisa_ledger_info *info, size_t *torn_bytes);
/* The ledger line of certified request `r` (no newline) whose "prev" is `prev`, appended to `w`:
 * the one serialisation of a ledger record (sisa_ledger_append writes it; sisa repair rebuilds
 * lost records with it and checks them against the heads the journal certified). */
void sisa_ledger_record(sisa_jw *w, const struct sisa_request *r, const char *prev);
/* For each of the S shards, the lineage of its final stage after the last ledger record that
 * touched it ("" when no record did): what the shard's rows must hash to. A shard whose rows
 * do not (a folder restored from an older copy, say) may hold deleted rows. A torn last line is
 * left out. */
int sisa_ledger_lineages(const char *path, uint32_t shards, char (*out)[65]);
/* Append the record of certified request `r` (idempotent: nothing when the ledger already ends
 * with it) and fsync. *head receives the new head. */
int sisa_ledger_append(const char *path, const struct sisa_request *r, char head[65]);

/* ---- what it deleted --------------------------------------------------------------------- */

/* Everything the ledger says was deleted. */
typedef struct sisa_deletions {
    uint64_t n_requests;
    uint64_t *requests; /* request numbers in ledger order: 1, 2, ... */
    uint64_t n_ids;
    uint8_t (*ids)[32]; /* union of the salted row hashes, sorted, unique */
    uint64_t n_groups;
    uint8_t (*groups)[32]; /* union of the salted group hashes, sorted, unique */
    uint32_t n_shards;
    uint32_t *shards; /* union of the touched shards, ascending */
    char head[65];    /* the ledger's head: SHA-256 of its last line */
} sisa_deletions;

/* Check the ledger's chain (sisa_ledger_check) and collect its records. A missing ledger is an
 * empty one. Shard numbers must be below `shards` (SISA_ECORRUPT naming the line otherwise). */
int sisa_deletions_read(sisa_deletions *out, const char *ledger_path, uint32_t shards);
void sisa_deletions_free(sisa_deletions *d); /* safe on a zeroed struct */
/* 1 when the salted row hash `h` was deleted. */
int sisa_deletions_has(const sisa_deletions *d, const uint8_t h[32]);

/* ---- the audit's check (sisa audit) -------------------------------------------------------- */

typedef struct sisa_audit_ledger {
    uint64_t records;   /* lines in the ledger */
    char head[65];      /* SHA-256 hex of its last line; 64 zeros when empty */
    uint64_t certified; /* requests the store journal certifies */
    int head_given;     /* a head from outside was checked */
    int head_found;     /* ... and it is the head after line head_record (0: the empty chain) */
    uint64_t head_record;
    char **problems; /* what is wrong, one sentence each naming the file (and line) */
    size_t n_problems;
    uint8_t (
        *ids)[32];  /* the deleted rows: salted ID hashes named by the ledger's records and by */
    uint64_t n_ids; /* the journal's certified requests; sorted, unique */
} sisa_audit_ledger;

/* Check the ledger at `ledger_path` (a missing file is an empty ledger): its chain
 * (sisa_ledger_check), the store journal `journal` (every certified request has exactly one
 * record, which hashes to the "ledger_head" journaled with it, and every record is certified),
 * and, when `head` is not NULL, that `head` (64 hex digits, from `head_source`, e.g. a
 * certificate's path) is the chain's head after some record. Problems found are listed in
 * *out; the return value is negative only when the check could not run (I/O, memory). Free
 * *out with sisa_audit_ledger_free, also after a failure. */
int sisa_audit_check_ledger(sisa_audit_ledger *out, const char *ledger_path,
                            const sisa_journal *journal, const char *head, const char *head_source);
void sisa_audit_ledger_free(sisa_audit_ledger *a);

#endif
