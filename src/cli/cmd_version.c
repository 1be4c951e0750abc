/*
 * cmd_version.c - `sisa --version` / `sisa version`: sisa and the libraries it runs on.
 *
 * The OpenBLAS line shows the kernel ("core") picked at run time, which OPENBLAS_CORETYPE can
 * override; models trained under different cores are not bitwise comparable.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_version(sisa_job *job, int argc, char **argv)
{
    (void)job;
    static const sisa_command_spec spec = {
        .name = "version",
        .usage = "version",
        .summary = "Print the versions of sisa, Open MPI, HDF5, OpenBLAS (with the kernel it "
                   "runs), libyaml and zlib.",
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_library_versions(stdout);
    return SISA_OK;
}
