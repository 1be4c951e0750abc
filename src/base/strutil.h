/*
 * strutil.h - strict number parsing and small string helpers.
 *
 * The parsers accept a whole NUL-terminated string or nothing: no surrounding spaces, no '+',
 * no hex, no digit separators. They are shared by the config loader, the CSV and libsvm readers
 * and the argument parser, so "42" means the same thing everywhere.
 */
#ifndef SISA_BASE_STRUTIL_H
#define SISA_BASE_STRUTIL_H

#include "sisa/error.h"

#include <stddef.h>
#include <stdint.h>

enum {
    SISA_PARSE_OK = 0,
    SISA_PARSE_SYNTAX = -1,    /* not a number of the requested kind */
    SISA_PARSE_RANGE = -2,     /* a number, but outside the type's range */
    SISA_PARSE_NONFINITE = -3, /* NaN or infinity (floats only) */
};

/* Decimal integers: [-]digits. */
int sisa_parse_i64(const char *s, int64_t *out);
int sisa_parse_u64(const char *s, uint64_t *out);
/* Decimal floating point (C locale): digits, '.', exponent; "nan"/"inf" parse but return
 * SISA_PARSE_NONFINITE; values that overflow return SISA_PARSE_RANGE. */
int sisa_parse_f64(const char *s, double *out);

/* Levenshtein distance, capped at 255 for long strings. */
unsigned sisa_edit_distance(const char *a, const char *b);

/* Copy with truncation check: returns 0, or -1 when `src` does not fit (dst then holds a
 * truncated copy). */
int sisa_strlcpy(char *dst, const char *src, size_t cap);

/* Append a formatted sentence (a copy on the heap) to the list (*list, *n): SISA_OK, or
 * SISA_ENOMEM with the list as it was. sisa_strlist_free releases the sentences and the list. */
int sisa_strlist_addf(char ***list, size_t *n, const char *fmt, ...) SISA_PRINTF(3, 4);
void sisa_strlist_free(char **list, size_t n);

#endif
