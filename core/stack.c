/* core/stack.c -- the fiber stack pool: size classes, lazy creation, guard
 * pages or canaries, per-worker caches. Calls only the OS layer (prim.h);
 * called by arena.c (init/fini) and the scheduler. The overflow report (the
 * fault hook that recognises guard page hits, dtact__stack_overflow_abort,
 * the per-thread alternate signal stacks) is overflow.c, which reads these
 * structures; nothing here calls it.
 *
 * Classes. 16 KiB, 64 KiB, 256 KiB, 1 MiB, 8 MiB, 64 MiB (DTACT__STACK_MIN ..
 * DTACT__STACK_MAX, arena.h). A request is rounded up to the next class; 0
 * means the arena's default class (cfg->default_stack rounded up, 256 KiB
 * when 0). Anything above 64 MiB is rejected (class -1, DTACT_ECONFIG at
 * create, DTACT_EINVAL at spawn).
 *
 * Regions. Per class, one inaccessible region, reserved at create for the
 * default class and on the first spawn of a fiber of its size for the others
 * (dtact__mem_reserve: no memory, no swap reservation)
 *     slots     = min(capacity, max(64, 64 GiB / slot_size))
 *     slot_size = page + class size
 *     slot id   = [ guard page | usable: base .. top ... slot end ]
 * so each class costs at most 64 GiB of address space (the 64 MiB class: 1023
 * slots) and no memory. A slot is *created* the first time it is carved
 * (below); reuse never commits again.
 *
 * Guards (a->guard_pages, chosen at create):
 *  - guard regions (DTACT__GUARD_MARKER), where the OS layer's probe says
 *    madvise(MADV_GUARD_INSTALL) works (Linux 6.13+; not under qemu-user) and
 *    DTACT_STACK_GUARD is not "mprotect": create commits the whole slot (its
 *    mapping merges with the neighbours': no new map entry) and installs a
 *    guard region on the gap. Every stack is guarded, at no map and no memory
 *    cost (a page table marker); a refused install leaves that one stack to a
 *    canary.
 *  - guard pages (DTACT__GUARD_MPROTECT), the fallback: create commits only
 *    the usable part, so the PROT_NONE gap splits the region into two more
 *    mappings; guards are handed out while the map budget lasts:
 *        guard_budget = (max_map_count - maps at create - 1024) / 2
 *    (per arena, read at create through dtact__map_count_max/now), about 32k
 *    stacks at the default vm.max_map_count of 65530.
 *  - none (cfg->guard_pages == 0): canaries only.
 * An unguarded stack (no guards, or beyond the budget) commits its whole slot,
 * merging with its unguarded neighbours, and carries a canary word at `base`
 * (secret ^ base, secret random per arena), checked by the scheduler after
 * every switch (dtact__stack_canary_ok) together with the saved stack pointer.
 * A guarded stack has no canary on the stack: its canary_at points at the
 * descriptor's own canary field, so the check never reads the stack. (It used
 * to read a 0 word at `base`, counting on the kernel's shared zero page; on
 * kernels without one, e.g. VM sandboxes, that read cost a second resident
 * page per stack.)
 *
 * What a parked fiber costs (W8: 16 KiB stacks, measured with mincore over
 * 100k parked fibers, Linux 6.18): its stack's top page (the spawn trampoline,
 * the task's frame and the park/switch frames fit in it together with any
 * stagger, 0..896 bytes), a 128-byte record, this 64-byte descriptor and an
 * 8-byte batch link: about 4.3 KB with guard regions. Under the mprotect
 * fallback the ~68k stacks beyond the map budget add their canary's base page
 * (about 7.1 KB per fiber at 100k); before guarded stacks stopped reading
 * their base word, every stack had two pages (8.4 KB).
 *
 * Stagger. top = slot end - 128 * (id % 8), 16-byte aligned, so the hot top
 * frames of consecutive stacks do not alias in the L1 sets, while a fiber's
 * first frames still fit in its top page (a larger stagger made idle fibers
 * touch two pages; measured above). The usable depth is therefore size - up
 * to 896 bytes; `size` reports the class size.
 *
 * Free lists and invariant (per class, quiescent):
 *     nfree + in_use + cached + (slots - carved) == slots,
 *     nfree == stacks on head + stacks on clean, ndirty == stacks on head
 * Per-worker LIFO caches of 32 (owner only), spilling/refilling 16 at a time
 * through a tagged batch stack of stack ids (arena_internal.h); batches are
 * linked through stack->next while owned. Freed batches go to the class's
 * `head` list with their pages resident. Purging (dtact__mem_purge of [base
 * page, top]: the whole stack) is deferred and demand-aware: an idle
 * worker (dtact__stack_trim, from mesh.c) moves batches from `head` to the
 * `clean` list, purging them, only while `head` holds more than 4096 stacks
 * and no refill has taken stacks from the shared lists for a second. A
 * purge on the free path, as before, made a burst of 100k sleeping fibers
 * (W12) spend most of its time in madvise (a TLB shootdown each) only to
 * re-fault the same stacks in the next burst. Refills take `head` first
 * (warm), then `clean`, then carve.
 *
 * Who writes what: descriptors (desc[id]) by the creator, then by whoever owns
 * the stack (owner, next); carved by CAS (acq_rel: the overflow hook reads it
 * with acquire before it reads a descriptor); head by the tagged stack; nfree
 * and the statistics by relaxed RMW.
 */
