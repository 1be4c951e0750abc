/*
 * test_shard.c - the pieces of the shard engine that decide what is trained when: the stage
 * budget, keyed assignment, lineage hashes, request parsing, and the aggregation strategies.
 */
#include "testutil.h"

#include "aggregate/aggregate.h"
#include "base/sha256.h"
#include "io/store_io.h"
#include "shard/partition.h"
#include "shard/store.h"
#include "shard/train.h"
#include "shard/unlearn.h"
#include "sisa/config.h"
#include "sisa/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_stage_visits(void **state)
{
    (void)state;
    /* R = 1: e epochs. */
    assert_int_equal(sisa_stage_visits(100, 5, 1), 500);
    /* The paper's 2e/(R+1) epochs per stage: e = 5, R = 4 -> 2 epochs. */
    assert_int_equal(sisa_stage_visits(100, 5, 4), 200);
    /* Fractional: 2*1*7/3 = 4.67 -> 5; 2*5*10/6 = 16.67 -> 17 (1 epoch + 7 samples). */
    assert_int_equal(sisa_stage_visits(7, 1, 2), 5);
    assert_int_equal(sisa_stage_visits(10, 5, 5), 17);
    /* Exactly half rounds up: 2*1*1/4 = 0.5 -> 1. */
    assert_int_equal(sisa_stage_visits(1, 1, 3), 1);
    assert_int_equal(sisa_stage_visits(0, 5, 4), 0);
    /* The stages together cost about e epochs of the full shard (the recalibration's point):
     * sum_r 2e * (r/R) n / (R+1) = e n. */
    uint64_t n = 1200, total = 0;
    for (uint32_t r = 1; r <= 4; r++) total += sisa_stage_visits(n * r / 4, 5, 4);
    assert_int_equal(total, 5 * n);
}

static void test_assignment(void **state)
{
    (void)state;
    sisa_config cfg;
    sisa_config_defaults(&cfg);
    cfg.seed = 42;
    cfg.sisa.shards = 5;
    cfg.sisa.slices = 3;
    unsigned counts[5][3] = {{0}};
    for (uint64_t id = 0; id < 30000; id++) {
        uint32_t k, s, k2, s2;
        sisa_partition_assign(&cfg, id, 0, 0, &k, &s);
        assert_true(k < 5 && s < 3);
        /* A pure function of (seed, id): the group argument is ignored under id sharding. */
        sisa_partition_assign(&cfg, id, id * 31 + 7, 0, &k2, &s2);
        assert_int_equal(k, k2);
        assert_int_equal(s, s2);
        counts[k][s]++;
    }
    for (int k = 0; k < 5; k++)
        for (int s = 0; s < 3; s++) assert_true(counts[k][s] > 1800 && counts[k][s] < 2200);

    /* Group sharding: every row of a group lands in the group's shard; slices still follow
     * the row's own ID. */
    cfg.sisa.sharding = SISA_SHARDING_GROUP;
    for (uint64_t g = 0; g < 200; g++) {
        uint32_t k0, s0;
        sisa_partition_assign(&cfg, g * 1000, g, 0, &k0, &s0);
        int slices_seen = 0;
        for (uint64_t j = 1; j < 12; j++) {
            uint32_t k, s;
            sisa_partition_assign(&cfg, g * 1000 + j, g, 0, &k, &s);
            assert_int_equal(k, k0);
            slices_seen |= 1 << s;
        }
        (void)slices_seen;
    }
    /* Another seed moves most rows. */
    cfg.sisa.sharding = SISA_SHARDING_ID;
    int moved = 0;
    for (uint64_t id = 0; id < 1000; id++) {
        uint32_t k1, s1, k2, s2;
        sisa_partition_assign(&cfg, id, 0, 0, &k1, &s1);
        cfg.seed = 43;
        sisa_partition_assign(&cfg, id, 0, 0, &k2, &s2);
        cfg.seed = 42;
        moved += k1 != k2;
    }
    assert_true(moved > 700);
}

/* Tiered sharding: a row's shard lies in its tier's range and its slice is the last one in a
 * last_slice tier; one tier without last_slice places rows exactly as sharding by ID; the
 * candidates of a key are its shard in every tier. */
