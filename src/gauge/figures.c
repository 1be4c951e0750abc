/*
 * figures.c - the gauge's three figures as one self-contained gnuplot script (its data in
 * datablocks), drawn by a gnuplot child process into temp files that are then published.
 *
 *   gauge-F.png        F per method with its bootstrap 95 % interval; the noise floor's
 *                      interval as a band
 *   gauge-epsilon.png  the per-example epsilon of every method in the scoring buckets (steps of
 *                      0.5; infinity and the narrow-population value 50 in the last)
 *   gauge-ks.png       empirical CDFs of the per-example KS p-values (near the diagonal when a
 *                      method cannot be told apart, piled up at 0 when it can)
 */
#include "gauge/figures.h"

#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "gauge/score.h"
#include "sisa/error.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

#define N_FIGURES 3
static const char *const figure_names[N_FIGURES] = {"gauge-F.png", "gauge-epsilon.png",
                                                    "gauge-ks.png"};
static const char *const figure_vars[N_FIGURES] = {"out_F", "out_eps", "out_ks"};

static void gp(sisa_jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gp(sisa_jw *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        w->failed = 1; /* never happens with the formats below; never emit a cut line */
        return;
    }
    sisa_jw_raw(w, line);
}

/* One colour and width per method in both figures, so that exact and the noise floor stand
 * out and no two methods share a colour. */
static const char *style_of(const char *method)
{
    static const struct {
        const char *name, *style;
    } styles[] = {
        {"exact", "lc rgb '#000000' lw 3"},
        {"retrain2", "lc rgb '#888888' lw 3 dt 3"},
        {"none", "lc rgb '#d62728' lw 2"},
        {"finetune", "lc rgb '#1f77b4' lw 1.5"},
        {"gradient-ascent", "lc rgb '#ff7f0e' lw 1.5"},
        {"neggrad", "lc rgb '#9467bd' lw 1.5"},
        {"random-labels", "lc rgb '#2ca02c' lw 1.5"},
    };
    for (size_t k = 0; k < sizeof styles / sizeof styles[0]; k++)
        if (!strcmp(styles[k].name, method)) return styles[k].style;
    return "lw 1.5";
}

/* The scoring buckets of 0.5; the last, `last`, holds everything from last * 0.5 on. */
static uint32_t last_bucket(uint32_t models)
{
    return 2 * (uint32_t)ceil(log((double)models - 1));
}

static int build_script(sisa_jw *w, const sisa_gauge_plot *pl, double *sorted)
{
    const uint32_t n = pl->n_methods, m = pl->m, last = last_bucket(pl->models);
    const uint32_t floor_k = n - 1;
    gp(w, "# gauge.gp - the figures of a gauge, written by sisa gauge score (docs/gauge.md).\n"
          "# Redraw, e.g. after restyling: cd THIS_FOLDER && gnuplot gauge.gp\n");
    for (int f = 0; f < N_FIGURES; f++)
        gp(w, "if (!exists(\"%s\")) %s = '%s'\n", figure_vars[f], figure_vars[f], figure_names[f]);
    gp(w, "\n$F << EOD\n");
    for (uint32_t k = 0; k < n; k++)
        gp(w, "%u %s %.17g %.17g %.17g\n", k, pl->names[k], pl->F[k], pl->F_lo[k], pl->F_hi[k]);
    gp(w, "EOD\n");
    for (uint32_t k = 0; k < n; k++) {
        /* epsilon: share of the forget examples per bucket */
        uint32_t counts[64] = {0};
        if (last >= 64) return SISA_ERR(SISA_EINTERNAL, "gauge figures: %u buckets", last + 1);
        for (uint32_t i = 0; i < m; i++) {
            double e = pl->eps[(size_t)k * m + i];
            uint32_t b = isfinite(e) && e / 0.5 < last ? (uint32_t)floor(e / 0.5) : last;
            counts[b]++;
        }
        gp(w, "$eps%u << EOD\n", k);
        for (uint32_t b = 0; b <= last; b++)
            gp(w, "%.2f %.17g\n", 0.5 * b + 0.25, counts[b] / (double)m);
        gp(w, "EOD\n$ks%u << EOD\n", k);
        memcpy(sorted, pl->pval + (size_t)k * m, m * sizeof *sorted);
        sisa_gauge_sort(sorted, m);
        for (uint32_t i = 0; i < m; i++) gp(w, "%.17g %.17g\n", sorted[i], (i + 1) / (double)m);
        gp(w, "EOD\n");
    }

    gp(w,
       "\nset terminal pngcairo size 900,560 noenhanced\n"
       "set output out_F\n"
       "set title 'F per method (bootstrap 95 %% intervals); band: the noise floor "
       "(retrain2 against retrain)'\n"
       "set ylabel 'F'\n"
       "set xrange [-0.6:%u - 0.4]\n"
       "set yrange [0:*]\n"
       "set object 1 rectangle from graph 0, first %.17g to graph 1, first %.17g behind "
       "fillcolor rgb '#cfdcff' fillstyle solid 1.0 noborder\n"
       "unset key\n"
       "plot $F using 1:3:4:5:xticlabels(2) with yerrorbars pt 7 ps 1.5 lw 2\n\n",
       n, pl->F_lo[floor_k], pl->F_hi[floor_k]);
    gp(w,
       "set output out_eps\n"
       "unset object 1\n"
       "set title 'per-example epsilon (buckets of 0.5; the last: %.1f and beyond, infinity, "
       "50)'\n"
       "set xlabel 'epsilon'\n"
       "set ylabel 'share of forget examples'\n"
       "set xrange [0:%.1f]\n"
       "set yrange [0:*]\n"
       "set key top left\n"
       "plot ",
       0.5 * last, 0.5 * last + 0.5);
    for (uint32_t k = 0; k < n; k++)
        gp(w, "%s$eps%u using 1:2 with linespoints %s title '%s'", k ? ", \\\n     " : "", k,
           style_of(pl->names[k]), pl->names[k]);
    gp(w, "\n\nset output out_ks\n"
          "set title 'KS p-values of the forget examples (method against retrain): empirical "
          "CDF'\n"
          "set xlabel 'p-value'\n"
          "set ylabel 'share of forget examples'\n"
          "set xrange [0:1]\n"
          "set yrange [0:1]\n"
          "set key bottom right\n"
          "plot x with lines dt 2 lc rgb '#bbbbbb' title 'uniform'");
    for (uint32_t k = 0; k < n; k++)
        gp(w, ", \\\n     $ks%u using 1:2 with steps %s title '%s'", k, style_of(pl->names[k]),
           pl->names[k]);
    gp(w, "\nset output\n");
    return w->failed ? SISA_ERR(SISA_ENOMEM, "out of memory") : SISA_OK;
}

