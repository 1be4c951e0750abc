/*
 * model.c - what every model type shares: the memory layout, the tensor list checkpoints use,
 * initialisation, the training step and prediction (see model.h and model_internal.h).
 *
 * Invariants:
 *  - params, grads and optimizer state are one 64-byte aligned allocation each, with the same
 *    layout (state holds one copy of it per moment); tensors are views. Checkpoints save and
 *    restore exactly the tensors listed by sisa_model_param / sisa_model_state plus the step
 *    count, and that is everything a step reads: gradients and activations are overwritten
 *    before they are read, so a restored model continues bit for bit like the original.
 *  - every size is checked and every buffer allocated in sisa_model_create; train_step and
 *    predict allocate nothing (tests/test_model.c counts allocations to prove it).
 *  - a step is a pure function of (parameters, optimizer state, step count, batch), given the
 *    floating-point environment (sisa_model_fp_setup).
 */
#include "model/model.h"

#include "base/rng.h"
#include "model/kernels.h"
#include "model/model_internal.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_BYTES  64
#define ALIGN_FLOATS (ALIGN_BYTES / sizeof(float))
/* No model comes near this; it keeps every size computation far from overflow. */
#define MAX_FLOATS ((uint64_t)1 << 40)
/* Dimensions are passed to OpenBLAS as int. */
#define MAX_DIM ((uint64_t)INT32_MAX)

static const sisa_model_ops *ops_for(sisa_model_type t)
{
    switch (t) {
    case SISA_MODEL_LOGREG:
        return &sisa_model_logreg_ops;
    case SISA_MODEL_MLP:
        return &sisa_model_mlp_ops;
    case SISA_MODEL_KNN:
        return &sisa_model_knn_ops;
    case SISA_MODEL_CNN:
        return &sisa_model_cnn_ops;
    }
    return NULL;
}

void sisa_model_specs_from_config(sisa_model_spec *ms, sisa_optim_spec *os, const sisa_config *cfg,
                                  uint32_t d, uint32_t classes, uint32_t max_batch)
{
    /* Whole-struct zeroing first, so that specs can be compared or hashed as bytes. */
    memset(ms, 0, sizeof *ms);
    memset(os, 0, sizeof *os);
    ms->type = cfg->model.type;
    ms->d = d;
    ms->classes = classes;
    if (cfg->model.type == SISA_MODEL_MLP || cfg->model.type == SISA_MODEL_CNN) {
        ms->n_hidden = cfg->model.n_hidden;
        for (int l = 0; l < cfg->model.n_hidden && l < SISA_CONFIG_MAX_HIDDEN; l++)
            ms->hidden[l] = cfg->model.hidden[l];
    }
    if (cfg->model.type == SISA_MODEL_CNN) {
        ms->n_conv = cfg->model.n_conv;
        for (int l = 0; l < cfg->model.n_conv && l < SISA_CONFIG_MAX_CONV; l++)
            ms->conv[l] = cfg->model.conv[l];
        ms->kernel = (uint32_t)cfg->model.kernel;
        ms->pool = (uint32_t)cfg->model.pool;
        if (cfg->model.n_input == 3) {
            ms->in_c = (uint32_t)cfg->model.input[0];
            ms->in_h = (uint32_t)cfg->model.input[1];
            ms->in_w = (uint32_t)cfg->model.input[2];
        }
    }
    ms->activation = cfg->model.activation;
    ms->max_batch = max_batch;

    os->kind = cfg->train.optimizer;
    os->lr = (float)cfg->train.lr;
    os->schedule = cfg->train.schedule;
    os->final_lr_fraction = (float)cfg->train.final_lr_fraction;
    os->momentum = (float)cfg->train.momentum;
    os->nesterov = cfg->train.nesterov ? 1 : 0;
    os->beta1 = (float)cfg->train.beta1;
    os->beta2 = (float)cfg->train.beta2;
    os->eps = (float)cfg->train.eps;
    os->weight_decay = (float)cfg->train.weight_decay;
}

