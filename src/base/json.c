/*
 * json.c - see json.h. A recursive-descent parser over a bounded input.
 */
#include "base/json.h"

#include "base/strutil.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH  32
#define JSON_MAX_STRING (1u << 20)
#define JSON_MAX_NUMBER 64 /* bytes of a number's text: sisa writes 64-bit integers */

typedef struct {
    const char *s;
    size_t len, pos;
    const char *name;
    int depth;
} parser;

static int fail(parser *p, const char *what)
{
    return SISA_ERR(SISA_ECORRUPT, "%s: offset %zu: %s", p->name, p->pos, what);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

void sisa_json_free(sisa_json *j)
{
    while (j) {
        sisa_json *next = j->next;
        sisa_json_free(j->kid);
        sisa_free(j->key);
        sisa_free(j->str);
        sisa_free(j);
        j = next;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int read_hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0) return fail(p, "bad \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return SISA_OK;
}

/* At an opening quote: the unescaped string, allocated. */
static int parse_string(parser *p, char **out)
{
    p->pos++; /* the quote */
    size_t start = p->pos, n = 0;
    /* First pass: find the end and an upper bound of the length. */
    while (p->pos < p->len && p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) return fail(p, "control character in a string");
        p->pos += c == '\\' ? 2 : 1;
        if (++n > JSON_MAX_STRING) return fail(p, "string too long");
    }
    if (p->pos >= p->len) return fail(p, "unterminated string");
    size_t end = p->pos;
    char *buf = sisa_malloc(end - start + 1);
    if (!buf) return SISA_ERR(SISA_ENOMEM, "%s: out of memory parsing JSON", p->name);
    size_t o = 0;
    p->pos = start;
    while (p->pos < end) {
        char c = p->s[p->pos++];
        if (c != '\\') {
            buf[o++] = c;
            continue;
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"':
            buf[o++] = '"';
            break;
        case '\\':
            buf[o++] = '\\';
            break;
        case '/':
            buf[o++] = '/';
            break;
        case 'b':
            buf[o++] = '\b';
            break;
        case 'f':
            buf[o++] = '\f';
            break;
        case 'n':
            buf[o++] = '\n';
            break;
        case 'r':
            buf[o++] = '\r';
            break;
        case 't':
            buf[o++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            int rc = read_hex4(p, &cp);
            if (rc < 0) {
                sisa_free(buf);
                return rc;
            }
            if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 6 <= end && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                unsigned lo;
                p->pos += 2;
                rc = read_hex4(p, &lo);
                if (rc < 0 || lo < 0xDC00 || lo > 0xDFFF) {
                    sisa_free(buf);
                    return rc < 0 ? rc : fail(p, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) {
                sisa_free(buf);
                return fail(p, "\\u0000 in a string");
            }
            o += put_utf8(buf + o, cp); /* never longer than the 6+ bytes it replaces */
            break;
        }
        default:
            sisa_free(buf);
            return fail(p, "bad escape in a string");
        }
    }
    buf[o] = '\0';
    p->pos = end + 1;
    *out = buf;
    return SISA_OK;
}

static int parse_value(parser *p, sisa_json **out);

static int parse_container(parser *p, sisa_json *j, int object)
{
    int err = SISA_OK;
    char close = object ? '}' : ']';
    sisa_json **tail = &j->kid;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return SISA_OK;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a member name");
            SISA_TRY(parse_string(p, &key));
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                sisa_free(key);
                return fail(p, "expected ':'");
            }
            p->pos++;
        }
        sisa_json *v = NULL;
        err = parse_value(p, &v);
        if (err < 0) {
            sisa_free(key);
            goto done;
        }
        v->key = key;
        *tail = v;
        tail = &v->next;
        j->count++;
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, "unterminated array or object");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
done:
    return err;
}

static int parse_value(parser *p, sisa_json **out)
{
    int err = SISA_OK;
    sisa_json *j = sisa_calloc(1, sizeof *j);
    if (!j) return SISA_ERR(SISA_ENOMEM, "%s: out of memory parsing JSON", p->name);
    skip_ws(p);
    if (p->pos >= p->len) {
        err = fail(p, "unexpected end");
        goto done;
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (++p->depth > JSON_MAX_DEPTH) {
            err = fail(p, "nested too deeply");
            goto done;
        }
        j->type = c == '{' ? SISA_JSON_OBJECT : SISA_JSON_ARRAY;
        err = parse_container(p, j, c == '{');
        p->depth--;
    } else if (c == '"') {
        j->type = SISA_JSON_STRING;
        err = parse_string(p, &j->str);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        size_t start = p->pos;
        while (p->pos < p->len && p->s[p->pos] && strchr("+-0123456789.eE", p->s[p->pos])) p->pos++;
        j->type = SISA_JSON_NUMBER;
        if (p->pos - start > JSON_MAX_NUMBER) {
            p->pos = start;
            err = fail(p, "number longer than 64 characters");
            goto done;
        }
        j->str = sisa_malloc(p->pos - start + 1);
        if (!j->str) {
            err = SISA_ERR(SISA_ENOMEM, "%s: out of memory parsing JSON", p->name);
            goto done;
        }
        memcpy(j->str, p->s + start, p->pos - start);
        j->str[p->pos - start] = '\0';
        double d;
        if (sisa_parse_f64(j->str, &d) != SISA_PARSE_OK) err = fail(p, "bad number");
    } else if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "true", 4)) {
        j->type = SISA_JSON_BOOL;
        j->boolean = 1;
        p->pos += 4;
    } else if (p->len - p->pos >= 5 && !strncmp(p->s + p->pos, "false", 5)) {
        j->type = SISA_JSON_BOOL;
        p->pos += 5;
    } else if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "null", 4)) {
        j->type = SISA_JSON_NULL;
        p->pos += 4;
    } else {
        err = fail(p, "unexpected character");
    }
