#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a benchmark command only while no other process is using the CPU, and reruns it when other
# processes took more than 5% of the machine's CPU time during the run (a shared 2-vCPU box makes
# every OpenMP barrier wait for a descheduled thread otherwise). Linux only (/proc/stat).
#
#   bench/quiet_run.sh [-n TRIES] OUT_PREFIX command [args...]
#
# Writes the command's stdout+stderr to OUT_PREFIX.txt and one line per try to OUT_PREFIX.meta:
#   start <UTC> waited <s> rc <rc> wall <s>; CPU-s by bench <s>, by other processes <s>
# Gate: waits (up to 25 min) for a 3 s window in which all processes together used < 10% of one
# CPU. Accept: other processes' CPU time < 5% of (CPUs x wall). Exits with the command's status;
# 75 when the last try was still disturbed.
set -u
tries=6
if [ "${1:-}" = "-n" ]; then tries=$2; shift 2; fi
[ $# -ge 2 ] || { sed -n '3,14p' "$0" >&2; exit 2; }
out=$1
shift
hz=$(getconf CLK_TCK)
cpus=$(nproc)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# CPU seconds (user + sys) of this shell's finished children, from the `times` builtin (which must
# run in this shell, not in a $(...) subshell).
tfile=$(mktemp)
trap 'rm -f "$tfile"' EXIT
child_cpu() { awk 'NR == 2 { for (i = 1; i <= 2; ++i) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$tfile"; }
: > "$out.meta"
for ((try = 1; try <= tries; ++try)); do
  waited=0
  while :; do
    a=$(busy); sleep 3; b=$(busy)
    [ $((b - a)) -lt $((hz * 3 / 10)) ] && break
    waited=$((waited + 3))
    [ $waited -gt 1500 ] && break
  done
  start=$(date -u +%FT%TZ)
  times > "$tfile"; c0=$(child_cpu); b0=$(busy); t0=$(date +%s.%N)
  "$@" > "$out.txt" 2>&1
  rc=$?
  b1=$(busy); t1=$(date +%s.%N); times > "$tfile"; c1=$(child_cpu)
  self=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%d", (b - a) * hz }')
  line=$(awk -v s="$start" -v w="$waited" -v rc=$rc -v t0="$t0" -v t1="$t1" -v self="$self" \
             -v db=$((b1 - b0)) -v hz="$hz" -v cpus="$cpus" \
             'BEGIN { wall = t1 - t0; other = (db - self) / hz;
                      printf "start %s waited %ss rc %d wall %.1f s; CPU-s by bench %.1f, by other processes %.1f",
                             s, w, rc, wall, self / hz, other;
                      exit (other < 0.05 * cpus * wall) ? 0 : 1 }')
  quiet=$?
  echo "$line" | tee -a "$out.meta"
  [ $quiet -eq 0 ] && exit $rc
done
exit 75
