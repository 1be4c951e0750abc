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

/* Count one request; 1 when it is the one to refuse. */
static int refuse(void)
{
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
