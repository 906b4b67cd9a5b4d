#!/usr/bin/env bash
# scripts/test-rust.sh [--bench] -- tests the Rust crates (rust/) with every toolchain present:
#   debian  Debian's own cargo 0.66 / rustc 1.63 (/usr/bin; packages cargo and rustc), the
#           oldest Rust the crates support (rust-version = "1.63"); required;
#   rustup  the rustup toolchain in $CARGO_HOME/bin (~/.cargo/bin), when present.
# For each: cargo test --workspace (dtact-util's tests included, among them one that runs its echo
# example against a few clients), the example (cargo run --example hello), the mixed C/Rust
# program (a C main calling a Rust staticlib), and scripts/package-rust.sh (cargo package of the
# publishable crates, verified). All offline against Debian's crate registry
# (/usr/share/cargo/registry; run `scripts/deps.sh test` first), with --locked: Cargo.lock stays
# as committed (lock file version 3, which cargo 0.66 reads; a newer cargo would otherwise write
# version 4), and the script fails if it changed. Each toolchain has its own target directory
# (target/debian, target/rustup). With --bench, the Rust benchmark (dtact vs tokio) in quick mode.
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

toolchains=()
if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; then
  toolchains+=(debian)
else
  echo "test-rust.sh: Debian's cargo/rustc missing in /usr/bin (apt-get install cargo rustc; scripts/deps.sh test does)" >&2
  exit 1
fi
rustup_bin=${CARGO_HOME:-$HOME/.cargo}/bin
if [ -x "$rustup_bin/cargo" ] && [ -x "$rustup_bin/rustc" ] && [ "$(readlink -f "$rustup_bin/cargo")" != /usr/bin/cargo ]; then
  toolchains+=(rustup)
fi

lock_before=$(sha256sum Cargo.lock)
head -5 Cargo.lock | grep -qx 'version = 3' || { echo "test-rust.sh: Cargo.lock is not lock file version 3" >&2; exit 1; }

for tc in "${toolchains[@]}"; do
  if [ "$tc" = debian ]; then bin=/usr/bin; else bin=$rustup_bin; fi
  # Explicit tools: whichever cargo runs, it must use its own rustc and rustdoc, not the first on PATH.
  export CARGO="$bin/cargo" RUSTC="$bin/rustc" RUSTDOC="$bin/rustdoc" CARGO_TARGET_DIR="$PWD/target/$tc"
  cargo_deb() {
    "$CARGO" --config 'source.crates-io.replace-with="debian-packages"' \
             --config 'source.debian-packages.directory="/usr/share/cargo/registry"' --offline --locked "$@"
  }
  echo "== [$tc] $("$CARGO" --version), $("$RUSTC" --version)"

  echo "== [$tc] cargo test --workspace"
  cargo_deb test --workspace

  echo "== [$tc] cargo run --example hello"
  cargo_deb run -q -p dtact --example hello

  echo "== [$tc] mixed C/Rust: C main + Rust staticlib"
  cargo_deb build -p dtact-mixed
  mkdir -p "$CARGO_TARGET_DIR/mixed"
  ${CC:-cc} -std=c11 -Wall -Werror -I ffi/include rust/mixed/c_main.c "$CARGO_TARGET_DIR/debug/libdtact_mixed.a" \
    -lpthread -ldl -lm -o "$CARGO_TARGET_DIR/mixed/c_main"
  "$CARGO_TARGET_DIR/mixed/c_main"

  echo "== [$tc] cargo package (scripts/package-rust.sh)"
  scripts/package-rust.sh

  if [ "$(sha256sum Cargo.lock)" != "$lock_before" ]; then
    echo "test-rust.sh: [$tc] Cargo.lock changed:" >&2
    git --no-pager diff -- Cargo.lock >&2 || true
    exit 1
  fi
done

if [ "$bench" = 1 ]; then
  echo "== rust_bench (quick, ${toolchains[-1]})"
  cargo_deb bench -p dtact --bench peers -- --quick
fi
echo "test-rust.sh: OK (${toolchains[*]})"
