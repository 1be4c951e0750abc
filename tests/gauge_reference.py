#!/usr/bin/python3
"""An independent implementation of the gauge's statistics (docs/gauge.md), compared with
sisa's (src/gauge/score.c, through tests/gauge_stats) on synthetic populations.

epsilon: every rule of the literal grid (100 thresholds per unit of s, from below the smallest
bin to above the largest), thresholds and intervals evaluated separately with numpy; the KS
p-value from scipy.stats.ks_2samp (exact); the AUC from its pairwise definition; the bucket
score from its definition. Usage: gauge_reference.py PATH_TO_gauge_stats
"""
import math
import subprocess
import sys

import numpy as np
from scipy import stats

DELTA = 1e-5


def rule_eps(fpr, fnr):
    """epsilon of each rule (arrays); NaN for dropped rules, inf where both rates are 0."""
    out = np.full(fpr.shape, np.nan)
    both = (fpr == 0) & (fnr == 0)
    ok = (fpr > 0) & (fnr > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a1 = 1 - DELTA - fpr
        a2 = 1 - DELTA - fnr
        e1 = np.where(a1 > 0, np.log(np.where(a1 > 0, a1, 1)) - np.log(np.where(ok, fnr, 1)),
                      -np.inf)
        e2 = np.where(a2 > 0, np.log(np.where(a2 > 0, a2, 1)) - np.log(np.where(ok, fpr, 1)),
                      -np.inf)
    out[ok] = np.maximum(e1, e2)[ok]
    out[both] = np.inf
    return out


def epsilon(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ra, rb = np.ptp(a), np.ptp(b)
    narrow, wide = min(ra, rb), max(ra, rb)
    if wide == 0 or narrow < 0.01 * wide:
        return 50.0
    pos, neg = (b, a) if np.median(b) > np.median(a) else (a, b)
    bp = np.floor(100.0 * pos).astype(np.int64)
    bq = np.floor(100.0 * neg).astype(np.int64)
    grid = np.arange(min(bp.min(), bq.min()) - 1, max(bp.max(), bq.max()) + 2)
    n_p, n_q = len(bp), len(bq)
    best = 0.0
    # one threshold: positive iff bin >= k
    tp = (bp[None, :] >= grid[:, None]).sum(1)
    fp = (bq[None, :] >= grid[:, None]).sum(1)
    e = rule_eps(fp / n_q, (n_p - tp) / n_p)
    if np.isinf(e).any():
        return math.inf
    if np.isfinite(e).any():
        best = max(best, np.nanmax(e))
    # an interval: positive iff k1 <= bin <= k2
    for k1 in grid:
        k2 = grid[grid >= k1]
        inp = (bp[None, :] >= k1) & (bp[None, :] <= k2[:, None])
        inq = (bq[None, :] >= k1) & (bq[None, :] <= k2[:, None])
        tp = inp.sum(1)
        fp = inq.sum(1)
        e = rule_eps(fp / n_q, (n_p - tp) / n_p)
        if np.isinf(e).any():
            return math.inf
        if np.isfinite(e).any():
            best = max(best, np.nanmax(e))
    return max(best, 0.0)


def bucket_score(eps, n):
    if math.isinf(eps):
        return 0.0
    k = math.floor(eps / 0.5)
    return 2.0 ** -k if k < 2 * math.ceil(math.log(n - 1)) else 0.0


def auc(member, non):
    m = np.asarray(member)[:, None]
    o = np.asarray(non)[None, :]
    return float(((o > m).sum() + 0.5 * (o == m).sum()) / (m.size * o.size))


def cases():
    rng = np.random.default_rng(20261205)
    out = []
    for n in (8, 16, 32, 64):
        for shift in (0.0, 0.05, 0.3, 1.0, 3.0):
            for scale in (0.2, 1.0, 4.0):
                a = rng.normal(shift, scale, n)
                b = rng.normal(0.0, scale * rng.uniform(0.5, 2.0), n)
                out.append((a, b))
    # unequal sizes
    for na, nb in ((10, 30), (33, 7), (64, 40)):
        out.append((rng.normal(0.5, 1, na), rng.normal(0, 1, nb)))
    # ties: values on a coarse lattice
    for n in (16, 32):
        out.append((np.round(rng.normal(0.2, 1, n), 1), np.round(rng.normal(0, 1, n), 1)))
    # fully separated: infinity
    out.append((rng.uniform(5, 6, 32), rng.uniform(-6, -5, 32)))
    # the narrow rule: one population (almost) without spread, and both constant
    out.append((np.full(32, 1.25), rng.normal(0, 1, 32)))
    out.append((1.25 + rng.uniform(0, 1e-4, 32), rng.normal(0, 1, 32)))
    out.append((np.full(16, 2.0), np.full(16, 2.0)))
    # within one bin but different medians (every rule drops a zero rate or has both)
    out.append((0.101 + rng.uniform(0, 0.008, 16), 0.101 + rng.uniform(0, 0.008, 16)))
    # logit-scaled confidences of realistic posteriors, clipped ends included
    p = np.clip(rng.beta(8, 2, 32), 1e-12, 1 - 1e-12)
    q = np.clip(rng.beta(2, 2, 32), 1e-12, 1 - 1e-12)
    out.append((np.log(p) - np.log1p(-p), np.log(q) - np.log1p(-q)))
    return out


def main():
    tool = sys.argv[1]
    cs = cases()
    text = []
    for a, b in cs:
        text.append(f"{len(a)} {len(b)}")
        text.append(" ".join(float(v).hex() for v in a))
        text.append(" ".join(float(v).hex() for v in b))
    res = subprocess.run([tool], input="\n".join(text) + "\n", capture_output=True, text=True,
                         check=True)
    lines = res.stdout.split("\n")[:-1]
    assert len(lines) == len(cs), (len(lines), len(cs))
    bad = 0
    seen = {"inf": 0, "50": 0, "finite": 0, "zero": 0}
    for (a, b), line in zip(cs, lines):
        c_eps, c_p, c_auc, c_score = (float(x) for x in line.split())
        r_eps = epsilon(a, b)
        r_p = stats.ks_2samp(a, b, method="exact").pvalue
        r_auc = auc(a, b)
        r_score = bucket_score(r_eps, min(len(a), len(b)))
        if math.isinf(r_eps):
            seen["inf"] += 1
        elif r_eps == 50.0:
            seen["50"] += 1
        elif r_eps == 0.0:
            seen["zero"] += 1
        else:
            seen["finite"] += 1
        ok = (c_eps == r_eps if (math.isinf(r_eps) or r_eps in (0.0, 50.0))
              else math.isclose(c_eps, r_eps, rel_tol=1e-12, abs_tol=0))
        ok = ok and math.isclose(c_p, r_p, rel_tol=1e-9, abs_tol=1e-12)
        ok = ok and c_auc == r_auc and c_score == r_score
        if not ok:
            bad += 1
            print(f"MISMATCH n=({len(a)},{len(b)}): sisa eps={c_eps!r} p={c_p!r} auc={c_auc!r} "
                  f"score={c_score!r}; reference eps={r_eps!r} p={r_p!r} auc={r_auc!r} "
                  f"score={r_score!r}")
    print(f"{len(cs)} cases, {bad} mismatches; reference epsilon kinds: {seen}")
    # the synthetic cases must reach every branch, or the comparison proves less than it says
    assert seen["inf"] >= 1 and seen["50"] >= 3 and seen["finite"] >= 40 and seen["zero"] >= 1, seen
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
