/* core/worker.c -- one worker thread: its run queues and its dispatch loop.
 *
 * Run queues. Each worker owns four intrusive doubly-linked deques of ready
 * fibers, one per priority, touched by the owner alone (no atomics). Fibers
 * that are spawned or woken here go to the *front* (they run next: depth-first
 * order, which keeps the number of started-but-unfinished fibers -- and so of
 * stacks -- proportional to the recursion depth in fork-join code). Fibers that
 * yield, and work that arrives from peers, go to the *back*. Peers that receive
 * work get it from the back (the oldest fibers: in fork-join code, the largest
 * pieces of work, as in Cilk's steal-from-the-top rule).
 *
 * Dispatch order. Highest priority first; every 64th dispatch takes the oldest
 * fiber of the lowest non-empty priority instead when that priority is lower,
 * or when that fiber has already started (it yielded or was woken), so Low
 * work and yielded fibers are never starved by a stream of new high-priority
 * or front-pushed fibers (see q_next for why unstarted ones wait). Every 61st
 * dispatch (and whenever the queues are empty) the inbox is drained, so remote
 * work waits a bounded number of dispatches.
 *
 * The switch. The loop switches into a fiber with that fiber's switcher
 * variant, saving its own context in w->sched_sp; the fiber switches back with
 * the same variant and leaves in w->action what it wants done. The loop then
 * completes the transition on its own stack (re-queue, finish the park, free
 * the stack), which is what makes it safe for another worker to resume a
 * parked fiber the moment it is woken: by then the fiber is no longer running
 * on this worker's stack.
 *
 * TLS. A cross-thread fiber can resume on another worker. Core code never
 * caches the worker pointer across a switch: dtact__tls_worker() is an opaque
 * (noinline) call that recomputes the thread-local address each time.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "switch.h"

#if defined(DTACT_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(DTACT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

static _Thread_local dtact__worker_t *tls_worker;

__attribute__((noinline)) dtact__worker_t *dtact__tls_worker(void) {
    dtact__worker_t *w = tls_worker;
    __asm__ __volatile__("" ::: "memory");
    return w;
}

/* ------------------------------------------------------------ run queues */

void dtact__q_push_front(dtact__worker_t *w, dtact__fiber_t *f) {
    dtact__deque_t *d = &w->q[f->priority];
    f->prev = NULL;
    f->next = d->head;
    if (d->head) d->head->prev = f;
    else d->tail = f;
    d->head = f;
    w->qmask |= 1u << f->priority;
    w->qlen++;
    w->qmovable += !(f->flags & DTACT__F_PINNED);
}

void dtact__q_push_back(dtact__worker_t *w, dtact__fiber_t *f) {
    dtact__deque_t *d = &w->q[f->priority];
    f->next = NULL;
    f->prev = d->tail;
    if (d->tail) d->tail->next = f;
    else d->head = f;
    d->tail = f;
    w->qmask |= 1u << f->priority;
    w->qlen++;
    w->qmovable += !(f->flags & DTACT__F_PINNED);
}

void dtact__q_unlink(dtact__worker_t *w, dtact__fiber_t *f) {
    dtact__deque_t *d = &w->q[f->priority];
    if (f->prev) f->prev->next = f->next;
    else d->head = f->next;
    if (f->next) f->next->prev = f->prev;
    else d->tail = f->prev;
    if (!d->head) w->qmask &= ~(1u << f->priority);
    w->qlen--;
    w->qmovable -= !(f->flags & DTACT__F_PINNED);
    f->next = f->prev = NULL;
}

