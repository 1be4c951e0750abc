/*
 * cmd_import.c - `sisa import idx|csv|libsvm|h5 ... -o OUT.h5`.
 *
 * Each format has its own option table; the options every importer shares (output, --force,
 * --id-offset, --scale, --num-classes, --remap-labels, --unlabelled) are appended to each. On
 * success a one-paragraph summary goes to stdout; on failure nothing is left at OUT.h5.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>
#include <string.h>

#define COMMON_OPTIONS(o)                                                                          \
    {"output", 'o', SISA_ARG_STRING, &(o).out, "OUT.h5", "the dataset file to write", 1},          \
        {"force", 0, SISA_ARG_FLAG, &(o).force, NULL, "replace OUT.h5 if it exists", 0},           \
        {"id-offset",                                                                              \
         0,                                                                                        \
         SISA_ARG_U64,                                                                             \
         &(o).id_offset,                                                                           \
         "N",                                                                                      \
         "generated sample IDs are N + row number (default 0)",                                    \
         0},                                                                                       \
        {"scale",    0,   SISA_ARG_F64,                                                            \
         &(o).scale, "S", "divide every feature by S in float32 (e.g. 255 for pixels)",            \
         0},                                                                                       \
        {"num-classes",                                                                            \
         0,                                                                                        \
         SISA_ARG_I32,                                                                             \
         &(o).num_classes,                                                                         \
         "C",                                                                                      \
         "declare C classes (default: largest label + 1, at most 1000)",                           \
         0},                                                                                       \
        {"remap-labels",                                                                           \
         0,                                                                                        \
         SISA_ARG_FLAG,                                                                            \
         &(o).remap_labels,                                                                        \
         NULL,                                                                                     \
         "map arbitrary integer labels (e.g. -1/+1) to 0..C-1 in sorted order",                    \
         0},                                                                                       \
    {                                                                                              \
        "unlabelled", 0, SISA_ARG_FLAG, &(o).unlabelled, NULL,                                     \
            "data without labels (an input to predict; train and eval refuse it)", 0               \
    }

/* --risk and --risk-cuts (csv and h5): the deletion-risk tiers of sharding: tiered. */
#define RISK_OPTIONS(o, meta, what)                                                                \
    {"risk",                                                                                       \
     0,                                                                                            \
     SISA_ARG_STRING,                                                                              \
     &(o).risk_col,                                                                                \
     meta,                                                                                         \
     "the " what " of each row's deletion-risk tier, stored as 'risk' (for sharding: tiered): "    \
     "integers 0..255, or probabilities with --risk-cuts",                                         \
     0},                                                                                           \
    {                                                                                              \
        "risk-cuts", 0, SISA_ARG_STRING, &(o).risk_cuts, "C1,C2,...",                              \
            "read --risk as probabilities: p < C1 is tier 0, C1 <= p < C2 tier 1, ..., p >= the "  \
            "last cut the last tier",                                                              \
            0                                                                                      \
    }

static const char *const formats_help =
    "formats:\n"
    "  idx      MNIST-style IDX image and label files, gzipped or plain\n"
    "  csv      comma-separated values with a header row (optionally gzipped)\n"
    "  libsvm   'label index:value ...' lines, 1-based sparse features (optionally gzipped)\n"
    "  h5       an existing HDF5 file, validated and rewritten in sisa's schema\n";

static void print_summary(const char *out, const sisa_dataset_summary *s, double seconds)
{
    char classes[64];
    if (s->num_classes)
        snprintf(classes, sizeof classes, "%d classes", s->num_classes);
    else
        snprintf(classes, sizeof classes, "no labels (an input to predict)");
    printf("imported %llu rows x %llu features, %s -> %s (%.1f MB) in %.2f s\n",
           (unsigned long long)s->n, (unsigned long long)s->d, classes, out,
           (double)s->file_bytes / 1e6, seconds);
    printf("  sample IDs %llu..%llu, features in [%g, %g], %s\n", (unsigned long long)s->id_min,
           (unsigned long long)s->id_max, (double)s->x_min, (double)s->x_max,
           s->has_group ? "with a group column" : "no group column");
    if (s->has_risk) printf("  risk tiers 0..%d\n", s->risk_max);
}

static int finish(int err, const char *out, const sisa_dataset_summary *s, double t0)
{
    if (err < 0) return err;
    print_summary(out, s, sisa_cli_now() - t0);
    return SISA_OK;
}

static int import_idx(int argc, char **argv)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    const sisa_option options[] = {
        {"images", 0, SISA_ARG_STRING, &o.images, "FILE",
         "IDX file of samples (idx3, idx2...; '-': standard input)", 1},
        {"labels", 0, SISA_ARG_STRING, &o.labels, "FILE",
         "IDX file of labels (idx1; required unless --unlabelled; '-': standard input)", 0},
        COMMON_OPTIONS(o),
    };
    const sisa_command_spec spec = {
        .name = "import idx",
        .usage = "import idx --images FILE --labels FILE|--unlabelled -o OUT.h5 [options]",
        .summary = "Import an IDX image file and its label file (e.g. MNIST, Fashion-MNIST).",
        .description =
            "Files may be gzipped or plain. Each sample's trailing dimensions are flattened into\n"
            "features (28x28 images give 784) and kept in the feature_shape attribute. Sample\n"
            "IDs are --id-offset + row. Example:\n"
            "  sisa import idx --images train-images-idx3-ubyte.gz \\\n"
            "                  --labels train-labels-idx1-ubyte.gz --scale 255 -o train.h5",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_dataset_summary s;
    double t0 = sisa_cli_now();
    return finish(sisa_import_idx(&s, &o), o.out, &s, t0);
}

