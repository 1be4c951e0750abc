/*
 * train.h - staged training of one shard, with a checkpoint after every stage.
 *
 * Stage r (1..R) trains on the shard's rows whose slice is < r, i.e. slices 0..r-1, for the
 * SISA paper's recalibrated budget of 2e/(R+1) epochs, so that the R stages together cost the
 * same as e epochs of unsliced training. Fractional epochs are counted in sample visits:
 *
 *   visits(r) = round(2 * e * n_r / (R + 1))     (n_r = rows in stage r, half rounds up)
 *   full epochs = visits(r) / n_r, then a partial epoch of visits(r) % n_r samples
 *
 * Epoch j of stage r visits the stage's rows in the order of a Fisher-Yates permutation of
 * their ID-sorted list, drawn from the Philox stream (seed, ORDER, shard, r, j); a partial epoch
 * takes the first visits(r) % n_r entries of its permutation. Batches are consecutive runs of
 * batch_size entries (the last one of an epoch may be smaller). So every training decision is a
 * function of (config, seed, the surviving rows) alone: see docs/design.md.
 */
#ifndef SISA_SHARD_TRAIN_H
#define SISA_SHARD_TRAIN_H

#include "io/store_io.h"
#include "shard/store.h"

#include <stdint.h>

/* Sample visits of a stage of `rows` rows (formula above). */
uint64_t sisa_stage_visits(uint64_t rows, uint32_t epochs, uint32_t slices);

/* Lineage of every stage: out[r - 1] = SHA-256 hex of "sisa-lineage-v1" followed by the IDs
 * (u64 LE, ascending) of the rows with slice < r. `idx` needs only id and slice. */
int sisa_shard_lineages(const sisa_shard_data *idx, uint32_t stages, char (*out)[65]);

/* Sample visits of training stages `first`..`stages` of a shard (first = 1: from scratch). */
uint64_t sisa_shard_visits(const sisa_shard_data *idx, uint32_t epochs, uint32_t stages,
                           uint32_t first);

typedef struct sisa_shard_report {
    uint32_t shard;
    uint64_t rows;
    uint32_t resumed_from;   /* stage of the checkpoint training resumed from (0: initialised) */
    uint32_t stages_trained; /* stages trained by this call */
    uint64_t samples;        /* sample visits done by this call */
    uint64_t full_samples;   /* sample visits of training the shard from scratch */
    uint32_t removed;        /* stale checkpoints removed (lineage no longer matches the data) */
    double seconds;
    double loss; /* mean loss over the last epoch trained (NaN if none) */
    int empty;   /* the shard has no rows left: it has no model */
} sisa_shard_report;

/* Bring shard k up to date: find its newest checkpoint whose lineage matches the shard's data,
 * remove checkpoints that do not match (they were trained on rows no longer present), and train
 * the remaining stages from there, writing a checkpoint after each. Interrupted work
 * (SISA_EINTR) loses at most the stage in progress; running it again gives the same bits as an
 * uninterrupted run. Call sisa_model_fp_setup() first. */
int sisa_shard_train(const sisa_store *st, uint32_t k, sisa_shard_report *rep);
/* The same, given shard k's rows in memory (`given`, borrowed) as this process has just written
 * and committed them, with the SHA-256 of that data file (`given_sha`): when the shard's journal
 * still commits that file, training uses `given` instead of reading and checking the file again
 * (the same bytes: the hash was computed from them while writing). NULLs: read the file. */
int sisa_shard_train_from(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                          const char *given_sha, sisa_shard_report *rep);

/* Stage 1 of shard k trained ahead of time by a helper thread, on rows this process holds in
 * memory (`rows`, borrowed: keep them until the prestage is used or cancelled), while this
 * thread goes on (writing the store's files). Its model is initialised and its buffers are
 * allocated here; the thread allocates nothing and runs under this thread's floating-point
 * environment, so the stage has the bits of training it in line. *out is NULL when there is
 * nothing to do ahead (or no thread could be started: training then runs in line). Hand it to
 * sisa_shard_train_pre, which uses it only if it trains that shard from scratch on the same
 * rows, or cancel it; either frees it. */
typedef struct sisa_shard_prestage sisa_shard_prestage;
int sisa_shard_prestage_start(const sisa_store *st, uint32_t k, const sisa_shard_data *rows,
                              sisa_shard_prestage **out);
