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

#include <stdint.h>

typedef struct sisa_dataset_stream sisa_dataset_stream;

typedef struct sisa_dataset_header {
    uint64_t n, d;
    int32_t num_classes;
    int has_group;
    int has_risk;
} sisa_dataset_header;

int sisa_dataset_stream_open(sisa_dataset_stream **out, const char *path, sisa_dataset_header *hdr);
/* The header alone: the file's schema is checked (attributes, X, the columns' types and lengths)
 * but no column is read, so this is cheap on any size of file. */
int sisa_dataset_read_header(const char *path, sisa_dataset_header *hdr);
/* Borrowed columns, valid until close. group is NULL without a group column. */
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
