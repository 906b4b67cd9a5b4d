/* core/loop.c -- the dispatch loop: the body of every worker thread.
 *
 * One iteration: housekeeping when due (drain the inbox, fire due timers,
 * pull an overflow chunk), take the next fiber from the run queue (runq.c),
 * publish the load hint and balance when peers are hungry or asleep
 * (mesh.c), and run the fiber until it switches back; then complete what it
 * asked for (after_switch). With nothing to run the loop checks for the end
 * of a shutdown (shutdown.c) and otherwise goes idle (mesh.c) until news or
 * its next timer.
 *
 * Housekeeping cadence. Every DTACT__DRAIN_PERIOD-th dispatch (and whenever
 * the queues are empty) the inbox is drained and timers fire, so remote work
 * and deadlines wait a bounded number of dispatches; the overflow feeds the
 * queues when they run dry or low and one chunk every 8 periods in any case.
 *
 * Starting a fiber. A fiber gets its stack when it first runs (fork-join code
 * spawns far more fibers than ever run at once). A fiber that has not started
 * when shutdown comes is cancelled instead (its cleanup runs, its joiners get
 * DTACT_ECANCELED).
 *
 * Waiting for a stack. When every stack of a fiber's class is in use, the
 * fiber is set aside (runq "starved") and the worker goes on with its other
 * work, or sleeps: it does not spin. Its first starved fiber bumps
 * rt->n_starving and wakes every peer; while n_starving is non-zero every
 * worker empties its stack caches into the shared lists at its housekeeping,
 * and every stack released goes to the shared lists, bumps rt->stack_frees
 * and wakes every worker (fiber.c, release_stack). A starving worker retries
 * its starved fibers when stack_frees moved past the value it saw when they
 * began to wait (its idle check looks at it too, after the park fence, so a
 * release between its check and its sleep is not lost), and at shutdown,
 * which cancels them. A stack whose commit failed (the kernel refused the
 * memory: nothing is in use, so no release may ever come) sets a retry
 * deadline too: DTACT__STACK_RETRY_NS, doubling per failure up to
 * DTACT__STACK_RETRY_MAX_NS, back to the start when a fiber gets its stack.
 * The idle sleep ends at that deadline as at a timer's.
 *
 * Completing a switch (after_switch), on the loop's own stack:
 *   YIELD   READY, to the back of the queue;
 *   PARK    SUSPENDING -> SUSPENDED by CAS; a wake-up that came meanwhile
 *           (NOTIFIED) puts it straight back at the front;
 *   FINISH  retire (fiber.c): stack, record, joiners.
 */
#include <stdio.h>

#include "internal.h"
#include "switch.h"

#if defined(DTACT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#define DTACT__STACK_RETRY_NS 1000000ull       /* first retry of a failed stack commit */
#define DTACT__STACK_RETRY_MAX_NS 128000000ull /* the backoff's cap */

/* Binds a stack and builds the initial frame. DTACT_OK, or DTACT_EEXHAUSTED
 * (no stack is free) or DTACT_ENOMEM (the commit of a new one failed). */
static int fiber_prepare(dtact__worker_t *w, dtact__fiber_t *f) {
    if (!f->stack) {
        int why;
        dtact__stack_t *s = dtact__stack_alloc_why(w->rt->arena, w->id, f->stack_class, &why);
        if (DTACT_UNLIKELY(!s)) return why;
        if (DTACT_UNLIKELY(w->stack_retry_ns)) w->stack_retry_ns = 0;
        s->owner = f;
        f->stack = s;
        f->sp = s->top;
    } /* else: bound at spawn with an inline payload; f->sp is the top left below it */
    f->sp = dtact__make_context(f->sp, dtact__fiber_entry, f, f->variant);
    f->flags |= DTACT__F_STARTED; /* line 0: the spawner wrote flags, the owner worker reads them */
#if defined(DTACT_TSAN)
    w->rt->tsan_fibers[f->index] = __tsan_create_fiber(0);
#endif
    return DTACT_OK;
}

/* Sets f aside until a stack of its class is freed, or, when the commit of
 * one failed (why == DTACT_ENOMEM), until the retry deadline (top of file). */
static void starve(dtact__worker_t *w, dtact__fiber_t *f, int why) {
    if (why == DTACT_ENOMEM && !w->stack_retry_at) {
        uint64_t d = w->stack_retry_ns ? w->stack_retry_ns * 2 : DTACT__STACK_RETRY_NS;
        w->stack_retry_ns = d < DTACT__STACK_RETRY_MAX_NS ? d : DTACT__STACK_RETRY_MAX_NS;
        w->stack_retry_at = dtact__now_ns() + w->stack_retry_ns;
    }
    int first = !dtact__runq_starved(&w->rq);
    dtact__runq_starve(&w->rq, f);
    if (!first) return;
    // seq_cst: ordered before the epoch read below and the peers' wake-up
    dtact__fetch_add_seq_cst(&w->rt->n_starving, 1u);
    w->starve_epoch = dtact__load_seq_cst(&w->rt->stack_frees); // seq_cst: a release after this read bumps it past
    dtact__wake_all_workers(w->rt);                             /* sleeping peers flush their stack caches */
}

