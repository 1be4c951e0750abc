/*
 * optim.c - the optimizers: SGD (optionally with momentum, optionally Nesterov) and Adam.
 *
 * Both run over the model's flat arrays in one pass: parameters, gradients and optimizer state
 * are each one allocation with identical layouts (model.c), so "every parameter" is simply
 * indices 0..count-1, padding between tensors included (the padding is zero and stays zero:
 * zero gradient, zero weight, zero update). Weight decay is the L2 term g += wd * w applied to
 * every parameter, biases included, before the optimizer sees the gradient; the gradient
 * buffer itself is left as the loss gradient.
 *
 * Every operation is element-wise, so vectorisation (-O3, and the AVX2/AVX-512 clones of
 * SISA_VECTOR_CLONES) does not change a bit; the square root is IEEE's correctly rounded one
 * (-fno-math-errno only lets GCC use the vector instruction for it). Adam's update is
 * evaluated as (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), the textbook
 * lr mhat / (sqrt(vhat) + eps) with the two bias corrections folded into per-step constants:
 * one square root and one division per parameter. The twins in model_ref.c evaluate the
 * textbook formulas in double.
 */
#include "model/kernels.h"

#include <math.h>

SISA_VECTOR_CLONES
void sisa_k_sgd(float *restrict w, const float *restrict g, float *restrict vel, size_t count,
                const sisa_optim_spec *o)
{
    const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
    if (mu == 0.0f) {
        for (size_t k = 0; k < count; k++) {
            float gk = g[k] + wd * w[k];
            w[k] -= lr * gk;
        }
    } else if (o->nesterov) {
        for (size_t k = 0; k < count; k++) {
            float gk = g[k] + wd * w[k];
            float vk = mu * vel[k] + gk;
            vel[k] = vk;
            w[k] -= lr * (gk + mu * vk);
        }
    } else {
        for (size_t k = 0; k < count; k++) {
            float gk = g[k] + wd * w[k];
            float vk = mu * vel[k] + gk;
            vel[k] = vk;
            w[k] -= lr * vk;
        }
    }
}

SISA_VECTOR_CLONES
void sisa_k_adam(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                 size_t count, const sisa_optim_spec *o, uint64_t t)
{
    const double bc1 = 1.0 - pow((double)o->beta1, (double)t);
    const double bc2 = 1.0 - pow((double)o->beta2, (double)t);
    const float step = (float)((double)o->lr / bc1);
    const float rsq2 = (float)(1.0 / sqrt(bc2));
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay;
    const float c1 = (float)(1.0 - (double)o->beta1), c2 = (float)(1.0 - (double)o->beta2);
    for (size_t k = 0; k < count; k++) {
        float gk = g[k] + wd * w[k];
        float mk = b1 * m[k] + c1 * gk;
        float vk = b2 * v[k] + c2 * (gk * gk);
        m[k] = mk;
        v[k] = vk;
        w[k] -= step * mk / (sqrtf(vk) * rsq2 + eps);
    }
}
