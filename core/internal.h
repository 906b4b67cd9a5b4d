/* core/internal.h -- the runtime and worker structures, and the prototypes the
 * scheduler files share, grouped by the file that defines them, in layer
 * order (docs/architecture.md).
 *
 * Ownership rule for every field below: "owner" means the worker's own thread
 * alone writes (and reads) it with plain accesses; fields read by other
 * threads are _Atomic and say who writes them.
 */
#ifndef DTACT_CORE_INTERNAL_H
#define DTACT_CORE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "atomic.h"
#include "dtact.h"
#include "errors.h"
#include "prim.h"
#include "runq.h"
#include "timer.h"
#include "types.h"

#define DTACT__MAX_WORKERS 1024
/* Bytes of inline payload kept beside each record (dtact_spawn_inline). */
#define DTACT__SIDE_SLOT 256u

/* What a fiber asks its worker to do once it has switched out. */
enum dtact__action { DTACT__ACT_NONE = 0, DTACT__ACT_YIELD, DTACT__ACT_PARK, DTACT__ACT_FINISH };

typedef struct dtact__rt_s dtact__rt_t;

/* Per-worker counters: written by the owner only (relaxed stores of its own
 * increments), read racily by dtact_get_stats. */
typedef struct dtact__wstats_s {
    _Atomic uint64_t spawned, completed, cancelled, yields, deflected, chunks_moved, requests, parks, wakes;
} dtact__wstats_t;

/* A worker: one OS thread running the dispatch loop (loop.c). */
typedef struct dtact__worker_s {
    /* ---- owner only */
    dtact__rt_t *rt;
    uint32_t id;
    void *sched_sp;            /* the dispatch loop's context while a fiber runs */
    dtact__fiber_t *current;   /* fiber running now, or NULL               */
    enum dtact__action action; /* set by the fiber just before switching out */
    dtact__runq_t rq;          /* ready fibers and the overflow (runq.c)    */
    dtact__timers_t timers;    /* deadlines of fibers parked here (timer.c) */
    uint32_t ccx, numa;        /* topology groups of this worker's CPU      */
    uint32_t scan_from;        /* rotating start for peer scans (mesh.c)    */
    uint32_t deflect_clock;    /* pushes since the last deflection check   */
    uint64_t rng;              /* xorshift state                            */
    uint64_t starve_epoch;     /* rt->stack_frees when its fibers began to wait for stacks */
    uint64_t stack_retry_at;   /* a stack's commit failed: retry the starved fibers then (ns; 0: none) */
    uint64_t stack_retry_ns;   /* the backoff of that retry (loop.c) */
    void *asan_fake;           /* ASan fake-stack handle of the loop        */
    const void *asan_bottom;   /* the loop's (thread) stack, for ASan       */
    size_t asan_size;
    void *tsan_fiber; /* TSan's id of the loop's context           */
    dtact__thread_t thread;
    dtact__wstats_t st;
    /* I/O readiness (reactor.c): the worker's readiness set (epoll or
     * io_uring, prim.h) and its wake eventfd, created by the worker's own
     * thread on the first fd it watches (NULL, -1 before); other threads read
     * them to unwatch an fd or to wake it. */
    _Atomic(dtact__ioset_t *) ioset;
    _Atomic int wakefd;
    uint32_t io_nev, io_pos; /* events read by the idle sleep, not yet handled */
    uint32_t io_fifo;        /* 1 while reactor.c wakes fibers: they queue at the back (mesh.c) */
    uint64_t backlog_at;     /* mesh.c rule 5: when the backlog began or last woke a peer; 0: none */
    dtact__io_event_t io_ev[64];
    /* Stuck-worker detection (sysmon.c): this worker's own copy of `beat`,
     * whether its light fence must be a real one, and its scan clock. */
    uint32_t beat_own;
    /* The fiber a direct yield queued before its own switch saved its
     * context: a peer taking the queues over must leave it (sysmon.c).
     * Written by the owner while it holds its queues, read by a taker under
     * its claim; cleared when the loop regains control. */
    dtact__fiber_t *yielding;
    uint32_t mon_fence;  /* 1: no membarrier, order with a seq_cst fence */
    uint32_t mon_rounds; /* housekeeping rounds since the busy scan checked the clock */
    uint64_t mon_next;   /* busy scan: not before this time */
    uint64_t mon_delay;  /* idle scan: current back-off of the bounded sleep */
    /* CPU share of a worker that watches fds (cpushare.c). */
    int share_fd;         /* its /proc/thread-self/schedstat: -1 not open yet, -2 unavailable */
    uint32_t crowded;     /* 1: its last window waited for a CPU 30 % of the time or more */
    uint32_t shed_to;     /* the worker its reactor's wake-ups go to; UINT32_MAX: none */
    uint64_t share_next;  /* next sample (ns) */
    uint64_t share_cpu;   /* schedstat at the start of the window: time on a CPU, */
    uint64_t share_delay; /* and time runnable but waiting for one (ns) */

    /* ---- shared: each on its own cache line */
    /* MPSC stack of chunks; any thread pushes, owner drains */
    _Alignas(DTACT_CACHE_LINE) _Atomic(dtact__fiber_t *) inbox;
    /* owner stores its queued count (relaxed); peers read it as a hint */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t load;
    /* owner stores when it last ran out of work (ns, updated at most every
     * DTACT__SHARE_NS / 2); peers read it: has it time to spare (cpushare.c) */
    _Atomic uint64_t idle_at;
    /* 1 while parked on the futex, 2 while parked in the I/O set (wakers write
     * the eventfd); owner sets, wakers clear */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t sleep;
    /* 1 while idle and asking for work; owner sets, feeders clear */
    _Atomic uint32_t hungry;
    /* queued fibers above which it deflects; any thread sets (relaxed tuning knob) */
    _Atomic uint32_t deflect_at;
    /* Stuck-worker detection (sysmon.c). beat: the owner's heartbeat, bumped
     * on entering and leaving its queues: even while its loop or a queue
     * operation runs, odd while a fiber runs with the queues lent out. mon:
     * DTACT__MON_CLAIM (a peer is taking its work) | DTACT__MON_STUCK (marked
     * stuck: placement avoids it); peers set, the owner clears STUCK. seen:
     * the beat a peer saw first << 32 | when (microseconds); taken: the beat
     * at which a peer took all its movable work. Peers write seen/taken. */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t beat;
    _Atomic uint32_t mon;
    _Atomic uint32_t taken;
    _Atomic uint64_t seen;
} dtact__worker_t;

