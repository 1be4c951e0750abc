/*
 * test_repair.c - `sisa repair` through the real binary, on stores with two certified deletion
 * requests (rows 1003 and 1010, then 1020):
 *
 *   - every kind of damage it rebuilds (the store journal, a shard's journal or folder, a shard
 *     data file, a checkpoint, a cut, missing or edited ledger): a dry run first changes
 *     nothing; then repair exits 0, every data file and checkpoint is bit for bit what it was
 *     before the damage, sisa verify and sisa audit pass, status exits 0, the deleted rows are
 *     known as deleted and are in no shard, and files sisa did not write are still there;
 *   - what it cannot rebuild (the salt, a changed dataset, the journal and the ledger both):
 *     exit 1 naming what to restore, and not a byte of the store changes;
 *   - a whole store, a busy store (exit 75; a dry run still works), usage and config errors.
 */
#include "testutil.h"

#include "io/store_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_ROWS 240

static char dir[4096];

/* A CSV of n rows (id, label, 4 features: three noisy classes; `tweak` changes one value),
 * imported with sisa. */
static void make_dataset(const char *h5, int n, int id0, int tweak)
{
    char csv[4200];
    snprintf(csv, sizeof csv, "%s.csv", h5);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "id,label,a,b,c,d\n");
    unsigned s = 12345u + (unsigned)id0;
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        fprintf(f, "%d,%d", id0 + i, c);
        for (int j = 0; j < 4; j++) {
            s = s * 1103515245u + 12345u;
            double u = (double)((s >> 8) & 0xffff) / 65536.0;
            if (tweak && i == 7 && j == 0) u = 0.125;
            fprintf(f, ",%.4f", (j % 3 == c ? 1.0 : 0.0) + (u - 0.5));
        }
        fprintf(f, "\n");
    }
    fclose(f);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "-q", "import", "csv", csv, "--label", "label", "--id", "id", "-o", h5, "--force",
            NULL);
    if (r->status != 0) fail_msg("import failed: %s", r->err);
    free(r);
    unlink(csv);
}

static const char *write_config(const char *cfg_dir, const char *name, const char *store,
                                const char *train, int seed)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", cfg_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "data:\n  train: %s\nstore: %s\nseed: %d\nsisa:\n  shards: 3\n  slices: 2\n"
            "model:\n  type: mlp\n  hidden: [8]\ntrain:\n  optimizer: sgd\n  lr: 0.05\n"
            "  batch_size: 16\n  epochs: 2\naggregate:\n  strategy: mean\n",
            train, store, seed);
    fclose(f);
    return path;
}

/* Every file under `root` with its SHA-256 (folders too), sorted, one per line. Files whose
 * name is in `skip` (NULL-terminated; matched on the name alone) are left out. */
static void snapshot_into(const char *root, const char *rel, const char *const *skip, char *out,
                          size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    struct dirent **list = NULL;
    int n = scandir(path, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        int skipped = !strcmp(name, ".") || !strcmp(name, "..");
        for (size_t s = 0; skip && skip[s] && !skipped; s++) skipped = !strcmp(name, skip[s]);
        if (!skipped) {
            char child_rel[4200], child[8400];
            snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", name);
            snprintf(child, sizeof child, "%s/%s", root, child_rel);
            struct stat st;
            size_t used = strlen(out);
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                snprintf(out + used, cap - used, "%s/\n", child_rel);
                snapshot_into(root, child_rel, skip, out, cap);
            } else {
                char sha[65];
                tu_sha_file(child, sha);
                snprintf(out + used, cap - used, "%s %s\n", child_rel, sha);
            }
        }
        free(list[i]);
    }
    free(list);
}

static char *snapshot(const char *root, const char *const *skip)
{
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    snapshot_into(root, "", skip, buf, 1 << 20);
    return buf;
}

static void expect_status(const tu_run *r, int status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", what, r->status, status,
                 r->out, r->err);
}

/* A trained store in dir/NAME/store with two certified deletion requests; the config's path in
 * cfg_out. */
static void trained_with_deletions(const char *name, char *cfg_out, size_t cap)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/%s", dir, name);
    mkdir(sub, 0700);
    make_dataset(tu_path(sub, "train.h5"), N_ROWS, 1000, 0);
    snprintf(cfg_out, cap, "%s", write_config(sub, "cfg.yaml", "store", "train.h5", 7));
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "train", "-c", cfg_out, NULL);
    expect_status(r, 0, "train");
    tu_sisa(r, "unlearn", "-c", cfg_out, "--ids", "1003,1010", NULL);
    expect_status(r, 0, "unlearn 1");
    tu_sisa(r, "unlearn", "-c", cfg_out, "--ids", "1020", NULL);
    expect_status(r, 0, "unlearn 2");
    free(r);
}

