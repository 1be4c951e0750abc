/*
 * test_oom.c - out of memory at every allocation of whole operations, through libsisa's public
 * API in this process (the SQLite way: the N-th allocation fails, for N = 1, 2, ... until the
 * operation makes fewer than N; base/mem.h is the seam every library allocation goes through).
 *
 * For every N the operation must return SISA_ENOMEM with "out of memory" in its message, leave
 * no file descriptor, HDF5 object or writer lock behind (the sanitizer build also checks that
 * no memory leaked), leave the store as the design says, and a retry without the fault must
 * succeed with the bits of an unfaulted run:
 *   - sisa_train on a fresh store: no store at all (a failed first training removes what it
 *     created) or, once its manifest is committed, a store that a retry continues (committed
 *     work is kept, as after a stop): every file in it is, byte for byte, the reference
 *     store's; the retry gives the reference's files;
 *   - sisa_unlearn of a few IDs on a trained store: byte for byte the store it was, or, when
 *     the request was already journaled (from then on a deletion is carried to the end), a
 *     store whose readers see the request unfinished and whose next writer finishes it; the
 *     retry gives the reference's files and ledger;
 *   - sisa_predict, sisa_eval, sisa_status and sisa_audit (readers): the store byte for byte as
 *     it was, the output released, and the retry's posteriors, accuracies, report and verdict
 *     those of an unfaulted run (an audit that runs out of memory gives no verdict);
 *   - sisa_open_yaml: no handle, nothing left.
 */
#include "testutil.h"

#include "base/mem.h"
#include "sisa/sisa.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_ROWS  300
#define N_TEST  40
#define N_FEAT  5
#define N_CLASS 3

static char dir[2048];
static const uint64_t deleted[] = {17, 58, 59, 240};
#define N_DELETED (sizeof deleted / sizeof deleted[0])

/* ---- data and configs -------------------------------------------------------------------- */

static float feature(uint64_t row, int j, int64_t y)
{
    uint64_t s = (row + 7) * 0x9E3779B97F4A7C15ull + (uint64_t)j * 1442695040888963407ull;
    s ^= s >> 31;
    return (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
}

/* Rows with IDs 0..N_ROWS-1, in the file's order of ID. */
static void write_data(const char *path, uint64_t id0, uint64_t n)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_oom";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    for (uint64_t id = id0; id < id0 + n; id++) {
        const int64_t y = (int64_t)(id % N_CLASS);
        float x[N_FEAT];
        for (int j = 0; j < N_FEAT; j++) x[j] = feature(id, j, y);
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static void test_matrix(float *x)
{
    for (uint64_t i = 0; i < N_TEST; i++)
        for (int j = 0; j < N_FEAT; j++) x[i * N_FEAT + j] = feature(5000 + i, j, (int64_t)(i % 3));
}

/* A handle on store `name` (in `dir`), trained from all.h5 with a tiny MLP. */
static sisa_handle *open_store(const char *name)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "data: {train: all.h5, test: test.h5}\nstore: %s\nseed: 11\n"
             "sisa: {shards: 3, slices: 2}\nmodel: {type: mlp, hidden: [4]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 32, epochs: 2}\n",
             name);
    sisa_handle *h = NULL;
    if (sisa_open_yaml(&h, yaml, name, dir, NULL) != 0)
        fail_msg("opening %s: %s", name, sisa_error_message());
    return h;
}

/* ---- files ------------------------------------------------------------------------------- */

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            rm_tree(child);
        }
        closedir(d);
        assert_int_equal(rmdir(path), 0);
    } else {
        assert_int_equal(unlink(path), 0);
    }
}

