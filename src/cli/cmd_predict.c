/*
 * cmd_predict.c - `sisa predict` (posteriors and labels for a dataset, CSV, libsvm or HDF5 file)
 * and `sisa eval`
 * (accuracy of the ensemble and of each shard on a labelled dataset).
 *
 * Both run every shard's final model over the input and aggregate in shard order
 * (sisa_predict_file, sisa_eval; the stream over the ranks is src/run/ensemble.c). A shard without
 * a usable final model (no rows left, or retraining not finished after a deletion) is left out of
 * the ensemble, and the command says so; a model whose lineage does not match its shard's current
 * rows is never used.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sisa_cmd_predict(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL, *output = NULL;
    int json = 0;
    sisa_handle *h = NULL;
    sisa_predict_file_report rep = {0};
    sisa_predict_file_opts po = {0};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"input", 'i', SISA_ARG_STRING, &input, "IN",
         "the rows to predict: a sisa dataset file (labelled or not), a plain HDF5 matrix, CSV "
         "or libsvm ('-': standard input)",
         1},
        {"output", 'o', SISA_ARG_STRING, &output, "OUT",
         "the prediction file to write ('-': CSV on standard output)", 1},
        {"format", 0, SISA_ARG_STRING, &po.format, "h5|csv",
         "h5 (default), or csv: id,label,p0,...; the default for '-' and OUT.csv", 0},
        {"input-format", 0, SISA_ARG_STRING, &po.input_format, "auto|sisa|h5|csv|libsvm",
         "what IN is (default auto: HDF5 by its content, CSV and libsvm by the file name)", 0},
        {"id", 0, SISA_ARG_STRING, &po.id, "NAME",
         "CSV: the column of sample IDs; HDF5: the dataset of IDs (default: id if present, "
         "else the row numbers from 0)",
         0},
        {"x", 0, SISA_ARG_STRING, &po.x, "NAME", "HDF5: the dataset of features (default X)", 0},
        {"delimiter", 0, SISA_ARG_CHAR, &po.delimiter, "C",
         "CSV: the field separator (default ','; 'tab')", 0},
        {"scale", 0, SISA_ARG_F64, &po.scale, "S",
         "divide a CSV, libsvm or HDF5 input's features by S (default: the --scale the "
         "training data was imported with)",
         0},
        {"per-shard", 0, SISA_ARG_FLAG, &po.per_shard, NULL,
         "also write each shard's posteriors (/shards/KKKK)", 0},
        {"force", 0, SISA_ARG_FLAG, &po.force, NULL, "replace OUT if it exists", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the outcome as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "predict",
        .usage = "predict -c CONFIG -i IN -o OUT.h5|OUT.csv|- [--format h5|csv] "
                 "[--input-format auto|sisa|h5|csv|libsvm] [--id NAME] [--x NAME] "
                 "[--delimiter C] [--scale S] [--per-shard] [--force] [--json]",
        .summary = "Predict with the ensemble of shard models; write posteriors and labels.",
        .description =
            "IN may be a sisa dataset file (labelled, or unlabelled from 'sisa import\n"
            "--unlabelled'), or read directly as 'sisa import ... --unlabelled' would read it:\n"
            "a plain HDF5 file (a features matrix X, optional IDs), a CSV file with a header\n"
            "row (the features are the columns the training data was imported from, found by\n"
            "name in any order; other columns, such as a label, are ignored) or a libsvm file\n"
            "(labels optional and ignored). Such inputs get the training data's --scale.\n"
            "'-i -' reads standard input: HDF5 by its content, text as CSV unless\n"
            "--input-format libsvm.\n"
            "OUT.h5 holds proba (float32 [n, C]), label (int32 [n]) and id (uint64 [n]); CSV\n"
            "has the header id,label,p0,...,pC-1 and the same values (see docs/formats.md).\n"
            "The aggregation strategy is the config's aggregate.strategy.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!json || strcmp(output, "-"), SISA_EUSAGE,
               "sisa predict: --json and '-o -' would both write to standard output; write the "
               "predictions to a file");
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_predict_file(&rep, h, input, output, &po));
    if (sisa_job_rank(job) != 0) goto done;
    if (json) {
        printf("{\"rows\": %llu, \"shards_used\": %u, \"shards\": %u, \"strategy\": \"%s\", "
               "\"input\": ",
               (unsigned long long)rep.rows, rep.n_models, rep.shards_total, rep.strategy);
        sisa_json_print_string(stdout, input);
        printf(", \"input_format\": \"%s\", \"output\": ", rep.input_format);
        sisa_json_print_string(stdout, output);
        printf(", \"format\": \"%s\"}\n", rep.format);
        goto done;
    }
    if (!strcmp(output, "-")) goto done; /* stdout holds the CSV only */
    printf("predicted %llu rows (%s) with %u of %u shard models (strategy %s) -> %s\n",
           (unsigned long long)rep.rows, rep.input_format, rep.n_models, rep.shards_total,
           rep.strategy, output);
done:
    sisa_close(h);
    return err;
}

