/*
 * repair.c - sisa repair (run/run.h): rebuild what a damaged store can rebuild, and say exactly
 * what was found and done (shard/repair.h).
 *
 * The plan comes first: every problem found, and for each what repair does or, when it cannot,
 * what to restore. When one problem cannot be repaired nothing at all is changed (exit 1). With
 * --dry-run the plan is printed and nothing is changed. Otherwise the repair runs, and the store
 * is examined again and opened as every command opens it: exit 0 only when it is whole.
 *
 * Repair is a writer (it takes the store's lock; busy: exit 75, --wait) and runs as one
 * process: under mpirun only rank 0 would be needed, so it is not an MPI command.
 */
#include "run/run.h"

#include "run/print.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "model/blas.h"
#include "model/model.h"
#include "shard/repair.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json(FILE *out, const sisa_repair *rp, int whole)
{
    fprintf(out, "{\"store\": ");
    sisa_json_string(out, rp->st.root);
    fprintf(out, ", \"dry_run\": %s, \"problems\": [",
            rp->mode == SISA_REPAIR_DRY ? "true" : "false");
    for (size_t i = 0; i < rp->n_items; i++) {
        const sisa_repair_item *it = &rp->items[i];
        fprintf(out, "%s{\"file\": ", i ? ", " : "");
        sisa_json_string(out, it->file);
        fprintf(out, ", \"problem\": ");
        sisa_json_string(out, it->problem);
        fprintf(out, ", \"repairable\": %s, \"done\": %s, \"action\": ",
                it->repairable ? "true" : "false", it->done ? "true" : "false");
        sisa_json_string(out, it->action);
        fprintf(out, "}");
    }
    fprintf(out, "], \"unrepairable\": %zu, \"note\": ", rp->unrepairable);
    if (rp->note[0])
        sisa_json_string(out, rp->note);
    else
        fprintf(out, "null");
    fprintf(out, ", \"whole\": %s}\n", whole ? "true" : "false");
}

/* One line per problem: what was found, then what is (or would be) done about it. */
static void print_items(FILE *out, const sisa_repair *rp)
{
    for (size_t i = 0; i < rp->n_items; i++) {
        const sisa_repair_item *it = &rp->items[i];
        const char *verb = it->done || !it->repairable ? "" : "would ";
        fprintf(out, "  %s %s: %s%s\n", it->file, it->problem, verb, it->action);
    }
    if (rp->note[0]) fprintf(out, "  note: %s\n", rp->note);
}

int sisa_run_repair(const char *cfg_path, const sisa_config *cfg_in, const char *label,
                    const sisa_run_repair_opts *o, size_t *problems)
{
    int err = SISA_OK;
    const int dry_run = o->dry_run, json = o->json;
    const double wait = o->wait;
    sisa_config cfg;
    sisa_repair rp;
    FILE *out = o->out, *null_out = NULL;
    memset(&rp, 0, sizeof rp);
    rp.st.lock_fd = -1;
    *problems = 0;
    if (!out) out = null_out = fopen("/dev/null", "w");
    SISA_CHECK(out, SISA_EIO, "cannot open /dev/null");
    const double t0 = sisa_now();
    if (cfg_in)
        memcpy(&cfg, cfg_in, sizeof cfg);
    else
        SISA_TRY(sisa_config_load(&cfg, cfg_path));
    if (!label) label = cfg.source[0] ? cfg.source : "CONFIG";
    sisa_model_fp_setup();
    if (!dry_run) {
        char advice[512];
        if (sisa_blas_core_advice(advice, sizeof advice)) sisa_warn("%s", advice);
    }
    SISA_TRY(sisa_repair_plan(&rp, &cfg, dry_run ? SISA_REPAIR_DRY : SISA_REPAIR_WRITE, wait));
    *problems = rp.n_items;
    if (!rp.n_items) {
        if (json) {
            print_json(out, &rp, 1);
        } else {
            fprintf(out, "store %s is whole: nothing to repair\n", rp.st.root);
            if (rp.note[0]) fprintf(out, "  note: %s\n", rp.note);
        }
        goto done;
    }
    if (rp.unrepairable || dry_run) {
        if (json) {
            print_json(out, &rp, 0);
        } else {
            fprintf(out, "store %s: %zu problem(s) found%s\n", rp.st.root, rp.n_items,
                    dry_run ? " (dry run)" : "");
            print_items(out, &rp);
            if (!rp.unrepairable)
                fprintf(out,
                        "dry run: every problem can be repaired; nothing was changed (run "
                        "'sisa repair -c %s' to repair)\n",
                        label);
        }
        fflush(out);
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
        char *msg = sisa_strdup(sisa_error_message());
        if (!json) {
            fprintf(out, "store %s: %zu problem(s) found; repair stopped\n", rp.st.root,
                    rp.n_items);
            print_items(out, &rp);
        } else {
            print_json(out, &rp, 0);
        }
        fflush(out);
        SISA_ERR(code,
                 "%s (every step done before is committed; run sisa repair again to "
                 "continue)",
                 msg ? msg : "out of memory");
        sisa_free(msg);
        goto done;
    }
    char why[1024];
    const int whole = sisa_repair_check(&rp, why, sizeof why);
    SISA_TRY(whole);
    if (json) {
        print_json(out, &rp, whole);
    } else {
        fprintf(out, "store %s: %zu problem(s) found\n", rp.st.root, rp.n_items);
        print_items(out, &rp);
        if (whole)
            fprintf(out,
                    "repaired %zu problem(s) in %.2f s: the store is whole ('sisa verify -c %s' "
                    "and 'sisa audit -c %s' check it)\n",
                    rp.n_items, sisa_now() - t0, label, label);
    }
    fflush(out);
    SISA_CHECK(whole, SISA_ECORRUPT, "after repair, store %s is still damaged: %s", rp.st.root,
               why);
done:
    sisa_repair_free(&rp);
    if (null_out) fclose(null_out);
    return err;
}
