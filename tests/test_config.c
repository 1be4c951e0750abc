/*
 * test_config.c - src/config: the strict YAML loader, defaults, dump, hash and the reference.
 *
 * The heart is a table of bad configs, each with the exact "LINE:COL: sentence" it must produce;
 * a few of them also go through the real `sisa config check`. The rest checks what a good
 * config turns into: defaults, resolved paths, dump -> parse identity, and a config hash that
 * follows its documented rule (recomputed here from the dump, independently of the library).
 */
#include "testutil.h"

#include "base/sha256.h"
#include "config/schema.h"
#include "sisa/config.h"
#include "sisa/error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The smallest valid config: three lines, so errors in the cases below start on line 4. */
#define BASE "data:\n  train: a.h5\nstore: s\n"

typedef struct {
    const char *yaml;
    const char *expect; /* substring of the message after "bad.yaml:" */
    int cli;            /* also run through `sisa config check` */
} bad_case;

static const bad_case bad_cases[] = {
    /* knn: keys that would do nothing, merge without knn */
    {BASE "model:\n  type: knn\ntrain:\n  lr: 0.1\n",
     "7:7: 'train.lr' is set, but model.type is knn, which trains no parameters", 1},
    {BASE "model:\n  type: knn\n  hidden: [8]\n",
     "6:11: 'model.hidden' is set, but model.type is knn, which has no hidden layers", 0},
    {BASE "model:\n  type: mlp\n  k: 3\n", "6:6: 'model.k' is set, but model.type is mlp", 0},
    {BASE "aggregate:\n  strategy: merge\n",
     "5:13: 'aggregate.strategy' is merge, which combines neighbour lists, but model.type is mlp",
     1},
    {BASE "model:\n  type: knn\n  k: 0\n", "6:6: 'model.k' must be", 0},
    {BASE "model:\n  type: knn\n  metric: manhattan\n",
     "6:11: 'model.metric' must be one of: euclidean, cosine; found 'manhattan'", 0},
    /* unknown keys */
    {BASE "train:\n  lrr: 0.1\n", "5:3: unknown key 'lrr' in section 'train' (did you mean 'lr'?)",
     1},
    {BASE "sed: 1\n", "4:1: unknown key 'sed' at the top level (did you mean 'seed'?)", 0},
    {BASE "trian:\n  lr: 0.1\n",
     "4:1: unknown key 'trian' at the top level (did you mean 'train'?)", 0},
    {BASE "train:\n  shards: 4\n",
     "5:3: unknown key 'shards' in section 'train': it belongs in section 'sisa' ('sisa.shards')",
     1},
    {BASE "lr: 0.1\n",
     "4:1: unknown key 'lr' at the top level: it belongs in section 'train' ('train.lr')", 0},
    {BASE "model:\n  seed: 3\n",
     "5:3: unknown key 'seed' in section 'model': it belongs at the "
     "top level",
     0},
    {BASE "model:\n  train: 3\n",
     "5:3: unknown key 'train' in section 'model': 'train' is a "
     "section of its own",
     0},
    {BASE "train.lr: 0.1\n", "4:1: unknown key 'train.lr': nest it as 'train:'", 0},
    {BASE "train:\n  shard: 2\n",
     "5:3: unknown key 'shard' in section 'train' (did you mean "
     "'sisa.shards'?)",
     0},
    {BASE "train:\n  bogus: 1\n",
     "5:3: unknown key 'bogus' in section 'train' (known keys here: "
     "optimizer, lr, schedule, final_lr_fraction, momentum",
     0},
    {BASE "a: 1\n", "4:1: unknown key 'a' at the top level (known keys here: data, store, seed", 0},
    {": 1\n" BASE, "1:1: invalid YAML: did not find expected key", 0},
    {BASE "? [a]\n: 1\n", "4:3: a key must be a name, found a list", 0},
    /* duplicates */
    {BASE "train:\n  lr: 0.1\n  lr: 0.2\n", "6:3: duplicate key 'lr' (first given at 5:3)", 1},
    {BASE "train:\n  lr: 0.1\ntrain:\n  epochs: 2\n",
     "6:1: duplicate key 'train' (first given at 4:1)", 0},
    {BASE "store: t\n", "4:1: duplicate key 'store' (first given at 3:1)", 0},
    {"data: {train: a.h5, train: b.h5}\nstore: s\n",
     "1:21: duplicate key 'train' (first given at 1:8)", 0},
    /* missing required keys */
    {"store: s\n", "1:1: missing required key 'data.train'", 1},
    {"data:\n  test: t.h5\nstore: s\n",
     "2:3: missing required key 'data.train' (write it as "
     "'train: ...' under 'data:')",
     0},
    {"# comment\n\ndata:\n  train: a.h5\n", "1:1: missing required key 'store'", 0},
    /* wrong types: integers */
    {BASE "seed: 1.0\n", "4:7: 'seed' must be a whole number in decimal digits, found '1.0'", 0},
    {BASE "sisa:\n  shards: 1e3\n",
     "5:11: 'sisa.shards' must be a whole number in decimal "
     "digits, found '1e3'",
     0},
    {BASE "seed: 0x10\n", "4:7: 'seed' must be a decimal integer, found '0x10'", 0},
    {BASE "seed: +1\n", "4:7: 'seed' must be a decimal integer, found '+1'", 0},
    {BASE "seed: 010\n",
     "4:7: 'seed' must be a decimal integer without leading zeros, found "
     "'010'",
     0},
    {BASE "sisa:\n  shards: 1_000\n",
     "5:11: 'sisa.shards' must be a decimal integer, found "
     "'1_000'",
     0},
    {BASE "seed: \"5\"\n", "4:7: 'seed' must be an integer, found the quoted string \"5\"", 1},
    {BASE "train:\n  epochs: '5'\n",
     "5:11: 'train.epochs' must be an integer, found the quoted "
     "string \"5\"",
     0},
    /* wrong types: booleans */
    {BASE "train:\n  nesterov: yes\n", "5:13: 'train.nesterov' must be true or false, found 'yes'",
     0},
    {BASE "train:\n  nesterov: on\n", "5:13: 'train.nesterov' must be true or false, found 'on'",
     0},
    {BASE "train:\n  nesterov: True\n",
     "5:13: 'train.nesterov' must be true or false, found "
     "'True'",
     0},
    {BASE "train:\n  nesterov: 1\n", "5:13: 'train.nesterov' must be true or false, found '1'", 0},
    {BASE "train:\n  nesterov: \"true\"\n",
     "5:13: 'train.nesterov' must be true or false, found "
     "\"true\"",
     0},
    /* wrong types: floats */
    {BASE "train:\n  lr: .inf\n", "5:7: 'train.lr' must be a finite number, found '.inf'", 1},
    {BASE "train:\n  lr: -.inf\n", "5:7: 'train.lr' must be a finite number, found '-.inf'", 0},
    {BASE "train:\n  lr: .nan\n", "5:7: 'train.lr' must be a finite number, found '.nan'", 0},
    {BASE "train:\n  lr: nan\n", "5:7: 'train.lr' must be a finite number, found 'nan'", 0},
    {BASE "train:\n  lr: inf\n", "5:7: 'train.lr' must be a finite number, found 'inf'", 0},
    {BASE "train:\n  lr: 1e999\n",
     "5:7: 'train.lr' must be a finite number, found '1e999', "
     "which is too large",
     0},
    {BASE "train:\n  lr: \"0.1\"\n",
     "5:7: 'train.lr' must be a number, found the quoted string "
     "\"0.1\"",
     0},
    {BASE "train:\n  lr: fast\n",
     "5:7: 'train.lr' must be a plain decimal number (like 0.001 or "
     "1e-3), found 'fast'",
     0},
    {BASE "train:\n  lr: 0x1p-3\n", "5:7: 'train.lr' must be a plain decimal number", 0},
    /* no value */
    {BASE "train:\n  lr:\n", "5:6: 'train.lr' has no value", 1},
    {BASE "train:\n  lr: ~\n", "5:7: 'train.lr' has no value", 0},
    {BASE "train:\n  lr: null\n", "5:7: 'train.lr' has no value", 0},
    {"data:\n  train: a.h5\nstore:\n", "3:7: 'store' has no value", 0},
    {BASE "model:\n  hidden:\n", "5:10: 'model.hidden' has no value", 0},
    {BASE "sisa:\n", "4:6: section 'sisa' has no keys", 0},
    /* a container where a scalar belongs, and the reverse */
    {BASE "train:\n  lr: [0.1]\n", "5:7: 'train.lr' must be a number, found a list", 0},
    {BASE "train:\n  lr:\n    value: 0.1\n", "6:5: 'train.lr' must be a number, found a mapping",
     0},
    {BASE "seed: {a: 1}\n", "4:7: 'seed' must be an integer, found a mapping", 0},
    {"data:\n  train: [a.h5]\nstore: s\n", "2:10: 'data.train' must be a path, found a list", 0},
    {BASE "model:\n  hidden: 256\n",
     "5:11: 'model.hidden' must be a list of integers like [256, "
     "128], found '256'",
     0},
    {BASE "model:\n  hidden: {a: 1}\n",
     "5:11: 'model.hidden' must be a list of integers like "
     "[256, 128], found a mapping",
     0},
    {BASE "sisa: 3\n",
     "4:7: 'sisa' is a section and must be a mapping of its keys (shards, "
     "slices, sharding, tiers, tier_key), found a single value",
     0},
    {"data: [a.h5]\nstore: s\n",
     "1:7: 'data' is a section and must be a mapping of its keys "
     "(train, test), found a list",
     0},
    /* list entries and nesting */
    {BASE "model:\n  hidden: [64, x]\n",
     "5:16: 'model.hidden' entry 2 must be a decimal integer, "
     "found 'x'",
     0},
    {BASE "model:\n  hidden: [64, ~]\n", "5:16: 'model.hidden' entry 2 has no value", 0},
    {BASE "model:\n  hidden: [[64]]\n",
     "5:12: 'model.hidden' entry 1 is nested deeper than the "
     "schema allows: expected an integer, found a list",
     1},
    {BASE "model:\n  hidden:\n    - 64\n    - {a: 1}\n",
     "7:7: 'model.hidden' entry 2 is nested deeper than the schema allows: expected an integer, "
     "found a mapping",
     0},
    {BASE "model:\n  hidden: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n",
     "5:51: 'model.hidden' has more than 16 entries", 0},
    {BASE "model:\n  hidden: [0]\n",
     "5:12: 'model.hidden' entry 1 must be an integer from 1 to "
     "65536, found 0",
     0},
    {BASE "model:\n  hidden: []\n",
     "5:11: 'model.hidden' needs 1 to 16 entries for model.type "
     "mlp, found []",
     0},
    /* out of range */
    {BASE "sisa:\n  shards: 0\n", "5:11: 'sisa.shards' must be an integer from 1 to 4096, found 0",
     0},
    {BASE "sisa:\n  slices: 257\n",
     "5:11: 'sisa.slices' must be an integer from 1 to 256, found "
     "257",
     0},
    {BASE "seed: -1\n", "4:7: 'seed' must be an integer from 0 to 9223372036854775807, found -1",
     0},
    {BASE "seed: 9223372036854775808\n",
     "4:7: 'seed' must be an integer from 0 to "
     "9223372036854775807, found 9223372036854775808",
     0},
    {BASE "train:\n  batch_size: 1048577\n",
     "5:15: 'train.batch_size' must be an integer from 1 "
     "to 1048576",
     0},
    {BASE "train:\n  lr: 0\n", "5:7: 'train.lr' must be in (0, 10], found 0", 0},
    {BASE "train:\n  lr: 10.5\n", "5:7: 'train.lr' must be in (0, 10], found 10.5", 0},
    {BASE "train:\n  momentum: 1\n", "5:13: 'train.momentum' must be in [0, 1), found 1", 0},
    {BASE "train:\n  eps: 0.0\n", "5:8: 'train.eps' must be in (0, 1], found 0.0", 0},
    {BASE "train:\n  weight_decay: -0.1\n",
     "5:17: 'train.weight_decay' must be in [0, 1], found "
     "-0.1",
     0},
    {BASE "train:\n  lr: 1e-400\n", "5:7: 'train.lr' must be in (0, 10], found 1e-400", 0},
    /* enums */
    {BASE "model:\n  type: rnn\n",
     "5:9: 'model.type' must be one of: logreg, mlp, knn, cnn; found 'rnn'", 0},
    /* cnn: the image shape, and layers that fit it */
    {BASE "model:\n  type: cnn\n",
     "5:9: model.type is cnn, which needs the shape of a row: add 'input: [height, width]'", 0},
    {BASE "model:\n  type: cnn\n  input: [28]\n",
     "6:10: 'model.input' needs 2 to 3 entries, found 1", 0},
    {BASE "model:\n  type: cnn\n  input: [1, 2, 28, 28]\n",
     "6:21: 'model.input' has more than 3 entries", 0},
    {BASE "model:\n  type: cnn\n  input: [28, 28]\n  kernel: 4\n",
     "7:11: 'model.kernel' is 4, but same padding needs an odd kernel size", 0},
    {BASE "model:\n  type: cnn\n  input: [28, 28]\n  conv: [8, 8, 8]\n",
     "7:9: 'model.pool' is 2, but convolution 3 of 3 sees 7 x 7 images, which 2 does not "
     "divide",
     0},
    {BASE "model:\n  type: cnn\n  input: [30, 28]\n  pool: 4\n",
     "7:9: 'model.pool' is 4, but convolution 1 of 2 sees 30 x 28 images", 0},
    {BASE "model:\n  type: cnn\n  input: [28, 28]\n  conv: []\n",
     "7:9: 'model.conv' needs 1 to 8 entries for model.type cnn, found []", 0},
    {BASE "model:\n  type: cnn\n  input: [28, 28]\n  hidden: []\n",
     "7:11: 'model.hidden' needs 1 to 16 entries for model.type cnn, found []", 0},
    {BASE "model:\n  conv: [8]\n",
     "5:9: 'model.conv' is set, but model.type is mlp; it applies to cnn", 0},
    {BASE "model:\n  type: logreg\n  pool: 2\n",
     "6:9: 'model.pool' is set, but model.type is logreg; it applies to cnn", 0},
    {BASE "train:\n  schedule: step\n",
     "5:13: 'train.schedule' must be one of: constant, cosine; found 'step'", 0},
    {BASE "train:\n  schedule: cosine\n  final_lr_fraction: 1.5\n",
     "6:22: 'train.final_lr_fraction' must be in [0, 1], found 1.5", 0},
    {BASE "train:\n  final_lr_fraction: -0.1\n",
     "5:22: 'train.final_lr_fraction' must be in [0, 1], found -0.1", 0},
    {BASE "train:\n  optimizer: Adam\n",
     "5:14: 'train.optimizer' must be one of: sgd, adam; "
     "found 'Adam'",
     0},
    {BASE "aggregate:\n  strategy: max\n",
     "5:13: 'aggregate.strategy' must be one of: vote, "
     "mean, weighted, merge; found 'max'",
     0},
    {BASE "model:\n  activation: tanh\n",
     "5:15: 'model.activation' must be one of: relu; found "
     "'tanh'",
     0},
    {BASE "sisa:\n  sharding: \"\"\n",
     "5:13: 'sisa.sharding' must be one of: id, group, tiered; found ''", 0},
    /* tiered sharding */
    {BASE "sisa:\n  sharding: tiered\n",
     "5:13: 'sisa.sharding' is tiered, but 'sisa.tiers' is not given", 1},
    {BASE "sisa:\n  tiers: [{shards: 2}]\n",
     "5:10: 'sisa.tiers' is set, but sisa.sharding is id; it applies to sharding: tiered", 0},
    {BASE "sisa:\n  tier_key: group\n", "5:13: 'sisa.tier_key' is set, but sisa.sharding is id", 0},
    {BASE "sisa:\n  sharding: tiered\n  shards: 8\n  tiers: [{shards: 6}, {shards: 1}]\n",
     "7:10: the shards of 'sisa.tiers' add up to 7, but sisa.shards is 8", 1},
    {BASE "sisa:\n  sharding: tiered\n  tiers: []\n",
     "6:10: 'sisa.tiers' needs 1 to 16 tiers, found 0", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [6, 2]\n",
     "6:11: 'sisa.tiers' tier 0 must be a mapping like {shards: 4}, found a single value", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{shards: 0}]\n",
     "6:20: 'sisa.tiers' tier 0 shards must be an integer from 1 to 4096, found 0", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{last_slice: true}]\n",
     "6:11: 'sisa.tiers' tier 0 has no 'shards'", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{shards: 2, last: true}]\n",
     "6:23: unknown key 'last' in 'sisa.tiers' tier 0 (known keys here: shards, last_slice)", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{shards: 2, shards: 3}]\n",
     "6:23: duplicate key 'shards' in 'sisa.tiers' tier 0", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{shards: 2, last_slice: yes}]\n",
     "6:35: 'sisa.tiers' tier 0 last_slice must be true or false, found 'yes'", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: [{shards: [2]}]\n",
     "6:20: 'sisa.tiers' tier 0 shards is nested deeper than the schema allows", 0},
    {BASE "sisa:\n  sharding: tiered\n  tiers: {shards: 2}\n",
     "6:10: 'sisa.tiers' must be a list of tiers like", 0},
    /* inconsistent values */
    {BASE "model:\n  type: logreg\n  hidden: [64]\n",
     "6:11: 'model.hidden' is set, but model.type is logreg", 1},
    {BASE "model:\n  hidden: [64]\n  type: logreg\n",
     "5:11: 'model.hidden' is set, but model.type is logreg", 0},
    {BASE "train:\n  nesterov: true\n",
     "5:13: 'train.nesterov' is true, but train.optimizer is "
     "adam",
     0},
    {BASE "train:\n  optimizer: sgd\n  momentum: 0\n  nesterov: true\n",
     "7:13: 'train.nesterov' is true, but train.momentum is 0", 0},
    {"data:\n  train: a.h5\n  test: ./x/../a.h5\nstore: s\n",
     "3:9: 'data.test' is the same file as 'data.train'", 0},
    {"data:\n  train: a.h5\nstore: a.h5\n", "3:8: 'store' is the same path as 'data.train'", 0},
    {"data:\n  train: a.h5\n  test: b.h5\nstore: .//b.h5\n",
     "4:8: 'store' is the same path as 'data.test'", 0},
    /* YAML features a config never needs */
    {"data:\n  train: &p a.h5\nstore: s\n", "2:10: anchors (&p) are not allowed", 0},
    {"data:\n  train: a.h5\nstore: *p\n", "3:8: aliases (*p) are not allowed", 0},
    {BASE "train: &t\n  lr: 0.1\n", "4:8: anchors (&t) are not allowed", 0},
    {"data:\n  train: !!str a.h5\nstore: s\n", "2:10: tags (!!str) are not allowed", 1},
    {BASE "seed: !foo 3\n", "4:7: tags (!foo) are not allowed", 0},
    {BASE "train: !!map\n  lr: 0.1\n", "4:8: tags (!!map) are not allowed", 0},
    {"%TAG !e! tag:example.com,2000:\n---\n" BASE, "1:1: %TAG directives are not allowed", 0},
    {BASE "---\nseed: 1\n", "4:1: a second YAML document starts here", 0},
    {"", "1:1: the file is empty", 0},
    {"# nothing but a comment\n", "1:1: the file is empty", 0},
    {"---\n", "2:1: the document is empty", 0},
    {"~\n", "1:1: the document is empty", 0},
    {"hello\n",
     "1:1: a config file must be a mapping of 'key: value' lines at the top, found the "
     "single value 'hello'",
     0},
    {"- a\n- b\n",
     "1:1: a config file must be a mapping of 'key: value' lines at the top, found "
     "a list",
     0},
    /* YAML syntax, as libyaml reports it */
    {"data:\n\ttrain: a.h5\nstore: s\n",
     "2:1: invalid YAML: found character that cannot start "
     "any token",
     1},
    {"data:\n  train: a.h5\n store: s\n", "3:2: invalid YAML: did not find expected key", 0},
    {"data:\n  train: \"a.h5\nstore: s\n",
     "4:1: invalid YAML: found unexpected end of stream (while scanning a quoted scalar at 2:10)",
     0},
    {"data:\n  train: a\xff.h5\nstore: s\n",
     "2:11: invalid YAML: invalid leading UTF-8 octet "
     "(byte 0xff)",
     0},
    {"data:\n  train: a\xc3.h5\nstore: s\n",
     "2:11: invalid YAML: invalid trailing UTF-8 octet "
     "(byte 0x2e)",
     0},
    /* paths */
    {"data:\n  train: \"\"\nstore: s\n", "2:10: 'data.train' is empty; give a path", 0},
    {"data:\n  train: \"a\\0b\"\nstore: s\n", "2:10: 'data.train' contains a NUL character", 0},
    {"data:\n  train: ~/data/a.h5\nstore: s\n",
     "2:10: 'data.train' starts with '~', which sisa "
     "does not expand",
     0},
};
#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

