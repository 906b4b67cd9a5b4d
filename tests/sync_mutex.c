/* Description: dtact_mutex_t. Mutual exclusion of a plain (non-atomic)
 * counter under contention from fibers on 2 workers and host threads
 * together, through every lock call; trylock / timedlock / lock_until
 * semantics; timeouts never early and within a generous bound, and a timed-out
 * waiter leaves nothing behind; the convoy bound: waiters queued behind a held
 * lock acquire in FIFO order while two threads barge with trylock, and once
 * the mutex is in hand-off mode no barger gets the lock between two queued
 * waiters. */
#include <sched.h>

#include "sync_util.h"

/* ------------------------------------------------------ mutual exclusion */
static dtact_mutex_t mx = DTACT_MUTEX_INIT;
static uint64_t counter; /* plain: the mutex alone protects it */
static uint64_t iters;

static void hammer(int who) {
    for (uint64_t i = 0; i < iters; i++) {
        int rc;
        switch ((i + (uint64_t)who) % 4) {
        case 0: rc = dtact_mutex_lock(&mx); break;
        case 1: rc = dtact_mutex_timedlock(&mx, -1); break;
        case 2: rc = dtact_mutex_lock_until(&mx, UINT64_MAX); break;
        default:
            while ((rc = dtact_mutex_trylock(&mx)) == DTACT_EBUSY)
                if (dtact_self()) dtact_yield();
                else sched_yield();
            break;
        }
        cr_assert_eq(rc, DTACT_OK);
        uint64_t v = counter;
        counter = v + 1;
        cr_assert_eq(dtact_mutex_unlock(&mx), DTACT_OK);
    }
}

static void fiber_hammer(void *arg) { hammer((int)(intptr_t)arg); }
static void *thread_hammer(void *arg) {
    hammer((int)(intptr_t)arg);
    return NULL;
}

Test(sync_mutex, exclusion_fibers_and_threads) {
    void *rt = rt_up(2, 256);
    iters = dtact_test_scaled(100000, 200);
    enum { F = 8, T = 2 };
    dtact_handle_t h[F];
    for (int i = 0; i < F; i++) {
        h[i] = dtact_fiber_launch(fiber_hammer, (void *)(intptr_t)i);
        cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
    }
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        t[i] = su_thread(thread_hammer, (void *)(intptr_t)(F + i));
    for (int i = 0; i < F; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(counter, iters * (F + T));
    cr_assert_eq(SU_MSTATE(&mx), 0u, "state word left %#x", SU_MSTATE(&mx));
    cr_assert_eq(dtact_mutex_destroy(&mx), DTACT_OK);
    rt_down(rt);
}

/* ------------------------------------------------------------- semantics */
static void check_timeouts(dtact_mutex_t *m) {
    cr_assert_eq(dtact_mutex_trylock(m), DTACT_EBUSY);
    cr_assert_eq(dtact_last_error(), DTACT_EBUSY);
    cr_assert_eq(dtact_mutex_timedlock(m, 0), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_mutex_lock_until(m, 0), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_mutex_lock_until(m, su_now() - 1), DTACT_ETIMEDOUT);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_mutex_timedlock(m, 20000000), DTACT_ETIMEDOUT);
    uint64_t el = su_now() - t0;
    cr_assert_geq(el, 20000000u, "timedlock returned early: %llu ns", (unsigned long long)el);
    cr_assert_lt(el, 5000000000ull, "timedlock took %llu ns", (unsigned long long)el);
    uint64_t d = su_now() + 15000000;
    cr_assert_eq(dtact_mutex_lock_until(m, d), DTACT_ETIMEDOUT);
    cr_assert_geq(su_now(), d, "lock_until returned before its deadline");
}

static void *holder_thread(void *arg) {
    dtact_mutex_t *m = arg;
    check_timeouts(m);
    return NULL;
}

static void fiber_checks(void *arg) { check_timeouts(arg); }

Test(sync_mutex, try_and_timed_semantics) {
    dtact_mutex_t m;
    cr_assert_eq(dtact_mutex_init(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_EPERM, "unlock of an unlocked mutex");
    cr_assert_eq(dtact_mutex_trylock(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&m), DTACT_EBUSY, "destroy of a locked mutex");
    check_timeouts(&m); /* on this thread, no runtime */
    pthread_join(su_thread(holder_thread, &m), NULL);
    void *rt = rt_up(2, 64);
    run_root(fiber_checks, &m); /* a fiber times out while a thread holds it */
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_EPERM);
    cr_assert_eq(dtact_mutex_timedlock(&m, 0), DTACT_OK, "timedlock(0) of a free mutex");
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
    cr_assert_eq(SU_MSTATE(&m), 0u);
    cr_assert_eq(dtact_mutex_destroy(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_init(&m), DTACT_OK, "reusable after destroy");
    cr_assert_eq(dtact_mutex_lock(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
    rt_down(rt);
}

/* Many timed waiters (fibers and threads) give up together: none is left behind. */
static dtact_mutex_t tm = DTACT_MUTEX_INIT;
static atomic_int timed_out;
static void timed_waiter(void *arg) {
    (void)arg;
    uint64_t t0 = su_now();
    int rc = dtact_mutex_timedlock(&tm, 30000000);
    cr_assert_eq(rc, DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 30000000u);
    atomic_fetch_add(&timed_out, 1);
}
static void *timed_waiter_thread(void *arg) {
    timed_waiter(arg);
    return NULL;
}

Test(sync_mutex, timed_waiters_leave_nothing) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_mutex_lock(&tm), DTACT_OK);
    dtact_handle_t h[6];
    for (int i = 0; i < 6; i++)
        h[i] = dtact_fiber_launch(timed_waiter, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        t[i] = su_thread(timed_waiter_thread, NULL);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&timed_out), 8);
    cr_assert_eq(su_queued(SU_MQ(&tm)), 0u);
    cr_assert_eq(SU_MSTATE(&tm), (uint32_t)DTACT__M_LOCKED, "only LOCKED may remain: %#x", SU_MSTATE(&tm));
    cr_assert_eq(dtact_mutex_unlock(&tm), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&tm), DTACT_OK);
    rt_down(rt);
}

