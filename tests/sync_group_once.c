/* Description: dtact_waitgroup_t, dtact_barrier_t, dtact_once_t. Wait group:
 * add below zero is EINVAL with the counter unchanged, overflow, zero wakes
 * every waiter (fibers and threads), timeouts. Barrier: rounds of fibers and
 * threads with exactly one leader per round and everything written before an
 * arrival visible after every return; a party that times out withdraws its
 * arrival; a zero barrier says EINVAL. Once: fn runs exactly once under
 * concurrent callers, every caller returns after fn's effects; a recursive
 * call is EDEADLK; NULL fn is ENULLFN. */
#include "sync_util.h"

/* -------------------------------------------------------------- wait group */
static dtact_waitgroup_t wg;
static atomic_int wg_back;
static void *wg_waiter(void *a) {
    (void)a;
    cr_assert_eq(dtact_waitgroup_wait(&wg), DTACT_OK);
    atomic_fetch_add(&wg_back, 1);
    return NULL;
}
static void wg_waiter_f(void *a) { wg_waiter(a); }
static void wg_doer(void *a) {
    (void)a;
    dtact_sleep_ns(1000000);
    cr_assert_eq(dtact_waitgroup_done(&wg), DTACT_OK);
}

Test(sync_waitgroup, semantics) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_waitgroup_init(&wg), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_wait(&wg), DTACT_OK, "zero: no wait");
    cr_assert_eq(dtact_waitgroup_add(&wg, -1), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_done(&wg), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_timedwait(&wg, 0), DTACT_OK, "the failed adds changed nothing");
    cr_assert_eq(dtact_waitgroup_add(&wg, INT64_MAX), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&wg, 1), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_add(&wg, INT64_MIN), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_add(&wg, -INT64_MAX), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&wg, 3), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&wg, -4), DTACT_EINVAL);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_waitgroup_timedwait(&wg, 10000000), DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 10000000u);
    pthread_t t = su_thread(wg_waiter, NULL);
    dtact_handle_t f[2];
    for (int i = 0; i < 2; i++)
        f[i] = dtact_fiber_launch(wg_waiter_f, NULL);
    su_wait_queued(SU_GQ(&wg), 3);
    cr_assert_eq(dtact_waitgroup_destroy(&wg), DTACT_EBUSY);
    for (int i = 0; i < 3; i++)
        cr_assert_neq(dtact_fiber_launch(wg_doer, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_waitgroup_wait(&wg), DTACT_OK);
    pthread_join(t, NULL);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(dtact_await(f[i]), DTACT_OK);
    cr_assert_eq(atomic_load(&wg_back), 3);
    cr_assert_eq(dtact_waitgroup_destroy(&wg), DTACT_OK);
    rt_down(rt);
}

/* ----------------------------------------------------------------- barrier */
enum { BP = 4 };
static dtact_barrier_t bar;
static uint64_t rounds;
static atomic_int leaders[64];
static uint64_t slot[BP]; /* plain: ordered by the barrier */

static void party(int id) {
    for (uint64_t r = 0; r < rounds; r++) {
        slot[id] = r;
        int rc = dtact_barrier_wait(&bar);
        cr_assert(rc == DTACT_OK || rc == DTACT_BARRIER_LEADER, "barrier: %d", rc);
        if (rc == DTACT_BARRIER_LEADER) atomic_fetch_add(&leaders[r % 64], 1);
        for (int j = 0; j < BP; j++)
            cr_assert_eq(slot[j], r, "party %d sees party %d's round-%llu write missing", id, j, (unsigned long long)r);
        rc = dtact_barrier_wait(&bar); /* nobody writes the next round before everyone has read */
        cr_assert(rc == DTACT_OK || rc == DTACT_BARRIER_LEADER);
    }
}
static void party_f(void *a) { party((int)(intptr_t)a); }
static void *party_t(void *a) {
    party((int)(intptr_t)a);
    return NULL;
}

