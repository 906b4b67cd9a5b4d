# scripts/bench-lib.sh -- shell helpers shared by the benchmark scripts (bench-io.sh, bench-sync.sh,
# bench-skew.sh); sourced, not run.

# newer_src BINARY SOURCE...: true when the binary is missing or older than one of the sources
newer_src() {
    local bin=$1 s
    shift
    [ -x "$bin" ] || return 0
    for s in "$@"; do [ "$s" -nt "$bin" ] && return 0; done
    return 1
}
