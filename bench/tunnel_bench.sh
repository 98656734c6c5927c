#!/bin/bash
# bench/tunnel_bench.sh BUILD_DIR [--quick] — kith's tunnels between two
# daemons, side by side in one run with the paths people use today, all on
# loopback:
#
#   direct   client -> server
#   socat    client -> socat relay -> server
#   stunnel  client -> stunnel4 (client) =mTLS 1.3=> stunnel4 (server) -> server
#   kith     client -> kithd a ([[upstream]]) =mTLS 1.3 link=> kithd b -> server
#   kith-api client =libkith=> kithd a =mTLS 1.3 link=> kithd b =libkith=> server
#
# kith is what an unmodified program gets: two TCP connections per stream
# (upstream socket, target socket). kith-api is kith's native path for
# programs that link libkith (bench_kith_probe): kith_connect hands the client
# a socketpair end over its api.sock connection, kith_accept hands the server
# the other daemon's socketpair end: no TCP handshake per stream.
#
# stunnel and kith both run TLS 1.3 with AES-128-GCM, X25519 and Ed25519
# certificates verified both ways. Figures (issue 5): single-stream throughput
# (iperf3, goal kith >= 1.5x stunnel), 64-byte request/response p50/p99 (goal
# kith p50 <= 0.75x stunnel), new connections per second with a 1-byte echo
# (goal kith >= 20x stunnel: stunnel handshakes per connection, kith opens a
# stream on its standing link), and the daemons' memory per open stream with
# 10,000 streams open. Rounds are interleaved across paths and medians taken.
#
# Two floors run beside them (request/response and connections/s only):
# relay1 (client -> one minimal plaintext relay -> server) and relay2 (two of
# them in a chain): no framing, no crypto, no policy — what this machine
# allows any relay, and any two-daemon path, at best.
set -u

BUILD=${1:-build}
QUICK=${2:-}
BIN=$(cd "$BUILD/bin" && pwd)
PROBE=$BIN/bench_tcp_probe
KPROBE=$BIN/bench_kith_probe
ROUNDS=3; DUR=4; RRN=20000; CPS_S=3; HOLD=10000
if [ "$QUICK" = "--quick" ]; then ROUNDS=1; DUR=1; RRN=2000; CPS_S=1; HOLD=1000; fi

