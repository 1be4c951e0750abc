/*
 * csv.c - `sisa import csv`: a CSV file with a header row into a canonical dataset file.
 *
 * The header names the columns; the user picks the label column (or none: --unlabelled, an
 * input to predict) and optionally an ID and a group column by name, and every other column is a
 * feature, in header order (recorded as the dataset's feature_names). A prediction input instead
 * names its feature columns (the training data's feature_names, in their order), and every other
 * column is ignored. Rows are split
 * in place in the line reader's buffer (no allocation per row or per field), parsed strictly
 * (base/strutil.h) and collected into a block of a few thousand rows that is handed to the
 * streaming dataset writer, which keeps the output in a temp file until commit. Any error,
 * including an interrupt, aborts the writer, so no output and no temp file remain.
 *
 * Dialect: RFC 4180 quoting ("a ""b""" is the field a "b"), a configurable one-byte delimiter,
 * LF or CRLF line ends, an optional UTF-8 byte order mark before the header, and one record per
 * line: a quoted field that spans lines is refused with a message that says so. Empty lines are
 * allowed only at the end of the file (editors and `echo >>` leave them); one in the middle
 * usually means a broken concatenation, so it is an error naming its line.
 *
 * Invariant: data row r (0-based) is on line r + 2 of the file, because the header is line 1 and
 * no record may span or skip lines. Messages use line numbers; the writer's use rows.
 */
#include "io/import_internal.h"

#include "base/log.h"
#include "base/progress.h"
#include "base/strutil.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_BLOCK_BYTES    (8u << 20)
#define CSV_BLOCK_ROWS_MAX 4096u
#define CSV_LIST_COLUMNS   12 /* columns named in an "unknown column" message */
/* The dataset writer's 2^24 features, plus the label, ID and group columns: a header with more
 * is refused before its names are sorted and checked. */
#define CSV_MAX_COLUMNS ((size_t)(1u << 24) + 3)

/* What a column holds. Features are numbered in header order, skipping the other kinds. */
enum { COL_FEATURE = 0, COL_LABEL, COL_ID, COL_GROUP, COL_RISK, COL_IGNORED };

/* Outcome of splitting one line into fields. */
enum { SPLIT_OK = 0, SPLIT_OPEN_QUOTE, SPLIT_AFTER_QUOTE };

typedef struct csv_split {
    size_t count;   /* fields on the line (also counted beyond `cap`) */
    size_t bad_col; /* 0-based field with a quoting problem */
    int problem;    /* SPLIT_* */
} csv_split;

/*
 * Split `line` (NUL-terminated, `len` bytes, no NUL inside) at `delim`, in place: each field
 * is NUL-terminated where its delimiter was, quoted fields are unescaped towards their start.
 * The first `cap` field starts go to fields[]; the count keeps going so a ragged row can say how
 * many fields it has. A quote is special only as the first byte of a field.
 */