static void assert_config_error(int rc, const char *name, const char *expect)
{
    char needle[1200];
    snprintf(needle, sizeof needle, "%s:%s", name, expect);
    assert_int_equal(rc, SISA_ECONFIG);
    assert_int_equal(sisa_exit_code(rc), 2);
    tu_assert_contains(sisa_error_message(), needle);
}

static void test_bad_configs(void **state)
{
    (void)state;
    assert_true(N_BAD >= 45);
    sisa_config *cfg = malloc(sizeof *cfg);
    for (size_t i = 0; i < N_BAD; i++) {
        const bad_case *c = &bad_cases[i];
        sisa_error_clear();
        int rc = sisa_config_parse(cfg, c->yaml, strlen(c->yaml), "bad.yaml", "/cfg");
        if (rc != SISA_ECONFIG || !strstr(sisa_error_message(), c->expect))
            print_error("case %zu:\n%s\n", i, c->yaml);
        assert_config_error(rc, "bad.yaml", c->expect);
    }
    free(cfg);
}

/* Through the real binary: exit status 2, the message on stderr, nothing on stdout, and nothing
 * left in the folder but the config files themselves. */
static void test_bad_configs_cli(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("cli-bad"));
    int ran = 0;
    tu_run *r = malloc(sizeof *r);
    for (size_t i = 0; i < N_BAD; i++) {
        if (!bad_cases[i].cli) continue;
        char name[64], file[4200], needle[6000];
        snprintf(name, sizeof name, "bad%zu.yaml", i);
        snprintf(file, sizeof file, "%s/%s", dir, name);
        tu_write_text(file, bad_cases[i].yaml);
        tu_sisa(r, "config", "check", "-c", file, NULL);
        assert_int_equal(r->status, 2);
        snprintf(needle, sizeof needle, "sisa: error: %s:%s", file, bad_cases[i].expect);
        tu_assert_contains(r->err, needle);
        assert_string_equal(r->out, "");
        ran++;
    }
    assert_true(ran >= 6);
    assert_int_equal(tu_count_entries(dir), ran);
    free(r);
}

