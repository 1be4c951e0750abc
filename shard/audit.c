/*
 * audit.c - the byte scan and the file checks of `sisa audit` (see audit.h); its check of the
 * ledger against the journal is in shard/ledger.c, with the rest of the ledger.
 *
 * Nothing here writes: the store is opened by the caller as a reader and only read. Problems
 * the audit finds are collected as sentences (the CLI prints them and fails on the first);
 * errors are reserved for an audit that could not run at all.
 */
#include "shard/audit.h"

#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "io/dsdigest.h"
#include "io/dsstream.h"
#include "shard/partition.h"
#include "shard/request.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- byte patterns ----------------------------------------------------------------------- */

#define NO_ANCHOR   UINT32_MAX
#define FILTER_BITS 20
#define HASH_MUL    0x9E3779B97F4A7C15ull

struct sisa_bytescan {
    size_t n, len;
    uint8_t *pat;       /* (n, len) */
    uint32_t *anchor;   /* offset of each pattern's anchor window, or NO_ANCHOR */
    uint32_t *next;     /* next pattern with the same anchor bytes, or NO_ANCHOR */
    uint64_t *slot_key; /* open-addressing table: anchor bytes ... */
    uint32_t *slot_pat; /* ... and the first pattern with them (NO_ANCHOR: empty slot) */
    unsigned shift;     /* table index = (key * HASH_MUL) >> shift */
    size_t mask;
    uint64_t *filter; /* one bit per (key * HASH_MUL) >> (64 - FILTER_BITS) of any anchor */
    size_t scannable;
};

/* Distinct byte values among 8 bytes. */
static unsigned distinct8(const uint8_t *p)
{
    unsigned n = 0;
    for (int i = 0; i < 8; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = p[j] == p[i];
        n += !seen;
    }
    return n;
}

/* The 4-aligned 8-byte window of a pattern with the most distinct bytes (the earliest on a
 * tie), or NO_ANCHOR when even that one has fewer than SISA_BYTESCAN_MIN_DISTINCT. */
static uint32_t best_anchor(const uint8_t *p, size_t len)
{
    uint32_t best = NO_ANCHOR;
    unsigned most = 0;
    for (size_t off = 0; off + 8 <= len && most < 8; off += 4) {
        unsigned k = distinct8(p + off);
        if (k > most) {
            most = k;
            best = (uint32_t)off;
        }
    }
    return most >= SISA_BYTESCAN_MIN_DISTINCT ? best : NO_ANCHOR;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w); /* the same load for anchors and data: byte order does not matter */
    return w;
}

void sisa_bytescan_free(sisa_bytescan *s)
{
    if (!s) return;
    sisa_free(s->pat);
    sisa_free(s->anchor);
    sisa_free(s->next);
    sisa_free(s->slot_key);
    sisa_free(s->slot_pat);
    sisa_free(s->filter);
    sisa_free(s);
}

int sisa_bytescan_create(sisa_bytescan **out, const uint8_t *patterns, size_t n, size_t len)
{
    int err = SISA_OK;
    sisa_bytescan *s = sisa_calloc(1, sizeof *s);
    *out = NULL;
    SISA_CHECK(s, SISA_ENOMEM, "out of memory");
    SISA_CHECK(n < NO_ANCHOR && len < NO_ANCHOR && (n == 0 || len <= SIZE_MAX / n), SISA_EINTERNAL,
               "too many byte patterns to scan for (%zu of %zu bytes)", n, len);
    s->n = n;
    s->len = len;
    size_t bits = 1;
    while (((size_t)1 << bits) < 2 * n + 2) bits++;
    s->shift = (unsigned)(64 - bits);
    s->mask = ((size_t)1 << bits) - 1;
    s->pat = sisa_malloc(n && len ? n * len : 1);
    s->anchor = sisa_malloc((n ? n : 1) * sizeof *s->anchor);
    s->next = sisa_malloc((n ? n : 1) * sizeof *s->next);
    s->slot_key = sisa_calloc(s->mask + 1, sizeof *s->slot_key);
    s->slot_pat = sisa_malloc((s->mask + 1) * sizeof *s->slot_pat);
    s->filter = sisa_calloc(((size_t)1 << FILTER_BITS) / 64, sizeof *s->filter);
    SISA_CHECK(s->pat && s->anchor && s->next && s->slot_key && s->slot_pat && s->filter,
               SISA_ENOMEM, "out of memory indexing %zu byte patterns", n);
    if (n && len) memcpy(s->pat, patterns, n * len);
    for (size_t t = 0; t <= s->mask; t++) s->slot_pat[t] = NO_ANCHOR;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = s->pat + i * len;
        s->anchor[i] = best_anchor(p, len);
        s->next[i] = NO_ANCHOR;
        if (s->anchor[i] == NO_ANCHOR) continue;
        s->scannable++;
        uint64_t key = load64(p + s->anchor[i]), h = key * HASH_MUL;
        uint64_t f = h >> (64 - FILTER_BITS);
        s->filter[f >> 6] |= (uint64_t)1 << (f & 63);
        size_t t = (size_t)(h >> s->shift);
        while (s->slot_pat[t] != NO_ANCHOR && s->slot_key[t] != key) t = (t + 1) & s->mask;
        /* Patterns sharing anchor bytes form a chain from the slot (newest first). */
        s->next[i] = s->slot_pat[t];
        s->slot_key[t] = key;
        s->slot_pat[t] = (uint32_t)i;
    }
    *out = s;
    s = NULL;