Test(sync_barrier, rounds_one_leader_each) {
    void *rt = rt_up(2, 64);
    rounds = 64; /* one leader slot per round */
    cr_assert_eq(dtact_barrier_init(&bar, BP), DTACT_OK);
    dtact_handle_t f[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        f[i] = dtact_fiber_launch(party_f, (void *)(intptr_t)i);
        t[i] = su_thread(party_t, (void *)(intptr_t)(2 + i));
    }
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(dtact_await(f[i]), DTACT_OK);
        pthread_join(t[i], NULL);
    }
    for (int r = 0; r < 64; r++)
        cr_assert_eq(atomic_load(&leaders[r]), 1, "round %d had %d leaders", r, atomic_load(&leaders[r]));
    cr_assert_eq(dtact_barrier_destroy(&bar), DTACT_OK);
    rt_down(rt);
}

static dtact_barrier_t wb;
static atomic_int wb_leaders;
static void *wb_party(void *a) {
    (void)a;
    int rc = dtact_barrier_wait(&wb);
    cr_assert(rc == DTACT_OK || rc == DTACT_BARRIER_LEADER);
    if (rc == DTACT_BARRIER_LEADER) atomic_fetch_add(&wb_leaders, 1);
    return NULL;
}

Test(sync_barrier, timeout_withdraws_and_zero_barrier) {
    dtact_barrier_t z = {{0}};
    cr_assert_eq(dtact_barrier_wait(&z), DTACT_EINVAL, "a zero barrier");
    cr_assert_eq(dtact_barrier_timedwait(&z, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_barrier_init(&z, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_barrier_init(&z, 1), DTACT_OK);
    cr_assert_eq(dtact_barrier_wait(&z), DTACT_BARRIER_LEADER, "one party: always the leader");
    cr_assert_eq(dtact_barrier_init(&wb, 3), DTACT_OK);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_barrier_timedwait(&wb, 20000000), DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 20000000u);
    cr_assert_eq(su_queued(SU_BQ(&wb)), 0u);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        t[i] = su_thread(wb_party, NULL);
    su_wait_queued(SU_BQ(&wb), 2);
    su_sleep_ms(20);
    cr_assert_eq(atomic_load(&wb_leaders), 0, "the withdrawn arrival must not count");
    cr_assert_eq(dtact_barrier_destroy(&wb), DTACT_EBUSY);
    cr_assert_eq(dtact_barrier_wait(&wb), DTACT_BARRIER_LEADER);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&wb_leaders), 0);
    cr_assert_eq(dtact_barrier_destroy(&wb), DTACT_OK);
}

/* -------------------------------------------------------------------- once */
static dtact_once_t once = DTACT_ONCE_INIT;
static atomic_int runs;
static int effect; /* plain: published by once */
static int inner_rc = 1;

static void init_fn(void *a) {
    (void)a;
    atomic_fetch_add(&runs, 1);
    if (dtact_self()) dtact_sleep_ns(5000000);
    else su_sleep_ms(5);
    inner_rc = dtact_once_call(&once, init_fn, NULL); /* recursive: EDEADLK */
    effect = 42;
}
static void caller(void *a) {
    (void)a;
    cr_assert_eq(dtact_once_call(&once, init_fn, NULL), DTACT_OK);
    cr_assert_eq(effect, 42);
    cr_assert_eq(dtact_once_done(&once), 1);
}
static void *caller_t(void *a) {
    caller(a);
    return NULL;
}

Test(sync_once, exactly_once) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_once_done(&once), 0);
    cr_assert_eq(dtact_once_call(&once, NULL, NULL), DTACT_ENULLFN);
    dtact_handle_t f[8];
    pthread_t t[2];
    for (int i = 0; i < 8; i++)
        f[i] = dtact_fiber_launch(caller, NULL);
    for (int i = 0; i < 2; i++)
        t[i] = su_thread(caller_t, NULL);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(dtact_await(f[i]), DTACT_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&runs), 1);
    cr_assert_eq(inner_rc, DTACT_EDEADLK);
    cr_assert_eq(su_queued(SU_OQ(&once)), 0u);
    caller(NULL);
    cr_assert_eq(atomic_load(&runs), 1);
    rt_down(rt);
}
