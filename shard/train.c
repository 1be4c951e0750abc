/*
 * train.c - staged, checkpointed, resumable training of one shard (see train.h).
 *
 * The invariant that makes unlearning exact: a checkpoint of stage r is valid for a shard if and
 * only if its lineage equals the hash of the IDs of the shard's current rows in slices 0..r-1.
 * Training always resumes from the newest valid checkpoint, and the work after it is a pure
 * function of that checkpoint and those rows. After a deletion, checkpoints whose stage saw a
 * deleted row no longer match and are removed; the stages before them still match and are
 * reused. The same code therefore serves first training, resume after a crash, and retraining
 * after a deletion.
 */
#include "shard/train.h"

#include "base/json.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/strutil.h"
#include "base/sha256.h"
#include "model/model.h"
#include "shard/journal.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t sisa_stage_visits(uint64_t rows, uint32_t epochs, uint32_t slices)
{
    uint64_t den = (uint64_t)slices + 1;
    return (2 * (uint64_t)epochs * rows + den / 2) / den;
}

int sisa_shard_lineages(const sisa_shard_data *idx, uint32_t stages, char (*out)[65])
{
    /* Stage r's IDs are those of stage r-1 plus slice r-1's: hash each stage from scratch (the
     * IDs must be in ascending order within each stage), reading the ID column once per stage. */
    for (uint32_t r = 1; r <= stages; r++) {
        sisa_sha256_ctx h;
        sisa_sha256_init(&h);
        sisa_sha256_update(&h, "sisa-lineage-v1", 15);
        for (uint64_t i = 0; i < idx->n; i++)
            if ((uint32_t)idx->slice[i] < r) sisa_sha256_update(&h, &idx->id[i], sizeof(uint64_t));
        uint8_t d[SISA_SHA256_LEN];
        sisa_sha256_final(&h, d);
        sisa_hex(out[r - 1], d, SISA_SHA256_LEN);
    }
    return SISA_OK;
}

static uint64_t stage_rows(const sisa_shard_data *idx, uint32_t r)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < idx->n; i++) n += (uint32_t)idx->slice[i] < r;
    return n;
}

uint64_t sisa_shard_visits(const sisa_shard_data *idx, uint32_t epochs, uint32_t stages,
                           uint32_t first)
{
    uint64_t total = 0;
    for (uint32_t r = first ? first : 1; r <= stages; r++)
        total += sisa_stage_visits(stage_rows(idx, r), epochs, stages);
    return total;
}

static void describe_model(const sisa_config *cfg, const sisa_model_spec *ms, char *out, size_t cap)
{
    if (ms->type == SISA_MODEL_KNN) {
        snprintf(out, cap, "knn %u-%u k=%d %s", ms->d, ms->classes, (int)cfg->model.k,
                 sisa_metric_name(cfg->model.metric));
        return;
    }
    int n;
    if (ms->type == SISA_MODEL_CNN) {
        /* "cnn 1x28x28 conv3x3 32-64 pool2 dense 3136-128-10 relu" */
        n = snprintf(out, cap, "cnn %ux%ux%u conv%ux%u", ms->in_c, ms->in_h, ms->in_w, ms->kernel,
                     ms->kernel);
        uint32_t h = ms->in_h, w = ms->in_w, c = ms->in_c;
        for (int i = 0; i < ms->n_conv && n > 0 && (size_t)n < cap; i++) {
            n += snprintf(out + n, cap - (size_t)n, "%c%d", i ? '-' : ' ', ms->conv[i]);
            c = (uint32_t)ms->conv[i];
            h /= ms->pool ? ms->pool : 1;
            w /= ms->pool ? ms->pool : 1;
        }
        if (n > 0 && (size_t)n < cap)
            n += snprintf(out + n, cap - (size_t)n, " pool%u dense %u", ms->pool, h * w * c);
    } else {
        n = snprintf(out, cap, "%s %u", ms->type == SISA_MODEL_MLP ? "mlp" : "logreg", ms->d);
    }
    for (int i = 0; i < ms->n_hidden && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "-%d", ms->hidden[i]);
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "-%u%s", ms->classes,
                 ms->type != SISA_MODEL_LOGREG ? " relu" : "");
}

static void describe_optim(const sisa_optim_spec *os, char *out, size_t cap)
{
    int n;
    if (os->kind == SISA_OPT_ADAM)
        n = snprintf(out, cap, "adam lr=%.9g beta1=%.9g beta2=%.9g eps=%.9g weight_decay=%.9g",
                     (double)os->lr, (double)os->beta1, (double)os->beta2, (double)os->eps,
                     (double)os->weight_decay);
    else
        n = snprintf(out, cap, "sgd lr=%.9g momentum=%.9g nesterov=%d weight_decay=%.9g",
                     (double)os->lr, (double)os->momentum, os->nesterov, (double)os->weight_decay);
    if (n <= 0 || (size_t)n >= cap) return;
    if (os->schedule == SISA_SCHED_COSINE)
        snprintf(out + n, cap - (size_t)n, " schedule=cosine final_lr_fraction=%.9g",
                 (double)os->final_lr_fraction);
    else
        snprintf(out + n, cap - (size_t)n, " schedule=constant");
}

