/* core/arena.h -- the context arena: fiber records and stacks, and the
 * overflow reporting that watches the stacks. The scheduler's whole contract
 * with the memory layer; the private layout is arena_internal.h.
 *
 * Two pools, because a fiber that has not started needs no stack:
 *  - records (dtact__fiber_t, 128 B, dense array, arena.c): allocated at spawn,
 *    released when the fiber finishes (detached) or is joined (joinable);
 *  - stacks (stack.c): bound when a fiber first runs, released when it finishes.
 * Overflow reporting (overflow.c) registers an arena with the process-wide
 * SIGSEGV/SIGBUS hook and prints the report for a guard-page hit or a dead
 * canary. Calls go one way: arena.c -> stack.c -> prim; overflow.c reads the
 * arena and stack structures; arena.c and stack.c never call overflow.c, so
 * the runtime calls dtact__overflow_handler_install after create and
 * dtact__overflow_handler_release before destroy.
 * Both are lock-free, with per-worker caches (owner-only, no atomics) in front
 * of a shared ABA-safe free list, moved in batches. Nothing is touched at init:
 * records are carved lazily from the reserved array, stacks are created on
 * first use (with their guard page), so memory follows use.
 *
 * Cache ids: 0..ncaches-1 belong to workers and may only be used by the
 * thread that owns them; DTACT__NO_CACHE is for every other thread.
 */
#ifndef DTACT_CORE_ARENA_H
#define DTACT_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define DTACT__NO_CACHE 0xffffffffu

/* The one accepted range of stack sizes (bytes), for the runtime's default
 * (mStackSize) and every class: the smallest and the largest size class. */
#define DTACT__STACK_MIN (16u * 1024u)
#define DTACT__STACK_MAX (64u * 1024u * 1024u)
/* 1 when bytes is a valid configured stack size: MIN <= bytes <= MAX. (A
 * per-spawn size may be smaller: it is rounded up to the smallest class.) */
static inline int dtact__stack_size_ok(size_t bytes) { return bytes >= DTACT__STACK_MIN && bytes <= DTACT__STACK_MAX; }

typedef struct dtact__arena_s dtact__arena_t;

typedef struct dtact__arena_config_s {
    uint32_t capacity;    /* fiber records, 1 .. DTACT__MAX_CAPACITY           */
    size_t default_stack; /* bytes, 0 (256 KiB) or <= DTACT__STACK_MAX; rounded up to a class */
    uint32_t ncaches;     /* per-worker caches (workers)                       */
    int guard_pages;      /* 0: canary only; 1: guards (regions, else pages while the budget lasts) */
    uint64_t gen_base;    /* first generation of every record (0 means 1): the
                             * runtime gives each instance its own range, so a
                             * handle of a destroyed runtime never names a fiber
                             * of the next one (lookup: DTACT_EHANDLE)          */
    size_t guard_gap;     /* bytes of inaccessible address space below every
                             * stack (0: one page); rounded up to pages          */
} dtact__arena_config_t;

/* The largest guard gap a configuration may ask for. */
#define DTACT__GUARD_GAP_MAX (1u << 20)

/* A stack. The record lives outside the stack memory (an overflow cannot
 * corrupt it). [base, top) is usable; a guard gap (or the canary word at
 * `base`) lies below base. top is 16-byte aligned and staggered. */
