/* core/arena_internal.h -- the arena's private layout, shared by arena.c,
 * stack.c and overflow.c (and by the white-box tests in tests/arena_*.c,
 * tests/stack_*.c). arena.c calls stack.c (init/fini/class_of below); stack.c
 * calls neither; overflow.c only reads these structures (and bumps the
 * overflow statistic).
 *
 * Nothing here is part of the scheduler's contract (that is arena.h).
 *
 * The tagged batch stack (dtact__ts_*)
 * -------------------------------------
 * A Treiber stack of small integer ids with a per-id side link. The stack pool
 * keeps its shared free list as a stack of *batches*: up to 8 stack ids linked
 * through stack->next, owned by whoever holds the batch; only the batch head
 * is on the shared stack; the helpers' `len` is its count. The 64-bit head packs
 *
 *     head = tag << 32 | top id                 (DTACT__IDX_NONE: empty)
 *
 * and every successful CAS increments the tag, so a pop that read head = (t, X)
 * and then slept while X was popped, reused and pushed back sees (t + k, X),
 * k >= 2, and its CAS fails instead of installing a stale "next" (the ABA
 * problem; see tests/arena_aba.c). The length and the link to the next element
 * live in a side array of atomics, blink[id] = len << 32 | next_id, because a
 * stale popper reads them while another thread may be rewriting them (a plain
 * field there would be a data race). The tag wraps after 2^32 successful
 * CASes; an ABA then needs a popper to sleep across exactly a multiple of 2^32
 * operations, which we accept (as does every tagged Treiber).
 */
#ifndef DTACT_CORE_ARENA_INTERNAL_H
#define DTACT_CORE_ARENA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "atomic.h"
#include "types.h"

/* ------------------------------------------------------------- tunables */
#define DTACT__IDX_NONE 0xffffffffu
#define DTACT__REC_CACHE 64                     /* record indices per worker cache           */
#define DTACT__REC_BATCH 32                     /* records moved per shared-list operation    */
#define DTACT__REC_AHEAD 4                      /* records prefetched ahead of an allocation  */
#define DTACT__HUGE_PAGE (2u << 20)             /* records past the first 2 MiB: huge pages   */
#define DTACT__STK_CACHE 32                     /* stacks per worker cache, per class         */
#define DTACT__STK_BATCH 16                     /* stacks moved per shared-list operation     */
#define DTACT__STACK_NCLASSES 6                 /* 16 KiB, 64 KiB, 256 KiB, 1 MiB, 8 MiB, 64 MiB */
#define DTACT__STACK_DEFAULT (256u * 1024u)     /* cfg->default_stack == 0          */
#define DTACT__STACK_HWM 4096                   /* free stacks per class kept resident        */
#define DTACT__STACK_QUIET_NS 1000000000ull     /* no refill for this long before purging      */
#define DTACT__STACK_TRIM_STEP_NS 1000000ull    /* between idle purge rounds                  */
#define DTACT__STACK_CLASS_BUDGET (64ull << 30) /* virtual bytes per class     */
#define DTACT__STACK_MIN_SLOTS 64u
#define DTACT__MAP_MARGIN 1024 /* maps left for the rest of the process     */
#define DTACT__MAX_CACHES 4096u

/* ---------------------------------------------------- tagged batch stack */
#define DTACT__TS_TAG(h) ((uint32_t)((h) >> 32))
#define DTACT__TS_IDX(h) ((uint32_t)(h))
#define DTACT__TS_MAKE(tag, idx) (((uint64_t)(uint32_t)(tag) << 32) | (uint64_t)(uint32_t)(idx))
#define DTACT__TS_EMPTY DTACT__TS_MAKE(0, DTACT__IDX_NONE)
#define DTACT__TS_LINK(len, next) (((uint64_t)(len) << 32) | (uint64_t)(uint32_t)(next))
#define DTACT__TS_LINK_LEN(l) ((uint32_t)((l) >> 32))
#define DTACT__TS_LINK_NEXT(l) ((uint32_t)(l))

