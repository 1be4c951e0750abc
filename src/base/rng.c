/*
 * rng.c - Philox4x32-10 and the streams built on it (see rng.h).
 */
#include "base/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void sisa_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x0 = ctr[0], x1 = ctr[1], x2 = ctr[2], x3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
        uint32_t y1 = (uint32_t)p1;
        uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        uint32_t y3 = (uint32_t)p0;
        x0 = y0;
        x1 = y1;
        x2 = y2;
        x3 = y3;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

void sisa_rng_init(sisa_rng *r, uint64_t seed, uint32_t domain, uint32_t a, uint32_t b, uint32_t c)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = a;
    r->ctr[2] = b;
    r->ctr[3] = (domain << 24) | (c & 0xffffffu);
    r->used = 4;
}

uint32_t sisa_rng_u32(sisa_rng *r)
{
    if (r->used == 4) {
        sisa_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->used = 0;
    }
    return r->buf[r->used++];
}

uint32_t sisa_rng_below(sisa_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)sisa_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(0u - n) % n;
        while (low < threshold) {
            m = (uint64_t)sisa_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float sisa_rng_uniform(sisa_rng *r)
{
    return (float)(sisa_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

void sisa_rng_shuffle(sisa_rng *r, uint32_t *idx, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = sisa_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

uint64_t sisa_rng_assign(uint64_t seed, uint64_t value, int tag)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)value, (uint32_t)(value >> 32), 0,
                       (uint32_t)SISA_RNG_ASSIGN << 24};
    uint32_t out[4];
    sisa_philox4x32_10(ctr, key, out);
    int w = tag ? 2 : 0;
    return (uint64_t)out[w] | (uint64_t)out[w + 1] << 32;
}
