/*
 * args.c - see args.h.
 */
#include "args.h"

#include "sisa/sisa.h"

#include <math.h>
#include <string.h>
#include <time.h>

static const sisa_option *find_long(const sisa_command_spec *spec, const char *name, size_t len)
{
    for (int i = 0; i < spec->n_options; i++)
        if (strlen(spec->options[i].name) == len && !strncmp(spec->options[i].name, name, len))
            return &spec->options[i];
    return NULL;
}

static const sisa_option *find_short(const sisa_command_spec *spec, char c)
{
    for (int i = 0; i < spec->n_options; i++)
        if (spec->options[i].short_name == c) return &spec->options[i];
    return NULL;
}

static const char *closest(const sisa_command_spec *spec, const char *name)
{
    const char *best = NULL;
    unsigned best_d = 3;
    for (int i = 0; i < spec->n_options; i++) {
        unsigned d = sisa_text_distance(name, spec->options[i].name);
        if (d < best_d) {
            best_d = d;
            best = spec->options[i].name;
        }
    }
    return best;
}

static int store(const sisa_command_spec *spec, const sisa_option *opt, const char *value)
{
    int err = SISA_OK;
    switch (opt->kind) {
    case SISA_ARG_FLAG:
        *(int *)opt->dest = 1;
        break;
    case SISA_ARG_STRING:
        SISA_CHECK(*value, SISA_EUSAGE, "sisa %s: --%s needs a non-empty value", spec->name,
                   opt->name);
        *(const char **)opt->dest = value;
        break;
    case SISA_ARG_U64: {
        uint64_t v;
        SISA_CHECK(sisa_text_u64(&v, value) == 0, SISA_EUSAGE,
                   "sisa %s: --%s: '%s' is not a non-negative integer", spec->name, opt->name,
                   value);
        *(uint64_t *)opt->dest = v;
        break;
    }
    case SISA_ARG_I32: {
        int64_t v;
        SISA_CHECK(sisa_text_i64(&v, value) == 0 && v >= 0 && v <= INT32_MAX, SISA_EUSAGE,
                   "sisa %s: --%s: '%s' is not an integer in 0..%d", spec->name, opt->name, value,
                   INT32_MAX);
        *(int32_t *)opt->dest = (int32_t)v;
        break;
    }
    case SISA_ARG_F64: {
        double v;
        SISA_CHECK(sisa_text_f64(&v, value) == 0, SISA_EUSAGE,
                   "sisa %s: --%s: '%s' is not a finite number", spec->name, opt->name, value);
        *(double *)opt->dest = v;
        break;
    }
    case SISA_ARG_WAIT: {
        double v = -1;
        SISA_CHECK(!value || (sisa_text_f64(&v, value) == 0 && v >= 0), SISA_EUSAGE,
                   "sisa %s: --%s=%s: give a number of seconds >= 0 (or --%s alone to wait as "
                   "long as it takes)",
                   spec->name, opt->name, value, opt->name);
        *(double *)opt->dest = v;
        break;
    }
    case SISA_ARG_CHAR:
        if (!strcmp(value, "\\t") || !strcmp(value, "tab")) {
            *(char *)opt->dest = '\t';
            break;
        }
        SISA_CHECK(strlen(value) == 1, SISA_EUSAGE,
                   "sisa %s: --%s: '%s' should be a single character", spec->name, opt->name,
                   value);
        *(char *)opt->dest = value[0];
        break;
    }
done:
    return err;
}

static void (*capture_fn)(void *ctx, const sisa_command_spec *spec);
static void *capture_ctx;

void sisa_args_capture(void (*fn)(void *ctx, const sisa_command_spec *spec), void *ctx)
{
    capture_fn = fn;
    capture_ctx = ctx;
}

