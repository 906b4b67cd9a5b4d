/* core/sync_mutex.c -- dtact_mutex_t: a fiber-aware mutex with bounded barging.
 *
 * State word (sync.h): LOCKED, WAITERS, WOKEN, HANDOFF.
 *  - Uncontended: lock is one CAS 0 -> LOCKED, unlock one CAS LOCKED -> 0.
 *  - Contended lock: spin a bounded number of rounds (the owner usually runs
 *    on another worker and holds the lock for a few instructions); while
 *    spinning with waiters queued, claim WOKEN so that an unlock does not wake
 *    a sleeper that the spinner would beat anyway (Go's mutexWoken). Then
 *    enqueue under the queue lock: WAITERS is set with a CAS that saw LOCKED
 *    (if the lock was free, take it instead), so an unlock after that CAS
 *    takes the queue lock and finds the node: no lost wake-up.
 *  - Unlock with WAITERS and no WOKEN: release and set WOKEN in one CAS, then
 *    pop the head waiter and wake it; it competes with running callers
 *    (barging). A woken waiter that loses re-queues at the FRONT. At most one
 *    woken (or WOKEN-claiming spinner) competes at a time; it clears WOKEN
 *    when it takes the lock, re-queues, or gives up (then it passes the claim
 *    to the head waiter if the lock is free).
 *  - A woken waiter that has lost 4 times, or has waited over 1 ms, re-queues
 *    with HANDOFF set (only ever while LOCKED): from then on unlock keeps
 *    LOCKED and hands the lock to the head waiter (status M_HANDED), and new
 *    callers queue behind. The hand-off epoch covers the waiters queued at
 *    the switch (m->handoffs, under the queue lock): after the last of them,
 *    or when the queue empties, HANDOFF is cleared. (Draining the whole queue
 *    instead never ends under steady contention: every unlocking caller
 *    re-queues at once, and every lock then costs a park and a wake-up.)
 *  - WAITERS is cleared (under the queue lock) by whoever empties the queue:
 *    the popper, or a waiter that gave up (timeout, shutdown) and left it
 *    empty. An unlock that finds WAITERS but an empty queue just clears it.
 * Memory order: lock acquires (CAS acquire, or the hand-off's WOKEN acquire),
 * unlock releases (CAS release, or the WOKEN release of the hand-off).
 */
#include "sync.h"

#include "internal.h"

#define M_SPIN 64                          /* spin rounds before queueing           */
#define M_STARVE_NS 1000000u               /* a waiter waiting longer switches ...  */
#define M_MAX_LOSSES 4u                    /* ... as does one that lost this often  */
enum { M_RETRY = DTACT_OK, M_HANDED = 1 }; /* what a woken waiter is told */

enum { L = DTACT__M_LOCKED, W = DTACT__M_WAITERS, K = DTACT__M_WOKEN, H = DTACT__M_HANDOFF };

static inline dtact__mutex_t *mx(dtact_mutex_t *m) { return (dtact__mutex_t *)(void *)m; }

static int try_acquire(dtact__mutex_t *m) {
    uint32_t s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS
    while (!(s & L)) {                           /* HANDOFF implies LOCKED */
        // acquire: pairs with the release of the unlock that freed it
        if (dtact__cas_weak_acquire(&m->state, &s, s | L)) return DTACT_OK;
    }
    return DTACT_EBUSY;
}

/* The caller holds the WOKEN claim and gives up: if the lock is free and
 * waiters are queued, pass the claim to the head waiter, else drop it. */
static void pass_woken(dtact__mutex_t *m) {
    dtact__wnode_t *n = NULL;
    dtact__waitq_lock(&m->q);
    uint32_t s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS; the queue lock orders the rest
    for (;;) {
        if (!(s & L) && !dtact__waitq_empty(&m->q)) {
            n = dtact__waitq_pop(&m->q);
            // relaxed: WAITERS changes only under the queue lock we hold
            if (dtact__waitq_empty(&m->q)) dtact__fetch_and_relaxed(&m->state, ~(uint32_t)W);
            break;
        }
        uint32_t ns = s & ~(uint32_t)K;
        if (dtact__waitq_empty(&m->q)) ns &= ~(uint32_t)W;
        // relaxed: drops our claim only; no data is published
        if (dtact__cas_weak_relaxed(&m->state, &s, ns)) break;
    }
    dtact__waitq_unlock(&m->q);
    if (n) dtact__wnode_wake(n, M_RETRY);
}

