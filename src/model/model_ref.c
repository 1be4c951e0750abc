/*
 * model_ref.c - naive reference twins of the kernels in kernels.c (see kernels.h).
 *
 * Written to be obviously right, not fast: plain loops in textbook order, every sum formed in
 * double and rounded to float once, the optimizers evaluated literally as specified. Tests
 * compare each optimised kernel with its twin on random data and odd shapes; training never
 * calls these.
 */
#include "model/kernels.h"
#include "model/model_internal.h"

#include <math.h>

void sisa_ref_dense_forward(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                            uint32_t out)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < out; j++) {
            double s = 0.0;
            for (uint32_t k = 0; k < in; k++)
                s += (double)A[(size_t)i * in + k] * (double)W[(size_t)k * out + j];
            Z[(size_t)i * out + j] = (float)s;
        }
}

void sisa_ref_weight_grad(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                          uint32_t out)
{
    for (uint32_t k = 0; k < in; k++)
        for (uint32_t j = 0; j < out; j++) {
            double s = 0.0;
            for (uint32_t i = 0; i < n; i++)
                s += (double)A[(size_t)i * in + k] * (double)dZ[(size_t)i * out + j];
            dW[(size_t)k * out + j] = (float)s;
        }
}

void sisa_ref_input_grad(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                         uint32_t out)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < in; k++) {
            double s = 0.0;
            for (uint32_t j = 0; j < out; j++)
                s += (double)dZ[(size_t)i * out + j] * (double)W[(size_t)k * out + j];
            dA[(size_t)i * in + k] = (float)s;
        }
}

void sisa_ref_bias_add(float *Z, const float *b, uint32_t n, uint32_t out)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < out; j++) Z[(size_t)i * out + j] += b[j];
}

void sisa_ref_bias_relu(float *Z, const float *b, uint32_t n, uint32_t out)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < out; j++) {
            float v = Z[(size_t)i * out + j] + b[j];
            if (v < 0.0f) v = 0.0f;
            Z[(size_t)i * out + j] = v;
        }
}

void sisa_ref_softmax(float *Z, uint32_t n, uint32_t C)
{
    for (uint32_t i = 0; i < n; i++) {
        float *z = Z + (size_t)i * C;
        double mx = z[0];
        for (uint32_t j = 1; j < C; j++)
            if (z[j] > mx) mx = z[j];
        double s = 0.0;
        for (uint32_t j = 0; j < C; j++) s += exp((double)z[j] - mx);
        for (uint32_t j = 0; j < C; j++) z[j] = (float)(exp((double)z[j] - mx) / s);
    }
}

double sisa_ref_softmax_xent(float *Z, const int32_t *y, uint32_t n, uint32_t C)
{
    double loss = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        float *z = Z + (size_t)i * C;
        double mx = z[0];
        for (uint32_t j = 1; j < C; j++)
            if (z[j] > mx) mx = z[j];
        double s = 0.0;
        for (uint32_t j = 0; j < C; j++) s += exp((double)z[j] - mx);
        loss += log(s) - ((double)z[y[i]] - mx);
        for (uint32_t j = 0; j < C; j++) {
            double p = exp((double)z[j] - mx) / s;
            double onehot = (int32_t)j == y[i] ? 1.0 : 0.0;
            z[j] = (float)((p - onehot) / (double)n);
        }
    }
    return loss / (double)n;
}

void sisa_ref_bias_grad(float *db, const float *dZ, uint32_t n, uint32_t out)
{
    for (uint32_t j = 0; j < out; j++) {
        double s = 0.0;
        for (uint32_t i = 0; i < n; i++) s += dZ[(size_t)i * out + j];
        db[j] = (float)s;
    }
}

void sisa_ref_relu_backward(float *dA, const float *A, size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (!(A[k] > 0.0f)) dA[k] = 0.0f;
}

