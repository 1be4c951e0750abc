/*
 * h5util.h - the one place that turns HDF5's conventions into sisa's (src/io only).
 *
 * HDF5 returns negative values on failure and prints its error stack to stderr unless told not
 * to. sisa_h5_init() silences the automatic printing and disables filter-plugin loading (a
 * crafted file must not make us dlopen anything); SISA_H5 wraps every call and records the
 * innermost HDF5 description next to our own sentence.
 */
#ifndef SISA_IO_H5UTIL_H
#define SISA_IO_H5UTIL_H

#include "sisa/error.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Idempotent; call at the top of every io entry point. */
void sisa_h5_init(void);

/* Record `code` with "sentence (HDF5: innermost description)". Returns `code`. */
int sisa_h5_fail(int code, const char *src, int line, const char *fmt, ...) SISA_PRINTF(4, 5);

/* Check an HDF5 call that returns herr_t/hid_t/htri_t: negative means failure. */
#define SISA_H5(call, code, ...)                                                                   \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            err = sisa_h5_fail((code), __FILE__, __LINE__, __VA_ARGS__);                           \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Close helpers: NULL-safe on H5I_INVALID_HID, reset the handle, return negative on failure. */
int sisa_h5_close_file(hid_t *id);
void sisa_h5_close_quiet(hid_t *id); /* any object kind, errors ignored (cleanup paths) */

/* Attributes on `loc` (a file or group). Strings are variable-length UTF-8. */
int sisa_h5_attr_write_str(hid_t loc, const char *name, const char *value);
int sisa_h5_attr_write_i32(hid_t loc, const char *name, int32_t value);
/* n values as a 1-D attribute; n = 0: one value as a scalar attribute (h5py reads it as a
 * number, not a 1-element array). */
int sisa_h5_attr_write_u64s(hid_t loc, const char *name, const uint64_t *v, size_t n);
int sisa_h5_attr_write_i64s(hid_t loc, const char *name, const int64_t *v, size_t n);
/* One float64 as a scalar attribute. */
int sisa_h5_attr_write_f64(hid_t loc, const char *name, double v);
/* Readers return 1 when found, 0 when absent, negative on error (wrong type or shape, or a
 * string that does not fit in `buf`: it is never silently cut).
 * `file` names the file in messages. */
int sisa_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t cap, const char *file);
int sisa_h5_attr_read_i32(hid_t loc, const char *name, int32_t *out, const char *file);
/* Reads up to `cap` integers; *n gets the count. */
int sisa_h5_attr_read_u64s(hid_t loc, const char *name, uint64_t *out, size_t cap, size_t *n,
                           const char *file);
int sisa_h5_attr_read_i64s(hid_t loc, const char *name, int64_t *out, size_t cap, size_t *n,
                           const char *file);
/* One floating-point value (float32 or float64 in the file). */
int sisa_h5_attr_read_f64(hid_t loc, const char *name, double *out, const char *file);
/* A 1-D dataset of n variable-length UTF-8 strings (h5py: f[name].asstr()[:]). */
int sisa_h5_write_strings(hid_t loc, const char *name, const char *const *v, size_t n,
                          const char *file);
/* Read such a dataset: *out is one allocation (free it with sisa_free) holding *n pointers and
 * the strings they point to. Returns 1 when found, 0 when absent, negative on error (not a 1-D
 * string dataset, more than `max` strings, or a string longer than `max_len` bytes). */
int sisa_h5_read_strings(hid_t loc, const char *name, char ***out, size_t *n, size_t max,
                         size_t max_len, const char *file);

/* Open a dataset by name only if it is a hard link in `loc` (no external or soft links, which
 * could make HDF5 open other files). Returns 1 and sets *out, 0 when absent, negative on error. */
int sisa_h5_open_dataset(hid_t loc, const char *name, hid_t *out, const char *file);

/* Writing a store file atomically: create a fresh temp file next to `path` (after removing
 * temps left by writers that no longer run) and open it with HDF5; then close it (checked),
 * fsync and publish it as `path`. On failure *file is closed and the temp file removed. */
int sisa_h5_tmp_create(hid_t *file, char *tmp, size_t cap, const char *path);
int sisa_h5_tmp_publish(hid_t *file, char *tmp, const char *path, int replace);
/* Cleanup for the error path: close *file and remove tmp (when tmp[0]). */
void sisa_h5_tmp_discard(hid_t *file, char *tmp);

/* Writing into a file the caller created (a temp file it will commit itself): create it with
 * HDF5, then close it (checked) and fsync it. */
int sisa_h5_create_file(hid_t *file, const char *path);
int sisa_h5_finish_file(hid_t *file, const char *path);
/* The same for a file built in memory (HDF5's core driver): finishing it writes its bytes to
 * `path` (a temp file the caller made), fsyncs it and gives their SHA-256, computed from memory,
 * so that committing the file (sisa_files_commit_hashed) does not read it back. */
int sisa_h5_create_image(hid_t *file, const char *path);
int sisa_h5_finish_image(hid_t *file, const char *path, char sha[65]);

/* Create dataset `name` in `loc` (rank 1 or 2, contiguous, no modification times so files are
 * byte-reproducible) and write all of `data` (memory type `mtype`) into it. */
int sisa_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const hsize_t *dims, const void *data, const char *file);

/* Write `rows` rows (of `cols` elements, memory type `mtype`) at row `row0` of a 1-D or 2-D
 * dataset (cols = 1 for 1-D). */
int sisa_h5_write_rows(hid_t dset, hid_t mtype, uint64_t row0, uint64_t rows, uint64_t cols,
                       const void *buf, const char *file);
int sisa_h5_read_rows(hid_t dset, hid_t mtype, uint64_t row0, uint64_t rows, uint64_t cols,
                      void *buf, const char *file);

#endif
