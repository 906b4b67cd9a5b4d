/* Description: shutdown and the synchronisation primitives. Fibers blocked
 * on every primitive (mutex, condition variable, rwlock read and write,
 * semaphore, manual and auto event, wait group, barrier, once) when
 * dtact_shutdown() is called return DTACT_ESHUTDOWN, each object is left
 * without a waiter (destroy says OK), the condition-variable waiters return
 * with the mutex locked, and every fiber's cleanup ran exactly once. Also:
 * cleanups of fibers cancelled by shutdown run on the worker loop, outside any
 * fiber, where a call that would wait returns EPERM or ESHUTDOWN instead of
 * blocking the worker, and calls that need no wait succeed. */
#include "sync_util.h"

enum { K_MUTEX, K_COND, K_RD, K_WR, K_SEM, K_EV_MANUAL, K_EV_AUTO, K_WG, K_BARRIER, K_ONCE, K_KINDS };
enum { PER_KIND = 3 };

static dtact_mutex_t m, cm;
static dtact_cond_t cv;
static dtact_rwlock_t rl;
static dtact_sem_t sem;
static dtact_event_t evm, eva;
static dtact_waitgroup_t wg;
static dtact_barrier_t bar;
static dtact_once_t once;
static atomic_int rcs[K_KINDS][PER_KIND];
static atomic_int cleanups[K_KINDS * PER_KIND];
static atomic_int cond_relocked;
static atomic_int once_gate, once_running;

static void blocked(void *arg) {
    int idx = (int)(intptr_t)arg, kind = idx / PER_KIND, rc = 0;
    switch (kind) {
    case K_MUTEX: rc = dtact_mutex_lock(&m); break;
    case K_COND:
        cr_assert_eq(dtact_mutex_lock(&cm), DTACT_OK);
        rc = dtact_cond_wait(&cv, &cm);
        /* locked again on every return: nobody else can take it now */
        if (dtact_mutex_trylock(&cm) == DTACT_EBUSY) atomic_fetch_add(&cond_relocked, 1);
        cr_assert_eq(dtact_mutex_unlock(&cm), DTACT_OK);
        break;
    case K_RD: rc = dtact_rwlock_rdlock(&rl); break;
    case K_WR: rc = dtact_rwlock_wrlock(&rl); break;
    case K_SEM: rc = dtact_sem_wait(&sem); break;
    case K_EV_MANUAL: rc = dtact_event_wait(&evm); break;
    case K_EV_AUTO: rc = dtact_event_timedwait(&eva, 60000000000ll); break;
    case K_WG: rc = dtact_waitgroup_wait(&wg); break;
    case K_BARRIER: rc = dtact_barrier_wait(&bar); break;
    default: rc = DTACT_EINVAL; break;
    }
    atomic_store(&rcs[kind][idx % PER_KIND], rc);
}
static void count_cleanup(void *arg) { atomic_fetch_add(&cleanups[(intptr_t)arg], 1); }

static void once_fn(void *a) {
    (void)a;
    atomic_store(&once_running, 1);
    while (!atomic_load(&once_gate))
        su_sleep_ms(1);
}
static void *once_runner(void *a) {
    cr_assert_eq(dtact_once_call(&once, once_fn, a), DTACT_OK);
    return NULL;
}
static void once_waiter(void *arg) {
    int idx = (int)(intptr_t)arg;
    atomic_store(&rcs[K_ONCE][idx % PER_KIND], dtact_once_call(&once, once_fn, NULL));
}

Test(sync_shutdown, blocked_fibers_get_eshutdown) {
    void *rt = rt_up(2, 256);
    cr_assert_eq(dtact_mutex_lock(&m), DTACT_OK);
    cr_assert_eq(dtact_rwlock_wrlock(&rl), DTACT_OK);
    cr_assert_eq(dtact_event_init(&evm, DTACT_EVENT_MANUAL_RESET, 0), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&wg, 1), DTACT_OK);
    cr_assert_eq(dtact_barrier_init(&bar, PER_KIND + 1), DTACT_OK);
    pthread_t runner = su_thread(once_runner, NULL);
    while (!atomic_load(&once_running))
        su_sleep_ms(1);
    dtact__waitq_t *qs[K_KINDS] = {SU_MQ(&m),   SU_CQ(&cv),  SU_RQ(&rl), SU_RQ(&rl),  SU_SQ(&sem),
                                   SU_EQ(&evm), SU_EQ(&eva), SU_GQ(&wg), SU_BQ(&bar), SU_OQ(&once)};
    for (int k = 0; k < K_KINDS; k++) {
        for (int i = 0; i < PER_KIND; i++) {
            intptr_t idx = k * PER_KIND + i;
            atomic_store(&rcs[k][i], 1);
            dtact_handle_t h =
                dtact_fiber_launch_with_cleanup(k == K_ONCE ? once_waiter : blocked, (void *)idx, count_cleanup);
            cr_assert_neq(h, DTACT_INVALID_HANDLE);
        }
        uint32_t want = (k == K_WR) ? 2 * PER_KIND : PER_KIND; /* readers and writers share the queue */
        su_wait_queued(qs[k], want);
    }
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    for (int k = 0; k < K_KINDS; k++)
        for (int i = 0; i < PER_KIND; i++)
            cr_assert_eq(atomic_load(&rcs[k][i]), DTACT_ESHUTDOWN, "kind %d fiber %d returned %d", k, i,
                         atomic_load(&rcs[k][i]));
    for (int i = 0; i < K_KINDS * PER_KIND; i++)
        cr_assert_eq(atomic_load(&cleanups[i]), 1, "cleanup %d ran %d times", i, atomic_load(&cleanups[i]));
    cr_assert_eq(atomic_load(&cond_relocked), PER_KIND, "cond waiters must return with the mutex locked");
    for (int k = 0; k < K_KINDS; k++)
        cr_assert_eq(su_queued(qs[k]), 0u, "kind %d left a waiter", k);
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&m), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&cm), DTACT_OK);
    cr_assert_eq(dtact_cond_destroy(&cv), DTACT_OK);
    cr_assert_eq(dtact_rwlock_unlock(&rl), DTACT_OK);
    cr_assert_eq(dtact_rwlock_destroy(&rl), DTACT_OK);
    cr_assert_eq(dtact_sem_destroy(&sem), DTACT_OK);
    cr_assert_eq(dtact_sem_value(&sem), 0);
    cr_assert_eq(dtact_event_destroy(&evm), DTACT_OK);
    cr_assert_eq(dtact_event_destroy(&eva), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_destroy(&wg), DTACT_OK);
    cr_assert_eq(dtact_barrier_destroy(&bar), DTACT_OK);
    atomic_store(&once_gate, 1);
    pthread_join(runner, NULL);
    cr_assert_eq(dtact_once_done(&once), 1);
    /* the objects still work after the runtime is gone */
    cr_assert_eq(dtact_sem_post(&sem, 1), DTACT_OK);
    cr_assert_eq(dtact_sem_wait(&sem), DTACT_OK);
    cr_assert_eq(dtact_barrier_init(&bar, 1), DTACT_OK);
    cr_assert_eq(dtact_barrier_wait(&bar), DTACT_BARRIER_LEADER);
}

