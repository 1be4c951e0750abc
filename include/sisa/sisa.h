/*
 * sisa/sisa.h - libsisa, the public C API of sisa (the umbrella header).
 *
 * Conventions (the same for every function below):
 *   - Functions return int: 0 (SISA_OK) on success or a negative SISA_E* code (sisa/error.h);
 *     the message of the last failure is in a thread-local slot: sisa_error_message(). Map a code
 *     to a process exit status with sisa_exit_code() if you like; libsisa itself never exits.
 *   - Out parameters come first. What a function allocates belongs to the caller and is freed by
 *     the matching *_free function named next to it (all NULL-safe); every pointer argument is
 *     borrowed for the duration of the call only, unless stated otherwise.
 *   - Nothing is printed to stdout unless a FILE * is passed for it; warnings and progress go to
 *     stderr, at the level set by sisa_set_log_level(). No function installs signal handlers:
 *     a host that wants Ctrl-C to stop sisa cleanly calls sisa_interrupt() / sisa_request_stop()
 *     from its own handler (async-signal-safe).
 *   - A handle (sisa_handle) is a store's config plus the job it runs in. Each operation opens
 *     the store in the mode it needs (training and deleting take the store's writer lock;
 *     prediction and status do not) and closes it before returning, so nothing is held between
 *     calls. A handle is used by one thread at a time.
 *   - Jobs: without a job, a handle runs as one process and never touches MPI. In an MPI program,
 *     create a job from a communicator (sisa_job_from_comm, or sisa_job_join for a program started
 *     by mpirun that lets sisa initialise MPI) and open the handle with it: every rank then calls
 *     the same functions in the same order (they are collective), rank 0 reads and writes the
 *     store's metadata, the shards are spread over the ranks, and every rank returns the same
 *     code. Reports are complete on rank 0. Results are bit for bit the same for any rank count.
 *
 * The promise: unlearning rows from a trained store gives, bit for bit, the store that training
 * without those rows gives (same config, seed, build and OpenBLAS core); see docs/api.md.
 */
#ifndef SISA_SISA_H
#define SISA_SISA_H

#include "sisa/config.h"
#include "sisa/dataset.h"
#include "sisa/error.h"
#include "sisa/import.h"
#include "sisa/version.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- library ----------------------------------------------------------------------------- */

/* sisa's version ("0.1.0") and the build it was compiled in (commit, compiler, flags). */
const char *sisa_version_string(void);

/* Log level of sisa's messages on stderr: SISA_LOG_LEVEL_QUIET (errors only) ..
 * SISA_LOG_LEVEL_DEBUG. */
enum {
    SISA_LOG_LEVEL_QUIET = 0,
    SISA_LOG_LEVEL_WARN = 1,
    SISA_LOG_LEVEL_INFO = 2,
    SISA_LOG_LEVEL_DEBUG = 3
};
void sisa_set_log_level(int level);
int sisa_get_log_level(void);
/* A prefix for every message sisa writes to stderr (copied; NULL or "" for none). */
void sisa_set_log_prefix(const char *prefix);

/* Ask a running operation to stop: sisa_interrupt() at once (SISA_EINTR, partial output
 * removed), sisa_request_stop() at the next stage boundary after committing it
 * (SISA_ESTOPPED; run the operation again to continue). Both are async-signal-safe. */
void sisa_interrupt(int signo);
void sisa_request_stop(int signo);

/* Write `s` as a JSON string literal (quotes included; bytes that are not UTF-8 become
 * U+FFFD), and a finite double with round-trip digits (non-finite: null). */
void sisa_json_print_string(FILE *out, const char *s);
void sisa_json_print_number(FILE *out, double v);

/* Text helpers (what sisa's own command line parses with): 0 when `s` is a decimal number of
 * the kind (u64: digits only; i64: [-]digits; f64: finite, C locale), else nonzero. */
int sisa_text_u64(uint64_t *out, const char *s);
int sisa_text_i64(int64_t *out, const char *s);
int sisa_text_f64(double *out, const char *s);
/* Levenshtein distance (capped at 255), for "did you mean" suggestions. */
unsigned sisa_text_distance(const char *a, const char *b);

/* Free memory that libsisa handed out as a plain buffer (e.g. sisa_status_json's text). */
void sisa_free(void *p);

/* ---- the OpenBLAS core (programs that run sisa's commands) ------------------------------ */

