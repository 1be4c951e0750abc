/*
 * args.h - command-line options for sisa's commands, driven by one table per command.
 *
 * The same table parses argv and prints `sisa COMMAND --help`, so the help can never miss an
 * option. Accepted forms: --name VALUE, --name=VALUE, -x VALUE, flags without a value, options
 * whose value is optional (--name or --name=VALUE), and positional arguments; "--" ends the
 * options.
 */
#ifndef SISA_CLI_ARGS_H
#define SISA_CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    SISA_ARG_FLAG,   /* int *: set to 1 */
    SISA_ARG_STRING, /* const char **: points into argv */
    SISA_ARG_U64,    /* uint64_t * */
    SISA_ARG_I32,    /* int32_t *: non-negative */
    SISA_ARG_F64,    /* double *: finite */
    SISA_ARG_CHAR,   /* char *: a single character (e.g. a delimiter; "\t" and "tab" mean TAB) */
    SISA_ARG_WAIT,   /* double *: "--name" alone sets -1 (no limit), "--name=SECONDS" sets
                      * SECONDS (finite, >= 0); the value is never taken from the next word */
} sisa_arg_kind;

typedef struct sisa_option {
    const char *name; /* long name without dashes */
    char short_name;  /* 0 when none */
    sisa_arg_kind kind;
    void *dest;
    const char *metavar; /* "FILE"; NULL for flags */
    const char *help;
    int required;
} sisa_option;

typedef struct sisa_command_spec {
    const char *name;        /* "import idx" */
    const char *usage;       /* after "sisa ": "import idx --images FILE ..." */
    const char *summary;     /* one line */
    const char *description; /* paragraphs printed after the usage; may be NULL */
    const sisa_option *options;
    int n_options;
    const char *positional_help; /* e.g. "FILE  the CSV file to import"; NULL when none */
    int min_positionals, max_positionals;
} sisa_command_spec;

/* Parse argv[0..argc) (argv[0] is the first argument after the command words).
 * Returns 0 on success, 1 when --help was printed to stdout (the caller exits 0), or
 * SISA_EUSAGE with a message naming the command and the problem. */
int sisa_args_parse(const sisa_command_spec *spec, int argc, char **argv, char **positionals,
                    int *n_positionals);

void sisa_args_help(const sisa_command_spec *spec, FILE *out);

/* While a capture function is set, sisa_args_parse hands it the command's table and returns 1
 * (as for --help) without parsing: how `sisa help --bash-completion` and `--man` read every
 * command's options from the same tables as --help (cli/docgen.c). NULL: parse again. */
void sisa_args_capture(void (*fn)(void *ctx, const sisa_command_spec *spec), void *ctx);

/* Monotonic time in seconds (for the durations the commands print). */
double sisa_cli_now(void);

#endif
