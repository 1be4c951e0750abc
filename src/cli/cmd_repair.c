/*
 * cmd_repair.c - `sisa repair -c CFG [--dry-run] [--wait[=SECONDS]] [--json]`: rebuild what a
 * damaged store can rebuild, and say exactly what was found and done (shard/repair.h).
 *
 * The plan comes first: every problem found, and for each what repair does or, when it cannot,
 * what to restore. When one problem cannot be repaired nothing at all is changed (exit 1). With
 * --dry-run the plan is printed and nothing is changed. Otherwise the repair runs, and the store
 * is examined again and opened as every command opens it: exit 0 only when it is whole.
 *
 * Repair is a writer (it takes the store's lock; busy: exit 75, --wait) and runs as one
 * process: under mpirun only rank 0 would be needed, so it is not an MPI command.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_repair(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    int dry_run = 0, json = 0;
    double wait = 0;
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the store's config file", 1},
        {"dry-run", 0, SISA_ARG_FLAG, &dry_run, NULL,
         "print what is damaged and what repair would do; change nothing (takes no lock)", 0},
        {"wait", 0, SISA_ARG_WAIT, &wait, "SECONDS",
         "if another sisa command is changing the store, wait for it (at most SECONDS) instead "
         "of exiting with status 75",
         0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the problems and actions as JSON", 0},
    };
    const sisa_command_spec spec = {
        .name = "repair",
        .usage = "repair -c CONFIG [--dry-run] [--wait[=SECONDS]] [--json]",
        .summary = "Rebuild what a damaged store can rebuild, and say exactly what was found and "
                   "done.",
        .description =
            "Rebuilt: shard data files, from the dataset (data.train, checked against the\n"
            "manifest's digest) without every row the ledger or the journal names as deleted;\n"
            "checkpoints, by retraining (bit for bit what was there); a lost shard journal or\n"
            "folder (sisa's unverifiable files there are removed, no other file ever is); a lost\n"
            "STORE/journal, from the store's files and the ledger; a missing, cut or edited\n"
            "ledger tail, from the journal (each record checked against the head the journal\n"
            "certified); config.yaml, from the config.\n"
            "Not rebuilt: the salt, the manifest, a dataset that is gone or changed, the journal\n"
            "and the ledger both. Then nothing at all is changed, and each problem names what to\n"
            "restore (exit 1). An unfinished deletion request is left to the next writing\n"
            "command (sisa unlearn or sisa train), which finishes it.\n"
            "Exit 0 when the store is whole afterwards (or was), 1 when something cannot be\n"
            "repaired, 2 for usage or config errors, 75 when the store is busy. Check the result\n"
            "with 'sisa verify' and 'sisa audit'. Repair runs as one process (not under mpirun)\n"
            "and retrains the shards it rebuilds one after another. See docs/guarantees.md.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    (void)job;
    const sisa_open_opts oo = {NULL, wait, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    const sisa_repair_opts ro = {dry_run, json, stdout};
    size_t problems = 0;
    SISA_TRY(sisa_repair(&problems, h, &ro));
done:
    sisa_close(h);
    return err;
}