done:
    if (err < 0) {
        sisa_json_free(j);
        return err;
    }
    *out = j;
    return SISA_OK;
}

int sisa_json_parse(sisa_json **out, const char *text, size_t len, const char *name)
{
    parser p = {text, len, 0, name ? name : "JSON", 0};
    sisa_json *j = NULL;
    *out = NULL;
    int err = parse_value(&p, &j);
    if (err < 0) return err;
    skip_ws(&p);
    if (p.pos != p.len) {
        sisa_json_free(j);
        return fail(&p, "unexpected text after the value");
    }
    *out = j;
    return SISA_OK;
}

const sisa_json *sisa_json_get(const sisa_json *obj, const char *key)
{
    if (!obj || obj->type != SISA_JSON_OBJECT) return NULL;
    for (const sisa_json *k = obj->kid; k; k = k->next)
        if (k->key && !strcmp(k->key, key)) return k;
    return NULL;
}

int sisa_json_str(const sisa_json *obj, const char *key, const char **out)
{
    const sisa_json *v = sisa_json_get(obj, key);
    if (!v || v->type != SISA_JSON_STRING) return 0;
    *out = v->str;
    return 1;
}

int sisa_json_u64(const sisa_json *obj, const char *key, uint64_t *out)
{
    const sisa_json *v = sisa_json_get(obj, key);
    return v && v->type == SISA_JSON_NUMBER && sisa_parse_u64(v->str, out) == SISA_PARSE_OK;
}

/* ---- writer --------------------------------------------------------------------------------- */

void sisa_jw_init(sisa_jw *w)
{
    memset(w, 0, sizeof *w);
}

void sisa_jw_free(sisa_jw *w)
{
    sisa_free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put(sisa_jw *w, const char *s, size_t n)
{
    if (w->failed) return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) cap *= 2;
        char *b = sisa_realloc(w->buf, cap);
        if (!b) {
            w->failed = 1;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void sisa_jw_raw(sisa_jw *w, const char *text)
{
    put(w, text, strlen(text));
}

/* Length of the well-formed UTF-8 sequence at p (no overlongs, surrogates or values past
 * U+10FFFF), or 0. Stops at a terminating NUL, which is not a continuation byte. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t len = 0; /* 0xc0, 0xc1 and 0xf5..0xff never start a sequence */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    if (len == 3) {
        unsigned cp = (c & 0x0f) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    } else if (len == 4) {
        unsigned cp =
            (c & 0x07) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
        if (cp < 0x10000 || cp > 0x10ffff) return 0;
    }
    return len;
}

void sisa_json_escape(const char *s, void (*emit)(void *ctx, const char *text, size_t n), void *ctx)
{
    static const char short_esc[] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    const unsigned char *p = (const unsigned char *)s;
    emit(ctx, "\"", 1);
    while (*p) {
        unsigned c = *p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            emit(ctx, esc, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            int n = c < sizeof short_esc && short_esc[c]
                        ? snprintf(esc, sizeof esc, "\\%c", short_esc[c])
                        : snprintf(esc, sizeof esc, "\\u%04x", c);
            emit(ctx, esc, (size_t)n);
            p++;
        } else if (c < 0x80) {
            emit(ctx, (const char *)p, 1);
            p++;
        } else {
            /* Well-formed UTF-8 passes through; anything else (a file name in another
             * encoding) becomes U+FFFD, one byte at a time, so that the output is JSON. */
            size_t len = utf8_len(p);
            if (len) {
                emit(ctx, (const char *)p, len);
                p += len;
            } else {
                emit(ctx, "\\ufffd", 6);
                p++;
            }
        }
    }
    emit(ctx, "\"", 1);
}

static void jw_emit(void *ctx, const char *text, size_t n)
{
    put(ctx, text, n);
}

void sisa_jw_str(sisa_jw *w, const char *s)
{
    sisa_json_escape(s, jw_emit, w);
}

void sisa_jw_u64(sisa_jw *w, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    put(w, num, (size_t)n);
}

void sisa_jw_key(sisa_jw *w, const char *key, int first)
{
    if (!first) put(w, ", ", 2);
    sisa_jw_str(w, key);
    put(w, ": ", 2);
}
