#!/usr/bin/env bash
# Make the fuzzers' seed corpus (tests/fuzz/corpus/TARGET/) from the tests' inputs.
#
#   tests/fuzz/make-corpus.sh BUILD_DIR      # a gcc build of sisa (scripts/build.sh)
#
# It runs the unit tests that write their input files (config, text import, IDX, journal,
# ledger) and collects those files from their scratch folders, adds the shipped configs and the
# first samples of Fashion-MNIST, and makes a small store with the real binary (import, train,
# two deletions, verify) for store journals, shard journals, a ledger and a certificate. Each
# file is wrapped in its target's input format (tests/fuzz/fuzz_*.c), files over 64 KiB are
# left out, and a file's name is the SHA-1 of its bytes (as libFuzzer names them). Seeds are
# only added: regression inputs already in the corpus stay.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: make-corpus.sh BUILD_DIR}" && pwd)
corpus=$src/tests/fuzz/corpus
work=$(mktemp -d "${TMPDIR:-/tmp}/sisa-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT
sisa=$build/sisa
fmnist=${SISA_FMNIST:-/usr/share/datasets/fashion-mnist}

(cd "$build" && ctest -R '^(test_config|test_text_import|test_io|test_journal)$' -j2 >"$work/ctest.log") ||
  { cat "$work/ctest.log" >&2; exit 1; }
scratch=$build/tests/scratch

# A small store: import a CSV of 60 rows, train 2 shards x 2 slices, delete twice, verify.
st=$work/store-run
mkdir -p "$st"
python3 - "$st/data.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,g,a,b,y\n")
    for i in range(60):
        f.write(f"{100 + i},{i % 7},{(i * 37 % 11) / 4},{(i * 13 % 5) - 2},{i % 3}\n")
EOF
cat >"$st/run.yaml" <<'EOF'
data:
  train: data.h5
store: store
sisa:
  shards: 2
  slices: 2
model:
  type: logreg
  hidden: []
train:
  optimizer: sgd
  lr: 0.05
  batch_size: 8
  epochs: 1
EOF
export SISA_PROGRESS=0
run() { "$@" >>"$work/sisa.log" 2>&1 || { cat "$work/sisa.log" >&2; exit 1; }; }
run "$sisa" import csv "$st/data.csv" --label y --id id --group g -o "$st/data.h5"
run "$sisa" train -c "$st/run.yaml"
run "$sisa" unlearn -c "$st/run.yaml" --ids 101,105
run "$sisa" unlearn -c "$st/run.yaml" --groups 3
run "$sisa" verify -c "$st/run.yaml"
run "$sisa" verify -c "$st/run.yaml" -o "$st/cert.json"

python3 - "$src" "$scratch" "$st" "$fmnist" "$corpus" <<'EOF'
import glob, gzip, hashlib, os, struct, sys
src, scratch, st, fmnist, corpus = sys.argv[1:]
MAX = 64 << 10
added = {}

def seed(target, data):
    if len(data) > MAX:
        return
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    name = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(name):
        with open(name, "wb") as f:
            f.write(data)
        added[target] = added.get(target, 0) + 1

def read(p):
    with open(p, "rb") as f:
        return f.read()

def plain(b):
    """The text of a file, gunzipped when it is gzip (None when the stream is broken)."""
    if b[:2] != b"\x1f\x8b":
        return b
    try:
        return gzip.decompress(b)
    except Exception:
        return None

# config: the shipped configs and every config file the tests wrote
for p in sorted(glob.glob(os.path.join(src, "configs", "*.yaml")) +
                glob.glob(os.path.join(scratch, "test_config", "**", "*.yaml"), recursive=True)):
    seed("config", read(p))

# csv: option byte (fuzz_csv.c) from the header's names; gzip files also raw
for p in sorted(glob.glob(os.path.join(scratch, "test_text_import", "*", "*.csv*")) +
                glob.glob(os.path.join(scratch, "test_text_import", "*", "*.tsv")) +
                [os.path.join(st, "data.csv")]):
    raw = read(p)
    text = plain(raw)
    if text is None:
        seed("csv", b"\x80" + raw)
        continue
    head = text.split(b"\n", 1)[0]
    delim = b"\t" if b"\t" in head else b","
    names = [n.strip(b'"\xef\xbb\xbf\r') for n in head.split(delim)]
    flags = 0x80 if b"y" in names else 0
    flags |= 2 if b"id" in names else 0
    flags |= 4 if (b"g" in names and flags & 0x80) or b"group" in names else 0
    flags |= 0x40 if delim == b"\t" else 0
    seed("csv", bytes([flags]) + text)
    if raw != text:
        seed("csv", bytes([flags & ~1]) + raw)  # the gzip stream itself
        seed("csv", bytes([flags | 1]) + text)  # gzipped by the harness

