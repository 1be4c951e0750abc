/*
 * request.c - deletion requests and their journal records (see request.h); the ledger they are
 * certified in is shard/ledger.c.
 */
#include "shard/request.h"

#include "base/sha256.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const state_names[] = {"none",      "accepted",  "fenced",   "rewritten",
                                          "retrained", "published", "certified"};

const char *sisa_req_state_name(int state)
{
    return state >= 0 && state <= SISA_REQ_CERTIFIED ? state_names[state] : "unknown";
}

static int state_of(const char *name)
{
    for (int i = 1; i <= SISA_REQ_CERTIFIED; i++)
        if (!strcmp(name, state_names[i])) return i;
    return 0;
}

void sisa_request_free(sisa_request *r)
{
    sisa_free(r->ids);
    sisa_free(r->groups);
    sisa_free(r->shards);
    memset(r, 0, sizeof *r);
}

int sisa_request_has(const sisa_request *r, const uint8_t h[32])
{
    return sisa_hashes_has((const uint8_t(*)[32])r->ids, r->n_ids, h);
}

static void write_shards(sisa_jw *w, const sisa_request *r, int after)
{
    sisa_jw_raw(w, "[");
    for (uint32_t i = 0; i < r->n_shards; i++) {
        const sisa_req_shard *s = &r->shards[i];
        sisa_jw_raw(w, i ? ", {" : "{");
        sisa_jw_key(w, "shard", 1);
        sisa_jw_u64(w, s->shard);
        sisa_jw_key(w, "first_stage", 0);
        sisa_jw_u64(w, s->first_stage);
        sisa_jw_key(w, "rows", 0);
        sisa_jw_u64(w, s->rows);
        if (!after) {
            sisa_jw_key(w, "cost", 0);
            sisa_jw_u64(w, s->cost);
        }
        sisa_jw_key(w, "lineage_before", 0);
        sisa_jw_str(w, s->lineage_before);
        if (after) {
            sisa_jw_key(w, "lineage_after", 0);
            sisa_jw_str(w, s->lineage_after);
        }
        sisa_jw_key(w, "model_before", 0);
        sisa_jw_str(w, s->model_before);
        if (after) {
            sisa_jw_key(w, "model_after", 0);
            sisa_jw_str(w, s->model_after);
        }
        sisa_jw_raw(w, "}");
    }
    sisa_jw_raw(w, "]");
}

void sisa_request_write_body(sisa_jw *w, const sisa_request *r, int after)
{
    sisa_jw_key(w, "time", 0);
    sisa_jw_str(w, r->time);
    sisa_jw_key(w, "rows", 0);
    sisa_jw_u64(w, r->rows);
    sisa_jw_key(w, "ids", 0);
    sisa_hashes_write(w, (const uint8_t(*)[32])r->ids, r->n_ids);
    sisa_jw_key(w, "groups", 0);
    sisa_hashes_write(w, (const uint8_t(*)[32])r->groups, r->n_groups);
    sisa_jw_key(w, "shards", 0);
    write_shards(w, r, after);
    if (r->origin_tool[0]) {
        sisa_jw_key(w, "origin", 0);
        sisa_jw_raw(w, "{");
        sisa_jw_key(w, "tool", 1);
        sisa_jw_str(w, r->origin_tool);
        sisa_jw_key(w, "params", 0);
        sisa_jw_str(w, r->origin_params);
        sisa_jw_key(w, "params_sha256", 0);
        sisa_jw_str(w, r->origin_params_sha256);
        sisa_jw_key(w, "dataset_digest", 0);
        sisa_jw_str(w, r->origin_dataset_digest);
        sisa_jw_raw(w, "}");
    }
}

