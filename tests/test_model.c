/*
 * test_model.c - src/model: kernels against their naive twins, optimizers against their twins
 * and hand-computed values, keyed initialisation, bit-for-bit determinism and checkpoint
 * resume, a finite-difference gradient check, training sanity, the tensor list, argument
 * checks, the floating-point mode, and that training and prediction allocate nothing.
 *
 * This executable is linked with --wrap for the allocation functions (tests/CMakeLists.txt),
 * so every allocation made by sisa_model or by this file passes through a counter.
 */
#include "testutil.h"

#include "base/rng.h"
#include "model/blas.h"
#include "model/fpenv.h"
#include "model/kernels.h"
#include "model/knn.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "sisa/error.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation counting (--wrap) ---------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **out, size_t align, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **out, size_t align, size_t size);

static long alloc_calls;
static size_t alloc_bytes; /* requested by the calls counted in alloc_calls */

void *__wrap_malloc(size_t size)
{
    alloc_calls++;
    alloc_bytes += size;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    alloc_calls++;
    alloc_bytes += count * size;
    return __real_calloc(count, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    alloc_calls++;
    alloc_bytes += size;
    return __real_realloc(p, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    alloc_calls++;
    alloc_bytes += size;
    return __real_aligned_alloc(align, size);
}

int __wrap_posix_memalign(void **out, size_t align, size_t size)
{
    alloc_calls++;
    alloc_bytes += size;
    return __real_posix_memalign(out, align, size);
}

/* ---- helpers ------------------------------------------------------------------------------- */

#define U_F32        (1.0 / 16777216.0) /* 2^-24, float's unit roundoff */
#define SISA_TEST_PI 3.14159265358979323846

static float *fbuf(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

static void fill(sisa_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t k = 0; k < n; k++) x[k] = lo + (hi - lo) * sisa_rng_uniform(r);
}

static void fill_labels(sisa_rng *r, int32_t *y, uint32_t n, uint32_t C)
{
    for (uint32_t i = 0; i < n; i++) y[i] = (int32_t)sisa_rng_below(r, C);
}

static void assert_close_(double got, double want, double tol, const char *what, size_t at,
                          const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "%s:%d: %s[%zu]: got %.9g, want %.9g (tolerance %.3g)\n", file, line, what,
                at, got, want, tol);
        fail();
    }
}
#define assert_close(got, want, tol, what, at)                                                     \
    assert_close_((got), (want), (tol), (what), (at), __FILE__, __LINE__)

static sisa_model_spec mlp_spec(uint32_t d, uint32_t C, int n_hidden, const int32_t *hidden,
                                uint32_t max_batch)
{
    sisa_model_spec ms;
    memset(&ms, 0, sizeof ms);
    ms.type = n_hidden ? SISA_MODEL_MLP : SISA_MODEL_LOGREG;
    ms.d = d;
    ms.classes = C;
    ms.n_hidden = n_hidden;
    for (int l = 0; l < n_hidden; l++) ms.hidden[l] = hidden[l];
    ms.activation = SISA_ACT_RELU;
    ms.max_batch = max_batch;
    return ms;
}

static sisa_optim_spec sgd_spec(float lr, float momentum, int nesterov, float wd)
{
    sisa_optim_spec os;
    memset(&os, 0, sizeof os);
    os.kind = SISA_OPT_SGD;
    os.lr = lr;
    os.momentum = momentum;
    os.nesterov = nesterov;
    os.weight_decay = wd;
    return os;
}

static sisa_optim_spec adam_spec(float lr, float wd)
{
    sisa_optim_spec os;
    memset(&os, 0, sizeof os);
    os.kind = SISA_OPT_ADAM;
    os.lr = lr;
    os.beta1 = 0.9f;
    os.beta2 = 0.999f;
    os.eps = 1e-8f;
    os.weight_decay = wd;
    return os;
}

static sisa_model *make(const sisa_model_spec *ms, const sisa_optim_spec *os)
{
    sisa_model *m = NULL;
    int rc = sisa_model_create(&m, ms, os);
    if (rc != SISA_OK) fprintf(stderr, "create: %s\n", sisa_error_message());
    assert_int_equal(rc, SISA_OK);
    assert_non_null(m);
    return m;
}

static uint64_t numel(const sisa_tensor *t)
{
    return t->shape[0] * t->shape[1];
}

/* The gradient of parameter tensor t: same offset in the gradient allocation (model.c). */
static const float *grad_of(const sisa_model *m, const sisa_tensor *t)
{
    return m->grads + (t->data - m->params);
}

/* Parameters, gradients, optimizer state and step count of two models are identical bit for
 * bit (whole allocations, padding included). */
static void assert_same_model(const sisa_model *a, const sisa_model *b)
{
    assert_int_equal(sisa_model_param_count(a), sisa_model_param_count(b));
    assert_int_equal(sisa_model_state_count(a), sisa_model_state_count(b));
    for (int i = 0; i < sisa_model_param_count(a); i++) {
        const sisa_tensor *ta = sisa_model_param(a, i), *tb = sisa_model_param(b, i);
        assert_string_equal(ta->name, tb->name);
        assert_memory_equal(ta->data, tb->data, numel(ta) * sizeof(float));
    }
    for (int i = 0; i < sisa_model_state_count(a); i++) {
        const sisa_tensor *ta = sisa_model_state(a, i), *tb = sisa_model_state(b, i);
        assert_string_equal(ta->name, tb->name);
        assert_memory_equal(ta->data, tb->data, numel(ta) * sizeof(float));
    }
    assert_true(a->n_params == b->n_params && a->n_state == b->n_state);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_equal(a->grads, b->grads, a->n_params * sizeof(float));
    if (a->n_state) assert_memory_equal(a->state, b->state, a->n_state * sizeof(float));
    assert_true(sisa_model_steps(a) == sisa_model_steps(b));
}

static int setup_fp(void **state)
{
    (void)state;
    sisa_model_fp_setup();
    return 0;
}

/* ---- kernels against their twins ----------------------------------------------------------- */

typedef struct {
    uint32_t n, in, out;
} shape3;

static const shape3 shapes[] = {
    {1, 1, 2},   {1, 784, 10}, {2, 1, 2},    {3, 5, 2},      {7, 13, 3},
    {33, 17, 5}, {129, 31, 7}, {64, 64, 64}, {128, 100, 37}, {5, 300, 1},
};

/* A float dot product of length K, however blocked, is within K u sum |a_k b_k| of the exact
 * value (u = 2^-24); the twin adds at most one more rounding. */
static double dot_tol(uint32_t K, double abs_sum)
{
    return ((double)K + 2.0) * U_F32 * abs_sum + 1e-30;
}

static void test_gemm_kernels(void **state)
{
    (void)state;
    sisa_rng r;
    sisa_rng_init(&r, 1, SISA_RNG_TEST, 1, 0, 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t n = shapes[s].n, in = shapes[s].in, out = shapes[s].out;
        float *A = fbuf((size_t)n * in), *W = fbuf((size_t)in * out), *dZ = fbuf((size_t)n * out);
        float *Z = fbuf((size_t)n * out), *Zr = fbuf((size_t)n * out);
        float *dW = fbuf((size_t)in * out), *dWr = fbuf((size_t)in * out);
        float *dA = fbuf((size_t)n * in), *dAr = fbuf((size_t)n * in);
        fill(&r, A, (size_t)n * in, -1, 1);
        fill(&r, W, (size_t)in * out, -1, 1);
        fill(&r, dZ, (size_t)n * out, -1, 1);
        /* Garbage in the outputs: the kernels must overwrite, not accumulate. */
        fill(&r, Z, (size_t)n * out, 5, 6);
        fill(&r, dW, (size_t)in * out, 5, 6);
        fill(&r, dA, (size_t)n * in, 5, 6);

        sisa_k_dense_forward(Z, A, W, n, in, out);
        sisa_ref_dense_forward(Zr, A, W, n, in, out);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < out; j++) {
                double abs_sum = 0;
                for (uint32_t k = 0; k < in; k++)
                    abs_sum += fabs((double)A[(size_t)i * in + k] * W[(size_t)k * out + j]);
                size_t at = (size_t)i * out + j;
                assert_close(Z[at], Zr[at], dot_tol(in, abs_sum), "dense_forward", at);
            }

        sisa_k_weight_grad(dW, A, dZ, n, in, out);
        sisa_ref_weight_grad(dWr, A, dZ, n, in, out);
        for (uint32_t k = 0; k < in; k++)
            for (uint32_t j = 0; j < out; j++) {
                double abs_sum = 0;
                for (uint32_t i = 0; i < n; i++)
                    abs_sum += fabs((double)A[(size_t)i * in + k] * dZ[(size_t)i * out + j]);
                size_t at = (size_t)k * out + j;
                assert_close(dW[at], dWr[at], dot_tol(n, abs_sum), "weight_grad", at);
            }

        sisa_k_input_grad(dA, dZ, W, n, in, out);
        sisa_ref_input_grad(dAr, dZ, W, n, in, out);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < in; k++) {
                double abs_sum = 0;
                for (uint32_t j = 0; j < out; j++)
                    abs_sum += fabs((double)dZ[(size_t)i * out + j] * W[(size_t)k * out + j]);
                size_t at = (size_t)i * in + k;
                assert_close(dA[at], dAr[at], dot_tol(out, abs_sum), "input_grad", at);
            }
        free(A);
        free(W);
        free(dZ);
        free(Z);
        free(Zr);
        free(dW);
        free(dWr);
        free(dA);
        free(dAr);
    }
}

static void test_elementwise_kernels(void **state)
{
    (void)state;
    sisa_rng r;
    sisa_rng_init(&r, 2, SISA_RNG_TEST, 2, 0, 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t n = shapes[s].n, out = shapes[s].out;
        size_t cnt = (size_t)n * out;
        float *Z = fbuf(cnt), *Zr = fbuf(cnt), *b = fbuf(out), *A = fbuf(cnt);
        float *db = fbuf(out), *dbr = fbuf(out);
        fill(&r, Z, cnt, -2, 2);
        fill(&r, b, out, -1, 1);
        memcpy(Zr, Z, cnt * sizeof(float));

        /* Same single rounding in both: identical bits. */
        sisa_k_bias_add(Z, b, n, out);
        sisa_ref_bias_add(Zr, b, n, out);
        assert_memory_equal(Z, Zr, cnt * sizeof(float));

        fill(&r, Z, cnt, -2, 2);
        memcpy(Zr, Z, cnt * sizeof(float));
        sisa_k_bias_relu(Z, b, n, out);
        sisa_ref_bias_relu(Zr, b, n, out);
        assert_memory_equal(Z, Zr, cnt * sizeof(float));
        for (size_t k = 0; k < cnt; k++) assert_true(Z[k] >= 0.0f);

        /* ReLU backward: the mask comes from the ReLU output. */
        fill(&r, A, cnt, -1, 1);
        for (size_t k = 0; k < cnt; k++) A[k] = A[k] < 0 ? 0.0f : A[k];
        fill(&r, Z, cnt, -3, 3);
        memcpy(Zr, Z, cnt * sizeof(float));
        sisa_k_relu_backward(Z, A, cnt);
        sisa_ref_relu_backward(Zr, A, cnt);
        assert_memory_equal(Z, Zr, cnt * sizeof(float));
        for (size_t k = 0; k < cnt; k++) assert_true(A[k] > 0 ? Z[k] == Zr[k] : Z[k] == 0.0f);

        /* Bias gradient: n float additions in a fixed order against a double sum. */
        fill(&r, Z, cnt, -1, 1);
        fill(&r, db, out, 7, 8);
        sisa_k_bias_grad(db, Z, n, out);
        sisa_ref_bias_grad(dbr, Z, n, out);
        for (uint32_t j = 0; j < out; j++) {
            double abs_sum = 0;
            for (uint32_t i = 0; i < n; i++) abs_sum += fabs(Z[(size_t)i * out + j]);
            assert_close(db[j], dbr[j], dot_tol(n, abs_sum), "bias_grad", j);
        }
        free(Z);
        free(Zr);
        free(b);
        free(A);
        free(db);
        free(dbr);
    }

    /* A NaN entering the ReLU stays a NaN: a diverged model is not silently "repaired". */
    float z[3] = {NAN, -1.0f, 2.0f}, bb[3] = {0, 0, 0};
    sisa_k_bias_relu(z, bb, 1, 3);
    assert_true(isnan(z[0]));
    assert_true(z[1] == 0.0f && z[2] == 2.0f);
}

