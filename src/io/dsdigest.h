/*
 * dsdigest.h - the dataset digest (docs/formats.md "Dataset digest"): one streaming definition
 * that `sisa train`, `sisa verify` and `sisa audit` all feed.
 *
 * A store's manifest records the digest of the dataset it was partitioned from, so that later
 * commands can tell whether a dataset file still holds the same rows. Two versions exist:
 *
 *   v1  SHA-256("sisa-dataset-v1" || n || d || X || y || id [|| group] [|| risk])   (stores
 *       made before the two-level digest; one stream, so one process reads all of X in order)
 *   v2  rows cut into blocks of SISA_DIGEST_BLOCK_ROWS (the last may be shorter);
 *       leaf_i = SHA-256(X rows || y || id [|| group] [|| risk] of block i);
 *       digest = SHA-256("sisa-dataset-v2" || n || d || B || flags (1 byte) || leaf_0 || ...)
 *       flags = has_group (bit 0) | has_risk (bit 1)
 *
 * (n, d, B: uint64 little-endian; X float32, y int32, id and group uint64, all little-endian;
 * risk uint8.) A dataset without a risk column digests as it did before risk tiers existed.
 * Under v2 any process can digest any range of whole blocks, so the ranks of `sisa train` each
 * hash a slice of the rows and rank 0 combines the leaves in block order: the digest does not
 * depend on the number of ranks. A context is fed the rows of its range in order; it never
 * copies them. Leaves of consecutive whole blocks fed at once are hashed together
 * (sisa_sha256_update_multi), which is what makes v2 faster than v1 on one process too.
 *
 * Little-endian hosts only (like every sisa format).
 */
#ifndef SISA_IO_DSDIGEST_H
#define SISA_IO_DSDIGEST_H

#include "base/sha256.h"
#include "io/dsstream.h"

#include <stdint.h>

#define SISA_DIGEST_V1         1
#define SISA_DIGEST_V2         2
#define SISA_DIGEST_LATEST     SISA_DIGEST_V2
#define SISA_DIGEST_BLOCK_ROWS 1024u

typedef struct sisa_dsdigest {
    int version;
    uint64_t n, d;
    const int32_t *y;      /* (n), borrowed */
    const uint64_t *id;    /* (n), borrowed */
    const uint64_t *group; /* (n) or NULL, borrowed */
    const uint8_t *risk;   /* (n) or NULL, borrowed: set it after sisa_dsdigest_init */
    uint64_t row0, row1;   /* the range digested */
    uint64_t next;         /* the next row expected */
    sisa_sha256_ctx h;     /* v1: the whole stream; v2: the leaf in progress */
    uint64_t leaf0;        /* v2: block number of leaves[0] */
    uint64_t n_leaves;
    uint8_t (*leaves)[32]; /* v2: (n_leaves) */
} sisa_dsdigest;

/* Number of v2 blocks (leaves) of a dataset of n rows. */
uint64_t sisa_dsdigest_blocks(uint64_t n);

/* Start digesting rows [row0, row1) of a dataset with header hdr and per-row columns y, id and
 * group (whole columns, borrowed until sisa_dsdigest_free; group NULL without one). v1 digests
 * only the whole dataset (row0 = 0, row1 = n); v2 ranges start at a block boundary and end at
 * one or at n. An empty range is allowed under v2. */
int sisa_dsdigest_init(sisa_dsdigest *c, int version, const sisa_dataset_header *hdr,
                       const int32_t *y, const uint64_t *id, const uint64_t *group, uint64_t row0,
                       uint64_t row1);
/* The next `rows` rows of the range: X (rows, d). */
int sisa_dsdigest_rows(sisa_dsdigest *c, const float *X, uint64_t rows);
/* The digest (hex) once every row of the whole dataset was fed. */
int sisa_dsdigest_final(sisa_dsdigest *c, char hex[SISA_SHA256_HEX]);
void sisa_dsdigest_free(sisa_dsdigest *c); /* safe on a zeroed struct */

/* v2: the digest from every leaf of the dataset, in block order (sisa_dsdigest_blocks(n)). */
void sisa_dsdigest_root(char hex[SISA_SHA256_HEX], const sisa_dataset_header *hdr,
                        const uint8_t (*leaves)[32]);

/* Rows read at a time to digest or partition a dataset of d features: whole blocks (4 at a
 * time, so that their leaves are hashed together) unless that exceeds 16 MiB. */
uint64_t sisa_dsdigest_read_rows(uint64_t d);

/* The digest of the dataset file at `path`, read whole by this process in blocks. */
int sisa_dataset_digest(const char *path, int version, char hex[SISA_SHA256_HEX]);

#endif
