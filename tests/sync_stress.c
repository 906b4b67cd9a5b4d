/* Description: timeouts racing wake-ups. Fibers on 2 workers and host threads
 * mix blocking calls with very short timed calls (0-100 us) on one mutex, one
 * rwlock and one semaphore, so that give-ups constantly race unlocks,
 * hand-offs and posts. Afterwards: mutual exclusion held (plain counters),
 * every semaphore permit is accounted for (posted = taken + left), nothing is
 * left queued and each state word is back to its idle value. */
#include "sync_util.h"

static dtact_mutex_t m;
static dtact_rwlock_t l;
static dtact_sem_t s;
static uint64_t in_m, in_w1, in_w2; /* plain: protected by m / by l's write hold */
static atomic_ulong posted, taken, m_ok;
static uint64_t iters;

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void work(int who) {
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(who + 1);
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t x = rng_next(&r);
        int64_t to = (int64_t)(x % 100000); /* 0-100 us */
        int rc;
        switch (x >> 60) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
            rc = (x & 1) ? dtact_mutex_timedlock(&m, to) : dtact_mutex_lock(&m);
            cr_assert(rc == DTACT_OK || rc == DTACT_ETIMEDOUT, "mutex: %d", rc);
            if (rc == DTACT_OK) {
                in_m++;
                cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
                atomic_fetch_add(&m_ok, 1);
            }
            break;
        case 5:
        case 6:
        case 7:
            rc = (x & 1) ? dtact_rwlock_timedwrlock(&l, to) : dtact_rwlock_wrlock(&l);
            cr_assert(rc == DTACT_OK || rc == DTACT_ETIMEDOUT, "wrlock: %d", rc);
            if (rc == DTACT_OK) {
                in_w1++;
                in_w2++;
                cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_OK);
            }
            break;
        case 8:
        case 9:
        case 10:
            rc = (x & 1) ? dtact_rwlock_timedrdlock(&l, to) : dtact_rwlock_tryrdlock(&l);
            cr_assert(rc == DTACT_OK || rc == DTACT_ETIMEDOUT || rc == DTACT_EBUSY, "rdlock: %d", rc);
            if (rc == DTACT_OK) {
                cr_assert_eq(in_w1, in_w2);
                cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_OK);
            }
            break;
        case 11:
        case 12:
            rc = dtact_sem_timedwait(&s, to);
            cr_assert(rc == DTACT_OK || rc == DTACT_ETIMEDOUT, "sem: %d", rc);
            if (rc == DTACT_OK) atomic_fetch_add(&taken, 1);
            break;
        case 13:
            if (dtact_sem_trywait(&s) == DTACT_OK) atomic_fetch_add(&taken, 1);
            break;
        default: {
            uint32_t n = (uint32_t)(x % 3) + 1;
            cr_assert_eq(dtact_sem_post(&s, n), DTACT_OK);
            atomic_fetch_add(&posted, n);
            break;
        }
        }
    }
}

static void work_f(void *a) { work((int)(intptr_t)a); }
static void *work_t(void *a) {
    work((int)(intptr_t)a);
    return NULL;
}

Test(sync_stress, timeouts_race_wakeups) {
    void *rt = rt_up(2, 64);
    iters = dtact_test_scaled(150000, 300);
    enum { F = 6, T = 2 };
    dtact_handle_t h[F];
    for (int i = 0; i < F; i++)
        h[i] = dtact_fiber_launch(work_f, (void *)(intptr_t)i);
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        t[i] = su_thread(work_t, (void *)(intptr_t)(F + i));
    for (int i = 0; i < F; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(in_w1, in_w2);
    cr_assert_eq(in_m, atomic_load(&m_ok), "a lost increment: mutual exclusion broken");
    cr_assert_eq(atomic_load(&posted), atomic_load(&taken) + (unsigned long)dtact_sem_value(&s),
                 "permits: posted %lu, taken %lu, left %d", atomic_load(&posted), atomic_load(&taken),
                 dtact_sem_value(&s));
    cr_assert_eq(su_queued(SU_MQ(&m)), 0u);
    cr_assert_eq(su_queued(SU_RQ(&l)), 0u);
    cr_assert_eq(su_queued(SU_SQ(&s)), 0u);
    cr_assert_eq(SU_MSTATE(&m), 0u, "mutex state left %#x", SU_MSTATE(&m));
    cr_assert_eq(atomic_load(&((dtact__rwlock_t *)(void *)&l)->state), 0u);
    cr_assert_eq(dtact_mutex_destroy(&m), DTACT_OK);
    cr_assert_eq(dtact_rwlock_destroy(&l), DTACT_OK);
    cr_assert_eq(dtact_sem_destroy(&s), DTACT_OK);
    rt_down(rt);
}
