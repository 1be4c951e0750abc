/*
 * blascheck.c - the self-check of an OpenBLAS core (blas.h: sisa_blas_self_check).
 *
 * sisa switches to a faster core than OpenBLAS picked only after the core has computed, in the
 * process that will use it, every product a model of the run's shape computes, to within the
 * rounding error any correct summation order allows. A kernel that is wrong on this CPU (the
 * reason some sites preset OPENBLAS_CORETYPE) is off by about the size of a term, thousands of
 * times that bound, so the check separates the two cleanly.
 *
 * The bound, per element c = sum_{k<K} a_k b_k: a float computation in any order, with or
 * without FMA, satisfies |c - exact| <= gamma_K S with S = sum |a_k b_k| and
 * gamma_K = K u / (1 - K u), u = 2^-24; the reference (sums in double, rounded to float once)
 * is within u S + K 2^-53 S of exact. Their sum is below gamma_{K+2} S. S itself comes from the
 * same reference applied to |A| and |B| (relative error below 2 u, covered by the margin of
 * gamma_{K+2} over the sum of the two bounds for K >= 1); an absolute slack of K FLT_MIN covers
 * results flushed to zero under FTZ/DAZ.
 */
#include "model/blas.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/model_internal.h"

#include "base/mem.h"
#include "base/rng.h"
#include "sisa/error.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *what; /* "forward A W" ... */
    uint32_t n, in, out;
} shape;

static void fill(float *x, size_t count, uint32_t layer, uint32_t n, uint32_t which)
{
    sisa_rng r;
    sisa_rng_init(&r, 0, SISA_RNG_CHECK, layer, n, which);
    for (size_t i = 0; i < count; i++) x[i] = 2.0f * sisa_rng_uniform(&r) - 1.0f;
}

/* The fused references below run a few times faster with 4 or 8 doubles per instruction than
 * with SSE2's 2; GCC builds one copy per ISA and picks at load time. No FMA: -ffp-contract=off
 * keeps every product rounded apart from its sum, as in model_ref.c. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SISA_CHECK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SISA_CHECK_CLONES
#endif

/* The references, fused: each product's value R and its magnitude M = sum |a_k b_k|, both
 * summed in double over k ascending and rounded to float once, as sisa_ref_dense_forward and
 * friends (model_ref.c) compute them on A and on |A|, but in one pass with the innermost loop
 * running along rows of contiguous memory, so that the check costs a few times the products
 * themselves rather than a strided walk per element (the check runs in every command that
 * chooses a core). `acc` holds 2 x cols doubles (forward), 2 x KB x out (weight gradient). */
SISA_CHECK_CLONES static void ref_forward(float *R, float *M, const float *A, const float *W,
                                          uint32_t n, uint32_t in, uint32_t out, double *acc)
{
    double *mag = acc + out;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < out; j++) acc[j] = mag[j] = 0.0;
        for (uint32_t k = 0; k < in; k++) {
            const double a = A[(size_t)i * in + k], ma = fabs(a);
            const float *w = W + (size_t)k * out;
            for (uint32_t j = 0; j < out; j++) {
                acc[j] += a * (double)w[j];
                mag[j] += ma * fabs((double)w[j]);
            }
        }
        for (uint32_t j = 0; j < out; j++) {
            R[(size_t)i * out + j] = (float)acc[j];
            M[(size_t)i * out + j] = (float)mag[j];
        }
    }
}

#define WG_BLOCK 16 /* rows of dW accumulated at once: 2 x 16 x out doubles stay in cache */

SISA_CHECK_CLONES static void ref_weight_grad(float *R, float *M, const float *A, const float *D,
                                              uint32_t n, uint32_t in, uint32_t out, double *acc)
{
    double *mag = acc + (size_t)WG_BLOCK * out;
    for (uint32_t k0 = 0; k0 < in; k0 += WG_BLOCK) {
        const uint32_t kb = in - k0 < WG_BLOCK ? in - k0 : WG_BLOCK;
        for (size_t x = 0; x < (size_t)kb * out; x++) acc[x] = mag[x] = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            const float *d = D + (size_t)i * out;
            for (uint32_t k = 0; k < kb; k++) {
                const double a = A[(size_t)i * in + k0 + k], ma = fabs(a);
                double *ak = acc + (size_t)k * out, *mk = mag + (size_t)k * out;
                for (uint32_t j = 0; j < out; j++) {
                    ak[j] += a * (double)d[j];
                    mk[j] += ma * fabs((double)d[j]);
                }
            }
        }
        for (size_t x = 0; x < (size_t)kb * out; x++) {
            R[(size_t)k0 * out + x] = (float)acc[x];
            M[(size_t)k0 * out + x] = (float)mag[x];
        }
    }
}