static void test_size_limit(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("size"));
    /* A valid config padded with a comment to one byte over 1 MiB. */
    size_t n = SISA_CONFIG_MAX_BYTES + 1;
    char *text = malloc(n + 1);
    memset(text, ' ', n);
    memcpy(text, BASE "#", strlen(BASE "#"));
    text[n - 1] = '\n';
    text[n] = '\0';
    sisa_config *cfg = malloc(sizeof *cfg);
    assert_config_error(sisa_config_parse(cfg, text, n, "big.yaml", "/cfg"), "big.yaml",
                        "1:1: the file is 1048577 bytes; config files may have at most 1048576");
    const char *path = tu_path(dir, "big.yaml");
    tu_write_file(path, text, n);
    assert_config_error(sisa_config_load(cfg, path), path, "1:1: the file is 1048577 bytes");
    tu_run *r = malloc(sizeof *r);
    tu_sisa(r, "config", "check", "-c", path, NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "big.yaml:1:1: the file is 1048577 bytes");
    /* Exactly 1 MiB is fine. */
    text[n - 2] = '\n';
    assert_int_equal(sisa_config_parse(cfg, text, n - 1, "max.yaml", "/cfg"), SISA_OK);
    free(r);
    free(cfg);
    free(text);
}

static double elapsed(struct timespec t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* libyaml is quadratic on deep nesting (minutes for 200 000 levels): the loader must reject at
 * the first node deeper than the schema, after a handful of events. */
static void test_deep_nesting(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("deep"));
    const size_t depth = 200000;
    const char *prefix = BASE "model:\n  hidden: ";
    size_t plen = strlen(prefix);
    char *text = malloc(plen + depth + 2);
    memcpy(text, prefix, plen);
    memset(text + plen, '[', depth);
    strcpy(text + plen + depth, "\n");
    sisa_config *cfg = malloc(sizeof *cfg);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sisa_config_parse(cfg, text, strlen(text), "deep.yaml", "/cfg");
    assert_true(elapsed(t0) < 2.0);
    assert_config_error(rc, "deep.yaml",
                        "5:12: 'model.hidden' entry 1 is nested deeper than the schema allows");

    /* Nothing but '[': the top level is already not a mapping. */
    const char *path = tu_path(dir, "brackets.yaml");
    tu_write_file(path, text + plen, depth);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sisa_config_load(cfg, path);
    assert_true(elapsed(t0) < 2.0);
    assert_config_error(rc, path,
                        "1:1: a config file must be a mapping of 'key: value' lines at "
                        "the top, found a list");
    /* The same with block sequences ("- - - ..."). */
    char *dash = malloc(depth + 64);
    int dl = snprintf(dash, 64, "%s", BASE "model:\n  hidden:\n    ");
    for (size_t i = 0; i < depth; i++) dash[dl + (int)i] = i % 2 ? ' ' : '-';
    strcpy(dash + dl + depth, "1\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sisa_config_parse(cfg, dash, strlen(dash), "dash.yaml", "/cfg");
    assert_true(elapsed(t0) < 2.0);
    assert_config_error(rc, "dash.yaml",
                        "6:7: 'model.hidden' entry 1 is nested deeper than the "
                        "schema allows: expected an integer, found a list");
    free(dash);
    /* And with flow mappings, which are the wrong type right away. */
    memset(text + plen, '{', depth);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sisa_config_parse(cfg, text, strlen(text), "brace.yaml", "/cfg");
    assert_true(elapsed(t0) < 2.0);
    assert_config_error(rc, "brace.yaml", "5:11: 'model.hidden' must be a list of integers");
    free(cfg);
    free(text);
}

static void test_files_and_io_errors(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("files"));
    sisa_config *cfg = malloc(sizeof *cfg);
    /* A missing file is an I/O error (exit 1), naming the file. */
    const char *missing = tu_path(dir, "nope.yaml");
    int rc = sisa_config_load(cfg, missing);
    assert_int_equal(rc, SISA_EIO);
    assert_int_equal(sisa_exit_code(rc), 1);
    tu_assert_contains(sisa_error_message(), missing);
    /* Files, not strings: invalid UTF-8, empty, two documents. */
    const char *p = tu_path(dir, "utf8.yaml");
    tu_write_text(p, "data:\n  train: \xe2\x82.h5\nstore: s\n");
    assert_config_error(sisa_config_load(cfg, p), p,
                        "2:10: invalid YAML: invalid trailing UTF-8 octet");
    p = tu_path(dir, "empty.yaml");
    tu_write_text(p, "");
    assert_config_error(sisa_config_load(cfg, p), p, "1:1: the file is empty");
    p = tu_path(dir, "two.yaml");
    tu_write_text(p, "---\n" BASE "---\n" BASE);
    assert_config_error(sisa_config_load(cfg, p), p, "5:1: a second YAML document starts here");
    /* UTF-16 (with a BOM) is not UTF-8. */
    p = tu_path(dir, "utf16.yaml");
    tu_write_file(p,
                  "\xff\xfe"
                  "d\0a\0",
                  6);
    rc = sisa_config_load(cfg, p);
    assert_int_equal(rc, SISA_ECONFIG);
    tu_assert_contains(sisa_error_message(), "invalid YAML");
    free(cfg);
}

