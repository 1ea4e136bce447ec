#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer harness of tests/fuzz for a fixed time from its seed corpus and prints, per
# harness, the executions, executions per second, corpus growth and peak memory. New corpus entries
# go to <build>/fuzz-corpus/<name>/ (the checked-in seeds are read, never written); a crash input
# is saved as <build>/fuzz-artifacts/<name>-crash-* and fails the run (turn it into a regression test).
#   scripts/run_fuzzers.sh <build dir> <seconds per harness>
set -uo pipefail
build="${1:?usage: run_fuzzers.sh <build dir> <seconds>}"
seconds="${2:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
status=0
printf '%-12s %12s %10s %8s %8s %s\n' harness executions exec/s new_units rss_mb result
for name in npy safetensors checkpoint zsre numbers; do
  bin="$build/bin/fuzz_$name"
  [ -x "$bin" ] || { echo "run_fuzzers: $bin is missing (make fuzz builds it)" >&2; exit 1; }
  mkdir -p "$build/fuzz-corpus/$name"
  log="$build/fuzz-logs/$name.log"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=20 -max_len=65536 \
    -artifact_prefix="$build/fuzz-artifacts/$name-" "$build/fuzz-corpus/$name" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  stat() { grep -m1 "stat::$1:" "$log" | awk '{print $2}'; }
  result=ok
  if [ $rc -ne 0 ]; then result="FAILED (exit $rc, see $log)"; status=1; fi
  printf '%-12s %12s %10s %8s %8s %s\n' "$name" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "$(stat new_units_added)" \
    "$(stat peak_rss_mb)" "$result"
  if [ $rc -ne 0 ]; then grep -E "ERROR|SUMMARY|==[0-9]+==|runtime error|artifact" "$log" | head -20; fi
done
exit $status