static void test_tiered_assignment(void **state)
{
    (void)state;
    sisa_config cfg, plain;
    sisa_config_defaults(&cfg);
    cfg.seed = 7;
    cfg.sisa.shards = 8;
    cfg.sisa.slices = 4;
    plain = cfg;
    cfg.sisa.sharding = SISA_SHARDING_TIERED;
    cfg.sisa.n_tiers = 3;
    cfg.sisa.tiers[0] = (sisa_tier){.shards = 5};
    cfg.sisa.tiers[1] = (sisa_tier){.shards = 2, .last_slice = 1};
    cfg.sisa.tiers[2] = (sisa_tier){.shards = 1};
    const uint32_t lo[3] = {0, 5, 7}, hi[3] = {5, 7, 8};
    for (uint32_t k = 0; k < 8; k++)
        assert_int_equal(sisa_partition_tier_of(&cfg, k), k < 5 ? 0 : k < 7 ? 1 : 2);
    assert_false(sisa_partition_last_slice_shard(&cfg, 4));
    assert_true(sisa_partition_last_slice_shard(&cfg, 5));
    assert_true(sisa_partition_last_slice_shard(&cfg, 6));
    assert_false(sisa_partition_last_slice_shard(&plain, 6));
    unsigned used[8] = {0};
    for (uint64_t id = 0; id < 6000; id++) {
        uint8_t t = (uint8_t)(id % 3);
        uint32_t k, s, k1, s1;
        sisa_partition_assign(&cfg, id, 0, t, &k, &s);
        assert_true(k >= lo[t] && k < hi[t]);
        if (t == 1) assert_int_equal(s, 3);
        /* Without last_slice, the slice is the one sharding by ID gives. */
        sisa_partition_assign(&plain, id, 0, 0, &k1, &s1);
        if (t != 1) assert_int_equal(s, s1);
        unsigned char cand[8] = {0};
        sisa_partition_candidates(&cfg, id, cand);
        assert_true(cand[k]);
        int n = 0;
        for (int j = 0; j < 8; j++) n += cand[j];
        assert_true(n >= 1 && n <= 3);
        used[k]++;
    }
    for (int k = 0; k < 8; k++) assert_true(used[k] > 0);
    /* One tier, no last_slice: the same places as sharding by ID. */
    cfg.sisa.n_tiers = 1;
    cfg.sisa.tiers[0] = (sisa_tier){.shards = 8};
    for (uint64_t id = 0; id < 2000; id++) {
        uint32_t k, s, k1, s1;
        sisa_partition_assign(&cfg, id, 0, 0, &k, &s);
        sisa_partition_assign(&plain, id, 0, 0, &k1, &s1);
        assert_int_equal(k, k1);
        assert_int_equal(s, s1);
    }
    /* The columns a tiered config needs, and tiers beyond sisa.tiers. */
    const uint8_t ok[3] = {0, 0, 0}, bad[3] = {0, 0, 1};
    assert_int_equal(sisa_partition_check_columns(&cfg, "d.h5", 3, NULL, NULL), SISA_ECONFIG);
    tu_assert_contains(sisa_error_message(), "has no risk column (import it with --risk COLUMN)");
    assert_int_equal(sisa_partition_check_columns(&cfg, "d.h5", 3, NULL, ok), SISA_OK);
    assert_int_equal(sisa_partition_check_columns(&cfg, "d.h5", 3, NULL, bad), SISA_ECONFIG);
    tu_assert_contains(sisa_error_message(),
                       "row 2 of d.h5 has risk tier 1, but sisa.tiers lists 1 "
                       "tier (0..0)");
    cfg.sisa.tier_key = SISA_SHARDING_GROUP;
    assert_int_equal(sisa_partition_check_columns(&cfg, "d.h5", 3, NULL, ok), SISA_ECONFIG);
    tu_assert_contains(sisa_error_message(), "tier_key is 'group' but d.h5 has no group column");
}

