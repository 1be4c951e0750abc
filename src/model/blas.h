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
#include <stdint.h>

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
 * slower), write advice naming the OPENBLAS_CORETYPE to set and return 1; else return 0. The
 * CLI makes this choice itself for new stores (sisa_blas_plan_core); the advice remains for the
 * cases it does not (a store that records the generic core). */
int sisa_blas_core_advice(char *out, size_t cap);

/* ---- choosing the core ----------------------------------------------------------------------
 *
 * OpenBLAS (built with DYNAMIC_ARCH, as Debian's is) picks its kernel ("core") once, when the
 * library initialises, from OPENBLAS_CORETYPE or else from cpuid. sisa cannot change it in a
 * running process; the CLI re-executes itself with OPENBLAS_CORETYPE set instead (src/cli/
 * core.c). The functions below are the pure part of that decision, over a CPU description, so
 * that tests can run them on CPUs this machine is not. */

/* Instruction sets a core may need: the CPU has them and the OS saves their registers. */
enum {
    SISA_CPU_SSE2 = 1u << 0,
    SISA_CPU_SSE3 = 1u << 1,
    SISA_CPU_SSSE3 = 1u << 2,
    SISA_CPU_SSE41 = 1u << 3,
    SISA_CPU_SSE42 = 1u << 4,
    SISA_CPU_AVX = 1u << 5,
    SISA_CPU_AVX2 = 1u << 6,
    SISA_CPU_FMA = 1u << 7,
    SISA_CPU_AVX512F = 1u << 8,
    SISA_CPU_AVX512CD = 1u << 9,
    SISA_CPU_AVX512BW = 1u << 10,
    SISA_CPU_AVX512DQ = 1u << 11,
    SISA_CPU_AVX512VL = 1u << 12,
    SISA_CPU_AVX512BF16 = 1u << 13,
};

typedef struct sisa_cpu_desc {
    int x86_64;      /* 0 on other architectures: sisa then never chooses or switches */
    char vendor[16]; /* cpuid's vendor string: "GenuineIntel", "AuthenticAMD", ... */
    unsigned family; /* display family and model, as /proc/cpuinfo shows them */
    unsigned model;
    unsigned flags; /* SISA_CPU_* */
} sisa_cpu_desc;

/* This machine's CPU (cpuid through GCC's builtins, which also check the OS enables the AVX
 * and AVX-512 register state). */
void sisa_cpu_detect(sisa_cpu_desc *out);

/* The x86_64 cores of OpenBLAS 0.3.21 that `cpu` runs, fastest first, for single-precision
 * GEMM: Cooperlake (AVX-512 with BF16), SkylakeX (AVX-512 F/CD/BW/DQ/VL), Zen then Haswell on
 * AMD and Hygon, Haswell on others (AVX2 + FMA), Sandybridge (AVX), Nehalem (SSE4.2), Penryn
 * (SSE4.1), Core2 (SSSE3), Prescott (SSE3). Writes at most `cap` names (static strings) and
 * returns how many it wrote; 0 for a CPU that is not x86_64. */
int sisa_blas_core_candidates(const char **out, int cap, const sisa_cpu_desc *cpu);

/* Vector generation of a core name (case-insensitive): 5 AVX-512, 4 AVX2+FMA (Haswell, Zen),
 * 3 AVX (Sandybridge, AMD's Bulldozer family), 2 SSE4, 1 SSE2/SSE3/SSSE3; 0 for a name sisa
 * does not know. */
int sisa_blas_core_tier(const char *core);

/* Whether `cpu` can run `core`: 1 yes; 0 no, with the missing instruction sets written to
 * `missing` ("avx512f avx512bw"); -1 when sisa does not know what the core needs (then it never
 * switches to it by itself). */
int sisa_blas_core_runs(const sisa_cpu_desc *cpu, const char *core, char *missing, size_t cap);

/* Who set the core this process runs. */
typedef enum {
    SISA_CORE_BY_OPENBLAS = 0, /* OpenBLAS from cpuid, OPENBLAS_CORETYPE unset */
    SISA_CORE_BY_ENV,          /* OPENBLAS_CORETYPE, set by the user */
    SISA_CORE_BY_SISA,         /* sisa's choice for a faster core, after its self-check */
    SISA_CORE_BY_STORE,        /* the core the store records (sisa re-executed itself) */
    SISA_CORE_BY_FALLBACK,     /* OpenBLAS's own choice after sisa's candidate failed its check */
} sisa_core_origin;