#include <stdlib.h>
#include <string.h>

#include "arena_internal.h"
#include "dtact.h"
#include "prim.h"

#if defined(DTACT_ASAN)
#include <sanitizer/asan_interface.h>

/* Clears the ASan shadow of the part of s a fiber may have left poisoned:
 * from a little below the lowest saved stack pointer to the end of the slot
 * (all of a 64 MiB stack would be 8 MiB of shadow writes per release). */
static void dtact__stack_unpoison(dtact__stack_t *s) {
    uintptr_t end = (uintptr_t)s->base + s->size;
    uintptr_t lo = s->asan_low ? (uintptr_t)s->asan_low : (uintptr_t)s->top;
    lo = lo > (uintptr_t)s->base + 4096u ? lo - 4096u : (uintptr_t)s->base;
    __asan_unpoison_memory_region((void *)lo, end - lo);
    s->asan_low = NULL;
}
#endif

static const size_t dtact__class_size[DTACT__STACK_NCLASSES] = {DTACT__STACK_MIN, 64u * 1024u,        256u * 1024u,
                                                                1024u * 1024u,    8u * 1024u * 1024u, DTACT__STACK_MAX};

_Static_assert(DTACT__STK_BATCH * 2 == DTACT__STK_CACHE, "a spill halves the cache");
_Static_assert(DTACT__STACK_NCLASSES == 6 && DTACT__STACK_MAX == 64u << 20 && DTACT__STACK_MIN == 16u << 10,
               "the class table spans DTACT__STACK_MIN .. DTACT__STACK_MAX");

int dtact__stack_class_of(size_t bytes) {
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++)
        if (bytes <= dtact__class_size[k]) return k;
    return -1;
}

int dtact__stack_class(dtact__arena_t *a, size_t bytes) {
    return bytes == 0 ? a->default_cls : dtact__stack_class_of(bytes);
}

size_t dtact__stack_class_size(int cls) { return cls >= 0 && cls < DTACT__STACK_NCLASSES ? dtact__class_size[cls] : 0; }

/* ---------------------------------------------------------------- init */
/* A random odd secret for the canaries; a clock-and-address mix when the OS
 * has no random bytes to give. */
static uint64_t dtact__random_secret(void *salt) {
    uint64_t s = 0;
    if (dtact__random_bytes(&s, sizeof s) != 0) s = dtact__now_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)salt;
    return s | 1u; /* never 0 together with an even address */
}

static uint64_t dtact__canary_value(const dtact__arena_t *a, const void *base) {
    return a->secret ^ (uint64_t)(uintptr_t)base; /* base is page aligned, secret odd: never 0 */
}

int dtact__stack_class_reserve(dtact__arena_t *a, int cls) {
    if (cls < 0 || cls >= DTACT__STACK_NCLASSES) return DTACT_EINVAL;
    dtact__stack_class_t *c = &a->cls[cls];
    if (DTACT_LIKELY(dtact__load_acquire(&c->region) != NULL)) // acquire: pairs with the CAS below
        return DTACT_OK;
    char *mine = dtact__mem_reserve(c->region_len);
    if (mine == NULL) return DTACT_ENOMEM;
    char *expect = NULL;
    // acq_rel: publishes the region to every later acquire load (stack_create, the
    // overflow hook); a loser acquires the winner's and drops its own
    if (!dtact__cas_strong_acq_rel(&c->region, &expect, mine)) dtact__mem_release(mine, c->region_len);
    return DTACT_OK;
}

