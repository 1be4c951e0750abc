/*
 * store.c - store folders, manifest, lock and determinism context (see store.h).
 *
 * The manifest is a small "key: value" text file so that people and scripts can read it
 * without HDF5. It is parsed strictly: unknown keys, duplicates and missing keys are corruption.
 */
#include "shard/store.h"

#include "base/json.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "base/strutil.h"
#include "model/blas.h"
#include "model/model.h"
#include "sisa/error.h"
#include "sisa/version.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

void sisa_ckpt_name(char *out, size_t cap, uint32_t stage)
{
    snprintf(out, cap, "ckpt-%03u.h5", stage);
}

int sisa_ckpt_is_name(const char *name)
{
    if (strncmp(name, "ckpt-", 5) != 0) return 0;
    size_t digits = strspn(name + 5, "0123456789");
    return digits >= 3 && !strcmp(name + 5 + digits, ".h5");
}

int sisa_store_path(char *out, size_t cap, const char *root, uint32_t shard, const char *name)
{
    int n = snprintf(out, cap, "%s%sshards/%04u%s%s", root ? root : "", root ? "/" : "", shard,
                     name ? "/" : "", name ? name : "");
    if (n < 0 || (size_t)n >= cap)
        return SISA_ERR(SISA_EUSAGE, "store path too long: %s", root ? root : out);
    return SISA_OK;
}

int sisa_store_shard_dir(const sisa_store *st, uint32_t shard, char *out, size_t cap)
{
    return sisa_store_path(out, cap, st->root, shard, NULL);
}

int sisa_store_data_path(const sisa_store *st, uint32_t shard, char *out, size_t cap)
{
    return sisa_store_path(out, cap, st->root, shard, SISA_SHARD_DATA);
}

int sisa_store_ckpt_path(const sisa_store *st, uint32_t shard, uint32_t stage, char *out,
                         size_t cap)
{
    char name[SISA_CKPT_NAME_MAX];
    sisa_ckpt_name(name, sizeof name, stage);
    return sisa_store_path(out, cap, st->root, shard, name);
}

/* ---- manifest ---------------------------------------------------------------------------- */