void sisa_ref_sgd(float *w, const float *g, float *vel, size_t count, const sisa_optim_spec *o)
{
    const double lr = o->lr, wd = o->weight_decay, mu = o->momentum;
    for (size_t k = 0; k < count; k++) {
        double gk = (double)g[k] + wd * (double)w[k];
        double u = gk;
        if (mu > 0.0) {
            double vk = mu * (double)vel[k] + gk;
            vel[k] = (float)vk;
            u = o->nesterov ? gk + mu * vk : vk;
        }
        w[k] = (float)((double)w[k] - lr * u);
    }
}

void sisa_ref_adam(float *w, const float *g, float *m, float *v, size_t count,
                   const sisa_optim_spec *o, uint64_t t)
{
    const double b1 = o->beta1, b2 = o->beta2;
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    for (size_t k = 0; k < count; k++) {
        double gk = (double)g[k] + (double)o->weight_decay * (double)w[k];
        double mk = b1 * (double)m[k] + (1.0 - b1) * gk;
        double vk = b2 * (double)v[k] + (1.0 - b2) * gk * gk;
        double mhat = mk / bc1, vhat = vk / bc2;
        m[k] = (float)mk;
        v[k] = (float)vk;
        w[k] = (float)((double)w[k] - (double)o->lr * mhat / (sqrt(vhat) + (double)o->eps));
    }
}

float sisa_ref_optim_lr(const sisa_optim_spec *o, uint64_t done, uint64_t total)
{
    if (o->schedule == SISA_SCHED_CONSTANT || total == 0) return o->lr;
    const long double pi = 3.141592653589793238462643383279502884L;
    long double p = (long double)done / (long double)total;
    long double f = o->final_lr_fraction;
    return (float)((long double)o->lr * (f + (1.0L - f) * (1.0L + cosl(pi * p)) / 2.0L));
}

double sisa_ref_net_loss(int layers, const uint32_t *widths, const double *const *W,
                         const double *const *b, const float *X, const int32_t *y, uint32_t n,
                         double *scratch)
{
    uint32_t wmax = 0;
    for (int l = 0; l <= layers; l++) wmax = widths[l] > wmax ? widths[l] : wmax;
    double *cur = scratch, *next = scratch + wmax;
    double loss = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < widths[0]; k++) cur[k] = X[(size_t)i * widths[0] + k];
        for (int l = 0; l < layers; l++) {
            uint32_t in = widths[l], out = widths[l + 1];
            for (uint32_t j = 0; j < out; j++) {
                double s = b[l][j];
                for (uint32_t k = 0; k < in; k++) s += cur[k] * W[l][(size_t)k * out + j];
                next[j] = (l + 1 < layers && s < 0.0) ? 0.0 : s;
            }
            double *t = cur;
            cur = next;
            next = t;
        }
        uint32_t C = widths[layers];
        double mx = cur[0], s = 0.0;
        for (uint32_t j = 1; j < C; j++)
            if (cur[j] > mx) mx = cur[j];
        for (uint32_t j = 0; j < C; j++) s += exp(cur[j] - mx);
        loss += log(s) - (cur[y[i]] - mx);
    }
    return loss / (double)n;
}

/* ---- cnn ------------------------------------------------------------------------------------ */

/* The input element (s, c, yy, xx), or 0 outside the image (same padding). */
static double ref_pixel(const float *in, const sisa_conv *C, uint32_t s, uint32_t c, long yy,
                        long xx, size_t ss, size_t cs, size_t ys, size_t xs)
{
    if (yy < 0 || xx < 0 || yy >= (long)C->h || xx >= (long)C->w) return 0.0;
    return in[s * ss + c * cs + (size_t)yy * ys + (size_t)xx * xs];
}

void sisa_ref_conv_forward(float *Z, const float *in, const float *W, uint32_t n,
                           const sisa_conv *C, size_t ss, size_t cs, size_t ys, size_t xs)
{
    const long pad = (long)C->k / 2;
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t y = 0; y < C->h; y++)
            for (uint32_t x = 0; x < C->w; x++)
                for (uint32_t o = 0; o < C->cout; o++) {
                    double acc = 0.0;
                    for (uint32_t dy = 0; dy < C->k; dy++)
                        for (uint32_t dx = 0; dx < C->k; dx++)
                            for (uint32_t c = 0; c < C->cin; c++) {
                                double v = ref_pixel(in, C, s, c, (long)y + (long)dy - pad,
                                                     (long)x + (long)dx - pad, ss, cs, ys, xs);
                                size_t wi = (((size_t)dy * C->k + dx) * C->cin + c) * C->cout + o;
                                acc += v * (double)W[wi];
                            }
                    Z[(((size_t)s * C->h + y) * C->w + x) * C->cout + o] = (float)acc;
                }
}

