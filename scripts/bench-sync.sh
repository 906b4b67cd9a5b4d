#!/usr/bin/env bash
# scripts/bench-sync.sh -- Dtact beside Go, tokio and Boost.Fiber on the synchronisation and timer workloads
# (docs/benchmarks.md, "Synchronisation and timers"): W7 / W7b / W7c pingpong (wake primitive, channel,
# event), W10 mutex, W11 channel, W12 timers. One run, one machine, one markdown table of medians.
#
# usage: scripts/bench-sync.sh [--reps R] [--w12-reps R] [--workers W] [--rows LIST] [--peers LIST] [--quick]
#                              [--mintime S] [--timeout S] [--no-build]
#   --reps R      separate processes per cell (default 5); the table shows their median and min-max
#   --w12-reps R  processes per W12 cell (default 1: one run is 5 rounds x 100k sleeps, 500k samples, and
#                 takes 5-70 s depending on the runtime; --quick: 3)
#   --workers W   worker threads of every runtime (default 2)
#   --rows LIST   subset of W7,W7b,W7c,W10,W11,W12 (default all)
#   --peers LIST  subset of dtact,go,tokio,boost.fiber (default all)
#   --quick       smoke run: n / 10 (W12: 10k sleepers, 2 rounds), reps 3 unless --reps, mintime 0.05
#   --mintime S   minimum seconds of a timed measurement (default 0.25)
#   --timeout S   kill one run after S seconds (default 300); the cell shows TIMEOUT
#   --no-build    use the binaries already built
#   --table-from RAW  only print the table of an earlier run's raw log (build/bench/results/sync-raw-*.log)
# Sizes (per WORKLOADS.md): W7* 100k round trips per pair, pairs = W; W10 1M lock/unlock pairs by 4 x W
# tasks; W11 10M messages through capacity 1024; W12 100k sleepers x 5 rounds.
#
# Builds (only what is missing or older than its sources; nothing is written into the source tree):
#   Dtact   cmake -DCMAKE_BUILD_TYPE=Release into build/bench: bench_dtact_peer (W7: dtact_park/unpark),
#           bench_sync_bench (W7b, W7c, W10, W11; CMake builds it only once the core has the mutex, event
#           and channel) and bench_timer_bench (W12; once it has dtact_sleep_until); cells of a program
#           not built show n/a
#   Go      go build -o build/peers/sync-go            (benches/peers/go; golang-go)
#   tokio   cargo build --release --offline --locked --target-dir build/peers/tokio-target against Debian's
#           crates in /usr/share/cargo/registry, set with --config flags (librust-tokio-dev)
#   Boost   g++ -O2 into build/peers/sync-fiber         (benches/peers/boost; libboost-fiber-dev)
# Missing Debian packages are installed with apt-get when run as root. A runtime that cannot be built is
# left out (its column says so).
#
# Method: every cell is R separate processes, each with its own warm-up and one timed measurement
# (reps=1 mintime=S); runs are interleaved: repetition 1 of every row and runtime, then repetition 2, ...,
# so that a noisy phase of a shared machine hits all columns alike. A failed result check or crash shows
# FAIL and makes the script exit 1. Raw lines and the table go to build/bench/results/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

REPS=""
REPS_W12=""
WORKERS=2
ROWS="W7 W7b W7c W10 W11 W12"
PEERS="dtact go tokio boost.fiber"
QUICK=0
MINTIME=""
TMO=300
BUILD=1
FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --w12-reps) REPS_W12=$2; shift ;;
        --rows) ROWS=${2//,/ }; shift ;;
        --peers) PEERS=${2//,/ }; shift ;;
        --quick) QUICK=1 ;;
        --mintime) MINTIME=$2; shift ;;
        --timeout) TMO=$2; shift ;;
        --no-build) BUILD=0 ;;
        --table-from) FROM=$2; shift ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) echo "bench-sync.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for r in $ROWS; do
    case $r in W7|W7b|W7c|W10|W11|W12) ;; *) echo "bench-sync.sh: unknown row $r" >&2; exit 2 ;; esac
done
for p in $PEERS; do
    case $p in dtact|go|tokio|boost.fiber) ;; *) echo "bench-sync.sh: unknown runtime $p" >&2; exit 2 ;; esac
done

if [ "$QUICK" = 1 ]; then
    N_W7=10000 N_W10=100000 N_W11=1000000 N_W12=10000 ROUNDS=2
    : "${REPS:=3}" "${MINTIME:=0.05}" "${REPS_W12:=3}"
else
    N_W7=100000 N_W10=1000000 N_W11=10000000 N_W12=100000 ROUNDS=5
    : "${REPS:=5}" "${MINTIME:=0.25}" "${REPS_W12:=1}"
