/*
 * ledger.c - the deletion ledger and hashed-ID lists (see ledger.h): the one place that reads and
 * writes their format.
 */
#include "shard/ledger.h"

#include "base/fs.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "shard/request.h"
#include "sisa/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- hashed-ID lists ---------------------------------------------------------------------- */

int sisa_hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

int sisa_hashlist_read(sisa_hashlist *l, const sisa_json *obj, const char *key, const char *where,
                       int mode)
{
    int err = SISA_OK;
    const sisa_json *arr = sisa_json_get(obj, key);
    const int lenient = mode == SISA_HASHES_LENIENT;
    if (!arr && mode != SISA_HASHES_REQUIRED) return SISA_OK;
    if (!arr || arr->type != SISA_JSON_ARRAY) {
        if (lenient) return SISA_OK;
        SISA_FAIL(SISA_ECORRUPT, "%s: \"%s\" is not a list", where, key);
    }
    if (l->cap - l->n < arr->count || !l->v) {
        uint64_t cap = l->n + arr->count;
        cap = cap < 64 ? 64 : cap;
        uint8_t(*v)[32] = sisa_realloc(l->v, cap * 32);
        SISA_CHECK(v, SISA_ENOMEM, "%s: out of memory reading \"%s\"", where, key);
        l->v = v;
        l->cap = cap;
    }
    for (const sisa_json *e = arr->kid; e; e = e->next) {
        int ok = e->type == SISA_JSON_STRING && strlen(e->str) == 64 &&
                 sisa_unhex(l->v[l->n], e->str, 32) == 0;
        if (ok)
            l->n++;
        else if (!lenient)
            SISA_FAIL(SISA_ECORRUPT, "%s: \"%s\" holds something that is not a SHA-256", where,
                      key);
    }
done:
    return err;
}

void sisa_hashlist_sort_unique(sisa_hashlist *l)
{
    if (!l->n) return;
    qsort(l->v, l->n, 32, sisa_hash_cmp);
    uint64_t m = 1;
    for (uint64_t i = 1; i < l->n; i++)
        if (memcmp(l->v[i], l->v[m - 1], 32) != 0) memcpy(l->v[m++], l->v[i], 32);
    l->n = m;
}

int sisa_hashes_has(const uint8_t (*v)[32], uint64_t n, const uint8_t h[32])
{
    return n && bsearch(h, v, n, 32, sisa_hash_cmp) != NULL;
}

void sisa_hashes_write(sisa_jw *w, const uint8_t (*v)[32], uint64_t n)
{
    sisa_jw_raw(w, "[");
    for (uint64_t i = 0; i < n; i++) {
        char hex[65];
        sisa_hex(hex, v[i], 32);
        if (i) sisa_jw_raw(w, ", ");
        sisa_jw_str(w, hex);
    }
    sisa_jw_raw(w, "]");
}

/* ---- the chain --------------------------------------------------------------------------- */

/* Check the chain of the ledger text [0, len) read from `path`. */
static int check_chain(const char *path, const char *text, size_t len, sisa_ledger_info *info)
{
    int err = SISA_OK;
    sisa_json *rec = NULL;
    memset(info, 0, sizeof *info);
    memset(info->head, '0', 64);
    SISA_CHECK(strnlen(text, len) == len, SISA_ECORRUPT, "%s: contains a NUL byte", path);
    SISA_CHECK(len == 0 || text[len - 1] == '\n', SISA_ECORRUPT,
               "%s: the last record is incomplete (no final newline): the ledger was cut or "
               "edited",
               path);
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (size_t)(nl - (text + pos));
        lineno++;
        char name[SISA_PATH_MAX + 32];
        snprintf(name, sizeof name, "%s:%d", path, lineno);
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, name));
        uint64_t request = 0;
        const char *prev = NULL;
        SISA_CHECK(rec->type == SISA_JSON_OBJECT && sisa_json_u64(rec, "request", &request) &&
                       sisa_json_str(rec, "prev", &prev),
                   SISA_ECORRUPT, "%s: not a ledger record", name);
        SISA_CHECK(request == info->last_request + 1, SISA_ECORRUPT,
                   "%s: request %llu follows request %llu: a record was dropped, reordered or "
                   "inserted",
                   name, (unsigned long long)request, (unsigned long long)info->last_request);
        SISA_CHECK(!strcmp(prev, info->head), SISA_ECORRUPT,
                   "%s: its prev hash %.12s... is not the hash of the record before (%.12s...): "
                   "the ledger was edited",
                   name, prev, info->head);
        uint8_t d[32];
        sisa_sha256(d, text + pos, n);
        sisa_hex(info->head, d, 32);
        info->last_request = request;
        info->records++;
        sisa_json_free(rec);
        rec = NULL;
        pos += n + 1;
    }
