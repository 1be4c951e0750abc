#!/usr/bin/env bash
# Benchmark: the cost of unlearning against full retraining, on Fashion-MNIST with the default
# config's model and training settings at S=20 shards, R=5 slices (the SISA paper's setting).
#
#   bench/unlearn.sh [REQUESTS] [K] [SISA_BINARY] [CORE] [SCALE]
#                    (defaults: 10, 10, build/release/sisa, auto, 1)
#
# 1. Trains the store once (its wall time = the cost of full retraining), then runs REQUESTS
#    single-sample deletion requests (each a whole `sisa unlearn` process) and one batched
#    request of K samples, and prints wall time, CPU time, sample visits, the speed-ups, the
#    ratio of the wall speed-up to the work speed-up (the target: >= 0.85), and the SISA cost
#    model's expectation for one request: (2/3 + 1/(3R)) / S of the full training work.
# 2. With SCALE=1, deletion time at a fixed shard size: a dataset of four copies of
#    Fashion-MNIST's training set with distinct IDs (240 000 rows) at S=80, R=5, so shards hold
#    about 3 000 rows as at S=20; the same REQUESTS sample IDs (all below 60 000, in both stores,
#    in the same slice: a row's slice depends on its ID only; new IDs, none deleted before) are
#    deleted from both stores in turn, one request on each, and the mean deletion times are
#    compared (the target: it grows by less than 10 %).
#
# CORE sets OPENBLAS_CORETYPE ("auto" leaves OpenBLAS to pick). Every program runs on one
# OpenBLAS thread. The load average is printed with every figure: on a shared machine wall
# times move by tens of percent; CPU times much less.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-10}
k=${2:-10}
sisa=${3:-build/release/sisa}
core=${4:-auto}
scale=${5:-1}
S=20
R=5
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
if [ "$core" = auto ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$core; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/train.h5" >/dev/null
config() { # NAME DATA SHARDS
  sed -e "s|^\(  train:\).*|\1 $2|" -e "/^  test:/d" -e "s|^store:.*|store: store-$1|" \
      -e "s|^\(  shards:\) *[0-9]*|\1 $3|" -e "s|^\(  slices:\) *[0-9]*|\1 $R|" \
      configs/fashion-mnist.yaml >"$dir/$1.yaml"
  "$sisa" config check -c "$dir/$1.yaml" >/dev/null
}
config s20 train.h5 $S

load() { cut -d' ' -f1-3 /proc/loadavg; }
cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "cpu: $(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo 'model')), $(nproc --all) cores"
"$sisa" --version | grep -E '^sisa|OpenBLAS'
echo "load before: $(load)"

now() { date +%s.%N; }
# run OUT_FILE COMMAND...: the command's stdout to OUT_FILE; prints "WALL CPU" (seconds).
run() {
  /usr/bin/python3 -c 'import resource, subprocess, sys, time
with open(sys.argv[1], "w") as out:
    t = time.monotonic()
    subprocess.run(sys.argv[2:], check=True, stdout=out)
    w = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(w, r.ru_utime + r.ru_stime)' "$@"
}

read -r full full_cpu < <(run "$dir/out" "$sisa" -q train -c "$dir/s20.yaml")
printf 'full training (= retraining from scratch): %.2f s wall, %.2f CPU s, S=%d R=%d, 60000 rows [load %s]\n' \
  "$full" "$full_cpu" "$S" "$R" "$(load)"

# Deterministic choice of IDs (all IDs 0..59999 are in the store, minus those already deleted).
pick() { awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed); c = 0;
  while (c < n) { id = int(rand() * 60000); if (!(id in s)) { s[id] = 1; printf "%s%d", (c ? "," : ""), id; c++ } } }'; }

