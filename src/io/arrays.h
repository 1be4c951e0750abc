/*
 * arrays.h - a small HDF5 file of named float64 and uint64 arrays (1-D or 2-D) and string
 * attributes, written atomically: the results file of `sisa gauge score` (docs/gauge.md).
 */
#ifndef SISA_IO_ARRAYS_H
#define SISA_IO_ARRAYS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_h5_array {
    const char *name;    /* "epsilon/exact": groups on the way are created */
    uint64_t rows, cols; /* cols = 0: 1-D of `rows` */
    const double *f64;   /* one of f64, u64 */
    const uint64_t *u64;
} sisa_h5_array;

typedef struct sisa_h5_attr {
    const char *name, *value;
} sisa_h5_attr;

/* Write `path` (replacing it) with the arrays and root attributes, through a temp file, fsync
 * and rename. */
int sisa_arrays_write(const char *path, const sisa_h5_array *arrays, size_t n_arrays,
                      const sisa_h5_attr *attrs, size_t n_attrs);

#endif
