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
 *
 * Order: blocks of BLOCK parameters from the last block to the first, each block front to
 * back. Parameters are independent, so the order changes no bit, but it changes the speed:
 * the backward pass has just written the gradients of layer 1 (at the front) and the optimizer
 * state does not fit in L2 (mlp 784-256-10: 3.3 MB of parameters, gradients and moments), so
 * going backwards meets the most recently written gradient blocks while they are still cached
 * instead of evicting them with the first blocks of moments.
 *
 * The learning-rate schedule (sisa_optim_lr) is a scalar function of the step's position in its
 * stage, evaluated once per step in double. Its cosine comes from fixed polynomials made of
 * + - * / (IEEE-exact operations, FP contraction off), not from libm: libm picks its code at run
 * time by CPU features and is not part of the determinism context, so a libm result could
 * differ in the last bit between two machines that agree on everything sisa records.
 */
#include "model/kernels.h"

#include <math.h>

#define BLOCK   4096 /* parameters: 16 KiB of each array */
#define SISA_PI 3.14159265358979323846

/* cos(pi x) and sin(pi x) for x in [0, 1/4], from their Taylor series at 0 cut after the
 * t^20 and t^21 terms (t = pi x <= pi/4: the first term left out is below 1e-23 of the sum),
 * evaluated by Horner's rule in + - * / only. */
static double cos_pi(double x)
{
    const double t2 = (SISA_PI * x) * (SISA_PI * x);
    double r = 1.0;
    for (int k = 10; k >= 1; k--) r = 1.0 - t2 / (double)((2 * k - 1) * (2 * k)) * r;
    return r;
}

static double sin_pi(double x)
{
    const double t = SISA_PI * x, t2 = t * t;
    double r = 1.0;
    for (int k = 10; k >= 1; k--) r = 1.0 - t2 / (double)((2 * k) * (2 * k + 1)) * r;
    return t * r;
}

float sisa_optim_lr(const sisa_optim_spec *os, uint64_t done, uint64_t total)
{
    if (os->schedule != SISA_SCHED_COSINE || total == 0) return os->lr;
    if (done > total) done = total;
    /* (1 + cos(pi p)) / 2 = cos^2(pi p / 2). The half angle a = done / (2 total) is at most
     * 1/2; above 1/4 it is taken as sin(pi (1/2 - a)), with 1/2 - a = (total - done) /
     * (2 total) formed from the integers, so the rate keeps full relative precision down to
     * the last step (no 1 + cos(...) cancelling to nothing). Both counts are far below 2^53,
     * so they are exact as doubles. */
    const double twice = 2.0 * (double)total;
    const double c =
        2 * done <= total ? cos_pi((double)done / twice) : sin_pi((double)(total - done) / twice);
    const double f = os->final_lr_fraction;
    return (float)((double)os->lr * (f + (1.0 - f) * (c * c)));
}

typedef struct {
    float lr, wd, mu; /* sgd */
    float step, rsq2; /* adam: lr / bc1, 1 / sqrt(bc2) */
    float b1, b2, c1, c2, eps;
} optim_consts;

SISA_VECTOR_CLONES
static void sgd_block(float *restrict w, const float *restrict g, float *restrict vel, size_t count,
                      int nesterov, const optim_consts *c)
{
    const float lr = c->lr, wd = c->wd, mu = c->mu;
    if (!vel) {
        for (size_t k = 0; k < count; k++) {
            float gk = g[k] + wd * w[k];
            w[k] -= lr * gk;
        }
    } else if (nesterov) {
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
static void adam_block(float *restrict w, const float *restrict g, float *restrict m,
                       float *restrict v, size_t count, const optim_consts *c)
{
    const float step = c->step, rsq2 = c->rsq2, b1 = c->b1, b2 = c->b2, c1 = c->c1, c2 = c->c2;
    const float eps = c->eps, wd = c->wd;
    for (size_t k = 0; k < count; k++) {
        float gk = g[k] + wd * w[k];
        float mk = b1 * m[k] + c1 * gk;
        float vk = b2 * v[k] + c2 * (gk * gk);
        m[k] = mk;
        v[k] = vk;
        w[k] -= step * mk / (sqrtf(vk) * rsq2 + eps);
    }
}

void sisa_k_sgd(float *w, const float *g, float *vel, size_t count, const sisa_optim_spec *o)
{
    optim_consts c = {.lr = o->lr, .wd = o->weight_decay, .mu = o->momentum};
    int momentum = o->momentum != 0.0f;
    for (size_t end = count; end > 0;) {
        size_t start = end > BLOCK ? end - BLOCK : 0;
        sgd_block(w + start, g + start, momentum ? vel + start : NULL, end - start, o->nesterov,
                  &c);
        end = start;
    }
}

void sisa_k_adam(float *w, const float *g, float *m, float *v, size_t count,
                 const sisa_optim_spec *o, uint64_t t)
{
    const double bc1 = 1.0 - pow((double)o->beta1, (double)t);
    const double bc2 = 1.0 - pow((double)o->beta2, (double)t);
    optim_consts c = {
        .wd = o->weight_decay,
        .step = (float)((double)o->lr / bc1),
        .rsq2 = (float)(1.0 / sqrt(bc2)),
        .b1 = o->beta1,
        .b2 = o->beta2,
        .c1 = (float)(1.0 - (double)o->beta1),
        .c2 = (float)(1.0 - (double)o->beta2),
        .eps = o->eps,
    };
    for (size_t end = count; end > 0;) {
        size_t start = end > BLOCK ? end - BLOCK : 0;
        adam_block(w + start, g + start, m + start, v + start, end - start, &c);
        end = start;
    }
}
