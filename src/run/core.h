/*
 * core.h - the OpenBLAS core a command runs under, set before OpenBLAS computes anything.
 */
#ifndef SISA_RUN_CORE_H
#define SISA_RUN_CORE_H

/* The environment variable sisa sets next to OPENBLAS_CORETYPE when it re-executes itself, so
 * that the new process knows the core is sisa's doing (and why), not the user's. */
#define SISA_CORE_GUARD "SISA_OPENBLAS_SWITCH"

/* Run at the start of main for command `name` ("version" for --version too), before MPI_Init
 * and any BLAS call; `argv` is main's, `cargc`/`cargv` the command's own arguments. Decides the
 * core (sisa_blas_plan_core) and, to change it, re-executes /proc/self/exe with the same argv
 * and OPENBLAS_CORETYPE set: then it does not return. Returns SISA_OK to go on (the core's
 * origin recorded with sisa_blas_set_origin), or SISA_EUSAGE when the store's core cannot run
 * on this CPU, or SISA_EIO when the re-execution fails. Does nothing for commands that compute
 * nothing with OpenBLAS, and for --help. */
int sisa_run_core_setup(const char *name, char **argv, int cargc, char **cargv);

/* 1 unless the process is a rank other than 0 of an MPI or Slurm job (read from the launcher's
 * environment: before MPI_Init, this is all there is). */
int sisa_run_core_first_rank(void);

#endif
