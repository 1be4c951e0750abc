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
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_audit(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *head = NULL, *cert = NULL, *dataset = NULL;
    int json = 0;
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"head", 0, SISA_ARG_STRING, &head, "HEX",
         "a ledger head kept outside the store (must be in the chain)", 0},
        {"certificate", 0, SISA_ARG_STRING, &cert, "CERT.json",
         "a deletion certificate whose \"ledger_head\" is checked like --head ('-': standard "
         "input)",
         0},
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
    SISA_CHECK(!head || sisa_check_ledger_head(head) == 0, SISA_EUSAGE,
               "sisa audit: --head '%s' is not a ledger head (64 hex digits)", head);
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    const sisa_audit_opts ao = {head, cert, dataset, json, sisa_job_rank(job) == 0 ? stdout : NULL};
    int pass = 0;
    SISA_TRY(sisa_audit(&pass, h, &ao));
done:
    sisa_close(h);
    return err;
}
