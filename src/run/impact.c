/*
 * impact.c - `sisa impact`: what a deletion would change, computed before it is made
 * (docs/knn.md). The store is only read.
 *
 * The rows are named as for sisa unlearn and checked the same way (an unknown ID rejects the
 * request); nothing is journaled. Then, for a set of query rows:
 *   knn       each shard's neighbour lists of every query before (all its rows) and after (its
 *             rows without the deleted ones). A query depends on a deleted row when the row is
 *             among the neighbours its prediction uses: the merged k nearest (strategy merge)
 *             or the k nearest of the row's shard (vote, mean, weighted). For each deleted row
 *             that set of queries is its reverse-kNN set: the queries whose k-distance it lies
 *             within.
 *   logreg,   each affected shard is trained without the rows in a scratch folder (from
 *   mlp       scratch: the bits a deletion's retraining gives) and its posteriors before and
 *             after are compared; every query depends on every affected shard.
 * In both cases the ensemble's prediction of every query before and after, and which change.
 * Under MPI, shard k is computed by rank k mod P (which reads the query rows itself) and sent
 * to rank 0, which combines the shards in shard order: the results do not depend on the rank
 * count.
 */
#include "run/run.h"

#include "aggregate/aggregate.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/arrays.h"
#include "io/store_io.h"
#include "model/knn.h"
#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/predict.h"
#include "shard/request.h"
#include "shard/train.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One shard, before and after. */
typedef struct {
    uint32_t shard;
    int affected;      /* the request names rows of it */
    int before, after; /* it has a usable model before / would have one after */
    uint64_t rows_before, rows_after, deleted;
    sisa_shard_data *rows;  /* affected: all its rows; knn: every shard's */
    sisa_shard_data *kept;  /* affected: the rows without the deleted ones */
    uint64_t *del_ids;      /* (deleted) the IDs of its deleted rows */
    float *pb, *pa;         /* (nq, C) posteriors before / after (pa == pb if unaffected) */
    sisa_knn_cand *lb, *la; /* knn: (nq, K) lists before / after (la == lb if unaffected) */
    uint64_t changed;       /* queries whose label by this shard alone changes */
    double max_change;      /* largest |posterior after - before| */
} shard_state;

typedef struct {
    const sisa_store *st;
    const sisa_run_impact_opts *o;
    uint32_t S, C, K; /* K: knn's k (0: not knn) */
    int knn, merge;
    sisa_dataset *q;
    uint64_t nq;
    shard_state *sh;
    uint64_t *del_id; /* (n_del) the deleted rows' IDs, ascending */
    uint32_t *del_shard;
    uint64_t n_del;
    char scratch[SISA_PATH_MAX];
    /* results */
    float *eb, *ea;         /* (nq, C) ensemble posteriors */
    int32_t *lab_b, *lab_a; /* (nq) */
    uint64_t *depends;      /* (nq) */
} impact;

/* What the query rows are called in messages and outputs. */
static const char *queries_name(const impact *im)
{
    return strcmp(im->o->queries, "-") ? im->o->queries : "standard input";
}

static void shard_state_free(shard_state *s)
{
    if (s->pa != s->pb) sisa_free(s->pa);
    sisa_free(s->pb);
    if (s->la != s->lb) sisa_free(s->la);
    sisa_free(s->lb);
    sisa_shard_data_free(s->kept);
    sisa_shard_data_free(s->rows);
    sisa_free(s->del_ids);
}

static void impact_free(impact *im)
{
    if (im->sh)
        for (uint32_t k = 0; k < im->S; k++) shard_state_free(&im->sh[k]);
    sisa_free(im->sh);
    sisa_free(im->del_id);
    sisa_free(im->del_shard);
    sisa_free(im->eb);
    sisa_free(im->ea);
    sisa_free(im->lab_b);
    sisa_free(im->lab_a);
    sisa_free(im->depends);
    sisa_dataset_free(im->q);
    if (im->scratch[0] && !im->o->keep_scratch) sisa_run_remove_scratch(im->scratch);
}

/* Shard k's rows, and which of them the request names (kept = the others). */
static int read_rows(impact *im, shard_state *s, const sisa_request *r)
{
    int err = SISA_OK;
    sisa_files files = {0};
    SISA_TRY(sisa_shard_files(im->st, s->shard, &files, 0));
    SISA_TRY(sisa_shard_read_data(im->st, &files, s->shard, 1, &s->rows));
    const sisa_shard_data *a = s->rows;
    s->rows_before = s->rows_after = a->n;
    if (!s->affected) goto done;
    SISA_TRY(
        sisa_shard_data_alloc(&s->kept, s->shard, a->n, a->d, a->num_classes, a->group != NULL));
    s->del_ids = sisa_malloc((a->n ? a->n : 1) * sizeof *s->del_ids);
    SISA_CHECK(s->del_ids, SISA_ENOMEM, "out of memory");
    uint64_t m = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        uint8_t h[32];
        sisa_store_hash_id(im->st, a->id[i], h);
        if (sisa_request_has(r, h)) {
            s->del_ids[s->deleted++] = a->id[i];
            continue;
        }
        memcpy(s->kept->X + m * a->d, a->X + i * a->d, a->d * sizeof *a->X);
        s->kept->y[m] = a->y[i];
        s->kept->id[m] = a->id[i];
        s->kept->slice[m] = a->slice[i];
        if (a->group) s->kept->group[m] = a->group[i];
        m++;
    }
    s->kept->n = m;
    s->rows_after = m;
