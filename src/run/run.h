/*
 * run.h - the orchestration layer: who does what on which rank.
 *
 * Between the engine (shard/, aggregate/, src/dist) and the public API (src/api, sisa/sisa.h)
 * sits one layer that knows the job's ranks: it opens a store for a job (rank 0 loads and
 * locks, the others receive its bytes), carries deletion requests through their states over the
 * ranks, trains a store's shards over the ranks, streams the ensemble's prediction over the
 * ranks, and plans and runs verify. Every function takes the job (a sisa_dist) explicitly; there
 * is no global job. With a one-rank job every collective is a local no-op.
 *
 * Nothing here prints to stdout unless it is handed a stream, exits, or touches signals;
 * progress and warnings go through base/log.h (stderr).
 */
#ifndef SISA_RUN_RUN_H
#define SISA_RUN_RUN_H

#include "dist/dist.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/config.h"
#include "sisa/dataset.h"

#include <stdio.h>

/* ---- opening a store for a job ---------------------------------------------------------- */

typedef struct sisa_run_open_opts {
    double wait;         /* writers: seconds to wait for another writer (0: none, < 0: no limit) */
    const char *command; /* writers: the command shown to sisa status */
    int accept_move;     /* writers: record a moved store's new location (--accept-move) */
    const sisa_config *config; /* rank 0: use this config instead of loading cfg_path */
} sisa_run_open_opts;

/* Collective. Rank 0 loads the config (or copies opts->config), sets up the floating-point
 * environment and opens the store in `mode` (writers: it alone holds the store's lock for the
 * job, waiting for another writer as opts->wait says (sisa_store_open), and show opts->command
 * and their progress to sisa status: sisa_store_activity_begin; a moved store is refused unless
 * opts->accept_move: sisa_store_check_location); opts may be NULL for readers. The config and
 * the store's state are broadcast, and every rank checks that it computes the same config hash
 * and runs under the same determinism context as rank 0. Writers also get advice about a
 * generic OpenBLAS kernel and refuse a store trained under another context. An interrupted
 * deletion request is finished (writers) or fenced (readers) before it returns. `st` is always
 * safe to pass to sisa_store_close afterwards. */
int sisa_run_open_store(sisa_dist *d, sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode, const sisa_run_open_opts *opts);

/* ---- the deletion protocol (requests.c) ------------------------------------------------- */

/* Collective: give every rank rank 0's request. */
int sisa_run_share_request(sisa_dist *d, sisa_request *r);
/* Collective: carry a journaled request (known to every rank) through its remaining states to
 * certified: rank 0 fences and journals; the affected shards are rewritten and retrained by
 * the ranks that own them (LPT by retraining cost); rank 0 publishes and certifies. With `reps`
 * (K = r->n_shards entries), rank 0 receives the retraining reports of the affected shards, in
 * shard order. */
int sisa_run_advance_request(sisa_dist *d, sisa_store *st, sisa_request *r,
                             sisa_shard_report *reps);
/* Collective, run by sisa_run_open_store: a writer finishes an interrupted deletion request
 * before anything else; a reader leaves its shards out (st->fenced) and says so. */
int sisa_run_recover(sisa_dist *d, sisa_store *st);

/* What a deletion request names: lists, files (read on rank 0) or arrays, in any mix. */
typedef struct sisa_run_deletion {
    const char *ids_text, *ids_file, *groups_text, *groups_file;
    const uint64_t *ids;
    size_t n_ids;
    const uint64_t *groups;
    size_t n_groups;
    int dry_run; /* check and plan only; change nothing */
} sisa_run_deletion;

typedef struct sisa_run_unlearn_result {
    sisa_request req;        /* every rank: the plan (shards, rows, request number...) */
    int nothing;             /* every rank: every named row was deleted before */
    sisa_shard_report *reps; /* rank 0: (req.n_shards) retraining reports in shard order */
    uint64_t retrain_visits; /* rank 0: sample visits spent retraining */
    uint64_t full_visits;    /* rank 0: sample visits of training every shard from scratch */
    double seconds;          /* rank 0: wall time from opening the store */
} sisa_run_unlearn_result;

/* Rank 0: read the request, check every row against the store and journal it as accepted
 * (not with w->dry_run, nor when there is nothing to delete). */
int sisa_run_accept(const sisa_store *st, const sisa_run_deletion *w, sisa_request *r);

/* Collective: the whole deletion on an open writer store (a reader for a dry run): accept on
 * rank 0, share, advance to certified; `on_plan` (may be NULL) runs on rank 0 once the request
 * is accepted and before any shard changes. Free `out` with sisa_run_unlearn_result_free. */
