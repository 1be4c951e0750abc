#!/usr/bin/env bash
# Submit the whole sisa workflow as a chain of Slurm jobs:
#   import (one job per dataset) -> train -> unlearn -> eval [+ predictions]
# Each job starts only when the one before it completed successfully (--dependency=afterok);
# when one fails, the rest are cancelled (--kill-on-invalid-dep=yes) instead of waiting forever.
# A train or unlearn job that is pre-empted requeues itself (see train.sbatch) and the chain
# waits for it. Prints one line "STEP JOBID" per job.
#
#   SISA=/abs/build/release/sisa slurm/pipeline.sh -c CONFIG [--ids-file IDS]
#        [--predict IN.h5 OUT.h5] [--sbatch OPTION]... [-- IMPORT ARGS [-- IMPORT ARGS]...]
#
#   -c, --config CONFIG    the run's config file
#   --ids-file IDS         sample IDs to delete (one per line); without it there is no unlearn job
#   --predict IN OUT       the eval job also writes the ensemble's predictions of IN.h5 to OUT.h5
#                          (and evaluates on IN.h5 instead of the config's data.test)
#   --sbatch OPTION        an sbatch option for every job, e.g. --sbatch --account=proj
#                          --sbatch --partition=cpu (repeatable)
#   -- ARGS                one `sisa import ARGS` job per group (e.g. -- idx --images A --labels B
#                          --scale 255 --force -o /abs/train.h5); without any, no import job
#
# Relative paths given to -c, --ids-file and --predict are made absolute and physical here
# (realpath, as sisa resolves a config's own paths); import arguments
# are passed as they are, so give them absolute paths. Options for one step only go in
# SISA_IMPORT_SBATCH, SISA_TRAIN_SBATCH, SISA_UNLEARN_SBATCH, SISA_EVAL_SBATCH (split at
# spaces), e.g. SISA_TRAIN_SBATCH="--ntasks=32 --time=04:00:00".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() {
  echo "pipeline: error: $*" >&2
  exit 2
}
usage="usage: SISA=/abs/path/to/sisa $0 -c CONFIG [--ids-file IDS] [--predict IN.h5 OUT.h5] [--sbatch OPTION]... [-- IMPORT ARGS]..."

cfg="" ids="" pred_in="" pred_out=""
common=()
while [ $# -gt 0 ]; do
  case $1 in
    -c | --config) [ $# -ge 2 ] || die "$usage"; cfg=$2; shift 2 ;;
    --ids-file) [ $# -ge 2 ] || die "$usage"; ids=$2; shift 2 ;;
    --predict) [ $# -ge 3 ] || die "$usage"; pred_in=$2; pred_out=$3; shift 3 ;;
    --sbatch) [ $# -ge 2 ] || die "$usage"; common+=("$2"); shift 2 ;;
    --) break ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; $usage" ;;
  esac
done
[ -n "$cfg" ] || die "$usage"

# Import groups: the arguments after each `--`, all in one array, with each group's length.
import_args=()
import_lens=()
while [ $# -gt 0 ]; do
  shift # the --
  n=0
  while [ $# -gt 0 ] && [ "$1" != -- ]; do import_args+=("$1"); n=$((n + 1)); shift; done
  [ "$n" -gt 0 ] || die "an empty import group (nothing after a --)"
  import_lens+=("$n")
done

abs() { realpath -m -- "$1"; }
SISA=${SISA:-$(command -v sisa || true)}
[ -n "$SISA" ] || die "set SISA to the sisa executable (no sisa on PATH)"
SISA=$(abs "$SISA")
[ -x "$SISA" ] || die "$SISA is not an executable"
cfg=$(abs "$cfg")
[ -f "$cfg" ] || die "$cfg does not exist"
if [ -n "$ids" ]; then
  ids=$(abs "$ids")
  [ -f "$ids" ] || die "$ids does not exist"
fi
if [ -n "$pred_in" ]; then
  pred_in=$(abs "$pred_in")
  pred_out=$(abs "$pred_out")
fi
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"

# The jobs get SISA whatever the site's default for --export is.
common=("--export=ALL,SISA=$SISA" "${common[@]}")
submitted=()
submit() { # STEP EXTRA_SBATCH_OPTIONS_STRING DEPENDENCY SCRIPT ARGS...
  local step=$1 extra=$2 dep=$3 script=$4 out id
  shift 4
  local opts=("${common[@]}")
  # shellcheck disable=SC2206 # per-step options are split at spaces on purpose
  [ -z "$extra" ] || opts+=($extra)
  [ -z "$dep" ] || opts+=("--dependency=$dep" --kill-on-invalid-dep=yes)
  if ! out=$(sbatch --parsable "${opts[@]}" "$here/$script" "$@"); then
    echo "pipeline: error: submitting the $step job failed" >&2
    if [ ${#submitted[@]} -gt 0 ]; then
      scancel "${submitted[@]}" || true
      echo "pipeline: cancelled the jobs submitted before it: ${submitted[*]}" >&2
    fi
    exit 1
  fi
  id=${out%%;*} # "ID" or "ID;CLUSTER"
  submitted+=("$id")
  echo "$step $id"
  last=$id
}

last=""
dep=""
at=0
for n in "${import_lens[@]}"; do
  submit import "${SISA_IMPORT_SBATCH:-}" "" import.sbatch "${import_args[@]:at:n}"
  at=$((at + n))
  dep=${dep:-afterok}:$last
done
submit train "${SISA_TRAIN_SBATCH:-}" "$dep" train.sbatch "$cfg"
if [ -n "$ids" ]; then
  submit unlearn "${SISA_UNLEARN_SBATCH:-}" "afterok:$last" unlearn.sbatch "$cfg" "$ids"
fi
eval_args=("$cfg")
[ -z "$pred_in" ] || eval_args+=("$pred_in" "$pred_out")
submit eval "${SISA_EVAL_SBATCH:-}" "afterok:$last" eval.sbatch "${eval_args[@]}"
echo "pipeline: submitted ${submitted[*]}; follow with: squeue -j $(IFS=,; echo "${submitted[*]}")" >&2