static int check_optim(const sisa_optim_spec *os)
{
    int err = SISA_OK;
    SISA_CHECK(isfinite(os->lr) && os->lr > 0.0f, SISA_ECONFIG,
               "model: learning rate %g must be a finite number > 0", (double)os->lr);
    SISA_CHECK(isfinite(os->weight_decay) && os->weight_decay >= 0.0f, SISA_ECONFIG,
               "model: weight_decay %g must be a finite number >= 0", (double)os->weight_decay);
    SISA_CHECK(os->schedule == SISA_SCHED_CONSTANT || os->schedule == SISA_SCHED_COSINE,
               SISA_ECONFIG, "model: unknown learning-rate schedule %d", (int)os->schedule);
    SISA_CHECK(os->final_lr_fraction >= 0.0f && os->final_lr_fraction <= 1.0f, SISA_ECONFIG,
               "model: final_lr_fraction %g must be in [0, 1]", (double)os->final_lr_fraction);
    switch (os->kind) {
    case SISA_OPT_SGD:
        SISA_CHECK(os->momentum >= 0.0f && os->momentum < 1.0f, SISA_ECONFIG,
                   "model: sgd momentum %g must be in [0, 1)", (double)os->momentum);
        SISA_CHECK(!os->nesterov || os->momentum > 0.0f, SISA_ECONFIG,
                   "model: nesterov needs momentum > 0 (momentum is 0)");
        break;
    case SISA_OPT_ADAM:
        SISA_CHECK(os->beta1 >= 0.0f && os->beta1 < 1.0f, SISA_ECONFIG,
                   "model: adam beta1 %g must be in [0, 1)", (double)os->beta1);
        SISA_CHECK(os->beta2 >= 0.0f && os->beta2 < 1.0f, SISA_ECONFIG,
                   "model: adam beta2 %g must be in [0, 1)", (double)os->beta2);
        SISA_CHECK(isfinite(os->eps) && os->eps > 0.0f, SISA_ECONFIG,
                   "model: adam eps %g must be a finite number > 0", (double)os->eps);
        break;
    default:
        SISA_FAIL(SISA_ECONFIG, "model: unknown optimizer %d", (int)os->kind);
    }
done:
    return err;
}

/* Round a float count up to whole 64-byte blocks. */
static uint64_t padded(uint64_t floats)
{
    return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* *total += padded(a * b), refusing anything beyond MAX_FLOATS. a, b <= MAX_DIM, so a * b
 * cannot overflow 64 bits. */
static int grow(uint64_t *total, uint64_t a, uint64_t b)
{
    uint64_t p = a * b;
    if (p > MAX_FLOATS || *total > MAX_FLOATS - padded(p)) return 0;
    *total += padded(p);
    return 1;
}

static float *alloc_floats(uint64_t count)
{
    if (count == 0) return NULL;
    float *p = sisa_aligned_alloc(ALIGN_BYTES, (size_t)count * sizeof(float));
    if (p) memset(p, 0, (size_t)count * sizeof(float));
    return p;
}

static void set_tensor(sisa_tensor *t, const char *prefix, char kind, int layer, float *data,
                       uint64_t rows, uint64_t cols)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s%c%d", prefix, kind, layer);
    t->data = data;
    t->rank = kind == 'w' ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = kind == 'w' ? cols : 1;
}

