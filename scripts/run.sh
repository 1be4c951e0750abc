#!/usr/bin/env bash
# The main job, end to end, on the default data (Fashion-MNIST from Debian's
# dataset-fashion-mnist package): install what is missing, build, then
#   1. import the training and test sets into sisa dataset files;
#   2. train the store of configs/fashion-mnist.yaml (8 shards x 4 slices, MLP) with mpirun on
#      all local cores, and evaluate;
#   3. unlearn 20 random training samples (one batched request) and evaluate again, then
#      unlearn one more sample on its own;
#   4. prove it: sisa verify retrains every touched shard from scratch without the deleted rows
#      and compares bit for bit (writing a deletion certificate), and sisa audit checks the
#      ledger chain and scans every file of the store for the deleted rows' bytes;
#   5. the same 20 samples in a k-nearest-neighbour store (configs/fashion-mnist-knn.yaml):
#      sisa impact reports which test predictions depend on them (reverse kNN) and which would
#      change, before the deletion is made, verified and certified;
#   6. print accuracy, training time, unlearning times, speed-ups and the certificate's verdict,
#      and end with the demo store's deletion history (sisa log).
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

# sisa's store commands run as MPI jobs: one rank per local core, one OpenBLAS thread per rank.
NP=$(nproc)
MPI=()
if command -v mpirun >/dev/null 2>&1 && [ "$NP" -gt 1 ]; then
  MPI=(mpirun -n "$NP")
  # mpirun refuses to start as root unless told; a fresh machine is often used as root.
  [ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
  export OPENBLAS_NUM_THREADS=1
fi
sisa_mpi() { "${MPI[@]}" "$SISA" "$@"; }

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
echo "== 2. train ($CFG) on $NP rank(s)"
rm -rf "$OUT/store"
t0=$(now)
sisa_mpi train -c "$CFG"
t1=$(now)
sisa_mpi eval -c "$CFG"
acc_before=$(sisa_mpi -q eval -c "$CFG" --json | json_field accuracy)

echo
echo "== 3. unlearn 20 random training samples"
seed=${SISA_DEMO_SEED:-20261128}
awk -v seed="$seed" 'BEGIN { srand(seed); n = 0;
  print "# demo deletion request: 20 training sample IDs drawn with seed " seed;
  while (n < 20) { id = int(rand() * 60000); if (!(id in seen)) { seen[id] = 1; print id; n++ } } }' \
  >"$OUT/deletion-request.txt"
echo "request: $OUT/deletion-request.txt ($(grep -vc '^#' "$OUT/deletion-request.txt") IDs)"
t2=$(now)
sisa_mpi unlearn -c "$CFG" --ids-file "$OUT/deletion-request.txt"
t3=$(now)
sisa_mpi eval -c "$CFG"
acc_after=$(sisa_mpi -q eval -c "$CFG" --json | json_field accuracy)
echo
echo "== 3b. unlearn one more sample, on its own"
one=$(awk -v seed="$seed" 'BEGIN { srand(seed + 1); print int(rand() * 60000) }')
grep -qx "$one" "$OUT/deletion-request.txt" && one=$(( (one + 1) % 60000 ))
t4=$(now)
sisa_mpi unlearn -c "$CFG" --ids "$one" | tee "$OUT/unlearn-one.txt"
t5=$(now)
# The work saved, in sample visits, as sisa unlearn reports it ("(N.Nx less work)").
work_one=$(sed -n 's/.*(\([0-9.]*\)x less work).*/\1/p' "$OUT/unlearn-one.txt" | tail -n 1)
sisa_mpi status -c "$CFG"

echo
echo "== 4. verify and audit the deletions"
CERT=$OUT/certificate.json
sisa_mpi verify -c "$CFG" -o "$CERT" --force
verdict=$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["verdict"], len(c["requests"]), "request(s),", len(c["shards"]), "shard(s)")' "$CERT")
sisa_mpi audit -c "$CFG" --certificate "$CERT"

echo
echo "== 5. k nearest neighbours: what the 20-sample deletion would change, before making it"
KCFG=$ROOT/configs/fashion-mnist-knn.yaml
rm -rf "$ROOT/out/fashion-mnist-knn/store"
sisa_mpi -q train -c "$KCFG"
# Reverse kNN: which test predictions use one of the 20 rows among their 5 nearest, and which
# would flip; then the deletion itself, exact and certified like any other.
sisa_mpi impact -c "$KCFG" --ids-file "$OUT/deletion-request.txt" --queries "$OUT/test.h5" \
  -o "$OUT/knn-impact.h5" --force
sisa_mpi -q unlearn -c "$KCFG" --ids-file "$OUT/deletion-request.txt"
sisa_mpi -q verify -c "$KCFG" | tail -n 2

echo
echo "== summary"
S=$(sed -n 's/^ *shards: *\([0-9]*\).*/\1/p' "$CFG" | head -n 1)
R=$(sed -n 's/^ *slices: *\([0-9]*\).*/\1/p' "$CFG" | head -n 1)
"$PY" - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$acc_before" "$acc_after" "${work_one:-0}" "$S" "$R" <<'PYEOF'
import sys
t0, t1, t2, t3, t4, t5, before, after, work, S, R = map(float, sys.argv[1:])
train, unlearn, single = t1 - t0, t3 - t2, t5 - t4
print(f"test accuracy:  {before:.4f} after training, {after:.4f} after unlearning 20 samples")
print(f"training time:  {train:.2f} s (8 shards x 4 slices, 60000 rows, on all local cores)")
print(f"unlearning:     {unlearn:.2f} s for 20 samples in one request "
      f"(speed-up over full retraining {train / unlearn:.1f}x: they hit every shard)")
model = S / (2 / 3 + 1 / (3 * R))
print(f"                {single:.2f} s for 1 sample "
      f"(speed-up over full retraining {train / single:.1f}x; work saved {work:.1f}x in sample "
      f"visits; SISA's cost model expects {model:.1f}x for one request at S={S:.0f}, R={R:.0f})")
PYEOF
echo "certificate:    $verdict ($CERT)"

echo
echo "== the deletion history of the demo store (sisa log)"
sisa_mpi log -c "$CFG"
