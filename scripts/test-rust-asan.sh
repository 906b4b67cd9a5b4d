#!/usr/bin/env bash
# scripts/test-rust-asan.sh -- the Rust crates' tests (cargo test --workspace)
# under AddressSanitizer, "where the toolchain allows": -Zsanitizer=address
# needs a nightly rustc, so this runs only when rustup has a nightly toolchain
# (`rustup toolchain install nightly`); otherwise it says so and exits 0.
# Debian's packaged rustc is stable only, so a fresh CI machine skips it.
#
# Rust code is instrumented by rustc (-Zsanitizer=address, --target given so
# build scripts and proc macros are not); the C core that dtact-sys builds
# with the cc crate is compiled by clang with -fsanitize=address and
# DTACT_ASAN=1, so the fiber switches carry ASan's annotations (core/worker.c).
# std itself is not instrumented (that needs -Zbuild-std and rust-src).
# Crates come from Debian's registry, offline, as in scripts/test-rust.sh.
# The build goes to target/asan; Cargo.lock is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup=$(command -v rustup || echo "$HOME/.cargo/bin/rustup")
if ! [ -x "$rustup" ] || ! "$rustup" toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "test-rust-asan.sh: SKIPPED: no nightly Rust toolchain (rustup toolchain list), and -Zsanitizer needs one"
  exit 0
fi
target=$("$rustup" run nightly rustc -vV | sed -n 's/^host: //p')
cp Cargo.lock "${TMPDIR:-/tmp}/dtact-Cargo.lock.$$"
trap 'cp "${TMPDIR:-/tmp}/dtact-Cargo.lock.$$" Cargo.lock; rm -f "${TMPDIR:-/tmp}/dtact-Cargo.lock.$$"' EXIT

export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export RUSTDOCFLAGS="$RUSTFLAGS"
export CC=clang
export CFLAGS="-fsanitize=address -fno-omit-frame-pointer -DDTACT_ASAN=1"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export CARGO_TARGET_DIR=target/asan
echo "== cargo +nightly test --workspace --target $target (ASan: Rust, and the C core via clang)"
# Debian's proc-macro2 1.0.47 turns on nightly-only proc_macro features that
# today's nightly no longer has; -Zallow-features on the host build (proc
# macros and build scripts, which --target leaves uninstrumented) keeps it on
# its stable code path.
"$rustup" run nightly cargo -Zhost-config -Ztarget-applies-to-host \
  --config 'host.rustflags=["-Zallow-features="]' \
  --config 'source.crates-io.replace-with="debian-packages"' \
  --config 'source.debian-packages.directory="/usr/share/cargo/registry"' --offline \
  test --workspace --target "$target" --lib --bins --tests
echo "test-rust-asan.sh: OK"
