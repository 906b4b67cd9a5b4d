/* core/waitq.h -- the wait queue under every synchronisation primitive
 * (waitq.c; used by sync_*.c and chan.c).
 *
 * A waiter (a fiber, or a plain thread) puts a node that lives on its own
 * stack into a primitive's FIFO queue under the queue's spin lock, releases
 * the lock and waits: a fiber parks (its worker runs other fibers), a thread
 * sleeps on a futex on the node's `state` word. A waker removes the node under
 * the lock, fills in `status` (and whatever the primitive passes: a message,
 * a hand-off) and wakes it with dtact__wnode_wake(); from that call on the
 * node belongs to its owner again and the waker must not touch it.
 *
 * A waiter that gives up (deadline, shutdown) takes the lock and unlinks its
 * node if it is still queued: then nothing happened and it returns the error.
 * If a waker already took the node, the waiter waits the few instructions
 * until the wake is published and returns the waker's status: the operation
 * completed, and the caller must treat it as such (never both a hand-off and a
 * timeout). Either way no node and no timer outlives the call.
 *
 * The lock is a test-and-test-and-set spin lock: critical sections are a few
 * pointer updates, no code inside them parks or switches, and a contended
 * spinner yields its thread after a while (a thread holding it may have been
 * preempted by the kernel).
 *
 * Deadlines are absolute dtact__now_ns() values; DTACT__FOREVER means none.
 */
#ifndef DTACT_CORE_WAITQ_H
#define DTACT_CORE_WAITQ_H

#include <stdint.h>

#include "atomic.h"
#include "types.h"

#define DTACT__FOREVER UINT64_MAX

enum { DTACT__WN_WAITING = 0, DTACT__WN_WOKEN = 1, DTACT__WN_SLEEPING = 2 };

typedef struct dtact__wnode_s dtact__wnode_t;
struct dtact__wnode_s {
    dtact__wnode_t *next, *prev; /* queue links, under the queue lock            */
    dtact__fiber_t *fiber;       /* the waiting fiber; NULL for a thread          */
    uint64_t gen;                /* its generation, for the unpark                */
    _Atomic uint32_t state;      /* DTACT__WN_*: WOKEN is stored last, by the waker */
    int32_t status;              /* the waker's verdict, written before WOKEN     */
    uint8_t linked;              /* 1 while in a queue (under the queue lock)     */
    uint8_t kind;                /* primitive-specific (reader/writer, send/recv) */
    uint16_t spare;
    uint32_t count; /* primitive-specific (permits wanted, ...)      */
    void *arg;      /* primitive-specific (message buffer, ...)      */
    void *sel;      /* select: the shared claim (chan.c)             */
    uint64_t since; /* primitive-specific (enqueue time, ...)        */
};

typedef struct dtact__waitq_s {
    _Atomic uint32_t lock; /* 0 free, 1 held */
    uint32_t n;            /* queued nodes, under the lock */
    dtact__wnode_t *head, *tail;
} dtact__waitq_t;

void dtact__waitq_lock_slow(dtact__waitq_t *q);
static inline void dtact__waitq_lock(dtact__waitq_t *q) {
    uint32_t exp = 0;
    // acquire: pairs with the release in dtact__waitq_unlock (the queue and the primitive's state)
    if (DTACT_LIKELY(dtact__cas_weak_acquire(&q->lock, &exp, 1u))) return;
    dtact__waitq_lock_slow(q);
}
static inline int dtact__waitq_trylock(dtact__waitq_t *q) {
    uint32_t exp = 0;
    return dtact__cas_weak_acquire(&q->lock, &exp, 1u); // acquire: as dtact__waitq_lock
}
static inline void dtact__waitq_unlock(dtact__waitq_t *q) {
    dtact__store_release(&q->lock, 0u); // release: publishes the critical section to the next locker
}

/* Queue operations; the caller holds the lock. */
void dtact__waitq_push(dtact__waitq_t *q, dtact__wnode_t *n);       /* at the tail */
void dtact__waitq_push_front(dtact__waitq_t *q, dtact__wnode_t *n); /* at the head */
dtact__wnode_t *dtact__waitq_pop(dtact__waitq_t *q);                /* the head, or NULL */
void dtact__waitq_remove(dtact__waitq_t *q, dtact__wnode_t *n);     /* n->linked must be 1 */
static inline int dtact__waitq_empty(const dtact__waitq_t *q) { return q->head == NULL; }

/* Prepares a node for the calling fiber or thread. DTACT_OK; DTACT_EPERM on a
 * worker thread outside any fiber (a cleanup run by the loop: waiting there
 * would block the worker), DTACT_ESHUTDOWN if that runtime is shutting down. */
int dtact__wnode_init(dtact__wnode_t *n);

/* Wakes a node the caller has just removed from its queue (the lock may be
 * held or not): stores status, then WOKEN, then unparks the fiber or wakes
 * the thread. The node may be gone when this returns. */
void dtact__wnode_wake(dtact__wnode_t *n, int status);

/* Waits until the node is woken or the deadline passes (or, for a fiber, its
 * runtime shuts down). The node was queued on q and q's lock released.
 * Returns the waker's status, or DTACT_ETIMEDOUT / DTACT_ESHUTDOWN after the
 * node was unlinked (nothing happened). */
int dtact__wnode_wait(dtact__waitq_t *q, dtact__wnode_t *n, uint64_t deadline);

/* Takes a queued node back: 1 if it was still queued (now unlinked), 0 if a
 * waker had taken it (returns once its wake is published: n->status holds
 * the verdict). */
int dtact__wnode_cancel(dtact__waitq_t *q, dtact__wnode_t *n);

/* Pops every node of q into a private chain (q locked); wake it with
 * dtact__wnode_wake_chain after unlocking, so that the spin lock is not held
 * across the unparks. The nodes stay valid: their owners wait for WOKEN. */
static inline dtact__wnode_t *dtact__waitq_take_all(dtact__waitq_t *q) {
    dtact__wnode_t *first = NULL, **tail = &first;
    dtact__wnode_t *n;
    while ((n = dtact__waitq_pop(q)) != NULL) {
        *tail = n;
        tail = &n->next;
    }
    return first;
}
static inline void dtact__wnode_wake_chain(dtact__wnode_t *n, int status) {
    while (n) {
        dtact__wnode_t *next = n->next; /* read before the wake: the node may be gone after it */
        dtact__wnode_wake(n, status);
        n = next;
    }
}

/* A relative timeout (< 0 forever, 0 now) as an absolute deadline. */
uint64_t dtact__deadline_in(int64_t timeout_ns);

#endif /* DTACT_CORE_WAITQ_H */
