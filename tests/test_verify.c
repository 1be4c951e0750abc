/*
 * test_verify.c - `sisa verify`: the deletion certificate, through the real binary.
 *
 *   - an ID-sharded store after two requests (rows in two shards; every row of one slice) and a
 *     group-sharded store after a --groups request verify as "pass"; the certificate holds the
 *     requests, the salted hashes of exactly the deleted rows and groups, every touched shard
 *     (and no other) with both matches true, its row count, final lineage and model hash, the
 *     ledger's head and the store's determinism context; a shard emptied by a request passes
 *     with no model; the scratch store is removed (or kept with --keep-scratch);
 *   - a touched shard whose final checkpoint was replaced by an older, committed one fails,
 *     naming the shard, the checkpoint and the first differing tensor;
 *   - a touched shard whose data file holds a deleted row again fails with "data differs",
 *     also when the rows are rebuilt from the store (no dataset);
 *   - without the dataset (or with a changed one) the rows come from the store: data_source
 *     "store" with the reason;
 *   - another determinism context (OPENBLAS_CORETYPE) is refused with exit 2 and both contexts;
 *   - 2 ranks give the certificate of 1 rank, apart from its time, for a pass and a fail.
 */
#include "testutil.h"

#include "base/fs.h"
#include "base/json.h"
#include "base/sha256.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/verify.h"
#include "sisa/config.h"
#include "sisa/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_ROWS  360
#define N_FEAT  8
#define N_CLASS 3
#define S_IDS   4 /* shards of the ID-sharded store */
#define R_IDS   3
#define S_GRP   3
#define R_GRP   2

static char dir[2048];
static char tmpdir[2300]; /* $TMPDIR of every run: verify's default scratch folders go here */

/* ---- data and stores ---------------------------------------------------------------------- */

static uint64_t row_id(uint64_t i)
{
    return 5000 + 11 * i + (i % 3);
}

static uint64_t row_group(uint64_t i)
{
    return 70 + i / 3;
}

static int data_risk; /* write_data adds a risk column: tier 1 for every fifth group */

static void write_data(const char *path, unsigned seed)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.has_group = 1;
    o.has_risk = data_risk;
    o.replace = 1;
    o.source = "test_verify";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    uint64_t s = seed;
    for (uint64_t i = 0; i < N_ROWS; i++) {
        float x[N_FEAT];
        int64_t y = (int64_t)(i % N_CLASS);
        uint64_t id = row_id(i), g = row_group(i);
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, &g, 1), 0);
        const uint8_t tier = g % 5 == 0;
        if (data_risk) assert_int_equal(sisa_dataset_writer_append_risk(w, &tier, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static void write_config(const char *name, const char *store, const char *train, int by_group)
{
    char text[1024];
    if (by_group)
        snprintf(text, sizeof text,
                 "data: {train: %s}\nstore: %s\nseed: 5\n"
                 "sisa: {shards: %d, slices: %d, sharding: group}\n"
                 "model: {type: mlp, hidden: [6]}\n"
                 "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n",
                 train, store, S_GRP, R_GRP);
    else
        snprintf(text, sizeof text,
                 "data: {train: %s}\nstore: %s\nseed: 9\n"
                 "sisa: {shards: %d, slices: %d}\n"
                 "model: {type: logreg}\n"
                 "train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 16, epochs: 2}\n",
                 train, store, S_IDS, R_IDS);
    tu_write_text(tu_path(dir, name), text);
}

static void run_ok(const char *const *argv)
{
    tu_run *r = malloc(sizeof *r);
    tu_sisa_argv(r, argv);
    if (r->status != 0) fail_msg("sisa %s failed (%d):\n%s%s", argv[1], r->status, r->out, r->err);
    free(r);
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s' && cp -a '%s/%s' '%s/%s'", dir, to, dir, from, dir,
             to);
    assert_int_equal(system(cmd), 0);
}

/* Shard and slice of every row, as the store placed them. */
typedef struct {
    uint64_t id, group;
    uint32_t shard;
    int32_t slice;
} placed;

static int read_placement(const char *store, int shards, placed *out)
{
    int n = 0;
    for (int k = 0; k < shards; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s/shards/%04d/data.h5", dir, store, k);
        sisa_shard_data *idx = NULL;
        assert_int_equal(sisa_shard_data_read_index(&idx, path), 0);
        for (uint64_t i = 0; i < idx->n; i++)
            out[n++] =
                (placed){idx->id[i], idx->group ? idx->group[i] : 0, (uint32_t)k, idx->slice[i]};
        sisa_shard_data_free(idx);
    }
    return n;
}

/* What the fixtures deleted. */
static struct {
    int built;
    uint64_t ids[N_ROWS]; /* every row deleted from store "ids" (requests 1 and 2) */
    size_t n_ids;
    int touched[S_IDS];
    uint32_t one_row_shard; /* a shard that lost exactly one row (request 1) */
    uint64_t one_row_id;
    uint64_t groups[2]; /* the groups deleted from store "grp" */
    uint64_t grp_ids[N_ROWS];
    size_t n_grp_ids;
    int grp_touched[S_GRP];
} fx;

static void list_ids(char *out, size_t cap, const uint64_t *v, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%llu", i ? "," : "",
                 (unsigned long long)v[i]);
}

/* Stores shared by the tests (built once):
 *   ids-pre  ID-sharded, trained, no deletions
 *   ids      ids-pre after request 1 (one row in shard 0's last slice, one row of shard 2) and
 *            request 2 (every row of slice 1 of shard 0)
 *   grp      group-sharded, after one --groups request of two data subjects */
