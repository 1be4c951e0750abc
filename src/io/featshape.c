/*
 * featshape.c - the feature_shape attribute of a dataset file, without reading its rows.
 *
 * `sisa train` of a new cnn store and `sisa config check` compare the image shape the config
 * declares (model.input) with the one import recorded; the full schema check of the file is
 * sisa_dataset_read_header's (call it first), this reads the one attribute.
 */
#include "io/dsstream.h"

#include "io/h5check.h"
#include "io/h5util.h"
#include "sisa/dataset.h"

int sisa_dataset_read_feature_shape(const char *path, int *rank, uint64_t *shape)
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID;
    uint64_t count = 0;
    size_t k = 0;
    *rank = 0;
    sisa_h5_init();
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SISA_H5(file, SISA_ECORRUPT, "%s: cannot open the HDF5 file", path);
    int found = sisa_h5_attr_count(file, "feature_shape", &count, path);
    SISA_TRY(found);
    if (found) {
        SISA_CHECK(count >= 1 && count <= SISA_MAX_FEATURE_RANK, SISA_ECORRUPT,
                   "%s: feature_shape has %llu entries; expected 1 to %d", path,
                   (unsigned long long)count, SISA_MAX_FEATURE_RANK);
        SISA_TRY(
            sisa_h5_attr_read_u64s(file, "feature_shape", shape, SISA_MAX_FEATURE_RANK, &k, path));
        *rank = (int)k;
    }
done:
    sisa_h5_close_quiet(&file);
    return err;
}
