/* core/mesh.c -- the P2P mesh: how workers exchange work, and how they sleep.
 *
 * This file is policy only: where a ready fiber goes, when and to whom work
 * is handed, when a worker sleeps. The queues themselves (deques, chunks,
 * overflow) are runq.c's; the loop that calls this is loop.c's.
 *
 * Glossary: see types.h. W = number of workers.
 *
 * The problem. Fibers are spawned and woken on whichever worker runs the
 * spawner or waker; a fork-join program or a single "root" fiber that spawns a
 * million children puts all new work on one worker. Other workers must get a
 * share quickly, without a global queue that every spawn would contend on, and
 * an idle runtime must not burn CPU.
 *
 * Rejected approaches.
 *  - A global run queue (or a global work-stealing deque array scanned by
 *    everyone): every spawn and every dispatch would write shared cache lines;
 *    a line moving between cores costs 75-120 ns, 30-50 context switches.
 *  - The N x N matrix, in the original Dtact (the earlier Rust implementation
 *    whose C API this library keeps), of SPSC rings of 65536 chunks: O(W^2) memory
 *    (39 GB of address space at 64 workers), rings that can fill up, and hence
 *    a "warehouse" overflow queue and assertion failures when that fills too.
 *  - Stealing straight out of a peer's run queue (Chase-Lev): needs atomics on
 *    every local push and pop, which is the fast path of spawn and yield.
 *
 * The chosen approach.
 *  1. Local queues are owner-only (runq.c): spawn, wake and yield on a worker
 *     cost no atomic read-modify-write at all.
 *  2. Each worker has one multi-producer inbox: a lock-free stack of *chunks*
 *     (up to DTACT__CHUNK fibers of one priority, linked both ways like a
 *     run queue segment; the head records the tail and the length, and chunk
 *     heads are linked through the head's `prev`). Producers push a whole
 *     chunk with one CAS; the owner takes everything with one exchange and
 *     splices each chunk onto the back of its queue in O(1), without touching
 *     the fibers in between (they are prefetched just before they run). The links live in the
 *     fiber records, so an inbox can never be full: its capacity is the arena's
 *     (every fiber is in at most one queue), memory is O(W), and no overflow
 *     path ("warehouse") is needed. Back-pressure happens where it belongs, at
 *     spawn: a full arena returns DTACT_EEXHAUSTED.
 *  3. Work requesting: an idle worker sets its `hungry` flag and bumps
 *     rt->n_hungry, then spins a few microseconds watching its inbox. A busy
 *     worker reads rt->n_hungry (a read-mostly line) at every dispatch and every
 *     spawn; when it is non-zero it claims one hungry peer (CAS hungry 1 -> 0,
 *     so exactly one feeder serves it) and pushes it a chunk of up to half of
 *     its movable queued fibers, taken from the back (oldest) of its queues.
 *     A feeder that runs one long fiber cannot see the request: when no
 *     chunk came DTACT__PICK_NS into the spin, the hungry worker picks the
 *     peer running a fiber with the most queued work and, if that fiber is
 *     still running DTACT__STEAL_NS later, takes half of its movable work
 *     itself (sysmon.c, "Early takes").
 *  4. Deflection: a worker whose queue is above its threshold (DTACT__WATERMARK
 *     unless dtact_set_deflection_threshold changed it), every
 *     DTACT__DEFLECT_PERIOD pushes, looks at two random peers' published loads
 *     and sends a chunk to the less loaded one if it has less than half of its
 *     own load. A received chunk is never deflected again before it has run
 *     (its fibers go to the back of the receiver's queue and the receiver's
 *     load only drops), so every move is bounded: at most one hop per
 *     deflection decision, and each decision strictly lowers max(load) - the
 *     hop count of the original is unnecessary.
 *  5. Parking (Go's spinning rule): a worker that found nothing while hungry
 *     parks on a futex (rt->n_parked counts sleepers). A worker with at least
 *     two movable queued fibers sends a chunk to one sleeper (the inbox push
 *     wakes it), but only while nobody is hungry (spinning): a burst of new
 *     work wakes at most one worker at a time, and the woken worker, once its
 *     chunk is done, asks for more by rule 3.
 *     A worker that watches fds (reactor.c) wakes a sleeper only for a
 *     backlog that lasted DTACT__SPREAD_NS (its queue did not run dry
 *     meanwhile), and then at most once per DTACT__SPREAD_NS. Readiness
 *     makes work in many small bursts: waking the peer for each (the peer
 *     runs its chunk, finds nothing and sleeps again) cost an echo server
 *     a third of its CPU per request, with no gain in latency. The
 *     deferral applies only while a sleeping peer watches the busy workers
 *     (sysmon.c: it looks again within DTACT__MON_MAX_NS and takes the
 *     work of a stuck one), so a fiber that blocks its worker cannot
 *     strand a young backlog beyond the stuck-worker bound. The hungry side
 *     of such a worker spins only while a peer has work to give it (load
 *     hint >= 2): when none does, nothing can arrive by rule 3, and its
 *     own next work comes from its readiness set, which it sleeps in.
 *     Such spreading moves connections for good (their transfers follow
 *     the fiber), so it is held back while spreads keep finding no CPU
 *     for the receiver, and a crowded worker sheds the fibers its reactor
 *     wakes (dtact__schedule) to a lower-numbered one (cpushare.c).
 *
 *  6. Overflow (chunks made at spawn time, kept by runq.c): a fresh Normal,
 *     freely movable fiber spawned while its worker's queues hold
 *     DTACT__WATERMARK fibers or more is not queued but appended to a chunk
 *     under construction (its record is hot: the spawn just wrote it); full
 *     chunks wait in a deque.
 *     Rules 3-5 send the oldest overflow chunk when there is one: O(1), no
 *     record touched, where carving a chunk off the back of a long queue
 *     walks 32 cold records one dependent miss after another. The owner pulls
 *     the newest chunk (depth-first, like its queues: a root that spawns a
 *     million children and joins them in order then parks a few times, not
 *     once per child) to the back of its own queues when they run dry or low
 *     (DTACT__WATERMARK_LOW), and one every 488 dispatches in any case, so
 *     overflow work waits a bounded time. This is the spill that Go's and
 *     Tokio's bounded local rings make to a global queue, without the
 *     global queue: the chunks stay with their worker until given away.
 *
 *  7. Stuck workers (sysmon.c): a worker whose fiber blocks its thread is
 *     noticed by its peers (idle ones before they park, busy ones from
 *     housekeeping); they take its movable queued work and placement avoids
 *     it (host launches, remote wake-ups, deflection) while it is marked. A
 *     push to a worker that runs a fiber wakes one sleeper to look when no
 *     idle worker is looking (watch_for).
 *
 * Affinity. A pinned fiber (SameCore, same-thread switchers) is never put in
 * a chunk; SameCCX / SameNUMA fibers only go to workers of their home group
 * (groups from sysfs; topology mode "global" treats them as Any); IO and
 * System kinds are not deflected by rule 4 (they are handed to hungry peers).
 * Critical fibers are never moved.
 *
 * Racing protocols.
 *  Inbox push vs. the owner going to sleep (no lost wake-up):
 *    producer: 1. CAS chunk onto inbox  2. fence seq_cst  3. load `sleep`;
 *              if 1, exchange it to 0 and futex-wake.
 *    owner:    1. store sleep = 1       2. fence seq_cst  3. load inbox;
 *              if non-empty, undo and run; else futex-wait(sleep, 1).
 *    The two seq_cst fences order each side's store before its load, so at
 *    least one side sees the other's store: either the owner sees the chunk,
 *    or the producer sees sleep == 1 and wakes it (futex_wait returns at once
 *    if sleep is already 0).
 *  Hungry claim: only a successful CAS hungry 1 -> 0 lets a feeder send (and
 *    decrement n_hungry); the hungry worker withdraws with the same CAS, so a
 *    request is served or withdrawn exactly once. A feeder that finds nothing
 *    to give restores the flag.
 *
 * Why no fiber is lost or run twice. A fiber is in exactly one place at a
 * time: a local queue, its worker's overflow, a chunk in transit (reachable
 * from exactly one inbox), or running; each move unlinks it from one before
 * linking it into the next, in one thread. Enqueueing a parked fiber requires winning the CAS
 * SUSPENDED -> READY (fiber.c), so two wakers cannot both enqueue it.
 *
 * Why it terminates. Feeding and deflection move fibers only from a worker
 * that has queued work to one that has less; a worker never sends to itself;
 * a received chunk runs before it can move again. Idle workers park after a
 * bounded spin, so an idle runtime costs ~0% CPU.
 */
