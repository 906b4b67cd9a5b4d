/* Description: priorities are honoured on a worker (Critical, High, Normal,
 * Low run in that order when queued together) and Low is never starved by a
 * stream of higher-priority work. */
#include "rt_util.h"

static int order[8];
static atomic_int norder;

static void record(void *arg) { order[atomic_fetch_add(&norder, 1)] = (int)(intptr_t)arg; }

static void spawner(void *arg) {
    (void)arg;
    /* Queued while this root runs, so they compete only by priority. */
    int prios[4] = {DTACT_PRIORITY_LOW, DTACT_PRIORITY_NORMAL, DTACT_PRIORITY_CRITICAL, DTACT_PRIORITY_HIGH};
    dtact_handle_t h[4];
    for (int i = 0; i < 4; i++) {
        dtact_spawn_options_t o = dtact_default_spawn_options();
        o.mPriority = (uint8_t)prios[i];
        h[i] = dtact_fiber_launch_ext(record, (void *)(intptr_t)prios[i], &o);
        cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
    }
    for (int i = 0; i < 4; i++)
        dtact_await(h[i]);
}

Test(priority, higher_first) {
    void *rt = rt_up(1, 64);
    run_root(spawner, NULL);
    cr_assert_eq(atomic_load(&norder), 4);
    cr_assert_eq(order[0], DTACT_PRIORITY_CRITICAL);
    cr_assert_eq(order[1], DTACT_PRIORITY_HIGH);
    cr_assert_eq(order[2], DTACT_PRIORITY_NORMAL);
    cr_assert_eq(order[3], DTACT_PRIORITY_LOW);
    rt_down(rt);
}

static atomic_int low_ran, stop;
static void low_task(void *arg) {
    (void)arg;
    atomic_store(&low_ran, 1);
}
static void high_spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        dtact_yield(); /* a high fiber that never stops yielding */
}

static void starver(void *arg) {
    (void)arg;
    dtact_spawn_options_t hi = dtact_default_spawn_options();
    hi.mPriority = DTACT_PRIORITY_HIGH;
    dtact_handle_t spinners[3];
    for (int i = 0; i < 3; i++)
        spinners[i] = dtact_fiber_launch_ext(high_spinner, NULL, &hi);
    dtact_spawn_options_t lo = dtact_default_spawn_options();
    lo.mPriority = DTACT_PRIORITY_LOW;
    dtact_handle_t l = dtact_fiber_launch_ext(low_task, NULL, &lo);
    cr_assert_eq(dtact_await(l), DTACT_OK); /* returns only if Low got to run */
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        dtact_await(spinners[i]);
}

Test(priority, low_is_not_starved) {
    void *rt = rt_up(1, 64);
    dtact_spawn_options_t hi = dtact_default_spawn_options();
    hi.mPriority = DTACT_PRIORITY_HIGH;
    dtact_handle_t root = dtact_fiber_launch_ext(starver, NULL, &hi);
    cr_assert_eq(dtact_await(root), DTACT_OK);
    cr_assert_eq(atomic_load(&low_ran), 1);
    rt_down(rt);
}