static int manifest_text(const sisa_manifest *m, char *buf, size_t cap)
{
    int n = snprintf(
        buf, cap,
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
        "deleted_rows: %llu\n"
        "store_id: %s\n"
        "location: %s\n"
        "%s%s%s%s%s%s",
        MANIFEST_FORMAT, m->config_hash, (unsigned long long)m->seed, m->shards, m->slices,
        sisa_sharding_name(m->sharding), m->dataset, m->dataset_digest, m->digest_version,
        (unsigned long long)m->rows, (unsigned long long)m->features, m->classes, m->context,
        (unsigned long long)m->deletions, (unsigned long long)m->deleted_rows, m->store_id,
        m->location, m->blas_core[0] ? "openblas_core: " : "", m->blas_core,
        m->blas_core[0] ? "\n" : "", m->blas_core_origin[0] ? "openblas_core_origin: " : "",
        m->blas_core_origin, m->blas_core_origin[0] ? "\n" : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The manifest's keys (parse_manifest). */
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
    K_DIGEST_VERSION, /* optional: stores made before the two-level digest are v1 */
    K_STORE_ID,       /* optional: stores made before identities have neither */
    K_LOCATION,
    K_CORE,        /* optional: stores made before it name their core in the context only */
    K_CORE_ORIGIN, /* optional, likewise */
    K_COUNT
};

static const char *const manifest_keys[K_COUNT] = {"format",
                                                   "config_hash",
                                                   "seed",
                                                   "shards",
                                                   "slices",
                                                   "sharding",
                                                   "dataset",
                                                   "dataset_digest",
                                                   "rows",
                                                   "features",
                                                   "classes",
                                                   "context",
                                                   "deletions",
                                                   "deleted_rows",
                                                   "dataset_digest_version",
                                                   "store_id",
                                                   "location",
                                                   "openblas_core",
                                                   "openblas_core_origin"};

/* One "key: value" line's value (`line` is the key) into m. */
static int manifest_value(sisa_manifest *m, int k, const char *line, const char *v,
                          const char *path)
{
    int err = SISA_OK;
    uint64_t u = 0;
    int64_t i64 = 0;
    switch (k) {
    case K_FORMAT:
        SISA_CHECK(!strcmp(v, MANIFEST_FORMAT), SISA_ECORRUPT, "%s: unsupported store format '%s'",
                   path, v);
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
    case K_STORE_ID:
        SISA_CHECK(strlen(v) == 32 && strspn(v, "0123456789abcdef") == 32, SISA_ECORRUPT,
                   "%s: store_id '%s' is not 32 hex digits", path, v);
        memcpy(m->store_id, v, 33);
        break;
    case K_CORE:
    case K_CORE_ORIGIN: {
        char *dst = k == K_CORE ? m->blas_core : m->blas_core_origin;
        size_t cap = k == K_CORE ? sizeof m->blas_core : sizeof m->blas_core_origin;
        SISA_CHECK(v[0] && strlen(v) < cap && !strchr(v, ' '), SISA_ECORRUPT, "%s: bad %s '%s'",
                   path, line, v);
        memcpy(dst, v, strlen(v) + 1);
        break;
    }
    case K_LOCATION:
        SISA_CHECK(v[0] == '/' && sisa_strlcpy(m->location, v, sizeof m->location) == 0,
                   SISA_ECORRUPT, "%s: bad location '%s'", path, v);
        break;
    case K_SHARDING:
        SISA_CHECK(!strcmp(v, "id") || !strcmp(v, "group") || !strcmp(v, "tiered"), SISA_ECORRUPT,
                   "%s: bad sharding '%s'", path, v);
        m->sharding = !strcmp(v, "id")      ? SISA_SHARDING_ID
                      : !strcmp(v, "group") ? SISA_SHARDING_GROUP
                                            : SISA_SHARDING_TIERED;
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
        SISA_CHECK(sisa_parse_u64(v, &u) == 0, SISA_ECORRUPT, "%s: %s: '%s' is not a number", path,
                   line, v);
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
done:
    return err;
}

/* After the last line: the keys that must be there, and what older stores leave out. */
static int manifest_complete(sisa_manifest *m, int *seen, const char *path)
{
    int err = SISA_OK;
    /* Stores made before the two-level digest have no dataset_digest_version: theirs is v1. */
    if (!seen[K_DIGEST_VERSION]) m->digest_version = 1;
    seen[K_DIGEST_VERSION] = 1;
    for (int k = 0; k < K_STORE_ID; k++)
        SISA_CHECK(seen[k], SISA_ECORRUPT, "%s: key '%s' is missing", path, manifest_keys[k]);
    SISA_CHECK(seen[K_STORE_ID] == seen[K_LOCATION], SISA_ECORRUPT,
               "%s: store_id and location come together", path);
    if (!seen[K_CORE]) {
        /* Older stores: the core is the word after " core " in the context. */
        const char *c = strstr(m->context, " core ");
        if (c) {
            c += 6;
            size_t len = strcspn(c, " ;");
            if (len < sizeof m->blas_core) {
                memcpy(m->blas_core, c, len);
                m->blas_core[len] = '\0';
            }
        }
    }
done:
    return err;
}

static int parse_manifest(sisa_manifest *m, char *text, const char *path)
{
    int err = SISA_OK;
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
        while (k < K_COUNT && strcmp(manifest_keys[k], line) != 0) k++;
        SISA_CHECK(k < K_COUNT, SISA_ECORRUPT, "%s: unknown key '%s'", path, line);
        SISA_CHECK(!seen[k], SISA_ECORRUPT, "%s: key '%s' appears twice", path, line);
        seen[k] = 1;
        SISA_TRY(manifest_value(m, k, line, v, path));
    }
    SISA_TRY(manifest_complete(m, seen, path));
done:
    return err;
}

int sisa_manifest_parse(sisa_manifest *m, char *text, const char *path)
{
    return parse_manifest(m, text, path);
}

int sisa_store_recorded_core(const char *root, char *out, size_t cap)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    sisa_manifest *m = NULL;
    SISA_TRY(sisa_path_resolve(path, sizeof path, root, "manifest"));
    if (!sisa_fs_exists(path)) goto done;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, 1 << 20));
    m = sisa_malloc(sizeof *m);
    SISA_CHECK(m, SISA_ENOMEM, "out of memory");
    SISA_TRY(parse_manifest(m, text, path));
    SISA_CHECK(m->blas_core[0], SISA_ECORRUPT, "%s names no OpenBLAS core", path);
    SISA_CHECK(sisa_strlcpy(out, m->blas_core, cap) == 0, SISA_ECORRUPT,
               "%s: OpenBLAS core name too long", path);
    err = 1;
done:
    sisa_free(m);
    sisa_free(text);
    return err;
}

int sisa_store_files(const sisa_store *st, sisa_files *out, int writable)
{
    return sisa_files_open(out, st->root, "journal", writable);
}

static int random_hex(char *out, size_t bytes)
{
    int err = SISA_OK;
    uint8_t raw[64];
    FILE *r = fopen("/dev/urandom", "rb");
    SISA_CHECK(r, SISA_EIO, "cannot open /dev/urandom: %s", strerror(errno));
    size_t got = fread(raw, 1, bytes, r);
    fclose(r);
    SISA_CHECK(got == bytes, SISA_EIO, "cannot read /dev/urandom");
    sisa_hex(out, raw, bytes);
done:
    return err;
}

