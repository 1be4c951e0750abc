/*
 * bench_train.c - training throughput of src/model on Fashion-MNIST, one thread.
 *
 *   bench_train [EPOCHS [FASHION_MNIST_DIR [FILTER]]]     (defaults: 3, SISA_FMNIST or
 *                                                          /usr/share/datasets/fashion-mnist)
 *
 * Reads the gzipped IDX training and test sets with zlib, scales pixels to [0, 1] ("raw") and
 * also standardises each feature to z-scores over the training set ("zscore"; constant
 * features become 0), then trains, for each case, a fresh model for EPOCHS epochs of batch 128
 * over a freshly shuffled order per epoch (Philox, SISA_RNG_ORDER), gathering each batch into a
 * contiguous buffer as the shard trainer does. Cases: MLP 784-256-10 and logreg 784-10, both
 * with Adam, each on raw and z-scored data with subnormal flushing on, and on raw data with
 * flushing off (IEEE subnormals) to show what they cost; and the default cnn of
 * configs/fashion-mnist-cnn.yaml (1x28x28, 3x3 convolutions of 32 and 64 channels, each with 2x2
 * max pooling, dense 3136-128-10) with Adam on raw data. FILTER, if given, runs only the cases
 * whose label contains it.
 *
 * Prints per case: samples/s over whole epochs (shuffle, batch gather and steps), the same for
 * the last epoch (subnormals build up over time), samples/s counting only the time inside
 * sisa_model_train_step ("in step": the model's own throughput, which the targets are about),
 * the GFLOP/s of that (sisa_model_train_flops_per_sample), the mean loss of the last epoch,
 * test accuracy, the share of optimizer state that is subnormal at the end (meaningful in
 * the IEEE case only: with FTZ none can arise), and samples per second of this process's CPU
 * time over the epochs (on a shared machine, what the loop gets from its core). Then the matrix
 * products of a step alone, on the same shapes: the bound for "in step"; for the cnn, the time of
 * a step's sgemm calls alone, of its im2col and col2im alone (the same shapes, the same call
 * sequence, with "cnn" in FILTER), as shares of a whole step, and a large square sgemm (2048^3)
 * as this core's sgemm peak on one thread. The OpenBLAS core and the
 * floating-point mode are printed because they decide both the speed and the bits. Nothing here is
 * a test: no figure is checked.
 */
#include "base/progress.h"
#include "base/rng.h"
#include "base/strutil.h"
#include "model/blas.h"
#include "model/fpenv.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "sisa/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define BATCH 128
#define SEED  20240601u