static void test_softmax_kernels(void **state)
{
    (void)state;
    sisa_rng r;
    sisa_rng_init(&r, 3, SISA_RNG_TEST, 3, 0, 0);
    static const uint32_t ns[] = {1, 2, 7, 33, 128};
    static const uint32_t Cs[] = {2, 3, 10, 37};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t c = 0; c < sizeof Cs / sizeof Cs[0]; c++) {
            uint32_t n = ns[a], C = Cs[c];
            size_t cnt = (size_t)n * C;
            float *Z = fbuf(cnt), *Zr = fbuf(cnt), *L = fbuf(cnt);
            int32_t *y = calloc(n, sizeof(int32_t));
            assert_non_null(y);
            fill(&r, L, cnt, -8, 8);
            fill_labels(&r, y, n, C);
            /* exp has 1 ulp, the sum C, the division half an ulp, the 1/n scaling half. */
            double rel = ((double)C + 4.0) * 2.0 * U_F32;

            memcpy(Z, L, cnt * sizeof(float));
            memcpy(Zr, L, cnt * sizeof(float));
            sisa_k_softmax(Z, n, C);
            sisa_ref_softmax(Zr, n, C);
            for (size_t k = 0; k < cnt; k++)
                assert_close(Z[k], Zr[k], rel * Zr[k] + FLT_MIN, "softmax", k);

            memcpy(Z, L, cnt * sizeof(float));
            memcpy(Zr, L, cnt * sizeof(float));
            double loss = sisa_k_softmax_xent(Z, y, n, C);
            double loss_r = sisa_ref_softmax_xent(Zr, y, n, C);
            assert_close(loss, loss_r, 1e-5 * fabs(loss_r) + 1e-6, "xent loss", 0);
            for (uint32_t i = 0; i < n; i++) {
                double row = 0.0;
                for (uint32_t j = 0; j < C; j++) {
                    size_t k = (size_t)i * C + j;
                    /* P - onehot at the label cancels: compare against 1/n there. */
                    double scale = (int32_t)j == y[i] ? 1.0 / n : fabs(Zr[k]);
                    assert_close(Z[k], Zr[k], rel * scale + FLT_MIN, "xent grad", k);
                    row += Z[k];
                }
                assert_close(row, 0.0, 1e-6 / n, "xent grad row sum", i); /* sum P = 1 */
            }
            free(Z);
            free(Zr);
            free(L);
            free(y);
        }

    /* Stability: huge logits give exact one-hot probabilities and a finite loss. */
    float z[4] = {1000.0f, -1000.0f, 88.0f, 999.0f};
    int32_t y0[2] = {1, 0};
    double loss = sisa_k_softmax_xent(z, y0, 2, 2);
    assert_true(isfinite(loss));
    /* Row 0: label 1 sits 2000 below the max; row 1: label 0 sits 911 below. */
    assert_close(loss, (2000.0 + 911.0) / 2.0, 1e-3, "stable loss", 0);
    assert_true(z[0] == 0.5f && z[1] == -0.5f); /* (1 - 0) / 2, (0 - 1) / 2 */
    float p[3] = {3e38f, 3e38f, -3e38f};
    sisa_k_softmax(p, 1, 3);
    assert_true(p[0] == 0.5f && p[1] == 0.5f && p[2] == 0.0f);
}

/* ---- optimizers ---------------------------------------------------------------------------- */

static void check_optim_case(const sisa_optim_spec *os, size_t count, int steps)
{
    sisa_rng r;
    sisa_rng_init(&r, 4, SISA_RNG_TEST, (uint32_t)count, (uint32_t)os->kind, 0);
    float *w = fbuf(count), *wr = fbuf(count), *g = fbuf(count);
    float *m = fbuf(count), *v = fbuf(count), *mr = fbuf(count), *vr = fbuf(count);
    fill(&r, w, count, -1, 1);
    memcpy(wr, w, count * sizeof(float));
    for (int t = 1; t <= steps; t++) {
        fill(&r, g, count, -0.5f, 0.5f);
        if (os->kind == SISA_OPT_ADAM) {
            sisa_k_adam(w, g, m, v, count, os, (uint64_t)t);
            sisa_ref_adam(wr, g, mr, vr, count, os, (uint64_t)t);
        } else {
            sisa_k_sgd(w, g, os->momentum > 0 ? m : NULL, count, os);
            sisa_ref_sgd(wr, g, os->momentum > 0 ? mr : NULL, count, os);
        }
    }
    /* A few roundings per step, compounding over `steps` steps, relative to the size of the
     * operands (|w| and the velocity's terms are O(1); sums of them may cancel). */
    double rel = 16.0 * steps * U_F32;
    for (size_t k = 0; k < count; k++) {
        assert_close(w[k], wr[k], rel * (fabs(wr[k]) + 1.0), "w", k);
        assert_close(m[k], mr[k], rel * (fabs(mr[k]) + 1.0), "m/velocity", k);
        assert_close(v[k], vr[k], rel * fabs(vr[k]) + 1e-12, "v", k);
    }
    free(w);
    free(wr);
    free(g);
    free(m);
    free(v);
    free(mr);
    free(vr);
}

static void test_optimizers_vs_ref(void **state)
{
    (void)state;
    const sisa_optim_spec cases[] = {
        sgd_spec(0.1f, 0.0f, 0, 0.0f),  sgd_spec(0.05f, 0.0f, 0, 0.01f),
        sgd_spec(0.1f, 0.9f, 0, 0.0f),  sgd_spec(0.1f, 0.9f, 1, 0.0f),
        sgd_spec(0.02f, 0.5f, 1, 0.1f), adam_spec(1e-3f, 0.0f),
        adam_spec(0.1f, 0.0f),          adam_spec(1e-2f, 0.05f),
    };
    static const size_t counts[] = {1, 2, 7, 1000, 1027};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
            check_optim_case(&cases[c], counts[k], 5);
}

/* The optimized update is the same float formula evaluated one element at a time: whichever
 * vector width the CPU dispatch picked, the bits must be those of the scalar evaluation. This
 * test restates the formula of optim.c on purpose; change both together. */
static void test_optimizers_bitwise_scalar(void **state)
{
    (void)state;
    const size_t count = 1000 + 13;
    sisa_rng r;
    sisa_rng_init(&r, 5, SISA_RNG_TEST, 5, 0, 0);
    float *w = fbuf(count), *g = fbuf(count), *m = fbuf(count), *v = fbuf(count);
    float *ws = fbuf(count), *ms = fbuf(count), *vs = fbuf(count);
    fill(&r, w, count, -1, 1);
    memcpy(ws, w, count * sizeof(float));
    sisa_optim_spec o = adam_spec(1e-2f, 0.01f);
    for (uint64_t t = 1; t <= 4; t++) {
        fill(&r, g, count, -1, 1);
        sisa_k_adam(w, g, m, v, count, &o, t);
        const double bc1 = 1.0 - pow((double)o.beta1, (double)t);
        const double bc2 = 1.0 - pow((double)o.beta2, (double)t);
        const float step = (float)((double)o.lr / bc1), rsq2 = (float)(1.0 / sqrt(bc2));
        const float c1 = (float)(1.0 - (double)o.beta1), c2 = (float)(1.0 - (double)o.beta2);
        for (size_t k = 0; k < count; k++) {
            volatile float gk = g[k] + o.weight_decay * ws[k];
            volatile float mk = o.beta1 * ms[k] + c1 * gk;
            volatile float vk = o.beta2 * vs[k] + c2 * (gk * gk);
            ms[k] = mk;
            vs[k] = vk;
            ws[k] -= step * mk / (sqrtf(vk) * rsq2 + o.eps);
        }
        assert_memory_equal(w, ws, count * sizeof(float));
        assert_memory_equal(m, ms, count * sizeof(float));
        assert_memory_equal(v, vs, count * sizeof(float));
    }
    o = sgd_spec(0.1f, 0.9f, 1, 0.01f);
    for (int t = 1; t <= 3; t++) {
        fill(&r, g, count, -1, 1);
        sisa_k_sgd(w, g, m, count, &o);
        for (size_t k = 0; k < count; k++) {
            volatile float gk = g[k] + o.weight_decay * ws[k];
            volatile float vk = o.momentum * ms[k] + gk;
            ms[k] = vk;
            ws[k] -= o.lr * (gk + o.momentum * vk);
        }
        assert_memory_equal(w, ws, count * sizeof(float));
        assert_memory_equal(m, ms, count * sizeof(float));
    }
    free(w);
    free(g);
    free(m);
    free(v);
    free(ws);
    free(ms);
    free(vs);
}

/* Two parameters w = (1, -2), gradients (0.5, -0.25) then (0.25, 0.5), worked by hand. */
static void test_sgd_by_hand(void **state)
{
    (void)state;
    const float g1[2] = {0.5f, -0.25f}, g2[2] = {0.25f, 0.5f};
    const double tol = 1e-6;

    /* Plain SGD, lr 0.1, weight decay 0.1: g' = g + 0.1 w = (0.6, -0.45); w = (0.94, -1.955). */
    float w[2] = {1.0f, -2.0f};
    sisa_optim_spec o = sgd_spec(0.1f, 0.0f, 0, 0.1f);
    sisa_k_sgd(w, g1, NULL, 2, &o);
    assert_close(w[0], 0.94, tol, "sgd", 0);
    assert_close(w[1], -1.955, tol, "sgd", 1);

    /* Momentum 0.9: v1 = g1, w1 = w0 - 0.1 v1 = (0.95, -1.975);
     * v2 = 0.9 v1 + g2 = (0.7, 0.275), w2 = (0.88, -2.0025). */
    float vel[2] = {0, 0};
    w[0] = 1.0f;
    w[1] = -2.0f;
    o = sgd_spec(0.1f, 0.9f, 0, 0.0f);
    sisa_k_sgd(w, g1, vel, 2, &o);
    assert_close(w[0], 0.95, tol, "momentum", 0);
    assert_close(w[1], -1.975, tol, "momentum", 1);
    sisa_k_sgd(w, g2, vel, 2, &o);
    assert_close(vel[0], 0.7, tol, "velocity", 0);
    assert_close(vel[1], 0.275, tol, "velocity", 1);
    assert_close(w[0], 0.88, tol, "momentum", 0);
    assert_close(w[1], -2.0025, tol, "momentum", 1);

    /* Nesterov: u = g + 0.9 v. Step 1: v = g1, u = 1.9 g1 = (0.95, -0.475), w = (0.905, -1.9525);
     * step 2: v = (0.7, 0.275), u = (0.25 + 0.63, 0.5 + 0.2475) = (0.88, 0.7475),
     * w = (0.817, -2.02725). */
    vel[0] = vel[1] = 0;
    w[0] = 1.0f;
    w[1] = -2.0f;
    o = sgd_spec(0.1f, 0.9f, 1, 0.0f);
    sisa_k_sgd(w, g1, vel, 2, &o);
    assert_close(w[0], 0.905, tol, "nesterov", 0);
    assert_close(w[1], -1.9525, tol, "nesterov", 1);
    sisa_k_sgd(w, g2, vel, 2, &o);
    assert_close(w[0], 0.817, tol, "nesterov", 0);
    assert_close(w[1], -2.02725, tol, "nesterov", 1);
}

/* Dyadic betas (0.75, 0.9375) and gradients keep every moment exactly representable, so m and
 * v are checked for equality and only the square root and division round. */
