/* core/sync_event.c -- dtact_event_t: manual- and auto-reset events.
 *
 * State word (sync.h): SET | MANUAL; the zero word is an auto-reset event
 * that is not set.
 *  - Auto reset. Invariant: SET only while the queue is empty. set (under the
 *    queue lock) wakes the oldest waiter, consuming the signal, or sets SET
 *    when nobody waits; a wait consumes SET with one CAS (no lock), or queues
 *    after seeing it clear under the queue lock. So a signal wakes exactly
 *    one waiter or stays for exactly one later wait, and waiters are FIFO.
 *  - Manual reset. set stores SET and wakes every queued waiter; a wait that
 *    sees SET returns at once; reset clears SET. A waiter queues only after
 *    seeing SET clear under the queue lock, and set takes that lock, so no
 *    waiter sleeps through a set.
 * Memory order: set releases (the SET store or the wake's WOKEN release); a
 * wait that returns OK acquires (loading or consuming SET, or WOKEN).
 */
#include "sync.h"

#define SET DTACT__EV_SET
#define MANUAL DTACT__EV_MANUAL

static inline dtact__event_t *ev(dtact_event_t *e) { return (dtact__event_t *)(void *)e; }

static int try_consume(dtact__event_t *e) {
    uint32_t s = dtact__load_acquire(&e->state); // acquire: pairs with set's release (manual: the hit is the wait)
    for (;;) {
        if (!(s & SET)) return DTACT_EBUSY;
        if (s & MANUAL) return DTACT_OK;
        // acquire: pairs with set's release
        if (dtact__cas_weak_acquire(&e->state, &s, s & ~SET)) return DTACT_OK;
    }
}

static int wait(dtact_event_t *ep, uint64_t deadline) {
    if (!ep) return dtact__set_error(DTACT_EINVAL);
    dtact__event_t *e = ev(ep);
    if (try_consume(e) == DTACT_OK) return DTACT_OK;
    if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return dtact__set_error(DTACT_ETIMEDOUT);
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    dtact__waitq_lock(&e->q);
    if (try_consume(e) == DTACT_OK) {
        dtact__waitq_unlock(&e->q);
        return DTACT_OK;
    }
    dtact__waitq_push(&e->q, &n);
    dtact__waitq_unlock(&e->q);
    return dtact__sync_ret(dtact__wnode_wait(&e->q, &n, deadline));
}

DTACT_API int dtact_event_init(dtact_event_t *e, int mode, int initially_set) {
    if (!e || (mode != DTACT_EVENT_AUTO_RESET && mode != DTACT_EVENT_MANUAL_RESET))
        return dtact__set_error(DTACT_EINVAL);
    *e = (dtact_event_t)DTACT_EVENT_INIT;
    uint32_t s = (mode == DTACT_EVENT_MANUAL_RESET ? MANUAL : 0u) | (initially_set ? SET : 0u);
    dtact__store_relaxed(&ev(e)->state, s); // relaxed: init precedes sharing
    return DTACT_OK;
}

DTACT_API int dtact_event_destroy(dtact_event_t *e) {
    if (!e) return dtact__set_error(DTACT_EINVAL);
    dtact__event_t *x = ev(e);
    dtact__waitq_lock(&x->q);
    int busy = !dtact__waitq_empty(&x->q);
    dtact__waitq_unlock(&x->q);
    return busy ? dtact__set_error(DTACT_EBUSY) : DTACT_OK;
}

DTACT_API int dtact_event_set(dtact_event_t *ep) {
    if (!ep) return dtact__set_error(DTACT_EINVAL);
    dtact__event_t *e = ev(ep);
    uint32_t s = dtact__load_relaxed(&e->state); // relaxed: a hint; the decision is made under the lock
    /* Auto, already set (so the queue is empty): rewrite the word with a
     * release RMW so that the wait that consumes it also sees this set's past. */
    // release: pairs with the consuming CAS of a later wait
    if ((s & (SET | MANUAL)) == SET && dtact__cas_weak_release(&e->state, &s, s)) return DTACT_OK;
    dtact__wnode_t *wake = NULL;
    dtact__waitq_lock(&e->q);
    s = dtact__load_relaxed(&e->state); // relaxed: MANUAL is fixed; SET is only set under this lock
    if (s & MANUAL) {
        // release: pairs with the acquire load of a later wait
        dtact__fetch_or_release(&e->state, SET);
        wake = dtact__waitq_take_all(&e->q);
    } else if (!dtact__waitq_empty(&e->q)) {
        wake = dtact__waitq_pop(&e->q); /* consumes the signal; published by the wake's release */
        wake->next = NULL;
    } else {
        dtact__fetch_or_release(&e->state, SET); // release: pairs with the consuming CAS of a later wait
    }
    dtact__waitq_unlock(&e->q);
    dtact__wnode_wake_chain(wake, DTACT_OK);
    return DTACT_OK;
}

DTACT_API int dtact_event_reset(dtact_event_t *e) {
    if (!e) return dtact__set_error(DTACT_EINVAL);
    dtact__fetch_and_relaxed(&ev(e)->state, ~(uint32_t)SET); // relaxed: clears a flag; publishes nothing
    return DTACT_OK;
}

DTACT_API int dtact_event_wait(dtact_event_t *e) { return wait(e, DTACT__FOREVER); }
DTACT_API int dtact_event_wait_until(dtact_event_t *e, uint64_t deadline_ns) { return wait(e, deadline_ns); }
DTACT_API int dtact_event_timedwait(dtact_event_t *e, int64_t timeout_ns) {
    if (!e) return dtact__set_error(DTACT_EINVAL);
    return wait(e, dtact__deadline_in(timeout_ns));
}
DTACT_API int dtact_event_trywait(dtact_event_t *e) {
    if (!e) return dtact__set_error(DTACT_EINVAL);
    return dtact__sync_ret(try_consume(ev(e)));
}