/* The optional "origin" object of a request record. */
static int read_origin(sisa_request *r, const sisa_json *rec, const char *where)
{
    const sisa_json *o = sisa_json_get(rec, "origin");
    if (!o) return SISA_OK;
    const char *tool, *params, *sha, *digest;
    if (o->type != SISA_JSON_OBJECT || !sisa_json_str(o, "tool", &tool) ||
        !sisa_json_str(o, "params", &params) || !sisa_json_str(o, "params_sha256", &sha) ||
        !sisa_json_str(o, "dataset_digest", &digest) || strlen(tool) >= sizeof r->origin_tool ||
        strlen(params) >= sizeof r->origin_params || strlen(sha) != 64 || strlen(digest) > 64)
        return SISA_ERR(SISA_ECORRUPT, "%s: bad \"origin\" in request %llu", where,
                        (unsigned long long)r->n);
    snprintf(r->origin_tool, sizeof r->origin_tool, "%s", tool);
    snprintf(r->origin_params, sizeof r->origin_params, "%s", params);
    snprintf(r->origin_params_sha256, sizeof r->origin_params_sha256, "%s", sha);
    snprintf(r->origin_dataset_digest, sizeof r->origin_dataset_digest, "%s", digest);
    return SISA_OK;
}

static int copy_hex(char *dst, const sisa_json *obj, const char *key, int required)
{
    const char *v = NULL;
    if (!sisa_json_str(obj, key, &v)) {
        dst[0] = '\0';
        return required ? -1 : 0;
    }
    if (strlen(v) != 64 && strlen(v) != 0) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int sisa_request_from_json(sisa_request *r, const sisa_json *rec, const char *where)
{
    int err = SISA_OK;
    const char *time = NULL;
    const sisa_json *shards = sisa_json_get(rec, "shards");
    memset(r, 0, sizeof *r);
    SISA_CHECK((sisa_json_u64(rec, "n", &r->n) || sisa_json_u64(rec, "request", &r->n)) &&
                   sisa_json_u64(rec, "rows", &r->rows) && sisa_json_str(rec, "time", &time) &&
                   strlen(time) < sizeof r->time && shards && shards->type == SISA_JSON_ARRAY,
               SISA_ECORRUPT, "%s: a request record is incomplete", where);
    snprintf(r->time, sizeof r->time, "%s", time);
    sisa_hashlist ids = {0}, groups = {0};
    err = sisa_hashlist_read(&ids, rec, "ids", where, SISA_HASHES_OPTIONAL);
    r->ids = ids.v;
    r->n_ids = ids.n;
    SISA_TRY(err);
    err = sisa_hashlist_read(&groups, rec, "groups", where, SISA_HASHES_OPTIONAL);
    r->groups = groups.v;
    r->n_groups = groups.n;
    SISA_TRY(err);
    r->shards = sisa_calloc(shards->count ? shards->count : 1, sizeof *r->shards);
    SISA_CHECK(r->shards, SISA_ENOMEM, "out of memory");
    for (const sisa_json *s = shards->kid; s; s = s->next) {
        sisa_req_shard *q = &r->shards[r->n_shards];
        uint64_t k = 0, first = 0;
        SISA_CHECK(sisa_json_u64(s, "shard", &k) && sisa_json_u64(s, "first_stage", &first) &&
                       sisa_json_u64(s, "rows", &q->rows) && k <= UINT32_MAX && first <= UINT32_MAX,
                   SISA_ECORRUPT, "%s: a shard of request %llu is incomplete", where,
                   (unsigned long long)r->n);
        sisa_json_u64(s, "cost", &q->cost);
        q->shard = (uint32_t)k;
        q->first_stage = (uint32_t)first;
        SISA_CHECK(copy_hex(q->lineage_before, s, "lineage_before", 1) == 0 &&
                       copy_hex(q->model_before, s, "model_before", 1) == 0 &&
                       copy_hex(q->lineage_after, s, "lineage_after", 0) == 0 &&
                       copy_hex(q->model_after, s, "model_after", 0) == 0,
                   SISA_ECORRUPT, "%s: bad hashes in request %llu", where,
                   (unsigned long long)r->n);
        r->n_shards++;
    }
    SISA_TRY(read_origin(r, rec, where));
    r->state = SISA_REQ_ACCEPTED;
done:
    if (err < 0) sisa_request_free(r);
    return err;
}

int sisa_request_latest(const sisa_journal *j, sisa_request *out, int *found, uint64_t *all_rows)
{
    int err = SISA_OK;
    memset(out, 0, sizeof *out);
    *found = 0;
    if (all_rows) *all_rows = 0;
    for (size_t i = 0; i < j->n; i++) {
        const sisa_json *rec = j->recs[i];
        const char *op = NULL, *state = NULL;
        if (!sisa_json_str(rec, "op", &op)) continue;
        if (!strcmp(op, "request")) {
            sisa_request_free(out);
            SISA_TRY(sisa_request_from_json(out, rec, j->path));
            SISA_CHECK(out->n == (uint64_t)(*found) + 1, SISA_ECORRUPT,
                       "%s: request %llu follows request %d", j->path, (unsigned long long)out->n,
                       *found);
            *found = (int)out->n;
            if (all_rows) *all_rows += out->rows;
        } else if (!strcmp(op, "state")) {
            uint64_t n = 0;
            SISA_CHECK(sisa_json_u64(rec, "n", &n) && sisa_json_str(rec, "state", &state) &&
                           state_of(state) && *found && n == out->n,
                       SISA_ECORRUPT, "%s: a state record does not follow its request", j->path);
            SISA_CHECK(state_of(state) > out->state, SISA_ECORRUPT,
                       "%s: request %llu goes back from %s to %s", j->path, (unsigned long long)n,
                       sisa_req_state_name(out->state), state);
            out->state = state_of(state);
        }
    }
    *found = *found > 0;
done:
    if (err < 0) sisa_request_free(out);
    return err;
}

int sisa_request_summarise(const sisa_journal *j, sisa_request_summary *out)
{
    int err = SISA_OK;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < j->n; i++) {
        const sisa_json *rec = j->recs[i];
        const char *op = NULL, *state = NULL, *head = NULL;
        uint64_t n = 0;
        if (!sisa_json_str(rec, "op", &op)) continue;
        if (!strcmp(op, "request")) {
            SISA_CHECK(sisa_json_u64(rec, "n", &n) && n == out->requests + 1, SISA_ECORRUPT,
                       "%s: request %llu follows request %llu", j->path, (unsigned long long)n,
                       (unsigned long long)out->requests);
            SISA_CHECK(out->latest_state == SISA_REQ_NONE ||
                           out->latest_state == SISA_REQ_CERTIFIED,
                       SISA_ECORRUPT,
                       "%s: request %llu was accepted before request %llu was "
                       "certified",
                       j->path, (unsigned long long)n, (unsigned long long)out->requests);
            out->requests = n;
            out->latest_state = SISA_REQ_ACCEPTED;
        } else if (!strcmp(op, "state")) {
            SISA_CHECK(sisa_json_u64(rec, "n", &n) && sisa_json_str(rec, "state", &state) &&
                           state_of(state) && out->requests && n == out->requests,
                       SISA_ECORRUPT, "%s: a state record does not follow its request", j->path);
            SISA_CHECK(state_of(state) > out->latest_state, SISA_ECORRUPT,
                       "%s: request %llu goes back from %s to %s", j->path, (unsigned long long)n,
                       sisa_req_state_name(out->latest_state), state);
            out->latest_state = state_of(state);
            if (out->latest_state == SISA_REQ_CERTIFIED) {
                SISA_CHECK(sisa_json_str(rec, "ledger_head", &head) && strlen(head) == 64,
                           SISA_ECORRUPT, "%s: request %llu is certified without a ledger head",
                           j->path, (unsigned long long)n);
                memcpy(out->certified_head, head, 65);
                out->certified = n;
            }
        }
    }
done:
    return err;
}

