/*
 * config.c - the strict YAML loader: text -> a validated sisa_config.
 *
 * The loader streams libyaml's events (yaml_parser_parse) and walks them by hand against the
 * key table of schema.c; it never builds a document tree. That is what makes it safe on hostile
 * input: libyaml 0.2.5 has no nesting limit and is quadratic on deep nesting, and its document
 * loader expands aliases, but here every node is checked the moment its start event arrives, so
 * a node the schema does not allow (an anchor, an alias, a tag, a list inside a list, a mapping
 * where a number belongs, a second document) is rejected before libyaml reads much further.
 * A file of 200 000 '[' costs a few events, not minutes.
 *
 * The shape the schema allows is fixed: a top-level mapping of keys and sections; a section is
 * a mapping of keys; a value is a scalar, or a flow/block sequence of scalars for list keys.
 *
 * Every rejection is SISA_ECONFIG with "FILE:LINE:COLUMN: sentence" (1-based, pointing at the
 * offending key or value), and the sentence says what to change. Checks that relate several keys
 * (model.hidden with logreg, nesterov with adam, data.test equal to data.train, ...) run after
 * the whole document, so the order of keys in the file never matters.
 *
 * Invariant on success: every field holds a value within its bounds, paths are absolute and
 * physical (symbolic links resolved, see sisa_path_physical), and all bytes not written by a key
 * (padding, the tail of strings) are zero, so two loads of equivalent files compare equal with
 * memcmp.
 */
#include "sisa/config.h"

#include "base/fs.h"
#include "base/strutil.h"
#include "config/schema.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

const char *sisa_config_yaml_version(void)
{
    return yaml_get_version_string();
}

#define MAX_KEYS 128 /* rows of the schema table the loader can track */

typedef struct {
    size_t line, col; /* 1-based; line 0 means "not given" */
} pos;

typedef struct {
    const char *name; /* the config file as named in messages */
    const char *text;
    size_t len;
    char base_dir[SISA_CONFIG_PATH_MAX]; /* absolute, physical */
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_ev;
    sisa_config *cfg;
    pos key_at[MAX_KEYS];     /* where key i was given (its key node); also for section starts */
    pos value_at[MAX_KEYS];   /* where its value starts */
    pos section_at[MAX_KEYS]; /* where the section whose first row is i was given */
} loader;

static pos mark_pos(yaml_mark_t m)
{
    pos p = {m.line + 1, m.column + 1};
    return p;
}

static int load_fail(loader *L, pos p, int src_line, const char *fmt, ...) SISA_PRINTF(4, 5);
static int load_fail(loader *L, pos p, int src_line, const char *fmt, ...)
{
    /* Formatted in full, then "FILE:LINE:COL: " put in front: the error slot shortens long
     * paths in the middle, so the sentence's end (what to change) is never lost. */
    va_list ap;
    va_start(ap, fmt);
    sisa_error_setv(SISA_ECONFIG, __FILE__, src_line, fmt, ap);
    va_end(ap);
    return sisa_error_prefix("%s:%zu:%zu", L->name, p.line, p.col);
}

#define LFAIL(p, ...)                                                                              \
    do {                                                                                           \
        err = load_fail(L, (p), __LINE__, __VA_ARGS__);                                            \
        goto done;                                                                                 \
    } while (0)

static const pos top_pos = {1, 1};

/* A user's text made safe to quote in a message: at most 60 bytes, control bytes as '?'. */
static const char *shown(const char *s, char buf[80])
{
    size_t n = 0;
    for (; s[n] && n < 60; n++) buf[n] = (unsigned char)s[n] < 0x20 ? '?' : s[n];
    if (s[n])
        memcpy(buf + n, "...", 4);
    else
        buf[n] = '\0';
    return buf;
}

/* Byte offset of a libyaml mark, recomputed from line and column (which count characters). */
static size_t byte_offset(const loader *L, yaml_mark_t m)
{
    size_t i = 0, line = 0, col = 0;
    while (i < L->len && line < m.line)
        if (L->text[i++] == '\n') line++;
    while (i < L->len && col < m.column && L->text[i] != '\n') {
        i++;
        while (i < L->len && ((unsigned char)L->text[i] & 0xC0) == 0x80) i++;
        col++;
    }
    return i;
}

/* The source text of the token at `m` ("&anchor", "!!str"), for messages. */
static const char *token_at(const loader *L, yaml_mark_t m, char buf[80])
{
    size_t i = byte_offset(L, m), n = 0;
    while (i + n < L->len && n < 40 && !strchr(" \t\r\n,[]{}", L->text[i + n])) n++;
    char tmp[48];
    memcpy(tmp, L->text + i, n);
    tmp[n] = '\0';
    return shown(tmp, buf);
}

/* libyaml's own complaint, with its position. */
static int syntax_error(loader *L)
{
    const yaml_parser_t *P = &L->parser;
    if (P->error == YAML_MEMORY_ERROR)
        return SISA_ERR(SISA_ENOMEM, "%s: out of memory parsing YAML", L->name);
    const char *problem = P->problem ? P->problem : "unknown error";
    if (P->error == YAML_READER_ERROR) {
        /* Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. For a
         * bad continuation byte, point at the character it was meant to continue. */
        size_t off = P->problem_offset < L->len ? P->problem_offset : L->len;
        if (strstr(problem, "trailing")) {
            while (off > 0 && ((unsigned char)L->text[off - 1] & 0xC0) == 0x80) off--;
            if (off > 0 && (unsigned char)L->text[off - 1] >= 0xC0) off--;
        }
        pos p = {1, 1};
        for (size_t i = 0; i < off; i++) {
            if (L->text[i] == '\n') {
                p.line++;
                p.col = 1;
            } else if (((unsigned char)L->text[i] & 0xC0) != 0x80) {
                p.col++;
            }
        }
        if (P->problem_value >= 0)
            return load_fail(L, p, __LINE__,
                             "invalid YAML: %s (byte 0x%02x); config files must be UTF-8 text",
                             problem, (unsigned)P->problem_value);
        return load_fail(L, p, __LINE__, "invalid YAML: %s", problem);
    }
    pos p = mark_pos(P->problem_mark);
    size_t at = byte_offset(L, P->problem_mark);
    const char *hint =
        at < L->len && L->text[at] == '\t' ? "; YAML indents with spaces, never tabs" : "";
    if (P->context) {
        pos c = mark_pos(P->context_mark);
        return load_fail(L, p, __LINE__, "invalid YAML: %s (%s at %zu:%zu)%s", problem, P->context,
                         c.line, c.col, hint);
    }
    return load_fail(L, p, __LINE__, "invalid YAML: %s%s", problem, hint);
}

