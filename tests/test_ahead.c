/*
 * test_ahead.c - stage 1 of a rank's first shard, trained on a helper thread while `sisa train`
 * writes the shard files (shard/train.h, sisa_shard_prestage), has the bits of the same stage
 * trained in line.
 *
 * Through the real binary: a store trained as usual (the helper thread trains shard 0's stage
 * 1; `sisa -v` says so) and one trained with SISA_TRAIN_AHEAD=0 (every stage in line) hold the
 * same bytes in every data file and checkpoint, at S=3, R=2 and at S=1, R=1 (where the whole
 * training runs on the helper thread). And a stage started ahead that is not needed (the
 * shard's data file is written again but its checkpoints are still valid) is abandoned: the
 * store is left as it was. The same for a deletion (the first stage to retrain, trained while
 * the shard's new data file is written).
 */
#include "testutil.h"

#include "sisa/dataset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_ROWS  900
#define N_FEAT  10
#define N_CLASS 3

static char dir[2048];

static void write_data(const char *path)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_ahead";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    uint64_t s = 7;
    for (uint64_t i = 0; i < N_ROWS; i++) {
        float x[N_FEAT];
        int64_t y = (int64_t)(i % N_CLASS);
        uint64_t id = 50 + 7 * i;
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static const char *write_config(const char *name, const char *store, int shards, int slices)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: train.h5}\n"
             "store: %s\n"
             "seed: 5\n"
             "sisa: {shards: %d, slices: %d}\n"
             "model: {type: mlp, hidden: [16]}\n"
             "train: {optimizer: adam, lr: 0.01, schedule: cosine, batch_size: 32, epochs: 4}\n",
             store, shards, slices);
    const char *path = tu_path(dir, name);
    tu_write_text(path, text);
    return path;
}

/* sisa -v train -c CFG (with SISA_TRAIN_AHEAD=ahead when given); returns stderr's copy. */
static char *train(const char *cfg, const char *ahead)
{
    if (ahead) setenv("SISA_TRAIN_AHEAD", ahead, 1);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "-v", "train", "-c", cfg, NULL);
    unsetenv("SISA_TRAIN_AHEAD");
    if (r->status != 0)
        fail_msg("sisa train -c %s failed (%d):\n%s%s", cfg, r->status, r->out, r->err);
    char *err = strdup(r->err);
    free(r);
    return err;
}

static void same_file(const char *a, const char *b)
{
    char ha[65], hb[65];
    tu_sha_file(a, ha);
    tu_sha_file(b, hb);
    if (strcmp(ha, hb) != 0) fail_msg("%s and %s differ", a, b);
}

static void same_store(const char *a, const char *b, int shards, int slices)
{
    for (int k = 0; k < shards; k++) {
        char pa[4200], pb[4200];
        snprintf(pa, sizeof pa, "%s/%s/shards/%04d/data.h5", dir, a, k);
        snprintf(pb, sizeof pb, "%s/%s/shards/%04d/data.h5", dir, b, k);
        same_file(pa, pb);
        for (int r = 1; r <= slices; r++) {
            snprintf(pa, sizeof pa, "%s/%s/shards/%04d/ckpt-%03d.h5", dir, a, k, r);
            snprintf(pb, sizeof pb, "%s/%s/shards/%04d/ckpt-%03d.h5", dir, b, k, r);
            same_file(pa, pb);
        }
    }
}

#define AHEAD_NOTE          "stage 1 of the first shard training meanwhile"
#define UNLEARN_IDS         "92,120,169"
#define UNLEARN_FIRST_SHARD "shard 0: 1 row(s), retrain stages 2-3"

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("ahead"));
    write_data(tu_path(dir, "train.h5"));
    return 0;
}

static void check_same_bits(int shards, int slices)
{
    char na[96], nb[96], sa[64], sb[64];
    snprintf(sa, sizeof sa, "store-ahead-%d-%d", shards, slices);
    snprintf(sb, sizeof sb, "store-inline-%d-%d", shards, slices);
    snprintf(na, sizeof na, "%s.yaml", sa);
    snprintf(nb, sizeof nb, "%s.yaml", sb);
    char ca[4200], cb[4200];
    snprintf(ca, sizeof ca, "%s", write_config(na, sa, shards, slices));
    snprintf(cb, sizeof cb, "%s", write_config(nb, sb, shards, slices));
    char *ea = train(ca, NULL);
    char *eb = train(cb, "0");
    /* Not vacuous: the first store did train ahead, the second did not. */
    tu_assert_contains(ea, AHEAD_NOTE);
    if (strstr(eb, AHEAD_NOTE)) fail_msg("SISA_TRAIN_AHEAD=0 still trained ahead:\n%s", eb);
    same_store(sa, sb, shards, slices);
    free(ea);
    free(eb);
}

