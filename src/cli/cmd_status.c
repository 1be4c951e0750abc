/*
 * cmd_status.c - `sisa status -c CFG [--json]`: what a store holds, shard by shard.
 *
 * For each shard: its row count, how many stages have a checkpoint whose lineage matches the
 * shard's current rows, and the checkpoint a model would be served from (JSON "checkpoint",
 * null when none is usable). Tools find models through this, never by guessing file names.
 */
#include "cli/args.h"
#include "cli/common.h"
#include "cli/commands.h"
#include "cli/json.h"

#include "io/store_io.h"
#include "model/model.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t rows;
    uint32_t stages_done; /* consecutive valid stages from 1 */
    int partitioned;
    int ready;
    char checkpoint[SISA_PATH_MAX];
    const char *state;
    char problem[512]; /* why a file was not used */
} shard_status;

/* A shard's state from its journal: every file it reads is checked against its recorded hash
 * first; a damaged file is reported, not parsed. */
static int shard_state(const sisa_store *st, uint32_t k, shard_status *s)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_data *idx = NULL;
    sisa_files files = {0};
    char(*lineage)[65] = NULL;
    char path[SISA_PATH_MAX], name[32];
    memset(s, 0, sizeof *s);
    SISA_TRY(sisa_shard_files(st, k, &files, 0));
    if (!sisa_files_has(&files, "data.h5")) {
        s->state = "not partitioned";
        goto done;
    }
    s->partitioned = 1;
    if (sisa_files_locate(&files, "data.h5", path, sizeof path) < 0) {
        snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
        sisa_error_clear();
        s->state = "damaged data file";
        goto done;
    }
    SISA_TRY(sisa_shard_read_data(st, &files, k, 0, &idx));
    s->rows = idx->n;
    if ((size_t)k < sizeof st->fenced && st->fenced[k]) {
        s->state = "fenced (an unfinished deletion request; not in the ensemble)";
        goto done;
    }
    if (idx->n == 0) {
        s->state = "empty (every row deleted; not in the ensemble)";
        goto done;
    }
    lineage = malloc(R * sizeof *lineage);
    SISA_CHECK(lineage, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_shard_lineages(idx, R, lineage));
    for (uint32_t r = 1; r <= R; r++) {
        sisa_ckpt_meta meta;
        snprintf(name, sizeof name, "ckpt-%03u.h5", r);
        if (!sisa_files_has(&files, name)) break;
        if (sisa_files_locate(&files, name, path, sizeof path) < 0) {
            snprintf(s->problem, sizeof s->problem, "%s", sisa_error_message());
            sisa_error_clear();
            break;
        }
        SISA_TRY(sisa_ckpt_read_meta(&meta, path));
        if (strcmp(meta.lineage, lineage[r - 1]) != 0) break;
        s->stages_done = r;
    }
    s->ready = s->stages_done == R;
    if (s->ready) SISA_TRY(sisa_store_ckpt_path(st, k, R, s->checkpoint, sizeof s->checkpoint));
    s->state = s->ready        ? "ready"
               : s->problem[0] ? "damaged checkpoint (sisa train rebuilds it)"
                               : "training unfinished (run sisa train)";
done:
    free(lineage);
    sisa_shard_data_free(idx);
    sisa_files_close(&files);
    return err;
}

