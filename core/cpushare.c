/* core/cpushare.c -- whether the workers that watch fds get CPUs of their
 * own, and what the mesh does when they do not: consolidation.
 *
 * The problem. A connection stays with the worker that last ran its fiber:
 * the fiber queues its socket transfers on that worker's ring (transfer.c)
 * or waits in that worker's readiness set (reactor.c), and the completion
 * wakes it there. Rule 5 (mesh.c) wakes a sleeping peer for a backlog that
 * lasted DTACT__SPREAD_NS and hands it a chunk, and those connections then
 * live on the peer. That pays when the peer runs on a CPU of its own. When
 * it does not (every CPU is taken: a load generator on the same 2-CPU
 * machine, other busy processes), the kernel time-shares one CPU between
 * the two workers: each connection waits out the other worker's slices and
 * the switches cost CPU. Measured with the echo server at W = 2 beside a
 * one-thread load generator on 2 vCPUs: the two workers shared one vCPU
 * (perf sched: 229 and 266 ms of 500 on CPU 1; the generator had CPU 0),
 * waited for it 40 % of the time (schedstat), and served 100 connections at
 * p99 3-5 ms; with the same load on one worker, 1.2 ms and 10-18 % more
 * requests per second. Tokio's second worker barely ran in the same test
 * (37 ms of 500): its tasks go back to the one I/O driver after a steal,
 * where ours stay where they were sent.
 *
 * The measure. Each worker with a readiness set samples its thread's
 * schedstat (time on a CPU, and run delay: runnable but waiting for a CPU)
 * every DTACT__SHARE_NS of its loop (housekeeping, or going idle); once a
 * window holds 1 ms of both, waited = delay / (cpu + delay). At 30 % or more
 * the worker is crowded; below 15 % it is not any more (hysteresis). 1
 * system call per 2 ms. Without schedstat (no CONFIG_SCHED_INFO, no /proc)
 * nothing here acts, and the mesh behaves as without this file.
 *
 * The policy. A crowded worker sheds: the fibers its reactor wakes are
 * scheduled on a lower-numbered worker with a readiness set that has time to
 * spare (it ran out of work in the last 10 ms, or sleeps) and is not
 * stuck (sysmon.c), instead of on itself; they queue their next transfer
 * there, and once all are gone the crowded worker sleeps. Shedding only
 * towards lower ids converges (worker 0 never sheds), and a target without
 * spare time (the load needs more than one worker) takes nothing. The start
 * of a shed holds rule 5's spreading and the hungry spin of workers that
 * watch fds for a back-off: 20 ms, doubled at each shed that starts within
 * 10 s of the last one, up to 1.28 s. When the hold ends, shedding stops
 * and the measure starts afresh, and rule 5 may send one chunk (a probe),
 * then waits 8 ms for the receiver's verdict before the next: a crowded
 * receiver sheds it back (and the next hold is twice as long); one with a
 * CPU of its own (the other process is gone) keeps it, and spreading goes
 * on a chunk per 8 ms until 10 s pass without a shed, then freely. A probe
 * costs a chunk's connections a few ms of time-sharing.
 *
 * Consolidation costs nothing where the CPU a shedding worker gives up
 * goes unused (a one-thread generator beside the server has its CPU
 * already) or where the remaining worker keeps up. Where other processes
 * want that CPU and the remaining worker cannot keep up, fewer threads
 * only hand them the runtime's share. So a worker that is crowded and
 * saturated (its queue has not run dry for 10 ms) while consolidation
 * is in force and every other worker that watches fds sleeps releases it:
 * spreading resumes at once, and no worker sheds for a back-off (20 ms
 * doubling to 1.28 s, as above).
 *
 * What it leaves alone. Fibers that are not woken by the reactor (spawned
 * work, computation, synchronisation) are placed and balanced by rules 3-6
 * as before; workers that watch no fd never sample. The trade: where every
 * CPU is busy with other processes and the load needs several workers, each
 * shed gives the runtime fewer threads in the kernel's fair share (a target
 * without spare time takes nothing, which bounds it). DTACT_IO_CONSOLIDATE=0
 * in the environment when the runtime is created turns all of this off.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define CROWDED_PCT 30u
#define UNCROWDED_PCT 15u
#define WINDOW_NS 1000000ull           /* cpu + delay a verdict needs */
#define SPARE_NS (5 * DTACT__SHARE_NS) /* a target ran out of work this recently; not for longer: saturated */
#define HOLD_MIN_NS 20000000ull
#define HOLD_MAX_NS 1280000000ull
#define HOLD_RESET_NS 10000000000ull   /* a shed this long after the last starts the back-off again */
#define PROBE_NS (4 * DTACT__SHARE_NS) /* after a probe's chunk: time for the receiver's verdict */
#define NONE UINT32_MAX

