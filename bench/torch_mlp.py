#!/usr/bin/env python3
"""torch_mlp.py DATA.h5 [EPOCHS]: PyTorch's training loop on the net sisa's benchmark trains.

MLP 784-256-10 (ReLU), Adam (lr 1e-3), batch 128, one thread, over a sisa dataset file read
with h5py; each epoch visits a fresh random permutation, each batch gathered with index_select
(PyTorch's fastest idiom for in-memory data: no DataLoader). Prints the loop's samples/s (the
whole loop: permutation, gather, forward, backward, step), the same per second of the process's
CPU time (what the loop gets from its core on a shared machine), and the last epoch's loss.
Run it with glibc's malloc thresholds raised (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_),
as bench/train_speed.sh does, so that PyTorch's per-step buffers are reused, not mapped anew.
"""
import sys
import time

import h5py
import numpy as np
import torch

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(1)
torch.manual_seed(42)
with h5py.File(path, "r") as f:
    X = torch.from_numpy(np.ascontiguousarray(f["X"][...], dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(f["y"][...]).astype(np.int64))
n, d = X.shape
net = torch.nn.Sequential(torch.nn.Linear(d, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
B = 128
t0 = time.perf_counter()
c0 = time.process_time()
for e in range(epochs):
    perm = torch.randperm(n)
    total = 0.0
    for b0 in range(0, n, B):
        idx = perm[b0:b0 + B]
        xb = X.index_select(0, idx)
        yb = y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
t = time.perf_counter() - t0
c = time.process_time() - c0
print(f"torch {torch.__version__}: {epochs * n / t:.0f} samples/s, {epochs * n / c:.0f} per CPU s "
      f"({epochs} epochs of {n} rows in {t:.2f} s, threads {torch.get_num_threads()}, "
      f"last epoch loss {total / n:.4f})")
