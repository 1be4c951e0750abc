/*
 * sharddata.c - one shard's rows (STORE/shards/KKKK/data.h5), see store_io.h.
 *
 * A shard file is rewritten whole when rows are deleted: a new file next to it, fsynced, renamed
 * over the old one. HDF5 keeps the bytes of deleted objects inside a file
 * (../shared/notes/reliability.md), so editing in place would leave deleted rows on disk; a new
 * file holds only the surviving rows. Data are stored contiguous and uncompressed so that
 * `sisa audit` can scan raw bytes.
 */
#include "io/store_io.h"

#include "base/fs.h"
#include "base/sha256.h"
#include "base/sysio.h"
#include "io/h5util.h"
#include "sisa/dataset.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define X_CHUNK_BYTES  ((size_t)8 << 20)
#define META_BUF_BYTES ((size_t)1 << 20)

int sisa_shard_data_alloc(sisa_shard_data **out, uint32_t shard, uint64_t n, uint64_t d,
                          int32_t num_classes, int has_group)
{
    int err = SISA_OK;
    sisa_shard_data *sd = sisa_calloc(1, sizeof *sd);
    SISA_CHECK(sd, SISA_ENOMEM, "out of memory");
    sd->shard = shard;
    sd->n = n;
    sd->d = d;
    sd->num_classes = num_classes;
    size_t rows = n ? n : 1;
    SISA_CHECK(d == 0 || rows <= SIZE_MAX / sizeof(float) / d, SISA_ENOMEM,
               "shard %u: %llu rows x %llu features does not fit in memory", shard,
               (unsigned long long)n, (unsigned long long)d);
    sd->X = sisa_alloc_large(rows * (d ? d : 1) * sizeof(float));
    sd->y = sisa_malloc(rows * sizeof *sd->y);
    sd->id = sisa_malloc(rows * sizeof *sd->id);
    sd->slice = sisa_malloc(rows * sizeof *sd->slice);
    if (has_group) sd->group = sisa_malloc(rows * sizeof *sd->group);
    SISA_CHECK(sd->X && sd->y && sd->id && sd->slice && (!has_group || sd->group), SISA_ENOMEM,
               "out of memory for shard %u (%llu rows)", shard, (unsigned long long)n);
    *out = sd;
    sd = NULL;
done:
    sisa_shard_data_free(sd);
    return err;
}

void sisa_shard_data_free(sisa_shard_data *sd)
{
    if (!sd) return;
    sisa_free(sd->X);
    sisa_free(sd->y);
    sisa_free(sd->id);
    sisa_free(sd->group);
    sisa_free(sd->slice);
    sisa_free(sd);
}

/* Hash bytes [from, to) of the file fd by reading them. */
static int hash_file_range(sisa_sha256_ctx *h, int fd, uint64_t from, uint64_t to, char *buf,
                           const char *path)
{
    while (from < to) {
        size_t want = to - from < META_BUF_BYTES ? (size_t)(to - from) : META_BUF_BYTES;
        ssize_t got = pread(fd, buf, want, (off_t)from);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return SISA_ERR(SISA_EIO, "cannot read back %s: %s", path,
                            got < 0 ? strerror(errno) : "unexpected end of file");
        sisa_sha256_update(h, buf, (size_t)got);
        from += (uint64_t)got;
    }
    return SISA_OK;
}

static int pwrite_all(int fd, const void *data, size_t len, uint64_t off, const char *path)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return SISA_ERR(SISA_EIO, "cannot write %s: %s", path,
                            w < 0 ? strerror(errno) : "no progress");
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return SISA_OK;
}

/* The file is written in two steps so that its SHA-256 is computed while it is written, and the
 * rows are never copied: HDF5 writes the small columns, the attributes and its metadata, with X
 * allocated (contiguous, never filled) but not written; then X's bytes go from sd->X straight to
 * their place in the file, in chunks, each hashed as it is written and handed to the disk at once
 * (sisa_writeback_start), so that the final fsync finds little to do. The bytes before and after
 * X are HDF5's own (a few KB of metadata, then the columns): they are read back and hashed in
 * file order around X. The hash is therefore the hash of the file's bytes, as a reader computes
 * it, and X is read from memory once. */