/* Run a shell command with $S set to `store`. */
static void run_sh(const char *store, const char *command)
{
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "S='%s'; %s", store, command);
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
}

/* Overwrite 16 bytes in the middle of a file. */
static void corrupt(const char *path)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(pwrite(fd, "0123456789abcdef", 16, st.st_size / 2), 16);
    close(fd);
}

/* A store is whole and keeps its promises: verify (certificate outside the store) and audit
 * pass with `deleted` rows deleted and none of their bytes found, status exits 0, and each
 * deleted ID (`ids`, NULL-terminated) is known as deleted. */
static void expect_whole_with(const char *name, const char *cfg, const char *const *ids,
                              int deleted)
{
    tu_run *r = malloc(sizeof *r);
    char cert[4300], rows[64];
    snprintf(cert, sizeof cert, "%s/%s/cert.json", dir, name);
    unlink(cert);
    tu_sisa(r, "verify", "-c", cfg, "-o", cert, NULL);
    expect_status(r, 0, "verify after repair");
    tu_assert_contains(r->out, "verdict: pass");
    tu_sisa(r, "audit", "-c", cfg, NULL);
    expect_status(r, 0, "audit after repair");
    tu_assert_contains(r->out, "bytes of deleted rows found: 0");
    snprintf(rows, sizeof rows, ": %d deleted row(s)", deleted);
    tu_assert_contains(r->out, rows);
    tu_sisa(r, "status", "-c", cfg, NULL);
    expect_status(r, 0, "status after repair");
    for (size_t i = 0; ids[i]; i++) {
        tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids[i], NULL);
        expect_status(r, 0, "unlearn of a deleted ID after repair");
        tu_assert_contains(r->out, "nothing to delete");
    }
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 0, "repair of a repaired store");
    tu_assert_contains(r->out, "is whole: nothing to repair");
    free(r);
}

static void expect_whole(const char *name, const char *cfg)
{
    const char *const ids[] = {"1003", "1010", "1020", NULL};
    expect_whole_with(name, cfg, ids, 3);
}

/* ---- what repair rebuilds ----------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *damage; /* shell command; $S is the store folder (NULL: corrupt a file) */
    const char *found;  /* what repair must say it found */
    const char *did;    /* and did */
} damage_case;

static const damage_case cases[] = {
    {"journal", "rm \"$S/journal\"", "journal is missing",
     "rebuilt it from the store's files (salt, config.yaml, manifest) and the ledger's 2 "
     "record(s)"},
    {"shard-journal", "rm \"$S/shards/0001/journal\"", "shards/0001/journal is missing",
     "rebuilt shard 1 from train.h5 without its 1 deleted row(s)"},
    {"shard-folder", "rm -r \"$S/shards/0002\"", "shards/0002 is missing",
     "rebuilt shard 2 from train.h5 without its 2 deleted row(s)"},
    {"data", NULL, "shards/0002/data.h5 does not match its recorded SHA-256",
     "identical to the recorded file"},
    {"checkpoint", NULL, "shards/0001/ckpt-001.h5 does not match its recorded SHA-256",
     "retrained stages 1-2 from initialisation"},
    {"ledger-cut", "head -n1 \"$S/ledger\" > \"$S/l\" && mv \"$S/l\" \"$S/ledger\"",
     "ledger holds 1 of the 2 record(s) the journal certifies",
     "rebuilt record(s) 2-2 from the journal's request records"},
    {"ledger-removed", "rm \"$S/ledger\"", "ledger is missing",
     "rebuilt record(s) 1-2 from the journal's request records"},
    {"ledger-edited", "sed -i '2s/\"rows\": 1,/\"rows\": 7,/' \"$S/ledger\"",
     "ledger record 2 does not hash to the head the journal certified",
     "rebuilt record(s) 2-2 from the journal's request records"},
};