# libsvm: option byte 0 (bit 1 --remap-labels for signed labels)
for p in sorted(glob.glob(os.path.join(scratch, "test_text_import", "*", "*.svm*")) +
                glob.glob(os.path.join(scratch, "test_text_import", "svm_*", "*.txt"))):
    raw = read(p)
    text = plain(raw)
    if text is None:
        seed("libsvm", b"\x00" + raw)
        continue
    flags = 2 if (b"-1" in text or b"+1" in text) else 0
    seed("libsvm", bytes([flags]) + text)
    if raw != text:
        seed("libsvm", bytes([flags]) + raw)
        seed("libsvm", bytes([flags | 1]) + text)

# idx: option byte, labels length (2 bytes), labels, images (fuzz_idx.c)
def idx_seed(images, labels, flags=0):
    seed("idx", bytes([flags]) + struct.pack(">H", len(labels)) + labels + images)

types = os.path.join(scratch, "test_io", "idx_types_in")
for img in sorted(glob.glob(os.path.join(types, "*.idx*"))):
    kind = os.path.basename(img).split(".")[0]
    for lab in sorted(glob.glob(os.path.join(types, "*-labels*"))):
        a, b = read(img), read(lab)
        idx_seed(a, b)
        if plain(a) is not None and plain(b) is not None:
            idx_seed(plain(a), plain(b), 3)  # both gzipped by the harness
        break
bad = os.path.join(scratch, "test_io", "idx_bad_in")
for img in ("img.idx", "img.idx.gz"):
    for lab in ("lab.idx", "lab.idx.gz"):
        if os.path.exists(os.path.join(bad, img)) and os.path.exists(os.path.join(bad, lab)):
            idx_seed(read(os.path.join(bad, img)), read(os.path.join(bad, lab)))
# the first 40 samples of Fashion-MNIST: real headers, real pixels
fi = os.path.join(fmnist, "train-images-idx3-ubyte.gz")
fl = os.path.join(fmnist, "train-labels-idx1-ubyte.gz")
if os.path.exists(fi) and os.path.exists(fl):
    n = 40
    img = gzip.open(fi).read(16 + n * 784)
    lab = gzip.open(fl).read(8 + n)
    img = img[:4] + struct.pack(">I", n) + img[8:]
    lab = lab[:4] + struct.pack(">I", n) + lab[8:]
    idx_seed(img, lab)
    idx_seed(img, lab, 3)
    idx_seed(img[:16 + 8 * 784], lab, 0)  # truncated images

# journal: the tests' journals and the store's (store journal, shard journals)
journals = glob.glob(os.path.join(scratch, "test_journal", "*", "journal"))
journals += [os.path.join(st, "store", "journal")]
journals += glob.glob(os.path.join(st, "store", "shards", "*", "journal"))
for p in sorted(journals):
    seed("journal", read(p))

# ledger: the ledger alone, and the ledger NUL the store journal (fuzz_ledger.c)
ledgers = glob.glob(os.path.join(scratch, "test_journal", "*", "ledger"))
ledgers += [os.path.join(st, "store", "ledger")]
for p in sorted(ledgers):
    seed("ledger", read(p))
seed("ledger", read(os.path.join(st, "store", "ledger")) + b"\0" +
     read(os.path.join(st, "store", "journal")))

# certificate: the store's certificates and the one written outside it
for p in sorted(glob.glob(os.path.join(st, "store", "certificates", "*.json")) +
                [os.path.join(st, "cert.json")]):
    seed("certificate", read(p))

# json: every record of those journals and ledgers, and the certificates
for p in sorted(journals + ledgers + glob.glob(os.path.join(st, "store", "certificates", "*.json")) +
                [os.path.join(st, "cert.json")]):
    for line in read(p).split(b"\n"):
        if line.strip():
            seed("json", line)
    if p.endswith(".json"):
        seed("json", read(p))

# h5parent: wait status, temp file size, report (fuzz_h5parent.c). A good report carries the
# summary of the store's dataset; the others are the ways a child ends.
summary = struct.pack("<QQiiQQffQ", 60, 2, 3, 1, 100, 159, -2.0, 2.5, 30000)
def parent(status, tmp_size, report):
    seed("h5parent", struct.pack("<i", status) + struct.pack(">H", tmp_size) + report)
parent(0, 30000, struct.pack("<i", 0) + summary)
parent(1 << 8, 0, struct.pack("<i", -2) + b"in.h5: 'X' holds string; features must be numbers")
parent(9, 0, b"")            # killed (SIGKILL: the CPU limit)
parent(11, 0, b"\0\0\0")    # crashed mid-report
parent(0, 100, struct.pack("<i", 0) + summary[:20])

for t in sorted(added):
    print(f"make-corpus: {t}: {added[t]} new seeds")
EOF
