/*
 * log.c - `sisa log`: the store's deletion history, and whether a sample or a data subject was
 * deleted (docs/json.md). Read-only; rank 0 reads, the other ranks of a job wait.
 *
 * The history is the ledger's certified records (request, time, rows, subjects, shards and
 * stages, origin), joined with what the store journal adds: each request's planned cost and
 * the work and wall time of the run that retrained it (journals written before sisa recorded
 * them, and journals rebuilt by sisa repair, have neither: shown as unknown), and a request not
 * certified yet with its state. The newest certificate in STORE/certificates/ that covers a
 * request gives its verdict. `--was-deleted ID` and `--group G` hash the key with the store's salt
 * and look for the hash in the ledger: the answer names the request, and nothing about any other
 * row.
 */
#include "run/run.h"

#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "run/print.h"
#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/request.h"
#include "shard/store.h"
#include "sisa/error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One request of the history. */
typedef struct {
    sisa_request r;   /* from the ledger (certified) or the journal (in progress) */
    int state;        /* SISA_REQ_* */
    uint64_t plan;    /* planned sample visits (sum of the journal's shard costs) */
    int have_work;    /* the journal recorded the retraining's work */
    uint64_t samples; /* sample visits spent retraining */
    uint64_t wall_us; /* wall time from taking the request up to retrained */
    char verdict[16]; /* of the newest certificate covering it, "" when none */
    char cert[SISA_PATH_MAX];
    uint64_t cert_n; /* that certificate's N (request-N.json) */
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
} history;

static void history_free(history *h)
{
    for (size_t i = 0; i < h->n; i++) sisa_request_free(&h->e[i].r);
    sisa_free(h->e);
    memset(h, 0, sizeof *h);
}

static entry *history_add(history *h)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        entry *e = sisa_realloc(h->e, cap * sizeof *e);
        if (!e) return NULL;
        h->e = e;
        h->cap = cap;
    }
    memset(&h->e[h->n], 0, sizeof h->e[h->n]);
    return &h->e[h->n++];
}

/* The ledger's records, in order (its chain checked first). */
static int read_ledger(const sisa_store *st, history *h)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    sisa_ledger_info info;
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "ledger"));
    if (!sisa_fs_exists(path)) return SISA_OK;
    size_t torn = 0;
    SISA_TRY(sisa_ledger_read(path, &info, &torn));
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    len -= torn;
    size_t line = 0;
    for (size_t at = 0; at < len; line++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        sisa_json *rec = NULL;
        char where[SISA_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s line %zu", path, line + 1);
        SISA_TRY(sisa_json_parse(&rec, text + at, end - at, where));
        entry *e = history_add(h);
        err =
            e ? sisa_request_from_json(&e->r, rec, where) : SISA_ERR(SISA_ENOMEM, "out of memory");
        sisa_json_free(rec);
        SISA_TRY(err);
        e->state = SISA_REQ_CERTIFIED;
        at = end + 1;
    }
done:
    sisa_free(text);
    return err;
}

static entry *find(history *h, uint64_t n)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].r.n == n) return &h->e[i];
    return NULL;
}

/* What the store journal adds: costs, work, and a request not certified yet. */
static int read_journal(const sisa_store *st, history *h)
{
    int err = SISA_OK;
    sisa_files f = {0};
    SISA_TRY(sisa_store_files(st, &f, 0));
    for (size_t i = 0; i < f.j.n; i++) {
        const sisa_json *rec = f.j.recs[i];
        const char *op = NULL, *state = NULL;
        uint64_t n = 0;
        if (!sisa_json_str(rec, "op", &op) || !sisa_json_u64(rec, "n", &n)) continue;
        entry *e = find(h, n);
        if (!strcmp(op, "request")) {
            sisa_request r = {0};
            SISA_TRY(sisa_request_from_json(&r, rec, f.j.path));
            uint64_t plan = 0;
            for (uint32_t s = 0; s < r.n_shards; s++) plan += r.shards[s].cost;
            if (!e) { /* not in the ledger: in progress */
                e = history_add(h);
                if (!e) {
                    sisa_request_free(&r);
                    SISA_FAIL(SISA_ENOMEM, "out of memory");
                }
                e->r = r;
                e->state = SISA_REQ_ACCEPTED;
            } else {
                sisa_request_free(&r);
            }
            e->plan = plan;
        } else if (!strcmp(op, "state") && e && sisa_json_str(rec, "state", &state)) {
            if (e->state != SISA_REQ_CERTIFIED)
                for (int s = SISA_REQ_ACCEPTED; s <= SISA_REQ_CERTIFIED; s++)
                    if (!strcmp(state, sisa_req_state_name(s))) e->state = s;
            uint64_t samples = 0, wall = 0;
            if (sisa_json_u64(rec, "samples", &samples) && sisa_json_u64(rec, "wall_us", &wall)) {
                e->have_work = 1;
                e->samples = samples;
                e->wall_us = wall;
            }
        }
    }
done:
    sisa_files_close(&f);
    return err;
}

