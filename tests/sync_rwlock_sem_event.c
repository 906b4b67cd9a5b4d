/* Description: dtact_rwlock_t, dtact_sem_t, dtact_event_t semantics.
 * rwlock: readers and writers (fibers and threads) keep a two-field invariant
 * under contention; phase fairness: with a writer holding and readers R1 R2,
 * writer W, reader R3 queued in that order, the unlock lets R1 and R2 hold
 * together, then W, then R3; a waiting writer stops new readers; unlock of an
 * unheld lock is EPERM. Semaphore: FIFO hand-off (post(2) wakes exactly the
 * two oldest waiters, trywait cannot take a permit owed to a waiter), overflow.
 * Event: manual (set wakes all, stays set, reset) and auto reset (one waiter
 * per set, or one later wait), timeouts. */
#include "sync_util.h"

/* ----------------------------------------------------------- rwlock stress */
static dtact_rwlock_t rl = DTACT_RWLOCK_INIT;
static uint64_t fa, fb; /* plain; writers keep fa == fb */
static uint64_t rw_iters;

static void rw_work(int who) {
    for (uint64_t i = 0; i < rw_iters; i++) {
        if ((i + (uint64_t)who) % 8 == 0) {
            cr_assert_eq(i % 16 ? dtact_rwlock_wrlock(&rl) : dtact_rwlock_timedwrlock(&rl, -1), DTACT_OK);
            fa++;
            fb++;
        } else {
            cr_assert_eq(i % 3 ? dtact_rwlock_rdlock(&rl) : dtact_rwlock_rdlock_until(&rl, UINT64_MAX), DTACT_OK);
            cr_assert_eq(fa, fb, "a reader saw a writer's half-done update");
        }
        cr_assert_eq(dtact_rwlock_unlock(&rl), DTACT_OK);
    }
}
static void rw_fiber(void *a) { rw_work((int)(intptr_t)a); }
static void *rw_thread(void *a) {
    rw_work((int)(intptr_t)a);
    return NULL;
}

Test(sync_rwlock, readers_writers_invariant) {
    void *rt = rt_up(2, 64);
    rw_iters = dtact_test_scaled(40000, 200);
    dtact_handle_t h[6];
    for (int i = 0; i < 6; i++)
        h[i] = dtact_fiber_launch(rw_fiber, (void *)(intptr_t)i);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        t[i] = su_thread(rw_thread, (void *)(intptr_t)(6 + i));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(fa, fb);
    cr_assert_eq(dtact_rwlock_unlock(&rl), DTACT_EPERM);
    cr_assert_eq(dtact_rwlock_destroy(&rl), DTACT_OK);
    rt_down(rt);
}

/* ---------------------------------------------------------- phase fairness */
static dtact_rwlock_t pl = DTACT_RWLOCK_INIT;
static atomic_int inside, seq, arrived;
static int got[4]; /* order of entry: R1=0 R2=1 W=2 R3=3 */

static void *phase_reader(void *a) {
    int id = (int)(intptr_t)a;
    cr_assert_eq(dtact_rwlock_rdlock(&pl), DTACT_OK);
    got[id] = atomic_fetch_add(&seq, 1);
    atomic_fetch_add(&inside, 1);
    atomic_fetch_add(&arrived, 1);
    if (id < 2) { /* R1 and R2 must hold together: each waits for the other inside */
        uint64_t end = su_now() + 10000000000ull;
        while (atomic_load(&arrived) < 2)
            cr_assert_lt(su_now(), end, "R1 and R2 were not granted together");
    }
    atomic_fetch_sub(&inside, 1);
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_OK);
    return NULL;
}
static void *phase_writer(void *a) {
    (void)a;
    cr_assert_eq(dtact_rwlock_wrlock(&pl), DTACT_OK);
    cr_assert_eq(atomic_load(&inside), 0, "a writer shares the lock");
    got[2] = atomic_fetch_add(&seq, 1);
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_OK);
    return NULL;
}

