/*
 * oomseam.c - the allocation seam (src/base/mem.h) with a fault switch in the environment, for
 * the CLI out-of-memory test only (tests/test_oom.c; CTest builds it into `sisa_oomcli`, the CLI
 * linked with this file in front of libsisa, so the archive's own base/mem.c is never linked in;
 * the installed `sisa` has no switch).
 *
 *   SISA_OOM_FAIL_AT=N       the N-th allocation through the seam (1-based) returns NULL, once
 *   SISA_OOM_COUNT_OUT=FILE  at exit, append "N\n" to FILE: how many allocations were asked for
 *                            (the failed one included)
 *
 * Unset: every allocation succeeds and only counts. A malformed SISA_OOM_FAIL_AT aborts, so that
 * a typo cannot pass for "no fault happened".
 */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long n_calls, fail_at;
static int failed, configured;

static void report(void)
{
    const char *out = getenv("SISA_OOM_COUNT_OUT");
    if (!out || !*out) return;
    FILE *f = fopen(out, "a");
    if (!f) return;
    fprintf(f, "%lu\n", n_calls);
    fclose(f);
}

static void configure(void)
{
    configured = 1;
    const char *v = getenv("SISA_OOM_FAIL_AT");
    if (v && *v) {
        char *end = NULL;
        fail_at = strtoul(v, &end, 10);
        if (!end || *end || fail_at == 0) {
            fprintf(stderr, "oomseam: SISA_OOM_FAIL_AT=%s is not a positive number\n", v);
            abort();
        }
    }
    atexit(report);
}

static int refuse(void)
{
    if (!configured) configure();
    n_calls++;
    if (fail_at && n_calls == fail_at) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *sisa_malloc(size_t size)
{
    return refuse() ? NULL : malloc(size);
}

void *sisa_calloc(size_t n, size_t size)
{
    return refuse() ? NULL : calloc(n, size);
}

void *sisa_realloc(void *p, size_t size)
{
    return refuse() ? NULL : realloc(p, size);
}

void *sisa_aligned_alloc(size_t align, size_t size)
{
    return refuse() ? NULL : aligned_alloc(align, size);
}

char *sisa_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = sisa_malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

void sisa_free(void *p)
{
    free(p);
}

void sisa_mem_fail_at(unsigned long n)
{
    n_calls = 0;
    fail_at = n;
    failed = 0;
}

unsigned long sisa_mem_count(void)
{
    return n_calls;
}

int sisa_mem_failed(void)
{
    return failed;
}