int sisa_cmd_status(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL;
    int json = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    shard_status *ss = NULL;
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
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_READ));
    if (sisa_cli_not_root()) goto done; /* rank 0 reads the store's metadata for the job */
    const uint32_t S = (uint32_t)cfg.sisa.shards;
    ss = calloc(S, sizeof *ss);
    SISA_CHECK(ss, SISA_ENOMEM, "out of memory");
    uint32_t ready = 0;
    uint64_t rows = 0;
    char ledger_path[SISA_PATH_MAX];
    sisa_ledger_info ledger;
    SISA_TRY(sisa_path_resolve(ledger_path, sizeof ledger_path, st.root, "ledger"));
    SISA_TRY(sisa_ledger_check(ledger_path, &ledger));
    for (uint32_t k = 0; k < S; k++) {
        SISA_TRY(shard_state(&st, k, &ss[k]));
        ready += ss[k].ready;
        rows += ss[k].rows;
    }
    const sisa_manifest *m = &st.man;
    if (json) {
        printf("{\"store\": ");
        sisa_json_string(stdout, st.root);
        printf(", \"config\": ");
        sisa_json_string(stdout, cfg_path);
        printf(", \"config_hash\": \"%s\", \"seed\": %llu, \"num_shards\": %u, \"slices\": %d, "
               "\"sharding\": \"%s\", \"dataset\": ",
               st.config_hash, (unsigned long long)cfg.seed, S, cfg.sisa.slices,
               sisa_sharding_name(cfg.sisa.sharding));
        sisa_json_string(stdout, m->dataset);
        printf(", \"dataset_digest\": \"%s\", \"dataset_digest_version\": %d, \"rows\": %llu, "
               "\"deletions\": %llu, \"deleted_rows\": %llu, \"context\": ",
               m->dataset_digest, m->digest_version, (unsigned long long)rows,
               (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows);
        sisa_json_string(stdout, m->context);
        printf(", \"context_matches\": %s, \"ledger_records\": %llu, \"ledger_head\": \"%s\", "
               "\"pending_request\": %llu, \"ready_shards\": %u, \"shards\": [",
               strcmp(m->context, st.context) == 0 ? "true" : "false",
               (unsigned long long)ledger.records, ledger.head,
               (unsigned long long)st.pending_request, ready);
        for (uint32_t k = 0; k < S; k++) {
            printf("%s{\"shard\": %u, \"rows\": %llu, \"stages_done\": %u, \"checkpoint\": ",
                   k ? ", " : "", k, (unsigned long long)ss[k].rows, ss[k].stages_done);
            if (ss[k].ready)
                sisa_json_string(stdout, ss[k].checkpoint);
            else
                printf("null");
            printf(", \"state\": ");
            sisa_json_string(stdout, ss[k].state);
            if (ss[k].problem[0]) {
                printf(", \"problem\": ");
                sisa_json_string(stdout, ss[k].problem);
            }
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("store %s (config %s, hash %.12s)\n", st.root, cfg_path, st.config_hash);
        printf("  seed %llu, %u shards x %d slices, sharding by %s, %llu rows\n",
               (unsigned long long)cfg.seed, S, cfg.sisa.slices,
               sisa_sharding_name(cfg.sisa.sharding), (unsigned long long)rows);
        printf("  dataset %s (digest v%d %.12s)\n", m->dataset, m->digest_version,
               m->dataset_digest);
        printf("  deletions: %llu request(s), %llu row(s); ledger: %llu record(s), head %.16s...\n",
               (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows,
               (unsigned long long)ledger.records, ledger.head);
        if (st.pending_request)
            printf("  deletion request %llu is unfinished: its shards are fenced\n",
                   (unsigned long long)st.pending_request);
        printf("  determinism context: %s%s\n", m->context,
               strcmp(m->context, st.context) == 0 ? ""
                                                   : "\n  (this process runs under another "
                                                     "context: its results would differ)");
        printf("  %u of %u shards ready\n\n  shard       rows  stages  checkpoint\n", ready, S);
        for (uint32_t k = 0; k < S; k++) {
            printf("  %5u %10llu  %3u/%-3d %s\n", k, (unsigned long long)ss[k].rows,
                   ss[k].stages_done, cfg.sisa.slices,
                   ss[k].ready ? ss[k].checkpoint : ss[k].state);
            if (ss[k].problem[0]) printf("        %s\n", ss[k].problem);
        }
    }
    /* The whole status is printed first; a damaged file then makes the exit status say so. */
    uint32_t damaged = 0, first = 0;
    for (uint32_t k = S; k-- > 0;)
        if (ss[k].problem[0]) damaged++, first = k;
    SISA_CHECK(damaged == 0, SISA_ECORRUPT, "%u shard%s with a damaged file; shard %u: %s", damaged,
               damaged > 1 ? "s" : "", first, ss[first].problem);
done:
    free(ss);
    sisa_store_close(&st);
    return err;
}