int sisa_request_accept(sisa_journal *j, sisa_request *r)
{
    int err = SISA_OK;
    sisa_jw w;
    sisa_jw_init(&w);
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "op", 1);
    sisa_jw_str(&w, "request");
    sisa_jw_key(&w, "n", 0);
    sisa_jw_u64(&w, r->n);
    sisa_request_write_body(&w, r, 0);
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_journal_append(j, w.buf));
    r->state = SISA_REQ_ACCEPTED;
done:
    sisa_jw_free(&w);
    return err;
}

static int set_state(sisa_journal *j, sisa_request *r, int state, const char *ledger_head,
                     const uint64_t *work)
{
    int err = SISA_OK;
    sisa_jw w;
    sisa_jw_init(&w);
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "op", 1);
    sisa_jw_str(&w, "state");
    sisa_jw_key(&w, "n", 0);
    sisa_jw_u64(&w, r->n);
    sisa_jw_key(&w, "state", 0);
    sisa_jw_str(&w, sisa_req_state_name(state));
    if (ledger_head) {
        sisa_jw_key(&w, "ledger_head", 0);
        sisa_jw_str(&w, ledger_head);
    }
    if (work) {
        sisa_jw_key(&w, "samples", 0);
        sisa_jw_u64(&w, work[0]);
        sisa_jw_key(&w, "wall_us", 0);
        sisa_jw_u64(&w, work[1]);
    }
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_journal_append(j, w.buf));
    r->state = state;
