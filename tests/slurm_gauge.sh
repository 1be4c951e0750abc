#!/usr/bin/env bash
# Slurm test: a gauge plan's members as a job array and its score chained with afterok
# (slurm/gauge.sh) on the local cluster; every member's results are byte for byte those of the
# same plan run locally (sisa gauge member --all), and so are the scores.
#   tests/slurm_gauge.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)

make_csv() { # ROWS SEED
  awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); printf "label"
    for (j = 0; j < 10; j++) printf ",f%d", j; print ""
    for (i = 0; i < n; i++) { printf "%d", int(rand() * 3)
      for (j = 0; j < 10; j++) printf ",%.5f", rand(); print "" } }'
}
make_csv 200 1 >"$dir/train.csv"
make_csv 100 2 >"$dir/test.csv"
"$sisa" -q import csv "$dir/train.csv" --label label -o "$dir/train.h5" >/dev/null
"$sisa" -q import csv "$dir/test.csv" --label label --id-offset 5000 -o "$dir/test.h5" >/dev/null
cat >"$dir/g.yaml" <<YAML
data: {train: train.h5, test: test.h5}
store: unused-store
sisa: {shards: 2, slices: 2}
model: {type: mlp, hidden: [16]}
train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 10}
aggregate: {strategy: mean}
YAML
for g in slurm local; do
  "$sisa" -q gauge plan -c "$dir/g.yaml" -o "$dir/$g" --forget-random 0.1 --models 4
done
same_file "$dir/slurm/forget.txt" "$dir/local/forget.txt"

t0=$SECONDS
out=$(SISA=$sisa bash "$SRC/slurm/gauge.sh" "$dir/slurm" 3 "--export=ALL,SISA=$sisa")
echo "$out"
members=$(sed -n 's/^members: job array \([0-9]*\).*/\1/p' <<<"$out")
score=$(sed -n 's/^score: *job \([0-9]*\).*/\1/p' <<<"$out")
if [ -z "$members" ] || [ -z "$score" ]; then fail "slurm/gauge.sh printed no job IDs"; fi
SUBMITTED+=("$members" "$score")
wait_job "$members" 300
wait_job "$score" 120
echo "gauge on Slurm: 12 members and the score in $((SECONDS - t0)) s"

"$sisa" -q gauge member "$dir/local" --all
"$sisa" -q gauge score "$dir/local" >/dev/null
for t in $(seq 0 11); do
  f=$(printf 'members/task-%05d.json' "$t")
  same_file "$dir/slurm/$f" "$dir/local/$f"
done
same_file "$dir/slurm/gauge.tsv" "$dir/local/gauge.tsv"
grep -q 'gauge score' "$dir"/slurm/sisa-gauge-score-*.out || fail "no score job output"
[ "$(wc -l <"$dir/slurm/gauge.tsv")" -eq 4 ] || fail "gauge.tsv: not a header and 3 methods"
# the score job drew the figures (gnuplot is a test dependency)
for f in gauge-F gauge-epsilon gauge-ks; do
  [ "$(head -c 8 "$dir/slurm/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "the score job did not draw $dir/slurm/$f.png"
done

# A member job that is not an array task is refused with a clear message.
jid=$(submit "--output=$dir/bad-%j.out" "--export=ALL,SISA=$sisa" "$SRC/slurm/gauge.sbatch" member "$dir/slurm")
[ "$(wait_end "$jid" 60)" = "FAILED " ] || fail "a member job without --array did not fail"
grep -q 'a member job is an array job (sbatch --array=0-11)' "$dir"/bad-*.out || fail "no clear message"
echo "slurm_gauge: ok"
