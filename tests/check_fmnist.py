#!/usr/bin/python3
"""Independent check of a Fashion-MNIST dataset file written by `sisa import idx --scale 255`.

Usage: /usr/bin/python3 check_fmnist.py OUT.h5 IMAGES.gz LABELS.gz N

Decodes the IDX files itself (gzip + numpy, none of sisa's code) and compares the WHOLE file:
X == float32(pixel) / float32(255) bit for bit, y == labels, id == 0..N-1, the schema's
attributes, and that `h5dump -H` (HDF5's own tool) reads the file and lists X, y and id.
Prints "check_fmnist: OK" and exits 0, or raises (exit 1) naming the first difference.
"""
import gzip
import subprocess
import sys

import h5py
import numpy as np


def read_idx(path, want_rank):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08, f"{path}: not an unsigned-byte IDX file"
    rank = raw[3]
    assert rank == want_rank, f"{path}: rank {rank}, expected {want_rank}"
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    assert data.size == int(np.prod(dims)), f"{path}: {data.size} values for dims {dims}"
    return data.reshape(dims)


def first_difference(a, b):
    idx = np.argwhere(a != b)[0]
    return tuple(int(i) for i in idx), a[tuple(idx)], b[tuple(idx)]


def main():
    out, images, labels, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    img = read_idx(images, 3)
    lab = read_idx(labels, 1)
    assert img.shape == (n, 28, 28), f"images have shape {img.shape}"
    assert lab.shape == (n,), f"labels have shape {lab.shape}"

    with h5py.File(out, "r") as f:
        X, y, ids = f["X"], f["y"], f["id"]
        assert X.dtype == np.float32 and X.shape == (n, 784), f"X is {X.dtype} {X.shape}"
        assert y.dtype == np.int32 and y.shape == (n,), f"y is {y.dtype} {y.shape}"
        assert ids.dtype == np.uint64 and ids.shape == (n,), f"id is {ids.dtype} {ids.shape}"
        assert "group" not in f, "unexpected group column"

        want = img.reshape(n, 784).astype(np.float32) / np.float32(255)
        got = X[...]
        if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            where, g, w = first_difference(got.view(np.uint32), want.view(np.uint32))
            raise AssertionError(f"X{where}: bits {g:#x}, expected {w:#x}")
        got_y = y[...]
        if not np.array_equal(got_y, lab.astype(np.int32)):
            raise AssertionError("y differs at %s: %s vs %s" % first_difference(got_y, lab))
        if not np.array_equal(ids[...], np.arange(n, dtype=np.uint64)):
            raise AssertionError("id is not 0..N-1")

        a = f.attrs
        assert int(a["num_classes"]) == 10, f"num_classes {a['num_classes']}"
        fmt = a["sisa_format"]
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        assert fmt == "sisa-dataset", f"sisa_format {fmt!r}"
        assert int(a["sisa_format_version"]) == 1, f"version {a['sisa_format_version']}"
        assert list(a["feature_shape"]) == [28, 28], f"feature_shape {a['feature_shape']}"
        assert "label_values" not in a, "unexpected label_values"
        counts = np.bincount(got_y, minlength=10)
        assert (counts == n // 10).all(), f"class counts {counts}"

    dump = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    assert dump.returncode == 0, f"h5dump -H exited {dump.returncode}: {dump.stderr}"
    for name in ("X", "y", "id"):
        assert f'DATASET "{name}"' in dump.stdout, f"h5dump -H does not list {name}"
    print("check_fmnist: OK")


if __name__ == "__main__":
    main()
