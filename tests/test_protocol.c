/*
 * test_protocol.c - the deletion protocol of the orchestration layer (src/run/requests.c) as a
 * library, at one rank in this process and under mpirun (this executable re-run as workers).
 *
 *   - a deletion carried to certified by sisa_run_unlearn gives, bit for bit, the posteriors of a
 *     store trained without the rows, and the report names the request and its shards;
 *   - an unknown ID rejects the request and leaves the store journal as it was;
 *   - a request only accepted (as after a crash) fences its shards for readers, and the next
 *     writer's open (sisa_run_recover) finishes it to the same bits, at 1, 2 and 3 ranks;
 *   - the whole deletion under mpirun at 2 and 3 ranks gives the same bits as at one rank.
 */
#include "testutil.h"

#include "dist/dist.h"
#include "run/run.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_ROWS  240
#define N_TEST  64
#define N_FEAT  6
#define N_CLASS 3
#define SHARDS  3

static char dir[2048];
static const uint64_t deleted[] = {103, 130, 157, 400};
#define N_DELETED (sizeof deleted / sizeof deleted[0])

static int is_deleted(uint64_t id)
{
    for (size_t i = 0; i < N_DELETED; i++)
        if (deleted[i] == id) return 1;
    return 0;
}

static float feature(uint64_t row, int j, int64_t y)
{
    uint64_t s = (row + 1) * 6364136223846793005ull + (uint64_t)j * 1442695040888963407ull;
    s ^= s >> 29;
    return (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
}

/* Rows 0..n: ID 100 + 3 i; `skip` leaves the deleted IDs out. */
static void write_data(const char *path, uint64_t n, int skip)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_protocol";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t id = 100 + 3 * i;
        if (skip && is_deleted(id)) continue;
        const int64_t y = (int64_t)(i % N_CLASS);
        float x[N_FEAT];
        for (int j = 0; j < N_FEAT; j++) x[j] = feature(i, j, y);
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static const char *write_config(const char *name, const char *train, const char *store)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: %s}\nstore: %s\nseed: 5\nsisa: {shards: %d, slices: 2}\n"
             "model: {type: mlp, hidden: [8]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n",
             train, store, SHARDS);
    const char *path = tu_path(dir, name);
    tu_write_text(path, text);
    return path;
}

/* ---- the steps, run here or by a worker under mpirun ---------------------------------------- */

static int step_train(sisa_dist *d, const char *cfg)
{
    sisa_run_train_result r;
    int err = sisa_run_train(d, cfg, NULL, &r);
    sisa_run_train_result_free(&r);
    return err;
}

static int step_unlearn(sisa_dist *d, const char *cfg, const uint64_t *ids, size_t n,
                        sisa_run_unlearn_result *res)
{
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    const sisa_run_open_opts oo = {0, "unlearn", 0, NULL};
    int err = sisa_run_open_store(d, &st, &c, cfg, SISA_STORE_WRITE, &oo);
    const sisa_run_deletion w = {.ids = ids, .n_ids = n};
    if (err == SISA_OK) err = sisa_run_unlearn(d, &st, &w, res, NULL, NULL);
    sisa_store_close(&st);
    return err;
}

/* Accept only: the request is journaled and nothing else happens (a crash right after). */
static int step_accept(sisa_dist *d, const char *cfg)
{
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    sisa_request r = {0};
    const sisa_run_open_opts oo = {0, "unlearn", 0, NULL};
    int err = sisa_run_open_store(d, &st, &c, cfg, SISA_STORE_WRITE, &oo);
    const sisa_run_deletion w = {.ids = deleted, .n_ids = N_DELETED};
    if (err == SISA_OK && sisa_dist_rank(d) == 0) err = sisa_run_accept(&st, &w, &r);
    err = sisa_dist_agree(d, err);
    sisa_request_free(&r);
    sisa_store_close(&st);
    return err;
}

/* A writer's open finishes an unfinished request. */
static int step_recover(sisa_dist *d, const char *cfg)
{
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    const sisa_run_open_opts oo = {0, "train", 0, NULL};
    int err = sisa_run_open_store(d, &st, &c, cfg, SISA_STORE_WRITE, &oo);
    sisa_store_close(&st);
    return err;
}

static int worker(int argc, char **argv)
{
    sisa_dist *d = NULL;
    int err = sisa_dist_init(&d, &argc, &argv);
    if (err == SISA_OK) {
        const char *mode = argv[2], *cfg = argv[3];
        if (!strcmp(mode, "train"))
            err = step_train(d, cfg);
        else if (!strcmp(mode, "unlearn")) {
            sisa_run_unlearn_result r;
            err = step_unlearn(d, cfg, deleted, N_DELETED, &r);
            sisa_run_unlearn_result_free(&r);
        } else if (!strcmp(mode, "recover"))
            err = step_recover(d, cfg);
        else
            err = SISA_ERR(SISA_EUSAGE, "unknown mode %s", mode);
        err = sisa_dist_agree(d, err);
    }
    if (err < 0 && sisa_dist_rank(d) == 0) fprintf(stderr, "worker: %s\n", sisa_error_message());
    sisa_dist_finalize(d, err < 0 ? 1 : 0);
    return err < 0 ? 1 : 0;
}

