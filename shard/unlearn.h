/*
 * unlearn.h - exact deletion of rows from a trained store.
 *
 * A request is a set of sample IDs. It is validated as a whole before anything changes: one
 * unknown ID rejects the request (SISA_EREJECT) and the store stays byte for byte as it was.
 * Then, per affected shard: its checkpoints from the earliest stage that saw a deleted row are
 * removed first (so no model that contains deleted data remains), its data file is rewritten
 * without the rows (a new file renamed over the old one: no byte of a deleted row survives in
 * it), and sisa_shard_train retrains the removed stages from the last clean checkpoint.
 * Unaffected shards are not touched at all.
 */
#ifndef SISA_SHARD_UNLEARN_H
#define SISA_SHARD_UNLEARN_H

#include "shard/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_unlearn_shard {
    uint32_t shard;
    uint32_t first_stage; /* earliest stage whose rows include a deleted ID */
    uint64_t rows;        /* rows of this shard in the request */
    uint64_t cost;        /* sample visits of retraining stages first_stage..R (for scheduling) */
} sisa_unlearn_shard;

typedef struct sisa_unlearn_plan {
    uint64_t *ids; /* the request, sorted, duplicates removed */
    size_t n_ids;
    sisa_unlearn_shard *shards; /* affected shards, in shard order */
    uint32_t n_shards;
} sisa_unlearn_plan;

/* Validate `ids` against the store (reads only the ID and slice columns) and plan the work.
 * Unknown IDs: SISA_EREJECT with a message listing them; nothing is written. */
int sisa_unlearn_plan_make(sisa_unlearn_plan *plan, const sisa_store *st, const uint64_t *ids,
                           size_t n);
void sisa_unlearn_plan_free(sisa_unlearn_plan *plan);

/* Remove shard s's checkpoints from s->first_stage on, then rewrite its data file without the
 * plan's IDs. Retraining is sisa_shard_train's job. */
int sisa_unlearn_apply_shard(const sisa_store *st, const sisa_unlearn_plan *plan,
                             const sisa_unlearn_shard *s);

/* Parse a request: a comma-separated list ("17,42") or a file with one ID per line ('#' starts
 * a comment, blank lines ignored). The result belongs to the caller (free()). Malformed entries
 * are SISA_EUSAGE naming the entry (and FILE:LINE for files). */
int sisa_unlearn_parse_list(uint64_t **out, size_t *n, const char *list);
int sisa_unlearn_parse_file(uint64_t **out, size_t *n, const char *path);

#endif
