/*
 * ckpt.c - checkpoint files (STORE/shards/KKKK/ckpt-RRR.h5), see store_io.h and
 * docs/formats.md "Checkpoint".
 *
 * A checkpoint holds everything needed to resume training bit for bit: every parameter under
 * /model, the optimizer state under /optim, and as root attributes the step, sample and epoch
 * counters, the Philox stream position, the lineage hash of the IDs trained so far, the config
 * hash and the determinism context. It is written to a temp file and published atomically, so a
 * file under its final name is always complete.
 */
#include "io/store_io.h"

#include "base/fs.h"
#include "base/strutil.h"
#include "io/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_tensors(hid_t file, const char *group, const sisa_tensor *t, int n,
                         const char *path)
{
    int err = SISA_OK;
    hid_t g = H5I_INVALID_HID, gcpl = H5I_INVALID_HID, dcpl = H5I_INVALID_HID,
          space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    gcpl = H5Pcreate(H5P_GROUP_CREATE);
    SISA_H5(gcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(gcpl, 0), SISA_EIO, "cannot disable time tracking");
    g = H5Gcreate2(file, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    SISA_H5(g, SISA_EIO, "%s: cannot create group %s", path, group);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    SISA_H5(dcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_obj_track_times(dcpl, 0), SISA_EIO, "cannot disable time tracking");
    for (int i = 0; i < n; i++) {
        hsize_t dims[2] = {t[i].shape[0], t[i].shape[1]};
        space = H5Screate_simple(t[i].rank, dims, NULL);
        SISA_H5(space, SISA_EIO, "cannot create the dataspace of %s", t[i].name);
        ds = H5Dcreate2(g, t[i].name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        SISA_H5(ds, SISA_EIO, "%s: cannot create %s/%s", path, group, t[i].name);
        SISA_H5(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t[i].data), SISA_EIO,
                "%s: writing %s/%s failed", path, group, t[i].name);
        SISA_H5(H5Dclose(ds), SISA_EIO, "%s: closing %s/%s failed", path, group, t[i].name);
        ds = H5I_INVALID_HID;
        sisa_h5_close_quiet(&space);
    }
    SISA_H5(H5Gclose(g), SISA_EIO, "%s: closing group %s failed", path, group);
    g = H5I_INVALID_HID;
done:
    sisa_h5_close_quiet(&ds);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&dcpl);
    sisa_h5_close_quiet(&gcpl);
    sisa_h5_close_quiet(&g);
    return err;
}

int sisa_ckpt_write(const char *path, const sisa_ckpt_meta *m, const sisa_tensor *params,
                    int n_params, const sisa_tensor *state, int n_state)
{
    char sha[65];
    return sisa_ckpt_write_hashed(path, m, params, n_params, state, n_state, sha);
}

int sisa_ckpt_write_hashed(const char *path, const sisa_ckpt_meta *m, const sisa_tensor *params,
                           int n_params, const sisa_tensor *state, int n_state, char sha[65])
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID;
    /* Built in memory, then written and hashed from memory (checkpoints are small). */
    SISA_TRY(sisa_h5_create_image(&file, path));
    SISA_TRY(write_tensors(file, "model", params, n_params, path));
    SISA_TRY(write_tensors(file, "optim", state, n_state, path));
    uint64_t counters[7] = {m->shard, m->stage,   m->stages, m->rows,
                            m->steps, m->samples, m->epochs};
    SISA_TRY(sisa_h5_attr_write_str(file, "sisa_format", SISA_CKPT_FORMAT));
    SISA_TRY(sisa_h5_attr_write_i32(file, "sisa_format_version", 1));
    /* single counters as scalar attributes (n = 0); readers take a 1-element array too */
    SISA_TRY(sisa_h5_attr_write_u64s(file, "shard", &counters[0], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "stage", &counters[1], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "stages", &counters[2], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "rows", &counters[3], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "steps", &counters[4], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "samples", &counters[5], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "epochs", &counters[6], 0));
    SISA_TRY(sisa_h5_attr_write_u64s(file, "rng_state", m->rng_state, 4));
    SISA_TRY(sisa_h5_attr_write_str(file, "lineage", m->lineage));
    SISA_TRY(sisa_h5_attr_write_str(file, "config_hash", m->config_hash));
    SISA_TRY(sisa_h5_attr_write_str(file, "context", m->context));
    SISA_TRY(sisa_h5_attr_write_str(file, "model", m->model));
    SISA_TRY(sisa_h5_attr_write_str(file, "optimizer", m->optimizer));
    SISA_TRY(sisa_h5_finish_image(&file, path, sha));
done:
    sisa_h5_close_quiet(&file);
    return err;
}

static int read_u64(hid_t file, const char *name, uint64_t *v, const char *path)
{
    size_t n = 0;
    int rc = sisa_h5_attr_read_u64s(file, name, v, 1, &n, path);
    if (rc < 0) return rc;
    if (rc == 0)
        return SISA_ERR(SISA_ECORRUPT, "%s: checkpoint attribute '%s' is missing", path, name);
    return SISA_OK;
}