int dtact__stack_guard_regions(void) {
    const char *env = getenv("DTACT_STACK_GUARD");
    return !(env && strcmp(env, "mprotect") == 0) && dtact__mem_guard_probed();
}

int dtact__stack_init(dtact__arena_t *a, const dtact__arena_config_t *cfg) {
    a->default_cls = dtact__stack_class_of(cfg->default_stack ? cfg->default_stack : DTACT__STACK_DEFAULT);
    a->guard_gap = cfg->guard_gap ? (cfg->guard_gap + a->page - 1) & ~(a->page - 1) : a->page;
    if (a->guard_gap > DTACT__GUARD_GAP_MAX) a->guard_gap = DTACT__GUARD_GAP_MAX;
    a->secret = dtact__random_secret(a);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *c = &a->cls[k];
        dtact__store_relaxed(&c->head, DTACT__TS_EMPTY);  // relaxed: published by create's hand-off
        dtact__store_relaxed(&c->clean, DTACT__TS_EMPTY); // relaxed: as above
        c->size = dtact__class_size[k];
        c->slot_size = c->size + a->guard_gap;
        uint64_t by_budget = DTACT__STACK_CLASS_BUDGET / c->slot_size;
        if (by_budget < DTACT__STACK_MIN_SLOTS) by_budget = DTACT__STACK_MIN_SLOTS;
        c->slots = a->capacity < by_budget ? a->capacity : (uint32_t)by_budget;
        c->region_len = (size_t)c->slots * c->slot_size;
        c->desc_len = ((size_t)c->slots * sizeof(dtact__stack_t) + a->page - 1) & ~(a->page - 1);
        c->desc = dtact__mem_map(c->desc_len);
        if (c->desc == NULL) return DTACT_ENOMEM;
        c->blink_len = ((size_t)c->slots * sizeof(uint64_t) + a->page - 1) & ~(a->page - 1);
        c->blink = dtact__mem_map(c->blink_len);
        if (c->blink == NULL) return DTACT_ENOMEM;
    }
    /* Only the default class is reserved now; the others on the first spawn
     * of a fiber of their size (dtact__stack_class_reserve), so the address
     * space a runtime takes follows the stack sizes it uses. */
    if (dtact__stack_class_reserve(a, a->default_cls) != DTACT_OK) return DTACT_ENOMEM;
    /* Guard regions when the kernel has them (no map cost: every stack gets
     * one); else PROT_NONE pages while the map budget lasts. */
    a->guard_budget = 0;
    if (cfg->guard_pages == 0) {
        a->guard_pages = DTACT__GUARD_NONE;
    } else if (dtact__stack_guard_regions()) {
        a->guard_pages = DTACT__GUARD_MARKER;
        a->guard_budget = INT64_MAX / 2;
    } else {
        a->guard_pages = DTACT__GUARD_MPROTECT;
        long max = dtact__map_count_max();
        long cur = dtact__map_count_now();
        if (max <= 0) max = 65530; /* the kernel default */
        if (cur < 0) cur = 0;
        long b = (max - cur - DTACT__MAP_MARGIN) / 2;
        a->guard_budget = b > 0 ? b : 0;
    }
    return DTACT_OK;
}

void dtact__stack_fini(dtact__arena_t *a) {
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *c = &a->cls[k];
        char *r = dtact__load_relaxed(&c->region); // relaxed: no thread uses the arena any more
#if defined(DTACT_ASAN)
        /* Clear the ASan shadow of every stack ever created: fibers' redzones
         * would otherwise outlive the unmapping and poison whatever a later
         * mapping (the next runtime's records) puts at these addresses. */
        uint32_t carved = r ? dtact__load_relaxed(&c->carved) : 0; // relaxed: as above
        for (uint32_t id = 0; id < carved && c->desc; id++)
            if (c->desc[id].base) dtact__stack_unpoison(&c->desc[id]);
#endif
        if (r) dtact__mem_release(r, c->region_len);
        if (c->desc) dtact__mem_release(c->desc, c->desc_len);
        if (c->blink) dtact__mem_release((void *)c->blink, c->blink_len);
        dtact__store_relaxed(&c->region, NULL); // relaxed: as above
        c->desc = NULL;
        c->blink = NULL;
    }
}

void dtact__arena_set_guard_budget(dtact__arena_t *a, int64_t n) {
    a->guard_budget = dtact__load_relaxed(&a->guards_used) + n; // relaxed: test hook, quiescent
}

