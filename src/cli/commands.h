/*
 * commands.h - the entry point of each `sisa COMMAND`.
 *
 * Each receives the arguments after its name and returns a sisa error code (SISA_OK on
 * success); main() prints the message and maps the code to the exit status. A command prints
 * its results to stdout and everything else to stderr.
 */
#ifndef SISA_CLI_COMMANDS_H
#define SISA_CLI_COMMANDS_H

#include "sisa/sisa.h"

/* `job`: the job of ranks this process is part of (the MPI commands), NULL otherwise. */
int sisa_cmd_import(sisa_job *job, int argc, char **argv);
int sisa_cmd_config(sisa_job *job, int argc, char **argv);
int sisa_cmd_info(sisa_job *job, int argc, char **argv);
int sisa_cmd_version(sisa_job *job, int argc, char **argv);
int sisa_cmd_train(sisa_job *job, int argc, char **argv);
int sisa_cmd_unlearn(sisa_job *job, int argc, char **argv);
int sisa_cmd_predict(sisa_job *job, int argc, char **argv);
int sisa_cmd_eval(sisa_job *job, int argc, char **argv);
int sisa_cmd_status(sisa_job *job, int argc, char **argv);
int sisa_cmd_verify(sisa_job *job, int argc, char **argv);
int sisa_cmd_audit(sisa_job *job, int argc, char **argv);
int sisa_cmd_repair(sisa_job *job, int argc, char **argv);
int sisa_cmd_gauge(sisa_job *job, int argc, char **argv);
int sisa_cmd_outliers(sisa_job *job, int argc, char **argv);
int sisa_cmd_impact(sisa_job *job, int argc, char **argv);
int sisa_cmd_log(sisa_job *job, int argc, char **argv);
int sisa_cmd_plan_tiers(sisa_job *job, int argc, char **argv);

#endif
