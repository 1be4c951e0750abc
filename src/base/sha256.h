/*
 * sha256.h - SHA-256 (FIPS 180-4), streaming.
 *
 * Used for config hashes, dataset digests, lineage hashes and the deletion ledger: everything a
 * user may want to recompute independently (e.g. `sha256sum`, Python's hashlib) to check sisa.
 */
#ifndef SISA_BASE_SHA256_H
#define SISA_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SISA_SHA256_LEN 32
#define SISA_SHA256_HEX 65 /* 64 hex digits + NUL */

typedef struct sisa_sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
} sisa_sha256_ctx;

void sisa_sha256_init(sisa_sha256_ctx *c);
void sisa_sha256_update(sisa_sha256_ctx *c, const void *data, size_t len);
void sisa_sha256_final(sisa_sha256_ctx *c, uint8_t out[SISA_SHA256_LEN]);
/* Up to SISA_SHA256_MAX_MULTI independent messages at once, each fed `len` bytes: the same as
 * sisa_sha256_update(c[i], data[i], len) for every i, faster with SHA-NI when the contexts have
 * been fed the same number of bytes mod 64 so far (else it is exactly that loop). */
#define SISA_SHA256_MAX_MULTI 4
void sisa_sha256_update_multi(sisa_sha256_ctx *const c[], const void *const data[], size_t len,
                              int n);
/* One-shot helper. */
void sisa_sha256(uint8_t out[SISA_SHA256_LEN], const void *data, size_t len);
/* Whether the x86 SHA extensions are used (decided on first use from the CPU); tests turn them
 * off to compare both implementations. */
int sisa_sha256_accel(void);
void sisa_sha256_use_accel(int on);

/* Lower-case hex of `len` bytes into `out` (2*len + 1 bytes). */
void sisa_hex(char *out, const uint8_t *bytes, size_t len);
/* The inverse, the one hex reader: `len` bytes from the first 2*len characters of `hex`, which
 * must all be lower-case hex digits (what sisa_hex writes). 0, or -1 when one is not (out is
 * then partly written). What follows them is the caller's to check. */
int sisa_unhex(uint8_t *out, const char *hex, size_t len);

#endif
