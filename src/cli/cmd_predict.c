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
#include "shard/schedule.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t shard;
    uint64_t rows; /* its training rows (the weight of strategy: weighted) */
    char ckpt[SISA_PATH_MAX];
} model_ref;

typedef struct {
    uint64_t n;
    uint32_t d, classes;
    int32_t *y;          /* (n), rank 0 */
    uint64_t *id;        /* (n), rank 0 */
    uint32_t n_models;   /* shards with a usable final model */
    model_ref *models;   /* (n_models), every rank */
    float **proba;       /* (n_models) arrays (n, classes), rank 0 */
    float *ens;          /* (n, classes), rank 0 */
    int32_t *label;      /* (n), rank 0 */
    uint32_t n_excluded; /* rank 0 */
    uint32_t *excluded;
    const char **why;
} ensemble;

static void ensemble_free(ensemble *e)
{
    if (e->proba)
        for (uint32_t k = 0; k < e->n_models; k++) free(e->proba[k]);
    free(e->proba);
    free(e->y);
    free(e->id);
    free(e->models);
    free(e->ens);
    free(e->label);
    free(e->excluded);
    free(e->why);
}

/* Rank 0: which shards have a usable final model. */
static int find_models(const sisa_store *st, ensemble *e)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    e->models = calloc(S, sizeof *e->models);
    e->excluded = calloc(S, sizeof *e->excluded);
    e->why = calloc(S, sizeof *e->why);
    SISA_CHECK(e->models && e->excluded && e->why, SISA_ENOMEM, "out of memory");
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
        m->shard = k;
        m->rows = rows;
        e->n_models++;
    }
    SISA_CHECK(e->n_models > 0, SISA_EUSAGE,
               "store %s has no shard with a trained model (run sisa train)", st->root);
done:
    return err;
}

/* Prediction work: every model over every row, cut into items of whole 256-row blocks so that
 * spare ranks (P > models) share rows; item i covers model i / chunks, rows of chunk i % chunks. */
typedef struct {
    uint32_t chunks;     /* chunks of rows per model */
    uint64_t chunk_rows; /* rows per chunk (a multiple of SISA_PREDICT_BLOCK) */
    uint32_t items;
    uint32_t *owner;
} work_plan;

