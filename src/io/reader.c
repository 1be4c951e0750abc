/*
 * reader.c - reading and validating a whole canonical dataset file (sisa/dataset.h).
 *
 * Every consumer of a dataset (info, train, verify) goes through here, so this is where the
 * schema is enforced on the way in: a file that passes holds finite float32 features, labels in
 * 0..num_classes-1, unique IDs, and columns that all have n rows. Anything else is
 * SISA_ECORRUPT with a sentence naming the file and the problem.
 *
 * The file may have been damaged or crafted, so nothing in it is trusted before it is checked:
 * datasets are opened only through hard links, external and virtual storage is refused, types
 * and ranks are checked before any read, and the size X claims (n * d * 4 bytes) is checked for
 * overflow and against the size of the file before we allocate it. Canonical files are stored
 * uncompressed (docs/formats.md), so X can never legitimately claim more bytes than the file has.
 * Every HDF5 handle is closed on every path.
 *
 * Two ways in, one set of checks: sisa_dataset_stream_open (io/dsstream.h) validates the file
 * and loads the per-row columns, then hands out X in row blocks (partitioning a large dataset
 * needs only one block in memory); sisa_dataset_read is the stream read whole. A third,
 * sisa_dataset_read_header, stops after the schema checks, before any column is read: train and
 * config check use it to judge the set-up before any work.
 */
#include "io/dsstream.h"
#include "sisa/dataset.h"

#include "base/fs.h"
#include "base/log.h"
#include "io/h5check.h"
#include "io/h5util.h"
#include "io/import_internal.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define READ_BLOCK_BYTES (4u << 20)

void sisa_dataset_free(sisa_dataset *ds)
{
    if (!ds) return;
    sisa_free(ds->X);
    sisa_free(ds->y);
    sisa_free(ds->id);
    sisa_free(ds->group);
    sisa_free(ds->risk);
    sisa_free(ds->label_values);
    sisa_free(ds->feature_names);
    sisa_free(ds);
}

/* Open a required (or optional) column and check its storage, type and length. `want_class`,
 * `want_size` and `want_sign` describe the one stored type accepted; `type_name` names it. */
static int open_column(hid_t file, const char *name, int required, H5T_class_t want_class,
                       size_t want_size, H5T_sign_t want_sign, const char *type_name, uint64_t n,
                       hid_t *out, const char *path)
{
    int err = SISA_OK;
    hid_t ds = H5I_INVALID_HID, t = H5I_INVALID_HID;
    int rank = 0;
    hsize_t dims[4];
    char desc[64];
    int found = sisa_h5_open_dataset(file, name, &ds, path);
    SISA_TRY(found);
    if (!found) {
        SISA_CHECK(!required, SISA_ECORRUPT, "%s: dataset '%s' is missing", path, name);
        err = 0;
        goto done;
    }
    SISA_TRY(sisa_h5_check_storage(ds, name, path));
    t = H5Dget_type(ds);
    SISA_H5(t, SISA_ECORRUPT, "%s: cannot read the type of '%s'", path, name);
    H5T_class_t cls = H5Tget_class(t);
    int ok = cls == want_class && H5Tget_size(t) == want_size;
    if (ok && cls == H5T_INTEGER) ok = H5Tget_sign(t) == want_sign;
    if (!ok) {
        sisa_h5_describe_type(t, desc, sizeof desc);
        SISA_FAIL(SISA_ECORRUPT, "%s: '%s' should hold %s but holds %s", path, name, type_name,
                  desc);
    }
    if (n > 0) { /* a column of X's length (X itself passes 0: the caller checks its shape) */
        SISA_TRY(sisa_h5_shape(ds, &rank, dims, 4, name, path));
        SISA_CHECK(rank == 1, SISA_ECORRUPT, "%s: '%s' should have 1 dimension but has %d", path,
                   name, rank);
        SISA_CHECK(dims[0] == n, SISA_ECORRUPT, "%s: '%s' has %llu entries but X has %llu rows",
                   path, name, (unsigned long long)dims[0], (unsigned long long)n);
    }
    *out = ds;
    ds = H5I_INVALID_HID;
    err = 1;
done:
    sisa_h5_close_quiet(&t);
    sisa_h5_close_quiet(&ds);
    return err;
}