done:
    sisa_files_close(&files);
    return err;
}

/* knn: the k nearest of every query among `rows` into *out (nq, K). */
static int knn_lists(impact *im, const sisa_shard_data *rows, sisa_knn_cand **out)
{
    int err = SISA_OK;
    sisa_knn_index *ix = NULL;
    const uint32_t d = (uint32_t)im->q->d;
    *out = sisa_malloc((im->nq ? im->nq : 1) * im->K * sizeof **out);
    SISA_CHECK(*out, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_knn_index_create(&ix, rows->X, rows->id, rows->y, rows->n, d, im->K,
                                   im->st->cfg.model.metric));
    for (uint64_t r0 = 0; r0 < im->nq; r0 += SISA_KNN_BLOCK) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted");
        uint32_t nb = (uint32_t)(im->nq - r0 < SISA_KNN_BLOCK ? im->nq - r0 : SISA_KNN_BLOCK);
        sisa_knn_index_query(ix, im->q->X + r0 * d, nb, *out + r0 * im->K);
    }
done:
    sisa_knn_index_free(ix);
    return err;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* knn, an affected shard: its lists after the deletion. A query none of whose neighbours is
 * deleted keeps its list (removing rows farther than its k-th neighbour changes nothing in a
 * total order); the others are searched again among the remaining rows, in blocks. */
static int knn_lists_after(impact *im, shard_state *s)
{
    int err = SISA_OK;
    sisa_knn_index *ix = NULL;
    const uint32_t d = (uint32_t)im->q->d, K = im->K;
    float *Q = NULL;
    uint64_t *which = NULL, n = 0;
    s->la = sisa_malloc((im->nq ? im->nq : 1) * K * sizeof *s->la);
    which = sisa_malloc((im->nq ? im->nq : 1) * sizeof *which);
    Q = sisa_malloc((size_t)SISA_KNN_BLOCK * d * sizeof *Q);
    sisa_knn_cand *got = sisa_malloc((size_t)SISA_KNN_BLOCK * K * sizeof *got);
    SISA_CHECK(s->la && which && Q && got, SISA_ENOMEM, "out of memory");
    memcpy(s->la, s->lb, im->nq * K * sizeof *s->la);
    /* the deleted IDs are ascending (the shard's rows are in ID order) */
    for (uint64_t q = 0; q < im->nq; q++)
        for (uint32_t c = 0; c < K; c++) {
            const sisa_knn_cand *e = &s->lb[q * K + c];
            if (e->label >= 0 &&
                bsearch(&e->id, s->del_ids, s->deleted, sizeof *s->del_ids, cmp_id)) {
                which[n++] = q;
                break;
            }
        }
    if (!n) goto done;
    SISA_TRY(sisa_knn_index_create(&ix, s->kept->X, s->kept->id, s->kept->y, s->kept->n, d, K,
                                   im->st->cfg.model.metric));
    for (uint64_t b0 = 0; b0 < n; b0 += SISA_KNN_BLOCK) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted");
        const uint32_t nb = (uint32_t)(n - b0 < SISA_KNN_BLOCK ? n - b0 : SISA_KNN_BLOCK);
        for (uint32_t i = 0; i < nb; i++)
            memcpy(Q + (size_t)i * d, im->q->X + which[b0 + i] * d, d * sizeof *Q);
        sisa_knn_index_query(ix, Q, nb, got);
        for (uint32_t i = 0; i < nb; i++)
            memcpy(s->la + which[b0 + i] * K, got + (size_t)i * K, K * sizeof *got);
    }
done:
    sisa_knn_index_free(ix);
    sisa_free(got);
    sisa_free(Q);
    sisa_free(which);
    return err;
}

static int alloc_proba(impact *im, float **p)
{
    *p = sisa_malloc((im->nq ? im->nq : 1) * im->C * sizeof **p);
    return *p ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
}

/* logreg/mlp: shard s trained without the deleted rows in the scratch folder, its posteriors. */
static int retrain(impact *im, shard_state *s)
{
    int err = SISA_OK;
    sisa_store *scratch = NULL;
    sisa_files xf = {0};
    sisa_shard_report rep;
    char dir[SISA_PATH_MAX], ckpt[SISA_PATH_MAX];
    if (!im->scratch[0])
        SISA_TRY(sisa_run_make_scratch(im->st, "impact", im->o->scratch, im->scratch,
                                       sizeof im->scratch));
    scratch = sisa_malloc(sizeof *scratch);
    SISA_CHECK(scratch, SISA_ENOMEM, "out of memory");
    *scratch = *im->st;
    scratch->lock_fd = -1;
    snprintf(scratch->root, sizeof scratch->root, "%s", im->scratch);
    SISA_TRY(sisa_store_shard_dir(scratch, s->shard, dir, sizeof dir));
    SISA_TRY(sisa_fs_mkdir_p(dir));
    SISA_TRY(sisa_shard_files(scratch, s->shard, &xf, 1));
    SISA_TRY(sisa_shard_commit_data(scratch, &xf, s->kept));
    sisa_files_close(&xf);
    sisa_info("impact: training shard %u without the %llu row(s) in %s", s->shard,
              (unsigned long long)s->deleted, im->scratch);
    SISA_TRY(sisa_shard_train(scratch, s->shard, &rep));
    SISA_TRY(alloc_proba(im, &s->pa));
    SISA_TRY(sisa_store_ckpt_path(scratch, s->shard, (uint32_t)im->st->cfg.sisa.slices, ckpt,
                                  sizeof ckpt));
    SISA_TRY(sisa_shard_predict(scratch, s->shard, ckpt, im->q->X, im->nq, (uint32_t)im->q->d,
                                im->C, s->pa));
done:
    sisa_files_close(&xf);
    sisa_free(scratch);
    return err;
}