/* OpenBLAS picks its kernel ("core") once, when it is loaded: results are bit for bit
 * reproducible only under one core, so a store records the core it was trained under
 * (docs/design.md, "The OpenBLAS core"). A program that runs sisa's commands calls this first
 * in main, before sisa_job_join and before anything computes. `command` is sisa's command name
 * ("train", "unlearn", "predict", "eval", "verify", "status", "audit", "repair", "outliers";
 * "version" for a version report), `argv` is main's (NULL-terminated), `cargc`/`cargv` the
 * command's own arguments (its config is read from -c/--config). To run under another core it sets
 * OPENBLAS_CORETYPE and re-executes /proc/self/exe with `argv`, and then does not return.
 * Returns SISA_OK to go on, SISA_EUSAGE when the store's core cannot run on this CPU, SISA_EIO
 * when the re-execution fails. An explicit OPENBLAS_CORETYPE always wins. Programs that load
 * libsisa into a running interpreter cannot re-execute: they run under the core OpenBLAS
 * picked, and a store trained under another core is refused by its context check. */
int sisa_openblas_setup(const char *command, char **argv, int cargc, char **cargv);
/* 1 unless this process is a rank other than 0 of an MPI or Slurm job, read from the
 * launcher's environment (usable before MPI is initialised). */
int sisa_launcher_first_rank(void);

/* ---- jobs: MPI, optional ----------------------------------------------------------------- */

typedef struct sisa_job sisa_job;

/* A process started by an MPI launcher (mpirun, srun) initialises MPI here and becomes one rank
 * of a job over MPI_COMM_WORLD; a process started directly becomes a one-rank job and MPI is
 * not touched (SISA_MPI=1 / 0 force it). `argc`/`argv` may be NULL. *out is valid even on
 * failure (a one-rank job). */
int sisa_job_join(sisa_job **out, int *argc, char ***argv);
/* A job over a communicator of an MPI program that initialised MPI itself: `mpi_comm` points to
 * an MPI_Comm (MPI_Comm is not named here, so that this header needs no mpi.h). sisa works on a
 * duplicate; the caller keeps its communicator and finalises MPI itself. */
int sisa_job_from_comm(sisa_job **out, const void *mpi_comm);
int sisa_job_rank(const sisa_job *job);
int sisa_job_size(const sisa_job *job);
/* Collective: every rank brings its own result; all leave with the lowest failing rank's code
 * and message ("rank R: ..."), or SISA_OK. */
int sisa_job_agree(sisa_job *job, int local);
/* Leave the job. A job made by sisa_job_join finalises MPI (or aborts every rank with
 * `exit_code` when MPI failed); one from a communicator frees only sisa's duplicate. */
void sisa_job_free(sisa_job *job, int exit_code);

/* ---- handles --------------------------------------------------------------------------------- */

typedef struct sisa_handle sisa_handle;

typedef struct sisa_open_opts {
    sisa_job *job;   /* borrowed, must outlive the handle; NULL: one process */
    double wait;     /* writers: seconds to wait while another writer holds the store (0: fail
                      * at once with SISA_EBUSY, < 0: no limit) */
    int accept_move; /* writers: the store was moved on purpose, record its new location */
} sisa_open_opts;

/* Open the store a config file describes (every rank: rank 0 reads the file). opts may be NULL.
 * The store itself need not exist yet: sisa_train creates it. Free with sisa_close. */
int sisa_open(sisa_handle **out, const char *config_path, const sisa_open_opts *opts);
/* The same from a config in memory (copied), e.g. filled by sisa_config_defaults or parsed from
 * YAML text with sisa_config_parse (paths in it are used as they are). */
int sisa_open_config(sisa_handle **out, const sisa_config *cfg, const sisa_open_opts *opts);
/* The same from YAML text; relative paths are resolved against `base_dir` (NULL: the working
 * directory). `name` names the text in messages (NULL: "<config>"). */
int sisa_open_yaml(sisa_handle **out, const char *yaml, const char *name, const char *base_dir,
                   const sisa_open_opts *opts);
void sisa_close(sisa_handle *h);
/* The handle's config (borrowed; valid until sisa_close). */
const sisa_config *sisa_handle_config(const sisa_handle *h);

/* ---- training ---------------------------------------------------------------------------- */

