/* core/sysmon.c -- stuck workers: a worker blocked inside a fiber (a plain
 * read(2), sleep(3), a long computation: anything not offloaded) must not
 * strand the fibers queued behind it.
 *
 * What a user sees. A worker whose fiber has run for DTACT__STUCK_NS (1 ms)
 * without a dispatch or any operation on its run queues (no spawn, no yield,
 * no wake-up from it) is "stuck". Its peers then
 *  - take its queued movable work, half of it per look: the fibers queued on
 *    it (its inbox, its deques, its overflow chunks) that may run on the taker: Any affinity,
 *    SameCCX / SameNUMA within the group (as for every move,
 *    docs/scheduler.md), but never a SameCore or same-thread-switcher (pinned) fiber and
 *    never a Critical one: those stay and run when the worker comes back;
 *  - place no new work on it while it is marked: host launches skip it,
 *    wake-ups of movable fibers whose last worker it was go to another
 *    worker, deflection does not pick it.
 * The mark goes when the worker comes back (its next queue operation or
 * dispatch), and it then runs its own queue as before. Timers stay on the
 * stuck worker's heap (timer.c): a timed wait that began there ends when it
 * comes back, unless something else wakes the fiber first. A fiber that blocks
 * for good still blocks its own worker's thread, and the fibers pinned to it
 * still wait: the remedy for the blocking call itself is dtact_blocking or
 * dtact_wait_fd (docs/offload.md, README "I/O").
 *
 * Detection (Go's sysmon, without the extra thread). Each worker publishes a
 * heartbeat, `beat`, that it bumps whenever it takes its run queues
 * (dtact__rq_enter: its loop after every switch back, and any queue operation
 * of a fiber running on it) and whenever it lends them out again
 * (dtact__rq_leave: before it switches into a fiber, after a fiber's queue
 * operation): even while it may touch them, odd while a fiber runs and the
 * queues are untouched. Peers look at the heartbeats:
 *  - an idle worker, before it parks, when any peer is busy (its beat odd,
 *    or even while it is neither asleep nor hungry: in its loop, or in a
 *    queue operation of a fiber that goes on running: looked at again
 *    after DTACT__MON_MAX_NS); it then sleeps at most until it must look
 *    again, backing off from 1 ms to DTACT__MON_MAX_NS while nothing is
 *    stuck (in an idle runtime every
 *    worker sleeps or spins, so it sleeps without a timeout and burns
 *    nothing);
 *  - a busy worker, from its housekeeping, every DTACT__MON_BUSY_NS at most
 *    (a clock read every DTACT__MON_ROUNDS rounds); it takes work only while
 *    its own queues hold fewer than DTACT__WATERMARK_LOW fibers.
 * No extra thread, and nothing on the path of a socket read or a dispatch
 * beyond the two stores and one load of the bracket. The first peer to see
 * an odd beat notes it in the worker's `seen` word with the time; a peer
 * that finds the same odd beat DTACT__STUCK_NS later marks the worker stuck
 * (DTACT__MON_STUCK in `mon`, counted in rt->n_stuck, the hint that keeps the
 * placement paths free of any extra load while nobody is stuck).
 *
 * The take-over. The run queues are owner-only data (runq.c: no atomics),
 * and the stuck owner may come back at any moment and touch them. The taker
 * therefore claims the whole queue, Dekker style, with an asymmetric fence so
 * that the owner's side costs no fence instruction:
 *   owner (enter):  store beat = even     ; compiler fence ; load mon
 *                   if mon has CLAIM: wait until it is clear (acquire)
 *   taker:          fetch_or mon |= CLAIM ; membarrier()   ; load beat
 *                   if beat is still the odd value it saw stuck: the queues
 *                   are its own until it clears CLAIM (release); else it
 *                   backs off at once
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every
 * CPU that runs a thread of the process, so either the owner's store of beat
 * is visible to the taker's load (the taker backs off), or the owner's load
 * of mon comes after the barrier and sees the claim (the owner waits). A
 * thread that is not running (blocked in its system call) passed a full
 * barrier when it was switched out. Without membarrier (Linux < 4.14, a
 * seccomp filter) both sides use seq_cst fences (w->mon_fence), and so does
 * a TSan build, which does not model membarrier. Memory: the owner's release
 * store of the odd beat publishes its last queue writes to the taker's
 * acquire load of it; the taker's release of CLAIM publishes its writes to
 * the owner's acquire load of mon in enter. The taker never waits for the
 * owner, and the owner waits only for a taker that is running its own loop
 * (not a fiber), so nothing can deadlock; a worker in its loop has an even
 * beat and is never claimed, so a taker is never itself taken.
 *
 * Under the claim the taker moves the stuck worker's inbox to its queues
 * (pinned single fibers included: they must stay there), then takes the
 * overflow chunks and, highest priority first and oldest first, the fibers
 * that may run on the taker (dtact__can_move) into its own queues: half of
 * the movable work (rounded up; at most DTACT__TAKE_MAX) per claim. The
 * taker comes back for more when it runs dry (its idle look), and so do the
 * other idle workers, so a stuck worker is emptied in a few looks, while a
 * worker that only looked stuck (its thread preempted by the OS for over
 * the threshold on a loaded machine) keeps half of its work. One queued
 * fiber is left alone: a direct yield (fiber_api.c) queues the yielding
 * fiber before the swap that saves its context, and its thread may be
 * preempted in between for longer than the threshold; the owner names that
 * fiber in w->yielding until its loop runs again. A fiber is in one place at
 * a time and moves in one thread, as for every move (mesh.c); the queue
 * checker (runq.c) checks both queues after every operation. When a claim
 * finds nothing (more) it may take, the beat is noted in `taken`, so that
 * later looks at the same stuck episode claim again only when its inbox
 * receives work.
 *
 * Early takes (load balance). The same take-over serves an idle worker long
 * before the 1 ms of "stuck": a worker whose hungry spin (mesh.c) has not
 * been fed picks the peer that runs a fiber (odd beat) with the most queued
 * work (dtact__mon_pick), and when that peer's beat is still the same
 * DTACT__STEAL_NS later -- the same fiber has run all along, so the peer has
 * not been to its loop, where it would have fed the hungry worker -- takes
 * half of its movable work (dtact__mon_steal). Nothing is marked: placement
 * is not changed. Without it, work queued behind a long computation waited
 * for the stuck mark, 1 ms, and for the looker's back-off (up to
 * DTACT__MON_MAX_NS) while the looker idled: the tail of a batch with a
 * few long fibers.
 */
