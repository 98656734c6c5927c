#!/bin/sh
# bench/run.sh BUILD_DIR [--quick] — runs every bench and prints its table;
# `make bench` calls it after building them (`make bench BENCH_FLAGS=--quick`
# for a smoke run with a tenth of the counts). Each bench is bounded in count and time and
# starts whatever it measures itself (bench_api starts its own kithd in a
# temporary home). Exit status: 0 when every bench ran, 1 if one could not
# (a missed goal is a figure, printed as FAIL in its table, not an error).
#
# Figures are noisy on a shared 2-core machine: run on a quiet machine and
# compare the ratio columns (measured side by side in one run) rather than
# absolute numbers across runs. See bench/README.md.
set -u

BUILD=${1:-build}
QUICK=${2:-}
if [ -n "$QUICK" ] && [ "$QUICK" != "--quick" ]; then
    echo "usage: bench/run.sh BUILD_DIR [--quick]" >&2
    exit 2
fi
BIN=$BUILD/bin
failed=""

run() {
    name=$1
    shift
    echo
    echo "=== $name"
    if ! "$@"; then
        failed="$failed $name"
    fi
}

echo "kith benches, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -sr)"

# --- the daemon's own figures ------------------------------------------------
# $QUICK is empty or --quick; unquoted so that empty adds no argument.
run bench_policy "$BIN/bench_policy" $QUICK
run bench_api "$BIN/bench_api" $QUICK
run bench_replication "$BIN/bench_replication" $QUICK
run bench_vhost "$BIN/bench_vhost" $QUICK

# --- tunnels between daemons ---------------------------------------------------
# kith's mTLS tunnels beside direct TCP, a socat relay and a stunnel4 pair, in
# one run (bench/tunnel_bench.sh; needs iperf3, socat, stunnel4, openssl).
run tunnel_bench bench/tunnel_bench.sh "$BUILD" $QUICK

echo
if [ -n "$failed" ]; then
    echo "benches that could not run:$failed"
    exit 1
fi
echo "all benches ran"