static csv_split split_fields(char *line, size_t len, char delim, char **fields, size_t cap)
{
    csv_split s = {0, 0, SPLIT_OK};
    char *p = line, *end = line + len;
    for (;;) {
        char *start = p;
        if (p < end && *p == '"') {
            char *w = p++;
            for (;;) {
                if (p >= end) {
                    s.problem = SPLIT_OPEN_QUOTE;
                    s.bad_col = s.count;
                    return s;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (p < end && *p != delim) {
                s.problem = SPLIT_AFTER_QUOTE;
                s.bad_col = s.count;
                return s;
            }
            *w = '\0'; /* w < p: the opening quote was dropped */
        } else {
            char *q = memchr(p, delim, (size_t)(end - p));
            p = q ? q : end;
        }
        if (s.count < cap) fields[s.count] = start;
        s.count++;
        if (p >= end) return s; /* line[len] is already NUL */
        *p++ = '\0';
    }
}

typedef struct csv_ctx {
    const char *path;
    const sisa_import_opts *o;
    char delim;
    sisa_lines lines;
    int lines_open;
    /* header */
    char *head;   /* copy of the header line; names point into it */
    char **names; /* (ncols) */
    size_t ncols;
    uint8_t *kind;                 /* (ncols) COL_* */
    uint64_t *fpos;                /* (ncols) a feature column's place among the features */
    const char **fnames;           /* (d) the feature columns' names, in feature order */
    char *wanted;                  /* copy of o->feature_cols, split at '\n' */
    size_t label_c, id_c, group_c; /* column numbers; SIZE_MAX when absent */
    uint64_t d;
    /* one block of rows */
    char **fields; /* (ncols) */
    size_t block_rows, nb;
    float *X;      /* (block_rows, d) */
    int64_t *y;    /* (block_rows) */
    uint64_t *id;  /* (block_rows) */
    uint64_t *grp; /* (block_rows) or NULL */
    /* --risk */
    size_t risk_c; /* SIZE_MAX when absent */
    sisa_risk_map risk_map;
    uint8_t *risk; /* (block_rows) or NULL */
} csv_ctx;

/* "column 'name'" for a column of the header, "field N" beyond it (a ragged row). */
static const char *col_ref(const csv_ctx *c, size_t col, char *buf, size_t cap)
{
    if (c->names && col < c->ncols)
        snprintf(buf, cap, "column '%s'", c->names[col]);
    else
        snprintf(buf, cap, "field %zu", col + 1);
    return buf;
}

/* Skip empty lines; 1 when a non-empty line follows, 0 at end of file, negative on error. */
static int more_content(sisa_lines *l)
{
    char *line;
    size_t len;
    int rc;
    while ((rc = sisa_lines_next(l, &line, &len)) == 1)
        if (len) return 1;
    return rc;
}

/* Turn a splitting problem on line `lineno` into an error. Reads ahead to tell an unterminated
 * quote at the end of the file from a field that continues on the next line. */
static int split_error(csv_ctx *c, const csv_split *s, uint64_t lineno)
{
    char ref[300];
    col_ref(c, s->bad_col, ref, sizeof ref);
    if (s->problem == SPLIT_AFTER_QUOTE)
        return SISA_ERR(SISA_ECORRUPT,
                        "%s:%llu: %s: unexpected text after the closing quote (a quote "
                        "inside a quoted field must be doubled: \"\")",
                        c->path, (unsigned long long)lineno, ref);
    int more = more_content(&c->lines);
    if (more < 0) return more;
    if (!more)
        return SISA_ERR(SISA_ECORRUPT,
                        "%s:%llu: %s: unterminated quoted field (the file ends before "
                        "the closing quote)",
                        c->path, (unsigned long long)lineno, ref);
    return SISA_ERR(SISA_ECORRUPT,
                    "%s:%llu: %s: the quoted field continues past the end of the line; "
                    "fields containing line breaks are not supported (or the closing quote "
                    "is missing)",
                    c->path, (unsigned long long)lineno, ref);
}

static int check_no_nul(const csv_ctx *c, const char *line, size_t len, uint64_t lineno)
{
    const char *nul = memchr(line, '\0', len);
    if (!nul) return SISA_OK;
    return SISA_ERR(SISA_ECORRUPT,
                    "%s:%llu: NUL byte at byte %zu of the line; a CSV file is text (is "
                    "this a binary file?)",
                    c->path, (unsigned long long)lineno, (size_t)(nul - line) + 1);
}

typedef struct name_ref {
    const char *name;
    size_t col;
} name_ref;

static int cmp_name_ref(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r) return r;
    return (x->col > y->col) - (x->col < y->col);
}

/* Column names must be non-empty and unique: sort (name, column) pairs and report the first
 * repeat with both column numbers. */
static int check_names(const csv_ctx *c)
{
    int err = SISA_OK;
    name_ref *refs = NULL;
    for (size_t i = 0; i < c->ncols; i++)
        SISA_CHECK(c->names[i][0], SISA_ECORRUPT,
                   "%s:1: column %zu has an empty name; every column needs a name", c->path, i + 1);
    refs = sisa_malloc(c->ncols * sizeof *refs);
    SISA_CHECK(refs, SISA_ENOMEM, "out of memory reading the header of %s", c->path);
    for (size_t i = 0; i < c->ncols; i++) refs[i] = (name_ref){c->names[i], i};
    qsort(refs, c->ncols, sizeof *refs, cmp_name_ref);
    for (size_t i = 1; i < c->ncols; i++)
        SISA_CHECK(strcmp(refs[i].name, refs[i - 1].name) != 0, SISA_ECORRUPT,
                   "%s:1: column name '%s' appears twice (columns %zu and %zu); column names "
                   "must be unique",
                   c->path, refs[i].name, refs[i - 1].col + 1, refs[i].col + 1);
done:
    sisa_free(refs);
    return err;
}

/* Find the column named `want` (`given` says where the name came from, e.g. "given with
 * --label"). Unknown names get the closest column name as a suggestion and the start of the
 * column list. */
static int find_column(size_t *out, const csv_ctx *c, const char *want, const char *given)
{
    int err = SISA_OK;
    size_t best = SIZE_MAX;
    unsigned best_dist = 255;
    for (size_t i = 0; i < c->ncols; i++) {
        if (!strcmp(c->names[i], want)) {
            *out = i;
            return SISA_OK;
        }
        /* A name that differs only in case is the best hint there is. */
        unsigned dist = strcasecmp(c->names[i], want) ? sisa_edit_distance(c->names[i], want) : 0;
        if (dist < best_dist) {
            best_dist = dist;
            best = i;
        }
    }
    char hint[320] = "";
    if (best != SIZE_MAX && best_dist <= 3 && 2 * best_dist <= strlen(want))
        snprintf(hint, sizeof hint, "; did you mean '%s'?", c->names[best]);
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < c->ncols && i < CSV_LIST_COLUMNS; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", c->names[i]);
        if (n < 0 || (size_t)n >= sizeof list - used) break;
        used += (size_t)n;
    }
    char more[64] = "";
    if (c->ncols > CSV_LIST_COLUMNS) snprintf(more, sizeof more, ", ... (%zu in all)", c->ncols);
    SISA_FAIL(SISA_EUSAGE, "%s has no column '%s' (%s); its columns are %s%s%s", c->path, want,
              given, list, more, hint);
done:
    return err;
}

