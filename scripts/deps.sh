#!/usr/bin/env bash
# scripts/deps.sh -- installs, with apt-get, the Debian packages the build and
# the tests need, when missing. Quiet and idempotent. Usage: deps.sh [demo|test|bench]
set -euo pipefail
what=${1:-test}
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
want() { for p in "$@"; do have "$p" || need+=("$p"); done; }

want cmake gcc g++ make pkg-config libc6-dev python3
want liburing-dev # the io_uring readiness backend (core/prim_uring.c); the build works without it
if [ "$what" = test ] || [ "$what" = bench ]; then
  want clang clang-format libcriterion-dev libclang-rt-14-dev valgrind
fi
if [ "$what" = test ]; then
  want libfuzzer-14-dev # fuzz/api_fuzz (scripts/fuzz.sh): clang -fsanitize=fuzzer
fi
if [ "$what" = test ]; then
  want gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static abigail-tools
  # Debian's own cargo 0.66 / rustc 1.63 (/usr/bin), always: the crates are tested with it, and with
  # rustup's toolchain (~/.cargo/bin, ahead on PATH) when present; the two coexist.
  want cargo rustc
  want librust-cc-dev librust-syn-dev librust-quote-dev librust-proc-macro2-dev librust-tokio-dev bindgen
fi
if [ "$what" = bench ]; then
  want libboost-context-dev libboost-fiber-dev golang-go librust-tokio-dev
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "deps.sh: installing ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# A plain `cargo build` in the repository then works offline against Debian's crates, where those
# are the only crate source (writes ~/.cargo/config.toml only then; see the script).
"$(dirname "$0")/cargo-config.sh"