static void test_repairs(void **state)
{
    (void)state;
    /* Journals are rewritten by a repair; every other file must come back bit for bit. */
    const char *const no_journals[] = {"journal", "lock", "cert.json", NULL};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const damage_case *dc = &cases[c];
        char cfg[4200], store[4300], name[64];
        snprintf(name, sizeof name, "fix-%s", dc->name);
        trained_with_deletions(name, cfg, sizeof cfg);
        snprintf(store, sizeof store, "%s/%s/store", dir, name);
        /* A file of the user's in a shard folder: never removed. */
        tu_write_text(tu_path(store, "shards/0001/notes.txt"), "my notes\n");
        char *intact = snapshot(store, no_journals);

        if (!strcmp(dc->name, "data"))
            corrupt(tu_path(store, "shards/0002/data.h5"));
        else if (!strcmp(dc->name, "checkpoint"))
            corrupt(tu_path(store, "shards/0001/ckpt-001.h5"));
        else
            run_sh(store, dc->damage);
        tu_run *r = malloc(sizeof *r);
        /* The damage is real: audit (the full check) names it; status reads journals and sizes
         * only, and does not see a changed byte in a file of the same size. */
        tu_sisa(r, "audit", "-c", cfg, NULL);
        expect_status(r, 1, dc->name);

        /* A dry run says what it would do and changes nothing. */
        const char *const none[] = {NULL};
        char *damaged = snapshot(store, none);
        tu_sisa(r, "repair", "-c", cfg, "--dry-run", NULL);
        expect_status(r, 0, dc->name);
        tu_assert_contains(r->out, dc->found);
        tu_assert_contains(r->out, "nothing was changed");
        char *after_dry = snapshot(store, none);
        assert_string_equal(damaged, after_dry);

        tu_sisa(r, "repair", "-c", cfg, NULL);
        expect_status(r, 0, dc->name);
        tu_assert_contains(r->out, dc->found);
        tu_assert_contains(r->out, dc->did);
        tu_assert_contains(r->out, "the store is whole");
        char *repaired = snapshot(store, no_journals);
        if (strcmp(intact, repaired) != 0)
            fail_msg("%s: the store differs from before the damage\nbefore:\n%s\nafter:\n%s",
                     dc->name, intact, repaired);
        assert_true(tu_exists(tu_path(store, "shards/0001/notes.txt")));
        expect_whole(name, cfg);
        free(intact);
        free(damaged);
        free(after_dry);
        free(repaired);
        free(r);
    }
}

/* Several kinds at once: the journal, a shard folder and the ledger's tail. */
static void test_repair_combined(void **state)
{
    (void)state;
    char cfg[4200], store[4300];
    trained_with_deletions("combined", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/combined/store", dir);
    run_sh(store, "rm -r \"$S/shards/0001\" \"$S/journal\"");
    corrupt(tu_path(store, "shards/0002/ckpt-002.h5"));
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 0, "combined repair");
    tu_assert_contains(r->out, "journal is missing: rebuilt");
    tu_assert_contains(r->out, "shards/0001 is missing: rebuilt shard 1");
    tu_assert_contains(r->out, "shards/0002/ckpt-002.h5 does not match");
    tu_assert_contains(r->out, "3 problem(s)");
    expect_whole("combined", cfg);
    free(r);
}

/* An interrupted deletion request is left to the next writing command: repair keeps its rows
 * out of the shard it rebuilds, says the request is unfinished, and the next unlearn finishes
 * it. The request is interrupted with tests/ioshim.c at the first rename after which it is
 * fenced (found by trying, so that a change in how many files a command renames does not
 * break the test). */
