/* core/timer.h -- a worker's timers: a binary min-heap of deadlines (timer.c).
 *
 * Owned by one worker, touched by its thread alone (no atomics). An entry
 * names a fiber, its generation and the number of the wait it belongs to
 * (fiber->wait_seq); whoever pops a due entry decides what to do with it
 * (loop.c wakes the fiber only if generation and wait number still match,
 * so an entry outliving its wait is ignored).
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
} dtact__timers_t;

/* Adds an entry; DTACT_OK, or DTACT_ENOMEM when the heap cannot grow. */
int dtact__timers_add(dtact__timers_t *t, uint64_t deadline, dtact__fiber_t *f, uint64_t gen, uint32_t seq);
/* Pops the earliest entry if its deadline is <= now: 1 (and *out), else 0. */
int dtact__timers_pop_due(dtact__timers_t *t, uint64_t now, dtact__timer_t *out);
/* The earliest deadline, 0 when there is none. */
static inline uint64_t dtact__timers_next(const dtact__timers_t *t) { return t->n ? t->heap[0].deadline : 0; }
static inline uint32_t dtact__timers_count(const dtact__timers_t *t) { return t->n; }
void dtact__timers_free(dtact__timers_t *t);

#endif /* DTACT_CORE_TIMER_H */