int sisa_run_unlearn(sisa_dist *d, sisa_store *st, const sisa_run_deletion *w,
                     sisa_run_unlearn_result *out,
                     void (*on_plan)(void *ctx, const sisa_run_unlearn_result *r), void *ctx);
void sisa_run_unlearn_result_free(sisa_run_unlearn_result *r);

/* ---- training (train.c) ----------------------------------------------------------------- */

/* Whether a stage may be trained ahead on a helper thread (shard/train.h, sisa_shard_prestage):
 * yes unless SISA_TRAIN_AHEAD=0, which keeps every stage in line (to compare; the bits are the
 * same either way). */
int sisa_run_train_ahead(void);

typedef struct sisa_run_train_result {
    uint64_t samples, rows, shards_trained, empty_shards;
    uint32_t shards, slices;
    double seconds, train_seconds; /* from the start; of the training phase */
    int ranks;
    double *peak_rss; /* rank 0: (ranks) bytes, every rank's peak resident memory */
    char root[SISA_CONFIG_PATH_MAX];
    char store_id[64];
    char config_hash[65];
} sisa_run_train_result;

/* Collective: check a new store's set-up (rank 0), open the store (CREATE) and train it:
 * partition the missing shard files over the ranks (a new store's dataset digest combined from
 * every rank's leaves), then train each rank's shards. A first training that fails leaves no
 * store behind. Free `out` with sisa_run_train_result_free. */
int sisa_run_train(sisa_dist *d, const char *cfg_path, const sisa_run_open_opts *oo,
                   sisa_run_train_result *out);
void sisa_run_train_result_free(sisa_run_train_result *r);

/* ---- the ensemble (ensemble.c) ---------------------------------------------------------- */

typedef struct {
    uint32_t shard;
    uint64_t rows; /* its training rows (the weight of strategy: weighted) */
    char ckpt[SISA_PATH_MAX];
} sisa_run_model;

/* The input of an ensemble run: a sisa dataset file, or a matrix in memory (row-major n x d;
 * rank 0's copy is broadcast to ranks that need it). */
typedef struct sisa_run_input {
    const char *path;
    const float *x;
    uint64_t n, d;
    const uint64_t *id; /* memory input: rank 0's (n) sample IDs for the sink (NULL: none) */
    const int32_t *y;   /* memory input: rank 0's (n) labels for the sink (NULL: none) */
    int any;            /* file input: an unlabelled dataset is accepted too */
} sisa_run_input;

/* What a prediction input is (predin.c). */
typedef enum {
    SISA_INPUT_SISA,  /* a sisa dataset file, labelled or not: streamed */
    SISA_INPUT_H5,    /* a foreign HDF5 file: a features matrix, optional IDs */
    SISA_INPUT_CSV,   /* CSV with a header row, features by the training data's column names */
    SISA_INPUT_LIBSVM /* libsvm rows, labels optional */
} sisa_run_input_kind;

const char *sisa_run_input_kind_name(sisa_run_input_kind kind);

typedef struct sisa_run_foreign_opts {
    const char *id;      /* csv: the ID column; h5: the IDs dataset (NULL: row numbers; h5: "id"
                          * when present) */
    const char *x;       /* h5: the features dataset (NULL: "X") */
    char delimiter;      /* csv (0: ',') */
    double scale;        /* > 0: divide the features by this (else the training data's --scale) */
    const char *scratch; /* where the temp dataset goes (NULL: $TMPDIR or /tmp) */
} sisa_run_foreign_opts;

/* Rank 0: what `sisa predict -i input` reads (predin.c). `format` is "sisa", "h5", "csv" or
 * "libsvm"; NULL or "auto": an HDF5 file is sisa or h5 by its sisa_format attribute, any other
 * file CSV or libsvm by its name (.csv .tsv .txt, .svm .libsvm .svmlight, each optionally .gz).
 * A sisa dataset file is checked (its feature names against the training data's) and left to
 * be streamed (*rows NULL); any other input is read into *rows as `sisa import --unlabelled`
 * would, with the training data's column names and --scale, and its width checked. Standard
 * input ("-") is kept in a scratch file first, then read whole; text there is CSV unless
 * `format` says libsvm. */
int sisa_run_predict_prepare(const sisa_store *st, const char *input, const char *format,
                             const sisa_run_foreign_opts *fo, sisa_run_input_kind *kind,
                             sisa_dataset **rows);

/* Collective: '-' where a command reads a sisa dataset file. Rank 0 copies standard input
 * (sisa_run_stdin_copy, under base_opt) and reads it whole (labelled: sisa_dataset_read, which
 * refuses unlabelled data; else sisa_dataset_read_any), then removes the copy. With everywhere,
 * every rank gets the rows (n, d, X, id and y; no group, risk or names); else only rank 0 (the
 * other ranks' *rows is NULL). */
