#!/usr/bin/env bash
# scripts/bench-io.sh -- the I/O workloads W13 (echo), W14 (idle connections) and W15 (HTTP/1.1 keep-alive) of
# docs/benchmarks.md: every server beside the others, driven by the same load generator, in one run on loopback.
#
# usage: scripts/bench-io.sh [--workers W] [--gen-threads G] [--duration S] [--warmup S] [--rows LIST]
#                            [--peers LIST] [--reps R] [--w13-conns LIST] [--idle-conns N] [--quick] [--no-build]
#                            [--base DIR]
#   --workers W       worker threads of every server runtime (default 2; thread-per-connection ignores it)
#   --gen-threads G   threads of the load generator (default 1); it shares the machine with the server
#   --duration S      measured seconds per W13/W15 run (default 5; --quick: 2), after --warmup S (default 1;
#                     --quick: 0.5)
#   --rows LIST       subset of W13,W14,W15 (default all)
#   --peers LIST      subset of dtact,threads,go,tokio,hyper (default all; hyper serves W15 only)
#   --reps R          separate server+generator runs per cell, interleaved across the columns; the table shows
#                     the median (default 3; --quick: 1)
#   --w13-conns LIST  connection counts of W13 (default 100,1000)
#   --idle-conns N    connections of W14 (default 10000)
#   --quick           smoke run: --duration 2 --warmup 0.5 --reps 1 unless given
#   --no-build        use the binaries already built
#   --base DIR        add a column "base": the Dtact servers found in DIR (dtact_echo_server, dtact_idle_server,
#                     dtact_http_server, e.g. copied from build/bench before a change), run interleaved with the
#                     others for a before/after comparison in the same run
#
# Builds (only what is missing or older than its sources; everything goes under build/, nothing into the
# source tree; a runtime that cannot be built shows "not built"):
#   loadgen, threads  gcc -O2 benches/loadgen/{loadgen,thread_server}.c -> build/bench/{loadgen,io_thread_server}
#   go                go build benches/peers/go-net -> build/peers/io-go (golang-go)
#   tokio, hyper      cargo build --release --offline --locked against Debian's crates in
#                     /usr/share/cargo/registry (librust-tokio-dev; hyper: librust-hyper-dev) ->
#                     build/peers/tokio-net-target/release/{io-tokio,io-hyper}
#   dtact             cmake -DCMAKE_BUILD_TYPE=Release into build/bench (as scripts/bench-sync.sh), targets
#                     dtact_echo_server, dtact_idle_server (both ffi/examples/echo_server.c) and dtact_http_server
#                     (ffi/examples/http_server.c): the examples themselves; each takes PORT WORKERS, prints
#                     "ready: ..." (CMakeLists.txt, "Benches")
# Missing Debian packages are installed with apt-get when run as root.
#
# Method: each run starts the server on a free loopback port (`SERVER MODE PORT W`, or the Dtact binary with
# `PORT W`), waits for its "ready", runs build/bench/loadgen against it (bounded by `timeout`), then stops the
# server. W13/W15: closed loop, one request in flight per connection, req/s and p50/p99 latency over the
# measured window, and the server's CPU time (utime + stime) per request over that window. W14: 10k connections each confirmed by a 1-byte echo, then (server VmRSS after - before) /
# connections. The generator verifies every answer; a mismatch, a dropped connection, a server that died or
# did not get ready shows FAIL and makes the script exit 1. Raw lines and tables go to build/bench/results/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

WORKERS=2
GEN_THREADS=1
DURATION=""
WARMUP=""
ROWS="W13 W14 W15"
PEERS="dtact threads go tokio hyper"
REPS=""
IDLE_CONNS=10000
W13_CONNS="100 1000"
QUICK=0
BUILD=1
BASE_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --workers) WORKERS=$2; shift ;;
        --gen-threads) GEN_THREADS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --rows) ROWS=${2//,/ }; shift ;;
        --peers) PEERS=${2//,/ }; shift ;;
        --reps) REPS=$2; shift ;;
        --idle-conns) IDLE_CONNS=$2; shift ;;
        --w13-conns) W13_CONNS=${2//,/ }; shift ;;
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --base) BASE_DIR=$(cd "$2" && pwd) || exit 2; shift ;;
        -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
        *) echo "bench-io.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$BASE_DIR" ] && [[ " $PEERS " != *" base "* ]]; then
    PEERS=$(sed 's/\bdtact\b/dtact base/' <<<"$PEERS")
    [[ " $PEERS " == *" base "* ]] || PEERS="base $PEERS"
