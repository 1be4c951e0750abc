/*
 * partition.c - see partition.h.
 *
 * Two passes over the small columns, one over the features: (1) assign every row to its shard
 * and slice and count; (2) per wanted shard, sort its rows by ID to get each row's position in
 * the shard file; (3) read X, copying each wanted row straight to its position: all of X in
 * blocks when the digest is wanted (hashing it on the way), else only the runs of wanted rows,
 * so a rank of a large job reads about 1/P of the features.
 */
#include "shard/partition.h"

#include "base/log.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/sha256.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdlib.h>
#include <string.h>

#define PARTITION_BLOCK_ROWS 4096

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

/* Digest of the canonical content: "sisa-dataset-v1", n and d (u64 LE), X rows (float32 LE),
 * y (int32 LE), id (u64 LE), then group (u64 LE) when present. Little-endian hosts only. */
static void digest_header(sisa_sha256_ctx *h, const sisa_dataset_header *hdr)
{
    uint64_t nd[2] = {hdr->n, hdr->d};
    sisa_sha256_update(h, "sisa-dataset-v1", 15);
    sisa_sha256_update(h, nd, sizeof nd);
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

int sisa_partition(const sisa_store *st, const unsigned char *want, char *digest_hex,
                   sisa_dataset_header *hdr_out)
{
    int err = SISA_OK;
    const sisa_config *cfg = &st->cfg;
    const uint32_t S = (uint32_t)cfg->sisa.shards;
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    uint32_t *shard_of = NULL, *slice_of = NULL;
    uint64_t *pos = NULL, *count = NULL;
    sisa_shard_data **sd = NULL;
    id_row *pairs = NULL;
    float *block = NULL;
    sisa_sha256_ctx h;
    sisa_progress prog;

    SISA_TRY(sisa_dataset_stream_open(&ds, cfg->data.train, &hdr));
    const int32_t *y = sisa_dataset_stream_y(ds);
    const uint64_t *id = sisa_dataset_stream_id(ds);
    const uint64_t *group = sisa_dataset_stream_group(ds);
    SISA_CHECK(cfg->sisa.sharding != SISA_SHARDING_GROUP || group, SISA_ECONFIG,
               "%s: sisa.sharding is 'group' but %s has no group column (import it with "
               "--group COLUMN)",
               cfg->source, cfg->data.train);
    SISA_CHECK(hdr.d <= UINT32_MAX, SISA_ECORRUPT, "%s: too many features", cfg->data.train);

    shard_of = malloc(hdr.n * sizeof *shard_of);
    slice_of = malloc(hdr.n * sizeof *slice_of);
    pos = malloc(hdr.n * sizeof *pos);
    count = calloc(S, sizeof *count);
    sd = calloc(S, sizeof *sd);
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
    pairs = malloc((max_count ? max_count : 1) * sizeof *pairs);
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

    block = malloc(PARTITION_BLOCK_ROWS * hdr.d * sizeof *block);
    SISA_CHECK(block, SISA_ENOMEM, "out of memory");
    sisa_progress_start(&prog, "partition", "rows", hdr.n);
    if (digest_hex) {
        sisa_sha256_init(&h);
        digest_header(&h, &hdr);
    }
    for (uint64_t r0 = 0; r0 < hdr.n; r0 += PARTITION_BLOCK_ROWS) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while partitioning %s",
                   cfg->data.train);
        uint64_t nr = hdr.n - r0 < PARTITION_BLOCK_ROWS ? hdr.n - r0 : PARTITION_BLOCK_ROWS;
        if (digest_hex) {
            SISA_TRY(sisa_dataset_stream_read_x(ds, r0, nr, block));
            sisa_sha256_update(&h, block, nr * hdr.d * sizeof *block);
            scatter(sd, shard_of, pos, r0, nr, hdr.d, block);
        } else {
            /* Only the runs of consecutive rows that belong to wanted shards. */
            for (uint64_t a = r0; a < r0 + nr;) {
                if (!sd[shard_of[a]]) {
                    a++;
                    continue;
                }
                uint64_t b = a + 1;
                while (b < r0 + nr && sd[shard_of[b]]) b++;
                SISA_TRY(sisa_dataset_stream_read_x(ds, a, b - a, block));
                scatter(sd, shard_of, pos, a, b - a, hdr.d, block);
                a = b;
            }
        }
        sisa_progress_update(&prog, r0 + nr);
    }
    sisa_progress_finish(&prog);
    if (digest_hex) {
        sisa_sha256_update(&h, y, hdr.n * sizeof *y);
        sisa_sha256_update(&h, id, hdr.n * sizeof *id);
        if (group) sisa_sha256_update(&h, group, hdr.n * sizeof *group);
        uint8_t digest[SISA_SHA256_LEN];
        sisa_sha256_final(&h, digest);
        sisa_hex(digest_hex, digest, SISA_SHA256_LEN);
    }

    for (uint32_t k = 0; k < S; k++) {
        if (!sd[k]) continue;
        sisa_files files = {0};
        err = sisa_shard_files(st, k, &files, 1);
        if (err == SISA_OK) err = sisa_shard_commit_data(st, &files, sd[k]);
        sisa_files_close(&files);
        SISA_TRY(err);
        sisa_debug("shard %u: %llu rows", k, (unsigned long long)sd[k]->n);
    }
    *hdr_out = hdr;
done:
    if (sd)
        for (uint32_t k = 0; k < S; k++) sisa_shard_data_free(sd[k]);
    free(sd);
    free(block);
    free(pairs);
    free(count);
    free(pos);
    free(slice_of);
    free(shard_of);
    sisa_dataset_stream_close(ds);
    return err;
}
