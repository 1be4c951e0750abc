#!/usr/bin/env bash
# Benchmark: importing the Fashion-MNIST training set (60 000 gzipped 28x28 images) into a sisa
# dataset file, end to end through the CLI (gunzip, convert, scale, write, read back, fsync,
# publish). Prints the time of each run and the best and median.
#
#   bench/import.sh [RUNS] [SISA_BINARY]      (defaults: 5, build/release/sisa)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
sisa=${2:-build/release/sisa}
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
times=()
for i in $(seq 1 "$runs"); do
  t0=$(date +%s.%N)
  "$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
    --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 --force -o "$out/train.h5" >/dev/null
  t1=$(date +%s.%N)
  t=$(echo "$t1 - $t0" | bc -l)
  times+=("$t")
  printf 'run %d: %.3f s\n' "$i" "$t"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -g)
best=$(echo "$sorted" | head -n 1)
median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
bytes=$(stat -c %s "$out/train.h5")
printf 'import idx, Fashion-MNIST train (60000 x 784): best %.3f s, median %.3f s\n' "$best" "$median"
printf '  %.0f rows/s, %.0f MB/s of output (%d bytes), target: under 2 s\n' \
  "$(echo "60000 / $best" | bc -l)" "$(echo "$bytes / $best / 1000000" | bc -l)" "$bytes"
