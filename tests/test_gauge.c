/*
 * test_gauge.c - `sisa gauge` through the binary: N = 32 models per population on a small
 * dataset whose labels are noise (so a model that saw a row has memorised it), 10 % forgotten.
 * `exact` must be judged indistinguishable from retraining (KS share within
 * alpha + 3 sqrt(alpha (1 - alpha) / m), F not below the noise floor's interval) and `none`
 * distinguishable; members are idempotent and reproducible byte for byte; bad input is refused
 * with the documented exit statuses and nothing changed.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[4096];

/* A small deterministic generator for the fixture (xorshift64*, Box-Muller). */
static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double unif(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return ((rs * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void)
{
    double u = unif(), v = unif();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void write_csv(const char *path, int rows)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int k = 0; k < 10; k++) fprintf(f, "f%d,", k);
    fprintf(f, "label\n");
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < 10; k++) fprintf(f, "%.5f,", normal());
        fprintf(f, "%d\n", (int)(unif() * 3));
    }
    fclose(f);
}

static const char *config_text = "data:\n  train: train.h5\n  test: test.h5\nstore: store\n"
                                 "sisa:\n  shards: 2\n  slices: 2\n"
                                 "model:\n  type: mlp\n  hidden: [64]\n"
                                 "train:\n  optimizer: adam\n  lr: 0.01\n  batch_size: 16\n"
                                 "  epochs: 60\naggregate:\n  strategy: mean\n";

static int setup(void **state)
{
    (void)state;
    tu_run r;
    snprintf(dir, sizeof dir, "%s", tu_scratch("gauge"));
    write_csv(tu_path(dir, "train.csv"), 300);
    write_csv(tu_path(dir, "test.csv"), 300);
    tu_sisa(&r, "import", "csv", tu_path(dir, "train.csv"), "-o", tu_path(dir, "train.h5"),
            "--label", "label", NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "import", "csv", tu_path(dir, "test.csv"), "-o", tu_path(dir, "test.h5"), "--label",
            "label", "--id-offset", "100000", NULL);
    assert_int_equal(r.status, 0);
    tu_write_text(tu_path(dir, "g.yaml"), config_text);
    return 0;
}

/* Split the tab-separated `line` (len bytes) into `fields` (at most `cap`); returns the count. */
static int split_tabs(char *buf, size_t cap_buf, const char *line, size_t len, char **fields,
                      int cap)
{
    assert_true(len < cap_buf);
    memcpy(buf, line, len);
    buf[len] = 0;
    int n = 0;
    for (char *t = strtok(buf, "\t"); t && n < cap; t = strtok(NULL, "\t")) fields[n++] = t;
    return n;
}

/* The field of gauge.tsv in the row of `method` and the column named `column` (by the header),
 * as text (static storage, valid until the next call). Every row has the header's width. */
static const char *tsv_get(const char *tsv, const char *method, const char *column)
{
    static char head[2048], line[2048];
    char *names[64], *fields[64];
    const char *nl = strchr(tsv, '\n');
    assert_non_null(nl);
    int nh = split_tabs(head, sizeof head, tsv, (size_t)(nl - tsv), names, 64);
    int col = -1;
    for (int k = 0; k < nh; k++)
        if (!strcmp(names[k], column)) col = k;
    if (col < 0) fail_msg("gauge.tsv has no column %s", column);
    size_t mlen = strlen(method);
    for (const char *s = nl + 1; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > mlen && !strncmp(s, method, mlen) && s[mlen] == '\t') {
            int n = split_tabs(line, sizeof line, s, len, fields, 64);
            assert_int_equal(n, nh);
            return fields[col];
        }
        s = e ? e + 1 : s + len;
    }
    fail_msg("no row for %s in gauge.tsv:\n%s", method, tsv);
    return NULL;
}

static double tsv_num(const char *tsv, const char *method, const char *column)
{
    return atof(tsv_get(tsv, method, column));
}

/* Every figure of every row lies in its bootstrap interval, and the intervals of the member
 * means are not degenerate (the members differ). */
