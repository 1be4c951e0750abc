/*
 * cmd_info.c - `sisa info FILE.h5 [--json]`: describe and validate a dataset file.
 *
 * The file is read whole through sisa_dataset_read_any, so `info` doubles as a validator: a file it
 * describes passes every check training will make, and a corrupt one exits 1 with the reader's
 * message. The statistics (class counts, ID range, distinct groups, X min/max/mean) are computed
 * here in a fixed order, so the same file always prints the same text. --json prints the same
 * facts as one JSON object for scripts; strings are escaped, and bytes that are not valid UTF-8
 * (file names may hold any bytes) become U+FFFD so the output always parses.
 *
 * A file may declare up to 2^20 classes: the text lists the first INFO_CLASSES_SHOWN and sums up
 * the rest (how many have rows, naming a few, and how many are empty) unless --all-classes is
 * given. The JSON keeps one class_counts entry per class (a script indexes it by class) and adds
 * empty_classes, so its size grows with the class count, by about 3 bytes per empty class.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INFO_CLASSES_SHOWN 20 /* classes listed one per line without --all-classes */
#define INFO_CLASSES_NAMED 5  /* non-empty classes named in the summary of the rest */

typedef struct {
    uint64_t file_bytes;
    uint64_t *class_counts; /* (num_classes) */
    uint64_t empty_classes; /* classes without a row */
    uint64_t id_min, id_max;
    uint64_t groups;           /* distinct groups; 0 without a group column */
    uint64_t risk_counts[256]; /* rows per risk tier (import --risk) */
    int risk_tiers;            /* 1 + the highest tier; 0 without a risk column */
    double x_min, x_max, x_mean;
} info_stats;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int compute_stats(info_stats *st, const sisa_dataset *ds, const char *path)
{
    int err = SISA_OK;
    uint64_t *sorted = NULL;
    struct stat sb;
    memset(st, 0, sizeof *st);
    SISA_CHECK(stat(path, &sb) == 0, SISA_EIO, "cannot stat %s: %s", path, strerror(errno));
    st->file_bytes = (uint64_t)sb.st_size;
    st->class_counts = calloc((size_t)ds->num_classes + 1, sizeof *st->class_counts);
    SISA_CHECK(st->class_counts, SISA_ENOMEM, "out of memory");
    st->id_min = UINT64_MAX;
    for (uint64_t i = 0; i < ds->n; i++) {
        if (ds->y) st->class_counts[ds->y[i]]++;
        if (ds->id[i] < st->id_min) st->id_min = ds->id[i];
        if (ds->id[i] > st->id_max) st->id_max = ds->id[i];
    }
    for (int32_t c = 0; c < ds->num_classes; c++) st->empty_classes += !st->class_counts[c];
    for (uint64_t i = 0; ds->risk && i < ds->n; i++) {
        st->risk_counts[ds->risk[i]]++;
        if (ds->risk[i] >= st->risk_tiers) st->risk_tiers = ds->risk[i] + 1;
    }
    if (ds->group) {
        sorted = malloc(ds->n * sizeof *sorted);
        SISA_CHECK(sorted, SISA_ENOMEM, "out of memory counting groups");
        memcpy(sorted, ds->group, ds->n * sizeof *sorted);
        qsort(sorted, ds->n, sizeof *sorted, cmp_u64);
        for (uint64_t i = 0; i < ds->n; i++)
            if (i == 0 || sorted[i] != sorted[i - 1]) st->groups++;
    }
    /* Row by row in double: a fixed summation order, so the mean never changes between runs. */
    const uint64_t total = ds->n * ds->d;
    double lo = ds->X[0], hi = ds->X[0], sum = 0;
    for (uint64_t r = 0; r < ds->n; r++) {
        const float *row = ds->X + r * ds->d;
        double rs = 0;
        for (uint64_t j = 0; j < ds->d; j++) {
            double v = row[j];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            rs += v;
        }
        sum += rs;
    }
    st->x_min = lo;
    st->x_max = hi;
    st->x_mean = sum / (double)total;
done:
    free(sorted);
    return err;
}

