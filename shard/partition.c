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

/* The first shard of tier t. */
static uint32_t tier_offset(const sisa_config *cfg, uint32_t t)
{
    uint32_t off = 0;
    for (uint32_t i = 0; i < t; i++) off += (uint32_t)cfg->sisa.tiers[i].shards;
    return off;
}

void sisa_partition_assign(const sisa_config *cfg, uint64_t id, uint64_t group, uint8_t risk,
                           uint32_t *shard, uint32_t *slice)
{
    const uint64_t key = sisa_config_by_group(cfg) ? group : id;
    const uint64_t h0 = sisa_rng_assign(cfg->seed, key, 0);
    if (cfg->sisa.sharding == SISA_SHARDING_TIERED) {
        const sisa_tier *t = &cfg->sisa.tiers[risk];
        *shard = tier_offset(cfg, risk) + (uint32_t)(h0 % (uint64_t)t->shards);
        *slice = t->last_slice
                     ? (uint32_t)cfg->sisa.slices - 1
                     : (uint32_t)(sisa_rng_assign(cfg->seed, id, 1) % (uint64_t)cfg->sisa.slices);
        return;
    }
    *shard = (uint32_t)(h0 % (uint64_t)cfg->sisa.shards);
    *slice = (uint32_t)(sisa_rng_assign(cfg->seed, id, 1) % (uint64_t)cfg->sisa.slices);
}

void sisa_partition_candidates(const sisa_config *cfg, uint64_t key, unsigned char *candidate)
{
    const uint64_t h0 = sisa_rng_assign(cfg->seed, key, 0);
    if (cfg->sisa.sharding != SISA_SHARDING_TIERED) {
        candidate[h0 % (uint64_t)cfg->sisa.shards] = 1;
        return;
    }
    for (uint32_t t = 0, off = 0; t < (uint32_t)cfg->sisa.n_tiers; t++) {
        candidate[off + h0 % (uint64_t)cfg->sisa.tiers[t].shards] = 1;
        off += (uint32_t)cfg->sisa.tiers[t].shards;
    }
}

uint32_t sisa_partition_tier_of(const sisa_config *cfg, uint32_t k)
{
    if (cfg->sisa.sharding != SISA_SHARDING_TIERED) return 0;
    uint32_t t = 0, off = 0;
    while (t + 1 < (uint32_t)cfg->sisa.n_tiers && k >= off + (uint32_t)cfg->sisa.tiers[t].shards)
        off += (uint32_t)cfg->sisa.tiers[t++].shards;
    return t;
}

int sisa_partition_last_slice_shard(const sisa_config *cfg, uint32_t k)
{
    return cfg->sisa.sharding == SISA_SHARDING_TIERED &&
           cfg->sisa.tiers[sisa_partition_tier_of(cfg, k)].last_slice;
}

