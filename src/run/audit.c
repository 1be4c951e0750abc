/*
 * audit.c - sisa audit (run/run.h): a read-only check that the store keeps its deletion promises.
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
#include "run/run.h"

#include "run/print.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "shard/audit.h"
#include "shard/journal.h"
#include "shard/store.h"
#include "sisa/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 64 hex digits, lower-cased into `out`; -1 when `text` is not one. */
int sisa_run_parse_head(const char *text, char out[65])
{
    char low[65];
    uint8_t bytes[32];
    if (strlen(text) != 64) return -1;
    for (int i = 0; i < 64; i++) low[i] = (char)tolower((unsigned char)text[i]);
    low[64] = '\0';
    if (sisa_unhex(bytes, low, 32) < 0) return -1;
    sisa_hex(out, bytes, 32);
    return 0;
}

int sisa_run_certificate_head(const char *path, char out[65])
{
    int err = SISA_OK;
    char *text = NULL;
    size_t len = 0;
    sisa_json *cert = NULL;
    const char *head = NULL;
    /* As large as the ledger may be: a certificate names the rows of the requests it covers,
     * which the ledger names too. */
    const int std_in = !strcmp(path, "-");
    SISA_TRY(sisa_fs_read_all(&text, &len, std_in ? "/dev/stdin" : path, (size_t)1 << 30));
    if (std_in) path = "standard input";
    SISA_TRY(sisa_json_parse(&cert, text, len, path));
    SISA_CHECK(sisa_json_str(cert, "ledger_head", &head), SISA_ECORRUPT,
               "%s: not a deletion certificate (no \"ledger_head\")", path);
    SISA_CHECK(sisa_run_parse_head(head, out) == 0, SISA_ECORRUPT,
               "%s: its \"ledger_head\" is not a SHA-256 (64 hex digits)", path);
done:
    sisa_json_free(cert);
    sisa_free(text);
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

static void json_problems(FILE *out, char **list, size_t n)
{
    fprintf(out, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) fprintf(out, ", ");
        sisa_json_string(out, list[i]);
    }
    fprintf(out, "]");
}

static void print_json(FILE *out, const sisa_store *st, const audit_result *a)
{
    const sisa_audit_ledger *l = &a->ledger;
    const sisa_audit_scan *s = &a->scan;
    fprintf(out, "{\"store\": ");
    sisa_json_string(out, st->root);
    fprintf(out, ", \"config\": ");
    sisa_json_string(out, a->cfg_path);
    fprintf(out, ", \"dataset\": ");
    sisa_json_string(out, a->dataset);
    fprintf(out, ", \"dataset_digest\": \"%s\", \"dataset_digest_ok\": %s", s->digest,
            a->scan_ran && s->digest_match ? "true" : "false");
    fprintf(out,
            ", \"ledger\": {\"records\": %llu, \"head\": \"%s\", \"certified\": %llu, "
            "\"given_head\": ",
            (unsigned long long)l->records, l->head, (unsigned long long)l->certified);
    if (a->head_source) {
        fprintf(out, "{\"head\": \"%s\", \"source\": ", a->head);
        sisa_json_string(out, a->head_source);
        if (l->head_found)
            fprintf(out, ", \"record\": %llu}", (unsigned long long)l->head_record);
        else
            fprintf(out, ", \"record\": null}");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ", \"ok\": %s, \"problems\": ", l->n_problems ? "false" : "true");
    json_problems(out, l->problems, l->n_problems);
    if (st->pending_request)
        fprintf(out, ", \"unfinished_request\": %llu", (unsigned long long)st->pending_request);
    else
        fprintf(out, ", \"unfinished_request\": null");
    fprintf(out, "}, \"files\": {\"checked\": %llu, \"bytes\": %llu, \"ok\": %s, \"problems\": ",
            (unsigned long long)a->files.checked, (unsigned long long)a->files.bytes,
            a->files.n_problems ? "false" : "true");
    json_problems(out, a->files.problems, a->files.n_problems);
    fprintf(out,
            "}, \"scan\": {\"ran\": %s, \"files\": %llu, \"bytes\": %llu, \"deleted_rows\": %llu, "
            "\"missing_rows\": %llu, \"not_scannable\": %llu, \"identical_to_surviving\": %llu, "
            "\"found\": %llu, \"found_in\": [",
            a->scan_ran ? "true" : "false", (unsigned long long)s->files,
            (unsigned long long)s->bytes, (unsigned long long)s->deleted_rows,
            (unsigned long long)s->missing_rows, (unsigned long long)s->not_scannable,
            (unsigned long long)s->shared, (unsigned long long)s->found);
    for (size_t i = 0; i < s->n_hits; i++) {
        fprintf(out, "%s{\"file\": ", i ? ", " : "");
        sisa_json_string(out, s->hits[i].path);
        fprintf(out, ", \"count\": %llu}", (unsigned long long)s->hits[i].count);
    }
    fprintf(out, "], \"control_found\": %llu, \"control\": ", (unsigned long long)s->control_found);
    if (s->has_control) {
        fprintf(out, "{\"id\": %llu, \"shard\": %u, \"file\": ", (unsigned long long)s->control_id,
                s->control_shard);
        sisa_json_string(out, s->control_file);
        fprintf(out, ", \"found_in_file\": %llu}", (unsigned long long)s->control_in_file);
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ", \"ok\": %s, \"problems\": ", a->scan_ran && !s->n_problems ? "true" : "false");
    if (a->scan_ran) {
        json_problems(out, s->problems, s->n_problems);
    } else {
        fprintf(out, "[");
        sisa_json_string(out, a->scan_error);
        fprintf(out, "]");
    }
    fprintf(out, "}, \"verdict\": \"%s\"}\n", a->pass ? "pass" : "fail");
}

