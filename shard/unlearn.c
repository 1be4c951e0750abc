/*
 * unlearn.c - see unlearn.h.
 */
#include "shard/unlearn.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/strutil.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "shard/train.h"
#include "shard/verify.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        uint64_t *nv = sisa_realloc(*v, ncap * sizeof *nv);
        if (!nv) return SISA_ERR(SISA_ENOMEM, "out of memory");
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = x;
    return SISA_OK;
}

int sisa_unlearn_parse_list(uint64_t **out, size_t *n, const char *list, const char *what)
{
    int err = SISA_OK;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    char *copy = sisa_strdup(list);
    SISA_CHECK(copy, SISA_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t x;
        SISA_CHECK(sisa_parse_u64(tok, &x) == SISA_PARSE_OK, SISA_EUSAGE,
                   "'%s' is not a %s (a non-negative integer)", tok, what);
        SISA_TRY(push(&v, &cnt, &cap, x));
    }
    SISA_CHECK(cnt > 0, SISA_EUSAGE, "no %s given", what);
    *out = v;
    *n = cnt;
    v = NULL;
done:
    sisa_free(copy);
    sisa_free(v);
    return err;
}

int sisa_unlearn_parse_file(uint64_t **out, size_t *n, const char *path, const char *what)
{
    int err = SISA_OK;
    size_t len = 0;
    char *text = NULL;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
    err = sisa_unlearn_parse_text(out, n, text, len, path, what);
done:
    sisa_free(text);
    return err;
}

int sisa_unlearn_parse_text(uint64_t **out, size_t *n, char *text, size_t len, const char *path,
                            const char *what)
{
    int err = SISA_OK;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    SISA_CHECK(strlen(text) == len, SISA_EUSAGE, "%s: contains a NUL byte", path);
    int lineno = 0;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        char *tok = line + strspn(line, " \t");
        if (*tok) {
            uint64_t x;
            SISA_CHECK(sisa_parse_u64(tok, &x) == SISA_PARSE_OK, SISA_EUSAGE,
                       "%s:%d: '%s' is not a sample ID (one non-negative integer per line)", path,
                       lineno, tok);
            SISA_TRY(push(&v, &cnt, &cap, x));
        }
        line = next;
    }
    SISA_CHECK(cnt > 0, SISA_EUSAGE, "%s: no %ss in the file", path, what);
    *out = v;
    *n = cnt;
    v = NULL;
done:
    sisa_free(v);
    return err;
}

static void sort_unique(uint64_t *v, size_t *n)
{
    qsort(v, *n, sizeof *v, cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (m == 0 || v[i] != v[m - 1]) v[m++] = v[i];
    *n = m;
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* "N of the M requested WHATs are not in store S: a, b, c and K more" */
static int reject_unknown(const sisa_store *st, const uint64_t *v, const unsigned char *found,
                          size_t n, const char *what)
{
    size_t unknown = 0;
    for (size_t i = 0; i < n; i++) unknown += !found[i];
    if (!unknown) return SISA_OK;
    char list[512];
    size_t used = 0, shown = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used + 24 < sizeof list && shown < 20; i++) {
        if (found[i]) continue;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%llu", shown ? ", " : "",
                                 (unsigned long long)v[i]);
        shown++;
    }
    if (shown < unknown)
        snprintf(list + used, sizeof list - used, " and %zu more", unknown - shown);
    return SISA_ERR(SISA_EREJECT,
                    "%zu of the %zu requested %ss %s not in store %s: %s. Nothing was "
                    "changed",
                    unknown, n, what, unknown == 1 ? "is" : "are", st->root, list);
}

/* IDs and groups not in the store that certified requests deleted (the ledger holds their
 * salted hashes) are known, not unknown: asking again to delete them is not an error. */
static int mark_already_deleted(sisa_request *r, const sisa_store *st, const uint64_t *ids,
                                unsigned char *id_found, size_t n_ids, const uint64_t *groups,
                                unsigned char *group_found, size_t n_groups)
{
    int err = SISA_OK;
    sisa_deletions del = {0};
    char path[SISA_PATH_MAX];
    size_t missing = 0;
    for (size_t i = 0; i < n_ids; i++) missing += !id_found[i];
    for (size_t i = 0; i < n_groups; i++) missing += !group_found[i];
    if (!missing) return SISA_OK;
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "ledger"));
    if (!sisa_fs_exists(path)) goto done;
    SISA_TRY(sisa_deletions_read(&del, path, (uint32_t)st->cfg.sisa.shards));
    for (size_t i = 0; i < n_ids; i++) {
        uint8_t h[32];
        if (id_found[i]) continue;
        sisa_store_hash_id(st, ids[i], h);
        if (!sisa_deletions_has(&del, h)) continue;
        id_found[i] = 1;
        r->already_ids++;
    }
    for (size_t i = 0; i < n_groups; i++) {
        uint8_t h[32];
        if (group_found[i]) continue;
        sisa_store_hash_group(st, groups[i], h);
        if (!del.n_groups || !bsearch(h, del.groups, del.n_groups, 32, cmp_hash)) continue;
        group_found[i] = 1;
        r->already_groups++;
    }