enum dtact__rt_phase { DTACT__RT_INIT = 0, DTACT__RT_RUNNING = 1, DTACT__RT_STOPPED = 2 };

struct dtact__rt_s {
    dtact__arena_t *arena;
    dtact__fiber_t *recs; /* the arena's records: a record's index is f - recs */
    uint32_t nworkers;
    uint32_t global_topology; /* config mTopologyMode == 1                  */
    int default_stack_class;
    dtact__worker_t *workers; /* nworkers entries, cache-line aligned     */
    void **tsan_fibers;       /* TSan builds: per-record fiber ids        */
    unsigned char *side;      /* per-record inline payload slots (lazy)    */
    size_t side_len;
    uint32_t blocking_run; /* started by dtact_run (vs dtact_start)     */

    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t n_hungry; /* workers spinning for work */
    _Atomic uint32_t n_parked;                            /* workers asleep (not yet woken) */
    _Atomic uint32_t n_stuck;                             /* workers marked stuck (sysmon.c; a hint, >= the marks) */
    _Atomic uint32_t n_watch; /* idle workers asleep until their next look at the others (mesh.c) */
    /* Spreading of I/O work held back after a spread that found no CPU
     * (cpushare.c): until spread_hold (ns); the next hold's length, and when
     * the last one began. Hints: relaxed. */
    _Atomic uint64_t spread_hold, spread_backoff, spread_failed_at;
    /* Shedding held back after a consolidation that left its worker crowded
     * (other processes want the CPUs): until shed_hold; the same back-off. */
    _Atomic uint64_t shed_hold, shed_backoff, shed_released_at;
    uint32_t share_off;                                       /* DTACT_IO_CONSOLIDATE=0: no measure, no shedding */
    uint32_t mon_membarrier;                                  /* 1: takers use membarrier, owners a compiler fence */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t shutdown;     /* 0, then 1 forever          */
    _Atomic uint32_t phase;                                   /* enum dtact__rt_phase          */
    _Atomic uint32_t swept;                                   /* shutdown sweep done           */
    _Atomic uint32_t exited;                                  /* workers that left their loop  */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint64_t host_spawned; /* fibers spawned by host threads */
    _Atomic uint64_t host_rr;                                 /* host spawn round robin             */
    _Atomic uint64_t host_retired;                            /* fibers retired off any worker (destroy) */
    /* Fibers waiting for a stack (loop.c): workers holding such fibers, and a
     * count of stacks freed while any did (their wake-up epoch). */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t n_starving;
    _Atomic uint64_t stack_frees;
    /* I/O readiness: the fd table (reactor.c), created on first use */
    _Atomic(struct dtact__io_s *) io;
    _Atomic uint32_t io_backend; /* DTACT__IO_*: chosen at creation; epoll if a worker's io_uring set fails */
};