int sisa_store_write_manifest(sisa_store *st)
{
    int err = SISA_OK;
    char text[3 * SISA_PATH_MAX];
    char *dump = NULL;
    sisa_files f = {0};
    /* Every manifest a writer commits names the store: a store made before identities gets
     * its ID and location now. */
    if (!st->store_id[0]) SISA_TRY(random_hex(st->store_id, 16));
    if (!st->man.store_id[0]) memcpy(st->man.store_id, st->store_id, 33);
    if (!st->man.location[0])
        snprintf(st->man.location, sizeof st->man.location, "%s", st->physical);
    int n = manifest_text(&st->man, text, sizeof text);
    SISA_CHECK(n > 0, SISA_EINTERNAL, "manifest too long");
    size_t need = sisa_config_dump(&st->cfg, NULL, 0) + 1;
    dump = sisa_malloc(need);
    SISA_CHECK(dump, SISA_ENOMEM, "out of memory");
    sisa_config_dump(&st->cfg, dump, need);
    SISA_TRY(sisa_store_files(st, &f, 1));
    SISA_TRY(sisa_files_write(&f, "config.yaml", dump, strlen(dump)));
    SISA_TRY(sisa_files_write(&f, "manifest", text, (size_t)n));
    st->has_manifest = 1;
done:
    sisa_files_close(&f);
    sisa_free(dump);
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

int sisa_store_parse_salt(uint8_t salt[SISA_SALT_LEN], const char *text, size_t len)
{
    int whole = len == 2 * SISA_SALT_LEN || (len == 2 * SISA_SALT_LEN + 1 && text[len - 1] == '\n');
    return whole ? sisa_unhex(salt, text, SISA_SALT_LEN) : -1;
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
    SISA_CHECK(sisa_store_parse_salt(st->salt, text, len) == 0, SISA_ECORRUPT,
               "%s is not a salt (%d hex digits)", path, 2 * SISA_SALT_LEN);
    st->has_salt = 1;
done:
    sisa_free(text);
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
    cur = sisa_malloc(need);
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
    sisa_free(old);
    sisa_free(cur);
}

/* ---- what a folder named as a store holds ---------------------------------------------- */

/* Top-level names sisa writes in a store. Anything else there is the user's, and is never
 * removed. */
static const char *const store_names[] = {"journal", "manifest", "config.yaml",  "salt",   "ledger",
                                          "lock",    "shards",   "certificates", "timing", NULL};

void sisa_store_timing_read(const sisa_store *st, double *samples, double *seconds)
{
    /* No allocation: this runs in a deletion's plan, after the request is journaled. */
    char path[SISA_PATH_MAX], text[256];
    *samples = *seconds = 0;
    if (sisa_path_resolve(path, sizeof path, st->root, "timing") < 0) {
        sisa_error_clear();
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return;
    text[n] = '\0';
    double a, b;
    if (sscanf(text, "{\"samples\": %lf, \"seconds\": %lf}", &a, &b) == 2 && isfinite(a) &&
        isfinite(b) && a >= 0 && b > 0)
        *samples = a, *seconds = b;
}

int sisa_store_timing_add(const sisa_store *st, double samples, double seconds)
{
    char path[SISA_PATH_MAX], text[128];
    double a, b;
    if (!(samples > 0 && seconds > 0)) return SISA_OK;
    sisa_store_timing_read(st, &a, &b);
    int n = snprintf(text, sizeof text, "{\"samples\": %.17g, \"seconds\": %.17g}\n", a + samples,
                     b + seconds);
    int err = sisa_path_resolve(path, sizeof path, st->root, "timing");
    if (err == SISA_OK) err = sisa_fs_write_atomic(path, text, (size_t)n, 1);
    if (err < 0)
        sisa_error_prefix("the work itself is done and committed, but its speed could not be "
                          "recorded in %s/timing",
                          st->root);
    return err;
}

int sisa_store_is_own_name(const char *name)
{
    for (size_t i = 0; store_names[i]; i++)
        if (!strcmp(name, store_names[i])) return 1;
    return sisa_fs_is_tmp_name(name) ||
           !strncmp(name, SISA_ACTIVITY_FILE, strlen(SISA_ACTIVITY_FILE));
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

static void append_name(char *out, size_t cap, int *count, const char *name)
{
    size_t used = strlen(out);
    if (*count < 5)
        snprintf(out + used, cap - used, "%s'%s'", *count ? ", " : "", name);
    else if (*count == 5)
        snprintf(out + used, cap - used, ", ...");
    (*count)++;
}

int sisa_store_probe(const char *root, sisa_folder_kind *kind, char *detail, size_t cap)
{
    int err = SISA_OK;
    struct stat sb;
    DIR *d = NULL;
    char path[SISA_PATH_MAX], own[512] = "", foreign[512] = "";
    int n_own = 0, n_foreign = 0, journal = 0;
    if (detail && cap) detail[0] = '\0';
    if (lstat(root, &sb) != 0) {
        SISA_CHECK(errno == ENOENT, SISA_EIO, "cannot look at store folder %s: %s", root,
                   strerror(errno));
        *kind = SISA_FOLDER_MISSING;
        goto done;
    }
    if (!S_ISDIR(sb.st_mode)) {
        *kind = SISA_FOLDER_FOREIGN;
        if (detail) snprintf(detail, cap, "it is not a folder");
        goto done;
    }
    d = opendir(root);
    SISA_CHECK(d, SISA_EIO, "cannot list store folder %s: %s", root, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        if (!strcmp(name, "journal")) {
            journal = 1;
            continue;
        }
        if (!sisa_store_is_own_name(name)) {
            append_name(foreign, sizeof foreign, &n_foreign, name);
            continue;
        }
        /* What a store creation that never reached its first commit leaves (an empty shards
         * folder, the lock file, temp files) does not make a store. */
        if (!strcmp(name, "lock") || sisa_fs_is_tmp_name(name)) continue;
        if (!strcmp(name, "shards")) {
            SISA_TRY(sisa_path_resolve(path, sizeof path, root, name));
            if (dir_is_empty(path)) continue;
        }
        append_name(own, sizeof own, &n_own, name);
    }
    if (journal) {
        *kind = SISA_FOLDER_STORE;
    } else if (n_own) {
        *kind = SISA_FOLDER_DAMAGED;
        if (detail) snprintf(detail, cap, "it holds a store's files (%s) but no journal", own);
    } else if (n_foreign) {
        *kind = SISA_FOLDER_FOREIGN;
        if (detail) snprintf(detail, cap, "it holds files that sisa did not write: %s", foreign);
    } else {
        *kind = SISA_FOLDER_EMPTY;
    }
done:
    if (d) closedir(d);
    return err;
}

/* ---- the writers' lock ------------------------------------------------------------------- */

/* The lock is two locks on STORE/lock, taken by writers only (readers take none). Byte 0
 * carries an open-file-description (OFD) lock, which is what excludes: it belongs to lock_fd
 * and ends only when lock_fd is closed. A classic fcntl lock would end when the process closes
 * *any* descriptor of the file (sisa audit reads every file of the store, this one too). Byte 1
 * carries a classic lock of the same type, only so that a refused process can name the
 * holder's PID (F_GETLK reports none for OFD locks). */
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

/* The PID holding the classic lock on byte 1 of an open lock file, or 0. */
static long lock_holder(int fd)
{
    struct flock who;
    memset(&who, 0, sizeof who);
    who.l_type = F_WRLCK;
    who.l_whence = SEEK_SET;
    who.l_start = 1;
    who.l_len = 1;
    if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK && who.l_pid > 0)
        return (long)who.l_pid;
    return 0;
}

int sisa_store_writer(const char *root, long *pid)
{
    char path[SISA_PATH_MAX];
    *pid = 0;
    if (sisa_path_resolve(path, sizeof path, root, "lock") < 0) {
        sisa_error_clear();
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    int held = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    if (held) *pid = lock_holder(fd);
    close(fd);
    return held;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !sisa_interrupt_requested()) {}
}

static int take_lock(sisa_store *st, double wait_seconds)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "lock"));
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SISA_CHECK(st->lock_fd >= 0, SISA_EIO,
               "cannot open the lock file %s: %s (changing a store needs write access to it; "
               "reading commands need none)",
               path, strerror(errno));
    const double t0 = sisa_now();
    int said = 0;
    while (lock_byte(st->lock_fd, F_OFD_SETLK, F_WRLCK, 0) != 0) {
        SISA_CHECK(errno == EAGAIN || errno == EACCES, SISA_EIO, "cannot lock %s: %s", path,
                   strerror(errno));
        long pid = lock_holder(st->lock_fd);
        char who[32] = "";
        if (pid) snprintf(who, sizeof who, " (pid %ld)", pid);
        const double waited = sisa_now() - t0;
        if (wait_seconds == 0 || (wait_seconds > 0 && waited >= wait_seconds))
            SISA_FAIL(SISA_EBUSY,
                      "store %s is busy: another sisa command%s is changing it. This is "
                      "temporary: run the command again when it has finished, or pass --wait to "
                      "wait for it%s",
                      st->root, who, wait_seconds > 0 ? " longer" : "");
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while waiting for %s",
                   path);
        SISA_CHECK(!sisa_stop_requested(), SISA_ESTOPPED,
                   "stopped on request while waiting for store %s (nothing was changed)", st->root);
        if (!said) {
            sisa_info("store %s is busy%s; waiting for it", st->root, who);
            said = 1;
        }
        sleep_ms(200);
    }
    (void)lock_byte(st->lock_fd, F_SETLK, F_WRLCK, 1); /* best effort: only names the holder */