static void ref_input_grad(float *R, float *M, const float *D, const float *W, uint32_t n,
                           uint32_t in, uint32_t out)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < in; k++) {
            const float *d = D + (size_t)i * out, *w = W + (size_t)k * out;
            double s = 0.0, m = 0.0;
            for (uint32_t j = 0; j < out; j++) {
                s += (double)d[j] * (double)w[j];
                m += fabs((double)d[j]) * fabs((double)w[j]);
            }
            R[(size_t)i * in + k] = (float)s;
            M[(size_t)i * in + k] = (float)m;
        }
}

/* 1 when every c[i] is within the bound of ref[i] (bound from mag[i], K terms), else 0 with
 * `why` naming the first element that is not. */
static int compare(const float *c, const float *ref, const float *mag, size_t rows, size_t cols,
                   uint32_t K, const char *what, const shape *s, char *why, size_t cap)
{
    const double u = 0x1p-24, k2u = ((double)K + 2.0) * u;
    const double gamma = k2u / (1.0 - k2u);
    for (size_t i = 0; i < rows * cols; i++) {
        double tol = gamma * (double)mag[i] + (double)K * FLT_MIN;
        double diff = fabs((double)c[i] - (double)ref[i]);
        if (!(diff <= tol)) { /* also catches NaN */
            snprintf(why, cap,
                     "sgemm for %s (n=%u, in=%u, out=%u): element [%zu, %zu] is %.9g where the "
                     "naive reference gives %.9g (allowed difference %.3g)",
                     what, s->n, s->in, s->out, i / cols, i % cols, (double)c[i], (double)ref[i],
                     tol);
            return 0;
        }
    }
    return 1;
}

/* One product shape (a layer of `in` x `out`): the forward product at every row count of
 * `rows` and at `predict_rows` (0: none), the weight gradient at every row count of `rows`, the
 * input gradient too when `input_grad`. `key` keys the inputs' stream. Returns 1 when every
 * element passes, 0 when one does not (`why` says which), or SISA_ENOMEM. */
static int check_shape(const sisa_blas_gemms *g, uint32_t key, uint32_t in, uint32_t out,
                       const uint32_t *rows, int n_rows, uint32_t predict_rows, int input_grad,
                       char *why, size_t cap)
{
    int err = SISA_OK, ok = 1;
    float *A = NULL, *W = NULL, *D = NULL, *C = NULL, *R = NULL, *M = NULL;
    double *acc = NULL;
    uint32_t nmax = predict_rows;
    for (int r = 0; r < n_rows; r++) nmax = rows[r] > nmax ? rows[r] : nmax;
    const size_t big = (size_t)nmax * (in > out ? in : out);
    const size_t wsz = (size_t)in * out, csz = big > wsz ? big : wsz;
    A = sisa_malloc((size_t)nmax * in * sizeof *A);
    D = sisa_malloc((size_t)nmax * out * sizeof *D);
    W = sisa_malloc(wsz * sizeof *W);
    C = sisa_malloc(csz * sizeof *C);
    R = sisa_malloc(csz * sizeof *R);
    M = sisa_malloc(csz * sizeof *M);
    acc = sisa_malloc(2 * (size_t)WG_BLOCK * out * sizeof *acc);
    SISA_CHECK(A && D && W && C && R && M && acc, SISA_ENOMEM,
               "OpenBLAS self-check: out of memory for a %u x %u layer", in, out);
    fill(W, wsz, key, 0, 0);
    for (int r = 0; r <= n_rows && ok; r++) {
        /* r == n_rows: the prediction block, forward only. */
        const uint32_t n = r < n_rows ? rows[r] : predict_rows;
        if (n == 0) continue;
        shape s = {"", n, in, out};
        fill(A, (size_t)n * in, key, n, 1);
        fill(D, (size_t)n * out, key, n, 2);

        g->forward(C, A, W, n, in, out);
        ref_forward(R, M, A, W, n, in, out, acc);
        ok = compare(C, R, M, n, out, in, "the forward pass Z = A W", &s, why, cap);
        if (!ok || r == n_rows) continue;

        g->weight_grad(C, A, D, n, in, out);
        ref_weight_grad(R, M, A, D, n, in, out, acc);
        ok = compare(C, R, M, in, out, n, "the weight gradient A^T dZ", &s, why, cap);
        if (!ok || !input_grad) continue;

        g->input_grad(C, D, W, n, in, out);
        ref_input_grad(R, M, D, W, n, in, out);
        ok = compare(C, R, M, n, in, out, "the input gradient dZ W^T", &s, why, cap);
    }
    err = ok;
done:
    sisa_free(A), sisa_free(W), sisa_free(D), sisa_free(C), sisa_free(R), sisa_free(M),
        sisa_free(acc);
    return err;
}

