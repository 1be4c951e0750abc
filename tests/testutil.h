/*
 * testutil.h - shared helpers for sisa's cmocka tests.
 *
 * CTest passes the environment every test needs (tests/CMakeLists.txt):
 *   SISA_TEST_SRC   the source tree (fixtures, configs/)
 *   SISA_TEST_TMP   a scratch folder for this test executable, emptied before each run
 *   SISA_BIN        the sisa executable
 *   SISA_FMNIST     the Fashion-MNIST folder (/usr/share/datasets/fashion-mnist)
 */
#ifndef SISA_TESTUTIL_H
#define SISA_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* Environment variable, failing the test when unset. */
const char *tu_env(const char *name);

/* A fresh, empty folder SISA_TEST_TMP/<name>; returns a static buffer copy (caller keeps it in
 * its own array if it needs two at once). */
const char *tu_scratch(const char *name);

/* Join into a static rotating buffer (8 slots). */
const char *tu_path(const char *dir, const char *file);

void tu_write_file(const char *path, const void *data, size_t len);
void tu_write_text(const char *path, const char *text);
/* Whole file, NUL-terminated; caller frees. Fails the test when missing. */
char *tu_read_file(const char *path, size_t *len);
int tu_exists(const char *path);
/* Number of entries in a folder (not counting . and ..). */
int tu_count_entries(const char *dir);

/* gzip `data` into `path` with zlib (for fixtures). */
void tu_write_gzip(const char *path, const void *data, size_t len);

/* Run SISA_BIN with arguments (NULL-terminated), capture stdout and stderr (each up to 64 KiB)
 * and return the exit status (128 + signal when killed) and peak memory. `out`/`err` may be NULL.
 */
typedef struct tu_run {
    int status;
    long maxrss_kb; /* the child's peak resident memory (for mpirun: the launcher's) */
    char out[65536];
    char err[65536];
} tu_run;
void tu_sisa(tu_run *r, const char *arg0, ...);
/* Same with an argv array. */
void tu_sisa_argv(tu_run *r, const char *const *argv);
/* Run any program (argv[0], found on PATH) the same way. */
void tu_run_argv(tu_run *r, const char *const *argv);
/* Run SISA_BIN with arguments under SISA_MPIEXEC with p ranks (p = 0: directly, no mpirun).
 * Under the sanitizer build, leak checks are off for mpirun'd ranks: Open MPI does not free
 * what MPI_Init allocates, partly inside components it unloads at MPI_Finalize (so a
 * suppression file cannot name them). Every other check stays on, and the same code runs
 * leak-checked in the direct (p = 0) runs. */
void tu_sisa_ranks(tu_run *r, int p, const char *const *args);

/* SHA-256 hex of a whole file. */
void tu_sha_file(const char *path, char hex[65]);

/* Assert that `haystack` contains `needle`, printing both when it does not. */
#define tu_assert_contains(haystack, needle)                                                       \
    tu_assert_contains_(haystack, needle, __FILE__, __LINE__)
void tu_assert_contains_(const char *haystack, const char *needle, const char *file, int line);

#endif
