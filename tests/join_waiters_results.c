/* Description: await/join semantics. Many fiber and thread waiters on one
 * fiber all return; joinable fibers hand their result to dtact_join once
 * (then ESTALE); try-join and timeouts; detach; await from fibers and from
 * threads; thousands of fibers awaiting each other in a chain. */
#include <pthread.h>

#include "rt_util.h"

static atomic_int gate, released;

static void gated(void *arg) {
    (void)arg;
    while (!atomic_load(&gate))
        dtact_sleep_ns(100000);
}

static void fiber_waiter(void *arg) {
    dtact_handle_t h = *(dtact_handle_t *)arg;
    cr_assert_eq(dtact_await(h), DTACT_OK);
    atomic_fetch_add(&released, 1);
}

static void *thread_waiter(void *arg) {
    dtact_handle_t h = *(dtact_handle_t *)arg;
    cr_assert_eq(dtact_await(h), DTACT_OK);
    atomic_fetch_add(&released, 1);
    return NULL;
}

Test(join, many_waiters_fibers_and_threads) {
    void *rt = rt_up(2, 256);
    dtact_handle_t target = dtact_fiber_launch(gated, NULL);
    dtact_handle_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = dtact_fiber_launch(fiber_waiter, &target);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, thread_waiter, &target);
    dtact_sleep_ns(20000000);
    cr_assert_eq(atomic_load(&released), 0);
    cr_assert_eq(dtact_is_finished(target), 0);
    atomic_store(&gate, 1);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(dtact_await(w[i]), DTACT_OK);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&released), 20);
    rt_down(rt);
}

static void *square(void *arg) {
    intptr_t v = (intptr_t)arg;
    dtact_yield();
    return (void *)(v * v);
}

static void join_in_fiber(void *arg) {
    (void)arg;
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t h[64];
    for (intptr_t i = 0; i < 64; i++)
        cr_assert_eq(dtact_spawn(&h[i], square, (void *)i, &a), DTACT_OK);
    for (intptr_t i = 0; i < 64; i++) {
        void *r = NULL;
        cr_assert_eq(dtact_join(h[i], -1, &r), DTACT_OK);
        cr_assert_eq((intptr_t)r, i * i);
        cr_assert_eq(dtact_join(h[i], -1, &r), DTACT_ESTALE, "second join must say ESTALE");
    }
}

Test(join, results_from_fibers_and_threads) {
    void *rt = rt_up(2, 256);
    run_root(join_in_fiber, NULL);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t h;
    cr_assert_eq(dtact_spawn(&h, square, (void *)7, &a), DTACT_OK);
    void *r = NULL;
    cr_assert_eq(dtact_join(h, -1, &r), DTACT_OK);
    cr_assert_eq((intptr_t)r, 49);
    /* a finished joinable fiber keeps its result until joined */
    cr_assert_eq(dtact_spawn(&h, square, (void *)9, &a), DTACT_OK);
    while (dtact_is_finished(h) != 1)
        dtact_sleep_ns(100000);
    dtact_sleep_ns(1000000);
    cr_assert_eq(dtact_join(h, 0, &r), DTACT_OK);
    cr_assert_eq((intptr_t)r, 81);
    rt_down(rt);
}

static void parker(void *arg) {
    (void)arg;
    while (!atomic_load(&gate))
        dtact_park(-1);
}

static int timed_rc, try_rc;
static void timed_join(void *arg) {
    dtact_handle_t h = *(dtact_handle_t *)arg;
    try_rc = dtact_join(h, 0, NULL);
    timed_rc = dtact_join(h, 5000000, NULL); /* 5 ms */
}

Test(join, timeouts_from_fiber_and_thread) {
    void *rt = rt_up(2, 256);
    atomic_store(&gate, 0);
    dtact_handle_t p = dtact_fiber_launch(parker, NULL);
    run_root(timed_join, &p);
    cr_assert_eq(try_rc, DTACT_ETIMEDOUT);
    cr_assert_eq(timed_rc, DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_join(p, 0, NULL), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_join(p, 3000000, NULL), DTACT_ETIMEDOUT);
    atomic_store(&gate, 1);
    cr_assert_eq(dtact_unpark(p), DTACT_OK);
    cr_assert_eq(dtact_await(p), DTACT_OK);
    rt_down(rt);
}

