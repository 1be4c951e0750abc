/*
 * h5import.c - `sisa import h5`: a user's HDF5 file, validated and rewritten in sisa's schema.
 *
 * The input is foreign: HDF5 1.10 "is not designed to handle maliciously crafted files safely"
 * (../shared/notes/reliability.md), so the file is parsed only in a sandboxed child process
 * (base/sandbox.h) with a CPU limit, HDF5 plugins off and HDF5's environment hooks removed. The
 * split of work keeps every decision about the output in the parent:
 *
 *   parent: check options; refuse an existing output without --force before any work; remove
 *           stale temps; create the temp file next to the output; run the child; publish the
 *           temp file on success, remove it on any failure (a crashed child included).
 *   child:  open the input, inspect every dataset it will use (hard links only, no external or
 *           virtual storage, type class, rank, length) before reading any data, then stream rows
 *           in blocks into a writer on the parent's temp file (commit fsyncs, never publishes)
 *           and hand back the summary as its result.
 *
 * X may be any integer or floating-point type of rank >= 2 (trailing dimensions are flattened
 * and kept as feature_shape); it is read as double so every value can be checked to be finite
 * and within float32 range before it is narrowed. y, id and group must be integer columns of
 * one entry per row; IDs and groups must be non-negative and labels must fit in int64.
 */
#include "sisa/import.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sandbox.h"
#include "io/h5check.h"
#include "io/h5util.h"
#include "io/import_internal.h"
#include "base/mem.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define X_MAX_RANK       (1 + SISA_MAX_FEATURE_RANK)
#define X_MAX_FEATURES   (1u << 24)
#define BLOCK_MAX_ROWS   4096
#define BLOCK_MAX_BYTES  (8u << 20) /* of double features per block */
#define CPU_BASE_SECONDS 600u
#define CPU_MAX_SECONDS  (7u * 24 * 3600)

typedef struct {
    const char *path; /* the input */
    const char *tmp;  /* the parent's temp file, which the child fills */
    const sisa_import_opts *o;
} h5_job;

/* One integer column (y, id or group) of the input. */
typedef struct {
    const char *name;
    const char *role; /* "labels", "sample IDs", "group keys" */
    hid_t ds;
    int is_signed;
    size_t size;
} int_column;

/* The role of --risk's column: the one column that may also hold floating-point values
 * (probabilities, with --risk-cuts). */
static const char risk_role[] = "risk values";

/* Environment variables through which HDF5 would load code or open other files. */
static const char *const hdf5_env_hooks[] = {
    "HDF5_PLUGIN_PATH", "HDF5_PLUGIN_PRELOAD", "HDF5_VOL_CONNECTOR",
    "HDF5_DRIVER",      "HDF5_DRIVER_CONFIG",  "HDF5_EXTFILE_PREFIX",
};

/* Open an optional or required dataset, refusing storage outside the file. */
static int open_input(hid_t file, const char *name, const char *option, int required, hid_t *out,
                      const char *path)
{
    int err = SISA_OK;
    int found = sisa_h5_open_path(file, name, out, path);
    SISA_TRY(found);
    if (!found) {
        SISA_CHECK(!required, SISA_ECORRUPT, "%s: there is no dataset '%s'%s%s%s", path, name,
                   option ? " (name another with " : "", option ? option : "", option ? ")" : "");
        return 0;
    }
    SISA_TRY(sisa_h5_check_storage(*out, name, path));
    return 1;
done:
    return err;
}