/* Every column that is not the label, ID or group column is a feature, in header order. */
static int all_features(csv_ctx *c)
{
    int err = SISA_OK;
    c->d = 0;
    for (size_t i = 0; i < c->ncols; i++)
        if (c->kind[i] == COL_FEATURE) c->fpos[i] = c->d++;
    SISA_CHECK(c->d > 0, SISA_ECORRUPT,
               "%s has no feature columns: every column is the label, ID, group or risk column",
               c->path);
    c->fnames = sisa_malloc(c->d * sizeof *c->fnames);
    SISA_CHECK(c->fnames, SISA_ENOMEM, "out of memory reading the header of %s", c->path);
    for (size_t i = 0; i < c->ncols; i++)
        if (c->kind[i] == COL_FEATURE) c->fnames[c->fpos[i]] = c->names[i];
done:
    return err;
}

/* The features are the columns named in o->feature_cols, in that order (a prediction input
 * matched to the training data's columns); every other column is ignored. */
static int select_features(csv_ctx *c)
{
    int err = SISA_OK;
    const size_t len = strlen(c->o->feature_cols);
    c->wanted = sisa_malloc(len + 1);
    SISA_CHECK(c->wanted, SISA_ENOMEM, "out of memory");
    memcpy(c->wanted, c->o->feature_cols, len + 1);
    uint64_t d = 1;
    for (size_t i = 0; i < len; i++) d += c->wanted[i] == '\n';
    c->fnames = sisa_malloc(d * sizeof *c->fnames);
    SISA_CHECK(c->fnames, SISA_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->ncols; i++)
        if (c->kind[i] == COL_FEATURE) c->kind[i] = COL_IGNORED;
    c->d = 0;
    for (char *name = c->wanted, *next; name; name = next) {
        next = strchr(name, '\n');
        if (next) *next++ = '\0';
        size_t col;
        SISA_TRY(find_column(&col, c, name, "a feature column of the training data"));
        SISA_CHECK(c->kind[col] != COL_FEATURE, SISA_EUSAGE,
                   "feature column '%s' is named twice in the training data's feature list", name);
        SISA_CHECK(c->kind[col] == COL_IGNORED, SISA_EUSAGE,
                   "%s: column '%s' is a feature of the training data but is given as the %s "
                   "column",
                   c->path, name,
                   c->kind[col] == COL_ID      ? "ID"
                   : c->kind[col] == COL_GROUP ? "group"
                   : c->kind[col] == COL_RISK  ? "risk"
                                               : "label");
        c->kind[col] = COL_FEATURE;
        c->fpos[col] = c->d;
        c->fnames[c->d++] = c->names[col];
    }
done:
    return err;
}

