# shellcheck shell=bash
# Helpers for the Slurm tests (tests/slurm_*.sh), sourced by each: they run sisa's job scripts
# on the local cluster that scripts/slurm-local.sh starts (scripts/test.sh does that first).
#
# Every wait is bounded and polls `scontrol show job` (there is no accounting daemon, so no
# sacct; `sbatch --wait` polls slowly and retries forever if slurmctld dies). A job that can no
# longer run (Reason=DependencyNeverSatisfied) or ends in any state but COMPLETED fails the test
# with its output. Jobs a test submitted and did not see finish are cancelled when it exits.
#
# Without a reachable cluster a test is skipped (exit 77, CTest's SKIP_RETURN_CODE), unless
# SISA_SLURM_REQUIRED=1 (scripts/test.sh sets it): then it fails.

# For the tests that source this file: the source tree and the Python with h5py and numpy.
# shellcheck disable=SC2034
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034
PY=/usr/bin/python3

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Slurm clients need SLURM_CONF when slurm-local.sh wrote its config somewhere else.
if [ -z "${SLURM_CONF:-}" ] && [ -r "${SLURM_LOCAL_DIR:-/var/lib/slurm-local}/env" ]; then
  # shellcheck disable=SC1091
  . "${SLURM_LOCAL_DIR:-/var/lib/slurm-local}/env"
fi
if ! command -v sbatch >/dev/null || ! timeout 10 scontrol ping 2>/dev/null | grep -q UP; then
  [ "${SISA_SLURM_REQUIRED:-0}" = 1 ] && fail "no Slurm cluster answers (start one with scripts/slurm-local.sh)"
  echo "SKIP: no Slurm cluster answers; start one with scripts/slurm-local.sh"
  exit 77
fi

# Sanitizer builds: Open MPI leaks at MPI_Finalize, so ranks run without leak checks (as in
# tests/test_mpi.c; other builds ignore the variable). It reaches the jobs because sbatch
# exports the environment.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

SUBMITTED=()
cleanup_jobs() {
  local j
  for j in "${SUBMITTED[@]}"; do
    case $(job_states "$j") in *PENDING* | *RUNNING* | *REQUEUE* | *CONFIGURING* | *COMPLETING* | *SUSPENDED*)
      timeout 10 scancel "$j" 2>/dev/null || true ;;
    esac
  done
}
trap cleanup_jobs EXIT

# The states of a job (every task of an array), one per line.
job_states() {
  timeout 10 scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}

# Print a job's record and output files to stderr (for failures).
show_job() { # JOBID
  local rec f
  rec=$(timeout 10 scontrol show job -o "$1" 2>/dev/null || true)
  echo "---- scontrol show job $1:" >&2
  echo "$rec" >&2
  grep -o 'StdOut=[^ ]*' <<<"$rec" | cut -d= -f2 | sort -u | while read -r f; do
    if [ -r "$f" ]; then
      echo "---- $f:" >&2
      cat "$f" >&2
    fi
  done
}

# Wait until every task of job $1 has ended, at most $2 seconds; print its final states (sorted,
# space-separated, e.g. "COMPLETED " or "CANCELLED "). A job left pending on a dependency that
# can never be satisfied counts as ended, with the state NEVER.
wait_end() { # JOBID TIMEOUT_S
  local id=$1 limit=$2 start=$SECONDS rec states
  while :; do
    rec=$(timeout 10 scontrol show job -o "$id" 2>/dev/null || true)
    [ -n "$rec" ] || fail "scontrol knows no job $id"
    if grep -q 'JobState=PENDING .*Reason=DependencyNeverSatisfied' <<<"$rec"; then
      echo "NEVER "
      return 0
    fi
    states=$(grep -o 'JobState=[A-Z_]*' <<<"$rec" | cut -d= -f2 | sort -u | tr '\n' ' ')
    case $states in
      *PENDING* | *RUNNING* | *REQUEUE* | *CONFIGURING* | *COMPLETING* | *SUSPENDED* | *RESIZING* | *SIGNALING* | *STAGE_OUT*) ;;
      *) echo "$states"; return 0 ;;
    esac
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      show_job "$id"
      timeout 10 scancel "$id" 2>/dev/null || true
      fail "job $id did not finish within $limit s (state $states)"
    fi
    sleep 0.25
  done
}

# Wait for job $1 (at most $2 s) and require that every task COMPLETED.
wait_job() { # JOBID TIMEOUT_S
  local states
  states=$(wait_end "$1" "$2")
  case $states in
    "COMPLETED ") ;;
    "NEVER ") show_job "$1"; fail "job $1 waits for a dependency that can never be satisfied" ;;
    *) show_job "$1"; fail "job $1 ended in state(s) $states" ;;
  esac
}

# One field of a job's record, e.g. job_field 12 Restarts.
job_field() { # JOBID NAME
  timeout 10 scontrol show job -o "$1" | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2
}

# sbatch --parsable, remembering the job for cleanup.
submit() {
  local out
  out=$(sbatch --parsable "$@") || fail "sbatch $* failed"
  out=${out%%;*}
  SUBMITTED+=("$out")
  echo "$out"
}

# mpirun with the test environment (SISA_MPIEXEC, as in tests/test_mpi.c).
mpi() { # NP ARGS...
  local np=$1
  shift
  "${SISA_MPIEXEC:?SISA_MPIEXEC is not set}" -n "$np" "$@"
}

same_file() { # A B
  cmp -s "$1" "$2" || fail "$1 and $2 differ"
}

# Two stores hold bit-identical shard files (data and every checkpoint), the same file sets,
# and shard journals with the same history (temp file names aside: they contain PIDs).
same_store() { # STORE_A STORE_B
  local a=$1 b=$2 la lb f n=0
  la=$(cd "$a/shards" && find . -type f ! -name journal | sed "s|^\./||" | sort)
  lb=$(cd "$b/shards" && find . -type f ! -name journal | sed "s|^\./||" | sort)
  [ "$la" = "$lb" ] || fail "the stores hold different shard files:"$'\n'"$a: $la"$'\n'"$b: $lb"
  for f in $la; do
    same_file "$a/shards/$f" "$b/shards/$f"
    n=$((n + 1))
  done
  for f in "$a"/shards/*/journal; do
    cmp -s <(sed 's/"tmp": "[^"]*", //' "$f") <(sed 's/"tmp": "[^"]*", //' "$b/shards/${f#"$a"/shards/}") ||
      fail "shard journals $f and $b/shards/${f#"$a"/shards/} record different histories"
  done
  [ "$n" -gt 0 ] || fail "no shard files in $a"
  echo "stores $a and $b: $n shard files identical"
}
