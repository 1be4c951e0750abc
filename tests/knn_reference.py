#!/usr/bin/python3
"""sisa's kNN model (model.type knn) against numpy and scikit-learn (Debian's python3-sklearn),
through the sisa binary.

Data: synthetic Gaussian blobs (6 features, 3 classes) with planted ties (7 exact copies of a row,
9 rows at one integer distance from a lattice point, 7 power-of-two multiples of a row, which are
at cosine distance 0 from each other, a zero row), and 3000 + 500 rows of Fashion-MNIST. Sample IDs
are random and not in row order, so that "equal distances go to the lower ID" is not "to the
earlier row".
  an exact numpy kNN (distances in double, summed feature after feature as sisa does; sorted by
       distance, then ID) gives sisa's labels and posteriors bit for bit, Euclidean and cosine;
  scikit-learn's brute-force KNeighborsClassifier agrees except where the k-th and (k+1)-th
       neighbours are at equal distances (1e-12 relative): each such query is shown to be a tie,
       and there are few;
  merge: a 4- and a 7-shard store predict bit for bit what a 1-shard store predicts (also with k
       above a shard's row count); vote, mean and weighted: each shard is the exact kNN of its
       rows (--per-shard), combined as the aggregation rules say, with a sane accuracy; sisa
       eval's accuracies (merged, each shard's) are the exact kNN's;
  unlearn(train(D), X) = train(D \\ X): the same prediction file and the same checkpoint and data
       files, byte for byte, as a store trained on D \\ X with the same IDs (also when a shard
       loses every row, and when trained on 3 ranks and unlearned on 2); verify and audit pass;
  the same prediction files under mpirun -n 2 and -n 3 as on one process, and under another
       OpenBLAS core (x86-64: Prescott): sgemm only nominates candidates;
  bad configs (merge with mlp, a train key with knn, k: 0, ...) exit with status 2, write nothing.
Usage: knn_reference.py SISA_BINARY WORKDIR   (SISA_MPIEXEC in the environment: mpirun;
       SISA_FMNIST: the Fashion-MNIST IDX folder, default /usr/share/datasets/fashion-mnist)
"""
import filecmp
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys

import h5py
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

SISA, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MPI = os.environ.get("SISA_MPIEXEC", "")
FMNIST = os.environ.get("SISA_FMNIST") or "/usr/share/datasets/fashion-mnist"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def sisa(*args, ranks=1, expect=0, env=None):
    cmd = [SISA, *args] if ranks == 1 else [MPI, "-n", str(ranks), SISA, *args]
    env = dict(env or os.environ)
    if ranks > 1:  # Open MPI's own allocations are not leak-checked (as in tests/testutil.c)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    r = subprocess.run(cmd, cwd=WORK, capture_output=True, text=True, env=env)
    if expect is not None and r.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}, expected {expect}\n{r.stdout}{r.stderr}")
    return r


def path(name):
    return os.path.join(WORK, name)


def write_dataset(name, X, y, ids):
    """X, y, ids as a raw HDF5 file, imported into sisa's dataset schema (name.h5)."""
    with h5py.File(path(name + ".raw.h5"), "w") as f:
        f["X"], f["y"], f["id"] = X.astype(np.float32), y.astype(np.int32), ids.astype(np.uint64)
    sisa("-q", "import", "h5", name + ".raw.h5", "-o", name + ".h5", "--num-classes",
         str(int(y.max()) + 1))


def config(name, train, store, shards, k, metric, strategy="merge", slices=3, test=None):
    with open(path(name), "w") as f:
        f.write(f"data:\n  train: {train}\n" + (f"  test: {test}\n" if test else "") +
                f"store: {store}\nseed: 5\nsisa:\n  shards: {shards}\n  slices: {slices}\n"
                f"model:\n  type: knn\n  k: {k}\n  metric: {metric}\n"
                f"aggregate:\n  strategy: {strategy}\n")