/* Read rows [r0, r0 + nr) of X into dst and check every value is finite. */
static int read_x_rows(hid_t x, uint64_t r0, uint64_t nr, uint64_t d, float *dst, const char *path)
{
    int err = SISA_OK;
    SISA_TRY(sisa_h5_read_rows(x, H5T_NATIVE_FLOAT, r0, nr, d, dst, path));
    int bad = 0;
    for (uint64_t i = 0; i < nr * d; i++) bad |= !isfinite(dst[i]);
    if (!bad) goto done;
    for (uint64_t i = 0; i < nr * d; i++)
        SISA_CHECK(isfinite(dst[i]), SISA_ECORRUPT, "%s: X row %llu, column %llu is %s", path,
                   (unsigned long long)(r0 + i / d), (unsigned long long)(i % d),
                   isnan(dst[i]) ? "NaN" : "infinite");
done:
    return err;
}

/* The optional `scale` attribute: positive and finite when present. */
static int read_scale(hid_t file, double *scale, const char *path)
{
    int err = SISA_OK;
    int found = sisa_h5_attr_read_f64(file, "scale", scale, path);
    SISA_TRY(found);
    SISA_CHECK(!found || (isfinite(*scale) && *scale != 0.0), SISA_ECORRUPT,
               "%s: the scale attribute is %g; it must be finite and not 0", path, *scale);
done:
    return err;
}

static int read_attributes(hid_t file, sisa_dataset *ds, const char *path)
{
    int err = SISA_OK;
    size_t k = 0;
    uint64_t count = 0;
    int found = sisa_h5_attr_read_str(file, "source", ds->source, sizeof ds->source, path);
    SISA_TRY(found);
    found = sisa_h5_attr_read_str(file, "created_by", ds->created_by, sizeof ds->created_by, path);
    SISA_TRY(found);

    found = sisa_h5_attr_count(file, "feature_shape", &count, path);
    SISA_TRY(found);
    if (found) {
        SISA_CHECK(count >= 1 && count <= SISA_MAX_FEATURE_RANK, SISA_ECORRUPT,
                   "%s: feature_shape has %llu entries; expected 1 to %d", path,
                   (unsigned long long)count, SISA_MAX_FEATURE_RANK);
        SISA_TRY(sisa_h5_attr_read_u64s(file, "feature_shape", ds->feature_shape,
                                        SISA_MAX_FEATURE_RANK, &k, path));
        uint64_t prod = 1;
        char shape[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < k; i++) {
            uint64_t f = ds->feature_shape[i];
            /* Saturate just past d: the product only has to be compared with d. */
            prod = f && prod <= ds->d / f ? prod * f : ds->d + 1;
            int w = snprintf(shape + used, sizeof shape - used, "%s%llu", i ? " x " : "",
                             (unsigned long long)f);
            if (w > 0 && (size_t)w < sizeof shape - used) used += (size_t)w;
        }
        SISA_CHECK(prod == ds->d, SISA_ECORRUPT,
                   "%s: feature_shape [%s] does not match the %llu features per row of X", path,
                   shape, (unsigned long long)ds->d);
        ds->feature_rank = (int)k;
    }

    found = sisa_h5_attr_count(file, "label_values", &count, path);
    SISA_TRY(found);
    if (found) {
        SISA_CHECK(count >= 1 && count <= (uint64_t)ds->num_classes, SISA_ECORRUPT,
                   "%s: label_values has %llu entries but num_classes is %d", path,
                   (unsigned long long)count, ds->num_classes);
        ds->label_values = sisa_calloc((size_t)ds->num_classes, sizeof *ds->label_values);
        SISA_CHECK(ds->label_values, SISA_ENOMEM, "out of memory reading %s", path);
        SISA_TRY(sisa_h5_attr_read_i64s(file, "label_values", ds->label_values, (size_t)count, &k,
                                        path));
        ds->num_label_values = (int32_t)k;
    }

    ds->scale = 1.0;
    SISA_TRY(read_scale(file, &ds->scale, path));
    size_t names = 0;
    found =
        sisa_h5_read_strings(file, "feature_names", &ds->feature_names, &names, ds->d, 4096, path);
    SISA_TRY(found);
    SISA_CHECK(!found || names == ds->d, SISA_ECORRUPT,
               "%s: feature_names holds %zu names but X has %llu features", path, names,
               (unsigned long long)ds->d);
    err = SISA_OK;
done:
    return err;
}

