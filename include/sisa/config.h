/*
 * sisa/config.h - the typed, validated run configuration.
 *
 * A config file is YAML, read through libyaml's event API and checked against one schema table
 * (src/config/schema.c) that also generates `sisa config --help` and docs/config.md. The loader
 * is strict: unknown or duplicate keys, wrong types, out-of-range or inconsistent values,
 * anchors, aliases, tags, several documents, nesting deeper than the schema and files over
 * 1 MiB are all rejected with SISA_ECONFIG and a message "FILE:LINE:COLUMN: sentence".
 *
 * sisa_config is plain old data (fixed-size arrays, no pointers), so it can be copied, compared
 * and broadcast to MPI ranks as bytes. Relative paths in the file are resolved against the
 * folder that physically holds the config file at load time, and every path is made physical
 * (symbolic links followed, ".." applied to the folder reached): the struct holds the resolved
 * paths, the same whichever path reached the file.
 */
#ifndef SISA_CONFIG_H
#define SISA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SISA_CONFIG_PATH_MAX   4096
#define SISA_CONFIG_MAX_HIDDEN 16
#define SISA_CONFIG_MAX_CONV   8 /* cnn: convolutional layers */
#define SISA_CONFIG_MAX_BYTES  (1024 * 1024)
/* sisa.tiers: at most this many risk tiers (a dataset's risk column holds 0..n_tiers-1). */
#define SISA_CONFIG_MAX_TIERS 16

/* Bytes a store may append to its folder's path: the longest path sisa makes inside a store,
 * a certificate's temp file "/certificates/.request-N.json.sisa-tmp-PID-C" with 20-digit
 * numbers, is 89 bytes; the rest is margin. A store's path may therefore have at most
 * SISA_CONFIG_PATH_MAX - 1 - SISA_STORE_PATH_RESERVE bytes (the loader checks it). */
#define SISA_STORE_PATH_RESERVE 200

/* tiered: the dataset's risk column picks a tier, the tier a range of shards (sisa.tiers). */
typedef enum {
    SISA_SHARDING_ID = 0,
    SISA_SHARDING_GROUP = 1,
    SISA_SHARDING_TIERED = 2
} sisa_sharding;

/* One risk tier of sisa.sharding tiered: its rows go to `shards` shards of their own (the tiers'
 * shards are consecutive, tier 0 first), and with last_slice to the last slice of each. */
typedef struct sisa_tier {
    int32_t shards;
    int32_t last_slice; /* 0 or 1 */
} sisa_tier;
typedef enum {
    SISA_MODEL_LOGREG = 0,
    SISA_MODEL_MLP = 1,
    SISA_MODEL_KNN = 2,
    SISA_MODEL_CNN = 3 /* convolutional network for image-shaped rows */
} sisa_model_type;
/* The distance of model.type knn (and of `sisa outliers --method lof`). */
typedef enum { SISA_METRIC_EUCLIDEAN = 0, SISA_METRIC_COSINE = 1 } sisa_metric;
typedef enum { SISA_ACT_RELU = 0 } sisa_activation;
typedef enum { SISA_OPT_SGD = 0, SISA_OPT_ADAM = 1 } sisa_optimizer;
typedef enum { SISA_SCHED_CONSTANT = 0, SISA_SCHED_COSINE = 1 } sisa_schedule;
typedef enum {
    SISA_AGG_VOTE = 0,
    SISA_AGG_MEAN = 1,
    SISA_AGG_WEIGHTED = 2,
    SISA_AGG_MERGE = 3 /* knn: the shards' neighbour lists merged into one kNN */
} sisa_strategy;