/* Housekeeping for stack waits: retries the starved fibers once a stack was
 * freed (or at shutdown, which cancels them), and, while any worker waits,
 * empties this worker's stack caches for it. */
static void stack_waits(dtact__worker_t *w) {
    dtact__rt_t *rt = w->rt;
    // relaxed: a hint; the starving worker's wake-up brings us back here
    if (DTACT_LIKELY(!dtact__load_relaxed(&rt->n_starving))) return;
    dtact__stack_cache_flush(rt->arena, w->id);
    if (!dtact__runq_starved(&w->rq)) {
        // seq_cst: as a release in fiber.c: the flushed stacks are in the shared lists
        dtact__fetch_add_seq_cst(&rt->stack_frees, 1u);
        dtact__wake_all_workers(rt);
        return;
    }
    // seq_cst: pairs with the releasers' increments; relaxed: shutdown is polled
    if (dtact__load_seq_cst(&rt->stack_frees) != w->starve_epoch || dtact__load_relaxed(&rt->shutdown) ||
        (w->stack_retry_at && dtact__now_ns() >= w->stack_retry_at)) {
        w->stack_retry_at = 0;
        dtact__runq_unstarve(&w->rq);
        dtact__fetch_sub_seq_cst(&rt->n_starving, 1u); // seq_cst: as the increment in starve()
    }
}

static void after_switch(dtact__worker_t *w, dtact__fiber_t *f) {
    if (DTACT_UNLIKELY(!dtact__stack_canary_ok(f->stack))) dtact__stack_overflow_abort(f->stack, "canary destroyed");
    if (DTACT_UNLIKELY(!dtact__stack_sp_ok(f->stack, f->sp)))
        dtact__stack_overflow_abort(f->stack, "stack pointer below the stack at a switch");
#if defined(DTACT_ASAN)
    if (!f->stack->asan_low || (uintptr_t)f->sp < (uintptr_t)f->stack->asan_low) f->stack->asan_low = f->sp;
#endif
    enum dtact__action a = w->action;
    w->action = DTACT__ACT_NONE;
    w->current = NULL;
    // relaxed: only this worker moves f out of RUNNING/NOTIFIED/SUSPENDING; wakers' CASes are re-read below
    uint64_t sg = dtact__load_relaxed(&f->sg);
    uint64_t gen = DTACT__SG_GEN(sg);
    switch (a) {
    case DTACT__ACT_YIELD:
        /* A pending token is dropped: the fiber is going to run anyway, and
         * every park loops on its condition. */
        // release: wakers that read READY do nothing; pairs with their acquire CAS
        dtact__store_release(&f->sg, DTACT__SG(gen, DTACT__ST_READY));
        dtact__runq_push_back(&w->rq, f);
        break;
    case DTACT__ACT_PARK: {
        uint64_t expect = DTACT__SG(gen, DTACT__ST_SUSPENDING);
        if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_SUSPENDED))) {
            /* acq_rel: publishes f->sp to the waker that will enqueue it (pairs with its CAS on SUSPENDED);
             * a failure means a wake-up (NOTIFIED) arrived while switching out: run it again. */
            dtact__store_release(&f->sg, DTACT__SG(gen, DTACT__ST_READY)); // release: as in YIELD
            dtact__runq_push_front(&w->rq, f);
        }
        break;
    }
    case DTACT__ACT_FINISH: dtact__fiber_retire(w->rt, w, f, DTACT_OK); break;
    default: dtact__fatal("a fiber switched out without an action", "memory corruption?");
    }
}

static void run_fiber(dtact__worker_t *w, dtact__fiber_t *f) {
    if (DTACT_UNLIKELY(!(f->flags & DTACT__F_STARTED))) {
        // relaxed: a late view only delays the cancellation to a later dispatch
        if (DTACT_UNLIKELY(dtact__load_relaxed(&w->rt->shutdown))) {
            dtact__fiber_cancel(w->rt, w, f);
            return;
        }
        int why = fiber_prepare(w, f);
        if (why != DTACT_OK) {
            starve(w, f, why); /* no stack for it now: wait for one without spinning */
            return;
        }
    }
    // relaxed: READY fibers are owned by the queue that held them
    uint64_t gen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg));
    // relaxed: no waker acts on READY or RUNNING except by CAS, which re-reads
    dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING));
    f->home = (uint16_t)w->id;
    w->current = f;
    dtact__rq_leave(w, 1); /* lend the queues out while the fiber runs (sysmon.c) */
    dtact__switch_in(w, f);
    dtact__rq_enter(w); /* and take them back (waits out a peer's take-over) */
    w->yielding = NULL; /* every direct yield since the switch in has completed its swap */
    /* The fiber that switches back is w->current, not necessarily f: a direct
     * yield (dtact_yield) may have passed the CPU on meanwhile. */
    after_switch(w, w->current);
}

