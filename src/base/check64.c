/*
 * check64.c - see check64.h. Four independent multiply-rotate lanes over 32-byte blocks (so the
 * multiplications pipeline), folded with the length at the end. Any split of the same bytes into
 * update() calls gives the same result.
 */
#include "base/check64.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; /* little-endian, any host */
    return v;
}

static void block(sisa_check64 *c, const uint8_t *p)
{
    for (int i = 0; i < 4; i++) c->lane[i] = rotl(c->lane[i] + load64(p + 8 * i) * P2, 31) * P1;
}

void sisa_check64_init(sisa_check64 *c)
{
    memset(c, 0, sizeof *c);
    c->lane[0] = P1 + P2;
    c->lane[1] = P2;
    c->lane[2] = 0;
    c->lane[3] = 0 - P1;
}

void sisa_check64_update(sisa_check64 *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->nbytes += len;
    if (c->nbuf) {
        size_t take = 32 - c->nbuf < len ? 32 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        len -= take;
        if (c->nbuf < 32) return;
        block(c, c->buf);
        c->nbuf = 0;
    }
    for (; len >= 32; p += 32, len -= 32) block(c, p);
    memcpy(c->buf, p, len);
    c->nbuf = len;
}

uint64_t sisa_check64_final(const sisa_check64 *c)
{
    uint64_t h =
        rotl(c->lane[0], 1) + rotl(c->lane[1], 7) + rotl(c->lane[2], 12) + rotl(c->lane[3], 18);
    h ^= c->nbytes * P1;
    for (size_t i = 0; i < c->nbuf; i++) h = rotl(h ^ (c->buf[i] * P2), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    return h;
}