typedef struct sisa_train_report {
    uint64_t shards_trained; /* shards that trained at least one stage (0: up to date) */
    uint64_t empty_shards;
    uint64_t rows;    /* rows of every shard */
    uint64_t samples; /* sample visits spent training */
    uint32_t shards, slices;
    int ranks;
    double seconds;       /* wall time of the call */
    double train_seconds; /* of which training */
    double *peak_rss;     /* (ranks) every rank's peak resident memory in bytes, rank 0 */
    char store[SISA_CONFIG_PATH_MAX];
    char store_id[64];
    char config_hash[65];
} sisa_train_report;

/* Collective: partition the training set into shards and slices and train every shard stage by
 * stage, resuming what an interrupted run left. `out` may be NULL; else free it with
 * sisa_train_report_free. */
int sisa_train(sisa_train_report *out, sisa_handle *h);
void sisa_train_report_free(sisa_train_report *r);

/* ---- deletion ---------------------------------------------------------------------------- */

/* The rows to delete: sample IDs and/or data subjects (group keys), as arrays or as text ("17,42")
 * or files of one value per line ('#' comments); give a list or a file of each kind, not both. */
typedef struct sisa_deletion {
    const uint64_t *ids;
    size_t n_ids;
    const uint64_t *groups;
    size_t n_groups;
    const char *ids_text, *ids_file, *groups_text, *groups_file;
    int dry_run; /* validate and plan only; the store is not changed */
} sisa_deletion;

typedef struct sisa_deletion_shard {
    uint32_t shard;
    uint64_t rows;        /* deleted rows in this shard */
    uint32_t first_stage; /* first stage that saw one: retrained from here on */
    /* after the deletion: */
    int empty;             /* no rows left: the shard leaves the ensemble */
    uint32_t resumed_from; /* stages kept (0: retrained from initialisation) */
    double seconds;
    uint64_t samples; /* sample visits spent retraining */
    uint64_t cost;    /* the plan: sample visits its retraining takes (exact, known before) */
} sisa_deletion_shard;

typedef struct sisa_deletion_report {
    uint64_t request;        /* the request's number in the ledger (0: dry run or nothing) */
    uint64_t rows;           /* rows deleted */
    uint64_t subjects;       /* data subjects named */
    uint64_t already_ids;    /* IDs deleted by earlier requests (skipped) */
    uint64_t already_groups; /* subjects likewise */
    int nothing;             /* every row was deleted before: the store is unchanged */
    int dry_run;
    uint32_t n_shards; /* affected shards */
    uint32_t shards_total, slices;
    sisa_deletion_shard *shards; /* (n_shards) in shard order */
    uint64_t retrain_samples;    /* sample visits spent retraining */
    uint64_t full_samples;       /* those of training every shard from scratch */
    char store[SISA_CONFIG_PATH_MAX];
    /* the IDs file's origin when a sisa tool wrote it (certified in the ledger): "" or e.g.
     * "sisa outliers: method=lof k=20 metric=euclidean contamination=0.01 scope=all" */
    char origin[320];
    /* The plan's cost, known before anything changes (also for a dry run): */
    uint64_t plan_samples;     /* sample visits the retraining takes: the shards' cost, summed */
    double samples_per_second; /* one rank's training speed measured on this store (STORE/timing:
                                * sisa train and earlier deletions); NaN when never measured */
    double estimated_seconds;  /* the retraining's wall time on this job's ranks, the shards
                                * spread as sisa unlearn spreads them (longest first, to the
                                * least loaded rank), at that speed; NaN when unknown */
    int ranks;                 /* ranks of the job */
} sisa_deletion_report;

/* Called on rank 0 once the request is checked and journaled, before any shard changes (e.g. to
 * show the plan); `r` has everything but the retraining results. */
typedef void (*sisa_deletion_plan_fn)(void *ctx, const sisa_deletion_report *r);

/* Collective: delete rows exactly. Every ID is checked first: one unknown ID rejects the whole
 * request (SISA_EREJECT) and the store is left as it was. Each affected shard is rewritten
 * without the rows and retrained from its last clean checkpoint; the request is certified in the
 * store's hash-chained ledger. A request interrupted at any point is finished by the next
 * operation that opens the store as a writer. `out` may be NULL; else free it with
 * sisa_deletion_report_free. `on_plan` may be NULL. */
int sisa_unlearn(sisa_deletion_report *out, sisa_handle *h, const sisa_deletion *what,
                 sisa_deletion_plan_fn on_plan, void *ctx);
void sisa_deletion_report_free(sisa_deletion_report *r);

