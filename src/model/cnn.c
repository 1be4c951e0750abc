/*
 * cnn.c - convolutional network: convolutions (stride 1, same zero padding), each followed by
 * ReLU and max pooling, then the dense stack of mlp.c (hidden ReLU layers, a layer to C classes)
 * and a softmax.
 *
 * Layout. A row of X is an image (C, H, W), channels outermost, as import records it. Every
 * activation after it is NHWC: one sample's (h, w, c) values contiguous, channel innermost, so
 * n images form an (n h w, c) matrix. A convolution is then one sgemm: its im2col matrix
 * (n h w, k k cin), whose row for output pixel (y, x) holds the input at (y + dy, x + dx) for
 * dy, dx in -k/2..k/2 (row-major over (dy, dx), channels innermost, zero outside the image),
 * times the weights (k, k, cin, cout) read as a (k k cin, cout) matrix. The bias and ReLU are
 * the dense layers' fused kernel over those rows. The last pooled output, (ph, pw, cout) per
 * sample, is the dense stack's input row as it lies in memory.
 *
 * Backward, per convolution from the top: the pooled gradient goes to the position of each
 * window's maximum (the first in row-major order among equal values, recorded in the forward
 * pass), the ReLU mask applies, dW = cols^T dZ and db = column sums of dZ (the dense kernels),
 * and above the first convolution dcols = dZ W^T is folded back (col2im) into the gradient of
 * the layer below, in a fixed order: samples, then output pixels, then (dy, dx), then channels.
 * Windows do not overlap (stride = window), so the pooling gradient is a plain assignment.
 *
 * Everything a step touches was allocated at create (model.c); the kernels below check nothing.
 */
#include "model/kernels.h"
#include "model/model_internal.h"
#include "sisa/error.h"

#include <math.h>
#include <string.h>

int sisa_model__conv_geometry(const sisa_model_spec *ms, sisa_conv conv[SISA_CONFIG_MAX_CONV])
{
    int err = SISA_OK;
    SISA_CHECK(ms->n_conv >= 1 && ms->n_conv <= SISA_CONFIG_MAX_CONV, SISA_ECONFIG,
               "model: cnn needs 1 to %d convolutions, but %d were given", SISA_CONFIG_MAX_CONV,
               (int)ms->n_conv);
    SISA_CHECK(ms->kernel >= 1 && ms->kernel % 2 == 1 && ms->kernel <= 11, SISA_ECONFIG,
               "model: cnn kernel %u must be odd and at most 11 (same padding)",
               (unsigned)ms->kernel);
    SISA_CHECK(ms->pool >= 1 && ms->pool <= 16, SISA_ECONFIG, "model: cnn pool %u must be 1 to 16",
               (unsigned)ms->pool);
    SISA_CHECK(ms->in_c >= 1 && ms->in_h >= 1 && ms->in_w >= 1, SISA_ECONFIG,
               "model: cnn needs the image shape of a row (model.input)");
    const uint64_t d = (uint64_t)ms->in_c * ms->in_h * ms->in_w;
    SISA_CHECK(d == ms->d, SISA_ECONFIG,
               "model: cnn input [%u, %u, %u] has %llu values, but the data has %u features a row",
               (unsigned)ms->in_c, (unsigned)ms->in_h, (unsigned)ms->in_w, (unsigned long long)d,
               (unsigned)ms->d);
    uint32_t c = ms->in_c, h = ms->in_h, w = ms->in_w;
    for (int l = 0; l < ms->n_conv; l++) {
        SISA_CHECK(ms->conv[l] >= 1 && ms->conv[l] <= 4096, SISA_ECONFIG,
                   "model: cnn convolution %d has %d channels; each needs 1 to 4096", l + 1,
                   (int)ms->conv[l]);
        SISA_CHECK(h % ms->pool == 0 && w % ms->pool == 0, SISA_ECONFIG,
                   "model: cnn convolution %d sees %u x %u images, which pool %u does not divide",
                   l + 1, (unsigned)h, (unsigned)w, (unsigned)ms->pool);
        sisa_conv *C = &conv[l];
        memset(C, 0, sizeof *C);
        C->cin = c;
        C->cout = (uint32_t)ms->conv[l];
        C->h = h;
        C->w = w;
        C->k = ms->kernel;
        C->pool = ms->pool;
        C->ph = h / ms->pool;
        C->pw = w / ms->pool;
        const uint64_t kk = (uint64_t)C->k * C->k * c;
        /* Offsets within one sample's activations (pooling's arg) are 32-bit. */
        SISA_CHECK(kk <= INT32_MAX && (uint64_t)C->h * C->w * C->cout <= INT32_MAX, SISA_ECONFIG,
                   "model: cnn convolution %d is too large", l + 1);
        C->kk = (uint32_t)kk;
        c = C->cout;
        h = C->ph;
        w = C->pw;
    }
    return ms->n_conv;
done:
    return err;
}

