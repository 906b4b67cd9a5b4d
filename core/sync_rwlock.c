/* core/sync_rwlock.c -- dtact_rwlock_t: a writer-preferring, phase-fair
 * reader-writer lock.
 *
 * State word (sync.h): readers holding (30 bits) | WRITER | WAITERS.
 *  - Fast paths, one CAS each: a reader enters while neither WRITER nor
 *    WAITERS is set (so a queued writer stops new readers), a writer takes
 *    0 -> WRITER, a writer leaves WRITER -> 0 and a reader decrements while
 *    WAITERS is clear.
 *  - Everything else runs under the queue lock. The queue holds readers and
 *    writers in arrival order; WAITERS is set (with a CAS that saw the lock
 *    held) before a node is queued and cleared by whoever empties the queue.
 *  - dispatch() (queue locked) grants what the head of the queue can have:
 *    a head writer gets the lock when nobody holds it; a head reader, while no
 *    writer holds it, gets it together with every reader queued behind it up
 *    to the next writer (those readers came before that writer: phase
 *    fairness). The grant is made in the state word on the waiter's behalf
 *    and the waiter is woken with DTACT_OK. dispatch runs after every slow
 *    release and after a waiter gave up (a departed writer may have been the
 *    only thing keeping readers behind it queued).
 * Memory order: acquiring CASes on lock, releasing ones on unlock; a granted
 * waiter acquires through the wake's WOKEN release (after the releaser's
 * queue-locked update).
 */
#include "sync.h"

#define RD DTACT__RW_READERS
#define WR DTACT__RW_WRITER
#define WQ DTACT__RW_WAITERS

static inline dtact__rwlock_t *rw(dtact_rwlock_t *l) { return (dtact__rwlock_t *)(void *)l; }

/* Queue locked: grants the head what it can have; returns the chain to wake. */
static dtact__wnode_t *dispatch(dtact__rwlock_t *l) {
    dtact__wnode_t *first = NULL, **tail = &first;
    dtact__wnode_t *h = l->q.head;
    if (h && h->kind == DTACT__RW_KIND_WRITE) {
        uint32_t s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
        for (;;) {
            if (s & (RD | WR)) break;
            /* acq_rel: acquires every earlier release on the word (the readers'
             * unlocks) so that the wake's release passes them on to the writer */
            if (dtact__cas_weak_acq_rel(&l->state, &s, s | WR)) {
                first = dtact__waitq_pop(&l->q);
                break;
            }
        }
    } else if (h) {
        uint32_t k = 0;
        for (dtact__wnode_t *n = h; n && n->kind == DTACT__RW_KIND_READ; n = n->next)
            k++;
        uint32_t s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
        for (;;) {
            if ((s & WR) || (s & RD) + k > RD) break;
            // acq_rel: as above (the last writer's unlock, passed on to the readers)
            if (dtact__cas_weak_acq_rel(&l->state, &s, s + k)) {
                while (k--) {
                    *tail = dtact__waitq_pop(&l->q);
                    tail = &(*tail)->next;
                }
                break;
            }
        }
    }
    // relaxed: WAITERS changes only under the queue lock we hold
    if (dtact__waitq_empty(&l->q)) dtact__fetch_and_relaxed(&l->state, ~WQ);
    return first;
}

static int try_read(dtact__rwlock_t *l) {
    uint32_t s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
    while (!(s & (WR | WQ)) && (s & RD) < RD) {
        // acquire: pairs with the release of the last write unlock
        if (dtact__cas_weak_acquire(&l->state, &s, s + 1)) return DTACT_OK;
    }
    return DTACT_EBUSY;
}

static int try_write(dtact__rwlock_t *l) {
    uint32_t s = 0;
    do {
        // acquire: pairs with the release of the last unlock
        if (dtact__cas_weak_acquire(&l->state, &s, WR)) return DTACT_OK;
    } while (s == 0); /* a weak CAS may fail spuriously */
    return DTACT_EBUSY;
}

