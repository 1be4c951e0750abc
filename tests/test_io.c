/*
 * test_io.c - src/io: the dataset writer and reader, the IDX and HDF5 importers, `sisa info`.
 *
 * Fixtures are built here: dataset files through the writer, then damaged with the HDF5 C API;
 * IDX files byte by byte (plain and gzipped); foreign HDF5 files with the HDF5 C API. Every
 * failure is checked for its code, its exact message (which names the user's file) and that no
 * output or temp file is left behind; every read for the values it returns. The real
 * Fashion-MNIST files are imported through the `sisa` binary and compared with the IDX bytes
 * decoded independently here (zlib) and by tests/check_fmnist.py (gzip + numpy + h5py).
 */
#include "testutil.h"

#include "sisa/dataset.h"
#include "sisa/error.h"
#include "sisa/import.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define PY "/usr/bin/python3"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Assert a sisa call failed with `code` and a message containing path + suffix. */
#define assert_err(expr, code, path, suffix)                                                       \
    assert_err_((expr), (code), (path), (suffix), #expr, __FILE__, __LINE__)
static void assert_err_(int rc, int code, const char *path, const char *suffix, const char *what,
                        const char *file, int line)
{
    if (rc != code) {
        print_error("%s returned %d, expected %d; message: %s\n", what, rc, code,
                    sisa_error_message());
        _fail(file, line);
    }
    char expect[8192];
    snprintf(expect, sizeof expect, "%s%s", path ? path : "", suffix);
    tu_assert_contains_(sisa_error_message(), expect, file, line);
}

#define assert_ok(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != SISA_OK) fail_msg("%s returned %d: %s", #expr, rc_, sisa_error_message());      \
    } while (0)

/* No HDF5 object (file, dataset, attribute, ...) is left open by the library. */
static void assert_no_h5_objects(void)
{
    assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

/* dir/name into out (checked: the tests' paths always fit). */
static void pjoin(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) fail_msg("path too long: %s/%s", dir, name);
}

static void scratch_copy(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s", tu_scratch(name));
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = tu_read_file(from, &len);
    tu_write_file(to, data, len);
    free(data);
}

/* Run a program (not sisa) with stdin from /dev/null; stdout and stderr go to `out`. */
static int run_prog(const char *const *argv, char *out, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.prog-out-%ld", tu_env("SISA_TEST_TMP"), (long)getpid());
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0) _exit(127);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    snprintf(out, cap, "%s", text);
    free(text);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- HDF5 fixture helpers (the HDF5 C API directly) -------------------------------------- */

static void h5_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                   const hsize_t *dims, const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    assert_true(sp >= 0);
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    if (data) assert_true(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    assert_true(H5Dclose(ds) >= 0);
    assert_true(H5Sclose(sp) >= 0);
}

static void h5_put1(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                    const void *data)
{
    h5_put(loc, name, ftype, mtype, 1, &n, data);
}

static void h5_drop(hid_t loc, const char *name)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) assert_true(H5Ldelete(loc, name, H5P_DEFAULT) >= 0);
}

static void h5_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                    const void *data)
{
    if (H5Aexists(loc, name) > 0) assert_true(H5Adelete(loc, name) >= 0);
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, mtype, data) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static void h5_attr_i32(hid_t loc, const char *name, int32_t v)
{
    h5_attr(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &v);
}

/* A fixed-length ASCII string, as many tools write them (the writer stores UTF-8 vlen). */
static void h5_attr_str(hid_t loc, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    h5_attr(loc, name, t, t, 0, v);
    H5Tclose(t);
}

static void h5_attr_del(hid_t loc, const char *name)
{
    assert_true(H5Adelete(loc, name) >= 0);
}

static hid_t h5_create(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static hid_t h5_open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* ---- the standard small dataset ---------------------------------------------------------- */

enum { SN = 12, SD = 6 };

typedef struct {
    float X[SN * SD];
    int64_t y[SN];
    uint64_t id[SN];
    uint64_t group[SN];
} small_data;

static void small_fill(small_data *s)
{
    for (int i = 0; i < SN * SD; i++) s->X[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < SN; i++) {
        s->y[i] = i % 3;
        s->id[i] = 1000 + 7 * (uint64_t)i;
        s->group[i] = (uint64_t)i / 4;
    }
}

/* Write rows through the writer, `chunk` rows per append. */
static int write_rows(const char *path, const sisa_writer_opts *wo, uint64_t d, const float *X,
                      const int64_t *y, const uint64_t *id, const uint64_t *group, uint64_t n,
                      uint64_t chunk, sisa_dataset_summary *s)
{
    sisa_dataset_writer *w = NULL;
    int rc = sisa_dataset_writer_open(&w, path, d, wo);
    if (rc < 0) return rc;
    for (uint64_t r0 = 0; r0 < n; r0 += chunk) {
        uint64_t nr = n - r0 < chunk ? n - r0 : chunk;
        rc = sisa_dataset_writer_append(w, X + r0 * d, y ? y + r0 : NULL, id + r0,
                                        group ? group + r0 : NULL, nr);
        if (rc < 0) {
            sisa_dataset_writer_abort(w);
            return rc;
        }
    }
    return sisa_dataset_writer_commit(w, s);
}

static void write_small(const char *path, int with_group)
{
    small_data s;
    small_fill(&s);
    sisa_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.has_group = with_group;
    wo.source = "test small";
    wo.feature_rank = 2;
    wo.feature_shape[0] = 2;
    wo.feature_shape[1] = 3;
    assert_ok(write_rows(path, &wo, SD, s.X, s.y, s.id, with_group ? s.group : NULL, SN, 5, NULL));
}

/* ---- 1. writer + reader round trips ------------------------------------------------------ */

static void test_roundtrip_streaming(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "rt_stream");
    const char *out = tu_path(dir, "ds.h5");
    small_data s;
    small_fill(&s);
    sisa_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.has_group = 1;
    wo.scale = 2.0f;
    wo.source = "unit \"test\"";
    wo.feature_rank = 2;
    wo.feature_shape[0] = 3;
    wo.feature_shape[1] = 2;
    sisa_dataset_summary sum;
    /* Uneven appends (5, 5, 2 rows) into an extendible X. */
    assert_ok(write_rows(out, &wo, SD, s.X, s.y, s.id, s.group, SN, 5, &sum));
    assert_int_equal(tu_count_entries(dir), 1);
    assert_int_equal(sum.n, SN);
    assert_int_equal(sum.d, SD);
    assert_int_equal(sum.num_classes, 3);
    assert_int_equal(sum.has_group, 1);
    assert_int_equal(sum.id_min, 1000);
    assert_int_equal(sum.id_max, 1000 + 7 * (SN - 1));
    assert_true(sum.x_min == -1.5f && sum.x_max == (float)(SN * SD - 1) * 0.25f - 1.5f);
    assert_int_equal(sum.file_bytes, file_size(out));

    sisa_dataset *ds = NULL;
    assert_ok(sisa_dataset_read(&ds, out));
    assert_no_h5_objects();
    assert_int_equal(ds->n, SN);
    assert_int_equal(ds->d, SD);
    assert_int_equal(ds->num_classes, 3);
    for (int i = 0; i < SN * SD; i++) assert_true(ds->X[i] == s.X[i] / 2.0f);
    for (int i = 0; i < SN; i++) {
        assert_int_equal(ds->y[i], s.y[i]);
        assert_int_equal(ds->id[i], s.id[i]);
        assert_int_equal(ds->group[i], s.group[i]);
    }
    assert_int_equal(ds->feature_rank, 2);
    assert_int_equal(ds->feature_shape[0], 3);
    assert_int_equal(ds->feature_shape[1], 2);
    assert_null(ds->label_values);
    assert_int_equal(ds->num_label_values, 0);
    assert_string_equal(ds->source, "unit \"test\"");
    assert_true(strncmp(ds->created_by, "sisa ", 5) == 0);
    sisa_dataset_free(ds);
}

static void test_roundtrip_hint_remap(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "rt_hint");
    const char *out = tu_path(dir, "ds.h5");
    enum { N = 6, D = 2 };
    float X[N * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    int64_t y[N] = {7, -1, 3, 7, 3, -1};
    uint64_t id[N] = {5, 4, 3, 2, 1, 0};
    sisa_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.n_hint = N;
    wo.remap_labels = 1;
    wo.scale = 1.0f;
    sisa_dataset_summary sum;
    assert_ok(write_rows(out, &wo, D, X, y, id, NULL, N, N, &sum));
    assert_int_equal(sum.num_classes, 3);
    sisa_dataset *ds = NULL;
    assert_ok(sisa_dataset_read(&ds, out));
    const int32_t want_y[N] = {2, 0, 1, 2, 1, 0}; /* sorted distinct: -1, 3, 7 */
    for (int i = 0; i < N; i++) {
        assert_int_equal(ds->y[i], want_y[i]);
        assert_int_equal(ds->id[i], id[i]);
        assert_true(ds->X[2 * i] == X[2 * i] && ds->X[2 * i + 1] == X[2 * i + 1]);
    }
    assert_null(ds->group);
    assert_int_equal(ds->num_classes, 3);
    assert_int_equal(ds->num_label_values, 3);
    assert_true(ds->label_values[0] == -1 && ds->label_values[1] == 3 && ds->label_values[2] == 7);
    assert_int_equal(ds->feature_rank, 0);
    sisa_dataset_free(ds);

    /* Remapping with a declared larger class count: label_values lists only the seen labels. */
    wo.num_classes = 5;
    wo.replace = 1;
    assert_ok(write_rows(out, &wo, D, X, y, id, NULL, N, 4, &sum));
    assert_ok(sisa_dataset_read(&ds, out));
    assert_int_equal(ds->num_classes, 5);
    assert_int_equal(ds->num_label_values, 3);
    assert_true(ds->label_values[2] == 7);
    sisa_dataset_free(ds);

    /* A declared class count without remapping: classes 3 and 4 are simply empty. */
    int64_t y2[N] = {0, 1, 2, 0, 1, 2};
    wo.remap_labels = 0;
    wo.num_classes = 5;
    assert_ok(write_rows(out, &wo, D, X, y2, id, NULL, N, N, &sum));
    assert_ok(sisa_dataset_read(&ds, out));
    assert_int_equal(ds->num_classes, 5);
    assert_null(ds->label_values);
    for (int i = 0; i < N; i++) assert_int_equal(ds->y[i], y2[i]);
    sisa_dataset_free(ds);
    assert_int_equal(tu_count_entries(dir), 1);
    assert_no_h5_objects();
}

