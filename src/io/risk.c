/*
 * risk.c - `sisa import --risk COLUMN [--risk-cuts C1,C2,...]`: an input's risk column as the
 * uint8 risk tiers of a dataset file (sisa.sharding: tiered, docs/formats.md).
 *
 * Without --risk-cuts every value is a tier already: an integer 0..255. With cut points
 * c_1 < ... < c_m in (0, 1] every value is a probability p in [0, 1] and its tier is the number
 * of cut points at or below it: p < c_1 is tier 0, c_1 <= p < c_2 tier 1, ..., p >= c_m tier m.
 * A tier depends on the row's own value only, never on other rows (no quantiles), so deleting
 * rows never changes another row's tier.
 */
#include "io/import_internal.h"

#include "base/strutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int sisa_risk_map_init(sisa_risk_map *m, const sisa_import_opts *o)
{
    int err = SISA_OK;
    memset(m, 0, sizeof *m);
    if (!o->risk_cuts) return SISA_OK;
    SISA_CHECK(o->risk_col, SISA_EUSAGE, "--risk-cuts needs --risk COLUMN");
    const char *p = o->risk_cuts;
    for (;;) {
        char tok[64];
        size_t len = strcspn(p, ",");
        SISA_CHECK(len > 0 && len < sizeof tok, SISA_EUSAGE,
                   "--risk-cuts '%s': expected cut points like 0.5,0.9", o->risk_cuts);
        SISA_CHECK(m->n_cuts < SISA_RISK_MAX_CUTS, SISA_EUSAGE,
                   "--risk-cuts '%s': at most %d cut points (%d tiers)", o->risk_cuts,
                   SISA_RISK_MAX_CUTS, SISA_RISK_MAX_CUTS + 1);
        memcpy(tok, p, len);
        tok[len] = '\0';
        double v = 0;
        SISA_CHECK(sisa_parse_f64(tok, &v) == SISA_PARSE_OK && v > 0 && v <= 1, SISA_EUSAGE,
                   "--risk-cuts '%s': '%s' is not a probability in (0, 1]", o->risk_cuts, tok);
        SISA_CHECK(!m->n_cuts || v > m->cuts[m->n_cuts - 1], SISA_EUSAGE,
                   "--risk-cuts '%s': cut points must increase", o->risk_cuts);
        m->cuts[m->n_cuts++] = v;
        if (!p[len]) break;
        p += len + 1;
    }
done:
    return err;
}

void sisa_import_risk_source(char *source, size_t cap, const sisa_import_opts *o)
{
    size_t used = strlen(source);
    if (o->risk_col && used < cap)
        snprintf(source + used, cap - used, " risk=%s%s%s", o->risk_col,
                 o->risk_cuts ? " risk_cuts=" : "", o->risk_cuts ? o->risk_cuts : "");
}

int sisa_risk_tier(const sisa_risk_map *m, double v, uint8_t *tier, char *why, size_t cap)
{
    if (!m->n_cuts) {
        if (!(v >= 0 && v <= 255 && v == floor(v))) {
            snprintf(why, cap,
                     "risk %g is not a tier (an integer 0..255; pass --risk-cuts to map "
                     "probabilities to tiers)",
                     v);
            return -1;
        }
        *tier = (uint8_t)v;
        return 0;
    }
    if (!(v >= 0 && v <= 1)) {
        snprintf(why, cap,
                 "risk %g is not a probability in [0, 1] (--risk-cuts maps "
                 "probabilities to tiers)",
                 v);
        return -1;
    }
    uint8_t t = 0;
    while (t < m->n_cuts && v >= m->cuts[t]) t++;
    *tier = t;
    return 0;
}
