/*
 * error.c - the thread-local error slot behind sisa/error.h.
 *
 * One slot per thread, filled by the innermost failure. Messages are bounded (1 KiB) and
 * truncated with "..." rather than allocated, so recording an error can never itself fail.
 */
#include "sisa/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SISA_ERRMSG_MAX 1024

typedef struct {
    int code;
    char msg[SISA_ERRMSG_MAX];
    char origin[160];
} sisa_error_slot;

static _Thread_local sisa_error_slot slot;

static void mark_truncated(char *buf, size_t cap, int written)
{
    if (written >= 0 && (size_t)written >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
}

int sisa_error_set(int code, const char *src, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(slot.msg, sizeof slot.msg, fmt, ap);
    va_end(ap);
    if (n < 0) snprintf(slot.msg, sizeof slot.msg, "%s", "(unformattable error message)");
    mark_truncated(slot.msg, sizeof slot.msg, n);
    const char *base = src ? strrchr(src, '/') : NULL;
    snprintf(slot.origin, sizeof slot.origin, "%s:%d", base ? base + 1 : (src ? src : "?"), line);
    slot.code = code;
    return code;
}

int sisa_error_prefix(const char *fmt, ...)
{
    if (slot.code == SISA_OK) return SISA_OK;
    char prefix[SISA_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return slot.code;
    char joined[SISA_ERRMSG_MAX];
    int m = snprintf(joined, sizeof joined, "%s: %s", prefix, slot.msg);
    mark_truncated(joined, sizeof joined, m);
    memcpy(slot.msg, joined, sizeof slot.msg);
    return slot.code;
}

const char *sisa_error_message(void)
{
    return slot.msg;
}

int sisa_error_code(void)
{
    return slot.code;
}

const char *sisa_error_origin(void)
{
    return slot.origin;
}

void sisa_error_clear(void)
{
    slot.code = SISA_OK;
    slot.msg[0] = '\0';
    slot.origin[0] = '\0';
}

const char *sisa_error_name(int code)
{
    switch (code) {
    case SISA_OK:
        return "success";
    case SISA_EIO:
        return "I/O error";
    case SISA_ECORRUPT:
        return "invalid input";
    case SISA_ENOMEM:
        return "out of memory";
    case SISA_EUSAGE:
        return "usage error";
    case SISA_ECONFIG:
        return "configuration error";
    case SISA_EREJECT:
        return "request rejected";
    case SISA_EEXIST:
        return "output exists";
    case SISA_EINTR:
        return "interrupted";
    case SISA_EINTERNAL:
        return "internal error";
    case SISA_ESTOPPED:
        return "stopped on request";
    case SISA_EBUSY:
        return "store busy";
    default:
        return "unknown error";
    }
}

int sisa_exit_code(int code)
{
    switch (code) {
    case SISA_OK:
        return SISA_EXIT_OK;
    case SISA_EUSAGE:
    case SISA_ECONFIG:
    case SISA_EEXIST:
        return SISA_EXIT_USAGE;
    case SISA_EREJECT:
        return SISA_EXIT_REJECTED;
    case SISA_EINTR:
        return SISA_EXIT_INTERRUPTED;
    case SISA_ESTOPPED:
    case SISA_EBUSY:
        return SISA_EXIT_STOPPED;
    default:
        return SISA_EXIT_FAILURE;
    }
}
