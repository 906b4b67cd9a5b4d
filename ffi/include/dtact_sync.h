/* dtact_sync.h -- fiber-aware synchronisation and time (part of libdtact_core;
 * dtact.h includes it).
 *
 * Every blocking call here suspends the calling *fiber*, never its worker:
 * the worker runs other fibers meanwhile. Called on a plain thread (also in a
 * program that never called dtact_init), the same call blocks the thread.
 * A fiber and a thread may wait on the same object.
 *
 * Objects
 *  - Every object is a plain struct the caller owns (static, global, on a
 *    stack or in a heap block). All-zero memory is a valid initial object
 *    (like Go's zero values), so `dtact_mutex_t m = DTACT_MUTEX_INIT;` or
 *    `static dtact_mutex_t m;` need no init call. The *_init() functions set
 *    a non-default value (semaphore count, barrier size, manual event).
 *  - The channel holds its ring buffer and is created with dtact_chan_create().
 *  - An object must not be moved or freed while a call on it is running or
 *    waiting; *_destroy() reports DTACT_EBUSY if a waiter is still inside.
 *
 * Time
 *  - Every blocking call has a relative form taking `int64_t timeout_ns`
 *    (< 0: wait forever, 0: do not wait, > 0: at most that long) and an
 *    absolute form `..._until(..., uint64_t deadline_ns)` on the clock of
 *    dtact_now_ns() (CLOCK_MONOTONIC). A deadline in the past means "do not
 *    wait"; UINT64_MAX means forever. Timeouts never fire early; on a fiber they
 *    are driven by its worker's timer heap (no polling), on a thread by the
 *    kernel.
 *
 * Status codes (every blocking call)
 *    DTACT_OK          done
 *    DTACT_ETIMEDOUT   the timeout / deadline passed first (also: timeout 0 and
 *                      the call would wait)
 *    DTACT_EBUSY       a try-call that would have to wait (try_lock, try_send on
 *                      a full channel, try_recv on an empty one)
 *    DTACT_ECLOSED     the channel is closed (send: always; recv: closed and empty)
 *    DTACT_ESHUTDOWN   the runtime is shutting down: a fiber's wait ends with it
 *    DTACT_EPERM       would block a worker thread outside any fiber (a cleanup
 *                      run by the worker loop), or unlock by a non-owner
 *    DTACT_EINVAL      a NULL object or an out-of-range argument
 *  A wait that ends with any error leaves no waiter and no timer behind, and
 *  the call had no effect (no lock taken, no message consumed or sent).
 *
 * Fairness (what a waiter can count on)
 *  - mutex: bounded barging. An unlocking owner lets a running fiber take the
 *    lock before a woken waiter (fast, like Go's normal mode), but a waiter
 *    that has waited longer than 1 ms, or lost the race 4 times, switches the
 *    mutex to hand-off: from then on every unlock passes the lock directly to
 *    the oldest waiter (FIFO) until the queue drains. No waiter starves.
 *  - rwlock: writer-preferring phase fair: a waiting writer stops new readers;
 *    when a writer unlocks, all readers that queued before the next writer get
 *    the lock; waiters are served in arrival order.
 *  - semaphore, event (auto reset), condition variable (signal): FIFO.
 *  - channel: senders and receivers that wait are served in FIFO order;
 *    dtact_select picks uniformly at random among the ready cases.
 *
 * Memory ordering (what a user can rely on)
 *  - mutex/rwlock: unlock is a release, lock an acquire: everything written
 *    before an unlock is visible after the next lock (same for write unlock ->
 *    read lock). try-calls that fail order nothing.
 *  - semaphore: post is a release, a successful wait an acquire.
 *  - event: set is a release; a wait that returns DTACT_OK is an acquire.
 *  - condition variable: as the mutex it is used with.
 *  - wait group: every done() before the count reaches zero happens before
 *    the return of every wait() that returned DTACT_OK.
 *  - barrier: everything before any party's arrival happens before every
 *    party's return from that round.
 *  - once: the init function's effects happen before every return of
 *    dtact_once_call().
 *  - channel: a send happens before the receive that takes its message;
 *    close happens before a receive that reports DTACT_ECLOSED.
 */