/* Tensors of a model as arrays for the checkpoint layer. */
typedef struct {
    sisa_tensor *params, *state;
    int n_params, n_state;
} tensor_views;

static int views_of(sisa_model *m, tensor_views *v)
{
    v->n_params = sisa_model_param_count(m);
    v->n_state = sisa_model_state_count(m);
    v->params = sisa_malloc((size_t)(v->n_params ? v->n_params : 1) * sizeof *v->params);
    v->state = sisa_malloc((size_t)(v->n_state ? v->n_state : 1) * sizeof *v->state);
    if (!v->params || !v->state) return SISA_ERR(SISA_ENOMEM, "out of memory");
    for (int i = 0; i < v->n_params; i++) v->params[i] = *sisa_model_param(m, i);
    for (int i = 0; i < v->n_state; i++) v->state[i] = *sisa_model_state(m, i);
    return SISA_OK;
}

static void views_free(tensor_views *v)
{
    sisa_free(v->params);
    sisa_free(v->state);
}

/* Remove every committed checkpoint of a shard from stage `from` to `to` (inclusive). */
static int remove_ckpts(sisa_files *f, uint32_t from, uint32_t to, uint32_t *removed)
{
    int err = SISA_OK;
    char name[32];
    for (uint32_t r = from; r <= to; r++) {
        sisa_ckpt_name(name, sizeof name, r);
        if (!sisa_files_has(f, name)) continue;
        SISA_TRY(sisa_files_remove(f, name));
        if (removed) (*removed)++;
    }
done:
    return err;
}

/* Newest checkpoint of shard k whose bytes match the journal and whose lineage matches the
 * shard's rows, with every checkpoint below it intact too; damaged ones and stale ones above it
 * are removed (they are retrained). */
static int find_resume_point(const sisa_store *st, sisa_files *f, uint32_t k, char (*lineage)[65],
                             uint32_t *stage_out, uint32_t *removed)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    char path[SISA_PATH_MAX], name[32];
    uint32_t top = R;
again:
    *stage_out = 0;
    for (uint32_t r = top; r >= 1; r--) {
        sisa_ckpt_name(name, sizeof name, r);
        if (!sisa_files_has(f, name)) continue;
        if (sisa_files_verify(f, name) < 0) {
            sisa_warn("shard %u: %s; removing it to train it again", k, sisa_error_message());
            sisa_error_clear();
            SISA_TRY(sisa_files_remove(f, name));
            (*removed)++;
            continue;
        }
        SISA_TRY(sisa_store_ckpt_path(st, k, r, path, sizeof path));
        sisa_ckpt_meta meta;
        SISA_TRY(sisa_ckpt_read_meta(&meta, path));
        SISA_CHECK(meta.shard == k && meta.stage == r && meta.stages == R, SISA_ECORRUPT,
                   "%s: checkpoint of shard %u stage %u/%u found where shard %u stage %u/%u "
                   "belongs",
                   path, meta.shard, meta.stage, meta.stages, k, r, R);
        SISA_CHECK(strcmp(meta.config_hash, st->config_hash) == 0, SISA_ECORRUPT,
                   "%s: written under config hash %.12s, the store's is %.12s", path,
                   meta.config_hash, st->config_hash);
        SISA_CHECK(strcmp(meta.context, st->context) == 0, SISA_EUSAGE,
                   "%s was written under another determinism context (%s); this process runs "
                   "under %s",
                   path, meta.context, st->context);
        if (strcmp(meta.lineage, lineage[r - 1]) == 0) {
            *stage_out = r;
            break;
        }
        /* Trained on rows that are no longer in the shard: never use or keep it. */
        SISA_TRY(sisa_files_remove(f, name));
        (*removed)++;
        sisa_debug("shard %u: removed stale checkpoint %s", k, path);
    }
    /* Later deletions resume from the checkpoints below: a damaged or missing one is trained
     * again, and so is every stage after it (to the same bits: each stage is a function of
     * the one before). */
    for (uint32_t r = 1; r < *stage_out; r++) {
        sisa_ckpt_name(name, sizeof name, r);
        if (sisa_files_has(f, name) && sisa_files_verify(f, name) == SISA_OK) continue;
        if (sisa_files_has(f, name))
            sisa_warn("shard %u: %s; removing it to train it again, with the stages after it", k,
                      sisa_error_message());
        else
            sisa_warn("shard %u: %s is missing; training it again, with the stages after it", k,
                      name);
        sisa_error_clear();
        SISA_TRY(remove_ckpts(f, r, R, removed));
        top = r - 1;
        goto again;
    }
done:
    return err;
}

int sisa_shard_files(const sisa_store *st, uint32_t k, sisa_files *out, int writable)
{
    int err = SISA_OK;
    char dir[SISA_PATH_MAX];
    SISA_TRY(sisa_store_shard_dir(st, k, dir, sizeof dir));
    SISA_TRY(sisa_files_open(out, dir, "journal", writable));
    if (writable) SISA_TRY(sisa_files_repair(out, NULL));
done:
    return err;
}