done:
    sisa_bytescan_free(s);
    return err;
}

int sisa_bytescan_scannable(const sisa_bytescan *s, size_t i)
{
    return i < s->n && s->anchor[i] != NO_ANCHOR;
}

/* Count the occurrences that lie wholly in buf[0, avail) and end after `kept` (those ending
 * within the first `kept` bytes were counted with the previous chunk). */
static void scan_buffer(const sisa_bytescan *s, const uint8_t *buf, size_t avail, size_t kept,
                        uint64_t *counts)
{
    const size_t len = s->len;
    for (size_t q = 0; q + 8 <= avail; q++) {
        uint64_t key = load64(buf + q), h = key * HASH_MUL;
        uint64_t f = h >> (64 - FILTER_BITS);
        if (!((s->filter[f >> 6] >> (f & 63)) & 1)) continue;
        for (size_t t = (size_t)(h >> s->shift); s->slot_pat[t] != NO_ANCHOR;
             t = (t + 1) & s->mask) {
            if (s->slot_key[t] != key) continue;
            for (uint32_t p = s->slot_pat[t]; p != NO_ANCHOR; p = s->next[p]) {
                size_t a = s->anchor[p];
                if (q < a) continue;
                size_t start = q - a;
                if (start + len > avail || start + len <= kept) continue;
                if (memcmp(buf + start, s->pat + (size_t)p * len, len) == 0) counts[p]++;
            }
            break;
        }
    }
}

int sisa_bytescan_file(const sisa_bytescan *s, const char *path, size_t chunk, uint64_t *counts,
                       uint64_t *bytes)
{
    int err = SISA_OK;
    uint8_t *buf = NULL;
    int fd = -1;
    if (!chunk) chunk = (size_t)4 << 20;
    /* An occurrence that starts in one chunk and ends in the next is whole in the next one. */
    const size_t overlap = s->len ? s->len - 1 : 0;
    SISA_CHECK(chunk <= SIZE_MAX - overlap, SISA_EINTERNAL, "scan chunk too large");
    buf = sisa_malloc(chunk + overlap);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory scanning %s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s to scan it: %s", path, strerror(errno));
    size_t kept = 0;
    for (;;) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while scanning %s", path);
        size_t got = 0;
        int eof = 0;
        while (got < chunk) {
            ssize_t r = read(fd, buf + kept + got, chunk - got);
            if (r < 0 && errno == EINTR) continue;
            SISA_CHECK(r >= 0, SISA_EIO, "cannot read %s: %s", path, strerror(errno));
            if (r == 0) {
                eof = 1;
                break;
            }
            got += (size_t)r;
        }
        *bytes += got;
        size_t avail = kept + got;
        if (got && s->scannable) scan_buffer(s, buf, avail, kept, counts);
        if (eof) break;
        size_t keep = avail < overlap ? avail : overlap;
        memmove(buf, buf + avail - keep, keep);
        kept = keep;
    }
done:
    if (fd >= 0) close(fd);
    sisa_free(buf);
    return err;
}

/* ---- the ledger -------------------------------------------------------------------------- */

/* ---- the byte scan ----------------------------------------------------------------------- */