typedef struct {
    uint32_t n, d;
    float *X;   /* (n, d) */
    int32_t *y; /* (n) */
} set;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int read_exact(gzFile f, void *buf, size_t len, const char *path)
{
    unsigned char *p = buf;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int got = gzread(f, p, chunk);
        if (got <= 0) {
            fprintf(stderr, "bench_train: %s: truncated or unreadable\n", path);
            return -1;
        }
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

/* images: magic 0x00000803, n, rows, cols, then n*rows*cols bytes; labels: 0x00000801, n. */
static int load_set(set *s, const char *dir, const char *images, const char *labels)
{
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s", dir, images);
    snprintf(lp, sizeof lp, "%s/%s", dir, labels);
    unsigned char h[16], *px = NULL, *lb = NULL;
    int rc = -1;
    gzFile fi = gzopen(ip, "rb"), fl = gzopen(lp, "rb");
    if (!fi || !fl) {
        fprintf(stderr, "bench_train: cannot open %s or %s\n", ip, lp);
        goto done;
    }
    if (read_exact(fi, h, 16, ip) || be32(h) != 0x803) goto done;
    s->n = be32(h + 4);
    s->d = be32(h + 8) * be32(h + 12);
    if (read_exact(fl, h, 8, lp) || be32(h) != 0x801 || be32(h + 4) != s->n) goto done;
    size_t cells = (size_t)s->n * s->d;
    px = malloc(cells);
    lb = malloc(s->n);
    s->X = malloc(cells * sizeof(float));
    s->y = malloc(s->n * sizeof(int32_t));
    if (!px || !lb || !s->X || !s->y) goto done;
    if (read_exact(fi, px, cells, ip) || read_exact(fl, lb, s->n, lp)) goto done;
    for (size_t k = 0; k < cells; k++) s->X[k] = (float)px[k] / 255.0f;
    for (uint32_t i = 0; i < s->n; i++) s->y[i] = lb[i];
    rc = 0;
done:
    if (fi) gzclose(fi);
    if (fl) gzclose(fl);
    free(px);
    free(lb);
    return rc;
}

/* z-scores with the training set's per-feature mean and standard deviation (in double). */
static float *standardise(const set *train, const set *other)
{
    uint32_t d = train->d;
    double *mean = calloc(d, sizeof(double)), *sd = calloc(d, sizeof(double));
    float *Z = malloc((size_t)other->n * d * sizeof(float));
    if (!mean || !sd || !Z) {
        free(Z);
        Z = NULL;
        goto done;
    }
    for (uint32_t i = 0; i < train->n; i++)
        for (uint32_t k = 0; k < d; k++) mean[k] += train->X[(size_t)i * d + k];
    for (uint32_t k = 0; k < d; k++) mean[k] /= train->n;
    for (uint32_t i = 0; i < train->n; i++)
        for (uint32_t k = 0; k < d; k++) {
            double t = train->X[(size_t)i * d + k] - mean[k];
            sd[k] += t * t;
        }
    for (uint32_t k = 0; k < d; k++) sd[k] = sqrt(sd[k] / train->n);
    for (uint32_t i = 0; i < other->n; i++)
        for (uint32_t k = 0; k < d; k++) {
            size_t at = (size_t)i * d + k;
            Z[at] = sd[k] > 0 ? (float)((other->X[at] - mean[k]) / sd[k]) : 0.0f;
        }
done:
    free(mean);
    free(sd);
    return Z;
}

typedef struct {
    const char *label;
    sisa_model_type type;
    int zscore;
    int flush;
} bench_case;

/* This process's CPU time (s): on a shared machine, throughput over CPU time is what the loop
 * gets from the core it runs on, whatever else runs beside it. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double subnormal_share(const sisa_model *m)
{
    uint64_t sub = 0, all = 0;
    for (int i = 0; i < sisa_model_state_count(m); i++) {
        const sisa_tensor *t = sisa_model_state(m, i);
        uint64_t cnt = t->shape[0] * t->shape[1];
        for (uint64_t k = 0; k < cnt; k++) sub += fpclassify(t->data[k]) == FP_SUBNORMAL;
        all += cnt;
    }
    return all ? (double)sub / (double)all : 0.0;
}

static int run_case(const bench_case *c, const set *train, const float *Xtrain, const set *test,
                    const float *Xtest, int epochs)
{
    int rc = -1;
    sisa_model *m = NULL;
    uint32_t *order = malloc(train->n * sizeof(uint32_t));
    float *Xb = malloc((size_t)BATCH * train->d * sizeof(float));
    float *proba = malloc((size_t)BATCH * 10 * sizeof(float));
    int32_t *yb = malloc(BATCH * sizeof(int32_t));
    if (!order || !Xb || !yb || !proba) goto done;

    sisa_model_spec ms = {.type = c->type, .d = train->d, .classes = 10, .max_batch = BATCH};
    if (c->type == SISA_MODEL_MLP) {
        ms.n_hidden = 1;
        ms.hidden[0] = 256;
    }
    if (c->type == SISA_MODEL_CNN) {
        ms.n_hidden = 1;
        ms.hidden[0] = 128;
        ms.in_c = 1, ms.in_h = 28, ms.in_w = 28;
        ms.n_conv = 2, ms.conv[0] = 32, ms.conv[1] = 64, ms.kernel = 3, ms.pool = 2;
    }
    sisa_optim_spec os = {
        .kind = SISA_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (sisa_model_create(&m, &ms, &os) < 0) {
        fprintf(stderr, "bench_train: %s\n", sisa_error_message());
        goto done;
    }
    sisa_model_fp_setup();
    if (!c->flush) sisa_model_fp_set_flush(0);
    const char *mode = sisa_model_fp_mode();
    sisa_model_init(m, SEED, 0);

    /* t_all: whole epochs (shuffle, gather, steps); t_model: inside train_step only. */
    double t_all = 0.0, t_last = 0.0, t_model = 0.0, loss_last = 0.0;
    const double cpu0 = cpu_now();
    for (int e = 0; e < epochs; e++) {
        sisa_rng r;
        sisa_rng_init(&r, SEED, SISA_RNG_ORDER, 0, 0, (uint32_t)e);
        for (uint32_t i = 0; i < train->n; i++) order[i] = i;
        sisa_rng_shuffle(&r, order, train->n);
        double loss_sum = 0.0;
        uint32_t batches = 0;
        double t0 = sisa_now();
        for (uint32_t at = 0; at < train->n; at += BATCH) {
            uint32_t nb = train->n - at < BATCH ? train->n - at : BATCH;
            for (uint32_t i = 0; i < nb; i++) {
                uint32_t row = order[at + i];
                memcpy(Xb + (size_t)i * train->d, Xtrain + (size_t)row * train->d,
                       train->d * sizeof(float));
                yb[i] = train->y[row];
            }
            double ts = sisa_now();
            loss_sum += sisa_model_train_step(m, Xb, yb, nb);
            t_model += sisa_now() - ts;
            batches++;
        }
        double t = sisa_now() - t0;
        t_all += t;
        t_last = t;
        loss_last = loss_sum / batches;
    }

    const double cpu_all = cpu_now() - cpu0; /* includes the shuffles between epochs */
    uint32_t correct = 0;
    for (uint32_t at = 0; at < test->n; at += BATCH) {
        uint32_t nb = test->n - at < BATCH ? test->n - at : BATCH;
        sisa_model_predict(m, Xtest + (size_t)at * test->d, nb, proba);
        for (uint32_t i = 0; i < nb; i++) {
            int best = 0;
            for (int j = 1; j < 10; j++)
                if (proba[i * 10 + j] > proba[i * 10 + best]) best = j;
            correct += best == test->y[at + i];
        }
    }
    double sub = subnormal_share(m);
    sisa_model_fp_setup();

    double samples = (double)train->n * epochs;
    double sps = samples / t_all, sps_last = (double)train->n / t_last,
           sps_model = samples / t_model;
    double gf = sps_model * sisa_model_train_flops_per_sample(&ms) * 1e-9;
    printf("%-24s %-7s %9.0f %9.0f %9.0f %7.1f  %.4f  %.4f  %5.1f%%  %9.0f\n", c->label, mode, sps,
           sps_last, sps_model, gf, loss_last, (double)correct / test->n, 100.0 * sub,
           samples / cpu_all);
    fflush(stdout);
    rc = 0;
done:
    sisa_model_destroy(m);
    free(order);
    free(Xb);
    free(yb);
    free(proba);
    return rc;
}

