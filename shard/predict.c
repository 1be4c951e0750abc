/*
 * predict.c - see predict.h.
 */
#include "shard/predict.h"

#include "base/log.h"
#include "io/store_io.h"
#include "model/knn.h"
#include "model/model.h"
#include "shard/journal.h"
#include "shard/train.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

struct sisa_shard_model {
    sisa_model *m; /* logreg, mlp */
    uint32_t d, classes;
    /* knn: the shard's rows and the index over them */
    sisa_shard_data *rows;
    sisa_knn_index *knn;
    uint32_t k, shard;
    sisa_knn_cand *cands;        /* (SISA_KNN_BLOCK, k) */
    uint64_t queries, fallbacks; /* answered, and of them by the full exact scan */
};

void sisa_shard_model_free(sisa_shard_model *sm)
{
    if (!sm) return;
    if (sm->knn && sm->fallbacks)
        sisa_info("shard %u: %llu of %llu queries were answered by the full exact scan (their "
                  "k-th neighbour was too close to call from the float32 estimates)",
                  sm->shard, (unsigned long long)sm->fallbacks, (unsigned long long)sm->queries);
    else if (sm->knn && sm->queries)
        sisa_debug("shard %u: all %llu queries certified from their k + 32 candidates", sm->shard,
                   (unsigned long long)sm->queries);
    sisa_model_destroy(sm->m);
    sisa_knn_index_free(sm->knn);
    sisa_shard_data_free(sm->rows);
    sisa_free(sm->cands);
    sisa_free(sm);
}

/* A kNN shard's model: its rows, read from its data file after checking the file against the
 * shard's journal, and checked to be the rows the checkpoint names (its lineage). */
static int load_knn(sisa_shard_model *sm, const sisa_store *st, uint32_t shard,
                    const sisa_ckpt_meta *meta)
{
    int err = SISA_OK;
    sisa_files files = {0};
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    char(*lineage)[65] = sisa_malloc(R * sizeof *lineage);
    SISA_CHECK(lineage, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_shard_files(st, shard, &files, 0));
    SISA_TRY(sisa_shard_read_data(st, &files, shard, 1, &sm->rows));
    SISA_TRY(sisa_shard_lineages(sm->rows, R, lineage));
    SISA_CHECK(!strcmp(lineage[R - 1], meta->lineage), SISA_ECORRUPT,
               "shard %u: its rows (lineage %.12s) are not those its final checkpoint names "
               "(%.12s); run sisa repair",
               shard, lineage[R - 1], meta->lineage);
    SISA_CHECK(sm->rows->d == sm->d, SISA_ECORRUPT, "shard %u: rows of %llu features, not %u",
               shard, (unsigned long long)sm->rows->d, sm->d);
    sm->k = (uint32_t)st->cfg.model.k;
    sm->shard = shard;
    SISA_TRY(sisa_knn_index_create(&sm->knn, sm->rows->X, sm->rows->id, sm->rows->y, sm->rows->n,
                                   sm->d, sm->k, st->cfg.model.metric));
    sm->cands = sisa_malloc((size_t)SISA_KNN_BLOCK * sm->k * sizeof *sm->cands);
    SISA_CHECK(sm->cands, SISA_ENOMEM, "out of memory");
done:
    sisa_files_close(&files);
    sisa_free(lineage);
    return err;
}

int sisa_shard_model_load(sisa_shard_model **out, const sisa_store *st, uint32_t shard,
                          const char *ckpt_path, uint32_t d, uint32_t classes)
{
    int err = SISA_OK;
    sisa_shard_model *sm = NULL;
    sisa_tensor *params = NULL, *state = NULL;
    sisa_model_spec ms;
    sisa_optim_spec os;
    *out = NULL;
    sm = sisa_calloc(1, sizeof *sm);
    SISA_CHECK(sm, SISA_ENOMEM, "out of memory");
    sm->d = d;
    sm->classes = classes;
    sisa_model_specs_from_config(&ms, &os, &st->cfg, d, classes, SISA_PREDICT_BLOCK);
    ms.inference = 1; /* it only predicts: no backward buffers */
    SISA_TRY(sisa_model_create(&sm->m, &ms, &os));
    int np = sisa_model_param_count(sm->m), ns = sisa_model_state_count(sm->m);
    params = sisa_malloc((size_t)(np ? np : 1) * sizeof *params);
    state = sisa_malloc((size_t)(ns ? ns : 1) * sizeof *state);
    SISA_CHECK(params && state, SISA_ENOMEM, "out of memory");
    for (int i = 0; i < np; i++) params[i] = *sisa_model_param(sm->m, i);
    for (int i = 0; i < ns; i++) state[i] = *sisa_model_state(sm->m, i);
    sisa_ckpt_meta meta;
    SISA_TRY(sisa_ckpt_read(&meta, ckpt_path, params, np, state, ns));
    if (st->cfg.model.type == SISA_MODEL_KNN) SISA_TRY(load_knn(sm, st, shard, &meta));
    *out = sm;
    sm = NULL;
done:
    sisa_free(params);
    sisa_free(state);
    sisa_shard_model_free(sm);
    return err;
}

uint32_t sisa_shard_model_k(const sisa_shard_model *sm)
{
    return sm->knn ? sm->k : 0;
}

uint64_t sisa_shard_model_neighbours(sisa_shard_model *sm, const float *X, uint64_t n,
                                     sisa_knn_cand *out)
{
    uint64_t fallbacks = 0;
    for (uint64_t r0 = 0; r0 < n; r0 += SISA_KNN_BLOCK) {
        uint32_t nb = (uint32_t)(n - r0 < SISA_KNN_BLOCK ? n - r0 : SISA_KNN_BLOCK);
        fallbacks += sisa_knn_index_query(sm->knn, X + r0 * sm->d, nb, out + r0 * sm->k);
    }
    sm->queries += n;
    sm->fallbacks += fallbacks;
    return fallbacks;
}

void sisa_shard_model_predict(sisa_shard_model *sm, const float *X, uint64_t n, float *proba)
{
    if (sm->knn) {
        for (uint64_t r0 = 0; r0 < n; r0 += SISA_KNN_BLOCK) {
            uint32_t nb = (uint32_t)(n - r0 < SISA_KNN_BLOCK ? n - r0 : SISA_KNN_BLOCK);
            sm->fallbacks += sisa_knn_index_query(sm->knn, X + r0 * sm->d, nb, sm->cands);
            sm->queries += nb;
            for (uint32_t i = 0; i < nb; i++)
                sisa_knn_posterior(sm->cands + (size_t)i * sm->k, sm->k, sm->classes,
                                   proba + (r0 + i) * sm->classes);
        }
        return;
    }
    for (uint64_t r0 = 0; r0 < n; r0 += SISA_PREDICT_BLOCK) {
        uint32_t nb = (uint32_t)(n - r0 < SISA_PREDICT_BLOCK ? n - r0 : SISA_PREDICT_BLOCK);
        sisa_model_predict(sm->m, X + r0 * sm->d, nb, proba + r0 * sm->classes);
    }
}

int sisa_shard_predict(const sisa_store *st, uint32_t shard, const char *ckpt_path, const float *X,
                       uint64_t n, uint32_t d, uint32_t classes, float *proba)
{
    sisa_shard_model *sm = NULL;
    int err = sisa_shard_model_load(&sm, st, shard, ckpt_path, d, classes);
    if (err == SISA_OK) sisa_shard_model_predict(sm, X, n, proba);
    sisa_shard_model_free(sm);
    return err;
}
