/*
 * requests.c - carrying deletion requests through their states over the job's ranks
 * (shard/request.h), for `sisa unlearn` and for the recovery every store command runs first.
 *
 * Rank 0 owns the store journal and the ledger: it journals every state, fences shards and
 * certifies. The expensive steps, rewriting and retraining the affected shards, are spread over
 * all ranks by retraining cost; each shard's own journal is written only by the rank that works
 * on it. Every step is idempotent, so a request interrupted at any point is finished by running
 * the remaining steps again.
 */
#include "run/run.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "shard/schedule.h"
#include "shard/train.h"
#include "shard/unlearn.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sisa_run_share_request(sisa_dist *d, sisa_request *r)
{
    int err = SISA_OK;
    uint8_t *buf = NULL;
    uint64_t len = 0;
    size_t n = 0;
    if (sisa_dist_size(d) == 1) return SISA_OK;
    if (sisa_dist_rank(d) == 0) err = sisa_request_pack(r, &buf, &n);
    len = n;
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, &len, sizeof len, 0));
    if (sisa_dist_rank(d) != 0) {
        buf = sisa_malloc(len ? len : 1);
        err = buf ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, buf, len, 0));
    if (sisa_dist_rank(d) != 0) err = sisa_request_unpack(r, buf, len);
    SISA_TRY(sisa_dist_agree(d, err));
done:
    sisa_free(buf);
    return err;
}

/* Rank 0: journal a state. */
static int journal_state(const sisa_store *st, sisa_request *r, int state, const char *head)
{
    int err = SISA_OK;
    sisa_files f = {0};
    SISA_TRY(sisa_store_files(st, &f, 1));
    SISA_TRY(sisa_request_set_state(&f.j, r, state, head));
done:
    sisa_files_close(&f);
    return err;
}

/* Rank 0: the manifest counts every request journaled so far. */
static int publish(sisa_store *st, sisa_request *r)
{
    int err = SISA_OK;
    sisa_files f = {0};
    sisa_request latest = {0};
    int found = 0;
    uint64_t all_rows = 0;
    SISA_TRY(sisa_store_files(st, &f, 1));
    SISA_TRY(sisa_request_latest(&f.j, &latest, &found, &all_rows));
    st->man.deletions = r->n;
    st->man.deleted_rows = all_rows;
    sisa_files_close(&f);
    SISA_TRY(sisa_store_write_manifest(st));
    SISA_TRY(journal_state(st, r, SISA_REQ_PUBLISHED, NULL));
done:
    sisa_request_free(&latest);
    sisa_files_close(&f);
    return err;
}

/* Rank 0: the ledger record. */
static int certify(const sisa_store *st, sisa_request *r)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], head[65];
    SISA_TRY(sisa_unlearn_after(st, r));
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "ledger"));
    SISA_TRY(sisa_ledger_append(path, r, head));
    SISA_TRY(journal_state(st, r, SISA_REQ_CERTIFIED, head));
done:
    return err;
}

