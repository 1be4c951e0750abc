/*
 * sandbox.c - see sandbox.h.
 *
 * Protocol on the pipe, child to parent: a native int code, then either the result bytes
 * (code 0) or the error message (negative code). A child that dies before writing its report
 * has crashed, whatever it wrote before.
 */
#include "base/sandbox.h"

#include "sisa/error.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        len -= (size_t)w;
    }
}

/* A known error code: what a child may report. Anything else means the child is not the code
 * we ran (its memory was overwritten by what it parsed). */
static int known_code(int code)
{
    return code >= SISA_EBUSY && code < SISA_OK;
}

int sisa_sandbox_decode(const void *report, size_t got, int status, void *result, size_t result_len,
                        const char *what, unsigned cpu_seconds)
{
    int err = SISA_OK;
    const char *rep = report;
    SISA_CHECK(result_len <= SISA_SANDBOX_REPORT_MAX - sizeof(int), SISA_EINTERNAL,
               "sandbox result of %zu bytes is too large", result_len);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            SISA_FAIL(SISA_ECORRUPT, "%s was stopped after using its CPU limit of %u s (signal %d)",
                      what, cpu_seconds, sig);
        SISA_FAIL(SISA_ECORRUPT, "%s crashed (signal %d: %s); the file is corrupt or not supported",
                  what, sig, strsignal(sig));
    }
    SISA_CHECK(WIFEXITED(status), SISA_EINTERNAL, "%s ended without a report (status %d)", what,
               status);
    int code = 1;
    if (got >= sizeof(int)) memcpy(&code, rep, sizeof code);
    SISA_CHECK(code == SISA_OK || known_code(code), SISA_EINTERNAL,
               "%s ended without a report (exit status %d)", what, WEXITSTATUS(status));
    if (code < 0) {
        /* The child's message, at most what the error slot holds, printable bytes only (it
         * travels to a terminal), without the NUL-terminated tail a short write could leave. */
        char msg[SISA_ERROR_MAX];
        size_t n = got > SISA_SANDBOX_REPORT_MAX ? SISA_SANDBOX_REPORT_MAX : got, m = 0;
        for (size_t i = sizeof(int); i < n && m < sizeof msg - 1 && rep[i]; i++) {
            unsigned char c = (unsigned char)rep[i];
            msg[m++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
        msg[m] = '\0';
        SISA_CHECK(WEXITSTATUS(status) == 1, SISA_EINTERNAL,
                   "%s reported an error but ended with exit status %d", what, WEXITSTATUS(status));
        if (!m) SISA_FAIL(code, "%s failed (%s)", what, sisa_error_name(code));
        SISA_FAIL(code, "%s", msg);
    }
    SISA_CHECK(got == sizeof(int) + result_len && WEXITSTATUS(status) == 0, SISA_EINTERNAL,
               "%s sent a report of %zu bytes, expected %zu", what, got - sizeof(int), result_len);
    if (result_len) memcpy(result, rep + sizeof(int), result_len);
done:
    return err;
}

int sisa_sandbox_run(int (*fn)(void *arg, void *result), void *arg, void *result, size_t result_len,
                     const char *what, unsigned cpu_seconds)
{
    int err = SISA_OK;
    int fds[2] = {-1, -1};
    SISA_CHECK(pipe(fds) == 0, SISA_EIO, "cannot create a pipe for %s: %s", what, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    SISA_CHECK(pid >= 0, SISA_EIO, "cannot start a child process for %s: %s", what,
               strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        /* Crashes must kill the child, not run handlers inherited from the parent. */
        static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGXCPU};
        for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
            signal(crash_signals[i], SIG_DFL);
        struct rlimit no_core = {0, 0};
        (void)setrlimit(RLIMIT_CORE, &no_core);
        if (cpu_seconds) {
            struct rlimit cpu = {cpu_seconds, cpu_seconds + 5};
            (void)setrlimit(RLIMIT_CPU, &cpu);
        }
        sisa_error_clear();
        int rc = fn(arg, result);
        if (rc > 0) rc = SISA_OK;
        write_full(fds[1], &rc, sizeof rc);
        if (rc < 0) {
            const char *msg = sisa_error_message();
            write_full(fds[1], msg, strlen(msg));
        } else if (result_len) {
            write_full(fds[1], result, result_len);
        }
        close(fds[1]);
        fflush(NULL);
        _exit(rc < 0 ? 1 : 0);
    }
    close(fds[1]);
    fds[1] = -1;

    /* Read the whole report, however long: a child stuck writing into a full pipe would never
     * exit, and waitpid() below would wait for ever. Bytes past the buffer are counted, not
     * kept; a report that long is refused by sisa_sandbox_decode. */
    char report[SISA_SANDBOX_REPORT_MAX];
    size_t got = 0;
    for (;;) {
        char sink[4096];
        char *dst = got < sizeof report ? report + got : sink;
        size_t room = got < sizeof report ? sizeof report - got : sizeof sink;
        ssize_t r = read(fds[0], dst, room);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) SISA_FAIL(SISA_EIO, "waiting for %s failed: %s", what, strerror(errno));
    }
    err = sisa_sandbox_decode(report, got, status, result, result_len, what, cpu_seconds);
done:
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    return err;
}