/* The certificates in STORE/certificates/ (request-N.json, as sisa verify names them): each
 * covers the requests it lists, and a later one (higher N) replaces an earlier verdict. */
static int read_certificates(const sisa_store *st, history *h)
{
    int err = SISA_OK;
    char dir[SISA_PATH_MAX];
    if (sisa_path_resolve(dir, sizeof dir, st->root, "certificates") < 0) {
        sisa_error_clear();
        return SISA_OK;
    }
    DIR *d = opendir(dir);
    if (!d) return SISA_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long n = 0;
        char tail[8] = "";
        if (sscanf(de->d_name, "request-%llu.json%7s", &n, tail) != 1 || tail[0]) continue;
        char path[SISA_PATH_MAX], *text = NULL;
        size_t len = 0;
        sisa_json *j = NULL;
        const char *verdict = NULL;
        int rc = snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path
                     ? sisa_fs_read_all(&text, &len, path, (size_t)1 << 30)
                     : SISA_EUSAGE;
        if (rc == SISA_OK) rc = sisa_json_parse(&j, text, len, path);
        if (rc == SISA_ENOMEM) err = rc; /* anything else: not a certificate of ours */
        if (rc == SISA_OK && sisa_json_str(j, "verdict", &verdict)) {
            const sisa_json *reqs = sisa_json_get(j, "requests");
            for (const sisa_json *k = reqs ? reqs->kid : NULL; k; k = k->next) {
                unsigned long long rn = k->str ? strtoull(k->str, NULL, 10) : 0;
                for (size_t i = 0; i < h->n; i++) {
                    entry *e = &h->e[i];
                    if (e->r.n != rn || e->cert_n > n) continue;
                    e->cert_n = n;
                    snprintf(e->cert, sizeof e->cert, "%s", path);
                    snprintf(e->verdict, sizeof e->verdict, "%s", verdict);
                }
            }
        }
        if (err == SISA_OK) sisa_error_clear();
        sisa_json_free(j);
        sisa_free(text);
        if (err < 0) break;
    }
    closedir(d);
    return err;
}

static void print_entry_json(FILE *out, const entry *e)
{
    const sisa_request *r = &e->r;
    fprintf(out, "{\"request\": %llu, \"time\": ", (unsigned long long)r->n);
    sisa_json_string(out, r->time);
    fprintf(out, ", \"state\": \"%s\", \"rows\": %llu, \"subjects\": %llu, \"shards\": [",
            sisa_req_state_name(e->state), (unsigned long long)r->rows,
            (unsigned long long)r->n_groups);
    for (uint32_t s = 0; s < r->n_shards; s++)
        fprintf(out, "%s{\"shard\": %u, \"rows\": %llu, \"first_stage\": %u}", s ? ", " : "",
                r->shards[s].shard, (unsigned long long)r->shards[s].rows,
                r->shards[s].first_stage);
    fprintf(out, "], \"planned_samples\": ");
    if (e->plan)
        fprintf(out, "%llu", (unsigned long long)e->plan);
    else
        fprintf(out, "null");
    if (e->have_work)
        fprintf(out, ", \"samples\": %llu, \"seconds\": ", (unsigned long long)e->samples);
    else
        fprintf(out, ", \"samples\": null, \"seconds\": null");
    if (e->have_work) sisa_json_number(out, (double)e->wall_us / 1e6);
    fprintf(out, ", \"origin\": ");
    if (r->origin_tool[0]) {
        char o[320];
        snprintf(o, sizeof o, "%s: %s", r->origin_tool, r->origin_params);
        sisa_json_string(out, o);
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ", \"certificate\": ");
    if (e->cert[0]) {
        fprintf(out, "{\"path\": ");
        sisa_json_string(out, e->cert);
        fprintf(out, ", \"verdict\": ");
        sisa_json_string(out, e->verdict);
        fprintf(out, "}");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, "}");
}