void sisa_audit_scan_free(sisa_audit_scan *a)
{
    for (size_t i = 0; i < a->n_hits; i++) sisa_free(a->hits[i].path);
    sisa_free(a->hits);
    sisa_strlist_free(a->problems, a->n_problems);
    memset(a, 0, sizeof *a);
}

/* A row's bytes as stored: float32, little-endian. */
static void encode_row(uint8_t *out, const float *x, uint64_t d)
{
    for (uint64_t j = 0; j < d; j++) {
        uint32_t b;
        memcpy(&b, &x[j], sizeof b);
        out[4 * j] = (uint8_t)b;
        out[4 * j + 1] = (uint8_t)(b >> 8);
        out[4 * j + 2] = (uint8_t)(b >> 16);
        out[4 * j + 3] = (uint8_t)(b >> 24);
    }
}

static uint64_t hash_bytes(const uint8_t *p, size_t len)
{
    uint64_t h = 0x243F6A8885A308D3ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        h = (h ^ load64(p + i)) * HASH_MUL;
        h ^= h >> 29;
    }
    for (; i < len; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h ^ (h >> 32);
}

typedef struct {
    uint64_t hash;
    uint64_t index;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->hash != y->hash) return (x->hash > y->hash) - (x->hash < y->hash);
    return (x->index > y->index) - (x->index < y->index);
}

/* Every regular file under a folder, recursively, in name order; symbolic links are not
 * followed (the store has none of its own). */
typedef struct {
    char **path;
    uint64_t *size;
    size_t n, cap;
    uint64_t total;
} file_list;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(file_list *l, const char *dir, int depth)
{
    int err = SISA_OK;
    DIR *d = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    SISA_CHECK(depth < 64, SISA_ECORRUPT, "%s: folders nested too deeply", dir);
    d = opendir(dir);
    SISA_CHECK(d, SISA_EIO, "cannot list %s to scan it: %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **g = sisa_realloc(names, cap * sizeof *g);
            SISA_CHECK(g, SISA_ENOMEM, "out of memory");
            names = g;
        }
        names[n] = sisa_strdup(e->d_name);
        SISA_CHECK(names[n], SISA_ENOMEM, "out of memory");
        n++;
    }
    closedir(d);
    d = NULL;
    if (n) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[SISA_PATH_MAX];
        struct stat sb;
        SISA_CHECK(snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path,
                   SISA_EUSAGE, "%s/%s: path too long", dir, names[i]);
        SISA_CHECK(lstat(path, &sb) == 0, SISA_EIO, "cannot stat %s: %s", path, strerror(errno));
        if (S_ISDIR(sb.st_mode)) {
            SISA_TRY(list_files(l, path, depth + 1));
        } else if (S_ISREG(sb.st_mode)) {
            if (l->n == l->cap) {
                size_t c = l->cap ? 2 * l->cap : 64;
                char **gp = sisa_realloc(l->path, c * sizeof *gp);
                if (gp) l->path = gp;
                uint64_t *gs = gp ? sisa_realloc(l->size, c * sizeof *gs) : NULL;
                if (gs) l->size = gs;
                SISA_CHECK(gp && gs, SISA_ENOMEM, "out of memory");
                l->cap = c;
            }
            l->path[l->n] = sisa_strdup(path);
            SISA_CHECK(l->path[l->n], SISA_ENOMEM, "out of memory");
            l->size[l->n++] = (uint64_t)sb.st_size;
            l->total += (uint64_t)sb.st_size;
        }
    }
done:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) sisa_free(names[i]);
    sisa_free(names);
    return err;
}

/* What the scan's phases share. */
typedef struct {
    const sisa_store *st;
    const char *dataset;
    sisa_dataset_stream *ds;
    sisa_dataset_header hdr;
    size_t len; /* bytes of one row */
    const uint64_t *id, *group;
    const uint8_t *risk;    /* (n) or NULL: the rows' risk tiers */
    unsigned char *deleted; /* (n) 1 for a deleted row */
    uint64_t D, S;          /* deleted and surviving rows */
    uint8_t *pat;           /* (D + 1) rows: deleted rows' bytes, then the control's */
    uint8_t *row;
    float *block;
    uint64_t rows_per_block;
    keyed *kept, *del;
    uint64_t control_row;
    uint64_t *dup, *mult;
    unsigned char *shared;
    uint64_t m; /* patterns searched for (the control not counted) */
    int has_control;
    sisa_bytescan *scan;
    sisa_dsdigest digest;
} scan_ctx;

