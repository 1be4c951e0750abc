/*
 * cmd_train.c - `sisa train -c CFG`: partition the training set into shards and train every
 * shard stage by stage, resuming whatever an earlier run left unfinished.
 */
#include "cli/args.h"
#include "cli/common.h"
#include "cli/commands.h"

#include "base/log.h"
#include "base/progress.h"
#include "model/blas.h"
#include "model/model.h"
#include "shard/partition.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make sure every shard has its data file; partition the dataset when some are missing. */
static int ensure_partitioned(sisa_store *st)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    unsigned char *want = calloc(S, 1);
    char path[SISA_PATH_MAX], digest[65];
    uint32_t missing = 0;
    sisa_dataset_header hdr;
    SISA_CHECK(want, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < S; k++) {
        SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
        /* Without a manifest, files left by an interrupted first run are not trusted. */
        want[k] = !st->has_manifest || !sisa_fs_exists(path);
        missing += want[k];
    }
    if (!missing) goto done;
    if (st->has_manifest && st->man.deletions > 0)
        SISA_FAIL(SISA_ECORRUPT,
                  "%u shard data file(s) of store %s are missing, and the store has processed "
                  "%llu deletion request(s): partitioning %s again would bring deleted rows "
                  "back. Restore the files, or build a new store from a dataset without the "
                  "deleted rows",
                  missing, st->root, (unsigned long long)st->man.deletions, st->cfg.data.train);
    sisa_info("partitioning %s into %u shard(s) x %d slices", st->cfg.data.train, missing,
              st->cfg.sisa.slices);
    SISA_TRY(sisa_partition(st, want, digest, &hdr));
    if (st->has_manifest) {
        SISA_CHECK(strcmp(digest, st->man.dataset_digest) == 0, SISA_ECORRUPT,
                   "%s has changed since store %s was created (dataset digest %.12s, the store "
                   "has %.12s); use the original dataset or a new store",
                   st->cfg.data.train, st->root, digest, st->man.dataset_digest);
    } else {
        sisa_manifest *m = &st->man;
        memset(m, 0, sizeof *m);
        snprintf(m->config_hash, sizeof m->config_hash, "%s", st->config_hash);
        m->seed = st->cfg.seed;
        m->shards = S;
        m->slices = (uint32_t)st->cfg.sisa.slices;
        m->sharding = st->cfg.sisa.sharding;
        snprintf(m->dataset, sizeof m->dataset, "%s", st->cfg.data.train);
        snprintf(m->dataset_digest, sizeof m->dataset_digest, "%s", digest);
        m->rows = hdr.n;
        m->features = hdr.d;
        m->classes = hdr.num_classes;
        snprintf(m->context, sizeof m->context, "%s", st->context);
        SISA_TRY(sisa_store_write_manifest(st));
    }
done:
    free(want);
    return err;
}

int sisa_cmd_train(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
    };
    const sisa_command_spec spec = {
        .name = "train",
        .usage = "train -c CONFIG",
        .summary = "Partition the training set into shards and slices, and train every shard "
                   "stage by stage with a checkpoint after each stage.",
        .description =
            "Running it again on a store whose training was interrupted continues from each\n"
            "shard's last complete checkpoint and ends with the same bits as an uninterrupted\n"
            "run. On a store that is up to date it does nothing. The store is locked while it\n"
            "runs. See docs/design.md for what is trained when, and docs/formats.md for the\n"
            "store's files.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;

    double t0 = sisa_now();
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_CREATE));
    SISA_TRY(ensure_partitioned(&st));

    const uint32_t S = (uint32_t)cfg.sisa.shards;
    uint64_t samples = 0, rows = 0;
    uint32_t trained = 0, empty = 0;
    double t_train = sisa_now();
    for (uint32_t k = 0; k < S; k++) {
        sisa_shard_report rep;
        SISA_TRY(sisa_shard_train(&st, k, &rep));
        samples += rep.samples;
        rows += rep.rows;
        trained += rep.stages_trained > 0;
        empty += rep.empty;
        if (rep.stages_trained)
            sisa_info("shard %u: %llu rows, stages %u-%d trained%s, %.2f s", k,
                      (unsigned long long)rep.rows, rep.resumed_from + 1, cfg.sisa.slices,
                      rep.resumed_from ? " (resumed)" : "", rep.seconds);
    }
    double t_end = sisa_now();
    if (!trained) {
        printf("store %s is up to date: %u shards x %d slices, %llu rows%s\n", st.root, S,
               cfg.sisa.slices, (unsigned long long)rows, empty ? " (some shards are empty)" : "");
    } else {
        printf("trained %u of %u shards x %d slices on %llu rows in %.2f s (%.0f samples/s)\n",
               trained, S, cfg.sisa.slices, (unsigned long long)rows, t_end - t0,
               t_end > t_train ? (double)samples / (t_end - t_train) : 0.0);
        printf("  store %s, config hash %.12s\n", st.root, st.config_hash);
    }
done:
    sisa_store_close(&st);
    return err;
}
