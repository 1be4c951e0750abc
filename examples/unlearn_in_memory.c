/*
 * unlearn_in_memory.c - embedding sisa: build a dataset in memory, train a store, delete rows,
 * predict, and check that the prediction is bit for bit that of a store trained without the rows.
 *
 *   cc unlearn_in_memory.c $(pkg-config --cflags --libs sisa) -o unlearn_in_memory
 *   ./unlearn_in_memory [WORKDIR]
 *
 * Exit status 0 when the posteriors are identical, 1 otherwise (or on any error).
 */
#include <sisa/sisa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROWS     300
#define FEATURES 8
#define CLASSES  3
#define TEST     50

/* A row's features: a noisy one-hot of its class, from a fixed generator. */
static void make_row(uint64_t row, int64_t y, float *x)
{
    uint64_t s = row * 0x9E3779B97F4A7C15ull + 1;
    for (int j = 0; j < FEATURES; j++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[j] = (j % CLASSES == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
    }
}

static const uint64_t deleted[] = {7, 42, 43, 199};

static int is_deleted(uint64_t id)
{
    for (size_t i = 0; i < sizeof deleted / sizeof deleted[0]; i++)
        if (deleted[i] == id) return 1;
    return 0;
}

/* Write the rows (IDs 0..ROWS-1) to a sisa dataset file; `without` skips the deleted rows. */
static int write_dataset(const char *path, int without)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = CLASSES;
    o.replace = 1;
    o.source = "unlearn_in_memory";
    sisa_dataset_writer *w = NULL;
    int err = sisa_dataset_writer_open(&w, path, FEATURES, &o);
    for (uint64_t id = 0; id < ROWS && err == 0; id++) {
        if (without && is_deleted(id)) continue;
        int64_t y = (int64_t)(id % CLASSES);
        float x[FEATURES];
        make_row(id, y, x);
        err = sisa_dataset_writer_append(w, x, &y, &id, NULL, 1);
    }
    if (err == 0) return sisa_dataset_writer_commit(w, NULL);
    sisa_dataset_writer_abort(w);
    return err;
}

static int open_store(sisa_handle **h, const char *dir, const char *train, const char *store)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "data: {train: %s}\nstore: %s\nseed: 3\nsisa: {shards: 4, slices: 2}\n"
             "model: {type: logreg}\ntrain: {optimizer: sgd, lr: 0.1, batch_size: 16, "
             "epochs: 2}\n",
             train, store);
    return sisa_open_yaml(h, yaml, store, dir, NULL);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char all[4096], kept[4096];
    float x[TEST * FEATURES];
    sisa_handle *a = NULL, *b = NULL;
    sisa_prediction pa = {0}, pb = {0};
    int err = 0, same = 0;
    sisa_set_log_level(SISA_LOG_LEVEL_WARN);
    mkdir(dir, 0755);
    snprintf(all, sizeof all, "%s/all.h5", dir);
    snprintf(kept, sizeof kept, "%s/kept.h5", dir);
    for (uint64_t i = 0; i < TEST; i++)
        make_row(ROWS + i, (int64_t)(i % CLASSES), x + i * FEATURES);

    if ((err = write_dataset(all, 0)) < 0 || (err = write_dataset(kept, 1)) < 0) goto done;
    /* Store A: trained on every row, then the rows are deleted. */
    if ((err = open_store(&a, dir, "all.h5", "store-a")) < 0) goto done;
    if ((err = sisa_train(NULL, a)) < 0) goto done;
    const sisa_deletion what = {.ids = deleted, .n_ids = sizeof deleted / sizeof deleted[0]};
    sisa_deletion_report rep;
    if ((err = sisa_unlearn(&rep, a, &what, NULL, NULL)) < 0) goto done;
    printf("request %llu: deleted %llu row(s) from %u of %u shards\n",
           (unsigned long long)rep.request, (unsigned long long)rep.rows, rep.n_shards,
           rep.shards_total);
    sisa_deletion_report_free(&rep);
    if ((err = sisa_predict(&pa, a, x, TEST, FEATURES)) < 0) goto done;
    /* Store B: trained without them. */
    if ((err = open_store(&b, dir, "kept.h5", "store-b")) < 0) goto done;
    if ((err = sisa_train(NULL, b)) < 0) goto done;
    if ((err = sisa_predict(&pb, b, x, TEST, FEATURES)) < 0) goto done;

    same = pa.n == pb.n && pa.classes == pb.classes &&
           memcmp(pa.proba, pb.proba, pa.n * pa.classes * sizeof *pa.proba) == 0 &&
           memcmp(pa.label, pb.label, pa.n * sizeof *pa.label) == 0;
    printf("%llu posteriors of %u classes: %s\n", (unsigned long long)pa.n, pa.classes,
           same ? "bit for bit identical to training without the rows"
                : "DIFFERENT from training without the rows");
done:
    if (err < 0) fprintf(stderr, "unlearn_in_memory: %s\n", sisa_error_message());
    sisa_prediction_free(&pa);
    sisa_prediction_free(&pb);
    sisa_close(a);
    sisa_close(b);
    return err < 0 || !same;
}
