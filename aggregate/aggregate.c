/*
 * aggregate.c - see aggregate.h.
 *
 * One definition of the arithmetic: sisa_aggregate is the streaming combiner run over blocks of
 * rows, so the whole-array and the streamed paths give the same bits by construction.
 */
#include "aggregate/aggregate.h"

#include "sisa/error.h"
#include "base/mem.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define AGGREGATE_BLOCK 256

uint32_t sisa_argmax(const float *p, uint32_t classes)
{
    uint32_t best = 0;
    for (uint32_t c = 1; c < classes; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

void sisa_combiner_free(sisa_combiner *c)
{
    sisa_free(c->acc);
    sisa_free(c->weights);
    memset(c, 0, sizeof *c);
}

int sisa_combiner_init(sisa_combiner *c, sisa_strategy strategy, uint32_t models,
                       const double *weights, uint32_t classes, uint64_t max_rows)
{
    int err = SISA_OK;
    memset(c, 0, sizeof *c);
    SISA_CHECK(models > 0, SISA_EUSAGE, "no shard has a model to predict with");
    SISA_CHECK(classes >= 1, SISA_EINTERNAL, "no classes");
    SISA_CHECK(strategy == SISA_AGG_VOTE || strategy == SISA_AGG_MEAN ||
                   strategy == SISA_AGG_WEIGHTED,
               SISA_EUSAGE,
               "aggregation strategy %d does not combine posteriors (merge combines kNN "
               "neighbour lists: run/ensemble.c)",
               (int)strategy);
    c->strategy = strategy;
    c->models = models;
    c->classes = classes;
    c->max_rows = max_rows ? max_rows : 1;
    if (strategy == SISA_AGG_WEIGHTED) {
        c->weights = sisa_malloc(models * sizeof *c->weights);
        SISA_CHECK(c->weights, SISA_ENOMEM, "out of memory");
        for (uint32_t k = 0; k < models; k++) {
            SISA_CHECK(weights && weights[k] > 0, SISA_EUSAGE,
                       "weighted aggregation needs positive weights (model %u has %g)", k,
                       weights ? weights[k] : 0.0);
            c->weights[k] = weights[k];
            c->wsum += weights[k];
        }
    }
    SISA_CHECK(c->max_rows <= SIZE_MAX / sizeof *c->acc / classes, SISA_ENOMEM, "out of memory");
    c->acc = sisa_malloc(c->max_rows * classes * sizeof *c->acc);
    SISA_CHECK(c->acc, SISA_ENOMEM, "out of memory for a block of %llu rows",
               (unsigned long long)c->max_rows);
done:
    if (err < 0) sisa_combiner_free(c);
    return err;
}

int sisa_combiner_begin(sisa_combiner *c, uint64_t rows)
{
    if (rows > c->max_rows)
        return SISA_ERR(SISA_EINTERNAL, "a block of %llu rows in a combiner of %llu",
                        (unsigned long long)rows, (unsigned long long)c->max_rows);
    c->rows = rows;
    c->next = 0;
    memset(c->acc, 0, rows * c->classes * sizeof *c->acc);
    return SISA_OK;
}

int sisa_combiner_add(sisa_combiner *c, uint32_t model, const float *proba)
{
    if (model != c->next || model >= c->models)
        return SISA_ERR(SISA_EINTERNAL, "model %u combined where model %u was due", model, c->next);
    const uint32_t C = c->classes;
    for (uint64_t i = 0; i < c->rows; i++) {
        double *a = c->acc + i * C;
        const float *p = proba + i * C;
        if (c->strategy == SISA_AGG_VOTE) {
            a[sisa_argmax(p, C)] += 1.0;
        } else if (c->strategy == SISA_AGG_WEIGHTED) {
            for (uint32_t k = 0; k < C; k++) a[k] += c->weights[model] * (double)p[k];
        } else {
            for (uint32_t k = 0; k < C; k++) a[k] += (double)p[k];
        }
    }
    c->next++;
    return SISA_OK;
}

int sisa_combiner_finish(sisa_combiner *c, float *out_proba, int32_t *out_label)
{
    if (c->next != c->models)
        return SISA_ERR(SISA_EINTERNAL, "block finished after %u of %u models", c->next, c->models);
    const uint32_t C = c->classes;
    for (uint64_t i = 0; i < c->rows; i++) {
        const double *a = c->acc + i * C;
        float *out = out_proba + i * C;
        for (uint32_t k = 0; k < C; k++) {
            if (c->strategy == SISA_AGG_VOTE) /* counts are exact small integers */
                out[k] = (float)a[k] / (float)c->models;
            else
                out[k] = (float)(a[k] /
                                 (c->strategy == SISA_AGG_WEIGHTED ? c->wsum : (double)c->models));
        }
        out_label[i] = (int32_t)sisa_argmax(out, C);
    }
    return SISA_OK;
}

int sisa_aggregate(sisa_strategy strategy, uint32_t models, const float *const *proba,
                   const double *weights, uint64_t n, uint32_t classes, float *out_proba,
                   int32_t *out_label)
{
    int err = SISA_OK;
    sisa_combiner c = {0};
    SISA_TRY(sisa_combiner_init(&c, strategy, models, weights, classes, AGGREGATE_BLOCK));
    for (uint64_t r0 = 0; r0 < n; r0 += AGGREGATE_BLOCK) {
        const uint64_t nr = n - r0 < AGGREGATE_BLOCK ? n - r0 : AGGREGATE_BLOCK;
        SISA_TRY(sisa_combiner_begin(&c, nr));
        for (uint32_t k = 0; k < models; k++)
            SISA_TRY(sisa_combiner_add(&c, k, proba[k] + r0 * classes));
        SISA_TRY(sisa_combiner_finish(&c, out_proba + r0 * classes, out_label + r0));
    }
done:
    sisa_combiner_free(&c);
    return err;
}
