/*
 * predin.c - what `sisa predict` reads: a sisa dataset file, or a foreign file (a plain HDF5
 * matrix, CSV, libsvm) turned into the same rows.
 *
 * A foreign input goes through the very importer that `sisa import` runs, unlabelled, into a
 * temp dataset in a scratch folder outside the store (sisa_run_make_scratch), which rank 0 reads
 * back whole and then removes. So a CSV row predicts exactly as the same row imported first:
 * same parsing, same --scale division in float32, same checks (finite values, unique IDs).
 *
 * The training data tells how to read it: its feature_names (recorded by `sisa import csv`) pick
 * the CSV columns by name, in the training order, whatever the input's column order and whatever
 * other columns it has (a label column, say); its recorded --scale is applied unless the caller
 * gives one. libsvm rows are read with the store's feature count.
 */
#include "run/run.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/dsstream.h"
#include "sisa/dataset.h"
#include "sisa/import.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* The kind of `input`: as `format` says, else an HDF5 file is sisa or h5 by its sisa_format
 * attribute and any other file CSV or libsvm by its name. SISA_EUSAGE when it cannot tell. */
static int input_kind(const char *input, const char *format, sisa_run_input_kind *kind)
{
    int err = SISA_OK;
    if (format && strcmp(format, "auto")) {
        static const struct {
            const char *name;
            sisa_run_input_kind kind;
        } names[] = {{"sisa", SISA_INPUT_SISA},
                     {"h5", SISA_INPUT_H5},
                     {"csv", SISA_INPUT_CSV},
                     {"libsvm", SISA_INPUT_LIBSVM}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(format, names[i].name)) {
                *kind = names[i].kind;
                return SISA_OK;
            }
        SISA_FAIL(SISA_EUSAGE, "input format '%s' is not auto, sisa, h5, csv or libsvm", format);
    }
    int probe = sisa_dataset_probe(input);
    if (probe >= 0) {
        *kind = probe ? SISA_INPUT_SISA : SISA_INPUT_H5;
        return SISA_OK;
    }
    /* Not HDF5: CSV or libsvm by the name. Not readable at all: the probe's error stands. */
    if (sisa_error_code() != SISA_ECORRUPT) return sisa_error_code();
    sisa_error_clear();
    static const char *const csv[] = {".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz"};
    static const char *const svm[] = {".svm",       ".svm.gz",   ".libsvm",
                                      ".libsvm.gz", ".svmlight", ".svmlight.gz"};
    for (size_t i = 0; i < sizeof csv / sizeof csv[0]; i++)
        if (ends_with(input, csv[i])) {
            *kind = SISA_INPUT_CSV;
            return SISA_OK;
        }
    for (size_t i = 0; i < sizeof svm / sizeof svm[0]; i++)
        if (ends_with(input, svm[i])) {
            *kind = SISA_INPUT_LIBSVM;
            return SISA_OK;
        }
    SISA_FAIL(SISA_EUSAGE,
              "%s is not HDF5, and its name does not tell whether it is CSV (.csv, .tsv, .txt) "
              "or libsvm (.svm, .libsvm, .svmlight); say which with --input-format csv|libsvm",
              input);
done:
    return err;
}

const char *sisa_run_input_kind_name(sisa_run_input_kind kind)
{
    switch (kind) {
    case SISA_INPUT_SISA:
        return "sisa";
    case SISA_INPUT_H5:
        return "h5";
    case SISA_INPUT_CSV:
        return "csv";
    case SISA_INPUT_LIBSVM:
        return "libsvm";
    }
    return "?";
}

/* A sisa dataset input whose recorded feature_names are not the training data's (in order) is
 * SISA_EUSAGE: its columns would be taken in the wrong places. Without names on either side
 * there is nothing to check. */
static int check_feature_names(const sisa_store *st, const char *input)
{
    int err = SISA_OK;
    char **want = NULL, **got = NULL;
    size_t n_want = 0, n_got = 0;
    double scale = 1.0;
    SISA_TRY(sisa_dataset_feature_info(input, &got, &n_got, &scale));
    if (!got) goto done;
    if (sisa_dataset_feature_info(st->cfg.data.train, &want, &n_want, &scale) < 0) {
        sisa_error_clear(); /* nothing to compare with */
        goto done;
    }
    if (!want || n_want != n_got) goto done; /* the feature count is checked later */
    for (size_t j = 0; j < n_want; j++)
        SISA_CHECK(!strcmp(want[j], got[j]), SISA_EUSAGE,
                   "%s: its feature %zu is column '%s' but the training data's is '%s': its "
                   "columns are not the training data's, in the training order. Predict the CSV "
                   "file itself (it is read by column name), or import it again with the "
                   "training data's columns",
                   input, j, got[j], want[j]);
done:
    sisa_free(want);
    sisa_free(got);
    return err;
}

