#!/usr/bin/env bash
# scripts/bench.sh -- Dtact beside the peer runtimes (Tokio, Go, Boost.Fiber) on the workloads of
# ../shared/bench/WORKLOADS.md, in the same run on the same machine; one markdown table per worker count.
#
# usage: scripts/bench.sh [--reps R] [--rows LIST] [--peers LIST] [--mintime S] [--timeout S] [--no-build]
#                         [WORKERS ...]
#   WORKERS       worker counts, one table each (default 2)
#   --reps R      separate process runs per cell (default 5); the table shows their median
#   --rows LIST   subset of W2,W2w,W3a,W3b,W3c,W4a,W4b,W4c,W5a,W5b,W7,W8,W9 (default: all but W4c and W9;
#                 W9 = the peerbench's skewed load, makespan / ideal; see also scripts/bench-skew.sh)
#   --peers LIST  subset of dtact,dtact-nofp,dtact-await,base,base-await,tokio,go,boost.fiber
#                 (default dtact,dtact-nofp,tokio,go,boost.fiber); base and base-await run $BASE_BIN (another
#                 build of bench_dtact_peer, e.g. before a change) like dtact and dtact-await, in the same run
#   --spread      cells show "median (min-max)" over the R runs
#   --mintime S   minimum seconds of a timed measurement (default 0.25)
#   --timeout S   kill one run after S seconds (default 600)
#   --no-build    use the existing build/bench and peer binaries
# Environment: PEER_BIN=dir with prebuilt peer-go, peer-tokio, peer-fiber (skips building the peers);
#              BENCH_BUILD=dir for the Dtact release build (default build/bench);
#              BASE_BIN=path of the bench_dtact_peer that the base columns run.
#
# Dtact: cmake -DCMAKE_BUILD_TYPE=Release into build/bench, program bench_dtact_peer (benches/dtact_peer.c).
# Peers: ../shared/bench/peers (relative to the repo root; may be read-only) is copied to build/peers/ (git-
# ignored) and built there with its own `run.sh --build-only` (which apt-get installs golang-go,
# librust-tokio-dev, cargo, libboost-fiber-dev when missing); a cached build/peers/bin is reused.
# Every program gets the same command line `WORKLOAD N WORKERS reps=1 mintime=S`, each cell R separate
# processes, interleaved (run 1 of every runtime, then run 2, ...) so that slow phases of a noisy machine
# hit all columns alike. A failed validation (exit 1, CHECK FAILED) or crash shows FAIL and makes the
# script exit 1. Raw lines go to build/bench/results/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

REPS=5
MINTIME=0.25
TMO=600
BUILD=1
SPREAD=0
ROWS="W2 W2w W3a W3b W3c W4a W4b W5a W5b W7 W8"
PEERS="dtact dtact-nofp tokio go boost.fiber"
WORKERS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --rows) ROWS=${2//,/ }; shift ;;
        --peers) PEERS=${2//,/ }; shift ;;
        --mintime) MINTIME=$2; shift ;;
        --timeout) TMO=$2; shift ;;
        --no-build) BUILD=0 ;;
        --spread) SPREAD=1 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        -*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
        *) WORKERS+=("$1") ;;
    esac
    shift
done
[ ${#WORKERS[@]} -eq 0 ] && WORKERS=(2)

log() { echo "[bench] $*" >&2; }

BUILD_DIR=${BENCH_BUILD:-$ROOT/build/bench}
DTACT_BIN=$BUILD_DIR/bench_dtact_peer
PEERS_SRC=$ROOT/../shared/bench/peers
PEERS_DIR=$ROOT/build/peers

# ------------------------------------------------------------------------------------------- build

build_dtact() {
    local i
    for i in 1 2 3; do   # the core is under concurrent development: retry a failed build
        if cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF >/dev/null &&
            cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench_dtact_peer >/dev/null; then
            return 0
        fi
        log "Dtact build failed (attempt $i); retrying in 60 s"
        sleep 60
    done
    return 1
}

build_peers() {
    if [ -n "${PEER_BIN:-}" ]; then
        PB=$PEER_BIN
        return 0
    fi
    PB=$PEERS_DIR/bin
    if [ -x "$PB/peer-go" ] && [ -x "$PB/peer-tokio" ] && [ -x "$PB/peer-fiber" ]; then
        log "reusing peer binaries in $PB"
        return 0
    fi
    [ $BUILD = 1 ] || { log "no peer binaries in $PB (run without --no-build, or set PEER_BIN)"; return 1; }
    [ -d "$PEERS_SRC" ] || { log "peer sources not found at $PEERS_SRC"; return 1; }
    log "copying $PEERS_SRC to $PEERS_DIR and building the peers"
    mkdir -p "$PEERS_DIR"
    cp -r "$PEERS_SRC"/. "$PEERS_DIR"/ && chmod -R u+w "$PEERS_DIR" || return 1
    (cd "$PEERS_DIR" && ./run.sh --build-only) || return 1
}

if [ $BUILD = 1 ]; then
    log "building Dtact (Release) in $BUILD_DIR"
    build_dtact || { log "Dtact build failed"; exit 1; }
fi
[ -x "$DTACT_BIN" ] || { log "$DTACT_BIN missing"; exit 1; }
case " $PEERS " in
    *" base "*|*" base-await "*) [ -x "${BASE_BIN:-}" ] || { log "the base columns need BASE_BIN (an executable)"; exit 2; } ;;
esac
case " $PEERS " in
    *" tokio "*|*" go "*|*" boost.fiber "*) build_peers || { log "peers unavailable"; exit 1; } ;;
