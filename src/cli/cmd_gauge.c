/*
 * cmd_gauge.c - `sisa gauge plan|member|score`: measure forgetting with membership inference
 * (sisa/gauge.h, docs/gauge.md).
 */
#include "args.h"
#include "commands.h"

#include "sisa/gauge.h"
#include "sisa/sisa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gauge_plan(sisa_job *job, int argc, char **argv)
{
    sisa_gauge_plan_opts o;
    memset(&o, 0, sizeof o);
    uint64_t models = 0, seed = 0, ascent_steps = 0;
    const char *seed_text = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &o.config, "FILE", "the config whose model is gauged", 1},
        {"output", 'o', SISA_ARG_STRING, &o.dir, "DIR", "the gauge folder (made; must be new)", 1},
        {"forget-ids", 0, SISA_ARG_STRING, &o.forget_ids, "FILE",
         "the forget set: sample IDs, one per line ('#' comments; '-': standard input)", 0},
        {"forget-random", 0, SISA_ARG_F64, &o.forget_fraction, "FRACTION",
         "the forget set: this share of the training rows, drawn with the seed", 0},
        {"models", 0, SISA_ARG_U64, &models, "N", "models per population (>= 3)", 1},
        {"methods", 0, SISA_ARG_STRING, &o.methods, "LIST",
         "methods to gauge, comma-separated: exact, none, finetune, gradient-ascent, neggrad, "
         "random-labels (default exact,none)",
         0},
        {"ascent-lr", 0, SISA_ARG_F64, &o.ascent_lr, "LR",
         "gradient-ascent: the rate of ascent (default 1e-3)", 0},
        {"ascent-steps", 0, SISA_ARG_U64, &ascent_steps, "N",
         "gradient-ascent: steps per shard model (default 10)", 0},
        {"neggrad-beta", 0, SISA_ARG_F64, &o.neggrad_beta, "B",
         "neggrad: beta of beta L_retain - (1 - beta) L_forget (default 0.9)", 0},
        {"seed", 0, SISA_ARG_STRING, &seed_text, "S",
         "first seed (default: the config's); members use S .. S + 3N - 1", 0},
    };
    const sisa_command_spec spec = {
        .name = "gauge plan",
        .usage = "gauge plan -c CONFIG -o DIR (--forget-ids FILE | --forget-random FRACTION) "
                 "--models N [--methods exact,none] [--seed S]",
        .summary = "Plan a gauge: the forget set, three populations of N models and their seeds.",
        .description =
            "Writes DIR/plan.json, DIR/forget.txt, and the training set split into\n"
            "DIR/forget.h5 and DIR/retain.h5. Member tasks 0..3N-1: tasks 0..N-1 train on\n"
            "the whole training set and apply each method (exact: sisa unlearn; none: no\n"
            "unlearning; finetune, gradient-ascent, neggrad, random-labels: approximate\n"
            "methods applied in memory to the shard models that saw forget rows, not an\n"
            "erasure); tasks N..2N-1 (retrain) and 2N..3N-1 (retrain2, the noise floor)\n"
            "train without the forget set. Every member has a seed of its own.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    if (models > 100000)
        return SISA_ERR(SISA_EUSAGE, "--models: %llu is not in 3..100000",
                        (unsigned long long)models);
    o.models = (uint32_t)models;
    if (ascent_steps > 1000000)
        return SISA_ERR(SISA_EUSAGE, "--ascent-steps: %llu is more than 1000000",
                        (unsigned long long)ascent_steps);
    o.ascent_steps = (uint32_t)ascent_steps;
    if (o.ascent_lr < 0 || o.neggrad_beta < 0 || o.neggrad_beta >= 1)
        return SISA_ERR(SISA_EUSAGE, "--ascent-lr must be positive and --neggrad-beta in (0, 1)");
    if (seed_text) {
        if (sisa_text_u64(&seed, seed_text) != SISA_OK)
            return SISA_ERR(SISA_EUSAGE, "--seed: '%s' is not a non-negative integer", seed_text);
        o.seed = seed;
        o.has_seed = 1;
    }
    if (job && sisa_job_rank(job) != 0) return SISA_OK; /* one process plans */
    return sisa_gauge_plan(&o, stdout);
}

/* "K", "A-B" or "all" (tasks of the plan). */
static int parse_tasks(const char *text, uint32_t total, uint32_t *first, uint32_t *last)
{
    uint64_t a, b;
    const char *dash = strchr(text, '-');
    if (!strcmp(text, "all")) {
        *first = 0, *last = total - 1;
        return SISA_OK;
    }
    char buf[64];
    if (dash && (size_t)(dash - text) < sizeof buf) {
        memcpy(buf, text, (size_t)(dash - text));
        buf[dash - text] = 0;
        if (sisa_text_u64(&a, buf) != SISA_OK || sisa_text_u64(&b, dash + 1) != SISA_OK || b < a)
            return SISA_ERR(SISA_EUSAGE, "--task: '%s' is not K, A-B or all", text);
    } else if (sisa_text_u64(&a, text) == SISA_OK) {
        b = a;
    } else {
        return SISA_ERR(SISA_EUSAGE, "--task: '%s' is not K, A-B or all", text);
    }
    if (b >= total)
        return SISA_ERR(SISA_EUSAGE, "--task %s: the plan has tasks 0..%u", text, total - 1);
    *first = (uint32_t)a, *last = (uint32_t)b;
    return SISA_OK;
}