#include "internal.h"

#define DTACT__TAKE_MAX 4096u

void dtact__mon_setup(dtact__rt_t *rt) {
    rt->mon_membarrier = dtact__membarrier_register() == 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        rt->workers[i].mon_fence = !rt->mon_membarrier;
}

static void unmark(dtact__rt_t *rt, dtact__worker_t *p) {
    // relaxed: the mark is a placement hint; the RMW makes its count exact
    if (dtact__fetch_and_relaxed(&p->mon, ~DTACT__MON_STUCK) & DTACT__MON_STUCK)
        dtact__fetch_sub_relaxed(&rt->n_stuck, 1u); // relaxed: hint counter
}

void dtact__mon_unmark(dtact__worker_t *w) { unmark(w->rt, w); }

void dtact__mon_wait(dtact__worker_t *w) {
    uint32_t m;
    unsigned spins = 0;
    // acquire: pairs with the taker's release of CLAIM: its writes to our queues
    while ((m = dtact__load_acquire(&w->mon)) & DTACT__MON_CLAIM) {
        if (++spins < 128) dtact__cpu_relax();
        else dtact__thread_yield(); /* the taker may have been preempted */
    }
    if (m & DTACT__MON_STUCK) unmark(w->rt, w);
}

static void mark(dtact__rt_t *rt, dtact__worker_t *p, uint32_t beat) {
    if (dtact__load_relaxed(&p->mon) & DTACT__MON_STUCK) return; // relaxed: a peek
    /* Count first, so that n_stuck is never below the marks. */
    dtact__fetch_add_relaxed(&rt->n_stuck, 1u);                                  // relaxed: hint counter
    if (dtact__fetch_or_relaxed(&p->mon, DTACT__MON_STUCK) & DTACT__MON_STUCK) { // relaxed: hint
        dtact__fetch_sub_relaxed(&rt->n_stuck, 1u);                              // relaxed: hint counter
        return;
    }
    /* The owner may have come back since we read its beat and missed the
     * mark: take it off again (it also clears it at its next enter or idle). */
    if (dtact__load_relaxed(&p->beat) != beat) unmark(rt, p); // relaxed: a hint
}

/* The heavy side of the asymmetric fence (top of file): 0, or -1 when it
 * could not be made (then nothing may be taken). */
