/*
 * sisa.c - libsisa's public API (sisa/sisa.h) over the orchestration layer (run/run.h).
 *
 * A handle is a loaded config and a job; every operation opens the store as the matching CLI
 * command does, runs the orchestration and fills a report. Nothing here prints unless handed a
 * stream.
 */
#include "sisa/sisa.h"

#include "aggregate/aggregate.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/strutil.h"
#include "dist/dist.h"
#include "io/dsstream.h"
#include "io/store_io.h"
#include "model/blas.h"
#include "run/core.h"
#include "run/print.h"
#include "run/run.h"
#include "shard/setup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sisa_job {
    sisa_dist *d;
    int joined; /* made by sisa_job_join: finalises MPI when freed */
};

struct sisa_handle {
    sisa_config cfg;                  /* every rank: rank 0's loaded config */
    char label[SISA_CONFIG_PATH_MAX]; /* the config file as given ("" in memory) */
    sisa_open_opts opts;
    sisa_job *job; /* borrowed, or own_job */
    sisa_job *own; /* a one-rank job made for this handle */
};

/* ---- library ----------------------------------------------------------------------------- */

const char *sisa_version_string(void)
{
    return SISA_VERSION;
}

void sisa_set_log_level(int level)
{
    sisa_log_set_level(level);
}

int sisa_get_log_level(void)
{
    return sisa_log_level_get();
}

void sisa_set_log_prefix(const char *prefix)
{
    sisa_log_set_prefix(prefix ? prefix : "");
}

void sisa_interrupt(int signo)
{
    sisa_interrupt_raise(signo);
}

void sisa_request_stop(int signo)
{
    sisa_stop_raise(signo);
}

void sisa_json_print_string(FILE *out, const char *s)
{
    sisa_json_string(out, s);
}

void sisa_json_print_number(FILE *out, double v)
{
    sisa_json_number(out, v);
}

int sisa_text_u64(uint64_t *out, const char *s)
{
    return s && sisa_parse_u64(s, out) == SISA_PARSE_OK ? 0 : -1;
}

int sisa_text_i64(int64_t *out, const char *s)
{
    return s && sisa_parse_i64(s, out) == SISA_PARSE_OK ? 0 : -1;
}

int sisa_text_f64(double *out, const char *s)
{
    return s && sisa_parse_f64(s, out) == SISA_PARSE_OK ? 0 : -1;
}

unsigned sisa_text_distance(const char *a, const char *b)
{
    return sisa_edit_distance(a, b);
}

/* sisa_free (sisa.h) is base/mem.c's: the same contract, one definition. */

void sisa_library_versions(FILE *out)
{
    char mpi[256];
    sisa_blas_info blas;
    sisa_dist_library_version(mpi, sizeof mpi);
    sisa_blas_single_thread();
    sisa_blas_describe(&blas);
    char origin[256];
    sisa_blas_origin_text(origin, sizeof origin);
    fprintf(out, "sisa %s (commit %s, %s build, %s)\n", SISA_VERSION, SISA_GIT_COMMIT,
            SISA_BUILD_TYPE, SISA_COMPILER);
    fprintf(out, "Open MPI: %s\n", mpi);
    fprintf(out, "HDF5: %s\n", sisa_io_hdf5_version());
    fprintf(out, "OpenBLAS: %s (core %s, %s, %d thread%s)\n", blas.version, blas.core, origin,
            blas.threads, blas.threads == 1 ? "" : "s");
    fprintf(out, "libyaml: %s\n", sisa_config_yaml_version());
    fprintf(out, "zlib: %s\n", sisa_io_zlib_version());
    fprintf(out, "build flags: %s\n", SISA_BUILD_FLAGS);
    char advice[512];
    if (sisa_blas_core_advice(advice, sizeof advice)) fprintf(out, "note: %s\n", advice);
}

int sisa_openblas_setup(const char *command, char **argv, int cargc, char **cargv)
{
    return sisa_run_core_setup(command, argv, cargc, cargv);
}

int sisa_launcher_first_rank(void)
{
    return sisa_run_core_first_rank();
}

int sisa_config_check(const sisa_config *cfg)
{
    int err = SISA_OK;
    if (!cfg->data.train[0] || !sisa_fs_exists(cfg->data.train) ||
        !sisa_setup_new_store(cfg->store))
        return SISA_OK;
    sisa_dataset_header hdr;
    if (sisa_dataset_read_header(cfg->data.train, &hdr) < 0) {
        sisa_warn("%s: cannot check the set-up against the training set: %s", cfg->source,
                  sisa_error_message());
        sisa_error_clear();
        return SISA_OK;
    }
    SISA_TRY(sisa_setup_check_rows(cfg, hdr.n));
    SISA_TRY(sisa_setup_check_shape(cfg, hdr.d));
    SISA_TRY(sisa_setup_check_columns(cfg, hdr.has_group, hdr.has_risk));
    sisa_setup_warn_expected(cfg, hdr.n);
done:
    return err;
}

int sisa_check_ledger_head(const char *text)
{
    char tmp[65];
    if (text && sisa_run_parse_head(text, tmp) == 0) return SISA_OK;
    return SISA_ERR(SISA_EUSAGE, "'%s' is not a ledger head (64 hex digits)",
                    text ? text : "(null)");
}

/* ---- jobs -------------------------------------------------------------------------------- */