void dtact__share_init(dtact__rt_t *rt) {
    const char *e = getenv("DTACT_IO_CONSOLIDATE");
    rt->share_off = e && strcmp(e, "0") == 0;
    dtact__store_relaxed(&rt->spread_hold, 0u);             // relaxed: before the workers start
    dtact__store_relaxed(&rt->spread_backoff, HOLD_MIN_NS); // relaxed: as above
    dtact__store_relaxed(&rt->spread_failed_at, 0u);        // relaxed: as above
    dtact__store_relaxed(&rt->shed_hold, 0u);               // relaxed: as above
    dtact__store_relaxed(&rt->shed_backoff, HOLD_MIN_NS);   // relaxed: as above
    dtact__store_relaxed(&rt->shed_released_at, 0u);        // relaxed: as above
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        rt->workers[i].share_fd = -1;
        rt->workers[i].shed_to = NONE;
    }
}

void dtact__share_fini(dtact__worker_t *w) {
    if (w->share_fd >= 0) (void)dtact__fd_close(w->share_fd);
    w->share_fd = -2;
}

int dtact__share_hold(const dtact__rt_t *rt, uint64_t now) {
    uint64_t until = dtact__load_relaxed(&rt->spread_hold); // relaxed: a hint; a late view spreads or holds once more
    return until != 0 && now < until;
}

int dtact__share_may_spread(dtact__rt_t *rt, uint64_t now) {
    // relaxed (all): hints; two workers probing at once move two chunks
    uint64_t until = dtact__load_relaxed(&rt->spread_hold);
    if (!until) return 1;
    if (now < until) return 0;
    /* After a hold: one chunk (a probe), then wait for the receiver's verdict;
     * freely again once no shed started for HOLD_RESET_NS. */
    int calm = now - dtact__load_relaxed(&rt->spread_failed_at) > HOLD_RESET_NS;
    dtact__store_relaxed(&rt->spread_hold, calm ? 0u : now + PROBE_NS);
    return 1;
}

/* Holds something until now + its back-off and doubles the back-off (back
 * to HOLD_MIN_NS when the last hold began more than HOLD_RESET_NS ago). */
static void hold_for(_Atomic uint64_t *until, _Atomic uint64_t *backoff, _Atomic uint64_t *began, uint64_t now) {
    // relaxed (the three): hints shared by the workers; racing holds at worst last a little longer or shorter
    uint64_t b = dtact__load_relaxed(backoff);
    if (now - dtact__load_relaxed(began) > HOLD_RESET_NS) b = HOLD_MIN_NS;
    dtact__store_relaxed(began, now);
    dtact__store_relaxed(until, now + b);
    dtact__store_relaxed(backoff, b * 2 > HOLD_MAX_NS ? HOLD_MAX_NS : b * 2);
}

/* A shed starts: hold spreading. */
static void hold(dtact__rt_t *rt, uint64_t now) {
    hold_for(&rt->spread_hold, &rt->spread_backoff, &rt->spread_failed_at, now);
}

/* A consolidation left its worker crowded and saturated while the others
 * sleep: other processes want the CPUs, and fewer threads only gave them
 * our share. Spread again, and shed no more for a back-off. */
