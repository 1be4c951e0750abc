/*
 * blas.c - see blas.h.
 */
#include "model/blas.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

void sisa_blas_single_thread(void)
{
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

static void trim_into(char *out, size_t cap, const char *s)
{
    while (*s == ' ') s++;
    snprintf(out, cap, "%s", s);
    size_t n = strlen(out);
    while (n && out[n - 1] == ' ') out[--n] = '\0';
}

void sisa_blas_describe(sisa_blas_info *out)
{
    memset(out, 0, sizeof *out);
    const char *v = OPENBLAS_VERSION; /* " OpenBLAS 0.3.21 " */
    const char *p = strstr(v, "OpenBLAS");
    trim_into(out->version, sizeof out->version, p ? p + 8 : v);
    const char *core = openblas_get_corename();
    trim_into(out->core, sizeof out->core, core ? core : "unknown");
    const char *cfg = openblas_get_config();
    trim_into(out->config, sizeof out->config, cfg ? cfg : "");
    out->threads = openblas_get_num_threads();
}