/* A waiter that gave up (unlinked by waitq) fixes WAITERS/HANDOFF if it left the queue empty. */
static void leave_fix(dtact__mutex_t *m) {
    dtact__waitq_lock(&m->q);
    // relaxed: WAITERS and HANDOFF change only under the queue lock we hold
    if (dtact__waitq_empty(&m->q)) dtact__fetch_and_relaxed(&m->state, ~(uint32_t)(W | H));
    dtact__waitq_unlock(&m->q);
}

int dtact__mutex_lock_deadline(dtact__mutex_t *m, uint64_t deadline) {
    int claim = 0; /* we hold the WOKEN claim */
    int woke = 0;  /* we were woken by an unlock (a lost race counts) */
    unsigned losses = 0;
    uint64_t since = 0;
    dtact__wnode_t n;
    for (;;) {
        for (int i = 0; i < M_SPIN; i++) {
            uint32_t s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS
            if (!(s & L)) {
                uint32_t ns = claim ? ((s | L) & ~(uint32_t)K) : (s | L);
                // acquire: pairs with the release of the unlock that freed it
                if (dtact__cas_weak_acquire(&m->state, &s, ns)) return DTACT_OK;
                continue;
            }
            if (s & H) break; /* hand-off: no barging, queue */
            if (!claim && (s & W) && !(s & K)) {
                // relaxed: a claim only (tells unlock not to wake a sleeper)
                if (dtact__cas_weak_relaxed(&m->state, &s, s | K)) claim = 1;
            }
            if (deadline != DTACT__FOREVER && i == 0 && dtact__now_ns() >= deadline) break;
            dtact__cpu_relax();
        }
        if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) {
            if (claim) pass_woken(m);
            return DTACT_ETIMEDOUT;
        }
        int rc = dtact__wnode_init(&n);
        if (rc != DTACT_OK) {
            if (claim) pass_woken(m);
            return rc;
        }
        int starving = 0;
        if (woke) {
            uint64_t now = dtact__now_ns();
            starving = ++losses >= M_MAX_LOSSES || now - since > M_STARVE_NS;
        } else if (!since) {
            since = dtact__now_ns();
        }
        dtact__waitq_lock(&m->q);
        uint32_t s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS
        for (;;) {
            if (!(s & L)) {
                uint32_t ns = s | L;
                if (claim) ns &= ~(uint32_t)K;
                if (dtact__waitq_empty(&m->q)) ns &= ~(uint32_t)W;
                // acquire: pairs with the release of the unlock that freed it
                if (dtact__cas_weak_acquire(&m->state, &s, ns)) {
                    dtact__waitq_unlock(&m->q);
                    return DTACT_OK;
                }
                continue;
            }
            uint32_t ns = s | W;
            if (claim) ns &= ~(uint32_t)K;
            if (starving) ns |= H;
            /* acq_rel: an unlock that fails its CAS against WAITERS then takes
             * the queue lock (which orders the node); acquire keeps the
             * re-check above honest */
            if (dtact__cas_weak_acq_rel(&m->state, &s, ns)) break;
        }
        claim = 0;
        /* A new hand-off epoch: every waiter queued now, and we, get the lock by hand-off. */
        if (starving) m->handoffs = m->q.n + 1;
        n.since = since;
        if (woke) dtact__waitq_push_front(&m->q, &n);
        else dtact__waitq_push(&m->q, &n);
        dtact__waitq_unlock(&m->q);
        rc = dtact__wnode_wait(&m->q, &n, deadline);
        if (rc == M_HANDED) return DTACT_OK; /* LOCKED was kept for us */
        if (rc == M_RETRY) {
            claim = 1; /* the unlock set WOKEN on our behalf */
            woke = 1;
            continue;
        }
        leave_fix(m); /* ETIMEDOUT / ESHUTDOWN: we were unlinked */
        return rc;
    }
}

/* Hand-off mode: gives the lock (still LOCKED) to the head waiter. 0 when the
 * queue turned out empty (HANDOFF and WAITERS cleared; release normally). */
