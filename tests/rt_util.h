/* tests/rt_util.h -- helpers shared by the runtime tests: bring a runtime up
 * and down through the public API only, and scale stress sizes down under
 * sanitizers (DTACT_TEST_SCALE=<divisor>). */
#ifndef DTACT_TESTS_RT_UTIL_H
#define DTACT_TESTS_RT_UTIL_H

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "dtact.h"

static inline uint64_t test_scaled(uint64_t n) {
    /* DTACT_TEST_SCALE: a divisor (10 = a tenth), or a multiplier below 1 (0.1). */
    const char *s = getenv("DTACT_TEST_SCALE");
    double d = s ? strtod(s, NULL) : 1.0;
    uint64_t r = d >= 1 ? (uint64_t)((double)n / d) : d > 0 ? (uint64_t)((double)n * d) : n;
    return r ? r : 1;
}

static inline void *rt_up(uint32_t workers, uint32_t capacity) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = workers;
    cfg.mFiberCapacity = capacity;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    return rt;
}

static inline void rt_down(void *rt) {
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

/* Runs fn(arg) as a root fiber and waits for it from this (host) thread. */
static inline void run_root(void (*fn)(void *), void *arg) {
    dtact_handle_t h = dtact_fiber_launch(fn, arg);
    cr_assert_neq(h, DTACT_INVALID_HANDLE, "launch: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(dtact_await(h), DTACT_OK);
}

#endif
