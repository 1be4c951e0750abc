/*
 * schema.c - the table of config keys, and everything that is a pure function of it: defaults,
 * the canonical dump, the config hash and the key reference (`sisa config --help`,
 * docs/config.md).
 *
 * To add a key: add a field to sisa_config (include/sisa/config.h), a row here in the section
 * it belongs to, and regenerate docs/config.md with `sisa config reference --markdown`. The
 * loader, dump, hash and docs follow from the row. Whether a key is hashed is a promise about
 * training: a key that can change a single trained bit must be hashed, or two stores trained
 * with different settings would claim the same config hash.
 *
 * The canonical text form of a value (sisa_schema_format_value) is part of the config hash, so
 * it must never change for an existing key: changing it changes every hash ("sisa-config-v1").
 */
#include "config/schema.h"

#include "base/sha256.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum names, indexed by the C enum values of sisa/config.h. */
static const char *const sharding_names[] = {"id", "group", "tiered"};
static const char *const tier_key_names[] = {"id", "group"}; /* = SISA_SHARDING_ID, _GROUP */
static const char *const model_names[] = {"logreg", "mlp", "knn", "cnn"};
static const char *const metric_names[] = {"euclidean", "cosine"};
static const char *const activation_names[] = {"relu"};
static const char *const optimizer_names[] = {"sgd", "adam"};
static const char *const schedule_names[] = {"constant", "cosine"};
static const char *const strategy_names[] = {"vote", "mean", "weighted", "merge"};
#define N_OF(a)    ((int)(sizeof(a) / sizeof((a)[0])))
#define CHOICES(a) .choices = (a), .n_choices = N_OF(a)

/* Enum fields are read and written as int. */
_Static_assert(sizeof(sisa_sharding) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_model_type) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_activation) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_optimizer) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_schedule) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_strategy) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(sisa_metric) == sizeof(int), "enums are int-sized");

#define AT(member)                                                                                 \
    .offset = offsetof(sisa_config, member), .size = sizeof(((sisa_config *)0)->member)

static const int32_t default_hidden[] = {256};
static const int32_t default_conv[] = {32, 64};

static int is_knn(const sisa_config *cfg)
{
    return cfg->model.type == SISA_MODEL_KNN;
}

static int is_cnn(const sisa_config *cfg)
{
    return cfg->model.type == SISA_MODEL_CNN;
}

static int is_tiered(const sisa_config *cfg)
{
    return cfg->sisa.sharding == SISA_SHARDING_TIERED;
}

/* The keys of trained models: knn has no layers and trains nothing. */
static int trains(const sisa_config *cfg)
{
    return cfg->model.type != SISA_MODEL_KNN;
}