def same_shard_files(a, b, shards):
    """The shards' checkpoint and data files of stores a and b: the same names and bytes."""
    same, names = True, []
    for s in range(shards):
        da, db = path(f"{a}/shards/{s:04d}"), path(f"{b}/shards/{s:04d}")
        files = sorted(f for f in os.listdir(da) if f.endswith(".h5"))
        names += files
        same = same and files == sorted(f for f in os.listdir(db) if f.endswith(".h5"))
        same = same and all(filecmp.cmp(os.path.join(da, f), os.path.join(db, f), shallow=False)
                            for f in files)
    return same, len(names)


def predictions(name):
    with h5py.File(path(name), "r") as f:
        shards = {k: np.asarray(v) for k, v in f["shards"].items()} if "shards" in f else {}
        return np.asarray(f["proba"]), np.asarray(f["label"]), np.asarray(f["id"]), shards


def read_bytes(name):
    with open(path(name), "rb") as f:
        return f.read()


def idx(name):
    """An IDX file (gzipped, big-endian header) as a numpy array."""
    with gzip.open(os.path.join(FMNIST, name)) as f:
        b = f.read()
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)


def distances(Q, X, metric):
    """sisa's exact distances (src/model/knn.c): double, summed feature after feature."""
    Q, X = Q.astype(np.float64), X.astype(np.float64)
    s, t = np.zeros((len(Q), len(X))), np.empty((len(Q), len(X)))
    if metric == "euclidean":
        for f in range(Q.shape[1]):
            np.subtract.outer(Q[:, f], X[:, f], out=t)
            s += np.multiply(t, t, out=t)
        return np.sqrt(s)
    nq, nx = np.zeros(len(Q)), np.zeros(len(X))
    for f in range(Q.shape[1]):
        nq += Q[:, f] * Q[:, f]
        nx += X[:, f] * X[:, f]
    with np.errstate(all="ignore"):
        Qn, Xn = Q * (1.0 / np.sqrt(nq))[:, None], X * (1.0 / np.sqrt(nx))[:, None]
    for f in range(Q.shape[1]):
        s += np.multiply.outer(Qn[:, f], Xn[:, f], out=t)
    D = np.clip(1.0 - s, 0.0, 2.0)
    D[nq == 0, :] = 1.0
    D[:, nx == 0] = 1.0
    return D


def knn(D, ids, y, k, classes):
    """The k nearest by (distance, ID): neighbour IDs, sorted distances, posteriors, labels."""
    by_id = np.argsort(ids, kind="stable")
    D, ids, y = D[:, by_id], ids[by_id], y[by_id]
    order = np.argsort(D, axis=1, kind="stable")  # stable over ID order: ties to the lower ID
    m = min(k, len(ids))
    near = order[:, :m]
    counts = np.stack([np.bincount(y[r], minlength=classes) for r in near])
    proba = (counts / m).astype(np.float32)  # (float)((double)count / used), as sisa
    return ids[near], np.take_along_axis(D, order, axis=1), proba, np.argmax(proba, axis=1)


def is_tie(dist, k):
    """The k-th and (k+1)-th nearest are at equal distances (1e-12 relative)."""
    return k < len(dist) and abs(dist[k] - dist[k - 1]) <= 1e-12 * abs(dist[k])


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
rng = np.random.default_rng(2024)

# ---- data -----------------------------------------------------------------------------------
# synthetic: blobs, then planted ties far from them; the queries include the tie points
d = 6
centers = rng.normal(0, 4, (3, d))
yb = rng.integers(0, 3, 1900)
Xb = centers[yb] + rng.normal(0, 1.2, (1900, d))
dup = np.full(d, 50.0) + rng.normal(0, 1, d)  # 7 exact copies
lattice = np.full(d, -40.0)  # 2 rows at distance 1, 9 at sqrt(5): the 5th and 6th tie
near1 = [lattice + np.eye(d)[i] for i in (0, 3)]
ring = []
for i, j, si, sj in ((0, 1, 1, 1), (1, 0, -1, 1), (2, 3, 1, -1), (3, 2, -1, -1), (4, 5, 1, 1),
                     (5, 4, 1, -1), (0, 5, -1, -1), (2, 4, 1, 1), (1, 3, -1, 1)):
    v = lattice.copy()
    v[i] += si
    v[j] += 2 * sj
    ring.append(v)
