/*
 * cmd_audit.c - `sisa audit -c CFG [--head HEX | --certificate CERT.json] [--dataset PATH]
 * [--json]`: a read-only check that the store keeps its deletion promises.
 *
 * Two checks (shard/audit.h): the ledger's hash chain, held against the store journal's
 * certified requests and against a head kept outside the store (--head, or a certificate's
 * "ledger_head"), which is how a truncated tail shows; and a byte scan of every file under the
 * store for the bytes of every deleted row, validated by a surviving row that must be found.
 *
 * The store is opened as a reader (which may finish an interrupted request first); rank 0 does
 * all the work and the other ranks wait for its verdict, so the result is the same for any
 * number of ranks. Exit status 0 when everything passes, 1 otherwise, with the first problem as
 * the error message.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/json.h"

#include "base/json.h"
#include "shard/audit.h"
#include "shard/journal.h"
#include "shard/store.h"
#include "sisa/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 64 hex digits, lower-cased into `out`; -1 when `text` is not one. */
static int parse_head(const char *text, char out[65])
{
    if (strlen(text) != 64) return -1;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)text[i])) return -1;
        out[i] = (char)tolower((unsigned char)text[i]);
    }
    out[64] = '\0';
    return 0;
}

/* The "ledger_head" of a deletion certificate (sisa verify writes them). */
static int certificate_head(const char *path, char out[65])
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    sisa_json *cert = NULL;
    const char *head = NULL;
    SISA_TRY(sisa_fs_read_all(&text, &len, path, (size_t)16 << 20));
    SISA_TRY(sisa_json_parse(&cert, text, len, path));
    SISA_CHECK(sisa_json_str(cert, "ledger_head", &head), SISA_ECORRUPT,
               "%s: not a deletion certificate (no \"ledger_head\")", path);
    SISA_CHECK(parse_head(head, out) == 0, SISA_ECORRUPT,
               "%s: its \"ledger_head\" is not a SHA-256 (64 hex digits)", path);
done:
    sisa_json_free(cert);
    free(text);
    return err;
}

typedef struct {
    const char *cfg_path;
    const char *dataset;
    const char *head_source; /* "--head" or the certificate's path; NULL: no head given */
    int json;
    char head[65];
    sisa_audit_ledger ledger;
    sisa_audit_files files;
    sisa_audit_scan scan;
    int scan_ran;
    char scan_error[1024]; /* why the scan could not run */
    int pass;
} audit_result;

static void json_problems(char **list, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        if (i) printf(", ");
        sisa_json_string(stdout, list[i]);
    }
    printf("]");
}

static void print_json(const sisa_store *st, const audit_result *a)
{
    const sisa_audit_ledger *l = &a->ledger;
    const sisa_audit_scan *s = &a->scan;
    printf("{\"store\": ");
    sisa_json_string(stdout, st->root);
    printf(", \"config\": ");
    sisa_json_string(stdout, a->cfg_path);
    printf(", \"dataset\": ");
    sisa_json_string(stdout, a->dataset);
    printf(", \"dataset_digest\": \"%s\", \"dataset_digest_ok\": %s", s->digest,
           a->scan_ran && s->digest_match ? "true" : "false");
    printf(", \"ledger\": {\"records\": %llu, \"head\": \"%s\", \"certified\": %llu, "
           "\"given_head\": ",
           (unsigned long long)l->records, l->head, (unsigned long long)l->certified);
    if (a->head_source) {
        printf("{\"head\": \"%s\", \"source\": ", a->head);
        sisa_json_string(stdout, a->head_source);
        if (l->head_found)
            printf(", \"record\": %llu}", (unsigned long long)l->head_record);
        else
            printf(", \"record\": null}");
    } else {
        printf("null");
    }
    printf(", \"ok\": %s, \"problems\": ", l->n_problems ? "false" : "true");
    json_problems(l->problems, l->n_problems);
    if (st->pending_request)
        printf(", \"unfinished_request\": %llu", (unsigned long long)st->pending_request);
    else
        printf(", \"unfinished_request\": null");
    printf("}, \"files\": {\"checked\": %llu, \"bytes\": %llu, \"ok\": %s, \"problems\": ",
           (unsigned long long)a->files.checked, (unsigned long long)a->files.bytes,
           a->files.n_problems ? "false" : "true");
    json_problems(a->files.problems, a->files.n_problems);
    printf("}, \"scan\": {\"ran\": %s, \"files\": %llu, \"bytes\": %llu, \"deleted_rows\": %llu, "
           "\"missing_rows\": %llu, \"not_scannable\": %llu, \"identical_to_surviving\": %llu, "
           "\"found\": %llu, \"found_in\": [",
           a->scan_ran ? "true" : "false", (unsigned long long)s->files,
           (unsigned long long)s->bytes, (unsigned long long)s->deleted_rows,
           (unsigned long long)s->missing_rows, (unsigned long long)s->not_scannable,
           (unsigned long long)s->shared, (unsigned long long)s->found);
    for (size_t i = 0; i < s->n_hits; i++) {
        printf("%s{\"file\": ", i ? ", " : "");
        sisa_json_string(stdout, s->hits[i].path);
        printf(", \"count\": %llu}", (unsigned long long)s->hits[i].count);
    }
    printf("], \"control_found\": %llu, \"control\": ", (unsigned long long)s->control_found);
    if (s->has_control) {
        printf("{\"id\": %llu, \"shard\": %u, \"file\": ", (unsigned long long)s->control_id,
               s->control_shard);
        sisa_json_string(stdout, s->control_file);
        printf(", \"found_in_file\": %llu}", (unsigned long long)s->control_in_file);
    } else {
        printf("null");
    }
    printf(", \"ok\": %s, \"problems\": ", a->scan_ran && !s->n_problems ? "true" : "false");
    if (a->scan_ran) {
        json_problems(s->problems, s->n_problems);
    } else {
        printf("[");
        sisa_json_string(stdout, a->scan_error);
        printf("]");
    }
    printf("}, \"verdict\": \"%s\"}\n", a->pass ? "pass" : "fail");
}