esac

# ------------------------------------------------------------------------------------------- rows

# row id -> "WORKLOAD N|label|size|unit|WMODE" (WMODE 1: one worker whatever WORKERS is); as the peers' run.sh
row_def() {
    case "$1" in
        W2)  echo "W2 5000000|yield|2 tasks x 5M|ns/yield|1" ;;
        W2w) echo "W2w 100|yield|10 tasks x 100|ns/yield|W" ;;
        W3a) echo "W3 1000|spawn_join|1k|ns/task|W" ;;
        W3b) echo "W3 100000|spawn_join|100k|ns/task|W" ;;
        W3c) echo "W3 1000000|spawn_join|1M|ns/task|W" ;;
        W4a) echo "W4 100000|hot_core|100k|ns/task|W" ;;
        W4b) echo "W4 1000000|hot_core|1M|ns/task|W" ;;
        W4c) echo "W4 10000000|hot_core|10M|ns/task|W" ;;
        W5a) echo "W5 25|fib_tree|fib(25), 242785 tasks|ns/task|W" ;;
        W5b) echo "W5 30|fib_tree|fib(30), 2692537 tasks|ns/task|W" ;;
        W7)  echo "W7 100000|pingpong|W pairs x 100k|ns/round-trip|W" ;;
        W8)  echo "W8 100000|memory|100k parked|bytes/task|W" ;;
        W9)  echo "W9 100000|skewed|100k (1% 1 ms, 99% 1 us)|makespan/ideal|W" ;;
    esac
}

peer_cmd() {   # peer row workload n workers -> command line (empty: not applicable)
    local peer=$1 row=$2 wl=$3 n=$4 w=$5
    case "$peer" in
        dtact) echo "$DTACT_BIN $wl $n $w" ;;
        dtact-nofp) echo "$DTACT_BIN $wl $n $w switcher=1" ;;
        dtact-await) case "$wl" in W3|W4) echo "$DTACT_BIN $wl $n $w join=await" ;; esac ;;
        base) echo "${BASE_BIN:?base columns need BASE_BIN} $wl $n $w" ;;
        base-await) case "$wl" in W3|W4) echo "${BASE_BIN:?base columns need BASE_BIN} $wl $n $w join=await" ;; esac ;;
        go|tokio) echo "$PB/peer-$peer $wl $n $w" ;;
        boost.fiber) [ "$row" = W4c ] || echo "$PB/peer-fiber $wl $n $w stackalloc=pool" ;;   # W4c: > 50 GB RSS
    esac
}

fmt_num() {
    awk -v v="$1" 'BEGIN{ a = v < 0 ? -v : v;
        if (a >= 1000) printf "%.0f", v; else if (a >= 100) printf "%.1f", v;
        else if (a >= 10) printf "%.2f", v; else printf "%.3f", v }'
}

# ------------------------------------------------------------------------------------------- run

