/* Description: the shutdown policy. Cleanups run exactly once for fibers that
 * ran, fibers cancelled before they started and fibers suspended at shutdown;
 * joiners of cancelled fibers get ECANCELED; blocking calls return
 * ESHUTDOWN; dtact_run returns; destroy frees everything and init works
 * again; a runtime that never ran cancels its queue on destroy. */
#include "rt_util.h"

#define N 200
static atomic_int cleanups[N], ran[N];

static void body(void *arg) {
    intptr_t i = (intptr_t)arg;
    atomic_fetch_add(&ran[i], 1);
}
static void body_cleanup(void *arg) { atomic_fetch_add(&cleanups[(intptr_t)arg], 1); }

static atomic_int sleeper_rc = 1, started;
static void sleeper(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    atomic_store(&sleeper_rc, dtact_sleep_ns(60ull * 1000000000ull)); /* interrupted by shutdown */
}
static atomic_int parker_rc = 1;
static void parker(void *arg) {
    (void)arg;
    int rc;
    atomic_fetch_add(&started, 1);
    do
        rc = dtact_park(-1);
    while (rc == DTACT_OK);
    atomic_store(&parker_rc, rc);
}

static void reset(void) {
    for (int i = 0; i < N; i++) {
        atomic_store(&cleanups[i], 0);
        atomic_store(&ran[i], 0);
    }
}

static void master(void *arg) {
    (void)arg;
    dtact_fiber_launch(sleeper, NULL);
    dtact_fiber_launch(parker, NULL);
    for (intptr_t i = 0; i < N; i++)
        cr_assert_neq(dtact_fiber_launch_with_cleanup(body, (void *)i, body_cleanup), DTACT_INVALID_HANDLE);
    while (atomic_load(&started) < 2)
        dtact_yield(); /* both are suspended (or about to be) */
    dtact_shutdown();  /* from a fiber: dtact_run returns in main */
}

Test(lifecycle, cleanup_exactly_once_across_shutdown) {
    reset();
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt);
    dtact_fiber_launch(master, NULL);
    cr_assert_eq(dtact_run(rt), DTACT_OK);
    int nran = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&cleanups[i]), 1, "cleanup %d ran %d times", i, atomic_load(&cleanups[i]));
        cr_assert_leq(atomic_load(&ran[i]), 1);
        nran += atomic_load(&ran[i]);
    }
    cr_assert_eq(atomic_load(&sleeper_rc), DTACT_ESHUTDOWN);
    cr_assert_eq(atomic_load(&parker_rc), DTACT_ESHUTDOWN);
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_eq(st.completed + st.cancelled, st.spawned);
    cr_assert_eq(st.cancelled, (uint64_t)(N - nran));
    cr_assert_eq(st.contexts_in_use, 0);
    cr_assert_eq(st.stacks_in_use, 0);
    cr_assert_eq(dtact_run(rt), DTACT_ESHUTDOWN);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    /* and again */
    rt = dtact_init(&cfg);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    run_root(body, (void *)0);
    rt_down(rt);
}

static void *never(void *arg) { return arg; }

Test(lifecycle, joiners_of_cancelled_fibers_get_ecanceled) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    void *rt = dtact_init(&cfg);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t h;
    cr_assert_eq(dtact_spawn(&h, never, NULL, &a), DTACT_OK);
    cr_assert_eq(dtact_shutdown(), DTACT_OK); /* before the workers start: h never runs */
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    cr_assert_eq(dtact_join(h, -1, NULL), DTACT_ECANCELED);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

Test(lifecycle, never_run_runtime_cancels_on_destroy) {
    reset();
    void *rt = dtact_init(NULL);
    for (intptr_t i = 0; i < 10; i++)
        dtact_fiber_launch_with_cleanup(body, (void *)i, body_cleanup);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(atomic_load(&cleanups[i]), 1);
        cr_assert_eq(atomic_load(&ran[i]), 0);
    }
}

Test(lifecycle, repeated_init_destroy) {
    for (int i = 0; i < 20; i++) {
        void *rt = rt_up(2, 128);
        run_root(body, (void *)0);
        rt_down(rt);
    }
}