static void check_intervals(const char *tsv, const char *method)
{
    static const struct {
        const char *value, *lo, *hi;
        int members; /* a mean over members: the interval cannot be a point */
    } cols[] = {
        {"final", "final_lo", "final_hi", 0},
        {"F", "F_lo", "F_hi", 0},
        {"ks_share", "ks_lo", "ks_hi", 0},
        {"mia_auc", "mia_auc_lo", "mia_auc_hi", 1},
        {"acc_retain", "acc_retain_lo", "acc_retain_hi", 1},
        {"acc_test", "acc_test_lo", "acc_test_hi", 1},
        {"acc_forget", "acc_forget_lo", "acc_forget_hi", 1},
    };
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        double v = tsv_num(tsv, method, cols[k].value);
        double l = tsv_num(tsv, method, cols[k].lo), h = tsv_num(tsv, method, cols[k].hi);
        if (!(l <= v && v <= h))
            fail_msg("%s %s = %g is outside its interval [%g, %g]", method, cols[k].value, v, l, h);
        if (cols[k].members && !(l < h))
            fail_msg("%s %s: a degenerate interval [%g, %g]", method, cols[k].value, l, h);
    }
}

static int is_png(const char *path)
{
    size_t len = 0;
    char *png = tu_read_file(path, &len);
    int ok = len > 1000 && !memcmp(png, "\x89PNG", 4);
    free(png);
    return ok;
}

