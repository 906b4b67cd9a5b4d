/* core/sync_sem.c -- dtact_sem_t: a counting semaphore with FIFO hand-off.
 *
 * Invariant: count > 0 only while the queue is empty. A waiter queues only
 * after seeing count == 0 under the queue lock, and post (always under the
 * queue lock) hands its permits directly to queued waiters, oldest first,
 * before adding what is left to count. So a trywait, which takes a permit
 * with one CAS and no lock, can never take a permit meant for a waiter, and
 * waiters are served in arrival order.
 * Memory order: post is a release (the count's CAS, or the hand-off's WOKEN
 * release); a successful wait acquires (the CAS, or the WOKEN acquire).
 */
#include "sync.h"

static inline dtact__sem_t *sm(dtact_sem_t *s) { return (dtact__sem_t *)(void *)s; }

static int try_take(dtact__sem_t *s) {
    uint32_t c = dtact__load_relaxed(&s->count); // relaxed: validated by the CAS
    while (c > 0) {
        // acquire: pairs with the release of the post that added the permit
        if (dtact__cas_weak_acquire(&s->count, &c, c - 1)) return DTACT_OK;
    }
    return DTACT_EBUSY;
}

static int wait_slow(dtact__sem_t *s, uint64_t deadline) {
    if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return rc;
    dtact__waitq_lock(&s->q);
    if (try_take(s) == DTACT_OK) { /* count changes only downward while we hold the lock */
        dtact__waitq_unlock(&s->q);
        return DTACT_OK;
    }
    dtact__waitq_push(&s->q, &n);
    dtact__waitq_unlock(&s->q);
    return dtact__wnode_wait(&s->q, &n, deadline); /* OK: a permit was handed to us */
}

static int wait(dtact_sem_t *s, uint64_t deadline) {
    if (!s) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(try_take(sm(s)) == DTACT_OK)) return DTACT_OK;
    return dtact__sync_ret(wait_slow(sm(s), deadline));
}

DTACT_API int dtact_sem_init(dtact_sem_t *s, uint32_t count) {
    if (!s || count > DTACT__SEM_MAX) return dtact__set_error(DTACT_EINVAL);
    *s = (dtact_sem_t)DTACT_SEM_INIT;
    dtact__store_relaxed(&sm(s)->count, count); // relaxed: init precedes sharing
    return DTACT_OK;
}

DTACT_API int dtact_sem_destroy(dtact_sem_t *s) {
    if (!s) return dtact__set_error(DTACT_EINVAL);
    dtact__sem_t *x = sm(s);
    dtact__waitq_lock(&x->q);
    int busy = !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_sem_wait(dtact_sem_t *s) { return wait(s, DTACT__FOREVER); }
DTACT_API int dtact_sem_wait_until(dtact_sem_t *s, uint64_t deadline_ns) { return wait(s, deadline_ns); }
DTACT_API int dtact_sem_timedwait(dtact_sem_t *s, int64_t timeout_ns) {
    if (!s) return dtact__set_error(DTACT_EINVAL);
    return wait(s, dtact__deadline_in(timeout_ns));
}
DTACT_API int dtact_sem_trywait(dtact_sem_t *s) {
    if (!s) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(try_take(sm(s)));
}

DTACT_API int dtact_sem_post(dtact_sem_t *s, uint32_t n) {
    if (!s || n > DTACT__SEM_MAX) return dtact__set_error(DTACT_EINVAL);
    if (n == 0) return DTACT_OK;
    dtact__sem_t *x = sm(s);
    dtact__waitq_lock(&x->q);
    /* Check the overflow first so that a failing post has no effect. */
    uint32_t c = dtact__load_relaxed(&x->count); // relaxed: only trywait changes it meanwhile, and only down
    if (n > x->q.n && n - x->q.n > DTACT__SEM_MAX - c) {
        dtact__waitq_unlock(&x->q);
        return dtact__set_error(DTACT_EINVAL);
    }
    dtact__wnode_t *first = NULL, **tail = &first;
    uint32_t left = n;
    while (left > 0 && !dtact__waitq_empty(&x->q)) {
        *tail = dtact__waitq_pop(&x->q);
        tail = &(*tail)->next;
        left--;
    }
    // release: publishes what came before the post to the trywait that takes the permit
    if (left) dtact__fetch_add_release(&x->count, left);
    dtact__waitq_unlock(&x->q);
    dtact__wnode_wake_chain(first, DTACT_OK);
    return DTACT_OK;
}

DTACT_API int dtact_sem_value(dtact_sem_t *s) {
    if (!s) return dtact__set_error(DTACT_EINVAL);
    return (int)dtact__load_relaxed(&sm(s)->count); // relaxed: a racy snapshot by contract
}
