/*
 * ensemble.c - the ensemble over the job's ranks (run/run.h), for predict and eval.
 *
 * Every shard's final model runs over the input and the posteriors are aggregated in shard
 * order. A shard
 * without a usable final model (no rows left, or retraining not finished after a deletion) is
 * left out of the ensemble, and the command says so; a model whose lineage does not match its
 * shard's current rows is never used.
 */
#include "run/run.h"

#include "aggregate/aggregate.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/dsstream.h"
#include "io/store_io.h"
#include "model/model.h"
#include "shard/predict.h"
#include "shard/request.h"
#include "shard/schedule.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef sisa_run_model model_ref;
typedef sisa_run_ensemble ensemble;
typedef sisa_run_sink ensemble_sink;

void sisa_run_ensemble_free(sisa_run_ensemble *e)
{
    sisa_free(e->models);
    sisa_free(e->excluded);
    sisa_free(e->why);
    sisa_free(e->memx);
    sisa_dataset_stream_close(e->input);
    memset(e, 0, sizeof *e);
}

/* Rank 0: which shards have a usable final model. */
static int find_models(const sisa_store *st, ensemble *e)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    char ledger[SISA_PATH_MAX];
    char(*expected)[65] = sisa_malloc(S * sizeof *expected);
    e->models = sisa_calloc(S, sizeof *e->models);
    e->excluded = sisa_calloc(S, sizeof *e->excluded);
    e->why = sisa_calloc(S, sizeof *e->why);
    SISA_CHECK(e->models && e->excluded && e->why && expected, SISA_ENOMEM, "out of memory");
    /* Every model served must stand where the ledger left its shard. */
    SISA_TRY(sisa_path_resolve(ledger, sizeof ledger, st->root, "ledger"));
    SISA_TRY(sisa_ledger_lineages(ledger, S, expected));
    for (uint32_t k = 0; k < S; k++) {
        sisa_ckpt_meta meta;
        const char *why = NULL;
        model_ref *m = &e->models[e->n_models];
        uint64_t rows = 0;
        int usable = sisa_shard_final_ckpt(st, k, m->ckpt, sizeof m->ckpt, &meta, &rows, &why);
        SISA_TRY(usable);
        if (!usable) {
            e->excluded[e->n_excluded] = k;
            e->why[e->n_excluded++] = why;
            sisa_warn("shard %u is left out of the ensemble: %s", k, why);
            continue;
        }
        SISA_TRY(sisa_shard_check_lineage(st, k, meta.lineage, expected[k]));
        m->shard = k;
        m->rows = rows;
        e->n_models++;
    }
    SISA_CHECK(e->n_models > 0, SISA_EUSAGE,
               "store %s has no shard with a trained model (run sisa train)", st->root);
done:
    sisa_free(expected);
    return err;
}

/* The stream: the input's rows in chunks of ENSEMBLE_CHUNK rows (a multiple of
 * SISA_PREDICT_BLOCK, so a row's posterior comes from the same BLAS call whoever computes it);
 * item (c, m) is model m over chunk c. With no more ranks than models, rank m mod P runs model
 * m on every chunk (each rank loads only its models); with spare ranks, items go round robin so
 * that they share each model's rows. Rank 0 takes the items of each chunk in model order, computed
 * or received, adds them to the combiner, and hands the chunk to the sink: its memory is one
 * chunk of rows x classes, whatever the number of shards. */
#define ENSEMBLE_CHUNK (16 * SISA_PREDICT_BLOCK)
#define ENSEMBLE_TAG   7

static uint32_t item_owner(uint64_t c, uint32_t m, uint32_t models, uint32_t ranks)
{
    return ranks <= models ? m % ranks : (uint32_t)((c * models + m) % ranks);
}

/* Collective: a memory input. Rank 0's matrix is broadcast to the other ranks (which keep it
 * in e->memx); the header is what a dataset file of the same rows would have. */
static int open_memory(sisa_dist *d, const sisa_run_input *in, sisa_run_ensemble *e,
                       sisa_dataset_header *hdr, const float **memx)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    uint64_t shape[2] = {in->n, in->d};
    SISA_TRY(sisa_dist_bcast(d, shape, sizeof shape, 0));
    memset(hdr, 0, sizeof *hdr);
    hdr->n = shape[0];
    hdr->d = shape[1];
    if (rank == 0) {
        if (shape[0] && !in->x) err = SISA_ERR(SISA_EUSAGE, "no input matrix given");
        *memx = in->x;
    } else if (shape[0] && shape[1]) {
        e->memx = sisa_malloc(shape[0] * shape[1] * sizeof *e->memx);
        if (!e->memx) err = SISA_ERR(SISA_ENOMEM, "out of memory");
        *memx = e->memx;
    }
    SISA_TRY(sisa_dist_agree(d, err));
    if (sisa_dist_size(d) > 1 && shape[0] && shape[1])
        SISA_TRY(sisa_dist_bcast(d, rank == 0 ? (void *)in->x : e->memx,
                                 shape[0] * shape[1] * sizeof(float), 0));
