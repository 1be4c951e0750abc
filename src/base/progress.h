/*
 * progress.h - progress reports for long work.
 *
 * On a terminal, a single line on stderr is redrawn at most ten times a second. Off a terminal
 * (batch jobs, pipes, CI logs) a plain line is written at most every `SISA_PROGRESS_PERIOD`
 * seconds (default 30), so Slurm logs show work moving without filling up. SISA_PROGRESS=0
 * silences it; SISA_PROGRESS=1 forces terminal-style output (used by tests).
 * An update costs one clock read: call it per block of work, not per element.
 */
#ifndef SISA_BASE_PROGRESS_H
#define SISA_BASE_PROGRESS_H

#include <stdint.h>

typedef struct sisa_progress {
    const char *label; /* borrowed */
    const char *unit;  /* borrowed, e.g. "rows" */
    uint64_t total;    /* 0 when unknown */
    uint64_t done;
    double t_start, t_last;
    int mode; /* 0 off, 1 terminal, 2 periodic lines */
    int drawn;
    double period;
} sisa_progress;

void sisa_progress_start(sisa_progress *p, const char *label, const char *unit, uint64_t total);
void sisa_progress_update(sisa_progress *p, uint64_t done);
/* Clear the terminal line (if any) so the next output starts clean. */
void sisa_progress_finish(sisa_progress *p);

/* Monotonic seconds. */
double sisa_now(void);

#endif
