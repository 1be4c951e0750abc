/*
 * status.c - what a store holds, shard by shard (sisa status; run/run.h).
 *
 * For each shard: its row count, how many stages have a checkpoint whose lineage matches the
 * shard's current rows, and the checkpoint a model would be served from (JSON "checkpoint",
 * null when none is usable). Tools find models through this, never by guessing file names.
 */
#include "run/run.h"

#include "run/print.h"

#include "base/json.h"
#include "base/mem.h"
#include "io/store_io.h"
#include "model/blas.h"
#include "model/model.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    uint64_t rows;
    uint32_t stages_done; /* consecutive valid stages from 1 */
    int partitioned;
    int ready;
    char checkpoint[SISA_PATH_MAX];
    const char *state;
    char problem[SISA_ERROR_MAX]; /* why a file was not used */
} shard_status;

/* A shard's state from its journal: every file it reads is checked against its recorded hash
 * first; a damaged file is reported, not parsed. */
static int shard_state(const sisa_store *st, uint32_t k, const char *expected, shard_status *s)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_summary sum = {0};
    sisa_files files = {0};
    char path[SISA_PATH_MAX], name[32];
    memset(s, 0, sizeof *s);
    SISA_TRY(sisa_store_shard_dir(st, k, path, sizeof path));
    if (!sisa_fs_exists(path)) {
        /* Every shard of a store with a manifest was partitioned: a missing one is damage. */
        snprintf(s->problem, sizeof s->problem,
                 "%.400s is missing: the shard is damaged (run 'sisa repair -c %.400s')", path,
                 st->cfg.source);
        s->state = "damaged: its folder is missing";
        goto done;
    }
    SISA_TRY(sisa_shard_files(st, k, &files, 0));
    if (!sisa_files_has(&files, "data.h5")) {
        snprintf(s->problem, sizeof s->problem,
                 "%.400s %s: the shard is damaged (run 'sisa repair -c %.400s')", files.j.path,
                 sisa_fs_exists(files.j.path) ? "commits no data file" : "is missing",
                 st->cfg.source);
        s->state = "damaged: its journal is missing or commits no data file";
        goto done;
    }
    s->partitioned = 1;
    /* From the journals, with a size check of each file: status reads no data file and hashes
     * nothing large (the full byte-for-byte check is sisa audit's). */
    if (sisa_files_check_size(&files, "data.h5") < 0) {
        snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
        sisa_error_clear();
        s->state = "damaged data file";
        goto done;
    }
    SISA_TRY(sisa_shard_summary_get(st, &files, k, &sum));
    s->rows = sum.rows;
    if (sisa_shard_check_lineage(st, k, sum.lineage[R - 1], expected) < 0) {
        snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
        sisa_error_clear();
        s->state = "damaged: not the rows the ledger leaves (restored from an older copy?)";
        goto done;
    }
    if ((size_t)k < sizeof st->fenced && st->fenced[k]) {
        s->state = "fenced (an unfinished deletion request; not in the ensemble)";
        goto done;
    }
    if (sum.rows == 0) {
        s->state = "empty (every row deleted; not in the ensemble)";
        goto done;
    }
    for (uint32_t r = 1; r <= R; r++) {
        sisa_ckpt_name(name, sizeof name, r);
        const sisa_files_entry *e = sisa_files_entry_of(&files, name);
        if (!e) break;
        if (sisa_files_check_size(&files, name) < 0) {
            snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
            sisa_error_clear();
            break;
        }
        const char *lin = NULL;
        if (!e->meta || !sisa_json_str(e->meta, "lineage", &lin)) {
            /* A checkpoint committed before its lineage was journaled: read it. */
            sisa_ckpt_meta meta;
            if (sisa_files_locate(&files, name, path, sizeof path) < 0) {
                snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
                sisa_error_clear();
                break;
            }
            SISA_TRY(sisa_ckpt_read_meta(&meta, path));
            if (strcmp(meta.lineage, sum.lineage[r - 1]) != 0) break;
        } else if (strcmp(lin, sum.lineage[r - 1]) != 0) {
            break;
        }
        s->stages_done = r;
    }
    s->ready = s->stages_done == R;
    if (s->ready) SISA_TRY(sisa_store_ckpt_path(st, k, R, s->checkpoint, sizeof s->checkpoint));
    s->state = s->ready        ? "ready"
               : s->problem[0] ? "damaged checkpoint (sisa train rebuilds it)"
                               : "training unfinished (run sisa train)";
