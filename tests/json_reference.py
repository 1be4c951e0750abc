#!/usr/bin/python3
"""Every command's --json output has exactly the keys docs/json.md documents, through the binary.

docs/json.md shows each command's JSON as an example object (a ```json block under the heading
"## `sisa CMD --json`"; '...' stands for more of the same). This test reads those examples and
runs every command on a small store (train, predict, eval, impact, unlearn --dry-run and for
real, log, log --was-deleted, verify, audit, status, repair, info, and a failing command's error
object), and checks, at every level of nesting, that the output has every documented key and no
undocumented one. Keys the key tables mark as sometimes absent ("only when ...", "(not in a dry
run)") may be missing. Each output must also be one JSON object and nothing else on stdout.
Usage: json_reference.py SISA_BINARY DOCS_JSON_MD WORKDIR
"""
import json
import os
import re
import shutil
import sys

import numpy as np
from reftools import Checks, Sisa, fashion_mnist, write_csv

SISA, DOC, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
check = Checks()
sisa = Sisa(SISA, WORK)


def lenient(text):
    """The example as JSON: '...' outside strings (and a comma before it) dropped."""
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("...", i):
            while out and out[-1].isspace():
                out.pop()
            if out and out[-1] == ",":
                out.pop()
            i += 3
            continue
        else:
            out.append(c)
        i += 1
    return json.loads("".join(out))


def doc_sections():
    """{heading: (example object, optional key paths)} for every '## `sisa ...`' section."""
    text = open(DOC).read()
    parts = re.split(r"^## ", text, flags=re.M)
    sections = {}
    for part in parts[1:]:
        heading, body = part.split("\n", 1)
        m = re.search(r"```json\n(.*?)```", body, re.S)
        if not m:
            continue
        optional = set()
        for row in re.findall(r"^\| (.*?) \| (.*?) \|$", body, re.M):
            if re.match(r"only ", row[1]) or "(not in a dry run)" in row[1]:
                prefix = ""
                for key in re.findall(r"`([^`]+)`", row[0]):
                    if "." in key:
                        prefix, key = key.rsplit(".", 1)
                        prefix += "."
                    optional.add(prefix + key)
        sections[heading.strip()] = (lenient(m.group(1)), optional)
    return sections


def compare(doc, got, path, optional, problems):
    if isinstance(doc, dict) and isinstance(got, dict):
        prefix = path + "." if path else ""
        for k in sorted(set(doc) - set(got)):
            if prefix + k not in optional:
                problems.append(f"missing {prefix}{k}")
        for k in sorted(set(got) - set(doc)):
            problems.append(f"undocumented {prefix}{k}")
        for k in set(doc) & set(got):
            compare(doc[k], got[k], prefix + k, optional, problems)
    elif isinstance(doc, list) and isinstance(got, list):
        if doc and isinstance(doc[0], dict):
            for g in got:
                compare(doc[0], g, path + "[]", optional, problems)


SECTIONS = doc_sections()


def one_object(r, what):
    """stdout is exactly one JSON object."""
    try:
        obj = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        check(False, f"{what}: stdout is one JSON object ({e}: {r.stdout[:200]!r})")
        return None
    check(isinstance(obj, dict), f"{what}: stdout is one JSON object")
    return obj


def keys_match(heading, r, what=None):
    what = what or heading
    got = one_object(r, what)
    if got is None:
        return None
    if heading not in SECTIONS:
        check(False, f"docs/json.md has a section '{heading}' with a json example")
        return got
    doc, optional = SECTIONS[heading]
    problems = []
    compare(doc, got, "", optional, problems)
    check(not problems, f"{what}: the documented keys ({'; '.join(problems) or 'all present'})")
    return got


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
X = fashion_mnist("train-images-idx3-ubyte.gz", 300)
y = fashion_mnist("train-labels-idx1-ubyte.gz", 300)
Xt = fashion_mnist("t10k-images-idx3-ubyte.gz", 100)
yt = fashion_mnist("t10k-labels-idx1-ubyte.gz", 100)
write_csv(os.path.join(WORK, "train.csv"), X, y, np.arange(300))
write_csv(os.path.join(WORK, "test.csv"), Xt, yt, np.arange(100))
for name in ("train", "test"):
    sisa("import", "csv", f"{name}.csv", "--label", "label", "--id", "id", "--scale", "255",
         "--num-classes", "10", "-o", f"{name}.h5")
