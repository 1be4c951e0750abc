/*
 * sandbox.h - run risky parsing in a child process.
 *
 * HDF5 1.10 "is not designed to handle maliciously crafted files safely", and can crash inside
 * its own cleanup after an I/O error (../shared/notes/reliability.md). Work that parses foreign
 * files therefore runs in a forked child: a crash, a runaway loop (CPU limit) or a core dump of
 * the data cannot take the parent down, and the parent removes any partial output.
 */
#ifndef SISA_BASE_SANDBOX_H
#define SISA_BASE_SANDBOX_H

/* Run fn(arg) in a child process and return its result. The child's error code and message
 * reach the parent's error slot. A child killed by a signal or by the CPU limit gives
 * SISA_ECORRUPT with a message naming `what`. Core dumps are disabled in the child (it may hold
 * personal data). `cpu_seconds` = 0 means no CPU limit. */
int sisa_sandbox_run(int (*fn)(void *arg), void *arg, const char *what, unsigned cpu_seconds);

#endif
