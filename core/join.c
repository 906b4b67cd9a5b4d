/* core/join.c -- waiting for a fiber to finish: dtact_await, dtact_join,
 * dtact_detach, dtact_is_finished.
 *
 * Fiber joiners link a waiter record (on their own stack) into the target's
 * list under the target's record lock; the worker that publishes the end takes
 * the list under the same lock, fills each record, sets its `done` flag
 * (release) and unparks the waiter. A joiner that gives up (timeout,
 * shutdown) unlinks its record under the lock; if the list was already taken
 * it waits for `done`, because the finisher still writes the record.
 *
 * Host threads spin briefly, then sleep on the target's `done_seq` futex word,
 * which only ever increases: a recycled slot cannot put a waiter back to sleep
 * (the Dekker pair host_waiters / done_seq is in fiber.c, dtact__fiber_finish).
 *
 * Results: a joinable fiber keeps its record (FINISHED) until a join or
 * detach reaps it with a CAS FINISHED -> FREE; a detached one is released as
 * it finishes, so only joiners already waiting see its result.
 */
#include <sched.h>

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
        void *r = f->result;
        int s = f->status;
        if (dtact__load_acquire(&f->sg) != sg) continue; // acquire: the record was reaped meanwhile: look again
        *res = r;
        *status = s;
        return T_FINISHED;
    }
}

static int unlink_waiter(dtact__fiber_t *f, dtact__waiter_t *rec) {
    dtact__rec_lock(f);
    dtact__waiter_t **pp = &f->waiters;
    while (*pp && *pp != rec) pp = &(*pp)->next;
    int found = *pp == rec;
    if (found) *pp = rec->next;
    dtact__rec_unlock(f);
    return found;
}

static void wait_done(dtact__waiter_t *rec) {
    unsigned n = 0;
    while (!dtact__load_acquire(&rec->done)) { // acquire: pairs with finish's release of done
        if (++n > 1000) sched_yield();
        else dtact__cpu_relax();
    }
}

/* Waits on a fiber; 1 = finished (res/status filled), T_RELEASED, or a negative error. */
static int wait_fiber(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *me, dtact__fiber_t *f, uint64_t hgen,
                      int64_t timeout_ns, void **res, int *status, uint64_t *gen) {
    uint64_t deadline = timeout_ns > 0 ? dtact__now_ns() + (uint64_t)timeout_ns : 0;
    dtact__waiter_t rec;
    for (;;) {
        int t = look(f, hgen, gen, res, status);
        if (t != T_LIVE) return t;
        dtact__rec_lock(f);
        uint64_t sg = dtact__load_relaxed(&f->sg); // relaxed: under the lock that finish takes before publishing
        if (DTACT__SG_GEN(sg) != *gen || DTACT__SG_STATE(sg) == DTACT__ST_FINISHED || DTACT__SG_STATE(sg) == DTACT__ST_FREE) {
            dtact__rec_unlock(f);
            continue;
        }
        rec.fiber = me;
        rec.gen = DTACT__SG_GEN(dtact__load_relaxed(&me->sg)); // relaxed: our own state
        dtact__store_relaxed(&rec.done, 0u); // relaxed: published by the unlock below
        rec.next = f->waiters;
        f->waiters = &rec;
        dtact__rec_unlock(f);
        break;
    }
    for (;;) {
        if (dtact__load_acquire(&rec.done)) break; // acquire: pairs with finish's release
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
    dtact__fetch_add_seq_cst(&f->host_waiters, 1u); // seq_cst: Dekker with finish (done_seq++ then load host_waiters)
    int t;
    for (;;) {
        uint32_t seq = dtact__load_seq_cst(&f->done_seq); // seq_cst: see above
        t = look(f, hgen, gen, res, status);
        if (t != T_LIVE) break;
        if (dtact__load_acquire(&rt->phase) != DTACT__RT_RUNNING) { // acquire: pairs with the phase store in runtime.c
            t = DTACT_ENOTRUNNING;
            break;
        }
        int64_t left = -1;
        if (deadline) {
            uint64_t now = dtact__now_ns();
            if (now >= deadline) {
                t = DTACT_ETIMEDOUT;
                break;
            }
            left = (int64_t)(deadline - now);
        }
        /* Wake up now and then to notice a runtime that stopped running. */
        if (left < 0 || left > 100000000) left = 100000000;
        dtact__futex_wait(&f->done_seq, seq, left);
    }
    dtact__fetch_sub_seq_cst(&f->host_waiters, 1u);
    return t;
}

/* Common body of await/join. reap: release a joinable record on success. */
static int wait_impl(dtact_handle_t handle, int64_t timeout_ns, void **result, int reap, int released_rc) {
    dtact__rt_t *rt = dtact__rt_get();
    if (!rt) return DTACT_ENOTINIT;
    dtact__fiber_t *f;
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
        if (me) t = wait_fiber(rt, w, me, f, hgen, timeout_ns, &res, &status, &gen);
        else t = wait_host(rt, f, hgen, timeout_ns, &res, &status, &gen);
    }
    if (t < 0) return t;
    if (t == T_RELEASED) return released_rc;
    if (result) *result = res;
    if (reap) dtact__fiber_reap(rt, f, gen);
    return status;
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

DTACT_API int dtact_detach(dtact_handle_t handle) {
    dtact__rt_t *rt = dtact__rt_get();
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__fiber_t *f;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    dtact__rec_lock(f);
    uint64_t sg = dtact__load_relaxed(&f->sg); // relaxed: under the lock finish takes
    uint64_t gen = DTACT__SG_GEN(sg);
    unsigned st = DTACT__SG_STATE(sg);
    if ((gen & DTACT__HANDLE_GEN_MASK) != dtact__handle_gen(handle) || st == DTACT__ST_FREE) {
        dtact__rec_unlock(f);
        return dtact__set_error(DTACT_ESTALE);
    }
    if (st != DTACT__ST_FINISHED) {
        f->joinable = 0;
        dtact__rec_unlock(f);
        return DTACT_OK;
    }
    dtact__rec_unlock(f);
    return dtact__fiber_reap(rt, f, gen) ? DTACT_OK : dtact__set_error(DTACT_ESTALE);
}

DTACT_API int dtact_is_finished(dtact_handle_t handle) {
    dtact__rt_t *rt = dtact__rt_get();
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__fiber_t *f;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    uint64_t gen;
    void *res;
    int status;
    return look(f, dtact__handle_gen(handle), &gen, &res, &status) != T_LIVE;
}
