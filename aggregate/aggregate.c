/*
 * aggregate.c - see aggregate.h.
 */
#include "aggregate/aggregate.h"

#include "sisa/error.h"

#include <stddef.h>

uint32_t sisa_argmax(const float *p, uint32_t classes)
{
    uint32_t best = 0;
    for (uint32_t c = 1; c < classes; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

int sisa_aggregate(sisa_strategy strategy, uint32_t models, const float *const *proba,
                   const double *weights, uint64_t n, uint32_t classes, float *out_proba,
                   int32_t *out_label)
{
    int err = SISA_OK;
    SISA_CHECK(models > 0, SISA_EUSAGE, "no shard has a model to predict with");
    SISA_CHECK(classes >= 1, SISA_EINTERNAL, "no classes");
    double wsum = 0;
    if (strategy == SISA_AGG_WEIGHTED) {
        for (uint32_t k = 0; k < models; k++) {
            SISA_CHECK(weights && weights[k] > 0, SISA_EUSAGE,
                       "weighted aggregation needs positive weights (model %u has %g)", k,
                       weights ? weights[k] : 0.0);
            wsum += weights[k];
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        float *out = out_proba + i * classes;
        if (strategy == SISA_AGG_VOTE) {
            for (uint32_t c = 0; c < classes; c++) out[c] = 0;
            for (uint32_t k = 0; k < models; k++)
                out[sisa_argmax(proba[k] + i * classes, classes)] += 1.0f;
            for (uint32_t c = 0; c < classes; c++) out[c] /= (float)models;
        } else {
            for (uint32_t c = 0; c < classes; c++) {
                double s = 0;
                for (uint32_t k = 0; k < models; k++) {
                    double p = proba[k][i * classes + c];
                    s += strategy == SISA_AGG_WEIGHTED ? weights[k] * p : p;
                }
                out[c] = (float)(s / (strategy == SISA_AGG_WEIGHTED ? wsum : (double)models));
            }
        }
        out_label[i] = (int32_t)sisa_argmax(out, classes);
    }
done:
    return err;
}
