/*
 * predict.c - see predict.h.
 */
#include "shard/predict.h"

#include "io/store_io.h"
#include "model/model.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdlib.h>

struct sisa_shard_model {
    sisa_model *m;
    uint32_t d, classes;
};

void sisa_shard_model_free(sisa_shard_model *sm)
{
    if (!sm) return;
    sisa_model_destroy(sm->m);
    sisa_free(sm);
}

int sisa_shard_model_load(sisa_shard_model **out, const sisa_store *st, const char *ckpt_path,
                          uint32_t d, uint32_t classes)
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
    SISA_TRY(sisa_model_create(&sm->m, &ms, &os));
    int np = sisa_model_param_count(sm->m), ns = sisa_model_state_count(sm->m);
    params = sisa_malloc((size_t)(np ? np : 1) * sizeof *params);
    state = sisa_malloc((size_t)(ns ? ns : 1) * sizeof *state);
    SISA_CHECK(params && state, SISA_ENOMEM, "out of memory");
    for (int i = 0; i < np; i++) params[i] = *sisa_model_param(sm->m, i);
    for (int i = 0; i < ns; i++) state[i] = *sisa_model_state(sm->m, i);
    sisa_ckpt_meta meta;
    SISA_TRY(sisa_ckpt_read(&meta, ckpt_path, params, np, state, ns));
    *out = sm;
    sm = NULL;
done:
    sisa_free(params);
    sisa_free(state);
    sisa_shard_model_free(sm);
    return err;
}

void sisa_shard_model_predict(sisa_shard_model *sm, const float *X, uint64_t n, float *proba)
{
    for (uint64_t r0 = 0; r0 < n; r0 += SISA_PREDICT_BLOCK) {
        uint32_t nb = (uint32_t)(n - r0 < SISA_PREDICT_BLOCK ? n - r0 : SISA_PREDICT_BLOCK);
        sisa_model_predict(sm->m, X + r0 * sm->d, nb, proba + r0 * sm->classes);
    }
}

int sisa_shard_predict(const sisa_store *st, const char *ckpt_path, const float *X, uint64_t n,
                       uint32_t d, uint32_t classes, float *proba)
{
    sisa_shard_model *sm = NULL;
    int err = sisa_shard_model_load(&sm, st, ckpt_path, d, classes);
    if (err == SISA_OK) sisa_shard_model_predict(sm, X, n, proba);
    sisa_shard_model_free(sm);
    return err;
}
