/*
 * journal.c - journals and journaled folders (see journal.h).
 */
#include "shard/journal.h"

#include "base/log.h"
#include "base/sha256.h"
#include "base/strutil.h"
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

#define JOURNAL_MAX_BYTES ((size_t)1 << 30)

/* Hashes this process computed, by file identity: a file sisa hashed (or committed) is not read
 * again to be checked a second time, so an unlearning request reads each file of its shard about
 * once whatever number of steps look at it. The key is (device, inode, size, modification time):
 * sisa replaces files by rename (a new inode), and any other change to a file moves its
 * modification time or size. The cache lives as long as the process. */
#define HASH_CACHE 64
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char sha[65];
    int used;
} hash_entry;
static hash_entry hash_cache[HASH_CACHE];
static unsigned hash_next;

static int same_file(const hash_entry *e, const struct stat *st)
{
    return e->used && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void cache_put(const struct stat *st, const char *sha)
{
    hash_entry *e = NULL;
    for (unsigned i = 0; i < HASH_CACHE && !e; i++)
        if (hash_cache[i].used && hash_cache[i].dev == st->st_dev &&
            hash_cache[i].ino == st->st_ino)
            e = &hash_cache[i];
    if (!e) e = &hash_cache[hash_next++ % HASH_CACHE];
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    memcpy(e->sha, sha, 65);
    e->used = 1;
}

int sisa_file_sha256(const char *path, char out[65])
{
    int err = SISA_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    struct stat before, after;
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    SISA_CHECK(fstat(fd, &before) == 0, SISA_EIO, "cannot stat %s: %s", path, strerror(errno));
    for (unsigned i = 0; i < HASH_CACHE; i++)
        if (same_file(&hash_cache[i], &before)) {
            memcpy(out, hash_cache[i].sha, 65);
            goto done;
        }
    buf = sisa_malloc(1 << 20);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory hashing %s", path);
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    for (;;) {
        ssize_t r = read(fd, buf, 1 << 20);
        if (r < 0 && errno == EINTR) continue;
        SISA_CHECK(r >= 0, SISA_EIO, "cannot read %s: %s", path, strerror(errno));
        if (r == 0) break;
        sisa_sha256_update(&h, buf, (size_t)r);
    }
    uint8_t d[SISA_SHA256_LEN];
    sisa_sha256_final(&h, d);
    sisa_hex(out, d, SISA_SHA256_LEN);
    /* Cached only when the file did not change while it was read. */
    if (fstat(fd, &after) == 0 && after.st_size == before.st_size &&
        after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
        after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        cache_put(&after, out);
done:
    sisa_free(buf);
    if (fd >= 0) close(fd);
    return err;
}

/* ---- journal ------------------------------------------------------------------------------ */

/* Room for one more record (so that a record already written is never lost for memory). */
static int reserve_record(sisa_journal *j)
{
    if (j->n < j->cap) return SISA_OK;
    size_t cap = j->cap ? j->cap * 2 : 64;
    sisa_json **r = sisa_realloc(j->recs, cap * sizeof *r);
    if (!r) return SISA_ERR(SISA_ENOMEM, "%s: out of memory reading the journal", j->path);
    j->recs = r;
    j->cap = cap;
    return SISA_OK;
}

static int push_record(sisa_journal *j, sisa_json *rec)
{
    int err = reserve_record(j);
    if (err == SISA_OK) j->recs[j->n++] = rec;
    return err;
}

void sisa_journal_close(sisa_journal *j)
{
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    for (size_t i = 0; i < j->n; i++) sisa_json_free(j->recs[i]);
    sisa_free(j->recs);
    j->recs = NULL;
    j->n = j->cap = 0;
}

int sisa_journal_open(sisa_journal *j, const char *path, int writable)
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    memset(j, 0, sizeof *j);
    j->fd = -1;
    SISA_CHECK(sisa_strlcpy(j->path, path, sizeof j->path) == 0, SISA_EUSAGE, "path too long");
    if (sisa_fs_exists(path)) {
        SISA_TRY(sisa_fs_read_all(&text, &len, path, JOURNAL_MAX_BYTES));
        SISA_CHECK(strlen(text) == len, SISA_ECORRUPT, "%s: contains a NUL byte", path);
    }
    size_t good = 0; /* bytes up to the end of the last complete line */
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) break; /* a torn final line: the append it belongs to never completed */
        lineno++;
        size_t n = (size_t)(nl - (text + pos));
        char name[SISA_PATH_MAX + 32];
        snprintf(name, sizeof name, "%s:%d", path, lineno);
        sisa_json *rec = NULL;
        SISA_TRY(sisa_json_parse(&rec, text + pos, n, name));
        if (rec->type != SISA_JSON_OBJECT) {
            sisa_json_free(rec);
            SISA_FAIL(SISA_ECORRUPT, "%s: a journal record must be a JSON object", name);
        }
        err = push_record(j, rec);
        if (err < 0) {
            sisa_json_free(rec);
            goto done;
        }
        pos += n + 1;
        good = pos;
    }
    if (writable) {
        j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, SISA_FILE_MODE);
        SISA_CHECK(j->fd >= 0, SISA_EIO, "cannot open %s for appending: %s", path, strerror(errno));
        if (good < len) {
            sisa_warn("%s: dropping an incomplete last record (%zu bytes) left by a crash", path,
                      len - good);
            SISA_CHECK(ftruncate(j->fd, (off_t)good) == 0 && fsync(j->fd) == 0, SISA_EIO,
                       "cannot truncate %s: %s", path, strerror(errno));
        }
        if (!len) SISA_TRY(sisa_fs_fsync_parent(path)); /* a new journal's name must persist */
    }