int sisa_args_parse(const sisa_command_spec *spec, int argc, char **argv, char **positionals,
                    int *n_positionals)
{
    int err = SISA_OK;
    if (capture_fn) {
        capture_fn(capture_ctx, spec);
        return 1;
    }
    unsigned char seen[64] = {0};
    int npos = 0, options_done = 0;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        const sisa_option *opt = NULL;
        const char *value = NULL;
        if (!options_done && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
            sisa_args_help(spec, stdout);
            return 1;
        }
        if (!options_done && !strcmp(arg, "--")) {
            options_done = 1;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            opt = find_long(spec, name, len);
            if (!opt) {
                char buf[128];
                snprintf(buf, sizeof buf, "%.*s", (int)(len < 100 ? len : 100), name);
                const char *hint = closest(spec, buf);
                if (hint)
                    SISA_FAIL(SISA_EUSAGE, "sisa %s: unknown option '--%s' (did you mean --%s?)",
                              spec->name, buf, hint);
                SISA_FAIL(SISA_EUSAGE, "sisa %s: unknown option '--%s' (see 'sisa %s --help')",
                          spec->name, buf, spec->name);
            }
            if (eq) {
                SISA_CHECK(opt->kind != SISA_ARG_FLAG, SISA_EUSAGE, "sisa %s: --%s takes no value",
                           spec->name, opt->name);
                value = eq + 1;
            }
        } else if (!options_done && arg[0] == '-' && arg[1] && arg[2] == '\0') {
            opt = find_short(spec, arg[1]);
            SISA_CHECK(opt, SISA_EUSAGE, "sisa %s: unknown option '%s' (see 'sisa %s --help')",
                       spec->name, arg, spec->name);
        } else if (!options_done && arg[0] == '-' && arg[1] && arg[1] != '-' &&
                   find_short(spec, arg[1])) {
            /* a short option with its value attached: -cFILE */
            opt = find_short(spec, arg[1]);
            SISA_CHECK(opt->kind != SISA_ARG_FLAG && opt->kind != SISA_ARG_WAIT, SISA_EUSAGE,
                       "sisa %s: -%c takes no value (in '%s')", spec->name, arg[1], arg);
            value = arg + 2;
        } else {
            SISA_CHECK(npos < spec->max_positionals, SISA_EUSAGE,
                       spec->max_positionals ? "sisa %s: unexpected argument '%s'"
                                             : "sisa %s: unexpected argument '%s' (this command "
                                               "takes options only)",
                       spec->name, arg);
            positionals[npos++] = arg;
            continue;
        }
        int idx = (int)(opt - spec->options);
        SISA_CHECK(idx < 64 && !seen[idx], SISA_EUSAGE, "sisa %s: --%s given twice", spec->name,
                   opt->name);
        seen[idx] = 1;
        if (opt->kind != SISA_ARG_FLAG && opt->kind != SISA_ARG_WAIT && !value) {
            SISA_CHECK(i + 1 < argc, SISA_EUSAGE, "sisa %s: --%s needs a value (%s)", spec->name,
                       opt->name, opt->metavar ? opt->metavar : "VALUE");
            value = argv[++i];
        }
        SISA_TRY(store(spec, opt, value));
    }
    for (int i = 0; i < spec->n_options; i++)
        SISA_CHECK(!spec->options[i].required || seen[i], SISA_EUSAGE,
                   "sisa %s: --%s is required (see 'sisa %s --help')", spec->name,
                   spec->options[i].name, spec->name);
    SISA_CHECK(npos >= spec->min_positionals, SISA_EUSAGE,
               "sisa %s: missing argument (usage: sisa %s)", spec->name, spec->usage);
    if (n_positionals) *n_positionals = npos;
done:
    return err;
}

void sisa_args_help(const sisa_command_spec *spec, FILE *out)
{
    fprintf(out, "usage: sisa %s\n\n%s\n", spec->usage, spec->summary);
    if (spec->description) fprintf(out, "\n%s\n", spec->description);
    if (spec->positional_help) fprintf(out, "\narguments:\n  %s\n", spec->positional_help);
    fprintf(out, "\noptions:\n");
    for (int i = 0; i < spec->n_options; i++) {
        const sisa_option *o = &spec->options[i];
        char left[64];
        if (o->kind == SISA_ARG_WAIT)
            snprintf(left, sizeof left, "    --%s[=%s]", o->name, o->metavar ? o->metavar : "N");
        else if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(out, "  %-28s %s%s\n", left, o->help, o->required ? " (required)" : "");
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help and exit");
    fprintf(out, "\nexit status: 0 success, 1 runtime failure (I/O, corrupt input, damaged "
                 "store), 2 usage or\nconfiguration error, 3 request rejected (nothing changed), "
                 "75 temporary: stopped on\nrequest or store busy (run it again), 130 "
                 "interrupted. See docs/exit-codes.md.\n");
}

double sisa_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