done:
    return err;
}

int sisa_store_lock(sisa_store *st, double wait_seconds)
{
    return take_lock(st, wait_seconds);
}

/* ---- opening ----------------------------------------------------------------------------- */

/* Remove this process's activity files (a no-op unless it wrote them). */
static void activity_end(sisa_store *st)
{
    if (!st->activity_on) return;
    char path[SISA_PATH_MAX], name[64];
    snprintf(name, sizeof name, "%s-%d", SISA_ACTIVITY_FILE, st->activity_rank);
    if (sisa_path_resolve(path, sizeof path, st->root, name) == 0) sisa_fs_remove_quiet(path);
    if (st->activity_rank == 0 &&
        sisa_path_resolve(path, sizeof path, st->root, SISA_ACTIVITY_FILE) == 0)
        sisa_fs_remove_quiet(path);
    st->activity_on = 0;
}

/* Remove the files a journal folder commits (and its temp files), the journal, then the folder
 * when nothing else is left in it. */
static void discard_folder(const char *dir)
{
    sisa_files f = {0};
    char path[SISA_PATH_MAX];
    if (sisa_files_open(&f, dir, "journal", 0) == SISA_OK) {
        for (size_t i = 0; i < f.n; i++)
            if (sisa_path_resolve(path, sizeof path, dir, f.e[i].name) == 0)
                sisa_fs_remove_quiet(path);
        sisa_files_close(&f);
    }
    sisa_error_clear();
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (sisa_fs_is_tmp_name(de->d_name) &&
                sisa_path_resolve(path, sizeof path, dir, de->d_name) == 0)
                sisa_fs_remove_quiet(path);
        closedir(d);
    }
    if (sisa_path_resolve(path, sizeof path, dir, "journal") == 0) sisa_fs_remove_quiet(path);
}

