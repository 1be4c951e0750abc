#!/usr/bin/env bash
# Benchmark: strong scaling of `sisa train` on Fashion-MNIST (the default config's model and
# training settings, S=8 shards x R=4 slices) from P=1 to P=MAX ranks on this machine, one
# OpenBLAS thread per rank; also the peak resident memory of every rank, and the unlearning of
# one batched request at each P.
#
#   bench/scaling.sh [MAX_RANKS] [RUNS] [SISA_BINARY]   (defaults: nproc, 3, build/release/sisa)
#
# Prints, per P: best training wall time of RUNS runs, speed-up and parallel efficiency
# T1 / (P * TP), and per-rank peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-$(nproc)}
runs=${2:-3}
sisa=${3:-build/release/sisa}
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
export OPENBLAS_NUM_THREADS=1
MPI=(mpirun)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/train.h5" >/dev/null
sed -e "s|^\(  train:\).*|\1 train.h5|" -e "/^  test:/d" -e "s|^store:.*|store: store|" \
    configs/fashion-mnist.yaml >"$dir/cfg.yaml"
"$sisa" --version | grep OpenBLAS
now() { date +%s.%N; }
t1=""
for p in $(seq 1 "$max"); do
  best=""
  mem=""
  for _ in $(seq 1 "$runs"); do
    rm -rf "$dir/store"
    a=$(now)
    out=$("${MPI[@]}" -n "$p" "$sisa" -q train -c "$dir/cfg.yaml")
    b=$(now)
    t=$(echo "$b - $a" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    mem=$(grep -o 'peak memory per rank:.*' <<<"$out" | sed 's/peak memory per rank: //')
  done
  [ -z "$t1" ] && t1=$best
  u0=$(now)
  "${MPI[@]}" -n "$p" "$sisa" -q unlearn -c "$dir/cfg.yaml" --ids 11,22222,33333,44444 >/dev/null
  u1=$(now)
  printf 'P=%d: train %.2f s (best of %d), speed-up %.2f, efficiency %.0f%%; peak memory per rank: %s; unlearning 4 samples %.2f s\n' \
    "$p" "$best" "$runs" "$(echo "$t1 / $best" | bc -l)" "$(echo "100 * $t1 / ($p * $best)" | bc -l)" \
    "$mem" "$(echo "$u1 - $u0" | bc -l)"
done