T=$(mktemp -d /tmp/kith-tunnel-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
bg() { "$@" & PIDS+=($!); }
port() { "$PROBE" freeport; }
die() { echo "tunnel bench: $*" >&2; exit 1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

[ -x "$KPROBE" ] || die "missing $KPROBE (make -f mk/main.mk $BUILD/bin/bench_kith_probe)"
for tool in iperf3 socat stunnel4 openssl; do
    command -v $tool >/dev/null || die "missing $tool (scripts/deps.sh installs it)"
done

# ---- servers: echo and iperf3 ----------------------------------------------
bg "$PROBE" echo "$T/echo.port"
for _ in $(seq 50); do [ -s "$T/echo.port" ] && break; sleep 0.1; done
ECHO=$(cat "$T/echo.port")
IPERF=$(port)
bg iperf3 -s -B 127.0.0.1 -p "$IPERF" >/dev/null 2>&1

# ---- socat -----------------------------------------------------------------
SOCAT_E=$(port); SOCAT_I=$(port)
bg socat TCP-LISTEN:$SOCAT_E,bind=127.0.0.1,reuseaddr,fork,nodelay TCP:127.0.0.1:$ECHO,nodelay
bg socat TCP-LISTEN:$SOCAT_I,bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:$IPERF

# ---- floors: minimal plaintext relays (bench_tcp_probe relay) ---------------
# relay1: client -> relay -> server, one process, no crypto, no framing: no
#   relay of any design does less per connection, so its connections/s bound
#   kith's from above on this machine.
# relay2: client -> relay -> relay -> server: the shape of every two-daemon
#   path (kith, stunnel) with nothing but the copying, so its round-trip time
#   bounds from below what two daemons can reach here.
bg "$PROBE" relay "$T/relay1.port" 127.0.0.1:$ECHO
for _ in $(seq 50); do [ -s "$T/relay1.port" ] && break; sleep 0.1; done
RELAY1=$(cat "$T/relay1.port")
bg "$PROBE" relay "$T/relay2.port" 127.0.0.1:$RELAY1
for _ in $(seq 50); do [ -s "$T/relay2.port" ] && break; sleep 0.1; done
RELAY2=$(cat "$T/relay2.port")

# ---- stunnel pair (mTLS 1.3, Ed25519 certificates from one CA) -------------
(
    cd "$T"
    openssl genpkey -algorithm ed25519 -out ca.key
    openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 2 -out ca.crt
    for n in server client; do
        openssl genpkey -algorithm ed25519 -out $n.key
        openssl req -new -key $n.key -subj /CN=$n -out $n.csr
        openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out $n.crt
    done
) >/dev/null 2>&1 || die "cannot make stunnel certificates"
ST_CE=$(port); ST_CI=$(port); ST_SE=$(port); ST_SI=$(port)
common="foreground = yes
pid =
debug = 3
sslVersion = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
CAfile = $T/ca.crt
verifyChain = yes
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1"
cat > "$T/st-server.conf" <<EOF
$common
cert = $T/server.crt
key = $T/server.key
[echo]
accept = 127.0.0.1:$ST_SE
connect = 127.0.0.1:$ECHO
[iperf]
accept = 127.0.0.1:$ST_SI
connect = 127.0.0.1:$IPERF
EOF
cat > "$T/st-client.conf" <<EOF
$common
client = yes
cert = $T/client.crt
key = $T/client.key
[echo]
accept = 127.0.0.1:$ST_CE
connect = 127.0.0.1:$ST_SE
[iperf]
accept = 127.0.0.1:$ST_CI
connect = 127.0.0.1:$ST_SI
EOF
bg stunnel4 "$T/st-server.conf" 
bg stunnel4 "$T/st-client.conf"

# ---- kith: two daemons, one link ---------------------------------------------
"$BIN/kithctl" ca init --trust-domain bench.kith --out "$T/ca" >/dev/null || die "kithctl ca init"
for m in a b; do "$BIN/kithctl" ca issue-node $m --ca "$T/ca" --out "$T/$m/node" >/dev/null || die "issue-node $m"; done
K_E=$(port); K_I=$(port)
cat > "$T/a.toml" <<EOF
machine = "a"
trust_domain = "bench.kith"
home = "$T/a"
[log]
level = "warn"
[replication]
listen = "tcp://127.0.0.1:0"
[broker]
listen = "127.0.0.1:0"
[[upstream]]
name = "bench.client.echo.default"
listen = "127.0.0.1:$K_E"
destination = "bench.echo.*.default.b"
[[upstream]]
name = "bench.client.iperf.default"
listen = "127.0.0.1:$K_I"
destination = "bench.iperf.*.default.b"
EOF
bg "$BIN/kithd" --config "$T/a.toml" --log-format json 2>"$T/a.log"
KA=$!
for _ in $(seq 100); do [ -S "$T/a/run/admin.sock" ] && break; sleep 0.1; done
SEED=$(KITH_HOME="$T/a" "$BIN/kithctl" peers --json | sed -n 's/.*"seed": *"\([^"]*\)".*/\1/p')
[ -n "$SEED" ] || die "no seed from kithd a"
cat > "$T/b.toml" <<EOF
machine = "b"
trust_domain = "bench.kith"
home = "$T/b"
[log]
level = "warn"
[replication]
listen = "tcp://127.0.0.1:0"
seeds = ["$SEED"]
[broker]
listen = "127.0.0.1:0"
EOF
bg "$BIN/kithd" --config "$T/b.toml" --log-format json 2>"$T/b.log"
KB=$!
for _ in $(seq 100); do [ -S "$T/b/run/api.sock" ] && break; sleep 0.1; done
bg env KITH_HOME="$T/b" "$BIN/kithcat" -l bench.echo.e1.default --allow 'bench.*.*.*.*' -t tcp:127.0.0.1:$ECHO
bg env KITH_HOME="$T/b" "$BIN/kithcat" -l bench.iperf.i1.default --allow 'bench.*.*.*.*' -t tcp:127.0.0.1:$IPERF
# kith-api: a libkith echo server listening on b (the same whitelist); the
# clients register on a as bench.kapi.cN.default (N: a fresh name per run, so
# a lease still being torn down never collides) and connect to the pattern
# bench.kecho.*.default.b, as the upstream does to bench.echo.*.default.b.
bg "$KPROBE" --socket "$T/b/run/api.sock" server bench.kecho.k1.default 'bench.*.*.*.*'
KCLIENTS=0
kapi() {  # rr COUNT | cps SECONDS
    KCLIENTS=$((KCLIENTS + 1))
    "$KPROBE" --socket "$T/a/run/api.sock" "$1" bench.kapi.c$KCLIENTS.default bench.kecho.*.default.b "$2"
}
# Ready when a round trip goes through every path.
for p in $ECHO $SOCAT_E $ST_CE $K_E $RELAY1 $RELAY2; do
    ok=""
    for _ in $(seq 150); do
        if "$PROBE" rr 127.0.0.1:$p 10 >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || die "path through port $p never answered (see $T/*.log)"
done
ok=""
for _ in $(seq 150); do
    if kapi rr 10 >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
done
[ -n "$ok" ] || die "kith-api path never answered (see $T/*.log; $KPROBE rr)"

if [ -n "${KITH_BENCH_KEEP:-}" ]; then
    # Development aid: leave the set-up running and say where everything is.
    echo "echo: direct $ECHO socat $SOCAT_E stunnel $ST_CE kith $K_E relay1 $RELAY1 relay2 $RELAY2"
    echo "iperf3: direct $IPERF socat $SOCAT_I stunnel $ST_CI kith $K_I"
    echo "kithd a pid $KA, b pid $KB, dir $T"
    echo "kith-api: $KPROBE --socket $T/a/run/api.sock rr|cps bench.kapi.NAME.default 'bench.kecho.*.default.b' N"
    sleep "$KITH_BENCH_KEEP"
    exit 0
fi

PATHS="direct socat stunnel kith"
FLOORS="relay1 relay2"
eport() { case $1 in direct) echo $ECHO;; socat) echo $SOCAT_E;; stunnel) echo $ST_CE;; kith) echo $K_E;;
          relay1) echo $RELAY1;; relay2) echo $RELAY2;; esac; }
