/*
 * main.c - `sisa COMMAND [options]`: global options, dispatch, signals, exit statuses.
 *
 * The only place that exits. Every command returns a sisa error code; this file prints the
 * recorded message ("sisa: error: FILE: problem") and maps the code through sisa_exit_code():
 * 0 success, 1 runtime failure, 2 usage or configuration error, 3 request rejected,
 * 130 interrupted (docs/exit-codes.md).
 */
#define _GNU_SOURCE /* fopencookie */
#include "commands.h"
#include "docgen.h"

#include "sisa/gauge.h"
#include "sisa/sisa.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    int (*run)(sisa_job *job, int argc, char **argv);
    const char *summary;
    int mpi; /* runs as a job of MPI ranks under mpirun/srun */
} command;

static const command commands[] = {
    {"import", sisa_cmd_import, "turn IDX, CSV, libsvm or HDF5 data into a sisa dataset file", 0},
    {"info", sisa_cmd_info, "describe and validate a sisa dataset file", 0},
    {"train", sisa_cmd_train, "partition the data into shards and train them stage by stage", 1},
    {"unlearn", sisa_cmd_unlearn, "delete training samples exactly, retraining only what saw them",
     1},
    {"predict", sisa_cmd_predict, "predict with the ensemble of shard models", 1},
    {"eval", sisa_cmd_eval, "accuracy of the ensemble and of each shard on a labelled set", 1},
    {"verify", sisa_cmd_verify,
     "prove the touched shards equal training from scratch; write a deletion certificate", 1},
    {"log", sisa_cmd_log, "the deletion history; was a sample or data subject deleted?", 1},
    {"status", sisa_cmd_status, "shards, stages, checkpoints and determinism context of a store",
     1},
    {"audit", sisa_cmd_audit, "check the ledger and that no byte of a deleted row is in the store",
     1},
    {"repair", sisa_cmd_repair, "rebuild what a damaged store can rebuild; say what to restore", 0},
    {"outliers", sisa_cmd_outliers,
     "flag outlying training rows (Isolation Forest, LOF) for an exact deletion", 1},
    {"impact", sisa_cmd_impact,
     "before a deletion: which predictions depend on the rows and which would change", 1},
    {"gauge", sisa_cmd_gauge,
     "measure forgetting: unlearned against retrained models, by membership inference", 1},
    {"plan-tiers", sisa_cmd_plan_tiers,
     "suggest shards per risk tier from expected deletion request rates", 0},
    {"config", sisa_cmd_config, "check a config file, show it resolved, or list every key", 0},
    {"version", sisa_cmd_version, "print the versions of sisa and its libraries", 0},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sisa [-v|-q] COMMAND [options]\n"
            "       sisa --help | --version\n\n"
            "sisa trains models with SISA (sharded, isolated, sliced, aggregated) training so\n"
            "that deleting training data is exact: the unlearned model is bit for bit the\n"
            "model trained without that data.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(
        out,
        "\nglobal options:\n"
        "  -v, --verbose   more detail on stderr (repeat for debug output)\n"
        "  -q, --quiet     errors only on stderr\n"
        "  -h, --help      show this help\n"
        "      --version   show versions of sisa, Open MPI, HDF5, OpenBLAS, libyaml\n\n"
        "Run 'sisa help COMMAND' (or 'sisa COMMAND --help') for a command's options; 'sisa help\n"
        "--bash-completion' and 'sisa help --man DIR' write completion and man pages.\n\n"
        "exit status: 0 success, 1 runtime failure (I/O, corrupt input, MPI),\n"
        "2 usage or configuration error, 3 request rejected (nothing changed),\n"
        "75 temporary: stopped on SIGUSR1/SIGTERM at a stage boundary, or the store\n"
        "is busy with another writer (run it again to resume or retry),\n"
        "130 interrupted (partial output removed). See docs/exit-codes.md.\n");
}

static void on_interrupt(int signo)
{
    sisa_interrupt(signo);
}

/* A repeat of a stop signal this soon after the first is the same request delivered twice:
 * Slurm sends TERM to a job's tasks twice at a time limit, from the step and from the job,
 * milliseconds apart. */
#define STOP_REPEAT_NS 2000000000LL

static struct timespec stop_at[2]; /* when the first SIGTERM [0] / SIGUSR1 [1] came */
static volatile sig_atomic_t stop_seen[2];

static void on_stop(int signo)
{
    int k = signo == SIGUSR1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!stop_seen[k]) {
        stop_seen[k] = 1;
        stop_at[k] = now;
        sisa_request_stop(signo);
        return;
    }
    long long ns = (long long)(now.tv_sec - stop_at[k].tv_sec) * 1000000000LL +
                   (now.tv_nsec - stop_at[k].tv_nsec);
    if (ns < STOP_REPEAT_NS) return;
    /* The user insists: the default action, once this handler returns. */
    signal(signo, SIG_DFL);
    raise(signo);
}

