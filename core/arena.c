/* core/arena.c -- fiber records: a dense, lazily carved array with per-worker
 * caches in front of a tagged, batched Treiber free list.
 *
 * Layout. `capacity` records of 128 bytes (two cache lines) in one
 * MAP_NORESERVE mapping that init never touches. Memory follows use:
 *
 *     [0, carved)          records that exist (index and generation set)
 *     [carved, capacity)   never touched (uncarved)
 *
 * Invariant (quiescent):
 *     shared_free + in_use + cached + (capacity - carved) == capacity
 *     0 <= carved <= capacity, carved only grows
 *     for every carved slot: GEN(sg) >= 1, and GEN(sg) - 1 == number of frees
 * checked by dtact__arena_is_valid.
 *
 * Who writes what:
 *   rec_carved      CAS from any thread (dtact__rec_carve), only grows.
 *   rec_head        tagged batch stack (arena_internal.h), CAS from any thread.
 *   rec_blink[i]    by the pusher of the batch headed by i, before its CAS.
 *   f->free_next    by whoever owns the record while it is free (cache owner,
 *                   batch pusher/popper); published by the push CAS.
 *   f->sg           by carving (gen 1, FREE) and by free (gen + 1, FREE),
 *                   store-release, so a stale handle reads "finished".
 *   caches[i]       only by the thread that owns cache id i (no atomics except
 *                   the statistics, which get_stats reads racily).
 *
 * Paths. Alloc through a cache pops rec_idx[--n] (no atomics); an empty cache
 * pops one batch (one CAS) or carves up to 32 fresh slots (one CAS on
 * rec_carved). Free pushes into the cache; a full cache (64) spills its 32
 * coldest entries as one batch (one CAS). DTACT__NO_CACHE callers pop a batch,
 * keep one and push the rest back (two CASes), or carve one slot.
 *
 * Statistics. in_use / high water are folded from each cache's `pending` count
 * at every refill and spill (once per <= 32 operations) and from every
 * NO_CACHE call; get_stats adds the unfolded pending counts. So in_use is exact
 * when quiescent, and the high water is sampled: it can miss a peak that lasts
 * less than one cache refill (it is never above the true peak).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena_internal.h"
#include "dtact.h"

_Static_assert(sizeof(dtact__fiber_t) == 128, "a fiber record is two cache lines");
/* types.h declares no _Alignas(64) on the record; the array below is page
 * aligned and the stride is 128, so every record is 64-byte aligned anyway. */
_Static_assert(sizeof(dtact__fiber_t) % DTACT_CACHE_LINE == 0, "records stay line aligned");
_Static_assert(DTACT__MAX_CAPACITY < DTACT__IDX_NONE, "IDX_NONE is never an index");
_Static_assert(DTACT__REC_BATCH * 2 == DTACT__REC_CACHE, "a spill halves the cache");

