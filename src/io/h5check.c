/*
 * h5check.c - see h5check.h.
 */
#include "io/h5check.h"

#include "io/h5util.h"
#include "sisa/error.h"

#include <stdio.h>
#include <string.h>

int sisa_h5_open_path(hid_t file, const char *name, hid_t *out, const char *path)
{
    int err = SISA_OK;
    char prefix[1024];
    *out = H5I_INVALID_HID;
    const char *rel = name;
    while (*rel == '/') rel++; /* "/X" and "X" both mean the root's X */
    size_t len = strlen(rel);
    SISA_CHECK(len > 0 && len < sizeof prefix, SISA_EUSAGE, "%s: '%s' is not a usable dataset name",
               path, name);
    SISA_CHECK(!strstr(rel, "//") && rel[len - 1] != '/', SISA_EUSAGE,
               "%s: '%s' is not a usable dataset name (empty path component)", path, name);
    /* Walk the intermediate groups one link at a time: H5Lexists on "a/b" would follow an
     * external link "a" into another file before we could look at it. */
    for (const char *slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
        size_t plen = (size_t)(slash - rel);
        memcpy(prefix, rel, plen);
        prefix[plen] = '\0';
        htri_t ex = H5Lexists(file, prefix, H5P_DEFAULT);
        SISA_H5(ex, SISA_ECORRUPT, "%s: cannot look up '%s'", path, prefix);
        if (!ex) return 0;
        H5L_info_t li;
        SISA_H5(H5Lget_info(file, prefix, &li, H5P_DEFAULT), SISA_ECORRUPT,
                "%s: cannot read link '%s'", path, prefix);
        SISA_CHECK(li.type == H5L_TYPE_HARD, SISA_ECORRUPT,
                   "%s: '%s' is %s link; only objects stored in the file itself are accepted", path,
                   prefix, li.type == H5L_TYPE_SOFT ? "a soft" : "an external");
        H5O_info_t oi;
        SISA_H5(H5Oget_info_by_name2(file, prefix, &oi, H5O_INFO_BASIC, H5P_DEFAULT), SISA_ECORRUPT,
                "%s: cannot inspect '%s'", path, prefix);
        SISA_CHECK(oi.type == H5O_TYPE_GROUP, SISA_ECORRUPT, "%s: '%s' is not a group", path,
                   prefix);
    }
    return sisa_h5_open_dataset(file, rel, out, path);
done:
    return err;
}

int sisa_h5_check_storage(hid_t ds, const char *name, const char *path)
{
    int err = SISA_OK;
    hid_t dcpl = H5Dget_create_plist(ds);
    SISA_H5(dcpl, SISA_ECORRUPT, "%s: cannot read the storage properties of '%s'", path, name);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    SISA_H5(layout, SISA_ECORRUPT, "%s: cannot read the layout of '%s'", path, name);
    SISA_CHECK(layout != H5D_VIRTUAL, SISA_ECORRUPT,
               "%s: '%s' is a virtual dataset (its data live in other files); only data stored "
               "in the file itself are accepted",
               path, name);
    int next = H5Pget_external_count(dcpl);
    SISA_H5(next, SISA_ECORRUPT, "%s: cannot read the storage of '%s'", path, name);
    SISA_CHECK(next == 0, SISA_ECORRUPT,
               "%s: '%s' keeps its data in %d external file%s; only data stored in the file "
               "itself are accepted",
               path, name, next, next == 1 ? "" : "s");
done:
    sisa_h5_close_quiet(&dcpl);
    return err;
}

int sisa_h5_has_filters(hid_t ds, const char *name, const char *path)
{
    int err = SISA_OK;
    hid_t dcpl = H5Dget_create_plist(ds);
    SISA_H5(dcpl, SISA_ECORRUPT, "%s: cannot read the storage properties of '%s'", path, name);
    int nf = H5Pget_nfilters(dcpl);
    SISA_H5(nf, SISA_ECORRUPT, "%s: cannot read the filters of '%s'", path, name);
    err = nf > 0;
done:
    sisa_h5_close_quiet(&dcpl);
    return err;
}

int sisa_h5_shape(hid_t ds, int *rank, hsize_t *dims, int cap, const char *name, const char *path)
{
    int err = SISA_OK;
    hid_t space = H5Dget_space(ds);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read the shape of '%s'", path, name);
    H5S_class_t cls = H5Sget_simple_extent_type(space);
    SISA_CHECK(cls == H5S_SCALAR || cls == H5S_SIMPLE, SISA_ECORRUPT,
               "%s: '%s' has no data (an empty dataspace)", path, name);
    int r = H5Sget_simple_extent_ndims(space);
    SISA_H5(r, SISA_ECORRUPT, "%s: cannot read the rank of '%s'", path, name);
    SISA_CHECK(r <= cap, SISA_ECORRUPT, "%s: '%s' has %d dimensions; at most %d are supported",
               path, name, r, cap);
    if (r > 0)
        SISA_H5(H5Sget_simple_extent_dims(space, dims, NULL), SISA_ECORRUPT,
                "%s: cannot read the dimensions of '%s'", path, name);
    *rank = r;
done:
    sisa_h5_close_quiet(&space);
    return err;
}

void sisa_h5_describe_type(hid_t type, char *buf, size_t cap)
{
    size_t bits = 8 * H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, cap, "%zu-bit %s integers", bits,
                 H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed");
        break;
    case H5T_FLOAT:
        snprintf(buf, cap, "%zu-bit floating-point numbers", bits);
        break;
    case H5T_STRING:
        snprintf(buf, cap, "strings");
        break;
    case H5T_COMPOUND:
        snprintf(buf, cap, "compound records");
        break;
    case H5T_ENUM:
        snprintf(buf, cap, "enumeration values");
        break;
    case H5T_ARRAY:
        snprintf(buf, cap, "arrays");
        break;
    case H5T_VLEN:
        snprintf(buf, cap, "variable-length sequences");
        break;
    case H5T_REFERENCE:
        snprintf(buf, cap, "object references");
        break;
    case H5T_OPAQUE:
        snprintf(buf, cap, "opaque bytes");
        break;
    case H5T_BITFIELD:
        snprintf(buf, cap, "bit fields");
        break;
    case H5T_TIME:
        snprintf(buf, cap, "time values");
        break;
    default:
        snprintf(buf, cap, "values of an unknown type");
        break;
    }
    H5Eclear2(H5E_DEFAULT);
}

int sisa_h5_attr_count(hid_t loc, const char *name, uint64_t *n, const char *path)
{
    int err = SISA_OK;
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID;
    htri_t ex = H5Aexists(loc, name);
    SISA_H5(ex, SISA_ECORRUPT, "%s: cannot look up attribute %s", path, name);
    if (!ex) return 0;
    attr = H5Aopen(loc, name, H5P_DEFAULT);
    SISA_H5(attr, SISA_ECORRUPT, "%s: cannot open attribute %s", path, name);
    space = H5Aget_space(attr);
    SISA_H5(space, SISA_ECORRUPT, "%s: cannot read attribute %s", path, name);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    SISA_H5(np, SISA_ECORRUPT, "%s: cannot read the size of attribute %s", path, name);
    *n = (uint64_t)np;
    err = 1;
done:
    sisa_h5_close_quiet(&space);
    sisa_h5_close_quiet(&attr);
    return err;
}
