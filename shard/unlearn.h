/*
 * unlearn.h - exact deletion of rows from a trained store: the steps of a deletion request
 * (shard/request.h).
 *
 * A request is a set of sample IDs (or data-subject groups, resolved to their rows). It is
 * validated as a whole before anything changes: one unknown ID or group rejects it
 * (SISA_EREJECT) and the store stays byte for byte as it was. Then, per affected shard: its
 * checkpoints from the earliest stage that saw a deleted row are removed (fence), its data file
 * is rewritten without the rows (a new file committed in place of the old one: no byte of a
 * deleted row survives in it), and sisa_shard_train retrains the removed stages from the last
 * clean checkpoint. Unaffected shards are not touched at all. Every step after validation finds
 * the rows by their salted hashes, so a crashed request is carried forward the same way.
 */
#ifndef SISA_SHARD_UNLEARN_H
#define SISA_SHARD_UNLEARN_H

#include "io/store_io.h"
#include "shard/request.h"
#include "shard/store.h"

#include <stddef.h>
#include <stdint.h>

/* Validate `ids` and `groups` (raw values; either may be empty) against the store and build the
 * request: salted hashes of every row to delete and of the groups, affected shards with their
 * earliest stage, retraining cost and lineage/model hashes before. Unknown IDs or groups:
 * SISA_EREJECT with a message listing them; nothing is written. r->n and r->time are left for
 * the caller. */
int sisa_unlearn_plan(sisa_request *r, const sisa_store *st, const uint64_t *ids, size_t n_ids,
                      const uint64_t *groups, size_t n_groups);

/* Fence: remove every affected shard's checkpoints from its first stage on. */
int sisa_unlearn_fence(const sisa_store *st, const sisa_request *r);
/* Rewrite shard s's data file without the request's rows (nothing to do when already done).
 * With `kept` (may be NULL), the rows now committed are handed to the caller (to free with
 * sisa_shard_data_free; NULL when nothing was rewritten) with the new file's SHA-256 in
 * `kept_sha`, so that retraining need not read the file again (sisa_shard_train_from).
 * With `pre` as well (may be NULL), the first stage to retrain is trained ahead by a helper
 * thread on the kept rows while the file is written (shard/train.h), and handed over in *pre
 * (NULL when it was not started) for sisa_shard_train_pre; the caller cancels it if it is not
 * used, before freeing the kept rows. */
struct sisa_shard_prestage;
int sisa_unlearn_rewrite(const sisa_store *st, const sisa_request *r, const sisa_req_shard *s,
                         sisa_shard_data **kept, char kept_sha[65],
                         struct sisa_shard_prestage **pre);
/* Fill each affected shard's lineage and model hashes after retraining. */
int sisa_unlearn_after(const sisa_store *st, sisa_request *r);

/* Parse a request: a comma-separated list ("17,42") or a file with one value per line ('#'
 * starts a comment, blank lines ignored). `what` names the values in messages ("sample ID",
 * "group"). The result belongs to the caller (sisa_free()). Malformed entries are SISA_EUSAGE
 * naming the entry (and FILE:LINE for files). */
int sisa_unlearn_parse_list(uint64_t **out, size_t *n, const char *list, const char *what);
int sisa_unlearn_parse_file(uint64_t **out, size_t *n, const char *path, const char *what);
/* The same for a file's text already read (`len` bytes, NUL-terminated; changed in place):
 * one read serves a file that cannot be read twice (a pipe). */
int sisa_unlearn_parse_text(uint64_t **out, size_t *n, char *text, size_t len, const char *path,
                            const char *what);

#endif
