/*
 * sisa/gauge.h - measure forgetting statistically: can an attacker tell models that unlearned a
 * forget set from models retrained without it? (`sisa gauge`, docs/gauge.md)
 *
 * Three steps, so that a cluster can spread the work: a plan (the forget set, the populations
 * of models and each member's seed), members (each trains, and unlearns, one model per role in
 * a scratch store of its own and records its confidences on the forget set), and a score (the
 * per-example epsilon of the NeurIPS 2023 Machine Unlearning Challenge, F and the final score,
 * against the noise floor of a second retrained population; KS tests; a loss-threshold
 * membership inference AUC). Members never touch a real store.
 */
#ifndef SISA_GAUGE_H
#define SISA_GAUGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sisa_gauge_plan_opts {
    const char *config;     /* the config file whose model and data are gauged */
    const char *dir;        /* the gauge folder (created; must not hold a plan yet) */
    const char *forget_ids; /* a file of sample IDs, one per line ('#' comments), or NULL */
    double forget_fraction; /* without forget_ids: this share of the training rows, drawn with
                             * the seed */
    uint32_t models;        /* N members per population (>= 3) */
    const char *methods;    /* comma-separated; NULL: "exact,none" */
    uint64_t seed;          /* first seed (has_seed), else the config's */
    int has_seed;
    double ascent_lr;      /* gradient-ascent's rate (0: 1e-3) */
    uint32_t ascent_steps; /* gradient-ascent's steps per shard (0: 10) */
    double neggrad_beta;   /* neggrad's beta (0: 0.9) */
} sisa_gauge_plan_opts;

/* Write DIR/plan.json, DIR/forget.txt and DIR/retain.h5 (the training set without the forget
 * set, for the retrained populations). `print` (may be NULL) gets a summary. */
int sisa_gauge_plan(const sisa_gauge_plan_opts *opts, FILE *print);

/* The number of member tasks of a plan (3 N: trained, retrain, retrain2). */
int sisa_gauge_tasks(const char *dir, uint32_t *tasks);

/* The config file a plan gauges (into `out`, `cap` bytes), e.g. to choose the OpenBLAS core its
 * members train under as `sisa train` would (sisa_openblas_setup). */
int sisa_gauge_plan_config(const char *dir, char *out, size_t cap);

/* Run member task `task` (0-based): train its model in DIR/work/task-K, record its results in
 * DIR/members/task-K.json atomically, remove the scratch store. A task whose results exist is
 * done already (returns SISA_OK at once), so a requeued task just completes. */
int sisa_gauge_member(const char *dir, uint32_t task, FILE *print);

/* Every figure comes with its bootstrap 95 % interval (lo, hi): F and the KS share resample
 * the forget examples; the accuracies and the MIA AUC resample the population's members; the
 * final score resamples both (F's examples, and the members of the method's population and of
 * the retrained one for the accuracy ratios). */
typedef struct sisa_gauge_method_score {
    char method[32];
    double final_score, final_lo, final_hi; /* F x retain ratio x test ratio */
    double F, F_lo, F_hi;
    double F_over_floor;                    /* F / the noise floor's F */
    double ks_share, ks_lo, ks_hi;          /* forget examples whose KS test rejects at 0.05 */
    double mia_auc, mia_auc_lo, mia_auc_hi; /* means over members */
    double acc_retain, acc_retain_lo, acc_retain_hi; /* means over members */
    double acc_test, acc_test_lo, acc_test_hi;
    double acc_forget, acc_forget_lo, acc_forget_hi;
    int indistinguishable;
} sisa_gauge_method_score;

typedef struct sisa_gauge_report {
    uint32_t n_methods; /* the plan's methods, then "retrain2" (the noise floor) */
    sisa_gauge_method_score methods[16];
    uint32_t models, forget;
    double ks_bound; /* alpha + 3 sqrt(alpha (1 - alpha) / m) */
    int figures;     /* 1 when the PNGs were drawn */
} sisa_gauge_report;

typedef struct sisa_gauge_score_opts {
    const char *figures; /* the folder of gauge.gp and the PNGs; NULL: the gauge folder */
    int no_figures;      /* write neither gauge.gp nor the PNGs */
} sisa_gauge_score_opts;

/* Read every member's results and write DIR/gauge.tsv and DIR/gauge.h5, then the figures:
 * gauge.gp (gnuplot commands with their data) and, with gnuplot ($SISA_GNUPLOT, else on PATH),
 * gauge-F.png, gauge-epsilon.png and gauge-ks.png. Without gnuplot the scores stand and `print`
 * says so; a gnuplot that fails is an error (the scores are written). `opts` may be NULL.
 * `print` gets the table and a verdict per method. Fails naming the first missing member when
 * some have not run. */
int sisa_gauge_score(sisa_gauge_report *out, const char *dir, const sisa_gauge_score_opts *opts,
                     FILE *print);

#ifdef __cplusplus
}
#endif

#endif
