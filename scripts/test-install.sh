#!/usr/bin/env bash
# scripts/test-install.sh [BUILD_DIR] -- tests Dtact as an installed package:
#   1. `cmake --install BUILD_DIR --prefix P` into a temporary prefix P (BUILD_DIR: an existing
#      build, e.g. build/gcc; default: a fresh Release build in build/install);
#   2. the files installed (headers dtact.h, dtact_sync.h and dtact.hpp, libdtact_core.{so,a}, the CMake
#      package, dtact.pc) and dtact.pc naming no absolute prefix;
#   3. the prefix is then MOVED elsewhere (P -> Q): everything below must work from Q;
#   4. consumers (tests/install/: a C program written against the original dtact.h, a C++
#      program using dtact.hpp, and a C program using libdtact_util), built and run
#        - through find_package(dtact) (dtact::dtact shared, dtact::static, C++),
#        - through pkg-config (shared; --static, linked with -static; C++),
#        - through add_subdirectory on the source tree (the same target names).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
jobs=${JOBS:-$(nproc)}
build=${1:-}
if [ -z "$build" ]; then
  build=build/install
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDTACT_BUILD_TESTS=OFF -DDTACT_BUILD_BENCHES=OFF \
    -DDTACT_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build" -j"$jobs" >/dev/null
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dtact-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-install.sh: $*" >&2; exit 1; }
# links_shared EXE [PATTERN]: EXE's dynamic dependencies include libdtact_core.so (matching PATTERN).
links_shared() { LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} ldd "$1" 2>/dev/null | grep "${2:-libdtact_core\.so}" >/dev/null; }

echo "== cmake --install $build --prefix <tmp>/first"
cmake --install "$build" --prefix "$tmp/first" >/dev/null
libdir=$(cd "$tmp/first" && dirname "$(find . -name libdtact_core.a | head -1)" | sed 's|^\./||')
[ -n "$libdir" ] || fail "libdtact_core.a not installed"
for f in include/dtact.h include/dtact_sync.h include/dtact.hpp "$libdir/libdtact_core.a" "$libdir/libdtact_core.so" \
         "$libdir/cmake/dtact/dtactConfig.cmake" "$libdir/cmake/dtact/dtactConfigVersion.cmake" \
         "$libdir/pkgconfig/dtact.pc" include/dtact_util.h "$libdir/libdtact_util.a" "$libdir/libdtact_util.so" \
         "$libdir/pkgconfig/dtact_util.pc"; do
  [ -e "$tmp/first/$f" ] || fail "$f not installed"
done
pc=$tmp/first/$libdir/pkgconfig/dtact.pc
if grep -q -e "$tmp" -e /usr/local "$pc"; then
  cat "$pc" >&2; fail "dtact.pc holds an absolute prefix"
fi

# Relocate: the package must not remember where it was installed.
mv "$tmp/first" "$tmp/moved"
P=$tmp/moved
export PKG_CONFIG_PATH=$P/$libdir/pkgconfig
unset PKG_CONFIG_LIBDIR || true

echo "== pkg-config (prefix moved after install)"
cflags=$(pkg-config --cflags dtact)
libs=$(pkg-config --libs dtact)
slibs=$(pkg-config --static --libs dtact)
echo "   cflags: $cflags"; echo "   libs: $libs"; echo "   static libs: $slibs"
hver=$(for k in MAJOR MINOR PATCH; do sed -n "s/^#define DTACT_VERSION_$k \([0-9]*\)$/\1/p" ffi/include/dtact.h; done | paste -sd.)
[ "$(pkg-config --modversion dtact)" = "$hver" ] || fail "dtact.pc version $(pkg-config --modversion dtact), header $hver"
inc=$(pkg-config --variable=includedir dtact)
[ "$(cd "$inc" && pwd -P)" = "$(cd "$P/include" && pwd -P)" ] || fail "includedir $inc is not $P/include"
grep -q -- -lpthread <<<"$slibs" || fail "--static does not add -lpthread"
out=$tmp/pc; mkdir -p "$out"
cc=${CC:-cc}; cxx=${CXX:-c++}
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror tests/install/consumer.c $cflags $libs -o "$out/consumer_shared"
LD_LIBRARY_PATH=$P/$libdir "$out/consumer_shared"
links_shared "$out/consumer_shared" || fail "pkg-config shared build does not use libdtact_core.so"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror -static tests/install/consumer.c $cflags $slibs -o "$out/consumer_static"
"$out/consumer_static"
if ldd "$out/consumer_static" >/dev/null 2>&1; then fail "pkg-config --static build is not static"; fi
# shellcheck disable=SC2086
$cxx -std=c++11 -Wall -Wextra -Werror tests/install/consumer.cpp $cflags $libs -o "$out/consumer_cxx"
LD_LIBRARY_PATH=$P/$libdir "$out/consumer_cxx"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror tests/install/util_consumer.c $(pkg-config --cflags --libs dtact_util) -o "$out/util_shared"
LD_LIBRARY_PATH=$P/$libdir "$out/util_shared"
links_shared "$out/util_shared" 'libdtact_util\.so' || fail "pkg-config dtact_util does not use libdtact_util.so"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror -static tests/install/util_consumer.c $(pkg-config --cflags --static --libs dtact_util) \
  -o "$out/util_static"
"$out/util_static"

echo "== find_package(dtact) (prefix moved after install)"
cmake -S tests/install -B "$tmp/fp" -DDTACT_VIA=find_package -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/fp" -j"$jobs" >/dev/null
"$tmp/fp/consumer_shared"
"$tmp/fp/consumer_static"
"$tmp/fp/consumer_cxx"
! links_shared "$tmp/fp/consumer_static" || fail "dtact::static links the shared library"
"$tmp/fp/util_consumer_shared"
"$tmp/fp/util_consumer_static"
links_shared "$tmp/fp/util_consumer_shared" "$P/$libdir/libdtact_util\.so" || fail "dtact::util does not use the installed .so"
! links_shared "$tmp/fp/util_consumer_static" 'libdtact_util\.so' || fail "dtact::util_static links the shared library"
links_shared "$tmp/fp/consumer_shared" "$P/$libdir/libdtact_core\.so" || fail "dtact::dtact does not use the installed .so"

echo "== add_subdirectory(dtact)"
cmake -S tests/install -B "$tmp/sub" -DDTACT_VIA=subdirectory -DDTACT_SOURCE_DIR="$src" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/sub" -j"$jobs" >/dev/null
"$tmp/sub/consumer_shared"
"$tmp/sub/consumer_static"
"$tmp/sub/consumer_cxx"
! links_shared "$tmp/sub/consumer_static" || fail "dtact::static (add_subdirectory) links the shared library"
links_shared "$tmp/sub/consumer_shared" || fail "dtact::dtact (add_subdirectory) is not the shared library"
"$tmp/sub/util_consumer_shared"
"$tmp/sub/util_consumer_static"
echo "test-install.sh: OK"
