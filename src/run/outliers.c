/*
 * outliers.c - `sisa outliers`: outlier scores of a store's current training rows (Isolation
 * Forest or LOF, src/outlier/), the rows to flag, and files that feed an exact deletion
 * (docs/outliers.md).
 *
 * Scope "all" scores every row among all rows (in ID order): the rows are cut into blocks of
 * SISA_LOF_BLOCK, block b computed by rank b mod P, and rank 0 collects them in block order.
 * Scope "shard" scores each shard's rows among themselves: shard s on rank s mod P. Every row's
 * result is a function of the data, the parameters and the seed only (outlier/outlier.h), so the
 * files are the same bytes whatever the rank count.
 */
#include "run/run.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "io/arrays.h"
#include "io/store_io.h"
#include "outlier/outlier.h"
#include "sisa/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_BLOCK 0x5e1
#define TAG_SHARD 0x5e2

/* A set of rows in ID order. */
typedef struct {
    uint64_t n, d;
    float *X;
    uint64_t *id;
    uint32_t *shard;
} rowset;

static void rowset_free(rowset *r)
{
    sisa_free(r->X);
    sisa_free(r->id);
    sisa_free(r->shard);
    memset(r, 0, sizeof *r);
}

/* Append shard k's rows to r (grown as needed). */
static int rowset_add_shard(rowset *r, const sisa_store *st, uint32_t k)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    sisa_shard_data *sd = NULL;
    SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
    if (!sisa_fs_exists(path)) return SISA_OK; /* a shard without rows */
    SISA_TRY(sisa_shard_data_read(&sd, path));
    if (sd->n == 0) goto done;
    SISA_CHECK(r->n == 0 || r->d == sd->d, SISA_ECORRUPT,
               "%s: %llu features where other shards "
               "have %llu",
               path, (unsigned long long)sd->d, (unsigned long long)r->d);
    r->d = sd->d;
    const uint64_t n = r->n + sd->n;
    SISA_CHECK(n < UINT32_MAX, SISA_EUSAGE, "outliers: more than 2^32 - 1 rows");
    float *X = sisa_realloc(r->X, n * r->d * sizeof *X);
    if (X) r->X = X;
    uint64_t *id = sisa_realloc(r->id, n * sizeof *id);
    if (id) r->id = id;
    uint32_t *sh = sisa_realloc(r->shard, n * sizeof *sh);
    if (sh) r->shard = sh;
    SISA_CHECK(X && id && sh, SISA_ENOMEM, "out of memory for %llu rows", (unsigned long long)n);
    memcpy(r->X + r->n * r->d, sd->X, sd->n * sd->d * sizeof *X);
    memcpy(r->id + r->n, sd->id, sd->n * sizeof *id);
    for (uint64_t i = 0; i < sd->n; i++) r->shard[r->n + i] = k;
    r->n = n;
done:
    sisa_shard_data_free(sd);
    return err;
}

typedef struct {
    uint64_t id;
    uint32_t i;
} id_at;

static int cmp_id_at(const void *a, const void *b)
{
    uint64_t x = ((const id_at *)a)->id, y = ((const id_at *)b)->id;
    return x < y ? -1 : x > y;
}

/* perm (n, the caller's) = the row indices in ascending ID order (IDs are distinct). */
static int id_order(uint32_t *perm, const uint64_t *id, uint64_t n)
{
    id_at *v = sisa_malloc((n ? n : 1) * sizeof *v);
    if (!v) return SISA_ERR(SISA_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) v[i] = (id_at){id[i], i};
    qsort(v, n, sizeof *v, cmp_id_at);
    for (uint64_t i = 0; i < n; i++) perm[i] = v[i].i;
    sisa_free(v);
    return SISA_OK;
}

/* Reorder r by ID (the shards hold disjoint ID sets, each sorted). With perm_out, the caller
 * gets the permutation (new row i was old row (*perm_out)[i]) to free. */
