/*
 * cmd_outliers.c - `sisa outliers -c CFG --method iforest|lof [...] -o IDS.txt
 * [--scores OUT.h5]`: flag outlying training rows of a store so that they can be deleted
 * exactly with `sisa unlearn --ids-file` (docs/outliers.md). Read-only on the store.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>
#include <string.h>

int sisa_cmd_outliers(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *scope = "all", *threshold = NULL, *seed = NULL;
    uint64_t trees = 0, subsample = 0, k = 0;
    int force = 0;
    sisa_outlier_opts o;
    memset(&o, 0, sizeof o);
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"method", 0, SISA_ARG_STRING, &o.method, "NAME",
         "iforest (Isolation Forest) or lof (Local Outlier Factor)", 1},
        {"output", 'o', SISA_ARG_STRING, &o.ids_out, "IDS.txt",
         "write the flagged sample IDs here (for sisa unlearn --ids-file; '-': standard output, "
         "the summary then goes to standard error)",
         1},
        {"scores", 0, SISA_ARG_STRING, &o.scores_out, "OUT.h5",
         "write every row's score here (HDF5: id, score, flagged, shard)", 0},
        {"contamination", 0, SISA_ARG_F64, &o.contamination, "FRACTION",
         "flag this share of the rows, the highest scores (0 < FRACTION < 0.5)", 0},
        {"threshold", 0, SISA_ARG_STRING, &threshold, "SCORE",
         "flag rows scoring above SCORE (default: iforest 0.5, lof 1.5)", 0},
        {"trees", 0, SISA_ARG_U64, &trees, "N", "iforest: trees (default 100)", 0},
        {"subsample", 0, SISA_ARG_U64, &subsample, "N", "iforest: rows per tree (default 256)", 0},
        {"seed", 0, SISA_ARG_STRING, &seed, "S", "iforest: seed (default: the config's)", 0},
        {"k", 'k', SISA_ARG_U64, &k, "N", "lof: neighbours (default 20)", 0},
        {"metric", 0, SISA_ARG_STRING, &o.metric, "NAME",
         "lof: euclidean (default) or cosine (1 - cosine similarity)", 0},
        {"scope", 0, SISA_ARG_STRING, &scope, "all|shard",
         "score rows among all rows (default) or among their shard's rows", 0},
        {"force", 'f', SISA_ARG_FLAG, &force, NULL, "replace existing output files", 0},
    };
    const sisa_command_spec spec = {
        .name = "outliers",
        .usage = "outliers -c CONFIG --method iforest|lof -o IDS.txt [--scores OUT.h5]\n"
                 "         [--contamination F | --threshold S] [--trees N] [--subsample N]\n"
                 "         [--seed S] [-k N] [--metric euclidean|cosine] [--scope all|shard]\n"
                 "         [--force]",
        .summary = "Flag outlying training rows of a store, to delete them exactly with sisa "
                   "unlearn --ids-file.",
        .description =
            "Scores the store's current training rows (rows deleted earlier are gone):\n"
            "  iforest  Isolation Forest: score 2^(-E[h]/c(subsample)), near 1 for rows that\n"
            "           random splits isolate early; trees drawn from the seed.\n"
            "  lof      Local Outlier Factor over the k nearest neighbours (Euclidean, or\n"
            "           --metric cosine): about 1 inside a cluster, well above 1 for an outlier.\n"
            "Rows scoring above the threshold are flagged; --contamination F sets the\n"
            "threshold so that a share F is flagged (scikit-learn's rule). The IDs file lists\n"
            "them, one per line, after '#' lines naming the method, the SHA-256 of its\n"
            "parameters, the store and the dataset digest: the provenance of the deletion\n"
            "that `sisa unlearn -c CONFIG --ids-file IDS.txt` then makes exact and ledgered.\n"
            "Nothing in the store changes. The same data, options and seed give the same\n"
            "files whatever the number of MPI ranks (mpirun -n P sisa outliers ...).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!strcmp(scope, "all") || !strcmp(scope, "shard"), SISA_EUSAGE,
               "sisa outliers: --scope '%s' is not all or shard", scope);
    o.per_shard = !strcmp(scope, "shard");
    if (threshold) {
        SISA_CHECK(sisa_text_f64(&o.threshold, threshold) == SISA_OK, SISA_EUSAGE,
                   "sisa outliers: --threshold '%s' is not a number", threshold);
        o.has_threshold = 1;
    }
    if (seed) {
        SISA_CHECK(sisa_text_u64(&o.seed, seed) == SISA_OK, SISA_EUSAGE,
                   "sisa outliers: --seed '%s' is not a non-negative integer", seed);
        o.has_seed = 1;
    }
    SISA_CHECK(trees <= 100000 && subsample <= 1u << 30 && k <= 10000, SISA_EUSAGE,
               "sisa outliers: at most 100000 trees, a subsample of 2^30 and 10000 neighbours");
    const int lof = o.method && !strcmp(o.method, "lof");
    SISA_CHECK(!(lof && (trees || subsample || seed)) && !(!lof && k), SISA_EUSAGE,
               "sisa outliers: --trees, --subsample and --seed are iforest's, -k is lof's");
    o.trees = (uint32_t)trees;
    o.subsample = (uint32_t)subsample;
    o.k = (uint32_t)k;
    o.force = force;
    o.print = sisa_job_rank(job) == 0 ? stdout : NULL;
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_outliers(NULL, h, &o));
done:
    sisa_close(h);
    return err;
}
