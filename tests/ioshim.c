/*
 * ioshim.c - an LD_PRELOAD library that counts, fails or crashes a process's durability
 * operations, for the crash-consistency tests (tests/test_crash.c).
 *
 * It interposes write, pwrite, pwrite64 ("write": counted only when the descriptor is a regular
 * file, so terminal and pipe output never shifts the numbering), rename, renameat ("rename")
 * and fsync, fdatasync ("fsync": every call, including folder fsyncs). The environment says what
 * to do:
 *
 *   SISA_SHIM=count          count the calls; at exit, write "write N\nrename N\nfsync N\n" to
 *                            the file SISA_SHIM_OUT (appended, so every process of a job adds
 *                            its own three lines)
 *   SISA_SHIM=MODE:OP:N      OP in {write, rename, fsync}; the N-th call (1-based) of OP:
 *                            exit     _exit(99) instead of doing it (a crash at that point:
 *                                     nothing after it happens, nothing is flushed)
 *                            fail     returns -1 with errno EIO without doing it
 *                            enospc   returns -1 with errno ENOSPC without doing it
 *                            "N+" instead of N makes fail and enospc persistent: every call
 *                            from the N-th on fails.
 *
 * Independently, SISA_SHIM_READS=PREFIX counts the bytes that read, pread and pread64 return for
 * each regular file whose path starts with PREFIX, and at exit appends "PATH BYTES" lines to the
 * file SISA_SHIM_READS_OUT (what a command read of a store, file by file).
 *
 * Unset or empty SISA_SHIM: every call passes through untouched. A malformed SISA_SHIM aborts
 * the process as the library loads, with a message on stderr, so that a typo can never pass for
 * "no crash happened". Under AddressSanitizer, preloading another library needs
 * ASAN_OPTIONS=verify_asan_link_order=0.
 *
 * Only this file may use _GNU_SOURCE (for RTLD_NEXT); it is not linked into sisa.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum { OP_WRITE, OP_RENAME, OP_FSYNC, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"write", "rename", "fsync"};

enum { MODE_OFF, MODE_COUNT, MODE_EXIT, MODE_FAIL, MODE_ENOSPC };

static atomic_int configured; /* 0: not yet, 1: being parsed, 2: done */
static int mode = MODE_OFF, target_op = -1, persistent;
static long target_n;
static atomic_long counts[OP_COUNT];

/* Report through the raw system call: the interposed write must not see the shim's own
 * output. */
static void say(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        long w = syscall(SYS_write, fd, text, len);
        if (w <= 0) return;
        text += w;
        len -= (size_t)w;
    }
}

static void bad_config(const char *spec)
{
    say(2, "ioshim: bad SISA_SHIM '");
    say(2, spec);
    say(2, "': want count or MODE:OP:N (MODE exit|fail|enospc, OP write|rename|fsync)\n");
    abort();
}

static void configure(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&configured, &expected, 1)) {
        while (atomic_load(&configured) != 2) {}
        return;
    }
    const char *spec = getenv("SISA_SHIM");
    if (spec && *spec) {
        if (!strcmp(spec, "count")) {
            mode = MODE_COUNT;
        } else {
            char m[16], op[16];
            const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c1 || !c2 || (size_t)(c1 - spec) >= sizeof m || (size_t)(c2 - c1 - 1) >= sizeof op)
                bad_config(spec);
            memcpy(m, spec, (size_t)(c1 - spec));
            m[c1 - spec] = '\0';
            memcpy(op, c1 + 1, (size_t)(c2 - c1 - 1));
            op[c2 - c1 - 1] = '\0';
            if (!strcmp(m, "exit"))
                mode = MODE_EXIT;
            else if (!strcmp(m, "fail"))
                mode = MODE_FAIL;
            else if (!strcmp(m, "enospc"))
                mode = MODE_ENOSPC;
            else
                bad_config(spec);
            for (int i = 0; i < OP_COUNT; i++)
                if (!strcmp(op, op_names[i])) target_op = i;
            if (target_op < 0) bad_config(spec);
            char *end = NULL;
            errno = 0;
            target_n = strtol(c2 + 1, &end, 10);
            if (errno || end == c2 + 1 || target_n < 1) bad_config(spec);
            if (*end == '+' && mode != MODE_EXIT) {
                persistent = 1;
                end++;
            }
            if (*end) bad_config(spec);
        }
    }
    atomic_store(&configured, 2);
}

/* Read SISA_SHIM when the library is loaded, so that a malformed one is refused even by a
 * process that makes no intercepted call, and "count" reports zeros too. */
__attribute__((constructor)) static void load(void)
{
    configure();
}

/* Decide the fate of one call of `op`: 0 = let it happen, else the errno to fail it with.
 * Crashes here when this is the call to crash at. */
