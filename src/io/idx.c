/*
 * idx.c - `sisa import idx`: an IDX image file and its label file into a dataset file.
 *
 * IDX (the MNIST format): two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
 * 0x0D f32, 0x0E f64), a rank byte, `rank` big-endian uint32 dimensions, then the values,
 * big-endian, row-major. Images: dims[0] samples of dims[1..] values each (flattened into
 * features, the shape kept as feature_shape). Labels: rank 1, one integer per sample.
 *
 * Both files are read together in blocks of rows, so memory stays at one block however large
 * the input. Everything the header promises is checked against what the file holds: for a plain
 * file up front from its size (a truncated or overlong file fails before any work); for a
 * gzipped one while streaming (a short stream, a corrupt one, or data after the declared
 * samples). Values are converted to float32 in tight per-type loops (no call per element: the
 * Fashion-MNIST train set is 47 million values), and non-finite floats are rejected naming the
 * sample. Any failure aborts the writer, which leaves neither output nor temp file behind.
 */
#include "sisa/import.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/progress.h"
#include "io/import_internal.h"
#include "base/mem.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IDX_MAX_RANK     (1 + SISA_MAX_FEATURE_RANK)
#define IDX_MAX_FEATURES (1u << 24) /* the writer's limit, checked here to name the input */
#define BLOCK_MAX_ROWS   4096
#define BLOCK_MAX_BYTES  (16u << 20) /* of float32 features per block */
/* Deflate cannot expand data by more than about 1032:1, so a gzip file of S bytes holds at
 * most ~1032 * S bytes: a header promising more is corrupt, and we learn it before allocating. */
#define GZIP_MAX_RATIO 1100u

typedef struct {
    unsigned code;
    size_t size;
    const char *name;
    int is_float;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, "unsigned byte", 0}, {0x09, 1, "signed byte", 0}, {0x0B, 2, "int16", 0},
    {0x0C, 4, "int32", 0},         {0x0D, 4, "float32", 1},     {0x0E, 8, "float64", 1},
};

typedef struct {
    sisa_gzin in;
    const char *path;
    const idx_type *type;
    int rank;
    uint64_t dims[IDX_MAX_RANK];
    uint64_t n;     /* dims[0]: samples */
    uint64_t inner; /* product of dims[1..]: values per sample (1 for rank 1) */
} idx_file;

static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Open `path` and parse its header. */
static int idx_open(idx_file *f, const char *path)
{
    int err = SISA_OK;
    unsigned char h[4], db[4 * IDX_MAX_RANK];
    f->path = path;
    SISA_TRY(sisa_gzin_open(&f->in, path));
    SISA_TRY(sisa_gzin_read_exact(&f->in, h, sizeof h, "the 4-byte IDX header"));
    SISA_CHECK(h[0] == 0 && h[1] == 0, SISA_ECORRUPT,
               "%s is not an IDX file: it starts with bytes %02x %02x, not 00 00", path, h[0],
               h[1]);
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == h[2]) f->type = &idx_types[i];
    SISA_CHECK(f->type, SISA_ECORRUPT,
               "%s: unknown IDX type code 0x%02X (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, "
               "0x0D f32 or 0x0E f64)",
               path, h[2]);
    f->rank = h[3];
    SISA_CHECK(f->rank >= 1, SISA_ECORRUPT, "%s: the IDX header declares rank 0 (no dimensions)",
               path);
    SISA_CHECK(f->rank <= IDX_MAX_RANK, SISA_ECORRUPT,
               "%s: the IDX header declares rank %d; at most %d is supported", path, f->rank,
               IDX_MAX_RANK);
    SISA_TRY(sisa_gzin_read_exact(&f->in, db, 4 * (size_t)f->rank, "the IDX dimensions"));
    f->inner = 1;
    for (int i = 0; i < f->rank; i++) {
        f->dims[i] = be32(db + 4 * i);
        SISA_CHECK(f->dims[i] > 0, SISA_ECORRUPT, "%s: IDX dimension %d of %d is 0 (no data)", path,
                   i + 1, f->rank);
        if (i == 0) continue;
        /* Every dimension is below 2^32 and the product stays below 2^24 before multiplying,
         * so it cannot overflow. */
        f->inner *= f->dims[i];
        SISA_CHECK(f->inner <= IDX_MAX_FEATURES, SISA_ECORRUPT,
                   "%s: samples of more than %u values are not supported", path, IDX_MAX_FEATURES);
    }
    f->n = f->dims[0];
