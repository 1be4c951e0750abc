/*
 * partition.c - see partition.h.
 *
 * Two passes over the small columns, one over the features: (1) assign every row to its shard
 * and slice and count; (2) per wanted shard, sort its rows by ID to get each row's position in
 * the shard file; (3) read X, copying each wanted row straight to its position: every row of
 * this process's part of the dataset digest (hashing it on the way), and elsewhere only the runs
 * of wanted rows, so a rank of a large job reads about 2/P of the features; (4) write each shard
 * file, hashing it as it is written.
 */
#include "shard/partition.h"

#include "base/log.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/sha256.h"
#include "base/sysio.h"
#include "io/dsdigest.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/train.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

void sisa_partition_assign(const sisa_config *cfg, uint64_t id, uint64_t group, uint32_t *shard,
                           uint32_t *slice)
{
    uint64_t key = cfg->sisa.sharding == SISA_SHARDING_GROUP ? group : id;
    *shard = (uint32_t)(sisa_rng_assign(cfg->seed, key, 0) % (uint64_t)cfg->sisa.shards);
    *slice = (uint32_t)(sisa_rng_assign(cfg->seed, id, 1) % (uint64_t)cfg->sisa.slices);
}

typedef struct {
    uint64_t id;
    uint64_t row;
} id_row;

