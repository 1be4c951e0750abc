#!/usr/bin/env bash
# Build sisa's libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in their own build folder,
# replay every committed corpus input (the seeds and the regression cases of bugs found), then
# fuzz each target for SECONDS (default 20), one after the other, one process at a time.
#
#   scripts/fuzz.sh [SECONDS]
#   SISA_FUZZ_TARGETS="json csv" scripts/fuzz.sh 600   # some targets, 10 minutes each
#   SISA_FUZZ_BUILD=build/fuzz                          # the build folder (default)
#   SISA_FUZZ_OUT=DIR        # keep what the run found here (default: a temp folder, removed)
#
# Any crash, leak, sanitizer report, or input slower than 1 s (inputs are at most 64 KiB) fails
# the script (exit 1) and names the input that did it, kept under SISA_FUZZ_OUT (or printed as
# base64 when that is a temp folder). Keep such an input as a regression case: fix the bug,
# copy the file into tests/fuzz/corpus/TARGET/, and it is replayed on every run. New inputs the
# fuzzer finds go to a scratch copy of the corpus, never into the repository. The last lines
# are a table: target, seconds, executions, result.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
case $seconds in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
build=${SISA_FUZZ_BUILD:-build/fuzz}
all_targets=(config json csv libsvm idx journal ledger certificate h5parent)
read -r -a targets <<<"${SISA_FUZZ_TARGETS:-${all_targets[*]}}"

command -v clang >/dev/null || { echo "fuzz: clang is not installed (scripts/install-deps.sh)" >&2; exit 1; }
echo "== fuzz: build ($build, clang, ASan + UBSan + libFuzzer)"
mkdir -p "$build"
if ! cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DSISA_FUZZ=ON -DBUILD_TESTING=OFF \
    -DSISA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  echo "fuzz: cmake configure failed (log: $build/configure.log)" >&2
  exit 1
fi
cmake --build "$build" -j"$(nproc)" --target fuzzers

keep=0
if [ -n "${SISA_FUZZ_OUT:-}" ]; then
  out=$SISA_FUZZ_OUT
  keep=1
  mkdir -p "$out"
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/sisa-fuzz.XXXXXX")
fi
# The targets' scratch files (fuzz.h): in a folder of this run, removed at exit, so that a crashed
# target leaves nothing elsewhere; in memory (/dev/shm) when it can be, since the importers write
# and fsync a file for every input (about a third more executions than on a disk).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  SISA_FUZZ_TMP=$(mktemp -d /dev/shm/sisa-fuzz.XXXXXX)
else
  SISA_FUZZ_TMP=$out/tmp
  mkdir -p "$SISA_FUZZ_TMP"
fi
export SISA_FUZZ_TMP
cleanup() {
  rm -rf "$SISA_FUZZ_TMP"
  if [ "$keep" = 0 ]; then rm -rf "$out"; fi
}
trap cleanup EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -len_control=0: mutate inputs up to the full 64 KiB from the start. libFuzzer otherwise grows the
# length it mutates with the number of executions, which for the importers (about 100 inputs a
# second: each writes an HDF5 file) stays at a few bytes over a 20 s run.
opts=(-timeout=1 -max_len=65536 -len_control=0 -rss_limit_mb=2048 -print_final_stats=1)

failed=0
rows=()
report_failure() { # TARGET LOG: name the input and show it
  local t=$1 log=$2 art
  failed=1
  grep -E 'ERROR|SUMMARY|runtime error|fuzz property failed|Test unit written' "$log" | head -n 12 >&2 || true
  art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ -n "$art" ] && [ -f "$art" ]; then
    if [ "$keep" = 1 ]; then
      echo "fuzz: $t: the input is $art" >&2
    else
      echo "fuzz: $t: the input, base64: $(base64 -w0 "$art")" >&2
    fi
  fi
}

for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  corpus=tests/fuzz/corpus/$t
  [ -x "$bin" ] || { echo "fuzz: no target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
  mkdir -p "$out/$t" "$out/artifacts"
  log=$out/$t.log

  # Replay: every committed input once, each under the same limits.
  echo "== fuzz: $t: replay $(find "$corpus" -type f | wc -l) inputs of $corpus"
  if ! "$bin" "${opts[@]}" -runs=0 -artifact_prefix="$out/artifacts/$t-" "$corpus" >"$log" 2>&1; then
    echo "fuzz: $t: a committed input fails" >&2
    report_failure "$t" "$log"
    rows+=("$t 0 - replay-FAILED")
    continue
  fi

  [ "$seconds" -gt 0 ] || { rows+=("$t 0 - ok"); continue; }
  echo "== fuzz: $t: ${seconds}s"
  start=$(date +%s)
  rc=0
  "$bin" "${opts[@]}" -max_total_time="$seconds" -artifact_prefix="$out/artifacts/$t-" \
    "$out/$t" "$corpus" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $t: FAILED after ${took}s (exit $rc, log $log)" >&2
    report_failure "$t" "$log"
    rows+=("$t $took ${execs:--} FAILED")
  else
    rows+=("$t $took ${execs:--} ok")
  fi
done

echo "== fuzz: summary (target, seconds, executions, result)"
for r in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-12s %6s %12s  %s\n' $r
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