done:
    sisa_jw_free(&w);
    return err;
}

int sisa_request_set_state(sisa_journal *j, sisa_request *r, int state, const char *ledger_head)
{
    return set_state(j, r, state, ledger_head, NULL);
}

int sisa_request_set_retrained(sisa_journal *j, sisa_request *r, uint64_t samples, uint64_t wall_us)
{
    const uint64_t work[2] = {samples, wall_us};
    return set_state(j, r, SISA_REQ_RETRAINED, NULL, work);
}

/* ---- packing for MPI -------------------------------------------------------------------- */

int sisa_request_pack(const sisa_request *r, uint8_t **out, size_t *len)
{
    size_t n = sizeof *r + r->n_ids * 32 + r->n_groups * 32 + r->n_shards * sizeof *r->shards;
    uint8_t *buf = sisa_malloc(n);
    if (!buf) return SISA_ERR(SISA_ENOMEM, "out of memory");
    uint8_t *p = buf;
    memcpy(p, r, sizeof *r); /* its pointers are replaced on unpacking */
    p += sizeof *r;
    memcpy(p, r->ids, r->n_ids * 32);
    p += r->n_ids * 32;
    memcpy(p, r->groups, r->n_groups * 32);
    p += r->n_groups * 32;
    memcpy(p, r->shards, r->n_shards * sizeof *r->shards);
    *out = buf;
    *len = n;
    return SISA_OK;
}

int sisa_request_unpack(sisa_request *r, const uint8_t *buf, size_t len)
{
    int err = SISA_OK;
    SISA_CHECK(len >= sizeof *r, SISA_EINTERNAL, "short request");
    memcpy(r, buf, sizeof *r);
    const uint8_t *p = buf + sizeof *r;
    SISA_CHECK(len ==
                   sizeof *r + r->n_ids * 32 + r->n_groups * 32 + r->n_shards * sizeof *r->shards,
               SISA_EINTERNAL, "request of the wrong size");
    r->ids = sisa_malloc(r->n_ids ? r->n_ids * 32 : 1);
    r->groups = sisa_malloc(r->n_groups ? r->n_groups * 32 : 1);
    r->shards = sisa_malloc(r->n_shards ? r->n_shards * sizeof *r->shards : 1);
    SISA_CHECK(r->ids && r->groups && r->shards, SISA_ENOMEM, "out of memory");
    memcpy(r->ids, p, r->n_ids * 32);
    p += r->n_ids * 32;
    memcpy(r->groups, p, r->n_groups * 32);
    p += r->n_groups * 32;
    memcpy(r->shards, p, r->n_shards * sizeof *r->shards);
done:
    return err;
}