static void test_adam_by_hand(void **state)
{
    (void)state;
    const float g1[2] = {0.5f, -0.25f}, g2[2] = {0.25f, 0.5f};
    float w[2] = {1.0f, -2.0f}, m[2] = {0, 0}, v[2] = {0, 0};
    sisa_optim_spec o = adam_spec(0.125f, 0.0f);
    o.beta1 = 0.75f;
    o.beta2 = 0.9375f;
#define near(got, want, what, at) assert_close((got), (want), 1e-6 * fabs(want), (what), (at))

    /* t = 1: m = 0.25 g, v = 0.0625 g^2; bc1 = 0.25, bc2 = 0.0625, so mhat = g, vhat = g^2 and
     * the step is lr g / (|g| + 1e-8) = (0.124999998, -0.124999995). */
    sisa_k_adam(w, g1, m, v, 2, &o, 1);
    assert_true(m[0] == 0.125f && m[1] == -0.0625f);
    assert_true(v[0] == 0.015625f && v[1] == 0.00390625f);
    near(w[0], 0.8750000025, "w", 0);
    near(w[1], -1.875000005, "w", 1);

    /* t = 2: m = 0.75 m + 0.25 g2 = (0.15625, 0.078125); v = 0.9375 v + 0.0625 g2^2 =
     * (0.0185546875, 0.019287109375); bc1 = 1 - 0.5625 = 0.4375, bc2 = 1 - 0.87890625 =
     * 0.12109375; mhat = (0.357142857, 0.178571429), vhat = (0.153225806, 0.159274194),
     * sqrt(vhat) = (0.391440681, 0.399091711); steps 0.125 mhat / (sqrt(vhat) + 1e-8) =
     * (0.114047564, 0.0559305729): w = (0.760952439, -1.930930578). */
    sisa_k_adam(w, g2, m, v, 2, &o, 2);
    assert_true(m[0] == 0.15625f && m[1] == 0.078125f);
    assert_true(v[0] == 0.0185546875f && v[1] == 0.019287109375f);
    near(w[0], 0.760952439, "w", 0);
    near(w[1], -1.930930578, "w", 1);

    /* Weight decay 0.5 enters the gradient. t = 1: g' = g1 + 0.5 w0 = (1, -1.25), m = (0.25,
     * -0.3125), v = (0.0625, 0.09765625), w = (0.875, -1.875) up to 1e-9. t = 2: g' = g2 + 0.5 w1
     * = (0.6875, -0.4375), m = (0.359375, -0.34375), v = (0.088134765625, 0.103515625),
     * mhat = (0.821428571, -0.785714286), sqrt(vhat) = (0.853125185, 0.924574881), steps
     * (0.120355807, -0.106226426): w = (0.754644194, -1.768773575). */
    float wd_w[2] = {1.0f, -2.0f}, wd_m[2] = {0, 0}, wd_v[2] = {0, 0};
    o.weight_decay = 0.5f;
    sisa_k_adam(wd_w, g1, wd_m, wd_v, 2, &o, 1);
    assert_true(wd_m[0] == 0.25f && wd_m[1] == -0.3125f);
    assert_true(wd_v[0] == 0.0625f && wd_v[1] == 0.09765625f);
    near(wd_w[0], 0.875, "w", 0);
    near(wd_w[1], -1.875, "w", 1);
    sisa_k_adam(wd_w, g2, wd_m, wd_v, 2, &o, 2);
    near(wd_m[0], 0.359375, "m", 0);
    near(wd_m[1], -0.34375, "m", 1);
    near(wd_v[0], 0.088134765625, "v", 0);
    near(wd_v[1], 0.103515625, "v", 1);
    near(wd_w[0], 0.754644194, "w", 0);
    near(wd_w[1], -1.768773575, "w", 1);
#undef near
}

/* ---- learning-rate schedule ---------------------------------------------------------------- */

/* sisa_optim_lr against its twin (libm's cosl in long double) and by hand: constant is lr
 * exactly; cosine starts at lr exactly, passes (1 + f) / 2 lr half way and falls to f lr,
 * never rising on the way, keeps its relative precision to the last step, and depends on
 * the position in the stage only. */
static void test_schedule(void **state)
{
    (void)state;
    sisa_optim_spec o = adam_spec(4e-3f, 0);
    for (uint64_t done = 0; done < 1000; done += 7) {
        assert_true(sisa_optim_lr(&o, done, 1000) == o.lr);
        assert_true(sisa_ref_optim_lr(&o, done, 1000) == o.lr);
    }
    o.final_lr_fraction = 0.3f; /* ignored by the constant schedule */
    assert_true(sisa_optim_lr(&o, 999, 1000) == o.lr);

    const float fractions[] = {0.0f, 0.3f, 0.05f, 1.0f};
    const uint64_t totals[] = {1, 2, 3, 128, 1000, 15000, 93750, 600000, (uint64_t)1 << 40};
    for (size_t fi = 0; fi < sizeof fractions / sizeof fractions[0]; fi++) {
        o.schedule = SISA_SCHED_COSINE;
        o.final_lr_fraction = fractions[fi];
        const double f = fractions[fi], lr = o.lr;
        for (size_t ti = 0; ti < sizeof totals / sizeof totals[0]; ti++) {
            const uint64_t total = totals[ti];
            assert_true(sisa_optim_lr(&o, 0, total) == o.lr);
            float prev = o.lr;
            const uint64_t stride = total > 4000 ? total / 4000 : 1;
            for (uint64_t done = 0; done < total; done += stride) {
                float got = sisa_optim_lr(&o, done, total);
                float want = sisa_ref_optim_lr(&o, done, total);
                /* Both round a value within 1e-15 (relative) of the true one to float: they
                 * agree, or sit on the two sides of a rounding boundary one ulp apart. */
                /* The twin's 1 + cosl(...) near the end of a stage cancels down to long
                 * double's absolute precision, 2^-64 of lr. */
                const double slack = (double)nextafterf(want, 1.0f) - want + lr * 0x1p-62;
                if (fabs((double)got - (double)want) > slack)
                    fail_msg("cosine f=%g: lr(%llu / %llu) = %.9g, the twin says %.9g", f,
                             (unsigned long long)done, (unsigned long long)total, (double)got,
                             (double)want);
                assert_true(got <= prev);
                assert_true(got >= (float)(f * lr) * (1.0f - 1e-7f));
                prev = got;
            }
        }
        /* Half way, and the last step of a long stage. */
        assert_close(sisa_optim_lr(&o, 500, 1000), lr * (1.0 + f) / 2.0, lr * 1e-7, "half", 500);
        assert_close(sisa_optim_lr(&o, 999999, 1000000), lr * f, lr * (f * 1.2e-7 + 1e-11), "end",
                     999999);
        /* With f = 0 the last steps' rates are lr sin^2(pi / (2 total)) ~ lr (pi / 2 total)^2,
         * to float precision however small (a 1 + cos(...) would have cancelled to 0). */
        if (f == 0.0) {
            const uint64_t big = (uint64_t)1 << 40;
            const double want =
                lr * (SISA_TEST_PI / (2.0 * (double)big)) * (SISA_TEST_PI / (2.0 * (double)big));
            assert_close(sisa_optim_lr(&o, big - 1, big), want, want * 2.4e-7, "last", 0);
        }
        /* Counted in sample visits: the same position in a stage twice as long is the same
         * rate. */
        assert_true(sisa_optim_lr(&o, 300, 1000) == sisa_optim_lr(&o, 600, 2000));
    }
    /* By hand: cos(pi / 3) = 1/2, so a third of the way the rate is f + (1 - f) 3/4. */
    o.final_lr_fraction = 0.2f;
    assert_close(sisa_optim_lr(&o, 1, 3), (double)o.lr * (0.2 + 0.8 * 0.75), 4e-3 * 1e-7, "third",
                 1);
    /* f = 1 is constant in effect. */
    o.final_lr_fraction = 1.0f;
    for (uint64_t done = 0; done < 100; done++) assert_true(sisa_optim_lr(&o, done, 100) == o.lr);
}

/* A step after sisa_model_set_lr(x) is bit for bit a step of a model created with lr x: the
 * rate reaches both optimizers, and it is the only thing set_lr changes. */
static void test_set_lr(void **state)
{
    (void)state;
    const int32_t hidden[1] = {8};
    sisa_model_spec ms = mlp_spec(6, 3, 1, hidden, 5);
    sisa_optim_spec opts[2] = {sgd_spec(0.1f, 0.9f, 1, 1e-3f), adam_spec(1e-2f, 1e-3f)};
    float X[5 * 6];
    int32_t y[5] = {0, 1, 2, 1, 0};
    sisa_rng r;
    sisa_rng_init(&r, 5, SISA_RNG_TEST, 5, 0, 0);
    fill(&r, X, 5 * 6, -1, 1);
    for (int k = 0; k < 2; k++) {
        sisa_optim_spec half = opts[k];
        half.lr = opts[k].lr * 0.375f;
        sisa_model *a = make(&ms, &opts[k]), *b = make(&ms, &half), *c = make(&ms, &opts[k]);
        sisa_model_init(a, 3, 1);
        sisa_model_init(b, 3, 1);
        sisa_model_init(c, 3, 1);
        for (int step = 0; step < 4; step++) {
            sisa_model_set_lr(a, half.lr);
            sisa_model_train_step(a, X, y, 5);
            sisa_model_train_step(b, X, y, 5);
            sisa_model_train_step(c, X, y, 5);
        }
        assert_same_model(a, b);
        /* ... and it did change something: c kept the spec's rate. */
        assert_memory_not_equal(sisa_model_param(a, 0)->data, sisa_model_param(c, 0)->data,
                                numel(sisa_model_param(a, 0)) * sizeof(float));
        /* Re-initialising returns to the spec's rate. */
        sisa_model_init(a, 3, 1);
        sisa_model_init(c, 3, 1);
        sisa_model_train_step(a, X, y, 5);
        sisa_model_train_step(c, X, y, 5);
        assert_same_model(a, c);
        sisa_model_destroy(a);
        sisa_model_destroy(b);
        sisa_model_destroy(c);
    }
}

/* ---- initialisation ------------------------------------------------------------------------ */

static void test_init_keyed(void **state)
{
    (void)state;
    const int32_t hidden[2] = {6, 5};
    sisa_model_spec ms = mlp_spec(7, 3, 2, hidden, 4);
    sisa_optim_spec os = adam_spec(1e-3f, 0);
    sisa_model *a = make(&ms, &os), *b = make(&ms, &os), *c = make(&ms, &os), *d = make(&ms, &os);
    sisa_model_init(a, 42, 3);
    sisa_model_init(b, 42, 3);
    sisa_model_init(c, 42, 4);
    sisa_model_init(d, 43, 3);
    assert_same_model(a, b);
    for (int i = 0; i < sisa_model_param_count(a); i += 2) { /* weights differ, biases are 0 */
        const sisa_tensor *ta = sisa_model_param(a, i);
        size_t bytes = numel(ta) * sizeof(float);
        assert_memory_not_equal(ta->data, sisa_model_param(c, i)->data, bytes);
        assert_memory_not_equal(ta->data, sisa_model_param(d, i)->data, bytes);
    }

    /* The stream: (seed, SISA_RNG_INIT, a = shard), weights layer by layer in row-major order,
     * w = (2u - 1) sqrt(6 / fan_in); biases 0. */
    sisa_rng r;
    sisa_rng_init(&r, 42, SISA_RNG_INIT, 3, 0, 0);
    uint32_t fan_in[3] = {7, 6, 5};
    for (int l = 0; l < 3; l++) {
        const sisa_tensor *w = sisa_model_param(a, 2 * l), *bias = sisa_model_param(a, 2 * l + 1);
        double limit = sqrt(6.0 / fan_in[l]);
        for (uint64_t k = 0; k < numel(w); k++) {
            float want = (float)((2.0 * (double)sisa_rng_uniform(&r) - 1.0) * limit);
            assert_true(w->data[k] == want);
            assert_true(fabsf(w->data[k]) <= (float)limit);
        }
        for (uint64_t k = 0; k < numel(bias); k++) assert_true(bias->data[k] == 0.0f);
    }

    /* Re-initialising a trained model resets everything, optimizer state and steps included. */
    float X[4 * 7];
    int32_t y[4] = {0, 1, 2, 1};
    sisa_rng_init(&r, 9, SISA_RNG_TEST, 9, 0, 0);
    fill(&r, X, 4 * 7, -1, 1);
    for (int s = 0; s < 3; s++) sisa_model_train_step(c, X, y, 4);
    sisa_model_init(c, 42, 3);
    assert_same_model(a, c);
    for (int i = 0; i < sisa_model_state_count(c); i++) {
        const sisa_tensor *t = sisa_model_state(c, i);
        for (uint64_t k = 0; k < numel(t); k++) assert_true(t->data[k] == 0.0f);
    }
    sisa_model_destroy(a);
    sisa_model_destroy(b);
    sisa_model_destroy(c);
    sisa_model_destroy(d);
}