done:
    sisa_json_free(rec);
    return err;
}

/* Read the ledger at `path` and check its chain. With torn_bytes, a last line without its
 * newline is left out and counted there; without, it is damage. */
static int load_chain(const char *path, sisa_ledger_info *info, size_t *torn_bytes)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    memset(info, 0, sizeof *info);
    memset(info->head, '0', 64);
    if (torn_bytes) *torn_bytes = 0;
    if (!sisa_fs_exists(path)) return SISA_OK;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    size_t keep = len;
    if (torn_bytes) {
        while (keep > 0 && text[keep - 1] != '\n') keep--;
        *torn_bytes = len - keep;
    }
    SISA_TRY(check_chain(path, text, keep, info));
done:
    sisa_free(text);
    return err;
}

int sisa_ledger_check(const char *path, sisa_ledger_info *info)
{
    return load_chain(path, info, NULL);
}

int sisa_ledger_read(const char *path, sisa_ledger_info *info, size_t *torn_bytes)
{
    return load_chain(path, info, torn_bytes);
}

void sisa_ledger_record(sisa_jw *w, const sisa_request *r, const char *prev)
{
    sisa_jw_raw(w, "{");
    sisa_jw_key(w, "request", 1);
    sisa_jw_u64(w, r->n);
    sisa_request_write_body(w, r, 1);
    sisa_jw_key(w, "prev", 0);
    sisa_jw_str(w, prev);
    sisa_jw_raw(w, "}");
}

int sisa_ledger_append(const char *path, const sisa_request *r, char head[65])
{
    int err = SISA_OK;
    sisa_ledger_info info;
    sisa_jw w;
    int fd = -1;
    sisa_jw_init(&w);
    memset(&info, 0, sizeof info);
    memset(info.head, '0', 64);
    if (sisa_fs_exists(path)) {
        char *text = NULL;
        size_t len = 0;
        SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
        size_t keep = len;
        while (keep > 0 && text[keep - 1] != '\n') keep--;
        err = check_chain(path, text, keep, &info);
        sisa_free(text);
        SISA_TRY(err);
        /* A crash while appending leaves a record without its newline. Only the record of this
         * very request can be torn like that (the one before it was certified whole): drop it
         * and append it again. Any other cut is damage, reported and left as it is. */
        if (keep < len) {
            SISA_CHECK(info.last_request + 1 == r->n, SISA_ECORRUPT,
                       "%s: the last record is incomplete (no final newline) and follows request "
                       "%llu, not request %llu's: the ledger was cut or edited",
                       path, (unsigned long long)info.last_request, (unsigned long long)r->n - 1);
            int tfd = open(path, O_WRONLY | O_CLOEXEC);
            int ok = tfd >= 0 && ftruncate(tfd, (off_t)keep) == 0 && fsync(tfd) == 0;
            int saved = errno;
            if (tfd >= 0) close(tfd);
            SISA_CHECK(ok, SISA_EIO, "cannot drop the incomplete last record of %s: %s", path,
                       strerror(saved));
        }
    }
    if (info.last_request == r->n) { /* appended before a crash */
        memcpy(head, info.head, 65);
        goto done;
    }
    SISA_CHECK(info.last_request + 1 == r->n, SISA_ECORRUPT,
               "%s ends with request %llu, so request %llu cannot follow it", path,
               (unsigned long long)info.last_request, (unsigned long long)r->n);
    sisa_ledger_record(&w, r, info.head);
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    uint8_t d[32];
    sisa_sha256(d, w.buf, w.len);
    sisa_jw_raw(&w, "\n");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    int existed = sisa_fs_exists(path);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, SISA_FILE_MODE);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    for (size_t off = 0; off < w.len;) {
        ssize_t n = write(fd, w.buf + off, w.len - off);
        if (n < 0 && errno == EINTR) continue;
        SISA_CHECK(n > 0, SISA_EIO, "cannot append to %s: %s", path,
                   n < 0 ? strerror(errno) : "no progress");
        off += (size_t)n;
    }
    SISA_CHECK(fsync(fd) == 0, SISA_EIO, "fsync of %s failed: %s", path, strerror(errno));
    if (!existed) SISA_TRY(sisa_fs_fsync_parent(path));
    sisa_hex(head, d, 32);
