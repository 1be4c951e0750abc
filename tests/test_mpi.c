/*
 * test_mpi.c - sisa on MPI ranks: results never depend on the number of ranks, and a failure on
 * one rank ends every rank cleanly with its message.
 *
 * Runs the real binary under SISA_MPIEXEC (mpirun) at 1, 2, 3 and 4 ranks (oversubscribed on a
 * 2-core machine; the data are small):
 *   - trained stores identical for P = 1 (no mpirun), 2 and 4, including P > S (spare ranks);
 *   - predictions (with --per-shard) and eval output identical for P = 1, 2, 3, 4, 5, where
 *     P > S splits the rows of each model over the spare ranks;
 *   - unlearning under P = 2 identical to P = 1;
 *   - a tiered store (sharding: tiered, a risk column) trained and unlearned at P = 1 and 2;
 *   - a corrupt shard file owned by rank 1: every rank exits with status 1, and the one message
 *     names rank 1, the shard and the file.
 */
#include "testutil.h"

#include "io/store_io.h"
#include "shard/schedule.h"
#include "sisa/dataset.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_ROWS  600
#define N_FEAT  10
#define N_CLASS 3
#define SHARDS  3

static char dir[2048];
static int with_risk; /* write_data adds a risk column: tier 1 for every sixth row */

static void write_data(const char *path, uint64_t n, uint64_t id0, unsigned seed)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.has_risk = with_risk;
    o.replace = 1;
    o.source = "test_mpi";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    uint64_t s = seed;
    for (uint64_t i = 0; i < n; i++) {
        float x[N_FEAT];
        int64_t y = (int64_t)(i % N_CLASS);
        uint64_t id = id0 + 3 * i;
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
        const uint8_t tier = i % 6 == 0;
        if (with_risk) assert_int_equal(sisa_dataset_writer_append_risk(w, &tier, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static void write_config(const char *name, const char *store)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: train.h5, test: test.h5}\n"
             "store: %s\n"
             "seed: 11\n"
             "sisa: {shards: %d, slices: 2}\n"
             "model: {type: mlp, hidden: [8]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 3}\n"
             "aggregate: {strategy: weighted}\n",
             store, SHARDS);
    tu_write_text(tu_path(dir, name), text);
}

static void ok_p(int p, const char *const *args)
{
    tu_run *r = malloc(sizeof *r);
    tu_sisa_ranks(r, p, args);
    if (r->status != 0)
        fail_msg("sisa %s with %d ranks failed (%d):\n%s%s", args[0], p, r->status, r->out, r->err);
    free(r);
}

static void same_file(const char *a, const char *b)
{
    char ha[65], hb[65];
    tu_sha_file(a, ha);
    tu_sha_file(b, hb);
    if (strcmp(ha, hb) != 0) fail_msg("%s and %s differ", a, b);
}

static void same_store(const char *a, const char *b)
{
    for (int k = 0; k < SHARDS; k++) {
        char pa[4200], pb[4200];
        snprintf(pa, sizeof pa, "%s/%s/shards/%04d/data.h5", dir, a, k);
        snprintf(pb, sizeof pb, "%s/%s/shards/%04d/data.h5", dir, b, k);
        same_file(pa, pb);
        for (int r = 1; r <= 2; r++) {
            snprintf(pa, sizeof pa, "%s/%s/shards/%04d/ckpt-%03d.h5", dir, a, k, r);
            snprintf(pb, sizeof pb, "%s/%s/shards/%04d/ckpt-%03d.h5", dir, b, k, r);
            same_file(pa, pb);
        }
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("mpi"));
    write_data(tu_path(dir, "train.h5"), N_ROWS, 100, 1);
    write_data(tu_path(dir, "test.h5"), 300, 90000, 2);
    return 0;
}

