#!/usr/bin/env bash
# scripts/bench-skew.sh -- load balance under skew: Dtact beside Tokio and Go in one run (docs/benchmarks.md,
# "Load balance under skew"). One markdown table: per runtime the median (min-max) over separate processes of
# each process's median batch ratio makespan / (total work / W), and the median makespan.
#
# usage: scripts/bench-skew.sh [--reps R] [--workers W] [--n N] [--peers LIST] [--rows LIST] [--no-build]
#                              [-- EXTRA...]
#   --reps R      separate processes per runtime and row (default 7), interleaved (run 1 of every runtime,
#                 then run 2, ...) so that a noisy phase of a shared machine hits every column alike
#   --workers W   worker threads of every runtime (default 2)
#   --n N         tasks per batch of SKEW (default 10000)
#   --peers LIST  subset of dtact,dtact-b,tokio,go (default dtact,tokio,go; dtact-b: see DTACT_B)
#   --rows LIST   SKEW (the repo's definition, measured work) and/or W9 (the peerbench's ../shared/bench/peers
#                 definition: 100k tasks, every 100th spins 1 ms by the clock, the others 1 us, ratio against
#                 the nominal work; its Go and Tokio columns need PEER_BIN) (default SKEW)
#   --no-build    use the binaries already built
#   EXTRA         more KEY=VALUE arguments for every SKEW program (batches=, unit=, factor=, every=, seed=)
# Environment: BENCH_BUILD=dir of the Dtact release build (default build/bench); PEER_BIN=dir with the
# peerbench's prebuilt peer-go and peer-tokio (row W9 only); DTACT_B=another bench_dtact_peer (e.g. a build
# of the base commit, for a before/after in the same run): column dtact-b, added to the default runtimes.
#
# Builds (as scripts/bench-sync.sh: only what is missing or older than its sources, offline):
#   Dtact   cmake -DCMAKE_BUILD_TYPE=Release into $BENCH_BUILD, target bench_dtact_peer (benches/dtact_peer.c)
#   Go      go build -o build/peers/sync-go (benches/peers/go)
#   Tokio   cargo build --release --offline against /usr/share/cargo/registry (benches/peers/tokio)
# Every program prints `ratio=` (SKEW: median of its batches, with ratio_min, ratio_max, makespan_ns);
# a failed check or crash shows FAIL and makes the script exit 1. Raw lines go to $BENCH_BUILD/results/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

REPS=7 WORKERS=2 N=10000 PEERS="dtact tokio go" ROWS="SKEW" BUILD=1 EXTRA=()
[ -n "${DTACT_B:-}" ] && PEERS="dtact dtact-b tokio go"
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --n) N=$2; shift ;;
        --peers) PEERS=${2//,/ }; shift ;;
        --rows) ROWS=${2//,/ }; shift ;;
        --no-build) BUILD=0 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "bench-skew.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[bench-skew] $*" >&2; }

BUILD_DIR=${BENCH_BUILD:-$ROOT/build/bench}
PEER_DIR=$ROOT/build/peers
DTACT_BIN=$BUILD_DIR/bench_dtact_peer
GO_BIN=$PEER_DIR/sync-go
TOKIO_BIN=$PEER_DIR/tokio-target/release/sync-tokio
mkdir -p "$BUILD_DIR/results" "$PEER_DIR"

. "$ROOT/scripts/bench-lib.sh" # newer_src

if [ "$BUILD" = 1 ]; then
    for p in $PEERS; do
        case $p in
            dtact)
                cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF >/dev/null &&
                    cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench_dtact_peer >/dev/null ||
                    log "Dtact build failed" ;;
            go)
                if newer_src "$GO_BIN" benches/peers/go/main.go benches/peers/go/go.mod; then
                    (cd benches/peers/go && CGO_ENABLED=0 go build -trimpath -o "$GO_BIN" .) || log "Go build failed"
                fi ;;
            tokio)
                if newer_src "$TOKIO_BIN" benches/peers/tokio/src/main.rs benches/peers/tokio/Cargo.toml; then
                    cargo build -q --release --offline --locked --manifest-path benches/peers/tokio/Cargo.toml \
                        --target-dir "$PEER_DIR/tokio-target" \
                        --config 'source.crates-io.replace-with="debian-packages"' \
                        --config 'source.debian-packages.directory="/usr/share/cargo/registry"' ||
                        log "Tokio build failed"
                fi ;;
            dtact-b) ;;
            *) echo "bench-skew.sh: unknown runtime $p" >&2; exit 2 ;;
        esac
    done
fi