/* The summary of a shard's rows, as the text of a JSON object (see train.h). */
static int summary_json(const sisa_shard_data *sd, uint32_t R, sisa_jw *w)
{
    int err = SISA_OK;
    char(*lineage)[65] = sisa_malloc(R * sizeof *lineage);
    uint64_t *counts = sisa_calloc(R, sizeof *counts);
    SISA_CHECK(lineage && counts, SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < sd->n; i++)
        if ((uint32_t)sd->slice[i] < R) counts[sd->slice[i]]++;
    SISA_TRY(sisa_shard_lineages(sd, R, lineage));
    sisa_jw_raw(w, "{");
    sisa_jw_key(w, "rows", 1);
    sisa_jw_u64(w, sd->n);
    sisa_jw_key(w, "slice_rows", 0);
    sisa_jw_raw(w, "[");
    for (uint32_t r = 0; r < R; r++) {
        if (r) sisa_jw_raw(w, ", ");
        sisa_jw_u64(w, counts[r]);
    }
    sisa_jw_raw(w, "]");
    sisa_jw_key(w, "lineages", 0);
    sisa_jw_raw(w, "[");
    for (uint32_t r = 0; r < R; r++) {
        if (r) sisa_jw_raw(w, ", ");
        sisa_jw_str(w, lineage[r]);
    }
    sisa_jw_raw(w, "]}");
    SISA_CHECK(!w->failed, SISA_ENOMEM, "out of memory");
done:
    sisa_free(counts);
    sisa_free(lineage);
    return err;
}

void sisa_shard_summary_free(sisa_shard_summary *s)
{
    sisa_free(s->slice_rows);
    sisa_free(s->lineage);
    memset(s, 0, sizeof *s);
}

int sisa_shard_summary_read(const sisa_store *st, const sisa_files *f, sisa_shard_summary *out)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    memset(out, 0, sizeof *out);
    const sisa_files_entry *e = sisa_files_entry_of(f, SISA_SHARD_DATA);
    if (!e || !e->meta) return 0;
    const sisa_json *counts = sisa_json_get(e->meta, "slice_rows");
    const sisa_json *lin = sisa_json_get(e->meta, "lineages");
    SISA_CHECK(sisa_json_u64(e->meta, "rows", &out->rows) && counts &&
                   counts->type == SISA_JSON_ARRAY && counts->count == R && lin &&
                   lin->type == SISA_JSON_ARRAY && lin->count == R,
               SISA_ECORRUPT, "%s: the record of data.h5 has a bad summary", f->j.path);
    out->slice_rows = sisa_calloc(R, sizeof *out->slice_rows);
    out->lineage = sisa_malloc(R * sizeof *out->lineage);
    SISA_CHECK(out->slice_rows && out->lineage, SISA_ENOMEM, "out of memory");
    uint64_t total = 0;
    const sisa_json *c = counts->kid, *l = lin->kid;
    for (uint32_t r = 0; r < R; r++, c = c->next, l = l->next) {
        SISA_CHECK(c && l && c->type == SISA_JSON_NUMBER &&
                       sisa_parse_u64(c->str, &out->slice_rows[r]) == SISA_PARSE_OK &&
                       l->type == SISA_JSON_STRING && strlen(l->str) == 64,
                   SISA_ECORRUPT, "%s: the record of data.h5 has a bad summary", f->j.path);
        SISA_CHECK(out->slice_rows[r] <= out->rows - total, SISA_ECORRUPT,
                   "%s: the record of data.h5 counts %llu rows but its slices hold more", f->j.path,
                   (unsigned long long)out->rows);
        total += out->slice_rows[r];
        memcpy(out->lineage[r], l->str, 65);
    }
    SISA_CHECK(total == out->rows, SISA_ECORRUPT,
               "%s: the record of data.h5 counts %llu rows but its slices hold %llu", f->j.path,
               (unsigned long long)out->rows, (unsigned long long)total);
    err = 1;
done:
    return err;
}

int sisa_shard_summary_get(const sisa_store *st, const sisa_files *f, uint32_t k,
                           sisa_shard_summary *out)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_data *idx = NULL;
    err = sisa_shard_summary_read(st, f, out);
    if (err != 0) return err < 0 ? err : SISA_OK;
    /* A store written before summaries: read the file's IDs and slices. */
    SISA_TRY(sisa_shard_read_data(st, f, k, 0, &idx));
    out->rows = idx->n;
    out->slice_rows = sisa_calloc(R, sizeof *out->slice_rows);
    out->lineage = sisa_malloc(R * sizeof *out->lineage);
    SISA_CHECK(out->slice_rows && out->lineage, SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < idx->n; i++)
        if ((uint32_t)idx->slice[i] < R) out->slice_rows[idx->slice[i]]++;
    SISA_TRY(sisa_shard_lineages(idx, R, out->lineage));