int sisa_model_create(sisa_model **out, const sisa_model_spec *ms, const sisa_optim_spec *os)
{
    int err = SISA_OK;
    sisa_model *m = NULL;
    uint32_t widths[SISA_MODEL_MAX_LAYERS + 1];
    *out = NULL;

    const sisa_model_ops *ops = ops_for(ms->type);
    SISA_CHECK(ops != NULL, SISA_ECONFIG, "model: unknown model type %d", (int)ms->type);
    SISA_CHECK(ms->d >= 1 && ms->d <= MAX_DIM, SISA_ECONFIG,
               "model: %s needs at least 1 input feature, the data has %u", ops->name,
               (unsigned)ms->d);
    SISA_CHECK(ms->classes >= 2 && ms->classes <= MAX_DIM, SISA_ECONFIG,
               "model: %s needs at least 2 classes, the data has %u", ops->name,
               (unsigned)ms->classes);
    SISA_CHECK(ms->max_batch >= 1 && ms->max_batch <= MAX_DIM, SISA_ECONFIG,
               "model: batch size %u must be between 1 and %d", (unsigned)ms->max_batch, INT32_MAX);
    int layers = ops->layout(ms, widths);
    if (layers < 0) {
        err = layers;
        goto done;
    }
    sisa_conv conv[SISA_CONFIG_MAX_CONV];
    int n_conv = 0;
    if (ms->type == SISA_MODEL_CNN) {
        n_conv = sisa_model__conv_geometry(ms, conv);
        if (n_conv < 0) {
            err = n_conv;
            goto done;
        }
    }
    SISA_TRY(check_optim(os));

    m = sisa_calloc(1, sizeof *m);
    SISA_CHECK(m, SISA_ENOMEM, "model: out of memory creating a %s", ops->name);
    m->spec = *ms;
    m->opt = *os;
    m->lr = os->lr;
    m->ops = ops;
    m->n_layers = layers;

    /* Sizes: parameters (= gradients = one copy of state), then scratch: the convolutions'
     * first (parameters in front of the dense layers'), their buffers after the dense ones. */
    uint64_t n_params = 0, n_scratch = 0, widest_hidden = 0, n_iscratch = 0;
    uint64_t conv_scratch = 0, dact = 0, dcols = 0, dpool = 0;
    for (int l = 0; l < n_conv; l++) {
        const sisa_conv *C = &conv[l];
        const uint64_t rows = (uint64_t)ms->max_batch * C->h * C->w;
        const uint64_t prows = (uint64_t)ms->max_batch * C->ph * C->pw;
        int ok = rows <= MAX_DIM && grow(&n_params, C->kk, C->cout) &&
                 grow(&n_params, C->cout, 1) && grow(&conv_scratch, rows, C->kk) &&
                 grow(&conv_scratch, rows, C->cout) &&
                 (C->pool == 1 || grow(&conv_scratch, prows, C->cout)) &&
                 (C->pool == 1 || grow(&n_iscratch, prows, C->cout));
        SISA_CHECK(ok, SISA_ENOMEM,
                   "model: cnn convolution %d (%u x %u x %u -> %u channels, batch %u) is too "
                   "large to allocate",
                   l + 1, (unsigned)C->cin, (unsigned)C->h, (unsigned)C->w, (unsigned)C->cout,
                   (unsigned)ms->max_batch);
        if (C->pool > 1 && rows * C->cout > dact) dact = rows * C->cout;
        if (l > 0 && rows * C->kk > dcols) dcols = rows * C->kk;
        if (prows * C->cout > dpool) dpool = prows * C->cout;
    }
    if (ms->inference) dact = dcols = dpool = 0; /* backward only */
    SISA_CHECK(grow(&conv_scratch, 1, dact) && grow(&conv_scratch, 1, dcols) &&
                   grow(&conv_scratch, 2, padded(dpool)),
               SISA_ENOMEM, "model: cnn scratch for batch %u is too large to allocate",
               (unsigned)ms->max_batch);
    for (int l = 0; l < layers; l++) {
        int ok = grow(&n_params, widths[l], widths[l + 1]) && grow(&n_params, widths[l + 1], 1) &&
                 grow(&n_scratch, ms->max_batch, widths[l + 1]);
        SISA_CHECK(ok, SISA_ENOMEM,
                   "model: %s layer %d (%u x %u, batch %u) is too large to allocate", ops->name,
                   l + 1, (unsigned)widths[l], (unsigned)widths[l + 1], (unsigned)ms->max_batch);
        if (l > 0 && widths[l] > widest_hidden) widest_hidden = widths[l];
    }
    uint64_t dbuf = padded((uint64_t)ms->max_batch * widest_hidden);
    SISA_CHECK(grow(&n_scratch, 2, dbuf) && grow(&n_scratch, 1, conv_scratch), SISA_ENOMEM,
               "model: %s scratch for batch %u is too large to allocate", ops->name,
               (unsigned)ms->max_batch);
    int copies = 0;
    if (os->kind == SISA_OPT_ADAM) copies = 2;
    if (os->kind == SISA_OPT_SGD && os->momentum > 0.0f) copies = 1;

    m->n_params = (size_t)n_params;
    m->n_state = (size_t)n_params * (size_t)copies;
    m->params = alloc_floats(n_params);
    m->grads = alloc_floats(n_params);
    m->state = alloc_floats(m->n_state);
    m->scratch = alloc_floats(n_scratch);
    if (n_iscratch) {
        m->iscratch = sisa_aligned_alloc(ALIGN_BYTES, (size_t)n_iscratch * sizeof(uint32_t));
        if (m->iscratch) memset(m->iscratch, 0, (size_t)n_iscratch * sizeof(uint32_t));
    }
    /* knn has no layers: nothing to allocate. */
    SISA_CHECK(
        (m->params || !n_params) && (m->grads || !n_params) && (m->state || !m->n_state) &&
            (m->scratch || !n_scratch) && (m->iscratch || !n_iscratch),
        SISA_ENOMEM, "model: out of memory allocating %.1f MiB for a %s with %llu parameters",
        (double)(n_params * (2 + (uint64_t)copies) + n_scratch) * sizeof(float) / (1024.0 * 1024.0),
        ops->name, (unsigned long long)n_params);

    /* Views. */
    size_t off = 0, soff = 0, ioff = 0;
    m->n_conv = n_conv;
    for (int l = 0; l < n_conv; l++) {
        sisa_conv *C = &m->conv[l];
        *C = conv[l];
        size_t wsz = (size_t)padded((uint64_t)C->kk * C->cout), bsz = (size_t)padded(C->cout);
        C->wt = m->params + off;
        C->dwt = m->grads + off;
        C->bias = m->params + off + wsz;
        C->dbias = m->grads + off + wsz;
        set_tensor(&m->param_t[m->n_param_t++], "c", 'w', l + 1, C->wt, C->kk, C->cout);
        set_tensor(&m->param_t[m->n_param_t++], "c", 'b', l + 1, C->bias, C->cout, 1);
        off += wsz + bsz;
    }
    for (int l = 0; l < layers; l++) {
        sisa_dense *L = &m->layer[l];
        L->in = widths[l];
        L->out = widths[l + 1];
        size_t wsz = (size_t)padded((uint64_t)L->in * L->out), bsz = (size_t)padded(L->out);
        L->w = m->params + off;
        L->dw = m->grads + off;
        set_tensor(&m->param_t[m->n_param_t++], "", 'w', l + 1, L->w, L->in, L->out);
        L->b = m->params + off + wsz;
        L->db = m->grads + off + wsz;
        set_tensor(&m->param_t[m->n_param_t++], "", 'b', l + 1, L->b, L->out, 1);
        off += wsz + bsz;
        L->act = m->scratch + soff;
        soff += (size_t)padded((uint64_t)ms->max_batch * L->out);
    }
    m->dbuf[0] = m->scratch + soff;
    m->dbuf[1] = m->scratch + soff + dbuf;
    soff += 2 * (size_t)dbuf;
    for (int l = 0; l < n_conv; l++) {
        sisa_conv *C = &m->conv[l];
        const size_t rows = (size_t)ms->max_batch * C->h * C->w;
        const size_t prows = (size_t)ms->max_batch * C->ph * C->pw;
        C->cols = m->scratch + soff;
        soff += (size_t)padded((uint64_t)rows * C->kk);
        C->act = m->scratch + soff;
        soff += (size_t)padded((uint64_t)rows * C->cout);
        C->out = C->act;
        C->arg = NULL;
        if (C->pool > 1) {
            C->out = m->scratch + soff;
            soff += (size_t)padded((uint64_t)prows * C->cout);
            C->arg = m->iscratch + ioff;
            ioff += (size_t)padded((uint64_t)prows * C->cout);
        }
    }
    if (n_conv && !ms->inference) {
        m->dact = m->scratch + soff;
        soff += (size_t)padded(dact);
        m->dcols = m->scratch + soff;
        soff += (size_t)padded(dcols);
        m->dpool[0] = m->scratch + soff;
        m->dpool[1] = m->scratch + soff + (size_t)padded(dpool);
    }

    static const char *const prefixes[2][2] = {{"velocity.", NULL}, {"m.", "v."}};
    for (int c = 0; c < copies; c++) {
        const char *prefix = prefixes[os->kind == SISA_OPT_ADAM][c];
        for (int i = 0; i < m->n_param_t; i++) {
            const sisa_tensor *p = &m->param_t[i];
            sisa_tensor *s = &m->state_t[m->n_state_t++];
            *s = *p;
            snprintf(s->name, sizeof s->name, "%s%s", prefix, p->name);
            s->data = m->state + (size_t)c * m->n_params + (size_t)(p->data - m->params);
        }
    }

    *out = m;
    m = NULL;
done:
    sisa_model_destroy(m);
    return err;
}

