/*
 * strutil.c - see strutil.h.
 */
#include "base/strutil.h"

#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int sisa_parse_u64(const char *s, uint64_t *out)
{
    if (!all_digits(s)) return SISA_PARSE_SYNTAX;
    uint64_t v = 0;
    for (; *s; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return SISA_PARSE_RANGE;
        v = v * 10 + d;
    }
    *out = v;
    return SISA_PARSE_OK;
}

int sisa_parse_i64(const char *s, int64_t *out)
{
    int neg = *s == '-';
    uint64_t mag;
    int rc = sisa_parse_u64(s + neg, &mag);
    if (rc) return rc;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return SISA_PARSE_RANGE;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return SISA_PARSE_RANGE;
        *out = (int64_t)mag;
    }
    return SISA_PARSE_OK;
}

int sisa_parse_f64(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-') p++;
    /* Words strtod would accept: only the non-finite ones are recognised, and reported as such. */
    if ((p[0] | 32) == 'n' || (p[0] | 32) == 'i') {
        if (!strcmp(p, "nan") || !strcmp(p, "NaN") || !strcmp(p, "NAN") || !strcmp(p, "inf") ||
            !strcmp(p, "Inf") || !strcmp(p, "INF") || !strcmp(p, "infinity") ||
            !strcmp(p, "Infinity"))
            return SISA_PARSE_NONFINITE;
        return SISA_PARSE_SYNTAX;
    }
    /* Only digits, one '.', and an exponent: this rules out hex floats and spaces. */
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
    if (!digits) return SISA_PARSE_SYNTAX;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return SISA_PARSE_SYNTAX;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return SISA_PARSE_SYNTAX;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != p) return SISA_PARSE_SYNTAX;
    if (!isfinite(v)) return SISA_PARSE_RANGE;
    /* ERANGE with a finite result is underflow to a (sub)normal or zero: accepted. */
    *out = v;
    return SISA_PARSE_OK;
}

unsigned sisa_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 255;
    unsigned row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int sisa_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap == 0) return -1;
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int sisa_strlist_addf(char ***list, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = len >= 0 ? sisa_malloc((size_t)len + 1) : NULL;
    char **grown = text ? sisa_realloc(*list, (*n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        sisa_free(text);
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    va_start(ap, fmt);
    vsnprintf(text, (size_t)len + 1, fmt, ap);
    va_end(ap);
    *list = grown;
    (*list)[(*n)++] = text;
    return SISA_OK;
}

void sisa_strlist_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++) sisa_free(list[i]);
    sisa_free(list);
}