done:
    sisa_deletions_free(&del);
    return err;
}

/* Only the shards that can hold a requested row are read: a row's shard is a keyed hash of its
 * ID (sharding: id) or of its group (sharding: group), so an ID under sharding by ID, or a group
 * under sharding by group, names its one shard (under tiered sharding, one shard per tier: the
 * tier is the dataset's, not the request's). The other combinations are looked up in every
 * shard. */
static void plan_candidates(const sisa_store *st, const uint64_t *ids, size_t n_ids,
                            const uint64_t *groups, size_t n_groups, unsigned char *candidate)
{
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    const int by_group = sisa_config_by_group(&st->cfg);
    if ((by_group && n_ids) || (!by_group && n_groups)) {
        memset(candidate, 1, S);
        return;
    }
    for (size_t i = 0; i < n_ids; i++) sisa_partition_candidates(&st->cfg, ids[i], candidate);
    for (size_t i = 0; i < n_groups; i++) sisa_partition_candidates(&st->cfg, groups[i], candidate);
}

/* What a plan looks up (sorted, unique) and what it found so far. */
typedef struct {
    const uint64_t *ids, *groups;
    size_t n_ids, n_groups;
    unsigned char *id_found, *group_found;
    uint64_t *rows_ids; /* the IDs of the rows found, in shard order */
    size_t n_rows, cap_rows;
    char (*lineage)[65]; /* (R) scratch */
} plan_lookup;

/* Shard k: its requested rows (into L), and its part of the plan when it has any. */
static int plan_shard(sisa_request *r, const sisa_store *st, uint32_t k, plan_lookup *L)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_data *idx = NULL;
    sisa_files files = {0};
    SISA_TRY(sisa_shard_files(st, k, &files, 0));
    SISA_CHECK(sisa_files_has(&files, SISA_SHARD_DATA), SISA_EUSAGE,
               "shard %u has no data file: the store is not fully trained; run sisa train "
               "first",
               k);
    SISA_TRY(sisa_shard_read_data(st, &files, k, 0, &idx));
    SISA_CHECK(!L->n_groups || idx->group || idx->n == 0, SISA_EUSAGE,
               "--groups needs a group column, and store %s was built from a dataset "
               "without one (import it with --group COLUMN)",
               st->root);
    uint32_t first = 0;
    uint64_t rows = 0;
    uint64_t in_slice[256] = {0}, gone[256] = {0}; /* rows, and deleted rows, per slice */
    SISA_CHECK(R <= 256, SISA_EINTERNAL, "more than 256 slices");
    for (uint64_t i = 0; i < idx->n; i++) {
        if ((uint32_t)idx->slice[i] < R) in_slice[idx->slice[i]]++;
        const uint64_t *hit =
            L->n_ids ? bsearch(&idx->id[i], L->ids, L->n_ids, sizeof *L->ids, cmp_u64) : NULL;
        const uint64_t *ghit = L->n_groups ? bsearch(&idx->group[i], L->groups, L->n_groups,
                                                     sizeof *L->groups, cmp_u64)
                                           : NULL;
        if (!hit && !ghit) continue;
        if (hit) L->id_found[hit - L->ids] = 1;
        if (ghit) L->group_found[ghit - L->groups] = 1;
        uint32_t stage = (uint32_t)idx->slice[i] + 1;
        if (!first || stage < first) first = stage;
        if (stage <= R) gone[stage - 1]++;
        rows++;
        if (L->n_rows == L->cap_rows) {
            L->cap_rows = L->cap_rows ? L->cap_rows * 2 : 256;
            uint64_t *nr = sisa_realloc(L->rows_ids, L->cap_rows * sizeof *nr);
            SISA_CHECK(nr, SISA_ENOMEM, "out of memory");
            L->rows_ids = nr;
        }
        L->rows_ids[L->n_rows++] = idx->id[i];
    }
    if (rows) {
        sisa_req_shard *q = &r->shards[r->n_shards++];
        q->shard = k;
        q->first_stage = first;
        q->rows = rows;
        /* exactly the sample visits of retraining stages first..R on the rows that remain */
        uint64_t stage_rows = 0;
        q->cost = 0;
        for (uint32_t s = 1; s <= R; s++) {
            stage_rows += in_slice[s - 1] - gone[s - 1];
            if (s >= first)
                q->cost += sisa_stage_visits(stage_rows, (uint32_t)sisa_config_epochs(&st->cfg), R);
        }
        SISA_TRY(sisa_shard_lineages(idx, R, L->lineage));
        memcpy(q->lineage_before, L->lineage[R - 1], 65);
        char name[32];
        sisa_ckpt_name(name, sizeof name, R);
        const char *h = sisa_files_hash(&files, name);
        snprintf(q->model_before, sizeof q->model_before, "%s", h ? h : "");
    }