done:
    sisa_free(text);
    if (err < 0) sisa_journal_close(j);
    return err;
}

int sisa_journal_append(sisa_journal *j, const char *json_object)
{
    int err = SISA_OK;
    sisa_json *rec = NULL;
    char *line = NULL;
    SISA_CHECK(j->fd >= 0, SISA_EINTERNAL, "%s is open read-only", j->path);
    SISA_TRY(sisa_json_parse(&rec, json_object, strlen(json_object), j->path));
    SISA_CHECK(rec->type == SISA_JSON_OBJECT, SISA_EINTERNAL,
               "%s: a journal record must be a JSON object", j->path);
    size_t n = strlen(json_object);
    line = sisa_malloc(n + 2);
    SISA_CHECK(line, SISA_ENOMEM, "out of memory appending to %s", j->path);
    SISA_TRY(reserve_record(j)); /* every allocation before the first byte is written */
    memcpy(line, json_object, n);
    line[n] = '\n';
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(j->fd, line + off, n + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        SISA_CHECK(w > 0, SISA_EIO, "cannot append to %s: %s", j->path,
                   w < 0 ? strerror(errno) : "no progress");
        off += (size_t)w;
    }
    SISA_CHECK(fsync(j->fd) == 0, SISA_EIO,
               "fsync of %s failed: %s (the record may not be on disk)", j->path, strerror(errno));
    j->recs[j->n++] = rec;
    rec = NULL;
done:
    sisa_free(line);
    sisa_json_free(rec);
    return err;
}

/* ---- journaled folders -------------------------------------------------------------------- */

static size_t name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3u;
    return (size_t)h;
}

/* The entry named `name`, or NULL. */
static sisa_files_entry *lookup(const sisa_files *f, const char *name)
{
    if (!f->nslot) return NULL;
    for (size_t i = name_hash(name) & (f->nslot - 1);; i = (i + 1) & (f->nslot - 1)) {
        if (!f->slot[i]) return NULL;
        sisa_files_entry *e = &f->e[f->slot[i] - 1];
        if (!strcmp(e->name, name)) return e;
    }
}

/* Put entry `k` into the index (which has room). */
static void index_put(sisa_files *f, size_t k)
{
    size_t i = name_hash(f->e[k].name) & (f->nslot - 1);
    while (f->slot[i]) i = (i + 1) & (f->nslot - 1);
    f->slot[i] = k + 1;
}

