/*
 * train.c - training a store over the job's ranks (run/run.h): partition the training set into
 * shards and train every shard stage by stage, resuming whatever an earlier run left unfinished.
 *
 * Under mpirun/srun the shards are spread over the ranks by size (shard/schedule.h): each rank
 * partitions and trains only its own shards, so it keeps only their rows in memory. When it
 * creates the store, each rank also digests its share of the dataset's blocks (io/dsdigest.h)
 * while partitioning, and rank 0 combines the leaves in block order for the manifest: no rank
 * reads the whole dataset, and the digest is the same for any rank count. A shard trains to the
 * same bits on any rank, so the store does not depend on the rank count; the shards a rank has
 * just partitioned are trained from memory (sisa_shard_train_from), not read back.
 */
#include "run/run.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "io/dsdigest.h"
#include "io/dsstream.h"
#include "model/blas.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "shard/schedule.h"
#include "shard/setup.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rank 0's view before partitioning: which shard files are missing, and every shard's size
 * (from the shard files when present, else from the dataset's ID/group columns). */
typedef struct {
    uint64_t partition; /* 1 when some shard files must be written */
    uint64_t *missing;  /* (S) 1 when shard k's data file must be written */
    uint64_t *rows;     /* (S) rows of shard k */
} train_plan;

static int check_digest(const sisa_store *st, const char *digest)
{
    if (strcmp(digest, st->man.dataset_digest) == 0) return SISA_OK;
    return SISA_ERR(SISA_ECORRUPT,
                    "%s has changed since store %s was created (dataset digest %.12s, the "
                    "store has %.12s); use the original dataset or a new store",
                    st->cfg.data.train, st->root, digest, st->man.dataset_digest);
}

static int plan_on_root(const sisa_store *st, train_plan *tp)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    sisa_shard_summary sum = {0};
    sisa_files files = {0};
    char path[SISA_PATH_MAX], problem[SISA_PATH_MAX + 64] = "";
    uint32_t missing = 0, damaged = 0;
    for (uint32_t k = 0; k < S; k++) {
        SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
        /* Without a manifest, files left by an interrupted first run are not trusted. */
        tp->missing[k] = !st->has_manifest || !sisa_fs_exists(path);
        missing += (uint32_t)tp->missing[k];
        if (tp->missing[k]) {
            if (!problem[0]) snprintf(problem, sizeof problem, "%s is missing", path);
            continue;
        }
        /* Checked against the shard's journal (its bytes: sisa train checks every file of
         * the store, and rebuilds damaged checkpoints). A damaged data file is never
         * partitioned again: after a deletion, sisa repair rebuilds it without the deleted
         * rows. */
        SISA_TRY(sisa_shard_files(st, k, &files, 0));
        int rc = sisa_files_locate(&files, "data.h5", path, sizeof path);
        if (rc == SISA_OK) rc = sisa_shard_summary_get(st, &files, k, &sum);
        sisa_files_close(&files);
        if (rc == SISA_ECORRUPT) {
            if (!problem[0]) snprintf(problem, sizeof problem, "%s", sisa_error_message());
            sisa_error_clear();
            damaged++;
            sisa_shard_summary_free(&sum);
            continue;
        }
        SISA_TRY(rc);
        tp->rows[k] = sum.rows;
        sisa_shard_summary_free(&sum);
    }
    tp->partition = missing > 0;
    const uint64_t requests = st->requests > st->man.deletions ? st->requests : st->man.deletions;
    if ((missing || damaged) && st->has_manifest && requests > 0)
        SISA_FAIL(SISA_ECORRUPT,
                  "%u shard data file(s) of store %s are missing or damaged (%s), and the store "
                  "has processed %llu deletion request(s): partitioning %s again would bring "
                  "deleted rows back, so sisa train changes nothing. Run 'sisa repair -c %s': "
                  "it rebuilds them from the dataset without every row the ledger names",
                  missing + damaged, st->root, problem, (unsigned long long)requests,
                  st->cfg.data.train, st->cfg.source);
    if (missing && st->has_manifest) {
        /* Missing files are made again from the dataset: it must be the one the store was built
         * from, checked before any rank writes a file. */
        char digest[65];
        SISA_TRY(sisa_dataset_digest(st->cfg.data.train, st->man.digest_version, digest));
        SISA_TRY(check_digest(st, digest));
    }
    if (missing || damaged) {
        sisa_dataset_header hdr;
        SISA_TRY(sisa_partition_count(&st->cfg, tp->rows, NULL, &hdr));
    }
done:
    sisa_files_close(&files);
    sisa_shard_summary_free(&sum);
    return err;
}