static void test_train_any_rank_count(void **state)
{
    (void)state;
    write_config("p1.yaml", "store-p1");
    write_config("p2.yaml", "store-p2");
    write_config("p4.yaml", "store-p4");
    const char *a1[] = {"train", "-c", tu_path(dir, "p1.yaml"), NULL};
    ok_p(0, a1);
    const char *a2[] = {"train", "-c", tu_path(dir, "p2.yaml"), NULL};
    ok_p(2, a2);
    same_store("store-p1", "store-p2");

    /* More ranks than shards: the spare rank says it waits, the store is the same. */
    tu_run *r = malloc(sizeof *r);
    const char *a4[] = {"train", "-c", tu_path(dir, "p4.yaml"), NULL};
    tu_sisa_ranks(r, 4, a4);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->err, "rank 3: no shard to train here (3 shards over 4 ranks)");
    tu_assert_contains(r->out, "with 4 ranks");
    tu_assert_contains(r->out, "peak memory per rank:");
    same_store("store-p1", "store-p4");

    /* A second run on an up-to-date store changes nothing, at any rank count. */
    tu_sisa_ranks(r, 2, a2);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "is up to date");
    same_store("store-p1", "store-p2");
    free(r);
}

static void test_predict_eval_any_rank_count(void **state)
{
    (void)state;
    char ref[2300], json_ref[65536];
    snprintf(ref, sizeof ref, "%s/pred-1.h5", dir);
    const char *cfg = tu_path(dir, "p1.yaml");
    tu_run *r = malloc(sizeof *r);
    for (int p = 0; p <= 5; p++) {
        if (p == 1) continue; /* P = 1 is the direct run (p = 0) */
        char out[2300];
        snprintf(out, sizeof out, "%s/pred-%d.h5", dir, p ? p : 1);
        const char *args[] = {"predict", "-c", cfg,           "-i",      tu_path(dir, "test.h5"),
                              "-o",      out,  "--per-shard", "--force", NULL};
        ok_p(p, args);
        if (p) same_file(ref, out);
        const char *ev[] = {"-q", "eval", "-c", cfg, "--json", NULL};
        tu_sisa_ranks(r, p, ev);
        assert_int_equal(r->status, 0);
        tu_assert_contains(r->out, "\"accuracy\": ");
        if (!p)
            snprintf(json_ref, sizeof json_ref, "%s", r->out);
        else
            assert_string_equal(r->out, json_ref); /* printed once, by rank 0 */
    }
    free(r);
}

static void test_unlearn_p2_equals_p1(void **state)
{
    (void)state;
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "cp -a '%s/store-p1' '%s/store-u1' && cp -a '%s/store-p1' '%s/store-u2'", dir, dir,
             dir, dir);
    assert_int_equal(system(cmd), 0);
    write_config("u1.yaml", "store-u1");
    write_config("u2.yaml", "store-u2");
    const char *ids = "100,103,199,1000,1795";
    const char *a1[] = {"unlearn", "-c", tu_path(dir, "u1.yaml"), "--ids", ids, NULL};
    const char *a2[] = {"unlearn", "-c", tu_path(dir, "u2.yaml"), "--ids", ids, NULL};
    ok_p(0, a1);
    ok_p(2, a2);
    same_store("store-u1", "store-u2");

    /* An unknown ID is rejected by every rank with status 3. */
    tu_run *r = malloc(sizeof *r);
    const char *bad[] = {"unlearn", "-c", tu_path(dir, "u2.yaml"), "--ids", "7", NULL};
    tu_sisa_ranks(r, 2, bad);
    assert_int_equal(r->status, 3);
    tu_assert_contains(r->err, "rank 0: 1 of the 1 requested sample IDs is not in store");
    free(r);
}

/* Tiered sharding: training (each rank digests its part of the rows, risk tiers included) and
 * unlearning rows of both tiers give the same store at P = 1 and P = 2. */
