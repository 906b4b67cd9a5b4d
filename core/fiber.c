/* core/fiber.c -- the fiber lifecycle: wake-ups, parking, the fiber's body,
 * and its one end (retire), shared by finish, cancel and shutdown.
 *
 * State machine and generations: see types.h. The rules this file keeps:
 *  1. Every transition is a store by the owner of the state (the worker that
 *     runs the fiber) or a CAS that includes the generation (anyone else), so
 *     a wake-up aimed at a recycled record fails instead of waking a stranger.
 *  2. Only a successful CAS SUSPENDED -> READY enqueues a parked fiber: two
 *     wake-ups cannot both enqueue it. A wake-up that finds it RUNNING or
 *     SUSPENDING leaves a token (NOTIFIED) that its next park consumes.
 *  3. FINISHED and FREE are terminal for wake-ups, so a late wake-up of a
 *     finished fiber is harmless (it crashed the original Dtact, the earlier
 *     Rust implementation whose C API this library keeps).
 *  4. A fiber's end is published by its worker after the fiber has switched
 *     out for good (loop.c, ACT_FINISH), so whoever reaps the record can
 *     never race with code still running on the fiber's stack.
 *  5. Every spawned fiber either runs exactly once or, if shutdown comes first,
 *     is cancelled exactly once; in both cases its cleanup runs exactly once
 *     and it leaves through dtact__fiber_retire, the one end of every fiber:
 *        release the stack -> close the record (one CAS) -> publish result and
 *        status -> wake the joiners -> count it -> free the record if detached.
 */
#include "internal.h"
#include "switch.h"

#if defined(DTACT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* ------------------------------------------------------------ wake-ups */

/* A woken fiber's stack is usually cold: the switch that resumes it reads
 * its saved frame first, then the frames of the calls that parked it. Start
 * fetching them at the wake-up, which comes well before the dispatch (a
 * reactor wakes a batch, then runs it): with a thousand connections the
 * first load of the switch missed in 3/4 of its samples. The lines are the
 * switch frame and the parked calls' frames above it (256 bytes). */
static inline void prefetch_frame(const dtact__fiber_t *f) {
    const char *sp = f->sp;
    __builtin_prefetch(sp, 0);
    __builtin_prefetch(sp + 64, 0);
    __builtin_prefetch(sp + 128, 0);
    __builtin_prefetch(sp + 192, 0);
}

void dtact__unpark(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen) {
    uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with the release stores of the state
    for (;;) {
        if (DTACT__SG_GEN(sg) != gen) return;
        switch (DTACT__SG_STATE(sg)) {
        case DTACT__ST_SUSPENDED:
            // acq_rel: takes ownership of the parked fiber (pairs with after_switch's CAS to SUSPENDED, which published f->sp)
            if (dtact__cas_weak_acq_rel(&f->sg, &sg, DTACT__SG(gen, DTACT__ST_READY))) {
                prefetch_frame(f);
                dtact__schedule(rt, dtact__tls_worker(), f, 1);
                return;
            }
            break;
        case DTACT__ST_RUNNING:
        case DTACT__ST_SUSPENDING:
            // acq_rel: the token; pairs with park_self's CAS that consumes it
            if (dtact__cas_weak_acq_rel(&f->sg, &sg, DTACT__SG(gen, DTACT__ST_NOTIFIED))) return;
            break;
        case DTACT__ST_READY:
        case DTACT__ST_NOTIFIED: {
            /* It will run (or consume its token) anyway, but it must see what
             * the caller stored before this wake-up (a WOKEN flag, a done word):
             * the fiber may be consuming that token or starting to run right now,
             * then re-reading the caller's flag. Both sides store, fence, load
             * (park_self ends with the other fence), so one sees the other's
             * store: without it each can miss the other (store buffering) and
             * the fiber parks again for good (found by tests/sync_stress.c). */
            dtact__fence_seq_cst();
            uint64_t again = dtact__load_acquire(&f->sg); // acquire: as the first load
            if (again == sg) return;
            sg = again;
            break;
        }
        default: /* FINISHED, FREE: terminal */ return;
        }
    }
}

