/* Description: where work runs. CPU-bound fibers spawned with Any from one
 * fiber spread over both workers; SameCore and same-thread fibers never
 * leave the worker they started on; work spawned from a host thread is
 * spread over workers. */
#include "rt_util.h"

#define NTASKS 200
static atomic_int ran_on[2];

static void burn(void *arg) {
    (void)arg;
    volatile uint64_t acc = 0;
    for (uint64_t i = 0; i < 1000000; i++)
        acc += i;
    (void)acc;
    int w = dtact_current_worker();
    cr_assert(w == 0 || w == 1);
    atomic_fetch_add(&ran_on[w], 1);
}

static void fan_out(void *arg) {
    (void)arg;
    dtact_handle_t h[NTASKS];
    for (int i = 0; i < NTASKS; i++)
        h[i] = dtact_fiber_launch(burn, NULL);
    for (int i = 0; i < NTASKS; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
}

Test(placement, any_fibers_spread_over_workers) {
    void *rt = rt_up(2, 1024);
    run_root(fan_out, NULL);
    cr_assert_eq(atomic_load(&ran_on[0]) + atomic_load(&ran_on[1]), NTASKS);
    cr_assert_gt(atomic_load(&ran_on[0]), 0, "worker 0 ran nothing");
    cr_assert_gt(atomic_load(&ran_on[1]), 0, "worker 1 ran nothing");
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_gt(st.chunks_moved, 0);
    rt_down(rt);
}

static atomic_int moved;
static void pinned_body(void *arg) {
    (void)arg;
    int w0 = dtact_current_worker();
    for (int i = 0; i < 200; i++) {
        volatile uint64_t acc = 0;
        for (int k = 0; k < 2000; k++)
            acc += (uint64_t)k;
        (void)acc;
        dtact_yield();
        if (dtact_current_worker() != w0) atomic_store(&moved, 1);
    }
}

static void pin_test(uint8_t affinity, uint8_t switcher) {
    void *rt = rt_up(2, 1024);
    atomic_store(&moved, 0);
    dtact_spawn_options_t o = dtact_default_spawn_options();
    o.mAffinity = affinity;
    o.mSwitcher = switcher;
    dtact_handle_t h[32];
    for (int i = 0; i < 32; i++)
        h[i] = dtact_fiber_launch_ext(pinned_body, NULL, &o);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    cr_assert_eq(atomic_load(&moved), 0, "a pinned fiber changed worker");
    rt_down(rt);
}

Test(placement, same_core_never_moves) { pin_test(DTACT_AFFINITY_SAME_CORE, DTACT_SWITCHER_CROSS_THREAD_FLOAT); }
Test(placement, same_thread_switcher_never_moves) { pin_test(DTACT_AFFINITY_ANY, DTACT_SWITCHER_SAME_THREAD_NO_FLOAT); }

Test(placement, host_spawns_spread) {
    void *rt = rt_up(2, 1024);
    atomic_store(&ran_on[0], 0);
    atomic_store(&ran_on[1], 0);
    dtact_handle_t h[NTASKS];
    for (int i = 0; i < NTASKS; i++)
        h[i] = dtact_fiber_launch(burn, NULL);
    for (int i = 0; i < NTASKS; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    cr_assert_gt(atomic_load(&ran_on[0]), 0);
    cr_assert_gt(atomic_load(&ran_on[1]), 0);
    rt_down(rt);
}
