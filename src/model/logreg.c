/*
 * logreg.c - multinomial logistic regression: one dense layer d -> C and a softmax.
 *
 * Parameters w1 (d, C) and b1 (C). A training step is two matrix products (the logits X w1,
 * the weight gradient X^T dZ), a bias add, the fused softmax/cross-entropy/gradient kernel and
 * the bias gradient; there is no input gradient (nothing below the layer learns).
 */
#include "model/kernels.h"
#include "model/model_internal.h"
#include "sisa/error.h"

static int logreg_layout(const sisa_model_spec *ms, uint32_t widths[SISA_MODEL_MAX_LAYERS + 1])
{
    int err = SISA_OK;
    SISA_CHECK(ms->n_hidden == 0, SISA_ECONFIG,
               "model: logreg has no hidden layers, but %d were given", (int)ms->n_hidden);
    widths[0] = ms->d;
    widths[1] = ms->classes;
    return 1;
done:
    return err;
}

static void logreg_forward(sisa_model *m, const float *X, uint32_t n, float *logits)
{
    const sisa_dense *L = &m->layer[0];
    sisa_k_dense_forward(logits, X, L->w, n, L->in, L->out);
    sisa_k_bias_add(logits, L->b, n, L->out);
}

static double logreg_forward_backward(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    sisa_dense *L = &m->layer[0];
    logreg_forward(m, X, n, L->act);
    double loss = sisa_k_softmax_xent(L->act, y, n, L->out);
    sisa_k_weight_grad(L->dw, X, L->act, n, L->in, L->out);
    sisa_k_bias_grad(L->db, L->act, n, L->out);
    return loss;
}

const sisa_model_ops sisa_model_logreg_ops = {
    .name = "logreg",
    .layout = logreg_layout,
    .init = sisa_model__init_he,
    .forward = logreg_forward,
    .forward_backward = logreg_forward_backward,
};