static sisa_files_entry *entry(sisa_files *f, const char *name, int create)
{
    sisa_files_entry *found = lookup(f, name);
    if (found || !create) return found;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        sisa_files_entry *e = sisa_realloc(f->e, cap * sizeof *e);
        if (!e) return NULL;
        f->e = e;
        f->cap = cap;
    }
    if (2 * (f->n + 1) > f->nslot) {
        size_t nslot = f->nslot ? 2 * f->nslot : 64;
        size_t *slot = sisa_calloc(nslot, sizeof *slot);
        if (!slot) return NULL;
        sisa_free(f->slot);
        f->slot = slot;
        f->nslot = nslot;
        for (size_t k = 0; k < f->n; k++) index_put(f, k);
    }
    sisa_files_entry *e = &f->e[f->n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    index_put(f, f->n++);
    return e;
}

/* 1 when the journal ever named `name` (committed or removed). */
static int known(const sisa_files *f, const char *name)
{
    return lookup(f, name) != NULL;
}

/* Fold one journal record into the file table (records other than put/del are ignored). */
static int apply(sisa_files *f, const sisa_json *rec)
{
    const char *op = NULL, *name = NULL, *sha = NULL, *tmp = NULL;
    if (!sisa_json_str(rec, "op", &op) || (strcmp(op, "put") && strcmp(op, "del"))) return 0;
    if (!sisa_json_str(rec, "file", &name) || strlen(name) >= 64 || strchr(name, '/'))
        return SISA_ERR(SISA_ECORRUPT, "%s: a %s record has a bad file", f->j.path, op);
    sisa_files_entry *e = entry(f, name, 1);
    if (!e) return SISA_ERR(SISA_ENOMEM, "%s: out of memory reading the journal", f->j.path);
    if (!strcmp(op, "del")) {
        e->live = 0;
        e->meta = NULL;
        return 0;
    }
    if (!sisa_json_str(rec, "sha256", &sha) || strlen(sha) != 64 ||
        !sisa_json_str(rec, "tmp", &tmp) || strlen(tmp) >= sizeof e->tmp || strchr(tmp, '/'))
        return SISA_ERR(SISA_ECORRUPT, "%s: a put record of %s is bad", f->j.path, name);
    memcpy(e->sha, sha, 65);
    snprintf(e->tmp, sizeof e->tmp, "%s", tmp);
    e->live = 1;
    e->size = -1;
    uint64_t size = 0;
    if (sisa_json_u64(rec, "size", &size)) e->size = (int64_t)size;
    e->meta = sisa_json_get(rec, "meta");
    if (e->meta && e->meta->type != SISA_JSON_OBJECT)
        return SISA_ERR(SISA_ECORRUPT, "%s: the put record of %s has a bad meta", f->j.path, name);
    return 0;
}

int sisa_files_open(sisa_files *f, const char *dir, const char *journal_name, int writable)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    memset(f, 0, sizeof *f);
    f->j.fd = -1;
    SISA_CHECK(sisa_strlcpy(f->dir, dir, sizeof f->dir) == 0, SISA_EUSAGE, "path too long");
    if (writable) SISA_TRY(sisa_fs_mkdir_p(dir));
    SISA_TRY(sisa_path_resolve(path, sizeof path, dir, journal_name));
    SISA_TRY(sisa_journal_open(&f->j, path, writable));
    for (size_t i = 0; i < f->j.n; i++) SISA_TRY(apply(f, f->j.recs[i]));
done:
    if (err < 0) sisa_files_close(f);
    return err;
}

void sisa_files_close(sisa_files *f)
{
    if (f->j.path[0] || f->j.recs) sisa_journal_close(&f->j);
    sisa_free(f->e);
    f->e = NULL;
    f->n = f->cap = 0;
    sisa_free(f->slot);
    f->slot = NULL;
    f->nslot = 0;
}

const sisa_files_entry *sisa_files_entry_of(const sisa_files *f, const char *name)
{
    const sisa_files_entry *e = lookup(f, name);
    return e && e->live ? e : NULL;
}

const char *sisa_files_hash(const sisa_files *f, const char *name)
{
    const sisa_files_entry *e = sisa_files_entry_of(f, name);
    return e ? e->sha : NULL;
}

