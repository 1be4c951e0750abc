/*
 * dataset.c - the streaming writer of canonical dataset files (sisa/dataset.h).
 *
 * Rows arrive in blocks; features go straight to the temp file (through one reusable block
 * buffer where scaling and the finiteness check happen), labels, IDs and groups are kept in
 * memory until commit because they must be checked as a whole (unique IDs, label range,
 * remapping; one risk tier per group). Commit then writes them, closes the file, reads everything
 * back and compares it with a checksum taken while writing (HDF5 can report success on close after
 * a failed write), and only then publishes the file atomically.
 */
#include "sisa/dataset.h"
#include "sisa/version.h"

#include "base/check64.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strutil.h"
#include "io/h5util.h"
#include "io/import_internal.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WRITER_BLOCK_BYTES (4u << 20)

struct sisa_dataset_writer {
    char path[SISA_PATH_MAX];
    char tmp[SISA_PATH_MAX];
    int own_tmp; /* the writer created tmp and publishes it */
    sisa_writer_opts opts;
    char source[1024];
    uint64_t d;
    hid_t file, x;
    uint64_t rows, cap;
    int64_t *y;      /* (cap) */
    uint64_t *id;    /* (cap) */
    uint64_t *group; /* (cap) or NULL */
    uint8_t *risk;   /* (risk_cap) or NULL: risk tiers, appended apart from the rows */
    uint64_t risk_rows, risk_cap;
    float *block; /* (block_rows, d) */
    uint64_t block_rows;
    float x_min, x_max;
    sisa_check64 xsum;
};

static int grow(sisa_dataset_writer *w, uint64_t need)
{
    int err = SISA_OK;
    if (need <= w->cap) return SISA_OK;
    uint64_t ncap = w->cap ? w->cap : 1024;
    while (ncap < need) ncap *= 2;
    if (!w->opts.unlabelled) {
        int64_t *ny = sisa_realloc(w->y, ncap * sizeof *ny);
        SISA_CHECK(ny, SISA_ENOMEM, "out of memory for %llu labels", (unsigned long long)ncap);
        w->y = ny;
    }
    uint64_t *nid = sisa_realloc(w->id, ncap * sizeof *nid);
    SISA_CHECK(nid, SISA_ENOMEM, "out of memory for %llu IDs", (unsigned long long)ncap);
    w->id = nid;
    if (w->opts.has_group) {
        uint64_t *ng = sisa_realloc(w->group, ncap * sizeof *ng);
        SISA_CHECK(ng, SISA_ENOMEM, "out of memory for %llu groups", (unsigned long long)ncap);
        w->group = ng;
    }
    w->cap = ncap;
done:
    return err;
}

static void writer_free(sisa_dataset_writer *w, int remove_tmp)
{
    if (!w) return;
    sisa_h5_close_quiet(&w->x);
    sisa_h5_close_quiet(&w->file);
    if (remove_tmp && w->tmp[0]) sisa_fs_remove_quiet(w->tmp);
    sisa_free(w->y);
    sisa_free(w->id);
    sisa_free(w->group);
    sisa_free(w->risk);
    sisa_free(w->block);
    sisa_free(w);
}

