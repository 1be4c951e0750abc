/*
 * test_exact.c - the promise: unlearn(train(D), X) is bit for bit train(D \ X).
 *
 * For logreg, mlp and cnn, SGD (with Nesterov momentum) and Adam, (S, R) in {(1, 1), (3, 4)}
 * (the cnn in two shapes: two convolutions on 2-channel 2 x 3 images without pooling, and one
 * 5 x 5 convolution with 2 x 2 pooling on 2 x 6 images), the
 * knn model (Euclidean and cosine; its checkpoints hold no tensors: a deletion rewrites rows), the
 * mlp also under the cosine learning-rate schedule (whose clock is each stage's own sample
 * visits: a schedule over the shard's total visits would change the reused early stages'
 * bits when a later slice loses rows, and this matrix would catch it), and four
 * deletion sets (one ID; IDs in several shards; every row of one slice; the first and the last
 * row of a shard), through the real `sisa` binary:
 *   1. train a store on D, copy it, and unlearn X from the copy;
 *   2. train a fresh store on D \ X (same config and seed);
 *   3. compare every /model and /optim dataset of every checkpoint bit for bit, the shard data
 *      files, and the predictions on a test set;
 *   4. check that shards without deleted rows kept their files unchanged (bytes and mtimes),
 *      and that the affected shards' checkpoints before the first affected stage were reused.
 * Tiered sharding (sisa.sharding tiered, the high-risk tier on the last shard's last slice, keyed
 * by ID and by group) adds three deletion sets: one high-risk row, rows of both tiers, and every
 * row of the high-risk tier; a risk tier beyond sisa.tiers and a dataset without a risk column
 * are refused before anything is written.
 * Also: resuming after training is killed gives the same bits, and an unknown ID is rejected
 * with exit 3 and the store left byte for byte untouched.
 */
#include "testutil.h"

#include "base/sha256.h"
#include "sisa/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ROWS  480
#define N_TEST  120
#define N_FEAT  12
#define N_CLASS 3

/* ---- datasets ------------------------------------------------------------------------------ */

typedef struct {
    uint64_t n;
    float X[N_ROWS * N_FEAT];
    int64_t y[N_ROWS];
    uint64_t id[N_ROWS];
    uint64_t group[N_ROWS]; /* data subjects: runs of 1 to 4 consecutive rows */
    uint8_t risk[N_ROWS];   /* risk tier: 1 for about one subject in seven, else 0 */
} rows_t;

/* Three noisy Gaussian-ish blobs with non-contiguous IDs (so nothing relies on id == row). */
static void make_rows(rows_t *r, uint64_t n, uint64_t id0, unsigned seed)
{
    uint64_t s = seed * 2654435761u + 1;
    r->n = n;
    for (uint64_t i = 0; i < n; i++) {
        int c = (int)(i % N_CLASS);
        r->y[i] = c;
        r->id[i] = id0 + 7 * i + (i % 5);
        r->group[i] = 500 + (i / 4) * 3 + (i % 4 == 3);
        r->risk[i] = r->group[i] % 7 == 3; /* a subject's rows share their tier */
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)((s >> 40) & 0xffffff) / 16777216.0f;
            r->X[i * N_FEAT + j] = (j % N_CLASS == c ? 1.0f : 0.0f) + (u - 0.5f) * 1.2f;
        }
    }
}

static int with_groups; /* write the group column (set by the group-sharding test) */
static int with_risk;   /* write the risk column (set by the tiered-sharding test) */
/* The feature_shape written with the rows (cnn combos): rank 0 writes none. */
static int shape_rank;
static uint64_t shape_dims[3];

static void write_rows(const char *path, const rows_t *r, const uint64_t *drop, size_t ndrop)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.has_group = with_groups;
    o.has_risk = with_risk;
    o.feature_rank = shape_rank;
    for (int i = 0; i < shape_rank; i++) o.feature_shape[i] = shape_dims[i];
    o.num_classes = N_CLASS;
    o.source = "test_exact";
    o.replace = 1;
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    for (uint64_t i = 0; i < r->n; i++) {
        int skip = 0;
        for (size_t k = 0; k < ndrop; k++) skip |= drop[k] == r->id[i];
        if (skip) continue;
        assert_int_equal(sisa_dataset_writer_append(w, r->X + i * N_FEAT, &r->y[i], &r->id[i],
                                                    with_groups ? &r->group[i] : NULL, 1),
                         0);
        if (with_risk) assert_int_equal(sisa_dataset_writer_append_risk(w, &r->risk[i], 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static rows_t train_rows, test_rows;

/* ---- files ----------------------------------------------------------------------------------- */

/* Compare every float dataset of `group` in two checkpoint files bit for bit. */
static void compare_group(const char *a, const char *b, const char *group)
{
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT),
          fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fa >= 0 && fb >= 0);
    hid_t ga = H5Gopen2(fa, group, H5P_DEFAULT), gb = H5Gopen2(fb, group, H5P_DEFAULT);
    assert_true(ga >= 0 && gb >= 0);
    H5G_info_t ia, ib;
    H5Gget_info(ga, &ia);
    H5Gget_info(gb, &ib);
    assert_int_equal(ia.nlinks, ib.nlinks);
    for (hsize_t i = 0; i < ia.nlinks; i++) {
        char name[128];
        H5Lget_name_by_idx(ga, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        hid_t da = H5Dopen2(ga, name, H5P_DEFAULT), db = H5Dopen2(gb, name, H5P_DEFAULT);
        assert_true(da >= 0 && db >= 0);
        hid_t sa = H5Dget_space(da);
        hssize_t np = H5Sget_simple_extent_npoints(sa);
        assert_true(np > 0);
        float *va = malloc((size_t)np * 4), *vb = malloc((size_t)np * 4);
        assert_true(H5Dread(da, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, va) >= 0);
        assert_true(H5Dread(db, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, vb) >= 0);
        if (memcmp(va, vb, (size_t)np * 4) != 0)
            fail_msg("/%s/%s differs between %s and %s", group, name, a, b);
        free(va);
        free(vb);
        H5Sclose(sa);
        H5Dclose(da);
        H5Dclose(db);
    }
    H5Gclose(ga);
    H5Gclose(gb);
    H5Fclose(fa);
    H5Fclose(fb);
}

typedef struct {
    char sha[65];
    struct timespec mtime;
    int exists;
} file_state;

static void file_snapshot(const char *path, file_state *f)
{
    struct stat st;
    f->exists = stat(path, &st) == 0;
    if (!f->exists) return;
    f->mtime = st.st_mtim;
    tu_sha_file(path, f->sha);
}

/* Every regular file under `dir`, recursively, as "relative-path sha mtime" lines, sorted.
 * The top-level call (rel == "") starts `out` afresh. */
static void tree_snapshot(const char *dir, const char *rel, char *out, size_t cap)
{
    if (!*rel) out[0] = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    char names[256][256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char path[4096], relp[1024];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path ||
            snprintf(relp, sizeof relp, "%s%s%s", rel, *rel ? "/" : "", names[i]) >=
                (int)sizeof relp)
            fail_msg("path too long under %s", dir);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            tree_snapshot(path, relp, out, cap);
        } else {
            file_state f;
            file_snapshot(path, &f);
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s %s %lld.%09ld\n", relp, f.sha,
                     (long long)f.mtime.tv_sec, f.mtime.tv_nsec);
        }
    }
}