struct sisa_dataset_stream {
    char path[4096];
    hid_t file, x;
    sisa_dataset_header hdr;
    int32_t *y;
    uint64_t *id;
    uint64_t *group;
    uint8_t *risk;
};

void sisa_dataset_stream_close(sisa_dataset_stream *s)
{
    if (!s) return;
    sisa_h5_close_quiet(&s->x);
    sisa_h5_close_quiet(&s->file);
    sisa_free(s->y);
    sisa_free(s->id);
    sisa_free(s->group);
    sisa_free(s->risk);
    sisa_free(s);
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

const uint8_t *sisa_dataset_stream_risk(const sisa_dataset_stream *s)
{
    return s->risk;
}

int sisa_dataset_stream_read_x(sisa_dataset_stream *s, uint64_t row0, uint64_t rows, float *buf)
{
    if (row0 > s->hdr.n || rows > s->hdr.n - row0)
        return SISA_ERR(SISA_EINTERNAL, "read past the end of %s", s->path);
    return read_x_rows(s->x, row0, rows, s->hdr.d, buf, s->path);
}

/* Load the per-row columns of an opened stream and check them: labels in range, unique IDs. */
static int load_columns(sisa_dataset_stream *s, hid_t y, hid_t id, hid_t group, hid_t risk,
                        const char *path)
{
    int err = SISA_OK;
    const uint64_t n = s->hdr.n;
    if (s->hdr.labelled) s->y = sisa_malloc(n * sizeof *s->y);
    s->id = sisa_malloc(n * sizeof *s->id);
    SISA_CHECK((s->y || !s->hdr.labelled) && s->id, SISA_ENOMEM,
               "out of memory reading %s (%llu rows)", path, (unsigned long long)n);
    if (s->hdr.has_group) {
        s->group = sisa_malloc(n * sizeof *s->group);
        SISA_CHECK(s->group, SISA_ENOMEM, "out of memory reading the groups of %s", path);
    }
    if (s->hdr.has_risk) {
        s->risk = sisa_malloc(n ? n : 1);
        SISA_CHECK(s->risk, SISA_ENOMEM, "out of memory reading the risk tiers of %s", path);
        SISA_H5(H5Dread(risk, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->risk),
                SISA_ECORRUPT, "%s: reading risk failed", path);
    }
    if (s->y)
        SISA_H5(H5Dread(y, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->y), SISA_ECORRUPT,
                "%s: reading y failed", path);
    SISA_H5(H5Dread(id, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->id), SISA_ECORRUPT,
            "%s: reading id failed", path);
    if (s->group)
        SISA_H5(H5Dread(group, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->group),
                SISA_ECORRUPT, "%s: reading group failed", path);
    for (uint64_t i = 0; s->y && i < n; i++)
        SISA_CHECK(s->y[i] >= 0 && s->y[i] < s->hdr.num_classes, SISA_ECORRUPT,
                   "%s: row %llu has label %d, outside 0..%d (num_classes %d)", path,
                   (unsigned long long)i, s->y[i], s->hdr.num_classes - 1, s->hdr.num_classes);
    SISA_TRY(sisa_ids_check_unique(s->id, n, path));
done:
    return err;
}

/* Open a regular file as HDF5, read-only; *st gets its stat. */
static int open_hdf5(const char *path, struct stat *st, hid_t *file)
{
    int err = SISA_OK;
    SISA_CHECK(stat(path, st) == 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    SISA_CHECK(S_ISREG(st->st_mode), SISA_EIO, "%s is not a regular file", path);
    htri_t is_h5 = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    SISA_CHECK(is_h5 > 0, SISA_ECORRUPT, "%s is not an HDF5 file", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(*file, SISA_ECORRUPT, "%s: cannot open the HDF5 file", path);
done:
    return err;
}

/* Validate the file's schema (attributes, X and the columns' types and lengths); with
 * `columns`, also load and check the per-row columns. An unlabelled dataset is refused unless
 * `any`. */
static int stream_open(sisa_dataset_stream **out, const char *path, sisa_dataset_header *hdr,
                       int columns, int any)
{
    int err = SISA_OK;
    sisa_dataset_stream *s = NULL;
    hid_t y = H5I_INVALID_HID, id = H5I_INVALID_HID, group = H5I_INVALID_HID;
    hid_t risk = H5I_INVALID_HID;
    char fmt[64];
    int32_t version = 0;
    *out = NULL;
    sisa_h5_init();

    s = sisa_calloc(1, sizeof *s);
    SISA_CHECK(s, SISA_ENOMEM, "out of memory reading %s", path);
    s->file = s->x = H5I_INVALID_HID;
    SISA_CHECK(strlen(path) < sizeof s->path, SISA_EUSAGE, "path too long: %s", path);
    memcpy(s->path, path, strlen(path) + 1);
    struct stat st;
    SISA_TRY(open_hdf5(path, &st, &s->file));

    int found = sisa_h5_attr_read_str(s->file, "sisa_format", fmt, sizeof fmt, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_ECORRUPT,
               "%s is not a sisa dataset file (no sisa_format attribute); convert it with "
               "'sisa import h5'",
               path);
    SISA_CHECK(!strcmp(fmt, SISA_DATASET_FORMAT), SISA_ECORRUPT,
               "%s: sisa_format is '%s', not '%s'; it is not a sisa dataset file", path, fmt,
               SISA_DATASET_FORMAT);
    found = sisa_h5_attr_read_i32(s->file, "sisa_format_version", &version, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_ECORRUPT, "%s: the sisa_format_version attribute is missing", path);
    SISA_CHECK(version == SISA_DATASET_FORMAT_VERSION, SISA_ECORRUPT,
               "%s: unsupported sisa_format_version %d (this sisa reads version %d)", path, version,
               SISA_DATASET_FORMAT_VERSION);

    int32_t labelled = 1;
    found = sisa_h5_attr_read_i32(s->file, "labelled", &labelled, path);
    SISA_TRY(found);
    SISA_CHECK(labelled == 0 || labelled == 1, SISA_ECORRUPT,
               "%s: the labelled attribute is %d; it must be 0 or 1", path, labelled);
    s->hdr.labelled = labelled;
    SISA_CHECK(labelled || any, SISA_EUSAGE,
               "%s has no labels (an unlabelled dataset, an input to predict): training, "
               "evaluation and auditing need a labelled dataset",
               path);
    found = sisa_h5_attr_read_i32(s->file, "num_classes", &s->hdr.num_classes, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_ECORRUPT, "%s: the num_classes attribute is missing", path);
    if (labelled)
        SISA_CHECK(s->hdr.num_classes >= 2 && s->hdr.num_classes <= SISA_MAX_CLASSES, SISA_ECORRUPT,
                   "%s: num_classes is %d; it must be between 2 and %d", path, s->hdr.num_classes,
                   SISA_MAX_CLASSES);
    else
        SISA_CHECK(s->hdr.num_classes == 0, SISA_ECORRUPT,
                   "%s: num_classes is %d in an unlabelled dataset; it must be 0", path,
                   s->hdr.num_classes);

    /* X: float32, rank 2, and no larger than the file that holds it. */
    int rank = 0;
    hsize_t dims[4];
    SISA_TRY(open_column(s->file, "X", 1, H5T_FLOAT, 4, H5T_SGN_ERROR, "float32 features", 0, &s->x,
                         path));
    SISA_TRY(sisa_h5_shape(s->x, &rank, dims, 4, "X", path));
    SISA_CHECK(rank == 2, SISA_ECORRUPT,
               "%s: 'X' should have 2 dimensions (rows, features) but has %d", path, rank);
    const uint64_t n = dims[0], d = dims[1];
    SISA_CHECK(n > 0 && d > 0, SISA_ECORRUPT, "%s: X is empty (%llu x %llu)", path,
               (unsigned long long)n, (unsigned long long)d);
    found = sisa_h5_has_filters(s->x, "X", path);
    SISA_TRY(found);
    SISA_CHECK(!found, SISA_ECORRUPT,
               "%s: X is stored compressed or filtered; sisa dataset files are uncompressed "
               "(re-import the data)",
               path);
    uint64_t limit = (uint64_t)st.st_size / sizeof(float);
    SISA_CHECK(n <= limit / d, SISA_ECORRUPT,
               "%s: X claims %llu x %llu float32 values, more than the %lld-byte file can hold "
               "(the file is truncated or corrupt)",
               path, (unsigned long long)n, (unsigned long long)d, (long long)st.st_size);
    s->hdr.n = n;
    s->hdr.d = d;

    found =
        open_column(s->file, "y", labelled, H5T_INTEGER, 4, H5T_SGN_2, "int32 labels", n, &y, path);
    SISA_TRY(found);
    SISA_CHECK(labelled || !found, SISA_ECORRUPT,
               "%s: an unlabelled dataset (labelled = 0) holds a 'y' column", path);
    SISA_TRY(open_column(s->file, "id", 1, H5T_INTEGER, 8, H5T_SGN_NONE, "uint64 sample IDs", n,
                         &id, path));
    found = open_column(s->file, "group", 0, H5T_INTEGER, 8, H5T_SGN_NONE, "uint64 group keys", n,
                        &group, path);
    SISA_TRY(found);
    s->hdr.has_group = found;
    found = open_column(s->file, "risk", 0, H5T_INTEGER, 1, H5T_SGN_NONE, "uint8 risk tiers", n,
                        &risk, path);
    SISA_TRY(found);
    s->hdr.has_risk = found;
    if (columns) SISA_TRY(load_columns(s, y, id, group, risk, path));
    *hdr = s->hdr;
    *out = s;
    s = NULL;
done:
    sisa_h5_close_quiet(&risk);
    sisa_h5_close_quiet(&group);
    sisa_h5_close_quiet(&id);
    sisa_h5_close_quiet(&y);
    sisa_dataset_stream_close(s);
    return err;
}

int sisa_dataset_stream_open(sisa_dataset_stream **out, const char *path, sisa_dataset_header *hdr)
{
    return stream_open(out, path, hdr, 1, 0);
}

int sisa_dataset_stream_open_any(sisa_dataset_stream **out, const char *path,
                                 sisa_dataset_header *hdr)
{
    return stream_open(out, path, hdr, 1, 1);
}

int sisa_dataset_feature_info(const char *path, char ***names, size_t *n_names, double *scale)
{
    int err = SISA_OK;
    sisa_dataset_stream *s = NULL;
    sisa_dataset_header hdr;
    *names = NULL;
    *n_names = 0;
    *scale = 1.0;
    SISA_TRY(stream_open(&s, path, &hdr, 0, 1));
    SISA_TRY(read_scale(s->file, scale, path));
    int found = sisa_h5_read_strings(s->file, "feature_names", names, n_names, hdr.d, 4096, path);
    SISA_TRY(found);
    SISA_CHECK(!found || *n_names == hdr.d, SISA_ECORRUPT,
               "%s: feature_names holds %zu names but X has %llu features", path, *n_names,
               (unsigned long long)hdr.d);
done:
    if (err < 0) {
        sisa_free(*names);
        *names = NULL;
        *n_names = 0;
    }
    sisa_dataset_stream_close(s);
    return err;
}

int sisa_dataset_read_header(const char *path, sisa_dataset_header *hdr)
{
    sisa_dataset_stream *s = NULL;
    int err = stream_open(&s, path, hdr, 0, 0);
    sisa_dataset_stream_close(s);
    return err;
}

int sisa_dataset_probe(const char *path)
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID;
    char fmt[64];
    struct stat st;
    sisa_h5_init();
    SISA_TRY(open_hdf5(path, &st, &file));
    int found = sisa_h5_attr_read_str(file, "sisa_format", fmt, sizeof fmt, path);
    SISA_TRY(found);
    err = found && !strcmp(fmt, SISA_DATASET_FORMAT);
done:
    sisa_h5_close_quiet(&file);
    return err;
}

static int dataset_read(sisa_dataset **out, const char *path, int any)
{
    int err = SISA_OK;
    sisa_dataset_stream *s = NULL;
    sisa_dataset *ds = NULL;
    sisa_dataset_header hdr;
    *out = NULL;
    SISA_TRY(stream_open(&s, path, &hdr, 1, any));
    ds = sisa_calloc(1, sizeof *ds);
    SISA_CHECK(ds, SISA_ENOMEM, "out of memory reading %s", path);
    ds->n = hdr.n;
    ds->d = hdr.d;
    ds->num_classes = hdr.num_classes;
    ds->labelled = hdr.labelled;
    SISA_TRY(read_attributes(s->file, ds, path));
    ds->X = sisa_malloc(ds->n * ds->d * sizeof *ds->X);
    SISA_CHECK(ds->X, SISA_ENOMEM, "out of memory reading %s (%llu x %llu features)", path,
               (unsigned long long)ds->n, (unsigned long long)ds->d);
    /* The per-row columns move from the stream to the dataset. */
    ds->y = s->y;
    ds->id = s->id;
    ds->group = s->group;
    ds->risk = s->risk;
    s->y = NULL;
    s->id = NULL;
    s->group = NULL;
    s->risk = NULL;
    uint64_t block = READ_BLOCK_BYTES / (ds->d * sizeof(float));
    if (block == 0) block = 1;
    for (uint64_t r0 = 0; r0 < ds->n; r0 += block) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while reading %s", path);
        uint64_t nr = ds->n - r0 < block ? ds->n - r0 : block;
        SISA_TRY(sisa_dataset_stream_read_x(s, r0, nr, ds->X + r0 * ds->d));
    }
    *out = ds;
    ds = NULL;
done:
    sisa_dataset_stream_close(s);
    sisa_dataset_free(ds);
    return err;
}

int sisa_dataset_read(sisa_dataset **out, const char *path)
{
    return dataset_read(out, path, 0);
}

int sisa_dataset_read_any(sisa_dataset **out, const char *path)
{
    return dataset_read(out, path, 1);
}

int sisa_stdin_spool(const char *what, char *dir, size_t dir_cap, char *file, size_t file_cap)
{
    return sisa_fs_spool_stdin(what, dir, dir_cap, file, file_cap);
}

void sisa_stdin_spool_remove(const char *dir)
{
    if (dir && *dir && sisa_fs_remove_tree(dir) != 0)
        sisa_warn("could not remove %s (the copy of standard input): %s", dir, strerror(errno));
}
