/*
 * cmd_predict.c - `sisa predict` (posteriors and labels for a dataset file) and `sisa eval`
 * (accuracy of the ensemble and of each shard on a labelled dataset).
 *
 * Both run every shard's final model over the input and aggregate in shard order. A shard
 * without a usable final model (no rows left, or retraining not finished after a deletion) is
 * left out of the ensemble, and the command says so; a model whose lineage does not match its
 * shard's current rows is never used.
 */
#include "cli/args.h"
#include "cli/common.h"
#include "cli/commands.h"
#include "cli/json.h"

#include "aggregate/aggregate.h"
#include "base/log.h"
#include "io/dsstream.h"
#include "io/store_io.h"
#include "model/model.h"
#include "shard/predict.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t n;
    uint32_t d, classes;
    float *X;
    int32_t *y;
    uint64_t *id;
    uint32_t n_models;  /* shards with a usable final model */
    uint32_t *shard_id; /* (n_models) */
    uint64_t *rows;     /* (n_models) training rows of each */
    float **proba;      /* (n_models) arrays (n, classes) */
    float *ens;         /* (n, classes) */
    int32_t *label;     /* (n) */
    uint32_t n_excluded;
    uint32_t *excluded;
    const char **why;
} ensemble;

static void ensemble_free(ensemble *e)
{
    if (e->proba)
        for (uint32_t k = 0; k < e->n_models; k++) free(e->proba[k]);
    free(e->proba);
    free(e->X);
    free(e->y);
    free(e->id);
    free(e->shard_id);
    free(e->rows);
    free(e->ens);
    free(e->label);
    free(e->excluded);
    free(e->why);
}

/* Read `input`, run every usable shard model over it and aggregate. */
static int run_ensemble(const sisa_store *st, const char *input, ensemble *e)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    sisa_shard_data *idx = NULL;
    double *weights = NULL;
    char path[SISA_PATH_MAX];
    memset(e, 0, sizeof *e);

    SISA_TRY(sisa_dataset_stream_open(&ds, input, &hdr));
    SISA_CHECK(hdr.d == st->man.features, SISA_ECORRUPT,
               "%s has %llu features per row but store %s was trained on %llu", input,
               (unsigned long long)hdr.d, st->root, (unsigned long long)st->man.features);
    SISA_CHECK(hdr.num_classes <= st->man.classes, SISA_ECORRUPT,
               "%s declares %d classes but store %s was trained on %d", input, hdr.num_classes,
               st->root, st->man.classes);
    e->n = hdr.n;
    e->d = (uint32_t)hdr.d;
    e->classes = (uint32_t)st->man.classes;
    e->X = malloc(hdr.n * hdr.d * sizeof *e->X);
    e->y = malloc(hdr.n * sizeof *e->y);
    e->id = malloc(hdr.n * sizeof *e->id);
    e->shard_id = calloc(S, sizeof *e->shard_id);
    e->rows = calloc(S, sizeof *e->rows);
    e->proba = calloc(S, sizeof *e->proba);
    e->excluded = calloc(S, sizeof *e->excluded);
    e->why = calloc(S, sizeof *e->why);
    e->ens = malloc(hdr.n * e->classes * sizeof *e->ens);
    e->label = malloc(hdr.n * sizeof *e->label);
    weights = calloc(S, sizeof *weights);
    SISA_CHECK(e->X && e->y && e->id && e->shard_id && e->rows && e->proba && e->excluded &&
                   e->why && e->ens && e->label && weights,
               SISA_ENOMEM, "out of memory for %llu rows of %s", (unsigned long long)hdr.n, input);
    SISA_TRY(sisa_dataset_stream_read_x(ds, 0, hdr.n, e->X));
    memcpy(e->y, sisa_dataset_stream_y(ds), hdr.n * sizeof *e->y);
    memcpy(e->id, sisa_dataset_stream_id(ds), hdr.n * sizeof *e->id);

    for (uint32_t k = 0; k < S; k++) {
        sisa_ckpt_meta meta;
        const char *why = NULL;
        int usable = sisa_shard_final_ckpt(st, k, path, sizeof path, &meta, &why);
        SISA_TRY(usable);
        if (!usable) {
            e->excluded[e->n_excluded] = k;
            e->why[e->n_excluded++] = why;
            sisa_warn("shard %u is left out of the ensemble: %s", k, why);
            continue;
        }
        uint32_t m = e->n_models;
        e->proba[m] = malloc(hdr.n * e->classes * sizeof *e->proba[m]);
        SISA_CHECK(e->proba[m], SISA_ENOMEM, "out of memory");
        SISA_TRY(sisa_shard_predict(st, path, e->X, e->n, e->d, e->classes, e->proba[m]));
        char data[SISA_PATH_MAX];
        SISA_TRY(sisa_store_data_path(st, k, data, sizeof data));
        SISA_TRY(sisa_shard_data_read_index(&idx, data));
        e->rows[m] = idx->n;
        weights[m] = (double)idx->n;
        sisa_shard_data_free(idx);
        idx = NULL;
        e->shard_id[m] = k;
        e->n_models++;
    }
    SISA_CHECK(e->n_models > 0, SISA_EUSAGE,
               "store %s has no shard with a trained model (run sisa train)", st->root);
    SISA_TRY(sisa_aggregate(st->cfg.aggregate.strategy, e->n_models, (const float *const *)e->proba,
                            weights, e->n, e->classes, e->ens, e->label));
