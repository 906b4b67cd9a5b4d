/* Description: work queued behind a long-running fiber does not wait for it.
 * A fiber that computes without touching its worker's queues (no spawn,
 * yield or wait) holds its worker; the fibers queued behind it are taken by
 * an idle peer (core/sysmon.c, "Early takes", and the stuck-worker take
 * after 1 ms), each runs exactly once, and the owner may come back to its
 * queues at any moment during a take without losing or duplicating a fiber.
 *
 * No timing is asserted: the long fiber computes until the test has seen its
 * queued work complete (or a generous bound passed, which then fails the
 * count), so what completed, completed on the peer while it computed. */
#include <time.h>

#include "rt_util.h"

#define BOUND_NS 10000000000ull /* 10 s: only a failing run waits this long */
#define KIDS 64
#define MAXK 4096

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static atomic_int hits[MAXK];
static atomic_int ran_on[MAXK];
static atomic_int done;
static atomic_int root_w;
static atomic_int failed_round;

static void reset(void) {
    for (int i = 0; i < MAXK; i++) {
        atomic_store(&hits[i], 0);
        atomic_store(&ran_on[i], -1);
    }
    atomic_store(&done, 0);
    atomic_store(&root_w, -1);
}

/* A few microseconds of arithmetic, with no call into the runtime. */
static uint64_t compute(uint64_t x, unsigned iters) {
    for (unsigned k = 0; k < iters; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

static void kid(void *arg) {
    int i = (int)(intptr_t)arg;
    atomic_store(&ran_on[i], dtact_current_worker());
    atomic_fetch_add(&hits[i], 1);
    (void)compute((uint64_t)i, 500);
    atomic_fetch_add(&done, 1);
}

/* Computes (no queue operation) until `done` reaches want or the bound passes; 1 if it did. */
static int compute_until(int want) {
    uint64_t t0 = mono_ns(), x = 1;
    while (atomic_load(&done) < want) {
        x = compute(x, 200);
        if (mono_ns() - t0 > BOUND_NS) return 0;
    }
    cr_assert_neq(x, 0);
    return 1;
}

/* ---- (a) the fibers queued behind a computing root run on the peer, while it computes */

static void computing_root(void *arg) {
    int rounds = (int)(intptr_t)arg;
    dtact_handle_t h[KIDS];
    for (int r = 0; r < rounds; r++) {
        atomic_store(&done, 0);
        int me = dtact_current_worker();
        atomic_store(&root_w, me);
        for (int i = 0; i < KIDS; i++) {
            atomic_store(&hits[i], 0);
            atomic_store(&ran_on[i], -1);
        }
        for (int i = 0; i < KIDS; i++) {
            h[i] = dtact_fiber_launch(kid, (void *)(intptr_t)i);
            cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
        }
        /* Every kid is queued (here, or sent to the peer already); from now on this worker
         * runs nothing else until they are all done. */
        if (!compute_until(KIDS)) {
            atomic_store(&failed_round, r + 1);
            return;
        }
        cr_assert_eq(dtact_current_worker(), me);
        for (int i = 0; i < KIDS; i++) {
            cr_assert_eq(atomic_load(&hits[i]), 1, "round %d: kid %d ran %d times", r, i, atomic_load(&hits[i]));
            cr_assert_neq(atomic_load(&ran_on[i]), me, "round %d: kid %d ran on the computing worker", r, i);
        }
        for (int i = 0; i < KIDS; i++)
            cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    }
}

Test(sched_skew, work_queued_behind_a_computing_fiber_runs_on_the_idle_peer) {
    void *rt = rt_up(2, 4096);
    reset();
    atomic_store(&failed_round, 0);
    run_root(computing_root, (void *)(intptr_t)(int)dtact_test_scaled(20, 4));
    cr_assert_eq(atomic_load(&failed_round), 0, "round %d: only %d of %d queued fibers ran while the root computed",
                 atomic_load(&failed_round), atomic_load(&done), KIDS);
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_gt(st.deflected, 0);
    rt_down(rt);
}

/* ---- (b) the owner comes back to its queues (a spawn) while peers take from them */

static void churning_root(void *arg) {
    int total = (int)(intptr_t)arg;
    int spawned = 0;
    static dtact_handle_t h[MAXK];
    atomic_store(&root_w, dtact_current_worker());
    uint64_t t0 = mono_ns(), x = 1;
    while (atomic_load(&done) < total) {
        if (spawned < total) {
            /* a burst, then a stretch of computing long enough for a take to begin */
            int burst = spawned % 7 + 1;
            for (int b = 0; b < burst && spawned < total; b++, spawned++) {
                h[spawned] = dtact_fiber_launch(kid, (void *)(intptr_t)spawned);
                cr_assert_neq(h[spawned], DTACT_INVALID_HANDLE);
            }
        }
        x = compute(x, 1000u + (unsigned)(spawned % 13) * 997u);
        if (mono_ns() - t0 > BOUND_NS) {
            atomic_store(&failed_round, 1);
            return;
        }
    }
    for (int i = 0; i < total; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    cr_assert_neq(x, 0);
}

Test(sched_skew, every_fiber_runs_once_when_the_owner_spawns_during_takes) {
    int workers[] = {2, 4};
    for (unsigned k = 0; k < sizeof workers / sizeof workers[0]; k++) {
        void *rt = rt_up((uint32_t)workers[k], 8192);
        reset();
        atomic_store(&failed_round, 0);
        int total = (int)dtact_test_scaled(2000, 200);
        if (total > MAXK) total = MAXK;
        run_root(churning_root, (void *)(intptr_t)total);
        cr_assert_eq(atomic_load(&failed_round), 0, "W=%d: only %d of %d fibers ran", workers[k], atomic_load(&done),
                     total);
        for (int i = 0; i < total; i++)
            cr_assert_eq(atomic_load(&hits[i]), 1, "W=%d: fiber %d ran %d times", workers[k], i, atomic_load(&hits[i]));
        rt_down(rt);
    }
}

/* ---- (c) a skewed batch: a few fibers compute 100x longer; the root joins all */

#define BATCH 2000

static void *skew_kid(void *arg) {
    int i = (int)(intptr_t)arg;
    atomic_fetch_add(&hits[i], 1);
    uint64_t x = compute((uint64_t)i + 1, i % 100 == 37 ? 100000u : 1000u);
    return (void *)(uintptr_t)(x | 1);
}

static void skew_root(void *arg) {
    int n = (int)(intptr_t)arg;
    static dtact_handle_t h[BATCH];
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    for (int i = 0; i < n; i++)
        cr_assert_eq(dtact_spawn(&h[i], skew_kid, (void *)(intptr_t)i, &a), DTACT_OK);
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        cr_assert_eq(dtact_join(h[i], -1, &r), DTACT_OK);
        cr_assert_eq((uintptr_t)r & 1u, 1u, "fiber %d", i);
    }
}

Test(sched_skew, a_skewed_batch_runs_every_fiber_once) {
    void *rt = rt_up(2, 8192);
    reset();
    int n = (int)dtact_test_scaled(BATCH, 300);
    if (n > BATCH) n = BATCH;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < n; i++)
            atomic_store(&hits[i], 0);
        run_root(skew_root, (void *)(intptr_t)n);
        for (int i = 0; i < n; i++)
            cr_assert_eq(atomic_load(&hits[i]), 1, "round %d: fiber %d ran %d times", round, i, atomic_load(&hits[i]));
    }
    rt_down(rt);
}
