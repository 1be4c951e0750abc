/*
 * gauge.c - `sisa gauge`: plan, members and score (sisa/gauge.h, docs/gauge.md).
 *
 * Files of a gauge folder DIR:
 *   plan.json            the plan: config, data, seed, N, methods, forget set size
 *   forget.txt           the forget set's sample IDs, ascending
 *   forget.h5, retain.h5 the training set split into the forget set and the rest (sisa
 *                        dataset files; the retrained populations train on retain.h5)
 *   work/task-K/         a member's scratch store while it runs
 *   members/task-K.json  a member's results (written atomically; its presence means done)
 *   gauge.tsv, gauge.h5  the scores
 * Member task K in [0, 3N) has role K / N (trained, retrain, retrain2) and seed plan seed + K,
 * so every model of every population has a seed of its own.
 */
#include "sisa/gauge.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/rng.h"
#include "gauge/approx.h"
#include "gauge/figures.h"
#include "gauge/score.h"
#include "io/arrays.h"
#include "sisa/config.h"
#include "sisa/dataset.h"
#include "sisa/error.h"
#include "sisa/sisa.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAN_FORMAT   "sisa-gauge-plan 1"
#define MEMBER_FORMAT "sisa-gauge-member 1"
#define MAX_METHODS   8
#define RNG_GAUGE     5 /* Philox domain of the gauge's draws (forget set, bootstrap) */
#define BOOTSTRAP     1000
#define ALPHA         0.05

static const char *const roles[3] = {"trained", "retrain", "retrain2"};

typedef struct {
    char dir[SISA_PATH_MAX];
    char config[SISA_PATH_MAX];
    char config_hash[65];
    char test[SISA_PATH_MAX];
    uint64_t seed;
    uint32_t models;
    uint32_t n_methods;
    char methods[MAX_METHODS][32];
    uint64_t *forget; /* (m) ascending */
    uint32_t m;
    sisa_gauge_approx_opts approx;
} gplan;

static void gplan_free(gplan *p)
{
    sisa_free(p->forget);
    p->forget = NULL;
}

static int path_in(char *out, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, SISA_PATH_MAX, "%s/%s", dir, name) >= SISA_PATH_MAX)
        return SISA_ERR(SISA_EUSAGE, "path too long: %s/%s", dir, name);
    return SISA_OK;
}

/* ---- methods -------------------------------------------------------------------------------- */

static const char *const known_methods[] = {"exact", "none"};
#define METHOD_LIST "exact, none, finetune, gradient-ascent, neggrad, random-labels"

static int parse_methods(gplan *p, const char *list)
{
    const char *s = list ? list : "exact,none";
    p->n_methods = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        char name[32];
        if (len == 0 || len >= sizeof name)
            return SISA_ERR(SISA_EUSAGE, "--methods: bad list '%s' (comma-separated names)", list);
        memcpy(name, s, len);
        name[len] = 0;
        int ok = 0;
        for (size_t k = 0; k < sizeof known_methods / sizeof *known_methods; k++)
            ok |= !strcmp(name, known_methods[k]);
        ok |= sisa_gauge_approx_known(name);
        if (!ok)
            return SISA_ERR(SISA_EUSAGE, "--methods: unknown method '%s'; available: " METHOD_LIST,
                            name);
        for (uint32_t k = 0; k < p->n_methods; k++)
            if (!strcmp(p->methods[k], name))
                return SISA_ERR(SISA_EUSAGE, "--methods: '%s' given twice", name);
        if (p->n_methods == MAX_METHODS)
            return SISA_ERR(SISA_EUSAGE, "--methods: at most %d methods", MAX_METHODS);
        memcpy(p->methods[p->n_methods++], name, len + 1);
        s += len;
        if (*s == ',') s++;
    }
    if (p->n_methods == 0) return SISA_ERR(SISA_EUSAGE, "--methods: no method given");
    return SISA_OK;
}

static int has_method(const gplan *p, const char *name)
{
    for (uint32_t k = 0; k < p->n_methods; k++)
        if (!strcmp(p->methods[k], name)) return 1;
    return 0;
}

/* ---- the forget set ------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int in_sorted(const uint64_t *v, uint32_t n, uint64_t x)
{
    return bsearch(&x, v, n, sizeof *v, cmp_u64) != NULL;
}

/* IDs from a file, one per line, '#' comments; every one must be a training row's. */
static int forget_from_file(gplan *p, const char *path, const sisa_dataset *ds)
{
    int err = SISA_OK;
    char *text = NULL;
    uint64_t *sorted_ids = NULL;
    size_t len = 0, cap = 0;
    SISA_TRY(
        sisa_fs_read_all(&text, &len, strcmp(path, "-") ? path : "/dev/stdin", (size_t)1 << 30));
    if (!strcmp(path, "-")) path = "standard input";
    sorted_ids = sisa_malloc((ds->n ? ds->n : 1) * sizeof *sorted_ids);
    SISA_CHECK(sorted_ids, SISA_ENOMEM, "out of memory");
    memcpy(sorted_ids, ds->id, ds->n * sizeof *sorted_ids);
    qsort(sorted_ids, ds->n, sizeof *sorted_ids, cmp_u64);
    size_t line = 0;
    for (char *s = text; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        line++;
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        char *a = s;
        while (*a == ' ' || *a == '\t' || *a == '\r') a++;
        char *e = a + strlen(a);
        while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
        if (*a) {
            uint64_t id;
            SISA_CHECK(sisa_text_u64(&id, a) == SISA_OK, SISA_EUSAGE,
                       "%s:%zu: '%s' is not a sample ID (a non-negative integer)", path, line, a);
            SISA_CHECK(in_sorted(sorted_ids, (uint32_t)ds->n, id), SISA_EREJECT,
                       "%s:%zu: sample ID %llu is not in the training set %s", path, line,
                       (unsigned long long)id, ds->source[0] ? ds->source : "");
            if (p->m == cap) {
                size_t nc = cap ? 2 * cap : 1024;
                uint64_t *nf = sisa_realloc(p->forget, nc * sizeof *nf);
                SISA_CHECK(nf, SISA_ENOMEM, "out of memory");
                p->forget = nf;
                cap = nc;
            }
            p->forget[p->m++] = id;
        }
        s = nl ? nl + 1 : NULL;
    }
    SISA_CHECK(p->m > 0, SISA_EUSAGE, "%s: no sample IDs", path);
    qsort(p->forget, p->m, sizeof *p->forget, cmp_u64);
    uint32_t u = 0;
    for (uint32_t k = 0; k < p->m; k++)
        if (k == 0 || p->forget[k] != p->forget[u - 1]) p->forget[u++] = p->forget[k];
    p->m = u;
done:
    sisa_free(sorted_ids);
    sisa_free(text);
    return err;
}

