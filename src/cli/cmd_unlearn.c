/*
 * cmd_unlearn.c - `sisa unlearn -c CFG --ids 17,42 | --ids-file F`: exact deletion.
 *
 * Rank 0 reads the request and checks every ID against the store before anything changes (one
 * unknown ID rejects the request with exit status 3). The affected shards are then spread over
 * all ranks by their retraining cost, so K affected shards on P ranks take about ceil(K / P)
 * shard retrains of wall time; each rank rewrites and retrains its shards, and rank 0 reports
 * in shard order.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <math.h>
#include <stdio.h>

/* "stage 3" or "stages 2-4" */
static void stage_range(char *out, size_t cap, uint32_t first, uint32_t last)
{
    if (first == last)
        snprintf(out, cap, "stage %u", first);
    else
        snprintf(out, cap, "stages %u-%u", first, last);
}

/* Rank 0, once the request is checked (and journaled): what will be deleted where. */
static void print_plan(void *ctx, const sisa_deletion_report *r)
{
    const int knn = ctx && *(const int *)ctx; /* a kNN store: nothing is retrained */
    if (r->already_ids || r->already_groups) {
        printf("already deleted by earlier requests (see %s/ledger):", r->store);
        if (r->already_ids) printf(" %llu sample ID(s)", (unsigned long long)r->already_ids);
        if (r->already_ids && r->already_groups) printf(" and");
        if (r->already_groups)
            printf(" %llu data subject(s)", (unsigned long long)r->already_groups);
        printf("\n");
    }
    if (r->nothing) {
        printf("nothing to delete: every requested row is already deleted; the store is "
               "unchanged\n");
        fflush(stdout);
        return;
    }
    printf("request%s: %llu row(s)", r->dry_run ? "" : " accepted", (unsigned long long)r->rows);
    if (r->subjects) printf(" of %llu data subject(s)", (unsigned long long)r->subjects);
    printf(" in %u of %u shards", r->n_shards, r->shards_total);
    if (!r->dry_run) printf(" (request %llu)", (unsigned long long)r->request);
    printf("\n");
    if (r->origin[0]) printf("  origin: %s (certified with the request)\n", r->origin);
    for (uint32_t i = 0; i < r->n_shards; i++) {
        char stages[32];
        stage_range(stages, sizeof stages, r->shards[i].first_stage, r->slices);
        printf(knn ? "  shard %u: %llu row(s), rewrite its rows and the checkpoints of %s\n"
                   : "  shard %u: %llu row(s), retrain %s\n",
               r->shards[i].shard, (unsigned long long)r->shards[i].rows, stages);
    }
    if (knn) {
        printf("cost: nothing to train (a kNN model is its rows)\n");
    } else {
        printf("cost: %llu sample visits of retraining", (unsigned long long)r->plan_samples);
        if (r->dry_run && r->full_samples)
            printf(", %.2f%% of training the whole store from scratch",
                   100.0 * (double)r->plan_samples / (double)r->full_samples);
        if (isfinite(r->estimated_seconds))
            printf("; about %.1f s on %d rank%s at %.0f samples/s per rank (measured on this "
                   "store)",
                   r->estimated_seconds, r->ranks, r->ranks == 1 ? "" : "s", r->samples_per_second);
        else
            printf("; no wall-time estimate (this store has no measured training speed)");
        printf("\n");
    }
    if (r->dry_run) printf("dry run: nothing changed\n");
    fflush(stdout);
}

/* The whole report as one JSON object (docs/json.md). */
static void print_json(const sisa_deletion_report *r, int knn, double seconds)
{
    printf("{\"request\": %llu, \"dry_run\": %s, \"nothing\": %s, \"rows\": %llu, "
           "\"subjects\": %llu, \"already_ids\": %llu, \"already_groups\": %llu, "
           "\"model\": \"%s\", \"store\": ",
           (unsigned long long)r->request, r->dry_run ? "true" : "false",
           r->nothing ? "true" : "false", (unsigned long long)r->rows,
           (unsigned long long)r->subjects, (unsigned long long)r->already_ids,
           (unsigned long long)r->already_groups, knn ? "knn" : "trained");
    sisa_json_print_string(stdout, r->store);
    printf(", \"origin\": ");
    if (r->origin[0])
        sisa_json_print_string(stdout, r->origin);
    else
        printf("null");
    printf(", \"shards\": [");
    for (uint32_t i = 0; i < r->n_shards; i++) {
        const sisa_deletion_shard *s = &r->shards[i];
        printf("%s{\"shard\": %u, \"rows\": %llu, \"first_stage\": %u, \"cost\": %llu",
               i ? ", " : "", s->shard, (unsigned long long)s->rows, s->first_stage,
               (unsigned long long)s->cost);
        if (!r->dry_run) {
            printf(", \"empty\": %s, \"resumed_from\": %u, \"samples\": %llu, \"seconds\": ",
                   s->empty ? "true" : "false", s->resumed_from, (unsigned long long)s->samples);
            sisa_json_print_number(stdout, s->seconds);
        }
        printf("}");
    }
    printf("], \"slices\": %u, \"plan_samples\": %llu, \"full_samples\": %llu, "
           "\"fraction\": ",
           r->slices, (unsigned long long)r->plan_samples, (unsigned long long)r->full_samples);
    sisa_json_print_number(
        stdout, r->full_samples ? (double)r->plan_samples / (double)r->full_samples : NAN);
    printf(", \"samples_per_second\": ");
    sisa_json_print_number(stdout, r->samples_per_second);
    printf(", \"estimated_seconds\": ");
    sisa_json_print_number(stdout, r->estimated_seconds);
    printf(", \"ranks\": %d", r->ranks);
    if (!r->dry_run && !r->nothing) {
        printf(", \"retrain_samples\": %llu, \"seconds\": ",
               (unsigned long long)r->retrain_samples);
        sisa_json_print_number(stdout, seconds);
    }
    printf("}\n");
}