static void run_workers(int p, const char *mode, const char *cfg)
{
    char self[PATH_MAX], np[16];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    snprintf(np, sizeof np, "%d", p);
    const char *argv[] = {tu_env("SISA_MPIEXEC"), "-n", np, self, "--worker", mode, cfg, NULL};
    /* Open MPI does not free what MPI_Init allocates (see tu_sisa_ranks). */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    tu_run *r = malloc(sizeof *r);
    assert_non_null(r);
    tu_run_argv(r, argv);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    if (r->status != 0)
        fail_msg("%s at %d ranks failed (%d):\n%s%s", mode, p, r->status, r->out, r->err);
    free(r);
}

/* ---- checks ------------------------------------------------------------------------------- */

typedef struct {
    float *proba;
    uint32_t classes;
} collected;

static int collect_start(void *ctx, const sisa_run_ensemble *e)
{
    collected *c = ctx;
    c->classes = e->classes;
    c->proba = calloc(e->n * e->classes, sizeof *c->proba);
    return c->proba ? SISA_OK : SISA_ENOMEM;
}

static int collect_rows(void *ctx, uint64_t r0, uint64_t nr, const float *proba,
                        const int32_t *label)
{
    collected *c = ctx;
    (void)label;
    memcpy(c->proba + r0 * c->classes, proba, nr * c->classes * sizeof *proba);
    return SISA_OK;
}

/* The ensemble's posteriors of the test rows (in memory), at one rank. */
static float *posteriors(const char *cfg)
{
    sisa_dist *d = NULL;
    assert_int_equal(sisa_dist_single(&d), 0);
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    sisa_run_ensemble e;
    memset(&e, 0, sizeof e);
    collected col = {0};
    float *x = malloc(N_TEST * N_FEAT * sizeof *x);
    assert_non_null(x);
    for (uint64_t i = 0; i < N_TEST; i++)
        for (int j = 0; j < N_FEAT; j++) x[i * N_FEAT + j] = feature(1000 + i, j, (int64_t)(i % 3));
    int err = sisa_run_open_store(d, &st, &c, cfg, SISA_STORE_READ, NULL);
    const sisa_run_input in = {.x = x, .n = N_TEST, .d = N_FEAT};
    const sisa_run_sink sink = {collect_start, NULL, collect_rows, &col};
    if (err == SISA_OK) err = sisa_run_ensemble_stream(d, &st, &in, &e, &sink);
    if (err) fail_msg("predicting with %s: %s", cfg, sisa_error_message());
    sisa_run_ensemble_free(&e);
    sisa_store_close(&st);
    sisa_dist_free(d);
    free(x);
    return col.proba;
}

static void same_posteriors(const char *a, const char *b)
{
    float *pa = posteriors(a), *pb = posteriors(b);
    if (memcmp(pa, pb, N_TEST * N_CLASS * sizeof *pa) != 0)
        fail_msg("the posteriors of %s and %s differ", a, b);
    free(pa);
    free(pb);
}

/* The latest journaled request of a store, and whether there is one. */
static int latest_request(const char *cfg, sisa_request *r)
{
    sisa_dist *d = NULL;
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    sisa_files f = {0};
    int found = 0;
    assert_int_equal(sisa_dist_single(&d), 0);
    assert_int_equal(sisa_config_load(&c, cfg), 0);
    assert_int_equal(sisa_store_open(&st, &c, SISA_STORE_INSPECT, 0), 0);
    assert_int_equal(sisa_store_files(&st, &f, 0), 0);
    assert_int_equal(sisa_request_latest(&f.j, r, &found, NULL), 0);
    sisa_files_close(&f);
    sisa_store_close(&st);
    sisa_dist_free(d);
    return found;
}

static const char *ref_cfg;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("protocol"));
    write_data(tu_path(dir, "all.h5"), N_ROWS, 0);
    write_data(tu_path(dir, "kept.h5"), N_ROWS, 1);
    /* The reference: trained without the rows. */
    static char ref[2048];
    snprintf(ref, sizeof ref, "%s", write_config("ref.yaml", "kept.h5", "store-ref"));
    ref_cfg = ref;
    sisa_dist *d = NULL;
    assert_int_equal(sisa_dist_single(&d), 0);
    if (step_train(d, ref_cfg) != 0) fail_msg("training the reference: %s", sisa_error_message());
    sisa_dist_free(d);
    return 0;
}