struct dtact__stack_s {
    void *base; /* lowest usable byte (the canary word of an unguarded stack) */
    void *top;  /* initial stack pointer, 16-byte aligned                    */
    /* the word the canary check reads: base when unguarded, &canary when
     * guarded (the check must not touch a guarded stack's base page: on a
     * kernel without a shared zero page even a read costs a page) */
    const volatile uint64_t *canary_at;
    uint64_t canary;       /* expected value of *canary_at                  */
    dtact__fiber_t *owner; /* fiber bound to it (for the overflow message)   */
    dtact__stack_t *next;  /* free-list link                                 */
    uint32_t size;         /* usable bytes of the size class (<= 64 MiB)     */
    uint32_t id;           /* index within its class                         */
    uint32_t cls;          /* size class                                     */
    uint8_t guarded;       /* 1 if a guard (region or page) protects it      */
#if defined(DTACT_ASAN)
    void *asan_low; /* lowest saved stack pointer since it was bound (frames below it
                     * returned, so only [asan_low, top) can hold a finished fiber's
                     * poison); NULL: none yet. ASan builds only: it would take the
                     * descriptor past one cache line */
#endif
};

typedef struct dtact__arena_stats_s {
    uint64_t contexts_in_use, contexts_high_water;
    uint64_t stacks_in_use, stacks_high_water;
    uint64_t stacks_guarded, stacks_canary;
    uint64_t cache_hits, cache_misses;
    uint64_t overflows_detected;
} dtact__arena_stats_t;

/* arena.c ---------------------------------------------------------------- */
/* Creates the arena; returns DTACT_OK, DTACT_ECONFIG or DTACT_ENOMEM (and
 * releases everything it built on failure). Reserves every stack class's
 * address space (at most 64 GiB per class, no memory). */
int dtact__arena_create(dtact__arena_t **out, const dtact__arena_config_t *cfg);
/* Unmaps everything. No fiber may be in use by any thread, and the arena must
 * not be registered with the overflow handler (dtact__overflow_handler_release
 * first). */
void dtact__arena_destroy(dtact__arena_t *a);
/* Allocates a record: fields other than sg/index/timer_slot are garbage, sg
 * holds (generation, FREE). NULL when all `capacity` records are in use. */
dtact__fiber_t *dtact__fiber_alloc(dtact__arena_t *a, uint32_t cache);
/* Releases a record: bumps its generation and stores (gen + 1, FREE) with
 * release order, so stale handles read as finished. */
void dtact__fiber_free(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f);
/* The same for the record of a detached fiber at its end; also mirrors the
 * new generation in the dense array that dtact__fiber_released reads. */
void dtact__fiber_free_detached(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f);
/* Classifies a handle. Returns DTACT_OK with *out set (the caller must then
 * compare generations through sg), DTACT_EHANDLE for a handle that was never
 * issued by this arena: generation 0 or below gen_base (another runtime
 * instance), forged (generation ahead of the slot's) or out of range. */
int dtact__fiber_lookup(dtact__arena_t *a, uint64_t handle, dtact__fiber_t **out);
/* 1 when the handle was issued by this arena and its record has been freed
 * since (so the fiber has finished), read from the dense generation array
 * without touching the record; 0 when that is not certain (look it up). */
int dtact__fiber_released(dtact__arena_t *a, uint64_t handle);
/* The record at `index` (index < high water), for shutdown sweeps. */
dtact__fiber_t *dtact__fiber_at(dtact__arena_t *a, uint32_t index);
/* Number of slots ever carved (indices [0, n) are valid for fiber_at). */
uint32_t dtact__arena_carved(dtact__arena_t *a);
uint32_t dtact__arena_capacity(dtact__arena_t *a);

/* stack.c ---------------------------------------------------------------- */
/* Rounds `bytes` up to a size class (16 KiB, 64 KiB, 256 KiB, 1 MiB, 8 MiB,
 * 64 MiB); returns the class index or -1 when bytes > DTACT__STACK_MAX. 0 means
 * the default class. */
int dtact__stack_class(dtact__arena_t *a, size_t bytes);
size_t dtact__stack_class_size(int cls);
/* Takes a stack of class cls (creating it on first use: the address space was
 * reserved at create, the commit around the guard happens here, never again).
 * NULL when the class is exhausted (*why = DTACT_EEXHAUSTED) or its commit
 * failed (*why = DTACT_ENOMEM: the slot is kept and the commit retried by a
 * later call); why may be NULL. */
