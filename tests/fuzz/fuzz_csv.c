/*
 * fuzz_csv.c - `sisa import csv` (src/io/csv.c), plain and gzipped.
 *
 * Input: one byte of options, then the file. Option bits: 0 gzip the file, 1 --id id,
 * 2 --group (g, or group), 3 --remap-labels, 4 --num-classes 5, 5-6 the delimiter (, ; tab |),
 * 7 the label column is y (else label) and the group column g (else group): the names the
 * tests' files use. A raw gzip stream in the file itself (bit 0 clear) reaches zlib's
 * error paths. Properties: besides the error contract, an accepted file's output reads back as
 * a dataset of the rows and features the importer reported.
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
    static const char delims[] = {',', ';', '\t', '|'};
    fz_init();
    if (size < 1) return 0;
    if (!in[0]) {
        fz_path(in, sizeof in, "in.csv");
        fz_path(out, sizeof out, "out.h5");
    }
    unsigned flags = data[0];
    if (flags & 1)
        fz_write_gz(in, data + 1, size - 1);
    else
        fz_write(in, data + 1, size - 1);
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.out = out;
    o.force = 1;
    o.label_col = flags & 128 ? "y" : "label";
    if (flags & 2) o.id_col = "id";
    if (flags & 4) o.group_col = flags & 128 ? "g" : "group";
    o.remap_labels = (flags >> 3) & 1;
    if (flags & 16) o.num_classes = 5;
    o.delimiter = delims[(flags >> 5) & 3];
    sisa_dataset_summary s;
    int rc = sisa_import_csv(&s, in, &o);
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
