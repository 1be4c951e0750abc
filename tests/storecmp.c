/*
 * storecmp.c - see storecmp.h.
 */
#include "storecmp.h"

#include "testutil.h"

#include "base/sha256.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void sc_join(char *out, size_t cap, const char *a, const char *b)
{
    if (snprintf(out, cap, "%s/%s", a, b) >= (int)cap) fail_msg("path too long: %s/%s", a, b);
}

void sc_add_word(char *buf, size_t cap, const char *text)
{
    size_t used = strlen(buf);
    if (snprintf(buf + used, cap - used, " %s", text) < 0) buf[used] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int sc_list_names(const char *path, char (*names)[256], int max, const char *skip)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (skip && !strcmp(e->d_name, skip)) continue;
        if (n == max) fail_msg("more than %d entries in %s", max, path);
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 256, cmp_str);
    return n;
}

void sc_check_no_tmp(const char *root, const char *what)
{
    char names[64][256];
    int n = sc_list_names(root, names, 64, NULL);
    for (int i = 0; i < n; i++) {
        char path[4400];
        sc_join(path, sizeof path, root, names[i]);
        if (strstr(names[i], ".sisa-tmp-")) fail_msg("%s: temp file left behind: %s", what, path);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) sc_check_no_tmp(path, what);
    }
}

void sc_same_bytes(const char *a, const char *b, const char *what)
{
    char ha[65], hb[65];
    if (!tu_exists(a) || !tu_exists(b))
        fail_msg("%s: %s %s, %s %s", what, a, tu_exists(a) ? "exists" : "is missing", b,
                 tu_exists(b) ? "exists" : "is missing");
    tu_sha_file(a, ha);
    tu_sha_file(b, hb);
    if (strcmp(ha, hb) != 0) fail_msg("%s: %s differs from %s", what, a, b);
}

static void hash_id(const uint8_t salt[32], uint64_t id, char hex[65])
{
    uint8_t le[8], d[32];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(id >> (8 * i));
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    sisa_sha256_update(&h, "sisa-id-v1", 10);
    sisa_sha256_update(&h, salt, 32);
    sisa_sha256_update(&h, le, 8);
    sisa_sha256_final(&h, d);
    sisa_hex(hex, d, 32);
}

/* Remove `"key": value` (value up to `end_char`, inclusive) from `line`, returning the value's
 * text in `value` (without the delimiters). 0 when the key is absent. */
static int cut_member(char *line, const char *key, char open_char, char end_char, char *value,
                      size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": %c", key, open_char);
    char *k = strstr(line, pat);
    if (!k) return 0;
    char *v = k + strlen(pat);
    char *end = strchr(v, end_char);
    if (!end) return 0;
    snprintf(value, cap, "%.*s", (int)(end - v), v);
    char *from = k, *to = end + 1;
    if (from >= line + 2 && from[-2] == ',' && from[-1] == ' ')
        from -= 2;
    else if (to[0] == ',' && to[1] == ' ')
        to += 2;
    memmove(from, to, strlen(to) + 1);
    return 1;
}

/* The ledger of `store` with every record's "time" removed and its "ids" checked to be the
 * salted hashes of the deleted IDs under the store's own salt (sorted, as sisa writes them),
 * then removed. Caller frees. */
static char *ledger_normal(const char *store, const uint64_t *ids, int n_ids, const char *what)
{
    char path[2400];
    snprintf(path, sizeof path, "%s/ledger", store);
    if (!tu_exists(path)) return strdup("(no ledger)");
    char *text = tu_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/salt", store);
    char *salt_hex = tu_read_file(path, NULL);
    uint8_t salt[32];
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(salt_hex + 2 * i, "%2x", &v) != 1) fail_msg("%s: bad salt %s", what, path);
        salt[i] = (uint8_t)v;
    }
    free(salt_hex);
    if (n_ids < 1 || n_ids > 8) fail_msg("%s: %d deleted IDs (1 to 8 are compared)", what, n_ids);
    char h[8][256], want[8 * 70], got[1024], tmp[64];
    for (int i = 0; i < n_ids; i++) hash_id(salt, ids[i], h[i]);
    qsort(h, (size_t)n_ids, sizeof h[0], cmp_str);
    want[0] = '\0';
    for (int i = 0; i < n_ids; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"%s\"", i ? ", " : "", h[i]);
    if (!cut_member(text, "time", '"', '"', tmp, sizeof tmp))
        fail_msg("%s: %s/ledger has no time", what, store);
    if (!cut_member(text, "ids", '[', ']', got, sizeof got) || strcmp(got, want) != 0)
        fail_msg("%s: %s/ledger names the rows [%s], want [%s]", what, store, got, want);
    return text;
}