static int forget_random(gplan *p, double fraction, const sisa_dataset *ds)
{
    int err = SISA_OK;
    uint32_t *idx = NULL;
    SISA_CHECK(fraction > 0 && fraction < 1, SISA_EUSAGE,
               "--forget-random: %g is not a fraction in (0, 1)", fraction);
    SISA_CHECK(ds->n < UINT32_MAX, SISA_EUSAGE, "--forget-random: too many rows (%llu)",
               (unsigned long long)ds->n);
    uint64_t m = (uint64_t)llround(fraction * (double)ds->n);
    if (m == 0) m = 1;
    SISA_CHECK(m < ds->n, SISA_EUSAGE, "--forget-random %g leaves no training rows", fraction);
    idx = sisa_malloc(ds->n * sizeof *idx);
    p->forget = sisa_malloc(m * sizeof *p->forget);
    SISA_CHECK(idx && p->forget, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < ds->n; k++) idx[k] = k;
    sisa_rng r;
    sisa_rng_init(&r, p->seed, RNG_GAUGE, 0, 0, 0);
    sisa_rng_shuffle(&r, idx, (uint32_t)ds->n);
    for (uint64_t k = 0; k < m; k++) p->forget[k] = ds->id[idx[k]];
    p->m = (uint32_t)m;
    qsort(p->forget, p->m, sizeof *p->forget, cmp_u64);
done:
    sisa_free(idx);
    return err;
}

/* Write the rows of `ds` whose ID is (keep_forget) or is not (!keep_forget) in the forget set. */
static int write_split(const char *path, const sisa_dataset *ds, const gplan *p, int keep_forget)
{
    int err = SISA_OK;
    sisa_dataset_writer *w = NULL;
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.replace = 1;
    o.has_group = ds->group != NULL;
    o.num_classes = ds->num_classes;
    o.source = ds->source;
    o.feature_rank = ds->feature_rank;
    memcpy(o.feature_shape, ds->feature_shape, sizeof o.feature_shape);
    SISA_TRY(sisa_dataset_writer_open(&w, path, ds->d, &o));
    for (uint64_t r = 0; r < ds->n; r++) {
        if (in_sorted(p->forget, p->m, ds->id[r]) != keep_forget) continue;
        int64_t y = ds->y[r];
        SISA_TRY(sisa_dataset_writer_append(w, ds->X + r * ds->d, &y, &ds->id[r],
                                            ds->group ? &ds->group[r] : NULL, 1));
    }
    err = sisa_dataset_writer_commit(w, NULL);
    w = NULL;
done:
    sisa_dataset_writer_abort(w);
    return err;
}

/* ---- plan.json ------------------------------------------------------------------------------ */

static int write_plan(const gplan *p, const char *train)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], num[256];
    sisa_jw w;
    sisa_jw_init(&w);
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "format", 1);
    sisa_jw_str(&w, PLAN_FORMAT);
    sisa_jw_key(&w, "config", 0);
    sisa_jw_str(&w, p->config);
    sisa_jw_key(&w, "config_hash", 0);
    sisa_jw_str(&w, p->config_hash);
    sisa_jw_key(&w, "train", 0);
    sisa_jw_str(&w, train);
    sisa_jw_key(&w, "test", 0);
    sisa_jw_str(&w, p->test);
    sisa_jw_key(&w, "seed", 0);
    sisa_jw_u64(&w, p->seed);
    sisa_jw_key(&w, "models", 0);
    sisa_jw_u64(&w, p->models);
    sisa_jw_key(&w, "tasks", 0);
    sisa_jw_u64(&w, 3ull * p->models);
    sisa_jw_key(&w, "forget", 0);
    sisa_jw_u64(&w, p->m);
    snprintf(num, sizeof num,
             ", \"ascent_lr\": %.17g, \"ascent_steps\": %u, \"neggrad_beta\": %.17g",
             p->approx.ascent_lr, p->approx.ascent_steps, p->approx.beta);
    sisa_jw_raw(&w, num);
    sisa_jw_key(&w, "methods", 0);
    sisa_jw_raw(&w, "[");
    for (uint32_t k = 0; k < p->n_methods; k++) {
        if (k) sisa_jw_raw(&w, ",");
        sisa_jw_str(&w, p->methods[k]);
    }
    sisa_jw_raw(&w, "],\n \"roles\": [");
    for (int r = 0; r < 3; r++) {
        snprintf(num, sizeof num,
                 "%s{\"role\": \"%s\", \"first_task\": %llu, \"first_seed\": ", r ? ", " : "",
                 roles[r], (unsigned long long)r * p->models);
        sisa_jw_raw(&w, num);
        sisa_jw_u64(&w, p->seed + (uint64_t)r * p->models);
        sisa_jw_raw(&w, "}");
    }
    sisa_jw_raw(&w, "]}\n");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(path_in(path, p->dir, "plan.json"));
    SISA_TRY(sisa_fs_write_atomic(path, w.buf, w.len, 0));
done:
    sisa_jw_free(&w);
    return err;
}

static int json_double(const sisa_json *j, double *out)
{
    if (!j || j->type != SISA_JSON_NUMBER) return 0;
    char *end;
    *out = strtod(j->str, &end);
    return *end == 0;
}

static int read_plan(gplan *p, const char *dir)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len;
    sisa_json *j = NULL;
    const char *s;
    uint64_t v;
    memset(p, 0, sizeof *p);
    SISA_CHECK(strlen(dir) < sizeof p->dir, SISA_EUSAGE, "path too long: %s", dir);
    strcpy(p->dir, dir);
    SISA_TRY(path_in(path, dir, "plan.json"));
    SISA_CHECK(sisa_fs_exists(path), SISA_EUSAGE,
               "%s: no gauge plan here (make one with sisa gauge plan)", dir);
    SISA_TRY(sisa_fs_read_all(&text, &len, path, 1 << 20));
    SISA_TRY(sisa_json_parse(&j, text, len, path));
    SISA_CHECK(sisa_json_str(j, "format", &s) && !strcmp(s, PLAN_FORMAT), SISA_ECORRUPT,
               "%s: not a gauge plan of this version (format \"%s\" expected)", path, PLAN_FORMAT);
