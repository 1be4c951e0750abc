/*
 * predfile.c - prediction files written by `sisa predict` (docs/formats.md "Predictions").
 *
 *   proba  float32 [n, C]  aggregated posteriors (vote fractions for strategy vote)
 *   label  int32   [n]     predicted class
 *   id     uint64  [n]     the input rows' sample IDs
 *   shards/KKKK float32 [n, C]  each shard's own posteriors (with --per-shard)
 * and root attributes sisa_format, strategy, config_hash, shards_used.
 *
 * The file is written as the ensemble streams: every dataset is created at its full size when
 * the file is opened, then filled block of rows by block of rows, so the writer holds no row
 * data. It is a temp file until sisa_pred_commit publishes it.
 */
#include "io/store_io.h"

#include "base/fs.h"
#include "io/h5util.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sisa_pred_writer {
    char path[SISA_PATH_MAX];
    char tmp[SISA_PATH_MAX];
    int replace;
    uint64_t n;
    uint32_t classes, n_shards;
    hid_t file, proba, label;
    hid_t *shard; /* (n_shards) */
};

static int create_dataset(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                          hid_t *out, const char *file)
{
    int err = SISA_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    space = H5Screate_simple(rank, dims, NULL);
    SISA_H5(space, SISA_EIO, "%s: cannot create the dataspace of %s", file, name);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    SISA_H5(dcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(dcpl, 0), SISA_EIO, "cannot disable time tracking");
    *out = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    SISA_H5(*out, SISA_EIO, "%s: cannot create dataset %s", file, name);
done:
    sisa_h5_close_quiet(&dcpl);
    sisa_h5_close_quiet(&space);
    return err;
}

void sisa_pred_discard(sisa_pred_writer *w)
{
    if (!w) return;
    for (uint32_t k = 0; w->shard && k < w->n_shards; k++) sisa_h5_close_quiet(&w->shard[k]);
    sisa_free(w->shard);
    sisa_h5_close_quiet(&w->label);
    sisa_h5_close_quiet(&w->proba);
    sisa_h5_tmp_discard(&w->file, w->tmp);
    sisa_free(w);
}

int sisa_pred_open(sisa_pred_writer **out, const char *path, const sisa_pred_file *p, int replace)
{
    int err = SISA_OK;
    sisa_pred_writer *w = NULL;
    hid_t g = H5I_INVALID_HID;
    *out = NULL;
    sisa_h5_init();
    if (!replace)
        SISA_CHECK(!sisa_fs_exists(path), SISA_EEXIST,
                   "%s already exists (pass --force to replace it)", path);
    w = sisa_calloc(1, sizeof *w);
    SISA_CHECK(w, SISA_ENOMEM, "out of memory");
    w->file = w->proba = w->label = H5I_INVALID_HID;
    SISA_CHECK(strlen(path) < sizeof w->path, SISA_EUSAGE, "path too long: %s", path);
    memcpy(w->path, path, strlen(path) + 1);
    w->replace = replace;
    w->n = p->n;
    w->classes = p->classes;
    SISA_TRY(sisa_h5_tmp_create(&w->file, w->tmp, sizeof w->tmp, path));
    hsize_t pdims[2] = {p->n, p->classes}, ndims[1] = {p->n};
    SISA_TRY(create_dataset(w->file, "proba", H5T_IEEE_F32LE, 2, pdims, &w->proba, w->tmp));
    SISA_TRY(create_dataset(w->file, "label", H5T_STD_I32LE, 1, ndims, &w->label, w->tmp));
    SISA_TRY(sisa_h5_write_dataset(w->file, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims, p->id,
                                   w->tmp));
    if (p->n_shards) {
        w->shard = sisa_malloc(p->n_shards * sizeof *w->shard);
        SISA_CHECK(w->shard, SISA_ENOMEM, "out of memory");
        for (uint32_t k = 0; k < p->n_shards; k++) w->shard[k] = H5I_INVALID_HID;
        w->n_shards = p->n_shards;
        g = H5Gcreate2(w->file, "shards", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        SISA_H5(g, SISA_EIO, "%s: cannot create group shards", w->tmp);
        for (uint32_t k = 0; k < p->n_shards; k++) {
            char name[32];
            snprintf(name, sizeof name, "%04u", p->shard_ids[k]);
            SISA_TRY(create_dataset(g, name, H5T_IEEE_F32LE, 2, pdims, &w->shard[k], w->tmp));
        }
    }
    SISA_TRY(sisa_h5_attr_write_str(w->file, "sisa_format", SISA_PRED_FORMAT));
    SISA_TRY(sisa_h5_attr_write_i32(w->file, "sisa_format_version", 1));
    SISA_TRY(sisa_h5_attr_write_str(w->file, "strategy", p->strategy));
    SISA_TRY(sisa_h5_attr_write_str(w->file, "config_hash", p->config_hash));
    SISA_TRY(sisa_h5_attr_write_str(w->file, "shards_used", p->shards_used));
    *out = w;
    w = NULL;
done:
    sisa_h5_close_quiet(&g);
    sisa_pred_discard(w);
    return err;
}

int sisa_pred_write_rows(sisa_pred_writer *w, uint64_t r0, uint64_t nr, const float *proba,
                         const int32_t *label)
{
    int err = SISA_OK;
    SISA_CHECK(r0 <= w->n && nr <= w->n - r0, SISA_EINTERNAL, "rows past the end of %s", w->tmp);
    SISA_TRY(sisa_h5_write_rows(w->proba, H5T_NATIVE_FLOAT, r0, nr, w->classes, proba, w->tmp));
    SISA_TRY(sisa_h5_write_rows(w->label, H5T_NATIVE_INT32, r0, nr, 1, label, w->tmp));
done:
    return err;
}

int sisa_pred_write_shard_rows(sisa_pred_writer *w, uint32_t k, uint64_t r0, uint64_t nr,
                               const float *proba)
{
    int err = SISA_OK;
    SISA_CHECK(k < w->n_shards && r0 <= w->n && nr <= w->n - r0, SISA_EINTERNAL,
               "shard rows past the end of %s", w->tmp);
    SISA_TRY(sisa_h5_write_rows(w->shard[k], H5T_NATIVE_FLOAT, r0, nr, w->classes, proba, w->tmp));
done:
    return err;
}

int sisa_pred_commit(sisa_pred_writer *w)
{
    int err = SISA_OK;
    for (uint32_t k = 0; k < w->n_shards; k++)
        SISA_H5(H5Dclose(w->shard[k]), SISA_EIO, "%s: closing a shard's posteriors failed", w->tmp);
    w->n_shards = 0;
    SISA_H5(H5Dclose(w->label), SISA_EIO, "%s: closing label failed", w->tmp);
    w->label = H5I_INVALID_HID;
    SISA_H5(H5Dclose(w->proba), SISA_EIO, "%s: closing proba failed", w->tmp);
    w->proba = H5I_INVALID_HID;
    SISA_TRY(sisa_h5_tmp_publish(&w->file, w->tmp, w->path, w->replace));
done:
    sisa_pred_discard(w);
    return err;
}