static void build_stores(void)
{
    if (fx.built) return;
    write_data(tu_path(dir, "D.h5"), 1);
    write_data(tu_path(dir, "D2.h5"), 2);
    write_config("ids-pre.yaml", "ids-pre", "D.h5", 0);
    write_config("ids.yaml", "ids", "D.h5", 0);
    write_config("grp.yaml", "grp", "D.h5", 1);
    const char *t1[] = {"-q", "train", "-c", tu_path(dir, "ids-pre.yaml"), NULL};
    run_ok(t1);
    const char *t2[] = {"-q", "train", "-c", tu_path(dir, "grp.yaml"), NULL};
    run_ok(t2);

    placed *p = malloc(N_ROWS * sizeof *p);
    assert_int_equal(read_placement("ids-pre", S_IDS, p), N_ROWS);
    uint64_t r1[2];
    size_t n1 = 0;
    for (int i = 0; i < N_ROWS && n1 < 1; i++)
        if (p[i].shard == 0 && p[i].slice == R_IDS - 1) r1[n1++] = p[i].id;
    for (int i = N_ROWS - 1; i >= 0 && n1 < 2; i--)
        if (p[i].shard == 2) r1[n1++] = p[i].id;
    assert_int_equal(n1, 2);
    fx.one_row_shard = 2;
    fx.one_row_id = r1[1];
    uint64_t r2[N_ROWS];
    size_t n2 = 0;
    for (int i = 0; i < N_ROWS; i++)
        if (p[i].shard == 0 && p[i].slice == 1) r2[n2++] = p[i].id;
    assert_true(n2 > 3);
    memcpy(fx.ids, r1, sizeof r1);
    memcpy(fx.ids + 2, r2, n2 * sizeof *r2);
    fx.n_ids = 2 + n2;
    fx.touched[0] = fx.touched[2] = 1;

    copy_tree("ids-pre", "ids");
    char list[N_ROWS * 24];
    list_ids(list, sizeof list, r1, n1);
    const char *u1[] = {"-q", "unlearn", "-c", tu_path(dir, "ids.yaml"), "--ids", list, NULL};
    run_ok(u1);
    list_ids(list, sizeof list, r2, n2);
    const char *u2[] = {"-q", "unlearn", "-c", tu_path(dir, "ids.yaml"), "--ids", list, NULL};
    run_ok(u2);

    /* Two data subjects of the group store, in whatever shards they landed. */
    assert_int_equal(read_placement("grp", S_GRP, p), N_ROWS);
    fx.groups[0] = row_group(10);
    fx.groups[1] = row_group(200);
    for (int i = 0; i < N_ROWS; i++)
        if (p[i].group == fx.groups[0] || p[i].group == fx.groups[1]) {
            fx.grp_ids[fx.n_grp_ids++] = p[i].id;
            fx.grp_touched[p[i].shard] = 1;
        }
    assert_int_equal(fx.n_grp_ids, 6);
    list_ids(list, sizeof list, fx.groups, 2);
    const char *u3[] = {"-q", "unlearn", "-c", tu_path(dir, "grp.yaml"), "--groups", list, NULL};
    run_ok(u3);
    free(p);
    fx.built = 1;
}

/* ---- reading what verify wrote --------------------------------------------------------------- */

static sisa_json *load_json(const char *path)
{
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    sisa_json *j = NULL;
    if (sisa_json_parse(&j, text, len, path) != 0) fail_msg("%s does not parse:\n%s", path, text);
    free(text);
    assert_int_equal(j->type, SISA_JSON_OBJECT);
    return j;
}

static const char *jstr(const sisa_json *o, const char *key)
{
    const char *v = NULL;
    if (!sisa_json_str(o, key, &v)) fail_msg("no string \"%s\"", key);
    return v;
}

static int jbool(const sisa_json *o, const char *key)
{
    const sisa_json *v = sisa_json_get(o, key);
    if (!v || v->type != SISA_JSON_BOOL) fail_msg("no boolean \"%s\"", key);
    return v->boolean;
}

static uint64_t ju64(const sisa_json *o, const char *key)
{
    uint64_t v = 0;
    if (!sisa_json_u64(o, key, &v)) fail_msg("no number \"%s\"", key);
    return v;
}

static const sisa_json *cert_shard(const sisa_json *cert, uint32_t k)
{
    const sisa_json *sh = sisa_json_get(cert, "shards");
    assert_non_null(sh);
    for (const sisa_json *s = sh->kid; s; s = s->next)
        if (ju64(s, "shard") == k) return s;
    return NULL;
}

/* The salted hash the store names a row or group by: SHA-256 of the tag, STORE/salt's 32 bytes
 * and the value as 8 little-endian bytes (recomputed here independently of sisa). */
static void salted(const char *store, const char *tag, uint64_t v, char hex[65])
{
    char *text = tu_read_file(tu_path(tu_path(dir, store), "salt"), NULL);
    uint8_t salt[32], le[8], d[32];
    for (int i = 0; i < 32; i++) {
        unsigned b;
        assert_int_equal(sscanf(text + 2 * i, "%2x", &b), 1);
        salt[i] = (uint8_t)b;
    }
    free(text);
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    sisa_sha256_update(&h, tag, strlen(tag));
    sisa_sha256_update(&h, salt, 32);
    sisa_sha256_update(&h, le, 8);
    sisa_sha256_final(&h, d);
    sisa_hex(hex, d, 32);
}

