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

#include <stddef.h>

/* Run fn(arg, result) in a child process and return its code. On success the child's
 * `result_len` bytes at `result` (plain data, e.g. a summary struct) are copied back into the
 * parent's `result`; on failure the child's error code and message reach the parent's error
 * slot. A child killed by a signal or by the CPU limit gives SISA_ECORRUPT with a message naming
 * `what`. Core dumps are disabled in the child (it may hold personal data). `cpu_seconds` = 0
 * means no CPU limit. `result` may be NULL when `result_len` is 0. */
int sisa_sandbox_run(int (*fn)(void *arg, void *result), void *arg, void *result, size_t result_len,
                     const char *what, unsigned cpu_seconds);

/* The parent's half of sisa_sandbox_run, apart so that it can be tested (and fuzzed) without a
 * child: judge what a child sent (`got` bytes at `report`, of which at most
 * SISA_SANDBOX_REPORT_MAX were kept) and how it ended (`status` from waitpid). Accepted are
 * exactly: exit status 0 with the code 0 and `result_len` result bytes (copied to `result`), or
 * exit status 1 with a known negative code and a message (returned as that error, non-printable
 * bytes replaced). A signal is SISA_ECORRUPT naming `what`; anything else SISA_EINTERNAL. */
#define SISA_SANDBOX_REPORT_MAX 2048
int sisa_sandbox_decode(const void *report, size_t got, int status, void *result, size_t result_len,
                        const char *what, unsigned cpu_seconds);

#endif