/* Shard s's predictions before and after (on the rank that owns it). */
static int shard_compute(impact *im, shard_state *s, const sisa_request *r, const char *expected)
{
    int err = SISA_OK;
    const sisa_store *st = im->st;
    const uint32_t k = s->shard;
    char ckpt[SISA_PATH_MAX];
    {
        sisa_ckpt_meta meta;
        const char *why = NULL;
        uint64_t rows = 0;
        int usable = sisa_shard_final_ckpt(st, k, ckpt, sizeof ckpt, &meta, &rows, &why);
        SISA_TRY(usable);
        if (usable) SISA_TRY(sisa_shard_check_lineage(st, k, meta.lineage, expected));
        s->before = usable;
        if (!usable && !s->affected) {
            sisa_warn("shard %u is left out of the ensemble: %s", k, why);
            goto done;
        }
        SISA_CHECK(usable, SISA_EUSAGE,
                   "shard %u holds rows of the request but has no usable model (%s): run sisa "
                   "train first",
                   k, why);
        s->rows_before = s->rows_after = rows; /* read_rows counts them again */
        if (s->affected || im->knn) SISA_TRY(read_rows(im, s, r));
        s->after = s->rows_after > 0;
        sisa_info("impact: shard %u (%llu rows%s)", k, (unsigned long long)s->rows_before,
                  s->affected ? ", affected" : "");
        if (im->knn) {
            SISA_TRY(knn_lists(im, s->rows, &s->lb));
            if (s->affected && s->after)
                SISA_TRY(knn_lists_after(im, s));
            else if (!s->affected)
                s->la = s->lb;
            if (!im->merge) {
                SISA_TRY(alloc_proba(im, &s->pb));
                for (uint64_t q = 0; q < im->nq; q++)
                    sisa_knn_posterior(s->lb + q * im->K, im->K, im->C, s->pb + q * im->C);
                if (s->affected && s->after) {
                    SISA_TRY(alloc_proba(im, &s->pa));
                    for (uint64_t q = 0; q < im->nq; q++)
                        sisa_knn_posterior(s->la + q * im->K, im->K, im->C, s->pa + q * im->C);
                } else if (!s->affected) {
                    s->pa = s->pb;
                }
            }
        } else {
            SISA_TRY(alloc_proba(im, &s->pb));
            SISA_TRY(sisa_shard_predict(st, k, ckpt, im->q->X, im->nq, (uint32_t)im->q->d, im->C,
                                        s->pb));
            if (s->affected && s->after)
                SISA_TRY(retrain(im, s));
            else if (!s->affected)
                s->pa = s->pb;
        }
        /* a shard's own change (merge keeps lists only: its posteriors from them) */
        if (s->affected) {
            float *tb = sisa_malloc(2 * (size_t)im->C * sizeof *tb);
            SISA_CHECK(tb, SISA_ENOMEM, "out of memory");
            for (uint64_t q = 0; q < im->nq; q++) {
                const float *b = s->pb ? s->pb + q * im->C : tb;
                const float *a = s->pa ? s->pa + q * im->C : tb + im->C;
                if (!s->pb) sisa_knn_posterior(s->lb + q * im->K, im->K, im->C, tb);
                if (!s->pa && s->la)
                    sisa_knn_posterior(s->la + q * im->K, im->K, im->C, tb + im->C);
                uint32_t lb = sisa_argmax(b, im->C);
                if (!s->after) {
                    s->changed++;
                    continue;
                }
                s->changed += sisa_argmax(a, im->C) != lb;
                for (uint32_t c = 0; c < im->C; c++) {
                    double dlt = fabs((double)a[c] - (double)b[c]);
                    if (dlt > s->max_change) s->max_change = dlt;
                }
            }
            sisa_free(tb);
        }
    }
done:
    return err;
}

/* The fixed part of a shard's message to rank 0; the arrays follow in separate messages. */
typedef struct {
    int32_t err; /* the owner failed: nothing follows (its message comes from the agreement) */
    int32_t before, after, affected;
    uint64_t rows_before, rows_after, deleted, changed;
    double max_change;
    int32_t has_pb, pa_is_pb, has_pa, has_lb, la_is_lb, has_la;
} shard_msg;

#define TAG_IMPACT 0x1a7

static int send_array(sisa_dist *d, const void *p, size_t len)
{
    return len ? sisa_dist_send(d, p, len, 0, TAG_IMPACT) : SISA_OK;
}

/* Owner: shard s to rank 0. */
static int send_shard(sisa_dist *d, const impact *im, const shard_state *s, int failed)
{
    int err = SISA_OK;
    const size_t pbytes = im->nq * im->C * sizeof(float), lbytes = im->nq * im->K * sizeof *s->lb;
    shard_msg h = {failed,
                   s->before,
                   s->after,
                   s->affected,
                   s->rows_before,
                   s->rows_after,
                   s->deleted,
                   s->changed,
                   s->max_change,
                   s->pb != NULL,
                   s->pa && s->pa == s->pb,
                   s->pa && s->pa != s->pb,
                   s->lb != NULL,
                   s->la && s->la == s->lb,
                   s->la && s->la != s->lb};
    SISA_TRY(sisa_dist_send(d, &h, sizeof h, 0, TAG_IMPACT));
    if (failed) goto done;
    SISA_TRY(send_array(d, s->del_ids, s->deleted * sizeof *s->del_ids));
    if (h.has_pb) SISA_TRY(send_array(d, s->pb, pbytes));
    if (h.has_pa) SISA_TRY(send_array(d, s->pa, pbytes));
    if (h.has_lb) SISA_TRY(send_array(d, s->lb, lbytes));
    if (h.has_la) SISA_TRY(send_array(d, s->la, lbytes));
done:
    return err;
}