int sisa_dataset_writer_open(sisa_dataset_writer **out, const char *path, uint64_t d,
                             const sisa_writer_opts *opts)
{
    int err = SISA_OK;
    sisa_dataset_writer *w = NULL;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    *out = NULL;
    sisa_h5_init();
    SISA_CHECK(d > 0, SISA_ECORRUPT, "%s: the input has no feature columns", path);
    SISA_CHECK(d <= (1u << 24), SISA_ECORRUPT,
               "%s: %llu features per row is more than the limit of %u", path,
               (unsigned long long)d, 1u << 24);
    SISA_CHECK(!opts->scale || isfinite(opts->scale), SISA_EUSAGE, "--scale must be finite");
    SISA_CHECK(opts->feature_rank >= 0 && opts->feature_rank <= SISA_MAX_FEATURE_RANK,
               SISA_EINTERNAL, "feature rank %d", opts->feature_rank);
    if (!opts->replace && !opts->tmp_path)
        SISA_CHECK(!sisa_fs_exists(path), SISA_EEXIST,
                   "%s already exists (pass --force to replace it)", path);

    w = sisa_calloc(1, sizeof *w);
    SISA_CHECK(w, SISA_ENOMEM, "out of memory");
    w->file = w->x = H5I_INVALID_HID;
    w->opts = *opts;
    w->d = d;
    w->x_min = INFINITY;
    w->x_max = -INFINITY;
    sisa_check64_init(&w->xsum);
    SISA_CHECK(sisa_strlcpy(w->path, path, sizeof w->path) == 0, SISA_EUSAGE, "path too long: %s",
               path);
    snprintf(w->source, sizeof w->source, "%s", opts->source ? opts->source : "");
    w->opts.source = w->source;
    w->opts.tmp_path = NULL;

    if (opts->tmp_path) {
        SISA_CHECK(sisa_strlcpy(w->tmp, opts->tmp_path, sizeof w->tmp) == 0, SISA_EUSAGE,
                   "path too long: %s", opts->tmp_path);
    } else {
        sisa_fs_clean_stale_tmps(path);
        SISA_TRY(sisa_fs_tmp_create(w->tmp, sizeof w->tmp, path));
        w->own_tmp = 1;
    }

    w->block_rows = WRITER_BLOCK_BYTES / (d * sizeof(float));
    if (w->block_rows == 0) w->block_rows = 1;
    w->block = sisa_malloc(w->block_rows * d * sizeof(float));
    SISA_CHECK(w->block, SISA_ENOMEM, "out of memory for a block of %llu rows",
               (unsigned long long)w->block_rows);
    if (opts->n_hint) SISA_TRY(grow(w, opts->n_hint));

    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    SISA_H5(w->file, SISA_EIO, "cannot create %s", w->tmp);
    hsize_t dims[2] = {opts->n_hint, d};
    hsize_t maxdims[2] = {opts->n_hint ? opts->n_hint : H5S_UNLIMITED, d};
    space = H5Screate_simple(2, dims, maxdims);
    SISA_H5(space, SISA_EIO, "cannot create the dataspace of X");
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    SISA_H5(dcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(dcpl, 0), SISA_EIO, "cannot disable time tracking");
    if (!opts->n_hint) {
        hsize_t chunk[2] = {w->block_rows > 4096 ? 4096 : w->block_rows, d};
        uint64_t cap_rows = (1u << 20) / (d * sizeof(float));
        if (chunk[0] > cap_rows) chunk[0] = cap_rows ? cap_rows : 1;
        SISA_H5(H5Pset_chunk(dcpl, 2, chunk), SISA_EIO, "cannot set the chunking of X");
    }
    w->x = H5Dcreate2(w->file, "X", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    SISA_H5(w->x, SISA_EIO, "%s: cannot create dataset X", w->tmp);
    *out = w;
    w = NULL;
done:
    sisa_h5_close_quiet(&dcpl);
    sisa_h5_close_quiet(&space);
    writer_free(w, 1);
    return err;
}

uint64_t sisa_dataset_writer_rows(const sisa_dataset_writer *w)
{
    return w->rows;
}

int sisa_dataset_writer_append(sisa_dataset_writer *w, const float *X, const int64_t *y,
                               const uint64_t *id, const uint64_t *group, uint64_t rows)
{
    int err = SISA_OK;
    const uint64_t d = w->d;
    const float scale = w->opts.scale;
    const int scaled = scale != 0.0f && scale != 1.0f;
    SISA_CHECK(!group == !w->opts.has_group, SISA_EINTERNAL, "group column mismatch");
    SISA_CHECK(!y == !!w->opts.unlabelled, SISA_EINTERNAL, "label column mismatch");
    SISA_CHECK(!w->opts.n_hint || w->rows + rows <= w->opts.n_hint, SISA_ECORRUPT,
               "%s: the input has more rows than the %llu it declared", w->path,
               (unsigned long long)w->opts.n_hint);
    SISA_TRY(grow(w, w->rows + rows));
    if (!w->opts.n_hint) {
        hsize_t dims[2] = {w->rows + rows, d};
        SISA_H5(H5Dset_extent(w->x, dims), SISA_EIO, "%s: cannot extend X to %llu rows", w->tmp,
                (unsigned long long)(w->rows + rows));
    }
    for (uint64_t r0 = 0; r0 < rows; r0 += w->block_rows) {
        uint64_t nr = rows - r0 < w->block_rows ? rows - r0 : w->block_rows;
        const float *src = X + r0 * d;
        float *dst = w->block;
        float lo = w->x_min, hi = w->x_max;
        for (uint64_t i = 0; i < nr * d; i++) {
            float v = scaled ? src[i] / scale : src[i];
            if (!isfinite(v)) {
                uint64_t row = w->rows + r0 + i / d;
                SISA_FAIL(SISA_ECORRUPT, "%s: row %llu, feature %llu is %s%s", w->path,
                          (unsigned long long)row, (unsigned long long)(i % d),
                          isnan(v) ? "NaN" : "infinite", isfinite(src[i]) ? " after --scale" : "");
            }
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            dst[i] = v;
        }
        w->x_min = lo;
        w->x_max = hi;
        sisa_check64_update(&w->xsum, dst, nr * d * sizeof(float));
        SISA_TRY(sisa_h5_write_rows(w->x, H5T_NATIVE_FLOAT, w->rows + r0, nr, d, dst, w->tmp));
    }
    if (y) memcpy(w->y + w->rows, y, rows * sizeof *y);
    memcpy(w->id + w->rows, id, rows * sizeof *id);
    if (group) memcpy(w->group + w->rows, group, rows * sizeof *group);
    w->rows += rows;
done:
    return err;
}

int sisa_dataset_writer_append_risk(sisa_dataset_writer *w, const uint8_t *risk, uint64_t rows)
{
    int err = SISA_OK;
    SISA_CHECK(w->opts.has_risk, SISA_EINTERNAL, "risk column not declared");
    if (w->risk_rows + rows > w->risk_cap) {
        uint64_t ncap = w->risk_cap ? w->risk_cap : 1024;
        while (ncap < w->risk_rows + rows) ncap *= 2;
        uint8_t *nr = sisa_realloc(w->risk, ncap);
        SISA_CHECK(nr, SISA_ENOMEM, "out of memory for %llu risk tiers", (unsigned long long)ncap);
        w->risk = nr;
        w->risk_cap = ncap;
    }
    memcpy(w->risk + w->risk_rows, risk, rows);
    w->risk_rows += rows;
done:
    return err;
}

typedef struct {
    uint64_t group, row;
} group_row;

static int cmp_group_row(const void *a, const void *b)
{
    const group_row *x = a, *y = b;
    if (x->group != y->group) return (x->group > y->group) - (x->group < y->group);
    return (x->row > y->row) - (x->row < y->row);
}

/* A group's rows must share one risk tier: a data subject's tier decides the shards of all
 * their rows (sisa.tier_key group). The message names the first group that breaks this. */
static int check_group_risk(const sisa_dataset_writer *w)
{
    int err = SISA_OK;
    group_row *gr = sisa_malloc(w->rows * sizeof *gr);
    SISA_CHECK(gr, SISA_ENOMEM, "out of memory checking the risk tiers of %llu groups",
               (unsigned long long)w->rows);
    for (uint64_t i = 0; i < w->rows; i++) gr[i] = (group_row){w->group[i], i};
    qsort(gr, w->rows, sizeof *gr, cmp_group_row);
    for (uint64_t i = 1; i < w->rows; i++) {
        const uint64_t a = gr[i - 1].row, b = gr[i].row;
        if (gr[i].group != gr[i - 1].group || w->risk[a] == w->risk[b]) continue;
        uint64_t first = i - 1;
        while (first > 0 && gr[first - 1].group == gr[i].group) first--;
        SISA_FAIL(SISA_ECORRUPT,
                  "%s: rows %llu and %llu are both of group %llu but have risk tiers %d and %d; "
                  "all rows of a group must share one tier (a data subject's tier decides where "
                  "all their rows go)",
                  w->path, (unsigned long long)gr[first].row, (unsigned long long)b,
                  (unsigned long long)gr[i].group, w->risk[gr[first].row], w->risk[b]);
    }
done:
    sisa_free(gr);
    return err;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Turn raw labels into 0..C-1 and fill *labels (int32). Remapping keeps the sorted distinct
 * values in *values (caller frees). */
static int finish_labels(const sisa_dataset_writer *w, int32_t *labels, int32_t *num_classes,
                         int64_t **values, uint64_t *nvalues)
{
    int err = SISA_OK;
    int64_t *sorted = NULL;
    *values = NULL;
    *nvalues = 0;
    if (w->opts.remap_labels) {
        sorted = sisa_malloc(w->rows * sizeof *sorted);
        SISA_CHECK(sorted, SISA_ENOMEM, "out of memory remapping labels");
        memcpy(sorted, w->y, w->rows * sizeof *sorted);
        qsort(sorted, w->rows, sizeof *sorted, cmp_i64);
        uint64_t k = 0;
        for (uint64_t i = 0; i < w->rows; i++)
            if (i == 0 || sorted[i] != sorted[k - 1]) sorted[k++] = sorted[i];
        SISA_CHECK(k <= SISA_MAX_CLASSES, SISA_ECORRUPT,
                   "%s: %llu distinct labels is more than the limit of %d classes", w->path,
                   (unsigned long long)k, SISA_MAX_CLASSES);
        SISA_CHECK(!w->opts.num_classes || (int64_t)k <= w->opts.num_classes, SISA_ECORRUPT,
                   "%s: the input has %llu distinct labels but --num-classes is %d", w->path,
                   (unsigned long long)k, w->opts.num_classes);
        SISA_CHECK(w->opts.num_classes || k <= SISA_INFER_CLASSES_MAX, SISA_EUSAGE,
                   "%s: %llu distinct labels would make %llu classes (--remap-labels gives each "
                   "distinct label a class; without --num-classes sisa infers at most %d): did "
                   "a label go wrong, or is this column not a class? pass --num-classes N if "
                   "you really have N classes",
                   w->path, (unsigned long long)k, (unsigned long long)k, SISA_INFER_CLASSES_MAX);
        for (uint64_t i = 0; i < w->rows; i++) {
            const int64_t *hit = bsearch(&w->y[i], sorted, k, sizeof *sorted, cmp_i64);
            labels[i] = (int32_t)(hit - sorted);
        }
        *num_classes = w->opts.num_classes ? w->opts.num_classes : (int32_t)k;
        *values = sorted;
        *nvalues = k;
        sorted = NULL;
    } else {
        int64_t limit = w->opts.num_classes ? w->opts.num_classes : SISA_MAX_CLASSES;
        int64_t max = 0;
        for (uint64_t i = 0; i < w->rows; i++) {
            int64_t v = w->y[i];
            if (v < 0 || v >= limit) {
                if (w->opts.num_classes)
                    SISA_FAIL(SISA_ECORRUPT,
                              "%s: row %llu has label %lld, outside 0..%d (--num-classes %d)",
                              w->path, (unsigned long long)i, (long long)v, w->opts.num_classes - 1,
                              w->opts.num_classes);
                SISA_FAIL(SISA_ECORRUPT,
                          "%s: row %llu has label %lld; labels must be integers in 0..%d "
                          "(pass --remap-labels to map arbitrary integer labels to 0..C-1)",
                          w->path, (unsigned long long)i, (long long)v, SISA_MAX_CLASSES - 1);
            }
            if (v > max) max = v;
            labels[i] = (int32_t)v;
        }
        if (!w->opts.num_classes && max >= SISA_INFER_CLASSES_MAX) {
            uint64_t row = 0;
            while (w->y[row] != max) row++;
            err = sisa_import_label_typo(max, "%s: row %llu", w->path, (unsigned long long)row);
            goto done;
        }
        *num_classes = w->opts.num_classes ? w->opts.num_classes : (int32_t)(max + 1);
    }
    SISA_CHECK(*num_classes >= 2, SISA_ECORRUPT,
               "%s: all rows have the same label; a classifier needs at least 2 classes "
               "(pass --num-classes to declare more)",
               w->path);
done:
    sisa_free(sorted);
    return err;
}

/* Compare a 1-D column in the closed-and-reopened file with what we meant to write. */
static int verify_column(hid_t file, const char *name, hid_t mtype, size_t elem, uint64_t n,
                         const void *expect, const char *path)
{
    int err = SISA_OK;
    hid_t ds = H5I_INVALID_HID;
    void *got = sisa_malloc(n * elem);
    SISA_CHECK(got, SISA_ENOMEM, "out of memory verifying %s", name);
    int found = sisa_h5_open_dataset(file, name, &ds, path);
    SISA_TRY(found);
    SISA_CHECK(found, SISA_EIO, "%s: dataset %s is missing after writing", path, name);
    SISA_H5(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, got), SISA_EIO,
            "%s: reading back %s failed", path, name);
    SISA_CHECK(memcmp(got, expect, n * elem) == 0, SISA_EIO,
               "%s: %s read back differs from what was written (the disk or file system lost "
               "data)",
               path, name);
done:
    sisa_h5_close_quiet(&ds);
    sisa_free(got);
    return err;
}

static int verify_file(const sisa_dataset_writer *w, const int32_t *labels, float *buf)
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID, x = H5I_INVALID_HID;
    sisa_check64 sum;
    file = H5Fopen(w->tmp, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_EIO, "%s: cannot reopen the written file to verify it", w->tmp);
    SISA_TRY(sisa_h5_open_dataset(file, "X", &x, w->tmp));
    sisa_check64_init(&sum);
    for (uint64_t r0 = 0; r0 < w->rows; r0 += w->block_rows) {
        uint64_t nr = w->rows - r0 < w->block_rows ? w->rows - r0 : w->block_rows;
        SISA_TRY(sisa_h5_read_rows(x, H5T_NATIVE_FLOAT, r0, nr, w->d, buf, w->tmp));
        sisa_check64_update(&sum, buf, nr * w->d * sizeof(float));
    }
    SISA_CHECK(sisa_check64_final(&sum) == sisa_check64_final(&w->xsum), SISA_EIO,
               "%s: X read back differs from what was written (the disk or file system lost "
               "data)",
               w->tmp);
    if (labels)
        SISA_TRY(
            verify_column(file, "y", H5T_NATIVE_INT32, sizeof(int32_t), w->rows, labels, w->tmp));
    SISA_TRY(
        verify_column(file, "id", H5T_NATIVE_UINT64, sizeof(uint64_t), w->rows, w->id, w->tmp));
    if (w->group)
        SISA_TRY(verify_column(file, "group", H5T_NATIVE_UINT64, sizeof(uint64_t), w->rows,
                               w->group, w->tmp));
    if (w->opts.has_risk)
        SISA_TRY(verify_column(file, "risk", H5T_NATIVE_UINT8, 1, w->rows, w->risk, w->tmp));
done:
    sisa_h5_close_quiet(&x);
    sisa_h5_close_quiet(&file);
    return err;
}

