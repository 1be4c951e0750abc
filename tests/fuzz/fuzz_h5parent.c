/*
 * fuzz_h5parent.c - the parent side of `sisa import h5` (src/base/sandbox.c, src/io/h5import.c):
 * what the parent accepts from its sandboxed child, which parsed a foreign HDF5 file and may
 * therefore have been taken over by it.
 *
 * Input: 4 bytes of wait status (little-endian, as waitpid gives it), 2 bytes (big-endian) of
 * the size the child's temp file has on disk, then the bytes the child wrote on its report
 * pipe. The parent decodes the report (sisa_sandbox_decode) and, when it carries a summary,
 * checks it against the temp file (sisa_import_h5_accept). Properties: a refusal is a clean
 * error (SISA_EINTERNAL is documented for a report that breaks the protocol), a summary that
 * passes describes a possible dataset.
 */
#include "fuzz.h"

#include "base/sandbox.h"
#include "io/import_internal.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char tmp[600];
    static const char input[] = "in.h5";
    fz_init();
    if (size < 6) return 0;
    if (!tmp[0]) fz_path(tmp, sizeof tmp, ".out.h5.sisa-tmp-1-1");
    int status = (int)((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                       (uint32_t)data[3] << 24);
    size_t tmp_size = (size_t)data[4] << 8 | data[5];
    data += 6;
    size -= 6;
    /* sisa_sandbox_run keeps at most SISA_SANDBOX_REPORT_MAX bytes and counts the rest. */
    char report[SISA_SANDBOX_REPORT_MAX];
    size_t kept = size < sizeof report ? size : sizeof report;
    memcpy(report, data, kept);
    sisa_dataset_summary s;
    memset(&s, 0xAB, sizeof s);
    int rc = sisa_sandbox_decode(report, size, status, &s, sizeof s, "reading in.h5", 600);
    fz_check(rc, "", FZ_MAY_INTERNAL);
    if (rc == 0) {
        FILE *f = fopen(tmp, "wb");
        if (!f || ftruncate(fileno(f), (off_t)tmp_size) != 0 || fclose(f) != 0)
            fz_fail("cannot make %s", tmp);
        rc = sisa_import_h5_accept(&s, tmp, input, 0);
        fz_check(rc, input, FZ_NAMES_FILE);
        if (rc == 0 && (s.n < 1 || s.d < 1 || s.num_classes < 2 || s.id_max - s.id_min < s.n - 1 ||
                        !isfinite(s.x_min) || s.file_bytes != tmp_size))
            fz_fail("accepted a summary of %llu rows x %llu features", (unsigned long long)s.n,
                    (unsigned long long)s.d);
    }
    fz_clean();
    return 0;
}