const sisa_schema_key sisa_schema_keys[] = {
    {.key = "data.train",
     .type = SISA_SCHEMA_PATH,
     AT(data.train),
     .required = 1,
     .doc = "The training dataset: an HDF5 file written by 'sisa import'."},
    {.key = "data.test",
     .type = SISA_SCHEMA_PATH,
     AT(data.test),
     .def_path = "",
     .doc = "A held-out dataset (same format) for evaluation; \"\" or absent when there is none. "
            "It must not be the training file."},
    {.key = "store",
     .type = SISA_SCHEMA_PATH,
     AT(store),
     .required = 1,
     .doc = "The folder where training keeps shards, checkpoints, the manifest and the deletion "
            "ledger. It must not be one of the dataset files."},
    {.key = "seed",
     .type = SISA_SCHEMA_INT,
     AT(seed),
     .hashed = 1,
     .imin = 0,
     .imax = INT64_MAX,
     .def_int = 42,
     .doc = "The root of every random decision: shard and slice assignment, initialisation, "
            "minibatch order. Same seed, data and build give the same bits."},
    {.key = "sisa.shards",
     .type = SISA_SCHEMA_INT,
     AT(sisa.shards),
     .hashed = 1,
     .imin = 1,
     .imax = 4096,
     .def_int = 8,
     .doc = "Number of shards S: disjoint parts of the training data, each with its own model. "
            "A deletion retrains only the shards holding the deleted rows."},
    {.key = "sisa.slices",
     .type = SISA_SCHEMA_INT,
     AT(sisa.slices),
     .hashed = 1,
     .imin = 1,
     .imax = 256,
     .def_int = 4,
     .doc = "Number of slices R per shard. A shard trains in R stages with a checkpoint after "
            "each, so a deletion resumes from the last checkpoint that never saw the deleted "
            "rows. A new store needs at least shards x slices training rows: 'sisa train' refuses "
            "fewer before writing anything, and 'sisa config check' checks it when data.train "
            "exists."},
    {.key = "sisa.sharding",
     .type = SISA_SCHEMA_ENUM,
     AT(sisa.sharding),
     .hashed = 1,
     CHOICES(sharding_names),
     .def_int = SISA_SHARDING_ID,
     .doc = "How rows are assigned to shards: 'id' hashes each sample ID; 'group' hashes the "
            "dataset's group column, so all rows of one data subject share one shard; 'tiered' "
            "reads the dataset's risk column (sisa import --risk): a row of tier t goes to one of "
            "the shards of tier t in sisa.tiers, so rows likely to be deleted can share a few "
            "small shards."},
    {.key = "sisa.tiers",
     .type = SISA_SCHEMA_TIER_LIST,
     .offset = offsetof(sisa_config, sisa.tiers),
     .size = sizeof(sisa_tier),
     .count_offset = offsetof(sisa_config, sisa.n_tiers),
     .hashed = 1,
     .matters = is_tiered,
     .imin = 1,
     .imax = 4096,
     .list_min = 1,
     .list_max = SISA_CONFIG_MAX_TIERS,
     .when = "sisa.sharding is tiered",
     .doc = "The risk tiers, tier 0 first, e.g. [{shards: 6}, {shards: 2, last_slice: true}]: "
            "tier t owns the next 'shards' shards, and a row of tier t goes to one of them by a "
            "keyed hash of its key (sisa.tier_key); with last_slice: true it goes to the last "
            "slice, so a deletion retrains only the last stage, else to a slice by a hash of its "
            "ID. The tiers' shards add up to sisa.shards (leave sisa.shards out to make it their "
            "sum)."},
    {.key = "sisa.tier_key",
     .type = SISA_SCHEMA_ENUM,
     AT(sisa.tier_key),
     .hashed = 1,
     .matters = is_tiered,
     CHOICES(tier_key_names),
     .def_int = SISA_SHARDING_ID,
     .when = "sisa.sharding is tiered",
     .doc = "What picks a row's shard within its tier: 'id' hashes the sample ID; 'group' "
            "hashes the group column, so all rows of one data subject share one shard (import "
            "gives all of a group's rows one tier)."},
    {.key = "model.type",
     .type = SISA_SCHEMA_ENUM,
     AT(model.type),
     .hashed = 1,
     CHOICES(model_names),
     .def_int = SISA_MODEL_MLP,
     .doc = "The model every shard trains: 'logreg' (multinomial logistic regression), 'mlp' "
            "(a fully connected network), 'cnn' (a convolutional network for image rows: "
            "convolutions with max pooling, then hidden dense layers; needs model.input) or 'knn' "
            "(k nearest neighbours: a shard's model is its rows, so training computes nothing and "
            "a deletion only rewrites the shard's data; the train section does not apply)."},
    {.key = "model.hidden",
     .type = SISA_SCHEMA_INT_LIST,
     .offset = offsetof(sisa_config, model.hidden),
     .size = sizeof(int32_t),
     .count_offset = offsetof(sisa_config, model.n_hidden),
     .hashed = 1,
     .matters = trains,
     .imin = 1,
     .imax = 65536,
     .list_min = 1,
     .list_max = SISA_CONFIG_MAX_HIDDEN,
     .def_list = default_hidden,
     .def_list_len = N_OF(default_hidden),
     .when = "model.type is mlp or cnn",
     .doc = "Widths of the hidden layers, input side first, e.g. [512, 256]; with cnn the dense "
            "layers after the last convolution. With 'logreg' leave it out (it is then [])."},
    {.key = "model.activation",
     .type = SISA_SCHEMA_ENUM,
     AT(model.activation),
     .hashed = 1,
     .matters = trains,
     CHOICES(activation_names),
     .def_int = SISA_ACT_RELU,
     .when = "model.type is mlp or cnn",
     .doc = "The activation after each hidden layer (and, with cnn, after each convolution)."},
    {.key = "model.k",
     .type = SISA_SCHEMA_INT,
     AT(model.k),
     .hashed = 1,
     .imin = 1,
     .imax = 4096,
     .def_int = 5,
     .when = "model.type is knn",
     .matters = is_knn,
     .doc = "Neighbours per prediction. A shard with fewer rows uses all of them."},
    {.key = "model.metric",
     .type = SISA_SCHEMA_ENUM,
     AT(model.metric),
     .hashed = 1,
     CHOICES(metric_names),
     .def_int = SISA_METRIC_EUCLIDEAN,
     .when = "model.type is knn",
     .matters = is_knn,
     .doc = "The distance of knn: 'euclidean' or 'cosine' (1 - cosine similarity; a zero row is "
            "at distance 1 from every row). Equal distances are broken by sample ID, lowest "
            "first."},
    {.key = "model.input",
     .type = SISA_SCHEMA_INT_LIST,
     .offset = offsetof(sisa_config, model.input),
     .size = sizeof(int32_t),
     .count_offset = offsetof(sisa_config, model.n_input),
     .hashed = 1,
     .matters = is_cnn,
     .imin = 1,
     .imax = 65536,
     .list_min = 2,
     .list_max = 3,
     .when = "model.type is cnn (required)",
     .doc = "The shape of one row of X as [height, width] (one channel) or [channels, height, "
            "width], channels outermost: [28, 28] for MNIST-style images. It must match the "
            "dataset's feature_shape, which 'sisa import' records (see 'sisa info'); [H, W] is "
            "stored as [1, H, W]."},
    {.key = "model.conv",
     .type = SISA_SCHEMA_INT_LIST,
     .offset = offsetof(sisa_config, model.conv),
     .size = sizeof(int32_t),
     .count_offset = offsetof(sisa_config, model.n_conv),
     .hashed = 1,
     .matters = is_cnn,
     .imin = 1,
     .imax = 4096,
     .list_min = 1,
     .list_max = SISA_CONFIG_MAX_CONV,
     .def_list = default_conv,
     .def_list_len = N_OF(default_conv),
     .when = "model.type is cnn",
     .doc = "Output channels of the convolutional layers, input side first. Each convolution "
            "has stride 1 and same (zero) padding and is followed by the activation and by max "
            "pooling."},
    {.key = "model.kernel",
     .type = SISA_SCHEMA_INT,
     AT(model.kernel),
     .hashed = 1,
     .matters = is_cnn,
     .imin = 1,
     .imax = 11,
     .def_int = 3,
     .when = "model.type is cnn",
     .doc = "Side of the square convolution kernels: an odd number, e.g. 3 or 5."},
    {.key = "model.pool",
     .type = SISA_SCHEMA_INT,
     AT(model.pool),
     .hashed = 1,
     .matters = is_cnn,
     .imin = 1,
     .imax = 16,
     .def_int = 2,
     .when = "model.type is cnn",
     .doc = "Window and stride of the max pooling after each convolution (1: no pooling). It "
            "must divide the height and width that reach every pooling layer. Ties go to the "
            "first element of the window in row-major order."},
    {.key = "train.optimizer",
     .type = SISA_SCHEMA_ENUM,
     AT(train.optimizer),
     .hashed = 1,
     .matters = trains,
     CHOICES(optimizer_names),
     .def_int = SISA_OPT_ADAM,
     .doc = "'sgd' (stochastic gradient descent, optionally with momentum) or 'adam'."},
    {.key = "train.lr",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.lr),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmin_open = 1,
     .fmax = 10,
     .def_float = 0.001,
     .doc = "The learning rate (step size); with a schedule, the rate at the start of each "
            "stage."},
    {.key = "train.schedule",
     .type = SISA_SCHEMA_ENUM,
     AT(train.schedule),
     .hashed = 1,
     .matters = trains,
     CHOICES(schedule_names),
     .def_int = SISA_SCHED_CONSTANT,
     .doc = "How the learning rate changes within each of a shard's R stages: 'constant' keeps "
            "it at lr; 'cosine' lowers it from lr to lr * final_lr_fraction along half a cosine "
            "wave, as a function of the sample visits the stage has made out of the visits it "
            "makes (so a deletion or a resume from a checkpoint trains each stage as training "
            "from scratch does)."},
    {.key = "train.final_lr_fraction",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.final_lr_fraction),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmax = 1,
     .def_float = 0.0,
     .when = "train.schedule is cosine",
     .doc = "The learning rate at the end of each stage, as a fraction of lr."},
    {.key = "train.momentum",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.momentum),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmax = 1,
     .fmax_open = 1,
     .def_float = 0.9,
     .when = "train.optimizer is sgd",
     .doc = "SGD's momentum coefficient; 0 is plain SGD."},
    {.key = "train.nesterov",
     .type = SISA_SCHEMA_BOOL,
     AT(train.nesterov),
     .hashed = 1,
     .matters = trains,
     .def_int = 0,
     .when = "train.optimizer is sgd",
     .doc = "Use Nesterov momentum (SGD only; needs momentum > 0)."},
    {.key = "train.beta1",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.beta1),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmax = 1,
     .fmax_open = 1,
     .def_float = 0.9,
     .when = "train.optimizer is adam",
     .doc = "Adam's decay rate of the first-moment (mean) estimate."},
    {.key = "train.beta2",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.beta2),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmax = 1,
     .fmax_open = 1,
     .def_float = 0.999,
     .when = "train.optimizer is adam",
     .doc = "Adam's decay rate of the second-moment (uncentred variance) estimate."},
    {.key = "train.eps",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.eps),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmin_open = 1,
     .fmax = 1,
     .def_float = 1e-8,
     .when = "train.optimizer is adam",
     .doc = "Adam's guard added to the denominator."},
    {.key = "train.weight_decay",
     .type = SISA_SCHEMA_FLOAT,
     AT(train.weight_decay),
     .hashed = 1,
     .matters = trains,
     .fmin = 0,
     .fmax = 1,
     .def_float = 0.0,
     .doc = "Weight decay (L2 penalty) coefficient; 0 disables it."},
    {.key = "train.batch_size",
     .type = SISA_SCHEMA_INT,
     AT(train.batch_size),
     .hashed = 1,
     .matters = trains,
     .imin = 1,
     .imax = 1048576,
     .def_int = 128,
     .doc = "Samples per minibatch. A stage that trains on fewer rows than this takes few "
            "optimizer steps: 'sisa train' and 'sisa config check' name such stages in a "
            "warning."},
    {.key = "train.epochs",
     .type = SISA_SCHEMA_INT,
     AT(train.epochs),
     .hashed = 1,
     .matters = trains,
     .imin = 1,
     .imax = 10000,
     .def_int = 5,
     .doc = "Epochs of training per shard; the R stages share them as in the SISA paper, so "
            "slicing does not change the total cost."},
    {.key = "aggregate.strategy",
     .type = SISA_SCHEMA_ENUM,
     AT(aggregate.strategy),
     CHOICES(strategy_names),
     .def_int = SISA_AGG_MEAN,
     .doc = "How the shards' predictions are combined: 'vote' (majority of predicted labels), "
            "'mean' (average of the class posteriors), 'weighted' (posteriors averaged with "
            "weights: each shard's training row count) or, with model.type knn only, 'merge' "
            "(each shard's k nearest rows merged into the k nearest of the whole training set, "
            "so an S-shard store predicts exactly what one kNN over all rows predicts)."},
};
const int sisa_schema_n_keys = N_OF(sisa_schema_keys);

