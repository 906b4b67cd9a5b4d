/* core/join.c -- waiting for a fiber to finish: dtact_await, dtact_join,
 * dtact_detach, dtact_is_finished.
 *
 * Joiners (fibers and host threads alike) link a waiter record (on their own
 * stack) into the target's list under the target's record lock, unless the
 * target is already closed (internal.h: the finisher closes the record with
 * one CAS while the lock is free, and then owns the list). The finisher fills
 * each record, sets its `done` word and wakes the waiter: a fiber by unpark,
 * a host thread by a futex wake on `done` when it went to sleep there. A
 * joiner that gives up (timeout, shutdown, stopped runtime) unlinks its record
 * under the lock; if the record is no longer in the list the finisher has
 * taken it and still writes it, so the joiner waits for `done`.
 *
 * Results: a joinable fiber keeps its record (FINISHED) until a join or
 * detach reaps it with a CAS FINISHED -> FREE; a detached one is released as
 * it finishes, so only joiners already waiting see its result. An await or
 * is_finished of a released handle reads the arena's generation array
 * (dtact__fiber_released) and never the record, which may have been reused.
 */
#include "internal.h"

enum { T_LIVE = 0, T_FINISHED = 1, T_RELEASED = 2 };


/* Looks at the target: T_RELEASED (gone), T_FINISHED (with *res, *status) or T_LIVE. */
static int look(dtact__fiber_t *f, uint64_t hgen, uint64_t *gen, void **res, int *status) {
    for (;;) {
        uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with finish's release store (result/status)
        *gen = DTACT__SG_GEN(sg);
        if ((*gen & DTACT__HANDLE_GEN_MASK) != hgen) return T_RELEASED;
        unsigned st = DTACT__SG_STATE(sg);
        if (st == DTACT__ST_FREE) return T_RELEASED;
        if (st != DTACT__ST_FINISHED) return T_LIVE;
        /* A sequence lock's read: the record can be reaped and reused while
         * we read, so read relaxed, then re-check sg behind an acquire fence
         * (pairs with the release fence spawn puts before its stores). */
        void *r = dtact__load_relaxed(&f->result); // relaxed: validated below
        int s = dtact__load_relaxed(&f->status);   // relaxed: validated below
        dtact__fence_acquire();
        if (dtact__load_relaxed(&f->sg) != sg) continue; // relaxed: after the fence; reaped meanwhile: look again
        *res = r;
        *status = s;
        return T_FINISHED;
    }
}

static int unlink_waiter(dtact__fiber_t *f, dtact__waiter_t *rec) {
    uint32_t v = dtact__rec_lock(f);
    dtact__waiter_t **pp = &f->waiters;
    int found = 0;
    if (!dtact__is_closed(v, rec->target_gen)) { /* closed: the finisher owns the list */
        while (*pp && *pp != rec)
            pp = &(*pp)->next;
        found = *pp == rec;
        if (found) *pp = rec->next;
    }
    dtact__rec_unlock(f, v);
    return found;
}

static void wait_done(dtact__waiter_t *rec) {
    unsigned n = 0;
    while (dtact__load_acquire(&rec->done) != DTACT__WAIT_DONE) { // acquire: pairs with finish's release of done
        if (++n > 1000) dtact__thread_yield();
        else dtact__cpu_relax();
    }
}

/* Links rec into f's waiter list while f is live at the handle's generation.
 * Returns T_LIVE when linked, else what look() found (T_FINISHED, T_RELEASED). */
static int register_waiter(dtact__fiber_t *f, uint64_t hgen, dtact__waiter_t *rec, dtact__fiber_t *me, uint64_t *gen,
                           void **res, int *status) {
    for (;;) {
        int t = look(f, hgen, gen, res, status);
        if (t != T_LIVE) return t;
        uint32_t v = dtact__rec_lock(f);
        uint64_t sg = dtact__load_relaxed(&f->sg); // relaxed: under the lock; the finisher closes before it publishes
        unsigned st = DTACT__SG_STATE(sg);
        if (DTACT__SG_GEN(sg) != *gen || st == DTACT__ST_FINISHED || st == DTACT__ST_FREE ||
            dtact__is_closed(v, *gen)) {
            /* Finishing or gone: look again (the end is published in a few instructions). */
            dtact__rec_unlock(f, v);
            dtact__cpu_relax();
            continue;
        }
        rec->fiber = me;
        rec->gen = me ? DTACT__SG_GEN(dtact__load_relaxed(&me->sg)) : 0; // relaxed: our own state
        rec->target_gen = *gen;
        dtact__store_relaxed(&rec->done, DTACT__WAIT_PENDING); // relaxed: published by the unlock below
        rec->next = f->waiters;
        f->waiters = rec;
        dtact__rec_unlock(f, v);
        return T_LIVE;
    }
}

