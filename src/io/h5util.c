/*
 * h5util.c - see h5util.h.
 */
#include "io/h5util.h"

#include "base/sha256.h"

#include "base/fs.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sisa_h5_init(void)
{
    static int done;
    if (done) return;
    done = 1;
    /* No cleanup at exit: sisa closes every file itself, and after a file failed to close (an
     * I/O error) HDF5 1.10's exit-time cleanup closes it again and crashes (SIGSEGV in
     * H5F__close_cb), turning a reported error (exit 1) into a signal. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5PLset_loading_state(0);
}

typedef struct {
    char desc[8192]; /* room for a message that quotes a long path */
    int found;
} innermost;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    innermost *in = data;
    (void)n;
    if (!in->found && e->desc && *e->desc) {
        snprintf(in->desc, sizeof in->desc, "%s", e->desc);
        in->found = 1;
    }
    return 0;
}

/* HDF5's low-level I/O errors read "file write failed: time = <ctime with a newline>,
 * filename = ..., file descriptor = 6, errno = 28, error message = 'No space left on device',
 * buf = 0x..., ...". Keep "file write failed: No space left on device"; elsewhere only turn
 * line breaks into spaces. */
static void tidy_desc(char *desc)
{
    static const char key[] = "error message = '";
    char *m = strstr(desc, key), *cut = strstr(desc, ": time = ");
    if (m && cut && cut < m) {
        char *b = m + sizeof key - 1, *e = strchr(b, '\'');
        if (e) {
            size_t head = (size_t)(cut - desc) + 2, len = (size_t)(e - b);
            memmove(desc + head, b, len);
            desc[head + len] = '\0';
        }
    }
    for (char *c = desc; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

int sisa_h5_fail(int code, const char *src, int line, const char *fmt, ...)
{
    innermost in = {"", 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &in);
    H5Eclear2(H5E_DEFAULT);
    va_list ap;
    va_start(ap, fmt);
    sisa_error_setv(code, src, line, fmt, ap);
    va_end(ap);
    if (in.found) {
        /* The slot formats before it stores, so its own message may be an argument. */
        tidy_desc(in.desc);
        return sisa_error_set(code, src, line, "%s (HDF5: %s)", sisa_error_message(), in.desc);
    }
    return code;
}

int sisa_h5_close_file(hid_t *id)
{
    if (*id < 0) return 0;
    herr_t rc = H5Fclose(*id);
    *id = H5I_INVALID_HID;
    return rc < 0 ? -1 : 0;
}

void sisa_h5_close_quiet(hid_t *id)
{
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    default:
        break;
    }
    H5Eclear2(H5E_DEFAULT);
    *id = H5I_INVALID_HID;
}

static int attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t n,
                      const void *data)
{
    int err = SISA_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    hsize_t dims[1] = {n};
    if (H5Aexists(loc, name) > 0)
        SISA_H5(H5Adelete(loc, name), SISA_EIO, "cannot replace attribute %s", name);
    space = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
    SISA_H5(space, SISA_EIO, "cannot create dataspace for attribute %s", name);
    attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    SISA_H5(attr, SISA_EIO, "cannot create attribute %s", name);
    SISA_H5(H5Awrite(attr, mtype, data), SISA_EIO, "cannot write attribute %s", name);
    SISA_H5(H5Aclose(attr), SISA_EIO, "cannot close attribute %s", name);
    attr = H5I_INVALID_HID;
done:
    sisa_h5_close_quiet(&attr);
    sisa_h5_close_quiet(&space);
    return err;
}

int sisa_h5_attr_write_str(hid_t loc, const char *name, const char *value)
{
    int err = SISA_OK;
    hid_t t = H5Tcopy(H5T_C_S1);
    SISA_H5(t, SISA_EIO, "cannot create string type");
    SISA_H5(H5Tset_size(t, H5T_VARIABLE), SISA_EIO, "cannot size string type");
    SISA_H5(H5Tset_cset(t, H5T_CSET_UTF8), SISA_EIO, "cannot set string encoding");
    SISA_TRY(attr_write(loc, name, t, t, 0, &value));
done:
    sisa_h5_close_quiet(&t);
    return err;
}