int sisa_shard_data_write_hashed(const char *path, const sisa_shard_data *sd,
                                 char sha[SISA_SHA256_HEX])
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID,
          x = H5I_INVALID_HID;
    int fd = -1;
    char *buf = NULL;
    SISA_TRY(sisa_h5_create_file(&file, path));
    hsize_t xdims[2] = {sd->n, sd->d}, ndims[1] = {sd->n};
    const uint64_t xbytes = sd->n * sd->d * sizeof(float);
    uint64_t xoff = 0;
    space = H5Screate_simple(2, xdims, NULL);
    SISA_H5(space, SISA_EIO, "%s: cannot create the dataspace of X", path);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    SISA_H5(dcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(dcpl, 0), SISA_EIO, "cannot disable time tracking");
    SISA_H5(H5Pset_layout(dcpl, H5D_CONTIGUOUS), SISA_EIO, "cannot set a contiguous layout");
    SISA_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), SISA_EIO, "cannot set early allocation");
    SISA_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), SISA_EIO, "cannot turn filling off");
    x = H5Dcreate2(file, "X", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    SISA_H5(x, SISA_EIO, "%s: cannot create dataset X", path);
    if (xbytes) {
        haddr_t a = H5Dget_offset(x);
        SISA_CHECK(a != HADDR_UNDEF, SISA_EIO, "%s: X has no place in the file", path);
        xoff = (uint64_t)a;
    }
    SISA_H5(H5Dclose(x), SISA_EIO, "%s: closing X failed", path);
    x = H5I_INVALID_HID;
    SISA_TRY(
        sisa_h5_write_dataset(file, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ndims, sd->y, path));
    SISA_TRY(sisa_h5_write_dataset(file, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims, sd->id,
                                   path));
    SISA_TRY(sisa_h5_write_dataset(file, "slice", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ndims,
                                   sd->slice, path));
    if (sd->group)
        SISA_TRY(sisa_h5_write_dataset(file, "group", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims,
                                       sd->group, path));
    SISA_TRY(sisa_h5_attr_write_str(file, "sisa_format", SISA_SHARD_FORMAT));
    SISA_TRY(sisa_h5_attr_write_i32(file, "sisa_format_version", 1));
    SISA_TRY(sisa_h5_attr_write_i32(file, "shard", (int32_t)sd->shard));
    SISA_TRY(sisa_h5_attr_write_i32(file, "num_classes", sd->num_classes));
    uint64_t d = sd->d;
    SISA_TRY(sisa_h5_attr_write_u64s(file, "features", &d, 1));
    SISA_H5(sisa_h5_close_file(&file), SISA_EIO, "%s: closing failed", path);

    fd = open(path, O_RDWR | O_CLOEXEC);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat stt;
    SISA_CHECK(fstat(fd, &stt) == 0, SISA_EIO, "cannot stat %s: %s", path, strerror(errno));
    const uint64_t size = (uint64_t)stt.st_size;
    SISA_CHECK(xoff + xbytes <= size, SISA_EIO,
               "%s: HDF5 placed X at %llu..%llu, beyond the file's %llu bytes", path,
               (unsigned long long)xoff, (unsigned long long)(xoff + xbytes),
               (unsigned long long)size);
    buf = sisa_malloc(META_BUF_BYTES);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory");
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    SISA_TRY(hash_file_range(&h, fd, 0, xoff, buf, path));
    const char *xp = (const char *)sd->X;
    for (uint64_t o = 0; o < xbytes; o += X_CHUNK_BYTES) {
        size_t len = xbytes - o < X_CHUNK_BYTES ? (size_t)(xbytes - o) : X_CHUNK_BYTES;
        SISA_TRY(pwrite_all(fd, xp + o, len, xoff + o, path));
        sisa_writeback_start(fd, (off_t)(xoff + o), len);
        sisa_sha256_update(&h, xp + o, len);
    }
    SISA_TRY(hash_file_range(&h, fd, xoff + xbytes, size, buf, path));
    SISA_CHECK(fsync(fd) == 0, SISA_EIO, "cannot fsync %s: %s", path, strerror(errno));
    uint8_t dg[SISA_SHA256_LEN];
    sisa_sha256_final(&h, dg);
    sisa_hex(sha, dg, SISA_SHA256_LEN);
done:
    sisa_free(buf);
    if (fd >= 0 && close(fd) != 0 && err == SISA_OK)
        err = SISA_ERR(SISA_EIO, "cannot close %s: %s", path, strerror(errno));
    sisa_h5_close_quiet(&x);
    sisa_h5_close_quiet(&dcpl);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&file);
    return err;
}