static int cmp_hex(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The certificate's list `key` equals the salted hashes of `v`, sorted. */
static void check_hashes(const sisa_json *cert, const char *key, const char *store, const char *tag,
                         const uint64_t *v, size_t n)
{
    char(*want)[65] = malloc((n ? n : 1) * 65);
    for (size_t i = 0; i < n; i++) salted(store, tag, v[i], want[i]);
    qsort(want, n, 65, cmp_hex);
    const sisa_json *arr = sisa_json_get(cert, key);
    assert_non_null(arr);
    assert_int_equal(arr->type, SISA_JSON_ARRAY);
    assert_int_equal(arr->count, n);
    size_t i = 0;
    for (const sisa_json *e = arr->kid; e; e = e->next, i++) assert_string_equal(e->str, want[i]);
    free(want);
}

static void ledger_head(const char *store, char hex[65])
{
    size_t len = 0;
    char *text = tu_read_file(tu_path(tu_path(dir, store), "ledger"), &len);
    assert_true(len > 1 && text[len - 1] == '\n');
    size_t start = len - 1;
    while (start > 0 && text[start - 1] != '\n') start--;
    uint8_t d[32];
    sisa_sha256(d, text + start, len - 1 - start);
    sisa_hex(hex, d, 32);
    free(text);
}

static void manifest_context(const char *store, char *out, size_t cap)
{
    char *text = tu_read_file(tu_path(tu_path(dir, store), "manifest"), NULL);
    const char *c = strstr(text, "\ncontext: ");
    assert_non_null(c);
    c += strlen("\ncontext: ");
    snprintf(out, cap, "%.*s", (int)strcspn(c, "\n"), c);
    free(text);
}

static void shard_file(char *out, size_t cap, const char *store, uint32_t k, const char *name)
{
    snprintf(out, cap, "%s/%s/shards/%04u/%s", dir, store, k, name);
}

/* "requests" must be 1, 2, ..., n. */
static void check_requests(const sisa_json *cert, uint64_t n)
{
    const sisa_json *req = sisa_json_get(cert, "requests");
    assert_int_equal(req->count, n);
    uint64_t i = 1;
    for (const sisa_json *e = req->kid; e; e = e->next, i++) {
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)i);
        assert_string_equal(e->str, want);
    }
}

/* Everything a passing certificate must say about store `store`. */
static void check_pass_cert(const sisa_json *cert, const char *store, uint64_t requests,
                            const int *touched, int shards)
{
    assert_int_equal(ju64(cert, "sisa_certificate"), 1);
    assert_string_equal(jstr(cert, "verdict"), "pass");
    assert_string_equal(jstr(cert, "data_source"), "dataset");
    const char *t = jstr(cert, "time");
    assert_true(strlen(t) == 20 && t[4] == '-' && t[10] == 'T' && t[19] == 'Z');
    check_requests(cert, requests);
    char head[65], context[1024];
    ledger_head(store, head);
    assert_string_equal(jstr(cert, "ledger_head"), head);
    manifest_context(store, context, sizeof context);
    assert_string_equal(jstr(cert, "context"), context);
    const char *store_path = jstr(cert, "store");
    assert_non_null(strstr(store_path, store));
    size_t listed = sisa_json_get(cert, "shards")->count, expect = 0;
    for (int k = 0; k < shards; k++) {
        const sisa_json *s = cert_shard(cert, (uint32_t)k);
        if (!touched[k]) {
            if (s) fail_msg("shard %d is in the certificate but no request touched it", k);
            continue;
        }
        expect++;
        if (!s) fail_msg("touched shard %d is missing from the certificate", k);
        assert_true(jbool(s, "data_match"));
        assert_true(jbool(s, "checkpoints_match"));
        char data[4400], ckpt[4400], name[32], sha[65];
        shard_file(data, sizeof data, store, (uint32_t)k, "data.h5");
        sisa_shard_data *idx = NULL;
        assert_int_equal(sisa_shard_data_read_index(&idx, data), 0);
        assert_int_equal(ju64(s, "rows"), idx->n);
        snprintf(name, sizeof name, "ckpt-%03d.h5", shards == S_IDS ? R_IDS : R_GRP);
        shard_file(ckpt, sizeof ckpt, store, (uint32_t)k, name);
        if (idx->n) {
            tu_sha_file(ckpt, sha);
            assert_string_equal(jstr(s, "model"), sha);
            sisa_ckpt_meta meta;
            assert_int_equal(sisa_ckpt_read_meta(&meta, ckpt), 0);
            assert_string_equal(jstr(s, "lineage"), meta.lineage);
        } else {
            assert_false(tu_exists(ckpt));
            assert_string_equal(jstr(s, "model"), "");
        }
        sisa_shard_data_free(idx);
    }
    assert_int_equal(listed, expect);
}

/* ---- running verify -------------------------------------------------------------------------- */

static void verify(tu_run *r, const char *cfg, const char *extra1, const char *extra2)
{
    const char *argv[] = {"verify", "-c", tu_path(dir, cfg), extra1, extra2, NULL};
    tu_sisa_argv(r, argv);
}

static const char *cert_path(const char *store, int request)
{
    static char buf[4400];
    snprintf(buf, sizeof buf, "%s/%s/certificates/request-%d.json", dir, store, request);
    return buf;
}

/* Commit `src`'s bytes as shard k's file `name`, the way sisa commits files (temp file, put
 * record with its SHA-256 in the shard's journal, rename), so the store regards it as its own. */
static void commit_as(const char *store, uint32_t k, const char *name, const char *src)
{
    char sdir[4300], final[4400], tmp[4400];
    snprintf(sdir, sizeof sdir, "%s/%s/shards/%04u", dir, store, k);
    snprintf(final, sizeof final, "%s/%s", sdir, name);
    assert_int_equal(sisa_fs_tmp_create(tmp, sizeof tmp, final), 0);
    size_t len = 0;
    char *bytes = tu_read_file(src, &len);
    tu_write_file(tmp, bytes, len);
    free(bytes);
    sisa_files f = {0};
    assert_int_equal(sisa_files_open(&f, sdir, "journal", 1), 0);
    assert_int_equal(sisa_files_commit(&f, tmp, name), 0);
    sisa_files_close(&f);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

/* A store without certified deletions has nothing to prove: exit 0, no certificate. */
static void test_no_deletions(void **state)
{
    (void)state;
    build_stores();
    tu_run *r = malloc(sizeof *r);
    verify(r, "ids-pre.yaml", NULL, NULL);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "no deletions to verify");
    assert_false(tu_exists(tu_path(tu_path(dir, "ids-pre"), "certificates")));
    free(r);
}