/* Read the header line, split and check it, and resolve the label, ID and group columns. */
static int read_header(csv_ctx *c)
{
    int err = SISA_OK;
    char *line;
    size_t len;
    int rc = sisa_lines_next(&c->lines, &line, &len);
    SISA_TRY(rc);
    SISA_CHECK(rc == 1, SISA_ECORRUPT,
               "%s: the file is empty; a CSV file needs a header row naming its columns", c->path);
    SISA_TRY(check_no_nul(c, line, len, 1));
    if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
        line += 3;
        len -= 3;
    }
    SISA_CHECK(len > 0, SISA_ECORRUPT,
               "%s:1: the first line is empty; a CSV file needs a header row naming its columns",
               c->path);
    c->head = sisa_malloc(len + 1);
    SISA_CHECK(c->head, SISA_ENOMEM, "out of memory reading the header of %s", c->path);
    memcpy(c->head, line, len + 1);
    size_t upper = 1; /* fields <= delimiters + 1 */
    for (size_t i = 0; i < len; i++) upper += c->head[i] == c->delim;
    if (upper > CSV_MAX_COLUMNS + 1) upper = CSV_MAX_COLUMNS + 1;
    c->names = sisa_malloc(upper * sizeof *c->names);
    SISA_CHECK(c->names, SISA_ENOMEM, "out of memory reading the header of %s", c->path);
    csv_split s = split_fields(c->head, len, c->delim, c->names, upper);
    if (s.problem) SISA_TRY(split_error(c, &s, 1));
    SISA_CHECK(s.count <= CSV_MAX_COLUMNS, SISA_ECORRUPT,
               "%s:1: the header has %zu columns; at most %zu are supported (2^24 features and "
               "the label, ID and group columns)",
               c->path, s.count, CSV_MAX_COLUMNS);
    c->ncols = s.count;
    SISA_TRY(check_names(c));

    c->kind = sisa_calloc(c->ncols, 1);
    c->fpos = sisa_calloc(c->ncols, sizeof *c->fpos);
    SISA_CHECK(c->kind && c->fpos, SISA_ENOMEM, "out of memory reading the header of %s", c->path);
    c->label_c = c->id_c = c->group_c = SIZE_MAX;
    if (c->o->label_col)
        SISA_TRY(find_column(&c->label_c, c, c->o->label_col, "given with --label"));
    if (c->o->id_col) SISA_TRY(find_column(&c->id_c, c, c->o->id_col, "given with --id"));
    if (c->o->group_col)
        SISA_TRY(find_column(&c->group_c, c, c->o->group_col, "given with --group"));
    SISA_CHECK(c->label_c == SIZE_MAX || c->id_c != c->label_c, SISA_EUSAGE,
               "--label and --id both name column '%s'; they must be different columns",
               c->names[c->label_c]);
    SISA_CHECK(c->label_c == SIZE_MAX || c->group_c != c->label_c, SISA_EUSAGE,
               "--label and --group both name column '%s'; they must be different columns",
               c->names[c->label_c]);
    SISA_CHECK(c->id_c == SIZE_MAX || c->group_c != c->id_c, SISA_EUSAGE,
               "--id and --group both name column '%s'; they must be different columns",
               c->names[c->id_c]);
    if (c->label_c != SIZE_MAX) c->kind[c->label_c] = COL_LABEL;
    if (c->id_c != SIZE_MAX) c->kind[c->id_c] = COL_ID;
    if (c->group_c != SIZE_MAX) c->kind[c->group_c] = COL_GROUP;
    c->risk_c = SIZE_MAX;
    if (c->o->risk_col) {
        SISA_TRY(find_column(&c->risk_c, c, c->o->risk_col, "risk"));
        SISA_CHECK(c->kind[c->risk_c] == COL_FEATURE, SISA_EUSAGE,
                   "--risk names column '%s', which is already the label, ID or group column",
                   c->names[c->risk_c]);
        c->kind[c->risk_c] = COL_RISK;
    }
    SISA_TRY(c->o->feature_cols ? select_features(c) : all_features(c));