#include "internal.h"

#define DTACT__DEFLECT_PERIOD 32u
#define DTACT__SPIN_NS 50000u    /* how long a hungry worker waits before parking */
#define DTACT__SPREAD_NS 200000u /* rule 5 on a worker that watches fds: backlog age before a wake */

static inline int can_move(const dtact__rt_t *rt, const dtact__fiber_t *f, uint32_t to) {
    return dtact__can_move(rt, f, to);
}

/* ------------------------------------------------------------ inbox */

static void wake_worker(dtact__rt_t *rt, dtact__worker_t *to) {
    uint32_t how;
    if (dtact__load_relaxed(&to->sleep) && (how = dtact__xchg_acq_rel(&to->sleep, 0u)) != 0u) {
        /* relaxed pre-check then acq_rel exchange: exactly one waker wins the
         * parked -> 0 transition and owns the n_parked decrement (pairs with
         * idle()'s CAS); the old value says where the worker sleeps. */
        dtact__fetch_sub_relaxed(&rt->n_parked, 1u);                           // relaxed: a hint counter (see balance)
        if (how == 2u) dtact__wakefd_signal(dtact__load_relaxed(&to->wakefd)); // relaxed: set before it slept there
        else dtact__futex_wake(&to->sleep, 1);
        dtact__worker_t *self = dtact__tls_worker();
        if (self && self->rt == rt) dtact__stat_inc(&self->st.wakes);
    }
}

