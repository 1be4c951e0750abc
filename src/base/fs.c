/*
 * fs.c - see fs.h.
 */
#include "base/fs.h"

#include "sisa/error.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static unsigned long tmp_counter;

int sisa_fs_tmp_create(char *out, size_t cap, const char *final_path)
{
    int err = SISA_OK;
    char dir[SISA_PATH_MAX];
    SISA_TRY(sisa_path_dirname(dir, sizeof dir, final_path));
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    SISA_CHECK(*base, SISA_EUSAGE, "%s: not a file path", final_path);
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int n = snprintf(out, cap, "%s/.%s.sisa-tmp-%ld-%lu%03ld", dir, base, (long)getpid(),
                         ++tmp_counter, (long)(ts.tv_nsec % 1000));
        SISA_CHECK(n > 0 && (size_t)n < cap, SISA_EUSAGE, "%s: path too long", final_path);
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, SISA_FILE_MODE);
        if (fd >= 0) {
            close(fd);
            return SISA_OK;
        }
        if (errno != EEXIST)
            SISA_FAIL(SISA_EIO, "cannot create a file in %s: %s", dir, strerror(errno));
    }
    SISA_FAIL(SISA_EIO, "cannot create a unique temp file next to %s", final_path);
done:
    return err;
}

int sisa_fs_is_tmp_name(const char *name)
{
    return name[0] == '.' && strstr(name, ".sisa-tmp-") != NULL;
}

int sisa_fs_clean_stale_tmps(const char *final_path)
{
    char dir[SISA_PATH_MAX], prefix[SISA_PATH_MAX], victim[SISA_PATH_MAX];
    if (sisa_path_dirname(dir, sizeof dir, final_path) < 0) {
        sisa_error_clear();
        return 0;
    }
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    int plen = snprintf(prefix, sizeof prefix, ".%s.sisa-tmp-", base);
    if (plen < 0 || (size_t)plen >= sizeof prefix) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
        char *end = NULL;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (pid <= 0 || !end || *end != '-') continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        int n = snprintf(victim, sizeof victim, "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof victim && unlink(victim) == 0) removed++;
    }
    closedir(d);
    return removed;
}

static int fsync_fd_path(const char *path, int flags, const char *what)
{
    int err = SISA_OK;
    int fd = open(path, flags | O_CLOEXEC);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s %s for fsync: %s", what, path, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        SISA_FAIL(SISA_EIO, "fsync of %s %s failed: %s (its data may not be on disk)", what, path,
                  strerror(e));
    }
    if (close(fd) != 0) SISA_FAIL(SISA_EIO, "closing %s failed: %s", path, strerror(errno));
done:
    return err;
}

int sisa_fs_fsync_file(const char *path)
{
    return fsync_fd_path(path, O_RDONLY, "file");
}

int sisa_fs_fsync_parent(const char *path)
{
    int err = SISA_OK;
    char dir[SISA_PATH_MAX];
    SISA_TRY(sisa_path_dirname(dir, sizeof dir, path));
    SISA_TRY(fsync_fd_path(dir, O_RDONLY | O_DIRECTORY, "folder"));
done:
    return err;
}

int sisa_fs_publish(const char *tmp_path, const char *final_path, int replace)
{
    int err = SISA_OK;
    SISA_TRY(sisa_fs_fsync_file(tmp_path));
    if (replace) {
        SISA_CHECK(rename(tmp_path, final_path) == 0, SISA_EIO, "cannot rename %s to %s: %s",
                   tmp_path, final_path, strerror(errno));
    } else {
        /* link() refuses to clobber, atomically; fall back to a checked rename only on file
         * systems without hard links. */
        if (link(tmp_path, final_path) == 0) {
            SISA_CHECK(unlink(tmp_path) == 0, SISA_EIO, "cannot remove %s: %s", tmp_path,
                       strerror(errno));
        } else if (errno == EEXIST) {
            SISA_FAIL(SISA_EEXIST, "%s already exists (pass --force to replace it)", final_path);
        } else if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EMLINK) {
            SISA_CHECK(!sisa_fs_exists(final_path), SISA_EEXIST,
                       "%s already exists (pass --force to replace it)", final_path);
            SISA_CHECK(rename(tmp_path, final_path) == 0, SISA_EIO, "cannot rename %s to %s: %s",
                       tmp_path, final_path, strerror(errno));
        } else {
            SISA_FAIL(SISA_EIO, "cannot publish %s as %s: %s", tmp_path, final_path,
                      strerror(errno));
        }
    }
    SISA_TRY(sisa_fs_fsync_parent(final_path));