static void test_unfinished_request(void **state)
{
    (void)state;
    char cfg[4200], store[4300], journal[4400];
    trained_with_deletions("unfinished", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/unfinished/store", dir);
    snprintf(journal, sizeof journal, "%s/journal", store);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/unfinished", dir);
    run_sh(sub, "cp -a \"$S/store\" \"$S/saved\"");
    tu_run *r = malloc(sizeof *r);
    const char *asan = getenv("ASAN_OPTIONS");
    char *asan_saved = asan ? strdup(asan) : NULL, opts[1024];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    int fenced = 0;
    for (int n = 1; n <= 60 && !fenced; n++) {
        char spec[32];
        snprintf(spec, sizeof spec, "exit:rename:%d", n);
        run_sh(sub, "rm -rf \"$S/store\" && cp -a \"$S/saved\" \"$S/store\"");
        setenv("SISA_SHIM", spec, 1);
        setenv("LD_PRELOAD", tu_env("SISA_IOSHIM"), 1);
        setenv("ASAN_OPTIONS", opts, 1);
        tu_sisa(r, "unlearn", "-c", cfg, "--ids", "1030,1031", NULL);
        unsetenv("SISA_SHIM");
        unsetenv("LD_PRELOAD");
        if (asan_saved)
            setenv("ASAN_OPTIONS", asan_saved, 1);
        else
            unsetenv("ASAN_OPTIONS");
        if (r->status == 0) break; /* no rename left to crash at */
        char *text = tu_read_file(journal, NULL);
        fenced = strstr(text, "\"n\": 3, \"state\": \"fenced\"") &&
                 !strstr(text, "\"n\": 3, \"state\": \"certified\"");
        free(text);
    }
    free(asan_saved);
    assert_true(fenced);
    /* Damage: a cut ledger, a lost journal of a shard the request touches, a damaged checkpoint
     * of one it does not. */
    run_sh(store, "head -n1 \"$S/ledger\" > \"$S/l\" && mv \"$S/l\" \"$S/ledger\"");
    /* The first shard the request touches, from its journal record. */
    char *text = tu_read_file(journal, NULL), shard_journal[4400], rebuilt[128];
    const char *req = strstr(text, "{\"op\": \"request\", \"n\": 3,");
    assert_non_null(req);
    const char *sh = strstr(req, "\"shards\": [{\"shard\": ");
    assert_non_null(sh);
    const int touched = atoi(sh + strlen("\"shards\": [{\"shard\": "));
    const char *end = strchr(req, '\n');
    int untouched = -1;
    for (int k = 0; k < 3 && untouched < 0; k++) {
        char key[32];
        snprintf(key, sizeof key, "{\"shard\": %d,", k);
        const char *at = strstr(req, key);
        if (!at || at > end) untouched = k;
    }
    free(text);
    if (untouched >= 0) {
        char ckpt[4400];
        snprintf(ckpt, sizeof ckpt, "%s/shards/%04d/ckpt-002.h5", store, untouched);
        corrupt(ckpt);
    }
    snprintf(shard_journal, sizeof shard_journal, "%s/shards/%04d/journal", store, touched);
    assert_int_equal(unlink(shard_journal), 0);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 0, "repair with an unfinished request");
    tu_assert_contains(r->out, "deletion request 3 is unfinished (fenced): repair leaves it");
    tu_assert_contains(r->out, "ledger holds 1 of the 2 record(s)");
    snprintf(rebuilt, sizeof rebuilt, "shards/%04d/journal is missing: rebuilt shard %d", touched,
             touched);
    tu_assert_contains(r->out, rebuilt);
    /* The rebuilt shard holds none of the unfinished request's rows (1030, 1031). */
    char data[4400];
    sisa_shard_data *sd = NULL;
    snprintf(data, sizeof data, "%s/shards/%04d/data.h5", store, touched);
    assert_int_equal(sisa_shard_data_read_index(&sd, data), 0);
    assert_true(sd->n > 0);
    for (uint64_t i = 0; i < sd->n; i++)
        if (sd->id[i] == 1030 || sd->id[i] == 1031)
            fail_msg("the rebuilt shard %d holds row %llu of the unfinished request", touched,
                     (unsigned long long)sd->id[i]);
    sisa_shard_data_free(sd);
    /* The next writer finishes the request; then everything holds, with its rows deleted. */
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", "1040", NULL);
    expect_status(r, 0, "unlearn after repair");
    tu_assert_contains(r->err, "deletion request 3 is finished");
    const char *const ids[] = {"1003", "1010", "1020", "1030", "1031", "1040", NULL};
    expect_whole_with("unfinished", cfg, ids, 6);
    free(r);
}

/* ---- what repair cannot rebuild ----------------------------------------------------------- */

/* Damage that repair cannot undo: exit 1, the message names what to restore, not a byte of the
 * store (or of the dataset) changes, and a dry run says the same. */
static void expect_refused(const char *name, const char *cfg, const char *store, const char *what)
{
    const char *const none[] = {NULL};
    char *before = snapshot(store, none);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "repair", "-c", cfg, "--dry-run", NULL);
    expect_status(r, 1, name);
    tu_assert_contains(r->out, what);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 1, name);
    tu_assert_contains(r->out, what);
    tu_assert_contains(r->err, "cannot be repaired");
    tu_assert_contains(r->err, "nothing was changed");
    char *after = snapshot(store, none);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(r);
}

