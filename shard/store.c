/*
 * store.c - store folders, manifest, lock and determinism context (see store.h).
 *
 * The manifest is a small "key: value" text file so that people and scripts can read it
 * without HDF5. It is parsed strictly: unknown keys, duplicates and missing keys are corruption.
 */
#include "shard/store.h"

#include "base/log.h"
#include "base/sha256.h"
#include "shard/journal.h"
#include "base/strutil.h"
#include "model/blas.h"
#include "model/model.h"
#include "sisa/error.h"
#include "sisa/version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_FORMAT "sisa-store 1"

/* Files of the store's folder that its journal does not commit, which repair leaves alone. */
static const char *const store_keep[] = {"ledger", "lock", NULL};

void sisa_store_context(char *out, size_t cap)
{
    sisa_blas_info blas;
    char cpu[96];
    sisa_blas_describe(&blas);
    sisa_cpu_features(cpu, sizeof cpu);
    snprintf(out, cap,
             "sisa %s (%s); %s; flags %s%s%s; OpenBLAS %s core %s threads %d; fp %s; cpu %s",
             SISA_VERSION, SISA_GIT_COMMIT, SISA_COMPILER, SISA_BUILD_FLAGS,
             SISA_SANITIZERS[0] ? "; sanitize " : "", SISA_SANITIZERS, blas.version, blas.core,
             blas.threads, sisa_model_fp_mode(), cpu);
}

int sisa_store_shard_dir(const sisa_store *st, uint32_t shard, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/shards/%04u", st->root, shard);
    if (n < 0 || (size_t)n >= cap)
        return sisa_error_set(SISA_EUSAGE, __FILE__, __LINE__, "store path too long: %s", st->root);
    return SISA_OK;
}

int sisa_store_data_path(const sisa_store *st, uint32_t shard, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/shards/%04u/data.h5", st->root, shard);
    if (n < 0 || (size_t)n >= cap)
        return sisa_error_set(SISA_EUSAGE, __FILE__, __LINE__, "store path too long: %s", st->root);
    return SISA_OK;
}

int sisa_store_ckpt_path(const sisa_store *st, uint32_t shard, uint32_t stage, char *out,
                         size_t cap)
{
    int n = snprintf(out, cap, "%s/shards/%04u/ckpt-%03u.h5", st->root, shard, stage);
    if (n < 0 || (size_t)n >= cap)
        return sisa_error_set(SISA_EUSAGE, __FILE__, __LINE__, "store path too long: %s", st->root);
    return SISA_OK;
}

/* ---- manifest ---------------------------------------------------------------------------- */