/* A new store's first commit: its folder, the lock, shards/ and the journal with the salt. What
 * this run made is removed again if it cannot finish, so a failed creation leaves nothing. */
static int create_store(sisa_store *st, int folder_existed)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], shards[SISA_PATH_MAX];
    sisa_files files = {0};
    int made_root = 0, made_shards = 0;
    int mine = 0; /* the folder was empty under this run's lock: what is in it is this run's */
    SISA_TRY(sisa_path_resolve(shards, sizeof shards, st->root, "shards"));
    if (!folder_existed) {
        char parent[SISA_PATH_MAX];
        SISA_TRY(sisa_path_dirname(parent, sizeof parent, st->root));
        SISA_TRY(sisa_fs_mkdir_p(parent));
        if (mkdir(st->root, 0700) == 0) {
            made_root = 1;
            SISA_TRY(sisa_fs_fsync_parent(st->root));
        } else {
            SISA_CHECK(errno == EEXIST, SISA_EIO, "cannot create store folder %s: %s", st->root,
                       strerror(errno));
        }
    }
    SISA_TRY(take_lock(st, 0));
    /* Another process may have created the store between the probe and the lock. */
    sisa_folder_kind kind;
    SISA_TRY(sisa_store_probe(st->root, &kind, NULL, 0));
    SISA_CHECK(kind == SISA_FOLDER_EMPTY, SISA_EBUSY,
               "store %s was created by another process meanwhile; run the command again",
               st->root);
    mine = 1;
    if (mkdir(shards, 0700) == 0)
        made_shards = 1;
    else
        SISA_CHECK(errno == EEXIST, SISA_EIO, "cannot create folder %s: %s", shards,
                   strerror(errno));
    SISA_TRY(sisa_files_open(&files, st->root, "journal", 1));
    SISA_TRY(load_salt(st, &files, 1));
    SISA_TRY(random_hex(st->store_id, 16));
    SISA_TRY(sisa_fs_fsync_parent(shards));
    st->created = made_root ? 2 : 1;
done:
    sisa_files_close(&files);
    if (err < 0 && !st->created) {
        /* Only what this run made, from a folder it found empty under its lock: the journal,
         * salt and temp files of a commit that failed, the lock, shards/ and the folder. */
        int saved = err;
        char *msg = sisa_strdup(sisa_error_message());
        if (mine) {
            discard_folder(st->root);
            if (sisa_path_resolve(path, sizeof path, st->root, "salt") == 0)
                sisa_fs_remove_quiet(path);
        }
        if (made_shards) (void)rmdir(shards);
        if (mine && sisa_path_resolve(path, sizeof path, st->root, "lock") == 0)
            sisa_fs_remove_quiet(path);
        if (made_root) (void)rmdir(st->root);
        sisa_store_close(st);
        SISA_ERR(saved, "%s", msg ? msg : "(out of memory)");
        sisa_free(msg);
        err = saved;
    }
    return err;
}

/* The ledger against the journal's certified requests: a cut, lost or rewritten ledger is
 * damage, found by every command that opens the store (not only by sisa audit). */
static int check_ledger(sisa_store *st, const sisa_files *files)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    sisa_request_summary sum;
    sisa_ledger_info li;
    size_t torn = 0;
    SISA_TRY(sisa_request_summarise(&files->j, &sum));
    st->requests = sum.requests;
    st->certified = sum.certified;
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "ledger"));
    const int exists = sisa_fs_exists(path);
    SISA_CHECK(exists || sum.certified == 0, SISA_ECORRUPT,
               "%s is missing, but the journal certifies %llu deletion request(s) in it. The "
               "store is damaged; run 'sisa repair -c %s' to rebuild the ledger from the "
               "journal",
               path, (unsigned long long)sum.certified, st->cfg.source);
    err = sisa_ledger_read(path, &li, &torn);
    if (err < 0) {
        sisa_error_prefix("the store's ledger is damaged (run 'sisa repair -c %s')",
                          st->cfg.source);
        goto done;
    }
    /* One record more than certified: the crash window between appending the record of the
     * newest request and journaling it as certified (the next writer completes it). A torn last
     * line is that same record being written (or cut by a crash while written). */
    const int appending = sum.latest_state == SISA_REQ_PUBLISHED;
    SISA_CHECK(li.records == sum.certified || (appending && li.records == sum.certified + 1),
               SISA_ECORRUPT,
               "%s holds %llu record(s), but the journal certifies %llu deletion request(s): the "
               "ledger was %s. The store is damaged; run 'sisa repair -c %s'",
               path, (unsigned long long)li.records, (unsigned long long)sum.certified,
               li.records < sum.certified ? "cut or replaced" : "extended outside sisa",
               st->cfg.source);
    SISA_CHECK(li.records != sum.certified || sum.certified == 0 ||
                   !strcmp(li.head, sum.certified_head),
               SISA_ECORRUPT,
               "%s does not end with the record the journal certified (head %.16s..., the "
               "journal has %.16s...): the ledger was rewritten. The store is damaged; run "
               "'sisa repair -c %s'",
               path, li.head, sum.certified_head, st->cfg.source);
    SISA_CHECK(torn == 0 || (appending && li.records == sum.certified), SISA_ECORRUPT,
               "%s: the last record is incomplete (no final newline), and it is not the record "
               "of an unfinished request: the ledger was cut or edited. Run 'sisa repair -c %s'",
               path, st->cfg.source);