done:
    return err;
}

/* Compare what the header promises with the size of the file (see the file comment). */
static int idx_check_size(const idx_file *f)
{
    int err = SISA_OK;
    struct stat st;
    SISA_CHECK(stat(f->path, &st) == 0, SISA_EIO, "cannot open %s: %s", f->path, strerror(errno));
    SISA_CHECK(S_ISREG(st.st_mode), SISA_EIO, "%s is not a regular file", f->path);
    uint64_t header = 4 + 4 * (uint64_t)f->rank;
    uint64_t data = f->n * f->inner * f->type->size; /* < 2^32 * 2^24 * 8: no overflow */
    uint64_t size = (uint64_t)st.st_size;
    if (f->in.is_gzip) {
        SISA_CHECK(data / GZIP_MAX_RATIO <= size, SISA_ECORRUPT,
                   "%s: corrupt or truncated: the header declares %llu bytes of data, more than a "
                   "gzip file of %llu bytes can hold",
                   f->path, (unsigned long long)data, (unsigned long long)size);
    } else {
        SISA_CHECK(size >= header + data, SISA_ECORRUPT,
                   "%s: truncated: the header declares %llu samples (%llu bytes of data) but the "
                   "file holds only %llu bytes of data",
                   f->path, (unsigned long long)f->n, (unsigned long long)data,
                   (unsigned long long)(size - header));
        SISA_CHECK(size == header + data, SISA_ECORRUPT,
                   "%s: %llu unexpected bytes after the %llu samples the header declares", f->path,
                   (unsigned long long)(size - header - data), (unsigned long long)f->n);
    }
done:
    return err;
}

/* After the last sample: the file must end (read one more byte; for gzip this also makes zlib
 * check the stream's CRC and length trailer). */
static int idx_check_end(idx_file *f)
{
    int err = SISA_OK;
    unsigned char extra;
    size_t got = 0;
    SISA_TRY(sisa_gzin_read(&f->in, &extra, 1, &got));
    SISA_CHECK(got == 0, SISA_ECORRUPT,
               "%s: unexpected bytes after the %llu samples the header declares", f->path,
               (unsigned long long)f->n);
done:
    return err;
}

/* Convert `count` big-endian values of `code` to float. Returns nonzero when some value is not
 * a finite float32 (the caller then looks for it); such values are stored as 0. */
static int to_float(unsigned code, const unsigned char *p, float *out, size_t count)
{
    int bad = 0;
    switch (code) {
    case 0x08:
        for (size_t i = 0; i < count; i++) out[i] = (float)p[i];
        break;
    case 0x09:
        for (size_t i = 0; i < count; i++) out[i] = (float)(int8_t)p[i];
        break;
    case 0x0B:
        for (size_t i = 0; i < count; i++) {
            uint16_t u = (uint16_t)(p[2 * i] << 8 | p[2 * i + 1]);
            int16_t s;
            memcpy(&s, &u, sizeof s);
            out[i] = (float)s;
        }
        break;
    case 0x0C:
        for (size_t i = 0; i < count; i++) {
            uint32_t u = be32(p + 4 * i);
            int32_t s;
            memcpy(&s, &u, sizeof s);
            out[i] = (float)s;
        }
        break;
    case 0x0D:
        for (size_t i = 0; i < count; i++) {
            uint32_t u = be32(p + 4 * i);
            float v;
            memcpy(&v, &u, sizeof v);
            bad |= !isfinite(v);
            out[i] = v;
        }
        break;
    default: /* 0x0E */
        for (size_t i = 0; i < count; i++) {
            uint64_t u = be64(p + 8 * i);
            double v;
            memcpy(&v, &u, sizeof v);
            /* Converting a finite double beyond FLT_MAX to float is undefined behaviour. */
            int ok = v >= -FLT_MAX && v <= FLT_MAX;
            bad |= !ok;
            out[i] = ok ? (float)v : 0.0f;
        }
        break;
    }
    return bad;
}