const sisa_schema_key *sisa_schema_find(const char *dotted)
{
    for (int i = 0; i < sisa_schema_n_keys; i++)
        if (!strcmp(sisa_schema_keys[i].key, dotted)) return &sisa_schema_keys[i];
    return NULL;
}

size_t sisa_schema_section_len(const sisa_schema_key *k)
{
    const char *dot = strchr(k->key, '.');
    return dot ? (size_t)(dot - k->key) : 0;
}

const char *sisa_schema_leaf(const sisa_schema_key *k)
{
    const char *dot = strchr(k->key, '.');
    return dot ? dot + 1 : k->key;
}

static const char *enum_name(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : "?";
}

const char *sisa_model_type_name(sisa_model_type t)
{
    return enum_name(model_names, N_OF(model_names), (int)t);
}

const char *sisa_optimizer_name(sisa_optimizer o)
{
    return enum_name(optimizer_names, N_OF(optimizer_names), (int)o);
}

const char *sisa_schedule_name(sisa_schedule s)
{
    return enum_name(schedule_names, N_OF(schedule_names), (int)s);
}

const char *sisa_strategy_name(sisa_strategy s)
{
    return enum_name(strategy_names, N_OF(strategy_names), (int)s);
}

int32_t sisa_config_epochs(const sisa_config *cfg)
{
    return cfg->model.type == SISA_MODEL_KNN ? 0 : cfg->train.epochs;
}