fi
REPS_ALL=$((REPS > REPS_W12 ? REPS : REPS_W12))

log() { echo "[bench-sync] $*" >&2; }

BUILD_DIR=$ROOT/build/bench
PEER_DIR=$ROOT/build/peers
RES_DIR=$BUILD_DIR/results
mkdir -p "$PEER_DIR" "$RES_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RES_DIR/sync-raw-W$WORKERS-$STAMP.log
TABLE=$RES_DIR/sync-table-W$WORKERS-$STAMP.md
VALS=$(mktemp -d)
trap 'rm -rf "$VALS"' EXIT

DTACT_PEER=$BUILD_DIR/bench_dtact_peer
DTACT_SYNC=$BUILD_DIR/bench_sync_bench
DTACT_TIMER=$BUILD_DIR/bench_timer_bench
GO_BIN=$PEER_DIR/sync-go
TOKIO_BIN=$PEER_DIR/tokio-target/release/sync-tokio
FIBER_BIN=$PEER_DIR/sync-fiber

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

build_dtact() {
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_EXAMPLES=OFF \
        >"$BUILD_DIR/sync-configure.log" 2>&1 || { log "Dtact: cmake failed (build/bench/sync-configure.log)"; return 1; }
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench_dtact_peer >"$BUILD_DIR/sync-build.log" 2>&1 ||
        { log "Dtact: bench_dtact_peer failed to build (build/bench/sync-build.log)"; return 1; }
    local t
    for t in sync_bench timer_bench; do
        if grep -q "bench_$t not built" "$BUILD_DIR/sync-configure.log"; then
            log "Dtact: $(grep -o "bench_$t not built.*" "$BUILD_DIR/sync-configure.log"): its cells show n/a"
            rm -f "$BUILD_DIR/bench_$t"
            continue
        fi
        cmake --build "$BUILD_DIR" -j"$(nproc)" --target "bench_$t" >>"$BUILD_DIR/sync-build.log" 2>&1 ||
            { log "Dtact: bench_$t failed to build (build/bench/sync-build.log)"; rm -f "$BUILD_DIR/bench_$t"; }
    done
    return 0
}

build_go() {
    newer_src "$GO_BIN" benches/peers/go/main.go benches/peers/go/go.mod || return 0
    command -v go >/dev/null || apt_install golang-go || return 1
    log "building $GO_BIN"
    (cd benches/peers/go && CGO_ENABLED=0 go build -trimpath -o "$GO_BIN" .) || { log "Go build failed"; return 1; }
}

build_tokio() {
    newer_src "$TOKIO_BIN" benches/peers/tokio/src/main.rs benches/peers/tokio/Cargo.toml || return 0
    [ -d /usr/share/cargo/registry ] && ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1 ||
        apt_install librust-tokio-dev || return 1
    command -v cargo >/dev/null || apt_install cargo || return 1
    log "building $TOKIO_BIN"
    cargo build -q --release --offline --locked --manifest-path benches/peers/tokio/Cargo.toml \
        --target-dir "$PEER_DIR/tokio-target" \
        --config 'source.crates-io.replace-with="debian-packages"' \
        --config 'source.debian-packages.directory="/usr/share/cargo/registry"' || { log "tokio build failed"; return 1; }
}

build_fiber() {
    newer_src "$FIBER_BIN" benches/peers/boost/sync_fiber.cpp || return 0
    [ -e /usr/include/boost/fiber/all.hpp ] || apt_install g++ libboost-fiber-dev || return 1
    log "building $FIBER_BIN"
    g++ -std=c++17 -O2 -pthread -o "$FIBER_BIN" benches/peers/boost/sync_fiber.cpp -lboost_fiber -lboost_context ||
        { log "Boost.Fiber build failed"; return 1; }
}

declare -A HAVE
for p in $PEERS; do
    [ -n "$FROM" ] && break
    if [ "$BUILD" = 1 ]; then
        case $p in
            dtact) build_dtact ;;
            go) build_go ;;
            tokio) build_tokio ;;
            boost.fiber) build_fiber ;;
        esac
    fi
    case $p in
        dtact) [ -x "$DTACT_PEER" ] && HAVE[dtact]=1 ;;
        go) [ -x "$GO_BIN" ] && HAVE[go]=1 ;;
        tokio) [ -x "$TOKIO_BIN" ] && HAVE[tokio]=1 ;;
        boost.fiber) [ -x "$FIBER_BIN" ] && HAVE[boost.fiber]=1 ;;
    esac
    [ -n "${HAVE[$p]:-}" ] || log "$p: no binary: its column is left empty"
done

# ------------------------------------------------------------------------------------------- run

