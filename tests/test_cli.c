/*
 * test_cli.c - the `sisa` executable as users meet it: help, versions, argument errors, exit
 * statuses, interruption (Ctrl-C) leaving nothing behind, degenerate set-ups refused before any
 * work (too few rows for the shards and slices, stages smaller than a minibatch, a label typo
 * that would make a million classes), and the modes of every file and folder sisa creates.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tu_run r;

static void test_help(void **state)
{
    (void)state;
    tu_sisa(&r, "--help", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "usage: sisa");
    tu_assert_contains(r.out, "  import ");
    tu_assert_contains(r.out, "  info ");
    tu_assert_contains(r.out, "  config ");
    tu_assert_contains(r.out, "exit status: 0 success, 1 runtime failure");
    tu_sisa(&r, "help", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "commands:");

    /* sisa help CMD is sisa CMD --help, for every kind of command */
    const char *cmds[] = {"train", "unlearn", "impact", "import", "config", "status"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        tu_sisa(&r, cmds[i], "--help", NULL);
        assert_int_equal(r.status, 0);
        char *direct = strdup(r.out);
        tu_sisa(&r, "help", cmds[i], NULL);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, direct);
        free(direct);
    }
    tu_sisa(&r, "help", "trian", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown command 'trian' (did you mean 'train'?)");

    /* No command: usage on stderr and the usage exit status. */
    tu_sisa(&r, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "usage: sisa");
    assert_string_equal(r.out, "");
}

