/*
 * blas.c - see blas.h.
 */
#include "model/blas.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

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
    const sisa_core_origin origin = sisa_blas_origin();
    if (origin != SISA_CORE_BY_OPENBLAS) return 0; /* not for a core someone set */
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

/* ---- choosing the core ---------------------------------------------------------------------- */

#define AVX512_SET                                                                                 \
    (SISA_CPU_AVX512F | SISA_CPU_AVX512CD | SISA_CPU_AVX512BW | SISA_CPU_AVX512DQ |                \
     SISA_CPU_AVX512VL | SISA_CPU_AVX2 | SISA_CPU_FMA | SISA_CPU_AVX)
#define AVX2_SET (SISA_CPU_AVX2 | SISA_CPU_FMA | SISA_CPU_AVX)

/* The x86_64 cores OpenBLAS 0.3.21 reports (openblas_get_corename) and accepts in
 * OPENBLAS_CORETYPE, with what their kernels need. `known` 0: sisa does not know the exact
 * needs (AMD's and VIA's older cores use 3DNow! or FMA4 in places), so it never switches to
 * them by itself. The needs are those OpenBLAS itself tests before it picks the core from
 * cpuid (driver/others/dynamic.c), never fewer than the kernels' instruction sets. */
typedef struct {
    const char *name;
    int tier;
    int known;
    unsigned needs;
} core_info;

static const core_info cores[] = {
    {"Cooperlake", 5, 1, AVX512_SET | SISA_CPU_AVX512BF16},
    {"SkylakeX", 5, 1, AVX512_SET},
    {"Haswell", 4, 1, AVX2_SET},
    {"Zen", 4, 1, AVX2_SET},
    {"Sandybridge", 3, 1, SISA_CPU_AVX},
    {"Nehalem", 2, 1, SISA_CPU_SSE42 | SISA_CPU_SSE41 | SISA_CPU_SSSE3 | SISA_CPU_SSE3},
    {"Penryn", 2, 1, SISA_CPU_SSE41 | SISA_CPU_SSSE3 | SISA_CPU_SSE3},
    {"Dunnington", 2, 1, SISA_CPU_SSE41 | SISA_CPU_SSSE3 | SISA_CPU_SSE3},
    {"Core2", 1, 1, SISA_CPU_SSSE3 | SISA_CPU_SSE3},
    {"Atom", 1, 1, SISA_CPU_SSSE3 | SISA_CPU_SSE3},
    {"Prescott", 1, 1, SISA_CPU_SSE3 | SISA_CPU_SSE2},
    {"Excavator", 3, 0, 0},
    {"Steamroller", 3, 0, 0},
    {"Piledriver", 3, 0, 0},
    {"Bulldozer", 3, 0, 0},
    {"Bobcat", 2, 0, 0},
    {"Barcelona", 2, 0, 0},
    {"Opteron_SSE3", 1, 0, 0},
    {"Opteron", 1, 0, 0},
    {"Nano", 1, 0, 0},
};
#define N_CORES (sizeof cores / sizeof cores[0])

static const core_info *find_core(const char *name)
{
    for (size_t i = 0; name && i < N_CORES; i++)
        if (strcasecmp(name, cores[i].name) == 0) return &cores[i];
    return NULL;
}

static const char *const flag_names[] = {
    "sse2", "sse3",    "ssse3",    "sse4.1",   "sse4.2",   "avx",      "avx2",
    "fma",  "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512bf16"};

