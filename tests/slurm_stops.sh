#!/usr/bin/env bash
# Slurm test: every way a running training job (slurm/train.sbatch, 1 rank, 2 shards x 6 slices)
# is stopped or requeued, what the job script says then, and that the store ends with the bits
# of an uninterrupted run each time:
#   requeue   `scontrol requeue JOBID`: Slurm requeues the job itself; the script must not tell
#             the user to submit it again (it did: "scontrol requeue failed; submit the job
#             again", which submits a duplicate job on the same store)
#   cancel    `scancel JOBID`: the job stays ended (the script used to requeue it, so a cancelled
#             job came back); the script says to submit it again, and doing so finishes the store
#   warn      the USR1 warning of the script's own --signal=B:USR1@300, sent by slurmctld once
#             the job's time limit is near (the test lowers the limit to 1 minute): the script
#             requeues the job, which resumes
#   warnx     the same warning, with the job's `scontrol requeue` failing although the requeue took
#             effect (Slurm's signal to the ending job can reach scontrol before it reports
#             success, and the job's record shows the requeue a moment later; seen once in CI):
#             the script must count it as its own requeue, not tell the user to submit the job
#             again (a `scontrol` wrapper first in the job's PATH makes it happen every time)
#   limit     the time limit with no USR1 warning in time (--signal=B:URG@1, a signal bash
#             ignores; the test sets the limit to 0): TERM with Reason=TimeLimit; the script
#             requeues the job, which resumes
#   node      node failure, simulated as far as one node allows: `scontrol update
#             NodeName=... State=DOWN` while the job runs kills it on the node (TERM, KillWait,
#             KILL) and Slurm requeues it (NODE_FAIL, --requeue); the node is resumed and the
#             job completes. A real failure also kills the batch script, so it prints nothing;
#             what is simulated here is Slurm's side: the requeue and the resume.
# slurmctld checks time limits every 30 s, so the two time-based cases wait up to 30 s; sisa's
# rank is stopped (SIGSTOP) meanwhile, in the middle of a stage, so the wait costs no CPU (Slurm
# sends SIGCONT with TERM; after USR1 the test sends it). The node failure runs alone: it kills
# every job on the node.
#   tests/slurm_stops.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
fm=${SISA_FMNIST:-/usr/share/datasets/fashion-mnist}

# 0. The stop handling of train.sbatch and unlearn.sbatch is one text (unlearn is covered by it).
for block in '# --- stop handling' '# --- after a stop'; do
  a=$(sed -n "/^$block/,/^# --- end of/p" "$SRC/slurm/train.sbatch")
  b=$(sed -n "/^$block/,/^# --- end of/p" "$SRC/slurm/unlearn.sbatch")
  if [ -z "$a" ] || [ "$a" != "$b" ]; then fail "the block '$block' differs between train.sbatch and unlearn.sbatch"; fi
done

"$sisa" -q import idx --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" \
  --scale 255 -o "$dir/data.h5" >/dev/null
names=(ref requeue cancel warn warnx limit node)
for name in "${names[@]}"; do
  cat >"$dir/$name.yaml" <<YAML
data: {train: data.h5}
store: store-$name
seed: 5
sisa: {shards: 2, slices: 6}
model: {type: mlp, hidden: [64]}
train: {optimizer: adam, lr: 0.001, batch_size: 32, epochs: 60}
YAML
done
"$sisa" -q train -c "$dir/ref.yaml" >/dev/null # the uninterrupted run

node=""
node_down=0
resume_node() {
  if [ "$node_down" = 1 ]; then
    timeout 10 scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
    node_down=0
  fi
}
trap 'resume_node; cleanup_jobs' EXIT

# warnx's scontrol: a requeue takes effect, then scontrol fails as if signalled before it
# could report success.
mkdir -p "$dir/shim"
cat >"$dir/shim/scontrol" <<SHIM
#!/bin/sh
if [ "\$1" = requeue ]; then "$(command -v scontrol)" "\$@" >/dev/null 2>&1; echo "terminated" >&2; exit 143; fi
exec "$(command -v scontrol)" "\$@"
SHIM
chmod +x "$dir/shim/scontrol"