static void test_exact_and_none(void **state)
{
    (void)state;
    tu_run r;
    const char *g = tu_path(dir, "g1");
    char gdir[4096];
    snprintf(gdir, sizeof gdir, "%s", g);
    tu_sisa(&r, "gauge", "plan", "-c", tu_path(dir, "g.yaml"), "-o", gdir, "--forget-random", "0.1",
            "--models", "32", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "forget 30 of 300 training rows");

    /* score before the members ran: refused, naming the first missing task */
    tu_sisa(&r, "gauge", "score", gdir, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "96 of 96 gauge members have no results yet (the first: task 0)");

    tu_sisa(&r, "-q", "gauge", "member", gdir, "--all", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(tu_count_entries(tu_path(gdir, "members")), 96);
    assert_int_equal(tu_count_entries(tu_path(gdir, "work")), 0);

    tu_sisa(&r, "gauge", "score", gdir, NULL);
    assert_int_equal(r.status, 0);
    char *tsv = tu_read_file(tu_path(gdir, "gauge.tsv"), NULL);
    double m = 30, alpha = 0.05, bound = alpha + 3 * sqrt(alpha * (1 - alpha) / m);
    double floor_F = tsv_num(tsv, "retrain2", "F"), floor_lo = tsv_num(tsv, "retrain2", "F_lo");
    assert_string_equal(tsv_get(tsv, "retrain2", "verdict"), "noise-floor");
    double ex_F = tsv_num(tsv, "exact", "F"), ex_ks = tsv_num(tsv, "exact", "ks_share");
    assert_true(ex_ks <= bound);
    assert_true(ex_F >= floor_lo);
    assert_string_equal(tsv_get(tsv, "exact", "verdict"), "indistinguishable");
    double no_F = tsv_num(tsv, "none", "F"), no_ks = tsv_num(tsv, "none", "ks_share");
    double no_auc = tsv_num(tsv, "none", "mia_auc");
    assert_string_equal(tsv_get(tsv, "none", "verdict"), "distinguishable");
    assert_true(no_ks > bound);
    assert_true(no_F < floor_lo);
    assert_true(no_auc > 0.6); /* the models remember the forget rows' noise labels */
    assert_true(floor_F > 0);
    /* final = F x retain ratio x test ratio, the ratios against the retrained population */
    assert_true(fabs(tsv_num(tsv, "retrain2", "final") - floor_F) < 0.05 * floor_F);
    check_intervals(tsv, "exact");
    check_intervals(tsv, "none");
    check_intervals(tsv, "retrain2");
    assert_true(tu_exists(tu_path(gdir, "gauge.h5")));

    /* the figures: drawn by score with gnuplot, next to their gnuplot commands */
    const char *pngs[] = {"gauge-F.png", "gauge-epsilon.png", "gauge-ks.png"};
    tu_assert_contains(r.out, "figures: ");
    assert_true(tu_exists(tu_path(gdir, "gauge.gp")));
    for (int k = 0; k < 3; k++) assert_true(is_png(tu_path(gdir, pngs[k])));
    /* scoring again writes the same gauge.tsv */
    tu_sisa(&r, "gauge", "score", gdir, "--no-figures", NULL);
    assert_int_equal(r.status, 0);
    char *again = tu_read_file(tu_path(gdir, "gauge.tsv"), NULL);
    assert_string_equal(tsv, again);
    free(again);
    free(tsv);
    /* without gnuplot the scores stand, the commands are written and a note says what to do */
    const char *fig = tu_path(dir, "g1-figures");
    char figdir[4096];
    snprintf(figdir, sizeof figdir, "%s", fig);
    setenv("SISA_GNUPLOT", "sisa-test-no-such-gnuplot", 1);
    tu_sisa(&r, "gauge", "score", gdir, "--figures", figdir, NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "no figures: sisa-test-no-such-gnuplot not found on PATH");
    assert_true(tu_exists(tu_path(figdir, "gauge.gp")));
    assert_int_equal(tu_count_entries(figdir), 1);
    /* a gnuplot that fails is an error, and leaves no half-drawn PNG */
    setenv("SISA_GNUPLOT", "false", 1);
    tu_sisa(&r, "gauge", "score", gdir, "--figures", figdir, NULL);
    assert_int_not_equal(r.status, 0);
    tu_assert_contains(r.err, "false failed drawing the figures");
    assert_int_equal(tu_count_entries(figdir), 1);
    unsetenv("SISA_GNUPLOT");
    /* the script is self-contained: gnuplot redraws from it alone */
    const char *redraw[] = {"sh", "-c", "cd \"$0\" && gnuplot gauge.gp", figdir, NULL};
    tu_run_argv(&r, redraw);
    assert_int_equal(r.status, 0);
    for (int k = 0; k < 3; k++) assert_true(is_png(tu_path(figdir, pngs[k])));

    /* a member that is done is not run again; one redone from a stale scratch store gives the
     * same bytes */
    char before[65], after[65];
    const char *res = tu_path(gdir, "members/task-00001.json");
    tu_sha_file(res, before);
    tu_sisa(&r, "gauge", "member", gdir, "--task", "1", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.err, "done already");
    assert_int_equal(remove(res), 0);
    assert_int_equal(mkdir(tu_path(gdir, "work/task-00001"), 0755), 0);
    tu_write_text(tu_path(gdir, "work/task-00001/manifest"), "a stale scratch store\n");
    tu_sisa(&r, "-q", "gauge", "member", gdir, "--task", "1", NULL);
    assert_int_equal(r.status, 0);
    tu_sha_file(res, after);
    assert_string_equal(before, after);
    /* under Slurm the task comes from the array index */
    assert_int_equal(remove(res), 0);
    setenv("SLURM_ARRAY_TASK_ID", "1", 1);
    tu_sisa(&r, "-q", "gauge", "member", gdir, NULL);
    unsetenv("SLURM_ARRAY_TASK_ID");
    assert_int_equal(r.status, 0);
    tu_sha_file(res, after);
    assert_string_equal(before, after);

    /* a second plan into the same folder is refused and changes nothing */
    tu_sha_file(tu_path(gdir, "plan.json"), before);
    tu_sisa(&r, "gauge", "plan", "-c", tu_path(dir, "g.yaml"), "-o", gdir, "--forget-random", "0.2",
            "--models", "8", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "already holds a gauge plan");
    tu_sha_file(tu_path(gdir, "plan.json"), after);
    assert_string_equal(before, after);

    /* a config changed after the plan: members refuse */
    tu_write_text(tu_path(dir, "g.yaml"), "seed: 7\n");
    FILE *f = fopen(tu_path(dir, "g.yaml"), "a");
    assert_non_null(f);
    fputs(config_text, f);
    fclose(f);
    assert_int_equal(remove(res), 0);
    tu_sisa(&r, "gauge", "member", gdir, "--task", "1", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "changed since the gauge plan was made");
    assert_false(tu_exists(res));
    tu_write_text(tu_path(dir, "g.yaml"), config_text);
}

static void test_bad_input(void **state)
{
    (void)state;
    tu_run r;
    char gdir[4096];
    snprintf(gdir, sizeof gdir, "%s", tu_path(dir, "g2"));
    const char *cfg = tu_path(dir, "g.yaml");
    /* an unknown forget ID: rejected (3), no plan */
    tu_write_text(tu_path(dir, "ids.txt"), "# forget these\n3\n17\n999999\n");
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gdir, "--forget-ids", tu_path(dir, "ids.txt"),
            "--models", "4", NULL);
    assert_int_equal(r.status, 3);
    tu_assert_contains(r.err, "sample ID 999999 is not in the training set");
    assert_false(tu_exists(tu_path(gdir, "plan.json")));
    /* an unknown method, too few models, both forget options */
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gdir, "--forget-random", "0.1", "--models", "4",
            "--methods", "exakt", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown method 'exakt'");
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gdir, "--forget-random", "0.1", "--models", "2",
            NULL);
    assert_int_equal(r.status, 2);
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gdir, "--forget-random", "0.1", "--forget-ids",
            tu_path(dir, "ids.txt"), "--models", "4", NULL);
    assert_int_equal(r.status, 2);
    assert_false(tu_exists(tu_path(gdir, "plan.json")));
    /* IDs from a file: duplicates merged */
    tu_write_text(tu_path(dir, "ids.txt"), "3\n17\n3\n");
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gdir, "--forget-ids", tu_path(dir, "ids.txt"),
            "--models", "4", "--methods", "none", NULL);
    assert_int_equal(r.status, 0);
    char *ids = tu_read_file(tu_path(gdir, "forget.txt"), NULL);
    tu_assert_contains(ids, "\n3\n17\n");
    free(ids);
    /* a task out of range, a folder without a plan, a damaged member file */
    tu_sisa(&r, "gauge", "member", gdir, "--task", "12", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "tasks 0..11");
    tu_sisa(&r, "gauge", "member", dir, "--task", "0", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "no gauge plan here");
    tu_sisa(&r, "-q", "gauge", "member", gdir, "--task", "0-11", NULL);
    assert_int_equal(r.status, 0);
    tu_write_text(tu_path(gdir, "members/task-00005.json"), "{\"format\": \"x\"}");
    tu_sisa(&r, "gauge", "score", gdir, NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, "task-00005.json: not the results of gauge member 5");
}