/* Check an integer column's type and shape. */
static int check_column(int_column *c, uint64_t n, const char *path)
{
    int err = SISA_OK;
    hid_t t = H5I_INVALID_HID;
    char desc[64];
    int rank = 0;
    hsize_t dims[X_MAX_RANK];
    t = H5Dget_type(c->ds);
    SISA_H5(t, SISA_ECORRUPT, "%s: cannot read the type of '%s'", path, c->name);
    if (H5Tget_class(t) != H5T_INTEGER && !(c->role == risk_role && H5Tget_class(t) == H5T_FLOAT)) {
        sisa_h5_describe_type(t, desc, sizeof desc);
        SISA_FAIL(SISA_ECORRUPT, "%s: '%s' holds %s; %s must be %s", path, c->name, desc, c->role,
                  c->role == risk_role ? "numbers" : "integers");
    }
    c->is_signed = H5Tget_sign(t) != H5T_SGN_NONE;
    c->size = H5Tget_size(t);
    SISA_TRY(sisa_h5_shape(c->ds, &rank, dims, X_MAX_RANK, c->name, path));
    SISA_CHECK(rank == 1, SISA_ECORRUPT,
               "%s: '%s' should have 1 dimension (one entry per row) but has %d", path, c->name,
               rank);
    SISA_CHECK(dims[0] == n, SISA_ECORRUPT, "%s: '%s' has %llu entries but X has %llu rows", path,
               c->name, (unsigned long long)dims[0], (unsigned long long)n);
done:
    sisa_h5_close_quiet(&t);
    return err;
}

/* Read rows r0..r0+nr-1 of a dataset of any rank (every trailing dimension whole). */
static int read_block(hid_t ds, int rank, const hsize_t *dims, uint64_t r0, uint64_t nr,
                      hid_t mtype, void *buf, const char *name, const char *path)
{
    int err = SISA_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t start[X_MAX_RANK] = {0}, count[X_MAX_RANK];
    start[0] = r0;
    count[0] = nr;
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    fspace = H5Dget_space(ds);
    SISA_H5(fspace, SISA_ECORRUPT, "%s: cannot read the shape of '%s'", path, name);
    SISA_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), SISA_ECORRUPT,
            "%s: cannot select rows of '%s'", path, name);
    mspace = H5Screate_simple(rank, count, NULL);
    SISA_H5(mspace, SISA_EIO, "cannot create a memory dataspace");
    SISA_H5(H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, buf), SISA_ECORRUPT,
            "%s: reading rows %llu..%llu of '%s' failed", path, (unsigned long long)r0,
            (unsigned long long)(r0 + nr - 1), name);
done:
    sisa_h5_close_quiet(&mspace);
    sisa_h5_close_quiet(&fspace);
    return err;
}

/* Labels as int64: unsigned 64-bit sources are read as such so that values above INT64_MAX
 * are caught (HDF5 would clamp them). */
static int read_labels(const int_column *c, uint64_t r0, uint64_t nr, int64_t *out,
                       uint64_t *scratch, const char *path)
{
    int err = SISA_OK;
    hsize_t dims[1] = {0};
    if (c->is_signed || c->size < 8) {
        SISA_TRY(read_block(c->ds, 1, dims, r0, nr, H5T_NATIVE_INT64, out, c->name, path));
    } else {
        SISA_TRY(read_block(c->ds, 1, dims, r0, nr, H5T_NATIVE_UINT64, scratch, c->name, path));
        for (uint64_t i = 0; i < nr; i++) {
            SISA_CHECK(scratch[i] <= INT64_MAX, SISA_ECORRUPT,
                       "%s: '%s' row %llu holds label %llu, which does not fit in int64", path,
                       c->name, (unsigned long long)(r0 + i), (unsigned long long)scratch[i]);
            out[i] = (int64_t)scratch[i];
        }
    }
done:
    return err;
}

/* IDs and groups as uint64: signed sources are read as int64 and must be non-negative. */
static int read_keys(const int_column *c, uint64_t r0, uint64_t nr, uint64_t *out, int64_t *scratch,
                     const char *path)
{
    int err = SISA_OK;
    hsize_t dims[1] = {0};
    if (!c->is_signed) {
        SISA_TRY(read_block(c->ds, 1, dims, r0, nr, H5T_NATIVE_UINT64, out, c->name, path));
    } else {
        SISA_TRY(read_block(c->ds, 1, dims, r0, nr, H5T_NATIVE_INT64, scratch, c->name, path));
        for (uint64_t i = 0; i < nr; i++) {
            SISA_CHECK(scratch[i] >= 0, SISA_ECORRUPT,
                       "%s: '%s' row %llu is %lld; %s must be non-negative", path, c->name,
                       (unsigned long long)(r0 + i), (long long)scratch[i], c->role);
            out[i] = (uint64_t)scratch[i];
        }
    }
done:
    return err;
}