int sisa_cmd_eval(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *input = NULL;
    int json = 0;
    sisa_handle *h = NULL;
    sisa_eval_report r = {0};
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"input", 'i', SISA_ARG_STRING, &input, "TEST.h5",
         "labelled dataset to evaluate on (default: the config's data.test; '-': standard "
         "input)",
         0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the result as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "eval",
        .usage = "eval -c CONFIG [-i TEST.h5] [--json]",
        .summary = "Accuracy of the ensemble and of every shard model on a labelled dataset, and "
                   "the ensemble's per-class recall, precision and F1, macro-F1, log-loss, "
                   "confusion matrix and the shards' agreement.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_eval(&r, h, input));
    if (sisa_job_rank(job) != 0) goto done;
    input = r.input;
    const double acc = r.accuracy;
    const char *strategy = r.strategy;
    if (json) {
        printf("{\"accuracy\": ");
        sisa_json_print_number(stdout, acc);
        printf(", \"strategy\": \"%s\", \"rows\": %llu, \"input\": ", strategy,
               (unsigned long long)r.rows);
        sisa_json_print_string(stdout, input);
        printf(", \"shards_used\": %u, \"shards\": [", r.n_models);
    } else {
        printf("accuracy %.4f on %llu rows of %s (strategy %s, %u of %u shards)\n", acc,
               (unsigned long long)r.rows, input, strategy, r.n_models, r.shards_total);
        printf("  shard   train rows   accuracy\n");
    }
    for (uint32_t m = 0; m < r.n_models; m++) {
        const double a = r.models[m].accuracy;
        if (json) {
            printf("%s{\"shard\": %u, \"rows\": %llu, \"accuracy\": ", m ? ", " : "",
                   r.models[m].shard, (unsigned long long)r.models[m].rows);
            sisa_json_print_number(stdout, a);
            printf("}");
        } else {
            printf("  %5u   %10llu   %.4f\n", r.models[m].shard,
                   (unsigned long long)r.models[m].rows, a);
        }
    }
    const uint32_t C = r.classes;
    if (json) {
        printf("], \"excluded\": [");
        for (uint32_t x = 0; x < r.n_excluded; x++) {
            printf("%s{\"shard\": %u, \"reason\": ", x ? ", " : "", r.excluded[x].shard);
            sisa_json_print_string(stdout, r.excluded[x].reason);
            printf("}");
        }
        printf("], \"macro_f1\": ");
        sisa_json_print_number(stdout, r.macro_f1);
        printf(", \"log_loss\": ");
        sisa_json_print_number(stdout, r.log_loss);
        printf(", \"agreement\": ");
        sisa_json_print_number(stdout, r.agreement);
        printf(", \"unanimous\": ");
        sisa_json_print_number(stdout, r.unanimous);
        printf(", \"classes\": [");
        for (uint32_t c = 0; c < C; c++) {
            printf("%s{\"class\": %u, \"support\": %llu, \"recall\": ", c ? ", " : "", c,
                   (unsigned long long)r.support[c]);
            sisa_json_print_number(stdout, r.recall[c]);
            printf(", \"precision\": ");
            sisa_json_print_number(stdout, r.precision[c]);
            printf(", \"f1\": ");
            sisa_json_print_number(stdout, r.f1[c]);
            printf("}");
        }
        printf("], \"confusion\": [");
        for (uint32_t t = 0; t < C; t++) {
            printf("%s[", t ? ", " : "");
            for (uint32_t p = 0; p < C; p++)
                printf("%s%llu", p ? ", " : "", (unsigned long long)r.confusion[(size_t)t * C + p]);
            printf("]");
        }
        printf("]}\n");
    } else {
        for (uint32_t x = 0; x < r.n_excluded; x++)
            printf("  %5u   left out: %s\n", r.excluded[x].shard, r.excluded[x].reason);
        printf("macro-F1 %.4f, log-loss %.4f; shard models agreeing with the ensemble: %.1f%% "
               "on average, all of them on %.1f%% of the rows\n",
               r.macro_f1, r.log_loss, 100.0 * r.agreement, 100.0 * r.unanimous);
        printf("  class   support   recall   precision       F1\n");
        for (uint32_t c = 0; c < C; c++) {
            printf("  %5u   %7llu", c, (unsigned long long)r.support[c]);
            const double v[3] = {r.recall[c], r.precision[c], r.f1[c]};
            for (int k = 0; k < 3; k++)
                if (isnan(v[k]))
                    printf("   %*s", k ? 9 : 6, "-");
                else
                    printf("   %*.4f", k ? 9 : 6, v[k]);
            printf("\n");
        }
        if (C <= 20) {
            printf("  confusion (rows: true class, columns: predicted)\n       ");
            for (uint32_t p = 0; p < C; p++) printf(" %6u", p);
            printf("\n");
            for (uint32_t t = 0; t < C; t++) {
                printf("  %5u", t);
                for (uint32_t p = 0; p < C; p++)
                    printf(" %6llu", (unsigned long long)r.confusion[(size_t)t * C + p]);
                printf("\n");
            }
        }
    }
done:
    sisa_eval_report_free(&r);
    sisa_close(h);
    return err;
}