static void print_entry_text(FILE *out, const entry *e, uint32_t slices)
{
    const sisa_request *r = &e->r;
    char work[96] = "work not recorded";
    if (e->have_work)
        snprintf(work, sizeof work, "%llu sample visits, %.2f s", (unsigned long long)e->samples,
                 (double)e->wall_us / 1e6);
    else if (e->plan)
        snprintf(work, sizeof work, "%llu sample visits planned", (unsigned long long)e->plan);
    fprintf(out, "request %llu  %s  %s  %llu row(s)", (unsigned long long)r->n, r->time,
            sisa_req_state_name(e->state), (unsigned long long)r->rows);
    if (r->n_groups) fprintf(out, " of %llu subject(s)", (unsigned long long)r->n_groups);
    fprintf(out, "  %s\n", work);
    fprintf(out, "    shards:");
    for (uint32_t s = 0; s < r->n_shards; s++) {
        const uint32_t first = r->shards[s].first_stage;
        if (first == slices)
            fprintf(out, "%s %u (stage %u)", s ? "," : "", r->shards[s].shard, first);
        else
            fprintf(out, "%s %u (stages %u-%u)", s ? "," : "", r->shards[s].shard, first, slices);
    }
    fprintf(out, "\n");
    if (r->origin_tool[0]) fprintf(out, "    origin: %s: %s\n", r->origin_tool, r->origin_params);
    if (e->cert[0]) fprintf(out, "    certificate: %s (verdict %s)\n", e->cert, e->verdict);
}

/* Rank 0: the query (--was-deleted, --group), or the history. */
static int run_log(const sisa_store *st, const sisa_run_log_opts *o, sisa_run_log_result *res)
{
    int err = SISA_OK;
    history h = {0};
    FILE *out = o->out;
    SISA_TRY(read_ledger(st, &h));
    SISA_TRY(read_journal(st, &h));
    if (o->has_id || o->has_group) {
        uint8_t key[32];
        if (o->has_id)
            sisa_store_hash_id(st, o->id, key);
        else
            sisa_store_hash_group(st, o->group, key);
        const entry *hit = NULL;
        for (size_t i = 0; i < h.n && !hit; i++) {
            const sisa_request *r = &h.e[i].r;
            if (h.e[i].state != SISA_REQ_CERTIFIED) continue;
            if (o->has_id ? sisa_request_has(r, key)
                          : sisa_hashes_has((const uint8_t(*)[32])r->groups, r->n_groups, key))
                hit = &h.e[i];
        }
        res->deleted = hit != NULL;
        res->request = hit ? hit->r.n : 0;
        if (!out) goto done;
        const char *what = o->has_id ? "sample" : "data subject";
        const uint64_t v = o->has_id ? o->id : o->group;
        if (o->json) {
            fprintf(out, "{\"%s\": %llu, \"deleted\": %s", o->has_id ? "id" : "group",
                    (unsigned long long)v, hit ? "true" : "false");
            if (hit) {
                fprintf(out, ", \"request\": %llu, \"time\": ", (unsigned long long)hit->r.n);
                sisa_json_string(out, hit->r.time);
            }
            fprintf(out, "}\n");
        } else if (hit) {
            fprintf(out, "yes: %s %llu was deleted by request %llu (%s), certified in %s/ledger\n",
                    what, (unsigned long long)v, (unsigned long long)hit->r.n, hit->r.time,
                    st->root);
        } else {
            fprintf(out, "no: the ledger of %s names no deletion of %s %llu\n", st->root, what,
                    (unsigned long long)v);
        }
        goto done;
    }
    SISA_TRY(read_certificates(st, &h));
    for (size_t i = 0; i < h.n; i++) {
        entry *e = &h.e[i];
        if (o->since && strcmp(e->r.time, o->since) < 0) continue;
        res->requests++;
        res->rows += e->r.rows;
    }
    if (!out) goto done;
    size_t shown = 0;
    if (o->json) {
        fprintf(out, "{\"store\": ");
        sisa_json_string(out, st->root);
        fprintf(out, ", \"requests\": [");
    } else if (!res->requests) {
        fprintf(out, "no deletion request%s in %s\n", o->since ? " since then" : "", st->root);
    }
    shown = 0;
    for (size_t i = 0; i < h.n; i++) {
        const entry *e = &h.e[i];
        if (o->since && strcmp(e->r.time, o->since) < 0) continue;
        if (o->json) {
            if (shown++) fprintf(out, ", ");
            print_entry_json(out, e);
        } else {
            print_entry_text(out, e, (uint32_t)st->cfg.sisa.slices);
        }
    }
    if (o->json)
        fprintf(out, "], \"rows\": %llu}\n", (unsigned long long)res->rows);
    else if (res->requests)
        fprintf(out, "%llu request(s), %llu row(s) deleted\n", (unsigned long long)res->requests,
                (unsigned long long)res->rows);
done:
    history_free(&h);
    return err;
}

int sisa_run_log(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                 const sisa_run_log_opts *o, sisa_run_log_result *res)
{
    int err = SISA_OK;
    sisa_store st = {.lock_fd = -1};
    sisa_config cfg;
    memset(res, 0, sizeof *res);
    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_READ, &oo));
    SISA_TRY(sisa_dist_agree(d, sisa_dist_rank(d) == 0 ? run_log(&st, o, res) : SISA_OK));
done:
    sisa_store_close(&st);
    return err;
}