done:
    return err;
}

/* Collective: rank 0 finds the usable models; every rank gets the list. */
static int share_models(sisa_dist *d, const sisa_store *st, ensemble *e)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    if (rank == 0) err = find_models(st, e);
    SISA_TRY(sisa_dist_agree(d, err));
    uint64_t m64 = e->n_models;
    SISA_TRY(sisa_dist_bcast(d, &m64, sizeof m64, 0));
    if (rank != 0) {
        e->n_models = (uint32_t)m64;
        e->models = sisa_calloc(m64, sizeof *e->models);
        err = e->models ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, e->models, m64 * sizeof *e->models, 0));
done:
    return err;
}

/* One rank's part of the stream: its loaded models and buffers (rank 0 also combines). */
typedef struct {
    uint32_t M;                /* models */
    uint64_t chunks;           /* of ENSEMBLE_CHUNK rows */
    size_t C;                  /* classes */
    uint32_t K;                /* merge: neighbours per row (model.k); 0: posteriors */
    size_t W;                  /* floats per row of an item: C, or a merge's K neighbours */
    sisa_knn_cand *merged;     /* rank 0, merge: (ENSEMBLE_CHUNK x K) the lists so far */
    sisa_knn_cand *tmp;        /* rank 0, merge: (K) */
    float *shard_proba;        /* rank 0, merge with a model_rows sink: (ENSEMBLE_CHUNK x C) */
    const float *memx;         /* a memory input's rows (NULL: read from e->input) */
    const uint64_t *memid;     /* rank 0: a memory input's IDs (may be NULL) */
    const int32_t *memy;       /* rank 0: a memory input's labels (may be NULL) */
    sisa_shard_model **loaded; /* (M) this rank's models, NULL for the others' */
    float *x;                  /* (ENSEMBLE_CHUNK x d) a chunk's rows */
    float *buf;                /* (ENSEMBLE_CHUNK x C + 1) one item and its failure flag */
    float *ens;                /* rank 0: (ENSEMBLE_CHUNK x C) the ensemble's posteriors */
    int32_t *label;            /* rank 0: (ENSEMBLE_CHUNK) */
    double *weights;           /* rank 0: (M) */
    sisa_combiner comb;        /* rank 0 */
} stream_state;

/* Every rank opens the input (reading only the chunks of its items), checks it against the
 * store, and sets e's shape. Not collective by itself (a memory input's broadcast is). */
static int open_input(sisa_dist *d, const sisa_store *st, const sisa_run_input *in, ensemble *e,
                      stream_state *ss)
{
    int err = SISA_OK;
    const char *input = in->path ? in->path : "the input matrix";
    sisa_dataset_header hdr;
    if (in->path) {
        sisa_dataset_stream *stream = NULL;
        err = in->any ? sisa_dataset_stream_open_any(&stream, input, &hdr)
                      : sisa_dataset_stream_open(&stream, input, &hdr);
        e->input = stream;
    } else {
        err = open_memory(d, in, e, &hdr, &ss->memx);
        ss->memid = in->id;
        ss->memy = in->y;
    }
    if (err == SISA_OK && hdr.d != st->man.features)
        err = SISA_ERR(SISA_ECORRUPT,
                       "%s has %llu features per row but store %s was trained on %llu", input,
                       (unsigned long long)hdr.d, st->root, (unsigned long long)st->man.features);
    if (err == SISA_OK && hdr.num_classes > st->man.classes)
        err = SISA_ERR(SISA_ECORRUPT, "%s declares %d classes but store %s was trained on %d",
                       input, hdr.num_classes, st->root, st->man.classes);
    e->n = err == SISA_OK ? hdr.n : 0;
    e->d = err == SISA_OK ? (uint32_t)hdr.d : 0;
    e->classes = (uint32_t)st->man.classes;
    ss->chunks = (e->n + ENSEMBLE_CHUNK - 1) / ENSEMBLE_CHUNK;
    ss->C = e->classes;
    ss->K = st->cfg.aggregate.strategy == SISA_AGG_MERGE ? (uint32_t)st->cfg.model.k : 0;
    ss->W = ss->K ? ss->K * (sizeof(sisa_knn_cand) / sizeof(float)) : ss->C;
    return err;
}

