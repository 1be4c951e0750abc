#!/usr/bin/env bash
# Benchmark: risk-tier sharding (sisa.sharding: tiered) against uniform sharding on
# Fashion-MNIST (issue 18; docs/design.md "Risk tiers").
#
# A synthetic risk column marks 10 % of the 60 000 training rows, drawn with a fixed seed, as
# tier 1; deletion requests fall on tier 1 with probability 0.9 (so 10 % of the rows draw 90 % of
# the requests). Three stores of the default recipe (configs/fashion-mnist.yaml: MLP [256], Adam,
# cosine schedule, 10 epochs) with S = 8 shards and R = 4 slices:
#   uniform  sharding: id
#   tiered   the split sisa plan-tiers suggests for rates 1,9 (4 + 4 shards)
#   last     the same tiers, tier 1 trained in the last slice only (last_slice: true)
# For each: sisa plan-tiers' expected rows retrained per request, the test accuracy after
# training (sisa eval), then 50 requests of one row each, drawn with a fixed seed from that
# distribution (45 on tier 1 and 5 on tier 0 in a random order; the same IDs for every store), each one whole `sisa unlearn` process: the rows
# of the retrained shard, the sample visits and the wall time. Last, `sisa verify` on each store.
#
#   bench/tiers.sh [SISA_BINARY] [OUT] [REQUESTS]
#                  (defaults: build/release/sisa, out/bench/tiers, 50)
#
# Writes OUT/tiers.log (everything printed), OUT/tiers-requests.tsv (one line per request),
# OUT/tiers.tsv (one line per store) and, drawn by bench/tiers.gp, OUT/tiers.png. Every program
# runs on one OpenBLAS thread, one process (no mpirun). About 5 minutes on a 2-core VM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sisa=$(realpath "${1:-build/release/sisa}")
out=$(realpath -m "${2:-out/bench/tiers}")
requests=${3:-50}
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
command -v gnuplot >/dev/null || SISA_EXTRA_PKGS=gnuplot-nox bash scripts/install-deps.sh
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 SISA_PROGRESS=0
mkdir -p "$out"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A private copy of the binary: a store may only be continued by the build that wrote it.
cp "$sisa" "$dir/sisa"
sisa=$dir/sisa
cd "$dir"
exec > >(tee "$out/tiers.log")

load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc --all) cores"
version=$("$sisa" --version 2>/dev/null)
echo "== machine"
echo "cpu:      $cpu"
grep -E '^(sisa|OpenBLAS)' <<<"$version"
echo "date:     $(date '+%Y-%m-%d %H:%M %Z')"
echo "load:     $(load)"

# The data: Fashion-MNIST, and the training set again with a synthetic risk column.
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
  --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 -o plain.h5 >/dev/null
"$sisa" -q import idx --images "$fm/t10k-images-idx3-ubyte.gz" \
  --labels "$fm/t10k-labels-idx1-ubyte.gz" --scale 255 --id-offset 60000 -o test.h5 >/dev/null
/usr/bin/python3 - "$requests" <<'PY'
import sys, h5py, numpy as np
rng = np.random.RandomState(18)  # the issue's number: a fixed seed for the risk and requests
with h5py.File("plain.h5", "r") as f:
    X, y, ids = f["X"][...], f["y"][...], f["id"][...]