/* The runtime of this process (one at a time), published by dtact_init.
 * Defined in worker.c, the bottom of the scheduler, so every layer reads it
 * without calling upward. */
extern _Atomic(dtact__rt_t *) dtact__global_rt;
static inline dtact__rt_t *dtact__rt_get(void) {
    return dtact__load_acquire(&dtact__global_rt); // acquire: pairs with the release store in dtact_init
}

/* Pins held by calls in progress on threads that are not this runtime's
 * workers (worker.c). dtact_destroy unpublishes the runtime, then waits for
 * the pins to drain before it frees anything: a host thread inside
 * dtact_join (or any other call) never touches freed memory, and blocking
 * host calls return once the workers have stopped (DTACT_ENOTRUNNING).
 * Workers need no pin: destroy joins them first. */
extern _Atomic uint64_t dtact__rt_pins;

dtact__worker_t *dtact__tls_worker(void);
/* The variable behind dtact__tls_worker (worker.c). Read it directly only
 * where no switch can intervene between the read and the use (a fiber may
 * resume on another thread, and a compiler may cache a thread-local address
 * across the switch): at the entry of a public call, as dtact__rt_enter does. */
extern _Thread_local dtact__worker_t *dtact__tls_worker_var __attribute__((tls_model("initial-exec")));

/* The runtime for a public call, pinned when the caller is not one of its
 * workers; NULL when there is none. Pair with dtact__rt_leave(pinned). */
dtact__rt_t *dtact__rt_pin_slow(int *pinned); /* worker.c: the host thread's path */
void dtact__rt_unpin(void);
static inline dtact__rt_t *dtact__rt_enter(int *pinned) {
    dtact__worker_t *w = dtact__tls_worker_var; /* call entry: no switch before the use */
    dtact__rt_t *rt = dtact__rt_get();
    *pinned = 0;
    /* A worker thread's runtime is the published one (destroy joins the
     * workers before it unpublishes), so a worker needs no pin. */
    if (DTACT_LIKELY(w && rt)) return rt;
    return dtact__rt_pin_slow(pinned);
}
static inline void dtact__rt_leave(int pinned) {
    if (DTACT_UNLIKELY(pinned)) dtact__rt_unpin();
}

/* The layers, bottom up (docs/architecture.md): a file calls only files of
 * the layers below it, never one above. */

/* worker.c -- a thread's worker identity and the switches into and out of fibers */
dtact__worker_t *dtact__tls_worker(void);
void dtact__tls_worker_set(dtact__worker_t *w);
/* From the loop into f (f->stack bound, f->sp its context). */
void dtact__switch_in(dtact__worker_t *w, dtact__fiber_t *f);
/* Switches the calling fiber out with `action` (the loop completes it). */
void dtact__switch_out(dtact__worker_t *w, dtact__fiber_t *f, enum dtact__action action);
/* First thing a new fiber does on its own stack (sanitizer bookkeeping). */
void dtact__switch_first_entry(void);