static int recv_array(sisa_dist *d, void **p, size_t len, int src)
{
    *p = sisa_malloc(len ? len : 1);
    if (!*p) return SISA_ERR(SISA_ENOMEM, "out of memory");
    return len ? sisa_dist_recv(d, *p, len, src, TAG_IMPACT) : SISA_OK;
}

/* Rank 0: shard s from its owner. *failed: the owner reported a failure. */
static int recv_shard(sisa_dist *d, const impact *im, shard_state *s, int src, int *failed)
{
    int err = SISA_OK;
    const size_t pbytes = im->nq * im->C * sizeof(float), lbytes = im->nq * im->K * sizeof *s->lb;
    shard_msg h;
    SISA_TRY(sisa_dist_recv(d, &h, sizeof h, src, TAG_IMPACT));
    *failed = h.err != 0;
    if (*failed) goto done;
    s->before = h.before, s->after = h.after, s->affected = h.affected;
    s->rows_before = h.rows_before, s->rows_after = h.rows_after;
    s->deleted = h.deleted, s->changed = h.changed, s->max_change = h.max_change;
    SISA_TRY(recv_array(d, (void **)&s->del_ids, h.deleted * sizeof *s->del_ids, src));
    if (h.has_pb) SISA_TRY(recv_array(d, (void **)&s->pb, pbytes, src));
    if (h.has_pa) SISA_TRY(recv_array(d, (void **)&s->pa, pbytes, src));
    if (h.pa_is_pb) s->pa = s->pb;
    if (h.has_lb) SISA_TRY(recv_array(d, (void **)&s->lb, lbytes, src));
    if (h.has_la) SISA_TRY(recv_array(d, (void **)&s->la, lbytes, src));
    if (h.la_is_lb) s->la = s->lb;
done:
    return err;
}

/* Collective: every shard computed by rank k mod P and gathered on rank 0, in shard order. A
 * rank that fails keeps answering (flagged, without arrays) so that nobody waits for it. */
static int shard_predictions(sisa_dist *d, impact *im, const sisa_request *r)
{
    int err = SISA_OK, local = SISA_OK, remote = 0;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const sisa_store *st = im->st;
    char ledger[SISA_PATH_MAX];
    char(*expected)[65] = sisa_malloc(im->S * sizeof *expected);
    if (!expected) local = SISA_ERR(SISA_ENOMEM, "out of memory");
    if (local == SISA_OK) local = sisa_path_resolve(ledger, sizeof ledger, st->root, "ledger");
    if (local == SISA_OK) local = sisa_ledger_lineages(ledger, im->S, expected);
    for (uint32_t i = 0; i < r->n_shards; i++) im->sh[r->shards[i].shard].affected = 1;
    for (uint32_t k = 0; k < im->S; k++) {
        shard_state *s = &im->sh[k];
        const int owner = (int)(k % (uint32_t)P);
        s->shard = k;
        if (owner == rank && local == SISA_OK) local = shard_compute(im, s, r, expected[k]);
        if (owner == 0) continue;
        if (rank == owner) {
            SISA_TRY(send_shard(d, im, s, local != SISA_OK));
        } else if (rank == 0) {
            int failed = 0;
            SISA_TRY(recv_shard(d, im, s, owner, &failed));
            remote |= failed;
        }
    }
    (void)remote; /* the failing rank's message comes out of the agreement */
    SISA_TRY(sisa_dist_agree(d, local));
done:
    sisa_free(expected);
    return err;
}

