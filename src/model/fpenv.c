/*
 * fpenv.c - the floating-point environment training runs in (model.h: sisa_model_fp_setup).
 *
 * Why flush subnormals: with raw [0, 1] pixels many inputs are always 0 (image borders), so
 * their weights get exactly zero gradients, and Adam's moments of those weights decay
 * geometrically (m *= beta1, v *= beta2 every step) into the subnormal range. Worse, they stay
 * there: beta1 * 2^-149 rounds back to 2^-149, so m never reaches 0. Every operation on a
 * subnormal costs a microcode assist of ~100 cycles on x86 cores, and a training step touches
 * every parameter. Flush-to-zero (results) and denormals-are-zero (inputs) in MXCSR make those
 * operations run at full speed; the values involved are below 1.2e-38 and have no effect on
 * training beyond the bits, which is why the mode is part of the determinism context.
 *
 * MXCSR is per thread. OpenBLAS runs on the calling thread when it is pinned to one thread
 * (sisa_blas_single_thread), so one call here covers both sisa's kernels and OpenBLAS's.
 * On CPUs without MXCSR the functions do nothing and the mode is "ieee".
 */
#include "model/blas.h"
#include "model/fpenv.h"
#include "model/model.h"

#if defined(__x86_64__) && defined(__SSE__)
#include <xmmintrin.h>
#define SISA_HAVE_MXCSR 1
#define MXCSR_DAZ       0x0040u /* bit 6: denormal inputs are treated as zero */
#define MXCSR_FTZ       0x8000u /* bit 15: denormal results are flushed to zero */
#else
#define SISA_HAVE_MXCSR 0
#endif

int sisa_model_fp_set_flush(int on)
{
#if SISA_HAVE_MXCSR
    unsigned int csr = _mm_getcsr();
    csr = on ? (csr | MXCSR_FTZ | MXCSR_DAZ) : (csr & ~(MXCSR_FTZ | MXCSR_DAZ));
    _mm_setcsr(csr);
    return 1;
#else
    (void)on;
    return 0;
#endif
}

void sisa_model_fp_setup(void)
{
    sisa_blas_single_thread();
    (void)sisa_model_fp_set_flush(1);
}

const char *sisa_model_fp_mode(void)
{
#if SISA_HAVE_MXCSR
    unsigned int csr = _mm_getcsr();
    unsigned int ftz = csr & MXCSR_FTZ, daz = csr & MXCSR_DAZ;
    /* Partial states only arise if something else changed MXCSR; report them as they are,
     * since the mode goes into the determinism context. */
    if (ftz && daz) return "ftz+daz";
    if (ftz) return "ftz";
    if (daz) return "daz";
#endif
    return "ieee";
}
