/*
 * test_text_import.c - `sisa import csv` and `sisa import libsvm` (src/io/csv.c, src/io/libsvm.c).
 *
 * Outputs are read back with the HDF5 C API directly, not with sisa's own dataset reader: the
 * check is then independent of the code under test. Every failure case checks the exact message
 * (with the input's name and line), the error code, and that the folder holds nothing but the
 * input afterwards (no output, no temp file).
 */
#include "testutil.h"

#include "base/log.h"
#include "sisa/error.h"
#include "sisa/import.h"

#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- reading a dataset file back with plain HDF5 ------------------------------------------- */

typedef struct h5ds {
    uint64_t n, d;
    float *X;        /* (n, d) */
    int32_t *y;      /* (n) */
    uint64_t *id;    /* (n) */
    uint64_t *group; /* (n) or NULL */
    int32_t num_classes;
    char source[1024];
    int64_t label_values[64];
    size_t n_label_values; /* 0 when the attribute is absent */
} h5ds;

static hsize_t read_column(hid_t f, const char *name, hid_t mtype, void **out, size_t elem)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    assert_true(rank >= 1 && rank <= 2);
    hsize_t count = dims[0] * (rank == 2 ? dims[1] : 1);
    *out = malloc(count ? count * elem : 1);
    assert_non_null(*out);
    assert_true(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) >= 0);
    H5Sclose(sp);
    H5Dclose(ds);
    return rank == 2 ? dims[1] : dims[0];
}

static void h5ds_load(h5ds *ds, const char *path)
{
    memset(ds, 0, sizeof *ds);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);

    hid_t x = H5Dopen2(f, "X", H5P_DEFAULT);
    assert_true(x >= 0);
    hid_t sp = H5Dget_space(x);
    hsize_t dims[2];
    assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(x);
    ds->n = dims[0];
    ds->d = dims[1];
    void *p;
    assert_int_equal(read_column(f, "X", H5T_NATIVE_FLOAT, &p, sizeof(float)), ds->d);
    ds->X = p;
    assert_int_equal(read_column(f, "y", H5T_NATIVE_INT32, &p, sizeof(int32_t)), ds->n);
    ds->y = p;
    assert_int_equal(read_column(f, "id", H5T_NATIVE_UINT64, &p, sizeof(uint64_t)), ds->n);
    ds->id = p;
    if (H5Lexists(f, "group", H5P_DEFAULT) > 0) {
        assert_int_equal(read_column(f, "group", H5T_NATIVE_UINT64, &p, sizeof(uint64_t)), ds->n);
        ds->group = p;
    }

    hid_t a = H5Aopen(f, "num_classes", H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_INT32, &ds->num_classes) >= 0);
    H5Aclose(a);

    a = H5Aopen(f, "source", H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t st = H5Aget_type(a); /* read in the stored character set: HDF5 will not convert */
    assert_true(H5Tget_class(st) == H5T_STRING && H5Tis_variable_str(st) > 0);
    char *s = NULL;
    assert_true(H5Aread(a, st, &s) >= 0);
    snprintf(ds->source, sizeof ds->source, "%s", s);
    H5free_memory(s);
    H5Tclose(st);
    H5Aclose(a);

    if (H5Aexists(f, "label_values") > 0) {
        a = H5Aopen(f, "label_values", H5P_DEFAULT);
        hid_t asp = H5Aget_space(a);
        hssize_t k = H5Sget_simple_extent_npoints(asp);
        assert_true(k > 0 && k <= 64);
        assert_true(H5Aread(a, H5T_NATIVE_INT64, ds->label_values) >= 0);
        ds->n_label_values = (size_t)k;
        H5Sclose(asp);
        H5Aclose(a);
    }
    assert_true(H5Fclose(f) >= 0);
}

static void h5ds_free(h5ds *ds)
{
    free(ds->X);
    free(ds->y);
    free(ds->id);
    free(ds->group);
}

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[4096];
    char in[4096];
    char out[4096];
} fixture;

/* A fresh folder holding `file` (contents `len` bytes of `text`, gzipped when asked); the output
 * path is DIR/out.h5. */
static void fixture_make(fixture *fx, const char *name, const char *file, const char *text,
                         size_t len, int gzip)
{
    snprintf(fx->dir, sizeof fx->dir, "%s", tu_scratch(name));
    snprintf(fx->in, sizeof fx->in, "%s", tu_path(fx->dir, file));
    snprintf(fx->out, sizeof fx->out, "%s", tu_path(fx->dir, "out.h5"));
    if (gzip)
        tu_write_gzip(fx->in, text, len);
    else
        tu_write_file(fx->in, text, len);
}

/* `pattern` with {in} and {out} replaced by the fixture's paths. */
static const char *expand(const fixture *fx, const char *pattern)
{
    static char buf[4096];
    size_t n = 0;
    for (const char *p = pattern; *p && n < sizeof buf - 1;) {
        const char *sub = NULL;
        if (!strncmp(p, "{in}", 4)) sub = fx->in;
        if (!strncmp(p, "{out}", 5)) sub = fx->out;
        if (sub) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", sub);
            p += sub == fx->in ? 4 : 5;
        } else {
            buf[n++] = *p++;
        }
    }
    buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    return buf;
}

static void opts_for(sisa_import_opts *o, const fixture *fx)
{
    sisa_import_opts_init(o);
    o->out = fx->out;
}

/* The import failed with `code`, the message is exactly `msg` (after expansion), and only the
 * input is left in the folder. */
