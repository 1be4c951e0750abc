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
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/json.h"

#include "base/log.h"
#include "base/progress.h"
#include "model/blas.h"
#include "model/model.h"
#include "shard/repair.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json(const sisa_repair *rp, int whole)
{
    printf("{\"store\": ");
    sisa_json_string(stdout, rp->st.root);
    printf(", \"dry_run\": %s, \"problems\": [", rp->mode == SISA_REPAIR_DRY ? "true" : "false");
    for (size_t i = 0; i < rp->n_items; i++) {
        const sisa_repair_item *it = &rp->items[i];
        printf("%s{\"file\": ", i ? ", " : "");
        sisa_json_string(stdout, it->file);
        printf(", \"problem\": ");
        sisa_json_string(stdout, it->problem);
        printf(", \"repairable\": %s, \"done\": %s, \"action\": ",
               it->repairable ? "true" : "false", it->done ? "true" : "false");
        sisa_json_string(stdout, it->action);
        printf("}");
    }
    printf("], \"unrepairable\": %zu, \"note\": ", rp->unrepairable);
    if (rp->note[0])
        sisa_json_string(stdout, rp->note);
    else
        printf("null");
    printf(", \"whole\": %s}\n", whole ? "true" : "false");
}

/* One line per problem: what was found, then what is (or would be) done about it. */
static void print_items(const sisa_repair *rp)
{
    for (size_t i = 0; i < rp->n_items; i++) {
        const sisa_repair_item *it = &rp->items[i];
        const char *verb = it->done || !it->repairable ? "" : "would ";
        printf("  %s %s: %s%s\n", it->file, it->problem, verb, it->action);
    }
    if (rp->note[0]) printf("  note: %s\n", rp->note);
}

int sisa_cmd_repair(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    int dry_run = 0, json = 0;
    double wait = 0;
    sisa_config cfg;
    sisa_repair rp;
    memset(&rp, 0, sizeof rp);
    rp.st.lock_fd = -1;
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

    const double t0 = sisa_now();
    SISA_TRY(sisa_config_load(&cfg, cfg_path));
    sisa_model_fp_setup();
    if (!dry_run) {
        char advice[512];
        if (sisa_blas_core_advice(advice, sizeof advice)) sisa_warn("%s", advice);
    }
    SISA_TRY(sisa_repair_plan(&rp, &cfg, dry_run ? SISA_REPAIR_DRY : SISA_REPAIR_WRITE, wait));
    if (!rp.n_items) {
        if (json) {
            print_json(&rp, 1);
        } else {
            printf("store %s is whole: nothing to repair\n", rp.st.root);
            if (rp.note[0]) printf("  note: %s\n", rp.note);
        }
        goto done;
    }
    if (rp.unrepairable || dry_run) {
        if (json) {
            print_json(&rp, 0);
        } else {
            printf("store %s: %zu problem(s) found%s\n", rp.st.root, rp.n_items,
                   dry_run ? " (dry run)" : "");
            print_items(&rp);
            if (!rp.unrepairable)
                printf("dry run: every problem can be repaired; nothing was changed (run "
                       "'sisa repair -c %s' to repair)\n",
                       cfg_path);
        }
        fflush(stdout);
        SISA_CHECK(!rp.unrepairable, SISA_ECORRUPT,
                   "store %s cannot be repaired: %zu problem(s) need what they name restored "
                   "first (listed above), then run sisa repair again; nothing was changed",
                   rp.st.root, rp.unrepairable);
        goto done;
    }

    err = sisa_repair_run(&rp);
    if (err < 0) {
        /* Say what was done before the failure: each step is committed. */
        const int code = err;
        char *msg = strdup(sisa_error_message());
        if (!json) {
            printf("store %s: %zu problem(s) found; repair stopped\n", rp.st.root, rp.n_items);
            print_items(&rp);
        } else {
            print_json(&rp, 0);
        }
        fflush(stdout);
        sisa_error_set(code, __FILE__, __LINE__,
                       "%s (every step done before is committed; run sisa repair again to "
                       "continue)",
                       msg ? msg : "out of memory");
        free(msg);
        goto done;
    }
    char why[1024];
    const int whole = sisa_repair_check(&rp, why, sizeof why);
    SISA_TRY(whole);
    if (json) {
        print_json(&rp, whole);
    } else {
        printf("store %s: %zu problem(s) found\n", rp.st.root, rp.n_items);
        print_items(&rp);
        if (whole)
            printf("repaired %zu problem(s) in %.2f s: the store is whole ('sisa verify -c %s' "
                   "and 'sisa audit -c %s' check it)\n",
                   rp.n_items, sisa_now() - t0, cfg_path, cfg_path);
    }
    fflush(stdout);
    SISA_CHECK(whole, SISA_ECORRUPT, "after repair, store %s is still damaged: %s", rp.st.root,
               why);
done:
    sisa_repair_free(&rp);
    return err;
}
