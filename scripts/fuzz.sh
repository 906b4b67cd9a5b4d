#!/usr/bin/env bash
# scripts/fuzz.sh -- builds fuzz/api_fuzz (clang, libFuzzer + ASan + UBSan,
# -DDTACT_BUILD_FUZZ=ON in build/fuzz) and fuzzes the C ABI for a fixed time,
# starting from the committed seeds in fuzz/corpus/ (left untouched: new
# inputs go to build/fuzz/corpus). Prints the executions, the corpus size
# (inputs, bytes) and the coverage libFuzzer reached. A failing input is
# written to build/fuzz/artifacts/ and the script exits non-zero; replay it
# with build/fuzz/api_fuzz <file>.
# usage: scripts/fuzz.sh [seconds]   (default 60; FUZZ_JOBS=n for n parallel workers)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
jobs=$(nproc)
cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DDTACT_BUILD_FUZZ=ON \
  -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fuzz -j"$jobs" --target api_fuzz >/dev/null
mkdir -p build/fuzz/corpus build/fuzz/artifacts
log=build/fuzz/fuzz.log
seeds=$(ls fuzz/corpus | wc -l)
echo "api_fuzz: ${secs}s from ${seeds} seeds (fuzz/corpus), working corpus build/fuzz/corpus"
set +e
# -timeout: one input may take at most 10 s (every wait in it is bounded far below);
# LeakSanitizer checks every input that allocated more than it freed.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  build/fuzz/api_fuzz -max_total_time="$secs" -timeout=10 -max_len=512 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ build/fuzz/corpus fuzz/corpus >"$log" 2>&1
rc=$?
set -e
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed 's/^/  /' || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
cov=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\)\/\([0-9a-zA-Z]*\).*/\1 \2 \3 \4/p')
read -r edges features inputs bytes <<<"${cov:-? ? ? ?}"
echo "api_fuzz: ${execs:-?} executions in ${secs}s; corpus ${inputs} distinct inputs (${bytes}); coverage ${edges} edges, ${features} features"
if [ $rc -ne 0 ]; then
  echo "api_fuzz FAILED (exit $rc); the end of $log:" >&2
  tail -60 "$log" >&2
  ls build/fuzz/artifacts >&2 || true
  exit 1
fi
