#!/usr/bin/env bash
# scripts/package-rust.sh [--vendor | --clean] -- packages the publishable Rust crates with
# `cargo package` (offline, against Debian's crate registry), as a test that they can be published:
#   dtact-sys     packaged and verified (the .crate is unpacked and built on its own);
#   dtact-macros  packaged and verified;
#   dtact         packaged and verified against those two packages (a temporary directory
#                 registry: Debian's crates plus the two .crate files);
#   dtact-util    packaged and verified against the three (the dtact package is added to the
#                 same registry).
# dtact-mixed is publish = false.
#
# dtact-sys compiles the C core, so its package must carry the C sources: this script copies
# core/*.{c,h}, asm/*.S and ffi/ (header, version script) into rust/dtact-sys/csrc/ (ignored by
# git; listed in the crate's `include`), packages, and removes csrc/ again. build.rs uses the
# repository's sources when they exist and csrc/ otherwise, with the same compiler flags.
#   --vendor  only fill csrc/ (to `cargo publish` by hand: run this, publish dtact-sys, --clean)
#   --clean   only remove csrc/
# Environment: CARGO (default: cargo on PATH), RUSTC/RUSTDOC as for cargo, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
csrc=rust/dtact-sys/csrc

vendor() {
  rm -rf "$csrc"
  mkdir -p "$csrc/core" "$csrc/asm" "$csrc/ffi/include"
  cp core/*.c core/*.h "$csrc/core/"
  cp asm/*.S asm/README.md "$csrc/asm/"
  cp ffi/include/*.h "$csrc/ffi/include/"
  [ ! -f ffi/include/dtact.hpp ] || cp ffi/include/dtact.hpp "$csrc/ffi/include/"
  cp ffi/dtact.map "$csrc/ffi/"
  if compgen -G 'ffi/*.c' >/dev/null; then cp ffi/*.c "$csrc/ffi/"; fi
  printf '%s\n' "Copied from the Dtact repository (core/, asm/, ffi/) by scripts/package-rust.sh;" \
    "do not edit: edit the originals." > "$csrc/README"
}
clean() { rm -rf "$csrc"; }

case "${1:-}" in
  --vendor) vendor; exit 0 ;;
  --clean) clean; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--vendor | --clean]" >&2; exit 2 ;;
esac

CARGO=${CARGO:-cargo}
cargo_deb() {
  "$CARGO" --config 'source.crates-io.replace-with="debian-packages"' \
           --config 'source.debian-packages.directory="/usr/share/cargo/registry"' --offline "$@"
}

trap clean EXIT
vendor

echo "== cargo package -p dtact-sys (verified: builds from csrc/ alone)"
list=$(cargo_deb package -p dtact-sys --allow-dirty --list)
for f in csrc/core/runtime.c csrc/ffi/include/dtact.h build.rs src/bindings.rs; do
  grep -qx "$f" <<<"$list" || { echo "package-rust.sh: dtact-sys package lacks $f" >&2; exit 1; }
done
grep -q '^csrc/asm/.*_x86_64_sysv_elf_gas\.S$' <<<"$list" && grep -q '^csrc/asm/.*_arm64_aapcs_elf_gas\.S$' <<<"$list" \
  || { echo "package-rust.sh: dtact-sys package lacks the asm" >&2; exit 1; }
# Warnings are errors here, as in the repository build: the packaged sources get the same flags.
DTACT_WERROR=1 cargo_deb package -p dtact-sys --allow-dirty

echo "== cargo package -p dtact-macros (verified)"
cargo_deb package -p dtact-macros --allow-dirty

echo "== cargo package -p dtact (verified against the two packages above)"
# dtact depends on dtact-sys and dtact-macros by path and version. Cargo verifies a package by
# building it with its dependencies from the registry, so this step uses a directory registry
# holding Debian's crates plus the dtact-sys and dtact-macros packages just made: dtact is then
# built exactly as a user would get it from crates.io (dtact-sys compiling the C from csrc/).
tdir=${CARGO_TARGET_DIR:-target}
reg=$(mktemp -d "${TMPDIR:-/tmp}/dtact-registry.XXXXXX")
trap 'clean; rm -rf "$reg"' EXIT
ln -s /usr/share/cargo/registry/* "$reg/"
ver=$(sed -n 's/^version = "\(.*\)"$/\1/p' rust/dtact-sys/Cargo.toml | head -1)
for c in dtact-sys dtact-macros; do
  crate="$tdir/package/$c-$ver.crate"
  [ -f "$crate" ] || { echo "package-rust.sh: $crate missing" >&2; exit 1; }
  tar -xzf "$crate" -C "$reg"
  printf '{"files":{},"package":"%s"}' "$(sha256sum "$crate" | cut -d' ' -f1)" > "$reg/$c-$ver/.cargo-checksum.json"
done
"$CARGO" --config 'source.crates-io.replace-with="local"' --config "source.local.directory=\"$reg\"" \
  --offline package -p dtact --allow-dirty

echo "== cargo package -p dtact-util (verified against the packages above)"
crate="$tdir/package/dtact-$ver.crate"
[ -f "$crate" ] || { echo "package-rust.sh: $crate missing" >&2; exit 1; }
tar -xzf "$crate" -C "$reg"
printf '{"files":{},"package":"%s"}' "$(sha256sum "$crate" | cut -d' ' -f1)" > "$reg/dtact-$ver/.cargo-checksum.json"
"$CARGO" --config 'source.crates-io.replace-with="local"' --config "source.local.directory=\"$reg\"" \
  --offline package -p dtact-util --allow-dirty
echo "package-rust.sh: OK"