void sisa_model_destroy(sisa_model *m)
{
    if (!m) return;
    sisa_free(m->params);
    sisa_free(m->grads);
    sisa_free(m->state);
    sisa_free(m->scratch);
    sisa_free(m->iscratch);
    sisa_free(m);
}

void sisa_model__init_he(sisa_model *m, sisa_rng *r)
{
    for (int l = 0; l < m->n_layers; l++) {
        sisa_dense *L = &m->layer[l];
        double limit = sqrt(6.0 / (double)L->in);
        size_t count = (size_t)L->in * L->out;
        for (size_t k = 0; k < count; k++) {
            double u = (double)sisa_rng_uniform(r);
            L->w[k] = (float)((2.0 * u - 1.0) * limit);
        }
    }
}

void sisa_model_init(sisa_model *m, uint64_t seed, uint32_t shard)
{
    if (m->n_params) {
        memset(m->params, 0, m->n_params * sizeof(float));
        memset(m->grads, 0, m->n_params * sizeof(float));
    }
    if (m->n_state) memset(m->state, 0, m->n_state * sizeof(float));
    m->steps = 0;
    m->lr = m->opt.lr;
    sisa_rng r;
    sisa_rng_init(&r, seed, SISA_RNG_INIT, shard, 0, 0);
    m->ops->init(m, &r);
}

