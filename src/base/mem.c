/*
 * mem.c - the allocation seam (mem.h): the C library's allocator behind one counter that a test
 * can arm to fail the N-th request.
 */
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static unsigned long n_calls; /* allocations asked for since the hook was last set */
static unsigned long fail_at; /* the one to refuse (0: none) */
static int failed;

#ifdef SISA_MEM_FAULT_ENV
/* Compiled in only for the CLI out-of-memory test (tests/oomseam.c includes this file with the
 * macro defined; the library and the installed `sisa` never have it): the environment arms the
 * hook of a whole process.
 *   SISA_OOM_FAIL_AT=N       the N-th allocation (1-based) returns NULL, once
 *   SISA_OOM_COUNT_OUT=FILE  at exit, append "N\n" to FILE: the allocations asked for
 * A malformed SISA_OOM_FAIL_AT aborts, so that a typo cannot pass for "no fault happened". */
#include <stdio.h>

static int configured;

static void report_count(void)
{
    const char *out = getenv("SISA_OOM_COUNT_OUT");
    FILE *f = out && *out ? fopen(out, "a") : NULL;
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
            fprintf(stderr, "sisa: SISA_OOM_FAIL_AT=%s is not a positive number\n", v);
            abort();
        }
    }
    atexit(report_count);
}
#endif

/* Count one request; 1 when it is the one to refuse. */
static int refuse(void)
{
#ifdef SISA_MEM_FAULT_ENV
    if (!configured) configure();
#endif
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
