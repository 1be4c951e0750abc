/*
 * predfile.c - prediction files written by `sisa predict` (docs/formats.md "Predictions").
 *
 *   proba  float32 [n, C]  aggregated posteriors (vote fractions for strategy vote)
 *   label  int32   [n]     predicted class
 *   id     uint64  [n]     the input rows' sample IDs
 *   shards/KKKK float32 [n, C]  each shard's own posteriors (with --per-shard)
 * and root attributes sisa_format, strategy, config_hash, shards_used.
 */
#include "io/store_io.h"

#include "base/fs.h"
#include "io/h5util.h"

#include <stdio.h>

int sisa_pred_write(const char *path, const sisa_pred_file *p, int replace)
{
    int err = SISA_OK;
    char tmp[SISA_PATH_MAX] = "";
    hid_t file = H5I_INVALID_HID, g = H5I_INVALID_HID;
    sisa_h5_init();
    if (!replace)
        SISA_CHECK(!sisa_fs_exists(path), SISA_EEXIST,
                   "%s already exists (pass --force to replace it)", path);
    SISA_TRY(sisa_h5_tmp_create(&file, tmp, sizeof tmp, path));
    hsize_t pdims[2] = {p->n, p->classes}, ndims[1] = {p->n};
    SISA_TRY(sisa_h5_write_dataset(file, "proba", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, pdims,
                                   p->proba, tmp));
    SISA_TRY(sisa_h5_write_dataset(file, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ndims,
                                   p->label, tmp));
    SISA_TRY(
        sisa_h5_write_dataset(file, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ndims, p->id, tmp));
    if (p->n_shards) {
        g = H5Gcreate2(file, "shards", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        SISA_H5(g, SISA_EIO, "%s: cannot create group shards", tmp);
        for (uint32_t k = 0; k < p->n_shards; k++) {
            char name[32];
            snprintf(name, sizeof name, "%04u", p->shard_ids[k]);
            SISA_TRY(sisa_h5_write_dataset(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, pdims,
                                           p->shard_proba[k], tmp));
        }
        SISA_H5(H5Gclose(g), SISA_EIO, "%s: closing group shards failed", tmp);
        g = H5I_INVALID_HID;
    }
    SISA_TRY(sisa_h5_attr_write_str(file, "sisa_format", SISA_PRED_FORMAT));
    SISA_TRY(sisa_h5_attr_write_i32(file, "sisa_format_version", 1));
    SISA_TRY(sisa_h5_attr_write_str(file, "strategy", p->strategy));
    SISA_TRY(sisa_h5_attr_write_str(file, "config_hash", p->config_hash));
    SISA_TRY(sisa_h5_attr_write_str(file, "shards_used", p->shards_used));
    SISA_TRY(sisa_h5_tmp_publish(&file, tmp, path, replace));
done:
    sisa_h5_close_quiet(&g);
    sisa_h5_tmp_discard(&file, tmp);
    return err;
}
