/*
 * kernels.h - the numerical kernels of src/model and their naive reference twins.
 *
 * Private to src/model (and its tests and benchmarks). Every kernel that training runs has a
 * twin with the same signature and the prefix sisa_ref_ (model_ref.c) written as plain loops,
 * accumulating in double wherever a sum is formed, so a test can compare the optimised
 * version with an obviously correct one on random data. The twins are never used in training.
 *
 * Conventions: matrices are row-major; `n` is the number of rows of a batch (samples), `in`
 * and `out` are a dense layer's fan-in and fan-out, so a weight matrix W is (in, out), an
 * activation A entering the layer is (n, in) and the layer's pre-activation Z is (n, out).
 * Callers check the dimensions (every count >= 1 and small enough for a BLAS int) once, at
 * model creation; the kernels check nothing and allocate nothing.
 *
 * Summation orders are fixed and documented per kernel: together with one OpenBLAS thread,
 * a fixed OpenBLAS core and a fixed floating-point mode, they make every result reproducible
 * bit for bit (the exactness contract, docs/design.md section 2).
 */
#ifndef SISA_MODEL_KERNELS_H
#define SISA_MODEL_KERNELS_H

#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

/* Element-wise kernels are compiled for AVX-512, AVX2 and baseline x86-64, and the dynamic
 * loader picks the widest the CPU runs (GCC function multiversioning), because the binary must
 * run on every node of a cluster. The choice changes speed, never bits: each element goes
 * through the same IEEE operations (correctly rounded at every vector width, FP contraction
 * off, the same MXCSR), and no reduction is reassociated. tests/test_model.c checks the
 * optimizers bit for bit against a one-element-at-a-time evaluation. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define SISA_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SISA_VECTOR_CLONES
#endif

/* ---- matrix products: cblas_sgemm, one thread --------------------------------------------- */

/* Z (n, out) = A (n, in) W (in, out). */
void sisa_k_dense_forward(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                          uint32_t out);
/* dW (in, out) = A^T dZ, with A (n, in) and dZ (n, out). Overwrites dW. */
void sisa_k_weight_grad(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                        uint32_t out);
/* dA (n, in) = dZ W^T, with dZ (n, out) and W (in, out). Overwrites dA. */
void sisa_k_input_grad(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                       uint32_t out);

/* ---- element-wise and reductions ----------------------------------------------------------- */

/* Z (n, out) += b (out) row by row. */
void sisa_k_bias_add(float *Z, const float *b, uint32_t n, uint32_t out);
/* Z = relu(Z + b), fused in one pass. relu(v) = v < 0 ? 0 : v, so a NaN stays a NaN (it is
 * not silently turned into 0) and -0 stays -0. */
void sisa_k_bias_relu(float *Z, const float *b, uint32_t n, uint32_t out);
/* Numerically stable softmax of each row of Z (n, C) in place: e_j = expf(z_j - max_k z_k),
 * p_j = e_j / sum_k e_k (sum in float, k ascending). */
void sisa_k_softmax(float *Z, uint32_t n, uint32_t C);
/* Softmax fused with the mean cross-entropy and its gradient. On entry Z holds the logits; on
 * return Z holds dZ = (P - onehot(y)) / n, the gradient of the mean loss w.r.t. the logits.
 * Returns the mean loss, -log p_{y_i} = log(sum_k e_k) - (z_y - max) per row, accumulated in
 * double over rows in ascending order. Labels must lie in 0..C-1 (checked by the caller). */
double sisa_k_softmax_xent(float *Z, const int32_t *y, uint32_t n, uint32_t C);
/* db (out) = column sums of dZ (n, out), rows added in ascending order into float sums.
 * Overwrites db. */
void sisa_k_bias_grad(float *db, const float *dZ, uint32_t n, uint32_t out);
/* ReLU backward in place: dA[k] = A[k] > 0 ? dA[k] : 0, where A is the layer's ReLU output
 * (A > 0 exactly where the pre-activation was > 0). */
void sisa_k_relu_backward(float *dA, const float *A, size_t count);

/* ---- optimizers over flat arrays ----------------------------------------------------------- */

/* SGD on `count` parameters: g' = g + wd w; with momentum mu > 0: vel = mu vel + g',
 * u = nesterov ? g' + mu vel : vel; else u = g'. w -= lr u. `vel` is unused (may be NULL)
 * when momentum == 0. */
void sisa_k_sgd(float *w, const float *g, float *vel, size_t count, const sisa_optim_spec *o);
/* Adam step number t >= 1 on `count` parameters: g' = g + wd w;
 * m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2; w -= lr mhat / (sqrt(vhat) + eps) with
 * mhat = m / (1 - b1^t), vhat = v / (1 - b2^t). The bias corrections are computed in double
 * once per call and the update is evaluated as w -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),
 * the same quantity with one square root and one division per parameter. */
void sisa_k_adam(float *w, const float *g, float *m, float *v, size_t count,
                 const sisa_optim_spec *o, uint64_t t);

/* ---- reference twins (model_ref.c) --------------------------------------------------------- */

void sisa_ref_dense_forward(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                            uint32_t out);
void sisa_ref_weight_grad(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                          uint32_t out);
void sisa_ref_input_grad(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                         uint32_t out);
void sisa_ref_bias_add(float *Z, const float *b, uint32_t n, uint32_t out);
void sisa_ref_bias_relu(float *Z, const float *b, uint32_t n, uint32_t out);
void sisa_ref_softmax(float *Z, uint32_t n, uint32_t C);
double sisa_ref_softmax_xent(float *Z, const int32_t *y, uint32_t n, uint32_t C);
void sisa_ref_bias_grad(float *db, const float *dZ, uint32_t n, uint32_t out);
void sisa_ref_relu_backward(float *dA, const float *A, size_t count);
/* The optimizers evaluated literally as specified (mhat, vhat, sqrt(vhat) + eps), in double,
 * each result rounded to float once. */
void sisa_ref_sgd(float *w, const float *g, float *vel, size_t count, const sisa_optim_spec *o);
void sisa_ref_adam(float *w, const float *g, float *m, float *v, size_t count,
                   const sisa_optim_spec *o, uint64_t t);
/* sisa_optim_lr's textbook formula with libm's cosl, in long double, rounded to float once. */
float sisa_ref_optim_lr(const sisa_optim_spec *o, uint64_t done, uint64_t total);

/* Mean softmax cross-entropy of a dense ReLU network, entirely in double: `layers` dense layers,
 * widths[0] = d, widths[l] = fan-out of layer l, W[l-1] (widths[l-1], widths[l]) and b[l-1]
 * (widths[l]); ReLU after every layer but the last. Used by the finite-difference gradient
 * check. `scratch` holds 2 * max(widths) doubles. */
double sisa_ref_net_loss(int layers, const uint32_t *widths, const double *const *W,
                         const double *const *b, const float *X, const int32_t *y, uint32_t n,
                         double *scratch);

#endif
