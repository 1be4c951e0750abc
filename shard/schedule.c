/*
 * schedule.c - see schedule.h.
 */
#include "shard/schedule.h"
#include "base/mem.h"

#include <stdlib.h>

typedef struct {
    uint64_t cost;
    uint32_t index;
} item;

static int by_cost_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

int sisa_schedule_lpt(const uint64_t *cost, uint32_t n, uint32_t ranks, uint32_t *owner)
{
    item *items = sisa_malloc((n ? n : 1) * sizeof *items);
    uint64_t *load = sisa_calloc(ranks ? ranks : 1, sizeof *load);
    if (!items || !load) {
        sisa_free(items);
        sisa_free(load);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) items[i] = (item){cost[i], i};
    qsort(items, n, sizeof *items, by_cost_desc);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = 0;
        for (uint32_t r = 1; r < ranks; r++)
            if (load[r] < load[best]) best = r;
        owner[items[i].index] = best;
        load[best] += items[i].cost;
    }
    sisa_free(items);
    sisa_free(load);
    return 0;
}