#ifndef DTACT_SYNC_H
#define DTACT_SYNC_H

#include "dtact.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- interval */
/* A repeating tick: the first tick is immediate (as in tokio and the
 * original's timer_interval_tick); each dtact_interval_tick() waits for the
 * next one. Missed ticks (the caller was late by more than a period) are
 * skipped: the next tick is the next multiple of the period after now, and
 * *missed (if not NULL) says how many were skipped. */
typedef struct dtact_interval {
    uint64_t next_ns;   /* deadline of the next tick (0: not started) */
    uint64_t period_ns; /* > 0                                        */
} dtact_interval_t;
DTACT_API int dtact_interval_init(dtact_interval_t *iv, uint64_t period_ns);
DTACT_API int dtact_interval_tick(dtact_interval_t *iv, uint64_t *missed);

/* ----------------------------------------------------------------- mutex */
typedef struct dtact_mutex {
    uint64_t opaque_[4];
} dtact_mutex_t;
#define DTACT_MUTEX_INIT                                                                                               \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
DTACT_API int dtact_mutex_init(dtact_mutex_t *m);
DTACT_API int dtact_mutex_destroy(dtact_mutex_t *m);
DTACT_API int dtact_mutex_lock(dtact_mutex_t *m);
DTACT_API int dtact_mutex_trylock(dtact_mutex_t *m); /* OK or EBUSY */
DTACT_API int dtact_mutex_timedlock(dtact_mutex_t *m, int64_t timeout_ns);
DTACT_API int dtact_mutex_lock_until(dtact_mutex_t *m, uint64_t deadline_ns);
/* Any fiber or thread may unlock a locked mutex (like a binary semaphore);
 * EPERM if it is not locked. */
DTACT_API int dtact_mutex_unlock(dtact_mutex_t *m);