static void test_unknown_command_and_option(void **state)
{
    (void)state;
    tu_sisa(&r, "frobnicate", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown command 'frobnicate' (see 'sisa --help')");
    tu_sisa(&r, "unlern", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown command 'unlern' (did you mean 'unlearn'?)");
    tu_sisa(&r, "ver", NULL); /* every nearest command */
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "(did you mean 'verify' or 'version'?)");
    tu_sisa(&r, "outlier", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "(did you mean 'outliers'?)");
    /* short options take attached values (-cFILE); a flag does not */
    tu_sisa(&r, "config", "check", "-c/nonexistent/x.yaml", NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, "/nonexistent/x.yaml");
    tu_sisa(&r, "outliers", "-cx.yaml", "--method", "lof", "-oids.txt", "-fx", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "-f takes no value (in '-fx')");
    tu_sisa(&r, "--bogus", "import", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown global option '--bogus'");
}

static void test_version(void **state)
{
    (void)state;
    tu_sisa(&r, "--version", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "sisa 0.");
    tu_assert_contains(r.out, "Open MPI: Open MPI v");
    tu_assert_contains(r.out, "(MPI 3.");
    tu_assert_contains(r.out, "HDF5: 1.");
    tu_assert_contains(r.out, "OpenBLAS: 0.");
    tu_assert_contains(r.out, "(core ");
    tu_assert_contains(r.out, ", 1 thread)");
    tu_assert_contains(r.out, "libyaml: 0.");
    tu_assert_contains(r.out, "zlib: 1.");
    tu_assert_contains(r.out, "-ffp-contract=off");
    tu_run again;
    tu_sisa(&again, "version", NULL);
    assert_int_equal(again.status, 0);
    assert_string_equal(again.out, r.out);

    /* The core OpenBLAS reports follows OPENBLAS_CORETYPE, and the report says who chose it. */
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    tu_sisa(&r, "--version", NULL);
    unsetenv("OPENBLAS_CORETYPE");
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "(core Haswell, set by OPENBLAS_CORETYPE, 1 thread)");
}

static void test_import_usage_errors(void **state)
{
    (void)state;
    tu_sisa(&r, "import", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "which format?");
    tu_sisa(&r, "import", "parquet", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown format 'parquet'");

    tu_sisa(&r, "import", "idx", "--help", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "--images FILE");
    tu_assert_contains(r.out, "--labels FILE");
    tu_assert_contains(r.out, "-o, --output OUT.h5");
    tu_assert_contains(r.out, "--force");
    tu_assert_contains(r.out, "exit status:");

    tu_sisa(&r, "import", "idx", "--imagse", "a", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unknown option '--imagse' (did you mean --images?)");

    tu_sisa(&r, "import", "idx", "--labels", "l", "-o", "out.h5", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--images is required");

    tu_sisa(&r, "import", "idx", "--images", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--images needs a value (FILE)");

    tu_sisa(&r, "import", "idx", "--images", "a", "--images=b", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--images given twice");

    tu_sisa(&r, "import", "idx", "--images", "a", "--labels", "b", "-o", "c", "--id-offset", "-5",
            NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--id-offset: '-5' is not a non-negative integer");

    tu_sisa(&r, "import", "idx", "--images", "a", "--labels", "b", "-o", "c", "--scale", "0", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--scale must be a positive number");

    tu_sisa(&r, "import", "csv", "a.csv", "b.csv", "--label", "y", "-o", "x.h5", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "unexpected argument 'b.csv'");
}

static void test_runtime_error_and_debug_origin(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("missing"));
    const char *out = tu_path(dir, "out.h5");
    tu_sisa(&r, "-q", "import", "idx", "--images", "/nonexistent/images.gz", "--labels",
            "/nonexistent/labels.gz", "-o", out, NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, "sisa: error: ");
    tu_assert_contains(r.err, "/nonexistent/");
    assert_int_equal(tu_count_entries(dir), 0);

    setenv("SISA_DEBUG", "1", 1);
    tu_sisa(&r, "import", "idx", "--images", "/nonexistent/images.gz", "--labels",
            "/nonexistent/labels.gz", "-o", out, NULL);
    unsetenv("SISA_DEBUG");
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, ", raised at ");
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Ctrl-C in the middle of an import: the images arrive through a FIFO that the test stops
 * feeding half way, so the importer is blocked mid-stream when SIGINT arrives. It must exit with
 * 130 and leave neither the output nor a temp file. */
static void test_interrupt_leaves_nothing(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("interrupt"));
    char outdir[3000];
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    assert_int_equal(mkdir(outdir, 0777), 0);
    const uint32_t n = 100;

    unsigned char lab[8 + 100];
    memset(lab, 0, sizeof lab);
    lab[2] = 0x08;
    lab[3] = 1;
    put_be32(lab + 4, n);
    for (uint32_t i = 0; i < n; i++) lab[8 + i] = (unsigned char)(i % 10);
    char labels[4096], fifo[4096], out[4096];
    snprintf(labels, sizeof labels, "%s/labels.idx", dir);
    snprintf(fifo, sizeof fifo, "%s/images.fifo", dir);
    snprintf(out, sizeof out, "%s/train.h5", outdir);
    tu_write_file(labels, lab, sizeof lab);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const char *bin = getenv("SISA_BIN");
        execl(bin, bin, "import", "idx", "--images", fifo, "--labels", labels, "-o", out,
              (char *)NULL);
        _exit(127);
    }
    int fd = open(fifo, O_WRONLY); /* blocks until sisa opens the FIFO */
    assert_true(fd >= 0);
    unsigned char hdr[16] = {0, 0, 0x08, 3};
    put_be32(hdr + 4, n);
    put_be32(hdr + 8, 28);
    put_be32(hdr + 12, 28);
    unsigned char rows[10 * 784];
    memset(rows, 7, sizeof rows);
    assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(write(fd, rows, sizeof rows), (ssize_t)sizeof rows);
    sleep_ms(500); /* sisa is now blocked waiting for row 10 */
    assert_int_equal(kill(pid, SIGINT), 0);
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    close(fd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    assert_int_equal(tu_count_entries(outdir), 0);
}

/* ---- degenerate set-ups ------------------------------------------------------------------ */

/* A CSV of n rows: two features and label y = labels[i] (i % 3 without labels), IDs 100 + i. */
static void write_csv(const char *path, int n, const long long *labels)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,x1,x2,y\n");
    for (int i = 0; i < n; i++) {
        long long y = labels ? labels[i] : i % 3;
        fprintf(f, "%d,%d.5,%d,%lld\n", 100 + i, i % 7, (i * 5) % 11, y);
    }
    assert_int_equal(fclose(f), 0);
}

static void import_ok(const char *csv, const char *out)
{
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "--id", "id", "-o", out, "--force",
            NULL);
    if (r.status != 0) fail_msg("import %s failed (%d): %s", csv, r.status, r.err);
}

static void write_cfg(const char *path, const char *train, const char *store, int shards,
                      int slices, int batch)
{
    char text[10000];
    snprintf(text, sizeof text,
             "data: {train: %s}\n"
             "store: %s\n"
             "sisa: {shards: %d, slices: %d}\n"
             "model: {type: logreg}\n"
             "train: {optimizer: sgd, lr: 0.05, batch_size: %d, epochs: 1}\n",
             train, store, shards, slices, batch);
    tu_write_text(path, text);
}

/* Fewer rows than shards x slices is refused before the store folder exists, by train and by
 * config check, with the numbers and what to change; S x R rows or more train, and shards that
 * get no row are named in a warning. */
static void test_too_few_rows_refused(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("fewrows"));
    char csv[4096], data[4096], cfg[4096], store[4096];
    snprintf(csv, sizeof csv, "%s/five.csv", dir);
    snprintf(data, sizeof data, "%s/five.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/run.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    write_csv(csv, 5, NULL);
    import_ok(csv, data);

    write_cfg(cfg, data, store, 10, 1, 4);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "has 5 rows, fewer than sisa.shards x sisa.slices = 10 x 1 = 10");
    tu_assert_contains(r.err, data);
    tu_assert_contains(r.err, "Lower sisa.shards to 5 or fewer");
    assert_false(tu_exists(store)); /* refused before anything was created */
    tu_sisa(&r, "config", "check", "-c", cfg, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "has 5 rows, fewer than sisa.shards x sisa.slices = 10 x 1 = 10");

    /* The slices count too: 2 x 4 = 8 > 5. */
    write_cfg(cfg, data, store, 2, 4, 4);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "has 5 rows, fewer than sisa.shards x sisa.slices = 2 x 4 = 8");
    tu_assert_contains(r.err, "sisa.slices to 2 or fewer");
    assert_false(tu_exists(store));

    /* Enough rows in total (40 = 20 x 2), but some of 20 shards get none: a warning naming
     * them, not a refusal (train(D \ X) after deleting a whole shard has an empty shard too, and
     * unlearning is checked against it). */
    char csv40[4096], data40[4096];
    snprintf(csv40, sizeof csv40, "%s/forty.csv", dir);
    snprintf(data40, sizeof data40, "%s/forty.h5", dir);
    write_csv(csv40, 40, NULL);
    import_ok(csv40, data40);
    char store40[4096];
    snprintf(store40, sizeof store40, "%s/store40", dir);
    write_cfg(cfg, data40, store40, 20, 2, 4);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.err, "warning: ");
    tu_assert_contains(r.err, " of 20 shards get no row of ");
    tu_assert_contains(r.err, "they have no model and stay out of the ensemble");

    /* 2 x 2 = 4 <= 5: trains. */
    write_cfg(cfg, data, store, 2, 2, 4);
    tu_sisa(&r, "config", "check", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_exists(tu_path(store, "manifest")));
}

/* A store that exists is never refused for having fewer rows now: deletions shrink it, and the
 * dataset may have been cut to match. */
static void test_existing_store_not_refused(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("fewrows_existing"));
    char csv[4096], data[4096], cfg[4096], store[4096];
    snprintf(csv, sizeof csv, "%s/rows.csv", dir);
    snprintf(data, sizeof data, "%s/rows.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/run.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    write_csv(csv, 12, NULL);
    import_ok(csv, data);
    write_cfg(cfg, data, store, 2, 4, 4);
    tu_sisa(&r, "-q", "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "unlearn", "-c", cfg, "--ids", "100,101,102,103,104,105", NULL);
    assert_int_equal(r.status, 0);
    /* The user deletes the rows from the dataset too (docs/guarantees.md): 6 rows < 2 x 4. */
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "id,x1,x2,y\n");
    for (int i = 6; i < 12; i++) fprintf(f, "%d,%d.5,%d,%d\n", 100 + i, i % 7, (i * 5) % 11, i % 3);
    assert_int_equal(fclose(f), 0);
    import_ok(csv, data);
    tu_sisa(&r, "config", "check", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    if (r.status != 0) fail_msg("train refused an existing store (%d): %s", r.status, r.err);
    tu_assert_contains(r.out, "is up to date");
}

/* Stages whose rows are fewer than one minibatch are named in a warning, by train (actual rows
 * per stage) and by config check (expected rows from the dataset's header). */
static void test_small_stage_warning(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("smallstage"));
    char csv[4096], data[4096], cfg[4096], store[4096];
    snprintf(csv, sizeof csv, "%s/rows.csv", dir);
    snprintf(data, sizeof data, "%s/rows.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/run.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    write_csv(csv, 400, NULL);
    import_ok(csv, data);

    /* 200 rows per shard in 16 slices: stage r has about 12.5 r rows, below 64 up to stage 5. */
    write_cfg(cfg, data, store, 2, 16, 64);
    tu_sisa(&r, "config", "check", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.err, "warning: ");
    tu_assert_contains(r.err, "stages 1-5 of 16 are expected to train on fewer rows than one "
                              "minibatch (train.batch_size 64)");
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.err, "warning: ");
    tu_assert_contains(r.err, "fewer rows than one minibatch (train.batch_size 64)");
    tu_assert_contains(r.err, "stages 1-");

    /* Big enough stages: no warning from either. */
    char store2[4096];
    snprintf(store2, sizeof store2, "%s/store2", dir);
    write_cfg(cfg, data, store2, 2, 2, 16);
    tu_sisa(&r, "config", "check", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.err, "warning"));
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.err, "minibatch"));
}

