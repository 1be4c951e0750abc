/*
 * model.h - the models sisa trains, behind one table of operations, and their optimizers.
 *
 * A model owns exactly three float allocations: parameters, gradients, and optimizer state.
 * Every tensor (a weight matrix, a bias, Adam's first moment of a weight matrix, ...) is a view
 * into one of them, listed by sisa_model_param() / sisa_model_state() so checkpoints can save
 * and restore them by name. Activations and scratch space are sized at create time for
 * `max_batch` rows: after sisa_model_create, training and prediction allocate nothing.
 *
 * Exactness: everything here is a pure function of its inputs and of the floating-point
 * environment (OpenBLAS core and thread count, flush-to-zero mode): same initial state + same
 * batches in the same order = same bits. Initialisation is keyed by (seed, shard) through
 * base/rng.h, never by time or rank. Dense math goes through OpenBLAS (cblas_sgemm); every
 * kernel has a naive reference twin in model_ref.c that tests compare it with.
 */
#ifndef SISA_MODEL_MODEL_H
#define SISA_MODEL_MODEL_H

#include "base/tensor.h"
#include "sisa/config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_model_spec {
    sisa_model_type type; /* SISA_MODEL_LOGREG, SISA_MODEL_MLP or SISA_MODEL_CNN */
    uint32_t d;           /* input features */
    uint32_t classes;     /* output classes, >= 2 */
    int32_t n_hidden;     /* mlp, cnn: number of hidden dense layers (>= 1); logreg: 0 */
    int32_t hidden[SISA_CONFIG_MAX_HIDDEN];
    sisa_activation activation;
    uint32_t max_batch; /* the largest n given to train_step / predict */
    int inference;      /* 1: for prediction only: a cnn gets no backward buffers (less than
                         * half its scratch), and train_step returns NaN */
    /* cnn only (0 otherwise): a row of X is an image (in_c, in_h, in_w), channels outermost,
     * in_c in_h in_w = d; n_conv convolutions with conv[l] output channels, kernel x kernel,
     * stride 1, same padding, each followed by ReLU and pool x pool max pooling. */
    int32_t n_conv;
    int32_t conv[SISA_CONFIG_MAX_CONV];
    uint32_t kernel, pool;
    uint32_t in_c, in_h, in_w;
} sisa_model_spec;

typedef struct sisa_optim_spec {
    sisa_optimizer kind;     /* SISA_OPT_SGD or SISA_OPT_ADAM */
    float lr;                /* the base rate: constant, or each stage's first under a schedule */
    sisa_schedule schedule;  /* SISA_SCHED_CONSTANT or SISA_SCHED_COSINE (sisa_optim_lr) */
    float final_lr_fraction; /* cosine: the rate at the end of a stage is lr * this, in [0, 1] */
    float momentum;          /* sgd; 0 = plain SGD without a velocity buffer */
    int nesterov;            /* sgd with momentum > 0 */
    float beta1, beta2, eps; /* adam */
    float weight_decay;      /* L2 term added to every gradient: g += weight_decay * w */
} sisa_optim_spec;

typedef struct sisa_model sisa_model;

/* Derive both specs from a validated config and the data's dimensions. */
void sisa_model_specs_from_config(sisa_model_spec *ms, sisa_optim_spec *os, const sisa_config *cfg,
                                  uint32_t d, uint32_t classes, uint32_t max_batch);

/* Allocate a model (parameters uninitialised until sisa_model_init). */
int sisa_model_create(sisa_model **out, const sisa_model_spec *ms, const sisa_optim_spec *os);
void sisa_model_destroy(sisa_model *m); /* NULL-safe */

/* Parameters from the (seed, shard) stream: weights He-uniform U(-sqrt(6/fan_in),
 * +sqrt(6/fan_in)) drawn layer by layer in row-major order (a cnn's convolutions first, with
 * fan_in = kernel^2 x input channels, then its dense layers), biases 0; optimizer state 0;
 * step count 0. */
void sisa_model_init(sisa_model *m, uint64_t seed, uint32_t shard);

/* One optimizer step on the batch X (n, d) row-major with labels y (n) in 0..classes-1,
 * 1 <= n <= max_batch. Loss: mean softmax cross-entropy over the batch. Returns that loss
 * (computed in the forward pass, before the update). Allocates nothing. */
float sisa_model_train_step(sisa_model *m, const float *X, const int32_t *y, uint32_t n);

/* The learning rate of a training step under the spec's schedule, as a pure function of where
 * the step starts within its stage: after `done` of the stage's `total` sample visits
 * (0 <= done < total). constant: lr, exactly. cosine: lr * (f + (1 - f) (1 + cos(pi p)) / 2)
 * with p = done / total and f = final_lr_fraction: lr exactly at done = 0, falling to f lr,
 * evaluated in double with + - * / only (fixed polynomials, no libm) and rounded to float
 * once, so it is the same bits on every machine. It depends on nothing else: not on time,
 * rank, or the stages around it. */
float sisa_optim_lr(const sisa_optim_spec *os, uint64_t done, uint64_t total);

/* Set the learning rate of the following steps (sisa_model_create starts at the spec's lr).
 * The rate is not part of the model's state: the trainer sets it before every step. */
void sisa_model_set_lr(sisa_model *m, float lr);

/* Posteriors proba (n, classes) for X (n, d), n <= max_batch. Allocates nothing. */
void sisa_model_predict(sisa_model *m, const float *X, uint32_t n, float *proba);

int sisa_model_param_count(const sisa_model *m);
const sisa_tensor *sisa_model_param(const sisa_model *m, int i);
int sisa_model_state_count(const sisa_model *m);
const sisa_tensor *sisa_model_state(const sisa_model *m, int i);
/* Optimizer steps taken so far (Adam's t); saved and restored with checkpoints. */
uint64_t sisa_model_steps(const sisa_model *m);
void sisa_model_set_steps(sisa_model *m, uint64_t steps);
const sisa_model_spec *sisa_model_get_spec(const sisa_model *m);

/* Floating-point operations of one training step per sample (forward + backward + update),
 * for benchmarks' GFLOP/s. */
double sisa_model_train_flops_per_sample(const sisa_model_spec *ms);

/* Set this thread's floating-point environment for training and prediction: OpenBLAS on one
 * thread, and subnormal results and inputs flushed to zero (x86 MXCSR FTZ+DAZ), because raw
 * [0, 1] pixel data drives gradients and Adam's moments into subnormals, which run many times
 * slower. Idempotent. The mode is part of the determinism context. */
void sisa_model_fp_setup(void);
/* "ftz+daz" when flushing is on, "ieee" otherwise (e.g. on CPUs without the control). */
const char *sisa_model_fp_mode(void);

#endif