static int heavy_fence(const dtact__rt_t *rt) {
#if !defined(DTACT_TSAN)
    if (rt->mon_membarrier) return dtact__membarrier();
#else
    (void)rt;
#endif
    dtact__fence_seq_cst(); // seq_cst: the owners fence too (mon_fence / TSan); pairs with dtact__rq_enter's
    return 0;
}

typedef struct take_ctx_s {
    const dtact__rt_t *rt;
    uint32_t to;
    const dtact__fiber_t *yielding;
} take_ctx_t;

static int may_take(const dtact__fiber_t *f, void *ctx) {
    const take_ctx_t *c = ctx;
    return f != c->yielding && !(f->flags & DTACT__F_PINNED) && dtact__can_move(c->rt, f, c->to);
}

/* Moves half of p's movable work (rounded up, at most DTACT__TAKE_MAX) into
 * w's queues; p's queues are claimed. */
static uint32_t move_work(dtact__worker_t *w, dtact__worker_t *p) {
    uint32_t n = 0, max = (dtact__runq_movable(&p->rq) + dtact__runq_overflow_len(&p->rq) + 1) / 2;
    if (max > DTACT__TAKE_MAX) max = DTACT__TAKE_MAX;
    dtact__fiber_t *h;
    while (n < max && (h = dtact__runq_overflow_take_oldest(&p->rq)) != NULL) {
        n += h->chunk_len;
        dtact__runq_splice(&w->rq, h); /* overflow fibers are Normal and Any: they may run anywhere */
    }
    /* Not the fiber of a direct yield whose switch may not have saved it yet
     * (its thread preempted between the queue operation and the switch). */
    take_ctx_t ctx = {w->rt, w->id, p->yielding};
    for (unsigned pr = DTACT__NPRIO; pr-- > 0 && n < max;) {
        while (n < max && dtact__runq_has_prio(&p->rq, pr)) {
            uint32_t want = max - n;
            h = dtact__runq_take_back(&p->rq, pr, want, UINT32_MAX, may_take, &ctx);
            if (!h) break;
            uint32_t got = h->chunk_len;
            n += got;
            dtact__runq_splice(&w->rq, h);
            if (got < want) break; /* the whole priority was scanned */
        }
    }
    return n;
}

/* Takes stuck worker p's movable work if its beat is still `beat`. */
static uint32_t take_over(dtact__worker_t *w, dtact__worker_t *p, uint32_t beat) {
    dtact__rt_t *rt = w->rt;
    // acq_rel: the claim; acquire pairs with the previous taker's release
    if (dtact__fetch_or_acq_rel(&p->mon, DTACT__MON_CLAIM) & DTACT__MON_CLAIM) return 0; /* another peer is at it */
    uint32_t n = 0;
    // acquire: pairs with the owner's release in dtact__rq_leave (its last queue writes)
    if (heavy_fence(rt) == 0 && dtact__load_acquire(&p->beat) == beat) {
        /* p's queues are ours until the release below. */
        // acquire: pairs with the release CAS of inbox_push (mesh.c)
        dtact__fiber_t *in = dtact__xchg_acquire(&p->inbox, NULL);
        if (in) dtact__runq_splice_stack(&p->rq, in);
        n = move_work(w, p);
        /* Nothing (more) for us: later looks at this episode claim again only
         * for new inbox work. Work left behind (half of what the inbox brought)
         * clears the note of an earlier empty look, or nobody would take it. */
        if (!n || (!dtact__runq_movable(&p->rq) && !dtact__runq_overflow_len(&p->rq)))
            dtact__store_relaxed(&p->taken, beat);                // relaxed: a hint for later looks
        else dtact__store_relaxed(&p->taken, 0u);                 // relaxed: as above (0 is even: never a running beat)
        dtact__store_relaxed(&p->load, dtact__runq_load(&p->rq)); // relaxed: load hint
    }
    dtact__fetch_and_release(&p->mon, ~DTACT__MON_CLAIM); // release: our writes to p's queues, to its enter
    if (n) {
        dtact__stat_inc(&w->st.chunks_moved);
        dtact__store_release(&w->st.deflected,
                             dtact__load_relaxed(&w->st.deflected) + n); // release: owner-only counter
        dtact__store_relaxed(&w->load, dtact__runq_load(&w->rq));        // relaxed: load hint
    }
    return n;
}

