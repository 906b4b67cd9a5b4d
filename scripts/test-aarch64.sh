#!/usr/bin/env bash
# scripts/test-aarch64.sh -- cross-build EVERY C test program (tests/*.c) for
# aarch64 and run each under qemu-aarch64-static. Exits non-zero if anything
# fails.
#
#   scripts/test-aarch64.sh [build-dir]      (default: build-aarch64/)
#
# Needs gcc-aarch64-linux-gnu and qemu-user-static. Criterion: Debian's
# libcriterion-dev is not Multi-Arch: same, so installing libcriterion-dev:arm64
# would REMOVE the amd64 one; the cross build therefore compiles the tests
# against the header-only shim in tests/crit_shim/ (same Test()/TestSuite()/
# cr_assert* API, fork per test, .signal/.timeout, closing "N passed, N failed"
# line). The shim defines main(), so CRITERION_LIB only needs to name some
# existing library: we point it at the target's libm.
#
# The programs run JOBS at a time (each one's tests one after another, as
# ctest --jobs 1 does natively); each program's output is printed in one piece
# when it ends, with its time.
#
# A test that cannot work under qemu-user is skipped through the shim's
# DTACT_TEST_SKIP list, and only from the SKIPS table below, which states why;
# the script prints every skip and its reason.
#
# Environment: DTACT_TEST_SCALE (stress-size scale, see tests/test_scale.h;
# default 0.1 here, a tenth, because qemu runs user code 10-50x slower),
# JOBS (build and run parallelism, default: nproc), TIMEOUT (seconds per
# program, default 600), DTACT_STRESS_ALARM (default 120 here, see below).
set -euo pipefail
ulimit -c 0 2>/dev/null || true   # the death tests abort on purpose: no core files

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build-aarch64"}
sysroot=/usr/aarch64-linux-gnu
jobs=${JOBS:-$(nproc)}
export TIMEOUT=${TIMEOUT:-600}

# program   suite::test   reason (one line each; keep it short and true)
SKIPS=(
  "test_arena_rss|arena_rss::create_100k_fibers_256k_stacks_under_16_mib|VmRSS in /proc/self/status is the host qemu process's: qemu-user's own bookkeeping for the 25 GiB guest reservation (about 150 MiB for a bare PROT_NONE mapping, 1.3 GiB with the guard pages) swamps the 16 MiB bound"
  "test_hostile_regressions|hostile::a_small_runtime_fits_under_a_4_gib_address_space_limit|RLIMIT_AS limits the host qemu process, which reserves the guest's address space itself: a guest mmap is not refused the way the limit refuses it natively"
)

for tool in aarch64-linux-gnu-gcc qemu-aarch64-static cmake; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test-aarch64: missing $tool" >&2; exit 2; }
done

tests=()
for src in "$root"/tests/*.c; do
  # fault_injection.c is a program only in builds with -DDTACT_FAULT_INJECTION=ON (CMakeLists.txt)
  [ "$(basename "$src")" = fault_injection.c ] && continue
  tests+=("test_$(basename "$src" .c)")
done

mkdir -p "$build"   # the configure log goes inside it, with the rest of the build
cmake -S "$root" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDTACT_BUILD_TESTS=ON -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF \
  -DCRITERION_LIB="$sysroot/lib/libm.so" \
  -DCMAKE_C_FLAGS="-isystem $root/tests/crit_shim" >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; echo "test-aarch64: configure failed" >&2; exit 1; }

t0=$(date +%s)
cmake --build "$build" -j "$jobs" --target "${tests[@]}" >"$build/build.log" 2>&1 \
  || { cat "$build/build.log" >&2; echo "test-aarch64: build failed" >&2; exit 1; }
echo "test-aarch64: built ${#tests[@]} test programs in $(($(date +%s) - t0)) s"

skip_for() { # program -> its DTACT_TEST_SKIP list
  local e out=""
  for e in "${SKIPS[@]}"; do
    [ "${e%%|*}" = "$1" ] && { e=${e#*|}; out="$out ${e%%|*}"; }
  done
  echo "$out"
}
for e in "${SKIPS[@]}"; do
  p=${e%%|*}; r=${e#*|}; n=${r%%|*}; r=${r#*|}
  echo "test-aarch64: SKIP $n ($p): $r"
done

export DTACT_TEST_SCALE="${DTACT_TEST_SCALE:-0.1}"
# The stress programs' no-progress alarm (tests/stress_random.c, 20 s natively):
# qemu-user 7.2 (bookworm) maps PROT_NONE address space in O(pages), so the first
# spawn of a 1 MiB or larger stack class, which reserves 64 GiB, takes 3 s on a
# quiet machine and 15-17 s under the load of two programs at a time.
export DTACT_STRESS_ALARM="${DTACT_STRESS_ALARM:-120}"
logs="$build/logs"
rm -rf "$logs"
mkdir -p "$logs"

# One program: runs it, writes its output to logs/<t>.log and its status and
# time to logs/<t>.rc, then prints the log.
run_one() {
  local t=$1 skip=$2 s rc=0
  s=$(date +%s)
  DTACT_TEST_SKIP="$skip" timeout "$TIMEOUT" qemu-aarch64-static -L "$sysroot" "$build/$t" --jobs 1 \
    >"$logs/$t.log" 2>&1 </dev/null || rc=$?
  echo "$rc $(($(date +%s) - s))" >"$logs/$t.rc"
  { echo "== $t (qemu-aarch64-static): rc $rc, $(($(date +%s) - s)) s"; cat "$logs/$t.log"; } | sed 's/^/  /;1s/^  //'
}
export -f run_one
export build logs sysroot

t0=$(date +%s)
for t in "${tests[@]}"; do printf '%s\t%s\n' "$t" "$(skip_for "$t")"; done |
  xargs -P "$jobs" -d '\n' -n 1 bash -c 'IFS=$(printf "\t") read -r t s <<<"$1"; run_one "$t" "$s"' _ || true

pass=0 fail=0 tpass=0 tfail=0 tskip=0 failed=()
for t in "${tests[@]}"; do
  rc=1
  [ -f "$logs/$t.rc" ] && read -r rc _ <"$logs/$t.rc"
  # shim summary line: "N passed, N failed[, N skipped]"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logs/$t.log" 2>/dev/null | tail -1 || true)
  if [ -n "$line" ]; then
    read -r p _ f _ k _ <<<"${line//,/}"
    tpass=$((tpass + p)); tfail=$((tfail + f)); tskip=$((tskip + ${k:-0}))
  fi
  if [ "$rc" = 0 ] && [ -n "$line" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$t(rc $rc)"); fi
done
echo "test-aarch64: $pass programs passed, $fail failed; tests: $tpass passed, $tfail failed, $tskip skipped (scale $DTACT_TEST_SCALE, $jobs at a time, $(($(date +%s) - t0)) s)"
[ "$fail" -eq 0 ] || { echo "test-aarch64: FAILED: ${failed[*]}" >&2; exit 1; }