ray = np.float32(rng.normal(0, 1, d) + np.array([0, 0, 0, 30, -30, 0]))  # 7 multiples by 2^j
rays = [ray * np.float32(2.0 ** j) for j in range(-2, 5)]
Xp = np.concatenate([Xb, [dup] * 7, near1, ring, rays, [np.zeros(d)]])
yp = np.concatenate([yb, rng.integers(0, 3, len(Xp) - len(Xb))])
Qs = np.concatenate([centers[rng.integers(0, 3, 400)] + rng.normal(0, 1.2, (400, d)),
                     Xb[:20],  # queries on training rows: distance 0, no tie
                     [dup, lattice, ray * np.float32(32), ray * np.float32(0.125), np.zeros(d)]])
# the queries on planted ties; under cosine, the lattice point's neighbours tie by symmetry
PLANTED = {"euclidean": [-5, -4], "cosine": [-5, -4, -3, -2, -1]}
ys = rng.integers(0, 3, len(Qs))
perm = rng.permutation(len(Xp))  # IDs not in row order
Xp, yp = Xp[perm].astype(np.float32), yp[perm]
ids_p = rng.choice(2 ** 40, len(Xp), replace=False).astype(np.uint64)
ids_s = rng.choice(2 ** 40, len(Qs), replace=False).astype(np.uint64)
Qs = Qs.astype(np.float32)
write_dataset("syn", Xp, yp, ids_p)
write_dataset("synq", Qs, ys, ids_s)

# Fashion-MNIST: 3000 training rows and 500 queries, pixels / 255
images = idx("train-images-idx3-ubyte.gz").reshape(60000, -1)
labels = idx("train-labels-idx1-ubyte.gz")
pick = rng.choice(60000, 3500, replace=False)
Xf = images[pick].astype(np.float32) / np.float32(255)
yf = labels[pick].astype(np.int32)
ids_f = rng.choice(10 ** 12, 3500, replace=False).astype(np.uint64)
write_dataset("fm", Xf[:3000], yf[:3000], ids_f[:3000])
write_dataset("fmq", Xf[3000:], yf[3000:], ids_f[3000:])
DATA = {"syn": (Xp, yp, ids_p, Qs, ys, ids_s, 3), "fm": (Xf[:3000], yf[:3000], ids_f[:3000],
                                                         Xf[3000:], yf[3000:], ids_f[3000:], 10)}
dist = {(name, metric): distances(DATA[name][3], DATA[name][0], metric)
        for name in DATA for metric in ("euclidean", "cosine")}