static void scan_ctx_free(scan_ctx *c)
{
    sisa_bytescan_free(c->scan);
    sisa_free(c->shared);
    sisa_free(c->mult);
    sisa_free(c->dup);
    sisa_free(c->del);
    sisa_free(c->kept);
    sisa_free(c->block);
    sisa_free(c->row);
    sisa_free(c->pat);
    sisa_free(c->deleted);
    sisa_dsdigest_free(&c->digest);
    sisa_dataset_stream_close(c->ds);
}

/* Open the dataset and check it can be the store's. */
static int scan_open(scan_ctx *c)
{
    int err = SISA_OK;
    const char *dataset = c->dataset;
    const sisa_store *st = c->st;
    SISA_CHECK(sisa_fs_exists(dataset), SISA_EIO,
               "the dataset %s is not available, and the deleted rows' bytes are known only "
               "from it (pass the dataset the store was trained on with --dataset PATH)",
               dataset);
    SISA_TRY(sisa_dataset_stream_open(&c->ds, dataset, &c->hdr));
    const sisa_dataset_header *hdr = &c->hdr;
    SISA_CHECK(!st->has_manifest || hdr->d == st->man.features, SISA_ECORRUPT,
               "%s has %llu features per row but store %s was trained on %llu: it is not the "
               "store's dataset",
               dataset, (unsigned long long)hdr->d, st->root, (unsigned long long)st->man.features);
    SISA_CHECK(hdr->d > 0 && hdr->d <= (SIZE_MAX / 4) / (hdr->n + 2), SISA_ECORRUPT,
               "%s: %llu rows of %llu features are too many to scan for", dataset,
               (unsigned long long)hdr->n, (unsigned long long)hdr->d);
    c->len = (size_t)hdr->d * 4;
    c->id = sisa_dataset_stream_id(c->ds);
    c->group = sisa_dataset_stream_group(c->ds);
    c->risk = sisa_dataset_stream_risk(c->ds);
    if (st->cfg.sisa.sharding == SISA_SHARDING_TIERED)
        SISA_TRY(sisa_partition_check_columns(&st->cfg, dataset, hdr->n, c->group, c->risk));
done:
    return err;
}

/* Which rows were deleted: their salted ID hashes are named. */
static int scan_find_deleted(scan_ctx *c, sisa_audit_scan *out, const uint8_t (*ids)[32],
                             uint64_t n_ids)
{
    int err = SISA_OK;
    const uint64_t n = c->hdr.n;
    c->deleted = sisa_calloc(n ? n : 1, 1);
    SISA_CHECK(c->deleted, SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        uint8_t h[32];
        sisa_store_hash_id(c->st, c->id[i], h);
        if (sisa_hashes_has(ids, n_ids, h)) {
            c->deleted[i] = 1;
            out->deleted_rows++;
        }
    }
    out->missing_rows = n_ids > out->deleted_rows ? n_ids - out->deleted_rows : 0;
    c->D = out->deleted_rows;
    c->S = n - c->D;
done:
    return err;
}

/* One pass over X: the deleted rows' bytes, a hash of every surviving row, the control (the
 * first surviving row with an anchor), and the dataset's digest (docs/formats.md) in the
 * manifest's version, to be sure these are the bytes the store held. */