/* ---- determinism and resume ---------------------------------------------------------------- */

typedef struct {
    sisa_model_spec ms;
    sisa_optim_spec os;
} model_case;

static void model_cases(model_case out[6])
{
    static const int32_t hidden[2] = {16, 9};
    sisa_model_spec lr = mlp_spec(20, 4, 0, NULL, 32), mlp = mlp_spec(20, 4, 2, hidden, 32);
    out[0] = (model_case){lr, adam_spec(1e-2f, 1e-3f)};
    out[1] = (model_case){lr, sgd_spec(0.1f, 0.9f, 1, 0.0f)};
    out[2] = (model_case){lr, sgd_spec(0.1f, 0.0f, 0, 1e-3f)};
    out[3] = (model_case){mlp, adam_spec(1e-2f, 1e-4f)};
    out[4] = (model_case){mlp, sgd_spec(0.05f, 0.9f, 0, 0.0f)};
    out[5] = (model_case){mlp, sgd_spec(0.05f, 0.0f, 0, 0.0f)};
}

/* Batch number `s` of a fixed synthetic sequence: sizes vary (1 .. max_batch). */
static uint32_t batch_at(uint32_t s, const sisa_model_spec *ms, float *X, int32_t *y)
{
    sisa_rng r;
    sisa_rng_init(&r, 77, SISA_RNG_TEST, s, 1, 0);
    uint32_t n = 1 + sisa_rng_below(&r, ms->max_batch);
    fill(&r, X, (size_t)n * ms->d, -1, 1);
    fill_labels(&r, y, n, ms->classes);
    return n;
}

static void train_steps(sisa_model *m, uint32_t from, uint32_t to, float *X, int32_t *y)
{
    const sisa_model_spec *ms = sisa_model_get_spec(m);
    for (uint32_t s = from; s < to; s++) {
        uint32_t n = batch_at(s, ms, X, y);
        float loss = sisa_model_train_step(m, X, y, n);
        assert_true(isfinite(loss));
    }
}

static void test_determinism(void **state)
{
    (void)state;
    model_case cases[6];
    model_cases(cases);
    for (int c = 0; c < 6; c++) {
        sisa_model *a = make(&cases[c].ms, &cases[c].os), *b = make(&cases[c].ms, &cases[c].os);
        float *X = fbuf((size_t)cases[c].ms.max_batch * cases[c].ms.d);
        int32_t y[32];
        sisa_model_init(a, 5, 1);
        sisa_model_init(b, 5, 1);
        train_steps(a, 0, 300, X, y);
        train_steps(b, 0, 300, X, y);
        assert_same_model(a, b);
        assert_true(sisa_model_steps(a) == 300);
        /* ... and training did move them: equal because both changed the same way. */
        sisa_model *fresh = make(&cases[c].ms, &cases[c].os);
        sisa_model_init(fresh, 5, 1);
        for (int i = 0; i < sisa_model_param_count(a); i++)
            assert_memory_not_equal(sisa_model_param(a, i)->data, sisa_model_param(fresh, i)->data,
                                    numel(sisa_model_param(a, i)) * sizeof(float));
        sisa_model_destroy(fresh);
        uint32_t n = batch_at(999, &cases[c].ms, X, y);
        float la = sisa_model_train_step(a, X, y, n), lb = sisa_model_train_step(b, X, y, n);
        assert_memory_equal(&la, &lb, sizeof la);
        assert_same_model(a, b);
        free(X);
        sisa_model_destroy(a);
        sisa_model_destroy(b);
    }
}

static void test_resume_bit_exact(void **state)
{
    (void)state;
    model_case cases[6];
    model_cases(cases);
    for (int c = 0; c < 6; c++) {
        sisa_model *a = make(&cases[c].ms, &cases[c].os), *b = make(&cases[c].ms, &cases[c].os);
        float *X = fbuf((size_t)cases[c].ms.max_batch * cases[c].ms.d);
        int32_t y[32];
        sisa_model_init(a, 11, 2);
        train_steps(a, 0, 137, X, y);

        /* "Checkpoint": copy every listed tensor and the step count out. */
        int np = sisa_model_param_count(a), ns = sisa_model_state_count(a);
        float *saved[64];
        for (int i = 0; i < np + ns; i++) {
            const sisa_tensor *t = i < np ? sisa_model_param(a, i) : sisa_model_state(a, i - np);
            saved[i] = fbuf(numel(t));
            memcpy(saved[i], t->data, numel(t) * sizeof(float));
        }
        uint64_t steps = sisa_model_steps(a);
        assert_true(steps == 137);

        /* "Restore" into a fresh model that was initialised and trained differently. */
        sisa_model_init(b, 999, 7);
        train_steps(b, 500, 510, X, y);
        for (int i = 0; i < np + ns; i++) {
            const sisa_tensor *t = i < np ? sisa_model_param(b, i) : sisa_model_state(b, i - np);
            memcpy(t->data, saved[i], numel(t) * sizeof(float));
            free(saved[i]);
        }
        sisa_model_set_steps(b, steps);

        train_steps(a, 137, 260, X, y);
        train_steps(b, 137, 260, X, y);
        assert_same_model(a, b);
        assert_true(sisa_model_steps(b) == 260);
        free(X);
        sisa_model_destroy(a);
        sisa_model_destroy(b);
    }

    /* The step count matters to Adam: restoring without it diverges. */
    sisa_model *a = make(&cases[0].ms, &cases[0].os), *b = make(&cases[0].ms, &cases[0].os);
    float *X = fbuf((size_t)cases[0].ms.max_batch * cases[0].ms.d);
    int32_t y[32];
    sisa_model_init(a, 11, 2);
    train_steps(a, 0, 20, X, y);
    for (int i = 0; i < sisa_model_param_count(a); i++)
        memcpy(sisa_model_param(b, i)->data, sisa_model_param(a, i)->data,
               numel(sisa_model_param(a, i)) * sizeof(float));
    for (int i = 0; i < sisa_model_state_count(a); i++)
        memcpy(sisa_model_state(b, i)->data, sisa_model_state(a, i)->data,
               numel(sisa_model_state(a, i)) * sizeof(float));
    train_steps(a, 20, 21, X, y);
    train_steps(b, 20, 21, X, y);
    assert_memory_not_equal(sisa_model_param(a, 0)->data, sisa_model_param(b, 0)->data,
                            numel(sisa_model_param(a, 0)) * sizeof(float));
    free(X);
    sisa_model_destroy(a);
    sisa_model_destroy(b);
}

/* ---- gradient check ------------------------------------------------------------------------ */

/* Finite differences of the double-precision reference loss against the gradient the
 * backward pass leaves in the model (read before the optimizer's update touches anything but
 * the parameters, which are copied first). */
static void grad_check(const sisa_model_spec *ms)
{
    const uint32_t n = ms->max_batch;
    sisa_optim_spec os = sgd_spec(0.1f, 0.0f, 0, 0.0f);
    sisa_model *m = make(ms, &os);
    sisa_model_init(m, 3, 0);
    sisa_rng r;
    sisa_rng_init(&r, 6, SISA_RNG_TEST, ms->d, 0, 0);
    float *X = fbuf((size_t)n * ms->d);
    int32_t y[16];
    fill(&r, X, (size_t)n * ms->d, -1, 1);
    fill_labels(&r, y, n, ms->classes);

    /* Biases 0 put every ReLU unit's kink at the same place; move them off it. */
    int np = sisa_model_param_count(m), layers = np / 2;
    for (int i = 1; i < np; i += 2)
        fill(&r, sisa_model_param(m, i)->data, numel(sisa_model_param(m, i)), -0.1f, 0.1f);

    /* Parameters in double, before the step. */
    double *W[SISA_CONFIG_MAX_HIDDEN + 1], *B[SISA_CONFIG_MAX_HIDDEN + 1];
    uint32_t widths[SISA_CONFIG_MAX_HIDDEN + 2];
    widths[0] = ms->d;
    for (int i = 0; i < np; i++) {
        const sisa_tensor *t = sisa_model_param(m, i);
        double *dst = calloc(numel(t), sizeof(double));
        assert_non_null(dst);
        for (uint64_t k = 0; k < numel(t); k++) dst[k] = t->data[k];
        if (i % 2 == 0) {
            W[i / 2] = dst;
            widths[i / 2 + 1] = (uint32_t)t->shape[1];
        } else {
            B[i / 2] = dst;
        }
    }
    double *scratch = calloc(2 * 64, sizeof(double));
    assert_non_null(scratch);

    double loss0 = sisa_ref_net_loss(layers, widths, (const double *const *)W,
                                     (const double *const *)B, X, y, n, scratch);
    float loss = sisa_model_train_step(m, X, y, n);
    assert_close(loss, loss0, 1e-5 * loss0, "loss", 0);

    /* Central differences in double (h = 1e-6: truncation ~1e-12, cancellation ~1e-10) against
     * the float gradient, whose own error is a few float roundings of its terms. */
    const double h = 1e-6;
    int checked = 0;
    for (int i = 0; i < np; i++) {
        const sisa_tensor *t = sisa_model_param(m, i);
        const float *g = grad_of(m, t);
        double *p = i % 2 == 0 ? W[i / 2] : B[i / 2];
        for (uint64_t k = 0; k < numel(t); k++) {
            double keep = p[k];
            p[k] = keep + h;
            double up = sisa_ref_net_loss(layers, widths, (const double *const *)W,
                                          (const double *const *)B, X, y, n, scratch);
            p[k] = keep - h;
            double down = sisa_ref_net_loss(layers, widths, (const double *const *)W,
                                            (const double *const *)B, X, y, n, scratch);
            p[k] = keep;
            double fd = (up - down) / (2 * h);
            char what[64];
            snprintf(what, sizeof what, "gradient of %s", t->name);
            assert_close(g[k], fd, 1e-4 * fabs(fd) + 1e-6, what, k);
            checked += fabs(fd) > 1e-4;
        }
    }
    assert_true((uint64_t)checked > numel(sisa_model_param(m, 0)) / 2); /* not vacuous */
    for (int i = 0; i < np; i++) free(i % 2 == 0 ? W[i / 2] : B[i / 2]);
    free(scratch);
    free(X);
    sisa_model_destroy(m);
}

static void test_gradient_check(void **state)
{
    (void)state;
    const int32_t hidden[2] = {6, 5};
    sisa_model_spec mlp = mlp_spec(4, 3, 2, hidden, 7);
    grad_check(&mlp);
    sisa_model_spec lr = mlp_spec(5, 3, 0, NULL, 9);
    grad_check(&lr);
    sisa_model_spec lr2 = mlp_spec(1, 2, 0, NULL, 5); /* d = 1, C = 2 */
    grad_check(&lr2);
}

/* ---- training sanity ----------------------------------------------------------------------- */

/* Three well separated Gaussian-ish clusters in 8 dimensions. */
static void blobs(float *X, int32_t *y, uint32_t n, uint32_t d, uint32_t C)
{
    sisa_rng r;
    sisa_rng_init(&r, 8, SISA_RNG_TEST, 8, 0, 0);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = i % C;
        y[i] = (int32_t)c;
        for (uint32_t k = 0; k < d; k++) {
            float center = (k % C == c) ? 2.0f : -1.0f;
            float noise = 0.0f;
            for (int s = 0; s < 4; s++) noise += sisa_rng_uniform(&r) - 0.5f;
            X[(size_t)i * d + k] = center + noise;
        }
    }
}