static void test_tiered_any_rank_count(void **state)
{
    (void)state;
    with_risk = 1;
    write_data(tu_path(dir, "train-risk.h5"), N_ROWS, 100, 3);
    with_risk = 0;
    const char *stores[2] = {"store-t1", "store-t2"};
    for (int i = 0; i < 2; i++) {
        char text[1024], name[32];
        snprintf(text, sizeof text,
                 "data: {train: train-risk.h5, test: test.h5}\n"
                 "store: %s\n"
                 "seed: 11\n"
                 "sisa: {slices: 2, sharding: tiered, tiers: [{shards: %d}, {shards: 1, "
                 "last_slice: true}]}\n"
                 "model: {type: mlp, hidden: [8]}\n"
                 "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 3}\n",
                 stores[i], SHARDS - 1);
        snprintf(name, sizeof name, "t%d.yaml", i + 1);
        tu_write_text(tu_path(dir, name), text);
        const char *a[] = {"train", "-c", tu_path(dir, name), NULL};
        ok_p(i ? 2 : 0, a);
    }
    same_store("store-t1", "store-t2");
    /* IDs 100 and 118 are rows 0 and 6 (tier 1), 103 and 1795 tier 0. */
    const char *ids = "100,103,118,1795";
    const char *u1[] = {"unlearn", "-c", tu_path(dir, "t1.yaml"), "--ids", ids, NULL};
    const char *u2[] = {"unlearn", "-c", tu_path(dir, "t2.yaml"), "--ids", ids, NULL};
    ok_p(0, u1);
    ok_p(2, u2);
    same_store("store-t1", "store-t2");
}

/* Overwrite the first value of shard k's X with NaN (0xffffffff), leaving the file readable. */
static void poison_shard(const char *store, int k)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/shards/%04d/data.h5", dir, store, k);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t x = H5Dopen2(f, "X", H5P_DEFAULT);
    haddr_t off = H5Dget_offset(x);
    H5Dclose(x);
    H5Fclose(f);
    assert_true(off != HADDR_UNDEF);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)off, SEEK_SET), 0);
    const unsigned char nan[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(fwrite(nan, 1, 4, fp), 4);
    fclose(fp);
    for (int r = 1; r <= 2; r++) {
        snprintf(path, sizeof path, "%s/%s/shards/%04d/ckpt-%03d.h5", dir, store, k, r);
        unlink(path);
    }
}

static void test_failure_on_one_rank(void **state)
{
    (void)state;
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp -a '%s/store-p1' '%s/store-bad'", dir, dir);
    assert_int_equal(system(cmd), 0);
    write_config("bad.yaml", "store-bad");
    /* Find a shard that rank 1 of 2 trains (the same map sisa uses). */
    uint64_t rows[SHARDS];
    for (int k = 0; k < SHARDS; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/store-bad/shards/%04d/data.h5", dir, k);
        sisa_shard_data *idx = NULL;
        assert_int_equal(sisa_shard_data_read_index(&idx, path), 0);
        rows[k] = idx->n;
        sisa_shard_data_free(idx);
    }
    uint32_t owner[SHARDS];
    assert_int_equal(sisa_schedule_lpt(rows, SHARDS, 2, owner), 0);
    int victim = -1;
    for (int k = 0; k < SHARDS; k++)
        if (owner[k] == 1) victim = k;
    assert_true(victim >= 0);
    poison_shard("store-bad", victim);

    tu_run *r = malloc(sizeof *r);
    const char *args[] = {"train", "-c", tu_path(dir, "bad.yaml"), NULL};
    tu_sisa_ranks(r, 2, args);
    assert_int_equal(r->status, 1);
    char expect[4400];
    snprintf(expect, sizeof expect,
             "sisa: error: rank 1: shard %d: %s/store-bad/shards/%04d/data.h5", victim, dir,
             victim);
    tu_assert_contains(r->err, expect);
    /* Caught by the file's recorded SHA-256, before HDF5 parses it. */
    tu_assert_contains(r->err, "does not match its recorded SHA-256");
    /* Reported once (by rank 0), not once per rank. */
    const char *first = strstr(r->err, "sisa: error:");
    assert_null(strstr(first + 1, "sisa: error:"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_any_rank_count),
        cmocka_unit_test(test_predict_eval_any_rank_count),
        cmocka_unit_test(test_unlearn_p2_equals_p1),
        cmocka_unit_test(test_tiered_any_rank_count),
        cmocka_unit_test(test_failure_on_one_rank),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