static void lineage_of(const uint64_t *ids, size_t n, char hex[65])
{
    sisa_sha256_ctx h;
    sisa_sha256_init(&h);
    sisa_sha256_update(&h, "sisa-lineage-v1", 15);
    for (size_t i = 0; i < n; i++) {
        uint8_t le[8];
        for (int b = 0; b < 8; b++) le[b] = (uint8_t)(ids[i] >> (8 * b));
        sisa_sha256_update(&h, le, 8);
    }
    uint8_t d[32];
    sisa_sha256_final(&h, d);
    sisa_hex(hex, d, 32);
}

static void test_lineage(void **state)
{
    (void)state;
    sisa_shard_data *sd = NULL;
    assert_int_equal(sisa_shard_data_alloc(&sd, 0, 6, 1, 2, 0), 0);
    const uint64_t ids[6] = {3, 10, 11, 40, 41, 900};
    const int32_t slices[6] = {1, 0, 2, 0, 1, 2};
    memcpy(sd->id, ids, sizeof ids);
    memcpy(sd->slice, slices, sizeof slices);
    char lin[3][65];
    assert_int_equal(sisa_shard_lineages(sd, 3, lin), 0);
    /* Stage r covers slices < r, IDs ascending, each as 8 little-endian bytes. */
    char expect[65];
    const uint64_t s1[] = {10, 40}, s2[] = {3, 10, 40, 41}, s3[] = {3, 10, 11, 40, 41, 900};
    lineage_of(s1, 2, expect);
    assert_string_equal(lin[0], expect);
    lineage_of(s2, 4, expect);
    assert_string_equal(lin[1], expect);
    lineage_of(s3, 6, expect);
    assert_string_equal(lin[2], expect);

    /* Deleting a row of slice 1 (ID 41) leaves stage 1 alone and changes stages 2 and 3. */
    sd->id[4] = sd->id[5];
    sd->slice[4] = sd->slice[5];
    sd->n = 5;
    char after[3][65];
    assert_int_equal(sisa_shard_lineages(sd, 3, after), 0);
    assert_string_equal(after[0], lin[0]);
    assert_string_not_equal(after[1], lin[1]);
    assert_string_not_equal(after[2], lin[2]);
    /* Work accounting uses the same stage sizes. */
    sd->n = 6;
    memcpy(sd->id, ids, sizeof ids);
    memcpy(sd->slice, slices, sizeof slices);
    assert_int_equal(sisa_shard_visits(sd, 2, 3, 1), sisa_stage_visits(2, 2, 3) +
                                                         sisa_stage_visits(4, 2, 3) +
                                                         sisa_stage_visits(6, 2, 3));
    sisa_shard_data_free(sd);
}

static void test_parse_requests(void **state)
{
    (void)state;
    uint64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(sisa_unlearn_parse_list(&ids, &n, "17,42,17", "sample ID"), 0);
    assert_int_equal(n, 3);
    assert_true(ids[0] == 17 && ids[1] == 42 && ids[2] == 17);
    free(ids);
    assert_int_equal(sisa_unlearn_parse_list(&ids, &n, "17,-3", "sample ID"), SISA_EUSAGE);
    tu_assert_contains(sisa_error_message(), "'-3' is not a sample ID");
    assert_int_equal(sisa_unlearn_parse_list(&ids, &n, ",", "sample ID"), SISA_EUSAGE);

    const char *dir = tu_scratch("requests");
    char path[4096];
    snprintf(path, sizeof path, "%s/ids.txt", dir);
    tu_write_text(path,
                  "# deletion request 12\n\n7  \n\t8 # trailing comment\r\n18446744073709551615\n");
    assert_int_equal(sisa_unlearn_parse_file(&ids, &n, path, "sample ID"), 0);
    assert_int_equal(n, 3);
    assert_true(ids[0] == 7 && ids[1] == 8 && ids[2] == UINT64_MAX);
    free(ids);
    tu_write_text(path, "7\n8 9\n");
    assert_int_equal(sisa_unlearn_parse_file(&ids, &n, path, "sample ID"), SISA_EUSAGE);
    tu_assert_contains(sisa_error_message(), "ids.txt:2: '8 9' is not a sample ID");
    tu_write_text(path, "# nothing\n\n");
    assert_int_equal(sisa_unlearn_parse_file(&ids, &n, path, "sample ID"), SISA_EUSAGE);
    tu_assert_contains(sisa_error_message(), "no sample IDs");
}

