/* core/waitq.c -- the wait queue under every synchronisation primitive.
 *
 * See waitq.h for the protocol. This file owns the queue links, the node's
 * `state` word and the two ways to wait: a fiber parks (fiber.c's
 * dtact__park_self, with the deadline on its worker's timer heap), a thread
 * futex-waits on the node. It knows nothing about what a primitive hands
 * over; the primitives (sync_*.c, chan.c) decide what a wake means.
 */
#include "waitq.h"

#include "internal.h"

void dtact__waitq_lock_slow(dtact__waitq_t *q) {
    unsigned spins = 0;
    for (;;) {
        // relaxed: test before test-and-set; the CAS below acquires
        while (dtact__load_relaxed(&q->lock)) {
            if (++spins > 200) {
                dtact__thread_yield(); /* the holder may be a preempted thread */
                spins = 0;
            } else {
                dtact__cpu_relax();
            }
        }
        if (dtact__waitq_trylock(q)) return;
    }
}

void dtact__waitq_push(dtact__waitq_t *q, dtact__wnode_t *n) {
    n->next = NULL;
    n->prev = q->tail;
    if (q->tail) q->tail->next = n;
    else q->head = n;
    q->tail = n;
    n->linked = 1;
    q->n++;
}

void dtact__waitq_push_front(dtact__waitq_t *q, dtact__wnode_t *n) {
    n->prev = NULL;
    n->next = q->head;
    if (q->head) q->head->prev = n;
    else q->tail = n;
    q->head = n;
    n->linked = 1;
    q->n++;
}

void dtact__waitq_remove(dtact__waitq_t *q, dtact__wnode_t *n) {
    if (n->prev) n->prev->next = n->next;
    else q->head = n->next;
    if (n->next) n->next->prev = n->prev;
    else q->tail = n->prev;
    n->next = n->prev = NULL;
    n->linked = 0;
    q->n--;
}

dtact__wnode_t *dtact__waitq_pop(dtact__waitq_t *q) {
    dtact__wnode_t *n = q->head;
    if (n) dtact__waitq_remove(q, n);
    return n;
}

int dtact__wnode_init(dtact__wnode_t *n) {
    dtact__worker_t *w = dtact__tls_worker();
    n->next = n->prev = NULL;
    n->fiber = NULL;
    n->gen = 0;
    if (w) {
        if (!w->current) {
            // relaxed: a hint for the error code only
            return dtact__load_relaxed(&w->rt->shutdown) ? DTACT_ESHUTDOWN : DTACT_EPERM;
        }
        n->fiber = w->current;
        n->gen = DTACT__SG_GEN(dtact__load_relaxed(&w->current->sg)); // relaxed: our own record
    }
    dtact__store_relaxed(&n->state, DTACT__WN_WAITING); // relaxed: published by the queue lock's release
    n->status = DTACT_OK;
    n->linked = 0;
    n->kind = 0;
    n->spare = 0;
    n->count = 0;
    n->arg = NULL;
    n->sel = NULL;
    n->since = 0;
    return DTACT_OK;
}

void dtact__wnode_wake(dtact__wnode_t *n, int status) {
    n->status = status;
    dtact__fiber_t *f = n->fiber;
    if (f) {
        uint64_t gen = n->gen;
        /* Pin the runtime before the node is released: once WOKEN is seen the
         * fiber may finish and the runtime be destroyed before our unpark. */
        int pinned;
        dtact__rt_t *rt = dtact__rt_enter(&pinned);
        // release: publishes status (and the primitive's hand-off) to the waiter's acquire load
        dtact__store_release(&n->state, DTACT__WN_WOKEN);
        /* No fence needed here: dtact__unpark fences before it trusts a READY
         * or NOTIFIED state, and park_self fences before it returns (fiber.c),
         * so the fiber's re-read of `state` cannot miss the store above. */
        if (rt) dtact__unpark(rt, f, gen);
        dtact__rt_leave(pinned);
        return;
    }
    /* acq_rel: release publishes status to the thread; the old value says
     * whether it sleeps. A wake of a node whose owner already left (a spurious
     * futex return saw WOKEN) is harmless: every futex user loops. */
    if (dtact__xchg_acq_rel(&n->state, DTACT__WN_WOKEN) == DTACT__WN_SLEEPING) dtact__futex_wake(&n->state, 1);
}

