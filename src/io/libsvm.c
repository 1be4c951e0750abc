/*
 * libsvm.c - `sisa import libsvm`: sparse "label index:value ..." lines into a dense dataset.
 *
 * The libsvm/svmlight format stores one sample per line: an integer label, then index:value
 * pairs with 1-based indices that increase along the line; absent indices are zero. '#' starts
 * a comment; blank and comment-only lines are skipped. Ranking files ("qid:") are refused.
 * Unlabelled (--unlabelled, an input to predict), a line may start with its first pair; a
 * leading label token is then skipped unread.
 *
 * The file is read twice. The first pass validates every line and finds the row count and, unless
 * --features is given, the feature count (the largest index). Every syntax error therefore
 * surfaces before any output exists, and the writer learns the exact row count up front. The
 * second pass parses again (the file could have changed in between: any disagreement with the
 * first pass is an error), densifies each row into a block of a few thousand rows and streams the
 * blocks to the dataset writer. Any error, including an interrupt, aborts the writer, so no
 * output and no temp file remain. Tokens are parsed in place in the line reader's buffer.
 */
#include "io/import_internal.h"

#include "base/log.h"
#include "base/progress.h"
#include "base/strutil.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SVM_BLOCK_BYTES    (8u << 20)
#define SVM_BLOCK_ROWS_MAX 4096u
#define SVM_MAX_FEATURES   (UINT64_C(1) << 24) /* the dataset writer's limit */
/* The file claims the feature count through its largest index: the dense matrix that claim makes
 * (rows x features x 4 bytes) may be at most SVM_DENSE_FLOOR plus SVM_DENSE_RATIO times the
 * file's size on disk (docs/formats.md "Limits"), so that a few bytes ("1 16000000:1") cannot make
 * sisa write gigabytes. --features, the user's own word, lifts it. */
#define SVM_DENSE_FLOOR (UINT64_C(16) << 20)
#define SVM_DENSE_RATIO 256u

/* Where the largest accepted index comes from; decides how an index above it is explained. */
enum { LIMIT_WRITER, LIMIT_FEATURES, LIMIT_FIRST_PASS };

typedef struct svm_ctx {
    const char *path;
    const sisa_import_opts *o;
    uint64_t limit; /* largest index accepted */
    int limit_kind; /* LIMIT_* */
} svm_ctx;

