/*
 * kernels.c - the optimised kernels behind sisa_model_train_step and sisa_model_predict.
 *
 * Matrix products go to OpenBLAS (cblas_sgemm): that is where nearly all the time of a dense
 * network goes, and OpenBLAS's kernels for the detected core are as fast as this CPU allows.
 * Everything else is a single pass over memory written so that GCC vectorises it without any
 * reassociation (no -ffast-math: the exactness contract needs IEEE results in a fixed order).
 * Reductions run in a fixed order: the column sums of the bias gradient add rows in ascending
 * order, lane by lane, which vectorises across columns without changing a bit.
 *
 * Nothing here allocates, checks its arguments or can fail: the model checks every dimension
 * once at creation (model.c). The twins in model_ref.c define what each kernel computes.
 */
#include "model/kernels.h"

#include <cblas.h>
#include <math.h>

void sisa_k_dense_forward(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                          uint32_t out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)out, (blasint)in,
                1.0f, A, (blasint)in, W, (blasint)out, 0.0f, Z, (blasint)out);
}

void sisa_k_weight_grad(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                        uint32_t out)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)in, (blasint)out, (blasint)n,
                1.0f, A, (blasint)in, dZ, (blasint)out, 0.0f, dW, (blasint)out);
}

void sisa_k_input_grad(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                       uint32_t out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)in, (blasint)out,
                1.0f, dZ, (blasint)out, W, (blasint)out, 0.0f, dA, (blasint)in);
}

SISA_VECTOR_CLONES
void sisa_k_bias_add(float *Z, const float *b, uint32_t n, uint32_t out)
{
    for (uint32_t i = 0; i < n; i++) {
        float *restrict z = Z + (size_t)i * out;
        for (uint32_t j = 0; j < out; j++) z[j] += b[j];
    }
}

SISA_VECTOR_CLONES
void sisa_k_bias_relu(float *Z, const float *b, uint32_t n, uint32_t out)
{
    for (uint32_t i = 0; i < n; i++) {
        float *restrict z = Z + (size_t)i * out;
        for (uint32_t j = 0; j < out; j++) {
            float v = z[j] + b[j];
            z[j] = v < 0.0f ? 0.0f : v;
        }
    }
}

/* e_j = expf(z_j - max_k z_k) in place; returns the float sum of the e_j, j ascending. */
static float exp_row(float *z, uint32_t C)
{
    float mx = z[0];
    for (uint32_t j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
    float s = 0.0f;
    for (uint32_t j = 0; j < C; j++) {
        z[j] = expf(z[j] - mx);
        s += z[j];
    }
    return s;
}

void sisa_k_softmax(float *Z, uint32_t n, uint32_t C)
{
    for (uint32_t i = 0; i < n; i++) {
        float *z = Z + (size_t)i * C;
        float s = exp_row(z, C);
        for (uint32_t j = 0; j < C; j++) z[j] /= s;
    }
}

double sisa_k_softmax_xent(float *Z, const int32_t *y, uint32_t n, uint32_t C)
{
    double loss = 0.0;
    const float fn = (float)n;
    for (uint32_t i = 0; i < n; i++) {
        float *z = Z + (size_t)i * C;
        uint32_t yi = (uint32_t)y[i];
        /* -log p_y = log(sum_k e_k) - (z_y - max), taken from the shifted logit rather than
         * from p_y, so the loss stays accurate (and finite) when p_y underflows. */
        float mx = z[0];
        for (uint32_t j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
        float zy = z[yi] - mx;
        float s = exp_row(z, C);
        loss += log((double)s) - (double)zy;
        for (uint32_t j = 0; j < C; j++) z[j] /= s;
        z[yi] -= 1.0f;
        for (uint32_t j = 0; j < C; j++) z[j] /= fn;
    }
    return loss / (double)n;
}

SISA_VECTOR_CLONES
void sisa_k_bias_grad(float *db, const float *dZ, uint32_t n, uint32_t out)
{
    for (uint32_t j = 0; j < out; j++) db[j] = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        const float *restrict dz = dZ + (size_t)i * out;
        for (uint32_t j = 0; j < out; j++) db[j] += dz[j];
    }
}

SISA_VECTOR_CLONES
void sisa_k_relu_backward(float *dA, const float *A, size_t count)
{
    for (size_t k = 0; k < count; k++) dA[k] = A[k] > 0.0f ? dA[k] : 0.0f;
}