void sisa_cpu_detect(sisa_cpu_desc *out)
{
    memset(out, 0, sizeof *out);
#if defined(__x86_64__) && defined(__GNUC__)
    out->x86_64 = 1;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(out->vendor, &b, 4);
        memcpy(out->vendor + 4, &d, 4);
        memcpy(out->vendor + 8, &c, 4);
    }
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        unsigned fam = (a >> 8) & 15, model = (a >> 4) & 15;
        if (fam == 15) fam += (a >> 20) & 255;
        if (fam == 6 || fam >= 15) model |= ((a >> 16) & 15) << 4;
        out->family = fam;
        out->model = model;
    }
    __builtin_cpu_init();
    /* GCC's table also checks that the OS saves the AVX and AVX-512 registers (XCR0). */
    unsigned f = 0;
    f |= __builtin_cpu_supports("sse2") ? SISA_CPU_SSE2 : 0;
    f |= __builtin_cpu_supports("sse3") ? SISA_CPU_SSE3 : 0;
    f |= __builtin_cpu_supports("ssse3") ? SISA_CPU_SSSE3 : 0;
    f |= __builtin_cpu_supports("sse4.1") ? SISA_CPU_SSE41 : 0;
    f |= __builtin_cpu_supports("sse4.2") ? SISA_CPU_SSE42 : 0;
    f |= __builtin_cpu_supports("avx") ? SISA_CPU_AVX : 0;
    f |= __builtin_cpu_supports("avx2") ? SISA_CPU_AVX2 : 0;
    f |= __builtin_cpu_supports("fma") ? SISA_CPU_FMA : 0;
    f |= __builtin_cpu_supports("avx512f") ? SISA_CPU_AVX512F : 0;
    f |= __builtin_cpu_supports("avx512cd") ? SISA_CPU_AVX512CD : 0;
    f |= __builtin_cpu_supports("avx512bw") ? SISA_CPU_AVX512BW : 0;
    f |= __builtin_cpu_supports("avx512dq") ? SISA_CPU_AVX512DQ : 0;
    f |= __builtin_cpu_supports("avx512vl") ? SISA_CPU_AVX512VL : 0;
    f |= __builtin_cpu_supports("avx512bf16") ? SISA_CPU_AVX512BF16 : 0;
    out->flags = f;
#else
    snprintf(out->vendor, sizeof out->vendor, "unknown");
#endif
}

int sisa_blas_core_candidates(const char **out, int cap, const sisa_cpu_desc *cpu)
{
    const char *list[12];
    int n = 0;
    if (!cpu->x86_64) return 0;
    const unsigned f = cpu->flags;
    const int amd = !strcmp(cpu->vendor, "AuthenticAMD") || !strcmp(cpu->vendor, "HygonGenuine");
    if ((f & AVX512_SET) == AVX512_SET) {
        if (f & SISA_CPU_AVX512BF16) list[n++] = "Cooperlake";
        list[n++] = "SkylakeX";
    }
    if ((f & AVX2_SET) == AVX2_SET) {
        if (amd) list[n++] = "Zen";
        list[n++] = "Haswell";
    }
    if (f & SISA_CPU_AVX) list[n++] = "Sandybridge";
    for (size_t i = 0; i < N_CORES; i++) {
        const core_info *c = &cores[i];
        if (c->tier > 2 || !c->known || !strcmp(c->name, "Dunnington") || !strcmp(c->name, "Atom"))
            continue; /* Dunnington and Atom: the same needs as better-suited cores above */
        if ((f & c->needs) == c->needs) list[n++] = c->name;
    }
    int k = 0;
    for (; k < n && k < cap; k++) out[k] = list[k];
    return k;
}

int sisa_blas_core_tier(const char *core)
{
    const core_info *c = find_core(core);
    return c ? c->tier : 0;
}

