#!/bin/bash
# Submit a gauge plan's members as one job array and its score as a job that runs once every
# member has succeeded (--dependency=afterok).
#
#   SISA=/abs/path/sisa slurm/gauge.sh /abs/GAUGE_DIR [THROTTLE [SBATCH OPTIONS...]]
#
# THROTTLE (default 32) is the most members running at once (--array=...%THROTTLE). Further
# arguments go to both sbatch calls (e.g. --partition=... --account=... --time=...). Prints the
# two job IDs. Make the plan first: sisa gauge plan -c CONFIG -o GAUGE_DIR ... (docs/gauge.md).
set -euo pipefail
die() {
  echo "gauge.sh: error: $*" >&2
  exit 2
}
[ $# -ge 1 ] || die "usage: SISA=/abs/path/sisa slurm/gauge.sh /abs/GAUGE_DIR [THROTTLE [SBATCH OPTIONS...]]"
dir=$1
throttle=${2:-32}
shift
[ $# -eq 0 ] || shift
case $dir in /*) ;; *) die "'$dir' is not an absolute path" ;; esac
case $throttle in '' | *[!0-9]*) die "THROTTLE '$throttle' is not a number" ;; esac
[ -f "$dir/plan.json" ] || die "$dir holds no gauge plan (make one with sisa gauge plan)"
tasks=$(sed -n 's/.*"tasks": \([0-9]*\).*/\1/p' "$dir/plan.json")
[ -n "$tasks" ] || die "$dir/plan.json: no task count"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
members=$(sbatch --parsable --array="0-$((tasks - 1))%$throttle" --output="$dir/sisa-gauge-%A_%a.out" \
  "$@" "$here/gauge.sbatch" member "$dir")
members=${members%%;*}
score=$(sbatch --parsable --dependency="afterok:$members" --output="$dir/sisa-gauge-score-%j.out" \
  "$@" "$here/gauge.sbatch" score "$dir")
score=${score%%;*}
echo "members: job array $members ($tasks tasks, at most $throttle at once)"
echo "score:   job $score (after every member succeeded): $dir/gauge.tsv, and the figures where gnuplot is installed"