/* Advance to the next event, rejecting the YAML features a config never needs. */
static int next_event(loader *L)
{
    char buf[80];
    if (L->have_ev) yaml_event_delete(&L->ev);
    L->have_ev = 0;
    if (!yaml_parser_parse(&L->parser, &L->ev)) return syntax_error(L);
    L->have_ev = 1;
    const yaml_event_t *e = &L->ev;
    pos p = mark_pos(e->start_mark);
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (e->type) {
    case YAML_ALIAS_EVENT:
        return load_fail(L, p, __LINE__,
                         "aliases (%s) are not allowed in config files; write the value out",
                         token_at(L, e->start_mark, buf));
    case YAML_DOCUMENT_START_EVENT:
        if (e->data.document_start.tag_directives.start !=
            e->data.document_start.tag_directives.end)
            return load_fail(L, p, __LINE__, "%%TAG directives are not allowed in config files");
        break;
    case YAML_SCALAR_EVENT:
        anchor = e->data.scalar.anchor;
        tag = e->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
        break;
    default:
        break;
    }
    /* A node's start mark is its anchor or tag when it has one. */
    if (anchor)
        return load_fail(L, p, __LINE__,
                         "anchors (%s) are not allowed in config files; write each value once, "
                         "where it belongs",
                         token_at(L, e->start_mark, buf));
    if (tag)
        return load_fail(L, p, __LINE__,
                         "tags (%s) are not allowed in config files; write the plain value",
                         token_at(L, e->start_mark, buf));
    return SISA_OK;
}

static const char *node_kind(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_MAPPING_START_EVENT:
        return "a mapping (indented 'key: value' lines or {...})";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    default:
        return "a single value";
    }
}

static int is_null(const yaml_event_t *e)
{
    if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)e->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a key of this type looks like, for "must be ..." messages. */
static const char *expected(const sisa_schema_key *k)
{
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        return "a path";
    case SISA_SCHEMA_INT:
        return "an integer";
    case SISA_SCHEMA_FLOAT:
        return "a number";
    case SISA_SCHEMA_BOOL:
        return "true or false";
    case SISA_SCHEMA_ENUM:
        return "a single choice";
    case SISA_SCHEMA_INT_LIST:
        return "a list of integers like [256, 128]";
    case SISA_SCHEMA_TIER_LIST:
        return "a list of tiers like [{shards: 6}, {shards: 2, last_slice: true}]";
    }
    return "?";
}

/* ---- scalars --------------------------------------------------------------------------------- */

/* Strict decimal integer: plain style, [-]digits, no leading zeros, within [lo, hi]. `what`
 * names the value in messages ("'seed'", "'model.hidden' entry 2"). */
static int scalar_int(loader *L, pos p, const char *what, const yaml_event_t *e, int64_t lo,
                      int64_t hi, int64_t *out)
{
    int err = SISA_OK;
    char buf[80];
    const char *s = (const char *)e->data.scalar.value;
    if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        LFAIL(
            p,
            "%s must be an integer, found the quoted string \"%s\" (write numbers without quotes)",
            what, shown(s, buf));
    int64_t v = 0;
    int rc = sisa_parse_i64(s, &v);
    const char *digits = s + (s[0] == '-');
    if (rc == SISA_PARSE_OK && digits[0] == '0' && digits[1])
        LFAIL(p, "%s must be a decimal integer without leading zeros, found '%s'", what,
              shown(s, buf));
    if (rc == SISA_PARSE_SYNTAX) {
        double d;
        if (sisa_parse_f64(s, &d) == SISA_PARSE_OK)
            LFAIL(p, "%s must be a whole number in decimal digits, found '%s'", what,
                  shown(s, buf));
        LFAIL(p, "%s must be a decimal integer, found '%s'", what, shown(s, buf));
    }
    if (rc != SISA_PARSE_OK || v < lo || v > hi)
        LFAIL(p, "%s must be an integer from %lld to %lld, found %s", what, (long long)lo,
              (long long)hi, shown(s, buf));
    *out = v;
done:
    return err;
}

static int yaml_nonfinite(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    static const char *const words[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(s, words[i])) return 1;
    return 0;
}

static int scalar_float(loader *L, pos p, const sisa_schema_key *k, const yaml_event_t *e,
                        double *out)
{
    int err = SISA_OK;
    char buf[80], range[64];
    const char *s = (const char *)e->data.scalar.value;
    if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        LFAIL(
            p,
            "'%s' must be a number, found the quoted string \"%s\" (write numbers without quotes)",
            k->key, shown(s, buf));
    double v = 0;
    int rc = yaml_nonfinite(s) ? SISA_PARSE_NONFINITE : sisa_parse_f64(s, &v);
    if (rc == SISA_PARSE_NONFINITE)
        LFAIL(p, "'%s' must be a finite number, found '%s'", k->key, shown(s, buf));
    if (rc == SISA_PARSE_RANGE)
        LFAIL(p, "'%s' must be a finite number, found '%s', which is too large for a double",
              k->key, shown(s, buf));
    if (rc != SISA_PARSE_OK)
        LFAIL(p, "'%s' must be a plain decimal number (like 0.001 or 1e-3), found '%s'", k->key,
              shown(s, buf));
    if (v == 0) v = 0; /* -0 and 0 are one value: keep the canonical form (and hash) unique */
    int below = k->fmin_open ? !(v > k->fmin) : !(v >= k->fmin);
    int above = k->fmax_open ? !(v < k->fmax) : !(v <= k->fmax);
    if (below || above) {
        sisa_sbuf b;
        sisa_sbuf_init(&b, range, sizeof range);
        sisa_schema_format_bounds(&b, k);
        LFAIL(p, "'%s' must be in %s, found %s", k->key, range, shown(s, buf));
    }
    *out = v;
done:
    return err;
}