/* Pushes a batch the caller has already linked (first .. first+len-1 through
 * its own per-element links). One successful CAS. Any thread. */
static inline void dtact__ts_push(_Atomic uint64_t *head, _Atomic uint64_t *blink, uint32_t first, uint32_t len) {
    uint64_t h = dtact__load_relaxed(head); // relaxed: the CAS below revalidates it
    for (;;) {
        // relaxed: published by the release CAS below; pairs with the relaxed
        // load in dtact__ts_link, ordered by that pop's acquire of head.
        dtact__store_relaxed(&blink[first], DTACT__TS_LINK(len, DTACT__TS_IDX(h)));
        // release: pairs with the acquire load / acq_rel CAS of head in dtact__ts_pop
        if (dtact__cas_weak_release(head, &h, DTACT__TS_MAKE(DTACT__TS_TAG(h) + 1u, first))) return;
    }
}

/* Reads the (len, next) link of the top batch of head value h (not empty). */
static inline uint64_t dtact__ts_link(_Atomic uint64_t *blink, uint64_t h) {
    // relaxed: h was read with acquire (pairs with the release CAS in
    // dtact__ts_push), which orders this load after the pusher's store.
    return dtact__load_relaxed(&blink[DTACT__TS_IDX(h)]);
}

/* Tries to replace head value *h by the batch below it (link from
 * dtact__ts_link). On failure *h holds the current head (acquire). */
static inline bool dtact__ts_pop_commit(_Atomic uint64_t *head, uint64_t *h, uint64_t link) {
    // acq_rel: success acquires the pusher's batch links (pairs with the release
    // CAS in dtact__ts_push); failure reloads *h with acquire for the next
    // dtact__ts_link; the tag makes a recycled top batch fail here.
    return dtact__cas_weak_acq_rel(head, h, DTACT__TS_MAKE(DTACT__TS_TAG(*h) + 1u, DTACT__TS_LINK_NEXT(link)));
}

/* Pops one batch: returns its first index (DTACT__IDX_NONE when empty) and
 * its length in *len. One successful CAS. Any thread. */
static inline uint32_t dtact__ts_pop(_Atomic uint64_t *head, _Atomic uint64_t *blink, uint32_t *len) {
    uint64_t h = dtact__load_acquire(head); // acquire: pairs with the release CAS in dtact__ts_push
    for (;;) {
        if (DTACT__TS_IDX(h) == DTACT__IDX_NONE) {
            *len = 0;
            return DTACT__IDX_NONE;
        }
        uint64_t link = dtact__ts_link(blink, h);
        uint32_t first = DTACT__TS_IDX(h);
        if (dtact__ts_pop_commit(head, &h, link)) {
            *len = DTACT__TS_LINK_LEN(link);
            return first;
        }
    }
}

/* ---------------------------------------------------------------- caches */
typedef struct dtact__stk_cache_s {
    uint32_t n;                          /* owner only */
    dtact__stack_t *s[DTACT__STK_CACHE]; /* owner only; LIFO, s[n-1] hottest */
} dtact__stk_cache_t;

/* One worker's caches. Written only by the owning worker (the thread that uses
 * cache id i); the four atomics are also read, racily, by get_stats.
 * rec_pending / stk_pending: allocations minus frees through this cache not yet
 * folded into the arena's global in-use counters (|pending| <= cache size + 1,
 * because every refill and spill folds it). */
typedef struct dtact__wcache_s {
    _Alignas(DTACT_CACHE_LINE) uint32_t rec_n;
    uint32_t rec_idx[DTACT__REC_CACHE]; /* LIFO, rec_idx[rec_n-1] hottest */
    uint32_t rec_home_lo, rec_home_hi;  /* bitmap words of the last spill (lo > hi: none) */
    dtact__stk_cache_t stk[DTACT__STACK_NCLASSES];
    _Atomic int64_t rec_pending; /* owner: load/store relaxed */
    _Atomic int64_t stk_pending;
    _Atomic uint64_t hits, misses;
} dtact__wcache_t;