dtact__stack_t *dtact__stack_alloc_why(dtact__arena_t *a, uint32_t cache, int cls, int *why);
static inline dtact__stack_t *dtact__stack_alloc(dtact__arena_t *a, uint32_t cache, int cls) {
    return dtact__stack_alloc_why(a, cache, cls, NULL);
}
/* Reserves the address space of class cls unless that was done (any thread;
 * the first caller wins, the others use its region): DTACT_OK, DTACT_ENOMEM
 * when the reservation fails, DTACT_EINVAL for no such class. The default
 * class is reserved at create; spawn calls this for any other class, so a
 * fiber never waits for a class that has no region. */
int dtact__stack_class_reserve(dtact__arena_t *a, int cls);

/* Moves every stack in cache `cache` to the shared lists (owner thread only),
 * so that fibers waiting for a stack on another worker can take them. */
void dtact__stack_cache_flush(dtact__arena_t *a, uint32_t cache);
/* Idle-time purge (stack.c): moves up to max_batches batches per class from
 * the warm free list to the purged one, when a class holds more than the
 * resident mark of free stacks and has seen no refill for a second. Returns
 * 0 when nothing is left to purge, else the time (dtact__now_ns) at which
 * to call again. Any thread. */
uint64_t dtact__stack_trim(dtact__arena_t *a, uint64_t now, uint32_t max_batches);
/* Returns a stack; pages above the high-water mark are released to the OS. */
void dtact__stack_free(dtact__arena_t *a, uint32_t cache, dtact__stack_t *s);

/* Checked by the scheduler after every switch out of a fiber. */
static inline int dtact__stack_canary_ok(const dtact__stack_t *s) { return *s->canary_at == s->canary; }

/* Checked with the canary: the saved stack pointer of a switched-out fiber
 * lies inside its own stack (a frame larger than the guard gap can jump the
 * guard and the canary; its stack pointer still gives it away). */
static inline int dtact__stack_sp_ok(const dtact__stack_t *s, const void *sp) {
    return (uintptr_t)sp > (uintptr_t)s->base && (uintptr_t)sp <= (uintptr_t)s->top;
}

/* Lets the overflow report name the fiber that was running on the faulting
 * thread (which, past an unguarded stack, is not the owner of the guard page
 * it hit). fn must be async-signal-safe. Call before
 * dtact__overflow_handler_install. */
void dtact__overflow_set_current_fn(dtact__arena_t *a, const dtact__fiber_t *(*fn)(void));

/* Racy snapshot of the arena's counters (exact when quiescent). arena.c. */
void dtact__arena_get_stats(dtact__arena_t *a, dtact__arena_stats_t *out);

/* overflow.c ------------------------------------------------------------- */
/* Prints "dtact: stack overflow in fiber <handle> (stack <size> bytes, ...)"
 * and aborts. */
void dtact__stack_overflow_abort(const dtact__stack_t *s, const char *how) __attribute__((noreturn));
/* Registers the arena with the process-wide SIGSEGV/SIGBUS hook (installed
 * with the first registered arena), which reports guard page hits in its
 * stacks and chains every other fault to the previous disposition. Idempotent
 * per arena. DTACT_OK, DTACT_ENOMEM (64 arenas registered) or DTACT_ESYS. */
int dtact__overflow_handler_install(dtact__arena_t *a);
/* Unregisters the arena (restoring the previous dispositions with the last
 * one). Idempotent; a no-op for an arena that is not registered (install
 * failed or was never called). Call before dtact__arena_destroy. */
void dtact__overflow_handler_release(dtact__arena_t *a);
/* Gives the calling thread an alternate signal stack (workers call it at
 * start, _fini at exit), unless it already has one. */
int dtact__thread_sigaltstack_init(void);
void dtact__thread_sigaltstack_fini(void);

#endif /* DTACT_CORE_ARENA_H */