/* Fail listing the lines that differ between two tree snapshots. */
static void assert_same_tree(const char *before, const char *after)
{
    if (strcmp(before, after) == 0) return;
    fprintf(stderr, "store changed; lines that differ:\n");
    const char *a = before, *b = after;
    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || strncmp(a, b, la) != 0)
            fprintf(stderr, "- %.*s\n+ %.*s\n", (int)la, a, (int)lb, b);
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    fail();
}

/* ---- configs and runs ------------------------------------------------------------------------ */

typedef struct {
    const char *model; /* "logreg", "mlp" or "knn" */
    const char *optim; /* "sgd" or "adam" */
    int shards, slices;
    int by_group; /* sharding: group */
    int cosine;   /* train.schedule: cosine (else constant); knn: metric cosine */
    int variant;  /* cnn: 0 two convolutions on [2, 2, 3], no pooling; 1 one 5 x 5 convolution
                   * and 2 x 2 pooling on [2, 6] */
    int tiered;   /* sharding: tiered, tier 0 on shards-1 shards, tier 1 on the last shard's
                   * last slice (keyed by group with by_group) */
} combo;

/* The model section's keys after the type. */
static const char *model_keys(const combo *c)
{
    if (strcmp(c->model, "mlp") == 0) return ", hidden: [10, 6]";
    if (strcmp(c->model, "cnn") != 0) return "";
    return c->variant ? ", input: [2, 6], conv: [4], kernel: 5, pool: 2, hidden: [5]"
                      : ", input: [2, 2, 3], conv: [3, 2], pool: 1, hidden: [6]";
}

/* The sisa section of a combo's config. */
static void sisa_section(char *out, size_t cap, const combo *c)
{
    if (c->tiered)
        snprintf(out, cap,
                 "sisa: {slices: %d, sharding: tiered, tier_key: %s, tiers: [{shards: %d}, "
                 "{shards: 1, last_slice: true}]}\n",
                 c->slices, c->by_group ? "group" : "id", c->shards - 1);
    else
        snprintf(out, cap, "sisa: {shards: %d, slices: %d, sharding: %s}\n", c->shards, c->slices,
                 c->by_group ? "group" : "id");
}

static void write_config(const char *path, const combo *c, const char *train, const char *test,
                         const char *store)
{
    char text[2048], sisa[256];
    sisa_section(sisa, sizeof sisa, c);
    if (strcmp(c->model, "knn") == 0) { /* no train section: knn trains nothing */
        snprintf(text, sizeof text,
                 "data: {train: %s, test: %s}\n"
                 "store: %s\n"
                 "seed: 7\n"
                 "%s"
                 "model: {type: knn, k: 3, metric: %s}\n"
                 "aggregate: {strategy: merge}\n",
                 train, test, store, sisa, c->cosine ? "cosine" : "euclidean");
        tu_write_text(path, text);
        return;
    }
    snprintf(text, sizeof text,
             "data: {train: %s, test: %s}\n"
             "store: %s\n"
             "seed: 7\n"
             "%s"
             "model: {type: %s%s}\n"
             "train: {optimizer: %s, lr: %s, %s%sbatch_size: 16, epochs: 3, weight_decay: 0.0001}\n"
             "aggregate: {strategy: mean}\n",
             train, test, store, sisa, c->model, model_keys(c), c->optim,
             strcmp(c->optim, "sgd") == 0 ? "0.05" : "0.01",
             strcmp(c->optim, "sgd") == 0 ? "momentum: 0.9, nesterov: true, " : "",
             c->cosine ? "schedule: cosine, final_lr_fraction: 0.1, " : "");
    tu_write_text(path, text);
}

static void run_ok(const char *what, const char *const *argv)
{
    tu_run *r = malloc(sizeof *r);
    tu_sisa_argv(r, argv);
    if (r->status != 0) fail_msg("%s failed (%d):\n%s%s", what, r->status, r->out, r->err);
    free(r);
}

