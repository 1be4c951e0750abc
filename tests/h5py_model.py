"""Helper of tests/h5py_model.sh: make a dataset with h5py, or check sisa's checkpoints with the
numpy recipe documented in docs/formats.md (mlp, and cnn)."""
import json
import re
import sys

import h5py
import numpy as np


def make(path):
    rng = np.random.default_rng(5)
    n, d, c = 300, 6, 3
    y = np.arange(n) % c
    x = rng.normal(size=(n, d)) + np.eye(c, d)[y] * 2.0
    with h5py.File(path, "w") as f:
        f["features"] = x  # float64: sisa converts to float32
        f["labels"] = y.astype(np.int16)


def make_images(path):
    # 2-channel 8 x 4 images: the class is where a bright 2 x 2 patch sits (and which channel).
    rng = np.random.default_rng(7)
    n, c = 240, 3
    y = np.arange(n) % c
    x = rng.uniform(0, 0.3, size=(n, 2, 8, 4))
    for i in range(n):
        r, q = rng.integers(0, 3), rng.integers(0, 3)
        x[i, y[i] % 2, 2 * y[i] + r % 2:2 * y[i] + r % 2 + 2, q:q + 2] += 1.0
    with h5py.File(path, "w") as f:
        f["images"] = x.astype(np.float32)  # [n, 2, 8, 4]: import records feature_shape
        f["labels"] = y.astype(np.int32)


def forward_cnn(ckpt, x):
    # The cnn recipe of docs/formats.md.
    with h5py.File(ckpt, "r") as f:
        m = f["model"]
        convs = [(m[f"cw{l}"][...], m[f"cb{l}"][...]) for l in range(1, 99) if f"cw{l}" in m]
        dense = [(m[f"w{l}"][...], m[f"b{l}"][...]) for l in range(1, 99) if f"w{l}" in m]
        model = f.attrs["model"]
        model = model.decode() if isinstance(model, bytes) else str(model)
        assert model == "cnn 2x8x4 conv3x3 3-4 pool2 dense 8-5-3 relu", model
        c, h, w = map(int, re.match(r"cnn (\d+)x(\d+)x(\d+)", model).groups())
        pool = int(re.search(r" pool(\d+)", model).group(1))
        assert set(f["optim"].keys()) == {f"velocity.{k}" for k in m.keys()}
    assert [t[0].shape for t in convs] == [(18, 3), (27, 4)], [t[0].shape for t in convs]
    a = x.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
    for wt, b in convs:
        n, H, W, C = a.shape
        k = int(round((wt.shape[0] // C) ** 0.5))
        r = k // 2
        ap = np.pad(a, ((0, 0), (r, r), (r, r), (0, 0)))
        cols = np.concatenate([ap[:, dy:dy + H, dx:dx + W] for dy in range(k) for dx in range(k)],
                              3)
        a = np.maximum(cols @ wt + b, 0)
        a = a.reshape(n, H // pool, pool, W // pool, pool, -1).max((2, 4))
    a = a.reshape(len(a), -1)
    for i, (wt, b) in enumerate(dense):
        a = a @ wt + b
        if i < len(dense) - 1:
            a = np.maximum(a, 0)
    p = np.exp(a - a.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def check_cnn(status_path, data_path, pred_path):
    status = json.load(open(status_path))
    with h5py.File(data_path, "r") as f:
        assert list(f.attrs["feature_shape"]) == [2, 8, 4], f.attrs["feature_shape"]
        x = f["X"][...].astype(np.float64)
    n = 0
    with h5py.File(pred_path, "r") as pred:
        for s in status["shards"]:
            assert s["checkpoint"], s
            mine = forward_cnn(s["checkpoint"], x)
            theirs = pred[f"shards/{s['shard']:04d}"][...]
            err = np.abs(mine - theirs).max()
            assert err < 1e-5, (s["shard"], err)
            n += 1
        acc = (pred["label"][...] == np.arange(len(x)) % 3).mean()
        assert acc > 0.8, acc  # it learnt the patches
    print(f"h5py cnn recipe reproduces {n} shard models within 1e-5")


def forward(ckpt, x):
    # The recipe of docs/formats.md, verbatim in substance.
    with h5py.File(ckpt, "r") as f:
        layers = [(f[f"model/w{l}"][...], f[f"model/b{l}"][...])
                  for l in range(1, len(f["model"]) // 2 + 1)]
        assert f.attrs["sisa_format"] == "sisa-checkpoint", f.attrs["sisa_format"]
        assert str(f.attrs["model"]).startswith("mlp 6-16-8-3"), f.attrs["model"]
        assert len(f.attrs["lineage"]) == 64
        # single counters are scalars, not 1-element arrays
        for key in ("shard", "stage", "stages", "rows", "steps", "samples", "epochs"):
            assert np.ndim(f.attrs[key]) == 0, (key, f.attrs[key])
        assert int(f.attrs["stage"]) == int(f.attrs["stages"])
        # How it was trained, schedule included (the config of tests/h5py_model.sh).
        opt = f.attrs["optimizer"]
        opt = opt.decode() if isinstance(opt, bytes) else str(opt)
        assert opt.startswith("adam lr=0.00999999978 beta1=0.899999976 "), opt
        assert opt.endswith(" schedule=cosine final_lr_fraction=0.25"), opt
        assert set(f["optim"].keys()) == {f"{m}.{k}" for m in ("m", "v") for k in f["model"].keys()}
    a = x
    for i, (w, b) in enumerate(layers):
        a = a @ w + b
        if i < len(layers) - 1:
            a = np.maximum(a, 0)
    p = np.exp(a - a.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def check(status_path, data_path, pred_path):
    status = json.load(open(status_path))
    with h5py.File(data_path, "r") as f:
        x = f["X"][...].astype(np.float64)
    probs = []
    with h5py.File(pred_path, "r") as pred:
        assert pred.attrs["strategy"] == "mean"
        for s in status["shards"]:
            assert s["checkpoint"], s
            mine = forward(s["checkpoint"], x)
            theirs = pred[f"shards/{s['shard']:04d}"][...]
            err = np.abs(mine - theirs).max()
            assert err < 1e-5, (s["shard"], err)
            probs.append(theirs.astype(np.float64))
        ens = pred["proba"][...]
        assert np.abs(np.mean(probs, axis=0) - ens).max() < 1e-6
        assert (np.argmax(ens, 1) == pred["label"][...]).all()
    print(f"h5py recipe reproduces {len(probs)} shard models within 1e-5")


if __name__ == "__main__":
    {"make": make, "check": check, "make_images": make_images,
     "check_cnn": check_cnn}[sys.argv[1]](*sys.argv[2:])