# singles NAME: REQUESTS one-sample requests on store NAME; sets sum_t, sum_c, sum_f, sum_v.
# The requests start once the training before them is on disk (sync): otherwise the kernel's
# writeback of its files (about 1 GB at S=80: the dataset, the shards, the checkpoints) shares
# the cores with the first requests, which a deletion's helper thread (shard/train.h) feels.
singles() {
  sum_t=0 sum_c=0 sum_f=0 sum_v=0
  local i ids t c frac v
  sync
  for i in $(seq 1 "$requests"); do
    ids=$(pick "$i" 1)
    read -r t c < <(run "$dir/out" "$sisa" -q unlearn -c "$dir/$1.yaml" --ids "$ids")
    frac=$(grep -o '[0-9.]*% of training' "$dir/out" | grep -o '^[0-9.]*')
    v=$(grep -o 'retraining cost [0-9]* sample visits' "$dir/out" | grep -o '[0-9]*')
    printf '%s request %d (1 sample, id %s): %.3f s wall, %.3f CPU s, %s sample visits, %s%% of full training work [load %s]\n' \
      "$1" "$i" "$ids" "$t" "$c" "$v" "$frac" "$(load)"
    sum_t=$(echo "$sum_t + $t" | bc -l)
    sum_c=$(echo "$sum_c + $c" | bc -l)
    sum_f=$(echo "$sum_f + $frac" | bc -l)
    sum_v=$(echo "$sum_v + $v" | bc -l)
  done
}
singles s20
mean_t=$(echo "$sum_t / $requests" | bc -l)
mean_c=$(echo "$sum_c / $requests" | bc -l)
mean_f=$(echo "$sum_f / $requests" | bc -l)
mean_v20=$(echo "$sum_v / $requests" | bc -l)
mean_t20=$mean_t
mean_c20=$mean_c
wall_x=$(echo "$full / $mean_t" | bc -l)
cpu_x=$(echo "$full_cpu / $mean_c" | bc -l)
work_x=$(echo "100 / $mean_f" | bc -l)

ids=$(pick 999 "$k")
read -r t c < <(run "$dir/out" "$sisa" -q unlearn -c "$dir/s20.yaml" --ids "$ids")
frac=$(grep -o '[0-9.]*% of training' "$dir/out" | grep -o '^[0-9.]*')
shards=$(grep -o 'in [0-9]* of' "$dir/out" | head -1 | grep -o '[0-9]*')
printf 'batched request of K=%d samples (%s shards hit): %.2f s wall, %.2f CPU s, %s%% of full training work [load %s]\n' \
  "$k" "$shards" "$t" "$c" "$frac" "$(load)"
printf 'single requests: mean %.3f s wall (%.1fx faster than retraining), %.3f CPU s (%.1fx), %.2f%% of the work (%.1fx less); SISA cost model: %.2f%% (%.1fx)\n' \
  "$mean_t" "$wall_x" "$mean_c" "$cpu_x" "$mean_f" "$work_x" \
  "$(echo "100 * (2/3 + 1/(3*$R)) / $S" | bc -l)" "$(echo "$S / (2/3 + 1/(3*$R))" | bc -l)"

if [ "$scale" = 1 ]; then
  # Four copies of the training set as plain IDX files; sisa import numbers them 0..239999.
  /usr/bin/python3 - "$fm" "$dir" <<'EOF'
import gzip, struct, sys
fm, out = sys.argv[1], sys.argv[2]
for name, head in (("train-images-idx3-ubyte", 16), ("train-labels-idx1-ubyte", 8)):
    with gzip.open(f"{fm}/{name}.gz") as f:
        b = f.read()
    hdr, body = bytearray(b[:head]), b[head:]
    hdr[4:8] = struct.pack(">I", 4 * struct.unpack(">I", hdr[4:8])[0])
    with open(f"{out}/x4-{name}", "wb") as f:
        f.write(hdr)
        for _ in range(4):
            f.write(body)