/* The training data's feature names joined by '\n' (NULL when it records none). */
static int join_names(char **out, char **names, size_t n)
{
    int err = SISA_OK;
    size_t bytes = 1;
    *out = NULL;
    if (!names) return SISA_OK;
    for (size_t i = 0; i < n; i++) bytes += strlen(names[i]) + 1;
    char *s = sisa_malloc(bytes), *p = s;
    SISA_CHECK(s, SISA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const size_t len = strlen(names[i]);
        SISA_CHECK(!memchr(names[i], '\n', len), SISA_ECORRUPT,
                   "the training data's feature name %zu holds a line break", i);
        if (i) *p++ = '\n';
        memcpy(p, names[i], len);
        p += len;
    }
    *p = '\0';
    *out = s;
    s = NULL;
done:
    sisa_free(s);
    return err;
}

/* Read a foreign input (h5, csv or libsvm) into an unlabelled dataset in memory, as `sisa
 * import ... --unlabelled` with the training data's recorded column names and --scale would
 * have written it, and check its feature count against the store. */
static int load_foreign(const sisa_store *st, const char *input, sisa_run_input_kind kind,
                        const sisa_run_foreign_opts *fo, sisa_dataset **out)
{
    int err = SISA_OK;
    char scratch[SISA_PATH_MAX] = "", tmp[SISA_PATH_MAX + 16];
    char **names = NULL, *joined = NULL;
    size_t n_names = 0;
    double scale = 1.0;
    sisa_import_opts io;
    *out = NULL;
    const char *train = st->cfg.data.train;
    /* What the training import recorded: CSV names it needs; the scale it only prefers. */
    int info = sisa_dataset_feature_info(train, &names, &n_names, &scale);
    if (info < 0) {
        char why[SISA_ERROR_MAX];
        const int code = sisa_error_code();
        snprintf(why, sizeof why, "%s", sisa_error_message());
        SISA_CHECK(fo->scale > 0, code,
                   "%s (the training data says how to read %s: its --scale and, for CSV, its "
                   "column names); pass --scale S to read the input without it",
                   why, input);
        sisa_warn("cannot read how the training data was imported (%s): reading %s with --scale "
                  "%g%s",
                  why, input, fo->scale,
                  kind == SISA_INPUT_CSV ? " and every column but --id as a feature, in order"
                                         : "");
        sisa_error_clear();
    }
    if (fo->scale > 0) scale = fo->scale;
    if (kind == SISA_INPUT_CSV) SISA_TRY(join_names(&joined, names, n_names));

    sisa_import_opts_init(&io);
    io.unlabelled = 1;
    io.scale = scale;
    switch (kind) {
    case SISA_INPUT_CSV:
        io.id_col = fo->id;
        io.delimiter = fo->delimiter;
        io.feature_cols = joined; /* NULL: every column but the ID column, in order */
        break;
    case SISA_INPUT_LIBSVM:
        io.features = st->man.features;
        SISA_CHECK(!fo->id, SISA_EUSAGE,
                   "--id does not apply to a libsvm input: its rows are numbered from 0");
        break;
    case SISA_INPUT_H5:
        io.x_name = fo->x;
        io.id_name = fo->id;
        break;
    case SISA_INPUT_SISA:
        SISA_FAIL(SISA_EINTERNAL, "%s is a sisa dataset file, not a foreign input", input);
    }
    SISA_CHECK(kind == SISA_INPUT_H5 || !fo->x, SISA_EUSAGE,
               "--x names the features dataset of an HDF5 input; %s is %s", input,
               sisa_run_input_kind_name(kind));
    SISA_TRY(sisa_run_make_scratch(st, "predict", fo->scratch, scratch, sizeof scratch));
    snprintf(tmp, sizeof tmp, "%s/input.h5", scratch);
    io.out = tmp;
    sisa_dataset_summary sum;
    if (kind == SISA_INPUT_CSV)
        err = sisa_import_csv(&sum, input, &io);
    else if (kind == SISA_INPUT_LIBSVM)
        err = sisa_import_libsvm(&sum, input, &io);
    else
        err = sisa_import_h5(&sum, input, &io);
    SISA_TRY(err);
    SISA_TRY(sisa_dataset_read_any(out, tmp));
    SISA_CHECK((*out)->d == st->man.features, SISA_ECORRUPT,
               "%s has %llu features per row but store %s was trained on %llu%s", input,
               (unsigned long long)(*out)->d, st->root, (unsigned long long)st->man.features,
               kind == SISA_INPUT_CSV && !joined
                   ? " (the training data records no column names, so every column but --id "
                     "is taken as a feature, in order)"
                   : "");
done:
    if (err < 0) {
        sisa_dataset_free(*out);
        *out = NULL;
    }
    if (scratch[0]) sisa_run_remove_scratch(scratch);
    sisa_free(joined);
    sisa_free(names);
    return err;
}