/* Waits on a fiber; 1 = finished (res/status filled), T_RELEASED, or a negative error. */
static int wait_fiber(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *me, dtact__fiber_t *f, uint64_t hgen,
                      int64_t timeout_ns, void **res, int *status, uint64_t *gen) {
    uint64_t deadline = timeout_ns > 0 ? dtact__now_ns() + (uint64_t)timeout_ns : 0;
    dtact__waiter_t rec;
    int t = register_waiter(f, hgen, &rec, me, gen, res, status);
    if (t != T_LIVE) return t;
    for (;;) {
        if (dtact__load_acquire(&rec.done) == DTACT__WAIT_DONE) break; // acquire: pairs with finish's release
        int give_up = 0;
        if (dtact__load_relaxed(&rt->shutdown)) give_up = DTACT_ESHUTDOWN; // relaxed: polled
        else if (deadline && dtact__now_ns() >= deadline) give_up = DTACT_ETIMEDOUT;
        if (give_up) {
            if (unlink_waiter(f, &rec)) return give_up;
            wait_done(&rec);
            break;
        }
        dtact__park_self(w, me, deadline);
        w = dtact__tls_worker();
    }
    *res = rec.result;
    *status = rec.status;
    return T_FINISHED;
}

static int wait_host(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t hgen, int64_t timeout_ns, void **res, int *status,
                     uint64_t *gen) {
    uint64_t deadline = timeout_ns > 0 ? dtact__now_ns() + (uint64_t)timeout_ns : 0;
    for (int i = 0; i < 2000; i++) {
        int t = look(f, hgen, gen, res, status);
        if (t != T_LIVE) return t;
        dtact__cpu_relax();
    }
    dtact__waiter_t rec;
    int t = register_waiter(f, hgen, &rec, NULL, gen, res, status);
    if (t != T_LIVE) return t;
    for (;;) {
        uint32_t d = dtact__load_acquire(&rec.done); // acquire: pairs with finish's release exchange
        if (d == DTACT__WAIT_DONE) break;
        int give_up = 0;
        int64_t left = -1;
        if (dtact__load_acquire(&rt->phase) != DTACT__RT_RUNNING) { // acquire: pairs with the phase store in runtime.c
            give_up = DTACT_ENOTRUNNING;
        } else if (deadline) {
            uint64_t now = dtact__now_ns();
            if (now >= deadline) give_up = DTACT_ETIMEDOUT;
            else left = (int64_t)(deadline - now);
        }
        if (give_up) {
            if (unlink_waiter(f, &rec)) return give_up;
            wait_done(&rec);
            break;
        }
        if (d == DTACT__WAIT_PENDING) {
            uint32_t exp = DTACT__WAIT_PENDING;
            /* relaxed: the sleeping mark only tells the finisher to wake us; a failure means DONE arrived. */
            if (!atomic_compare_exchange_strong_explicit(&rec.done, &exp, DTACT__WAIT_SLEEPING, memory_order_relaxed,
                                                         memory_order_relaxed))
                continue;
        }
        /* Wake up now and then to notice a runtime that stopped running
         * (dtact_destroy waits for pinned host calls to leave). */
        if (left < 0 || left > 20000000) left = 20000000;
        dtact__futex_wait(&rec.done, DTACT__WAIT_SLEEPING, left);
    }
    *res = rec.result;
    *status = rec.status;
    return T_FINISHED;
}