static void *dtact__map_rw(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t dtact__round_page(size_t n, size_t page) { return (n + page - 1) & ~(page - 1); }

void dtact__stat_fold(_Atomic int64_t *in_use, _Atomic int64_t *hw, int64_t delta) {
    if (delta == 0)
        return;
    // relaxed: a statistic, no ordering with anything
    int64_t cur = dtact__fetch_add_relaxed(in_use, delta) + delta;
    int64_t old = dtact__load_relaxed(hw); // relaxed: statistic
    while (cur > old && !dtact__cas_weak_release(hw, &old, cur)) {
        // release CAS used only as a CAS: pairs with nothing (statistic)
    }
}

/* ------------------------------------------------------------ create */
int dtact__arena_create(dtact__arena_t **out, const dtact__arena_config_t *cfg) {
    if (out == NULL)
        return DTACT_ECONFIG;
    *out = NULL;
    if (cfg == NULL || cfg->capacity == 0 || cfg->capacity > DTACT__MAX_CAPACITY ||
        cfg->ncaches > DTACT__MAX_CACHES)
        return DTACT_ECONFIG;
    if (dtact__stack_class_of(cfg->default_stack ? cfg->default_stack : DTACT__STACK_DEFAULT) < 0)
        return DTACT_ECONFIG;

    dtact__arena_t *a = NULL;
    if (posix_memalign((void **)&a, DTACT_CACHE_LINE, sizeof *a) != 0)
        return DTACT_ENOMEM;
    memset(a, 0, sizeof *a);
    a->capacity = cfg->capacity;
    a->ncaches = cfg->ncaches;
    /* Small pools get small caches, so that records idle in one worker's cache
     * cannot starve other threads: at most a quarter of the pool is cached. */
    a->rec_batch = DTACT__REC_BATCH;
    while (a->rec_batch > 1 && (uint64_t)a->rec_batch * 2 * (cfg->ncaches ? cfg->ncaches : 1) > cfg->capacity / 4)
        a->rec_batch /= 2;
    long pg = sysconf(_SC_PAGESIZE);
    a->page = pg > 0 ? (size_t)pg : 4096u;
    dtact__store_relaxed(&a->rec_head, DTACT__TS_EMPTY); // relaxed: published by *out's hand-off
    int rc = DTACT_ENOMEM;

    a->recs_len = dtact__round_page((size_t)a->capacity * sizeof(dtact__fiber_t), a->page);
    a->recs = dtact__map_rw(a->recs_len);
    if (a->recs == NULL)
        goto fail;
    a->rec_blink_len = dtact__round_page((size_t)a->capacity * sizeof(uint64_t), a->page);
    a->rec_blink = dtact__map_rw(a->rec_blink_len);
    if (a->rec_blink == NULL)
        goto fail;
    if (a->ncaches) {
        if (posix_memalign((void **)&a->caches, DTACT_CACHE_LINE, a->ncaches * sizeof(dtact__wcache_t)) != 0) {
            a->caches = NULL;
            goto fail;
        }
        memset(a->caches, 0, a->ncaches * sizeof(dtact__wcache_t));
    }
    rc = dtact__stack_init(a, cfg);
    if (rc != DTACT_OK)
        goto fail;
    *out = a;
    return DTACT_OK;
fail:
    dtact__arena_destroy(a);
    return rc;
}

void dtact__arena_destroy(dtact__arena_t *a) {
    if (a == NULL)
        return;
    dtact__stack_fini(a); /* also drops the overflow-handler registration */
    if (a->recs)
        munmap(a->recs, a->recs_len);
    if (a->rec_blink)
        munmap((void *)a->rec_blink, a->rec_blink_len);
    free(a->caches);
    free(a);
}

/* ------------------------------------------------------------- records */
/* Claims up to `want` fresh slots; returns the first index (n in *got) or
 * DTACT__IDX_NONE when the array is fully carved. Any thread. */
static uint32_t dtact__rec_carve(dtact__arena_t *a, uint32_t want, uint32_t *got) {
    uint32_t c = dtact__load_relaxed(&a->rec_carved); // relaxed: the CAS revalidates it
    uint32_t k;
    do {
        if (c >= a->capacity) {
            *got = 0;
            return DTACT__IDX_NONE;
        }
        k = a->capacity - c < want ? a->capacity - c : want;
        // acq_rel: release pairs with the acquire load of rec_carved in
        // dtact__fiber_lookup / dtact__arena_carved (the slots' sg are
        // initialised below, after it: lookup tolerates a zero sg, gen 0).
    } while (!dtact__cas_weak_acq_rel(&a->rec_carved, &c, c + k));
    for (uint32_t i = c; i < c + k; i++) {
        dtact__fiber_t *f = &a->recs[i];
        f->index = i;
        f->free_next = i + 1 < c + k ? i + 1 : DTACT__IDX_NONE;
        // release: pairs with the acquire load of sg in dtact__fiber_lookup
        dtact__store_release(&f->sg, DTACT__SG(1, DTACT__ST_FREE));
    }
    *got = k;
    return c;
}

/* Takes one batch from the shared list into the (empty) cache, or carves a
 * fresh batch. Returns the number of indices added. Cache owner only. */
static uint32_t dtact__rec_refill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t len;
    uint32_t i = dtact__ts_pop(&a->rec_head, a->rec_blink, &len);
    if (i != DTACT__IDX_NONE) {
        dtact__fetch_sub_relaxed(&a->rec_shared_free, (int64_t)len); // relaxed: statistic
    } else {
        i = dtact__rec_carve(a, a->rec_batch, &len);
        if (i == DTACT__IDX_NONE)
            return 0;
    }
    /* push in reverse so the batch head ends on top (LIFO) */
    uint32_t n = wc->rec_n;
    for (uint32_t k = 0; k < len; k++, i = a->recs[i].free_next)
        wc->rec_idx[n + len - 1 - k] = i;
    wc->rec_n = n + len;
    return len;
}