static void test_pass_ids(void **state)
{
    (void)state;
    build_stores();
    tu_run *r = malloc(sizeof *r);
    char scratch[2300], kept[2300], inside[2400];
    /* A scratch folder inside the store is refused, also when spelt through "..". */
    snprintf(inside, sizeof inside, "%s/elsewhere/../ids/./scratch", dir);
    verify(r, "ids.yaml", "--scratch", inside);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "is inside store");
    assert_false(tu_exists(tu_path(dir, "ids/scratch")));
    snprintf(scratch, sizeof scratch, "%s", tu_scratch("scratch-a"));
    verify(r, "ids.yaml", "--scratch", scratch);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "verdict: pass");
    tu_assert_contains(r->out, cert_path("ids", 2));
    tu_assert_contains(r->out, "shard 0: ");
    assert_int_equal(tu_count_entries(scratch), 0); /* the scratch store is gone */

    sisa_json *cert = load_json(cert_path("ids", 2));
    check_pass_cert(cert, "ids", 2, fx.touched, S_IDS);
    check_hashes(cert, "ids", "ids", "sisa-id-v1", fx.ids, fx.n_ids);
    check_hashes(cert, "groups", "ids", "sisa-group-v1", NULL, 0);
    assert_string_equal(jstr(cert_shard(cert, 0), "detail"),
                        "data and 3 checkpoints equal training from scratch");
    sisa_json_free(cert);

    /* --keep-scratch keeps the scratch store: its final checkpoints are the store's. */
    snprintf(kept, sizeof kept, "%s", tu_scratch("scratch-b"));
    const char *out = tu_path(dir, "kept.json");
    const char *a[] = {"verify",    "-c", tu_path(dir, "ids.yaml"), "-o", out,
                       "--scratch", kept, "--keep-scratch",         NULL};
    tu_sisa_argv(r, a);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "scratch store kept: ");
    tu_assert_contains(r->out, "certificate: ");
    assert_int_equal(tu_count_entries(kept), 1);
    const char *line = strstr(r->out, "scratch store kept: ") + strlen("scratch store kept: ");
    char root[2400], sa[4400], sb[4400], ha[65], hb[65];
    snprintf(root, sizeof root, "%.*s", (int)strcspn(line, "\n"), line);
    assert_int_equal(strncmp(root, kept, strlen(kept)), 0);
    snprintf(sa, sizeof sa, "%s/shards/0002/ckpt-003.h5", root);
    shard_file(sb, sizeof sb, "ids", 2, "ckpt-003.h5");
    tu_sha_file(sa, ha);
    tu_sha_file(sb, hb);
    assert_string_equal(ha, hb);
    cert = load_json(out);
    assert_string_equal(jstr(cert, "verdict"), "pass");
    sisa_json_free(cert);

    /* -o does not replace a file without --force; --json prints the certificate. */
    const char *b[] = {"verify", "-c", tu_path(dir, "ids.yaml"), "-o", out, NULL};
    tu_sisa_argv(r, b);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "kept.json exists; use --force to replace it");
    const char *c[] = {"-q",      "verify", "-c", tu_path(dir, "ids.yaml"), "-o", out,
                       "--force", "--json", NULL};
    tu_sisa_argv(r, c);
    if (r->status != 0) fail_msg("verify --json failed (%d):\n%s%s", r->status, r->out, r->err);
    sisa_json *printed = NULL;
    assert_int_equal(sisa_json_parse(&printed, r->out, strlen(r->out), "stdout"), 0);
    assert_string_equal(jstr(printed, "verdict"), "pass");
    sisa_json_free(printed);

    /* A shard that loses every row must have no checkpoint left, like training from scratch. */
    copy_tree("ids", "ids3");
    write_config("ids3.yaml", "ids3", "D.h5", 0);
    placed *p = malloc(N_ROWS * sizeof *p);
    int np = read_placement("ids3", S_IDS, p);
    uint64_t last[N_ROWS];
    size_t nl = 0;
    for (int i = 0; i < np; i++)
        if (p[i].shard == 3) last[nl++] = p[i].id;
    assert_true(nl > 0);
    char list[N_ROWS * 24];
    list_ids(list, sizeof list, last, nl);
    const char *u[] = {"-q", "unlearn", "-c", tu_path(dir, "ids3.yaml"), "--ids", list, NULL};
    run_ok(u);
    verify(r, "ids3.yaml", NULL, NULL);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    cert = load_json(cert_path("ids3", 3));
    int touched3[S_IDS] = {1, 0, 1, 1};
    check_pass_cert(cert, "ids3", 3, touched3, S_IDS);
    const sisa_json *s3 = cert_shard(cert, 3);
    assert_int_equal(ju64(s3, "rows"), 0);
    assert_string_equal(jstr(s3, "detail"),
                        "no rows left and no checkpoints, as training from scratch");
    sisa_json_free(cert);
    free(p);
    free(r);
}

/* verify creates no folder but its own scratch store, and removes that: a --scratch folder that
 * does not exist is refused (nothing created), and a $TMPDIR that does not exist is passed over
 * for /tmp instead of being created and left behind. */
