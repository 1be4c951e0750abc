/*
 * json.h - a small JSON reader and writer for sisa's own records (journals, the deletion
 * ledger, certificates).
 *
 * The reader parses one JSON value (RFC 8259) into a tree, with limits that make hostile or
 * damaged input harmless: nesting at most 32 levels, strings at most 1 MiB, numbers at most 64
 * characters, no trailing garbage.
 * Numbers keep their text; sisa_json_u64 reads a non-negative integer exactly. Strings are
 * unescaped to UTF-8 (\uXXXX included). Objects keep their members in file order.
 *
 * The writer (sisa_jw_*) appends to a growing buffer and escapes strings; the caller decides
 * where the bytes go (a journal line, a file written atomically).
 */
#ifndef SISA_BASE_JSON_H
#define SISA_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SISA_JSON_NULL,
    SISA_JSON_BOOL,
    SISA_JSON_NUMBER,
    SISA_JSON_STRING,
    SISA_JSON_ARRAY,
    SISA_JSON_OBJECT,
} sisa_json_type;

typedef struct sisa_json sisa_json;
struct sisa_json {
    sisa_json_type type;
    char *key;      /* member name inside an object, else NULL */
    char *str;      /* STRING: unescaped text; NUMBER: the literal text */
    int boolean;    /* BOOL */
    sisa_json *kid; /* ARRAY/OBJECT: first element */
    sisa_json *next;
    size_t count; /* ARRAY/OBJECT: number of elements */
};

/* Parse `len` bytes. On failure returns SISA_ECORRUPT with "NAME: offset N: problem". */
int sisa_json_parse(sisa_json **out, const char *text, size_t len, const char *name);
void sisa_json_free(sisa_json *j); /* NULL-safe */

/* Member of an object by name (NULL when absent or `obj` is not an object). */
const sisa_json *sisa_json_get(const sisa_json *obj, const char *key);
/* Typed accessors: 1 on success, 0 when absent or of another type. */
int sisa_json_str(const sisa_json *obj, const char *key, const char **out);
int sisa_json_u64(const sisa_json *obj, const char *key, uint64_t *out);

/* ---- writer ----------------------------------------------------------------------------- */
typedef struct sisa_jw {
    char *buf;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} sisa_jw;

void sisa_jw_init(sisa_jw *w);
void sisa_jw_free(sisa_jw *w);
/* Append raw text (punctuation, a member name already quoted, ...). */
void sisa_jw_raw(sisa_jw *w, const char *text);
/* Append a quoted, escaped string. */
void sisa_jw_str(sisa_jw *w, const char *s);
/* The same string literal handed to `emit` piece by piece, allocating nothing (for printing
 * straight to a stream). */
void sisa_json_escape(const char *s, void (*emit)(void *ctx, const char *text, size_t n),
                      void *ctx);
void sisa_jw_u64(sisa_jw *w, uint64_t v);
/* "key": for the next value (with a leading comma unless `first`). */
void sisa_jw_key(sisa_jw *w, const char *key, int first);

#endif
