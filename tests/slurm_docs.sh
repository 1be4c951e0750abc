#!/usr/bin/env bash
# Slurm test: docs/slurm.md runs as written on the local test cluster.
#
# Every ```sh block of the file must follow a marker line: `<!-- test: run -->` (the block runs
# here) or `<!-- test: skip: REASON -->`. The runnable blocks run in the file's order in one bash
# (errexit, nounset, pipefail), from a scratch folder in which slurm/, scripts/ and configs/ are
# the repository's, with SISA set to the binary under test, as a user would paste them. A line
# `NAME=VALUE   # placeholder: ...` gets this test's value for NAME (an unknown NAME fails, and
# every value below must be used); no other character of a block is changed. After each block
# every job it submitted (found by its working folder) must end COMPLETED.
#
# The run folder ($RUN in the docs) holds what the docs say it holds: a config (small: 3 shards
# x 2 slices, one epoch) and ids.txt. The Fashion-MNIST folder ($FM) is a small one: its
# training files are the 10 000-image test set's (links), so that every step takes seconds.
#   tests/slurm_docs.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
# shellcheck source=tests/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/work" "$dir/run"
dir=$(cd "$dir" && pwd -P)
for d in slurm scripts configs; do ln -s "$SRC/$d" "$dir/work/$d"; done
doc=$SRC/docs/slurm.md

cat >"$dir/run/config.yaml" <<'YAML'
data: {train: train.h5, test: test.h5}
store: store
seed: 3
sisa: {shards: 3, slices: 2}
model: {type: mlp, hidden: [16]}
train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 64, epochs: 1}
aggregate: {strategy: mean}
YAML
printf '# samples to delete\n3\n141\n5926\n' >"$dir/run/ids.txt"
fm=${SISA_FMNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$dir/fm"
for set in t10k train; do
  for kind in images-idx3 labels-idx1; do
    ln -s "$fm/t10k-$kind-ubyte.gz" "$dir/fm/$set-$kind-ubyte.gz"
  done
done
declare -A value=(
  [RUN]=$dir/run
  [FM]=$dir/fm
  [SITE]="()"
)
declare -A used=()

# 1. The blocks, with their markers, into one script.
script=$dir/docs.sh
{
  echo 'set -euo pipefail'
  printf '. %q\n' "$SRC/tests/slurm_lib.sh"
  printf 'export SISA=%q\n' "$(readlink -f "$sisa")"
  printf 'cd %q\n' "$dir/work"
  cat <<'EOF'
seen=" "
# Wait for every job submitted from here since the last call; each must end COMPLETED.
block_done() { # BLOCK LINE
  local id n=0 st
  for id in $(timeout 10 scontrol show job -o 2>/dev/null | grep -F " WorkDir=$PWD " | grep -o '^JobId=[0-9]*' | cut -d= -f2 | sort -n); do
    case $seen in *" $id "*) continue ;; esac
    seen+="$id "
    SUBMITTED+=("$id")
    st=$(wait_end "$id" 600)
    if [ "$st" != "COMPLETED " ]; then
      show_job "$id"
      fail "docs/slurm.md block $1 (line $2): job $id ended $st"
    fi
    n=$((n + 1))
  done
  echo "slurm_docs: block $1 (docs/slurm.md line $2) ran; $n job(s) completed"
}
EOF
} >"$script"
marker="" lineno=0 inblock=0 runs=0 skips=0 start=0
while IFS= read -r line; do
  lineno=$((lineno + 1))
  if [ "$inblock" = 1 ]; then
    if [ "$line" = '```' ]; then
      inblock=0
      [ "$marker" = run ] && printf 'block_done %d %d\n' "$runs" "$start" >>"$script"
      marker=""
      continue
    fi
    [ "$marker" = run ] || continue
    if [[ $line =~ ^([A-Z_][A-Z0-9_]*)=([^#]*[^[:space:]#])([[:space:]]+#[[:space:]]placeholder:.*)$ ]]; then
      name=${BASH_REMATCH[1]}
      [ -n "${value[$name]+set}" ] || fail "docs/slurm.md:$lineno: placeholder $name has no test value"
      if [ "${value[$name]}" = "()" ]; then
        line="$name=()${BASH_REMATCH[3]}"
      else
        line="$name=$(printf %q "${value[$name]}")${BASH_REMATCH[3]}"
      fi
      used[$name]=1
    fi
    printf '%s\n' "$line" >>"$script"
    continue
  fi
  case $line in
    '<!-- test: run -->') marker=run ;;
    '<!-- test: skip: '*' -->') marker=skip ;;
    '```sh' | '```bash')
      [ -n "$marker" ] || fail "docs/slurm.md:$lineno: a shell block without a '<!-- test: run -->' or '<!-- test: skip: REASON -->' line before it"
      inblock=1
      start=$lineno
      if [ "$marker" = run ]; then runs=$((runs + 1)); else skips=$((skips + 1)); fi
      ;;
    *)
      [ -z "$marker" ] || fail "docs/slurm.md:$((lineno - 1)): a test marker not followed by a shell block"
      ;;
  esac
done <"$doc"
[ "$inblock" = 0 ] || fail "docs/slurm.md: a block is not closed"
[ "$runs" -ge 4 ] || fail "docs/slurm.md has only $runs runnable blocks"
for name in "${!value[@]}"; do
  [ -n "${used[$name]:-}" ] || fail "the placeholder $name is no longer in docs/slurm.md (remove it from this test)"
done
echo "docs/slurm.md: $runs blocks to run, $skips skipped (each with its reason)"

# 2. Run them.
bash "$script" || fail "a command of docs/slurm.md failed (above; the script: $script)"
grep -q 'request 1 is certified' "$dir"/work/sisa-unlearn-*.out || fail "no certified deletion in the unlearn jobs' output"
[ -s "$dir/run/pred.h5" ] || fail "the pipeline wrote no predictions"
grep -q '"accuracy"' "$dir"/work/sisa-eval-*.out || fail "no JSON accuracy in the eval jobs' output"
echo "every runnable block of docs/slurm.md ran as written"
