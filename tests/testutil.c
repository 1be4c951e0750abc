/*
 * testutil.c - see testutil.h. _DEFAULT_SOURCE: wait4, to learn a child's peak memory.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "base/sha256.h"

const char *tu_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("environment variable %s is not set (run the test through ctest)", name);
    return v;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char child[4096];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                rm_rf(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(buf, 0777);
        *p = '/';
    }
    mkdir(buf, 0777);
}

const char *tu_scratch(const char *name)
{
    static char buf[4096];
    const char *root = tu_env("SISA_TEST_TMP");
    mkdir_p(root);
    snprintf(buf, sizeof buf, "%s/%s", root, name);
    rm_rf(buf);
    if (mkdir(buf, 0777) != 0) fail_msg("cannot create %s: %s", buf, strerror(errno));
    return buf;
}

const char *tu_path(const char *dir, const char *file)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, 4096, "%s/%s", dir, file);
    return b;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) fail_msg("cannot write %s", path);
    if (fclose(f) != 0) fail_msg("cannot close %s", path);
}

void tu_write_text(const char *path, const char *text)
{
    tu_write_file(path, text, strlen(text));
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open folder %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

void tu_write_gzip(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (!g) fail_msg("cannot create %s", path);
    if (len && gzwrite(g, data, (unsigned)len) != (int)len) fail_msg("gzwrite %s failed", path);
    if (gzclose(g) != Z_OK) fail_msg("gzclose %s failed", path);
}

static void drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
        memcpy(buf + n, tmp, take);
        n += take;
    }
    buf[n] = '\0';
}

static void run_argv(tu_run *r, const char *prog, const char *const *argv);

void tu_sisa_argv(tu_run *r, const char *const *argv)
{
    run_argv(r, tu_env("SISA_BIN"), argv);
}

void tu_run_argv(tu_run *r, const char *const *argv)
{
    run_argv(r, NULL, argv);
}

void tu_sisa_ranks(tu_run *r, int p, const char *const *args)
{
    const char *argv[256];
    int n = 0;
    char np[16];
    if (p > 0) {
        snprintf(np, sizeof np, "%d", p);
        argv[n++] = tu_env("SISA_MPIEXEC");
        argv[n++] = "-n";
        argv[n++] = np;
        argv[n++] = tu_env("SISA_BIN");
    }
    for (int i = 0; args[i] && n < 255; i++) argv[n++] = args[i];
    argv[n] = NULL;
    if (p == 0) {
        tu_sisa_argv(r, argv);
        return;
    }
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    run_argv(r, NULL, argv);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
}

/* prog == NULL: argv[0] is the program; else prog runs with argv as its arguments. */
static void run_argv(tu_run *r, const char *prog, const char *const *argv)
{
    char outp[4096], errp[4096];
    const char *tmp = tu_env("SISA_TEST_TMP");
    mkdir_p(tmp);
    snprintf(outp, sizeof outp, "%s/.run-out-%ld", tmp, (long)getpid());
    snprintf(errp, sizeof errp, "%s/.run-err-%ld", tmp, (long)getpid());
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        const char *full[256];
        int n = 0;
        if (prog) full[n++] = prog;
        for (int i = 0; argv[i] && n < 255; i++) full[n++] = argv[i];
        full[n] = NULL;
        execvp(full[0], (char *const *)full);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    r->maxrss_kb = ru.ru_maxrss;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int fo = open(outp, O_RDONLY), fe = open(errp, O_RDONLY);
    drain(fo, r->out, sizeof r->out);
    drain(fe, r->err, sizeof r->err);
    close(fo);
    close(fe);
    unlink(outp);
    unlink(errp);
}

void tu_sisa(tu_run *r, const char *arg0, ...)
{
    const char *argv[256];
    int n = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 255; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    tu_sisa_argv(r, argv);
}

void tu_assert_contains_(const char *haystack, const char *needle, const char *file, int line)
{
    if (!strstr(haystack, needle)) {
        print_error("expected to find:\n  %s\nin:\n  %s\n", needle, haystack);
        _fail(file, line);
    }
}

void tu_sha_file(const char *path, char hex[65])
{
    size_t len;
    char *data = tu_read_file(path, &len);
    uint8_t d[32];
    sisa_sha256(d, data, len);
    sisa_hex(hex, d, 32);
    free(data);
}