static void test_scratch_folders(void **state)
{
    (void)state;
    build_stores();
    tu_run *r = malloc(sizeof *r);
    char missing[2400], cert[2400];
    snprintf(cert, sizeof cert, "%s/scratch-test.json", dir);
    snprintf(missing, sizeof missing, "%s/no-such/tmp", dir);
    const char *a[] = {"verify", "-c", tu_path(dir, "ids.yaml"), "-o", cert, "--force", "--scratch",
                       missing,  NULL};
    tu_sisa_argv(r, a);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "/no-such/tmp: No such file or directory; give an existing folder");
    assert_false(tu_exists(tu_path(dir, "no-such")));
    assert_false(tu_exists(cert));

    setenv("TMPDIR", missing, 1);
    const char *b[] = {"verify", "-c", tu_path(dir, "ids.yaml"), "-o", cert, "--force", NULL};
    tu_sisa_argv(r, b);
    setenv("TMPDIR", tmpdir, 1);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "verdict: pass");
    tu_assert_contains(r->err, "/no-such/tmp is not an existing folder: training from scratch in "
                               "/tmp instead");
    assert_false(tu_exists(tu_path(dir, "no-such")));
    assert_true(tu_exists(cert));
    free(r);
}

static void test_pass_groups(void **state)
{
    (void)state;
    build_stores();
    tu_run *r = malloc(sizeof *r);
    verify(r, "grp.yaml", NULL, NULL);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "2 data subject(s)");
    sisa_json *cert = load_json(cert_path("grp", 1));
    check_pass_cert(cert, "grp", 1, fx.grp_touched, S_GRP);
    check_hashes(cert, "ids", "grp", "sisa-id-v1", fx.grp_ids, fx.n_grp_ids);
    check_hashes(cert, "groups", "grp", "sisa-group-v1", fx.groups, 2);
    sisa_json_free(cert);
    free(r);
}

/* The final checkpoint of a touched shard replaced by the one from before the deletion (and
 * committed, so that only a retraining can tell). */
static void test_replaced_checkpoint(void **state)
{
    (void)state;
    build_stores();
    const uint32_t k = fx.one_row_shard;
    copy_tree("ids", "t-ckpt");
    write_config("t-ckpt.yaml", "t-ckpt", "D.h5", 0);
    char old[4400], sha[65];
    shard_file(old, sizeof old, "ids-pre", k, "ckpt-003.h5");
    commit_as("t-ckpt", k, "ckpt-003.h5", old);
    tu_sha_file(old, sha);

    tu_run *r = malloc(sizeof *r);
    verify(r, "t-ckpt.yaml", NULL, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->out, "verdict: fail");
    tu_assert_contains(r->err, "verification failed for 1 of 2 touched shard(s): shard 2: "
                               "ckpt-003.h5 differs from training from scratch: /model/");
    tu_assert_contains(r->err, cert_path("t-ckpt", 2));
    sisa_json *cert = load_json(cert_path("t-ckpt", 2));
    assert_string_equal(jstr(cert, "verdict"), "fail");
    const sisa_json *s = cert_shard(cert, k);
    assert_true(jbool(s, "data_match"));
    assert_false(jbool(s, "checkpoints_match"));
    assert_string_equal(jstr(s, "model"), sha); /* what the store holds */
    tu_assert_contains(jstr(s, "detail"), "ckpt-003.h5 differs from training from scratch");
    const sisa_json *s0 = cert_shard(cert, 0);
    assert_true(jbool(s0, "data_match") && jbool(s0, "checkpoints_match"));
    sisa_json_free(cert);
    assert_int_equal(tu_count_entries(tmpdir), 0); /* no scratch left after a failure either */

    /* A checkpoint changed on disk behind its journal's back (a flipped byte). */
    copy_tree("ids", "t-bytes");
    write_config("t-bytes.yaml", "t-bytes", "D.h5", 0);
    char path[4400];
    shard_file(path, sizeof path, "t-bytes", 0, "ckpt-001.h5");
    size_t len = 0;
    char *bytes = tu_read_file(path, &len);
    bytes[len / 2] ^= 0x40;
    tu_write_file(path, bytes, len);
    free(bytes);
    verify(r, "t-bytes.yaml", NULL, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "verification failed for 1 of 2 touched shard(s): shard 0: ");
    tu_assert_contains(r->err, "ckpt-001.h5 does not match its recorded SHA-256");
    cert = load_json(cert_path("t-bytes", 2));
    assert_false(jbool(cert_shard(cert, 0), "checkpoints_match"));
    assert_true(jbool(cert_shard(cert, 0), "data_match"));
    assert_true(jbool(cert_shard(cert, 2), "checkpoints_match"));
    sisa_json_free(cert);
    free(r);
}

