#!/usr/bin/python3
"""sisa outliers against scikit-learn (Debian's python3-sklearn), through the sisa binary.

Data: 1000 rows of a heavy-tailed cloud (Student t, 5 degrees of freedom, 4 features) and 10
planted outliers far outside it, in a 4-shard store.
  LOF: scores equal LocalOutlierFactor's (n_neighbors = 20) to 1e-6 relative, the flagged rows
       (contamination 0.01) are identical, with the Euclidean and the cosine distance, and so
       per shard (--scope shard) against a LOF of each shard's rows;
  Isolation Forest: scores rank-correlate with IsolationForest's (Spearman >= 0.90 at 100 trees,
       >= 0.98 at 1000), and the planted outliers are all flagged;
  the files are the same bytes under mpirun -n 2 and -n 3 as on one process, and under
  another OpenBLAS core (x86-64: Prescott);
  the IDs file feeds sisa unlearn --ids-file, and sisa verify then certifies the deletion;
  bad input is refused with exit status 2 and nothing written.
Usage: outliers_reference.py SISA_BINARY WORKDIR   (SISA_MPIEXEC in the environment: mpirun)
"""
import json
import os
import platform
import shutil
import subprocess
import sys

import h5py
import numpy as np
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

SISA, WORK = sys.argv[1], sys.argv[2]
MPI = os.environ.get("SISA_MPIEXEC", "")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def sisa(*args, ranks=1, expect=0):
    cmd = [SISA, *args] if ranks == 1 else [MPI, "-n", str(ranks), SISA, *args]
    env = dict(os.environ)
    if ranks > 1:  # Open MPI's own allocations are not leak-checked (as in tests/testutil.c)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    r = subprocess.run(cmd, cwd=WORK, capture_output=True, text=True, env=env)
    if expect is not None and r.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}, expected {expect}\n{r.stdout}{r.stderr}")
    return r


def scores(path):
    with h5py.File(os.path.join(WORK, path), "r") as f:
        return (np.asarray(f["id"]), np.asarray(f["score"]), np.asarray(f["flagged"]),
                np.asarray(f["shard"]), dict(f.attrs))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
rng = np.random.default_rng(11)
n, d = 1000, 4
X = rng.standard_t(5, (n, d))
planted = rng.uniform(-20, 20, (10, d))
planted[np.abs(planted).max(axis=1) < 8, 0] = 15.0  # every planted row far outside the cloud
X = np.concatenate([X, planted])
y = rng.integers(0, 2, len(X))
with open(os.path.join(WORK, "train.csv"), "w") as f:
    f.write(",".join([f"f{i}" for i in range(d)] + ["label"]) + "\n")
    for xi, yi in zip(X, y):
        f.write(",".join(f"{v:.6f}" for v in xi) + f",{yi}\n")
