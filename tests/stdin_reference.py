#!/usr/bin/python3
"""'-' for standard input and standard output wherever sisa reads or writes a file.

Every route is compared with the same command on a file, on real Fashion-MNIST rows:
  - import idx --images - (and --labels -), import libsvm -, import h5 -: the same X, y and id
    as importing the file, with "standard input" in the source attribute;
  - info - and info --json -: the same description as info FILE, the path said as
    "standard input";
  - eval -i - and impact --queries -, on 1 and (under mpirun) 2 ranks: the same JSON, bit for
    bit, as with the file;
  - verify -o -: the certificate alone on standard output (the store gets no certificates
    folder), which audit --certificate - accepts; outliers -o -: the IDs file on standard
    output, which unlearn --ids-file - reads; gauge plan --forget-ids -: the same forget set.
And the refusals, each with its exit status: empty standard input (2), data that is not HDF5
(1), --images - with --labels - (2), --queries - with --ids-file - (2), eval -i - on unlabelled
data (2), -c - (2: a config is a file, the anchor of its relative paths, read by every rank). Every temporary copy of standard input is removed, and the reading commands leave the
store byte for byte as it was.
Usage: stdin_reference.py SISA_BINARY WORKDIR
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np
from reftools import FASHION_MNIST, Checks, Sisa, fashion_mnist, tree_digest, write_csv

SISA, WORK = sys.argv[1], sys.argv[2]
check = Checks()
sisa = Sisa(SISA, WORK)
N_TRAIN, N_TEST = 600, 200


def path(name):
    return os.path.join(WORK, name)


def piped(args, stdin_file=None, data=b"", expect=0, ranks=1):
    """sisa with a file's bytes (or `data`) on standard input; stdout and stderr are bytes."""
    if stdin_file is not None:
        with open(path(stdin_file), "rb") as f:
            data = f.read()
    return sisa(*args, stdin=data, expect=expect, ranks=ranks)


def same_rows(a, b):
    with h5py.File(path(a), "r") as x, h5py.File(path(b), "r") as z:
        keys = [k for k in ("X", "y", "id") if k in z]
        return all(k in x and np.array_equal(x[k][:], z[k][:]) for k in keys) and \
            x.attrs["num_classes"] == z.attrs["num_classes"]


def source_of(name):
    with h5py.File(path(name), "r") as f:
        s = f.attrs["source"]
        return s.decode() if isinstance(s, bytes) else str(s)


def store_digest():
    return tree_digest(path("store"))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(path("tmp"))
os.environ["TMPDIR"] = path("tmp")  # where the copies of standard input go (and must leave)

X = fashion_mnist("train-images-idx3-ubyte.gz", N_TRAIN)
y = fashion_mnist("train-labels-idx1-ubyte.gz", N_TRAIN)
Xt = fashion_mnist("t10k-images-idx3-ubyte.gz", N_TEST)
yt = fashion_mnist("t10k-labels-idx1-ubyte.gz", N_TEST)
write_csv(path("train.csv"), X, y, np.arange(N_TRAIN))
write_csv(path("test.csv"), Xt, yt, np.arange(1000, 1000 + N_TEST))
for name in ("train", "test"):
    sisa("import", "csv", f"{name}.csv", "--label", "label", "--id", "id", "--scale", "255",
         "--num-classes", "10", "-o", f"{name}.h5")
sisa("import", "csv", "test.csv", "--unlabelled", "--id", "id", "--scale", "255",
     "-o", "unlabelled.h5")

# ---- import ---------------------------------------------------------------------------------
images = os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz")
labels = os.path.join(FASHION_MNIST, "t10k-labels-idx1-ubyte.gz")
shutil.copy(images, path("images.gz"))
shutil.copy(labels, path("labels.gz"))
sisa("import", "idx", "--images", "images.gz", "--labels", "labels.gz", "--scale", "255",
     "-o", "idx-file.h5")
piped(["import", "idx", "--images", "-", "--labels", "labels.gz", "--scale", "255",
       "-o", "idx-in.h5"], "images.gz")
check(same_rows("idx-in.h5", "idx-file.h5") and "images=standard input" in source_of("idx-in.h5"),
      "import idx --images -: the rows of the file; the source says standard input")
piped(["import", "idx", "--images", "images.gz", "--labels", "-", "--scale", "255",
       "-o", "idx-lab.h5"], "labels.gz")
check(same_rows("idx-lab.h5", "idx-file.h5"), "import idx --labels -: the rows of the file")
r = piped(["import", "idx", "--images", "-", "--labels", "-", "-o", "idx-both.h5"], "labels.gz",
          expect=2)
check(b"at most one" in r.stderr and not os.path.exists(path("idx-both.h5")),
      "import idx --images - --labels -: exit 2, nothing written")
r = sisa("import", "idx", "--images", "images.gz", "--labels", "images.gz", "-o", "same.h5",
         expect=None)
check(r.returncode != 0 and "standard input" not in r.stderr,
      f"one file for --images and --labels is not taken for standard input ({r.stderr.strip()})")

with open(path("test.svm"), "w") as f:
    for i in range(N_TEST):
        nz = np.nonzero(Xt[i])[0]
        f.write(f"{yt[i]} " + " ".join(f"{j + 1}:{int(Xt[i, j])}" for j in nz) + "\n")
sisa("import", "libsvm", "test.svm", "--features", "784", "--scale", "255", "-o", "svm-file.h5")
piped(["import", "libsvm", "-", "--features", "784", "--scale", "255", "-o", "svm-in.h5"],
      "test.svm")
