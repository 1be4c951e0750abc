/*
 * partition.h - which shard and slice each row belongs to, and writing the shard files.
 *
 * Assignment is a keyed hash (base/rng.h, sisa_rng_assign) so that it depends on nothing but the
 * seed and the row's own key: shard = H0(seed, key) mod S, key = id (sharding: id) or group
 * (sharding: group: all rows of one data subject in one shard); slice = H1(seed, id) mod R.
 * Under sharding: tiered the row's own risk tier t (the dataset's risk column) picks a range of
 * shards fixed by the config: shard = offset(t) + H0(seed, key) mod S_t, key = id or group
 * (sisa.tier_key), offset(t) = S_0 + ... + S_{t-1}; slice = R - 1 when the tier has last_slice,
 * else H1(seed, id) mod R. Either way a row's place is a pure function of the seed, the config
 * and the row itself: deleting rows never moves any other row, which is why
 * unlearn(train(D), X) and train(D \ X) see the same shards and slices.
 */
#ifndef SISA_SHARD_PARTITION_H
#define SISA_SHARD_PARTITION_H

#include "io/dsstream.h"
#include "io/store_io.h"
#include "shard/store.h"

#include <stdint.h>

/* The shard and slice of the row (id, group, risk); group and risk are read only when the
 * config uses them, and risk must be below sisa.tiers' count (sisa_partition_check_columns). */
void sisa_partition_assign(const sisa_config *cfg, uint64_t id, uint64_t group, uint8_t risk,
                           uint32_t *shard, uint32_t *slice);

/* Mark in candidate (S entries) every shard a row keyed `key` (its ID, or its group when
 * sisa_config_by_group) can be in: one shard, or under tiered sharding one per tier (its tier is
 * a column of the dataset, not of the request). */
void sisa_partition_candidates(const sisa_config *cfg, uint64_t key, unsigned char *candidate);

/* The tier of shard k under tiered sharding (0 otherwise). */
uint32_t sisa_partition_tier_of(const sisa_config *cfg, uint32_t k);

/* Whether shard k takes its rows in its last slice only (a last_slice tier): its stages
 * 1..R-1 train on no rows by design. */
int sisa_partition_last_slice_shard(const sisa_config *cfg, uint32_t k);

/* The columns the config's assignment needs are in the dataset `path` (group for sharding by
 * group, risk under tiered sharding) and every risk tier is one of sisa.tiers; else SISA_ECONFIG
 * naming the first bad row. */
int sisa_partition_check_columns(const sisa_config *cfg, const char *path, uint64_t n,
                                 const uint64_t *group, const uint8_t *risk);

/* Rows per shard (counts has S entries) and the dataset's header, from the ID, group and risk
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