/* Narrow a block of doubles to float32, naming the first value that is not finite or does not
 * fit. */
static int narrow(const double *in, float *out, uint64_t count, uint64_t d, uint64_t r0,
                  const char *name, const char *path)
{
    int bad = 0;
    for (uint64_t i = 0; i < count; i++) {
        double v = in[i];
        int ok = v >= -FLT_MAX && v <= FLT_MAX; /* false for NaN and infinities too */
        bad |= !ok;
        out[i] = ok ? (float)v : 0.0f;
    }
    if (!bad) return SISA_OK;
    for (uint64_t i = 0; i < count; i++) {
        double v = in[i];
        if (v >= -FLT_MAX && v <= FLT_MAX) continue;
        unsigned long long row = r0 + i / d, col = i % d;
        if (isnan(v))
            return SISA_ERR(SISA_ECORRUPT, "%s: '%s' row %llu, column %llu is NaN", path, name, row,
                            col);
        if (isinf(v))
            return SISA_ERR(SISA_ECORRUPT, "%s: '%s' row %llu, column %llu is infinite", path, name,
                            row, col);
        return SISA_ERR(SISA_ECORRUPT,
                        "%s: '%s' row %llu, column %llu is %g, outside the float32 range", path,
                        name, row, col, v);
    }
    return SISA_ERR(SISA_EINTERNAL, "%s: bad value not found", path);
}

/* The child's work (see the file comment). Runs in the sandbox; `result` receives the
 * sisa_dataset_summary. */
