#!/usr/bin/env python3
"""torch_cnn.py DATA.h5 [EPOCHS] [BATCH]: PyTorch's training loop on the default cnn of sisa.

The net of configs/fashion-mnist-cnn.yaml: two 3x3 convolutions (32 and 64 channels, stride 1,
padding 1), each with ReLU and 2x2 max pooling, a dense layer of 128 units with ReLU and one to
10 classes; Adam (lr 1e-3), batch 128 by default, one thread, float32, over a sisa dataset file
read with h5py (rows reshaped to 1x28x28). Each epoch visits a fresh random permutation, each
batch gathered with index_select (no DataLoader). The layout is PyTorch's default, channels
first (NCHW); with --layouts the script also runs channels_last, to compare. Prints samples/s
over wall time and per CPU second, and the last epoch's loss.
"""
import sys
import time

import h5py
import numpy as np
import torch

args = [a for a in sys.argv[1:] if not a.startswith("--")]
path = args[0]
epochs = int(args[1]) if len(args) > 1 else 1
B = int(args[2]) if len(args) > 2 else 128
layouts = ["nchw", "channels_last"] if "--layouts" in sys.argv else ["nchw"]
torch.set_num_threads(1)
with h5py.File(path, "r") as f:
    X = torch.from_numpy(np.ascontiguousarray(f["X"][...], dtype=np.float32)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.ascontiguousarray(f["y"][...]).astype(np.int64))
n = X.shape[0]


def net():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


for layout in layouts:
    torch.manual_seed(42)
    model = net()
    xs = X
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        xs = X.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for e in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for b0 in range(0, n, B):
            idx = perm[b0:b0 + B]
            xb = xs.index_select(0, idx)
            if layout == "channels_last":
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
    t = time.perf_counter() - t0
    c = time.process_time() - c0
    print(f"torch {torch.__version__} {layout}: {epochs * n / t:.0f} samples/s, "
          f"{epochs * n / c:.0f} per CPU s ({epochs} epoch(s) of {n} rows in {t:.2f} s, "
          f"batch {B}, threads {torch.get_num_threads()}, last epoch loss {total / n:.4f})")
