/*
 * error.c - the thread-local error slot behind sisa/error.h.
 *
 * One slot per thread, filled by the innermost failure. A message is formatted in full first
 * (in a per-thread scratch buffer, on the heap when even that is too small), then fitted into
 * the slot's SISA_ERROR_MAX bytes by shortening it in the middle, never at the end: the reason
 * ("No such file or directory", "paths may have at most ...") comes last in sisa's sentences,
 * and a prefix added by an outer layer comes first. What goes is the middle of the longest
 * words, which in a message too long to show are paths: "/scratch/run/.../shards/0003/data.h5".
 * Recording an error never fails: without memory for a huge message (over 20 KiB) its
 * formatting is cut instead.
 */
#include "sisa/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_CAP    (20 * 1024) /* per-thread formatting space: several full paths and a reason */
#define MIN_WORD   40          /* a word is never shortened below this many bytes */
#define ELLIPSIS   "..."
#define N_ELLIPSIS 3

typedef struct {
    int code;
    char msg[SISA_ERROR_MAX];
    char origin[160];
} sisa_error_slot;

static _Thread_local sisa_error_slot slot;
static _Thread_local char raw[RAW_CAP];

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t';
}

/* Move `*i` forward (dir 1) or back (dir -1) until it is not inside a UTF-8 sequence. */
static size_t utf8_boundary(const char *s, size_t i, size_t len, int dir)
{
    while (i > 0 && i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i += (size_t)dir;
    return i;
}

/* Replace s[from, to) by "..." and return the new length of s (length len). */
static size_t cut(char *s, size_t len, size_t from, size_t to)
{
    memmove(s + from + N_ELLIPSIS, s + to, len - to);
    memcpy(s + from, ELLIPSIS, N_ELLIPSIS);
    return len - (to - from) + N_ELLIPSIS;
}

/* Fit text s (length len, modified in place) into max bytes, keeping its start and its end:
 * first by shortening the longest words in their middle (a third of a word's bytes kept before
 * the "...", two thirds after: a path's file name matters most), then, should the message
 * still be too long, by cutting its own middle. Returns the new length (<= max). */
static size_t fit(char *s, size_t len, size_t max)
{
    while (len > max) {
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < len;) {
            if (is_space(s[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < len && !is_space(s[j])) j++;
            if (j - i > best_len) {
                best = i;
                best_len = j - i;
            }
            i = j;
        }
        if (best_len <= MIN_WORD) break;
        size_t excess = len - max;
        size_t want = best_len > MIN_WORD + excess ? best_len - excess : MIN_WORD;
        size_t head = (want - N_ELLIPSIS) / 3, tail = want - N_ELLIPSIS - head;
        size_t from = utf8_boundary(s, best + head, len, -1);
        size_t to = utf8_boundary(s, best + best_len - tail, len, 1);
        len = cut(s, len, from, to);
    }
    if (len > max) { /* no long words left: keep a quarter of the start and the end */
        size_t head = (max - N_ELLIPSIS) / 4, tail = max - N_ELLIPSIS - head;
        size_t from = utf8_boundary(s, head, len, -1);
        size_t to = utf8_boundary(s, len - tail, len, 1);
        len = cut(s, len, from, to);
    }
    return len;
}

/* Put `len` bytes of text (modified in place) into the slot, shortened to fit. */
static void store(char *text, size_t len)
{
    len = fit(text, len, sizeof slot.msg - 1);
    memcpy(slot.msg, text, len);
    slot.msg[len] = '\0';
}

/* Format into the thread's scratch buffer, with `keep` bytes left free after the text, or into
 * a heap buffer (which the caller frees: *heap) when that is too small. Sets *len to the text's
 * length. The text is cut short (marked "...") only when the heap has no room for it.
 * The heap buffer comes from malloc() itself, not the allocation seam (base/mem.h): the error
 * slot is what reports an injected allocation failure, so it must not consume one. */
SISA_PRINTF(4, 0)
static char *format(size_t keep, char **heap, size_t *len, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    size_t room = RAW_CAP - keep;
    int n = vsnprintf(raw, room, fmt, ap);
    char *buf = raw;
    *heap = NULL;
    if (n < 0) {
        n = snprintf(raw, room, "%s", "(unformattable error message)");
    } else if ((size_t)n >= room) {
        *heap = malloc((size_t)n + keep + 1);
        if (*heap) {
            vsnprintf(*heap, (size_t)n + 1, fmt, again);
            buf = *heap;
        } else {
            n = (int)room - 1;
            memcpy(raw + n - N_ELLIPSIS, ELLIPSIS, N_ELLIPSIS);
        }
    }
    va_end(again);
    *len = (size_t)n;
    return buf;
}

static void set_origin(const char *src, int line)
{
    const char *base = src ? strrchr(src, '/') : NULL;
    snprintf(slot.origin, sizeof slot.origin, "%s:%d", base ? base + 1 : (src ? src : "?"), line);
}

int sisa_error_setv(int code, const char *src, int line, const char *fmt, va_list ap)
{
    char *heap = NULL;
    size_t len = 0;
    char *text = format(0, &heap, &len, fmt, ap);
    store(text, len);
    free(heap);
    set_origin(src, line);
    slot.code = code;
    return code;
}

int sisa_error_set(int code, const char *src, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sisa_error_setv(code, src, line, fmt, ap);
    va_end(ap);
    return code;
}

int sisa_error_prefix(const char *fmt, ...)
{
    if (slot.code == SISA_OK) return SISA_OK;
    /* "PREFIX: MESSAGE": the prefix is formatted with room kept after it for the message. */
    size_t ml = strlen(slot.msg), len = 0;
    char *heap = NULL;
    va_list ap;
    va_start(ap, fmt);
    char *text = format(ml + 2, &heap, &len, fmt, ap);
    va_end(ap);
    memcpy(text + len, ": ", 2);
    memcpy(text + len + 2, slot.msg, ml);
    store(text, len + 2 + ml);
    free(heap);
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