static void assert_failed(const fixture *fx, int rc, int code, const char *msg)
{
    if (rc != code) fail_msg("expected code %d, got %d (%s)", code, rc, sisa_error_message());
    assert_string_equal(sisa_error_message(), expand(fx, msg));
    assert_int_equal(tu_count_entries(fx->dir), 1);
    sisa_error_clear();
}

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
            fail_msg("value %zu: got %.9g, want %.9g", i, (double)got[i], (double)want[i]);
}

/* ---- CSV: successful imports ----------------------------------------------------------------- */

/* ID and group columns between features, a quoted header with "" escapes (the group column is
 * chosen by its unescaped name), quoted fields, CRLF line ends. */
static void test_csv_columns_quotes_crlf(void **state)
{
    (void)state;
    const char *text = "\"px \"\"a\"\"\",id,\"y\",px2,\"g\"\"1\"\r\n"
                       "1.5,10,0,-2,7\r\n"
                       "\"2.25\",11,\"1\",3e2,7\r\n"
                       "0,12,2,\"-0.5\",8\r\n";
    fixture fx;
    fixture_make(&fx, "csv_quotes", "in.csv", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.id_col = "id";
    o.group_col = "g\"1";
    sisa_dataset_summary s;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.d, 2);
    assert_int_equal(s.num_classes, 3);
    assert_true(s.has_group);
    assert_int_equal(s.id_min, 10);
    assert_int_equal(s.id_max, 12);
    assert_int_equal(tu_count_entries(fx.dir), 2);

    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.d, 2);
    const float X[] = {1.5f, -2.0f, 2.25f, 300.0f, 0.0f, -0.5f};
    assert_floats(ds.X, X, 6);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ds.y[i], i);
        assert_int_equal(ds.id[i], 10 + i);
    }
    assert_non_null(ds.group);
    assert_int_equal(ds.group[0], 7);
    assert_int_equal(ds.group[1], 7);
    assert_int_equal(ds.group[2], 8);
    assert_int_equal(ds.num_classes, 3);
    assert_int_equal(ds.n_label_values, 0);
    assert_string_equal(ds.source, expand(&fx, "csv {in} label=y id=id group=g\"1"));
    h5ds_free(&ds);
}

/* The risk column (uint8 tier per row) as read back with plain HDF5; NULL when absent. */
static uint8_t *read_risk(const char *path, uint64_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    uint8_t *r = NULL;
    if (H5Lexists(f, "risk", H5P_DEFAULT) > 0) {
        void *p;
        assert_int_equal(read_column(f, "risk", H5T_NATIVE_UINT8, &p, 1), n);
        r = p;
    }
    H5Fclose(f);
    return r;
}

/* --risk: integer tiers as they are, probabilities cut by --risk-cuts (p < c1 is tier 0, and a
 * probability equal to a cut is in the tier above it), the source names both; the column is
 * neither a feature nor another role; a group's rows must share one tier. */
static void test_csv_risk(void **state)
{
    (void)state;
    const char *text = "id,g,t,p,a,y\n"
                       "1,5,0,0.1,1.5,0\n"
                       "2,5,0,0.2,2.5,1\n"
                       "3,6,2,0.5,3.5,0\n"
                       "4,7,1,0.95,4.5,1\n";
    fixture fx;
    fixture_make(&fx, "csv_risk", "in.csv", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.id_col = "id";
    o.group_col = "g";
    o.risk_col = "t";
    sisa_dataset_summary s;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    assert_int_equal(s.d, 2); /* p and a: the risk column is not a feature */
    assert_true(s.has_risk);
    assert_int_equal(s.risk_max, 2);
    uint8_t *r = read_risk(fx.out, 4);
    assert_non_null(r);
    const uint8_t want_t[] = {0, 0, 2, 1};
    assert_memory_equal(r, want_t, 4);
    free(r);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_string_equal(ds.source, expand(&fx, "csv {in} label=y id=id group=g risk=t"));
    h5ds_free(&ds);

    o.risk_col = "p";
    o.risk_cuts = "0.5,0.95";
    o.force = 1;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    r = read_risk(fx.out, 4);
    const uint8_t want_p[] = {0, 0, 1, 2};
    assert_non_null(r);
    assert_memory_equal(r, want_p, 4);
    free(r);
    /* Without --risk there is no risk column. */
    o.risk_col = o.risk_cuts = NULL;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    assert_false(s.has_risk);
    assert_null(read_risk(fx.out, 4));

    const struct {
        const char *text, *risk, *cuts, *group;
        int code;
        const char *msg;
    } bad[] = {
        {"a,r,y\n1,0,0\n2,0.5,1\n", "r", NULL, NULL, SISA_ECORRUPT,
         "{in}:3: column 'r': risk 0.5 is not a tier (an integer 0..255; pass --risk-cuts to "
         "map probabilities to tiers)"},
        {"a,r,y\n1,256,0\n", "r", NULL, NULL, SISA_ECORRUPT,
         "{in}:2: column 'r': risk 256 is not a tier (an integer 0..255; pass --risk-cuts to "
         "map probabilities to tiers)"},
        {"a,r,y\n1,x,0\n", "r", NULL, NULL, SISA_ECORRUPT,
         "{in}:2: column 'r': risk 'x' is not a number"},
        {"a,r,y\n1,1.5,0\n", "r", "0.5", NULL, SISA_ECORRUPT,
         "{in}:2: column 'r': risk 1.5 is not a probability in [0, 1] (--risk-cuts maps "
         "probabilities to tiers)"},
        {"a,r,y\n1,0,0\n", "r", "0.5,0.5", NULL, SISA_EUSAGE,
         "--risk-cuts '0.5,0.5': cut points must increase"},
        {"a,r,y\n1,0,0\n", "r", "0,0.5", NULL, SISA_EUSAGE,
         "--risk-cuts '0,0.5': '0' is not a probability in (0, 1]"},
        {"a,r,y\n1,0,0\n", NULL, "0.5", NULL, SISA_EUSAGE, "--risk-cuts needs --risk COLUMN"},
        {"a,r,y\n1,0,0\n", "y", NULL, NULL, SISA_EUSAGE,
         "--risk names column 'y', which is already the label, ID or group column"},
        {"a,g,r,y\n1,4,0,0\n2,4,1,1\n3,5,1,0\n", "r", NULL, "g", SISA_ECORRUPT,
         "importing {in}: {out}: rows 0 and 1 are both of group 4 but have risk tiers 0 and 1; "
         "all rows of a group must share one tier (a data subject's tier decides where all "
         "their rows go)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "csv_risk_bad%zu", i);
        fixture_make(&fx, name, "in.csv", bad[i].text, strlen(bad[i].text), 0);
        opts_for(&o, &fx);
        o.label_col = "y";
        o.risk_col = bad[i].risk;
        o.risk_cuts = bad[i].cuts;
        o.group_col = bad[i].group;
        print_message("risk case %zu\n", i);
        assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), bad[i].code, bad[i].msg);
    }
}

