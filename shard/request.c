/*
 * request.c - deletion requests and the ledger (see request.h).
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

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

int sisa_request_has(const sisa_request *r, const uint8_t h[32])
{
    return r->n_ids && bsearch(h, r->ids, r->n_ids, 32, cmp_hash) != NULL;
}

static int unhex32(const char *hex, uint8_t out[32])
{
    if (!hex || strlen(hex) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + (unsigned)d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Hash list <-> JSON array of hex strings. */
static void write_hashes(sisa_jw *w, const uint8_t (*h)[32], uint64_t n)
{
    sisa_jw_raw(w, "[");
    for (uint64_t i = 0; i < n; i++) {
        char hex[65];
        sisa_hex(hex, h[i], 32);
        if (i) sisa_jw_raw(w, ", ");
        sisa_jw_str(w, hex);
    }
    sisa_jw_raw(w, "]");
}

static int read_hashes(const sisa_json *arr, uint8_t (**out)[32], uint64_t *n, const char *what)
{
    *out = NULL;
    *n = 0;
    if (!arr) return SISA_OK;
    if (arr->type != SISA_JSON_ARRAY) return SISA_ERR(SISA_ECORRUPT, "%s is not a list", what);
    *out = sisa_malloc((arr->count ? arr->count : 1) * 32);
    if (!*out) return SISA_ERR(SISA_ENOMEM, "out of memory");
    for (const sisa_json *e = arr->kid; e; e = e->next) {
        if (e->type != SISA_JSON_STRING || unhex32(e->str, (*out)[*n]) < 0)
            return SISA_ERR(SISA_ECORRUPT, "%s holds a bad hash", what);
        (*n)++;
    }
    return SISA_OK;
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

/* The fields a journal request and a ledger record share: time, rows, ids, groups, shards. */
static void write_body(sisa_jw *w, const sisa_request *r, int after)
{
    sisa_jw_key(w, "time", 0);
    sisa_jw_str(w, r->time);
    sisa_jw_key(w, "rows", 0);
    sisa_jw_u64(w, r->rows);
    sisa_jw_key(w, "ids", 0);
    write_hashes(w, (const uint8_t(*)[32])r->ids, r->n_ids);
    sisa_jw_key(w, "groups", 0);
    write_hashes(w, (const uint8_t(*)[32])r->groups, r->n_groups);
    sisa_jw_key(w, "shards", 0);
    write_shards(w, r, after);
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
    SISA_TRY(read_hashes(sisa_json_get(rec, "ids"), &r->ids, &r->n_ids, where));
    SISA_TRY(read_hashes(sisa_json_get(rec, "groups"), &r->groups, &r->n_groups, where));
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
    write_body(&w, r, 0);
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_journal_append(j, w.buf));
    r->state = SISA_REQ_ACCEPTED;
done:
    sisa_jw_free(&w);
    return err;
}

int sisa_request_set_state(sisa_journal *j, sisa_request *r, int state, const char *ledger_head)
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
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_journal_append(j, w.buf));
    r->state = state;
done:
    sisa_jw_free(&w);
    return err;
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

/* ---- ledger ----------------------------------------------------------------------------- */

/* Check the chain of the ledger text [0, len) read from `path`. */
static int check_chain(const char *path, const char *text, size_t len, sisa_ledger_info *info)
{
    int err = SISA_OK;
    sisa_json *rec = NULL;
    memset(info, 0, sizeof *info);
    memset(info->head, '0', 64);
    SISA_CHECK(strnlen(text, len) == len, SISA_ECORRUPT, "%s: contains a NUL byte", path);
    SISA_CHECK(len == 0 || text[len - 1] == '\n', SISA_ECORRUPT,
               "%s: the last record is incomplete (no final newline): the ledger was cut or "
               "edited",
               path);
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (size_t)(nl - (text + pos));
        lineno++;
        char name[SISA_PATH_MAX + 32];
        snprintf(name, sizeof name, "%s:%d", path, lineno);
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, name));
        uint64_t request = 0;
        const char *prev = NULL;
        SISA_CHECK(rec->type == SISA_JSON_OBJECT && sisa_json_u64(rec, "request", &request) &&
                       sisa_json_str(rec, "prev", &prev),
                   SISA_ECORRUPT, "%s: not a ledger record", name);
        SISA_CHECK(request == info->last_request + 1, SISA_ECORRUPT,
                   "%s: request %llu follows request %llu: a record was dropped, reordered or "
                   "inserted",
                   name, (unsigned long long)request, (unsigned long long)info->last_request);
        SISA_CHECK(!strcmp(prev, info->head), SISA_ECORRUPT,
                   "%s: its prev hash %.12s... is not the hash of the record before (%.12s...): "
                   "the ledger was edited",
                   name, prev, info->head);
        uint8_t d[32];
        sisa_sha256(d, text + pos, n);
        sisa_hex(info->head, d, 32);
        info->last_request = request;
        info->records++;
        sisa_json_free(rec);
        rec = NULL;
        pos += n + 1;
    }
done:
    sisa_json_free(rec);
    return err;
}

