/*
 * import_common.c - option defaults and the gzip-or-plain input readers shared by importers.
 */
#include "io/import_internal.h"

#include "base/fs.h"
#include "base/log.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64u << 20)

void sisa_import_opts_init(sisa_import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->scale = 1.0;
}

void sisa_import_writer_opts(sisa_writer_opts *wo, const sisa_import_opts *o, const char *source)
{
    memset(wo, 0, sizeof *wo);
    wo->replace = o->force;
    wo->num_classes = o->num_classes;
    wo->remap_labels = o->remap_labels;
    wo->scale = (float)o->scale;
    wo->source = source;
    wo->unlabelled = o->unlabelled;
}

int sisa_import_check_common(const sisa_import_opts *o)
{
    int err = SISA_OK;
    SISA_CHECK(o->out && *o->out, SISA_EUSAGE, "no output file given (-o OUT.h5)");
    SISA_CHECK(isfinite(o->scale) && o->scale > 0, SISA_EUSAGE,
               "--scale must be a positive number, got %g", o->scale);
    SISA_CHECK((float)o->scale > 0 && isfinite((float)o->scale), SISA_EUSAGE,
               "--scale %g does not fit in float32", o->scale);
    SISA_CHECK(o->num_classes == 0 || o->num_classes >= 2, SISA_EUSAGE,
               "--num-classes must be at least 2, got %d", o->num_classes);
    SISA_CHECK(o->num_classes <= SISA_MAX_CLASSES, SISA_EUSAGE,
               "--num-classes %d is more than the limit of %d", o->num_classes, SISA_MAX_CLASSES);
    SISA_CHECK(!o->unlabelled || (!o->num_classes && !o->remap_labels), SISA_EUSAGE,
               "--unlabelled data have no classes: --num-classes and --remap-labels do not apply");
done:
    return err;
}

int sisa_import_check_labels(const sisa_import_opts *o, const char *given, const char *option,
                             const char *thing)
{
    const char *flag_end = strchr(option, ' ');
    const int flag_len = flag_end ? (int)(flag_end - option) : (int)strlen(option);
    if (o->unlabelled && given)
        return SISA_ERR(SISA_EUSAGE,
                        "%.*s and --unlabelled contradict each other: unlabelled data have no %s",
                        flag_len, option, thing);
    if (!o->unlabelled && (!given || !*given))
        return SISA_ERR(SISA_EUSAGE,
                        "no %s given (%s, or --unlabelled for data without labels, such as an "
                        "input to predict)",
                        thing, option);
    return SISA_OK;
}

int sisa_import_check_id_offset(const sisa_import_opts *o, uint64_t n, const char *unit)
{
    if (n == 0 || n - 1 <= UINT64_MAX - o->id_offset) return SISA_OK;
    return SISA_ERR(SISA_EUSAGE,
                    "--id-offset %llu is too large: the IDs of %llu %s would pass the "
                    "largest 64-bit ID",
                    (unsigned long long)o->id_offset, (unsigned long long)n, unit);
}

int sisa_import_label_typo(int64_t label, const char *fmt, ...)
{
    char where[4352];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where, fmt, ap);
    va_end(ap);
    return SISA_ERR(SISA_EUSAGE,
                    "%s: label %lld would make %lld classes (the largest label + 1; without "
                    "--num-classes sisa infers at most %d): did a label go wrong? pass "
                    "--num-classes N if you really have N classes",
                    where, (long long)label, (long long)label + 1, SISA_INFER_CLASSES_MAX);
}

typedef struct {
    uint64_t key;
    uint64_t row;
} keyed_row;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed_row *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int sisa_ids_check_unique(const uint64_t *id, uint64_t n, const char *path)
{
    int err = SISA_OK;
    keyed_row *kr = sisa_malloc((n ? n : 1) * sizeof *kr);
    SISA_CHECK(kr, SISA_ENOMEM, "out of memory checking %llu IDs of %s", (unsigned long long)n,
               path);
    for (uint64_t i = 0; i < n; i++) kr[i] = (keyed_row){id[i], i};
    qsort(kr, n, sizeof *kr, cmp_keyed);
    for (uint64_t i = 1; i < n; i++)
        SISA_CHECK(kr[i].key != kr[i - 1].key, SISA_ECORRUPT,
                   "%s: duplicate sample ID %llu (rows %llu and %llu); IDs must be unique", path,
                   (unsigned long long)kr[i].key, (unsigned long long)kr[i - 1].row,
                   (unsigned long long)kr[i].row);
done:
    sisa_free(kr);
    return err;
}