/* Spills the a->rec_batch coldest cache entries as one batch. Owner only. */
static void dtact__rec_spill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t *v = wc->rec_idx, b = a->rec_batch;
    for (uint32_t k = 0; k + 1 < b; k++)
        a->recs[v[k]].free_next = v[k + 1];
    a->recs[v[b - 1]].free_next = DTACT__IDX_NONE;
    dtact__fetch_add_relaxed(&a->rec_shared_free, b); // relaxed: statistic
    dtact__ts_push(&a->rec_head, a->rec_blink, v[0], b);
    memmove(v, v + b, (wc->rec_n - b) * sizeof *v);
    wc->rec_n -= b;
}

static void dtact__cache_fold(dtact__arena_t *a, dtact__wcache_t *wc) {
    int64_t p = dtact__load_relaxed(&wc->rec_pending); // relaxed: owner's own counter
    if (p) {
        dtact__store_relaxed(&wc->rec_pending, 0); // relaxed: get_stats reads it racily
        dtact__stat_fold(&a->rec_in_use, &a->rec_hw, p);
    }
}

static inline void dtact__count(_Atomic uint64_t *c) {
    // relaxed load + store: only the owner writes this counter; get_stats reads it racily
    dtact__store_relaxed(c, dtact__load_relaxed(c) + 1);
}
static inline void dtact__pend(_Atomic int64_t *c, int64_t d) {
    // relaxed load + store: owner-only counter, read racily by get_stats
    dtact__store_relaxed(c, dtact__load_relaxed(c) + d);
}

dtact__fiber_t *dtact__fiber_alloc(dtact__arena_t *a, uint32_t cache) {
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        if (DTACT_LIKELY(wc->rec_n != 0)) {
            dtact__count(&wc->hits);
            dtact__pend(&wc->rec_pending, 1);
            dtact__fiber_t *f = &a->recs[wc->rec_idx[--wc->rec_n]];
            /* The next record handed out is likely cold when many fibers are
             * live (a spawn loop): start fetching both of its lines now. */
            if (wc->rec_n) {
                dtact__fiber_t *nx = &a->recs[wc->rec_idx[wc->rec_n - 1]];
                __builtin_prefetch(nx, 1);
                __builtin_prefetch((char *)nx + 64, 1);
            }
            return f;
        }
        dtact__count(&wc->misses);
        if (dtact__rec_refill(a, wc) == 0) {
            dtact__cache_fold(a, wc);
            return NULL;
        }
        dtact__pend(&wc->rec_pending, 1);
        dtact__cache_fold(a, wc); /* after counting this one: the peak is sampled here */
        return &a->recs[wc->rec_idx[--wc->rec_n]];
    }
    /* host thread (or an out-of-range id): shared list only */
    dtact__fetch_add_relaxed(&a->nc_misses, 1); // relaxed: statistic
    uint32_t len, i = dtact__ts_pop(&a->rec_head, a->rec_blink, &len);
    if (i != DTACT__IDX_NONE) {
        if (len > 1)
            dtact__ts_push(&a->rec_head, a->rec_blink, a->recs[i].free_next, len - 1);
        dtact__fetch_sub_relaxed(&a->rec_shared_free, 1); // relaxed: statistic
    } else {
        i = dtact__rec_carve(a, 1, &len);
        if (i == DTACT__IDX_NONE)
            return NULL;
    }
    dtact__stat_fold(&a->rec_in_use, &a->rec_hw, 1);
    return &a->recs[i];
}

