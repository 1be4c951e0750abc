/*
 * scratch.c - scratch folders of commands that train outside the store (run/run.h): sisa
 * verify trains a shard from scratch there, sisa impact the shards a deletion would retrain;
 * and the copies of standard input that commands reading a file whole or twice ('-') keep there.
 */
#include "run/run.h"

#include "base/fs.h"
#include "base/log.h"
#include "sisa/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Remove a scratch folder this command created. Never fails loudly: it runs on cleanup paths;
 * a leftover is reported as a warning. */
void sisa_run_remove_scratch(const char *path)
{
    if (sisa_fs_remove_tree(path) != 0)
        sisa_warn("could not remove the scratch folder %s: %s", path, strerror(errno));
}

/* Make this rank's scratch folder: a fresh sisa-CMD-XXXXXX under `base` (--scratch, else
 * $TMPDIR, else /tmp), never inside the store. Only that folder is created (and removed again
 * by the caller): a --scratch folder that does not exist is an error, and a $TMPDIR that does
 * not exist is passed over for /tmp, with a warning, rather than created and left behind. */
int sisa_run_make_scratch(const sisa_store *st, const char *cmd, const char *base_opt, char *out,
                          size_t cap)
{
    int err = SISA_OK;
    char base[SISA_PATH_MAX], root[SISA_PATH_MAX];
    struct stat sb;
    const char *b = base_opt;
    out[0] = '\0';
    if (!b) {
        const char *tmpdir = getenv("TMPDIR");
        b = "/tmp";
        if (tmpdir && *tmpdir) {
            if (stat(tmpdir, &sb) == 0 && S_ISDIR(sb.st_mode))
                b = tmpdir;
            else
                sisa_warn("TMPDIR=%s is not an existing folder: training from scratch in /tmp "
                          "instead (choose the folder with --scratch DIR)",
                          tmpdir);
        }
    }
    /* Physical paths, so that a link cannot hide that the folder is inside the store. */
    SISA_TRY(sisa_path_physical(base, sizeof base, b));
    if (st) {
        SISA_TRY(sisa_path_physical(root, sizeof root, st->root));
        size_t rl = strlen(root);
        SISA_CHECK(!(strncmp(base, root, rl) == 0 && (base[rl] == '\0' || base[rl] == '/')),
                   SISA_EUSAGE,
                   "sisa %s: the scratch folder %s is inside store %s; choose a folder outside "
                   "the store with --scratch DIR",
                   cmd, base, st->root);
    }
    int have = stat(base, &sb) == 0;
    SISA_CHECK(have && S_ISDIR(sb.st_mode), SISA_EUSAGE,
               "sisa %s: the scratch folder %s: %s; give an existing folder (it makes a "
               "folder sisa-%s-XXXXXX inside it and removes it afterwards)",
               cmd, b, have ? "not a folder" : strerror(errno), cmd);
    /* The scratch store holds the same files as a store: keep room for their names. */
    SISA_CHECK(strlen(base) + sizeof "/sisa-verify-XXXXXX" + SISA_STORE_PATH_RESERVE <= cap,
               SISA_EUSAGE,
               "sisa %s: the scratch folder's path %s is too long for a scratch store (at "
               "most %zu bytes); choose a shorter one with --scratch DIR",
               cmd, base, cap - sizeof "/sisa-verify-XXXXXX" - SISA_STORE_PATH_RESERVE);
    snprintf(out, cap, "%s/sisa-%s-XXXXXX", base, cmd);
    if (!mkdtemp(out)) {
        int e = errno;
        out[0] = '\0';
        SISA_FAIL(SISA_EIO, "cannot create a scratch folder in %s: %s", base, strerror(e));
    }
done:
    return err;
}

int sisa_run_stdin_copy(const sisa_store *st, const char *cmd, const char *base_opt, char *scratch,
                        size_t cap, char *copy, size_t copy_cap)
{
    int err = SISA_OK;
    copy[0] = '\0';
    SISA_TRY(sisa_run_make_scratch(st, cmd, base_opt, scratch, cap));
    SISA_CHECK((size_t)snprintf(copy, copy_cap, "%s/stdin", scratch) < copy_cap, SISA_EUSAGE,
               "sisa %s: the scratch folder's path %s is too long", cmd, scratch);
    SISA_TRY(sisa_fs_copy_stdin(copy, cmd));
done:
    if (err < 0) {
        if (scratch[0]) sisa_run_remove_scratch(scratch);
        scratch[0] = copy[0] = '\0';
    }
    return err;
}