/* The same for a shard that resumes from the checkpoint after stage `start` (0: from scratch),
 * read here: stage start + 1 is trained ahead (a deletion's retraining, while the shard's new
 * data file is written). Used only when shard k resumes from that very stage on these rows. */
int sisa_shard_prestage_start_at(const sisa_store *st, uint32_t k, const sisa_shard_data *rows,
                                 uint32_t start, sisa_shard_prestage **out);
/* The shard of a prestage (UINT32_MAX for NULL). */
uint32_t sisa_shard_prestage_shard(const sisa_shard_prestage *p);
/* Stop the thread, wait for it, free (NULL-safe). */
void sisa_shard_prestage_cancel(sisa_shard_prestage *p);
/* sisa_shard_train_from, taking over `pre` (NULL: none): the stage it trained ahead replaces
 * training that stage when shard k resumes from the stage before it (stage 1: from scratch) on
 * the rows it was started on; otherwise it is cancelled. */
int sisa_shard_train_pre(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                         const char *given_sha, sisa_shard_prestage *pre, sisa_shard_report *rep);

/* Shard k's journaled folder (shard/journal.h); writers also get it repaired first. */
struct sisa_files;
int sisa_shard_files(const sisa_store *st, uint32_t k, struct sisa_files *out, int writable);
/* Shard k's rows (with_x = 0: IDs and slices only), after checking the file's bytes. */
int sisa_shard_read_data(const sisa_store *st, const struct sisa_files *f, uint32_t k, int with_x,
                         sisa_shard_data **out);
/* Shard k's IDs and slices, with the data file checked against the shard's journal first (a
 * reader's shortcut for sisa_shard_files + sisa_shard_read_data). */
int sisa_shard_read_index(const sisa_store *st, uint32_t k, sisa_shard_data **out);
/* Commit a new data file for shard sd->shard (the _sha form also gives the file's SHA-256,
 * computed while writing it). Its put record keeps the shard's summary (below) in "meta":
 * {"rows": N, "slice_rows": [R counts], "lineages": [R hex]}. */
int sisa_shard_commit_data(const sisa_store *st, struct sisa_files *f, const sisa_shard_data *sd);
int sisa_shard_commit_data_sha(const sisa_store *st, struct sisa_files *f,
                               const sisa_shard_data *sd, char sha[65]);

/* What a shard's journal says of its data file, so that readers and the unaffected shards of a
 * deletion never read the file itself (O(affected) work): rows, rows per slice, and each
 * stage's lineage. */
typedef struct sisa_shard_summary {
    uint64_t rows;
    uint64_t *slice_rows; /* (R) */
    char (*lineage)[65];  /* (R): lineage[r - 1] of stage r */
} sisa_shard_summary;
/* Fill `out` from the journal's record of data.h5 (1), or report that the record predates
 * summaries (0: read the file instead), or fail on a malformed summary (negative). `out` must be
 * freed with sisa_shard_summary_free whatever the result. */
int sisa_shard_summary_read(const sisa_store *st, const struct sisa_files *f,
                            sisa_shard_summary *out);
/* The same, falling back to reading (and checking) the data file for old stores. */
int sisa_shard_summary_get(const sisa_store *st, const struct sisa_files *f, uint32_t k,
                           sisa_shard_summary *out);
void sisa_shard_summary_free(sisa_shard_summary *s);
/* Sample visits of training stages first..R of a shard from its summary. */
uint64_t sisa_shard_summary_visits(const sisa_shard_summary *s, uint32_t epochs, uint32_t stages,
                                   uint32_t first);

/* The path and metadata of shard k's final checkpoint after checking that its lineage matches
 * the shard's current rows, and the shard's row count. Returns 1 when the shard has a usable
 * final model, 0 when it has none (empty shard, or training not finished: *why says which),
 * negative on error. Reads the checkpoint and the shard's journal, not its data file. */
int sisa_shard_final_ckpt(const sisa_store *st, uint32_t k, char *path, size_t cap,
                          sisa_ckpt_meta *meta, uint64_t *rows, const char **why);
/* The shard's final lineage must be `expected` (sisa_ledger_lineages; "" or NULL: no
 * deletion touched it), unless a deletion of it is unfinished (st->unsettled). Otherwise
 * SISA_ECORRUPT: its rows are not those the ledger leaves (restored from an older copy?) and may
 * hold deleted rows. */
int sisa_shard_check_lineage(const sisa_store *st, uint32_t k, const char *lineage,
                             const char *expected);

#endif
