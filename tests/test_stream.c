/*
 * test_stream.c - the streamed training and prediction paths (issue: training as fast as its
 * kernel, streaming aggregation):
 *   - the dataset digest, v1 and v2, equals an independent computation (tests/dataset_digest.py:
 *     Python's hashlib over h5py's arrays) on datasets with and without groups, with a short last
 *     block and with whole blocks only; v2 digested in parts (as ranks do) and fed in odd pieces
 *     gives the same digest; a changed value changes both;
 *   - a shard data file hashed while it is written: the hash is the file's, the rows read back;
 *   - `sisa train` records the v2 digest, the same at 1, 2 and 3 ranks;
 *   - a store whose manifest carries a v1 digest (made before v2) is still checked the v1 way by
 *     status, audit and train (which re-partitions a lost shard file only from the same data);
 *   - `sisa predict`'s peak memory does not grow with the number of shards.
 */
#include "testutil.h"

#include "aggregate/aggregate.h"
#include "io/dsdigest.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PY "/usr/bin/python3"

static char dir[2048];
static int with_risk; /* write_data adds a risk column: tier (i / 5) % 3, one per group */

/* n rows of d features (values from a fixed LCG), labels i % classes, IDs id0 + 3i, optional
 * groups i / 5. */
static void write_data(const char *path, uint64_t n, uint64_t d, int classes, int with_group,
                       uint64_t id0, unsigned seed)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = classes;
    o.replace = 1;
    o.has_group = with_group;
    o.has_risk = with_risk;
    o.source = "test_stream";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, d, &o), 0);
    uint64_t s = seed;
    float *x = malloc(d * sizeof *x);
    for (uint64_t i = 0; i < n; i++) {
        int64_t y = (int64_t)(i % (uint64_t)classes);
        uint64_t id = id0 + 3 * i, g = i / 5;
        for (uint64_t j = 0; j < d; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % (uint64_t)classes == (uint64_t)y ? 1.0f : 0.0f) +
                   (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, with_group ? &g : NULL, 1), 0);
        const uint8_t risk = (uint8_t)(g % 3);
        if (with_risk) assert_int_equal(sisa_dataset_writer_append_risk(w, &risk, 1), 0);
    }
    free(x);
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

/* The two digests computed by tests/dataset_digest.py. */
static void python_digests(const char *path, char v1[65], char v2[65])
{
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/dataset_digest.py", tu_env("SISA_TEST_SRC"));
    const char *argv[] = {PY, script, path, NULL};
    tu_run *r = malloc(sizeof *r);
    tu_run_argv(r, argv);
    if (r->status != 0) fail_msg("dataset_digest.py failed (%d): %s", r->status, r->err);
    assert_int_equal(sscanf(r->out, "%64s %64s", v1, v2), 2);
    free(r);
}

/* The v2 digest computed in `parts` parts, each fed in pieces of `piece` rows (then 1 row, then
 * the rest), leaves combined in block order. */