done:
    if (fd >= 0) close(fd);
    sisa_jw_free(&w);
    return err;
}

int sisa_ledger_lineages(const char *path, uint32_t shards, char (*out)[65])
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    sisa_json *rec = NULL;
    sisa_request r = {0};
    for (uint32_t k = 0; k < shards; k++) out[k][0] = '\0';
    if (!sisa_fs_exists(path)) return SISA_OK;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) break; /* a torn last line */
        size_t n = (size_t)(nl - (text + pos));
        char where[SISA_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", path, ++lineno);
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, where));
        SISA_TRY(sisa_request_from_json(&r, rec, where));
        for (uint32_t i = 0; i < r.n_shards; i++)
            if (r.shards[i].shard < shards)
                memcpy(out[r.shards[i].shard], r.shards[i].lineage_after, 65);
        sisa_request_free(&r);
        sisa_json_free(rec);
        rec = NULL;
        pos += n + 1;
    }
done:
    sisa_request_free(&r);
    sisa_json_free(rec);
    sisa_free(text);
    return err;
}

/* ---- what it deleted --------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void sisa_deletions_free(sisa_deletions *d)
{
    sisa_free(d->requests);
    sisa_free(d->ids);
    sisa_free(d->groups);
    sisa_free(d->shards);
    memset(d, 0, sizeof *d);
}

int sisa_deletions_has(const sisa_deletions *d, const uint8_t h[32])
{
    return sisa_hashes_has((const uint8_t(*)[32])d->ids, d->n_ids, h);
}

int sisa_deletions_read(sisa_deletions *out, const char *ledger_path, uint32_t shards)
{
    int err = SISA_OK;
    sisa_ledger_info info;
    char *text = NULL;
    size_t len = 0;
    sisa_json *rec = NULL;
    sisa_hashlist ids = {0}, groups = {0};
    unsigned char *touched = NULL;
    memset(out, 0, sizeof *out);

    SISA_TRY(sisa_ledger_check(ledger_path, &info));
    memcpy(out->head, info.head, sizeof out->head);
    if (!info.records) goto done;
    SISA_TRY(sisa_fs_read_all(&text, &len, ledger_path, (size_t)1 << 30));
    out->requests = sisa_malloc(info.records * sizeof *out->requests);
    touched = sisa_calloc(shards ? shards : 1, 1);
    SISA_CHECK(out->requests && touched, SISA_ENOMEM, "out of memory");
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char where[SISA_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", ledger_path, ++lineno);
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, where));
        uint64_t request = 0;
        const sisa_json *sh = sisa_json_get(rec, "shards");
        SISA_CHECK(sisa_json_u64(rec, "request", &request) && sh && sh->type == SISA_JSON_ARRAY,
                   SISA_ECORRUPT, "%s: not a ledger record", where);
        SISA_CHECK(out->n_requests < info.records, SISA_ECORRUPT, "%s changed while being read",
                   ledger_path);
        out->requests[out->n_requests++] = request;
        SISA_TRY(sisa_hashlist_read(&ids, rec, "ids", where, SISA_HASHES_REQUIRED));
        SISA_TRY(sisa_hashlist_read(&groups, rec, "groups", where, SISA_HASHES_REQUIRED));
        for (const sisa_json *s = sh->kid; s; s = s->next) {
            uint64_t k = 0;
            SISA_CHECK(sisa_json_u64(s, "shard", &k), SISA_ECORRUPT,
                       "%s: a shard of request %llu has no number", where,
                       (unsigned long long)request);
            SISA_CHECK(k < shards, SISA_ECORRUPT,
                       "%s: request %llu names shard %llu, but the store has %u shards", where,
                       (unsigned long long)request, (unsigned long long)k, shards);
            touched[k] = 1;
        }
        sisa_json_free(rec);
        rec = NULL;
        pos += n + 1;
    }
    sisa_hashlist_sort_unique(&ids);
    sisa_hashlist_sort_unique(&groups);
    out->ids = ids.v;
    out->n_ids = ids.n;
    out->groups = groups.v;
    out->n_groups = groups.n;
    ids.v = groups.v = NULL;
    for (uint32_t k = 0; k < shards; k++) out->n_shards += touched[k];
    out->shards = sisa_malloc((out->n_shards ? out->n_shards : 1) * sizeof *out->shards);
    SISA_CHECK(out->shards, SISA_ENOMEM, "out of memory");
    out->n_shards = 0;
    for (uint32_t k = 0; k < shards; k++)
        if (touched[k]) out->shards[out->n_shards++] = k;
    qsort(out->shards, out->n_shards, sizeof *out->shards, cmp_u32);
done:
    sisa_free(ids.v);
    sisa_free(groups.v);
    sisa_json_free(rec);
    sisa_free(touched);
    sisa_free(text);
    if (err < 0) sisa_deletions_free(out);
    return err;
}

/* ---- the audit's check ------------------------------------------------------------------- */

