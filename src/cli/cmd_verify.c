/*
 * cmd_verify.c - `sisa verify -c CFG [-o CERT.json] [--scratch DIR] [--keep-scratch] [--json]`:
 * prove that every shard touched by a deletion equals training it from scratch without the
 * deleted rows, and write a deletion certificate.
 *
 * Rank 0 opens the store, as a writer when the certificate goes into STORE/certificates (so
 * that an interrupted request is finished first), else as a reader that writes nothing into the
 * store and checks at the end that nobody changed it meanwhile. A store trained under another
 * determinism context is refused (bits can only be compared under the same build and OpenBLAS
 * core). Rank 0 checks and reads the ledger, and decides where the rows
 * come from: the original dataset when its digest is the manifest's, else the store's own data
 * files. The touched shards are spread over the ranks by size (shard/schedule.h); each rank
 * rebuilds its shards' rows, compares them with the store's and trains them from scratch in a
 * scratch store of its own (shard/verify.h). Results travel to rank 0 in shard order, which
 * writes the certificate atomically and prints the verdict. The certificate names rows and data
 * subjects only by their salted hashes, like the ledger. A certificate depends on nothing but
 * the store, the ledger and the data: the same for any rank count, apart from its time.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <stdio.h>

int sisa_cmd_verify(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *out_opt = NULL, *scratch_opt = NULL;
    int keep = 0, json = 0, force = 0;
    double wait = 0;
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"output", 'o', SISA_ARG_STRING, &out_opt, "FILE",
         "write the certificate here (default: STORE/certificates/request-N.json; '-': to "
         "standard output, as the only output there)",
         0},
        {"force", 0, SISA_ARG_FLAG, &force, NULL, "replace the -o file if it exists", 0},
        {"scratch", 0, SISA_ARG_STRING, &scratch_opt, "DIR",
         "where to train from scratch: a new folder inside DIR, an existing folder (default "
         "$TMPDIR if it exists, else /tmp)",
         0},
        {"keep-scratch", 0, SISA_ARG_FLAG, &keep, NULL,
         "keep the scratch store afterwards (its path is printed)", 0},
        {"json", 0, SISA_ARG_FLAG, &json, NULL, "print the certificate (JSON) instead of a summary",
         0},
        {"wait", 0, SISA_ARG_WAIT, &wait, "SECONDS",
         "without -o: if another sisa command is changing the store, wait for it (at most "
         "SECONDS) instead of exiting with status 75",
         0},
    };
    const sisa_command_spec spec = {
        .name = "verify",
        .usage = "verify -c CONFIG [-o CERT.json [--force]] [--scratch DIR] [--keep-scratch] "
                 "[--json] [--wait[=SECONDS]]",
        .summary = "Prove that every shard touched by a deletion is bit for bit what training it "
                   "from scratch without the deleted rows gives, and write a certificate.",
        .description =
            "For every shard named in the deletion ledger, the rows it must hold are rebuilt\n"
            "from the original dataset (data.train) without the deleted rows and compared with\n"
            "the store's data file; they are then trained from scratch in a scratch store and\n"
            "every checkpoint is compared with the store's by SHA-256 (on a difference, the\n"
            "first differing tensor is named). If the dataset is missing or has changed, the\n"
            "rows are rebuilt from the store's own data files instead (data_source \"store\").\n"
            "The certificate (JSON) names the requests, the deleted rows and data subjects by\n"
            "their salted hashes, every touched shard with its lineage and model hash, the\n"
            "ledger head, the determinism context and the verdict. Bits can only be compared\n"
            "under the context the store was trained with (same sisa build, OpenBLAS core and\n"
            "threads, floating-point mode and CPU features); another context is refused.\n"
            "Exit status 0 when every shard passes, 1 when one differs (the certificate is\n"
            "written with verdict \"fail\"). Under mpirun or srun the shards are verified in\n"
            "parallel; the certificate does not depend on the number of ranks.\n"
            "With -o outside the store and --scratch outside it, verify writes nothing into the\n"
            "store and takes no lock: it certifies a read-only (archived) store, and works while\n"
            "another command runs (if that command changes the store meanwhile, verify stops\n"
            "with status 75 instead of comparing against a moving target; run it again).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!force || out_opt, SISA_EUSAGE, "sisa verify: --force applies to -o FILE only");
    const sisa_open_opts oo = {job, wait, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    const sisa_verify_opts vo = {out_opt, force, scratch_opt,
                                 keep,    json,  sisa_job_rank(job) == 0 ? stdout : NULL};
    SISA_TRY(sisa_verify(NULL, h, &vo));
done:
    sisa_close(h);
    return err;
}