static void park_self(dtact__worker_t *w, dtact__fiber_t *f, uint64_t deadline) {
    uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with a waker's CAS to NOTIFIED
    uint64_t gen = DTACT__SG_GEN(sg);
    if (DTACT__SG_STATE(sg) == DTACT__ST_NOTIFIED) {
        /* A token is pending: consume it and return. Only this fiber leaves NOTIFIED while running. */
        // relaxed: wakers CAS from RUNNING, which re-reads
        dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING));
        return;
    }
    if (dtact__load_relaxed(&w->rt->shutdown)) return; // relaxed: callers re-check shutdown after every park
    uint64_t expect = DTACT__SG(gen, DTACT__ST_RUNNING);
    // acq_rel: pairs with a waker's CAS
    if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_SUSPENDING))) {
        dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING)); // NOTIFIED arrived: consume it
        return;
    }
    if (!deadline) {
        dtact__switch_out(w, f, DTACT__ACT_PARK);
        return;
    }
    /* Only this fiber writes its wait number; other threads read it as a hint. */
    uint32_t seq = dtact__load_relaxed(&f->wait_seq) + 1u; // relaxed: our own word
    dtact__store_relaxed(&f->wait_seq, seq);               // relaxed: read by timer heaps as a hint
    if (dtact__timers_add(&w->timers, deadline, f, gen, seq) != DTACT_OK) {
        /* out of memory: degrade to a spurious wake-up */
        dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING)); // relaxed: as above
        return;
    }
    dtact__worker_t *owner = w;
    dtact__switch_out(w, f, DTACT__ACT_PARK);
    /* The wait is over. Its timer entry goes at once if we resumed on the
     * worker that holds it (timer.h, "early removal"); else the bump of
     * wait_seq marks it stale for that worker's next compaction. */
    // relaxed: a late view by the entry's owner keeps a stale entry a little longer
    dtact__store_relaxed(&f->wait_seq, seq + 1u);
    if (dtact__tls_worker() == owner) dtact__timers_cancel(&owner->timers, f, seq);
}

/* Every return is followed by a seq_cst fence: the fiber-side half of the
 * Dekker pair with dtact__unpark's READY/NOTIFIED path (see there): the state
 * store that made this fiber RUNNING again (the token's consumption, or the
 * loop's dispatch on this thread) is ordered before the caller's re-read of
 * its wake-up flag. */
void dtact__park_self(dtact__worker_t *w, dtact__fiber_t *f, uint64_t deadline) {
    park_self(w, f, deadline);
    dtact__fence_seq_cst(); // seq_cst: pairs with the fence in dtact__unpark's READY/NOTIFIED path
}

/* ------------------------------------------------------------ the end */

void dtact__fiber_release_stack(dtact__rt_t *rt, uint32_t cache, dtact__fiber_t *f) {
#if defined(DTACT_TSAN)
    if ((f->flags & DTACT__F_STARTED) && rt->tsan_fibers[f->index]) {
        __tsan_destroy_fiber(rt->tsan_fibers[f->index]);
        rt->tsan_fibers[f->index] = NULL;
    }
#endif
    dtact__stack_t *s = f->stack;
    if (!s) return;
    s->owner = NULL;
    f->stack = NULL;
    // relaxed: a late view is covered by the starving worker's wake-up of its peers, which flush their caches (loop.c)
    if (DTACT_UNLIKELY(dtact__load_relaxed(&rt->n_starving))) {
        /* Fibers wait for stacks: put this one where any worker finds it
         * and tell them (loop.c, "waiting for a stack"). */
        dtact__stack_free(rt->arena, DTACT__NO_CACHE, s);
        // seq_cst: read by the starving worker's idle check after its fence
        dtact__fetch_add_seq_cst(&rt->stack_frees, 1u);
        dtact__wake_all_workers(rt);
        return;
    }
    dtact__stack_free(rt->arena, cache, s);
}

/* Counts a retired fiber: the termination check (shutdown.c) compares these
 * counts with the spawns. */
static void count_end(dtact__rt_t *rt, dtact__worker_t *w, int status) {
    if (!w) dtact__fetch_add_release(&rt->host_retired, 1u); // release: pairs with rt_finished's acquire
    else if (status == DTACT_OK) dtact__stat_inc(&w->st.completed);
    else dtact__stat_inc(&w->st.cancelled);
}