done:
    sisa_shard_data_free(idx);
    return err;
}

uint64_t sisa_shard_summary_visits(const sisa_shard_summary *s, uint32_t epochs, uint32_t stages,
                                   uint32_t first)
{
    uint64_t total = 0, n_r = 0;
    for (uint32_t r = 1; r <= stages; r++) {
        n_r += s->slice_rows[r - 1];
        if (r >= (first ? first : 1)) total += sisa_stage_visits(n_r, epochs, stages);
    }
    return total;
}

int sisa_shard_commit_data_sha(const sisa_store *st, sisa_files *f, const sisa_shard_data *sd,
                               char sha[65])
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX] = "";
    sisa_jw meta;
    sisa_jw_init(&meta);
    SISA_TRY(summary_json(sd, (uint32_t)st->cfg.sisa.slices, &meta));
    SISA_TRY(sisa_store_data_path(st, sd->shard, path, sizeof path));
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    /* Hashed while written: the rows are not read back. */
    err = sisa_shard_data_write_hashed(tmp, sd, sha);
    if (err < 0) {
        sisa_error_prefix("writing %s", path); /* the message names the temp file */
        goto done;
    }
    int rc = sisa_files_commit_ex(f, tmp, SISA_SHARD_DATA, sha, meta.buf);
    tmp[0] = '\0'; /* the commit owns the temp file now */
    SISA_TRY(rc);
done:
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    sisa_jw_free(&meta);
    return err;
}

int sisa_shard_commit_data(const sisa_store *st, sisa_files *f, const sisa_shard_data *sd)
{
    char sha[65];
    return sisa_shard_commit_data_sha(st, f, sd, sha);
}

int sisa_shard_read_data(const sisa_store *st, const sisa_files *f, uint32_t k, int with_x,
                         sisa_shard_data **out)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    (void)st; /* the shard folder's journal locates the file */
    SISA_TRY(sisa_files_locate(f, SISA_SHARD_DATA, path, sizeof path));
    if (with_x)
        SISA_TRY(sisa_shard_data_read(out, path));
    else
        SISA_TRY(sisa_shard_data_read_index(out, path));
    SISA_CHECK((*out)->shard == k, SISA_ECORRUPT, "%s holds shard %u, expected %u", path,
               (*out)->shard, k);
done:
    return err;
}

int sisa_shard_read_index(const sisa_store *st, uint32_t k, sisa_shard_data **out)
{
    int err = SISA_OK;
    sisa_files files = {0};
    SISA_TRY(sisa_shard_files(st, k, &files, 0));
    SISA_TRY(sisa_shard_read_data(st, &files, k, 0, out));
done:
    sisa_files_close(&files);
    return err;
}

int sisa_shard_train(const sisa_store *st, uint32_t k, sisa_shard_report *rep)
{
    return sisa_shard_train_from(st, k, NULL, NULL, rep);
}

/* The rows shard k trains on: `given` when this process has just written them and the journal
 * still commits exactly that file (same SHA-256: the file holds these bytes), else the file,
 * read into *owned. Every row's slice must be below R. */
static int train_rows(const sisa_store *st, sisa_files *files, uint32_t k,
                      const sisa_shard_data *given, const char *given_sha, sisa_shard_data **owned,
                      const sisa_shard_data **sd)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    char path[SISA_PATH_MAX];
    SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
    const char *committed = sisa_files_hash(files, SISA_SHARD_DATA);
    if (given && given_sha && committed && given->shard == k && !strcmp(committed, given_sha)) {
        *sd = given;
    } else {
        SISA_TRY(sisa_shard_read_data(st, files, k, 1, owned));
        *sd = *owned;
    }
    SISA_CHECK((*sd)->n <= UINT32_MAX, SISA_ECORRUPT, "%s: more than 2^32 rows in one shard", path);
    for (uint64_t i = 0; i < (*sd)->n; i++)
        SISA_CHECK((uint32_t)(*sd)->slice[i] < R, SISA_ECORRUPT, "%s: row %llu has slice %d of %u",
                   path, (unsigned long long)i, (*sd)->slice[i], R);
done:
    return err;
}

/* What one shard's stages share while training. */
typedef struct {
    const sisa_store *st;
    uint32_t k;
    const sisa_shard_data *sd;
    sisa_model *model;
    sisa_model_spec ms;
    sisa_optim_spec os;
    tensor_views views;
    sisa_ckpt_meta meta;
    uint32_t *rows, *order; /* (n) */
    float *xb;              /* (B, d) */
    int32_t *yb;            /* (B) */
    atomic_int *cancel;     /* ahead of time (sisa_shard_prestage): nonzero stops the stage */
} shard_run;

/* The model to continue from stage `start`: the checkpoint after it, or a fresh initialisation
 * for stage 0; and the metadata every checkpoint of this run carries. */
