#!/usr/bin/env bash
# scripts/run-tests.sh BINARY... — runs Boost.Test binaries, prints each failure,
# and ends with the line "N passed, N failed" (test cases, summed over binaries).
# A binary that crashes or times out before writing its report counts as one
# failed case. Exit status: 0 iff nothing failed.
#   KITH_TEST_ARGS   extra arguments for every binary (e.g. --run_test=...)
#   KITH_TEST_TIMEOUT seconds per binary (default 1500)
set -uo pipefail

passed=0
failed=0
reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT

for bin in "$@"; do
  name="$(basename "$bin")"
  xml="$reports/$name.xml"
  echo "=== $name"
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout --kill-after=10 "${KITH_TEST_TIMEOUT:-1500}" "$bin" --log_level=warning \
    --report_format=XML --report_level=detailed --report_sink="$xml" \
    ${KITH_TEST_ARGS:-} </dev/null
  rc=$?
  secs=$(( $(date +%s) - start ))
  p=$(grep -o -m1 'test_cases_passed="[0-9]*"' "$xml" 2>/dev/null | head -n1 | grep -o "[0-9]*")
  f=$(grep -o -m1 'test_cases_failed="[0-9]*"' "$xml" 2>/dev/null | head -n1 | grep -o "[0-9]*")
  a=$(grep -o -m1 'test_cases_aborted="[0-9]*"' "$xml" 2>/dev/null | head -n1 | grep -o "[0-9]*")
  if [ -z "$p" ] || [ -z "$f" ]; then
    echo "!!! $name exited $rc without a report (crash or timeout)"
    failed=$((failed + 1))
    continue
  fi
  f=$((f + ${a:-0}))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    echo "!!! $name exited $rc"
    f=1
  fi
  echo "--- $name: $p passed, $f failed (${secs}s)"
  passed=$((passed + p))
  failed=$((failed + f))
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