void dtact__fiber_free(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f) {
    // relaxed: the freeing thread owns the record (FINISHED/CANCELLED); no
    // other transition of sg succeeds from here
    uint64_t sg = dtact__load_relaxed(&f->sg);
    // release: pairs with the acquire loads of sg by lookup and by stale
    // wakers/joiners (they see FREE with a newer generation)
    dtact__store_release(&f->sg, DTACT__SG(DTACT__SG_GEN(sg) + 1, DTACT__ST_FREE));
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        if (DTACT_UNLIKELY(wc->rec_n == 2 * a->rec_batch)) {
            dtact__rec_spill(a, wc);
            dtact__cache_fold(a, wc);
        }
        wc->rec_idx[wc->rec_n++] = f->index;
        dtact__pend(&wc->rec_pending, -1);
        return;
    }
    f->free_next = DTACT__IDX_NONE;
    dtact__fetch_add_relaxed(&a->rec_shared_free, 1); // relaxed: statistic
    dtact__ts_push(&a->rec_head, a->rec_blink, f->index, 1);
    dtact__stat_fold(&a->rec_in_use, &a->rec_hw, -1);
}

int dtact__fiber_lookup(dtact__arena_t *a, uint64_t handle, dtact__fiber_t **out) {
    if (!(handle & DTACT__HANDLE_VALID))
        return DTACT_EHANDLE;
    uint32_t idx = dtact__handle_index(handle);
    // acquire: pairs with the CAS that carved the slot in dtact__rec_carve
    if (idx >= a->capacity || idx >= dtact__load_acquire(&a->rec_carved))
        return DTACT_EHANDLE;
    dtact__fiber_t *f = &a->recs[idx];
    // acquire: pairs with the store-release of sg in carve/free (and the
    // scheduler's transitions)
    uint64_t sg = dtact__load_acquire(&f->sg);
    if (dtact__handle_gen(handle) > (DTACT__SG_GEN(sg) & DTACT__HANDLE_GEN_MASK))
        return DTACT_EHANDLE;
    *out = f;
    return DTACT_OK;
}

dtact__fiber_t *dtact__fiber_at(dtact__arena_t *a, uint32_t index) { return &a->recs[index]; }

uint32_t dtact__arena_carved(dtact__arena_t *a) {
    return dtact__load_acquire(&a->rec_carved); // acquire: pairs with the carving CAS
}

uint32_t dtact__arena_capacity(dtact__arena_t *a) { return a->capacity; }

/* ---------------------------------------------------------------- stats */
static uint64_t dtact__nonneg(int64_t v) { return v < 0 ? 0 : (uint64_t)v; }

void dtact__arena_get_stats(dtact__arena_t *a, dtact__arena_stats_t *out) {
    /* All loads relaxed: statistics, summed racily while workers run. */
    int64_t rin = dtact__load_relaxed(&a->rec_in_use), sin = dtact__load_relaxed(&a->stk_in_use);
    uint64_t hits = dtact__load_relaxed(&a->nc_hits), misses = dtact__load_relaxed(&a->nc_misses);
    for (uint32_t i = 0; i < a->ncaches; i++) {
        dtact__wcache_t *wc = &a->caches[i];
        rin += dtact__load_relaxed(&wc->rec_pending); // relaxed: racy statistic
        sin += dtact__load_relaxed(&wc->stk_pending); // relaxed: racy statistic
        hits += dtact__load_relaxed(&wc->hits);       // relaxed: racy statistic
        misses += dtact__load_relaxed(&wc->misses);   // relaxed: racy statistic
    }
    int64_t rhw = dtact__load_relaxed(&a->rec_hw), shw = dtact__load_relaxed(&a->stk_hw); // relaxed: statistic
    out->contexts_in_use = dtact__nonneg(rin);
    out->contexts_high_water = dtact__nonneg(rhw > rin ? rhw : rin);
    out->stacks_in_use = dtact__nonneg(sin);
    out->stacks_high_water = dtact__nonneg(shw > sin ? shw : sin);
    out->stacks_guarded = dtact__load_relaxed(&a->stk_guarded); // relaxed: statistic
    out->stacks_canary = dtact__load_relaxed(&a->stk_canary);   // relaxed: statistic
    out->cache_hits = hits;
    out->cache_misses = misses;
    out->overflows_detected = dtact__load_relaxed(&a->overflows); // relaxed: statistic
}

