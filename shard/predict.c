/*
 * predict.c - see predict.h.
 */
#include "shard/predict.h"

#include "io/store_io.h"
#include "model/model.h"
#include "sisa/error.h"

#include <stdlib.h>

int sisa_shard_predict(const sisa_store *st, const char *ckpt_path, const float *X, uint64_t n,
                       uint32_t d, uint32_t classes, float *proba)
{
    int err = SISA_OK;
    sisa_model *m = NULL;
    sisa_tensor *params = NULL, *state = NULL;
    sisa_model_spec ms;
    sisa_optim_spec os;
    sisa_model_specs_from_config(&ms, &os, &st->cfg, d, classes, SISA_PREDICT_BLOCK);
    SISA_TRY(sisa_model_create(&m, &ms, &os));
    int np = sisa_model_param_count(m), ns = sisa_model_state_count(m);
    params = malloc((size_t)(np ? np : 1) * sizeof *params);
    state = malloc((size_t)(ns ? ns : 1) * sizeof *state);
    SISA_CHECK(params && state, SISA_ENOMEM, "out of memory");
    for (int i = 0; i < np; i++) params[i] = *sisa_model_param(m, i);
    for (int i = 0; i < ns; i++) state[i] = *sisa_model_state(m, i);
    sisa_ckpt_meta meta;
    SISA_TRY(sisa_ckpt_read(&meta, ckpt_path, params, np, state, ns));
    for (uint64_t r0 = 0; r0 < n; r0 += SISA_PREDICT_BLOCK) {
        uint32_t nb = (uint32_t)(n - r0 < SISA_PREDICT_BLOCK ? n - r0 : SISA_PREDICT_BLOCK);
        sisa_model_predict(m, X + r0 * d, nb, proba + r0 * classes);
    }
done:
    free(params);
    free(state);
    sisa_model_destroy(m);
    return err;
}