/* Name the first value of a block that is not a finite float32. */
static int report_bad_value(const idx_file *f, const unsigned char *p, size_t count, uint64_t row0)
{
    for (size_t i = 0; i < count; i++) {
        double v;
        if (f->type->code == 0x0D) {
            uint32_t u = be32(p + 4 * i);
            float fv;
            memcpy(&fv, &u, sizeof fv);
            v = fv;
        } else {
            uint64_t u = be64(p + 8 * i);
            memcpy(&v, &u, sizeof v);
        }
        if (v >= -FLT_MAX && v <= FLT_MAX) continue;
        unsigned long long row = row0 + i / f->inner, col = i % f->inner;
        if (isnan(v))
            return SISA_ERR(SISA_ECORRUPT, "%s: sample %llu, value %llu is NaN", f->path, row, col);
        if (isinf(v))
            return SISA_ERR(SISA_ECORRUPT, "%s: sample %llu, value %llu is infinite", f->path, row,
                            col);
        return SISA_ERR(SISA_ECORRUPT,
                        "%s: sample %llu, value %llu is %g, outside the float32 range", f->path,
                        row, col, v);
    }
    return SISA_ERR(SISA_EINTERNAL, "%s: bad value not found", f->path);
}

/* Convert `count` big-endian integer labels and, unless they will be remapped, check their
 * range here, where the message can name the label file. */
static int to_labels(const idx_file *f, const unsigned char *p, int64_t *out, size_t count,
                     uint64_t row0, const sisa_import_opts *o)
{
    switch (f->type->code) {
    case 0x08:
        for (size_t i = 0; i < count; i++) out[i] = p[i];
        break;
    case 0x09:
        for (size_t i = 0; i < count; i++) out[i] = (int8_t)p[i];
        break;
    case 0x0B:
        for (size_t i = 0; i < count; i++) {
            uint16_t u = (uint16_t)(p[2 * i] << 8 | p[2 * i + 1]);
            int16_t s;
            memcpy(&s, &u, sizeof s);
            out[i] = s;
        }
        break;
    default: /* 0x0C; float types were refused with the header */
        for (size_t i = 0; i < count; i++) {
            uint32_t u = be32(p + 4 * i);
            int32_t s;
            memcpy(&s, &u, sizeof s);
            out[i] = s;
        }
        break;
    }
    if (o->remap_labels) return SISA_OK;
    int64_t limit = o->num_classes ? o->num_classes : SISA_MAX_CLASSES;
    for (size_t i = 0; i < count; i++) {
        if (out[i] >= 0 && out[i] < limit) {
            if (!o->num_classes && out[i] >= SISA_INFER_CLASSES_MAX)
                return sisa_import_label_typo(out[i], "%s: sample %llu", f->path,
                                              (unsigned long long)(row0 + i));
            continue;
        }
        if (o->num_classes)
            return SISA_ERR(SISA_ECORRUPT,
                            "%s: sample %llu has label %lld, outside 0..%d (--num-classes %d)",
                            f->path, (unsigned long long)(row0 + i), (long long)out[i],
                            o->num_classes - 1, o->num_classes);
        return SISA_ERR(SISA_ECORRUPT,
                        "%s: sample %llu has label %lld; labels must be integers in 0..%d "
                        "(pass --remap-labels to map arbitrary integer labels to 0..C-1)",
                        f->path, (unsigned long long)(row0 + i), (long long)out[i],
                        SISA_MAX_CLASSES - 1);
    }
    return SISA_OK;
}

/* Open the label file and check it fits the images: rank 1, integers, one label per image. */
static int check_label_file(idx_file *lab, const idx_file *img, const char *path)
{
    int err = SISA_OK;
    SISA_TRY(idx_open(lab, path));
    SISA_CHECK(lab->rank == 1, SISA_ECORRUPT,
               "%s: a label file must have rank 1 (one label per sample), but this one has rank %d",
               lab->path, lab->rank);
    SISA_CHECK(!lab->type->is_float, SISA_ECORRUPT,
               "%s: labels must be integers, but the IDX type is %s", lab->path, lab->type->name);
    SISA_CHECK(lab->n == img->n, SISA_ECORRUPT, "%s has %llu samples but %s has %llu labels",
               img->path, (unsigned long long)img->n, lab->path, (unsigned long long)lab->n);
    SISA_TRY(idx_check_size(lab));
done:
    return err;
}

