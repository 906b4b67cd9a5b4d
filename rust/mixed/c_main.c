/* c_main.c -- a C program calling into the Rust staticlib (rust/mixed, libdtact_mixed.a).
 * Built and run by scripts/test-rust.sh:
 *   cc -std=c11 -I ffi/include rust/mixed/c_main.c target/debug/libdtact_mixed.a -lpthread -ldl -lm
 * 1. Rust creates (and drops) its own runtime for the call.
 * 2. C creates the runtime; a C fiber calls into Rust, which spawns Rust tasks on C's runtime. */
#include <inttypes.h>
#include <stdio.h>
#include "dtact.h"

extern uint64_t rust_sum_squares(uint64_t n);

static uint64_t expect(uint64_t n) { return n * (n + 1) * (2 * n + 1) / 6; }
static uint64_t from_fiber;

static void fiber_main(void *arg) { from_fiber = rust_sum_squares((uint64_t)(uintptr_t)arg); }

int main(void) {
    uint64_t n = 1000, a = rust_sum_squares(n);
    printf("c_main: rust_sum_squares(%" PRIu64 ") = %" PRIu64 " (Rust-owned runtime)\n", n, a);
    if (a != expect(n)) return 1;

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    void *rt = dtact_init(&cfg);
    if (!rt || dtact_start(rt) != DTACT_OK) return 2;
    dtact_handle_t h = dtact_fiber_launch(fiber_main, (void *)(uintptr_t)500);
    if (!h || dtact_await(h) != DTACT_OK) return 3;
    printf("c_main: from a C fiber, rust_sum_squares(500) = %" PRIu64 " (C-owned runtime)\n", from_fiber);
    if (from_fiber != expect(500)) return 4;
    dtact_shutdown();
    dtact_destroy(rt);
    printf("c_main: OK\n");
    return 0;
}