static dtact__fiber_t *q_next(dtact__worker_t *w) {
    uint32_t m = w->qmask;
    if (!m) return NULL;
    dtact__fiber_t *f;
    unsigned hi = 31u - (unsigned)__builtin_clz(m);
    f = w->q[hi].head;
    if (DTACT_UNLIKELY((++w->tick & 63u) == 0)) {
        /* Fairness: the oldest fiber of the lowest priority present, when that
         * is a lower priority (Low is never starved) or a fiber that already
         * runs (yielded or woken, never starved by fresh spawns). An unstarted
         * fiber of the same priority waits its turn at the front: starting old
         * subtrees early would turn depth-first fork-join into breadth-first
         * and multiply the live stacks. */
        unsigned lo = (unsigned)__builtin_ctz(m);
        dtact__fiber_t *t = w->q[lo].tail;
        if (lo != hi || t->started) f = t;
    }
    dtact__q_unlink(w, f);
    /* The fiber likely to run next is often cold (spawned long ago, or just
     * spliced in from a peer): start fetching both of its lines now, so the
     * miss overlaps with running f. */
    dtact__fiber_t *nx = w->q[hi].head;
    if (nx) {
        __builtin_prefetch(nx, 1);
        __builtin_prefetch((char *)nx + 64, 1);
    }
    return f;
}

/* ------------------------------------------------------------ switching */

/* Switch from the loop into f. */
static inline void switch_in(dtact__worker_t *w, dtact__fiber_t *f) {
#if defined(DTACT_TSAN)
    __tsan_switch_to_fiber(w->rt->tsan_fibers[f->index], 0);
#endif
#if defined(DTACT_ASAN)
    __sanitizer_start_switch_fiber(&w->asan_fake, f->stack->base, f->stack->size);
#endif
    /* What the fiber's dtact_yield returns if it suspended in a direct yield
     * (see dtact__yield_pick); other suspension points ignore it. */
    int pass = dtact__load_relaxed(&w->rt->shutdown) ? DTACT_ESHUTDOWN : DTACT_OK; // relaxed: informational, as in dtact_yield
    dtact__swap_table[f->variant](&w->sched_sp, f->sp, pass);
#if defined(DTACT_ASAN)
    __sanitizer_finish_switch_fiber(w->asan_fake, NULL, NULL);
#endif
}

void dtact__fiber_switch_out(dtact__worker_t *w, dtact__fiber_t *f, enum dtact__action action) {
    w->action = action;
#if defined(DTACT_TSAN)
    __tsan_switch_to_fiber(w->tsan_fiber, 0);
#endif
#if defined(DTACT_ASAN)
    void *fake = NULL;
    /* A finishing fiber never comes back: NULL tells ASan to drop its fake stack. */
    __sanitizer_start_switch_fiber(action == DTACT__ACT_FINISH ? NULL : &fake, w->asan_bottom, w->asan_size);
#endif
    dtact__swap_table[f->variant](&f->sp, w->sched_sp, 0); /* the loop ignores the value */
#if defined(DTACT_ASAN)
    /* Resumed, possibly on another worker: learn that worker's loop stack. */
    dtact__worker_t *now = dtact__tls_worker();
    __sanitizer_finish_switch_fiber(fake, &now->asan_bottom, &now->asan_size);
#endif
}

/* First code a new fiber runs (on its own stack). */
static void fiber_trampoline(void *arg) {
#if defined(DTACT_ASAN)
    dtact__worker_t *w = dtact__tls_worker();
    __sanitizer_finish_switch_fiber(NULL, &w->asan_bottom, &w->asan_size);
#endif
    dtact__fiber_entry(arg);
}

/* Binds a stack and builds the initial frame. 0, or -1 if no stack is free. */
static int fiber_prepare(dtact__worker_t *w, dtact__fiber_t *f) {
    if (!f->stack) {
        dtact__stack_t *s = dtact__stack_alloc(w->rt->arena, w->id, f->stack_class);
        if (DTACT_UNLIKELY(!s)) return -1;
        s->owner = f;
        f->stack = s;
        f->sp = s->top;
    } /* else: bound at spawn with an inline payload; f->sp is the top left below it */
    f->sp = dtact__make_context(f->sp, fiber_trampoline, f, f->variant);
    f->started = 1;
#if defined(DTACT_TSAN)
    w->rt->tsan_fibers[f->index] = __tsan_create_fiber(0);
#endif
    return 0;
}