static int cmp_id_row(const void *a, const void *b)
{
    const id_row *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int sisa_partition_count(const sisa_config *cfg, uint64_t *counts, uint64_t *stage_rows,
                         sisa_dataset_header *hdr)
{
    int err = SISA_OK;
    sisa_dataset_stream *ds = NULL;
    SISA_TRY(sisa_dataset_stream_open(&ds, cfg->data.train, hdr));
    const uint64_t *id = sisa_dataset_stream_id(ds);
    const uint64_t *group = sisa_dataset_stream_group(ds);
    SISA_CHECK(cfg->sisa.sharding != SISA_SHARDING_GROUP || group, SISA_ECONFIG,
               "%s: sisa.sharding is 'group' but %s has no group column (import it with "
               "--group COLUMN)",
               cfg->source, cfg->data.train);
    const uint32_t S = (uint32_t)cfg->sisa.shards, R = (uint32_t)cfg->sisa.slices;
    memset(counts, 0, (size_t)S * sizeof *counts);
    if (stage_rows) memset(stage_rows, 0, (size_t)S * R * sizeof *stage_rows);
    for (uint64_t i = 0; i < hdr->n; i++) {
        uint32_t k, s;
        sisa_partition_assign(cfg, id[i], group ? group[i] : 0, &k, &s);
        counts[k]++;
        if (stage_rows) stage_rows[(size_t)k * R + s]++; /* rows of slice s, summed below */
    }
    if (stage_rows)
        for (uint32_t k = 0; k < S; k++)
            for (uint32_t r = 1; r < R; r++)
                stage_rows[(size_t)k * R + r] += stage_rows[(size_t)k * R + r - 1];
done:
    sisa_dataset_stream_close(ds);
    return err;
}

/* Copy rows [r0, r0 + nr) from block into their shards' positions. */
static void scatter(sisa_shard_data **sd, const uint32_t *shard_of, const uint64_t *pos,
                    uint64_t r0, uint64_t nr, uint64_t d, const float *block)
{
    for (uint64_t r = 0; r < nr; r++) {
        uint32_t k = shard_of[r0 + r];
        if (!sd[k]) continue;
        memcpy(sd[k]->X + pos[r0 + r] * d, block + r * d, d * sizeof *block);
    }
}

/* Where rows [r0, r0 + nr) go when they are consecutive rows of one wanted shard (then they are
 * read straight there), else NULL. */
static float *direct_target(sisa_shard_data **sd, const uint32_t *shard_of, const uint64_t *pos,
                            uint64_t r0, uint64_t nr, uint64_t d)
{
    const uint32_t k = shard_of[r0];
    if (!sd[k]) return NULL;
    for (uint64_t r = 1; r < nr; r++)
        if (shard_of[r0 + r] != k || pos[r0 + r] != pos[r0] + r) return NULL;
    return sd[k]->X + pos[r0] * d;
}

void sisa_partition_digest_part(uint64_t n, uint32_t part, uint32_t parts, uint64_t *b0,
                                uint64_t *b1)
{
    const uint64_t m = sisa_dsdigest_blocks(n);
    *b0 = *b1 = 0;
    if (!parts || part >= parts) return;
    /* m * part < 2^64 for any dataset that fits on a disk (m < 2^54 at 1 KiB rows). */
    *b0 = m * part / parts;
    *b1 = m * (part + 1) / parts;
}

/* A digest sisa_partition left for sisa_partition_write: the context, the stream whose
 * columns it borrows, and where each row of the part lies. */
struct sisa_partition_digest {
    sisa_dataset_stream *ds;
    sisa_dsdigest dg;
    uint32_t *shard_of;
    uint64_t *pos;
    uint64_t da, db, d;
};

static void pending_free(sisa_partition_job *job)
{
    struct sisa_partition_digest *p = job->pending;
    if (!p) return;
    sisa_dsdigest_free(&p->dg);
    sisa_dataset_stream_close(p->ds);
    sisa_free(p->pos);
    sisa_free(p->shard_of);
    sisa_free(p);
    job->pending = NULL;
}

void sisa_partition_job_free(sisa_partition_job *job, uint32_t shards)
{
    pending_free(job);
    if (job->kept)
        for (uint32_t k = 0; k < shards; k++) sisa_shard_data_free(job->kept[k]);
    sisa_free(job->kept);
    sisa_free(job->sha);
    sisa_free(job->leaves);
    job->kept = NULL;
    job->sha = NULL;
    job->leaves = NULL;
}

/* Write and commit the data file of every shard in sd (NULL entries: not wanted). */
static int write_shards(const sisa_store *st, sisa_shard_data *const *sd, uint32_t S,
                        char (*sha)[65])
{
    int err = SISA_OK;
    for (uint32_t k = 0; k < S; k++) {
        if (!sd[k]) continue;
        sisa_files files = {0};
        err = sisa_shard_files(st, k, &files, 1);
        if (err == SISA_OK) err = sisa_shard_commit_data_sha(st, &files, sd[k], sha[k]);
        sisa_files_close(&files);
        SISA_TRY(err);
        sisa_debug("shard %u: %llu rows", k, (unsigned long long)sd[k]->n);
    }
done:
    return err;
}

int sisa_partition_write(const sisa_store *st, sisa_partition_job *job, uint32_t shards)
{
    int err = SISA_OK;
    struct sisa_partition_digest *p = job->pending;
    if (p) {
        /* The part's rows in dataset order, run by run, from where they lie in the shards. */
        for (uint64_t r = p->da; r < p->db;) {
            const uint32_t k = p->shard_of[r];
            uint64_t e = r + 1;
            while (e < p->db && p->shard_of[e] == k && p->pos[e] == p->pos[r] + (e - r)) e++;
            SISA_TRY(sisa_dsdigest_rows(&p->dg, job->kept[k]->X + p->pos[r] * p->d, e - r));
            r = e;
        }
        job->leaf0 = p->dg.leaf0;
        job->n_leaves = p->dg.n_leaves;
        job->leaves = p->dg.leaves;
        p->dg.leaves = NULL;
        pending_free(job);
    }
    if (job->kept) SISA_TRY(write_shards(st, job->kept, shards, job->sha));
done:
    return err;
}

int sisa_partition(const sisa_store *st, sisa_partition_job *job)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t S = (uint32_t)cfg->sisa.shards;
    const unsigned char *want = job->want;
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    uint32_t *shard_of = NULL, *slice_of = NULL;
    uint64_t *pos = NULL, *count = NULL;
    sisa_shard_data **sd = NULL;
    id_row *pairs = NULL;
    float *block = NULL;
    sisa_dsdigest dg = {0};
    sisa_progress prog;

    job->kept = NULL;
    job->pending = NULL;
    job->leaves = NULL;
    job->leaf0 = job->n_leaves = 0;
    job->sha = sisa_calloc(S, sizeof *job->sha);
    SISA_CHECK(job->sha, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_dataset_stream_open(&ds, cfg->data.train, &hdr));
    const int32_t *y = sisa_dataset_stream_y(ds);
    const uint64_t *id = sisa_dataset_stream_id(ds);
    const uint64_t *group = sisa_dataset_stream_group(ds);
    SISA_CHECK(cfg->sisa.sharding != SISA_SHARDING_GROUP || group, SISA_ECONFIG,
               "%s: sisa.sharding is 'group' but %s has no group column (import it with "
               "--group COLUMN)",
               cfg->source, cfg->data.train);
    SISA_CHECK(hdr.d <= UINT32_MAX, SISA_ECORRUPT, "%s: too many features", cfg->data.train);

    /* This process's part of the digest: whole v2 blocks [da, db) of rows. */
    uint64_t b0, b1;
    sisa_partition_digest_part(hdr.n, job->digest_part, job->digest_parts, &b0, &b1);
    const uint64_t da = b0 * SISA_DIGEST_BLOCK_ROWS;
    const uint64_t db = b1 * SISA_DIGEST_BLOCK_ROWS < hdr.n ? b1 * SISA_DIGEST_BLOCK_ROWS : hdr.n;
    if (job->digest_parts)
        SISA_TRY(sisa_dsdigest_init(&dg, SISA_DIGEST_V2, &hdr, y, id, group, b0 < b1 ? da : 0,
                                    b0 < b1 ? db : 0));

    shard_of = sisa_malloc(hdr.n * sizeof *shard_of);
    slice_of = sisa_malloc(hdr.n * sizeof *slice_of);
    pos = sisa_malloc(hdr.n * sizeof *pos);
    count = sisa_calloc(S, sizeof *count);
    sd = sisa_calloc(S, sizeof *sd);
    SISA_CHECK(shard_of && slice_of && pos && count && sd, SISA_ENOMEM,
               "out of memory partitioning %llu rows", (unsigned long long)hdr.n);
    for (uint64_t i = 0; i < hdr.n; i++) {
        sisa_partition_assign(cfg, id[i], group ? group[i] : 0, &shard_of[i], &slice_of[i]);
        count[shard_of[i]]++;
    }

    /* Each wanted shard: allocate exactly, and place rows in ID order. */
    uint64_t max_count = 0;
    for (uint32_t k = 0; k < S; k++)
        if (count[k] > max_count) max_count = count[k];
    pairs = sisa_malloc((max_count ? max_count : 1) * sizeof *pairs);
    SISA_CHECK(pairs, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < S; k++) {
        if (want && !want[k]) continue;
        SISA_TRY(sisa_shard_data_alloc(&sd[k], k, count[k], hdr.d, hdr.num_classes, group != NULL));
        uint64_t m = 0;
        for (uint64_t i = 0; i < hdr.n; i++)
            if (shard_of[i] == k) pairs[m++] = (id_row){id[i], i};
        qsort(pairs, m, sizeof *pairs, cmp_id_row);
        for (uint64_t j = 0; j < m; j++) {
            uint64_t i = pairs[j].row;
            pos[i] = j;
            sd[k]->id[j] = id[i];
            sd[k]->y[j] = y[i];
            sd[k]->slice[j] = (int32_t)slice_of[i];
            if (group) sd[k]->group[j] = group[i];
        }
    }

    /* The digest waits for sisa_partition_write when every row of the part is kept, in runs
     * of at least four blocks on average (hashed later as fast as now). */
    int defer = job->keep && job->defer_write && job->digest_parts && da < db;
    uint64_t runs = 0;
    for (uint64_t r = da; defer && r < db; r++) {
        if (!sd[shard_of[r]]) defer = 0;
        runs += r == da || shard_of[r] != shard_of[r - 1] || pos[r] != pos[r - 1] + 1;
    }
    if (defer && runs > (db - da) / (4 * (uint64_t)SISA_DIGEST_BLOCK_ROWS) + 1) defer = 0;

    const uint64_t step = sisa_dsdigest_read_rows(hdr.d);
    block = sisa_alloc_large(step * hdr.d * sizeof *block);
    SISA_CHECK(block, SISA_ENOMEM, "out of memory");
    sisa_progress_start(&prog, "partition", "rows", hdr.n);
    for (uint64_t r0 = 0; r0 < hdr.n;) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while partitioning %s",
                   cfg->data.train);
        /* Blocks never straddle the digest part's ends. */
        uint64_t r1 = hdr.n - r0 < step ? hdr.n : r0 + step;
        if (r0 < da && r1 > da) r1 = da;
        if (r0 < db && r1 > db) r1 = db;
        const uint64_t nr = r1 - r0;
        if (r0 >= da && r0 < db) {
            /* Digested: every row is read, then hashed where it lies. */
            float *dst = direct_target(sd, shard_of, pos, r0, nr, hdr.d);
            SISA_TRY(sisa_dataset_stream_read_x(ds, r0, nr, dst ? dst : block));
            if (!defer) SISA_TRY(sisa_dsdigest_rows(&dg, dst ? dst : block, nr));
            if (!dst) scatter(sd, shard_of, pos, r0, nr, hdr.d, block);
        } else {
            /* Only the runs of consecutive rows that belong to wanted shards. */
            for (uint64_t a = r0; a < r1;) {
                if (!sd[shard_of[a]]) {
                    a++;
                    continue;
                }
                uint64_t b = a + 1;
                while (b < r1 && sd[shard_of[b]]) b++;
                float *dst = direct_target(sd, shard_of, pos, a, b - a, hdr.d);
                SISA_TRY(sisa_dataset_stream_read_x(ds, a, b - a, dst ? dst : block));
                if (!dst) scatter(sd, shard_of, pos, a, b - a, hdr.d, block);
                a = b;
            }
        }
        sisa_progress_update(&prog, r1);
        r0 = r1;
    }
    sisa_progress_finish(&prog);
    if (job->digest_parts && !defer) {
        job->leaf0 = dg.leaf0;
        job->n_leaves = dg.n_leaves;
        job->leaves = dg.leaves;
        dg.leaves = NULL;
    }

    job->hdr = hdr;
    if (defer) {
        struct sisa_partition_digest *p = sisa_calloc(1, sizeof *p);
        SISA_CHECK(p, SISA_ENOMEM, "out of memory");
        *p = (struct sisa_partition_digest){
            .ds = ds, .dg = dg, .shard_of = shard_of, .pos = pos, .da = da, .db = db, .d = hdr.d};
        job->pending = p;
        ds = NULL;
        memset(&dg, 0, sizeof dg);
        shard_of = NULL;
        pos = NULL;
    }
    if (job->keep && job->defer_write) {
        job->kept = sd;
        sd = NULL;
        goto done;
    }
    SISA_TRY(write_shards(st, sd, S, job->sha));
    if (job->keep) {
        job->kept = sd;
        sd = NULL;
    }
done:
    if (sd)
        for (uint32_t k = 0; k < S; k++) sisa_shard_data_free(sd[k]);
    sisa_free(sd);
    sisa_free(block);
    sisa_free(pairs);
    sisa_free(count);
    sisa_free(pos);
    sisa_free(slice_of);
    sisa_free(shard_of);
    sisa_dsdigest_free(&dg);
    sisa_dataset_stream_close(ds);
    if (err < 0) sisa_partition_job_free(job, S);
    return err;
}
