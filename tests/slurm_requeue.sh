#!/usr/bin/env bash
# Slurm test: pre-emption. A training job (slurm/train.sbatch, 2 ranks, 2 shards x 6 slices, so
# each rank trains one shard and only a stage boundary can stop it) gets USR1 in its batch
# script (`scancel --signal=USR1 --batch`, what --signal=B:USR1@LEAD does before a time limit)
# right after its first checkpoint is committed. The script passes the signal to the ranks
# through srun, sisa stops at the next stage boundary with status 75 on every rank, the script
# requeues the job, and the second run resumes: every (shard, stage) is trained exactly once
# over the two runs, and the store is bit for bit the store of an uninterrupted mpirun run.
# Then an unlearning job (slurm/unlearn.sbatch) stopped while retraining requeues and finishes
# the request, again to mpirun's bits. With SISA_MAX_REQUEUE=0 a stop ends the job with status
# 75 and no requeue.
#   tests/slurm_requeue.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
fm=${SISA_FMNIST:-/usr/share/datasets/fashion-mnist}

# 10 000 Fashion-MNIST images: a few seconds of training per rank, so that the stop lands
# mid-way (after stage 1 of 6, stages 2-5 leave about two thirds of the work to land in).
"$sisa" -q import idx --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/data.h5" >/dev/null
for name in slurm mpi once; do
  cat >"$dir/$name.yaml" <<YAML
data: {train: data.h5}
store: store-$name
seed: 5
sisa: {shards: 2, slices: 6}
model: {type: mlp, hidden: [64]}
train: {optimizer: adam, lr: 0.001, batch_size: 32, epochs: 40}
YAML
done

# 1. Submit, wait for the first committed checkpoint, signal the batch script.
job=$(submit --ntasks=2 "--output=$dir/train-%j.out" "--export=ALL,SISA=$sisa" \
  "$SRC/slurm/train.sbatch" "$dir/slurm.yaml")
t0=$SECONDS
until [ -e "$dir/store-slurm/shards/0000/ckpt-001.h5" ] || [ -e "$dir/store-slurm/shards/0001/ckpt-001.h5" ]; do
  [ $((SECONDS - t0)) -lt 120 ] || { show_job "$job"; fail "no checkpoint after 120 s"; }
  case $(job_states "$job") in PENDING | RUNNING | CONFIGURING) ;; *) show_job "$job"; fail "job $job ended before its first checkpoint" ;; esac
  sleep 0.05
done
timeout 10 scancel --signal=USR1 --batch "$job"
echo "USR1 sent to job $job after its first checkpoint"
wait_job "$job" 300
out=$dir/train-$job.out
cat "$out"

# 2. Stopped with 75, requeued once, resumed, and no stage trained twice.
[ "$(job_field "$job" Restarts)" = 1 ] || fail "job $job was not requeued exactly once"
grep -q '^sisa-job: USR1 received' "$out" || fail "the batch script did not get USR1"
grep -q 'stopped on request before stage' "$out" || fail "sisa did not report a stop at a stage boundary"
! grep -q 'more ranks\? failed' "$out" || fail "a stop on request was reported as a failure of the other ranks"
grep -q 'tasks 0-1: Exited with exit code 75' "$out" || fail "the ranks did not exit with status 75"
grep -q 'requeueing (requeue 1 of at most 3)' "$out" || fail "the script did not requeue"
grep -q 'run 2, 2 ranks' "$out" || fail "no second run"
grep -q '(resumed)' "$out" || fail "the second run did not resume from a checkpoint"
stages=$(grep -o 'shard [01]: stage [1-6]/6' "$out" | sort)
if [ "$(wc -l <<<"$stages")" -ne 12 ] || [ "$(uniq <<<"$stages" | wc -l)" -ne 12 ]; then
  fail "expected each of the 12 (shard, stage) pairs trained once over both runs, got:"$'\n'"$stages"
fi
echo "stopped, requeued, resumed: each of the 12 stages trained once"

# 3. The same bits as an uninterrupted run.
(cd "$dir" && mpi 2 "$sisa" -q train -c mpi.yaml >/dev/null)
same_store "$dir/store-slurm" "$dir/store-mpi"

# 4. An unlearning job stopped mid-way: stopped while retraining (after the request was
#    journaled as rewritten), requeued; the second run finishes the request (sisa's recovery),
#    finds every requested row gone, and ends successfully. Same bits as mpirun's unlearn.
printf '%s\n' 0 777 1500 2222 3001 4444 5005 6006 7007 8008 9009 9999 >"$dir/ids.txt"
job=$(submit --ntasks=2 "--output=$dir/unlearn-%j.out" "--export=ALL,SISA=$sisa" \
  "$SRC/slurm/unlearn.sbatch" "$dir/slurm.yaml" "$dir/ids.txt")
t0=$SECONDS
until grep -qs '"state": "rewritten"' "$dir/store-slurm/journal"; do
  [ $((SECONDS - t0)) -lt 120 ] || { show_job "$job"; fail "the request was not rewritten after 120 s"; }
  case $(job_states "$job") in PENDING | RUNNING | CONFIGURING) ;; *) show_job "$job"; fail "job $job ended before retraining" ;; esac
  sleep 0.05
done
timeout 10 scancel --signal=USR1 --batch "$job"
wait_job "$job" 300
out=$dir/unlearn-$job.out
cat "$out"
[ "$(job_field "$job" Restarts)" = 1 ] || fail "unlearn job $job was not requeued exactly once"
grep -q 'stopped on request before stage' "$out" || fail "sisa unlearn did not stop at a stage boundary"
grep -q 'finishing deletion request 1' "$out" || fail "the second run did not finish the request"
grep -q 'nothing to delete: every requested row is already deleted' "$out" || fail "the second run did not recognise the finished request"
[ "$(wc -l <"$dir/store-slurm/ledger")" -eq 1 ] || fail "the ledger should hold exactly one record"
(cd "$dir" && mpi 2 "$sisa" -q unlearn -c mpi.yaml --ids-file "$dir/ids.txt" >/dev/null)
same_store "$dir/store-slurm" "$dir/store-mpi"
echo "a stopped unlearning job requeues, finishes its request and matches mpirun's"

# 5. Without requeues left, the stop ends the job: FAILED with exit status 75, not requeued.
job=$(submit --ntasks=2 "--output=$dir/once-%j.out" "--export=ALL,SISA=$sisa,SISA_MAX_REQUEUE=0" \
  "$SRC/slurm/train.sbatch" "$dir/once.yaml")
t0=$SECONDS
until [ -e "$dir/store-once/shards/0000/ckpt-001.h5" ] || [ -e "$dir/store-once/shards/0001/ckpt-001.h5" ]; do
  [ $((SECONDS - t0)) -lt 120 ] || { show_job "$job"; fail "no checkpoint after 120 s"; }
  sleep 0.05
done
timeout 10 scancel --signal=USR1 --batch "$job"
[ "$(wait_end "$job" 120)" = "FAILED " ] || { show_job "$job"; fail "job $job did not fail"; }
[ "$(job_field "$job" ExitCode)" = "75:0" ] || fail "job $job: exit code $(job_field "$job" ExitCode), not 75"
[ "$(job_field "$job" Restarts)" = 0 ] || fail "job $job was requeued"
grep -q 'already requeued 0 times (SISA_MAX_REQUEUE=0)' "$dir/once-$job.out" || fail "no explanation in $dir/once-$job.out"
echo "with SISA_MAX_REQUEUE=0 the stopped job ends with status 75"