static int scalar_path(loader *L, pos p, const sisa_schema_key *k, const yaml_event_t *e)
{
    int err = SISA_OK;
    char *dst = (char *)L->cfg + k->offset;
    const char *s = (const char *)e->data.scalar.value;
    size_t len = e->data.scalar.length;
    memset(dst, 0, k->size);
    if (len == 0) {
        if (k->required) LFAIL(p, "'%s' is empty; give a path", k->key);
        goto done; /* an optional path given as "" means "none" */
    }
    if (s[0] == '~')
        LFAIL(p,
              "'%s' starts with '~', which sisa does not expand; write the full path or a path "
              "relative to the config file",
              k->key);
    if (len >= SISA_CONFIG_PATH_MAX)
        LFAIL(p, "'%s' is %zu bytes long; paths may have at most %d", k->key, len,
              SISA_CONFIG_PATH_MAX - 1);
    char joined[2 * SISA_CONFIG_PATH_MAX + 2];
    SISA_TRY(sisa_path_resolve(joined, sizeof joined, L->base_dir, s));
    /* The length check on the text first (normalised, so that the count means something), then
     * the physical path: symbolic links followed, ".." applied to the folder actually reached,
     * so that every spelling of one file gives one path. */
    char lexical[sizeof joined];
    memcpy(lexical, joined, sizeof joined);
    sisa_path_normalise(lexical);
    if (strlen(lexical) >= SISA_CONFIG_PATH_MAX)
        LFAIL(p, "'%s' resolves to a path of %zu bytes (%s/...); paths may have at most %d", k->key,
              strlen(lexical), L->base_dir, SISA_CONFIG_PATH_MAX - 1);
    /* A path that cannot be resolved is the config's problem; memory is not. */
    const int rc = sisa_path_physical(dst, k->size, joined);
    if (rc < 0 && rc != SISA_ENOMEM) LFAIL(p, "'%s': %s", k->key, sisa_error_message());
    SISA_TRY(rc);
    if (k->offset == offsetof(sisa_config, store) &&
        strlen(dst) > SISA_CONFIG_PATH_MAX - 1 - SISA_STORE_PATH_RESERVE)
        LFAIL(p,
              "'store' resolves to a path of %zu bytes (%s); a store's path may have at most %d "
              "bytes, so that the paths of the files sisa makes in it (%d bytes are kept for "
              "their names) stay within the system's limit of %d bytes",
              strlen(dst), dst, SISA_CONFIG_PATH_MAX - 1 - SISA_STORE_PATH_RESERVE,
              SISA_STORE_PATH_RESERVE, SISA_CONFIG_PATH_MAX - 1);
done:
    return err;
}

/* Convert and store one scalar value of key `k`. */
static int store_scalar(loader *L, pos p, const sisa_schema_key *k, const yaml_event_t *e)
{
    int err = SISA_OK;
    char buf[80], what[96];
    const char *s = (const char *)e->data.scalar.value;
    char *dst = (char *)L->cfg + k->offset;
    snprintf(what, sizeof what, "'%s'", k->key);
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        SISA_TRY(scalar_path(L, p, k, e));
        break;
    case SISA_SCHEMA_INT: {
        int64_t v = 0;
        SISA_TRY(scalar_int(L, p, what, e, k->imin, k->imax, &v));
        if (k->size == sizeof(uint64_t)) {
            uint64_t u = (uint64_t)v; /* bounds are non-negative for 8-byte fields */
            memcpy(dst, &u, sizeof u);
        } else {
            int32_t i = (int32_t)v;
            memcpy(dst, &i, sizeof i);
        }
        break;
    }
    case SISA_SCHEMA_FLOAT: {
        double v = 0;
        SISA_TRY(scalar_float(L, p, k, e, &v));
        memcpy(dst, &v, sizeof v);
        break;
    }
    case SISA_SCHEMA_BOOL: {
        int plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        int32_t v = plain && !strcmp(s, "true") ? 1 : 0;
        if (!plain || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
            LFAIL(p, "'%s' must be true or false, found %s%s%s", k->key, plain ? "'" : "\"",
                  shown(s, buf), plain ? "'" : "\"");
        memcpy(dst, &v, sizeof v);
        break;
    }
    case SISA_SCHEMA_ENUM: {
        int v = -1;
        for (int i = 0; i < k->n_choices; i++)
            if (!strcmp(s, k->choices[i])) v = i;
        if (v < 0) {
            char choices[256];
            sisa_sbuf b;
            sisa_sbuf_init(&b, choices, sizeof choices);
            sisa_schema_format_bounds(&b, k);
            LFAIL(p, "'%s' must be one of: %s; found '%s'", k->key, choices, shown(s, buf));
        }
        memcpy(dst, &v, sizeof v);
        break;
    }
    case SISA_SCHEMA_INT_LIST:
    case SISA_SCHEMA_TIER_LIST:
        LFAIL(p, "'%s' must be %s, found '%s'", k->key, expected(k), shown(s, buf));
    }
done:
    return err;
}

/* A list of integers; the opening event is current. An empty list is accepted here and judged
 * with the other keys (model.hidden may be [] only for logreg). */