/* ---- prediction and evaluation ----------------------------------------------------------- */

typedef struct sisa_prediction {
    uint64_t n;
    uint32_t classes;
    float *proba;   /* (n x classes) row-major, the ensemble's posteriors */
    int32_t *label; /* (n) */
    uint32_t n_models;
    uint32_t *shards; /* (n_models) shards whose models voted, in order */
} sisa_prediction;

/* Collective: the ensemble's posteriors and labels for `n` rows of `d` features (row-major
 * float32, rank 0's matrix is used). Exactly the bits `sisa predict` writes for the same rows in
 * a dataset file. Free `out` with sisa_prediction_free. */
int sisa_predict(sisa_prediction *out, sisa_handle *h, const float *x, uint64_t n, uint64_t d);
void sisa_prediction_free(sisa_prediction *p);

typedef struct sisa_predict_file_opts {
    int per_shard; /* also write each shard's posteriors (/shards/KKKK; HDF5 output only) */
    int force;     /* replace `output` if it exists */
    /* The output: "h5" (a prediction file) or "csv" (id,label,p0,...); NULL: csv when `output`
     * is "-" (standard output) or ends in .csv, else h5. */
    const char *format;
    /* The input: "sisa" (a sisa dataset file, labelled or not), "h5" (a foreign HDF5 file: a
     * features matrix and optional IDs), "csv" or "libsvm"; NULL or "auto": by the file's
     * content (HDF5) or name (.csv .tsv .txt; .svm .libsvm .svmlight). A foreign input is read
     * as `sisa import ... --unlabelled` would read it: CSV columns by the training data's
     * recorded feature names, the training data's --scale applied. */
    const char *input_format;
    const char *id; /* csv: the ID column; h5: the IDs dataset (NULL: row numbers from 0;
                     * h5: "id" when present) */
    const char *x;  /* h5: the features dataset (NULL: "X") */
    char delimiter; /* csv (0: ',') */
    double scale;   /* > 0: divide a foreign input's features by this instead */
} sisa_predict_file_opts;

typedef struct sisa_predict_file_report {
    uint64_t rows;
    uint32_t n_models;
    uint32_t shards_total;
    char strategy[16];
    char input_format[8]; /* sisa, h5, csv or libsvm */
    char format[8];       /* the output: h5 or csv */
} sisa_predict_file_report;

/* Collective: predict an input file (see input_format) into a prediction file (docs/formats.md)
 * or CSV, written atomically ("-": CSV on standard output). opts and out may be NULL. */
int sisa_predict_file(sisa_predict_file_report *out, sisa_handle *h, const char *input,
                      const char *output, const sisa_predict_file_opts *opts);

typedef struct sisa_eval_shard {
    uint32_t shard;
    uint64_t rows; /* its training rows */
    double accuracy;
} sisa_eval_shard;

typedef struct sisa_eval_excluded {
    uint32_t shard;
    const char *reason; /* static text */
} sisa_eval_excluded;

typedef struct sisa_eval_report {
    double accuracy; /* the ensemble's */
    uint64_t rows;
    uint32_t n_models, shards_total;
    char strategy[16];
    char input[SISA_CONFIG_PATH_MAX];
    sisa_eval_shard *models; /* (n_models) */
    uint32_t n_excluded;
    sisa_eval_excluded *excluded; /* (n_excluded) shards left out, and why */
    /* The ensemble's metrics (docs/json.md). A class with no true row has recall NaN, one never
     * predicted precision NaN; NaN is printed as null. */
    uint32_t classes;
    uint64_t *confusion; /* (classes x classes): [true class][predicted class] row counts */
    uint64_t *support;   /* (classes) rows of each true class */
    double *recall;      /* (classes) per-class accuracy: right among the rows of the class */
    double *precision;   /* (classes) right among the rows predicted as the class */
    double *f1;          /* (classes) 2 p r / (p + r) (0 when both are 0) */
    double macro_f1;     /* mean F1 over the classes that occur or are predicted (scikit-learn's
                          * f1_score(average='macro'), with 0 for an undefined p or r) */
    double log_loss;     /* mean of -ln max(p(true class), 1e-15) over the ensemble's posteriors */
    double agreement;    /* mean share of the shard models whose label is the ensemble's */
    double unanimous;    /* share of the rows on which every shard model gives one label */
} sisa_eval_report;

