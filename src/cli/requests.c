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
#include "cli/common.h"

#include "base/log.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "shard/schedule.h"
#include "shard/train.h"
#include "shard/unlearn.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sisa_cli_share_request(sisa_request *r)
{
    int err = SISA_OK;
    sisa_dist *d = sisa_cli_dist();
    uint8_t *buf = NULL;
    uint64_t len = 0;
    size_t n = 0;
    if (sisa_dist_size(d) == 1) return SISA_OK;
    if (sisa_dist_rank(d) == 0) err = sisa_request_pack(r, &buf, &n);
    len = n;
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, &len, sizeof len, 0));
    if (sisa_dist_rank(d) != 0) {
        buf = malloc(len ? len : 1);
        err = buf ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, buf, len, 0));
    if (sisa_dist_rank(d) != 0) err = sisa_request_unpack(r, buf, len);
    SISA_TRY(sisa_dist_agree(d, err));
done:
    free(buf);
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

int sisa_cli_advance_request(sisa_store *st, sisa_request *r, sisa_shard_report *reps)
{
    int err = SISA_OK;
    sisa_dist *d = sisa_cli_dist();
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint32_t K = r->n_shards;
    uint32_t *owner = calloc(K ? K : 1, sizeof *owner);
    uint64_t *cost = calloc(K ? K : 1, sizeof *cost);
    sisa_shard_report *mine = calloc(K ? K : 1, sizeof *mine);
    sisa_shard_data **kept = calloc(K ? K : 1, sizeof *kept);
    char(*kept_sha)[65] = calloc(K ? K : 1, sizeof *kept_sha);
    err = owner && cost && mine && kept && kept_sha
              ? SISA_OK
              : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (err == SISA_OK) {
        for (uint32_t i = 0; i < K; i++) cost[i] = r->shards[i].cost ? r->shards[i].cost : 1;
        if (sisa_schedule_lpt(cost, K, (uint32_t)P, owner) != 0)
            err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
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
        for (uint32_t i = 0; i < K && err == SISA_OK; i++)
            if (owner[i] == (uint32_t)rank)
                err = sisa_unlearn_rewrite(st, r, &r->shards[i], &kept[i], kept_sha[i]);
        SISA_TRY(sisa_dist_agree(d, err));
        if (rank == 0) err = journal_state(st, r, SISA_REQ_REWRITTEN, NULL);
        SISA_TRY(sisa_dist_agree(d, err));
        r->state = SISA_REQ_REWRITTEN;
    }
    if (r->state < SISA_REQ_RETRAINED) {
        for (uint32_t i = 0; i < K && err == SISA_OK; i++)
            if (owner[i] == (uint32_t)rank) {
                /* The rows this rank just wrote, if it did (not after a crash). */
                err = sisa_shard_train_from(st, r->shards[i].shard, kept[i], kept_sha[i], &mine[i]);
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
        if (rank == 0) err = journal_state(st, r, SISA_REQ_RETRAINED, NULL);
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
    for (uint32_t i = 0; kept && i < K; i++) sisa_shard_data_free(kept[i]);
    free(kept);
    free(kept_sha);
    free(mine);
    free(cost);
    free(owner);
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

int sisa_cli_recover(sisa_store *st)
{
    int err = SISA_OK;
    sisa_dist *d = sisa_cli_dist();
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
    SISA_TRY(sisa_cli_share_request(&r));
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
    SISA_TRY(sisa_cli_advance_request(st, &r, NULL));
    if (rank == 0) sisa_info("deletion request %llu is finished", (unsigned long long)r.n);
done:
    sisa_request_free(&r);
    return err;
}
