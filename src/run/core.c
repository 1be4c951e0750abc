/*
 * core.c - choose the OpenBLAS core a command runs under (core.h).
 *
 * OpenBLAS reads OPENBLAS_CORETYPE once, in its library constructor, before main runs: the only
 * way to run under another core is a fresh process image. So main calls this first, before
 * MPI_Init and before any BLAS call, and when the core must change it sets OPENBLAS_CORETYPE
 * and SISA_OPENBLAS_SWITCH and execs /proc/self/exe with the same arguments. exec keeps the PID,
 * the open files and the environment, so under mpirun or srun each rank does it by itself and
 * the launcher never notices. The guard variable says which step the new image is at, so a
 * process re-executes at most twice (to sisa's candidate, and back to OpenBLAS's own choice if
 * the candidate fails its self-check), never in a loop:
 *
 *   SISA_OPENBLAS_SWITCH=store:CORE        the store's core; check OpenBLAS loaded it
 *   SISA_OPENBLAS_SWITCH=check:CORE:PICK   sisa's candidate for a new store; self-check it,
 *                                          else go back to PICK, OpenBLAS's own choice
 *   SISA_OPENBLAS_SWITCH=fallback:PICK:CORE  PICK pinned after CORE failed its check
 *
 * The guard counts only while OPENBLAS_CORETYPE still holds the core it names; anything else
 * is the user's setting, which always wins (docs/design.md, "The OpenBLAS core").
 */
#include "run/core.h"

#include "base/log.h"
#include "base/mem.h"
#include "io/dsstream.h"
#include "model/blas.h"
#include "model/model.h"
#include "shard/predict.h"
#include "shard/store.h"
#include "sisa/config.h"
#include "sisa/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int sisa_run_core_first_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strcmp(v, "0") == 0;
    }
    return 1;
}

/* What the command is and where its store is. */
typedef struct {
    int uses_store;  /* works on a store named by its config */
    int may_choose;  /* may pick a faster core: train (for a new store) and version */
    int lenient;     /* status, audit: compute nothing with OpenBLAS, so they never refuse */
    int have_shapes; /* ms holds the model's shapes (may_choose) */
    sisa_model_spec ms;
    int store_state; /* 1 a manifest names a core, 0 no manifest, < 0 unreadable */
    char store_core[64];
    char store[SISA_CONFIG_PATH_MAX];
} command_info;

static const char *config_arg(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) return argv[i + 1];
        if (!strncmp(a, "--config=", 9)) return a + 9;
        if (!strncmp(a, "-c", 2) && a[2]) return a + 2; /* -cFILE */
    }
    return NULL;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    }
    return 0;
}

/* The command's config and store, read only as far as the choice needs. Errors are left for
 * the command itself to report: they only make sisa keep the core it has. Memory is not: a
 * choice skipped for want of it would run the command under another core than an undisturbed
 * run (SISA_ENOMEM). */
