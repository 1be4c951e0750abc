/*
 * common.c - see common.h.
 */
#include "cli/common.h"

#include "base/log.h"
#include "model/blas.h"
#include "model/model.h"
#include "sisa/error.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static sisa_dist *job;

void sisa_cli_set_dist(sisa_dist *d)
{
    job = d;
}

sisa_dist *sisa_cli_dist(void)
{
    if (!job) sisa_dist_init(&job, NULL, NULL); /* never launched: a one-rank job */
    return job;
}

int sisa_cli_not_root(void)
{
    return sisa_dist_rank(sisa_cli_dist()) != 0;
}

uint64_t sisa_cli_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports kilobytes */
}

static int open_on_root(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_cli_open_opts *opts)
{
    int err = SISA_OK;
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

int sisa_cli_open_store(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_cli_open_opts *opts_in)
{
    int err = SISA_OK;
    const sisa_cli_open_opts none = {0, NULL, 0};
    const sisa_cli_open_opts *opts = opts_in ? opts_in : &none;
    sisa_dist *d = sisa_cli_dist();
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
            err = sisa_error_set(SISA_ECONFIG, __FILE__, __LINE__,
                                 "computes config hash %.12s for %s where rank 0 computes %.12s: "
                                 "every rank must run the same sisa build",
                                 hash, cfg_path, st->config_hash);
        else if (strcmp(context, st->context) != 0)
            err = sisa_error_set(SISA_EUSAGE, __FILE__, __LINE__,
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
    SISA_TRY(sisa_cli_recover(st));
done:
    return err;
}
