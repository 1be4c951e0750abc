/*
 * verify.h - proving that a store equals training from scratch without its deleted rows
 * (`sisa verify`).
 *
 * The deletion ledger (shard/request.h) names every certified request, the salted hashes of the
 * rows it deleted and the shards it touched. For each touched shard, verification rebuilds the
 * rows the shard must hold without consulting the store: the original dataset is partitioned
 * again (same keyed assignment as partition.c), minus every row whose salted ID hash is in the
 * ledger. Those rows are compared with the store's data file, then trained from scratch in a
 * separate scratch store, and every checkpoint of the scratch shard is compared with the
 * store's by SHA-256 (checkpoints are byte-reproducible, io/store_io.h). A difference is named:
 * the first differing row, or the first /model or /optim tensor that differs.
 *
 * When the original dataset is gone or has changed (its digest differs from the manifest's),
 * the rows are rebuilt from the store's own data file minus the deleted rows instead: that
 * still proves that no deleted row is left in the data and that the models are exactly what
 * training on the stored rows gives, but not that the stored rows are the dataset's.
 *
 * Nothing here knows about MPI; the store is only read (the scratch store is written).
 */
#ifndef SISA_SHARD_VERIFY_H
#define SISA_SHARD_VERIFY_H

#include "io/store_io.h"
#include "shard/ledger.h"
#include "shard/store.h"

#include <stdint.h>

/* Rebuild, from st->cfg.data.train, the rows every shard k with want[k] != 0 holds when trained
 * without the deleted rows: the rows assigned to k, minus deleted ones, sorted by ID, with their
 * slices. out[k] (S entries) receives them (NULL for shards not wanted); the caller frees each.
 * Only the wanted shards' features are read. */
int sisa_verify_rebuild(sisa_shard_data **out, const sisa_store *st, const unsigned char *want,
                        const sisa_deletions *del);

/* The outcome for one shard: fixed size, so that ranks can send it as bytes. */
typedef struct sisa_verify_shard {
    uint32_t shard;
    uint32_t checkpoints; /* checkpoints compared (R, or 0 for a shard with no rows left) */
    uint64_t rows;        /* rows the shard must hold */
    int32_t data_match;
    int32_t checkpoints_match;
    char lineage[65]; /* lineage of the final stage of the rows it must hold */
    char model[65];   /* committed SHA-256 of the store's final checkpoint ("" when none) */
    char detail[512]; /* what differs, or what was checked */
} sisa_verify_shard;

/* Verify shard k of `st`: compare its data file with `expect` (the rows it must hold; NULL:
 * rebuild them from the store's own data file minus the deleted rows), train `expect` from
 * scratch in a scratch store rooted at `scratch_root` (a folder of the caller's, never inside
 * the store), and compare every checkpoint. A difference is not an error: it is reported in
 * *out (data_match / checkpoints_match = 0, detail). Store files that fail their journal check
 * count as differences too. Errors are I/O failures, interrupts and the like. */
int sisa_verify_shard_run(sisa_verify_shard *out, const sisa_store *st, uint32_t k,
                          const sisa_shard_data *expect, const sisa_deletions *del,
                          const char *scratch_root);

#endif