static int train_model(shard_run *t, uint32_t start)
{
    int err = SISA_OK;
    const sisa_store *st = t->st;
    const sisa_config *cfg = &st->cfg;
    const uint32_t k = t->k;
    char path[SISA_PATH_MAX];
    sisa_model_specs_from_config(&t->ms, &t->os, cfg, (uint32_t)t->sd->d,
                                 (uint32_t)t->sd->num_classes, (uint32_t)cfg->train.batch_size);
    SISA_TRY(sisa_model_create(&t->model, &t->ms, &t->os));
    SISA_TRY(views_of(t->model, &t->views));
    memset(&t->meta, 0, sizeof t->meta);
    if (start > 0) {
        SISA_TRY(sisa_store_ckpt_path(st, k, start, path, sizeof path));
        SISA_TRY(sisa_ckpt_read(&t->meta, path, t->views.params, t->views.n_params, t->views.state,
                                t->views.n_state));
        sisa_model_set_steps(t->model, t->meta.steps);
    } else {
        sisa_model_init(t->model, cfg->seed, k);
    }
    t->meta.shard = k;
    t->meta.stages = (uint32_t)cfg->sisa.slices;
    snprintf(t->meta.config_hash, sizeof t->meta.config_hash, "%s", st->config_hash);
    snprintf(t->meta.context, sizeof t->meta.context, "%s", st->context);
    describe_model(cfg, &t->ms, t->meta.model, sizeof t->meta.model);
    if (t->ms.type == SISA_MODEL_KNN)
        snprintf(t->meta.optimizer, sizeof t->meta.optimizer, "none");
    else
        describe_optim(&t->os, t->meta.optimizer, sizeof t->meta.optimizer);
done:
    return err;
}

/* Train stage r on the n_r rows of slices 0..r-1 (t->rows): the stage's sample visits in
 * epochs, each a fresh Philox order of the rows (the last one partial). The last epoch's loss
 * summed over its *loss_n samples goes to *loss_sum. */
static int train_stage(shard_run *t, uint32_t r, uint32_t n_r, uint64_t visits,
                       double *loss_sum_out, uint64_t *loss_n_out)
{
    int err = SISA_OK;
    const sisa_config *cfg = &t->st->cfg;
    const sisa_shard_data *sd = t->sd;
    const uint32_t B = (uint32_t)cfg->train.batch_size;
    const uint64_t full = n_r ? visits / n_r : 0;
    const uint64_t partial = n_r ? visits % n_r : 0;
    double loss_sum = 0;
    uint64_t loss_n = 0;
    uint64_t done = 0; /* sample visits of this stage so far: the schedule's clock */
    /* progress within the stage (not from a helper thread training ahead: its lines would cut
     * into the main thread's) */
    sisa_progress pr;
    char label[64];
    const int show = !t->cancel && visits > 0;
    snprintf(label, sizeof label, "shard %u stage %u/%d", t->k, r, cfg->sisa.slices);
    if (show) sisa_progress_start(&pr, label, "samples", visits);
    for (uint64_t j = 0; j < full + (partial > 0); j++) {
        const uint32_t count = j < full ? n_r : (uint32_t)partial;
        sisa_rng rng;
        sisa_rng_init(&rng, cfg->seed, SISA_RNG_ORDER, t->k, r, (uint32_t)j);
        memcpy(t->order, t->rows, (size_t)n_r * sizeof *t->order);
        sisa_rng_shuffle(&rng, t->order, n_r);
        loss_sum = 0;
        loss_n = 0;
        for (uint32_t b0 = 0; b0 < count; b0 += B) {
            SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR,
                       "interrupted while training shard %u stage %u (its last checkpoint "
                       "is kept; run the command again to resume)",
                       t->k, r);
            SISA_CHECK(!t->cancel || !atomic_load_explicit(t->cancel, memory_order_relaxed),
                       SISA_EINTR, "shard %u: training stage %u ahead of time was abandoned", t->k,
                       r);
            const uint32_t nb = count - b0 < B ? count - b0 : B;
            for (uint32_t i = 0; i < nb; i++) {
                const uint32_t row = t->order[b0 + i];
                memcpy(t->xb + (size_t)i * sd->d, sd->X + (size_t)row * sd->d,
                       sd->d * sizeof *t->xb);
                t->yb[i] = sd->y[row];
            }
            sisa_model_set_lr(t->model, sisa_optim_lr(&t->os, done, visits));
            float l = sisa_model_train_step(t->model, t->xb, t->yb, nb);
            done += nb;
            if (show) sisa_progress_update(&pr, done);
            loss_sum += (double)l * nb;
            loss_n += nb;
        }
        t->meta.epochs++;
    }
done:
    if (show) sisa_progress_finish(&pr);
    *loss_sum_out = loss_sum;
    *loss_n_out = loss_n;
    return err;
}

/* Write the checkpoint after stage r (n_r rows, `visits` sample visits, rows of lineage
 * `lineage`) and commit it in the shard's journal. */