static int scan_read_rows(scan_ctx *c, sisa_audit_scan *out)
{
    int err = SISA_OK;
    const sisa_store *st = c->st;
    const sisa_dataset_header *hdr = &c->hdr;
    const uint64_t D = c->D, S = c->S;
    const size_t len = c->len;
    c->pat = sisa_malloc((D + 1) * len);
    c->row = sisa_malloc(len);
    c->kept = sisa_malloc((S ? S : 1) * sizeof *c->kept);
    c->del = sisa_malloc((D ? D : 1) * sizeof *c->del);
    c->rows_per_block = sisa_dsdigest_read_rows(hdr->d);
    c->block = sisa_malloc(c->rows_per_block * len);
    SISA_CHECK(c->pat && c->row && c->kept && c->del && c->block, SISA_ENOMEM,
               "out of memory for the %llu deleted rows of %s", (unsigned long long)D, c->dataset);
    uint64_t nd = 0, ns = 0;
    c->control_row = UINT64_MAX;
    SISA_TRY(sisa_dsdigest_init(&c->digest,
                                st->has_manifest ? st->man.digest_version : SISA_DIGEST_LATEST, hdr,
                                sisa_dataset_stream_y(c->ds), c->id, c->group, 0, hdr->n));
    c->digest.risk = c->risk;
    for (uint64_t r0 = 0; r0 < hdr->n; r0 += c->rows_per_block) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while reading %s",
                   c->dataset);
        uint64_t nr = hdr->n - r0 < c->rows_per_block ? hdr->n - r0 : c->rows_per_block;
        SISA_TRY(sisa_dataset_stream_read_x(c->ds, r0, nr, c->block));
        SISA_TRY(sisa_dsdigest_rows(&c->digest, c->block, nr));
        for (uint64_t r = 0; r < nr; r++) {
            const uint64_t i = r0 + r;
            if (c->deleted[i]) {
                uint8_t *p = c->pat + nd * len;
                encode_row(p, c->block + r * hdr->d, hdr->d);
                c->del[nd] = (keyed){hash_bytes(p, len), nd};
                nd++;
            } else {
                encode_row(c->row, c->block + r * hdr->d, hdr->d);
                c->kept[ns++] = (keyed){hash_bytes(c->row, len), i};
                if (c->control_row == UINT64_MAX && best_anchor(c->row, len) != NO_ANCHOR) {
                    c->control_row = i;
                    memcpy(c->pat + D * len, c->row, len);
                }
            }
        }
    }
    SISA_TRY(sisa_dsdigest_final(&c->digest, out->digest));
    out->digest_match = !st->has_manifest || !strcmp(out->digest, st->man.dataset_digest);
done:
    return err;
}

/* Identical deleted rows are one pattern (mult[u] rows); a pattern equal to a surviving row is
 * not a leftover wherever it is found, so it is not searched for (shared). */
static int scan_dedupe(scan_ctx *c)
{
    int err = SISA_OK;
    const uint64_t D = c->D, S = c->S;
    const size_t len = c->len;
    c->dup = sisa_malloc((D ? D : 1) * sizeof *c->dup);
    c->mult = sisa_calloc(D ? D : 1, sizeof *c->mult);
    c->shared = sisa_calloc(D ? D : 1, 1);
    SISA_CHECK(c->dup && c->mult && c->shared, SISA_ENOMEM, "out of memory");
    if (D) qsort(c->del, D, sizeof *c->del, cmp_keyed);
    if (S) qsort(c->kept, S, sizeof *c->kept, cmp_keyed);
    for (uint64_t a = 0; a < D; a++) {
        uint64_t i = c->del[a].index;
        c->dup[i] = i;
        for (uint64_t b = a; b-- > 0 && c->del[b].hash == c->del[a].hash;)
            if (!memcmp(c->pat + c->del[b].index * len, c->pat + i * len, len)) {
                c->dup[i] = c->dup[c->del[b].index];
                break;
            }
        c->mult[c->dup[i]]++;
        if (c->dup[i] != i) continue;
        keyed probe = {c->del[a].hash, 0};
        size_t lo = 0, hi = S;
        while (lo < hi) { /* the first surviving row with this hash */
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_keyed(&c->kept[mid], &probe) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t s = lo; s < S && c->kept[s].hash == c->del[a].hash && !c->shared[i]; s++) {
            SISA_TRY(sisa_dataset_stream_read_x(c->ds, c->kept[s].index, 1, c->block));
            encode_row(c->row, c->block, c->hdr.d);
            c->shared[i] = !memcmp(c->row, c->pat + i * len, len);
        }
    }
done:
    return err;
}

/* The patterns to search for: each distinct deleted row not shared with a surviving one, moved
 * to the front in row order, then the control; and where the control must be found. */
