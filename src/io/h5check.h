/*
 * h5check.h - looking at an HDF5 dataset before trusting it (src/io only).
 *
 * Shared by the reader of canonical dataset files (reader.c) and the importer of foreign HDF5
 * (h5import.c). Both must inspect a dataset's links, storage, type and shape before reading a
 * byte of its data: soft and external links, external raw-data files and virtual layouts can
 * all make HDF5 open files other than the one the user named, and a header can claim any size.
 * Every function names the user's file and the dataset in its messages.
 */
#ifndef SISA_IO_H5CHECK_H
#define SISA_IO_H5CHECK_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Open dataset `name` ("X", or a path such as "data/X") when every link along the path is a
 * hard link and every intermediate object is a group. Returns 1 and sets *out, 0 when some
 * component is absent, negative on error (a soft or external link, a malformed name). */
int sisa_h5_open_path(hid_t file, const char *name, hid_t *out, const char *path);

/* Refuse datasets whose raw data live outside the file: external storage (H5Pset_external) and
 * the virtual layout. SISA_ECORRUPT naming `name`. */
int sisa_h5_check_storage(hid_t ds, const char *name, const char *path);

/* 1 when the dataset has filters (compression, checksums) in its pipeline, 0 when not. */
int sisa_h5_has_filters(hid_t ds, const char *name, const char *path);

/* The dataset's rank (0 for a scalar) and extent. A rank above `cap` or a null dataspace is
 * SISA_ECORRUPT. */
int sisa_h5_shape(hid_t ds, int *rank, hsize_t *dims, int cap, const char *name, const char *path);

/* A short English description of a stored type for messages: "8-bit unsigned integers",
 * "64-bit floating-point numbers", "strings", "compound records", ... */
void sisa_h5_describe_type(hid_t type, char *buf, size_t cap);

/* Number of values in attribute `name` of `loc`: 1 and *n when present, 0 when absent,
 * negative on error. */
int sisa_h5_attr_count(hid_t loc, const char *name, uint64_t *n, const char *path);

#endif
