/*
 * verify.c - see verify.h.
 *
 * The rebuild deliberately repeats partition.c's logic instead of calling it: a verification
 * that reused the store's own partitioning code path end to end would share its bugs. It uses
 * the same public assignment (sisa_partition_assign), so a disagreement means the store's rows
 * are not what the assignment says they must be. tests/test_verify.c checks both this rebuild
 * and partition.c's shard files against a third definition written out apart from either,
 * tests/shard_rows.py (the assignment of docs/formats.md with its own Philox, over h5py's
 * arrays), so neither can drift from the format unnoticed.
 *
 * The dataset digest is not repeated here: it is a format (docs/formats.md), defined once in
 * io/dsdigest.c for train, verify and audit, and tests/test_io.c checks that definition against
 * an independent computation (Python's hashlib over h5py's arrays), so verify cannot silently
 * diverge from train on it.
 */
#include "shard/verify.h"

#include "base/json.h"
#include "base/log.h"
#include "base/sha256.h"
#include "io/dsstream.h"
#include "model/model.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "shard/request.h"
#include "shard/train.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_BLOCK_ROWS 4096

/* ---- the dataset ------------------------------------------------------------------------- */

typedef struct {
    uint64_t id;
    uint64_t row;
} id_row;

static int cmp_id_row(const void *a, const void *b)
{
    const id_row *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

#define NOT_KEPT UINT32_MAX

int sisa_verify_rebuild(sisa_shard_data **out, const sisa_store *st, const unsigned char *want,
                        const sisa_deletions *del)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t S = (uint32_t)cfg->sisa.shards;
    const char *path = cfg->data.train;
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    uint32_t *shard_of = NULL, *slice_of = NULL;
    uint64_t *pos = NULL, *count = NULL;
    id_row *pairs = NULL;
    float *block = NULL;
    for (uint32_t k = 0; k < S; k++) out[k] = NULL;

    SISA_TRY(sisa_dataset_stream_open(&ds, path, &hdr));
    const int32_t *y = sisa_dataset_stream_y(ds);
    const uint64_t *id = sisa_dataset_stream_id(ds);
    const uint64_t *group = sisa_dataset_stream_group(ds);
    const uint8_t *risk = sisa_dataset_stream_risk(ds);
    SISA_CHECK(!sisa_config_by_group(cfg) || group, SISA_ECORRUPT,
               "%s has no group column, but store %s is sharded by group", path, st->root);
    SISA_CHECK(cfg->sisa.sharding != SISA_SHARDING_TIERED || risk, SISA_ECORRUPT,
               "%s has no risk column, but store %s is sharded by risk tier", path, st->root);
    SISA_TRY(sisa_partition_check_columns(cfg, path, hdr.n, group, risk));
    SISA_CHECK(hdr.d == st->man.features, SISA_ECORRUPT,
               "%s has %llu features per row, but store %s was trained on %llu", path,
               (unsigned long long)hdr.d, st->root, (unsigned long long)st->man.features);

    shard_of = sisa_malloc((hdr.n ? hdr.n : 1) * sizeof *shard_of);
    slice_of = sisa_malloc((hdr.n ? hdr.n : 1) * sizeof *slice_of);
    pos = sisa_malloc((hdr.n ? hdr.n : 1) * sizeof *pos);
    count = sisa_calloc(S, sizeof *count);
    SISA_CHECK(shard_of && slice_of && pos && count, SISA_ENOMEM,
               "out of memory rebuilding shards from %llu rows", (unsigned long long)hdr.n);
    /* Keep the wanted shards' rows that no request deleted. */
    for (uint64_t i = 0; i < hdr.n; i++) {
        uint32_t k, s;
        sisa_partition_assign(cfg, id[i], group ? group[i] : 0, risk ? risk[i] : 0, &k, &s);
        shard_of[i] = NOT_KEPT;
        slice_of[i] = s;
        if (!want[k]) continue;
        uint8_t h[32];
        sisa_store_hash_id(st, id[i], h);
        if (sisa_deletions_has(del, h)) continue;
        shard_of[i] = k;
        count[k]++;
    }
    uint64_t max_count = 0;
    for (uint32_t k = 0; k < S; k++)
        if (count[k] > max_count) max_count = count[k];
    pairs = sisa_malloc((max_count ? max_count : 1) * sizeof *pairs);
    SISA_CHECK(pairs, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < S; k++) {
        if (!want[k]) continue;
        SISA_TRY(
            sisa_shard_data_alloc(&out[k], k, count[k], hdr.d, hdr.num_classes, group != NULL));
        uint64_t m = 0;
        for (uint64_t i = 0; i < hdr.n; i++)
            if (shard_of[i] == k) pairs[m++] = (id_row){id[i], i};
        qsort(pairs, m, sizeof *pairs, cmp_id_row);
        for (uint64_t j = 0; j < m; j++) {
            uint64_t i = pairs[j].row;
            pos[i] = j;
            out[k]->id[j] = id[i];
            out[k]->y[j] = y[i];
            out[k]->slice[j] = (int32_t)slice_of[i];
            if (group) out[k]->group[j] = group[i];
        }
    }

    /* Features: only the runs of consecutive kept rows. */
    block = sisa_malloc(VERIFY_BLOCK_ROWS * (hdr.d ? hdr.d : 1) * sizeof *block);
    SISA_CHECK(block, SISA_ENOMEM, "out of memory");
    for (uint64_t a = 0; a < hdr.n;) {
        if (shard_of[a] == NOT_KEPT) {
            a++;
            continue;
        }
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while reading %s", path);
        uint64_t b = a + 1;
        while (b < hdr.n && b - a < VERIFY_BLOCK_ROWS && shard_of[b] != NOT_KEPT) b++;
        SISA_TRY(sisa_dataset_stream_read_x(ds, a, b - a, block));
        for (uint64_t i = a; i < b; i++)
            memcpy(out[shard_of[i]]->X + pos[i] * hdr.d, block + (i - a) * hdr.d,
                   hdr.d * sizeof *block);
        a = b;
    }
done:
    if (err < 0)
        for (uint32_t k = 0; k < S; k++) {
            sisa_shard_data_free(out[k]);
            out[k] = NULL;
        }
    sisa_free(block);
    sisa_free(pairs);
    sisa_free(count);
    sisa_free(pos);
    sisa_free(slice_of);
    sisa_free(shard_of);
    sisa_dataset_stream_close(ds);
    return err;
}

