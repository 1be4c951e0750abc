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
#include "shard/request.h"
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

/* What rank 0 does with the stream: each model's posteriors of a block of rows (in model
 * order), then the ensemble's. Either may be NULL. */
typedef struct ensemble ensemble;
typedef struct {
    int (*start)(void *ctx, const ensemble *e); /* models known, input open, before the rows */
    int (*model_rows)(void *ctx, uint32_t m, uint64_t r0, uint64_t nr, const float *proba);
    int (*ens_rows)(void *ctx, uint64_t r0, uint64_t nr, const float *proba, const int32_t *label);
    void *ctx;
} ensemble_sink;

struct ensemble {
    uint64_t n;
    uint32_t d, classes;
    const int32_t *y;    /* (n), rank 0: borrowed from the input stream */
    const uint64_t *id;  /* (n), rank 0: likewise */
    uint32_t n_models;   /* shards with a usable final model */
    model_ref *models;   /* (n_models), every rank */
    uint32_t n_excluded; /* rank 0 */
    uint32_t *excluded;
    const char **why;
    sisa_dataset_stream *input;
};

static void ensemble_free(ensemble *e)
{
    free(e->models);
    free(e->excluded);
    free(e->why);
    sisa_dataset_stream_close(e->input);
    memset(e, 0, sizeof *e);
}

/* Rank 0: which shards have a usable final model. */
static int find_models(const sisa_store *st, ensemble *e)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    char ledger[SISA_PATH_MAX];
    char(*expected)[65] = malloc(S * sizeof *expected);
    e->models = calloc(S, sizeof *e->models);
    e->excluded = calloc(S, sizeof *e->excluded);
    e->why = calloc(S, sizeof *e->why);
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
    free(expected);
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

/* Collective: read `input`, run every usable shard model over it (spread over the ranks), and
 * combine on rank 0 in shard order, chunk by chunk, into the sink. A rank that fails keeps
 * sending its items (flagged as failed, without payload work) so that nobody waits for it; the
 * ranks agree on the outcome at the end. */
