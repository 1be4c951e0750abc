/*
 * test_audit.c - `sisa audit`: the ledger's chain and its witnesses, and the byte scan for
 * deleted rows with its positive control.
 *
 * A small store is trained and three deletion requests are run through the real binary (the
 * first deletes an all-zero row, which cannot be scanned for, and a row whose features another,
 * surviving row repeats). Each test works on a fresh copy of that store:
 *   - the intact store passes (found 0, the control found in its shard's data file), and the
 *     audit changes no file; an older certificate head passes too;
 *   - every tampering of the ledger is detected, naming the line: an edited middle record, an
 *     edited last record (only the journal's ledger_head sees it), a dropped, an inserted and a
 *     swapped record, and a truncated tail given the old head (--certificate and --head);
 *   - a deleted row's bytes copied into a fake temp file are found, once, in that file;
 *   - destroying the control row's bytes in its data file makes the audit fail: the control is
 *     real;
 *   - a missing or foreign dataset fails the audit; bad options are usage errors;
 *   - two MPI ranks print the same report and exit the same way as one.
 * The search itself (sisa_bytescan) is checked against a brute-force count at every chunk size
 * around the pattern length, with overlapping occurrences and patterns sharing an anchor.
 */
#include "testutil.h"

#include "base/json.h"
#include "base/sha256.h"
#include "shard/audit.h"
#include "shard/store.h"
#include "sisa/config.h"
#include "sisa/dataset.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_ROWS   300
#define N_FEAT   10
#define N_CLASS  3
#define ROW_ZERO 5 /* all features 0: not scannable */
#define ROW_DUP  7 /* its features repeat in row 8, which survives */

static char dir[2048];
static float X[N_ROWS][N_FEAT];
static uint64_t ids[N_ROWS];
static char head1[65], head3[65]; /* the ledger head after requests 1 and 3 */

/* The rows each request deletes. */
static const int req1[] = {ROW_ZERO, ROW_DUP, 20, 41};
static const int req2[] = {60, 61};
static const int req3[] = {90, 150};
#define ROW_LEFTOVER 20

static void write_dataset(const char *path, unsigned seed)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_audit";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    uint64_t s = seed;
    for (int i = 0; i < N_ROWS; i++) {
        int64_t y = i % N_CLASS;
        ids[i] = 100 + 3 * (uint64_t)i;
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            X[i][j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        if (i == ROW_ZERO) memset(X[i], 0, sizeof X[i]);
        if (i == ROW_DUP + 1) memcpy(X[i], X[ROW_DUP], sizeof X[i]);
        assert_int_equal(sisa_dataset_writer_append(w, X[i], &y, &ids[i], NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

static void write_config(const char *name, const char *store)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: train.h5}\n"
             "store: %s\n"
             "seed: 5\n"
             "sisa: {shards: 3, slices: 2}\n"
             "model: {type: mlp, hidden: [8]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n",
             store);
    tu_write_text(tu_path(dir, name), text);
}

static void run_ok(const char *const *args)
{
    tu_run *r = malloc(sizeof *r);
    tu_sisa_argv(r, args);
    if (r->status != 0) fail_msg("sisa %s failed (%d):\n%s%s", args[1], r->status, r->out, r->err);
    free(r);
}

static void unlearn_rows(const char *cfg, const int *rows, size_t n)
{
    char list[512] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%llu", i ? "," : "",
                 (unsigned long long)ids[rows[i]]);
    const char *args[] = {"-q", "unlearn", "-c", cfg, "--ids", list, NULL};
    run_ok(args);
}