const char *sisa_metric_name(sisa_metric m)
{
    return enum_name(metric_names, N_OF(metric_names), (int)m);
}

const char *sisa_sharding_name(sisa_sharding s)
{
    return enum_name(sharding_names, N_OF(sharding_names), (int)s);
}

int sisa_config_by_group(const sisa_config *cfg)
{
    return cfg->sisa.sharding == SISA_SHARDING_GROUP ||
           (cfg->sisa.sharding == SISA_SHARDING_TIERED &&
            cfg->sisa.tier_key == SISA_SHARDING_GROUP);
}

/* ---- text buffer ---------------------------------------------------------------------------- */

void sisa_sbuf_init(sisa_sbuf *b, char *out, size_t cap)
{
    b->out = out;
    b->cap = out ? cap : 0;
    b->len = 0;
    if (b->cap) out[0] = '\0';
}

void sisa_sbuf_printf(sisa_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n;
    if (b->len < b->cap)
        n = vsnprintf(b->out + b->len, b->cap - b->len, fmt, ap);
    else
        n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

/* ---- canonical values ------------------------------------------------------------------------ */

void sisa_schema_format_double(char *out, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static int64_t read_int(const sisa_config *cfg, const sisa_schema_key *k)
{
    const char *p = (const char *)cfg + k->offset;
    if (k->size == sizeof(uint64_t)) {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        return (int64_t)u; /* 8-byte fields have bounds within 0 .. INT64_MAX */
    }
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static double read_double(const sisa_config *cfg, const sisa_schema_key *k)
{
    double v;
    memcpy(&v, (const char *)cfg + k->offset, sizeof v);
    return v;
}

static int read_enum(const sisa_config *cfg, const sisa_schema_key *k)
{
    int v;
    memcpy(&v, (const char *)cfg + k->offset, sizeof v);
    return v;
}

/* A YAML double-quoted scalar: reads back to the same bytes whatever the path holds. */
static void format_quoted(sisa_sbuf *b, const char *s)
{
    sisa_sbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sisa_sbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sisa_sbuf_printf(b, "\\x%02x", *p);
        else
            sisa_sbuf_printf(b, "%c", *p);
    }
    sisa_sbuf_printf(b, "\"");
}

void sisa_schema_format_value(sisa_sbuf *b, const sisa_schema_key *k, const sisa_config *cfg)
{
    const char *p = (const char *)cfg + k->offset;
    char num[64];
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        format_quoted(b, p);
        break;
    case SISA_SCHEMA_INT:
        sisa_sbuf_printf(b, "%lld", (long long)read_int(cfg, k));
        break;
    case SISA_SCHEMA_FLOAT:
        sisa_schema_format_double(num, sizeof num, read_double(cfg, k));
        sisa_sbuf_printf(b, "%s", num);
        break;
    case SISA_SCHEMA_BOOL:
        sisa_sbuf_printf(b, "%s", read_int(cfg, k) ? "true" : "false");
        break;
    case SISA_SCHEMA_ENUM:
        sisa_sbuf_printf(b, "%s", enum_name(k->choices, k->n_choices, read_enum(cfg, k)));
        break;
    case SISA_SCHEMA_INT_LIST: {
        int32_t n;
        memcpy(&n, (const char *)cfg + k->count_offset, sizeof n);
        sisa_sbuf_printf(b, "[");
        for (int32_t i = 0; i < n && i < k->list_max; i++) {
            int32_t v;
            memcpy(&v, p + (size_t)i * sizeof v, sizeof v);
            sisa_sbuf_printf(b, "%s%ld", i ? ", " : "", (long)v);
        }
        sisa_sbuf_printf(b, "]");
        break;
    }
    case SISA_SCHEMA_TIER_LIST: {
        int32_t n;
        memcpy(&n, (const char *)cfg + k->count_offset, sizeof n);
        sisa_sbuf_printf(b, "[");
        for (int32_t i = 0; i < n && i < k->list_max; i++) {
            sisa_tier t;
            memcpy(&t, p + (size_t)i * sizeof t, sizeof t);
            sisa_sbuf_printf(b, "%s{shards: %ld%s}", i ? ", " : "", (long)t.shards,
                             t.last_slice ? ", last_slice: true" : "");
        }
        sisa_sbuf_printf(b, "]");
        break;
    }
    }
}

void sisa_schema_format_bounds(sisa_sbuf *b, const sisa_schema_key *k)
{
    char lo[64], hi[64];
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        sisa_sbuf_printf(b, "a path, relative to the config file's folder or absolute");
        break;
    case SISA_SCHEMA_INT:
        sisa_sbuf_printf(b, "%lld .. %lld", (long long)k->imin, (long long)k->imax);
        break;
    case SISA_SCHEMA_FLOAT:
        sisa_schema_format_double(lo, sizeof lo, k->fmin);
        sisa_schema_format_double(hi, sizeof hi, k->fmax);
        sisa_sbuf_printf(b, "%c%s, %s%c", k->fmin_open ? '(' : '[', lo, hi,
                         k->fmax_open ? ')' : ']');
        break;
    case SISA_SCHEMA_BOOL:
        sisa_sbuf_printf(b, "true, false");
        break;
    case SISA_SCHEMA_ENUM:
        for (int i = 0; i < k->n_choices; i++)
            sisa_sbuf_printf(b, "%s%s", i ? ", " : "", k->choices[i]);
        break;
    case SISA_SCHEMA_INT_LIST:
        sisa_sbuf_printf(b, "%d to %d entries, each %lld .. %lld", k->list_min, k->list_max,
                         (long long)k->imin, (long long)k->imax);
        break;
    case SISA_SCHEMA_TIER_LIST:
        sisa_sbuf_printf(b,
                         "%d to %d tiers, each {shards: %lld .. %lld, last_slice: true or false}",
                         k->list_min, k->list_max, (long long)k->imin, (long long)k->imax);
        break;
    }
}

