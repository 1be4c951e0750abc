#!/usr/bin/env bash
# The main job, end to end, on the default data (Fashion-MNIST from Debian's
# dataset-fashion-mnist package): install what is missing, build, then
#   1. import the training and test sets into sisa dataset files;
#   2. train the store of configs/fashion-mnist.yaml (8 shards x 4 slices, MLP) and evaluate;
#   3. unlearn 20 random training samples and evaluate again;
#   4. print accuracy, training time, unlearning time and the speed-up over full retraining.
#
#   scripts/run.sh                 # SISA_DEMO_SEED=N picks another set of 20 samples
#
# Outputs go to out/fashion-mnist/ (the store is rebuilt on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install-deps.sh
SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
SISA=$ROOT/build/release/sisa
FM=/usr/share/datasets/fashion-mnist
OUT=$ROOT/out/fashion-mnist
CFG=$ROOT/configs/fashion-mnist.yaml
PY=/usr/bin/python3
mkdir -p "$OUT"

now() { date +%s.%N; }
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "== sisa"
"$SISA" --version
echo
echo "== 1. import Fashion-MNIST (IDX, gzipped) into sisa dataset files"
"$SISA" import idx --images "$FM/train-images-idx3-ubyte.gz" --labels "$FM/train-labels-idx1-ubyte.gz" \
  --scale 255 --force -o "$OUT/train.h5"
# Test IDs continue after the training IDs, so every sample in the demo has a unique ID.
"$SISA" import idx --images "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" \
  --scale 255 --id-offset 60000 --force -o "$OUT/test.h5"
"$SISA" config check -c "$CFG"

echo
echo "== 2. train ($CFG)"
rm -rf "$OUT/store"
t0=$(now)
"$SISA" train -c "$CFG"
t1=$(now)
"$SISA" eval -c "$CFG"
acc_before=$("$SISA" -q eval -c "$CFG" --json | json_field accuracy)

echo
echo "== 3. unlearn 20 random training samples"
seed=${SISA_DEMO_SEED:-20261128}
awk -v seed="$seed" 'BEGIN { srand(seed); n = 0;
  print "# demo deletion request: 20 training sample IDs drawn with seed " seed;
  while (n < 20) { id = int(rand() * 60000); if (!(id in seen)) { seen[id] = 1; print id; n++ } } }' \
  >"$OUT/deletion-request.txt"
echo "request: $OUT/deletion-request.txt ($(grep -vc '^#' "$OUT/deletion-request.txt") IDs)"
t2=$(now)
"$SISA" unlearn -c "$CFG" --ids-file "$OUT/deletion-request.txt"
t3=$(now)
"$SISA" eval -c "$CFG"
acc_after=$("$SISA" -q eval -c "$CFG" --json | json_field accuracy)
"$SISA" status -c "$CFG"

echo
echo "== summary"
"$PY" - "$t0" "$t1" "$t2" "$t3" "$acc_before" "$acc_after" <<'PYEOF'
import sys
t0, t1, t2, t3, before, after = map(float, sys.argv[1:])
train, unlearn = t1 - t0, t3 - t2
print(f"test accuracy:  {before:.4f} after training, {after:.4f} after unlearning 20 samples")
print(f"training time:  {train:.2f} s (8 shards x 4 slices, 60000 rows)")
print(f"unlearning:     {unlearn:.2f} s for 20 samples")
print(f"speed-up over full retraining: {train / unlearn:.1f}x (wall time)")
PYEOF