static void test_aggregate(void **state)
{
    (void)state;
    /* 3 models, 2 rows, 3 classes. */
    const float m0[] = {0.6f, 0.3f, 0.1f, 0.2f, 0.2f, 0.6f};
    const float m1[] = {0.1f, 0.5f, 0.4f, 0.3f, 0.4f, 0.3f};
    const float m2[] = {0.2f, 0.7f, 0.1f, 0.5f, 0.25f, 0.25f};
    const float *const p[] = {m0, m1, m2};
    float out[6];
    int32_t lab[2];

    /* vote: row 0 votes {0, 1, 1} -> 1; row 1 votes {2, 1, 0}: a three-way tie -> lowest, 0. */
    assert_int_equal(sisa_aggregate(SISA_AGG_VOTE, 3, p, NULL, 2, 3, out, lab), 0);
    assert_int_equal(lab[0], 1);
    assert_int_equal(lab[1], 0);
    assert_true(out[0] == 1.0f / 3 && out[1] == 2.0f / 3 && out[2] == 0.0f);

    /* mean: sums in model order, in double. */
    assert_int_equal(sisa_aggregate(SISA_AGG_MEAN, 3, p, NULL, 2, 3, out, lab), 0);
    for (int i = 0; i < 6; i++) {
        double s = (double)m0[i] + (double)m1[i] + (double)m2[i];
        assert_true(out[i] == (float)(s / 3.0));
    }
    assert_int_equal(lab[0], 1); /* 0.3, 0.5, 0.2 */
    assert_int_equal(lab[1], 2); /* 0.333, 0.283, 0.383 */

    /* weighted by shard size: a heavy model 0 wins row 0's class 0. */
    const double w[] = {10, 1, 1};
    assert_int_equal(sisa_aggregate(SISA_AGG_WEIGHTED, 3, p, w, 2, 3, out, lab), 0);
    assert_int_equal(lab[0], 0);
    assert_true(fabsf(out[0] - (float)((10 * 0.6 + 0.1 + 0.2) / 12)) < 1e-7f);
    const double bad[] = {1, 0, 1};
    assert_int_equal(sisa_aggregate(SISA_AGG_WEIGHTED, 3, p, bad, 2, 3, out, lab), SISA_EUSAGE);
    assert_int_equal(sisa_aggregate(SISA_AGG_MEAN, 0, p, NULL, 2, 3, out, lab), SISA_EUSAGE);

    /* argmax ties go to the lowest class. */
    const float tie[] = {0.25f, 0.5f, 0.5f, 0.1f};
    assert_int_equal(sisa_argmax(tie, 4), 1);
}

/* The store's layout, written out as docs/formats.md gives it: shard folders of four digits at
 * least, checkpoints of three, files named inside them. */
static void test_store_layout(void **state)
{
    (void)state;
    char name[SISA_CKPT_NAME_MAX], path[64];
    sisa_ckpt_name(name, sizeof name, 7);
    assert_string_equal(name, "ckpt-007.h5");
    sisa_ckpt_name(name, sizeof name, 4294967295u);
    assert_string_equal(name, "ckpt-4294967295.h5");
    assert_int_equal(sisa_store_path(path, sizeof path, NULL, 3, NULL), 0);
    assert_string_equal(path, "shards/0003");
    assert_int_equal(sisa_store_path(path, sizeof path, "/st", 12345, SISA_SHARD_DATA), 0);
    assert_string_equal(path, "/st/shards/12345/data.h5");
    sisa_ckpt_name(name, sizeof name, 12);
    assert_int_equal(sisa_store_path(path, sizeof path, "s", 0, name), 0);
    assert_string_equal(path, "s/shards/0000/ckpt-012.h5");
    /* One byte short: refused, naming the root. */
    assert_int_equal(sisa_store_path(path, 25, "s", 0, name), SISA_EUSAGE);
    tu_assert_contains(sisa_error_message(), "store path too long: s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_visits),      cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_tiered_assignment), cmocka_unit_test(test_lineage),
        cmocka_unit_test(test_parse_requests),    cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_store_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