/* What to do at start-up, before any BLAS call (sisa_blas_plan_core). */
typedef enum {
    SISA_CORE_KEEP,   /* run under the core this process has */
    SISA_CORE_SWITCH, /* re-execute with OPENBLAS_CORETYPE=plan.core */
    SISA_CORE_REFUSE, /* the store's core cannot run here: plan.why says why */
} sisa_core_action;

typedef struct sisa_core_plan_in {
    const sisa_cpu_desc *cpu;
    const char *env;        /* OPENBLAS_CORETYPE as the user set it; NULL or "" when unset */
    const char *running;    /* openblas_get_corename() of this process */
    const char *store_core; /* the core the store records; NULL when no store (yet) */
    int may_choose;         /* a new store, or --version: sisa may pick a faster core */
} sisa_core_plan_in;

typedef struct sisa_core_plan {
    sisa_core_action action;
    sisa_core_origin origin; /* of the core the command will run under (KEEP, SWITCH) */
    int self_check;          /* SWITCH to a core of sisa's choice: check it before use */
    char core[64];           /* SWITCH: the core to set */
    char why[512];           /* REFUSE: the reason; KEEP: a note worth a warning, or "" */
} sisa_core_plan;

/* The decision, a pure function of its input:
 *  - an explicit OPENBLAS_CORETYPE always wins (KEEP, BY_ENV); the store's context check then
 *    refuses a store written under another core;
 *  - with a store: KEEP when this process runs its core; else SWITCH to it when the CPU runs it
 *    (BY_STORE); else REFUSE naming the core and what the CPU lacks (or, for a core whose needs
 *    sisa does not know, asking for OPENBLAS_CORETYPE to be set explicitly);
 *  - without one and may_choose: SWITCH with self_check to the first candidate when its tier is
 *    above the running core's (OpenBLAS picked a generic kernel); else KEEP (BY_OPENBLAS). */
void sisa_blas_plan_core(sisa_core_plan *out, const sisa_core_plan_in *in);

/* The origin of this process's core, and a note about it ("OpenBLAS picked Prescott"): set once
 * by the CLI at start-up. Until it is set, BY_ENV when OPENBLAS_CORETYPE is set, else
 * BY_OPENBLAS. */
void sisa_blas_set_origin(sisa_core_origin origin, const char *note);
sisa_core_origin sisa_blas_origin(void);
/* "set by OPENBLAS_CORETYPE", "chosen by OpenBLAS", "chosen by sisa after its self-check
 * (OpenBLAS picked Prescott)", "the store's core", ... */
void sisa_blas_origin_text(char *out, size_t cap);
/* The token recorded in store manifests: "OPENBLAS_CORETYPE", "openblas", "sisa", "store",
 * "openblas-after-failed-check". */
const char *sisa_blas_origin_token(sisa_core_origin origin);

/* ---- self-check ---------------------------------------------------------------------------- */

struct sisa_model_spec;

/* The three products sisa's models compute with cblas_sgemm (model/kernels.h); NULL members
 * mean sisa's own kernels. Tests pass broken ones to see the check fail. */
typedef struct sisa_blas_gemms {
    void (*forward)(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                    uint32_t out);
    void (*weight_grad)(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                        uint32_t out);
    void (*input_grad)(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                       uint32_t out);
} sisa_blas_gemms;

/* Check this process's core at every product a model of spec `ms` computes: for each layer
 * (in, out), the forward product, the weight gradient and (above the first layer of an MLP) the
 * input gradient, with n = 1..17 rows (every remainder of the kernels' row blocking), max_batch
 * - 1, max_batch, and forward alone with n = `predict_block`; for a cnn also each convolution's
 * products ((n h w, k k cin) x (k k cin, cout) with the rows of 1 and 3 images; the input
 * gradient above the first convolution) and the input gradient of its first dense layer. Each
 * element is compared with the
 * naive reference (model_ref.c, sums in double) within the bound every summation order of K
 * float products obeys: |c - ref| <= (K + 2) u sum_k |a_k b_k| / (1 - (K + 2) u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 3.1: the K-term dot product, plus
 * the reference's own rounding to float). Inputs are uniform in [-1, 1) from a fixed stream.
 * Returns 1 when every element passes, 0 when one does not (`why` names the product, shape,
 * element and both values), or SISA_ENOMEM. Runs under sisa_model_fp_setup's mode. */
int sisa_blas_self_check(const struct sisa_model_spec *ms, uint32_t predict_block,
                         const sisa_blas_gemms *gemms, char *why, size_t cap);

#endif