static int manifest_text(const sisa_manifest *m, char *buf, size_t cap)
{
    int n =
        snprintf(buf, cap,
                 "# sisa store manifest: written by sisa, do not edit\n"
                 "format: %s\n"
                 "config_hash: %s\n"
                 "seed: %llu\n"
                 "shards: %u\n"
                 "slices: %u\n"
                 "sharding: %s\n"
                 "dataset: %s\n"
                 "dataset_digest: %s\n"
                 "dataset_digest_version: %d\n"
                 "rows: %llu\n"
                 "features: %llu\n"
                 "classes: %d\n"
                 "context: %s\n"
                 "deletions: %llu\n"
                 "deleted_rows: %llu\n",
                 MANIFEST_FORMAT, m->config_hash, (unsigned long long)m->seed, m->shards, m->slices,
                 sisa_sharding_name(m->sharding), m->dataset, m->dataset_digest, m->digest_version,
                 (unsigned long long)m->rows, (unsigned long long)m->features, m->classes,
                 m->context, (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int parse_manifest(sisa_manifest *m, char *text, const char *path)
{
    int err = SISA_OK;
    enum {
        K_FORMAT,
        K_HASH,
        K_SEED,
        K_SHARDS,
        K_SLICES,
        K_SHARDING,
        K_DATASET,
        K_DIGEST,
        K_ROWS,
        K_FEATURES,
        K_CLASSES,
        K_CONTEXT,
        K_DELETIONS,
        K_DELETED,
        K_DIGEST_VERSION,
        K_COUNT
    };
    static const char *const keys[K_COUNT] = {
        "format",   "config_hash", "seed",           "shards",       "slices",
        "sharding", "dataset",     "dataset_digest", "rows",         "features",
        "classes",  "context",     "deletions",      "deleted_rows", "dataset_digest_version"};
    int seen[K_COUNT] = {0};
    memset(m, 0, sizeof *m);
    int lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0') continue;
        char *sep = strstr(line, ": ");
        SISA_CHECK(sep, SISA_ECORRUPT, "%s: line %d is not 'key: value'", path, lineno);
        *sep = '\0';
        const char *v = sep + 2;
        int k = 0;
        while (k < K_COUNT && strcmp(keys[k], line) != 0) k++;
        SISA_CHECK(k < K_COUNT, SISA_ECORRUPT, "%s: unknown key '%s'", path, line);
        SISA_CHECK(!seen[k], SISA_ECORRUPT, "%s: key '%s' appears twice", path, line);
        seen[k] = 1;
        uint64_t u = 0;
        int64_t i64 = 0;
        switch (k) {
        case K_FORMAT:
            SISA_CHECK(!strcmp(v, MANIFEST_FORMAT), SISA_ECORRUPT,
                       "%s: unsupported store format '%s'", path, v);
            break;
        case K_HASH:
        case K_DIGEST: {
            char *dst = k == K_HASH ? m->config_hash : m->dataset_digest;
            SISA_CHECK(strlen(v) == 64, SISA_ECORRUPT, "%s: %s is not a SHA-256", path, line);
            memcpy(dst, v, 65);
            break;
        }
        case K_DATASET:
            SISA_CHECK(sisa_strlcpy(m->dataset, v, sizeof m->dataset) == 0, SISA_ECORRUPT,
                       "%s: dataset path too long", path);
            break;
        case K_CONTEXT:
            SISA_CHECK(sisa_strlcpy(m->context, v, sizeof m->context) == 0, SISA_ECORRUPT,
                       "%s: context too long", path);
            break;
        case K_SHARDING:
            SISA_CHECK(!strcmp(v, "id") || !strcmp(v, "group"), SISA_ECORRUPT,
                       "%s: bad sharding '%s'", path, v);
            m->sharding = strcmp(v, "id") ? SISA_SHARDING_GROUP : SISA_SHARDING_ID;
            break;
        case K_DIGEST_VERSION:
            SISA_CHECK(!strcmp(v, "1") || !strcmp(v, "2"), SISA_ECORRUPT,
                       "%s: unknown dataset_digest_version '%s'", path, v);
            m->digest_version = v[0] - '0';
            break;
        case K_CLASSES:
            SISA_CHECK(sisa_parse_i64(v, &i64) == 0 && i64 >= 2 && i64 <= INT32_MAX, SISA_ECORRUPT,
                       "%s: bad classes '%s'", path, v);
            m->classes = (int32_t)i64;
            break;
        default:
            SISA_CHECK(sisa_parse_u64(v, &u) == 0, SISA_ECORRUPT, "%s: %s: '%s' is not a number",
                       path, line, v);
            if (k == K_SEED) m->seed = u;
            if (k == K_SHARDS || k == K_SLICES) {
                SISA_CHECK(u >= 1 && u <= UINT32_MAX, SISA_ECORRUPT, "%s: bad %s", path, line);
                if (k == K_SHARDS)
                    m->shards = (uint32_t)u;
                else
                    m->slices = (uint32_t)u;
            }
            if (k == K_ROWS) m->rows = u;
            if (k == K_FEATURES) m->features = u;
            if (k == K_DELETIONS) m->deletions = u;
            if (k == K_DELETED) m->deleted_rows = u;
        }
    }
    /* Stores made before the two-level digest have no dataset_digest_version: theirs is v1. */
    if (!seen[K_DIGEST_VERSION]) m->digest_version = 1;
    seen[K_DIGEST_VERSION] = 1;
    for (int k = 0; k < K_COUNT; k++)
        SISA_CHECK(seen[k], SISA_ECORRUPT, "%s: key '%s' is missing", path, keys[k]);
done:
    return err;
}

int sisa_store_files(const sisa_store *st, sisa_files *out, int writable)
{
    return sisa_files_open(out, st->root, "journal", writable);
}

int sisa_store_write_manifest(sisa_store *st)
{
    int err = SISA_OK;
    char text[8192];
    char *dump = NULL;
    sisa_files f = {0};
    int n = manifest_text(&st->man, text, sizeof text);
    SISA_CHECK(n > 0, SISA_EINTERNAL, "manifest too long");
    size_t need = sisa_config_dump(&st->cfg, NULL, 0) + 1;
    dump = malloc(need);
    SISA_CHECK(dump, SISA_ENOMEM, "out of memory");
    sisa_config_dump(&st->cfg, dump, need);
    SISA_TRY(sisa_store_files(st, &f, 1));
    SISA_TRY(sisa_files_write(&f, "config.yaml", dump, strlen(dump)));
    SISA_TRY(sisa_files_write(&f, "manifest", text, (size_t)n));
    st->has_manifest = 1;
done:
    sisa_files_close(&f);
    free(dump);
    return err;
}

static void salted_hash(const sisa_store *st, const char *tag, uint64_t v, uint8_t out[32])
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    sisa_sha256_update(&h, tag, strlen(tag));
    sisa_sha256_update(&h, st->salt, SISA_SALT_LEN);
    sisa_sha256_update(&h, le, 8);
    sisa_sha256_final(&h, out);
}

void sisa_store_hash_id(const sisa_store *st, uint64_t id, uint8_t out[32])
{
    salted_hash(st, "sisa-id-v1", id, out);
}

void sisa_store_hash_group(const sisa_store *st, uint64_t group, uint8_t out[32])
{
    salted_hash(st, "sisa-group-v1", group, out);
}

/* The store's salt: read it (checked against the journal), or make one for a new store. */
static int load_salt(sisa_store *st, sisa_files *f, int create)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    if (!sisa_files_has(f, "salt")) {
        if (!create) goto done;
        FILE *r = fopen("/dev/urandom", "rb");
        SISA_CHECK(r, SISA_EIO, "cannot open /dev/urandom: %s", strerror(errno));
        size_t got = fread(st->salt, 1, SISA_SALT_LEN, r);
        fclose(r);
        SISA_CHECK(got == SISA_SALT_LEN, SISA_EIO, "cannot read /dev/urandom");
        char hex[2 * SISA_SALT_LEN + 2];
        sisa_hex(hex, st->salt, SISA_SALT_LEN);
        strcat(hex, "\n");
        SISA_TRY(sisa_files_write(f, "salt", hex, strlen(hex)));
        st->has_salt = 1;
        goto done;
    }
    SISA_TRY(sisa_files_locate(f, "salt", path, sizeof path));
    SISA_TRY(sisa_fs_read_all(&text, &len, path, 256));
    SISA_CHECK(len >= 2 * SISA_SALT_LEN, SISA_ECORRUPT, "%s is not a salt", path);
    for (int i = 0; i < SISA_SALT_LEN; i++) {
        unsigned v;
        SISA_CHECK(sscanf(text + 2 * i, "%2x", &v) == 1, SISA_ECORRUPT, "%s is not a salt", path);
        st->salt[i] = (uint8_t)v;
    }
    st->has_salt = 1;
done:
    free(text);
    return err;
}