fi
for r in $ROWS; do
    case $r in W13|W14|W15) ;; *) echo "bench-io.sh: unknown row $r" >&2; exit 2 ;; esac
done
for p in $PEERS; do
    case $p in dtact|base|threads|go|tokio|hyper) ;; *) echo "bench-io.sh: unknown runtime $p" >&2; exit 2 ;; esac
done
if [ "$QUICK" = 1 ]; then
    : "${DURATION:=2}" "${WARMUP:=0.5}" "${REPS:=1}"
else
    : "${DURATION:=5}" "${WARMUP:=1}" "${REPS:=3}"
fi

log() { echo "[bench-io] $*" >&2; }

BUILD_DIR=$ROOT/build/bench
PEER_DIR=$ROOT/build/peers
RES_DIR=$BUILD_DIR/results
mkdir -p "$BUILD_DIR" "$PEER_DIR" "$RES_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RES_DIR/io-raw-W$WORKERS-$STAMP.log
TABLE=$RES_DIR/io-table-W$WORKERS-$STAMP.md
VALS=$(mktemp -d)
SRV_PID=""
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
    rm -rf "$VALS"
}
trap cleanup EXIT

LOADGEN=$BUILD_DIR/loadgen
THREADS_BIN=$BUILD_DIR/io_thread_server
GO_BIN=$PEER_DIR/io-go
TOKIO_BIN=$PEER_DIR/tokio-net-target/release/io-tokio
HYPER_BIN=$PEER_DIR/tokio-net-target/release/io-hyper
DTACT_ECHO=$BUILD_DIR/dtact_echo_server
DTACT_IDLE=$BUILD_DIR/dtact_idle_server
DTACT_HTTP=$BUILD_DIR/dtact_http_server

# ------------------------------------------------------------------------------------------- build

apt_install() { # packages...: installs what is missing, as root only
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "apt-get install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }
    else
        log "missing packages: ${missing[*]} (not root: not installed)"
        return 1
    fi
}

. "$ROOT/scripts/bench-lib.sh" # newer_src

build_c() { # binary source
    newer_src "$1" "$2" || return 0
    log "building ${1#$ROOT/}"
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -pthread -o "$1" "$2" || { log "${2#$ROOT/}: build failed"; rm -f "$1"; return 1; }
}

build_go() {
    newer_src "$GO_BIN" benches/peers/go-net/main.go benches/peers/go-net/go.mod || return 0
    command -v go >/dev/null || apt_install golang-go || return 1
    log "building ${GO_BIN#$ROOT/}"
    (cd benches/peers/go-net && CGO_ENABLED=0 go build -trimpath -o "$GO_BIN" .) || { log "Go build failed"; return 1; }
}

cargo_offline() { # crate-dir
    cargo build -q --release --offline --locked --manifest-path "$1/Cargo.toml" \
        --target-dir "$PEER_DIR/tokio-net-target" \
        --config 'source.crates-io.replace-with="debian-packages"' \
        --config 'source.debian-packages.directory="/usr/share/cargo/registry"'
}

build_tokio() {
    newer_src "$TOKIO_BIN" benches/peers/tokio-net/src/main.rs benches/peers/tokio-net/Cargo.toml || return 0
    ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1 || apt_install librust-tokio-dev || return 1
    command -v cargo >/dev/null || apt_install cargo || return 1
    log "building ${TOKIO_BIN#$ROOT/}"
    cargo_offline benches/peers/tokio-net || { log "tokio build failed"; return 1; }
}

