"""What the *_reference.py tests share: checks, running the sisa binary, Fashion-MNIST rows.

A test imports it from its own folder (Python puts the script's folder on sys.path):
    from reftools import Checks, Sisa, fashion_mnist, write_csv
"""
import gzip
import hashlib
import os
import subprocess
import sys

import numpy as np

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


class Checks:
    """Named checks: each prints ok/FAIL; finish() exits non-zero when any failed."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    def finish(self):
        if self.failures:
            sys.exit(f"{len(self.failures)} check(s) failed")
        print("all checks passed")


class Sisa:
    """The sisa binary run in a work folder; ranks > 1 under $SISA_MPIEXEC (mpirun)."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.mpi = os.environ.get("SISA_MPIEXEC", "")

    def __call__(self, *args, expect=0, ranks=1, stdin=None, env=None):
        """stdin: text, or bytes (then stdout and stderr are bytes too)."""
        binary = isinstance(stdin, bytes)
        cmd = [self.binary, *args] if ranks == 1 else [self.mpi, "-n", str(ranks), self.binary,
                                                       *args]
        full = dict(os.environ, **(env or {}))
        if ranks > 1:  # Open MPI's own allocations are not leak-checked (as in testutil.c)
            full["ASAN_OPTIONS"] = ":".join(filter(None, [full.get("ASAN_OPTIONS"),
                                                          "detect_leaks=0"]))
        r = subprocess.run(cmd, cwd=self.work, capture_output=True, text=not binary, env=full,
                           input=stdin)
        if expect is not None and r.returncode != expect:
            out, err = (r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")) \
                if binary else (r.stdout, r.stderr)
            sys.exit(f"{' '.join(cmd)}: exit {r.returncode}, expected {expect}\n{out}{err}")
        return r


def fashion_mnist(name, n):
    """The first n rows of a Fashion-MNIST IDX file: images (n, 784) or labels (n), uint8."""
    with gzip.open(os.path.join(FASHION_MNIST, name)) as f:
        data = f.read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 784)[:n]
    return np.frombuffer(data, np.uint8, offset=8)[:n]


def write_csv(path, X, y, ids, groups=None):
    """A CSV for sisa import csv: id, [subject,] label, then the features p0, p1, ..."""
    with open(path, "w") as f:
        f.write("id," + ("subject," if groups is not None else "") + "label," +
                ",".join(f"p{j}" for j in range(X.shape[1])) + "\n")
        for i in range(len(y)):
            g = f"{groups[i]}," if groups is not None else ""
            f.write(f"{ids[i]},{g}{y[i]}," + ",".join(str(int(v)) for v in X[i]) + "\n")


def tree_digest(path):
    """SHA-256 over every file's path and bytes under `path`, in a fixed order."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(p.encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()
