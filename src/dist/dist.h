/*
 * dist.h - everything sisa needs from MPI. Only src/dist/ includes <mpi.h>.
 */
#ifndef SISA_DIST_DIST_H
#define SISA_DIST_DIST_H

#include <stddef.h>

/* The MPI library's own version line (e.g. "Open MPI v4.1.4") and the MPI standard version it
 * implements. Callable before MPI is initialised. */
void sisa_dist_library_version(char *out, size_t cap);

#endif