build_dtact() { # the examples as the benchmark servers; cmake rebuilds only what changed
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_EXAMPLES=OFF \
        >"$BUILD_DIR/io-configure.log" 2>&1 || { log "Dtact: cmake failed (build/bench/io-configure.log)"; return 1; }
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target dtact_echo_server dtact_idle_server dtact_http_server \
        >"$BUILD_DIR/io-build.log" 2>&1 ||
        { log "Dtact: the servers failed to build (build/bench/io-build.log)"; rm -f "$DTACT_ECHO" "$DTACT_IDLE" "$DTACT_HTTP"; return 1; }
}

build_hyper() {
    newer_src "$HYPER_BIN" benches/peers/hyper-net/src/main.rs benches/peers/hyper-net/Cargo.toml || return 0
    ls -d /usr/share/cargo/registry/hyper-0.14.* >/dev/null 2>&1 || apt_install librust-hyper-dev || return 1
    command -v cargo >/dev/null || apt_install cargo || return 1
    log "building ${HYPER_BIN#$ROOT/}"
    cargo_offline benches/peers/hyper-net || { log "hyper build failed"; return 1; }
}

if [ "$BUILD" = 1 ]; then
    build_c "$LOADGEN" benches/loadgen/loadgen.c
    for p in $PEERS; do
        case $p in
            dtact) build_dtact ;;
            threads) build_c "$THREADS_BIN" benches/loadgen/thread_server.c ;;
            go) build_go ;;
            tokio) build_tokio ;;
            hyper) [[ " $ROWS " == *" W15 "* ]] && build_hyper ;;
        esac
    done
fi
[ -x "$LOADGEN" ] || { log "no load generator (${LOADGEN#$ROOT/})"; exit 1; }

declare -A HAVE
for p in $PEERS; do
    case $p in
        dtact) [ -x "$DTACT_ECHO" ] || [ -x "$DTACT_IDLE" ] || [ -x "$DTACT_HTTP" ] && HAVE[dtact]=1 ;;
        base) [ -n "$BASE_DIR" ] && HAVE[base]=1 ;;
        threads) [ -x "$THREADS_BIN" ] && HAVE[threads]=1 ;;
        go) [ -x "$GO_BIN" ] && HAVE[go]=1 ;;
        tokio) [ -x "$TOKIO_BIN" ] && HAVE[tokio]=1 ;;
        hyper) [ -x "$HYPER_BIN" ] && HAVE[hyper]=1 ;;
    esac
    [ -n "${HAVE[$p]:-}" ] || log "$p: no binary: its column says not built"
done

# ------------------------------------------------------------------------------------------- run

# the server command for (runtime, mode) without PORT W, or nothing when that runtime has none
server_cmd() {
    local p=$1 mode=$2 b
    case $p in
        dtact)
            case $mode in echo) b=$DTACT_ECHO ;; idle) b=$DTACT_IDLE ;; http) b=$DTACT_HTTP ;; esac
            [ -x "$b" ] && echo "$b" ;;
        base) b=$BASE_DIR/dtact_${mode}_server
            [ -x "$b" ] && echo "$b" ;;
        threads) echo "$THREADS_BIN $mode" ;;
        go) echo "$GO_BIN $mode" ;;
        tokio) echo "$TOKIO_BIN $mode" ;;
        hyper) [ "$mode" = http ] && echo "$HYPER_BIN http" ;;
    esac
}

used_ports() { # local ports of every TCP socket (any state)
    awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u
}

free_port() { # a loopback port below the ephemeral range that no socket uses
    local used p i
    used=" $(used_ports | tr '\n' ' ') "
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ $used == *" $p "* ]] || { echo $p; return 0; }
    done
    return 1
}

stop_server() {
    [ -n "$SRV_PID" ] || return 0
    kill "$SRV_PID" 2>/dev/null
    local i
    for ((i = 0; i < 40; i++)); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=""
}

# start_server CMD: sets SRV_PID and PORT, returns 1 if the server did not print ready within 15 s
start_server() {
    local cmd=$1 _try i out
    out=$VALS/server.out
    for _try in 1 2 3; do
        PORT=$(free_port) || return 1
        : >"$out"
        # the servers hold 10k+ sockets in W14: give them the hard limit
        (ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec $cmd "$PORT" "$WORKERS") >"$out" 2>&1 &
        SRV_PID=$!
        for ((i = 0; i < 300; i++)); do
            grep -q '^ready' "$out" && return 0
            kill -0 "$SRV_PID" 2>/dev/null || break
            sleep 0.05
        done
        log "server did not get ready on port $PORT: $(head -c 300 "$out")"
        stop_server
    done
    return 1
}