int sisa_blas_core_runs(const sisa_cpu_desc *cpu, const char *core, char *missing, size_t cap)
{
    if (missing && cap) missing[0] = '\0';
    const core_info *c = find_core(core);
    if (!c || !c->known || !cpu->x86_64) return -1;
    unsigned lack = c->needs & ~cpu->flags;
    if (!lack) return 1;
    size_t used = 0;
    for (size_t i = 0; missing && i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (!(lack & (1u << i))) continue;
        int w = snprintf(missing + used, cap - used, "%s%s", used ? " " : "", flag_names[i]);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    return 0;
}

void sisa_blas_plan_core(sisa_core_plan *out, const sisa_core_plan_in *in)
{
    memset(out, 0, sizeof *out);
    out->action = SISA_CORE_KEEP;
    out->origin = SISA_CORE_BY_OPENBLAS;
    const sisa_cpu_desc *cpu = in->cpu;
    if (in->env && in->env[0]) {
        out->origin = SISA_CORE_BY_ENV;
        return;
    }
    if (in->store_core && in->store_core[0]) {
        out->origin = SISA_CORE_BY_STORE;
        if (in->running && strcasecmp(in->running, in->store_core) == 0) return;
        char missing[128];
        int runs = sisa_blas_core_runs(cpu, in->store_core, missing, sizeof missing);
        const core_info *c = find_core(in->store_core);
        if (runs == 1) {
            out->action = SISA_CORE_SWITCH;
            snprintf(out->core, sizeof out->core, "%s", c->name);
        } else if (runs == 0) {
            out->action = SISA_CORE_REFUSE;
            snprintf(out->why, sizeof out->why,
                     "the store was trained under OpenBLAS core %s, which this CPU (%s family %u "
                     "model %u) cannot run: it lacks %s. Its results are reproducible only under "
                     "that core: run on a CPU that has it",
                     in->store_core, cpu->vendor, cpu->family, cpu->model, missing);
        } else {
            out->action = SISA_CORE_REFUSE;
            snprintf(out->why, sizeof out->why,
                     "the store was trained under OpenBLAS core %s, and sisa does not know "
                     "whether this CPU (%s family %u model %u) runs it. If it does, set "
                     "OPENBLAS_CORETYPE=%s",
                     in->store_core, cpu->vendor, cpu->family, cpu->model, in->store_core);
        }
        return;
    }
    if (!in->may_choose) return;
    const char *cand[12];
    if (sisa_blas_core_candidates(cand, 12, cpu) == 0) return;
    const int have = sisa_blas_core_tier(in->running);
    if (have == 0 || sisa_blas_core_tier(cand[0]) <= have) return;
    out->action = SISA_CORE_SWITCH;
    out->origin = SISA_CORE_BY_SISA;
    out->self_check = 1;
    snprintf(out->core, sizeof out->core, "%s", cand[0]);
}

static int origin_set;
static sisa_core_origin origin_value;
static char origin_note[160];

void sisa_blas_set_origin(sisa_core_origin origin, const char *note)
{
    origin_set = 1;
    origin_value = origin;
    snprintf(origin_note, sizeof origin_note, "%s", note ? note : "");
}

sisa_core_origin sisa_blas_origin(void)
{
    if (origin_set) return origin_value;
    const char *env = getenv("OPENBLAS_CORETYPE");
    return env && *env ? SISA_CORE_BY_ENV : SISA_CORE_BY_OPENBLAS;
}

void sisa_blas_origin_text(char *out, size_t cap)
{
    const char *note = origin_set ? origin_note : "";
    switch (sisa_blas_origin()) {
    case SISA_CORE_BY_ENV:
        snprintf(out, cap, "set by OPENBLAS_CORETYPE");
        break;
    case SISA_CORE_BY_SISA:
        snprintf(out, cap, "chosen by sisa after its self-check%s%s%s", *note ? " (" : "", note,
                 *note ? ")" : "");
        break;
    case SISA_CORE_BY_STORE:
        snprintf(out, cap, "the store's core");
        break;
    case SISA_CORE_BY_FALLBACK:
        snprintf(out, cap, "chosen by OpenBLAS%s%s%s", *note ? " (" : "", note, *note ? ")" : "");
        break;
    default:
        snprintf(out, cap, "chosen by OpenBLAS");
        break;
    }
}

const char *sisa_blas_origin_token(sisa_core_origin origin)
{
    switch (origin) {
    case SISA_CORE_BY_ENV:
        return "OPENBLAS_CORETYPE";
    case SISA_CORE_BY_SISA:
        return "sisa";
    case SISA_CORE_BY_STORE:
        return "store";
    case SISA_CORE_BY_FALLBACK:
        return "openblas-after-failed-check";
    default:
        return "openblas";
    }
}
