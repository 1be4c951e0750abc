/*
 * fuzz_ledger.c - the deletion ledger (shard/ledger.c): its hash chain, the deletions it names,
 * the lineages it records, and the audit's cross-check with the store journal.
 *
 * Input: the ledger's bytes, optionally followed by a NUL byte and a store journal's bytes (a
 * NUL is refused inside either file, so the split costs no coverage). Every refusal must name
 * the file at fault.
 */
#include "fuzz.h"

#include "shard/journal.h"
#include "shard/ledger.h"
#include "sisa/error.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char ledger[600], journal[600];
    fz_init();
    if (!ledger[0]) {
        fz_path(ledger, sizeof ledger, "ledger");
        fz_path(journal, sizeof journal, "journal");
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t llen = nul ? (size_t)(nul - data) : size;
    fz_write(ledger, data, llen);

    sisa_ledger_info info;
    size_t torn = 0;
    int rc = sisa_ledger_check(ledger, &info);
    fz_check(rc, ledger, FZ_NAMES_FILE);
    rc = sisa_ledger_read(ledger, &info, &torn);
    fz_check(rc, ledger, FZ_NAMES_FILE);
    if (rc == 0 && torn > llen) fz_fail("%zu torn bytes of %zu", torn, llen);
    char lineages[8][65];
    fz_check(sisa_ledger_lineages(ledger, 8, lineages), ledger, FZ_NAMES_FILE);
    sisa_deletions d;
    memset(&d, 0, sizeof d);
    rc = sisa_deletions_read(&d, ledger, 8);
    fz_check(rc, ledger, FZ_NAMES_FILE);
    for (uint32_t i = 0; rc == 0 && i < d.n_shards; i++)
        if (d.shards[i] >= 8 || (i && d.shards[i] <= d.shards[i - 1]))
            fz_fail("deletions name shard %u", d.shards[i]);
    sisa_deletions_free(&d);

    if (nul) {
        fz_write(journal, nul + 1, size - llen - 1);
        sisa_journal j;
        rc = sisa_journal_open(&j, journal, 0);
        fz_check(rc, journal, FZ_NAMES_FILE);
        if (rc == 0) {
            sisa_audit_ledger a;
            static const char zeros[] =
                "0000000000000000000000000000000000000000000000000000000000000000";
            rc = sisa_audit_check_ledger(&a, ledger, &j, zeros, "fuzz.cert");
            fz_check(rc, "", 0);
            for (size_t i = 0; i < a.n_problems; i++)
                if (!strstr(a.problems[i], ledger) && !strstr(a.problems[i], journal) &&
                    !strstr(a.problems[i], "fuzz.cert"))
                    fz_fail("a problem names no file: %s", a.problems[i]);
            sisa_audit_ledger_free(&a);
            sisa_journal_close(&j);
        }
    }
    fz_clean();
    return 0;
}