static const char zero_head[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

typedef struct {
    char head[65];    /* SHA-256 of the line: the chain's head after it */
    uint64_t request; /* its request number (0: the line is not a readable record) */
    int matched;      /* a certified request of the journal accounts for it */
} ledger_line;

/* The lines sorted by head and by request number (ties in line order), so that each certified
 * request finds its record by binary search: the audit costs O(N log N) for N records, not
 * O(N^2). `next` skips lines already matched: within a run of equal keys, the first unmatched
 * line is wanted, and each line is skipped at most once. */
typedef struct {
    const ledger_line *lines;
    size_t *by_head, *by_req;   /* line numbers, sorted */
    size_t *head_cur, *req_cur; /* at a run's first position: where its unmatched lines start */
    size_t n;
} line_index;

static const ledger_line *sort_lines; /* qsort has no context argument; the audit is serial */

static int cmp_by_head(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(sort_lines[x].head, sort_lines[y].head);
    return c ? c : (x > y) - (x < y);
}

static int cmp_by_req(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    uint64_t p = sort_lines[x].request, q = sort_lines[y].request;
    if (p != q) return p < q ? -1 : 1;
    return (x > y) - (x < y);
}

static int line_index_make(line_index *ix, const ledger_line *lines, size_t n)
{
    memset(ix, 0, sizeof *ix);
    ix->lines = lines;
    ix->n = n;
    ix->by_head = sisa_malloc((n ? n : 1) * sizeof *ix->by_head);
    ix->by_req = sisa_malloc((n ? n : 1) * sizeof *ix->by_req);
    ix->head_cur = sisa_malloc((n ? n : 1) * sizeof *ix->head_cur);
    ix->req_cur = sisa_malloc((n ? n : 1) * sizeof *ix->req_cur);
    if (!ix->by_head || !ix->by_req || !ix->head_cur || !ix->req_cur)
        return SISA_ERR(SISA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        ix->by_head[i] = ix->by_req[i] = ix->head_cur[i] = ix->req_cur[i] = i;
    sort_lines = lines;
    qsort(ix->by_head, n, sizeof *ix->by_head, cmp_by_head);
    qsort(ix->by_req, n, sizeof *ix->by_req, cmp_by_req);
    sort_lines = NULL;
    return SISA_OK;
}

static void line_index_free(line_index *ix)
{
    sisa_free(ix->by_head);
    sisa_free(ix->by_req);
    sisa_free(ix->head_cur);
    sisa_free(ix->req_cur);
    memset(ix, 0, sizeof *ix);
}

/* The first line (in file order) not yet matched whose head is `head`, or n. */
static size_t first_unmatched_head(line_index *ix, const char *head)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->lines[ix->by_head[mid]].head, head) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->n || strcmp(ix->lines[ix->by_head[lo]].head, head) != 0) return ix->n;
    size_t p = ix->head_cur[lo];
    while (p < ix->n && !strcmp(ix->lines[ix->by_head[p]].head, head) &&
           ix->lines[ix->by_head[p]].matched)
        p++;
    ix->head_cur[lo] = p;
    if (p < ix->n && !strcmp(ix->lines[ix->by_head[p]].head, head)) return ix->by_head[p];
    return ix->n;
}

/* The same by request number. */
static size_t first_unmatched_req(line_index *ix, uint64_t req)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->lines[ix->by_req[mid]].request < req)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->n || ix->lines[ix->by_req[lo]].request != req) return ix->n;
    size_t p = ix->req_cur[lo];
    while (p < ix->n && ix->lines[ix->by_req[p]].request == req && ix->lines[ix->by_req[p]].matched)
        p++;
    ix->req_cur[lo] = p;
    if (p < ix->n && ix->lines[ix->by_req[p]].request == req) return ix->by_req[p];
    return ix->n;
}