int sisa_files_has(const sisa_files *f, const char *name)
{
    return sisa_files_hash(f, name) != NULL;
}

int sisa_files_verify(const sisa_files *f, const char *name)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], sha[65];
    const char *want = sisa_files_hash(f, name);
    SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
    SISA_CHECK(want, SISA_ECORRUPT, "%s is not a committed file of %s", path, f->j.path);
    SISA_CHECK(sisa_fs_exists(path), SISA_ECORRUPT, "%s is missing (its journal has it)", path);
    SISA_TRY(sisa_file_sha256(path, sha));
    SISA_CHECK(!strcmp(sha, want), SISA_ECORRUPT,
               "%s does not match its recorded SHA-256 (%.12s..., the file hashes to %.12s...): it "
               "is damaged or was modified, and is not used",
               path, want, sha);
done:
    return err;
}

int sisa_files_check_size(const sisa_files *f, const char *name)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    const sisa_files_entry *e = sisa_files_entry_of(f, name);
    SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
    SISA_CHECK(e, SISA_ECORRUPT, "%s is not a committed file of %s", path, f->j.path);
    if (e->size < 0) return sisa_files_verify(f, name); /* a record from before sizes */
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size != e->size) {
        /* The committed bytes may still be in the temp file of an unfinished commit. */
        char tmp[SISA_PATH_MAX];
        SISA_TRY(sisa_path_resolve(tmp, sizeof tmp, f->dir, e->tmp));
        struct stat tst;
        if (stat(tmp, &tst) == 0 && tst.st_size == e->size) return SISA_OK;
        SISA_CHECK(sisa_fs_exists(path), SISA_ECORRUPT, "%s is missing (its journal has it)", path);
        SISA_FAIL(SISA_ECORRUPT,
                  "%s has %lld bytes, its journal records %lld: it is damaged or was modified, "
                  "and is not used",
                  path, (long long)st.st_size, (long long)e->size);
    }
done:
    return err;
}

int sisa_files_locate(const sisa_files *f, const char *name, char *out, size_t cap)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], sha[65];
    const char *want = sisa_files_hash(f, name);
    const sisa_files_entry *e = want ? lookup(f, name) : NULL;
    if (e) {
        SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
        if (sisa_fs_exists(path)) {
            SISA_TRY(sisa_file_sha256(path, sha));
            if (!strcmp(sha, want)) return sisa_path_resolve(out, cap, NULL, path);
        }
        /* A crash between journaling the commit and the rename: the temp file holds the
         * committed bytes until the next writer's sisa_files_repair moves it into place. */
        SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, e->tmp));
        if (sisa_fs_exists(path)) {
            SISA_TRY(sisa_file_sha256(path, sha));
            if (!strcmp(sha, want)) return sisa_path_resolve(out, cap, NULL, path);
        }
    }
    SISA_TRY(sisa_files_verify(f, name)); /* fails, saying why */
    SISA_FAIL(SISA_EINTERNAL, "%s/%s: verified after failing to verify", f->dir, name);
done:
    return err;
}