static double accuracy(sisa_model *m, const float *X, const int32_t *y, uint32_t n)
{
    const sisa_model_spec *ms = sisa_model_get_spec(m);
    float proba[32 * 3];
    uint32_t correct = 0;
    for (uint32_t at = 0; at < n; at += ms->max_batch) {
        uint32_t nb = n - at < ms->max_batch ? n - at : ms->max_batch;
        sisa_model_predict(m, X + (size_t)at * ms->d, nb, proba);
        for (uint32_t i = 0; i < nb; i++) {
            uint32_t best = 0;
            double sum = 0.0;
            for (uint32_t j = 0; j < ms->classes; j++) {
                sum += proba[i * ms->classes + j];
                if (proba[i * ms->classes + j] > proba[i * ms->classes + best]) best = j;
            }
            assert_close(sum, 1.0, 1e-5, "posterior row sum", at + i);
            correct += (int32_t)best == y[at + i];
        }
    }
    return (double)correct / n;
}

static void test_training_sanity(void **state)
{
    (void)state;
    enum { N = 300, D = 8, C = 3, B = 32 };
    float *X = fbuf((size_t)N * D);
    int32_t y[N];
    blobs(X, y, N, D, C);
    const int32_t hidden[1] = {12};
    sisa_model_spec specs[2] = {mlp_spec(D, C, 0, NULL, B), mlp_spec(D, C, 1, hidden, B)};
    sisa_optim_spec opts[2] = {sgd_spec(0.05f, 0.9f, 0, 0.0f), adam_spec(1e-2f, 0.0f)};
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 2; o++) {
            sisa_model *m = make(&specs[s], &opts[o]);
            sisa_model_init(m, 1, 0);
            double acc0 = accuracy(m, X, y, N), first = 0.0, last = 0.0;
            for (int epoch = 0; epoch < 15; epoch++) {
                double sum = 0.0;
                int batches = 0;
                for (uint32_t at = 0; at < N; at += B) {
                    uint32_t nb = N - at < B ? N - at : B;
                    sum += sisa_model_train_step(m, X + (size_t)at * D, y + at, nb);
                    batches++;
                }
                if (epoch == 0) first = sum / batches;
                last = sum / batches;
            }
            double acc = accuracy(m, X, y, N);
            if (!(last < 0.25 * first && acc >= 0.97 && acc > acc0)) {
                fprintf(stderr, "model %d optimizer %d: loss %.4f -> %.4f, accuracy %.3f -> %.3f\n",
                        s, o, first, last, acc0, acc);
                fail();
            }
            sisa_model_destroy(m);
        }
    free(X);
}

/* ---- prediction, guards, tensors, errors --------------------------------------------------- */

static void test_predict(void **state)
{
    (void)state;
    sisa_model_spec ms = mlp_spec(6, 4, 0, NULL, 8);
    sisa_optim_spec os = adam_spec(1e-2f, 0);
    sisa_model *m = make(&ms, &os);
    sisa_model_init(m, 2, 0);
    sisa_rng r;
    sisa_rng_init(&r, 10, SISA_RNG_TEST, 10, 0, 0);
    fill(&r, sisa_model_param(m, 1)->data, 4, -1, 1);
    float X[8 * 6], P[8 * 4], Pr[8 * 4];
    fill(&r, X, 8 * 6, -2, 2);

    /* logreg's posterior is softmax(X w1 + b1): compare with the twins. */
    sisa_model_predict(m, X, 5, P);
    sisa_ref_dense_forward(Pr, X, sisa_model_param(m, 0)->data, 5, 6, 4);
    sisa_ref_bias_add(Pr, sisa_model_param(m, 1)->data, 5, 4);
    sisa_ref_softmax(Pr, 5, 4);
    for (int k = 0; k < 5 * 4; k++) assert_close(P[k], Pr[k], 1e-5 * Pr[k] + 1e-7, "proba", k);

    /* Prediction changes nothing, and posteriors do not depend on the other rows of the batch. */
    float w_before[6 * 4];
    memcpy(w_before, sisa_model_param(m, 0)->data, sizeof w_before);
    float P1[4];
    sisa_model_predict(m, X + 2 * 6, 1, P1);
    assert_memory_equal(w_before, sisa_model_param(m, 0)->data, sizeof w_before);
    for (int j = 0; j < 4; j++) assert_close(P1[j], P[2 * 4 + j], 1e-6, "row 2", j);

    /* n above max_batch: NaN posteriors instead of a buffer overrun. */
    float big[9 * 4];
    float Xbig[9 * 6] = {0};
    sisa_model_predict(m, Xbig, 9, big);
    for (int k = 0; k < 9 * 4; k++) assert_true(isnan(big[k]));
    sisa_model_destroy(m);
}

static void test_train_step_guards(void **state)
{
    (void)state;
    const int32_t hidden[1] = {5};
    sisa_model_spec ms = mlp_spec(3, 3, 1, hidden, 4);
    sisa_optim_spec os = adam_spec(1e-2f, 0);
    sisa_model *m = make(&ms, &os), *ref = make(&ms, &os);
    sisa_model_init(m, 1, 1);
    sisa_model_init(ref, 1, 1);
    float X[5 * 3] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f,
                      0.9f, 1.0f, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f};
    int32_t y[5] = {0, 1, 2, 0, 1}, bad_hi[2] = {0, 3}, bad_lo[2] = {-1, 0};
    assert_true(isnan(sisa_model_train_step(m, X, y, 0)));
    assert_true(isnan(sisa_model_train_step(m, X, y, 5)));
    assert_true(isnan(sisa_model_train_step(m, X, bad_hi, 2)));
    assert_true(isnan(sisa_model_train_step(m, X, bad_lo, 2)));
    assert_same_model(m, ref);
    assert_true(sisa_model_steps(m) == 0);
    assert_true(isfinite(sisa_model_train_step(m, X, y, 4)));
    assert_true(sisa_model_steps(m) == 1);
    sisa_model_destroy(m);
    sisa_model_destroy(ref);
}

static void test_tensor_list(void **state)
{
    (void)state;
    const int32_t hidden[2] = {5, 3};
    sisa_model_spec ms = mlp_spec(7, 2, 2, hidden, 3);
    static const char *const names[] = {"w1", "b1", "w2", "b2", "w3", "b3"};
    static const uint64_t rows[] = {7, 5, 5, 3, 3, 2}, cols[] = {5, 1, 3, 1, 2, 1};

    sisa_optim_spec opts[3] = {sgd_spec(0.1f, 0, 0, 0), sgd_spec(0.1f, 0.5f, 0, 0),
                               adam_spec(1e-3f, 0)};
    const int want_state[3] = {0, 6, 12};
    for (int o = 0; o < 3; o++) {
        sisa_model *m = make(&ms, &opts[o]);
        assert_int_equal(sisa_model_param_count(m), 6);
        assert_int_equal(sisa_model_state_count(m), want_state[o]);
        assert_null(sisa_model_param(m, 6));
        assert_null(sisa_model_param(m, -1));
        assert_null(sisa_model_state(m, want_state[o]));
        const float *prev_end = NULL;
        for (int i = 0; i < 6; i++) {
            const sisa_tensor *t = sisa_model_param(m, i);
            assert_string_equal(t->name, names[i]);
            assert_int_equal(t->rank, i % 2 == 0 ? 2 : 1);
            assert_true(t->shape[0] == rows[i] && t->shape[1] == cols[i]);
            assert_true(((uintptr_t)t->data % 64) == 0);
            if (prev_end) assert_true(t->data >= prev_end); /* in order, no overlap */
            prev_end = t->data + numel(t);
        }
        for (int i = 0; i < want_state[o]; i++) {
            const sisa_tensor *t = sisa_model_state(m, i);
            const sisa_tensor *p = sisa_model_param(m, i % 6);
            char want[64];
            const char *prefix = o == 1 ? "velocity." : (i < 6 ? "m." : "v.");
            snprintf(want, sizeof want, "%s%s", prefix, p->name);
            assert_string_equal(t->name, want);
            assert_true(t->rank == p->rank && t->shape[0] == p->shape[0] &&
                        t->shape[1] == p->shape[1]);
            assert_true(((uintptr_t)t->data % 64) == 0);
        }
        /* Views, not copies: a written weight changes the posteriors. */
        float X[7] = {1, 1, 1, 1, 1, 1, 1}, P0[2], P1[2];
        sisa_model_init(m, 1, 0);
        sisa_model_predict(m, X, 1, P0);
        sisa_model_param(m, 5)->data[0] = 5.0f; /* b3[0] */
        sisa_model_predict(m, X, 1, P1);
        assert_true(P1[0] > P0[0]);
        sisa_model_destroy(m);
    }
    sisa_model_destroy(NULL);
}

static void expect_create_error(const sisa_model_spec *ms, const sisa_optim_spec *os, int code,
                                const char *needle)
{
    sisa_model *m = (sisa_model *)(uintptr_t)1;
    sisa_error_clear();
    assert_int_equal(sisa_model_create(&m, ms, os), code);
    assert_null(m);
    assert_int_equal(sisa_error_code(), code);
    tu_assert_contains(sisa_error_message(), needle);
}

static void test_create_errors(void **state)
{
    (void)state;
    const int32_t hidden[2] = {4, 0};
    sisa_optim_spec adam = adam_spec(1e-3f, 0);
    sisa_model_spec ok = mlp_spec(3, 2, 0, NULL, 4), ms;

    ms = ok;
    ms.n_hidden = 1;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "logreg has no hidden layers, but 1 were given");
    ms = mlp_spec(3, 2, 2, hidden, 4);
    expect_create_error(&ms, &adam, SISA_ECONFIG, "mlp hidden layer 2 has 0 units");
    ms.type = SISA_MODEL_MLP;
    ms.n_hidden = 0;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "mlp needs 1 to 16 hidden layers, but 0");
    ms.n_hidden = 17;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "mlp needs 1 to 16 hidden layers, but 17");
    ms = ok;
    ms.classes = 1;
    expect_create_error(&ms, &adam, SISA_ECONFIG,
                        "logreg needs at least 2 classes, the data has 1");
    ms = ok;
    ms.d = 0;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "needs at least 1 input feature");
    ms = ok;
    ms.max_batch = 0;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "batch size 0 must be between 1 and");
    ms = ok;
    ms.type = (sisa_model_type)7;
    expect_create_error(&ms, &adam, SISA_ECONFIG, "unknown model type 7");

    sisa_optim_spec os = sgd_spec(0.0f, 0, 0, 0);
    expect_create_error(&ok, &os, SISA_ECONFIG, "learning rate 0 must be a finite number > 0");
    os = sgd_spec(NAN, 0, 0, 0);
    expect_create_error(&ok, &os, SISA_ECONFIG, "learning rate nan must be");
    os = sgd_spec(0.1f, 1.0f, 0, 0);
    expect_create_error(&ok, &os, SISA_ECONFIG, "sgd momentum 1 must be in [0, 1)");
    os = sgd_spec(0.1f, 0.0f, 1, 0);
    expect_create_error(&ok, &os, SISA_ECONFIG, "nesterov needs momentum > 0");
    os = sgd_spec(0.1f, 0.0f, 0, -1e-3f);
    expect_create_error(&ok, &os, SISA_ECONFIG, "weight_decay -0.001 must be");
    os = adam_spec(1e-3f, 0);
    os.schedule = (sisa_schedule)2;
    expect_create_error(&ok, &os, SISA_ECONFIG, "unknown learning-rate schedule 2");
    os = adam_spec(1e-3f, 0);
    os.final_lr_fraction = 1.5f;
    expect_create_error(&ok, &os, SISA_ECONFIG, "final_lr_fraction 1.5 must be in [0, 1]");
    os = adam_spec(1e-3f, 0);
    os.beta1 = 1.0f;
    expect_create_error(&ok, &os, SISA_ECONFIG, "adam beta1 1 must be in [0, 1)");
    os = adam_spec(1e-3f, 0);
    os.beta2 = -0.5f;
    expect_create_error(&ok, &os, SISA_ECONFIG, "adam beta2 -0.5 must be in [0, 1)");
    os = adam_spec(1e-3f, 0);
    os.eps = 0.0f;
    expect_create_error(&ok, &os, SISA_ECONFIG, "adam eps 0 must be");
    os.kind = (sisa_optimizer)9;
    expect_create_error(&ok, &os, SISA_ECONFIG, "unknown optimizer 9");

    /* Too large to address: refused before any allocation is attempted. */
    ms = mlp_spec(2000000000u, 2000000000u, 0, NULL, 4);
    expect_create_error(&ms, &adam, SISA_ENOMEM, "logreg layer 1 (2000000000 x 2000000000");
}