void sisa_audit_ledger_free(sisa_audit_ledger *a)
{
    sisa_strlist_free(a->problems, a->n_problems);
    sisa_free(a->ids);
    memset(a, 0, sizeof *a);
}

/* Every line's hash and request, however damaged the chain (a last line without its newline
 * counts), and the deleted IDs each readable record names, into `ids`. */
static int audit_read_lines(const char *ledger_path, ledger_line **out, size_t *n_out,
                            sisa_hashlist *ids)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0, n_lines = 0;
    ledger_line *lines = NULL;
    sisa_json *rec = NULL;
    if (sisa_fs_exists(ledger_path))
        SISA_TRY(sisa_fs_read_all(&text, &len, ledger_path, (size_t)1 << 30));
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        pos = nl ? (size_t)(nl - text) + 1 : len;
        n_lines++;
    }
    lines = sisa_calloc(n_lines ? n_lines : 1, sizeof *lines);
    SISA_CHECK(lines, SISA_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t pos = 0; pos < len; k++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        uint8_t d[SISA_SHA256_LEN];
        sisa_sha256(d, text + pos, n);
        sisa_hex(lines[k].head, d, SISA_SHA256_LEN);
        if (sisa_json_parse(&rec, text + pos, n, ledger_path) == SISA_OK) {
            uint64_t req = 0;
            if (sisa_json_u64(rec, "request", &req)) lines[k].request = req;
            SISA_TRY(sisa_hashlist_read(ids, rec, "ids", ledger_path, SISA_HASHES_LENIENT));
        } else {
            sisa_error_clear(); /* reported by the chain check */
        }
        sisa_json_free(rec);
        rec = NULL;
        pos += n + (nl != NULL);
    }
    *out = lines;
    *n_out = n_lines;
    lines = NULL;
done:
    sisa_json_free(rec);
    sisa_free(lines);
    sisa_free(text);
    return err;
}

/* A head kept outside the store must be the head after some record (0: the empty chain). */
static int audit_outside_head(sisa_audit_ledger *out, const ledger_line *lines, size_t n_lines,
                              const char *ledger_path, const char *head, const char *head_source)
{
    out->head_given = 1;
    if (!strcmp(head, zero_head)) out->head_found = 1;
    for (size_t i = 0; i < n_lines && !out->head_found; i++)
        if (!strcmp(head, lines[i].head)) {
            out->head_found = 1;
            out->head_record = i + 1;
        }
    if (out->head_found) return SISA_OK;
    return sisa_strlist_addf(&out->problems, &out->n_problems,
                             "the ledger was truncated or rewritten: head %s from %s is not in "
                             "the chain of %s",
                             head, head_source, ledger_path);
}

/* One request the journal certifies (number n, with the head `jhead` after its record): it must
 * have exactly that record. */
static int audit_certified(sisa_audit_ledger *out, ledger_line *lines, size_t n_lines,
                           line_index *ix, const char *ledger_path, const sisa_journal *journal,
                           uint64_t n, const char *jhead)
{
    size_t at = first_unmatched_head(ix, jhead);
    size_t same_request = at < n_lines ? n_lines : first_unmatched_req(ix, n);
    if (at < n_lines) {
        lines[at].matched = 1;
        return SISA_OK;
    }
    if (same_request < n_lines) {
        lines[same_request].matched = 1;
        return sisa_strlist_addf(&out->problems, &out->n_problems,
                                 "%s:%zu: the record of request %llu is not the one certified: "
                                 "it hashes to %.16s... but %s recorded the ledger head %.16s... "
                                 "after it: the record was edited",
                                 ledger_path, same_request + 1, (unsigned long long)n,
                                 lines[same_request].head, journal->path, jhead);
    }
    return sisa_strlist_addf(&out->problems, &out->n_problems,
                             "%s: request %llu is certified in %s but has no record: the record "
                             "was removed or the ledger truncated",
                             ledger_path, (unsigned long long)n, journal->path);
}

typedef struct {
    uint64_t n;   /* request number */
    size_t index; /* the record's place in the journal */
} request_at;

