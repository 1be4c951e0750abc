/*
 * request.h - deletion requests: their journal records, states, and the deletion ledger.
 *
 * A request moves through states, each recorded in the store's journal before the next step
 * starts, so that after a crash the next sisa command can carry it forward:
 *
 *   accepted    every ID was found; the request (salted ID hashes, affected shards with the
 *               earliest stage each must retrain, lineage and model hashes before) is journaled
 *   fenced      the affected shards' checkpoints from that stage on are removed: no model that
 *               saw a deleted row exists any more; predict and eval leave these shards out
 *   rewritten   each affected shard's data file is rewritten without the rows
 *   retrained   the removed stages are trained again from the last clean checkpoint
 *   published   the manifest counts the deletion; the shards are back in service
 *   certified   a record is appended to the ledger (STORE/ledger), hash-chained to the previous
 *
 * Every step is idempotent, and the rows to delete are named only by their salted hashes
 * (sisa_store_hash_id), so carrying a request forward needs nothing but the journal.
 *
 * The ledger holds one JSON line per certified request: request number, time, hashed IDs and
 * groups, rows, affected shards and stages, lineage and model hashes before and after, and
 * "prev", the SHA-256 of the previous line (64 zeros for the first). The journal's "certified"
 * record keeps the ledger's head hash after that append.
 */
#ifndef SISA_SHARD_REQUEST_H
#define SISA_SHARD_REQUEST_H

#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/store.h"

#include <stdint.h>

enum {
    SISA_REQ_NONE = 0,
    SISA_REQ_ACCEPTED,
    SISA_REQ_FENCED,
    SISA_REQ_REWRITTEN,
    SISA_REQ_RETRAINED,
    SISA_REQ_PUBLISHED,
    SISA_REQ_CERTIFIED,
};
const char *sisa_req_state_name(int state);

typedef struct sisa_req_shard {
    uint32_t shard;
    uint32_t first_stage; /* earliest stage whose rows include a deleted ID */
    uint64_t rows;        /* rows of this shard in the request */
    uint64_t cost;        /* sample visits of retraining (for scheduling) */
    char lineage_before[65], model_before[65];
    char lineage_after[65], model_after[65]; /* filled when certifying */
} sisa_req_shard;

typedef struct sisa_request {
    uint64_t n; /* 1, 2, ... */
    int state;
    char time[32]; /* UTC, ISO 8601, when accepted */
    uint64_t rows;
    uint64_t n_ids;
    uint8_t (*ids)[32]; /* salted hashes, sorted */
    uint64_t n_groups;
    uint8_t (*groups)[32];
    uint32_t n_shards;
    sisa_req_shard *shards; /* in shard order */
    /* Where the IDs came from when a sisa tool wrote the IDs file (`sisa outliers`: its
     * '#' header): journaled, and certified in the ledger as "origin". origin_tool "" when
     * none. */
    char origin_tool[32];
    char origin_params[256];
    char origin_params_sha256[65];
    char origin_dataset_digest[65];
    /* Set by sisa_unlearn_plan, never journaled: requested IDs and groups that earlier,
     * certified requests already deleted (the ledger names them). */
    uint64_t already_ids, already_groups;
} sisa_request;

void sisa_request_free(sisa_request *r);
/* 1 when the salted hash `h` names a row of the request. */
int sisa_request_has(const sisa_request *r, const uint8_t h[32]);

/* Read one request record: a journal "request" record ("n") or a ledger record ("request", with
 * the lineage and model hashes after). SISA_ECORRUPT naming `where` when incomplete. */
int sisa_request_from_json(sisa_request *r, const sisa_json *rec, const char *where);

/* The newest request recorded in the store journal and its state (*found = 0 when none), and
 * the total rows of all requests (for the manifest). */
int sisa_request_latest(const sisa_journal *j, sisa_request *out, int *found, uint64_t *all_rows);
/* What the store journal says of all its requests, for the checks every open makes. Only the
 * newest request can be unfinished: every command finishes (or, reading, fences) it first. */
typedef struct sisa_request_summary {
    uint64_t requests;       /* requests journaled */
    uint64_t certified;      /* of them, certified (requests or requests - 1) */
    int latest_state;        /* state of the newest request, SISA_REQ_NONE when none */
    char certified_head[65]; /* the ledger head the last certified record left ("" when none) */
} sisa_request_summary;
int sisa_request_summarise(const sisa_journal *j, sisa_request_summary *out);

/* Journal a new request (state accepted). */
int sisa_request_accept(sisa_journal *j, sisa_request *r);
/* Journal that r moved to `state` (and, for certified, the ledger head after its record). */
int sisa_request_set_state(sisa_journal *j, sisa_request *r, int state, const char *ledger_head);
/* The same for state retrained, with the work the run that retrained spent: sample visits and
 * wall microseconds from taking the request up ("samples", "wall_us": read by sisa log). */
int sisa_request_set_retrained(sisa_journal *j, sisa_request *r, uint64_t samples,
                               uint64_t wall_us);

/* The fields a journal request record and a ledger record share (time, rows, ids, groups,
 * shards; with `after`, the hashes after retraining instead of the cost), appended to `w`. */
void sisa_request_write_body(sisa_jw *w, const sisa_request *r, int after);

/* Flatten a request to bytes and back (to broadcast it to MPI ranks). */
int sisa_request_pack(const sisa_request *r, uint8_t **out, size_t *len);
int sisa_request_unpack(sisa_request *r, const uint8_t *buf, size_t len);

#endif