#define GET_STR(key, dst)                                                                          \
    SISA_CHECK(sisa_json_str(j, key, &s) && strlen(s) < sizeof(dst), SISA_ECORRUPT,                \
               "%s: missing or bad \"%s\"", path, key);                                            \
    strcpy(dst, s)
    GET_STR("config", p->config);
    GET_STR("config_hash", p->config_hash);
    GET_STR("test", p->test);
#undef GET_STR
    SISA_CHECK(sisa_json_u64(j, "seed", &p->seed), SISA_ECORRUPT, "%s: bad \"seed\"", path);
    SISA_CHECK(sisa_json_u64(j, "models", &v) && v >= 3 && v <= 100000, SISA_ECORRUPT,
               "%s: bad \"models\"", path);
    p->models = (uint32_t)v;
    const sisa_json *ms = sisa_json_get(j, "methods");
    SISA_CHECK(ms && ms->type == SISA_JSON_ARRAY && ms->count >= 1 && ms->count <= MAX_METHODS,
               SISA_ECORRUPT, "%s: bad \"methods\"", path);
    for (const sisa_json *e = ms->kid; e; e = e->next) {
        SISA_CHECK(e->type == SISA_JSON_STRING && strlen(e->str) < 32, SISA_ECORRUPT,
                   "%s: bad method name", path);
        strcpy(p->methods[p->n_methods++], e->str);
    }
    SISA_CHECK(sisa_json_u64(j, "forget", &v) && v >= 1 && v < UINT32_MAX, SISA_ECORRUPT,
               "%s: bad \"forget\"", path);
    p->m = (uint32_t)v;
    SISA_CHECK(json_double(sisa_json_get(j, "ascent_lr"), &p->approx.ascent_lr) &&
                   p->approx.ascent_lr > 0 && sisa_json_u64(j, "ascent_steps", &v) && v >= 1 &&
                   v <= UINT32_MAX &&
                   json_double(sisa_json_get(j, "neggrad_beta"), &p->approx.beta) &&
                   p->approx.beta > 0 && p->approx.beta < 1,
               SISA_ECORRUPT, "%s: bad approximate methods' parameters", path);
    p->approx.ascent_steps = (uint32_t)v;
    sisa_free(text);
    text = NULL;

    /* forget.txt: the IDs, one per line */
    SISA_TRY(path_in(path, dir, "forget.txt"));
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    p->forget = sisa_malloc(p->m * sizeof *p->forget);
    SISA_CHECK(p->forget, SISA_ENOMEM, "out of memory");
    uint32_t n = 0;
    for (char *t = text; *t;) {
        char *nl = strchr(t, '\n');
        SISA_CHECK(nl, SISA_ECORRUPT, "%s: truncated", path);
        *nl = 0;
        if (*t != '#') {
            SISA_CHECK(n < p->m && sisa_text_u64(&p->forget[n], t) == SISA_OK, SISA_ECORRUPT,
                       "%s: bad line '%s' (or more IDs than plan.json's %u)", path, t, p->m);
            n++;
        }
        t = nl + 1;
    }
    SISA_CHECK(n == p->m, SISA_ECORRUPT, "%s: %u IDs, plan.json says %u", path, n, p->m);
done:
    sisa_json_free(j);
    sisa_free(text);
    if (err) gplan_free(p);
    return err;
}

int sisa_gauge_tasks(const char *dir, uint32_t *tasks)
{
    gplan p;
    int err = read_plan(&p, dir);
    if (err) return err;
    *tasks = 3 * p.models;
    gplan_free(&p);
    return SISA_OK;
}

int sisa_gauge_plan_config(const char *dir, char *out, size_t cap)
{
    gplan p;
    int err = read_plan(&p, dir);
    if (err) return err;
    if (strlen(p.config) >= cap) err = SISA_ERR(SISA_EUSAGE, "path too long: %s", p.config);
    if (!err) strcpy(out, p.config);
    gplan_free(&p);
    return err;
}

int sisa_gauge_plan(const sisa_gauge_plan_opts *o, FILE *print)
{
    int err = SISA_OK;
    gplan p;
    sisa_config *cfg = NULL;
    sisa_dataset *ds = NULL;
    char path[SISA_PATH_MAX];
    sisa_jw w;
    sisa_jw_init(&w);
    memset(&p, 0, sizeof p);
    SISA_CHECK(o->config && o->dir, SISA_EUSAGE,
               "sisa gauge plan: -c CONFIG and -o DIR are needed");
    SISA_CHECK(o->models >= 3 && o->models <= 100000, SISA_EUSAGE,
               "--models: %u is not in 3..100000 (models per population)", o->models);
    SISA_CHECK(!o->forget_ids != !(o->forget_fraction > 0), SISA_EUSAGE,
               "give either --forget-ids FILE or --forget-random FRACTION");
    SISA_TRY(parse_methods(&p, o->methods));
    cfg = sisa_malloc(sizeof *cfg);
    SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_config_load(cfg, o->config));
    SISA_CHECK(cfg->data.test[0], SISA_ECONFIG,
               "%s: the gauge needs data.test (its test accuracy and its non-members)", o->config);
    SISA_CHECK(cfg->model.type != SISA_MODEL_KNN, SISA_ECONFIG,
               "%s: the gauge compares trained models with approximate unlearning methods; "
               "model.type knn trains nothing (its deletion is exact by construction: use "
               "sisa impact to see what a deletion changes)",
               o->config);
    SISA_TRY(sisa_path_absolute(p.config, sizeof p.config, o->config));
    sisa_config_hash(cfg, p.config_hash);
    strcpy(p.test, cfg->data.test);
    p.seed = o->has_seed ? o->seed : cfg->seed;
    p.models = o->models;
    p.approx.ascent_lr = o->ascent_lr > 0 ? o->ascent_lr : 1e-3;
    p.approx.ascent_steps = o->ascent_steps ? o->ascent_steps : 10;
    p.approx.beta = o->neggrad_beta > 0 ? o->neggrad_beta : 0.9;
    SISA_CHECK(isfinite(p.approx.ascent_lr) && p.approx.beta < 1, SISA_EUSAGE,
               "--ascent-lr must be a positive number and --neggrad-beta in (0, 1)");
    SISA_CHECK(p.seed <= UINT64_MAX - 3ull * p.models, SISA_EUSAGE, "--seed %llu is too large",
               (unsigned long long)p.seed);
    SISA_TRY(sisa_path_absolute(p.dir, sizeof p.dir, o->dir));
    SISA_TRY(sisa_fs_mkdir_p(p.dir));
    SISA_TRY(path_in(path, p.dir, "plan.json"));
    SISA_CHECK(!sisa_fs_exists(path), SISA_EEXIST,
               "%s already holds a gauge plan; choose another folder (a plan is never replaced: "
               "its members' results belong to it)",
               p.dir);

    SISA_TRY(sisa_dataset_read(&ds, cfg->data.train));
    if (o->forget_ids)
        SISA_TRY(forget_from_file(&p, o->forget_ids, ds));
    else
        SISA_TRY(forget_random(&p, o->forget_fraction, ds));
    SISA_CHECK(p.m < ds->n, SISA_EUSAGE, "the forget set holds every training row");

    SISA_TRY(path_in(path, p.dir, "forget.h5"));
    SISA_TRY(write_split(path, ds, &p, 1));
    SISA_TRY(path_in(path, p.dir, "retain.h5"));
    SISA_TRY(write_split(path, ds, &p, 0));
    sisa_jw_raw(&w, "# sisa gauge: the forget set's sample IDs\n");
    for (uint32_t k = 0; k < p.m; k++) {
        sisa_jw_u64(&w, p.forget[k]);
        sisa_jw_raw(&w, "\n");
    }
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(path_in(path, p.dir, "forget.txt"));
    SISA_TRY(sisa_fs_write_atomic(path, w.buf, w.len, 1));
    SISA_TRY(write_plan(&p, cfg->data.train));
    if (print)
        fprintf(print,
                "gauge plan in %s: forget %u of %llu training rows; %u models per population "
                "(trained, retrain, retrain2), seeds %llu..%llu; methods",
                p.dir, p.m, (unsigned long long)ds->n, p.models, (unsigned long long)p.seed,
                (unsigned long long)(p.seed + 3ull * p.models - 1));
    for (uint32_t k = 0; print && k < p.n_methods; k++)
        fprintf(print, "%s %s", k ? "," : "", p.methods[k]);
    if (print)
        fprintf(print,
                "\nnext: sisa gauge member %s --task K for K = 0..%u (or --all), then sisa gauge "
                "score %s\n",
                p.dir, 3 * p.models - 1, p.dir);