/* sysmon.c -- stuck-worker detection: a worker blocked inside a fiber has
 * its movable queued work taken by its peers, and new work placed elsewhere */
#define DTACT__MON_CLAIM 1u
#define DTACT__MON_STUCK 2u
/* A worker whose fiber ran this long without a dispatch or a queue operation is stuck. */
#define DTACT__STUCK_NS 1000000ull
/* The longest an idle worker sleeps between looks while a peer runs a fiber. */
#define DTACT__MON_MAX_NS 16000000ull
/* A busy worker looks every this often, checking the clock every DTACT__MON_ROUNDS housekeeping rounds. */
#define DTACT__MON_BUSY_NS 4000000ull
#define DTACT__MON_ROUNDS 16u
/* Registers the process barrier; sets the workers' fence mode. Before they start. */
void dtact__mon_setup(dtact__rt_t *rt);
/* The owner's slow path of dtact__rq_enter: waits out a peer's claim, clears its stuck mark. */
void dtact__mon_wait(dtact__worker_t *w);
/* Looks at the peers (from w's loop): marks those stuck for DTACT__STUCK_NS
 * and takes their movable work into w's queues. Returns how many fibers it
 * took; *recheck: when to look again (0: every peer is idle). */
uint32_t dtact__mon_scan(dtact__worker_t *w, uint64_t now, uint64_t *recheck);
/* An idle worker's early take (sysmon.c, "Early takes"): a peer running a
 * fiber with queued work (UINT32_MAX: none), and its beat in *beat ... */
uint32_t dtact__mon_pick(dtact__worker_t *w, uint32_t *beat);
/* ... then, DTACT__STEAL_NS later, half of that peer's movable work if its
 * beat is still `beat`. Returns how many fibers it took into w's queues. */
uint32_t dtact__mon_steal(dtact__worker_t *w, uint32_t peer, uint32_t beat);
/* An idle worker looks for a busy peer's queued work this long into its
 * spin, and takes it when the peer's fiber has run this much longer. */
#define DTACT__PICK_NS 5000u
#define DTACT__STEAL_NS 20000u
/* A worker to place f on instead of `to` when `to` is marked stuck (f NULL:
 * any fiber, a fresh host spawn); `to` itself when it is not, or when no
 * other may take f. Call only when rt->n_stuck is non-zero. */
uint32_t dtact__mon_redirect(dtact__rt_t *rt, uint32_t to, const dtact__fiber_t *f);
/* Drops w's stuck mark (w's own thread, from its loop). */
void dtact__mon_unmark(dtact__worker_t *w);

/* The owner side of sysmon.c's protocol. A worker's thread brackets every
 * touch of its run queues from fiber context with enter/leave; its loop is
 * inside from the return of each switch to the next switch into a fiber.
 * enter returns 1 when it entered (0: already inside, the loop or a nested
 * call); pass that to leave. Cost: two stores and one load of the worker's
 * own line, and a compiler fence (a real one under TSan or without
 * membarrier). */
static inline int dtact__rq_enter(dtact__worker_t *w) {
    uint32_t b = w->beat_own;
    if (!(b & 1u)) return 0;
    w->beat_own = ++b;
    dtact__store_relaxed(&w->beat, b); // relaxed: ordered before the load of mon by the fence below (sysmon.c)
#if defined(DTACT_TSAN)
    dtact__fence_seq_cst(); // seq_cst: TSan does not model membarrier; pairs with the taker's fence
#else
    if (DTACT_UNLIKELY(w->mon_fence)) dtact__fence_seq_cst(); // seq_cst: no membarrier; pairs with the taker's fence
    else dtact__compiler_fence();                             /* the taker's membarrier makes this a full fence (sysmon.c) */
#endif
    // acquire: pairs with a taker's release of its claim (its writes to our queues)
    if (DTACT_UNLIKELY(dtact__load_acquire(&w->mon))) dtact__mon_wait(w);
    return 1;
}
static inline void dtact__rq_leave(dtact__worker_t *w, int entered) {
    if (!entered) return;
    w->beat_own++;
    dtact__store_release(&w->beat, w->beat_own); // release: publishes our queue writes to a taker's acquire of beat
}