row_n() {
    case $1 in W7|W7b|W7c) echo $N_W7 ;; W10) echo $N_W10 ;; W11) echo $N_W11 ;; W12) echo $N_W12 ;; esac
}

# prints the command for (runtime, row), or nothing when that runtime has no program for it
cmd_for() {
    local p=$1 row=$2 n
    n=$(row_n "$row")
    local args=("$row" "$n" "$WORKERS" reps=1)
    if [ "$row" = W12 ]; then args+=(rounds=$ROUNDS); else args+=(mintime=$MINTIME); fi
    case $p in
        dtact)
            if [ "$row" = W7 ]; then echo "$DTACT_PEER ${args[*]}"
            elif [ "$row" = W12 ]; then [ -x "$DTACT_TIMER" ] && echo "$DTACT_TIMER ${args[*]}"
            elif [ -x "$DTACT_SYNC" ]; then echo "$DTACT_SYNC ${args[*]}"; fi ;;
        go) echo "$GO_BIN ${args[*]}" ;;
        tokio) echo "$TOKIO_BIN ${args[*]}" ;;
        boost.fiber) echo "$FIBER_BIN ${args[*]}" ;;
    esac
}

# record RUNTIME ROW RC OUTPUT REP: files $VALS/<row>.<runtime> (ns_per_op; W12: W12-<p50_us|p99_us|cpu_s>)
# and $VALS/<row>.<runtime>.status (FAIL, TIMEOUT)
record() {
    local p=$1 row=$2 rc=$3 out=$4 rep=$5 line f
    if [ "$rc" -eq 124 ]; then
        echo TIMEOUT >>"$VALS/$row.$p.status"; FAILED=1; return
    elif [ "$rc" -ne 0 ] || ! grep -q "workload=$row " <<<"$out"; then
        echo FAIL >>"$VALS/$row.$p.status"; FAILED=1
        log "$p $row run $rep failed (rc=$rc): $(grep -m1 -i 'check failed\|error\|abort' <<<"$out")"
        return
    fi
    line=$(grep -m1 "workload=$row " <<<"$out")
    if [ "$row" = W12 ]; then
        for f in p50_us p99_us cpu_s; do
            sed -n "s/.* $f=\([0-9.eE+-]*\).*/\1/p" <<<"$line" >>"$VALS/W12-$f.$p"
        done
    else
        sed -n 's/.* ns_per_op=\([0-9.eE+-]*\).*/\1/p' <<<"$line" >>"$VALS/$row.$p"
    fi
}

# --table-from RAW: the table of an earlier run's raw log (blocks "# rep=R RUNTIME: CMD ... (rc=X)" + output)
parse_raw() {
    local hdr="" out="" l
    flush() {
        [ -n "$hdr" ] || return 0
        local rep p row rc
        rep=$(sed -n 's/^# rep=\([0-9]*\) .*/\1/p' <<<"$hdr")
        p=$(sed -n 's/^# rep=[0-9]* \([^:]*\): .*/\1/p' <<<"$hdr")
        row=$(awk '{print $5}' <<<"$hdr")
        rc=$(sed -n 's/.*(rc=\([0-9]*\))$/\1/p' <<<"$hdr")
        HAVE[$p]=1
        record "$p" "$row" "$rc" "$out" "$rep"
    }
    while IFS= read -r l; do
        if [[ $l == "# rep="* ]]; then
            flush
            hdr=$l out=""
        else
            out+="$l"$'\n'
        fi
    done <"$1"
    flush
}

FAILED=0
START=$(date +%s)
if [ -n "$FROM" ]; then
    [ -r "$FROM" ] || { echo "bench-sync.sh: cannot read $FROM" >&2; exit 2; }
    parse_raw "$FROM"
    TABLE=$RES_DIR/sync-table-from-$(basename "$FROM" .log | sed 's/^sync-raw-//').md
else
    log "W=$WORKERS reps=$REPS (W12: $REPS_W12) rows: $ROWS runtimes: $PEERS; raw lines: ${RAW#$ROOT/}"
    for ((rep = 1; rep <= REPS_ALL; rep++)); do
        for row in $ROWS; do
            if [ "$row" = W12 ]; then [ "$rep" -gt "$REPS_W12" ] && continue
            else [ "$rep" -gt "$REPS" ] && continue; fi
            for p in $PEERS; do
                [ -n "${HAVE[$p]:-}" ] || continue
                c=$(cmd_for "$p" "$row")
                [ -n "$c" ] || continue
                out=$(timeout "$TMO" $c 2>&1)
                rc=$?
                { echo "# rep=$rep $p: $c (rc=$rc)"; echo "$out"; } >>"$RAW"
                record "$p" "$row" "$rc" "$out" "$rep"
            done
        done
        log "repetition $rep/$REPS_ALL done ($(($(date +%s) - START)) s)"
    done