/* Completes what the fiber asked for when it switched out. */
static void after_switch(dtact__worker_t *w, dtact__fiber_t *f) {
    dtact__stack_t *s = f->stack;
    if (DTACT_UNLIKELY(!dtact__stack_canary_ok(s))) dtact__stack_overflow_abort(s, "canary destroyed");
    enum dtact__action a = w->action;
    w->action = DTACT__ACT_NONE;
    w->current = NULL;
    uint64_t sg = dtact__load_relaxed(&f->sg); // relaxed: only this worker moves f out of RUNNING/NOTIFIED/SUSPENDING; wakers' CASes are re-read below
    uint64_t gen = DTACT__SG_GEN(sg);
    switch (a) {
    case DTACT__ACT_YIELD:
        /* A pending token is dropped: the fiber is going to run anyway, and
         * every park loops on its condition. */
        dtact__store_release(&f->sg, DTACT__SG(gen, DTACT__ST_READY)); // release: wakers that read READY do nothing; pairs with their acquire CAS
        dtact__q_push_back(w, f);
        break;
    case DTACT__ACT_PARK: {
        uint64_t expect = DTACT__SG(gen, DTACT__ST_SUSPENDING);
        if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_SUSPENDED))) {
            /* acq_rel: publishes f->sp to the waker that will enqueue it (pairs with its CAS on SUSPENDED);
             * a failure means a wake-up (NOTIFIED) arrived while switching out: run it again. */
            dtact__store_release(&f->sg, DTACT__SG(gen, DTACT__ST_READY)); // release: as in YIELD
            dtact__q_push_front(w, f);
        }
        break;
    }
    case DTACT__ACT_FINISH:
#if defined(DTACT_TSAN)
        __tsan_destroy_fiber(w->rt->tsan_fibers[f->index]);
        w->rt->tsan_fibers[f->index] = NULL;
#endif
        s->owner = NULL;
        f->stack = NULL;
        dtact__stack_free(w->rt->arena, w->id, s);
        dtact__fiber_finish(w, f, DTACT_OK);
        break;
    default:
        fprintf(stderr, "dtact: fiber switched out without an action (memory corruption?)\n");
        abort();
    }
}

static void run_fiber(dtact__worker_t *w, dtact__fiber_t *f) {
    if (DTACT_UNLIKELY(!f->started)) {
        if (DTACT_UNLIKELY(dtact__load_relaxed(&w->rt->shutdown))) { // relaxed: a late view only delays the cancellation to a later dispatch
            dtact__fiber_cancel(w, f);
            return;
        }
        if (fiber_prepare(w, f) != 0) {
            /* No stack free in its class: retry after the fibers ahead of it
             * (running fibers release stacks when they finish). */
            dtact__q_push_back(w, f);
            return;
        }
    }
    uint64_t gen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg)); // relaxed: READY fibers are owned by the queue that held them
    dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING)); // relaxed: no waker acts on READY or RUNNING except by CAS, which re-reads
    f->home = (uint16_t)w->id;
    w->current = f;
    switch_in(w, f);
    /* The fiber that switches back is w->current, not necessarily f: a direct
     * yield (dtact__yield_pick) may have passed the CPU on meanwhile. */
    after_switch(w, w->current);
}

/* A yield that switches straight to the next ready fiber, without a round
 * trip through the loop's context: one switch instead of two. Picks that
 * fiber and does all the queue and state bookkeeping; the caller (dtact_yield)
 * then ends with a tail call of the switch. Taken only when the loop has
 * nothing else due (no inbox drain, no timers, no balancing), the next fiber
 * has started and uses the same switcher variant (the saved frame formats must
 * match, including that of the loop's context, which the next fiber will
 * return to), and no sanitizer needs the switch annotated. Returns NULL when
 * the caller must take the ordinary path. Safe because the yielding fiber is
 * put in this worker's own queue, which no other thread touches, before the
 * switch saves its context. */