static const char *type_name(const sisa_schema_key *k)
{
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        return "path";
    case SISA_SCHEMA_INT:
        return "integer";
    case SISA_SCHEMA_FLOAT:
        return "float";
    case SISA_SCHEMA_BOOL:
        return "boolean";
    case SISA_SCHEMA_ENUM:
        return "enum";
    case SISA_SCHEMA_INT_LIST:
        return "list of integers";
    case SISA_SCHEMA_TIER_LIST:
        return "list of tiers";
    }
    return "?";
}

/* ---- defaults, dump, hash ---------------------------------------------------------------------
 */

void sisa_config_defaults(sisa_config *cfg)
{
    /* Zero everything, padding included, so that configs compare and broadcast as bytes. */
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        char *p = (char *)cfg + k->offset;
        if (k->required) continue;
        switch (k->type) {
        case SISA_SCHEMA_PATH:
            snprintf(p, k->size, "%s", k->def_path ? k->def_path : "");
            break;
        case SISA_SCHEMA_INT:
        case SISA_SCHEMA_BOOL:
            if (k->size == sizeof(uint64_t)) {
                uint64_t u = (uint64_t)k->def_int;
                memcpy(p, &u, sizeof u);
            } else {
                int32_t v = (int32_t)k->def_int;
                memcpy(p, &v, sizeof v);
            }
            break;
        case SISA_SCHEMA_FLOAT:
            memcpy(p, &k->def_float, sizeof k->def_float);
            break;
        case SISA_SCHEMA_ENUM: {
            int v = (int)k->def_int;
            memcpy(p, &v, sizeof v);
            break;
        }
        case SISA_SCHEMA_INT_LIST: {
            int32_t n = k->def_list_len;
            if (n > 0) memcpy(p, k->def_list, (size_t)n * sizeof(int32_t)); /* model.input: none */
            memcpy((char *)cfg + k->count_offset, &n, sizeof n);
            break;
        }
        case SISA_SCHEMA_TIER_LIST:
            break; /* no tiers (memset above) */
        }
    }
}