n = len(ids)
tier = np.zeros(n, dtype="u1")
tier[rng.choice(n, n // 10, replace=False)] = 1
with h5py.File("risky-in.h5", "w") as f:
    f["X"], f["y"], f["id"], f["tier"] = X, y, ids, tier
# Requests: 90 % of them (rounded) on tier 1, the rest on tier 0, in a random order, each a row
# of its tier drawn without replacement. A stratified draw: the sample follows the distribution
# exactly, so that 50 requests estimate its mean cost without the noise of how many fall on
# tier 0 (binomial, 5 +- 2 of 50).
m = int(sys.argv[1])
high = int(round(0.9 * m))
order = rng.permutation([1] * high + [0] * (m - high))
left = [list(rng.permutation(np.flatnonzero(tier == t))) for t in (0, 1)]
with open("requests.txt", "w") as out:
    for t in order:
        out.write("%d %d\n" % (ids[left[t].pop()], t))
PY
"$sisa" -q import h5 risky-in.h5 --risk tier -o train.h5 >/dev/null
rm -f risky-in.h5 plain.h5

config() { # NAME SISA_SECTION
  cat >"$1.yaml" <<EOF
data: {train: train.h5, test: test.h5}
store: store-$1
seed: 42
sisa: $2
model: {type: mlp, hidden: [256], activation: relu}
train: {optimizer: adam, lr: 0.004, schedule: cosine, final_lr_fraction: 0.3, batch_size: 128,
        epochs: 10}
aggregate: {strategy: mean}
EOF
}
config uniform "{shards: 8, slices: 4, sharding: id}"
# The suggestion of sisa plan-tiers for 1 request in 10 on tier 0 and 9 in 10 on tier 1.
"$sisa" plan-tiers -c uniform.yaml --rates 1,9
tiers=$("$sisa" plan-tiers -c uniform.yaml --rates 1,9 | sed -n 's/^suggested sisa.tiers: //p')
last=$(sed 's/}\]$/, last_slice: true}]/' <<<"$tiers")
config tiered "{slices: 4, sharding: tiered, tiers: $tiers}"
config last "{slices: 4, sharding: tiered, tiers: $last}"

printf 'store\ti\tid\ttier\tshard\trows\tvisits\twall_s\n' >"$out/tiers-requests.tsv"
printf 'store\texpected_rows\trows\tvisits\twall_s\twall_sd\taccuracy\ttrain_s\tverify\n' \
  >"$out/tiers.tsv"
for s in uniform tiered last; do
  echo "== $s: $(sed -n 's/^sisa: //p' $s.yaml)"
  expected=$("$sisa" plan-tiers -c $s.yaml --rates 1,9 --json | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["config"]["rows"] if "config" in p else p["uniform"]["rows"])')
  t0=$(date +%s.%N)
  "$sisa" -q train -c $s.yaml >/dev/null
  train_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  acc=$("$sisa" -q eval -c $s.yaml --json | /usr/bin/python3 -c 'import json, sys
for line in sys.stdin:
    if line.startswith("{"): print("%.4f" % json.loads(line)["accuracy"])')
  echo "  trained in $train_s s (load $(load)); test accuracy $acc; expected rows per request $expected"
  "$sisa" status -c $s.yaml --json >status.json
  i=0
  while read -r id tier; do
    i=$((i + 1))
    t0=$(date +%s.%N)
    "$sisa" -q unlearn -c $s.yaml --ids "$id" --json >req.json
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    /usr/bin/python3 - "$s" "$i" "$id" "$tier" "$wall" >>"$out/tiers-requests.tsv" <<'PY'
import json, sys
s, i, rid, tier, wall = sys.argv[1:]
req = [json.loads(l) for l in open("req.json") if l.startswith("{")][-1]
st = json.load(open("status.json"))
rows = {sh["shard"]: sh["rows"] for sh in st["shards"]}
k = req["shards"][0]["shard"]
print("\t".join([s, i, rid, tier, str(k), str(rows[k]), str(req["retrain_samples"]), wall]))
rows[k] -= 1  # the shard's rows for the next request
for sh in st["shards"]:
    sh["rows"] = rows[sh["shard"]]
json.dump(st, open("status.json", "w"))
PY
  done <requests.txt
  verdict=$("$sisa" -q verify -c $s.yaml -o "verify-$s.json" >verify-$s.log 2>&1 && echo pass ||
    { cat "verify-$s.log" >&2; echo FAIL; })
  /usr/bin/python3 - "$s" "$expected" "$acc" "$train_s" "$verdict" "$out/tiers-requests.tsv" \
    >>"$out/tiers.tsv" <<'PY'
import statistics, sys
s, expected, acc, train_s, verdict, path = sys.argv[1:]
lines = [l.rstrip("\n").split("\t") for l in open(path)][1:]
mine = [l for l in lines if l[0] == s]
col = lambda j: [float(l[j]) for l in mine]
print("\t".join([s, "%.1f" % float(expected), "%.1f" % statistics.mean(col(5)),
                 "%.0f" % statistics.mean(col(6)), "%.3f" % statistics.mean(col(7)),
                 "%.3f" % statistics.stdev(col(7)), acc, train_s, verdict]))
PY
  tail -1 "$out/tiers.tsv" | awk -F'\t' '{ printf "  %d requests: %s rows retrained (expected %s), %s sample visits, %s s wall (sd %s) per request; verify: %s\n", '"$requests"', $3, $2, $4, $5, $6, $9 }'
done

echo "== summary (load $(load))"
column -t -s $'\t' "$out/tiers.tsv"
gnuplot -e "dir='$out'; out='$out'; sub='$(date +%Y-%m-%d), $cpu'" "$repo/bench/tiers.gp"
echo "figure: $out/tiers.png"
