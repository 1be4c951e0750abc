/*
 * blasshim.c - an LD_PRELOAD library that makes OpenBLAS look, to sisa, like it does on a CPU
 * this machine is not, so tests can drive sisa's choice of core through the real binary.
 *
 *   SISA_BLASSHIM_PICK=CORE    while OPENBLAS_CORETYPE is unset, openblas_get_corename()
 *                              reports CORE: what OpenBLAS says when it does not know the CPU
 *                              and falls back to a generic kernel (the kernel itself is still
 *                              OpenBLAS's real pick; sisa re-executes away from it, or pins
 *                              CORE by name on its way back, so every result the tests compare
 *                              comes from a core that is really set)
 *   SISA_BLASSHIM_BREAK=CORE   cblas_sgemm adds 1 to the first element of its result when the
 *                              real core is CORE: a kernel that computes wrong results
 *
 * Everything else passes through to OpenBLAS.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef char *(*corename_fn)(void);
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);

char *openblas_get_corename(void);
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* OpenBLAS's own definition of `name` (the next one after this library). */
static void *next(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    if (!sym) abort();
    return sym;
}

static char *real_corename(void)
{
    static corename_fn f;
    if (!f) {
        void *sym = next("openblas_get_corename");
        memcpy(&f, &sym, sizeof sym);
    }
    return f();
}

char *openblas_get_corename(void)
{
    const char *pick = getenv("SISA_BLASSHIM_PICK");
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (pick && *pick && !(env && *env)) return (char *)pick;
    return real_corename();
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    static sgemm_fn f;
    if (!f) {
        void *sym = next("cblas_sgemm");
        memcpy(&f, &sym, sizeof sym);
    }
    f(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    const char *broken = getenv("SISA_BLASSHIM_BREAK");
    if (broken && *broken && strcasecmp(broken, real_corename()) == 0 && m > 0 && n > 0)
        c[0] += 1.0f;
}