# ---- 1. one shard: exact against numpy, against scikit-learn up to ties ----------------------
for name, metric, k in (("syn", "euclidean", 5), ("syn", "cosine", 5), ("syn", "euclidean", 1),
                        ("fm", "euclidean", 5), ("fm", "cosine", 5), ("fm", "euclidean", 8)):
    X, y, ids, Q, _, qids, classes = DATA[name]
    tag = f"{name} {metric} k={k}"
    base = f"{name}-{metric}-k{k}"
    config(base + "-s1.yaml", name + ".h5", base + "-s1", 1, k, metric)
    sisa("-q", "train", "-c", base + "-s1.yaml")
    sisa("-q", "predict", "-c", base + "-s1.yaml", "-i", name + "q.h5", "-o", base + "-s1.h5")
    proba, label, pid, _ = predictions(base + "-s1.h5")
    near, dsorted, rproba, rlabel = knn(dist[name, metric], ids, y, k, classes)
    check(np.array_equal(pid, qids) and np.array_equal(proba, rproba) and
          np.array_equal(label, rlabel),
          f"{tag}: 1 shard predicts numpy's exact kNN bit for bit (posteriors and labels)")
    if name == "syn":  # the planted ties are ties (the check above: they go to the lower ID)
        check(all(is_tie(dsorted[i], k) for i in PLANTED[metric]),
              f"{tag}: the planted queries sit on ties of the {k}-th neighbour")
    ref = KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric=metric)
    ref.fit(X.astype(np.float64), y)  # the float32 values, computed in double
    sk_near = ids[ref.kneighbors(Q.astype(np.float64), return_distance=False)]
    sk_proba = ref.predict_proba(Q.astype(np.float64)).astype(np.float32)
    sk_label = ref.predict(Q.astype(np.float64))
    differ = [i for i in range(len(Q)) if set(sk_near[i]) != set(near[i]) or
              not np.array_equal(sk_proba[i], proba[i]) or sk_label[i] != label[i]]
    wrong = int((sk_label != label).sum())
    unexplained = [i for i in differ if not is_tie(dsorted[i], k)]
    print(f"     {tag}: scikit-learn's neighbours differ on {len(differ)} of {len(Q)} queries "
          f"({wrong} labels), at ties: {len(differ) - len(unexplained)}")
    limit = len(PLANTED[metric]) if name == "syn" else len(Q) // 100
    check(not unexplained and len(differ) <= limit,
          f"{tag}: scikit-learn differs only at ties of the {k}-th neighbour, on {len(differ)} "
          f"queries (at most {limit})" +
          (f"; not at ties: queries {unexplained[:5]}" if unexplained else ""))

# ---- 2. merged shards = one shard; vote, mean, weighted per shard ----------------------------
for name, metric, k in (("syn", "euclidean", 5), ("syn", "cosine", 5), ("fm", "euclidean", 5),
                        ("fm", "cosine", 5), ("syn", "euclidean", 400)):
    base = f"{name}-{metric}-k{k}"
    if k == 400:  # above every shard's row count at 7 shards
        config(base + "-s1.yaml", name + ".h5", base + "-s1", 1, k, metric)
        sisa("-q", "train", "-c", base + "-s1.yaml")
        sisa("-q", "predict", "-c", base + "-s1.yaml", "-i", name + "q.h5", "-o", base + "-s1.h5")
        X, y, ids, _, _, _, classes = DATA[name]
        rproba = knn(dist[name, metric], ids, y, k, classes)[2]
        check(np.array_equal(predictions(base + "-s1.h5")[0], rproba),
              f"{name} {metric} k={k}: 1 shard predicts numpy's exact kNN bit for bit")
    one = predictions(base + "-s1.h5")
    for shards in (4, 7):
        config(f"{base}-s{shards}.yaml", name + ".h5", f"{base}-s{shards}", shards, k, metric)
        sisa("-q", "train", "-c", f"{base}-s{shards}.yaml")
        sisa("-q", "predict", "-c", f"{base}-s{shards}.yaml", "-i", name + "q.h5", "-o",
             f"{base}-s{shards}.h5")
        got = predictions(f"{base}-s{shards}.h5")
        check(all(np.array_equal(a, b) for a, b in zip(got[:3], one[:3])),
              f"{name} {metric} k={k}: {shards} shards merged predict bit for bit what 1 shard "
              "predicts")
        if k == 400 and shards == 7:
            rows = []
            for s in range(shards):
                with h5py.File(path(f"{base}-s{shards}/shards/{s:04d}/data.h5"), "r") as f:
                    rows.append(len(f["id"]))
            check(max(rows) < k, f"  (every shard holds fewer than k = {k} rows: {rows})")

# sisa eval: the merged accuracy, and each shard's own kNN's
X, y, ids, Q, yq, qids, classes = DATA["fm"]
config("eval.yaml", "fm.h5", "fm-euclidean-k5-s7", 7, 5, "euclidean", test="fmq.h5")
r = json.loads(sisa("eval", "-c", "eval.yaml", "--json").stdout)
label = predictions("fm-euclidean-k5-s7.h5")[1]
check(r["strategy"] == "merge" and r["shards_used"] == 7 and r["rows"] == 500 and
      abs(r["accuracy"] - (label == yq).mean()) < 1e-12,
      f"sisa eval: the merged accuracy of 7 shards is the predictions' ({r['accuracy']:.3f})")