/* ---------------------------------------------------------------- rwlock */
typedef struct dtact_rwlock {
    uint64_t opaque_[6];
} dtact_rwlock_t;
#define DTACT_RWLOCK_INIT                                                                                              \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
DTACT_API int dtact_rwlock_init(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_destroy(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_rdlock(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_tryrdlock(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_timedrdlock(dtact_rwlock_t *l, int64_t timeout_ns);
DTACT_API int dtact_rwlock_rdlock_until(dtact_rwlock_t *l, uint64_t deadline_ns);
DTACT_API int dtact_rwlock_wrlock(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_trywrlock(dtact_rwlock_t *l);
DTACT_API int dtact_rwlock_timedwrlock(dtact_rwlock_t *l, int64_t timeout_ns);
DTACT_API int dtact_rwlock_wrlock_until(dtact_rwlock_t *l, uint64_t deadline_ns);
/* Releases a read or a write hold (whichever the lock is in); EPERM if unheld. */
DTACT_API int dtact_rwlock_unlock(dtact_rwlock_t *l);

/* ---------------------------------------------------- condition variable */
typedef struct dtact_cond {
    uint64_t opaque_[4];
} dtact_cond_t;
#define DTACT_COND_INIT                                                                                                \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
DTACT_API int dtact_cond_init(dtact_cond_t *c);
DTACT_API int dtact_cond_destroy(dtact_cond_t *c);
/* Atomically unlocks m and waits; m is locked again on every return, also on
 * ETIMEDOUT and ESHUTDOWN. Wake-ups may be spurious: wait in a loop. */
DTACT_API int dtact_cond_wait(dtact_cond_t *c, dtact_mutex_t *m);
DTACT_API int dtact_cond_timedwait(dtact_cond_t *c, dtact_mutex_t *m, int64_t timeout_ns);
DTACT_API int dtact_cond_wait_until(dtact_cond_t *c, dtact_mutex_t *m, uint64_t deadline_ns);
DTACT_API int dtact_cond_signal(dtact_cond_t *c);    /* wakes the oldest waiter */
DTACT_API int dtact_cond_broadcast(dtact_cond_t *c); /* wakes every waiter */

/* ------------------------------------------------------------- semaphore */
typedef struct dtact_sem {
    uint64_t opaque_[4];
} dtact_sem_t;
#define DTACT_SEM_INIT                                                                                                 \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
/* count: initial permits (0 .. 2^31-1). */
DTACT_API int dtact_sem_init(dtact_sem_t *s, uint32_t count);
DTACT_API int dtact_sem_destroy(dtact_sem_t *s);
DTACT_API int dtact_sem_wait(dtact_sem_t *s);
DTACT_API int dtact_sem_trywait(dtact_sem_t *s);
DTACT_API int dtact_sem_timedwait(dtact_sem_t *s, int64_t timeout_ns);
DTACT_API int dtact_sem_wait_until(dtact_sem_t *s, uint64_t deadline_ns);
/* Adds n permits (EINVAL if the count would exceed 2^31-1). */
DTACT_API int dtact_sem_post(dtact_sem_t *s, uint32_t n);
DTACT_API int dtact_sem_value(dtact_sem_t *s); /* permits now (racy), or EINVAL */

/* ----------------------------------------------------------------- event */
typedef struct dtact_event {
    uint64_t opaque_[4];
} dtact_event_t;
#define DTACT_EVENT_INIT                                                                                               \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    } /* auto reset, not set */
enum { DTACT_EVENT_AUTO_RESET = 0, DTACT_EVENT_MANUAL_RESET = 1 };
DTACT_API int dtact_event_init(dtact_event_t *e, int mode, int initially_set);
DTACT_API int dtact_event_destroy(dtact_event_t *e);
/* Manual reset: wakes every waiter and stays set until reset. Auto reset:
 * wakes the oldest waiter (consuming the signal), or stays set until the next
 * wait consumes it. */
DTACT_API int dtact_event_set(dtact_event_t *e);
DTACT_API int dtact_event_reset(dtact_event_t *e);
DTACT_API int dtact_event_wait(dtact_event_t *e);
DTACT_API int dtact_event_trywait(dtact_event_t *e); /* OK (consumed, if auto) or EBUSY */
DTACT_API int dtact_event_timedwait(dtact_event_t *e, int64_t timeout_ns);
DTACT_API int dtact_event_wait_until(dtact_event_t *e, uint64_t deadline_ns);

/* ------------------------------------------------------------ wait group */
typedef struct dtact_waitgroup {
    uint64_t opaque_[4];
} dtact_waitgroup_t;
#define DTACT_WAITGROUP_INIT                                                                                           \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
DTACT_API int dtact_waitgroup_init(dtact_waitgroup_t *wg);
DTACT_API int dtact_waitgroup_destroy(dtact_waitgroup_t *wg);
/* Adds delta (may be negative) to the counter; EINVAL if it would go below 0
 * (the counter is left unchanged). Reaching 0 wakes every waiter. */
DTACT_API int dtact_waitgroup_add(dtact_waitgroup_t *wg, int64_t delta);
DTACT_API int dtact_waitgroup_done(dtact_waitgroup_t *wg); /* add(-1) */
DTACT_API int dtact_waitgroup_wait(dtact_waitgroup_t *wg);
DTACT_API int dtact_waitgroup_timedwait(dtact_waitgroup_t *wg, int64_t timeout_ns);
DTACT_API int dtact_waitgroup_wait_until(dtact_waitgroup_t *wg, uint64_t deadline_ns);

/* --------------------------------------------------------------- barrier */
typedef struct dtact_barrier {
    uint64_t opaque_[4];
} dtact_barrier_t;
/* parties >= 1. A barrier is reusable: the parties-th arrival releases the
 * round and starts the next one. */
DTACT_API int dtact_barrier_init(dtact_barrier_t *b, uint32_t parties);
DTACT_API int dtact_barrier_destroy(dtact_barrier_t *b);
/* Returns DTACT_BARRIER_LEADER for exactly one party of each round (the last
 * to arrive), DTACT_OK for the others, or an error. A party that times out or
 * is shut down withdraws its arrival (the round still needs `parties`). */
#define DTACT_BARRIER_LEADER 1
DTACT_API int dtact_barrier_wait(dtact_barrier_t *b);
DTACT_API int dtact_barrier_timedwait(dtact_barrier_t *b, int64_t timeout_ns);
DTACT_API int dtact_barrier_wait_until(dtact_barrier_t *b, uint64_t deadline_ns);

/* ------------------------------------------------------------------ once */
typedef struct dtact_once {
    uint64_t opaque_[4];
} dtact_once_t;
#define DTACT_ONCE_INIT                                                                                                \
    {                                                                                                                  \
        { 0 }                                                                                                          \
    }
/* Runs fn(arg) exactly once per object; concurrent callers wait (suspending
 * fibers) until it has returned. ENULLFN for a NULL fn. A call made by fn
 * itself on the same object returns EDEADLK. */
DTACT_API int dtact_once_call(dtact_once_t *o, void (*fn)(void *), void *arg);
DTACT_API int dtact_once_done(const dtact_once_t *o); /* 1 once fn returned, else 0 */

/* --------------------------------------------------------------- channel */
/* A bounded multi-producer multi-consumer channel of fixed-size messages,
 * copied in and out by value. capacity 0 makes an unbuffered (rendezvous)
 * channel: a send completes when a receiver takes the message. */
typedef struct dtact_chan dtact_chan_t;
/* NULL on error (dtact_last_error(): EINVAL for elem_size 0 or > 64 KiB or a
 * capacity above 2^24, ENOMEM). */
DTACT_API dtact_chan_t *dtact_chan_create(size_t elem_size, size_t capacity);
/* Frees the channel. EBUSY (and nothing freed) while a caller waits on it. */
DTACT_API int dtact_chan_destroy(dtact_chan_t *ch);
/* Closes the channel: every waiting sender fails with ECLOSED, every waiting
 * receiver drains what is buffered and then gets ECLOSED. EALREADY if closed. */
DTACT_API int dtact_chan_close(dtact_chan_t *ch);
DTACT_API int dtact_chan_send(dtact_chan_t *ch, const void *msg);
DTACT_API int dtact_chan_try_send(dtact_chan_t *ch, const void *msg);
DTACT_API int dtact_chan_timedsend(dtact_chan_t *ch, const void *msg, int64_t timeout_ns);
DTACT_API int dtact_chan_send_until(dtact_chan_t *ch, const void *msg, uint64_t deadline_ns);
DTACT_API int dtact_chan_recv(dtact_chan_t *ch, void *out);
DTACT_API int dtact_chan_try_recv(dtact_chan_t *ch, void *out);
DTACT_API int dtact_chan_timedrecv(dtact_chan_t *ch, void *out, int64_t timeout_ns);
DTACT_API int dtact_chan_recv_until(dtact_chan_t *ch, void *out, uint64_t deadline_ns);
DTACT_API size_t dtact_chan_len(dtact_chan_t *ch);      /* buffered messages (racy) */
DTACT_API size_t dtact_chan_capacity(dtact_chan_t *ch); /* as created */
DTACT_API int dtact_chan_is_closed(dtact_chan_t *ch);   /* 1, 0, or EINVAL */

/* select: waits until one of the cases can proceed, performs exactly that one
 * and returns its index (>= 0), or an error (ETIMEDOUT, ESHUTDOWN, EINVAL).
 * A case on a closed channel is ready: its index is returned and the case's
 * `status` says ECLOSED (else OK). Among ready cases one is picked uniformly at
 * random. A NULL `chan` disables a case. timeout 0 = poll. */
enum { DTACT_SELECT_SEND = 1, DTACT_SELECT_RECV = 2 };
typedef struct dtact_select_case {
    dtact_chan_t *chan;
    int op;     /* DTACT_SELECT_SEND or DTACT_SELECT_RECV */
    void *msg;  /* SEND: the message to copy in; RECV: where to copy it out */
    int status; /* out: DTACT_OK or DTACT_ECLOSED for the chosen case */
} dtact_select_case_t;
DTACT_API int dtact_select(dtact_select_case_t *cases, size_t n, int64_t timeout_ns);
DTACT_API int dtact_select_until(dtact_select_case_t *cases, size_t n, uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* DTACT_SYNC_H */
