#!/usr/bin/env bash
# Benchmark: model.type knn on Fashion-MNIST (60 000 training rows, 10 000 test rows, 784
# features, pixels scaled to [0, 1]; k = 5, Euclidean), in one run:
#
# 1. Test accuracy (sisa eval) at S = 1, 8 and 20 shards with aggregate.strategy merge, vote and
#    mean. merge gives the same accuracy at every S (the merged k-best lists are one kNN over all
#    rows); vote and mean combine S separate kNNs over ever smaller shards.
# 2. Prediction throughput: the wall time of the whole `sisa predict` process (reading the
#    shards' rows included) over the 10 000 test rows, S = 1, 8 and 20 with merge, at 1 and 2
#    ranks, best of RUNS; scikit-learn's KNeighborsClassifier(algorithm="brute", n_jobs=1) fit
#    and predict on the same rows, under the OpenBLAS core sisa uses and under OpenBLAS's own
#    pick, best of RUNS (the whole python process; its fit + predict time is printed too).
#    Checks that every sisa prediction file holds the same posteriors and labels (S = 1, 8, 20,
#    1 and 2 ranks), that a store set up under another OpenBLAS core (Prescott) predicts the same
#    bytes, and that scikit-learn predicts the same labels.
# 3. The cost of a deletion, kNN against the default MLP (configs/fashion-mnist.yaml, S = 8,
#    R = 4, trained once on 2 ranks): three one-row requests and one 60-row request on each
#    store (1 rank), each a whole `sisa unlearn` process, with sample visits and the share of
#    full training sisa reports; then `sisa verify` on each store. Last, the S = 1 kNN store loses
#    the same 63 rows and must still predict exactly what the S = 8 store predicts.
#
#   bench/knn.sh [SISA_BINARY] [CORE] [OUT] [RUNS]
#                (defaults: build/release/sisa, auto, out/bench/knn, 3)
#
# Writes OUT/knn.log (everything printed), OUT/knn-accuracy.tsv, OUT/knn-throughput.tsv,
# OUT/knn-deletion.tsv and, drawn by bench/knn.gp, OUT/knn-accuracy.png, OUT/knn-throughput.png
# and OUT/knn-deletion.png (docs/figures/ holds the ones in docs/knn.md). CORE sets
# OPENBLAS_CORETYPE ("auto" leaves the choice to OpenBLAS and sisa). Every program runs on one
# OpenBLAS / OpenMP thread. The load average is printed with every figure; before each timed
# run the script waits (KNN_QUIET_WAIT seconds in all, default 600) while other processes are
# running on the machine. About 13 minutes of work on a 2-core VM, plus the waits.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sisa=$(realpath "${1:-build/release/sisa}")
sisa_given=$sisa
core=${2:-auto}
out=$(realpath -m "${3:-out/bench/knn}")
runs=${4:-3}
quiet_left=${KNN_QUIET_WAIT:-600}
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
command -v gnuplot >/dev/null || SISA_EXTRA_PKGS=gnuplot-nox bash scripts/install-deps.sh
if [ "$core" = auto ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$core; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 SISA_PROGRESS=0
mpi=(mpirun -n 2)
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A private copy of the binary: a store may only be continued by the build that wrote it, and a
# rebuild of SISA_BINARY during the run would otherwise break the deletions of part 3.
cp "$sisa" "$dir/sisa"
sisa=$dir/sisa
cd "$dir"
exec > >(tee "$out/knn.log")
started=$(date +%s)

"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
  --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 -o train.h5 >/dev/null
"$sisa" -q import idx --images "$fm/t10k-images-idx3-ubyte.gz" \
  --labels "$fm/t10k-labels-idx1-ubyte.gz" --scale 255 --id-offset 60000 -o test.h5 >/dev/null

knncfg() { # S STRATEGY [NAME]: NAME.yaml (default knn-sS-STRATEGY), store knn-sS (or NAME)
  cat >"${3:-knn-s$1-$2}.yaml" <<EOF
data:
  train: train.h5
  test: test.h5
store: ${3:-knn-s$1}
seed: 42
sisa:
  shards: $1
  slices: 4
model:
  type: knn
  k: 5
  metric: euclidean
aggregate:
  strategy: $2
EOF
}
knncfg 1 merge
if ! "$sisa" config check -c knn-s1-merge.yaml >/dev/null 2>&1; then
  echo "knn: $sisa_given does not know model.type knn; rebuild it (scripts/build.sh)" >&2
  exit 2
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
cpu_short="$(cpuinfo 'model name') (family $(cpuinfo 'cpu family') model $(cpuinfo 'model'))"
cpu="$cpu_short, $(nproc --all) cores"
version=$("$sisa" --version 2>/dev/null)
blas=$(grep '^OpenBLAS' <<<"$version")
core_used=$(sed -n 's/^OpenBLAS: .*(core \([^,)]*\).*/\1/p' <<<"$blas")
own_pick=$(sed -n 's/.*OpenBLAS picked \([A-Za-z0-9]*\).*/\1/p' <<<"$blas")
[ -n "$own_pick" ] || own_pick=$core_used
other_core=Prescott
[ "$core_used" = Prescott ] && other_core=Nehalem
today=$(date +%Y-%m-%d)
echo "== machine"
echo "cpu:      $cpu"
grep -E '^(sisa|OpenBLAS)' <<<"$version"
echo "date:     $(date '+%Y-%m-%d %H:%M %Z')"
echo "load:     $(load)"
meta="# $today; $cpu; $(head -1 <<<"$version"); $blas; OPENBLAS_NUM_THREADS=1"

# timed OUT COMMAND...: run the command, its stdout and stderr to OUT; print "WALL CPU" (seconds:
# the wall time of the command, and the CPU time of it and its children). Fails with it.
timed() {
  /usr/bin/python3 -c 'import resource, subprocess, sys, time
with open(sys.argv[1], "w") as out:
    t = time.monotonic()
    r = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
    w = time.monotonic() - t
if r.returncode:
    sys.exit("knn: exit status %d: %s (output: %s)" % (r.returncode, " ".join(sys.argv[2:]), sys.argv[1]))
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %.3f" % (w, u.ru_utime + u.ru_stime))' "$@"
}
# Other processes running right now: the mean count over 2 s (this awk is not counted).
others() {
  awk 'BEGIN { s = 0
    for (i = 0; i < 10; i++) {
      while ((getline l < "/proc/stat") > 0) if (l ~ /^procs_running /) { split(l, a, " "); s += a[2] - 1 }
      close("/proc/stat"); system("sleep 0.2") }
    printf "%.1f", s / 10 }'
}
# quiet: wait (10 s at a time, KNN_QUIET_WAIT seconds in all) while another process runs.
quiet() {
  local waited=0 o
  while [ "$quiet_left" -gt 0 ]; do
    o=$(others)
    awk -v o="$o" 'BEGIN { exit !(o > 0.5) }' || break
    sleep 10
    waited=$((waited + 10)) quiet_left=$((quiet_left - 10))
  done
  if [ "$waited" -gt 0 ]; then echo "  (waited $waited s for other processes; load $(load))"; fi
  return 0
}
# best LABEL N COMMAND...: N runs after quiet, each printed; sets bw, bc, bl: the best wall time,
# its CPU time and the load average before it. The best run's output is in best.out.
best() {
  local label=$1 n=$2 i res w c l
  shift 2
  bw=""
  for i in $(seq 1 "$n"); do
    quiet
    l=$(load)
    res=$(timed run.out "$@") || { cat run.out; exit 1; }
    read -r w c <<<"$res"
    printf '  %-40s run %d: %8.2f s wall, %8.2f CPU s [load %s]\n' "$label" "$i" "$w" "$c" "$l"
    if [ -z "$bw" ] || awk -v a="$w" -v b="$bw" 'BEGIN { exit !(a < b) }'; then
      bw=$w bc=$c bl=$l
      cp run.out best.out
    fi
  done
}
# once [--now] LABEL COMMAND...: one run (after quiet unless --now); sets w, c, l as best does.
# Output in run.out.
once() {
  local res
  if [ "$1" = --now ]; then shift; else quiet; fi
  shift
  l=$(load)
  res=$(timed run.out "$@") || { cat run.out; exit 1; }
  read -r w c <<<"$res"
}
same() { # A.h5 B.h5: "same" when both prediction files hold the same id, proba and label arrays
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    ok = all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in ("id", "proba", "label"))
print("same" if ok else "DIFFERENT")
PY
}
json_acc() { # FILE: the accuracy in sisa eval --json's output
  /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"): print("%.4f" % json.loads(line)["accuracy"])' "$1"
}
accuracy_of() { # PRED.h5: accuracy of its labels on test.h5
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as p, h5py.File("test.h5", "r") as t:
    assert np.array_equal(np.asarray(p["id"]), np.asarray(t["id"]))
    print("%.4f" % (np.asarray(p["label"]) == np.asarray(t["y"])).mean())
PY
}