/* Rank 0, before the store is opened (which creates a new store's folder and first files):
 * judge the set-up of a new store from its dataset (shard/setup.h). Fewer rows than
 * shards x slices is refused from the header alone; then the ID (and group) columns say how many
 * rows each shard and stage would get, and shards without rows and stages smaller than a
 * minibatch are named in warnings. An existing store is not judged: deletions may have shrunk
 * it, and it is never refused for that. */
static int check_new_store(const char *cfg_path, const sisa_config *given)
{
    int err = SISA_OK;
    uint64_t *counts = NULL, *stage_rows = NULL;
    sisa_config *cfg = sisa_malloc(sizeof *cfg);
    SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
    if (given)
        memcpy(cfg, given, sizeof *cfg);
    else
        SISA_TRY(sisa_config_load(cfg, cfg_path));
    if (!sisa_setup_new_store(cfg->store)) goto done;
    sisa_dataset_header hdr;
    SISA_TRY(sisa_dataset_read_header(cfg->data.train, &hdr));
    SISA_TRY(sisa_setup_check_rows(cfg, hdr.n));
    SISA_TRY(sisa_setup_check_shape(cfg, hdr.d));
    const size_t S = (size_t)cfg->sisa.shards, R = (size_t)cfg->sisa.slices;
    counts = sisa_malloc(S * sizeof *counts);
    stage_rows = sisa_malloc(S * R * sizeof *stage_rows);
    SISA_CHECK(counts && stage_rows, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_partition_count(cfg, counts, stage_rows, &hdr));
    sisa_setup_warn_exact(cfg, stage_rows);
done:
    sisa_free(stage_rows);
    sisa_free(counts);
    sisa_free(cfg);
    return err;
}

/* Rank 0, after every rank wrote the shard files of a new store: write its manifest. */
static int write_manifest(sisa_store *st, const char *digest, const sisa_dataset_header *hdr)
{
    int err = SISA_OK;
    sisa_manifest *m = &st->man;
    memset(m, 0, sizeof *m);
    snprintf(m->config_hash, sizeof m->config_hash, "%s", st->config_hash);
    m->seed = st->cfg.seed;
    m->shards = (uint32_t)st->cfg.sisa.shards;
    m->slices = (uint32_t)st->cfg.sisa.slices;
    m->sharding = st->cfg.sisa.sharding;
    snprintf(m->dataset, sizeof m->dataset, "%s", st->cfg.data.train);
    snprintf(m->dataset_digest, sizeof m->dataset_digest, "%s", digest);
    m->digest_version = SISA_DIGEST_V2;
    m->rows = hdr->n;
    m->features = hdr->d;
    m->classes = hdr->num_classes;
    snprintf(m->context, sizeof m->context, "%s", st->context);
    sisa_blas_info blas;
    sisa_blas_describe(&blas);
    snprintf(m->blas_core, sizeof m->blas_core, "%s", blas.core);
    snprintf(m->blas_core_origin, sizeof m->blas_core_origin, "%s",
             sisa_blas_origin_token(sisa_blas_origin()));
    SISA_TRY(sisa_store_write_manifest(st));
done:
    return err;
}

/* Collective: the dataset's v2 digest from every rank's leaves (digest: on every rank). Each
 * rank places its leaves, the others' are zero, and an element-wise sum (exact: one term per
 * element is nonzero) gives every rank all of them in block order; a collective, so a rank that
 * fails to allocate cannot leave another waiting. */