/* Name the keys whose values differ between the store's config.yaml and `cfg`. */
static void describe_config_change(const sisa_store *st, char *out, size_t cap)
{
    char path[SISA_PATH_MAX], *old = NULL, *cur = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (sisa_path_resolve(path, sizeof path, st->root, "config.yaml") < 0 ||
        sisa_fs_read_all(&old, &len, path, 1 << 20) < 0) {
        sisa_error_clear();
        return;
    }
    size_t need = sisa_config_dump(&st->cfg, NULL, 0) + 1;
    cur = malloc(need);
    if (!cur) goto done;
    sisa_config_dump(&st->cfg, cur, need);
    /* Compare "key: value" lines of the hashed sections in order. */
    const char *sections[] = {"seed", "sisa", "model", "train"};
    size_t used = 0;
    char *save_old = NULL, *save_cur = NULL;
    char *lo = strtok_r(old, "\n", &save_old), *lc = strtok_r(cur, "\n", &save_cur);
    char section[64] = "";
    while (lo && lc) {
        if (lo[0] != ' ' && lo[0] != '#') {
            snprintf(section, sizeof section, "%.*s", (int)strcspn(lo, ":"), lo);
        }
        int hashed = 0;
        for (size_t i = 0; i < 4; i++) hashed |= !strcmp(section, sections[i]);
        if (hashed && strcmp(lo, lc) != 0) {
            const char *trim = lo + strspn(lo, " ");
            char key[160];
            if (lo[0] == ' ')
                snprintf(key, sizeof key, "%s.%.*s", section, (int)strcspn(trim, ":"), trim);
            else
                snprintf(key, sizeof key, "%.*s", (int)strcspn(lo, ":"), lo);
            int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", key);
            if (n < 0 || (size_t)n >= cap - used) break;
            used += (size_t)n;
        }
        lo = strtok_r(NULL, "\n", &save_old);
        lc = strtok_r(NULL, "\n", &save_cur);
    }
done:
    free(old);
    free(cur);
}