/* ---- configuration, flops, fp mode, allocations -------------------------------------------- */

static void test_specs_from_config(void **state)
{
    (void)state;
    sisa_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.model.type = SISA_MODEL_MLP;
    cfg.model.n_hidden = 2;
    cfg.model.hidden[0] = 64;
    cfg.model.hidden[1] = 32;
    cfg.train.optimizer = SISA_OPT_SGD;
    cfg.train.lr = 0.05;
    cfg.train.momentum = 0.9;
    cfg.train.nesterov = 1;
    cfg.train.beta1 = 0.8;
    cfg.train.beta2 = 0.99;
    cfg.train.eps = 1e-7;
    cfg.train.weight_decay = 5e-4;
    cfg.train.schedule = SISA_SCHED_COSINE;
    cfg.train.final_lr_fraction = 0.3;
    sisa_model_spec ms;
    sisa_optim_spec os;
    sisa_model_specs_from_config(&ms, &os, &cfg, 784, 10, 128);
    assert_int_equal(ms.type, SISA_MODEL_MLP);
    assert_true(ms.d == 784 && ms.classes == 10 && ms.max_batch == 128);
    assert_true(ms.n_hidden == 2 && ms.hidden[0] == 64 && ms.hidden[1] == 32 && ms.hidden[2] == 0);
    assert_int_equal(os.kind, SISA_OPT_SGD);
    assert_true(os.lr == 0.05f && os.momentum == 0.9f && os.nesterov == 1);
    assert_true(os.beta1 == 0.8f && os.beta2 == 0.99f && os.eps == 1e-7f);
    assert_true(os.weight_decay == 5e-4f);
    assert_true(os.schedule == SISA_SCHED_COSINE && os.final_lr_fraction == 0.3f);
    sisa_model *m = make(&ms, &os);
    assert_int_equal(sisa_model_param_count(m), 6);
    sisa_model_destroy(m);

    /* logreg ignores hidden layers left in the config. */
    cfg.model.type = SISA_MODEL_LOGREG;
    sisa_model_specs_from_config(&ms, &os, &cfg, 5, 3, 16);
    assert_int_equal(ms.n_hidden, 0);
    assert_int_equal(ms.hidden[0], 0);
    m = make(&ms, &os);
    assert_int_equal(sisa_model_param_count(m), 2);
    sisa_model_destroy(m);
}

static void test_flops(void **state)
{
    (void)state;
    /* The documented count: 2 in out per product (forward, weight gradient, and the input
     * gradient above layer 1), plus the element-wise passes and the update shared by a batch. */
    sisa_model_spec lr = mlp_spec(784, 10, 0, NULL, 128);
    double want = 2 * (2.0 * 784 * 10 + 10) + 5 * 10 + 2.0 * (784 * 10 + 10) / 128;
    assert_close(sisa_model_train_flops_per_sample(&lr), want, 1e-9 * want, "logreg flops", 0);
    const int32_t hidden[1] = {256};
    sisa_model_spec mlp = mlp_spec(784, 10, 1, hidden, 128);
    want = 2 * (2.0 * 784 * 256 + 256) + 256 + 2 * (2.0 * 256 * 10 + 10) + 2.0 * 256 * 10 + 256 +
           5 * 10 + 2.0 * (784 * 256 + 256 + 256 * 10 + 10) / 128;
    assert_close(sisa_model_train_flops_per_sample(&mlp), want, 1e-9 * want, "mlp flops", 0);
    mlp.n_hidden = 0;
    assert_true(sisa_model_train_flops_per_sample(&mlp) == 0.0);
}

static void test_fp_mode(void **state)
{
    (void)state;
    sisa_model_fp_setup();
    sisa_blas_info bi;
    sisa_blas_describe(&bi);
    assert_int_equal(bi.threads, 1);
    volatile float tiny = 1e-30f, small = 1e-10f;
#if defined(__x86_64__)
    assert_string_equal(sisa_model_fp_mode(), "ftz+daz");
    volatile float flushed = tiny * small; /* 1e-40 is subnormal: flushed to 0 */
    assert_true(flushed == 0.0f);

    assert_int_equal(sisa_model_fp_set_flush(0), 1);
    assert_string_equal(sisa_model_fp_mode(), "ieee");
    volatile float sub = tiny * small;
    assert_true(sub > 0.0f && fpclassify(sub) == FP_SUBNORMAL);

    /* DAZ: the subnormal made above reads as zero once flushing is back on. */
    sisa_model_fp_setup();
    sisa_model_fp_setup(); /* idempotent */
    assert_string_equal(sisa_model_fp_mode(), "ftz+daz");
    volatile float one = 1.0f;
    volatile float read_back = sub * one;
    assert_true(read_back == 0.0f);
#else
    assert_string_equal(sisa_model_fp_mode(), "ieee");
    (void)tiny;
    (void)small;
#endif
}

static void test_no_allocation_in_steps(void **state)
{
    (void)state;
    const int32_t hidden[2] = {16, 8};
    sisa_model_spec specs[2] = {mlp_spec(20, 3, 0, NULL, 16), mlp_spec(20, 3, 2, hidden, 16)};
    sisa_optim_spec opts[3] = {sgd_spec(0.1f, 0, 0, 0), sgd_spec(0.1f, 0.9f, 1, 1e-4f),
                               adam_spec(1e-3f, 1e-4f)};
    float X[16 * 20], P[16 * 3];
    int32_t y[16];
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 3; o++) {
            long before = alloc_calls;
            sisa_model *m = make(&specs[s], &opts[o]);
            assert_true(alloc_calls > before); /* the counter does see sisa_model's calls */
            sisa_model_init(m, 1, 0);
            before = alloc_calls;
            for (uint32_t step = 0; step < 50; step++) {
                uint32_t n = batch_at(step, &specs[s], X, y);
                sisa_model_train_step(m, X, y, n);
                sisa_model_predict(m, X, n, P);
            }
            assert_int_equal(alloc_calls - before, 0);
            sisa_model_destroy(m);
        }
}

/* ---- k nearest neighbours (model/knn.h) ----------------------------------------------------- */

/* The reference: every row's distance (sisa_knn_distance), sorted by (distance, ID). */
static void knn_naive(const float *X, const uint64_t *id, const int32_t *y, uint64_t n, uint32_t d,
                      const float *q, uint32_t k, sisa_metric metric, sisa_knn_cand *out)
{
    double nq = 0;
    for (uint32_t f = 0; f < d; f++) nq += (double)q[f] * q[f];
    for (uint32_t c = 0; c < k; c++) out[c] = (sisa_knn_cand){INFINITY, UINT64_MAX, -1, 0};
    for (uint64_t j = 0; j < n; j++) {
        double nx = 0;
        for (uint32_t f = 0; f < d; f++) nx += (double)X[j * d + f] * X[j * d + f];
        sisa_knn_cand c = {sisa_knn_distance(q, X + j * d, d, metric, nq, nx), id[j], y[j], 0};
        for (uint32_t p = 0; p < k; p++) {
            if (c.dist < out[p].dist || (c.dist == out[p].dist && c.id < out[p].id)) {
                memmove(out + p + 1, out + p, (k - p - 1) * sizeof *out);
                out[p] = c;
                break;
            }
        }
    }
}

static void test_knn(void **state)
{
    (void)state;
    enum { N = 700, D = 24, Q = 300, K = 7 };
    float *X = malloc(N * D * sizeof *X), *Qx = malloc(Q * D * sizeof *Qx);
    uint64_t id[N];
    int32_t y[N];
    sisa_knn_cand *got = malloc(Q * K * sizeof *got), want[K];
    sisa_rng r;
    sisa_rng_init(&r, 5, 0, 0, 0, 0);
    for (uint64_t j = 0; j < N; j++) {
        id[j] = 3 * j + 1;
        y[j] = (int32_t)(j % 4);
        for (uint32_t f = 0; f < D; f++) X[j * D + f] = sisa_rng_uniform(&r);
    }
    /* rows 600..699: 100 copies of one point (distances tie; its queries cannot be certified
     * from k + 32 candidates, so they take the full scan); row 5 is all zeros (cosine: 1) */
    for (uint64_t j = 600; j < N; j++) memcpy(X + j * D, X + 17 * D, D * sizeof *X);
    memset(X + 5 * D, 0, D * sizeof *X);
    for (uint32_t i = 0; i < Q; i++)
        for (uint32_t f = 0; f < D; f++)
            Qx[i * D + f] = i < 20 ? X[(17 + (i % 2)) * D + f] : sisa_rng_uniform(&r);
    memset(Qx + 30 * D, 0, D * sizeof *Qx); /* a zero query */
    for (int m = 0; m < 2; m++) {
        sisa_metric metric = m ? SISA_METRIC_COSINE : SISA_METRIC_EUCLIDEAN;
        sisa_knn_index *ix = NULL;
        assert_int_equal(sisa_knn_index_create(&ix, X, id, y, N, D, K, metric), SISA_OK);
        long before = alloc_calls;
        uint32_t full = 0;
        for (uint32_t b = 0; b < Q; b += SISA_KNN_BLOCK) {
            uint32_t nb = Q - b < SISA_KNN_BLOCK ? Q - b : SISA_KNN_BLOCK;
            full += sisa_knn_index_query(ix, Qx + (size_t)b * D, nb, got + (size_t)b * K);
        }
        assert_int_equal(alloc_calls - before, 0); /* queries allocate nothing */
        assert_true(full >= 10 && full < Q);       /* the tied queries took the full scan */
        for (uint32_t i = 0; i < Q; i++) {
            knn_naive(X, id, y, N, D, Qx + (size_t)i * D, K, metric, want);
            assert_memory_equal(got + (size_t)i * K, want, sizeof want);
        }
        sisa_knn_index_free(ix);
    }
    /* merge: two halves' lists merged = the whole set's list; posterior and unused slots */
    sisa_knn_index *a = NULL, *b = NULL;
    sisa_knn_cand la[K], lb[K], lm[K];
    assert_int_equal(sisa_knn_index_create(&a, X, id, y, 350, D, K, SISA_METRIC_EUCLIDEAN), 0);
    assert_int_equal(sisa_knn_index_create(&b, X + 350 * D, id + 350, y + 350, N - 350, D, K,
                                           SISA_METRIC_EUCLIDEAN),
                     0);
    for (uint32_t i = 0; i < Q; i++) {
        sisa_knn_index_query(a, Qx + (size_t)i * D, 1, la);
        sisa_knn_index_query(b, Qx + (size_t)i * D, 1, lb);
        sisa_knn_merge(la, lb, K, lm);
        knn_naive(X, id, y, N, D, Qx + (size_t)i * D, K, SISA_METRIC_EUCLIDEAN, want);
        assert_memory_equal(lm, want, sizeof want);
    }
    sisa_knn_index_free(a);
    sisa_knn_index_free(b);
    assert_int_equal(sisa_knn_index_create(&a, X, id, y, 3, D, K, SISA_METRIC_EUCLIDEAN), 0);
    sisa_knn_index_query(a, Qx, 1, la);
    assert_true(la[2].label >= 0 && la[3].label == -1 && isinf(la[3].dist));
    float p[4];
    sisa_knn_posterior(la, K, 4, p); /* three real neighbours: labels 0, 1, 2 */
    assert_true(p[0] == (float)(1.0 / 3) && p[1] == p[0] && p[2] == p[0] && p[3] == 0.0f);
    sisa_knn_index_free(a);
    free(got);
    free(Qx);
    free(X);
}

/* ---- cnn (cnn.c) ---------------------------------------------------------------------------- */

