#!/usr/bin/python3
"""sisa predict on new data in every input form, and import without labels, through the binary.

A 3-shard MLP store is trained on 600 Fashion-MNIST rows imported from CSV with --scale 255
(so the training data records its feature column names and its scale). The reference is
`sisa predict` on 200 test rows imported the usual way (labelled, --scale 255). Then every other
way of giving the same rows must predict exactly the same bits (labels, IDs, float32
posteriors):
  - CSV read directly, columns shuffled, with the label column and an extra text column (both
    ignored), IDs from --id; HDF5 output, CSV output to a file and to standard output ('-o -');
    on 1 and, under mpirun, 2 ranks;
  - CSV, libsvm (--input-format) and a sisa dataset file on standard input ('-i -'), and
    `import csv -` (plain and gzipped) = importing the file;
  - libsvm read directly, with and without leading labels (IDs are the row numbers);
  - a plain HDF5 matrix (uint8 pixels, N x 28 x 28, and an id dataset), default and --x/--id
    names;
  - datasets imported with --unlabelled from CSV, libsvm, HDF5 and IDX (info --json says
    labelled false, 0 classes, the feature names and the scale);
  - --scale overrides the training data's scale (1 changes the predictions).
And the refusals, each with its exit status and a message naming the problem: train and eval on
an unlabelled dataset (2), a CSV missing a training column (2, naming it), a libsvm index past
the store's features (1), a matrix of the wrong width (1), --label with --unlabelled (2), an
unknown input kind (2), --json with -o - (2). The predict scratch folder is removed and the
store is byte for byte unchanged by all of it.
Usage: predict_input_reference.py SISA_BINARY WORKDIR
"""
import csv
import gzip
import io
import json
import os
import shutil
import sys

import h5py
import numpy as np
from reftools import Checks, Sisa, fashion_mnist, tree_digest, write_csv

SISA, WORK = sys.argv[1], sys.argv[2]
check = Checks()
sisa = Sisa(SISA, WORK)
N_TRAIN, N_TEST = 600, 200


def path(name):
    return os.path.join(WORK, name)


def h5_pred(name):
    with h5py.File(path(name), "r") as f:
        return f["id"][:], f["label"][:], f["proba"][:]


def csv_pred(text):
    rows = list(csv.reader(io.StringIO(text)))
    head, body = rows[0], rows[1:]
    ok = head[:2] == ["id", "label"] and head[2:] == [f"p{c}" for c in range(10)]
    ids = np.array([int(r[0]) for r in body], np.uint64)
    labels = np.array([int(r[1]) for r in body], np.int32)
    proba = np.array([[np.float32(v) for v in r[2:]] for r in body], np.float32)
    return ok, (ids, labels, proba)


def same(a, b):
    """Same IDs, labels and posterior bits."""
    return (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and
            a[2].shape == b[2].shape and a[2].tobytes() == b[2].tobytes())


def store_digest():
    return tree_digest(path("store"))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(path("tmp"))
os.environ["TMPDIR"] = path("tmp")  # where predict's scratch folders go (and must leave)

X = fashion_mnist("train-images-idx3-ubyte.gz", N_TRAIN)
y = fashion_mnist("train-labels-idx1-ubyte.gz", N_TRAIN)
Xt = fashion_mnist("t10k-images-idx3-ubyte.gz", N_TEST)
yt = fashion_mnist("t10k-labels-idx1-ubyte.gz", N_TEST)
test_ids = np.arange(1000, 1000 + N_TEST)
write_csv(path("train.csv"), X, y, np.arange(N_TRAIN))
write_csv(path("test.csv"), Xt, yt, test_ids)
sisa("import", "csv", "train.csv", "--label", "label", "--id", "id", "--scale", "255",
     "--num-classes", "10", "-o", "train.h5")
sisa("import", "csv", "test.csv", "--label", "label", "--id", "id", "--scale", "255",
     "--num-classes", "10", "-o", "test.h5")
