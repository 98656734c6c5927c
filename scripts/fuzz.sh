#!/bin/sh
# scripts/fuzz.sh BUILD SECONDS TARGET... — runs each libFuzzer target for
# SECONDS from its checked-in seeds (fuzz/corpus/NAME, read only) plus the
# corpus it grew before (BUILD/corpus/NAME), and prints one summary line per
# target: executions, executions per second, corpus size, crashes. Exit 1 if
# any target crashed (its input is in BUILD/crashes/).
set -u
build=$1; seconds=$2; shift 2
status=0
printf '%-14s %8s %12s %10s %8s %s\n' target seconds execs exec/s corpus result
for t in "$@"; do
  bin=$build/bin/fuzz_$t
  mkdir -p "$build/corpus/$t" "$build/crashes" "$build/logs"
  seeds=fuzz/corpus/$t; [ -d "$seeds" ] || seeds=
  log=$build/logs/$t.log
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/crashes/$t-" "$build/corpus/$t" $seeds >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(ls "$build/corpus/$t" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="CRASH (see $log)"; status=1; fi
  printf '%-14s %8s %12s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
exit $status