/* ---- good configs ---------------------------------------------------------------------------- */

static void assert_roundtrip(const sisa_config *cfg, const char *name, const char *base)
{
    size_t n = sisa_config_dump(cfg, NULL, 0);
    char *text = malloc(n + 1);
    assert_int_equal(sisa_config_dump(cfg, text, n + 1), n);
    assert_int_equal(strlen(text), n);
    sisa_config *back = malloc(sizeof *back);
    memset(back, 0xA5, sizeof *back); /* the parser must define every byte */
    int rc = sisa_config_parse(back, text, n, name, base);
    if (rc) print_error("%s\n%s\n", sisa_error_message(), text);
    assert_int_equal(rc, SISA_OK);
    if (memcmp(cfg, back, sizeof *cfg) != 0) print_error("dump does not round-trip:\n%s\n", text);
    assert_memory_equal(cfg, back, sizeof *cfg);
    free(back);
    free(text);
}

static void test_configs_dir(void **state)
{
    (void)state;
    char dir[4096], path[4400], expect[4400];
    snprintf(dir, sizeof dir, "%s/configs", tu_env("SISA_TEST_SRC"));
    DIR *d = opendir(dir);
    assert_non_null(d);
    sisa_config *cfg = malloc(sizeof *cfg);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int rc = sisa_config_load(cfg, path);
        if (rc) print_error("%s\n", sisa_error_message());
        assert_int_equal(rc, SISA_OK);
        assert_string_equal(cfg->source, path);
        /* Every config in configs/ points into ../out/NAME/, resolved and normalised; a
         * variant NAME-VARIANT.yaml reads its base's data (../out/NAME/) into a store of its
         * own. */
        char stem[256], base[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), e->d_name);
        snprintf(expect, sizeof expect, "%s/out/%s/train.h5", tu_env("SISA_TEST_SRC"), stem);
        const char *dash = strrchr(stem, '-');
        snprintf(base, sizeof base, "%.*s", dash ? (int)(dash - stem) : (int)strlen(stem), stem);
        if (strcmp(cfg->data.train, expect) != 0)
            snprintf(expect, sizeof expect, "%s/out/%s/train.h5", tu_env("SISA_TEST_SRC"), base);
        assert_string_equal(cfg->data.train, expect);
        snprintf(expect, sizeof expect, "%s/out/%s/store", tu_env("SISA_TEST_SRC"), stem);
        assert_string_equal(cfg->store, expect);
        assert_null(strstr(cfg->data.train, "/../"));
        assert_roundtrip(cfg, path, dir);
        n++;
    }
    closedir(d);
    assert_true(n >= 2);

    /* Explicit values and defaults of the two shipped configs. */
    snprintf(path, sizeof path, "%s/fashion-mnist.yaml", dir);
    assert_int_equal(sisa_config_load(cfg, path), SISA_OK);
    assert_true(cfg->seed == 42);
    assert_int_equal(cfg->sisa.shards, 8);
    assert_int_equal(cfg->sisa.slices, 4);
    assert_int_equal(cfg->model.type, SISA_MODEL_MLP);
    assert_int_equal(cfg->model.n_hidden, 1);
    assert_int_equal(cfg->model.hidden[0], 256);
    assert_int_equal(cfg->train.optimizer, SISA_OPT_ADAM);
    assert_true(cfg->train.lr == 0.004 && cfg->train.momentum == 0.9);
    assert_int_equal(cfg->train.schedule, SISA_SCHED_COSINE);
    assert_true(cfg->train.final_lr_fraction == 0.3);
    assert_true(cfg->train.beta2 == 0.999 && cfg->train.eps == 1e-8); /* defaults */
    assert_int_equal(cfg->train.batch_size, 128);
    assert_int_equal(cfg->aggregate.strategy, SISA_AGG_MEAN);

    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    assert_int_equal(sisa_config_load(cfg, path), SISA_OK);
    assert_int_equal(cfg->sisa.shards, 3);
    assert_int_equal(cfg->sisa.slices, 2);
    assert_int_equal(cfg->model.hidden[0], 16);
    assert_int_equal(cfg->train.optimizer, SISA_OPT_SGD);
    assert_true(cfg->train.lr == 0.05);
    assert_int_equal(cfg->train.batch_size, 32);
    assert_int_equal(cfg->train.epochs, 2);
    assert_int_equal(cfg->aggregate.strategy, SISA_AGG_VOTE);
    assert_true(cfg->seed == 42);                               /* default */
    assert_int_equal(cfg->sisa.sharding, SISA_SHARDING_ID);     /* default */
    assert_int_equal(cfg->train.nesterov, 0);                   /* default */
    assert_int_equal(cfg->train.schedule, SISA_SCHED_CONSTANT); /* default */
    free(cfg);
}