static int child_import(void *arg, void *result)
{
    int err = SISA_OK;
    const h5_job *job = arg;
    const sisa_import_opts *o = job->o;
    const char *path = job->path;
    hid_t file = H5I_INVALID_HID, x = H5I_INVALID_HID, xt = H5I_INVALID_HID;
    int_column y = {o->y_name ? o->y_name : "y", "labels", H5I_INVALID_HID, 0, 0};
    int_column id = {o->id_name ? o->id_name : "id", "sample IDs", H5I_INVALID_HID, 0, 0};
    int_column group = {o->group_name ? o->group_name : "group", "group keys", H5I_INVALID_HID, 0,
                        0};
    int_column risk = {o->risk_col, risk_role, H5I_INVALID_HID, 0, 0};
    sisa_risk_map risk_map;
    double *risk_v = NULL;
    uint8_t *tiers = NULL;
    const char *x_name = o->x_name ? o->x_name : "X";
    sisa_dataset_writer *w = NULL;
    double *xd = NULL;
    float *xf = NULL;
    int64_t *labels = NULL, *iscratch = NULL;
    uint64_t *ids = NULL, *groups = NULL, *uscratch = NULL;
    sisa_progress prog;
    int prog_started = 0;
    char desc[64], source[1024];

    for (size_t i = 0; i < sizeof hdf5_env_hooks / sizeof hdf5_env_hooks[0]; i++)
        unsetenv(hdf5_env_hooks[i]);
    sisa_h5_init();
    htri_t is_h5 = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    SISA_CHECK(is_h5 > 0, SISA_ECORRUPT, "%s is not an HDF5 file", path);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_ECORRUPT, "%s: cannot open the HDF5 file", path);

    /* Every dataset is opened and inspected before any data is read. */
    SISA_TRY(open_input(file, x_name, o->x_name ? NULL : "--x NAME", 1, &x, path));
    if (!o->unlabelled)
        SISA_TRY(open_input(file, y.name, o->y_name ? NULL : "--y NAME (or --unlabelled)", 1, &y.ds,
                            path));
    int has_id = open_input(file, id.name, NULL, o->id_name != NULL, &id.ds, path);
    SISA_TRY(has_id);
    int has_group = open_input(file, group.name, NULL, o->group_name != NULL, &group.ds, path);
    SISA_TRY(has_group);
    SISA_TRY(sisa_risk_map_init(&risk_map, o));
    if (o->risk_col) SISA_TRY(open_input(file, risk.name, NULL, 1, &risk.ds, path));

    xt = H5Dget_type(x);
    SISA_H5(xt, SISA_ECORRUPT, "%s: cannot read the type of '%s'", path, x_name);
    H5T_class_t xc = H5Tget_class(xt);
    if (xc != H5T_INTEGER && xc != H5T_FLOAT) {
        sisa_h5_describe_type(xt, desc, sizeof desc);
        SISA_FAIL(SISA_ECORRUPT,
                  "%s: '%s' holds %s; features must be integers or floating-point "
                  "numbers",
                  path, x_name, desc);
    }
    int rank = 0;
    hsize_t dims[X_MAX_RANK];
    SISA_TRY(sisa_h5_shape(x, &rank, dims, X_MAX_RANK, x_name, path));
    SISA_CHECK(rank >= 2, SISA_ECORRUPT,
               "%s: '%s' has %d dimension%s; features need at least 2 (rows, then the features "
               "of each row)",
               path, x_name, rank, rank == 1 ? "" : "s");
    const uint64_t n = dims[0];
    SISA_CHECK(n >= 1, SISA_ECORRUPT, "%s: '%s' has no rows", path, x_name);
    uint64_t d = 1;
    for (int i = 1; i < rank; i++) {
        SISA_CHECK(dims[i] >= 1, SISA_ECORRUPT, "%s: '%s' has no features (dimension %d is 0)",
                   path, x_name, i + 1);
        SISA_CHECK(dims[i] <= X_MAX_FEATURES && d * dims[i] <= X_MAX_FEATURES, SISA_ECORRUPT,
                   "%s: '%s' has more than %u features per row, which is not supported", path,
                   x_name, X_MAX_FEATURES);
        d *= dims[i];
    }
    if (!o->unlabelled) SISA_TRY(check_column(&y, n, path));
    if (has_id) SISA_TRY(check_column(&id, n, path));
    if (has_group) SISA_TRY(check_column(&group, n, path));
    if (o->risk_col) SISA_TRY(check_column(&risk, n, path));
    if (!has_id) SISA_TRY(sisa_import_check_id_offset(o, n, "rows"));

    uint64_t block = BLOCK_MAX_BYTES / (d * sizeof(double));
    if (block > BLOCK_MAX_ROWS) block = BLOCK_MAX_ROWS;
    if (block == 0) block = 1;
    xd = sisa_malloc(block * d * sizeof *xd);
    xf = sisa_malloc(block * d * sizeof *xf);
    labels = o->unlabelled ? NULL : sisa_malloc(block * sizeof *labels);
    ids = sisa_malloc(block * sizeof *ids);
    iscratch = sisa_malloc(block * sizeof *iscratch);
    uscratch = sisa_malloc(block * sizeof *uscratch);
    groups = has_group ? sisa_malloc(block * sizeof *groups) : NULL;
    SISA_CHECK(xd && xf && (labels || o->unlabelled) && ids && iscratch && uscratch &&
                   (groups || !has_group),
               SISA_ENOMEM, "out of memory for a block of %llu rows", (unsigned long long)block);
    if (o->risk_col) {
        risk_v = sisa_malloc(block * sizeof *risk_v);
        tiers = sisa_malloc(block);
        SISA_CHECK(risk_v && tiers, SISA_ENOMEM, "out of memory");
    }

    int used =
        snprintf(source, sizeof source, "h5 %s x=%s y=%s id=%s", sisa_import_input_name(o, path),
                 x_name, o->unlabelled ? "none" : y.name, has_id ? id.name : "row");
    if (has_group && used > 0 && (size_t)used < sizeof source)
        snprintf(source + used, sizeof source - (size_t)used, " group=%s", group.name);
    sisa_import_risk_source(source, sizeof source, o);
    sisa_writer_opts wo;
    sisa_import_writer_opts(&wo, o, source);
    wo.has_group = has_group;
    wo.has_risk = o->risk_col != NULL;
    wo.n_hint = n;
    wo.tmp_path = job->tmp;
    wo.feature_rank = rank - 1;
    for (int i = 1; i < rank; i++) wo.feature_shape[i - 1] = dims[i];
    /* With tmp_path the writer neither checks nor publishes its `path`, which then only names
     * the file in its messages: name the input, where a duplicate ID or a bad label lives. */
    SISA_TRY(sisa_dataset_writer_open(&w, path, d, &wo));

    sisa_progress_start(&prog, "import h5", "rows", n);
    prog_started = 1;
    for (uint64_t r0 = 0; r0 < n; r0 += block) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted; %s was not written",
                   o->out);
        const uint64_t nr = n - r0 < block ? n - r0 : block;
        SISA_TRY(read_block(x, rank, dims, r0, nr, H5T_NATIVE_DOUBLE, xd, x_name, path));
        SISA_TRY(narrow(xd, xf, nr * d, d, r0, x_name, path));
        if (!o->unlabelled) SISA_TRY(read_labels(&y, r0, nr, labels, uscratch, path));
        /* Labels outside 0..SISA_MAX_CLASSES-1 are the writer's to report; a probable typo
         * among inferred classes is caught here, before the rest of the file is read. */
        for (uint64_t i = 0; !o->unlabelled && !o->num_classes && !o->remap_labels && i < nr; i++)
            if (labels[i] >= SISA_INFER_CLASSES_MAX && labels[i] < SISA_MAX_CLASSES) {
                err = sisa_import_label_typo(labels[i], "%s: '%s' row %llu", path, y.name,
                                             (unsigned long long)(r0 + i));
                goto done;
            }
        if (has_id)
            SISA_TRY(read_keys(&id, r0, nr, ids, iscratch, path));
        else
            for (uint64_t i = 0; i < nr; i++) ids[i] = o->id_offset + r0 + i;
        if (has_group) SISA_TRY(read_keys(&group, r0, nr, groups, iscratch, path));
        SISA_TRY(sisa_dataset_writer_append(w, xf, o->unlabelled ? NULL : labels, ids, groups, nr));
        if (o->risk_col) {
            char why[200];
            SISA_TRY(
                read_block(risk.ds, 1, dims, r0, nr, H5T_NATIVE_DOUBLE, risk_v, risk.name, path));
            for (uint64_t i = 0; i < nr; i++)
                SISA_CHECK(sisa_risk_tier(&risk_map, risk_v[i], &tiers[i], why, sizeof why) == 0,
                           SISA_ECORRUPT, "%s: '%s' row %llu: %s", path, risk.name,
                           (unsigned long long)(r0 + i), why);
            SISA_TRY(sisa_dataset_writer_append_risk(w, tiers, nr));
        }
        sisa_progress_update(&prog, r0 + nr);
    }
    sisa_dataset_writer *done_w = w;
    w = NULL; /* commit frees the writer, whatever happens */
    SISA_TRY(sisa_dataset_writer_commit(done_w, result));
