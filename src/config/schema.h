/*
 * schema.h - the one table of config keys (private to src/config/).
 *
 * Every key a config file may hold is one row of sisa_schema_keys[] (schema.c): its dotted name,
 * type, bounds, default, whether it is required, whether it enters the config hash, a sentence
 * of documentation and where it lives in sisa_config. The YAML loader (config.c), the defaults,
 * the canonical dump, the config hash, `sisa config --help` and docs/config.md all read this
 * table, so none of them can disagree with another about what a key means.
 *
 * Invariants (checked by tests/test_config.c): keys of one section are contiguous and sections
 * are at most one level deep ("section.key"); 8-byte integer fields have a non-negative
 * minimum (they are stored as uint64_t); every default satisfies its own bounds.
 */
#ifndef SISA_CONFIG_SCHEMA_H
#define SISA_CONFIG_SCHEMA_H

#include "sisa/config.h"
#include "sisa/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SISA_SCHEMA_PATH,      /* char[SISA_CONFIG_PATH_MAX]; relative paths resolved at load */
    SISA_SCHEMA_INT,       /* int32_t (size 4) or uint64_t (size 8) */
    SISA_SCHEMA_FLOAT,     /* double, finite */
    SISA_SCHEMA_BOOL,      /* int32_t, 0 or 1 */
    SISA_SCHEMA_ENUM,      /* a C enum (int-sized): index into `choices` */
    SISA_SCHEMA_INT_LIST,  /* int32_t[list_max] at offset, int32_t count at count_offset */
    SISA_SCHEMA_TIER_LIST, /* sisa_tier[list_max] at offset, int32_t count at count_offset;
                            * imin/imax bound each tier's shards */
} sisa_schema_type;

typedef struct sisa_schema_key {
    const char *key; /* dotted name: "train.lr" */
    sisa_schema_type type;
    size_t offset; /* of the value in sisa_config */
    size_t size;   /* of the value (of one element for lists) */
    int required;
    int hashed; /* enters the config hash: it changes trained bits */

    /* INT and INT_LIST elements (TIER_LIST: each tier's shards): inclusive bounds. */
    int64_t imin, imax;
    /* FLOAT: bounds, each either open (excluded) or closed. */
    double fmin, fmax;
    int fmin_open, fmax_open;
    /* ENUM: the names, indexed by the C enum's value. */
    const char *const *choices;
    int n_choices;
    /* INT_LIST, TIER_LIST: number of entries and where the count lives. */
    int list_min, list_max;
    size_t count_offset;

    /* Defaults (ignored for required keys). */
    int64_t def_int; /* INT, BOOL, ENUM index */
    double def_float;
    const char *def_path;    /* PATH */
    const int32_t *def_list; /* INT_LIST */
    int def_list_len;

    const char *when; /* NULL, or when the key matters: "train.optimizer is sgd" */
    /* NULL, or whether the key matters for this config: a key added after stores existed is
     * hashed and dumped only when it matters, so older configs keep their hash. */
    int (*matters)(const sisa_config *cfg);
    const char *doc; /* one or two sentences for the reference */
} sisa_schema_key;

extern const sisa_schema_key sisa_schema_keys[];
extern const int sisa_schema_n_keys;

/* The row of a dotted key, or NULL. */
const sisa_schema_key *sisa_schema_find(const char *dotted);

/* Length of the section part of `key` ("train" in "train.lr"); 0 for top-level keys. */
size_t sisa_schema_section_len(const sisa_schema_key *k);
/* The part after the section ("lr"), or the whole key at the top level. */
const char *sisa_schema_leaf(const sisa_schema_key *k);

/* A bounded append-only text buffer with snprintf semantics: writes at most `cap` bytes
 * (always NUL-terminated when cap > 0) and counts the length it would need in `len`. */
typedef struct sisa_sbuf {
    char *out;
    size_t cap;
    size_t len;
} sisa_sbuf;
void sisa_sbuf_init(sisa_sbuf *b, char *out, size_t cap);
void sisa_sbuf_printf(sisa_sbuf *b, const char *fmt, ...) SISA_PRINTF(2, 3);

/* Append the canonical YAML text of key `k`'s value in `cfg` (the form the dump and the hash
 * use): integers in decimal, floats in the shortest form that reads back to the same double,
 * booleans as true/false, enums by name, lists in flow style, paths double-quoted. */
void sisa_schema_format_value(sisa_sbuf *b, const sisa_schema_key *k, const sisa_config *cfg);

/* Append the allowed values of `k` in words ("1 .. 4096", "(0, 10]", "logreg, mlp"). */
void sisa_schema_format_bounds(sisa_sbuf *b, const sisa_schema_key *k);

/* Shortest of %.15g, %.16g, %.17g that strtod() reads back as exactly `v`. */
void sisa_schema_format_double(char *out, size_t cap, double v);

#endif