/* The ensemble's posteriors and labels, before (after = 0) or after (after = 1). */
static int ensemble(impact *im, int after, float *proba, int32_t *label)
{
    int err = SISA_OK;
    const uint32_t S = im->S, C = im->C, K = im->K;
    const float **p = sisa_malloc(S * sizeof *p);
    double *w = sisa_malloc(S * sizeof *w);
    sisa_knn_cand *acc = sisa_malloc((size_t)K * 2 * sizeof *acc + 1);
    SISA_CHECK(p && w && acc, SISA_ENOMEM, "out of memory");
    uint32_t M = 0;
    for (uint32_t k = 0; k < S; k++) {
        const shard_state *s = &im->sh[k];
        if (!(after ? s->after && s->before : s->before)) continue;
        if (!im->merge) p[M] = after ? s->pa : s->pb;
        w[M] = (double)(after ? s->rows_after : s->rows_before);
        M++;
    }
    SISA_CHECK(M > 0, SISA_EUSAGE,
               "after the deletion no shard would have a model: every row would be deleted");
    if (!im->merge) {
        SISA_TRY(sisa_aggregate(im->st->cfg.aggregate.strategy, M, p, w, im->nq, C, proba, label));
        goto done;
    }
    for (uint64_t q = 0; q < im->nq; q++) {
        sisa_knn_cand *cur = acc, *tmp = acc + K;
        int first = 1;
        for (uint32_t k = 0; k < S; k++) {
            const shard_state *s = &im->sh[k];
            if (!(after ? s->after && s->before : s->before)) continue;
            const sisa_knn_cand *l = (after ? s->la : s->lb) + q * K;
            if (first) {
                memcpy(cur, l, K * sizeof *cur);
                first = 0;
            } else {
                sisa_knn_merge(cur, l, K, tmp);
                memcpy(cur, tmp, K * sizeof *cur);
            }
        }
        sisa_knn_posterior(cur, K, C, proba + q * C);
        label[q] = (int32_t)sisa_argmax(proba + q * C, C);
    }
done:
    sisa_free(p);
    sisa_free(w);
    sisa_free(acc);
    return err;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of a deleted row's ID in im->del_id, or -1. */
static int64_t deleted_index(const impact *im, uint64_t id)
{
    const uint64_t *f = bsearch(&id, im->del_id, im->n_del, sizeof *im->del_id, cmp_u64);
    return f ? f - im->del_id : -1;
}

/* The neighbours of query q that its prediction uses from shard k (merge: the merged list;
 * shard k's own list otherwise), written to `out` (K). */
static void used_list(const impact *im, uint64_t q, sisa_knn_cand *out, sisa_knn_cand *tmp)
{
    int first = 1;
    for (uint32_t k = 0; k < im->S; k++) {
        const shard_state *s = &im->sh[k];
        if (!s->before) continue;
        const sisa_knn_cand *l = s->lb + q * im->K;
        if (first) {
            memcpy(out, l, im->K * sizeof *out);
            first = 0;
        } else {
            sisa_knn_merge(out, l, im->K, tmp);
            memcpy(out, tmp, im->K * sizeof *out);
        }
    }
}

/* knn: the reverse-kNN sets (CSR over the deleted rows, query IDs) and each query's count. */
static int reverse_knn(impact *im, uint64_t **offset_out, uint64_t **queries_out,
                       uint64_t **flips_out, sisa_run_impact_result *res)
{
    int err = SISA_OK;
    const uint32_t K = im->K;
    uint64_t *count = sisa_calloc(im->n_del + 1, sizeof *count);
    uint64_t *flips = sisa_calloc(im->n_del + 1, sizeof *flips);
    uint64_t *offset = sisa_calloc(im->n_del + 2, sizeof *offset);
    uint64_t *fill = sisa_calloc(im->n_del + 1, sizeof *fill);
    sisa_knn_cand *list = sisa_malloc(2 * (size_t)K * sizeof *list);
    uint64_t *queries = NULL;
    SISA_CHECK(count && flips && offset && fill && list, SISA_ENOMEM, "out of memory");
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t q = 0; q < im->nq; q++) {
            const int changed = im->lab_b[q] != im->lab_a[q];
            uint64_t dep = 0;
            if (im->merge) {
                used_list(im, q, list, list + K);
                for (uint32_t c = 0; c < K; c++) {
                    int64_t i = list[c].label < 0 ? -1 : deleted_index(im, list[c].id);
                    if (i < 0) continue;
                    dep++;
                    if (pass == 0)
                        count[i]++, flips[i] += changed;
                    else
                        queries[offset[i] + fill[i]++] = im->q->id[q];
                }
            } else {
                for (uint32_t k = 0; k < im->S; k++) {
                    const shard_state *s = &im->sh[k];
                    if (!s->affected || !s->before) continue;
                    for (uint32_t c = 0; c < K; c++) {
                        const sisa_knn_cand *n = s->lb + q * K + c;
                        int64_t i = n->label < 0 ? -1 : deleted_index(im, n->id);
                        if (i < 0) continue;
                        dep++;
                        if (pass == 0)
                            count[i]++, flips[i] += changed;
                        else
                            queries[offset[i] + fill[i]++] = im->q->id[q];
                    }
                }
            }
            if (pass == 0) {
                im->depends[q] = dep;
                res->depending += dep > 0;
                res->changed_independent += changed && dep == 0;
            }
        }
        if (pass == 0) {
            for (uint64_t i = 0; i < im->n_del; i++) offset[i + 1] = offset[i] + count[i];
            queries = sisa_malloc((offset[im->n_del] ? offset[im->n_del] : 1) * sizeof *queries);
            SISA_CHECK(queries, SISA_ENOMEM, "out of memory");
        }
    }
    *offset_out = offset;
    *queries_out = queries;
    *flips_out = flips;
    offset = queries = flips = NULL;
done:
    sisa_free(count);
    sisa_free(fill);
    sisa_free(list);
    sisa_free(offset);
    sisa_free(queries);
    sisa_free(flips);
    return err;
}

