/* core/timer.h -- a worker's timers: a binary min-heap of deadlines (timer.c).
 *
 * Owned by one worker, touched by its thread alone (except the fibers'
 * `timer_slot` words, see below). An entry names a fiber, its generation and
 * the number of the wait it belongs to (fiber->wait_seq); whoever pops a due
 * entry decides what to do with it (loop.c wakes the fiber only if generation
 * and wait number still match).
 *
 * Early removal. An entry whose wait ended early (an unpark, a hand-off) is
 * removed at once by the fiber itself when it resumes on the worker that holds
 * the entry (the common case): each entry's heap index is kept in its fiber's
 * `timer_slot`, so the removal is O(log n) (dtact__timers_cancel). A fiber
 * that resumed on another worker cannot touch this heap; its entry is then
 * stale (the fiber bumped wait_seq when its wait ended) and is dropped when
 * the heap would grow (dtact__timers_add compacts first) or when it comes due.
 * So the heap holds at most twice the live timed waits, and a heap that
 * empties gives its memory back.
 */
#ifndef DTACT_CORE_TIMER_H
#define DTACT_CORE_TIMER_H

#include <stdint.h>

#include "types.h"

typedef struct dtact__timer_s {
    uint64_t deadline;
    dtact__fiber_t *fiber;
    uint64_t gen;
    uint32_t seq;
} dtact__timer_t;

typedef struct dtact__timers_s {
    dtact__timer_t *heap; /* min-heap by deadline */
    uint32_t n, cap;
    _Atomic uint32_t pending; /* n, for statistics read by other threads */
} dtact__timers_t;

/* Adds an entry; DTACT_OK, or DTACT_ENOMEM when the heap cannot grow. */
int dtact__timers_add(dtact__timers_t *t, uint64_t deadline, dtact__fiber_t *f, uint64_t gen, uint32_t seq);
/* Pops the earliest entry if its deadline is <= now: 1 (and *out), else 0. */
int dtact__timers_pop_due(dtact__timers_t *t, uint64_t now, dtact__timer_t *out);
/* Removes f's entry for wait number seq if this heap holds it: 1, else 0. */
int dtact__timers_cancel(dtact__timers_t *t, dtact__fiber_t *f, uint32_t seq);
/* The earliest deadline, 0 when there is none. */
static inline uint64_t dtact__timers_next(const dtact__timers_t *t) { return t->n ? t->heap[0].deadline : 0; }
static inline uint32_t dtact__timers_count(const dtact__timers_t *t) { return t->n; }
void dtact__timers_free(dtact__timers_t *t);

#endif /* DTACT_CORE_TIMER_H */
