/*
 * repair.h - rebuilding a damaged store from what survives (`sisa repair`).
 *
 * A store is damaged when a file it needs is missing, does not match its journaled SHA-256, or
 * disagrees with another record (store.h). Every other command names the damage and refuses;
 * this module plans and carries out its repair. It opens the store on a path of its own (the
 * normal open refuses damage, and must keep refusing it): it takes the writers' lock and reads
 * every record itself.
 *
 * What is rebuilt, and from what:
 *
 *   shards/KKKK/data.h5     from the dataset (data.train) minus every row the ledger or the
 *                           journal names (matched by salted hash), after the dataset's digest
 *                           matched the manifest's (sisa_verify_rebuild); byte-reproducible, so
 *                           a rebuilt file normally equals the lost one
 *   checkpoints             by retraining from the newest intact checkpoint (sisa_shard_train):
 *                           bit for bit what was there, by the exactness contract
 *   a shard's journal or    the shard is rebuilt as above: sisa's own files left in its folder
 *   folder                  (data.h5, ckpt-NNN.h5, temp files) cannot be checked and may hold
 *                           deleted rows, so they are removed; nothing else is
 *   STORE/journal           from the store's files (salt, config.yaml, manifest: put records
 *                           with their SHA-256, after the manifest parsed and matched the config
 *                           and the salt parsed) and the ledger's records (request and state
 *                           records up to certified, each with its ledger head)
 *   STORE/ledger            a missing, cut or edited tail from the journal's request records:
 *                           each record is serialised as sisa_ledger_append does, its "after"
 *                           hashes taken from the next request touching the shard or from the
 *                           shard's current files, and it is written only when it hashes to the
 *                           head the journal certified
 *   STORE/config.yaml       from the config (its canonical form)
 *
 * What cannot be rebuilt: the salt (it keys every hashed ID), the manifest (it holds the
 * dataset's digest, which is how a rebuild knows the dataset is the one), a dataset that is gone
 * or changed, the journal and the ledger both (nothing else knows which rows were deleted), and
 * a store whose files disagree with the ledger while its journal is lost. Then nothing at all is
 * changed, and each item says what to restore: a repair is planned completely before it
 * changes anything, and runs only when every problem can be repaired.
 *
 * An unfinished deletion request is left as it is: its rows are kept out of every rebuilt shard
 * (they are named in the journal), and the next writing command finishes it, as after a crash.
 *
 * Each step is atomic and the plan is made again from the files on every run, so an
 * interrupted repair is continued by running it again. Nothing here prints: the CLI shows the
 * items.
 */
#ifndef SISA_SHARD_REPAIR_H
#define SISA_SHARD_REPAIR_H

#include "shard/store.h"
#include "sisa/config.h"

#include <stddef.h>

/* One problem found, and what repair does about it. */
typedef struct sisa_repair_item {
    char file[96];     /* what is damaged, relative to the store ("shards/0001/journal"), or
                        * the dataset's path */
    char problem[768]; /* what is wrong with it ("is missing") */
    char action[1280]; /* what repair will do (planned), what it did (after sisa_repair_run),
                        * or, when it cannot, what to restore */
    int repairable;    /* 0: it cannot be repaired here; `action` names what to restore */
    int done;          /* sisa_repair_run carried out `action` */
} sisa_repair_item;

typedef enum {
    SISA_REPAIR_WRITE = 0, /* plan a repair that will run: takes the writers' lock */
    SISA_REPAIR_DRY = 1,   /* plan only (--dry-run): no lock, nothing written */
    SISA_REPAIR_CHECK = 2, /* like DRY, by a process that holds the lock (the check after a run) */
} sisa_repair_mode;

typedef struct sisa_repair_state sisa_repair_state;

typedef struct sisa_repair {
    sisa_store st; /* root, config, salt and manifest as read; the lock when writing */
    sisa_repair_mode mode;
    sisa_repair_item *items;
    size_t n_items;
    size_t unrepairable; /* items that cannot be repaired: then sisa_repair_run refuses */
    char note[768];      /* what repair leaves alone and why (an unfinished request), or "" */
    sisa_repair_state *priv;
} sisa_repair;

/* Examine the store named by cfg->store and plan its repair; reads only (WRITE mode takes the
 * lock, waiting up to `wait_seconds` as sisa_store_open does). Damage is not an error: it is
 * listed in rp->items. Errors: a folder that is no store (SISA_EUSAGE / SISA_ECONFIG), a config
 * other than the store's (SISA_ECONFIG), a busy store (SISA_EBUSY), I/O failures. rp is always
 * safe to pass to sisa_repair_free. */
int sisa_repair_plan(sisa_repair *rp, const sisa_config *cfg, sisa_repair_mode mode,
                     double wait_seconds);

/* Carry out a WRITE plan with no unrepairable item (SISA_EINTERNAL otherwise). Each item's
 * action is rewritten to say what was done. A failure leaves every step done so far committed
 * (running the repair again continues), and names what failed. Call sisa_model_fp_setup()
 * first: repair retrains. */
int sisa_repair_run(sisa_repair *rp);

/* After a run: plan again (holding the lock) and open the store as every reader does. Returns 1
 * when the store is whole, 0 when not (`why` says what is still wrong), negative on error. */
int sisa_repair_check(sisa_repair *rp, char *why, size_t cap);

void sisa_repair_free(sisa_repair *rp); /* releases the lock; safe on a zeroed struct */

#endif
