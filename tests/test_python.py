"""The Python binding (python/sisa) over the built libsisa: train, unlearn, predict, status, errors.

Datasets are made with the sisa binary (`sisa import csv`); the check is sisa's promise: after
unlearn(ids=...), predict() returns exactly the posteriors of a store trained without those rows,
and predict() on a matrix equals `sisa predict` on the same rows in a file.
Run by CTest with SISA_LIBRARY, SISA_BIN, SISA_TEST_TMP and PYTHONPATH=python.
"""
import os
import shutil
import subprocess
import sys

import numpy as np

import sisa

tmp = os.path.join(os.environ["SISA_TEST_TMP"], "py")
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
sisa.set_log_level(1)

rng = np.random.default_rng(7)
n, d, C = 240, 5, 3
y = np.arange(n) % C
X = (np.eye(d, dtype=np.float32)[y % d] + rng.random((n, d), dtype=np.float32)).astype(np.float32)
ids = 1000 + 2 * np.arange(n)
deleted = [1004, 1050, 1300]


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("id,label," + ",".join("f%d" % j for j in range(d)) + "\n")
        for i in rows:
            f.write("%d,%d," % (ids[i], y[i]) + ",".join(repr(float(v)) for v in X[i]) + "\n")


def sisa_cli(*args):
    r = subprocess.run([os.environ["SISA_BIN"], *args], capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


keep = [i for i in range(n) if ids[i] not in deleted]
write_csv(os.path.join(tmp, "all.csv"), range(n))
write_csv(os.path.join(tmp, "kept.csv"), keep)
for name in ("all", "kept"):
    sisa_cli("import", "csv", os.path.join(tmp, name + ".csv"), "-o",
             os.path.join(tmp, name + ".h5"), "--label", "label", "--id", "id")


def cfg(train, store):
    return {"data": {"train": train}, "store": store, "seed": 9,
            "sisa": {"shards": 3, "slices": 2}, "model": {"type": "mlp", "hidden": [6]},
            "train": {"optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 2}}


# A config dict (relative paths against base_dir) and a config file both open a store.
a = sisa.Store.open(cfg("all.h5", "store-a"), base_dir=tmp)
rep = a.train()
assert rep["shards_trained"] == 3 and rep["rows"] == n, rep
assert a.train()["shards_trained"] == 0  # up to date

st = a.status()
assert st["ready_shards"] == 3 and st["rows"] == n and st["deletions"] == 0, st

# Errors raise with sisa's message; an unknown ID changes nothing.
try:
    a.unlearn(ids=[1004, 1001])
    raise AssertionError("an unknown ID was accepted")
except sisa.Error as e:
    assert e.code == -6 and "1001" in str(e), (e.code, str(e))
assert a.status()["deletions"] == 0
try:
    sisa.Store.open(os.path.join(tmp, "missing.yaml"))
    raise AssertionError("a missing config was accepted")
except sisa.Error as e:
    assert "missing.yaml" in str(e), str(e)

u = a.unlearn(ids=deleted)
assert u["request"] == 1 and u["rows"] == 3 and not u["nothing"], u
assert u["origin"] == "", u  # IDs given as a list: no tool named them
assert 1 <= len(u["shards"]) <= 3
assert a.unlearn(ids=deleted)["nothing"]
assert a.status()["deletions"] == 1

with open(os.path.join(tmp, "b.yaml"), "w") as f:
    f.write("data: {train: kept.h5}\nstore: store-b\nseed: 9\nsisa: {shards: 3, slices: 2}\n"
            "model: {type: mlp, hidden: [6]}\n"
            "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n")
with sisa.Store.open(os.path.join(tmp, "b.yaml")) as b:
    b.train()
    Xt = X[:50] + np.float32(0.25)
    pa, la = a.predict(Xt, labels=True)
    pb = b.predict(Xt)
assert pa.shape == (50, C) and pa.dtype == np.float32 and la.shape == (50,)
assert np.array_equal(pa.view(np.uint32), pb.view(np.uint32)), "unlearned != trained without"

# predict on a matrix gives the bits `sisa predict` writes for the same rows in a file.
import h5py  # noqa: E402  (python3-h5py, already used by the suite)
with open(os.path.join(tmp, "a.yaml"), "w") as f:
    f.write("data: {train: all.h5}\nstore: store-a\nseed: 9\nsisa: {shards: 3, slices: 2}\n"
            "model: {type: mlp, hidden: [6]}\n"
            "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n")
sisa_cli("predict", "-c", os.path.join(tmp, "a.yaml"), "-i", os.path.join(tmp, "all.h5"), "-o",
         os.path.join(tmp, "pred.h5"))
with h5py.File(os.path.join(tmp, "pred.h5"), "r") as f:
    cli = np.asarray(f["proba"])
with h5py.File(os.path.join(tmp, "all.h5"), "r") as f:
    Xf = np.asarray(f["X"], dtype=np.float32)
mine = a.predict(Xf)
assert np.array_equal(mine.view(np.uint32), cli.view(np.uint32)), "predict(X) != sisa predict"
try:
    a.predict(np.zeros((2, d + 1), dtype=np.float32))
    raise AssertionError("a wrong feature count was accepted")
except sisa.Error as e:
    assert "features" in str(e), str(e)
a.close()
print("test_python: ok")
sys.exit(0)