static int train_commit(shard_run *t, sisa_files *files, uint32_t r, uint32_t n_r, uint64_t visits,
                        const char *lineage)
{
    int err = SISA_OK;
    sisa_ckpt_meta *meta = &t->meta;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX] = "", name[SISA_CKPT_NAME_MAX];
    meta->stage = r;
    meta->rows = n_r;
    meta->steps = sisa_model_steps(t->model);
    meta->samples += visits;
    meta->rng_state[0] = t->st->cfg.seed;
    meta->rng_state[1] = t->k;
    meta->rng_state[2] = r + 1;
    meta->rng_state[3] = 0;
    snprintf(meta->lineage, sizeof meta->lineage, "%s", lineage);
    sisa_ckpt_name(name, sizeof name, r);
    SISA_TRY(sisa_store_ckpt_path(t->st, t->k, r, path, sizeof path));
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    char ckpt_sha[65];
    err = sisa_ckpt_write_hashed(tmp, meta, t->views.params, t->views.n_params, t->views.state,
                                 t->views.n_state, ckpt_sha);
    if (err < 0) {
        sisa_error_prefix("writing %s", path); /* the message names the temp file */
        goto done;
    }
    char ckpt_meta[96];
    snprintf(ckpt_meta, sizeof ckpt_meta, "{\"lineage\": \"%s\"}", lineage);
    int rc = sisa_files_commit_ex(files, tmp, name, ckpt_sha, ckpt_meta);
    tmp[0] = '\0'; /* the commit owns the temp file now */
    SISA_TRY(rc);
done:
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    return err;
}

static void run_free(shard_run *t)
{
    sisa_free(t->yb);
    sisa_free(t->xb);
    sisa_free(t->order);
    sisa_free(t->rows);
    views_free(&t->views);
    sisa_model_destroy(t->model);
    t->yb = NULL;
    t->xb = NULL;
    t->order = NULL;
    t->rows = NULL;
    t->views.params = t->views.state = NULL;
    t->model = NULL;
}

/* The buffers of a shard's training (t->model and t->views come from train_model). */
static int run_alloc(shard_run *t)
{
    const uint32_t B = (uint32_t)t->st->cfg.train.batch_size;
    const sisa_shard_data *sd = t->sd;
    t->rows = sisa_malloc(sd->n * sizeof *t->rows);
    t->order = sisa_malloc(sd->n * sizeof *t->order);
    t->xb = sisa_malloc((size_t)B * sd->d * sizeof *t->xb);
    t->yb = sisa_malloc((size_t)B * sizeof *t->yb);
    if (!(t->rows && t->order && t->xb && t->yb))
        return SISA_ERR(SISA_ENOMEM, "out of memory for shard %u", t->k);
    return SISA_OK;
}

/* The rows of stage r (slices 0..r-1) into t->rows, in ID order; their count. */
static uint32_t stage_row_list(shard_run *t, uint32_t r)
{
    uint32_t n_r = 0;
    for (uint64_t i = 0; i < t->sd->n; i++)
        if ((uint32_t)t->sd->slice[i] < r) t->rows[n_r++] = (uint32_t)i;
    return n_r;
}

/* One stage of a shard (stage start + 1) trained by a helper thread while this one writes the
 * store's files: the same function of the same rows, seed and starting model as training it in
 * line (its model is initialised or read from its checkpoint and its buffers allocated before
 * the thread starts, in this thread; the thread allocates nothing), under the floating-point
 * environment of the thread that started it. */
struct sisa_shard_prestage {
    shard_run t;
    uint32_t start; /* the stage it resumes after: it trains stage start + 1 */
    uint32_t n_1;   /* rows of that stage */
    uint64_t visits;
    double loss_sum, seconds, started; /* started: sisa_now() when the thread began */
    uint64_t loss_n;
    int err;
    char msg[512];
    fenv_t env;
    atomic_int cancel;
    pthread_t thread;
    int joined;
};

static void *prestage_main(void *arg)
{
    sisa_shard_prestage *p = arg;
    fesetenv(&p->env);
    double ts = sisa_now();
    p->err = train_stage(&p->t, p->start + 1, p->n_1, p->visits, &p->loss_sum, &p->loss_n);
    if (p->err < 0) snprintf(p->msg, sizeof p->msg, "%s", sisa_error_message());
    p->seconds = sisa_now() - ts;
    return NULL;
}

static void prestage_free(sisa_shard_prestage *p)
{
    if (!p) return;
    run_free(&p->t);
    sisa_free(p);
}

int sisa_shard_prestage_start(const sisa_store *st, uint32_t k, const sisa_shard_data *sd,
                              sisa_shard_prestage **out)
{
    return sisa_shard_prestage_start_at(st, k, sd, 0, out);
}