done:
    return err;
}

/* A feature that did not parse: say why in the user's terms. `rc` is a SISA_PARSE_* code. */
static int feature_error(const csv_ctx *c, uint64_t lineno, size_t col, const char *text, int rc)
{
    char ref[300];
    col_ref(c, col, ref, sizeof ref);
    if (!*text)
        return SISA_ERR(SISA_ECORRUPT, "%s:%llu: %s is empty; every feature needs a numeric value",
                        c->path, (unsigned long long)lineno, ref);
    const char *why = "is not a number";
    if (rc == SISA_PARSE_NONFINITE) /* sisa_parse_f64 knows only [-]nan and [-]inf[inity] */
        why = (text[*text == '-'] | 32) == 'n' ? "is NaN; features must be finite"
                                               : "is infinite; features must be finite";
    else if (rc == SISA_PARSE_RANGE)
        why = "is beyond the float32 range (about 3.4e38)";
    return SISA_ERR(SISA_ECORRUPT, "%s:%llu: %s: '%.200s' %s", c->path, (unsigned long long)lineno,
                    ref, text, why);
}

/* Parse the fields of data row `row` (on line `lineno`) into slot c->nb of the block. */
static int parse_row(csv_ctx *c, uint64_t row, uint64_t lineno)
{
    int err = SISA_OK;
    const sisa_import_opts *o = c->o;
    float *x = c->X + c->nb * c->d;
    char ref[300];
    for (size_t col = 0; col < c->ncols; col++) {
        const char *t = c->fields[col];
        switch (c->kind[col]) {
        case COL_FEATURE: {
            double v;
            int rc = sisa_parse_f64(t, &v);
            if (rc == SISA_PARSE_OK && fabs(v) > FLT_MAX) rc = SISA_PARSE_RANGE;
            if (rc != SISA_PARSE_OK) {
                err = feature_error(c, lineno, col, t, rc);
                goto done;
            }
            x[c->fpos[col]] = (float)v;
            break;
        }
        case COL_IGNORED:
            break;
        case COL_LABEL: {
            int64_t v;
            int rc = sisa_parse_i64(t, &v);
            SISA_CHECK(rc != SISA_PARSE_RANGE, SISA_ECORRUPT,
                       "%s:%llu: %s: label '%s' is out of the 64-bit integer range", c->path,
                       (unsigned long long)lineno, col_ref(c, col, ref, sizeof ref), t);
            SISA_CHECK(rc == SISA_PARSE_OK, SISA_ECORRUPT,
                       "%s:%llu: %s: label '%.200s' is not an integer", c->path,
                       (unsigned long long)lineno, col_ref(c, col, ref, sizeof ref), t);
            /* The writer checks the range too, but only at commit and by row number: catching
             * it here names the line and stops before the rest of the file is written. */
            if (!o->remap_labels) {
                int64_t limit = o->num_classes ? o->num_classes : SISA_MAX_CLASSES;
                SISA_CHECK(v >= 0 && v < limit, SISA_ECORRUPT,
                           "%s:%llu: %s: label %lld is outside 0..%lld; labels must be class "
                           "numbers (pass --remap-labels to map arbitrary integer labels to "
                           "0..C-1)",
                           c->path, (unsigned long long)lineno, col_ref(c, col, ref, sizeof ref),
                           (long long)v, (long long)limit - 1);
                if (!o->num_classes && v >= SISA_INFER_CLASSES_MAX) {
                    err = sisa_import_label_typo(v, "%s:%llu: %s", c->path,
                                                 (unsigned long long)lineno,
                                                 col_ref(c, col, ref, sizeof ref));
                    goto done;
                }
            }
            c->y[c->nb] = v;
            break;
        }
        case COL_ID:
        case COL_GROUP: {
            uint64_t v;
            int rc = sisa_parse_u64(t, &v);
            SISA_CHECK(rc == SISA_PARSE_OK, SISA_ECORRUPT,
                       "%s:%llu: %s: '%.200s' is not %s (a non-negative 64-bit integer)", c->path,
                       (unsigned long long)lineno, col_ref(c, col, ref, sizeof ref), t,
                       c->kind[col] == COL_ID ? "a sample ID" : "a group key");
            if (c->kind[col] == COL_ID)
                c->id[c->nb] = v;
            else
                c->grp[c->nb] = v;
            break;
        }
        case COL_RISK: {
            double v;
            char why[200];
            SISA_CHECK(sisa_parse_f64(t, &v) == SISA_PARSE_OK, SISA_ECORRUPT,
                       "%s:%llu: %s: risk '%.200s' is not a number", c->path,
                       (unsigned long long)lineno, col_ref(c, col, ref, sizeof ref), t);
            SISA_CHECK(sisa_risk_tier(&c->risk_map, v, &c->risk[c->nb], why, sizeof why) == 0,
                       SISA_ECORRUPT, "%s:%llu: %s: %s", c->path, (unsigned long long)lineno,
                       col_ref(c, col, ref, sizeof ref), why);
            break;
        }
        }
    }
    if (c->id_c == SIZE_MAX) {
        SISA_CHECK(row <= UINT64_MAX - o->id_offset, SISA_EUSAGE,
                   "%s:%llu: --id-offset %llu + row %llu does not fit in a 64-bit sample ID",
                   c->path, (unsigned long long)lineno, (unsigned long long)o->id_offset,
                   (unsigned long long)row);
        c->id[c->nb] = o->id_offset + row;
    }
    c->nb++;
done:
    return err;
}