done:
    return err;
}

/* Evidence that a store whose journal commits no manifest was trained before (the journal was
 * cut or replaced): then it is damaged, not new, and must never be partitioned again. */
static int untrained_or_damaged(const sisa_store *st, const sisa_files *files)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    sisa_request_summary sum;
    SISA_TRY(sisa_request_summarise(&files->j, &sum));
    SISA_CHECK(sum.requests == 0, SISA_ECORRUPT,
               "%s/journal records %llu deletion request(s) but commits no manifest: the "
               "journal was cut or replaced. The store is damaged; run 'sisa repair -c %s'",
               st->root, (unsigned long long)sum.requests, st->cfg.source);
    const char *const evidence[] = {"manifest", "ledger", NULL};
    for (size_t i = 0; evidence[i]; i++) {
        SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, evidence[i]));
        SISA_CHECK(!sisa_fs_exists(path), SISA_ECORRUPT,
                   "%s exists, but %s/journal does not commit it: the journal was cut or "
                   "replaced. The store is damaged; run 'sisa repair -c %s'",
                   path, st->root, st->cfg.source);
    }
done:
    return err;
}

int sisa_store_open(sisa_store *st, const sisa_config *cfg, sisa_store_mode mode,
                    double wait_seconds)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], *text = NULL, detail[1200];
    size_t len = 0;
    sisa_files files = {0};
    sisa_folder_kind kind;
    memset(st, 0, sizeof *st);
    st->lock_fd = -1;
    st->cfg = *cfg;
    const char *src = cfg->source[0] ? cfg->source : "CONFIG";
    SISA_CHECK(sisa_strlcpy(st->root, cfg->store, sizeof st->root) == 0, SISA_EUSAGE,
               "store path too long");
    sisa_config_hash(cfg, st->config_hash);
    sisa_store_context(st->context, sizeof st->context);
    SISA_TRY(sisa_path_physical(st->physical, sizeof st->physical, st->root));

    SISA_TRY(sisa_store_probe(st->root, &kind, detail, sizeof detail));
    switch (kind) {
    case SISA_FOLDER_MISSING:
    case SISA_FOLDER_EMPTY:
        SISA_CHECK(mode == SISA_STORE_CREATE, SISA_EUSAGE,
                   "%s is not a sisa store yet (%s); run 'sisa train -c %s' first", st->root,
                   kind == SISA_FOLDER_MISSING ? "no such folder" : "the folder is empty", src);
        SISA_TRY(create_store(st, kind == SISA_FOLDER_EMPTY));
        break;
    case SISA_FOLDER_FOREIGN:
        SISA_FAIL(SISA_ECONFIG,
                  "%s: store %s is not a sisa store: %s. sisa creates a store only in a missing "
                  "or empty folder and never removes files it did not write; set 'store:' to a "
                  "new folder",
                  src, st->root, detail);
    case SISA_FOLDER_DAMAGED:
        SISA_FAIL(SISA_ECORRUPT,
                  "store %s is damaged: %s (%s/journal is missing). Nothing was changed; run "
                  "'sisa repair -c %s' to see what can be rebuilt",
                  st->root, detail, st->root, src);
    case SISA_FOLDER_STORE:
        if (mode == SISA_STORE_WRITE || mode == SISA_STORE_CREATE)
            SISA_TRY(take_lock(st, wait_seconds));
        break;
    }
    st->exclusive = mode == SISA_STORE_WRITE || mode == SISA_STORE_CREATE;

    SISA_TRY(sisa_store_files(st, &files, st->exclusive));
    if (st->exclusive) SISA_TRY(sisa_files_repair(&files, store_keep));
    SISA_TRY(load_salt(st, &files, 0));
    if (sisa_files_has(&files, "manifest")) {
        SISA_CHECK(st->has_salt, SISA_ECORRUPT,
                   "%s/journal commits a manifest but no salt: the store is damaged; run 'sisa "
                   "repair -c %s'",
                   st->root, src);
        err = sisa_files_locate(&files, "manifest", path, sizeof path);
        if (err < 0) {
            sisa_error_prefix("store %s is damaged (run 'sisa repair -c %s')", st->root, src);
            goto done;
        }
        SISA_TRY(sisa_fs_read_all(&text, &len, path, 1 << 16));
        SISA_TRY(parse_manifest(&st->man, text, path));
        st->has_manifest = 1;
        memcpy(st->store_id, st->man.store_id, 33);
        st->moved = st->man.location[0] && strcmp(st->man.location, st->physical) != 0;
        if (strcmp(st->man.config_hash, st->config_hash) != 0) {
            char changed[512];
            describe_config_change(st, changed, sizeof changed);
            SISA_FAIL(SISA_ECONFIG,
                      "%s: store %s was trained with another configuration (config hash %.12s, "
                      "this file has %.12s%s%s); use the original config or a new store",
                      cfg->source, st->root, st->man.config_hash, st->config_hash,
                      changed[0] ? "; changed: " : "", changed);
        }
        err = check_ledger(st, &files);
        if (err == SISA_ECORRUPT && mode == SISA_STORE_INSPECT) {
            snprintf(st->damage, sizeof st->damage, "%s", sisa_error_message());
            sisa_error_clear();
            err = SISA_OK;
        }
        SISA_TRY(err);
    } else {
        SISA_TRY(untrained_or_damaged(st, &files));
        SISA_CHECK(mode == SISA_STORE_CREATE, SISA_EUSAGE,
                   "store %s is not trained yet (its first 'sisa train' did not finish); run "
                   "'sisa train -c %s'",
                   st->root, src);
        /* A first training that stopped before its salt was committed. */
        if (!st->has_salt) SISA_TRY(load_salt(st, &files, 1));
    }