# record KEY RUNTIME RC OUTPUT: appends the values of the result line to $VALS/<KEY>.<runtime>.<field>
record() {
    local key=$1 p=$2 rc=$3 out=$4 line f
    if [ "$rc" -ne 0 ] || ! grep -q ' errors=' <<<"$out"; then
        [ "$rc" -eq 124 ] && echo TIMEOUT >>"$VALS/$key.$p.status" || echo FAIL >>"$VALS/$key.$p.status"
        FAILED=1
        log "$p $key failed (rc=$rc): $(grep -m1 -i 'check failed\|error\|refused\|not get ready' <<<"$out")"
        return
    fi
    line=$(grep -m1 ' errors=' <<<"$out")
    for f in rps p50_us p99_us server_cpu_us_per_req server_cpu_s bytes_per_conn rss_after_kb connect_s; do
        sed -n "s/.* $f=\([0-9.eE+-]*\).*/\1/p" <<<"$line" >>"$VALS/$key.$p.$f"
    done
}

run_cell() { # key runtime mode conns
    local key=$1 p=$2 mode=$3 conns=$4 cmd out rc gen srvdead=0
    cmd=$(server_cmd "$p" "$mode")
    [ -n "$cmd" ] || return 0
    if ! start_server "$cmd"; then
        { echo "# $key $p: $cmd (did not get ready)"; } >>"$RAW"
        record "$key" "$p" 1 "server did not get ready" ""
        return
    fi
    local labels=("peer=$p" "workload=${key%%-*}" "workers=$WORKERS")
    if [ "$mode" = idle ]; then
        gen=("$LOADGEN" idle "127.0.0.1:$PORT" "conns=$conns" "threads=$GEN_THREADS" hold=1 "server_pid=$SRV_PID" "${labels[@]}")
        out=$(timeout 180 "${gen[@]}" 2>&1)
    else
        gen=("$LOADGEN" "$mode" "127.0.0.1:$PORT" "conns=$conns" "threads=$GEN_THREADS" "duration=$DURATION" "warmup=$WARMUP"
            "server_pid=$SRV_PID" "${labels[@]}")
        out=$(timeout "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 60 }')" "${gen[@]}" 2>&1)
    fi
    rc=$?
    kill -0 "$SRV_PID" 2>/dev/null || srvdead=1
    stop_server
    if [ "$srvdead" = 1 ]; then
        out="$out"$'\n'"server died: $(tail -c 300 "$VALS/server.out")"
        [ "$rc" -eq 0 ] && rc=1
    fi
    { echo "# $key $p: $cmd $PORT $WORKERS | ${gen[*]} (rc=$rc)"; echo "$out"; } >>"$RAW"
    record "$key" "$p" "$rc" "$out"
}

# cells: key mode conns
CELLS=()
for row in $ROWS; do
    case $row in
        W13) for c in $W13_CONNS; do CELLS+=("W13-$c echo $c"); done ;;
        W14) CELLS+=("W14 idle $IDLE_CONNS") ;;
        W15) CELLS+=("W15 http 100") ;;
    esac
done

FAILED=0
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "W=$WORKERS, generator threads $GEN_THREADS, ${DURATION} s after ${WARMUP} s warm-up, reps $REPS; rows: $ROWS;" \
    "runtimes: $PEERS; raw lines: ${RAW#$ROOT/}"
for ((rep = 1; rep <= REPS; rep++)); do
    for cell in "${CELLS[@]}"; do
        read -r key mode conns <<<"$cell"
        for p in $PEERS; do
            [ -n "${HAVE[$p]:-}" ] || continue
            run_cell "$key" "$p" "$mode" "$conns"
        done
    done
    log "repetition $rep/$REPS done ($(($(date +%s) - START)) s)"
done

# ------------------------------------------------------------------------------------------- tables