/* One label typo (1048575) must not make a million classes: import refuses it naming the line
 * and the value; with --num-classes it is accepted, and `info` summarises the class list. */
static void test_label_typo_refused(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("labeltypo"));
    char csv[4096], data[4096], svm[4096];
    snprintf(csv, sizeof csv, "%s/typo.csv", dir);
    snprintf(data, sizeof data, "%s/typo.h5", dir);
    snprintf(svm, sizeof svm, "%s/typo.svm", dir);
    long long labels[30];
    for (int i = 0; i < 30; i++) labels[i] = i % 3;
    labels[17] = 1048575; /* line 19 of the file */
    write_csv(csv, 30, labels);

    tu_sisa(&r, "import", "csv", csv, "--label", "y", "-o", data, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, csv);
    tu_assert_contains(r.err, ":19: column 'y': label 1048575 would make 1048576 classes");
    tu_assert_contains(r.err, "did a label go wrong? pass --num-classes N if you really have N "
                              "classes");
    assert_false(tu_exists(data));

    /* libsvm: the same, naming the line. */
    tu_write_text(svm, "0 1:1\n1 1:2\n2 2:1\n5000 1:3\n");
    tu_sisa(&r, "import", "libsvm", svm, "-o", data, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, ":4: label 5000 would make 5001 classes");
    assert_false(tu_exists(data));

    /* 1000 classes are inferred without a word; --num-classes allows more. */
    tu_write_text(svm, "0 1:1\n999 1:2\n");
    tu_sisa(&r, "-q", "import", "libsvm", svm, "-o", data, NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "-o", data, "--force", "--num-classes",
            "1048576", NULL);
    assert_int_equal(r.status, 0);
}

/* sisa plan-tiers on the example: 10 % of the rows draw 90 % of the requests, S = 8.
 * sqrt(P_t n_t) is the same for both tiers, so 4 + 4 shards, and a request retrains
 * 0.1 * 900 / 4 + 0.9 * 100 / 4 = 45 rows against 1000 / 8 = 125 under uniform sharding. */
