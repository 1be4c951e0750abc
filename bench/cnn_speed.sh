#!/usr/bin/env bash
# Benchmark: the default cnn (configs/fashion-mnist-cnn.yaml: 3x3 convolutions of 32 and 64
# channels, each with ReLU and 2x2 max pooling, dense 3136-128-10; Adam lr 1e-3, batch 128) on
# one core, sisa's training loop against PyTorch's, side by side in one run on one machine.
#
#   bench/cnn_speed.sh [RUNS] [EPOCHS] [BUILD_DIR]      (defaults: 3, 1, build/release)
#
#   1. bench_train's cnn case (shuffle, gather, sisa_model_train_step) for EPOCHS epochs over
#      Fashion-MNIST's 60 000 training rows: samples/s over whole epochs, inside the step, per
#      CPU second, GFLOP/s; then one step's parts: its sgemm calls alone, its im2col and col2im
#      alone (shares of the step), and a 2048^3 sgemm as the core's one-thread peak;
#   2. PyTorch 1.13 (Debian's python3-torch, /usr/bin/python3, linked to the same OpenBLAS, one
#      thread) on the same net, optimizer, batch and data (bench/torch_cnn.py, NCHW, and with
#      --layouts also channels_last), glibc's malloc thresholds raised as for torch_mlp.py.
# Both run under the OpenBLAS core sisa runs (`sisa --version`). Each figure is the best of RUNS
# runs; the CPU, the core and the load average are printed. Nothing is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
epochs=${2:-1}
build=${3:-build/release}
sisa=$build/sisa
bench=$build/bench/bench_train
fm=/usr/share/datasets/fashion-mnist
out=${SISA_BENCH_OUT:-out/bench-cnn}
mkdir -p "$out"
if [ ! -x "$sisa" ] || [ ! -x "$bench" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh "$build" -DBUILD_TESTING=OFF >/dev/null
fi
/usr/bin/python3 -c 'import torch' 2>/dev/null || SISA_EXTRA_PKGS=python3-torch bash scripts/install-deps.sh
[ -f "$out/train.h5" ] || "$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
  --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 -o "$out/train.h5" >/dev/null
core=$("$sisa" --version | sed -n 's/^OpenBLAS: [0-9.]* (core \([A-Za-z0-9]*\).*/\1/p' | head -n 1)
[ -n "$core" ] || { echo "cnn_speed: no OpenBLAS core in '$sisa --version'" >&2; exit 1; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cpu(s)"
echo "OpenBLAS core: $core (sisa --version); load average $(cut -d' ' -f1-3 /proc/loadavg)"
export OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

best_sisa=0 best_torch=0
for r in $(seq "$runs"); do
  echo "== run $r: sisa (bench_train cnn), load $(cut -d' ' -f1 /proc/loadavg)"
  line=$("$bench" "$epochs" "$fm" cnn | tee -a /dev/stderr | grep '^cnn 32-64-128')
  sps=$(awk '{print $5}' <<<"$line") # whole epochs (shuffle, gather, steps), as PyTorch's loop
  best_sisa=$(/usr/bin/python3 -c "print(max($best_sisa, ${sps:-0}))")
  echo "== run $r: PyTorch, load $(cut -d' ' -f1 /proc/loadavg)"
  tline=$(MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 \
    /usr/bin/python3 bench/torch_cnn.py "$out/train.h5" "$epochs" 128 | tee -a /dev/stderr | head -n 1)
  tsps=$(sed -n 's/.*: \([0-9]*\) samples\/s.*/\1/p' <<<"$tline")
  best_torch=$(/usr/bin/python3 -c "print(max($best_torch, ${tsps:-0}))")
done
echo "== best of $runs: sisa loop $best_sisa samples/s, PyTorch loop $best_torch samples/s"
/usr/bin/python3 -c "print(f'sisa / PyTorch: {$best_sisa / $best_torch:.2f}x')"
