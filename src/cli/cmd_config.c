/*
 * cmd_config.c - `sisa config check|show|reference`: validate a config file, print it resolved,
 * or print the reference of every key.
 *
 * Everything printed about keys comes from the schema table (src/config/schema.c) through
 * sisa_config_reference() and sisa_config_dump(), so this file holds no knowledge of keys.
 * A config error leaves the loader's "FILE:LINE:COLUMN: sentence" in the error slot; main()
 * prints it and exits 2.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage_text =
    "usage: sisa config check -c FILE\n"
    "       sisa config show -c FILE\n"
    "       sisa config reference [--markdown]\n\n"
    "subcommands:\n"
    "  check       validate FILE and print its config hash\n"
    "  show        print FILE as canonical YAML: every key in order, defaults filled in, paths\n"
    "              resolved, preceded by a comment giving the config hash\n"
    "  reference   print the reference of every key (--markdown: docs/config.md)\n\n"
    "Run 'sisa config SUBCOMMAND --help' for a subcommand's options.\n"
    "exit status: 0 valid, 1 the file cannot be read, 2 usage or configuration error.\n";

/* Render with one of the snprintf-style generators into a fresh buffer and print it. */
static int print_generated(size_t (*gen)(char *, size_t, const void *), const void *arg,
                           const char *prefix)
{
    int err = SISA_OK;
    size_t n = gen(NULL, 0, arg);
    char *buf = malloc(n + 1);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory");
    gen(buf, n + 1, arg);
    if (prefix) fputs(prefix, stdout);
    SISA_CHECK(fwrite(buf, 1, n, stdout) == n && fflush(stdout) == 0, SISA_EIO,
               "cannot write to standard output");
done:
    free(buf);
    return err;
}

static size_t gen_reference(char *out, size_t cap, const void *markdown)
{
    return sisa_config_reference(out, cap, *(const int *)markdown);
}

static size_t gen_dump(char *out, size_t cap, const void *cfg)
{
    return sisa_config_dump(cfg, out, cap);
}

static int load_from_args(const sisa_command_spec *spec, int argc, char **argv, const char **path,
                          sisa_config *cfg)
{
    int rc = sisa_args_parse(spec, argc, argv, NULL, NULL);
    if (rc) return rc;
    return sisa_config_load(cfg, *path);
}

/* What the training set's header tells about the set-up of a new store (shard/setup.h), when
 * the file exists: too few rows for the shards and slices is an error, as `sisa train` would
 * refuse it; stages smaller than a minibatch are a warning. A dataset that cannot be read is
 * only a warning here: the config itself is valid, and `sisa train` reports the file. */
static int config_check(int argc, char **argv)
{
    const char *path = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &path, "FILE", "the config file", 1},
    };
    const sisa_command_spec spec = {
        .name = "config check",
        .usage = "config check -c FILE",
        .summary = "Validate a config file and print its config hash.",
        .description =
            "Prints 'FILE: valid (config hash HEX)'. Problems are reported as\n"
            "FILE:LINE:COLUMN: sentence, with exit status 2. When data.train exists and the\n"
            "store is not created yet, its header is read too: fewer rows than\n"
            "sisa.shards x sisa.slices is an error (exit 2), as 'sisa train' would refuse it,\n"
            "and stages expected to train on fewer rows than one minibatch are a warning.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    sisa_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return SISA_ERR(SISA_ENOMEM, "out of memory");
    int rc = load_from_args(&spec, argc, argv, &path, cfg);
    if (rc == 0) rc = sisa_config_check(cfg);
    if (rc == 0) {
        char hash[65];
        sisa_config_hash(cfg, hash);
        printf("%s: valid (config hash %s)\n", path, hash);
        if (fflush(stdout) != 0) rc = SISA_ERR(SISA_EIO, "cannot write to standard output");
    }
    free(cfg);
    return rc > 0 ? SISA_OK : rc;
}

static int config_show(int argc, char **argv)
{
    const char *path = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &path, "FILE", "the config file", 1},
    };
    const sisa_command_spec spec = {
        .name = "config show",
        .usage = "config show -c FILE",
        .summary = "Print a config file as canonical YAML, with defaults and resolved paths.",
        .description = "The output lists every key in the reference's order and is itself a\n"
                       "valid config file with the same config hash, given in the first line.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    sisa_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return SISA_ERR(SISA_ENOMEM, "out of memory");
    int rc = load_from_args(&spec, argc, argv, &path, cfg);
    if (rc == 0) {
        char hash[65], line[100];
        sisa_config_hash(cfg, hash);
        snprintf(line, sizeof line, "# config hash %s\n", hash);
        rc = print_generated(gen_dump, cfg, line);
    }
    free(cfg);
    return rc > 0 ? SISA_OK : rc;
}

static int config_reference(int argc, char **argv)
{
    int markdown = 0;
    const sisa_option options[] = {
        {"markdown", 0, SISA_ARG_FLAG, &markdown, NULL,
         "print Markdown (the text of docs/config.md) instead of plain text", 0},
    };
    const sisa_command_spec spec = {
        .name = "config reference",
        .usage = "config reference [--markdown]",
        .summary = "Print the reference of every config key: type, default, allowed values.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    return print_generated(gen_reference, &markdown, NULL);
}

int sisa_cmd_config(sisa_job *job, int argc, char **argv)
{
    (void)job;
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"check", config_check}, {"show", config_show}, {"reference", config_reference}};
    if (argc < 1) {
        fputs(usage_text, stderr);
        return SISA_ERR(SISA_EUSAGE, "sisa config: which subcommand? (check, show or reference)");
    }
    if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        static const int text = 0;
        fputs(usage_text, stdout);
        fputs("\n", stdout);
        return print_generated(gen_reference, &text, NULL);
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[0], subs[i].name)) return subs[i].run(argc - 1, argv + 1);
    return SISA_ERR(SISA_EUSAGE,
                    "sisa config: unknown subcommand '%s' (use check, show or reference)", argv[0]);
}
