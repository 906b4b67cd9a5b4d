/* core/sync_group.c -- dtact_waitgroup_t, dtact_barrier_t, dtact_once_t.
 *
 * Wait group (Go's sync.WaitGroup): a signed counter changed by CAS (so that
 * an add below zero fails with the counter unchanged). The add that reaches
 * zero takes the queue lock and wakes every waiter; a waiter returns at once
 * on zero, else queues after re-checking the counter under the queue lock (so
 * the zero-reaching add, which takes the lock after its CAS, finds it). Every
 * add is an acq_rel RMW, so all of them form one release sequence: the
 * waiter's acquire (of the counter, or of WOKEN after the waker's acquire)
 * sees every done() before zero. As in Go, reusing a group (add > 0) before
 * every waiter of the previous zero has returned is the caller's problem:
 * the waiters of the old round are woken regardless.
 *
 * Barrier: all under the queue lock. The parties that have arrived in this
 * round and are waiting are exactly the queued nodes, so the arrival that
 * makes q.n + 1 == parties is the leader: it takes the whole queue, counts
 * the round and wakes them all (outside the lock). A party that gives up is
 * unlinked by waitq under the same lock: its arrival is withdrawn atomically.
 * The queue lock orders every arrival before the leader's wakes; each party
 * acquires the WOKEN release.
 *
 * Once: a word holding 0 (not run), 1 (done) or the identity of the caller
 * running fn (the address of its fiber record, or of a thread-local byte for a
 * thread), claimed by CAS 0 -> me. Other callers queue after re-checking the
 * word under the queue lock; the runner stores DONE (release) under that lock
 * and wakes them all. A caller that finds its own identity is fn calling
 * itself: EDEADLK.
 */
#include "sync.h"

#include "internal.h"

/* ------------------------------------------------------------ wait group */

static inline dtact__waitgroup_t *wgp(dtact_waitgroup_t *g) { return (dtact__waitgroup_t *)(void *)g; }

DTACT_API int dtact_waitgroup_init(dtact_waitgroup_t *wg) {
    if (!wg) return dtact__set_error(DTACT_EINVAL);
    *wg = (dtact_waitgroup_t)DTACT_WAITGROUP_INIT;
    return DTACT_OK;
}