int sisa_blas_self_check(const sisa_model_spec *ms, uint32_t predict_block,
                         const sisa_blas_gemms *gemms_in, char *why, size_t cap)
{
    int ok = 1;
    sisa_blas_gemms g = {sisa_k_dense_forward, sisa_k_weight_grad, sisa_k_input_grad};
    if (gemms_in && gemms_in->forward) g.forward = gemms_in->forward;
    if (gemms_in && gemms_in->weight_grad) g.weight_grad = gemms_in->weight_grad;
    if (gemms_in && gemms_in->input_grad) g.input_grad = gemms_in->input_grad;
    if (why && cap) why[0] = '\0';
    sisa_model_fp_setup();

    /* A cnn's convolutions are products too: (n h w, k k cin) x (k k cin, cout), checked with
     * the rows of one image and of three (or of the batch, when smaller). n h w rows already
     * cover the remainders of a row blocking and, at three images, more than one block of rows
     * and of the weight gradient's sums; the batch's tens of thousands of rows would only repeat
     * those blocks, at seconds of naive reference per command. The dense stack starts from the
     * last pooled output and computes the first layer's input gradient as well. */
    sisa_conv conv[SISA_CONFIG_MAX_CONV];
    const int n_conv = ms->type == SISA_MODEL_CNN ? sisa_model__conv_geometry(ms, conv) : 0;
    if (n_conv < 0) return n_conv;
    for (int l = 0; l < n_conv && ok == 1; l++) {
        const uint32_t px = conv[l].h * conv[l].w;
        const uint32_t images[2] = {1, ms->max_batch < 3 ? ms->max_batch : 3};
        const uint32_t rows[2] = {images[0] * px, images[1] * px};
        ok = check_shape(&g, 100u + (uint32_t)l, conv[l].kk, conv[l].cout, rows,
                         images[1] > 1 ? 2 : 1, 0, l > 0, why, cap);
    }

    uint32_t widths[SISA_CONFIG_MAX_HIDDEN + 2];
    int layers = 0;
    widths[0] = ms->d;
    if (n_conv > 0) {
        const sisa_conv *top = &conv[n_conv - 1];
        widths[0] = top->ph * top->pw * top->cout;
    }
    if (ms->type == SISA_MODEL_MLP || ms->type == SISA_MODEL_CNN)
        for (int l = 0; l < ms->n_hidden && l < SISA_CONFIG_MAX_HIDDEN; l++)
            widths[++layers] = (uint32_t)ms->hidden[l];
    widths[++layers] = ms->classes;

    /* Row counts: 1..17 (every remainder of a row blocking up to 16, and one block plus one),
     * the batch and the batch less one (an epoch's last batch), and the prediction block. */
    uint32_t rows[20];
    int n_rows = 0;
    for (uint32_t n = 1; n <= 17 && n <= ms->max_batch; n++) rows[n_rows++] = n;
    if (ms->max_batch > 18) rows[n_rows++] = ms->max_batch - 1;
    if (ms->max_batch > 17) rows[n_rows++] = ms->max_batch;

    for (int l = 0; l < layers && ok == 1; l++) {
        const int input_grad = ms->type == SISA_MODEL_CNN || (l > 0 && ms->type == SISA_MODEL_MLP);
        ok = check_shape(&g, (uint32_t)l, widths[l], widths[l + 1], rows, n_rows, predict_block,
                         input_grad, why, cap);
    }
    return ok;
}