int sisa_ledger_check(const char *path, sisa_ledger_info *info)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    memset(info, 0, sizeof *info);
    memset(info->head, '0', 64);
    if (!sisa_fs_exists(path)) return SISA_OK;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    SISA_TRY(check_chain(path, text, len, info));
done:
    sisa_free(text);
    return err;
}

int sisa_ledger_read(const char *path, sisa_ledger_info *info, size_t *torn_bytes)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    memset(info, 0, sizeof *info);
    memset(info->head, '0', 64);
    *torn_bytes = 0;
    if (!sisa_fs_exists(path)) return SISA_OK;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    size_t keep = len;
    while (keep > 0 && text[keep - 1] != '\n') keep--;
    *torn_bytes = len - keep;
    SISA_TRY(check_chain(path, text, keep, info));
done:
    sisa_free(text);
    return err;
}

void sisa_ledger_record(sisa_jw *w, const sisa_request *r, const char *prev)
{
    sisa_jw_raw(w, "{");
    sisa_jw_key(w, "request", 1);
    sisa_jw_u64(w, r->n);
    write_body(w, r, 1);
    sisa_jw_key(w, "prev", 0);
    sisa_jw_str(w, prev);
    sisa_jw_raw(w, "}");
}

int sisa_ledger_append(const char *path, const sisa_request *r, char head[65])
{
    int err = SISA_OK;
    sisa_ledger_info info;
    sisa_jw w;
    int fd = -1;
    sisa_jw_init(&w);
    memset(&info, 0, sizeof info);
    memset(info.head, '0', 64);
    if (sisa_fs_exists(path)) {
        char *text = NULL;
        size_t len = 0;
        SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
        size_t keep = len;
        while (keep > 0 && text[keep - 1] != '\n') keep--;
        err = check_chain(path, text, keep, &info);
        sisa_free(text);
        SISA_TRY(err);
        /* A crash while appending leaves a record without its newline. Only the record of this
         * very request can be torn like that (the one before it was certified whole): drop it
         * and append it again. Any other cut is damage, reported and left as it is. */
        if (keep < len) {
            SISA_CHECK(info.last_request + 1 == r->n, SISA_ECORRUPT,
                       "%s: the last record is incomplete (no final newline) and follows request "
                       "%llu, not request %llu's: the ledger was cut or edited",
                       path, (unsigned long long)info.last_request, (unsigned long long)r->n - 1);
            int tfd = open(path, O_WRONLY | O_CLOEXEC);
            int ok = tfd >= 0 && ftruncate(tfd, (off_t)keep) == 0 && fsync(tfd) == 0;
            int saved = errno;
            if (tfd >= 0) close(tfd);
            SISA_CHECK(ok, SISA_EIO, "cannot drop the incomplete last record of %s: %s", path,
                       strerror(saved));
        }
    }
    if (info.last_request == r->n) { /* appended before a crash */
        memcpy(head, info.head, 65);
        goto done;
    }
    SISA_CHECK(info.last_request + 1 == r->n, SISA_ECORRUPT,
               "%s ends with request %llu, so request %llu cannot follow it", path,
               (unsigned long long)info.last_request, (unsigned long long)r->n);
    sisa_ledger_record(&w, r, info.head);
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    uint8_t d[32];
    sisa_sha256(d, w.buf, w.len);
    sisa_jw_raw(&w, "\n");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    int existed = sisa_fs_exists(path);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, SISA_FILE_MODE);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    for (size_t off = 0; off < w.len;) {
        ssize_t n = write(fd, w.buf + off, w.len - off);
        if (n < 0 && errno == EINTR) continue;
        SISA_CHECK(n > 0, SISA_EIO, "cannot append to %s: %s", path,
                   n < 0 ? strerror(errno) : "no progress");
        off += (size_t)n;
    }
    SISA_CHECK(fsync(fd) == 0, SISA_EIO, "fsync of %s failed: %s", path, strerror(errno));
    if (!existed) SISA_TRY(sisa_fs_fsync_parent(path));
    sisa_hex(head, d, 32);
done:
    if (fd >= 0) close(fd);
    sisa_jw_free(&w);
    return err;
}

int sisa_ledger_lineages(const char *path, uint32_t shards, char (*out)[65])
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    sisa_json *rec = NULL;
    sisa_request r = {0};
    for (uint32_t k = 0; k < shards; k++) out[k][0] = '\0';
    if (!sisa_fs_exists(path)) return SISA_OK;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) break; /* a torn last line */
        size_t n = (size_t)(nl - (text + pos));
        char where[SISA_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", path, ++lineno);
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, where));
        SISA_TRY(sisa_request_from_json(&r, rec, where));
        for (uint32_t i = 0; i < r.n_shards; i++)
            if (r.shards[i].shard < shards)
                memcpy(out[r.shards[i].shard], r.shards[i].lineage_after, 65);
        sisa_request_free(&r);
        sisa_json_free(rec);
        rec = NULL;
        pos += n + 1;
    }
done:
    sisa_request_free(&r);
    sisa_json_free(rec);
    sisa_free(text);
    return err;
}
