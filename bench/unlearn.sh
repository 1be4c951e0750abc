#!/usr/bin/env bash
# Benchmark: the cost of unlearning against full retraining, on Fashion-MNIST with the default
# config's model and training settings at S=20 shards, R=5 slices (the SISA paper's setting).
# Trains the store once (= the cost of full retraining), then runs single-sample deletion
# requests and one batched request of K samples, and prints wall time, sample visits, the
# speed-ups, and the SISA cost model's expectation for one request: (2/3 + 1/(3R)) / S of the
# full training work.
#
#   bench/unlearn.sh [REQUESTS] [K] [SISA_BINARY]     (defaults: 5, 10, build/release/sisa)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-5}
k=${2:-10}
sisa=${3:-build/release/sisa}
S=20
R=5
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/train.h5" >/dev/null
sed -e "s|^\(  train:\).*|\1 train.h5|" -e "/^  test:/d" -e "s|^store:.*|store: store|" \
    -e "s|^\(  shards:\) *[0-9]*|\1 $S|" -e "s|^\(  slices:\) *[0-9]*|\1 $R|" \
    configs/fashion-mnist.yaml >"$dir/cfg.yaml"
"$sisa" config check -c "$dir/cfg.yaml" >/dev/null
"$sisa" --version | grep OpenBLAS

now() { date +%s.%N; }
t0=$(now)
"$sisa" -q train -c "$dir/cfg.yaml" >/dev/null
t1=$(now)
full=$(echo "$t1 - $t0" | bc -l)
printf 'full training (= retraining from scratch): %.2f s, S=%d R=%d, 60000 rows\n' "$full" "$S" "$R"

# Deterministic choice of IDs (all IDs 0..59999 are in the store, minus those already deleted).
pick() { awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed); c = 0;
  while (c < n) { id = int(rand() * 60000); if (!(id in s)) { s[id] = 1; printf "%s%d", (c ? "," : ""), id; c++ } } }'; }
sum_t=0
sum_f=0
for i in $(seq 1 "$requests"); do
  ids=$(pick "$i" 1)
  t2=$(now)
  out=$("$sisa" -q unlearn -c "$dir/cfg.yaml" --ids "$ids")
  t3=$(now)
  t=$(echo "$t3 - $t2" | bc -l)
  frac=$(grep -o '[0-9.]*% of training' <<<"$out" | grep -o '^[0-9.]*')
  printf 'request %d (1 sample, id %s): %.2f s, %s%% of full training work, %.1fx faster than retraining\n' \
    "$i" "$ids" "$t" "$frac" "$(echo "$full / $t" | bc -l)"
  sum_t=$(echo "$sum_t + $t" | bc -l)
  sum_f=$(echo "$sum_f + $frac" | bc -l)
done
ids=$(pick 999 "$k")
t2=$(now)
out=$("$sisa" -q unlearn -c "$dir/cfg.yaml" --ids "$ids")
t3=$(now)
frac=$(grep -o '[0-9.]*% of training' <<<"$out" | grep -o '^[0-9.]*')
shards=$(grep -o 'in [0-9]* of' <<<"$out" | head -1 | grep -o '[0-9]*')
printf 'batched request of K=%d samples (%s shards hit): %.2f s, %s%% of full training work\n' \
  "$k" "$shards" "$(echo "$t3 - $t2" | bc -l)" "$frac"
printf 'single requests: mean %.2f s, mean %.2f%% of full training work (%.1fx); ' \
  "$(echo "$sum_t / $requests" | bc -l)" "$(echo "$sum_f / $requests" | bc -l)" \
  "$(echo "100 / ($sum_f / $requests)" | bc -l)"
printf 'SISA cost model: %.2f%% (%.1fx)\n' "$(echo "100 * (2/3 + 1/(3*$R)) / $S" | bc -l)" \
  "$(echo "$S / (2/3 + 1/(3*$R))" | bc -l)"