static void copy_tree(const char *from, const char *to)
{
    struct stat st;
    assert_int_equal(lstat(from, &st), 0);
    if (S_ISDIR(st.st_mode)) {
        assert_int_equal(mkdir(to, st.st_mode & 07777), 0);
        DIR *d = opendir(from);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char a[4096], b[4096];
            snprintf(a, sizeof a, "%s/%s", from, e->d_name);
            snprintf(b, sizeof b, "%s/%s", to, e->d_name);
            copy_tree(a, b);
        }
        closedir(d);
    } else {
        size_t len = 0;
        char *data = tu_read_file(from, &len);
        tu_write_file(to, data, len);
        chmod(to, st.st_mode & 07777);
        free(data);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in a folder (caller frees each and the array). */
static size_t list_dir(const char *path, char ***out)
{
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    assert_non_null(names);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        assert_non_null(names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    return n;
}

typedef struct {
    char *text;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->len + k + 1 > b->cap) {
        b->cap = (b->len + k + 1) * 2;
        b->text = realloc(b->text, b->cap);
        assert_non_null(b->text);
    }
    memcpy(b->text + b->len, s, k + 1);
    b->len += k;
}

/* Every file and folder below `root` (relative name, mode and SHA-256 of the bytes), sorted:
 * two trees with the same text are the same byte for byte. */
static void snapshot_into(buf *b, const char *root, const char *rel)
{
    char path[4096], line[4400];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    struct stat st;
    if (lstat(path, &st) != 0) {
        snprintf(line, sizeof line, "%s (missing)\n", rel[0] ? rel : ".");
        put(b, line);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(line, sizeof line, "%s/ %o\n", rel[0] ? rel : ".", (unsigned)st.st_mode & 0777);
        put(b, line);
        char **names = NULL;
        size_t n = list_dir(path, &names);
        for (size_t i = 0; i < n; i++) {
            char child[4096];
            snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
            snapshot_into(b, root, child);
            free(names[i]);
        }
        free(names);
    } else {
        char hex[65];
        tu_sha_file(path, hex);
        snprintf(line, sizeof line, "%s %o %lld %s\n", rel, (unsigned)st.st_mode & 0777,
                 (long long)st.st_size, hex);
        put(b, line);
    }
}

static char *snapshot(const char *root)
{
    buf b = {0};
    put(&b, "");
    snapshot_into(&b, root, "");
    return b.text;
}

/* A text with every `"key": "value"` member removed (times differ between runs). */
static void cut_string_members(char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    for (char *k; (k = strstr(text, pat)) != NULL;) {
        char *end = strchr(k + strlen(pat), '"');
        assert_non_null(end);
        memmove(k, end + 1, strlen(end + 1) + 1);
    }
}

/* What must equal the reference after a retry: every shard file but the shard journals (which
 * record times), byte for byte, the manifest without the store's identity, and the ledger
 * without its times. */
static char *store_bits(const char *store)
{
    buf b = {0};
    char shards[4096], line[4400];
    put(&b, "");
    snprintf(shards, sizeof shards, "%s/%s/shards", dir, store);
    char **ks = NULL;
    size_t nk = list_dir(shards, &ks);
    for (size_t i = 0; i < nk; i++) {
        char sd[4300];
        snprintf(sd, sizeof sd, "%s/%s", shards, ks[i]);
        char **fs = NULL;
        size_t nf = list_dir(sd, &fs);
        for (size_t j = 0; j < nf; j++) {
            if (strcmp(fs[j], "journal") != 0) {
                char hex[65];
                tu_sha_file(tu_path(sd, fs[j]), hex);
                snprintf(line, sizeof line, "shards/%s/%s %s\n", ks[i], fs[j], hex);
                put(&b, line);
            }
            free(fs[j]);
        }
        free(fs);
        free(ks[i]);
    }
    free(ks);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/manifest", dir, store);
    char *man = tu_read_file(path, NULL);
    for (char *save = NULL, *l = strtok_r(man, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strncmp(l, "store_id: ", 10) != 0 && strncmp(l, "location: ", 10) != 0) {
            put(&b, l);
            put(&b, "\n");
        }
    free(man);
    snprintf(path, sizeof path, "%s/%s/ledger", dir, store);
    if (tu_exists(path)) {
        char *ledger = tu_read_file(path, NULL);
        cut_string_members(ledger, "time");
        put(&b, ledger);
        free(ledger);
    }
    return b.text;
}

/* Fail with both texts when they differ. */
static void same_text(const char *got, const char *want, const char *what, unsigned long n)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s, allocation %lu failed: got\n%s\nwant\n%s", what, n, got, want);
}

/* No temp file left anywhere below `root`. */
static void no_tmp(const char *root, const char *what, unsigned long n)
{
    char *snap = snapshot(root);
    if (strstr(snap, ".sisa-tmp-"))
        fail_msg("%s, allocation %lu failed: a temp file is left:\n%s", what, n, snap);
    free(snap);
}

/* ---- what every faulted call must leave --------------------------------------------------- */

static int count_fds(void)
{
    char **names = NULL;
    size_t n = list_dir("/proc/self/fd", &names);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return (int)n;
}

typedef struct {
    const char *what;
    unsigned long n; /* the allocation made to fail */
    int fds;
} fault;

static void fault_arm(fault *f, const char *what, unsigned long n)
{
    f->what = what;
    f->n = n;
    f->fds = count_fds();
    sisa_error_clear();
    sisa_mem_fail_at(n);
}

/* After the call: 1 when the armed allocation was reached (then the call must have failed
 * cleanly), 0 when the call made fewer allocations (then it must have succeeded). */
static int fault_check(fault *f, int rc)
{
    const int failed = sisa_mem_failed();
    const unsigned long made = sisa_mem_count();
    sisa_mem_fail_at(0);
    if (!failed) {
        if (rc != 0)
            fail_msg("%s failed without an injected fault (%lu allocations): %s", f->what, made,
                     sisa_error_message());
    } else if (rc != SISA_ENOMEM) {
        fail_msg("%s, allocation %lu failed: returned %d (%s), not SISA_ENOMEM: %s", f->what, f->n,
                 rc, sisa_error_name(rc), sisa_error_message());
    } else {
        if (sisa_error_code() != SISA_ENOMEM || !strstr(sisa_error_message(), "out of memory"))
            fail_msg("%s, allocation %lu failed: the message is '%s' (code %d)", f->what, f->n,
                     sisa_error_message(), sisa_error_code());
    }
    const int fds = count_fds();
    if (fds != f->fds)
        fail_msg("%s, allocation %lu failed: %d file descriptors open, %d before", f->what, f->n,
                 fds, f->fds);
    const ssize_t h5 = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (h5 != 0) fail_msg("%s, allocation %lu failed: %zd HDF5 objects open", f->what, f->n, h5);
    return failed;
}

/* ---- the loops ---------------------------------------------------------------------------- */

static char *trained_snap; /* the trained store "trained", byte for byte */
static char *ref_train;    /* its store_bits */
static float *ref_proba;   /* its posteriors of the test matrix */
static int32_t *ref_label;
static char *ref_status; /* its status, JSON */
static float x[N_TEST * N_FEAT];

static int setup(void **state)
{
    (void)state;
    sisa_set_log_level(SISA_LOG_LEVEL_QUIET);
    /* The stores live in memory (tmpfs) where there is one: the loops run each operation some
     * thousand times, and what they test is memory, not the disk's fsyncs (4x faster here). */
    snprintf(dir, sizeof dir, "/dev/shm/sisa-test-oom-XXXXXX");
    if (!tu_exists("/dev/shm") || !mkdtemp(dir)) snprintf(dir, sizeof dir, "%s", tu_scratch("oom"));
    write_data(tu_path(dir, "all.h5"), 0, N_ROWS);
    write_data(tu_path(dir, "test.h5"), 5000, N_TEST);
    test_matrix(x);
    sisa_handle *h = open_store("trained");
    if (sisa_train(NULL, h) != 0) fail_msg("training: %s", sisa_error_message());
    sisa_prediction p;
    if (sisa_predict(&p, h, x, N_TEST, N_FEAT) != 0) fail_msg("predict: %s", sisa_error_message());
    ref_proba = malloc(sizeof(float) * N_TEST * N_CLASS);
    ref_label = malloc(sizeof(int32_t) * N_TEST);
    assert_true(ref_proba && ref_label && p.n == N_TEST && p.classes == N_CLASS);
    memcpy(ref_proba, p.proba, sizeof(float) * N_TEST * N_CLASS);
    memcpy(ref_label, p.label, sizeof(int32_t) * N_TEST);
    sisa_prediction_free(&p);
    assert_int_equal(sisa_status_json(&ref_status, h), 0);
    sisa_close(h);
    ref_train = store_bits("trained");
    trained_snap = snapshot(tu_path(dir, "trained"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!strncmp(dir, "/dev/shm/", 9)) rm_tree(dir);
    free(trained_snap);
    free(ref_train);
    free(ref_proba);
    free(ref_label);
    sisa_free(ref_status);
    return 0;
}

/* sisa_train on a fresh store, failing each allocation in turn. */
static void test_train(void **state)
{
    (void)state;
    char store[2048];
    snprintf(store, sizeof store, "%s", tu_path(dir, "fresh"));
    char *before = snapshot(dir);
    sisa_handle *h = open_store("fresh");
    unsigned long n = 1, kept = 0;
    for (;; n++) {
        fault f;
        fault_arm(&f, "sisa_train", n);
        int rc = sisa_train(NULL, h);
        if (!fault_check(&f, rc)) break;
        if (!tu_exists(store)) {
            /* Failed before its manifest: nothing at all is left. */
            char *after = snapshot(dir);
            same_text(after, before, "sisa_train left files", n);
            free(after);
        } else {
            /* A store with a manifest is kept, to be continued: all of it is the reference's. */
            kept++;
            no_tmp(store, "sisa_train", n);
            if (!tu_exists(tu_path(store, "manifest"))) {
                char *after = snapshot(store);
                fail_msg("sisa_train, allocation %lu failed: a store without a manifest is "
                         "left:\n%s",
                         n, after);
            }
            char *bits = store_bits("fresh");
            for (char *l = bits, *e; *l; l = e + 1) {
                e = strchr(l, '\n');
                *e = '\0';
                if (!strstr(ref_train, l))
                    fail_msg("sisa_train, allocation %lu failed: '%s' is not the reference's", n,
                             l);
            }
            free(bits);
        }
        /* The retry finishes the job to the reference's bits. */
        if (sisa_train(NULL, h) != 0)
            fail_msg("sisa_train after allocation %lu failed: %s", n, sisa_error_message());
        char *bits = store_bits("fresh");
        same_text(bits, ref_train, "sisa_train's retry", n);
        free(bits);
        rm_tree(store);
    }
    printf("sisa_train: %lu allocations, each failed in turn (%lu runs left a store to "
           "continue)\n",
           n - 1, kept);
    assert_true(n > 20 && kept > 0);
    sisa_close(h);
    free(before);
}

static void test_unlearn(void **state)
{
    (void)state;
    /* The store is trained where it is used ("unlearn": a copy opened elsewhere is refused as a
     * copy); "unlearn.bak" holds its bytes, never opened, to put back before every run. */
    char work[2048], bak[2048];
    snprintf(work, sizeof work, "%s", tu_path(dir, "unlearn"));
    snprintf(bak, sizeof bak, "%s", tu_path(dir, "unlearn.bak"));
    sisa_handle *h = open_store("unlearn");
    if (sisa_train(NULL, h) != 0) fail_msg("training: %s", sisa_error_message());
    copy_tree(work, bak);
    char *base = snapshot(work);
    /* The reference: the deletion without a fault. */
    const sisa_deletion what = {.ids = deleted, .n_ids = N_DELETED};
    if (sisa_unlearn(NULL, h, &what, NULL, NULL) != 0)
        fail_msg("unlearn: %s", sisa_error_message());
    char *want = store_bits("unlearn");
    rm_tree(work);
    copy_tree(bak, work);

    unsigned long n = 1, journaled = 0;
    for (;; n++) {
        fault f;
        sisa_deletion_report rep;
        fault_arm(&f, "sisa_unlearn", n);
        int rc = sisa_unlearn(&rep, h, &what, NULL, NULL);
        sisa_deletion_report_free(&rep);
        if (!fault_check(&f, rc)) break;
        char *after = snapshot(work);
        if (strcmp(after, base) != 0) {
            /* Journaled: readers see the request unfinished (its shards fenced, or published
             * with its ledger record to come), and the next writer finishes it. */
            journaled++;
            no_tmp(work, "sisa_unlearn", n);
            char *status = NULL;
            if (sisa_status_json(&status, h) != 0)
                fail_msg("sisa_unlearn, allocation %lu failed: status: %s", n,
                         sisa_error_message());
            if (!strstr(status, "\"pending_request\": 1,") && !strstr(status, "\"deletions\": 1,"))
                fail_msg("sisa_unlearn, allocation %lu failed: the store changed, but no "
                         "request is pending or published:\n%s",
                         n, status);
            sisa_free(status);
        }
        free(after);
        /* The retry (a writer) finishes or makes the deletion, to the reference's bits. */
        if (sisa_unlearn(&rep, h, &what, NULL, NULL) != 0)
            fail_msg("sisa_unlearn after allocation %lu failed: %s", n, sisa_error_message());
        sisa_deletion_report_free(&rep);
        char *bits = store_bits("unlearn");
        same_text(bits, want, "sisa_unlearn's retry", n);
        free(bits);
        rm_tree(work);
        copy_tree(bak, work);
    }
    printf("sisa_unlearn: %lu allocations, each failed in turn (%lu after the request was "
           "journaled)\n",
           n - 1, journaled);
    assert_true(n > 20 && journaled > 0 && journaled < n - 1);
    sisa_close(h);
    free(want);
    free(base);
    rm_tree(work);
    rm_tree(bak);
}

/* The trained store is byte for byte as it was. */
static void unchanged(const char *what, unsigned long n)
{
    char *now = snapshot(tu_path(dir, "trained"));
    same_text(now, trained_snap, what, n);
    free(now);
}

static void test_predict(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    unsigned long n = 1;
    for (;; n++) {
        fault f;
        sisa_prediction p;
        fault_arm(&f, "sisa_predict", n);
        int rc = sisa_predict(&p, h, x, N_TEST, N_FEAT);
        if (!fault_check(&f, rc)) {
            sisa_prediction_free(&p);
            break;
        }
        assert_null(p.proba);
        assert_null(p.label);
        assert_null(p.shards);
        unchanged("sisa_predict", n);
        assert_int_equal(sisa_predict(&p, h, x, N_TEST, N_FEAT), 0);
        if (memcmp(p.proba, ref_proba, sizeof(float) * N_TEST * N_CLASS) != 0 ||
            memcmp(p.label, ref_label, sizeof(int32_t) * N_TEST) != 0)
            fail_msg("sisa_predict after allocation %lu failed: other posteriors", n);
        sisa_prediction_free(&p);
    }
    printf("sisa_predict: %lu allocations, each failed in turn\n", n - 1);
    assert_true(n > 5);
    sisa_close(h);
}

static void test_eval(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    sisa_eval_report want;
    assert_int_equal(sisa_eval(&want, h, NULL), 0);
    unsigned long n = 1;
    for (;; n++) {
        fault f;
        sisa_eval_report r;
        fault_arm(&f, "sisa_eval", n);
        int rc = sisa_eval(&r, h, NULL);
        if (!fault_check(&f, rc)) {
            sisa_eval_report_free(&r);
            break;
        }
        assert_null(r.models);
        assert_null(r.excluded);
        unchanged("sisa_eval", n);
        assert_int_equal(sisa_eval(&r, h, NULL), 0);
        assert_int_equal(r.n_models, want.n_models);
        if (r.accuracy != want.accuracy ||
            memcmp(r.models, want.models, r.n_models * sizeof *r.models) != 0)
            fail_msg("sisa_eval after allocation %lu failed: other accuracies", n);
        sisa_eval_report_free(&r);
    }
    printf("sisa_eval: %lu allocations, each failed in turn\n", n - 1);
    assert_true(n > 5);
    sisa_eval_report_free(&want);
    sisa_close(h);
}

static void test_status(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    unsigned long n = 1;
    for (;; n++) {
        fault f;
        char *text = NULL;
        fault_arm(&f, "sisa_status_json", n);
        int rc = sisa_status_json(&text, h);
        if (!fault_check(&f, rc)) {
            same_text(text, ref_status, "sisa_status_json without a fault", n);
            sisa_free(text);
            break;
        }
        assert_null(text);
        unchanged("sisa_status_json", n);
        assert_int_equal(sisa_status_json(&text, h), 0);
        same_text(text, ref_status, "sisa_status_json's retry", n);
        sisa_free(text);
    }
    printf("sisa_status_json: %lu allocations, each failed in turn\n", n - 1);
    assert_true(n > 5);
    sisa_close(h);
}

static void test_audit(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    unsigned long n = 1;
    for (;; n++) {
        fault f;
        int pass = -1;
        fault_arm(&f, "sisa_audit", n);
        int rc = sisa_audit(&pass, h, NULL);
        if (!fault_check(&f, rc)) {
            assert_int_equal(pass, 1);
            break;
        }
        assert_int_equal(pass, 0);
        unchanged("sisa_audit", n);
        pass = -1;
        assert_int_equal(sisa_audit(&pass, h, NULL), 0);
        assert_int_equal(pass, 1);
    }
    printf("sisa_audit: %lu allocations, each failed in turn\n", n - 1);
    assert_true(n > 5);
    sisa_close(h);
}

static void test_open(void **state)
{
    (void)state;
    char *before = snapshot(dir);
    unsigned long n = 1;
    for (;; n++) {
        fault f;
        sisa_handle *h = NULL;
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "data: {train: all.h5}\nstore: trained\nsisa: {shards: 3, slices: 2}\n"
                 "model: {type: mlp, hidden: [4]}\n");
        fault_arm(&f, "sisa_open_yaml", n);
        int rc = sisa_open_yaml(&h, yaml, "oom.yaml", dir, NULL);
        int failed = fault_check(&f, rc);
        if (failed) assert_null(h);
        sisa_close(h);
        if (!failed) break;
    }
    printf("sisa_open_yaml: %lu allocations, each failed in turn\n", n - 1);
    assert_true(n > 1);
    char *after = snapshot(dir);
    same_text(after, before, "sisa_open_yaml", n);
    free(after);
    free(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),  cmocka_unit_test(test_status), cmocka_unit_test(test_predict),
        cmocka_unit_test(test_eval),  cmocka_unit_test(test_audit),  cmocka_unit_test(test_unlearn),
        cmocka_unit_test(test_train),
    };
    /* SISA_OOM_ONLY=test_unlearn runs one loop (e.g. under gdb, to see where allocation N is). */
    if (getenv("SISA_OOM_ONLY")) cmocka_set_test_filter(getenv("SISA_OOM_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