/* Collective: accuracy of the ensemble and of every shard model on a labelled dataset file
 * (NULL: the config's data.test). Free `out` with sisa_eval_report_free. */
int sisa_eval(sisa_eval_report *out, sisa_handle *h, const char *input);
void sisa_eval_report_free(sisa_eval_report *r);

/* ---- inspection and maintenance ---------------------------------------------------------- */

typedef struct sisa_status_report {
    uint32_t shards, shards_ready, slices;
    uint64_t rows, deletions, deleted_rows;
    int damaged; /* a damaged file (the call also returns SISA_ECORRUPT) */
} sisa_status_report;

/* Collective: a store's shards (rows, trained stages, current checkpoint), config hash, seed and
 * determinism context. `print` (rank 0, may be NULL) receives the report as text, or as one JSON
 * object with `json`. A damaged store is described whole, then SISA_ECORRUPT is returned. */
int sisa_status(sisa_status_report *out, sisa_handle *h, FILE *print, int json);
/* The JSON status as a string (free with sisa_free). */
int sisa_status_json(char **out, sisa_handle *h);

typedef struct sisa_verify_opts {
    const char *output;  /* certificate path (NULL: STORE/certificates/request-N.json) */
    int force;           /* replace `output` */
    const char *scratch; /* where to train from scratch (NULL: $TMPDIR, else /tmp) */
    int keep_scratch;
    int json;    /* print the certificate instead of a summary */
    FILE *print; /* rank 0: the summary or certificate; NULL: nothing */
} sisa_verify_opts;

typedef struct sisa_verify_report {
    int none;        /* no certified deletion request: nothing to verify */
    uint32_t shards; /* touched shards verified */
    uint32_t failed; /* of which differ from training from scratch */
    char certificate[SISA_CONFIG_PATH_MAX];
} sisa_verify_report;

/* Collective: prove that every shard touched by a deletion is bit for bit training it from
 * scratch without the deleted rows, and write a certificate. A difference is SISA_ECORRUPT
 * (the certificate is written with verdict "fail"). opts and out may be NULL. */
int sisa_verify(sisa_verify_report *out, sisa_handle *h, const sisa_verify_opts *opts);

typedef struct sisa_audit_opts {
    const char *head;        /* a ledger head kept outside the store (64 hex digits) */
    const char *certificate; /* a certificate whose "ledger_head" is checked like head */
    const char *dataset;     /* NULL: the config's data.train */
    int json;
    FILE *print; /* rank 0: the report; NULL: nothing */
} sisa_audit_opts;

/* Collective, read-only: the ledger's chain, every committed file's hash, and a byte scan for
 * deleted rows. *pass is the verdict; a failing audit returns its first problem as the error.
 * opts may be NULL. */
int sisa_audit(int *pass, sisa_handle *h, const sisa_audit_opts *opts);
/* 0 when `text` is a ledger head (64 hex digits), else SISA_EUSAGE. */
int sisa_check_ledger_head(const char *text);

typedef struct sisa_repair_opts {
    int dry_run; /* report what is damaged and what would be done; change nothing */
    int json;
    FILE *print; /* the report; NULL: nothing */
} sisa_repair_opts;

/* One process (not collective; with a job, call it on one rank only): rebuild what a damaged
 * store can rebuild. *problems is how many problems were found. SISA_ECORRUPT when something
 * cannot be repaired (then nothing at all is changed). opts may be NULL. */
int sisa_repair(size_t *problems, sisa_handle *h, const sisa_repair_opts *opts);

/* ---- outliers ---------------------------------------------------------------------------- */

typedef struct sisa_outlier_opts {
    const char *method;   /* "iforest" (Isolation Forest) or "lof" (Local Outlier Factor) */
    uint32_t trees;       /* iforest: trees (0: 100) */
    uint32_t subsample;   /* iforest: rows per tree (0: 256) */
    uint32_t k;           /* lof: neighbours (0: 20) */
    const char *metric;   /* lof: "euclidean" (NULL) or "cosine" */
    double contamination; /* flag this share of the rows (0 < c < 0.5); 0: use threshold */
    double threshold;     /* flag scores above it (has_threshold); neither: iforest 0.5,
                           * lof 1.5 (scikit-learn's "auto") */
    int has_threshold;
    uint64_t seed; /* iforest (has_seed; else the config's seed) */
    int has_seed;
    int per_shard;          /* score each shard's rows among themselves */
    const char *ids_out;    /* the flagged IDs, for sisa unlearn --ids-file (NULL: none) */
    const char *scores_out; /* every row's score, HDF5 (NULL: none) */
    int force;              /* replace existing outputs */
    FILE *print;            /* rank 0: the summary; NULL: nothing */
} sisa_outlier_opts;