/* May f run on worker `to`? (pinned and Critical fibers: only at home; the
 * SameCCX/SameNUMA groups) */
static inline int dtact__can_move(const dtact__rt_t *rt, const dtact__fiber_t *f, uint32_t to) {
    if (f->flags & DTACT__F_PINNED) return to == f->home;
    if (f->priority == DTACT_PRIORITY_CRITICAL) return to == f->home;
    switch (f->affinity) {
    case DTACT_AFFINITY_SAME_CCX: return rt->global_topology || rt->workers[to].ccx == rt->workers[f->home].ccx;
    case DTACT_AFFINITY_SAME_NUMA: return rt->global_topology || rt->workers[to].numa == rt->workers[f->home].numa;
    default: return 1;
    }
}

/* mesh.c -- the policy: placement, inboxes, feeding, deflection, parking */
/* Puts a ready fiber somewhere it will run: the calling worker's queue when
 * allowed (front: it runs soon), otherwise its home worker's inbox. */
void dtact__schedule(dtact__rt_t *rt, dtact__worker_t *self, dtact__fiber_t *f, int front);
/* Moves everything in w's inbox to its queues; returns how many fibers. */
uint32_t dtact__inbox_drain(dtact__worker_t *w);
/* Called by a worker with local work: feeds hungry peers, deflects above the
 * watermark, wakes a sleeper when nobody is searching. */
void dtact__balance(dtact__worker_t *w);
/* Idle path: ask for work, spin, then park until news or `deadline` (0: none).
 * Returns when there may be work. */
void dtact__idle(dtact__worker_t *w, uint64_t deadline);
void dtact__wake_all_workers(dtact__rt_t *rt);

/* cpushare.c -- whether workers that watch fds get CPUs of their own, and
 * consolidation when they do not */
#define DTACT__SHARE_NS 2000000ull /* how often a worker that watches fds samples its CPU share */
void dtact__share_init(dtact__rt_t *rt);
/* A sample every DTACT__SHARE_NS (a worker with a readiness set; now: the
 * clock). Sets w->crowded and w->shed_to. */
void dtact__share_tick(dtact__worker_t *w, uint64_t now);
/* The worker ran out of work at `now` (published for shedding peers). */
void dtact__share_idle(dtact__worker_t *w, uint64_t now);
/* 1 while rule 5 and the hungry spin of workers that watch fds are held back. */
int dtact__share_hold(const dtact__rt_t *rt, uint64_t now);
/* Rule 5 of a worker that watches fds may spread now (1); arms the probe wait. */
int dtact__share_may_spread(dtact__rt_t *rt, uint64_t now);
void dtact__share_fini(dtact__worker_t *w);

/* reactor.c -- I/O readiness: handles the events the idle sleep read and polls
 * the worker's set without waiting; frees the fd table and sets at destroy */
void dtact__reactor_poll(dtact__worker_t *w);
void dtact__reactor_free(dtact__rt_t *rt);
/* The calling worker's I/O set, created on first use: 0 and *out, or -errno. */
int dtact__reactor_set(dtact__worker_t *w, dtact__ioset_t **out);
/* dtact_wait_fd_until without setting the thread's last error: the ready
 * bits (> 0) or a negative DTACT code. */
int dtact__wait_fd(int fd, uint32_t events, uint64_t deadline);

/* fiber.c -- the lifecycle: wake-ups, parking, the fiber's body, retirement */
void dtact__fiber_entry(void *arg);
/* Gives the fiber a wake-up token (see types.h). Never blocks. */
void dtact__unpark(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen);
/* Parks the calling fiber until a token arrives or the deadline (0: none). */
void dtact__park_self(dtact__worker_t *w, dtact__fiber_t *f, uint64_t deadline);
/* Releases the fiber's stack (if bound) to `cache`. */
void dtact__fiber_release_stack(dtact__rt_t *rt, uint32_t cache, dtact__fiber_t *f);
/* The one end of every fiber that was published by a spawn, whether it ran
 * (status DTACT_OK, after it switched out for good) or was cancelled: releases
 * the stack, closes the record, publishes result and status, wakes every
 * joiner, counts it, and releases the record at once if it is detached.
 * w: the calling worker, or NULL on any other thread. f is not touched after. */