static void test_one_rank(void **state)
{
    (void)state;
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "%s", write_config("one.yaml", "all.h5", "store-one"));
    sisa_dist *d = NULL;
    assert_int_equal(sisa_dist_single(&d), 0);
    assert_int_equal(step_train(d, cfg), 0);

    /* An unknown ID rejects the whole request; nothing is journaled. */
    const uint64_t unknown[] = {103, 101};
    sisa_run_unlearn_result res;
    assert_int_equal(step_unlearn(d, cfg, unknown, 2, &res), SISA_EREJECT);
    sisa_run_unlearn_result_free(&res);
    sisa_request r = {0};
    assert_int_equal(latest_request(cfg, &r), 0);
    sisa_request_free(&r);

    if (step_unlearn(d, cfg, deleted, N_DELETED, &res) != 0)
        fail_msg("unlearn: %s", sisa_error_message());
    assert_int_equal(res.req.n, 1);
    assert_int_equal(res.req.rows, N_DELETED);
    assert_int_equal(res.req.state, SISA_REQ_CERTIFIED);
    assert_false(res.nothing);
    assert_true(res.req.n_shards >= 1 && res.req.n_shards <= SHARDS);
    assert_non_null(res.reps);
    for (uint32_t i = 0; i < res.req.n_shards; i++)
        assert_int_equal(res.reps[i].shard, res.req.shards[i].shard);
    assert_true(res.retrain_visits > 0 && res.retrain_visits < res.full_visits);
    sisa_run_unlearn_result_free(&res);
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.state, SISA_REQ_CERTIFIED);
    sisa_request_free(&r);
    same_posteriors(cfg, ref_cfg);

    /* The same request again: nothing to do, nothing journaled. */
    assert_int_equal(step_unlearn(d, cfg, deleted, N_DELETED, &res), 0);
    assert_true(res.nothing);
    assert_int_equal(res.req.already_ids, N_DELETED);
    sisa_run_unlearn_result_free(&res);
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.n, 1);
    sisa_request_free(&r);
    sisa_dist_free(d);
}

/* Accepted only, then: a reader fences the shards; the next writer finishes it (P ranks). */
static void interrupted(int p, const char *name)
{
    char yaml[64], store[64], cfg[2048];
    snprintf(yaml, sizeof yaml, "%s.yaml", name);
    snprintf(store, sizeof store, "store-%s", name);
    snprintf(cfg, sizeof cfg, "%s", write_config(yaml, "all.h5", store));
    sisa_dist *d = NULL;
    assert_int_equal(sisa_dist_single(&d), 0);
    assert_int_equal(step_train(d, cfg), 0);
    assert_int_equal(step_accept(d, cfg), 0);
    sisa_request r = {0};
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.state, SISA_REQ_ACCEPTED);

    /* A reader serves without the request's shards and changes nothing. */
    sisa_config c;
    sisa_store st = {.lock_fd = -1};
    assert_int_equal(sisa_run_open_store(d, &st, &c, cfg, SISA_STORE_READ, NULL), 0);
    for (uint32_t i = 0; i < r.n_shards; i++) assert_true(st.fenced[r.shards[i].shard]);
    assert_int_equal(st.pending_request, 1);
    sisa_store_close(&st);
    sisa_request_free(&r);
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.state, SISA_REQ_ACCEPTED);
    sisa_request_free(&r);

    if (p == 1)
        assert_int_equal(step_recover(d, cfg), 0);
    else
        run_workers(p, "recover", cfg);
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.state, SISA_REQ_CERTIFIED);
    sisa_request_free(&r);
    same_posteriors(cfg, ref_cfg);
    sisa_dist_free(d);
}

static void test_interrupted_one_rank(void **state)
{
    (void)state;
    interrupted(1, "int1");
}

static void test_interrupted_two_ranks(void **state)
{
    (void)state;
    interrupted(2, "int2");
}

static void test_interrupted_three_ranks(void **state)
{
    (void)state;
    interrupted(3, "int3");
}

/* The whole protocol under mpirun: train and delete at P ranks. */
static void whole(int p, const char *name)
{
    char yaml[64], store[64], cfg[2048];
    snprintf(yaml, sizeof yaml, "%s.yaml", name);
    snprintf(store, sizeof store, "store-%s", name);
    snprintf(cfg, sizeof cfg, "%s", write_config(yaml, "all.h5", store));
    run_workers(p, "train", cfg);
    run_workers(p, "unlearn", cfg);
    sisa_request r = {0};
    assert_int_equal(latest_request(cfg, &r), 1);
    assert_int_equal(r.state, SISA_REQ_CERTIFIED);
    assert_int_equal(r.rows, N_DELETED);
    sisa_request_free(&r);
    same_posteriors(cfg, ref_cfg);
}

static void test_mpi_two_ranks(void **state)
{
    (void)state;
    whole(2, "mpi2");
}

static void test_mpi_three_ranks(void **state)
{
    (void)state;
    whole(3, "mpi3");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--worker")) return argc == 4 ? worker(argc, argv) : 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_rank),
        cmocka_unit_test(test_interrupted_one_rank),
        cmocka_unit_test(test_interrupted_two_ranks),
        cmocka_unit_test(test_interrupted_three_ranks),
        cmocka_unit_test(test_mpi_two_ranks),
        cmocka_unit_test(test_mpi_three_ranks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
