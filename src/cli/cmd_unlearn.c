/*
 * cmd_unlearn.c - `sisa unlearn -c CFG --ids 17,42 | --ids-file F`: exact deletion.
 *
 * Rank 0 reads the request and checks every ID against the store before anything changes (one
 * unknown ID rejects the request with exit status 3). The affected shards are then spread over
 * all ranks by their retraining cost, so K affected shards on P ranks take about ceil(K / P)
 * shard retrains of wall time; each rank rewrites and retrains its shards, and rank 0 reports
 * in shard order.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"

#include "base/log.h"
#include "base/progress.h"
#include "io/store_io.h"
#include "shard/schedule.h"
#include "shard/store.h"
#include "shard/train.h"
#include "shard/unlearn.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sample visits of training every shard from scratch, as the store is now. */
static int full_training_visits(const sisa_store *st, uint64_t *out)
{
    int err = SISA_OK;
    sisa_shard_data *idx = NULL;
    char path[SISA_PATH_MAX];
    *out = 0;
    for (uint32_t k = 0; k < (uint32_t)st->cfg.sisa.shards; k++) {
        SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
        SISA_TRY(sisa_shard_data_read_index(&idx, path));
        *out += sisa_shard_visits(idx, (uint32_t)st->cfg.train.epochs,
                                  (uint32_t)st->cfg.sisa.slices, 1);
        sisa_shard_data_free(idx);
        idx = NULL;
    }
done:
    sisa_shard_data_free(idx);
    return err;
}

/* Rank 0: read the request and plan it. */
static int plan_on_root(const sisa_store *st, const char *ids_list, const char *ids_file,
                        sisa_unlearn_plan *plan)
{
    int err = SISA_OK;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (ids_list)
        SISA_TRY(sisa_unlearn_parse_list(&ids, &n, ids_list));
    else
        SISA_TRY(sisa_unlearn_parse_file(&ids, &n, ids_file));
    SISA_TRY(sisa_unlearn_plan_make(plan, st, ids, n));
done:
    free(ids);
    return err;
}

/* Give every rank rank 0's plan. Collective. */
static int share_plan(sisa_dist *d, sisa_unlearn_plan *plan)
{
    int err = SISA_OK;
    uint64_t counts[2] = {plan->n_ids, plan->n_shards};
    SISA_TRY(sisa_dist_bcast(d, counts, sizeof counts, 0));
    if (sisa_dist_rank(d) != 0) {
        plan->n_ids = (size_t)counts[0];
        plan->n_shards = (uint32_t)counts[1];
        plan->ids = malloc((plan->n_ids ? plan->n_ids : 1) * sizeof *plan->ids);
        plan->shards = malloc((plan->n_shards ? plan->n_shards : 1) * sizeof *plan->shards);
        err = plan->ids && plan->shards
                  ? SISA_OK
                  : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, plan->ids, plan->n_ids * sizeof *plan->ids, 0));
    SISA_TRY(sisa_dist_bcast(d, plan->shards, plan->n_shards * sizeof *plan->shards, 0));
done:
    return err;
}