static void test_plan_tiers(void **state)
{
    (void)state;
    char dir[2048], csv[2200], data[2200], plain[2200], cfg[2200], tcfg[2200], pcfg[2200];
    snprintf(dir, sizeof dir, "%s", tu_scratch("plantiers"));
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    snprintf(data, sizeof data, "%s/d.h5", dir);
    snprintf(plain, sizeof plain, "%s/plain.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/uniform.yaml", dir);
    snprintf(tcfg, sizeof tcfg, "%s/tiered.yaml", dir);
    snprintf(pcfg, sizeof pcfg, "%s/plain.yaml", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "id,risk,a,y\n");
    for (int i = 0; i < 1000; i++) fprintf(f, "%d,%d,%d,%d\n", i, i % 10 == 3, i % 7, i % 2);
    fclose(f);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "--id", "id", "--risk", "risk", "-o",
            data, NULL);
    assert_int_equal(r.status, 0);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "--id", "id", "-o", plain, NULL);
    assert_int_equal(r.status, 0);
    /* info counts the rows of each tier (every tenth row is tier 1). */
    tu_sisa(&r, "info", data, NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "risk tiers:  0: 900 rows, 1: 100 rows\n");
    tu_sisa(&r, "info", "--json", data, NULL);
    tu_assert_contains(r.out, "\"risk_counts\": [900, 100]");
    tu_sisa(&r, "info", "--json", plain, NULL);
    tu_assert_contains(r.out, "\"risk_counts\": null");
    tu_write_text(cfg, "data: {train: d.h5}\nstore: s\nsisa: {shards: 8, slices: 4}\n");
    tu_write_text(tcfg, "data: {train: d.h5}\nstore: s\nsisa: {slices: 4, sharding: tiered, "
                        "tiers: [{shards: 6}, {shards: 2, last_slice: true}]}\n");
    tu_write_text(pcfg, "data: {train: plain.h5}\nstore: s\nsisa: {shards: 1, slices: 4}\n");

    tu_sisa(&r, "plan-tiers", "-c", cfg, "--rates", "1,9", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "1000 rows in 2 risk tiers, 8 shards x 4 slices, 5 epochs");
    tu_assert_contains(r.out, "  uniform             125.0");
    tu_assert_contains(r.out, "  suggested            45.0");
    tu_assert_contains(r.out, "2.78x fewer rows than uniform");
    tu_assert_contains(r.out, "suggested sisa.tiers: [{shards: 4}, {shards: 4}]\n");
    assert_null(strstr(r.out, "config"));
    /* The tiered config's own split (6 + 2, the high-risk tier in the last slice) beside it:
     * 0.1 * 900 / 6 + 0.9 * 100 / 2 = 60 rows; its last_slice stays in the suggestion. */
    tu_sisa(&r, "plan-tiers", "-c", tcfg, "--rates", "1,9", "--json", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out,
                       "\"suggested_shards\": 4, \"last_slice\": true, \"config_shards\": 2");
    tu_assert_contains(r.out, "\"uniform\": {\"rows\": 125, ");
    tu_assert_contains(r.out, "\"config\": {\"rows\": 60, ");
    tu_assert_contains(r.out, "\"suggested\": {\"rows\": 45, ");
    tu_sisa(&r, "plan-tiers", "-c", tcfg, "--rates", "1,9", NULL);
    tu_assert_contains(r.out, "[{shards: 4}, {shards: 4, last_slice: true}]");

    /* Usage errors: exit 2, naming the problem. */
    tu_sisa(&r, "plan-tiers", "-c", tcfg, "--rates", "1", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--rates gives 1 rate but");
    tu_assert_contains(r.err, "lists 2 tiers in sisa.tiers");
    tu_sisa(&r, "plan-tiers", "-c", cfg, "--rates", "1", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "row 3 of");
    tu_assert_contains(r.err, "has risk tier 1, but --rates gives rates for tiers 0..0");
    tu_sisa(&r, "plan-tiers", "-c", cfg, "--rates", "1,x", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "--rates '1,x': 'x' is not a non-negative number");
    tu_sisa(&r, "plan-tiers", "-c", cfg, "--rates", "0,0", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "every rate is 0");
    tu_sisa(&r, "plan-tiers", "-c", pcfg, "--rates", "1", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "has no risk column, so its rows have no tiers to plan (import it "
                              "with --risk COLUMN)");
    tu_write_text(pcfg, "data: {train: d.h5}\nstore: s\nsisa: {shards: 1, slices: 4}\n");
    tu_sisa(&r, "plan-tiers", "-c", pcfg, "--rates", "1,1", NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "1 shards for 2 tiers: every tier needs a shard of its own");
    tu_sisa(&r, "plan-tiers", "-c", cfg, NULL);
    assert_int_equal(r.status, 2);

    /* config check: a tiered config whose dataset has no risk column is refused up front. */
    tu_write_text(pcfg, "data: {train: plain.h5}\nstore: s\nsisa: {slices: 2, sharding: tiered, "
                        "tiers: [{shards: 2}, {shards: 1, last_slice: true}]}\n");
    tu_sisa(&r, "config", "check", "-c", pcfg, NULL);
    assert_int_equal(r.status, 2);
    tu_assert_contains(r.err, "sisa.sharding is 'tiered' but");
    tu_assert_contains(r.err, "plain.h5 has no risk column (import it with --risk COLUMN)");
    tu_sisa(&r, "config", "check", "-c", tcfg, NULL);
    assert_int_equal(r.status, 0);
}