same = len(r["shards"]) == 7
for e in r["shards"]:
    with h5py.File(path(f"fm-euclidean-k5-s7/shards/{e['shard']:04d}/data.h5"), "r") as f:
        cols = np.flatnonzero(np.isin(ids, np.asarray(f["id"])))
    own = knn(dist["fm", "euclidean"][:, cols], ids[cols], y[cols], 5, classes)[3]
    same = same and e["rows"] == len(cols) and abs(e["accuracy"] - (own == yq).mean()) < 1e-12
check(same, "sisa eval: each shard's accuracy is that of the exact kNN of its rows")
accuracy = {}
for name, metric in (("fm", "euclidean"), ("syn", "cosine")):
    X, y, ids, Q, yq, qids, classes = DATA[name]
    for strategy in ("vote", "mean", "weighted"):
        base = f"{name}-{metric}-{strategy}"
        config(base + ".yaml", name + ".h5", base, 4, 5, metric, strategy)
        sisa("-q", "train", "-c", base + ".yaml")
        sisa("-q", "predict", "-c", base + ".yaml", "-i", name + "q.h5", "-o", base + ".h5",
             "--per-shard")
        proba, label, _, per_shard = predictions(base + ".h5")
        acc, posts, rows, same = np.zeros((len(Q), classes)), [], [], True
        for s in range(4):
            with h5py.File(path(f"{base}/shards/{s:04d}/data.h5"), "r") as f:
                sid = np.asarray(f["id"])
            cols = np.flatnonzero(np.isin(ids, sid))
            p = knn(dist[name, metric][:, cols], ids[cols], y[cols], 5, classes)[2]
            same = same and np.array_equal(per_shard[f"{s:04d}"], p)
            posts.append(p)
            rows.append(len(cols))
        for s, p in enumerate(posts):  # aggregate/aggregate.c: sums in double, in shard order
            if strategy == "vote":
                acc[np.arange(len(Q)), np.argmax(p, axis=1)] += 1.0
            else:
                acc += (rows[s] if strategy == "weighted" else 1.0) * p.astype(np.float64)
        if strategy == "vote":
            ens = acc.astype(np.float32) / np.float32(4)
        else:
            ens = (acc / (sum(rows) if strategy == "weighted" else 4.0)).astype(np.float32)
        check(same, f"{name} {metric} {strategy}: each shard's posteriors are the exact kNN of "
              "its rows")
        check(np.array_equal(proba, ens) and np.array_equal(label, np.argmax(ens, axis=1)),
              f"{name} {metric} {strategy}: the shards are combined as the aggregation rule says")
        accuracy[name, strategy] = float((label == yq).mean()) if name == "fm" else None
    if name == "fm":
        one = float((predictions(f"fm-{metric}-k5-s1.h5")[1] == yq).mean())
        worst = min(accuracy[name, s] for s in ("vote", "mean", "weighted"))
        check(one > 0.75 and worst > one - 0.06,
              f"fm {metric}: accuracy {one:.3f} with 1 shard; 4 shards: " +
              ", ".join(f"{s} {accuracy[name, s]:.3f}" for s in ("vote", "mean", "weighted")))

# ---- 3. unlearn(train(D), X) = train(D \ X) --------------------------------------------------
X, y, ids, Q, _, _, classes = DATA["fm"]
config("u.yaml", "fm.h5", "u", 4, 5, "euclidean", slices=3)
sisa("-q", "train", "-c", "u.yaml")
holder = {}
for s in range(4):
    with h5py.File(path(f"u/shards/{s:04d}/data.h5"), "r") as f:
        for i, sl in zip(np.asarray(f["id"]), np.asarray(f["slice"])):
            holder[int(i)] = (s, int(sl))
