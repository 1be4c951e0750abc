/*
 * cmd_status.c - `sisa status -c CFG [--json]`: what a store holds, shard by shard.
 *
 * For each shard: its row count, how many stages have a checkpoint whose lineage matches the
 * shard's current rows, and the checkpoint a model would be served from (JSON "checkpoint",
 * null when none is usable). Tools find models through this, never by guessing file names.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_status(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    int json = 0;
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the status as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "status",
        .usage = "status -c CONFIG [--json]",
        .summary = "Show a store's shards (rows, trained stages, current checkpoint), its "
                   "config hash, seed and determinism context.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_status(NULL, h, sisa_job_rank(job) == 0 ? stdout : NULL, json));
done:
    sisa_close(h);
    return err;
}
