/*
 * tierplan.c - risk-tier planning (sisa/tiers.h): rows per tier from the dataset, the cost
 * model, and the suggested shard counts.
 */
#include "sisa/tiers.h"

#include "base/mem.h"
#include "base/strutil.h"
#include "io/dsstream.h"
#include "sisa/config.h"
#include "sisa/error.h"

#include <math.h>
#include <string.h>

/* Expected cost of a request for a row of a shard of m rows. */
static sisa_tier_cost request_cost(double m, uint32_t R, uint32_t E, int last_slice)
{
    sisa_tier_cost c = {m, 0};
    if (last_slice)
        c.visits = 2.0 * E * m / (R + 1.0);
    else
        c.visits = E * m * (2.0 * R + 1.0) / (3.0 * R);
    return c;
}

/* sum_t P_t cost_t for shards[t] per tier (the uniform case: every tier on all S shards). */
static sisa_tier_cost expected(const sisa_tier_plan *p, const int32_t *shards, int uniform)
{
    sisa_tier_cost sum = {0, 0};
    uint64_t n = 0;
    for (int t = 0; t < p->n_tiers; t++) n += p->rows[t];
    for (int t = 0; t < p->n_tiers; t++) {
        const double m = uniform ? (double)n / p->shards : (double)p->rows[t] / shards[t];
        const sisa_tier_cost c =
            request_cost(m, p->slices, p->epochs, uniform ? 0 : p->last_slice[t]);
        sum.rows += p->share[t] * c.rows;
        sum.visits += p->share[t] * c.visits;
    }
    return sum;
}

int sisa_tier_plan_compute(sisa_tier_plan *p)
{
    int err = SISA_OK;
    const int T = p->n_tiers;
    SISA_CHECK(T >= 1 && T <= SISA_TIER_PLAN_MAX, SISA_EUSAGE, "%d tiers; 1 to %d are allowed", T,
               SISA_TIER_PLAN_MAX);
    SISA_CHECK(p->shards >= (uint32_t)T, SISA_EUSAGE,
               "%u shards for %d tiers: every tier needs a shard of its own", p->shards, T);
    SISA_CHECK(p->slices >= 1, SISA_EUSAGE, "no slices");
    double total = 0, wsum = 0;
    for (int t = 0; t < T; t++) {
        SISA_CHECK(isfinite(p->rates[t]) && p->rates[t] >= 0, SISA_EUSAGE,
                   "rate %g of tier %d is not a non-negative number", p->rates[t], t);
        total += p->rates[t];
    }
    SISA_CHECK(total > 0, SISA_EUSAGE, "every rate is 0: no tier receives requests");
    for (int t = 0; t < T; t++) {
        p->share[t] = p->rates[t] / total;
        wsum += sqrt(p->share[t] * (double)p->rows[t]);
    }
    SISA_CHECK(wsum > 0, SISA_EUSAGE, "no tier has both rows and requests");
    for (int t = 0; t < T; t++)
        p->ideal[t] = p->shards * sqrt(p->share[t] * (double)p->rows[t]) / wsum;
    /* Greedy: one shard a tier, then each next shard where it saves the most rows per request
     * (P_t n_t (1/s - 1/(s+1))); ties go to the lower tier. */
    for (int t = 0; t < T; t++) p->suggested[t] = 1;
    for (uint32_t s = (uint32_t)T; s < p->shards; s++) {
        int best = 0;
        double best_gain = -1;
        for (int t = 0; t < T; t++) {
            const double k = p->suggested[t];
            const double gain = p->share[t] * (double)p->rows[t] / (k * (k + 1));
            if (gain > best_gain) {
                best_gain = gain;
                best = t;
            }
        }
        p->suggested[best]++;
    }
    p->uniform = expected(p, NULL, 1);
    p->suggestion = expected(p, p->suggested, 0);
    memset(&p->config, 0, sizeof p->config);
    if (p->current[0] > 0) p->config = expected(p, p->current, 0);
done:
    return err;
}

/* "r0,r1,..." into rates; the count in *n. */
static int parse_rates(const char *s, double *rates, int *n)
{
    int err = SISA_OK;
    *n = 0;
    SISA_CHECK(s && *s, SISA_EUSAGE, "no rates given (--rates r0,r1,...)");
    for (const char *p = s;;) {
        char tok[64];
        const size_t len = strcspn(p, ",");
        SISA_CHECK(len > 0 && len < sizeof tok, SISA_EUSAGE,
                   "--rates '%s': expected one number per tier, like 1,9", s);
        SISA_CHECK(*n < SISA_TIER_PLAN_MAX, SISA_EUSAGE, "--rates '%s': at most %d tiers", s,
                   SISA_TIER_PLAN_MAX);
        memcpy(tok, p, len);
        tok[len] = '\0';
        double v = 0;
        SISA_CHECK(sisa_parse_f64(tok, &v) == SISA_PARSE_OK && v >= 0, SISA_EUSAGE,
                   "--rates '%s': '%s' is not a non-negative number", s, tok);
        rates[(*n)++] = v;
        if (!p[len]) break;
        p += len + 1;
    }
done:
    return err;
}

int sisa_tier_plan_load(sisa_tier_plan *out, const char *config, const char *rates)
{
    int err = SISA_OK;
    sisa_config *cfg = sisa_malloc(sizeof *cfg);
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    memset(out, 0, sizeof *out);
    SISA_CHECK(cfg, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_config_load(cfg, config));
    SISA_TRY(parse_rates(rates, out->rates, &out->n_tiers));
    const int tiered = cfg->sisa.sharding == SISA_SHARDING_TIERED;
    SISA_CHECK(!tiered || out->n_tiers == cfg->sisa.n_tiers, SISA_EUSAGE,
               "--rates gives %d rate%s but %s lists %d tier%s in sisa.tiers", out->n_tiers,
               out->n_tiers == 1 ? "" : "s", config, (int)cfg->sisa.n_tiers,
               cfg->sisa.n_tiers == 1 ? "" : "s");
    SISA_TRY(sisa_dataset_stream_open(&ds, cfg->data.train, &hdr));
    const uint8_t *risk = sisa_dataset_stream_risk(ds);
    SISA_CHECK(risk, SISA_ECONFIG,
               "%s has no risk column, so its rows have no tiers to plan (import it with --risk "
               "COLUMN)",
               cfg->data.train);
    for (uint64_t i = 0; i < hdr.n; i++) {
        SISA_CHECK(risk[i] < out->n_tiers, SISA_EUSAGE,
                   "row %llu of %s has risk tier %d, but --rates gives rates for tiers 0..%d",
                   (unsigned long long)i, cfg->data.train, risk[i], out->n_tiers - 1);
        out->rows[risk[i]]++;
    }
    out->shards = (uint32_t)cfg->sisa.shards;
    out->slices = (uint32_t)cfg->sisa.slices;
    out->epochs = (uint32_t)sisa_config_epochs(cfg);
    for (int t = 0; tiered && t < out->n_tiers; t++) {
        out->current[t] = cfg->sisa.tiers[t].shards;
        out->last_slice[t] = cfg->sisa.tiers[t].last_slice;
    }
    SISA_TRY(sisa_tier_plan_compute(out));
done:
    sisa_dataset_stream_close(ds);
    sisa_free(cfg);
    return err;
}