echo
echo "== 1. test accuracy, k = 5, euclidean, R = 4 (sisa eval on the 10000 test rows, 1 rank)"
declare -A acc
for S in 1 8 20; do
  for st in merge vote mean; do knncfg "$S" "$st"; done
  "$sisa" -q train -c "knn-s$S-merge.yaml" >/dev/null 2>&1
  for st in merge vote mean; do
    once --now "eval S=$S $st" "$sisa" -q eval -c "knn-s$S-$st.yaml" --json
    acc[$S.$st]=$(json_acc run.out)
    printf '  S=%-3d %-6s accuracy %s  (eval %.1f s wall, %.1f CPU s) [load %s]\n' "$S" "$st" \
      "${acc[$S.$st]}" "$w" "$c" "$l"
  done
done
{
  echo "$meta"
  printf 'S\tmerge\tvote\tmean\n'
  for S in 1 8 20; do printf '%s\t%s\t%s\t%s\n' "$S" "${acc[$S.merge]}" "${acc[$S.vote]}" "${acc[$S.mean]}"; done
} >"$out/knn-accuracy.tsv"

echo
echo "== 2. prediction throughput: 10000 queries against 60000 rows (784 features), best of $runs"
tp="$out/knn-throughput.tsv"
{
  echo "$meta"
  printf 'label\tcase\tS\tranks\tcore\truns\twall_s\tcpu_s\tqueries_per_s\tload\n'
} >"$tp"
row() { # LABEL CASE S RANKS CORE RUNS
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$bw" "$bc" \
    "$(echo "10000 / $bw" | bc -l)" "$bl" >>"$tp"
  printf '  => %-40s %8.2f s, %7.0f queries/s (%.2f CPU s) [load %s]\n' "$1" "$bw" \
    "$(echo "10000 / $bw" | bc -l)" "$bc" "$bl"
}
for S in 1 8 20; do
  best "sisa predict S=$S merge, 1 rank" "$runs" "$sisa" -q predict -c "knn-s$S-merge.yaml" \
    -i test.h5 -o "p-s$S-r1.h5" --force
  row "sisa S=$S, 1 rank" "sisa predict, merge" "$S" 1 "$core_used" "$runs"
  best "sisa predict S=$S merge, 2 ranks" "$runs" "${mpi[@]}" "$sisa" -q predict \
    -c "knn-s$S-merge.yaml" -i test.h5 -o "p-s$S-r2.h5" --force
  row "sisa S=$S, 2 ranks" "sisa predict, merge" "$S" 2 "$core_used" "$runs"
