/*
 * cmd_train.c - `sisa train -c CFG`: partition the training set into shards and train every
 * shard stage by stage, resuming whatever an earlier run left unfinished (sisa_train; the
 * phases over the ranks are in src/run/train.c).
 *
 * Under mpirun/srun the shards are spread over the ranks by size (shard/schedule.h): each rank
 * partitions and trains only its own shards, so it keeps only their rows in memory. When it
 * creates the store, each rank also digests its share of the dataset's blocks (io/dsdigest.h)
 * while partitioning, and rank 0 combines the leaves in block order for the manifest: no rank
 * reads the whole dataset, and the digest is the same for any rank count. A shard trains to the
 * same bits on any rank, so the store does not depend on the rank count; the shards a rank has
 * just partitioned are trained from memory (sisa_shard_train_from), not read back.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_train(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    double wait = 0;
    int accept_move = 0, json = 0;
    sisa_handle *h = NULL;
    sisa_train_report r = {0};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"wait", 0, SISA_ARG_WAIT, &wait, "SECONDS",
         "if another sisa command is changing the store, wait for it (at most SECONDS) instead "
         "of exiting with status 75",
         0},
        {"accept-move", 0, SISA_ARG_FLAG, &accept_move, NULL,
         "the store was moved on purpose: record its new location (see docs/guarantees.md)", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the outcome as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "train",
        .usage = "train -c CONFIG [--json] [--wait[=SECONDS]] [--accept-move]",
        .summary = "Partition the training set into shards and slices, and train every shard "
                   "stage by stage with a checkpoint after each stage.",
        .description =
            "Running it again on a store whose training was interrupted continues from each\n"
            "shard's last complete checkpoint and ends with the same bits as an uninterrupted\n"
            "run. On a store that is up to date it does nothing. The store is locked while it\n"
            "runs. Under mpirun or srun, shards are spread over the ranks by size; the result\n"
            "does not depend on the number of ranks. See docs/design.md and docs/scaling.md.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;

    const double t0 = sisa_cli_now();
    const sisa_open_opts oo = {job, wait, accept_move};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_train(&r, h));
    if (sisa_job_rank(job) != 0) goto done;
    const double secs = sisa_cli_now() - t0;
    if (json) {
        printf("{\"store\": ");
        sisa_json_print_string(stdout, r.store);
        printf(", \"store_id\": \"%s\", \"config_hash\": \"%s\", \"shards\": %u, "
               "\"slices\": %u, \"rows\": %llu, \"shards_trained\": %llu, "
               "\"empty_shards\": %llu, \"samples\": %llu, \"ranks\": %d, \"seconds\": ",
               r.store_id, r.config_hash, r.shards, r.slices, (unsigned long long)r.rows,
               (unsigned long long)r.shards_trained, (unsigned long long)r.empty_shards,
               (unsigned long long)r.samples, r.ranks);
        sisa_json_print_number(stdout, secs);
        printf(", \"train_seconds\": ");
        sisa_json_print_number(stdout, r.train_seconds);
        printf(", \"peak_rss\": [");
        for (int k = 0; k < r.ranks && r.peak_rss; k++)
            printf("%s%.0f", k ? ", " : "", r.peak_rss[k]);
        printf("]}\n");
        goto done;
    }
    if (!r.shards_trained) {
        printf("store %s is up to date: %u shards x %u slices, %llu rows%s\n", r.store, r.shards,
               r.slices, (unsigned long long)r.rows,
               r.empty_shards ? " (some shards are empty)" : "");
    } else if (r.samples == 0) { /* knn: the model is the rows */
        printf("set up %llu of %u kNN shards x %u slices on %llu rows in %.2f s with %d rank%s "
               "(nothing to train)\n",
               (unsigned long long)r.shards_trained, r.shards, r.slices, (unsigned long long)r.rows,
               secs, r.ranks, r.ranks == 1 ? "" : "s");
        printf("  store %s (ID %.12s), config hash %.12s\n", r.store, r.store_id, r.config_hash);
    } else {
        printf("trained %llu of %u shards x %u slices on %llu rows in %.2f s (%.0f samples/s) "
               "with %d rank%s\n",
               (unsigned long long)r.shards_trained, r.shards, r.slices, (unsigned long long)r.rows,
               secs, r.train_seconds > 0 ? (double)r.samples / r.train_seconds : 0.0, r.ranks,
               r.ranks == 1 ? "" : "s");
        printf("  store %s (ID %.12s), config hash %.12s\n", r.store, r.store_id, r.config_hash);
    }
    printf("  peak memory per rank:");
    for (int k = 0; k < r.ranks && r.peak_rss; k++) printf(" %.0f MB", r.peak_rss[k] / 1e6);
    printf("\n");
done:
    sisa_train_report_free(&r);
    sisa_close(h);
    return err;
}
