/*
 * approx.c - approximate unlearning methods applied in memory (gauge/approx.h).
 */
#include "gauge/approx.h"

#include "aggregate/aggregate.h"
#include "base/mem.h"
#include "base/rng.h"
#include "dist/dist.h"
#include "io/store_io.h"
#include "model/model.h"
#include "run/run.h"
#include "shard/predict.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdlib.h>
#include <string.h>

#define RNG_GAUGE_APPROX 6 /* Philox domain of the methods' batch orders */

static const char *const methods[] = {"finetune", "gradient-ascent", "neggrad", "random-labels"};

int sisa_gauge_approx_known(const char *name)
{
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
        if (!strcmp(name, methods[k])) return 1;
    return 0;
}

static uint32_t method_id(const char *name)
{
    for (uint32_t k = 0; k < sizeof methods / sizeof *methods; k++)
        if (!strcmp(name, methods[k])) return k;
    return UINT32_MAX;
}

struct sisa_gauge_ensemble {
    sisa_config cfg;
    uint32_t n_models, d, classes;
    sisa_model **models; /* (n_models) */
    double *weights;     /* (n_models) the shards' rows, for the weighted strategy */
    float **proba;       /* (n_models) one block of posteriors each */
};

void sisa_gauge_ensemble_free(sisa_gauge_ensemble *e)
{
    if (!e) return;
    for (uint32_t k = 0; k < e->n_models; k++) {
        sisa_model_destroy(e->models[k]);
        if (e->proba) sisa_free(e->proba[k]);
    }
    sisa_free(e->models);
    sisa_free(e->weights);
    sisa_free(e->proba);
    sisa_free(e);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Load the checkpoint into a model with the store's optimizer, then copy its parameters into a
 * fresh SGD model (rate lr, momentum mom) that the method trains. */
static int load_model(sisa_model **out, const sisa_config *cfg, const char *ckpt, uint32_t d,
                      uint32_t classes, uint32_t max_batch, float lr, float mom)
{
    int err = SISA_OK;
    sisa_model *a = NULL, *b = NULL;
    sisa_tensor *params = NULL, *state = NULL;
    sisa_model_spec ms;
    sisa_optim_spec os;
    *out = NULL;
    sisa_model_specs_from_config(&ms, &os, cfg, d, classes, max_batch);
    SISA_TRY(sisa_model_create(&a, &ms, &os));
    int np = sisa_model_param_count(a), ns = sisa_model_state_count(a);
    params = sisa_malloc((size_t)(np ? np : 1) * sizeof *params);
    state = sisa_malloc((size_t)(ns ? ns : 1) * sizeof *state);
    SISA_CHECK(params && state, SISA_ENOMEM, "out of memory");
    for (int i = 0; i < np; i++) params[i] = *sisa_model_param(a, i);
    for (int i = 0; i < ns; i++) state[i] = *sisa_model_state(a, i);
    sisa_ckpt_meta meta;
    SISA_TRY(sisa_ckpt_read(&meta, ckpt, params, np, state, ns));
    sisa_optim_spec sgd;
    memset(&sgd, 0, sizeof sgd);
    sgd.kind = SISA_OPT_SGD;
    sgd.lr = lr;
    sgd.schedule = SISA_SCHED_CONSTANT;
    sgd.final_lr_fraction = 1;
    sgd.momentum = mom;
    SISA_TRY(sisa_model_create(&b, &ms, &sgd));
    SISA_CHECK(sisa_model_param_count(b) == np, SISA_EINTERNAL, "parameter counts differ");
    for (int i = 0; i < np; i++) {
        const sisa_tensor *src = sisa_model_param(a, i), *dst = sisa_model_param(b, i);
        memcpy(dst->data, src->data, src->shape[0] * src->shape[1] * sizeof(float));
    }
    sisa_model_set_lr(b, lr);
    *out = b;
    b = NULL;
done:
    sisa_free(params);
    sisa_free(state);
    sisa_model_destroy(a);
    sisa_model_destroy(b);
    return err;
}

/* One SGD step on rows idx[0..n) of (X, y), labels from `y` (or `ylab` when not NULL). */
static void step(sisa_model *m, const sisa_shard_data *sd, const uint32_t *idx, uint32_t n,
                 const int32_t *ylab, float lr, float *xb, int32_t *yb)
{
    for (uint32_t i = 0; i < n; i++) {
        memcpy(xb + (size_t)i * sd->d, sd->X + (size_t)idx[i] * sd->d, sd->d * sizeof *xb);
        yb[i] = ylab ? ylab[idx[i]] : sd->y[idx[i]];
    }
    sisa_model_set_lr(m, lr);
    sisa_model_train_step(m, xb, yb, n);
}

/* Apply the method to one shard's model. `fg` (nf) and `rt` (nr) index the shard's forget and
 * retained rows. */
static int apply(sisa_model *m, uint32_t method, const sisa_gauge_approx_opts *o,
                 const sisa_shard_data *sd, uint32_t *fg, uint32_t nf, uint32_t *rt, uint32_t nr,
                 uint32_t batch, uint64_t seed, uint32_t shard)
{
    int err = SISA_OK;
    float *xb = sisa_malloc((size_t)batch * sd->d * sizeof *xb);
    int32_t *yb = sisa_malloc(batch * sizeof *yb);
    int32_t *ylab = NULL;
    uint32_t *all = NULL;
    SISA_CHECK(xb && yb, SISA_ENOMEM, "out of memory");
    sisa_rng r;
    sisa_rng_init(&r, seed, RNG_GAUGE_APPROX, shard, method, 0);
    const float lr = 1e-3f;
    switch (method) {
    case 0: /* finetune */
        sisa_rng_shuffle(&r, rt, nr);
        for (uint32_t i = 0; i < nr; i += batch)
            step(m, sd, rt + i, nr - i < batch ? nr - i : batch, NULL, lr, xb, yb);
        break;
    case 1: { /* gradient-ascent */
        const uint32_t steps = o->ascent_steps ? o->ascent_steps : 10;
        const float alr = (float)(o->ascent_lr > 0 ? o->ascent_lr : 1e-3);
        uint32_t pos = nf;
        for (uint32_t s = 0; s < steps; s++) {
            if (pos >= nf) {
                sisa_rng_shuffle(&r, fg, nf);
                pos = 0;
            }
            uint32_t n = nf - pos < batch ? nf - pos : batch;
            step(m, sd, fg + pos, n, NULL, -alr, xb, yb);
            pos += n;
        }
        break;
    }
    case 2: { /* neggrad: NegGrad+ */
        const float beta = (float)(o->beta > 0 ? o->beta : 0.9);
        uint32_t pos = nf;
        sisa_rng_shuffle(&r, rt, nr);
        for (uint32_t i = 0; i < nr; i += batch) {
            step(m, sd, rt + i, nr - i < batch ? nr - i : batch, NULL, beta * lr, xb, yb);
            if (pos >= nf) {
                sisa_rng_shuffle(&r, fg, nf);
                pos = 0;
            }
            uint32_t n = nf - pos < batch ? nf - pos : batch;
            step(m, sd, fg + pos, n, NULL, -(1 - beta) * lr, xb, yb);
            pos += n;
        }
        break;
    }
    case 3: { /* random-labels */
        const uint32_t C = (uint32_t)sd->num_classes;
        ylab = sisa_malloc(sd->n * sizeof *ylab);
        all = sisa_malloc(((size_t)nf + nr) * sizeof *all);
        SISA_CHECK(ylab && all, SISA_ENOMEM, "out of memory");
        memcpy(ylab, sd->y, sd->n * sizeof *ylab);
        for (uint32_t i = 0; i < nf; i++)
            ylab[fg[i]] = (int32_t)(((uint32_t)sd->y[fg[i]] + 1 + sisa_rng_below(&r, C - 1)) % C);
        memcpy(all, rt, nr * sizeof *all);
        memcpy(all + nr, fg, nf * sizeof *all);
        sisa_rng_shuffle(&r, all, nf + nr);
        for (uint32_t i = 0; i < nf + nr; i += batch)
            step(m, sd, all + i, nf + nr - i < batch ? nf + nr - i : batch, ylab, lr, xb, yb);
        break;
    }
    default:
        SISA_FAIL(SISA_EINTERNAL, "unknown approximate method %u", method);
    }
done:
    sisa_free(xb);
    sisa_free(yb);
    sisa_free(ylab);
    sisa_free(all);
    return err;
}

int sisa_gauge_ensemble_load(sisa_gauge_ensemble **out, const sisa_config *cfg_in,
                             const char *method, const sisa_gauge_approx_opts *opts,
                             const uint64_t *forget, uint32_t m)
{
    int err = SISA_OK;
    sisa_dist *d = NULL;
    sisa_store st = {.lock_fd = -1};
    sisa_gauge_ensemble *e = NULL;
    sisa_shard_data *sd = NULL;
    uint32_t *fg = NULL, *rt = NULL;
    sisa_config cfg = *cfg_in;
    const uint32_t mid = method_id(method);
    *out = NULL;
    SISA_CHECK(mid != UINT32_MAX, SISA_EUSAGE, "unknown approximate method '%s'", method);
    SISA_TRY(sisa_dist_single(&d));
    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, NULL, SISA_STORE_READ, &oo));
    const uint32_t S = (uint32_t)st.cfg.sisa.shards;
    const uint32_t batch = (uint32_t)st.cfg.train.batch_size;
    const uint32_t max_batch = batch > SISA_PREDICT_BLOCK ? batch : SISA_PREDICT_BLOCK;
    e = sisa_calloc(1, sizeof *e);
    SISA_CHECK(e, SISA_ENOMEM, "out of memory");
    e->cfg = st.cfg;
    e->models = sisa_calloc(S, sizeof *e->models);
    e->weights = sisa_calloc(S, sizeof *e->weights);
    SISA_CHECK(e->models && e->weights, SISA_ENOMEM, "out of memory");
    const float mom = (mid == 0 || mid == 3) ? 0.9f : 0.0f;
    for (uint32_t k = 0; k < S; k++) {
        char ckpt[SISA_PATH_MAX], data[SISA_PATH_MAX];
        sisa_ckpt_meta meta;
        const char *why = NULL;
        uint64_t rows = 0;
        int usable = sisa_shard_final_ckpt(&st, k, ckpt, sizeof ckpt, &meta, &rows, &why);
        SISA_TRY(usable);
        if (!usable) continue; /* left out, as sisa predict does */
        SISA_TRY(sisa_store_data_path(&st, k, data, sizeof data));
        SISA_TRY(sisa_shard_data_read(&sd, data));
        SISA_CHECK(sd->n < UINT32_MAX, SISA_EUSAGE, "shard %u: too many rows", k);
        if (!e->d) {
            e->d = (uint32_t)sd->d;
            e->classes = (uint32_t)sd->num_classes;
        }
        sisa_model *mod = NULL;
        SISA_TRY(load_model(&mod, &st.cfg, ckpt, e->d, e->classes, max_batch, 1e-3f, mom));
        e->models[e->n_models] = mod;
        e->weights[e->n_models] = (double)rows;
        e->n_models++;
        fg = sisa_malloc((sd->n ? sd->n : 1) * sizeof *fg);
        rt = sisa_malloc((sd->n ? sd->n : 1) * sizeof *rt);
        SISA_CHECK(fg && rt, SISA_ENOMEM, "out of memory");
        uint32_t nf = 0, nr = 0;
        for (uint32_t i = 0; i < sd->n; i++) {
            if (bsearch(&sd->id[i], forget, m, sizeof *forget, cmp_u64))
                fg[nf++] = i;
            else
                rt[nr++] = i;
        }
        if (nf > 0) SISA_TRY(apply(mod, mid, opts, sd, fg, nf, rt, nr, batch, st.cfg.seed, k));
        sisa_free(fg);
        sisa_free(rt);
        fg = rt = NULL;
        sisa_shard_data_free(sd);
        sd = NULL;
    }
    SISA_CHECK(e->n_models > 0, SISA_EUSAGE, "store %s has no trained shard model", st.root);
    e->proba = sisa_calloc(e->n_models, sizeof *e->proba);
    SISA_CHECK(e->proba, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < e->n_models; k++) {
        e->proba[k] = sisa_malloc((size_t)SISA_PREDICT_BLOCK * e->classes * sizeof(float));
        SISA_CHECK(e->proba[k], SISA_ENOMEM, "out of memory");
    }
    *out = e;
    e = NULL;
done:
    sisa_free(fg);
    sisa_free(rt);
    sisa_shard_data_free(sd);
    sisa_gauge_ensemble_free(e);
    sisa_store_close(&st);
    sisa_dist_free(d);
    return err;
}

int sisa_gauge_ensemble_predict(sisa_gauge_ensemble *e, const float *X, uint64_t n, uint64_t d,
                                float *proba, int32_t *label)
{
    if (d != e->d)
        return SISA_ERR(SISA_EUSAGE, "rows of %llu features for models of %u",
                        (unsigned long long)d, e->d);
    for (uint64_t r0 = 0; r0 < n; r0 += SISA_PREDICT_BLOCK) {
        uint32_t nb = (uint32_t)(n - r0 < SISA_PREDICT_BLOCK ? n - r0 : SISA_PREDICT_BLOCK);
        for (uint32_t k = 0; k < e->n_models; k++)
            sisa_model_predict(e->models[k], X + r0 * d, nb, e->proba[k]);
        int err =
            sisa_aggregate(e->cfg.aggregate.strategy, e->n_models, (const float *const *)e->proba,
                           e->weights, nb, e->classes, proba + r0 * e->classes, label + r0);
        if (err) return err;
    }
    return SISA_OK;
}