with open(path("c.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\n  test: test.h5\nstore: store\n"
            "sisa:\n  shards: 3\n  slices: 2\nmodel:\n  type: mlp\n  hidden: [16]\n"
            "train:\n  optimizer: adam\n  lr: 0.003\n  batch_size: 32\n  epochs: 2\n"
            "aggregate:\n  strategy: mean\n")
sisa("train", "-c", "c.yaml")
before = store_digest()

info = json.loads(sisa("info", "train.h5", "--json").stdout)
check(info["labelled"] is True and info["scale"] == 255 and
      info["feature_names"] == [f"p{j}" for j in range(784)],
      "the training import records its scale and its feature column names (info --json)")

sisa("predict", "-c", "c.yaml", "-i", "test.h5", "-o", "ref.h5")
ref = h5_pred("ref.h5")
check(np.array_equal(ref[0], test_ids.astype(np.uint64)), "the reference has the test IDs")

# CSV read directly: shuffled columns, the label and a text column present but ignored.
order = np.random.default_rng(7).permutation(784)
with open(path("new.csv"), "w") as f:
    f.write("note,label," + ",".join(f"p{j}" for j in order) + ",id\n")
    for i in range(N_TEST):
        f.write(f"\"row {i}, new\",{yt[i]}," + ",".join(str(int(Xt[i, j])) for j in order) +
                f",{test_ids[i]}\n")
r = sisa("predict", "-c", "c.yaml", "-i", "new.csv", "--id", "id", "-o", "csv.h5", "--json")
out = json.loads(r.stdout)
check(out["input_format"] == "csv" and out["format"] == "h5" and out["rows"] == N_TEST,
      f"predict --json names the input and output formats ({r.stdout.strip()})")
check(same(h5_pred("csv.h5"), ref), "CSV with shuffled columns = the imported dataset, bit for bit")
sisa("predict", "-c", "c.yaml", "-i", "new.csv", "--id", "id", "-o", "csv.csv")
with open(path("csv.csv")) as f:
    ok, got = csv_pred(f.read())
check(ok and same(got, ref), "CSV in, CSV out (file): the same IDs, labels and float32 bits")
r = sisa("predict", "-c", "c.yaml", "-i", "new.csv", "--id", "id", "-o", "-")
ok, got = csv_pred(r.stdout)
check(ok and same(got, ref), "CSV in, CSV on standard output: the same bits")
with open(path("new.csv")) as f:
    r = sisa("predict", "-c", "c.yaml", "-i", "-", "--id", "id", "-o", "-", stdin=f.read())
ok, got = csv_pred(r.stdout)
check(ok and same(got, ref), "CSV on standard input ('-i -'), CSV on standard output: the same bits")
if sisa.mpi:
    sisa("predict", "-c", "c.yaml", "-i", "new.csv", "--id", "id", "-o", "csv2.h5", ranks=2)
    check(same(h5_pred("csv2.h5"), ref), "CSV input on 2 ranks: the same bits")

# libsvm read directly (IDs are row numbers), with and without leading labels.
ref_rows = (np.arange(N_TEST, dtype=np.uint64), ref[1], ref[2])
for labelled in (True, False):
    name = f"new{int(labelled)}.svm"
    with open(path(name), "w") as f:
        for i in range(N_TEST):
            pairs = " ".join(f"{j + 1}:{int(v)}" for j, v in enumerate(Xt[i]) if v)
            f.write((f"{yt[i]} " if labelled else "") + pairs + "\n")
    sisa("predict", "-c", "c.yaml", "-i", name, "-o", f"svm{int(labelled)}.h5")
    check(same(h5_pred(f"svm{int(labelled)}.h5"), ref_rows),
          f"libsvm {'with' if labelled else 'without'} labels = the imported dataset, bit for bit")
with open(path("new0.svm")) as f:
    sisa("predict", "-c", "c.yaml", "-i", "-", "--input-format", "libsvm", "-o", "svm-in.h5",
         stdin=f.read())
check(same(h5_pred("svm-in.h5"), ref_rows), "libsvm on standard input (--input-format libsvm)")

# A plain HDF5 matrix: uint8 images and IDs.
with h5py.File(path("plain.h5"), "w") as f:
    f["X"] = Xt.reshape(-1, 28, 28)
    f["id"] = test_ids.astype(np.uint64)
    f["pixels"] = Xt
    f["keys"] = test_ids.astype(np.int64)
sisa("predict", "-c", "c.yaml", "-i", "plain.h5", "-o", "plain-out.h5")
check(same(h5_pred("plain-out.h5"), ref), "a plain HDF5 matrix (X, id) = the imported dataset")
sisa("predict", "-c", "c.yaml", "-i", "plain.h5", "--x", "pixels", "--id", "keys",
     "-o", "plain-named.csv")
with open(path("plain-named.csv")) as f:
    ok, got = csv_pred(f.read())
check(ok and same(got, ref), "a plain HDF5 matrix by --x/--id names = the imported dataset")

# Imported without labels, from each format: an input to predict.
with open(path("nolabel.csv"), "w") as f:
    f.write("id," + ",".join(f"p{j}" for j in range(784)) + "\n")
    for i in range(N_TEST):
        f.write(f"{test_ids[i]}," + ",".join(str(int(v)) for v in Xt[i]) + "\n")
with gzip.open(path("imgs.gz"), "wb") as f:
    f.write(bytes([0, 0, 8, 3, 0, 0, 0, N_TEST, 0, 0, 0, 28, 0, 0, 0, 28]) + Xt.tobytes())
imports = {
    "csv": ["csv", "nolabel.csv", "--unlabelled", "--id", "id"],
    "libsvm": ["libsvm", "new1.svm", "--unlabelled", "--features", "784"],
    "h5": ["h5", "plain.h5", "--unlabelled"],
    "idx": ["idx", "--images", "imgs.gz", "--unlabelled"],
}
for fmt, args in imports.items():
    sisa("import", *args, "--scale", "255", "-o", f"u-{fmt}.h5")
    info = json.loads(sisa("info", f"u-{fmt}.h5", "--json").stdout)
    check(info["labelled"] is False and info["num_classes"] == 0 and info["class_counts"] == []
          and info["scale"] == 255 and info["rows"] == N_TEST,
          f"import {fmt} --unlabelled: info --json says labelled false, 0 classes, scale 255")
    sisa("predict", "-c", "c.yaml", "-i", f"u-{fmt}.h5", "-o", f"u-{fmt}-out.h5")
    want = ref if fmt in ("csv", "h5") else ref_rows
    check(same(h5_pred(f"u-{fmt}-out.h5"), want),
          f"predict on the unlabelled {fmt} import = the labelled import, bit for bit")
# A dataset imported from a CSV whose columns are in another order is refused by name (its
# features would land in the wrong places), with the way out.
with open(path("shuffled.csv"), "w") as f:
    f.write("id," + ",".join(f"p{j}" for j in order) + "\n")
    for i in range(N_TEST):
        f.write(f"{test_ids[i]}," + ",".join(str(int(Xt[i, j])) for j in order) + "\n")
sisa("import", "csv", "shuffled.csv", "--unlabelled", "--id", "id", "--scale", "255",
     "-o", "u-shuffled.h5")
info = json.loads(sisa("info", "u-shuffled.h5", "--json").stdout)
check(info["feature_names"] == [f"p{j}" for j in order],
      "an unlabelled CSV import records its feature columns, in the file's order")
r = sisa("predict", "-c", "c.yaml", "-i", "u-shuffled.h5", "-o", "s.h5", expect=2)
check(f"column 'p{order[0]}'" in r.stderr and "Predict the CSV file itself" in r.stderr and
      not os.path.exists(path("s.h5")),
      f"a dataset whose columns are not the training order: exit 2 ({r.stderr.strip()[:120]})")
sisa("predict", "-c", "c.yaml", "-i", "shuffled.csv", "--id", "id", "-o", "s.h5")
check(same(h5_pred("s.h5"), ref), "... and its CSV file, read by name, predicts the reference")
text = sisa("info", "u-idx.h5").stdout
check("none (unlabelled" in text, "info (text) says an unlabelled dataset has no classes")

# import csv reads standard input too ('-'), plain or gzipped.
with open(path("test.csv"), "rb") as f:
    raw = f.read()
for name, data in (("stdin", raw), ("stdin-gz", gzip.compress(raw))):
    r = sisa("import", "csv", "-", "--label", "label", "--id", "id", "--scale", "255",
             "--num-classes", "10", "-o", f"{name}.h5", stdin=data, expect=None)
    with h5py.File(path(f"{name}.h5")) as a, h5py.File(path("test.h5")) as b:
        ok = r.returncode == 0 and all(np.array_equal(a[k][:], b[k][:]) for k in ("X", "y", "id"))
    check(ok, f"import csv - ({name}): the same rows as importing the file")

# --scale overrides the training data's scale.
sisa("predict", "-c", "c.yaml", "-i", "plain.h5", "--scale", "1", "-o", "raw.h5")
check(h5_pred("raw.h5")[2].tobytes() != ref[2].tobytes(),
      "--scale 1 reads the raw pixels: the posteriors change")

# Refusals.
with open(path("u.yaml"), "w") as f:
    f.write(open(path("c.yaml")).read().replace("train: train.h5", "train: u-idx.h5")
            .replace("store: store", "store: store-u"))
r = sisa("train", "-c", "u.yaml", expect=2)
check("has no labels" in r.stderr and "u-idx.h5" in r.stderr and
      not os.path.exists(path("store-u/manifest")),
      f"train on an unlabelled dataset: exit 2, named ({r.stderr.strip()[:160]})")
r = sisa("eval", "-c", "c.yaml", "-i", "u-csv.h5", expect=2)
check("has no labels" in r.stderr, "eval on an unlabelled dataset: exit 2")
with open(path("missing.csv"), "w") as f:
    f.write(",".join(f"p{j}" for j in range(784) if j != 5) + "\n")
    f.write(",".join("0" for _ in range(783)) + "\n")
r = sisa("predict", "-c", "c.yaml", "-i", "missing.csv", "-o", "m.h5", expect=2)
check("no column 'p5'" in r.stderr and "training data" in r.stderr and
      not os.path.exists(path("m.h5")),
      f"a CSV without a training column: exit 2, naming it ({r.stderr.strip()[:160]})")
with open(path("wide.svm"), "w") as f:
    f.write("1:1 785:2\n")
r = sisa("predict", "-c", "c.yaml", "-i", "wide.svm", "-o", "w.h5", expect=1)
check("785" in r.stderr and not os.path.exists(path("w.h5")),
      "a libsvm index past the store's 784 features: exit 1, named")
with h5py.File(path("narrow.h5"), "w") as f:
    f["X"] = np.zeros((3, 10), np.float32)
r = sisa("predict", "-c", "c.yaml", "-i", "narrow.h5", "-o", "n.h5", expect=1)
check("10 features" in r.stderr and "784" in r.stderr, "a matrix of the wrong width: exit 1")
r = sisa("import", "csv", "test.csv", "--label", "label", "--unlabelled", "-o", "x.h5", expect=2)
check("contradict" in r.stderr and not os.path.exists(path("x.h5")),
      "import --label with --unlabelled: exit 2")
with open(path("rows.dat"), "w") as f:
    f.write("1,2\n")
r = sisa("predict", "-c", "c.yaml", "-i", "rows.dat", "-o", "d.h5", expect=2)
check("--input-format" in r.stderr, "an input of unknown kind: exit 2, pointing to --input-format")
r = sisa("predict", "-c", "c.yaml", "-i", "new.csv", "-o", "-", "--json", expect=2)
check("standard output" in r.stderr, "--json with -o -: exit 2")

with open(path("test.h5"), "rb") as f:
    r = sisa("predict", "-c", "c.yaml", "-i", "-", "-o", "stdin-ds.h5", stdin=f.read(),
             expect=None)
check(r.returncode == 0 and same(h5_pred("stdin-ds.h5"), ref),
      "a sisa dataset on standard input (HDF5 by its content): the same bits")
check(os.listdir(path("tmp")) == [], "every predict scratch folder was removed")
check(store_digest() == before, "the store is byte for byte unchanged")
check.finish()