/* The text of record `method` in a member's results (from its '{' to its '}'). */
static char *record_of(const char *json, const char *method)
{
    char key[64];
    snprintf(key, sizeof key, "{\"method\": \"%s\"", method);
    const char *a = strstr(json, key);
    assert_non_null(a);
    const char *b = strchr(a, '}');
    assert_non_null(b);
    char *out = strndup(a, (size_t)(b - a + 1));
    assert_non_null(out);
    return out;
}

static double field_of(const char *rec, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *a = strstr(rec, k);
    assert_non_null(a);
    return atof(a + strlen(k));
}

static void test_approximate(void **state)
{
    (void)state;
    tu_run r;
    char ga[4096], gb[4096];
    snprintf(ga, sizeof ga, "%s", tu_path(dir, "ga"));
    snprintf(gb, sizeof gb, "%s", tu_path(dir, "gb"));
    const char *cfg = tu_path(dir, "g.yaml");
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", ga, "--forget-random", "0.1", "--models", "3",
            "--methods", "exact", NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", gb, "--forget-random", "0.1", "--models", "3",
            "--methods", "none,finetune,gradient-ascent,neggrad,random-labels,exact", "--ascent-lr",
            "0.5", "--ascent-steps", "40", NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "gauge", "member", ga, "--task", "0", NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "gauge", "member", gb, "--task", "0", NULL);
    assert_int_equal(r.status, 0);
    char *ja = tu_read_file(tu_path(ga, "members/task-00000.json"), NULL);
    char *jb = tu_read_file(tu_path(gb, "members/task-00000.json"), NULL);
    /* the approximate methods work in memory: exact unlearning after them is the same bits */
    char *ea = record_of(ja, "exact"), *eb = record_of(jb, "exact");
    assert_string_equal(ea, eb);
    assert_null(strstr(eb, "approximate"));
    char *none = record_of(jb, "none");
    const char *approx[] = {"finetune", "gradient-ascent", "neggrad", "random-labels"};
    for (int k = 0; k < 4; k++) {
        char *rec = record_of(jb, approx[k]);
        tu_assert_contains(rec, "\"approximate\": \"not an erasure\"");
        /* each changed the models: other confidences on the forget set than `none` */
        assert_string_not_equal(strstr(rec, "\"s\""), strstr(none, "\"s\""));
        if (!strcmp(approx[k], "gradient-ascent")) /* 40 steps of ascent at rate 0.5 */
            assert_true(field_of(rec, "acc_forget") < field_of(none, "acc_forget") - 0.2);
        free(rec);
    }
    free(none);
    free(ea);
    free(eb);
    free(ja);
    free(jb);
    assert_int_equal(tu_count_entries(tu_path(gb, "work")), 0);
    /* bad parameters */
    tu_sisa(&r, "gauge", "plan", "-c", cfg, "-o", tu_path(dir, "gc"), "--forget-random", "0.1",
            "--models", "3", "--neggrad-beta", "1", NULL);
    assert_int_equal(r.status, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_none),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_approximate),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