static void print_text(const sisa_store *st, const audit_result *a)
{
    const sisa_audit_ledger *l = &a->ledger;
    const sisa_audit_scan *s = &a->scan;
    printf("audit of store %s (config %s)\n", st->root, a->cfg_path);
    printf("ledger: %llu record(s), head %.16s...; %llu request(s) certified in the journal\n",
           (unsigned long long)l->records, l->head, (unsigned long long)l->certified);
    if (a->head_source) {
        if (l->head_found)
            printf("  head %.16s... from %s: the chain's head after record %llu\n", a->head,
                   a->head_source, (unsigned long long)l->head_record);
        else
            printf("  head %.16s... from %s: not in the chain\n", a->head, a->head_source);
    }
    if (!l->n_problems)
        printf("  chain intact; it holds exactly the certified requests%s\n",
               a->head_source ? " and the given head" : "");
    for (size_t i = 0; i < l->n_problems; i++) printf("  problem: %s\n", l->problems[i]);
    if (st->pending_request)
        printf("  note: deletion request %llu is unfinished: its rows are not deleted yet, and not "
               "searched for (the next writing command finishes it)\n",
               (unsigned long long)st->pending_request);
    printf("files: %llu committed file(s), %llu bytes, checked against their journaled SHA-256\n",
           (unsigned long long)a->files.checked, (unsigned long long)a->files.bytes);
    if (!a->files.n_problems) printf("  every file intact\n");
    for (size_t i = 0; i < a->files.n_problems; i++)
        printf("  problem: %s\n", a->files.problems[i]);
    if (!a->scan_ran) {
        printf("scan: not run: %s\n", a->scan_error);
    } else {
        printf("scan: %llu file(s), %llu bytes under %s\n", (unsigned long long)s->files,
               (unsigned long long)s->bytes, st->root);
        printf("  dataset %s (its digest %s the manifest's): %llu deleted row(s), %llu not "
               "scannable, %llu identical to a surviving row\n",
               a->dataset, s->digest_match ? "matches" : "DIFFERS from",
               (unsigned long long)s->deleted_rows, (unsigned long long)s->not_scannable,
               (unsigned long long)s->shared);
        printf("  bytes of deleted rows found: %llu\n", (unsigned long long)s->found);
        for (size_t i = 0; i < s->n_hits; i++)
            printf("    %s: %llu\n", s->hits[i].path, (unsigned long long)s->hits[i].count);
        if (s->has_control)
            printf("  positive control: surviving row %llu (shard %u) found %llu time(s), %llu in "
                   "%s\n",
                   (unsigned long long)s->control_id, s->control_shard,
                   (unsigned long long)s->control_found, (unsigned long long)s->control_in_file,
                   s->control_file);
        for (size_t i = 0; i < s->n_problems; i++) printf("  problem: %s\n", s->problems[i]);
    }
    printf("verdict: %s\n", a->pass ? "pass" : "fail");
}

