/*
 * setup.c - see setup.h.
 */
#include "shard/setup.h"

#include "base/fs.h"
#include "base/log.h"
#include "io/dsstream.h"
#include "shard/partition.h"
#include "shard/train.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <stdio.h>
#include <string.h>

int sisa_setup_new_store(const char *root)
{
    char path[SISA_PATH_MAX];
    static const char *const marks[] = {"manifest", "ledger"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        if (sisa_path_resolve(path, sizeof path, root, marks[i]) < 0) {
            sisa_error_clear();
            return 0; /* not judged: the store's own open reports the path */
        }
        if (sisa_fs_exists(path)) return 0;
    }
    return 1;
}

int sisa_setup_check_shape(const sisa_config *cfg, uint64_t d)
{
    if (cfg->model.type != SISA_MODEL_CNN) return SISA_OK;
    uint64_t shape[SISA_MAX_FEATURE_RANK];
    int rank = 0;
    int err = sisa_dataset_read_feature_shape(cfg->data.train, &rank, shape);
    if (err < 0) return err;
    const uint64_t c = (uint64_t)cfg->model.input[0], h = (uint64_t)cfg->model.input[1],
                   w = (uint64_t)cfg->model.input[2];
    char have[160] = "";
    size_t used = 0;
    for (int i = 0; i < rank && used < sizeof have; i++) {
        int n = snprintf(have + used, sizeof have - used, "%s%llu", i ? ", " : "",
                         (unsigned long long)shape[i]);
        if (n > 0) used += (size_t)n;
    }
    if (rank == 0)
        return SISA_ERR(SISA_ECONFIG,
                        "%s: model.type is cnn, but %s records no feature_shape, so nothing says "
                        "its %llu features a row form [%llu, %llu, %llu] images; import the "
                        "images with 'sisa import idx' or 'sisa import h5' (which record it)",
                        cfg->source, cfg->data.train, (unsigned long long)d, (unsigned long long)c,
                        (unsigned long long)h, (unsigned long long)w);
    const int same = (rank == 3 && shape[0] == c && shape[1] == h && shape[2] == w) ||
                     (rank == 2 && c == 1 && shape[0] == h && shape[1] == w);
    if (!same || d != c * h * w)
        return SISA_ERR(SISA_ECONFIG,
                        "%s: model.input is [%llu, %llu, %llu], but %s holds rows of shape [%s] "
                        "(%llu features); set model.input to the dataset's feature_shape",
                        cfg->source, (unsigned long long)c, (unsigned long long)h,
                        (unsigned long long)w, cfg->data.train, have, (unsigned long long)d);
    return SISA_OK;
}

int sisa_setup_check_rows(const sisa_config *cfg, uint64_t n)
{
    const uint64_t S = (uint64_t)cfg->sisa.shards, R = (uint64_t)cfg->sisa.slices;
    if (n >= S * R) return SISA_OK;
    /* What to change: the largest shards (keeping the slices) and slices (keeping the shards)
     * that n rows can fill. */
    char advice[256];
    const uint64_t max_s = n / R, max_r = n / S;
    if (max_s >= 1 && max_r >= 1)
        snprintf(advice, sizeof advice,
                 "Lower sisa.shards to %llu or fewer (keeping slices: %llu), or sisa.slices to "
                 "%llu or fewer (keeping shards: %llu)",
                 (unsigned long long)max_s, (unsigned long long)R, (unsigned long long)max_r,
                 (unsigned long long)S);
    else if (max_s >= 1)
        snprintf(advice, sizeof advice, "Lower sisa.shards to %llu or fewer (keeping slices: %llu)",
                 (unsigned long long)max_s, (unsigned long long)R);
    else if (max_r >= 1)
        snprintf(advice, sizeof advice, "Lower sisa.slices to %llu or fewer (keeping shards: %llu)",
                 (unsigned long long)max_r, (unsigned long long)S);
    else
        snprintf(advice, sizeof advice,
                 "Lower sisa.shards and sisa.slices so that their product is %llu or less",
                 (unsigned long long)n);
    return SISA_ERR(SISA_ECONFIG,
                    "%s: %s has %llu rows, fewer than sisa.shards x sisa.slices = %llu x %llu "
                    "= %llu: every slice of every shard needs at least one row, or shards "
                    "and stages train on nothing. %s, or use more data",
                    cfg->source, cfg->data.train, (unsigned long long)n, (unsigned long long)S,
                    (unsigned long long)R, (unsigned long long)(S * R), advice);
}

