/*
 * sisa/dataset.h - the canonical dataset file (docs/formats.md "Dataset").
 *
 * An HDF5 file whose root holds
 *   X      float32 [n, d]   features, finite
 *   y      int32   [n]      labels in 0..num_classes-1
 *   id     uint64  [n]      sample IDs, unique
 *   group  uint64  [n]      optional: data-subject keys (rows of one person share a group)
 *   risk   uint8   [n]      optional: deletion-risk tier of each row (sisa.sharding tiered);
 *                           with a group column, all rows of a group share one tier
 * and the root attributes num_classes (int32), sisa_format ("sisa-dataset"),
 * sisa_format_version (int32, 1), source (string), created_by (string), optionally
 * feature_shape (uint32 [k], e.g. [28, 28]) and label_values (int64 [num_classes]: the original
 * label of each class after --remap-labels), scale (float64: the --scale every feature was
 * divided by, when not 1) and the dataset feature_names (UTF-8 strings [d]: the CSV columns the
 * features came from, in order).
 *
 * An unlabelled dataset (an input to predict: `sisa import --unlabelled`) has no y, num_classes
 * 0 and the attribute labelled = 0 (int32). Training, evaluation and auditing refuse it;
 * sisa_dataset_read_any() and `sisa predict` accept it.
 *
 * Files are written through sisa_dataset_writer: streamed, validated, then published atomically
 * (temp file, fsync, rename, fsync of the folder). Nothing ever edits a dataset in place.
 * Data are stored uncompressed so that `sisa audit` can scan raw bytes (docs/guarantees.md).
 */
#ifndef SISA_DATASET_H
#define SISA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SISA_DATASET_FORMAT         "sisa-dataset"
#define SISA_DATASET_FORMAT_VERSION 1
#define SISA_MAX_CLASSES            (1 << 20)
#define SISA_MAX_FEATURE_RANK       8

/* Without a declared class count (sisa_writer_opts.num_classes 0, no --num-classes) the classes
 * are inferred: the largest label + 1, or the number of distinct labels when remapping. More
 * than this many is refused (SISA_EUSAGE: did a label go wrong?): a label typo such as 1048575
 * would otherwise make a million classes. A declared count may go up to SISA_MAX_CLASSES. */
#define SISA_INFER_CLASSES_MAX 1000

typedef struct sisa_dataset {
    uint64_t n;          /* rows */
    uint64_t d;          /* features per row */
    int32_t num_classes; /* 0 when unlabelled */
    int labelled;        /* 0: an unlabelled dataset (y is NULL) */
    float *X;            /* (n, d) row-major */
    int32_t *y;          /* (n), NULL when unlabelled */
    uint64_t *id;        /* (n) */
    uint64_t *group;     /* (n), NULL when the file has no group column */
    int feature_rank;    /* 0 when the file has no feature_shape */
    uint64_t feature_shape[SISA_MAX_FEATURE_RANK];
    int64_t *label_values; /* (num_classes), NULL unless labels were remapped */
    /* Entries of label_values that hold an original label: num_classes, or fewer when
     * --num-classes declared more classes than there were distinct labels (the rest are 0). */
    int32_t num_label_values;
    double scale;         /* the import's --scale (1 when not recorded) */
    char **feature_names; /* (d) the CSV feature columns, NULL when not recorded */
    char source[1024];
    char created_by[256];
    uint8_t *risk; /* (n), NULL when the file has no risk column */
} sisa_dataset;

/* Read and validate a whole dataset file. A file that is not HDF5, lacks the sisa_format
 * attribute (a foreign HDF5 file: import it with `sisa import h5`), or breaks the schema gives
 * SISA_ECORRUPT naming the file and the problem. The result belongs to the caller. */
int sisa_dataset_read(sisa_dataset **out, const char *path);
/* The same, but an unlabelled dataset is accepted too (ds->labelled tells). */
int sisa_dataset_read_any(sisa_dataset **out, const char *path);
/* Whether `path` is a sisa dataset file: 1 yes, 0 an HDF5 file without the sisa_format
 * attribute (a foreign HDF5 file), negative when it cannot be opened as HDF5. */