static int parse_list(loader *L, const sisa_schema_key *k, pos start)
{
    int err = SISA_OK;
    int32_t vals[SISA_CONFIG_MAX_HIDDEN]; /* the one list key; list_max is checked below */
    int32_t n = 0;
    char what[96];
    for (;;) {
        SISA_TRY(next_event(L));
        const yaml_event_t *e = &L->ev;
        pos p = mark_pos(e->start_mark);
        if (e->type == YAML_SEQUENCE_END_EVENT) break;
        snprintf(what, sizeof what, "'%s' entry %d", k->key, (int)n + 1);
        if (e->type != YAML_SCALAR_EVENT)
            LFAIL(p, "%s is nested deeper than the schema allows: expected an integer, found %s",
                  what, node_kind(e));
        if (n >= k->list_max || n >= SISA_CONFIG_MAX_HIDDEN)
            LFAIL(p, "'%s' has more than %d entries", k->key, k->list_max);
        if (is_null(e)) LFAIL(p, "%s has no value", what);
        int64_t v = 0;
        SISA_TRY(scalar_int(L, p, what, e, k->imin, k->imax, &v));
        vals[n++] = (int32_t)v;
    }
    if (n > 0 && n < k->list_min)
        LFAIL(start, "'%s' needs %d to %d entries, found %d", k->key, k->list_min, k->list_max,
              (int)n);
    char *dst = (char *)L->cfg + k->offset;
    memset(dst, 0, (size_t)k->list_max * sizeof(int32_t));
    memcpy(dst, vals, (size_t)n * sizeof(int32_t));
    memcpy((char *)L->cfg + k->count_offset, &n, sizeof n);
done:
    return err;
}

/* One tier of a tier list, {shards: N[, last_slice: BOOL]}; its mapping start is current. */
static int parse_tier(loader *L, const sisa_schema_key *k, int32_t idx, pos start, sisa_tier *t)
{
    int err = SISA_OK;
    char buf[80], what[96];
    pos shards_at = {0}, last_at = {0};
    *t = (sisa_tier){0};
    for (;;) {
        SISA_TRY(next_event(L));
        const yaml_event_t *e = &L->ev;
        pos p = mark_pos(e->start_mark);
        if (e->type == YAML_MAPPING_END_EVENT) break;
        if (e->type != YAML_SCALAR_EVENT)
            LFAIL(p, "'%s' tier %d: a key must be a name, found %s", k->key, (int)idx,
                  node_kind(e));
        const char *key = (const char *)e->data.scalar.value;
        int is_shards = !strcmp(key, "shards"), is_last = !strcmp(key, "last_slice");
        if (!is_shards && !is_last)
            LFAIL(p, "unknown key '%s' in '%s' tier %d (known keys here: shards, last_slice)",
                  shown(key, buf), k->key, (int)idx);
        pos *first = is_shards ? &shards_at : &last_at;
        if (first->line)
            LFAIL(p, "duplicate key '%s' in '%s' tier %d (first given at %zu:%zu)", key, k->key,
                  (int)idx, first->line, first->col);
        *first = p;
        SISA_TRY(next_event(L));
        e = &L->ev;
        p = mark_pos(e->start_mark);
        snprintf(what, sizeof what, "'%s' tier %d %s", k->key, (int)idx,
                 is_shards ? "shards" : "last_slice");
        if (e->type != YAML_SCALAR_EVENT)
            LFAIL(p, "%s is nested deeper than the schema allows: expected %s, found %s", what,
                  is_shards ? "an integer" : "true or false", node_kind(e));
        if (is_null(e)) LFAIL(p, "%s has no value", what);
        const char *v = (const char *)e->data.scalar.value;
        if (is_shards) {
            int64_t n = 0;
            SISA_TRY(scalar_int(L, p, what, e, k->imin, k->imax, &n));
            t->shards = (int32_t)n;
        } else {
            int plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (!plain || (strcmp(v, "true") != 0 && strcmp(v, "false") != 0))
                LFAIL(p, "%s must be true or false, found %s%s%s", what, plain ? "'" : "\"",
                      shown(v, buf), plain ? "'" : "\"");
            t->last_slice = !strcmp(v, "true");
        }
    }
    if (!shards_at.line)
        LFAIL(start, "'%s' tier %d has no 'shards' (write it as {shards: N})", k->key, (int)idx);
done:
    return err;
}

/* A list of tiers; the opening event is current. Tiers are numbered from 0, as in the risk
 * column. */
static int parse_tiers(loader *L, const sisa_schema_key *k, pos start)
{
    int err = SISA_OK;
    sisa_tier vals[SISA_CONFIG_MAX_TIERS]; /* the one tier list; list_max is checked below */
    int32_t n = 0;
    for (;;) {
        SISA_TRY(next_event(L));
        const yaml_event_t *e = &L->ev;
        pos p = mark_pos(e->start_mark);
        if (e->type == YAML_SEQUENCE_END_EVENT) break;
        if (n >= k->list_max || n >= SISA_CONFIG_MAX_TIERS)
            LFAIL(p, "'%s' has more than %d tiers", k->key, k->list_max);
        if (e->type != YAML_MAPPING_START_EVENT)
            LFAIL(p, "'%s' tier %d must be a mapping like {shards: 4}, found %s", k->key, (int)n,
                  node_kind(e));
        SISA_TRY(parse_tier(L, k, n, p, &vals[n]));
        n++;
    }
    if (n < k->list_min)
        LFAIL(start, "'%s' needs %d to %d tiers, found %d", k->key, k->list_min, k->list_max,
              (int)n);
    char *dst = (char *)L->cfg + k->offset;
    memset(dst, 0, (size_t)k->list_max * sizeof(sisa_tier));
    memcpy(dst, vals, (size_t)n * sizeof(sisa_tier));
    memcpy((char *)L->cfg + k->count_offset, &n, sizeof n);
done:
    return err;
}

/* The value of key `k`: its first event is read here. */
static int parse_value(loader *L, const sisa_schema_key *k)
{
    int err = SISA_OK;
    SISA_TRY(next_event(L));
    const yaml_event_t *e = &L->ev;
    pos p = mark_pos(e->start_mark);
    L->value_at[k - sisa_schema_keys] = p;
    if (k->type == SISA_SCHEMA_INT_LIST && e->type == YAML_SEQUENCE_START_EVENT) {
        SISA_TRY(parse_list(L, k, p));
    } else if (k->type == SISA_SCHEMA_TIER_LIST && e->type == YAML_SEQUENCE_START_EVENT) {
        SISA_TRY(parse_tiers(L, k, p));
    } else if (e->type != YAML_SCALAR_EVENT) {
        LFAIL(p, "'%s' must be %s, found %s", k->key, expected(k), node_kind(e));
    } else if (is_null(e)) {
        LFAIL(p, "'%s' has no value", k->key);
    } else {
        if (strlen((const char *)e->data.scalar.value) != e->data.scalar.length)
            LFAIL(p, "'%s' contains a NUL character", k->key);
        SISA_TRY(store_scalar(L, p, k, e));
    }
done:
    return err;
}