static sisa_model_spec cnn_spec(uint32_t c, uint32_t h, uint32_t w, int n_conv, const int32_t *conv,
                                uint32_t kernel, uint32_t pool, int n_hidden, const int32_t *hidden,
                                uint32_t C, uint32_t max_batch)
{
    sisa_model_spec ms = mlp_spec(c * h * w, C, n_hidden, hidden, max_batch);
    ms.type = SISA_MODEL_CNN;
    ms.in_c = c;
    ms.in_h = h;
    ms.in_w = w;
    ms.n_conv = n_conv;
    for (int l = 0; l < n_conv; l++) ms.conv[l] = conv[l];
    ms.kernel = kernel;
    ms.pool = pool;
    return ms;
}

static void abs_copy(float *dst, const float *src, size_t n)
{
    for (size_t k = 0; k < n; k++) dst[k] = fabsf(src[k]);
}

/* im2col + sgemm, col2im and max pooling against the direct loops of model_ref.c, for inputs
 * laid out as X rows (C, H, W) and as NHWC activations, kernels 1, 3 and 5, odd sizes. */
static void test_cnn_kernels(void **state)
{
    (void)state;
    static const struct {
        uint32_t n, cin, cout, h, w, k, pool;
        int chw;
    } g[] = {{1, 1, 1, 1, 1, 1, 1, 1}, {2, 1, 4, 5, 7, 3, 1, 1}, {3, 3, 5, 6, 4, 3, 2, 1},
             {2, 4, 3, 5, 5, 5, 1, 0}, {3, 6, 7, 4, 6, 3, 2, 0}, {1, 2, 2, 9, 3, 1, 3, 0}};
    sisa_rng r;
    sisa_rng_init(&r, 17, SISA_RNG_TEST, 17, 0, 0);
    for (size_t t = 0; t < sizeof g / sizeof g[0]; t++) {
        sisa_conv C;
        memset(&C, 0, sizeof C);
        C.cin = g[t].cin, C.cout = g[t].cout, C.h = g[t].h, C.w = g[t].w, C.k = g[t].k;
        C.pool = g[t].pool, C.ph = C.h / C.pool, C.pw = C.w / C.pool, C.kk = C.k * C.k * C.cin;
        const uint32_t n = g[t].n, rows = n * C.h * C.w;
        const size_t isz = (size_t)rows * C.cin, wsz = (size_t)C.kk * C.cout;
        const size_t zsz = (size_t)rows * C.cout;
        size_t ss = (size_t)C.h * C.w * C.cin, cs = 1, ys = (size_t)C.w * C.cin, xs = C.cin;
        if (g[t].chw) ss = (size_t)C.cin * C.h * C.w, cs = (size_t)C.h * C.w, ys = C.w, xs = 1;
        float *in = fbuf(isz), *W = fbuf(wsz), *dZ = fbuf(zsz), *cols = fbuf((size_t)rows * C.kk);
        float *Z = fbuf(zsz), *Zr = fbuf(zsz), *Za = fbuf(zsz), *ain = fbuf(isz), *aW = fbuf(wsz);
        float *dW = fbuf(wsz), *dWr = fbuf(wsz), *dWa = fbuf(wsz), *adZ = fbuf(zsz);
        float *dcols = fbuf((size_t)rows * C.kk), *dIn = fbuf(isz), *dInr = fbuf(isz),
              *dIna = fbuf(isz);
        fill(&r, in, isz, -1, 1);
        fill(&r, W, wsz, -1, 1);
        fill(&r, dZ, zsz, -1, 1);
        fill(&r, cols, (size_t)rows * C.kk, 5, 6); /* garbage: im2col overwrites */
        fill(&r, dIn, isz, 5, 6);
        abs_copy(ain, in, isz);
        abs_copy(aW, W, wsz);
        abs_copy(adZ, dZ, zsz);

        sisa_k_im2col(cols, in, n, &C, ss, cs, ys, xs);
        sisa_k_dense_forward(Z, cols, W, rows, C.kk, C.cout);
        sisa_ref_conv_forward(Zr, in, W, n, &C, ss, cs, ys, xs);
        sisa_ref_conv_forward(Za, ain, aW, n, &C, ss, cs, ys, xs);
        for (size_t k = 0; k < zsz; k++) assert_close(Z[k], Zr[k], dot_tol(C.kk, Za[k]), "conv", k);

        sisa_k_weight_grad(dW, cols, dZ, rows, C.kk, C.cout);
        sisa_ref_conv_weight_grad(dWr, in, dZ, n, &C, ss, cs, ys, xs);
        sisa_ref_conv_weight_grad(dWa, ain, adZ, n, &C, ss, cs, ys, xs);
        for (size_t k = 0; k < wsz; k++)
            assert_close(dW[k], dWr[k], dot_tol(rows, dWa[k]), "conv weight_grad", k);

        if (!g[t].chw) { /* input gradients exist for NHWC inputs only (above conv 1) */
            sisa_k_input_grad(dcols, dZ, W, rows, C.kk, C.cout);
            sisa_k_col2im(dIn, dcols, n, &C);
            sisa_ref_conv_input_grad(dInr, dZ, W, n, &C);
            sisa_ref_conv_input_grad(dIna, adZ, aW, n, &C);
            for (size_t k = 0; k < isz; k++)
                assert_close(dIn[k], dInr[k], dot_tol(C.k * C.k * C.cout, dIna[k]),
                             "conv input_grad", k);
        }

        /* Pooling on values with many ties (a few levels, zeros as after ReLU): bit for bit
         * and the same positions as the twin. */
        const size_t psz = (size_t)n * C.ph * C.pw * C.cout;
        float *po = fbuf(psz), *por = fbuf(psz), *dpo = fbuf(psz), *dact = fbuf(zsz);
        uint32_t *arg = calloc(psz, sizeof *arg), *argr = calloc(psz, sizeof *argr);
        assert_true(arg && argr);
        for (size_t k = 0; k < zsz; k++) Z[k] = (float)(sisa_rng_below(&r, 4)) - 1.0f;
        for (size_t k = 0; k < zsz; k++) Z[k] = Z[k] < 0 ? 0.0f : Z[k];
        sisa_k_maxpool(po, arg, Z, n, &C);
        sisa_ref_maxpool(por, argr, Z, n, &C);
        assert_memory_equal(po, por, psz * sizeof *po);
        assert_memory_equal(arg, argr, psz * sizeof *arg);
        fill(&r, dpo, psz, -1, 1);
        fill(&r, dact, zsz, 5, 6);
        sisa_k_maxpool_backward(dact, dpo, arg, n, &C);
        double sum = 0.0, want = 0.0;
        for (size_t k = 0; k < zsz; k++) sum += dact[k];
        for (size_t k = 0; k < psz; k++) want += dpo[k];
        assert_close(sum, want, 1e-5, "maxpool_backward sum", 0);
        const size_t plane = (size_t)C.h * C.w * C.cout, pplane = (size_t)C.ph * C.pw * C.cout;
        for (size_t k = 0; k < psz; k++) assert_true(dact[(k / pplane) * plane + arg[k]] == dpo[k]);

        free(in), free(W), free(dZ), free(cols), free(Z), free(Zr), free(Za), free(ain), free(aW);
        free(dW), free(dWr), free(dWa), free(adZ), free(dcols), free(dIn), free(dInr), free(dIna);
        free(po), free(por), free(dpo), free(dact), free(arg), free(argr);
    }
}

/* Ties in pooling go to the first element of the window in row-major order. */
static void test_cnn_pool_ties(void **state)
{
    (void)state;
    sisa_conv C;
    memset(&C, 0, sizeof C);
    C.cin = 1, C.cout = 1, C.h = 2, C.w = 4, C.k = 1, C.pool = 2, C.ph = 1, C.pw = 2, C.kk = 1;
    const float act[8] = {1, 3, 0, 0, 3, 2, 0, 0}; /* windows {1, 3, 3, 2} and {0, 0, 0, 0} */
    float out[2];
    uint32_t arg[2];
    sisa_k_maxpool(out, arg, act, 1, &C);
    assert_true(out[0] == 3.0f && out[1] == 0.0f);
    assert_int_equal(arg[0], 1); /* (0, 1), not (1, 0) */
    assert_int_equal(arg[1], 2); /* the window's first element */
}

/* The loss of a cnn, entirely in double, from double copies of its parameters (in the order of
 * the tensor list: cw1 cb1 ... then w1 b1 ...). Direct convolution loops, ReLU, max pooling
 * (first maximum), dense ReLU layers, softmax cross-entropy. */
static double cnn_loss_ref(const sisa_model_spec *ms, double *const *P, const float *X,
                           const int32_t *y, uint32_t n)
{
    double *a = malloc(4096 * sizeof *a), *b = malloc(4096 * sizeof *b);
    assert_true(a && b);
    const int kk = (int)ms->kernel, pad = kk / 2;
    double loss = 0.0;
    for (uint32_t s = 0; s < n; s++) {
        uint32_t c = ms->in_c, h = ms->in_h, w = ms->in_w;
        /* a: (h, w, c) */
        for (uint32_t ch = 0; ch < c; ch++)
            for (uint32_t yy = 0; yy < h; yy++)
                for (uint32_t xx = 0; xx < w; xx++)
                    a[(yy * w + xx) * c + ch] = X[(size_t)s * ms->d + (ch * h + yy) * w + xx];
        int pi = 0;
        for (int l = 0; l < ms->n_conv; l++) {
            const uint32_t co = (uint32_t)ms->conv[l];
            const double *Wt = P[pi++], *bias = P[pi++];
            for (uint32_t yy = 0; yy < h; yy++)
                for (uint32_t xx = 0; xx < w; xx++)
                    for (uint32_t o = 0; o < co; o++) {
                        double z = bias[o];
                        for (int dy = 0; dy < kk; dy++)
                            for (int dx = 0; dx < kk; dx++) {
                                int sy = (int)yy + dy - pad, sx = (int)xx + dx - pad;
                                if (sy < 0 || sx < 0 || sy >= (int)h || sx >= (int)w) continue;
                                for (uint32_t ch = 0; ch < c; ch++)
                                    z +=
                                        a[((uint32_t)sy * w + (uint32_t)sx) * c + ch] *
                                        Wt[(((uint32_t)dy * (uint32_t)kk + (uint32_t)dx) * c + ch) *
                                               co +
                                           o];
                            }
                        b[(yy * w + xx) * co + o] = z > 0 ? z : 0;
                    }
            const uint32_t p = ms->pool, ph = h / p, pw = w / p;
            for (uint32_t py = 0; py < ph; py++)
                for (uint32_t px = 0; px < pw; px++)
                    for (uint32_t o = 0; o < co; o++) {
                        double best = b[((py * p) * w + px * p) * co + o];
                        for (uint32_t dy = 0; dy < p; dy++)
                            for (uint32_t dx = 0; dx < p; dx++) {
                                double v = b[((py * p + dy) * w + px * p + dx) * co + o];
                                if (v > best) best = v;
                            }
                        a[(py * pw + px) * co + o] = best;
                    }
            c = co, h = ph, w = pw;
        }
        uint32_t in = c * h * w;
        for (int l = 0; l <= ms->n_hidden; l++) {
            const uint32_t out = l < ms->n_hidden ? (uint32_t)ms->hidden[l] : ms->classes;
            const double *Wt = P[pi++], *bias = P[pi++];
            for (uint32_t j = 0; j < out; j++) {
                double z = bias[j];
                for (uint32_t k = 0; k < in; k++) z += a[k] * Wt[(size_t)k * out + j];
                b[j] = (l < ms->n_hidden && z < 0) ? 0 : z;
            }
            memcpy(a, b, out * sizeof *a);
            in = out;
        }
        double mx = a[0], sum = 0;
        for (uint32_t j = 1; j < ms->classes; j++) mx = a[j] > mx ? a[j] : mx;
        for (uint32_t j = 0; j < ms->classes; j++) sum += exp(a[j] - mx);
        loss += log(sum) - (a[y[s]] - mx);
    }
    free(a);
    free(b);
    return loss / n;
}

/* Finite differences in double against every gradient of every layer: convolutions (weights
 * and biases), pooling, dense layers. */