done:
    sisa_shard_summary_free(&sum);
    sisa_files_close(&files);
    return err;
}

/* What a writer is doing now, from its activity files (store.h), or "" when no writer holds
 * the store. A writer that died leaves its files without its lock: said so. */
static void describe_running(const sisa_store *st, char *out, size_t cap)
{
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0, used = 0;
    sisa_json *j = NULL;
    long pid = 0;
    out[0] = '\0';
    const int held = sisa_store_writer(st->root, &pid);
    if (sisa_path_resolve(path, sizeof path, st->root, SISA_ACTIVITY_FILE) < 0 ||
        !sisa_fs_exists(path) || sisa_fs_read_all(&text, &len, path, 1 << 16) < 0 ||
        sisa_json_parse(&j, text, len, path) < 0) {
        sisa_error_clear();
        if (held && pid)
            snprintf(out, cap, "a sisa command (pid %ld) holds the store", pid);
        else if (held)
            snprintf(out, cap, "a sisa command holds the store");
        goto done;
    }
    const char *cmd = "?", *host = "?", *started = "?";
    uint64_t jpid = 0, ranks = 1;
    sisa_json_str(j, "command", &cmd);
    sisa_json_str(j, "host", &host);
    sisa_json_str(j, "started", &started);
    sisa_json_u64(j, "pid", &jpid);
    sisa_json_u64(j, "ranks", &ranks);
    int n = snprintf(out, cap, "sisa %s (pid %llu on %s, %llu rank%s) since %s%s", cmd,
                     (unsigned long long)jpid, host, (unsigned long long)ranks,
                     ranks == 1 ? "" : "s", started,
                     held ? ""
                          : ", ended without cleaning up (it crashed or was killed; the next "
                            "writing command finishes its work)");
    used = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
    for (uint64_t r = 0; held && r < ranks && r < 4096 && used + 64 < cap; r++) {
        char name[64];
        uint64_t shard = 0, stage = 0, stages = 0;
        const char *since = "?";
        snprintf(name, sizeof name, "%s-%llu", SISA_ACTIVITY_FILE, (unsigned long long)r);
        sisa_json_free(j);
        j = NULL;
        sisa_free(text);
        text = NULL;
        if (sisa_path_resolve(path, sizeof path, st->root, name) < 0 ||
            sisa_fs_read_all(&text, &len, path, 1 << 16) < 0 ||
            sisa_json_parse(&j, text, len, path) < 0) {
            sisa_error_clear();
            continue;
        }
        sisa_json_str(j, "since", &since);
        if (sisa_json_u64(j, "shard", &shard) && sisa_json_u64(j, "stage", &stage) &&
            sisa_json_u64(j, "stages", &stages))
            n = snprintf(out + used, cap - used, "; rank %llu: shard %llu stage %llu/%llu since %s",
                         (unsigned long long)r, (unsigned long long)shard,
                         (unsigned long long)stage, (unsigned long long)stages, since);
        else
            n = snprintf(out + used, cap - used, "; rank %llu: starting since %s",
                         (unsigned long long)r, since);
        if (n > 0) used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
    }
done:
    sisa_json_free(j);
    sisa_free(text);
}

/* Who chose the core a store records (its manifest's openblas_core_origin). */
static const char *made_by(const char *token)
{
    if (!strcmp(token, "sisa")) return "chosen by sisa after its self-check";
    if (!strcmp(token, "OPENBLAS_CORETYPE")) return "set by OPENBLAS_CORETYPE";
    if (!strcmp(token, "openblas")) return "chosen by OpenBLAS";
    if (!strcmp(token, "openblas-after-failed-check"))
        return "chosen by OpenBLAS after sisa's candidate failed its self-check";
    return "who chose it is not recorded";
}