int sisa_dataset_writer_commit(sisa_dataset_writer *w, sisa_dataset_summary *summary)
{
    int err = SISA_OK;
    int32_t *labels = NULL;
    int64_t *values = NULL;
    uint64_t nvalues = 0;
    int32_t num_classes = 0;
    char created_by[256];

    SISA_CHECK(w->rows > 0, SISA_ECORRUPT, "%s: the input has no data rows", w->path);
    SISA_CHECK(!w->opts.n_hint || w->rows == w->opts.n_hint, SISA_ECORRUPT,
               "%s: the input declared %llu rows but holds %llu", w->path,
               (unsigned long long)w->opts.n_hint, (unsigned long long)w->rows);
    SISA_TRY(sisa_ids_check_unique(w->id, w->rows, w->path));
    SISA_CHECK(!w->opts.has_risk || w->risk_rows == w->rows, SISA_EINTERNAL,
               "%s: %llu risk tiers for %llu rows", w->path, (unsigned long long)w->risk_rows,
               (unsigned long long)w->rows);
    if (w->opts.has_risk && w->group) SISA_TRY(check_group_risk(w));
    hsize_t ndims[1] = {w->rows};
    if (!w->opts.unlabelled) {
        labels = sisa_malloc(w->rows * sizeof *labels);
        SISA_CHECK(labels, SISA_ENOMEM, "out of memory");
        SISA_TRY(finish_labels(w, labels, &num_classes, &values, &nvalues));
        SISA_TRY(sisa_h5_write_dataset(w->file, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ndims,
                                       labels, w->tmp));
    }
    SISA_TRY(sisa_h5_write_dataset(w->file, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims, w->id,
                                   w->tmp));
    if (w->group)
        SISA_TRY(sisa_h5_write_dataset(w->file, "group", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims,
                                       w->group, w->tmp));
    if (w->opts.has_risk)
        SISA_TRY(sisa_h5_write_dataset(w->file, "risk", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, ndims,
                                       w->risk, w->tmp));
    snprintf(created_by, sizeof created_by, "sisa %s (%s)", SISA_VERSION, SISA_GIT_COMMIT);
    SISA_TRY(sisa_h5_attr_write_str(w->file, "sisa_format", SISA_DATASET_FORMAT));
    SISA_TRY(sisa_h5_attr_write_i32(w->file, "sisa_format_version", SISA_DATASET_FORMAT_VERSION));
    SISA_TRY(sisa_h5_attr_write_i32(w->file, "num_classes", num_classes));
    if (w->opts.unlabelled) SISA_TRY(sisa_h5_attr_write_i32(w->file, "labelled", 0));
    if (w->opts.scale != 0.0f && w->opts.scale != 1.0f)
        SISA_TRY(sisa_h5_attr_write_f64(w->file, "scale", (double)w->opts.scale));
    if (w->opts.feature_names)
        SISA_TRY(sisa_h5_write_strings(w->file, "feature_names", w->opts.feature_names,
                                       (size_t)w->d, w->tmp));
    SISA_TRY(sisa_h5_attr_write_str(w->file, "source", w->source));
    SISA_TRY(sisa_h5_attr_write_str(w->file, "created_by", created_by));
    if (w->opts.feature_rank)
        SISA_TRY(sisa_h5_attr_write_u64s(w->file, "feature_shape", w->opts.feature_shape,
                                         (size_t)w->opts.feature_rank));
    /* With --num-classes above the distinct labels seen, the extra classes have no original
     * value: label_values then lists only the first nvalues classes. */
    if (values) SISA_TRY(sisa_h5_attr_write_i64s(w->file, "label_values", values, (size_t)nvalues));
    SISA_H5(H5Dclose(w->x), SISA_EIO, "%s: closing X failed", w->tmp);
    w->x = H5I_INVALID_HID;
    SISA_H5(sisa_h5_close_file(&w->file), SISA_EIO, "%s: closing the file failed", w->tmp);

    SISA_TRY(verify_file(w, labels, w->block));
    if (w->own_tmp)
        SISA_TRY(sisa_fs_publish(w->tmp, w->path, w->opts.replace));
    else
        SISA_TRY(sisa_fs_fsync_file(w->tmp));

    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->n = w->rows;
        summary->d = w->d;
        summary->num_classes = num_classes;
        summary->has_group = w->opts.has_group;
        summary->has_risk = w->opts.has_risk;
        for (uint64_t i = 0; w->opts.has_risk && i < w->rows; i++)
            if (w->risk[i] > summary->risk_max) summary->risk_max = w->risk[i];
        summary->id_min = UINT64_MAX;
        for (uint64_t i = 0; i < w->rows; i++) {
            if (w->id[i] < summary->id_min) summary->id_min = w->id[i];
            if (w->id[i] > summary->id_max) summary->id_max = w->id[i];
        }
        summary->x_min = w->x_min;
        summary->x_max = w->x_max;
        struct stat st;
        if (stat(w->own_tmp ? w->path : w->tmp, &st) == 0)
            summary->file_bytes = (uint64_t)st.st_size;
    }
    if (w->own_tmp) w->tmp[0] = '\0'; /* published: nothing to remove */
done:
    sisa_free(labels);
    sisa_free(values);
    writer_free(w, err < 0 && w && w->own_tmp);
    return err;
}

void sisa_dataset_writer_abort(sisa_dataset_writer *w)
{
    writer_free(w, w && w->own_tmp);
}