/* Tab delimiter, a UTF-8 byte order mark, generated IDs from --id-offset, empty lines at the end,
 * the label column last. */
static void test_csv_tab_bom_offset(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF"
                       "f1\tf2\tlabel\n"
                       "0.5\t1\t1\n"
                       "2\t3\t0\n"
                       "-1e-3\t4.75\t1\n"
                       "\n\n";
    fixture fx;
    fixture_make(&fx, "csv_tab", "in.tsv", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "label";
    o.delimiter = '\t';
    o.id_offset = 1000;
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.d, 2);
    const float X[] = {0.5f, 1.0f, 2.0f, 3.0f, -1e-3f, 4.75f};
    assert_floats(ds.X, X, 6);
    const int32_t y[] = {1, 0, 1};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ds.y[i], y[i]);
        assert_int_equal(ds.id[i], 1000 + i);
    }
    assert_null(ds.group);
    assert_int_equal(ds.num_classes, 2);
    assert_string_equal(ds.source, expand(&fx, "csv {in} label=label id=row group=none"));
    h5ds_free(&ds);
}

/* Gzipped input (detected by content, whatever the name), --scale, no final newline. */
static void test_csv_gzip_scale(void **state)
{
    (void)state;
    const char *text = "y,a,b\n0,0,255\n1,51,128\n2,254,1";
    fixture fx;
    fixture_make(&fx, "csv_gzip", "in.csv", text, strlen(text), 1);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.scale = 255;
    sisa_dataset_summary s;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    const float raw[] = {0, 255, 51, 128, 254, 1};
    float X[6];
    for (int i = 0; i < 6; i++) X[i] = raw[i] / 255.0f;
    assert_int_equal(ds.n, 3);
    assert_floats(ds.X, X, 6);
    assert_true(s.x_min == 0.0f && s.x_max == 1.0f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ds.y[i], i);
        assert_int_equal(ds.id[i], i);
    }
    h5ds_free(&ds);
}

/* -1/+1 labels with --remap-labels: classes 0/1 in sorted order, originals in label_values. */
static void test_csv_remap_labels(void **state)
{
    (void)state;
    const char *text = "x,y\n1,1\n2,-1\n3,-1\n4,1\n";
    fixture fx;
    fixture_make(&fx, "csv_remap", "in.csv", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.remap_labels = 1;
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    const int32_t y[] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++) assert_int_equal(ds.y[i], y[i]);
    assert_int_equal(ds.num_classes, 2);
    assert_int_equal(ds.n_label_values, 2);
    assert_int_equal(ds.label_values[0], -1);
    assert_int_equal(ds.label_values[1], 1);
    h5ds_free(&ds);
}

/* --num-classes above the largest label is kept; a label at or above it is refused. */
static void test_csv_num_classes(void **state)
{
    (void)state;
    const char *text = "x,y\n1,0\n2,1\n";
    fixture fx;
    fixture_make(&fx, "csv_classes", "in.csv", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.num_classes = 5;
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.num_classes, 5);
    assert_int_equal(ds.y[1], 1);
    h5ds_free(&ds);

    const char *bad = "x,y\n1,0\n2,5\n";
    fixture_make(&fx, "csv_classes_bad", "in.csv", bad, strlen(bad), 0);
    opts_for(&o, &fx);
    o.label_col = "y";
    o.num_classes = 5;
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_ECORRUPT,
                  "{in}:3: column 'y': label 5 is outside 0..4; labels must be class numbers "
                  "(pass --remap-labels to map arbitrary integer labels to 0..C-1)");
}