static void print_text(FILE *out, const sisa_store *st, const audit_result *a)
{
    const sisa_audit_ledger *l = &a->ledger;
    const sisa_audit_scan *s = &a->scan;
    fprintf(out, "audit of store %s (config %s)\n", st->root, a->cfg_path);
    fprintf(out,
            "ledger: %llu record(s), head %.16s...; %llu request(s) certified in the journal\n",
            (unsigned long long)l->records, l->head, (unsigned long long)l->certified);
    if (a->head_source) {
        if (l->head_found)
            fprintf(out, "  head %.16s... from %s: the chain's head after record %llu\n", a->head,
                    a->head_source, (unsigned long long)l->head_record);
        else
            fprintf(out, "  head %.16s... from %s: not in the chain\n", a->head, a->head_source);
    }
    if (!l->n_problems)
        fprintf(out, "  chain intact; it holds exactly the certified requests%s\n",
                a->head_source ? " and the given head" : "");
    for (size_t i = 0; i < l->n_problems; i++) fprintf(out, "  problem: %s\n", l->problems[i]);
    if (st->pending_request)
        fprintf(
            out,
            "  note: deletion request %llu is unfinished: its rows are not deleted yet, and not "
            "searched for (the next writing command finishes it)\n",
            (unsigned long long)st->pending_request);
    fprintf(out,
            "files: %llu committed file(s), %llu bytes, checked against their journaled SHA-256\n",
            (unsigned long long)a->files.checked, (unsigned long long)a->files.bytes);
    if (!a->files.n_problems) fprintf(out, "  every file intact\n");
    for (size_t i = 0; i < a->files.n_problems; i++)
        fprintf(out, "  problem: %s\n", a->files.problems[i]);
    if (!a->scan_ran) {
        fprintf(out, "scan: not run: %s\n", a->scan_error);
    } else {
        fprintf(out, "scan: %llu file(s), %llu bytes under %s\n", (unsigned long long)s->files,
                (unsigned long long)s->bytes, st->root);
        fprintf(out,
                "  dataset %s (its digest %s the manifest's): %llu deleted row(s), %llu not "
                "scannable, %llu identical to a surviving row\n",
                a->dataset, s->digest_match ? "matches" : "DIFFERS from",
                (unsigned long long)s->deleted_rows, (unsigned long long)s->not_scannable,
                (unsigned long long)s->shared);
        fprintf(out, "  bytes of deleted rows found: %llu\n", (unsigned long long)s->found);
        for (size_t i = 0; i < s->n_hits; i++)
            fprintf(out, "    %s: %llu\n", s->hits[i].path, (unsigned long long)s->hits[i].count);
        if (s->has_control)
            fprintf(out,
                    "  positive control: surviving row %llu (shard %u) found %llu time(s), %llu in "
                    "%s\n",
                    (unsigned long long)s->control_id, s->control_shard,
                    (unsigned long long)s->control_found, (unsigned long long)s->control_in_file,
                    s->control_file);
        for (size_t i = 0; i < s->n_problems; i++) fprintf(out, "  problem: %s\n", s->problems[i]);
    }
    fprintf(out, "verdict: %s\n", a->pass ? "pass" : "fail");
}