with open(os.path.join(WORK, "c.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\nstore: store\nseed: 42\nsisa:\n  shards: 4\n  slices: 2\n"
            "model:\n  type: logreg\ntrain:\n  optimizer: sgd\n  lr: 0.05\n  batch_size: 32\n"
            "  epochs: 2\naggregate:\n  strategy: mean\n")
sisa("-q", "import", "csv", "train.csv", "-o", "train.h5", "--label", "label")
sisa("-q", "train", "-c", "c.yaml")
with h5py.File(os.path.join(WORK, "train.h5"), "r") as f:
    Xs = np.asarray(f["X"], dtype=np.float64)  # the float32 values sisa holds
    ids = np.asarray(f["id"])
planted_ids = ids[n:]

# LOF, all rows
sisa("-q", "outliers", "-c", "c.yaml", "--method", "lof", "-k", "20", "--contamination", "0.01",
     "-o", "lof.txt", "--scores", "lof.h5")
sid, s, flagged, shard, attrs = scores("lof.h5")
check((sid == ids).all(), "LOF: one score per row, in ID order")
ref = LocalOutlierFactor(n_neighbors=20, contamination=0.01)
pred = ref.fit_predict(Xs)
rel = np.max(np.abs(s + ref.negative_outlier_factor_) / -ref.negative_outlier_factor_)
check(rel < 1e-6, f"LOF scores equal scikit-learn's (max relative difference {rel:.2e})")
check(((pred == -1) == (flagged == 1)).all(),
      f"LOF flags the rows scikit-learn flags ({int(flagged.sum())} rows)")
listed = np.loadtxt(os.path.join(WORK, "lof.txt"), dtype=np.uint64, comments="#", ndmin=1)
check((listed == sid[flagged == 1]).all(), "the IDs file lists the flagged rows in ID order")
head = open(os.path.join(WORK, "lof.txt")).read()
check(f"# params_sha256: {attrs['params_sha256']}" in head and
      f"# dataset_digest: {attrs['dataset_digest']}" in head and
      "# params: method=lof k=20" in head, "the IDs file names the method, its hash, the data")

# LOF with the cosine distance
sisa("-q", "outliers", "-c", "c.yaml", "--method", "lof", "--metric", "cosine",
     "--contamination", "0.01", "-o", "cos.txt", "--scores", "cos.h5")
sid, s, flagged, _, attrs = scores("cos.h5")
ref = LocalOutlierFactor(n_neighbors=20, contamination=0.01, metric="cosine", algorithm="brute")
pred = ref.fit_predict(Xs)
rel = np.max(np.abs(s + ref.negative_outlier_factor_) / -ref.negative_outlier_factor_)
check(rel < 1e-6 and ((pred == -1) == (flagged == 1)).all() and "metric=cosine" in attrs["params"],
      f"LOF (cosine) equals scikit-learn's (max relative difference {rel:.2e}), same rows flagged")

# LOF per shard: each shard's rows among themselves
sisa("-q", "outliers", "-c", "c.yaml", "--method", "lof", "--contamination", "0.05",
     "--scope", "shard", "-o", "lofs.txt", "--scores", "lofs.h5")
sid, s, flagged, shard, _ = scores("lofs.h5")
worst, same = 0.0, True
for k in range(4):
    rows = shard == k
    ref = LocalOutlierFactor(n_neighbors=20, contamination=0.05)
    pred = ref.fit_predict(Xs[rows])
    worst = max(worst, np.max(np.abs(s[rows] + ref.negative_outlier_factor_) /
                              -ref.negative_outlier_factor_))
    same = same and ((pred == -1) == (flagged[rows] == 1)).all()
check(worst < 1e-6 and same, f"LOF per shard equals scikit-learn's on each shard ({worst:.2e})")

# Isolation Forest
for trees, floor in ((100, 0.90), (1000, 0.98)):
    out = f"if{trees}"
    sisa("-q", "outliers", "-c", "c.yaml", "--method", "iforest", "--trees", str(trees),
         "--contamination", "0.01", "-o", out + ".txt", "--scores", out + ".h5")
    sid, s, flagged, _, _ = scores(out + ".h5")
    ref = -IsolationForest(n_estimators=trees, max_samples=256, random_state=0).fit(
        Xs).score_samples(Xs)
    rho = spearmanr(s, ref).correlation
    check(rho >= floor, f"Isolation Forest, {trees} trees: Spearman {rho:.4f} >= {floor}")
    found = np.isin(planted_ids, sid[flagged == 1]).sum()
    check(found == len(planted_ids), f"Isolation Forest, {trees} trees: {found} of "
          f"{len(planted_ids)} planted outliers flagged")

# the same bytes at any rank count
if MPI:
    for base_file, args in (
            ("lof.txt", ["--method", "lof", "-k", "20", "--contamination", "0.01"]),
            ("if100.txt", ["--method", "iforest", "--trees", "100", "--contamination", "0.01"]),
            ("lofs.txt", ["--method", "lof", "--scope", "shard", "--contamination", "0.05"])):
        base = open(os.path.join(WORK, base_file)).read()
        for ranks in (2, 3):
            sisa("-q", "outliers", "-c", "c.yaml", *args, "-o", f"p{ranks}.txt", "--scores",
                 f"p{ranks}.h5", "--force", ranks=ranks)
            got = open(os.path.join(WORK, f"p{ranks}.txt")).read()
            check(got == base, f"{' '.join(args)}: the same IDs file at {ranks} ranks")
else:
    print("skip the rank-count checks: SISA_MPIEXEC is not set")

# the scores do not depend on the OpenBLAS core: GEMM only nominates neighbour candidates
if platform.machine() == "x86_64":
    env = dict(os.environ, OPENBLAS_CORETYPE="Prescott")
    r = subprocess.run([SISA, "-q", "outliers", "-c", "c.yaml", "--method", "lof", "-k", "20",
                        "--contamination", "0.01", "-o", "core.txt", "--scores", "core.h5"],
                       cwd=WORK, env=env, capture_output=True, text=True)
    same = r.returncode == 0 and open(os.path.join(WORK, "core.txt")).read() == open(
        os.path.join(WORK, "lof.txt")).read()
    same = same and (scores("core.h5")[1] == scores("lof.h5")[1]).all()
    check(same, "LOF: the same IDs and scores under OpenBLAS's Prescott core " + r.stderr.strip())

# bad input: exit status 2, nothing written
r = sisa("outliers", "-c", "c.yaml", "--method", "lof", "-o", "lof.txt", expect=2)
check("exists" in r.stderr, "an existing IDs file is not replaced without --force")
r = sisa("outliers", "-c", "c.yaml", "--method", "knn", "-o", "x.txt", expect=2)
check("unknown outlier method" in r.stderr and not os.path.exists(os.path.join(WORK, "x.txt")),
      "an unknown method is refused")
r = sisa("outliers", "-c", "c.yaml", "--method", "lof", "-k", "5000", "-o", "x.txt", expect=2)
check("needs more than 5000" in r.stderr and not os.path.exists(os.path.join(WORK, "x.txt")),
      "k above the row count is refused")
r = sisa("outliers", "-c", "c.yaml", "--method", "lof", "--metric", "manhattan", "-o", "x.txt",
         expect=2)
check("unknown metric" in r.stderr, "an unknown metric is refused")
r = sisa("outliers", "-c", "c.yaml", "--method", "lof", "--contamination", "0.7", "-o", "x.txt",
         expect=2)
check("contamination" in r.stderr, "a contamination outside (0, 0.5) is refused")
r = sisa("outliers", "-c", "c.yaml", "--method", "lof", "--contamination", "0.1", "--threshold",
         "2", "-o", "x.txt", expect=2)
check("not both" in r.stderr, "a contamination and a threshold together are refused")

# an IDs file from another store, or with an edited header, is rejected (exit 3), nothing changed
ledger = os.path.join(WORK, "store", "ledger")
before = open(ledger, "rb").read() if os.path.exists(ledger) else b""
text = open(os.path.join(WORK, "if1000.txt")).read()
store_id = [l for l in text.splitlines() if l.startswith("# store_id: ")][0]
for name, bad, why in (
        ("foreign.txt", text.replace(store_id, "# store_id: " + "0" * 32), "not in this one"),
        ("edited.txt", text.replace("trees=1000", "trees=999"), "does not hash to")):
    with open(os.path.join(WORK, name), "w") as f:
        f.write(bad)
    r = sisa("unlearn", "-c", "c.yaml", "--ids-file", name, expect=3)
    after = open(ledger, "rb").read() if os.path.exists(ledger) else b""
    check(why in r.stderr and after == before, f"{name}: rejected, the ledger unchanged")

# a store and a dataset at long paths, nothing flagged: the IDs file still holds its whole header
# (its size once came from a fixed allowance that long paths overflowed)
deep = os.path.join(WORK, *(["d" * 200] * 10))
os.makedirs(deep)
shutil.copy(os.path.join(WORK, "train.h5"), deep)
shutil.copy(os.path.join(WORK, "c.yaml"), deep)
subprocess.run([SISA, "-q", "train", "-c", "c.yaml"], cwd=deep, check=True, capture_output=True)
r = subprocess.run([SISA, "-q", "outliers", "-c", "c.yaml", "--method", "iforest", "--threshold",
                    "0.99", "-o", "none.txt"], cwd=deep, capture_output=True, text=True)
head = open(os.path.join(deep, "none.txt")).read() if r.returncode == 0 else r.stderr
check(r.returncode == 0 and f"# store: {deep}/store\n" in head and
      head.rstrip().endswith("# deletions: 0"), "long store and dataset paths: the whole header")

# purge: the flagged rows are deleted exactly, and the deletion is verified
r = sisa("unlearn", "-c", "c.yaml", "--ids-file", "if1000.txt")
check("origin: sisa outliers: method=iforest trees=1000" in r.stdout,
      "sisa unlearn shows the request's origin")
rec = json.loads(open(ledger).read().splitlines()[-1])
params = [l[10:] for l in text.splitlines() if l.startswith("# params: ")][0]
origin = rec.get("origin", {})
check(origin.get("tool") == "sisa outliers" and origin.get("params") == params and
      f"# params_sha256: {origin.get('params_sha256')}" in text and
      f"# dataset_digest: {origin.get('dataset_digest')}" in text,
      "the ledger record names the method, its parameters' hash and the dataset digest")
sisa("-q", "verify", "-c", "c.yaml")
sisa("-q", "audit", "-c", "c.yaml")  # the ledger with its origin holds against the journal
sisa("-q", "outliers", "-c", "c.yaml", "--method", "lof", "--contamination", "0.01", "-o",
     "after.txt", "--scores", "after.h5")
sid, _, _, _, attrs = scores("after.h5")
gone = np.loadtxt(os.path.join(WORK, "if1000.txt"), dtype=np.uint64, comments="#", ndmin=1)
check(not np.isin(gone, sid).any() and len(sid) == len(ids) - len(gone) and
      attrs["deletions"] == "1", f"after the purge of {len(gone)} rows they are no longer scored")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("outliers_reference: ok")