static int plan_work(work_plan *w, uint64_t n, uint32_t models, uint32_t ranks)
{
    uint64_t blocks = (n + SISA_PREDICT_BLOCK - 1) / SISA_PREDICT_BLOCK;
    uint64_t chunks = ranks > models ? (ranks + models - 1) / models : 1;
    if (chunks > blocks) chunks = blocks ? blocks : 1;
    uint64_t per = (blocks + chunks - 1) / chunks;
    w->chunk_rows = per * SISA_PREDICT_BLOCK;
    w->chunks = (uint32_t)((blocks + per - 1) / per);
    if (!w->chunks) w->chunks = 1;
    w->items = models * w->chunks;
    uint64_t *cost = malloc(w->items * sizeof *cost);
    w->owner = malloc(w->items * sizeof *w->owner);
    if (!cost || !w->owner) {
        free(cost);
        return sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    for (uint32_t i = 0; i < w->items; i++) {
        uint64_t r0 = (i % w->chunks) * w->chunk_rows;
        cost[i] = n - r0 < w->chunk_rows ? n - r0 : w->chunk_rows;
    }
    int rc = sisa_schedule_lpt(cost, w->items, ranks, w->owner);
    free(cost);
    return rc == 0 ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
}

/* Collective: read `input`, run every usable shard model over it (spread over the ranks), and
 * aggregate on rank 0 in shard order. */
static int run_ensemble(const sisa_store *st, const char *input, ensemble *e)
{
    int err = SISA_OK;
    sisa_dist *d = sisa_cli_dist();
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    work_plan w = {0};
    float **out = NULL, *x = NULL;
    double *weights = NULL;
    memset(e, 0, sizeof *e);

    if (rank == 0) err = find_models(st, e);
    SISA_TRY(sisa_dist_agree(d, err));
    uint64_t m64 = e->n_models;
    SISA_TRY(sisa_dist_bcast(d, &m64, sizeof m64, 0));
    if (rank != 0) {
        e->n_models = (uint32_t)m64;
        e->models = calloc(m64, sizeof *e->models);
        err =
            e->models ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, e->models, m64 * sizeof *e->models, 0));

    /* Every rank opens the input (reading only the rows of its work) and plans the same work. */
    err = sisa_dataset_stream_open(&ds, input, &hdr);
    if (err == SISA_OK && hdr.d != st->man.features)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__,
                             "%s has %llu features per row but store %s was trained on %llu", input,
                             (unsigned long long)hdr.d, st->root,
                             (unsigned long long)st->man.features);
    if (err == SISA_OK && hdr.num_classes > st->man.classes)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__,
                             "%s declares %d classes but store %s was trained on %d", input,
                             hdr.num_classes, st->root, st->man.classes);
    if (err == SISA_OK) err = plan_work(&w, hdr.n, e->n_models, (uint32_t)P);
    SISA_TRY(sisa_dist_agree(d, err));
    e->n = hdr.n;
    e->d = (uint32_t)hdr.d;
    e->classes = (uint32_t)st->man.classes;

    /* This rank's items. */
    const size_t row_floats = e->classes;
    out = calloc(w.items, sizeof *out);
    x = malloc(w.chunk_rows * e->d * sizeof *x);
    err = out && x ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    uint64_t x_from = UINT64_MAX; /* rows currently in x (items of one chunk share them) */
    for (uint32_t i = 0; i < w.items && err == SISA_OK; i++) {
        if (w.owner[i] != (uint32_t)rank) continue;
        const model_ref *m = &e->models[i / w.chunks];
        uint64_t r0 = (i % w.chunks) * w.chunk_rows;
        uint64_t nr = e->n - r0 < w.chunk_rows ? e->n - r0 : w.chunk_rows;
        out[i] = malloc(nr * row_floats * sizeof *out[i]);
        if (!out[i]) {
            err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
            break;
        }
        if (x_from != r0) {
            err = sisa_dataset_stream_read_x(ds, r0, nr, x);
            if (err < 0) break;
            x_from = r0;
        }
        err = sisa_shard_predict(st, m->ckpt, x, nr, e->d, e->classes, out[i]);
        if (err < 0) sisa_error_prefix("shard %u", m->shard);
    }
    SISA_TRY(sisa_dist_agree(d, err));

    /* Posteriors to rank 0, placed by item, never by arrival. */
    if (rank == 0) {
        e->proba = calloc(e->n_models, sizeof *e->proba);
        err = e->proba ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
        for (uint32_t m = 0; m < e->n_models && err == SISA_OK; m++) {
            e->proba[m] = malloc(e->n * row_floats * sizeof *e->proba[m]);
            if (!e->proba[m])
                err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
        }
    }
    SISA_TRY(sisa_dist_agree(d, err));
    for (uint32_t i = 0; i < w.items; i++) {
        uint64_t r0 = (i % w.chunks) * w.chunk_rows;
        uint64_t nr = e->n - r0 < w.chunk_rows ? e->n - r0 : w.chunk_rows;
        size_t bytes = nr * row_floats * sizeof(float);
        if (rank == 0) {
            float *dst = e->proba[i / w.chunks] + r0 * row_floats;
            if (w.owner[i] == 0)
                memcpy(dst, out[i], bytes);
            else
                SISA_TRY(sisa_dist_recv(d, dst, bytes, (int)w.owner[i], (int)i));
        } else if (w.owner[i] == (uint32_t)rank) {
            SISA_TRY(sisa_dist_send(d, out[i], bytes, 0, (int)i));
        }
    }

    if (rank == 0) {
        e->y = malloc(e->n * sizeof *e->y);
        e->id = malloc(e->n * sizeof *e->id);
        e->ens = malloc(e->n * row_floats * sizeof *e->ens);
        e->label = malloc(e->n * sizeof *e->label);
        weights = malloc(e->n_models * sizeof *weights);
        SISA_CHECK(e->y && e->id && e->ens && e->label && weights, SISA_ENOMEM,
                   "out of memory for %llu rows of %s", (unsigned long long)e->n, input);
        memcpy(e->y, sisa_dataset_stream_y(ds), e->n * sizeof *e->y);
        memcpy(e->id, sisa_dataset_stream_id(ds), e->n * sizeof *e->id);
        for (uint32_t m = 0; m < e->n_models; m++) weights[m] = (double)e->models[m].rows;
        SISA_TRY(sisa_aggregate(st->cfg.aggregate.strategy, e->n_models,
                                (const float *const *)e->proba, weights, e->n, e->classes, e->ens,
                                e->label));
    }
done:
    if (out)
        for (uint32_t i = 0; i < w.items; i++) free(out[i]);
    free(out);
    free(x);
    free(w.owner);
    free(weights);
    sisa_dataset_stream_close(ds);
    return err;
}

static void shards_used_text(const ensemble *e, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t m = 0; m < e->n_models && used + 12 < cap; m++)
        used += (size_t)snprintf(out + used, cap - used, "%s%u", m ? "," : "", e->models[m].shard);
}

int sisa_cmd_predict(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL, *output = NULL;
    int per_shard = 0, force = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    ensemble e = {0};
    uint32_t *shard_ids = NULL;
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
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_READ, NULL));
    SISA_TRY(run_ensemble(&st, input, &e));
    if (sisa_cli_not_root()) goto done;
    char used[4096];
    shards_used_text(&e, used, sizeof used);
    shard_ids = malloc(e.n_models * sizeof *shard_ids);
    SISA_CHECK(shard_ids, SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < e.n_models; m++) shard_ids[m] = e.models[m].shard;
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
        .shard_ids = shard_ids,
    };
    SISA_TRY(sisa_pred_write(output, &pf, force));
    printf("predicted %llu rows with %u of %d shard models (strategy %s) -> %s\n",
           (unsigned long long)e.n, e.n_models, cfg.sisa.shards,
           sisa_strategy_name(cfg.aggregate.strategy), output);
done:
    free(shard_ids);
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
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_READ, NULL));
    if (!input) {
        SISA_CHECK(cfg.data.test[0], SISA_EUSAGE,
                   "sisa eval: %s has no data.test; pass the test set with -i TEST.h5", cfg_path);
        input = cfg.data.test;
    }
    SISA_TRY(run_ensemble(&st, input, &e));
    if (sisa_cli_not_root()) goto done;
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
            printf("%s{\"shard\": %u, \"rows\": %llu, \"accuracy\": ", m ? ", " : "",
                   e.models[m].shard, (unsigned long long)e.models[m].rows);
            sisa_json_number(stdout, a);
            printf("}");
        } else {
            printf("  %5u   %10llu   %.4f\n", e.models[m].shard,
                   (unsigned long long)e.models[m].rows, a);
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