static int rowset_sort(rowset *r, uint32_t **perm_out)
{
    int err = SISA_OK;
    uint32_t *perm = sisa_malloc((r->n ? r->n : 1) * sizeof *perm);
    float *X = sisa_malloc((r->n ? r->n : 1) * r->d * sizeof *X);
    uint64_t *id = sisa_malloc((r->n ? r->n : 1) * sizeof *id);
    uint32_t *sh = sisa_malloc((r->n ? r->n : 1) * sizeof *sh);
    SISA_CHECK(perm && X && id && sh, SISA_ENOMEM, "out of memory");
    SISA_TRY(id_order(perm, r->id, r->n));
    for (uint64_t i = 0; i < r->n; i++) {
        memcpy(X + i * r->d, r->X + (size_t)perm[i] * r->d, r->d * sizeof *X);
        id[i] = r->id[perm[i]];
        sh[i] = r->shard[perm[i]];
    }
    sisa_free(r->X);
    sisa_free(r->id);
    sisa_free(r->shard);
    r->X = X;
    r->id = id;
    r->shard = sh;
    X = NULL;
    id = NULL;
    sh = NULL;
    if (perm_out) {
        *perm_out = perm;
        perm = NULL;
    }
done:
    sisa_free(perm);
    sisa_free(X);
    sisa_free(id);
    sisa_free(sh);
    return err;
}

/* The scores of r's rows into `scores` (n): blocks b with b % stride == offset only (the rest
 * left untouched; stride 1 for all). LOF needs every row's neighbours, so with stride > 1 it
 * computes its blocks' neighbours into nbr/dist (n x k each) and leaves the scores to the
 * caller (after collecting). */
static int score_blocks(const rowset *r, const sisa_run_outlier_opts *o, uint64_t seed,
                        uint32_t stride, uint32_t offset, double *scores, uint32_t *nbr,
                        double *dist, sisa_progress *pr)
{
    int err = SISA_OK;
    sisa_iforest *f = NULL;
    sisa_knn_work *w = NULL;
    double *norms = NULL, *lrd = NULL;
    const uint64_t nb = (r->n + SISA_LOF_BLOCK - 1) / SISA_LOF_BLOCK;
    uint64_t done_rows = 0;
    if (!o->lof) {
        const sisa_iforest_params p = {o->trees, o->subsample, seed};
        SISA_TRY(sisa_iforest_fit(&f, r->X, r->n, r->d, &p));
    } else {
        SISA_TRY(sisa_knn_work_init(&w, r->n, r->d, o->k));
        norms = sisa_malloc(r->n * sizeof *norms);
        SISA_CHECK(norms, SISA_ENOMEM, "out of memory");
        sisa_row_norms(norms, r->X, r->n, r->d);
    }
    for (uint64_t b = offset; b < nb; b += stride) {
        const uint64_t first = b * SISA_LOF_BLOCK;
        const uint32_t count =
            (uint32_t)(r->n - first < SISA_LOF_BLOCK ? r->n - first : SISA_LOF_BLOCK);
        if (!o->lof)
            sisa_iforest_score(f, r->X + first * r->d, count, scores + first);
        else
            SISA_TRY(sisa_knn_block(w, r->X, norms, r->n, r->d, o->k,
                                    o->cosine ? SISA_METRIC_COSINE : SISA_METRIC_EUCLIDEAN, first,
                                    count, nbr + first * o->k, dist + first * o->k));
        done_rows += count;
        if (pr) sisa_progress_update(pr, done_rows);
    }
    if (o->lof && stride == 1) {
        lrd = sisa_malloc(r->n * sizeof *lrd);
        SISA_CHECK(lrd, SISA_ENOMEM, "out of memory");
        sisa_lof_scores(scores, lrd, nbr, dist, r->n, o->k);
    }
done:
    sisa_iforest_free(f);
    sisa_knn_work_free(w);
    sisa_free(norms);
    sisa_free(lrd);
    return err;
}

/* Rank 0 collects the blocks b of `buf` (n rows of `row_bytes`) that rank b % P computed. */
static int collect_blocks(sisa_dist *d, void *buf, size_t row_bytes, uint64_t n)
{
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint64_t nb = (n + SISA_LOF_BLOCK - 1) / SISA_LOF_BLOCK;
    int err = SISA_OK;
    for (uint64_t b = 0; b < nb && err == SISA_OK; b++) {
        const int owner = (int)(b % (uint64_t)P);
        if (owner == 0) continue;
        const uint64_t first = b * SISA_LOF_BLOCK;
        const uint64_t count = n - first < SISA_LOF_BLOCK ? n - first : SISA_LOF_BLOCK;
        char *p = (char *)buf + first * row_bytes;
        if (rank == owner) err = sisa_dist_send(d, p, count * row_bytes, 0, TAG_BLOCK);
        if (rank == 0) err = sisa_dist_recv(d, p, count * row_bytes, owner, TAG_BLOCK);
    }
    return err;
}