/* A deleted row back in a touched shard's data file (committed), models untouched. */
static void test_deleted_row_in_data(void **state)
{
    (void)state;
    build_stores();
    const uint32_t k = fx.one_row_shard;
    copy_tree("ids", "t-data");
    write_config("t-data.yaml", "t-data", "D.h5", 0);
    char pre[4400], cur[4400], tmp[4400];
    shard_file(pre, sizeof pre, "ids-pre", k, "data.h5");
    shard_file(cur, sizeof cur, "t-data", k, "data.h5");
    sisa_shard_data *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(sisa_shard_data_read(&a, pre), 0);
    assert_int_equal(sisa_shard_data_read(&b, cur), 0);
    assert_int_equal(b->n + 1, a->n);
    /* The current rows plus the deleted one, in ID order. */
    assert_int_equal(sisa_shard_data_alloc(&c, k, a->n, a->d, a->num_classes, a->group != NULL), 0);
    uint64_t m = 0;
    for (uint64_t i = 0, j = 0; i < a->n; i++) {
        int keep = a->id[i] == fx.one_row_id || (j < b->n && b->id[j] == a->id[i]);
        if (!keep) continue;
        if (j < b->n && b->id[j] == a->id[i]) j++;
        memcpy(c->X + m * a->d, a->X + i * a->d, a->d * sizeof *a->X);
        c->y[m] = a->y[i];
        c->id[m] = a->id[i];
        c->slice[m] = a->slice[i];
        if (a->group) c->group[m] = a->group[i];
        m++;
    }
    assert_int_equal(m, a->n);
    snprintf(tmp, sizeof tmp, "%s/rebuilt.h5", dir);
    assert_int_equal(sisa_shard_data_write(tmp, c), 0);
    commit_as("t-data", k, "data.h5", tmp);
    sisa_shard_data_free(a);
    sisa_shard_data_free(b);
    sisa_shard_data_free(c);

    tu_run *r = malloc(sizeof *r);
    verify(r, "t-data.yaml", NULL, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "shard 2: data differs: data.h5 still holds 1 deleted row(s)");
    sisa_json *cert = load_json(cert_path("t-data", 2));
    assert_string_equal(jstr(cert, "verdict"), "fail");
    const sisa_json *s = cert_shard(cert, k);
    assert_false(jbool(s, "data_match"));
    assert_true(jbool(s, "checkpoints_match")); /* the models never saw the row again */
    tu_assert_contains(jstr(s, "detail"), "data differs");
    sisa_json_free(cert);

    /* Rebuilt from the store itself (no dataset), the deleted row is still found. */
    write_config("t-data-nods.yaml", "t-data", "gone.h5", 0);
    verify(r, "t-data-nods.yaml", NULL, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "data differs: data.h5 still holds 1 deleted row(s)");
    cert = load_json(cert_path("t-data", 2));
    assert_string_equal(jstr(cert, "data_source"), "store");
    assert_string_equal(jstr(cert, "verdict"), "fail");
    sisa_json_free(cert);
    free(r);
}

/* Without the dataset, or with another one, the rows come from the store's data files. */
static void test_dataset_missing(void **state)
{
    (void)state;
    build_stores();
    copy_tree("ids", "t-nods");
    write_config("t-nods.yaml", "t-nods", "gone.h5", 0);
    tu_run *r = malloc(sizeof *r);
    verify(r, "t-nods.yaml", NULL, NULL);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "rebuilt from the store's own data files");
    tu_assert_contains(r->err, "gone.h5 is missing");
    sisa_json *cert = load_json(cert_path("t-nods", 2));
    assert_string_equal(jstr(cert, "verdict"), "pass");
    assert_string_equal(jstr(cert, "data_source"), "store");
    tu_assert_contains(jstr(cert, "data_source_reason"), "gone.h5 is missing");
    for (int k = 0; k < S_IDS; k++) {
        const sisa_json *s = cert_shard(cert, (uint32_t)k);
        if (fx.touched[k]) assert_true(jbool(s, "data_match") && jbool(s, "checkpoints_match"));
    }
    sisa_json_free(cert);

    /* A dataset with other content (its digest is not the manifest's). */
    write_config("t-nods.yaml", "t-nods", "D2.h5", 0);
    verify(r, "t-nods.yaml", NULL, NULL);
    if (r->status != 0) fail_msg("verify failed (%d):\n%s%s", r->status, r->out, r->err);
    cert = load_json(cert_path("t-nods", 2));
    assert_string_equal(jstr(cert, "verdict"), "pass");
    assert_string_equal(jstr(cert, "data_source"), "store");
    tu_assert_contains(jstr(cert, "data_source_reason"), "has changed since the store was trained");
    sisa_json_free(cert);
    free(r);
}

/* Bits can only be compared under the store's determinism context. */
static void test_other_context(void **state)
{
    (void)state;
    build_stores();
    char context[1024];
    manifest_context("ids", context, sizeof context);
    const char *core = strstr(context, "core Haswell ") ? "Prescott" : "Haswell";
    char expect[64];
    snprintf(expect, sizeof expect, "core %s ", core);
    const char *saved = getenv("OPENBLAS_CORETYPE");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("OPENBLAS_CORETYPE", core, 1);
    tu_run *r = malloc(sizeof *r);
    char before[4400];
    snprintf(before, sizeof before, "%s/ids/certificates", dir);
    int n_before = tu_exists(before) ? tu_count_entries(before) : -1;
    verify(r, "ids.yaml", NULL, NULL);
    if (keep)
        setenv("OPENBLAS_CORETYPE", keep, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    free(keep);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "bits can only be compared under the same sisa build, OpenBLAS "
                               "core and threads, floating-point mode and CPU features");
    tu_assert_contains(r->err, context);
    tu_assert_contains(r->err, expect);
    assert_int_equal(tu_exists(before) ? tu_count_entries(before) : -1, n_before);
    free(r);
}

/* The certificate without its "time" line. */
static char *without_time(const char *path)
{
    char *text = tu_read_file(path, NULL);
    char *t = strstr(text, "\"time\": ");
    assert_non_null(t);
    char *eol = strchr(t, '\n');
    memmove(t, eol + 1, strlen(eol + 1) + 1);
    return text;
}

static void test_two_ranks(void **state)
{
    (void)state;
    if (!getenv("SISA_MPIEXEC") || !*getenv("SISA_MPIEXEC")) skip();
    build_stores();
    const char *stores[] = {"ids", "t-ckpt"};
    for (int i = 0; i < 2; i++) {
        char cfg[64], o1[4400], o2[4400];
        snprintf(cfg, sizeof cfg, "%s.yaml", stores[i]);
        if (!tu_exists(tu_path(dir, cfg))) continue; /* its test did not run */
        snprintf(o1, sizeof o1, "%s/%s-p1.json", dir, stores[i]);
        snprintf(o2, sizeof o2, "%s/%s-p2.json", dir, stores[i]);
        tu_run *r = malloc(sizeof *r);
        const char *a1[] = {"-q", "verify", "-c", tu_path(dir, cfg), "-o", o1, "--force", NULL};
        const char *a2[] = {"-q", "verify", "-c", tu_path(dir, cfg), "-o", o2, "--force", NULL};
        tu_sisa_ranks(r, 0, a1);
        int s1 = r->status;
        tu_sisa_ranks(r, 2, a2);
        if (r->status != s1)
            fail_msg("%s: 1 rank exits %d, 2 ranks %d:\n%s%s", stores[i], s1, r->status, r->out,
                     r->err);
        assert_int_equal(s1, i == 0 ? 0 : 1);
        char *c1 = without_time(o1), *c2 = without_time(o2);
        assert_string_equal(c1, c2);
        assert_int_equal(tu_count_entries(tmpdir), 0);
        free(c1);
        free(c2);
        free(r);
    }
}