done
echo "  accuracy of p-s1-r1.h5: $(accuracy_of p-s1-r1.h5)"
for f in p-s1-r2 p-s8-r1 p-s8-r2 p-s20-r1 p-s20-r2; do
  echo "  $f.h5 against p-s1-r1.h5 (S=1, 1 rank): $(same $f.h5 p-s1-r1.h5) posteriors and labels"
done

# The same S = 1 store set up under another OpenBLAS core: the neighbours must not change.
knncfg 1 merge knn-s1-other
OPENBLAS_CORETYPE=$other_core "$sisa" -q train -c knn-s1-other.yaml >/dev/null 2>&1
n_other=$((runs < 2 ? runs : 2))
best "sisa predict S=1, core $other_core" "$n_other" env OPENBLAS_CORETYPE="$other_core" "$sisa" -q \
  predict -c knn-s1-other.yaml -i test.h5 -o p-s1-other.h5 --force
row "sisa S=1, 1 rank, core $other_core" "sisa predict, merge" 1 1 "$other_core" "$n_other"
echo "  p-s1-other.h5 (store set up and read under $other_core) against p-s1-r1.h5 ($core_used):" \
  "$(same p-s1-other.h5 p-s1-r1.h5) posteriors and labels; bytes: $(cmp -s p-s1-other.h5 p-s1-r1.h5 && echo identical || echo differ)"