/* ---- keys and sections ----------------------------------------------------------------------- */

/* Index of the first row of section `name` (of length len), or -1. */
static int find_section(const char *name, size_t len)
{
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (sisa_schema_section_len(k) == len && len && !strncmp(k->key, name, len)) return i;
    }
    return -1;
}

/* The row for `leaf` inside the section starting at row `sec` (-1: the top level). */
static const sisa_schema_key *find_in(int sec, const char *leaf)
{
    size_t sl = sec < 0 ? 0 : sisa_schema_section_len(&sisa_schema_keys[sec]);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (sisa_schema_section_len(k) != sl) continue;
        if (sl && strncmp(k->key, sisa_schema_keys[sec].key, sl) != 0) continue;
        if (!strcmp(sisa_schema_leaf(k), leaf)) return k;
    }
    return NULL;
}

static int in_scope(const sisa_schema_key *k, int sec)
{
    size_t sl = sisa_schema_section_len(k);
    if (sec < 0) return sl == 0;
    return sl == sisa_schema_section_len(&sisa_schema_keys[sec]) &&
           !strncmp(k->key, sisa_schema_keys[sec].key, sl);
}

/* Edit distance of `key` to `cand` when it is small enough to suggest `cand`: at most 2 edits,
 * changing at most half of the longer name (so 'a' does not suggest 'lr'); else 255. */
static unsigned suggestion_distance(const char *key, const char *cand)
{
    unsigned d = sisa_edit_distance(key, cand);
    size_t longest = strlen(key) > strlen(cand) ? strlen(key) : strlen(cand);
    return d <= 2 && 2 * (size_t)d <= longest ? d : 255;
}

/* Build the most helpful "unknown key" sentence we can. */
static int unknown_key(loader *L, pos p, int sec, const char *key)
{
    char buf[80], where[96], names[512];
    const char *shown_key = shown(key, buf);
    if (sec < 0)
        snprintf(where, sizeof where, "at the top level");
    else
        snprintf(where, sizeof where, "in section '%.*s'",
                 (int)sisa_schema_section_len(&sisa_schema_keys[sec]), sisa_schema_keys[sec].key);

    if (!*key) return load_fail(L, p, __LINE__, "a key name is missing before ':' (%s)", where);
    /* A dotted key written flat: "train.lr: 0.1". */
    const sisa_schema_key *dotted = sisa_schema_find(key);
    if (sec < 0 && dotted && sisa_schema_section_len(dotted))
        return load_fail(L, p, __LINE__,
                         "unknown key '%s': nest it as '%.*s:' and, on the next line, an indented "
                         "'%s: ...'",
                         shown_key, (int)sisa_schema_section_len(dotted), dotted->key,
                         sisa_schema_leaf(dotted));
    /* A section name used inside a section. */
    if (sec >= 0 && find_section(key, strlen(key)) >= 0)
        return load_fail(L, p, __LINE__,
                         "unknown key '%s' %s: '%s' is a section of its own and belongs at the top "
                         "level",
                         shown_key, where, shown_key);
    /* The same name exists elsewhere: say where it belongs. */
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (in_scope(k, sec) || strcmp(sisa_schema_leaf(k), key) != 0) continue;
        if (sisa_schema_section_len(k))
            return load_fail(L, p, __LINE__,
                             "unknown key '%s' %s: it belongs in section '%.*s' ('%s')", shown_key,
                             where, (int)sisa_schema_section_len(k), k->key, k->key);
        return load_fail(L, p, __LINE__, "unknown key '%s' %s: it belongs at the top level",
                         shown_key, where);
    }
    /* A misspelling of a key of this scope (or of a section name, at the top level). */
    char best[64] = "";
    unsigned best_d = 3;
    sisa_sbuf nb;
    sisa_sbuf_init(&nb, names, sizeof names);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        char cand[64];
        size_t sl = sisa_schema_section_len(k);
        if (in_scope(k, sec))
            snprintf(cand, sizeof cand, "%s", sisa_schema_leaf(k));
        else if (sec < 0 && find_section(k->key, sl) == i)
            snprintf(cand, sizeof cand, "%.*s", (int)sl, k->key);
        else
            continue;
        sisa_sbuf_printf(&nb, "%s%s", nb.len ? ", " : "", cand);
        unsigned d = suggestion_distance(key, cand);
        if (d < best_d) {
            best_d = d;
            memcpy(best, cand, sizeof best);
        }
    }
    if (*best)
        return load_fail(L, p, __LINE__, "unknown key '%s' %s (did you mean '%s'?)", shown_key,
                         where, best);
    /* A misspelling of a key of another section. */
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (!in_scope(k, sec) && suggestion_distance(key, sisa_schema_leaf(k)) <= 2)
            return load_fail(L, p, __LINE__, "unknown key '%s' %s (did you mean '%s'?)", shown_key,
                             where, k->key);
    }
    return load_fail(L, p, __LINE__, "unknown key '%s' %s (known keys here: %s)", shown_key, where,
                     names);
}

static int parse_mapping(loader *L, int sec, pos start);

/* The value of a section key at the top level; its key event has been read. */
static int parse_section(loader *L, int sec, const char *name)
{
    int err = SISA_OK;
    char keys[256];
    sisa_sbuf b;
    sisa_sbuf_init(&b, keys, sizeof keys);
    for (int i = sec; i < sisa_schema_n_keys && in_scope(&sisa_schema_keys[i], sec); i++)
        sisa_sbuf_printf(&b, "%s%s", b.len ? ", " : "", sisa_schema_leaf(&sisa_schema_keys[i]));
    SISA_TRY(next_event(L));
    const yaml_event_t *e = &L->ev;
    pos p = mark_pos(e->start_mark);
    if (e->type == YAML_MAPPING_START_EVENT) {
        SISA_TRY(parse_mapping(L, sec, p));
    } else if (is_null(e)) {
        LFAIL(p,
              "section '%s' has no keys; give some of %s on indented lines below it, or "
              "remove it",
              name, keys);
    } else {
        LFAIL(p, "'%s' is a section and must be a mapping of its keys (%s), found %s", name, keys,
              node_kind(e));
    }
done:
    return err;
}