/* Work was sent to `to`, awake, while some peers sleep. If `to` is running a
 * fiber (it may be stuck in it) and no idle peer is looking at the workers
 * (spinning, or asleep with a bounded sleep: sysmon.c), wake one sleeper: it
 * will look, so the work cannot be stranded on a stuck worker unseen. */
static void watch_for(dtact__rt_t *rt, dtact__worker_t *to) {
    // relaxed: hints; at worst one extra sleeper wakes, or the next push wakes one
    if (dtact__load_relaxed(&rt->n_hungry) || dtact__load_relaxed(&rt->n_watch) ||
        !(dtact__load_relaxed(&to->beat) & 1u))
        return;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dtact__worker_t *p = &rt->workers[i];
        if (p != to && dtact__load_relaxed(&p->sleep)) { // relaxed: peek; wake_worker's exchange decides
            wake_worker(rt, p);
            return;
        }
    }
}

/* Pushes a chunk (head with chunk_len and chunk_tail set, linked through
 * next) to w's inbox and wakes w if it sleeps. */
static void inbox_push(dtact__rt_t *rt, dtact__worker_t *to, dtact__fiber_t *head) {
    dtact__fiber_t *old = dtact__load_relaxed(&to->inbox); // relaxed: validated by the CAS
    do {
        head->prev = old; /* chunk link */
        // release: publishes the chunk's fibers; pairs with the acquire exchange in inbox_drain
    } while (!dtact__cas_weak_release(&to->inbox, &old, head));
    dtact__fence_seq_cst(); // StoreLoad: protocol "inbox push vs. sleep" step 2 (pairs with the fence in idle)
    if (dtact__load_relaxed(&to->sleep)) wake_worker(rt, to);
    else if (DTACT_UNLIKELY(dtact__load_relaxed(&rt->n_parked))) watch_for(rt, to); // relaxed: a hint
}