static void test_writer_errors(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "wr_err");
    const char *out = tu_path(dir, "ds.h5");
    small_data s;
    small_fill(&s);
    sisa_writer_opts wo;
    memset(&wo, 0, sizeof wo);

    /* Duplicate IDs: the message names the ID and both rows. */
    s.id[9] = s.id[2];
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": duplicate sample ID 1014 (rows 2 and 9); IDs must be unique");
    assert_int_equal(tu_count_entries(dir), 0);
    small_fill(&s);

    /* A label outside the declared classes. */
    wo.num_classes = 2;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": row 2 has label 2, outside 0..1 (--num-classes 2)");
    assert_int_equal(tu_count_entries(dir), 0);
    wo.num_classes = 0;

    /* Without num_classes, a label that would make more than 1000 classes is a usage error
     * naming the first row that holds it (the importers name the line before this); with
     * num_classes it is a class. 1000 inferred classes are fine. */
    s.y[3] = 1500;
    s.y[8] = 1500;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_EUSAGE, out,
               ": row 3: label 1500 would make 1501 classes (the largest label + 1; without "
               "--num-classes sisa infers at most 1000): did a label go wrong?");
    assert_int_equal(tu_count_entries(dir), 0);
    wo.num_classes = 1501;
    sisa_dataset_summary sum;
    assert_ok(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, &sum));
    assert_int_equal(sum.num_classes, 1501);
    wo.num_classes = 0;
    s.y[3] = s.y[8] = 999;
    wo.replace = 1;
    assert_ok(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, &sum));
    assert_int_equal(sum.num_classes, 1000);
    wo.replace = 0;
    assert_int_equal(unlink(out), 0);
    small_fill(&s);

    /* Remapping more than 1000 distinct labels without num_classes: the same question. */
    {
        enum { NR = 1001 };
        float *X = calloc(NR, sizeof *X);
        int64_t *y = malloc(NR * sizeof *y);
        uint64_t *id = malloc(NR * sizeof *id);
        assert_true(X && y && id);
        for (int i = 0; i < NR; i++) {
            y[i] = 10 * (int64_t)i - 7;
            id[i] = (uint64_t)i;
        }
        wo.remap_labels = 1;
        assert_err(write_rows(out, &wo, 1, X, y, id, NULL, NR, 500, NULL), SISA_EUSAGE, out,
                   ": 1001 distinct labels would make 1001 classes (--remap-labels gives each "
                   "distinct label a class; without --num-classes sisa infers at most 1000): did "
                   "a label go wrong");
        assert_int_equal(tu_count_entries(dir), 0);
        wo.num_classes = NR;
        assert_ok(write_rows(out, &wo, 1, X, y, id, NULL, NR, 500, &sum));
        assert_int_equal(sum.num_classes, NR);
        assert_int_equal(unlink(out), 0);
        wo.num_classes = 0;
        wo.remap_labels = 0;
        free(X);
        free(y);
        free(id);
    }

    /* A negative label without remapping. */
    s.y[4] = -3;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": row 4 has label -3; labels must be integers in 0..");
    assert_int_equal(tu_count_entries(dir), 0);
    small_fill(&s);

    /* NaN and infinite features, named by row and feature. */
    s.X[7 * SD + 4] = NAN;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": row 7, feature 4 is NaN");
    assert_int_equal(tu_count_entries(dir), 0);
    small_fill(&s);
    s.X[3] = -INFINITY;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": row 0, feature 3 is infinite");
    assert_int_equal(tu_count_entries(dir), 0);
    small_fill(&s);

    /* No rows at all. */
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, 0, 5, NULL), SISA_ECORRUPT, out,
               ": the input has no data rows");
    assert_int_equal(tu_count_entries(dir), 0);

    /* A single class (all labels 1 would be two classes, class 0 empty). */
    for (int i = 0; i < SN; i++) s.y[i] = 0;
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_ECORRUPT, out,
               ": all rows have the same label; a classifier needs at least 2 classes");
    assert_int_equal(tu_count_entries(dir), 0);
    small_fill(&s);

    /* An existing output is kept without replace, and replaced with it. */
    tu_write_text(out, "precious");
    assert_err(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL), SISA_EEXIST, out,
               " already exists (pass --force to replace it)");
    char *kept = tu_read_file(out, NULL);
    assert_string_equal(kept, "precious");
    free(kept);
    assert_int_equal(tu_count_entries(dir), 1);
    wo.replace = 1;
    assert_ok(write_rows(out, &wo, SD, s.X, s.y, s.id, NULL, SN, 5, NULL));
    assert_int_equal(tu_count_entries(dir), 1);
    sisa_dataset *ds = NULL;
    assert_ok(sisa_dataset_read(&ds, out));
    assert_int_equal(ds->n, SN);
    sisa_dataset_free(ds);
    assert_no_h5_objects();
}

/* ---- 2. the reader's checks ------------------------------------------------------------- */

/* One way of damaging a valid file, and the message the reader must give (after the path). */
typedef struct {
    const char *what;
    const char *expect;
} damage;

static const damage damages[] = {
    {"no sisa_format", " is not a sisa dataset file (no sisa_format attribute); convert it with "
                       "'sisa import h5'"},
    {"wrong sisa_format", ": sisa_format is 'other', not 'sisa-dataset'"},
    {"version 2", ": unsupported sisa_format_version 2 (this sisa reads version 1)"},
    {"no version", ": the sisa_format_version attribute is missing"},
    {"no num_classes", ": the num_classes attribute is missing"},
    {"num_classes 1", ": num_classes is 1; it must be between 2 and"},
    {"X float64", ": 'X' should hold float32 features but holds 64-bit floating-point numbers"},
    {"X int32", ": 'X' should hold float32 features but holds 32-bit signed integers"},
    {"X rank 1", ": 'X' should have 2 dimensions (rows, features) but has 1"},
    {"X rank 3", ": 'X' should have 2 dimensions (rows, features) but has 3"},
    {"X missing", ": dataset 'X' is missing"},
    {"X huge", ": X claims 1000000000 x 1000 float32 values, more than the "},
    {"X compressed", ": X is stored compressed or filtered"},
    {"X soft link", ": 'X' is a soft link; only datasets stored in the file itself are accepted"},
    {"X external storage", ": 'X' keeps its data in 1 external file; only data stored in the file "
                           "itself are accepted"},
    {"y int64", ": 'y' should hold int32 labels but holds 64-bit signed integers"},
    {"y uint32", ": 'y' should hold int32 labels but holds 32-bit unsigned integers"},
    {"y rank 2", ": 'y' should have 1 dimension but has 2"},
    {"y short", ": 'y' has 11 entries but X has 12 rows"},
    {"id int64", ": 'id' should hold uint64 sample IDs but holds 64-bit signed integers"},
    {"id long", ": 'id' has 13 entries but X has 12 rows"},
    {"group float", ": 'group' should hold uint64 group keys but holds 32-bit floating-point "
                    "numbers"},
    {"label out of range", ": row 5 has label 3, outside 0..2 (num_classes 3)"},
    {"negative label", ": row 0 has label -1, outside 0..2 (num_classes 3)"},
    {"duplicate id", ": duplicate sample ID 1007 (rows 1 and 11)"},
    {"NaN in X", ": X row 4, column 5 is NaN"},
    {"inf in X", ": X row 11, column 0 is infinite"},
    {"feature_shape product", ": feature_shape [4 x 2] does not match the 6 features per row of "
                              "X"},
    {"feature_shape zero", ": feature_shape [0 x 6] does not match the 6 features per row of X"},
    {"label_values too long", ": label_values has 4 entries but num_classes is 3"},
};

static void apply_damage(hid_t f, size_t k, const char *dir)
{
    const char *w = damages[k].what;
    hsize_t dims[3] = {SN, SD, 1};
    float xf[SN * SD];
    double xd[SN * SD];
    int32_t xi[SN * SD], y32[SN];
    int64_t i64[SN + 1];
    uint64_t u64[SN + 1];
    for (int i = 0; i < SN * SD; i++) xf[i] = xd[i] = xi[i] = i;
    for (int i = 0; i < SN; i++) y32[i] = i % 3;
    for (int i = 0; i <= SN; i++) i64[i] = (int64_t)(u64[i] = 1000 + 7 * (uint64_t)i);
    if (!strcmp(w, "no sisa_format")) {
        h5_attr_del(f, "sisa_format");
    } else if (!strcmp(w, "wrong sisa_format")) {
        h5_attr_str(f, "sisa_format", "other");
    } else if (!strcmp(w, "version 2")) {
        h5_attr_i32(f, "sisa_format_version", 2);
    } else if (!strcmp(w, "no version")) {
        h5_attr_del(f, "sisa_format_version");
    } else if (!strcmp(w, "no num_classes")) {
        h5_attr_del(f, "num_classes");
    } else if (!strcmp(w, "num_classes 1")) {
        h5_attr_i32(f, "num_classes", 1);
    } else if (!strcmp(w, "X float64")) {
        h5_drop(f, "X");
        h5_put(f, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, xd);
    } else if (!strcmp(w, "X int32")) {
        h5_drop(f, "X");
        h5_put(f, "X", H5T_STD_I32BE, H5T_NATIVE_INT32, 2, dims, xi);
    } else if (!strcmp(w, "X rank 1")) {
        h5_drop(f, "X");
        hsize_t n = SN * SD;
        h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, xf);
    } else if (!strcmp(w, "X rank 3")) {
        h5_drop(f, "X");
        h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, xf);
    } else if (!strcmp(w, "X missing")) {
        h5_drop(f, "X");
    } else if (!strcmp(w, "X huge")) {
        /* A header claiming 4 TB: never written, so the file stays small. */
        h5_drop(f, "X");
        hsize_t big[2] = {1000000000, 1000};
        h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, big, NULL);
    } else if (!strcmp(w, "X compressed")) {
        h5_drop(f, "X");
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t chunk[2] = {4, SD};
        H5Pset_chunk(dcpl, 2, chunk);
        H5Pset_deflate(dcpl, 6);
        hid_t sp = H5Screate_simple(2, dims, NULL);
        hid_t ds = H5Dcreate2(f, "X", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, xf) >= 0);
        H5Dclose(ds);
        H5Sclose(sp);
        H5Pclose(dcpl);
    } else if (!strcmp(w, "X soft link")) {
        assert_true(H5Lmove(f, "X", f, "X_real", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        assert_true(H5Lcreate_soft("/X_real", f, "X", H5P_DEFAULT, H5P_DEFAULT) >= 0);
    } else if (!strcmp(w, "X external storage")) {
        h5_drop(f, "X");
        char raw[4096];
        pjoin(raw, sizeof raw, dir, "x.raw");
        tu_write_file(raw, xf, sizeof xf);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_external(dcpl, raw, 0, sizeof xf) >= 0);
        hid_t sp = H5Screate_simple(2, dims, NULL);
        hid_t ds = H5Dcreate2(f, "X", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds);
        H5Sclose(sp);
        H5Pclose(dcpl);
    } else if (!strcmp(w, "y int64")) {
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_I64LE, H5T_NATIVE_INT64, SN, i64);
    } else if (!strcmp(w, "y uint32")) {
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_U32LE, H5T_NATIVE_INT32, SN, y32);
    } else if (!strcmp(w, "y rank 2")) {
        h5_drop(f, "y");
        hsize_t yd[2] = {SN, 1};
        h5_put(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, yd, y32);
    } else if (!strcmp(w, "y short")) {
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, SN - 1, y32);
    } else if (!strcmp(w, "id int64")) {
        h5_drop(f, "id");
        h5_put1(f, "id", H5T_STD_I64LE, H5T_NATIVE_INT64, SN, i64);
    } else if (!strcmp(w, "id long")) {
        h5_drop(f, "id");
        h5_put1(f, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, SN + 1, u64);
    } else if (!strcmp(w, "group float")) {
        h5_drop(f, "group");
        h5_put1(f, "group", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, SN, xf);
    } else if (!strcmp(w, "label out of range")) {
        y32[5] = 3;
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, SN, y32);
    } else if (!strcmp(w, "negative label")) {
        y32[0] = -1;
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, SN, y32);
    } else if (!strcmp(w, "duplicate id")) {
        u64[11] = u64[1];
        h5_drop(f, "id");
        h5_put1(f, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, SN, u64);
    } else if (!strcmp(w, "NaN in X") || !strcmp(w, "inf in X")) {
        int nan = !strcmp(w, "NaN in X");
        xf[nan ? 4 * SD + 5 : 11 * SD] = nan ? NAN : INFINITY;
        h5_drop(f, "X");
        h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, xf);
    } else if (!strcmp(w, "feature_shape product")) {
        uint64_t shape[2] = {4, 2};
        h5_attr(f, "feature_shape", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, shape);
    } else if (!strcmp(w, "feature_shape zero")) {
        uint64_t shape[2] = {0, 6};
        h5_attr(f, "feature_shape", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, shape);
    } else if (!strcmp(w, "label_values too long")) {
        int64_t values[4] = {-1, 0, 1, 2};
        h5_attr(f, "label_values", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, values);
    } else {
        fail_msg("unknown damage '%s'", w);
    }
}