/* ---------------------------------------------------------- stack class */
/* Invariant (quiescent): nfree + in_use(class) + cached(class) + (slots - carved) == slots.
 * Constant after create: region_len, slot_size, size, slots, desc, blink;
 * region: NULL until the class is first used, then set once by CAS.
 * carved: bumped by CAS (any thread); head: tagged batch stack (any thread);
 * nfree: stacks on the shared list, relaxed RMW by pusher/popper (heuristic
 * for the purge high-water mark, exact when quiescent). */
typedef struct dtact__stack_class_s {
    _Alignas(DTACT_CACHE_LINE) _Atomic uint64_t head; /* free batches, pages resident (dirty) */
    _Atomic int64_t nfree;                            /* stacks on head + clean             */
    _Atomic int64_t ndirty;                           /* stacks on head                     */
    _Atomic uint64_t demand_ns;                       /* last refill from the shared lists  */
    _Atomic uint64_t clean;                           /* free batches whose pages were purged */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t carved;
    _Atomic(char *) region; /* slots * slot_size bytes, inaccessible until carved; reserved on first use (CAS) */
    size_t region_len;
    size_t slot_size; /* page (guard) + size */
    size_t size;      /* usable bytes (the class size) */
    uint32_t slots;
    dtact__stack_t *desc; /* slots descriptors, dtact__mem_map, touched when carved */
    size_t desc_len;
    _Atomic uint64_t *blink; /* batch links, indexed by stack id */
    size_t blink_len;
} dtact__stack_class_t;

/* ----------------------------------------------------------------- arena */
/* Record invariant (quiescent, i.e. no alloc/free in flight):
 *     shared_free + in_use + cached + (capacity - carved) == capacity
 * where shared_free counts the bits set in the depot bitmap rec_bits, cached
 * the indices in worker caches (sum of rec_n) and in_use the records handed
 * out; every non-zero rec_bits word has its summary bit (rec_sum) set; and
 * rec_gen[i] is 0 for a record never freed, else its generation.
 * Writers: constant fields by create only; rec_carved, rec_bits and rec_sum
 * by RMW from any thread; rec_gen[i] by whoever frees record i; the
 * statistics and hints by relaxed RMW/stores from any thread. See the comment
 * atop arena.c. */
struct dtact__arena_s {
    /* constant after create */
    dtact__fiber_t *recs; /* capacity records, dtact__mem_map, carved lazily */
    size_t recs_len;
    _Atomic uint64_t *rec_bits; /* the depot: one bit per free record (arena.c) */
    size_t rec_bits_len;
    _Atomic uint64_t *rec_sum; /* one bit per rec_bits word that may be non-zero */
    size_t rec_sum_len;
    uint32_t rec_words;        /* 64-bit words in rec_bits */
    uint32_t rec_sum_words;    /* 64-bit words in rec_sum */
    _Atomic uint64_t *rec_gen; /* per record: its generation after its last free, 0 before the first (arena.c) */
    size_t rec_gen_len;
    uint32_t capacity;
    uint32_t ncaches;
    uint64_t gen_base;  /* first generation of every record (>= 1)        */
    uint32_t rec_batch; /* records per spill/refill: REC_BATCH, less for small pools */
    dtact__wcache_t *caches;
    size_t page;
    int guard_pages; /* how stacks are guarded: DTACT__GUARD_* (stack.c) */
    int default_cls;
    uint64_t secret;                              /* canary secret */
    int64_t guard_budget;                         /* guarded stacks this arena may create */
    size_t guard_gap;                             /* inaccessible bytes below every stack slot's usable part */
    const dtact__fiber_t *(*current_fiber)(void); /* the faulting thread's fiber (overflow.c), or NULL */
    dtact__stack_class_t cls[DTACT__STACK_NCLASSES];