static int cmp_request_at(const void *a, const void *b)
{
    const request_at *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The journal certifies requests with the head after their record: each must have exactly that
 * record, and every record must belong to a certified request. The IDs of every certified
 * request count as deleted even if its record was tampered with. */
static int audit_journal(sisa_audit_ledger *out, ledger_line *lines, size_t n_lines,
                         const char *ledger_path, const sisa_journal *journal, sisa_hashlist *ids)
{
    int err = SISA_OK;
    line_index ix;
    request_at *reqs = NULL;
    size_t n_reqs = 0;
    SISA_TRY(line_index_make(&ix, lines, n_lines));
    /* The journal's request records by number, so that each certified state finds its own. */
    reqs = sisa_malloc((journal->n ? journal->n : 1) * sizeof *reqs);
    SISA_CHECK(reqs, SISA_ENOMEM, "out of memory");
    for (size_t q = 0; q < journal->n; q++) {
        const char *op = NULL;
        uint64_t qn = 0;
        if (sisa_json_str(journal->recs[q], "op", &op) && !strcmp(op, "request") &&
            sisa_json_u64(journal->recs[q], "n", &qn))
            reqs[n_reqs++] = (request_at){qn, q};
    }
    qsort(reqs, n_reqs, sizeof *reqs, cmp_request_at);
    for (size_t r = 0; r < journal->n; r++) {
        const sisa_json *jr = journal->recs[r];
        const char *op = NULL, *state = NULL, *jhead = NULL;
        uint64_t n = 0;
        if (!sisa_json_str(jr, "op", &op) || strcmp(op, "state") != 0) continue;
        if (!sisa_json_str(jr, "state", &state) || strcmp(state, "certified") != 0) continue;
        if (!sisa_json_u64(jr, "n", &n)) continue; /* the store open checked the journal */
        out->certified++;
        size_t lo = 0, hi = n_reqs;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (reqs[mid].n < n)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < n_reqs && reqs[lo].n == n; lo++)
            SISA_TRY(sisa_hashlist_read(ids, journal->recs[reqs[lo].index], "ids", journal->path,
                                        SISA_HASHES_LENIENT));
        if (!sisa_json_str(jr, "ledger_head", &jhead)) {
            SISA_TRY(sisa_strlist_addf(&out->problems, &out->n_problems,
                                       "%s: the certified record of request %llu has no "
                                       "ledger_head",
                                       journal->path, (unsigned long long)n));
            continue;
        }
        SISA_TRY(audit_certified(out, lines, n_lines, &ix, ledger_path, journal, n, jhead));
    }
    for (size_t i = 0; i < n_lines; i++)
        if (!lines[i].matched && lines[i].request)
            SISA_TRY(sisa_strlist_addf(&out->problems, &out->n_problems,
                                       "%s:%zu: a record of request %llu that %s does not "
                                       "certify: the record was inserted",
                                       ledger_path, i + 1, (unsigned long long)lines[i].request,
                                       journal->path));
done:
    sisa_free(reqs);
    line_index_free(&ix);
    return err;
}

int sisa_audit_check_ledger(sisa_audit_ledger *out, const char *ledger_path,
                            const sisa_journal *journal, const char *head, const char *head_source)
{
    int err = SISA_OK;
    size_t n_lines = 0;
    ledger_line *lines = NULL;
    sisa_hashlist ids = {0};
    memset(out, 0, sizeof *out);
    memcpy(out->head, zero_head, sizeof out->head);

    /* The chain, as sisa_ledger_check defines it: it stops at the first broken link. */
    sisa_ledger_info info;
    int rc = sisa_ledger_check(ledger_path, &info);
    if (rc == SISA_ECORRUPT) {
        SISA_TRY(sisa_strlist_addf(&out->problems, &out->n_problems, "%s", sisa_error_message()));
        sisa_error_clear();
    } else {
        SISA_TRY(rc);
    }
    SISA_TRY(audit_read_lines(ledger_path, &lines, &n_lines, &ids));
    out->records = n_lines;
    if (n_lines) memcpy(out->head, lines[n_lines - 1].head, sizeof out->head);
    if (head) SISA_TRY(audit_outside_head(out, lines, n_lines, ledger_path, head, head_source));
    SISA_TRY(audit_journal(out, lines, n_lines, ledger_path, journal, &ids));

    sisa_hashlist_sort_unique(&ids);
    out->ids = ids.v;
    out->n_ids = ids.n;
    ids.v = NULL;
done:
    sisa_free(ids.v);
    sisa_free(lines);
    return err;
}