typedef struct sisa_outlier_report {
    uint64_t rows, flagged;
    double threshold;        /* scores above it were flagged (NAN per shard) */
    char params[256];        /* the method and its parameters, canonical text */
    char params_sha256[65];  /* SHA-256 of params */
    char dataset_digest[65]; /* of the dataset the store was made from */
    uint64_t deletions;      /* deletion requests the scored rows come after */
} sisa_outlier_report;

/* Collective, read-only: score the store's current training rows (deleted rows are gone) for
 * outliers and flag them (docs/outliers.md). The IDs file lists the flagged IDs after '#' lines
 * naming the method, its parameters' hash, the store and the dataset digest; feed it to
 * sisa_unlearn (ids_file) to delete them exactly. Same data, options and seed: the same bytes
 * whatever the rank count. out may be NULL. */
int sisa_outliers(sisa_outlier_report *out, sisa_handle *h, const sisa_outlier_opts *opts);

/* ---- deletion history -------------------------------------------------------------------- */

typedef struct sisa_log_opts {
    const char *since; /* ISO 8601 UTC time or a prefix ("2026-12-01"): requests from then on */
    int has_id;        /* ask whether sample `id` was deleted, instead of listing */
    uint64_t id;
    int has_group; /* ask whether data subject `group` was deleted */
    uint64_t group;
    int json;    /* print JSON (docs/json.md) */
    FILE *print; /* rank 0: the report; NULL: nothing */
} sisa_log_opts;

typedef struct sisa_log_report {
    uint64_t requests, rows; /* requests listed, and their rows */
    int deleted;             /* the question: yes (1) or no (0) */
    uint64_t request;        /* the request that deleted it */
} sisa_log_report;

/* Collective, read-only: every deletion request of the store (ledger and journal), or whether a
 * sample or data subject was deleted, answered from the ledger's salted hashes without revealing
 * other IDs. opts and out may be NULL. */
int sisa_log(sisa_log_report *out, sisa_handle *h, const sisa_log_opts *opts);

/* ---- impact of a deletion ---------------------------------------------------------------- */

typedef struct sisa_impact_opts {
    sisa_deletion rows;  /* the rows, named as for sisa_unlearn (dry_run is implied) */
    const char *queries; /* a sisa dataset file of query rows (labels are not used) */
    const char *output;  /* HDF5 results, docs/formats.md (NULL: none) */
    int force;           /* replace `output` */
    const char *scratch; /* logreg/mlp: folder to retrain in (NULL: $TMPDIR or /tmp) */
    int keep_scratch;
    FILE *print; /* rank 0: the summary; NULL: nothing */
} sisa_impact_opts;

typedef struct sisa_impact_report {
    uint64_t rows;                /* rows the deletion would remove */
    uint64_t already;             /* named IDs and groups that earlier requests deleted */
    uint32_t shards;              /* shards holding the rows */
    uint64_t queries;             /* query rows */
    uint64_t depending;           /* queries whose prediction uses a deleted row (knn: one of their
                                   * neighbours; logreg/mlp: every query, through the retrained shards) */
    uint64_t changed;             /* queries whose ensemble label would change */
    uint64_t proba_changed;       /* queries whose ensemble posterior would change at all */
    uint64_t changed_independent; /* knn: changed without a deleted neighbour (weighted only) */
} sisa_impact_report;

/* Collective, read-only: which query rows' predictions depend on the given rows and which
 * would change if they were deleted (docs/knn.md). For knn stores the reverse-kNN set of every
 * row; for logreg/mlp stores the affected shards are trained without the rows in a scratch
 * folder. Nothing in the store changes and nothing is journaled. out may be NULL. */
int sisa_impact(sisa_impact_report *out, sisa_handle *h, const sisa_impact_opts *opts);

/* ---- datasets and configs ---------------------------------------------------------------- */

/* The versions of the libraries sisa runs on, one per line ("Open MPI ...", "HDF5 ..."). */
void sisa_library_versions(FILE *out);

/* Check a new store's set-up: warnings (stderr) for shards without rows and stages smaller than
 * a minibatch, an error for fewer rows than shards x slices. */
int sisa_config_check(const sisa_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
