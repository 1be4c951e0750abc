/*
 * approx.h - approximate unlearning methods for `sisa gauge`, the baselines exact unlearning is
 * measured against. They change a trained store's shard models in memory only: the store, its
 * journals and its ledger are read, never written. Their results are not an erasure.
 *
 * Every method is applied to each shard model whose shard holds forget rows (the others are
 * used as they are), with SGD on the model's parameters, batches of the config's batch size
 * drawn in an order keyed by (seed, shard, method) (Philox), so the result is reproducible:
 *   finetune         one epoch on the shard's retained rows; SGD, lr 1e-3, momentum 0.9
 *   gradient-ascent  `ascent_steps` steps of ascent on the forget rows' negative log-likelihood
 *                    (SGD with rate -ascent_lr, no momentum)
 *   neggrad          NegGrad+: one epoch over the retained rows; each step descends
 *                    beta L_retain on a retained batch and ascends (1 - beta) L_forget on a
 *                    forget batch (two SGD steps, lr 1e-3, no momentum)
 *   random-labels    one epoch on the retained rows and the forget rows with labels drawn
 *                    uniformly from the other classes; SGD, lr 1e-3, momentum 0.9
 */
#ifndef SISA_GAUGE_APPROX_H
#define SISA_GAUGE_APPROX_H

#include "sisa/config.h"

#include <stdint.h>

typedef struct sisa_gauge_approx_opts {
    double ascent_lr;      /* gradient-ascent (default 1e-3 when 0) */
    uint32_t ascent_steps; /* gradient-ascent (default 10 when 0) */
    double beta;           /* neggrad (default 0.9 when 0) */
} sisa_gauge_approx_opts;

/* 1 when `name` is one of the methods above. */
int sisa_gauge_approx_known(const char *name);

/* An ensemble of a store's shard models, some changed by a method. */
typedef struct sisa_gauge_ensemble sisa_gauge_ensemble;

/* Load every usable shard model of the store `cfg` describes (trained, read only), apply
 * `method` with the member's `seed` to the models of shards holding any of the `m` forget IDs
 * (ascending). */
int sisa_gauge_ensemble_load(sisa_gauge_ensemble **out, const sisa_config *cfg, const char *method,
                             const sisa_gauge_approx_opts *opts, const uint64_t *forget,
                             uint32_t m);
/* The ensemble's posteriors (n, classes) and labels (n) for X (n, d), combined with the config's
 * strategy as `sisa predict` does. proba and label are the caller's. */
int sisa_gauge_ensemble_predict(sisa_gauge_ensemble *e, const float *X, uint64_t n, uint64_t d,
                                float *proba, int32_t *label);
void sisa_gauge_ensemble_free(sisa_gauge_ensemble *e);

#endif