done:
    if (prog_started) sisa_progress_finish(&prog);
    sisa_dataset_writer_abort(w);
    sisa_h5_close_quiet(&xt);
    sisa_h5_close_quiet(&risk.ds);
    sisa_h5_close_quiet(&group.ds);
    sisa_h5_close_quiet(&id.ds);
    sisa_h5_close_quiet(&y.ds);
    sisa_h5_close_quiet(&x);
    sisa_h5_close_quiet(&file);
    sisa_free(xd);
    sisa_free(xf);
    sisa_free(labels);
    sisa_free(ids);
    sisa_free(groups);
    sisa_free(iscratch);
    sisa_free(uscratch);
    sisa_free(risk_v);
    sisa_free(tiers);
    return err;
}

int sisa_import_h5_accept(const sisa_dataset_summary *s, const char *tmp, const char *path,
                          int unlabelled)
{
    int err = SISA_OK;
    struct stat st;
    /* A child that parsed a hostile file may be anything: believe nothing it says that can be
     * checked, and say which promise it broke. */
    const char *bad = NULL;
    if (s->n < 1)
        bad = "no rows";
    else if (s->d < 1 || s->d > X_MAX_FEATURES)
        bad = "a feature count outside 1..2^24";
    else if (unlabelled && s->num_classes != 0)
        bad = "classes for unlabelled data";
    else if (!unlabelled && (s->num_classes < 2 || s->num_classes > SISA_MAX_CLASSES))
        bad = "a class count outside 2..2^20";
    else if (s->has_group != 0 && s->has_group != 1)
        bad = "a bad group flag";
    else if ((s->has_risk != 0 && s->has_risk != 1) || s->risk_max < 0 || s->risk_max > 255)
        bad = "a bad risk flag or tier";
    else if (s->id_min > s->id_max || s->id_max - s->id_min < s->n - 1)
        bad = "an ID range too small for unique IDs";
    else if (!isfinite(s->x_min) || !isfinite(s->x_max) || s->x_min > s->x_max)
        bad = "a bad range of feature values";
    else if (s->n > UINT64_MAX / 4 / s->d)
        bad = "a matrix larger than memory can address";
    SISA_CHECK(!bad, SISA_ECORRUPT,
               "%s: the sandboxed reader sent a summary with %s; the output is not used", path,
               bad);
    SISA_CHECK(stat(tmp, &st) == 0, SISA_EIO, "cannot open %s: %s", tmp, strerror(errno));
    SISA_CHECK((uint64_t)st.st_size == s->file_bytes && s->file_bytes >= s->n * s->d * 4,
               SISA_ECORRUPT,
               "%s: the sandboxed reader wrote %llu bytes but reported %llu for %llu rows of %llu "
               "features; the output is not used",
               path, (unsigned long long)st.st_size, (unsigned long long)s->file_bytes,
               (unsigned long long)s->n, (unsigned long long)s->d);
done:
    return err;
}