/* A file that does have a million classes (declared with --num-classes): `info` prints the
 * first classes and a summary, not a million lines; --all-classes lists every class. */
static void test_info_many_classes(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("manyclasses"));
    char csv[4096], data[4096];
    snprintf(csv, sizeof csv, "%s/typo.csv", dir);
    snprintf(data, sizeof data, "%s/typo.h5", dir);
    long long labels[30];
    for (int i = 0; i < 30; i++) labels[i] = i % 3;
    labels[17] = 1048575;
    write_csv(csv, 30, labels);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "-o", data, "--num-classes", "1048576",
            NULL);
    assert_int_equal(r.status, 0);

    /* info: the first classes, then a summary, not a million lines. */
    tu_sisa(&r, "info", data, NULL);
    assert_int_equal(r.status, 0);
    int lines = 0;
    for (const char *p = r.out; *p; p++) lines += *p == '\n';
    assert_true(lines < 40);
    tu_assert_contains(r.out, "classes:     1048576 (4 with rows, 1048572 empty)");
    tu_assert_contains(r.out, "  class 19 ");
    assert_null(strstr(r.out, "  class 20 "));
    tu_assert_contains(r.out, "... 1048556 more classes: 1 with rows (class 1048575: 1 row), "
                              "1048555 empty; --all-classes lists them");
    tu_sisa(&r, "info", data, "--all-classes", NULL); /* (r.out keeps the first 64 KiB) */
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "  class 20 ");
    tu_assert_contains(r.out, "  class 1000 ");
    assert_null(strstr(r.out, "more classes"));
    tu_sisa(&r, "info", data, "--json", NULL);
    assert_int_equal(r.status, 0);
    tu_assert_contains(r.out, "\"num_classes\": 1048576, \"empty_classes\": 1048572, ");
}

/* ---- file modes --------------------------------------------------------------------------- */

/* Every entry under `path` (and `path` itself): folders must be dir_mode, files file_mode. */
static int check_modes(const char *path, mode_t dir_mode, mode_t file_mode, int *count)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    (*count)++;
    if (S_ISDIR(st.st_mode)) {
        int bad = 0;
        if ((st.st_mode & 07777) != dir_mode) {
            print_error("folder %s has mode %04o, expected %04o\n", path,
                        (unsigned)(st.st_mode & 07777), (unsigned)dir_mode);
            bad = 1;
        }
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            bad += check_modes(child, dir_mode, file_mode, count);
        }
        closedir(d);
        return bad;
    }
    if ((st.st_mode & 07777) != file_mode) {
        print_error("file %s has mode %04o, expected %04o\n", path, (unsigned)(st.st_mode & 07777),
                    (unsigned)file_mode);
        return 1;
    }
    return 0;
}

/* A whole life cycle under one umask: every file and folder sisa created is private (0600 and
 * 0700, narrowed by the umask). Folders the user made keep their own modes. */
static void modes_under_umask(mode_t mask, const char *name)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch(name));
    chmod(dir, 0755);
    char csv[4096], data[4096], cfg[4096], store[4096], pred[4096], cert[4096];
    snprintf(csv, sizeof csv, "%s/rows.csv", dir);
    snprintf(data, sizeof data, "%s/rows.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/run.yaml", dir);
    snprintf(store, sizeof store, "%s/runs/a/store", dir); /* the parents are sisa's too */
    snprintf(pred, sizeof pred, "%s/pred.h5", dir);
    snprintf(cert, sizeof cert, "%s/cert.json", dir);
    write_csv(csv, 60, NULL);
    write_cfg(cfg, data, store, 2, 2, 8);

    mode_t old = umask(mask);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "--id", "id", "-o", data, NULL);
    int st_import = r.status;
    tu_sisa(&r, "-q", "train", "-c", cfg, NULL);
    int st_train = r.status;
    tu_sisa(&r, "-q", "unlearn", "-c", cfg, "--ids", "101,117", NULL);
    int st_unlearn = r.status;
    tu_sisa(&r, "-q", "verify", "-c", cfg, NULL); /* certificate inside the store */
    int st_verify = r.status;
    tu_sisa(&r, "-q", "verify", "-c", cfg, "-o", cert, NULL);
    int st_verify2 = r.status;
    tu_sisa(&r, "-q", "predict", "-c", cfg, "-i", data, "-o", pred, NULL);
    int st_predict = r.status;
    umask(old);
    assert_int_equal(st_import, 0);
    assert_int_equal(st_train, 0);
    assert_int_equal(st_unlearn, 0);
    assert_int_equal(st_verify, 0);
    assert_int_equal(st_verify2, 0);
    assert_int_equal(st_predict, 0);

    const mode_t fmode = 0600 & ~mask, dmode = 0700 & ~mask;
    int count = 0, bad = 0;
    char runs[4096];
    snprintf(runs, sizeof runs, "%s/runs", dir);
    bad += check_modes(runs, dmode, fmode, &count);
    bad += check_modes(data, dmode, fmode, &count);
    bad += check_modes(pred, dmode, fmode, &count);
    bad += check_modes(cert, dmode, fmode, &count);
    assert_true(tu_exists(tu_path(store, "certificates")));
    assert_true(tu_exists(tu_path(store, "ledger")));
    assert_true(count > 15);
    assert_int_equal(bad, 0);
    /* The user's own folder and files are left as they were. */
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_private_modes(void **state)
{
    (void)state;
    modes_under_umask(022, "modes022");
    modes_under_umask(0, "modes000"); /* private even when the umask allows everything */
    modes_under_umask(027, "modes027");
    modes_under_umask(077, "modes077");
}