int sisa_dataset_probe(const char *path);
void sisa_dataset_free(sisa_dataset *ds);
/* '-' where a file is read whole or twice: standard input, copied to its end into FILE =
 * DIR/stdin, DIR a fresh folder sisa-WHAT-XXXXXX in $TMPDIR (when it is an existing folder, else
 * /tmp), to be read as a file. SISA_EUSAGE when standard input is a terminal or empty; on an
 * error nothing is left. Remove DIR afterwards with sisa_stdin_spool_remove. */
int sisa_stdin_spool(const char *what, char *dir, size_t dir_cap, char *file, size_t file_cap);
void sisa_stdin_spool_remove(const char *dir);

/* ---- streaming writer ------------------------------------------------------------------- */

typedef struct sisa_dataset_writer sisa_dataset_writer;

typedef struct sisa_writer_opts {
    int replace;         /* replace an existing output (else SISA_EEXIST) */
    int has_group;       /* rows carry a group key */
    uint64_t n_hint;     /* exact row count when known up front, else 0 */
    int32_t num_classes; /* 0: max label + 1 (or the number of distinct labels when remapping) */
    int remap_labels;    /* map the sorted distinct labels to 0..C-1; originals in label_values */
    float scale;         /* every feature is divided by this in float32 (0 or 1: unchanged) */
    const char *source;  /* provenance, stored in the `source` attribute */
    int feature_rank;    /* optional feature_shape */
    uint64_t feature_shape[SISA_MAX_FEATURE_RANK];
    int unlabelled;                   /* no labels: y is ignored, none are written */
    const char *const *feature_names; /* (d) recorded as feature_names, or NULL; must stay valid
                                       * until commit */
    /* When set, write to this existing temp file and stop after fsync at commit: the caller
     * publishes it (used by sandboxed imports, where the parent owns the temp file). */
    const char *tmp_path;
    int has_risk; /* rows carry a risk tier (sisa_dataset_writer_append_risk) */
} sisa_writer_opts;

typedef struct sisa_dataset_summary {
    uint64_t n, d;
    int32_t num_classes; /* 0 when unlabelled */
    int has_group;
    uint64_t id_min, id_max;
    float x_min, x_max;
    uint64_t file_bytes;
    int has_risk;
    int32_t risk_max; /* with has_risk: the highest risk tier */
} sisa_dataset_summary;

/* Start writing `path` (a temp file next to it) with `d` features per row. */
int sisa_dataset_writer_open(sisa_dataset_writer **out, const char *path, uint64_t d,
                             const sisa_writer_opts *opts);

/* Append `rows` rows. X is (rows, d); y holds raw labels (NULL when opts.unlabelled) (checked and
 * possibly remapped at commit); id and group are (rows); group must be NULL unless opts.has_group.
 * Features are scaled and checked to be finite; the message names the row. */
int sisa_dataset_writer_append(sisa_dataset_writer *w, const float *X, const int64_t *y,
                               const uint64_t *id, const uint64_t *group, uint64_t rows);

/* With opts.has_risk: the risk tiers of the next `rows` rows, after or before their
 * sisa_dataset_writer_append (the two columns must have the same length at commit). */
int sisa_dataset_writer_append_risk(sisa_dataset_writer *w, const uint8_t *risk, uint64_t rows);

/* Rows appended so far. */
uint64_t sisa_dataset_writer_rows(const sisa_dataset_writer *w);

/* Check the whole (IDs unique, labels in range, at least one row, one risk tier per group),
 * write labels, IDs, groups, risk tiers and attributes, close, fsync and publish. Frees the writer
 * whatever happens; on failure the temp file is removed and no output appears. `summary` may be
 * NULL. */
int sisa_dataset_writer_commit(sisa_dataset_writer *w, sisa_dataset_summary *summary);

/* Discard everything written: close and remove the temp file. NULL-safe. */
void sisa_dataset_writer_abort(sisa_dataset_writer *w);

#ifdef __cplusplus
}
#endif

#endif