/* ---- the rows of each shard, against a third, independent definition ----------------------- */

/* verify.c rebuilds the rows each shard must hold apart from partition.c, on purpose (a verifier
 * must not share the code it checks). Both are compared here with tests/shard_rows.py, which
 * computes the assignment and the rows from docs/formats.md with its own Philox (checked against
 * Random123's known answers) over h5py's arrays, calling nothing of sisa: per shard, its row
 * count and the SHA-256 of its rows (id u64, slice i32, y i32, features f32, little-endian). */
typedef struct {
    uint64_t rows[S_IDS];
    char sha[S_IDS][65];
} shard_rows;

static const char *rows_dataset = "D.h5"; /* the dataset python_rows reads */

static void python_rows(shard_rows *out, int seed, int S, int R, const char *sharding,
                        const uint64_t *deleted, size_t n_deleted)
{
    char script[4096], del[N_ROWS * 24], sd[16], ss[16], sr[16];
    snprintf(script, sizeof script, "%s/tests/shard_rows.py", tu_env("SISA_TEST_SRC"));
    list_ids(del, sizeof del, deleted, n_deleted);
    snprintf(sd, sizeof sd, "%d", seed);
    snprintf(ss, sizeof ss, "%d", S);
    snprintf(sr, sizeof sr, "%d", R);
    const char *argv[] = {
        "/usr/bin/python3", script, tu_path(dir, rows_dataset), sd, ss, sr, sharding, del, NULL};
    tu_run *r = malloc(sizeof *r);
    tu_run_argv(r, argv);
    if (r->status != 0) fail_msg("shard_rows.py failed (%d): %s", r->status, r->err);
    const char *p = r->out;
    for (int k = 0; k < S; k++) {
        unsigned kk = 0;
        unsigned long long n = 0;
        int used = 0;
        assert_int_equal(sscanf(p, "%u %llu %64s%n", &kk, &n, out->sha[k], &used), 3);
        assert_int_equal(kk, k);
        out->rows[k] = n;
        p += used;
    }
    free(r);
}

/* The same digest of rows held in memory. */
static void rows_sha(const sisa_shard_data *sd, char hex[65])
{
    sisa_sha256_ctx c;
    sisa_sha256_init(&c);
    for (uint64_t i = 0; i < sd->n; i++) {
        uint8_t head[16]; /* this machine is little-endian, as the format is */
        memcpy(head, &sd->id[i], 8);
        memcpy(head + 8, &sd->slice[i], 4);
        memcpy(head + 12, &sd->y[i], 4);
        sisa_sha256_update(&c, head, sizeof head);
        sisa_sha256_update(&c, sd->X + i * sd->d, sd->d * sizeof(float));
    }
    uint8_t d[32];
    sisa_sha256_final(&c, d);
    sisa_hex(hex, d, 32);
}

/* The store's data files (written by training's partition, or by a deletion's rewrite). */
static void check_store_rows(const char *store, int S, const shard_rows *want)
{
    for (int k = 0; k < S; k++) {
        char path[4200], hex[65];
        snprintf(path, sizeof path, "%s/%s/shards/%04d/data.h5", dir, store, k);
        sisa_shard_data *sd = NULL;
        assert_int_equal(sisa_shard_data_read(&sd, path), 0);
        rows_sha(sd, hex);
        if (sd->n != want->rows[k] || strcmp(hex, want->sha[k]))
            fail_msg("%s shard %d: %llu rows hashing to %s, shard_rows.py says %llu rows, %s",
                     store, k, (unsigned long long)sd->n, hex, (unsigned long long)want->rows[k],
                     want->sha[k]);
        sisa_shard_data_free(sd);
    }
}

/* verify's rebuild of every shard from the dataset minus what the store's ledger deleted. */
static void check_rebuild(const char *cfg_name, int S, const shard_rows *want)
{
    sisa_config cfg;
    sisa_store st;
    sisa_deletions del;
    assert_int_equal(sisa_config_load(&cfg, tu_path(dir, cfg_name)), 0);
    assert_int_equal(sisa_store_open(&st, &cfg, SISA_STORE_READ, 0), 0);
    char ledger[4200];
    snprintf(ledger, sizeof ledger, "%s/ledger", st.root);
    assert_int_equal(sisa_deletions_read(&del, ledger, (uint32_t)S), 0);
    unsigned char all[S_IDS];
    memset(all, 1, sizeof all);
    sisa_shard_data *out[S_IDS] = {0};
    assert_int_equal(sisa_verify_rebuild(out, &st, all, &del), 0);
    for (int k = 0; k < S; k++) {
        char hex[65];
        rows_sha(out[k], hex);
        if (out[k]->n != want->rows[k] || strcmp(hex, want->sha[k]))
            fail_msg("verify's rebuild of %s shard %d: %llu rows hashing to %s, shard_rows.py "
                     "says %llu rows, %s",
                     cfg_name, k, (unsigned long long)out[k]->n, hex,
                     (unsigned long long)want->rows[k], want->sha[k]);
        sisa_shard_data_free(out[k]);
    }
    sisa_deletions_free(&del);
    sisa_store_close(&st);
}