static int flush_block(csv_ctx *c, sisa_dataset_writer *w)
{
    int err = SISA_OK;
    if (!c->nb) return SISA_OK;
    err = sisa_dataset_writer_append(w, c->X, c->o->unlabelled ? NULL : c->y, c->id, c->grp, c->nb);
    if (err == SISA_OK && c->risk) err = sisa_dataset_writer_append_risk(w, c->risk, c->nb);
    if (err < 0) {
        sisa_error_prefix("importing %s", c->path);
        return err;
    }
    c->nb = 0;
    return SISA_OK;
}

static void ctx_free(csv_ctx *c)
{
    if (c->lines_open) sisa_lines_close(&c->lines);
    sisa_free(c->head);
    sisa_free(c->names);
    sisa_free(c->kind);
    sisa_free(c->fpos);
    sisa_free(c->fnames);
    sisa_free(c->wanted);
    sisa_free(c->fields);
    sisa_free(c->X);
    sisa_free(c->y);
    sisa_free(c->id);
    sisa_free(c->grp);
    sisa_free(c->risk);
}

int sisa_import_csv(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o)
{
    int err = SISA_OK;
    csv_ctx c;
    sisa_dataset_writer *w = NULL;
    sisa_progress prog;
    int prog_started = 0;
    char source[1024], label[512];

    memset(&c, 0, sizeof c);
    c.path = strcmp(path, "-") ? path : "standard input";
    c.o = o;
    c.delim = o->delimiter ? o->delimiter : ',';
    SISA_TRY(sisa_import_check_common(o));
    SISA_TRY(sisa_import_check_labels(o, o->label_col, "--label COLUMN", "label column"));
    SISA_CHECK(!o->feature_cols || *o->feature_cols, SISA_EUSAGE, "no feature column named");
    SISA_TRY(sisa_risk_map_init(&c.risk_map, o));
    SISA_CHECK(c.delim != '"' && c.delim != '\n' && c.delim != '\r', SISA_EUSAGE,
               "--delimiter cannot be a quote or a line break");

    SISA_TRY(sisa_lines_open(&c.lines, path));
    c.lines_open = 1;
    SISA_TRY(read_header(&c));

    snprintf(source, sizeof source, "csv %s label=%s id=%s group=%s", c.path,
             o->label_col ? o->label_col : "none", o->id_col ? o->id_col : "row",
             o->group_col ? o->group_col : "none");
    sisa_import_risk_source(source, sizeof source, o);
    sisa_writer_opts wo;
    sisa_import_writer_opts(&wo, o, source);
    wo.has_group = c.group_c != SIZE_MAX;
    wo.has_risk = c.risk_c != SIZE_MAX;
    wo.feature_names = c.fnames;
    err = sisa_dataset_writer_open(&w, o->out, c.d, &wo);
    if (err < 0) {
        sisa_error_prefix("importing %s", path);
        goto done;
    }

    /* After the writer has checked d against its limit. */
    c.block_rows = CSV_BLOCK_BYTES / (c.d * sizeof(float));
    if (c.block_rows > CSV_BLOCK_ROWS_MAX) c.block_rows = CSV_BLOCK_ROWS_MAX;
    if (c.block_rows == 0) c.block_rows = 1;
    c.fields = sisa_malloc(c.ncols * sizeof *c.fields);
    c.X = sisa_malloc(c.block_rows * c.d * sizeof *c.X);
    c.y = sisa_malloc((o->unlabelled ? 1 : c.block_rows) * sizeof *c.y);
    c.id = sisa_malloc(c.block_rows * sizeof *c.id);
    if (c.group_c != SIZE_MAX) c.grp = sisa_malloc(c.block_rows * sizeof *c.grp);
    if (c.risk_c != SIZE_MAX) c.risk = sisa_malloc(c.block_rows);
    SISA_CHECK(c.risk_c == SIZE_MAX || c.risk, SISA_ENOMEM, "out of memory");
    SISA_CHECK(c.fields && c.X && c.y && c.id && (c.group_c == SIZE_MAX || c.grp), SISA_ENOMEM,
               "out of memory for a block of %zu rows of %llu features", c.block_rows,
               (unsigned long long)c.d);

    snprintf(label, sizeof label, "importing %s", path);
    sisa_progress_start(&prog, label, "rows", 0);
    prog_started = 1;
    uint64_t row = 0, empty_line = 0;
    char *line;
    size_t len;
    int rc;
    while ((rc = sisa_lines_next(&c.lines, &line, &len)) == 1) {
        uint64_t lineno = c.lines.lineno;
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR,
                   "interrupted while importing %s; no output was written", path);
        if (len == 0) {
            if (!empty_line) empty_line = lineno;
            continue;
        }
        SISA_CHECK(!empty_line, SISA_ECORRUPT,
                   "%s:%llu: empty line; empty lines are allowed only at the end of the file", path,
                   (unsigned long long)empty_line);
        SISA_TRY(check_no_nul(&c, line, len, lineno));
        csv_split s = split_fields(line, len, c.delim, c.fields, c.ncols);
        if (s.problem) SISA_TRY(split_error(&c, &s, lineno));
        SISA_CHECK(s.count == c.ncols, SISA_ECORRUPT, "%s:%llu: expected %zu fields, found %zu",
                   path, (unsigned long long)lineno, c.ncols, s.count);
        SISA_TRY(parse_row(&c, row, lineno));
        row++;
        if (c.nb == c.block_rows) {
            SISA_TRY(flush_block(&c, w));
            sisa_progress_update(&prog, row);
        }
    }
    SISA_TRY(rc);
    SISA_CHECK(row > 0, SISA_ECORRUPT, "%s: no data rows after the header", path);
    SISA_TRY(flush_block(&c, w));
    sisa_progress_update(&prog, row);
    err = sisa_dataset_writer_commit(w, out);
    w = NULL; /* commit frees the writer whatever happens */
    if (err < 0) sisa_error_prefix("importing %s", path);
done:
    if (prog_started) sisa_progress_finish(&prog);
    sisa_dataset_writer_abort(w);
    ctx_free(&c);
    return err;
}