done:
    sisa_files_close(&files);
    sisa_free(text);
    if (err < 0) sisa_store_close(st);
    return err;
}

void sisa_store_discard_new(sisa_store *st)
{
    char path[SISA_PATH_MAX];
    if (!st->created || st->has_manifest) return;
    /* The error that brought us here stays the one reported. */
    const int code = sisa_error_code();
    char *msg = sisa_strdup(sisa_error_message());
    for (uint32_t k = 0; k < (uint32_t)st->cfg.sisa.shards; k++) {
        if (sisa_store_shard_dir(st, k, path, sizeof path) < 0) break;
        discard_folder(path);
        (void)rmdir(path);
    }
    discard_folder(st->root);
    /* Every rank's activity files too (the others remove theirs quietly when they close). */
    activity_end(st);
    DIR *dir = opendir(st->root);
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL)
            if (!strncmp(de->d_name, SISA_ACTIVITY_FILE, strlen(SISA_ACTIVITY_FILE)) &&
                sisa_path_resolve(path, sizeof path, st->root, de->d_name) == 0)
                sisa_fs_remove_quiet(path);
        closedir(dir);
    }
    const char *const rest[] = {"salt", "lock", NULL};
    for (size_t i = 0; rest[i]; i++)
        if (sisa_path_resolve(path, sizeof path, st->root, rest[i]) == 0)
            sisa_fs_remove_quiet(path);
    if (sisa_path_resolve(path, sizeof path, st->root, "shards") == 0) (void)rmdir(path);
    if (st->created == 2) (void)rmdir(st->root);
    (void)sisa_fs_fsync_parent(st->root);
    sisa_error_clear();
    if (code) SISA_ERR(code, "%s", msg ? msg : "(out of memory)");
    sisa_free(msg);
}

/* ---- files that are not sisa's -------------------------------------------------------------- */

static void list_add(char *out, size_t cap, size_t *count, const char *rel)
{
    size_t used = strlen(out);
    if (*count < 10)
        snprintf(out + used, cap - used, "%s%s", *count ? ", " : "", rel);
    else if (*count == 10)
        snprintf(out + used, cap - used, ", ...");
    (*count)++;
}

int sisa_store_foreign(const sisa_store *st, char *out, size_t cap, size_t *count)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], rel[SISA_PATH_MAX], names[1024];
    DIR *d = NULL;
    sisa_files f = {0};
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    *count = 0;
    out[0] = '\0';
    d = opendir(st->root);
    SISA_CHECK(d, SISA_EIO, "cannot list store folder %s: %s", st->root, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            !sisa_store_is_own_name(de->d_name))
            list_add(out, cap, count, de->d_name);
    closedir(d);
    d = NULL;
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "shards"));
    d = opendir(path);
    while (d && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        char *end = NULL;
        unsigned long k = strtoul(n, &end, 10);
        if (strlen(n) == 4 && end && !*end && k < S) continue; /* a shard folder: below */
        snprintf(rel, sizeof rel, "shards/%s", n);
        list_add(out, cap, count, rel);
    }
    if (d) closedir(d);
    d = NULL;
    for (uint32_t k = 0; k < S; k++) {
        size_t n = 0;
        SISA_TRY(sisa_store_shard_dir(st, k, path, sizeof path));
        if (!sisa_fs_exists(path)) continue;
        SISA_TRY(sisa_files_open(&f, path, "journal", 0));
        SISA_TRY(sisa_files_foreign(&f, NULL, names, sizeof names, &n));
        sisa_files_close(&f);
        for (char *save = NULL, *tok = strtok_r(names, ",", &save); tok && n;
             tok = strtok_r(NULL, ",", &save)) {
            tok += strspn(tok, " ");
            if (!strcmp(tok, "...")) continue;
            SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, tok));
            list_add(out, cap, count, rel);
        }
    }
done:
    if (d) closedir(d);
    sisa_files_close(&f);
    return err;
}

/* ---- activity ------------------------------------------------------------------------------ */

static void utc_now(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Replace `name` in the store folder with `text` (write, rename; no fsync: see store.h). */
static int write_activity(const sisa_store *st, const char *name, const char *text)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX] = "";
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, name));
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    int fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    SISA_CHECK(n == (ssize_t)len, SISA_EIO, "cannot write %s: %s", tmp,
               n < 0 ? strerror(saved) : "short write");
    SISA_CHECK(rename(tmp, path) == 0, SISA_EIO, "cannot rename %s to %s: %s", tmp, path,
               strerror(errno));
    tmp[0] = '\0';
done:
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    return err;
}