static void cnn_grad_check(const sisa_model_spec *ms)
{
    sisa_optim_spec os = sgd_spec(1e-30f, 0, 0, 0); /* a step that changes nothing visible */
    sisa_model *m = make(ms, &os);
    sisa_model_init(m, 5, 1);
    const uint32_t n = ms->max_batch;
    sisa_rng r;
    sisa_rng_init(&r, 9, SISA_RNG_TEST, 9, 0, 0);
    float *X = fbuf((size_t)n * ms->d);
    int32_t y[16];
    fill(&r, X, (size_t)n * ms->d, -1, 1);
    fill_labels(&r, y, n, ms->classes);
    const int np = sisa_model_param_count(m);
    double *P[2 * (SISA_MODEL_MAX_LAYERS + SISA_CONFIG_MAX_CONV)] = {0};
    for (int i = 0; i < np; i++) {
        const sisa_tensor *t = sisa_model_param(m, i);
        P[i] = malloc(numel(t) * sizeof(double));
        assert_non_null(P[i]);
        /* Biases away from 0 so that pooling and ReLU see distinct values. */
        if (t->rank == 1) fill(&r, t->data, numel(t), -0.1f, 0.1f);
        for (uint64_t k = 0; k < numel(t); k++) P[i][k] = t->data[k];
    }
    double loss0 = cnn_loss_ref(ms, P, X, y, n);
    float loss = sisa_model_train_step(m, X, y, n);
    assert_close(loss, loss0, 1e-5 * loss0, "loss", 0);
    const double h = 1e-6;
    for (int i = 0; i < np; i++) {
        const sisa_tensor *t = sisa_model_param(m, i);
        const float *g = grad_of(m, t);
        int checked = 0;
        for (uint64_t k = 0; k < numel(t); k++) {
            double keep = P[i][k];
            P[i][k] = keep + h;
            double up = cnn_loss_ref(ms, P, X, y, n);
            P[i][k] = keep - h;
            double down = cnn_loss_ref(ms, P, X, y, n);
            P[i][k] = keep;
            double fd = (up - down) / (2 * h);
            char what[64];
            snprintf(what, sizeof what, "gradient of %s", t->name);
            assert_close(g[k], fd, 1e-4 * fabs(fd) + 1e-6, what, k);
            checked += fabs(fd) > 1e-5;
        }
        if (checked == 0) fprintf(stderr, "no nonzero gradient in %s\n", t->name);
        assert_true(checked > 0); /* every layer is checked, not vacuously */
    }
    for (int i = 0; i < np; i++) free(P[i]);
    free(X);
    sisa_model_destroy(m);
}

static void test_cnn_gradient_check(void **state)
{
    (void)state;
    const int32_t conv2[2] = {3, 4}, hidden1[1] = {5}, conv1[1] = {2}, hidden2[2] = {4, 3};
    /* two channels in, two convolutions with 2 x 2 pooling, one hidden layer */
    sisa_model_spec a = cnn_spec(2, 4, 4, 2, conv2, 3, 2, 1, hidden1, 3, 5);
    cnn_grad_check(&a);
    /* one channel, a 5 x 5 kernel, no pooling, two hidden layers */
    sisa_model_spec b = cnn_spec(1, 3, 5, 1, conv1, 5, 1, 2, hidden2, 2, 4);
    cnn_grad_check(&b);
    /* 3 x 3 pooling, kernel 1 */
    sisa_model_spec c = cnn_spec(1, 6, 3, 1, conv1, 1, 3, 1, hidden1, 3, 3);
    cnn_grad_check(&c);
}

/* Bars on 8 x 8 images: vertical, horizontal or a square, at random places, with noise. */
static void bar_images(float *X, int32_t *y, uint32_t n, uint64_t seed)
{
    sisa_rng r;
    sisa_rng_init(&r, seed, SISA_RNG_TEST, 3, 0, 0);
    for (uint32_t i = 0; i < n; i++) {
        float *img = X + (size_t)i * 64;
        for (int k = 0; k < 64; k++) img[k] = 0.3f * sisa_rng_uniform(&r);
        const uint32_t c = i % 3, at = sisa_rng_below(&r, 6);
        y[i] = (int32_t)c;
        for (uint32_t k = 0; k < 6; k++) {
            if (c == 0) img[(1 + k) * 8 + at + 1] += 1.0f;
            if (c == 1) img[(at + 1) * 8 + 1 + k] += 1.0f;
            if (c == 2) img[(1 + k / 2 + (at % 4)) * 8 + 2 + (k % 2) + (at % 3)] += 1.0f;
        }
    }
}

/* A cnn learns a task its convolutions suit, with SGD and with Adam; training is bit for bit
 * repeatable, a model restored from its tensors continues identically, and neither training
 * nor prediction allocates. */
static void test_cnn_training(void **state)
{
    (void)state;
    enum { N = 240, B = 16 };
    const int32_t conv[2] = {4, 6}, hidden[1] = {16};
    sisa_model_spec ms = cnn_spec(1, 8, 8, 2, conv, 3, 2, 1, hidden, 3, B);
    float *X = fbuf((size_t)N * 64), P[B * 3] = {0};
    int32_t y[N];
    bar_images(X, y, N, 1);
    sisa_optim_spec opts[2] = {sgd_spec(0.05f, 0.9f, 0, 1e-4f), adam_spec(3e-3f, 0)};
    for (int o = 0; o < 2; o++) {
        sisa_model *m = make(&ms, &opts[o]), *twin = make(&ms, &opts[o]);
        sisa_model_init(m, 3, 0);
        sisa_model_init(twin, 3, 0);
        long before = alloc_calls;
        for (int epoch = 0; epoch < 6; epoch++)
            for (uint32_t at = 0; at < N; at += B) {
                sisa_model_train_step(m, X + (size_t)at * 64, y + at, B);
                sisa_model_predict(m, X + (size_t)at * 64, B, P);
            }
        assert_int_equal(alloc_calls - before, 0);
        double acc = accuracy(m, X, y, N);
        if (acc < 0.9) fprintf(stderr, "cnn %s: training accuracy %.3f\n", o ? "adam" : "sgd", acc);
        assert_true(acc >= 0.9);
        /* The same steps again from the same initialisation: the same bits. */
        for (int epoch = 0; epoch < 6; epoch++)
            for (uint32_t at = 0; at < N; at += B)
                sisa_model_train_step(twin, X + (size_t)at * 64, y + at, B);
        assert_same_model(m, twin);
        /* Restore m's tensors into a fresh model: one more step, the same bits. */
        sisa_model *copy = make(&ms, &opts[o]);
        for (int i = 0; i < sisa_model_param_count(m); i++)
            memcpy(sisa_model_param(copy, i)->data, sisa_model_param(m, i)->data,
                   numel(sisa_model_param(m, i)) * sizeof(float));
        for (int i = 0; i < sisa_model_state_count(m); i++)
            memcpy(sisa_model_state(copy, i)->data, sisa_model_state(m, i)->data,
                   numel(sisa_model_state(m, i)) * sizeof(float));
        sisa_model_set_steps(copy, sisa_model_steps(m));
        sisa_model_train_step(m, X, y, B - 3);
        sisa_model_train_step(copy, X, y, B - 3);
        for (int i = 0; i < sisa_model_param_count(m); i++)
            assert_memory_equal(sisa_model_param(copy, i)->data, sisa_model_param(m, i)->data,
                                numel(sisa_model_param(m, i)) * sizeof(float));
        sisa_model_destroy(copy);
        /* A model for prediction only: no backward buffers, the same posteriors bit for bit,
         * and no training step. */
        sisa_model_spec ps = ms;
        ps.inference = 1;
        size_t bytes0 = alloc_bytes;
        sisa_model *tm = make(&ms, &opts[o]);
        const size_t train_bytes = alloc_bytes - bytes0;
        bytes0 = alloc_bytes;
        sisa_model *pm = make(&ps, &opts[o]);
        const size_t predict_bytes = alloc_bytes - bytes0;
        if (predict_bytes >= train_bytes)
            fail_msg("inference model: %zu bytes, training model: %zu", predict_bytes, train_bytes);
        sisa_model_destroy(tm);
        for (int i = 0; i < sisa_model_param_count(m); i++)
            memcpy(sisa_model_param(pm, i)->data, sisa_model_param(m, i)->data,
                   numel(sisa_model_param(m, i)) * sizeof(float));
        float Q[B * 3];
        for (uint32_t at = 0; at < N; at += B) {
            sisa_model_predict(m, X + (size_t)at * 64, B, P);
            sisa_model_predict(pm, X + (size_t)at * 64, B, Q);
            assert_memory_equal(P, Q, sizeof P);
        }
        assert_true(isnan(sisa_model_train_step(pm, X, y, B)));
        sisa_model_destroy(pm);
        sisa_model_destroy(twin);
        sisa_model_destroy(m);
    }
    free(X);
}

/* The tensor list of a cnn: convolutions first, shapes (k k cin, cout), and create's checks. */
static void test_cnn_tensors_and_errors(void **state)
{
    (void)state;
    const int32_t conv[2] = {4, 6}, hidden[1] = {16};
    sisa_model_spec ms = cnn_spec(2, 8, 4, 2, conv, 3, 2, 1, hidden, 3, 8);
    sisa_optim_spec os = adam_spec(1e-3f, 0);
    sisa_model *m = make(&ms, &os);
    static const char *const names[] = {"cw1", "cb1", "cw2", "cb2", "w1", "b1", "w2", "b2"};
    static const uint64_t rows[] = {18, 4, 36, 6, 2 * 1 * 6, 16, 16, 3};
    assert_int_equal(sisa_model_param_count(m), 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(sisa_model_param(m, i)->name, names[i]);
        assert_int_equal(sisa_model_param(m, i)->shape[0], rows[i]);
    }
    assert_string_equal(sisa_model_state(m, 0)->name, "m.cw1");
    assert_string_equal(sisa_model_state(m, 8)->name, "v.cw1");
    assert_true(sisa_model_train_flops_per_sample(&ms) > 0);
    sisa_model_destroy(m);

    sisa_model_spec bad = ms;
    bad.d = 63; /* not 2 x 8 x 4 */
    assert_int_equal(sisa_model_create(&m, &bad, &os), SISA_ECONFIG);
    assert_non_null(strstr(sisa_error_message(), "has 64 values, but the data has 63 features"));
    bad = ms;
    bad.in_w = 6, bad.d = 2 * 8 * 6; /* 6 -> 3: pool 2 does not divide it at conv 2 */
    assert_int_equal(sisa_model_create(&m, &bad, &os), SISA_ECONFIG);
    assert_non_null(strstr(sisa_error_message(), "convolution 2 sees 4 x 3 images"));
    bad = ms;
    bad.kernel = 4;
    assert_int_equal(sisa_model_create(&m, &bad, &os), SISA_ECONFIG);
    bad = ms;
    bad.n_conv = 0;
    assert_int_equal(sisa_model_create(&m, &bad, &os), SISA_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_kernels),
        cmocka_unit_test(test_elementwise_kernels),
        cmocka_unit_test(test_softmax_kernels),
        cmocka_unit_test(test_optimizers_vs_ref),
        cmocka_unit_test(test_optimizers_bitwise_scalar),
        cmocka_unit_test(test_sgd_by_hand),
        cmocka_unit_test(test_adam_by_hand),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_set_lr),
        cmocka_unit_test(test_init_keyed),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_gradient_check),
        cmocka_unit_test(test_training_sanity),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_train_step_guards),
        cmocka_unit_test(test_tensor_list),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_specs_from_config),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_fp_mode),
        cmocka_unit_test(test_no_allocation_in_steps),
        cmocka_unit_test(test_knn),
        cmocka_unit_test(test_cnn_kernels),
        cmocka_unit_test(test_cnn_pool_ties),
        cmocka_unit_test(test_cnn_gradient_check),
        cmocka_unit_test(test_cnn_training),
        cmocka_unit_test(test_cnn_tensors_and_errors),
    };
    return cmocka_run_group_tests(tests, setup_fp, NULL);
}