int sisa_h5_attr_write_i32(hid_t loc, const char *name, int32_t value)
{
    return attr_write(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &value);
}

int sisa_h5_attr_write_u64s(hid_t loc, const char *name, const uint64_t *v, size_t n)
{
    return attr_write(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, n, v);
}

int sisa_h5_attr_write_i64s(hid_t loc, const char *name, const int64_t *v, size_t n)
{
    return attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v);
}

int sisa_h5_attr_write_f64(hid_t loc, const char *name, double v)
{
    return attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
}

static int attr_open(hid_t loc, const char *name, hid_t *attr, const char *file)
{
    int err = SISA_OK;
    htri_t ex = H5Aexists(loc, name);
    SISA_H5(ex, SISA_ECORRUPT, "%s: cannot look up attribute %s", file, name);
    if (!ex) return 0;
    *attr = H5Aopen(loc, name, H5P_DEFAULT);
    SISA_H5(*attr, SISA_ECORRUPT, "%s: cannot open attribute %s", file, name);
    return 1;
done:
    return err;
}

int sisa_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t cap, const char *file)
{
    int err = SISA_OK;
    hid_t attr = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID,
          space = H5I_INVALID_HID;
    char *vbuf = NULL, *fbuf = NULL;
    int found = attr_open(loc, name, &attr, file);
    if (found <= 0) return found;
    t = H5Aget_type(attr);
    SISA_H5(t, SISA_ECORRUPT, "%s: cannot read the type of attribute %s", file, name);
    SISA_CHECK(H5Tget_class(t) == H5T_STRING, SISA_ECORRUPT, "%s: attribute %s should be a string",
               file, name);
    space = H5Aget_space(attr);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read attribute %s", file, name);
    SISA_CHECK(H5Sget_simple_extent_npoints(space) == 1, SISA_ECORRUPT,
               "%s: attribute %s should hold one string", file, name);
    htri_t vlen = H5Tis_variable_str(t);
    SISA_H5(vlen, SISA_ECORRUPT, "%s: cannot read attribute %s", file, name);
    mt = H5Tcopy(H5T_C_S1);
    SISA_H5(mt, SISA_EIO, "cannot create string type");
    /* HDF5 converts strings only between types of the same character set (our writer stores
     * UTF-8, h5py may store ASCII): read in whatever set the file uses. */
    H5T_cset_t cset = H5Tget_cset(t);
    SISA_H5(cset, SISA_ECORRUPT, "%s: cannot read the encoding of attribute %s", file, name);
    SISA_H5(H5Tset_cset(mt, cset), SISA_EIO, "cannot set string encoding");
    if (vlen) {
        SISA_H5(H5Tset_size(mt, H5T_VARIABLE), SISA_EIO, "cannot size string type");
        SISA_H5(H5Aread(attr, mt, &vbuf), SISA_ECORRUPT, "%s: cannot read attribute %s", file,
                name);
        SISA_CHECK(snprintf(buf, cap, "%s", vbuf ? vbuf : "") < (int)cap, SISA_ECORRUPT,
                   "%s: attribute %s is longer than %zu bytes", file, name, cap - 1);
    } else {
        size_t sz = H5Tget_size(t);
        SISA_CHECK(sz > 0 && sz < (1u << 20), SISA_ECORRUPT, "%s: attribute %s has a bad size",
                   file, name);
        fbuf = sisa_calloc(1, sz + 1);
        SISA_CHECK(fbuf, SISA_ENOMEM, "out of memory");
        SISA_H5(H5Tset_size(mt, sz + 1), SISA_EIO, "cannot size string type");
        SISA_H5(H5Aread(attr, mt, fbuf), SISA_ECORRUPT, "%s: cannot read attribute %s", file, name);
        SISA_CHECK(snprintf(buf, cap, "%s", fbuf) < (int)cap, SISA_ECORRUPT,
                   "%s: attribute %s is longer than %zu bytes", file, name, cap - 1);
    }
    err = 1;
done:
    if (vbuf) H5free_memory(vbuf);
    sisa_free(fbuf);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&mt);
    sisa_h5_close_quiet(&t);
    sisa_h5_close_quiet(&attr);
    return err;
}

