/*
 * mpiinfo.c - MPI library facts for version reports and determinism contexts.
 */
#include "dist/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

void sisa_dist_library_version(char *out, size_t cap)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0, major = 0, minor = 0;
    /* Both calls are allowed before MPI_Init (MPI-3.1 §8.1.1). */
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) snprintf(lib, sizeof lib, "unknown");
    MPI_Get_version(&major, &minor);
    char *comma = strchr(lib, ',');
    if (comma) *comma = '\0';
    char *nl = strchr(lib, '\n');
    if (nl) *nl = '\0';
    snprintf(out, cap, "%s (MPI %d.%d)", lib, major, minor);
}