static void test_defaults(void **state)
{
    (void)state;
    sisa_config *cfg = malloc(sizeof *cfg);
    memset(cfg, 0x5A, sizeof *cfg);
    sisa_config_defaults(cfg);
    assert_string_equal(cfg->data.train, "");
    assert_string_equal(cfg->store, "");
    assert_string_equal(cfg->data.test, "");
    assert_true(cfg->seed == 42);
    assert_int_equal(cfg->sisa.shards, 8);
    assert_int_equal(cfg->sisa.slices, 4);
    assert_int_equal(cfg->model.type, SISA_MODEL_MLP);
    assert_int_equal(cfg->model.n_hidden, 1);
    assert_int_equal(cfg->model.hidden[0], 256);
    assert_int_equal(cfg->model.hidden[1], 0);
    assert_int_equal(cfg->train.optimizer, SISA_OPT_ADAM);
    assert_true(cfg->train.lr == 0.001 && cfg->train.momentum == 0.9 && cfg->train.beta1 == 0.9 &&
                cfg->train.beta2 == 0.999 && cfg->train.eps == 1e-8 &&
                cfg->train.weight_decay == 0.0);
    assert_int_equal(cfg->train.schedule, SISA_SCHED_CONSTANT);
    assert_true(cfg->train.final_lr_fraction == 0.0);
    assert_int_equal(cfg->train.batch_size, 128);
    assert_int_equal(cfg->train.epochs, 5);
    assert_int_equal(cfg->aggregate.strategy, SISA_AGG_MEAN);

    /* The minimal file gives exactly the defaults plus its two paths. */
    sisa_config *parsed = malloc(sizeof *parsed);
    assert_int_equal(sisa_config_parse(parsed, BASE, strlen(BASE), "min.yaml", "/cfg"), SISA_OK);
    snprintf(cfg->source, sizeof cfg->source, "min.yaml");
    snprintf(cfg->data.train, sizeof cfg->data.train, "/cfg/a.h5");
    snprintf(cfg->store, sizeof cfg->store, "/cfg/s");
    assert_memory_equal(cfg, parsed, sizeof *cfg);

    assert_string_equal(sisa_model_type_name(SISA_MODEL_LOGREG), "logreg");
    assert_string_equal(sisa_optimizer_name(SISA_OPT_SGD), "sgd");
    assert_string_equal(sisa_schedule_name(SISA_SCHED_COSINE), "cosine");
    assert_string_equal(sisa_schedule_name(SISA_SCHED_CONSTANT), "constant");
    assert_string_equal(sisa_strategy_name(SISA_AGG_WEIGHTED), "weighted");
    assert_string_equal(sisa_sharding_name(SISA_SHARDING_GROUP), "group");
    free(parsed);
    free(cfg);
}

static void test_paths_resolve(void **state)
{
    (void)state;
    sisa_config *cfg = malloc(sizeof *cfg);
    const char *text = "data:\n  train: ../data/./train.h5\n  test: /abs//t.h5\n"
                       "store: 'runs/store/'\n";
    assert_int_equal(sisa_config_parse(cfg, text, strlen(text), "c.yaml", "/proj/configs"),
                     SISA_OK);
    assert_string_equal(cfg->data.train, "/proj/data/train.h5");
    assert_string_equal(cfg->data.test, "/abs/t.h5");
    assert_string_equal(cfg->store, "/proj/configs/runs/store");
    /* ".." never climbs above the root. */
    text = "data:\n  train: ../../../x.h5\nstore: s\n";
    assert_int_equal(sisa_config_parse(cfg, text, strlen(text), "c.yaml", "/a"), SISA_OK);
    assert_string_equal(cfg->data.train, "/x.h5");
    /* A relative base folder is taken against the current folder. */
    char cwd[4096], expect[4200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    text = "data:\n  train: t.h5\nstore: s\n";
    assert_int_equal(sisa_config_parse(cfg, text, strlen(text), "c.yaml", "sub"), SISA_OK);
    snprintf(expect, sizeof expect, "%s/sub/t.h5", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(cfg->data.train, expect);

    /* sisa_config_load resolves against the file's folder, not the current one. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("resolve"));
    mkdir(tu_path(dir, "configs"), 0777);
    const char *path = tu_path(dir, "configs/run.yaml");
    tu_write_text(path, "data:\n  train: ../data/train.h5\nstore: ../store\n");
    assert_int_equal(sisa_config_load(cfg, path), SISA_OK);
    snprintf(expect, sizeof expect, "%s/data/train.h5", dir);
    assert_string_equal(cfg->data.train, expect);
    snprintf(expect, sizeof expect, "%s/store", dir);
    assert_string_equal(cfg->store, expect);

    /* Same file through a hard link is still the same file. */
    tu_write_text(tu_path(dir, "a.h5"), "x");
    assert_int_equal(link(tu_path(dir, "a.h5"), tu_path(dir, "b.h5")), 0);
    path = tu_path(dir, "link.yaml");
    tu_write_text(path, "data:\n  train: a.h5\n  test: b.h5\nstore: s\n");
    assert_config_error(sisa_config_load(cfg, path), path,
                        "3:9: 'data.test' is the same file as 'data.train'");

    /* Paths longer than SISA_CONFIG_PATH_MAX - 1, given or after resolution. */
    char *long_text = malloc(2 * SISA_CONFIG_PATH_MAX + 64);
    char *seg = malloc(SISA_CONFIG_PATH_MAX + 1);
    memset(seg, 'p', SISA_CONFIG_PATH_MAX);
    seg[SISA_CONFIG_PATH_MAX] = '\0';
    snprintf(long_text, 2 * SISA_CONFIG_PATH_MAX + 64, "data:\n  train: /%s\nstore: s\n", seg);
    assert_config_error(sisa_config_parse(cfg, long_text, strlen(long_text), "c.yaml", "/cfg"),
                        "c.yaml",
                        "2:10: 'data.train' is 4097 bytes long; paths may have at most 4095");
    seg[SISA_CONFIG_PATH_MAX - 10] = '\0'; /* fits alone, not under the base folder */
    snprintf(long_text, 2 * SISA_CONFIG_PATH_MAX + 64, "data:\n  train: %s\nstore: s\n", seg);
    assert_config_error(
        sisa_config_parse(cfg, long_text, strlen(long_text), "c.yaml", "/some/base/folder"),
        "c.yaml", "2:10: 'data.train' resolves to a path of 4104 bytes");
    memset(seg, 'p', SISA_CONFIG_PATH_MAX);
    seg[SISA_CONFIG_PATH_MAX - 2] = '\0';
    seg[0] = '/';
    snprintf(long_text, 2 * SISA_CONFIG_PATH_MAX + 64, "data:\n  train: %s\nstore: s\n", seg);
    assert_int_equal(sisa_config_parse(cfg, long_text, strlen(long_text), "c.yaml", "/cfg"),
                     SISA_OK);
    assert_int_equal(strlen(cfg->data.train), SISA_CONFIG_PATH_MAX - 2);
    free(seg);
    free(long_text);
    free(cfg);
}

/* The issue's reproduction: one config file in a folder reached through a symbolic link, with
 * relative paths using "..". Every way of naming the file gives the same paths: those of the
 * folder that physically holds it (textual ".." handling gave two stores). */
static void test_paths_physical(void **state)
{
    (void)state;
    sisa_config *cfg = malloc(sizeof *cfg);
    char dir[4096], phys[4096], cwd[4096], path[4400], expect[4400];
    snprintf(dir, sizeof dir, "%s", tu_scratch("physical"));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0); /* the physical name of dir, without realpath() */
    assert_non_null(getcwd(phys, sizeof phys));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx"), 0777), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx/deep"), 0777), 0);
    assert_int_equal(mkdir(tu_path(dir, "lx/deep/run"), 0777), 0);
    assert_int_equal(symlink("deep/run", tu_path(dir, "lx/runlink")), 0);
    assert_int_equal(symlink("lx/deep/run/cfg.yaml", tu_path(dir, "cfglink.yaml")), 0);
    /* data.test: an absolute path through the link; store: through a folder that does not exist
     * yet ("new/.." is dropped as written). */
    snprintf(expect, sizeof expect,
             "data: {train: ../d.h5, test: %s/lx/runlink/../t.h5}\nstore: new/../../st\n", dir);
    tu_write_text(tu_path(dir, "lx/deep/run/cfg.yaml"), expect);

    const char *spellings[] = {"lx/runlink/cfg.yaml", "lx/deep/run/cfg.yaml",
                               "lx/runlink/../run/cfg.yaml", "cfglink.yaml"};
    for (int how = 0; how < 2 * 4; how++) {
        /* Absolute, and relative to the current folder (which getcwd() reports physically). */
        if (how < 4) {
            snprintf(path, sizeof path, "%s/%s", dir, spellings[how]);
        } else {
            assert_int_equal(chdir(dir), 0);
            snprintf(path, sizeof path, "%s", spellings[how - 4]);
        }
        int rc = sisa_config_load(cfg, path);
        assert_int_equal(chdir(cwd), 0);
        if (rc) print_error("%s: %s\n", path, sisa_error_message());
        assert_int_equal(rc, SISA_OK);
        snprintf(expect, sizeof expect, "%s/lx/deep/d.h5", phys);
        assert_string_equal(cfg->data.train, expect);
        snprintf(expect, sizeof expect, "%s/lx/deep/t.h5", phys);
        assert_string_equal(cfg->data.test, expect);
        snprintf(expect, sizeof expect, "%s/lx/deep/st", phys);
        assert_string_equal(cfg->store, expect);
    }
    /* From the folder reached through the link: the issue's `cd lx/runlink && sisa ...`. */
    assert_int_equal(chdir(tu_path(dir, "lx/runlink")), 0);
    int rc = sisa_config_load(cfg, "cfg.yaml");
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, SISA_OK);
    assert_string_equal(cfg->store, expect);

    /* A base folder given to sisa_config_parse is resolved the same way. */
    const char *text = "data: {train: ../x.h5}\nstore: s\n";
    assert_int_equal(
        sisa_config_parse(cfg, text, strlen(text), "c.yaml", tu_path(dir, "lx/runlink")), SISA_OK);
    snprintf(expect, sizeof expect, "%s/lx/deep/x.h5", phys);
    assert_string_equal(cfg->data.train, expect);

    /* A link that points at itself is reported, naming the key. */
    assert_int_equal(symlink("loop", tu_path(dir, "loop")), 0);
    snprintf(path, sizeof path, "%s/loop.yaml", dir);
    tu_write_text(path, "data: {train: loop/x.h5}\nstore: s\n");
    assert_config_error(sisa_config_load(cfg, path), path, "1:15: 'data.train': ");
    tu_assert_contains(sisa_error_message(), "too many levels of symbolic links");
    free(cfg);
}

