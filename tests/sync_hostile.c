/* Description: hostile input and no runtime. Every sync call given a NULL
 * object says DTACT_EINVAL (and sets dtact_last_error); a zero barrier, a
 * negative wait group, semaphore overflow, unlock of an unlocked mutex or
 * rwlock, cond_wait without the mutex held: the documented error, nothing
 * changed. Plain threads in a process that never called dtact_init use every
 * primitive (a producer/consumer over mutex + cond, rwlock, semaphore, events,
 * wait group, barrier, once). */
#include "sync_util.h"

#define EINV(call)                                                                                                     \
    do {                                                                                                               \
        cr_assert_eq((call), DTACT_EINVAL, #call);                                                                     \
        cr_assert_eq(dtact_last_error(), DTACT_EINVAL, #call " must set the last error");                              \
    } while (0)

static void nop(void *a) { (void)a; }

Test(sync_hostile, null_objects) {
    dtact_mutex_t m = DTACT_MUTEX_INIT;
    EINV(dtact_mutex_init(NULL));
    EINV(dtact_mutex_destroy(NULL));
    EINV(dtact_mutex_lock(NULL));
    EINV(dtact_mutex_trylock(NULL));
    EINV(dtact_mutex_timedlock(NULL, 0));
    EINV(dtact_mutex_lock_until(NULL, 0));
    EINV(dtact_mutex_unlock(NULL));
    EINV(dtact_rwlock_init(NULL));
    EINV(dtact_rwlock_destroy(NULL));
    EINV(dtact_rwlock_rdlock(NULL));
    EINV(dtact_rwlock_tryrdlock(NULL));
    EINV(dtact_rwlock_timedrdlock(NULL, 1));
    EINV(dtact_rwlock_rdlock_until(NULL, 1));
    EINV(dtact_rwlock_wrlock(NULL));
    EINV(dtact_rwlock_trywrlock(NULL));
    EINV(dtact_rwlock_timedwrlock(NULL, 1));
    EINV(dtact_rwlock_wrlock_until(NULL, 1));
    EINV(dtact_rwlock_unlock(NULL));
    EINV(dtact_cond_init(NULL));
    EINV(dtact_cond_destroy(NULL));
    EINV(dtact_cond_wait(NULL, &m));
    EINV(dtact_cond_timedwait(NULL, &m, 1));
    EINV(dtact_cond_wait_until(NULL, &m, 1));
    dtact_cond_t c = DTACT_COND_INIT;
    EINV(dtact_cond_wait(&c, NULL));
    EINV(dtact_cond_signal(NULL));
    EINV(dtact_cond_broadcast(NULL));
    EINV(dtact_sem_init(NULL, 0));
    EINV(dtact_sem_destroy(NULL));
    EINV(dtact_sem_wait(NULL));
    EINV(dtact_sem_trywait(NULL));
    EINV(dtact_sem_timedwait(NULL, 1));
    EINV(dtact_sem_wait_until(NULL, 1));
    EINV(dtact_sem_post(NULL, 1));
    EINV(dtact_sem_value(NULL));
    EINV(dtact_event_init(NULL, 0, 0));
    EINV(dtact_event_destroy(NULL));
    EINV(dtact_event_set(NULL));
    EINV(dtact_event_reset(NULL));
    EINV(dtact_event_wait(NULL));
    EINV(dtact_event_trywait(NULL));
    EINV(dtact_event_timedwait(NULL, 1));
    EINV(dtact_event_wait_until(NULL, 1));
    EINV(dtact_waitgroup_init(NULL));
    EINV(dtact_waitgroup_destroy(NULL));
    EINV(dtact_waitgroup_add(NULL, 1));
    EINV(dtact_waitgroup_done(NULL));
    EINV(dtact_waitgroup_wait(NULL));
    EINV(dtact_waitgroup_timedwait(NULL, 1));
    EINV(dtact_waitgroup_wait_until(NULL, 1));
    EINV(dtact_barrier_init(NULL, 1));
    EINV(dtact_barrier_destroy(NULL));
    EINV(dtact_barrier_wait(NULL));
    EINV(dtact_barrier_timedwait(NULL, 1));
    EINV(dtact_barrier_wait_until(NULL, 1));
    EINV(dtact_once_call(NULL, nop, NULL));
    EINV(dtact_once_done(NULL));
}

Test(sync_hostile, bad_arguments_change_nothing) {
    dtact_mutex_t m = DTACT_MUTEX_INIT;
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_EPERM);
    cr_assert_eq(dtact_last_error(), DTACT_EPERM);
    cr_assert_eq(SU_MSTATE(&m), 0u);
    dtact_cond_t c = DTACT_COND_INIT;
    cr_assert_eq(dtact_cond_wait(&c, &m), DTACT_EPERM, "cond_wait without the mutex held");
    cr_assert_eq(dtact_cond_timedwait(&c, &m, 0), DTACT_EPERM);
    cr_assert_eq(dtact_cond_destroy(&c), DTACT_OK);
    cr_assert_eq(dtact_mutex_lock(&m), DTACT_OK);
    cr_assert_eq(dtact_cond_timedwait(&c, &m, 1000000), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_mutex_trylock(&m), DTACT_EBUSY, "cond_timedwait returns with the mutex locked");
    cr_assert_eq(dtact_mutex_unlock(&m), DTACT_OK);
    cr_assert_eq(dtact_cond_destroy(&c), DTACT_OK);
    cr_assert_eq(dtact_mutex_destroy(&m), DTACT_OK);

    dtact_rwlock_t l = DTACT_RWLOCK_INIT;
    cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_EPERM);
    cr_assert_eq(dtact_rwlock_rdlock(&l), DTACT_OK);
    cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_OK);
    cr_assert_eq(dtact_rwlock_unlock(&l), DTACT_EPERM);
    cr_assert_eq(dtact_rwlock_destroy(&l), DTACT_OK);

    dtact_barrier_t b = {{0}};
    cr_assert_eq(dtact_barrier_wait(&b), DTACT_EINVAL);
    cr_assert_eq(dtact_barrier_wait_until(&b, UINT64_MAX), DTACT_EINVAL);
    cr_assert_eq(dtact_barrier_init(&b, 0), DTACT_EINVAL);

    dtact_waitgroup_t g = DTACT_WAITGROUP_INIT;
    cr_assert_eq(dtact_waitgroup_add(&g, -5), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_add(&g, 2), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&g, -3), DTACT_EINVAL);
    cr_assert_eq(dtact_waitgroup_timedwait(&g, 0), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_waitgroup_add(&g, -2), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_timedwait(&g, 0), DTACT_OK);

    dtact_sem_t s;
    cr_assert_eq(dtact_sem_init(&s, 0xffffffffu), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_init(&s, 1), DTACT_OK);
    cr_assert_eq(dtact_sem_post(&s, 0x7fffffffu), DTACT_EINVAL);
    cr_assert_eq(dtact_sem_value(&s), 1);

    dtact_once_t o = DTACT_ONCE_INIT;
    cr_assert_eq(dtact_once_call(&o, NULL, NULL), DTACT_ENULLFN);
    cr_assert_eq(dtact_once_done(&o), 0);
    cr_assert_eq(dtact_once_call(&o, nop, NULL), DTACT_OK);
    cr_assert_eq(dtact_once_call(&o, NULL, NULL), DTACT_ENULLFN);
    cr_assert_eq(dtact_once_done(&o), 1);
    /* a far deadline is still a deadline; a huge relative timeout saturates */
    cr_assert_eq(dtact_sem_wait_until(&s, UINT64_MAX - 1), DTACT_OK);
    cr_assert_eq(dtact_sem_timedwait(&s, 0), DTACT_ETIMEDOUT);
}

