/* core/fiber_api.c -- the public calls about running fibers: yield, self,
 * current worker, park / unpark, sleep, and the helpers of the original C
 * API (that of the original Dtact, the earlier Rust implementation whose C
 * API this library keeps).
 *
 * Yield. When nothing else is due on the worker, a yield switches straight to
 * the next ready fiber (runq_pick_direct) instead of going through the loop's
 * context: one switch instead of two, and it ends in a tail call of the
 * switch, so the resumed fiber continues straight in its caller (no `ret` the
 * return-stack buffer would mispredict; asm/: PASS). Taken only when the loop
 * has nothing to do (no inbox, no timers, no hungry or parked peers, no
 * shutdown), the next fiber has started and uses the same switcher variant
 * (the saved frame formats must match, including the loop's context that the
 * next fiber returns to), and no sanitizer needs the switch annotated. Safe
 * because the yielding fiber goes to this worker's own queue, which no other
 * thread touches, before the switch saves its context -- except a peer that
 * takes the queue over from a stuck worker (sysmon.c), which leaves the fiber
 * named in w->yielding where it is.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "switch.h"
#include "waitq.h"

/* The calling fiber and its worker, or NULL. */
static dtact__fiber_t *self_fiber(dtact__worker_t **wp) {
    dtact__worker_t *w = dtact__tls_worker();
    *wp = w;
    return w ? w->current : NULL;
}

/* The fiber a yield may switch to directly (see the top of the file), with
 * the queue and state bookkeeping done; NULL when it must go through the loop. */
static dtact__fiber_t *yield_pick(dtact__worker_t *w, dtact__fiber_t *f) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    (void)w;
    (void)f;
    return NULL;
#else
    // relaxed: a peek; the loop drains it properly
    if (dtact__timers_count(&w->timers) || dtact__load_relaxed(&w->inbox) ||
        // relaxed: hints, as in the loop
        (dtact__load_relaxed(&w->rt->n_hungry) | dtact__load_relaxed(&w->rt->n_parked)) ||
        dtact__load_relaxed(&w->rt->shutdown)) // relaxed: the loop handles shutdown
        return NULL;
    if (DTACT_UNLIKELY(!dtact__stack_canary_ok(f->stack))) dtact__stack_overflow_abort(f->stack, "canary destroyed");
    if (DTACT_UNLIKELY(!dtact__stack_sp_ok(f->stack, __builtin_frame_address(0))))
        dtact__stack_overflow_abort(f->stack, "stack pointer below the stack at a switch");
    int in = dtact__rq_enter(w); /* our queues, back from the peers (sysmon.c) */
    dtact__fiber_t *next = dtact__runq_pick_direct(&w->rq, f);
    if (next) w->yielding = f; /* queued, but its context is saved only by the swap below */
    dtact__rq_leave(w, in);
    if (!next) return NULL;
    uint64_t fgen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg));     // relaxed: our own state
    dtact__store_release(&f->sg, DTACT__SG(fgen, DTACT__ST_READY)); // release: as loop.c's YIELD
    // relaxed: READY fibers are owned by the queue that held them
    uint64_t ngen = DTACT__SG_GEN(dtact__load_relaxed(&next->sg));
    dtact__store_relaxed(&next->sg, DTACT__SG(ngen, DTACT__ST_RUNNING)); // relaxed: as in loop.c's run_fiber
    next->home = (uint16_t)w->id;
    w->current = next;
    return next;
#endif
}

DTACT_API int dtact_yield(void) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return dtact__set_error(DTACT_EPERM);
    dtact__stat_inc(&w->st.yields);
    dtact__fiber_t *next = yield_pick(w, f);
    if (DTACT_LIKELY(next != NULL)) {
        /* A tail call (optimised builds): this fiber resumes straight in our
         * caller, with the value its resumer passes: DTACT_OK from another
         * direct yield (which has just seen no shutdown), the shutdown status
         * from the loop (worker.c, switch_in). */
        return dtact__swap_table[f->variant](&f->sp, next->sp, DTACT_OK);
    }
    dtact__switch_out(w, f, DTACT__ACT_YIELD);
    w = dtact__tls_worker();                                           /* may have moved */
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: informational
    return DTACT_OK;
}

DTACT_API dtact_handle_t dtact_self(void) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return DTACT_INVALID_HANDLE;
    return dtact__handle_make(f->index, dtact__fiber_gen(f));
}