done:
    sisa_shard_data_free(idx);
    sisa_files_close(&files);
    return err;
}

/* From here on rows are named only by salted hashes: the request's sorted ID and group hashes. */
static int plan_hash_rows(sisa_request *r, const sisa_store *st, const plan_lookup *L)
{
    int err = SISA_OK;
    const size_t n_rows = L->n_rows, n_groups = L->n_groups;
    r->rows = n_rows;
    r->n_ids = n_rows;
    r->ids = sisa_malloc((n_rows ? n_rows : 1) * 32);
    r->n_groups = n_groups;
    r->groups = sisa_malloc((n_groups ? n_groups : 1) * 32);
    SISA_CHECK(r->ids && r->groups, SISA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_rows; i++) sisa_store_hash_id(st, L->rows_ids[i], r->ids[i]);
    for (size_t i = 0; i < n_groups; i++) sisa_store_hash_group(st, L->groups[i], r->groups[i]);
    qsort(r->ids, n_rows, 32, cmp_hash);
    qsort(r->groups, n_groups, 32, cmp_hash);
done:
    return err;
}

int sisa_unlearn_plan(sisa_request *r, const sisa_store *st, const uint64_t *ids_in, size_t n_ids,
                      const uint64_t *groups_in, size_t n_groups)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards, R = (uint32_t)st->cfg.sisa.slices;
    uint64_t *ids = NULL, *groups = NULL;
    unsigned char *candidate = NULL;
    plan_lookup L;
    memset(&L, 0, sizeof L);
    memset(r, 0, sizeof *r);

    ids = sisa_malloc((n_ids ? n_ids : 1) * sizeof *ids);
    groups = sisa_malloc((n_groups ? n_groups : 1) * sizeof *groups);
    L.id_found = sisa_calloc(n_ids ? n_ids : 1, 1);
    L.group_found = sisa_calloc(n_groups ? n_groups : 1, 1);
    r->shards = sisa_calloc(S, sizeof *r->shards);
    L.lineage = sisa_malloc(R * sizeof *L.lineage);
    SISA_CHECK(ids && groups && L.id_found && L.group_found && r->shards && L.lineage, SISA_ENOMEM,
               "out of memory");
    /* A request of only groups (or only IDs) passes NULL for the other list: memcpy must not
     * see a null pointer even for 0 bytes. */
    if (n_ids) memcpy(ids, ids_in, n_ids * sizeof *ids);
    if (n_groups) memcpy(groups, groups_in, n_groups * sizeof *groups);
    sort_unique(ids, &n_ids);
    sort_unique(groups, &n_groups);
    L.ids = ids;
    L.n_ids = n_ids;
    L.groups = groups;
    L.n_groups = n_groups;

    candidate = sisa_calloc(S, 1);
    SISA_CHECK(candidate, SISA_ENOMEM, "out of memory");
    plan_candidates(st, ids, n_ids, groups, n_groups, candidate);
    for (uint32_t k = 0; k < S; k++)
        if (candidate[k]) SISA_TRY(plan_shard(r, st, k, &L));
    SISA_TRY(mark_already_deleted(r, st, ids, L.id_found, n_ids, groups, L.group_found, n_groups));
    SISA_TRY(reject_unknown(st, ids, L.id_found, n_ids, "sample ID"));
    SISA_TRY(reject_unknown(st, groups, L.group_found, n_groups, "group"));
    SISA_TRY(plan_hash_rows(r, st, &L));
done:
    sisa_free(candidate);
    sisa_free(L.lineage);
    sisa_free(L.rows_ids);
    sisa_free(L.group_found);
    sisa_free(L.id_found);
    sisa_free(groups);
    sisa_free(ids);
    if (err < 0) sisa_request_free(r);
    return err;
}

