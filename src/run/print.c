/*
 * json.c - see json.h.
 */
#include "run/print.h"

#include "base/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    /* The shortest form that reads back as exactly v: 0.71, not 0.70999999999999996. */
    char buf[32];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, out);
}