/* The matrix products of one MLP 784-256-10 step and one logreg step, nothing else. */
static void gemm_only(const set *train)
{
    const uint32_t n = BATCH, d = train->d, h = 256, C = 10;
    float *W1 = calloc((size_t)d * h, sizeof(float)), *A1 = calloc((size_t)n * h, sizeof(float));
    float *W2 = calloc((size_t)h * C, sizeof(float)), *Z2 = calloc((size_t)n * C, sizeof(float));
    float *dA = calloc((size_t)n * h, sizeof(float)), *dW1 = calloc((size_t)d * h, sizeof(float));
    float *dW2 = calloc((size_t)h * C, sizeof(float));
    if (!W1 || !A1 || !W2 || !Z2 || !dA || !dW1 || !dW2) goto done;
    for (size_t k = 0; k < (size_t)d * h; k++) W1[k] = (float)((k * 7) % 13) * 0.01f - 0.06f;
    for (size_t k = 0; k < (size_t)h * C; k++) W2[k] = (float)((k * 5) % 11) * 0.01f - 0.05f;
    for (size_t k = 0; k < (size_t)n * C; k++) Z2[k] = 0.01f;
    const float *X = train->X;
    int steps = 3000;
    double t0 = sisa_now();
    for (int s = 0; s < steps; s++) {
        sisa_k_dense_forward(A1, X, W1, n, d, h);
        sisa_k_dense_forward(Z2, A1, W2, n, h, C);
        sisa_k_weight_grad(dW2, A1, Z2, n, h, C);
        sisa_k_input_grad(dA, Z2, W2, n, h, C);
        sisa_k_weight_grad(dW1, X, dA, n, d, h);
    }
    double t = sisa_now() - t0;
    double flops = 2.0 * (2.0 * d * h + 3.0 * h * C);
    printf("%-24s %-7s %9s %9s %9.0f %7.1f\n", "mlp products only", sisa_model_fp_mode(), "", "",
           n * steps / t, n * steps * flops / t * 1e-9);
    steps = 30000;
    t0 = sisa_now();
    for (int s = 0; s < steps; s++) {
        sisa_k_dense_forward(Z2, X, W1, n, d, C);
        sisa_k_weight_grad(dW1, X, Z2, n, d, C);
    }
    t = sisa_now() - t0;
    flops = 2.0 * 2.0 * d * C;
    printf("%-24s %-7s %9s %9s %9.0f %7.1f\n", "logreg products only", sisa_model_fp_mode(), "", "",
           n * steps / t, n * steps * flops / t * 1e-9);
done:
    free(W1);
    free(A1);
    free(W2);
    free(Z2);
    free(dA);
    free(dW1);
    free(dW2);
}