declare -A job out
train_job() { # NAME [SBATCH OPTIONS...]
  local name=$1
  shift
  job[$name]=$(submit --ntasks=1 "--output=$dir/$name-%j.out" "--export=ALL,SISA=$sisa" "$@" \
    "$SRC/slurm/train.sbatch" "$dir/$name.yaml")
  out[$name]=$dir/$name-${job[$name]}.out
}
has_ckpt() { [ -e "$dir/store-$1/shards/0000/ckpt-001.h5" ] || [ -e "$dir/store-$1/shards/0001/ckpt-001.h5" ]; }
# The PID of sisa's rank (task 0 of step 0) of a job on this node.
rank_pid() { # JOBID
  local pid
  pid=$(timeout 10 scontrol listpids "$1" 2>/dev/null | awk '$3 == "0" && $4 == "0" { print $1 }' | head -n 1)
  if [ -z "$pid" ] || [ "$(readlink -f "/proc/$pid/exe")" != "$(readlink -f "$sisa")" ]; then
    show_job "$1"
    fail "no sisa rank found for job $1 (scontrol listpids: pid '$pid')"
  fi
  echo "$pid"
}
wait_for() { # SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@"; do
    [ $((SECONDS - t0)) -lt "$limit" ] || fail "$what: not after $limit s"
    sleep 0.1
  done
}
restarted() { [ "$(job_field "$1" Restarts)" = "$2" ] && [ "$(job_states "$1")" = PENDING ]; }
# Advice that would submit a second job on a store whose job continues by itself.
no_submit_advice() { # NAME
  ! grep -En 'submit it again to continue|submit the job again|requeue failed' "${out[$1]}" ||
    fail "$1: the job script told the user to submit the job again (above)"
}

# 1. Four jobs at once, each acted on as soon as its first checkpoint is committed.
train_job requeue
train_job cancel
train_job warn
train_job warnx "--export=ALL,SISA=$sisa,PATH=$dir/shim:$PATH"
train_job limit --signal=B:URG@1
declare -A pid
todo=(requeue cancel warn warnx limit)
t0=$SECONDS
while [ ${#todo[@]} -gt 0 ]; do
  left=()
  for name in "${todo[@]}"; do
    case $(job_states "${job[$name]}") in PENDING | RUNNING | CONFIGURING) ;; *) show_job "${job[$name]}"; fail "$name: job ended before its first checkpoint" ;; esac
    if ! has_ckpt "$name"; then
      left+=("$name")
      continue
    fi
    case $name in
      requeue) timeout 10 scontrol requeue "${job[$name]}" ;;
      cancel) timeout 10 scancel "${job[$name]}" ;;
      warn | warnx | limit)
        pid[$name]=$(rank_pid "${job[$name]}")
        kill -STOP "${pid[$name]}"
        # warn: 4 minutes from the start, so USR1 (300 s before) is due at once and slurmctld
        # sends it at its next check, long before the limit itself; limit: the limit is now.
        timeout 10 scontrol update JobId="${job[$name]}" TimeLimit="$([ "$name" = limit ] && echo 0 || echo 4)"
        ;;
    esac
    echo "$name: job ${job[$name]} acted on after its first checkpoint"
  done
  todo=("${left[@]}")
  [ $((SECONDS - t0)) -lt 180 ] || fail "no first checkpoint after 180 s in: ${todo[*]}"
  sleep 0.05
done
# warn, warnx: once the script has USR1, let sisa go on to the stage boundary.
for name in warn warnx; do
  wait_for 60 "$name: USR1 from slurmctld" grep -q '^sisa-job: USR1 received' "${out[$name]}"
  kill -CONT "${pid[$name]}" 2>/dev/null || true
done
# warn, warnx and limit: the script requeues the job; the second run gets no time limit.
for name in warn warnx limit; do
  wait_for 90 "$name: requeued" restarted "${job[$name]}" 1
  timeout 10 scontrol update JobId="${job[$name]}" TimeLimit=UNLIMITED
done