iport() { case $1 in direct) echo $IPERF;; socat) echo $SOCAT_I;; stunnel) echo $ST_CI;; kith) echo $K_I;; esac; }

echo "tunnel bench: $ROUNDS rounds interleaved; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq $ROUNDS); do
    for p in $PATHS; do
        iperf3 -c 127.0.0.1 -p "$(iport $p)" -t "$DUR" -f m 2>/dev/null |
            awk '/receiver/ {for (i=1;i<=NF;i++) if ($i=="Mbits/sec") print $(i-1)}' >> "$T/tput.$p"
        "$PROBE" rr 127.0.0.1:"$(eport $p)" "$RRN" >> "$T/rr.$p"
        "$PROBE" cps 127.0.0.1:"$(eport $p)" "$CPS_S" | cut -d' ' -f1 >> "$T/cps.$p"
    done
    kapi rr "$RRN" >> "$T/rr.kith-api"
    kapi cps "$CPS_S" | cut -d' ' -f1 >> "$T/cps.kith-api"
    for p in $FLOORS; do
        "$PROBE" rr 127.0.0.1:"$(eport $p)" "$RRN" >> "$T/rr.$p"
        "$PROBE" cps 127.0.0.1:"$(eport $p)" "$CPS_S" | cut -d' ' -f1 >> "$T/cps.$p"
    done
done
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

# Each kith row is judged against the goal on its own: kith (TCP upstream,
# what unmodified programs get) and kith-api (libkith). kith-api has no
# throughput figure (iperf3 speaks TCP).
printf '\n%-34s %10s %10s %10s %10s %10s %8s %-6s %8s %-6s %s\n' "figure" direct socat stunnel kith kith-api \
    "kith/st" result "api/st" result goal
