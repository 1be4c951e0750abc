/*
 * common.c - see common.h.
 */
#include "cli/common.h"

#include "base/log.h"
#include "model/blas.h"
#include "model/model.h"
#include "sisa/error.h"

int sisa_cli_open_store(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode)
{
    int err = SISA_OK;
    st->lock_fd = -1;
    SISA_TRY(sisa_config_load(cfg, cfg_path));
    sisa_model_fp_setup();
    if (mode != SISA_STORE_READ) {
        char advice[512];
        if (sisa_blas_core_advice(advice, sizeof advice)) sisa_warn("%s", advice);
    }
    SISA_TRY(sisa_store_open(st, cfg, mode));
    if (mode != SISA_STORE_READ) SISA_TRY(sisa_store_check_context(st));
done:
    return err;
}
