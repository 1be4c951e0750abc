/*
 * dist.h - everything sisa needs from MPI, behind a small interface. Only src/dist/ includes
 * <mpi.h>; the shard engine, the models and the aggregator know nothing of ranks.
 *
 * A process started by an MPI launcher (mpirun, mpiexec, srun --mpi=pmix) initialises MPI and
 * becomes one rank of the job; a process started directly runs as the single rank of a one-rank
 * job without touching MPI at all (SISA_MPI=1 forces MPI on, SISA_MPI=0 off). Every collective
 * below is then a local no-op, so `sisa` without mpirun is exactly the P = 1 case.
 *
 * Errors: every MPI call is checked (the communicator uses MPI_ERRORS_RETURN, never the default
 * abort-on-error handler). A failure in local work on one rank must not strand the others in a
 * collective, so commands are written as phases separated by sisa_dist_agree: every rank brings
 * its own result, and all leave with the same one, whose message names the failing rank. A
 * failure of MPI itself marks the job broken, and sisa_dist_finalize then aborts every rank
 * instead of waiting for them (Open MPI 4 has no recovery from a lost rank).
 */
#ifndef SISA_DIST_DIST_H
#define SISA_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_dist sisa_dist;

/* The MPI library's own version line (e.g. "Open MPI v4.1.4") and the MPI standard version it
 * implements. Callable before MPI is initialised. */
void sisa_dist_library_version(char *out, size_t cap);

/* Join the job (see above). *out is valid even on failure (a one-rank job). */
int sisa_dist_init(sisa_dist **out, int *argc, char ***argv);
/* A one-rank job that never touches MPI, whatever launched the process. */
int sisa_dist_single(sisa_dist **out);
/* A job over a duplicate of the communicator `mpi_comm` points to (an MPI_Comm) of a program
 * that initialised MPI itself. *out is valid even on failure (free it with sisa_dist_free). */
int sisa_dist_from_comm(sisa_dist **out, const void *mpi_comm);
/* Free a job from sisa_dist_single or sisa_dist_from_comm: its duplicate communicator only
 * (MPI stays initialised). NULL-safe. */
void sisa_dist_free(sisa_dist *d);

/* Leave the job: MPI_Finalize, or MPI_Abort with `exit_code` when MPI failed or the ranks could
 * not agree. Frees d (NULL-safe). */
void sisa_dist_finalize(sisa_dist *d, int exit_code);

int sisa_dist_rank(const sisa_dist *d);
int sisa_dist_size(const sisa_dist *d);
/* 1 when MPI was initialised by this process. */
int sisa_dist_active(const sisa_dist *d);

/* Collective. Every rank passes its own result (SISA_OK, or a negative code with the message in
 * its error slot). All ranks return SISA_OK when every rank succeeded; otherwise they all return
 * the code of the lowest failing rank, with "rank R: MESSAGE" (plus how many other ranks
 * failed) in every rank's error slot. With one rank, returns `local` unchanged. */
int sisa_dist_agree(sisa_dist *d, int local);

/* Collective: broadcast `len` bytes from `root` (in pieces, so any length works). */
int sisa_dist_bcast(sisa_dist *d, void *buf, size_t len, int root);

/* Collective: element-wise sum or max over all ranks, result on every rank. */
int sisa_dist_sum_u64(sisa_dist *d, uint64_t *v, int n);
int sisa_dist_max_f64(sisa_dist *d, double *v, int n);
/* Collective: root receives every rank's `n` values in rank order into all (size * n). */
int sisa_dist_gather_f64(sisa_dist *d, const double *v, int n, double *all, int root);

/* Point to point, for moving results to rank 0 in a fixed order: `tag` identifies the piece. */
int sisa_dist_send(sisa_dist *d, const void *buf, size_t len, int dest, int tag);
int sisa_dist_recv(sisa_dist *d, void *buf, size_t len, int src, int tag);

#endif
