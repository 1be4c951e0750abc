/*
 * fuzz.h - what sisa's libFuzzer targets share (tests/fuzz, built with -DSISA_FUZZ=ON).
 *
 * Each target feeds one parser the bytes libFuzzer makes, the way sisa meets such input: as a
 * file in a folder (most parsers read files, some stream them through zlib). The files live in
 * a private scratch folder under $SISA_FUZZ_TMP (else /dev/shm, else /tmp), removed at exit.
 *
 * Besides the sanitizers' findings (crash, leak, undefined behaviour, a slow input), every
 * target checks what the error contract promises: a refusal is a known negative code with a
 * message, never SISA_EINTERNAL (a broken invariant), and the message names the input file.
 * A broken promise aborts, which libFuzzer reports as a crash with the input that caused it.
 */
#ifndef SISA_FUZZ_H
#define SISA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Once per process: the scratch folder, quiet logs, no progress output. */
void fz_init(void);
/* `name` inside the scratch folder (a static buffer per call site is the caller's). */
void fz_path(char *out, size_t cap, const char *name);
/* Write `len` bytes to `path`, plain or as a gzip stream (zlib). Abort on failure. */
void fz_write(const char *path, const void *data, size_t len);
void fz_write_gz(const char *path, const void *data, size_t len);
/* Remove every entry of the scratch folder (between inputs). */
void fz_clean(void);

enum {
    FZ_NAMES_FILE = 1,   /* the message must contain `name` */
    FZ_MAY_INTERNAL = 2, /* SISA_EINTERNAL is a documented answer here */
};
/* Check a return code against the error contract (see above); `rc` >= 0 passes. */
void fz_check(int rc, const char *name, int flags);
/* Abort with a message: a property of the target failed. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
