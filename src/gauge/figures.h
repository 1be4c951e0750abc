/*
 * figures.h - the gauge's figures, drawn with gnuplot (sisa gauge score; docs/gauge.md).
 */
#ifndef SISA_GAUGE_FIGURES_H
#define SISA_GAUGE_FIGURES_H

#include <stddef.h>
#include <stdint.h>

/* What the figures show: the scored populations in table order (the noise floor, "retrain2",
 * last), each with F and its interval, and m per-example epsilons and KS p-values. */
typedef struct {
    uint32_t n_methods;
    const char *const *names;
    const double *F, *F_lo, *F_hi;
    const double *eps;  /* n_methods x m, method-major */
    const double *pval; /* n_methods x m, method-major */
    uint32_t m;         /* forget examples */
    uint32_t models;    /* N per population */
} sisa_gauge_plot;

/* Write OUTDIR/gauge.gp (the data and the gnuplot commands, self-contained: `cd OUTDIR &&
 * gnuplot gauge.gp` redraws) and draw OUTDIR/gauge-F.png, gauge-epsilon.png and gauge-ks.png
 * with gnuplot ($SISA_GNUPLOT, else `gnuplot` on PATH), each PNG published atomically.
 * Returns SISA_OK and sets *drawn to 1, or to 0 with `why` filled when gnuplot cannot be found
 * (the script is written all the same); an error when a file cannot be written or gnuplot
 * fails. */
int sisa_gauge_figures(const sisa_gauge_plot *plot, const char *outdir, int *drawn, char *why,
                       size_t why_cap);

#endif