static void sisa_train(const char *cfg)
{
    const char *argv[] = {"-q", "train", "-c", cfg, NULL};
    run_ok("sisa train", argv);
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* Shard and slice of each ID, as the store recorded them (read from the shard files). */
typedef struct {
    uint64_t id;
    int shard, slice;
} placed;

static int read_placement(const char *store, int shards, placed *out)
{
    int n = 0;
    for (int k = 0; k < shards; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/shards/%04d/data.h5", store, k);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        hid_t di = H5Dopen2(f, "id", H5P_DEFAULT), ds = H5Dopen2(f, "slice", H5P_DEFAULT);
        hid_t sp = H5Dget_space(di);
        hssize_t m = H5Sget_simple_extent_npoints(sp);
        uint64_t *ids = malloc((size_t)(m ? m : 1) * 8);
        int32_t *sl = malloc((size_t)(m ? m : 1) * 4);
        if (m) {
            H5Dread(di, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
            H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, sl);
        }
        for (hssize_t i = 0; i < m; i++) out[n++] = (placed){ids[i], k, sl[i]};
        free(ids);
        free(sl);
        H5Sclose(sp);
        H5Dclose(di);
        H5Dclose(ds);
        H5Fclose(f);
    }
    return n;
}

enum {
    DEL_ONE,
    DEL_SEVERAL_SHARDS,
    DEL_SLICE,
    DEL_FIRST_LAST,
    DEL_SHARD,
    DEL_GROUP,
    DEL_HIGH_ONE,
    DEL_ACROSS_TIERS,
    DEL_HIGH_TIER,
    DEL_COUNT
};
static const char *const del_names[DEL_COUNT] = {"one ID",
                                                 "IDs in several shards",
                                                 "every row of one slice",
                                                 "first and last row of a shard",
                                                 "every row of one shard",
                                                 "every row of one data subject",
                                                 "one row of the high-risk tier",
                                                 "rows of both tiers",
                                                 "every row of the high-risk tier"};

/* The risk tier of a training ID. */
static int risk_of(uint64_t id)
{
    for (uint64_t i = 0; i < train_rows.n; i++)
        if (train_rows.id[i] == id) return train_rows.risk[i];
    return -1;
}

/* Choose the deletion set from the trained store's placement (shard 0 is the target). */
static size_t choose_deletion(int kind, const placed *p, int np, int shards, uint64_t *out)
{
    size_t n = 0;
    switch (kind) {
    case DEL_ONE:
        out[n++] = p[np / 2].id;
        break;
    case DEL_SEVERAL_SHARDS: {
        int last_shard = -1;
        for (int i = 0; i < np && n < 5; i += 37)
            if (p[i].shard != last_shard || shards == 1) {
                out[n++] = p[i].id;
                last_shard = p[i].shard;
            }
        break;
    }
    case DEL_SLICE:
        /* Every row of slice 1 of shard 0. */
        for (int i = 0; i < np; i++)
            if (p[i].shard == 0 && p[i].slice == 1) out[n++] = p[i].id;
        break;
    case DEL_SHARD:
        /* Shard 0 loses every row: it must leave the ensemble for good. */
        for (int i = 0; i < np; i++)
            if (p[i].shard == 0) out[n++] = p[i].id;
        break;
    case DEL_GROUP:
        /* Every row of the subject of the middle row (group sharding keeps them together). */
        for (uint64_t i = 0; i < train_rows.n; i++)
            if (train_rows.group[i] == train_rows.group[train_rows.n / 2])
                out[n++] = train_rows.id[i];
        break;
    case DEL_HIGH_ONE:
    case DEL_ACROSS_TIERS: {
        /* The middle high-risk row; across tiers also the low-risk rows next to it. */
        int high = 0;
        for (uint64_t i = 0; i < train_rows.n; i++) high += train_rows.risk[i];
        for (uint64_t i = 0, seen = 0; i < train_rows.n; i++) {
            if (!train_rows.risk[i] || seen++ != (uint64_t)high / 2) continue;
            out[n++] = train_rows.id[i];
            if (kind == DEL_ACROSS_TIERS) {
                for (uint64_t j = i; j-- > 0 && n < 2;)
                    if (!train_rows.risk[j]) out[n++] = train_rows.id[j];
                for (uint64_t j = i + 1; j < train_rows.n && n < 4; j += 5)
                    if (!train_rows.risk[j]) out[n++] = train_rows.id[j];
            }
            break;
        }
        break;
    }
    case DEL_HIGH_TIER:
        for (uint64_t i = 0; i < train_rows.n; i++)
            if (train_rows.risk[i]) out[n++] = train_rows.id[i];
        break;
    case DEL_FIRST_LAST: {
        int first = -1, last = -1;
        for (int i = 0; i < np; i++)
            if (p[i].shard == 0) {
                if (first < 0) first = i;
                last = i;
            }
        out[n++] = p[first].id;
        out[n++] = p[last].id;
        break;
    }
    }
    return n;
}

static void check_same_stores(const char *a, const char *b, int shards, int slices)
{
    for (int k = 0; k < shards; k++) {
        char pa[4096], pb[4096], ha[65], hb[65];
        snprintf(pa, sizeof pa, "%s/shards/%04d/data.h5", a, k);
        snprintf(pb, sizeof pb, "%s/shards/%04d/data.h5", b, k);
        tu_sha_file(pa, ha);
        tu_sha_file(pb, hb);
        if (strcmp(ha, hb) != 0) fail_msg("shard %d data files differ: %s %s", k, pa, pb);
        for (int r = 1; r <= slices; r++) {
            snprintf(pa, sizeof pa, "%s/shards/%04d/ckpt-%03d.h5", a, k, r);
            snprintf(pb, sizeof pb, "%s/shards/%04d/ckpt-%03d.h5", b, k, r);
            assert_int_equal(tu_exists(pa), tu_exists(pb));
            if (!tu_exists(pa)) continue;
            compare_group(pa, pb, "model");
            compare_group(pa, pb, "optim");
            /* Checkpoint files are byte-reproducible too. */
            tu_sha_file(pa, ha);
            tu_sha_file(pb, hb);
            if (strcmp(ha, hb) != 0) fail_msg("checkpoint files differ: %s %s", pa, pb);
        }
    }
}

static void compare_predictions(const char *pa, const char *pb)
{
    hid_t fa = H5Fopen(pa, H5F_ACC_RDONLY, H5P_DEFAULT),
          fb = H5Fopen(pb, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fa >= 0 && fb >= 0);
    float a[N_TEST * N_CLASS], b[N_TEST * N_CLASS];
    int32_t la[N_TEST], lb[N_TEST];
    hid_t d;
    d = H5Dopen2(fa, "proba", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a);
    H5Dclose(d);
    d = H5Dopen2(fb, "proba", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, b);
    H5Dclose(d);
    d = H5Dopen2(fa, "label", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, la);
    H5Dclose(d);
    d = H5Dopen2(fb, "label", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lb);
    H5Dclose(d);
    H5Fclose(fa);
    H5Fclose(fb);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(la, lb, sizeof la);
    /* Posteriors are real probabilities, not zeros. */
    for (int i = 0; i < N_TEST; i++) {
        float s = 0;
        for (int c = 0; c < N_CLASS; c++) s += a[i * N_CLASS + c];
        assert_true(fabsf(s - 1.0f) < 1e-4f);
    }
}

static void run_combo(const combo *c)
{
    char dir[2048], data[2200], test[2200], store[2200], cfg[2200];
    char name[64];
    snprintf(name, sizeof name, "%s%s-%s-%d-%d%s%s%s", c->model, c->variant ? "1" : "", c->optim,
             c->shards, c->slices, c->by_group ? "-group" : "", c->cosine ? "-cosine" : "",
             c->tiered ? "-tiered" : "");
    shape_rank = 0;
    if (strcmp(c->model, "cnn") == 0) {
        shape_rank = c->variant ? 2 : 3;
        shape_dims[0] = 2;
        shape_dims[1] = c->variant ? 6 : 2;
        shape_dims[2] = 3;
    }
    snprintf(dir, sizeof dir, "%s", tu_scratch(name));
    snprintf(data, sizeof data, "%s/D.h5", dir);
    snprintf(test, sizeof test, "%s/test.h5", dir);
    snprintf(store, sizeof store, "%s/store-D", dir);
    snprintf(cfg, sizeof cfg, "%s/D.yaml", dir);
    write_rows(data, &train_rows, NULL, 0);
    write_rows(test, &test_rows, NULL, 0);
    write_config(cfg, c, "D.h5", "test.h5", "store-D");
    sisa_train(cfg);
    placed *p = malloc(N_ROWS * sizeof *p);
    int np = read_placement(store, c->shards, p);
    assert_int_equal(np, N_ROWS);
    /* Tiered: the high-risk tier is the last shard's last slice, the rest the other shards. */
    for (int i = 0; c->tiered && i < np; i++) {
        const int high = risk_of(p[i].id) == 1;
        assert_int_equal(p[i].shard == c->shards - 1, high);
        if (high) assert_int_equal(p[i].slice, c->slices - 1);
    }

    for (int kind = 0; kind < DEL_COUNT; kind++) {
        /* With one shard and one slice, a slice or a shard is the whole dataset, and a model
         * trained on nothing has nothing to compare: those two cases run with S > 1, R > 1. */
        if ((kind == DEL_SLICE && c->slices < 2) || (kind == DEL_SHARD && c->shards < 2)) continue;
        if (kind == DEL_GROUP && !c->by_group) continue;
        if (kind >= DEL_HIGH_ONE && !c->tiered) continue;
        uint64_t del[N_ROWS];
        size_t ndel = choose_deletion(kind, p, np, c->shards, del);
        assert_true(ndel > 0);
        if (kind == DEL_GROUP) {
            /* One data subject lives in one shard. */
            int shard = -1;
            for (size_t j = 0; j < ndel; j++)
                for (int i = 0; i < np; i++)
                    if (p[i].id == del[j]) {
                        assert_true(shard < 0 || shard == p[i].shard);
                        shard = p[i].shard;
                    }
        }
        print_message("  %s: deleting %s (%zu IDs)\n", name, del_names[kind], ndel);
        char ustore[2300], ucfg[2300], rdata[2300], rstore[2300], rcfg[2300];
        snprintf(ustore, sizeof ustore, "%s/store-U%d", dir, kind);
        snprintf(ucfg, sizeof ucfg, "%s/U%d.yaml", dir, kind);
        snprintf(rdata, sizeof rdata, "%s/R%d.h5", dir, kind);
        snprintf(rstore, sizeof rstore, "%s/store-R%d", dir, kind);
        snprintf(rcfg, sizeof rcfg, "%s/R%d.yaml", dir, kind);
        copy_tree(store, ustore);
        char rel[64];
        snprintf(rel, sizeof rel, "store-U%d", kind);
        write_config(ucfg, c, "D.h5", "test.h5", rel);

        /* Which shards and stages are affected, and the state of everything before. */
        int affected[16] = {0}, first_stage[16];
        for (int k = 0; k < 16; k++) first_stage[k] = 1 << 30;
        for (size_t j = 0; j < ndel; j++)
            for (int i = 0; i < np; i++)
                if (p[i].id == del[j]) {
                    affected[p[i].shard] = 1;
                    if (p[i].slice + 1 < first_stage[p[i].shard])
                        first_stage[p[i].shard] = p[i].slice + 1;
                }
        /* A shard that loses every row leaves the ensemble with all its checkpoints, also
         * those of stages before its first affected one (a last_slice tier's empty stages). */
        int emptied[16] = {0};
        for (int k = 0; k < c->shards; k++) {
            int left = 0;
            for (int i = 0; i < np; i++) {
                int gone = 0;
                for (size_t j = 0; j < ndel && !gone; j++) gone = p[i].id == del[j];
                left += p[i].shard == k && !gone;
            }
            emptied[k] = affected[k] && !left;
        }
        file_state before[16][9];
        for (int k = 0; k < c->shards; k++)
            for (int r = 0; r <= c->slices; r++) {
                char f[2400];
                if (r == 0)
                    snprintf(f, sizeof f, "%s/shards/%04d/data.h5", ustore, k);
                else
                    snprintf(f, sizeof f, "%s/shards/%04d/ckpt-%03d.h5", ustore, k, r);
                file_snapshot(f, &before[k][r]);
            }

        char ids[N_ROWS * 24] = "";
        for (size_t j = 0; j < ndel; j++)
            snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%llu", j ? "," : "",
                     (unsigned long long)del[j]);
        const char *argv[] = {"unlearn", "-c", ucfg, "--ids", ids, NULL};
        run_ok("sisa unlearn", argv);

        /* Unaffected shards: not a byte, not an mtime changed. Affected shards: stages before
         * the first affected one reused as they were. */
        for (int k = 0; k < c->shards; k++)
            for (int r = 0; r <= c->slices; r++) {
                if (affected[k] && (r == 0 || r >= first_stage[k] || emptied[k])) continue;
                char f[2400];
                if (r == 0)
                    snprintf(f, sizeof f, "%s/shards/%04d/data.h5", ustore, k);
                else
                    snprintf(f, sizeof f, "%s/shards/%04d/ckpt-%03d.h5", ustore, k, r);
                file_state now;
                file_snapshot(f, &now);
                assert_int_equal(now.exists, before[k][r].exists);
                if (!now.exists) continue;
                assert_string_equal(now.sha, before[k][r].sha);
                if (now.mtime.tv_sec != before[k][r].mtime.tv_sec ||
                    now.mtime.tv_nsec != before[k][r].mtime.tv_nsec)
                    fail_msg("%s was rewritten although its shard/stage saw no deleted row", f);
            }

        /* train(D \ X) from scratch, same config and seed. */
        write_rows(rdata, &train_rows, del, ndel);
        snprintf(rel, sizeof rel, "store-R%d", kind);
        char rname[32];
        snprintf(rname, sizeof rname, "R%d.h5", kind);
        write_config(rcfg, c, rname, "test.h5", rel);
        sisa_train(rcfg);
        check_same_stores(ustore, rstore, c->shards, c->slices);

        char pu[2400], pr[2400];
        snprintf(pu, sizeof pu, "%s/pred-U%d.h5", dir, kind);
        snprintf(pr, sizeof pr, "%s/pred-R%d.h5", dir, kind);
        const char *au[] = {"-q", "predict", "-c", ucfg, "-i", test, "-o", pu, NULL};
        const char *ar[] = {"-q", "predict", "-c", rcfg, "-i", test, "-o", pr, NULL};
        run_ok("sisa predict (unlearned)", au);
        run_ok("sisa predict (retrained)", ar);
        compare_predictions(pu, pr);
    }
    free(p);
}

