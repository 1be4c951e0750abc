/*
 * log.c - leveled logging and the interrupt flag (see log.h).
 */
#include "base/log.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

static int log_level = SISA_LOG_INFO;
static char log_prefix[32];
static volatile sig_atomic_t interrupt_signal = 0;
static volatile sig_atomic_t stop_signal = 0;

void sisa_log_set_level(int level)
{
    log_level = level < SISA_LOG_QUIET ? SISA_LOG_QUIET : level;
}

int sisa_log_level_get(void)
{
    return log_level;
}

void sisa_log_set_prefix(const char *prefix)
{
    snprintf(log_prefix, sizeof log_prefix, "%s", prefix ? prefix : "");
}

void sisa_log_write(int level, const char *fmt, ...)
{
    static const char *const tags[] = {"", "warning: ", "", "debug: "};
    va_list ap;
    va_start(ap, fmt);
    fputs("sisa: ", stderr);
    fputs(log_prefix, stderr);
    fputs(tags[level < 0 ? 0 : level > 3 ? 3 : level], stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void sisa_interrupt_raise(int signo)
{
    interrupt_signal = signo ? signo : SIGINT;
}

int sisa_interrupt_requested(void)
{
    return interrupt_signal != 0;
}

void sisa_interrupt_reset(void)
{
    interrupt_signal = 0;
    stop_signal = 0;
}

void sisa_stop_raise(int signo)
{
    stop_signal = signo ? signo : SIGTERM;
}

int sisa_stop_requested(void)
{
    return stop_signal != 0;
}
