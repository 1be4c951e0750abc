/*
 * check64.h - a fast streaming 64-bit checksum for read-back verification.
 *
 * Not cryptographic: it detects bytes that did not reach the file as written (a silent HDF5
 * write failure, a torn write), at memory speed. Content that users may want to verify
 * independently is hashed with SHA-256 instead (base/sha256.h).
 */
#ifndef SISA_BASE_CHECK64_H
#define SISA_BASE_CHECK64_H

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_check64 {
    uint64_t lane[4];
    uint64_t nbytes;
    uint8_t buf[32];
    size_t nbuf;
} sisa_check64;

void sisa_check64_init(sisa_check64 *c);
void sisa_check64_update(sisa_check64 *c, const void *data, size_t len);
uint64_t sisa_check64_final(const sisa_check64 *c);

#endif