static void test_rows_third_definition(void **state)
{
    (void)state;
    build_stores();
    shard_rows want;
    /* Training's partition, no deletion. */
    python_rows(&want, 9, S_IDS, R_IDS, "id", NULL, 0);
    check_store_rows("ids-pre", S_IDS, &want);
    /* After two requests: the rewritten data files and verify's rebuild. */
    python_rows(&want, 9, S_IDS, R_IDS, "id", fx.ids, fx.n_ids);
    check_store_rows("ids", S_IDS, &want);
    check_rebuild("ids.yaml", S_IDS, &want);
    /* Sharded by group, after deleting two data subjects. */
    python_rows(&want, 5, S_GRP, R_GRP, "group", fx.grp_ids, fx.n_grp_ids);
    check_store_rows("grp", S_GRP, &want);
    check_rebuild("grp.yaml", S_GRP, &want);
    /* The example is not degenerate: every shard holds rows, and the deletions changed some. */
    for (int k = 0; k < S_GRP; k++) assert_true(want.rows[k] > 0);
}

/* A tiered store (tier 1, every fifth data subject, on the last shard's last slice, keyed by
 * ID): after deleting rows of both tiers, its data files and verify's rebuild hold the rows
 * tests/shard_rows.py computes, and `sisa verify` and `sisa audit` pass. */
static void test_tiered(void **state)
{
    (void)state;
    data_risk = 1;
    write_data(tu_path(dir, "T.h5"), 3);
    data_risk = 0;
    tu_write_text(tu_path(dir, "tier.yaml"),
                  "data: {train: T.h5}\nstore: tier\nseed: 4\n"
                  "sisa: {slices: 3, sharding: tiered, tiers: [{shards: 3}, {shards: 1, "
                  "last_slice: true}]}\n"
                  "model: {type: logreg}\n"
                  "train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 16, epochs: 2}\n");
    const char *t[] = {"-q", "train", "-c", tu_path(dir, "tier.yaml"), NULL};
    run_ok(t);
    shard_rows want;
    rows_dataset = "T.h5";
    python_rows(&want, 4, 4, 3, "tiered:3,1L:id", NULL, 0);
    check_store_rows("tier", 4, &want);
    for (int k = 0; k < 4; k++) assert_true(want.rows[k] > 0);
    /* Two rows of the high-risk tier (groups 70 and 75) and one of the other (group 71). */
    const uint64_t del[3] = {row_id(1), row_id(4), row_id(17)};
    char list[128];
    list_ids(list, sizeof list, del, 3);
    const char *u[] = {"-q", "unlearn", "-c", tu_path(dir, "tier.yaml"), "--ids", list, NULL};
    run_ok(u);
    python_rows(&want, 4, 4, 3, "tiered:3,1L:id", del, 3);
    rows_dataset = "D.h5";
    check_store_rows("tier", 4, &want);
    check_rebuild("tier.yaml", 4, &want);
    tu_run *r = malloc(sizeof *r);
    verify(r, "tier.yaml", NULL, NULL);
    if (r->status != 0)
        fail_msg("verify of the tiered store failed (%d):\n%s%s", r->status, r->out, r->err);
    const char *a[] = {"audit", "-c", tu_path(dir, "tier.yaml"), NULL};
    tu_sisa_argv(r, a);
    if (r->status != 0)
        fail_msg("audit of the tiered store failed (%d):\n%s%s", r->status, r->out, r->err);
    /* status names each tier's shards, in text and JSON. */
    const char *st[] = {"status", "-c", tu_path(dir, "tier.yaml"), NULL};
    tu_sisa_argv(r, st);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "sharding by risk tier");
    tu_assert_contains(r->out, "risk tier 0: shards 0..2 by id\n");
    tu_assert_contains(r->out, "risk tier 1: shard 3 by id, last slice only\n");
    const char *sj[] = {"status", "-c", tu_path(dir, "tier.yaml"), "--json", NULL};
    tu_sisa_argv(r, sj);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "\"tiers\": [{\"tier\": 0, \"first_shard\": 0, \"shards\": 3, "
                               "\"last_slice\": false}, {\"tier\": 1, \"first_shard\": 3, "
                               "\"shards\": 1, \"last_slice\": true}]");
    tu_assert_contains(r->out, "{\"shard\": 3, ");
    tu_assert_contains(r->out, "\"tier\": 1, \"state\": ");
    /* repair rebuilds a lost data file of the high-risk tier from the dataset's risk column,
     * and the store verifies again. */
    char lost[4400];
    snprintf(lost, sizeof lost, "%s/tier/shards/0003/data.h5", dir);
    assert_int_equal(unlink(lost), 0);
    const char *rep[] = {"repair", "-c", tu_path(dir, "tier.yaml"), NULL};
    tu_sisa_argv(r, rep);
    if (r->status != 0)
        fail_msg("repair of the tiered store failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "shards/0003/data.h5");
    check_store_rows("tier", 4, &want);
    verify(r, "tier.yaml", NULL, NULL);
    if (r->status != 0)
        fail_msg("verify after repair failed (%d):\n%s%s", r->status, r->out, r->err);
    free(r);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s", tu_scratch("tmp"));
    setenv("TMPDIR", tmpdir, 1);
    snprintf(dir, sizeof dir, "%s", tu_scratch("verify"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_deletions),
        cmocka_unit_test(test_rows_third_definition),
        cmocka_unit_test(test_tiered),
        cmocka_unit_test(test_pass_ids),
        cmocka_unit_test(test_scratch_folders),
        cmocka_unit_test(test_pass_groups),
        cmocka_unit_test(test_replaced_checkpoint),
        cmocka_unit_test(test_deleted_row_in_data),
        cmocka_unit_test(test_dataset_missing),
        cmocka_unit_test(test_other_context),
        cmocka_unit_test(test_two_ranks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