median() { sort -g "$1" | awk '{v[NR] = $1} END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt() { awk -v x="$1" 'BEGIN { if (x >= 100) printf "%.0f", x; else if (x >= 10) printf "%.1f", x; else printf "%.2f", x }'; }

cell_text() { # key mode runtime field scale
    local key=$1 mode=$2 p=$3 f=$4 scale=$5 file st
    file="$VALS/$key.$p.$f"
    st="$VALS/$key.$p.status"
    if [ -z "${HAVE[$p]:-}" ]; then echo "not built"; return; fi
    if [ -z "$(server_cmd "$p" "$mode")" ]; then echo "-"; return; fi
    if [ -s "$file" ]; then
        local m lo hi t
        m=$(awk -v x="$(median "$file")" -v s="$scale" 'BEGIN { print x / s }')
        lo=$(sort -g "$file" | head -1 | awk -v s="$scale" '{ print $1 / s }')
        hi=$(sort -g "$file" | tail -1 | awk -v s="$scale" '{ print $1 / s }')
        t=$(fmt "$m")
        [ "$(wc -l <"$file")" -gt 1 ] && t="$t ($(fmt "$lo")-$(fmt "$hi"))"
        [ -s "$st" ] && t="$t ($(sort -u "$st" | tr '\n' ' ' | sed 's/ $//') in some runs)"
        echo "$t"
    elif [ -s "$st" ]; then
        sort -u "$st" | tr '\n' ' ' | sed 's/ $//'
    else
        echo "n/a"
    fi
}

table() { # key mode title metric-lines ("field|label|scale")...
    local key=$1 mode=$2 title=$3 hdr sep line spec f label scale p
    shift 3
    echo "#### $title"
    echo
    hdr="| metric |"
    sep="|---|"
    for p in $PEERS; do hdr="$hdr $p |"; sep="$sep---:|"; done
    echo "$hdr"
    echo "$sep"
    for spec in "$@"; do
        IFS='|' read -r f label scale <<<"$spec"
        line="| $label |"
        for p in $PEERS; do line="$line $(cell_text "$key" "$mode" "$p" "$f" "$scale") |"; done
        echo "$line"
    done
    echo
}

{
    echo "### I/O workloads, W = $WORKERS ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r))"
    echo
    echo "Load average (1/5/15 min) before the run: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Median (min-max) of $REPS runs per cell (separate server processes, interleaved across the columns). Generator:"
    echo "build/bench/loadgen with $GEN_THREADS thread(s), closed loop (one request in flight per connection), on the"
    echo "same machine as the server; W13/W15: ${DURATION} s measured after ${WARMUP} s warm-up. Columns: dtact"
    echo "(build/bench/dtact_*_server), threads (thread per connection, blocking sockets), go (goroutine per"
    echo "connection; W15 net/http), tokio (task per connection; W15 a hand-written HTTP/1.1 loop), hyper (W15 only:"
    echo "hyper 0.14 on tokio)."
    echo
    for cell in "${CELLS[@]}"; do
        read -r key mode conns <<<"$cell"
        case $key in
            W13-*) table "$key" "$mode" "W13 echo, $conns connections, 64-byte requests" \
                "rps|requests/s|1" "p50_us|p50 latency (us)|1" "p99_us|p99 latency (us)|1" \
                "server_cpu_us_per_req|server CPU per request (us)|1" "server_cpu_s|server CPU used (cores)|$DURATION" ;;
            W14) table "$key" "$mode" "W14 idle connections, $conns connections" \
                "bytes_per_conn|bytes/connection|1" "rss_after_kb|server RSS with all open (MiB)|1024" \
                "connect_s|open + confirm all (s)|1" ;;
            W15) table "$key" "$mode" "W15 HTTP/1.1 keep-alive, $conns connections, 13-byte body" \
                "rps|requests/s|1" "p50_us|p50 latency (us)|1" "p99_us|p99 latency (us)|1" \
                "server_cpu_us_per_req|server CPU per request (us)|1" "server_cpu_s|server CPU used (cores)|$DURATION" ;;
        esac
    done
} | tee "$TABLE"
log "table: ${TABLE#$ROOT/}; total $(($(date +%s) - START)) s"
exit $FAILED