static int cnn_layout(const sisa_model_spec *ms, uint32_t widths[SISA_MODEL_MAX_LAYERS + 1])
{
    sisa_conv conv[SISA_CONFIG_MAX_CONV];
    int n = sisa_model__conv_geometry(ms, conv);
    if (n < 0) return n;
    const sisa_conv *top = &conv[n - 1];
    sisa_model_spec dense = *ms;
    dense.d = top->ph * top->pw * top->cout;
    return sisa_model_mlp_ops.layout(&dense, widths);
}

/* The convolutions first (each (kk, cout) matrix in row-major order, fan_in = kk), then the
 * dense layers, from one stream. */
static void cnn_init(sisa_model *m, sisa_rng *r)
{
    for (int l = 0; l < m->n_conv; l++) {
        const sisa_conv *C = &m->conv[l];
        const double limit = sqrt(6.0 / (double)C->kk);
        const size_t count = (size_t)C->kk * C->cout;
        for (size_t k = 0; k < count; k++) {
            double u = (double)sisa_rng_uniform(r);
            C->wt[k] = (float)((2.0 * u - 1.0) * limit);
        }
    }
    sisa_model__init_he(m, r);
}

/* Where a layer's input lies: element (sample s, channel c, y, x) is at
 * s ss + c cs + y ys + x xs. X is (C, H, W) per row; the pooled outputs are NHWC. */
typedef struct {
    size_t ss, cs, ys, xs;
} strides;

static strides input_strides(const sisa_model *m, int l)
{
    const sisa_conv *C = &m->conv[l];
    if (l == 0) return (strides){(size_t)C->cin * C->h * C->w, (size_t)C->h * C->w, C->w, 1};
    return (strides){(size_t)C->h * C->w * C->cin, 1, (size_t)C->w * C->cin, C->cin};
}

SISA_VECTOR_CLONES
void sisa_k_im2col(float *cols, const float *in, uint32_t n, const sisa_conv *C, size_t ss,
                   size_t cs, size_t ys, size_t xs)
{
    const int pad = (int)C->k / 2, k = (int)C->k, H = (int)C->h, W = (int)C->w;
    const uint32_t cin = C->cin;
    float *row = cols;
    for (uint32_t s = 0; s < n; s++) {
        const float *img = in + s * ss;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float *p = row;
                for (int dy = 0; dy < k; dy++) {
                    const int yy = y + dy - pad;
                    for (int dx = 0; dx < k; dx++, p += cin) {
                        const int xx = x + dx - pad;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) {
                            memset(p, 0, cin * sizeof *p);
                            continue;
                        }
                        const float *src = img + (size_t)yy * ys + (size_t)xx * xs;
                        if (cs == 1)
                            memcpy(p, src, cin * sizeof *p);
                        else
                            for (uint32_t c = 0; c < cin; c++) p[c] = src[c * cs];
                    }
                }
                row += C->kk;
            }
    }
}

SISA_VECTOR_CLONES
void sisa_k_col2im(float *dIn, const float *dcols, uint32_t n, const sisa_conv *C)
{
    const int pad = (int)C->k / 2, k = (int)C->k, H = (int)C->h, W = (int)C->w;
    const uint32_t cin = C->cin;
    memset(dIn, 0, (size_t)n * H * W * cin * sizeof *dIn);
    const float *row = dcols;
    for (uint32_t s = 0; s < n; s++) {
        float *img = dIn + (size_t)s * H * W * cin;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const float *p = row;
                for (int dy = 0; dy < k; dy++) {
                    const int yy = y + dy - pad;
                    for (int dx = 0; dx < k; dx++, p += cin) {
                        const int xx = x + dx - pad;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        float *restrict dst = img + ((size_t)yy * W + (size_t)xx) * cin;
                        for (uint32_t c = 0; c < cin; c++) dst[c] += p[c];
                    }
                }
                row += C->kk;
            }
    }
}

/* One window's channels: out and arg start at the window's first element; every later one
 * replaces them only when strictly greater (selects, no branches: the channel loop vectorizes;
 * a selection does no arithmetic, so the bits do not depend on how it runs). */
