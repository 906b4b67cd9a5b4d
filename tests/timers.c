/* tests/timers.c -- deadlines and timers: early removal of cancelled timer
 * entries, sleeps never early, absolute deadlines, very long waits, intervals,
 * timers of an idle worker.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dtact.h"
#include "rt_util.h"
#include "test_scale.h"

static uint32_t timers_now(void) {
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(NULL, &st), DTACT_OK);
    return st.timers;
}

/* ------------------------------------------------ cancelled timers go at once */

struct parker {
    atomic_uint_fast64_t rounds;
    atomic_int stop;
    _Atomic dtact_handle_t self;
};

static void long_parker(void *arg) {
    struct parker *p = arg;
    atomic_store(&p->self, dtact_self());
    while (!atomic_load(&p->stop)) {
        int rc = dtact_park(3600LL * 1000000000LL); /* one hour, always ended early */
        cr_assert(rc == DTACT_OK || rc == DTACT_ESHUTDOWN, "park: %s", dtact_strerror(rc));
        atomic_fetch_add(&p->rounds, 1);
    }
}

static void unparker(void *arg) {
    struct parker *p = arg;
    uint64_t want = dtact_test_scaled(200000, 1000), last = 0;
    while (!atomic_load(&p->self))
        dtact_yield();
    for (;;) {
        uint64_t r = atomic_load(&p->rounds);
        if (r >= want) break;
        if (r != last || (r == 0)) dtact_unpark(atomic_load(&p->self));
        last = r;
        dtact_yield();
    }
    atomic_store(&p->stop, 1);
    dtact_unpark(atomic_load(&p->self));
}

/* same_worker: one worker, so the parker always resumes where its entry is;
 * else two workers and movable fibers. */
static void cancelled_entries_case(int same_worker) {
    void *rt = rt_up(same_worker ? 1 : 2, 256);
    struct parker p = {0};
    dtact_spawn_options_t o = dtact_default_spawn_options();
    if (same_worker) o.mAffinity = DTACT_AFFINITY_SAME_CORE;
    dtact_handle_t a = dtact_fiber_launch_ext(long_parker, &p, &o);
    dtact_handle_t b = dtact_fiber_launch_ext(unparker, &p, &o);
    cr_assert(a && b);
    /* While it runs, the heaps hold at most a few entries per worker (the
     * current wait, and stale ones below the compaction bound). */
    uint32_t peak = 0;
    while (!atomic_load(&p.stop)) {
        uint32_t n = timers_now();
        if (n > peak) peak = n;
        dtact_sleep_ns(1000000);
    }
    cr_assert_eq(dtact_await(a), DTACT_OK);
    cr_assert_eq(dtact_await(b), DTACT_OK);
    uint64_t rounds = atomic_load(&p.rounds);
    cr_assert_geq(rounds, dtact_test_scaled(200000, 1000));
    /* 200k one-hour timers were armed: none may be left. The bound for a
     * fiber that migrates is the compaction bound (2x the live waits, >= 64). */
    cr_assert_leq(peak, same_worker ? 2u : 130u, "peak timer entries %u after %llu timed parks", peak,
                  (unsigned long long)rounds);
    uint32_t left = timers_now();
    cr_assert_leq(left, same_worker ? 0u : 128u, "%u timer entries outlived their waits", left);
    rt_down(rt);
}

Test(timers, cancelled_entries_are_freed_at_once) { cancelled_entries_case(1); }
Test(timers, cancelled_entries_bounded_when_fibers_migrate) { cancelled_entries_case(0); }

/* --------------------------------------------------- sleeps are never early */

#define SLEEPERS 200
static atomic_int early, done_sleepers;
static _Atomic uint64_t worst_late;

static void sleeper(void *arg) {
    uint64_t ns = (uint64_t)(uintptr_t)arg;
    for (int r = 0; r < 3; r++) {
        uint64_t t0 = dtact_now_ns();
        cr_assert_eq(dtact_sleep_ns(ns), DTACT_OK);
        uint64_t dt = dtact_now_ns() - t0;
        if (dt < ns) atomic_fetch_add(&early, 1);
        uint64_t late = dt - ns, w = atomic_load(&worst_late);
        while (late > w && !atomic_compare_exchange_weak(&worst_late, &w, late)) {
        }
    }
    atomic_fetch_add(&done_sleepers, 1);
}

Test(timers, sleeps_never_return_early) {
    void *rt = rt_up(2, 1024);
    for (int i = 0; i < SLEEPERS; i++) {
        uint64_t ns = 100000 + (uint64_t)(i * 7919 % 5000) * 1000; /* 0.1 .. 5 ms */
        cr_assert(dtact_fiber_launch(sleeper, (void *)(uintptr_t)ns));
    }
    while (atomic_load(&done_sleepers) < SLEEPERS)
        dtact_sleep_ns(1000000);
    cr_assert_eq(atomic_load(&early), 0, "%d sleeps returned early", atomic_load(&early));
    /* Generous: a loaded 2-core CI machine; the benchmark W12 measures lateness. */
    cr_assert_lt(atomic_load(&worst_late), 2000000000ull, "a sleep was %llu ns late",
                 (unsigned long long)atomic_load(&worst_late));
    rt_down(rt);
}

/* ------------------------------------------------------ absolute deadlines */