static int job_make(sisa_job **out, sisa_dist *d, int joined)
{
    sisa_job *j = sisa_calloc(1, sizeof *j);
    *out = j;
    if (!j) {
        sisa_dist_free(d);
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    j->d = d;
    j->joined = joined;
    return SISA_OK;
}

int sisa_job_join(sisa_job **out, int *argc, char ***argv)
{
    sisa_dist *d = NULL;
    int err = sisa_dist_init(&d, argc, argv);
    int made = job_make(out, d, 1);
    return err < 0 ? err : made;
}

int sisa_job_from_comm(sisa_job **out, const void *mpi_comm)
{
    sisa_dist *d = NULL;
    *out = NULL;
    int err = sisa_dist_from_comm(&d, mpi_comm);
    if (err < 0) {
        sisa_dist_free(d);
        return err;
    }
    return job_make(out, d, 0);
}

int sisa_job_rank(const sisa_job *job)
{
    return job ? sisa_dist_rank(job->d) : 0;
}

int sisa_job_size(const sisa_job *job)
{
    return job ? sisa_dist_size(job->d) : 1;
}

int sisa_job_agree(sisa_job *job, int local)
{
    return job ? sisa_dist_agree(job->d, local) : local;
}

void sisa_job_free(sisa_job *job, int exit_code)
{
    if (!job) return;
    if (job->joined)
        sisa_dist_finalize(job->d, exit_code);
    else
        sisa_dist_free(job->d);
    sisa_free(job);
}

/* ---- handles ----------------------------------------------------------------------------- */

static sisa_dist *dist_of(const sisa_handle *h)
{
    return h->job->d;
}

/* Every rank: rank 0 loads (or takes) the config; the others receive its bytes. */
static int handle_open(sisa_handle **out, const char *path, const sisa_config *given,
                       const char *yaml, const char *name, const char *base_dir,
                       const sisa_open_opts *opts)
{
    int err = SISA_OK;
    sisa_handle *h = sisa_calloc(1, sizeof *h);
    *out = NULL;
    SISA_CHECK(h, SISA_ENOMEM, "out of memory");
    if (opts) h->opts = *opts;
    if (h->opts.job) {
        h->job = h->opts.job;
    } else {
        sisa_dist *d = NULL;
        SISA_TRY(sisa_dist_single(&d));
        SISA_TRY(job_make(&h->own, d, 0));
        h->job = h->own;
    }
    sisa_dist *d = dist_of(h);
    if (path) snprintf(h->label, sizeof h->label, "%s", path);
    if (sisa_dist_rank(d) == 0) {
        if (given)
            memcpy(&h->cfg, given, sizeof h->cfg);
        else if (yaml) {
            char cwd[SISA_CONFIG_PATH_MAX] = ".";
            err = sisa_config_parse(&h->cfg, yaml, strlen(yaml), name, base_dir ? base_dir : cwd);
        } else
            err = sisa_config_load(&h->cfg, path);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, &h->cfg, sizeof h->cfg, 0));
    *out = h;
    h = NULL;
done:
    sisa_close(h);
    return err;
}

int sisa_open(sisa_handle **out, const char *config_path, const sisa_open_opts *opts)
{
    if (!config_path) {
        *out = NULL;
        return SISA_ERR(SISA_EUSAGE, "no config file given");
    }
    return handle_open(out, config_path, NULL, NULL, NULL, NULL, opts);
}

int sisa_open_config(sisa_handle **out, const sisa_config *cfg, const sisa_open_opts *opts)
{
    if (!cfg) {
        *out = NULL;
        return SISA_ERR(SISA_EUSAGE, "no config given");
    }
    return handle_open(out, NULL, cfg, NULL, NULL, NULL, opts);
}

int sisa_open_yaml(sisa_handle **out, const char *yaml, const char *name, const char *base_dir,
                   const sisa_open_opts *opts)
{
    if (!yaml) {
        *out = NULL;
        return SISA_ERR(SISA_EUSAGE, "no config text given");
    }
    return handle_open(out, NULL, NULL, yaml, name, base_dir, opts);
}

void sisa_close(sisa_handle *h)
{
    if (!h) return;
    sisa_job_free(h->own, 0);
    sisa_free(h);
}

const sisa_config *sisa_handle_config(const sisa_handle *h)
{
    return &h->cfg;
}

static const char *label_of(const sisa_handle *h)
{
    return h->label[0] ? h->label : NULL;
}

static sisa_run_open_opts open_opts(const sisa_handle *h, const char *command)
{
    const sisa_run_open_opts oo = {h->opts.wait, command, h->opts.accept_move, &h->cfg};
    return oo;
}

/* ---- training ---------------------------------------------------------------------------- */

int sisa_train(sisa_train_report *out, sisa_handle *h)
{
    int err = SISA_OK;
    sisa_run_train_result r;
    const sisa_run_open_opts oo = open_opts(h, "train");
    err = sisa_run_train(dist_of(h), label_of(h), &oo, &r);
    if (out) {
        memset(out, 0, sizeof *out);
        out->shards_trained = r.shards_trained;
        out->empty_shards = r.empty_shards;
        out->rows = r.rows;
        out->samples = r.samples;
        out->shards = r.shards;
        out->slices = r.slices;
        out->ranks = r.ranks;
        out->seconds = r.seconds;
        out->train_seconds = r.train_seconds;
        out->peak_rss = r.peak_rss;
        r.peak_rss = NULL;
        snprintf(out->store, sizeof out->store, "%s", r.root);
        snprintf(out->store_id, sizeof out->store_id, "%s", r.store_id);
        snprintf(out->config_hash, sizeof out->config_hash, "%s", r.config_hash);
    }
    sisa_run_train_result_free(&r);
    return err;
}

void sisa_train_report_free(sisa_train_report *r)
{
    if (!r) return;
    sisa_free(r->peak_rss);
    r->peak_rss = NULL;
}

/* ---- deletion ---------------------------------------------------------------------------- */

typedef struct {
    sisa_deletion_report *rep;
    sisa_deletion_report local;
    const sisa_store *st;
    sisa_deletion_plan_fn on_plan;
    void *ctx;
    int failed; /* fill_plan's code, and its message: */
    char why[SISA_ERROR_MAX];
} unlearn_ctx;

/* The plan part of the report, from rank 0's request, into the shard array sisa_unlearn made
 * before the request was journaled (room for every shard): from then on the deletion is carried
 * to the end, so nothing here may fail for memory. */