/* The lock is two locks on STORE/lock. Byte 0 carries an open-file-description (OFD) lock,
 * which is what excludes: it belongs to lock_fd and ends only when lock_fd is closed. A
 * classic fcntl lock would end when the process closes *any* descriptor of the file (sisa
 * audit reads every file of the store, this one too). Byte 1 carries a classic lock of the
 * same type, only so that a refused process can name the holder's PID (F_GETLK reports none
 * for OFD locks). */
static int lock_byte(int fd, int cmd, short type, off_t byte)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    return fcntl(fd, cmd, &fl);
}

static int set_lock(int fd, short type)
{
    if (lock_byte(fd, F_OFD_SETLK, type, 0) != 0) return -1;
    (void)lock_byte(fd, F_SETLK, type, 1); /* best effort: only names the holder */
    return 0;
}

static int take_lock(sisa_store *st, int exclusive)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "lock"));
    /* Readers open it writable too when they can, so that they can take over the store to
     * recover an interrupted deletion (sisa_store_upgrade_lock). */
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    st->lock_writable = st->lock_fd >= 0;
    if (st->lock_fd < 0 && !exclusive) st->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    SISA_CHECK(st->lock_fd >= 0, SISA_EIO, "cannot open the lock file %s: %s", path,
               strerror(errno));
    const short type = exclusive ? F_WRLCK : F_RDLCK;
    if (set_lock(st->lock_fd, type) != 0) {
        struct flock who;
        memset(&who, 0, sizeof who);
        who.l_type = type;
        who.l_whence = SEEK_SET;
        who.l_start = 1;
        who.l_len = 1;
        char pid[32] = "";
        if (fcntl(st->lock_fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK && who.l_pid > 0)
            snprintf(pid, sizeof pid, " (pid %ld)", (long)who.l_pid);
        SISA_FAIL(SISA_EUSAGE,
                  "store %s is in use by another sisa process%s: %s; wait for it to "
                  "finish",
                  st->root, pid, exclusive ? "only one writer at a time" : "it is being modified");
    }
done:
    return err;
}