static void until_fiber(void *arg) {
    (void)arg;
    uint64_t now = dtact_now_ns();
    cr_assert_eq(dtact_sleep_until(now - 1), DTACT_OK); /* past: at once */
    cr_assert_eq(dtact_park_until(now), DTACT_ETIMEDOUT);
    uint64_t d = dtact_now_ns() + 2000000;
    cr_assert_eq(dtact_sleep_until(d), DTACT_OK);
    cr_assert_geq(dtact_now_ns(), d);
    d = dtact_now_ns() + 2000000;
    int rc;
    while ((rc = dtact_park_until(d)) == DTACT_OK) {
    }
    cr_assert_eq(rc, DTACT_ETIMEDOUT);
    cr_assert_geq(dtact_now_ns(), d);
}

static void *slow_result(void *arg) {
    dtact_sleep_ns(20000000);
    return arg;
}

Test(timers, absolute_deadlines) {
    void *rt = rt_up(2, 64);
    run_root(until_fiber, NULL);
    /* a host thread */
    uint64_t d = dtact_now_ns() + 1000000;
    cr_assert_eq(dtact_sleep_until(d), DTACT_OK);
    cr_assert_geq(dtact_now_ns(), d);
    cr_assert_eq(dtact_park_until(d), DTACT_EPERM);
    dtact_handle_t h;
    dtact_spawn_attr_t at;
    dtact_spawn_attr_init(&at);
    at.flags = DTACT_SPAWN_JOINABLE;
    cr_assert_eq(dtact_spawn(&h, slow_result, (void *)0x5a, &at), DTACT_OK);
    void *res = NULL;
    d = dtact_now_ns() + 1000000;
    cr_assert_eq(dtact_join_until(h, d, &res), DTACT_ETIMEDOUT);
    cr_assert_geq(dtact_now_ns(), d);
    cr_assert_eq(dtact_join_until(h, UINT64_MAX, &res), DTACT_OK);
    cr_assert_eq(res, (void *)0x5a);
    rt_down(rt);
}

/* ------------------------------------------------------ very long waits wait */

static atomic_int long_rc = 1;
static void forever_sleeper(void *arg) {
    (void)arg;
    atomic_store(&long_rc, dtact_sleep_ns(UINT64_MAX));
}
static void forever_sleeper_until(void *arg) {
    (void)arg;
    (void)dtact_sleep_until(UINT64_MAX - 1);
}

Test(timers, very_long_sleeps_wait_until_shutdown) {
    void *rt = rt_up(2, 64);
    dtact_handle_t a = dtact_fiber_launch(forever_sleeper, NULL);
    dtact_handle_t b = dtact_fiber_launch(forever_sleeper_until, NULL);
    cr_assert(a && b);
    dtact_sleep_ns(50000000);
    cr_assert_eq(atomic_load(&long_rc), 1, "dtact_sleep_ns(UINT64_MAX) returned %d", atomic_load(&long_rc));
    cr_assert_eq(dtact_is_finished(a), 0);
    cr_assert_eq(dtact_is_finished(b), 0);
    rt_down(rt);
    cr_assert_eq(atomic_load(&long_rc), DTACT_ESHUTDOWN);
}

/* ---------------------------------------------------------------- intervals */

static void interval_fiber(void *arg) {
    (void)arg;
    dtact_interval_t iv;
    cr_assert_eq(dtact_interval_init(&iv, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_interval_init(&iv, 2000000), DTACT_OK);
    uint64_t missed = 99, t0 = dtact_now_ns();
    cr_assert_eq(dtact_interval_tick(&iv, &missed), DTACT_OK); /* immediate */
    cr_assert_eq(missed, 0);
    cr_assert_lt(dtact_now_ns() - t0, 1000000000ull);
    for (int i = 1; i <= 5; i++) {
        cr_assert_eq(dtact_interval_tick(&iv, &missed), DTACT_OK);
        cr_assert_geq(dtact_now_ns(), t0 + (uint64_t)i * 2000000, "tick %d early", i);
    }
    /* Late by ~5 periods: the missed ticks are skipped and counted. */
    uint64_t busy = dtact_now_ns() + 10500000;
    while (dtact_now_ns() < busy) {
    }
    cr_assert_eq(dtact_interval_tick(&iv, &missed), DTACT_OK);
    cr_assert_geq(missed, 4, "missed %llu", (unsigned long long)missed);
}

Test(timers, interval_ticks) {
    void *rt = rt_up(2, 64);
    run_root(interval_fiber, NULL);
    dtact_interval_t iv;
    cr_assert_eq(dtact_interval_tick(NULL, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_interval_init(&iv, 1000000), DTACT_OK);
    uint64_t t0 = dtact_now_ns();
    cr_assert_eq(dtact_interval_tick(&iv, NULL), DTACT_OK);
    cr_assert_eq(dtact_interval_tick(&iv, NULL), DTACT_OK); /* a host thread sleeps a period */
    cr_assert_geq(dtact_now_ns(), t0 + 1000000, "the second tick came early");
    rt_down(rt);
}

/* ------------------------------------------- timers of an idle worker fire */

static atomic_int woke;
static void idle_sleeper(void *arg) {
    (void)arg;
    dtact_sleep_ns(30000000);
    atomic_store(&woke, 1);
}

Test(timers, idle_worker_wakes_for_its_timer) {
    void *rt = rt_up(2, 64);
    dtact_spawn_options_t o = dtact_default_spawn_options();
    o.mAffinity = DTACT_AFFINITY_SAME_CORE;
    uint64_t t0 = dtact_now_ns();
    dtact_handle_t h = dtact_fiber_launch_ext(idle_sleeper, NULL, &o);
    cr_assert(h);
    /* Nothing else runs: both workers go to sleep; the timer must wake one. */
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(atomic_load(&woke), 1);
    uint64_t dt = dtact_now_ns() - t0;
    cr_assert_geq(dt, 30000000ull);
    cr_assert_lt(dt, 3000000000ull);
    rt_down(rt);
}