int sisa_cmd_unlearn(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *ids_list = NULL, *ids_file = NULL;
    int dry_run = 0, json = 0;
    double wait = 0;
    int accept_move = 0;
    const char *groups_list = NULL, *groups_file = NULL;
    sisa_handle *h = NULL;
    sisa_deletion_report rep = {0};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"ids", 0, SISA_ARG_STRING, &ids_list, "ID,ID,...", "sample IDs to delete", 0},
        {"ids-file", 0, SISA_ARG_STRING, &ids_file, "FILE",
         "file of sample IDs to delete, one per line ('#' comments; '-': standard input)", 0},
        {"groups", 0, SISA_ARG_STRING, &groups_list, "G,G,...",
         "data subjects (group keys) whose every row is deleted", 0},
        {"groups-file", 0, SISA_ARG_STRING, &groups_file, "FILE",
         "file of group keys, one per line ('#' comments; '-': standard input)", 0},
        {"dry-run", 0, SISA_ARG_FLAG, &dry_run, NULL,
         "validate the request and print the plan and its cost; change nothing", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL,
         "print the plan and the outcome as one JSON object (docs/json.md)", 0},
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
            "[--dry-run] [--json] [--wait[=SECONDS]] [--accept-move]",
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

    const int rank = sisa_job_rank(job), P = sisa_job_size(job);
    const double t0 = sisa_cli_now();
    const sisa_open_opts oo = {job, wait, accept_move};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    const sisa_deletion what = {
        .ids_text = ids_list,
        .ids_file = ids_file,
        .groups_text = groups_list,
        .groups_file = groups_file,
        .dry_run = dry_run,
    };
    int knn = sisa_handle_config(h)->model.type == SISA_MODEL_KNN;
    SISA_TRY(sisa_unlearn(&rep, h, &what, json ? NULL : print_plan, &knn));
    if (rank == 0 && json) {
        print_json(&rep, knn, sisa_cli_now() - t0);
        goto done;
    }
    if (rank != 0 || rep.nothing || dry_run) goto done;
    /* knn: the model is the rows; nothing is trained */
    for (uint32_t i = 0; i < rep.n_shards; i++) {
        const sisa_deletion_shard *r = &rep.shards[i];
        char stages[32];
        stage_range(stages, sizeof stages, r->resumed_from + 1, rep.slices);
        if (r->empty)
            printf("  shard %u: no rows left; it leaves the ensemble\n", r->shard);
        else if (knn)
            printf("  shard %u: rows rewritten; checkpoints of %s rewritten in %.2f s (knn: "
                   "nothing to train)\n",
                   r->shard, stages, r->seconds);
        else
            printf("  shard %u: retrained %s from %s in %.2f s (%llu sample visits)\n", r->shard,
                   stages, r->resumed_from ? "its last clean checkpoint" : "initialisation",
                   r->seconds, (unsigned long long)r->samples);
    }
    const uint64_t retrain = rep.retrain_samples, full = rep.full_samples;
    double secs = sisa_cli_now() - t0;
    if (knn) {
        printf("unlearned %llu sample(s) in %.2f s with %d rank%s: a kNN model is its rows, so "
               "the deletion rewrote %u shard(s) and trained nothing\n",
               (unsigned long long)rep.rows, secs, P, P == 1 ? "" : "s", rep.n_shards);
        goto certified;
    }
    double frac = full ? (double)retrain / (double)full : 0.0;
    printf("unlearned %llu sample(s) in %.2f s with %d rank%s: retraining cost %llu sample "
           "visits, %.2f%% of training the whole store from scratch",
           (unsigned long long)rep.rows, secs, P, P == 1 ? "" : "s", (unsigned long long)retrain,
           100.0 * frac);
    if (retrain && frac < 0.995)
        printf(" (%.1fx less work)\n", 1.0 / frac);
    else if (retrain)
        printf(" (the deletion touched every shard from its first stage)\n");
    else
        printf("\n");
certified:
    printf("request %llu is certified in the ledger (%s/ledger)\n", (unsigned long long)rep.request,
           rep.store);
done:
    sisa_deletion_report_free(&rep);
    sisa_close(h);
    return err;
}
