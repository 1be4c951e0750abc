/*
 * sisa/tiers.h - planning risk tiers (`sisa plan-tiers`, sisa.sharding: tiered).
 *
 * Given how many training rows each risk tier holds (n_t, the dataset's risk column) and how
 * deletion requests are expected to split over the tiers (P_t, from relative rates), a plan
 * compares the expected retraining cost of one deletion request under uniform sharding (every
 * row hashed over all S shards), under the config's tiers and under suggested tiers.
 *
 * Cost model (docs/design.md "Risk tiers"): a request for a row of tier t retrains the one
 * shard that holds it, of about m_t = n_t / S_t rows. "Rows retrained" is m_t. "Sample visits"
 * counts the training work the way unlearning does (stage r of a shard trains its first r
 * slices for 2E/(R+1) epochs): a row in a uniformly drawn slice costs E m_t (2R+1) / (3R) in
 * expectation; in a last_slice tier every row is in the last slice, which costs 2E m_t / (R+1).
 * Minimising sum_t P_t n_t / S_t with sum_t S_t = S gives S_t proportional to sqrt(P_t n_t); the
 * suggestion is the best integer split (at least one shard a tier), found greedily, which is
 * exact for this convex separable cost.
 */
#ifndef SISA_TIERS_H
#define SISA_TIERS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SISA_TIER_PLAN_MAX 16

/* One way to shard: expected cost of a deletion request. */
typedef struct sisa_tier_cost {
    double rows;   /* rows of the retrained shard */
    double visits; /* sample visits of retraining */
} sisa_tier_cost;

typedef struct sisa_tier_plan {
    /* in (sisa_tier_plan_compute) */
    int n_tiers;
    uint64_t rows[SISA_TIER_PLAN_MAX];   /* n_t */
    double rates[SISA_TIER_PLAN_MAX];    /* relative request rates, >= 0, not all 0 */
    int last_slice[SISA_TIER_PLAN_MAX];  /* tiers trained in the last slice only */
    int32_t current[SISA_TIER_PLAN_MAX]; /* the config's shards per tier, or all 0 */
    uint32_t shards, slices, epochs;     /* S, R, E (E = 0: knn, which retrains nothing) */
    /* out */
    double share[SISA_TIER_PLAN_MAX]; /* P_t: rates normalised to sum 1 */
    double ideal[SISA_TIER_PLAN_MAX]; /* S sqrt(P_t n_t) / sum_u sqrt(P_u n_u) */
    int32_t suggested[SISA_TIER_PLAN_MAX];
    sisa_tier_cost uniform, config, suggestion; /* config: all 0 without current tiers */
} sisa_tier_plan;

/* Fill the outputs from the inputs. SISA_EUSAGE when S < n_tiers (a tier needs a shard), a rate
 * is negative or not finite, or no tier has both rows and requests. */
int sisa_tier_plan_compute(sisa_tier_plan *p);

/* A plan for the config file `config`: rows per tier from its data.train's risk column, rates
 * from `rates` ("r0,r1,..."), S, R, E, and under sharding: tiered its tiers. SISA_ECONFIG or
 * SISA_EUSAGE naming the problem when the dataset has no risk column, a row's tier has no rate,
 * or the rates do not match the config's tiers. */
int sisa_tier_plan_load(sisa_tier_plan *out, const char *config, const char *rates);

#ifdef __cplusplus
}
#endif

#endif