fi

# ------------------------------------------------------------------------------------------- table

stat() { # file -> "median min max" (numeric)
    sort -g "$1" | awk '{v[NR] = $1} END {
        if (NR == 0) exit; m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "%s %s %s\n", m, v[1], v[NR] }'
}
fmt() { awk -v x="$1" 'BEGIN { if (x >= 100) printf "%.0f", x; else if (x >= 10) printf "%.1f", x; else printf "%.2f", x }'; }

describe() {
    case $1 in
        W7) echo "W7 pingpong, wake primitive|ns/round-trip" ;;
        W7b) echo "W7b pingpong, channel|ns/round-trip" ;;
        W7c) echo "W7c pingpong, event|ns/round-trip" ;;
        W10) echo "W10 mutex|ns/lock-unlock" ;;
        W11) echo "W11 channel|ns/message" ;;
        W12-p50_us) echo "W12 timers, p50 lateness|us" ;;
        W12-p99_us) echo "W12 timers, p99 lateness|us" ;;
        W12-cpu_s) echo "W12 timers, CPU time|s" ;;
    esac
}

{
    if [ -n "$FROM" ]; then
        echo "### Sync/timer workloads ($(basename "$FROM"))"
    else
        echo "### Sync/timer workloads, W = $WORKERS ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $REPS runs per cell, W12 $REPS_W12)"
    fi
    echo
    echo "Median (min-max) of separate process runs; lower is better everywhere. \`x best\`: the runtime's median over"
    echo "the best peer's (Go, tokio, Boost.Fiber). W7 uses each runtime's lightest wake primitive (Dtact park/unpark,"
    echo "Go unbuffered channels, tokio Notify, Boost unbuffered_channel)."
    echo
    hdr="| workload | unit |"
    sep="|---|---|"
    for p in $PEERS; do hdr="$hdr $p |"; sep="$sep---:|"; done
    [[ " $PEERS " == *" dtact "* ]] && { hdr="$hdr dtact x best |"; sep="$sep---:|"; }
    echo "$hdr"
    echo "$sep"
    keys=()
    for row in $ROWS; do
        if [ "$row" = W12 ]; then keys+=(W12-p50_us W12-p99_us W12-cpu_s); else keys+=("$row"); fi
    done
    for k in "${keys[@]}"; do
        d=$(describe "$k")
        line="| ${d%%|*} | ${d##*|} |"
        best=""
        for p in $PEERS; do
            [ "$p" = dtact ] && continue
            f="$VALS/$k.$p"
            [ -s "$f" ] || continue
            m=$(stat "$f" | cut -d' ' -f1)
            if [ -z "$best" ] || awk -v a="$m" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$m; fi
        done
        for p in $PEERS; do
            f="$VALS/$k.$p"
            sk=${k%%-*}
            st="$VALS/$sk.$p.status"
            if [ -s "$f" ]; then
                read -r m lo hi < <(stat "$f")
                cell="$(fmt "$m") ($(fmt "$lo")-$(fmt "$hi"))"
                if [ -n "$best" ] && [ "$p" != dtact ]; then
                    cell="$cell, $(awk -v a="$m" -v b="$best" 'BEGIN { printf "%.2fx", a / b }')"
                fi
                [ -s "$st" ] && cell="$cell, $(sort -u "$st" | tr '\n' ' ')"
            elif [ -s "$st" ]; then
                cell=$(sort -u "$st" | tr '\n' ' ')
            elif [ -z "${HAVE[$p]:-}" ]; then
                cell="not built"
            else
                cell="n/a"
            fi
            line="$line $cell |"
        done
        if [[ " $PEERS " == *" dtact "* ]]; then
            f="$VALS/$k.dtact"
            if [ -s "$f" ] && [ -n "$best" ]; then
                line="$line $(awk -v a="$(stat "$f" | cut -d' ' -f1)" -v b="$best" 'BEGIN { printf "%.2fx", a / b }') |"
            else
                line="$line - |"
            fi
        fi
        echo "$line"
    done
    echo
    if [ -n "$FROM" ]; then
        echo "From ${FROM#$ROOT/} (sizes and worker count: its command lines). Peers' \`, 1.00x\` marks the best peer."
    else
        echo "Sizes: W7* $N_W7 round trips per pair, $WORKERS pairs; W10 $N_W10 lock/unlock pairs, $((4 * WORKERS)) tasks;"
        echo "W11 $N_W11 messages, capacity 1024; W12 $N_W12 sleepers x $ROUNDS rounds. Peers' \`, 1.00x\` marks the best peer."
    fi
} | tee "$TABLE"
log "table: ${TABLE#$ROOT/}; total $(($(date +%s) - START)) s"
exit $FAILED
