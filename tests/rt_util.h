/* tests/rt_util.h -- helpers shared by the runtime tests: bring a runtime up
 * and down through the public API only. Stress sizes go through
 * dtact_test_scaled() (tests/test_scale.h, DTACT_TEST_SCALE). */
#ifndef DTACT_TESTS_RT_UTIL_H
#define DTACT_TESTS_RT_UTIL_H

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "dtact.h"
#include "test_scale.h"

/* A runtime of `workers` workers, `capacity` records and 64 KiB stacks, not started. */
static inline void *rt_new(uint32_t workers, uint32_t capacity) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = workers;
    cfg.mFiberCapacity = capacity;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    return rt;
}

/* The same, started. */
static inline void *rt_up(uint32_t workers, uint32_t capacity) {
    void *rt = rt_new(workers, capacity);
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
