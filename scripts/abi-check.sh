#!/usr/bin/env bash
# scripts/abi-check.sh -- the ABI gate: compares the ABI of libdtact_core.so
# and libdtact_util.so built from this tree with the committed baselines
# abi/libdtact_core.abi and abi/libdtact_util.abi (libabigail's
# abidw/abidiff, Debian package abigail-tools). Each library is checked as
# described below; the script fails if either check fails.
#
#   scripts/abi-check.sh [--lib PATH] [--update]
#
#   --lib PATH  check this shared library (a gcc RelWithDebInfo build, with
#               DWARF, like build/gcc/libdtact_core.so of scripts/test.sh)
#               instead of building one in build/abi/; libdtact_util.so is
#               taken from the same directory.
#   --update    rewrite the baseline from the library and exit. Run it, and
#               commit abi/libdtact_core.abi, when a release adds symbols (a
#               new node in ffi/dtact.map) or after a major version bump.
#
# What it checks:
#   * the ABI is the exported functions and variables of the library, with
#     their symbol versions (ffi/dtact.map), and the types reachable from them
#     that the public header ffi/include/dtact.h defines (abidw --headers-dir
#     ffi/include --drop-private-types --exported-interfaces-only). core/'s
#     internal types are not part of it.
#   * no change at all: passes.
#   * only added functions/variables (compatible): reported, passes; the
#     baseline should then be refreshed with --update when the release is cut.
#   * anything else (a removed or re-versioned symbol, a changed parameter,
#     return or struct field type, a struct size or layout change, ...):
#     fails, unless DTACT_VERSION_MAJOR in ffi/include/dtact.h differs from
#     the baseline's major version (the N of its soname libdtact_core.so.N),
#     in which case the break is expected: it is reported and passes.
#     (Harmless changes that abidiff filters by default, e.g. a typedef
#     renamed to an equivalent type, do not count.)
#
# The baseline is stable across checkouts and build directories: no corpus
# path, no compilation directory, no source locations, hashed type ids, and
# the source root stripped from the translation-unit paths. It is produced
# from a gcc build (the Debian bookworm gcc 12 of CI); DWARF from another
# compiler may show spurious differences.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
update=0
lib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --update) update=1 ;;
    --lib) lib=${2:?--lib needs a path}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--lib PATH] [--update]" >&2; exit 2 ;;
  esac
  shift
done
for tool in abidw abidiff readelf; do
  command -v "$tool" >/dev/null 2>&1 || { echo "abi-check: missing $tool (scripts/deps.sh test installs abigail-tools)" >&2; exit 2; }
done

if [ -z "$lib" ]; then
  cmake -S . -B build/abi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc \
    -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_BENCHES=OFF -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build/abi -j"$(nproc)" --target dtact_core dtact_util >/dev/null
  lib=build/abi/libdtact_core.so
fi
for l in "$lib" "$(dirname "$lib")/libdtact_util.so"; do
  [ -f "$l" ] || { echo "abi-check: no library at $l" >&2; exit 2; }
  readelf -S "$l" | grep -q '\.debug_info' \
    || { echo "abi-check: $l has no DWARF (.debug_info): build it with -g (RelWithDebInfo)" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# abidw with the stable options; the root of the source tree is dropped from
# the translation units' paths (the compiler records them absolute).
abi_of() { # lib -> ABI XML on stdout
  abidw --no-corpus-path --no-comp-dir-path --no-show-locs --type-id-style hash \
    --headers-dir "$root/ffi/include" --drop-private-types --exported-interfaces-only "$1" |
    sed "s|path='$root/|path='|g"
}
check() { # lib name: checks lib against abi/<name>.abi (or rewrites it with --update)
  local lib=$1 name=$2 baseline=abi/$2.abi rc_all rc_chg major_now major_base kind
  abi_of "$lib" >"$tmp/current.abi"

  if [ "$update" = 1 ]; then
    mkdir -p abi
    cp "$tmp/current.abi" "$baseline"
    echo "abi-check: baseline $baseline rewritten from $lib ($(grep -c '<elf-symbol ' "$baseline") exported symbols); commit it"
    return 0
  fi
  [ -f "$baseline" ] || { echo "abi-check: no baseline $baseline (make one with $0 --update)" >&2; return 2; }

  major_now=$(sed -n 's/^#define DTACT_VERSION_MAJOR \([0-9]*\).*/\1/p' ffi/include/dtact.h)
  major_base=$(sed -n "1s/.*soname='$name\.so\.\([0-9]*\)'.*/\1/p" "$baseline")
  [ -n "$major_now" ] && [ -n "$major_base" ] || { echo "abi-check: cannot read the major versions (header '$major_now', baseline '$major_base')" >&2; return 2; }

  # abidiff's status is a bit mask: 1 error, 2 usage error, 4 ABI change,
  # 8 incompatible ABI change. With --no-added-syms, additions alone give 0.
  rc_all=0
  abidiff "$baseline" "$tmp/current.abi" >"$tmp/all.txt" 2>&1 || rc_all=$?
  rc_chg=0
  abidiff --no-added-syms "$baseline" "$tmp/current.abi" >"$tmp/changes.txt" 2>&1 || rc_chg=$?
  if [ $((rc_all & 3)) != 0 ] || [ $((rc_chg & 3)) != 0 ]; then
    cat "$tmp/all.txt" >&2
    echo "abi-check: abidiff failed (status $rc_all)" >&2
    return 2
  fi

  echo "abi-check: $lib against $baseline (major: header $major_now, baseline $major_base)"
  if [ "$rc_all" = 0 ]; then
    echo "abi-check: OK, the ABI is unchanged ($(grep -c '<elf-symbol ' "$baseline") exported symbols)"
    return 0
  fi
  if [ "$rc_chg" = 0 ]; then
    sed 's/^/  /' "$tmp/all.txt"
    echo "abi-check: OK, compatible: symbols were only added (refresh the baseline with $0 --update when the release is cut)"
    return 0
  fi
  sed 's/^/  /' "$tmp/all.txt"
  if [ "$major_now" != "$major_base" ]; then
    echo "abi-check: OK, incompatible changes, but the major version moved ($major_base -> $major_now): run $0 --update and commit the new baseline"
    return 0
  fi
  kind="an incompatible ABI change (changed types or layouts of the interface)"
  [ $((rc_chg & 8)) != 0 ] && kind="an incompatible ABI change (removed or re-versioned symbols)"
  echo "abi-check: FAIL: $kind against $baseline while DTACT_VERSION_MAJOR is still $major_now;" \
    "restore compatibility (add a new symbol/version node instead), or bump the major version" >&2
  return 1
}
rc=0
check "$lib" libdtact_core || rc=$?
r=0
check "$(dirname "$lib")/libdtact_util.so" libdtact_util || r=$?
[ "$r" -gt "$rc" ] && rc=$r
exit "$rc"
