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

/* The CPU features that select code paths in sisa's kernels and in libm (e.g. glibc's expf has
 * FMA and non-FMA variants), as "x86-64 fma avx2 avx512f": part of the determinism context. */
void sisa_cpu_features(char *out, size_t cap);

/* Pin OpenBLAS to one thread (idempotent). */
void sisa_blas_single_thread(void);
void sisa_blas_describe(sisa_blas_info *out);

/* When OpenBLAS chose a generic kernel for a CPU that has wider vector units (it does not
 * recognise every CPU model and then falls back to "Prescott", an SSE3 kernel several times
 * slower), write advice naming the OPENBLAS_CORETYPE to set and return 1; else return 0.
 * Advice only: sisa never changes the core itself, because the core is part of the
 * determinism context. */
int sisa_blas_core_advice(char *out, size_t cap);

#endif
