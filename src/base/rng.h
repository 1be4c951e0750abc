/*
 * rng.h - counter-based randomness: Philox4x32-10 (Salmon et al., SC'11).
 *
 * Every random decision in sisa is a pure function of (seed, what it is for), never of time,
 * rank, thread or call order: the key is the 64-bit config seed, and the 128-bit counter names
 * the purpose. That is what lets a shard retrain on any rank, after any crash, and produce the
 * same bits (docs/design.md, "The exactness contract").
 *
 * Counter layout, in 32-bit words: ctr[0] = block index within a stream, ctr[1] = a,
 * ctr[2] = b, ctr[3] = (domain << 24) | (c & 0xffffff). Domains:
 *   SISA_RNG_INIT     a = shard                 parameter initialisation
 *   SISA_RNG_ORDER    a = shard, b = stage, c = epoch   minibatch order
 *   SISA_RNG_ASSIGN   keyed hash of an ID or group key (sisa_rng_assign)
 *   SISA_RNG_CHECK    a = layer, b = rows       inputs of the OpenBLAS self-check (seed 0)
 *   5                 the gauge's draws (src/gauge/gauge.c)
 *   SISA_RNG_OUTLIER  a = tree                  Isolation Forest subsamples and splits
 * Philox's known-answer vectors are checked in tests/test_base.c.
 */
#ifndef SISA_BASE_RNG_H
#define SISA_BASE_RNG_H

#include <stdint.h>

enum {
    SISA_RNG_INIT = 1,
    SISA_RNG_ORDER = 2,
    SISA_RNG_ASSIGN = 3,
    SISA_RNG_CHECK = 4,
    SISA_RNG_OUTLIER = 6,
    SISA_RNG_TEST = 255
};

/* One Philox4x32-10 block. */
void sisa_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A stream of 32-bit draws: blocks 0, 1, 2, ... of one (seed, domain, a, b, c) counter. The
 * whole state is these fields, so it can be saved in a checkpoint and resumed exactly. */
typedef struct sisa_rng {
    uint32_t key[2];
    uint32_t ctr[4]; /* ctr[0] is the next block */
    uint32_t buf[4];
    uint32_t used; /* draws consumed from buf (4 = empty) */
} sisa_rng;

void sisa_rng_init(sisa_rng *r, uint64_t seed, uint32_t domain, uint32_t a, uint32_t b, uint32_t c);
uint32_t sisa_rng_u32(sisa_rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's multiply-shift with
 * rejection, all in 64-bit arithmetic). */
uint32_t sisa_rng_below(sisa_rng *r, uint32_t n);
/* Uniform float in [0, 1): the top 24 bits of a draw times 2^-24 (exact in float32). */
float sisa_rng_uniform(sisa_rng *r);
/* Fisher-Yates shuffle of idx[0..n) driven by r: idx[i] swaps with idx[below(i + 1)] for
 * i = n-1 down to 1. */
void sisa_rng_shuffle(sisa_rng *r, uint32_t *idx, uint32_t n);

/* Keyed 64-bit hash of `value` under `seed` for the purpose `tag` (0: shard, 1: slice):
 * the words (2*tag, 2*tag+1) of Philox(key = seed, ctr = (lo32(value), hi32(value), 0,
 * SISA_RNG_ASSIGN << 24)). Used for shard = hash % S and slice = hash % R. */
uint64_t sisa_rng_assign(uint64_t seed, uint64_t value, int tag);

#endif