int sisa_files_commit_ex(sisa_files *f, const char *tmp_path, const char *name, const char *known,
                         const char *meta)
{
    int err = SISA_OK;
    struct stat tst;
    int journaled = 0; /* the record may be in the journal: the temp file must stay */
    char path[SISA_PATH_MAX], sha[65];
    sisa_jw w;
    sisa_jw_init(&w);
    const char *slash = strrchr(tmp_path, '/');
    const char *tmp_name = slash ? slash + 1 : tmp_path;
    SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
    if (known) {
        SISA_CHECK(strlen(known) == 64, SISA_EINTERNAL, "bad SHA-256 for %s", tmp_path);
        memcpy(sha, known, 65);
        SISA_CHECK(stat(tmp_path, &tst) == 0, SISA_EIO, "cannot stat %s: %s", tmp_path,
                   strerror(errno));
        cache_put(&tst, sha); /* so that no later check of this process reads it back */
    } else {
        SISA_TRY(sisa_fs_fsync_file(tmp_path));
        SISA_TRY(sisa_file_sha256(tmp_path, sha));
        SISA_CHECK(stat(tmp_path, &tst) == 0, SISA_EIO, "cannot stat %s: %s", tmp_path,
                   strerror(errno));
    }
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "op", 1);
    sisa_jw_str(&w, "put");
    sisa_jw_key(&w, "file", 0);
    sisa_jw_str(&w, name);
    sisa_jw_key(&w, "tmp", 0);
    sisa_jw_str(&w, tmp_name);
    sisa_jw_key(&w, "sha256", 0);
    sisa_jw_str(&w, sha);
    sisa_jw_key(&w, "size", 0);
    sisa_jw_u64(&w, (uint64_t)tst.st_size);
    if (meta) {
        sisa_jw_key(&w, "meta", 0);
        sisa_jw_raw(&w, meta);
    }
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "%s: out of memory recording %s", f->j.path, name);
    /* From the first byte of the append on, the record may reach the journal even when the
     * append reports a failure (a failed fsync leaves the line in the page cache), and then the
     * temp file holds the only copy of the committed bytes: sisa_files_repair completes the
     * commit from it, or removes it when the record never arrived. */
    journaled = 1;
    err = sisa_journal_append(&f->j, w.buf);
    if (err == SISA_ENOMEM) journaled = 0; /* then nothing was written (journal.h) */
    SISA_TRY(err);
    SISA_TRY(apply(f, f->j.recs[f->j.n - 1]));
    SISA_CHECK(rename(tmp_path, path) == 0, SISA_EIO, "cannot rename %s to %s: %s", tmp_path, path,
               strerror(errno));
    SISA_TRY(sisa_fs_fsync_parent(path));
done:
    if (err < 0 && !journaled) sisa_fs_remove_quiet(tmp_path);
    sisa_jw_free(&w);
    return err;
}

int sisa_files_commit(sisa_files *f, const char *tmp_path, const char *name)
{
    return sisa_files_commit_ex(f, tmp_path, name, NULL, NULL);
}

int sisa_files_commit_meta(sisa_files *f, const char *tmp_path, const char *name, const char *meta)
{
    return sisa_files_commit_ex(f, tmp_path, name, NULL, meta);
}

int sisa_files_commit_hashed(sisa_files *f, const char *tmp_path, const char *name, const char *sha)
{
    return sisa_files_commit_ex(f, tmp_path, name, sha, NULL);
}

int sisa_files_write(sisa_files *f, const char *name, const void *data, size_t len)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX] = "";
    FILE *fp = NULL;
    SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    fp = fopen(tmp, "wb");
    SISA_CHECK(fp, SISA_EIO, "cannot open %s: %s", tmp, strerror(errno));
    SISA_CHECK(!len || fwrite(data, 1, len, fp) == len, SISA_EIO, "cannot write %s: %s", tmp,
               strerror(errno));
    int rc = fclose(fp);
    fp = NULL;
    SISA_CHECK(rc == 0, SISA_EIO, "cannot write %s: %s", tmp, strerror(errno));
    rc = sisa_files_commit(f, tmp, name);
    tmp[0] = '\0'; /* the commit owns the temp file now */
    SISA_TRY(rc);
done:
    if (fp) fclose(fp);
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    return err;
}

int sisa_files_remove(sisa_files *f, const char *name)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    sisa_jw w;
    sisa_jw_init(&w);
    if (!sisa_files_has(f, name)) goto done;
    SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, name));
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "op", 1);
    sisa_jw_str(&w, "del");
    sisa_jw_key(&w, "file", 0);
    sisa_jw_str(&w, name);
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "%s: out of memory recording the removal of %s", f->j.path,
               name);
    SISA_TRY(sisa_journal_append(&f->j, w.buf));
    SISA_TRY(apply(f, f->j.recs[f->j.n - 1]));
    SISA_CHECK(unlink(path) == 0 || errno == ENOENT, SISA_EIO, "cannot remove %s: %s", path,
               strerror(errno));
    SISA_TRY(sisa_fs_fsync_parent(path));
done:
    sisa_jw_free(&w);
    return err;
}

