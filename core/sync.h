/* core/sync.h -- the internal layouts of the synchronisation objects of
 * dtact_sync.h (sync_mutex.c, sync_cond.c, sync_rwlock.c, sync_sem.c,
 * sync_event.c, sync_group.c) and the few helpers they share.
 *
 * Each public object is an opaque block of uint64_t words; the functions cast
 * it to the struct below. All-zero memory is the default object of every kind
 * (unlocked, empty queue, no permits, not set, counter 0, not done), so a
 * static or `= DTACT_*_INIT` object needs no init call. The asserts pin each
 * layout inside its public block (size and alignment).
 *
 * Every waiter is a dtact__wnode_t on the waiter's own stack in the object's
 * waitq (core/waitq.h); a state word beside the queue carries the fast paths
 * (one CAS for an uncontended lock or unlock) and a "has waiters" bit that is
 * only set under the queue lock, so a releaser takes that lock only when a
 * waiter may need it. See docs/sync.md for the algorithms.
 */
#ifndef DTACT_CORE_SYNC_H
#define DTACT_CORE_SYNC_H

#include <stdalign.h>
#include <stdint.h>

#include "atomic.h"
#include "dtact.h"
#include "errors.h"
#include "prim.h"
#include "waitq.h"

/* The public blocks are declared as uint64_t arrays and accessed through these
 * layouts: may_alias keeps that within the rules of strict aliasing. */
#define DTACT__SYNC_ALIAS __attribute__((may_alias))

/* ------------------------------------------------------------------ mutex */
/* state: LOCKED | WAITERS (queue non-empty, under the queue lock) | WOKEN (one
 * woken or spinning waiter is competing: unlock wakes nobody else) | HANDOFF
 * (unlock passes the lock to the head waiter; only ever set while LOCKED). */
enum { DTACT__M_LOCKED = 1u, DTACT__M_WAITERS = 2u, DTACT__M_WOKEN = 4u, DTACT__M_HANDOFF = 8u };
typedef struct DTACT__SYNC_ALIAS dtact__mutex_s {
    _Atomic uint32_t state;
    uint32_t handoffs; /* hand-offs left in this HANDOFF epoch (under the queue lock) */
    dtact__waitq_t q;
} dtact__mutex_t;

/* sync_mutex.c, for the condition variable: lock with a deadline (an error
 * code, no last-error update), lock that no shutdown interrupts, unlock. */
int dtact__mutex_lock_deadline(dtact__mutex_t *m, uint64_t deadline);
void dtact__mutex_lock_hard(dtact__mutex_t *m);
int dtact__mutex_release(dtact__mutex_t *m);

/* ----------------------------------------------------- condition variable */
typedef struct DTACT__SYNC_ALIAS dtact__cond_s {
    dtact__waitq_t q;
} dtact__cond_t;

/* ----------------------------------------------------------------- rwlock */
/* state: readers holding (low 30 bits) | WRITER (a writer holds) | WAITERS. */
#define DTACT__RW_READERS 0x3fffffffu
#define DTACT__RW_WRITER 0x40000000u
#define DTACT__RW_WAITERS 0x80000000u
enum { DTACT__RW_KIND_READ = 1, DTACT__RW_KIND_WRITE = 2 };
typedef struct DTACT__SYNC_ALIAS dtact__rwlock_s {
    _Atomic uint32_t state;
    uint32_t spare;
    dtact__waitq_t q;
} dtact__rwlock_t;

/* -------------------------------------------------------------- semaphore */
#define DTACT__SEM_MAX 0x7fffffffu
typedef struct DTACT__SYNC_ALIAS dtact__sem_s {
    _Atomic uint32_t count; /* permits; > 0 only while the queue is empty */
    uint32_t spare;
    dtact__waitq_t q;
} dtact__sem_t;

/* ------------------------------------------------------------------ event */
enum { DTACT__EV_SET = 1u, DTACT__EV_MANUAL = 2u };
typedef struct DTACT__SYNC_ALIAS dtact__event_s {
    _Atomic uint32_t state; /* SET | MANUAL */
    uint32_t spare;
    dtact__waitq_t q;
} dtact__event_t;

/* ------------------------------------------------------------- wait group */
typedef struct DTACT__SYNC_ALIAS dtact__waitgroup_s {
    _Atomic int64_t count;
    dtact__waitq_t q;
} dtact__waitgroup_t;

/* ---------------------------------------------------------------- barrier */
/* Everything under the queue lock: the parties already arrived in this round
 * are exactly the queued nodes (q.n), so a party that gives up withdraws its
 * arrival by the very unlink that ends its wait. */
typedef struct DTACT__SYNC_ALIAS dtact__barrier_s {
    uint32_t parties; /* 0: not initialised (wait says EINVAL) */
    uint32_t rounds;  /* completed rounds (informational)      */
    dtact__waitq_t q;
} dtact__barrier_t;

/* ------------------------------------------------------------------- once */
/* state: 0 not run, 1 done, otherwise the identity of the caller running fn
 * (an address: a fiber record or a thread-local byte, never 0 or 1). */
#define DTACT__ONCE_DONE ((uintptr_t)1)
typedef struct DTACT__SYNC_ALIAS dtact__once_s {
    _Atomic uintptr_t state;
    dtact__waitq_t q;
} dtact__once_t;

#define DTACT__SYNC_FITS(internal, public)                                                                             \
    _Static_assert(sizeof(internal) <= sizeof(public), #internal " must fit in " #public);                             \
    _Static_assert(alignof(internal) <= alignof(public), #internal " must not need more alignment than " #public)
DTACT__SYNC_FITS(dtact__mutex_t, dtact_mutex_t);
DTACT__SYNC_FITS(dtact__cond_t, dtact_cond_t);
DTACT__SYNC_FITS(dtact__rwlock_t, dtact_rwlock_t);
DTACT__SYNC_FITS(dtact__sem_t, dtact_sem_t);
DTACT__SYNC_FITS(dtact__event_t, dtact_event_t);
DTACT__SYNC_FITS(dtact__waitgroup_t, dtact_waitgroup_t);
DTACT__SYNC_FITS(dtact__barrier_t, dtact_barrier_t);
DTACT__SYNC_FITS(dtact__once_t, dtact_once_t);

/* A public call's result: error codes (< 0) also go to the last-error slot. */
static inline int dtact__sync_ret(int rc) { return rc < 0 ? dtact__set_error(rc) : rc; }

#endif /* DTACT_CORE_SYNC_H */
