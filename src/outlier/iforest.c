/*
 * iforest.c - Isolation Forest (outlier.h). Tree t draws from the Philox stream
 * (seed, SISA_RNG_OUTLIER, a = t): first its subsample (a partial Fisher-Yates shuffle of the
 * row indices), then, node by node in depth-first order (left before right), its features and
 * thresholds. Every tree is a pure function of (X, subsample, seed, t).
 */
#include "outlier/outlier.h"

#include "base/mem.h"
#include "base/rng.h"
#include "sisa/error.h"

#include <math.h>
#include <string.h>

#define EULER_GAMMA 0.57721566490153286061

typedef struct {
    int32_t feature; /* -1: a leaf */
    uint32_t size;   /* leaf: subsample rows in it */
    double split;    /* x[feature] <= split goes left */
    uint32_t left, right;
} inode;

struct sisa_iforest {
    uint32_t trees, sub, d, max_nodes;
    inode *nodes; /* trees x max_nodes */
    double c_sub; /* c(subsample used) */
};

double sisa_iforest_c(double n)
{
    if (n > 2) return 2.0 * (log(n - 1.0) + EULER_GAMMA) - 2.0 * (n - 1.0) / n;
    return n == 2 ? 1.0 : 0.0;
}

/* Uniform double in [0, 1) from 53 random bits. */
static double uniform53(sisa_rng *r)
{
    uint64_t a = sisa_rng_u32(r) >> 5, b = sisa_rng_u32(r) >> 6;
    return (double)(a * 67108864u + b) * (1.0 / 9007199254740992.0);
}

typedef struct {
    const float *X;
    uint64_t d;
    inode *nodes;
    uint32_t n_nodes, max_depth;
    sisa_rng *r;
    uint32_t *rows; /* the subsample, partitioned in place */
} grower;

static void minmax(const grower *g, const uint32_t *rows, uint32_t n, uint32_t f, double *lo,
                   double *hi)
{
    double a = g->X[(size_t)rows[0] * g->d + f], b = a;
    for (uint32_t i = 1; i < n; i++) {
        double v = g->X[(size_t)rows[i] * g->d + f];
        if (v < a) a = v;
        if (v > b) b = v;
    }
    *lo = a;
    *hi = b;
}

/* Grow the node for rows[0..n) at `depth`; returns its index. */
static uint32_t grow(grower *g, uint32_t *rows, uint32_t n, uint32_t depth)
{
    const uint32_t me = g->n_nodes++;
    inode *nd = &g->nodes[me];
    nd->feature = -1;
    nd->size = n;
    if (depth >= g->max_depth || n <= 1) return me;
    /* a feature drawn uniformly among those not constant here: draw blindly a few times, then
     * (when most are constant) list the non-constant ones and draw among them */
    int32_t f = -1;
    double lo = 0, hi = 0;
    for (int tries = 0; tries < 32 && f < 0; tries++) {
        uint32_t c = sisa_rng_below(g->r, (uint32_t)g->d);
        minmax(g, rows, n, c, &lo, &hi);
        if (lo < hi) f = (int32_t)c;
    }
    if (f < 0) {
        uint32_t live = 0;
        for (uint32_t c = 0; c < g->d; c++) {
            minmax(g, rows, n, c, &lo, &hi);
            live += lo < hi;
        }
        if (!live) return me; /* every row of the node is the same point */
        uint32_t pick = sisa_rng_below(g->r, live);
        for (uint32_t c = 0; c < g->d; c++) {
            minmax(g, rows, n, c, &lo, &hi);
            if (lo < hi && pick-- == 0) {
                f = (int32_t)c;
                break;
            }
        }
    }
    double split = lo + uniform53(g->r) * (hi - lo);
    if (!(split < hi)) split = lo; /* rounding: keep both sides non-empty */
    /* partition: <= split to the front */
    uint32_t i = 0, j = n;
    while (i < j) {
        if (g->X[(size_t)rows[i] * g->d + (uint32_t)f] <= split)
            i++;
        else {
            uint32_t t = rows[i];
            rows[i] = rows[--j];
            rows[j] = t;
        }
    }
    nd->feature = f;
    nd->split = split;
    uint32_t l = grow(g, rows, i, depth + 1);
    uint32_t r = grow(g, rows + i, n - i, depth + 1);
    nd->left = l; /* the node array is allocated once: nd stays valid */
    nd->right = r;
    return me;
}

int sisa_iforest_fit(sisa_iforest **out, const float *X, uint64_t n, uint64_t d,
                     const sisa_iforest_params *p)
{
    int err = SISA_OK;
    uint32_t *perm = NULL;
    sisa_iforest *f = NULL;
    *out = NULL;
    SISA_CHECK(n >= 2 && n < UINT32_MAX && d >= 1 && d < INT32_MAX && p->trees >= 1 &&
                   p->subsample >= 2,
               SISA_EUSAGE, "isolation forest: needs at least 2 rows, 1 tree and a subsample of 2");
    const uint32_t sub = p->subsample < n ? p->subsample : (uint32_t)n;
    uint32_t depth = 0;
    while ((1ull << depth) < sub) depth++; /* ceil(log2(sub)) */
    f = sisa_calloc(1, sizeof *f);
    SISA_CHECK(f, SISA_ENOMEM, "out of memory");
    f->trees = p->trees;
    f->sub = sub;
    f->d = (uint32_t)d;
    f->max_nodes = 2 * sub; /* a binary tree with at most `sub` non-empty leaves */
    f->c_sub = sisa_iforest_c(sub);
    f->nodes = sisa_malloc((size_t)p->trees * f->max_nodes * sizeof *f->nodes);
    perm = sisa_malloc((size_t)n * sizeof *perm);
    SISA_CHECK(f->nodes && perm, SISA_ENOMEM, "out of memory");
    for (uint32_t t = 0; t < p->trees; t++) {
        sisa_rng r;
        sisa_rng_init(&r, p->seed, SISA_RNG_OUTLIER, t, 0, 0);
        for (uint32_t i = 0; i < n; i++) perm[i] = i;
        for (uint32_t i = 0; i < sub; i++) { /* the first `sub` of a shuffle */
            uint32_t j = i + sisa_rng_below(&r, (uint32_t)n - i);
            uint32_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        grower g = {X, d, f->nodes + (size_t)t * f->max_nodes, 0, depth, &r, perm};
        grow(&g, perm, sub, 0);
    }
    *out = f;
    f = NULL;
done:
    sisa_free(perm);
    sisa_iforest_free(f);
    return err;
}

void sisa_iforest_score(const sisa_iforest *f, const float *X, uint64_t count, double *out)
{
    for (uint64_t i = 0; i < count; i++) {
        const float *x = X + i * f->d;
        double h = 0;
        for (uint32_t t = 0; t < f->trees; t++) {
            const inode *nodes = f->nodes + (size_t)t * f->max_nodes;
            uint32_t k = 0, depth = 0;
            while (nodes[k].feature >= 0) {
                k = (double)x[nodes[k].feature] <= nodes[k].split ? nodes[k].left : nodes[k].right;
                depth++;
            }
            h += depth + sisa_iforest_c(nodes[k].size);
        }
        out[i] = pow(2.0, -(h / f->trees) / f->c_sub);
    }
}

void sisa_iforest_free(sisa_iforest *f)
{
    if (!f) return;
    sisa_free(f->nodes);
    sisa_free(f);
}
