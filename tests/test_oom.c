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

#define N_ROWS  150
#define N_TEST  40
#define N_FEAT  5
#define N_CLASS 3

static char dir[2048];
static const uint64_t deleted[] = {17, 58, 59, 140};
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
             "train: {optimizer: adam, lr: 0.01, batch_size: 32, epochs: 1}\n",
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

/* ---- allocation points -------------------------------------------------------------------- */

/* Points per operation (SISA_OOM_POINTS, default 300; SISA_OOM_READER_POINTS, default 100, for
 * eval, status and audit, which the CLI sample and predict cover in part) and per CLI command
 * (SISA_OOM_CLI_POINTS, default 4). */
static unsigned long env_count(const char *name, unsigned long fallback)
{
    const char *v = getenv(name);
    return v && strtoul(v, NULL, 10) > 0 ? strtoul(v, NULL, 10) : fallback;
}

typedef struct {
    unsigned long *n; /* the allocations to fail, ascending */
    size_t count;
    unsigned long total; /* the allocations of an unfaulted run */
} points;

/* The allocations to fail in an operation that makes `total` unfaulted: every one when there are
 * at most `want`, else one drawn with a fixed seed in each of `want` equal strata of 1..total,
 * the first and the last `tail` allocations always among them (the end of an operation is where
 * it publishes). */
#define TAIL 8
static void points_plan(points *p, unsigned long total, unsigned long want, uint64_t seed,
                        size_t tail)
{
    p->total = total;
    p->count = total <= want ? total : want;
    p->n = malloc((p->count ? p->count : 1) * sizeof *p->n);
    assert_non_null(p->n);
    uint64_t s = seed;
    for (size_t i = 0; i < p->count; i++) {
        if (total <= want) {
            p->n[i] = i + 1;
            continue;
        }
        const unsigned long lo = 1 + (unsigned long)((uint64_t)i * total / want);
        const unsigned long hi = (unsigned long)((uint64_t)(i + 1) * total / want);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p->n[i] = lo + (unsigned long)((s >> 33) % (hi - lo + 1));
    }
    if (total > want) {
        /* The first allocation, and the last `tail` ones (where operations publish). */
        p->n[0] = 1;
        for (size_t i = 0; i < tail && i < p->count - 1; i++)
            p->n[p->count - 1 - i] = total - (unsigned long)i;
    }
}

static void points_report(const points *p, const char *what, const char *extra)
{
    printf("%s: %lu allocations; %zu failed in turn (%s)%s\n", what, p->total, p->count,
           p->count == p->total ? "every one" : "sampled, fixed seed", extra ? extra : "");
    fflush(stdout);
}

/* The armed allocation must be reached: the operations are deterministic, so a run on the same
 * state makes the allocations of the unfaulted one. */
static void must_fail(int failed, const char *what, const points *p, unsigned long n)
{
    if (!failed)
        fail_msg("%s: allocation %lu was not reached (an unfaulted run makes %lu)", what, n,
                 p->total);
}

/* Whether the i-th point retries. A faulted run that changed its store (or left one) is always
 * retried: the next run must bring it to the reference's bits. One that left everything byte for
 * byte as it was makes the next run an undisturbed one on disk, so only every RETRY_EVERY-th is
 * retried, to catch state the failure may have left in the process (and to keep the loop within
 * CI's time). */
#define RETRY_EVERY 4
static int retry_due(size_t i, int changed)
{
    return changed || i % RETRY_EVERY == 0;
}

/* ---- the loops ---------------------------------------------------------------------------- */

static char *trained_snap; /* the trained store "trained", byte for byte */
static char *ref_train;    /* its store_bits */
static float *ref_proba;   /* its posteriors of the test matrix */
static int32_t *ref_label;
static char *ref_status; /* its status, JSON */
static float x[N_TEST * N_FEAT];
static unsigned long n_points;        /* import, train, unlearn, predict, verify, open */
static unsigned long n_reader_points; /* eval, status, audit */