int sisa_import_h5(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o)
{
    int err = SISA_OK;
    char tmp[SISA_PATH_MAX] = "", what[SISA_PATH_MAX + 16];
    sisa_dataset_summary s;
    SISA_TRY(sisa_import_check_common(o));
    SISA_CHECK(path && *path, SISA_EUSAGE, "sisa import h5: no input file given");
    if (!strcmp(path, "-")) return sisa_import_spooled(out, o, sisa_import_h5);
    if (o->unlabelled) /* labelled, y defaults to "y" */
        SISA_TRY(sisa_import_check_labels(o, o->y_name, "--y NAME", "labels dataset"));
    SISA_CHECK(o->force || !sisa_fs_exists(o->out), SISA_EEXIST,
               "%s already exists (pass --force to replace it)", o->out);
    struct stat st;
    SISA_CHECK(stat(path, &st) == 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    SISA_CHECK(S_ISREG(st.st_mode), SISA_EIO, "%s is not a regular file", path);

    sisa_fs_clean_stale_tmps(o->out);
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, o->out));
    /* A generous budget: ten minutes plus a second per MiB (reading runs at well over 1 MiB/s;
     * the limit only stops a parser that loops on a crafted file). */
    uint64_t cpu = CPU_BASE_SECONDS + (uint64_t)st.st_size / (1u << 20);
    if (cpu > CPU_MAX_SECONDS) cpu = CPU_MAX_SECONDS;
    snprintf(what, sizeof what, "reading %s", path);
    h5_job job = {path, tmp, o};
    memset(&s, 0, sizeof s);
    SISA_TRY(sisa_sandbox_run(child_import, &job, &s, sizeof s, what, (unsigned)cpu));
    SISA_TRY(sisa_import_h5_accept(&s, tmp, path, o->unlabelled));
    SISA_TRY(sisa_fs_publish(tmp, o->out, o->force));
    tmp[0] = '\0'; /* published */
    if (out) *out = s;
done:
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    return err;
}