static int write_output(impact *im, const sisa_run_impact_result *res, const uint64_t *offset,
                        const uint64_t *rq, const uint64_t *flips)
{
    int err = SISA_OK;
    const uint64_t nq = im->nq, C = im->C, S = im->S;
    double *pb = sisa_malloc((nq ? nq : 1) * C * sizeof *pb);
    double *pa = sisa_malloc((nq ? nq : 1) * C * sizeof *pa);
    uint64_t *lb = sisa_malloc((nq ? nq : 1) * sizeof *lb);
    uint64_t *la = sisa_malloc((nq ? nq : 1) * sizeof *la);
    uint64_t *ch = sisa_malloc((nq ? nq : 1) * sizeof *ch);
    uint64_t *rknn = sisa_malloc((im->n_del ? im->n_del : 1) * sizeof *rknn);
    uint64_t *dsh = sisa_malloc((im->n_del ? im->n_del : 1) * sizeof *dsh);
    uint64_t *sk = sisa_malloc(S * sizeof *sk), *sdel = sisa_malloc(S * sizeof *sdel);
    uint64_t *srb = sisa_malloc(S * sizeof *srb), *sra = sisa_malloc(S * sizeof *sra);
    uint64_t *sch = sisa_malloc(S * sizeof *sch);
    double *smax = sisa_malloc(S * sizeof *smax);
    SISA_CHECK(pb && pa && lb && la && ch && rknn && dsh && sk && sdel && srb && sra && sch && smax,
               SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < nq * C; i++) pb[i] = im->eb[i], pa[i] = im->ea[i];
    for (uint64_t q = 0; q < nq; q++) {
        lb[q] = (uint64_t)im->lab_b[q];
        la[q] = (uint64_t)im->lab_a[q];
        ch[q] = im->lab_b[q] != im->lab_a[q];
    }
    for (uint64_t i = 0; i < im->n_del; i++) {
        dsh[i] = im->del_shard[i];
        rknn[i] = offset ? offset[i + 1] - offset[i] : 0;
    }
    for (uint32_t k = 0; k < S; k++) {
        const shard_state *s = &im->sh[k];
        sk[k] = k;
        sdel[k] = s->deleted;
        srb[k] = s->rows_before;
        sra[k] = s->rows_after;
        sch[k] = s->changed;
        smax[k] = s->max_change;
    }
    sisa_h5_array arrays[20];
    size_t na = 0;
    arrays[na++] = (sisa_h5_array){"queries/id", nq, 0, NULL, im->q->id};
    arrays[na++] = (sisa_h5_array){"queries/label_before", nq, 0, NULL, lb};
    arrays[na++] = (sisa_h5_array){"queries/label_after", nq, 0, NULL, la};
    arrays[na++] = (sisa_h5_array){"queries/changed", nq, 0, NULL, ch};
    arrays[na++] = (sisa_h5_array){"queries/depends", nq, 0, NULL, im->depends};
    arrays[na++] = (sisa_h5_array){"queries/proba_before", nq, C, pb, NULL};
    arrays[na++] = (sisa_h5_array){"queries/proba_after", nq, C, pa, NULL};
    arrays[na++] = (sisa_h5_array){"rows/id", im->n_del, 0, NULL, im->del_id};
    arrays[na++] = (sisa_h5_array){"rows/shard", im->n_del, 0, NULL, dsh};
    if (im->knn) {
        arrays[na++] = (sisa_h5_array){"rows/rknn_count", im->n_del, 0, NULL, rknn};
        arrays[na++] = (sisa_h5_array){"rows/flips", im->n_del, 0, NULL, flips};
        arrays[na++] = (sisa_h5_array){"rows/rknn_offset", im->n_del + 1, 0, NULL, offset};
        arrays[na++] = (sisa_h5_array){"rows/rknn_query", offset[im->n_del], 0, NULL, rq};
    }
    arrays[na++] = (sisa_h5_array){"shards/shard", S, 0, NULL, sk};
    arrays[na++] = (sisa_h5_array){"shards/deleted", S, 0, NULL, sdel};
    arrays[na++] = (sisa_h5_array){"shards/rows_before", S, 0, NULL, srb};
    arrays[na++] = (sisa_h5_array){"shards/rows_after", S, 0, NULL, sra};
    arrays[na++] = (sisa_h5_array){"shards/changed", S, 0, NULL, sch};
    arrays[na++] = (sisa_h5_array){"shards/max_abs_change", S, 0, smax, NULL};
    char nums[6][32], kbuf[16];
    snprintf(nums[0], sizeof nums[0], "%llu", (unsigned long long)res->rows);
    snprintf(nums[1], sizeof nums[1], "%llu", (unsigned long long)res->queries);
    snprintf(nums[2], sizeof nums[2], "%llu", (unsigned long long)res->depending);
    snprintf(nums[3], sizeof nums[3], "%llu", (unsigned long long)res->changed);
    snprintf(nums[4], sizeof nums[4], "%u", res->n_shards);
    snprintf(nums[5], sizeof nums[5], "%llu", (unsigned long long)res->deletions);
    snprintf(kbuf, sizeof kbuf, "%u", im->K);
    const sisa_h5_attr attrs[] = {
        {"sisa_format", "sisa-impact-v1"},
        {"store", im->st->root},
        {"store_id", im->st->man.store_id},
        {"queries", queries_name(im)},
        {"model", sisa_model_type_name(im->st->cfg.model.type)},
        {"strategy", sisa_strategy_name(im->st->cfg.aggregate.strategy)},
        {"k", im->knn ? kbuf : ""},
        {"metric", im->knn ? sisa_metric_name(im->st->cfg.model.metric) : ""},
        {"deleted_rows", nums[0]},
        {"affected_shards", nums[4]},
        {"query_rows", nums[1]},
        {"depending", nums[2]},
        {"changed", nums[3]},
        {"deletions_before", nums[5]},
    };
    SISA_TRY(sisa_arrays_write(im->o->output, arrays, na, attrs, sizeof attrs / sizeof *attrs));
done:
    sisa_free(pb), sisa_free(pa), sisa_free(lb), sisa_free(la), sisa_free(ch), sisa_free(rknn);
    sisa_free(dsh), sisa_free(sk), sisa_free(sdel), sisa_free(srb), sisa_free(sra), sisa_free(sch);
    sisa_free(smax);
    return err;
}

