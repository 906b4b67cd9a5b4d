/* core/runq.h -- a worker's run queues: the only code that reads or writes
 * them is runq.c (and the inline accessors below).
 *
 * A run queue belongs to one worker and is touched by that worker's thread
 * alone -- or by one peer that took it over while the owner is stuck in a
 * fiber (sysmon.c's protocol hands the queue over whole, with the fences it
 * needs): no atomics anywhere in this file. Fibers are linked intrusively
 * through their records' next/prev fields, so a queue can never be full and
 * moving a fiber costs no allocation.
 *
 * Three places hold queued fibers:
 *   q[p]      four doubly-linked deques of ready fibers, one per priority p.
 *             Spawned and woken fibers go to the front (depth-first: the number
 *             of started-but-unfinished fibers, and so of stacks, stays
 *             proportional to the recursion depth of fork-join code); yielded
 *             fibers and work from peers go to the back.
 *   building  the overflow chunk under construction (ob_*): fresh Normal,
 *             movable fibers spawned while the deques hold DTACT__WATERMARK or
 *             more are prepended here while their records are hot.
 *   ovf       complete overflow chunks, a deque of chunk heads: the owner
 *             pulls the newest (depth-first), peers are given the oldest.
 *   starved   unstarted fibers whose stack class had no free stack (loop.c):
 *             a FIFO through next, out of the deques, until a stack is freed.
 *
 * A chunk is up to DTACT__CHUNK fibers of one priority linked both ways like
 * a deque segment; its head records chunk_len and chunk_tail, and complete
 * overflow chunks are linked through head->prev (newer) and head->chunk_older.
 *
 * Invariants (checked by dtact__runq_check after every operation when the
 * library is built with DTACT_CHECK_QUEUES, a CMake option):
 *   I1  len == sum over p of the length of q[p]
 *   I2  movable == number of fibers in q[] without DTACT__F_PINNED
 *   I3  bit p of mask is set iff q[p] is non-empty
 *   I4  every fiber in q[p] has priority p; next/prev links agree; head->prev
 *       and tail->next are NULL
 *   I5  ob_n == length of the building chunk (< DTACT__CHUNK); ovf_n == sum
 *       of chunk_len over the complete chunks, each of which is a well-linked
 *       list of chunk_len fibers ending at chunk_tail
 *   I6  no fiber appears twice
 *   I7  st_n == length of the starved list, st_tail its last fiber
 */
#ifndef DTACT_CORE_RUNQ_H
#define DTACT_CORE_RUNQ_H

#include <stdint.h>

#include "types.h"

#define DTACT__NPRIO 4
/* Queue length above which a worker deflects work and packs fresh spawns into
 * overflow chunks, and below which it pulls those back (mesh.c, loop.c). */
#define DTACT__WATERMARK 256u
#define DTACT__WATERMARK_LOW 64u
/* Housekeeping cadence of the dispatch loop: every DTACT__DRAIN_PERIOD-th
 * dispatch drains the inbox and fires timers; every DTACT__FAIR_PERIOD-th
 * dispatch takes the fairness pick (runq_next). */
#define DTACT__DRAIN_PERIOD 61u
#define DTACT__FAIR_PERIOD 64u

typedef struct dtact__deque_s {
    dtact__fiber_t *head, *tail;
} dtact__deque_t;

typedef struct dtact__runq_s {
    dtact__deque_t q[DTACT__NPRIO];    /* ready fibers by priority                 */
    uint32_t mask;                     /* bit p: q[p] non-empty                     */
    uint32_t len;                      /* fibers in q[]                             */
    uint32_t movable;                  /* fibers in q[] that are not pinned         */
    uint32_t tick;                     /* dispatches so far (the fairness clock)    */
    dtact__fiber_t *ob_head, *ob_tail; /* the overflow chunk being built        */
    uint32_t ob_n;
    uint32_t ovf_n;                    /* fibers in complete overflow chunks        */
    dtact__fiber_t *ovf_old, *ovf_new; /* complete chunks, oldest and newest    */
    dtact__fiber_t *st_head, *st_tail; /* starved: unstarted fibers waiting for a stack (FIFO through next) */
    uint32_t st_n;
    uint64_t checks; /* DTACT_CHECK_QUEUES: operations since the last full walk */
} dtact__runq_t;

