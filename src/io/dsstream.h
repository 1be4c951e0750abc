/*
 * dsstream.h - read a canonical dataset file in row blocks.
 *
 * Opening validates the schema and loads the small per-row columns (labels, IDs, groups, risk
 * tiers: up to 21 bytes a row) whole, checking label range and ID uniqueness; features are then
 * read block by block, so memory stays at one block however large the file. This is how `sisa
 * train` partitions a dataset: each process keeps only the rows of its own shards.
 */
#ifndef SISA_IO_DSSTREAM_H
#define SISA_IO_DSSTREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_dataset_stream sisa_dataset_stream;

typedef struct sisa_dataset_header {
    uint64_t n, d;
    int32_t num_classes; /* 0 when unlabelled */
    int has_group;
    int labelled; /* 0: no y (only the _any openers accept such a file) */
    int has_risk;
} sisa_dataset_header;

int sisa_dataset_stream_open(sisa_dataset_stream **out, const char *path, sisa_dataset_header *hdr);
/* The same, accepting an unlabelled dataset too (its y is NULL). */
int sisa_dataset_stream_open_any(sisa_dataset_stream **out, const char *path,
                                 sisa_dataset_header *hdr);
/* What an import recorded about the features of a dataset file (labelled or not): the CSV
 * column names (*names: one allocation, free with sisa_free; NULL and 0 when not recorded) and
 * the --scale (1 when not recorded). Reads no column. */
int sisa_dataset_feature_info(const char *path, char ***names, size_t *n_names, double *scale);
/* The header alone: the file's schema is checked (attributes, X, the columns' types and lengths)
 * but no column is read, so this is cheap on any size of file. */
int sisa_dataset_read_header(const char *path, sisa_dataset_header *hdr);
/* The dataset's feature_shape attribute (what import recorded of a row's shape, e.g. [28, 28])
 * into shape (SISA_MAX_FEATURE_RANK entries) and its entry count into *rank; *rank = 0 when the
 * file has none. Reads nothing else: check the file with sisa_dataset_read_header first. */
int sisa_dataset_read_feature_shape(const char *path, int *rank, uint64_t *shape);
/* Borrowed columns, valid until close. group is NULL without a group column, y when
 * unlabelled. */
const int32_t *sisa_dataset_stream_y(const sisa_dataset_stream *s);
const uint64_t *sisa_dataset_stream_id(const sisa_dataset_stream *s);
const uint64_t *sisa_dataset_stream_group(const sisa_dataset_stream *s);
/* The risk tiers (sisa.sharding tiered), NULL without a risk column. */
const uint8_t *sisa_dataset_stream_risk(const sisa_dataset_stream *s);
/* Read rows [row0, row0 + rows) of X into buf (rows, d); non-finite values are an error naming
 * the row. */
int sisa_dataset_stream_read_x(sisa_dataset_stream *s, uint64_t row0, uint64_t rows, float *buf);
void sisa_dataset_stream_close(sisa_dataset_stream *s); /* NULL-safe */

#endif