/* SHA-256 hex of line `k` (1-based) of a file, without its newline: the ledger head after it. */
static void line_hash(const char *path, int k, char out[65])
{
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    char *p = text;
    for (int i = 1; i < k; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    size_t n = strcspn(p, "\n");
    uint8_t d[32];
    sisa_sha256(d, p, n);
    sisa_hex(out, d, 32);
    free(text);
}

/* The "ledger_head" of a certificate written by sisa verify. */
static void certificate_head(const char *path, char out[65])
{
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    sisa_json *j = NULL;
    const char *head = NULL;
    assert_int_equal(sisa_json_parse(&j, text, len, path), 0);
    assert_true(sisa_json_str(j, "ledger_head", &head));
    snprintf(out, 65, "%s", head);
    sisa_json_free(j);
    free(text);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_scratch("audit"));
    write_dataset(tu_path(dir, "train.h5"), 3);
    write_config("base.yaml", "base");
    char cfg[2200], cert[2300];
    snprintf(cfg, sizeof cfg, "%s/base.yaml", dir);
    const char *train[] = {"-q", "train", "-c", cfg, NULL};
    run_ok(train);
    /* Certificates from sisa verify: after request 1 kept outside the store, after request 3 in
     * the store's own certificates folder (which the scan then covers too). */
    unlearn_rows(cfg, req1, sizeof req1 / sizeof *req1);
    snprintf(cert, sizeof cert, "%s/cert1.json", dir);
    const char *verify1[] = {"-q", "verify", "-c", cfg, "-o", cert, NULL};
    run_ok(verify1);
    line_hash(tu_path(dir, "base/ledger"), 1, head1);
    char h[65];
    certificate_head(cert, h);
    assert_string_equal(h, head1);
    unlearn_rows(cfg, req2, sizeof req2 / sizeof *req2);
    unlearn_rows(cfg, req3, sizeof req3 / sizeof *req3);
    const char *verify3[] = {"-q", "verify", "-c", cfg, NULL};
    run_ok(verify3);
    line_hash(tu_path(dir, "base/ledger"), 3, head3);
    certificate_head(tu_path(dir, "base/certificates/request-3.json"), h);
    assert_string_equal(h, head3);
    return 0;
}

/* A fresh copy of the base store, STORE = dir/name, with its config dir/name.yaml. */
static const char *fresh_copy(const char *name)
{
    static char cfg[2400];
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s' && cp -a '%s/base' '%s/%s'", dir, name, dir, dir,
             name);
    assert_int_equal(system(cmd), 0);
    char yaml[256];
    snprintf(yaml, sizeof yaml, "%s.yaml", name);
    write_config(yaml, name);
    snprintf(cfg, sizeof cfg, "%s/%s", dir, yaml);
    return cfg;
}

/* sisa audit -c CFG [extra...] (at most 4 extra arguments, NULL-terminated). */
static void audit(tu_run *r, int p, const char *cfg, const char *a1, const char *a2, const char *a3)
{
    const char *args[] = {"audit", "-c", cfg, a1, a2, a3, NULL};
    tu_sisa_ranks(r, p, args);
}

static sisa_json *parse_json(const char *text)
{
    sisa_json *j = NULL;
    if (sisa_json_parse(&j, text, strlen(text), "audit --json") != 0)
        fail_msg("not JSON:\n%s", text);
    return j;
}

static uint64_t json_u64(const sisa_json *j, const char *obj, const char *key)
{
    uint64_t v = 0;
    const sisa_json *o = obj ? sisa_json_get(j, obj) : j;
    if (!sisa_json_u64(o, key, &v)) fail_msg("no %s.%s in the report", obj ? obj : "", key);
    return v;
}

static const char *json_str(const sisa_json *j, const char *obj, const char *key)
{
    const char *v = NULL;
    const sisa_json *o = obj ? sisa_json_get(j, obj) : j;
    if (!sisa_json_str(o, key, &v)) fail_msg("no %s.%s in the report", obj ? obj : "", key);
    return v;
}

/* Lines of a file, edited and written back. */
typedef struct {
    char *text;
    char *line[16];
    int n;
} lines_t;

static void read_lines(const char *path, lines_t *l)
{
    size_t len = 0;
    l->text = tu_read_file(path, &len);
    l->n = 0;
    for (char *p = l->text; *p && l->n < 16;) {
        l->line[l->n++] = p;
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        p = nl + 1;
    }
}

static void write_lines(const char *path, const lines_t *l, const int *order, int n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", l->line[order[i]]);
    fclose(f);
}

/* Every regular file under `root` as "path sha size mtime" lines (the audit must change none). */
static void snapshot(const char *root, char *out, size_t cap)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && find . -type f -printf '%%p %%s %%T@\\n' | sort && find . -type f "
             "-exec sha256sum {} + | sort",
             root);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* Regular files under `root` and their bytes, counted independently of the audit. */
