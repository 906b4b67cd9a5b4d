/* core/types.h -- the data structures shared by the core files.
 *
 * Glossary
 *   fiber      a function running on its own stack, switched cooperatively.
 *   context    (fiber record) the small, cache-line aligned record that
 *              describes one fiber: dtact__fiber_t. Lives in the arena's dense
 *              array; its index and generation form the public handle.
 *   stack      a guarded (or canaried) memory region bound to a fiber from its
 *              first run until it finishes: dtact__stack_t.
 *   arena      the two pools (records, stacks) with per-worker caches: arena.c,
 *              stack.c.
 *   worker     one OS thread running the dispatch loop: worker.c.
 *   mesh       how workers exchange work (inboxes, deflection, requests,
 *              parking): mesh.c.
 *   chunk      up to DTACT__CHUNK fibers linked together and moved between
 *              workers as one unit.
 *
 * The state word. A fiber's lifecycle state and its generation share one
 * 64-bit atomic (sg = generation << 8 | state), so that every transition is a
 * CAS that also checks the generation: a wake-up, join or unpark aimed at a
 * recycled slot fails its CAS instead of touching the new occupant.
 *
 *   FREE -> READY (spawn) -> RUNNING -> FINISHED -> FREE -> FREE (generation + 1)
 *                 ^            |   ^
 *                 |     SUSPENDING |  (park: the owner worker completes
 *                 |            v   |   SUSPENDING -> SUSPENDED after the switch)
 *                 +------- SUSPENDED
 *   RUNNING/SUSPENDING -> NOTIFIED (a wake-up that came before the park
 *   completed: the park returns at once / the worker re-queues the fiber).
 *   READY -> FINISHED (status ECANCELED) at shutdown for fibers that never ran.
 * FINISHED and FREE are terminal for wake-ups. The worker publishes FINISHED
 * only after the fiber has switched out for good and its stack is released; a
 * detached fiber goes straight to FREE instead. Leaving FINISHED (join, detach)
 * is a CAS FINISHED -> FREE at the same generation, which exactly one caller
 * wins; the winner then releases the record (generation + 1).
 */
#ifndef DTACT_CORE_TYPES_H
#define DTACT_CORE_TYPES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"

enum dtact__state {
    DTACT__ST_FREE = 0,
    DTACT__ST_READY = 1, /* queued (or about to be), not running */
    DTACT__ST_RUNNING = 2,
    DTACT__ST_SUSPENDING = 3, /* switching out to park */
    DTACT__ST_SUSPENDED = 4,  /* parked; a wake-up must enqueue it */
    DTACT__ST_NOTIFIED = 5,   /* woken while RUNNING/SUSPENDING */
    DTACT__ST_FINISHED = 6    /* done (or cancelled), record kept until joined/detached */
};

#define DTACT__SG(gen, st) (((uint64_t)(gen) << 8) | (uint64_t)(st))
#define DTACT__SG_STATE(sg) ((unsigned)((sg)&0xffu))
#define DTACT__SG_GEN(sg) ((sg) >> 8)

/* Handle layout: bit 63 valid | bits 24..62 generation (39 bits) | bits 0..23 index. */
#define DTACT__HANDLE_VALID (1ull << 63)
#define DTACT__HANDLE_INDEX_BITS 24
#define DTACT__HANDLE_GEN_BITS 39
#define DTACT__HANDLE_GEN_MASK ((1ull << DTACT__HANDLE_GEN_BITS) - 1)
#define DTACT__MAX_CAPACITY ((1u << DTACT__HANDLE_INDEX_BITS) - 1)

static inline uint64_t dtact__handle_make(uint32_t index, uint64_t gen) {
    return DTACT__HANDLE_VALID | ((gen & DTACT__HANDLE_GEN_MASK) << DTACT__HANDLE_INDEX_BITS) | (uint64_t)index;
}
static inline uint32_t dtact__handle_index(uint64_t h) {
    return (uint32_t)(h & ((1u << DTACT__HANDLE_INDEX_BITS) - 1));
}
static inline uint64_t dtact__handle_gen(uint64_t h) {
    return (h >> DTACT__HANDLE_INDEX_BITS) & DTACT__HANDLE_GEN_MASK;
}

