#!/usr/bin/env bash
# scripts/cargo-config.sh -- lets a plain `cargo build` / `cargo test` / `cargo run --example ...`
# in this repository work offline on a machine whose only crate source is Debian's packaged
# crates (librust-*-dev, unpacked in /usr/share/cargo/registry). Called by scripts/deps.sh.
#
# It writes $CARGO_HOME/config.toml (default ~/.cargo/config.toml: outside the repository, for
# this user) with
#     [source.crates-io]  replace-with = "debian-packages"
#     [source.debian-packages]  directory = "/usr/share/cargo/registry"
# and only when all of these hold (otherwise it does nothing and says why with -v):
#   - /usr/share/cargo/registry exists;
#   - there is no $CARGO_HOME/config.toml or $CARGO_HOME/config yet (a user's config is never
#     touched);
#   - crates.io has never been used from $CARGO_HOME (no registry/index or registry/cache
#     directory with content), i.e. the Debian registry is the only source of crates here.
# Undo: delete the file (it starts with a comment naming this script).
# Set DTACT_NO_CARGO_CONFIG=1 to skip. The test scripts do not rely on this file: they pass
# the same settings with --config.
set -euo pipefail
verbose=0
[ "${1:-}" = -v ] && verbose=1
say() { [ "$verbose" = 0 ] || echo "cargo-config.sh: $*" >&2; }
[ "${DTACT_NO_CARGO_CONFIG:-0}" = 1 ] && { say "DTACT_NO_CARGO_CONFIG=1: skipped"; exit 0; }
reg=/usr/share/cargo/registry
home=${CARGO_HOME:-$HOME/.cargo}
[ -d "$reg" ] || { say "no $reg: skipped"; exit 0; }
for f in "$home/config.toml" "$home/config"; do
  [ -e "$f" ] && { say "$f exists: left alone"; exit 0; }
done
for d in "$home/registry/index" "$home/registry/cache"; do
  if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
    say "$d is not empty (crates.io in use): skipped"; exit 0
  fi
done
mkdir -p "$home"
cat > "$home/config.toml" <<TOML
# Written by Dtact's scripts/cargo-config.sh (via scripts/deps.sh): Debian's packaged crates
# ($reg) are the only crate source on this machine, so crates.io is replaced by them and cargo
# works offline. Delete this file to undo.
[source.crates-io]
replace-with = "debian-packages"

[source.debian-packages]
directory = "$reg"
TOML
echo "cargo-config.sh: wrote $home/config.toml (crates-io -> $reg)" >&2