void dtact__fiber_retire(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *f, int status) {
    uint32_t cache = w ? w->id : DTACT__NO_CACHE;
    dtact__fiber_release_stack(rt, cache, f);
    void *result = dtact__load_relaxed(&f->result); // relaxed: written by this fiber (or cancel) on this thread
    uint64_t gen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg)); // relaxed: only this thread changes the generation now
    /* Close the record (internal.h): one CAS, once no joiner holds the lock.
     * From here the waiter list and `joinable` are ours alone. */
    uint32_t v = dtact__load_relaxed(&f->lock); // relaxed: validated by the CAS
    for (;;) {
        if (v & DTACT__LOCKED) {
            dtact__cpu_relax();
            v = dtact__load_relaxed(&f->lock); // relaxed: spin until the joiner unlocks
            // acquire: pairs with the last unlock (linked waiter records, joinable)
        } else if (dtact__cas_weak_acquire(&f->lock, &v, dtact__closed_word(gen))) {
            break;
        }
    }
    int detached = !f->joinable;
    /* Leave line 1 as spawn expects of a free record (spawn.c): from the
     * closing CAS on, joinable is ours (a detach sees the record closed) and
     * the cleanup has run; the waiter list is taken below. Done here, on the
     * line this worker holds anyway, not by a reaper that only read it. */
    f->joinable = 0;
    f->cleanup = NULL;
    /* release fence: spawn no longer resets status, so this store may be the
     * first of this generation; a late joiner of the previous one that reads
     * it then sees the generation change when it re-checks sg (join.c, look()). */
    dtact__fence_release();
    dtact__store_relaxed(&f->status, status); // relaxed: published by the release store of sg below
    dtact__waiter_t *list = f->waiters;
    f->waiters = NULL;
    /* release: publishes result/status to late joiners, which acquire-load sg. */
    dtact__store_release(&f->sg, DTACT__SG(gen, detached ? DTACT__ST_FREE : DTACT__ST_FINISHED));
    /* A detached record goes back before anyone is woken: a joiner that
     * returns may spawn at once and must find the record free (a full
     * mFiberCapacity is reachable right after an await). Nothing below
     * touches f: the waiter list is ours and result/status are copies. */
    if (detached) dtact__fiber_free_detached(rt->arena, cache, f);
    while (list) {
        dtact__waiter_t *nx = list->next;
        dtact__fiber_t *wf = list->fiber;
        uint64_t wg = list->gen;
        list->result = result;
        list->status = status;
        if (wf) {
            // release: pairs with the waiter's acquire load; the record may vanish after this
            dtact__store_release(&list->done, DTACT__WAIT_DONE);
            dtact__unpark(rt, wf, wg);
        } else if (dtact__xchg_acq_rel(&list->done, DTACT__WAIT_DONE) == DTACT__WAIT_SLEEPING) {
            /* acq_rel: release publishes result/status to the host waiter; the old value says whether it sleeps.
             * The waiter may already have left (a spurious futex return saw DONE): a wake
             * of a dead stack address is harmless, every futex user loops on its condition. */
            dtact__futex_wake(&list->done, 1);
        }
        list = nx;
    }
    count_end(rt, w, status);
}

void dtact__fiber_cancel(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *f) {
    /* Never started. The cleanup runs here exactly once (for an inline
     * payload, while the stack holding it is still bound). */
    if (f->cleanup) f->cleanup(f->arg);
    dtact__fence_release();                 /* as in fiber_entry: the first store of result in this generation */
    dtact__store_relaxed(&f->result, NULL); // relaxed: read back by retire on this thread
    dtact__fiber_retire(rt, w, f, DTACT_ECANCELED);
}

/* Reaps a FINISHED record at generation gen: exactly one caller wins. */
int dtact__fiber_reap(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen) {
    uint64_t expect = DTACT__SG(gen, DTACT__ST_FINISHED);
    // acq_rel: the claim; pairs with retire's release store
    if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_FREE))) return 0;
    dtact__worker_t *w = dtact__tls_worker();
    dtact__fiber_free(rt->arena, (w && w->rt == rt) ? w->id : DTACT__NO_CACHE, f);
    return 1;
}

/* ------------------------------------------------------------ the body */

void dtact__fiber_entry(void *arg) {
    dtact__fiber_t *f = arg;
    dtact__switch_first_entry();
    /* relaxed: read back by retire on this thread, published by its release store of sg.
     * The release fence first: spawn does not reset result, so this is the first
     * store of it in this generation (a late joiner of the previous one re-checks
     * sg after reading it: join.c, look()); the fiber may have moved workers. */
    if (f->flags & DTACT__F_RESULT_FN) {
        void *r = f->fn.rfn(f->arg);
        dtact__fence_release();
        dtact__store_relaxed(&f->result, r);
    } else {
        f->fn.vfn(f->arg);
        dtact__fence_release();
        dtact__store_relaxed(&f->result, NULL);
    }
    if (f->cleanup) f->cleanup(f->arg);
    /* The worker retires us once we are off this stack (rule 4). */
    dtact__switch_out(dtact__tls_worker(), f, DTACT__ACT_FINISH);
    dtact__context_returned();
}