/* --------------------------------------------- cleanups on the worker loop */
enum { CANCELLED = 16 };
static dtact_mutex_t held;
static dtact_sem_t csem;
static dtact_event_t cev;
static dtact_waitgroup_t cwg;
static dtact_barrier_t cbar;
static atomic_int bad, ran_cleanup, ran_body;

static int waits_refused(int rc) { return rc == DTACT_EPERM || rc == DTACT_ESHUTDOWN; }
static void nop(void *a) { (void)a; }

static void loop_cleanup(void *a) {
    (void)a;
    atomic_fetch_add(&ran_cleanup, 1);
    if (dtact_self() != DTACT_INVALID_HANDLE) return; /* ran as a fiber after all: not this test's case */
    dtact_once_t o = DTACT_ONCE_INIT;
    if (dtact_mutex_trylock(&held) != DTACT_EBUSY) atomic_fetch_add(&bad, 1);
    if (!waits_refused(dtact_mutex_lock(&held))) atomic_fetch_add(&bad, 1);
    if (!waits_refused(dtact_sem_wait(&csem))) atomic_fetch_add(&bad, 1);
    if (dtact_sem_post(&csem, 1) != DTACT_OK) atomic_fetch_add(&bad, 1);
    if (dtact_sem_wait(&csem) != DTACT_OK) atomic_fetch_add(&bad, 1); /* a permit: no wait needed */
    if (!waits_refused(dtact_event_wait(&cev))) atomic_fetch_add(&bad, 1);
    if (dtact_event_set(&cev) != DTACT_OK || dtact_event_wait(&cev) != DTACT_OK) atomic_fetch_add(&bad, 1);
    if (!waits_refused(dtact_waitgroup_wait(&cwg))) atomic_fetch_add(&bad, 1);
    if (!waits_refused(dtact_barrier_wait(&cbar))) atomic_fetch_add(&bad, 1);
    if (dtact_once_call(&o, nop, NULL) != DTACT_OK || !dtact_once_done(&o)) atomic_fetch_add(&bad, 1);
}
static void body(void *a) {
    (void)a;
    atomic_fetch_add(&ran_body, 1);
}
static void root(void *a) {
    (void)a;
    for (int i = 0; i < CANCELLED; i++)
        cr_assert_neq(dtact_fiber_launch_with_cleanup(body, NULL, loop_cleanup), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_shutdown(), DTACT_OK); /* they never start: the loop cancels them */
}

Test(sync_shutdown, cleanups_on_the_worker_loop) {
    void *rt = rt_up(1, 64);
    cr_assert_eq(dtact_mutex_lock(&held), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&cwg, 1), DTACT_OK);
    cr_assert_eq(dtact_barrier_init(&cbar, 2), DTACT_OK);
    dtact_handle_t h = dtact_fiber_launch(root, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    (void)dtact_await(h); /* root has spawned and called shutdown */
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(atomic_load(&ran_cleanup), CANCELLED, "cleanups %d, bodies %d", atomic_load(&ran_cleanup),
                 atomic_load(&ran_body));
    cr_assert_eq(atomic_load(&ran_body), 0, "the fibers were meant to be cancelled before they ran");
    cr_assert_eq(atomic_load(&bad), 0, "%d calls misbehaved outside a fiber", atomic_load(&bad));
    cr_assert_eq(su_queued(SU_MQ(&held)), 0u);
    cr_assert_eq(su_queued(SU_BQ(&cbar)), 0u);
    cr_assert_eq(dtact_mutex_unlock(&held), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&held), DTACT_OK);
    cr_assert_eq(dtact_sem_destroy(&csem), DTACT_OK);
    cr_assert_eq(dtact_barrier_destroy(&cbar), DTACT_OK);
}