/* Open attribute `name` of class `cls` (`what` names it in messages) and get its value count:
 * 1 when found, 0 when absent, negative on error. */
static int attr_open_class(hid_t loc, const char *name, H5T_class_t cls, const char *what,
                           hid_t *attr, hssize_t *np, const char *file)
{
    int err = SISA_OK;
    hid_t t = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int found = attr_open(loc, name, attr, file);
    if (found <= 0) return found;
    t = H5Aget_type(*attr);
    SISA_H5(t, SISA_ECORRUPT, "%s: cannot read the type of attribute %s", file, name);
    SISA_CHECK(H5Tget_class(t) == cls, SISA_ECORRUPT, "%s: attribute %s should be %s", file, name,
               what);
    space = H5Aget_space(*attr);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read attribute %s", file, name);
    *np = H5Sget_simple_extent_npoints(space);
    err = 1;
done:
    if (err < 0) sisa_h5_close_quiet(attr);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&t);
    return err;
}

static int attr_read_ints(hid_t loc, const char *name, hid_t mtype, void *out, size_t cap,
                          size_t *n, const char *file)
{
    int err = SISA_OK;
    hid_t attr = H5I_INVALID_HID;
    hssize_t np = 0;
    int found = attr_open_class(loc, name, H5T_INTEGER, "an integer", &attr, &np, file);
    if (found <= 0) return found;
    SISA_CHECK(np >= 1 && (size_t)np <= cap, SISA_ECORRUPT,
               "%s: attribute %s has %lld values; expected 1 to %zu", file, name, (long long)np,
               cap);
    SISA_H5(H5Aread(attr, mtype, out), SISA_ECORRUPT, "%s: cannot read attribute %s", file, name);
    if (n) *n = (size_t)np;
    err = 1;
done:
    sisa_h5_close_quiet(&attr);
    return err;
}

int sisa_h5_attr_read_i32(hid_t loc, const char *name, int32_t *out, const char *file)
{
    return attr_read_ints(loc, name, H5T_NATIVE_INT32, out, 1, NULL, file);
}

int sisa_h5_attr_read_u64s(hid_t loc, const char *name, uint64_t *out, size_t cap, size_t *n,
                           const char *file)
{
    return attr_read_ints(loc, name, H5T_NATIVE_UINT64, out, cap, n, file);
}

int sisa_h5_attr_read_i64s(hid_t loc, const char *name, int64_t *out, size_t cap, size_t *n,
                           const char *file)
{
    return attr_read_ints(loc, name, H5T_NATIVE_INT64, out, cap, n, file);
}

int sisa_h5_attr_read_f64(hid_t loc, const char *name, double *out, const char *file)
{
    int err = SISA_OK;
    hid_t attr = H5I_INVALID_HID;
    hssize_t np = 0;
    int found = attr_open_class(loc, name, H5T_FLOAT, "a floating-point number", &attr, &np, file);
    if (found <= 0) return found;
    SISA_CHECK(np == 1, SISA_ECORRUPT, "%s: attribute %s should hold one number", file, name);
    SISA_H5(H5Aread(attr, H5T_NATIVE_DOUBLE, out), SISA_ECORRUPT, "%s: cannot read attribute %s",
            file, name);
    err = 1;
done:
    sisa_h5_close_quiet(&attr);
    return err;
}

