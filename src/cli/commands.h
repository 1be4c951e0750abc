/*
 * commands.h - the entry point of each `sisa COMMAND`.
 *
 * Each receives the arguments after its name and returns a sisa error code (SISA_OK on
 * success); main() prints the message and maps the code to the exit status. A command prints
 * its results to stdout and everything else to stderr.
 */
#ifndef SISA_CLI_COMMANDS_H
#define SISA_CLI_COMMANDS_H

int sisa_cmd_import(int argc, char **argv);
int sisa_cmd_config(int argc, char **argv);
int sisa_cmd_info(int argc, char **argv);
int sisa_cmd_version(int argc, char **argv);
int sisa_cmd_train(int argc, char **argv);
int sisa_cmd_unlearn(int argc, char **argv);
int sisa_cmd_predict(int argc, char **argv);
int sisa_cmd_eval(int argc, char **argv);
int sisa_cmd_status(int argc, char **argv);
int sisa_cmd_verify(int argc, char **argv);
int sisa_cmd_audit(int argc, char **argv);
int sisa_cmd_repair(int argc, char **argv);

/* Print the version report of `sisa --version` to stdout. */
void sisa_print_versions(void);

#endif