/* The top rows by reverse-kNN size, and the shards, for the summary. */
static void print_summary(FILE *out, const impact *im, const sisa_run_impact_result *res,
                          const uint64_t *offset, const uint64_t *flips)
{
    fprintf(out, "impact of deleting %llu row(s) from %u shard(s) of store %s (%s, strategy %s",
            (unsigned long long)res->rows, res->n_shards, im->st->root,
            sisa_model_type_name(im->st->cfg.model.type),
            sisa_strategy_name(im->st->cfg.aggregate.strategy));
    if (im->knn) fprintf(out, ", k=%u %s", im->K, sisa_metric_name(im->st->cfg.model.metric));
    fprintf(out, ") on %llu query row(s) of %s\n", (unsigned long long)res->queries,
            queries_name(im));
    if (res->already)
        fprintf(out, "  %llu named row(s) were deleted by earlier requests\n",
                (unsigned long long)res->already);
    fprintf(out, "  shard   rows before  after   deleted   own label changes   max |dp|\n");
    for (uint32_t k = 0; k < im->S; k++) {
        const shard_state *s = &im->sh[k];
        if (!s->affected) continue;
        fprintf(out, "  %5u   %11llu  %5llu   %7llu   %17llu   %8.4f\n", k,
                (unsigned long long)s->rows_before, (unsigned long long)s->rows_after,
                (unsigned long long)s->deleted, (unsigned long long)s->changed, s->max_change);
    }
    if (im->knn && im->n_del) {
        /* up to 10 rows with the largest reverse-kNN sets */
        fprintf(out, "  deleted rows with the most dependent queries (reverse kNN):\n");
        fprintf(out, "         id   shard   queries   flipped\n");
        /* the 10 largest sets, in decreasing size (equal sizes: lower ID first) */
        uint64_t n = im->n_del < 10 ? im->n_del : 10;
        uint64_t *top = sisa_malloc(n * sizeof *top);
        if (top) {
            uint64_t m = 0;
            for (uint64_t i = 0; i < im->n_del; i++) {
                uint64_t c = offset[i + 1] - offset[i];
                uint64_t p = m < n ? m++ : n;
                if (p == n) {
                    uint64_t cl = offset[top[n - 1] + 1] - offset[top[n - 1]];
                    if (c <= cl) continue;
                    p = n - 1;
                }
                while (p > 0 && offset[top[p - 1] + 1] - offset[top[p - 1]] < c) {
                    top[p] = top[p - 1];
                    p--;
                }
                top[p] = i;
            }
            for (uint64_t j = 0; j < m; j++) {
                uint64_t i = top[j];
                fprintf(out, "  %9llu   %5llu   %7llu   %7llu\n", (unsigned long long)im->del_id[i],
                        (unsigned long long)im->del_shard[i],
                        (unsigned long long)(offset[i + 1] - offset[i]),
                        (unsigned long long)flips[i]);
            }
            if (im->n_del > m)
                fprintf(out, "  ... %llu more in the output file\n",
                        (unsigned long long)(im->n_del - m));
            sisa_free(top);
        }
    }
    fprintf(out,
            "%llu of %llu query row(s) depend on the deleted rows%s; %llu prediction(s) would "
            "change, %llu posterior(s) would change\n",
            (unsigned long long)res->depending, (unsigned long long)res->queries,
            im->knn ? " (have one among the neighbours they use)"
                    : " (every query: a retrained shard changes every posterior)",
            (unsigned long long)res->changed, (unsigned long long)res->proba_changed);
    if (im->knn && res->changed_independent)
        fprintf(out,
                "  %llu changed prediction(s) have no deleted row among their neighbours: "
                "strategy weighted weighs shards by their row counts, which the deletion "
                "changes\n",
                (unsigned long long)res->changed_independent);
    if (im->o->output) fprintf(out, "written: %s\n", im->o->output);
}

/* Every rank: the query rows (already read when they came on standard input), checked against
 * the store. */
static int read_queries(impact *im)
{
    int err = SISA_OK;
    const sisa_store *st = im->st;
    if (!im->q) SISA_TRY(sisa_dataset_read_any(&im->q, im->o->queries));
    SISA_CHECK(im->q->d == st->man.features, SISA_ECORRUPT,
               "%s has %llu features per row but store %s was trained on %llu", queries_name(im),
               (unsigned long long)im->q->d, st->root, (unsigned long long)st->man.features);
    im->nq = im->q->n;
    im->sh = sisa_calloc(im->S, sizeof *im->sh);
    SISA_CHECK(im->sh, SISA_ENOMEM, "out of memory");
done:
    return err;
}