done:
    return err;
}

static int write_all(int fd, const void *data, size_t len, const char *path)
{
    int err = SISA_OK;
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        SISA_CHECK(w > 0, SISA_EIO, "write to %s failed: %s", path,
                   w < 0 ? strerror(errno) : "no progress");
        p += w;
        len -= (size_t)w;
    }
done:
    return err;
}

int sisa_fs_write_atomic(const char *path, const void *data, size_t len, int replace)
{
    int err = SISA_OK;
    char tmp[SISA_PATH_MAX] = "";
    int fd = -1;
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", tmp, strerror(errno));
    SISA_TRY(write_all(fd, data, len, tmp));
    SISA_CHECK(close(fd) == 0, SISA_EIO, "closing %s failed: %s", tmp, strerror(errno));
    fd = -1;
    SISA_TRY(sisa_fs_publish(tmp, path, replace));
    tmp[0] = '\0';
done:
    if (fd >= 0) close(fd);
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    return err;
}

int sisa_fs_read_all(char **out, size_t *len, const char *path, size_t max_bytes)
{
    int err = SISA_OK;
    char *buf = NULL;
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    *len = 0;
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    SISA_CHECK(fstat(fd, &st) == 0, SISA_EIO, "cannot stat %s: %s", path, strerror(errno));
    SISA_CHECK(!S_ISDIR(st.st_mode), SISA_EIO, "%s is a folder, not a file", path);
    SISA_CHECK(!S_ISREG(st.st_mode) || (size_t)st.st_size <= max_bytes, SISA_ECORRUPT,
               "%s is %lld bytes; the limit is %zu bytes", path, (long long)st.st_size, max_bytes);
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
    buf = sisa_malloc(cap);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory reading %s", path);
    for (;;) {
        if (used + 1 >= cap) {
            SISA_CHECK(used <= max_bytes, SISA_ECORRUPT, "%s is larger than the limit of %zu bytes",
                       path, max_bytes);
            size_t ncap = cap * 2;
            char *nb = sisa_realloc(buf, ncap);
            SISA_CHECK(nb, SISA_ENOMEM, "out of memory reading %s", path);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + used, cap - 1 - used);
        if (r < 0 && errno == EINTR) continue;
        SISA_CHECK(r >= 0, SISA_EIO, "cannot read %s: %s", path, strerror(errno));
        if (r == 0) break;
        used += (size_t)r;
    }
    SISA_CHECK(used <= max_bytes, SISA_ECORRUPT, "%s is larger than the limit of %zu bytes", path,
               max_bytes);
    buf[used] = '\0';
    *out = buf;
    *len = used;
    buf = NULL;
done:
    if (fd >= 0) close(fd);
    sisa_free(buf);
    return err;
}

int sisa_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void sisa_fs_remove_quiet(const char *path)
{
    if (path && *path) (void)unlink(path);
}

int sisa_fs_mkdir_p(const char *path)
{
    int err = SISA_OK;
    char buf[SISA_PATH_MAX];
    size_t n = strlen(path);
    SISA_CHECK(n > 0 && n < sizeof buf, SISA_EUSAGE, "invalid folder path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, SISA_DIR_MODE) == 0) {
            /* A new folder exists for good only once its parent's entry is on disk. */
            SISA_TRY(sisa_fs_fsync_parent(buf));
        } else if (errno != EEXIST) {
            SISA_FAIL(SISA_EIO, "cannot create folder %s: %s", buf, strerror(errno));
        }
        buf[i] = saved;
    }
    struct stat st;
    SISA_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), SISA_EIO, "%s is not a folder", path);
done:
    return err;
}

int sisa_path_dirname(char *out, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    size_t n = 1;
    if (slash == path) {
        dir = "/";
        n = 1;
    } else if (slash) {
        dir = path;
        n = (size_t)(slash - path);
    }
    if (n + 1 > cap) return SISA_ERR(SISA_EUSAGE, "path too long: %s", path);
    memcpy(out, dir, n);
    out[n] = '\0';
    return SISA_OK;
}