/* The umask narrows further: with write permission masked the dataset is read-only (0400).
 * Only root can go on writing into such files, so only root runs this part. */
static void test_umask_narrows(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", tu_scratch("modes_narrow"));
    char csv[4096], data[4096];
    snprintf(csv, sizeof csv, "%s/rows.csv", dir);
    snprintf(data, sizeof data, "%s/rows.h5", dir);
    write_csv(csv, 20, NULL);
    mode_t old = umask(0277);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "y", "-o", data, NULL);
    umask(old);
    assert_int_equal(r.status, 0);
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0400);
}

/* Whether process `pid` has SIGTERM pending (not yet handled) and whether it catches it, from
 * /proc/PID/status (ShdPnd, SigPnd and SigCgt are hex masks; SIGTERM is bit 15 - 1). */
static void term_state(pid_t pid, int *pending, int *caught)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    *pending = *caught = 0;
    const unsigned long long bit = 1ull << (SIGTERM - 1);
    while (fgets(line, sizeof line, f)) {
        unsigned long long mask = 0;
        if (sscanf(line, "ShdPnd: %llx", &mask) == 1 || sscanf(line, "SigPnd: %llx", &mask) == 1)
            *pending |= (mask & bit) != 0;
        if (sscanf(line, "SigCgt: %llx", &mask) == 1) *caught = (mask & bit) != 0;
    }
    fclose(f);
}

/* Send SIGTERM to a running `pid` and wait until its handler has taken it; fail if it ends. */
static void term_and_wait(pid_t pid, const char *what)
{
    int pending = 1, caught = 0, status = 0;
    assert_int_equal(kill(pid, SIGTERM), 0);
    for (int i = 0; i < 5000 && pending; i++) {
        sleep_ms(1);
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("%s ended sisa (%s %d)", what, WIFSIGNALED(status) ? "signal" : "status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        term_state(pid, &pending, &caught);
    }
    assert_false(pending);
}

/* CPU time used by `pid` so far, in clock ticks (utime + stime of /proc/PID/stat). */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    assert_non_null(p);
    long utime = 0, stime = 0;
    /* After the command's ")": fields 3 (state) to 13, then utime and stime. */
    int got = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
    assert_int_equal(got, 2);
    return utime + stime;
}

/* Start `sisa train -c cfg`, wait until it catches SIGTERM and has used half a second of CPU:
 * past opening and partitioning, inside its first (long) stage. */
static pid_t start_train(const char *cfg)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const char *bin = getenv("SISA_BIN");
        execl(bin, bin, "train", "-c", cfg, (char *)NULL);
        _exit(127);
    }
    int pending = 0, caught = 0;
    for (int i = 0; i < 10000 && !caught; i++) {
        sleep_ms(1);
        term_state(pid, &pending, &caught);
    }
    assert_true(caught);
    long hz = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < 60000 && cpu_ticks(pid) < hz / 2; i++) sleep_ms(1);
    assert_true(cpu_ticks(pid) >= hz / 2);
    return pid;
}

/* Slurm sends TERM to a job's tasks twice at a time limit, milliseconds apart: that is one stop
 * request, which must not kill sisa (it stops at the next stage boundary, as test_exact shows).
 * A stop signal repeated later is the user insisting: it ends the process at once. The training
 * run has a stage far longer than the test, which kills it. */