int sisa_run_stdin_rows(sisa_dist *d, const sisa_store *st, const char *cmd, const char *base_opt,
                        int labelled, int everywhere, sisa_dataset **rows);

typedef struct sisa_run_ensemble {
    uint64_t n;
    uint32_t d, classes;
    const int32_t *y;       /* (n), rank 0, file input: borrowed from the input stream */
    const uint64_t *id;     /* (n), rank 0, file input: likewise */
    uint32_t n_models;      /* shards with a usable final model */
    sisa_run_model *models; /* (n_models), every rank */
    uint32_t n_excluded;    /* rank 0 */
    uint32_t *excluded;
    const char **why;
    void *input; /* the stream (file input) */
    float *memx; /* the broadcast matrix (memory input, ranks other than 0) */
} sisa_run_ensemble;

/* What rank 0 does with the stream: each model's posteriors of a block of rows (in model
 * order), then the ensemble's. Any may be NULL. */
typedef struct {
    int (*start)(void *ctx, const sisa_run_ensemble *e); /* models known, before the rows */
    int (*model_rows)(void *ctx, uint32_t m, uint64_t r0, uint64_t nr, const float *proba);
    int (*ens_rows)(void *ctx, uint64_t r0, uint64_t nr, const float *proba, const int32_t *label);
    void *ctx;
} sisa_run_sink;

/* Collective: run every usable shard model over the input (spread over the ranks) and combine
 * on rank 0 in shard order, chunk by chunk, into the sink. A memory input gives the same bits
 * as the same rows in a file. Free `e` with sisa_run_ensemble_free. */
int sisa_run_ensemble_stream(sisa_dist *d, const sisa_store *st, const sisa_run_input *in,
                             sisa_run_ensemble *e, const sisa_run_sink *sink);
void sisa_run_ensemble_free(sisa_run_ensemble *e);

/* ---- the reports of verify, status, audit and repair ------------------------------------ */

typedef struct sisa_run_verify_opts {
    const char *output;  /* the certificate (NULL: STORE/certificates/request-N.json) */
    int force;           /* replace `output` */
    const char *scratch; /* where to train from scratch (NULL: $TMPDIR or /tmp) */
    int keep_scratch;
    int json;    /* print the certificate instead of a summary */
    double wait; /* without output: wait for another writer */
    FILE *out;   /* rank 0: the summary (or certificate) is printed here; NULL: nothing */
} sisa_run_verify_opts;

typedef struct sisa_run_verify_result {
    int none;        /* no certified deletion request */
    uint32_t shards; /* touched shards verified */
    uint32_t failed; /* of which differ */
    char certificate[SISA_PATH_MAX];
} sisa_run_verify_result;

/* Collective: sisa verify (the contract is at the top of verify.c and in `sisa verify --help`).
 * A shard that differs from training from scratch is SISA_ECORRUPT, with the certificate
 * written with verdict "fail". */
int sisa_run_verify(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const sisa_run_verify_opts *o, sisa_run_verify_result *res);

/* sisa impact (impact.c): what a deletion would change, before it is made. */
typedef struct sisa_run_impact_opts {
    sisa_run_deletion del; /* the rows (dry_run is implied: nothing is journaled) */
    const char *queries;   /* a sisa dataset file of query rows */
    const char *output;    /* HDF5 results (NULL: none) */
    int force;             /* replace `output` */
    const char *scratch;   /* logreg/mlp: where to retrain (NULL: $TMPDIR or /tmp) */
    int keep_scratch;
    FILE *out; /* rank 0: the summary; NULL: nothing */
} sisa_run_impact_opts;

typedef struct sisa_run_impact_result {
    uint64_t rows;      /* rows the request deletes */
    uint64_t already;   /* named IDs and groups deleted by earlier requests */
    uint32_t n_shards;  /* shards holding them */
    uint64_t deletions; /* requests certified before */
    uint64_t queries, depending, changed, proba_changed;
    uint64_t changed_independent; /* knn: changed without a deleted neighbour (weighted only) */
} sisa_run_impact_result;

/* Collective, read-only (shard k on rank k mod P): see impact.c and `sisa impact --help`. */
int sisa_run_impact(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const sisa_run_impact_opts *o, sisa_run_impact_result *res);

/* sisa log (log.c): the deletion history, or whether a sample or subject was deleted. */
typedef struct sisa_run_log_opts {
    const char *since; /* ISO 8601 UTC time or date prefix: requests at or after it (NULL: all) */
    int has_id, has_group;
    uint64_t id, group;
    int json;
    FILE *out; /* rank 0: the report; NULL: nothing */
} sisa_run_log_opts;

typedef struct sisa_run_log_result {
    uint64_t requests, rows; /* listed */
    int deleted;             /* the query: the sample or subject was deleted */
    uint64_t request;        /* ... by this request */
} sisa_run_log_result;