in_one = [i for i in map(int, ids) if holder[i][0] == 2]
first = [in_one[j] for j in (3, 50, 97, 400, 600)]  # shard 2 only
spread = [next(i for i in map(int, ids[::-1]) if holder[i] == (s, sl) and i not in first)
          for s in range(4) for sl in range(3)]  # a row of every slice of every shard
check({holder[i][0] for i in first} == {2} and len({holder[i][1] for i in first}) > 1 and
      len({holder[i] for i in spread}) == 12,
      "the deleted rows lie in one shard (first request), then in every slice of every shard")
r = sisa("unlearn", "-c", "u.yaml", "--ids", ",".join(map(str, first)))
check("5 row(s) in 1 of 4 shards" in r.stdout and "shard 2: rows rewritten" in r.stdout,
      "unlearn rewrites only the shard holding the rows")
r = sisa("unlearn", "-c", "u.yaml", "--ids", ",".join(map(str, spread)))
check("12 row(s) in 4 of 4 shards" in r.stdout and "trained nothing" in r.stdout,
      "a request over every shard rewrites the 4 shards and trains nothing")
keep = ~np.isin(ids, first + spread)
write_dataset("fm-minus", X[keep], y[keep], ids[keep])
config("scratch.yaml", "fm-minus.h5", "scratch", 4, 5, "euclidean", slices=3)
sisa("-q", "train", "-c", "scratch.yaml")
sisa("-q", "predict", "-c", "u.yaml", "-i", "fmq.h5", "-o", "u.h5")
sisa("-q", "predict", "-c", "scratch.yaml", "-i", "fmq.h5", "-o", "scratch.h5")
got, want = predictions("u.h5"), predictions("scratch.h5")
check(all(np.array_equal(a, b) for a, b in zip(got[:3], want[:3])) and
      read_bytes("u.h5") == read_bytes("scratch.h5"),
      f"after unlearning {len(first) + len(spread)} rows, the same prediction file as a store "
      "trained without them")
check(np.array_equal(got[0], knn(dist["fm", "euclidean"][:, keep], ids[keep], y[keep], 5,
                                 classes)[2]),
      "after unlearning, the posteriors are numpy's exact kNN over the rows left")
same, files = same_shard_files("u", "scratch", 4)
check(same and files == 16, f"the shards' {files} checkpoint and data files are the same bytes "
      "as a store trained without the rows")
r = sisa("verify", "-c", "u.yaml", "--json", expect=None)
check(r.returncode == 0 and json.loads(r.stdout)["verdict"] == "pass" and
      json.loads(r.stdout)["requests"] == [1, 2], "sisa verify certifies both deletions")
r = sisa("audit", "-c", "u.yaml", expect=None)
check(r.returncode == 0 and "verdict: pass" in r.stdout and
      "bytes of deleted rows found: 0" in r.stdout, "sisa audit passes")

# a shard that loses every row leaves the ensemble, as if it never had any
write_dataset("tiny", Xp[:40], yp[:40], ids_p[:40])
config("tiny.yaml", "tiny.h5", "tiny", 4, 5, "euclidean", slices=2)
sisa("-q", "train", "-c", "tiny.yaml")
with h5py.File(path("tiny/shards/0001/data.h5"), "r") as f:
    gone = np.asarray(f["id"])
r = sisa("unlearn", "-c", "tiny.yaml", "--ids", ",".join(map(str, gone)))
keep = ~np.isin(ids_p[:40], gone)
write_dataset("tiny-minus", Xp[:40][keep], yp[:40][keep], ids_p[:40][keep])
config("tiny-scratch.yaml", "tiny-minus.h5", "tiny-scratch", 4, 5, "euclidean", slices=2)
sisa("-q", "train", "-c", "tiny-scratch.yaml")
sisa("-q", "predict", "-c", "tiny.yaml", "-i", "synq.h5", "-o", "tiny-p.h5")
sisa("-q", "predict", "-c", "tiny-scratch.yaml", "-i", "synq.h5", "-o", "tiny-scratch-p.h5")
rproba = knn(distances(Qs, Xp[:40][keep], "euclidean"), ids_p[:40][keep], yp[:40][keep], 5,
             3)[2]