static int setup(void **state)
{
    (void)state;
    sisa_set_log_level(SISA_LOG_LEVEL_QUIET);
    n_points = env_count("SISA_OOM_POINTS", 300);
    n_reader_points = env_count("SISA_OOM_READER_POINTS", 100);
    /* The stores live in memory (tmpfs) where there is one: the loops run each operation some
     * hundred times, and what they test is memory, not the disk's fsyncs (4x faster here). */
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

/* A store's committed files must all be the reference's (a stopped training keeps its work). */
static void part_of(const char *store, const char *ref, const char *what, unsigned long n)
{
    char *bits = store_bits(store);
    for (char *l = bits, *e; *l; l = e + 1) {
        e = strchr(l, '\n');
        *e = '\0';
        if (!strstr(ref, l))
            fail_msg("%s, allocation %lu failed: '%s' is not the reference's", what, n, l);
    }
    free(bits);
}

/* sisa_train on a fresh store, failing each allocation in turn. */
static void test_train(void **state)
{
    (void)state;
    char store[2048];
    snprintf(store, sizeof store, "%s", tu_path(dir, "fresh"));
    char *before = snapshot(dir);
    sisa_handle *h = open_store("fresh");
    sisa_mem_fail_at(0);
    if (sisa_train(NULL, h) != 0) fail_msg("training: %s", sisa_error_message());
    points p;
    points_plan(&p, sisa_mem_count(), n_points, 0x7124, TAIL);
    rm_tree(store);
    unsigned long kept = 0;
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        fault_arm(&f, "sisa_train", n);
        int rc = sisa_train(NULL, h);
        must_fail(fault_check(&f, rc), "sisa_train", &p, n);
        const int left = tu_exists(store);
        if (!left) {
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
            part_of("fresh", ref_train, "sisa_train", n);
        }
        if (!retry_due(i, left)) continue;
        /* The retry finishes the job to the reference's bits. */
        if (sisa_train(NULL, h) != 0)
            fail_msg("sisa_train after allocation %lu failed: %s", n, sisa_error_message());
        char *bits = store_bits("fresh");
        same_text(bits, ref_train, "sisa_train's retry", n);
        free(bits);
        rm_tree(store);
    }
    char extra[96];
    snprintf(extra, sizeof extra, "; %lu runs left a store to continue", kept);
    points_report(&p, "sisa_train", extra);
    assert_true(p.total > 20 && kept > 0);
    sisa_close(h);
    free(before);
    free(p.n);
}

/* A store trained where it is used (a copy opened elsewhere is refused as a copy), and NAME.bak
 * with its bytes, never opened, to put back before every run. */
static sisa_handle *work_store(const char *name, char *work, char *bak, size_t cap)
{
    snprintf(work, cap, "%s", tu_path(dir, name));
    snprintf(bak, cap, "%s.bak", work);
    sisa_handle *h = open_store(name);
    if (sisa_train(NULL, h) != 0) fail_msg("training: %s", sisa_error_message());
    return h;
}

static void put_back(const char *work, const char *bak)
{
    rm_tree(work);
    copy_tree(bak, work);
}

static const sisa_deletion the_deletion = {.ids = deleted, .n_ids = N_DELETED};

static void test_unlearn(void **state)
{
    (void)state;
    char work[2048], bak[2048];
    sisa_handle *h = work_store("unlearn", work, bak, sizeof work);
    copy_tree(work, bak);
    char *base = snapshot(work);
    /* The reference: the deletion without a fault. */
    sisa_mem_fail_at(0);
    if (sisa_unlearn(NULL, h, &the_deletion, NULL, NULL) != 0)
        fail_msg("unlearn: %s", sisa_error_message());
    points p;
    points_plan(&p, sisa_mem_count(), n_points, 0xde1e7e, TAIL);
    char *want = store_bits("unlearn");
    put_back(work, bak);

    unsigned long journaled = 0;
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        sisa_deletion_report rep;
        fault_arm(&f, "sisa_unlearn", n);
        int rc = sisa_unlearn(&rep, h, &the_deletion, NULL, NULL);
        sisa_deletion_report_free(&rep);
        must_fail(fault_check(&f, rc), "sisa_unlearn", &p, n);
        char *after = snapshot(work);
        const int changed = strcmp(after, base) != 0;
        if (changed) {
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
        if (!retry_due(i, changed)) continue;
        /* The retry (a writer) finishes or makes the deletion, to the reference's bits. */
        if (sisa_unlearn(&rep, h, &the_deletion, NULL, NULL) != 0)
            fail_msg("sisa_unlearn after allocation %lu failed: %s", n, sisa_error_message());
        sisa_deletion_report_free(&rep);
        char *bits = store_bits("unlearn");
        same_text(bits, want, "sisa_unlearn's retry", n);
        free(bits);
        put_back(work, bak);
    }
    char extra[96];
    snprintf(extra, sizeof extra, "; %lu after the request was journaled", journaled);
    points_report(&p, "sisa_unlearn", extra);
    assert_true(p.total > 20 && journaled > 0 && journaled < p.count);
    sisa_close(h);
    free(want);
    free(base);
    free(p.n);
    rm_tree(work);
    rm_tree(bak);
}

