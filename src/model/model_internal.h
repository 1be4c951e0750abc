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
 *            gradients of hidden layers; a cnn's convolution buffers follow (sisa_conv)
 *   iscratch cnn: per pooling layer the position of each window's maximum
 * A cnn's parameters start with its convolutions (cw1 cb1 ... cwK cbK), then its dense layers.
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

/* One convolution of a cnn with its ReLU and max pooling (cnn.c). Activations are NHWC: a
 * sample's (h, w, c) values are contiguous with the channel innermost, so an image of n samples
 * is an (n h w, c) matrix and a convolution is one product (im2col rows) x (weights). */
typedef struct sisa_conv {
    uint32_t cin, cout; /* channels in and out */
    uint32_t h, w;      /* input and (same padding) output height and width */
    uint32_t ph, pw;    /* after pooling: h / pool, w / pool */
    uint32_t k, pool;   /* kernel side, pooling window and stride */
    uint32_t kk;        /* k k cin: the width of an im2col row, the rows of w */
    float *wt;          /* (k, k, cin, cout) row-major = (kk, cout), view into params */
    float *bias;        /* (cout) */
    float *dwt, *dbias; /* views into grads */
    float *cols;        /* (max_batch h w, kk): im2col of the input, kept for dw */
    float *act;         /* (max_batch h w, cout): ReLU output, NHWC */
    float *out;         /* (max_batch ph pw, cout): pooled output; = act when pool is 1 */
    uint32_t *arg;      /* (max_batch ph pw cout): offset within its sample's act of each
                         * pooled maximum; NULL when pool is 1 */
} sisa_conv;

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
    float *dbuf[2]; /* (max_batch, widest hidden layer), mlp and cnn */
    int n_conv;     /* cnn: convolutions before the dense layers; else 0 */
    sisa_conv conv[SISA_CONFIG_MAX_CONV];
    uint32_t *iscratch; /* cnn: the convolutions' arg buffers */
    float *dact;        /* cnn: (max_batch h w, cout) at the widest convolution */
    float *dcols;       /* cnn: (max_batch h w, kk) at the widest convolution above the first */
    float *dpool[2];    /* cnn: ping-pong gradients of the pooled outputs */
    sisa_tensor param_t[2 * (SISA_MODEL_MAX_LAYERS + SISA_CONFIG_MAX_CONV)];
    sisa_tensor state_t[4 * (SISA_MODEL_MAX_LAYERS + SISA_CONFIG_MAX_CONV)];
    int n_param_t, n_state_t;
    uint64_t steps;
    float lr; /* the rate of the next step (sisa_model_set_lr), opt.lr at create */
};

extern const sisa_model_ops sisa_model_logreg_ops;
extern const sisa_model_ops sisa_model_mlp_ops;
extern const sisa_model_ops sisa_model_knn_ops; /* no layers, no parameters (knn.c) */
extern const sisa_model_ops sisa_model_cnn_ops; /* convolutions, then an mlp (cnn.c) */

/* The convolutions of a cnn spec: checks the cnn fields of `ms` and fills the geometry of each
 * (sizes only, no buffers). Returns n_conv >= 1, or a negative code with a message. */
int sisa_model__conv_geometry(const sisa_model_spec *ms, sisa_conv conv[SISA_CONFIG_MAX_CONV]);

/* ---- cnn kernels (cnn.c) and their naive twins (model_ref.c) -------------------------------
 *
 * im2col: cols (n h w, kk) of the input of convolution C, whose element (sample s, channel c,
 * y, x) is at in[s ss + c cs + y ys + x xs]. col2im: its adjoint, dIn (n, h, w, cin) NHWC =
 * the sum of every cols entry taken from that element (overwrites dIn). maxpool: out and arg
 * (n, ph, pw, cout) from act (n, h, w, cout), ties to the first in row-major window order.
 * maxpool_backward: dact (n, h, w, cout) = dout at each arg position, 0 elsewhere. */
void sisa_k_im2col(float *cols, const float *in, uint32_t n, const sisa_conv *C, size_t ss,
                   size_t cs, size_t ys, size_t xs);
void sisa_k_col2im(float *dIn, const float *dcols, uint32_t n, const sisa_conv *C);
void sisa_k_maxpool(float *out, uint32_t *arg, const float *act, uint32_t n, const sisa_conv *C);
void sisa_k_maxpool_backward(float *dact, const float *dout, const uint32_t *arg, uint32_t n,
                             const sisa_conv *C);

/* The twins, as textbook loops over the image with sums in double, rounded to float once.
 * conv_forward: Z (n, h, w, cout) = the convolution of the input (strides as im2col) with W
 * (k, k, cin, cout), no bias. conv_weight_grad: dW (k, k, cin, cout) from the input and dZ (n,
 * h, w, cout). conv_input_grad: dIn (n, h, w, cin) NHWC from dZ and W. maxpool: out (n, ph,
 * pw, cout) and arg as sisa_k_maxpool defines them. */
void sisa_ref_conv_forward(float *Z, const float *in, const float *W, uint32_t n,
                           const sisa_conv *C, size_t ss, size_t cs, size_t ys, size_t xs);
void sisa_ref_conv_weight_grad(float *dW, const float *in, const float *dZ, uint32_t n,
                               const sisa_conv *C, size_t ss, size_t cs, size_t ys, size_t xs);
void sisa_ref_conv_input_grad(float *dIn, const float *dZ, const float *W, uint32_t n,
                              const sisa_conv *C);
void sisa_ref_maxpool(float *out, uint32_t *arg, const float *act, uint32_t n, const sisa_conv *C);

/* The dense stack of mlp and cnn (mlp.c). Forward: logits (n, classes) of the dense input A0
 * (n, layer[0].in). Backward: with dZ of the top layer in its act, every dense gradient, and
 * when dA0 is not NULL the gradient of the dense input into dA0 (n, layer[0].in), unmasked. */
void sisa_model__dense_forward(sisa_model *m, const float *A0, uint32_t n, float *logits);
void sisa_model__dense_backward(sisa_model *m, const float *A0, uint32_t n, float *dA0);

/* He-uniform initialisation shared by both model types: layer by layer, each weight matrix in
 * row-major order, w = (2u - 1) sqrt(6 / fan_in) with u = sisa_rng_uniform(r), evaluated in
 * double and rounded once; biases stay 0. */
void sisa_model__init_he(sisa_model *m, sisa_rng *r);

#endif