int sisa_shard_data_write(const char *path, const sisa_shard_data *sd)
{
    char sha[SISA_SHA256_HEX];
    return sisa_shard_data_write_hashed(path, sd, sha);
}

/* Open `name` and check it is rank `rank` with leading dimension n (and second dimension d for
 * rank 2) and of the class/size given. */
static int open_checked(hid_t file, const char *name, int rank, uint64_t n, uint64_t d,
                        H5T_class_t cls, size_t size, int required, hid_t *out, const char *path)
{
    int err = SISA_OK;
    hid_t space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int found = sisa_h5_open_dataset(file, name, out, path);
    SISA_TRY(found);
    if (!found) {
        SISA_CHECK(!required, SISA_ECORRUPT, "%s: dataset '%s' is missing", path, name);
        return 0;
    }
    space = H5Dget_space(*out);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of %s", path, name);
    hsize_t dims[2] = {0, 0};
    SISA_CHECK(H5Sget_simple_extent_ndims(space) == rank, SISA_ECORRUPT,
               "%s: %s should have %d dimension(s)", path, name, rank);
    H5Sget_simple_extent_dims(space, dims, NULL);
    SISA_CHECK(dims[0] == n && (rank == 1 || dims[1] == d), SISA_ECORRUPT,
               "%s: %s has the wrong shape", path, name);
    type = H5Dget_type(*out);
    SISA_H5(type, SISA_ECORRUPT, "%s: cannot read the type of %s", path, name);
    SISA_CHECK(H5Tget_class(type) == cls && H5Tget_size(type) == size, SISA_ECORRUPT,
               "%s: %s has the wrong type", path, name);
    err = 1;
done:
    sisa_h5_close_quiet(&type);
    sisa_h5_close_quiet(&space);
    return err;
}

