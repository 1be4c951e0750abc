/*
 * fuzz_journal.c - journals (shard/journal.c): a journaled folder opened as readers open it,
 * the store journal's deletion requests and states (shard/request.c), a shard journal's summary
 * of its data file (shard/train.c), and a writer's open, which truncates a torn last line.
 *
 * Input: the journal's bytes. Every refusal must name the journal.
 */
#include "fuzz.h"

#include "shard/journal.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[600], path[700];
    static sisa_store st; /* only cfg.sisa.slices is read */
    fz_init();
    if (!dir[0]) {
        fz_path(dir, sizeof dir, "folder");
        snprintf(path, sizeof path, "%s/journal", dir);
    }
    mkdir(dir, 0700);
    fz_write(path, data, size);

    sisa_files f;
    int rc = sisa_files_open(&f, dir, "journal", 0);
    fz_check(rc, path, FZ_NAMES_FILE);
    if (rc == 0) {
        sisa_request r;
        int found = 0;
        uint64_t rows = 0;
        rc = sisa_request_latest(&f.j, &r, &found, &rows);
        fz_check(rc, path, FZ_NAMES_FILE);
        if (rc == 0) sisa_request_free(&r);
        sisa_request_summary sum;
        fz_check(sisa_request_summarise(&f.j, &sum), path, FZ_NAMES_FILE);
        st.cfg.sisa.slices = 1 + (int)(size % 4);
        sisa_shard_summary ss;
        rc = sisa_shard_summary_read(&st, &f, &ss);
        fz_check(rc, path, FZ_NAMES_FILE);
        sisa_shard_summary_free(&ss);
        for (size_t i = 0; i < f.n; i++) {
            const sisa_files_entry *e = &f.e[i];
            if (sisa_files_has(&f, e->name) != e->live) fz_fail("entry %s: live?", e->name);
        }
        sisa_files_close(&f);
    }

    /* A writer's open: drops a torn last line, or refuses like a reader. */
    sisa_journal j;
    rc = sisa_journal_open(&j, path, 1);
    fz_check(rc, path, FZ_NAMES_FILE);
    if (rc == 0) sisa_journal_close(&j);
    fz_clean();
    return 0;
}