/* A gnuplot single-quoted string holding `s` ('' stands for one quote). */
static int gp_quote(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap < 3) return -1;
    out[o++] = '\'';
    for (; *s; s++) {
        if (o + 3 >= cap) return -1;
        if (*s == '\'') out[o++] = '\'';
        out[o++] = *s;
    }
    out[o++] = '\'';
    out[o] = 0;
    return 0;
}

int sisa_gauge_figures(const sisa_gauge_plot *pl, const char *outdir, int *drawn, char *why,
                       size_t why_cap)
{
    int err = SISA_OK;
    sisa_jw w;
    double *sorted = NULL;
    char script[SISA_PATH_MAX], final[N_FIGURES][SISA_PATH_MAX], tmp[N_FIGURES][SISA_PATH_MAX];
    int have_tmp[N_FIGURES] = {0};
    char *expr = NULL;
    *drawn = 0;
    if (why_cap) why[0] = 0;
    sisa_jw_init(&w);
    sorted = sisa_malloc((pl->m ? pl->m : 1) * sizeof *sorted);
    SISA_CHECK(sorted, SISA_ENOMEM, "out of memory");
    SISA_CHECK(pl->n_methods >= 1 && pl->models >= 3, SISA_EINTERNAL, "gauge figures: no data");
    SISA_TRY(build_script(&w, pl, sorted));
    SISA_CHECK(snprintf(script, sizeof script, "%s/gauge.gp", outdir) < (int)sizeof script,
               SISA_EUSAGE, "%s: path too long", outdir);
    SISA_TRY(sisa_fs_mkdir_p(outdir));
    SISA_TRY(sisa_fs_write_atomic(script, w.buf, w.len, 1));

    const char *gnuplot = getenv("SISA_GNUPLOT");
    if (!gnuplot || !*gnuplot) gnuplot = "gnuplot";
    /* -e "out_F='tmp'; ..." then the script: gnuplot draws into temp files */
    size_t cap = 64;
    for (int f = 0; f < N_FIGURES; f++) {
        SISA_CHECK(snprintf(final[f], sizeof final[f], "%s/%s", outdir, figure_names[f]) <
                       (int)sizeof final[f],
                   SISA_EUSAGE, "%s: path too long", outdir);
        SISA_TRY(sisa_fs_tmp_create(tmp[f], sizeof tmp[f], final[f]));
        have_tmp[f] = 1;
        cap += 2 * strlen(tmp[f]) + 16;
    }
    expr = sisa_malloc(cap);
    SISA_CHECK(expr, SISA_ENOMEM, "out of memory");
    size_t len = 0;
    for (int f = 0; f < N_FIGURES; f++) {
        char q[2 * SISA_PATH_MAX + 3];
        SISA_CHECK(!gp_quote(q, sizeof q, tmp[f]), SISA_EUSAGE, "%s: path too long", tmp[f]);
        len += (size_t)snprintf(expr + len, cap - len, "%s%s=%s", f ? "; " : "", figure_vars[f], q);
    }
    char *argv[] = {(char *)gnuplot, (char *)"-e", expr, script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, gnuplot, NULL, NULL, argv, environ);
    if (rc == ENOENT) {
        snprintf(why, why_cap,
                 "%s not found%s (Debian: apt-get install gnuplot-nox); the data and commands "
                 "are in %s",
                 gnuplot, strchr(gnuplot, '/') ? "" : " on PATH", script);
        goto done; /* not an error: the scores stand without figures */
    }
    SISA_CHECK(rc == 0, SISA_EIO, "cannot run %s: %s", gnuplot, strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        SISA_CHECK(errno == EINTR, SISA_EIO, "waiting for %s: %s", gnuplot, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(why, why_cap, "%s could not be run (exit 127); the data and commands are in %s",
                 gnuplot, script);
        goto done;
    }
    SISA_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, SISA_EIO,
               "%s failed drawing the figures of %s (%s %d); the scores are written", gnuplot,
               script, WIFEXITED(status) ? "exit status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    for (int f = 0; f < N_FIGURES; f++) {
        SISA_TRY(sisa_fs_publish(tmp[f], final[f], 1));
        have_tmp[f] = 0;
    }
    *drawn = 1;
done:
    for (int f = 0; f < N_FIGURES; f++)
        if (have_tmp[f]) sisa_fs_remove_quiet(tmp[f]);
    sisa_free(expr);
    sisa_free(sorted);
    sisa_jw_free(&w);
    return err;
}