static int gauge_member(sisa_job *job, int argc, char **argv)
{
    const char *task_text = NULL;
    int all = 0;
    char *pos[1];
    const sisa_option options[] = {
        {"task", 0, SISA_ARG_STRING, &task_text, "K",
         "the member task: K, a range A-B or all (default: $SLURM_ARRAY_TASK_ID)", 0},
        {"all", 0, SISA_ARG_FLAG, &all, NULL, "every task, one after the other", 0},
    };
    const sisa_command_spec spec = {
        .name = "gauge member",
        .usage = "gauge member DIR [--task K|A-B|all] [--all]",
        .summary = "Train (and unlearn) one gauge member in a scratch store; record its results.",
        .description =
            "A member whose DIR/members/task-K.json exists is done: a requeued or repeated\n"
            "task returns at once. A member interrupted before its results were written\n"
            "starts again from the beginning (its scratch store DIR/work/task-K is removed).\n"
            "Members never touch a real store. Under mpirun or srun, the ranks share the\n"
            "tasks round-robin (e.g. mpirun -n 8 sisa gauge member DIR --all).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "DIR  the gauge folder (sisa gauge plan -o DIR)",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    uint32_t total, first = 0, last = 0;
    rc = sisa_gauge_tasks(pos[0], &total);
    if (rc) return rc;
    if (all) task_text = "all";
    if (!task_text) task_text = getenv("SLURM_ARRAY_TASK_ID");
    if (!task_text)
        return SISA_ERR(SISA_EUSAGE,
                        "sisa gauge member: which task? (--task K, A-B or all; tasks 0..%u)",
                        total - 1);
    rc = parse_tasks(task_text, total, &first, &last);
    if (rc) return rc;
    /* Under mpirun or srun the ranks share the tasks round-robin. */
    const uint32_t rank = job ? (uint32_t)sisa_job_rank(job) : 0;
    const uint32_t size = job ? (uint32_t)sisa_job_size(job) : 1;
    for (uint32_t t = first; t <= last; t++) {
        if ((t - first) % size != rank) continue;
        rc = sisa_gauge_member(pos[0], t,
                               sisa_get_log_level() > SISA_LOG_LEVEL_QUIET ? stderr : NULL);
        if (rc) return sisa_error_prefix("gauge member %u", t);
    }
    return SISA_OK;
}

static int gauge_score(sisa_job *job, int argc, char **argv)
{
    char *pos[1];
    sisa_gauge_score_opts o;
    memset(&o, 0, sizeof o);
    const sisa_option options[] = {
        {"figures", 0, SISA_ARG_STRING, &o.figures, "DIR",
         "write gauge.gp and the PNGs into DIR (default: the gauge folder)", 0},
        {"no-figures", 0, SISA_ARG_FLAG, &o.no_figures, NULL, "write neither gauge.gp nor PNGs", 0},
    };
    const sisa_command_spec spec = {
        .name = "gauge score",
        .usage = "gauge score DIR [--figures DIR | --no-figures]",
        .summary = "Score every method against retraining, next to the noise floor.",
        .description =
            "Writes DIR/gauge.tsv (per method: final score, F, F over the noise floor's, the\n"
            "share of forget examples whose KS test rejects at 0.05, the loss-threshold MIA\n"
            "AUC, the accuracies, each with its bootstrap 95% interval, and the verdict) and\n"
            "DIR/gauge.h5 (each example's epsilon and KS p-value per method). Then the\n"
            "figures: gauge.gp (gnuplot commands and their data) and, with gnuplot\n"
            "($SISA_GNUPLOT, else on PATH), gauge-F.png, gauge-epsilon.png, gauge-ks.png;\n"
            "without gnuplot the scores stand and a note says so. Scoring again writes\n"
            "the same gauge.tsv. Exit status 0 whatever the verdicts; see docs/gauge.md.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "DIR  the gauge folder",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    if (o.figures && o.no_figures)
        return SISA_ERR(SISA_EUSAGE, "sisa gauge score: --figures and --no-figures exclude "
                                     "each other");
    if (job && sisa_job_rank(job) != 0) return SISA_OK; /* one process scores */
    return sisa_gauge_score(NULL, pos[0], &o, stdout);
}

int sisa_cmd_gauge(sisa_job *job, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(sisa_job *, int, char **);
    } steps[] = {{"plan", gauge_plan}, {"member", gauge_member}, {"score", gauge_score}};
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        FILE *out = argc < 1 ? stderr : stdout;
        fprintf(out,
                "usage: sisa gauge STEP [options]\n\n"
                "Measure forgetting statistically: can an attacker tell models that unlearned a\n"
                "forget set from models retrained without it? (docs/gauge.md)\n\n"
                "steps:\n"
                "  plan    the forget set and three populations of N models, each with its seed\n"
                "  member  train (and unlearn) one member in a scratch store (a Slurm array task)\n"
                "  score   epsilon, F and the final score per method, against the noise floor\n\n"
                "Run 'sisa gauge STEP --help' for a step's options.\n");
        if (argc < 1) return SISA_ERR(SISA_EUSAGE, "sisa gauge: which step? (plan, member, score)");
        return SISA_OK;
    }
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (!strcmp(argv[0], steps[i].name)) return steps[i].run(job, argc - 1, argv + 1);
    return SISA_ERR(SISA_EUSAGE, "sisa gauge: unknown step '%s' (use plan, member or score)",
                    argv[0]);
}
