#!/usr/bin/env bash
# scripts/test.sh -- builds Dtact and runs every test: the Criterion suites
# (ctest, with the C++ tests of dtact.hpp) in a normal gcc build, a clang
# AddressSanitizer build and a clang ThreadSanitizer build; the aarch64 switcher
# tests cross-built and run under qemu; the examples; the installed package
# (scripts/test-install.sh); fault injection (tests/fault_injection.c); a 60 s
# libFuzzer run (fuzz/api_fuzz.c); and the Rust crates (scripts/test-rust.sh:
# cargo test, example, cargo package, with Debian's Rust 1.63 and with
# rustup's). Installs what it needs
# on a fresh Debian machine. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

stage() { echo; echo "==== $*"; }

build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DDTACT_BUILD_BENCHES=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
}

stage "core shape: no call cycle, no system call outside the OS layer, no file over 600 lines"
python3 scripts/check-core.py

stage "formatting (.clang-format, clang-format 14)"
scripts/format-check.sh

stage "gcc build + ctest"
build build/gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
ctest --test-dir build/gcc --output-on-failure -j"$jobs"

stage "examples"
build/gcc/example_c_async >/dev/null
build/gcc/example_cpp_pipeline

stage "gcc build with the run-queue checker (DTACT_CHECK_QUEUES) + ctest"
build build/chk -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DDTACT_CHECK_QUEUES=ON -DDTACT_BUILD_BENCHES=OFF
ctest --test-dir build/chk --output-on-failure -j"$jobs"

stage "install to a prefix; consumers via find_package, pkg-config (shared, --static), add_subdirectory"
JOBS=$jobs scripts/test-install.sh build/gcc

stage "clang AddressSanitizer build + ctest"
build build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDTACT_SANITIZE=address -DDTACT_BUILD_BENCHES=OFF
DTACT_TEST_SCALE=10 ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build/asan --output-on-failure -j"$jobs"

stage "clang ThreadSanitizer build + ctest"
# Criterion's runner cannot start under TSan ("Could not initialize inheritable
# arena"), so this build compiles the same tests against the fork-per-test
# shim in tests/crit_shim (same Test()/cr_assert API; it prints "N passed, N failed").
libm=$(cc -print-file-name=libm.so)
build build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDTACT_SANITIZE=thread -DDTACT_BUILD_BENCHES=OFF \
  -DCMAKE_C_FLAGS="-isystem $PWD/tests/crit_shim" -DCRITERION_LIB="$libm"
DTACT_TEST_SCALE=20 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --test-dir build/tsan --output-on-failure -j"$jobs"

stage "fault injection (DTACT_FAULT_INJECTION): every map/reserve/commit/thread/heap failure of init, start and spawn"
cmake -S . -B build/fi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DDTACT_FAULT_INJECTION=ON \
  -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fi -j"$jobs" --target test_fault_injection >/dev/null
build/fi/test_fault_injection --jobs 1
# the same under ASan + LeakSanitizer: the error paths free what they took, and touch nothing freed
cmake -S . -B build/fi-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DDTACT_SANITIZE=address -DDTACT_FAULT_INJECTION=ON \
  -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fi-asan -j"$jobs" --target test_fault_injection >/dev/null
ASAN_OPTIONS=detect_leaks=1 build/fi-asan/test_fault_injection --jobs 1

stage "libFuzzer over the C ABI (fuzz/api_fuzz, ASan + UBSan + LeakSanitizer), 60 s from fuzz/corpus"
scripts/fuzz.sh 60

if [ -x scripts/test-aarch64.sh ]; then
  stage "aarch64 cross build, switcher tests under qemu"
  scripts/test-aarch64.sh
fi

if [ -x scripts/test-rust.sh ]; then
  stage "Rust crates: cargo test, examples, cargo package (Debian's cargo/rustc 1.63, and rustup's)"
  scripts/test-rust.sh
fi
echo
echo "all test stages passed"