static int read_shard(sisa_shard_data **out, const char *path, int with_x)
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID, ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
    sisa_shard_data *sd = NULL;
    char fmt[64];
    int32_t shard = -1, classes = 0;
    uint64_t d = 0;
    size_t nd = 0;
    *out = NULL;
    sisa_h5_init();
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_ECORRUPT, "cannot open shard file %s", path);
    SISA_CHECK(sisa_h5_attr_read_str(file, "sisa_format", fmt, sizeof fmt, path) == 1 &&
                   strcmp(fmt, SISA_SHARD_FORMAT) == 0,
               SISA_ECORRUPT, "%s is not a sisa shard data file", path);
    SISA_CHECK(sisa_h5_attr_read_i32(file, "shard", &shard, path) == 1 && shard >= 0, SISA_ECORRUPT,
               "%s: missing or bad 'shard' attribute", path);
    SISA_CHECK(sisa_h5_attr_read_i32(file, "num_classes", &classes, path) == 1 && classes >= 2,
               SISA_ECORRUPT, "%s: missing or bad 'num_classes' attribute", path);
    SISA_CHECK(sisa_h5_attr_read_u64s(file, "features", &d, 1, &nd, path) == 1 && d > 0,
               SISA_ECORRUPT, "%s: missing or bad 'features' attribute", path);

    int found = sisa_h5_open_dataset(file, "id", &ds, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_ECORRUPT, "%s: dataset 'id' is missing", path);
    space = H5Dget_space(ds);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of id", path);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    SISA_CHECK(n >= 0, SISA_ECORRUPT, "%s: bad id dataset", path);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&ds);
    int has_group = H5Lexists(file, "group", H5P_DEFAULT) > 0;
    if (with_x) {
        SISA_CHECK((uint64_t)n <= (1ull << 40) / d, SISA_ECORRUPT, "%s: implausible size", path);
        SISA_TRY(sisa_shard_data_alloc(&sd, (uint32_t)shard, (uint64_t)n, d, classes, has_group));
    } else {
        sd = sisa_calloc(1, sizeof *sd);
        SISA_CHECK(sd, SISA_ENOMEM, "out of memory");
        sd->shard = (uint32_t)shard;
        sd->n = (uint64_t)n;
        sd->d = d;
        sd->num_classes = classes;
        sd->id = sisa_malloc((n ? (size_t)n : 1) * sizeof *sd->id);
        sd->slice = sisa_malloc((n ? (size_t)n : 1) * sizeof *sd->slice);
        if (has_group) sd->group = sisa_malloc((n ? (size_t)n : 1) * sizeof *sd->group);
        SISA_CHECK(sd->id && sd->slice && (!has_group || sd->group), SISA_ENOMEM, "out of memory");
    }
    struct {
        const char *name;
        int rank;
        H5T_class_t cls;
        size_t size;
        hid_t mtype;
        void *buf;
    } cols[] = {
        {"id", 1, H5T_INTEGER, 8, H5T_NATIVE_UINT64, sd->id},
        {"slice", 1, H5T_INTEGER, 4, H5T_NATIVE_INT32, sd->slice},
        {"y", 1, H5T_INTEGER, 4, H5T_NATIVE_INT32, sd->y},
        {"group", 1, H5T_INTEGER, 8, H5T_NATIVE_UINT64, sd->group},
        {"X", 2, H5T_FLOAT, 4, H5T_NATIVE_FLOAT, sd->X},
    };
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        if (!cols[c].buf) continue;
        SISA_TRY(open_checked(file, cols[c].name, cols[c].rank, (uint64_t)n, d, cols[c].cls,
                              cols[c].size, 1, &ds, path));
        if (n > 0)
            SISA_H5(H5Dread(ds, cols[c].mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, cols[c].buf),
                    SISA_ECORRUPT, "%s: reading %s failed", path, cols[c].name);
        sisa_h5_close_quiet(&ds);
    }
    for (uint64_t i = 0; i < sd->n; i++) {
        SISA_CHECK(i == 0 || sd->id[i] > sd->id[i - 1], SISA_ECORRUPT,
                   "%s: IDs are not strictly increasing at row %llu", path, (unsigned long long)i);
        SISA_CHECK(sd->slice[i] >= 0, SISA_ECORRUPT, "%s: negative slice at row %llu", path,
                   (unsigned long long)i);
        if (sd->y)
            SISA_CHECK(sd->y[i] >= 0 && sd->y[i] < classes, SISA_ECORRUPT,
                       "%s: label out of range at row %llu", path, (unsigned long long)i);
    }
    if (sd->X)
        for (uint64_t i = 0; i < sd->n * sd->d; i++)
            SISA_CHECK(isfinite(sd->X[i]), SISA_ECORRUPT, "%s: non-finite feature at row %llu",
                       path, (unsigned long long)(i / sd->d));
    SISA_H5(sisa_h5_close_file(&file), SISA_ECORRUPT, "%s: closing failed", path);
    *out = sd;
    sd = NULL;
done:
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&ds);
    sisa_h5_close_quiet(&file);
    sisa_shard_data_free(sd);
    return err;
}

int sisa_shard_data_read(sisa_shard_data **out, const char *path)
{
    return read_shard(out, path, 1);
}

int sisa_shard_data_read_index(sisa_shard_data **out, const char *path)
{
    return read_shard(out, path, 0);
}