static void params_text(char *out, size_t cap, const sisa_run_outlier_opts *o, uint64_t seed)
{
    char flag[64];
    if (o->contamination > 0)
        snprintf(flag, sizeof flag, "contamination=%.17g", o->contamination);
    else
        snprintf(flag, sizeof flag, "threshold=%.17g", o->threshold);
    if (o->lof)
        snprintf(out, cap, "method=lof k=%u metric=%s %s scope=%s", o->k,
                 o->cosine ? "cosine" : "euclidean", flag, o->per_shard ? "shard" : "all");
    else
        snprintf(out, cap, "method=iforest trees=%u subsample=%u seed=%llu %s scope=%s", o->trees,
                 o->subsample, (unsigned long long)seed, flag, o->per_shard ? "shard" : "all");
}

/* Flag rows [first, first + n) of `scores` by the contamination or the threshold. */
static int flag_rows(const double *scores, uint64_t n, const sisa_run_outlier_opts *o,
                     uint64_t *flag, double *thr)
{
    if (n == 0) {
        *thr = NAN;
        return SISA_OK;
    }
    double t = o->threshold;
    if (o->contamination > 0) {
        double *scratch = sisa_malloc(n * sizeof *scratch);
        if (!scratch) return SISA_ERR(SISA_ENOMEM, "out of memory");
        t = sisa_outlier_threshold(scores, n, o->contamination, scratch);
        sisa_free(scratch);
    }
    for (uint64_t i = 0; i < n; i++) flag[i] = scores[i] > t;
    *thr = t;
    return SISA_OK;
}

/* Rank 0: the IDs file and the scores file. */
static int write_outputs(const sisa_store *st, const sisa_run_outlier_opts *o,
                         const sisa_run_outlier_result *res, const rowset *r, const double *scores,
                         const uint64_t *flag, const double *shard_thr, uint32_t S)
{
    int err = SISA_OK;
    char *text = NULL;
    uint64_t *shard64 = NULL;
    if (o->ids_out) {
#define IDS_HEADER(buf, cap)                                                                       \
    snprintf(buf, cap,                                                                             \
             "# sisa outliers: %llu of %llu rows flagged; feed to sisa unlearn --ids-file\n"       \
             "# params: %s\n# params_sha256: %s\n# store: %s\n# store_id: %s\n"                    \
             "# dataset: %s\n# dataset_digest: %s\n# deletions: %llu\n",                           \
             (unsigned long long)res->flagged, (unsigned long long)res->rows, res->params,         \
             res->params_sha256, st->root, st->man.store_id, st->man.dataset, res->dataset_digest, \
             (unsigned long long)res->deletions)
        /* the header's own length (paths may be long), then 20 digits and a newline per ID */
        const size_t cap = (size_t)IDS_HEADER(NULL, 0) + 1 + 21 * (size_t)res->flagged;
        text = sisa_malloc(cap);
        SISA_CHECK(text, SISA_ENOMEM, "out of memory");
        size_t len = (size_t)IDS_HEADER(text, cap);
#undef IDS_HEADER
        for (uint64_t i = 0; i < r->n && len < cap; i++)
            if (flag[i])
                len +=
                    (size_t)snprintf(text + len, cap - len, "%llu\n", (unsigned long long)r->id[i]);
        SISA_CHECK(len < cap, SISA_EINTERNAL, "outliers: the IDs text overflowed");
        if (!strcmp(o->ids_out, "-"))
            SISA_CHECK(fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0, SISA_EIO,
                       "cannot write the IDs to standard output: %s", strerror(errno));
        else
            SISA_TRY(sisa_fs_write_atomic(o->ids_out, text, len, 1));
    }
    if (o->scores_out) {
        shard64 = sisa_malloc((r->n ? r->n : 1) * sizeof *shard64);
        SISA_CHECK(shard64, SISA_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < r->n; i++) shard64[i] = r->shard[i];
        char thr[64], rows[32];
        snprintf(thr, sizeof thr, "%.17g", res->threshold);
        snprintf(rows, sizeof rows, "%llu", (unsigned long long)res->deletions);
        const sisa_h5_array arr[5] = {
            {"id", r->n, 0, NULL, r->id},
            {"score", r->n, 0, scores, NULL},
            {"flagged", r->n, 0, NULL, flag},
            {"shard", r->n, 0, NULL, shard64},
            {"shard_threshold", S, 0, shard_thr, NULL},
        };
        const sisa_h5_attr attrs[6] = {
            {"sisa_format", "sisa-outlier-scores"},
            {"params", res->params},
            {"params_sha256", res->params_sha256},
            {"dataset_digest", res->dataset_digest},
            {"threshold", thr},
            {"deletions", rows},
        };
        SISA_TRY(sisa_arrays_write(o->scores_out, arr, o->per_shard ? 5 : 4, attrs, 6));
    }
done:
    sisa_free(text);
    sisa_free(shard64);
    return err;
}