    /* the depot's count (exact when quiescent; a scan hint) and cursor */
    _Alignas(DTACT_CACHE_LINE) _Atomic int64_t rec_shared_free;
    _Atomic uint32_t rec_cursor; /* rec_bits word the next take starts at */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t rec_carved;

    /* statistics: relaxed, no ordering (diagnostics only) */
    _Alignas(DTACT_CACHE_LINE) _Atomic int64_t rec_in_use, rec_hw;
    _Atomic int64_t stk_in_use, stk_hw;
    _Atomic uint64_t nc_hits, nc_misses; /* DTACT__NO_CACHE traffic */
    _Atomic uint64_t stk_guarded, stk_canary;
    _Atomic uint64_t overflows; /* bumped by overflow.c */
    _Atomic int64_t guards_used;
};

/* Quiescent accounting of the record pool, for tests and debug checks. */
typedef struct dtact__arena_counts_s {
    uint64_t shared_free, cached, in_use, carved, capacity;
    uint64_t stk_shared_free[DTACT__STACK_NCLASSES], stk_cached[DTACT__STACK_NCLASSES];
    uint64_t stk_carved[DTACT__STACK_NCLASSES];
    /* depot bitmap words holding free records (their summary bits are set) */
    uint64_t depot_words;
} dtact__arena_counts_t;

/* Folds a signed count into a global in-use counter and raises its high
 * water. Used by arena.c and stack.c (hence here, not in either). */
static inline void dtact__stat_fold(_Atomic int64_t *in_use, _Atomic int64_t *hw, int64_t delta) {
    if (delta == 0) return;
    // relaxed: a statistic, no ordering with anything
    int64_t cur = dtact__fetch_add_relaxed(in_use, delta) + delta;
    int64_t old = dtact__load_relaxed(hw); // relaxed: statistic
    while (cur > old && !dtact__cas_weak_release(hw, &old, cur)) {
        // release CAS used only as a CAS: pairs with nothing (statistic)
    }
}

/* a->guard_pages: no guards (canaries only, cfg->guard_pages == 0); guard
 * regions inside the read-write mapping (madvise, no map cost, every stack);
 * PROT_NONE guard pages (mprotect, one more mapping each, while the budget
 * lasts). */
#define DTACT__GUARD_NONE 0
#define DTACT__GUARD_MARKER 1
#define DTACT__GUARD_MPROTECT 2

// arena.c
/* Walks the depot bitmap, free lists and caches; only valid while no thread
 * allocates or frees. Returns 1 when shared_free + in_use + cached + uncarved
 * == capacity, no index appears twice, only carved records are in the depot,
 * every non-zero depot word has its summary bit and rec_gen matches every
 * carved record's generation. */
int dtact__arena_is_valid(dtact__arena_t *a, dtact__arena_counts_t *out);

// stack.c
/* Reserves the stack regions; called by dtact__arena_create (a->page and
 * a->capacity set). DTACT_OK or DTACT_ENOMEM; on failure dtact__stack_fini
 * releases what was built. */
int dtact__stack_init(dtact__arena_t *a, const dtact__arena_config_t *cfg);
/* Unmaps the stack regions (whatever stack_init built); arena_destroy. */
void dtact__stack_fini(dtact__arena_t *a);
/* Class of `bytes` without an arena (0 is not special): -1 above
 * DTACT__STACK_MAX. */
int dtact__stack_class_of(size_t bytes);
/* 1 when arenas created now guard their stacks with guard regions: the OS
 * layer's probe succeeded and DTACT_STACK_GUARD is not "mprotect" (read at
 * every call, so a test can switch it). */
int dtact__stack_guard_regions(void);
/* Test hook: how many more guarded stacks this arena may create. */
void dtact__arena_set_guard_budget(dtact__arena_t *a, int64_t n);

#endif /* DTACT_CORE_ARENA_INTERNAL_H */