int sisa_shard_prestage_start_at(const sisa_store *st, uint32_t k, const sisa_shard_data *sd,
                                 uint32_t start, sisa_shard_prestage **out)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t R = (uint32_t)cfg->sisa.slices;
    sisa_shard_prestage *p = NULL;
    *out = NULL;
    /* Anything unusual (no rows, a row outside the slices) is left to the ordinary path,
     * which reports it. */
    if (!sd || sd->shard != k || sd->n == 0 || sd->n > UINT32_MAX || start >= R ||
        cfg->model.type == SISA_MODEL_KNN)
        return SISA_OK;
    for (uint64_t i = 0; i < sd->n; i++)
        if ((uint32_t)sd->slice[i] >= R) return SISA_OK;
    p = sisa_calloc(1, sizeof *p);
    SISA_CHECK(p, SISA_ENOMEM, "out of memory");
    p->t.st = st;
    p->t.k = k;
    p->t.sd = sd;
    p->t.cancel = &p->cancel;
    atomic_init(&p->cancel, 0);
    p->start = start;
    SISA_TRY(train_model(&p->t, start));
    SISA_TRY(run_alloc(&p->t));
    p->n_1 = stage_row_list(&p->t, start + 1);
    p->visits = sisa_stage_visits(p->n_1, (uint32_t)sisa_config_epochs(cfg), R);
    if (p->n_1 == 0) goto done; /* nothing to do ahead */
    fegetenv(&p->env);
    p->started = sisa_now();
    if (pthread_create(&p->thread, NULL, prestage_main, p) != 0) goto done; /* train in line */
    *out = p;
    p = NULL;
done:
    if (err < 0) sisa_error_prefix("shard %u", k);
    prestage_free(p);
    return err;
}

/* Wait for the helper thread; with `stop`, ask it to stop first. */
static void prestage_join(sisa_shard_prestage *p, int stop)
{
    if (p->joined) return;
    if (stop) atomic_store(&p->cancel, 1);
    pthread_join(p->thread, NULL);
    p->joined = 1;
}

void sisa_shard_prestage_cancel(sisa_shard_prestage *p)
{
    if (!p) return;
    prestage_join(p, 1);
    prestage_free(p);
}

uint32_t sisa_shard_prestage_shard(const sisa_shard_prestage *p)
{
    return p ? p->t.k : UINT32_MAX;
}

static int train_shard(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                       const char *given_sha, sisa_shard_prestage *pre, sisa_shard_report *rep);

int sisa_shard_train_from(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                          const char *given_sha, sisa_shard_report *rep)
{
    return train_shard(st, k, given, given_sha, NULL, rep);
}

int sisa_shard_train_pre(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                         const char *given_sha, sisa_shard_prestage *pre, sisa_shard_report *rep)
{
    return train_shard(st, k, given, given_sha, pre, rep);
}

static int train_shard(const sisa_store *st, uint32_t k, const sisa_shard_data *given,
                       const char *given_sha, sisa_shard_prestage *pre, sisa_shard_report *rep)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t R = (uint32_t)cfg->sisa.slices;
    const uint32_t E = (uint32_t)sisa_config_epochs(cfg);
    sisa_shard_data *owned = NULL;
    shard_run t;
    char(*lineage)[65] = NULL;
    sisa_files files = {0};
    double t0 = sisa_now();
    memset(&t, 0, sizeof t);
    t.st = st;
    t.k = k;

    memset(rep, 0, sizeof *rep);
    rep->shard = k;
    rep->loss = NAN;
    SISA_TRY(sisa_shard_files(st, k, &files, 1));
    SISA_TRY(train_rows(st, &files, k, given, given_sha, &owned, &t.sd));
    const sisa_shard_data *sd = t.sd;
    rep->rows = sd->n;
    rep->full_samples = sisa_shard_visits(sd, E, R, 1);
    if (sd->n == 0) {
        /* Every row was deleted: no model, and no checkpoint may survive. */
        SISA_TRY(remove_ckpts(&files, 1, R, &rep->removed));
        rep->empty = 1;
        goto done;
    }

    lineage = sisa_malloc(R * sizeof *lineage);
    SISA_CHECK(lineage, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_shard_lineages(sd, R, lineage));
    uint32_t start = 0;
    SISA_TRY(find_resume_point(st, &files, k, lineage, &start, &rep->removed));
    rep->resumed_from = start;
    if (start == R) goto done;

    /* The stage trained ahead counts only for these very rows resumed from the same stage. */
    int ahead = pre && pre->t.k == k && pre->t.sd == sd && pre->start == start;
    if (ahead) {
        SISA_TRY(sisa_store_activity_stage(st, k, start + 1));
        prestage_join(pre, 0);
        if (pre->err < 0) {
            err = sisa_error_set(pre->err, __FILE__, __LINE__, "%s", pre->msg);
            goto done;
        }
        t0 = pre->started; /* the shard's training began there */
        t = pre->t;        /* its model, buffers and checkpoint metadata after that stage */
        t.cancel = NULL;
        memset(&pre->t, 0, sizeof pre->t);
    } else {
        SISA_TRY(train_model(&t, start));
        SISA_TRY(run_alloc(&t));
    }

    for (uint32_t r = start + 1; r <= R; r++) {
        /* A stop request (SIGUSR1/SIGTERM: a scheduler's warning) ends the work at a stage
         * boundary, so a shard that needs longer than the warning leaves its stages so far. */
        SISA_CHECK(!sisa_stop_requested(), SISA_ESTOPPED,
                   "stopped on request before stage %u/%u of shard %u (every stage trained so "
                   "far is committed; run the command again to continue)",
                   r, R, k);
        double ts = sisa_now();
        const uint32_t n_r = stage_row_list(&t, r);
        const uint64_t visits = sisa_stage_visits(n_r, E, R);
        double loss_sum = 0;
        uint64_t loss_n = 0;
        if (ahead && r == start + 1) {
            ts = pre->started;
            loss_sum = pre->loss_sum;
            loss_n = pre->loss_n;
        } else {
            SISA_TRY(sisa_store_activity_stage(st, k, r));
            SISA_TRY(train_stage(&t, r, n_r, visits, &loss_sum, &loss_n));
        }
        SISA_TRY(train_commit(&t, &files, r, n_r, visits, lineage[r - 1]));
        rep->stages_trained++;
        rep->samples += visits;
        if (loss_n) rep->loss = loss_sum / (double)loss_n;
        if (E == 0)
            sisa_info("shard %u: stage %u/%u, %u rows (knn: checkpoint only), %.2f s", k, r, R, n_r,
                      sisa_now() - ts);
        else
            sisa_info("shard %u: stage %u/%u, %u rows, %llu sample visits, loss %.4f, %.2f s", k, r,
                      R, n_r, (unsigned long long)visits, loss_n ? loss_sum / (double)loss_n : 0.0,
                      sisa_now() - ts);
    }