static void count_tree(const char *root, uint64_t *files, uint64_t *bytes)
{
    DIR *d = opendir(root);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        struct stat sb;
        assert_int_equal(lstat(path, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            count_tree(path, files, bytes);
        } else if (S_ISREG(sb.st_mode)) {
            (*files)++;
            *bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
}

/* ---- the intact store --------------------------------------------------------------------- */

static void test_intact_store_passes(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("intact");
    static char before[65536], after[65536];
    snapshot(tu_path(dir, "intact"), before, sizeof before);
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    if (r->status != 0) fail_msg("audit failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "ledger: 3 record(s)");
    tu_assert_contains(r->out, "3 request(s) certified in the journal");
    tu_assert_contains(r->out, "chain intact");
    tu_assert_contains(r->out, "bytes of deleted rows found: 0\n");
    tu_assert_contains(r->out, "verdict: pass\n");

    audit(r, 0, cfg, "--json", NULL, NULL);
    assert_int_equal(r->status, 0);
    sisa_json *j = parse_json(r->out);
    assert_string_equal(json_str(j, NULL, "verdict"), "pass");
    const sisa_json *ledger = sisa_json_get(j, "ledger");
    assert_int_equal(json_u64(ledger, NULL, "records"), 3);
    assert_int_equal(json_u64(ledger, NULL, "certified"), 3);
    assert_string_equal(json_str(ledger, NULL, "head"), head3);
    assert_int_equal(sisa_json_get(ledger, "problems")->count, 0);
    const sisa_json *scan = sisa_json_get(j, "scan");
    /* Every request's rows are deleted rows of the dataset; the all-zero row cannot be searched
     * for, and the row whose features survive in row 8 must not count as a leftover. */
    assert_int_equal(json_u64(scan, NULL, "deleted_rows"), 8);
    assert_int_equal(json_u64(scan, NULL, "missing_rows"), 0);
    assert_int_equal(json_u64(scan, NULL, "not_scannable"), 1);
    assert_int_equal(json_u64(scan, NULL, "identical_to_surviving"), 1);
    assert_int_equal(json_u64(scan, NULL, "found"), 0);
    assert_true(json_u64(scan, NULL, "control_found") >= 1);
    /* Every regular file of the store was read whole, the certificate folder included. */
    uint64_t files = 0, bytes = 0;
    count_tree(tu_path(dir, "intact"), &files, &bytes);
    assert_true(tu_exists(tu_path(dir, "intact/certificates/request-3.json")));
    assert_int_equal(json_u64(scan, NULL, "files"), files);
    assert_int_equal(json_u64(scan, NULL, "bytes"), bytes);
    assert_true(files >= 3 * 4 + 6); /* 4 per shard; journal, ledger, manifest, salt, ... */
    /* The control is the first surviving row in file order, found in its shard's data file. */
    const sisa_json *control = sisa_json_get(scan, "control");
    assert_int_equal(json_u64(control, NULL, "id"), ids[0]);
    assert_true(json_u64(control, NULL, "found_in_file") >= 1);
    char want[2300];
    snprintf(want, sizeof want, "%s/intact/shards/%04llu/data.h5", dir,
             (unsigned long long)json_u64(control, NULL, "shard"));
    assert_string_equal(json_str(control, NULL, "file"), want);
    assert_string_equal(json_str(j, NULL, "dataset"), tu_path(dir, "train.h5"));
    const sisa_json *digest_ok = sisa_json_get(j, "dataset_digest_ok");
    assert_true(digest_ok && digest_ok->type == SISA_JSON_BOOL && digest_ok->boolean);
    sisa_json_free(j);

    /* Read-only: not a byte, not a modification time changed. */
    snapshot(tu_path(dir, "intact"), after, sizeof after);
    assert_string_equal(before, after);

    /* A head from before the second request is in the intact chain; so is the latest. */
    audit(r, 0, cfg, "--certificate", tu_path(dir, "cert1.json"), NULL);
    if (r->status != 0) fail_msg("audit failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "the chain's head after record 1");
    tu_assert_contains(r->out, "verdict: pass");

    /* A certificate as large as one covering a deletion of 270 000 rows (their salted hashes,
     * 18 MB): read like any other (it was refused above 16 MiB, a limit below what sisa
     * writes; certificates may now be as large as the ledger, 1 GiB). */
    size_t clen = 0;
    char *cert = tu_read_file(tu_path(dir, "cert1.json"), &clen);
    const size_t n_big = 270000, entry = 67; /* "<64 hex>", */
    size_t blen = clen + n_big * entry + 64;
    char *big = malloc(blen);
    assert_non_null(big);
    size_t at = (size_t)(strchr(cert, '{') - cert) + 1, o = 0;
    memcpy(big, cert, at);
    o = at;
    o += (size_t)sprintf(big + o, "\"more_ids\": [");
    for (size_t i = 0; i < n_big; i++)
        o += (size_t)sprintf(big + o, "%s\"%064zx\"", i ? "," : "", i);
    o += (size_t)sprintf(big + o, "], ");
    memcpy(big + o, cert + at, clen - at);
    o += clen - at;
    tu_write_file(tu_path(dir, "cert1-big.json"), big, o);
    assert_true(o > (size_t)17 << 20);
    free(big);
    free(cert);
    audit(r, 0, cfg, "--certificate", tu_path(dir, "cert1-big.json"), NULL);
    if (r->status != 0) fail_msg("audit failed (%d):\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "the chain's head after record 1");
    audit(r, 0, cfg, "--head", head3, NULL);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "the chain's head after record 3");
    free(r);
}

/* ---- tampering with the ledger ------------------------------------------------------------ */

/* The audit must fail with exit 1, `msg` in its error (stderr) and in its report. */
static void expect_fail(const tu_run *r, const char *msg)
{
    if (r->status != 1) fail_msg("audit exited %d, expected 1:\n%s%s", r->status, r->out, r->err);
    tu_assert_contains(r->out, "verdict: fail");
    tu_assert_contains(r->out, msg);
    tu_assert_contains(r->err, "sisa: error: ");
}

/* Change one character of line `k` at the first `key`, to `to`. */
static void edit_line(const char *cfg_name, int k, const char *key, char to)
{
    lines_t l;
    char path[2300];
    snprintf(path, sizeof path, "%s/%s/ledger", dir, cfg_name);
    read_lines(path, &l);
    assert_int_equal(l.n, 3);
    char *at = strstr(l.line[k - 1], key);
    assert_non_null(at);
    at += strlen(key);
    assert_true(*at != to);
    *at = to;
    const int order[] = {0, 1, 2};
    write_lines(path, &l, order, 3);
    free(l.text);
}

static void test_edited_middle_record(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("edit-middle");
    edit_line("edit-middle", 2, "\"time\": \"", '1'); /* the year 2xxx becomes 1xxx */
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char where[2300];
    /* The chain breaks at the next line; the journal names the edited one. */
    snprintf(where, sizeof where, "%s/edit-middle/ledger:3: its prev hash", dir);
    expect_fail(r, where);
    tu_assert_contains(r->err, where);
    snprintf(where, sizeof where,
             "%s/edit-middle/ledger:2: the record of request 2 is not the one certified", dir);
    tu_assert_contains(r->out, where);

    /* No new deletion is accepted on a damaged ledger (it could never be certified), and the
     * store is left as it was. */
    char journal[2300], before[65], after[65], id[32];
    snprintf(journal, sizeof journal, "%s/edit-middle/journal", dir);
    tu_sha_file(journal, before);
    snprintf(id, sizeof id, "%llu", (unsigned long long)ids[200]);
    tu_sisa(r, "unlearn", "-c", cfg, "--ids", id, NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "ledger is damaged");
    tu_assert_contains(r->err, "sisa repair");
    tu_assert_contains(r->err, "ledger:3: its prev hash");
    tu_sha_file(journal, after);
    assert_string_equal(before, after);
    free(r);
}

static void test_edited_last_record(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("edit-last");
    edit_line("edit-last", 3, "\"rows\": ", '9'); /* still valid JSON, still a valid chain */
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char where[2300];
    snprintf(where, sizeof where,
             "%s/edit-last/ledger:3: the record of request 3 is not the one certified", dir);
    expect_fail(r, where);
    tu_assert_contains(r->err, where);
    tu_assert_contains(r->err, "the record was edited");
    free(r);
}

static void reorder(const char *name, const int *order, int n)
{
    lines_t l;
    char path[2300];
    snprintf(path, sizeof path, "%s/%s/ledger", dir, name);
    read_lines(path, &l);
    assert_int_equal(l.n, 3);
    write_lines(path, &l, order, n);
    free(l.text);
}

static void test_dropped_record(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("drop");
    const int order[] = {0, 2};
    reorder("drop", order, 2);
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char where[2300];
    snprintf(where, sizeof where,
             "%s/drop/ledger:2: request 3 follows request 1: a record was dropped", dir);
    expect_fail(r, where);
    tu_assert_contains(r->err, where);
    tu_assert_contains(r->out, "request 2 is certified in");
    free(r);
}

static void test_swapped_records(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("swap");
    const int order[] = {1, 0, 2};
    reorder("swap", order, 3);
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char where[2300];
    snprintf(where, sizeof where, "%s/swap/ledger:1: request 2 follows request 0", dir);
    expect_fail(r, where);
    tu_assert_contains(r->err, where);
    free(r);
}

static void test_inserted_record(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("insert");
    const int order[] = {0, 1, 1, 2};
    reorder("insert", order, 4);
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char where[4400];
    snprintf(where, sizeof where, "%s/insert/ledger:3: request 2 follows request 2", dir);
    expect_fail(r, where);
    snprintf(where, sizeof where,
             "%s/insert/ledger:3: a record of request 2 that %s/insert/journal does not certify",
             dir, dir);
    tu_assert_contains(r->out, where);
    free(r);
}

static void test_truncated_tail(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("truncate");
    const int order[] = {0, 1};
    reorder("truncate", order, 2); /* a clean cut: the chain itself is intact */
    tu_run *r = malloc(sizeof *r);
    char msg[2400];
    snprintf(msg, sizeof msg,
             "the ledger was truncated or rewritten: head %s from %s is not in the chain", head3,
             tu_path(dir, "base/certificates/request-3.json"));
    audit(r, 0, cfg, "--certificate", tu_path(dir, "base/certificates/request-3.json"), NULL);
    expect_fail(r, msg);
    tu_assert_contains(r->err, msg);
    snprintf(msg, sizeof msg,
             "the ledger was truncated or rewritten: head %s from --head is not in the chain",
             head3);
    audit(r, 0, cfg, "--head", head3, NULL);
    expect_fail(r, msg);
    tu_assert_contains(r->err, msg);
    /* The journal sees the missing request too. */
    tu_assert_contains(r->out, "request 3 is certified in");
    free(r);
}

/* ---- the byte scan ------------------------------------------------------------------------ */

static void row_bytes(int row, uint8_t out[N_FEAT * 4])
{
    for (int j = 0; j < N_FEAT; j++) {
        uint32_t b;
        memcpy(&b, &X[row][j], 4);
        for (int k = 0; k < 4; k++) out[4 * j + k] = (uint8_t)(b >> (8 * k));
    }
}

static void test_leftover_bytes_found(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("leftover");
    char fake[2300];
    snprintf(fake, sizeof fake, "%s/leftover/shards/0000/.data.h5.sisa-tmp-1-1", dir);
    uint8_t buf[7 + N_FEAT * 4 + 5];
    memcpy(buf, "HDF5...", 7);
    row_bytes(ROW_LEFTOVER, buf + 7);
    memcpy(buf + 7 + N_FEAT * 4, "tail!", 5);
    tu_write_file(fake, buf, sizeof buf);

    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, NULL, NULL, NULL);
    char line[2400];
    snprintf(line, sizeof line, "    %s: 1\n", fake);
    expect_fail(r, "bytes of deleted rows found: 1\n");
    tu_assert_contains(r->out, line);
    tu_assert_contains(r->err, "bytes of deleted rows remain in the store: found 1 time(s)");
    tu_assert_contains(r->err, fake);

    audit(r, 0, cfg, "--json", NULL, NULL);
    assert_int_equal(r->status, 1);
    sisa_json *j = parse_json(r->out);
    assert_string_equal(json_str(j, NULL, "verdict"), "fail");
    const sisa_json *scan = sisa_json_get(j, "scan");
    assert_int_equal(json_u64(scan, NULL, "found"), 1);
    const sisa_json *in = sisa_json_get(scan, "found_in");
    assert_int_equal(in->count, 1);
    assert_string_equal(json_str(in->kid, NULL, "file"), fake);
    assert_int_equal(json_u64(in->kid, NULL, "count"), 1);
    sisa_json_free(j);
    assert_true(tu_exists(fake)); /* the audit only reads */

    /* A not-scannable row (all zeros) left behind is not searched for: no false alarm on the
     * zeros every HDF5 file is full of. */
    uint8_t zeros[N_FEAT * 4 * 3] = {0};
    tu_write_file(fake, zeros, sizeof zeros);
    audit(r, 0, cfg, NULL, NULL, NULL);
    assert_int_equal(r->status, 0);
    free(r);
}

static void test_control_is_real(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("control");
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, "--json", NULL, NULL);
    assert_int_equal(r->status, 0);
    sisa_json *j = parse_json(r->out);
    const sisa_json *control = sisa_json_get(sisa_json_get(j, "scan"), "control");
    char file[2300];
    snprintf(file, sizeof file, "%s", json_str(control, NULL, "file"));
    assert_int_equal(json_u64(control, NULL, "id"), ids[0]);
    sisa_json_free(j);

    /* The surviving row's bytes are in its data file, exactly once; destroy them. */
    size_t len = 0;
    char *data = tu_read_file(file, &len);
    uint8_t row[N_FEAT * 4];
    row_bytes(0, row);
    int found = 0;
    for (size_t i = 0; i + sizeof row <= len; i++)
        if (!memcmp(data + i, row, sizeof row)) {
            data[i + 13] ^= 0x40;
            found++;
        }
    assert_int_equal(found, 1);
    tu_write_file(file, data, len);
    free(data);

    audit(r, 0, cfg, NULL, NULL, NULL);
    char msg[2400];
    snprintf(msg, sizeof msg,
             "the positive control failed: the bytes of surviving row %llu were not found in its "
             "shard's data file %s",
             (unsigned long long)ids[0], file);
    expect_fail(r, msg);
    /* The file check finds the edit first (the error is the first problem); the scan still
     * reports the failed control. */
    tu_assert_contains(r->err, "does not match its recorded SHA-256");
    tu_assert_contains(r->out, "files: ");
    free(r);
}

static void test_dataset_missing_or_foreign(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("dataset");
    tu_run *r = malloc(sizeof *r);
    const char *missing = tu_path(dir, "no-such-dataset.h5");
    audit(r, 0, cfg, "--dataset", missing, NULL);
    char msg[2400];
    snprintf(msg, sizeof msg,
             "the byte scan could not run: the dataset %s is not available, and the deleted "
             "rows' bytes are known only from it",
             missing);
    expect_fail(r, msg);
    tu_assert_contains(r->err, msg);
    tu_assert_contains(r->out, "scan: not run: ");

    /* Another dataset of the same shape: not the store's, and the deleted rows are not in it. */
    static float keep[N_ROWS][N_FEAT];
    memcpy(keep, X, sizeof X);
    write_dataset(tu_path(dir, "other.h5"), 99);
    memcpy(X, keep, sizeof X);
    const char *other = tu_path(dir, "other.h5");
    audit(r, 0, cfg, "--dataset", other, NULL);
    snprintf(msg, sizeof msg, "%s is not the dataset store %s/dataset was trained on", other, dir);
    expect_fail(r, msg);
    tu_assert_contains(r->err, msg);
    free(r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *cfg = fresh_copy("usage");
    tu_run *r = malloc(sizeof *r);
    audit(r, 0, cfg, "--head", "abc", NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "--head 'abc' is not a ledger head (64 hex digits)");
    const char *args[] = {
        "audit", "-c", cfg, "--head", head1, "--certificate", tu_path(dir, "cert1.json"), NULL};
    tu_sisa_ranks(r, 0, args);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "not both");
    tu_write_text(tu_path(dir, "bad-cert.json"), "{\"verdict\": \"pass\"}");
    audit(r, 0, cfg, "--certificate", tu_path(dir, "bad-cert.json"), NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "bad-cert.json: not a deletion certificate (no \"ledger_head\")");
    free(r);
}

/* The store's lock outlives the scan: the scan opens and closes every file of the store, the
 * lock file too, and a classic fcntl lock would end at that close. While this process holds
 * the store as a writer and after it scanned it, another writer must still be refused. */
static void test_scan_keeps_the_lock(void **state)
{
    (void)state;
    const char *path = fresh_copy("locked");
    sisa_config cfg;
    sisa_store st;
    assert_int_equal(sisa_config_load(&cfg, path), 0);
    assert_int_equal(sisa_store_open(&st, &cfg, SISA_STORE_WRITE, 0), 0);
    char id[32], expect[128];
    snprintf(id, sizeof id, "%llu", (unsigned long long)ids[200]);
    snprintf(expect, sizeof expect, "is busy: another sisa command (pid %ld)", (long)getpid());
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "unlearn", "-c", path, "--ids", id, NULL);
    assert_int_equal(r->status, 75);
    tu_assert_contains(r->err, expect);

    sisa_audit_scan scan;
    const uint8_t none[1][32] = {{0}};
    assert_int_equal(sisa_audit_scan_store(&scan, &st, cfg.data.train, none, 0), 0);
    assert_true(scan.files > 0);
    sisa_audit_scan_free(&scan);
    char lock[2400];
    snprintf(lock, sizeof lock, "%s/locked/lock", dir);
    int fd = open(lock, O_RDONLY); /* and once more, by hand */
    assert_true(fd >= 0);
    close(fd);
    /* Still refused (the PID, named through a classic lock, may be gone by now). */
    tu_sisa(r, "unlearn", "-c", path, "--ids", id, NULL);
    assert_int_equal(r->status, 75);
    tu_assert_contains(r->err, "is busy: another sisa command");
    sisa_store_close(&st);
    tu_sisa(r, "unlearn", "-c", path, "--ids", id, NULL);
    if (r->status != 0) fail_msg("unlearn after the store was released: %d\n%s", r->status, r->err);
    free(r);
}

/* ---- MPI ---------------------------------------------------------------------------------- */

static void test_two_ranks_same_verdict(void **state)
{
    (void)state;
    tu_run *one = malloc(sizeof *one), *two = malloc(sizeof *two);
    const char *cfg = fresh_copy("mpi");
    audit(one, 0, cfg, "--json", "--certificate", tu_path(dir, "cert1.json"));
    audit(two, 2, cfg, "--json", "--certificate", tu_path(dir, "cert1.json"));
    assert_int_equal(one->status, 0);
    if (two->status != 0) fail_msg("2 ranks: %d\n%s%s", two->status, two->out, two->err);
    assert_string_equal(one->out, two->out);

    /* A failing audit fails the same way, reported once. */
    char fake[2300];
    snprintf(fake, sizeof fake, "%s/mpi/shards/0001/.ckpt-002.h5.sisa-tmp-7-7", dir);
    uint8_t row[N_FEAT * 4];
    row_bytes(req3[0], row);
    tu_write_file(fake, row, sizeof row);
    audit(one, 0, cfg, "--json", NULL, NULL);
    audit(two, 2, cfg, "--json", NULL, NULL);
    assert_int_equal(one->status, 1);
    assert_int_equal(two->status, 1);
    assert_string_equal(one->out, two->out);
    tu_assert_contains(one->out, "\"verdict\": \"fail\"");
    tu_assert_contains(two->err, fake);
    free(one);
    free(two);
}

/* ---- the search itself -------------------------------------------------------------------- */

static uint64_t brute_count(const uint8_t *hay, size_t n, const uint8_t *pat, size_t len)
{
    uint64_t c = 0;
    for (size_t i = 0; i + len <= n; i++) c += !memcmp(hay + i, pat, len);
    return c;
}

static void test_bytescan_chunks(void **state)
{
    (void)state;
    const char *d = tu_scratch("bytescan");
    enum { LEN = 24, NPAT = 5, HAY = 1000 };
    uint8_t pats[NPAT][LEN];
    uint64_t s = 12345;
    for (int p = 0; p < NPAT; p++)
        for (int i = 0; i < LEN; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            pats[p][i] = (uint8_t)(s >> 56);
        }
    /* Pattern 1 shares pattern 0's first 16 bytes (and so, likely, its anchor). */
    memcpy(pats[1], pats[0], 16);
    /* Pattern 2 is periodic: its occurrences overlap in a run of its period. */
    for (int i = 0; i < LEN; i++) pats[2][i] = (uint8_t)(1 + i % 4);
    /* Pattern 3: all zeros; pattern 4: two byte values only. Neither is scannable. */
    memset(pats[3], 0, LEN);
    for (int i = 0; i < LEN; i++) pats[4][i] = (uint8_t)(i % 2 ? 0x3f : 0);

    uint8_t hay[HAY];
    for (int i = 0; i < HAY; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        hay[i] = (uint8_t)(s >> 56);
    }
    memcpy(hay, pats[0], LEN);             /* at the start */
    memcpy(hay + HAY - LEN, pats[1], LEN); /* at the end */
    memcpy(hay + 100, pats[0], LEN);       /* back to back */
    memcpy(hay + 100 + LEN, pats[0], LEN);
    for (int i = 0; i < 40; i++) hay[300 + i] = (uint8_t)(1 + i % 4); /* overlapping pats[2] */
    memcpy(hay + 511, pats[1], LEN);                                  /* unaligned */
    memset(hay + 600, 0, 100);
    const char *path = tu_path(d, "hay.bin");
    tu_write_file(path, hay, HAY);

    sisa_bytescan *scan = NULL;
    assert_int_equal(sisa_bytescan_create(&scan, &pats[0][0], NPAT, LEN), 0);
    assert_true(sisa_bytescan_scannable(scan, 0));
    assert_true(sisa_bytescan_scannable(scan, 1));
    assert_true(sisa_bytescan_scannable(scan, 2));
    assert_false(sisa_bytescan_scannable(scan, 3));
    assert_false(sisa_bytescan_scannable(scan, 4));
    uint64_t want[NPAT];
    for (int p = 0; p < 3; p++) want[p] = brute_count(hay, HAY, pats[p], LEN);
    want[3] = want[4] = 0; /* not searched for */
    assert_int_equal(want[0], 3);
    assert_int_equal(want[1], 2);
    assert_int_equal(want[2], (40 - LEN) / 4 + 1);
    const size_t chunks[] = {1, 2, 3, 7, 8, 9, 23, 24, 25, 47, 48, 100, 999, 1000, 1001, 0};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        uint64_t counts[NPAT] = {0}, bytes = 0;
        assert_int_equal(sisa_bytescan_file(scan, path, chunks[c], counts, &bytes), 0);
        assert_int_equal(bytes, HAY);
        for (int p = 0; p < NPAT; p++)
            if (counts[p] != want[p])
                fail_msg("chunk %zu: pattern %d found %llu times, expected %llu", chunks[c], p,
                         (unsigned long long)counts[p], (unsigned long long)want[p]);
    }
    sisa_bytescan_free(scan);

    /* Patterns shorter than an anchor are never scannable; an empty set scans nothing. */
    assert_int_equal(sisa_bytescan_create(&scan, hay, 2, 4), 0);
    assert_false(sisa_bytescan_scannable(scan, 0));
    sisa_bytescan_free(scan);
    assert_int_equal(sisa_bytescan_create(&scan, NULL, 0, LEN), 0);
    uint64_t bytes = 0;
    assert_int_equal(sisa_bytescan_file(scan, path, 0, NULL, &bytes), 0);
    assert_int_equal(bytes, HAY);
    assert_true(sisa_bytescan_file(scan, tu_path(d, "missing.bin"), 0, NULL, &bytes) < 0);
    sisa_bytescan_free(scan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytescan_chunks),
        cmocka_unit_test(test_intact_store_passes),
        cmocka_unit_test(test_edited_middle_record),
        cmocka_unit_test(test_edited_last_record),
        cmocka_unit_test(test_dropped_record),
        cmocka_unit_test(test_swapped_records),
        cmocka_unit_test(test_inserted_record),
        cmocka_unit_test(test_truncated_tail),
        cmocka_unit_test(test_leftover_bytes_found),
        cmocka_unit_test(test_control_is_real),
        cmocka_unit_test(test_dataset_missing_or_foreign),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_scan_keeps_the_lock),
        cmocka_unit_test(test_two_ranks_same_verdict),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