static hid_t vlen_utf8(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int sisa_h5_write_strings(hid_t loc, const char *name, const char *const *v, size_t n,
                          const char *file)
{
    int err = SISA_OK;
    hid_t t = vlen_utf8();
    SISA_H5(t, SISA_EIO, "cannot create string type");
    const hsize_t dims[1] = {n};
    SISA_TRY(sisa_h5_write_dataset(loc, name, t, t, 1, dims, v, file));
done:
    sisa_h5_close_quiet(&t);
    return err;
}

int sisa_h5_read_strings(hid_t loc, const char *name, char ***out, size_t *n, size_t max,
                         size_t max_len, const char *file)
{
    int err = SISA_OK;
    hid_t ds = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID, space = H5I_INVALID_HID;
    char **raw = NULL, **res = NULL;
    hssize_t np = 0;
    *out = NULL;
    *n = 0;
    int found = sisa_h5_open_dataset(loc, name, &ds, file);
    if (found <= 0) return found;
    t = H5Dget_type(ds);
    SISA_H5(t, SISA_ECORRUPT, "%s: cannot read the type of %s", file, name);
    htri_t vlen = H5Tis_variable_str(t);
    SISA_CHECK(H5Tget_class(t) == H5T_STRING && vlen > 0, SISA_ECORRUPT,
               "%s: %s should hold variable-length strings", file, name);
    space = H5Dget_space(ds);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of %s", file, name);
    SISA_CHECK(H5Sget_simple_extent_ndims(space) == 1, SISA_ECORRUPT, "%s: %s should be 1-D", file,
               name);
    np = H5Sget_simple_extent_npoints(space);
    SISA_CHECK(np >= 0 && (size_t)np <= max, SISA_ECORRUPT,
               "%s: %s holds %lld strings; at most %zu are expected", file, name, (long long)np,
               max);
    mt = vlen_utf8();
    SISA_H5(mt, SISA_EIO, "cannot create string type");
    H5T_cset_t cset = H5Tget_cset(t);
    SISA_H5(cset, SISA_ECORRUPT, "%s: cannot read the encoding of %s", file, name);
    SISA_H5(H5Tset_cset(mt, cset), SISA_EIO, "cannot set string encoding");
    raw = sisa_calloc((size_t)np + 1, sizeof *raw);
    SISA_CHECK(raw, SISA_ENOMEM, "out of memory reading %s", name);
    if (np > 0)
        SISA_H5(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw), SISA_ECORRUPT,
                "%s: cannot read %s", file, name);
    size_t bytes = ((size_t)np + 1) * sizeof(char *);
    for (hssize_t i = 0; i < np; i++) {
        const size_t len = raw[i] ? strlen(raw[i]) : 0;
        SISA_CHECK(len <= max_len, SISA_ECORRUPT, "%s: %s[%lld] is longer than %zu bytes", file,
                   name, (long long)i, max_len);
        bytes += len + 1;
    }
    res = sisa_malloc(bytes);
    SISA_CHECK(res, SISA_ENOMEM, "out of memory reading %s", name);
    char *p = (char *)(res + np + 1);
    for (hssize_t i = 0; i < np; i++) {
        const size_t len = raw[i] ? strlen(raw[i]) : 0;
        memcpy(p, raw[i] ? raw[i] : "", len + 1);
        res[i] = p;
        p += len + 1;
    }
    res[np] = NULL;
    *out = res;
    *n = (size_t)np;
    res = NULL;
    err = 1;
done:
    if (raw) {
        for (hssize_t i = 0; i < np; i++)
            if (raw[i]) H5free_memory(raw[i]);
        sisa_free(raw);
    }
    sisa_free(res);
    sisa_h5_close_quiet(&mt);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&t);
    sisa_h5_close_quiet(&ds);
    return err;
}

