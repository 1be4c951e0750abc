#!/usr/bin/python3
"""The cost of a deletion before committing it, unlearn --json, JSON errors, and sisa log.

A 3-shard x 3-slice MLP store of 900 Fashion-MNIST rows:
  - `unlearn --dry-run` names each shard's cost in sample visits; the real deletion then spends
    exactly that many (per shard and in total), and the dry run's fraction is that total over
    training the whole store from scratch;
  - the wall-time estimate comes from the store's measured speed (STORE/timing, written by
    train and updated by each deletion) and is within a factor 10 of the deletion's own
    retraining time; without STORE/timing there is no estimate (null), and nothing fails;
  - a kNN store's plan costs nothing;
  - `--json` prints exactly one JSON object with the documented keys (docs/json.md), for a dry
    run and a real deletion; with `--json` an error is also a JSON object on stdout
    ({"error": {"code", "name", "exit", "message"}}) and the exit status is the same;
  - `sisa log` lists every request with its rows, shards, planned and spent sample visits, wall
    time and certificate verdict (text and --json, --since), and answers --was-deleted ID and
    --group G from the ledger (yes with the request, or no), a subject's rows included.
Usage: cost_reference.py SISA_BINARY WORKDIR
"""
import json
import os
import re
import shutil
import sys

import h5py
import numpy as np
from reftools import Checks, Sisa, fashion_mnist, write_csv