skver=$(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)')
cat >sk.py <<'PY'
import sys, time
import h5py
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_info
t0 = time.monotonic()
with h5py.File("train.h5", "r") as f:
    X, y = np.asarray(f["X"]), np.asarray(f["y"])
with h5py.File("test.h5", "r") as f:
    Q = np.asarray(f["X"])
t1 = time.monotonic()
clf = KNeighborsClassifier(n_neighbors=5, algorithm="brute", n_jobs=1).fit(X, y)
pred = clf.predict(Q)
t2 = time.monotonic()
np.save(sys.argv[1], pred)
arch = ",".join(sorted({str(i.get("architecture")) for i in threadpool_info()
                        if i.get("internal_api") == "openblas"}))
print(f"read {t1 - t0:.3f} fit_predict {t2 - t1:.3f} openblas {arch} dtype {X.dtype}")
PY
skcheck() { # LABELS.npy: how many labels differ from sisa's (S = 1), and scikit-learn's accuracy
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
p = np.load(sys.argv[1])
with h5py.File("p-s1-r1.h5", "r") as s, h5py.File("test.h5", "r") as t:
    print("accuracy %.4f, labels differing from sisa's: %d of %d" % (
        (p == np.asarray(t["y"])).mean(), (p != np.asarray(s["label"])).sum(), p.size))
PY
}
skcores=("$core_used")
[ "$own_pick" != "$core_used" ] && skcores+=("$own_pick")
for c in "${skcores[@]}"; do
  n=$runs
  [ "$c" != "$core_used" ] && n=$n_other
  best "scikit-learn $skver, core $c" "$n" env OPENBLAS_CORETYPE="$c" /usr/bin/python3 sk.py "sk-$c.npy"
  echo "  scikit-learn (best run): $(tail -1 best.out); $(skcheck "sk-$c.npy")"
  row "scikit-learn, core $c" "scikit-learn $skver KNeighborsClassifier brute, n_jobs=1" 0 1 "$c" "$n"
done
skacc=$(skcheck "sk-$core_used.npy" | grep -o 'accuracy [0-9.]*' | grep -o '[0-9.]*$')

echo
echo "== 3. the cost of a deletion: knn (S=8, R=4, merge) against the MLP (configs/fashion-mnist.yaml, S=8, R=4)"
sed -e "s|^\(  train:\).*|\1 train.h5|" -e "s|^\(  test:\).*|\1 test.h5|" \
  -e "s|^store:.*|store: mlp|" "$repo/configs/fashion-mnist.yaml" >mlp.yaml
quiet
l=$(load)
res=$(timed run.out "${mpi[@]}" "$sisa" -q train -c mlp.yaml) || { cat run.out; exit 1; }
read -r mlp_train mlp_train_cpu <<<"$res"
printf '  MLP: full training on 2 ranks %.2f s wall, %.2f CPU s [load %s]; %s\n' "$mlp_train" \
  "$mlp_train_cpu" "$l" "$(grep -o 'trained .* with [0-9]* ranks' run.out)"
once --now "eval MLP" "$sisa" -q eval -c mlp.yaml --json
mlp_acc=$(json_acc run.out)
echo "  MLP test accuracy (strategy mean): $mlp_acc"
sync
singles=(31337 4242 50505)
# 60 distinct IDs, fixed by the seed, none of them a single above.
many=$(awk 'BEGIN { srand(7); s[31337] = s[4242] = s[50505] = 1; c = 0
  while (c < 60) { id = int(rand() * 60000); if (!(id in s)) { s[id] = 1; printf "%s%d", (c ? "," : ""), id; c++ } } }')