static void test_reader_rejects(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "reader");
    char base[4096];
    pjoin(base, sizeof base, dir, "base.h5");
    write_small(base, 1);
    sisa_dataset *ds = NULL;

    /* The undamaged file reads, through string attributes written as ASCII too. */
    hid_t f = h5_open_rw(base);
    h5_attr_str(f, "source", "ascii source");
    H5Fclose(f);
    assert_ok(sisa_dataset_read(&ds, base));
    assert_string_equal(ds->source, "ascii source");
    sisa_dataset_free(ds);
    ds = NULL;

    for (size_t k = 0; k < sizeof damages / sizeof damages[0]; k++) {
        char path[4096];
        char name[32];
        snprintf(name, sizeof name, "case%02zu.h5", k);
        pjoin(path, sizeof path, dir, name);
        copy_file(base, path);
        f = h5_open_rw(path);
        apply_damage(f, k, dir);
        assert_true(H5Fclose(f) >= 0);
        assert_no_h5_objects();
        int rc = sisa_dataset_read(&ds, path);
        if (rc != SISA_ECORRUPT)
            fail_msg("damage '%s': code %d, message: %s", damages[k].what, rc,
                     sisa_error_message());
        char expect[8192];
        snprintf(expect, sizeof expect, "%s%s", path, damages[k].expect);
        if (!strstr(sisa_error_message(), expect))
            fail_msg("damage '%s':\n  expected: %s\n  got:      %s", damages[k].what, expect,
                     sisa_error_message());
        assert_null(ds);
        assert_no_h5_objects();
    }

    /* Not HDF5, empty, missing, a folder. */
    const char *text = tu_path(dir, "notes.h5");
    tu_write_text(text, "just some text, not HDF5\n");
    assert_err(sisa_dataset_read(&ds, text), SISA_ECORRUPT, text, " is not an HDF5 file");
    const char *empty = tu_path(dir, "empty.h5");
    tu_write_file(empty, "", 0);
    assert_err(sisa_dataset_read(&ds, empty), SISA_ECORRUPT, empty, " is not an HDF5 file");
    const char *missing = tu_path(dir, "missing.h5");
    char expect[8192];
    snprintf(expect, sizeof expect, "cannot open %s: No such file or directory", missing);
    assert_err(sisa_dataset_read(&ds, missing), SISA_EIO, NULL, expect);
    assert_err(sisa_dataset_read(&ds, dir), SISA_EIO, dir, " is not a regular file");
    /* A foreign HDF5 file (as users bring them). */
    const char *foreign = tu_path(dir, "foreign.h5");
    f = h5_create(foreign);
    float xs[4] = {1, 2, 3, 4};
    hsize_t d2[2] = {2, 2};
    h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, xs);
    H5Fclose(f);
    assert_err(sisa_dataset_read(&ds, foreign), SISA_ECORRUPT, foreign,
               " is not a sisa dataset file (no sisa_format attribute); convert it with 'sisa "
               "import h5'");
    assert_null(ds);
    assert_no_h5_objects();
}

/* ---- 3. IDX ------------------------------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void b_put(bytes *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void b_u8(bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    b_put(b, &c, 1);
}

static void b_be(bytes *b, uint64_t v, int nbytes)
{
    for (int i = nbytes - 1; i >= 0; i--) b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void idx_header(bytes *b, unsigned type, int rank, const uint32_t *dims)
{
    b_u8(b, 0);
    b_u8(b, 0);
    b_u8(b, type);
    b_u8(b, (unsigned)rank);
    for (int i = 0; i < rank; i++) b_be(b, dims[i], 4);
}

static void b_f32(bytes *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    b_be(b, u, 4);
}

static void b_f64(bytes *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    b_be(b, u, 8);
}

static void b_write(const bytes *b, const char *path, int gz)
{
    if (gz)
        tu_write_gzip(path, b->p, b->len);
    else
        tu_write_file(path, b->p, b->len);
}

/* u8 labels 0..n-1 mod k. */
static void write_labels(const char *path, uint32_t n, unsigned k, int gz)
{
    bytes b = {0};
    idx_header(&b, 0x08, 1, &n);
    for (uint32_t i = 0; i < n; i++) b_u8(&b, i % k);
    b_write(&b, path, gz);
    free(b.p);
}

static int import_idx(sisa_dataset_summary *s, const char *images, const char *labels,
                      const char *out, double scale)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.images = images;
    o.labels = labels;
    o.out = out;
    o.scale = scale;
    return sisa_import_idx(s, &o);
}

/* The unlabelled form: written without labels (feature names, scale), refused by the strict
 * reader, read by the _any reader, and its own schema checked. */
static void test_unlabelled(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "unlabelled");
    small_data s;
    small_fill(&s);
    const char *names[SD] = {"a", "b", "c", "d\u00e9", "e", "f"};
    sisa_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.unlabelled = 1;
    wo.scale = 2.0f;
    wo.feature_names = names;
    const char *path = tu_path(dir, "u.h5");
    sisa_dataset_summary sum;
    assert_ok(write_rows(path, &wo, SD, s.X, NULL, s.id, NULL, SN, 5, &sum));
    assert_int_equal(sum.num_classes, 0);

    sisa_dataset *ds = NULL;
    assert_err(sisa_dataset_read(&ds, path), SISA_EUSAGE, path,
               " has no labels (an unlabelled dataset, an input to predict)");
    assert_null(ds);
    assert_ok(sisa_dataset_read_any(&ds, path));
    assert_int_equal(ds->labelled, 0);
    assert_int_equal(ds->num_classes, 0);
    assert_null(ds->y);
    assert_true(ds->scale == 2.0);
    assert_non_null(ds->feature_names);
    for (int j = 0; j < SD; j++) assert_string_equal(ds->feature_names[j], names[j]);
    for (int i = 0; i < SN * SD; i++) assert_true(ds->X[i] == s.X[i] / 2.0f);
    sisa_dataset_free(ds);
    ds = NULL;
    assert_int_equal(sisa_dataset_probe(path), 1);

    /* A labelled file records neither labelled nor, without them, scale or names. */
    const char *lab = tu_path(dir, "l.h5");
    write_small(lab, 0);
    assert_ok(sisa_dataset_read_any(&ds, lab));
    assert_int_equal(ds->labelled, 1);
    assert_true(ds->scale == 1.0);
    assert_null(ds->feature_names);
    sisa_dataset_free(ds);
    ds = NULL;

    /* Damage to the unlabelled form's own schema. */
    static const struct {
        const char *what, *expect;
    } cases[] = {
        {"y present", ": an unlabelled dataset (labelled = 0) holds a 'y' column"},
        {"classes", ": num_classes is 3 in an unlabelled dataset; it must be 0"},
        {"labelled 2", ": the labelled attribute is 2; it must be 0 or 1"},
        {"names", ": feature_names holds 2 names but X has 6 features"},
        {"scale 0", ": the scale attribute is 0; it must be finite and not 0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.h5", k);
        const char *bad = tu_path(dir, name);
        copy_file(path, bad);
        hid_t f = h5_open_rw(bad);
        const int32_t y[SN] = {0};
        const double zero = 0.0;
        switch (k) {
        case 0:
            h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, SN, y);
            break;
        case 1:
            h5_attr_i32(f, "num_classes", 3);
            break;
        case 2:
            h5_attr_i32(f, "labelled", 2);
            break;
        case 3: {
            h5_drop(f, "feature_names");
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
            const char *two[2] = {"a", "b"};
            h5_put1(f, "feature_names", t, t, 2, two);
            H5Tclose(t);
            break;
        }
        default:
            h5_attr(f, "scale", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &zero);
            break;
        }
        assert_true(H5Fclose(f) >= 0);
        int rc = sisa_dataset_read_any(&ds, bad);
        if (rc != SISA_ECORRUPT || !strstr(sisa_error_message(), cases[k].expect))
            fail_msg("%s: code %d, message: %s", cases[k].what, rc, sisa_error_message());
        assert_null(ds);
        sisa_error_clear();
        assert_no_h5_objects();
    }

    /* A foreign HDF5 file probes as 0, text as an error. */
    const char *plain = tu_path(dir, "plain.h5");
    hid_t f = h5_create(plain);
    h5_put1(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, SN, s.X);
    assert_true(H5Fclose(f) >= 0);
    assert_int_equal(sisa_dataset_probe(plain), 0);
    const char *text = tu_path(dir, "t.csv");
    tu_write_text(text, "a,b\n1,2\n");
    assert_int_equal(sisa_dataset_probe(text), SISA_ECORRUPT);
    sisa_error_clear();
    assert_no_h5_objects();
}