int sisa_run_predict_prepare(const sisa_store *st, const char *input, const char *format,
                             const sisa_run_foreign_opts *fo, sisa_run_input_kind *kind,
                             sisa_dataset **rows)
{
    int err = SISA_OK;
    char scratch[SISA_PATH_MAX] = "", copy[SISA_PATH_MAX + 16];
    const char *src = input;
    *rows = NULL;
    if (!strcmp(input, "-")) {
        /* Standard input is kept in a scratch file (libsvm is read twice, HDF5 needs a file)
         * and then read whole; text is CSV unless the format says libsvm. */
        SISA_TRY(sisa_run_stdin_copy(st, "predict", fo->scratch, scratch, sizeof scratch, copy,
                                     sizeof copy));
        src = copy;
        if (!format || !strcmp(format, "auto")) {
            int probe = sisa_dataset_probe(src);
            if (probe < 0) sisa_error_clear();
            *kind = probe < 0 ? SISA_INPUT_CSV : probe ? SISA_INPUT_SISA : SISA_INPUT_H5;
        } else {
            SISA_TRY(input_kind(src, format, kind));
        }
    } else {
        SISA_TRY(input_kind(input, format, kind));
    }
    if (*kind == SISA_INPUT_SISA) {
        SISA_CHECK(!fo->id && !fo->x && !fo->delimiter && !(fo->scale > 0), SISA_EUSAGE,
                   "%s is a sisa dataset file: its IDs and features are read as they are (--id, "
                   "--x, --delimiter and --scale apply to other inputs)",
                   input);
        SISA_TRY(check_feature_names(st, src));
        if (src != input) SISA_TRY(sisa_dataset_read_any(rows, src));
    } else {
        SISA_TRY(load_foreign(st, src, *kind, fo, rows));
    }
done:
    if (scratch[0]) sisa_run_remove_scratch(scratch);
    return err;
}

int sisa_run_stdin_rows(sisa_dist *d, const sisa_store *st, const char *cmd, const char *base_opt,
                        int labelled, int everywhere, sisa_dataset **rows)
{
    int err = SISA_OK, local = SISA_OK;
    const int rank = sisa_dist_rank(d);
    char scratch[SISA_PATH_MAX] = "", copy[SISA_PATH_MAX + 16];
    sisa_dataset *ds = NULL;
    *rows = NULL;
    if (rank == 0) {
        local = sisa_run_stdin_copy(st, cmd, base_opt, scratch, sizeof scratch, copy, sizeof copy);
        if (local == SISA_OK) {
            local = labelled ? sisa_dataset_read(&ds, copy) : sisa_dataset_read_any(&ds, copy);
            if (local < 0) sisa_error_prefix("standard input (kept as %s)", copy);
        }
        if (scratch[0]) sisa_run_remove_scratch(scratch);
    }
    SISA_TRY(sisa_dist_agree(d, local));
    if (everywhere && sisa_dist_size(d) > 1) {
        /* n, d, labelled, num_classes from rank 0; then X, id and (labelled) y. */
        uint64_t shape[4] = {0, 0, 0, 0};
        if (rank == 0) {
            shape[0] = ds->n;
            shape[1] = ds->d;
            shape[2] = (uint64_t)ds->labelled;
            shape[3] = (uint64_t)ds->num_classes;
        }
        SISA_TRY(sisa_dist_bcast(d, shape, sizeof shape, 0));
        if (rank != 0) {
            ds = sisa_calloc(1, sizeof *ds);
            local = ds ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
            if (ds) {
                ds->n = shape[0];
                ds->d = shape[1];
                ds->labelled = (int)shape[2];
                ds->num_classes = (int32_t)shape[3];
                ds->scale = 1;
                const uint64_t cells = shape[0] * shape[1];
                ds->X = sisa_malloc((cells ? cells : 1) * sizeof(float));
                ds->id = sisa_malloc((shape[0] ? shape[0] : 1) * sizeof *ds->id);
                if (ds->labelled) ds->y = sisa_malloc((shape[0] ? shape[0] : 1) * sizeof *ds->y);
                if (!ds->X || !ds->id || (ds->labelled && !ds->y))
                    local = SISA_ERR(SISA_ENOMEM, "out of memory for %llu rows of standard input",
                                     (unsigned long long)shape[0]);
            }
        }
        SISA_TRY(sisa_dist_agree(d, local));
        SISA_TRY(sisa_dist_bcast(d, ds->X, shape[0] * shape[1] * sizeof(float), 0));
        SISA_TRY(sisa_dist_bcast(d, ds->id, shape[0] * sizeof *ds->id, 0));
        if (ds->labelled) SISA_TRY(sisa_dist_bcast(d, ds->y, shape[0] * sizeof *ds->y, 0));
    }
    *rows = ds;
    ds = NULL;
done:
    sisa_dataset_free(ds);
    return err;
}
