/*
 * common.h - what the store commands (train, unlearn, predict, eval, status) share.
 */
#ifndef SISA_CLI_COMMON_H
#define SISA_CLI_COMMON_H

#include "dist/dist.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/config.h"

/* The job this process is a rank of (set by main for the store commands; a one-rank job
 * otherwise). */
sisa_dist *sisa_cli_dist(void);
void sisa_cli_set_dist(sisa_dist *d);

/* Collective. Rank 0 loads the config, sets up the floating-point environment and opens the
 * store in `mode` (writers: it alone holds the store's lock for the job, waiting for another
 * writer as opts->wait says (sisa_store_open), and show opts->command and their progress to
 * sisa status: sisa_store_activity_begin; a moved store is refused unless opts->accept_move:
 * sisa_store_check_location); opts may be NULL for readers. The config and the store's
 * state are broadcast, and every rank checks that it computes the same config hash and runs
 * under the same determinism context as rank 0. Writers also get advice about a generic
 * OpenBLAS kernel and refuse a store trained under another context. `st` is always safe to
 * pass to sisa_store_close afterwards. */
typedef struct sisa_cli_open_opts {
    double wait;         /* writers: seconds to wait for another writer (0: none, < 0: no limit) */
    const char *command; /* writers: the command shown to sisa status */
    int accept_move;     /* writers: record a moved store's new location (--accept-move) */
} sisa_cli_open_opts;
int sisa_cli_open_store(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_cli_open_opts *opts);

/* Collective: give every rank rank 0's request. */
int sisa_cli_share_request(sisa_request *r);
/* Collective: carry a journaled request (known to every rank) through its remaining states to
 * certified. With `reps` (K = r->n_shards entries), rank 0 receives the retraining reports of
 * the affected shards, in shard order. */
int sisa_cli_advance_request(sisa_store *st, sisa_request *r, sisa_shard_report *reps);
/* Collective, run by sisa_cli_open_store: a writer finishes an interrupted deletion request
 * before anything else; a reader leaves its shards out (st->fenced) and says so. */
int sisa_cli_recover(sisa_store *st);

/* 1 on every rank but rank 0: results are printed and written by rank 0 only. */
int sisa_cli_not_root(void);

/* Peak resident memory of this process, in bytes. */
uint64_t sisa_cli_peak_rss(void);

#endif