int sisa_run_advance_request(sisa_dist *d, sisa_store *st, sisa_request *r, sisa_shard_report *reps)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint32_t K = r->n_shards;
    const double t_start = sisa_now();
    uint32_t *owner = sisa_calloc(K ? K : 1, sizeof *owner);
    uint64_t *cost = sisa_calloc(K ? K : 1, sizeof *cost);
    sisa_shard_report *mine = sisa_calloc(K ? K : 1, sizeof *mine);
    sisa_shard_data **kept = sisa_calloc(K ? K : 1, sizeof *kept);
    char(*kept_sha)[65] = sisa_calloc(K ? K : 1, sizeof *kept_sha);
    sisa_shard_prestage *pre = NULL;
    err = owner && cost && mine && kept && kept_sha ? SISA_OK
                                                    : SISA_ERR(SISA_ENOMEM, "out of memory");
    if (err == SISA_OK) {
        for (uint32_t i = 0; i < K; i++) cost[i] = r->shards[i].cost ? r->shards[i].cost : 1;
        if (sisa_schedule_lpt(cost, K, (uint32_t)P, owner) != 0)
            err = SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));

    if (r->state < SISA_REQ_FENCED) {
        if (rank == 0) {
            err = sisa_unlearn_fence(st, r);
            if (err == SISA_OK) err = journal_state(st, r, SISA_REQ_FENCED, NULL);
        }
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_FENCED;
    }
    if (r->state < SISA_REQ_REWRITTEN) {
        /* The first shard of this rank starts retraining on a helper thread while its new data
         * file is written (shard/train.h). */
        int want_pre = sisa_run_train_ahead();
        for (uint32_t i = 0; i < K && err == SISA_OK; i++)
            if (owner[i] == (uint32_t)rank) {
                err = sisa_unlearn_rewrite(st, r, &r->shards[i], &kept[i], kept_sha[i],
                                           want_pre ? &pre : NULL);
                if (pre) want_pre = 0;
            }
        if (pre)
            sisa_debug("rank %d: shard %u: its first stage to retrain was trained while its data "
                       "file was written",
                       rank, sisa_shard_prestage_shard(pre));
        SISA_TRY(sisa_dist_agree(d, err));
        if (rank == 0) err = journal_state(st, r, SISA_REQ_REWRITTEN, NULL);
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_REWRITTEN;
    }
    if (r->state < SISA_REQ_RETRAINED) {
        for (uint32_t i = 0; i < K && err == SISA_OK; i++)
            if (owner[i] == (uint32_t)rank) {
                /* The rows this rank just wrote, if it did (not after a crash), and the stage
                 * trained ahead on them, if any. */
                sisa_shard_prestage *p = NULL;
                if (sisa_shard_prestage_shard(pre) == r->shards[i].shard) {
                    p = pre;
                    pre = NULL;
                }
                err =
                    sisa_shard_train_pre(st, r->shards[i].shard, kept[i], kept_sha[i], p, &mine[i]);
                sisa_shard_data_free(kept[i]);
                kept[i] = NULL;
            }
        SISA_TRY(sisa_dist_agree(d, err));
        /* Reports to rank 0 in shard order, whoever produced them. */
        for (uint32_t i = 0; i < K; i++) {
            if (owner[i] == 0) continue;
            if (rank == (int)owner[i])
                SISA_TRY(sisa_dist_send(d, &mine[i], sizeof mine[i], 0, (int)i));
            else if (rank == 0)
                SISA_TRY(sisa_dist_recv(d, &mine[i], sizeof mine[i], (int)owner[i], (int)i));
        }
        if (rank == 0 && reps) memcpy(reps, mine, K * sizeof *reps);
        if (rank == 0) {
            /* the work, for sisa log: this run's retraining and its wall time so far */
            uint64_t samples = 0;
            for (uint32_t i = 0; i < K; i++) samples += mine[i].samples;
            sisa_files f = {0};
            err = sisa_store_files(st, &f, 1);
            if (err == SISA_OK)
                err = sisa_request_set_retrained(&f.j, r, samples,
                                                 (uint64_t)((sisa_now() - t_start) * 1e6));
            sisa_files_close(&f);
        }
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_RETRAINED;
    }
    if (r->state < SISA_REQ_PUBLISHED) {
        if (rank == 0) err = publish(st, r);
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_PUBLISHED;
    }
    if (r->state < SISA_REQ_CERTIFIED) {
        if (rank == 0) err = certify(st, r);
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_CERTIFIED;
    }
done:
    sisa_shard_prestage_cancel(pre); /* before the rows it trains on are freed */
    for (uint32_t i = 0; kept && i < K; i++) sisa_shard_data_free(kept[i]);
    sisa_free(kept);
    sisa_free(kept_sha);
    sisa_free(mine);
    sisa_free(cost);
    sisa_free(owner);
    return err;
}

/* Serve without the shards of request r (every rank: st->fenced is read where models are
 * chosen). */
static void fence_shards(sisa_store *st, const sisa_request *r)
{
    st->pending_request = r->n;
    for (uint32_t i = 0; i < r->n_shards; i++)
        if (r->shards[i].shard < sizeof st->fenced) st->fenced[r->shards[i].shard] = 1;
}

