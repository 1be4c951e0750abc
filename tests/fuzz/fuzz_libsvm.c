/*
 * fuzz_libsvm.c - `sisa import libsvm` (src/io/libsvm.c), plain and gzipped.
 *
 * Input: one byte of options, then the file. Option bits: 0 gzip the file, 1 --remap-labels,
 * 2 --num-classes 5, 3 --features N with N the next byte + 1 (that byte is then not part of the
 * file). Properties as for fuzz_csv.
 */
#include "fuzz.h"

#include "io/dsstream.h"
#include "sisa/error.h"
#include "sisa/import.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char in[600], out[600];
    fz_init();
    if (size < 1) return 0;
    if (!in[0]) {
        fz_path(in, sizeof in, "in.svm");
        fz_path(out, sizeof out, "out.h5");
    }
    unsigned flags = data[0];
    size_t skip = 1;
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    if (flags & 8) {
        if (size < 2) return 0;
        o.features = (uint64_t)data[1] + 1;
        skip = 2;
    }
    if (flags & 1)
        fz_write_gz(in, data + skip, size - skip);
    else
        fz_write(in, data + skip, size - skip);
    o.out = out;
    o.force = 1;
    o.remap_labels = (flags >> 1) & 1;
    if (flags & 4) o.num_classes = 5;
    sisa_dataset_summary s;
    int rc = sisa_import_libsvm(&s, in, &o);
    fz_check(rc, in, FZ_NAMES_FILE);
    if (rc == 0) {
        sisa_dataset_header h;
        rc = sisa_dataset_read_header(out, &h);
        if (rc < 0) fz_fail("the imported file does not read back: %s", sisa_error_message());
        if (h.n != s.n || h.d != s.d)
            fz_fail("imported %llu x %llu, reads back as %llu x %llu", (unsigned long long)s.n,
                    (unsigned long long)s.d, (unsigned long long)h.n, (unsigned long long)h.d);
    }
    fz_clean();
    return 0;
}