/* A mapping: the top level (sec = -1) or section `sec`; its start event has been read. */
static int parse_mapping(loader *L, int sec, pos start)
{
    int err = SISA_OK;
    char buf[80];
    for (;;) {
        SISA_TRY(next_event(L));
        const yaml_event_t *e = &L->ev;
        pos p = mark_pos(e->start_mark);
        if (e->type == YAML_MAPPING_END_EVENT) break;
        if (e->type != YAML_SCALAR_EVENT) LFAIL(p, "a key must be a name, found %s", node_kind(e));
        char key[128];
        size_t klen = e->data.scalar.length;
        const char *kv = (const char *)e->data.scalar.value;
        if (strlen(kv) != klen) LFAIL(p, "a key contains a NUL character");
        if (klen >= sizeof key) LFAIL(p, "unknown key '%s'", shown(kv, buf));
        memcpy(key, kv, klen + 1);

        int s = sec < 0 ? find_section(key, klen) : -1;
        if (s >= 0) {
            if (L->section_at[s].line)
                LFAIL(p, "duplicate key '%s' (first given at %zu:%zu)", key, L->section_at[s].line,
                      L->section_at[s].col);
            L->section_at[s] = p;
            SISA_TRY(parse_section(L, s, key));
            continue;
        }
        const sisa_schema_key *k = find_in(sec, key);
        if (!k) {
            err = unknown_key(L, p, sec, key);
            goto done;
        }
        pos *first = &L->key_at[k - sisa_schema_keys];
        if (first->line)
            LFAIL(p, "duplicate key '%s' (first given at %zu:%zu)", key, first->line, first->col);
        *first = p;
        SISA_TRY(parse_value(L, k));
    }
    /* Required keys of this mapping; at the top level also those of sections never given. */
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (!k->required || L->key_at[i].line) continue;
        size_t sl = sisa_schema_section_len(k);
        if (sec >= 0 && !in_scope(k, sec)) continue;
        if (sec < 0 && sl && L->section_at[find_section(k->key, sl)].line) continue;
        pos at = sec < 0 ? top_pos : start;
        if (sl)
            LFAIL(at, "missing required key '%s' (write it as '%s: ...' under '%.*s:')", k->key,
                  sisa_schema_leaf(k), (int)sl, k->key);
        LFAIL(at, "missing required key '%s'", k->key);
    }
done:
    return err;
}

/* ---- relations between keys ------------------------------------------------------------------ */

static pos where(const loader *L, const char *dotted)
{
    const sisa_schema_key *k = sisa_schema_find(dotted);
    pos p = k ? L->value_at[k - sisa_schema_keys] : top_pos;
    return p.line ? p : top_pos;
}