int sisa_run_recover(sisa_dist *d, sisa_store *st)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    sisa_request r = {0};
    sisa_files f = {0};
    uint64_t flags[2] = {0, 0}; /* [0]: a request is unfinished; [1]: this job is a writer */
    int found = 0;
    if (rank == 0) {
        err = sisa_store_files(st, &f, 0);
        if (err == SISA_OK) err = sisa_request_latest(&f.j, &r, &found, NULL);
        sisa_files_close(&f);
        flags[0] = err == SISA_OK && found && r.state < SISA_REQ_CERTIFIED;
        flags[1] = (uint64_t)st->exclusive;
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, flags, sizeof flags, 0));
    if (!flags[0]) goto done;
    SISA_TRY(sisa_run_share_request(d, &r));
    for (uint32_t i = 0; i < r.n_shards; i++)
        if (r.shards[i].shard < sizeof st->unsettled) st->unsettled[r.shards[i].shard] = 1;
    if (!flags[1]) {
        /* Readers never write: they serve without the request's shards until a writer (the
         * one running now, or the next one) finishes it. */
        if (r.state < SISA_REQ_PUBLISHED) {
            fence_shards(st, &r);
            if (rank == 0) {
                long pid = 0;
                char who[96] = "the next writing command (sisa unlearn or sisa train) finishes it";
                if (sisa_store_writer(st->root, &pid))
                    snprintf(who, sizeof who, "a running sisa command is working on it");
                if (pid) snprintf(who, sizeof who, "sisa (pid %ld) is working on it", pid);
                sisa_warn("deletion request %llu is unfinished (%s): its %u shard(s) are left "
                          "out; %s",
                          (unsigned long long)r.n, sisa_req_state_name(r.state), r.n_shards, who);
            }
        }
        goto done;
    }
    if (rank == 0)
        sisa_warn("finishing deletion request %llu, interrupted after '%s'",
                  (unsigned long long)r.n, sisa_req_state_name(r.state));
    SISA_TRY(sisa_run_advance_request(d, st, &r, NULL));
    if (rank == 0) sisa_info("deletion request %llu is finished", (unsigned long long)r.n);
done:
    sisa_request_free(&r);
    return err;
}

/* Sample visits of training every shard from scratch, as the store is now: from the shards'
 * journals, which summarise their data files (no data file is read). */
static int full_training_visits(const sisa_store *st, uint64_t *out)
{
    int err = SISA_OK;
    sisa_shard_summary sum = {0};
    sisa_files f = {0};
    *out = 0;
    for (uint32_t k = 0; k < (uint32_t)st->cfg.sisa.shards; k++) {
        SISA_TRY(sisa_shard_files(st, k, &f, 0));
        SISA_TRY(sisa_shard_summary_get(st, &f, k, &sum));
        *out += sisa_shard_summary_visits(&sum, (uint32_t)sisa_config_epochs(&st->cfg),
                                          (uint32_t)st->cfg.sisa.slices, 1);
        sisa_shard_summary_free(&sum);
        sisa_files_close(&f);
    }
done:
    sisa_shard_summary_free(&sum);
    sisa_files_close(&f);
    return err;
}

/* Append n values to a growing list. */
static int append_values(uint64_t **list, size_t *n, const uint64_t *v, size_t k)
{
    if (!k) return SISA_OK;
    uint64_t *grown = sisa_realloc(*list, (*n + k) * sizeof *grown);
    if (!grown) return SISA_ERR(SISA_ENOMEM, "out of memory");
    memcpy(grown + *n, v, k * sizeof *v);
    *list = grown;
    *n += k;
    return SISA_OK;
}

/* The value of the header line "# KEY: value" among the '#' lines at the top of `text`, copied
 * into out (cap bytes); 0 when absent or too long. */