static int read_meta(hid_t file, sisa_ckpt_meta *m, const char *path)
{
    int err = SISA_OK;
    char fmt[64];
    uint64_t v[7];
    size_t n = 0;
    memset(m, 0, sizeof *m);
    SISA_CHECK(sisa_h5_attr_read_str(file, "sisa_format", fmt, sizeof fmt, path) == 1 &&
                   strcmp(fmt, SISA_CKPT_FORMAT) == 0,
               SISA_ECORRUPT, "%s is not a sisa checkpoint", path);
    static const char *const names[7] = {"shard", "stage",   "stages", "rows",
                                         "steps", "samples", "epochs"};
    for (int i = 0; i < 7; i++) SISA_TRY(read_u64(file, names[i], &v[i], path));
    SISA_CHECK(v[0] <= UINT32_MAX && v[1] <= UINT32_MAX && v[2] <= UINT32_MAX && v[1] >= 1 &&
                   v[1] <= v[2],
               SISA_ECORRUPT, "%s: inconsistent shard/stage attributes", path);
    m->shard = (uint32_t)v[0];
    m->stage = (uint32_t)v[1];
    m->stages = (uint32_t)v[2];
    m->rows = v[3];
    m->steps = v[4];
    m->samples = v[5];
    m->epochs = v[6];
    SISA_CHECK(sisa_h5_attr_read_u64s(file, "rng_state", m->rng_state, 4, &n, path) == 1 && n == 4,
               SISA_ECORRUPT, "%s: bad rng_state attribute", path);
    struct {
        const char *name;
        char *buf;
        size_t cap;
    } strs[] = {{"lineage", m->lineage, sizeof m->lineage},
                {"config_hash", m->config_hash, sizeof m->config_hash},
                {"context", m->context, sizeof m->context},
                {"model", m->model, sizeof m->model},
                {"optimizer", m->optimizer, sizeof m->optimizer}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        int rc = sisa_h5_attr_read_str(file, strs[i].name, strs[i].buf, strs[i].cap, path);
        SISA_TRY(rc);
        SISA_CHECK(rc == 1, SISA_ECORRUPT, "%s: checkpoint attribute '%s' is missing", path,
                   strs[i].name);
    }
done:
    return err;
}

int sisa_ckpt_read_meta(sisa_ckpt_meta *out, const char *path)
{
    int err = SISA_OK;
    sisa_h5_init();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_ECORRUPT, "cannot open checkpoint %s", path);
    SISA_TRY(read_meta(file, out, path));
done:
    sisa_h5_close_quiet(&file);
    return err;
}

/* Read every tensor of `group` into `t`, requiring an exact match of names and shapes. */
static int read_tensors(hid_t file, const char *group, const sisa_tensor *t, int n,
                        const char *path)
{
    int err = SISA_OK;
    hid_t g = H5I_INVALID_HID, ds = H5I_INVALID_HID, space = H5I_INVALID_HID,
          type = H5I_INVALID_HID;
    g = H5Gopen2(file, group, H5P_DEFAULT);
    SISA_H5(g, SISA_ECORRUPT, "%s: group /%s is missing", path, group);
    H5G_info_t info;
    SISA_H5(H5Gget_info(g, &info), SISA_ECORRUPT, "%s: cannot list /%s", path, group);
    SISA_CHECK(info.nlinks == (hsize_t)n, SISA_ECORRUPT,
               "%s: /%s holds %llu tensors but this model has %d (was it trained with another "
               "model or optimizer?)",
               path, group, (unsigned long long)info.nlinks, n);
    for (int i = 0; i < n; i++) {
        int found = sisa_h5_open_dataset(g, t[i].name, &ds, path);
        SISA_TRY(found);
        SISA_CHECK(found, SISA_ECORRUPT, "%s: /%s/%s is missing", path, group, t[i].name);
        space = H5Dget_space(ds);
        SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of /%s/%s", path, group,
                t[i].name);
        hsize_t dims[2] = {0, 1};
        int rank = H5Sget_simple_extent_ndims(space);
        SISA_CHECK(rank == t[i].rank, SISA_ECORRUPT, "%s: /%s/%s has rank %d, expected %d", path,
                   group, t[i].name, rank, t[i].rank);
        H5Sget_simple_extent_dims(space, dims, NULL);
        SISA_CHECK(dims[0] == t[i].shape[0] && (rank == 1 || dims[1] == t[i].shape[1]),
                   SISA_ECORRUPT, "%s: /%s/%s has the wrong shape", path, group, t[i].name);
        type = H5Dget_type(ds);
        SISA_H5(type, SISA_ECORRUPT, "%s: cannot read a type", path);
        SISA_CHECK(H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4, SISA_ECORRUPT,
                   "%s: /%s/%s is not float32", path, group, t[i].name);
        SISA_H5(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t[i].data),
                SISA_ECORRUPT, "%s: reading /%s/%s failed", path, group, t[i].name);
        sisa_h5_close_quiet(&type);
        sisa_h5_close_quiet(&space);
        sisa_h5_close_quiet(&ds);
    }
done:
    sisa_h5_close_quiet(&type);
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&ds);
    sisa_h5_close_quiet(&g);
    return err;
}

int sisa_ckpt_read(sisa_ckpt_meta *out, const char *path, const sisa_tensor *params, int n_params,
                   const sisa_tensor *state, int n_state)
{
    int err = SISA_OK;
    sisa_h5_init();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_ECORRUPT, "cannot open checkpoint %s", path);
    SISA_TRY(read_meta(file, out, path));
    SISA_TRY(read_tensors(file, "model", params, n_params, path));
    SISA_TRY(read_tensors(file, "optim", state, n_state, path));
done:
    sisa_h5_close_quiet(&file);
    return err;
}