/* Same file: the same resolved path, or (when both exist) the same inode. */
static int same_file(const char *a, const char *b)
{
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* cnn: the image shape is given and every layer fits it; the cnn keys are not set for another
 * model. [H, W] becomes [1, H, W], the one canonical form (dump and hash agree). */
static int check_cnn(loader *L)
{
    int err = SISA_OK;
    sisa_config *c = L->cfg;
    static const char *const cnn_keys[] = {"model.input", "model.conv", "model.kernel",
                                           "model.pool"};
    if (c->model.type != SISA_MODEL_CNN) {
        for (int i = 0; i < 4; i++)
            if (L->value_at[sisa_schema_find(cnn_keys[i]) - sisa_schema_keys].line)
                LFAIL(where(L, cnn_keys[i]), "'%s' is set, but model.type is %s; it applies to cnn",
                      cnn_keys[i], sisa_model_type_name(c->model.type));
        goto done;
    }
    if (c->model.n_input == 0)
        LFAIL(where(L, "model.type"),
              "model.type is cnn, which needs the shape of a row: add 'input: [height, width]' "
              "(or [channels, height, width]) under 'model:', e.g. [28, 28] for MNIST-style "
              "images ('sisa info DATASET' shows the feature_shape import recorded)");
    if (c->model.n_input == 2) {
        c->model.input[2] = c->model.input[1];
        c->model.input[1] = c->model.input[0];
        c->model.input[0] = 1;
        c->model.n_input = 3;
    }
    if (c->model.n_conv == 0)
        LFAIL(where(L, "model.conv"),
              "'model.conv' needs 1 to %d entries for model.type cnn, "
              "found []",
              SISA_CONFIG_MAX_CONV);
    if (c->model.kernel % 2 == 0)
        LFAIL(where(L, "model.kernel"),
              "'model.kernel' is %d, but same padding needs an odd kernel size (e.g. 3 or 5)",
              (int)c->model.kernel);
    const uint64_t C = (uint64_t)c->model.input[0];
    uint64_t h = (uint64_t)c->model.input[1], w = (uint64_t)c->model.input[2];
    if (C * h * w > (uint64_t)INT32_MAX)
        LFAIL(where(L, "model.input"),
              "'model.input' [%d, %d, %d] has %llu features a row; at "
              "most %d are supported",
              (int)c->model.input[0], (int)c->model.input[1], (int)c->model.input[2],
              (unsigned long long)(C * h * w), INT32_MAX);
    const uint64_t p = (uint64_t)c->model.pool;
    /* A misfit is the pool's, the layers' or the shape's: point at the first of them given. */
    const char *misfit = "model.input";
    if (L->value_at[sisa_schema_find("model.conv") - sisa_schema_keys].line) misfit = "model.conv";
    if (L->value_at[sisa_schema_find("model.pool") - sisa_schema_keys].line) misfit = "model.pool";
    for (int l = 0; l < c->model.n_conv; l++) {
        if (h % p || w % p)
            LFAIL(where(L, misfit),
                  "'model.pool' is %d, but convolution %d of %d sees %llu x %llu images, which "
                  "%d does not divide; use input sides divisible by pool^%d, fewer convolutions "
                  "or a smaller pool",
                  (int)p, l + 1, (int)c->model.n_conv, (unsigned long long)h, (unsigned long long)w,
                  (int)p, (int)c->model.n_conv);
        h /= p;
        w /= p;
    }
done:
    return err;
}

static int given(const loader *L, const char *dotted)
{
    return L->value_at[sisa_schema_find(dotted) - sisa_schema_keys].line != 0;
}

/* sisa.tiers and sisa.tier_key belong to tiered sharding; the tiers' shards make sisa.shards. */
static int check_tiers(loader *L)
{
    int err = SISA_OK;
    sisa_config *c = L->cfg;
    if (c->sisa.sharding != SISA_SHARDING_TIERED) {
        const char *keys[] = {"sisa.tiers", "sisa.tier_key"};
        for (int i = 0; i < 2; i++)
            if (given(L, keys[i]))
                LFAIL(where(L, keys[i]),
                      "'%s' is set, but sisa.sharding is %s; it applies to sharding: tiered",
                      keys[i], sisa_sharding_name(c->sisa.sharding));
        return SISA_OK;
    }
    if (c->sisa.n_tiers == 0)
        LFAIL(where(L, "sisa.sharding"),
              "'sisa.sharding' is tiered, but 'sisa.tiers' is not given; list the tiers, tier 0 "
              "first, e.g. 'tiers: [{shards: 6}, {shards: 2, last_slice: true}]'");
    int64_t sum = 0;
    for (int32_t t = 0; t < c->sisa.n_tiers; t++) sum += c->sisa.tiers[t].shards;
    if (!given(L, "sisa.shards")) {
        if (sum > 4096)
            LFAIL(where(L, "sisa.tiers"),
                  "the shards of 'sisa.tiers' add up to %lld; at most 4096 shards are allowed",
                  (long long)sum);
        c->sisa.shards = (int32_t)sum;
    } else if (sum != c->sisa.shards) {
        LFAIL(where(L, "sisa.tiers"),
              "the shards of 'sisa.tiers' add up to %lld, but sisa.shards is %d; make them "
              "agree, or leave sisa.shards out (it is then their sum)",
              (long long)sum, (int)c->sisa.shards);
    }
done:
    return err;
}

static int check_relations(loader *L)
{
    int err = SISA_OK;
    sisa_config *c = L->cfg;
    SISA_TRY(check_tiers(L));
    int hidden_given = L->value_at[sisa_schema_find("model.hidden") - sisa_schema_keys].line != 0;
    if (c->model.type == SISA_MODEL_LOGREG || c->model.type == SISA_MODEL_KNN) {
        if (hidden_given && c->model.n_hidden > 0)
            LFAIL(where(L, "model.hidden"),
                  "'model.hidden' is set, but model.type is %s, which has no hidden layers; "
                  "remove 'hidden' or set 'type: mlp'",
                  sisa_model_type_name(c->model.type));
        /* no hidden layers: [] is the one canonical value (dump and hash agree). */
        c->model.n_hidden = 0;
        memset(c->model.hidden, 0, sizeof c->model.hidden);
    } else if (c->model.n_hidden == 0) {
        LFAIL(where(L, "model.hidden"),
              "'model.hidden' needs 1 to %d entries for model.type %s, found []",
              SISA_CONFIG_MAX_HIDDEN, sisa_model_type_name(c->model.type));
    }
    if (c->model.type == SISA_MODEL_KNN) {
        /* knn trains no parameters: a train key would silently do nothing. */
        for (int i = 0; i < sisa_schema_n_keys; i++)
            if (!strncmp(sisa_schema_keys[i].key, "train.", 6) && L->value_at[i].line)
                LFAIL(L->value_at[i],
                      "'%s' is set, but model.type is knn, which trains no parameters; remove "
                      "the train section",
                      sisa_schema_keys[i].key);
    } else {
        SISA_TRY(check_cnn(L));
        const char *knn_keys[] = {"model.k", "model.metric"};
        for (int i = 0; i < 2; i++)
            if (L->value_at[sisa_schema_find(knn_keys[i]) - sisa_schema_keys].line)
                LFAIL(where(L, knn_keys[i]), "'%s' is set, but model.type is %s; it applies to knn",
                      knn_keys[i], sisa_model_type_name(c->model.type));
        if (c->aggregate.strategy == SISA_AGG_MERGE)
            LFAIL(where(L, "aggregate.strategy"),
                  "'aggregate.strategy' is merge, which combines neighbour lists, but model.type "
                  "is %s; merge needs model.type knn (use vote, mean or weighted)",
                  sisa_model_type_name(c->model.type));
    }
    if (c->train.nesterov && c->train.optimizer != SISA_OPT_SGD)
        LFAIL(where(L, "train.nesterov"),
              "'train.nesterov' is true, but train.optimizer is %s; Nesterov momentum applies "
              "to sgd only",
              sisa_optimizer_name(c->train.optimizer));
    if (c->train.nesterov && c->train.momentum == 0)
        LFAIL(where(L, "train.nesterov"),
              "'train.nesterov' is true, but train.momentum is 0; Nesterov needs momentum > 0");
    if (c->data.test[0] && same_file(c->data.test, c->data.train))
        LFAIL(where(L, "data.test"),
              "'data.test' is the same file as 'data.train' (%s); evaluation needs held-out data",
              c->data.train);
    if (same_file(c->store, c->data.train))
        LFAIL(where(L, "store"),
              "'store' is the same path as 'data.train' (%s); the store is a "
              "folder of its own",
              c->store);
    if (c->data.test[0] && same_file(c->store, c->data.test))
        LFAIL(where(L, "store"),
              "'store' is the same path as 'data.test' (%s); the store is a "
              "folder of its own",
              c->store);
done:
    return err;
}

/* ---- documents --------------------------------------------------------------------------------
 */

static int parse_stream(loader *L)
{
    int err = SISA_OK;
    char buf[80];
    SISA_TRY(next_event(L)); /* stream start */
    SISA_TRY(next_event(L));
    if (L->ev.type == YAML_STREAM_END_EVENT)
        LFAIL(top_pos, "the file is empty (it holds no keys); a config needs at least 'data.train' "
                       "and 'store' (see "
                       "'sisa config --help')");
    SISA_CHECK(L->ev.type == YAML_DOCUMENT_START_EVENT, SISA_EINTERNAL,
               "%s: unexpected YAML event %d", L->name, (int)L->ev.type);
    SISA_TRY(next_event(L));
    const yaml_event_t *e = &L->ev;
    pos p = mark_pos(e->start_mark);
    if (e->type == YAML_MAPPING_START_EVENT) {
        SISA_TRY(parse_mapping(L, -1, p));
    } else if (is_null(e)) {
        LFAIL(p, "the document is empty; a config needs at least 'data.train' and 'store'");
    } else if (e->type == YAML_SCALAR_EVENT) {
        LFAIL(p,
              "a config file must be a mapping of 'key: value' lines at the top, found the "
              "single value '%s'",
              shown((const char *)e->data.scalar.value, buf));
    } else {
        LFAIL(p, "a config file must be a mapping of 'key: value' lines at the top, found %s",
              node_kind(e));
    }
    SISA_TRY(next_event(L)); /* document end */
    SISA_TRY(next_event(L));
    if (L->ev.type == YAML_DOCUMENT_START_EVENT)
        LFAIL(mark_pos(L->ev.start_mark),
              "a second YAML document starts here; a config file holds exactly one");
    SISA_CHECK(L->ev.type == YAML_STREAM_END_EVENT, SISA_EINTERNAL, "%s: unexpected YAML event %d",
               L->name, (int)L->ev.type);
    SISA_TRY(check_relations(L));
done:
    return err;
}

static int too_big(const char *name, unsigned long long size)
{
    return SISA_ERR(SISA_ECONFIG,
                    "%s:1:1: the file is %llu bytes; config files may have at most %d bytes "
                    "(1 MiB)",
                    name, size, SISA_CONFIG_MAX_BYTES);
}

int sisa_config_parse(sisa_config *cfg, const char *text, size_t len, const char *name,
                      const char *base_dir)
{
    int err = SISA_OK;
    loader *L = NULL;
    int parser_ready = 0;
    if (!name || !*name) name = "<config>";
    sisa_config_defaults(cfg);
    if (len > SISA_CONFIG_MAX_BYTES) return too_big(name, len);
    SISA_CHECK(sisa_strlcpy(cfg->source, name, sizeof cfg->source) == 0, SISA_EUSAGE,
               "config file name too long: %.100s...", name);
    SISA_CHECK(sisa_schema_n_keys <= MAX_KEYS, SISA_EINTERNAL, "the schema has too many keys");

    /* The loader is ~50 KiB (paths): keep it off the stack. */
    L = sisa_calloc(1, sizeof *L);
    SISA_CHECK(L, SISA_ENOMEM, "out of memory loading %s", name);
    L->name = name;
    L->text = text;
    L->len = len;
    L->cfg = cfg;
    SISA_TRY(sisa_path_physical(L->base_dir, sizeof L->base_dir,
                                base_dir && *base_dir ? base_dir : "."));

    SISA_CHECK(yaml_parser_initialize(&L->parser), SISA_ENOMEM, "out of memory loading %s", name);
    parser_ready = 1;
    yaml_parser_set_input_string(&L->parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&L->parser, YAML_UTF8_ENCODING);
    SISA_TRY(parse_stream(L));
done:
    if (L) {
        if (L->have_ev) yaml_event_delete(&L->ev);
        if (parser_ready) yaml_parser_delete(&L->parser);
        sisa_free(L);
    }
    return err;
}

/* The store folder must not be, or hold, the config file or the data: sisa creates its store
 * only in a missing or empty folder, and a store around the user's files could only be a
 * mistake (before this rule, training removed them). */
static int check_store_placement(const sisa_config *cfg, const char *path)
{
    int err = SISA_OK;
    char store[SISA_PATH_MAX], other[SISA_PATH_MAX];
    SISA_TRY(sisa_path_physical(store, sizeof store, cfg->store));
    const struct {
        const char *what, *path;
    } files[] = {
        {"the config file", path}, {"data.train", cfg->data.train}, {"data.test", cfg->data.test}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].path[0]) continue;
        SISA_TRY(sisa_path_physical(other, sizeof other, files[i].path));
        SISA_CHECK(!sisa_path_within(other, store), SISA_ECONFIG,
                   "%s: store: %s %s %s (%s); the store must be a folder of its own (sisa "
                   "creates it, and it must not hold your files): choose another 'store:'",
                   path, cfg->store, strcmp(other, store) ? "contains" : "is", files[i].what,
                   files[i].path);
    }