/* A busy worker looks at its peers too, every DTACT__MON_BUSY_NS at most
 * (sysmon.c): when every other worker is busy, the work of a stuck one
 * still moves. */
static void busy_scan(dtact__worker_t *w) {
    w->mon_rounds = 0;
    if (w->rt->nworkers < 2) return;
    uint64_t now = dtact__now_ns(), again;
    if (dtact__load_relaxed(&w->ioset)) dtact__share_tick(w, now); // relaxed: our own field
    if (now < w->mon_next) return;
    w->mon_next = now + DTACT__MON_BUSY_NS;
    dtact__mon_scan(w, now, &again);
}

/* Wakes the fibers whose deadlines passed; returns the next deadline (0: none). */
static uint64_t fire_timers(dtact__worker_t *w) {
    uint64_t now = dtact__now_ns();
    dtact__timer_t t;
    while (dtact__timers_pop_due(&w->timers, now, &t)) {
        // relaxed: a stale match only causes a spurious wake-up, which parks tolerate
        if (dtact__load_relaxed(&t.fiber->wait_seq) == t.seq) dtact__unpark(w->rt, t.fiber, t.gen);
    }
    return dtact__timers_next(&w->timers);
}

/* The worker thread is ending without leaving its loop: a fiber called
 * pthread_exit (or the thread was cancelled). Its queue and the fiber's
 * state went with it, so the runtime cannot go on: say so and stop, rather
 * than let shutdown wait forever for fibers that can never run. */
static void worker_thread_lost(void *arg) {
    dtact__worker_t *w = arg;
    char msg[160];
    dtact__fiber_t *f = w->current;
    uint64_t h = f ? dtact__handle_make(f->index, dtact__fiber_gen(f)) : 0;
    snprintf(msg, sizeof msg, "worker %u ended inside fiber 0x%llx (pthread_exit or pthread_cancel on a fiber)",
             (unsigned)w->id, (unsigned long long)h);
    dtact__fatal("a worker thread was lost", msg);
}

void *dtact__worker_main(void *arg) {
    dtact__worker_t *w = arg;
    dtact__rt_t *rt = w->rt;
    dtact__tls_worker_set(w);
    dtact__thread_exit_watch(worker_thread_lost, w);
    dtact__fp_env_default(); /* no-float fibers share this state: start from the default */
    dtact__thread_sigaltstack_init();
    for (;;) {
        if (DTACT_UNLIKELY(dtact__runq_housekeeping_due(&w->rq)) || dtact__runq_empty(&w->rq)) {
            dtact__inbox_drain(w);
            // relaxed: our own field
            if (dtact__load_relaxed(&w->ioset)) dtact__reactor_poll(w);
            if (dtact__timers_count(&w->timers)) fire_timers(w);
            if (dtact__runq_overflow_due(&w->rq)) dtact__runq_overflow_pull(&w->rq);
            stack_waits(w);
            if (DTACT_UNLIKELY(++w->mon_rounds >= DTACT__MON_ROUNDS)) busy_scan(w);
        }
        dtact__fiber_t *f = dtact__runq_next(&w->rq);
        if (!f) {
            if (dtact__load_relaxed(&rt->shutdown)) { // relaxed: re-checked with the counters in rt_finished
                dtact__shutdown_sweep(rt);
                if (dtact__rt_finished(rt)) break;
            }
            uint64_t next = dtact__timers_count(&w->timers) ? fire_timers(w) : 0;
            if (DTACT_UNLIKELY(w->stack_retry_at) && (!next || w->stack_retry_at < next)) next = w->stack_retry_at;
            if (dtact__runq_empty(&w->rq)) dtact__idle(w, next);
            continue;
        }
        // relaxed: a load hint for peers, never used for correctness
        dtact__store_relaxed(&w->load, dtact__runq_load(&w->rq));
        if (dtact__load_relaxed(&rt->n_hungry) | dtact__load_relaxed(&rt->n_parked)) // relaxed: hints; see mesh.c
            dtact__balance(w);
        run_fiber(w, f);
    }
    dtact__fetch_add_acq_rel(&rt->exited, 1); // acq_rel: the last worker out publishes its counters to destroy
    dtact__wake_all_workers(rt);
    dtact__share_fini(w);
    dtact__thread_sigaltstack_fini();
    dtact__thread_exit_unwatch();
    dtact__tls_worker_set(NULL);
    return NULL;
}
