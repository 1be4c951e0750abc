/*
 * fuzz_common.c - see fuzz.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz.h"

#include "base/log.h"
#include "sisa/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char scratch[512];

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz property failed: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0 || !strcmp(path, scratch)) remove(path);
    return 0;
}

static void remove_scratch(void)
{
    if (scratch[0]) nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fz_clean(void)
{
    DIR *d = opendir(scratch);
    if (!d) fz_fail("cannot open %s: %s", scratch, strerror(errno));
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *sub = opendir(path);
            struct dirent *f;
            char inner[1536];
            while (sub && (f = readdir(sub))) {
                if (!strcmp(f->d_name, ".") || !strcmp(f->d_name, "..")) continue;
                snprintf(inner, sizeof inner, "%s/%s", path, f->d_name);
                remove(inner);
            }
            if (sub) closedir(sub);
        }
        remove(path);
    }
    closedir(d);
}

void fz_init(void)
{
    if (scratch[0]) return;
    const char *base = getenv("SISA_FUZZ_TMP");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/sisa-fuzz-%ld", base, (long)getpid());
    if (mkdir(scratch, 0700) != 0 && errno != EEXIST)
        fz_fail("cannot create %s: %s", scratch, strerror(errno));
    atexit(remove_scratch);
    setenv("SISA_PROGRESS", "0", 1);
    sisa_log_set_level(SISA_LOG_QUIET);
}

void fz_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", scratch, name);
}

void fz_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        fz_fail("cannot write %s: %s", path, strerror(errno));
}

void fz_write_gz(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (!g || (len && gzwrite(g, data, (unsigned)len) != (int)len) || gzclose(g) != Z_OK)
        fz_fail("cannot write %s as gzip", path);
}

void fz_check(int rc, const char *name, int flags)
{
    if (rc >= 0) return;
    const char *msg = sisa_error_message();
    if (rc < SISA_EBUSY) fz_fail("unknown error code %d (%s)", rc, msg);
    if (sisa_error_code() != rc)
        fz_fail("returned %d but the error slot holds %d (%s)", rc, sisa_error_code(), msg);
    if (!msg[0]) fz_fail("error %d without a message", rc);
    if (rc == SISA_EINTERNAL && !(flags & FZ_MAY_INTERNAL))
        fz_fail("internal error (a broken invariant): %s", msg);
    if ((flags & FZ_NAMES_FILE) && rc != SISA_ENOMEM && !strstr(msg, name))
        fz_fail("the message does not name %s: %s", name, msg);
}
