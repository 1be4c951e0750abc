/*
 * sysio.h - hints to the operating system for large buffers and large writes.
 *
 * sisa moves whole datasets through memory: a shard's rows, the blocks read from a dataset, the
 * data files written from them. On Linux, touching fresh memory costs one page fault per 4 KiB
 * page, which for a 188 MB dataset is about 46 000 faults (and under a hypervisor each is
 * expensive: this was a third of `sisa train`'s time); transparent huge pages make that 90
 * faults. Likewise a large file write can start reaching the disk while the writer still works,
 * so that the fsync that commits it finds little left to do. These are hints only: where they are
 * not available the functions fall back to plain behaviour, and nothing computed depends on them.
 */
#ifndef SISA_BASE_SYSIO_H
#define SISA_BASE_SYSIO_H

#include <stddef.h>
#include <sys/types.h>

/* `bytes` of uninitialised memory, released with sisa_free(). Large blocks are aligned to 2 MiB and
 * asked to be backed by huge pages. NULL when out of memory (or bytes == 0). */
void *sisa_alloc_large(size_t bytes);

/* Start writing back `len` bytes of `fd` at `off` (dirty pages after a write) without waiting. */
void sisa_writeback_start(int fd, off_t off, size_t len);

#endif