cmd_for() { # runtime row -> command line (empty: not available)
    local p=$1 row=$2
    case $row in
        SKEW)
            case $p in
                dtact) [ -x "$DTACT_BIN" ] && echo "$DTACT_BIN SKEW $N $WORKERS reps=1 ${EXTRA[*]}" ;;
                dtact-b) [ -x "${DTACT_B:-}" ] && echo "$DTACT_B SKEW $N $WORKERS reps=1 ${EXTRA[*]}" ;;
                go) [ -x "$GO_BIN" ] && echo "$GO_BIN SKEW $N $WORKERS reps=1 ${EXTRA[*]}" ;;
                tokio) [ -x "$TOKIO_BIN" ] && echo "$TOKIO_BIN SKEW $N $WORKERS reps=1 ${EXTRA[*]}" ;;
            esac ;;
        W9)
            case $p in
                dtact) [ -x "$DTACT_BIN" ] && echo "$DTACT_BIN W9 100000 $WORKERS reps=1 mintime=0.25" ;;
                dtact-b) [ -x "${DTACT_B:-}" ] && echo "$DTACT_B W9 100000 $WORKERS reps=1 mintime=0.25" ;;
                go|tokio) [ -x "${PEER_BIN:-/nonexistent}/peer-$p" ] &&
                    echo "$PEER_BIN/peer-$p W9 100000 $WORKERS reps=1 mintime=0.25" ;;
            esac ;;
        *) echo "bench-skew.sh: unknown row $row" >&2; exit 2 ;;
    esac
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$BUILD_DIR/results/skew-raw-W$WORKERS-$STAMP.log
VALS=$(mktemp -d)
trap 'rm -rf "$VALS"' EXIT
FAILED=0
log "W=$WORKERS reps=$REPS rows: $ROWS runtimes: $PEERS; raw lines: ${RAW#$ROOT/}"
for ((r = 1; r <= REPS; r++)); do
    for row in $ROWS; do
        for p in $PEERS; do
            c=$(cmd_for "$p" "$row")
            [ -n "$c" ] || continue
            out=$($c 2>&1)
            rc=$?
            { echo "# rep=$r $p: $c (rc=$rc)"; echo "$out"; } >>"$RAW"
            line=$(grep -m1 "workload=$row " <<<"$out")
            v=$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$line")
            if [ $rc -ne 0 ] || [ -z "$v" ]; then
                echo FAIL >"$VALS/$row.$p.fail"
                FAILED=1
                log "$p $row run $r failed (rc=$rc)"
                continue
            fi
            echo "$v" >>"$VALS/$row.$p"
            sed -n 's/.* makespan_ns=\([0-9.]*\).*/\1/p; s/.* makespan_s=\([0-9.]*\).*/\1e9/p' <<<"$line" |
                awk '{printf "%.0f\n", $1}' >>"$VALS/$row.$p.span"
        done
    done
    log "repetition $r/$REPS done"
done

stat() { # file -> "median min max"
    sort -g "$1" | awk '{v[NR] = $1} END { if (NR == 0) exit;
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s\n", m, v[1], v[NR] }'
}

{
    echo "### Load balance under skew, W = $WORKERS ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $REPS processes per cell)"
    echo
    echo "makespan / (total work / W): median (min-max) over processes of each process's median batch; 1.00 is"
    echo "perfect. SKEW: $N tasks${EXTRA[*]:+, ${EXTRA[*]}}; W9: the peerbench's definition (nominal work)."
    echo
    hdr="| row |" sep="|---|"
    for p in $PEERS; do hdr="$hdr $p |"; sep="$sep---:|"; done
    echo "$hdr"
    echo "$sep"
    for row in $ROWS; do
        line="| $row |"
        for p in $PEERS; do
            if [ -s "$VALS/$row.$p" ]; then
                read -r m lo hi < <(stat "$VALS/$row.$p")
                ms=$(stat "$VALS/$row.$p.span" | awk '{printf "%.1f", $1 / 1e6}')
                cell=$(printf '%.3f (%.3f-%.3f), %s ms' "$m" "$lo" "$hi" "$ms")
                [ -e "$VALS/$row.$p.fail" ] && cell="$cell, FAIL"
            elif [ -e "$VALS/$row.$p.fail" ]; then cell=FAIL
            else cell="n/a"; fi
            line="$line $cell |"
        done
        echo "$line"
    done
    echo
    echo "Raw lines: ${RAW#$ROOT/}"
} | tee "$BUILD_DIR/results/skew-table-W$WORKERS-$STAMP.md"
exit $FAILED