/* Common body of await/join. reap: release a joinable record on success. */
static int wait_in(dtact__rt_t *rt, dtact_handle_t handle, int64_t timeout_ns, void **result, int reap,
                   int released_rc) {
    dtact__fiber_t *f;
    /* An await (no reap) most often meets a detached fiber that has finished
     * and whose record was released, maybe reused by now: the arena's
     * generation array says so without touching the record (arena.c). A join
     * keeps the record path: its fiber is joinable, so the record is kept. */
    if (!reap && dtact__fiber_released(rt->arena, handle)) return released_rc;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc != DTACT_OK) return rc;
    uint64_t hgen = dtact__handle_gen(handle), gen = 0;
    void *res = NULL;
    int status = DTACT_OK;
    int t = look(f, hgen, &gen, &res, &status);
    if (t == T_LIVE) {
        dtact__worker_t *w = dtact__tls_worker();
        dtact__fiber_t *me = (w && w->rt == rt) ? w->current : NULL;
        if (me == f) return DTACT_EDEADLK;
        if (timeout_ns == 0) return DTACT_ETIMEDOUT;
        /* On a worker but outside any fiber: a cleanup of a fiber cancelled
         * at shutdown. Waiting here as a host thread would block the very
         * worker that must run the awaited fiber: fail instead. */
        if (w && w->rt == rt && !me)
            // relaxed: cancellations happen only after shutdown
            return dtact__load_relaxed(&rt->shutdown) ? DTACT_ESHUTDOWN : DTACT_EPERM;
        if (me) t = wait_fiber(rt, w, me, f, hgen, timeout_ns, &res, &status, &gen);
        else t = wait_host(rt, f, hgen, timeout_ns, &res, &status, &gen);
    }
    if (t < 0) return t;
    if (t == T_RELEASED) return released_rc;
    if (result) *result = res;
    if (reap) dtact__fiber_reap(rt, f, gen);
    return status;
}

static int wait_impl(dtact_handle_t handle, int64_t timeout_ns, void **result, int reap, int released_rc) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return DTACT_ENOTINIT;
    int rc = wait_in(rt, handle, timeout_ns, result, reap, released_rc);
    dtact__rt_leave(pinned);
    return rc;
}

DTACT_API int dtact_await(dtact_handle_t handle) {
    int rc = wait_impl(handle, -1, NULL, 0, DTACT_OK);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_join(dtact_handle_t handle, int64_t timeout_ns, void **result) {
    if (result) *result = NULL;
    int rc = wait_impl(handle, timeout_ns, result, 1, DTACT_ESTALE);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_join_until(dtact_handle_t handle, uint64_t deadline_ns, void **result) {
    int64_t timeout = -1;
    if (deadline_ns != UINT64_MAX) {
        uint64_t now = dtact__now_ns();
        timeout = deadline_ns <= now
                      ? 0
                      : (deadline_ns - now > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(deadline_ns - now));
    }
    return dtact_join(handle, timeout, result);
}

static int detach_in(dtact__rt_t *rt, dtact_handle_t handle) {
    dtact__fiber_t *f;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc != DTACT_OK) return rc;
    for (;;) {
        uint32_t v = dtact__rec_lock(f);
        uint64_t sg = dtact__load_relaxed(&f->sg); // relaxed: under the lock; the finisher closes before it publishes
        uint64_t gen = DTACT__SG_GEN(sg);
        unsigned st = DTACT__SG_STATE(sg);
        if ((gen & DTACT__HANDLE_GEN_MASK) != dtact__handle_gen(handle) || st == DTACT__ST_FREE) {
            dtact__rec_unlock(f, v);
            return DTACT_ESTALE;
        }
        if (st != DTACT__ST_FINISHED && !dtact__is_closed(v, gen)) {
            f->joinable = 0; /* the finisher reads it after its closing CAS */
            dtact__rec_unlock(f, v);
            return DTACT_OK;
        }
        dtact__rec_unlock(f, v);
        if (st == DTACT__ST_FINISHED) return dtact__fiber_reap(rt, f, gen) ? DTACT_OK : DTACT_ESTALE;
        dtact__cpu_relax(); /* closed but not yet published: a few instructions away */
    }
}

DTACT_API int dtact_detach(dtact_handle_t handle) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    int rc = detach_in(rt, handle);
    dtact__rt_leave(pinned);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_is_finished(dtact_handle_t handle) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__fiber_t *f;
    int rc = 1; /* released: certain without the record (wait_in) */
    if (!dtact__fiber_released(rt->arena, handle) && (rc = dtact__fiber_lookup(rt->arena, handle, &f)) == DTACT_OK) {
        uint64_t gen;
        void *res;
        int status;
        rc = look(f, dtact__handle_gen(handle), &gen, &res, &status) != T_LIVE;
    }
    dtact__rt_leave(pinned);
    return rc < 0 ? dtact__set_error(rc) : rc;
}
