#!/bin/sh
# scripts/test-aarch64.sh -- cross-build the switcher tests for aarch64 and run
# them under qemu-aarch64-static. Exits non-zero if anything fails.
#
#   scripts/test-aarch64.sh [build-dir]      (default: build-aarch64/)
#
# Needs gcc-aarch64-linux-gnu and qemu-user-static. Criterion: Debian's
# libcriterion-dev is not Multi-Arch: same, so installing libcriterion-dev:arm64
# would REMOVE the amd64 one; the cross build therefore compiles the tests
# against the header-only shim in tests/crit_shim/ (same Test()/cr_assert*
# API, fork per test, .signal/.timeout, closing "N passed, N failed" line).
# The shim defines main(), so CRITERION_LIB only needs to name some existing
# library: we point it at the target's libm.
#
# Environment: DTACT_TEST_SCALE (stress-size scale, see tests/test_scale.h;
# default 0.1 here, a tenth, because qemu runs user code 10-50x slower),
# JOBS (build parallelism).
set -eu
ulimit -c 0 2>/dev/null || true   # the death tests abort on purpose: no core files

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build-aarch64"}
sysroot=/usr/aarch64-linux-gnu
jobs=${JOBS:-2}

for tool in aarch64-linux-gnu-gcc qemu-aarch64-static cmake; do
    command -v "$tool" >/dev/null 2>&1 || { echo "test-aarch64: missing $tool" >&2; exit 2; }
done

tests=""
for src in "$root"/tests/switch_*.c; do
    tests="$tests test_$(basename "$src" .c)"
done

mkdir -p "$build"   # the configure log goes inside it, with the rest of the build
cmake -S "$root" -B "$build" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDTACT_BUILD_TESTS=ON -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF \
    -DCRITERION_LIB="$sysroot/lib/libm.so" \
    -DCMAKE_C_FLAGS="-isystem $root/tests/crit_shim" >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log" >&2; echo "test-aarch64: configure failed" >&2; exit 1; }

# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $tests

export DTACT_TEST_SCALE="${DTACT_TEST_SCALE:-0.1}"
pass=0
fail=0
for t in $tests; do
    echo "== $t (qemu-aarch64-static)"
    if qemu-aarch64-static -L "$sysroot" "$build/$t" --jobs 1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "test-aarch64: $t FAILED" >&2
    fi
done
echo "test-aarch64: $pass programs passed, $fail failed"
[ "$fail" -eq 0 ]
