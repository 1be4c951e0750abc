/*
 * sysio.c - see sysio.h. Compiled with _GNU_SOURCE (madvise flags, sync_file_range).
 */
#include "base/sysio.h"
#include "base/mem.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *sisa_alloc_large(size_t bytes)
{
    if (bytes == 0) return NULL;
    if (bytes < HUGE_PAGE) return sisa_malloc(bytes);
    if (bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = sisa_aligned_alloc(HUGE_PAGE, size);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return p;
}

void sisa_writeback_start(int fd, off_t off, size_t len)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, off, (off_t)len, SYNC_FILE_RANGE_WRITE); /* a hint likewise */
#else
    (void)fd;
    (void)off;
    (void)len;
#endif
}