int sisa_h5_open_dataset(hid_t loc, const char *name, hid_t *out, const char *file)
{
    int err = SISA_OK;
    *out = H5I_INVALID_HID;
    htri_t ex = H5Lexists(loc, name, H5P_DEFAULT);
    SISA_H5(ex, SISA_ECORRUPT, "%s: cannot look up '%s'", file, name);
    if (!ex) return 0;
    H5L_info_t li;
    SISA_H5(H5Lget_info(loc, name, &li, H5P_DEFAULT), SISA_ECORRUPT, "%s: cannot read link '%s'",
            file, name);
    SISA_CHECK(li.type == H5L_TYPE_HARD, SISA_ECORRUPT,
               "%s: '%s' is %s link; only datasets stored in the file itself are accepted", file,
               name, li.type == H5L_TYPE_SOFT ? "a soft" : "an external");
    H5O_info_t oi;
    SISA_H5(H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT), SISA_ECORRUPT,
            "%s: cannot inspect '%s'", file, name);
    SISA_CHECK(oi.type == H5O_TYPE_DATASET, SISA_ECORRUPT, "%s: '%s' is not a dataset", file, name);
    *out = H5Dopen2(loc, name, H5P_DEFAULT);
    SISA_H5(*out, SISA_ECORRUPT, "%s: cannot open dataset '%s'", file, name);
    return 1;
done:
    return err;
}

static int rows_io(hid_t dset, hid_t mtype, uint64_t row0, uint64_t rows, uint64_t cols, void *buf,
                   const char *file, int write)
{
    int err = SISA_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    if (rows == 0) return SISA_OK;
    fspace = H5Dget_space(dset);
    SISA_H5(fspace, SISA_EIO, "%s: cannot get dataspace", file);
    int rank = H5Sget_simple_extent_ndims(fspace);
    SISA_CHECK(rank == 1 || rank == 2, SISA_EINTERNAL, "%s: rows_io on rank %d", file, rank);
    hsize_t start[2] = {row0, 0}, count[2] = {rows, cols};
    SISA_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), SISA_EIO,
            "%s: cannot select rows %llu..%llu", file, (unsigned long long)row0,
            (unsigned long long)(row0 + rows - 1));
    mspace = H5Screate_simple(rank, count, NULL);
    SISA_H5(mspace, SISA_EIO, "%s: cannot create memory dataspace", file);
    if (write)
        SISA_H5(H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, buf), SISA_EIO,
                "%s: writing rows %llu..%llu failed", file, (unsigned long long)row0,
                (unsigned long long)(row0 + rows - 1));
    else
        SISA_H5(H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf), SISA_ECORRUPT,
                "%s: reading rows %llu..%llu failed", file, (unsigned long long)row0,
                (unsigned long long)(row0 + rows - 1));
done:
    sisa_h5_close_quiet(&mspace);
    sisa_h5_close_quiet(&fspace);
    return err;
}

int sisa_h5_write_rows(hid_t dset, hid_t mtype, uint64_t row0, uint64_t rows, uint64_t cols,
                       const void *buf, const char *file)
{
    return rows_io(dset, mtype, row0, rows, cols, (void *)buf, file, 1);
}

int sisa_h5_read_rows(hid_t dset, hid_t mtype, uint64_t row0, uint64_t rows, uint64_t cols,
                      void *buf, const char *file)
{
    return rows_io(dset, mtype, row0, rows, cols, buf, file, 0);
}

int sisa_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const hsize_t *dims, const void *data, const char *file)
{
    int err = SISA_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    space = H5Screate_simple(rank, dims, NULL);
    SISA_H5(space, SISA_EIO, "%s: cannot create the dataspace of %s", file, name);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    SISA_H5(dcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(dcpl, 0), SISA_EIO, "cannot disable time tracking");
    ds = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    SISA_H5(ds, SISA_EIO, "%s: cannot create dataset %s", file, name);
    if (H5Sget_simple_extent_npoints(space) > 0)
        SISA_H5(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), SISA_EIO,
                "%s: writing %s failed", file, name);
    SISA_H5(H5Dclose(ds), SISA_EIO, "%s: closing %s failed", file, name);
    ds = H5I_INVALID_HID;
done:
    sisa_h5_close_quiet(&ds);
    sisa_h5_close_quiet(&dcpl);
    sisa_h5_close_quiet(&space);
    return err;
}