/* Rank 0: both checks, the report, and the first problem as the error. */
static int audit_on_root(FILE *out, const sisa_store *st, audit_result *a, const char *head_arg,
                         const char *cert)
{
    int err = SISA_OK;
    sisa_files files = {0};
    char ledger[SISA_PATH_MAX];
    if (head_arg) {
        SISA_CHECK(sisa_run_parse_head(head_arg, a->head) == 0, SISA_EUSAGE,
                   "sisa audit: --head '%s' is not a ledger head (64 hex digits)", head_arg);
        a->head_source = "--head";
    } else if (cert) {
        SISA_TRY(sisa_run_certificate_head(cert, a->head));
        a->head_source = strcmp(cert, "-") ? cert : "standard input";
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
        print_json(out, st, a);
    else
        print_text(out, st, a);
    fflush(out);
    if (a->pass) goto done;
    if (a->ledger.n_problems)
        err = SISA_ERR(SISA_ECORRUPT, "%s", a->ledger.problems[0]);
    else if (a->files.n_problems)
        err = SISA_ERR(SISA_ECORRUPT, "%s", a->files.problems[0]);
    else if (!a->scan_ran)
        err = SISA_ERR(SISA_EIO, "%s", a->scan_error);
    else
        err = SISA_ERR(SISA_ECORRUPT, "%s", a->scan.problems[0]);
done:
    sisa_files_close(&files);
    return err;
}

int sisa_run_audit(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in, const char *label,
                   const sisa_run_audit_opts *o, int *pass)
{
    int err = SISA_OK;
    const char *head = o->head, *cert = o->certificate, *dataset = o->dataset;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    audit_result a;
    FILE *out = o->out, *null_out = NULL;
    memset(&a, 0, sizeof a);
    *pass = 0;
    SISA_CHECK(!(head && cert), SISA_EUSAGE,
               "sisa audit: give a ledger head with --head or --certificate, not both");
    if (head) {
        char tmp[65];
        SISA_CHECK(sisa_run_parse_head(head, tmp) == 0, SISA_EUSAGE,
                   "sisa audit: --head '%s' is not a ledger head (64 hex digits)", head);
    }
    if (!out) out = null_out = fopen("/dev/null", "w");
    SISA_CHECK(out, SISA_EIO, "cannot open /dev/null");

    const sisa_run_open_opts oo = {0, NULL, 0, cfg_in};
    SISA_TRY(sisa_run_open_store(d, &st, &cfg, cfg_path, SISA_STORE_INSPECT, &oo));
    if (sisa_dist_rank(d) == 0) {
        a.cfg_path = label ? label : cfg.source[0] ? cfg.source : "(in memory)";
        a.dataset = dataset ? dataset : cfg.data.train;
        a.json = o->json;
        err = audit_on_root(out, &st, &a, head, cert);
        *pass = a.pass;
    }
    /* The other ranks wait here for rank 0's verdict. */
    SISA_TRY(sisa_dist_agree(d, err));
done:
    sisa_audit_scan_free(&a.scan);
    sisa_audit_files_free(&a.files);
    sisa_audit_ledger_free(&a.ledger);
    sisa_store_close(&st);
    if (null_out) fclose(null_out);
    return err;
}