check(same_rows("svm-in.h5", "svm-file.h5") and source_of("svm-in.h5") == "libsvm standard input",
      "import libsvm - (read twice, from a copy): the rows of the file")

with h5py.File(path("plain.h5"), "w") as f:
    f["X"] = Xt.astype(np.float32) / 255
    f["y"] = yt.astype(np.int32)
sisa("import", "h5", "plain.h5", "-o", "h5-file.h5")
piped(["import", "h5", "-", "-o", "h5-in.h5"], "plain.h5")
check(same_rows("h5-in.h5", "h5-file.h5") and source_of("h5-in.h5").startswith("h5 standard input"),
      "import h5 -: the rows of the file")

# ---- info -----------------------------------------------------------------------------------
want = json.loads(sisa("info", "test.h5", "--json").stdout)
got = json.loads(piped(["info", "--json", "-"], "test.h5").stdout)
check(got.pop("path") == "standard input" and want.pop("path") == "test.h5" and got == want,
      "info --json -: the description of the file, the path said as standard input")
text = piped(["info", "-"], "test.h5").stdout.decode()
check("standard input" in text and "rows:        200" in text, "info - (text)")
r = piped(["info", "-"], data=b"", expect=2)
check(b"standard input is empty" in r.stderr, "info - with nothing piped in: exit 2")
r = piped(["info", "-"], "test.csv", expect=1)
check(b"standard input" in r.stderr and b"not an HDF5 file" in r.stderr,
      "info - on text: exit 1, not an HDF5 file")

# ---- a store: eval and impact ---------------------------------------------------------------
with open(path("c.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\n  test: test.h5\nstore: store\n"
            "sisa:\n  shards: 3\n  slices: 2\nmodel:\n  type: mlp\n  hidden: [16]\n"
            "train:\n  optimizer: adam\n  lr: 0.003\n  batch_size: 32\n  epochs: 2\n"
            "aggregate:\n  strategy: mean\n")
sisa("train", "-c", "c.yaml")
before = store_digest()
rank_counts = (1, 2) if sisa.mpi else (1,)

want = json.loads(sisa("eval", "-c", "c.yaml", "-i", "test.h5", "--json").stdout)
check(want.pop("input").endswith("test.h5"), "eval --json names its input")
for ranks in rank_counts:
    got = json.loads(piped(["eval", "-c", "c.yaml", "-i", "-", "--json"], "test.h5",
                           ranks=ranks).stdout)
    check(got.pop("input") == "standard input" and got == want,
          f"eval -i - on {ranks} rank(s): the same metrics as the file, bit for bit")
r = piped(["eval", "-c", "c.yaml", "-i", "-"], "unlabelled.h5", expect=2)
check(b"has no labels" in r.stderr, "eval -i - on unlabelled data: exit 2")

imp = ["impact", "-c", "c.yaml", "--ids", "3,4,5,77", "--json"]
want = sisa(*imp, "--queries", "test.h5").stdout
for ranks in rank_counts:
    got = piped([*imp, "--queries", "-"], "test.h5", ranks=ranks).stdout.decode()
    check(got == want, f"impact --queries - on {ranks} rank(s): the same result as the file")
r = piped(["impact", "-c", "c.yaml", "--ids-file", "-", "--queries", "-"], "test.h5", expect=2)
check(b"at most one" in r.stderr, "impact --queries - with --ids-file -: exit 2")
check(store_digest() == before, "reading from standard input left the store unchanged")

# ---- outputs: outliers -o -, verify -o -, audit --certificate - ------------------------------
sisa("outliers", "-c", "c.yaml", "--method", "iforest", "--contamination", "0.02",
     "-o", "ids.txt")
r = piped(["outliers", "-c", "c.yaml", "--method", "iforest", "--contamination", "0.02",
           "-o", "-"])
with open(path("ids.txt"), "rb") as f:
    check(r.stdout == f.read() and b"on standard output" in r.stderr,
          "outliers -o -: the IDs file on standard output, the summary on standard error")
piped(["unlearn", "-c", "c.yaml", "--ids-file", "-"], data=r.stdout)
after_unlearn = store_digest()
r = piped(["verify", "-c", "c.yaml", "-o", "-"])
cert = json.loads(r.stdout)
check(cert["verdict"] == "pass" and not os.path.exists(path("store/certificates")),
      "verify -o -: the certificate alone on standard output; the store gets none")
r = piped(["audit", "-c", "c.yaml", "--certificate", "-"], data=r.stdout)
check(b"verdict: pass" in r.stdout, "audit --certificate -: the certificate's head is checked")
check(store_digest() == after_unlearn, "verify -o - and audit left the store unchanged")

# ---- gauge plan --forget-ids - --------------------------------------------------------------
with open(path("forget.txt"), "w") as f:
    f.write("# forget\n" + "".join(f"{i}\n" for i in range(0, 60, 3)))
gauge = ["gauge", "plan", "-c", "c.yaml", "--models", "3"]
sisa(*gauge, "-o", "g-file", "--forget-ids", "forget.txt")
piped([*gauge, "-o", "g-in", "--forget-ids", "-"], "forget.txt")
with open(path("g-file/forget.txt")) as a, open(path("g-in/forget.txt")) as b:
    check(a.read() == b.read(), "gauge plan --forget-ids -: the forget set of the file")

r = piped(["config", "check", "-c", "-"], "c.yaml", expect=2)
check(b"not standard input" in r.stderr, "-c -: exit 2, a config is a file")

check(os.listdir(path("tmp")) == [], "every copy of standard input was removed")
check.finish()