/* The store's OpenBLAS core, who chose it, and the core this process runs. */
static void print_core(FILE *out, const sisa_manifest *m)
{
    sisa_blas_info bi;
    char origin[256];
    sisa_blas_describe(&bi);
    sisa_blas_origin_text(origin, sizeof origin);
    if (!strcasecmp(bi.core, m->blas_core))
        fprintf(out, "  OpenBLAS core %s (%s; %s when the store was made)\n", m->blas_core, origin,
                made_by(m->blas_core_origin));
    else
        fprintf(out, "  OpenBLAS core %s (%s when the store was made); this process runs %s (%s)\n",
                m->blas_core, made_by(m->blas_core_origin), bi.core, origin);
}

/* What the report says, gathered on rank 0 before anything is printed. */
typedef struct {
    const sisa_config *cfg;
    sisa_store *st;
    const char *label;
    uint32_t S;
    shard_status *ss; /* (S) */
    uint32_t ready;
    uint64_t rows;
    sisa_ledger_info ledger;
    char foreign[2048];
    size_t n_foreign;
    char running[1024];
} status_view;

/* Rank 0: the ledger, foreign files, a running writer and every shard's state. Damage is
 * recorded (st->damage, a shard's problem), not refused: the status is printed whole, then the
 * exit status says what is wrong. */
static int status_gather(status_view *v)
{
    int err = SISA_OK;
    sisa_store *st = v->st;
    const uint32_t S = v->S;
    char(*expected)[65] = NULL;
    char ledger_path[SISA_PATH_MAX];
    size_t torn = 0;
    SISA_TRY(sisa_path_resolve(ledger_path, sizeof ledger_path, st->root, "ledger"));
    if (sisa_ledger_read(ledger_path, &v->ledger, &torn) < 0) {
        if (!st->damage[0]) snprintf(st->damage, sizeof st->damage, "%s", sisa_error_message());
        sisa_error_clear();
    }
    SISA_TRY(sisa_store_foreign(st, v->foreign, sizeof v->foreign, &v->n_foreign));
    describe_running(st, v->running, sizeof v->running);
    expected = sisa_malloc(S * sizeof *expected);
    SISA_CHECK(expected, SISA_ENOMEM, "out of memory");
    if (sisa_ledger_lineages(ledger_path, S, expected) < 0) {
        if (!st->damage[0]) snprintf(st->damage, sizeof st->damage, "%s", sisa_error_message());
        sisa_error_clear();
        for (uint32_t k = 0; k < S; k++) expected[k][0] = '\0';
    }
    for (uint32_t k = 0; k < S; k++) {
        SISA_TRY(shard_state(st, k, expected[k], &v->ss[k]));
        v->ready += v->ss[k].ready;
        v->rows += v->ss[k].rows;
    }
done:
    sisa_free(expected);
    return err;
}

/* A JSON string, or null for "". */
static void json_string_or_null(FILE *out, const char *s)
{
    if (s[0])
        sisa_json_string(out, s);
    else
        fprintf(out, "null");
}