uint32_t dtact__inbox_drain(dtact__worker_t *w) {
    if (!dtact__load_relaxed(&w->inbox)) return 0;            // relaxed: a peek; the exchange below synchronises
    dtact__fiber_t *c = dtact__xchg_acquire(&w->inbox, NULL); // acquire: pairs with the release CAS in inbox_push
    return dtact__runq_splice_stack(&w->rq, c);
}

/* ------------------------------------------------------------ chunks */

/* Fresh fibers of Normal priority that may run on any worker. Only these go
 * to the overflow, so its chunks can be sent anywhere and spliced as Normal. */
static int overflow_eligible(const dtact__rt_t *rt, const dtact__fiber_t *f) {
    return f->priority == DTACT_PRIORITY_NORMAL && !(f->flags & (DTACT__F_PINNED | DTACT__F_STARTED)) &&
           (f->affinity == DTACT_AFFINITY_ANY || rt->global_topology) && f->kind != DTACT_KIND_IO &&
           f->kind != DTACT_KIND_SYSTEM;
}

/* Sends the oldest overflow chunk to `to` in O(1). Returns how many fibers.
 * The chunk's records are not touched: `home` is set when a fiber runs, and
 * nothing reads it before (can_move of a fiber that moved with its group
 * gives the same answer for the old home and the new one). */
static uint32_t overflow_send(dtact__worker_t *w, uint32_t to) {
    dtact__fiber_t *head = dtact__runq_overflow_take_oldest(&w->rq);
    if (!head) return 0;
    uint32_t n = head->chunk_len;
    inbox_push(w->rt, &w->rt->workers[to], head);
    dtact__stat_inc(&w->st.chunks_moved);
    dtact__store_release(&w->st.deflected, dtact__load_relaxed(&w->st.deflected) + n); // release: owner-only counter
    return n;
}

typedef struct move_ctx_s {
    const dtact__rt_t *rt;
    uint32_t to;
    int deflecting;
} move_ctx_t;

/* May f move to ctx->to? Deflection leaves IO and System fibers where they
 * are; a hungry peer may take them. */
static int may_move(const dtact__fiber_t *f, void *ctx) {
    const move_ctx_t *m = ctx;
    if (f->flags & DTACT__F_PINNED) return 0;
    if (m->deflecting && (f->kind == DTACT_KIND_IO || f->kind == DTACT_KIND_SYSTEM)) return 0;
    return can_move(m->rt, f, m->to);
}

/* Sends up to `want` movable fibers to `to`, lowest priority first, one
 * chunk per priority, oldest first. Returns how many were sent. */
static uint32_t send_chunk(dtact__worker_t *w, uint32_t to, uint32_t want, int deflecting) {
    dtact__rt_t *rt = w->rt;
    move_ctx_t ctx = {rt, to, deflecting};
    uint32_t n = 0;
    for (unsigned p = 0; p < DTACT__NPRIO && n < want; p++) {
        if (!dtact__runq_has_prio(&w->rq, p)) continue;
        dtact__fiber_t *head = dtact__runq_take_back(&w->rq, p, want - n, 4 * DTACT__CHUNK, may_move, &ctx);
        if (!head) continue;
        n += head->chunk_len;
        inbox_push(rt, &rt->workers[to], head);
        dtact__stat_inc(&w->st.chunks_moved);
    }
    if (!n) return 0;
    dtact__store_release(&w->st.deflected, dtact__load_relaxed(&w->st.deflected) + n); // release: owner-only counter
    return n;
}

static inline uint32_t deflect_at(dtact__worker_t *w) {
    return dtact__load_relaxed(&w->deflect_at); // relaxed: a tuning knob; a late view only delays its effect
}

static uint32_t rand_below(dtact__worker_t *w, uint32_t n) {
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return (uint32_t)((x >> 32) * n >> 32);
}

/* ------------------------------------------------------------ balance */

