#!/usr/bin/python3
"""sisa impact against a brute-force reverse-kNN and against the deletion itself.

Data: 1200 Fashion-MNIST training rows (IDs 0..1199, with 6 exact duplicates of other rows, so
that distances tie) and 300 test rows as queries.
  knn, strategy merge (S=4) and vote (S=3), Euclidean and cosine:
    - the reverse-kNN set of every deleted row equals a numpy brute force (queries whose k
      nearest by (distance, ID) hold the row: among all rows for merge, among the row's
      shard's rows for vote);
    - the predictions and posteriors "after" equal what `sisa predict` gives once the rows
      are really deleted (a twin store of the same config, unlearned), bit for bit, and
      "before" equals predict on the untouched store;
    - every changed prediction lies in the reverse-kNN set of some deleted row;
  mlp (S=3, R=2): "after" equals predict of the twin store after sisa unlearn, bit for bit;
  the store is byte for byte unchanged by impact, and nothing is journaled; the same results
  with 2 and 3 MPI ranks (SISA_MPIEXEC);
  bad input: unknown ID (exit 3), no --queries (exit 2), existing output without --force
  (exit 2), queries of the wrong width (exit 1), each with no output written.
Usage: impact_reference.py SISA_BINARY WORKDIR   (SISA_MPIEXEC in the environment: mpirun)
"""
import json
import os
import re
import shutil
import sys

import h5py
import numpy as np
from reftools import Checks, Sisa, fashion_mnist, tree_digest, write_csv

SISA, WORK = sys.argv[1], sys.argv[2]
MPI = os.environ.get("SISA_MPIEXEC", "")
check = Checks()
sisa = Sisa(SISA, WORK)
idx = fashion_mnist


def config(name, store, model, strategy, shards, slices, metric="euclidean"):
    text = f"data:\n  train: train.h5\nstore: {store}\nseed: 7\n"
    text += f"sisa:\n  shards: {shards}\n  slices: {slices}\n"
    if model == "knn":
        text += f"model:\n  type: knn\n  k: 5\n  metric: {metric}\n"
    else:
        text += ("model:\n  type: mlp\n  hidden: [16]\ntrain:\n  optimizer: adam\n"
                 "  lr: 0.003\n  batch_size: 64\n  epochs: 2\n")
    text += f"aggregate:\n  strategy: {strategy}\n"
    with open(os.path.join(WORK, name), "w") as f:
        f.write(text)


def read(path, *keys):
    with h5py.File(os.path.join(WORK, path), "r") as f:
        return [np.asarray(f[k]) for k in keys]


def distances(Q, X, metric):
    Q = Q.astype(np.float64)
    X = X.astype(np.float64)
    if metric == "cosine":
        nq = np.linalg.norm(Q, axis=1)
        nx = np.linalg.norm(X, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (Q / nq[:, None]) @ (X / nx[:, None]).T
        d = 1.0 - s
        d[nq == 0, :] = 1.0
        d[:, nx == 0] = 1.0
        return np.clip(d, 0.0, 2.0)
    sq = (Q * Q).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2.0 * Q @ X.T
    return np.sqrt(np.maximum(sq, 0.0))


def knn_ids(D, ids, k):
    """Each query's k nearest by (distance, ID); D (nq, n), ids (n)."""
    out = []
    for row in D:
        order = np.lexsort((ids, row))[:k]
        out.append(set(ids[order].tolist()))
    return out


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)

X = idx("train-images-idx3-ubyte.gz", 1200).copy()
y = idx("train-labels-idx1-ubyte.gz", 1200).copy()
X[1194:1200] = X[10:16]  # exact duplicates: equal distances, broken by ID
y[1194:1200] = y[10:16]
ids = np.arange(1200, dtype=np.uint64)
write_csv(os.path.join(WORK, "train.csv"), X, y, ids)
Xq = idx("t10k-images-idx3-ubyte.gz", 300)
yq = idx("t10k-labels-idx1-ubyte.gz", 300)
write_csv(os.path.join(WORK, "queries.csv"), Xq, yq, np.arange(300))
sisa("import", "csv", "train.csv", "--label", "label", "--id", "id", "--scale", "255",
     "--num-classes", "10", "-o", "train.h5")
sisa("import", "csv", "queries.csv", "--label", "label", "--id", "id", "--scale", "255",
     "--num-classes", "10", "-o", "queries.h5")