/* Rank 0, after the shards are gathered: the ensembles, the dependencies and the outputs. */
static int combine(impact *im, const sisa_request *r, sisa_run_impact_result *res)
{
    int err = SISA_OK;
    const sisa_request req = *r;
    uint64_t *offset = NULL, *rq = NULL, *flips = NULL;
    res->queries = im->nq;
    im->del_id = sisa_malloc((req.rows ? req.rows : 1) * sizeof *im->del_id);
    im->del_shard = sisa_malloc((req.rows ? req.rows : 1) * sizeof *im->del_shard);
    im->depends = sisa_calloc(im->nq ? im->nq : 1, sizeof *im->depends);
    im->lab_b = sisa_malloc((im->nq ? im->nq : 1) * sizeof *im->lab_b);
    im->lab_a = sisa_malloc((im->nq ? im->nq : 1) * sizeof *im->lab_a);
    SISA_CHECK(im->del_id && im->del_shard && im->depends && im->lab_b && im->lab_a, SISA_ENOMEM,
               "out of memory");
    SISA_TRY(alloc_proba(im, &im->eb));
    SISA_TRY(alloc_proba(im, &im->ea));
    for (uint32_t k = 0; k < im->S; k++)
        for (uint64_t i = 0; i < im->sh[k].deleted; i++) {
            SISA_CHECK(im->n_del < req.rows, SISA_ECORRUPT,
                       "shards hold more rows of the request than its %llu",
                       (unsigned long long)req.rows);
            im->del_id[im->n_del] = im->sh[k].del_ids[i];
            im->del_shard[im->n_del++] = k;
        }
    SISA_CHECK(im->n_del == req.rows, SISA_ECORRUPT,
               "the request names %llu rows, but %llu were found in the shards",
               (unsigned long long)req.rows, (unsigned long long)im->n_del);
    /* IDs ascending, shards along */
    for (uint64_t i = 1; i < im->n_del; i++)
        for (uint64_t j = i; j > 0 && im->del_id[j - 1] > im->del_id[j]; j--) {
            uint64_t t = im->del_id[j];
            im->del_id[j] = im->del_id[j - 1], im->del_id[j - 1] = t;
            uint32_t u = im->del_shard[j];
            im->del_shard[j] = im->del_shard[j - 1], im->del_shard[j - 1] = u;
        }
    if (req.rows) {
        SISA_TRY(ensemble(im, 0, im->eb, im->lab_b));
        SISA_TRY(ensemble(im, 1, im->ea, im->lab_a));
    } else {
        SISA_TRY(ensemble(im, 0, im->eb, im->lab_b));
        memcpy(im->ea, im->eb, im->nq * im->C * sizeof *im->ea);
        memcpy(im->lab_a, im->lab_b, im->nq * sizeof *im->lab_a);
    }
    for (uint64_t q = 0; q < im->nq; q++) {
        res->changed += im->lab_b[q] != im->lab_a[q];
        res->proba_changed +=
            memcmp(im->eb + q * im->C, im->ea + q * im->C, im->C * sizeof *im->eb) != 0;
    }
    if (im->knn) {
        SISA_TRY(reverse_knn(im, &offset, &rq, &flips, res));
    } else {
        uint32_t affected = 0;
        for (uint32_t k = 0; k < im->S; k++) affected += im->sh[k].affected && im->sh[k].before;
        for (uint64_t q = 0; q < im->nq; q++) im->depends[q] = affected;
        res->depending = affected ? im->nq : 0;
    }
    if (im->o->output) SISA_TRY(write_output(im, res, offset, rq, flips));
    if (im->o->out) print_summary(im->o->out, im, res, offset, flips);
done:
    sisa_free(offset);
    sisa_free(rq);
    sisa_free(flips);
    return err;
}

int sisa_run_impact(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const sisa_run_impact_opts *o, sisa_run_impact_result *res)
{
    int err = SISA_OK;
    sisa_store st = {.lock_fd = -1};
    sisa_config cfg;
    impact im;
    sisa_request req = {0};
    memset(&im, 0, sizeof im);
    memset(res, 0, sizeof *res);
    const int rank = sisa_dist_rank(d);
    int local = SISA_OK;
    if (rank == 0 && o->output && !o->force && sisa_fs_exists(o->output))
        local = SISA_ERR(SISA_EEXIST, "%s exists (--force replaces it)", o->output);
    if (rank == 0 && local == SISA_OK && !o->queries)
        local = SISA_ERR(SISA_EUSAGE, "sisa impact: give the query rows (--queries FILE)");
    if (rank == 0 && local == SISA_OK && !strcmp(o->queries, "-") &&
        ((o->del.ids_file && !strcmp(o->del.ids_file, "-")) ||
         (o->del.groups_file && !strcmp(o->del.groups_file, "-"))))
        local =
            SISA_ERR(SISA_EUSAGE,
                     "sisa impact: --queries - and --%s - both read standard "
                     "input; at most one can",
                     o->del.ids_file && !strcmp(o->del.ids_file, "-") ? "ids-file" : "groups-file");
    SISA_TRY(sisa_dist_agree(d, local));
    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_READ, &oo));
    im.st = &st;
    im.o = o;
    im.S = (uint32_t)st.cfg.sisa.shards;
    im.C = (uint32_t)st.man.classes;
    im.knn = st.cfg.model.type == SISA_MODEL_KNN;
    im.K = im.knn ? (uint32_t)st.cfg.model.k : 0;
    im.merge = st.cfg.aggregate.strategy == SISA_AGG_MERGE;
    /* the request, checked on rank 0 and shared (nothing is journaled) */
    if (rank == 0) {
        local = sisa_run_accept(&st, &o->del, &req);
        res->rows = req.rows;
        res->already = req.already_ids + req.already_groups;
        res->n_shards = req.n_shards;
        res->deletions = st.man.deletions;
    }
    SISA_TRY(sisa_dist_agree(d, local));
    SISA_TRY(sisa_run_share_request(d, &req));
    if (!strcmp(o->queries, "-"))
        SISA_TRY(sisa_run_stdin_rows(d, &st, "impact", o->scratch, 0, 1, &im.q));
    SISA_TRY(sisa_dist_agree(d, read_queries(&im)));
    SISA_TRY(shard_predictions(d, &im, &req));
    if (rank == 0) local = combine(&im, &req, res);
    SISA_TRY(sisa_dist_agree(d, local));
done:
    sisa_request_free(&req);
    impact_free(&im);
    sisa_store_close(&st);
    return err;
}
