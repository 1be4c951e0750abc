#!/usr/bin/env bash
# Slurm test: slurm/pipeline.sh on the local cluster (import -> train -> unlearn -> eval with
# predictions, chained with afterok, 2 ranks per job through srun --mpi=pmix) produces a store
# and predictions identical bit for bit to the same work run with mpirun, and the same
# evaluation. A chain whose first job fails is cancelled instead of waiting forever. The Slurm
# side's config is reached through a symbolic link to its folder and names its files with "..":
# the jobs and a user's direct commands, by either path, use one store.
#   tests/slurm_pipeline.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/slurm/run" "$dir/mpi"
ln -s slurm/run "$dir/runlink"

# Data: 3 classes, 10 features, the label's features raised (fast to train, not trivial).
make_csv() { # ROWS SEED
  awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); printf "label"
    for (j = 0; j < 10; j++) printf ",f%d", j; print ""
    for (i = 0; i < n; i++) { y = i % 3; printf "%d", y
      for (j = 0; j < 10; j++) printf ",%.5f", (j % 3 == y) * 0.7 + rand(); print "" } }'
}
make_csv 1200 1 >"$dir/train.csv"
make_csv 300 2 >"$dir/test.csv"
printf '# rows to delete\n7\n150\n151\n1100\n' >"$dir/ids.txt"
for side in slurm/run mpi; do
  up=""
  [ "$side" = mpi ] || up=../
  cat >"$dir/$side/cfg.yaml" <<YAML
data: {train: ${up}train.h5, test: ${up}test.h5}
store: ${up}store
seed: 11
sisa: {shards: 3, slices: 2}
model: {type: mlp, hidden: [8]}
train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 3}
aggregate: {strategy: mean}
YAML
done
import_train=(csv "$dir/train.csv" --label label --force)
import_test=(csv "$dir/test.csv" --label label --id-offset 100000 --force)

# 1. The pipeline on Slurm.
t0=$SECONDS
listing=$(SISA=$sisa bash "$SRC/slurm/pipeline.sh" -c "$dir/runlink/cfg.yaml" --ids-file "$dir/ids.txt" \
  --predict "$dir/slurm/test.h5" "$dir/slurm/pred.h5" \
  --sbatch --ntasks=2 --sbatch "--output=$dir/slurm/%x-%j.out" \
  -- "${import_train[@]}" -o "$dir/slurm/train.h5" -- "${import_test[@]}" -o "$dir/slurm/test.h5")
echo "$listing"
mapfile -t jobs < <(awk '{ print $2 }' <<<"$listing")
SUBMITTED+=("${jobs[@]}")
[ "$(awk '{ printf "%s ", $1 }' <<<"$listing")" = "import import train unlearn eval " ] ||
  fail "pipeline.sh printed an unexpected job list: $listing"
wait_job "${jobs[4]}" 300
for j in "${jobs[@]}"; do wait_job "$j" 10; done
echo "pipeline of ${#jobs[@]} jobs finished in $((SECONDS - t0)) s"
# afterok: each step started after its predecessors ended.
end_of() { job_field "$1" EndTime; }
start_of() { job_field "$1" StartTime; }
for pair in "0 2" "1 2" "2 3" "3 4"; do
  read -r before after <<<"$pair"
  [[ ! "$(start_of "${jobs[after]}")" < "$(end_of "${jobs[before]}")" ]] ||
    fail "job ${jobs[after]} started before job ${jobs[before]} ended"
done
grep -q 'request 1 is certified' "$dir"/slurm/sisa-unlearn-"${jobs[3]}".out ||
  fail "the unlearn job did not certify the request: $(cat "$dir"/slurm/sisa-unlearn-"${jobs[3]}".out)"
# A user's own commands name the jobs' store, by the path through the link and from inside it
# (with ".." taken as text, they named $dir/store).
for how in abs cd; do
  if [ "$how" = abs ]; then
    st=$("$sisa" status -c "$dir/runlink/cfg.yaml" 2>&1) || fail "sisa status ($how) failed: $st"
  else
    st=$(cd "$dir/runlink" && "$sisa" status -c cfg.yaml 2>&1) || fail "sisa status ($how) failed: $st"
  fi
  grep -q "^store $dir/slurm/store " <<<"$st" || fail "sisa status ($how) names another store:"$'\n'"$st"
  grep -q 'deletions: 1 request(s), 4 row(s)' <<<"$st" || fail "sisa status ($how) does not see the jobs' deletion:"$'\n'"$st"
done
[ ! -e "$dir/store" ] || fail "a second store appeared at $dir/store"

# 2. The same work with mpirun, 2 ranks.
cd "$dir/mpi"
"$sisa" -q import "${import_train[@]}" -o "$dir/mpi/train.h5" >/dev/null
"$sisa" -q import "${import_test[@]}" -o "$dir/mpi/test.h5" >/dev/null
mpi 2 "$sisa" -q train -c cfg.yaml >/dev/null
mpi 2 "$sisa" -q unlearn -c cfg.yaml --ids-file "$dir/ids.txt" >/dev/null
mpi 2 "$sisa" eval -c cfg.yaml -i "$dir/mpi/test.h5" >eval.txt
mpi 2 "$sisa" -q predict -c cfg.yaml -i "$dir/mpi/test.h5" -o "$dir/mpi/pred.h5" >/dev/null

# 3. Bit for bit.
same_store "$dir/slurm/store" "$dir/mpi/store"
same_file "$dir/slurm/pred.h5" "$dir/mpi/pred.h5"
for s in slurm mpi; do
  [ "$(wc -l <"$dir/$s/store/ledger")" -eq 1 ] || fail "$dir/$s/store/ledger should hold one record"
done
grep -v '^sisa' "$dir"/slurm/sisa-eval-"${jobs[4]}".out | grep -v '^predicted' | sed "s|$dir/slurm|D|g" >"$dir/eval-slurm.txt"
sed "s|$dir/mpi|D|g" "$dir/mpi/eval.txt" >"$dir/eval-mpi.txt"
grep -q '^accuracy ' "$dir/eval-mpi.txt" || fail "no accuracy in $dir/mpi/eval.txt"
diff "$dir/eval-slurm.txt" "$dir/eval-mpi.txt" || fail "the evaluations differ"
echo "predictions and evaluation identical"

# 4. A chain whose import fails: the import job FAILS, the others are cancelled, none waits.
listing=$(SISA=$sisa bash "$SRC/slurm/pipeline.sh" -c "$dir/runlink/cfg.yaml" \
  --sbatch --ntasks=1 --sbatch "--output=$dir/bad-%x-%j.out" \
  -- csv "$dir/missing.csv" --label label -o "$dir/never.h5")
mapfile -t jobs < <(awk '{ print $2 }' <<<"$listing")
SUBMITTED+=("${jobs[@]}")
[ "${#jobs[@]}" -eq 3 ] || fail "expected import, train and eval jobs: $listing"
[ "$(wait_end "${jobs[0]}" 60)" = "FAILED " ] || fail "the failing import job did not end FAILED"
grep -q 'missing.csv' "$dir/bad-sisa-import-${jobs[0]}.out" || fail "the import job's output does not name the missing file"
for j in "${jobs[1]}" "${jobs[2]}"; do
  [ "$(wait_end "$j" 60)" = "CANCELLED " ] || fail "job $j was not cancelled after its dependency failed"
done
[ ! -e "$dir/never.h5" ] || fail "the failed import left $dir/never.h5"
echo "a failed import cancels the rest of the chain"