dtact__fiber_t *dtact__yield_pick(dtact__worker_t *w, dtact__fiber_t *f) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    (void)w;
    (void)f;
    return NULL;
#else
    uint32_t m = w->qmask;
    uint32_t t = w->tick + 1;
    if (!m || w->ntimers || t % 61u == 0 || (t & 63u) == 0) return NULL;
    if (dtact__load_relaxed(&w->inbox) || // relaxed: a peek; the loop drains it properly
        (dtact__load_relaxed(&w->rt->n_hungry) | dtact__load_relaxed(&w->rt->n_parked)) || // relaxed: hints, as in the loop
        dtact__load_relaxed(&w->rt->shutdown)) // relaxed: the loop handles shutdown
        return NULL;
    dtact__fiber_t *next = w->q[31 - __builtin_clz(m)].head;
    if (!next->started || next->variant != f->variant) return NULL;
    if (DTACT_UNLIKELY(!dtact__stack_canary_ok(f->stack))) dtact__stack_overflow_abort(f->stack, "canary destroyed");
    w->tick = t;
    dtact__q_unlink(w, next);
    uint64_t fgen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg)); // relaxed: our own state
    dtact__store_release(&f->sg, DTACT__SG(fgen, DTACT__ST_READY)); // release: as after_switch's YIELD
    dtact__q_push_back(w, f);
    uint64_t ngen = DTACT__SG_GEN(dtact__load_relaxed(&next->sg)); // relaxed: READY fibers are owned by the queue that held them
    dtact__store_relaxed(&next->sg, DTACT__SG(ngen, DTACT__ST_RUNNING)); // relaxed: as in run_fiber
    next->home = (uint16_t)w->id;
    w->current = next;
    return next;
#endif
}

/* ------------------------------------------------------------ the loop */

void *dtact__worker_main(void *arg) {
    dtact__worker_t *w = arg;
    dtact__rt_t *rt = w->rt;
    tls_worker = w;
    dtact__thread_sigaltstack_init();
#if defined(DTACT_TSAN)
    w->tsan_fiber = __tsan_get_current_fiber();
#endif
    for (;;) {
        if (DTACT_UNLIKELY(w->tick % 61u == 0) || !w->qmask) {
            dtact__inbox_drain(w);
            if (w->ntimers) dtact__timers_run(w, dtact__now_ns());
            /* The overflow runs when the queues run dry or run low, and at
             * least one chunk every 488 dispatches (never starved). */
            if (dtact__overflow_len(w) &&
                (!w->qmask || w->qlen < DTACT__WATERMARK_LOW || w->tick % (8u * 61u) == 0))
                dtact__overflow_pull(w);
        }
        dtact__fiber_t *f = q_next(w);
        if (!f) {
            if (dtact__load_relaxed(&rt->shutdown)) { // relaxed: re-checked with the counters in rt_finished
                dtact__shutdown_sweep(rt);
                if (dtact__rt_finished(rt)) break;
            }
            dtact__idle(w);
            continue;
        }
        dtact__store_relaxed(&w->load, w->qlen + dtact__overflow_len(w)); // relaxed: a load hint for peers, never used for correctness
        if (dtact__load_relaxed(&rt->n_hungry) | dtact__load_relaxed(&rt->n_parked)) // relaxed: hints; see mesh.c
            dtact__balance(w);
        run_fiber(w, f);
    }
    dtact__fetch_add_acq_rel(&rt->exited, 1); // acq_rel: the last worker out publishes its counters to destroy
    dtact__wake_all_workers(rt);
    dtact__thread_sigaltstack_fini();
    tls_worker = NULL;
    return NULL;
}
