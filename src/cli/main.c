/*
 * main.c - `sisa COMMAND [options]`: global options, dispatch, signals, exit statuses.
 *
 * The only place that exits. Every command returns a sisa error code; this file prints the
 * recorded message ("sisa: error: FILE: problem") and maps the code through sisa_exit_code():
 * 0 success, 1 runtime failure, 2 usage or configuration error, 3 request rejected,
 * 130 interrupted (docs/exit-codes.md).
 */
#include "cli/commands.h"

#include "base/log.h"
#include "sisa/error.h"
#include "sisa/version.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"import", sisa_cmd_import, "turn IDX, CSV, libsvm or HDF5 data into a sisa dataset file"},
    {"info", sisa_cmd_info, "describe and validate a sisa dataset file"},
    {"train", sisa_cmd_train, "partition the data into shards and train them stage by stage"},
    {"unlearn", sisa_cmd_unlearn, "delete training samples exactly, retraining only what saw them"},
    {"predict", sisa_cmd_predict, "predict with the ensemble of shard models"},
    {"eval", sisa_cmd_eval, "accuracy of the ensemble and of each shard on a labelled set"},
    {"status", sisa_cmd_status, "shards, stages, checkpoints and determinism context of a store"},
    {"config", sisa_cmd_config, "check a config file, show it resolved, or list every key"},
    {"version", sisa_cmd_version, "print the versions of sisa and its libraries"},
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
    fprintf(out, "\nglobal options:\n"
                 "  -v, --verbose   more detail on stderr (repeat for debug output)\n"
                 "  -q, --quiet     errors only on stderr\n"
                 "  -h, --help      show this help\n"
                 "      --version   show versions of sisa, Open MPI, HDF5, OpenBLAS, libyaml\n\n"
                 "Run 'sisa COMMAND --help' for a command's options.\n\n"
                 "exit status: 0 success, 1 runtime failure (I/O, corrupt input, MPI),\n"
                 "2 usage or configuration error, 3 request rejected (nothing changed),\n"
                 "130 interrupted (partial output removed). See docs/exit-codes.md.\n");
}

static void on_signal(int signo)
{
    sisa_interrupt_raise(signo);
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* A second signal gets the default action: the user can always kill a stuck run. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int report(int err)
{
    if (err >= 0) return SISA_EXIT_OK;
    if (err == SISA_EINTR && !*sisa_error_message())
        fprintf(stderr, "sisa: interrupted\n");
    else
        fprintf(stderr, "sisa: error: %s\n", sisa_error_message());
    const char *dbg = getenv("SISA_DEBUG");
    if (sisa_log_level_get() >= SISA_LOG_DEBUG || (dbg && *dbg && strcmp(dbg, "0") != 0))
        fprintf(stderr, "sisa: (%s, raised at %s)\n", sisa_error_name(err), sisa_error_origin());
    return sisa_exit_code(err);
}

int main(int argc, char **argv)
{
    int level = SISA_LOG_INFO;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return SISA_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            sisa_print_versions();
            return SISA_EXIT_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            level++;
        } else if (!strcmp(a, "-vv")) {
            level += 2;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            level = SISA_LOG_QUIET;
        } else {
            fprintf(stderr, "sisa: error: unknown global option '%s' (see 'sisa --help')\n", a);
            return SISA_EXIT_USAGE;
        }
    }
    sisa_log_set_level(level);
    if (i >= argc) {
        usage(stderr);
        return SISA_EXIT_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help")) {
        usage(stdout);
        return SISA_EXIT_OK;
    }
    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (strcmp(name, commands[c].name) != 0) continue;
        install_signal_handlers();
        return report(commands[c].run(argc - i - 1, argv + i + 1));
    }
    fprintf(stderr, "sisa: error: unknown command '%s' (see 'sisa --help')\n", name);
    return SISA_EXIT_USAGE;
}