int sisa_gzin_open(sisa_gzin *in, const char *path)
{
    int err = SISA_OK;
    memset(in, 0, sizeof *in);
    in->path = path;
    if (!strcmp(path, "-")) { /* standard input, plain or gzipped (zlib tells) */
        in->path = "standard input";
        const int fd = dup(STDIN_FILENO);
        SISA_CHECK(fd >= 0, SISA_EIO, "cannot read standard input: %s", strerror(errno));
        in->gz = gzdopen(fd, "rb");
        if (!in->gz) close(fd);
        SISA_CHECK(in->gz, SISA_EIO, "cannot read standard input: %s", strerror(ENOMEM));
        gzbuffer(in->gz, 1u << 17);
        goto done;
    }
    FILE *probe = fopen(path, "rb");
    SISA_CHECK(probe, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t n = fread(magic, 1, 2, probe);
    fclose(probe);
    in->is_gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    in->gz = gzopen(path, "rb");
    SISA_CHECK(in->gz, SISA_EIO, "cannot open %s: %s", path, strerror(errno ? errno : ENOMEM));
    gzbuffer(in->gz, 1u << 17);
done:
    return err;
}

static int gz_fail(sisa_gzin *in)
{
    int zerr = Z_OK;
    const char *msg = gzerror(in->gz, &zerr);
    /* A signal interrupts a blocking read (no SA_RESTART): report the interruption itself. */
    if (sisa_interrupt_requested())
        return SISA_ERR(SISA_EINTR, "interrupted while reading %s", in->path);
    if (zerr == Z_ERRNO) return SISA_ERR(SISA_EIO, "cannot read %s: %s", in->path, strerror(errno));
    /* gzerror() prefixes its message with the path, which ours already names. */
    size_t plen = strlen(in->path);
    if (msg && !strncmp(msg, in->path, plen) && msg[plen] == ':' && msg[plen + 1] == ' ')
        msg += plen + 2;
    return SISA_ERR(SISA_ECORRUPT, "%s: corrupt gzip data (%s)", in->path,
                    msg && *msg ? msg : "zlib error");
}

int sisa_gzin_read(sisa_gzin *in, void *buf, size_t len, size_t *got)
{
    size_t total = 0;
    char *p = buf;
    while (total < len) {
        unsigned want = len - total > (1u << 30) ? (1u << 30) : (unsigned)(len - total);
        int r = gzread(in->gz, p + total, want);
        if (r < 0) return gz_fail(in);
        if (r == 0) {
            int zerr = Z_OK;
            gzerror(in->gz, &zerr);
            /* A gzip stream that ends early is reported by zlib as Z_BUF_ERROR. */
            if (zerr == Z_BUF_ERROR)
                return SISA_ERR(SISA_ECORRUPT,
                                "%s: truncated gzip data (the compressed stream ends "
                                "early)",
                                in->path);
            if (zerr != Z_OK) return gz_fail(in);
            break;
        }
        total += (size_t)r;
    }
    *got = total;
    return SISA_OK;
}

int sisa_gzin_read_exact(sisa_gzin *in, void *buf, size_t len, const char *what)
{
    size_t got = 0;
    int rc = sisa_gzin_read(in, buf, len, &got);
    if (rc < 0) return rc;
    if (got < len)
        return SISA_ERR(SISA_ECORRUPT,
                        "%s: truncated: the file ends %zu bytes into %s, which needs %zu", in->path,
                        got, what, len);
    return SISA_OK;
}

int sisa_gzin_rewind(sisa_gzin *in)
{
    if (gzrewind(in->gz) != 0)
        return SISA_ERR(SISA_EIO, "cannot rewind %s (it must be a regular file, not a pipe)",
                        in->path);
    return SISA_OK;
}

void sisa_gzin_close(sisa_gzin *in)
{
    if (in->gz) gzclose(in->gz);
    in->gz = NULL;
}

int sisa_lines_open(sisa_lines *l, const char *path)
{
    int err = SISA_OK;
    memset(l, 0, sizeof *l);
    SISA_TRY(sisa_gzin_open(&l->in, path));
    l->cap = 1u << 20;
    l->buf = sisa_malloc(l->cap + 1);
    SISA_CHECK(l->buf, SISA_ENOMEM, "out of memory reading %s", path);
done:
    if (err < 0) sisa_lines_close(l); /* the input opened before the buffer failed */
    return err;
}

int sisa_lines_next(sisa_lines *l, char **line, size_t *len)
{
    for (;;) {
        char *start = l->buf + l->pos;
        char *nl = memchr(start, '\n', l->len - l->pos);
        if (nl || (l->eof && l->pos < l->len)) {
            char *end = nl ? nl : l->buf + l->len;
            size_t n = (size_t)(end - start);
            if (n && start[n - 1] == '\r') n--;
            start[n] = '\0';
            l->pos = nl ? (size_t)(nl - l->buf) + 1 : l->len;
            l->lineno++;
            *line = start;
            *len = n;
            return 1;
        }
        if (l->eof) return 0;
        /* Move the partial line to the front, grow if it fills the buffer, read more. */
        size_t keep = l->len - l->pos;
        memmove(l->buf, l->buf + l->pos, keep);
        l->len = keep;
        l->pos = 0;
        if (l->len == l->cap) {
            if (l->cap >= LINE_MAX_BYTES)
                return SISA_ERR(SISA_ECORRUPT, "%s:%llu: line longer than %u bytes", l->in.path,
                                (unsigned long long)l->lineno + 1, LINE_MAX_BYTES);
            char *nb = sisa_realloc(l->buf, l->cap * 2 + 1);
            if (!nb) return SISA_ERR(SISA_ENOMEM, "out of memory");
            l->buf = nb;
            l->cap *= 2;
        }
        size_t got = 0;
        int rc = sisa_gzin_read(&l->in, l->buf + l->len, l->cap - l->len, &got);
        if (rc < 0) return rc;
        if (got == 0) l->eof = 1;
        l->len += got;
        l->buf[l->len] = '\0';
    }
}

int sisa_lines_rewind(sisa_lines *l)
{
    l->len = l->pos = 0;
    l->eof = 0;
    l->lineno = 0;
    return sisa_gzin_rewind(&l->in);
}

void sisa_lines_close(sisa_lines *l)
{
    sisa_gzin_close(&l->in);
    sisa_free(l->buf);
    l->buf = NULL;
}

int sisa_import_spooled(sisa_dataset_summary *out, const sisa_import_opts *o,
                        int (*import)(sisa_dataset_summary *, const char *,
                                      const sisa_import_opts *))
{
    int err = SISA_OK;
    char dir[SISA_PATH_MAX], file[SISA_PATH_MAX + 16];
    SISA_TRY(sisa_fs_spool_stdin("import", dir, sizeof dir, file, sizeof file));
    sisa_import_opts io = *o;
    io.stdin_copy = file;
    if (import) {
        err = import(out, file, &io);
    } else {
        if (!strcmp(io.images, "-")) io.images = file;
        if (io.labels && !strcmp(io.labels, "-")) io.labels = file;
        err = sisa_import_idx(out, &io);
    }
    if (sisa_fs_remove_tree(dir) != 0)
        sisa_warn("could not remove %s (the copy of standard input): %s", dir, strerror(errno));
done:
    return err;
}

const char *sisa_import_input_name(const sisa_import_opts *o, const char *path)
{
    return o->stdin_copy && path && !strcmp(path, o->stdin_copy) ? "standard input" : path;
}