/* A store's path leaves room for the names of the files sisa makes in it. */
static void test_store_path_limit(void **state)
{
    (void)state;
    sisa_config *cfg = malloc(sizeof *cfg);
    const int most = SISA_CONFIG_PATH_MAX - 1 - SISA_STORE_PATH_RESERVE;
    char *text = malloc(2 * SISA_CONFIG_PATH_MAX), *store = malloc(SISA_CONFIG_PATH_MAX);
    /* "/q/q/q...": components of 1 byte, in a folder that does not exist. */
    for (int n = most; n <= most + 1; n++) {
        for (int i = 0; i < n; i++) store[i] = i % 2 ? 'q' : '/';
        store[n] = '\0';
        if (store[n - 1] == '/') store[n - 1] = 'q';
        snprintf(text, 2 * SISA_CONFIG_PATH_MAX, "data: {train: /d.h5}\nstore: %s\n", store);
        int rc = sisa_config_parse(cfg, text, strlen(text), "c.yaml", "/cfg");
        if (n == most) {
            assert_int_equal(rc, SISA_OK);
            assert_int_equal(strlen(cfg->store), (size_t)most);
            continue;
        }
        char expect[300];
        snprintf(expect, sizeof expect, "2:8: 'store' resolves to a path of %d bytes", n);
        assert_config_error(rc, "c.yaml", expect);
        /* The path is shortened in the middle; the message's end, the reason, is all there. */
        snprintf(expect, sizeof expect,
                 "); a store's path may have at most %d bytes, so that the paths of the files "
                 "sisa makes in it (%d bytes are kept for their names) stay within the system's "
                 "limit of %d bytes",
                 most, SISA_STORE_PATH_RESERVE, SISA_CONFIG_PATH_MAX - 1);
        const char *m = sisa_error_message();
        assert_true(strlen(m) >= strlen(expect));
        assert_string_equal(m + strlen(m) - strlen(expect), expect);
    }
    free(text);
    free(store);
    free(cfg);
}

static void test_roundtrip_edge_values(void **state)
{
    (void)state;
    sisa_config *cfg = malloc(sizeof *cfg);
    /* Paths that need quoting, floats that need 17 digits, a subnormal, extreme integers. */
    const char *text =
        "data:\n"
        "  train: \"we\\\"ird: #path\\\\ with\\ttab \\u00e9\"\n"
        "  test: ''\n"
        "store: \"s\\nnewline\"\n"
        "seed: 9223372036854775807\n"
        "sisa: {shards: 4096, slices: 1, sharding: group}\n"
        "model:\n  hidden: [65536, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]\n"
        "train:\n  optimizer: sgd\n  nesterov: true\n  momentum: 0.30000000000000004\n"
        "  lr: 10\n  eps: 5e-324\n  beta1: 0\n  beta2: 0.99999999999999989\n"
        "  schedule: cosine\n  final_lr_fraction: 1\n"
        "  weight_decay: -0.0\n  batch_size: 1048576\n  epochs: 10000\n"
        "aggregate: {strategy: weighted}\n";
    int rc = sisa_config_parse(cfg, text, strlen(text), "edge.yaml", "/cfg");
    if (rc) print_error("%s\n", sisa_error_message());
    assert_int_equal(rc, SISA_OK);
    assert_string_equal(cfg->data.train, "/cfg/we\"ird: #path\\ with\ttab \xc3\xa9");
    assert_string_equal(cfg->data.test, "");
    assert_string_equal(cfg->store, "/cfg/s\nnewline");
    assert_true(cfg->seed == 9223372036854775807ull);
    assert_int_equal(cfg->model.n_hidden, 16);
    assert_true(cfg->train.momentum == 0.1 + 0.2);
    assert_true(cfg->train.eps > 0 && cfg->train.eps < 1e-300);
    /* -0.0 is stored as +0.0: one value, one canonical text. */
    double zero = 0.0;
    assert_memory_equal(&cfg->train.weight_decay, &zero, sizeof zero);
    assert_roundtrip(cfg, "edge.yaml", "/cfg");

    /* logreg: hidden is [] and the dump (which writes "hidden: []") reads back. */
    text = BASE "model:\n  type: logreg\n";
    assert_int_equal(sisa_config_parse(cfg, text, strlen(text), "lr.yaml", "/cfg"), SISA_OK);
    assert_int_equal(cfg->model.n_hidden, 0);
    assert_int_equal(cfg->model.hidden[0], 0);
    assert_roundtrip(cfg, "lr.yaml", "/cfg");

    /* Flow style and quoted keys are YAML like any other. */
    text = "{data: {train: a.h5}, \"store\": s, train: {lr: 1.5e-3}}";
    assert_int_equal(sisa_config_parse(cfg, text, strlen(text), "flow.yaml", "/cfg"), SISA_OK);
    assert_true(cfg->train.lr == 1.5e-3);

    /* snprintf convention: a short buffer gets a NUL-terminated prefix and the full length. */
    size_t need = sisa_config_dump(cfg, NULL, 0);
    char small[16];
    assert_int_equal(sisa_config_dump(cfg, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "data:\n  train: ", 15);
    free(cfg);
}

/* Recompute the hash from the dump by the documented rule: "sisa-config-v1\n" then
 * "section.key: value\n" for each hashed key in table order. */
static void documented_hash(const sisa_config *cfg, char out[65])
{
    size_t n = sisa_config_dump(cfg, NULL, 0);
    char *dump = malloc(n + 1);
    sisa_config_dump(cfg, dump, n + 1);
    sisa_sha256_ctx c;
    sisa_sha256_init(&c);
    sisa_sha256_update(&c, "sisa-config-v1\n", 15);
    char section[64] = "";
    int keys = 0;
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
        char full[512];
        const char *colon = strchr(line, ':');
        assert_non_null(colon);
        if (line[0] != ' ' && colon[1] == '\0') { /* "section:" */
            snprintf(section, sizeof section, "%.*s", (int)(colon - line), line);
            continue;
        }
        if (line[0] == ' ')
            snprintf(full, sizeof full, "%s.%s\n", section, line + 2);
        else
            snprintf(full, sizeof full, "%s\n", line);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(full, ':') - full), full);
        const sisa_schema_key *k = sisa_schema_find(key);
        assert_non_null(k);
        keys++;
        if (k->hashed) sisa_sha256_update(&c, full, strlen(full));
    }
    int matter = 0; /* keys that matter for this config are dumped (and hashed when hashed) */
    for (int i = 0; i < sisa_schema_n_keys; i++)
        matter += !sisa_schema_keys[i].matters || sisa_schema_keys[i].matters(cfg);
    assert_int_equal(keys, matter);
    uint8_t d[32];
    sisa_sha256_final(&c, d);
    sisa_hex(out, d, 32);
    free(dump);
}