int sisa_unlearn_fence(const sisa_store *st, const sisa_request *r)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_files files = {0};
    for (uint32_t i = 0; i < r->n_shards; i++) {
        const sisa_req_shard *s = &r->shards[i];
        SISA_TRY(sisa_shard_files(st, s->shard, &files, 1));
        for (uint32_t stage = s->first_stage; stage <= R; stage++) {
            char name[32];
            sisa_ckpt_name(name, sizeof name, stage);
            SISA_TRY(sisa_files_remove(&files, name));
        }
        sisa_files_close(&files);
    }
done:
    sisa_files_close(&files);
    return err;
}

int sisa_unlearn_rewrite(const sisa_store *st, const sisa_request *r, const sisa_req_shard *s,
                         sisa_shard_data **kept_out, char kept_sha[65], sisa_shard_prestage **pre)
{
    int err = SISA_OK;
    sisa_shard_data *kept = NULL;
    sisa_files files = {0};
    if (kept_out) *kept_out = NULL;
    if (pre) *pre = NULL;
    SISA_TRY(sisa_shard_files(st, s->shard, &files, 1));
    SISA_TRY(sisa_shard_read_data(st, &files, s->shard, 1, &kept));
    /* The kept rows move down in place, in order: no second copy of the shard's rows (fresh
     * memory costs a page fault per 4 KiB, which on some hypervisors is ~10 us a page). */
    const uint64_t n = kept->n, d = kept->d;
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t h[32];
        sisa_store_hash_id(st, kept->id[i], h);
        if (sisa_request_has(r, h)) continue;
        if (m != i) {
            memcpy(kept->X + m * d, kept->X + i * d, d * sizeof *kept->X);
            kept->y[m] = kept->y[i];
            kept->id[m] = kept->id[i];
            kept->slice[m] = kept->slice[i];
            if (kept->group) kept->group[m] = kept->group[i];
        }
        m++;
    }
    if (m == n) goto done; /* rewritten before (a request carried forward after a crash) */
    SISA_CHECK(n - m == s->rows, SISA_ECORRUPT,
               "shard %u: request %llu names %llu of its rows, but %llu match", s->shard,
               (unsigned long long)r->n, (unsigned long long)s->rows, (unsigned long long)(n - m));
    kept->n = m;
    if (pre && kept_out) {
        /* Retraining resumes after the stage before the first one that held a deleted row
         * (the fence removed the later checkpoints); that stage is trained meanwhile. */
        const uint32_t start = s->first_stage ? s->first_stage - 1 : 0;
        int rc = sisa_shard_prestage_start_at(st, s->shard, kept, start, pre);
        if (rc == SISA_ENOMEM) SISA_TRY(rc);
        if (rc < 0) sisa_error_clear(); /* training in line reports what is wrong */
    }
    char sha[65];
    SISA_TRY(sisa_shard_commit_data_sha(st, &files, kept, sha));
    if (kept_sha) memcpy(kept_sha, sha, 65);
    sisa_debug("shard %u: %llu rows deleted, %llu remain", s->shard, (unsigned long long)s->rows,
               (unsigned long long)m);
    if (kept_out) {
        *kept_out = kept;
        kept = NULL;
    }
done:
    if (err < 0 && pre) {
        sisa_shard_prestage_cancel(*pre); /* before its rows are freed */
        *pre = NULL;
    }
    sisa_files_close(&files);
    sisa_shard_data_free(kept);
    return err;
}

int sisa_unlearn_after(const sisa_store *st, sisa_request *r)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_summary sum = {0};
    sisa_files files = {0};
    for (uint32_t i = 0; i < r->n_shards; i++) {
        sisa_req_shard *s = &r->shards[i];
        /* The lineage from the shard's journal (its data file summarised when written). */
        SISA_TRY(sisa_shard_files(st, s->shard, &files, 0));
        SISA_TRY(sisa_shard_summary_get(st, &files, s->shard, &sum));
        memcpy(s->lineage_after, sum.lineage[R - 1], 65);
        char name[32];
        sisa_ckpt_name(name, sizeof name, R);
        const char *h = sisa_files_hash(&files, name);
        snprintf(s->model_after, sizeof s->model_after, "%s", h ? h : "");
        sisa_shard_summary_free(&sum);
        sisa_files_close(&files);
    }
done:
    sisa_shard_summary_free(&sum);
    sisa_files_close(&files);
    return err;
}