static int describe_command(command_info *ci, const char *name, int argc, char **argv)
{
    static const char *const store_cmds[] = {"train",  "unlearn", "predict", "eval",     "verify",
                                             "status", "audit",   "repair",  "outliers", "impact"};
    int err = SISA_OK;
    sisa_config *cfg = NULL;
    memset(ci, 0, sizeof *ci);
    if (!strcmp(name, "version")) {
        /* No run to look at: the default model on Fashion-MNIST's shape (784 features, 10
         * classes). */
        cfg = sisa_malloc(sizeof *cfg);
        SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
        sisa_config_defaults(cfg);
        sisa_optim_spec os;
        sisa_model_specs_from_config(&ci->ms, &os, cfg, 784, 10, (uint32_t)cfg->train.batch_size);
        ci->may_choose = ci->have_shapes = 1;
        goto done;
    }
    for (size_t i = 0; i < sizeof store_cmds / sizeof store_cmds[0]; i++)
        ci->uses_store |= !strcmp(name, store_cmds[i]);
    if (!ci->uses_store) return SISA_OK;
    ci->lenient = !strcmp(name, "status") || !strcmp(name, "audit");
    const char *path = config_arg(argc, argv);
    if (!path) {
        ci->uses_store = 0;
        return SISA_OK;
    }
    cfg = sisa_malloc(sizeof *cfg);
    SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
    err = sisa_config_load(cfg, path);
    if (err < 0) {
        ci->uses_store = 0;
        if (err != SISA_ENOMEM) err = SISA_OK;
        goto done;
    }
    snprintf(ci->store, sizeof ci->store, "%s", cfg->store);
    ci->store_state = sisa_store_recorded_core(cfg->store, ci->store_core, sizeof ci->store_core);
    SISA_TRY(ci->store_state == SISA_ENOMEM ? SISA_ENOMEM : SISA_OK);
    sisa_dataset_header hdr;
    if (!strcmp(name, "train") && ci->store_state == 0) {
        const int rc = sisa_dataset_read_header(cfg->data.train, &hdr);
        SISA_TRY(rc == SISA_ENOMEM ? rc : SISA_OK);
        if (rc == SISA_OK && hdr.d <= UINT32_MAX && hdr.num_classes >= 2) {
            sisa_optim_spec os;
            sisa_model_specs_from_config(&ci->ms, &os, cfg, (uint32_t)hdr.d,
                                         (uint32_t)hdr.num_classes,
                                         (uint32_t)cfg->train.batch_size);
            ci->may_choose = ci->have_shapes = 1;
        }
    }
done:
    sisa_free(cfg);
    return err;
}

/* A process image started from /proc/self/exe is named "exe" (the kernel takes the name from
 * the path executed): ps, top, pgrep sisa, and tools that find a job's ranks by name would no
 * longer see sisa. The re-executed image takes back the name its first image had, the base name
 * of the program as started (argv[0]). */
static void restore_name(const char *arg0)
{
#ifdef __linux__
    if (!arg0 || !*arg0) return;
    const char *base = strrchr(arg0, '/');
    base = base ? base + 1 : arg0;
    if (*base) prctl(PR_SET_NAME, (unsigned long)base, 0UL, 0UL, 0UL); /* a best effort */
#else
    (void)arg0;
#endif
}

/* sisa runs OpenBLAS on one thread (sisa_blas_single_thread), but an OpenBLAS loaded without
 * OPENBLAS_NUM_THREADS starts a pool of one thread per core, which busy-waits (sched_yield) for
 * about 0.1 s before it sleeps: CPU taken from the other ranks of a node. The new image gets
 * OPENBLAS_NUM_THREADS=1 when it is unset; a value the user set is left alone. */
static int reexec(char **argv, const char *core, const char *guard)
{
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0 || setenv(SISA_CORE_GUARD, guard, 1) != 0 ||
        setenv("OPENBLAS_NUM_THREADS", "1", 0) != 0)
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    fflush(NULL);
    execv("/proc/self/exe", argv);
    return SISA_ERR(SISA_EIO, "cannot re-execute /proc/self/exe to run under OpenBLAS core %s: %s",
                    core, strerror(errno));
}

/* The candidate's process: keep it if it passes the self-check, else go back to OpenBLAS's own
 * pick. */
static int check_candidate(char **argv, const command_info *ci, const char *core, const char *pick,
                           const char *running)
{
    char why[600], guard[160];
    int ok = 0;
    if (strcasecmp(running, core) != 0)
        snprintf(why, sizeof why, "OpenBLAS runs %s when asked for %s", running, core);
    else if (!ci->have_shapes)
        snprintf(why, sizeof why, "the run's model shapes could not be read");
    else {
        int rc = sisa_blas_self_check(&ci->ms, SISA_PREDICT_BLOCK, NULL, why, sizeof why);
        if (rc < 0) return rc;
        ok = rc == 1;
    }
    if (ok) {
        char note[96];
        snprintf(note, sizeof note, "OpenBLAS picked %s", pick);
        sisa_blas_set_origin(SISA_CORE_BY_SISA, note);
        if (sisa_run_core_first_rank())
            sisa_info("OpenBLAS picked its generic %s kernel for this CPU; running the faster %s "
                      "instead, which passed sisa's self-check",
                      pick, core);
        return SISA_OK;
    }
    if (sisa_run_core_first_rank())
        sisa_warn("OpenBLAS core %s failed sisa's self-check, so sisa keeps OpenBLAS's own "
                  "choice, %s: %s",
                  core, pick, why);
    snprintf(guard, sizeof guard, "fallback:%s:%s", pick, core);
    return reexec(argv, pick, guard);
}