static void perturb(sisa_config *cfg, const sisa_schema_key *k)
{
    char *p = (char *)cfg + k->offset;
    switch (k->type) {
    case SISA_SCHEMA_PATH:
        snprintf(p, k->size, "/somewhere/else");
        break;
    case SISA_SCHEMA_INT:
    case SISA_SCHEMA_BOOL:
    case SISA_SCHEMA_ENUM:
        p[0] ^= 1; /* little or big endian: a different value either way for these fields */
        if (k->size == 8) p[7] ^= 1;
        break;
    case SISA_SCHEMA_FLOAT: {
        double v;
        memcpy(&v, p, sizeof v);
        v = v * 0.5 + 0.25;
        memcpy(p, &v, sizeof v);
        break;
    }
    case SISA_SCHEMA_INT_LIST:
    case SISA_SCHEMA_TIER_LIST: { /* the first entry (a tier's first field is its shards) */
        int32_t v;
        memcpy(&v, p, sizeof v);
        v += 1;
        memcpy(p, &v, sizeof v);
        break;
    }
    }
}

/* A cnn config: [H, W] is stored as [1, H, W] (one hash for both spellings), the cnn keys
 * enter its hash and dump, and the dump loads again to the same hash. */
static void test_cnn_config(void **state)
{
    (void)state;
    sisa_config *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    const char *ta = "data:\n  train: t.h5\nstore: s\nmodel:\n  type: cnn\n  input: [28, 28]\n"
                     "  conv: [32, 64]\n  hidden: [128]\n";
    const char *tb = "data:\n  train: t.h5\nstore: s\nmodel:\n  type: cnn\n"
                     "  input: [1, 28, 28]\n  hidden: [128]\n  kernel: 3\n  pool: 2\n";
    assert_int_equal(sisa_config_parse(a, ta, strlen(ta), "a.yaml", "/cfg"), SISA_OK);
    assert_int_equal(sisa_config_parse(b, tb, strlen(tb), "b.yaml", "/cfg"), SISA_OK);
    assert_int_equal(a->model.type, SISA_MODEL_CNN);
    assert_int_equal(a->model.n_input, 3);
    assert_int_equal(a->model.input[0], 1);
    assert_int_equal(a->model.input[1], 28);
    assert_int_equal(a->model.input[2], 28);
    assert_int_equal(a->model.n_conv, 2);
    assert_int_equal(a->model.kernel, 3);
    assert_int_equal(a->model.pool, 2);
    char ha[65], hb[65], doc[65];
    sisa_config_hash(a, ha);
    sisa_config_hash(b, hb);
    assert_string_equal(ha, hb);
    documented_hash(a, doc);
    assert_string_equal(ha, doc);
    size_t n = sisa_config_dump(a, NULL, 0);
    char *dump = malloc(n + 1);
    sisa_config_dump(a, dump, n + 1);
    assert_non_null(strstr(dump, "  input: [1, 28, 28]\n"));
    assert_non_null(strstr(dump, "  conv: [32, 64]\n"));
    assert_null(strstr(dump, "  k: "));
    assert_int_equal(sisa_config_parse(b, dump, n, "dump.yaml", "/cfg"), SISA_OK);
    sisa_config_hash(b, hb);
    assert_string_equal(ha, hb);
    /* Every cnn key changes the hash. */
    const char *keys[] = {"model.input", "model.conv", "model.kernel", "model.pool"};
    for (int i = 0; i < 4; i++) {
        memcpy(b, a, sizeof *b);
        perturb(b, sisa_schema_find(keys[i]));
        sisa_config_hash(b, hb);
        assert_string_not_equal(ha, hb);
    }
    free(dump);
    free(a);
    free(b);
}

static void test_hash(void **state)
{
    (void)state;
    sisa_config *base = malloc(sizeof *base), *cfg = malloc(sizeof *cfg);
    char path[4400];
    snprintf(path, sizeof path, "%s/configs/fashion-mnist.yaml", tu_env("SISA_TEST_SRC"));
    assert_int_equal(sisa_config_load(base, path), SISA_OK);
    char h0[65], h[65], doc[65];
    sisa_config_hash(base, h0);
    assert_int_equal(strlen(h0), 64);
    documented_hash(base, doc);
    assert_string_equal(h0, doc);

    /* The hash of configs written before knn existed is what it was then (their stores keep
     * their config hash): the demo config's, computed by the release before knn. */
    assert_string_equal(h0, "06a15390593f8a4da5d1c1a99175d88249ce0069963dbb6fac2181479f08c4be");

    /* Each key alone: the hash changes exactly when the key is hashed and matters (model.k of an
     * mlp does not). */
    int hashed = 0, unhashed = 0, idle = 0;
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        memcpy(cfg, base, sizeof *cfg);
        perturb(cfg, k);
        sisa_config_hash(cfg, h);
        if (k->matters && !k->matters(base)) {
            assert_string_equal(h, h0);
            idle++;
        } else if (k->hashed) {
            if (!strcmp(h, h0)) print_error("changing %s does not change the hash\n", k->key);
            assert_string_not_equal(h, h0);
            hashed++;
        } else {
            assert_string_equal(h, h0);
            unhashed++;
        }
        documented_hash(cfg, doc);
        assert_string_equal(h, doc);
    }
    assert_int_equal(unhashed, 4); /* data.train, data.test, store, aggregate.strategy */
    assert_int_equal(idle, 8);     /* model.k, .metric, .input, .conv, .kernel, .pool, sisa.tiers,
                                      sisa.tier_key */
    assert_true(hashed >= 17);

    /* A knn config: its keys change the hash; the keys of trained models (train.*, hidden,
     * activation) neither enter its hash nor its dump (which must load again). */
    const char *knn = "data:\n  train: t.h5\nstore: s\nmodel:\n  type: knn\n  k: 7\n"
                      "  metric: cosine\naggregate:\n  strategy: merge\n";
    assert_int_equal(sisa_config_parse(base, knn, strlen(knn), "knn.yaml", "/cfg"), SISA_OK);
    assert_int_equal(base->model.k, 7);
    assert_int_equal(base->model.metric, SISA_METRIC_COSINE);
    sisa_config_hash(base, h0);
    documented_hash(base, doc);
    assert_string_equal(h0, doc);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (!k->matters) continue;
        memcpy(cfg, base, sizeof *cfg);
        perturb(cfg, k);
        sisa_config_hash(cfg, h);
        if (k->matters(base))
            assert_string_not_equal(h, h0);
        else
            assert_string_equal(h, h0);
    }
    size_t n = sisa_config_dump(base, NULL, 0);
    char *dump = malloc(n + 1);
    sisa_config_dump(base, dump, n + 1);
    assert_null(strstr(dump, "\ntrain:"));
    assert_null(strstr(dump, "hidden"));
    assert_non_null(strstr(dump, "  k: 7\n"));
    assert_int_equal(sisa_config_parse(cfg, dump, n, "dump.yaml", "/cfg"), SISA_OK);
    sisa_config_hash(cfg, h);
    assert_string_equal(h, h0);
    free(dump);

    /* A tiered config: sisa.shards is the tiers' sum when left out; its tiers and tier key
     * change the hash, and its dump loads again to the same hash. */
    const char *tiered = "data:\n  train: t.h5\nstore: s\nsisa:\n  sharding: tiered\n"
                         "  tier_key: group\n  tiers:\n    - shards: 6\n"
                         "    - {shards: 2, last_slice: true}\n";
    assert_int_equal(sisa_config_parse(base, tiered, strlen(tiered), "t.yaml", "/cfg"), SISA_OK);
    assert_int_equal(base->sisa.shards, 8);
    assert_int_equal(base->sisa.n_tiers, 2);
    assert_int_equal(base->sisa.tiers[0].shards, 6);
    assert_int_equal(base->sisa.tiers[0].last_slice, 0);
    assert_int_equal(base->sisa.tiers[1].shards, 2);
    assert_int_equal(base->sisa.tiers[1].last_slice, 1);
    assert_int_equal(base->sisa.tier_key, SISA_SHARDING_GROUP);
    assert_true(sisa_config_by_group(base));
    sisa_config_hash(base, h0);
    documented_hash(base, doc);
    assert_string_equal(h0, doc);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        if (strcmp(k->key, "sisa.tiers") != 0 && strcmp(k->key, "sisa.tier_key") != 0) continue;
        memcpy(cfg, base, sizeof *cfg);
        perturb(cfg, k);
        sisa_config_hash(cfg, h);
        assert_string_not_equal(h, h0);
    }
    n = sisa_config_dump(base, NULL, 0);
    dump = malloc(n + 1);
    sisa_config_dump(base, dump, n + 1);
    tu_assert_contains(dump, "  tiers: [{shards: 6}, {shards: 2, last_slice: true}]\n");
    assert_int_equal(sisa_config_parse(cfg, dump, n, "dump.yaml", "/cfg"), SISA_OK);
    sisa_config_hash(cfg, h);
    assert_string_equal(h, h0);
    free(dump);

    /* The same through YAML: moving files and changing the aggregation keep the hash. */
    const char *a = BASE "train:\n  lr: 0.01\n";
    const char *b = "data:\n  train: /x/other.h5\n  test: t.h5\nstore: /y\n"
                    "aggregate:\n  strategy: vote\ntrain:\n  lr: 1e-2\n";
    const char *c = BASE "train:\n  lr: 0.011\n";
    assert_int_equal(sisa_config_parse(base, a, strlen(a), "a.yaml", "/cfg"), SISA_OK);
    assert_int_equal(sisa_config_parse(cfg, b, strlen(b), "b.yaml", "/elsewhere"), SISA_OK);
    sisa_config_hash(base, h0);
    sisa_config_hash(cfg, h);
    assert_string_equal(h0, h);
    assert_int_equal(sisa_config_parse(cfg, c, strlen(c), "c.yaml", "/cfg"), SISA_OK);
    sisa_config_hash(cfg, h);
    assert_string_not_equal(h0, h);
    free(cfg);
    free(base);
}

