#!/usr/bin/env bash
# Slurm test: a 4-task scaling array (slurm/scaling.sbatch) on the local cluster, all tasks at
# once, fills its CSV with exactly one well-formed row per grid point (appends under flock), and
# points with the same request count delete the same samples. A task beyond the grid fails with
# a clear message. scripts/plot-scaling.sh draws its figures from the CSV (if gnuplot is
# installed). The committed grid (configs/scaling-grid.csv) matches the script's default --array
# and --ntasks.
#   tests/slurm_scaling.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir"

make_csv() { # ROWS SEED
  awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); printf "label"
    for (j = 0; j < 10; j++) printf ",f%d", j; print ""
    for (i = 0; i < n; i++) { y = i % 3; printf "%d", y
      for (j = 0; j < 10; j++) printf ",%.5f", (j % 3 == y) * 0.7 + rand(); print "" } }'
}
make_csv 1200 1 >"$dir/train.csv"
make_csv 300 2 >"$dir/test.csv"
"$sisa" -q import csv "$dir/train.csv" --label label -o "$dir/train.h5" >/dev/null
"$sisa" -q import csv "$dir/test.csv" --label label --id-offset 5000 -o "$dir/test.h5" >/dev/null
cat >"$dir/base.yaml" <<YAML
data: {train: train.h5, test: test.h5}
store: unused-store
seed: 4
sisa: {shards: 8, slices: 4}
model: {type: mlp, hidden: [8]}
train: {optimizer: sgd, lr: 0.05, batch_size: 16, epochs: 3}
YAML
cat >"$dir/grid.csv" <<'CSV'
# test grid: shards x slices x ranks x requests
shards,slices,ranks,requests
2,2,1,2

3,2,2,2
4,3,2,3
3,1,1,1
CSV

# 1. The array: 4 tasks of 2 slots each run together on the 8-CPU node.
t0=$SECONDS
aid=$(submit --array=0-3 --ntasks=2 "--output=$dir/%x-%A_%a.out" \
  "--export=ALL,SISA=$sisa" "$SRC/slurm/scaling.sbatch" "$dir/grid.csv" "$dir/base.yaml" "$dir/out")
wait_job "$aid" 300
echo "scaling array $aid: 4 tasks in $((SECONDS - t0)) s"
cat "$dir/out/scaling.csv"

# 2. The CSV.
"$PY" - "$dir/out/scaling.csv" "$dir/grid.csv" <<'PYEOF' || fail "the scaling CSV is wrong"
import csv, math, sys
rows = list(csv.reader(open(sys.argv[1])))
header = ("task,job,shards,slices,ranks,requests,rows,epochs,accuracy,train_s,unlearn_s,speedup,"
          "retrain_fraction,shards_hit,train_wall_s,unlearn_wall_s,core,threads,node").split(",")
assert rows[0] == header, f"header {rows[0]}"
grid = [l.strip().split(",") for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")][1:]
data = [dict(zip(header, r)) for r in rows[1:]]
assert all(len(r) == len(header) for r in rows[1:]), "a row has the wrong number of fields"
assert sorted(int(d["task"]) for d in data) == [0, 1, 2, 3], [d["task"] for d in data]
for d in data:
    S, R, P, K = map(int, grid[int(d["task"])])
    got = tuple(int(d[k]) for k in ("shards", "slices", "ranks", "requests"))
    assert got == (S, R, P, K), f"task {d['task']}: {got} is not grid point {(S, R, P, K)}"
    assert int(d["rows"]) == 1200 and int(d["epochs"]) == 3, d
    assert 0.0 <= float(d["accuracy"]) <= 1.0 and float(d["accuracy"]) > 0.5, d
    tr, un = float(d["train_s"]), float(d["unlearn_s"])
    assert tr >= 0 and un >= 0 and float(d["train_wall_s"]) > 0 and float(d["unlearn_wall_s"]) > 0, d
    if un > 0:
        assert math.isclose(float(d["speedup"]), tr / un, rel_tol=1e-3, abs_tol=1e-3), d
    assert 0.0 < float(d["retrain_fraction"]) <= 1.0, d
    assert 1 <= int(d["shards_hit"]) <= min(K, S), d
    assert d["core"] and int(d["threads"]) == 1 and d["node"], d
print("scaling CSV: header and 4 rows check out")
PYEOF

# 3. Each task's request: K distinct IDs, the same for the two points with K = 2; stores removed.
ids() { grep -v '^#' "$dir/out/task-00$1/ids.txt"; }
for t in 0 1 2 3; do
  k=$(sed -n "$((t + 3))p" <(grep -v '^$' "$dir/grid.csv") | cut -d, -f4)
  [ "$(ids "$t" | sort -u | wc -l)" -eq "$k" ] || fail "task $t did not request $k distinct IDs"
  [ ! -e "$dir/out/task-00$t/store" ] || fail "task $t left its store behind"
  grep -q "^unlearned $k sample(s)" "$dir/out/task-00$t/unlearn.log" || fail "task $t did not unlearn $k samples"
done
[ "$(ids 0)" = "$(ids 1)" ] || fail "points with the same request count deleted different samples"

# 4. A task beyond the grid fails and says why.
bad=$(submit --array=4 --ntasks=1 "--output=$dir/bad-%A_%a.out" "--export=ALL,SISA=$sisa" \
  "$SRC/slurm/scaling.sbatch" "$dir/grid.csv" "$dir/base.yaml" "$dir/out")
[ "$(wait_end "$bad" 60)" = "FAILED " ] || fail "task 4 of a 4-point grid did not fail"
grep -q "has 4 points (0..3); there is no point 4" "$dir"/bad-*_4.out || fail "task 4's message: $(cat "$dir"/bad-*_4.out)"
[ "$(grep -c . "$dir/out/scaling.csv")" -eq 5 ] || fail "the failed task changed the CSV"

# 5. The figures from this CSV (when gnuplot is installed: scripts/plot-scaling.sh installs it
#    on first use, which a test should not do).
if command -v gnuplot >/dev/null; then
  bash "$SRC/scripts/plot-scaling.sh" "$dir/out/scaling.csv" "$dir/fig" 2>/dev/null
  for f in accuracy-vs-shards unlearning-speedup train-time-vs-ranks; do
    [ "$(head -c 8 "$dir/fig/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
      fail "scripts/plot-scaling.sh did not write the PNG $dir/fig/$f.png"
  done
  echo "scripts/plot-scaling.sh drew the 3 figures"
else
  echo "gnuplot is not installed: scripts/plot-scaling.sh not tried"
fi

# 6. The committed grid fits the script's defaults.
points=$(grep -v '^[[:space:]]*\(#\|$\)' "$SRC/configs/scaling-grid.csv" | tail -n +2)
n=$(wc -l <<<"$points")
maxp=$(cut -d, -f3 <<<"$points" | sort -n | tail -n 1)
grep -q "^#SBATCH --array=0-$((n - 1))\$" "$SRC/slurm/scaling.sbatch" ||
  fail "slurm/scaling.sbatch's default --array does not cover the $n points of configs/scaling-grid.csv"
ntasks=$(sed -n 's/^#SBATCH --ntasks=\([0-9]*\)$/\1/p' "$SRC/slurm/scaling.sbatch")
[ "$maxp" -le "$ntasks" ] || fail "configs/scaling-grid.csv needs $maxp ranks, the script asks for $ntasks tasks"
echo "configs/scaling-grid.csv: $n points, at most $maxp ranks: matches slurm/scaling.sbatch"