/* 20 000 rows x 50 features (several writer blocks): every value checked. */
static void test_csv_large(void **state)
{
    (void)state;
    enum { ROWS = 20000, COLS = 50 };
    size_t cap = (size_t)ROWS * COLS * 12 + 4096, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "label");
    for (int c = 0; c < COLS; c++) n += (size_t)snprintf(text + n, cap - n, ",f%d", c);
    n += (size_t)snprintf(text + n, cap - n, ",key\n");
    for (int r = 0; r < ROWS; r++) {
        n += (size_t)snprintf(text + n, cap - n, "%d", r % 10);
        /* Multiples of 1/8 up to 125: exact in float32 and in decimal. */
        for (int c = 0; c < COLS; c++)
            n += (size_t)snprintf(text + n, cap - n, ",%g", ((r * 31 + c * 7) % 1000) / 8.0 - 60);
        n += (size_t)snprintf(text + n, cap - n, ",%d\n", 3 * r + 1);
    }
    fixture fx;
    fixture_make(&fx, "csv_large", "big.csv", text, n, 0);
    free(text);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "label";
    o.id_col = "key";
    sisa_dataset_summary s;
    assert_int_equal(sisa_import_csv(&s, fx.in, &o), SISA_OK);
    assert_int_equal(s.n, ROWS);
    assert_int_equal(s.d, COLS);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, ROWS);
    assert_int_equal(ds.d, COLS);
    for (int r = 0; r < ROWS; r++) {
        if (ds.y[r] != r % 10 || ds.id[r] != (uint64_t)(3 * r + 1))
            fail_msg("row %d: label %d id %llu", r, ds.y[r], (unsigned long long)ds.id[r]);
        for (int c = 0; c < COLS; c++) {
            float want = (float)(((r * 31 + c * 7) % 1000) / 8.0 - 60);
            if (ds.X[(size_t)r * COLS + c] != want)
                fail_msg("row %d col %d: got %g want %g", r, c, (double)ds.X[(size_t)r * COLS + c],
                         (double)want);
        }
    }
    assert_int_equal(ds.num_classes, 10);
    h5ds_free(&ds);
}

/* ---- CSV: malformed input -------------------------------------------------------------------- */

typedef struct bad_csv {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *label, *id, *group;
    int code;
    const char *msg; /* exact, with {in} and {out} */
} bad_csv;

#define NUL_CSV "a,y\n1,0\n2\0,1\n"
static const bad_csv bad_csvs[] = {
    {"fewer_fields", "a,b,y\n1,2,0\n3,4\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: expected 3 fields, found 2"},
    {"more_fields", "a,b,y\n1,2,0,5\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: expected 3 fields, found 4"},
    {"not_number", "a,b,y\n1,2,0\n1,abc,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: column 'b': 'abc' is not a number"},
    {"nan", "a,b,y\n1,2,0\nnan,2,1\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: column 'a': 'nan' is NaN; features must be finite"},
    {"inf", "a,b,y\n1,-inf,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'b': '-inf' is infinite; features must be finite"},
    {"empty_field", "a,b,y\n1,,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'b' is empty; every feature needs a numeric value"},
    {"beyond_float32", "a,b,y\n1,1e39,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'b': '1e39' is beyond the float32 range (about 3.4e38)"},
    {"beyond_double", "a,b,y\n-1e400,1,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'a': '-1e400' is beyond the float32 range (about 3.4e38)"},
    {"unknown_label", "a,b,label\n1,2,0\n", 0, "lable", NULL, NULL, SISA_EUSAGE,
     "{in} has no column 'lable' (given with --label); its columns are 'a', 'b', 'label'; did "
     "you mean 'label'?"},
    {"unknown_id_case", "a,ID,y\n1,2,0\n", 0, "y", "id", NULL, SISA_EUSAGE,
     "{in} has no column 'id' (given with --id); its columns are 'a', 'ID', 'y'; did you mean "
     "'ID'?"},
    {"unknown_no_hint", "a,b,y\n1,2,0\n", 0, "target", NULL, NULL, SISA_EUSAGE,
     "{in} has no column 'target' (given with --label); its columns are 'a', 'b', 'y'"},
    {"duplicate_names", "a,b,\"a\",y\n1,2,3,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:1: column name 'a' appears twice (columns 1 and 3); column names must be unique"},
    {"empty_name", "a,,y\n1,2,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:1: column 2 has an empty name; every column needs a name"},
    {"negative_label", "a,y\n1,0\n2,-1\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: column 'y': label -1 is outside 0..1048575; labels must be class numbers (pass "
     "--remap-labels to map arbitrary integer labels to 0..C-1)"},
    {"float_label", "a,y\n1,0\n2,1.5\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: column 'y': label '1.5' is not an integer"},
    {"bad_id", "id,a,y\n1,1,0\n-2,1,0\n", 0, "y", "id", NULL, SISA_ECORRUPT,
     "{in}:3: column 'id': '-2' is not a sample ID (a non-negative 64-bit integer)"},
    {"bad_group", "g,a,y\n1,1,0\nx,1,0\n", 0, "y", NULL, "g", SISA_ECORRUPT,
     "{in}:3: column 'g': 'x' is not a group key (a non-negative 64-bit integer)"},
    {"unterminated_quote", "a,y\n1,0\n2,\"1\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: column 'y': unterminated quoted field (the file ends before the closing quote)"},
    {"quoted_newline", "a,y\n\"1\n2\",0\n3,1\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'a': the quoted field continues past the end of the line; fields "
     "containing line breaks are not supported (or the closing quote is missing)"},
    {"text_after_quote", "a,y\n\"1\"2,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:2: column 'a': unexpected text after the closing quote (a quote inside a quoted "
     "field must be doubled: \"\")"},
    {"empty_file", "", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}: the file is empty; a CSV file needs a header row naming its columns"},
    {"empty_first_line", "\na,y\n1,0\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:1: the first line is empty; a CSV file needs a header row naming its columns"},
    {"header_only", "a,y\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}: no data rows after the header"},
    {"header_only_blank_lines", "a,y\r\n\r\n\r\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}: no data rows after the header"},
    {"empty_line_middle", "a,y\n1,0\n\n2,1\n", 0, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: empty line; empty lines are allowed only at the end of the file"},
    {"nul_byte", NUL_CSV, sizeof NUL_CSV - 1, "y", NULL, NULL, SISA_ECORRUPT,
     "{in}:3: NUL byte at byte 2 of the line; a CSV file is text (is this a binary file?)"},
    {"id_is_label", "a,y\n1,0\n", 0, "y", "y", NULL, SISA_EUSAGE,
     "--label and --id both name column 'y'; they must be different columns"},
    {"group_is_id", "a,k,y\n1,2,0\n", 0, "y", "k", "k", SISA_EUSAGE,
     "--id and --group both name column 'k'; they must be different columns"},
    {"no_features", "id,y\n1,0\n2,1\n", 0, "y", "id", NULL, SISA_ECORRUPT,
     "{in} has no feature columns: every column is the label, ID, group or risk column"},
};

static void test_csv_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_csvs / sizeof bad_csvs[0]; i++) {
        const bad_csv *b = &bad_csvs[i];
        char name[128];
        snprintf(name, sizeof name, "csv_bad_%s", b->name);
        fixture fx;
        fixture_make(&fx, name, "in.csv", b->text, b->len ? b->len : strlen(b->text), 0);
        sisa_import_opts o;
        opts_for(&o, &fx);
        o.label_col = b->label;
        o.id_col = b->id;
        o.group_col = b->group;
        print_message("case %s\n", b->name);
        assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), b->code, b->msg);
    }
}