/* Rank 0: both checks, the report, and the first problem as the error. */
static int audit_on_root(const sisa_store *st, audit_result *a, const char *head_arg,
                         const char *cert)
{
    int err = SISA_OK;
    sisa_files files = {0};
    char ledger[SISA_PATH_MAX];
    if (head_arg) {
        SISA_CHECK(parse_head(head_arg, a->head) == 0, SISA_EUSAGE,
                   "sisa audit: --head '%s' is not a ledger head (64 hex digits)", head_arg);
        a->head_source = "--head";
    } else if (cert) {
        SISA_TRY(certificate_head(cert, a->head));
        a->head_source = cert;
    }

    SISA_TRY(sisa_path_resolve(ledger, sizeof ledger, st->root, "ledger"));
    SISA_TRY(sisa_store_files(st, &files, 0));
    SISA_TRY(sisa_audit_check_ledger(&a->ledger, ledger, &files.j, a->head_source ? a->head : NULL,
                                     a->head_source));

    SISA_TRY(sisa_audit_check_files(&a->files, st));
    int rc = sisa_audit_scan_store(&a->scan, st, a->dataset, (const uint8_t(*)[32])a->ledger.ids,
                                   a->ledger.n_ids);
    if (rc == SISA_EINTR || rc == SISA_ENOMEM) SISA_TRY(rc);
    a->scan_ran = rc == SISA_OK;
    if (!a->scan_ran)
        snprintf(a->scan_error, sizeof a->scan_error, "the byte scan could not run: %s",
                 sisa_error_message());

    a->pass = !a->ledger.n_problems && !a->files.n_problems && a->scan_ran && !a->scan.n_problems;
    if (a->json)
        print_json(st, a);
    else
        print_text(st, a);
    fflush(stdout);
    if (a->pass) goto done;
    if (a->ledger.n_problems)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__, "%s", a->ledger.problems[0]);
    else if (a->files.n_problems)
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__, "%s", a->files.problems[0]);
    else if (!a->scan_ran)
        err = sisa_error_set(SISA_EIO, __FILE__, __LINE__, "%s", a->scan_error);
    else
        err = sisa_error_set(SISA_ECORRUPT, __FILE__, __LINE__, "%s", a->scan.problems[0]);
done:
    sisa_files_close(&files);
    return err;
}

int sisa_cmd_audit(int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *head = NULL, *cert = NULL, *dataset = NULL;
    int json = 0;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    audit_result a;
    memset(&a, 0, sizeof a);
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"head", 0, SISA_ARG_STRING, &head, "HEX",
         "a ledger head kept outside the store (must be in the chain)", 0},
        {"certificate", 0, SISA_ARG_STRING, &cert, "CERT.json",
         "a deletion certificate whose \"ledger_head\" is checked like --head", 0},
        {"dataset", 0, SISA_ARG_STRING, &dataset, "PATH",
         "the dataset the store was trained on (default: the config's data.train)", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the report as one JSON object", 0},
    };
    const sisa_command_spec spec = {
        .name = "audit",
        .usage = "audit -c CONFIG [--head HEX | --certificate CERT.json] [--dataset PATH] [--json]",
        .summary = "Check, without changing anything, that the store keeps its deletion promises: "
                   "an intact ledger, intact files and no byte of a deleted row anywhere in the "
                   "store.",
        .description =
            "Ledger: its hash chain must be intact (an edited, dropped, reordered or inserted\n"
            "record breaks it), it must hold exactly the requests the store journal certifies,\n"
            "each hashing to the head journaled with it, and a head kept outside the store\n"
            "(--head, or a certificate's \"ledger_head\") must be the chain's head after some\n"
            "record: otherwise the ledger was truncated or rewritten.\n"
            "Files: every file the store's journals commit must hash to its journaled SHA-256\n"
            "(sisa status checks only sizes; this is the full check).\n"
            "Scan: the deleted rows are the dataset's rows whose salted ID hash the ledger names;\n"
            "every file under the store (temp files, journals and the ledger included) is\n"
            "searched for their bytes (d float32 values), which must be found 0 times. A\n"
            "surviving row must be found in its shard's data file, or the scan is broken.\n"
            "Rows whose bytes are nearly constant (e.g. all zeros) cannot be told apart from\n"
            "other data and are reported as not scannable. Without the dataset the scan cannot\n"
            "run and the audit fails.\n"
            "Exit status 0 when everything passes, 1 otherwise (the first problem is the error).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!(head && cert), SISA_EUSAGE,
               "sisa audit: give a ledger head with --head or --certificate, not both");
    if (head) {
        char tmp[65];
        SISA_CHECK(parse_head(head, tmp) == 0, SISA_EUSAGE,
                   "sisa audit: --head '%s' is not a ledger head (64 hex digits)", head);
    }

    sisa_dist *d = sisa_cli_dist();
    SISA_TRY(sisa_cli_open_store(&st, &cfg, cfg_path, SISA_STORE_INSPECT, NULL));
    if (sisa_dist_rank(d) == 0) {
        a.cfg_path = cfg_path;
        a.dataset = dataset ? dataset : cfg.data.train;
        a.json = json;
        err = audit_on_root(&st, &a, head, cert);
    }
    /* The other ranks wait here for rank 0's verdict. */
    SISA_TRY(sisa_dist_agree(d, err));
done:
    sisa_audit_scan_free(&a.scan);
    sisa_audit_files_free(&a.files);
    sisa_audit_ledger_free(&a.ledger);
    sisa_store_close(&st);
    return err;
}