/* SIGINT (Ctrl-C) interrupts at once; SIGUSR1 and SIGTERM, which schedulers send before a time
 * limit or a pre-emption, stop at the next stage boundary after committing it. A second signal
 * of the same kind gets the default action, so the user can always kill a stuck run, unless it
 * comes within 2 s of the first (then it is the scheduler's duplicate, see on_stop). */
static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    /* The stop handler stays installed and decides itself; the two stop signals block each
     * other while it runs. */
    sa.sa_flags = 0;
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* The command was given --json: an error is also printed as JSON on stdout (docs/json.md),
 * unless the command printed its own JSON report first (sisa audit or verify with a failing
 * verdict): stdout then counts what passes through it. */
static int json_errors;
static unsigned long long stdout_bytes;

static ssize_t counted_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(STDOUT_FILENO, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return done ? (ssize_t)done : -1;
        done += (size_t)w;
    }
    stdout_bytes += n;
    return (ssize_t)n;
}

static void count_stdout(void)
{
    cookie_io_functions_t io = {.write = counted_write};
    FILE *f = fopencookie(NULL, "w", io);
    if (!f) return; /* then an error may follow a report: still one line each */
    if (isatty(STDOUT_FILENO)) setvbuf(f, NULL, _IOLBF, 0);
    stdout = f;
}

/* The error's symbol, as in sisa/error.h: stable for programs that read --json. */
static const char *error_symbol(int err)
{
    static const char *const names[] = {"SISA_OK",        "SISA_EIO",      "SISA_ECORRUPT",
                                        "SISA_ENOMEM",    "SISA_EUSAGE",   "SISA_ECONFIG",
                                        "SISA_EREJECT",   "SISA_EEXIST",   "SISA_EINTR",
                                        "SISA_EINTERNAL", "SISA_ESTOPPED", "SISA_EBUSY"};
    return err <= 0 && -err < (int)(sizeof names / sizeof *names) ? names[-err] : "SISA_EUNKNOWN";
}

static int report(int err, int quiet)
{
    if (err >= 0) return SISA_EXIT_OK;
    if (quiet) return sisa_exit_code(err);
    fflush(stdout);
    if (json_errors && stdout_bytes == 0) {
        printf("{\"error\": {\"code\": \"%s\", \"name\": \"%s\", \"exit\": %d, \"message\": ",
               error_symbol(err), sisa_error_name(err), sisa_exit_code(err));
        sisa_json_print_string(stdout,
                               *sisa_error_message() ? sisa_error_message() : "interrupted");
        printf("}}\n");
        fflush(stdout);
    }
    if (err == SISA_EINTR && !*sisa_error_message())
        fprintf(stderr, "sisa: interrupted\n");
    else if (err == SISA_ESTOPPED)
        fprintf(stderr, "sisa: %s\n", sisa_error_message());
    else
        fprintf(stderr, "sisa: error: %s\n", sisa_error_message());
    const char *dbg = getenv("SISA_DEBUG");
    if (sisa_get_log_level() >= SISA_LOG_LEVEL_DEBUG || (dbg && *dbg && strcmp(dbg, "0") != 0))
        fprintf(stderr, "sisa: (%s, raised at %s)\n", sisa_error_name(err), sisa_error_origin());
    return sisa_exit_code(err);
}

/* Keep freed memory for reuse. glibc serves blocks of 128 KiB and more with fresh mmaps by
 * default and returns them when freed, so that every hash buffer, checkpoint image and batch
 * buffer is faulted in again, page by page; a page fault costs 0.1-10 us (the most on
 * paravirtualised machines: docs/benchmarks.md), which made up about a tenth of a one-sample
 * deletion. The command is one short-lived process: blocks under 32 MiB (glibc's limit for
 * this setting) come from the heap and stay there until exit. Set here, not in libsisa: the
 * heap policy of a program that embeds the library is that program's choice. */