/* The text of a certificate without its time. */
static char *cert_text(const char *path)
{
    char *text = tu_read_file(path, NULL);
    cut_string_members(text, "time");
    return text;
}

/* sisa_verify of a deletion, writing its certificate into the store (a writer). */
static void test_verify(void **state)
{
    (void)state;
    char work[2048], bak[2048], scratch[2048], cert[4400];
    sisa_handle *h = work_store("verify", work, bak, sizeof work);
    if (sisa_unlearn(NULL, h, &the_deletion, NULL, NULL) != 0)
        fail_msg("unlearn: %s", sisa_error_message());
    copy_tree(work, bak);
    snprintf(scratch, sizeof scratch, "%s", tu_path(dir, "verify-scratch"));
    assert_int_equal(mkdir(scratch, 0700), 0);
    char *base = snapshot(work), *scratch_base = snapshot(scratch);
    const sisa_verify_opts vo = {.scratch = scratch};
    sisa_verify_report rep;
    sisa_mem_fail_at(0);
    if (sisa_verify(&rep, h, &vo) != 0) fail_msg("verify: %s", sisa_error_message());
    points p;
    points_plan(&p, sisa_mem_count(), n_points, 0x5e1f, TAIL);
    assert_true(rep.shards > 0 && rep.failed == 0 && !rep.none);
    snprintf(cert, sizeof cert, "%s", rep.certificate);
    char *want = cert_text(cert);
    put_back(work, bak);

    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        fault_arm(&f, "sisa_verify", n);
        int rc = sisa_verify(&rep, h, &vo);
        must_fail(fault_check(&f, rc), "sisa_verify", &p, n);
        /* No certificate, nothing else changed, the scratch store removed. */
        char *after = snapshot(work);
        same_text(after, base, "sisa_verify changed the store", n);
        free(after);
        after = snapshot(scratch);
        same_text(after, scratch_base, "sisa_verify left scratch files", n);
        free(after);
        if (!retry_due(i, 0)) continue;
        if (sisa_verify(&rep, h, &vo) != 0)
            fail_msg("sisa_verify after allocation %lu failed: %s", n, sisa_error_message());
        char *got = cert_text(cert);
        same_text(got, want, "sisa_verify's retry", n);
        free(got);
        put_back(work, bak);
    }
    points_report(&p, "sisa_verify", NULL);
    assert_true(p.total > 20);
    sisa_close(h);
    free(want);
    free(base);
    free(scratch_base);
    free(p.n);
    rm_tree(work);
    rm_tree(bak);
    rm_tree(scratch);
}

/* The import sources: the rows of write_data as CSV (plain and gzipped) and libsvm. */
static void write_sources(char **csv_path, char **gz_path, char **svm_path)
{
    buf csv = {0}, svm = {0};
    put(&csv, "id,group,label,f0,f1,f2,f3,f4\n");
    put(&svm, "");
    for (uint64_t id = 0; id < 120; id++) {
        const int64_t y = (int64_t)(id % N_CLASS);
        char line[512];
        int k = snprintf(line, sizeof line, "%llu,%llu,%lld", (unsigned long long)id,
                         (unsigned long long)(id / 4), (long long)y);
        for (int j = 0; j < N_FEAT; j++)
            k += snprintf(line + k, sizeof line - (size_t)k, ",%.6f", feature(id, j, y));
        put(&csv, line);
        put(&csv, "\n");
        k = snprintf(line, sizeof line, "%lld", (long long)y);
        for (int j = 0; j < N_FEAT; j++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %d:%.6f", j + 1, feature(id, j, y));
        put(&svm, line);
        put(&svm, "\n");
    }
    *csv_path = strdup(tu_path(dir, "src.csv"));
    *gz_path = strdup(tu_path(dir, "src.csv.gz"));
    *svm_path = strdup(tu_path(dir, "src.svm"));
    tu_write_file(*csv_path, csv.text, csv.len);
    tu_write_gzip(*gz_path, csv.text, csv.len);
    tu_write_file(*svm_path, svm.text, svm.len);
    free(csv.text);
    free(svm.text);
}

/* 120 samples of 2 x 3 u8 pixels and their u8 labels, as gzipped IDX files. */
static void write_idx(const char *images, const char *labels)
{
    unsigned char img[16 + 120 * 6], lab[8 + 120];
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 120, 0, 0, 0, 2, 0, 0, 0, 3};
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 120};
    memcpy(img, ih, sizeof ih);
    memcpy(lab, lh, sizeof lh);
    for (int i = 0; i < 120; i++) {
        lab[8 + i] = (unsigned char)(i % N_CLASS);
        for (int j = 0; j < 6; j++) img[16 + i * 6 + j] = (unsigned char)((i * 7 + j * 31) % 256);
    }
    tu_write_gzip(images, img, sizeof img);
    tu_write_gzip(labels, lab, sizeof lab);
}

