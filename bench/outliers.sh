#!/usr/bin/env bash
# Benchmark: sisa outliers on Fashion-MNIST's 60 000 training rows (784 features) against
# scikit-learn (Debian's python3-sklearn) on the same rows, side by side in one run, and an
# outlier purge: sisa outliers -> sisa unlearn --ids-file -> sisa verify -> sisa audit.
#
#   bench/outliers.sh [SISA_BINARY] [CORE]      (defaults: build/release/sisa, auto)
#
# Prints for each method the wall time of sisa at 1 and 2 ranks and of scikit-learn on one
# thread, and how closely the scores agree (LOF: the largest relative difference and the rows
# flagged by one and not the other; Isolation Forest: Spearman's rank correlation, the trees
# being random on both sides). The store is the default config's (S = 8, R = 4) trained for one
# epoch: the outlier scores read the shards' rows, not the models. CORE sets OPENBLAS_CORETYPE
# ("auto" leaves the choice to OpenBLAS and sisa). Every program runs on one OpenBLAS thread.
set -euo pipefail
cd "$(dirname "$0")/.."
sisa=$(realpath "${1:-build/release/sisa}")
core=${2:-auto}
fm=/usr/share/datasets/fashion-mnist
if [ ! -x "$sisa" ]; then
  bash scripts/install-deps.sh
  SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
fi
if [ "$core" = auto ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$core; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 SISA_PROGRESS=0
mpi=(mpirun -n 2)
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
  --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 -o train.h5 >/dev/null
sed -e "s|^\(  train:\).*|\1 train.h5|" -e "/^  test:/d" -e "s|^store:.*|store: store|" \
  -e "s|^\(  epochs:\) *[0-9]*|\1 1|" "$OLDPWD/configs/fashion-mnist.yaml" >fm.yaml
"$sisa" -q train -c fm.yaml >/dev/null

echo "== machine"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(grep -c ^processor /proc/cpuinfo) cores"
"$sisa" --version 2>/dev/null | grep -E '^(sisa|OpenBLAS)'
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)"

wall() { # LABEL COMMAND...: run, print the wall time
  local t0 t1
  t0=$(date +%s.%N)
  "${@:2}" >/dev/null
  t1=$(date +%s.%N)
  awk -v l="$1" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-34s %8.2f s\n", l, b - a }'
}

echo "== sisa outliers (60000 rows x 784 features)"
for m in "iforest --trees 100" "iforest --trees 1000" "lof -k 20"; do
  tag=${m// /}
  tag=${tag//--/-}
  # shellcheck disable=SC2086 # "$m" is a method and its options
  wall "sisa $m, 1 rank" "$sisa" -q outliers -c fm.yaml --method $m --contamination 0.001 \
    -o "ids-$tag.txt" --scores "s-$tag.h5"
  # shellcheck disable=SC2086
  wall "sisa $m, 2 ranks" "${mpi[@]}" "$sisa" -q outliers -c fm.yaml --method $m \
    --contamination 0.001 -o "p-$tag.txt" --scores "p-$tag.h5"
  cmp -s "ids-$tag.txt" "p-$tag.txt" && echo "  the same IDs file at 1 and 2 ranks" ||
    echo "  DIFFERENT IDs files at 1 and 2 ranks"
done

echo "== scikit-learn $(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)'), one thread"
/usr/bin/python3 - <<'PY'
import time
import h5py
import numpy as np
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

with h5py.File("train.h5", "r") as f:
    ids = np.asarray(f["id"])
    X = np.asarray(f["X"], dtype=np.float64)
def load(path):
    with h5py.File(path, "r") as f:
        assert (np.asarray(f["id"]) == ids).all()
        return np.asarray(f["score"]), np.asarray(f["flagged"])
for trees in (100, 1000):
    t0 = time.time()
    ref = -IsolationForest(n_estimators=trees, max_samples=256, random_state=0,
                           n_jobs=1).fit(X).score_samples(X)
    t = time.time() - t0
    s, _ = load(f"s-iforest-trees{trees}.h5")
    print(f"{'scikit-learn iforest, %d trees' % trees:34s} {t:8.2f} s   "
          f"Spearman with sisa {spearmanr(s, ref).correlation:.4f}")
t0 = time.time()
lof = LocalOutlierFactor(n_neighbors=20, contamination=0.001, algorithm="brute", n_jobs=1)
pred = lof.fit_predict(X)
t = time.time() - t0
s, flag = load("s-lof-k20.h5")
ref = -lof.negative_outlier_factor_
rel = np.abs(s - ref) / ref
print(f"{'scikit-learn lof, k = 20 (brute)':34s} {t:8.2f} s   "
      f"max relative difference {rel.max():.2e}, rows above 1e-6: {(rel > 1e-6).sum()}, "
      f"flagged by one only: {((pred == -1) != (flag == 1)).sum()} of {(flag == 1).sum()}")
PY

echo "== purge: the isolation forest's flagged rows, deleted exactly"
wall "sisa unlearn --ids-file (1 rank)" "$sisa" -q unlearn -c fm.yaml --ids-file ids-iforest-trees1000.txt
wall "sisa verify (1 rank)" "$sisa" -q verify -c fm.yaml
wall "sisa audit (1 rank)" "$sisa" -q audit -c fm.yaml
echo "rows deleted: $(grep -vc '^#' ids-iforest-trees1000.txt); ledger origin:"
tail -1 store/ledger | /usr/bin/python3 -c 'import json,sys; print(" ", json.load(sys.stdin)["origin"])'