static void test_idx_types(void **state)
{
    (void)state;
    char dir[4096], in[4096];
    scratch_copy(in, sizeof in, "idx_types_in");
    scratch_copy(dir, sizeof dir, "idx_types");
    char out[4096];
    pjoin(out, sizeof out, dir, "out.h5");
    sisa_dataset *ds = NULL;
    sisa_dataset_summary s;

    /* u8, rank 3 (5 samples of 2 x 3), gzipped and plain, scaled by 255. */
    for (int gz = 0; gz <= 1; gz++) {
        bytes b = {0};
        uint32_t dims[3] = {5, 2, 3};
        idx_header(&b, 0x08, 3, dims);
        unsigned char px[30];
        for (int i = 0; i < 30; i++) px[i] = (unsigned char)(i * 37 % 256);
        b_put(&b, px, sizeof px);
        const char *img = tu_path(in, gz ? "u8.idx.gz" : "u8.idx");
        const char *lab = tu_path(in, gz ? "u8-labels.gz" : "u8-labels");
        b_write(&b, img, gz);
        free(b.p);
        write_labels(lab, 5, 3, gz);
        sisa_import_opts o;
        sisa_import_opts_init(&o);
        o.images = img;
        o.labels = lab;
        o.out = out;
        o.scale = 255;
        o.force = 1;
        o.id_offset = 100;
        assert_ok(sisa_import_idx(&s, &o));
        assert_int_equal(s.n, 5);
        assert_int_equal(s.d, 6);
        assert_int_equal(s.id_min, 100);
        assert_int_equal(s.id_max, 104);
        assert_ok(sisa_dataset_read(&ds, out));
        assert_int_equal(ds->feature_rank, 2);
        assert_int_equal(ds->feature_shape[0], 2);
        assert_int_equal(ds->feature_shape[1], 3);
        for (int i = 0; i < 30; i++) assert_true(ds->X[i] == (float)px[i] / 255.0f);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(ds->y[i], i % 3);
            assert_int_equal(ds->id[i], 100 + i);
        }
        char src[8192];
        snprintf(src, sizeof src, "idx images=%s labels=%s", img, lab);
        assert_string_equal(ds->source, src);
        sisa_dataset_free(ds);
        ds = NULL;
        assert_int_equal(tu_count_entries(dir), 1);
    }

    /* i16 images of rank 2 with i8 labels; i32 images of rank 1 with i32 labels. */
    {
        bytes b = {0}, l = {0};
        uint32_t dims[2] = {4, 3};
        const int16_t v[12] = {-32768, 32767, -1, 0, 1234, -1234, 7, 8, 9, 10, 11, -12};
        idx_header(&b, 0x0B, 2, dims);
        for (int i = 0; i < 12; i++) b_be(&b, (uint16_t)v[i], 2);
        idx_header(&l, 0x09, 1, dims);
        for (int i = 0; i < 4; i++) b_u8(&l, (unsigned)(i % 2));
        b_write(&b, tu_path(in, "i16.idx"), 0);
        b_write(&l, tu_path(in, "i8-labels"), 1);
        free(b.p);
        free(l.p);
        unlink(out);
        assert_ok(import_idx(&s, tu_path(in, "i16.idx"), tu_path(in, "i8-labels"), out, 1));
        assert_ok(sisa_dataset_read(&ds, out));
        assert_int_equal(ds->d, 3);
        assert_int_equal(ds->feature_rank, 1);
        assert_int_equal(ds->feature_shape[0], 3);
        for (int i = 0; i < 12; i++) assert_true(ds->X[i] == (float)v[i]);
        for (int i = 0; i < 4; i++) assert_int_equal(ds->y[i], i % 2);
        sisa_dataset_free(ds);
        ds = NULL;
    }
    {
        bytes b = {0}, l = {0};
        uint32_t n = 4;
        const int32_t v[4] = {INT32_MIN, INT32_MAX, -5, 16777217};
        idx_header(&b, 0x0C, 1, &n);
        for (int i = 0; i < 4; i++) b_be(&b, (uint32_t)v[i], 4);
        idx_header(&l, 0x0C, 1, &n);
        for (int i = 0; i < 4; i++) b_be(&l, (uint32_t)(3 - i), 4);
        b_write(&b, tu_path(in, "i32.idx"), 1);
        b_write(&l, tu_path(in, "i32-labels"), 0);
        free(b.p);
        free(l.p);
        unlink(out);
        assert_ok(import_idx(&s, tu_path(in, "i32.idx"), tu_path(in, "i32-labels"), out, 1));
        assert_ok(sisa_dataset_read(&ds, out));
        assert_int_equal(ds->d, 1);
        assert_int_equal(ds->feature_rank, 0);
        for (int i = 0; i < 4; i++) {
            assert_true(ds->X[i] == (float)v[i]);
            assert_int_equal(ds->y[i], 3 - i);
        }
        assert_int_equal(ds->num_classes, 4);
        sisa_dataset_free(ds);
        ds = NULL;
    }

    /* f32 and f64 images with i16 labels, remapped. */
    {
        bytes b = {0}, c = {0}, l = {0};
        uint32_t dims[2] = {3, 2};
        const float fv[6] = {1.5f, -2.25f, 3.4e38f, 1e-30f, 0.0f, -0.0f};
        const double dv[6] = {0.1, -1e30, 1e-300, 123456789.123, -7.0, 3.0e38};
        idx_header(&b, 0x0D, 2, dims);
        for (int i = 0; i < 6; i++) b_f32(&b, fv[i]);
        idx_header(&c, 0x0E, 2, dims);
        for (int i = 0; i < 6; i++) b_f64(&c, dv[i]);
        idx_header(&l, 0x0B, 1, dims);
        const int16_t lv[3] = {-7, 300, -7};
        for (int i = 0; i < 3; i++) b_be(&l, (uint16_t)lv[i], 2);
        b_write(&b, tu_path(in, "f32.idx"), 0);
        b_write(&c, tu_path(in, "f64.idx.gz"), 1);
        b_write(&l, tu_path(in, "i16-labels"), 0);
        free(b.p);
        free(c.p);
        free(l.p);
        for (int dbl = 0; dbl <= 1; dbl++) {
            sisa_import_opts o;
            sisa_import_opts_init(&o);
            o.images = tu_path(in, dbl ? "f64.idx.gz" : "f32.idx");
            o.labels = tu_path(in, "i16-labels");
            o.out = out;
            o.force = 1;
            o.remap_labels = 1;
            assert_ok(sisa_import_idx(&s, &o));
            assert_ok(sisa_dataset_read(&ds, out));
            for (int i = 0; i < 6; i++) assert_true(ds->X[i] == (dbl ? (float)dv[i] : fv[i]));
            assert_int_equal(ds->num_classes, 2);
            assert_true(ds->y[0] == 0 && ds->y[1] == 1 && ds->y[2] == 0);
            assert_true(ds->label_values[0] == -7 && ds->label_values[1] == 300);
            sisa_dataset_free(ds);
            ds = NULL;
        }
    }
    assert_int_equal(tu_count_entries(dir), 1);
    assert_no_h5_objects();
}

/* The valid pair every malformed case starts from: 4 samples of 2 x 2 u8, 4 u8 labels. */
static void idx_base(bytes *img, bytes *lab)
{
    uint32_t dims[3] = {4, 2, 2};
    idx_header(img, 0x08, 3, dims);
    for (int i = 0; i < 16; i++) b_u8(img, (unsigned)i * 3);
    idx_header(lab, 0x08, 1, dims);
    for (int i = 0; i < 4; i++) b_u8(lab, (unsigned)i % 2);
}

