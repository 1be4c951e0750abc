/*
 * tensor.h - a named view of a float array, shared by the models (which own the memory) and
 * the checkpoint files (which save and restore it by name).
 */
#ifndef SISA_BASE_TENSOR_H
#define SISA_BASE_TENSOR_H

#include <stdint.h>

typedef struct sisa_tensor {
    char name[48];     /* params: "w1", "b1", ..., "wL", "bL" (layer 1 = first);
                        * state: "velocity.w1" (sgd), "m.w1" and "v.w1" (adam) */
    float *data;       /* a view into its owner's allocation; writable (checkpoint restore) */
    int rank;          /* 1 (bias) or 2 (weights, row-major (rows, cols)) */
    uint64_t shape[2]; /* shape[1] = 1 for rank 1 */
} sisa_tensor;

#endif
