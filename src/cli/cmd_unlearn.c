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

#include "base/fs.h"
#include "base/log.h"
#include "base/progress.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "shard/unlearn.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        *out += sisa_shard_summary_visits(&sum, (uint32_t)st->cfg.train.epochs,
                                          (uint32_t)st->cfg.sisa.slices, 1);
        sisa_shard_summary_free(&sum);
        sisa_files_close(&f);
    }
done:
    sisa_shard_summary_free(&sum);
    sisa_files_close(&f);
    return err;
}

/* Rank 0: read the request, check it, and journal it as accepted. */
static int accept_on_root(const sisa_store *st, const char *ids_list, const char *ids_file,
                          const char *groups_list, const char *groups_file, int dry_run,
                          sisa_request *r)
{
    int err = SISA_OK;
    uint64_t *ids = NULL, *groups = NULL;
    size_t n_ids = 0, n_groups = 0;
    sisa_files f = {0};
    sisa_request last = {0};
    int found = 0;
    if (ids_list) SISA_TRY(sisa_unlearn_parse_list(&ids, &n_ids, ids_list, "sample ID"));
    if (ids_file) SISA_TRY(sisa_unlearn_parse_file(&ids, &n_ids, ids_file, "sample ID"));
    if (groups_list) SISA_TRY(sisa_unlearn_parse_list(&groups, &n_groups, groups_list, "group"));
    if (groups_file) SISA_TRY(sisa_unlearn_parse_file(&groups, &n_groups, groups_file, "group"));
    SISA_TRY(sisa_unlearn_plan(r, st, ids, n_ids, groups, n_groups));
    if (dry_run || r->rows == 0) goto done; /* rows == 0: all deleted before; nothing to do */
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
    free(groups);
    free(ids);
    return err;
}