static void test_idx_malformed(void **state)
{
    (void)state;
    char in[4096], dir[4096];
    scratch_copy(in, sizeof in, "idx_bad_in");
    scratch_copy(dir, sizeof dir, "idx_bad");
    char out[4096], img[4096], lab[4096], img_gz[4096], lab_gz[4096];
    pjoin(out, sizeof out, dir, "out.h5");
    pjoin(img, sizeof img, in, "img.idx");
    pjoin(lab, sizeof lab, in, "lab.idx");
    pjoin(img_gz, sizeof img_gz, in, "img.idx.gz");
    pjoin(lab_gz, sizeof lab_gz, in, "lab.idx.gz");
    bytes bi = {0}, bl = {0};
    idx_base(&bi, &bl);
    b_write(&bl, lab, 0);
    b_write(&bl, lab_gz, 1);
    b_write(&bi, img, 0);
    /* Sanity: the base pair imports (then the output is removed again). */
    assert_ok(import_idx(NULL, img, lab, out, 1));
    unlink(out);

    bytes t = {0};
#define WITH_IMAGE(bytes_expr, len_expr, gz)                                                       \
    do {                                                                                           \
        t.len = 0;                                                                                 \
        b_put(&t, (bytes_expr), (len_expr));                                                       \
        b_write(&t, (gz) ? img_gz : img, (gz));                                                    \
    } while (0)

    /* Wrong magic, unknown type, rank 0, a zero dimension. */
    const unsigned char magic[] = {0x01, 0x02, 0x08, 0x01, 0, 0, 0, 1, 5};
    WITH_IMAGE(magic, sizeof magic, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               " is not an IDX file: it starts with bytes 01 02, not 00 00");
    assert_int_equal(tu_count_entries(dir), 0);
    const unsigned char type7[] = {0, 0, 0x07, 0x01, 0, 0, 0, 4, 1, 2, 3, 4};
    WITH_IMAGE(type7, sizeof type7, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": unknown IDX type code 0x07 (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, "
               "0x0D f32 or 0x0E f64)");
    const unsigned char rank0[] = {0, 0, 0x08, 0x00, 1, 2, 3};
    WITH_IMAGE(rank0, sizeof rank0, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": the IDX header declares rank 0 (no dimensions)");
    const unsigned char zero_dim[] = {0, 0, 0x08, 0x03, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 2};
    WITH_IMAGE(zero_dim, sizeof zero_dim, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": IDX dimension 2 of 3 is 0 (no data)");
    assert_int_equal(tu_count_entries(dir), 0);

    /* Truncated header: inside the first 4 bytes, and inside the dimensions (plain and gz). */
    WITH_IMAGE(bi.p, 3, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": truncated: the file ends 3 bytes into the 4-byte IDX header, which needs 4");
    WITH_IMAGE(bi.p, 10, 1);
    assert_err(import_idx(NULL, img_gz, lab, out, 1), SISA_ECORRUPT, img_gz,
               ": truncated: the file ends 6 bytes into the IDX dimensions, which needs 12");
    assert_int_equal(tu_count_entries(dir), 0);

    /* Truncated data: plain (caught from the size), gzip (caught while streaming). */
    WITH_IMAGE(bi.p, bi.len - 3, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": truncated: the header declares 4 samples (16 bytes of data) but the file holds "
               "only 13 bytes of data");
    WITH_IMAGE(bi.p, bi.len - 3, 1);
    assert_err(import_idx(NULL, img_gz, lab, out, 1), SISA_ECORRUPT, img_gz,
               ": truncated: the file ends 13 bytes into samples 0..3, which needs 16");
    assert_int_equal(tu_count_entries(dir), 0);

    /* Trailing bytes after the declared data. */
    WITH_IMAGE(bi.p, bi.len, 0);
    b_put(&t, "xy", 2);
    b_write(&t, img, 0);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
               ": 2 unexpected bytes after the 4 samples the header declares");
    b_write(&t, img_gz, 1);
    assert_err(import_idx(NULL, img_gz, lab, out, 1), SISA_ECORRUPT, img_gz,
               ": unexpected bytes after the 4 samples the header declares");
    t.len = 0;
    b_put(&t, bl.p, bl.len);
    b_u8(&t, 1);
    b_write(&t, lab_gz, 1);
    b_write(&bi, img_gz, 1);
    assert_err(import_idx(NULL, img_gz, lab_gz, out, 1), SISA_ECORRUPT, lab_gz,
               ": unexpected bytes after the 4 samples the header declares");
    b_write(&bl, lab_gz, 1);
    assert_int_equal(tu_count_entries(dir), 0);

    /* A gzip stream cut short, and one with bytes flipped mid-stream (a larger image file, so
     * that the flipped bytes are deflate data). */
    {
        bytes big = {0}, bigl = {0};
        uint32_t dims[3] = {200, 16, 16};
        idx_header(&big, 0x08, 3, dims);
        uint32_t x = 12345;
        for (int i = 0; i < 200 * 256; i++) {
            x = x * 1103515245u + 12345u;
            b_u8(&big, (x >> 16) & 0x3f);
        }
        idx_header(&bigl, 0x08, 1, dims);
        for (int i = 0; i < 200; i++) b_u8(&bigl, (unsigned)i % 10);
        const char *bimg = tu_path(in, "big.idx.gz"), *blab = tu_path(in, "big-labels.gz");
        b_write(&big, bimg, 1);
        b_write(&bigl, blab, 1);
        assert_ok(import_idx(NULL, bimg, blab, out, 1));
        unlink(out);
        size_t zlen;
        char *z = tu_read_file(bimg, &zlen);
        tu_write_file(bimg, z, zlen / 2);
        assert_err(import_idx(NULL, bimg, blab, out, 1), SISA_ECORRUPT, bimg,
                   ": truncated gzip data (the compressed stream ends early)");
        assert_int_equal(tu_count_entries(dir), 0);
        for (size_t i = zlen / 2; i < zlen / 2 + 16; i++) z[i] = (char)~z[i];
        tu_write_file(bimg, z, zlen);
        assert_err(import_idx(NULL, bimg, blab, out, 1), SISA_ECORRUPT, bimg,
                   ": corrupt gzip data (");
        assert_int_equal(tu_count_entries(dir), 0);
        free(z);
        free(big.p);
        free(bigl.p);
    }

    /* Labels: count mismatch, rank 2, a float type, values out of range. */
    b_write(&bi, img, 0);
    {
        bytes l = {0};
        uint32_t n3 = 3;
        idx_header(&l, 0x08, 1, &n3);
        b_put(&l, "\0\1\0", 3);
        b_write(&l, lab, 0);
        char expect[8192];
        snprintf(expect, sizeof expect, " has 4 samples but %s has 3 labels", lab);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img, expect);
        l.len = 0;
        uint32_t d2[2] = {4, 1};
        idx_header(&l, 0x08, 2, d2);
        b_put(&l, "\0\1\0\1", 4);
        b_write(&l, lab, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, lab,
                   ": a label file must have rank 1 (one label per sample), but this one has "
                   "rank 2");
        l.len = 0;
        uint32_t n4 = 4;
        idx_header(&l, 0x0D, 1, &n4);
        for (int i = 0; i < 4; i++) b_f32(&l, (float)(i % 2));
        b_write(&l, lab, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, lab,
                   ": labels must be integers, but the IDX type is float32");
        l.len = 0;
        idx_header(&l, 0x0C, 1, &n4);
        const int32_t lv[4] = {0, 2000000, 1, 0};
        for (int i = 0; i < 4; i++) b_be(&l, (uint32_t)lv[i], 4);
        b_write(&l, lab, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, lab,
                   ": sample 1 has label 2000000; labels must be integers in 0..1048575 (pass "
                   "--remap-labels");
        /* Within the limit, but more than 1000 inferred classes: did a label go wrong? */
        l.len = 0;
        idx_header(&l, 0x0C, 1, &n4);
        const int32_t lt[4] = {0, 1, 1, 4096};
        for (int i = 0; i < 4; i++) b_be(&l, (uint32_t)lt[i], 4);
        b_write(&l, lab, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_EUSAGE, lab,
                   ": sample 3: label 4096 would make 4097 classes (the largest label + 1; "
                   "without --num-classes sisa infers at most 1000): did a label go wrong? pass "
                   "--num-classes N if you really have N classes");
        sisa_import_opts o;
        sisa_import_opts_init(&o);
        o.images = img;
        o.labels = lab;
        o.out = out;
        o.num_classes = 3;
        l.len = 0;
        idx_header(&l, 0x08, 1, &n4);
        b_put(&l, "\0\1\5\0", 4);
        b_write(&l, lab, 0);
        assert_err(sisa_import_idx(NULL, &o), SISA_ECORRUPT, lab,
                   ": sample 2 has label 5, outside 0..2 (--num-classes 3)");
        /* One class only: found when the output is committed; the message names the inputs
         * too (the idx fuzzer found it naming only the output). */
        l.len = 0;
        idx_header(&l, 0x08, 1, &n4);
        b_put(&l, "\0\0\0\0", 4);
        b_write(&l, lab, 0);
        char want[16384];
        snprintf(want, sizeof want,
                 "importing %s and %s: %s: all rows have the same label; a classifier needs at "
                 "least 2 classes",
                 img, lab, out);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, NULL, want);
        free(l.p);
        b_write(&bl, lab, 0);
        assert_int_equal(tu_count_entries(dir), 0);
    }

    /* Non-finite and out-of-range floating-point images. */
    {
        bytes f = {0};
        uint32_t dims[2] = {4, 2};
        idx_header(&f, 0x0D, 2, dims);
        for (int i = 0; i < 8; i++) b_f32(&f, i == 5 ? NAN : (float)i);
        b_write(&f, img, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
                   ": sample 2, value 1 is NaN");
        f.len = 0;
        idx_header(&f, 0x0E, 2, dims);
        for (int i = 0; i < 8; i++) b_f64(&f, i == 6 ? -INFINITY : (double)i);
        b_write(&f, img_gz, 1);
        assert_err(import_idx(NULL, img_gz, lab, out, 1), SISA_ECORRUPT, img_gz,
                   ": sample 3, value 0 is infinite");
        f.len = 0;
        idx_header(&f, 0x0E, 2, dims);
        for (int i = 0; i < 8; i++) b_f64(&f, i == 1 ? 1e300 : (double)i);
        b_write(&f, img, 0);
        assert_err(import_idx(NULL, img, lab, out, 1), SISA_ECORRUPT, img,
                   ": sample 0, value 1 is 1e+300, outside the float32 range");
        free(f.p);
        b_write(&bi, img, 0);
        assert_int_equal(tu_count_entries(dir), 0);
    }

    /* Usage and I/O errors. */
    char nofile[4096], expect[8192];
    pjoin(nofile, sizeof nofile, in, "nope.idx");
    snprintf(expect, sizeof expect, "cannot open %s: No such file or directory", nofile);
    assert_err(import_idx(NULL, nofile, lab, out, 1), SISA_EIO, NULL, expect);
    assert_err(import_idx(NULL, NULL, lab, out, 1), SISA_EUSAGE, NULL,
               "sisa import idx: --images FILE is required");
    assert_err(import_idx(NULL, img, NULL, out, 1), SISA_EUSAGE, NULL,
               "no label file given (--labels FILE, or --unlabelled for data without labels, "
               "such as an input to predict)");
    assert_err(import_idx(NULL, img, lab, NULL, 1), SISA_EUSAGE, NULL, "no output file given");
    assert_err(import_idx(NULL, img, lab, out, -2), SISA_EUSAGE, NULL,
               "--scale must be a positive number");
    {
        sisa_import_opts o;
        sisa_import_opts_init(&o);
        o.images = img;
        o.labels = lab;
        o.out = out;
        o.id_offset = UINT64_MAX - 2; /* IDs max-2 .. max+1: one too many */
        assert_err(sisa_import_idx(NULL, &o), SISA_EUSAGE, NULL,
                   "--id-offset 18446744073709551613 is too large: the IDs of 4 samples would "
                   "pass the largest 64-bit ID");
        o.id_offset = UINT64_MAX - 3; /* exactly fits */
        sisa_dataset_summary s;
        assert_ok(sisa_import_idx(&s, &o));
        assert_true(s.id_max == UINT64_MAX);
    }
    assert_int_equal(tu_count_entries(dir), 1);

    /* An existing output without --force: refused before any work, left untouched. */
    tu_write_text(out, "precious");
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_EEXIST, out,
               " already exists (pass --force to replace it)");
    char *kept = tu_read_file(out, NULL);
    assert_string_equal(kept, "precious");
    free(kept);
    assert_int_equal(tu_count_entries(dir), 1);

    /* An interrupt (SIGINT's flag) stops the import and leaves nothing behind. */
    unlink(out);
    sisa_interrupt_raise(SIGINT);
    assert_err(import_idx(NULL, img, lab, out, 1), SISA_EINTR, NULL, "interrupted; ");
    sisa_interrupt_reset();
    assert_int_equal(tu_count_entries(dir), 0);

    free(t.p);
    free(bi.p);
    free(bl.p);
    assert_no_h5_objects();
#undef WITH_IMAGE
}

/* ---- 4. real Fashion-MNIST --------------------------------------------------------------- */

static unsigned char *gunzip_all(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb");
    if (!g) fail_msg("cannot open %s", path);
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        int r = gzread(g, buf + n, (unsigned)(cap - n));
        if (r < 0) fail_msg("gzread %s failed", path);
        if (r == 0) break;
        n += (size_t)r;
    }
    gzclose(g);
    *len = n;
    return buf;
}

/* Read rows of X straight through the HDF5 C API (independent of sisa's reader). */
static void h5_read_row(const char *path, uint64_t row, float *out, uint64_t d)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, "X", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t start[2] = {row, 0}, count[2] = {1, d};
    assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    hid_t ms = H5Screate_simple(2, count, NULL);
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
}

