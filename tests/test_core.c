/*
 * test_core.c - the OpenBLAS core sisa runs under (docs/design.md, "The OpenBLAS core").
 *
 * The choice is a pure function over a CPU description, so it is tested on a table of CPUs this
 * machine is not (expected answers follow from the rules in docs/design.md, row by row). The
 * self-check is tested with sisa's real products and with broken ones. Through the binary:
 *   - a store trained under an explicitly set core X, then unlearned with OPENBLAS_CORETYPE
 *     unset (at 2 ranks under mpirun): every rank re-executes itself under X (before, it refused
 * the other context), and the result is bit for bit the store trained on D \ X under X; predict and
 * verify follow the store too;
 *   - OpenBLAS made to report a generic core (tests/blasshim.c): sisa switches a new store to
 *     the best core the CPU runs after its self-check, records it and who chose it, and trains
 *     bit for bit as an explicit run under that core; a broken kernel fails the self-check and
 *     sisa keeps OpenBLAS's pick, saying why;
 *   - a store whose core sisa cannot vouch for on this CPU is refused (exit 2) naming the core.
 * The test process's own OPENBLAS_CORETYPE is changed only around child runs and restored.
 */
#include "testutil.h"

#include "model/blas.h"
#include "model/kernels.h"
#include "model/model.h"
#include "sisa/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ROWS  150
#define N_FEAT  12
#define N_CLASS 3

static char dir[2048];

/* ---- the choice, on faked CPUs -------------------------------------------------------------- */

#define SSE_ALL  (SISA_CPU_SSE2 | SISA_CPU_SSE3 | SISA_CPU_SSSE3 | SISA_CPU_SSE41 | SISA_CPU_SSE42)
#define AVX2_ALL (SSE_ALL | SISA_CPU_AVX | SISA_CPU_AVX2 | SISA_CPU_FMA)
#define AVX512_ALL                                                                                 \
    (AVX2_ALL | SISA_CPU_AVX512F | SISA_CPU_AVX512CD | SISA_CPU_AVX512BW | SISA_CPU_AVX512DQ |     \
     SISA_CPU_AVX512VL)

typedef struct {
    sisa_cpu_desc cpu;
    const char *expect; /* the candidates, space-separated */
} cand_row;