static void digest_in_parts(const char *path, uint32_t parts, uint64_t piece, char hex[65])
{
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    assert_int_equal(sisa_dataset_stream_open(&ds, path, &hdr), 0);
    const uint64_t m = sisa_dsdigest_blocks(hdr.n);
    uint8_t(*all)[32] = calloc(m, 32);
    float *x = malloc(hdr.n * hdr.d * sizeof *x);
    assert_int_equal(sisa_dataset_stream_read_x(ds, 0, hdr.n, x), 0);
    for (uint32_t p = 0; p < parts; p++) {
        uint64_t b0, b1;
        sisa_partition_digest_part(hdr.n, p, parts, &b0, &b1);
        uint64_t r0 = b0 * SISA_DIGEST_BLOCK_ROWS;
        uint64_t r1 = b1 * SISA_DIGEST_BLOCK_ROWS < hdr.n ? b1 * SISA_DIGEST_BLOCK_ROWS : hdr.n;
        if (b0 == b1) r0 = r1 = 0;
        sisa_dsdigest c;
        assert_int_equal(sisa_dsdigest_init(&c, SISA_DIGEST_V2, &hdr, sisa_dataset_stream_y(ds),
                                            sisa_dataset_stream_id(ds),
                                            sisa_dataset_stream_group(ds), r0, r1),
                         0);
        c.risk = sisa_dataset_stream_risk(ds);
        uint64_t at = r0, step = piece;
        while (at < r1) {
            uint64_t take = r1 - at < step ? r1 - at : step;
            assert_int_equal(sisa_dsdigest_rows(&c, x + at * hdr.d, take), 0);
            at += take;
            step = step == 1 ? piece : 1; /* alternate: piece, 1, piece, 1, ... */
        }
        assert_int_equal(c.n_leaves, b1 - b0);
        if (b1 > b0) memcpy(all[b0], c.leaves, (b1 - b0) * 32);
        /* Feeding past the range is refused. */
        if (r1 < hdr.n) assert_int_equal(sisa_dsdigest_rows(&c, x + r1 * hdr.d, 1), SISA_EINTERNAL);
        sisa_dsdigest_free(&c);
    }
    sisa_dsdigest_root(hex, &hdr, (const uint8_t(*)[32])all);
    free(x);
    free(all);
    sisa_dataset_stream_close(ds);
}

static void check_digests(const char *path)
{
    char py1[65], py2[65], c1[65], c2[65], part[65];
    python_digests(path, py1, py2);
    assert_int_equal(sisa_dataset_digest(path, SISA_DIGEST_V1, c1), 0);
    assert_int_equal(sisa_dataset_digest(path, SISA_DIGEST_V2, c2), 0);
    assert_string_equal(c1, py1);
    assert_string_equal(c2, py2);
    assert_string_not_equal(c1, c2);
    const uint32_t parts[] = {1, 2, 3, 5, 64};
    const uint64_t pieces[] = {1000, 4096, 5000};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (size_t j = 0; j < sizeof pieces / sizeof pieces[0]; j++) {
            digest_in_parts(path, parts[i], pieces[j], part);
            assert_string_equal(part, py2);
        }
}