static inline void pool_window(float *restrict o, uint32_t *restrict g, const float *restrict a,
                               uint32_t first, uint32_t p, uint32_t W, uint32_t ch)
{
    const float *restrict a0 = a + first;
    for (size_t c = 0; c < ch; c++) {
        o[c] = a0[c];
        g[c] = first + (uint32_t)c;
    }
    for (uint32_t dy = 0; dy < p; dy++)
        for (uint32_t dx = dy ? 0 : 1; dx < p; dx++) {
            const uint32_t at = first + (dy * W + dx) * ch;
            const float *restrict aw = a + at;
            for (size_t c = 0; c < ch; c++) {
                const float v = aw[c];
                const int more = v > o[c];
                o[c] = more ? v : o[c];
                g[c] = more ? at + (uint32_t)c : g[c];
            }
        }
}

SISA_VECTOR_CLONES
void sisa_k_maxpool(float *out, uint32_t *arg, const float *act, uint32_t n, const sisa_conv *C)
{
    const uint32_t p = C->pool, W = C->w, ch = C->cout;
    for (uint32_t s = 0; s < n; s++) {
        const float *a = act + (size_t)s * C->h * W * ch;
        float *o = out + (size_t)s * C->ph * C->pw * ch;
        uint32_t *g = arg + (size_t)s * C->ph * C->pw * ch;
        for (uint32_t py = 0; py < C->ph; py++)
            for (uint32_t px = 0; px < C->pw; px++) {
                const size_t q = ((size_t)py * C->pw + px) * ch;
                /* The window's first element, then strictly greater ones: ties go to the first
                 * in row-major order. */
                pool_window(o + q, g + q, a, ((py * p) * W + px * p) * ch, p, W, ch);
            }
    }
}

void sisa_k_maxpool_backward(float *dact, const float *dout, const uint32_t *arg, uint32_t n,
                             const sisa_conv *C)
{
    const size_t plane = (size_t)C->h * C->w * C->cout, pplane = (size_t)C->ph * C->pw * C->cout;
    memset(dact, 0, (size_t)n * plane * sizeof *dact);
    for (uint32_t s = 0; s < n; s++)
        for (size_t q = 0; q < pplane; q++)
            dact[s * plane + arg[s * pplane + q]] = dout[s * pplane + q];
}

/* The convolutions; returns the dense stack's input (n, ph pw cout of the last). */
static const float *conv_forward(sisa_model *m, const float *X, uint32_t n)
{
    const float *in = X;
    for (int l = 0; l < m->n_conv; l++) {
        sisa_conv *C = &m->conv[l];
        const strides st = input_strides(m, l);
        const uint32_t rows = n * C->h * C->w;
        sisa_k_im2col(C->cols, in, n, C, st.ss, st.cs, st.ys, st.xs);
        sisa_k_dense_forward(C->act, C->cols, C->wt, rows, C->kk, C->cout);
        sisa_k_bias_relu(C->act, C->bias, rows, C->cout);
        if (C->pool > 1) sisa_k_maxpool(C->out, C->arg, C->act, n, C);
        in = C->out;
    }
    return in;
}

static void cnn_forward(sisa_model *m, const float *X, uint32_t n, float *logits)
{
    sisa_model__dense_forward(m, conv_forward(m, X, n), n, logits);
}

static double cnn_forward_backward(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    sisa_dense *top = &m->layer[m->n_layers - 1];
    const float *A0 = conv_forward(m, X, n);
    sisa_model__dense_forward(m, A0, n, top->act);
    double loss = sisa_k_softmax_xent(top->act, y, n, top->out);
    const int last = m->n_conv - 1;
    /* The gradient of layer l's pooled output is in dpool[l & 1]. */
    sisa_model__dense_backward(m, A0, n, m->dpool[last & 1]);
    for (int l = last; l >= 0; l--) {
        sisa_conv *C = &m->conv[l];
        const uint32_t rows = n * C->h * C->w;
        float *dZ = m->dpool[l & 1];
        if (C->pool > 1) {
            sisa_k_maxpool_backward(m->dact, dZ, C->arg, n, C);
            dZ = m->dact;
        }
        sisa_k_relu_backward(dZ, C->act, (size_t)rows * C->cout);
        sisa_k_weight_grad(C->dwt, C->cols, dZ, rows, C->kk, C->cout);
        sisa_k_bias_grad(C->dbias, dZ, rows, C->cout);
        if (l > 0) {
            sisa_k_input_grad(m->dcols, dZ, C->wt, rows, C->kk, C->cout);
            sisa_k_col2im(m->dpool[(l - 1) & 1], m->dcols, n, C);
        }
    }
    return loss;
}

const sisa_model_ops sisa_model_cnn_ops = {
    .name = "cnn",
    .layout = cnn_layout,
    .init = cnn_init,
    .forward = cnn_forward,
    .forward_backward = cnn_forward_backward,
};
