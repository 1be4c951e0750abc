/*
 * json.c - see json.h.
 */
#include "run/print.h"

#include "base/json.h"

#include <math.h>

static void file_emit(void *ctx, const char *text, size_t n)
{
    fwrite(text, 1, n, ctx);
}

void sisa_json_string(FILE *out, const char *s)
{
    sisa_json_escape(s, file_emit, out);
}

void sisa_json_number(FILE *out, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else
        fprintf(out, "%.17g", v);
}