/* This rank's buffers and models; on rank 0 the combiner, and the sink's start. */
static int prepare_stream(const sisa_store *st, int rank, int P, ensemble *e,
                          const ensemble_sink *sink, stream_state *ss)
{
    int err = SISA_OK;
    const uint32_t M = ss->M;
    const size_t C = ss->C;
    ss->loaded = sisa_calloc(M, sizeof *ss->loaded);
    ss->x = sisa_malloc((size_t)ENSEMBLE_CHUNK * e->d * sizeof *ss->x);
    ss->buf = sisa_malloc(((size_t)ENSEMBLE_CHUNK * ss->W + 2) * sizeof *ss->buf);
    SISA_CHECK(ss->loaded && ss->x && ss->buf, SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < M; m++) {
        int mine = 0;
        for (uint64_t c = 0; c < ss->chunks && !mine; c++)
            mine = item_owner(c, m, M, (uint32_t)P) == (uint32_t)rank;
        if (!mine) continue;
        err = sisa_shard_model_load(&ss->loaded[m], st, e->models[m].shard, e->models[m].ckpt, e->d,
                                    e->classes);
        if (err < 0) {
            sisa_error_prefix("shard %u", e->models[m].shard);
            goto done;
        }
    }
    if (rank != 0) goto done;
    e->y = e->input ? sisa_dataset_stream_y(e->input) : ss->memy;
    e->id = e->input ? sisa_dataset_stream_id(e->input) : ss->memid;
    ss->ens = sisa_malloc((size_t)ENSEMBLE_CHUNK * C * sizeof *ss->ens);
    ss->label = sisa_malloc((size_t)ENSEMBLE_CHUNK * sizeof *ss->label);
    ss->weights = sisa_malloc(M * sizeof *ss->weights);
    SISA_CHECK(ss->ens && ss->label && ss->weights, SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < M; m++) ss->weights[m] = (double)e->models[m].rows;
    if (ss->K) {
        ss->merged = sisa_malloc((size_t)ENSEMBLE_CHUNK * ss->K * sizeof *ss->merged);
        ss->tmp = sisa_malloc(ss->K * sizeof *ss->tmp);
        ss->shard_proba = sisa_malloc((size_t)ENSEMBLE_CHUNK * C * sizeof *ss->shard_proba);
        SISA_CHECK(ss->merged && ss->tmp && ss->shard_proba, SISA_ENOMEM, "out of memory");
    } else {
        SISA_TRY(sisa_combiner_init(&ss->comb, st->cfg.aggregate.strategy, M, ss->weights,
                                    e->classes, ENSEMBLE_CHUNK));
    }
    if (sink->start) SISA_TRY(sink->start(sink->ctx, e));
done:
    return err;
}

static void stream_state_free(stream_state *ss)
{
    if (ss->loaded)
        for (uint32_t m = 0; m < ss->M; m++) sisa_shard_model_free(ss->loaded[m]);
    sisa_free(ss->loaded);
    sisa_combiner_free(&ss->comb);
    sisa_free(ss->merged);
    sisa_free(ss->tmp);
    sisa_free(ss->shard_proba);
    sisa_free(ss->weights);
    sisa_free(ss->label);
    sisa_free(ss->ens);
    sisa_free(ss->buf);
    sisa_free(ss->x);
}

/* Rank 0, merge: fold model m's neighbour lists of a chunk's nr rows into ss->merged (model 0's
 * are copied), and give the model's own kNN posteriors to a model_rows sink. */
static int merge_add(stream_state *ss, const ensemble_sink *sink, uint32_t m, uint64_t r0,
                     uint64_t nr, const sisa_knn_cand *lists)
{
    const uint32_t K = ss->K;
    for (uint64_t i = 0; i < nr; i++) {
        sisa_knn_cand *acc = ss->merged + i * K;
        if (m == 0) {
            memcpy(acc, lists + i * K, K * sizeof *acc);
        } else {
            sisa_knn_merge(acc, lists + i * K, K, ss->tmp);
            memcpy(acc, ss->tmp, K * sizeof *acc);
        }
    }
    if (!sink->model_rows) return SISA_OK;
    for (uint64_t i = 0; i < nr; i++)
        sisa_knn_posterior(lists + i * K, K, (uint32_t)ss->C, ss->shard_proba + i * ss->C);
    return sink->model_rows(sink->ctx, m, r0, nr, ss->shard_proba);
}

