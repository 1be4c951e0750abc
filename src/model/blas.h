/*
 * blas.h - OpenBLAS set-up and identification. Only src/model/ includes <cblas.h>.
 *
 * sisa runs OpenBLAS with one thread per process (ranks give the parallelism) and records the
 * kernel ("core") OpenBLAS picked for this CPU: different cores give bitwise different GEMM
 * results, so the core is part of every artifact's determinism context.
 */
#ifndef SISA_MODEL_BLAS_H
#define SISA_MODEL_BLAS_H

#include <stddef.h>

typedef struct sisa_blas_info {
    char version[64]; /* "0.3.21" */
    char core[64];    /* "Haswell", "Cooperlake", ... */
    char config[256]; /* openblas_get_config() */
    int threads;
} sisa_blas_info;

/* Pin OpenBLAS to one thread (idempotent). */
void sisa_blas_single_thread(void);
void sisa_blas_describe(sisa_blas_info *out);

#endif
