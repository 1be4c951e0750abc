/*
 * schedule.h - which rank does which piece of work.
 *
 * One rule everywhere (shards to train, shards to retrain after a deletion, prediction work):
 * longest processing time first. Items are taken in decreasing cost, ties by lower index, and
 * each goes to the rank with the least total cost so far, ties to the lower rank. The result
 * depends only on the costs and the rank count, so every rank computes the same map, and a
 * rerun with the same costs gives the same map. Results never depend on the map: a shard
 * trains to the same bits on whichever rank it lands.
 */
#ifndef SISA_SHARD_SCHEDULE_H
#define SISA_SHARD_SCHEDULE_H

#include <stdint.h>

/* owner[i] (0..ranks-1) for each of n items with cost[i]. ranks >= 1. Returns 0, or -1 when
 * out of memory. */
int sisa_schedule_lpt(const uint64_t *cost, uint32_t n, uint32_t ranks, uint32_t *owner);

#endif