int sisa_partition_check_columns(const sisa_config *cfg, const char *path, uint64_t n,
                                 const uint64_t *group, const uint8_t *risk)
{
    int err = SISA_OK;
    SISA_CHECK(
        !sisa_config_by_group(cfg) || group, SISA_ECONFIG,
        "%s: sisa.%s but %s has no group column (import it with --group COLUMN)", cfg->source,
        cfg->sisa.sharding == SISA_SHARDING_GROUP ? "sharding is 'group'" : "tier_key is 'group'",
        path);
    if (cfg->sisa.sharding != SISA_SHARDING_TIERED) return SISA_OK;
    SISA_CHECK(risk, SISA_ECONFIG,
               "%s: sisa.sharding is 'tiered' but %s has no risk column (import it with --risk "
               "COLUMN)",
               cfg->source, path);
    for (uint64_t i = 0; i < n; i++)
        SISA_CHECK(risk[i] < (uint32_t)cfg->sisa.n_tiers, SISA_ECONFIG,
                   "%s: row %llu of %s has risk tier %d, but sisa.tiers lists %d tier%s "
                   "(0..%d); add tiers or re-import the risk column",
                   cfg->source, (unsigned long long)i, path, risk[i], (int)cfg->sisa.n_tiers,
                   cfg->sisa.n_tiers == 1 ? "" : "s", (int)cfg->sisa.n_tiers - 1);
done:
    return err;
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
    const uint8_t *risk = sisa_dataset_stream_risk(ds);
    SISA_TRY(sisa_partition_check_columns(cfg, cfg->data.train, hdr->n, group, risk));
    const uint32_t S = (uint32_t)cfg->sisa.shards, R = (uint32_t)cfg->sisa.slices;
    memset(counts, 0, (size_t)S * sizeof *counts);
    if (stage_rows) memset(stage_rows, 0, (size_t)S * R * sizeof *stage_rows);
    for (uint64_t i = 0; i < hdr->n; i++) {
        uint32_t k, s;
        sisa_partition_assign(cfg, id[i], group ? group[i] : 0, risk ? risk[i] : 0, &k, &s);
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

/* The work of one partitioning: the dataset, where every row goes, and the wanted shards. */
typedef struct {
    const sisa_config *cfg;
    uint32_t S;
    sisa_dataset_stream *ds;
    sisa_dataset_header hdr;
    const int32_t *y;
    const uint64_t *id, *group;
    const uint8_t *risk;
    uint32_t *shard_of, *slice_of; /* (n) each row's shard and slice */
    uint64_t *pos;                 /* (n) each row's place in its shard (wanted shards) */
    uint64_t *count;               /* (S) rows per shard */
    sisa_shard_data **sd;          /* (S) the wanted shards, NULL for the others */
    uint64_t da, db;               /* this process's part of the digest: rows [da, db) */
    sisa_dsdigest dg;
    int defer; /* the digest waits for sisa_partition_write (hashed from the kept shards) */
} part_work;

/* Every row's shard and slice, and how many rows every shard gets. */
static int part_assign(part_work *w)
{
    int err = SISA_OK;
    const uint64_t n = w->hdr.n;
    w->shard_of = sisa_malloc(n * sizeof *w->shard_of);
    w->slice_of = sisa_malloc(n * sizeof *w->slice_of);
    w->pos = sisa_malloc(n * sizeof *w->pos);
    w->count = sisa_calloc(w->S, sizeof *w->count);
    w->sd = sisa_calloc(w->S, sizeof *w->sd);
    SISA_CHECK(w->shard_of && w->slice_of && w->pos && w->count && w->sd, SISA_ENOMEM,
               "out of memory partitioning %llu rows", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        sisa_partition_assign(w->cfg, w->id[i], w->group ? w->group[i] : 0,
                              w->risk ? w->risk[i] : 0, &w->shard_of[i], &w->slice_of[i]);
        w->count[w->shard_of[i]]++;
    }
done:
    return err;
}

/* Each wanted shard: allocate exactly, and place rows in ID order (all but their features). */
static int part_place(part_work *w, const unsigned char *want)
{
    int err = SISA_OK;
    id_row *pairs = NULL;
    uint64_t max_count = 0;
    for (uint32_t k = 0; k < w->S; k++)
        if (w->count[k] > max_count) max_count = w->count[k];
    pairs = sisa_malloc((max_count ? max_count : 1) * sizeof *pairs);
    SISA_CHECK(pairs, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < w->S; k++) {
        if (want && !want[k]) continue;
        SISA_TRY(sisa_shard_data_alloc(&w->sd[k], k, w->count[k], w->hdr.d, w->hdr.num_classes,
                                       w->group != NULL));
        sisa_shard_data *sd = w->sd[k];
        uint64_t m = 0;
        for (uint64_t i = 0; i < w->hdr.n; i++)
            if (w->shard_of[i] == k) pairs[m++] = (id_row){w->id[i], i};
        qsort(pairs, m, sizeof *pairs, cmp_id_row);
        for (uint64_t j = 0; j < m; j++) {
            uint64_t i = pairs[j].row;
            w->pos[i] = j;
            sd->id[j] = w->id[i];
            sd->y[j] = w->y[i];
            sd->slice[j] = (int32_t)w->slice_of[i];
            if (w->group) sd->group[j] = w->group[i];
        }
    }
done:
    sisa_free(pairs);
    return err;
}

/* The features, block by block: every row of the digest's part (read, then hashed where it
 * lies), elsewhere only the runs of consecutive rows that belong to wanted shards. */
static int part_read(part_work *w)
{
    int err = SISA_OK;
    const uint64_t n = w->hdr.n, d = w->hdr.d, da = w->da, db = w->db;
    sisa_shard_data **sd = w->sd;
    const uint32_t *shard_of = w->shard_of;
    const uint64_t step = sisa_dsdigest_read_rows(d);
    sisa_progress prog;
    float *block = sisa_alloc_large(step * d * sizeof *block);
    SISA_CHECK(block, SISA_ENOMEM, "out of memory");
    sisa_progress_start(&prog, "partition", "rows", n);
    for (uint64_t r0 = 0; r0 < n;) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while partitioning %s",
                   w->cfg->data.train);
        /* Blocks never straddle the digest part's ends. */
        uint64_t r1 = n - r0 < step ? n : r0 + step;
        if (r0 < da && r1 > da) r1 = da;
        if (r0 < db && r1 > db) r1 = db;
        const uint64_t nr = r1 - r0;
        if (r0 >= da && r0 < db) {
            /* Digested: every row is read, then hashed where it lies. */
            float *dst = direct_target(sd, shard_of, w->pos, r0, nr, d);
            SISA_TRY(sisa_dataset_stream_read_x(w->ds, r0, nr, dst ? dst : block));
            if (!w->defer) SISA_TRY(sisa_dsdigest_rows(&w->dg, dst ? dst : block, nr));
            if (!dst) scatter(sd, shard_of, w->pos, r0, nr, d, block);
        } else {
            /* Only the runs of consecutive rows that belong to wanted shards. */
            for (uint64_t a = r0; a < r1;) {
                if (!sd[shard_of[a]]) {
                    a++;
                    continue;
                }
                uint64_t b = a + 1;
                while (b < r1 && sd[shard_of[b]]) b++;
                float *dst = direct_target(sd, shard_of, w->pos, a, b - a, d);
                SISA_TRY(sisa_dataset_stream_read_x(w->ds, a, b - a, dst ? dst : block));
                if (!dst) scatter(sd, shard_of, w->pos, a, b - a, d, block);
                a = b;
            }
        }
        sisa_progress_update(&prog, r1);
        r0 = r1;
    }
    sisa_progress_finish(&prog);
done:
    sisa_free(block);
    return err;
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

/* Whether the digest waits for sisa_partition_write: when every row of the part is kept, in
 * runs of at least four blocks on average (hashed later as fast as now). */
static int part_defer(const part_work *w, const sisa_partition_job *job)
{
    if (!(job->keep && job->defer_write && job->digest_parts && w->da < w->db)) return 0;
    uint64_t runs = 0;
    for (uint64_t r = w->da; r < w->db; r++) {
        if (!w->sd[w->shard_of[r]]) return 0;
        runs +=
            r == w->da || w->shard_of[r] != w->shard_of[r - 1] || w->pos[r] != w->pos[r - 1] + 1;
    }
    return runs <= (w->db - w->da) / (4 * (uint64_t)SISA_DIGEST_BLOCK_ROWS) + 1;
}

/* Hand the digest's context, the stream and the rows' places over to the job. */
static int part_leave_digest(part_work *w, sisa_partition_job *job)
{
    int err = SISA_OK;
    struct sisa_partition_digest *p = sisa_calloc(1, sizeof *p);
    SISA_CHECK(p, SISA_ENOMEM, "out of memory");
    *p = (struct sisa_partition_digest){.ds = w->ds,
                                        .dg = w->dg,
                                        .shard_of = w->shard_of,
                                        .pos = w->pos,
                                        .da = w->da,
                                        .db = w->db,
                                        .d = w->hdr.d};
    job->pending = p;
    w->ds = NULL;
    memset(&w->dg, 0, sizeof w->dg);
    w->shard_of = NULL;
    w->pos = NULL;
done:
    return err;
}

int sisa_partition(const sisa_store *st, sisa_partition_job *job)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t S = (uint32_t)cfg->sisa.shards;
    part_work w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.S = S;

    job->kept = NULL;
    job->pending = NULL;
    job->leaves = NULL;
    job->leaf0 = job->n_leaves = 0;
    job->sha = sisa_calloc(S, sizeof *job->sha);
    SISA_CHECK(job->sha, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_dataset_stream_open(&w.ds, cfg->data.train, &w.hdr));
    w.y = sisa_dataset_stream_y(w.ds);
    w.id = sisa_dataset_stream_id(w.ds);
    w.group = sisa_dataset_stream_group(w.ds);
    w.risk = sisa_dataset_stream_risk(w.ds);
    SISA_TRY(sisa_partition_check_columns(cfg, cfg->data.train, w.hdr.n, w.group, w.risk));
    SISA_CHECK(w.hdr.d <= UINT32_MAX, SISA_ECORRUPT, "%s: too many features", cfg->data.train);

    /* This process's part of the digest: whole v2 blocks [da, db) of rows. */
    uint64_t b0, b1;
    const uint64_t n = w.hdr.n;
    sisa_partition_digest_part(n, job->digest_part, job->digest_parts, &b0, &b1);
    w.da = b0 * SISA_DIGEST_BLOCK_ROWS;
    w.db = b1 * SISA_DIGEST_BLOCK_ROWS < n ? b1 * SISA_DIGEST_BLOCK_ROWS : n;
    if (job->digest_parts)
        SISA_TRY(sisa_dsdigest_init(&w.dg, SISA_DIGEST_V2, &w.hdr, w.y, w.id, w.group,
                                    b0 < b1 ? w.da : 0, b0 < b1 ? w.db : 0));
    w.dg.risk = w.risk;

    SISA_TRY(part_assign(&w));
    SISA_TRY(part_place(&w, job->want));
    w.defer = part_defer(&w, job);
    SISA_TRY(part_read(&w));
    if (job->digest_parts && !w.defer) {
        job->leaf0 = w.dg.leaf0;
        job->n_leaves = w.dg.n_leaves;
        job->leaves = w.dg.leaves;
        w.dg.leaves = NULL;
    }
    job->hdr = w.hdr;
    if (w.defer) SISA_TRY(part_leave_digest(&w, job));
    /* With defer_write the files are sisa_partition_write's. */
    if (!(job->keep && job->defer_write)) SISA_TRY(write_shards(st, w.sd, S, job->sha));
    if (job->keep) {
        job->kept = w.sd;
        w.sd = NULL;
    }
done:
    if (w.sd)
        for (uint32_t k = 0; k < S; k++) sisa_shard_data_free(w.sd[k]);
    sisa_free(w.sd);
    sisa_free(w.count);
    sisa_free(w.pos);
    sisa_free(w.slice_of);
    sisa_free(w.shard_of);
    sisa_dsdigest_free(&w.dg);
    sisa_dataset_stream_close(w.ds);
    if (err < 0) sisa_partition_job_free(job, S);
    return err;
}