static void test_refusals(void **state)
{
    (void)state;
    char cfg[4200], store[4300], data[4300];

    trained_with_deletions("no-salt", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/no-salt/store", dir);
    assert_int_equal(unlink(tu_path(store, "salt")), 0);
    expect_refused("salt removed", cfg, store, "Restore STORE/salt from a backup");

    /* A shard to rebuild, from a dataset that changed (one value of one row). */
    trained_with_deletions("changed", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/changed/store", dir);
    snprintf(data, sizeof data, "%s/changed/train.h5", dir);
    assert_int_equal(unlink(tu_path(store, "shards/0001/journal")), 0);
    make_dataset(data, N_ROWS, 1000, 1);
    char sha_before[65], sha_after[65];
    tu_sha_file(data, sha_before);
    expect_refused("dataset changed", cfg, store, "has changed since the store was built");
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    tu_assert_contains(r->out, "restore the dataset this store was built from");
    tu_sha_file(data, sha_after);
    assert_string_equal(sha_before, sha_after);
    /* ... and from a dataset that is gone. */
    assert_int_equal(unlink(data), 0);
    expect_refused("dataset gone", cfg, store, "is gone");

    trained_with_deletions("no-records", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/no-records/store", dir);
    assert_int_equal(unlink(tu_path(store, "journal")), 0);
    assert_int_equal(unlink(tu_path(store, "ledger")), 0);
    expect_refused("journal and ledger removed", cfg, store,
                   "Restore STORE/journal or STORE/ledger from a backup");
    free(r);
}

/* ---- the rest ---------------------------------------------------------------------------- */

static void test_whole_busy_usage(void **state)
{
    (void)state;
    char cfg[4200], store[4300];
    trained_with_deletions("whole", cfg, sizeof cfg);
    snprintf(store, sizeof store, "%s/whole/store", dir);
    const char *const none[] = {NULL};
    char *before = snapshot(store, none);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 0, "repair of a whole store");
    tu_assert_contains(r->out, "is whole: nothing to repair");
    tu_sisa(r, "repair", "-c", cfg, "--json", NULL);
    expect_status(r, 0, "repair --json");
    tu_assert_contains(r->out, "\"problems\": []");
    tu_assert_contains(r->out, "\"whole\": true");
    char *after = snapshot(store, none);
    assert_string_equal(before, after);

    /* Busy: another process holds the writers' lock. The dry run takes none. */
    assert_int_equal(unlink(tu_path(store, "shards/0000/journal")), 0);
    int fd = open(tu_path(store, "lock"), O_RDWR);
    assert_true(fd >= 0);
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 75, "repair of a busy store");
    tu_assert_contains(r->err, "is busy");
    tu_sisa(r, "repair", "-c", cfg, "--wait=0.3", NULL);
    expect_status(r, 75, "repair --wait of a busy store");
    tu_sisa(r, "repair", "-c", cfg, "--dry-run", "--json", NULL);
    expect_status(r, 0, "repair --dry-run of a busy store");
    tu_assert_contains(r->out, "\"file\": \"shards/0000/journal\"");
    tu_assert_contains(r->out, "is changing the store now");
    close(fd);
    tu_sisa(r, "repair", "-c", cfg, NULL);
    expect_status(r, 0, "repair after the lock is released");
    tu_assert_contains(r->out, "rebuilt shard 0 from train.h5 without its 0 deleted row(s)");

    /* Usage and config errors: exit 2, nothing changed. */
    free(before);
    free(after);
    before = snapshot(store, none);
    tu_sisa(r, "repair", NULL);
    expect_status(r, 2, "repair without -c");
    tu_sisa(r, "repair", "-c", cfg, "--bogus", NULL);
    expect_status(r, 2, "repair --bogus");
    const char *other = write_config(tu_path(dir, "whole"), "other.yaml", "store", "train.h5", 8);
    tu_sisa(r, "repair", "-c", other, NULL);
    expect_status(r, 2, "repair with another config");
    tu_assert_contains(r->err, "another configuration");
    const char *none_cfg =
        write_config(tu_path(dir, "whole"), "none.yaml", "nostore", "train.h5", 7);
    tu_sisa(r, "repair", "-c", none_cfg, NULL);
    expect_status(r, 2, "repair of a missing store");
    tu_assert_contains(r->err, "nothing to repair");
    after = snapshot(store, none);
    assert_string_equal(before, after);
    tu_sisa(r, "repair", "--help", NULL);
    expect_status(r, 0, "repair --help");
    tu_assert_contains(r->out, "--dry-run");
    free(before);
    free(after);
    free(r);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", tu_scratch("repair"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repairs),
        cmocka_unit_test(test_repair_combined),
        cmocka_unit_test(test_unfinished_request),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_whole_busy_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