size_t sisa_config_dump(const sisa_config *cfg, char *out, size_t cap)
{
    sisa_sbuf b;
    sisa_sbuf_init(&b, out, cap);
    const char *section = "";
    size_t section_len = 0;
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (k->matters && !k->matters(cfg)) continue;
        size_t sl = sisa_schema_section_len(k);
        if (sl && (sl != section_len || strncmp(section, k->key, sl) != 0))
            sisa_sbuf_printf(&b, "%.*s:\n", (int)sl, k->key);
        section = k->key;
        section_len = sl;
        sisa_sbuf_printf(&b, "%s%s: ", sl ? "  " : "", sisa_schema_leaf(k));
        sisa_schema_format_value(&b, k, cfg);
        sisa_sbuf_printf(&b, "\n");
    }
    return b.len;
}

void sisa_config_hash(const sisa_config *cfg, char out_hex[65])
{
    sisa_sha256_ctx c;
    sisa_sha256_init(&c);
    static const char magic[] = "sisa-config-v1\n";
    sisa_sha256_update(&c, magic, sizeof magic - 1);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (!k->hashed || (k->matters && !k->matters(cfg))) continue;
        /* Hashed values are numbers, names and short lists: far below this size. */
        char line[1024];
        sisa_sbuf b;
        sisa_sbuf_init(&b, line, sizeof line);
        sisa_sbuf_printf(&b, "%s: ", k->key);
        sisa_schema_format_value(&b, k, cfg);
        sisa_sbuf_printf(&b, "\n");
        sisa_sha256_update(&c, line, b.len < sizeof line ? b.len : sizeof line - 1);
    }
    uint8_t digest[SISA_SHA256_LEN];
    sisa_sha256_final(&c, digest);
    sisa_hex(out_hex, digest, sizeof digest);
}

