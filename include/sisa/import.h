/*
 * sisa/import.h - turning user data into canonical dataset files (sisa/dataset.h).
 *
 * Four sources: IDX (MNIST-style, gzipped or plain), CSV with a header row, libsvm (sparse,
 * densified) and an existing HDF5 file. Every importer streams its input into a
 * sisa_dataset_writer, so memory stays at one block of rows plus 20 bytes per row (labels, IDs,
 * groups), and publishes the output atomically: on any error no output file is left behind.
 * Text inputs may be gzipped (detected by their magic bytes, whatever the file name).
 */
#ifndef SISA_IMPORT_H
#define SISA_IMPORT_H

#include "sisa/dataset.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sisa_import_opts {
    const char *out;     /* output path (required) */
    int force;           /* replace an existing output */
    uint64_t id_offset;  /* generated IDs are id_offset + row (0-based) */
    double scale;        /* divide every feature by this (0 or 1: unchanged) */
    int32_t num_classes; /* 0: inferred */
    int remap_labels;    /* labels may be any integers; mapped to 0..C-1 in sorted order */
    int unlabelled;      /* no labels: an unlabelled dataset, an input to predict (not for idx
                          * --labels, csv --label, h5 y; libsvm's leading labels are optional
                          * and ignored) */

    /* idx */
    const char *images;
    const char *labels;

    /* csv: columns by header name; id and group optional */
    const char *label_col;
    const char *id_col;
    const char *group_col;
    char delimiter; /* 0: ',' */
    /* The feature columns by name, '\n'-separated, in the order they become features; every
     * other column (but the ID and group columns) is ignored. NULL: every column that is not
     * the label, ID or group column, in header order. */
    const char *feature_cols;

    /* libsvm: feature count; 0 = the largest index seen */
    uint64_t features;

    /* h5: dataset names inside the input file (NULL: "X", "y", "id", "group"; id and group are
     * used when present) */
    const char *x_name;
    const char *y_name;
    const char *id_name;
    const char *group_name;

    /* csv and h5: the column (dataset) of each row's deletion-risk tier, stored as `risk`;
     * with risk_cuts ("0.5,0.9") its values are probabilities cut into tiers (src/io/risk.c) */
    const char *risk_col;
    const char *risk_cuts;

    /* Set by the importers themselves when an input is '-': the temporary copy of standard
     * input they read, which the output's source attribute calls "standard input". */
    const char *stdin_copy;
} sisa_import_opts;

/* Fill with defaults (everything 0/NULL; scale 1). */
void sisa_import_opts_init(sisa_import_opts *o);

int sisa_import_idx(sisa_dataset_summary *out, const sisa_import_opts *o);
int sisa_import_csv(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o);
int sisa_import_libsvm(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o);
/* Parses the foreign file in a sandboxed child process (base/sandbox.h). */
int sisa_import_h5(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o);

/* HDF5's version ("1.10.8") for `sisa --version`. */
const char *sisa_io_hdf5_version(void);
/* zlib's version. */
const char *sisa_io_zlib_version(void);

#ifdef __cplusplus
}
#endif

#endif
