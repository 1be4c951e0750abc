/*
 * cmd_impact.c - `sisa impact -c CFG (--ids ... | --groups ...) --queries Q.h5 [-o OUT.h5]
 * [--json]`: which predictions depend on the given rows and which would change if they were
 * deleted, before deleting them (docs/knn.md). Read-only on the store.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>
#include <string.h>

int sisa_cmd_impact(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    int json = 0;
    sisa_impact_opts o;
    memset(&o, 0, sizeof o);
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"ids", 0, SISA_ARG_STRING, &o.rows.ids_text, "ID,ID,...", "sample IDs to assess", 0},
        {"ids-file", 0, SISA_ARG_STRING, &o.rows.ids_file, "FILE",
         "file of sample IDs, one per line ('#' comments; '-': standard input)", 0},
        {"groups", 0, SISA_ARG_STRING, &o.rows.groups_text, "G,G,...",
         "data subjects (group keys) whose every row is assessed", 0},
        {"groups-file", 0, SISA_ARG_STRING, &o.rows.groups_file, "FILE",
         "file of group keys, one per line ('#' comments; '-': standard input)", 0},
        {"queries", 'q', SISA_ARG_STRING, &o.queries, "Q.h5",
         "the query rows: a sisa dataset file (sisa import; '-': standard input)", 1},
        {"output", 'o', SISA_ARG_STRING, &o.output, "OUT.h5",
         "write the per-row, per-query and per-shard results here (HDF5, docs/formats.md)", 0},
        {"force", 'f', SISA_ARG_FLAG, &o.force, NULL, "replace an existing output file", 0},
        {"scratch", 0, SISA_ARG_STRING, &o.scratch, "DIR",
         "logreg/mlp: retrain the affected shards in a folder made inside DIR (default: "
         "$TMPDIR or /tmp), removed afterwards",
         0},
        {"keep-scratch", 0, SISA_ARG_FLAG, &o.keep_scratch, NULL, "keep that folder", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the summary as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "impact",
        .usage = "impact -c CONFIG (--ids ID,... | --ids-file F | --groups G,... | --groups-file "
                 "F)\n"
                 "       --queries Q.h5 [-o OUT.h5] [--force] [--scratch DIR] [--json]",
        .summary = "Before a deletion: which predictions depend on the rows, and which would "
                   "change.",
        .description =
            "The rows are named and checked as for sisa unlearn (an unknown ID is exit 3),\n"
            "but nothing is deleted or journaled: the store is only read.\n"
            "  knn stores      a query depends on a row when the row is among the neighbours\n"
            "                  its prediction uses (strategy merge: the k nearest of all rows;\n"
            "                  vote/mean/weighted: the k nearest of the row's shard). The\n"
            "                  queries depending on a row are its reverse-kNN set. The\n"
            "                  neighbour lists after the deletion are computed exactly, so the\n"
            "                  predictions that would flip are exact, and each lies in the\n"
            "                  reverse-kNN set of some deleted row.\n"
            "  logreg/mlp      each affected shard is trained without the rows in a scratch\n"
            "                  folder (the bits sisa unlearn would give), and its posteriors\n"
            "                  before and after are compared; every query depends on it.\n"
            "Output: a summary (--json: one object); with -o, per query (labels and\n"
            "posteriors before and after, changed, dependencies), per deleted row (shard;\n"
            "knn: reverse-kNN set and flips) and per shard, as HDF5 (docs/formats.md).\n"
            "Under mpirun, shard k is computed by rank k mod P; the results do not depend on\n"
            "the number of ranks.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    const sisa_deletion *w = &o.rows;
    SISA_CHECK(!!w->ids_text + !!w->ids_file + !!w->groups_text + !!w->groups_file >= 1,
               SISA_EUSAGE,
               "sisa impact: name the rows with --ids, --ids-file, --groups or --groups-file");
    SISA_CHECK(!(w->ids_text && w->ids_file) && !(w->groups_text && w->groups_file), SISA_EUSAGE,
               "sisa impact: give a list or a file, not both");
    const int rank = sisa_job_rank(job);
    o.print = rank == 0 && !json ? stdout : NULL;
    const sisa_open_opts oo = {job, 0, 0};
    sisa_impact_report r;
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_impact(&r, h, &o));
    if (rank == 0 && json) {
        printf("{\"rows\": %llu, \"already_deleted\": %llu, \"shards\": %u, \"queries\": %llu, "
               "\"depending\": %llu, \"changed\": %llu, \"proba_changed\": %llu, "
               "\"changed_without_deleted_neighbour\": %llu, \"output\": ",
               (unsigned long long)r.rows, (unsigned long long)r.already, r.shards,
               (unsigned long long)r.queries, (unsigned long long)r.depending,
               (unsigned long long)r.changed, (unsigned long long)r.proba_changed,
               (unsigned long long)r.changed_independent);
        if (o.output)
            sisa_json_print_string(stdout, o.output);
        else
            printf("null");
        printf("}\n");
    }
done:
    sisa_close(h);
    return err;
}
