#!/bin/sh
# scripts/check-static.sh BIN_DIR — proves build/bin/kithd-static is what
# `make static` promises: file(1) and ldd(1) call it static, --version runs, and
# it serves: started --dev in a temporary home it answers `kithctl status` and
# `kithctl metrics`, then drains on SIGTERM and exits 0. Bounded: 30 s to start.
set -eu
bin=$1
exe=$bin/kithd-static
fail() { echo "check-static: FAIL: $*" >&2; exit 1; }
file "$exe" | grep -q "statically linked" || fail "file(1) does not call $exe statically linked: $(file "$exe")"
ldd "$exe" 2>&1 | grep -q "not a dynamic executable" || fail "ldd lists libraries: $(ldd "$exe" 2>&1)"
"$exe" --version | grep -q "^kithd " || fail "--version"
home=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$home"' EXIT
"$exe" --dev --home "$home" --log-format json 2>"$home/log" &
pid=$!
i=0
until "$bin/kithctl" --socket "$home/run/api.sock" status >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 300 ] || fail "no answer on $home/run/api.sock within 30 s: $(cat "$home/log")"
  kill -0 "$pid" 2>/dev/null || fail "kithd-static exited: $(cat "$home/log")"
  sleep 0.1
done
"$bin/kithctl" --socket "$home/run/api.sock" metrics | grep -q "^kith_workloads 0$" || fail "kithctl metrics"
kill -TERM "$pid"
wait "$pid" || fail "kithd-static did not exit 0 on SIGTERM"
echo "check-static: ok: $exe is static ($(du -h "$exe" | cut -f1)), serves, drains"