static int lock_slow(dtact__rwlock_t *l, int kind, uint64_t deadline) {
    /* Dispatch-free retry of the fast path a few times: a CAS can fail weakly. */
    for (int i = 0; i < 4; i++)
        if ((kind == DTACT__RW_KIND_READ ? try_read(l) : try_write(l)) == DTACT_OK) return DTACT_OK;
    if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return rc;
    n.kind = (uint8_t)kind;
    dtact__waitq_lock(&l->q);
    uint32_t s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
    for (;;) {
        int empty = dtact__waitq_empty(&l->q);
        uint32_t ns;
        if (kind == DTACT__RW_KIND_READ && empty && !(s & WR) && (s & RD) < RD) ns = s + 1;
        else if (kind == DTACT__RW_KIND_WRITE && empty && !(s & (WR | RD))) ns = s | WR;
        else ns = 0;
        if (ns) {
            if (empty) ns &= ~WQ;
            // acquire: pairs with the release of the last unlock
            if (dtact__cas_weak_acquire(&l->state, &s, ns)) {
                dtact__waitq_unlock(&l->q);
                return DTACT_OK;
            }
            continue;
        }
        // acq_rel: a fast unlock that then fails against WAITERS takes the queue lock and sees the node
        if (dtact__cas_weak_acq_rel(&l->state, &s, s | WQ)) break;
    }
    dtact__waitq_push(&l->q, &n);
    dtact__waitq_unlock(&l->q);
    rc = dtact__wnode_wait(&l->q, &n, deadline);
    if (rc == DTACT_OK) return DTACT_OK; /* granted */
    dtact__waitq_lock(&l->q);
    dtact__wnode_t *wake = dispatch(l);
    dtact__waitq_unlock(&l->q);
    dtact__wnode_wake_chain(wake, DTACT_OK);
    return rc;
}

static int unlock(dtact__rwlock_t *l) {
    uint32_t s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
    for (;;) {
        if (!(s & (WR | RD))) return DTACT_EPERM;
        if (s & WQ) break;
        uint32_t ns = (s & WR) ? (s & ~WR) : s - 1;
        // release: publishes the hold's writes to the next locker
        if (dtact__cas_weak_release(&l->state, &s, ns)) return DTACT_OK;
    }
    dtact__waitq_lock(&l->q);
    s = dtact__load_relaxed(&l->state); // relaxed: validated by the CAS
    for (;;) {
        if (!(s & (WR | RD))) {
            dtact__waitq_unlock(&l->q);
            return DTACT_EPERM;
        }
        uint32_t ns = (s & WR) ? (s & ~WR) : s - 1;
        // release: as above
        if (dtact__cas_weak_release(&l->state, &s, ns)) break;
    }
    dtact__wnode_t *wake = dispatch(l);
    dtact__waitq_unlock(&l->q);
    dtact__wnode_wake_chain(wake, DTACT_OK);
    return DTACT_OK;
}

DTACT_API int dtact_rwlock_init(dtact_rwlock_t *l) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    *l = (dtact_rwlock_t)DTACT_RWLOCK_INIT;
    return DTACT_OK;
}

DTACT_API int dtact_rwlock_destroy(dtact_rwlock_t *l) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    dtact__rwlock_t *x = rw(l);
    dtact__waitq_lock(&x->q);
    // relaxed: under the queue lock; a racing lock is the caller's bug
    int busy = dtact__load_relaxed(&x->state) != 0 || !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

static int rdlock(dtact_rwlock_t *l, uint64_t deadline) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(try_read(rw(l)) == DTACT_OK)) return DTACT_OK;
    return dtact__sync_ret(lock_slow(rw(l), DTACT__RW_KIND_READ, deadline));
}

static int wrlock(dtact_rwlock_t *l, uint64_t deadline) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    if (DTACT_LIKELY(try_write(rw(l)) == DTACT_OK)) return DTACT_OK;
    return dtact__sync_ret(lock_slow(rw(l), DTACT__RW_KIND_WRITE, deadline));
}

DTACT_API int dtact_rwlock_rdlock(dtact_rwlock_t *l) { return rdlock(l, DTACT__FOREVER); }
DTACT_API int dtact_rwlock_rdlock_until(dtact_rwlock_t *l, uint64_t deadline_ns) { return rdlock(l, deadline_ns); }
DTACT_API int dtact_rwlock_timedrdlock(dtact_rwlock_t *l, int64_t timeout_ns) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    return rdlock(l, dtact__deadline_in(timeout_ns));
}
DTACT_API int dtact_rwlock_tryrdlock(dtact_rwlock_t *l) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(try_read(rw(l)));
}

DTACT_API int dtact_rwlock_wrlock(dtact_rwlock_t *l) { return wrlock(l, DTACT__FOREVER); }
DTACT_API int dtact_rwlock_wrlock_until(dtact_rwlock_t *l, uint64_t deadline_ns) { return wrlock(l, deadline_ns); }
DTACT_API int dtact_rwlock_timedwrlock(dtact_rwlock_t *l, int64_t timeout_ns) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    return wrlock(l, dtact__deadline_in(timeout_ns));
}
DTACT_API int dtact_rwlock_trywrlock(dtact_rwlock_t *l) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(try_write(rw(l)));
}

DTACT_API int dtact_rwlock_unlock(dtact_rwlock_t *l) {
    if (!l) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(unlock(rw(l)));
}