/* -------------------------------------------------------------- stacks */
/* Makes slot `id` usable (first use only). 0 on success. Any thread (the
 * caller owns the descriptor: it just carved or popped it). */
static int dtact__stack_create(dtact__arena_t *a, dtact__stack_class_t *c, dtact__stack_t *s, uint32_t id) {
    // acquire: pairs with the reserving CAS (reserved before any slot of the class is carved)
    char *slot = dtact__load_acquire(&c->region) + (size_t)id * c->slot_size;
    int guarded = 0, committed = 0;
    // relaxed: a budget counter, no ordering
    if (a->guard_pages != DTACT__GUARD_NONE && dtact__fetch_add_relaxed(&a->guards_used, 1) < a->guard_budget) {
        if (a->guard_pages == DTACT__GUARD_MARKER) {
            /* the whole slot read-write (it merges with its neighbours: no new
             * mapping), then the gap becomes a guard region */
            if (dtact__mem_commit(slot, c->slot_size) != 0) return -1;
            committed = 1;
            guarded = dtact__mem_guard_install(slot, a->guard_gap) == 0; /* refused: this one gets a canary */
        } else if (dtact__mem_commit(slot + a->guard_gap, c->size) == 0) {
            guarded = 1;
        } else {
            a->guard_budget = 0; /* out of maps: stop trying (racy write of a hint) */
        }
    }
    if (!guarded && !committed && dtact__mem_commit(slot, c->slot_size) != 0) return -1;
    s->base = slot + a->guard_gap;
    s->size = (uint32_t)c->size;
    s->top = (void *)(((uintptr_t)(slot + c->slot_size) - 128u * (id % 8u)) & ~(uintptr_t)15);
    s->cls = (uint32_t)(c - a->cls);
    s->id = id;
    s->guarded = (uint8_t)guarded;
#if defined(DTACT_ASAN)
    s->asan_low = NULL;
#else
    _Static_assert(sizeof(dtact__stack_t) == 64, "a stack descriptor is one cache line");
#endif
    s->owner = NULL;
    s->next = NULL;
    if (guarded) {
        s->canary = 0; /* see the top comment: the check reads the descriptor, not the stack */
        s->canary_at = &s->canary;
        dtact__fetch_add_relaxed(&a->stk_guarded, 1); // relaxed: statistic
    } else {
        s->canary = dtact__canary_value(a, s->base);
        s->canary_at = (const volatile uint64_t *)s->base;
        dtact__fetch_add_relaxed(&a->stk_canary, 1); // relaxed: statistic
    }
    return 0;
}

/* Carves one slot of class c and creates it. NULL when exhausted. */
static dtact__stack_t *dtact__stack_carve(dtact__arena_t *a, dtact__stack_class_t *c) {
    /* The class's region exists before its first slot is carved (spawn
     * reserves it; direct users of the arena get it here). */
    if (dtact__stack_class_reserve(a, (int)(c - a->cls)) != DTACT_OK) return NULL;
    uint32_t id = dtact__load_relaxed(&c->carved); // relaxed: the CAS revalidates it
    do {
        if (id >= c->slots) return NULL;
        // acq_rel: pairs with the acquire load of carved in the overflow hook (overflow.c)
    } while (!dtact__cas_weak_acq_rel(&c->carved, &id, id + 1));
    dtact__stack_t *s = &c->desc[id];
    s->id = id;
    s->cls = (uint32_t)(c - a->cls);
    s->base = NULL; /* created by dtact__stack_ready */
    return s;
}

/* Drops every page of a free stack (the trim runs after a quiet second, so
 * the stack is not expected back soon; the canary is rewritten when it is). */
static void dtact__stack_purge(dtact__arena_t *a, dtact__stack_t *s) {
    uintptr_t lo = (uintptr_t)s->base & ~(uintptr_t)(a->page - 1);
    uintptr_t hi = ((uintptr_t)s->top + a->page - 1) & ~(uintptr_t)(a->page - 1);
    if (hi > lo) dtact__mem_purge((void *)lo, hi - lo);
}

