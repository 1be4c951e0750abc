/*
 * dsstream.c - see dsstream.h.
 */
#include "io/dsstream.h"

#include "io/h5util.h"
#include "sisa/dataset.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

struct sisa_dataset_stream {
    char path[4096];
    hid_t file, x;
    sisa_dataset_header hdr;
    int32_t *y;
    uint64_t *id;
    uint64_t *group;
};

void sisa_dataset_stream_close(sisa_dataset_stream *s)
{
    if (!s) return;
    sisa_h5_close_quiet(&s->x);
    sisa_h5_close_quiet(&s->file);
    free(s->y);
    free(s->id);
    free(s->group);
    free(s);
}

/* Open a 1-D integer column of length n with the exact stored type (class, size, sign). */
static int read_column(sisa_dataset_stream *s, const char *name, size_t size, H5T_sign_t sign,
                       hid_t mtype, void *buf, int required)
{
    int err = SISA_OK;
    hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int found = sisa_h5_open_dataset(s->file, name, &ds, s->path);
    SISA_TRY(found);
    if (!found) {
        SISA_CHECK(!required, SISA_ECORRUPT, "%s: dataset '%s' is missing", s->path, name);
        return 0;
    }
    space = H5Dget_space(ds);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of %s", s->path, name);
    hsize_t dims[1] = {0};
    SISA_CHECK(H5Sget_simple_extent_ndims(space) == 1, SISA_ECORRUPT,
               "%s: %s should have one dimension", s->path, name);
    H5Sget_simple_extent_dims(space, dims, NULL);
    SISA_CHECK(dims[0] == s->hdr.n, SISA_ECORRUPT, "%s: %s has %llu entries but X has %llu rows",
               s->path, name, (unsigned long long)dims[0], (unsigned long long)s->hdr.n);
    type = H5Dget_type(ds);
    SISA_H5(type, SISA_ECORRUPT, "%s: cannot read the type of %s", s->path, name);
    SISA_CHECK(H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == size &&
                   H5Tget_sign(type) == sign,
               SISA_ECORRUPT, "%s: %s should be %s%zu-bit integers", s->path, name,
               sign == H5T_SGN_NONE ? "unsigned " : "signed ", size * 8);
    SISA_H5(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), SISA_ECORRUPT,
            "%s: reading %s failed", s->path, name);
    err = 1;