static void test_ahead_same_bits(void **state)
{
    (void)state;
    check_same_bits(3, 2);
}

static void test_ahead_whole_training(void **state)
{
    (void)state;
    check_same_bits(1, 1);
}

static void test_ahead_abandoned(void **state)
{
    (void)state;
    const char *cfg = write_config("again.yaml", "store-again", 3, 2);
    free(train(cfg, NULL));
    char data[4200];
    snprintf(data, sizeof data, "%s/store-again/shards/0000/data.h5", dir);
    char before[3][2][65];
    for (int k = 0; k < 3; k++)
        for (int r = 1; r <= 2; r++) {
            char p[4300];
            snprintf(p, sizeof p, "%s/store-again/shards/%04d/ckpt-%03d.h5", dir, k, r);
            tu_sha_file(p, before[k][r - 1]);
        }
    char sha_data[65];
    tu_sha_file(data, sha_data);
    /* The data file goes missing: train writes it again from the dataset and starts shard 0's
     * stage 1 ahead, then finds its checkpoints valid and abandons that stage. */
    assert_int_equal(unlink(data), 0);
    char *err = train(cfg, NULL);
    tu_assert_contains(err, AHEAD_NOTE);
    free(err);
    char now[65];
    tu_sha_file(data, now);
    assert_string_equal(now, sha_data);
    for (int k = 0; k < 3; k++)
        for (int r = 1; r <= 2; r++) {
            char p[4300];
            snprintf(p, sizeof p, "%s/store-again/shards/%04d/ckpt-%03d.h5", dir, k, r);
            tu_sha_file(p, now);
            if (strcmp(now, before[k][r - 1]) != 0)
                fail_msg("%s changed after an abandoned stage", p);
        }
}

/* sisa -v unlearn -c CFG --ids IDS (with SISA_TRAIN_AHEAD=ahead when given): stderr + stdout. */
static char *unlearn(const char *cfg, const char *ids, const char *ahead)
{
    if (ahead) setenv("SISA_TRAIN_AHEAD", ahead, 1);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "-v", "unlearn", "-c", cfg, "--ids", ids, NULL);
    unsetenv("SISA_TRAIN_AHEAD");
    if (r->status != 0)
        fail_msg("sisa unlearn -c %s --ids %s failed (%d):\n%s%s", cfg, ids, r->status, r->out,
                 r->err);
    size_t n = strlen(r->err) + strlen(r->out) + 1;
    char *both = malloc(n);
    snprintf(both, n, "%s%s", r->err, r->out);
    free(r);
    return both;
}

#define UNLEARN_AHEAD_NOTE "its first stage to retrain was trained while its data file"

/* A deletion's first stage to retrain, trained on a helper thread while the shard's new data
 * file is written, from the checkpoint before it: the same bits as retraining in line. The
 * request hits shard 0 from stage 2 on (so the stage ahead resumes from checkpoint 1), and
 * shards 1 and 2, which retrain in line after it. */
static void test_ahead_unlearn(void **state)
{
    (void)state;
    const char *ca = write_config("del-ahead.yaml", "store-del-ahead", 3, 3);
    char cb[4200];
    snprintf(cb, sizeof cb, "%s", write_config("del-inline.yaml", "store-del-inline", 3, 3));
    free(train(ca, NULL));
    free(train(cb, NULL));
    char *oa = unlearn(ca, UNLEARN_IDS, NULL);
    char *ob = unlearn(cb, UNLEARN_IDS, "0");
    /* Not vacuous: the first one did train ahead, from a checkpoint, the second did not. */
    tu_assert_contains(oa, UNLEARN_AHEAD_NOTE);
    tu_assert_contains(oa, UNLEARN_FIRST_SHARD);
    if (strstr(ob, UNLEARN_AHEAD_NOTE)) fail_msg("SISA_TRAIN_AHEAD=0 still trained ahead:\n%s", ob);
    same_store("store-del-ahead", "store-del-inline", 3, 3);
    free(oa);
    free(ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ahead_same_bits),
        cmocka_unit_test(test_ahead_whole_training),
        cmocka_unit_test(test_ahead_abandoned),
        cmocka_unit_test(test_ahead_unlearn),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