static int fill_plan(sisa_deletion_report *rep, const sisa_store *st,
                     const sisa_run_unlearn_result *r)
{
    const sisa_request *q = &r->req;
    rep->request = rep->dry_run || r->nothing ? 0 : q->n;
    rep->rows = q->rows;
    rep->subjects = q->n_groups;
    rep->already_ids = q->already_ids;
    rep->already_groups = q->already_groups;
    rep->nothing = r->nothing;
    rep->shards_total = (uint32_t)st->cfg.sisa.shards;
    rep->slices = (uint32_t)st->cfg.sisa.slices;
    snprintf(rep->store, sizeof rep->store, "%s", st->root);
    if (q->origin_tool[0])
        snprintf(rep->origin, sizeof rep->origin, "%s: %s", q->origin_tool, q->origin_params);
    rep->n_shards = r->nothing ? 0 : q->n_shards;
    if (rep->n_shards > rep->shards_total)
        return SISA_ERR(SISA_EINTERNAL, "a deletion plan of %u shards in a store of %u",
                        rep->n_shards, rep->shards_total);
    rep->plan_samples = 0;
    for (uint32_t i = 0; i < rep->n_shards; i++) {
        rep->shards[i].shard = q->shards[i].shard;
        rep->shards[i].rows = q->shards[i].rows;
        rep->shards[i].first_stage = q->shards[i].first_stage;
        rep->shards[i].cost = q->shards[i].cost;
        rep->plan_samples += q->shards[i].cost;
    }
    if (rep->dry_run) rep->full_samples = r->full_visits;
    /* The estimate: the costs spread over the ranks longest first, each to the least loaded
     * rank (no allocation: this runs after the request is journaled), at the measured speed. */
    double samples = 0, seconds = 0, load[64] = {0};
    sisa_store_timing_read(st, &samples, &seconds);
    rep->samples_per_second = samples > 0 && seconds > 0 ? samples / seconds : NAN;
    const int P = rep->ranks < 1 ? 1 : rep->ranks > 64 ? 64 : rep->ranks;
    double makespan = 0;
    uint64_t prev_cost = UINT64_MAX;
    uint32_t prev = 0;
    for (uint32_t n = 0; n < rep->n_shards; n++) {
        /* the next shard in the order (cost descending, then shard order) */
        uint32_t pick = UINT32_MAX;
        for (uint32_t i = 0; i < rep->n_shards; i++) {
            const uint64_t c = rep->shards[i].cost;
            if (n && !(c < prev_cost || (c == prev_cost && i > prev))) continue;
            if (pick == UINT32_MAX || c > rep->shards[pick].cost) pick = i;
        }
        int least = 0;
        for (int p = 1; p < P; p++)
            if (load[p] < load[least]) least = p;
        load[least] += (double)rep->shards[pick].cost;
        if (load[least] > makespan) makespan = load[least];
        prev_cost = rep->shards[pick].cost;
        prev = pick;
    }
    rep->estimated_seconds = rep->plan_samples == 0 ? 0.0
                             : isfinite(rep->samples_per_second)
                                 ? makespan / rep->samples_per_second
                                 : NAN;
    return SISA_OK;
}

static void on_plan_cb(void *vctx, const sisa_run_unlearn_result *r)
{
    unlearn_ctx *c = vctx;
    c->failed = fill_plan(c->rep, c->st, r);
    if (c->failed < 0) {
        snprintf(c->why, sizeof c->why, "%s", sisa_error_message());
        return;
    }
    if (c->on_plan) c->on_plan(c->ctx, c->rep);
}

