#!/usr/bin/env bash
# scripts/test-rust.sh [--bench] -- tests the Rust crates (rust/): cargo test --workspace
# against Debian's crate registry (offline; run `scripts/deps.sh test` first), then builds and
# runs the mixed C/Rust example (a C main calling a Rust staticlib), then, with --bench, the
# Rust benchmark (dtact vs tokio) in quick mode.
# Test binaries that need their own runtime are separate files (separate processes); the tests
# inside one binary share one runtime, so no --test-threads=1 is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=0
for a in "$@"; do
  case "$a" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done
if command -v cargo >/dev/null 2>&1; then CARGO=cargo
elif [ -x "$HOME/.cargo/bin/cargo" ]; then CARGO="$HOME/.cargo/bin/cargo"
else echo "test-rust.sh: cargo not found" >&2; exit 1; fi
cargo_deb() {
  "$CARGO" --config 'source.crates-io.replace-with="debian"' \
           --config 'source.debian.directory="/usr/share/cargo/registry"' --offline "$@"
}

echo "== cargo test --workspace"
cargo_deb test --workspace

echo "== mixed C/Rust: C main + Rust staticlib"
cargo_deb build -p dtact-mixed
mkdir -p target/mixed
${CC:-cc} -std=c11 -Wall -I ffi/include rust/mixed/c_main.c target/debug/libdtact_mixed.a \
  -lpthread -ldl -lm -o target/mixed/c_main
./target/mixed/c_main

if [ "$bench" = 1 ]; then
  echo "== rust_bench (quick)"
  cargo_deb bench -p dtact --bench peers -- --quick
fi
echo "test-rust.sh: OK"