del() { # MODEL CONFIG IDS: one unlearn request; sets w, c, l, visits, pct
  once "unlearn $1" "$sisa" unlearn -c "$2" --ids "$3"
  visits=$(grep -o 'retraining cost [0-9]* sample visits' run.out | grep -o '[0-9]*' || true)
  pct=$(grep -o '[0-9.]*% of training' run.out | grep -o '^[0-9.]*' || true)
  if grep -q 'trained nothing' run.out; then visits=0 pct=0; fi
  printf '  %-4s delete %2d row(s): %6.3f s wall, %6.3f CPU s, %s sample visits, %s%% of full training [load %s]\n' \
    "$1" "$(tr ',' '\n' <<<"$3" | wc -l)" "$w" "$c" "${visits:-?}" "${pct:-?}" "$l"
  grep -o 'unlearned .*' run.out | sed 's/^/        /'
}
declare -A D
for m in knn mlp; do
  cfg=mlp.yaml
  [ $m = knn ] && cfg=knn-s8-merge.yaml
  s1w=0 s1c=0 s1b="" s1v=0 s1p=0 s1l=""
  for id in "${singles[@]}"; do
    del $m $cfg "$id"
    s1w=$(echo "$s1w + $w" | bc -l) s1c=$(echo "$s1c + $c" | bc -l)
    s1v=$(echo "$s1v + $visits" | bc -l) s1p=$(echo "$s1p + $pct" | bc -l)
    if [ -z "$s1b" ] || awk -v a="$w" -v b="$s1b" 'BEGIN { exit !(a < b) }'; then s1b=$w s1l=$l; fi
  done
  D[$m.1]=$(printf '%.3f\t%.3f\t%.3f\t%.0f\t%.2f\t%s' "$s1b" "$(echo "$s1w / 3" | bc -l)" \
    "$(echo "$s1c / 3" | bc -l)" "$(echo "$s1v / 3" | bc -l)" "$(echo "$s1p / 3" | bc -l)" "$s1l")
  del $m $cfg "$many"
  D[$m.60]=$(printf '%.3f\t%.3f\t%.3f\t%s\t%s\t%s' "$w" "$w" "$c" "$visits" "$pct" "$l")
  once "verify $m" "$sisa" verify -c $cfg
  printf '  %-4s verify: %6.3f s wall, %6.3f CPU s [load %s]: %s\n' $m "$w" "$c" "$l" \
    "$(grep -o '^verdict: [a-z]*' run.out)"
  D[$m.v]=$(printf '%.3f\t%.3f\t%.3f\t\t\t%s' "$w" "$w" "$c" "$l")
done
{
  echo "$meta"
  echo "# MLP full training (2 ranks): $mlp_train s wall, $mlp_train_cpu CPU s"
  printf 'op\trows\tknn_best_s\tknn_mean_s\tknn_cpu_s\tknn_visits\tknn_pct\tknn_load\tmlp_best_s\tmlp_mean_s\tmlp_cpu_s\tmlp_visits\tmlp_pct\tmlp_load\n'
  printf 'delete 1 row\t1\t%s\t%s\n' "${D[knn.1]}" "${D[mlp.1]}"
  printf 'delete 60 rows\t60\t%s\t%s\n' "${D[knn.60]}" "${D[mlp.60]}"
  printf 'verify\t\t%s\t%s\n' "${D[knn.v]}" "${D[mlp.v]}"
} >"$out/knn-deletion.tsv"

# The S = 1 kNN store loses the same rows: merge must still equal one kNN over all rows.
"$sisa" -q unlearn -c knn-s1-merge.yaml --ids "$(IFS=,; echo "${singles[*]}"),$many" >/dev/null 2>&1
"${mpi[@]}" "$sisa" -q predict -c knn-s1-merge.yaml -i test.h5 -o d-s1.h5 >/dev/null 2>&1
"${mpi[@]}" "$sisa" -q predict -c knn-s8-merge.yaml -i test.h5 -o d-s8.h5 >/dev/null 2>&1
echo "  after the 63 deletions, S=8 merge against S=1: $(same d-s8.h5 d-s1.h5) posteriors and" \
  "labels (accuracy $(accuracy_of d-s8.h5))"

gnuplot -e "dir='$out'; out='$out'; sub='$today, $cpu_short, OpenBLAS core $core_used'; skacc=${skacc:-NaN}" \
  "$repo/bench/knn.gp"
echo
echo "== done in $(($(date +%s) - started)) s; load $(load)"
echo "wrote $out/knn.log, $out/knn-{accuracy,throughput,deletion}.tsv and .png"
