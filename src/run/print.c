/*
 * json.c - see json.h.
 */
#include "run/print.h"

#include "base/json.h"

#include <math.h>

void sisa_json_string(FILE *out, const char *s)
{
    sisa_jw w;
    sisa_jw_init(&w);
    sisa_jw_str(&w, s);
    if (w.failed)
        fputs("null", out); /* out of memory for one string */
    else
        fwrite(w.buf, 1, w.len, out);
    sisa_jw_free(&w);
}

void sisa_json_number(FILE *out, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else
        fprintf(out, "%.17g", v);
}
