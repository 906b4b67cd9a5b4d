#!/usr/bin/env bash
# scripts/demo.sh -- builds Dtact and runs the demo programs (the C
# master/worker example and the C++ example). On a fresh Debian machine it
# installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_BENCHES=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
echo "== C master/worker (ffi/examples/c_async.c)"
build/demo/example_c_async
echo "== C++ (ffi/examples/cpp_pipeline.cpp)"
build/demo/example_cpp_pipeline
