/*
 * fuzz_idx.c - `sisa import idx` (src/io/idx.c): an image file and a label file, plain or
 * gzipped.
 *
 * Input: one byte of options, two bytes (big-endian) giving the length L of the label file,
 * then L bytes of labels and the rest as images (a shorter input gives a shorter label file
 * and no images). Option bits: 0 gzip the images, 1 gzip the labels, 2 --remap-labels,
 * 3 --num-classes 10. Properties as for fuzz_csv.
 */
#include "fuzz.h"

#include "io/dsstream.h"
#include "sisa/error.h"
#include "sisa/import.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char img[600], lab[600], out[600];
    fz_init();
    if (size < 3) return 0;
    if (!img[0]) {
        fz_path(img, sizeof img, "images.idx");
        fz_path(lab, sizeof lab, "labels.idx");
        fz_path(out, sizeof out, "out.h5");
    }
    unsigned flags = data[0];
    size_t llen = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (llen > size) llen = size;
    if (flags & 2)
        fz_write_gz(lab, data, llen);
    else
        fz_write(lab, data, llen);
    if (flags & 1)
        fz_write_gz(img, data + llen, size - llen);
    else
        fz_write(img, data + llen, size - llen);
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.out = out;
    o.force = 1;
    o.images = img;
    o.labels = lab;
    o.remap_labels = (flags >> 2) & 1;
    if (flags & 8) o.num_classes = 10;
    sisa_dataset_summary s;
    int rc = sisa_import_idx(&s, &o);
    /* The message names whichever of the two files is at fault. */
    fz_check(rc, "", 0);
    if (rc < 0 && rc != SISA_ENOMEM && !strstr(sisa_error_message(), img) &&
        !strstr(sisa_error_message(), lab))
        fz_fail("the message names neither input: %s", sisa_error_message());
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