static int import_csv(int argc, char **argv)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    char *pos[1];
    const sisa_option options[] = {
        {"label", 0, SISA_ARG_STRING, &o.label_col, "COLUMN",
         "the column holding the label (required unless --unlabelled)", 0},
        {"id", 0, SISA_ARG_STRING, &o.id_col, "COLUMN",
         "the column holding unique sample IDs (default: --id-offset + row)", 0},
        {"group", 0, SISA_ARG_STRING, &o.group_col, "COLUMN",
         "the column holding each row's data-subject key (for sharding: group)", 0},
        {"delimiter", 0, SISA_ARG_CHAR, &o.delimiter, "C", "field separator (default ','; 'tab')",
         0},
        RISK_OPTIONS(o, "COLUMN", "column"),
        COMMON_OPTIONS(o),
    };
    const sisa_command_spec spec = {
        .name = "import csv",
        .usage = "import csv FILE -o OUT.h5 --label COLUMN|--unlabelled [--id COLUMN] "
                 "[--group COLUMN] [--risk COLUMN [--risk-cuts C1,...]] [options]",
        .summary = "Import a CSV file with a header row; columns are chosen by name.",
        .description =
            "Every column other than the label, ID, group and risk columns is a feature and\n"
            "must be numeric in every row; the feature columns' names are kept in the dataset\n"
            "(feature_names), so that 'sisa predict' can read a CSV file by column name.\n"
            "Labels, IDs and groups must be non-negative integers (see --remap-labels).\n"
            "Fields may be double-quoted. The file may be gzipped.\n"
            "With --group and --risk, all rows of a group must have the same tier.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "FILE  the CSV file ('-': standard input)",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_dataset_summary s;
    double t0 = sisa_cli_now();
    return finish(sisa_import_csv(&s, pos[0], &o), o.out, &s, t0);
}

static int import_libsvm(int argc, char **argv)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    char *pos[1];
    const sisa_option options[] = {
        {"features", 0, SISA_ARG_U64, &o.features, "D",
         "number of features (default: the largest index in the file)", 0},
        COMMON_OPTIONS(o),
    };
    const sisa_command_spec spec = {
        .name = "import libsvm",
        .usage = "import libsvm FILE -o OUT.h5 [options]",
        .summary = "Import a libsvm/svmlight file: 'label index:value ...', 1-based indices.",
        .description =
            "Features are densified (absent entries are 0). Indices must increase along a line.\n"
            "Labels must be integers; binary files labelled -1/+1 need --remap-labels.\n"
            "With --unlabelled a line may start with its first pair (a label is skipped).\n"
            "The file is read twice (once to size it), so it cannot be a pipe. It may be\n"
            "gzipped.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "FILE  the libsvm file ('-': standard input, kept in a temporary copy)",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_dataset_summary s;
    double t0 = sisa_cli_now();
    return finish(sisa_import_libsvm(&s, pos[0], &o), o.out, &s, t0);
}

static int import_h5(int argc, char **argv)
{
    sisa_import_opts o;
    sisa_import_opts_init(&o);
    char *pos[1];
    const sisa_option options[] = {
        {"x", 0, SISA_ARG_STRING, &o.x_name, "NAME", "dataset of features (default X)", 0},
        {"y", 0, SISA_ARG_STRING, &o.y_name, "NAME", "dataset of labels (default y)", 0},
        {"id", 0, SISA_ARG_STRING, &o.id_name, "NAME",
         "dataset of sample IDs (default id, if present; else --id-offset + row)", 0},
        {"group", 0, SISA_ARG_STRING, &o.group_name, "NAME",
         "dataset of group keys (default group, if present)", 0},
        RISK_OPTIONS(o, "NAME", "dataset"),
        COMMON_OPTIONS(o),
    };
    const sisa_command_spec spec = {
        .name = "import h5",
        .usage = "import h5 FILE -o OUT.h5 [--x NAME --y NAME --id NAME --group NAME] [options]",
        .summary = "Validate an existing HDF5 file and rewrite it in sisa's dataset schema.",
        .description =
            "Features may be any integer or floating-point type with 2 or more dimensions\n"
            "(trailing dimensions are flattened); labels, IDs and groups must be integer\n"
            "types with one entry per row (no labels with --unlabelled). The file is parsed in\n"
            "a separate process with HDF5 plugins disabled; external and soft links are\n"
            "refused.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .positional_help = "FILE  the HDF5 file ('-': standard input, kept in a temporary copy)",
        .min_positionals = 1,
        .max_positionals = 1,
    };
    int rc = sisa_args_parse(&spec, argc, argv, pos, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    sisa_dataset_summary s;
    double t0 = sisa_cli_now();
    return finish(sisa_import_h5(&s, pos[0], &o), o.out, &s, t0);
}

int sisa_cmd_import(sisa_job *job, int argc, char **argv)
{
    (void)job;
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } formats[] = {
        {"idx", import_idx}, {"csv", import_csv}, {"libsvm", import_libsvm}, {"h5", import_h5}};
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        FILE *out = argc < 1 ? stderr : stdout;
        fprintf(out,
                "usage: sisa import FORMAT [options]\n\n"
                "Turn data into a sisa dataset file (HDF5: X, y, id, optional group; see\n"
                "docs/formats.md). The output appears only when the import succeeds.\n\n%s\n"
                "Run 'sisa import FORMAT --help' for a format's options.\n",
                formats_help);
        if (argc < 1)
            return SISA_ERR(SISA_EUSAGE, "sisa import: which format? (idx, csv, libsvm or h5)");
        return SISA_OK;
    }
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(argv[0], formats[i].name)) return formats[i].run(argc - 1, argv + 1);
    return SISA_ERR(SISA_EUSAGE, "sisa import: unknown format '%s' (use idx, csv, libsvm or h5)",
                    argv[0]);
}