done:
    sisa_jw_free(&w);
    sisa_dataset_free(ds);
    sisa_free(cfg);
    gplan_free(&p);
    return err;
}

/* ---- members -------------------------------------------------------------------------------- */

typedef struct {
    const sisa_dataset *forget, *retain, *test;
    sisa_gauge_work work;
    double *loss_f, *loss_t;
} evalset;

/* What a record predicts with: the store through the API, or an approximate method's ensemble
 * in memory. */
typedef struct {
    sisa_handle *h;
    sisa_gauge_ensemble *ens;
} predictor;

static int accuracy(double *out, const predictor *pd, const sisa_dataset *ds, float **proba_out)
{
    int err = SISA_OK;
    sisa_prediction pr;
    memset(&pr, 0, sizeof pr);
    if (pd->h) {
        SISA_TRY(sisa_predict(&pr, pd->h, ds->X, ds->n, ds->d));
    } else {
        pr.proba = sisa_malloc(ds->n * (size_t)ds->num_classes * sizeof *pr.proba);
        pr.label = sisa_malloc(ds->n * sizeof *pr.label);
        SISA_CHECK(pr.proba && pr.label, SISA_ENOMEM, "out of memory");
        SISA_TRY(sisa_gauge_ensemble_predict(pd->ens, ds->X, ds->n, ds->d, pr.proba, pr.label));
    }
    uint64_t hit = 0;
    for (uint64_t r = 0; r < ds->n; r++) hit += pr.label[r] == ds->y[r];
    *out = (double)hit / (double)ds->n;
    if (proba_out) {
        *proba_out = pr.proba;
        pr.proba = NULL;
    }
done:
    sisa_prediction_free(&pr);
    return err;
}

/* One record of a member: the model in `h` on the forget, retain and test sets. */
static int record(sisa_jw *w, const char *method, const predictor *h, evalset *e, int first)
{
    int err = SISA_OK;
    float *pf = NULL, *pt = NULL;
    double acc_f, acc_r, acc_t;
    char num[64];
    uint32_t C = 0;
    SISA_TRY(accuracy(&acc_f, h, e->forget, &pf));
    SISA_TRY(accuracy(&acc_r, h, e->retain, NULL));
    SISA_TRY(accuracy(&acc_t, h, e->test, &pt));
    C = (uint32_t)e->forget->num_classes;
    for (uint64_t r = 0; r < e->test->n; r++) {
        double py = pt[r * (uint32_t)e->test->num_classes + (uint32_t)e->test->y[r]];
        e->loss_t[r] = -log(py < SISA_GAUGE_P_CLIP ? SISA_GAUGE_P_CLIP : py);
    }
    sisa_jw_raw(w, first ? "\n  {" : ",\n  {");
    sisa_jw_key(w, "method", 1);
    sisa_jw_str(w, method);
    if (!h->h) sisa_jw_raw(w, ", \"approximate\": \"not an erasure\"");
    for (uint64_t r = 0; r < e->forget->n; r++) {
        double py = pf[r * C + (uint32_t)e->forget->y[r]];
        e->loss_f[r] = -log(py < SISA_GAUGE_P_CLIP ? SISA_GAUGE_P_CLIP : py);
    }
    double auc = sisa_gauge_auc(e->loss_f, e->forget->n, e->loss_t, e->test->n, &e->work);
    const char *keys[4] = {"acc_forget", "acc_retain", "acc_test", "mia_auc"};
    double vals[4] = {acc_f, acc_r, acc_t, auc};
    for (int k = 0; k < 4; k++) {
        sisa_jw_key(w, keys[k], 0);
        snprintf(num, sizeof num, "%.17g", vals[k]);
        sisa_jw_raw(w, num);
    }
    sisa_jw_key(w, "s", 0);
    sisa_jw_raw(w, "[");
    for (uint64_t r = 0; r < e->forget->n; r++) {
        double py = pf[r * C + (uint32_t)e->forget->y[r]];
        snprintf(num, sizeof num, "%s%.17g", r ? "," : "", sisa_gauge_logit(py));
        sisa_jw_raw(w, num);
    }
    sisa_jw_raw(w, "]}");
done:
    free(pf);
    free(pt);
    return err;
}