/* Collective, read-only (rank 0 reads): see log.c and `sisa log --help`. */
int sisa_run_log(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                 const sisa_run_log_opts *o, sisa_run_log_result *res);

/* A fresh scratch folder sisa-CMD-XXXXXX under base_opt (else $TMPDIR, else /tmp), never
 * inside the store st (NULL: no store to keep out of) (scratch.c); remove it with
 * sisa_run_remove_scratch, which only warns. */
int sisa_run_make_scratch(const sisa_store *st, const char *cmd, const char *base_opt, char *out,
                          size_t cap);
void sisa_run_remove_scratch(const char *path);
/* What '-' means where a command reads a file whole or more than once (HDF5, libsvm): standard
 * input, copied to its end into `copy` (SCRATCH/stdin) in a fresh scratch folder as above. The
 * caller removes `scratch` afterwards; on an error nothing is left (scratch is ""). SISA_EUSAGE
 * when standard input is a terminal or empty. */
int sisa_run_stdin_copy(const sisa_store *st, const char *cmd, const char *base_opt, char *scratch,
                        size_t cap, char *copy, size_t copy_cap);

/* sisa outliers (outliers.c): the parameters, as sisa/sisa.h's sisa_outlier_opts. */
typedef struct sisa_run_outlier_opts {
    int lof; /* 1: LOF, 0: Isolation Forest */
    uint32_t trees, subsample, k;
    int cosine;           /* lof: cosine distance instead of Euclidean */
    double contamination; /* > 0: flag this share */
    double threshold;     /* else: flag scores above it */
    uint64_t seed;
    int has_seed;
    int per_shard;          /* score each shard's rows among themselves */
    const char *ids_out;    /* may be NULL */
    const char *scores_out; /* may be NULL */
    int force;              /* replace existing outputs */
    FILE *out;              /* rank 0: the summary; NULL: nothing */
} sisa_run_outlier_opts;

typedef struct sisa_run_outlier_result {
    uint64_t rows, flagged;
    double threshold; /* the global threshold (NAN per shard: each shard has its own) */
    char params[256]; /* canonical text, e.g. "method=lof k=20 contamination=0.01 scope=all" */
    char params_sha256[65];
    char dataset_digest[65];
    uint64_t deletions; /* requests applied to the store when its rows were scored */
} sisa_run_outlier_result;

/* Collective: score the store's current training rows (every shard's data, deleted rows gone)
 * for outliers, flag them, write the IDs file (one ID per line after '#' lines naming the
 * method, its parameters' hash and the dataset digest; it feeds sisa unlearn --ids-file) and
 * the scores file. Same data, parameters and seed: the same bytes, whatever the rank count. */
int sisa_run_outliers(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                      const sisa_run_outlier_opts *o, sisa_run_outlier_result *res);

typedef struct sisa_run_status_result {
    uint32_t shards, shards_ready, slices;
    uint64_t rows, deletions, deleted_rows;
    int damaged;
} sisa_run_status_result;

/* Collective: open the store (INSPECT) and describe it on `out` (rank 0; NULL: nothing), as
 * text or one JSON object. `label` names the config in the report. */
int sisa_run_status(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const char *label, int json, FILE *out, sisa_run_status_result *res);

typedef struct sisa_run_audit_opts {
    const char *head;        /* a ledger head kept outside the store (hex) */
    const char *certificate; /* a certificate whose ledger_head is checked like head */
    const char *dataset;     /* NULL: the config's data.train */
    int json;
    FILE *out;
} sisa_run_audit_opts;

/* 64 hex digits, lower-cased into `out`; -1 when `text` is not one. */
int sisa_run_parse_head(const char *text, char out[65]);
/* The "ledger_head" of the deletion certificate at `path` (sisa verify writes them), lower-cased:
 * SISA_ECORRUPT naming the file when it is not JSON or holds no SHA-256 there. */
int sisa_run_certificate_head(const char *path, char out[65]);

/* Collective: sisa audit; `*pass` (rank 0) is the verdict; a failing audit returns the first
 * problem as the error. */
int sisa_run_audit(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in, const char *label,
                   const sisa_run_audit_opts *o, int *pass);

typedef struct sisa_run_repair_opts {
    int dry_run;
    double wait;
    int json;
    FILE *out;
} sisa_run_repair_opts;

/* One process: sisa repair. `label` names the config in the report's advice. `*problems` is
 * how many problems were found. */
int sisa_run_repair(const char *cfg_path, const sisa_config *cfg_in, const char *label,
                    const sisa_run_repair_opts *o, size_t *problems);

/* Peak resident memory of this process, in bytes. */
uint64_t sisa_run_peak_rss(void);

#endif