static int kept(const char *name, const char *journal, const char *const *keep)
{
    if (!strcmp(name, journal)) return 1;
    for (size_t i = 0; keep && keep[i]; i++)
        if (!strcmp(name, keep[i])) return 1;
    return 0;
}

int sisa_files_foreign(const sisa_files *f, const char *const *keep, char *out, size_t cap,
                       size_t *count)
{
    int err = SISA_OK;
    DIR *d = NULL;
    const char *slash = strrchr(f->j.path, '/');
    const char *journal = slash ? slash + 1 : f->j.path;
    size_t used = 0;
    *count = 0;
    if (cap) out[0] = '\0';
    d = opendir(f->dir);
    SISA_CHECK(d, SISA_EIO, "cannot list %s: %s", f->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        if (kept(name, journal, keep) || sisa_fs_is_tmp_name(name) || known(f, name)) continue;
        if (*count < 8 && used < cap) {
            int n = snprintf(out + used, cap - used, "%s%s", *count ? ", " : "", name);
            if (n > 0) used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
        } else if (*count == 8 && used + 5 < cap) {
            used += (size_t)snprintf(out + used, cap - used, ", ...");
        }
        (*count)++;
    }
done:
    if (d) closedir(d);
    return err;
}

int sisa_files_repair(sisa_files *f, const char *const *keep)
{
    int err = SISA_OK;
    int fixed = 0, changed = 0;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX], sha[65];
    DIR *d = NULL;
    const char *slash = strrchr(f->j.path, '/');
    const char *journal = slash ? slash + 1 : f->j.path;
    SISA_CHECK(f->j.fd >= 0, SISA_EINTERNAL, "repair needs a writable journal");
    /* 1. Committed puts whose rename did not happen: finish them from their temp file. */
    for (size_t i = 0; i < f->n; i++) {
        sisa_files_entry *e = &f->e[i];
        if (!e->live) continue;
        /* Only a commit whose temp file is still there can be unfinished (the rename moves it):
         * nothing else is read here, so a writer's open costs no hashing. */
        SISA_TRY(sisa_path_resolve(tmp, sizeof tmp, f->dir, e->tmp));
        if (!sisa_fs_exists(tmp)) continue; /* damaged or missing: sisa_files_verify says so */
        SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, e->name));
        if (sisa_fs_exists(path)) {
            SISA_TRY(sisa_file_sha256(path, sha));
            if (!strcmp(sha, e->sha)) continue; /* renamed; the temp file is a stray copy */
        }
        SISA_TRY(sisa_file_sha256(tmp, sha));
        if (strcmp(sha, e->sha) != 0) continue;
        SISA_CHECK(rename(tmp, path) == 0, SISA_EIO, "cannot rename %s to %s: %s", tmp, path,
                   strerror(errno));
        sisa_debug("%s: completed the commit of %s", f->dir, e->name);
        fixed++;
        changed = 1;
    }
    /* 2. Files sisa wrote that are not committed: temp files (of commits that never reached
     * the journal, or whose record a crash left unwritten) and files whose removal is journaled.
     * Any other file is not sisa's and stays where it is (sisa_files_foreign lists them). */
    d = opendir(f->dir);
    SISA_CHECK(d, SISA_EIO, "cannot list %s: %s", f->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (kept(de->d_name, journal, keep) || sisa_files_has(f, de->d_name)) continue;
        if (!sisa_fs_is_tmp_name(de->d_name) && !known(f, de->d_name)) continue; /* not sisa's */
        SISA_TRY(sisa_path_resolve(path, sizeof path, f->dir, de->d_name));
        struct stat st;
        if (lstat(path, &st) != 0 || S_ISDIR(st.st_mode)) continue;
        SISA_CHECK(unlink(path) == 0 || errno == ENOENT, SISA_EIO, "cannot remove %s: %s", path,
                   strerror(errno));
        sisa_debug("%s: removed %s (not committed)", f->dir, de->d_name);
        fixed++;
        changed = 1;
    }
    if (changed) SISA_TRY(sisa_fs_fsync_parent(f->j.path));
    err = fixed;
done:
    if (d) closedir(d);
    return err;
}