void dtact__fiber_retire(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *f, int status);
/* Cancels a fiber that never started: its cleanup, then retire(ECANCELED). */
void dtact__fiber_cancel(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *f);
/* Releases a FINISHED record at generation gen (CAS FINISHED -> FREE); 1 if this call won. */
int dtact__fiber_reap(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen);

/* shutdown.c -- the shutdown protocol */
/* Sets the shutdown flag and wakes every worker (idempotent). */
void dtact__shutdown_begin(dtact__rt_t *rt);
/* Wakes every suspended fiber once (the first caller after shutdown). */
void dtact__shutdown_sweep(dtact__rt_t *rt);
/* True when every spawned fiber has run or been cancelled. */
int dtact__rt_finished(dtact__rt_t *rt);
/* A runtime that never ran: cancels every fiber it holds (cleanups run here). */
void dtact__shutdown_cancel_unstarted(dtact__rt_t *rt);

/* loop.c -- the dispatch loop (a worker thread's body) */
void *dtact__worker_main(void *arg);

static inline uint64_t dtact__fiber_gen(const dtact__fiber_t *f) {
    // acquire: pairs with the release store of a new generation in fiber_free / spawn
    return DTACT__SG_GEN(dtact__load_acquire(&((dtact__fiber_t *)f)->sg));
}

/* The record lock word: (closed generation << 1) | LOCKED.
 *
 * LOCKED (bit 0) is a tiny spin lock guarding a fiber's waiter list (held for
 * a few instructions by joiners registering or withdrawing, and by detach).
 * The upper bits hold the low 31 bits of the last generation whose end was
 * published: the finisher "closes" the record with one CAS, which succeeds
 * only while the lock is free, and from then on owns the waiter list without
 * taking the lock. So finishing a fiber nobody waits for costs one atomic
 * RMW. A new occupant of the slot has a new generation, so it starts open
 * without anyone resetting the word (a stale locker may hold it meanwhile). */
#define DTACT__LOCKED 1u
static inline uint32_t dtact__closed_word(uint64_t gen) { return (uint32_t)(gen << 1); }
static inline int dtact__is_closed(uint32_t word, uint64_t gen) {
    return (word & ~DTACT__LOCKED) == dtact__closed_word(gen);
}

/* Takes the lock; returns the word as it was (unlocked), to pass to unlock. */
static inline uint32_t dtact__rec_lock(dtact__fiber_t *f) {
    uint32_t v = dtact__load_relaxed(&f->lock); // relaxed: validated by the CAS
    for (;;) {
        if (v & DTACT__LOCKED) {
            dtact__cpu_relax();
            v = dtact__load_relaxed(&f->lock); // relaxed: spin on the shared line, then retry
            // acquire: pairs with dtact__rec_unlock's release
        } else if (dtact__cas_weak_acquire(&f->lock, &v, v | DTACT__LOCKED)) {
            return v;
        }
    }
}
static inline void dtact__rec_unlock(dtact__fiber_t *f, uint32_t v) {
    /* Nobody else changes the word while it is locked (the finisher's CAS
     * expects it unlocked), so a plain store restores it. */
    dtact__store_release(&f->lock, v); // release: pairs with the acquire of the next locker or of the finisher's CAS
}

static inline void dtact__stat_inc(_Atomic uint64_t *c) {
    /* Owner-only counter: a load + store instead of an RMW (no other writer).
     * release: pairs with the acquire loads in dtact__rt_finished, which reads
     * completions before spawns (see runtime.c). */
    dtact__store_release(c, dtact__load_relaxed(c) + 1);
}

#endif /* DTACT_CORE_INTERNAL_H */