/* ---- the reference ----------------------------------------------------------------------------
 */

#define REF_WIDTH 100

/* Append `text` as a paragraph wrapped at REF_WIDTH columns: the first line starts with `first`,
 * the others with `cont` spaces. In the text form `code` quotes become plain quotes. */
static void para(sisa_sbuf *b, int markdown, const char *first, int cont, const char *text)
{
    const char *p = text;
    int line = 0;
    while (*p) {
        int col = line ? cont : (int)strlen(first);
        if (line)
            sisa_sbuf_printf(b, "%*s", cont, "");
        else
            sisa_sbuf_printf(b, "%s", first);
        int words = 0;
        while (*p) {
            size_t wl = strcspn(p, " ");
            if (words && col + 1 + (int)wl > REF_WIDTH) break;
            sisa_sbuf_printf(b, "%s", words ? " " : "");
            for (size_t i = 0; i < wl; i++)
                sisa_sbuf_printf(b, "%c", !markdown && p[i] == '`' ? '\'' : p[i]);
            col += (words ? 1 : 0) + (int)wl;
            words++;
            p += wl;
            while (*p == ' ') p++;
        }
        sisa_sbuf_printf(b, "\n");
        line++;
    }
}

static void heading(sisa_sbuf *b, int markdown, const char *title)
{
    if (markdown)
        sisa_sbuf_printf(b, "\n## %s\n\n", title);
    else
        sisa_sbuf_printf(b, "\n%s:\n", title);
}

static void reference_keys(sisa_sbuf *b, int markdown)
{
    sisa_config def;
    sisa_config_defaults(&def);
    if (markdown)
        sisa_sbuf_printf(b, "| key | type | default | allowed values | in hash | meaning |\n"
                            "|---|---|---|---|---|---|\n");
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        char dflt[256], bounds[256], line[1024];
        sisa_sbuf d;
        sisa_sbuf_init(&d, dflt, sizeof dflt);
        if (k->required)
            sisa_sbuf_printf(&d, "required");
        else
            sisa_schema_format_value(&d, k, &def);
        sisa_sbuf_init(&d, bounds, sizeof bounds);
        sisa_schema_format_bounds(&d, k);
        if (markdown) {
            sisa_sbuf_printf(b, "| `%s` | %s | %s%s%s | %s | %s | %s", k->key, type_name(k),
                             k->required ? "" : "`", dflt, k->required ? "" : "`", bounds,
                             k->hashed ? "yes" : "no", k->doc);
            if (k->when) sisa_sbuf_printf(b, " Only used when %s.", k->when);
            sisa_sbuf_printf(b, " |\n");
            continue;
        }
        sisa_sbuf_printf(b, "  %s\n", k->key);
        snprintf(line, sizeof line, "%s%s%s; allowed: %s%s%s%s", type_name(k),
                 k->required ? ", " : ", default ", dflt, bounds,
                 k->when ? "; only used when " : "", k->when ? k->when : "",
                 k->hashed ? "; in the config hash" : "");
        para(b, markdown, "      ", 6, line);
        para(b, markdown, "      ", 6, k->doc);
    }
}