static int hand_off(dtact__mutex_t *m) {
    dtact__waitq_lock(&m->q);
    dtact__wnode_t *n = dtact__waitq_pop(&m->q);
    // relaxed: WAITERS and HANDOFF change only under the queue lock we hold
    if (dtact__waitq_empty(&m->q)) dtact__fetch_and_relaxed(&m->state, ~(uint32_t)(W | H));
    else if (n && (m->handoffs == 0 || --m->handoffs == 0))
        dtact__fetch_and_relaxed(&m->state, ~(uint32_t)H); // relaxed: as above
    dtact__waitq_unlock(&m->q);
    if (!n) return 0;
    /* the critical section is published by the wake's release of WOKEN */
    dtact__wnode_wake(n, M_HANDED);
    return 1;
}

static int unlock_slow(dtact__mutex_t *m) {
    uint32_t s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS
    for (;;) {
        if (!(s & L)) return DTACT_EPERM;
        if (s & H) {
            if (hand_off(m)) return DTACT_OK;
            s = dtact__load_relaxed(&m->state); // relaxed: validated by the CAS
            continue;
        }
        if (!(s & W) || (s & K)) {
            // release: publishes the critical section to the next locker
            if (dtact__cas_weak_release(&m->state, &s, s & ~(uint32_t)L)) return DTACT_OK;
            continue;
        }
        // release: as above; WOKEN is our claim for the waiter we wake
        if (dtact__cas_weak_release(&m->state, &s, (s & ~(uint32_t)L) | K)) break;
    }
    dtact__waitq_lock(&m->q);
    dtact__wnode_t *n = dtact__waitq_pop(&m->q);
    if (!n) {
        // relaxed: WAITERS changes under the queue lock we hold; WOKEN is our claim
        dtact__fetch_and_relaxed(&m->state, ~(uint32_t)(K | W));
    } else if (dtact__waitq_empty(&m->q)) {
        dtact__fetch_and_relaxed(&m->state, ~(uint32_t)W); // relaxed: as above
    }
    dtact__waitq_unlock(&m->q);
    if (n) dtact__wnode_wake(n, M_RETRY);
    return DTACT_OK;
}

int dtact__mutex_release(dtact__mutex_t *m) {
    uint32_t exp = L;
    // release: publishes the critical section to the next locker
    if (DTACT_LIKELY(dtact__cas_weak_release(&m->state, &exp, 0u))) return DTACT_OK;
    return unlock_slow(m);
}

void dtact__mutex_lock_hard(dtact__mutex_t *m) {
    for (unsigned i = 0; try_acquire(m) != DTACT_OK; i++) {
        dtact__worker_t *w = dtact__tls_worker();
        if (w && w->current) (void)dtact_yield(); /* let the holder run on this worker */
        else if (i > 100) dtact__thread_yield();
        else dtact__cpu_relax();
    }
}

static inline int lock_fast(dtact__mutex_t *m) {
    uint32_t exp = 0;
    // acquire: pairs with the release of the previous unlock
    return dtact__cas_weak_acquire(&m->state, &exp, L);
}

DTACT_API int dtact_mutex_init(dtact_mutex_t *m) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    *m = (dtact_mutex_t)DTACT_MUTEX_INIT;
    return DTACT_OK;
}

DTACT_API int dtact_mutex_destroy(dtact_mutex_t *m) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    dtact__mutex_t *x = mx(m);
    dtact__waitq_lock(&x->q);
    // relaxed: under the queue lock; a racing lock is the caller's bug
    int busy = dtact__load_relaxed(&x->state) != 0 || !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_mutex_lock(dtact_mutex_t *m) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(lock_fast(mx(m)))) return DTACT_OK;
    return dtact__sync_ret(dtact__mutex_lock_deadline(mx(m), DTACT__FOREVER));
}

DTACT_API int dtact_mutex_trylock(dtact_mutex_t *m) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(try_acquire(mx(m)));
}

DTACT_API int dtact_mutex_lock_until(dtact_mutex_t *m, uint64_t deadline_ns) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(lock_fast(mx(m)))) return DTACT_OK;
    return dtact__sync_ret(dtact__mutex_lock_deadline(mx(m), deadline_ns));
}

DTACT_API int dtact_mutex_timedlock(dtact_mutex_t *m, int64_t timeout_ns) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(lock_fast(mx(m)))) return DTACT_OK;
    return dtact__sync_ret(dtact__mutex_lock_deadline(mx(m), dtact__deadline_in(timeout_ns)));
}

DTACT_API int dtact_mutex_unlock(dtact_mutex_t *m) {
    if (!m) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(dtact__mutex_release(mx(m)));
}