static void test_stop_signal_repeats(void **state)
{
    (void)state;
    char dir[2048], csv[4096], cfg[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("stoprepeat"));
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "label,a,b,c,d\n");
    for (int i = 0; i < 2000; i++)
        fprintf(f, "%d,%d,%d,%d,%d\n", i % 3, i % 7, i % 11, i % 13, i % 3 + i % 5);
    assert_int_equal(fclose(f), 0);
    tu_sisa(&r, "-q", "import", "csv", csv, "--label", "label", "-o", tu_path(dir, "d.h5"), NULL);
    assert_int_equal(r.status, 0);
    snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
    tu_write_text(cfg, "data: {train: d.h5}\nstore: st\nsisa: {shards: 1, slices: 1}\n"
                       "model: {type: mlp, hidden: [512, 512]}\ntrain: {epochs: 10000}\n");

    /* Two TERMs milliseconds apart: sisa goes on towards the end of its stage (exit 75 there);
     * it must not die of the second TERM. */
    pid_t pid = start_train(cfg);
    term_and_wait(pid, "the first TERM");
    term_and_wait(pid, "a TERM repeated within milliseconds");
    sleep_ms(300);
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == 0) { /* still training: the stage is far from its end */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_true(waitpid(pid, &status, 0) == pid);
    } else {
        assert_true(w == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 75)
            fail_msg("after two TERMs sisa ended with %s %d, not status 75",
                     WIFSIGNALED(status) ? "signal" : "status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }

    /* A TERM over 2 s after the first ends sisa at once. It is stopped right after taking the
     * first, so that it stays in its stage meanwhile. */
    pid = start_train(cfg);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(kill(pid, SIGCONT), 0);
    int pending = 1, caught = 0;
    for (int i = 0; i < 10000 && pending; i++) {
        term_state(pid, &pending, &caught);
        if (pending) sleep_ms(1);
    }
    assert_int_equal(kill(pid, SIGSTOP), 0);
    assert_false(pending);
    sleep_ms(2100);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_true(waitpid(pid, &status, 0) == pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
        fail_msg("a TERM 2 s after the first did not end sisa at once (%s %d)",
                 WIFSIGNALED(status) ? "signal" : "status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* The reproduction: a config in a folder reached through a symbolic link, with
 * relative paths using "..". Run from inside the linked folder and by an absolute path through
 * the link, it names one store: the second train finds it up to date, and a deletion made
 * through one name is seen through the other (with textual ".." there were two stores, and
 * the row stayed in one of them). */
static void test_one_config_one_store(void **state)
{
    (void)state;
    char dir[2048], phys[4096], cwd[4096], csv[4096], cfg[4096], expect[4400];
    snprintf(dir, sizeof dir, "%s", tu_scratch("onestore"));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_non_null(getcwd(phys, sizeof phys));
    assert_int_equal(chdir(cwd), 0);

    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "label,a,b,c\n");
    for (int i = 0; i < 200; i++)
        fprintf(f, "%d,%.3f,%.3f,%.3f\n", i % 2, (i % 2) + (i % 7) / 7.0, (i % 5) / 5.0,
                (i % 3) / 3.0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx"), 0777), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx/deep"), 0777), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx/deep/run"), 0777), 0);
    assert_int_equal(symlink("deep/run", tu_path(dir, "lx/runlink")), 0);
    const char *outs[] = {"lx/d.h5", "lx/deep/d.h5"};
    for (int i = 0; i < 2; i++) {
        tu_sisa(&r, "-q", "import", "csv", csv, "--label", "label", "-o", tu_path(dir, outs[i]),
                NULL);
        if (r.status != 0) fail_msg("import failed:\n%s", r.err);
    }
    tu_write_text(tu_path(dir, "lx/deep/run/cfg.yaml"),
                  "data: {train: ../d.h5}\nstore: ../st\nseed: 3\n"
                  "sisa: {shards: 2, slices: 1}\nmodel: {type: logreg}\ntrain: {epochs: 1}\n");
    snprintf(cfg, sizeof cfg, "%s/lx/runlink/cfg.yaml", dir);

    /* (cd lx/runlink && sisa train -c cfg.yaml), then the absolute path through the link. */
    assert_int_equal(chdir(tu_path(dir, "lx/runlink")), 0);
    tu_sisa(&r, "-q", "train", "-c", "cfg.yaml", NULL);
    assert_int_equal(chdir(cwd), 0);
    if (r.status != 0) fail_msg("train failed (%d):\n%s", r.status, r.err);
    snprintf(expect, sizeof expect, "store %s/lx/deep/st (ID ", phys);
    tu_assert_contains(r.out, expect);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    if (r.status != 0) fail_msg("train failed (%d):\n%s", r.status, r.err);
    snprintf(expect, sizeof expect, "store %s/lx/deep/st is up to date", phys);
    tu_assert_contains(r.out, expect);
    assert_false(tu_exists(tu_path(dir, "lx/st")));

    /* Delete row 100 through the absolute path; through the other name it is gone already. */
    tu_sisa(&r, "-q", "unlearn", "-c", cfg, "--ids", "100", NULL);
    if (r.status != 0) fail_msg("unlearn failed (%d):\n%s", r.status, r.err);
    assert_false(tu_exists(tu_path(dir, "lx/st")));
    assert_int_equal(chdir(tu_path(dir, "lx/runlink")), 0);
    tu_sisa(&r, "unlearn", "-c", "cfg.yaml", "--ids", "100", NULL);
    assert_int_equal(chdir(cwd), 0);
    if (r.status != 0) fail_msg("unlearn failed (%d):\n%s%s", r.status, r.out, r.err);
    tu_assert_contains(r.out, "nothing to delete: every requested row is already deleted");

    /* sisa config show prints the resolved, physical paths, whichever name is used. */
    const char *names[] = {cfg, tu_path(dir, "lx/deep/run/cfg.yaml")};
    for (int i = 0; i < 2; i++) {
        tu_sisa(&r, "config", "show", "-c", names[i], NULL);
        assert_int_equal(r.status, 0);
        snprintf(expect, sizeof expect, "  train: \"%s/lx/deep/d.h5\"\n", phys);
        tu_assert_contains(r.out, expect);
        snprintf(expect, sizeof expect, "store: \"%s/lx/deep/st\"\n", phys);
        tu_assert_contains(r.out, expect);
    }
}

/* A path of exactly `n` bytes under `base` (which exists): folders of at most 200 bytes are made
 * down to the last component, which is left to be created. */
static void make_long_path(char *out, const char *base, size_t n)
{
    size_t len = (size_t)snprintf(out, 4096, "%s", base);
    while (n - len > 201) {
        out[len++] = '/';
        memset(out + len, 'd', 199);
        len += 199;
        out[len] = '\0';
        assert_true(mkdir(out, 0777) == 0 || errno == EEXIST);
    }
    out[len++] = '/';
    memset(out + len, 's', n - len);
    out[n] = '\0';
}

static int ends_with(const char *s, const char *end)
{
    size_t a = strlen(s), b = strlen(end);
    return a >= b && !strcmp(s + a - b, end);
}

/* The reproduction: a store path of 4 077 bytes passed `sisa config check`, and `train`
 * then failed with its message cut at 1 KiB, before the reason. Now the check refuses it,
 * naming the limit, and messages with long paths keep their end. */
static void test_long_paths(void **state)
{
    (void)state;
    char dir[2048], phys[4096], cwd[4096], store[4200], data[4200], text[9000];
    snprintf(dir, sizeof dir, "%s", tu_scratch("longpaths"));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_non_null(getcwd(phys, sizeof phys));
    assert_int_equal(chdir(cwd), 0);
    const char *cfg = tu_path(dir, "long.yaml");

    make_long_path(store, phys, 4077);
    snprintf(text, sizeof text, "data: {train: %s/d.h5}\nstore: \"%s\"\n", phys, store);
    tu_write_text(cfg, text);
    const char *reason = "a store's path may have at most 3895 bytes, so that the paths of the "
                         "files sisa makes in it (200 bytes are kept for their names) stay within "
                         "the system's limit of 4095 bytes\n";
    const char *cmds[] = {"config", "train"};
    for (int i = 0; i < 2; i++) {
        const char *argv[] = {cmds[i], i == 0 ? "check" : "-c", i == 0 ? "-c" : cfg,
                              i == 0 ? cfg : NULL, NULL};
        tu_sisa_argv(&r, argv);
        assert_int_equal(r.status, 2);
        assert_string_equal(r.out, "");
        tu_assert_contains(r.err, "2:8: 'store' resolves to a path of 4077 bytes");
        if (!ends_with(r.err, reason)) fail_msg("the reason is missing:\n%s", r.err);
        assert_true(strlen(r.err) < 1100);
    }
    /* At the limit the store works: the reserve covers the deepest paths sisa makes in it
     * (shard checkpoints, temp files, a certificate written by verify). */
    store[strlen(store) - (4077 - 3895)] = '\0';
    snprintf(text, sizeof text, "%s/d.csv", phys);
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fprintf(f, "label,a,b\n");
    for (int i = 0; i < 60; i++) fprintf(f, "%d,%d,%d\n", i % 2, i % 2 + i % 3, i % 5);
    assert_int_equal(fclose(f), 0);
    tu_sisa(&r, "-q", "import", "csv", text, "--label", "label", "-o", tu_path(phys, "d.h5"), NULL);
    assert_int_equal(r.status, 0);
    snprintf(text, sizeof text,
             "data: {train: %s/d.h5}\nstore: \"%s\"\nsisa: {shards: 2, slices: 2}\n"
             "model: {type: logreg}\ntrain: {epochs: 1}\n",
             phys, store);
    tu_write_text(cfg, text);
    const char *steps[][7] = {{"config", "check", "-c", cfg, NULL},
                              {"-q", "train", "-c", cfg, NULL},
                              {"-q", "unlearn", "-c", cfg, "--ids", "7"},
                              {"-q", "verify", "-c", cfg, NULL}};
    for (int i = 0; i < 4; i++) {
        tu_sisa_argv(&r, steps[i]);
        if (r.status != 0) fail_msg("sisa %s failed (%d):\n%s", steps[i][1], r.status, r.err);
    }
    snprintf(text, sizeof text, "%s/certificates/request-1.json", store);
    assert_true(tu_exists(text));

    /* A runtime error naming a dataset path of 3 500 bytes ends with its reason. */
    make_long_path(data, phys, 3500);
    snprintf(text, sizeof text, "data: {train: \"%s\"}\nstore: %s/st\n", data, phys);
    tu_write_text(cfg, text);
    tu_sisa(&r, "train", "-c", cfg, NULL);
    assert_int_equal(r.status, 1);
    tu_assert_contains(r.err, "sisa: error: cannot open ");
    if (!ends_with(r.err, "sss: No such file or directory\n"))
        fail_msg("the reason is missing:\n%s", r.err);
    assert_true(strlen(r.err) < 1100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_unknown_command_and_option),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_import_usage_errors),
        cmocka_unit_test(test_plan_tiers),
        cmocka_unit_test(test_runtime_error_and_debug_origin),
        cmocka_unit_test(test_interrupt_leaves_nothing),
        cmocka_unit_test(test_too_few_rows_refused),
        cmocka_unit_test(test_existing_store_not_refused),
        cmocka_unit_test(test_small_stage_warning),
        cmocka_unit_test(test_label_typo_refused),
        cmocka_unit_test(test_info_many_classes),
        cmocka_unit_test(test_private_modes),
        cmocka_unit_test(test_umask_narrows),
        cmocka_unit_test(test_stop_signal_repeats),
        cmocka_unit_test(test_one_config_one_store),
        cmocka_unit_test(test_long_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
