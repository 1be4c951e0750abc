/*
 * mlp.c - multilayer perceptron: hidden dense layers with ReLU, then a dense layer to C classes
 * and a softmax.
 *
 * Parameters w1 (d, h1), b1 (h1), ..., wL (h_{L-1}, C), bL (C), layers numbered from the input.
 * Forward, per hidden layer: Z = A W (sgemm), then bias and ReLU fused in one pass, keeping the
 * ReLU output A for the backward pass. Backward, from the top: dW = A_in^T dZ and db = column
 * sums of dZ for every layer; dA_in = dZ W^T and the ReLU mask for every layer but the first
 * (the input gradient of the first layer is never needed, and it would be the most expensive
 * product after the two of layer 1). Input gradients alternate between two scratch buffers.
 */
#include "model/kernels.h"
#include "model/model_internal.h"
#include "sisa/error.h"

static int mlp_layout(const sisa_model_spec *ms, uint32_t widths[SISA_MODEL_MAX_LAYERS + 1])
{
    int err = SISA_OK;
    SISA_CHECK(ms->n_hidden >= 1 && ms->n_hidden <= SISA_CONFIG_MAX_HIDDEN, SISA_ECONFIG,
               "model: mlp needs 1 to %d hidden layers, but %d were given", SISA_CONFIG_MAX_HIDDEN,
               (int)ms->n_hidden);
    SISA_CHECK(ms->activation == SISA_ACT_RELU, SISA_ECONFIG,
               "model: unknown activation %d (only relu is implemented)", (int)ms->activation);
    widths[0] = ms->d;
    for (int l = 0; l < ms->n_hidden; l++) {
        SISA_CHECK(ms->hidden[l] >= 1, SISA_ECONFIG,
                   "model: mlp hidden layer %d has %d units; each needs at least 1", l + 1,
                   (int)ms->hidden[l]);
        widths[l + 1] = (uint32_t)ms->hidden[l];
    }
    widths[ms->n_hidden + 1] = ms->classes;
    return ms->n_hidden + 1;
done:
    return err;
}

/* Hidden layers; returns the input of the last layer. */
static const float *hidden_forward(sisa_model *m, const float *X, uint32_t n)
{
    const float *A = X;
    for (int l = 0; l + 1 < m->n_layers; l++) {
        const sisa_dense *L = &m->layer[l];
        sisa_k_dense_forward(L->act, A, L->w, n, L->in, L->out);
        sisa_k_bias_relu(L->act, L->b, n, L->out);
        A = L->act;
    }
    return A;
}

void sisa_model__dense_forward(sisa_model *m, const float *X, uint32_t n, float *logits)
{
    const float *A = hidden_forward(m, X, n);
    const sisa_dense *top = &m->layer[m->n_layers - 1];
    sisa_k_dense_forward(logits, A, top->w, n, top->in, top->out);
    sisa_k_bias_add(logits, top->b, n, top->out);
}

void sisa_model__dense_backward(sisa_model *m, const float *X, uint32_t n, float *dX)
{
    const float *dZ = m->layer[m->n_layers - 1].act;
    for (int l = m->n_layers - 1; l >= 0; l--) {
        sisa_dense *L = &m->layer[l];
        const float *A_in = l > 0 ? m->layer[l - 1].act : X;
        sisa_k_weight_grad(L->dw, A_in, dZ, n, L->in, L->out);
        sisa_k_bias_grad(L->db, dZ, n, L->out);
        if (l > 0) {
            /* dZ is the top layer's act or dbuf[(l + 1) & 1]: never the buffer written here. */
            float *dA = m->dbuf[l & 1];
            sisa_k_input_grad(dA, dZ, L->w, n, L->in, L->out);
            sisa_k_relu_backward(dA, A_in, (size_t)n * L->in);
            dZ = dA;
        } else if (dX) {
            sisa_k_input_grad(dX, dZ, L->w, n, L->in, L->out);
        }
    }
}

static double mlp_forward_backward(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    sisa_dense *top = &m->layer[m->n_layers - 1];
    sisa_model__dense_forward(m, X, n, top->act);
    double loss = sisa_k_softmax_xent(top->act, y, n, top->out);
    sisa_model__dense_backward(m, X, n, NULL);
    return loss;
}

const sisa_model_ops sisa_model_mlp_ops = {
    .name = "mlp",
    .layout = mlp_layout,
    .init = sisa_model__init_he,
    .forward = sisa_model__dense_forward,
    .forward_backward = mlp_forward_backward,
};
