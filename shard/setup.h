/*
 * setup.h - degenerate set-ups, refused or named before any work.
 *
 * Stage r of a shard trains on the shard's rows in slices 0..r-1. With fewer rows than
 * shards x slices some slice of some shard is necessarily empty, and usually whole shards are
 * (a shard without rows has no model and stays out of the ensemble): `sisa train` refuses to
 * create such a store, and `sisa config check` says so, before anything is written. A stage
 * that trains on fewer rows than one minibatch still runs, but takes about one small step per
 * epoch and teaches its model little, and a shard that gets no row at all has no model: those
 * are warnings naming the stages and shards, with the numbers.
 *
 * Only a new store is judged: a store that exists may legitimately hold fewer rows than
 * shards x slices after deletions, and is never refused for it.
 */
#ifndef SISA_SHARD_SETUP_H
#define SISA_SHARD_SETUP_H

#include "sisa/config.h"

#include <stdint.h>

/* 1 when the store folder `root` holds no store yet (no manifest and no ledger): the next
 * `sisa train` partitions the dataset afresh. Touches nothing. */
int sisa_setup_new_store(const char *root);

/* A new store of cfg's shards x slices from cfg->data.train, which has n rows: SISA_ECONFIG
 * naming the config, the dataset and the numbers, and what to change, when n < S x R. */
int sisa_setup_check_rows(const sisa_config *cfg, uint64_t n);

/* A cnn reads each row as the image model.input declares: SISA_ECONFIG naming the config, the
 * dataset and both shapes when cfg->data.train (d features a row) does not hold such images:
 * it records no feature_shape, or another one ([H, W] matches [1, H, W]). Reads only the
 * attribute (check the file with sisa_dataset_read_header first). SISA_OK for other models. */
int sisa_setup_check_shape(const sisa_config *cfg, uint64_t d);
/* The columns cfg's sharding needs, from the dataset's header alone: a group column for sharding
 * by group, a risk column under sharding: tiered (SISA_ECONFIG, sisa_partition_check_columns's
 * message). The tiers' range is checked when the column is read. */
int sisa_setup_check_columns(const sisa_config *cfg, int has_group, int has_risk);

/* Warn about the stages that train on fewer rows than train.batch_size.
 * _expected: from the row count alone (n / S x r / R rows per shard at stage r), for
 * `config check`, which reads only the dataset's header.
 * _exact: from the rows each stage of each shard really gets (stage_rows as filled by
 * sisa_partition_count, S x R entries), for a new store's `sisa train`; also names the shards
 * that get no row at all. An empty shard is not refused: after deleting every row of a shard,
 * `train(D \ X)`, the reference that `unlearn(train(D), X)` must equal bit for bit, has one. */
void sisa_setup_warn_expected(const sisa_config *cfg, uint64_t n);
void sisa_setup_warn_exact(const sisa_config *cfg, const uint64_t *stage_rows);

#endif