static const combo combos[] = {
    {"logreg", "sgd", 1, 1, 0, 0, 0, 0},  {"logreg", "sgd", 3, 4, 0, 0, 0, 0},
    {"logreg", "adam", 1, 1, 0, 0, 0, 0}, {"logreg", "adam", 3, 4, 0, 0, 0, 0},
    {"mlp", "sgd", 1, 1, 0, 0, 0, 0},     {"mlp", "sgd", 3, 4, 0, 0, 0, 0},
    {"mlp", "adam", 1, 1, 0, 0, 0, 0},    {"mlp", "adam", 3, 4, 0, 0, 0, 0},
    {"mlp", "adam", 4, 3, 1, 0, 0, 0},    {"mlp", "sgd", 3, 4, 0, 1, 0, 0},
    {"mlp", "adam", 3, 4, 0, 1, 0, 0},    {"knn", "none", 1, 1, 0, 0, 0, 0},
    {"knn", "none", 3, 4, 0, 0, 0, 0},    {"knn", "none", 4, 3, 0, 1, 0, 0},
    {"cnn", "sgd", 1, 1, 0, 0, 0, 0},     {"cnn", "sgd", 3, 4, 0, 0, 1, 0},
    {"cnn", "adam", 1, 1, 0, 0, 1, 0},    {"cnn", "adam", 3, 4, 0, 0, 0, 0},
    {"cnn", "adam", 4, 3, 0, 1, 1, 0},    {"mlp", "adam", 4, 3, 0, 0, 0, 1},
    {"logreg", "sgd", 4, 4, 1, 0, 0, 1},
};