/* (sisa_import_h5 parses in a sandboxed child: its parent makes no allocation through the seam.) */
enum { IMPORT_CSV, IMPORT_LIBSVM, IMPORT_IDX };

typedef struct {
    const char *what;
    const char *src;
    int kind;
    const char *labels; /* IDX */
} import_case;

static int run_import(const import_case *c, const char *out)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    o.out = out;
    sisa_dataset_summary s;
    if (c->kind == IMPORT_LIBSVM) return sisa_import_libsvm(&s, c->src, &o);
    if (c->kind == IMPORT_IDX) {
        o.images = c->src;
        o.labels = c->labels;
        o.scale = 255;
        return sisa_import_idx(&s, &o);
    }
    o.label_col = "label";
    o.id_col = "id";
    o.group_col = "group";
    return sisa_import_csv(&s, c->src, &o);
}

/* sisa_import_csv (plain, gzipped) and sisa_import_libsvm into a new dataset file. */
static void test_import(void **state)
{
    (void)state;
    char *csv, *gz, *svm;
    write_sources(&csv, &gz, &svm);
    char images[2048], labels[2048];
    snprintf(images, sizeof images, "%s", tu_path(dir, "src-images.idx.gz"));
    snprintf(labels, sizeof labels, "%s", tu_path(dir, "src-labels.idx.gz"));
    write_idx(images, labels);
    const import_case cases[] = {{"sisa_import_csv", csv, IMPORT_CSV, NULL},
                                 {"sisa_import_csv (gzipped)", gz, IMPORT_CSV, NULL},
                                 {"sisa_import_libsvm", svm, IMPORT_LIBSVM, NULL},
                                 {"sisa_import_idx (gzipped)", images, IMPORT_IDX, labels}};
    char out[2048], want[65], got[65];
    snprintf(out, sizeof out, "%s", tu_path(dir, "imported.h5"));
    unsigned long tried = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const import_case *ic = &cases[c];
        sisa_mem_fail_at(0);
        if (run_import(ic, out) != 0) fail_msg("%s: %s", ic->what, sisa_error_message());
        points p;
        points_plan(&p, sisa_mem_count(), n_points, 0x1a907 + c, TAIL);
        tu_sha_file(out, want);
        assert_int_equal(unlink(out), 0);
        char *before = snapshot(dir);
        for (size_t i = 0; i < p.count; i++) {
            const unsigned long n = p.n[i];
            fault f;
            fault_arm(&f, ic->what, n);
            int rc = run_import(ic, out);
            must_fail(fault_check(&f, rc), ic->what, &p, n);
            /* No output, no temp file: the folder as it was. */
            char *after = snapshot(dir);
            same_text(after, before, ic->what, n);
            free(after);
            if (!retry_due(i, 0)) continue;
            if (run_import(ic, out) != 0)
                fail_msg("%s after allocation %lu failed: %s", ic->what, n, sisa_error_message());
            tu_sha_file(out, got);
            if (strcmp(got, want) != 0)
                fail_msg("%s after allocation %lu failed: another file", ic->what, n);
            assert_int_equal(unlink(out), 0);
        }
        points_report(&p, ic->what, NULL);
        tried += p.count;
        free(before);
        free(p.n);
    }
    printf("import: %lu allocation points in all\n", tried);
    assert_true(tried >= 3);
    free(csv);
    free(gz);
    free(svm);
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
    sisa_prediction p;
    sisa_mem_fail_at(0);
    assert_int_equal(sisa_predict(&p, h, x, N_TEST, N_FEAT), 0);
    sisa_prediction_free(&p);
    points pts;
    points_plan(&pts, sisa_mem_count(), n_points, 0x9ed1c7, TAIL);
    for (size_t i = 0; i < pts.count; i++) {
        const unsigned long n = pts.n[i];
        fault f;
        fault_arm(&f, "sisa_predict", n);
        int rc = sisa_predict(&p, h, x, N_TEST, N_FEAT);
        must_fail(fault_check(&f, rc), "sisa_predict", &pts, n);
        assert_null(p.proba);
        assert_null(p.label);
        assert_null(p.shards);
        unchanged("sisa_predict", n);
        if (!retry_due(i, 0)) continue;
        assert_int_equal(sisa_predict(&p, h, x, N_TEST, N_FEAT), 0);
        if (memcmp(p.proba, ref_proba, sizeof(float) * N_TEST * N_CLASS) != 0 ||
            memcmp(p.label, ref_label, sizeof(int32_t) * N_TEST) != 0)
            fail_msg("sisa_predict after allocation %lu failed: other posteriors", n);
        sisa_prediction_free(&p);
    }
    points_report(&pts, "sisa_predict", NULL);
    assert_true(pts.total > 5);
    sisa_close(h);
    free(pts.n);
}