/* Rank 0, merge: the merged lists' posteriors and labels (argmax, ties: lowest class). */
static void merge_finish(stream_state *ss, uint64_t nr)
{
    const uint32_t C = (uint32_t)ss->C;
    for (uint64_t i = 0; i < nr; i++) {
        float *p = ss->ens + i * C;
        sisa_knn_posterior(ss->merged + i * ss->K, ss->K, C, p);
        ss->label[i] = (int32_t)sisa_argmax(p, C);
    }
}

/* Collective: the stream itself. `local` is this rank's first failure; after it (or, on rank 0,
 * after a rank reported one) a rank only keeps the message flow going: flag 1 in an item means
 * "no result", and the failing rank's own message comes out of the final agreement. */
static int run_stream(sisa_dist *d, ensemble *e, const ensemble_sink *sink, stream_state *ss)
{
    int err = SISA_OK, local = SISA_OK;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint32_t M = ss->M;
    const size_t W = ss->W;
    float *buf = ss->buf, *x = ss->x;
    int remote_failed = 0;
    for (uint64_t c = 0; c < ss->chunks; c++) {
        const uint64_t r0 = c * ENSEMBLE_CHUNK;
        const uint64_t nr = e->n - r0 < ENSEMBLE_CHUNK ? e->n - r0 : ENSEMBLE_CHUNK;
        const size_t bytes = (nr * W + 1) * sizeof *buf;
        int have_x = 0;
        if (rank == 0 && local == SISA_OK && !ss->K) local = sisa_combiner_begin(&ss->comb, nr);
        for (uint32_t m = 0; m < M; m++) {
            const uint32_t owner = item_owner(c, m, M, (uint32_t)P);
            if (owner != (uint32_t)rank && rank != 0) continue;
            if (owner == (uint32_t)rank) {
                if (local == SISA_OK && !have_x) {
                    if (ss->memx)
                        memcpy(x, ss->memx + r0 * e->d, nr * e->d * sizeof *x);
                    else
                        local = sisa_dataset_stream_read_x(e->input, r0, nr, x);
                    have_x = local == SISA_OK;
                }
                if (local == SISA_OK && ss->K)
                    sisa_shard_model_neighbours(ss->loaded[m], x, nr, (sisa_knn_cand *)buf);
                else if (local == SISA_OK)
                    sisa_shard_model_predict(ss->loaded[m], x, nr, buf);
                buf[nr * W] = local == SISA_OK ? 0.0f : 1.0f;
                if (rank != 0) {
                    SISA_TRY(sisa_dist_send(d, buf, bytes, 0, ENSEMBLE_TAG));
                    continue;
                }
            } else {
                SISA_TRY(sisa_dist_recv(d, buf, bytes, (int)owner, ENSEMBLE_TAG));
                remote_failed |= buf[nr * W] != 0.0f;
            }
            /* Rank 0: model m's posteriors (or neighbours) of this chunk, in model order. */
            if (local != SISA_OK || remote_failed) continue;
            if (ss->K) {
                local = merge_add(ss, sink, m, r0, nr, (const sisa_knn_cand *)buf);
                continue;
            }
            local = sisa_combiner_add(&ss->comb, m, buf);
            if (local == SISA_OK && sink->model_rows)
                local = sink->model_rows(sink->ctx, m, r0, nr, buf);
        }
        if (rank == 0 && local == SISA_OK && !remote_failed) {
            if (ss->K)
                merge_finish(ss, nr);
            else
                local = sisa_combiner_finish(&ss->comb, ss->ens, ss->label);
            if (local == SISA_OK && sink->ens_rows)
                local = sink->ens_rows(sink->ctx, r0, nr, ss->ens, ss->label);
        }
    }
    SISA_TRY(sisa_dist_agree(d, local));
done:
    return err;
}

/* Collective: read `input`, run every usable shard model over it (spread over the ranks), and
 * combine on rank 0 in shard order, chunk by chunk, into the sink. A rank that fails keeps
 * sending its items (flagged as failed, without payload work) so that nobody waits for it; the
 * ranks agree on the outcome at the end. */
int sisa_run_ensemble_stream(sisa_dist *d, const sisa_store *st, const sisa_run_input *in,
                             sisa_run_ensemble *e, const sisa_run_sink *sink)
{
    int err = SISA_OK;
    stream_state ss;
    memset(&ss, 0, sizeof ss);
    memset(e, 0, sizeof *e);
    SISA_TRY(share_models(d, st, e));
    ss.M = e->n_models;
    err = open_input(d, st, in, e, &ss);
    if (err == SISA_OK)
        err = prepare_stream(st, sisa_dist_rank(d), sisa_dist_size(d), e, sink, &ss);
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(run_stream(d, e, sink, &ss));
done:
    stream_state_free(&ss);
    return err;
}