static void print_json(const char *path, const sisa_dataset *ds, const info_stats *st)
{
    FILE *f = stdout;
    fputs("{\"path\": ", f);
    sisa_json_print_string(f, path);
    fprintf(f, ", \"file_bytes\": %llu, \"rows\": %llu, \"features\": %llu, \"feature_shape\": ",
            (unsigned long long)st->file_bytes, (unsigned long long)ds->n,
            (unsigned long long)ds->d);
    if (ds->feature_rank) {
        fputc('[', f);
        for (int i = 0; i < ds->feature_rank; i++)
            fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)ds->feature_shape[i]);
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f,
            ", \"labelled\": %s, \"num_classes\": %d, \"empty_classes\": %llu, "
            "\"class_counts\": [",
            ds->labelled ? "true" : "false", ds->num_classes,
            (unsigned long long)st->empty_classes);
    for (int32_t c = 0; c < ds->num_classes; c++)
        fprintf(f, "%s%llu", c ? ", " : "", (unsigned long long)st->class_counts[c]);
    fputs("], \"label_values\": ", f);
    if (ds->label_values) {
        /* Classes past the distinct labels seen (a larger --num-classes) have no value. */
        fputc('[', f);
        for (int32_t c = 0; c < ds->num_classes; c++) {
            if (c) fputs(", ", f);
            if (c < ds->num_label_values)
                fprintf(f, "%lld", (long long)ds->label_values[c]);
            else
                fputs("null", f);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ", \"id_min\": %llu, \"id_max\": %llu, \"groups\": ", (unsigned long long)st->id_min,
            (unsigned long long)st->id_max);
    if (ds->group)
        fprintf(f, "%llu", (unsigned long long)st->groups);
    else
        fputs("null", f);
    fputs(", \"risk_counts\": ", f);
    if (ds->risk) {
        fputc('[', f);
        for (int t = 0; t < st->risk_tiers; t++)
            fprintf(f, "%s%llu", t ? ", " : "", (unsigned long long)st->risk_counts[t]);
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ", \"x_min\": %.9g, \"x_max\": %.9g, \"x_mean\": %.17g, \"source\": ", st->x_min,
            st->x_max, st->x_mean);
    sisa_json_print_string(f, ds->source);
    fputs(", \"created_by\": ", f);
    sisa_json_print_string(f, ds->created_by);
    fputs(", \"scale\": ", f);
    sisa_json_print_number(f, ds->scale);
    fputs(", \"feature_names\": ", f);
    if (ds->feature_names) {
        fputc('[', f);
        for (uint64_t j = 0; j < ds->d; j++) {
            if (j) fputs(", ", f);
            sisa_json_print_string(f, ds->feature_names[j]);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fputs("}\n", f);
}

static void print_class(const sisa_dataset *ds, const info_stats *st, int32_t c)
{
    printf("  class %-4d %10llu rows (%5.1f%%)", c, (unsigned long long)st->class_counts[c],
           100.0 * (double)st->class_counts[c] / (double)ds->n);
    if (ds->label_values && c < ds->num_label_values)
        printf("  original label %lld", (long long)ds->label_values[c]);
    printf("\n");
}

/* One line for classes first..C-1: how many have rows (naming the first few) and how many are
 * empty. */
static void print_rest(const sisa_dataset *ds, const info_stats *st, int32_t first)
{
    uint64_t with_rows = 0, named = 0;
    for (int32_t c = first; c < ds->num_classes; c++) with_rows += st->class_counts[c] > 0;
    const uint64_t rest = (uint64_t)(ds->num_classes - first);
    printf("  ... %llu more classes: %llu with rows", (unsigned long long)rest,
           (unsigned long long)with_rows);
    for (int32_t c = first; c < ds->num_classes && with_rows; c++) {
        if (!st->class_counts[c]) continue;
        if (named == INFO_CLASSES_NAMED) {
            printf(", ...");
            break;
        }
        printf("%s%lld: %llu row%s",
               named            ? ", "
               : with_rows == 1 ? " (class "
                                : " (classes ",
               (long long)c, (unsigned long long)st->class_counts[c],
               st->class_counts[c] == 1 ? "" : "s");
        named++;
    }
    printf("%s, %llu empty; --all-classes lists them\n", with_rows ? ")" : "",
           (unsigned long long)(rest - with_rows));
}

static void print_text(const char *path, const sisa_dataset *ds, const info_stats *st,
                       int all_classes)
{
    printf("path:        %s\n", path);
    printf("file size:   %.1f MB (%llu bytes)\n", (double)st->file_bytes / 1e6,
           (unsigned long long)st->file_bytes);
    printf("rows:        %llu\n", (unsigned long long)ds->n);
    printf("features:    %llu", (unsigned long long)ds->d);
    if (ds->feature_rank) {
        printf(" (shape ");
        for (int i = 0; i < ds->feature_rank; i++)
            printf("%s%llu", i ? " x " : "", (unsigned long long)ds->feature_shape[i]);
        printf(")");
    }
    if (!ds->labelled) {
        printf("\nclasses:     none (unlabelled: an input to predict)\n");
        goto ids;
    }
    printf("\nclasses:     %d", ds->num_classes);
    if (st->empty_classes)
        printf(" (%llu with rows, %llu empty)",
               (unsigned long long)((uint64_t)ds->num_classes - st->empty_classes),
               (unsigned long long)st->empty_classes);
    printf("\n");
    const int32_t shown =
        all_classes || ds->num_classes <= INFO_CLASSES_SHOWN ? ds->num_classes : INFO_CLASSES_SHOWN;
    for (int32_t c = 0; c < shown; c++) print_class(ds, st, c);
    if (shown < ds->num_classes) print_rest(ds, st, shown);
ids:
    printf("sample IDs:  %llu..%llu\n", (unsigned long long)st->id_min,
           (unsigned long long)st->id_max);
    if (ds->group)
        printf("groups:      %llu distinct\n", (unsigned long long)st->groups);
    else
        printf("groups:      none (no group column)\n");
    if (ds->risk) {
        printf("risk tiers:  ");
        for (int t = 0; t < st->risk_tiers; t++)
            printf("%s%d: %llu rows", t ? ", " : "", t, (unsigned long long)st->risk_counts[t]);
        printf("\n");
    }
    printf("X:           min %.9g, max %.9g, mean %.9g\n", st->x_min, st->x_max, st->x_mean);
    if (ds->scale != 1.0) printf("scale:       imported with --scale %.17g\n", ds->scale);
    if (ds->feature_names) {
        printf("columns:     ");
        for (uint64_t j = 0; j < ds->d && j < INFO_CLASSES_SHOWN; j++)
            printf("%s%s", j ? ", " : "", ds->feature_names[j]);
        if (ds->d > INFO_CLASSES_SHOWN) printf(", ... (%llu in all)", (unsigned long long)ds->d);
        printf("\n");
    }
    printf("source:      %s\n", ds->source[0] ? ds->source : "(not recorded)");
    printf("created by:  %s\n", ds->created_by[0] ? ds->created_by : "(not recorded)");
}

int sisa_cmd_info(sisa_job *job, int argc, char **argv)
{
    (void)job;
    int err = SISA_OK;
    int json = 0, all_classes = 0;
    char *pos[1];
    char spool[4096] = "", copy[4096 + 16];
    sisa_dataset *ds = NULL;
    info_stats st;
    memset(&st, 0, sizeof st);
    const sisa_option options[] = {
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print one JSON object instead of text", 0},
        {"all-classes", 0, SISA_ARG_FLAG, &all_classes, NULL,
         "list every class (the text lists the first 20 and sums up the rest)", 0},
    };
    const sisa_command_spec spec = {
        .name = "info",
        .usage = "info FILE.h5 [--json] [--all-classes]",
        .summary = "Describe and validate a sisa dataset file.",
        .description =
            "Reads the whole file, checks it against the dataset schema (docs/formats.md), and\n"
            "prints its size, rows, features, classes with per-class counts, sample ID range,\n"
            "groups, rows per risk tier, feature statistics and provenance. A corrupt file exits 1 "
            "with the reason.\n"
            "With more than 20 classes the text lists the first 20 and sums up the rest (how\n"
            "many have rows, and how many are empty); --all-classes lists every class.\n"
            "An unlabelled dataset (an input to predict) has no classes.\n"
            "--json keys: path, file_bytes, rows, features, feature_shape, labelled,\n"
            "num_classes, empty_classes, class_counts, label_values, id_min, id_max, groups,\n"
            "risk_counts, x_min, x_max, x_mean, source, created_by, scale, feature_names\n"
            "(feature_shape, label_values, groups, risk_counts and feature_names are null when\n"
            "absent; docs/json.md).\n"
            "class_counts and label_values always have one entry per class, so the JSON grows\n"
            "with the number of classes (about 3 bytes per empty class).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "FILE.h5  the dataset file ('-': standard input)",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    const char *path = pos[0], *name = pos[0];
    if (!strcmp(pos[0], "-")) { /* standard input: read as the file it is copied into */
        SISA_TRY(sisa_stdin_spool("info", spool, sizeof spool, copy, sizeof copy));
        path = copy;
        name = "standard input";
    }
    err = sisa_dataset_read_any(&ds, path);
    if (err < 0 && path != pos[0]) sisa_error_prefix("standard input");
    SISA_TRY(err);
    SISA_TRY(compute_stats(&st, ds, path));
    if (json)
        print_json(name, ds, &st);
    else
        print_text(name, ds, &st, all_classes);
    SISA_CHECK(fflush(stdout) == 0 && !ferror(stdout), SISA_EIO, "cannot write to stdout: %s",
               strerror(errno));
done:
    free(st.class_counts);
    sisa_dataset_free(ds);
    sisa_stdin_spool_remove(spool);
    return err;
}
