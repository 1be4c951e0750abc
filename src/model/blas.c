/*
 * blas.c - see blas.h.
 */
#include "model/blas.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

void sisa_cpu_features(char *out, size_t cap)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    snprintf(out, cap, "x86-64%s%s%s%s", __builtin_cpu_supports("fma") ? " fma" : "",
             __builtin_cpu_supports("avx2") ? " avx2" : "",
             __builtin_cpu_supports("avx512f") ? " avx512f" : "",
             __builtin_cpu_supports("avx512bw") ? " avx512bw" : "");
#elif defined(__aarch64__)
    snprintf(out, cap, "aarch64");
#else
    snprintf(out, cap, "unknown-cpu");
#endif
}

void sisa_blas_single_thread(void)
{
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

static void trim_into(char *out, size_t cap, const char *s)
{
    while (*s == ' ') s++;
    snprintf(out, cap, "%s", s);
    size_t n = strlen(out);
    while (n && out[n - 1] == ' ') out[--n] = '\0';
}

void sisa_blas_describe(sisa_blas_info *out)
{
    memset(out, 0, sizeof *out);
    const char *v = OPENBLAS_VERSION; /* " OpenBLAS 0.3.21 " */
    const char *p = strstr(v, "OpenBLAS");
    trim_into(out->version, sizeof out->version, p ? p + 8 : v);
    const char *core = openblas_get_corename();
    trim_into(out->core, sizeof out->core, core ? core : "unknown");
    const char *cfg = openblas_get_config();
    trim_into(out->config, sizeof out->config, cfg ? cfg : "");
    out->threads = openblas_get_num_threads();
}

int sisa_blas_core_advice(char *out, size_t cap)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington",
                                          "Nehalem",  "Atom",  "Katmai", "Coppermine"};
    const char *core = openblas_get_corename();
    int is_generic = 0;
    for (size_t i = 0; core && i < sizeof generic / sizeof generic[0]; i++)
        is_generic |= strcmp(core, generic[i]) == 0;
    if (!is_generic) return 0;
    __builtin_cpu_init();
    const char *better = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                         : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                           : NULL;
    if (!better) return 0;
    snprintf(out, cap,
             "OpenBLAS runs its generic %s kernel on a CPU with %s: this OpenBLAS does not "
             "recognise the CPU model. Training is several times faster with "
             "OPENBLAS_CORETYPE=%s set in the environment (results then differ in the last bits "
             "from runs under %s, so use one setting per store)",
             core, better[0] == 'S' ? "AVX-512" : "AVX2", better, core);
    return 1;
#else
    (void)out;
    (void)cap;
    return 0;
#endif
}