size_t sisa_config_reference(char *out, size_t cap, int markdown)
{
    sisa_sbuf b;
    sisa_sbuf_init(&b, out, cap);
    char text[2048];

    if (markdown)
        sisa_sbuf_printf(&b, "# Config file reference\n\n"
                             "<!-- Generated by `sisa config reference --markdown` from the key "
                             "table in src/config/schema.c.\n"
                             "     Do not edit by hand: a test checks that the two agree. -->\n\n");
    else
        sisa_sbuf_printf(&b, "CONFIG FILES\n\n");
    para(&b, markdown, "", 0,
         "A sisa config file is one YAML mapping. Keys of a section are nested under the "
         "section's name: the key `train.lr` is written as `train:` followed by an indented "
         "line `lr: 0.001`. Only `data.train` and `store` are required; every other key has the "
         "default shown below. `sisa config show -c FILE` prints a file with every default "
         "filled in and every path resolved; `sisa config check -c FILE` validates one.");

    heading(&b, markdown, "Keys");
    reference_keys(&b, markdown);

    heading(&b, markdown, "Paths");
    para(&b, markdown, "", 0,
         "Relative paths are resolved against the folder that physically holds the config "
         "file: not the current folder, and not the folder as spelt in the path you typed. When "
         "the file is reached through a symbolic link (to the file itself or to a folder on the "
         "way), the folder of the link's target counts.");
    sisa_sbuf_printf(&b, "\n");
    para(&b, markdown, "", 0,
         "Every path, relative or absolute, is then resolved as the operating system resolves "
         "it: symbolic links are followed, and `..` leads to the parent of the folder actually "
         "reached, not to the parent in the text. With `run` a link to `deep/run`, `run/../st` "
         "is `deep/st`, and a config in `deep/run` saying `store: ../st` names `deep/st` whether "
         "it is read as `run/cfg.yaml`, `deep/run/cfg.yaml` or `cfg.yaml` from inside `run`. "
         "Folders that do not exist yet (a store before its first run) are taken as written. So "
         "one config file names one store, however it is reached: `sisa config show` prints "
         "the resolved paths, every command uses them, and the job scripts in `slurm/` pass the "
         "config on, so that their jobs name the same store as your own commands.");
    sisa_sbuf_printf(&b, "\n");
    snprintf(text, sizeof text,
             "A leading `~` is not expanded, so it is rejected. A resolved path may have at most "
             "%d bytes, and the store's path at most %d: sisa keeps %d bytes for the names of "
             "the files it makes inside the store.",
             SISA_CONFIG_PATH_MAX - 1, SISA_CONFIG_PATH_MAX - 1 - SISA_STORE_PATH_RESERVE,
             SISA_STORE_PATH_RESERVE);
    para(&b, markdown, "", 0, text);

    heading(&b, markdown, "What the loader rejects");
    para(&b, markdown, "", 0,
         "Every problem is reported as `FILE:LINE:COLUMN: sentence`, pointing at the offending "
         "key or value, and `sisa` exits with status 2. Rejected are:");
    if (markdown) sisa_sbuf_printf(&b, "\n");
    static const char *const rules[] = {
        "unknown keys (with a suggestion when a key is misspelt or belongs in another section) "
        "and keys given twice;",
        "missing required keys;",
        "values of the wrong type: integers are plain decimal digits with an optional `-` (no "
        "`+`, leading zeros, `_`, exponents, hex or quotes); booleans are exactly `true` or "
        "`false`; floats are plain decimal numbers (integers allowed) and must be finite (no "
        "`.inf`, `.nan`, `1e999`); paths and choices may be plain or quoted; a list or mapping "
        "where a single value belongs, or the reverse;",
        "keys without a value (`lr:`, `lr: ~`, `lr: null`);",
        "values out of range, unknown choices, and combinations that contradict each other: "
        "`model.hidden` with `model.type: logreg`, `train.nesterov: true` with `adam` or with "
        "`momentum: 0`, `data.test` the same file as `data.train`, `store` the same path as a "
        "dataset;",
        "anchors (`&a`), aliases (`*a`), tags (`!!str`, `%TAG`), more than one document, a file "
        "that is empty or not a mapping at the top, nesting deeper than the keys above allow, "
        "invalid YAML or UTF-8, and files over 1 MiB.",
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        para(&b, markdown, markdown ? "- " : "  - ", markdown ? 2 : 4, rules[i]);

    heading(&b, markdown, "The config hash");
    para(&b, markdown, "", 0,
         "`sisa config check` and `sisa config show` print the config hash, which training "
         "records in the store and every checkpoint. It is the SHA-256, in lower-case hex, of "
         "the text `sisa-config-v1` and a newline, followed by one line `KEY: VALUE` and a "
         "newline for each key in the config hash, in the order of the table above. KEY is the "
         "dotted name and VALUE is written as `sisa config show` writes it: integers in "
         "decimal, floats in the shortest form that reads back as the same double, booleans as "
         "`true`/`false`, choices by name, lists as `[a, b]`. Exactly the keys that can change "
         "trained bits are hashed; the dataset paths, the store and the aggregation strategy "
         "are not, so moving files or changing how predictions are combined keeps the hash.");
    return b.len;
}