static int member_path(char *out, const char *dir, const char *sub, uint32_t task, const char *ext)
{
    if ((size_t)snprintf(out, SISA_PATH_MAX, "%s/%s/task-%05u%s", dir, sub, task, ext) >=
        SISA_PATH_MAX)
        return SISA_ERR(SISA_EUSAGE, "path too long in %s", dir);
    return SISA_OK;
}

int sisa_gauge_member(const char *dir, uint32_t task, FILE *print)
{
    int err = SISA_OK;
    gplan p;
    sisa_config *cfg = NULL;
    sisa_handle *h = NULL;
    sisa_dataset *dforget = NULL, *dretain = NULL, *dtest = NULL;
    evalset e;
    sisa_jw w;
    char path[SISA_PATH_MAX], work[SISA_PATH_MAX], hash[65], num[160];
    int have_plan = 0;
    memset(&e, 0, sizeof e);
    sisa_jw_init(&w);
    SISA_TRY(read_plan(&p, dir));
    have_plan = 1;
    SISA_CHECK(task < 3 * p.models, SISA_EUSAGE, "--task %u: the plan in %s has tasks 0..%u", task,
               dir, 3 * p.models - 1);
    SISA_TRY(member_path(path, p.dir, "members", task, ".json"));
    if (sisa_fs_exists(path)) {
        if (print) fprintf(print, "gauge member %u: done already (%s)\n", task, path);
        goto done;
    }
    const int role = (int)(task / p.models);
    const uint64_t seed = p.seed + task;

    cfg = sisa_malloc(sizeof *cfg);
    SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_config_load(cfg, p.config));
    sisa_config_hash(cfg, hash);
    SISA_CHECK(!strcmp(hash, p.config_hash), SISA_EUSAGE,
               "%s changed since the gauge plan was made (config hash %s, the plan's %s): "
               "make a new plan",
               p.config, hash, p.config_hash);
    cfg->seed = seed;
    SISA_TRY(member_path(work, p.dir, "work", task, ""));
    SISA_CHECK(strlen(work) + SISA_STORE_PATH_RESERVE < sizeof cfg->store, SISA_EUSAGE,
               "%s: path too long for a scratch store", work);
    /* a run of this task that stopped: start it again */
    SISA_CHECK(sisa_fs_remove_tree(work) == 0, SISA_EIO,
               "cannot remove the scratch store %s of an earlier run of this task: %s", work,
               strerror(errno));
    strcpy(cfg->store, work);
    if (role > 0) SISA_TRY(path_in(cfg->data.train, p.dir, "retain.h5"));

    SISA_TRY(path_in(path, p.dir, "forget.h5"));
    SISA_TRY(sisa_dataset_read(&dforget, path));
    SISA_TRY(path_in(path, p.dir, "retain.h5"));
    SISA_TRY(sisa_dataset_read(&dretain, path));
    SISA_TRY(sisa_dataset_read(&dtest, p.test));
    SISA_CHECK(dforget->num_classes == dtest->num_classes && dforget->d == dtest->d, SISA_ECORRUPT,
               "%s does not match the training set's classes and features", p.test);
    e.forget = dforget, e.retain = dretain, e.test = dtest;
    SISA_TRY(sisa_gauge_work_init(&e.work, dforget->n + dtest->n));
    e.loss_f = sisa_malloc(dforget->n * sizeof *e.loss_f);
    e.loss_t = sisa_malloc(dtest->n * sizeof *e.loss_t);
    SISA_CHECK(e.loss_f && e.loss_t, SISA_ENOMEM, "out of memory");

    if (print)
        fprintf(print, "gauge member %u: %s, seed %llu: training in %s\n", task, roles[role],
                (unsigned long long)seed, work);
    SISA_TRY(sisa_open_config(&h, cfg, NULL));
    SISA_TRY(sisa_train(NULL, h));

    snprintf(num, sizeof num,
             "{\"format\": \"%s\", \"task\": %u, \"role\": \"%s\", \"seed\": ", MEMBER_FORMAT, task,
             roles[role]);
    sisa_jw_raw(&w, num);
    sisa_jw_u64(&w, seed);
    sisa_jw_raw(&w, ", \"records\": [");
    const predictor store_pd = {h, NULL};
    if (role == 0) {
        /* Every method but exact first, on the trained store (read only); exact last, since it
         * deletes the forget set from the scratch store. */
        int first = 1;
        for (uint32_t k = 0; k < p.n_methods; k++) {
            const char *mname = p.methods[k];
            if (!strcmp(mname, "exact")) continue;
            if (!strcmp(mname, "none")) {
                SISA_TRY(record(&w, "none", &store_pd, &e, first));
            } else {
                predictor pd = {NULL, NULL};
                err = sisa_gauge_ensemble_load(&pd.ens, cfg, mname, &p.approx, p.forget, p.m);
                if (!err) err = record(&w, mname, &pd, &e, first);
                sisa_gauge_ensemble_free(pd.ens);
                SISA_TRY(err);
            }
            first = 0;
        }
        if (has_method(&p, "exact")) {
            sisa_deletion del;
            memset(&del, 0, sizeof del);
            del.ids = p.forget;
            del.n_ids = p.m;
            SISA_TRY(sisa_unlearn(NULL, h, &del, NULL, NULL));
            SISA_TRY(record(&w, "exact", &store_pd, &e, first));
        }
    } else {
        SISA_TRY(record(&w, roles[role], &store_pd, &e, 1));
    }
    sisa_jw_raw(&w, "\n]}\n");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    sisa_close(h);
    h = NULL;

    SISA_TRY(path_in(path, p.dir, "members"));
    SISA_TRY(sisa_fs_mkdir_p(path));
    SISA_TRY(member_path(path, p.dir, "members", task, ".json"));
    SISA_TRY(sisa_fs_write_atomic(path, w.buf, w.len, 1));
    if (sisa_fs_remove_tree(work) != 0)
        sisa_warn("could not remove the scratch store %s: %s", work, strerror(errno));
    if (print) fprintf(print, "gauge member %u: results in %s\n", task, path);
done:
    if (h) sisa_close(h);
    sisa_jw_free(&w);
    sisa_free(e.loss_f);
    sisa_free(e.loss_t);
    sisa_gauge_work_free(&e.work);
    sisa_dataset_free(dforget);
    sisa_dataset_free(dretain);
    sisa_dataset_free(dtest);
    sisa_free(cfg);
    if (have_plan) gplan_free(&p);
    return err;
}