/* ----------------------------------------------------------------- convoy
 * The bound asserted: the queued waiters acquire in exactly their queue order
 * (a woken waiter that loses re-queues at the front), every one of them gets
 * the lock while two threads barge continuously (trylock in a loop), and from the moment one of
 * them holds the lock in hand-off mode the next queued waiter gets it directly:
 * zero barger acquisitions between consecutive waiters. (Each waiter has
 * waited > 1 ms when it is first woken, so its first lost race switches the
 * mutex to hand-off: bargers can overtake a waiter during one wake-up at most.) */
enum { CW = 6 };
static dtact_mutex_t cm = DTACT_MUTEX_INIT;
static atomic_int c_stop, c_pos;
static uint64_t barges; /* under cm */
static int order[CW];
static uint64_t barges_at[CW];
static int handoff_at[CW];

static atomic_int c_tries;
/* A barger never queues: it retries trylock, so it competes with every woken waiter. */
static void *barger(void *arg) {
    (void)arg;
    while (!atomic_load(&c_stop)) {
        atomic_fetch_add(&c_tries, 1);
        if (dtact_mutex_trylock(&cm) == DTACT_OK) {
            barges++;
            cr_assert_eq(dtact_mutex_unlock(&cm), DTACT_OK);
        }
    }
    return NULL;
}

static void convoy_waiter(int id) {
    cr_assert_eq(dtact_mutex_lock(&cm), DTACT_OK);
    int p = atomic_fetch_add(&c_pos, 1);
    order[p] = id;
    barges_at[p] = barges;
    handoff_at[p] = (SU_MSTATE(&cm) & DTACT__M_HANDOFF) != 0;
    cr_assert_eq(dtact_mutex_unlock(&cm), DTACT_OK);
}
static void *convoy_thread(void *arg) {
    convoy_waiter((int)(intptr_t)arg);
    return NULL;
}
static void convoy_fiber(void *arg) { convoy_waiter((int)(intptr_t)arg); }

Test(sync_mutex, convoy_fifo_and_handoff_bound) {
    void *rt = rt_up(2, 64);
    int rounds = (int)dtact_test_scaled(20, 3);
    for (int r = 0; r < rounds; r++) {
        atomic_store(&c_stop, 0);
        atomic_store(&c_pos, 0);
        cr_assert_eq(dtact_mutex_lock(&cm), DTACT_OK);
        pthread_t wt[CW];
        dtact_handle_t wf[CW];
        for (int i = 0; i < CW; i++) { /* alternately a thread and a fiber, each queued before the next starts */
            if (i % 2) wf[i] = dtact_fiber_launch(convoy_fiber, (void *)(intptr_t)i);
            else wt[i] = su_thread(convoy_thread, (void *)(intptr_t)i);
            su_wait_queued(SU_MQ(&cm), (uint32_t)i + 1);
        }
        pthread_t b[2];
        for (int i = 0; i < 2; i++)
            b[i] = su_thread(barger, NULL);
        atomic_store(&c_tries, 0);
        while (atomic_load(&c_tries) < 1000) /* both bargers are hammering */
            sched_yield();
        su_sleep_ms(2); /* every waiter has now waited > 1 ms */
        cr_assert_eq(dtact_mutex_unlock(&cm), DTACT_OK);
        for (int i = 0; i < CW; i++) {
            if (i % 2) cr_assert_eq(dtact_await(wf[i]), DTACT_OK);
            else pthread_join(wt[i], NULL);
        }
        atomic_store(&c_stop, 1);
        for (int i = 0; i < 2; i++)
            pthread_join(b[i], NULL);
        for (int i = 0; i < CW; i++)
            cr_assert_eq(order[i], i, "round %d: position %d went to waiter %d (not FIFO)", r, i, order[i]);
        for (int i = 1; i < CW; i++)
            if (handoff_at[i - 1])
                cr_assert_eq(barges_at[i], barges_at[i - 1],
                             "round %d: a barger got the lock between waiters %d and %d in hand-off mode", r, i - 1, i);
        cr_assert_eq(su_queued(SU_MQ(&cm)), 0u);
        cr_assert_eq(SU_MSTATE(&cm), 0u, "state word left %#x", SU_MSTATE(&cm));
    }
    rt_down(rt);
}