/* Problems only the writer sees (at commit, over all rows): its message, with the input named. */
static void test_csv_writer_errors(void **state)
{
    (void)state;
    const char *dup = "id,a,y\n5,1,0\n6,2,1\n5,3,0\n";
    fixture fx;
    fixture_make(&fx, "csv_dup_ids", "in.csv", dup, strlen(dup), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    o.id_col = "id";
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_ECORRUPT,
                  "importing {in}: {out}: duplicate sample ID 5 (rows 0 and 2); IDs must be "
                  "unique");

    const char *one = "a,y\n1,0\n2,0\n";
    fixture_make(&fx, "csv_one_class", "in.csv", one, strlen(one), 0);
    opts_for(&o, &fx);
    o.label_col = "y";
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(),
                       expand(&fx, "importing {in}: {out}: all rows have the same label"));
    assert_int_equal(tu_count_entries(fx.dir), 1);

    /* An existing output is not replaced without --force, and is left as it was. */
    const char *ok = "a,y\n1,0\n2,1\n";
    fixture_make(&fx, "csv_exists", "in.csv", ok, strlen(ok), 0);
    tu_write_text(fx.out, "precious");
    opts_for(&o, &fx);
    o.label_col = "y";
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_EEXIST);
    assert_string_equal(sisa_error_message(),
                        expand(&fx, "importing {in}: {out} already exists (pass --force to "
                                    "replace it)"));
    char *kept = tu_read_file(fx.out, NULL);
    assert_string_equal(kept, "precious");
    free(kept);
    assert_int_equal(tu_count_entries(fx.dir), 2);
    o.force = 1;
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, 2);
    h5ds_free(&ds);
    assert_int_equal(tu_count_entries(fx.dir), 2);
}

/* Corrupt and truncated gzip streams, a missing file, bad options. */
static void test_csv_input_errors(void **state)
{
    (void)state;
    /* A gzip file of many distinct rows with a flipped byte in the deflate data. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "a,y\n");
    for (int r = 0; r < 400; r++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d,%d\n", r * 7919 % 1000, r % 2);
    fixture fx;
    fixture_make(&fx, "csv_bad_gzip", "in.csv.gz", text, n, 1);
    size_t glen;
    char *gz = tu_read_file(fx.in, &glen);
    gz[glen / 2] ^= 0x55;
    gz[glen / 2 + 1] ^= 0x55;
    tu_write_file(fx.in, gz, glen);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), expand(&fx, "{in}: corrupt gzip data ("));
    assert_int_equal(tu_count_entries(fx.dir), 1);

    /* The same stream cut short. */
    gz[glen / 2] ^= 0x55;
    gz[glen / 2 + 1] ^= 0x55;
    tu_write_file(fx.in, gz, glen - 12);
    free(gz);
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_ECORRUPT,
                  "{in}: truncated gzip data (the compressed stream ends early)");

    /* More columns than 2^24 features and the label, ID and group columns: refused from the
     * header, before its 16 million names are sorted. */
    size_t cols = ((size_t)1 << 24) + 4;
    char *wide = malloc(cols + 3);
    assert_non_null(wide);
    memset(wide, ',', cols - 1);
    memcpy(wide + cols - 1, "\n0\n", 4);
    fixture wfx;
    fixture_make(&wfx, "csv_many_columns", "in.csv", wide, cols + 2, 0);
    free(wide);
    opts_for(&o, &wfx);
    o.label_col = "y";
    assert_failed(&wfx, sisa_import_csv(NULL, wfx.in, &o), SISA_ECORRUPT,
                  "{in}:1: the header has 16777220 columns; at most 16777219 are supported (2^24 "
                  "features and the label, ID and group columns)");

    opts_for(&o, &fx);
    o.label_col = "y";
    assert_int_equal(sisa_import_csv(NULL, tu_path(fx.dir, "missing.csv"), &o), SISA_EIO);
    tu_assert_contains(sisa_error_message(), "missing.csv: No such file");

    o.label_col = NULL;
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_EUSAGE,
                  "no label column given (--label COLUMN, or --unlabelled for data without labels, "
                  "such as an input to predict)");
    o.label_col = "y";
    o.delimiter = '"';
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_EUSAGE,
                  "--delimiter cannot be a quote or a line break");

    /* Generated IDs: the last row that fits in 64 bits is accepted, the next one is not. */
    const char *two = "a,y\n1,0\n2,1\n";
    fixture_make(&fx, "csv_offset", "in.csv", two, strlen(two), 0);
    opts_for(&o, &fx);
    o.label_col = "y";
    o.id_offset = UINT64_MAX;
    assert_failed(&fx, sisa_import_csv(NULL, fx.in, &o), SISA_EUSAGE,
                  "{in}:3: --id-offset 18446744073709551615 + row 1 does not fit in a 64-bit "
                  "sample ID");
    o.id_offset = UINT64_MAX - 1;
    assert_int_equal(sisa_import_csv(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_true(ds.id[0] == UINT64_MAX - 1 && ds.id[1] == UINT64_MAX);
    h5ds_free(&ds);
}

/* ---- libsvm: successful imports -------------------------------------------------------------- */

static void test_libsvm_dense(void **state)
{
    (void)state;
    const char *text = "# a comment line\n"
                       "1 1:0.5 3:-2   # trailing comment\n"
                       "\n"
                       "  \t \n"
                       "0\t2:4\n"
                       "2\n"
                       "1 4:1e-3 ";
    fixture fx;
    fixture_make(&fx, "svm_dense", "in.svm", text, strlen(text), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    sisa_dataset_summary s;
    assert_int_equal(sisa_import_libsvm(&s, fx.in, &o), SISA_OK);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.d, 4);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.d, 4);
    const float X[] = {0.5f, 0, -2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1e-3f};
    assert_floats(ds.X, X, 16);
    const int32_t y[] = {1, 0, 2, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ds.y[i], y[i]);
        assert_int_equal(ds.id[i], i);
    }
    assert_null(ds.group);
    assert_int_equal(ds.num_classes, 3);
    assert_string_equal(ds.source, expand(&fx, "libsvm {in}"));
    h5ds_free(&ds);
}

