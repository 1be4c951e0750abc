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

    char report[1200];
    size_t got = 0;
    SISA_CHECK(result_len <= sizeof report - sizeof(int), SISA_EINTERNAL,
               "sandbox result of %zu bytes is too large", result_len);
    for (;;) {
        ssize_t r = read(fds[0], report + got, sizeof report - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof report - 1) break;
    }
    report[got] = '\0';
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) SISA_FAIL(SISA_EIO, "waiting for %s failed: %s", what, strerror(errno));
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            SISA_FAIL(SISA_ECORRUPT, "%s was stopped after using its CPU limit of %u s (signal %d)",
                      what, cpu_seconds, sig);
        SISA_FAIL(SISA_ECORRUPT, "%s crashed (signal %d: %s); the file is corrupt or not supported",
                  what, sig, strsignal(sig));
    }
    int code = 1;
    if (got >= sizeof(int)) memcpy(&code, report, sizeof code);
    SISA_CHECK(code <= 0 && WIFEXITED(status), SISA_EINTERNAL,
               "%s ended without a report (exit status %d)", what,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (code < 0) SISA_FAIL(code, "%s", report + sizeof(int));
    SISA_CHECK(got == sizeof(int) + result_len && WEXITSTATUS(status) == 0, SISA_EINTERNAL,
               "%s sent a report of %zu bytes, expected %zu", what, got - sizeof(int), result_len);
    if (result_len) memcpy(result, report + sizeof(int), result_len);
done:
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    return err;
}