static void test_logreg_sgd(void **state)
{
    (void)state;
    run_combo(&combos[0]);
    run_combo(&combos[1]);
}

static void test_logreg_adam(void **state)
{
    (void)state;
    run_combo(&combos[2]);
    run_combo(&combos[3]);
}

static void test_mlp_sgd(void **state)
{
    (void)state;
    run_combo(&combos[4]);
    run_combo(&combos[5]);
}

static void test_mlp_adam(void **state)
{
    (void)state;
    run_combo(&combos[6]);
    run_combo(&combos[7]);
}

/* The cosine schedule: every deletion case, with SGD and with Adam. */
static void test_mlp_cosine(void **state)
{
    (void)state;
    run_combo(&combos[9]);
    run_combo(&combos[10]);
}

/* knn (a shard's model is its rows; merge strategy), Euclidean and, on 4 x 3 shards x slices,
 * cosine: unlearning rewrites the rows and the checkpoints to the bytes of training without
 * them. */
static void test_knn(void **state)
{
    (void)state;
    run_combo(&combos[11]);
    run_combo(&combos[12]);
    run_combo(&combos[13]);
}

/* cnn: both shapes, SGD and Adam, 1 x 1, 3 x 4 and (cosine schedule) 4 x 3. */
static void test_cnn(void **state)
{
    (void)state;
    for (int i = 14; i < 19; i++) run_combo(&combos[i]);
    shape_rank = 0;
}