typedef struct sisa_config {
    char source[SISA_CONFIG_PATH_MAX]; /* the config file as given ("" for built-in defaults) */

    struct {
        char train[SISA_CONFIG_PATH_MAX]; /* resolved path of the training dataset */
        char test[SISA_CONFIG_PATH_MAX];  /* "" when absent */
    } data;
    char store[SISA_CONFIG_PATH_MAX]; /* resolved path of the store folder */
    uint64_t seed;

    struct {
        int32_t shards;
        int32_t slices;
        sisa_sharding sharding;
        int32_t n_tiers;                        /* tiered: 1..SISA_CONFIG_MAX_TIERS, else 0 */
        sisa_tier tiers[SISA_CONFIG_MAX_TIERS]; /* tiered: their shards add up to shards */
        sisa_sharding tier_key; /* tiered: what a tier hashes to pick a shard (id or group) */
    } sisa;

    struct {
        sisa_model_type type;
        int32_t n_hidden;
        int32_t hidden[SISA_CONFIG_MAX_HIDDEN];
        sisa_activation activation;
        int32_t k;                          /* knn: neighbours per prediction */
        sisa_metric metric;                 /* knn */
        int32_t n_conv;                     /* cnn: convolutional layers, input side first */
        int32_t conv[SISA_CONFIG_MAX_CONV]; /* cnn: output channels of each */
        int32_t kernel;                     /* cnn: odd side of the square kernels */
        int32_t pool;                       /* cnn: max-pooling window and stride (1: none) */
        int32_t n_input;  /* cnn: 3 after loading ([C, H, W]); 0 for other models */
        int32_t input[3]; /* cnn: channels, height, width of a row, as X stores it */
    } model;

    struct {
        sisa_optimizer optimizer;
        double lr;
        sisa_schedule schedule;   /* learning rate within each stage */
        double final_lr_fraction; /* cosine: the rate at the end of a stage, as a fraction of lr */
        double momentum;
        int32_t nesterov; /* 0 or 1 */
        double beta1;
        double beta2;
        double eps;
        double weight_decay;
        int32_t batch_size;
        int32_t epochs;
    } train;

    struct {
        sisa_strategy strategy;
    } aggregate;
} sisa_config;

/* Fill `cfg` with the schema's defaults (required keys left empty). */
void sisa_config_defaults(sisa_config *cfg);

/* Load and validate a config file. On failure `cfg` is unspecified and the error slot holds
 * "PATH:LINE:COL: ..." (SISA_ECONFIG) or an I/O error naming the file (SISA_EIO). */
int sisa_config_load(sisa_config *cfg, const char *path);

/* Same, from a buffer; `name` is used in messages and `base_dir` resolves relative paths. */
int sisa_config_parse(sisa_config *cfg, const char *text, size_t len, const char *name,
                      const char *base_dir);

/* Canonical YAML of every key (defaults included), in schema order. Writes at most `cap` bytes
 * including the NUL; returns the length it needed (like snprintf). */
size_t sisa_config_dump(const sisa_config *cfg, char *out, size_t cap);

/* SHA-256 (hex) over the canonical form of every key that changes training results (seed,
 * sisa.*, model.*, train.*), so moving data or store paths keeps the hash. */
void sisa_config_hash(const sisa_config *cfg, char out_hex[65]);

/* The reference of every key, generated from the schema table: plain text for
 * `sisa config --help`, Markdown for docs/config.md. Same return convention as dump. */
size_t sisa_config_reference(char *out, size_t cap, int markdown);

/* Names of enum values ("mlp", "adam", ...). */
const char *sisa_model_type_name(sisa_model_type t);
const char *sisa_optimizer_name(sisa_optimizer o);
const char *sisa_schedule_name(sisa_schedule s);
const char *sisa_strategy_name(sisa_strategy s);
const char *sisa_metric_name(sisa_metric m);

/* Epochs each shard trains: train.epochs, or 0 for knn, which trains nothing (its stages make
 * no sample visits; a deletion costs only the rewrite of the shard's rows). */
int32_t sisa_config_epochs(const sisa_config *cfg);
const char *sisa_sharding_name(sisa_sharding s);
/* Whether rows are placed by their group column: sharding group, or tiered with tier_key
 * group. */
int sisa_config_by_group(const sisa_config *cfg);

/* libyaml's version string, for `sisa --version`. */
const char *sisa_config_yaml_version(void);

#ifdef __cplusplus
}
#endif

#endif