DTACT_API int dtact_current_worker(void) {
    dtact__worker_t *w = dtact__tls_worker();
    return w ? (int)w->id : -1;
}

/* Parks the calling fiber until a token, the deadline (DTACT__FOREVER: none)
 * or shutdown. */
static int park_until(uint64_t deadline) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return dtact__set_error(DTACT_EPERM);
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
    if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    dtact__park_self(w, f, deadline == DTACT__FOREVER ? 0 : deadline);
    w = dtact__tls_worker();
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
    if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    return DTACT_OK;
}

DTACT_API int dtact_park(int64_t timeout_ns) {
    if (timeout_ns == 0) {
        dtact__worker_t *w;
        if (!self_fiber(&w)) return dtact__set_error(DTACT_EPERM);
        return DTACT_ETIMEDOUT;
    }
    return park_until(dtact__deadline_in(timeout_ns));
}

DTACT_API int dtact_park_until(uint64_t deadline_ns) { return park_until(deadline_ns); }

DTACT_API int dtact_unpark(dtact_handle_t handle) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__fiber_t *f;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc == DTACT_OK) {
        uint64_t gen = DTACT__SG_GEN(dtact__load_acquire(&f->sg)); // acquire: pairs with state release stores
        /* Handles carry the low 39 bits; a mismatch means the fiber is gone. unpark's CAS re-checks the full value. */
        if ((gen & DTACT__HANDLE_GEN_MASK) == dtact__handle_gen(handle)) dtact__unpark(rt, f, gen);
    }
    dtact__rt_leave(pinned);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API uint64_t dtact_now_ns(void) { return dtact__now_ns(); }

DTACT_API int dtact_sleep_until(uint64_t deadline_ns) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) {
        dtact__sleep_until_ns(deadline_ns); /* a thread: the kernel's absolute sleep */
        return DTACT_OK;
    }
    /* A fiber: park on the worker's timer heap until the deadline; tokens of
     * unparks are absorbed. DTACT__FOREVER parks without a timer until shutdown. */
    for (;;) {
        if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
        if (deadline_ns != DTACT__FOREVER && dtact__now_ns() >= deadline_ns) return DTACT_OK;
        dtact__park_self(w, f, deadline_ns == DTACT__FOREVER ? 0 : deadline_ns);
        w = dtact__tls_worker();
    }
}

DTACT_API int dtact_sleep_ns(uint64_t ns) {
    uint64_t now = dtact__now_ns();
    /* saturate: a sleep past the end of the clock waits for shutdown (fiber) or forever (thread) */
    return dtact_sleep_until(ns >= DTACT__FOREVER - now ? DTACT__FOREVER : now + ns);
}

DTACT_API int dtact_interval_init(dtact_interval_t *iv, uint64_t period_ns) {
    if (!iv || period_ns == 0) return dtact__set_error(DTACT_EINVAL);
    iv->period_ns = period_ns;
    iv->next_ns = 0;
    return DTACT_OK;
}

DTACT_API int dtact_interval_tick(dtact_interval_t *iv, uint64_t *missed) {
    if (missed) *missed = 0;
    if (!iv || iv->period_ns == 0) return dtact__set_error(DTACT_EINVAL);
    uint64_t p = iv->period_ns;
    if (iv->next_ns == 0) { /* the first tick is immediate */
        uint64_t now = dtact__now_ns();
        iv->next_ns = p >= DTACT__FOREVER - now ? DTACT__FOREVER : now + p;
        return DTACT_OK;
    }
    uint64_t due = iv->next_ns;
    int rc = dtact_sleep_until(due);
    if (rc != DTACT_OK) return rc;
    /* Skip the ticks that passed while the caller was late. */
    uint64_t now = dtact__now_ns(), skipped = 0;
    if (due != DTACT__FOREVER && now - due >= p) skipped = (now - due) / p;
    uint64_t step = (skipped + 1) * p;
    iv->next_ns = (due == DTACT__FOREVER || step / p != skipped + 1 || step >= DTACT__FOREVER - due) ? DTACT__FOREVER
                                                                                                     : due + step;
    if (missed) *missed = skipped;
    return DTACT_OK;
}

DTACT_API void dtact_free_arg(void *arg) { free(arg); }

DTACT_API void dtact_abort(void) {
    static const char msg[] = "dtact: a fiber returned past its entry point (dtact_abort)\n";
    fwrite(msg, 1, sizeof msg - 1, stderr);
    abort();
}