int sisa_unlearn(sisa_deletion_report *out, sisa_handle *h, const sisa_deletion *what,
                 sisa_deletion_plan_fn on_plan, void *ctx)
{
    int err = SISA_OK;
    sisa_dist *d = dist_of(h);
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_run_unlearn_result r;
    unlearn_ctx c;
    memset(&r, 0, sizeof r);
    memset(&c, 0, sizeof c);
    c.rep = out ? out : &c.local;
    memset(c.rep, 0, sizeof *c.rep);
    c.on_plan = on_plan;
    c.ctx = ctx;
    c.st = &st;
    SISA_CHECK(what, SISA_EUSAGE, "no rows named for deletion");
    SISA_CHECK(what->n_ids || what->n_groups || what->ids_text || what->ids_file ||
                   what->groups_text || what->groups_file,
               SISA_EUSAGE, "name the rows to delete: sample IDs or groups (data subjects)");
    SISA_CHECK(!(what->ids_text && what->ids_file) && !(what->groups_text && what->groups_file),
               SISA_EUSAGE, "give a list or a file, not both");
    c.rep->dry_run = what->dry_run;
    c.rep->ranks = sisa_dist_size(d);
    const sisa_run_deletion w = {what->ids_text,    what->ids_file, what->groups_text,
                                 what->groups_file, what->ids,      what->n_ids,
                                 what->groups,      what->n_groups, what->dry_run};
    const sisa_run_open_opts oo = open_opts(h, "unlearn");
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, label_of(h),
                                 what->dry_run ? SISA_STORE_READ : SISA_STORE_WRITE, &oo));
    c.rep->shards = sisa_calloc((size_t)cfg.sisa.shards, sizeof *c.rep->shards);
    SISA_TRY(sisa_dist_agree(d, c.rep->shards ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory")));
    SISA_TRY(sisa_run_unlearn(d, &st, &w, &r, on_plan_cb, &c));
    SISA_TRY(sisa_dist_agree(d, c.failed ? SISA_ERR(c.failed, "%s", c.why) : SISA_OK));
    if (sisa_dist_rank(d) == 0 && r.reps) {
        for (uint32_t i = 0; i < c.rep->n_shards; i++) {
            const sisa_shard_report *s = &r.reps[i];
            c.rep->shards[i].empty = s->empty;
            c.rep->shards[i].resumed_from = s->resumed_from;
            c.rep->shards[i].seconds = s->seconds;
            c.rep->shards[i].samples = s->samples;
        }
        c.rep->retrain_samples = r.retrain_visits;
        c.rep->full_samples = r.full_visits;
    }
done:
    sisa_run_unlearn_result_free(&r);
    sisa_store_close(&st);
    sisa_deletion_report_free(&c.local);
    return err;
}

void sisa_deletion_report_free(sisa_deletion_report *r)
{
    if (!r) return;
    sisa_free(r->shards);
    r->shards = NULL;
    r->n_shards = 0;
}

/* ---- prediction ---------------------------------------------------------------------------- */

/* sisa_predict's sink: the posteriors and labels into the caller's arrays. */
typedef struct {
    sisa_prediction *p;
} memory_out;

static int memory_start(void *ctx, const sisa_run_ensemble *e)
{
    memory_out *mo = ctx;
    sisa_prediction *p = mo->p;
    p->n = e->n;
    p->classes = e->classes;
    p->n_models = e->n_models;
    const uint64_t cells = e->n * e->classes;
    p->proba = sisa_malloc((cells ? cells : 1) * sizeof *p->proba);
    p->label = sisa_malloc((e->n ? e->n : 1) * sizeof *p->label);
    p->shards = sisa_malloc((e->n_models ? e->n_models : 1) * sizeof *p->shards);
    if (!p->proba || !p->label || !p->shards) return SISA_ERR(SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < e->n_models; m++) p->shards[m] = e->models[m].shard;
    return SISA_OK;
}

static int memory_rows(void *ctx, uint64_t r0, uint64_t nr, const float *proba,
                       const int32_t *label)
{
    memory_out *mo = ctx;
    sisa_prediction *p = mo->p;
    memcpy(p->proba + r0 * p->classes, proba, nr * p->classes * sizeof *proba);
    memcpy(p->label + r0, label, nr * sizeof *label);
    return SISA_OK;
}

int sisa_predict(sisa_prediction *out, sisa_handle *h, const float *x, uint64_t n, uint64_t d)
{
    int err = SISA_OK;
    sisa_dist *dist = dist_of(h);
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_run_ensemble e;
    memset(&e, 0, sizeof e);
    memset(out, 0, sizeof *out);
    memory_out mo = {out};
    const sisa_run_open_opts oo = open_opts(h, NULL);
    SISA_TRY(sisa_run_open_store(dist, &st, &cfg, label_of(h), SISA_STORE_READ, &oo));
    const sisa_run_input in = {.x = x, .n = n, .d = d};
    const sisa_run_sink sink = {memory_start, NULL, memory_rows, &mo};
    SISA_TRY(sisa_run_ensemble_stream(dist, &st, &in, &e, &sink));
done:
    if (err < 0) sisa_prediction_free(out);
    sisa_run_ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}

void sisa_prediction_free(sisa_prediction *p)
{
    if (!p) return;
    sisa_free(p->proba);
    sisa_free(p->label);
    sisa_free(p->shards);
    memset(p, 0, sizeof *p);
}

static void shards_used_text(const sisa_run_ensemble *e, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t m = 0; m < e->n_models && used + 12 < cap; m++)
        used += (size_t)snprintf(out + used, cap - used, "%s%u", m ? "," : "", e->models[m].shard);
}

/* sisa_predict_file's sink: the prediction file (or CSV), written as the rows stream in. */
typedef struct {
    const char *output;
    int force, per_shard, csv;
    const sisa_store *st;
    sisa_pred_writer *w;
    uint32_t *shard_ids;
    /* CSV */
    FILE *f; /* stdout or the temp file */
    char tmp[SISA_PATH_MAX];
    const uint64_t *id;
    uint32_t classes;
} predict_out;

static int csv_fail(predict_out *po)
{
    return SISA_ERR(SISA_EIO, "cannot write the predictions to %s: %s",
                    po->f == stdout ? "standard output" : po->tmp, strerror(errno));
}

/* CSV: a header "id,label,p0,...,pC-1", then a line per row, the posteriors with 9 significant
 * digits (enough to read every float32 back exactly). "-" is standard output; a file is written
 * to a temp file and published at the end. */
static int csv_start(predict_out *po, const sisa_run_ensemble *e)
{
    int err = SISA_OK;
    po->id = e->id;
    po->classes = e->classes;
    if (!strcmp(po->output, "-")) {
        po->f = stdout;
    } else {
        SISA_CHECK(po->force || !sisa_fs_exists(po->output), SISA_EEXIST,
                   "%s already exists (pass --force to replace it)", po->output);
        sisa_fs_clean_stale_tmps(po->output);
        SISA_TRY(sisa_fs_tmp_create(po->tmp, sizeof po->tmp, po->output));
        po->f = fopen(po->tmp, "w");
        SISA_CHECK(po->f, SISA_EIO, "cannot open %s: %s", po->tmp, strerror(errno));
    }
    fputs("id,label", po->f);
    for (uint32_t c = 0; c < e->classes; c++) fprintf(po->f, ",p%u", c);
    if (fputc('\n', po->f) == EOF) err = csv_fail(po);
done:
    return err;
}

static int csv_rows(predict_out *po, uint64_t r0, uint64_t nr, const float *proba,
                    const int32_t *label)
{
    for (uint64_t i = 0; i < nr; i++) {
        const uint64_t r = r0 + i;
        fprintf(po->f, "%llu,%d", (unsigned long long)(po->id ? po->id[r] : r), label[i]);
        for (uint32_t c = 0; c < po->classes; c++)
            fprintf(po->f, ",%.9g", (double)proba[i * po->classes + c]);
        fputc('\n', po->f);
    }
    return ferror(po->f) ? csv_fail(po) : SISA_OK;
}