static void print_json(FILE *out, const status_view *v)
{
    const sisa_store *st = v->st;
    const sisa_config *cfg = v->cfg;
    const sisa_manifest *m = &st->man;
    const shard_status *ss = v->ss;
    fprintf(out, "{\"store\": ");
    sisa_json_string(out, st->root);
    fprintf(out, ", \"store_id\": \"%s\", \"location\": ", st->store_id);
    sisa_json_string(out, st->physical);
    fprintf(out, ", \"made_at\": ");
    sisa_json_string(out, st->man.location[0] ? st->man.location : st->physical);
    fprintf(out, ", \"config\": ");
    sisa_json_string(out, v->label);
    fprintf(out,
            ", \"config_hash\": \"%s\", \"seed\": %llu, \"num_shards\": %u, \"slices\": %d, "
            "\"sharding\": \"%s\", \"dataset\": ",
            st->config_hash, (unsigned long long)cfg->seed, v->S, cfg->sisa.slices,
            sisa_sharding_name(cfg->sisa.sharding));
    sisa_json_string(out, m->dataset);
    if (cfg->sisa.sharding == SISA_SHARDING_TIERED) {
        /* tiers: each tier's first shard, shard count and whether it uses the last slice only */
        fprintf(out, ", \"tier_key\": \"%s\", \"tiers\": [",
                sisa_sharding_name(cfg->sisa.tier_key));
        for (int32_t t = 0, first = 0; t < cfg->sisa.n_tiers; t++) {
            fprintf(out,
                    "%s{\"tier\": %d, \"first_shard\": %d, \"shards\": %d, \"last_slice\": %s}",
                    t ? ", " : "", (int)t, (int)first, (int)cfg->sisa.tiers[t].shards,
                    cfg->sisa.tiers[t].last_slice ? "true" : "false");
            first += cfg->sisa.tiers[t].shards;
        }
        fprintf(out, "]");
    }
    fprintf(out,
            ", \"dataset_digest\": \"%s\", \"dataset_digest_version\": %d, \"rows\": %llu, "
            "\"deletions\": %llu, \"deleted_rows\": %llu, \"context\": ",
            m->dataset_digest, m->digest_version, (unsigned long long)v->rows,
            (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows);
    sisa_json_string(out, m->context);
    fprintf(out, ", \"openblas_core\": ");
    sisa_json_string(out, m->blas_core);
    fprintf(out, ", \"openblas_core_origin\": ");
    sisa_json_string(out, m->blas_core_origin);
    fprintf(out,
            ", \"context_matches\": %s, \"ledger_records\": %llu, \"ledger_head\": \"%s\", "
            "\"pending_request\": %llu, \"ready_shards\": %u, ",
            strcmp(m->context, st->context) == 0 ? "true" : "false",
            (unsigned long long)v->ledger.records, v->ledger.head,
            (unsigned long long)st->pending_request, v->ready);
    fprintf(out, "\"running\": ");
    json_string_or_null(out, v->running);
    fprintf(out, ", \"damage\": ");
    json_string_or_null(out, st->damage);
    fprintf(out, ", \"foreign_files\": %zu, \"foreign\": ", v->n_foreign);
    sisa_json_string(out, v->foreign);
    fprintf(out, ", \"shards\": [");
    for (uint32_t k = 0; k < v->S; k++) {
        fprintf(out, "%s{\"shard\": %u, \"rows\": %llu, \"stages_done\": %u, \"checkpoint\": ",
                k ? ", " : "", k, (unsigned long long)ss[k].rows, ss[k].stages_done);
        json_string_or_null(out, ss[k].ready ? ss[k].checkpoint : "");
        if (cfg->sisa.sharding == SISA_SHARDING_TIERED)
            fprintf(out, ", \"tier\": %u", sisa_partition_tier_of(cfg, k));
        fprintf(out, ", \"state\": ");
        sisa_json_string(out, ss[k].state);
        if (ss[k].problem[0]) {
            fprintf(out, ", \"problem\": ");
            sisa_json_string(out, ss[k].problem);
        }
        fprintf(out, "}");
    }
    fprintf(out, "]}\n");
}

static void print_text(FILE *out, const status_view *v)
{
    const sisa_store *st = v->st;
    const sisa_config *cfg = v->cfg;
    const sisa_manifest *m = &st->man;
    const shard_status *ss = v->ss;
    fprintf(out, "store %s (config %s, hash %.12s)\n", st->root, v->label, st->config_hash);
    fprintf(out, "  store ID %s, at %s%s%s\n", st->store_id[0] ? st->store_id : "(none yet)",
            st->physical, st->moved ? "; made at " : "", st->moved ? st->man.location : "");
    fprintf(out, "  seed %llu, %u shards x %d slices, sharding by %s, %llu rows\n",
            (unsigned long long)cfg->seed, v->S, cfg->sisa.slices,
            cfg->sisa.sharding == SISA_SHARDING_TIERED ? "risk tier"
                                                       : sisa_sharding_name(cfg->sisa.sharding),
            (unsigned long long)v->rows);
    for (int32_t t = 0, first = 0;
         cfg->sisa.sharding == SISA_SHARDING_TIERED && t < cfg->sisa.n_tiers; t++) {
        const int32_t n = cfg->sisa.tiers[t].shards;
        char range[32];
        if (n > 1)
            snprintf(range, sizeof range, "shards %d..%d", (int)first, (int)(first + n - 1));
        else
            snprintf(range, sizeof range, "shard %d", (int)first);
        fprintf(out, "  risk tier %d: %s by %s%s\n", (int)t, range,
                sisa_sharding_name(cfg->sisa.tier_key),
                cfg->sisa.tiers[t].last_slice ? ", last slice only" : "");
        first += n;
    }
    fprintf(out, "  dataset %s (digest v%d %.12s)\n", m->dataset, m->digest_version,
            m->dataset_digest);
    fprintf(out,
            "  deletions: %llu request(s), %llu row(s); ledger: %llu record(s), head %.16s...\n",
            (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows,
            (unsigned long long)v->ledger.records, v->ledger.head);
    if (v->running[0]) fprintf(out, "  running: %s\n", v->running);
    if (st->pending_request)
        fprintf(out, "  deletion request %llu is unfinished: its shards are fenced\n",
                (unsigned long long)st->pending_request);
    if (st->damage[0]) fprintf(out, "  DAMAGED: %s\n", st->damage);
    if (v->n_foreign)
        fprintf(out,
                "  %zu file(s) in the store that sisa did not write (never removed by sisa): "
                "%s\n",
                v->n_foreign, v->foreign);
    print_core(out, m);
    fprintf(out, "  determinism context: %s%s\n", m->context,
            strcmp(m->context, st->context) == 0 ? ""
                                                 : "\n  (this process runs under another "
                                                   "context: its results would differ)");
    fprintf(out, "  %u of %u shards ready\n\n  shard       rows  stages  checkpoint\n", v->ready,
            v->S);
    for (uint32_t k = 0; k < v->S; k++) {
        fprintf(out, "  %5u %10llu  %3u/%-3d %s\n", k, (unsigned long long)ss[k].rows,
                ss[k].stages_done, cfg->sisa.slices, ss[k].ready ? ss[k].checkpoint : ss[k].state);
        if (ss[k].problem[0]) fprintf(out, "        %s\n", ss[k].problem);
    }
}

/* The result, and the error a damaged file makes once the whole status is printed. */
static int status_verdict(const status_view *v, sisa_run_status_result *res)
{
    int err = SISA_OK;
    const sisa_store *st = v->st;
    res->shards = v->S;
    res->shards_ready = v->ready;
    res->slices = (uint32_t)v->cfg->sisa.slices;
    res->rows = v->rows;
    res->deletions = st->man.deletions;
    res->deleted_rows = st->man.deleted_rows;
    uint32_t damaged = 0, first = 0;
    for (uint32_t k = v->S; k-- > 0;)
        if (v->ss[k].problem[0]) damaged++, first = k;
    res->damaged = st->damage[0] || damaged;
    SISA_CHECK(!st->damage[0], SISA_ECORRUPT, "%s", st->damage);
    SISA_CHECK(damaged == 0, SISA_ECORRUPT, "%u shard%s with a damaged file; shard %u: %s", damaged,
               damaged > 1 ? "s" : "", first, v->ss[first].problem);
done:
    return err;
}

int sisa_run_status(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const char *label, int json, FILE *out_in, sisa_run_status_result *res)
{
    int err = SISA_OK;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    status_view v;
    FILE *out = out_in, *null_out = NULL;
    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    memset(res, 0, sizeof *res);
    memset(&v, 0, sizeof v);
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_INSPECT, &oo));
    if (sisa_dist_rank(d) != 0) goto done; /* rank 0 reads the store's metadata for the job */
    v.cfg = &cfg;
    v.st = &st;
    v.label = label ? label : cfg.source[0] ? cfg.source : "(in memory)";
    if (!out) out = null_out = fopen("/dev/null", "w");
    SISA_CHECK(out, SISA_EIO, "cannot open /dev/null");
    v.S = (uint32_t)cfg.sisa.shards;
    v.ss = sisa_calloc(v.S, sizeof *v.ss);
    SISA_CHECK(v.ss, SISA_ENOMEM, "out of memory");
    SISA_TRY(status_gather(&v));
    if (json)
        print_json(out, &v);
    else
        print_text(out, &v);
    fflush(out);
    SISA_TRY(status_verdict(&v, res));
done:
    sisa_free(v.ss);
    sisa_store_close(&st);
    if (null_out) fclose(null_out);
    return err;
}