static int run_ensemble(const sisa_store *st, const char *input, ensemble *e,
                        const ensemble_sink *sink)
{
    int err = SISA_OK, local = SISA_OK;
    sisa_dist *d = sisa_cli_dist();
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    sisa_dataset_header hdr;
    sisa_shard_model **loaded = NULL;
    float *x = NULL, *buf = NULL, *ens = NULL;
    int32_t *label = NULL;
    double *weights = NULL;
    sisa_combiner comb = {0};
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
    const uint32_t M = e->n_models;

    /* Every rank opens the input (reading only the chunks of its items) and loads its models. */
    err = sisa_dataset_stream_open(&e->input, input, &hdr);
    if (err == SISA_OK && hdr.d != st->man.features)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__,
                             "%s has %llu features per row but store %s was trained on %llu", input,
                             (unsigned long long)hdr.d, st->root,
                             (unsigned long long)st->man.features);
    if (err == SISA_OK && hdr.num_classes > st->man.classes)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__,
                             "%s declares %d classes but store %s was trained on %d", input,
                             hdr.num_classes, st->root, st->man.classes);
    e->n = err == SISA_OK ? hdr.n : 0;
    e->d = err == SISA_OK ? (uint32_t)hdr.d : 0;
    e->classes = (uint32_t)st->man.classes;
    const uint64_t chunks = (e->n + ENSEMBLE_CHUNK - 1) / ENSEMBLE_CHUNK;
    const size_t C = e->classes;
    if (err == SISA_OK) {
        loaded = calloc(M, sizeof *loaded);
        x = malloc((size_t)ENSEMBLE_CHUNK * e->d * sizeof *x);
        buf = malloc(((size_t)ENSEMBLE_CHUNK * C + 1) * sizeof *buf);
        if (!loaded || !x || !buf)
            err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
    }
    for (uint32_t m = 0; m < M && err == SISA_OK; m++) {
        int mine = 0;
        for (uint64_t c = 0; c < chunks && !mine; c++)
            mine = item_owner(c, m, M, (uint32_t)P) == (uint32_t)rank;
        if (!mine) continue;
        err = sisa_shard_model_load(&loaded[m], st, e->models[m].ckpt, e->d, e->classes);
        if (err < 0) sisa_error_prefix("shard %u", e->models[m].shard);
    }
    if (err == SISA_OK && rank == 0) {
        e->y = sisa_dataset_stream_y(e->input);
        e->id = sisa_dataset_stream_id(e->input);
        ens = malloc((size_t)ENSEMBLE_CHUNK * C * sizeof *ens);
        label = malloc((size_t)ENSEMBLE_CHUNK * sizeof *label);
        weights = malloc(M * sizeof *weights);
        if (!ens || !label || !weights)
            err = sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
        for (uint32_t m = 0; m < M && err == SISA_OK; m++) weights[m] = (double)e->models[m].rows;
        if (err == SISA_OK)
            err = sisa_combiner_init(&comb, st->cfg.aggregate.strategy, M, weights, e->classes,
                                     ENSEMBLE_CHUNK);
        if (err == SISA_OK && sink->start) err = sink->start(sink->ctx, e);
    }
    SISA_TRY(sisa_dist_agree(d, err));

    /* The stream. `local` is this rank's first failure; after it (or, on rank 0, after a rank
     * reported one) a rank only keeps the message flow going: flag 1 in an item means "no
     * result", and the failing rank's own message comes out of the final agreement. */
    int remote_failed = 0;
    for (uint64_t c = 0; c < chunks; c++) {
        const uint64_t r0 = c * ENSEMBLE_CHUNK;
        const uint64_t nr = e->n - r0 < ENSEMBLE_CHUNK ? e->n - r0 : ENSEMBLE_CHUNK;
        const size_t bytes = (nr * C + 1) * sizeof *buf;
        int have_x = 0;
        if (rank == 0 && local == SISA_OK) local = sisa_combiner_begin(&comb, nr);
        for (uint32_t m = 0; m < M; m++) {
            const uint32_t owner = item_owner(c, m, M, (uint32_t)P);
            if (owner != (uint32_t)rank && rank != 0) continue;
            if (owner == (uint32_t)rank) {
                if (local == SISA_OK && !have_x) {
                    local = sisa_dataset_stream_read_x(e->input, r0, nr, x);
                    have_x = local == SISA_OK;
                }
                if (local == SISA_OK) sisa_shard_model_predict(loaded[m], x, nr, buf);
                buf[nr * C] = local == SISA_OK ? 0.0f : 1.0f;
                if (rank != 0) {
                    SISA_TRY(sisa_dist_send(d, buf, bytes, 0, ENSEMBLE_TAG));
                    continue;
                }
            } else {
                SISA_TRY(sisa_dist_recv(d, buf, bytes, (int)owner, ENSEMBLE_TAG));
                remote_failed |= buf[nr * C] != 0.0f;
            }
            /* Rank 0: model m's posteriors of this chunk, in model order. */
            if (local == SISA_OK && !remote_failed) local = sisa_combiner_add(&comb, m, buf);
            if (local == SISA_OK && !remote_failed && sink->model_rows)
                local = sink->model_rows(sink->ctx, m, r0, nr, buf);
        }
        if (rank == 0 && local == SISA_OK && !remote_failed) {
            local = sisa_combiner_finish(&comb, ens, label);
            if (local == SISA_OK && sink->ens_rows)
                local = sink->ens_rows(sink->ctx, r0, nr, ens, label);
        }
    }
    SISA_TRY(sisa_dist_agree(d, local));
done:
    if (loaded)
        for (uint32_t m = 0; m < M; m++) sisa_shard_model_free(loaded[m]);
    free(loaded);
    sisa_combiner_free(&comb);
    free(weights);
    free(label);
    free(ens);
    free(buf);
    free(x);
    return err;
}

static void shards_used_text(const ensemble *e, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t m = 0; m < e->n_models && used + 12 < cap; m++)
        used += (size_t)snprintf(out + used, cap - used, "%s%u", m ? "," : "", e->models[m].shard);
}

/* `sisa predict`'s sink: the prediction file, written as the rows stream in. */
typedef struct {
    const char *output;
    int force, per_shard;
    const sisa_store *st;
    sisa_pred_writer *w;
    uint32_t *shard_ids;
} predict_out;