int sisa_store_open(sisa_store *st, const sisa_config *cfg, sisa_store_mode mode)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    sisa_files files = {0};
    memset(st, 0, sizeof *st);
    st->lock_fd = -1;
    st->cfg = *cfg;
    SISA_CHECK(sisa_strlcpy(st->root, cfg->store, sizeof st->root) == 0, SISA_EUSAGE,
               "store path too long");
    sisa_config_hash(cfg, st->config_hash);
    sisa_store_context(st->context, sizeof st->context);
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "manifest"));
    if (mode == SISA_STORE_CREATE) {
        SISA_TRY(sisa_fs_mkdir_p(st->root));
        char shards[SISA_PATH_MAX];
        SISA_TRY(sisa_path_resolve(shards, sizeof shards, st->root, "shards"));
        SISA_TRY(sisa_fs_mkdir_p(shards));
    } else {
        SISA_CHECK(sisa_fs_exists(path), SISA_EUSAGE,
                   "%s is not a trained store (no manifest); run 'sisa train -c %s' first",
                   st->root, cfg->source[0] ? cfg->source : "CONFIG");
    }
    SISA_TRY(take_lock(st, mode != SISA_STORE_READ));
    st->exclusive = mode != SISA_STORE_READ;
    SISA_TRY(sisa_store_files(st, &files, mode != SISA_STORE_READ));
    if (mode != SISA_STORE_READ) SISA_TRY(sisa_files_repair(&files, store_keep));
    SISA_TRY(load_salt(st, &files, mode == SISA_STORE_CREATE));
    if (sisa_files_has(&files, "manifest")) {
        SISA_TRY(sisa_files_locate(&files, "manifest", path, sizeof path));
        SISA_TRY(sisa_fs_read_all(&text, &len, path, 1 << 16));
        SISA_TRY(parse_manifest(&st->man, text, path));
        st->has_manifest = 1;
        if (strcmp(st->man.config_hash, st->config_hash) != 0) {
            char changed[512];
            describe_config_change(st, changed, sizeof changed);
            SISA_FAIL(SISA_ECONFIG,
                      "%s: store %s was trained with another configuration (config hash %.12s, "
                      "this file has %.12s%s%s); use the original config or a new store",
                      cfg->source, st->root, st->man.config_hash, st->config_hash,
                      changed[0] ? "; changed: " : "", changed);
        }
    } else {
        SISA_CHECK(mode == SISA_STORE_CREATE, SISA_EUSAGE,
                   "%s is not a trained store (no committed manifest); run 'sisa train -c %s' "
                   "first",
                   st->root, cfg->source[0] ? cfg->source : "CONFIG");
    }
done:
    sisa_files_close(&files);
    free(text);
    if (err < 0) sisa_store_close(st);
    return err;
}

int sisa_store_upgrade_lock(sisa_store *st)
{
    int err = SISA_OK;
    sisa_files files = {0};
    if (st->exclusive) return 1;
    if (st->lock_fd < 0 || !st->lock_writable) return 0;
    /* Converts this process's read lock in place; fails while anyone else holds the store. */
    if (set_lock(st->lock_fd, F_WRLCK) != 0) return 0;
    st->exclusive = 1;
    /* Now the store's writer: bring its folder in line with the journal first, as a writer's
     * open does (a crashed writer may have left a commit to complete, or temp files). */
    SISA_TRY(sisa_store_files(st, &files, 1));
    SISA_TRY(sisa_files_repair(&files, store_keep));
    err = 1;
done:
    sisa_files_close(&files);
    return err;
}

void sisa_store_close(sisa_store *st)
{
    if (st->lock_fd >= 0) close(st->lock_fd); /* releases both locks */
    st->lock_fd = -1;
}

int sisa_store_check_context(const sisa_store *st)
{
    if (!st->has_manifest || strcmp(st->man.context, st->context) == 0) return SISA_OK;
    return sisa_error_set(
        SISA_EUSAGE, __FILE__, __LINE__,
        "store %s was trained under another determinism context, so continuing it here would "
        "not reproduce its bits.\n  store: %s\n  here:  %s\nUse the same sisa build and OpenBLAS "
        "core (OPENBLAS_CORETYPE), or train a new store",
        st->root, st->man.context, st->context);
}