/* "+1"/"-1" labels with --remap-labels, --features above the largest index, gzip, id offset,
 * CRLF. */
static void test_libsvm_remap_features_gzip(void **state)
{
    (void)state;
    const char *text = "+1 2:1.5 3:2\r\n-1 1:-1\r\n+1 3:0.25\r\n";
    fixture fx;
    fixture_make(&fx, "svm_remap", "data.txt", text, strlen(text), 1);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.remap_labels = 1;
    o.features = 6;
    o.id_offset = 50;
    assert_int_equal(sisa_import_libsvm(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.d, 6);
    const float X[] = {0, 1.5f, 2, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0.25f, 0, 0, 0};
    assert_floats(ds.X, X, 18);
    const int32_t y[] = {1, 0, 1};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ds.y[i], y[i]);
        assert_int_equal(ds.id[i], 50 + i);
    }
    assert_int_equal(ds.n_label_values, 2);
    assert_int_equal(ds.label_values[0], -1);
    assert_int_equal(ds.label_values[1], 1);
    h5ds_free(&ds);
}

/* Many rows (several blocks) with one wide feature space: every value checked. */
static void test_libsvm_large(void **state)
{
    (void)state;
    enum { ROWS = 9000, D = 300 };
    size_t cap = (size_t)ROWS * 64, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int r = 0; r < ROWS; r++) {
        n += (size_t)snprintf(text + n, cap - n, "%d", r % 3);
        int a = 1 + r % D, b = 1 + (r * 17 + 5) % D;
        if (a > b) {
            int t = a;
            a = b;
            b = t;
        }
        n += (size_t)snprintf(text + n, cap - n, " %d:%d", a, r % 100);
        if (b != a) n += (size_t)snprintf(text + n, cap - n, " %d:-%d.5", b, r % 7);
        n += (size_t)snprintf(text + n, cap - n, "\n");
    }
    fixture fx;
    fixture_make(&fx, "svm_large", "big.svm", text, n, 0);
    free(text);
    sisa_import_opts o;
    opts_for(&o, &fx);
    assert_int_equal(sisa_import_libsvm(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.n, ROWS);
    assert_int_equal(ds.d, D);
    for (int r = 0; r < ROWS; r++) {
        int a = 1 + r % D, b = 1 + (r * 17 + 5) % D;
        if (a > b) {
            int t = a;
            a = b;
            b = t;
        }
        for (int c = 1; c <= D; c++) {
            float want = 0;
            if (c == a) want = (float)(r % 100);
            if (c == b && b != a) want = -(float)(r % 7) - 0.5f;
            if (ds.X[(size_t)r * D + c - 1] != want)
                fail_msg("row %d index %d: got %g want %g", r, c,
                         (double)ds.X[(size_t)r * D + c - 1], (double)want);
        }
        assert_int_equal(ds.y[r], r % 3);
        assert_int_equal(ds.id[r], r);
    }
    h5ds_free(&ds);
}

/* ---- libsvm: malformed input ----------------------------------------------------------------- */

typedef struct bad_svm {
    const char *name;
    const char *text;
    size_t len;
    uint64_t features;
    int code;
    const char *msg;
} bad_svm;