int dtact__wnode_cancel(dtact__waitq_t *q, dtact__wnode_t *n) {
    dtact__waitq_lock(q);
    int linked = n->linked;
    if (linked) dtact__waitq_remove(q, n);
    dtact__waitq_unlock(q);
    if (linked) return 1;
    unsigned spins = 0;
    // acquire: pairs with the release of WOKEN in dtact__wnode_wake
    while (dtact__load_acquire(&n->state) != DTACT__WN_WOKEN) {
        if (++spins > 1000) dtact__thread_yield();
        else dtact__cpu_relax();
    }
    return 0;
}

/* The waiter gives up: unlink if still queued (nothing happened), else the
 * waker owns the outcome and we wait for its publication. */
static int give_up(dtact__waitq_t *q, dtact__wnode_t *n, int why) {
    return dtact__wnode_cancel(q, n) ? why : n->status;
}

static int wait_fiber(dtact__waitq_t *q, dtact__wnode_t *n, uint64_t deadline) {
    dtact__worker_t *w = dtact__tls_worker();
    for (;;) {
        // acquire: pairs with the release of WOKEN in dtact__wnode_wake
        if (dtact__load_acquire(&n->state) == DTACT__WN_WOKEN) return n->status;
        // relaxed: polled; the shutdown sweep unparks every started fiber after setting it
        if (dtact__load_relaxed(&w->rt->shutdown)) return give_up(q, n, DTACT_ESHUTDOWN);
        if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return give_up(q, n, DTACT_ETIMEDOUT);
        dtact__park_self(w, n->fiber, deadline == DTACT__FOREVER ? 0 : deadline);
        w = dtact__tls_worker(); /* a cross-thread fiber may resume elsewhere */
    }
}

static int wait_thread(dtact__waitq_t *q, dtact__wnode_t *n, uint64_t deadline) {
    /* A short spin first: a hand-off between running threads or fibers often
     * arrives within a microsecond, and a futex sleep costs 5-25 us. */
    for (int i = 0; i < 256; i++) {
        // acquire: pairs with the release of WOKEN in dtact__wnode_wake
        if (dtact__load_acquire(&n->state) == DTACT__WN_WOKEN) return n->status;
        dtact__cpu_relax();
    }
    for (;;) {
        uint32_t s = dtact__load_acquire(&n->state); // acquire: as above
        if (s == DTACT__WN_WOKEN) return n->status;
        int64_t left = -1;
        if (deadline != DTACT__FOREVER) {
            uint64_t now = dtact__now_ns();
            if (now >= deadline) return give_up(q, n, DTACT_ETIMEDOUT);
            left = (int64_t)(deadline - now < (uint64_t)INT64_MAX ? deadline - now : (uint64_t)INT64_MAX);
        }
        if (s == DTACT__WN_WAITING) {
            uint32_t exp = DTACT__WN_WAITING;
            /* relaxed: the sleeping mark only tells the waker to futex-wake us; a failure means WOKEN arrived. */
            if (!atomic_compare_exchange_strong_explicit(&n->state, &exp, DTACT__WN_SLEEPING, memory_order_relaxed,
                                                         memory_order_relaxed))
                continue;
        }
        dtact__futex_wait(&n->state, DTACT__WN_SLEEPING, left);
    }
}

int dtact__wnode_wait(dtact__waitq_t *q, dtact__wnode_t *n, uint64_t deadline) {
    return n->fiber ? wait_fiber(q, n, deadline) : wait_thread(q, n, deadline);
}

uint64_t dtact__deadline_in(int64_t timeout_ns) {
    if (timeout_ns < 0) return DTACT__FOREVER;
    uint64_t now = dtact__now_ns();
    uint64_t d = now + (uint64_t)timeout_ns;
    return (d < now || d == DTACT__FOREVER) ? DTACT__FOREVER - 1 : d; /* saturate: long, but still a deadline */
}