static void test_digest_definition(void **state)
{
    (void)state;
    /* 8 whole blocks and a short one (the 4- and 2-way hashing and the single path), groups. */
    const char *a = tu_path(dir, "digest-a.h5");
    write_data(a, 8 * SISA_DIGEST_BLOCK_ROWS + 123, 7, 3, 1, 5, 1);
    check_digests(a);
    /* Fewer rows than one block, no groups. */
    const char *b = tu_path(dir, "digest-b.h5");
    write_data(b, 5, 3, 2, 0, 0, 2);
    check_digests(b);
    /* Whole blocks only (3: 2-way then single). */
    const char *c = tu_path(dir, "digest-c.h5");
    write_data(c, 3 * SISA_DIGEST_BLOCK_ROWS, 2, 2, 0, 1000, 3);
    check_digests(c);
    /* A risk column enters both digests (and Python agrees), with and without groups. */
    char plain1[65], plain2[65], risky1[65], risky2[65];
    const char *d0 = tu_path(dir, "digest-d0.h5");
    write_data(d0, 2 * SISA_DIGEST_BLOCK_ROWS + 7, 3, 2, 1, 10, 4);
    assert_int_equal(sisa_dataset_digest(d0, SISA_DIGEST_V1, plain1), 0);
    assert_int_equal(sisa_dataset_digest(d0, SISA_DIGEST_V2, plain2), 0);
    with_risk = 1;
    const char *d1 = tu_path(dir, "digest-d1.h5");
    write_data(d1, 2 * SISA_DIGEST_BLOCK_ROWS + 7, 3, 2, 1, 10, 4);
    check_digests(d1);
    assert_int_equal(sisa_dataset_digest(d1, SISA_DIGEST_V1, risky1), 0);
    assert_int_equal(sisa_dataset_digest(d1, SISA_DIGEST_V2, risky2), 0);
    assert_string_not_equal(plain1, risky1);
    assert_string_not_equal(plain2, risky2);
    const char *e = tu_path(dir, "digest-e.h5");
    write_data(e, 5 * SISA_DIGEST_BLOCK_ROWS, 2, 2, 0, 0, 5);
    check_digests(e);
    with_risk = 0;

    /* One changed value changes both digests (and Python agrees again). */
    char before1[65], before2[65];
    assert_int_equal(sisa_dataset_digest(c, SISA_DIGEST_V1, before1), 0);
    assert_int_equal(sisa_dataset_digest(c, SISA_DIGEST_V2, before2), 0);
    hid_t f = H5Fopen(c, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "X", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t start[2] = {2500, 1}, count[2] = {1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(2, count, NULL);
    float v = 0.25f;
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
    char after1[65], after2[65];
    assert_int_equal(sisa_dataset_digest(c, SISA_DIGEST_V1, after1), 0);
    assert_int_equal(sisa_dataset_digest(c, SISA_DIGEST_V2, after2), 0);
    assert_string_not_equal(before1, after1);
    assert_string_not_equal(before2, after2);
    check_digests(c);
}

static void check_written(const sisa_shard_data *sd, const char *path)
{
    char sha[65], file_sha[65];
    tu_write_text(path, "");
    assert_int_equal(sisa_shard_data_write_hashed(path, sd, sha), 0);
    tu_sha_file(path, file_sha);
    assert_string_equal(sha, file_sha);
    sisa_shard_data *back = NULL;
    assert_int_equal(sisa_shard_data_read(&back, path), 0);
    assert_int_equal(back->n, sd->n);
    assert_int_equal(back->d, sd->d);
    assert_int_equal(back->shard, sd->shard);
    if (sd->n) {
        assert_memory_equal(back->X, sd->X, sd->n * sd->d * sizeof(float));
        assert_memory_equal(back->y, sd->y, sd->n * sizeof(int32_t));
        assert_memory_equal(back->id, sd->id, sd->n * sizeof(uint64_t));
        assert_memory_equal(back->slice, sd->slice, sd->n * sizeof(int32_t));
    }
    assert_true((back->group != NULL) == (sd->group != NULL));
    if (sd->group && sd->n) assert_memory_equal(back->group, sd->group, sd->n * sizeof(uint64_t));
    sisa_shard_data_free(back);
    /* The same rows give the same bytes. */
    char again[65];
    const char *p2 = tu_path(dir, "again.h5");
    tu_write_text(p2, "");
    assert_int_equal(sisa_shard_data_write_hashed(p2, sd, again), 0);
    assert_string_equal(again, sha);
}

static void test_data_file_hashed_while_written(void **state)
{
    (void)state;
    for (int with_group = 0; with_group < 2; with_group++) {
        for (uint64_t n = 0; n <= 3000; n += 1500) {
            sisa_shard_data *sd = NULL;
            assert_int_equal(sisa_shard_data_alloc(&sd, 3, n, 9, 4, with_group), 0);
            for (uint64_t i = 0; i < n; i++) {
                sd->id[i] = 10 + 2 * i;
                sd->y[i] = (int32_t)(i % 4);
                sd->slice[i] = (int32_t)(i % 3);
                if (with_group) sd->group[i] = i / 7;
                for (uint64_t j = 0; j < 9; j++) sd->X[i * 9 + j] = (float)(i * 9 + j) * 0.5f;
            }
            check_written(sd, tu_path(dir, "shard.h5"));
            sisa_shard_data_free(sd);
        }
    }
}

/* ---- the binary ---------------------------------------------------------------------------- */

static void write_config(const char *name, const char *store, int shards, const char *model)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: train.h5, test: test.h5}\n"
             "store: %s\n"
             "seed: 5\n"
             "sisa: {shards: %d, slices: 2}\n"
             "model: %s\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n"
             "aggregate: {strategy: mean}\n",
             store, shards, model);
    tu_write_text(tu_path(dir, name), text);
}

