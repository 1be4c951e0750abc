#!/usr/bin/env python3
"""dataset_digest.py FILE: print the v1 and the v2 digest of a sisa dataset file, one per line.

An independent computation of docs/formats.md "Dataset digest" (hashlib over h5py's arrays),
which tests/test_stream.c compares with sisa's own (src/io/dsdigest.c).
"""
import hashlib
import struct
import sys

import h5py
import numpy as np

B = 1024  # rows per v2 block

with h5py.File(sys.argv[1], "r") as f:
    X = np.ascontiguousarray(f["X"][...], dtype="<f4")
    y = np.ascontiguousarray(f["y"][...], dtype="<i4")
    ids = np.ascontiguousarray(f["id"][...], dtype="<u8")
    g = np.ascontiguousarray(f["group"][...], dtype="<u8") if "group" in f else None
    risk = np.ascontiguousarray(f["risk"][...], dtype="u1") if "risk" in f else None
n, d = X.shape


def cols(a, b):
    return (y[a:b].tobytes() + ids[a:b].tobytes() + (g[a:b].tobytes() if g is not None else b"")
            + (risk[a:b].tobytes() if risk is not None else b""))


v1 = hashlib.sha256(b"sisa-dataset-v1" + struct.pack("<QQ", n, d) + X.tobytes() + cols(0, n))
leaves = b"".join(hashlib.sha256(X[a:a + B].tobytes() + cols(a, a + B)).digest()
                  for a in range(0, n, B))
v2 = hashlib.sha256(b"sisa-dataset-v2" + struct.pack("<QQQB", n, d, B, (g is not None) | (risk is not None) << 1) + leaves)
print(v1.hexdigest())
print(v2.hexdigest())
