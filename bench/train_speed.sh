#!/usr/bin/env bash
# Benchmark: `sisa train` as a whole process against its own training loop (bench_train) and
# against PyTorch's, side by side in one run on one machine; then training on P = 1 and 2 ranks.
#
#   bench/train_speed.sh [RUNS] [CORE] [BUILD_DIR]     (defaults: 3, auto, build/release)
#
# CORE sets OPENBLAS_CORETYPE for every program here (sisa, bench_train and PyTorch, which
# Debian links to the same OpenBLAS through libblas.so.3); "auto" leaves the choice to sisa (the
# variable is unset), and then bench_train and PyTorch, which do not choose, run under the core
# sisa runs (`sisa --version`), so that the three run the same kernels. On a CPU where OpenBLAS
# falls back to a generic core and sisa picks a faster one, PyTorch under OpenBLAS's own pick is
# also run once, for the record.
# Every program runs on one thread. The net: MLP 784-256-10 (ReLU), Adam lr 1e-3, batch 128,
# 5 epochs over Fashion-MNIST's 60 000 training rows (300 000 sample visits).
#
#   1. `sisa train` at S=1, R=1, 5 epochs: the whole process's wall time (import excluded: the
#      dataset file exists), its samples/s (300 000 / wall), and the samples/s sisa reports for
#      its training phase;
#   2. bench_train's loop (shuffle, gather, step) for 5 epochs: samples/s;
#   3. PyTorch 1.13 (Debian's python3-torch, /usr/bin/python3) on the same net and data
#      (bench/torch_mlp.py: index_select batches, glibc malloc thresholds raised);
#   4. `sisa train` at S=2, R=1, P_EPOCHS epochs (default 10: 600 000 sample visits, the default
#      config's budget) on P = 1 and P = 2 ranks: wall times and efficiency T1 / (2 T2). P = 1 is
#      run both directly and under `mpirun -n 1`, so that the like-for-like efficiency (the same
#      launcher on both sides) and the one against a direct run are both printed; sisa's own
#      figure (its training seconds, launcher and process start-up excluded) too.
# Each figure is the best of RUNS runs (the machine may be shared: the load average is printed
# with every figure). Throughputs are also given per second of the process's own CPU time, which
# other jobs on a shared machine disturb far less than wall time. Nothing is checked: the script
# prints figures and, at the end, every ratio the targets are about (whole process >= 0.85x
# bench_train's loop, >= 1.3x PyTorch's loop; P = 2 efficiency >= 90 %).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
core=${2:-auto}
build=${3:-build/release}
pepochs=${P_EPOCHS:-10}
sisa=$build/sisa
bench=$build/bench/bench_train
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ] || [ ! -x "$bench" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh "$build" -DBUILD_TESTING=OFF >/dev/null
fi
/usr/bin/python3 -c 'import torch' 2>/dev/null || SISA_EXTRA_PKGS=python3-torch bash scripts/install-deps.sh
if [ "$core" = auto ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$core; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPI=(mpirun)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
MPI+=(--oversubscribe -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$core" = auto ] || MPI+=(-x OPENBLAS_CORETYPE)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/train.h5" >/dev/null
config() { # NAME SHARDS
  sed -e "s|^\(  train:\).*|\1 train.h5|" -e "/^  test:/d" -e "s|^store:.*|store: store-$1|" \
      -e "s|^\(  shards:\) *[0-9]*|\1 $2|" -e "s|^\(  slices:\) *[0-9]*|\1 1|" \
      -e "s|^\(  epochs:\) *[0-9]*|\1 5|" configs/fashion-mnist.yaml >"$dir/$1.yaml"
}
config s1 1
config s2 2
sed -i -e "s|^\(  epochs:\) *[0-9]*|\1 $pepochs|" "$dir/s2.yaml"
now() { date +%s.%N; }
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
max() { if [ -z "$1" ] || [ "$(echo "$2 > $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "cpu: $(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo 'model')), $(nproc --all) cores"
version=$("$sisa" --version 2>/dev/null)
grep -E '^sisa|OpenBLAS' <<<"$version"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "openblas core: $core (OPENBLAS_CORETYPE ${OPENBLAS_CORETYPE:-unset}), OPENBLAS_NUM_THREADS=1"
# The core sisa runs, and OpenBLAS's own pick when sisa chose another ("(core X, chosen by sisa
# after its self-check (OpenBLAS picked Y), ...").
sisa_core=$(sed -n 's/^OpenBLAS: .*(core \([A-Za-z0-9]*\).*/\1/p' <<<"$version")
openblas_pick=$(sed -n 's/^OpenBLAS: .*OpenBLAS picked \([A-Za-z0-9]*\).*/\1/p' <<<"$version")
others=() # the environment of bench_train and PyTorch
if [ "$core" = auto ] && [ -n "$sisa_core" ]; then
  others=(env OPENBLAS_CORETYPE="$sisa_core")
  echo "bench_train and PyTorch run under sisa's core: OPENBLAS_CORETYPE=$sisa_core${openblas_pick:+ (OpenBLAS alone picks $openblas_pick)}"
fi
echo "load before: $(load)"

# CPU seconds (user + system) of a command, its stdout to $dir/out.
cpu_of() {
  /usr/bin/python3 -c 'import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], check=True, stdout=out)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' "$dir/out" "$@"
}

# 1. sisa train, S=1 R=1, whole process.
wall="" phase="" cpu=""
for _ in $(seq 1 "$runs"); do
  rm -rf "$dir/store-s1"
  a=$(now)
  c=$(cpu_of "$sisa" -q train -c "$dir/s1.yaml")
  b=$(now)
  wall=$(min "$wall" "$(echo "$b - $a" | bc -l)")
  cpu=$(min "$cpu" "$c")
  phase=$(max "$phase" "$(grep -o '([0-9]* samples/s)' "$dir/out" | grep -o '[0-9]*')")
done
sisa_sps=$(echo "300000 / $wall" | bc -l)
sisa_cpu=$(echo "300000 / $cpu" | bc -l)
printf 'sisa train S=1 R=1 5 epochs: %.2f s wall (best of %d) = %.0f samples/s whole process; %.0f samples/s in its training phase; %.2f CPU s = %.0f samples per CPU s [load %s]\n' \
  "$wall" "$runs" "$sisa_sps" "$phase" "$cpu" "$sisa_cpu" "$(load)"

# 2. bench_train's loop.
loop="" loop_cpu=""
for _ in $(seq 1 "$runs"); do
  line=$("${others[@]}" "$bench" 5 "$fm" "mlp 784-256-10 raw" | awk '$4 == "ftz+daz"')
  loop=$(max "$loop" "$(awk '{ print $5 }' <<<"$line")")
  loop_cpu=$(max "$loop_cpu" "$(awk '{ print $12 }' <<<"$line")")
done
printf 'bench_train loop (mlp raw/255, 5 epochs): %.0f samples/s, %.0f per CPU s (best of %d) [load %s]\n' \
  "$loop" "$loop_cpu" "$runs" "$(load)"

# 3. PyTorch's loop.
torch_run() {
  "$@" MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \
    MALLOC_TOP_PAD_=268435456 /usr/bin/python3 bench/torch_mlp.py "$dir/train.h5" 5
}
if [ -n "$openblas_pick" ]; then
  printf 'PyTorch loop under OpenBLAS'"'"'s own pick (%s), once: %s [load %s]\n' "$openblas_pick" \
    "$(torch_run env -u OPENBLAS_CORETYPE)" "$(load)"
fi
torch="" torch_cpu=""
for _ in $(seq 1 "$runs"); do
  line=$(torch_run env "${others[@]:1}")
  torch=$(max "$torch" "$(grep -o '[0-9]* samples/s' <<<"$line" | grep -o '^[0-9]*')")
  torch_cpu=$(max "$torch_cpu" "$(grep -o '[0-9]* per CPU s' <<<"$line" | grep -o '^[0-9]*')")
done
echo "$line"
printf 'PyTorch loop (5 epochs): %.0f samples/s, %.0f per CPU s (best of %d) [load %s]\n' "$torch" \
  "$torch_cpu" "$runs" "$(load)"

# 4. P = 1 and 2 ranks, S = 2: wall time of the whole command (launcher included), and sisa's
# own seconds ("in X s": from its start to the end of training, the launcher and process
# start-up excluded).
t1="" t1m="" t2="" i1="" i2=""
timed() { # VAR_WALL VAR_INNER COMMAND...: best wall and inner seconds
  local a b out w i
  rm -rf "$dir/store-s2"
  a=$(now)
  out=$("${@:3}")
  b=$(now)
  w=$(echo "$b - $a" | bc -l)
  i=$(grep -o 'rows in [0-9.]* s' <<<"$out" | grep -o '[0-9.]* s' | grep -o '[0-9.]*')
  printf -v "$1" '%s' "$(min "${!1}" "$w")"
  [ -z "$2" ] || printf -v "$2" '%s' "$(min "${!2}" "$i")"
}
for _ in $(seq 1 "$runs"); do
  timed t1 i1 "$sisa" -q train -c "$dir/s2.yaml"
  timed t1m "" "${MPI[@]}" -n 1 "$sisa" -q train -c "$dir/s2.yaml"
  timed t2 i2 "${MPI[@]}" -n 2 "$sisa" -q train -c "$dir/s2.yaml"
done
eff_m=$(echo "100 * $t1m / (2 * $t2)" | bc -l)
eff_d=$(echo "100 * $t1 / (2 * $t2)" | bc -l)
eff_i=$(echo "100 * $i1 / (2 * $i2)" | bc -l)
printf 'sisa train S=2 R=1 %d epochs (best of %d): P=1 %.2f s direct, %.2f s under mpirun -n 1; P=2 %.2f s under mpirun -n 2 [load %s]\n' \
  "$pepochs" "$runs" "$t1" "$t1m" "$t2" "$(load)"
printf '  efficiency T1 / (2 T2): %.0f%% (both under mpirun), %.0f%% (P=1 direct); sisa'"'"'s own seconds %.2f / %.2f: %.0f%%\n' \
  "$eff_m" "$eff_d" "$i1" "$i2" "$eff_i"

echo
echo "== targets (issue 11), best of $runs, load now $(load) =="
printf 'whole sisa train / bench_train loop   %.2f  (target >= 0.85)  wall; %.2f per CPU s\n' \
  "$(echo "$sisa_sps / $loop" | bc -l)" "$(echo "$sisa_cpu / $loop_cpu" | bc -l)"
printf 'whole sisa train / PyTorch loop       %.2f  (target >= 1.3)   wall; %.2f per CPU s\n' \
  "$(echo "$sisa_sps / $torch" | bc -l)" "$(echo "$sisa_cpu / $torch_cpu" | bc -l)"
printf 'P=2 training efficiency (S=2)         %.0f%%   (target >= 90%%) both under mpirun; %.0f%% against a direct P=1\n' \
  "$eff_m" "$eff_d"
echo "load after: $(load)"