static void check_fmnist_split(const char *dir, const char *split, uint64_t n, const char *out)
{
    const char *fm = tu_env("SISA_FMNIST");
    char images[4096], labels[4096];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", fm, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", fm, split);
    tu_run r;
    tu_sisa(&r, "import", "idx", "--images", images, "--labels", labels, "--scale", "255", "-o",
            out, NULL);
    if (r.status != 0) fail_msg("sisa import idx exited %d: %s", r.status, r.err);
    char expect[256];
    snprintf(expect, sizeof expect, "imported %llu rows x 784 features, 10 classes -> ",
             (unsigned long long)n);
    tu_assert_contains(r.out, expect);
    tu_assert_contains(r.out, "features in [0, 1], no group column");
    assert_int_equal(tu_count_entries(dir), 1 + (strcmp(split, "t10k") == 0));

    size_t ilen, llen;
    unsigned char *img = gunzip_all(images, &ilen);
    unsigned char *lab = gunzip_all(labels, &llen);
    assert_int_equal(ilen, 16 + n * 784);
    assert_int_equal(llen, 8 + n);
    const unsigned char *px = img + 16, *lb = lab + 8;

    /* Named rows through the HDF5 C API. */
    const uint64_t rows[] = {0, 1, 12345, 59999};
    float row[784];
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        if (rows[k] >= n) continue;
        h5_read_row(out, rows[k], row, 784);
        for (int j = 0; j < 784; j++)
            if (row[j] != (float)px[rows[k] * 784 + j] / 255.0f)
                fail_msg("row %llu, pixel %d: %.9g, expected %u / 255", (unsigned long long)rows[k],
                         j, (double)row[j], px[rows[k] * 784 + j]);
    }
    /* Everything through sisa's reader: every label, every pixel, IDs, class counts. */
    sisa_dataset *ds = NULL;
    assert_ok(sisa_dataset_read(&ds, out));
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->d, 784);
    assert_int_equal(ds->num_classes, 10);
    assert_int_equal(ds->feature_rank, 2);
    assert_true(ds->feature_shape[0] == 28 && ds->feature_shape[1] == 28);
    assert_null(ds->group);
    uint64_t counts[10] = {0};
    for (uint64_t i = 0; i < n; i++) {
        if (ds->y[i] != lb[i])
            fail_msg("label of row %llu: %d, expected %u", (unsigned long long)i, ds->y[i], lb[i]);
        assert_int_equal(ds->id[i], i);
        counts[ds->y[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], n / 10);
    for (uint64_t i = 0; i < n * 784; i++)
        if (ds->X[i] != (float)px[i] / 255.0f)
            fail_msg("X value %llu differs", (unsigned long long)i);
    sisa_dataset_free(ds);
    free(img);
    free(lab);

    /* The independent Python check of the whole file. */
    char script[4096], nbuf[32], pyout[65536];
    snprintf(script, sizeof script, "%s/tests/check_fmnist.py", tu_env("SISA_TEST_SRC"));
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
    const char *argv[] = {PY, script, out, images, labels, nbuf, NULL};
    int st = run_prog(argv, pyout, sizeof pyout);
    if (st != 0) fail_msg("check_fmnist.py exited %d:\n%s", st, pyout);
    tu_assert_contains(pyout, "check_fmnist: OK");
}

static void test_fmnist(void **state)
{
    (void)state;
    char dir[4096];
    scratch_copy(dir, sizeof dir, "fmnist");
    char train[4096], test[4096];
    pjoin(train, sizeof train, dir, "train.h5");
    pjoin(test, sizeof test, dir, "test.h5");
    check_fmnist_split(dir, "train", 60000, train);
    check_fmnist_split(dir, "t10k", 10000, test);

    /* `sisa info --json` on the real file parses and agrees. */
    tu_run r;
    tu_sisa(&r, "info", train, "--json", NULL);
    assert_int_equal(r.status, 0);
    const char *json = tu_path(dir, "info.json");
    tu_write_text(json, r.out);
    char pyout[65536];
    const char *argv[] = {PY, "-c",
                          "import json,sys; d=json.load(open(sys.argv[1], encoding='utf-8'));"
                          "assert d['rows']==60000 and d['features']==784, d;"
                          "assert d['feature_shape']==[28,28] and d['num_classes']==10, d;"
                          "assert d['class_counts']==[6000]*10, d;"
                          "assert (d['id_min'],d['id_max'])==(0,59999), d;"
                          "assert d['groups'] is None and d['label_values'] is None, d;"
                          "assert d['x_min']==0 and d['x_max']==1 and 0.28<d['x_mean']<0.29, d;"
                          "assert d['source'].startswith('idx images='), d;"
                          "assert d['created_by'].startswith('sisa '), d; print('json ok')",
                          json, NULL};
    int st = run_prog(argv, pyout, sizeof pyout);
    if (st != 0) fail_msg("json check exited %d:\n%s", st, pyout);

    /* Negative control: the Python check notices a single changed value. */
    hid_t f = h5_open_rw(train);
    hid_t ds = H5Dopen2(f, "X", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t start[2] = {12345, 400}, count[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(2, count, NULL);
    float v = 0.5f;
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
    const char *fm = tu_env("SISA_FMNIST");
    char script[4096], images[4096], labels[4096];
    snprintf(script, sizeof script, "%s/tests/check_fmnist.py", tu_env("SISA_TEST_SRC"));
    pjoin(images, sizeof images, fm, "train-images-idx3-ubyte.gz");
    pjoin(labels, sizeof labels, fm, "train-labels-idx1-ubyte.gz");
    const char *argv2[] = {PY, script, train, images, labels, "60000", NULL};
    st = run_prog(argv2, pyout, sizeof pyout);
    assert_int_not_equal(st, 0);
    tu_assert_contains(pyout, "X(12345, 400)");
    assert_no_h5_objects();
}

/* ---- 5. the HDF5 importer ---------------------------------------------------------------- */

static int import_h5(sisa_dataset_summary *s, const char *in, const char *out, const char *x,
                     const char *y, const char *id, const char *group)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.out = out;
    o.x_name = x;
    o.y_name = y;
    o.id_name = id;
    o.group_name = group;
    return sisa_import_h5(s, in, &o);
}

/* --risk on an HDF5 input: integer tiers, probabilities through --risk-cuts, and values that
 * are neither, named by row. */
static void test_h5_import_risk(void **state)
{
    (void)state;
    char in[4096], dir[4096], out[4096];
    scratch_copy(in, sizeof in, "h5_risk_in");
    scratch_copy(dir, sizeof dir, "h5_risk_out");
    pjoin(out, sizeof out, dir, "out.h5");
    const char *p = tu_path(in, "risk.h5");
    hid_t f = h5_create(p);
    hsize_t dims[2] = {4, 2};
    float X[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t y[4] = {0, 1, 0, 1};
    int16_t tier[4] = {1, 0, 0, 2};
    double prob[4] = {0.9, 0.1, 0.4, 1.0}, bad[4] = {0, 0, -1, 0};
    h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, X);
    h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, y);
    h5_put1(f, "tier", H5T_STD_I16LE, H5T_NATIVE_INT16, 4, tier);
    h5_put1(f, "prob", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, prob);
    h5_put1(f, "bad", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, bad);
    H5Fclose(f);
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.out = out;
    o.force = 1;
    sisa_dataset_summary s;
    sisa_dataset *ds = NULL;
    o.risk_col = "tier";
    assert_ok(sisa_import_h5(&s, p, &o));
    assert_true(s.has_risk);
    assert_int_equal(s.risk_max, 2);
    assert_ok(sisa_dataset_read(&ds, out));
    assert_non_null(ds->risk);
    const uint8_t want_tier[4] = {1, 0, 0, 2};
    assert_memory_equal(ds->risk, want_tier, 4);
    sisa_dataset_free(ds);
    o.risk_col = "prob";
    o.risk_cuts = "0.5,1";
    assert_ok(sisa_import_h5(&s, p, &o));
    assert_ok(sisa_dataset_read(&ds, out));
    const uint8_t want_prob[4] = {1, 0, 0, 2};
    assert_memory_equal(ds->risk, want_prob, 4);
    char src[8192];
    snprintf(src, sizeof src, "h5 %s x=X y=y id=row risk=prob risk_cuts=0.5,1", p);
    assert_string_equal(ds->source, src);
    sisa_dataset_free(ds);
    unlink(out);
    o.risk_col = "bad";
    assert_int_equal(sisa_import_h5(&s, p, &o), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "'bad' row 2: risk -1 is not a probability in [0, 1]");
    o.risk_col = "nope";
    assert_int_equal(sisa_import_h5(&s, p, &o), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "there is no dataset 'nope'");
    assert_int_equal(tu_count_entries(dir), 0);
}