#define NUL_SVM "1 1:2\n0 1\0:2\n"
static const bad_svm bad_svms[] = {
    {"index_zero", "1 1:2\n1 0:1.5\n", 0, 0, SISA_ECORRUPT,
     "{in}:2: index 0 in '0:1.5'; libsvm indices start at 1 (is the file 0-based?)"},
    {"decreasing", "1 3:1 2:1\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 2 comes after index 3; indices must increase along a line"},
    {"duplicate", "0 1:1\n1 2:1 2:3\n", 0, 0, SISA_ECORRUPT,
     "{in}:2: index 2 appears twice; indices must increase along a line"},
    {"value_not_number", "1 3:abc\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 3: 'abc' is not a number"},
    {"no_value", "1 3:\n", 0, 0, SISA_ECORRUPT, "{in}:1: index 3 has no value ('3:')"},
    {"token_abc", "1 abc\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: 'abc' is not an index:value pair (such as 3:0.5)"},
    {"label_abc", "0 1:1\nabc 1:2\n", 0, 0, SISA_ECORRUPT, "{in}:2: label 'abc' is not an integer"},
    {"token_3", "1 3\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: '3' is not an index:value pair (such as 3:0.5)"},
    {"bad_index", "1 x:3\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: 'x:3': the index 'x' is not a positive integer"},
    {"qid", "1 qid:4 1:2\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: 'qid:4': ranking data (query IDs) is not supported; remove the qid tokens to "
     "import the file as classification data"},
    {"above_features", "1 1:1\n0 2:1 3:1\n", 0, 2, SISA_ECORRUPT,
     "{in}:2: index 3 is above --features 2"},
    {"above_limit", "1 16777217:1\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 16777217 is above the limit of 16777216 features"},
    {"float_label", "1.5 1:2\n", 0, 0, SISA_ECORRUPT, "{in}:1: label '1.5' is not an integer"},
    {"missing_label", "1:2 3:4\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: the line starts with '1:2'; expected an integer label first"},
    {"negative_label", "1 1:2\n-1 1:2\n", 0, 0, SISA_ECORRUPT,
     "{in}:2: label -1 is outside 0..1048575; labels must be class numbers (pass "
     "--remap-labels to map arbitrary integer labels such as -1/+1 to 0..C-1)"},
    {"nan_value", "1 1:nan\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 1: 'nan' is NaN; features must be finite"},
    {"inf_value", "1 2:-Infinity\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 2: '-Infinity' is infinite; features must be finite"},
    {"beyond_float32", "1 2:4e38\n", 0, 0, SISA_ECORRUPT,
     "{in}:1: index 2: '4e38' is beyond the float32 range (about 3.4e38)"},
    {"nul_byte", NUL_SVM, sizeof NUL_SVM - 1, 0, SISA_ECORRUPT,
     "{in}:2: NUL byte at byte 4 of the line; a libsvm file is text (is this a binary file?)"},
    {"empty_file", "", 0, 0, SISA_ECORRUPT,
     "{in}: no data rows (the file is empty or holds only comments and blank lines)"},
    {"only_comments", "# nothing\n\n   \n#1 1:2\n", 0, 0, SISA_ECORRUPT,
     "{in}: no data rows (the file is empty or holds only comments and blank lines)"},
    /* The largest index claims the dense width: 2 rows of 4194305 floats (32 MiB) from 18
     * bytes is refused (the limit is 16 MiB + 256 times the file); --features lifts it. */
    {"dense_too_large", "0 4194305:1\n1 1:1\n", 0, 0, SISA_ECORRUPT,
     "{in}: its largest index, 4194305, makes a dense matrix of 2 rows x 4194305 features "
     "(32.0 MiB), more than the limit for a file of 18 bytes (16 MiB + 256 times its size): is "
     "an index wrong? pass --features 4194305 to import it anyway"},
    {"labels_only", "0\n1\n", 0, 0, SISA_ECORRUPT,
     "{in}: no line has any index:value pair, so the feature count is unknown; pass "
     "--features D to import these rows as D zeros each"},
};

static void test_libsvm_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_svms / sizeof bad_svms[0]; i++) {
        const bad_svm *b = &bad_svms[i];
        char name[128];
        snprintf(name, sizeof name, "svm_bad_%s", b->name);
        fixture fx;
        fixture_make(&fx, name, "in.svm", b->text, b->len ? b->len : strlen(b->text), 0);
        sisa_import_opts o;
        opts_for(&o, &fx);
        o.features = b->features;
        print_message("case %s\n", b->name);
        assert_failed(&fx, sisa_import_libsvm(NULL, fx.in, &o), b->code, b->msg);
    }

    /* Rows of only a label are zeros when --features says how many. */
    const char *zeros = "0\n1 2:3\n";
    fixture fx;
    fixture_make(&fx, "svm_zeros", "in.svm", zeros, strlen(zeros), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.features = 3;
    assert_int_equal(sisa_import_libsvm(NULL, fx.in, &o), SISA_OK);
    h5ds ds;
    h5ds_load(&ds, fx.out);
    const float X[] = {0, 0, 0, 0, 3, 0};
    assert_floats(ds.X, X, 6);
    h5ds_free(&ds);

    /* Duplicate IDs cannot happen (IDs are generated), but --id-offset can overflow. */
    fixture_make(&fx, "svm_offset", "in.svm", zeros, strlen(zeros), 0);
    opts_for(&o, &fx);
    o.features = 3;
    o.id_offset = UINT64_MAX;
    assert_failed(&fx, sisa_import_libsvm(NULL, fx.in, &o), SISA_EUSAGE,
                  "--id-offset 18446744073709551615 is too large: the IDs of 2 rows would pass the "
                  "largest 64-bit ID");
    opts_for(&o, &fx);
    o.features = (UINT64_C(1) << 24) + 1;
    assert_failed(&fx, sisa_import_libsvm(NULL, fx.in, &o), SISA_EUSAGE,
                  "--features 16777217 is more than the limit of 16777216");
}