DTACT_API int dtact_waitgroup_destroy(dtact_waitgroup_t *wg) {
    if (!wg) return dtact__set_error(DTACT_EINVAL);
    dtact__waitgroup_t *g = wgp(wg);
    dtact__waitq_lock(&g->q);
    int busy = !dtact__waitq_empty(&g->q);
    dtact__waitq_unlock(&g->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_waitgroup_add(dtact_waitgroup_t *wg, int64_t delta) {
    if (!wg) return dtact__set_error(DTACT_EINVAL);
    dtact__waitgroup_t *g = wgp(wg);
    int64_t v = dtact__load_relaxed(&g->count); // relaxed: validated by the CAS
    int64_t nv;
    do {
        if (delta < 0 ? v + delta < 0 : v > INT64_MAX - delta) return dtact__set_error(DTACT_EINVAL);
        nv = v + delta;
        // acq_rel: one release sequence of every add; the zero-reaching one acquires them for the wake
    } while (!dtact__cas_weak_acq_rel(&g->count, &v, nv));
    if (nv == 0 && delta != 0) {
        dtact__waitq_lock(&g->q);
        dtact__wnode_t *all = dtact__waitq_take_all(&g->q);
        dtact__waitq_unlock(&g->q);
        dtact__wnode_wake_chain(all, DTACT_OK);
    }
    return DTACT_OK;
}

DTACT_API int dtact_waitgroup_done(dtact_waitgroup_t *wg) { return dtact_waitgroup_add(wg, -1); }

DTACT_API int dtact_waitgroup_wait_until(dtact_waitgroup_t *wg, uint64_t deadline_ns) {
    if (!wg) return dtact__set_error(DTACT_EINVAL);
    dtact__waitgroup_t *g = wgp(wg);
    if (dtact__load_acquire(&g->count) == 0) return DTACT_OK; // acquire: pairs with the adds' release sequence
    if (deadline_ns != DTACT__FOREVER && dtact__now_ns() >= deadline_ns) return dtact__set_error(DTACT_ETIMEDOUT);
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    dtact__waitq_lock(&g->q);
    if (dtact__load_acquire(&g->count) == 0) { // acquire: as above
        dtact__waitq_unlock(&g->q);
        return DTACT_OK;
    }
    dtact__waitq_push(&g->q, &n);
    dtact__waitq_unlock(&g->q);
    return dtact__sync_ret(dtact__wnode_wait(&g->q, &n, deadline_ns));
}

DTACT_API int dtact_waitgroup_wait(dtact_waitgroup_t *wg) { return dtact_waitgroup_wait_until(wg, DTACT__FOREVER); }

DTACT_API int dtact_waitgroup_timedwait(dtact_waitgroup_t *wg, int64_t timeout_ns) {
    if (!wg) return dtact__set_error(DTACT_EINVAL);
    return dtact_waitgroup_wait_until(wg, dtact__deadline_in(timeout_ns));
}

/* --------------------------------------------------------------- barrier */

static inline dtact__barrier_t *bp(dtact_barrier_t *b) { return (dtact__barrier_t *)(void *)b; }

DTACT_API int dtact_barrier_init(dtact_barrier_t *b, uint32_t parties) {
    if (!b || parties == 0) return dtact__set_error(DTACT_EINVAL);
    *b = (dtact_barrier_t){{0}};
    bp(b)->parties = parties;
    return DTACT_OK;
}

DTACT_API int dtact_barrier_destroy(dtact_barrier_t *b) {
    if (!b) return dtact__set_error(DTACT_EINVAL);
    dtact__barrier_t *x = bp(b);
    dtact__waitq_lock(&x->q);
    int busy = !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_barrier_wait_until(dtact_barrier_t *b, uint64_t deadline_ns) {
    if (!b) return dtact__set_error(DTACT_EINVAL);
    dtact__barrier_t *x = bp(b);
    dtact__wnode_t n;
    int rc = DTACT_OK;
    dtact__waitq_lock(&x->q);
    if (x->parties == 0) rc = DTACT_EINVAL;
    else if (x->q.n + 1 >= x->parties) {
        x->rounds++;
        dtact__wnode_t *all = dtact__waitq_take_all(&x->q);
        dtact__waitq_unlock(&x->q);
        dtact__wnode_wake_chain(all, DTACT_OK);
        return DTACT_BARRIER_LEADER;
    } else if (deadline_ns != DTACT__FOREVER && dtact__now_ns() >= deadline_ns) {
        rc = DTACT_ETIMEDOUT;
    } else {
        rc = dtact__wnode_init(&n);
    }
    if (rc != DTACT_OK) {
        dtact__waitq_unlock(&x->q);
        return dtact__set_error(rc);
    }
    dtact__waitq_push(&x->q, &n);
    dtact__waitq_unlock(&x->q);
    return dtact__sync_ret(dtact__wnode_wait(&x->q, &n, deadline_ns));
}

DTACT_API int dtact_barrier_wait(dtact_barrier_t *b) { return dtact_barrier_wait_until(b, DTACT__FOREVER); }

DTACT_API int dtact_barrier_timedwait(dtact_barrier_t *b, int64_t timeout_ns) {
    if (!b) return dtact__set_error(DTACT_EINVAL);
    return dtact_barrier_wait_until(b, dtact__deadline_in(timeout_ns));
}

/* ------------------------------------------------------------------ once */

static _Thread_local char once_thread_token; /* its address names a thread */

static inline dtact__once_t *op(const dtact_once_t *o) { return (dtact__once_t *)(void *)o; }

/* Who is calling: the fiber (stable across migration between workers) or the thread. */
static uintptr_t caller_identity(void) {
    dtact__worker_t *w = dtact__tls_worker();
    if (w && w->current) return (uintptr_t)w->current;
    return (uintptr_t)&once_thread_token;
}

DTACT_API int dtact_once_call(dtact_once_t *o, void (*fn)(void *), void *arg) {
    if (!o) return dtact__set_error(DTACT_EINVAL);
    if (!fn) return dtact__set_error(DTACT_ENULLFN);
    dtact__once_t *x = op(o);
    uintptr_t s = dtact__load_acquire(&x->state); // acquire: pairs with the runner's release of DONE
    if (DTACT_LIKELY(s == DTACT__ONCE_DONE)) return DTACT_OK;
    uintptr_t me = caller_identity();
    if (s == 0) {
        // acquire: a failure reads DONE or a runner (re-examined below)
        if (dtact__cas_strong_acq_rel(&x->state, &s, me)) {
            fn(arg);
            dtact__waitq_lock(&x->q);
            dtact__store_release(&x->state, DTACT__ONCE_DONE); // release: fn's effects before every return
            dtact__wnode_t *all = dtact__waitq_take_all(&x->q);
            dtact__waitq_unlock(&x->q);
            dtact__wnode_wake_chain(all, DTACT_OK);
            return DTACT_OK;
        }
        if (s == DTACT__ONCE_DONE) return DTACT_OK;
    }
    if (s == me) return dtact__set_error(DTACT_EDEADLK);
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    dtact__waitq_lock(&x->q);
    if (dtact__load_acquire(&x->state) == DTACT__ONCE_DONE) { // acquire: as above
        dtact__waitq_unlock(&x->q);
        return DTACT_OK;
    }
    dtact__waitq_push(&x->q, &n);
    dtact__waitq_unlock(&x->q);
    return dtact__sync_ret(dtact__wnode_wait(&x->q, &n, DTACT__FOREVER));
}

DTACT_API int dtact_once_done(const dtact_once_t *o) {
    if (!o) return dtact__set_error(DTACT_EINVAL);
    // acquire: pairs with the runner's release of DONE
    return dtact__load_acquire(&op(o)->state) == DTACT__ONCE_DONE;
}