/* ------------------------------------------------------- no runtime at all */
enum { NT = 4 };
static dtact_mutex_t qm = DTACT_MUTEX_INIT;
static dtact_cond_t qc = DTACT_COND_INIT;
static int queue_len, consumed; /* under qm */
static dtact_rwlock_t trl = DTACT_RWLOCK_INIT;
static dtact_sem_t ts = DTACT_SEM_INIT;
static dtact_event_t tev; /* manual */
static dtact_waitgroup_t twg = DTACT_WAITGROUP_INIT;
static dtact_barrier_t tb;
static dtact_once_t to = DTACT_ONCE_INIT;
static atomic_int once_runs, leaders;
static uint64_t shared; /* under trl */
static uint64_t per;

static void once_fn(void *a) {
    (void)a;
    atomic_fetch_add(&once_runs, 1);
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    cr_assert_eq(dtact_event_wait(&tev), DTACT_OK);
    cr_assert_eq(dtact_once_call(&to, once_fn, NULL), DTACT_OK);
    for (uint64_t i = 0; i < per; i++) {
        if (id % 2 == 0) { /* producer */
            cr_assert_eq(dtact_mutex_lock(&qm), DTACT_OK);
            queue_len++;
            cr_assert_eq(dtact_cond_signal(&qc), DTACT_OK);
            cr_assert_eq(dtact_mutex_unlock(&qm), DTACT_OK);
        } else { /* consumer */
            cr_assert_eq(dtact_mutex_lock(&qm), DTACT_OK);
            while (queue_len == 0)
                cr_assert_eq(dtact_cond_timedwait(&qc, &qm, 10000000000ll), DTACT_OK, "lost wake-up");
            queue_len--;
            consumed++;
            cr_assert_eq(dtact_mutex_unlock(&qm), DTACT_OK);
        }
        cr_assert_eq(dtact_rwlock_wrlock(&trl), DTACT_OK);
        shared++;
        cr_assert_eq(dtact_rwlock_unlock(&trl), DTACT_OK);
        cr_assert_eq(dtact_sem_post(&ts, 1), DTACT_OK);
        cr_assert_eq(dtact_sem_wait(&ts), DTACT_OK);
    }
    int rc = dtact_barrier_wait(&tb);
    cr_assert(rc == DTACT_OK || rc == DTACT_BARRIER_LEADER);
    if (rc == DTACT_BARRIER_LEADER) atomic_fetch_add(&leaders, 1);
    cr_assert_eq(dtact_waitgroup_done(&twg), DTACT_OK);
    return NULL;
}

Test(sync_hostile, plain_threads_without_runtime) {
    per = dtact_test_scaled(20000, 100);
    cr_assert_eq(dtact_event_init(&tev, DTACT_EVENT_MANUAL_RESET, 0), DTACT_OK);
    cr_assert_eq(dtact_barrier_init(&tb, NT), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_add(&twg, NT), DTACT_OK);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        t[i] = su_thread(worker, (void *)(intptr_t)i);
    su_sleep_ms(5);
    cr_assert_eq(dtact_event_set(&tev), DTACT_OK);
    cr_assert_eq(dtact_waitgroup_wait(&twg), DTACT_OK);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(consumed, (int)(per * NT / 2));
    cr_assert_eq(queue_len, 0);
    cr_assert_eq(shared, per * NT);
    cr_assert_eq(dtact_sem_value(&ts), 0);
    cr_assert_eq(atomic_load(&once_runs), 1);
    cr_assert_eq(atomic_load(&leaders), 1);
    cr_assert_eq(dtact_mutex_destroy(&qm), DTACT_OK);
    cr_assert_eq(dtact_cond_destroy(&qc), DTACT_OK);
    cr_assert_eq(dtact_rwlock_destroy(&trl), DTACT_OK);
}