/* ---- reading (inline: the dispatch and spawn paths use these) */
static inline uint32_t dtact__runq_len(const dtact__runq_t *q) { return q->len; }
static inline uint32_t dtact__runq_movable(const dtact__runq_t *q) { return q->movable; }
static inline int dtact__runq_empty(const dtact__runq_t *q) { return q->mask == 0; }
static inline int dtact__runq_has_prio(const dtact__runq_t *q, unsigned p) { return (q->mask >> p) & 1u; }
/* Fibers in the overflow: complete chunks and the one being built. */
static inline uint32_t dtact__runq_overflow_len(const dtact__runq_t *q) { return q->ovf_n + q->ob_n; }
/* Everything this queue holds (the load a worker publishes to its peers). */
static inline uint32_t dtact__runq_load(const dtact__runq_t *q) { return q->len + q->ovf_n + q->ob_n; }
/* True when the next dispatch is a housekeeping one (inbox, timers). */
static inline int dtact__runq_housekeeping_due(const dtact__runq_t *q) { return q->tick % DTACT__DRAIN_PERIOD == 0; }
/* True when the overflow should feed the deques now: they ran dry or low, or
 * a bounded number of dispatches passed (overflow work is never starved). */
static inline int dtact__runq_overflow_due(const dtact__runq_t *q) {
    return (q->ovf_n + q->ob_n) &&
           (!q->mask || q->len < DTACT__WATERMARK_LOW || q->tick % (8u * DTACT__DRAIN_PERIOD) == 0);
}

/* ---- the deques */
void dtact__runq_push_front(dtact__runq_t *q, dtact__fiber_t *f);
void dtact__runq_push_back(dtact__runq_t *q, dtact__fiber_t *f);
/* The next fiber to dispatch, unlinked (NULL when the deques are empty):
 * highest priority first, with the periodic fairness pick (runq.c). Advances
 * the tick. */
dtact__fiber_t *dtact__runq_next(dtact__runq_t *q);
/* The fiber a yield of `f` may switch to directly, without the loop: the head
 * of the highest priority when it has started, uses the same switcher variant
 * as f, and no housekeeping or fairness dispatch is due. On success it is
 * unlinked, f is pushed to the back and the tick advances; NULL otherwise
 * (nothing changed). */
dtact__fiber_t *dtact__runq_pick_direct(dtact__runq_t *q, dtact__fiber_t *f);
/* Appends a whole chunk (head with chunk_len/chunk_tail set, one priority,
 * linked both ways) to the back of its priority in O(1). */
void dtact__runq_splice(dtact__runq_t *q, dtact__fiber_t *head);
/* Splices a stack of chunks as an inbox holds them (newest first, chunk
 * heads linked through prev) in arrival order; returns how many fibers. */
uint32_t dtact__runq_splice_stack(dtact__runq_t *q, dtact__fiber_t *chunks);
/* Unlinks up to `want` fibers of priority p from the back (oldest first) for
 * which ok(f, ctx) holds, scanning at most `scan` fibers, and links them into
 * a chunk (both ways; head->chunk_len/chunk_tail set). Returns the chunk head,
 * or NULL when none qualified. */
dtact__fiber_t *dtact__runq_take_back(dtact__runq_t *q, unsigned p, uint32_t want, uint32_t scan,
                                      int (*ok)(const dtact__fiber_t *f, void *ctx), void *ctx);

/* ---- the overflow */
/* Adds a fresh fiber to the chunk being built (sealed when full). */
void dtact__runq_overflow_push(dtact__runq_t *q, dtact__fiber_t *f);
/* Moves the newest overflow chunk to the back of the deques; returns how many fibers. */
uint32_t dtact__runq_overflow_pull(dtact__runq_t *q);
/* Unlinks the oldest overflow chunk (for a peer) and returns its head (chunk_len
 * and chunk_tail set), or NULL when the overflow is empty. */
dtact__fiber_t *dtact__runq_overflow_take_oldest(dtact__runq_t *q);

/* ---- fibers waiting for a stack */
static inline uint32_t dtact__runq_starved(const dtact__runq_t *q) { return q->st_n; }
/* Sets an unstarted fiber aside until a stack of its class is freed. */
void dtact__runq_starve(dtact__runq_t *q, dtact__fiber_t *f);
/* Puts every starved fiber back at the back of the deques (to retry); returns how many. */
uint32_t dtact__runq_unstarve(dtact__runq_t *q);

/* ---- checking */
/* Walks everything the queue holds and verifies I1-I6; returns 1 when they
 * hold, else 0 and, if why != NULL, a description of the first violation. */
int dtact__runq_check(const dtact__runq_t *q, const char **why);

#endif /* DTACT_CORE_RUNQ_H */