/* Sends a chunk to `to`: an overflow chunk if there is one (O(1)), else up
 * to `want` fibers taken from the back of the queues. */
static uint32_t give_to(dtact__worker_t *w, uint32_t to, uint32_t want, int deflecting) {
    uint32_t n = overflow_send(w, to);
    if (!n && want) n = send_chunk(w, to, want, deflecting);
    if (n) dtact__store_relaxed(&w->load, dtact__runq_load(&w->rq)); // relaxed: load hint
    return n;
}

/* Rule 3: serve one hungry peer. Returns 1 if one was claimed. */
static int feed_hungry(dtact__worker_t *w) {
    dtact__rt_t *rt = w->rt;
    uint32_t nw = rt->nworkers;
    for (uint32_t k = 1; k < nw; k++) {
        uint32_t to = (w->id + w->scan_from + k) % nw;
        if (to == w->id) continue;
        dtact__worker_t *p = &rt->workers[to];
        uint32_t one = 1;
        if (!dtact__load_relaxed(&p->hungry)) continue; // relaxed: a peek before the claiming CAS
        // acq_rel: the claim; pairs with the withdrawal CAS in idle()
        if (!dtact__cas_strong_acq_rel(&p->hungry, &one, 0u)) continue;
        dtact__fetch_sub_relaxed(&rt->n_hungry, 1u); // relaxed: a hint counter; the flag is the truth
        w->scan_from = k;
        uint32_t give = (dtact__runq_movable(&w->rq) + 1) / 2;
        if (give > DTACT__CHUNK) give = DTACT__CHUNK;
        if (give_to(w, to, give, 0) == 0) {
            /* Nothing may move there: give the request back. */
            dtact__fetch_add_relaxed(&rt->n_hungry, 1u); // relaxed: hint counter
            // release: pairs with the CAS of the next feeder or the owner's withdrawal
            dtact__store_release(&p->hungry, 1u);
            continue;
        }
        return 1;
    }
    return 0;
}

/* Rule 5: hand a chunk to one sleeping worker (the inbox push wakes it).
 * Waking it empty-handed to ask for work made it miss the offer whenever the
 * running fiber outlasted its spin, and it went back to sleep. */
static void wake_one(dtact__worker_t *w) {
    dtact__rt_t *rt = w->rt;
    uint32_t nw = rt->nworkers;
    for (uint32_t k = 1; k < nw; k++) {
        uint32_t to = (w->id + k) % nw;
        if (dtact__load_relaxed(&rt->workers[to].sleep)) { // relaxed: peek; the push's wake decides
            uint32_t give = dtact__runq_movable(&w->rq) / 2;
            if (give > DTACT__CHUNK) give = DTACT__CHUNK;
            if (give_to(w, to, give, 0)) return;
        }
    }
}

/* Rule 4: deflect above the watermark. */
static void deflect(dtact__worker_t *w) {
    dtact__rt_t *rt = w->rt;
    uint32_t nw = rt->nworkers;
    uint32_t a = rand_below(w, nw - 1), b = rand_below(w, nw - 1);
    a += a >= w->id;
    b += b >= w->id;
    uint32_t la = dtact__load_relaxed(&rt->workers[a].load); // relaxed: load hints
    uint32_t lb = dtact__load_relaxed(&rt->workers[b].load);
    uint32_t to = la <= lb ? a : b, lt = la <= lb ? la : lb;
    // relaxed: hints; a worker stuck in a fiber looks light but runs nothing (sysmon.c)
    if (DTACT_UNLIKELY(dtact__load_relaxed(&rt->n_stuck)) &&
        (dtact__load_relaxed(&rt->workers[to].mon) & DTACT__MON_STUCK))
        return;
    if (lt + DTACT__CHUNK < dtact__runq_load(&w->rq) / 2) give_to(w, to, DTACT__CHUNK, 1);
}

/* Rule 5's deferral on a worker that watches fds (top of file): 1 when a
 * sleeper may be woken now. */