int sisa_cmd_unlearn(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *ids_list = NULL, *ids_file = NULL;
    int dry_run = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_unlearn_plan plan = {0};
    uint32_t *owner = NULL;
    uint64_t *cost = NULL;
    sisa_shard_report *reps = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"ids", 0, SISA_ARG_STRING, &ids_list, "ID,ID,...", "sample IDs to delete", 0},
        {"ids-file", 0, SISA_ARG_STRING, &ids_file, "FILE",
         "file of sample IDs to delete, one per line ('#' comments)", 0},
        {"dry-run", 0, SISA_ARG_FLAG, &dry_run, NULL,
         "validate the request and print the plan; change nothing", 0},
    };
    const sisa_command_spec spec = {
        .name = "unlearn",
        .usage = "unlearn -c CONFIG (--ids ID,ID,... | --ids-file FILE) [--dry-run]",
        .summary = "Delete training samples exactly: afterwards the store is bit for bit what "
                   "training without them produces.",
        .description =
            "Every ID is checked first: one unknown ID rejects the whole request (exit 3) and\n"
            "the store is left byte for byte untouched. Then, for each affected shard, the\n"
            "checkpoints that saw a deleted row are removed, the shard's data file is\n"
            "rewritten without the rows, and the shard is retrained from its last clean\n"
            "checkpoint. Other shards are not touched. Under mpirun or srun the affected\n"
            "shards are retrained in parallel over the ranks.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!ids_list != !ids_file, SISA_EUSAGE,
               "sisa unlearn: give exactly one of --ids and --ids-file");

    sisa_dist *d = sisa_cli_dist();
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    double t0 = sisa_now();
    SISA_TRY(
        sisa_cli_open_store(&st, &cfg, cfg_path, dry_run ? SISA_STORE_READ : SISA_STORE_WRITE));
    if (rank == 0) err = plan_on_root(&st, ids_list, ids_file, &plan);
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(share_plan(d, &plan));

    if (rank == 0) {
        printf("request: %zu sample ID(s) in %u of %d shards\n", plan.n_ids, plan.n_shards,
               cfg.sisa.shards);
        for (uint32_t i = 0; i < plan.n_shards; i++)
            printf("  shard %u: %llu row(s), retrain stages %u-%d\n", plan.shards[i].shard,
                   (unsigned long long)plan.shards[i].rows, plan.shards[i].first_stage,
                   cfg.sisa.slices);
        if (dry_run) printf("dry run: nothing changed\n");
        fflush(stdout);
    }
    if (dry_run) goto done;

    /* Spread the affected shards over the ranks by retraining cost; apply and retrain. */
    const uint32_t K = plan.n_shards;
    owner = calloc(K ? K : 1, sizeof *owner);
    cost = calloc(K ? K : 1, sizeof *cost);
    reps = calloc(K ? K : 1, sizeof *reps);
    err = owner && cost && reps ? SISA_OK
                                : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (err == SISA_OK) {
        for (uint32_t i = 0; i < K; i++) cost[i] = plan.shards[i].cost;
        if (sisa_schedule_lpt(cost, K, (uint32_t)P, owner) != 0)
            err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    uint32_t mine = 0;
    for (uint32_t i = 0; i < K && err == SISA_OK; i++) {
        if (owner[i] != (uint32_t)rank) continue;
        mine++;
        err = sisa_unlearn_apply_shard(&st, &plan, &plan.shards[i]);
        if (err == SISA_OK) err = sisa_shard_train(&st, plan.shards[i].shard, &reps[i]);
    }
    if (!mine && K)
        sisa_info("no affected shard to retrain here (%u over %d ranks); waiting", K, P);
    SISA_TRY(sisa_dist_agree(d, err));

    /* Reports to rank 0 in shard order, whoever produced them. */
    for (uint32_t i = 0; i < K; i++) {
        if (owner[i] == 0) continue;
        if (rank == (int)owner[i])
            SISA_TRY(sisa_dist_send(d, &reps[i], sizeof reps[i], 0, (int)i));
        else if (rank == 0)
            SISA_TRY(sisa_dist_recv(d, &reps[i], sizeof reps[i], (int)owner[i], (int)i));
    }
    uint64_t retrain = 0, full = 0;
    if (rank == 0) {
        for (uint32_t i = 0; i < K; i++) {
            const sisa_shard_report *r = &reps[i];
            retrain += r->samples;
            if (r->empty)
                printf("  shard %u: no rows left; it leaves the ensemble\n", r->shard);
            else
                printf("  shard %u: retrained stages %u-%d from %s in %.2f s (%llu sample "
                       "visits)\n",
                       r->shard, r->resumed_from + 1, cfg.sisa.slices,
                       r->resumed_from ? "its last clean checkpoint" : "initialisation", r->seconds,
                       (unsigned long long)r->samples);
        }
        st.man.deletions++;
        st.man.deleted_rows += plan.n_ids;
        err = sisa_store_write_manifest(&st);
        if (err == SISA_OK) err = full_training_visits(&st, &full);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    if (rank == 0) {
        double secs = sisa_now() - t0;
        double frac = full ? (double)retrain / (double)full : 0.0;
        printf("unlearned %zu sample(s) in %.2f s with %d rank%s: retraining cost %llu sample "
               "visits, %.2f%% of training the whole store from scratch",
               plan.n_ids, secs, P, P == 1 ? "" : "s", (unsigned long long)retrain, 100.0 * frac);
        if (retrain)
            printf(" (%.1fx less work)\n", 1.0 / frac);
        else
            printf("\n");
    }
done:
    free(reps);
    free(cost);
    free(owner);
    sisa_unlearn_plan_free(&plan);
    sisa_store_close(&st);
    return err;
}
