/*
 * progress.c - see progress.h.
 */
#include "base/progress.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double sisa_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sisa_progress_start(sisa_progress *p, const char *label, const char *unit, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit ? unit : "items";
    p->total = total;
    p->t_start = p->t_last = sisa_now();
    p->period = 30.0;
    const char *env = getenv("SISA_PROGRESS");
    const char *period = getenv("SISA_PROGRESS_PERIOD");
    if (period && atof(period) > 0) p->period = atof(period);
    if (sisa_log_level_get() < SISA_LOG_INFO || (env && strcmp(env, "0") == 0))
        p->mode = 0;
    else if ((env && strcmp(env, "1") == 0) || isatty(STDERR_FILENO))
        p->mode = 1;
    else
        p->mode = 2;
}

static void draw(sisa_progress *p, double now)
{
    double elapsed = now - p->t_start;
    char line[256];
    int n;
    if (p->total) {
        double frac = (double)p->done / (double)p->total;
        double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
        n = snprintf(
            line, sizeof line, "%s: %llu/%llu %s (%.0f%%), %.0f %s/s, %.1f s elapsed, %.0f s left",
            p->label, (unsigned long long)p->done, (unsigned long long)p->total, p->unit,
            100.0 * frac, elapsed > 0 ? (double)p->done / elapsed : 0.0, p->unit, elapsed, eta);
    } else {
        n = snprintf(line, sizeof line, "%s: %llu %s, %.1f s elapsed", p->label,
                     (unsigned long long)p->done, p->unit, elapsed);
    }
    if (n < 0) return;
    if (p->mode == 1)
        fprintf(stderr, "\r%-79s", line);
    else
        fprintf(stderr, "sisa: %s\n", line);
    fflush(stderr);
    p->drawn = 1;
}

void sisa_progress_update(sisa_progress *p, uint64_t done)
{
    p->done = done;
    if (p->mode == 0) return;
    double now = sisa_now();
    double wait = p->mode == 1 ? 0.1 : p->period;
    if (now - p->t_last < wait) return;
    p->t_last = now;
    draw(p, now);
}

void sisa_progress_finish(sisa_progress *p)
{
    if (p->mode == 1 && p->drawn) {
        fprintf(stderr, "\r%-79s\r", "");
        fflush(stderr);
    }
    p->drawn = 0;
}