static int spread_due(dtact__worker_t *w) {
    // relaxed: our own field; a hint (a watcher counts itself before it sleeps)
    if (!dtact__load_relaxed(&w->ioset) || !dtact__load_relaxed(&w->rt->n_watch)) return 1;
    uint64_t now = dtact__now_ns();
    if (!w->backlog_at) {
        w->backlog_at = now;
        return 0;
    }
    if (now - w->backlog_at < DTACT__SPREAD_NS || !dtact__share_may_spread(w->rt, now)) return 0;
    w->backlog_at = now;
    return 1;
}

void dtact__balance(dtact__worker_t *w) {
    dtact__rt_t *rt = w->rt;
    uint32_t movable = dtact__runq_movable(&w->rq) + dtact__runq_overflow_len(&w->rq);
    if (!movable || rt->nworkers < 2) return;
    if (dtact__load_relaxed(&rt->n_hungry)) { // relaxed: hint; the hungry flags are claimed by CAS
        if (feed_hungry(w)) return;
    }
    // relaxed: hints (Go's rule: wake only when nobody spins)
    if (movable >= 2 && !dtact__load_relaxed(&rt->n_hungry) && dtact__load_relaxed(&rt->n_parked) && spread_due(w)) {
        wake_one(w);
        return;
    }
    if (dtact__runq_load(&w->rq) > deflect_at(w) && (++w->deflect_clock % DTACT__DEFLECT_PERIOD) == 0) deflect(w);
}

/* ------------------------------------------------------------ idle */

static int has_news(dtact__worker_t *w) {
    // relaxed: callers fence first or re-check
    return dtact__load_relaxed(&w->inbox) != NULL || dtact__load_relaxed(&w->rt->shutdown) ||
           // relaxed: as above (a stack was freed for our waiting fibers)
           (dtact__runq_starved(&w->rq) && dtact__load_relaxed(&w->rt->stack_frees) != w->starve_epoch);
}

/* The I/O set of a worker that watches fds (reactor.c handles what is read
 * here: loop.c calls dtact__reactor_dispatch after idle). */
static int io_peek(dtact__worker_t *w) {
    dtact__ioset_t *set = dtact__load_relaxed(&w->ioset); // relaxed: our own field
    if (!set) return 0;
    if (w->io_pos < w->io_nev) return 1;
    int n = dtact__ioset_wait(set, w->io_ev, 64, 0);
    w->io_pos = 0;
    w->io_nev = n > 0 ? (uint32_t)n : 0;
    return n > 0;
}

static void io_sleep(dtact__worker_t *w, dtact__ioset_t *set, int64_t timeout) {
    int n = dtact__ioset_wait(set, w->io_ev, 64, timeout);
    w->io_pos = 0;
    w->io_nev = n > 0 ? (uint32_t)n : 0;
}

/* A peer has work it could give us (rule 5's threshold on its load hint). */
static int peer_has_work(const dtact__worker_t *w) {
    const dtact__rt_t *rt = w->rt;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        if (i != w->id && dtact__load_relaxed(&rt->workers[i].load) >= 2u) return 1; // relaxed: load hints
    return 0;
}

