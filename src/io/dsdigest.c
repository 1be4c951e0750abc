/*
 * dsdigest.c - the dataset digest, see dsdigest.h. tests/test_io.c checks both versions against
 * an independent computation (Python's hashlib over h5py's arrays).
 */
#include "io/dsdigest.h"

#include "base/log.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

#define READ_CAP_BYTES (16u << 20)

uint64_t sisa_dsdigest_blocks(uint64_t n)
{
    return (n + SISA_DIGEST_BLOCK_ROWS - 1) / SISA_DIGEST_BLOCK_ROWS;
}

uint64_t sisa_dsdigest_read_rows(uint64_t d)
{
    uint64_t row_bytes = (d ? d : 1) * sizeof(float);
    uint64_t rows = 4 * (uint64_t)SISA_DIGEST_BLOCK_ROWS;
    while (rows > SISA_DIGEST_BLOCK_ROWS && rows * row_bytes > READ_CAP_BYTES)
        rows -= SISA_DIGEST_BLOCK_ROWS;
    if (rows * row_bytes > READ_CAP_BYTES) rows = READ_CAP_BYTES / row_bytes;
    return rows ? rows : 1;
}

void sisa_dsdigest_free(sisa_dsdigest *c)
{
    sisa_free(c->leaves);
    c->leaves = NULL;
}

int sisa_dsdigest_init(sisa_dsdigest *c, int version, const sisa_dataset_header *hdr,
                       const int32_t *y, const uint64_t *id, const uint64_t *group, uint64_t row0,
                       uint64_t row1)
{
    int err = SISA_OK;
    const uint64_t B = SISA_DIGEST_BLOCK_ROWS;
    memset(c, 0, sizeof *c);
    SISA_CHECK(version == SISA_DIGEST_V1 || version == SISA_DIGEST_V2, SISA_EINTERNAL,
               "unknown dataset digest version %d", version);
    SISA_CHECK(row0 <= row1 && row1 <= hdr->n, SISA_EINTERNAL, "digest range %llu..%llu of %llu",
               (unsigned long long)row0, (unsigned long long)row1, (unsigned long long)hdr->n);
    c->version = version;
    c->n = hdr->n;
    c->d = hdr->d;
    c->y = y;
    c->id = id;
    c->group = group;
    c->row0 = c->next = row0;
    c->row1 = row1;
    sisa_sha256_init(&c->h);
    if (version == SISA_DIGEST_V1) {
        SISA_CHECK(row0 == 0 && row1 == hdr->n, SISA_EINTERNAL,
                   "a v1 dataset digest covers the whole dataset");
        const uint64_t nd[2] = {hdr->n, hdr->d};
        sisa_sha256_update(&c->h, "sisa-dataset-v1", 15);
        sisa_sha256_update(&c->h, nd, sizeof nd);
        goto done;
    }
    SISA_CHECK(row0 % B == 0 && (row1 % B == 0 || row1 == hdr->n), SISA_EINTERNAL,
               "digest range %llu..%llu is not made of whole blocks", (unsigned long long)row0,
               (unsigned long long)row1);
    c->leaf0 = row0 / B;
    c->n_leaves = (row1 + B - 1) / B - c->leaf0;
    c->leaves = sisa_malloc((c->n_leaves ? c->n_leaves : 1) * sizeof *c->leaves);
    SISA_CHECK(c->leaves, SISA_ENOMEM, "out of memory for %llu digest blocks",
               (unsigned long long)c->n_leaves);
done:
    return err;
}

/* The per-row columns of rows [a, a + rows) of one leaf. */
static void leaf_columns(sisa_sha256_ctx *h, const sisa_dsdigest *c, uint64_t a, uint64_t rows)
{
    sisa_sha256_update(h, c->y + a, rows * sizeof *c->y);
    sisa_sha256_update(h, c->id + a, rows * sizeof *c->id);
    if (c->group) sisa_sha256_update(h, c->group + a, rows * sizeof *c->group);
    if (c->risk) sisa_sha256_update(h, c->risk + a, rows);
}

/* `k` (2..4) whole blocks starting at row c->next, hashed together. */
static void whole_leaves(sisa_dsdigest *c, const float *X, int k)
{
    const uint64_t B = SISA_DIGEST_BLOCK_ROWS;
    sisa_sha256_ctx h[SISA_SHA256_MAX_MULTI], *hp[SISA_SHA256_MAX_MULTI];
    const void *p[SISA_SHA256_MAX_MULTI];
    for (int j = 0; j < k; j++) {
        sisa_sha256_init(&h[j]);
        hp[j] = &h[j];
        p[j] = X + (uint64_t)j * B * c->d;
    }
    sisa_sha256_update_multi(hp, p, B * c->d * sizeof *X, k);
    for (int j = 0; j < k; j++) p[j] = c->y + c->next + (uint64_t)j * B;
    sisa_sha256_update_multi(hp, p, B * sizeof *c->y, k);
    for (int j = 0; j < k; j++) p[j] = c->id + c->next + (uint64_t)j * B;
    sisa_sha256_update_multi(hp, p, B * sizeof *c->id, k);
    if (c->group) {
        for (int j = 0; j < k; j++) p[j] = c->group + c->next + (uint64_t)j * B;
        sisa_sha256_update_multi(hp, p, B * sizeof *c->group, k);
    }
    if (c->risk) {
        for (int j = 0; j < k; j++) p[j] = c->risk + c->next + (uint64_t)j * B;
        sisa_sha256_update_multi(hp, p, B, k);
    }
    for (int j = 0; j < k; j++) sisa_sha256_final(&h[j], c->leaves[c->next / B + j - c->leaf0]);
    c->next += (uint64_t)k * B;
}

