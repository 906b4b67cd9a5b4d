/* core/sync_cond.c -- dtact_cond_t: a condition variable over dtact_mutex_t.
 *
 * wait: the waiter's node goes into the cond's FIFO queue *before* the mutex
 * is released, so a signal issued by anyone who takes the mutex afterwards
 * finds it (no lost wake-up). Then it waits, and re-locks the mutex on every
 * return: ETIMEDOUT and ESHUTDOWN too. A fiber cannot wait during shutdown,
 * so if that re-lock is refused with ESHUTDOWN it falls back to a lock that
 * retries (yielding) until the holder, who is unwinding too, lets go.
 * signal pops the oldest waiter, broadcast every waiter; both wake outside
 * the queue lock. Memory order: as the mutex (the re-lock acquires).
 */
#include "sync.h"

static inline dtact__cond_t *cv(dtact_cond_t *c) { return (dtact__cond_t *)(void *)c; }

DTACT_API int dtact_cond_init(dtact_cond_t *c) {
    if (!c) return dtact__set_error(DTACT_EINVAL);
    *c = (dtact_cond_t)DTACT_COND_INIT;
    return DTACT_OK;
}

DTACT_API int dtact_cond_destroy(dtact_cond_t *c) {
    if (!c) return dtact__set_error(DTACT_EINVAL);
    dtact__cond_t *x = cv(c);
    dtact__waitq_lock(&x->q);
    int busy = !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_cond_wait_until(dtact_cond_t *c, dtact_mutex_t *m, uint64_t deadline_ns) {
    if (!c || !m) return dtact__set_error(DTACT_EINVAL);
    dtact__cond_t *x = cv(c);
    dtact__mutex_t *mu = (dtact__mutex_t *)(void *)m;
    // relaxed: a sanity check of the caller's hold (it holds the mutex: no race)
    if (!(dtact__load_relaxed(&mu->state) & DTACT__M_LOCKED)) return dtact__set_error(DTACT_EPERM);
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    dtact__waitq_lock(&x->q);
    dtact__waitq_push(&x->q, &n);
    dtact__waitq_unlock(&x->q);
    if (dtact__mutex_release(mu) != DTACT_OK) {
        /* Someone else unlocked it meanwhile (a caller's bug): leave the
         * queue (a deadline in the past makes the wait give up at once). */
        (void)dtact__wnode_wait(&x->q, &n, 0);
        return dtact__set_error(DTACT_EPERM);
    }
    rc = dtact__wnode_wait(&x->q, &n, deadline_ns);
    if (dtact__mutex_lock_deadline(mu, DTACT__FOREVER) != DTACT_OK) dtact__mutex_lock_hard(mu);
    return dtact__sync_ret(rc);
}

DTACT_API int dtact_cond_wait(dtact_cond_t *c, dtact_mutex_t *m) { return dtact_cond_wait_until(c, m, DTACT__FOREVER); }

DTACT_API int dtact_cond_timedwait(dtact_cond_t *c, dtact_mutex_t *m, int64_t timeout_ns) {
    if (!c || !m) return dtact__set_error(DTACT_EINVAL);
    return dtact_cond_wait_until(c, m, dtact__deadline_in(timeout_ns));
}

DTACT_API int dtact_cond_signal(dtact_cond_t *c) {
    if (!c) return dtact__set_error(DTACT_EINVAL);
    dtact__cond_t *x = cv(c);
    dtact__waitq_lock(&x->q);
    dtact__wnode_t *n = dtact__waitq_pop(&x->q);
    dtact__waitq_unlock(&x->q);
    if (n) dtact__wnode_wake(n, DTACT_OK);
    return DTACT_OK;
}

DTACT_API int dtact_cond_broadcast(dtact_cond_t *c) {
    if (!c) return dtact__set_error(DTACT_EINVAL);
    dtact__cond_t *x = cv(c);
    dtact__waitq_lock(&x->q);
    dtact__wnode_t *all = dtact__waitq_take_all(&x->q);
    dtact__waitq_unlock(&x->q);
    dtact__wnode_wake_chain(all, DTACT_OK);
    return DTACT_OK;
}