done:
    return err;
}

int sisa_config_load(sisa_config *cfg, const char *path)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    char dir[SISA_CONFIG_PATH_MAX], file[SISA_CONFIG_PATH_MAX];
    struct stat st;
    /* One config file, one store: its folder anchors the relative paths, and every rank of a
     * job reads it, so standard input cannot stand in for it. */
    SISA_CHECK(strcmp(path, "-") != 0, SISA_EUSAGE,
               "-c -: a config is read from a file, not standard input (its folder anchors the "
               "relative paths in it, and every rank of a job reads it); write it to a file");
    /* Refuse big files before reading them. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > SISA_CONFIG_MAX_BYTES)
        return too_big(path, (unsigned long long)st.st_size);
    err = sisa_fs_read_all(&text, &len, path, SISA_CONFIG_MAX_BYTES);
    if (err == SISA_ECORRUPT) /* a pipe or a file that grew past the limit while being read */
        SISA_FAIL(SISA_ECONFIG,
                  "%s:1:1: the file is larger than %d bytes (1 MiB), the limit for "
                  "config files",
                  path, SISA_CONFIG_MAX_BYTES);
    if (err < 0) goto done;
    /* Relative paths resolve against the folder that physically holds the file (a symbolic
     * link to the file or to a folder on the way followed): one config file, one store,
     * whichever path reached it. */
    SISA_TRY(sisa_path_physical(file, sizeof file, path));
    SISA_TRY(sisa_path_dirname(dir, sizeof dir, file));
    SISA_TRY(sisa_config_parse(cfg, text, len, path, dir));
    SISA_TRY(check_store_placement(cfg, path));
done:
    sisa_free(text);
    return err;
}
