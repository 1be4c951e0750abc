/*
 * mem.h - the one allocation seam of the library.
 *
 * Every allocation sisa's library code makes goes through these functions, so that a test can
 * make the N-th one fail and check that the operation around it ends in a clean SISA_ENOMEM, no
 * leak and an intact store (the SQLite way: N = 1, 2, ... until the operation succeeds).
 *
 * They are the C library's functions with the same contracts: memory from them may be released
 * with free() and memory from malloc() with sisa_free(), so callers above the library (the CLI,
 * tests) may free what the library hands them either way. Allocations made by third-party
 * libraries inside their own calls (libyaml, HDF5, MPI, the C library's open_memstream) do not
 * pass here, and what they hand out is released with their own functions (H5free_memory...).
 * The one library allocation outside the seam is the error slot's buffer for a long message
 * (base/error.c): it reports the failures the seam injects, so it must not consume one.
 *
 * The failure hook is process-wide and meant for single-threaded tests.
 */
#ifndef SISA_BASE_MEM_H
#define SISA_BASE_MEM_H

#include <stddef.h>

void *sisa_malloc(size_t size);
void *sisa_calloc(size_t n, size_t size);
/* As realloc(): on failure returns NULL and leaves `p` allocated. */
void *sisa_realloc(void *p, size_t size);
/* As aligned_alloc(): `size` a multiple of `align`. */
void *sisa_aligned_alloc(size_t align, size_t size);
/* A copy of `s` on the heap, or NULL without memory. */
char *sisa_strdup(const char *s);
void sisa_free(void *p);

/* Test hook: count the allocations from now on and make the n-th (1 = the next) return NULL,
 * once. n = 0 disarms the hook and only counts. */
void sisa_mem_fail_at(unsigned long n);
/* How many allocations were asked for since the last sisa_mem_fail_at(), the failed one
 * included. */
unsigned long sisa_mem_count(void);
/* 1 when the armed failure has happened since the last sisa_mem_fail_at(). */
int sisa_mem_failed(void);

#endif
