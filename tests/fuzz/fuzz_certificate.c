/*
 * fuzz_certificate.c - reading a deletion certificate (`sisa audit --certificate FILE`,
 * src/run/audit.c): its JSON and its "ledger_head".
 *
 * Properties: a head read is 64 lower-case hex digits; a refusal names the file.
 */
#include "fuzz.h"

#include "run/run.h"
#include "sisa/error.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    fz_init();
    if (!path[0]) fz_path(path, sizeof path, "request-1.json");
    fz_write(path, data, size);
    char head[65];
    int rc = sisa_run_certificate_head(path, head);
    fz_check(rc, path, FZ_NAMES_FILE);
    if (rc == 0 && (strlen(head) != 64 || strspn(head, "0123456789abcdef") != 64))
        fz_fail("the head read is %s", head);
    fz_clean();
    return 0;
}