static int header_value(const char *text, const char *key, char *out, size_t cap)
{
    const size_t klen = strlen(key);
    for (const char *p = text; *p == '#';) {
        const char *nl = strchr(p, '\n');
        const size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > klen + 4 && !strncmp(p, "# ", 2) && !strncmp(p + 2, key, klen) &&
            !strncmp(p + 2 + klen, ": ", 2)) {
            const size_t vlen = len - klen - 4;
            if (vlen >= cap) return 0;
            memcpy(out, p + klen + 4, vlen);
            out[vlen] = 0;
            return 1;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

/* An IDs file written by `sisa outliers` names its origin in its header: the method and its
 * parameters (with their SHA-256), the store and the dataset digest. The request carries the
 * origin into the journal and the ledger. A header that does not hold together (an edited
 * parameter line), or that names another store or dataset, rejects the request. `o` gets the
 * origin (o->origin_tool "" for a plain list). */
static int read_origin(const sisa_store *st, const char *path, const char *text, sisa_request *o)
{
    int err = SISA_OK;
    if (strncmp(text, "# sisa outliers:", 16) != 0) return SISA_OK; /* a plain list */
    char store_id[64] = "", sha_text[65];
    uint8_t sha[SISA_SHA256_LEN];
    SISA_CHECK(header_value(text, "params", o->origin_params, sizeof o->origin_params) &&
                   header_value(text, "params_sha256", o->origin_params_sha256,
                                sizeof o->origin_params_sha256) &&
                   header_value(text, "dataset_digest", o->origin_dataset_digest,
                                sizeof o->origin_dataset_digest) &&
                   header_value(text, "store_id", store_id, sizeof store_id),
               SISA_EREJECT,
               "%s: a sisa outliers file without its params, params_sha256, dataset_digest and "
               "store_id lines; nothing was deleted",
               path);
    sisa_sha256(sha, o->origin_params, strlen(o->origin_params));
    sisa_hex(sha_text, sha, sizeof sha);
    SISA_CHECK(!strcmp(sha_text, o->origin_params_sha256), SISA_EREJECT,
               "%s: the params line does not hash to params_sha256 (was the header edited?); "
               "nothing was deleted",
               path);
    SISA_CHECK(!strcmp(store_id, st->man.store_id) &&
                   !strcmp(o->origin_dataset_digest, st->man.dataset_digest),
               SISA_EREJECT,
               "%s: flagged in store %s (dataset %.12s...), not in this one (store %s, dataset "
               "%.12s...); nothing was deleted",
               path, store_id, o->origin_dataset_digest, st->man.store_id, st->man.dataset_digest);
    snprintf(o->origin_tool, sizeof o->origin_tool, "sisa outliers");
done:
    return err;
}

int sisa_run_accept(const sisa_store *st, const sisa_run_deletion *w, sisa_request *r)
{
    int err = SISA_OK;
    uint64_t *ids = NULL, *groups = NULL;
    size_t n_ids = 0, n_groups = 0;
    sisa_files f = {0};
    sisa_request last = {0};
    sisa_request origin = {0}; /* its origin fields only */
    char *text = NULL;
    size_t text_len = 0;
    int found = 0;
    /* "-" is standard input (for one of the two files) */
    const char *ids_file = w->ids_file, *groups_file = w->groups_file;
    SISA_CHECK(!(ids_file && groups_file && !strcmp(ids_file, "-") && !strcmp(groups_file, "-")),
               SISA_EUSAGE, "the IDs and the groups cannot both come from standard input ('-')");
    if (ids_file && !strcmp(ids_file, "-")) ids_file = "/dev/stdin";
    if (groups_file && !strcmp(groups_file, "-")) groups_file = "/dev/stdin";
    if (w->ids_text) SISA_TRY(sisa_unlearn_parse_list(&ids, &n_ids, w->ids_text, "sample ID"));
    if (ids_file) { /* one read: the file may be a pipe */
        SISA_TRY(sisa_fs_read_all(&text, &text_len, ids_file, (size_t)1 << 30));
        SISA_TRY(read_origin(st, ids_file, text, &origin));
        SISA_TRY(sisa_unlearn_parse_text(&ids, &n_ids, text, text_len, ids_file, "sample ID"));
    }
    if (w->groups_text)
        SISA_TRY(sisa_unlearn_parse_list(&groups, &n_groups, w->groups_text, "group"));
    if (groups_file) SISA_TRY(sisa_unlearn_parse_file(&groups, &n_groups, groups_file, "group"));
    SISA_TRY(append_values(&ids, &n_ids, w->ids, w->n_ids));
    SISA_TRY(append_values(&groups, &n_groups, w->groups, w->n_groups));
    SISA_TRY(sisa_unlearn_plan(r, st, ids, n_ids, groups, n_groups));
    memcpy(r->origin_tool, origin.origin_tool, sizeof r->origin_tool);
    memcpy(r->origin_params, origin.origin_params, sizeof r->origin_params);
    memcpy(r->origin_params_sha256, origin.origin_params_sha256, sizeof r->origin_params_sha256);
    memcpy(r->origin_dataset_digest, origin.origin_dataset_digest, sizeof r->origin_dataset_digest);
    if (w->dry_run || r->rows == 0) goto done; /* rows == 0: all deleted before; nothing to do */
    /* A request is accepted only if it can be certified: the ledger must be whole. */
    char ledger[SISA_PATH_MAX];
    sisa_ledger_info li;
    SISA_TRY(sisa_path_resolve(ledger, sizeof ledger, st->root, "ledger"));
    err = sisa_ledger_check(ledger, &li);
    if (err < 0) {
        sisa_error_prefix("no deletion request is accepted while the ledger is damaged");
        goto done;
    }
    SISA_TRY(sisa_store_files(st, &f, 1));
    SISA_TRY(sisa_request_latest(&f.j, &last, &found, NULL));
    r->n = found ? last.n + 1 : 1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->time, sizeof r->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    SISA_TRY(sisa_request_accept(&f.j, r));
done:
    sisa_request_free(&last);
    sisa_files_close(&f);
    sisa_free(groups);
    sisa_free(ids);
    sisa_free(text);
    return err;
}

void sisa_run_unlearn_result_free(sisa_run_unlearn_result *r)
{
    if (!r) return;
    sisa_free(r->reps);
    sisa_request_free(&r->req);
    memset(r, 0, sizeof *r);
}

int sisa_run_unlearn(sisa_dist *d, sisa_store *st, const sisa_run_deletion *w,
                     sisa_run_unlearn_result *out,
                     void (*on_plan)(void *ctx, const sisa_run_unlearn_result *r), void *ctx)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    const double t0 = sisa_now();
    memset(out, 0, sizeof *out);
    if (rank == 0) err = sisa_run_accept(st, w, &out->req);
    SISA_TRY(sisa_dist_agree(d, err));
    /* Every rank learns whether there is anything to do. */
    uint64_t nothing = rank == 0 && out->req.rows == 0;
    SISA_TRY(sisa_dist_bcast(d, &nothing, sizeof nothing, 0));
    out->nothing = (int)nothing;
    /* a dry run's plan names the cost against training everything (a real run's, at its end) */
    if (rank == 0 && w->dry_run && !nothing) err = full_training_visits(st, &out->full_visits);
    SISA_TRY(sisa_dist_agree(d, err));
    if (rank == 0 && on_plan) on_plan(ctx, out);
    if (nothing || w->dry_run) goto done;
    SISA_TRY(sisa_run_share_request(d, &out->req));
    out->reps = sisa_calloc(out->req.n_shards ? out->req.n_shards : 1, sizeof *out->reps);
    SISA_TRY(sisa_dist_agree(d, out->reps ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory")));
    SISA_TRY(sisa_run_advance_request(d, st, &out->req, out->reps));
    if (rank == 0) {
        double seconds = 0;
        for (uint32_t i = 0; i < out->req.n_shards; i++) {
            out->retrain_visits += out->reps[i].samples;
            seconds += out->reps[i].seconds;
        }
        err = sisa_store_timing_add(st, (double)out->retrain_visits, seconds);
        if (err == SISA_OK) err = full_training_visits(st, &out->full_visits);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    out->seconds = sisa_now() - t0;
done:
    return err;
}