/* ---- one shard --------------------------------------------------------------------------- */

/* Append "; "-separated text to a fixed buffer (truncating quietly). */
static void note(char *buf, size_t cap, const char *fmt, ...) SISA_PRINTF(3, 4);
static void note(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used && used + 2 < cap) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    if (used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* A failure that means "the store's file is not what it must be" (a difference to report)
 * rather than "verification could not run": corrupt or unverifiable store files. */
static int is_difference(int rc)
{
    return rc == SISA_ECORRUPT;
}

/* Remove the deleted rows from the store's own rows (the fallback when the dataset is gone). */
static int rebuild_from_store(sisa_shard_data **out, const sisa_store *st,
                              const sisa_shard_data *sd, const sisa_deletions *del)
{
    int err = SISA_OK;
    sisa_shard_data *kept = NULL;
    SISA_TRY(
        sisa_shard_data_alloc(&kept, sd->shard, sd->n, sd->d, sd->num_classes, sd->group != NULL));
    uint64_t m = 0;
    for (uint64_t i = 0; i < sd->n; i++) {
        uint8_t h[32];
        sisa_store_hash_id(st, sd->id[i], h);
        if (sisa_deletions_has(del, h)) continue;
        memcpy(kept->X + m * sd->d, sd->X + i * sd->d, sd->d * sizeof *sd->X);
        kept->y[m] = sd->y[i];
        kept->id[m] = sd->id[i];
        kept->slice[m] = sd->slice[i];
        if (sd->group) kept->group[m] = sd->group[i];
        m++;
    }
    kept->n = m;
    *out = kept;
    kept = NULL;
done:
    sisa_shard_data_free(kept);
    return err;
}

/* Compare the store's rows with the rows the shard must hold. Returns 1 when equal, else 0 with
 * the first difference in `why`. Rows are described by position and column, never by raw ID:
 * the certificate, like the ledger, must not name deleted rows. */
static int same_rows(const sisa_store *st, const sisa_deletions *del, const sisa_shard_data *want,
                     const sisa_shard_data *got, char *why, size_t cap)
{
    uint64_t leftover = 0;
    for (uint64_t i = 0; i < got->n; i++) {
        uint8_t h[32];
        sisa_store_hash_id(st, got->id[i], h);
        leftover += (uint64_t)sisa_deletions_has(del, h);
    }
    if (leftover) {
        snprintf(why, cap,
                 "data differs: data.h5 still holds %llu deleted row(s) (%llu rows where "
                 "training from scratch has %llu)",
                 (unsigned long long)leftover, (unsigned long long)got->n,
                 (unsigned long long)want->n);
        return 0;
    }
    if (got->d != want->d || got->num_classes != want->num_classes) {
        snprintf(why, cap,
                 "data differs: data.h5 has %llu features and %d classes, training from scratch "
                 "%llu and %d",
                 (unsigned long long)got->d, got->num_classes, (unsigned long long)want->d,
                 want->num_classes);
        return 0;
    }
    if ((got->group == NULL) != (want->group == NULL)) {
        snprintf(why, cap, "data differs: data.h5 %s a group column, the dataset %s",
                 got->group ? "has" : "lacks", want->group ? "has" : "does not");
        return 0;
    }
    if (got->n != want->n) {
        snprintf(why, cap, "data differs: data.h5 has %llu rows, training from scratch has %llu",
                 (unsigned long long)got->n, (unsigned long long)want->n);
        return 0;
    }
    for (uint64_t i = 0; i < got->n; i++) {
        const char *col = NULL;
        if (got->id[i] != want->id[i])
            col = "id";
        else if (got->y[i] != want->y[i])
            col = "y";
        else if (got->slice[i] != want->slice[i])
            col = "slice";
        else if (got->group && got->group[i] != want->group[i])
            col = "group";
        else if (memcmp(got->X + i * got->d, want->X + i * got->d, got->d * sizeof *got->X) != 0)
            col = "X";
        if (col) {
            snprintf(why, cap, "data differs: row %llu (in ID order) has another %s",
                     (unsigned long long)i, col);
            return 0;
        }
    }
    return 1;
}

/* Views of a model's tensors, to read a checkpoint into. */
typedef struct {
    sisa_model *m;
    sisa_tensor *params, *state;
    int n_params, n_state;
} model_views;

static void views_free(model_views *v)
{
    sisa_free(v->params);
    sisa_free(v->state);
    sisa_model_destroy(v->m);
    memset(v, 0, sizeof *v);
}

static int views_create(model_views *v, const sisa_config *cfg, uint32_t d, uint32_t classes)
{
    int err = SISA_OK;
    sisa_model_spec ms;
    sisa_optim_spec os;
    memset(v, 0, sizeof *v);
    sisa_model_specs_from_config(&ms, &os, cfg, d, classes, 1);
    SISA_TRY(sisa_model_create(&v->m, &ms, &os));
    v->n_params = sisa_model_param_count(v->m);
    v->n_state = sisa_model_state_count(v->m);
    v->params = sisa_malloc((size_t)(v->n_params ? v->n_params : 1) * sizeof *v->params);
    v->state = sisa_malloc((size_t)(v->n_state ? v->n_state : 1) * sizeof *v->state);
    SISA_CHECK(v->params && v->state, SISA_ENOMEM, "out of memory");
    for (int i = 0; i < v->n_params; i++) v->params[i] = *sisa_model_param(v->m, i);
    for (int i = 0; i < v->n_state; i++) v->state[i] = *sisa_model_state(v->m, i);
done:
    if (err < 0) views_free(v);
    return err;
}

/* The first tensor in which two sets of views differ bit for bit ("" when none). */
static int first_tensor_diff(const sisa_tensor *a, const sisa_tensor *b, int n, const char *group,
                             char *why, size_t cap)
{
    for (int i = 0; i < n; i++) {
        uint64_t len = a[i].shape[0] * a[i].shape[1];
        for (uint64_t e = 0; e < len; e++) {
            if (memcmp(&a[i].data[e], &b[i].data[e], sizeof(float)) == 0) continue;
            uint64_t diff = 0;
            for (uint64_t f = e; f < len; f++)
                diff += memcmp(&a[i].data[f], &b[i].data[f], sizeof(float)) != 0;
            snprintf(why, cap,
                     "/%s/%s (%llu of its %llu values differ; first at [%llu]: store %.9g, "
                     "from scratch %.9g)",
                     group, a[i].name, (unsigned long long)diff, (unsigned long long)len,
                     (unsigned long long)e, (double)a[i].data[e], (double)b[i].data[e]);
            return 1;
        }
    }
    return 0;
}

/* Name what differs between the store's checkpoint and the scratch one (both verified). */
static int describe_ckpt_diff(const sisa_config *cfg, const sisa_shard_data *expect,
                              const char *store_path, const char *scratch_path, char *why,
                              size_t cap)
{
    int err = SISA_OK;
    model_views a = {0}, b = {0};
    sisa_ckpt_meta ma, mb;
    SISA_TRY(views_create(&a, cfg, (uint32_t)expect->d, (uint32_t)expect->num_classes));
    SISA_TRY(views_create(&b, cfg, (uint32_t)expect->d, (uint32_t)expect->num_classes));
    SISA_TRY(sisa_ckpt_read(&mb, scratch_path, b.params, b.n_params, b.state, b.n_state));
    int rc = sisa_ckpt_read(&ma, store_path, a.params, a.n_params, a.state, a.n_state);
    if (rc == SISA_ECORRUPT) {
        snprintf(why, cap, "the store's file cannot be compared: %s", sisa_error_message());
        sisa_error_clear();
        goto done;
    }
    SISA_TRY(rc);
    if (first_tensor_diff(a.params, b.params, a.n_params, "model", why, cap)) goto done;
    if (first_tensor_diff(a.state, b.state, a.n_state, "optim", why, cap)) goto done;
    if (strcmp(ma.lineage, mb.lineage) != 0)
        snprintf(why, cap, "every tensor is equal, but its lineage %.12s is not %.12s", ma.lineage,
                 mb.lineage);
    else if (ma.steps != mb.steps || ma.samples != mb.samples || ma.epochs != mb.epochs ||
             ma.rows != mb.rows)
        snprintf(why, cap, "every tensor is equal, but its counters differ (steps %llu vs %llu)",
                 (unsigned long long)ma.steps, (unsigned long long)mb.steps);
    else
        snprintf(why, cap, "every tensor and counter is equal, but the file's bytes differ");
done:
    views_free(&a);
    views_free(&b);
    return err;
}

int sisa_verify_shard_run(sisa_verify_shard *out, const sisa_store *st, uint32_t k,
                          const sisa_shard_data *expect, const sisa_deletions *del,
                          const char *scratch_root)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_files sf = {0}, xf = {0};
    sisa_shard_data *stored = NULL, *own = NULL;
    sisa_store *scratch = NULL;
    char(*lineage)[65] = NULL;
    char data_why[256] = "", ckpt_why[384] = "";
    uint32_t ckpt_bad = 0;
    memset(out, 0, sizeof *out);
    out->shard = k;

    /* 1. The store's rows (checked against the shard journal before HDF5 reads them). */
    SISA_TRY(sisa_shard_files(st, k, &sf, 0));
    int rc = SISA_OK;
    if (!sisa_files_has(&sf, SISA_SHARD_DATA)) {
        snprintf(data_why, sizeof data_why, "data differs: the shard has no committed data.h5");
    } else {
        rc = sisa_shard_read_data(st, &sf, k, 1, &stored);
        if (is_difference(rc)) {
            snprintf(data_why, sizeof data_why, "data differs: %s", sisa_error_message());
            sisa_error_clear();
        } else {
            SISA_TRY(rc);
        }
    }
    if (!expect) {
        /* No dataset to rebuild from: the store's rows minus the deleted ones. */
        if (!stored) {
            out->data_match = 0;
            out->checkpoints_match = 0;
            snprintf(out->detail, sizeof out->detail, "%s; nothing to train from scratch",
                     data_why);
            goto done;
        }
        SISA_TRY(rebuild_from_store(&own, st, stored, del));
        expect = own;
    }
    if (stored && same_rows(st, del, expect, stored, data_why, sizeof data_why)) data_why[0] = '\0';
    out->rows = expect->n;
    out->data_match = data_why[0] == '\0';
    lineage = sisa_malloc(R * sizeof *lineage);
    SISA_CHECK(lineage, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_shard_lineages(expect, R, lineage));
    memcpy(out->lineage, lineage[R - 1], sizeof out->lineage);

    /* 2. Train the rows from scratch in a store of their own. */
    scratch = sisa_malloc(sizeof *scratch);
    SISA_CHECK(scratch, SISA_ENOMEM, "out of memory");
    *scratch = *st;
    scratch->lock_fd = -1;
    SISA_CHECK(strlen(scratch_root) < sizeof scratch->root, SISA_EUSAGE, "path too long: %s",
               scratch_root);
    snprintf(scratch->root, sizeof scratch->root, "%s", scratch_root);
    SISA_TRY(sisa_shard_files(scratch, k, &xf, 1));
    SISA_TRY(sisa_shard_commit_data(scratch, &xf, expect));
    sisa_files_close(&xf);
    sisa_shard_report rep;
    SISA_TRY(sisa_shard_train(scratch, k, &rep));
    SISA_TRY(sisa_shard_files(scratch, k, &xf, 0));

    /* 3. Every checkpoint, by its committed hash; the store's bytes checked too. */
    for (uint32_t r = 1; r <= R; r++) {
        char name[32], why[320] = "";
        sisa_ckpt_name(name, sizeof name, r);
        const char *hs = sisa_files_hash(&sf, name), *hx = sisa_files_hash(&xf, name);
        if (!hs && !hx) continue;
        out->checkpoints++;
        if (!hs) {
            snprintf(why, sizeof why, "%s is missing from the store", name);
        } else if (!hx) {
            snprintf(why, sizeof why,
                     "%s exists in the store, but training from scratch makes none (the shard "
                     "has %llu rows)",
                     name, (unsigned long long)expect->n);
        } else if ((rc = sisa_files_verify(&sf, name)) < 0) {
            SISA_TRY(is_difference(rc) ? SISA_OK : rc);
            snprintf(why, sizeof why, "%s", sisa_error_message());
            sisa_error_clear();
        } else if (strcmp(hs, hx) != 0) {
            char sp[SISA_PATH_MAX], xp[SISA_PATH_MAX], what[288] = "";
            SISA_TRY(sisa_store_ckpt_path(st, k, r, sp, sizeof sp));
            SISA_TRY(sisa_store_ckpt_path(scratch, k, r, xp, sizeof xp));
            SISA_TRY(describe_ckpt_diff(&st->cfg, expect, sp, xp, what, sizeof what));
            snprintf(why, sizeof why, "%s differs from training from scratch: %s", name, what);
        }
        if (why[0] && !ckpt_bad++) snprintf(ckpt_why, sizeof ckpt_why, "%s", why);
    }
    if (ckpt_bad > 1) note(ckpt_why, sizeof ckpt_why, "%u checkpoints differ", ckpt_bad);
    out->checkpoints_match = ckpt_bad == 0;
    char name[32];
    sisa_ckpt_name(name, sizeof name, R);
    const char *final = sisa_files_hash(&sf, name);
    snprintf(out->model, sizeof out->model, "%s", final ? final : "");

    if (data_why[0]) note(out->detail, sizeof out->detail, "%s", data_why);
    if (ckpt_why[0]) note(out->detail, sizeof out->detail, "%s", ckpt_why);
    if (!out->detail[0]) {
        if (expect->n == 0)
            snprintf(out->detail, sizeof out->detail,
                     "no rows left and no checkpoints, as training from scratch");
        else
            snprintf(out->detail, sizeof out->detail,
                     "data and %u checkpoints equal training from scratch", out->checkpoints);
    }
done:
    sisa_free(lineage);
    sisa_free(scratch);
    sisa_shard_data_free(own);
    sisa_shard_data_free(stored);
    sisa_files_close(&xf);
    sisa_files_close(&sf);
    if (err < 0 && err != SISA_EINTR) sisa_error_prefix("shard %u", k);
    return err;
}
