#!/usr/bin/env bash
# scripts/test.sh -- builds Dtact and runs every test: the Criterion suites
# (ctest, with the C++ tests of dtact.hpp) in a normal gcc build, again with
# the run-queue checker on, a clang AddressSanitizer+UndefinedBehaviorSanitizer
# build and a clang ThreadSanitizer build; the whole C suite cross-built for
# aarch64 and run under qemu; the ABI gate (abidiff against abi/); the
# examples; the installed package (scripts/test-install.sh); fault injection
# (tests/fault_injection.c); a 60 s libFuzzer run (fuzz/api_fuzz.c); and the
# Rust crates (scripts/test-rust.sh: cargo test, example, cargo package, with
# Debian's Rust 1.63 and with rustup's; also under ASan when rustup has a
# nightly). Installs what it needs on a fresh Debian machine. Exits non-zero
# on the first failure. Each stage prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

t_start=$(date +%s)
t_stage=$t_start
stage() { # prints the previous stage's time, then the new stage's title
  local now
  now=$(date +%s)
  [ -n "${stage_name:-}" ] && echo "==== ($stage_name: $((now - t_stage)) s)"
  stage_name=$1
  t_stage=$now
  echo; echo "==== $*"
}

# Test counts of a ctest run: Criterion's "Synthesis" lines, or the shim's
# "N passed, N failed[, N skipped]" lines, summed over the programs.
counts() { # build dir
  awk '/Synthesis: Tested:/ { n++; t += $4; p += $7; f += $10 + $13 }
       /^[0-9]+ passed, [0-9]+ failed/ { n++; p += $1; f += $3; t += $1 + $3; k += $5 }
       END { printf "%d programs, %d tests: %d passed, %d failed", n, t, p, f;
             if (k) printf ", %d skipped", k; printf "\n" }' "$1/Testing/Temporary/LastTest.log"
}

# ctest under a sanitizer, with every report written to a file
# (log_path) as well as failing its test: a report from a process whose
# stderr a test captures (tests/child_capture.h), or one in a death test that
# expects an abort, still fails the stage. No suppressions anywhere.
san_ctest() { # build dir, then VAR=value settings for the environment
  local dir=$1 rc=0; shift
  local rep="$PWD/$dir/sanitizer-reports"
  rm -rf "$rep"; mkdir -p "$rep"
  env "${@//@REP@/$rep}" ctest --test-dir "$dir" --output-on-failure -j"$jobs" || rc=$?
  # A report is an error (ASan/LSan "ERROR:", UBSan "runtime error:", TSan
  # "WARNING: ThreadSanitizer:"); the runtimes' notes ("Running thread ... was
  # not suspended" after a fork, "ignoring requested __asan_handle_no_return"
  # on a fiber stack) are printed but do not fail the stage.
  local f bad=0
  for f in "$rep"/*; do
    [ -e "$f" ] || continue
    if grep -qE 'ERROR: |runtime error:|WARNING: ThreadSanitizer:' "$f"; then
      echo "---- sanitizer report $f"; cat "$f"; bad=1
    else
      echo "---- sanitizer note $f: $(head -c 300 "$f" | tr '\n' ' ')"
    fi
  done
  if [ "$bad" = 1 ]; then
    echo "test.sh: sanitizer reports in $rep" >&2
    rc=1
  fi
  counts "$dir"
  return $rc
}

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
counts build/gcc

stage "examples"
build/gcc/example_c_async >/dev/null
build/gcc/example_cpp_pipeline

stage "gcc build with the run-queue checker (DTACT_CHECK_QUEUES) + ctest"
build build/chk -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DDTACT_CHECK_QUEUES=ON -DDTACT_BUILD_BENCHES=OFF
ctest --test-dir build/chk --output-on-failure -j"$jobs"
counts build/chk

stage "install to a prefix; consumers via find_package, pkg-config (shared, --static), add_subdirectory"
JOBS=$jobs scripts/test-install.sh build/gcc

stage "clang AddressSanitizer + UndefinedBehaviorSanitizer build + ctest"
# -fsanitize=address,undefined -fno-sanitize-recover=undefined (CMakeLists.txt):
# every UBSan report is fatal; the fiber switches carry ASan's annotations.
build build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDTACT_SANITIZE=address,undefined -DDTACT_BUILD_BENCHES=OFF
san_ctest build/asan DTACT_TEST_SCALE=10 ASAN_OPTIONS=detect_leaks=1:log_path=@REP@/asan \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=@REP@/ubsan

stage "clang ThreadSanitizer build + ctest"
# Criterion's runner cannot start under TSan ("Could not initialize inheritable
# arena"), so this build compiles the same tests against the fork-per-test
# shim in tests/crit_shim (same Test()/cr_assert API; it prints "N passed, N failed").
libm=$(cc -print-file-name=libm.so)
build build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDTACT_SANITIZE=thread -DDTACT_BUILD_BENCHES=OFF \
  -DCMAKE_C_FLAGS="-isystem $PWD/tests/crit_shim" -DCRITERION_LIB="$libm"
san_ctest build/tsan DTACT_TEST_SCALE=20 "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 log_path=@REP@/tsan"

stage "fault injection (DTACT_FAULT_INJECTION): every map/reserve/commit/thread/heap failure of init, start and spawn"
cmake -S . -B build/fi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DDTACT_FAULT_INJECTION=ON \
  -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fi -j"$jobs" --target test_fault_injection test_offload >/dev/null
build/fi/test_fault_injection --jobs 1
build/fi/test_offload --jobs 1 # its fault-injection cases: a helper thread that cannot be started
# the same under ASan + LeakSanitizer: the error paths free what they took, and touch nothing freed
cmake -S . -B build/fi-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DDTACT_SANITIZE=address -DDTACT_FAULT_INJECTION=ON \
  -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fi-asan -j"$jobs" --target test_fault_injection >/dev/null
ASAN_OPTIONS=detect_leaks=1 build/fi-asan/test_fault_injection --jobs 1

stage "libFuzzer over the C ABI (fuzz/api_fuzz, ASan + UBSan + LeakSanitizer), 60 s from fuzz/corpus"
scripts/fuzz.sh 60

stage "aarch64 cross build, the whole C suite under qemu-aarch64-static"
JOBS=$jobs scripts/test-aarch64.sh

stage "ABI gate: abidiff of libdtact_core.so against abi/libdtact_core.abi"
scripts/abi-check.sh --lib build/gcc/libdtact_core.so

if [ -x scripts/test-rust.sh ]; then
  stage "Rust crates: cargo test, examples, cargo package (Debian's cargo/rustc 1.63, and rustup's)"
  scripts/test-rust.sh
fi

stage "Rust crates under AddressSanitizer (only with a rustup nightly; says SKIPPED otherwise)"
scripts/test-rust-asan.sh
stage "done"
echo "all test stages passed ($(($(date +%s) - t_start)) s)"
