#!/usr/bin/python3
"""sisa eval's metrics against scikit-learn (Debian's python3-sklearn), through the binary.

Data: 900 Fashion-MNIST training rows in a 3-shard MLP store, 400 test rows (one class left
out of the test set, so that its recall is undefined). For strategies mean and vote:
  accuracy, the confusion matrix, per-class recall, precision and F1, macro-F1 equal
  scikit-learn's (f1_score(average='macro') over the classes that occur or are predicted);
  log-loss equals the mean of -ln max(p(true class), 1e-15) over the ensemble posteriors that
  sisa predict writes, and is within 1e-6 of scikit-learn's log_loss; the shards' agreement
  and unanimity equal those computed from predict --per-shard; JSON numbers are in their
  shortest round-trip form (Python's repr) and undefined values are null.
Usage: eval_reference.py SISA_BINARY WORKDIR
"""
import json
import math
import os
import re
import shutil
import sys

import h5py
import numpy as np
from reftools import Checks, Sisa, fashion_mnist, write_csv
from sklearn.metrics import (confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support)

SISA, WORK = sys.argv[1], sys.argv[2]
check = Checks()
sisa = Sisa(SISA, WORK)
idx = fashion_mnist


def close(a, b, tol=1e-12):
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return abs(a - b) <= tol * max(1.0, abs(b))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
X = idx("train-images-idx3-ubyte.gz", 900)
y = idx("train-labels-idx1-ubyte.gz", 900)
write_csv(os.path.join(WORK, "train.csv"), X, y, np.arange(900))
Xt = idx("t10k-images-idx3-ubyte.gz", 600)
yt = idx("t10k-labels-idx1-ubyte.gz", 600)
keep = yt != 9  # class 9 has no test row: its recall is undefined
write_csv(os.path.join(WORK, "test.csv"), Xt[keep][:400], yt[keep][:400], np.arange(400))
for name in ("train", "test"):
    sisa("import", "csv", f"{name}.csv", "--label", "label", "--id", "id", "--scale", "255",
         "--num-classes", "10", "-o", f"{name}.h5")

for strategy in ("mean", "vote"):
    with open(os.path.join(WORK, f"{strategy}.yaml"), "w") as f:
        f.write(f"data:\n  train: train.h5\n  test: test.h5\nstore: store-{strategy}\n"
                "sisa:\n  shards: 3\n  slices: 2\nmodel:\n  type: mlp\n  hidden: [16]\n"
                "train:\n  optimizer: adam\n  lr: 0.003\n  batch_size: 32\n  epochs: 3\n"
                f"aggregate:\n  strategy: {strategy}\n")
    sisa("train", "-c", f"{strategy}.yaml")
    raw = sisa("eval", "-c", f"{strategy}.yaml", "--json").stdout
    ev = json.loads(raw)
    sisa("predict", "-c", f"{strategy}.yaml", "-i", "test.h5", "-o", "p.h5", "--per-shard",
         "--force")
    with h5py.File(os.path.join(WORK, "p.h5"), "r") as f:
        proba = np.asarray(f["proba"], dtype=np.float64)
        label = np.asarray(f["label"])
        shards = [np.asarray(f["shards"][k]) for k in sorted(f["shards"].keys())]
    with h5py.File(os.path.join(WORK, "test.h5"), "r") as f:
        truth = np.asarray(f["y"])
    tag = f"strategy {strategy}"
    labels = list(range(10))
    cm = confusion_matrix(truth, label, labels=labels)
    check(ev["confusion"] == cm.tolist(), f"{tag}: the confusion matrix is scikit-learn's")
    check(close(ev["accuracy"], float((label == truth).mean())), f"{tag}: accuracy")
    p, r, f1, sup = precision_recall_fscore_support(truth, label, labels=labels,
                                                    zero_division=0)
    ok = True
    for c in labels:
        e = ev["classes"][c]
        ok &= e["support"] == int(sup[c])
        ok &= close(e["recall"], float(r[c]) if sup[c] else None)
        predicted = int(cm[:, c].sum())
        ok &= close(e["precision"], float(p[c]) if predicted else None)
        ok &= close(e["f1"], float(f1[c]))
    check(ok, f"{tag}: per-class support, recall, precision and F1 (null where undefined: "
              f"class 9 has no test row)")
    check(close(ev["macro_f1"], float(f1_score(truth, label, average="macro"))),
          f"{tag}: macro-F1 {ev['macro_f1']} is scikit-learn's")
    mine = float(np.mean(-np.log(np.maximum(proba[np.arange(len(truth)), truth], 1e-15))))
    check(close(ev["log_loss"], mine, 1e-9), f"{tag}: log-loss {ev['log_loss']} from the "
                                             f"posteriors predict writes")
    ref = log_loss(truth, np.clip(proba, 1e-15, 1.0), labels=labels)
    check(abs(ev["log_loss"] - ref) <= 1e-6 * max(1.0, ref),
          f"{tag}: log-loss within 1e-6 of scikit-learn's ({ref})")
    votes = np.stack([s.argmax(axis=1) for s in shards])
    agree = float(np.mean((votes == label[None, :]).mean(axis=0)))
    unan = float(np.mean((votes == votes[0:1]).all(axis=0)))
    check(close(ev["agreement"], agree) and close(ev["unanimous"], unan),
          f"{tag}: agreement {ev['agreement']} and unanimity {ev['unanimous']} of the shards")
    acc_text = re.search(r'"accuracy": ([^,]+),', raw).group(1)
    check(acc_text == repr(ev["accuracy"]),
          f"{tag}: JSON numbers in their shortest form ({acc_text})")
    text = sisa("eval", "-c", f"{strategy}.yaml").stdout
    check("macro-F1" in text and "confusion (rows: true class" in text and
          re.search(r"\n +9 +0 +- ", text) is not None,
          f"{tag}: the text report shows the metrics, '-' for undefined ones")

check.finish()