void dtact__idle(dtact__worker_t *w, uint64_t deadline) {
    dtact__rt_t *rt = w->rt;
    // relaxed: our own mark, set late by a peer that saw us in a fiber
    if (DTACT_UNLIKELY(dtact__load_relaxed(&w->mon) & DTACT__MON_STUCK)) dtact__mon_unmark(w);
    w->backlog_at = 0;                               /* the queue ran dry: rule 5's backlog ends */
    int io = dtact__load_relaxed(&w->ioset) != NULL; // relaxed: our own field
    if (io) {
        uint64_t now = dtact__now_ns();
        dtact__share_idle(w, now);
        dtact__share_tick(w, now);
        io = 1 + dtact__share_hold(rt, now); /* 2: no hungry spin (cpushare.c) */
    }
    // relaxed: re-checked in the spin; a worker that watches fds spins only while a peer has work (rule 5)
    if (rt->nworkers > 1 && !dtact__load_relaxed(&rt->shutdown) && (!io || (io == 1 && peer_has_work(w)))) {
        /* Rule 3, the hungry side: publish the request, then spin. */
        dtact__store_release(&w->hungry, 1u);        // release: pairs with a feeder's CAS
        dtact__fetch_add_relaxed(&rt->n_hungry, 1u); // relaxed: a hint counter
        dtact__stat_inc(&w->st.requests);
        uint64_t t0 = dtact__now_ns(), end = t0 + DTACT__SPIN_NS, pick_at = 0;
        unsigned spins = 0;
        uint32_t peer = UINT32_MAX, beat = 0, took = 0;
        while (!has_news(w)) {
            dtact__cpu_relax();
            if ((++spins & 255u) == 0) {
                if (io_peek(w)) break; /* I/O is ready: the loop handles it */
                if (io && !peer_has_work(w)) break;
                uint64_t now = dtact__now_ns();
                /* Stop at the spin budget, or at once when the next timer is due. */
                if (now > end || (deadline && now >= deadline)) break;
                /* Early take (sysmon.c): a peer's queued work behind a fiber that keeps running. */
                if (peer == UINT32_MAX && now - t0 >= DTACT__PICK_NS && now - t0 <= DTACT__SPIN_NS) {
                    if ((peer = dtact__mon_pick(w, &beat)) != UINT32_MAX) {
                        pick_at = now;
                        if (end < now + DTACT__STEAL_NS) end = now + DTACT__STEAL_NS;
                    }
                } else if (peer != UINT32_MAX && now - pick_at >= DTACT__STEAL_NS) {
                    if ((took = dtact__mon_steal(w, peer, beat)) != 0) break;
                    peer = UINT32_MAX; /* its fiber changed, or nothing movable: look again */
                }
            }
        }
        /* Withdraw the request unless a feeder claimed it. */
        for (;;) {
            uint32_t one = 1;
            if (dtact__cas_strong_acq_rel(&w->hungry, &one, 0u)) { // acq_rel: pairs with feed_hungry's claim
                dtact__fetch_sub_relaxed(&rt->n_hungry, 1u);       // relaxed: hint counter
                break;
            }
            /* Claimed: the feeder is pushing a chunk (or gives the request back). */
            if (dtact__load_acquire(&w->inbox)) break; // acquire: pairs with inbox_push's release
            dtact__cpu_relax();
        }
        if (took || has_news(w) || (deadline && dtact__now_ns() >= deadline)) return;
    }
    /* Stuck peers (sysmon.c): take their movable work, else sleep no longer
     * than the next look at them (backing off from DTACT__STUCK_NS). */
    int watching = 0;
    if (rt->nworkers > 1) {
        uint64_t now = dtact__now_ns(), again;
        if (dtact__mon_scan(w, now, &again)) {
            w->mon_delay = 0;
            return;
        }
        if (!again) w->mon_delay = 0;
        else {
            watching = 1;
            w->mon_delay = w->mon_delay ? w->mon_delay * 2 : DTACT__STUCK_NS;
            if (w->mon_delay > DTACT__MON_MAX_NS) w->mon_delay = DTACT__MON_MAX_NS;
            if (again < now + w->mon_delay) again = now + w->mon_delay;
            if (!deadline || again < deadline) deadline = again;
        }
    }
    /* Idle time returns the pages of surplus free stacks (stack.c: purging
     * is deferred until a second without demand), a few batches at a time. */
    uint64_t trim_at = dtact__stack_trim(rt->arena, dtact__now_ns(), 4);
    if (trim_at && (!deadline || trim_at < deadline)) deadline = trim_at;
    /* Park. Protocol "inbox push vs. sleep" (top of file), owner side. A
     * worker that watches fds sleeps in its I/O set instead of the futex
     * (mark 2): readiness, a waker's eventfd write and its next timer all end
     * that one sleep. */
    dtact__ioset_t *ioset = dtact__load_relaxed(&w->ioset); // relaxed: our own field
    uint32_t mark = ioset ? 2u : 1u;
    if (ioset && w->io_pos < w->io_nev) return;               /* events not handled yet */
    if (watching) dtact__fetch_add_relaxed(&rt->n_watch, 1u); // relaxed: a hint for inbox_push
    dtact__fetch_add_relaxed(&rt->n_parked, 1u);              // relaxed: hint counter; the sleep flag is the truth
    dtact__store_release(&w->sleep, mark);                    // release: publishes wakefd to a waker that reads 2
    dtact__fence_seq_cst();                                   // StoreLoad: pairs with the fence in inbox_push
    if (!has_news(w)) {
        int64_t timeout = -1;
        if (deadline) {
            uint64_t now = dtact__now_ns();
            uint64_t left = deadline > now ? deadline - now : 0;
            timeout = left > (uint64_t)INT64_MAX ? -1 : (int64_t)left; /* a deadline centuries away: no timeout */
        }
        dtact__stat_inc(&w->st.parks);
        if (ioset) io_sleep(w, ioset, timeout);
        else if (timeout != 0) dtact__futex_wait(&w->sleep, 1u, timeout);
    }
    uint32_t one = mark;
    // acq_rel: we woke by ourselves (news, timeout, spurious): undo our own count; pairs with wake_worker's exchange
    if (dtact__cas_strong_acq_rel(&w->sleep, &one, 0u))
        dtact__fetch_sub_relaxed(&rt->n_parked, 1u);          // relaxed: hint counter
    if (watching) dtact__fetch_sub_relaxed(&rt->n_watch, 1u); // relaxed: as above
}