static void test_eval(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    sisa_eval_report want;
    sisa_mem_fail_at(0);
    assert_int_equal(sisa_eval(&want, h, NULL), 0);
    points p;
    points_plan(&p, sisa_mem_count(), n_reader_points, 0xe7a1, TAIL);
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        sisa_eval_report r;
        fault_arm(&f, "sisa_eval", n);
        int rc = sisa_eval(&r, h, NULL);
        must_fail(fault_check(&f, rc), "sisa_eval", &p, n);
        assert_null(r.models);
        assert_null(r.excluded);
        unchanged("sisa_eval", n);
        if (!retry_due(i, 0)) continue;
        assert_int_equal(sisa_eval(&r, h, NULL), 0);
        assert_int_equal(r.n_models, want.n_models);
        if (r.accuracy != want.accuracy ||
            memcmp(r.models, want.models, r.n_models * sizeof *r.models) != 0)
            fail_msg("sisa_eval after allocation %lu failed: other accuracies", n);
        sisa_eval_report_free(&r);
    }
    points_report(&p, "sisa_eval", NULL);
    assert_true(p.total > 5);
    sisa_eval_report_free(&want);
    sisa_close(h);
    free(p.n);
}

static void test_status(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    char *text = NULL;
    sisa_mem_fail_at(0);
    assert_int_equal(sisa_status_json(&text, h), 0);
    same_text(text, ref_status, "sisa_status_json without a fault", 0);
    sisa_free(text);
    points p;
    points_plan(&p, sisa_mem_count(), n_reader_points, 0x57a7, TAIL);
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        text = NULL;
        fault_arm(&f, "sisa_status_json", n);
        int rc = sisa_status_json(&text, h);
        must_fail(fault_check(&f, rc), "sisa_status_json", &p, n);
        assert_null(text);
        unchanged("sisa_status_json", n);
        if (!retry_due(i, 0)) continue;
        assert_int_equal(sisa_status_json(&text, h), 0);
        same_text(text, ref_status, "sisa_status_json's retry", n);
        sisa_free(text);
    }
    points_report(&p, "sisa_status_json", NULL);
    assert_true(p.total > 5);
    sisa_close(h);
    free(p.n);
}

static void test_audit(void **state)
{
    (void)state;
    sisa_handle *h = open_store("trained");
    int pass = -1;
    sisa_mem_fail_at(0);
    assert_int_equal(sisa_audit(&pass, h, NULL), 0);
    assert_int_equal(pass, 1);
    points p;
    points_plan(&p, sisa_mem_count(), n_reader_points, 0xa0d17, TAIL);
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        pass = -1;
        fault_arm(&f, "sisa_audit", n);
        int rc = sisa_audit(&pass, h, NULL);
        must_fail(fault_check(&f, rc), "sisa_audit", &p, n);
        assert_int_equal(pass, 0);
        unchanged("sisa_audit", n);
        if (!retry_due(i, 0)) continue;
        pass = -1;
        assert_int_equal(sisa_audit(&pass, h, NULL), 0);
        assert_int_equal(pass, 1);
    }
    points_report(&p, "sisa_audit", NULL);
    assert_true(p.total > 5);
    sisa_close(h);
    free(p.n);
}

