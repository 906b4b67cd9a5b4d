#!/usr/bin/env bash
# scripts/bench-ab.sh -- before/after: runs two builds of benches/dtact_peer.c on the same rows,
# interleaved (A, B, A, B, ...) so that slow phases of a noisy machine hit both alike, and prints one
# markdown table of medians with each side's spread (min..max) and the ratio B/A.
#
# usage: scripts/bench-ab.sh A_BIN B_BIN [--reps R] [--rows LIST] [--workers W] [--mintime S]
#   A_BIN, B_BIN  two bench_dtact_peer binaries (e.g. a build of the base commit and of the change)
#   --reps R      runs per row and side (default 5)
#   --rows LIST   subset of W2,W2w,W3a,W3b,W3c,W4a,W4b,W5a,W5b,W7,W8 (default all)
#   --workers W   worker count (default 2; W2 always runs on 1 worker, as in scripts/bench.sh)
#   --mintime S   minimum seconds of one timed measurement (default 0.25)
# Build a base binary with:  git worktree add /tmp/base REV && cmake -S /tmp/base -B /tmp/base/b \
#   -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/base/b --target bench_dtact_peer
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0"; exit 2; }
A=$1 B=$2
shift 2
REPS=5 ROWS="W2 W2w W3a W3b W3c W4a W4b W5a W5b W7 W8" WORKERS=2 MINTIME=0.25
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --rows) ROWS=${2//,/ }; shift ;;
        --workers) WORKERS=$2; shift ;;
        --mintime) MINTIME=$2; shift ;;
        *) echo "bench-ab.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

spec() { # row -> "WORKLOAD N WORKERS"
    case "$1" in
        W2) echo "W2 5000000 1" ;;   W2w) echo "W2w 100 $WORKERS" ;;
        W3a) echo "W3 1000 $WORKERS" ;; W3b) echo "W3 100000 $WORKERS" ;; W3c) echo "W3 1000000 $WORKERS" ;;
        W4a) echo "W4 100000 $WORKERS" ;; W4b) echo "W4 1000000 $WORKERS" ;;
        W5a) echo "W5 25 $WORKERS" ;; W5b) echo "W5 30 $WORKERS" ;;
        W7) echo "W7 100000 $WORKERS" ;; W8) echo "W8 100000 $WORKERS" ;;
        *) echo "bench-ab.sh: unknown row $1" >&2; exit 2 ;;
    esac
}
one() { # bin spec... -> ns_per_op (or FAIL)
    local out
    out=$("$@" reps=1 mintime="$MINTIME" 2>/dev/null) || { echo FAIL; return; }
    sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p; s/.*bytes_per_task=\([0-9.]*\).*/\1/p' <<<"$out" | tail -n 1
}
stats() { # values... -> "median min max"
    printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f %.2f", m, v[1], v[NR]}'
}

echo "| row | A median | A spread | B median | B spread | B/A |"
echo "|---|---:|---|---:|---|---:|"
for r in $ROWS; do
    s=$(spec "$r")
    a=() b=()
    for ((i = 0; i < REPS; i++)); do
        a+=("$(one "$A" $s)")
        b+=("$(one "$B" $s)")
    done
    if printf '%s\n' "${a[@]}" "${b[@]}" | grep -qv '^[0-9.]\+$'; then
        echo "| $r | FAIL | | | | |"
        continue
    fi
    read -r am amin amax <<<"$(stats "${a[@]}")"
    read -r bm bmin bmax <<<"$(stats "${b[@]}")"
    ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN {printf "%.2f", b / a}')
    echo "| $r | $am | $amin..$amax | $bm | $bmin..$bmax | $ratio |"
done
