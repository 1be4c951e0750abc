#!/usr/bin/env bash
# Stop the local test cluster that scripts/slurm-local.sh started: cancel its jobs, then stop
# exactly the daemons it started, by their recorded PIDs (each checked against /proc/PID/exe
# first, so a recycled PID is never signalled). munged is stopped only when slurm-local.sh
# started it. Idempotent: with nothing of ours running it says so and returns 0.
#
#   scripts/slurm-local-stop.sh        # same SLURM_LOCAL_DIR / SLURM_LOCAL_CONF as the start
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/var/lib/slurm-local}
CONF=${SLURM_LOCAL_CONF:-/etc/slurm/slurm.conf}
PIDS=$DIR/pids
export SLURM_CONF=$CONF

say() { echo "slurm-local-stop: $*"; }

exe_of() { readlink -f "/proc/$1/exe" 2>/dev/null || true; }
# PID recorded in file $1 when that process is alive and runs program $2; empty otherwise.
live_pid() {
  local pid prog
  pid=$(cat "$1" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  prog=$(command -v "$2" 2>/dev/null) || return 0
  [ "$(exe_of "$pid")" = "$(readlink -f "$prog")" ] && echo "$pid"
  return 0
}
# TERM a PID, wait up to 10 s, then KILL it.
stop_pid() { # NAME PID
  kill -TERM "$2" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    [ -e "/proc/$2" ] || { say "stopped $1 ($2)"; return 0; }
    sleep 0.1
  done
  kill -KILL "$2" 2>/dev/null || true
  say "killed $1 ($2): it did not exit within 10 s of SIGTERM"
}

ctld=$(live_pid "$PIDS/slurmctld.pid" slurmctld)
d=$(live_pid "$PIDS/slurmd.pid" slurmd)
munged=""
[ -e "$PIDS/munged.pid.ours" ] && munged=$(live_pid "$PIDS/munged.pid.ours" munged)
if [ -z "$ctld$d$munged" ]; then
  rm -f "$PIDS/munged.pid.ours"
  say "not running"
  exit 0
fi

# 1. Cancel every job of this cluster and wait (30 s at most) until the queue is empty.
if [ -n "$ctld" ]; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 150); do
      [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] && break
      sleep 0.2
    done
  fi
fi

# 2. Our job steps (slurmstepd processes holding our slurmd log open) should be gone now; wait
#    10 s at most, and only report the ones that remain (they belong to slurmd, which reaps them).
our_steps() {
  local p log
  log=$(readlink -f "$DIR/log/slurmd.log" 2>/dev/null || true)
  [ -n "$log" ] || return 0
  for p in /proc/[0-9]*; do
    case $(readlink "$p/exe" 2>/dev/null) in */slurmstepd) ;; *) continue ;; esac
    for fd in "$p"/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "$log" ]; then
        echo "${p#/proc/}"
        break
      fi
    done
  done
}
for _ in $(seq 1 50); do
  [ -z "$(our_steps)" ] && break
  sleep 0.2
done
left=$(our_steps | tr '\n' ' ')
[ -z "$left" ] || say "slurmstepd still running after 10 s: $left"

# 3. The daemons, slurmd first, then slurmctld; munged only if it is ours.
[ -n "$d" ] && stop_pid slurmd "$d"
[ -n "$ctld" ] && stop_pid slurmctld "$ctld"
[ -n "$munged" ] && stop_pid munged "$munged"
rm -f "$PIDS/munged.pid.ours"
exit 0