/* --------------------------------------------------------- debug check */
static int dtact__mark(uint8_t *seen, uint32_t i, uint32_t n) {
    if (i >= n || seen[i])
        return 0;
    seen[i] = 1;
    return 1;
}

int dtact__arena_is_valid(dtact__arena_t *a, dtact__arena_counts_t *out) {
    /* Quiescent only: relaxed loads throughout (no concurrent writer). */
    int ok = 1;
    dtact__arena_counts_t c;
    memset(&c, 0, sizeof c);
    uint32_t carved = dtact__load_relaxed(&a->rec_carved); // relaxed: quiescent
    uint8_t *seen = calloc(carved ? carved : 1, 1);
    if (seen == NULL)
        return 0;
    c.capacity = a->capacity;
    c.carved = carved;
    uint64_t h = dtact__load_relaxed(&a->rec_head); // relaxed: quiescent
    while (ok && DTACT__TS_IDX(h) != DTACT__IDX_NONE) {
        uint64_t link = dtact__load_relaxed(&a->rec_blink[DTACT__TS_IDX(h)]); // relaxed: quiescent
        uint32_t i = DTACT__TS_IDX(h);
        for (uint32_t k = 0; k < DTACT__TS_LINK_LEN(link) && ok; k++, i = a->recs[i].free_next) {
            ok = dtact__mark(seen, i, carved);
            c.shared_free++;
        }
        h = DTACT__TS_LINK_NEXT(link);
    }
    for (uint32_t w = 0; w < a->ncaches && ok; w++) {
        for (uint32_t k = 0; k < a->caches[w].rec_n && ok; k++) {
            ok = dtact__mark(seen, a->caches[w].rec_idx[k], carved);
            c.cached++;
        }
    }
    for (uint32_t i = 0; i < carved && ok; i++) {
        uint64_t sg = dtact__load_relaxed(&a->recs[i].sg); // relaxed: quiescent
        if (DTACT__SG_GEN(sg) < 1 || a->recs[i].index != i)
            ok = 0;
        if (!seen[i])
            c.in_use++;
    }
    free(seen);
    if ((int64_t)c.shared_free != dtact__load_relaxed(&a->rec_shared_free)) // relaxed: quiescent
        ok = 0;
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *sc = &a->cls[k];
        c.stk_carved[k] = dtact__load_relaxed(&sc->carved); // relaxed: quiescent
        uint64_t sh = dtact__load_relaxed(&sc->head);        // relaxed: quiescent
        while (DTACT__TS_IDX(sh) != DTACT__IDX_NONE && ok) {
            uint64_t link = dtact__load_relaxed(&sc->blink[DTACT__TS_IDX(sh)]); // relaxed: quiescent
            c.stk_shared_free[k] += DTACT__TS_LINK_LEN(link);
            if (c.stk_shared_free[k] > c.stk_carved[k])
                ok = 0;
            sh = DTACT__TS_LINK_NEXT(link);
        }
        for (uint32_t w = 0; w < a->ncaches; w++)
            c.stk_cached[k] += a->caches[w].stk[k].n;
        if ((int64_t)c.stk_shared_free[k] != dtact__load_relaxed(&sc->nfree)) // relaxed: quiescent
            ok = 0;
    }
    if (c.shared_free + c.in_use + c.cached + (c.capacity - c.carved) != c.capacity)
        ok = 0;
    if (out)
        *out = c;
    return ok;
}
