#!/usr/bin/env bash
# scripts/format-check.sh -- checks the C and C++ sources against .clang-format.
#
#   scripts/format-check.sh          run clang-format --dry-run --Werror on every
#                                    file, name those it would change (with the
#                                    number of lines) and exit 1 if there is any
#   scripts/format-check.sh --fix    rewrite those files in place
#   scripts/format-check.sh [--fix] FILE...   the same, for the files named
#
# Files: the tracked *.c, *.h, *.cpp, *.hpp under core/ util/ ffi/ tests/ benches/
# rust/ (rust/*/: the mixed C/Rust examples), minus generated files (a
# "@generated" or "DO NOT EDIT" mark in their first lines). tests/crit_shim/ is
# included: formatting changes only its layout.
# Environment: CLANG_FORMAT (default clang-format; the style is tuned on
# Debian's clang-format 14, and other major versions may format differently).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
fix=0
if [ "${1:-}" = "--fix" ]; then fix=1; shift; fi
case "${1:-}" in -h|--help) sed -n '2,16p' "$0"; exit 0 ;; -*) echo "format-check: unknown option $1" >&2; exit 2 ;; esac

command -v "$clang_format" >/dev/null 2>&1 || { echo "format-check: $clang_format not found (apt-get install clang-format)" >&2; exit 2; }
[ -f .clang-format ] || { echo "format-check: no .clang-format at the repository root" >&2; exit 2; }

files=()
if [ $# -gt 0 ]; then
    files=("$@")
else
    while IFS= read -r -d '' f; do
        [ -f "$f" ] || continue                                     # deleted in the work tree
        head -n 5 "$f" | grep -qE '@generated|DO NOT EDIT' && continue # generated
        files+=("$f")
    done < <(git ls-files -z -- \
        'core/*.c' 'core/*.h' 'util/*.c' 'util/*.h' 'ffi/*.c' 'ffi/*.h' 'ffi/*.cpp' 'ffi/*.hpp' \
        'tests/*.c' 'tests/*.h' 'tests/*.cpp' 'tests/*.hpp' \
        'benches/*.c' 'benches/*.h' 'benches/*.cpp' 'benches/*.hpp' \
        'rust/*.c' 'rust/*.h' 'rust/*.cpp' 'rust/*.hpp' 'fuzz/*.c' 'fuzz/*.h')
fi
[ ${#files[@]} -gt 0 ] || { echo "format-check: no files"; exit 0; }

if [ "$fix" = 1 ]; then
    "$clang_format" -i --style=file "${files[@]}"
    echo "format-check: formatted ${#files[@]} files"
    exit 0
fi

bad=0
for f in "${files[@]}"; do
    if ! "$clang_format" --dry-run --Werror --style=file "$f" 2>/dev/null; then
        n=$("$clang_format" --style=file "$f" | diff "$f" - | grep -c '^<' || true)
        echo "format-check: $f: $n lines would change"
        bad=$((bad + 1))
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "format-check: $bad of ${#files[@]} files are not formatted; see the changes with" >&2
    echo "  $clang_format --style=file FILE | diff -u FILE -      (or run $0 --fix)" >&2
    exit 1
fi
echo "format-check: ${#files[@]} files formatted"