static int csv_commit(predict_out *po)
{
    int err = SISA_OK;
    FILE *f = po->f;
    po->f = NULL;
    if (f == stdout) {
        SISA_CHECK(fflush(stdout) == 0 && !ferror(stdout), SISA_EIO,
                   "cannot write the predictions to standard output: %s", strerror(errno));
        goto done;
    }
    const int bad = fflush(f) != 0 || ferror(f);
    SISA_CHECK(fclose(f) == 0 && !bad, SISA_EIO, "cannot write %s: %s", po->tmp, strerror(errno));
    SISA_TRY(sisa_fs_publish(po->tmp, po->output, po->force));
    po->tmp[0] = '\0';
done:
    return err;
}

static void csv_discard(predict_out *po)
{
    if (po->f && po->f != stdout) fclose(po->f);
    po->f = NULL;
    if (po->tmp[0]) sisa_fs_remove_quiet(po->tmp);
    po->tmp[0] = '\0';
}

static int predict_start(void *ctx, const sisa_run_ensemble *e)
{
    int err = SISA_OK;
    predict_out *po = ctx;
    char used[4096];
    if (po->csv) return csv_start(po, e);
    shards_used_text(e, used, sizeof used);
    po->shard_ids = sisa_malloc(e->n_models * sizeof *po->shard_ids);
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
    if (po->csv) return csv_rows(po, r0, nr, proba, label);
    return sisa_pred_write_rows(po->w, r0, nr, proba, label);
}

/* The output format: opts->format, else by the output's name. */
static int output_format(const char *output, const sisa_predict_file_opts *o, int *csv)
{
    int err = SISA_OK;
    const char *format = o ? o->format : NULL;
    const size_t ol = strlen(output);
    if (!format)
        format =
            !strcmp(output, "-") || (ol > 4 && !strcasecmp(output + ol - 4, ".csv")) ? "csv" : "h5";
    SISA_CHECK(!strcmp(format, "h5") || !strcmp(format, "csv"), SISA_EUSAGE,
               "output format '%s' is not h5 or csv", format);
    *csv = !strcmp(format, "csv");
    SISA_CHECK(*csv || strcmp(output, "-"), SISA_EUSAGE,
               "'-' (standard output) takes CSV; an HDF5 prediction file needs a file name");
    SISA_CHECK(!(*csv && o && o->per_shard), SISA_EUSAGE,
               "each shard's posteriors (--per-shard) need the HDF5 output format");
done:
    return err;
}

/* Rank 0: what the input is and, unless it is a sisa dataset file to stream, its rows in
 * memory. Every rank learns the kind and whether the rows are in memory. */
static int predict_input(sisa_dist *d, const sisa_store *st, const char *input,
                         const sisa_predict_file_opts *o, sisa_run_input_kind *kind,
                         sisa_dataset **rows, int *in_memory)
{
    int err = SISA_OK, local = SISA_OK;
    int32_t k[2] = {0, 0};
    *rows = NULL;
    if (sisa_dist_rank(d) == 0) {
        const sisa_run_foreign_opts fo = {
            .id = o ? o->id : NULL,
            .x = o ? o->x : NULL,
            .delimiter = o ? o->delimiter : 0,
            .scale = o ? o->scale : 0,
        };
        local = sisa_run_predict_prepare(st, input, o ? o->input_format : NULL, &fo, kind, rows);
        k[0] = (int32_t)*kind;
        k[1] = *rows != NULL;
    }
    SISA_TRY(sisa_dist_agree(d, local));
    SISA_TRY(sisa_dist_bcast(d, k, sizeof k, 0));
    *kind = (sisa_run_input_kind)k[0];
    *in_memory = k[1];
done:
    return err;
}

int sisa_predict_file(sisa_predict_file_report *out, sisa_handle *h, const char *input,
                      const char *output, const sisa_predict_file_opts *opts)
{
    int err = SISA_OK;
    sisa_dist *d = dist_of(h);
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_run_ensemble e;
    predict_out po = {0};
    sisa_dataset *rows = NULL;
    sisa_run_input_kind kind = SISA_INPUT_SISA;
    memset(&e, 0, sizeof e);
    if (out) memset(out, 0, sizeof *out);
    SISA_CHECK(input && output, SISA_EUSAGE, "predict: no input or no output given");
    SISA_TRY(output_format(output, opts, &po.csv));
    const sisa_run_open_opts oo = open_opts(h, NULL);
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, label_of(h), SISA_STORE_READ, &oo));
    po.output = output;
    po.force = opts ? opts->force : 0;
    po.per_shard = opts ? opts->per_shard : 0;
    po.st = &st;
    int in_memory = 0;
    SISA_TRY(predict_input(d, &st, input, opts, &kind, &rows, &in_memory));
    sisa_run_input in = {.path = input, .any = 1};
    if (in_memory)
        in = (sisa_run_input){.x = rows ? rows->X : NULL,
                              .n = rows ? rows->n : 0,
                              .d = rows ? rows->d : 0,
                              .id = rows ? rows->id : NULL};
    const sisa_run_sink sink = {predict_start, predict_model_rows, predict_ens_rows, &po};
    SISA_TRY(sisa_run_ensemble_stream(d, &st, &in, &e, &sink));
    if (sisa_dist_rank(d) != 0) goto done;
    if (po.csv) {
        SISA_TRY(csv_commit(&po));
    } else {
        err = sisa_pred_commit(po.w);
        po.w = NULL;
        SISA_TRY(err);
    }
    sisa_debug("predict: peak memory %.1f MB on rank 0", (double)sisa_run_peak_rss() / 1e6);
    if (out) {
        out->rows = e.n;
        out->n_models = e.n_models;
        out->shards_total = (uint32_t)cfg.sisa.shards;
        snprintf(out->strategy, sizeof out->strategy, "%s",
                 sisa_strategy_name(cfg.aggregate.strategy));
        snprintf(out->input_format, sizeof out->input_format, "%s", sisa_run_input_kind_name(kind));
        snprintf(out->format, sizeof out->format, "%s", po.csv ? "csv" : "h5");
    }