static void tune_heap(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

int main(int argc, char **argv)
{
    tune_heap();
    int level = SISA_LOG_LEVEL_INFO;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return SISA_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            sisa_set_log_level(level);
            int err = sisa_openblas_setup("version", argv, 0, NULL);
            if (err < 0) return report(err, 0);
            sisa_library_versions(stdout);
            return SISA_EXIT_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            level++;
        } else if (!strcmp(a, "-vv")) {
            level += 2;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            level = SISA_LOG_LEVEL_QUIET;
        } else {
            fprintf(stderr, "sisa: error: unknown global option '%s' (see 'sisa --help')\n", a);
            return SISA_EXIT_USAGE;
        }
    }
    sisa_set_log_level(level);
    if (i >= argc) {
        usage(stderr);
        return SISA_EXIT_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help")) {
        /* sisa help CMD = sisa CMD --help */
        if (i + 1 >= argc) {
            usage(stdout);
            return SISA_EXIT_OK;
        }
        if (!strcmp(argv[i + 1], "--bash-completion") || !strcmp(argv[i + 1], "--man")) {
            /* generated from the commands' option tables (docgen.c) */
            static const char *const import_subs[] = {"idx", "csv", "libsvm", "h5", NULL};
            static const char *const config_subs[] = {"check", "show", "reference", NULL};
            static const char *const gauge_subs[] = {"plan", "member", "score", NULL};
            sisa_docgen_cmd dc[N_COMMANDS];
            for (size_t c = 0; c < N_COMMANDS; c++) {
                const char *n = commands[c].name;
                dc[c] = (sisa_docgen_cmd){n, commands[c].run, commands[c].summary,
                                          !strcmp(n, "import")   ? import_subs
                                          : !strcmp(n, "config") ? config_subs
                                          : !strcmp(n, "gauge")  ? gauge_subs
                                                                 : NULL};
            }
            if (argv[i + 1][2] == 'b') return report(sisa_docgen_bash(stdout, dc, N_COMMANDS), 0);
            if (i + 2 >= argc) {
                fprintf(stderr, "sisa: error: usage: sisa help --man DIR\n");
                return SISA_EXIT_USAGE;
            }
            return report(sisa_docgen_man(argv[i + 2], dc, N_COMMANDS), 0);
        }
        for (size_t c = 0; c < N_COMMANDS; c++)
            if (!strcmp(argv[i + 1], commands[c].name)) {
                char *help[] = {"--help", NULL};
                return report(commands[c].run(NULL, 1, help), 0);
            }
        name = argv[i + 1];
    }
    for (int a = i + 1; a < argc && strcmp(argv[a], "--"); a++)
        json_errors |= !strcmp(argv[a], "--json");
    if (json_errors) count_stdout();
    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (strcmp(name, commands[c].name) != 0) continue;
        /* Before MPI is initialised and before anything computes: this may re-execute the
         * process under another OpenBLAS core (sisa_openblas_setup). */
        /* gauge members train new stores from their plan's config: under the core `sisa
         * train` would choose for it (a folder without a plan is reported by the command) */
        char gauge_cfg[4096];
        char *gauge_args[3] = {"-c", gauge_cfg, NULL};
        int gauge_member = !strcmp(name, "gauge") && i + 2 < argc &&
                           !strcmp(argv[i + 1], "member") &&
                           sisa_gauge_plan_config(argv[i + 2], gauge_cfg, sizeof gauge_cfg) == 0;
        sisa_error_clear();
        int core_err = gauge_member ? sisa_openblas_setup("train", argv, 2, gauge_args)
                                    : sisa_openblas_setup(name, argv, argc - i - 1, argv + i + 1);
        if (core_err < 0) return report(core_err, !sisa_launcher_first_rank());
        install_signal_handlers();
        if (!commands[c].mpi) return report(commands[c].run(NULL, argc - i - 1, argv + i + 1), 0);
        /* A job of ranks: every rank runs the command; they agree on the outcome, rank 0
         * reports it, and every rank exits with the same status. */
        sisa_job *job = NULL;
        int err = sisa_job_join(&job, &argc, &argv);
        if (err >= 0) {
            if (sisa_job_size(job) > 1) {
                char prefix[32];
                snprintf(prefix, sizeof prefix, "rank %d: ", sisa_job_rank(job));
                sisa_set_log_prefix(prefix);
            }
            err = commands[c].run(job, argc - i - 1, argv + i + 1);
            err = sisa_job_agree(job, err);
        }
        int code = report(err, sisa_job_rank(job) != 0);
        sisa_job_free(job, code);
        return code;
    }
    /* "did you mean": the nearest commands within two edits, or those it starts (all of the
     * nearest, so that "ver" names both verify and version) */
    unsigned dist[N_COMMANDS], best_d = 3;
    for (size_t c = 0; c < N_COMMANDS; c++) {
        dist[c] = sisa_text_distance(name, commands[c].name);
        if (strlen(name) >= 2 && !strncmp(commands[c].name, name, strlen(name))) dist[c] = 1;
        if (dist[c] < best_d) best_d = dist[c];
    }
    if (best_d < 3) {
        fprintf(stderr, "sisa: error: unknown command '%s' (did you mean", name);
        int shown = 0;
        for (size_t c = 0; c < N_COMMANDS; c++)
            if (dist[c] == best_d)
                fprintf(stderr, "%s '%s'", shown++ ? " or" : "", commands[c].name);
        fprintf(stderr, "?)\n");
    } else {
        fprintf(stderr, "sisa: error: unknown command '%s' (see 'sisa --help')\n", name);
    }
    return SISA_EXIT_USAGE;
}