Test(join, detach_releases_the_record) {
    void *rt = rt_up(2, 64);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    /* Without detach or join, finished joinable fibers would exhaust the
     * 64-record pool after two rounds (a quarter of it may idle in worker caches). */
    for (int round = 0; round < 8; round++) {
        dtact_handle_t h[32];
        for (int i = 0; i < 32; i++)
            cr_assert_eq(dtact_spawn(&h[i], square, (void *)1, &a), DTACT_OK);
        for (int i = 0; i < 32; i++) {
            if (i % 2) cr_assert_eq(dtact_detach(h[i]), DTACT_OK);
            else cr_assert_eq(dtact_join(h[i], -1, NULL), DTACT_OK);
        }
        for (int i = 0; i < 32; i++)
            cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    }
    /* and without: the pool runs out, with the documented error, after at
     * least the 64 records asked for (the runtime adds what the 2 workers'
     * caches may hold, 64 each, so that 64 can always be live) */
    enum { MOST = 64 + 2 * 64 };
    dtact_handle_t keep[MOST + 1];
    int n = 0, rc;
    while (n <= MOST && (rc = dtact_spawn(&keep[n], square, (void *)1, &a)) == DTACT_OK)
        n++;
    cr_assert_eq(rc, DTACT_EEXHAUSTED, "%d spawns", n);
    cr_assert_geq(n, 64);
    for (int i = 0; i < n; i++)
        cr_assert_eq(dtact_join(keep[i], -1, NULL), DTACT_OK);
    rt_down(rt);
}

/* A chain: fiber i awaits fiber i+1, which was spawned by i. */
static atomic_int chain_done;
static void chain(void *arg) {
    intptr_t depth = (intptr_t)arg;
    if (depth > 0) {
        dtact_handle_t h = dtact_fiber_launch(chain, (void *)(depth - 1));
        cr_assert_neq(h, DTACT_INVALID_HANDLE);
        cr_assert_eq(dtact_await(h), DTACT_OK);
    }
    atomic_fetch_add(&chain_done, 1);
}

Test(join, thousands_awaiting_each_other) {
    void *rt = rt_up(2, 8192);
    run_root(chain, (void *)(intptr_t)3000);
    cr_assert_eq(atomic_load(&chain_done), 3001);
    rt_down(rt);
}

/* Timed joiners racing the end of the fiber they wait for (fibers and host
 * threads): each gets the right result or ETIMEDOUT, never a hang, a lost
 * wake-up or a torn result, so withdrawing a waiter races the finisher
 * taking the waiter list. Whoever succeeds reaps the record: a final join
 * then says ESTALE (as does a joiner that comes after it), or, if every
 * joiner timed out, returns the result. */
static void *spin_then_value(void *arg) {
    uintptr_t spins = (uintptr_t)arg;
    for (volatile uintptr_t i = 0; i < spins; i++) {
    }
    if (spins & 1) dtact_yield();
    return (void *)(spins * 2 + 1);
}

struct race {
    dtact_handle_t h;
    int64_t timeout_ns;
    uintptr_t spins;
    atomic_int ok, timedout, stale;
};

static void race_join(struct race *r) {
    void *res = NULL;
    int rc = dtact_join(r->h, r->timeout_ns, &res);
    if (rc == DTACT_OK) {
        cr_assert_eq((uintptr_t)res, r->spins * 2 + 1, "torn result");
        atomic_fetch_add(&r->ok, 1);
    } else if (rc == DTACT_ESTALE) {
        atomic_fetch_add(&r->stale, 1); /* another joiner got it and reaped first */
    } else {
        cr_assert_eq(rc, DTACT_ETIMEDOUT, "unexpected %s", dtact_strerror(rc));
        atomic_fetch_add(&r->timedout, 1);
    }
}

static void race_fiber(void *arg) { race_join(arg); }
static void *race_thread(void *arg) {
    race_join(arg);
    return NULL;
}

Test(join, timed_joiners_race_the_finish) {
    void *rt = rt_up(2, 1024);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    uint64_t rounds = dtact_test_scaled(600, 1);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int all_timed_out = 0, some_timed_out = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        struct race r = {.spins = (uintptr_t)(seed % 400000), .timeout_ns = (int64_t)((seed >> 20) % 100000) + 1};
        atomic_init(&r.ok, 0);
        atomic_init(&r.timedout, 0);
        atomic_init(&r.stale, 0);
        cr_assert_eq(dtact_spawn(&r.h, spin_then_value, (void *)r.spins, &a), DTACT_OK);
        dtact_handle_t f[3];
        for (int k = 0; k < 3; k++)
            f[k] = dtact_fiber_launch(race_fiber, &r);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, race_thread, &r), 0);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(dtact_await(f[k]), DTACT_OK);
        pthread_join(th, NULL);
        cr_assert_eq(atomic_load(&r.ok) + atomic_load(&r.timedout) + atomic_load(&r.stale), 4);
        if (atomic_load(&r.stale)) cr_assert_geq(atomic_load(&r.ok), 1, "ESTALE only after a successful join");
        some_timed_out += atomic_load(&r.timedout) > 0;
        void *res = NULL;
        int rc = dtact_join(r.h, -1, &res);
        if (atomic_load(&r.ok) == 0) {
            all_timed_out++;
            cr_assert_eq(rc, DTACT_OK);
            cr_assert_eq((uintptr_t)res, r.spins * 2 + 1);
        } else {
            cr_assert_eq(rc, DTACT_ESTALE, "the successful joiner reaps the record");
        }
    }
    cr_log_info("%llu rounds: %d with a timed-out joiner, %d where all timed out", (unsigned long long)rounds,
                some_timed_out, all_timed_out);
    rt_down(rt);
}