int sisa_path_resolve(char *out, size_t cap, const char *dir, const char *rel)
{
    int n = rel[0] == '/' || !dir || !*dir ? snprintf(out, cap, "%s", rel)
                                           : snprintf(out, cap, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= cap)
        return SISA_ERR(SISA_EUSAGE, "path too long: %s/%s", dir ? dir : "", rel);
    return SISA_OK;
}

void sisa_path_normalise(char *path)
{
    char *out = path; /* write cursor; path[0] is '/' */
    const char *in = path;
    size_t n = 0;
    while (*in) {
        while (*in == '/') in++;
        const char *end = strchr(in, '/');
        size_t len = end ? (size_t)(end - in) : strlen(in);
        if (len == 0) break;
        if (len == 1 && in[0] == '.') {
            /* skip */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--; /* the slash before the dropped component */
        } else {
            out[n++] = '/';
            memmove(out + n, in, len);
            n += len;
        }
        in += len;
    }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
}

int sisa_path_absolute(char *out, size_t cap, const char *path)
{
    int err = SISA_OK;
    char cwd[SISA_PATH_MAX];
    if (path[0] == '/') {
        SISA_TRY(sisa_path_resolve(out, cap, NULL, path));
    } else {
        SISA_CHECK(getcwd(cwd, sizeof cwd), SISA_EIO, "cannot read the current folder: %s",
                   strerror(errno));
        SISA_TRY(sisa_path_resolve(out, cap, cwd, path));
    }
    sisa_path_normalise(out);
done:
    return err;
}

/* Drop the last component of a resolved path of length `n` ("" stands for the root). */
static size_t drop_last(const char *res, size_t n)
{
    while (n > 0 && res[n - 1] != '/') n--;
    return n > 0 ? n - 1 : 0;
}

int sisa_path_physical(char *out, size_t cap, const char *path)
{
    enum { TODO_CAP = 3 * SISA_PATH_MAX, MAX_LINKS = 40 };
    int err = SISA_OK;
    char *todo = sisa_malloc(TODO_CAP), *next = sisa_malloc(TODO_CAP),
         *res = sisa_malloc(SISA_PATH_MAX);
    char *target = sisa_malloc(SISA_PATH_MAX);
    size_t n = 0; /* length of res; res holds "/a/b" without a trailing slash, "" is the root */
    int links = 0;
    SISA_CHECK(todo && next && res && target, SISA_ENOMEM, "out of memory resolving %s", path);
    if (path[0] == '/') {
        SISA_CHECK(strlen(path) < TODO_CAP, SISA_EUSAGE, "path too long: %s", path);
        memcpy(todo, path, strlen(path) + 1);
    } else {
        /* getcwd() is physical already. */
        SISA_CHECK(getcwd(res, SISA_PATH_MAX), SISA_EIO, "cannot read the current folder: %s",
                   strerror(errno));
        int m = snprintf(todo, TODO_CAP, "%s/%s", res, path);
        SISA_CHECK(m > 0 && m < TODO_CAP, SISA_EUSAGE, "path too long: %s", path);
    }
    const char *p = todo;
    while (*p) {
        while (*p == '/') p++;
        size_t len = strcspn(p, "/");
        if (len == 0) break;
        const char *comp = p;
        p += len;
        if (len == 1 && comp[0] == '.') continue;
        if (len == 2 && comp[0] == '.' && comp[1] == '.') {
            /* res holds no symbolic link, so its parent is its textual parent. */
            n = drop_last(res, n);
            continue;
        }
        SISA_CHECK(n + 1 + len < SISA_PATH_MAX, SISA_EUSAGE,
                   "path too long: %s (more than %d bytes once resolved)", path, SISA_PATH_MAX - 1);
        res[n] = '/';
        memcpy(res + n + 1, comp, len);
        n += 1 + len;
        res[n] = '\0';
        struct stat st;
        /* A component that does not exist (yet), or cannot be examined, stays as written. */
        if (lstat(res, &st) != 0 || !S_ISLNK(st.st_mode)) continue;
        SISA_CHECK(++links <= MAX_LINKS, SISA_EUSAGE,
                   "%s: too many levels of symbolic links (more than %d)", path, MAX_LINKS);
        ssize_t t = readlink(res, target, SISA_PATH_MAX);
        SISA_CHECK(t >= 0, SISA_EIO, "cannot read the symbolic link %s: %s", res, strerror(errno));
        SISA_CHECK(t > 0 && t < SISA_PATH_MAX, SISA_EUSAGE,
                   "the symbolic link %s has an empty or too long target", res);
        target[t] = '\0';
        n = target[0] == '/' ? 0 : drop_last(res, n);
        res[n] = '\0';
        /* Continue with the link's target followed by what was left of the path. */
        int m = snprintf(next, TODO_CAP, "%s/%s", target, p);
        SISA_CHECK(m > 0 && m < TODO_CAP, SISA_EUSAGE, "path too long: %s", path);
        char *swap = todo;
        todo = next;
        next = swap;
        p = todo;
    }
    if (n == 0) res[n++] = '/';
    res[n] = '\0';
    SISA_CHECK(n < cap, SISA_EUSAGE, "path too long: %s", res);
    memcpy(out, res, n + 1);
done:
    sisa_free(todo);
    sisa_free(next);
    sisa_free(res);
    sisa_free(target);
    return err;
}