int sisa_dsdigest_rows(sisa_dsdigest *c, const float *X, uint64_t rows)
{
    const uint64_t B = SISA_DIGEST_BLOCK_ROWS;
    if (rows > c->row1 - c->next)
        return SISA_ERR(SISA_EINTERNAL,
                        "digest fed rows %llu..%llu past the end of its range (%llu)",
                        (unsigned long long)c->next, (unsigned long long)(c->next + rows),
                        (unsigned long long)c->row1);
    if (c->version == SISA_DIGEST_V1) {
        sisa_sha256_update(&c->h, X, rows * c->d * sizeof *X);
        c->next += rows;
        return SISA_OK;
    }
    while (rows > 0) {
        const uint64_t in_block = c->next % B;
        uint64_t whole = in_block == 0 ? rows / B : 0;
        /* Whole blocks fed at once (never the dataset's last one if it is short: rows / B
         * counts full blocks only). */
        if (whole >= 2) {
            int k = whole >= 4 ? 4 : (int)whole;
            whole_leaves(c, X, k);
            X += (uint64_t)k * B * c->d;
            rows -= (uint64_t)k * B;
            continue;
        }
        const uint64_t start = c->next - in_block;
        const uint64_t end = start + B < c->n ? start + B : c->n;
        uint64_t take = end - c->next < rows ? end - c->next : rows;
        if (in_block == 0) sisa_sha256_init(&c->h);
        sisa_sha256_update(&c->h, X, take * c->d * sizeof *X);
        X += take * c->d;
        rows -= take;
        c->next += take;
        if (c->next == end) {
            leaf_columns(&c->h, c, start, end - start);
            sisa_sha256_final(&c->h, c->leaves[start / B - c->leaf0]);
        }
    }
    return SISA_OK;
}

void sisa_dsdigest_root(char hex[SISA_SHA256_HEX], const sisa_dataset_header *hdr,
                        const uint8_t (*leaves)[32])
{
    sisa_sha256_ctx h;
    const uint64_t nd[3] = {hdr->n, hdr->d, SISA_DIGEST_BLOCK_ROWS};
    const uint8_t g = (uint8_t)((hdr->has_group ? 1 : 0) | (hdr->has_risk ? 2 : 0));
    sisa_sha256_init(&h);
    sisa_sha256_update(&h, "sisa-dataset-v2", 15);
    sisa_sha256_update(&h, nd, sizeof nd);
    sisa_sha256_update(&h, &g, 1);
    sisa_sha256_update(&h, leaves, sisa_dsdigest_blocks(hdr->n) * 32);
    uint8_t d[SISA_SHA256_LEN];
    sisa_sha256_final(&h, d);
    sisa_hex(hex, d, SISA_SHA256_LEN);
}

int sisa_dsdigest_final(sisa_dsdigest *c, char hex[SISA_SHA256_HEX])
{
    int err = SISA_OK;
    SISA_CHECK(c->row0 == 0 && c->row1 == c->n && c->next == c->n, SISA_EINTERNAL,
               "dataset digest finished after rows %llu..%llu of %llu", (unsigned long long)c->row0,
               (unsigned long long)c->next, (unsigned long long)c->n);
    if (c->version == SISA_DIGEST_V1) {
        leaf_columns(&c->h, c, 0, c->n);
        uint8_t d[SISA_SHA256_LEN];
        sisa_sha256_final(&c->h, d);
        sisa_hex(hex, d, SISA_SHA256_LEN);
    } else {
        sisa_dataset_header hdr = {
            .n = c->n, .d = c->d, .has_group = c->group != NULL, .has_risk = c->risk != NULL};
        sisa_dsdigest_root(hex, &hdr, (const uint8_t(*)[32])c->leaves);
    }
done:
    return err;
}

int sisa_dataset_digest(const char *path, int version, char hex[SISA_SHA256_HEX])
{
    int err = SISA_OK;
    sisa_dataset_stream *ds = NULL;
    sisa_dataset_header hdr;
    sisa_dsdigest c = {0};
    float *block = NULL;
    SISA_TRY(sisa_dataset_stream_open(&ds, path, &hdr));
    SISA_TRY(sisa_dsdigest_init(&c, version, &hdr, sisa_dataset_stream_y(ds),
                                sisa_dataset_stream_id(ds), sisa_dataset_stream_group(ds), 0,
                                hdr.n));
    c.risk = sisa_dataset_stream_risk(ds);
    const uint64_t step = sisa_dsdigest_read_rows(hdr.d);
    block = sisa_malloc(step * hdr.d * sizeof *block);
    SISA_CHECK(block, SISA_ENOMEM, "out of memory");
    for (uint64_t r0 = 0; r0 < hdr.n; r0 += step) {
        SISA_CHECK(!sisa_interrupt_requested(), SISA_EINTR, "interrupted while reading %s", path);
        uint64_t nr = hdr.n - r0 < step ? hdr.n - r0 : step;
        SISA_TRY(sisa_dataset_stream_read_x(ds, r0, nr, block));
        SISA_TRY(sisa_dsdigest_rows(&c, block, nr));
    }
    SISA_TRY(sisa_dsdigest_final(&c, hex));
done:
    sisa_free(block);
    sisa_dsdigest_free(&c);
    sisa_dataset_stream_close(ds);
    return err;
}