done:
    free(weights);
    sisa_shard_data_free(idx);
    sisa_dataset_stream_close(ds);
    return err;
}

static void shards_used_text(const ensemble *e, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t m = 0; m < e->n_models && used + 12 < cap; m++)
        used += (size_t)snprintf(out + used, cap - used, "%s%u", m ? "," : "", e->shard_id[m]);
}

int sisa_cmd_predict(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL, *output = NULL;
    int per_shard = 0, force = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    ensemble e = {0};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"input", 'i', SISA_ARG_STRING, &input, "IN.h5", "a sisa dataset file to predict", 1},
        {"output", 'o', SISA_ARG_STRING, &output, "OUT.h5", "the prediction file to write", 1},
        {"per-shard", 0, SISA_ARG_FLAG, &per_shard, NULL,
         "also write each shard's posteriors (/shards/KKKK)", 0},
        {"force", 0, SISA_ARG_FLAG, &force, NULL, "replace OUT.h5 if it exists", 0},
    };
    const sisa_command_spec spec = {
        .name = "predict",
        .usage = "predict -c CONFIG -i IN.h5 -o OUT.h5 [--per-shard] [--force]",
        .summary = "Predict with the ensemble of shard models; write posteriors and labels.",
        .description = "OUT.h5 holds proba (float32 [n, C]), label (int32 [n]) and id (uint64 "
                       "[n]); see docs/formats.md.\nThe aggregation strategy is the config's "
                       "aggregate.strategy.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_READ));
    SISA_TRY(run_ensemble(&st, input, &e));
    char used[4096];
    shards_used_text(&e, used, sizeof used);
    sisa_pred_file pf = {
        .n = e.n,
        .classes = e.classes,
        .proba = e.ens,
        .label = e.label,
        .id = e.id,
        .strategy = sisa_strategy_name(cfg.aggregate.strategy),
        .config_hash = st.config_hash,
        .shards_used = used,
        .n_shards = per_shard ? e.n_models : 0,
        .shard_proba = (const float *const *)e.proba,
        .shard_ids = e.shard_id,
    };
    SISA_TRY(sisa_pred_write(output, &pf, force));
    printf("predicted %llu rows with %u of %d shard models (strategy %s) -> %s\n",
           (unsigned long long)e.n, e.n_models, cfg.sisa.shards,
           sisa_strategy_name(cfg.aggregate.strategy), output);
done:
    ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}

static double accuracy_of(const int32_t *label, const int32_t *y, uint64_t n)
{
    uint64_t hit = 0;
    for (uint64_t i = 0; i < n; i++) hit += label[i] == y[i];
    return n ? (double)hit / (double)n : 0.0;
}

int sisa_cmd_eval(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL;
    int json = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    ensemble e = {0};
    int32_t *shard_label = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"input", 'i', SISA_ARG_STRING, &input, "TEST.h5",
         "labelled dataset to evaluate on (default: the config's data.test)", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the result as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "eval",
        .usage = "eval -c CONFIG [-i TEST.h5] [--json]",
        .summary = "Accuracy of the ensemble and of every shard model on a labelled dataset.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_READ));
    if (!input) {
        SISA_CHECK(cfg.data.test[0], SISA_EUSAGE,
                   "sisa eval: %s has no data.test; pass the test set with -i TEST.h5", cfg_path);
        input = cfg.data.test;
    }
    SISA_TRY(run_ensemble(&st, input, &e));
    shard_label = malloc(e.n * sizeof *shard_label);
    SISA_CHECK(shard_label, SISA_ENOMEM, "out of memory");
    double acc = accuracy_of(e.label, e.y, e.n);
    const char *strategy = sisa_strategy_name(cfg.aggregate.strategy);
    if (json) {
        printf("{\"accuracy\": ");
        sisa_json_number(stdout, acc);
        printf(", \"strategy\": \"%s\", \"rows\": %llu, \"input\": ", strategy,
               (unsigned long long)e.n);
        sisa_json_string(stdout, input);
        printf(", \"shards_used\": %u, \"shards\": [", e.n_models);
    } else {
        printf("accuracy %.4f on %llu rows of %s (strategy %s, %u of %d shards)\n", acc,
               (unsigned long long)e.n, input, strategy, e.n_models, cfg.sisa.shards);
        printf("  shard   train rows   accuracy\n");
    }
    for (uint32_t m = 0; m < e.n_models; m++) {
        for (uint64_t i = 0; i < e.n; i++)
            shard_label[i] = (int32_t)sisa_argmax(e.proba[m] + i * e.classes, e.classes);
        double a = accuracy_of(shard_label, e.y, e.n);
        if (json) {
            printf("%s{\"shard\": %u, \"rows\": %llu, \"accuracy\": ", m ? ", " : "", e.shard_id[m],
                   (unsigned long long)e.rows[m]);
            sisa_json_number(stdout, a);
            printf("}");
        } else {
            printf("  %5u   %10llu   %.4f\n", e.shard_id[m], (unsigned long long)e.rows[m], a);
        }
    }
    if (json) {
        printf("], \"excluded\": [");
        for (uint32_t x = 0; x < e.n_excluded; x++) {
            printf("%s{\"shard\": %u, \"reason\": ", x ? ", " : "", e.excluded[x]);
            sisa_json_string(stdout, e.why[x]);
            printf("}");
        }
        printf("]}\n");
    } else {
        for (uint32_t x = 0; x < e.n_excluded; x++)
            printf("  %5u   left out: %s\n", e.excluded[x], e.why[x]);
    }
done:
    free(shard_label);
    ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}