static int is_sep(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int index_above_limit(const svm_ctx *c, uint64_t lineno, const char *idx_text)
{
    if (c->limit_kind == LIMIT_FEATURES)
        return SISA_ERR(SISA_ECORRUPT, "%s:%llu: index %s is above --features %llu", c->path,
                        (unsigned long long)lineno, idx_text, (unsigned long long)c->limit);
    if (c->limit_kind == LIMIT_FIRST_PASS)
        return SISA_ERR(SISA_ECORRUPT,
                        "%s:%llu: index %s is above the largest index (%llu) seen on the "
                        "first pass; the file changed while it was being read",
                        c->path, (unsigned long long)lineno, idx_text,
                        (unsigned long long)c->limit);
    return SISA_ERR(SISA_ECORRUPT, "%s:%llu: index %s is above the limit of %llu features", c->path,
                    (unsigned long long)lineno, idx_text, (unsigned long long)SVM_MAX_FEATURES);
}

/* Parse and check the label token. A leading '+' is accepted: binary libsvm files often write
 * "+1" (sisa_parse_i64 itself refuses signs other than '-'). */
static int parse_label(const svm_ctx *c, uint64_t lineno, const char *t, int64_t *label)
{
    int err = SISA_OK;
    const sisa_import_opts *o = c->o;
    SISA_CHECK(!strchr(t, ':'), SISA_ECORRUPT,
               "%s:%llu: the line starts with '%.200s'; expected an integer label first", c->path,
               (unsigned long long)lineno, t);
    const char *digits = t[0] == '+' && t[1] >= '0' && t[1] <= '9' ? t + 1 : t;
    int rc = sisa_parse_i64(digits, label);
    SISA_CHECK(rc != SISA_PARSE_RANGE, SISA_ECORRUPT,
               "%s:%llu: label '%s' is out of the 64-bit integer range", c->path,
               (unsigned long long)lineno, t);
    SISA_CHECK(rc == SISA_PARSE_OK, SISA_ECORRUPT, "%s:%llu: label '%.200s' is not an integer",
               c->path, (unsigned long long)lineno, t);
    /* The writer checks the range too, but only at commit and by row number: here the message
     * names the line, and comes before any output exists. */
    if (!o->remap_labels) {
        int64_t limit = o->num_classes ? o->num_classes : SISA_MAX_CLASSES;
        SISA_CHECK(*label >= 0 && *label < limit, SISA_ECORRUPT,
                   "%s:%llu: label %lld is outside 0..%lld; labels must be class numbers (pass "
                   "--remap-labels to map arbitrary integer labels such as -1/+1 to 0..C-1)",
                   c->path, (unsigned long long)lineno, (long long)*label, (long long)limit - 1);
        if (!o->num_classes && *label >= SISA_INFER_CLASSES_MAX)
            return sisa_import_label_typo(*label, "%s:%llu", c->path, (unsigned long long)lineno);
    }
done:
    return err;
}

/*
 * Parse one line in place. Returns 1 for a data row, 0 for a blank or comment line (which
 * writes nothing), negative on error. With `row` (c->limit floats, zeroed by the caller) the
 * values are stored densely; *max_index gets the line's largest index (0 when it has none).
 */
static int parse_line(const svm_ctx *c, char *line, size_t len, uint64_t lineno, int64_t *label,
                      float *row, uint64_t *max_index)
{
    int err = SISA_OK;
    const char *nul = memchr(line, '\0', len);
    SISA_CHECK(!nul, SISA_ECORRUPT,
               "%s:%llu: NUL byte at byte %zu of the line; a libsvm file is text (is this a "
               "binary file?)",
               c->path, (unsigned long long)lineno, (size_t)(nul - line) + 1);
    char *hash = memchr(line, '#', len);
    if (hash) *hash = '\0';
    char *p = line;
    while (is_sep(*p)) p++;
    if (!*p) return 0;

    uint64_t prev = 0;
    int first = 1;
    *max_index = 0;
    while (*p) {
        char *t = p;
        while (*p && !is_sep(*p)) p++;
        if (*p) *p++ = '\0';
        while (is_sep(*p)) p++;
        if (first) {
            first = 0;
            /* Unlabelled rows may start with their first pair; a leading label is skipped. */
            if (c->o->unlabelled) {
                if (!strchr(t, ':')) continue;
            } else {
                SISA_TRY(parse_label(c, lineno, t, label));
                continue;
            }
        }
        char *colon = strchr(t, ':');
        SISA_CHECK(colon, SISA_ECORRUPT,
                   "%s:%llu: '%.200s' is not an index:value pair (such as 3:0.5)", c->path,
                   (unsigned long long)lineno, t);
        *colon = '\0';
        const char *vtext = colon + 1;
        SISA_CHECK(strcmp(t, "qid") != 0, SISA_ECORRUPT,
                   "%s:%llu: 'qid:%.200s': ranking data (query IDs) is not supported; remove the "
                   "qid tokens to import the file as classification data",
                   c->path, (unsigned long long)lineno, vtext);
        uint64_t idx;
        int rc = sisa_parse_u64(t, &idx);
        SISA_CHECK(rc != SISA_PARSE_SYNTAX, SISA_ECORRUPT,
                   "%s:%llu: '%.200s:%.200s': the index '%.200s' is not a positive integer",
                   c->path, (unsigned long long)lineno, t, vtext, t);
        if (rc == SISA_PARSE_RANGE || idx > c->limit) {
            err = index_above_limit(c, lineno, t);
            goto done;
        }
        SISA_CHECK(idx > 0, SISA_ECORRUPT,
                   "%s:%llu: index 0 in '0:%.200s'; libsvm indices start at 1 (is the file "
                   "0-based?)",
                   c->path, (unsigned long long)lineno, vtext);
        SISA_CHECK(idx != prev, SISA_ECORRUPT,
                   "%s:%llu: index %llu appears twice; indices must increase along a line", c->path,
                   (unsigned long long)lineno, (unsigned long long)idx);
        SISA_CHECK(idx > prev, SISA_ECORRUPT,
                   "%s:%llu: index %llu comes after index %llu; indices must increase along a "
                   "line",
                   c->path, (unsigned long long)lineno, (unsigned long long)idx,
                   (unsigned long long)prev);
        prev = idx;
        SISA_CHECK(*vtext, SISA_ECORRUPT, "%s:%llu: index %llu has no value ('%llu:')", c->path,
                   (unsigned long long)lineno, (unsigned long long)idx, (unsigned long long)idx);
        double v;
        rc = sisa_parse_f64(vtext, &v);
        if (rc == SISA_PARSE_OK && fabs(v) > FLT_MAX) rc = SISA_PARSE_RANGE;
        /* sisa_parse_f64 reports only [-]nan and [-]inf[inity] as non-finite. */
        SISA_CHECK(rc != SISA_PARSE_NONFINITE, SISA_ECORRUPT,
                   "%s:%llu: index %llu: '%s' is %s; features must be finite", c->path,
                   (unsigned long long)lineno, (unsigned long long)idx, vtext,
                   (vtext[*vtext == '-'] | 32) == 'n' ? "NaN" : "infinite");
        SISA_CHECK(rc != SISA_PARSE_RANGE, SISA_ECORRUPT,
                   "%s:%llu: index %llu: '%.200s' is beyond the float32 range (about 3.4e38)",
                   c->path, (unsigned long long)lineno, (unsigned long long)idx, vtext);
        SISA_CHECK(rc == SISA_PARSE_OK, SISA_ECORRUPT,
                   "%s:%llu: index %llu: '%.200s' is not a number", c->path,
                   (unsigned long long)lineno, (unsigned long long)idx, vtext);
        if (row) row[idx - 1] = (float)v;
    }
    *max_index = prev;
    return 1;
done:
    return err;
}

/* First pass: validate every line; count rows and find the largest index. */
static int scan(const svm_ctx *c, sisa_lines *l, uint64_t *rows, uint64_t *max_index)
{
    int err = SISA_OK;
    sisa_progress prog;
    char label[512];
    char *line;
    size_t len;
    int rc;
    *rows = *max_index = 0;
    snprintf(label, sizeof label, "checking %s", c->path);
    sisa_progress_start(&prog, label, "rows", 0);
    while ((rc = sisa_lines_next(l, &line, &len)) == 1) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR,
                   "interrupted while importing %s; no output was written", c->path);
        int64_t y;
        uint64_t mx;
        int got = parse_line(c, line, len, l->lineno, &y, NULL, &mx);
        SISA_TRY(got);
        if (!got) continue;
        if (mx > *max_index) *max_index = mx;
        if (++*rows % SVM_BLOCK_ROWS_MAX == 0) sisa_progress_update(&prog, *rows);
    }
    SISA_TRY(rc);