static void optim_step(sisa_model *m)
{
    sisa_optim_spec o = m->opt;
    o.lr = m->lr;
    m->steps++;
    if (o.kind == SISA_OPT_ADAM)
        sisa_k_adam(m->params, m->grads, m->state, m->state + m->n_params, m->n_params, &o,
                    m->steps);
    else
        sisa_k_sgd(m->params, m->grads, m->state, m->n_params, &o);
}

void sisa_model_set_lr(sisa_model *m, float lr)
{
    m->lr = lr;
}

float sisa_model_train_step(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    /* Caller bugs (datasets are validated when read): report NaN and leave the model as is. */
    if (n < 1 || n > m->spec.max_batch || m->spec.inference) return NAN;
    for (uint32_t i = 0; i < n; i++)
        if (y[i] < 0 || (uint32_t)y[i] >= m->spec.classes) return NAN;

    double loss = m->ops->forward_backward(m, X, y, n);
    optim_step(m);
    return (float)loss;
}

void sisa_model_predict(sisa_model *m, const float *X, uint32_t n, float *proba)
{
    if (n > m->spec.max_batch) {
        for (size_t k = 0; k < (size_t)n * m->spec.classes; k++) proba[k] = NAN;
        return;
    }
    if (n == 0) return;
    m->ops->forward(m, X, n, proba);
    sisa_k_softmax(proba, n, m->spec.classes);
}

int sisa_model_param_count(const sisa_model *m)
{
    return m->n_param_t;
}

const sisa_tensor *sisa_model_param(const sisa_model *m, int i)
{
    return i >= 0 && i < m->n_param_t ? &m->param_t[i] : NULL;
}

int sisa_model_state_count(const sisa_model *m)
{
    return m->n_state_t;
}

const sisa_tensor *sisa_model_state(const sisa_model *m, int i)
{
    return i >= 0 && i < m->n_state_t ? &m->state_t[i] : NULL;
}

uint64_t sisa_model_steps(const sisa_model *m)
{
    return m->steps;
}

void sisa_model_set_steps(sisa_model *m, uint64_t steps)
{
    m->steps = steps;
}

const sisa_model_spec *sisa_model_get_spec(const sisa_model *m)
{
    return &m->spec;
}

/* 0 for a spec sisa_model_create would refuse (the refusal's message is left in the error
 * slot). */
double sisa_model_train_flops_per_sample(const sisa_model_spec *ms)
{
    uint32_t widths[SISA_MODEL_MAX_LAYERS + 1];
    const sisa_model_ops *ops = ops_for(ms->type);
    int layers = ops ? ops->layout(ms, widths) : -1;
    if (layers < 1) return 0.0;
    double flops = 0.0, params = 0.0;
    for (int l = 0; l < layers; l++) {
        double in = widths[l], out = widths[l + 1];
        params += in * out + out;
        flops += 2.0 * in * out + out;           /* forward product, bias */
        flops += 2.0 * in * out + out;           /* weight gradient, bias gradient */
        if (l + 1 < layers) flops += out;        /* ReLU */
        if (l > 0) flops += 2.0 * in * out + in; /* input gradient, ReLU mask */
    }
    flops += 5.0 * widths[layers]; /* max, exp, sum, divide, gradient */
    sisa_conv conv[SISA_CONFIG_MAX_CONV];
    const int n_conv = ms->type == SISA_MODEL_CNN ? sisa_model__conv_geometry(ms, conv) : 0;
    if (n_conv < 0) return 0.0;
    if (n_conv) flops += 2.0 * widths[0] * widths[1]; /* the dense input gradient */
    for (int l = 0; l < n_conv; l++) {
        const sisa_conv *C = &conv[l];
        const double px = (double)C->h * C->w, kk = C->kk, co = C->cout;
        params += kk * co + co;
        flops += 2.0 * px * kk * co + 2.0 * px * co; /* forward product, bias and ReLU */
        flops += 2.0 * px * kk * co + px * co;       /* weight gradient, bias gradient */
        flops += 2.0 * px * co;                      /* pooling forward and backward, ReLU mask */
        if (l > 0) flops += 2.0 * px * kk * co + px * kk; /* input gradient, col2im */
    }
    /* The update, at its simplest (w -= lr g), shared by the samples of a full batch. */
    flops += 2.0 * params / (double)(ms->max_batch ? ms->max_batch : 1);
    return flops;
}