static int fate(int op)
{
    if (atomic_load(&configured) != 2) configure();
    if (mode == MODE_OFF) return 0;
    long n = atomic_fetch_add(&counts[op], 1) + 1;
    if (mode == MODE_COUNT || op != target_op) return 0;
    if (n != target_n && !(persistent && n > target_n)) return 0;
    if (mode == MODE_EXIT) _exit(99);
    return mode == MODE_ENOSPC ? ENOSPC : EIO;
}

static int regular_fd(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- reads per file (SISA_SHIM_READS) ---- */
#define READ_FILES 1024
static struct {
    char path[512];
    long long bytes;
} reads[READ_FILES];
static int n_reads;

static void count_read_(int fd, ssize_t got)
{
    static const char *prefix;
    static int checked;
    if (got <= 0) return;
    if (!checked) {
        prefix = getenv("SISA_SHIM_READS");
        checked = 1;
    }
    if (!prefix || !*prefix || !regular_fd(fd)) return;
    char link[64], path[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    if (strncmp(path, prefix, strlen(prefix)) != 0) return;
    for (int i = 0; i < n_reads; i++)
        if (!strcmp(reads[i].path, path)) {
            reads[i].bytes += got;
            return;
        }
    if (n_reads < READ_FILES) {
        snprintf(reads[n_reads].path, sizeof reads[n_reads].path, "%s", path);
        reads[n_reads++].bytes = got;
    }
}

static void count_read(int fd, ssize_t got)
{
    int saved = errno; /* the caller sees the read's errno, not ours */
    count_read_(fd, got);
    errno = saved;
}

__attribute__((destructor)) static void report_reads(void)
{
    const char *out = getenv("SISA_SHIM_READS_OUT");
    if (!n_reads || !out || !*out) return;
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return;
    for (int i = 0; i < n_reads; i++) {
        char line[640];
        snprintf(line, sizeof line, "%.511s %lld\n", reads[i].path, reads[i].bytes);
        say(fd, line);
    }
    close(fd);
}

__attribute__((destructor)) static void report(void)
{
    if (mode != MODE_COUNT) return;
    const char *out = getenv("SISA_SHIM_OUT");
    if (!out || !*out) return;
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return;
    char buf[160];
    snprintf(buf, sizeof buf, "write %ld\nrename %ld\nfsync %ld\n", atomic_load(&counts[OP_WRITE]),
             atomic_load(&counts[OP_RENAME]), atomic_load(&counts[OP_FSYNC]));
    say(fd, buf);
    close(fd);
}

/* The next definition of each function (libc, or a sanitizer's interceptor). */
#define REAL(name, type)                                                                           \
    static type real_##name;                                                                       \
    if (!real_##name) {                                                                            \
        void *sym = dlsym(RTLD_NEXT, #name);                                                       \
        if (!sym) {                                                                                \
            say(2, "ioshim: cannot find " #name "\n");                                             \
            abort();                                                                               \
        }                                                                                          \
        memcpy(&real_##name, &sym, sizeof sym);                                                    \
    }

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*fsync_fn)(int);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pread64_fn)(int, void *, size_t, off64_t);

ssize_t read(int fd, void *buf, size_t count)
{
    REAL(read, read_fn);
    ssize_t got = real_read(fd, buf, count);
    count_read(fd, got);
    return got;
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
    REAL(pread, pread_fn);
    ssize_t got = real_pread(fd, buf, count, offset);
    count_read(fd, got);
    return got;
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t offset)
{
    REAL(pread64, pread64_fn);
    ssize_t got = real_pread64(fd, buf, count, offset);
    count_read(fd, got);
    return got;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    REAL(write, write_fn);
    if (regular_fd(fd)) {
        int e = fate(OP_WRITE);
        if (e) {
            errno = e;
            return -1;
        }
    }
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    REAL(pwrite, pwrite_fn);
    if (regular_fd(fd)) {
        int e = fate(OP_WRITE);
        if (e) {
            errno = e;
            return -1;
        }
    }
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    REAL(pwrite64, pwrite64_fn);
    if (regular_fd(fd)) {
        int e = fate(OP_WRITE);
        if (e) {
            errno = e;
            return -1;
        }
    }
    return real_pwrite64(fd, buf, count, offset);
}

int rename(const char *from, const char *to)
{
    REAL(rename, rename_fn);
    int e = fate(OP_RENAME);
    if (e) {
        errno = e;
        return -1;
    }
    return real_rename(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    REAL(renameat, renameat_fn);
    int e = fate(OP_RENAME);
    if (e) {
        errno = e;
        return -1;
    }
    return real_renameat(fromfd, from, tofd, to);
}

int fsync(int fd)
{
    REAL(fsync, fsync_fn);
    int e = fate(OP_FSYNC);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync, fsync_fn);
    int e = fate(OP_FSYNC);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fdatasync(fd);
}
