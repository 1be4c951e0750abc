/*
 * sha256.c - SHA-256 as specified in FIPS 180-4 §6.2; checked against the NIST vectors in
 * tests/test_base.c.
 *
 * Two implementations of the compression function: portable C, and one on the x86 SHA
 * extensions (SHA-NI), chosen at run time. Hashing a 188 MB dataset for the store's manifest
 * takes about 0.8 s in C and a fraction of that with SHA-NI. Both compute the same function;
 * tests compare them on random inputs of every length up to several blocks.
 *
 * sisa_sha256_update_multi feeds up to 4 independent messages of equal length at once (the
 * leaves of the two-level dataset digest, io/dsdigest.h): SHA-NI then interleaves them, which
 * hides the latency of its round instruction; the portable code hashes them one by one. Tests
 * check it against the one-message path.
 */
#include "base/sha256.h"

#include <string.h>

/* Not with clang: clang 14's __builtin_cpu_supports does not know "sha", so clang builds (the
 * fuzzers, scripts/fuzz.sh) use the portable code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define SISA_HAVE_SHANI 1
#else
#define SISA_HAVE_SHANI 0
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t block[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

#if SISA_HAVE_SHANI
#define SHANI_MAX_WAYS 4
/* Compress `nblocks` consecutive 64-byte blocks of each of `ways` independent messages with the
 * SHA extensions. The state of a message lives in two registers as (A,B,E,F) and (C,D,G,H), the
 * layout sha256rnds2 works on; each step of the inner loop does 4 rounds and extends the message
 * schedule by 4 words. sha256rnds2 has a latency of several cycles, so one message leaves the
 * unit idle most of the time: interleaving 2 or 4 messages (the leaves of a two-level digest)
 * nearly doubles or triples the throughput. `ways` is a constant in every caller, so the loops
 * over it unroll and the state stays in registers. */
__attribute__((target("sha,sse4.1,ssse3"), always_inline)) static inline void
shani_ways(uint32_t *const h[], const uint8_t *const src[], size_t nblocks, const int ways)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i s0[SHANI_MAX_WAYS], s1[SHANI_MAX_WAYS];
    const uint8_t *p[SHANI_MAX_WAYS];
    for (int j = 0; j < ways; j++) {
        __m128i tmp = _mm_loadu_si128((const __m128i *)&h[j][0]); /* D C B A */
        __m128i st = _mm_loadu_si128((const __m128i *)&h[j][4]);  /* H G F E */
        tmp = _mm_shuffle_epi32(tmp, 0xB1);                       /* C D A B */
        st = _mm_shuffle_epi32(st, 0x1B);                         /* E F G H */
        s0[j] = _mm_alignr_epi8(tmp, st, 8);                      /* A B E F */
        s1[j] = _mm_blend_epi16(st, tmp, 0xF0);                   /* C D G H */
        p[j] = src[j];
    }
    for (; nblocks--;) {
        __m128i save0[SHANI_MAX_WAYS], save1[SHANI_MAX_WAYS], w[SHANI_MAX_WAYS][4];
        for (int j = 0; j < ways; j++) {
            save0[j] = s0[j];
            save1[j] = s1[j];
        }
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            const __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * i]);
#pragma GCC unroll 4
            for (int j = 0; j < ways; j++) {
                __m128i cur;
                if (i < 4) {
                    cur =
                        _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p[j] + 16 * i)), bswap);
                } else {
                    /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four words at once. */
                    cur = _mm_sha256msg1_epu32(w[j][i & 3], w[j][(i + 1) & 3]);
                    cur = _mm_add_epi32(cur,
                                        _mm_alignr_epi8(w[j][(i + 3) & 3], w[j][(i + 2) & 3], 4));
                    cur = _mm_sha256msg2_epu32(cur, w[j][(i + 3) & 3]);
                }
                w[j][i & 3] = cur;
                __m128i msg = _mm_add_epi32(cur, k);
                s1[j] = _mm_sha256rnds2_epu32(s1[j], s0[j], msg);
                msg = _mm_shuffle_epi32(msg, 0x0E);
                s0[j] = _mm_sha256rnds2_epu32(s0[j], s1[j], msg);
            }
        }
        for (int j = 0; j < ways; j++) {
            s0[j] = _mm_add_epi32(s0[j], save0[j]);
            s1[j] = _mm_add_epi32(s1[j], save1[j]);
            p[j] += 64;
        }
    }
    for (int j = 0; j < ways; j++) {
        __m128i tmp = _mm_shuffle_epi32(s0[j], 0x1B);                          /* F E B A */
        __m128i st = _mm_shuffle_epi32(s1[j], 0xB1);                           /* D C H G */
        _mm_storeu_si128((__m128i *)&h[j][0], _mm_blend_epi16(tmp, st, 0xF0)); /* D C B A */
        _mm_storeu_si128((__m128i *)&h[j][4], _mm_alignr_epi8(st, tmp, 8));    /* H G F E */
    }
}

__attribute__((target("sha,sse4.1,ssse3"), noinline)) static void
compress_shani(uint32_t *const h[], const uint8_t *const p[], size_t nblocks)
{
    shani_ways(h, p, nblocks, 1);
}

