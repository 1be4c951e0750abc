/*
 * score.h - the statistics of `sisa gauge`: how well an attacker can tell two populations of
 * models apart on one forget example (the NeurIPS 2023 Machine Unlearning Challenge's measure),
 * the two-sample Kolmogorov-Smirnov test and a loss-threshold membership inference AUC.
 *
 * Pure functions of their inputs (no I/O, no globals); docs/gauge.md states every rule, and
 * tests/gauge_reference.py implements the same rules independently with numpy and scipy.
 */
#ifndef SISA_GAUGE_SCORE_H
#define SISA_GAUGE_SCORE_H

#include <stddef.h>
#include <stdint.h>

#define SISA_GAUGE_DELTA      1e-5
#define SISA_GAUGE_EPS_NARROW 50.0 /* epsilon of a population with (almost) no spread */
#define SISA_GAUGE_P_CLIP     1e-12

/* The logit-scaled confidence log p - log(1 - p) of a posterior p of the true label, p clipped
 * to [1e-12, 1 - 1e-12]. */
double sisa_gauge_logit(double p);

/* Scratch memory for the functions below, sized for populations of up to `n` values together
 * (na + nb <= n); allocated once, so that scoring thousands of examples allocates nothing. */
typedef struct sisa_gauge_work {
    size_t n;
    double *d;  /* 6 (n + 2) */
    int64_t *i; /* 4 (n + 2) */
} sisa_gauge_work;

int sisa_gauge_work_init(sisa_gauge_work *w, size_t n);
void sisa_gauge_work_free(sisa_gauge_work *w);

/* Per-example epsilon between population `a` (the method under test, na models) and `b` (the
 * reference, nb models) of logit-scaled confidences, na, nb >= 1. The population with the larger
 * median is "positive" (a on a tie). A value s falls in bin floor(100 s): the thresholds are the
 * grid of 100 per unit of s. Rules: "positive iff bin >= k" for every k, and "positive iff
 * k1 <= bin <= k2" for every k1 <= k2. For each rule with false positive and false negative rates
 * FPR and FNR: both 0 gives infinity; exactly one 0 drops the rule; else
 * max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR) (a term whose first log
 * has no positive argument is left out). The result is the maximum over the rules, at least 0;
 * but 50 when the narrower population's range (max - min) is under 1 % of the wider one's, or 0.
 * Non-finite inputs give NaN. */
double sisa_gauge_epsilon(const double *a, size_t na, const double *b, size_t nb, double delta,
                          sisa_gauge_work *w);

/* The score of one example's epsilon with n models per population: bucket k = floor(eps / 0.5)
 * scores 2^-k for k < 2 * ceil(ln(n - 1)), beyond (and infinity) 0. n >= 3. */
double sisa_gauge_bucket_score(double eps, size_t n);

/* Exact two-sided p-value of the two-sample Kolmogorov-Smirnov statistic of `a` and `b` (as if
 * without ties: the probability under the null hypothesis that the statistic of two samples of
 * these sizes is at least the observed one). */
double sisa_gauge_ks_pvalue(const double *a, size_t na, const double *b, size_t nb,
                            sisa_gauge_work *w);

/* Area under the ROC curve of the rule "lower loss means a member": the probability that a
 * random non-member's loss exceeds a random member's, ties counting one half. */
double sisa_gauge_auc(const double *member, size_t n_member, const double *non, size_t n_non,
                      sisa_gauge_work *w);

/* Sort doubles ascending (NaN-free input). */
void sisa_gauge_sort(double *v, size_t n);

/* The q-quantile (0..1) of sorted v by linear interpolation between closest ranks. */
double sisa_gauge_quantile(const double *sorted, size_t n, double q);

#endif
