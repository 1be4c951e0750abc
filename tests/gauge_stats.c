/*
 * gauge_stats.c - the gauge's statistics on populations read from stdin, for
 * tests/gauge_reference.py to compare with its own implementation.
 *
 * Input: cases, each "NA NB" then NA values of population a and NB of b (any format strtod
 * reads; the reference writes hex floats so that both sides see the same bits). Output, one
 * line per case: epsilon, KS p-value, AUC (a as members' losses, b as non-members'), the bucket
 * score of epsilon with n = min(NA, NB) models, all as %.17g ("inf" for infinity).
 */
#include "gauge/score.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    size_t na, nb;
    while (scanf("%zu %zu", &na, &nb) == 2) {
        double *a = malloc((na + nb) * sizeof *a);
        if (!a) return 1;
        double *b = a + na;
        for (size_t k = 0; k < na + nb; k++) {
            char tok[64];
            if (scanf("%63s", tok) != 1) return 1;
            a[k] = strtod(tok, NULL);
        }
        sisa_gauge_work w;
        if (sisa_gauge_work_init(&w, na + nb) != 0) return 1;
        double eps = sisa_gauge_epsilon(a, na, b, nb, SISA_GAUGE_DELTA, &w);
        double p = sisa_gauge_ks_pvalue(a, na, b, nb, &w);
        double auc = sisa_gauge_auc(a, na, b, nb, &w);
        double score = sisa_gauge_bucket_score(eps, na < nb ? na : nb);
        printf("%.17g %.17g %.17g %.17g\n", eps, p, auc, score);
        sisa_gauge_work_free(&w);
        free(a);
    }
    return 0;
}