done:
    sisa_progress_finish(&prog);
    return err;
}

int sisa_import_libsvm(sisa_dataset_summary *out, const char *path, const sisa_import_opts *o)
{
    int err = SISA_OK;
    sisa_lines lines;
    int lines_open = 0;
    sisa_dataset_writer *w = NULL;
    sisa_progress prog;
    int prog_started = 0;
    float *X = NULL;     /* (block_rows, d) */
    int64_t *y = NULL;   /* (block_rows) */
    uint64_t *id = NULL; /* (block_rows) */
    char source[1024], label[512];
    svm_ctx c = {path, o, o->features ? o->features : SVM_MAX_FEATURES,
                 o->features ? LIMIT_FEATURES : LIMIT_WRITER};

    SISA_TRY(sisa_import_check_common(o));
    SISA_CHECK(o->features <= SVM_MAX_FEATURES, SISA_EUSAGE,
               "--features %llu is more than the limit of %llu", (unsigned long long)o->features,
               (unsigned long long)SVM_MAX_FEATURES);
    if (!strcmp(path, "-")) return sisa_import_spooled(out, o, sisa_import_libsvm);
    SISA_TRY(sisa_lines_open(&lines, path));
    lines_open = 1;

    uint64_t n = 0, max_index = 0;
    SISA_TRY(scan(&c, &lines, &n, &max_index));
    SISA_CHECK(n > 0, SISA_ECORRUPT,
               "%s: no data rows (the file is empty or holds only comments and blank lines)", path);
    const uint64_t d = o->features ? o->features : max_index;
    SISA_CHECK(d > 0, SISA_ECORRUPT,
               "%s: no line has any index:value pair, so the feature count is unknown; pass "
               "--features D to import these rows as D zeros each",
               path);
    SISA_TRY(sisa_import_check_id_offset(o, n, "rows"));
    if (!o->features) {
        struct stat st;
        SISA_CHECK(stat(path, &st) == 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
        const uint64_t size = (uint64_t)st.st_size;
        const uint64_t limit = SVM_DENSE_FLOOR + SVM_DENSE_RATIO * size;
        /* d <= 2^24 and n <= the file's bytes: n * d * 4 cannot overflow for any real file,
         * but a check costs nothing. */
        SISA_CHECK(n <= limit / 4 / d, SISA_ECORRUPT,
                   "%s: its largest index, %llu, makes a dense matrix of %llu rows x %llu "
                   "features (%.1f MiB), more than the limit for a file of %llu bytes (16 MiB + "
                   "%u times its size): is an index wrong? pass --features %llu to import it "
                   "anyway",
                   path, (unsigned long long)d, (unsigned long long)n, (unsigned long long)d,
                   (double)n * (double)d * 4 / (1 << 20), (unsigned long long)size, SVM_DENSE_RATIO,
                   (unsigned long long)d);
        c.limit = d;
        c.limit_kind = LIMIT_FIRST_PASS;
    }
    SISA_TRY(sisa_lines_rewind(&lines));

    uint64_t block_rows = SVM_BLOCK_BYTES / (d * sizeof(float));
    if (block_rows > SVM_BLOCK_ROWS_MAX) block_rows = SVM_BLOCK_ROWS_MAX;
    if (block_rows > n) block_rows = n;
    if (block_rows == 0) block_rows = 1;
    X = sisa_calloc(block_rows * d, sizeof *X);
    y = sisa_malloc(block_rows * sizeof *y);
    id = sisa_malloc(block_rows * sizeof *id);
    SISA_CHECK(X && y && id, SISA_ENOMEM, "out of memory for a block of %llu rows of %llu features",
               (unsigned long long)block_rows, (unsigned long long)d);

    snprintf(source, sizeof source, "libsvm %s", sisa_import_input_name(o, path));
    sisa_writer_opts wo;
    sisa_import_writer_opts(&wo, o, source);
    wo.n_hint = n;
    err = sisa_dataset_writer_open(&w, o->out, d, &wo);
    if (err < 0) {
        sisa_error_prefix("importing %s", path);
        goto done;
    }

    snprintf(label, sizeof label, "importing %s", path);
    sisa_progress_start(&prog, label, "rows", n);
    prog_started = 1;
    uint64_t row = 0, nb = 0;
    char *line;
    size_t len;
    int rc;
    while ((rc = sisa_lines_next(&lines, &line, &len)) == 1) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR,
                   "interrupted while importing %s; no output was written", path);
        /* The block is all zeros beyond the rows filled so far; a blank or comment line writes
         * nothing, so zeroing happens once per block rather than once per line. */
        uint64_t mx;
        int got = parse_line(&c, line, len, lines.lineno, &y[nb], X + nb * d, &mx);
        SISA_TRY(got);
        if (!got) continue;
        SISA_CHECK(row < n, SISA_ECORRUPT,
                   "%s:%llu: more rows than the %llu seen on the first pass; the file changed "
                   "while it was being read",
                   path, (unsigned long long)lines.lineno, (unsigned long long)n);
        id[nb++] = o->id_offset + row++;
        if (nb == block_rows) {
            err = sisa_dataset_writer_append(w, X, o->unlabelled ? NULL : y, id, NULL, nb);
            if (err < 0) {
                sisa_error_prefix("importing %s", path);
                goto done;
            }
            memset(X, 0, nb * d * sizeof *X);
            nb = 0;
            sisa_progress_update(&prog, row);
        }
    }
    SISA_TRY(rc);
    SISA_CHECK(row == n, SISA_ECORRUPT,
               "%s: %llu rows, but the first pass saw %llu; the file changed while it was being "
               "read",
               path, (unsigned long long)row, (unsigned long long)n);
    if (nb) {
        err = sisa_dataset_writer_append(w, X, o->unlabelled ? NULL : y, id, NULL, nb);
        if (err < 0) {
            sisa_error_prefix("importing %s", path);
            goto done;
        }
    }
    sisa_progress_update(&prog, row);
    err = sisa_dataset_writer_commit(w, out);
    w = NULL; /* commit frees the writer whatever happens */
    if (err < 0) sisa_error_prefix("importing %s", path);
done:
    if (prog_started) sisa_progress_finish(&prog);
    sisa_dataset_writer_abort(w);
    if (lines_open) sisa_lines_close(&lines);
    sisa_free(X);
    sisa_free(y);
    sisa_free(id);
    return err;
}