DTACT_API int dtact_set_deflection_threshold(uint32_t worker, uint32_t queued) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    int rc = DTACT_EINVAL;
    if (worker < rt->nworkers && queued >= DTACT__CHUNK) {
        dtact__store_relaxed(&rt->workers[worker].deflect_at, queued); // relaxed: see deflect_at
        rc = DTACT_OK;
    }
    dtact__rt_leave(pinned);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

void dtact__wake_all_workers(dtact__rt_t *rt) {
    for (uint32_t i = 0; i < rt->nworkers; i++)
        wake_worker(rt, &rt->workers[i]);
}

/* ------------------------------------------------------------ schedule */

void dtact__schedule(dtact__rt_t *rt, dtact__worker_t *self, dtact__fiber_t *f, int front) {
    uint32_t to = f->home;
    /* A crowded worker's reactor wake-ups go to the worker it sheds to (cpushare.c). */
    int shed = self && DTACT_UNLIKELY(self->io_fifo && self->shed_to != UINT32_MAX) && self->rt == rt &&
               can_move(rt, f, self->shed_to);
    if (shed) to = self->shed_to;
    else if (self && self->rt == rt && (f->home == self->id || can_move(rt, f, self->id))) {
        dtact__runq_t *q = &self->rq;
        int in = dtact__rq_enter(self); /* from a fiber: take our queues back (sysmon.c) */
        if (front && dtact__runq_len(q) >= DTACT__WATERMARK && overflow_eligible(rt, f))
            dtact__runq_overflow_push(q, f);
        else if (front && !self->io_fifo) dtact__runq_push_front(q, f); /* readiness: at the back (reactor.c) */
        else dtact__runq_push_back(q, f);
        // relaxed: hints
        if (DTACT_UNLIKELY((dtact__load_relaxed(&rt->n_hungry) | dtact__load_relaxed(&rt->n_parked)) ||
                           dtact__runq_load(q) > deflect_at(self)))
            dtact__balance(self);
        dtact__rq_leave(self, in);
        return;
    }
    f->next = NULL;
    f->chunk_len = 1;
    f->chunk_tail = f;
    /* Not to a worker stuck in a fiber when the fiber may run elsewhere. */
    if (DTACT_UNLIKELY(dtact__load_relaxed(&rt->n_stuck))) to = dtact__mon_redirect(rt, to, f); // relaxed: a hint
    inbox_push(rt, &rt->workers[to], f);
}
