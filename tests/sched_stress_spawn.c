/* Description: no fiber is lost or run twice: 10 million spawns on 2 workers
 * with random fan-out (each fiber spawns 0..3 children until the budget is
 * spent), counted with atomics; also from several host threads at once. */
#include <pthread.h>

#include "rt_util.h"
#include "test_rng.h"

static atomic_ulong budget, ran, spawned;

/* Takes one unit of the spawn budget; 0 when it is spent (never wraps). */
static int take_budget(void) {
    unsigned long b = atomic_load_explicit(&budget, memory_order_relaxed);
    while (b > 0)
        if (atomic_compare_exchange_weak(&budget, &b, b - 1)) return 1;
    return 0;
}

static void node(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg | 1;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    unsigned kids = (unsigned)(test_rng(&seed) % 4);
    for (unsigned k = 0; k < kids; k++) {
        if (!take_budget()) return;
        if (dtact_fiber_launch(node, (void *)(uintptr_t)test_rng(&seed)) == DTACT_INVALID_HANDLE) {
            /* Back-pressure: give the unit back; the root spends it once records free up.
             * (Waiting here instead could livelock: every queued fiber would be a
             * spawner waiting for a record held by another waiting spawner.) */
            cr_assert_eq(dtact_last_error(), DTACT_EEXHAUSTED);
            atomic_fetch_add(&budget, 1);
            return;
        }
        atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
    }
}

static void root(void *arg) {
    /* Keep the tree alive: roots keep spawning until the budget is spent. */
    uint64_t seed = 88172645463325252ull;
    uint64_t total = (uint64_t)(uintptr_t)arg;
    /* Until every unit is spent: a node that took the last unit and then met
     * back-pressure gives it back after the budget read 0, so an empty budget
     * alone does not mean done. */
    while (atomic_load(&spawned) < total) {
        if (!take_budget()) {
            dtact_yield();
            continue;
        }
        while (dtact_fiber_launch(node, (void *)(uintptr_t)test_rng(&seed)) == DTACT_INVALID_HANDLE)
            dtact_yield();
        atomic_fetch_add(&spawned, 1);
    }
}

Test(stress, ten_million_spawns_random_fanout) {
    uint64_t total = dtact_test_scaled(10000000, 1);
#if defined(DTACT_TSAN) || defined(DTACT_ASAN)
    /* the sanitizers make every fiber start and end ~100x dearer: a twentieth,
     * scaled by DTACT_TEST_SCALE a second time */
    total = dtact_test_scaled(total / 20, 1);
#endif
    atomic_store(&budget, total);
    void *rt = rt_up(2, 65536);
    run_root(root, (void *)(uintptr_t)total);
    /* drain: wait until every spawned fiber ran */
    while (atomic_load(&ran) < atomic_load(&spawned))
        dtact_sleep_ns(1000000);
    cr_assert_eq(atomic_load(&spawned), total);
    dtact_sleep_ns(10000000);
    cr_assert_eq(atomic_load(&ran), total, "ran %lu of %lu", atomic_load(&ran), (unsigned long)total);
    /* A fiber counts as completed when its worker retires it, a little after
     * its body (which counted `ran`) returned: on a loaded machine a worker
     * can be preempted in between, so wait for the count (bounded: 20 s). */
    dtact_stats_t st;
    for (int i = 0; i < 20000; i++) {
        dtact_get_stats(rt, &st);
        if (st.completed == total + 1) break;
        dtact_sleep_ns(1000000);
    }
    cr_assert_eq(st.completed, total + 1, "completed %llu of %llu", (unsigned long long)st.completed,
                 (unsigned long long)(total + 1));
    rt_down(rt);
}

static atomic_ulong hran;
static void count(void *arg) {
    (void)arg;
    atomic_fetch_add_explicit(&hran, 1, memory_order_relaxed);
}
static void *host_spawner(void *arg) {
    uint64_t n = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < n; i++) {
        while (dtact_fiber_launch(count, NULL) == DTACT_INVALID_HANDLE) {
            cr_assert_eq(dtact_last_error(), DTACT_EEXHAUSTED);
            dtact_sleep_ns(10000);
        }
    }
    return NULL;
}

Test(stress, host_threads_spawn_concurrently) {
    uint64_t per = dtact_test_scaled(200000, 1);
#if defined(DTACT_TSAN) || defined(DTACT_ASAN)
    per = dtact_test_scaled(per / 20, 1); /* as above: a twentieth, scaled again */
#endif
    void *rt = rt_up(2, 4096);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, host_spawner, (void *)(uintptr_t)per);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    while (atomic_load(&hran) < 4 * per)
        dtact_sleep_ns(1000000);
    dtact_sleep_ns(5000000);
    cr_assert_eq(atomic_load(&hran), 4 * per);
    rt_down(rt);
}
