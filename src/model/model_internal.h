/*
 * model_internal.h - the model object and its table of operations (private to src/model).
 *
 * Every model is a stack of dense layers: logreg is one layer d -> C, mlp is hidden ReLU
 * layers followed by a layer to C. What differs between model types lives in a
 * sisa_model_ops table (logreg.c, mlp.c); what they share - memory layout, initialisation,
 * optimizers, the tensor list - lives in model.c.
 *
 * Memory (all 64-byte aligned, each ONE allocation made at create, never resized):
 *   params   w1 b1 w2 b2 ... wL bL, each tensor starting on a 64-byte boundary; the padding
 *            between tensors is zero and stays zero under every optimizer
 *   grads    the same layout as params
 *   state    sgd with momentum: one copy of the layout (velocity); adam: two (m, then v);
 *            plain sgd: none (NULL)
 *   scratch  per layer its output for max_batch rows, then two ping-pong buffers for the input
 *            gradients of hidden layers
 * After create, train_step and predict only read and write these: they allocate nothing.
 */
#ifndef SISA_MODEL_MODEL_INTERNAL_H
#define SISA_MODEL_MODEL_INTERNAL_H

#include "base/rng.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

#define SISA_MODEL_MAX_LAYERS (SISA_CONFIG_MAX_HIDDEN + 1)

typedef struct sisa_dense {
    uint32_t in, out;
    float *w;   /* (in, out) row-major, view into params */
    float *b;   /* (out) */
    float *dw;  /* (in, out), view into grads */
    float *db;  /* (out) */
    float *act; /* (max_batch, out): hidden layers keep their ReLU output here for the backward
                 * pass; the last layer holds the logits, then dZ = (P - onehot) / n */
} sisa_dense;

typedef struct sisa_model_ops {
    const char *name; /* "logreg", "mlp" */
    /* Check the parts of `ms` this model type reads and fill the layer widths: widths[0] = d,
     * widths[l] = fan-out of layer l, widths[L] = classes. Returns L >= 1, or a negative code
     * with a message naming the problem. */
    int (*layout)(const sisa_model_spec *ms, uint32_t widths[SISA_MODEL_MAX_LAYERS + 1]);
    /* Initial parameters from the (seed, shard) stream `r` (params are zero on entry). */
    void (*init)(sisa_model *m, sisa_rng *r);
    /* Logits (n, classes) of X (n, d) into `logits`, which may be the last layer's act. */
    void (*forward)(sisa_model *m, const float *X, uint32_t n, float *logits);
    /* Forward pass, mean cross-entropy and backward pass: overwrites every gradient. Returns
     * the mean loss of the batch. */
    double (*forward_backward)(sisa_model *m, const float *X, const int32_t *y, uint32_t n);
} sisa_model_ops;

struct sisa_model {
    sisa_model_spec spec;
    sisa_optim_spec opt;
    const sisa_model_ops *ops;
    int n_layers;
    sisa_dense layer[SISA_MODEL_MAX_LAYERS];
    float *params;  /* (n_params) */
    float *grads;   /* (n_params) */
    float *state;   /* (n_state) = 0, 1 or 2 copies of the params layout */
    float *scratch; /* activations and input-gradient buffers */
    size_t n_params, n_state;
    float *dbuf[2]; /* (max_batch, widest hidden layer), mlp only */
    sisa_tensor param_t[2 * SISA_MODEL_MAX_LAYERS];
    sisa_tensor state_t[4 * SISA_MODEL_MAX_LAYERS];
    int n_param_t, n_state_t;
    uint64_t steps;
    float lr; /* the rate of the next step (sisa_model_set_lr), opt.lr at create */
};

extern const sisa_model_ops sisa_model_logreg_ops;
extern const sisa_model_ops sisa_model_mlp_ops;
extern const sisa_model_ops sisa_model_knn_ops; /* no layers, no parameters (knn.c) */

/* He-uniform initialisation shared by both model types: layer by layer, each weight matrix in
 * row-major order, w = (2u - 1) sqrt(6 / fan_in) with u = sisa_rng_uniform(r), evaluated in
 * double and rounded once; biases stay 0. */
void sisa_model__init_he(sisa_model *m, sisa_rng *r);

#endif