static void test_h5_import(void **state)
{
    (void)state;
    char in[4096], dir[4096];
    scratch_copy(in, sizeof in, "h5_in");
    scratch_copy(dir, sizeof dir, "h5_out");
    char out[4096];
    pjoin(out, sizeof out, dir, "out.h5");
    sisa_dataset *ds = NULL;
    sisa_dataset_summary s;

    /* float64 X of rank 3 (flattened), int8 y, int64 id. */
    {
        const char *p = tu_path(in, "f64.h5");
        hid_t f = h5_create(p);
        hsize_t dims[3] = {4, 2, 3};
        double X[24];
        for (int i = 0; i < 24; i++) X[i] = 0.1 * i - 1.0;
        int8_t y[4] = {0, 1, 2, 1};
        int64_t id[4] = {40, 30, 20, 10};
        h5_put(f, "X", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 3, dims, X);
        h5_put1(f, "y", H5T_STD_I8LE, H5T_NATIVE_INT8, 4, y);
        h5_put1(f, "id", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, id);
        H5Fclose(f);
        assert_ok(import_h5(&s, p, out, NULL, NULL, NULL, NULL));
        assert_int_equal(s.n, 4);
        assert_int_equal(s.d, 6);
        assert_int_equal(s.num_classes, 3);
        assert_int_equal(s.id_min, 10);
        assert_int_equal(s.id_max, 40);
        assert_int_equal(s.file_bytes, file_size(out));
        assert_ok(sisa_dataset_read(&ds, out));
        for (int i = 0; i < 24; i++) assert_true(ds->X[i] == (float)X[i]);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(ds->y[i], y[i]);
            assert_int_equal(ds->id[i], id[i]);
        }
        assert_int_equal(ds->feature_rank, 2);
        assert_true(ds->feature_shape[0] == 2 && ds->feature_shape[1] == 3);
        assert_null(ds->group);
        char src[8192];
        snprintf(src, sizeof src, "h5 %s x=X y=y id=id", p);
        assert_string_equal(ds->source, src);
        sisa_dataset_free(ds);
        ds = NULL;
        assert_int_equal(tu_count_entries(dir), 1);
        unlink(out);
    }

    /* uint8 X, uint16 y, no id (IDs from --id-offset), scaled. */
    {
        const char *p = tu_path(in, "u8.h5");
        hid_t f = h5_create(p);
        hsize_t dims[2] = {5, 4};
        uint8_t X[20];
        for (int i = 0; i < 20; i++) X[i] = (uint8_t)(i * 13);
        uint16_t y[5] = {1, 0, 1, 0, 1};
        h5_put(f, "X", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dims, X);
        h5_put1(f, "y", H5T_STD_U16BE, H5T_NATIVE_UINT16, 5, y);
        H5Fclose(f);
        sisa_import_opts o;
        sisa_import_opts_init(&o);
        o.out = out;
        o.id_offset = 50;
        o.scale = 255;
        assert_ok(sisa_import_h5(&s, p, &o));
        assert_ok(sisa_dataset_read(&ds, out));
        for (int i = 0; i < 20; i++) assert_true(ds->X[i] == (float)X[i] / 255.0f);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(ds->y[i], y[i]);
            assert_int_equal(ds->id[i], 50 + i);
        }
        char src[8192];
        snprintf(src, sizeof src, "h5 %s x=X y=y id=row", p);
        assert_string_equal(ds->source, src);
        sisa_dataset_free(ds);
        ds = NULL;
        unlink(out);
    }

    /* Custom names (in a group), explicit id and group columns. */
    {
        const char *p = tu_path(in, "named.h5");
        hid_t f = h5_create(p);
        hid_t g = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t dims[2] = {4, 2};
        float X[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        int32_t t[4] = {3, 1, 3, 0};
        uint32_t keys[4] = {9, 8, 7, 6};
        int64_t subj[4] = {0, 0, 5, 5};
        h5_put(g, "feats", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, X);
        h5_put1(g, "target", H5T_STD_I32BE, H5T_NATIVE_INT32, 4, t);
        h5_put1(f, "keys", H5T_STD_U32LE, H5T_NATIVE_UINT32, 4, keys);
        h5_put1(f, "subject", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, subj);
        H5Gclose(g);
        H5Fclose(f);
        assert_ok(import_h5(&s, p, out, "data/feats", "/data/target", "keys", "subject"));
        assert_int_equal(s.has_group, 1);
        assert_ok(sisa_dataset_read(&ds, out));
        for (int i = 0; i < 8; i++) assert_true(ds->X[i] == X[i]);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(ds->y[i], t[i]);
            assert_int_equal(ds->id[i], keys[i]);
            assert_int_equal(ds->group[i], subj[i]);
        }
        assert_int_equal(ds->num_classes, 4);
        char src[8192];
        snprintf(src, sizeof src, "h5 %s x=data/feats y=/data/target id=keys group=subject", p);
        assert_string_equal(ds->source, src);
        sisa_dataset_free(ds);
        ds = NULL;
        /* --force replaces; without it the existing output is refused before any work. */
        assert_err(import_h5(&s, p, out, "data/feats", "data/target", NULL, NULL), SISA_EEXIST, out,
                   " already exists (pass --force to replace it)");
        assert_int_equal(tu_count_entries(dir), 1);
        sisa_import_opts o;
        sisa_import_opts_init(&o);
        o.out = out;
        o.force = 1;
        o.x_name = "data/feats";
        o.y_name = "data/target";
        assert_ok(sisa_import_h5(&s, p, &o));
        assert_int_equal(s.has_group, 0);
        assert_int_equal(tu_count_entries(dir), 1);
        unlink(out);
    }
    assert_int_equal(tu_count_entries(dir), 0);
    assert_no_h5_objects();
}

/* A malformed foreign file: build it, import it, expect `suffix` after the input's path. */
typedef struct {
    const char *what;
    const char *x, *y, *id, *group; /* names passed to the importer (NULL: defaults) */
    int code;
    const char *expect;
} bad_h5;