done:
    rep->seconds = sisa_now() - t0;
    sisa_shard_prestage_cancel(pre); /* unused, or emptied above */
    run_free(&t);
    sisa_free(lineage);
    sisa_shard_data_free(owned);
    sisa_files_close(&files);
    if (err < 0 && err != SISA_EINTR && err != SISA_ESTOPPED) sisa_error_prefix("shard %u", k);
    return err;
}

int sisa_shard_final_ckpt(const sisa_store *st, uint32_t k, char *path, size_t cap,
                          sisa_ckpt_meta *meta, uint64_t *rows, const char **why)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_summary sum = {0};
    char name[32];
    sisa_files files = {0};
    *why = NULL;
    *rows = 0;
    if ((size_t)k < sizeof st->fenced && st->fenced[k]) {
        *why = "fenced: a deletion request that affects it is not finished (any writing sisa "
               "command finishes it)";
        return 0;
    }
    SISA_TRY(sisa_shard_files(st, k, &files, 0));
    if (!sisa_files_has(&files, SISA_SHARD_DATA)) {
        /* Every shard of a store with a manifest was partitioned: this one lost its journal
         * or its folder, which is damage, not a shard to train. */
        SISA_CHECK(!st->has_manifest, SISA_ECORRUPT,
                   "shard %u of store %s is damaged: %s %s. Run 'sisa repair -c %s'", k, st->root,
                   files.j.path,
                   sisa_fs_exists(files.j.path) ? "commits no data file" : "is missing",
                   st->cfg.source);
        *why = "not partitioned yet (run sisa train)";
        goto done;
    }
    /* The shard's rows and lineages from its journal: the data file itself is not read. */
    SISA_TRY(sisa_shard_summary_get(st, &files, k, &sum));
    *rows = sum.rows;
    if (sum.rows == 0) {
        *why = "no rows left (all deleted)";
        goto done;
    }
    sisa_ckpt_name(name, sizeof name, R);
    SISA_TRY(sisa_store_ckpt_path(st, k, R, path, cap));
    if (!sisa_files_has(&files, name)) {
        *why = "training not finished (run sisa train)";
        goto done;
    }
    /* The bytes are checked before HDF5 parses them (path: where the committed bytes are). */
    SISA_TRY(sisa_files_locate(&files, name, path, cap));
    SISA_TRY(sisa_ckpt_read_meta(meta, path));
    if (strcmp(meta->lineage, sum.lineage[R - 1]) != 0 || meta->shard != k || meta->stage != R) {
        /* Trained on rows that are no longer in the shard (an unfinished deletion): never
         * serve it. */
        *why = "final checkpoint does not match the shard's rows (run sisa train to finish the "
               "pending retraining)";
        goto done;
    }
    err = 1;
done:
    sisa_files_close(&files);
    sisa_shard_summary_free(&sum);
    return err;
}

int sisa_shard_check_lineage(const sisa_store *st, uint32_t k, const char *lineage,
                             const char *expected)
{
    if (!expected || !expected[0] || !strcmp(lineage, expected)) return SISA_OK;
    if ((size_t)k < sizeof st->unsettled && st->unsettled[k]) return SISA_OK;
    return SISA_ERR(
        SISA_ECORRUPT,
        "shard %u of store %s holds other rows than the ledger's last record of it leaves "
        "(lineage %.12s..., the ledger has %.12s...): the shard folder may have been restored "
        "from an older copy and hold deleted rows, so its model is not used. Run 'sisa repair "
        "-c %s'",
        k, st->root, lineage, expected, st->cfg.source);
}