SISA, WORK = sys.argv[1], sys.argv[2]
check = Checks()
sisa = Sisa(SISA, WORK)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
X = fashion_mnist("train-images-idx3-ubyte.gz", 900)
y = fashion_mnist("train-labels-idx1-ubyte.gz", 900)
write_csv(os.path.join(WORK, "train.csv"), X, y, np.arange(900),
          groups=np.arange(900) // 3)  # three rows per data subject
sisa("import", "csv", "train.csv", "--label", "label", "--id", "id", "--group", "subject",
     "--scale", "255", "-o", "train.h5")
with open(os.path.join(WORK, "m.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\nstore: m\nsisa:\n  shards: 3\n  slices: 3\n"
            "model:\n  type: mlp\n  hidden: [32]\ntrain:\n  optimizer: adam\n  lr: 0.003\n"
            "  batch_size: 32\n  epochs: 4\n")
with open(os.path.join(WORK, "k.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\nstore: k\nsisa:\n  shards: 3\n  slices: 3\n"
            "model:\n  type: knn\naggregate:\n  strategy: merge\n")
t = json.loads(sisa("train", "-c", "m.yaml", "--json").stdout)
check(set(t) == {"store", "store_id", "config_hash", "shards", "slices", "rows",
                 "shards_trained", "empty_shards", "samples", "ranks", "seconds",
                 "train_seconds", "peak_rss"} and t["rows"] == 900 and t["shards_trained"] == 3
      and t["samples"] > 0 and len(t["peak_rss"]) == 1, "train --json: the documented keys")
sisa("train", "-c", "k.yaml")
with open(os.path.join(WORK, "m", "timing")) as f:
    timing = json.load(f)
check(timing["samples"] > 0 and timing["seconds"] > 0,
      f"sisa train records the store's speed: {timing}")

IDS = "3,400,401,899"
dry_text = sisa("unlearn", "-c", "m.yaml", "--ids", IDS, "--dry-run").stdout
r = sisa("unlearn", "-c", "m.yaml", "--ids", IDS, "--dry-run", "--json")
dry = json.loads(r.stdout)
keys = {"request", "dry_run", "nothing", "rows", "subjects", "already_ids", "already_groups",
        "model", "store", "origin", "shards", "slices", "plan_samples", "full_samples",
        "fraction", "samples_per_second", "estimated_seconds", "ranks"}
check(set(dry) == keys and dry["dry_run"] is True and dry["request"] == 0,
      f"dry run --json: one object with the documented keys ({sorted(set(dry) ^ keys)})")
check(dry["plan_samples"] == sum(s["cost"] for s in dry["shards"]) and
      abs(dry["fraction"] - dry["plan_samples"] / dry["full_samples"]) < 1e-12,
      f"the plan's cost is its shards' ({dry['plan_samples']} sample visits, "
      f"{100 * dry['fraction']:.1f}% of training everything)")
check(f"cost: {dry['plan_samples']} sample visits of retraining" in dry_text and
      "measured on this store" in dry_text, "the dry run prints the cost and the estimate")
est = dry["estimated_seconds"]
check(isinstance(est, float) and est > 0, f"an estimated wall time: {est} s")

r = sisa("unlearn", "-c", "m.yaml", "--ids", IDS, "--json")
real = json.loads(r.stdout)
check(real["request"] == 1 and real["dry_run"] is False and
      {"retrain_samples", "seconds"} <= set(real), "the real deletion's --json")
per_shard = {s["shard"]: s["samples"] for s in real["shards"]}
check(real["retrain_samples"] == dry["plan_samples"] and
      all(per_shard[s["shard"]] == s["cost"] for s in dry["shards"]),
      f"the deletion spent exactly the planned sample visits ({real['retrain_samples']})")
spent = sum(s["seconds"] for s in real["shards"])
check(spent / 10 <= est <= spent * 10,
      f"the estimate ({est:.3f} s) is within a factor 10 of the retraining time ({spent:.3f} s)")
with open(os.path.join(WORK, "m", "timing")) as f:
    after = json.load(f)
check(after["samples"] == timing["samples"] + real["retrain_samples"],
      "the deletion's retraining is added to the store's measured speed")

os.remove(os.path.join(WORK, "m", "timing"))
r = sisa("unlearn", "-c", "m.yaml", "--ids", "5", "--dry-run", "--json")
d2 = json.loads(r.stdout)
check(d2["estimated_seconds"] is None and d2["samples_per_second"] is None and
      d2["plan_samples"] > 0, "without STORE/timing: no estimate (null), the cost still known")
text = sisa("unlearn", "-c", "m.yaml", "--ids", "5", "--dry-run").stdout
check("no wall-time estimate" in text, "and the text says so")

r = sisa("unlearn", "-c", "k.yaml", "--ids", IDS, "--dry-run", "--json")
k = json.loads(r.stdout)
check(k["model"] == "knn" and k["plan_samples"] == 0 and k["estimated_seconds"] == 0,
      "a kNN store's deletion costs no training")

# sisa log: the history, and questions answered from the ledger
sisa("unlearn", "-c", "m.yaml", "--groups", "100")  # rows 300, 301, 302
sisa("verify", "-c", "m.yaml")
log = json.loads(sisa("log", "-c", "m.yaml", "--json").stdout)
reqs = log["requests"]
check([q["request"] for q in reqs] == [1, 2] and [q["rows"] for q in reqs] == [4, 3] and
      reqs[1]["subjects"] == 1 and all(q["state"] == "certified" for q in reqs),
      "sisa log --json lists both requests, rows and subjects")
check(reqs[0]["planned_samples"] == dry["plan_samples"] and
      reqs[0]["samples"] == real["retrain_samples"] and reqs[0]["seconds"] > 0 and
      [s["shard"] for s in reqs[0]["shards"]] == [s["shard"] for s in real["shards"]],
      "the first request's shards, planned and spent work, and wall time")
check(all(q["certificate"] and q["certificate"]["verdict"] == "pass" for q in reqs),
      "each request names the certificate that covers it (verdict pass)")
text = sisa("log", "-c", "m.yaml").stdout
check("request 1 " in text and "request 2 " in text and "2 request(s), 7 row(s) deleted" in text
      and "(verdict pass)" in text, "sisa log prints the history as text")
later = json.loads(sisa("log", "-c", "m.yaml", "--json", "--since", "2999").stdout)
check(later["requests"] == [] and later["rows"] == 0, "--since after the last request: none")
for args, want in ((["--was-deleted", "400"], (True, 1)), (["--was-deleted", "301"], (True, 2)),
                   (["--was-deleted", "5"], (False, None)), (["--group", "100"], (True, 2)),
                   (["--group", "101"], (False, None))):
    a = json.loads(sisa("log", "-c", "m.yaml", *args, "--json").stdout)
    t = sisa("log", "-c", "m.yaml", *args).stdout
    ok = a["deleted"] == want[0] and a.get("request") == want[1]
    ok &= t.startswith("yes:" if want[0] else "no:")
    check(ok, f"sisa log {' '.join(args)}: {'yes, request %s' % want[1] if want[0] else 'no'}")
r = sisa("log", "-c", "m.yaml", "--since", "yesterday", expect=2)
check("--since 'yesterday'" in r.stderr, "a bad --since is a usage error")

p = json.loads(sisa("predict", "-c", "m.yaml", "-i", "train.h5", "-o", "p.h5", "--json").stdout)
check(p == {"rows": 900, "shards_used": 3, "shards": 3, "strategy": "mean", "input": "train.h5",
            "input_format": "sisa", "output": "p.h5", "format": "h5"},
      "predict --json: the documented keys")

# progress within a stage: samples, share, speed and time left; -q silences it
with open(os.path.join(WORK, "p.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\nstore: p\nsisa:\n  shards: 1\n  slices: 2\n"
            "model:\n  type: mlp\n  hidden: [64]\ntrain:\n  optimizer: adam\n  lr: 0.003\n"
            "  batch_size: 8\n  epochs: 30\n")
r = sisa("train", "-c", "p.yaml", env={"SISA_PROGRESS": "", "SISA_PROGRESS_PERIOD": "0.001"})
check(re.search(r"shard 0 stage [12]/2: \d+/\d+ samples \(\d+%\), \d+ samples/s, "
                r"[0-9.]+ s elapsed, \d+ s left", r.stderr) is not None,
      "training reports progress within a stage (samples, %, samples/s, time left)")
shutil.rmtree(os.path.join(WORK, "p"))
r = sisa("-q", "train", "-c", "p.yaml", env={"SISA_PROGRESS": "", "SISA_PROGRESS_PERIOD": "0.001"})
check("samples/s" not in r.stderr, "-q silences it")

# predictions as CSV: on standard output ("-o -") or into OUT.csv, the bits of the HDF5 file
csv_text = sisa("predict", "-c", "m.yaml", "-i", "train.h5", "-o", "-").stdout
with h5py.File(os.path.join(WORK, "p.h5"), "r") as f:
    h5_proba, h5_label, h5_id = np.asarray(f["proba"]), np.asarray(f["label"]), np.asarray(f["id"])
lines = csv_text.strip().split("\n")
rows = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
check(lines[0] == "id,label," + ",".join(f"p{c}" for c in range(h5_proba.shape[1])) and
      np.array_equal(rows[:, 0].astype(np.uint64), h5_id) and
      np.array_equal(rows[:, 1].astype(np.int32), h5_label) and
      np.array_equal(rows[:, 2:].astype(np.float32), h5_proba),
      "predict -o - writes CSV on stdout with the HDF5 file's IDs, labels and posteriors, bit "
      "for bit")
sisa("predict", "-c", "m.yaml", "-i", "train.h5", "-o", "p.csv")
with open(os.path.join(WORK, "p.csv")) as f:
    check(f.read() == csv_text, "predict -o OUT.csv writes the same CSV")
r = sisa("predict", "-c", "m.yaml", "-i", "train.h5", "-o", "p.csv", expect=2)
check("--force" in r.stderr, "an existing OUT.csv is not replaced without --force")
r = sisa("predict", "-c", "m.yaml", "-i", "train.h5", "-o", "-", "--format", "h5", expect=2)
check("standard output" in r.stderr, "HDF5 cannot go to standard output")

# errors as JSON, with the same exit status
for args, code, status in ((["unlearn", "-c", "m.yaml", "--ids", "5,99999", "--json"],
                            "SISA_EREJECT", 3),
                           (["eval", "-c", "missing.yaml", "--json"], "SISA_EIO", 1),
                           (["impact", "-c", "m.yaml", "--ids", "5", "--json"], "SISA_EUSAGE", 2)):
    r = sisa(*args, expect=status)
    try:
        e = json.loads(r.stdout)["error"]
        ok = (e["code"] == code and e["exit"] == status and e["message"] and
              e["message"] in r.stderr and r.stdout.count("\n") == 1)
    except (ValueError, KeyError):
        ok = False
    check(ok, f"{' '.join(args[:1])} --json: the error is a JSON object ({code}, exit {status})")

check.finish()