EOF
  "$sisa" -q import idx --images "$dir/x4-train-images-idx3-ubyte" \
    --labels "$dir/x4-train-labels-idx1-ubyte" --scale 255 -o "$dir/train4.h5" >/dev/null
  rm -f "$dir"/x4-*
  config s80 train4.h5 80
  read -r full80 full80_cpu < <(run "$dir/out" "$sisa" -q train -c "$dir/s80.yaml")
  printf 'S=80 R=%d on 4 x 60000 rows (distinct IDs): full training %.2f s wall, %.2f CPU s [load %s]\n' \
    "$R" "$full80" "$full80_cpu" "$(load)"
  # The two stores side by side: the same new IDs (none deleted before), one request on S=20,
  # then the same on S=80, in turn, so that both series see the same machine (its speed drifts
  # over minutes, and the S=80 training just before leaves the page cache and writeback busy).
  done_ids=",$(for i in $(seq 1 "$requests"); do pick "$i" 1; printf ','; done)$(pick 999 "$k"),"
  pair_ids=""
  for cand in $(pick 2024 $((requests + 40)) | tr ',' ' '); do
    case $done_ids in *",$cand,"*) continue ;; esac
    pair_ids="$pair_ids $cand"
    [ "$(echo "$pair_ids" | wc -w)" -ge "$requests" ] && break
  done
  sync
  s20_t=0 s20_c=0 s20_v=0 s80_t=0 s80_c=0 s80_v=0
  for id in $pair_ids; do
    for name in s20 s80; do
      read -r t c < <(run "$dir/out" "$sisa" -q unlearn -c "$dir/$name.yaml" --ids "$id")
      v=$(grep -o 'retraining cost [0-9]* sample visits' "$dir/out" | grep -o '[0-9]*')
      printf '%s paired request (1 sample, id %s): %.3f s wall, %.3f CPU s, %s sample visits [load %s]\n' \
        "$name" "$id" "$t" "$c" "$v" "$(load)"
      if [ "$name" = s20 ]; then
        s20_t=$(echo "$s20_t + $t" | bc -l) s20_c=$(echo "$s20_c + $c" | bc -l) s20_v=$((s20_v + v))
      else
        s80_t=$(echo "$s80_t + $t" | bc -l) s80_c=$(echo "$s80_c + $c" | bc -l) s80_v=$((s80_v + v))
      fi
    done
  done
  mean_t20=$(echo "$s20_t / $requests" | bc -l)
  mean_c20=$(echo "$s20_c / $requests" | bc -l)
  mean_v20=$(echo "$s20_v / $requests" | bc -l)
  mean_t80=$(echo "$s80_t / $requests" | bc -l)
  mean_c80=$(echo "$s80_c / $requests" | bc -l)
  mean_v80=$(echo "$s80_v / $requests" | bc -l)
  printf 'same %d new IDs, in turn: S=20 mean %.3f s wall, %.3f CPU s, %.0f visits; S=80 mean %.3f s wall, %.3f CPU s, %.0f visits\n' \
    "$requests" "$mean_t20" "$mean_c20" "$mean_v20" "$mean_t80" "$mean_c80" "$mean_v80"
fi

echo
echo "== targets (issue 11), load now $(load) =="
printf 'one-sample deletion S=%d R=%d: wall speed-up %.1fx / work speed-up %.1fx = %.2f  (target >= 0.85); CPU time: %.1fx / %.1fx = %.2f\n' \
  "$S" "$R" "$wall_x" "$work_x" "$(echo "$wall_x / $work_x" | bc -l)" "$cpu_x" "$work_x" \
  "$(echo "$cpu_x / $work_x" | bc -l)"
if [ "$scale" = 1 ]; then
  printf 'deletion time at a fixed shard size, S=20 -> S=80: %+.1f%% wall  (target < +10%%); %+.1f%% CPU; per sample visit %+.1f%% wall\n' \
    "$(echo "100 * ($mean_t80 / $mean_t20 - 1)" | bc -l)" "$(echo "100 * ($mean_c80 / $mean_c20 - 1)" | bc -l)" \
    "$(echo "100 * (($mean_t80 / $mean_v80) / ($mean_t20 / $mean_v20) - 1)" | bc -l)"
fi
echo "load after: $(load)"