Test(sync_rwlock, phase_fair_order) {
    cr_assert_eq(dtact_rwlock_wrlock(&pl), DTACT_OK);
    cr_assert_eq(dtact_rwlock_tryrdlock(&pl), DTACT_EBUSY);
    cr_assert_eq(dtact_rwlock_trywrlock(&pl), DTACT_EBUSY);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_rwlock_timedrdlock(&pl, 10000000), DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 10000000u);
    cr_assert_eq(dtact_rwlock_wrlock_until(&pl, su_now() + 5000000), DTACT_ETIMEDOUT);
    pthread_t t[4];
    t[0] = su_thread(phase_reader, (void *)0);
    su_wait_queued(SU_RQ(&pl), 1);
    t[1] = su_thread(phase_reader, (void *)1);
    su_wait_queued(SU_RQ(&pl), 2);
    t[2] = su_thread(phase_writer, NULL);
    su_wait_queued(SU_RQ(&pl), 3);
    t[3] = su_thread(phase_reader, (void *)3);
    su_wait_queued(SU_RQ(&pl), 4);
    cr_assert_eq(dtact_rwlock_destroy(&pl), DTACT_EBUSY);
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_OK);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_lt(got[0], 2);
    cr_assert_lt(got[1], 2);
    cr_assert_eq(got[2], 2, "the writer must come after R1 R2");
    cr_assert_eq(got[3], 3, "R3 queued after the writer");
    /* a waiting writer stops new readers */
    cr_assert_eq(dtact_rwlock_rdlock(&pl), DTACT_OK);
    cr_assert_eq(dtact_rwlock_tryrdlock(&pl), DTACT_OK);
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_OK);
    pthread_t w = su_thread(phase_writer, NULL);
    su_wait_queued(SU_RQ(&pl), 1);
    cr_assert_eq(dtact_rwlock_tryrdlock(&pl), DTACT_EBUSY, "a queued writer must stop new readers");
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_OK);
    pthread_join(w, NULL);
    cr_assert_eq(dtact_rwlock_unlock(&pl), DTACT_EPERM);
    cr_assert_eq(dtact_rwlock_destroy(&pl), DTACT_OK);
}

/* A writer that times out in front of readers lets them in (they were only held back by it). */
static void *timed_writer(void *a) {
    cr_assert_eq(dtact_rwlock_timedwrlock(a, 30000000), DTACT_ETIMEDOUT);
    return NULL;
}
static void *plain_reader(void *a) {
    cr_assert_eq(dtact_rwlock_rdlock(a), DTACT_OK);
    cr_assert_eq(dtact_rwlock_unlock(a), DTACT_OK);
    return NULL;
}
Test(sync_rwlock, departed_writer_releases_readers) {
    dtact_rwlock_t l;
    cr_assert_eq(dtact_rwlock_init(&l), DTACT_OK);
    cr_assert_eq(dtact_rwlock_rdlock(&l), DTACT_OK);
    pthread_t w = su_thread(timed_writer, &l);
    su_wait_queued(SU_RQ(&l), 1);
    pthread_t r = su_thread(plain_reader, &l);
    pthread_join(w, NULL);
    pthread_join(r, NULL); /* got in while we still hold our read lock */
    cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_OK);
    cr_assert_eq(dtact_rwlock_destroy(&l), DTACT_OK);
}

/* --------------------------------------------------------------- semaphore */
static dtact_sem_t fs;
static atomic_int sem_done[4];
static void sem_waiter(void *a) {
    cr_assert_eq(dtact_sem_wait(&fs), DTACT_OK);
    atomic_store(&sem_done[(intptr_t)a], 1);
}
static void *sem_waiter_t(void *a) {
    sem_waiter(a);
    return NULL;
}
static int sem_count_done(void) {
    int n = 0;
    for (int i = 0; i < 4; i++)
        n += atomic_load(&sem_done[i]);
    return n;
}

Test(sync_sem, fifo_handoff_no_steal) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_sem_init(&fs, 0), DTACT_OK);
    cr_assert_eq(dtact_sem_trywait(&fs), DTACT_EBUSY);
    cr_assert_eq(dtact_sem_timedwait(&fs, 0), DTACT_ETIMEDOUT);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_sem_timedwait(&fs, 10000000), DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 10000000u);
    pthread_t t[2];
    dtact_handle_t f[2];
    for (int i = 0; i < 4; i++) {
        if (i % 2) f[i / 2] = dtact_fiber_launch(sem_waiter, (void *)(intptr_t)i);
        else t[i / 2] = su_thread(sem_waiter_t, (void *)(intptr_t)i);
        su_wait_queued(SU_SQ(&fs), (uint32_t)i + 1);
    }
    cr_assert_eq(dtact_sem_destroy(&fs), DTACT_EBUSY);
    cr_assert_eq(dtact_sem_post(&fs, 2), DTACT_OK);
    cr_assert_eq(dtact_sem_trywait(&fs), DTACT_EBUSY, "trywait took a permit handed to a waiter");
    cr_assert_eq(dtact_sem_value(&fs), 0);
    uint64_t end = su_now() + 10000000000ull;
    while (sem_count_done() < 2)
        cr_assert_lt(su_now(), end);
    su_sleep_ms(20);
    cr_assert_eq(sem_count_done(), 2);
    cr_assert(atomic_load(&sem_done[0]) && atomic_load(&sem_done[1]), "the two oldest waiters go first");
    cr_assert_eq(dtact_sem_post(&fs, 3), DTACT_OK);
    pthread_join(t[1], NULL);
    cr_assert_eq(dtact_await(f[1]), DTACT_OK);
    pthread_join(t[0], NULL);
    cr_assert_eq(dtact_await(f[0]), DTACT_OK);
    cr_assert_eq(dtact_sem_value(&fs), 1);
    cr_assert_eq(dtact_sem_trywait(&fs), DTACT_OK);
    cr_assert_eq(dtact_sem_trywait(&fs), DTACT_EBUSY);
    cr_assert_eq(dtact_sem_destroy(&fs), DTACT_OK);
    rt_down(rt);
}