Xf = read("train.h5", "X")[0]
Qf = read("queries.h5", "X")[0]
# an original with its duplicate, a duplicate alone, and a run of 160 rows (13 %)
deleted = [10, 11, 1195, 777, 1001] + list(range(100, 260))
DEL = ",".join(map(str, deleted))

for metric in ("euclidean", "cosine"):
    for strategy, shards in (("merge", 4), ("vote", 3)):
        tag = f"knn {strategy} S={shards} {metric}"
        config("a.yaml", f"a-{metric}-{strategy}", "knn", strategy, shards, 3, metric)
        config("b.yaml", f"b-{metric}-{strategy}", "knn", strategy, shards, 3, metric)
        sisa("train", "-c", "a.yaml")
        sisa("train", "-c", "b.yaml")
        before_tree = tree_digest(os.path.join(WORK, f"a-{metric}-{strategy}"))
        r = sisa("impact", "-c", "a.yaml", "--ids", DEL, "--queries", "queries.h5", "-o",
                 "imp.h5", "--force", "--json")
        summary = json.loads(r.stdout)
        if MPI and metric == "euclidean":
            # shards computed by rank k mod P and gathered: the same results
            for ranks in (2, 3):
                sisa("impact", "-c", "a.yaml", "--ids", DEL, "--queries", "queries.h5", "-o",
                     f"imp{ranks}.h5", "--force", ranks=ranks)
                with h5py.File(os.path.join(WORK, "imp.h5"), "r") as f1, \
                        h5py.File(os.path.join(WORK, f"imp{ranks}.h5"), "r") as f2:
                    names = []
                    f1.visit(lambda n: names.append(n) if isinstance(f1[n], h5py.Dataset)
                             else None)
                    same = all(np.array_equal(f1[n][()], f2[n][()]) for n in names)
                    same &= dict(f1.attrs) == dict(f2.attrs)
                check(same, f"{tag}: the same results with {ranks} ranks")
        check(tree_digest(os.path.join(WORK, f"a-{metric}-{strategy}")) == before_tree,
              f"{tag}: impact leaves the store byte for byte unchanged")
        (qid, lb, la, ch, dep, pb, pa, rid, rsh, off, rq, flips) = read(
            "imp.h5", "queries/id", "queries/label_before", "queries/label_after",
            "queries/changed", "queries/depends", "queries/proba_before",
            "queries/proba_after", "rows/id", "rows/shard", "rows/rknn_offset",
            "rows/rknn_query", "rows/flips")
        check(sorted(rid.tolist()) == sorted(deleted) and summary["rows"] == len(deleted),
              f"{tag}: the deleted rows are the named ones")
        # before: predict on the untouched store
        sisa("predict", "-c", "a.yaml", "-i", "queries.h5", "-o", "pa.h5", "--force")
        p0, l0 = read("pa.h5", "proba", "label")
        check(np.array_equal(pb, p0.astype(np.float64)) and np.array_equal(lb, l0),
              f"{tag}: 'before' is sisa predict on the store")
        # after: the twin store, really unlearned
        if metric == "euclidean":  # the IDs from standard input ("--ids-file -")
            sisa("unlearn", "-c", "b.yaml", "--ids-file", "-",
                 stdin="# from a pipe\n" + "\n".join(map(str, deleted)) + "\n")
        else:
            sisa("unlearn", "-c", "b.yaml", "--ids", DEL)
        sisa("predict", "-c", "b.yaml", "-i", "queries.h5", "-o", "pb.h5", "--force")
        p1, l1 = read("pb.h5", "proba", "label")
        check(np.array_equal(pa, p1.astype(np.float64)) and np.array_equal(la, l1),
              f"{tag}: 'after' is sisa predict once the rows are deleted, bit for bit")
        check(int((l0 != l1).sum()) > 0, f"{tag}: some predictions change")
        check(np.array_equal(ch, (l0 != l1).astype(np.uint64)) and
              summary["changed"] == int((l0 != l1).sum()),
              f"{tag}: changed = the predictions that differ ({int((l0 != l1).sum())})")
        # the reverse-kNN sets by brute force
        shard_of = {}
        for s in range(shards):
            (sid,) = read(f"a-{metric}-{strategy}/shards/{s:04d}/data.h5", "id")
            for i in sid.tolist():
                shard_of[i] = s
        D = distances(Qf, Xf, metric)
        if strategy == "merge":
            nb = knn_ids(D, ids, 5)
        else:
            nb = [set() for _ in range(len(Qf))]
            for s in range(shards):
                cols = np.array([i for i in range(len(ids)) if shard_of[i] == s])
                for q, got in enumerate(knn_ids(D[:, cols], ids[cols], 5)):
                    nb[q] |= got
        ok = True
        for j, rowid in enumerate(rid.tolist()):
            want = sorted(qid[q] for q in range(len(Qf)) if rowid in nb[q])
            got = sorted(rq[off[j]:off[j + 1]].tolist())
            ok &= want == got
            ok &= rsh[j] == shard_of[rowid]
        check(ok, f"{tag}: every deleted row's reverse-kNN set equals the brute force "
                  f"({int(off[-1])} query-row pairs)")
        check(all(dep[q] > 0 for q in range(len(Qf)) if ch[q]) and
              summary["changed_without_deleted_neighbour"] == 0,
              f"{tag}: every changed prediction is in some deleted row's reverse-kNN set")
        want_dep = sum(1 for q in range(len(Qf)) if nb[q] & set(deleted))
        check(summary["depending"] == want_dep, f"{tag}: {want_dep} queries depend on the rows")