static void test_schema_invariants(void **state)
{
    (void)state;
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        const sisa_schema_key *k = &sisa_schema_keys[i];
        size_t sl = sisa_schema_section_len(k);
        /* One level of sections, and each section's rows together. */
        assert_null(strchr(sisa_schema_leaf(k), '.'));
        for (int j = i + 2; sl && j < sisa_schema_n_keys; j++) {
            const sisa_schema_key *o = &sisa_schema_keys[j];
            if (sisa_schema_section_len(o) == sl && !strncmp(o->key, k->key, sl)) {
                const sisa_schema_key *mid = &sisa_schema_keys[j - 1];
                assert_true(sisa_schema_section_len(mid) == sl && !strncmp(mid->key, k->key, sl));
            }
        }
        if (k->type == SISA_SCHEMA_INT && k->size == 8) assert_true(k->imin >= 0);
        assert_true(k->doc && strlen(k->doc) > 10);
        assert_true(sisa_schema_find(k->key) == k);
    }
    assert_null(sisa_schema_find("train"));
    assert_null(sisa_schema_find("nope"));
}

static void test_reference(void **state)
{
    (void)state;
    size_t n = sisa_config_reference(NULL, 0, 1);
    char *md = malloc(n + 1);
    assert_int_equal(sisa_config_reference(md, n + 1, 1), n);
    char path[4400];
    snprintf(path, sizeof path, "%s/docs/config.md", tu_env("SISA_TEST_SRC"));
    size_t flen;
    char *file = tu_read_file(path, &flen);
    if (flen != n || memcmp(file, md, n) != 0)
        print_error("docs/config.md is stale: regenerate it with "
                    "'sisa config reference --markdown > docs/config.md'\n");
    assert_int_equal(flen, n);
    assert_memory_equal(file, md, n);

    size_t tn = sisa_config_reference(NULL, 0, 0);
    char *text = malloc(tn + 1);
    sisa_config_reference(text, tn + 1, 0);
    for (int i = 0; i < sisa_schema_n_keys; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "| `%s` |", sisa_schema_keys[i].key);
        tu_assert_contains(md, needle);
        snprintf(needle, sizeof needle, "\n  %s\n", sisa_schema_keys[i].key);
        tu_assert_contains(text, needle);
    }
    tu_assert_contains(md, "sisa-config-v1");
    tu_assert_contains(text, "(0, 10]");
    assert_null(strchr(text, '`')); /* the terminal form has no Markdown */
    free(text);
    free(file);
    free(md);
}

static void test_cli(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("cli"));
    tu_run *r = malloc(sizeof *r);
    sisa_config *cfg = malloc(sizeof *cfg), *back = malloc(sizeof *back);
    char path[4400], expect[4600], hash[65];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", tu_env("SISA_TEST_SRC"));
    assert_int_equal(sisa_config_load(cfg, path), SISA_OK);
    sisa_config_hash(cfg, hash);

    tu_sisa(r, "config", "check", "-c", path, NULL);
    assert_int_equal(r->status, 0);
    snprintf(expect, sizeof expect, "%s: valid (config hash %s)\n", path, hash);
    assert_string_equal(r->out, expect);

    /* show: the hash comment, then YAML that loads back to the same config. */
    tu_sisa(r, "config", "show", "-c", path, NULL);
    assert_int_equal(r->status, 0);
    snprintf(expect, sizeof expect, "# config hash %s\n", hash);
    assert_memory_equal(r->out, expect, strlen(expect));
    const char *shown_path = tu_path(dir, "shown.yaml");
    tu_write_text(shown_path, r->out);
    assert_int_equal(sisa_config_load(back, shown_path), SISA_OK);
    memcpy(back->source, cfg->source, sizeof back->source);
    assert_memory_equal(cfg, back, sizeof *cfg);

    tu_sisa(r, "config", "reference", "--markdown", NULL);
    assert_int_equal(r->status, 0);
    size_t n = sisa_config_reference(NULL, 0, 1);
    char *md = malloc(n + 1);
    sisa_config_reference(md, n + 1, 1);
    assert_string_equal(r->out, md);
    free(md);

    tu_sisa(r, "config", "--help", NULL);
    assert_int_equal(r->status, 0);
    tu_assert_contains(r->out, "usage: sisa config check -c FILE");
    tu_assert_contains(r->out, "  train.weight_decay\n");
    tu_assert_contains(r->out, "sisa-config-v1");

    tu_sisa(r, "config", NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "which subcommand?");
    tu_sisa(r, "config", "verify", NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "unknown subcommand 'verify'");
    tu_sisa(r, "config", "check", NULL);
    assert_int_equal(r->status, 2);
    tu_assert_contains(r->err, "--config is required");
    tu_sisa(r, "config", "check", "-c", tu_path(dir, "missing.yaml"), NULL);
    assert_int_equal(r->status, 1);
    tu_assert_contains(r->err, "missing.yaml");
    assert_string_equal(r->out, "");
    assert_int_equal(tu_count_entries(dir), 1); /* shown.yaml only */
    free(back);
    free(cfg);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_bad_configs_cli),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_files_and_io_errors),
        cmocka_unit_test(test_configs_dir),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_paths_resolve),
        cmocka_unit_test(test_paths_physical),
        cmocka_unit_test(test_store_path_limit),
        cmocka_unit_test(test_roundtrip_edge_values),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_cnn_config),
        cmocka_unit_test(test_schema_invariants),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