Test(sync_sem, overflow) {
    dtact_sem_t s = DTACT_SEM_INIT;
    cr_assert_eq(dtact_sem_value(&s), 0);
    cr_assert_eq(dtact_sem_init(&s, 0x80000000u), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_init(&s, 0x7fffffffu), DTACT_OK);
    cr_assert_eq(dtact_sem_post(&s, 1), DTACT_EINVAL);
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_value(&s), 0x7fffffff, "a failing post has no effect");
    cr_assert_eq(dtact_sem_init(&s, 5), DTACT_OK);
    cr_assert_eq(dtact_sem_post(&s, 0x7fffffffu), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_post(&s, 0xffffffffu), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_post(&s, 0), DTACT_OK);
    cr_assert_eq(dtact_sem_value(&s), 5);
    cr_assert_eq(dtact_sem_wait(&s), DTACT_OK);
    cr_assert_eq(dtact_sem_value(&s), 4);
}

/* ------------------------------------------------------------------- event */
static dtact_event_t ev;
static atomic_int ev_woken;
static void *ev_waiter(void *a) {
    (void)a;
    cr_assert_eq(dtact_event_wait(&ev), DTACT_OK);
    atomic_fetch_add(&ev_woken, 1);
    return NULL;
}
static void ev_waiter_f(void *a) { ev_waiter(a); }

static void wait_woken(int n) {
    uint64_t end = su_now() + 10000000000ull;
    while (atomic_load(&ev_woken) < n)
        cr_assert_lt(su_now(), end);
    su_sleep_ms(20);
    cr_assert_eq(atomic_load(&ev_woken), n);
}

Test(sync_event, manual_and_auto) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_event_init(&ev, 7, 0), DTACT_EINVAL);
    /* manual */
    cr_assert_eq(dtact_event_init(&ev, DTACT_EVENT_MANUAL_RESET, 1), DTACT_OK);
    cr_assert_eq(dtact_event_wait(&ev), DTACT_OK);
    cr_assert_eq(dtact_event_trywait(&ev), DTACT_OK, "manual: stays set");
    cr_assert_eq(dtact_event_reset(&ev), DTACT_OK);
    cr_assert_eq(dtact_event_trywait(&ev), DTACT_EBUSY);
    uint64_t t0 = su_now();
    cr_assert_eq(dtact_event_timedwait(&ev, 10000000), DTACT_ETIMEDOUT);
    SU_ASSERT_WAITED(t0, 10000000u);
    pthread_t t[2];
    dtact_handle_t f[2];
    for (int i = 0; i < 2; i++) {
        t[i] = su_thread(ev_waiter, NULL);
        f[i] = dtact_fiber_launch(ev_waiter_f, NULL);
    }
    su_wait_queued(SU_EQ(&ev), 4);
    cr_assert_eq(dtact_event_destroy(&ev), DTACT_EBUSY);
    cr_assert_eq(dtact_event_set(&ev), DTACT_OK);
    wait_woken(4);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(dtact_await(f[i]), DTACT_OK);
    }
    cr_assert_eq(dtact_event_wait(&ev), DTACT_OK);
    cr_assert_eq(dtact_event_destroy(&ev), DTACT_OK);
    /* auto */
    atomic_store(&ev_woken, 0);
    cr_assert_eq(dtact_event_init(&ev, DTACT_EVENT_AUTO_RESET, 0), DTACT_OK);
    cr_assert_eq(dtact_event_set(&ev), DTACT_OK);
    cr_assert_eq(dtact_event_set(&ev), DTACT_OK); /* does not accumulate */
    cr_assert_eq(dtact_event_trywait(&ev), DTACT_OK);
    cr_assert_eq(dtact_event_trywait(&ev), DTACT_EBUSY, "auto: one set, one wait");
    for (int i = 0; i < 2; i++) {
        t[i] = su_thread(ev_waiter, NULL);
        f[i] = dtact_fiber_launch(ev_waiter_f, NULL);
    }
    su_wait_queued(SU_EQ(&ev), 4);
    for (int k = 1; k <= 4; k++) {
        cr_assert_eq(dtact_event_set(&ev), DTACT_OK);
        wait_woken(k);
    }
    cr_assert_eq(dtact_event_trywait(&ev), DTACT_EBUSY, "every set was consumed by a waiter");
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(dtact_await(f[i]), DTACT_OK);
    }
    dtact_event_t z = DTACT_EVENT_INIT;
    cr_assert_eq(dtact_event_trywait(&z), DTACT_EBUSY);
    cr_assert_eq(dtact_event_init(&z, DTACT_EVENT_AUTO_RESET, 1), DTACT_OK);
    cr_assert_eq(dtact_event_wait(&z), DTACT_OK);
    cr_assert_eq(dtact_event_timedwait(&z, 0), DTACT_ETIMEDOUT);
    rt_down(rt);
}
