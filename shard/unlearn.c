/*
 * unlearn.c - see unlearn.h.
 */
#include "shard/unlearn.h"

#include "base/log.h"
#include "base/strutil.h"
#include "io/store_io.h"
#include "shard/train.h"
#include "sisa/error.h"

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
        uint64_t *nv = realloc(*v, ncap * sizeof *nv);
        if (!nv) return sisa_error_set(SISA_ENOMEM, __FILE__, __LINE__, "out of memory");
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = x;
    return SISA_OK;
}

int sisa_unlearn_parse_list(uint64_t **out, size_t *n, const char *list)
{
    int err = SISA_OK;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    char *copy = strdup(list);
    SISA_CHECK(copy, SISA_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t x;
        SISA_CHECK(sisa_parse_u64(tok, &x) == SISA_PARSE_OK, SISA_EUSAGE,
                   "--ids: '%s' is not a sample ID (a non-negative integer)", tok);
        SISA_TRY(push(&v, &cnt, &cap, x));
    }
    SISA_CHECK(cnt > 0, SISA_EUSAGE, "--ids: no sample IDs given");
    *out = v;
    *n = cnt;
    v = NULL;
done:
    free(copy);
    free(v);
    return err;
}

int sisa_unlearn_parse_file(uint64_t **out, size_t *n, const char *path)
{
    int err = SISA_OK;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0, len = 0;
    char *text = NULL;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)1 << 30));
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
    SISA_CHECK(cnt > 0, SISA_EUSAGE, "%s: no sample IDs in the file", path);
    *out = v;
    *n = cnt;
    v = NULL;
done:
    free(text);
    free(v);
    return err;
}

void sisa_unlearn_plan_free(sisa_unlearn_plan *plan)
{
    free(plan->ids);
    free(plan->shards);
    memset(plan, 0, sizeof *plan);
}

int sisa_unlearn_plan_make(sisa_unlearn_plan *plan, const sisa_store *st, const uint64_t *ids,
                           size_t n)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    sisa_shard_data *idx = NULL;
    unsigned char *found = NULL;
    char path[SISA_PATH_MAX];
    memset(plan, 0, sizeof *plan);
    plan->ids = malloc((n ? n : 1) * sizeof *plan->ids);
    plan->shards = calloc(S, sizeof *plan->shards);
    found = calloc(n ? n : 1, 1);
    SISA_CHECK(plan->ids && plan->shards && found, SISA_ENOMEM, "out of memory");
    memcpy(plan->ids, ids, n * sizeof *ids);
    qsort(plan->ids, n, sizeof *plan->ids, cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || plan->ids[i] != plan->ids[m - 1]) plan->ids[m++] = plan->ids[i];
    plan->n_ids = m;

    for (uint32_t k = 0; k < S; k++) {
        SISA_TRY(sisa_store_data_path(st, k, path, sizeof path));
        SISA_CHECK(sisa_fs_exists(path), SISA_EUSAGE,
                   "shard %u has no data file (%s): the store is not fully trained; run sisa "
                   "train first",
                   k, path);
        SISA_TRY(sisa_shard_data_read_index(&idx, path));
        uint32_t first = 0;
        uint64_t rows = 0;
        /* Both lists are sorted: one merge pass. */
        size_t a = 0;
        for (uint64_t b = 0; b < idx->n && a < m;) {
            if (plan->ids[a] < idx->id[b]) {
                a++;
            } else if (plan->ids[a] > idx->id[b]) {
                b++;
            } else {
                found[a] = 1;
                uint32_t stage = (uint32_t)idx->slice[b] + 1;
                if (!first || stage < first) first = stage;
                rows++;
                a++;
                b++;
            }
        }
        if (rows)
            plan->shards[plan->n_shards++] =
                (sisa_unlearn_shard){k, first, rows,
                                     sisa_shard_visits(idx, (uint32_t)st->cfg.train.epochs,
                                                       (uint32_t)st->cfg.sisa.slices, first)};
        sisa_shard_data_free(idx);
        idx = NULL;
    }

    size_t unknown = 0;
    for (size_t i = 0; i < m; i++) unknown += !found[i];
    if (unknown) {
        char list[512];
        size_t used = 0, shown = 0;
        for (size_t i = 0; i < m && used + 24 < sizeof list && shown < 20; i++) {
            if (found[i]) continue;
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%llu", shown ? ", " : "",
                                     (unsigned long long)plan->ids[i]);
            shown++;
        }
        if (shown < unknown)
            snprintf(list + used, sizeof list - used, " and %zu more", unknown - shown);
        SISA_FAIL(SISA_EREJECT,
                  "%zu of the %zu requested sample IDs %s not in store %s: %s. Nothing was "
                  "changed",
                  unknown, m, unknown == 1 ? "is" : "are", st->root, list);
    }
done:
    free(found);
    sisa_shard_data_free(idx);
    if (err < 0) sisa_unlearn_plan_free(plan);
    return err;
}

int sisa_unlearn_apply_shard(const sisa_store *st, const sisa_unlearn_plan *plan,
                             const sisa_unlearn_shard *s)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_shard_data *sd = NULL, *kept = NULL;
    char path[SISA_PATH_MAX];
    int removed_any = 0;

    /* 1. No checkpoint that saw a deleted row may outlive this step. */
    for (uint32_t r = s->first_stage; r <= R; r++) {
        SISA_TRY(sisa_store_ckpt_path(st, s->shard, r, path, sizeof path));
        if (!sisa_fs_exists(path)) continue;
        SISA_CHECK(unlink(path) == 0, SISA_EIO, "cannot remove %s", path);
        removed_any = 1;
    }
    if (removed_any) SISA_TRY(sisa_fs_fsync_parent(path));

    /* 2. A new data file with the surviving rows only. */
    SISA_TRY(sisa_store_data_path(st, s->shard, path, sizeof path));
    SISA_TRY(sisa_shard_data_read(&sd, path));
    SISA_TRY(
        sisa_shard_data_alloc(&kept, sd->shard, sd->n, sd->d, sd->num_classes, sd->group != NULL));
    uint64_t m = 0;
    size_t a = 0;
    for (uint64_t i = 0; i < sd->n; i++) {
        while (a < plan->n_ids && plan->ids[a] < sd->id[i]) a++;
        if (a < plan->n_ids && plan->ids[a] == sd->id[i]) continue;
        memcpy(kept->X + m * sd->d, sd->X + i * sd->d, sd->d * sizeof *sd->X);
        kept->y[m] = sd->y[i];
        kept->id[m] = sd->id[i];
        kept->slice[m] = sd->slice[i];
        if (sd->group) kept->group[m] = sd->group[i];
        m++;
    }
    SISA_CHECK(sd->n - m == s->rows, SISA_EINTERNAL,
               "shard %u: expected to delete %llu rows, found %llu", s->shard,
               (unsigned long long)s->rows, (unsigned long long)(sd->n - m));
    kept->n = m;
    SISA_TRY(sisa_shard_data_write(path, kept));
    sisa_debug("shard %u: %llu rows deleted, %llu remain", s->shard, (unsigned long long)s->rows,
               (unsigned long long)m);
done:
    sisa_shard_data_free(kept);
    sisa_shard_data_free(sd);
    return err;
}