/* The parts of one default-cnn training step (batch 128) alone: its sgemm calls (convolutions
 * as im2col products, dense layers), its im2col and col2im calls, each timed over the same
 * sequence of calls a step makes, on a model's own buffers; then a 2048^3 sgemm as the peak. */
static void cnn_parts(const set *train)
{
    sisa_model *m = NULL;
    float *big = NULL;
    sisa_model_spec ms = {.type = SISA_MODEL_CNN, .d = 784, .classes = 10, .max_batch = BATCH};
    ms.n_hidden = 1, ms.hidden[0] = 128, ms.in_c = 1, ms.in_h = 28, ms.in_w = 28;
    ms.n_conv = 2, ms.conv[0] = 32, ms.conv[1] = 64, ms.kernel = 3, ms.pool = 2;
    sisa_optim_spec os = {
        .kind = SISA_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (sisa_model_create(&m, &ms, &os) < 0) return;
    sisa_model_init(m, SEED, 0);
    const uint32_t n = BATCH;
    const int steps = 40;
    /* a whole step, for the shares */
    double t0 = sisa_now();
    for (int s = 0; s < steps; s++) sisa_model_train_step(m, train->X, train->y, n);
    const double t_step = (sisa_now() - t0) / steps;
    /* the step's sgemm calls */
    t0 = sisa_now();
    for (int s = 0; s < steps; s++) {
        for (int l = 0; l < m->n_conv; l++) {
            const sisa_conv *C = &m->conv[l];
            const uint32_t rows = n * C->h * C->w;
            sisa_k_dense_forward(C->act, C->cols, C->wt, rows, C->kk, C->cout);
            sisa_k_weight_grad(C->dwt, C->cols, C->act, rows, C->kk, C->cout);
            if (l > 0) sisa_k_input_grad(m->dcols, C->act, C->wt, rows, C->kk, C->cout);
        }
        for (int l = 0; l < m->n_layers; l++) {
            const sisa_dense *L = &m->layer[l];
            const float *A = l ? m->layer[l - 1].act : m->conv[m->n_conv - 1].out;
            sisa_k_dense_forward(L->act, A, L->w, n, L->in, L->out);
            sisa_k_weight_grad(L->dw, A, L->act, n, L->in, L->out);
            sisa_k_input_grad(l ? m->dbuf[0] : m->dpool[1], L->act, L->w, n, L->in, L->out);
        }
    }
    const double t_gemm = (sisa_now() - t0) / steps;
    /* the step's im2col and col2im calls */
    t0 = sisa_now();
    for (int s = 0; s < steps; s++)
        for (int l = 0; l < m->n_conv; l++) {
            const sisa_conv *C = &m->conv[l];
            if (l == 0)
                sisa_k_im2col(C->cols, train->X, n, C, 784, 784, 28, 1);
            else {
                const size_t ss = (size_t)C->h * C->w * C->cin;
                sisa_k_im2col(C->cols, m->conv[l - 1].out, n, C, ss, 1, (size_t)C->w * C->cin,
                              C->cin);
                sisa_k_col2im(m->dpool[0], m->dcols, n, C);
            }
        }
    const double t_cols = (sisa_now() - t0) / steps;
    const double flops = sisa_model_train_flops_per_sample(&ms) * n;
    printf("%-24s step %.2f ms (%.1f GFLOP/s): sgemm %.2f ms (%.0f%%), im2col+col2im %.2f ms "
           "(%.0f%%), the rest %.0f%%\n",
           "cnn step parts", t_step * 1e3, flops / t_step * 1e-9, t_gemm * 1e3,
           100.0 * t_gemm / t_step, t_cols * 1e3, 100.0 * t_cols / t_step,
           100.0 * (t_step - t_gemm - t_cols) / t_step);
    /* this core's sgemm peak: a large square product */
    const uint32_t N = 2048;
    big = calloc(3 * (size_t)N * N, sizeof(float));
    if (big) {
        for (size_t k = 0; k < 2 * (size_t)N * N; k++) big[k] = (float)(k % 17) * 0.01f;
        sisa_k_dense_forward(big + 2 * (size_t)N * N, big, big + (size_t)N * N, N, N, N);
        t0 = sisa_now();
        const int reps = 3;
        for (int r = 0; r < reps; r++)
            sisa_k_dense_forward(big + 2 * (size_t)N * N, big, big + (size_t)N * N, N, N, N);
        const double t = (sisa_now() - t0) / reps;
        printf("%-24s %.1f GFLOP/s (one thread)\n", "sgemm 2048^3 peak",
               2.0 * N * N * (double)N / t * 1e-9);
    }
    free(big);
    sisa_model_destroy(m);
}

int main(int argc, char **argv)
{
    int64_t epochs = 3;
    if (argc > 1 &&
        (sisa_parse_i64(argv[1], &epochs) != SISA_PARSE_OK || epochs < 1 || epochs > 1000)) {
        fprintf(stderr, "usage: bench_train [EPOCHS (1..1000) [FASHION_MNIST_DIR [FILTER]]]\n");
        return 2;
    }
    const char *dir = argc > 2 ? argv[2] : getenv("SISA_FMNIST");
    if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
    const char *filter = argc > 3 ? argv[3] : NULL;

    set train = {0}, test = {0};
    float *Ztrain = NULL, *Ztest = NULL;
    int rc = 1;
    if (load_set(&train, dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz") ||
        load_set(&test, dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
        goto done;

    sisa_model_fp_setup();
    sisa_blas_info bi;
    sisa_blas_describe(&bi);
    const char *forced = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS %s, core %s (%s%s), %d thread(s); fp mode after setup: %s\n", bi.version,
           bi.core, forced ? "OPENBLAS_CORETYPE=" : "auto-detected", forced ? forced : "",
           bi.threads, sisa_model_fp_mode());
    printf("Fashion-MNIST: %u train, %u test rows of %u features; batch %d, %d epoch(s), Adam "
           "lr 1e-3\n",
           train.n, test.n, train.d, BATCH, (int)epochs);

    static const bench_case cases[] = {
        {"mlp 784-256-10 raw/255", SISA_MODEL_MLP, 0, 1},
        {"mlp 784-256-10 zscore", SISA_MODEL_MLP, 1, 1},
        {"mlp 784-256-10 raw/255", SISA_MODEL_MLP, 0, 0},
        {"logreg 784-10 raw/255", SISA_MODEL_LOGREG, 0, 1},
        {"logreg 784-10 zscore", SISA_MODEL_LOGREG, 1, 1},
        {"logreg 784-10 raw/255", SISA_MODEL_LOGREG, 0, 0},
        {"cnn 32-64-128 raw/255", SISA_MODEL_CNN, 0, 1},
    };
    int need_z = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        need_z |= cases[i].zscore && (!filter || strstr(cases[i].label, filter));
    if (need_z) {
        Ztrain = standardise(&train, &train);
        Ztest = standardise(&train, &test);
        if (!Ztrain || !Ztest) goto done;
    }
    printf("\n%-24s %-7s %9s %9s %9s %7s  %-6s  %-6s  %s  %s\n", "case", "fp", "samples/s",
           "last ep.", "in step", "GFLOP/s", "loss", "test", "subnormal state", "per CPU s");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bench_case *c = &cases[i];
        if (filter && !strstr(c->label, filter)) continue;
        if (run_case(c, &train, c->zscore ? Ztrain : train.X, &test, c->zscore ? Ztest : test.X,
                     (int)epochs))
            goto done;
    }
    if (!filter || strstr(filter, "products")) gemm_only(&train);
    if (!filter || strstr(filter, "cnn")) cnn_parts(&train);
    rc = 0;
done:
    free(train.X);
    free(train.y);
    free(test.X);
    free(test.y);
    free(Ztrain);
    free(Ztest);
    return rc;
}