static int predict_start(void *ctx, const ensemble *e)
{
    int err = SISA_OK;
    predict_out *po = ctx;
    char used[4096];
    shards_used_text(e, used, sizeof used);
    po->shard_ids = malloc(e->n_models * sizeof *po->shard_ids);
    SISA_CHECK(po->shard_ids, SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < e->n_models; m++) po->shard_ids[m] = e->models[m].shard;
    sisa_pred_file pf = {
        .n = e->n,
        .classes = e->classes,
        .id = e->id,
        .strategy = sisa_strategy_name(po->st->cfg.aggregate.strategy),
        .config_hash = po->st->config_hash,
        .shards_used = used,
        .n_shards = po->per_shard ? e->n_models : 0,
        .shard_ids = po->shard_ids,
    };
    SISA_TRY(sisa_pred_open(&po->w, po->output, &pf, po->force));
done:
    return err;
}

static int predict_model_rows(void *ctx, uint32_t m, uint64_t r0, uint64_t nr, const float *proba)
{
    predict_out *po = ctx;
    return po->per_shard ? sisa_pred_write_shard_rows(po->w, m, r0, nr, proba) : SISA_OK;
}

static int predict_ens_rows(void *ctx, uint64_t r0, uint64_t nr, const float *proba,
                            const int32_t *label)
{
    predict_out *po = ctx;
    return sisa_pred_write_rows(po->w, r0, nr, proba, label);
}

int sisa_cmd_predict(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL, *output = NULL;
    int per_shard = 0, force = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    ensemble e = {0};
    predict_out po = {0};
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
    po.output = output;
    po.force = force;
    po.per_shard = per_shard;
    po.st = &st;
    const ensemble_sink sink = {predict_start, predict_model_rows, predict_ens_rows, &po};
    SISA_TRY(run_ensemble(&st, input, &e, &sink));
    if (sisa_cli_not_root()) goto done;
    err = sisa_pred_commit(po.w);
    po.w = NULL;
    SISA_TRY(err);
    sisa_debug("predict: peak memory %.1f MB on rank 0", (double)sisa_cli_peak_rss() / 1e6);
    printf("predicted %llu rows with %u of %d shard models (strategy %s) -> %s\n",
           (unsigned long long)e.n, e.n_models, cfg.sisa.shards,
           sisa_strategy_name(cfg.aggregate.strategy), output);
done:
    sisa_pred_discard(po.w);
    free(po.shard_ids);
    ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}

/* `sisa eval`'s sink: hits of the ensemble and of every model, counted as the rows stream in. */
typedef struct {
    const int32_t *y;
    uint32_t classes;
    uint64_t ens_hits;
    uint64_t *hits; /* (models) */
} eval_counts;

static int eval_start(void *ctx, const ensemble *e)
{
    eval_counts *ec = ctx;
    ec->y = e->y;
    ec->classes = e->classes;
    ec->hits = calloc(e->n_models ? e->n_models : 1, sizeof *ec->hits);
    return ec->hits ? SISA_OK : sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
}

static int eval_model_rows(void *ctx, uint32_t m, uint64_t r0, uint64_t nr, const float *proba)
{
    eval_counts *ec = ctx;
    const uint32_t C = ec->classes;
    for (uint64_t i = 0; i < nr; i++)
        ec->hits[m] += (int32_t)sisa_argmax(proba + i * C, C) == ec->y[r0 + i];
    return SISA_OK;
}

static int eval_ens_rows(void *ctx, uint64_t r0, uint64_t nr, const float *proba,
                         const int32_t *label)
{
    eval_counts *ec = ctx;
    (void)proba;
    for (uint64_t i = 0; i < nr; i++) ec->ens_hits += label[i] == ec->y[r0 + i];
    return SISA_OK;
}

int sisa_cmd_eval(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL;
    int json = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    ensemble e = {0};
    eval_counts ec = {0};
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
    const ensemble_sink sink = {eval_start, eval_model_rows, eval_ens_rows, &ec};
    SISA_TRY(run_ensemble(&st, input, &e, &sink));
    if (sisa_cli_not_root()) goto done;
    double acc = e.n ? (double)ec.ens_hits / (double)e.n : 0.0;
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
        double a = e.n ? (double)ec.hits[m] / (double)e.n : 0.0;
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
    free(ec.hits);
    ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}