done:
    csv_discard(&po);
    sisa_pred_discard(po.w);
    sisa_free(po.shard_ids);
    sisa_dataset_free(rows);
    sisa_run_ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}

/* sisa_eval's sink: hits of the ensemble and of every model, the confusion matrix, the
 * log-loss and the shards' agreement, counted as the rows stream in (a chunk's model rows come
 * before its ensemble rows). */
typedef struct {
    const int32_t *y;
    uint32_t classes, models;
    uint64_t ens_hits;
    uint64_t *hits;      /* (models) */
    uint64_t *confusion; /* (classes x classes) */
    double log_loss;     /* sum */
    uint32_t *votes;     /* (chunk rows x classes) the shard models' labels of the chunk */
    uint64_t votes_cap, chunk_r0;
    double agreement; /* sum over rows of the share of models agreeing with the ensemble */
    uint64_t unanimous;
} eval_counts;

static int eval_start(void *ctx, const sisa_run_ensemble *e)
{
    eval_counts *ec = ctx;
    ec->y = e->y;
    ec->classes = e->classes;
    ec->models = e->n_models;
    ec->hits = sisa_calloc(e->n_models ? e->n_models : 1, sizeof *ec->hits);
    ec->confusion = sisa_calloc((size_t)e->classes * e->classes, sizeof *ec->confusion);
    ec->chunk_r0 = UINT64_MAX;
    return ec->hits && ec->confusion ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
}

static int eval_model_rows(void *ctx, uint32_t m, uint64_t r0, uint64_t nr, const float *proba)
{
    eval_counts *ec = ctx;
    const uint32_t C = ec->classes;
    if (r0 != ec->chunk_r0) { /* a new chunk: its votes start at zero */
        if (nr * C > ec->votes_cap) {
            sisa_free(ec->votes);
            ec->votes = sisa_malloc(nr * C * sizeof *ec->votes);
            if (!ec->votes) return SISA_ERR(SISA_ENOMEM, "out of memory");
            ec->votes_cap = nr * C;
        }
        memset(ec->votes, 0, nr * C * sizeof *ec->votes);
        ec->chunk_r0 = r0;
    }
    for (uint64_t i = 0; i < nr; i++) {
        const uint32_t l = sisa_argmax(proba + i * C, C);
        ec->hits[m] += (int32_t)l == ec->y[r0 + i];
        ec->votes[i * C + l]++;
    }
    return SISA_OK;
}

static int eval_ens_rows(void *ctx, uint64_t r0, uint64_t nr, const float *proba,
                         const int32_t *label)
{
    eval_counts *ec = ctx;
    const uint32_t C = ec->classes;
    for (uint64_t i = 0; i < nr; i++) {
        const int32_t y = ec->y[r0 + i];
        ec->ens_hits += label[i] == y;
        ec->confusion[(size_t)y * C + (uint32_t)label[i]]++;
        double p = proba[i * C + (uint32_t)y];
        ec->log_loss -= log(p > 1e-15 ? p : 1e-15);
        if (ec->votes && ec->chunk_r0 == r0 && ec->models) {
            const uint32_t agree = ec->votes[i * C + (uint32_t)label[i]];
            ec->agreement += (double)agree / ec->models;
            uint32_t top = 0;
            for (uint32_t c = 0; c < C; c++)
                if (ec->votes[i * C + c] > top) top = ec->votes[i * C + c];
            ec->unanimous += top == ec->models;
        }
    }
    return SISA_OK;
}

/* Per-class recall, precision and F1, and the macro F1, from the confusion matrix. */
static int eval_metrics(sisa_eval_report *out, const eval_counts *ec)
{
    const uint32_t C = ec->classes;
    out->classes = C;
    out->confusion = sisa_malloc((size_t)C * C * sizeof *out->confusion);
    out->support = sisa_calloc(C, sizeof *out->support);
    out->recall = sisa_malloc(C * sizeof *out->recall);
    out->precision = sisa_malloc(C * sizeof *out->precision);
    out->f1 = sisa_malloc(C * sizeof *out->f1);
    if (!out->confusion || !out->support || !out->recall || !out->precision || !out->f1)
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    memcpy(out->confusion, ec->confusion, (size_t)C * C * sizeof *out->confusion);
    double f1_sum = 0;
    uint32_t f1_n = 0;
    for (uint32_t c = 0; c < C; c++) {
        uint64_t predicted = 0, tp = ec->confusion[(size_t)c * C + c];
        for (uint32_t t = 0; t < C; t++) {
            out->support[c] += ec->confusion[(size_t)c * C + t];
            predicted += ec->confusion[(size_t)t * C + c];
        }
        out->recall[c] = out->support[c] ? (double)tp / (double)out->support[c] : NAN;
        out->precision[c] = predicted ? (double)tp / (double)predicted : NAN;
        const double r = out->support[c] ? out->recall[c] : 0,
                     p = predicted ? out->precision[c] : 0;
        out->f1[c] = p + r > 0 ? 2 * p * r / (p + r) : 0;
        if (out->support[c] || predicted) f1_sum += out->f1[c], f1_n++;
    }
    out->macro_f1 = f1_n ? f1_sum / f1_n : NAN;
    out->log_loss = out->rows ? ec->log_loss / (double)out->rows : NAN;
    out->agreement = out->rows ? ec->agreement / (double)out->rows : NAN;
    out->unanimous = out->rows ? (double)ec->unanimous / (double)out->rows : NAN;
    return SISA_OK;
}