int sisa_import_idx(sisa_dataset_summary *out, const sisa_import_opts *o)
{
    int err = SISA_OK;
    idx_file img, lab;
    sisa_dataset_writer *w = NULL;
    unsigned char *raw = NULL, *lraw = NULL;
    float *X = NULL;
    int64_t *y = NULL;
    uint64_t *ids = NULL;
    sisa_progress prog;
    int prog_started = 0;
    char source[1024], what[128];
    memset(&img, 0, sizeof img);
    memset(&lab, 0, sizeof lab);

    SISA_TRY(sisa_import_check_common(o));
    SISA_CHECK(o->images && *o->images, SISA_EUSAGE, "sisa import idx: --images FILE is required");
    SISA_TRY(sisa_import_check_labels(o, o->labels, "--labels FILE", "label file"));
    if (!strcmp(o->images, "-") || (o->labels && !strcmp(o->labels, "-"))) {
        SISA_CHECK(!(o->labels && !strcmp(o->images, "-") && !strcmp(o->labels, "-")), SISA_EUSAGE,
                   "--images and --labels both read standard input ('-'); at most one can");
        return sisa_import_spooled(out, o, NULL);
    }
    SISA_CHECK(o->force || !sisa_fs_exists(o->out), SISA_EEXIST,
               "%s already exists (pass --force to replace it)", o->out);

    SISA_TRY(idx_open(&img, o->images));
    SISA_TRY(idx_check_size(&img));
    if (o->labels) SISA_TRY(check_label_file(&lab, &img, o->labels));

    const uint64_t n = img.n, d = img.inner;
    SISA_TRY(sisa_import_check_id_offset(o, n, "samples"));

    uint64_t block = BLOCK_MAX_BYTES / (d * sizeof(float));
    if (block > BLOCK_MAX_ROWS) block = BLOCK_MAX_ROWS;
    if (block == 0) block = 1;
    raw = sisa_malloc(block * d * img.type->size);
    X = sisa_malloc(block * d * sizeof *X);
    if (o->labels) { /* unlabelled rows need no label buffers */
        lraw = sisa_malloc(block * lab.type->size);
        y = sisa_malloc(block * sizeof *y);
    }
    ids = sisa_malloc(block * sizeof *ids);
    SISA_CHECK(raw && X && (!o->labels || (lraw && y)) && ids, SISA_ENOMEM,
               "out of memory for a block of %llu rows", (unsigned long long)block);

    snprintf(source, sizeof source, "idx images=%s labels=%s", sisa_import_input_name(o, o->images),
             o->labels ? sisa_import_input_name(o, o->labels) : "none");
    sisa_writer_opts wo;
    sisa_import_writer_opts(&wo, o, source);
    wo.n_hint = n;
    wo.feature_rank = img.rank - 1;
    for (int i = 1; i < img.rank; i++) wo.feature_shape[i - 1] = img.dims[i];
    SISA_TRY(sisa_dataset_writer_open(&w, o->out, d, &wo));

    sisa_progress_start(&prog, "import idx", "rows", n);
    prog_started = 1;
    for (uint64_t r0 = 0; r0 < n; r0 += block) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted; %s was not written",
                   o->out);
        const uint64_t nr = n - r0 < block ? n - r0 : block;
        snprintf(what, sizeof what, "samples %llu..%llu", (unsigned long long)r0,
                 (unsigned long long)(r0 + nr - 1));
        SISA_TRY(sisa_gzin_read_exact(&img.in, raw, nr * d * img.type->size, what));
        if (o->labels) SISA_TRY(sisa_gzin_read_exact(&lab.in, lraw, nr * lab.type->size, what));
        if (to_float(img.type->code, raw, X, nr * d))
            SISA_TRY(report_bad_value(&img, raw, nr * d, r0));
        if (o->labels) SISA_TRY(to_labels(&lab, lraw, y, nr, r0, o));
        for (uint64_t i = 0; i < nr; i++) ids[i] = o->id_offset + r0 + i;
        SISA_TRY(sisa_dataset_writer_append(w, X, o->labels ? y : NULL, ids, NULL, nr));
        sisa_progress_update(&prog, r0 + nr);
    }
    SISA_TRY(idx_check_end(&img));
    if (o->labels) SISA_TRY(idx_check_end(&lab));

    sisa_dataset_writer *done_w = w;
    w = NULL; /* commit frees the writer, whatever happens */
    err = sisa_dataset_writer_commit(done_w, out);
    /* What commit refuses (one class, a label typo) is the inputs' fault: name them. */
    if (err < 0 && o->labels) sisa_error_prefix("importing %s and %s", o->images, o->labels);
    if (err < 0 && !o->labels) sisa_error_prefix("importing %s", o->images);
done:
    if (prog_started) sisa_progress_finish(&prog);
    sisa_dataset_writer_abort(w);
    sisa_gzin_close(&img.in);
    sisa_gzin_close(&lab.in);
    sisa_free(raw);
    sisa_free(X);
    sisa_free(lraw);
    sisa_free(y);
    sisa_free(ids);
    return err;
}
