/*
 * versions.c - HDF5 and zlib versions for `sisa --version` and determinism contexts.
 */
#include "sisa/import.h"

#include <hdf5.h>
#include <stdio.h>
#include <zlib.h>

const char *sisa_io_hdf5_version(void)
{
    static char buf[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, sizeof buf, "%u.%u.%u", maj, min, rel);
    return buf;
}

const char *sisa_io_zlib_version(void)
{
    return zlibVersion();
}