/* Pushes a chain of n owned stacks (v[0..n-1]) as one batch (pages resident). */
static void dtact__stack_push(dtact__arena_t *a, dtact__stack_class_t *c, dtact__stack_t **v, uint32_t n) {
    (void)a;
    for (uint32_t k = 0; k < n; k++)
        v[k]->next = k + 1 < n ? v[k + 1] : NULL;
    dtact__fetch_add_relaxed(&c->ndirty, (int64_t)n); // relaxed: the trim heuristic
    dtact__fetch_add_relaxed(&c->nfree, (int64_t)n);  // relaxed: statistic
    dtact__ts_push(&c->head, c->blink, v[0]->id, n);
}

/* Pops a batch for a refill: warm stacks first, then purged ones. Notes the
 * demand (the trim waits for a second without any). */
static uint32_t dtact__stack_pop_shared(dtact__stack_class_t *c, uint32_t *len, int *from_clean) {
    /* Refresh the shared timestamp at most once a millisecond: both workers
     * refilling would otherwise bounce its line on every refill. */
    uint64_t now = dtact__now_ns();
    if (now - dtact__load_relaxed(&c->demand_ns) > 1000000u) // relaxed: a heuristic timestamp
        dtact__store_relaxed(&c->demand_ns, now);            // relaxed: as above
    uint32_t id = dtact__ts_pop(&c->head, c->blink, len);
    *from_clean = 0;
    if (id != DTACT__IDX_NONE) {
        dtact__fetch_sub_relaxed(&c->ndirty, (int64_t)*len); // relaxed: the trim heuristic
    } else {
        id = dtact__ts_pop(&c->clean, c->blink, len);
        if (id == DTACT__IDX_NONE) return id;
        *from_clean = 1;
    }
    dtact__fetch_sub_relaxed(&c->nfree, (int64_t)*len); // relaxed: statistic
    return id;
}

uint64_t dtact__stack_trim(dtact__arena_t *a, uint64_t now, uint32_t max_batches) {
    uint64_t again = 0;
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *c = &a->cls[k];
        for (uint32_t b = 0;; b++) {
            // relaxed: heuristics; a wrong guess purges a batch early or late
            if (dtact__load_relaxed(&c->ndirty) <= DTACT__STACK_HWM) break;
            uint64_t quiet_at = dtact__load_relaxed(&c->demand_ns) + DTACT__STACK_QUIET_NS; // relaxed: as above
            uint64_t at = now < quiet_at ? quiet_at : (b == max_batches ? now + DTACT__STACK_TRIM_STEP_NS : 0);
            if (at) {
                if (!again || at < again) again = at;
                break;
            }
            uint32_t len, id = dtact__ts_pop(&c->head, c->blink, &len);
            if (id == DTACT__IDX_NONE) break;
            dtact__fetch_sub_relaxed(&c->ndirty, (int64_t)len); // relaxed: the trim heuristic
            dtact__stack_t *t = &c->desc[id];
            for (uint32_t i = 0; i < len; i++, t = t->next)
                if (t->base) dtact__stack_purge(a, t);
            dtact__ts_push(&c->clean, c->blink, id, len);
        }
    }
    return again;
}

/* Makes a stack taken from a list ready: creates it if needed, rewrites an
 * unguarded stack's canary (a purge may have zeroed it). 0 on success. */
static int dtact__stack_ready(dtact__arena_t *a, dtact__stack_t *s) {
    if (DTACT_UNLIKELY(s->base == NULL) && dtact__stack_create(a, &a->cls[s->cls], s, s->id) != 0) return -1;
    if (!s->guarded) *(volatile uint64_t *)s->base = s->canary;
    s->owner = NULL;
    return 0;
}