check("no rows left" in r.stdout and
      read_bytes("tiny-p.h5") == read_bytes("tiny-scratch-p.h5") and
      np.array_equal(predictions("tiny-p.h5")[0], rproba) and
      same_shard_files("tiny", "tiny-scratch", 4)[0] and
      sisa("verify", "-c", "tiny.yaml", expect=None).returncode == 0,
      f"unlearning all {len(gone)} rows of a shard: the same files as a store that never had "
      "them, numpy's exact kNN, verified")

# ---- 4. the same bytes at any rank count and under another OpenBLAS core --------------------
if MPI:  # a store trained on 3 ranks, the rows unlearned on 2 in one request: the same files
    config("um.yaml", "fm.h5", "um", 4, 5, "euclidean", slices=3)
    sisa("-q", "train", "-c", "um.yaml", ranks=3)
    with open(path("gone.txt"), "w") as f:
        f.write("".join(f"{i}\n" for i in first + spread))
    sisa("-q", "unlearn", "-c", "um.yaml", "--ids-file", "gone.txt", ranks=2)
    check(same_shard_files("u", "um", 4) == (True, 16),
          "trained on 3 ranks and unlearned on 2: the same checkpoint and data files")
runs = (("fm-euclidean-k5-s7.yaml", "fmq.h5", []), ("syn-cosine-k5-s7.yaml", "synq.h5", []),
        ("fm-euclidean-mean.yaml", "fmq.h5", ["--per-shard"]), ("u.yaml", "fmq.h5", []))
for cfg, data, extra in runs:
    sisa("-q", "predict", "-c", cfg, "-i", data, "-o", "base.h5", "--force", *extra)
    base = read_bytes("base.h5")
    if MPI:
        for ranks in (2, 3):
            sisa("-q", "predict", "-c", cfg, "-i", data, "-o", f"p{ranks}.h5", *extra,
                 "--force", ranks=ranks)
            check(read_bytes(f"p{ranks}.h5") == base,
                  f"{cfg}: the same prediction file at {ranks} ranks")
    if platform.machine() == "x86_64":
        sisa("-q", "predict", "-c", cfg, "-i", data, "-o", "core.h5", *extra, "--force",
             env=dict(os.environ, OPENBLAS_CORETYPE="Prescott"))
        check(read_bytes("core.h5") == base,
              f"{cfg}: the same prediction file under OpenBLAS's Prescott core")
if not MPI:
    print("skip the rank-count checks: SISA_MPIEXEC is not set")

# ---- 5. bad configs: exit status 2, a message naming the key, nothing written ----------------
for name, text, words in (
        ("merge with mlp", "model:\n  type: mlp\n  hidden: [8]\naggregate:\n  strategy: merge\n",
         ["merge needs model.type knn"]),
        ("a train key with knn", "model:\n  type: knn\ntrain:\n  lr: 0.01\n",
         ["train.lr", "model.type is knn"]),
        ("k: 0", "model:\n  type: knn\n  k: 0\n", ["model.k"]),
        ("k above 4096", "model:\n  type: knn\n  k: 4097\n", ["model.k"]),
        ("an unknown metric", "model:\n  type: knn\n  metric: manhattan\n", ["model.metric"]),
        ("k with logreg", "model:\n  type: logreg\n  k: 3\n", ["model.k", "applies to knn"])):
    with open(path("bad.yaml"), "w") as f:
        f.write("data:\n  train: syn.h5\nstore: bad\nsisa:\n  shards: 2\n  slices: 1\n" + text)
    r = sisa("train", "-c", "bad.yaml", expect=2)
    check(all(w in r.stderr for w in words) and "bad.yaml:" in r.stderr and
          not os.path.exists(path("bad")),
          f"{name}: refused with exit status 2, nothing written ({r.stderr.strip()[:90]})")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("knn_reference: ok")
