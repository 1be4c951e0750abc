"""Helper of tests/h5py_model.sh: make a dataset with h5py, or check sisa's checkpoints with the
numpy recipe documented in docs/formats.md."""
import json
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
    {"make": make, "check": check}[sys.argv[1]](*sys.argv[2:])
