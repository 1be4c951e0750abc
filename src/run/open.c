/*
 * open.c - opening a store for a job (run/run.h).
 */
#include "run/run.h"

#include "base/log.h"
#include "model/blas.h"
#include "model/model.h"
#include "sisa/error.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

uint64_t sisa_run_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports kilobytes */
}

static int open_on_root(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_run_open_opts *opts)
{
    int err = SISA_OK;
    if (opts->config)
        memcpy(cfg, opts->config, sizeof *cfg);
    else
        SISA_TRY(sisa_config_load(cfg, cfg_path));
    sisa_model_fp_setup();
    const int writer = mode == SISA_STORE_WRITE || mode == SISA_STORE_CREATE;
    if (writer) {
        char advice[512];
        if (sisa_blas_core_advice(advice, sizeof advice)) sisa_warn("%s", advice);
    }
    SISA_TRY(sisa_store_open(st, cfg, mode, opts->wait));
    if (writer) SISA_TRY(sisa_store_check_context(st));
    SISA_TRY(sisa_store_check_location(st, opts->accept_move));
done:
    return err;
}

int sisa_run_open_store(sisa_dist *d, sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_run_open_opts *opts_in)
{
    int err = SISA_OK;
    const sisa_run_open_opts none = {0, NULL, 0, NULL};
    const sisa_run_open_opts *opts = opts_in ? opts_in : &none;
    const int rank = sisa_dist_rank(d);
    st->lock_fd = -1;
    if (rank == 0) err = open_on_root(st, cfg, cfg_path, mode, opts);
    SISA_TRY(sisa_dist_agree(d, err));
    if (sisa_dist_size(d) == 1) goto recover;

    /* Both structs are plain data: the other ranks receive rank 0's bytes. */
    SISA_TRY(sisa_dist_bcast(d, cfg, sizeof *cfg, 0));
    SISA_TRY(sisa_dist_bcast(d, st, sizeof *st, 0));
    if (rank != 0) {
        st->lock_fd = -1; /* rank 0 holds the lock for the whole job */
        sisa_model_fp_setup();
        char hash[65], context[SISA_CONTEXT_MAX];
        sisa_config_hash(cfg, hash);
        sisa_store_context(context, sizeof context);
        if (strcmp(hash, st->config_hash) != 0)
            err = SISA_ERR(SISA_ECONFIG,
                           "computes config hash %.12s for %s where rank 0 computes %.12s: "
                           "every rank must run the same sisa build",
                           hash, cfg->source[0] ? cfg->source : "the config", st->config_hash);
        else if (strcmp(context, st->context) != 0)
            err = SISA_ERR(SISA_EUSAGE,
                           "runs under another determinism context than rank 0, so shards "
                           "would train to different bits depending on their rank.\n  rank "
                           "0: %s\n  here:   %s\nRun every rank with the same sisa build and "
                           "OPENBLAS_CORETYPE",
                           st->context, context);
        snprintf(st->context, sizeof st->context, "%s", context);
    }
    SISA_TRY(sisa_dist_agree(d, err));
recover:
    st->activity_on = 0; /* rank 0's bytes say nothing of this rank's files */
    if (st->exclusive) {
        /* Writers show what they do (sisa status); rank 0 clears what a dead writer left
         * before the other ranks write theirs. */
        const char *command = opts->command ? opts->command : "?";
        if (rank == 0) err = sisa_store_activity_begin(st, command, 0, sisa_dist_size(d));
        SISA_TRY(sisa_dist_agree(d, err));
        if (rank != 0) err = sisa_store_activity_begin(st, command, rank, sisa_dist_size(d));
        SISA_TRY(sisa_dist_agree(d, err));
    }
    /* An interrupted deletion is finished before the command does anything else. */
    SISA_TRY(sisa_run_recover(d, st));
done:
    return err;
}