int sisa_eval(sisa_eval_report *out, sisa_handle *h, const char *input)
{
    int err = SISA_OK;
    sisa_dist *d = dist_of(h);
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_run_ensemble e;
    sisa_dataset *rows = NULL;
    eval_counts ec = {0};
    memset(&e, 0, sizeof e);
    memset(out, 0, sizeof *out);
    const sisa_run_open_opts oo = open_opts(h, NULL);
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, label_of(h), SISA_STORE_READ, &oo));
    if (!input) {
        SISA_CHECK(cfg.data.test[0], SISA_EUSAGE,
                   "sisa eval: %s has no data.test; pass the test set with -i TEST.h5",
                   label_of(h) ? label_of(h) : "the config");
        input = cfg.data.test;
    }
    snprintf(out->input, sizeof out->input, "%s", input);
    sisa_run_input in = {.path = input};
    if (!strcmp(input, "-")) {
        /* standard input: read whole on rank 0, which the ensemble broadcasts as a matrix */
        SISA_TRY(sisa_run_stdin_rows(d, &st, "eval", NULL, 1, 0, &rows));
        int local = SISA_OK;
        if (rows && rows->num_classes > st.man.classes)
            local = SISA_ERR(SISA_ECORRUPT,
                             "standard input declares %d classes but store %s was trained on %d",
                             rows->num_classes, st.root, st.man.classes);
        SISA_TRY(sisa_dist_agree(d, local));
        in = (sisa_run_input){.path = NULL,
                              .x = rows ? rows->X : NULL,
                              .n = rows ? rows->n : 0,
                              .d = rows ? rows->d : 0,
                              .id = rows ? rows->id : NULL,
                              .y = rows ? rows->y : NULL};
        snprintf(out->input, sizeof out->input, "standard input");
    }
    const sisa_run_sink sink = {eval_start, eval_model_rows, eval_ens_rows, &ec};
    SISA_TRY(sisa_run_ensemble_stream(d, &st, &in, &e, &sink));
    if (sisa_dist_rank(d) != 0) goto done;
    out->rows = e.n;
    out->accuracy = e.n ? (double)ec.ens_hits / (double)e.n : 0.0;
    out->n_models = e.n_models;
    out->shards_total = (uint32_t)cfg.sisa.shards;
    snprintf(out->strategy, sizeof out->strategy, "%s", sisa_strategy_name(cfg.aggregate.strategy));
    out->models = sisa_calloc(e.n_models ? e.n_models : 1, sizeof *out->models);
    out->excluded = sisa_calloc(e.n_excluded ? e.n_excluded : 1, sizeof *out->excluded);
    SISA_CHECK(out->models && out->excluded, SISA_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < e.n_models; m++) {
        out->models[m].shard = e.models[m].shard;
        out->models[m].rows = e.models[m].rows;
        out->models[m].accuracy = e.n ? (double)ec.hits[m] / (double)e.n : 0.0;
    }
    out->n_excluded = e.n_excluded;
    for (uint32_t x = 0; x < e.n_excluded; x++) {
        out->excluded[x].shard = e.excluded[x];
        out->excluded[x].reason = e.why[x];
    }
    SISA_TRY(eval_metrics(out, &ec));
done:
    if (err < 0) sisa_eval_report_free(out);
    sisa_free(ec.hits);
    sisa_free(ec.confusion);
    sisa_free(ec.votes);
    sisa_dataset_free(rows);
    sisa_run_ensemble_free(&e);
    sisa_store_close(&st);
    return err;
}

void sisa_eval_report_free(sisa_eval_report *r)
{
    if (!r) return;
    sisa_free(r->models);
    sisa_free(r->excluded);
    sisa_free(r->confusion);
    sisa_free(r->support);
    sisa_free(r->recall);
    sisa_free(r->precision);
    sisa_free(r->f1);
    r->models = NULL;
    r->excluded = NULL;
    r->confusion = r->support = NULL;
    r->recall = r->precision = r->f1 = NULL;
    r->n_models = r->n_excluded = r->classes = 0;
}

/* ---- inspection and maintenance ---------------------------------------------------------- */

int sisa_status(sisa_status_report *out, sisa_handle *h, FILE *print, int json)
{
    sisa_status_report local;
    sisa_run_status_result r;
    int err = sisa_run_status(dist_of(h), label_of(h), &h->cfg, label_of(h), json, print, &r);
    if (!out) out = &local;
    out->shards = r.shards;
    out->shards_ready = r.shards_ready;
    out->slices = r.slices;
    out->rows = r.rows;
    out->deletions = r.deletions;
    out->deleted_rows = r.deleted_rows;
    out->damaged = r.damaged;
    return err;
}

int sisa_status_json(char **out, sisa_handle *h)
{
    int err = SISA_OK;
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    FILE *f = open_memstream(&buf, &len);
    SISA_CHECK(f, SISA_ENOMEM, "out of memory");
    err = sisa_status(NULL, h, f, 1);
    if (fclose(f) != 0 && err == SISA_OK) err = SISA_ERR(SISA_ENOMEM, "out of memory");
    if (err == SISA_OK || (err == SISA_ECORRUPT && buf && len)) {
        *out = buf;
        buf = NULL;
    }
done:
    free(buf); /* open_memstream's buffer is the C library's */
    return err;
}

int sisa_verify(sisa_verify_report *out, sisa_handle *h, const sisa_verify_opts *opts)
{
    const sisa_verify_opts none = {0};
    if (!opts) opts = &none;
    sisa_run_verify_result r;
    const sisa_run_verify_opts o = {opts->output, opts->force,  opts->scratch, opts->keep_scratch,
                                    opts->json,   h->opts.wait, opts->print};
    int err = sisa_run_verify(dist_of(h), label_of(h), &h->cfg, &o, &r);
    if (out) {
        memset(out, 0, sizeof *out);
        out->none = r.none;
        out->shards = r.shards;
        out->failed = r.failed;
        snprintf(out->certificate, sizeof out->certificate, "%s", r.certificate);
    }
    return err;
}