static int scan_patterns(scan_ctx *c, sisa_audit_scan *out)
{
    int err = SISA_OK;
    const size_t len = c->len;
    uint64_t m = 0;
    for (uint64_t i = 0; i < c->D; i++) {
        if (c->dup[i] != i) continue;
        if (c->shared[i]) {
            out->shared += c->mult[i];
            continue;
        }
        if (m != i) memmove(c->pat + m * len, c->pat + i * len, len);
        c->mult[m] = c->mult[i];
        m++;
    }
    c->m = m;
    c->has_control = c->control_row != UINT64_MAX;
    if (c->has_control) memmove(c->pat + m * len, c->pat + c->D * len, len);
    SISA_TRY(sisa_bytescan_create(&c->scan, c->pat, m + (uint64_t)c->has_control, len));
    for (uint64_t u = 0; u < m; u++)
        if (!sisa_bytescan_scannable(c->scan, u)) out->not_scannable += c->mult[u];
    if (c->has_control) {
        const uint64_t r = c->control_row;
        out->has_control = 1;
        out->control_id = c->id[r];
        uint32_t slice = 0;
        sisa_partition_assign(&c->st->cfg, c->id[r], c->group ? c->group[r] : 0,
                              c->risk ? c->risk[r] : 0, &out->control_shard, &slice);
        SISA_TRY(sisa_store_data_path(c->st, out->control_shard, out->control_file,
                                      sizeof out->control_file));
    }
done:
    return err;
}

/* Search every regular file under the store. */
static int scan_files(scan_ctx *c, sisa_audit_scan *out)
{
    int err = SISA_OK;
    file_list files = {0};
    uint64_t *counts = NULL;
    sisa_progress prog;
    int progress_on = 0;
    const uint64_t m = c->m;
    SISA_TRY(list_files(&files, c->st->root, 0));
    counts = sisa_malloc((m + 1) * sizeof *counts);
    SISA_CHECK(counts, SISA_ENOMEM, "out of memory");
    sisa_progress_start(&prog, "audit scan", "bytes", files.total);
    progress_on = 1;
    uint64_t done_bytes = 0;
    for (size_t f = 0; f < files.n; f++) {
        memset(counts, 0, (m + 1) * sizeof *counts);
        uint64_t bytes = 0;
        SISA_TRY(sisa_bytescan_file(c->scan, files.path[f], 0, counts, &bytes));
        out->files++;
        out->bytes += bytes;
        uint64_t here = 0;
        for (uint64_t u = 0; u < m; u++) here += counts[u];
        if (here) {
            sisa_audit_hit *g = sisa_realloc(out->hits, (out->n_hits + 1) * sizeof *g);
            SISA_CHECK(g, SISA_ENOMEM, "out of memory");
            out->hits = g;
            out->hits[out->n_hits].path = sisa_strdup(files.path[f]);
            SISA_CHECK(out->hits[out->n_hits].path, SISA_ENOMEM, "out of memory");
            out->hits[out->n_hits++].count = here;
            out->found += here;
        }
        if (c->has_control) {
            out->control_found += counts[m];
            if (!strcmp(files.path[f], out->control_file)) out->control_in_file += counts[m];
        }
        done_bytes += files.size[f];
        sisa_progress_update(&prog, done_bytes);
    }
done:
    if (progress_on) sisa_progress_finish(&prog);
    for (size_t f = 0; f < files.n; f++) sisa_free(files.path[f]);
    sisa_free(files.path);
    sisa_free(files.size);
    sisa_free(counts);
    return err;
}

/* What the scan shows, as problem sentences. */
static int scan_report(sisa_audit_scan *out, const sisa_store *st, const char *dataset,
                       uint64_t n_ids)
{
    int err = SISA_OK;
    if (!out->digest_match)
        SISA_TRY(
            sisa_strlist_addf(&out->problems, &out->n_problems,
                              "%s is not the dataset store %s was trained on: its digest %.16s... "
                              "is not the manifest's %.16s..., so its rows' bytes need not be the "
                              "ones the store held",
                              dataset, st->root, out->digest, st->man.dataset_digest));
    if (out->found) {
        char where[1024] = "";
        size_t used = 0;
        for (size_t h = 0; h < out->n_hits && h < 3 && used < sizeof where; h++)
            used +=
                (size_t)snprintf(where + used, sizeof where - used, "%s%s (%llu)", h ? ", " : "",
                                 out->hits[h].path, (unsigned long long)out->hits[h].count);
        SISA_TRY(sisa_strlist_addf(
            &out->problems, &out->n_problems,
            "bytes of deleted rows remain in the store: found %llu time(s), in "
            "%s%s",
            (unsigned long long)out->found, where, out->n_hits > 3 ? " and more files" : ""));
    }
    if (out->missing_rows)
        SISA_TRY(sisa_strlist_addf(
            &out->problems, &out->n_problems,
            "%llu of the %llu deleted rows named in the ledger are not in %s: it "
            "is not the dataset the store was trained on, and their bytes "
            "cannot be searched for",
            (unsigned long long)out->missing_rows, (unsigned long long)n_ids, dataset));
    if (!out->has_control)
        SISA_TRY(
            sisa_strlist_addf(&out->problems, &out->n_problems,
                              "no surviving row of %s can serve as the positive control, so the "
                              "scan cannot show that it finds rows",
                              dataset));
    else if (!out->control_in_file)
        SISA_TRY(
            sisa_strlist_addf(&out->problems, &out->n_problems,
                              "the positive control failed: the bytes of surviving row %llu were "
                              "not found in its shard's data file %s (found %llu time(s) "
                              "elsewhere), so the scan is broken and proves nothing",
                              (unsigned long long)out->control_id, out->control_file,
                              (unsigned long long)out->control_found));
done:
    return err;
}