with open(os.path.join(WORK, "c.yaml"), "w") as f:
    f.write("data:\n  train: train.h5\n  test: test.h5\nstore: store\n"
            "sisa:\n  shards: 3\n  slices: 2\nmodel:\n  type: logreg\n"
            "train:\n  optimizer: sgd\n  lr: 0.1\n  batch_size: 32\n  epochs: 2\n"
            "aggregate:\n  strategy: mean\n")

keys_match("`sisa info FILE --json`", sisa("info", "train.h5", "--json"), "info --json")
keys_match("`sisa train --json`", sisa("train", "-c", "c.yaml", "--json"), "train --json")
r = sisa("verify", "-c", "c.yaml", "--json")
got = one_object(r, "verify --json without a deletion")
check(got == {"store": got and got.get("store"), "requests": [], "verdict": "none"},
      f"verify --json without a deletion: the documented 'none' object ({r.stdout.strip()})")
keys_match("`sisa predict --json`",
           sisa("predict", "-c", "c.yaml", "-i", "test.csv", "--id", "id", "-o", "p.h5",
                "--json"), "predict --json")
keys_match("`sisa eval --json`", sisa("eval", "-c", "c.yaml", "--json"), "eval --json")
keys_match("`sisa impact --json`",
           sisa("impact", "-c", "c.yaml", "--ids", "5,6", "--queries", "test.h5", "--json"),
           "impact --json")
keys_match("`sisa unlearn --json`",
           sisa("unlearn", "-c", "c.yaml", "--ids", "5,6", "--dry-run", "--json"),
           "unlearn --dry-run --json")
keys_match("`sisa unlearn --json`", sisa("unlearn", "-c", "c.yaml", "--ids", "5,6", "--json"),
           "unlearn --json")
keys_match("`sisa log --json`", sisa("log", "-c", "c.yaml", "--json"), "log --json")
got = one_object(sisa("log", "-c", "c.yaml", "--was-deleted", "5", "--json"),
                 "log --was-deleted --json")
check(got is not None and set(got) == {"id", "deleted", "request", "time"} and got["deleted"],
      "log --was-deleted --json: id, deleted, request, time (as documented)")
keys_match("`sisa verify --json`", sisa("verify", "-c", "c.yaml", "--json"), "verify --json")
keys_match("`sisa audit --json`", sisa("audit", "-c", "c.yaml", "--json"), "audit --json")
keys_match("`sisa status --json`", sisa("status", "-c", "c.yaml", "--json"), "status --json")
keys_match("`sisa repair --json`", sisa("repair", "-c", "c.yaml", "--json"), "repair --json")

# Damaged checkpoints (one overwritten, one truncated): status names the truncated one's
# problem, repair lists and fixes both.
ckpt = os.path.join(WORK, "store", "shards", "0000", "ckpt-001.h5")
with open(ckpt, "r+b") as f:
    f.seek(os.path.getsize(ckpt) // 2)
    f.write(b"\xff" * 64)
short = os.path.join(WORK, "store", "shards", "0001", "ckpt-002.h5")
os.truncate(short, os.path.getsize(short) // 2)
keys_match("`sisa repair --json`", sisa("repair", "-c", "c.yaml", "--dry-run", "--json"),
           "repair --dry-run --json (a damaged checkpoint)")
got = keys_match("`sisa status --json`", sisa("status", "-c", "c.yaml", "--json", expect=1),
                 "status --json (a damaged checkpoint: exit 1)")
check(got is not None and "problem" in got["shards"][1],
      "status --json names the damaged shard's problem")
got = keys_match("`sisa repair --json`", sisa("repair", "-c", "c.yaml", "--json"),
                 "repair --json (a damaged checkpoint)")
check(got is not None and len(got["problems"]) >= 1 and got["problems"][0]["done"],
      "repair --json lists the damaged checkpoint as done")
keys_match("`sisa status --json`", sisa("status", "-c", "c.yaml", "--json"),
           "status --json after repair")

r = sisa("unlearn", "-c", "c.yaml", "--ids", "99999", "--json", expect=3)
got = keys_match("Errors", r, "an error with --json")
check(got is not None and got["error"]["exit"] == 3 and got["error"]["code"] == "SISA_EREJECT",
      "the error object names SISA_EREJECT and exit 3")

documented = {h for h in SECTIONS if h.startswith("`sisa")}
check(len(documented) >= 11, f"docs/json.md documents {len(documented)} commands' JSON")
check.finish()