/* fiber flags: set at spawn, constant until the record is released */
#define DTACT__F_PINNED 0x02u    /* never moves off `home` */
#define DTACT__F_RESULT_FN 0x04u /* fn is void *(*)(void *) (else void (*)(void *)) */
#define DTACT__F_STARTED 0x08u   /* context built (set by the worker that first runs it) */

typedef struct dtact__stack_s dtact__stack_t;
typedef struct dtact__waiter_s dtact__waiter_t;
typedef struct dtact__fiber_s dtact__fiber_t;

/* A fiber record. 128 bytes, two cache lines: the first is what the dispatch
 * loop touches, the second the lifecycle (join, cleanup).
 * Writers: `sg` by CAS from anyone (see the state diagram); the queue links by
 * whichever queue holds the fiber; sp/stack by the worker running it; the
 * spawn fields by the spawner before the first enqueue (published by the
 * enqueue's release); `index` is constant; `timer_slot` by timer heaps (timer.c). */
struct dtact__fiber_s {
    /* line 0: dispatch */
    void *sp;             /* saved stack pointer while not running    */
    _Atomic uint64_t sg;  /* generation << 8 | state                   */
    dtact__fiber_t *next; /* run queue / chunk / inbox links           */
    dtact__fiber_t *prev;
    dtact__stack_t *stack; /* bound stack, NULL unless started          */
    union {
        void (*vfn)(void *);
        void *(*rfn)(void *);
    } fn;
    void *arg;
    uint8_t variant;     /* switcher code 0..3                        */
    uint8_t priority;    /* 0..3                                      */
    uint8_t affinity;    /* 0..3                                      */
    uint8_t kind;        /* 0..3                                      */
    uint16_t home;       /* worker it is pinned to / last queued on   */
    uint8_t flags;       /* DTACT__F_*                                */
    uint8_t stack_class; /* arena size class                          */

    /* line 1: lifecycle */
    void (*cleanup)(void *);
    union {
        /* Atomic (relaxed) because a late joiner reads result/status
         * optimistically and re-checks `sg` (join.c, look()): a record can be
         * reaped and reused between the two reads. */
        _Atomic(void *) result;                /* set when it finishes                  */
        _Atomic(dtact__fiber_t *) chunk_older; /* while queued in an overflow (runq.c)  */
    };
    dtact__waiter_t *waiters;    /* joiners; guarded by `lock`, then the finisher's */
    dtact__fiber_t *chunk_tail;  /* last fiber of the chunk this one heads (mesh) */
    _Atomic uint32_t lock;       /* closed generation << 1 | locked (internal.h) */
    _Atomic int32_t status;      /* DTACT_OK or DTACT_ECANCELED once finished */
    uint32_t index;              /* slot index, constant                      */
    _Atomic uint32_t timer_slot; /* index of its timer entry in a worker's heap (a hint; timer.c) */
    _Atomic uint32_t wait_seq;   /* bumped when a timed wait ends (timers)    */
    uint16_t chunk_len;          /* fibers in the chunk this one heads        */
    uint8_t spare;               /* unused                                    */
    uint8_t joinable;            /* 1: keep the record after the end; under `lock` */
    void *user;                  /* language bindings' per-fiber slot         */
};

/* A fiber (or host thread) waiting for another fiber to finish. Lives on the
 * waiter's stack, linked into the target's `waiters` under its lock. */
struct dtact__waiter_s {
    dtact__waiter_t *next;
    dtact__fiber_t *fiber; /* the waiting fiber; NULL for a host thread */
    uint64_t gen;          /* its generation, for the wake-up          */
    uint64_t target_gen;   /* the awaited fiber's generation           */
    _Atomic uint32_t done; /* DTACT__WAIT_*: set to DONE by the finisher, last; a host waiter futex-waits on it */
    int32_t status;
    void *result;
};

enum { DTACT__WAIT_PENDING = 0, DTACT__WAIT_DONE = 1, DTACT__WAIT_SLEEPING = 2 };

#define DTACT__CHUNK 32

#endif /* DTACT_CORE_TYPES_H */
