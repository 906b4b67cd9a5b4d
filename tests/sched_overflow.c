/* Description: the overflow (core/mesh.c, rule 6). A root that spawns far
 * more fibers than the watermark, mixing fibers that may go to the overflow
 * (Normal, affinity Any) with fibers that may not (High, SameCore), runs each
 * exactly once with its cleanup exactly once, on 1 and on 2 workers; a
 * shutdown with a full overflow cancels what never ran, cleanups still run
 * exactly once, and every record and stack is released. */
#include "rt_util.h"

#define WIDE 30000
static atomic_int ran[WIDE], cleaned[WIDE];
static atomic_int total;

static void count(void *arg) {
    atomic_fetch_add(&ran[(intptr_t)arg], 1);
    atomic_fetch_add(&total, 1);
}
static void count_cleanup(void *arg) { atomic_fetch_add(&cleaned[(intptr_t)arg], 1); }

static void reset(void) {
    for (int i = 0; i < WIDE; i++) {
        atomic_store(&ran[i], 0);
        atomic_store(&cleaned[i], 0);
    }
    atomic_store(&total, 0);
}

static int spawn_mixed(intptr_t i) {
    dtact_spawn_options_t o = dtact_default_spawn_options();
    if (i % 4 == 3) o.mPriority = DTACT_PRIORITY_HIGH;
    if (i % 7 == 6) o.mAffinity = DTACT_AFFINITY_SAME_CORE;
    return dtact_fiber_launch_with_cleanup_ext(count, (void *)i, count_cleanup, &o) != DTACT_INVALID_HANDLE;
}

static void wide_root(void *arg) {
    int n = (int)(intptr_t)arg;
    for (intptr_t i = 0; i < n; i++)
        cr_assert(spawn_mixed(i), "launch %d: %s", (int)i, dtact_strerror(dtact_last_error()));
    while (atomic_load(&total) < n)
        dtact_yield();
}

static void wide(uint32_t workers) {
    reset();
    int n = (int)dtact_test_scaled(WIDE, 1);
    void *rt = rt_up(workers, WIDE + 1024);
    run_root(wide_root, (void *)(intptr_t)n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&ran[i]), 1, "fiber %d ran %d times", i, atomic_load(&ran[i]));
        cr_assert_eq(atomic_load(&cleaned[i]), 1, "cleanup %d ran %d times", i, atomic_load(&cleaned[i]));
    }
    /* The root's own completion is counted just after its joiner is released. */
    dtact_stats_t st;
    for (int tries = 0; tries < 1000; tries++) {
        cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
        if (st.completed == st.spawned) break;
        dtact_sleep_ns(1000000);
    }
    cr_assert_eq(st.completed, st.spawned);
    if (workers > 1) cr_assert_gt(st.chunks_moved, 0, "a second worker got no work");
    rt_down(rt);
}

Test(overflow, wide_spawn_runs_each_once_1_worker) { wide(1); }
Test(overflow, wide_spawn_runs_each_once_2_workers) { wide(2); }

static void shutdown_root(void *arg) {
    int n = (int)(intptr_t)arg;
    for (intptr_t i = 0; i < n; i++)
        cr_assert(spawn_mixed(i));
    dtact_shutdown(); /* most of them are still in the overflow */
}

static void shutdown_with_overflow(uint32_t workers) {
    reset();
    int n = (int)dtact_test_scaled(WIDE, 1);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = workers;
    cfg.mFiberCapacity = WIDE + 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt);
    cr_assert_neq(dtact_fiber_launch(shutdown_root, (void *)(intptr_t)n), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_run(rt), DTACT_OK);
    int nran = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&cleaned[i]), 1, "cleanup %d ran %d times", i, atomic_load(&cleaned[i]));
        cr_assert_leq(atomic_load(&ran[i]), 1);
        nran += atomic_load(&ran[i]);
    }
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_eq(st.completed + st.cancelled, st.spawned);
    cr_assert_eq(st.cancelled, (uint64_t)(n - nran));
    cr_assert_eq(st.contexts_in_use, 0);
    cr_assert_eq(st.stacks_in_use, 0);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

Test(overflow, shutdown_cancels_the_overflow_1_worker) { shutdown_with_overflow(1); }
Test(overflow, shutdown_cancels_the_overflow_2_workers) { shutdown_with_overflow(2); }