int sisa_outliers(sisa_outlier_report *out, sisa_handle *h, const sisa_outlier_opts *opts)
{
    if (!opts || !opts->method) return SISA_ERR(SISA_EUSAGE, "sisa_outliers: no method");
    const int lof = !strcmp(opts->method, "lof");
    if (!lof && strcmp(opts->method, "iforest"))
        return SISA_ERR(SISA_EUSAGE, "unknown outlier method '%s' (iforest or lof)", opts->method);
    if (opts->contamination != 0 && !(opts->contamination > 0 && opts->contamination < 0.5))
        return SISA_ERR(SISA_EUSAGE, "contamination %g is not in (0, 0.5)", opts->contamination);
    if (opts->contamination > 0 && opts->has_threshold)
        return SISA_ERR(SISA_EUSAGE, "give a contamination or a threshold, not both");
    if (opts->has_threshold && !isfinite(opts->threshold))
        return SISA_ERR(SISA_EUSAGE, "the threshold is not a finite number");
    int cosine = 0;
    if (opts->metric && strcmp(opts->metric, "euclidean")) {
        if (strcmp(opts->metric, "cosine"))
            return SISA_ERR(SISA_EUSAGE, "unknown metric '%s' (euclidean or cosine)", opts->metric);
        if (!lof) return SISA_ERR(SISA_EUSAGE, "a metric is lof's; iforest has none");
        cosine = 1;
    }
    sisa_run_outlier_opts o = {.lof = lof,
                               .trees = opts->trees ? opts->trees : 100,
                               .subsample = opts->subsample ? opts->subsample : 256,
                               .k = opts->k ? opts->k : 20,
                               .cosine = cosine,
                               .contamination = opts->contamination,
                               .threshold =
                                   opts->has_threshold ? opts->threshold : (lof ? 1.5 : 0.5),
                               .seed = opts->seed,
                               .has_seed = opts->has_seed,
                               .per_shard = opts->per_shard,
                               .ids_out = opts->ids_out,
                               .scores_out = opts->scores_out,
                               .force = opts->force,
                               .out = opts->print};
    if (o.subsample < 2) return SISA_ERR(SISA_EUSAGE, "the subsample must hold 2 rows or more");
    if (o.trees > 100000 || o.k > 10000)
        return SISA_ERR(SISA_EUSAGE, "at most 100000 trees and 10000 neighbours");
    sisa_run_outlier_result r;
    int err = sisa_run_outliers(dist_of(h), label_of(h), &h->cfg, &o, &r);
    if (out) {
        memset(out, 0, sizeof *out);
        out->rows = r.rows;
        out->flagged = r.flagged;
        out->threshold = r.threshold;
        snprintf(out->params, sizeof out->params, "%s", r.params);
        snprintf(out->params_sha256, sizeof out->params_sha256, "%s", r.params_sha256);
        snprintf(out->dataset_digest, sizeof out->dataset_digest, "%s", r.dataset_digest);
        out->deletions = r.deletions;
    }
    return err;
}

int sisa_log(sisa_log_report *out, sisa_handle *h, const sisa_log_opts *opts)
{
    const sisa_log_opts none = {0};
    if (!opts) opts = &none;
    if (opts->has_id && opts->has_group)
        return SISA_ERR(SISA_EUSAGE, "ask about a sample or a data subject, not both");
    const sisa_run_log_opts o = {opts->since, opts->has_id, opts->has_group, opts->id,
                                 opts->group, opts->json,   opts->print};
    sisa_run_log_result r;
    int err = sisa_run_log(dist_of(h), label_of(h), &h->cfg, &o, &r);
    if (out) {
        out->requests = r.requests;
        out->rows = r.rows;
        out->deleted = r.deleted;
        out->request = r.request;
    }
    return err;
}

int sisa_impact(sisa_impact_report *out, sisa_handle *h, const sisa_impact_opts *opts)
{
    if (!opts) return SISA_ERR(SISA_EUSAGE, "sisa_impact: no options");
    const sisa_deletion *w = &opts->rows;
    sisa_run_impact_opts o = {
        .del = {.ids_text = w->ids_text,
                .ids_file = w->ids_file,
                .groups_text = w->groups_text,
                .groups_file = w->groups_file,
                .ids = w->ids,
                .n_ids = w->n_ids,
                .groups = w->groups,
                .n_groups = w->n_groups,
                .dry_run = 1},
        .queries = opts->queries,
        .output = opts->output,
        .force = opts->force,
        .scratch = opts->scratch,
        .keep_scratch = opts->keep_scratch,
        .out = opts->print,
    };
    sisa_run_impact_result r;
    int err = sisa_run_impact(dist_of(h), label_of(h), &h->cfg, &o, &r);
    if (out) {
        memset(out, 0, sizeof *out);
        out->rows = r.rows;
        out->already = r.already;
        out->shards = r.n_shards;
        out->queries = r.queries;
        out->depending = r.depending;
        out->changed = r.changed;
        out->proba_changed = r.proba_changed;
        out->changed_independent = r.changed_independent;
    }
    return err;
}

int sisa_audit(int *pass, sisa_handle *h, const sisa_audit_opts *opts)
{
    const sisa_audit_opts none = {0};
    if (!opts) opts = &none;
    int ok = 0;
    const sisa_run_audit_opts o = {opts->head, opts->certificate, opts->dataset, opts->json,
                                   opts->print};
    int err = sisa_run_audit(dist_of(h), label_of(h), &h->cfg, label_of(h), &o, &ok);
    if (pass) *pass = ok;
    return err;
}

int sisa_repair(size_t *problems, sisa_handle *h, const sisa_repair_opts *opts)
{
    const sisa_repair_opts none = {0};
    if (!opts) opts = &none;
    size_t n = 0;
    const sisa_run_repair_opts o = {opts->dry_run, h->opts.wait, opts->json, opts->print};
    int err = sisa_run_repair(label_of(h), &h->cfg, label_of(h), &o, &n);
    if (problems) *problems = n;
    return err;
}