int sisa_path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    if (n == 1 && outer[0] == '/') return 1;
    return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

int sisa_fs_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[SISA_PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child)
                continue;
            struct stat sb;
            if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
                sisa_fs_remove_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    if (rmdir(path) != 0 && errno != ENOENT) return -1;
    return 0;
}

int sisa_fs_copy_stdin(const char *path, const char *what)
{
    int err = SISA_OK;
    char *buf = NULL;
    int fd = -1;
    uint64_t total = 0;
    SISA_CHECK(!isatty(STDIN_FILENO), SISA_EUSAGE,
               "sisa %s: '-' reads standard input, which is a terminal; pipe or redirect the "
               "data into sisa (e.g. '< FILE')",
               what);
    buf = sisa_malloc(1u << 20);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    SISA_CHECK(fd >= 0, SISA_EIO, "cannot create %s: %s", path, strerror(errno));
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, 1u << 20);
        if (got < 0 && errno == EINTR) continue;
        SISA_CHECK(got >= 0, SISA_EIO, "sisa %s: cannot read standard input: %s", what,
                   strerror(errno));
        if (got == 0) break;
        total += (uint64_t)got;
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(fd, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR) continue;
            SISA_CHECK(put > 0, SISA_EIO, "cannot write %s (the copy of standard input): %s", path,
                       put < 0 ? strerror(errno) : "no space written");
            off += put;
        }
    }
    SISA_CHECK(total > 0, SISA_EUSAGE,
               "sisa %s: standard input is empty ('-' reads the data from it)", what);
done:
    if (fd >= 0 && close(fd) != 0 && err == SISA_OK)
        err = SISA_ERR(SISA_EIO, "cannot write %s (the copy of standard input): %s", path,
                       strerror(errno));
    sisa_free(buf);
    return err;
}

int sisa_fs_spool_stdin(const char *what, char *dir, size_t dir_cap, char *file, size_t file_cap)
{
    int err = SISA_OK;
    struct stat sb;
    const char *base = getenv("TMPDIR");
    if (!base || !*base || stat(base, &sb) != 0 || !S_ISDIR(sb.st_mode)) base = "/tmp";
    dir[0] = file[0] = '\0';
    SISA_CHECK((size_t)snprintf(dir, dir_cap, "%s/sisa-%s-XXXXXX", base, what) < dir_cap &&
                   strlen(dir) + sizeof "/stdin" <= file_cap,
               SISA_EUSAGE, "the temporary folder's path %s is too long", base);
    if (!mkdtemp(dir)) {
        int e = errno;
        dir[0] = '\0';
        SISA_FAIL(SISA_EIO, "cannot create a folder in %s for standard input: %s", base,
                  strerror(e));
    }
    snprintf(file, file_cap, "%s/stdin", dir);
    SISA_TRY(sisa_fs_copy_stdin(file, what));
done:
    if (err < 0 && dir[0]) {
        sisa_fs_remove_tree(dir);
        dir[0] = file[0] = '\0';
    }
    return err;
}