static int combine_digest(sisa_dist *d, const sisa_partition_job *job, char *digest)
{
    int err = SISA_OK;
    const uint64_t m = sisa_dsdigest_blocks(job->hdr.n);
    uint8_t(*all)[32] = NULL;
    err = m <= (uint64_t)INT32_MAX / 4
              ? SISA_OK
              : SISA_ERR(SISA_EUSAGE, "%llu digest blocks are too many", (unsigned long long)m);
    if (err == SISA_OK) {
        all = sisa_calloc(m ? m : 1, sizeof *all);
        if (!all) err = SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    if (err == SISA_OK && (job->leaf0 + job->n_leaves > m))
        err = SISA_ERR(SISA_EINTERNAL, "digest blocks out of range");
    SISA_TRY(sisa_dist_agree(d, err));
    if (job->n_leaves) memcpy(all[job->leaf0], job->leaves, job->n_leaves * sizeof *all);
    SISA_TRY(sisa_dist_sum_u64(d, (uint64_t *)all, (int)(m * 4)));
    sisa_dsdigest_root(digest, &job->hdr, (const uint8_t(*)[32])all);
done:
    sisa_free(all);
    return err;
}

void sisa_run_train_result_free(sisa_run_train_result *r)
{
    if (!r) return;
    sisa_free(r->peak_rss);
    r->peak_rss = NULL;
}

/* Collective, step 1: which shards need partitioning (rank 0's plan, broadcast), how big every
 * shard is, and who owns which (LPT by rows: the same on every rank). */
static int train_plan_share(sisa_dist *d, const sisa_store *st, train_plan *tp, uint32_t *owner)
{
    int err = SISA_OK;
    const int P = sisa_dist_size(d);
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    if (sisa_dist_rank(d) == 0) err = plan_on_root(st, tp);
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, &tp->partition, sizeof tp->partition, 0));
    SISA_TRY(sisa_dist_bcast(d, tp->missing, S * sizeof *tp->missing, 0));
    SISA_TRY(sisa_dist_bcast(d, tp->rows, S * sizeof *tp->rows, 0));
    SISA_TRY(sisa_dist_agree(d, sisa_schedule_lpt(tp->rows, S, (uint32_t)P, owner) == 0
                                    ? SISA_OK
                                    : SISA_ERR(SISA_ENOMEM, "out of memory")));
done:
    return err;
}

int sisa_run_train_ahead(void)
{
    const char *v = getenv("SISA_TRAIN_AHEAD");
    return !(v && strcmp(v, "0") == 0);
}

/* Collective, step 2: each rank writes its own missing shards (and keeps them for training in
 * job->kept); for a new store every rank also digests its part of the dataset, and rank 0
 * combines the parts and writes the manifest. The first shard this rank trains starts its
 * stage 1 on a helper thread (*pre) while this one writes the shard files (and the manifest):
 * the same bits, and the writing, hashing and syncing of the files costs no training time
 * (*t_train: when training started). t0: when the command started (for the timers). */
