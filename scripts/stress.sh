#!/usr/bin/env bash
# scripts/stress.sh SEED [PROGRAMS] [WORKERS] -- the long run of the seeded
# random program generator (tests/stress_random.c).
#
#   SEED      base seed (decimal or 0x hex); program i runs a seed derived
#             from it, so the same SEED runs the same programs again
#   PROGRAMS  how many programs; 0 or absent: run for DTACT_STRESS_SECONDS
#             (default 300 s, i.e. about five minutes)
#   WORKERS   child processes at once (default: the number of CPUs)
#
# Builds a release build in build/release (or DTACT_STRESS_BUILD) if needed,
# then runs the programs; prints progress every 10 s, then programs/second,
# fibers checked and the seed (with a replay command and the program's shape)
# of every failing program. Exits non-zero if any program failed.
# Replay one program: DTACT_STRESS_ONE=<program seed> <build>/test_stress_random
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,15p' "$0"
  exit 2
fi
seed=$1
programs=${2:-0}
workers=${3:-$(nproc)}
dir=${DTACT_STRESS_BUILD:-build/release}
seconds=0
if [ "$programs" = 0 ]; then seconds=${DTACT_STRESS_SECONDS:-300}; fi

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="${CC:-gcc}" \
  -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$dir" -j"${JOBS:-$(nproc)}" --target test_stress_random >/dev/null

what="$programs programs"
if [ "$programs" = 0 ]; then what="programs for $seconds s"; fi
echo "stress: seed $seed, $what, $workers processes, $dir/test_stress_random"
DTACT_STRESS_SEED=$seed DTACT_STRESS_PROGRAMS=$programs DTACT_STRESS_SECONDS=$seconds \
  DTACT_STRESS_WORKERS=$workers exec "$dir/test_stress_random" --jobs 1