/* ---- score ---------------------------------------------------------------------------------- */

/* One population's results: s (models x m, model-major) and per-model figures. */
typedef struct {
    char name[32];
    double *s;
    double *acc_forget, *acc_retain, *acc_test, *auc;
} population;

static void population_free(population *q)
{
    sisa_free(q->s);
    sisa_free(q->acc_forget);
    sisa_free(q->acc_retain);
    sisa_free(q->acc_test);
    sisa_free(q->auc);
}

static int population_alloc(population *q, const char *name, uint32_t n, uint32_t m)
{
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "%s", name);
    q->s = sisa_malloc((size_t)n * m * sizeof *q->s);
    q->acc_forget = sisa_malloc(n * sizeof(double));
    q->acc_retain = sisa_malloc(n * sizeof(double));
    q->acc_test = sisa_malloc(n * sizeof(double));
    q->auc = sisa_malloc(n * sizeof(double));
    if (!q->s || !q->acc_forget || !q->acc_retain || !q->acc_test || !q->auc)
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    return SISA_OK;
}

static int take_record(population *q, uint32_t k, const sisa_json *rec, uint32_t m,
                       const char *path)
{
    const char *keys[4] = {"acc_forget", "acc_retain", "acc_test", "mia_auc"};
    double *dst[4] = {&q->acc_forget[k], &q->acc_retain[k], &q->acc_test[k], &q->auc[k]};
    for (int i = 0; i < 4; i++)
        if (!json_double(sisa_json_get(rec, keys[i]), dst[i]))
            return SISA_ERR(SISA_ECORRUPT, "%s: bad \"%s\"", path, keys[i]);
    const sisa_json *s = sisa_json_get(rec, "s");
    if (!s || s->type != SISA_JSON_ARRAY || s->count != m)
        return SISA_ERR(SISA_ECORRUPT, "%s: \"s\" is not an array of %u numbers", path, m);
    uint32_t i = 0;
    for (const sisa_json *v = s->kid; v; v = v->next, i++)
        if (!json_double(v, &q->s[(size_t)k * m + i]) || !isfinite(q->s[(size_t)k * m + i]))
            return SISA_ERR(SISA_ECORRUPT, "%s: \"s\"[%u] is not a finite number", path, i);
    return SISA_OK;
}

/* Read members/task-K.json of every task into the populations (methods, retrain, retrain2). */
static int read_members(const gplan *p, population *pops, uint32_t n_pops)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    sisa_json *j = NULL;
    size_t len;
    uint32_t missing = 0, first_missing = 0;
    for (uint32_t t = 0; t < 3 * p->models; t++) {
        SISA_TRY(member_path(path, p->dir, "members", t, ".json"));
        if (!sisa_fs_exists(path)) {
            if (!missing++) first_missing = t;
            continue;
        }
    }
    SISA_CHECK(!missing, SISA_EUSAGE,
               "%u of %u gauge members have no results yet (the first: task %u); run sisa gauge "
               "member %s --task %u (or --all) first",
               missing, 3 * p->models, first_missing, p->dir, first_missing);
    for (uint32_t t = 0; t < 3 * p->models; t++) {
        SISA_TRY(member_path(path, p->dir, "members", t, ".json"));
        SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
        SISA_TRY(sisa_json_parse(&j, text, len, path));
        const char *fmt;
        uint64_t task;
        SISA_CHECK(sisa_json_str(j, "format", &fmt) && !strcmp(fmt, MEMBER_FORMAT) &&
                       sisa_json_u64(j, "task", &task) && task == t,
                   SISA_ECORRUPT, "%s: not the results of gauge member %u", path, t);
        const sisa_json *recs = sisa_json_get(j, "records");
        SISA_CHECK(recs && recs->type == SISA_JSON_ARRAY, SISA_ECORRUPT, "%s: no records", path);
        uint32_t role = t / p->models, k = t % p->models, found = 0;
        for (const sisa_json *r = recs->kid; r; r = r->next) {
            const char *name;
            SISA_CHECK(sisa_json_str(r, "method", &name), SISA_ECORRUPT,
                       "%s: a record without a method", path);
            for (uint32_t q = 0; q < n_pops; q++) {
                int is_role_pop = q >= p->n_methods;
                if (strcmp(pops[q].name, name)) continue;
                SISA_CHECK(is_role_pop ? role == q - p->n_methods + 1 : role == 0, SISA_ECORRUPT,
                           "%s: a record of %s from a member of role %s", path, name, roles[role]);
                SISA_TRY(take_record(&pops[q], k, r, p->m, path));
                found++;
            }
        }
        SISA_CHECK(found == (role == 0 ? p->n_methods : 1), SISA_ECORRUPT,
                   "%s: %u records where the plan needs %u", path, found,
                   role == 0 ? p->n_methods : 1);
        sisa_json_free(j);
        j = NULL;
        sisa_free(text);
        text = NULL;
    }
done:
    sisa_json_free(j);
    sisa_free(text);
    return err;
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++) s += v[k];
    return s / (double)n;
}

/* The percentile interval of `n` bootstrap replicates (sorted in place). */
static void interval(double *rep, size_t n, double *lo, double *hi)
{
    sisa_gauge_sort(rep, n);
    *lo = sisa_gauge_quantile(rep, n, 0.025);
    *hi = sisa_gauge_quantile(rep, n, 0.975);
}

/* Bootstrap replicates of a method's figures (BOOTSTRAP each, unsorted until interval()). */
enum { B_F, B_KS, B_FINAL, B_AUC, B_RETAIN, B_TEST, B_FORGET, B_COUNT };

/* Percentile bootstrap of one scored population `pop` against the retrained `ref`: F and the
 * KS share (`sc`, `rj`: m per-example scores and rejections) resample the forget examples;
 * the member means resample pop's N members; the final score pairs each F replicate with
 * replicates of both populations' accuracy means. Stream `tag` of the plan seed. */
