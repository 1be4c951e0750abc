/*
 * docgen.h - bash completion and man pages generated from the commands' option tables
 * (docgen.c).
 */
#ifndef SISA_CLI_DOCGEN_H
#define SISA_CLI_DOCGEN_H

#include "commands.h"

#include <stddef.h>
#include <stdio.h>

typedef struct sisa_docgen_cmd {
    const char *name;
    int (*run)(sisa_job *job, int argc, char **argv);
    const char *summary;
    const char *const *subs; /* NULL-terminated subcommands, or NULL */
} sisa_docgen_cmd;

/* The bash completion script for these commands, on `out`. */
int sisa_docgen_bash(FILE *out, const sisa_docgen_cmd *cmds, size_t n);
/* sisa.1 and one sisa-COMMAND[-SUB].1 per command (and subcommand) into the folder `dir`. */
int sisa_docgen_man(const char *dir, const sisa_docgen_cmd *cmds, size_t n);

#endif