row() {  # name file-prefix column goal-op goal
    local name=$1 pre=$2 col=$3 op=$4 goal=$5 v vals=() r1 r2
    for p in $PATHS kith-api; do
        v=$(awk -v c=$col '{print $c}' "$T/$pre.$p" 2>/dev/null | median)
        vals+=("$v")
    done
    ratio() { awk -v k="$1" -v s="${vals[2]}" 'BEGIN {if (k!="nan" && s>0) printf "%.2f", k/s; else print "nan"}'; }
    judge() {
        [ "$goal" = "-" ] && { echo "-"; return; }
        awk -v r="$1" -v g="$goal" -v op="$op" 'BEGIN {
            if (r=="nan") {print "ERROR"; exit}
            if ((op==">=" && r>=g) || (op=="<=" && r<=g)) print "pass"; else print "FAIL"}'
    }
    r1=$(ratio "${vals[3]}"); r2=$(ratio "${vals[4]}")
    if [ "$pre" = tput ]; then vals[4]="-"; r2="-"; fi
    printf '%-34s %10s %10s %10s %10s %10s %8s %-6s %8s %-6s %s\n' "$name" "${vals[@]}" \
        "$r1" "$(judge "$r1")" "$r2" "$([ "$r2" = - ] && echo - || judge "$r2")" "$([ "$goal" = - ] && echo - || echo "$op$goal")"
}
row "throughput, 1 stream (Mbit/s)" tput 1 ">=" 1.5
row "64 B request/response p50 (us)" rr 1 "<=" 0.75
row "64 B request/response p99 (us)" rr 2 "<=" -
row "new connections/s (1 B echo)" cps 1 ">=" 20

# What the machine allows: the floors beside stunnel, and kith against them.
printf '\n%-34s %10s %10s %10s %10s %14s %14s\n' "floor (plain relays)" relay1 relay2 stunnel kith \
    "relay1/stunnel" "kith/relay2"
floor() {  # name file-prefix column
    local v vals=()
    for p in relay1 relay2 stunnel kith; do
        v=$(awk -v c=$3 '{print $c}' "$T/$2.$p" 2>/dev/null | median)
        vals+=("$v")
    done
    printf '%-34s %10s %10s %10s %10s %14s %14s\n' "$1" "${vals[@]}" \
        "$(awk -v a="${vals[0]}" -v b="${vals[2]}" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "nan"}')" \
        "$(awk -v a="${vals[3]}" -v b="${vals[1]}" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "nan"}')"
}
floor "64 B request/response p50 (us)" rr 1
floor "new connections/s (1 B echo)" cps 1

# ---- memory per open stream --------------------------------------------------
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
A0=$(rss $KA); B0=$(rss $KB)
mkfifo "$T/hold.in"
"$PROBE" hold 127.0.0.1:$K_E $HOLD < "$T/hold.in" > "$T/hold.out" &
HOLDER=$!
exec 9>"$T/hold.in"
for _ in $(seq 1200); do grep -q '^held' "$T/hold.out" 2>/dev/null && break; sleep 0.1; done
HELD=$(sed -n 's/^held //p' "$T/hold.out")
A1=$(rss $KA); B1=$(rss $KB)
exec 9>&-
wait $HOLDER
echo
if [ -n "$HELD" ] && [ "$HELD" -gt 0 ]; then
    awk -v n="$HELD" -v a0=$A0 -v a1=$A1 -v b0=$B0 -v b1=$B1 'BEGIN {
        printf "open streams held: %d (each: upstream socket on a, link stream on both, target socket on b)\n", n
        printf "kithd a RSS: %.1f MiB -> %.1f MiB  (%.0f bytes/stream)\n", a0/1024, a1/1024, (a1-a0)*1024/n
        printf "kithd b RSS: %.1f MiB -> %.1f MiB  (%.0f bytes/stream)\n", b0/1024, b1/1024, (b1-b0)*1024/n
    }'
else
    echo "memory per stream: ERROR (could not hold streams: $(cat "$T/hold.out"))"
fi
echo "link: $(KITH_HOME="$T/a" "$BIN/kithctl" status --json 2>/dev/null | grep -o '"tunnels":{[^}]*}' | head -c 300)"