static void bootstrap(sisa_gauge_method_score *ms, const population *pop, const population *ref,
                      const double *sc, const double *rj, uint32_t m, uint32_t N, uint64_t seed,
                      uint32_t tag, double *boot)
{
    double *b[B_COUNT];
    for (int k = 0; k < B_COUNT; k++) b[k] = boot + (size_t)k * BOOTSTRAP;
    sisa_rng r;
    sisa_rng_init(&r, seed, RNG_GAUGE, 1, tag, 0);
    for (int k = 0; k < BOOTSTRAP; k++) {
        double sa = 0, sb = 0;
        for (uint32_t i = 0; i < m; i++) {
            uint32_t j = sisa_rng_below(&r, m);
            sa += sc[j];
            sb += rj[j];
        }
        b[B_F][k] = sa / m;
        b[B_KS][k] = sb / m;
    }
    sisa_rng_init(&r, seed, RNG_GAUGE, 2, tag, 0);
    for (int k = 0; k < BOOTSTRAP; k++) {
        double auc = 0, ret = 0, tst = 0, fgt = 0, ref_ret = 0, ref_tst = 0;
        for (uint32_t i = 0; i < N; i++) {
            uint32_t j = sisa_rng_below(&r, N);
            auc += pop->auc[j];
            ret += pop->acc_retain[j];
            tst += pop->acc_test[j];
            fgt += pop->acc_forget[j];
        }
        for (uint32_t i = 0; i < N; i++) {
            uint32_t j = sisa_rng_below(&r, N);
            ref_ret += ref->acc_retain[j];
            ref_tst += ref->acc_test[j];
        }
        b[B_AUC][k] = auc / N;
        b[B_RETAIN][k] = ret / N;
        b[B_TEST][k] = tst / N;
        b[B_FORGET][k] = fgt / N;
        b[B_FINAL][k] = b[B_F][k] * (ret / ref_ret) * (tst / ref_tst);
    }
    interval(b[B_F], BOOTSTRAP, &ms->F_lo, &ms->F_hi);
    interval(b[B_KS], BOOTSTRAP, &ms->ks_lo, &ms->ks_hi);
    interval(b[B_FINAL], BOOTSTRAP, &ms->final_lo, &ms->final_hi);
    interval(b[B_AUC], BOOTSTRAP, &ms->mia_auc_lo, &ms->mia_auc_hi);
    interval(b[B_RETAIN], BOOTSTRAP, &ms->acc_retain_lo, &ms->acc_retain_hi);
    interval(b[B_TEST], BOOTSTRAP, &ms->acc_test_lo, &ms->acc_test_hi);
    interval(b[B_FORGET], BOOTSTRAP, &ms->acc_forget_lo, &ms->acc_forget_hi);
}