# 2. What each job did and said.
wait_job "${job[requeue]}" 300
cat "${out[requeue]}"
[ "$(job_field "${job[requeue]}" Restarts)" = 1 ] || fail "requeue: not requeued exactly once"
grep -q 'Slurm is requeueing this job itself' "${out[requeue]}" || fail "requeue: the script did not say that Slurm requeues the job"
grep -q 'run 2, 1 ranks' "${out[requeue]}" || fail "requeue: no second run"
no_submit_advice requeue
echo "requeue: Slurm requeued the job, which resumed, and the script gave no advice to submit it"

[ "$(wait_end "${job[cancel]}" 120)" = "CANCELLED " ] || { show_job "${job[cancel]}"; fail "cancel: the job did not end CANCELLED"; }
cat "${out[cancel]}"
[ "$(job_field "${job[cancel]}" Restarts)" = 0 ] || fail "cancel: a cancelled job was requeued"
grep -q 'will not requeue it: its committed work is kept; submit it again to continue' "${out[cancel]}" ||
  fail "cancel: the script did not say to submit the job again"
! grep -q 'requeueing' "${out[cancel]}" || fail "cancel: the script requeued a cancelled job"
train_job cancel # as the script advised
wait_job "${job[cancel]}" 300
grep -q '(resumed)' "${out[cancel]}" || fail "cancel: the job submitted again did not resume"
echo "cancel: the job stayed cancelled; submitted again as advised, it resumed"

for name in warn warnx limit; do
  wait_job "${job[$name]}" 300
  cat "${out[$name]}"
  [ "$(job_field "${job[$name]}" Restarts)" = 1 ] || fail "$name: not requeued exactly once"
  grep -q 'requeueing (requeue 1 of at most 3)' "${out[$name]}" || fail "$name: the script did not requeue the job"
  grep -q '(resumed)' "${out[$name]}" || fail "$name: the second run did not resume"
  no_submit_advice "$name"
done
! grep -q 'TERM received' "${out[warn]}" || fail "warn: TERM instead of the USR1 warning"
grep -q 'scontrol requeue reported terminated, but the job is requeued' "${out[warnx]}" ||
  fail "warnx: the script's requeue did not fail as the wrapper makes it (the case is not tested)"
grep -q 'stopped on request before stage' "${out[warn]}" || fail "warn: sisa did not stop at a stage boundary"
grep -q 'the job reached its time limit before a USR1 warning stopped it' "${out[limit]}" ||
  fail "limit: the script did not explain the time limit"
! grep -q 'USR1 received' "${out[limit]}" || fail "limit: a USR1 warning came after all"
echo "warn, warnx, limit: stopped by slurmctld's warning (warnx: with scontrol failing after its requeue) and by the time limit, requeued by the script, resumed"

# 3. Node failure, alone on the node (it kills every job there).
train_job node
wait_for 180 "node: first checkpoint" has_ckpt node
node=$(job_field "${job[node]}" BatchHost)
others=$(timeout 10 squeue -h -w "$node" -o %i | grep -vx "${job[node]}" || true)
[ -z "$others" ] || fail "node: other jobs run on $node ($others); setting it DOWN would kill them"
node_down=1
timeout 10 scontrol update NodeName="$node" State=DOWN Reason="sisa test: simulated node failure"
echo "node: $node set DOWN while job ${job[node]} runs"
wait_for 120 "node: requeued after the node failure" restarted "${job[node]}" 1
resume_node
wait_job "${job[node]}" 300
cat "${out[node]}"
grep -Eiq 'node failure' "${out[node]}" || fail "node: the job was not ended by the node failure"
[ "$(job_field "${job[node]}" Restarts)" = 1 ] || fail "node: not requeued exactly once"
grep -q 'run 2, 1 ranks' "${out[node]}" || fail "node: no second run"
no_submit_advice node
echo "node: Slurm requeued the job after the node failure, which resumed"

# 4. Every store is bit for bit the uninterrupted run's.
for name in requeue cancel warn warnx limit node; do
  same_store "$dir/store-$name" "$dir/store-ref"
done