static int train_partition(sisa_dist *d, sisa_store *st, const train_plan *tp,
                           const uint32_t *owner, unsigned char *want, sisa_partition_job *job,
                           sisa_shard_prestage **pre, double t0, double *t_train)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    char digest[65] = "";
    uint32_t todo = 0;
    for (uint32_t k = 0; k < S; k++) {
        want[k] = tp->missing[k] && owner[k] == (uint32_t)rank;
        todo += want[k];
    }
    if (rank == 0)
        sisa_info("partitioning %s into %u shard(s) x %d slices", st->cfg.data.train, S,
                  st->cfg.sisa.slices);
    /* A new store's digest is taken while partitioning; an existing store's was checked by the
     * plan. */
    const int fresh = !st->has_manifest;
    job->want = want;
    job->keep = 1;
    job->defer_write = 1;
    if (fresh) {
        job->digest_part = (uint32_t)rank;
        job->digest_parts = (uint32_t)P;
    }
    const double tp0 = sisa_now();
    if (todo || fresh) err = sisa_partition(st, job);
    const double tp1 = sisa_now();
    const int deferred = job->pending != NULL; /* the digest is taken while writing */
    uint32_t first = 0;
    while (first < S && owner[first] != (uint32_t)rank) first++;
    if (err == SISA_OK && first < S && job->kept && job->kept[first] && sisa_run_train_ahead()) {
        *t_train = sisa_now(); /* training starts here */
        err = sisa_shard_prestage_start(st, first, job->kept[first], pre);
    }
    if (err == SISA_OK) err = sisa_partition_write(st, job, S);
    const double tp2 = sisa_now();
    SISA_TRY(sisa_dist_agree(d, err));
    const double tp3 = sisa_now();
    if (fresh) {
        SISA_TRY(combine_digest(d, job, digest));
        if (rank == 0) err = write_manifest(st, digest, &job->hdr);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    sisa_debug("rank %d: %.3f s to the partition, %.3f s reading%s, %.3f s %swriting %u "
               "shard file(s)%s, %.3f s waiting for the other ranks, %.3f s for the digest "
               "and manifest",
               rank, tp0 - t0, tp1 - tp0,
               deferred ? ""
               : fresh  ? " and digesting"
                        : "",
               tp2 - tp1, deferred ? "digesting and " : "", todo,
               *pre ? " (stage 1 of the first shard training meanwhile)" : "", tp3 - tp2,
               sisa_now() - tp3);
done:
    return err;
}

/* Step 3, this rank: train its shards in shard order, from the rows partitioning kept in memory
 * where there are any. stats: samples, rows, shards trained, empty shards. */
static int train_mine(sisa_store *st, int rank, const uint32_t *owner, sisa_partition_job *job,
                      sisa_shard_prestage **pre, uint64_t stats[5])
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    for (uint32_t k = 0; k < S && err == SISA_OK; k++) {
        if (owner[k] != (uint32_t)rank) continue;
        if (sisa_stop_requested()) {
            err = SISA_ERR(SISA_ESTOPPED,
                           "stopped on request before shard %u (everything trained so far "
                           "is committed; run the command again to continue)",
                           k);
            break;
        }
        sisa_shard_report rep;
        const sisa_shard_data *mem = job->kept ? job->kept[k] : NULL;
        sisa_shard_prestage *ahead = NULL; /* stage 1 trained ahead (train_partition) */
        if (sisa_shard_prestage_shard(*pre) == k) {
            ahead = *pre;
            *pre = NULL;
        }
        err = sisa_shard_train_pre(st, k, mem, mem ? job->sha[k] : NULL, ahead, &rep);
        if (job->kept) { /* its rows are not needed any more */
            sisa_shard_data_free(job->kept[k]);
            job->kept[k] = NULL;
        }
        if (err < 0) break;
        stats[0] += rep.samples;
        stats[1] += rep.rows;
        stats[2] += rep.stages_trained > 0;
        stats[3] += (uint64_t)rep.empty;
        stats[4] += (uint64_t)(rep.seconds * 1e6); /* microseconds this rank trained */
        if (rep.stages_trained)
            sisa_info("shard %u: %llu rows, stages %u-%d trained%s, %.2f s", k,
                      (unsigned long long)rep.rows, rep.resumed_from + 1, st->cfg.sisa.slices,
                      rep.resumed_from ? " (resumed)" : "", rep.seconds);
    }
    return err;
}

/* Collective, step 4: the totals, and every rank's peak memory on rank 0 (where `out` takes
 * *rss_all). */
