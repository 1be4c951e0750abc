/*
 * arrays.c - named arrays in one HDF5 file, written atomically (io/arrays.h).
 */
#include "io/arrays.h"

#include "base/fs.h"
#include "io/h5util.h"

#include <string.h>

int sisa_arrays_write(const char *path, const sisa_h5_array *arrays, size_t n_arrays,
                      const sisa_h5_attr *attrs, size_t n_attrs)
{
    int err = SISA_OK;
    hid_t file = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
    char tmp[SISA_PATH_MAX] = "";
    sisa_h5_init();
    SISA_TRY(sisa_h5_tmp_create(&file, tmp, sizeof tmp, path));
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    SISA_H5(lcpl, SISA_EIO, "cannot create a property list");
    SISA_H5(H5Pset_create_intermediate_group(lcpl, 1), SISA_EIO, "cannot set a property");
    for (size_t k = 0; k < n_arrays; k++) {
        const sisa_h5_array *a = &arrays[k];
        /* Create the groups on the way (a/b/c: a and a/b). */
        const char *slash = strrchr(a->name, '/');
        if (slash) {
            char grp[256];
            size_t len = (size_t)(slash - a->name);
            SISA_CHECK(len < sizeof grp, SISA_EINTERNAL, "array name too long: %s", a->name);
            memcpy(grp, a->name, len);
            grp[len] = 0;
            htri_t exists = H5Lexists(file, grp, H5P_DEFAULT);
            if (exists <= 0) {
                hid_t g = H5Gcreate2(file, grp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
                SISA_H5(g, SISA_EIO, "%s: cannot create group %s", tmp, grp);
                H5Gclose(g);
            }
        }
        hsize_t dims[2] = {a->rows, a->cols};
        int rank = a->cols ? 2 : 1;
        if (a->f64)
            SISA_TRY(sisa_h5_write_dataset(file, a->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank,
                                           dims, a->f64, tmp));
        else
            SISA_TRY(sisa_h5_write_dataset(file, a->name, H5T_STD_U64LE, H5T_NATIVE_UINT64, rank,
                                           dims, a->u64, tmp));
    }
    for (size_t k = 0; k < n_attrs; k++)
        SISA_TRY(sisa_h5_attr_write_str(file, attrs[k].name, attrs[k].value));
    SISA_TRY(sisa_h5_tmp_publish(&file, tmp, path, 1));
done:
    sisa_h5_close_quiet(&lcpl);
    if (err) sisa_h5_tmp_discard(&file, tmp);
    return err;
}