int sisa_cmd_unlearn(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *ids_list = NULL, *ids_file = NULL;
    int dry_run = 0;
    double wait = 0;
    int accept_move = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    const char *groups_list = NULL, *groups_file = NULL;
    sisa_request req = {0};
    sisa_shard_report *reps = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"ids", 0, SISA_ARG_STRING, &ids_list, "ID,ID,...", "sample IDs to delete", 0},
        {"ids-file", 0, SISA_ARG_STRING, &ids_file, "FILE",
         "file of sample IDs to delete, one per line ('#' comments)", 0},
        {"groups", 0, SISA_ARG_STRING, &groups_list, "G,G,...",
         "data subjects (group keys) whose every row is deleted", 0},
        {"groups-file", 0, SISA_ARG_STRING, &groups_file, "FILE",
         "file of group keys, one per line ('#' comments)", 0},
        {"dry-run", 0, SISA_ARG_FLAG, &dry_run, NULL,
         "validate the request and print the plan; change nothing", 0},
        {"wait", 0, SISA_ARG_WAIT, &wait, "SECONDS",
         "if another sisa command is changing the store, wait for it (at most SECONDS) instead "
         "of exiting with status 75",
         0},
        {"accept-move", 0, SISA_ARG_FLAG, &accept_move, NULL,
         "the store was moved on purpose: record its new location (see docs/guarantees.md)", 0},
    };
    const sisa_command_spec spec = {
        .name = "unlearn",
        .usage =
            "unlearn -c CONFIG (--ids ID,... | --ids-file F | --groups G,... | --groups-file F) "
            "[--dry-run] [--wait[=SECONDS]] [--accept-move]",
        .summary = "Delete training samples exactly: afterwards the store is bit for bit what "
                   "training without them produces.",
        .description =
            "Every ID is checked first: one unknown ID rejects the whole request (exit 3) and\n"
            "the store is left byte for byte untouched. IDs and subjects that earlier requests\n"
            "deleted are recognised (the ledger holds their salted hashes) and skipped: a\n"
            "request made again, e.g. by a requeued job, ends with status 0. Then, for each "
            "affected shard, the\n"
            "checkpoints that saw a deleted row are removed, the shard's data file is\n"
            "rewritten without the rows, and the shard is retrained from its last clean\n"
            "checkpoint. Other shards are not touched. Under mpirun or srun the affected\n"
            "shards are retrained in parallel over the ranks.\n"
            "Each step is journaled first: if the command is interrupted, the next sisa command\n"
            "on the store finishes the request. A finished request is certified in the\n"
            "hash-chained ledger (STORE/ledger), which names rows only by salted hashes.\n"
            "--groups deletes every row of the given data subjects (the dataset's group\n"
            "column); with sisa.sharding: group, one subject lives in one shard.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!!ids_list + !!ids_file + !!groups_list + !!groups_file >= 1, SISA_EUSAGE,
               "sisa unlearn: name the rows with --ids, --ids-file, --groups or --groups-file");
    SISA_CHECK(!(ids_list && ids_file) && !(groups_list && groups_file), SISA_EUSAGE,
               "sisa unlearn: give a list or a file, not both");

    sisa_dist *d = sisa_cli_dist();
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    double t0 = sisa_now();
    const sisa_cli_open_opts oo = {wait, "unlearn", accept_move};
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, dry_run ? SISA_STORE_READ : SISA_STORE_WRITE,
                                 &oo));
    if (rank == 0)
        err = accept_on_root(&st, ids_list, ids_file, groups_list, groups_file, dry_run, &req);
    SISA_TRY(sisa_dist_agree(d, err));
    /* Every rank learns whether there is anything to do. */
    uint64_t nothing = rank == 0 && req.rows == 0;
    SISA_TRY(sisa_dist_bcast(d, &nothing, sizeof nothing, 0));
    if (rank == 0 && (req.already_ids || req.already_groups)) {
        printf("already deleted by earlier requests (see %s/ledger):", st.root);
        if (req.already_ids) printf(" %llu sample ID(s)", (unsigned long long)req.already_ids);
        if (req.already_ids && req.already_groups) printf(" and");
        if (req.already_groups)
            printf(" %llu data subject(s)", (unsigned long long)req.already_groups);
        printf("\n");
    }
    if (nothing) {
        if (rank == 0) {
            printf("nothing to delete: every requested row is already deleted; the store is "
                   "unchanged\n");
            fflush(stdout);
        }
        goto done;
    }
    if (rank == 0) {
        printf("request%s: %llu row(s)", dry_run ? "" : " accepted", (unsigned long long)req.rows);
        if (req.n_groups) printf(" of %llu data subject(s)", (unsigned long long)req.n_groups);
        printf(" in %u of %d shards", req.n_shards, cfg.sisa.shards);
        if (!dry_run) printf(" (request %llu)", (unsigned long long)req.n);
        printf("\n");
        for (uint32_t i = 0; i < req.n_shards; i++)
            printf("  shard %u: %llu row(s), retrain stages %u-%d\n", req.shards[i].shard,
                   (unsigned long long)req.shards[i].rows, req.shards[i].first_stage,
                   cfg.sisa.slices);
        if (dry_run) printf("dry run: nothing changed\n");
        fflush(stdout);
    }
    if (dry_run) goto done;
    SISA_TRY(sisa_cli_share_request(&req));
    reps = calloc(req.n_shards ? req.n_shards : 1, sizeof *reps);
    SISA_TRY(sisa_dist_agree(
        d, reps ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory")));
    SISA_TRY(sisa_cli_advance_request(&st, &req, reps));

    uint64_t retrain = 0, full = 0;
    if (rank == 0) {
        for (uint32_t i = 0; i < req.n_shards; i++) {
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
        err = full_training_visits(&st, &full);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    if (rank == 0) {
        double secs = sisa_now() - t0;
        double frac = full ? (double)retrain / (double)full : 0.0;
        printf("unlearned %llu sample(s) in %.2f s with %d rank%s: retraining cost %llu sample "
               "visits, %.2f%% of training the whole store from scratch",
               (unsigned long long)req.rows, secs, P, P == 1 ? "" : "s",
               (unsigned long long)retrain, 100.0 * frac);
        if (retrain)
            printf(" (%.1fx less work)\n", 1.0 / frac);
        else
            printf("\n");
        printf("request %llu is certified in the ledger (%s/ledger)\n", (unsigned long long)req.n,
               st.root);
    }
done:
    free(reps);
    sisa_request_free(&req);
    sisa_store_close(&st);
    return err;
}