uint32_t dtact__mon_scan(dtact__worker_t *w, uint64_t now, uint64_t *recheck) {
    dtact__rt_t *rt = w->rt;
    uint32_t nw = rt->nworkers, got = 0;
    uint64_t again = 0;
    uint32_t now_us = (uint32_t)(now / 1000u);
    for (uint32_t k = 1; k < nw; k++) {
        dtact__worker_t *p = &rt->workers[(w->id + k) % nw];
        uint32_t b = dtact__load_relaxed(&p->beat); // relaxed: a look; take_over re-reads it with acquire
        uint64_t at;
        if (!(b & 1u)) {
            /* In its loop, or in a queue operation of a fiber that goes on
             * running. An idle peer needs no look; a busy one is looked at
             * again, after the longest back-off (a busy loop feeds sleepers
             * itself, so this is rarely needed): the fiber may have queued
             * work that it will not hand out (one queued fiber wakes nobody,
             * mesh.c rule 5) and then compute for a long time. */
            // relaxed: hints
            if (dtact__load_relaxed(&p->sleep) || dtact__load_relaxed(&p->hungry)) continue;
            at = now + DTACT__MON_MAX_NS;
            if (!again || at < again) again = at;
            continue;
        }
        uint64_t seen = dtact__load_relaxed(&p->seen); // relaxed: a hint shared by the lookers
        if ((uint32_t)(seen >> 32) != b) {
            dtact__store_relaxed(&p->seen, (uint64_t)b << 32 | now_us); // relaxed: as above
            at = now + DTACT__STUCK_NS;
        } else if ((uint32_t)(now_us - (uint32_t)seen) < DTACT__STUCK_NS / 1000u) {
            at = now + (DTACT__STUCK_NS / 1000u - (uint32_t)(now_us - (uint32_t)seen)) * 1000u;
        } else {
            /* The same fiber has run for DTACT__STUCK_NS without touching its queues. */
            mark(rt, p, b);
            at = now + DTACT__MON_MAX_NS;
            /* Take its work when we have little of our own (a busy worker
             * taking from another would only move the backlog around). */
            // relaxed: peeks; take_over decides under the claim
            if (dtact__runq_load(&w->rq) < DTACT__WATERMARK_LOW &&
                (dtact__load_relaxed(&p->inbox) || dtact__load_relaxed(&p->taken) != b))
                got += take_over(w, p, b);
        }
        if (!again || at < again) again = at;
    }
    *recheck = again;
    return got;
}

uint32_t dtact__mon_pick(dtact__worker_t *w, uint32_t *beat) {
    dtact__rt_t *rt = w->rt;
    uint32_t nw = rt->nworkers, best = UINT32_MAX, best_load = 0;
    for (uint32_t k = 1; k < nw; k++) {
        uint32_t i = (w->id + k) % nw;
        dtact__worker_t *p = &rt->workers[i];
        uint32_t b = dtact__load_relaxed(&p->beat); // relaxed: a look; take_over re-reads it with acquire
        if (!(b & 1u)) continue;                    /* in its loop: it feeds a hungry peer itself */
        // relaxed: hints; take_over decides under the claim
        uint32_t l = dtact__load_relaxed(&p->load) + (dtact__load_relaxed(&p->inbox) != NULL);
        if (!l || (dtact__load_relaxed(&p->taken) == b && !dtact__load_relaxed(&p->inbox))) continue;
        if (l > best_load) {
            best = i;
            best_load = l;
            *beat = b;
        }
    }
    return best;
}

uint32_t dtact__mon_steal(dtact__worker_t *w, uint32_t peer, uint32_t beat) {
    dtact__worker_t *p = &w->rt->workers[peer];
    if (dtact__load_relaxed(&p->beat) != beat) return 0; // relaxed: a look; take_over re-reads it with acquire
    return take_over(w, p, beat);
}

uint32_t dtact__mon_redirect(dtact__rt_t *rt, uint32_t to, const dtact__fiber_t *f) {
    uint32_t nw = rt->nworkers;
    if (!(dtact__load_relaxed(&rt->workers[to].mon) & DTACT__MON_STUCK)) return to; // relaxed: a hint
    for (uint32_t k = 1; k < nw; k++) {
        uint32_t c = (to + k) % nw;
        if (dtact__load_relaxed(&rt->workers[c].mon) & DTACT__MON_STUCK) continue; // relaxed: a hint
        if (!f || dtact__can_move(rt, f, c)) return c;
    }
    return to;
}