/* A cnn store is refused before anything is written when the dataset does not hold the images
 * model.input declares: no feature_shape recorded, or another shape. */
static void test_cnn_shape_refused(void **state)
{
    (void)state;
    const char *dir = tu_scratch("cnn-shape");
    char data[2200], test[2200], cfg[2200], store[2200];
    snprintf(data, sizeof data, "%s/D.h5", dir);
    snprintf(test, sizeof test, "%s/test.h5", dir);
    snprintf(cfg, sizeof cfg, "%s/D.yaml", dir);
    snprintf(store, sizeof store, "%s/store-D", dir);
    combo c = {"cnn", "adam", 1, 1, 0, 0, 0, 0};
    write_config(cfg, &c, "D.h5", "test.h5", "store-D");
    static const struct {
        int rank;
        uint64_t dims[3];
        const char *says;
    } cases[] = {{0, {0, 0, 0}, "records no feature_shape"},
                 {2, {3, 4, 0}, "holds rows of shape [3, 4] (12 features)"},
                 {3, {2, 3, 2}, "holds rows of shape [2, 3, 2]"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shape_rank = cases[i].rank;
        memcpy(shape_dims, cases[i].dims, sizeof shape_dims);
        write_rows(data, &train_rows, NULL, 0);
        write_rows(test, &test_rows, NULL, 0);
        const char *argv[] = {"-q", "train", "-c", cfg, NULL};
        tu_run *r = malloc(sizeof *r);
        tu_sisa_argv(r, argv);
        if (r->status != 2 || !strstr(r->err, cases[i].says))
            fail_msg("case %zu: exit %d, stderr: %s", i, r->status, r->err);
        free(r);
        struct stat st;
        assert_int_not_equal(stat(store, &st), 0); /* nothing written */
    }
    shape_rank = 0;
}

/* sharding: group keeps each data subject in one shard, and deleting a subject is exact too. */
static void test_group_sharding(void **state)
{
    (void)state;
    with_groups = 1;
    run_combo(&combos[8]);
    with_groups = 0;
}

/* sharding: tiered: the high-risk tier's rows share the last shard's last slice, and deleting
 * one of them, rows of both tiers, or the whole tier is exact (by ID with an mlp, by group with
 * logreg and momentum). */
static void test_tiered_sharding(void **state)
{
    (void)state;
    with_risk = 1;
    run_combo(&combos[19]);
    with_groups = 1;
    run_combo(&combos[20]);
    with_groups = 0;

    /* A risk tier beyond sisa.tiers, and a dataset without a risk column: usage errors that
     * name the row or the column, before anything is written. */
    char dir[2048], yaml[2200], shards[2200];
    snprintf(dir, sizeof dir, "%s", tu_scratch("tiered-errors"));
    snprintf(yaml, sizeof yaml, "%s/D.yaml", dir);
    snprintf(shards, sizeof shards, "%s/store/shards", dir);
    const combo c = combos[19];
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    train_rows.risk[5] = 2;
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    train_rows.risk[5] = train_rows.group[5] % 7 == 3;
    write_config(yaml, &c, "D.h5", "test.h5", "store");
    tu_run *r = malloc(sizeof *r);
    const char *argv[] = {"train", "-c", yaml, NULL};
    tu_sisa_argv(r, argv);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "row 5 of");
    tu_assert_contains(r->err, "has risk tier 2, but sisa.tiers lists 2 tiers (0..1)");
    assert_false(tu_exists(shards));
    with_risk = 0;
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    tu_sisa_argv(r, argv);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "sisa.sharding is 'tiered' but");
    tu_assert_contains(r->err, "has no risk column (import it with --risk COLUMN)");
    free(r);
}

/* Killing training at an arbitrary moment and running it again ends with the bits of an
 * uninterrupted run (under the cosine schedule: a stage resumed from its checkpoint starts its
 * schedule's clock where the killed run started it). */
