/*
 * bench_sha.c - SHA-256 throughput of src/base/sha256.c, one thread.
 *
 *   bench_sha [MEGABYTES]     (default 256: bytes hashed per case)
 *
 * Cases: the portable C compression, SHA-NI on one message (a file's hash: the journal's), and
 * SHA-NI on 2 and 4 messages at once (sisa_sha256_update_multi: the dataset digest's leaves).
 * Prints GB/s per case, best of 3, and the CPU's SHA-NI support. Nothing is checked (the
 * implementations are compared in tests/test_base.c).
 */
#include "base/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Hash `total` bytes as `ways` messages of total/ways bytes each; best GB/s of 3. */
static double rate(const unsigned char *buf, size_t total, int ways)
{
    double best = 0;
    const size_t each = total / (size_t)ways;
    for (int run = 0; run < 3; run++) {
        sisa_sha256_ctx c[4], *cp[4];
        const void *p[4];
        for (int j = 0; j < ways; j++) {
            sisa_sha256_init(&c[j]);
            cp[j] = &c[j];
            p[j] = buf + (size_t)j * each;
        }
        double t0 = now();
        if (ways == 1)
            sisa_sha256_update(&c[0], buf, each);
        else
            sisa_sha256_update_multi(cp, p, each, ways);
        double t = now() - t0;
        uint8_t d[32];
        for (int j = 0; j < ways; j++) sisa_sha256_final(&c[j], d);
        double r = (double)(each * (size_t)ways) / t / 1e9;
        if (r > best) best = r;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
    if (mb < 4 || mb > 4096) {
        fprintf(stderr, "usage: bench_sha [MEGABYTES (4..4096)]\n");
        return 2;
    }
    size_t total = mb << 20;
    unsigned char *buf = malloc(total);
    if (!buf) return 1;
    for (size_t i = 0; i < total; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
    const int ni = sisa_sha256_accel();
    printf("SHA-256 over %zu MB, best of 3; SHA-NI %s\n", mb, ni ? "available" : "not available");
    sisa_sha256_use_accel(0);
    printf("  portable C, 1 message:   %5.2f GB/s\n", rate(buf, total, 1));
    sisa_sha256_use_accel(0);
    printf("  portable C, 4 messages:  %5.2f GB/s\n", rate(buf, total, 4));
    if (ni) {
        sisa_sha256_use_accel(1);
        printf("  SHA-NI, 1 message:       %5.2f GB/s\n", rate(buf, total, 1));
        printf("  SHA-NI, 2 messages:      %5.2f GB/s\n", rate(buf, total, 2));
        printf("  SHA-NI, 4 messages:      %5.2f GB/s\n", rate(buf, total, 4));
    }
    free(buf);
    return 0;
}