static void test_open(void **state)
{
    (void)state;
    char *before = snapshot(dir);
    const char *yaml = "data: {train: all.h5}\nstore: trained\nsisa: {shards: 3, slices: 2}\n"
                       "model: {type: mlp, hidden: [4]}\n";
    sisa_handle *h = NULL;
    sisa_mem_fail_at(0);
    assert_int_equal(sisa_open_yaml(&h, yaml, "oom.yaml", dir, NULL), 0);
    sisa_close(h);
    points p;
    points_plan(&p, sisa_mem_count(), n_points, 0x09e4, TAIL);
    for (size_t i = 0; i < p.count; i++) {
        const unsigned long n = p.n[i];
        fault f;
        h = NULL;
        fault_arm(&f, "sisa_open_yaml", n);
        int rc = sisa_open_yaml(&h, yaml, "oom.yaml", dir, NULL);
        must_fail(fault_check(&f, rc), "sisa_open_yaml", &p, n);
        assert_null(h);
    }
    points_report(&p, "sisa_open_yaml", NULL);
    assert_true(p.total > 1);
    char *after = snapshot(dir);
    same_text(after, before, "sisa_open_yaml", 0);
    free(after);
    free(before);
    free(p.n);
}

/* ---- the CLI ------------------------------------------------------------------------------ */

/* Run sisa_oomcli with `args` (NULL-terminated), failing allocation `fail_at` (0: none); returns
 * the number of allocations it made when `count` is set. */
static unsigned long oomcli(tu_run *r, unsigned long fail_at, const char *const *args)
{
    const char *argv[32];
    int k = 0;
    argv[k++] = tu_env("SISA_OOMCLI");
    for (int i = 0; args[i] && k < 31; i++) argv[k++] = args[i];
    argv[k] = NULL;
    char n[32], out[4400];
    snprintf(n, sizeof n, "%lu", fail_at);
    snprintf(out, sizeof out, "%s", tu_path(dir, "oom-count"));
    unlink(out);
    if (fail_at)
        setenv("SISA_OOM_FAIL_AT", n, 1);
    else
        unsetenv("SISA_OOM_FAIL_AT");
    setenv("SISA_OOM_COUNT_OUT", out, 1);
    tu_run_argv(r, argv);
    unsetenv("SISA_OOM_FAIL_AT");
    unsetenv("SISA_OOM_COUNT_OUT");
    unsigned long made = 0;
    if (tu_exists(out)) {
        char *text = tu_read_file(out, NULL);
        made = strtoul(text, NULL, 10);
        free(text);
    }
    return made;
}

typedef struct {
    const char *what;
    const char *args[16];
    const char *store;  /* the store it changes (in dir), or NULL */
    const char *output; /* the file it writes (in dir), or NULL */
} cli_case;

/* Every CLI command, at a few allocations sampled with a fixed seed: exit 1 and "out of memory"
 * (a crash, a sanitizer report or a leak exits otherwise), and the next command brings the store
 * to the bits of an unfaulted run. */