static int train_totals(sisa_dist *d, const sisa_store *st, uint64_t stats[5], double **rss_all,
                        sisa_run_train_result *out)
{
    int err = SISA_OK;
    SISA_TRY(sisa_dist_sum_u64(d, stats, 5));
    double rss = (double)sisa_run_peak_rss();
    SISA_TRY(sisa_dist_gather_f64(d, &rss, 1, *rss_all, 0));
    out->samples = stats[0];
    out->rows = stats[1];
    out->shards_trained = stats[2];
    out->empty_shards = stats[3];
    out->shards = (uint32_t)st->cfg.sisa.shards;
    out->slices = (uint32_t)st->cfg.sisa.slices;
    out->ranks = sisa_dist_size(d);
    snprintf(out->root, sizeof out->root, "%s", st->root);
    snprintf(out->store_id, sizeof out->store_id, "%s", st->store_id);
    snprintf(out->config_hash, sizeof out->config_hash, "%s", st->config_hash);
    if (sisa_dist_rank(d) == 0) {
        out->peak_rss = *rss_all;
        *rss_all = NULL;
        SISA_TRY(sisa_store_timing_add(st, (double)stats[0], (double)stats[4] / 1e6));
    }
done:
    return err;
}

int sisa_run_train(sisa_dist *d, const char *cfg_path, const sisa_run_open_opts *oo,
                   sisa_run_train_result *out)
{
    int err = SISA_OK;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    train_plan tp = {0};
    uint32_t *owner = NULL;
    unsigned char *want = NULL;
    double *rss_all = NULL;
    sisa_partition_job job = {0};
    sisa_shard_prestage *pre = NULL;
    uint32_t S = 0;
    memset(out, 0, sizeof *out);

    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    double t0 = sisa_now(), t_train = t0;
    SISA_TRY(sisa_dist_agree(d, rank == 0 ? check_new_store(cfg_path, oo ? oo->config : NULL)
                                          : SISA_OK));
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_CREATE, oo));
    S = (uint32_t)cfg.sisa.shards;
    tp.missing = sisa_calloc(S, sizeof *tp.missing);
    tp.rows = sisa_calloc(S, sizeof *tp.rows);
    owner = sisa_calloc(S, sizeof *owner);
    want = sisa_calloc(S, 1);
    rss_all = sisa_calloc((size_t)P, sizeof *rss_all);
    SISA_TRY(sisa_dist_agree(d, tp.missing && tp.rows && owner && want && rss_all
                                    ? SISA_OK
                                    : SISA_ERR(SISA_ENOMEM, "out of memory")));
    SISA_TRY(train_plan_share(d, &st, &tp, owner));
    uint32_t mine = 0;
    for (uint32_t k = 0; k < S; k++) mine += owner[k] == (uint32_t)rank;
    if (!mine)
        sisa_info("no shard to train here (%u shards over %d ranks); waiting for the others", S, P);
    if (tp.partition) SISA_TRY(train_partition(d, &st, &tp, owner, want, &job, &pre, t0, &t_train));

    uint64_t stats[5] = {0}; /* samples, rows, shards trained, empty shards, microseconds */
    if (!pre) t_train = sisa_now();
    SISA_TRY(sisa_dist_agree(d, train_mine(&st, rank, owner, &job, &pre, stats)));
    double t_end = sisa_now();

    SISA_TRY(train_totals(d, &st, stats, &rss_all, out));
    out->seconds = t_end - t0;
    out->train_seconds = t_end - t_train;
done:
    /* A first training that failed (not one stopped or interrupted, which the next run
     * continues) leaves no store behind: nothing in it can be trusted without its manifest. */
    if (err < 0 && err != SISA_EINTR && err != SISA_ESTOPPED && rank == 0 && st.created &&
        !st.has_manifest) {
        sisa_store_discard_new(&st);
        sisa_info("removed the unfinished new store %s", st.root);
    }
    sisa_shard_prestage_cancel(pre); /* before the rows it trains on are freed */
    sisa_partition_job_free(&job, S);
    sisa_free(rss_all);
    sisa_free(want);
    sisa_free(owner);
    sisa_free(tp.rows);
    sisa_free(tp.missing);
    sisa_store_close(&st);
    return err;
}