/* A manifest without the store's identity (store_id, location): each store has its own. */
static char *manifest_normal(const char *path)
{
    char *text = tu_read_file(path, NULL), *out = calloc(1, strlen(text) + 1);
    assert_non_null(out);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "store_id: ", 10) || !strncmp(line, "location: ", 10)) continue;
        strcat(out, line);
        strcat(out, "\n");
    }
    free(text);
    return out;
}

void sc_compare_store(const char *store, const char *ref, int shards, const uint64_t *ids,
                      int n_ids, const char *what)
{
    char a[2400], b[2400];
    snprintf(a, sizeof a, "%s", store);
    snprintf(b, sizeof b, "%s", ref);
    sc_check_no_tmp(a, what);
    char names[16][256], rnames[16][256];
    /* timing: the measured training speed, advisory (its values are not reproducible) */
    static const char *const allowed[] = {"config.yaml", "journal", "ledger", "lock",
                                          "manifest",    "salt",    "shards", "timing"};
    int n = sc_list_names(a, names, 16, NULL);
    for (int i = 0; i < n; i++) {
        int ok = 0;
        for (size_t j = 0; j < sizeof allowed / sizeof *allowed; j++)
            ok |= !strcmp(names[i], allowed[j]);
        if (!ok) fail_msg("%s: unexpected file %s/%s", what, a, names[i]);
    }
    for (int k = 0; k < shards; k++) {
        char da[2500], db[2500];
        snprintf(da, sizeof da, "%s/shards/%04d", a, k);
        snprintf(db, sizeof db, "%s/shards/%04d", b, k);
        int na = sc_list_names(da, names, 16, "journal"),
            nb = sc_list_names(db, rnames, 16, "journal");
        int same = na == nb;
        for (int i = 0; same && i < na; i++) same = !strcmp(names[i], rnames[i]);
        if (!same) {
            char la[1024] = "", lb[1024] = "";
            for (int i = 0; i < na; i++) sc_add_word(la, sizeof la, names[i]);
            for (int i = 0; i < nb; i++) sc_add_word(lb, sizeof lb, rnames[i]);
            fail_msg("%s: shard %d holds [%s ], the reference [%s ]", what, k, la, lb);
        }
        for (int i = 0; i < na; i++) {
            char fa[2800], fb[2800];
            sc_join(fa, sizeof fa, da, names[i]);
            sc_join(fb, sizeof fb, db, names[i]);
            sc_same_bytes(fa, fb, what);
        }
    }
    snprintf(a + strlen(a), sizeof a - strlen(a), "/manifest");
    snprintf(b + strlen(b), sizeof b - strlen(b), "/manifest");
    char *ma = manifest_normal(a), *mb = manifest_normal(b);
    if (strcmp(ma, mb) != 0) fail_msg("%s: %s\n%s\ndiffers from %s\n%s", what, a, ma, b, mb);
    free(ma);
    free(mb);
    char *la = ledger_normal(store, ids, n_ids, what), *lb = ledger_normal(ref, ids, n_ids, what);
    if (strcmp(la, lb) != 0)
        fail_msg("%s: ledger\n%s\ndiffers from the reference's\n%s", what, la, lb);
    free(la);
    free(lb);
}

int sc_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *sid, char *comm, size_t cap)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren) return 0;
    snprintf(comm, cap, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    long pp = 0, pg = 0, ss = 0;
    if (sscanf(close_paren + 2, "%c %ld %ld %ld", state, &pp, &pg, &ss) != 4) return 0;
    *ppid = (pid_t)pp;
    *sid = (pid_t)ss;
    return 1;
}

int sc_session_members(pid_t sid, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end) continue;
        char st, comm[64];
        pid_t pp, ss;
        if (!sc_proc_stat((pid_t)pid, &st, &pp, &ss, comm, sizeof comm)) continue;
        if (ss == sid && st != 'Z' && n < max) pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}