__attribute__((target("sha,sse4.1,ssse3"), noinline)) static void
compress_shani_x2(uint32_t *const h[], const uint8_t *const p[], size_t nblocks)
{
    shani_ways(h, p, nblocks, 2);
}

__attribute__((target("sha,sse4.1,ssse3"), noinline)) static void
compress_shani_x4(uint32_t *const h[], const uint8_t *const p[], size_t nblocks)
{
    shani_ways(h, p, nblocks, 4);
}
#endif

static int use_shani = -1; /* -1: not decided yet */

void sisa_sha256_use_accel(int on)
{
#if SISA_HAVE_SHANI
    __builtin_cpu_init();
    use_shani = on && __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
#else
    (void)on;
    use_shani = 0;
#endif
}

int sisa_sha256_accel(void)
{
    if (use_shani < 0) sisa_sha256_use_accel(1);
    return use_shani;
}

static void compress_blocks(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
#if SISA_HAVE_SHANI
    if (sisa_sha256_accel()) {
        uint32_t *hs[1] = {h};
        const uint8_t *ps[1] = {p};
        compress_shani(hs, ps, nblocks);
        return;
    }
#endif
    for (; nblocks--; p += 64) compress(h, p);
}

/* `nblocks` blocks of each of n messages: the portable code one message after the other, or the
 * SHA extensions on up to 4 at a time. */
static void compress_multi(uint32_t *const h[], const uint8_t *const p[], size_t nblocks, int n)
{
#if SISA_HAVE_SHANI
    if (sisa_sha256_accel()) {
        int i = 0;
        for (; n - i >= 4; i += 4) compress_shani_x4(h + i, p + i, nblocks);
        for (; n - i >= 2; i += 2) compress_shani_x2(h + i, p + i, nblocks);
        if (i < n) compress_shani(h + i, p + i, nblocks);
        return;
    }
#endif
    for (int i = 0; i < n; i++) compress_blocks(h[i], p[i], nblocks);
}

void sisa_sha256_init(sisa_sha256_ctx *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0;
    c->nbuf = 0;
}

void sisa_sha256_update(sisa_sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->nbytes += len;
    if (c->nbuf) {
        size_t take = 64 - c->nbuf < len ? 64 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        len -= take;
        if (c->nbuf < 64) return;
        compress_blocks(c->h, c->buf, 1);
        c->nbuf = 0;
    }
    compress_blocks(c->h, p, len / 64);
    p += len / 64 * 64;
    len %= 64;
    memcpy(c->buf, p, len);
    c->nbuf = len;
}

void sisa_sha256_update_multi(sisa_sha256_ctx *const c[], const void *const data[], size_t len,
                              int n)
{
    uint32_t *h[SISA_SHA256_MAX_MULTI];
    const uint8_t *p[SISA_SHA256_MAX_MULTI];
    int same = n >= 1 && n <= SISA_SHA256_MAX_MULTI;
    for (int i = 1; same && i < n; i++) same = c[i]->nbuf == c[0]->nbuf;
    if (!same) {
        for (int i = 0; i < n; i++) sisa_sha256_update(c[i], data[i], len);
        return;
    }
    /* Every context has the same bytes buffered: top the buffers up, compress them together,
     * then the whole blocks of each message in place, and buffer the tails. */
    size_t off = 0;
    if (c[0]->nbuf) {
        size_t take = 64 - c[0]->nbuf < len ? 64 - c[0]->nbuf : len;
        for (int i = 0; i < n; i++) {
            memcpy(c[i]->buf + c[i]->nbuf, data[i], take);
            c[i]->nbuf += take;
            c[i]->nbytes += take;
        }
        off = take;
        if (c[0]->nbuf < 64) return;
        for (int i = 0; i < n; i++) {
            h[i] = c[i]->h;
            p[i] = c[i]->buf;
            c[i]->nbuf = 0;
        }
        compress_multi(h, p, 1, n);
    }
    size_t blocks = (len - off) / 64, tail = (len - off) % 64;
    for (int i = 0; i < n; i++) {
        h[i] = c[i]->h;
        p[i] = (const uint8_t *)data[i] + off;
    }
    compress_multi(h, p, blocks, n);
    for (int i = 0; i < n; i++) {
        memcpy(c[i]->buf, p[i] + blocks * 64, tail);
        c[i]->nbuf = tail;
        c[i]->nbytes += len - off;
    }
}

void sisa_sha256_final(sisa_sha256_ctx *c, uint8_t out[SISA_SHA256_LEN])
{
    uint64_t bits = c->nbytes * 8;
    uint8_t pad = 0x80;
    sisa_sha256_update(c, &pad, 1);
    pad = 0;
    while (c->nbuf != 56) sisa_sha256_update(c, &pad, 1);
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++) len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    sisa_sha256_update(c, len_be, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void sisa_sha256(uint8_t out[SISA_SHA256_LEN], const void *data, size_t len)
{
    sisa_sha256_ctx c;
    sisa_sha256_init(&c);
    sisa_sha256_update(&c, data, len);
    sisa_sha256_final(&c, out);
}

void sisa_hex(char *out, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sisa_unhex(uint8_t *out, const char *hex, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(hex[2 * i]);
        int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if (lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
