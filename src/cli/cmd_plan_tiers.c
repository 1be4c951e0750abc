/*
 * cmd_plan_tiers.c - `sisa plan-tiers -c CFG --rates r0,r1,... [--json]`: shard counts per risk
 * tier from expected deletion request rates, and the expected retraining cost of a request
 * under each choice against uniform sharding (sisa/tiers.h holds the model).
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"
#include "sisa/tiers.h"

#include <stdio.h>

/* "[{shards: 4}, {shards: 4, last_slice: true}]" */
static void print_tiers(FILE *out, const sisa_tier_plan *p, const int32_t *shards)
{
    fprintf(out, "[");
    for (int t = 0; t < p->n_tiers; t++)
        fprintf(out, "%s{shards: %d%s}", t ? ", " : "", (int)shards[t],
                p->last_slice[t] ? ", last_slice: true" : "");
    fprintf(out, "]");
}

static void print_cost(FILE *out, const char *name, const sisa_tier_cost *c,
                       const sisa_tier_cost *uniform)
{
    fprintf(out, "  %-10s %14.1f %16.1f", name, c->rows, c->visits);
    if (c != uniform && c->rows > 0)
        fprintf(out, "   %.2fx fewer rows than uniform", uniform->rows / c->rows);
    fprintf(out, "\n");
}

static void print_text(FILE *out, const char *cfg, const sisa_tier_plan *p)
{
    uint64_t n = 0;
    for (int t = 0; t < p->n_tiers; t++) n += p->rows[t];
    fprintf(out, "%s: %llu rows in %d risk tiers, %u shards x %u slices, %u epochs\n", cfg,
            (unsigned long long)n, p->n_tiers, p->shards, p->slices, p->epochs);
    fprintf(out, "  tier %12s %9s %9s %9s%s\n", "rows", "requests", "ideal S", "suggested",
            p->current[0] ? "    config" : "");
    for (int t = 0; t < p->n_tiers; t++) {
        fprintf(out, "  %4d %12llu %8.1f%% %9.2f %9d", t, (unsigned long long)p->rows[t],
                100 * p->share[t], p->ideal[t], (int)p->suggested[t]);
        if (p->current[0]) fprintf(out, " %9d", (int)p->current[t]);
        fprintf(out, "%s\n", p->last_slice[t] ? "  (last slice)" : "");
    }
    fprintf(out, "expected retraining per deletion request:\n");
    fprintf(out, "  %-10s %14s %16s\n", "", "rows retrained", "sample visits");
    print_cost(out, "uniform", &p->uniform, &p->uniform);
    if (p->current[0]) print_cost(out, "config", &p->config, &p->uniform);
    print_cost(out, "suggested", &p->suggestion, &p->uniform);
    fprintf(out, "suggested sisa.tiers: ");
    print_tiers(out, p, p->suggested);
    fprintf(out, "\n");
}

static void print_json_cost(FILE *out, const char *name, const sisa_tier_cost *c)
{
    fprintf(out, ", \"%s\": {\"rows\": %.17g, \"visits\": %.17g}", name, c->rows, c->visits);
}

static void print_json(FILE *out, const sisa_tier_plan *p)
{
    fprintf(out, "{\"shards\": %u, \"slices\": %u, \"epochs\": %u, \"tiers\": [", p->shards,
            p->slices, p->epochs);
    for (int t = 0; t < p->n_tiers; t++) {
        fprintf(out,
                "%s{\"tier\": %d, \"rows\": %llu, \"share\": %.17g, \"ideal_shards\": %.17g, "
                "\"suggested_shards\": %d, \"last_slice\": %s",
                t ? ", " : "", t, (unsigned long long)p->rows[t], p->share[t], p->ideal[t],
                (int)p->suggested[t], p->last_slice[t] ? "true" : "false");
        if (p->current[0]) fprintf(out, ", \"config_shards\": %d", (int)p->current[t]);
        fprintf(out, "}");
    }
    fprintf(out, "]");
    print_json_cost(out, "uniform", &p->uniform);
    if (p->current[0]) print_json_cost(out, "config", &p->config);
    print_json_cost(out, "suggested", &p->suggestion);
    fprintf(out, "}\n");
}

int sisa_cmd_plan_tiers(sisa_job *job, int argc, char **argv)
{
    (void)job;
    const char *cfg_path = NULL, *rates = NULL;
    int json = 0;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE",
         "the config (its data.train has a risk column)", 1},
        {"rates", 0, SISA_ARG_STRING, &rates, "R0,R1,...",
         "expected deletion requests per tier (relative: 1,9 means 9 of 10 requests are for "
         "tier 1)",
         1},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the plan as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "plan-tiers",
        .usage = "plan-tiers -c CONFIG --rates R0,R1,... [--json]",
        .summary = "Suggest shards per risk tier (sharding: tiered) from expected request rates.",
        .description =
            "Counts the rows of each risk tier in the config's data.train (its risk column),\n"
            "splits sisa.shards over the tiers in proportion to sqrt(P_t n_t) (P_t: tier t's\n"
            "share of the requests, n_t: its rows), rounded to the best integer split, and\n"
            "prints the expected retraining cost of one deletion request - the rows of the\n"
            "retrained shard and the sample visits of retraining - under uniform sharding,\n"
            "under the config's tiers (when it is tiered, with the same number of rates) and\n"
            "under the suggestion. Shards per tier stay fixed in the config: a deletion never\n"
            "moves other rows. Nothing is written. See docs/design.md \"Risk tiers\".",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_tier_plan p;
    int err = sisa_tier_plan_load(&p, cfg_path, rates);
    if (err < 0) return err;
    if (json)
        print_json(stdout, &p);
    else
        print_text(stdout, cfg_path, &p);
    return SISA_OK;
}
