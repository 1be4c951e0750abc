/*
 * sisa/error.h - error codes and the per-thread error slot.
 *
 * Every sisa function that can fail returns an int: SISA_OK (0) or one of the negative codes
 * below. The innermost failure also fills a thread-local slot with a sentence a user can act on,
 * naming the file and the problem ("data/train.csv:17: column 'px3': 'abc' is not a number").
 * Outer layers may prepend context with sisa_error_prefix(); they never overwrite the slot.
 *
 * Library code never exits or aborts: only the CLI turns a code into a process exit status,
 * through sisa_exit_code(), which is the one place the mapping of docs/exit-codes.md lives.
 */
#ifndef SISA_ERROR_H
#define SISA_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __GNUC__
#define SISA_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define SISA_PRINTF(fmt_idx, arg_idx)
#endif

enum {
    SISA_OK = 0,
    SISA_EIO = -1,       /* the operating system failed a read, write, fsync or rename */
    SISA_ECORRUPT = -2,  /* an input file is malformed, truncated, foreign or inconsistent */
    SISA_ENOMEM = -3,    /* an allocation failed */
    SISA_EUSAGE = -4,    /* bad command-line arguments */
    SISA_ECONFIG = -5,   /* the configuration file is invalid */
    SISA_EREJECT = -6,   /* a request was rejected (e.g. unknown sample IDs); nothing changed */
    SISA_EEXIST = -7,    /* the output already exists and replacing it was not asked for */
    SISA_EINTR = -8,     /* interrupted by SIGINT; partial output removed */
    SISA_EINTERNAL = -9, /* a broken invariant: a bug in sisa */
    SISA_ESTOPPED = -10, /* stopped on request (SIGUSR1/SIGTERM) at a stage boundary */
    SISA_EBUSY = -11,    /* the store is held by another writer: temporary, run again later */
};

/* Process exit statuses (docs/exit-codes.md). */
enum {
    SISA_EXIT_OK = 0,
    SISA_EXIT_FAILURE = 1,       /* runtime failure: I/O, corrupt file, MPI, out of memory */
    SISA_EXIT_USAGE = 2,         /* usage or configuration error */
    SISA_EXIT_REJECTED = 3,      /* request rejected, store untouched */
    SISA_EXIT_STOPPED = 75,      /* temporary (EX_TEMPFAIL): stopped early on request with the
                                  * committed work kept, or the store is busy: run it again */
    SISA_EXIT_INTERRUPTED = 130, /* 128 + SIGINT: stopped on a signal, partial output removed */
};

/* The longest message the slot holds, in bytes with its NUL. A longer message is shortened in
 * its middle, never at its end, so that its reason survives: first the longest words (paths)
 * lose their middle ("/scratch/a/b...shards/0003/data.h5"), then, if that is not enough, the
 * message itself. A prefix keeps its start. Buffers that copy messages should be this big. */
#define SISA_ERROR_MAX 1024

/* Record an error and return `code`. `src`/`line` are the C source location (printed only in
 * debug mode); the message should name the user's file and the problem. */
int sisa_error_set(int code, const char *src, int line, const char *fmt, ...) SISA_PRINTF(4, 5);
/* Record an error at the caller's source location and return `code`:
 * `return SISA_ERR(SISA_ECORRUPT, "%s: truncated", path);`. Every call site uses this rather than
 * passing __FILE__ and __LINE__ by hand. */
#define SISA_ERR(code, ...) sisa_error_set((code), __FILE__, __LINE__, __VA_ARGS__)

/* The same with a va_list, for functions that add their own context to a caller's format. */
int sisa_error_setv(int code, const char *src, int line, const char *fmt, va_list ap)
    SISA_PRINTF(4, 0);

/* Prepend "context: " to the current message (e.g. which command or file was being handled),
 * shortened like any message. Returns the current code. A no-op when no error is recorded. */
int sisa_error_prefix(const char *fmt, ...) SISA_PRINTF(1, 2);

/* The current message ("" when none); borrowed, valid until the next sisa call on this thread. */
const char *sisa_error_message(void);
/* The current code (SISA_OK when none) and the C source location that set it. */
int sisa_error_code(void);
const char *sisa_error_origin(void);
void sisa_error_clear(void);

/* Short name of a code ("I/O error", "corrupt input", ...). */
const char *sisa_error_name(int code);
/* Exit status for a code, as documented in docs/exit-codes.md. */
int sisa_exit_code(int code);

/* Helpers for the one-exit style: every function declares `int err = SISA_OK;` and a `done:`
 * label that releases its resources unconditionally. */
#define SISA_FAIL(code, ...)                                                                       \
    do {                                                                                           \
        err = SISA_ERR((code), __VA_ARGS__);                                                       \
        goto done;                                                                                 \
    } while (0)

#define SISA_CHECK(cond, code, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) SISA_FAIL((code), __VA_ARGS__);                                               \
    } while (0)

/* Propagate a failure whose message is already recorded. A non-negative result (some calls
 * return 1 for "found") leaves `err` as it was. */
#define SISA_TRY(expr)                                                                             \
    do {                                                                                           \
        int sisa_try_rc_ = (expr);                                                                 \
        if (sisa_try_rc_ < 0) {                                                                    \
            err = sisa_try_rc_;                                                                    \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