static void run_ok(tu_run *r, int p, const char *const *args)
{
    tu_sisa_ranks(r, p, args);
    if (r->status != 0)
        fail_msg("sisa %s (%d ranks) failed (%d):\n%s%s", args[0], p, r->status, r->out, r->err);
}

/* The value of `key: ` in STORE/manifest. */
static void manifest_value(const char *store, const char *key, char *out, size_t cap)
{
    char path[4200], pat[128];
    snprintf(path, sizeof path, "%s/%s/manifest", dir, store);
    char *text = tu_read_file(path, NULL);
    snprintf(pat, sizeof pat, "\n%s: ", key);
    char *at = strstr(text, pat);
    if (!at) fail_msg("%s has no %s", path, key);
    at += strlen(pat);
    size_t len = strcspn(at, "\n");
    snprintf(out, cap, "%.*s", (int)len, at);
    free(text);
}

static void test_train_digest_any_rank_count(void **state)
{
    (void)state;
    const char *train = tu_path(dir, "train.h5");
    write_data(train, 3 * SISA_DIGEST_BLOCK_ROWS + 77, 6, 3, 1, 100, 7);
    write_data(tu_path(dir, "test.h5"), 300, 6, 3, 0, 900000, 8);
    char py1[65], py2[65];
    python_digests(train, py1, py2);
    tu_run *r = malloc(sizeof *r);
    for (int p = 0; p <= 3; p++) {
        if (p == 1) continue; /* P = 1 is the direct run (p = 0) */
        char cfg[32], store[32], v[128];
        snprintf(cfg, sizeof cfg, "t%d.yaml", p);
        snprintf(store, sizeof store, "store-t%d", p);
        write_config(cfg, store, 2, "{type: logreg}");
        const char *args[] = {"train", "-c", tu_path(dir, cfg), NULL};
        run_ok(r, p, args);
        manifest_value(store, "dataset_digest", v, sizeof v);
        assert_string_equal(v, py2);
        manifest_value(store, "dataset_digest_version", v, sizeof v);
        assert_string_equal(v, "2");
    }
    free(r);
}

/* Rewrite STORE/manifest as sisa wrote it before the v2 digest: no dataset_digest_version line
 * and the given digest, committed through the store's journal. */
static void make_v1_manifest(const char *store, const char *digest)
{
    char root[4200], path[4300];
    snprintf(root, sizeof root, "%s/%s", dir, store);
    snprintf(path, sizeof path, "%s/manifest", root);
    char *text = tu_read_file(path, NULL);
    char *out = malloc(strlen(text) + 1);
    size_t used = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "dataset_digest_version: ", 24)) continue;
        if (!strncmp(line, "dataset_digest: ", 16))
            used += (size_t)sprintf(out + used, "dataset_digest: %s\n", digest);
        else
            used += (size_t)sprintf(out + used, "%s\n", line);
    }
    sisa_files f;
    memset(&f, 0, sizeof f);
    assert_int_equal(sisa_files_open(&f, root, "journal", 1), 0);
    assert_int_equal(sisa_files_write(&f, "manifest", out, used), 0);
    sisa_files_close(&f);
    free(out);
    free(text);
}