dtact__stack_t *dtact__stack_alloc_why(dtact__arena_t *a, uint32_t cache, int cls, int *why) {
    int dummy;
    if (!why) why = &dummy;
    *why = DTACT_EEXHAUSTED;
    if (cls < 0 || cls >= DTACT__STACK_NCLASSES) return NULL;
    dtact__stack_class_t *c = &a->cls[cls];
    dtact__stack_t *s;
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        dtact__stk_cache_t *sc = &wc->stk[cls];
        int hit = sc->n != 0;
        if (DTACT_LIKELY(hit)) {
            // relaxed load + store: owner-only counter, read racily by get_stats
            dtact__store_relaxed(&wc->hits, dtact__load_relaxed(&wc->hits) + 1);
            s = sc->s[--sc->n];
        } else {
            // relaxed load + store: owner-only counter, read racily by get_stats
            dtact__store_relaxed(&wc->misses, dtact__load_relaxed(&wc->misses) + 1);
            int from_clean;
            uint32_t len, id = dtact__stack_pop_shared(c, &len, &from_clean);
            if (id != DTACT__IDX_NONE) {
                dtact__stack_t *t = &c->desc[id];
                for (uint32_t k = 0; k < len; k++, t = t->next)
                    sc->s[len - 1 - k] = t;
                sc->n = len;
                s = sc->s[--sc->n];
            } else {
                s = dtact__stack_carve(a, c);
                if (s == NULL) return NULL;
            }
        }
        if (DTACT_UNLIKELY(dtact__stack_ready(a, s) != 0)) {
            sc->s[sc->n++] = s; /* keep the uncreated slot; creation retried later */
            *why = DTACT_ENOMEM;
            return NULL;
        }
        int64_t p = dtact__load_relaxed(&wc->stk_pending) + 1; // relaxed: owner's counter
        if (hit) {
            dtact__store_relaxed(&wc->stk_pending, p); // relaxed: read racily by get_stats
        } else {
            /* a miss samples the peak, this stack included */
            dtact__store_relaxed(&wc->stk_pending, 0); // relaxed: read racily by get_stats
            dtact__stat_fold(&a->stk_in_use, &a->stk_hw, p);
        }
        return s;
    }
    dtact__fetch_add_relaxed(&a->nc_misses, 1); // relaxed: statistic
    int from_clean;
    uint32_t len, id = dtact__stack_pop_shared(c, &len, &from_clean);
    if (id != DTACT__IDX_NONE) {
        s = &c->desc[id];
        if (len > 1) { /* the rest of the batch goes back where it came from */
            dtact__fetch_add_relaxed(&c->nfree, (int64_t)len - 1);                   // relaxed: statistic
            if (!from_clean) dtact__fetch_add_relaxed(&c->ndirty, (int64_t)len - 1); // relaxed: heuristic
            dtact__ts_push(from_clean ? &c->clean : &c->head, c->blink, s->next->id, len - 1);
        }
    } else {
        s = dtact__stack_carve(a, c);
        if (s == NULL) return NULL;
    }
    if (DTACT_UNLIKELY(dtact__stack_ready(a, s) != 0)) {
        dtact__stack_push(a, c, &s, 1);
        *why = DTACT_ENOMEM;
        return NULL;
    }
    dtact__stat_fold(&a->stk_in_use, &a->stk_hw, 1);
    return s;
}

void dtact__stack_free(dtact__arena_t *a, uint32_t cache, dtact__stack_t *s) {
    dtact__stack_class_t *c = &a->cls[s->cls];
    s->owner = NULL;
#if defined(DTACT_ASAN)
    /* A finished fiber's last frames never return, so ASan's redzones of its
     * locals stay poisoned: clear them, or the stack's next user (its inline
     * payload copy, its frames) would get false stack-buffer-overflow reports. */
    dtact__stack_unpoison(s);
#endif
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        dtact__stk_cache_t *sc = &wc->stk[s->cls];
        if (DTACT_UNLIKELY(sc->n == DTACT__STK_CACHE)) {
            dtact__stack_push(a, c, sc->s, DTACT__STK_BATCH); /* the coldest half */
            memmove(sc->s, sc->s + DTACT__STK_BATCH, (DTACT__STK_CACHE - DTACT__STK_BATCH) * sizeof sc->s[0]);
            sc->n -= DTACT__STK_BATCH;
            int64_t p = dtact__load_relaxed(&wc->stk_pending); // relaxed: owner's counter
            dtact__store_relaxed(&wc->stk_pending, 0);         // relaxed: read racily by get_stats
            dtact__stat_fold(&a->stk_in_use, &a->stk_hw, p);
        }
        sc->s[sc->n++] = s;
        // relaxed load + store: owner-only counter, read racily by get_stats
        dtact__store_relaxed(&wc->stk_pending, dtact__load_relaxed(&wc->stk_pending) - 1);
        return;
    }
    dtact__stack_push(a, c, &s, 1);
    dtact__stat_fold(&a->stk_in_use, &a->stk_hw, -1);
}

void dtact__stack_cache_flush(dtact__arena_t *a, uint32_t cache) {
    if (cache >= a->ncaches) return;
    dtact__wcache_t *wc = &a->caches[cache];
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stk_cache_t *sc = &wc->stk[k];
        if (sc->n == 0) continue;
        dtact__stack_push(a, &a->cls[k], sc->s, sc->n);
        sc->n = 0;
    }
}