static void test_candidates(void **state)
{
    (void)state;
    const cand_row rows[] = {
        /* An Intel model this OpenBLAS does not know (family 6, model 0xCF), AVX-512 without
         * BF16: SkylakeX first, then every older generation it also runs. */
        {{1, "GenuineIntel", 6, 0xCF, AVX512_ALL},
         "SkylakeX Haswell Sandybridge Nehalem Penryn Core2 Prescott"},
        /* The same with AVX-512 BF16: Cooperlake before SkylakeX. */
        {{1, "GenuineIntel", 6, 0xCF, AVX512_ALL | SISA_CPU_AVX512BF16},
         "Cooperlake SkylakeX Haswell Sandybridge Nehalem Penryn Core2 Prescott"},
        /* AMD with AVX2 + FMA, no AVX-512 (Zen 3): Zen, then Haswell. */
        {{1, "AuthenticAMD", 25, 0x21, AVX2_ALL},
         "Zen Haswell Sandybridge Nehalem Penryn Core2 Prescott"},
        /* Hygon counts as AMD. */
        {{1, "HygonGenuine", 24, 1, AVX2_ALL},
         "Zen Haswell Sandybridge Nehalem Penryn Core2 Prescott"},
        /* AVX-512F without BW/DQ/VL (Knights Landing): not SkylakeX. */
        {{1, "GenuineIntel", 6, 0x57, AVX2_ALL | SISA_CPU_AVX512F | SISA_CPU_AVX512CD},
         "Haswell Sandybridge Nehalem Penryn Core2 Prescott"},
        /* AVX2 without FMA: not Haswell. */
        {{1, "GenuineIntel", 6, 0x3C, SSE_ALL | SISA_CPU_AVX | SISA_CPU_AVX2},
         "Sandybridge Nehalem Penryn Core2 Prescott"},
        /* An old SSE3-only CPU (Pentium 4 Prescott). */
        {{1, "GenuineIntel", 15, 3, SISA_CPU_SSE2 | SISA_CPU_SSE3}, "Prescott"},
        /* Core 2 (SSSE3). */
        {{1, "GenuineIntel", 6, 15, SISA_CPU_SSE2 | SISA_CPU_SSE3 | SISA_CPU_SSSE3},
         "Core2 Prescott"},
        /* Not x86_64: no candidates at all. */
        {{0, "unknown", 0, 0, 0}, ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *c[16];
        int n = sisa_blas_core_candidates(c, 16, &rows[i].cpu);
        char got[256] = "";
        for (int k = 0; k < n; k++) {
            strcat(got, k ? " " : "");
            strcat(got, c[k]);
        }
        if (strcmp(got, rows[i].expect) != 0)
            fail_msg("row %zu: candidates '%s', expected '%s'", i, got, rows[i].expect);
    }
}

typedef struct {
    sisa_cpu_desc cpu;
    const char *env, *running, *store;
    int may_choose;
    sisa_core_action action;
    sisa_core_origin origin;
    int self_check;
    const char *core; /* SWITCH: the core; REFUSE: a word the reason must contain */
    const char *why2; /* REFUSE: another */
} plan_row;

static void test_plan(void **state)
{
    (void)state;
    const sisa_cpu_desc intel512 = {1, "GenuineIntel", 6, 0xCF, AVX512_ALL};
    const sisa_cpu_desc zen3 = {1, "AuthenticAMD", 25, 0x21, AVX2_ALL};
    const sisa_cpu_desc p4 = {1, "GenuineIntel", 15, 3, SISA_CPU_SSE2 | SISA_CPU_SSE3};
    const sisa_cpu_desc arm = {0, "unknown", 0, 0, 0};
    const plan_row rows[] = {
        /* An explicit OPENBLAS_CORETYPE always wins, store or not. */
        {intel512, "Prescott", "Prescott", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_ENV, 0, NULL,
         NULL},
        {zen3, "Haswell", "Haswell", "SkylakeX", 0, SISA_CORE_KEEP, SISA_CORE_BY_ENV, 0, NULL,
         NULL},
        /* OpenBLAS fell back to Prescott on an AVX-512 CPU: sisa's candidate, checked first. */
        {intel512, NULL, "Prescott", NULL, 1, SISA_CORE_SWITCH, SISA_CORE_BY_SISA, 1, "SkylakeX",
         NULL},
        {intel512, "", "Core2", NULL, 1, SISA_CORE_SWITCH, SISA_CORE_BY_SISA, 1, "SkylakeX", NULL},
        /* ... but only where it may choose (a new store, --version). */
        {intel512, NULL, "Prescott", NULL, 0, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        /* OpenBLAS's pick is already of the best generation: kept. */
        {zen3, NULL, "Zen", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        {zen3, NULL, "Haswell", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        {zen3, NULL, "Prescott", NULL, 1, SISA_CORE_SWITCH, SISA_CORE_BY_SISA, 1, "Zen", NULL},
        {p4, NULL, "Prescott", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        /* A name sisa does not know is never replaced. */
        {intel512, NULL, "Bogus", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        {arm, NULL, "ARMV8", NULL, 1, SISA_CORE_KEEP, SISA_CORE_BY_OPENBLAS, 0, NULL, NULL},
        /* A store: its core, set by name (no self-check: it is the store's), or a refusal. */
        {intel512, NULL, "Cooperlake", "Haswell", 0, SISA_CORE_SWITCH, SISA_CORE_BY_STORE, 0,
         "Haswell", NULL},
        {intel512, NULL, "Haswell", "haswell", 1, SISA_CORE_KEEP, SISA_CORE_BY_STORE, 0, NULL,
         NULL},
        {intel512, NULL, "Prescott", "Prescott", 1, SISA_CORE_KEEP, SISA_CORE_BY_STORE, 0, NULL,
         NULL},
        {zen3, NULL, "Zen", "SkylakeX", 0, SISA_CORE_REFUSE, SISA_CORE_BY_STORE, 0, "SkylakeX",
         "avx512f avx512cd avx512bw avx512dq avx512vl"},
        {p4, NULL, "Prescott", "Nehalem", 0, SISA_CORE_REFUSE, SISA_CORE_BY_STORE, 0, "Nehalem",
         "ssse3 sse4.1 sse4.2"},
        {zen3, NULL, "Zen", "Piledriver", 0, SISA_CORE_REFUSE, SISA_CORE_BY_STORE, 0,
         "OPENBLAS_CORETYPE=Piledriver", "does not know"},
        {zen3, NULL, "Zen", "Bogus", 0, SISA_CORE_REFUSE, SISA_CORE_BY_STORE, 0, "Bogus", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const plan_row *w = &rows[i];
        sisa_core_plan p;
        const sisa_core_plan_in in = {&w->cpu, w->env, w->running, w->store, w->may_choose};
        sisa_blas_plan_core(&p, &in);
        if (p.action != w->action || p.origin != w->origin || p.self_check != w->self_check)
            fail_msg("row %zu: action %d origin %d check %d, expected %d %d %d", i, p.action,
                     p.origin, p.self_check, w->action, w->origin, w->self_check);
        if (w->action == SISA_CORE_SWITCH && strcmp(p.core, w->core) != 0)
            fail_msg("row %zu: switch to %s, expected %s", i, p.core, w->core);
        if (w->action == SISA_CORE_REFUSE) {
            tu_assert_contains(p.why, w->core);
            if (w->why2) tu_assert_contains(p.why, w->why2);
        }
    }
}

/* This machine's description agrees with the kernel's (/proc/cpuinfo). */
static void test_detect(void **state)
{
    (void)state;
    sisa_cpu_desc cpu;
    sisa_cpu_detect(&cpu);
#if defined(__x86_64__)
    char *info = tu_read_file("/proc/cpuinfo", NULL);
    char *flags = strstr(info, "\nflags");
    assert_non_null(flags);
    char *eol = strchr(flags + 1, '\n');
    if (eol) *eol = '\0';
    strcat(flags, " ");
    static const struct {
        unsigned bit;
        const char *name;
    } map[] = {{SISA_CPU_SSE3, " pni "},          {SISA_CPU_SSSE3, " ssse3 "},
               {SISA_CPU_SSE41, " sse4_1 "},      {SISA_CPU_SSE42, " sse4_2 "},
               {SISA_CPU_AVX, " avx "},           {SISA_CPU_AVX2, " avx2 "},
               {SISA_CPU_FMA, " fma "},           {SISA_CPU_AVX512F, " avx512f "},
               {SISA_CPU_AVX512BW, " avx512bw "}, {SISA_CPU_AVX512VL, " avx512vl "},
               {SISA_CPU_AVX512DQ, " avx512dq "}, {SISA_CPU_AVX512BF16, " avx512_bf16 "}};
    assert_int_equal(cpu.x86_64, 1);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!!(cpu.flags & map[i].bit) != !!strstr(flags, map[i].name))
            fail_msg("flag%s: sisa says %d", map[i].name, !!(cpu.flags & map[i].bit));
    free(info);
#else
    assert_int_equal(cpu.x86_64, 0);
#endif
}

/* ---- the self-check ------------------------------------------------------------------------- */

static void forward_off(float *Z, const float *A, const float *W, uint32_t n, uint32_t in,
                        uint32_t out)
{
    sisa_k_dense_forward(Z, A, W, n, in, out);
    Z[(size_t)n * out - 1] += 0.5f; /* the last element: a tail the blocking gets wrong */
}

static void weight_grad_short(float *dW, const float *A, const float *dZ, uint32_t n, uint32_t in,
                              uint32_t out)
{
    /* Drops the last row of the sum when n > 1, like a kernel that mishandles a remainder. */
    sisa_k_weight_grad(dW, A, dZ, n > 1 ? n - 1 : n, in, out);
}

static void input_grad_ulp(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                           uint32_t out)
{
    /* Off by one unit in the last place everywhere: within any summation order's error. */
    sisa_k_input_grad(dA, dZ, W, n, in, out);
    for (size_t i = 0; i < (size_t)n * in; i++) dA[i] = nextafterf(dA[i], 1e30f);
}

static void input_grad_swapped(float *dA, const float *dZ, const float *W, uint32_t n, uint32_t in,
                               uint32_t out)
{
    sisa_k_input_grad(dA, dZ, W, n, in, out);
    if (n > 1 && in > 0) { /* two rows' results exchanged */
        float t = dA[0];
        dA[0] = dA[in];
        dA[in] = t;
    }
}

static void test_self_check(void **state)
{
    (void)state;
    sisa_model_spec mlp = {0};
    mlp.type = SISA_MODEL_MLP;
    mlp.d = 37;
    mlp.classes = 5;
    mlp.n_hidden = 2;
    mlp.hidden[0] = 19;
    mlp.hidden[1] = 11;
    mlp.max_batch = 24;
    sisa_model_spec logreg = mlp;
    logreg.type = SISA_MODEL_LOGREG;
    logreg.n_hidden = 0;
    char why[600];
    /* This process's core passes at both models' shapes. */
    assert_int_equal(sisa_blas_self_check(&mlp, 40, NULL, why, sizeof why), 1);
    assert_int_equal(sisa_blas_self_check(&logreg, 40, NULL, why, sizeof why), 1);
    /* Broken products fail, naming the product and the shape. */
    sisa_blas_gemms g = {forward_off, NULL, NULL};
    assert_int_equal(sisa_blas_self_check(&mlp, 40, &g, why, sizeof why), 0);
    tu_assert_contains(why, "forward pass");
    tu_assert_contains(why, "(n=1, in=37, out=19)");
    g = (sisa_blas_gemms){NULL, weight_grad_short, NULL};
    assert_int_equal(sisa_blas_self_check(&logreg, 40, &g, why, sizeof why), 0);
    tu_assert_contains(why, "weight gradient");
    tu_assert_contains(why, "(n=2, in=37, out=5)");
    g = (sisa_blas_gemms){NULL, NULL, input_grad_swapped};
    assert_int_equal(sisa_blas_self_check(&mlp, 40, &g, why, sizeof why), 0);
    tu_assert_contains(why, "input gradient");
    tu_assert_contains(why, "(n=2, in=19, out=11)");
    /* The logistic regression computes no input gradient: not checked, so not failed. */
    assert_int_equal(sisa_blas_self_check(&logreg, 40, &g, why, sizeof why), 1);
    /* An error of one ulp is within the bound. */
    g = (sisa_blas_gemms){NULL, NULL, input_grad_ulp};
    assert_int_equal(sisa_blas_self_check(&mlp, 40, &g, why, sizeof why), 1);

    /* A cnn (2 x 4 x 8 images, convolutions of 3 and 5 channels with 2 x 2 pooling): its
     * convolution products are checked, with n h w rows, and so is the input gradient of its
     * first dense layer (from the 1 x 2 x 5 pooled output). */
    sisa_model_spec cnn = mlp;
    cnn.type = SISA_MODEL_CNN;
    cnn.in_c = 2, cnn.in_h = 4, cnn.in_w = 8, cnn.d = 64;
    cnn.n_conv = 2, cnn.conv[0] = 3, cnn.conv[1] = 5, cnn.kernel = 3, cnn.pool = 2;
    cnn.n_hidden = 1, cnn.max_batch = 8;
    assert_int_equal(sisa_blas_self_check(&cnn, 10, NULL, why, sizeof why), 1);
    g = (sisa_blas_gemms){forward_off, NULL, NULL};
    assert_int_equal(sisa_blas_self_check(&cnn, 10, &g, why, sizeof why), 0);
    tu_assert_contains(why, "(n=32, in=18, out=3)"); /* one 4 x 8 image, k k cin = 18 */
    g = (sisa_blas_gemms){NULL, NULL, input_grad_swapped};
    assert_int_equal(sisa_blas_self_check(&cnn, 10, &g, why, sizeof why), 0);
    tu_assert_contains(why, "(n=8, in=27, out=5)");        /* conv 2 on one 2 x 4 image */
    cnn.n_conv = 1, cnn.in_h = 2, cnn.in_w = 2, cnn.d = 8; /* one conv: dense input grad */
    assert_int_equal(sisa_blas_self_check(&cnn, 10, &g, why, sizeof why), 0);
    tu_assert_contains(why, "(n=2, in=3, out=19)");
}

/* ---- through the binary --------------------------------------------------------------------- */

static uint64_t row_id(uint64_t i)
{
    return 300 + 7 * i;
}

/* D, or D without the rows whose IDs are in `drop`. */
static void write_data(const char *name, const uint64_t *drop, size_t n_drop)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_core";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, tu_path(dir, name), N_FEAT, &o), 0);
    uint64_t s = 77;
    for (uint64_t i = 0; i < N_ROWS; i++) {
        float x[N_FEAT];
        int64_t y = (int64_t)(i % N_CLASS);
        uint64_t id = row_id(i);
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        int skip = 0;
        for (size_t k = 0; k < n_drop; k++) skip |= drop[k] == id;
        if (!skip) assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

/* The config of `store`, trained on `data`: its path, valid until the next call with the same
 * store name slot (one per store, kept for the whole test). */
static const char *config(const char *store, const char *data)
{
    static char paths[16][4096];
    static int used;
    char *path = paths[used++ & 15];
    char name[64];
    snprintf(name, sizeof name, "%s.yaml", store);
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: %s}\nstore: %s\nseed: 3\nsisa: {shards: 2, slices: 2}\n"
             "model: {type: mlp, hidden: [9]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n",
             data, store);
    snprintf(path, 4096, "%s/%s", dir, name);
    tu_write_text(path, text);
    return path;
}

/* The environment of one child run: OPENBLAS_CORETYPE (NULL: unset) and the shim's variables
 * (NULL: no shim). Restored by env_end. */
typedef struct {
    char *saved[5];
} env_save;
static const char *const env_names[] = {"OPENBLAS_CORETYPE", "LD_PRELOAD", "SISA_BLASSHIM_PICK",
                                        "SISA_BLASSHIM_BREAK", "ASAN_OPTIONS"};

static void env_set(const char *name, const char *v)
{
    if (v)
        setenv(name, v, 1);
    else
        unsetenv(name);
}

static void env_begin(env_save *s, const char *core, const char *pick, const char *broken)
{
    for (int i = 0; i < 5; i++) {
        const char *v = getenv(env_names[i]);
        s->saved[i] = v ? strdup(v) : NULL;
    }
    env_set("OPENBLAS_CORETYPE", core);
    if (pick) {
        setenv("LD_PRELOAD", tu_env("SISA_BLASSHIM"), 1);
        setenv("SISA_BLASSHIM_PICK", pick, 1);
        env_set("SISA_BLASSHIM_BREAK", broken);
        char opts[1024];
        const char *base = s->saved[4] ? s->saved[4] : "";
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", base, *base ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
}

static void env_end(env_save *s)
{
    for (int i = 0; i < 5; i++) {
        env_set(env_names[i], s->saved[i]);
        free(s->saved[i]);
    }
}

static tu_run *run;

/* sisa ARGS... under the given environment (see env_begin); returns the status. */
static int sisa_env(const char *core, const char *pick, const char *broken, const char *const *args)
{
    env_save s;
    env_begin(&s, core, pick, broken);
    tu_sisa_argv(run, args);
    env_end(&s);
    return run->status;
}

/* Same at `p` ranks under mpirun when the suite has it (SISA_MPIEXEC), else directly. */
static int sisa_env_ranks(int p, const char *core, const char *const *args)
{
    const char *mpi = getenv("SISA_MPIEXEC");
    env_save s;
    env_begin(&s, core, NULL, NULL);
    tu_sisa_ranks(run, mpi && *mpi ? p : 0, args);
    env_end(&s);
    return run->status;
}

#define SISA_ENV(core, pick, broken, ...)                                                          \
    sisa_env(core, pick, broken, (const char *const[]){__VA_ARGS__, NULL})

static void must(int status, const char *what)
{
    if (status != 0) fail_msg("%s failed (%d):\n%s%s", what, status, run->out, run->err);
}

static void manifest_value(const char *store, const char *key, char *out, size_t cap)
{
    char *text = tu_read_file(tu_path(tu_path(dir, store), "manifest"), NULL);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s: ", key);
    const char *p = strstr(text, pat);
    if (!p) fail_msg("%s/manifest has no %s:\n%s", store, key, text);
    p += strlen(pat);
    size_t n = strcspn(p, "\n");
    snprintf(out, cap, "%.*s", (int)n, p);
    free(text);
}

static void same_store(const char *a, const char *b)
{
    for (int k = 0; k < 2; k++)
        for (int r = 1; r <= 2; r++) {
            char pa[64], pb[64], ha[65], hb[65];
            snprintf(pa, sizeof pa, "%s/shards/%04d/ckpt-%03d.h5", a, k, r);
            snprintf(pb, sizeof pb, "%s/shards/%04d/ckpt-%03d.h5", b, k, r);
            tu_sha_file(tu_path(dir, pa), ha);
            tu_sha_file(tu_path(dir, pb), hb);
            if (strcmp(ha, hb) != 0) fail_msg("%s and %s differ", pa, pb);
        }
}

/* The core `sisa --version` reports under the given environment. */
static void version_core(const char *pick, char *core, size_t cap, char *origin, size_t ocap)
{
    must(SISA_ENV(NULL, pick, NULL, "--version"), "sisa --version");
    const char *p = strstr(run->out, "(core ");
    assert_non_null(p);
    p += 6;
    size_t n = strcspn(p, ",");
    snprintf(core, cap, "%.*s", (int)n, p);
    const char *o = p + n + 2;
    snprintf(origin, ocap, "%.*s", (int)strcspn(o, "\n"), o);
}

/* The text of /proc/PID/FILE (at most cap - 1 bytes), or "" (the process may be gone). */
static void proc_text(pid_t pid, const char *file, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
    out[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
}

/* `sisa unlearn` with OPENBLAS_CORETYPE unset on a store recorded under another core re-executes
 * itself from /proc/self/exe; the new image must still be called "sisa" (ps, pgrep, tools that
 * find a job's ranks by name), not "exe". The IDs come through a FIFO, so the process waits,
 * past the re-execution, until this test opens it: then its name is read. */
static void reexec_keeps_name(const char *cfg, uint64_t id)
{
    const char *fifo = tu_path(dir, "ids.fifo");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    env_save s;
    env_begin(&s, NULL, NULL, NULL);
    const char *bin = tu_env("SISA_BIN");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
        execl(bin, bin, "unlearn", "-c", cfg, "--ids-file", fifo, (char *)NULL);
        _exit(127);
    }
    env_end(&s);
    int fd = -1, status = 0;
    for (int i = 0; i < 12000 && fd < 0; i++) { /* up to 120 s */
        fd = open(fifo, O_WRONLY | O_NONBLOCK);
        if (fd >= 0) break;
        assert_int_equal(errno, ENXIO); /* no reader yet */
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("sisa unlearn --ids-file FIFO ended (status %d) before reading the FIFO",
                     status);
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    if (fd < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("sisa unlearn did not open its --ids-file FIFO within 120 s");
    }
    char comm[64], env[65536];
    proc_text(pid, "comm", comm, sizeof comm);
    proc_text(pid, "environ", env, sizeof env);
    /* environ is NUL-separated: look for the guard the first image set. */
    int switched = 0;
    for (size_t i = 0; i < sizeof env && env[i]; i += strlen(env + i) + 1)
        switched |= !strncmp(env + i, "SISA_OPENBLAS_SWITCH=store:", 27);
    assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
    char line[32];
    int len = snprintf(line, sizeof line, "%llu\n", (unsigned long long)id);
    assert_int_equal(write(fd, line, (size_t)len), len);
    close(fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(fifo);
    print_message("re-executed image (guard seen: %d) is named '%.*s'\n", switched,
                  (int)strcspn(comm, "\n"), comm);
    assert_true(switched);
    assert_string_equal(comm, "sisa\n");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A store trained under an explicit core X, continued with OPENBLAS_CORETYPE unset. */
static void test_store_core_followed(void **state)
{
    (void)state;
    char unset_core[64], origin[256];
    version_core(NULL, unset_core, sizeof unset_core, origin, sizeof origin);
    /* X: a core this CPU runs that the unset environment does not give, of another generation
     * if there is one (so that its bits differ too). */
    sisa_cpu_desc cpu;
    sisa_cpu_detect(&cpu);
    const char *c[16], *x = NULL;
    int n = sisa_blas_core_candidates(c, 16, &cpu);
    for (int k = 0; k < n && !x; k++)
        if (sisa_blas_core_tier(c[k]) != sisa_blas_core_tier(unset_core)) x = c[k];
    for (int k = 0; k < n && !x; k++)
        if (strcasecmp(c[k], unset_core) != 0) x = c[k];
    if (!x) {
        print_message("skipped: this CPU runs no OpenBLAS core but %s\n", unset_core);
        skip();
    }
    print_message("store core %s, OPENBLAS_CORETYPE unset gives %s\n", x, unset_core);

    const uint64_t drop[] = {row_id(4), row_id(77)};
    char ids[64];
    snprintf(ids, sizeof ids, "%llu,%llu", (unsigned long long)drop[0],
             (unsigned long long)drop[1]);
    write_data("D.h5", NULL, 0);
    write_data("DX.h5", drop, 2);
    const char *cfg = config("s1", "D.h5");
    must(SISA_ENV(x, NULL, NULL, "train", "-c", cfg), "train under X");
    char v[64];
    manifest_value("s1", "openblas_core", v, sizeof v);
    assert_string_equal(v, x);
    manifest_value("s1", "openblas_core_origin", v, sizeof v);
    assert_string_equal(v, "OPENBLAS_CORETYPE");

    /* Unset: sisa runs under the store's core. */
    must(SISA_ENV(NULL, NULL, NULL, "status", "-c", cfg), "status unset");
    char expect[128];
    snprintf(expect, sizeof expect, "OpenBLAS core %s (the store's core", x);
    tu_assert_contains(run->out, expect);
    /* At 2 ranks: each rank re-executes itself before MPI_Init. */
    must(sisa_env_ranks(2, NULL, (const char *const[]){"unlearn", "-c", cfg, "--ids", ids, NULL}),
         "unlearn unset, 2 ranks");
    must(SISA_ENV(NULL, NULL, NULL, "verify", "-c", cfg), "verify unset");
    /* Bit for bit the store trained on D \ X under X. */
    must(SISA_ENV(x, NULL, NULL, "train", "-c", config("s2", "DX.h5")), "train D\\X under X");
    same_store("s1", "s2");
    /* predict follows the store: the same bytes as under X explicitly. */
    char data[4200], pu[4200], px[4200];
    snprintf(data, sizeof data, "%s/D.h5", dir);
    snprintf(pu, sizeof pu, "%s/p-unset.h5", dir);
    snprintf(px, sizeof px, "%s/p-x.h5", dir);
    must(SISA_ENV(NULL, NULL, NULL, "predict", "-c", cfg, "-i", data, "-o", pu, "--force"),
         "predict unset");
    must(SISA_ENV(x, NULL, NULL, "predict", "-c", cfg, "-i", data, "-o", px, "--force"),
         "predict under X");
    char ha[65], hb[65];
    tu_sha_file(pu, ha);
    tu_sha_file(px, hb);
    assert_string_equal(ha, hb);
    /* An explicit other core still wins, and is refused as another context. */
    const char *other = strcasecmp(x, "Prescott") ? "Prescott" : "Core2";
    assert_int_equal(SISA_ENV(other, NULL, NULL, "unlearn", "-c", cfg, "--ids", "300"), 2);
    tu_assert_contains(run->err, "another determinism context");
    reexec_keeps_name(cfg, row_id(5));
}

/* OpenBLAS reports a generic core: sisa chooses, checks, records. */
static void test_auto_choice(void **state)
{
    (void)state;
    /* Expected from the rules: the CPU's first candidate, when it is of a later generation. */
    sisa_cpu_desc cpu;
    sisa_cpu_detect(&cpu);
    const char *cand[16];
    int n = sisa_blas_core_candidates(cand, 16, &cpu);
    if (n == 0 || sisa_blas_core_tier(cand[0]) <= sisa_blas_core_tier("Prescott")) {
        print_message("skipped: this CPU runs no core better than Prescott\n");
        skip();
    }
    const char *chosen = cand[0];
    char core[64], origin[256];
    version_core("Prescott", core, sizeof core, origin, sizeof origin);
    assert_string_equal(core, chosen);
    tu_assert_contains(origin, "chosen by sisa after its self-check (OpenBLAS picked Prescott)");
    write_data("D.h5", NULL, 0);
    const char *cfg = config("a1", "D.h5");
    must(SISA_ENV(NULL, "Prescott", NULL, "train", "-c", cfg), "train, generic pick");
    tu_assert_contains(run->err, "passed sisa's self-check");
    char v[64];
    manifest_value("a1", "openblas_core", v, sizeof v);
    assert_string_equal(v, chosen);
    manifest_value("a1", "openblas_core_origin", v, sizeof v);
    assert_string_equal(v, "sisa");
    /* The same bits as an explicit run under the chosen core. */
    must(SISA_ENV(chosen, NULL, NULL, "train", "-c", config("a2", "D.h5")), "train explicit");
    same_store("a1", "a2");
    /* Later commands with the generic pick still run under the store's core. */
    must(SISA_ENV(NULL, "Prescott", NULL, "unlearn", "-c", cfg, "--ids", "307"),
         "unlearn, generic pick");
    must(SISA_ENV(NULL, "Prescott", NULL, "status", "-c", cfg), "status");
    char expect[128];
    snprintf(expect, sizeof expect, "OpenBLAS core %s (the store's core; chosen by sisa", chosen);
    tu_assert_contains(run->out, expect);

    /* A kernel that computes wrong results fails the check: OpenBLAS's pick stays. */
    const char *cfg3 = config("a3", "D.h5");
    must(SISA_ENV(NULL, "Prescott", chosen, "train", "-c", cfg3), "train, broken candidate");
    char msg[256];
    snprintf(msg, sizeof msg,
             "OpenBLAS core %s failed sisa's self-check, so sisa keeps OpenBLAS's own choice, "
             "Prescott: sgemm for the forward pass",
             chosen);
    tu_assert_contains(run->err, msg);
    manifest_value("a3", "openblas_core", v, sizeof v);
    assert_string_equal(v, "Prescott");
    manifest_value("a3", "openblas_core_origin", v, sizeof v);
    assert_string_equal(v, "openblas-after-failed-check");
    must(SISA_ENV("Prescott", NULL, NULL, "train", "-c", config("a4", "D.h5")), "Prescott");
    same_store("a3", "a4");
}

/* A store whose core sisa cannot vouch for on this CPU is refused, naming the core. */
static void test_refused(void **state)
{
    (void)state;
    /* Nano (VIA): sisa does not know what its kernels need, so it never sets it by itself. */
    write_data("D.h5", NULL, 0);
    const char *cfg = config("n1", "D.h5");
    if (SISA_ENV("Nano", NULL, NULL, "train", "-c", cfg) != 0) {
        print_message("skipped: OpenBLAS's Nano kernel does not run here (%d)\n", run->status);
        skip();
    }
    char before[65], after[65];
    tu_sha_file(tu_path(tu_path(dir, "n1"), "manifest"), before);
    assert_int_equal(SISA_ENV(NULL, NULL, NULL, "unlearn", "-c", cfg, "--ids", "300"), 2);
    tu_assert_contains(run->err, "OpenBLAS core Nano");
    tu_assert_contains(run->err, "set OPENBLAS_CORETYPE=Nano");
    tu_sha_file(tu_path(tu_path(dir, "n1"), "manifest"), after);
    assert_string_equal(before, after);
    /* With the core set explicitly, as the message says, it runs. */
    must(SISA_ENV("Nano", NULL, NULL, "unlearn", "-c", cfg, "--ids", "300"), "unlearn Nano");
    /* status computes nothing with OpenBLAS: it warns and goes on. */
    must(SISA_ENV(NULL, NULL, NULL, "status", "-c", cfg), "status");
    tu_assert_contains(run->err, "OpenBLAS core Nano");
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("core"));
    run = malloc(sizeof *run);
    return run ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(run);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_self_check),
        cmocka_unit_test(test_store_core_followed),
        cmocka_unit_test(test_auto_choice),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