# mlp: the affected shards retrained in a scratch folder, compared with the real deletion
config("m.yaml", "m", "mlp", "mean", 3, 2)
config("n.yaml", "n", "mlp", "mean", 3, 2)
sisa("train", "-c", "m.yaml")
sisa("train", "-c", "n.yaml")
os.makedirs(os.path.join(WORK, "scratch"))
before_tree = tree_digest(os.path.join(WORK, "m"))
r = sisa("impact", "-c", "m.yaml", "--ids", "5,6,700", "--queries", "queries.h5", "-o",
         "impm.h5", "--scratch", "scratch", "--json")
summary = json.loads(r.stdout)
check(tree_digest(os.path.join(WORK, "m")) == before_tree and
      os.listdir(os.path.join(WORK, "scratch")) == [],
      "mlp: impact leaves the store unchanged and removes its scratch folder")
r = sisa("unlearn", "-c", "n.yaml", "--ids", "5,6,700", "--dry-run")
check(not re.search(r"stages (\d+)-\1\b", r.stdout) and re.search(r"retrain stages? \d", r.stdout),
      "the plan names one stage as 'stage N', never 'stages N-N'")
sisa("unlearn", "-c", "n.yaml", "--ids", "5,6,700")
sisa("predict", "-c", "n.yaml", "-i", "queries.h5", "-o", "pn.h5")
sisa("predict", "-c", "m.yaml", "-i", "queries.h5", "-o", "pm.h5")
pa, la, pb, lb = read("impm.h5", "queries/proba_after", "queries/label_after",
                      "queries/proba_before", "queries/label_before")
p1, l1 = read("pn.h5", "proba", "label")
p0, l0 = read("pm.h5", "proba", "label")
check(np.array_equal(pa, p1.astype(np.float64)) and np.array_equal(la, l1),
      "mlp: 'after' is sisa predict once the rows are deleted, bit for bit")
check(np.array_equal(pb, p0.astype(np.float64)) and np.array_equal(lb, l0),
      "mlp: 'before' is sisa predict on the store")
check(summary["depending"] == 300 and summary["changed"] == int((l0 != l1).sum()),
      f"mlp: every query depends on a retrained shard; {summary['changed']} change")

# bad input: nothing written
r = sisa("impact", "-c", "m.yaml", "--ids", "5,99999", "--queries", "queries.h5", "-o",
         "bad.h5", expect=3)
check("99999" in r.stderr and not os.path.exists(os.path.join(WORK, "bad.h5")),
      "an unknown ID is exit 3, naming it, with nothing written")
r = sisa("impact", "-c", "m.yaml", "--ids", "5", expect=2)
check("--queries" in r.stderr, "no --queries is exit 2")
r = sisa("impact", "-c", "m.yaml", "--ids", "5", "--queries", "queries.h5", "-o", "impm.h5",
         expect=2)
check("--force" in r.stderr, "an existing output without --force is exit 2")
with h5py.File(os.path.join(WORK, "narrow.h5"), "w"):
    pass
r = sisa("impact", "-c", "m.yaml", "--ids", "5", "--queries", "narrow.h5", "-o", "bad.h5",
         expect=None)
check(r.returncode != 0 and "narrow.h5" in r.stderr and
      not os.path.exists(os.path.join(WORK, "bad.h5")),
      f"a foreign queries file is refused naming it (exit {r.returncode})")

check.finish()
