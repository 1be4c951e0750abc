#!/usr/bin/env bash
# All tests: install what is missing, start a local Slurm cluster (scripts/slurm-local.sh) for
# the job-script tests, build with warnings as errors, run the whole CTest suite, then build
# again with AddressSanitizer + UndefinedBehaviorSanitizer and run the suite there, and stop the
# cluster (if this script started it). Then the fuzzers (scripts/fuzz.sh): every committed
# corpus input replayed, and each target fuzzed for 20 s (9 targets: 281 s measured on the
# shared 2-core machine from a fresh build folder, of which about 40 s building). The last line
# printed is CTest's summary of the last suite that ran.
#
#   scripts/test.sh            # both suites and the fuzzers
#   SISA_TEST_ARGS="-R io" scripts/test.sh   # extra ctest arguments (e.g. a subset)
#   SISA_TEST_SLURM=0 scripts/test.sh        # no cluster: the Slurm tests are skipped
#   SISA_FUZZ_SECONDS=0 scripts/test.sh      # the fuzzers only replay their corpus
#   SISA_TEST_FUZZ=0 scripts/test.sh         # no fuzzers
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# The Slurm tests (label slurm) need a cluster: start one unless one of ours is up already, and
# stop it again at the end, also when a suite fails (quietly then: the last line stays CTest's).
slurm_started=0
stop_slurm() { [ "$slurm_started" = 0 ] || bash scripts/slurm-local-stop.sh; }
if [ "${SISA_TEST_SLURM:-1}" != 0 ]; then
  trap 'stop_slurm >/dev/null 2>&1 || true' EXIT
  echo "== local Slurm cluster"
  slurm_started=1 # also when the start fails half-way
  up=$(bash scripts/slurm-local.sh)
  echo "$up"
  case $up in *"already up"*) slurm_started=0 ;; esac
  export SISA_SLURM_REQUIRED=1 # fail, not skip, when the cluster does not answer
fi

run_suite() { # NAME DIR: ctest in DIR, keep its summary line, fail when the suite fails
  local name=$1 dir=$2 log rc=0
  log=$dir/ctest.log
  echo "== $name: ctest in $dir"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j"$(nproc)" ${SISA_TEST_ARGS:-}) 2>&1 | tee "$log" || rc=$?
  summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)
  if [ "$rc" -ne 0 ] || [ -z "$summary" ]; then
    echo "$name suite FAILED"
    echo "${summary:-ctest did not report a summary}"
    exit 1
  fi
}

echo "== build (warnings are errors)"
bash scripts/build.sh build/test -DSISA_WERROR=ON
run_suite "plain" build/test

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
bash scripts/build.sh build/asan -DSISA_WERROR=ON -DSISA_SANITIZE=address,undefined
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite "sanitizers" build/asan
stop_slurm
trap - EXIT

if [ "${SISA_TEST_FUZZ:-1}" != 0 ]; then
  echo "== fuzzers (scripts/fuzz.sh)"
  bash scripts/fuzz.sh "${SISA_FUZZ_SECONDS:-20}"
fi
echo "$summary"