int sisa_h5_tmp_create(hid_t *file, char *tmp, size_t cap, const char *path)
{
    int err = SISA_OK;
    *file = H5I_INVALID_HID;
    tmp[0] = '\0';
    sisa_h5_init();
    sisa_fs_clean_stale_tmps(path);
    SISA_TRY(sisa_fs_tmp_create(tmp, cap, path));
    *file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    SISA_H5(*file, SISA_EIO, "cannot create %s", tmp);
done:
    if (err < 0) sisa_h5_tmp_discard(file, tmp);
    return err;
}

int sisa_h5_tmp_publish(hid_t *file, char *tmp, const char *path, int replace)
{
    int err = SISA_OK;
    SISA_H5(sisa_h5_close_file(file), SISA_EIO, "%s: closing failed", tmp);
    SISA_TRY(sisa_fs_publish(tmp, path, replace));
    tmp[0] = '\0';
done:
    if (err < 0) sisa_h5_tmp_discard(file, tmp);
    return err;
}

void sisa_h5_tmp_discard(hid_t *file, char *tmp)
{
    sisa_h5_close_quiet(file);
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    tmp[0] = '\0';
}

int sisa_h5_create_file(hid_t *file, const char *path)
{
    int err = SISA_OK;
    sisa_h5_init();
    *file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    SISA_H5(*file, SISA_EIO, "cannot create %s", path);
done:
    return err;
}

int sisa_h5_finish_file(hid_t *file, const char *path)
{
    int err = SISA_OK;
    SISA_H5(sisa_h5_close_file(file), SISA_EIO, "%s: closing failed", path);
    SISA_TRY(sisa_fs_fsync_file(path));
done:
    sisa_h5_close_quiet(file);
    return err;
}

int sisa_h5_create_image(hid_t *file, const char *path)
{
    int err = SISA_OK;
    hid_t fapl = H5I_INVALID_HID;
    sisa_h5_init();
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    SISA_H5(fapl, SISA_EIO, "cannot create a property list");
    /* In memory only (no backing store): sisa_h5_finish_image writes the bytes. */
    SISA_H5(H5Pset_fapl_core(fapl, (size_t)1 << 20, 0), SISA_EIO, "cannot select memory files");
    *file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    SISA_H5(*file, SISA_EIO, "cannot create %s in memory", path);
done:
    sisa_h5_close_quiet(&fapl);
    return err;
}

int sisa_h5_finish_image(hid_t *file, const char *path, char sha[SISA_SHA256_HEX])
{
    int err = SISA_OK;
    char *buf = NULL;
    int fd = -1;
    SISA_H5(H5Fflush(*file, H5F_SCOPE_GLOBAL), SISA_EIO, "%s: flushing failed", path);
    ssize_t size = H5Fget_file_image(*file, NULL, 0);
    SISA_CHECK(size > 0, SISA_EIO, "%s: cannot size the file image", path);
    buf = sisa_malloc((size_t)size);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory for %s", path);
    SISA_CHECK(H5Fget_file_image(*file, buf, (size_t)size) == size, SISA_EIO,
               "%s: cannot copy the file image", path);
    SISA_H5(sisa_h5_close_file(file), SISA_EIO, "%s: closing failed", path);
    uint8_t d[SISA_SHA256_LEN];
    sisa_sha256(d, buf, (size_t)size);
    sisa_hex(sha, d, SISA_SHA256_LEN);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    for (size_t off = 0; off < (size_t)size;) {
        ssize_t w = write(fd, buf + off, (size_t)size - off);
        if (w < 0 && errno == EINTR) continue;
        SISA_CHECK(w > 0, SISA_EIO, "cannot write %s: %s", path,
                   w < 0 ? strerror(errno) : "no progress");
        off += (size_t)w;
    }
    SISA_CHECK(fsync(fd) == 0, SISA_EIO, "cannot fsync %s: %s", path, strerror(errno));
done:
    if (fd >= 0 && close(fd) != 0 && err == SISA_OK)
        err = SISA_ERR(SISA_EIO, "cannot close %s: %s", path, strerror(errno));
    sisa_free(buf);
    sisa_h5_close_quiet(file);
    return err;
}