static const bad_h5 bad_h5s[] = {
    {"X strings", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' holds strings; features must be integers or floating-point numbers"},
    {"X compound", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' holds compound records; features must be integers or floating-point numbers"},
    {"X rank 1", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' has 1 dimension; features need at least 2 (rows, then the features of each row)"},
    {"y length", NULL, NULL, NULL, NULL, SISA_ECORRUPT, ": 'y' has 3 entries but X has 4 rows"},
    {"y float", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'y' holds 32-bit floating-point numbers; labels must be integers"},
    {"y huge", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'y' row 2 holds label 9223372036854775808, which does not fit in int64"},
    {"negative id", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'id' row 3 is -5; sample IDs must be non-negative"},
    {"negative group", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'group' row 0 is -1; group keys must be non-negative"},
    {"duplicate id", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": duplicate sample ID 7 (rows 0 and 2); IDs must be unique"},
    {"NaN in X", NULL, NULL, NULL, NULL, SISA_ECORRUPT, ": 'X' row 2, column 1 is NaN"},
    {"X too large", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' row 1, column 0 is 1e+39, outside the float32 range"},
    {"X soft link", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' is a soft link; only datasets stored in the file itself are accepted"},
    {"X external link", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' is an external link; only datasets stored in the file itself are accepted"},
    {"group external link", "ext/X", NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'ext' is an external link; only objects stored in the file itself are accepted"},
    {"X external storage", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' keeps its data in 1 external file; only data stored in the file itself are "
     "accepted"},
    {"X virtual", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": 'X' is a virtual dataset (its data live in other files)"},
    {"X missing", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": there is no dataset 'X' (name another with --x NAME)"},
    {"named id missing", NULL, NULL, "ids", NULL, SISA_ECORRUPT, ": there is no dataset 'ids'"},
    {"named y missing", NULL, "labels", NULL, NULL, SISA_ECORRUPT,
     ": there is no dataset 'labels'"},
    {"single class", NULL, NULL, NULL, NULL, SISA_ECORRUPT,
     ": all rows have the same label; a classifier needs at least 2 classes"},
    {"label typo", NULL, NULL, NULL, NULL, SISA_EUSAGE,
     ": 'y' row 2: label 1048575 would make 1048576 classes (the largest label + 1; without "
     "--num-classes sisa infers at most 1000): did a label go wrong? pass --num-classes N if you "
     "really have N classes"},
};

static void build_bad_h5(const char *p, const char *what, const char *dir)
{
    hid_t f = h5_create(p);
    hsize_t dims[2] = {4, 2};
    double X[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t y[4] = {0, 1, 0, 1};
    int64_t id[4] = {7, 8, 9, 10};
    if (!strcmp(what, "NaN in X")) X[5] = NAN;
    if (!strcmp(what, "X too large")) X[2] = 1e39;
    if (!strcmp(what, "negative id")) id[3] = -5;
    if (!strcmp(what, "duplicate id")) id[2] = 7;
    if (!strcmp(what, "single class")) y[1] = y[3] = 0;
    if (!strcmp(what, "label typo")) y[2] = 1048575;
    h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, y);
    h5_put1(f, "id", H5T_STD_I64LE, H5T_NATIVE_INT64, 4, id);
    if (!strcmp(what, "X strings")) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 4);
        char strs[8][4] = {"a", "b", "c", "d", "e", "f", "g", "h"};
        h5_put(f, "X", t, t, 2, dims, strs);
        H5Tclose(t);
    } else if (!strcmp(what, "X compound")) {
        typedef struct {
            int a;
            double b;
        } rec;
        hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(rec));
        H5Tinsert(t, "a", offsetof(rec, a), H5T_NATIVE_INT);
        H5Tinsert(t, "b", offsetof(rec, b), H5T_NATIVE_DOUBLE);
        rec recs[8] = {{0, 0}};
        h5_put(f, "X", t, t, 2, dims, recs);
        H5Tclose(t);
    } else if (!strcmp(what, "X rank 1")) {
        h5_put1(f, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, X);
    } else if (!strcmp(what, "X soft link")) {
        h5_put(f, "real", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, X);
        assert_true(H5Lcreate_soft("/real", f, "X", H5P_DEFAULT, H5P_DEFAULT) >= 0);
    } else if (!strcmp(what, "X external link") || !strcmp(what, "group external link")) {
        char other[4096];
        pjoin(other, sizeof other, dir, "other.h5");
        hid_t o = h5_create(other);
        h5_put(o, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, X);
        H5Fclose(o);
        int grp = !strcmp(what, "group external link");
        assert_true(H5Lcreate_external(other, grp ? "/" : "/X", f, grp ? "ext" : "X", H5P_DEFAULT,
                                       H5P_DEFAULT) >= 0);
    } else if (!strcmp(what, "X external storage")) {
        char raw[4096];
        pjoin(raw, sizeof raw, dir, "x.raw");
        tu_write_file(raw, X, sizeof X);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_external(dcpl, raw, 0, sizeof X) >= 0);
        hid_t sp = H5Screate_simple(2, dims, NULL);
        hid_t ds = H5Dcreate2(f, "X", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds);
        H5Sclose(sp);
        H5Pclose(dcpl);
    } else if (!strcmp(what, "X virtual")) {
        char src[4096];
        pjoin(src, sizeof src, dir, "vsrc.h5");
        hid_t o = h5_create(src);
        h5_put(o, "data", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, X);
        H5Fclose(o);
        hid_t vspace = H5Screate_simple(2, dims, NULL);
        hid_t sspace = H5Screate_simple(2, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_virtual(dcpl, vspace, src, "/data", sspace) >= 0);
        hid_t ds = H5Dcreate2(f, "X", H5T_IEEE_F64LE, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(sspace);
        H5Sclose(vspace);
    } else if (strcmp(what, "X missing")) {
        h5_put(f, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, X);
    }
    if (!strcmp(what, "y length")) {
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, y);
    } else if (!strcmp(what, "y float")) {
        float yf[4] = {0, 1, 0, 1};
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, yf);
    } else if (!strcmp(what, "y huge")) {
        uint64_t yu[4] = {0, 1, (uint64_t)INT64_MAX + 1, 1};
        h5_drop(f, "y");
        h5_put1(f, "y", H5T_STD_U64LE, H5T_NATIVE_UINT64, 4, yu);
    } else if (!strcmp(what, "negative group")) {
        int16_t g[4] = {-1, 2, 2, 3};
        h5_put1(f, "group", H5T_STD_I16LE, H5T_NATIVE_INT16, 4, g);
    }
    H5Fclose(f);
}

static void test_h5_import_rejects(void **state)
{
    (void)state;
    char in[4096], dir[4096];
    scratch_copy(in, sizeof in, "h5_bad_in");
    scratch_copy(dir, sizeof dir, "h5_bad");
    char out[4096];
    pjoin(out, sizeof out, dir, "out.h5");
    for (size_t k = 0; k < sizeof bad_h5s / sizeof bad_h5s[0]; k++) {
        const bad_h5 *b = &bad_h5s[k];
        char p[4096];
        char name[32];
        snprintf(name, sizeof name, "bad%02zu.h5", k);
        pjoin(p, sizeof p, in, name);
        build_bad_h5(p, b->what, in);
        assert_no_h5_objects();
        int rc = import_h5(NULL, p, out, b->x, b->y, b->id, b->group);
        char expect[8192];
        snprintf(expect, sizeof expect, "%s%s", p, b->expect);
        if (rc != b->code || !strstr(sisa_error_message(), expect))
            fail_msg("case '%s': code %d (expected %d)\n  expected: %s\n  got:      %s", b->what,
                     rc, b->code, expect, sisa_error_message());
        if (tu_count_entries(dir) != 0) fail_msg("case '%s' left a file behind", b->what);
    }

    /* Not HDF5; a missing input. */
    const char *text = tu_path(in, "text.h5");
    tu_write_text(text, "x,y\n1,2\n");
    assert_err(import_h5(NULL, text, out, NULL, NULL, NULL, NULL), SISA_ECORRUPT, text,
               " is not an HDF5 file");
    char missing[4096], expect[8192];
    pjoin(missing, sizeof missing, in, "missing.h5");
    snprintf(expect, sizeof expect, "cannot open %s: No such file or directory", missing);
    assert_err(import_h5(NULL, missing, out, NULL, NULL, NULL, NULL), SISA_EIO, NULL, expect);
    assert_int_equal(tu_count_entries(dir), 0);

    /* An interrupt reaches the child, which stops; nothing is left. */
    char good[4096];
    pjoin(good, sizeof good, in, "good.h5");
    build_bad_h5(good, "fine", in);
    sisa_interrupt_raise(SIGINT);
    assert_err(import_h5(NULL, good, out, NULL, NULL, NULL, NULL), SISA_EINTR, NULL,
               "interrupted; ");
    sisa_interrupt_reset();
    assert_int_equal(tu_count_entries(dir), 0);
    assert_ok(import_h5(NULL, good, out, NULL, NULL, NULL, NULL));
    assert_int_equal(tu_count_entries(dir), 1);
    assert_no_h5_objects();
}

/* ---- 6. the CLI --------------------------------------------------------------------------- */

static void test_cli(void **state)
{
    (void)state;
    char in[4096], dir[4096];
    scratch_copy(in, sizeof in, "cli_in");
    scratch_copy(dir, sizeof dir, "cli");
    /* An awkward input name for JSON escaping: a quote, a backslash, a byte that is not UTF-8,
     * a valid two-byte character, an impossible lead byte with continuations, a tab. */
    char img[4096], lab[4096], out[4096];
    pjoin(img, sizeof img, in, "im \"q\" \\ \xff \xc3\xa9 \xf5\x80\x80\x80 \t.idx");
    pjoin(lab, sizeof lab, in, "labels.idx.gz");
    pjoin(out, sizeof out, dir, "out.h5");
    bytes bi = {0}, bl = {0};
    idx_base(&bi, &bl);
    b_write(&bi, img, 0);
    b_write(&bl, lab, 1);
    tu_run r;

    tu_sisa(&r, "import", "idx", "--images", img, "--labels", lab, "-o", out, NULL);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    char expect[8192];
    snprintf(expect, sizeof expect, "imported 4 rows x 4 features, 2 classes -> %s", out);
    tu_assert_contains(r.out, expect);
    tu_assert_contains(r.out, "sample IDs 0..3, features in [0, 45], no group column");
    assert_int_equal(tu_count_entries(dir), 1);

    /* Existing output without --force: exit 2, nothing changed; with it: exit 0. */
    tu_sisa(&r, "import", "idx", "--images", img, "--labels", lab, "-o", out, NULL);
    assert_int_equal(r.status, 2);
    snprintf(expect, sizeof expect, "sisa: error: %s already exists (pass --force to replace it)",
             out);
    tu_assert_contains(r.err, expect);
    tu_sisa(&r, "import", "idx", "--images", img, "--labels", lab, "-o", out, "--force",
            "--id-offset", "10", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(tu_count_entries(dir), 1);

    /* A runtime failure: exit 1, message on stderr, no output. */
    char out2[4096], bad[4096];
    pjoin(out2, sizeof out2, dir, "out2.h5");
    pjoin(bad, sizeof bad, in, "short.idx");
    tu_write_file(bad, bi.p, bi.len - 1);
    tu_sisa(&r, "import", "idx", "--images", bad, "--labels", lab, "-o", out2, NULL);
    assert_int_equal(r.status, 1);
    snprintf(expect, sizeof expect, "sisa: error: %s: truncated: the header declares 4 samples",
             bad);
    tu_assert_contains(r.err, expect);
    assert_string_equal(r.out, "");
    assert_int_equal(tu_count_entries(dir), 1);
    /* A usage error: exit 2. */
    tu_sisa(&r, "import", "idx", "--images", img, "-o", out2, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "no label file given (--labels FILE, or --unlabelled");
    assert_int_equal(tu_count_entries(dir), 1);

    /* `sisa info` as text. */
    tu_sisa(&r, "info", out, NULL);
    if (r.status != 0) fail_msg("info exit %d: %s", r.status, r.err);
    snprintf(expect, sizeof expect, "path:        %s\n", out);
    tu_assert_contains(r.out, expect);
    tu_assert_contains(r.out, "rows:        4\n");
    tu_assert_contains(r.out, "features:    4 (shape 2 x 2)\n");
    tu_assert_contains(r.out, "classes:     2\n");
    tu_assert_contains(r.out, "  class 0             2 rows ( 50.0%)\n");
    tu_assert_contains(r.out, "sample IDs:  10..13\n");
    tu_assert_contains(r.out, "groups:      none (no group column)\n");
    tu_assert_contains(r.out, "X:           min 0, max 45, mean 22.5\n");
    tu_assert_contains(r.out, "source:      idx images=");
    tu_assert_contains(r.out, "created by:  sisa ");
    char sz[64];
    snprintf(sz, sizeof sz, "(%llu bytes)", (unsigned long long)file_size(out));
    tu_assert_contains(r.out, sz);

    /* --json parses (escaping!) and holds the same facts. */
    tu_sisa(&r, "info", "--json", out, NULL);
    assert_int_equal(r.status, 0);
    const char *json = tu_path(in, "info.json");
    tu_write_text(json, r.out);
    char pyout[65536];
    const char *argv[] = {PY,
                          "-c",
                          "import json,sys; d=json.load(open(sys.argv[1], encoding='utf-8'));"
                          "assert d['rows']==4 and d['features']==4, d;"
                          "assert d['feature_shape']==[2,2] and d['num_classes']==2, d;"
                          "assert d['class_counts']==[2,2], d;"
                          "assert (d['id_min'],d['id_max'])==(10,13), d;"
                          "assert d['groups'] is None and d['label_values'] is None, d;"
                          "assert (d['x_min'],d['x_max'],d['x_mean'])==(0,45,22.5), d;"
                          "assert 'im \"q\" \\\\ \\ufffd \\u00e9 ' + '\\ufffd' * 4 + "
                          "' \\t.idx labels=' in d['source'], d;"
                          "assert d['path']==sys.argv[2], d; print('ok')",
                          json,
                          out,
                          NULL};
    int st = run_prog(argv, pyout, sizeof pyout);
    if (st != 0) fail_msg("json check exited %d:\n%s\njson was:\n%s", st, pyout, r.out);

    /* Remapped labels and groups show up in info. */
    {
        const char *p = tu_path(in, "grouped.h5");
        hid_t f = h5_create(p);
        hsize_t dims[2] = {4, 1};
        float X[4] = {1, 2, 3, 4};
        int32_t y[4] = {-1, 5, 5, -1};
        uint64_t g[4] = {3, 3, 9, 4};
        h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, X);
        h5_put1(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, y);
        h5_put1(f, "group", H5T_STD_U64LE, H5T_NATIVE_UINT64, 4, g);
        H5Fclose(f);
        char out3[4096];
        pjoin(out3, sizeof out3, dir, "grouped.h5");
        tu_sisa(&r, "import", "h5", p, "-o", out3, "--remap-labels", "--num-classes", "3", NULL);
        if (r.status != 0) fail_msg("import h5 exit %d: %s", r.status, r.err);
        tu_assert_contains(r.out, "with a group column");
        tu_sisa(&r, "info", out3, NULL);
        assert_int_equal(r.status, 0);
        tu_assert_contains(r.out, "groups:      3 distinct\n");
        tu_assert_contains(r.out, "  class 0             2 rows ( 50.0%)  original label -1\n");
        tu_assert_contains(r.out, "  class 1             2 rows ( 50.0%)  original label 5\n");
        tu_assert_contains(r.out, "  class 2             0 rows (  0.0%)\n");
        tu_sisa(&r, "info", out3, "--json", NULL);
        assert_int_equal(r.status, 0);
        tu_assert_contains(r.out, "\"label_values\": [-1, 5, null]");
        tu_assert_contains(r.out, "\"groups\": 3");
        tu_assert_contains(r.out, "\"class_counts\": [2, 2, 0]");
    }

    /* info on a corrupt file: exit 1 with the reader's message; without a file: exit 2. */
    const char *junk = tu_path(in, "junk.h5");
    tu_write_text(junk, "not hdf5");
    tu_sisa(&r, "info", junk, NULL);
    assert_int_equal(r.status, 1);
    snprintf(expect, sizeof expect, "sisa: error: %s is not an HDF5 file", junk);
    tu_assert_contains(r.err, expect);
    assert_string_equal(r.out, "");
    tu_sisa(&r, "info", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "sisa info: missing argument");
    tu_sisa(&r, "info", "--help", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "usage: sisa info FILE.h5 [--json]");
    free(bi.p);
    free(bl.p);
}

/* tu_scratch creates only the last level of SISA_TEST_TMP: make its parents here, so the test
 * also runs in a fresh build folder. */
static void make_tmp_parents(void)
{
    const char *tmp = getenv("SISA_TEST_TMP");
    if (!tmp || !*tmp) return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", tmp);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(buf, 0777);
        *p = '/';
    }
    mkdir(buf, 0777);
}

int main(void)
{
    make_tmp_parents();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_streaming),
        cmocka_unit_test(test_roundtrip_hint_remap),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_reader_rejects),
        cmocka_unit_test(test_unlabelled),
        cmocka_unit_test(test_idx_types),
        cmocka_unit_test(test_idx_malformed),
        cmocka_unit_test(test_h5_import),
        cmocka_unit_test(test_h5_import_risk),
        cmocka_unit_test(test_h5_import_rejects),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_fmnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