int sisa_gauge_score(sisa_gauge_report *out, const char *dir, const sisa_gauge_score_opts *opts,
                     FILE *print)
{
    int err = SISA_OK;
    gplan p;
    population pops[MAX_METHODS + 2];
    uint32_t n_pops = 0;
    sisa_gauge_work work;
    double *eps = NULL, *pval = NULL, *score = NULL, *rej = NULL, *ua = NULL, *ub = NULL;
    double *boot = NULL;
    sisa_jw tsv;
    sisa_gauge_report rep;
    int have_plan = 0;
    memset(&work, 0, sizeof work);
    memset(&rep, 0, sizeof rep);
    sisa_jw_init(&tsv);
    SISA_TRY(read_plan(&p, dir));
    have_plan = 1;
    const uint32_t N = p.models, m = p.m;
    for (uint32_t k = 0; k < p.n_methods; k++)
        SISA_TRY(population_alloc(&pops[n_pops++], p.methods[k], N, m));
    SISA_TRY(population_alloc(&pops[n_pops++], "retrain", N, m));
    SISA_TRY(population_alloc(&pops[n_pops++], "retrain2", N, m));
    SISA_TRY(read_members(&p, pops, n_pops));

    const uint32_t n_scored = p.n_methods + 1; /* the methods, then retrain2 (the floor) */
    SISA_TRY(sisa_gauge_work_init(&work, 2 * (size_t)N));
    eps = sisa_malloc((size_t)n_scored * m * sizeof *eps);
    pval = sisa_malloc((size_t)n_scored * m * sizeof *pval);
    score = sisa_malloc((size_t)n_scored * m * sizeof *score);
    rej = sisa_malloc((size_t)n_scored * m * sizeof *rej);
    ua = sisa_malloc(N * sizeof *ua);
    ub = sisa_malloc(N * sizeof *ub);
    boot = sisa_malloc(B_COUNT * BOOTSTRAP * sizeof *boot);
    SISA_CHECK(eps && pval && score && rej && ua && ub && boot, SISA_ENOMEM, "out of memory");

    const population *ref = &pops[p.n_methods];
    rep.models = N;
    rep.forget = m;
    rep.ks_bound = ALPHA + 3 * sqrt(ALPHA * (1 - ALPHA) / m);
    rep.n_methods = n_scored;
    double floor_lo = 0, floor_F = 0;
    /* the floor first (its interval judges the methods), reported last */
    for (uint32_t step = 0; step < n_scored; step++) {
        uint32_t q = step == 0 ? n_scored - 1 : step - 1; /* index among scored */
        const population *pop = &pops[q < p.n_methods ? q : p.n_methods + 1];
        double *e = eps + (size_t)q * m, *pv = pval + (size_t)q * m;
        double *sc = score + (size_t)q * m, *rj = rej + (size_t)q * m;
        for (uint32_t i = 0; i < m; i++) {
            for (uint32_t k = 0; k < N; k++) {
                ua[k] = pop->s[(size_t)k * m + i];
                ub[k] = ref->s[(size_t)k * m + i];
            }
            e[i] = sisa_gauge_epsilon(ua, N, ub, N, SISA_GAUGE_DELTA, &work);
            pv[i] = sisa_gauge_ks_pvalue(ua, N, ub, N, &work);
            sc[i] = sisa_gauge_bucket_score(e[i], N);
            rj[i] = pv[i] < ALPHA;
        }
        sisa_gauge_method_score *ms = &rep.methods[q];
        snprintf(ms->method, sizeof ms->method, "%s", pop->name);
        ms->F = mean(sc, m);
        ms->ks_share = mean(rj, m);
        bootstrap(ms, pop, ref, sc, rj, m, N, p.seed, q, boot);
        ms->acc_forget = mean(pop->acc_forget, N);
        ms->acc_retain = mean(pop->acc_retain, N);
        ms->acc_test = mean(pop->acc_test, N);
        ms->mia_auc = mean(pop->auc, N);
        ms->final_score = ms->F * (ms->acc_retain / mean(ref->acc_retain, N)) *
                          (ms->acc_test / mean(ref->acc_test, N));
        if (step == 0) {
            floor_lo = ms->F_lo;
            floor_F = ms->F;
        }
        ms->F_over_floor = floor_F > 0 ? ms->F / floor_F : NAN;
        ms->indistinguishable = ms->ks_share <= rep.ks_bound && ms->F >= floor_lo;
    }

    /* gauge.tsv: every figure followed by its interval */
    sisa_jw_raw(&tsv, "method\tfinal\tfinal_lo\tfinal_hi\tF\tF_lo\tF_hi\tF_over_floor\tks_share\t"
                      "ks_lo\tks_hi\tmia_auc\tmia_auc_lo\tmia_auc_hi\tacc_retain\tacc_retain_lo\t"
                      "acc_retain_hi\tacc_test\tacc_test_lo\tacc_test_hi\tacc_forget\t"
                      "acc_forget_lo\tacc_forget_hi\tverdict\n");
    for (uint32_t q = 0; q < n_scored; q++) {
        const sisa_gauge_method_score *ms = &rep.methods[q];
        char line[1024];
        snprintf(
            line, sizeof line,
            "%s\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t"
            "%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%s\n",
            ms->method, ms->final_score, ms->final_lo, ms->final_hi, ms->F, ms->F_lo, ms->F_hi,
            ms->F_over_floor, ms->ks_share, ms->ks_lo, ms->ks_hi, ms->mia_auc, ms->mia_auc_lo,
            ms->mia_auc_hi, ms->acc_retain, ms->acc_retain_lo, ms->acc_retain_hi, ms->acc_test,
            ms->acc_test_lo, ms->acc_test_hi, ms->acc_forget, ms->acc_forget_lo, ms->acc_forget_hi,
            q == n_scored - 1       ? "noise-floor"
            : ms->indistinguishable ? "indistinguishable"
                                    : "distinguishable");
        sisa_jw_raw(&tsv, line);
    }
    SISA_CHECK(!tsv.failed, SISA_ENOMEM, "out of memory");
    char path[SISA_PATH_MAX];
    SISA_TRY(path_in(path, p.dir, "gauge.tsv"));
    SISA_TRY(sisa_fs_write_atomic(path, tsv.buf, tsv.len, 1));

    /* gauge.h5: per-example epsilon and KS p-values per method, the forget IDs */
    {
        sisa_h5_array arr[2 * (MAX_METHODS + 1) + 1];
        char names[2 * (MAX_METHODS + 1)][64];
        size_t na = 0;
        for (uint32_t q = 0; q < n_scored; q++) {
            snprintf(names[2 * q], 64, "epsilon/%s", rep.methods[q].method);
            snprintf(names[2 * q + 1], 64, "ks_pvalue/%s", rep.methods[q].method);
            arr[na++] = (sisa_h5_array){names[2 * q], m, 0, eps + (size_t)q * m, NULL};
            arr[na++] = (sisa_h5_array){names[2 * q + 1], m, 0, pval + (size_t)q * m, NULL};
        }
        arr[na++] = (sisa_h5_array){"forget_id", m, 0, NULL, p.forget};
        char models[32];
        snprintf(models, sizeof models, "%u", N);
        sisa_h5_attr attrs[3] = {{"sisa_format", "sisa-gauge-scores"},
                                 {"config_hash", p.config_hash},
                                 {"models_per_population", models}};
        SISA_TRY(path_in(path, p.dir, "gauge.h5"));
        SISA_TRY(sisa_arrays_write(path, arr, na, attrs, 3));
    }

    /* the figures: gauge.gp, and the PNGs when gnuplot is there */
    char no_figures[SISA_PATH_MAX + 128] = "";
    if (!opts || !opts->no_figures) {
        const char *names[MAX_METHODS + 1];
        double F[MAX_METHODS + 1], F_lo[MAX_METHODS + 1], F_hi[MAX_METHODS + 1];
        for (uint32_t q = 0; q < n_scored; q++) {
            names[q] = rep.methods[q].method;
            F[q] = rep.methods[q].F;
            F_lo[q] = rep.methods[q].F_lo;
            F_hi[q] = rep.methods[q].F_hi;
        }
        const sisa_gauge_plot plot = {n_scored, names, F, F_lo, F_hi, eps, pval, m, N};
        SISA_TRY(sisa_gauge_figures(&plot, opts && opts->figures ? opts->figures : p.dir,
                                    &rep.figures, no_figures, sizeof no_figures));
    }

    if (print) {
        fprintf(print,
                "gauge of %s: %u forget examples, %u models per population; KS share bound "
                "%.3f; noise floor F = %.4f [%.4f, %.4f]\n",
                p.dir, m, N, rep.ks_bound, floor_F, floor_lo, rep.methods[n_scored - 1].F_hi);
        fprintf(print, "%-15s %8s %8s %18s %9s %8s %8s %8s  %s\n", "method", "final", "F",
                "F 95% interval", "KS share", "MIA AUC", "retain", "test", "verdict");
        for (uint32_t q = 0; q < n_scored; q++) {
            const sisa_gauge_method_score *ms = &rep.methods[q];
            fprintf(print, "%-15s %8.4f %8.4f   [%6.4f, %6.4f] %9.3f %8.3f %8.4f %8.4f  %s%s\n",
                    ms->method, ms->final_score, ms->F, ms->F_lo, ms->F_hi, ms->ks_share,
                    ms->mia_auc, ms->acc_retain, ms->acc_test,
                    q == n_scored - 1       ? "noise floor (retrained against retrained)"
                    : ms->indistinguishable ? "indistinguishable from retraining"
                                            : "distinguishable from retraining",
                    sisa_gauge_approx_known(ms->method) ? " (approximate: not an erasure)" : "");
        }
        fprintf(print, "wrote %s/gauge.tsv and %s/gauge.h5\n", p.dir, p.dir);
        const char *fig = opts && opts->figures ? opts->figures : p.dir;
        if (rep.figures)
            fprintf(print,
                    "figures: %s/gauge-F.png, gauge-epsilon.png, gauge-ks.png (gnuplot "
                    "commands and data: %s/gauge.gp)\n",
                    fig, fig);
        else if (no_figures[0])
            fprintf(print, "no figures: %s\n", no_figures);
    }
    if (out) *out = rep;
done:
    for (uint32_t q = 0; q < n_pops; q++) population_free(&pops[q]);
    sisa_gauge_work_free(&work);
    sisa_free(eps);
    sisa_free(pval);
    sisa_free(score);
    sisa_free(rej);
    sisa_free(ua);
    sisa_free(ub);
    sisa_free(boot);
    sisa_jw_free(&tsv);
    if (have_plan) gplan_free(&p);
    return err;
}
