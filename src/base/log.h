/*
 * log.h - leveled logging to stderr and the process-wide interrupt flag.
 *
 * Results a user asked for go to stdout; everything about how the work is going (progress,
 * notices, warnings) goes to stderr through these macros, which test the level before they
 * evaluate their arguments.
 */
#ifndef SISA_BASE_LOG_H
#define SISA_BASE_LOG_H

#include "sisa/error.h"

typedef enum {
    SISA_LOG_QUIET = 0, /* errors only (printed by the CLI) */
    SISA_LOG_WARN = 1,
    SISA_LOG_INFO = 2,
    SISA_LOG_DEBUG = 3,
} sisa_log_level;

void sisa_log_set_level(int level);
/* Text put after "sisa: " on every line, e.g. "rank 3: " in multi-rank jobs ("" by default). */
void sisa_log_set_prefix(const char *prefix);
int sisa_log_level_get(void);
void sisa_log_write(int level, const char *fmt, ...) SISA_PRINTF(2, 3);

#define SISA_LOG(level, ...)                                                                       \
    do {                                                                                           \
        if (sisa_log_level_get() >= (level)) sisa_log_write((level), __VA_ARGS__);                 \
    } while (0)
#define sisa_warn(...)  SISA_LOG(SISA_LOG_WARN, __VA_ARGS__)
#define sisa_info(...)  SISA_LOG(SISA_LOG_INFO, __VA_ARGS__)
#define sisa_debug(...) SISA_LOG(SISA_LOG_DEBUG, __VA_ARGS__)

/* Interrupt flag. The CLI's SIGINT/SIGTERM handler calls sisa_interrupt_raise() (it only stores
 * to a volatile sig_atomic_t, so it is async-signal-safe); long loops poll
 * sisa_interrupt_requested() and unwind with SISA_EINTR, removing their partial output. */
void sisa_interrupt_raise(int signo);
int sisa_interrupt_requested(void);
void sisa_interrupt_reset(void);

/* Stop request (SIGUSR1, SIGTERM: a scheduler's warning before a time limit or pre-emption).
 * Unlike an interrupt, work continues to the next stage boundary, commits it, and unwinds with
 * SISA_ESTOPPED; running the command again continues from there. Async-signal-safe too. */
void sisa_stop_raise(int signo);
int sisa_stop_requested(void);

#endif