static void test_cli(void **state)
{
    (void)state;
    char *csv, *gz, *svm;
    write_sources(&csv, &gz, &svm);
    /* The CLI's config, and a store to unlearn from and verify. */
    char cfg[4400];
    snprintf(cfg, sizeof cfg, "%s", tu_path(dir, "cli.yaml"));
    tu_write_text(cfg, "data: {train: all.h5, test: test.h5}\nstore: cli\nseed: 11\n"
                       "sisa: {shards: 3, slices: 2}\nmodel: {type: mlp, hidden: [4]}\n"
                       "train: {optimizer: adam, lr: 0.01, batch_size: 32, epochs: 1}\n");
    char store[4400], trained_bak[4500], unlearned_bak[4500];
    snprintf(store, sizeof store, "%s", tu_path(dir, "cli"));
    snprintf(trained_bak, sizeof trained_bak, "%s.trained", store);
    snprintf(unlearned_bak, sizeof unlearned_bak, "%s.unlearned", store);
    tu_run r;
    const char *train_args[] = {"-q", "train", "-c", cfg, NULL};
    oomcli(&r, 0, train_args);
    if (r.status != 0) fail_msg("sisa train: %s", r.err);
    copy_tree(store, trained_bak);
    const char *unlearn_args[] = {"-q", "unlearn", "-c", cfg, "--ids", "17,58,59,140", NULL};
    oomcli(&r, 0, unlearn_args);
    if (r.status != 0) fail_msg("sisa unlearn: %s", r.err);
    copy_tree(store, unlearned_bak);
    rm_tree(store);
    const cli_case cases[] = {
        {"import csv",
         {"-q", "import", "csv", gz, "-o", "cli-imported.h5", "--label", "label", "--id", "id",
          "--group", "group", NULL},
         NULL,
         "cli-imported.h5"},
        {"train", {"-q", "train", "-c", cfg, NULL}, "cli", NULL},
        {"unlearn", {"-q", "unlearn", "-c", cfg, "--ids", "17,58,59,140", NULL}, "cli", NULL},
        {"predict",
         {"-q", "predict", "-c", cfg, "-i", "test.h5", "-o", "pred.h5", NULL},
         NULL,
         "pred.h5"},
        {"verify", {"-q", "verify", "-c", cfg, "--scratch", "cli-scratch", NULL}, "cli", NULL},
    };
    const unsigned long want = env_count("SISA_OOM_CLI_POINTS", 4);
    char *here = getcwd(NULL, 0);
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(mkdir("cli-scratch", 0700), 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const cli_case *cc = &cases[c];
        /* The state before: no store for train, the trained one for unlearn and predict, the
         * unlearned one for verify. */
        const char *start = !strcmp(cc->what, "train") || !strcmp(cc->what, "import csv") ? NULL
                            : !strcmp(cc->what, "verify") ? unlearned_bak
                                                          : trained_bak;
        if (tu_exists(store)) rm_tree(store);
        if (start) copy_tree(start, store);
        const unsigned long total = oomcli(&r, 0, cc->args);
        if (r.status != 0) fail_msg("sisa %s: %s", cc->what, r.err);
        char *want_bits = tu_exists(store) ? store_bits("cli") : strdup("");
        char want_out[65] = "";
        if (cc->output) {
            tu_sha_file(cc->output, want_out);
            unlink(cc->output);
        }
        points p;
        points_plan(&p, total, want, 0xc11 + c, 1);
        for (size_t i = 0; i < p.count; i++) {
            const unsigned long n = p.n[i];
            if (tu_exists(store)) rm_tree(store);
            if (start) copy_tree(start, store);
            oomcli(&r, n, cc->args);
            if (r.status != 1 || !strstr(r.err, "out of memory"))
                fail_msg("sisa %s, allocation %lu of %lu failed: exit %d, not 1 with \"out of "
                         "memory\":\n%s",
                         cc->what, n, total, r.status, r.err);
            if (cc->output && tu_exists(cc->output))
                fail_msg("sisa %s, allocation %lu failed: %s was written", cc->what, n, cc->output);
            /* The next command (the same, unfaulted) brings everything to the reference. */
            oomcli(&r, 0, cc->args);
            if (r.status != 0)
                fail_msg("sisa %s after allocation %lu failed: %s", cc->what, n, r.err);
            if (tu_exists(store)) {
                char *bits = store_bits("cli");
                same_text(bits, want_bits, cc->what, n);
                free(bits);
            }
            if (cc->output) {
                char got[65];
                tu_sha_file(cc->output, got);
                if (strcmp(got, want_out) != 0)
                    fail_msg("sisa %s after allocation %lu failed: another %s", cc->what, n,
                             cc->output);
                unlink(cc->output);
            }
        }
        char extra[64];
        snprintf(extra, sizeof extra, " through the CLI, exit 1 each");
        char what[64];
        snprintf(what, sizeof what, "sisa %s", cc->what);
        points_report(&p, what, extra);
        assert_true(total > 5);
        free(want_bits);
        free(p.n);
    }
    assert_int_equal(chdir(here), 0);
    free(here);
    rm_tree(store);
    rm_tree(trained_bak);
    rm_tree(unlearned_bak);
    free(csv);
    free(gz);
    free(svm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),    cmocka_unit_test(test_import),
        cmocka_unit_test(test_status),  cmocka_unit_test(test_predict),
        cmocka_unit_test(test_eval),    cmocka_unit_test(test_audit),
        cmocka_unit_test(test_unlearn), cmocka_unit_test(test_verify),
        cmocka_unit_test(test_train),   cmocka_unit_test(test_cli),
    };
    /* SISA_OOM_ONLY=test_unlearn runs one loop (e.g. under gdb, to see where allocation N is). */
    if (getenv("SISA_OOM_ONLY")) cmocka_set_test_filter(getenv("SISA_OOM_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
