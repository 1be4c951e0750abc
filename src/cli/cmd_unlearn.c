/*
 * cmd_unlearn.c - `sisa unlearn -c CFG --ids 17,42 | --ids-file F`: exact deletion.
 */
#include "cli/args.h"
#include "cli/common.h"
#include "cli/commands.h"

#include "base/log.h"
#include "base/progress.h"
#include "io/store_io.h"
#include "model/model.h"
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
        *out += sisa_shard_full_visits(idx, (uint32_t)st->cfg.train.epochs,
                                       (uint32_t)st->cfg.sisa.slices);
        sisa_shard_data_free(idx);
        idx = NULL;
    }
done:
    sisa_shard_data_free(idx);
    return err;
}

int sisa_cmd_unlearn(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *ids_list = NULL, *ids_file = NULL;
    int dry_run = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    uint64_t *ids = NULL;
    size_t n_ids = 0;
    sisa_unlearn_plan plan = {0};
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
            "checkpoint. Other shards are not touched.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!ids_list != !ids_file, SISA_EUSAGE,
               "sisa unlearn: give exactly one of --ids and --ids-file");

    double t0 = sisa_now();
    if (ids_list)
        SISA_TRY(sisa_unlearn_parse_list(&ids, &n_ids, ids_list));
    else
        SISA_TRY(sisa_unlearn_parse_file(&ids, &n_ids, ids_file));
    SISA_TRY(
        sisa_cli_open_store(&st, &cfg, cfg_path, dry_run ? SISA_STORE_READ : SISA_STORE_WRITE));
    SISA_TRY(sisa_unlearn_plan_make(&plan, &st, ids, n_ids));

    printf("request: %zu sample ID(s) in %u of %d shards\n", plan.n_ids, plan.n_shards,
           cfg.sisa.shards);
    for (uint32_t i = 0; i < plan.n_shards; i++)
        printf("  shard %u: %llu row(s), retrain stages %u-%d\n", plan.shards[i].shard,
               (unsigned long long)plan.shards[i].rows, plan.shards[i].first_stage,
               cfg.sisa.slices);
    if (dry_run) {
        printf("dry run: nothing changed\n");
        goto done;
    }

    uint64_t retrain = 0;
    for (uint32_t i = 0; i < plan.n_shards; i++) {
        sisa_shard_report rep;
        SISA_TRY(sisa_unlearn_apply_shard(&st, &plan, &plan.shards[i]));
        SISA_TRY(sisa_shard_train(&st, plan.shards[i].shard, &rep));
        retrain += rep.samples;
        if (rep.empty)
            printf("  shard %u: no rows left; it leaves the ensemble\n", rep.shard);
        else
            printf("  shard %u: retrained stages %u-%d from %s in %.2f s (%llu sample visits)\n",
                   rep.shard, rep.resumed_from + 1, cfg.sisa.slices,
                   rep.resumed_from ? "its last clean checkpoint" : "initialisation", rep.seconds,
                   (unsigned long long)rep.samples);
    }
    st.man.deletions++;
    st.man.deleted_rows += plan.n_ids;
    SISA_TRY(sisa_store_write_manifest(&st));

    uint64_t full = 0;
    SISA_TRY(full_training_visits(&st, &full));
    double secs = sisa_now() - t0;
    double frac = full ? (double)retrain / (double)full : 0.0;
    printf("unlearned %zu sample(s) in %.2f s: retraining cost %llu sample visits, %.2f%% of "
           "training the whole store from scratch",
           plan.n_ids, secs, (unsigned long long)retrain, 100.0 * frac);
    if (retrain)
        printf(" (%.1fx less work)\n", 1.0 / frac);
    else
        printf("\n");
done:
    sisa_unlearn_plan_free(&plan);
    free(ids);
    sisa_store_close(&st);
    return err;
}