/* An interrupt stops both importers with SISA_EINTR and leaves nothing behind. */
static void test_interrupt(void **state)
{
    (void)state;
    const char *csv = "a,y\n1,0\n2,1\n";
    fixture fx;
    fixture_make(&fx, "csv_intr", "in.csv", csv, strlen(csv), 0);
    sisa_import_opts o;
    opts_for(&o, &fx);
    o.label_col = "y";
    sisa_interrupt_raise(SIGINT);
    int rc = sisa_import_csv(NULL, fx.in, &o);
    sisa_interrupt_reset();
    assert_failed(&fx, rc, SISA_EINTR, "interrupted while importing {in}; no output was written");

    const char *svm = "0 1:1\n1 2:1\n";
    fixture_make(&fx, "svm_intr", "in.svm", svm, strlen(svm), 0);
    opts_for(&o, &fx);
    sisa_interrupt_raise(SIGTERM);
    rc = sisa_import_libsvm(NULL, fx.in, &o);
    sisa_interrupt_reset();
    assert_failed(&fx, rc, SISA_EINTR, "interrupted while importing {in}; no output was written");
}

/* ---- through the sisa binary ----------------------------------------------------------------- */

static void test_cli(void **state)
{
    (void)state;
    static tu_run r;
    const char *csv = "x1\tx2\ty\n1\t2\t0\n3\t4\t1\n";
    fixture fx;
    fixture_make(&fx, "cli_csv", "in.tsv", csv, strlen(csv), 0);

    /* Success: the summary on stdout, exit 0. */
    tu_sisa(&r, "import", "csv", fx.in, "-o", fx.out, "--label", "y", "--delimiter", "tab",
            "--id-offset", "7", NULL);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    tu_assert_contains(r.out, expand(&fx, "imported 2 rows x 2 features, 2 classes -> {out}"));
    tu_assert_contains(r.out, "sample IDs 7..8, features in [1, 4], no group column");
    h5ds ds;
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.id[1], 8);
    assert_true(ds.X[3] == 4.0f);
    h5ds_free(&ds);

    /* An existing output without --force: exit 2, the file untouched. */
    size_t before_len, after_len;
    char *before = tu_read_file(fx.out, &before_len);
    tu_sisa(&r, "import", "csv", fx.in, "-o", fx.out, "--label", "y", "--delimiter", "tab", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, expand(&fx, "sisa: error: importing {in}: {out} already exists "
                                          "(pass --force to replace it)"));
    char *after = tu_read_file(fx.out, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    assert_int_equal(tu_count_entries(fx.dir), 2);

    /* A malformed file: exit 1, the message on stderr, no output. */
    const char *bad = "a,y\n1,0\n2\n";
    fixture_make(&fx, "cli_bad", "in.csv", bad, strlen(bad), 0);
    tu_sisa(&r, "import", "csv", fx.in, "-o", fx.out, "--label", "y", NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, expand(&fx, "sisa: error: {in}:3: expected 2 fields, found 1\n"));
    assert_string_equal(r.out, "");
    assert_int_equal(tu_count_entries(fx.dir), 1);

    /* An unknown column is a usage error: exit 2. */
    tu_sisa(&r, "import", "csv", fx.in, "-o", fx.out, "--label", "Y", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "did you mean 'y'?");
    assert_int_equal(tu_count_entries(fx.dir), 1);

    /* libsvm, gzipped, replacing an existing output with --force. */
    const char *svm = "+1 1:1 2:2\n-1 2:-2\n";
    fixture_make(&fx, "cli_svm", "in.svm.gz", svm, strlen(svm), 1);
    tu_write_text(fx.out, "old");
    tu_sisa(&r, "import", "libsvm", fx.in, "-o", fx.out, "--remap-labels", "--force", NULL);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    tu_assert_contains(r.out, expand(&fx, "imported 2 rows x 2 features, 2 classes -> {out}"));
    h5ds_load(&ds, fx.out);
    assert_int_equal(ds.y[0], 1);
    assert_int_equal(ds.y[1], 0);
    h5ds_free(&ds);
    assert_int_equal(tu_count_entries(fx.dir), 2);

    /* A malformed libsvm file: exit 1. */
    const char *badsvm = "1 2:1 1:1\n";
    fixture_make(&fx, "cli_svm_bad", "in.svm", badsvm, strlen(badsvm), 0);
    tu_sisa(&r, "import", "libsvm", fx.in, "-o", fx.out, NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, expand(&fx, "sisa: error: {in}:1: index 1 comes after index 2"));
    assert_int_equal(tu_count_entries(fx.dir), 1);
}

/* tu_scratch() creates SISA_TEST_TMP but not its parent (build/tests/scratch), which does not
 * exist in a fresh build folder. */
static void make_scratch_root(void)
{
    const char *root = getenv("SISA_TEST_TMP");
    if (!root) return;
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0777);
    }
    mkdir(root, 0777);
}

int main(void)
{
    make_scratch_root();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_columns_quotes_crlf),
        cmocka_unit_test(test_csv_risk),
        cmocka_unit_test(test_csv_tab_bom_offset),
        cmocka_unit_test(test_csv_gzip_scale),
        cmocka_unit_test(test_csv_remap_labels),
        cmocka_unit_test(test_csv_num_classes),
        cmocka_unit_test(test_csv_large),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_writer_errors),
        cmocka_unit_test(test_csv_input_errors),
        cmocka_unit_test(test_libsvm_dense),
        cmocka_unit_test(test_libsvm_remap_features_gzip),
        cmocka_unit_test(test_libsvm_large),
        cmocka_unit_test(test_libsvm_malformed),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