static void release(dtact__rt_t *rt, uint64_t now) {
    hold_for(&rt->shed_hold, &rt->shed_backoff, &rt->shed_released_at, now);
    dtact__store_relaxed(&rt->spread_hold, 0u); // relaxed: a hint, as above
}

/* Every other worker that watches fds sleeps. */
static int others_asleep(const dtact__worker_t *w) {
    const dtact__rt_t *rt = w->rt;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        const dtact__worker_t *p = &rt->workers[i];
        // relaxed: hints; a peer that wakes meanwhile is seen at the next window
        if (p != w && dtact__load_relaxed(&p->ioset) && !dtact__load_relaxed(&p->sleep)) return 0;
    }
    return 1;
}

/* The lowest-numbered worker below w that watches fds, has time to spare
 * and is not stuck; NONE if there is none. */
static uint32_t target(const dtact__worker_t *w, uint64_t now) {
    const dtact__rt_t *rt = w->rt;
    for (uint32_t i = 0; i < w->id; i++) {
        const dtact__worker_t *p = &rt->workers[i];
        // relaxed (all four): hints; a wrong guess moves a few wake-ups, which run wherever they land
        if (!dtact__load_relaxed(&p->ioset) || (dtact__load_relaxed(&p->mon) & DTACT__MON_STUCK)) continue;
        uint64_t at = dtact__load_relaxed(&p->idle_at);
        if (dtact__load_relaxed(&p->sleep) || (at && (int64_t)(now - at) <= (int64_t)SPARE_NS)) return i;
    }
    return NONE;
}

void dtact__share_idle(dtact__worker_t *w, uint64_t now) {
    // relaxed: our own field (peers read it as a hint); written at most every half window
    if (now - dtact__load_relaxed(&w->idle_at) >= DTACT__SHARE_NS / 2) dtact__store_relaxed(&w->idle_at, now);
}

void dtact__share_tick(dtact__worker_t *w, uint64_t now) {
    if (now < w->share_next) return;
    w->share_next = now + DTACT__SHARE_NS;
    dtact__rt_t *rt = w->rt;
    if (rt->share_off || w->share_fd == -2 || rt->nworkers < 2) return;
    // relaxed: a hint (release())
    if (w->shed_to != NONE && (!dtact__share_hold(rt, now) || now < dtact__load_relaxed(&rt->shed_hold))) {
        /* The hold is over, or the consolidation was released: stop shedding
         * and measure afresh (a probe). */
        w->shed_to = NONE;
        w->crowded = 0;
        w->share_cpu = 0;
    }
    uint64_t cpu, delay;
    if (dtact__thread_schedstat(&w->share_fd, &cpu, &delay) != 0) {
        dtact__share_fini(w); /* unavailable: never again */
        w->crowded = 0;
        w->shed_to = NONE;
        return;
    }
    if (!w->share_cpu) { /* the window's start */
        w->share_cpu = cpu ? cpu : 1;
        w->share_delay = delay;
        return;
    }
    uint64_t dc = cpu - w->share_cpu, dd = delay - w->share_delay;
    if (dc + dd < WINDOW_NS) return; /* not enough for a verdict: the window goes on */
    w->share_cpu = cpu ? cpu : 1;
    w->share_delay = delay;
    uint64_t pct = dd * 100u / (dc + dd);
    if (pct >= CROWDED_PCT) w->crowded = 1;
    else if (pct < UNCROWDED_PCT) w->crowded = 0;
    uint32_t to = NONE;
    if (w->crowded) {
        // relaxed: a hint (release())
        if (now >= dtact__load_relaxed(&rt->shed_hold)) to = target(w, now);
        // relaxed: our own field
        int saturated = (int64_t)(now - dtact__load_relaxed(&w->idle_at)) > (int64_t)SPARE_NS;
        if (to == NONE && saturated && dtact__share_hold(rt, now) && others_asleep(w)) release(rt, now);
    }
    if (to != NONE && w->shed_to == NONE) hold(rt, now);
    w->shed_to = to;
}