static void test_v1_store_still_checked_v1(void **state)
{
    (void)state;
    char py1[65], py2[65];
    python_digests(tu_path(dir, "train.h5"), py1, py2);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/store-v1' && cp -a '%s/store-t0' '%s/store-v1'", dir, dir,
             dir);
    assert_int_equal(system(cmd), 0);
    write_config("v1.yaml", "store-v1", 2, "{type: logreg}");
    const char *cfg = tu_path(dir, "v1.yaml");
    make_v1_manifest("store-v1", py1);
    tu_run *r = malloc(sizeof *r);

    const char *status[] = {"status", "-c", cfg, "--json", NULL};
    run_ok(r, 0, status);
    tu_assert_contains(r->out, "\"dataset_digest_version\": 1");
    char want[128];
    snprintf(want, sizeof want, "\"dataset_digest\": \"%s\"", py1);
    tu_assert_contains(r->out, want);

    const char *audit[] = {"audit", "-c", cfg, "--json", NULL};
    run_ok(r, 0, audit);
    tu_assert_contains(r->out, "\"dataset_digest_ok\": true");
    tu_assert_contains(r->out, want);

    /* A lost shard file is partitioned again only after the dataset passes the v1 check. */
    char data[4300], before[65], after[65];
    snprintf(data, sizeof data, "%s/store-v1/shards/0001/data.h5", dir);
    tu_sha_file(data, before);
    assert_int_equal(remove(data), 0);
    const char *train[] = {"train", "-c", cfg, NULL};
    run_ok(r, 0, train);
    tu_sha_file(data, after);
    assert_string_equal(before, after);

    /* The same store with a v1 digest the dataset does not have: refused, and audit says so. */
    make_v1_manifest("store-v1", py2);
    assert_int_equal(remove(data), 0);
    tu_sisa_ranks(r, 0, train);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "has changed since store");
    assert_false(tu_exists(data));
    tu_sisa_ranks(r, 0, audit);
    tu_assert_contains(r->out, "\"dataset_digest_ok\": false");
    free(r);
}

/* Rank 0's memory in `sisa predict` is one chunk of rows x classes: a 16-shard store predicts a
 * large input in about the memory of a 2-shard store (holding every shard's posteriors, it
 * would need 14 x rows x classes x 4 bytes more: 168 MB here). */
static void test_predict_memory_flat_in_shards(void **state)
{
    (void)state;
    const uint64_t n = 300000;
    write_data(tu_path(dir, "small.h5"), 600, 4, 10, 0, 0, 11);
    write_data(tu_path(dir, "big.h5"), n, 4, 10, 0, 0, 12);
    tu_run *r = malloc(sizeof *r);
    long rss[2];
    char ref[2][4200];
    const int shards[2] = {2, 16};
    for (int i = 0; i < 2; i++) {
        char cfg[32], store[32];
        snprintf(cfg, sizeof cfg, "m%d.yaml", shards[i]);
        snprintf(store, sizeof store, "store-m%d", shards[i]);
        char text[1024];
        snprintf(text, sizeof text,
                 "data: {train: small.h5}\nstore: %s\nseed: 3\nsisa: {shards: %d, slices: 1}\n"
                 "model: {type: logreg}\ntrain: {optimizer: adam, lr: 0.01, batch_size: 16, "
                 "epochs: 1}\naggregate: {strategy: mean}\n",
                 store, shards[i]);
        tu_write_text(tu_path(dir, cfg), text);
        const char *train[] = {"train", "-c", tu_path(dir, cfg), NULL};
        run_ok(r, 0, train);
        snprintf(ref[i], sizeof ref[i], "%s/pred-m%d.h5", dir, shards[i]);
        const char *pred[] = {"predict", "-c",   tu_path(dir, cfg), "-i", tu_path(dir, "big.h5"),
                              "-o",      ref[i], "--force",         NULL};
        run_ok(r, 0, pred);
        rss[i] = r->maxrss_kb;
        print_message("  predict %llu rows with %d shards: peak memory %ld KB\n",
                      (unsigned long long)n, shards[i], rss[i]);
    }
    assert_true(rss[0] > 0);
    assert_true(rss[1] < rss[0] + 24 * 1024);
    free(r);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("stream"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_definition),
        cmocka_unit_test(test_data_file_hashed_while_written),
        cmocka_unit_test(test_train_digest_any_rank_count),
        cmocka_unit_test(test_v1_store_still_checked_v1),
        cmocka_unit_test(test_predict_memory_flat_in_shards),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
