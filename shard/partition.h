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
#include "shard/store.h"

#include <stdint.h>

void sisa_partition_assign(const sisa_config *cfg, uint64_t id, uint64_t group, uint32_t *shard,
                           uint32_t *slice);

/* Rows per shard (counts has S entries) and the dataset's header, from the ID and group
 * columns only (features are not read). With stage_rows (S x R entries), also the rows each
 * stage trains on: stage_rows[k * R + r - 1] is the number of shard k's rows in slices 0..r-1. */
int sisa_partition_count(const sisa_config *cfg, uint64_t *counts, uint64_t *stage_rows,
                         sisa_dataset_header *hdr);

/* Split cfg->data.train into STORE/shards/KKKK/data.h5 for every shard k with want[k] != 0
 * (want == NULL: all shards), rows sorted by ID, keeping only those rows in memory. With
 * digest_hex, every row of X is read to compute the dataset's digest (SHA-256 hex, see
 * docs/formats.md); without, only the wanted shards' rows are read. */
int sisa_partition(const sisa_store *st, const unsigned char *want, char *digest_hex,
                   sisa_dataset_header *hdr);

#endif