/* "stage 1 of R", "stages 1-m of R", "all R stages" or "the only stage (sisa.slices: 1)". */
static void name_stages(char *out, size_t cap, uint32_t m, uint32_t R)
{
    if (R == 1)
        snprintf(out, cap, "the only stage (sisa.slices: 1)");
    else if (m == 1)
        snprintf(out, cap, "stage 1 of %u", R);
    else if (m < R)
        snprintf(out, cap, "stages 1-%u of %u", m, R);
    else
        snprintf(out, cap, "all %u stages", R);
}

/* What to change, from the mean rows per shard and the fewest rows any stage 1 gets. */
static void stage_advice(char *out, size_t cap, const sisa_config *cfg, double per_shard,
                         uint64_t least)
{
    const double B = cfg->train.batch_size;
    const double max_r = per_shard / B;
    if (max_r >= cfg->sisa.slices) /* the mean shard is fine: some shards are smaller */
        snprintf(out, cap, "lower train.batch_size to %llu or less, or use fewer shards",
                 (unsigned long long)(least ? least : 1));
    else if (max_r >= 1)
        snprintf(out, cap,
                 "with sisa.slices: %llu or fewer the stages get about a minibatch or more; or "
                 "lower train.batch_size, or use fewer shards",
                 (unsigned long long)max_r);
    else
        snprintf(out, cap,
                 "a shard holds about %.0f rows, less than one minibatch even in one slice: "
                 "lower train.batch_size to %.0f or less, or use fewer shards",
                 per_shard, per_shard >= 1 ? per_shard : 1.0);
}

void sisa_setup_warn_expected(const sisa_config *cfg, uint64_t n)
{
    const uint32_t S = (uint32_t)cfg->sisa.shards, R = (uint32_t)cfg->sisa.slices;
    const double B = cfg->train.batch_size;
    const double per_shard = (double)n / S;
    uint32_t m = 0;
    if (cfg->model.type == SISA_MODEL_KNN) return; /* no minibatches */
    while (m < R && per_shard * (m + 1) / R < B) m++;
    if (!m) return;
    char stages[64], advice[256], last[64] = "";
    name_stages(stages, sizeof stages, m, R);
    stage_advice(advice, sizeof advice, cfg, per_shard, (uint64_t)(per_shard / R));
    if (m > 1) snprintf(last, sizeof last, " and %.1f at stage %u", per_shard * m / R, m);
    sisa_warn("%s: %s %s expected to train on fewer rows than one minibatch (train.batch_size "
              "%d): %llu rows in %u shards give about %.1f rows per shard at stage 1%s, so %s "
              "take%s few optimizer steps and teach%s little; %s",
              cfg->source, stages, m == 1 ? "is" : "are", cfg->train.batch_size,
              (unsigned long long)n, S, per_shard / R, last, m == 1 ? "it" : "those stages",
              m == 1 ? "s" : "", m == 1 ? "es" : "", advice);
}

/* The first shards (up to 8) whose last stage has no row, "3, 7, 12, ..."; returns how many. */
static uint32_t empty_shards(const sisa_config *cfg, const uint64_t *stage_rows, char *out,
                             size_t cap)
{
    const uint32_t S = (uint32_t)cfg->sisa.shards, R = (uint32_t)cfg->sisa.slices;
    uint32_t n = 0;
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t k = 0; k < S; k++) {
        if (stage_rows[(size_t)k * R + R - 1]) continue;
        int w = ++n <= 8 ? snprintf(out + used, cap - used, "%s%u", used ? ", " : "", k)
                : n == 9 ? snprintf(out + used, cap - used, ", ...")
                         : 0;
        if (w > 0 && (size_t)w < cap - used) used += (size_t)w;
    }
    return n;
}