int sisa_audit_scan_store(sisa_audit_scan *out, const sisa_store *st, const char *dataset,
                          const uint8_t (*ids)[32], uint64_t n_ids)
{
    int err = SISA_OK;
    scan_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.dataset = dataset;
    memset(out, 0, sizeof *out);
    snprintf(out->dataset, sizeof out->dataset, "%s", dataset);

    SISA_TRY(scan_open(&c));
    SISA_TRY(scan_find_deleted(&c, out, ids, n_ids));
    SISA_TRY(scan_read_rows(&c, out));
    SISA_TRY(scan_dedupe(&c));
    SISA_TRY(scan_patterns(&c, out));
    /* The dataset's rows are in memory as patterns now; its columns are not needed. */
    sisa_dataset_stream_close(c.ds);
    c.ds = NULL;
    c.id = c.group = NULL;
    SISA_TRY(scan_files(&c, out));
    SISA_TRY(scan_report(out, st, dataset, n_ids));
done:
    scan_ctx_free(&c);
    return err;
}

/* ---- the files --------------------------------------------------------------------------- */

static int check_folder_files(sisa_audit_files *out, const sisa_files *f)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    for (size_t i = 0; i < f->n; i++) {
        if (!f->e[i].live) continue;
        int rc = sisa_files_locate(f, f->e[i].name, path, sizeof path);
        if (rc == SISA_ECORRUPT) {
            SISA_TRY(
                sisa_strlist_addf(&out->problems, &out->n_problems, "%s", sisa_error_message()));
            sisa_error_clear();
            continue;
        }
        SISA_TRY(rc);
        struct stat sb;
        if (stat(path, &sb) == 0) out->bytes += (uint64_t)sb.st_size;
        out->checked++;
    }
done:
    return err;
}

int sisa_audit_check_files(sisa_audit_files *out, const sisa_store *st)
{
    int err = SISA_OK;
    sisa_files f = {0};
    char dir[SISA_PATH_MAX];
    memset(out, 0, sizeof *out);
    SISA_TRY(sisa_store_files(st, &f, 0));
    SISA_TRY(check_folder_files(out, &f));
    sisa_files_close(&f);
    for (uint32_t k = 0; k < (uint32_t)st->cfg.sisa.shards && st->has_manifest; k++) {
        SISA_TRY(sisa_store_shard_dir(st, k, dir, sizeof dir));
        if (!sisa_fs_exists(dir)) {
            SISA_TRY(
                sisa_strlist_addf(&out->problems, &out->n_problems,
                                  "%s is missing: shard %u is damaged (run 'sisa repair -c %s')",
                                  dir, k, st->cfg.source));
            continue;
        }
        SISA_TRY(sisa_files_open(&f, dir, "journal", 0));
        if (!sisa_files_has(&f, SISA_SHARD_DATA))
            SISA_TRY(
                sisa_strlist_addf(&out->problems, &out->n_problems,
                                  "%s %s: shard %u is damaged (run 'sisa repair -c %s')", f.j.path,
                                  sisa_fs_exists(f.j.path) ? "commits no data file" : "is missing",
                                  k, st->cfg.source));
        SISA_TRY(check_folder_files(out, &f));
        sisa_files_close(&f);
    }
done:
    sisa_files_close(&f);
    return err;
}

void sisa_audit_files_free(sisa_audit_files *a)
{
    for (size_t i = 0; i < a->n_problems; i++) sisa_free(a->problems[i]);
    sisa_free(a->problems);
    memset(a, 0, sizeof *a);
}