static void test_resume_after_kill(void **state)
{
    (void)state;
    char dir[2048], data[2200], cfg_a[2200], cfg_b[2200], store_a[2200], store_b[2200];
    snprintf(dir, sizeof dir, "%s", tu_scratch("resume"));
    snprintf(data, sizeof data, "%s/D.h5", dir);
    snprintf(cfg_a, sizeof cfg_a, "%s/A.yaml", dir);
    snprintf(cfg_b, sizeof cfg_b, "%s/B.yaml", dir);
    snprintf(store_a, sizeof store_a, "%s/store-A", dir);
    snprintf(store_b, sizeof store_b, "%s/store-B", dir);
    write_rows(data, &train_rows, NULL, 0);
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    combo c = {"mlp", "adam", 3, 4, 0, 1, 0, 0};
    write_config(cfg_a, &c, "D.h5", "test.h5", "store-A");
    write_config(cfg_b, &c, "D.h5", "test.h5", "store-B");
    sisa_train(cfg_a);

    /* Kill -9 at several moments, then finish. */
    const long delays_ms[] = {5, 30, 80, 150};
    for (size_t i = 0; i < sizeof delays_ms / sizeof delays_ms[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            const char *bin = getenv("SISA_BIN");
            execl(bin, bin, "train", "-c", cfg_b, (char *)NULL);
            _exit(127);
        }
        struct timespec ts = {0, delays_ms[i] * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
    }
    sisa_train(cfg_b);
    check_same_stores(store_a, store_b, 3, 4);
    /* Nothing left behind by the killed runs once training has completed. */
    char tree[65536] = "";
    tree_snapshot(store_b, "", tree, sizeof tree);
    if (strstr(tree, "sisa-tmp")) fail_msg("temp files left in the store:\n%s", tree);

    /* Training a store that is up to date changes nothing. */
    char before[65536] = "", after[65536] = "";
    tree_snapshot(store_b, "", before, sizeof before);
    sisa_train(cfg_b);
    tree_snapshot(store_b, "", after, sizeof after);
    assert_same_tree(before, after);
}

/* SIGUSR1 (what Slurm sends before a time limit) stops training at the next stage boundary with
 * exit status 75; running it again continues and ends with the bits of an uninterrupted run. */
static void test_stop_and_resume(void **state)
{
    (void)state;
    char dir[2048], cfg_a[2200], cfg_b[2200], store_a[2200], store_b[2200], journal[2300];
    snprintf(dir, sizeof dir, "%s", tu_scratch("stop"));
    snprintf(cfg_a, sizeof cfg_a, "%s/A.yaml", dir);
    snprintf(cfg_b, sizeof cfg_b, "%s/B.yaml", dir);
    snprintf(store_a, sizeof store_a, "%s/store-A", dir);
    snprintf(store_b, sizeof store_b, "%s/store-B", dir);
    snprintf(journal, sizeof journal, "%s/shards/0000/journal", store_b);
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    combo c = {"mlp", "adam", 3, 4, 0, 0, 0, 0};
    write_config(cfg_a, &c, "D.h5", "test.h5", "store-A");
    write_config(cfg_b, &c, "D.h5", "test.h5", "store-B");
    sisa_train(cfg_a);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const char *bin = getenv("SISA_BIN");
        execl(bin, bin, "train", "-c", cfg_b, (char *)NULL);
        _exit(127);
    }
    /* Signal once the first checkpoint is committed, so the stop lands mid-training. */
    for (int i = 0; i < 2000 && !tu_exists(journal); i++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGUSR1);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    /* 75 when the stop came before the end; 0 if training finished first. */
    assert_true(WEXITSTATUS(st) == 75 || WEXITSTATUS(st) == 0);
    sisa_train(cfg_b);
    check_same_stores(store_a, store_b, 3, 4);
}

/* An unknown ID rejects the whole request: exit 3, the IDs named, the store byte for byte (and
 * mtime for mtime) untouched. */
/* Asking again to delete rows that a certified request deleted is not an error (a requeued job
 * does it): those IDs are recognised from the ledger and skipped; the rest are deleted, and the
 * store still equals training without all of them. An ID never in the store is still refused. */
static void test_repeated_request(void **state)
{
    (void)state;
    char dir[2048], cfg[2200], rcfg[2200], store[2200], rstore[2200];
    snprintf(dir, sizeof dir, "%s", tu_scratch("repeat"));
    snprintf(cfg, sizeof cfg, "%s/C.yaml", dir);
    snprintf(rcfg, sizeof rcfg, "%s/R.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(rstore, sizeof rstore, "%s/store-R", dir);
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    combo c = {"mlp", "adam", 3, 2, 0, 0, 0, 0};
    write_config(cfg, &c, "D.h5", "test.h5", "store");
    sisa_train(cfg);
    const uint64_t a = train_rows.id[5], b = train_rows.id[40];
    char ids[128];
    tu_run *r = malloc(sizeof *r);
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)a);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "request 1 is certified");

    /* The same request again: nothing to do, not a byte changed. */
    char before[65536] = "", after[65536] = "";
    tree_snapshot(store, "", before, sizeof before);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    if (r->status != 0) fail_msg("repeated request: status %d\n%s", r->status, r->err);
    tu_assert_contains(r->out, "already deleted by earlier requests");
    tu_assert_contains(r->out, "1 sample ID(s)");
    tu_assert_contains(r->out, "nothing to delete");
    assert_null(strstr(r->out, "request accepted"));
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);

    /* One known-deleted ID and one not yet deleted: the second is deleted as request 2. */
    snprintf(ids, sizeof ids, "%llu,%llu", (unsigned long long)b, (unsigned long long)a);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    if (r->status != 0) fail_msg("partly repeated request: status %d\n%s", r->status, r->err);
    tu_assert_contains(r->out, "already deleted by earlier requests");
    tu_assert_contains(r->out, "request accepted: 1 row(s)");
    tu_assert_contains(r->out, "request 2 is certified");
    uint64_t del[2] = {a, b};
    write_rows(tu_path(dir, "R.h5"), &train_rows, del, 2);
    write_config(rcfg, &c, "R.h5", "test.h5", "store-R");
    sisa_train(rcfg);
    check_same_stores(store, rstore, c.shards, c.slices);

    /* A deleted ID next to one that was never in the store: refused, and only the stranger is
     * named as unknown. */
    tree_snapshot(store, "", before, sizeof before);
    snprintf(ids, sizeof ids, "%llu,999999999", (unsigned long long)a);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    assert_int_equal(r->status, 3);
    tu_assert_contains(r->err, "1 of the 2 requested sample IDs is not in store");
    tu_assert_contains(r->err, ": 999999999. Nothing was changed");
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);
    free(r);
}

