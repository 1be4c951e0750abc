/*
 * common.h - what the store commands (train, unlearn, predict, eval, status) share.
 */
#ifndef SISA_CLI_COMMON_H
#define SISA_CLI_COMMON_H

#include "shard/store.h"
#include "sisa/config.h"

/* Load the config, set up the floating-point environment, and open its store in `mode`.
 * Writers also get advice about a generic OpenBLAS kernel, and refuse a store trained under
 * another determinism context. `st` is always safe to pass to sisa_store_close afterwards. */
int sisa_cli_open_store(sisa_store *st, sisa_config *cfg, const char *cfg_path,
                        sisa_store_mode mode);

#endif