int sisa_store_activity_begin(sisa_store *st, const char *command, int rank, int ranks)
{
    int err = SISA_OK;
    char host[256] = "", started[32], text[1024], name[SISA_PATH_MAX];
    sisa_jw w;
    sisa_jw_init(&w);
    if (gethostname(host, sizeof host) != 0) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    utc_now(started, sizeof started);
    st->activity_on = 1;
    st->activity_rank = rank;
    if (rank == 0) {
        /* What a writer that died left (its ranks' files too): this writer replaces it. */
        DIR *d = opendir(st->root);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, SISA_ACTIVITY_FILE "-", strlen(SISA_ACTIVITY_FILE) + 1))
                continue;
            if (sisa_path_resolve(name, sizeof name, st->root, de->d_name) == 0)
                sisa_fs_remove_quiet(name);
        }
        if (d) closedir(d);
        sisa_jw_raw(&w, "{");
        sisa_jw_key(&w, "command", 1);
        sisa_jw_str(&w, command);
        sisa_jw_key(&w, "pid", 0);
        sisa_jw_u64(&w, (uint64_t)getpid());
        sisa_jw_key(&w, "host", 0);
        sisa_jw_str(&w, host);
        sisa_jw_key(&w, "started", 0);
        sisa_jw_str(&w, started);
        sisa_jw_key(&w, "ranks", 0);
        sisa_jw_u64(&w, (uint64_t)ranks);
        sisa_jw_raw(&w, "}\n");
        SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
        SISA_TRY(write_activity(st, SISA_ACTIVITY_FILE, w.buf));
    }
    snprintf(name, sizeof name, "%s-%d", SISA_ACTIVITY_FILE, rank);
    snprintf(text, sizeof text, "{\"rank\": %d, \"pid\": %ld, \"since\": \"%s\"}\n", rank,
             (long)getpid(), started);
    SISA_TRY(write_activity(st, name, text));
done:
    sisa_jw_free(&w);
    return err;
}

int sisa_store_activity_stage(const sisa_store *st, uint32_t shard, uint32_t stage)
{
    char since[32], text[256], name[64];
    if (!st->activity_on) return SISA_OK;
    utc_now(since, sizeof since);
    snprintf(name, sizeof name, "%s-%d", SISA_ACTIVITY_FILE, st->activity_rank);
    snprintf(text, sizeof text,
             "{\"rank\": %d, \"pid\": %ld, \"shard\": %u, \"stage\": %u, \"stages\": %d, "
             "\"since\": \"%s\"}\n",
             st->activity_rank, (long)getpid(), shard, stage, st->cfg.sisa.slices, since);
    /* A write that fails here (a full disk) would fail the stage's checkpoint next: it is an
     * error like any other. */
    return write_activity(st, name, text);
}

void sisa_store_close(sisa_store *st)
{
    activity_end(st);
    if (st->lock_fd >= 0) close(st->lock_fd); /* releases both locks */
    st->lock_fd = -1;
}

int sisa_store_check_location(sisa_store *st, int accept)
{
    int err = SISA_OK;
    if (!st->moved) return SISA_OK;
    const char *env = getenv("SISA_IGNORE_STORE_LOCATION");
    if (env && !strcmp(env, "1")) return SISA_OK;
    /* Is the recorded location still a store with this ID? Then this one is a copy. */
    sisa_manifest other;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    int copy = 0;
    if (sisa_path_resolve(path, sizeof path, st->man.location, "manifest") == 0 &&
        sisa_fs_read_all(&text, &len, path, 1 << 16) == 0 &&
        parse_manifest(&other, text, path) == 0)
        copy = !strcmp(other.store_id, st->man.store_id);
    sisa_error_clear();
    sisa_free(text);
    if (!st->exclusive) {
        sisa_warn("store %s (ID %.12s) was made at %s: it was %s; reading it is safe, but a "
                  "deletion must be made in the store that is used",
                  st->root, st->man.store_id, st->man.location,
                  copy ? "copied (the original is still there)" : "moved");
        return SISA_OK;
    }
    SISA_CHECK(accept, SISA_EUSAGE,
               "store %s (ID %.12s) was made at %s, %s: a deletion made here would not reach "
               "the %s. If it was moved on purpose, run the command again with --accept-move "
               "to record its new location; if it is a copy you mean to use as a store of its "
               "own, remove the original first (or train a new store)",
               st->physical, st->man.store_id, st->man.location,
               copy ? "which still holds a store with the same ID: this is a copy"
                    : "so it was moved or copied",
               copy ? "original" : "store at the old location, if it still exists");
    sisa_info("store %s (ID %.12s) was made at %s; recording its new location", st->physical,
              st->man.store_id, st->man.location);
    snprintf(st->man.location, sizeof st->man.location, "%s", st->physical);
    SISA_TRY(sisa_store_write_manifest(st));
    st->moved = 0;
done:
    return err;
}

int sisa_store_check_context(const sisa_store *st)
{
    if (!st->has_manifest || strcmp(st->man.context, st->context) == 0) return SISA_OK;
    return SISA_ERR(
        SISA_EUSAGE,
        "store %s was trained under another determinism context, so continuing it here would "
        "not reproduce its bits.\n  store: %s\n  here:  %s\nUse the same sisa build and OpenBLAS "
        "core (OPENBLAS_CORETYPE), or train a new store",
        st->root, st->man.context, st->context);
}