int sisa_run_outliers(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                      const sisa_run_outlier_opts *o, sisa_run_outlier_result *res)
{
    int err = SISA_OK;
    sisa_store st = {.lock_fd = -1};
    sisa_config cfg;
    rowset all = {0}, one = {0};
    double *scores = NULL, *dist = NULL, *lrd = NULL, *shard_thr = NULL;
    uint32_t *nbr = NULL;
    uint64_t *flag = NULL;
    sisa_progress pr;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    memset(res, 0, sizeof *res);
    memset(&pr, 0, sizeof pr);
    /* outputs that exist are not replaced unless asked: refuse before any work */
    int local = SISA_OK;
    if (rank == 0 && !o->force) {
        const char *outs[2] = {o->ids_out, o->scores_out};
        for (int i = 0; i < 2 && local == SISA_OK; i++)
            if (outs[i] && strcmp(outs[i], "-") && sisa_fs_exists(outs[i]))
                local = SISA_ERR(SISA_EEXIST, "%s exists (--force replaces it)", outs[i]);
    }
    SISA_TRY(sisa_dist_agree(d, local));
    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_READ, &oo));
    const uint32_t S = (uint32_t)st.cfg.sisa.shards;
    const uint64_t seed = o->has_seed ? o->seed : st.cfg.seed;
    params_text(res->params, sizeof res->params, o, seed);
    uint8_t h[SISA_SHA256_LEN];
    sisa_sha256(h, res->params, strlen(res->params));
    sisa_hex(res->params_sha256, h, sizeof h);
    snprintf(res->dataset_digest, sizeof res->dataset_digest, "%s", st.man.dataset_digest);
    res->deletions = st.man.deletions;

    /* scope all: every rank reads every shard (the rows are needed whole); scope shard: rank 0
     * reads them all (it writes every row's score), each owner its own below */
    local = SISA_OK;
    for (uint32_t k = 0; k < S && local == SISA_OK; k++)
        if (!o->per_shard || rank == 0) local = rowset_add_shard(&all, &st, k);
    if (local == SISA_OK && !o->per_shard) local = rowset_sort(&all, NULL);
    SISA_TRY(sisa_dist_agree(d, local));
    /* scope all: every rank has every row (scope shard checks each shard on its owner) */
    local = SISA_OK;
    if (!o->per_shard && (all.n < 2 || (o->lof && all.n <= o->k)))
        local = SISA_ERR(SISA_EUSAGE, "store %s has %llu rows: %s needs more than %u", st.root,
                         (unsigned long long)all.n, o->lof ? "LOF" : "an isolation forest",
                         o->lof ? o->k : 1);
    scores = sisa_calloc(all.n ? all.n : 1, sizeof *scores);
    flag = sisa_calloc(all.n ? all.n : 1, sizeof *flag);
    shard_thr = sisa_malloc(S * sizeof *shard_thr);
    if (o->lof && !o->per_shard) {
        nbr = sisa_malloc((all.n ? all.n : 1) * o->k * sizeof *nbr);
        dist = sisa_malloc((all.n ? all.n : 1) * o->k * sizeof *dist);
        lrd = sisa_malloc((all.n ? all.n : 1) * sizeof *lrd);
        if (local == SISA_OK && (!nbr || !dist || !lrd))
            local = SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    if (local == SISA_OK && (!scores || !flag || !shard_thr))
        local = SISA_ERR(SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_dist_agree(d, local));
    for (uint32_t k = 0; k < S; k++) shard_thr[k] = NAN;

    if (!o->per_shard) {
        if (rank == 0)
            sisa_progress_start(&pr, o->lof ? "outliers (LOF)" : "outliers (isolation forest)",
                                "rows", (all.n + (uint64_t)P - 1) / (uint64_t)P);
        local = score_blocks(&all, o, seed, (uint32_t)P, (uint32_t)rank, scores, nbr, dist,
                             rank == 0 ? &pr : NULL);
        if (rank == 0) sisa_progress_finish(&pr);
        SISA_TRY(sisa_dist_agree(d, local));
        if (o->lof) {
            SISA_TRY(collect_blocks(d, nbr, o->k * sizeof *nbr, all.n));
            SISA_TRY(collect_blocks(d, dist, o->k * sizeof *dist, all.n));
            if (rank == 0) sisa_lof_scores(scores, lrd, nbr, dist, all.n, o->k);
        } else {
            SISA_TRY(collect_blocks(d, scores, sizeof *scores, all.n));
        }
        if (rank == 0) SISA_TRY(flag_rows(scores, all.n, o, flag, &res->threshold));
    } else {
        /* each shard on its owner; rank 0 receives the scores in shard order. An owner always
         * sends its status first, so that a failure never leaves rank 0 waiting. */
        uint64_t at = 0;
        local = SISA_OK;
        for (uint32_t k = 0; k < S; k++) {
            const int owner = (int)(k % (uint32_t)P);
            uint64_t n_k = 0; /* rank 0: shard k's rows, at `at` in `all` (read in shard order) */
            if (rank == 0)
                for (uint64_t i = 0; i < all.n; i++) n_k += all.shard[i] == k;
            if (rank == owner) {
                int rc = local;
                double *sc = NULL;
                rowset_free(&one);
                /* rank 0 scores the rows it already holds (a view into `all`, not owned) */
                rowset view = {0};
                if (rank == 0 && n_k > 0)
                    view = (rowset){n_k, all.d, all.X + at * all.d, all.id + at, all.shard + at};
                if (rc == SISA_OK && rank != 0) rc = rowset_add_shard(&one, &st, k);
                const rowset *rs = rank == 0 ? &view : &one;
                if (rc == SISA_OK) {
                    sc = sisa_malloc((rs->n ? rs->n : 1) * sizeof *sc);
                    if (!sc) rc = SISA_ERR(SISA_ENOMEM, "out of memory");
                }
                if (rc == SISA_OK && rs->n > 0 && (rs->n < 2 || (o->lof && rs->n <= o->k)))
                    rc = SISA_ERR(SISA_EUSAGE, "shard %u has %llu rows: %s needs more than %u", k,
                                  (unsigned long long)rs->n, o->lof ? "LOF" : "an isolation forest",
                                  o->lof ? o->k : 1);
                if (rc == SISA_OK && rs->n > 0) {
                    uint32_t *nb = NULL;
                    double *ds = NULL;
                    if (o->lof) {
                        nb = sisa_malloc(rs->n * o->k * sizeof *nb);
                        ds = sisa_malloc(rs->n * o->k * sizeof *ds);
                        if (!nb || !ds) rc = SISA_ERR(SISA_ENOMEM, "out of memory");
                    }
                    if (rc == SISA_OK) rc = score_blocks(rs, o, seed + k, 1, 0, sc, nb, ds, NULL);
                    sisa_free(nb);
                    sisa_free(ds);
                }
                if (rank == 0 && rc == SISA_OK) memcpy(scores + at, sc, rs->n * sizeof *sc);
                if (rank != 0) {
                    int64_t hdr[2] = {rc, (int64_t)rs->n};
                    int e = sisa_dist_send(d, hdr, sizeof hdr, 0, TAG_SHARD);
                    if (e == SISA_OK && rc == SISA_OK)
                        e = sisa_dist_send(d, sc, rs->n * sizeof *sc, 0, TAG_SHARD);
                    if (rc == SISA_OK) rc = e;
                }
                sisa_free(sc);
                local = rc;
            }
            if (rank == 0) {
                if (owner != 0) {
                    int64_t hdr[2] = {SISA_OK, 0};
                    int e = sisa_dist_recv(d, hdr, sizeof hdr, owner, TAG_SHARD);
                    if (e == SISA_OK && hdr[0] != SISA_OK)
                        e = SISA_ERR((int)hdr[0], "shard %u failed on rank %d", k, owner);
                    if (e == SISA_OK && (uint64_t)hdr[1] != n_k)
                        e = SISA_ERR(SISA_EINTERNAL, "shard %u: %llu rows on rank %d, %llu here", k,
                                     (unsigned long long)hdr[1], owner, (unsigned long long)n_k);
                    if (e == SISA_OK)
                        e = sisa_dist_recv(d, scores + at, n_k * sizeof *scores, owner, TAG_SHARD);
                    if (local == SISA_OK) local = e;
                }
                if (local == SISA_OK)
                    local = flag_rows(scores + at, n_k, o, flag + at, &shard_thr[k]);
                at += n_k;
            }
        }
        SISA_TRY(sisa_dist_agree(d, local));
        res->threshold = NAN;
    }

    if (rank == 0) {
        res->rows = all.n;
        for (uint64_t i = 0; i < all.n; i++) res->flagged += flag[i];
        /* scope shard: the rows are in shard order; the files list them by ID */
        if (o->per_shard) {
            double *sorted_scores = sisa_malloc((all.n ? all.n : 1) * sizeof *sorted_scores);
            uint64_t *sorted_flag = sisa_malloc((all.n ? all.n : 1) * sizeof *sorted_flag);
            uint32_t *perm = NULL;
            local = sorted_scores && sorted_flag ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
            if (local == SISA_OK) local = rowset_sort(&all, &perm);
            if (local == SISA_OK) {
                for (uint64_t i = 0; i < all.n; i++) {
                    sorted_scores[i] = scores[perm[i]];
                    sorted_flag[i] = flag[perm[i]];
                }
                sisa_free(scores);
                sisa_free(flag);
                scores = sorted_scores;
                flag = sorted_flag;
            } else {
                sisa_free(sorted_scores);
                sisa_free(sorted_flag);
            }
            sisa_free(perm);
        }
        if (local == SISA_OK) local = write_outputs(&st, o, res, &all, scores, flag, shard_thr, S);
        /* with -o - the IDs are all of standard output: the summary goes to the log */
        FILE *sum = o->ids_out && !strcmp(o->ids_out, "-") ? stderr : o->out;
        if (local == SISA_OK && sum && !(sum == stderr && sisa_log_level_get() == SISA_LOG_QUIET)) {
            fprintf(sum, "outliers of %s: %llu of %llu rows flagged (%s)\n", st.root,
                    (unsigned long long)res->flagged, (unsigned long long)res->rows, res->params);
            if (!o->per_shard)
                fprintf(sum, "threshold: scores above %.6g are flagged\n", res->threshold);
            if (sum == stderr)
                fprintf(sum, "IDs: on standard output (delete them with: ... | sisa unlearn -c "
                             "CONFIG --ids-file -)\n");
            else if (o->ids_out)
                fprintf(sum,
                        "IDs: %s (delete them with: sisa unlearn -c CONFIG --ids-file "
                        "%s)\n",
                        o->ids_out, o->ids_out);
            if (o->scores_out) fprintf(sum, "scores: %s\n", o->scores_out);
        }
    }
    SISA_TRY(sisa_dist_agree(d, rank == 0 ? local : SISA_OK));
done:
    rowset_free(&all);
    rowset_free(&one);
    sisa_free(scores);
    sisa_free(dist);
    sisa_free(lrd);
    sisa_free(nbr);
    sisa_free(flag);
    sisa_free(shard_thr);
    sisa_store_close(&st);
    return err;
}