mkdir -p "$BUILD_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
FAILS=0
for w in "${WORKERS[@]}"; do
    RAW=$BUILD_DIR/results/raw-W$w-$STAMP.log
    : > "$RAW"
    declare -A VALS=() BAD=()
    for row in $ROWS; do
        def=$(row_def "$row")
        [ -n "$def" ] || { log "unknown row $row"; continue; }
        read -r wl n <<<"${def%%|*}"
        wmode=${def##*|}
        ww=$w; [ "$wmode" = 1 ] && ww=1
        key=ns_per_op; [ "$wl" = W8 ] && key=bytes_per_task; [ "$wl" = W9 ] && key=ratio
        for ((r = 1; r <= REPS; r++)); do
            for peer in $PEERS; do
                [ -n "${BAD[$row,$peer]:-}" ] && continue
                cmd=$(peer_cmd "$peer" "$row" "$wl" "$n" "$ww")
                [ -n "$cmd" ] || continue
                echo "# $row $peer run $r: $cmd reps=1 mintime=$MINTIME" >> "$RAW"
                out=$(timeout "$TMO" $cmd reps=1 mintime="$MINTIME" 2>>"$RAW")
                rc=$?
                echo "$out" >> "$RAW"
                v=$(echo "$out" | tr ' ' '\n' | awk -F= -v k="$key" '$1 == k {print $2; exit}')
                if [ $rc -ne 0 ] || [ -z "$v" ]; then
                    echo "# FAILED rc=$rc" >> "$RAW"
                    log "FAIL: W=$w $row $peer run $r (rc=$rc): $cmd"
                    BAD[$row,$peer]=1; FAILS=$((FAILS + 1))
                    continue
                fi
                VALS[$row,$peer]="${VALS[$row,$peer]:-} $v"
                log "W=$w $row $peer run $r: $v"
            done
        done
    done

    # medians, table
    declare -A MED=()
    hdr="| id | workload | size | unit | W |"; sep="|---|---|---|---|---|"
    for peer in $PEERS; do hdr="$hdr $peer |"; sep="$sep---:|"; done
    hdr="$hdr best peer / dtact |"; sep="$sep---:|"
    {
        echo "### Dtact vs peers, workers=$w: median of $REPS process runs (mintime=$MINTIME)"
        echo
        echo "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs; $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
        echo
        echo "$hdr"
        echo "$sep"
        for row in $ROWS; do
            def=$(row_def "$row")
            [ -n "$def" ] || continue
            IFS='|' read -r _ label size unit wmode <<<"$def"
            [ "$wmode" = W ] && wmode=$w
            line="| $row | $label | $size | $unit | $wmode |"
            best=""
            for peer in $PEERS; do
                cell="–"
                if [ -n "${BAD[$row,$peer]:-}" ]; then
                    cell=FAIL
                elif [ -n "${VALS[$row,$peer]:-}" ]; then
                    med=$(printf '%s\n' ${VALS[$row,$peer]} | sort -g | awk '{a[NR]=$1} END{
                        print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
                    MED[$row,$peer]=$med
                    cell=$(fmt_num "$med")
                    if [ $SPREAD = 1 ]; then
                        lo=$(printf '%s\n' ${VALS[$row,$peer]} | sort -g | head -1)
                        hi=$(printf '%s\n' ${VALS[$row,$peer]} | sort -g | tail -1)
                        cell="$cell ($(fmt_num "$lo")-$(fmt_num "$hi"))"
                    fi
                    case "$peer" in
                        dtact*|base*) ;;
                        *) if [ -z "$best" ] || awk -v a="$med" -v b="$best" 'BEGIN{exit !(a < b)}'; then
                               best=$med; bestp=$peer; fi ;;
                    esac
                fi
                line="$line $cell |"
            done
            if [ -n "$best" ] && [ -n "${MED[$row,dtact]:-}" ]; then
                line="$line $(awk -v a="$best" -v b="${MED[$row,dtact]}" 'BEGIN{printf "%.2f", a / b}') ($bestp) |"
            else
                line="$line – |"
            fi
            echo "$line"
        done
        echo
        echo "dtact = bench_dtact_peer (switcher 0, CrossThreadFloat); dtact-nofp = switcher=1 (CrossThreadNoFloat);"
        echo "dtact-await = detached dtact_fiber_launch + dtact_await instead of joinable spawn + join (W3/W4);"
        [ -n "${BASE_BIN:-}" ] && echo "base, base-await = the same with $BASE_BIN;"
        echo "go/tokio/boost.fiber = the peerbench programs (boost.fiber: work_stealing, pooled 16 KiB stacks)."
        echo "Last column: the fastest (lowest) non-Dtact peer's median / dtact's median; > 1 means Dtact is faster."
        echo "Raw lines: $RAW"
    } | tee "$BUILD_DIR/results/table-W$w-$STAMP.md"
    unset VALS BAD MED
done
[ $FAILS -eq 0 ] || { log "$FAILS run(s) failed validation or crashed"; exit 1; }