void sisa_ref_conv_weight_grad(float *dW, const float *in, const float *dZ, uint32_t n,
                               const sisa_conv *C, size_t ss, size_t cs, size_t ys, size_t xs)
{
    const long pad = (long)C->k / 2;
    for (uint32_t dy = 0; dy < C->k; dy++)
        for (uint32_t dx = 0; dx < C->k; dx++)
            for (uint32_t c = 0; c < C->cin; c++)
                for (uint32_t o = 0; o < C->cout; o++) {
                    double acc = 0.0;
                    for (uint32_t s = 0; s < n; s++)
                        for (uint32_t y = 0; y < C->h; y++)
                            for (uint32_t x = 0; x < C->w; x++) {
                                double v = ref_pixel(in, C, s, c, (long)y + (long)dy - pad,
                                                     (long)x + (long)dx - pad, ss, cs, ys, xs);
                                acc +=
                                    v *
                                    (double)dZ[(((size_t)s * C->h + y) * C->w + x) * C->cout + o];
                            }
                    dW[(((size_t)dy * C->k + dx) * C->cin + c) * C->cout + o] = (float)acc;
                }
}

void sisa_ref_conv_input_grad(float *dIn, const float *dZ, const float *W, uint32_t n,
                              const sisa_conv *C)
{
    /* dIn(s, yy, xx, c) = sum over output pixels (y, x) = (yy - dy + pad, xx - dx + pad) inside
     * the image and over o of dZ(s, y, x, o) W(dy, dx, c, o). */
    const long pad = (long)C->k / 2;
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t yy = 0; yy < C->h; yy++)
            for (uint32_t xx = 0; xx < C->w; xx++)
                for (uint32_t c = 0; c < C->cin; c++) {
                    double acc = 0.0;
                    for (uint32_t dy = 0; dy < C->k; dy++)
                        for (uint32_t dx = 0; dx < C->k; dx++) {
                            long y = (long)yy - (long)dy + pad, x = (long)xx - (long)dx + pad;
                            if (y < 0 || x < 0 || y >= (long)C->h || x >= (long)C->w) continue;
                            for (uint32_t o = 0; o < C->cout; o++)
                                acc +=
                                    (double)dZ[(((size_t)s * C->h + (size_t)y) * C->w + (size_t)x) *
                                                   C->cout +
                                               o] *
                                    (double)
                                        W[(((size_t)dy * C->k + dx) * C->cin + c) * C->cout + o];
                        }
                    dIn[(((size_t)s * C->h + yy) * C->w + xx) * C->cin + c] = (float)acc;
                }
}

void sisa_ref_maxpool(float *out, uint32_t *arg, const float *act, uint32_t n, const sisa_conv *C)
{
    const uint32_t p = C->pool;
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t py = 0; py < C->ph; py++)
            for (uint32_t px = 0; px < C->pw; px++)
                for (uint32_t o = 0; o < C->cout; o++) {
                    uint32_t best = 0;
                    int have = 0;
                    for (uint32_t dy = 0; dy < p; dy++)
                        for (uint32_t dx = 0; dx < p; dx++) {
                            uint32_t at = ((py * p + dy) * C->w + px * p + dx) * C->cout + o;
                            const float *a = act + (size_t)s * C->h * C->w * C->cout;
                            if (!have || a[at] > a[best]) best = at, have = 1;
                        }
                    size_t q = (((size_t)s * C->ph + py) * C->pw + px) * C->cout + o;
                    out[q] = act[(size_t)s * C->h * C->w * C->cout + best];
                    arg[q] = best;
                }
}