int sisa_run_core_setup(const char *name, char **argv, int cargc, char **cargv)
{
    if (wants_help(cargc, cargv)) return SISA_OK;
    sisa_blas_info blas;
    sisa_blas_describe(&blas);
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *guard_env = getenv(SISA_CORE_GUARD);
    char guard[256] = "";
    if (guard_env) {
        snprintf(guard, sizeof guard, "%s", guard_env);
        unsetenv(SISA_CORE_GUARD);
        restore_name(argv[0]);
    }
    /* step:CORE[:OTHER] */
    char *step = guard, *core = NULL, *other = NULL;
    if (guard[0] && (core = strchr(guard, ':'))) {
        *core++ = '\0';
        if ((other = strchr(core, ':'))) *other++ = '\0';
    }
    const int switched = core && env && strcasecmp(env, core) == 0;
    if (switched && !strcmp(step, "fallback")) {
        char note[128];
        snprintf(note, sizeof note, "sisa's %s failed its self-check", other ? other : "choice");
        sisa_blas_set_origin(SISA_CORE_BY_FALLBACK, note);
        return SISA_OK;
    }
    command_info ci;
    const int described = describe_command(&ci, name, cargc, cargv);
    if (described < 0) return described;
    if (switched && !strcmp(step, "check") && other)
        return check_candidate(argv, &ci, core, other, blas.core);
    if (switched && !strcmp(step, "store")) {
        if (strcasecmp(blas.core, core) == 0) {
            sisa_blas_set_origin(SISA_CORE_BY_STORE, NULL);
            return SISA_OK;
        }
        if (ci.lenient) {
            sisa_blas_set_origin(SISA_CORE_BY_OPENBLAS, NULL);
            return SISA_OK;
        }
        return SISA_ERR(SISA_EUSAGE,
                        "store %s was trained under OpenBLAS core %s, but this OpenBLAS "
                        "(%s) runs %s when asked for it: it has no %s kernel, and the "
                        "store's results are reproducible only under that core",
                        ci.store, core, blas.version, blas.core, core);
    }
    if (!ci.uses_store && !ci.may_choose) return SISA_OK;

    sisa_cpu_desc cpu;
    sisa_cpu_detect(&cpu);
    sisa_core_plan plan;
    const sisa_core_plan_in in = {
        .cpu = &cpu,
        .env = env,
        .running = blas.core,
        .store_core = ci.store_state == 1 ? ci.store_core : NULL,
        .may_choose = ci.may_choose,
    };
    sisa_blas_plan_core(&plan, &in);
    char next[256];
    switch (plan.action) {
    case SISA_CORE_KEEP:
        sisa_blas_set_origin(plan.origin, NULL);
        return SISA_OK;
    case SISA_CORE_SWITCH:
        if (plan.self_check)
            snprintf(next, sizeof next, "check:%s:%s", plan.core, blas.core);
        else
            snprintf(next, sizeof next, "store:%s", plan.core);
        sisa_debug("re-executing under OpenBLAS core %s (%s)", plan.core, next);
        return reexec(argv, plan.core, next);
    case SISA_CORE_REFUSE:
        if (ci.lenient) {
            if (sisa_run_core_first_rank())
                sisa_warn("store %s: %s; this command computes nothing with OpenBLAS and goes on",
                          ci.store, plan.why);
            sisa_blas_set_origin(SISA_CORE_BY_OPENBLAS, NULL);
            return SISA_OK;
        }
        return SISA_ERR(SISA_EUSAGE, "store %s: %s", ci.store, plan.why);
    }
    return SISA_OK;
}
