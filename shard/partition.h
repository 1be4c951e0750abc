/*
 * partition.h - which shard and slice each row belongs to, and writing the shard files.
 *
 * Assignment is a keyed hash (base/rng.h, sisa_rng_assign) so that it depends on nothing but the
 * seed and the row's own key: shard = H0(seed, key) mod S, key = id (sharding: id) or group
 * (sharding: group: all rows of one data subject in one shard); slice = H1(seed, id) mod R.
 * Deleting rows never moves any other row, which is why unlearn(train(D), X) and train(D \ X)
 * see the same shards and slices.
 */
#ifndef SISA_SHARD_PARTITION_H
#define SISA_SHARD_PARTITION_H

#include "io/dsstream.h"
#include "io/store_io.h"
#include "shard/store.h"

#include <stdint.h>

void sisa_partition_assign(const sisa_config *cfg, uint64_t id, uint64_t group, uint32_t *shard,
                           uint32_t *slice);

/* Rows per shard (counts has S entries) and the dataset's header, from the ID and group
 * columns only (features are not read). With stage_rows (S x R entries), also the rows each
 * stage trains on: stage_rows[k * R + r - 1] is the number of shard k's rows in slices 0..r-1. */
int sisa_partition_count(const sisa_config *cfg, uint64_t *counts, uint64_t *stage_rows,
                         sisa_dataset_header *hdr);

/* What sisa_partition is asked to do, and what it gives back. */
typedef struct sisa_partition_job {
    /* in */
    const unsigned char *want; /* (S) shards whose data files to write (NULL: all) */
    uint32_t digest_part;      /* digest this part of the dataset's v2 blocks ... */
    uint32_t digest_parts;     /* ... of this many (0: no digest) */
    int keep;                  /* keep the written shards in memory (for sisa_shard_train_from) */
    int defer_write;           /* with keep: only read; sisa_partition_write writes the files */
    /* out */
    sisa_dataset_header hdr;
    uint64_t leaf0, n_leaves; /* the digest leaves of blocks leaf0.. (io/dsdigest.h) */
    uint8_t (*leaves)[32];
    sisa_shard_data **kept; /* (S) with keep: the shards written, else NULL entries */
    char (*sha)[65];        /* (S) the committed SHA-256 of each shard file written */
    struct sisa_partition_digest *pending; /* with defer_write: a digest left for the write */
} sisa_partition_job;

/* The v2 digest blocks of part `part` of `parts` of a dataset of n rows: [*b0, *b1). */
void sisa_partition_digest_part(uint64_t n, uint32_t part, uint32_t parts, uint64_t *b0,
                                uint64_t *b1);

/* Split cfg->data.train into STORE/shards/KKKK/data.h5 for every wanted shard, rows sorted by
 * ID, in one pass over the features: each row of X is read once, into a reused block (or
 * straight into its shard when a block's rows are consecutive rows of one shard), and copied
 * once, to its shard's position. Rows in the asked digest part are all read and digested as
 * they pass (so each row is hashed once); outside it, only the runs of wanted rows are read, so
 * a rank of a large job reads about 2/P of the features. Each data file is hashed as it is
 * written (sisa_shard_data_write_hashed). Free the job's results with
 * sisa_partition_job_free. */
int sisa_partition(const sisa_store *st, sisa_partition_job *job);
/* After sisa_partition with defer_write: write and commit the data file of every kept shard
 * (job->sha gets their SHA-256). When every row of the digest part was kept in long runs of
 * consecutive rows (one shard, or a dataset stored in shard order), sisa_partition leaves the
 * digest to this call too, which hashes the rows from the shards' memory (the same bytes, and
 * as fast: whole blocks at a time), so that it also runs while a first stage trains ahead. */
int sisa_partition_write(const sisa_store *st, sisa_partition_job *job, uint32_t shards);
void sisa_partition_job_free(sisa_partition_job *job, uint32_t shards);

#endif