/* A missing shard file is made again from the dataset only if the dataset is the one the store
 * was built from: a changed dataset is refused before any file is written. */
static void test_missing_shard_changed_dataset(void **state)
{
    (void)state;
    char dir[2048], cfg[2200], store[2200], ref[2200], gone[2400];
    snprintf(dir, sizeof dir, "%s", tu_scratch("changed"));
    snprintf(cfg, sizeof cfg, "%s/C.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(gone, sizeof gone, "%s/shards/0001/data.h5", store);
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    combo c = {"logreg", "sgd", 3, 2, 0, 0, 0, 0};
    write_config(cfg, &c, "D.h5", "test.h5", "store");
    sisa_train(cfg);
    copy_tree(store, ref);
    assert_int_equal(unlink(gone), 0);

    /* Same IDs, other features. */
    rows_t *changed = malloc(sizeof *changed);
    *changed = train_rows;
    for (uint64_t i = 0; i < changed->n * N_FEAT; i += 3) changed->X[i] += 0.5f;
    write_rows(tu_path(dir, "D.h5"), changed, NULL, 0);
    free(changed);
    char before[65536] = "", after[65536] = "";
    tree_snapshot(store, "", before, sizeof before);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "train", "-c", cfg, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "has changed since store");
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);
    assert_false(tu_exists(gone));

    /* With the original dataset back, the file is made again and the store is as it was. */
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    sisa_train(cfg);
    check_same_stores(store, ref, c.shards, c.slices);
    char ha[65], hb[65], refdata[2400];
    snprintf(refdata, sizeof refdata, "%s/shards/0001/data.h5", ref);
    tu_sha_file(gone, ha);
    tu_sha_file(refdata, hb);
    assert_string_equal(ha, hb);
    free(r);
}

static void test_unknown_id_rejected(void **state)
{
    (void)state;
    char dir[2048], cfg[2200], store[2200];
    snprintf(dir, sizeof dir, "%s", tu_scratch("reject"));
    snprintf(cfg, sizeof cfg, "%s/C.yaml", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    write_rows(tu_path(dir, "D.h5"), &train_rows, NULL, 0);
    write_rows(tu_path(dir, "test.h5"), &test_rows, NULL, 0);
    combo c = {"logreg", "sgd", 3, 2, 0, 0, 0, 0};
    write_config(cfg, &c, "D.h5", "test.h5", "store");
    sisa_train(cfg);
    char before[65536] = "", after[65536] = "";
    tree_snapshot(store, "", before, sizeof before);
    char ids[128];
    snprintf(ids, sizeof ids, "%llu,999999999,%llu,123456789", (unsigned long long)train_rows.id[3],
             (unsigned long long)train_rows.id[4]);
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    assert_int_equal(r->status, 3);
    tu_assert_contains(r->err, "2 of the 4 requested sample IDs are not in store");
    tu_assert_contains(r->err, "123456789, 999999999");
    tu_assert_contains(r->err, "Nothing was changed");
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);

    /* A malformed ID is a usage error, also before anything changes. */
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", "12,abc", NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "'abc' is not a sample ID");
    tu_write_text(tu_path(dir, "ids.txt"), "# request 7\n12\n\n  13  # twice below\nx13\n");
    tu_sisa(r, "unlearn", "-c", cfg, "--ids-file", tu_path(dir, "ids.txt"), NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "ids.txt:5: 'x13' is not a sample ID");
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);

    /* A second writer is refused while another process holds the store. */
    char lockpath[2300];
    snprintf(lockpath, sizeof lockpath, "%s/lock", store);
    int fd = open(lockpath, O_RDWR);
    assert_true(fd >= 0);
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)train_rows.id[3]);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, NULL);
    assert_int_equal(r->status, 75); /* busy: temporary, run again */
    char expect[128];
    snprintf(expect, sizeof expect, "is busy: another sisa command (pid %ld)", (long)getpid());
    tu_assert_contains(r->err, expect);
    /* Readers take no lock and never wait: they work while a writer holds the store. */
    tu_sisa(r, "status", "-c", cfg, NULL);
    if (r->status != 0) fail_msg("status during a writer: %d\n%s%s", r->status, r->out, r->err);
    tu_sisa(r, "eval", "-c", cfg, NULL);
    if (r->status != 0) fail_msg("eval during a writer: %d\n%s%s", r->status, r->out, r->err);
    /* A writer told to wait gives up after its limit, still as busy. */
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", ids, "--wait=0.5", NULL);
    assert_int_equal(r->status, 75);
    tu_assert_contains(r->err, "is busy");
    close(fd);
    tu_sisa(r, "status", "-c", cfg, NULL);
    assert_int_equal(r->status, 0);
    tree_snapshot(store, "", after, sizeof after);
    assert_same_tree(before, after);
    free(r);
}

int main(void)
{
    make_rows(&train_rows, N_ROWS, 1000, 1);
    make_rows(&test_rows, N_TEST, 900000, 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_id_rejected),
        cmocka_unit_test(test_repeated_request),
        cmocka_unit_test(test_missing_shard_changed_dataset),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_stop_and_resume),
        cmocka_unit_test(test_logreg_sgd),
        cmocka_unit_test(test_logreg_adam),
        cmocka_unit_test(test_mlp_sgd),
        cmocka_unit_test(test_mlp_adam),
        cmocka_unit_test(test_mlp_cosine),
        cmocka_unit_test(test_knn),
        cmocka_unit_test(test_cnn),
        cmocka_unit_test(test_cnn_shape_refused),
        cmocka_unit_test(test_group_sharding),
        cmocka_unit_test(test_tiered_sharding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
