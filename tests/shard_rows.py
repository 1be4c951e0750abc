#!/usr/bin/env python3
"""shard_rows.py DATASET SEED SHARDS SLICES SHARDING [DELETED_IDS]: the rows each shard must hold.

An independent computation of docs/formats.md "Assignment" and "Shard data" that
tests/test_verify.c compares with both implementations in sisa: the training partition
(shard/partition.c, through the store's data files) and verify's rebuild (shard/verify.c), which
is written apart from partition.c on purpose. Nothing here calls sisa.

  shard = H(seed, key, 0) mod S, key = the row's ID (sharding: id) or its group (group)
  slice = H(seed, id, 1) mod R
  SHARDING "tiered:S0,S1L,...:id|group" (sharding: tiered, sisa.tiers' shards in tier order, L
  for last_slice, then sisa.tier_key): a row of risk tier t (the dataset's risk column) goes to
  shard offset(t) + H(seed, key, 0) mod S_t, offset(t) = S_0 + ... + S_(t-1), and to slice R - 1
  in an L tier, else H(seed, id, 1) mod R
  H(seed, v, tag) = words (2 tag, 2 tag + 1) of Philox4x32-10 with key (lo32 seed, hi32 seed) and
                    counter (lo32 v, hi32 v, 0, 3 << 24), as a little-endian 64-bit number

A shard's rows are those assigned to it, minus the deleted IDs (a comma-separated list), sorted by
ID. For each shard the script prints one line: "k rows sha256", the hash over its rows in that
order of id (u64), slice (i32), y (i32) and the features (f32), all little-endian.
"""
import hashlib
import struct
import sys

import h5py
import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


# Random123's published known answers: the implementation above is Philox4x32-10.
assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
assert philox4x32_10((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) \
    == (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def keyed(seed, v, tag):
    out = philox4x32_10((v & MASK, v >> 32, 0, 3 << 24), (seed & MASK, seed >> 32))
    return out[2 * tag] | out[2 * tag + 1] << 32


path, seed, S, R, sharding = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5]
deleted = {int(v) for v in sys.argv[6].split(",") if v} if len(sys.argv) > 6 else set()
with h5py.File(path, "r") as f:
    X = np.ascontiguousarray(f["X"][...], dtype="<f4")
    y = np.ascontiguousarray(f["y"][...], dtype="<i4")
    ids = [int(v) for v in f["id"][...]]
    groups = [int(v) for v in f["group"][...]] if "group" in f else [0] * len(ids)
    risk = [int(v) for v in f["risk"][...]] if "risk" in f else None

tiers = None
if sharding.startswith("tiered:"):
    _, spec, tier_key = sharding.split(":")
    tiers = [(int(t.rstrip("L")), t.endswith("L")) for t in spec.split(",")]
    assert sum(t[0] for t in tiers) == S and risk is not None
    sharding = tier_key

rows = [[] for _ in range(S)]
for i, rid in enumerate(ids):
    if rid in deleted:
        continue
    h0 = keyed(seed, groups[i] if sharding == "group" else rid, 0)
    s = keyed(seed, rid, 1) % R
    if tiers is None:
        k = h0 % S
    else:
        t = risk[i]
        k = sum(n for n, _ in tiers[:t]) + h0 % tiers[t][0]
        if tiers[t][1]:
            s = R - 1
    rows[k].append((rid, s, i))
for k in range(S):
    h = hashlib.sha256()
    for rid, s, i in sorted(rows[k]):
        h.update(struct.pack("<Qii", rid, s, int(y[i])) + X[i].tobytes())
    print(k, len(rows[k]), h.hexdigest())
