/*
 * cmd_version.c - `sisa --version` / `sisa version`: sisa and the libraries it runs on.
 *
 * The OpenBLAS line shows the kernel ("core") picked at run time, which OPENBLAS_CORETYPE can
 * override; models trained under different cores are not bitwise comparable.
 */
#include "cli/args.h"
#include "cli/commands.h"

#include "dist/dist.h"
#include "model/blas.h"
#include "sisa/config.h"
#include "sisa/error.h"
#include "sisa/import.h"
#include "sisa/version.h"

#include <stdio.h>
#include <stdlib.h>

void sisa_print_versions(void)
{
    char mpi[256];
    sisa_blas_info blas;
    sisa_dist_library_version(mpi, sizeof mpi);
    sisa_blas_single_thread();
    sisa_blas_describe(&blas);
    char origin[256];
    sisa_blas_origin_text(origin, sizeof origin);
    printf("sisa %s (commit %s, %s build, %s)\n", SISA_VERSION, SISA_GIT_COMMIT, SISA_BUILD_TYPE,
           SISA_COMPILER);
    printf("Open MPI: %s\n", mpi);
    printf("HDF5: %s\n", sisa_io_hdf5_version());
    printf("OpenBLAS: %s (core %s, %s, %d thread%s)\n", blas.version, blas.core, origin,
           blas.threads, blas.threads == 1 ? "" : "s");
    printf("libyaml: %s\n", sisa_config_yaml_version());
    printf("zlib: %s\n", sisa_io_zlib_version());
    printf("build flags: %s\n", SISA_BUILD_FLAGS);
    char advice[512];
    if (sisa_blas_core_advice(advice, sizeof advice)) printf("note: %s\n", advice);
}

int sisa_cmd_version(int argc, char **argv)
{
    static const sisa_command_spec spec = {
        .name = "version",
        .usage = "version",
        .summary = "Print the versions of sisa, Open MPI, HDF5, OpenBLAS (with the kernel it "
                   "runs), libyaml and zlib.",
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    /* main set the core up (cli/core.h) before this ran. */
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_print_versions();
    return SISA_OK;
}