int sisa_setup_check_columns(const sisa_config *cfg, int has_group, int has_risk)
{
    /* Presence only: no rows, and stand-ins for the columns the header says exist. */
    static const uint64_t group = 0;
    static const uint8_t risk = 0;
    return sisa_partition_check_columns(cfg, cfg->data.train, 0, has_group ? &group : NULL,
                                        has_risk ? &risk : NULL);
}

void sisa_setup_warn_exact(const sisa_config *cfg, const uint64_t *stage_rows)
{
    const uint32_t S = (uint32_t)cfg->sisa.shards, R = (uint32_t)cfg->sisa.slices;
    const uint64_t B = (uint64_t)cfg->train.batch_size;
    char names[128];
    const uint32_t n_empty = empty_shards(cfg, stage_rows, names, sizeof names);
    if (n_empty)
        sisa_warn("%s: %u of %u shards get no row of %s (shard%s %s): they have no model and "
                  "stay out of the ensemble; use fewer shards (%s)%s",
                  cfg->source, n_empty, S, cfg->data.train, n_empty == 1 ? "" : "s", names,
                  cfg->sisa.sharding == SISA_SHARDING_TIERED ? "their tiers' shards in sisa.tiers"
                                                             : "sisa.shards",
                  sisa_config_by_group(cfg)
                      ? ", or more groups: sharding: group keeps all rows of a group in one "
                        "shard"
                      : "");
    uint32_t used = 0, small_k = 0;
    uint64_t total = 0, small = UINT64_MAX;
    for (uint32_t k = 0; k < S; k++) {
        const uint64_t *rows = stage_rows + (size_t)k * R;
        if (!rows[R - 1]) continue;
        used++;
        total += rows[R - 1];
        if (sisa_partition_last_slice_shard(cfg, k)) continue; /* stages 1..R-1 empty by design */
        if (rows[0] < small) {
            small = rows[0];
            small_k = k;
        }
    }
    if (!used) return;
    /* Rows per stage never shrink from one stage to the next, in every shard: the stages below
     * a minibatch in some shard are 1..m. */
    uint32_t m = 0;
    uint64_t at_m = 0;
    for (uint32_t r = 1; r <= R; r++) {
        uint64_t least = UINT64_MAX;
        for (uint32_t k = 0; k < S; k++) {
            const uint64_t v = stage_rows[(size_t)k * R + r - 1];
            if (stage_rows[(size_t)k * R + R - 1] && v < least &&
                !sisa_partition_last_slice_shard(cfg, k))
                least = v;
        }
        if (least >= B) break;
        m = r;
        at_m = least;
    }
    if (!m || cfg->model.type == SISA_MODEL_KNN) return;
    char stages[64], advice[256], last[96] = "";
    name_stages(stages, sizeof stages, m, R);
    stage_advice(advice, sizeof advice, cfg, (double)total / used, small);
    const uint64_t visits = sisa_stage_visits(small, (uint32_t)sisa_config_epochs(cfg), R);
    if (m > 1)
        snprintf(last, sizeof last, ", and some shard has %llu at stage %u",
                 (unsigned long long)at_m, m);
    sisa_warn("%s: %s train%s on fewer rows than one minibatch (train.batch_size %llu) in at least "
              "one shard: shard %u has %llu row%s at stage 1 (%llu sample visit%s in the whole "
              "stage)%s; %s few optimizer steps and teach%s little; %s",
              cfg->source, stages, m == 1 ? "s" : "", (unsigned long long)B, small_k,
              (unsigned long long)small, small == 1 ? "" : "s", (unsigned long long)visits,
              visits == 1 ? "" : "s", last, m == 1 ? "it takes" : "such stages take",
              m == 1 ? "es" : "", advice);
}