done:
    sisa_h5_close_quiet(&type);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&ds);
    return err;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int sisa_dataset_stream_open(sisa_dataset_stream **out, const char *path, sisa_dataset_header *hdr)
{
    int err = SISA_OK;
    sisa_dataset_stream *s = NULL;
    hid_t space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    uint64_t *sorted = NULL;
    char fmt[64];
    *out = NULL;
    sisa_h5_init();
    s = calloc(1, sizeof *s);
    SISA_CHECK(s, SISA_ENOMEM, "out of memory");
    s->file = s->x = H5I_INVALID_HID;
    snprintf(s->path, sizeof s->path, "%s", path);
    SISA_CHECK(access(path, R_OK) == 0, SISA_EIO, "cannot read %s: %s", path, strerror(errno));
    SISA_CHECK(H5Fis_hdf5(path) > 0, SISA_ECORRUPT, "%s is not an HDF5 file", path);
    s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(s->file, SISA_ECORRUPT, "cannot open %s", path);
    int rc = sisa_h5_attr_read_str(s->file, "sisa_format", fmt, sizeof fmt, path);
    SISA_TRY(rc);
    SISA_CHECK(rc == 1 && strcmp(fmt, SISA_DATASET_FORMAT) == 0, SISA_ECORRUPT,
               "%s is not a sisa dataset file (no sisa_format attribute); convert it with "
               "'sisa import h5'",
               path);
    int32_t version = 0;
    SISA_CHECK(sisa_h5_attr_read_i32(s->file, "sisa_format_version", &version, path) == 1 &&
                   version == SISA_DATASET_FORMAT_VERSION,
               SISA_ECORRUPT, "%s: unsupported dataset format version %d", path, version);
    SISA_CHECK(sisa_h5_attr_read_i32(s->file, "num_classes", &s->hdr.num_classes, path) == 1 &&
                   s->hdr.num_classes >= 2 && s->hdr.num_classes <= SISA_MAX_CLASSES,
               SISA_ECORRUPT, "%s: missing or invalid num_classes attribute", path);

    int found = sisa_h5_open_dataset(s->file, "X", &s->x, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_ECORRUPT, "%s: dataset 'X' is missing", path);
    space = H5Dget_space(s->x);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of X", path);
    SISA_CHECK(H5Sget_simple_extent_ndims(space) == 2, SISA_ECORRUPT,
               "%s: X should have two dimensions (rows, features)", path);
    hsize_t dims[2];
    H5Sget_simple_extent_dims(space, dims, NULL);
    SISA_CHECK(dims[0] > 0 && dims[1] > 0, SISA_ECORRUPT, "%s: X is empty", path);
    type = H5Dget_type(s->x);
    SISA_H5(type, SISA_ECORRUPT, "%s: cannot read the type of X", path);
    SISA_CHECK(H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4, SISA_ECORRUPT,
               "%s: X should be float32", path);
    s->hdr.n = dims[0];
    s->hdr.d = dims[1];

    size_t n = (size_t)s->hdr.n;
    s->y = malloc(n * sizeof *s->y);
    s->id = malloc(n * sizeof *s->id);
    SISA_CHECK(s->y && s->id, SISA_ENOMEM, "out of memory for %zu rows of %s", n, path);
    SISA_TRY(read_column(s, "y", 4, H5T_SGN_2, H5T_NATIVE_INT32, s->y, 1));
    SISA_TRY(read_column(s, "id", 8, H5T_SGN_NONE, H5T_NATIVE_UINT64, s->id, 1));
    if (H5Lexists(s->file, "group", H5P_DEFAULT) > 0) {
        s->group = malloc(n * sizeof *s->group);
        SISA_CHECK(s->group, SISA_ENOMEM, "out of memory");
        SISA_TRY(read_column(s, "group", 8, H5T_SGN_NONE, H5T_NATIVE_UINT64, s->group, 1));
        s->hdr.has_group = 1;
    }
    for (size_t i = 0; i < n; i++)
        SISA_CHECK(s->y[i] >= 0 && s->y[i] < s->hdr.num_classes, SISA_ECORRUPT,
                   "%s: row %zu has label %d, outside 0..%d", path, i, s->y[i],
                   s->hdr.num_classes - 1);
    sorted = malloc(n * sizeof *sorted);
    SISA_CHECK(sorted, SISA_ENOMEM, "out of memory");
    memcpy(sorted, s->id, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    for (size_t i = 1; i < n; i++)
        SISA_CHECK(sorted[i] != sorted[i - 1], SISA_ECORRUPT, "%s: duplicate sample ID %llu", path,
                   (unsigned long long)sorted[i]);
    *hdr = s->hdr;
    *out = s;
    s = NULL;
done:
    free(sorted);
    sisa_h5_close_quiet(&type);
    sisa_h5_close_quiet(&space);
    sisa_dataset_stream_close(s);
    return err;
}

const int32_t *sisa_dataset_stream_y(const sisa_dataset_stream *s)
{
    return s->y;
}

const uint64_t *sisa_dataset_stream_id(const sisa_dataset_stream *s)
{
    return s->id;
}

const uint64_t *sisa_dataset_stream_group(const sisa_dataset_stream *s)
{
    return s->group;
}

int sisa_dataset_stream_read_x(sisa_dataset_stream *s, uint64_t row0, uint64_t rows, float *buf)
{
    int err = SISA_OK;
    SISA_CHECK(row0 + rows <= s->hdr.n, SISA_EINTERNAL, "read past the end of %s", s->path);
    SISA_TRY(sisa_h5_read_rows(s->x, H5T_NATIVE_FLOAT, row0, rows, s->hdr.d, buf, s->path));
    for (uint64_t i = 0; i < rows * s->hdr.d; i++)
        SISA_CHECK(isfinite(buf[i]), SISA_ECORRUPT, "%s: X row %llu, feature %llu is not finite",
                   s->path, (unsigned long long)(row0 + i / s->hdr.d),
                   (unsigned long long)(i % s->hdr.d));
done:
    return err;
}
