/* core/arena.c -- fiber records: a dense, lazily carved array with per-worker
 * caches in front of a magazine depot (Bonwick's magazines); and the arena's
 * create/destroy and statistics.
 *
 * Place in the memory layer. arena.c is the top of it: create/destroy call
 * stack.c (dtact__stack_init/fini) and the OS layer (prim.h) for mappings;
 * stack.c calls only prim.h; overflow.c (the fault report) reads the arena
 * but is called by the runtime, never from here. dtact__stat_fold, shared by
 * the record and stack pools, is an inline in arena_internal.h.
 *
 * Layout. `capacity` records of 128 bytes (two cache lines) in one
 * dtact__mem_map mapping (no swap reservation) that init never touches.
 * Memory follows use:
 *
 *     [0, carved)          records that exist (index and generation set)
 *     [carved, capacity)   never touched (uncarved)
 *
 * Free records live in four places: the owner-only worker caches (rec_idx,
 * up to 2 * rec_batch indices each), full magazines in the shared depot, the
 * host bitmap, and the uncarved tail. No free list runs through the records:
 * spill and refill never load or store a record, so a cold record costs a
 * miss only when its new owner writes it (a store miss: cheap).
 *
 * Magazines. A magazine is rec_batch contiguous uint32_t slots in rec_mag
 * (magazine m: rec_mag[m * rec_batch ...]) plus a link word rec_mlink[m] =
 * len << 32 | next. Two tagged Treiber stacks of magazine ids (the dtact__ts_*
 * helpers in arena_internal.h) form the depot:
 *     rec_head   full magazines: exactly rec_batch indices each, always;
 *     rec_mfree  empty magazines (and rec_mag_carved: ids never used yet,
 *                taken by a bump CAS, so the magazine memory is touched lazily).
 * Spill (cache full): take an empty magazine, memcpy the rec_batch coldest
 * indices into it, push it on rec_head (one CAS). Refill (cache empty): pop a
 * full magazine (one CAS), memcpy its indices into the cache, push it on
 * rec_mfree. A magazine's slots are written only by the thread that holds it
 * (popped it or carved it) and published by its push (release) to the next
 * popper (acquire), so they are plain memory.
 *
 * Host threads (DTACT__NO_CACHE) have no cache and would leave partly filled
 * magazines, which would break the bound below; instead they free into the
 * host bitmap rec_nc_bits (one bit per record, set by CAS), and allocate from
 * it (claim a bit by CAS), else pop a full magazine, keep one index, push the
 * magazine on rec_mfree and set the bits of the other rec_batch - 1, else carve
 * one slot. Caches refill from the bitmap too (up to rec_batch bits) when the
 * depot has no full magazine, before carving. rec_nc_count (bits set) and
 * rec_nc_hint (a word to start at) only steer the scan; a scan that finds
 * nothing while a host free is in flight just falls through (like a pop racing
 * with a push).
 *
 * Why the depot never runs out of magazines (rec_nmag = ceil(capacity /
 * rec_batch) + ncaches + 1). Only a cache's spill takes an empty magazine. A
 * magazine that is not empty-and-free is either (a) loaded: on rec_head, or
 * popped from it and not yet pushed back on rec_mfree; it holds rec_batch free
 * indices that are in no other loaded magazine (a refill copies them into its
 * own cache, and a host alloc into a local array that it releases only after
 * pushing the magazine on rec_mfree, so no index reaches a second magazine
 * while the first is loaded), hence at most floor(capacity / rec_batch) are
 * loaded; or (b) held by a cache owner inside one spill or refill, at most one
 * per cache. So when a spill looks for one there are at most
 * ceil(capacity / rec_batch) + ncaches - 1 others in use: rec_mfree is not
 * empty or an id is still uncarved. Should a pop see rec_mfree empty and the
 * carve then find all ids carved, rec_mfree was refilled in between: retry
 * (lock-free: some other operation completed).
 *
 * ABA. Both magazine stacks use the tagged head (tag << 32 | id, the tag bumped
 * by every successful CAS): a popper that read (t, m) and the link of m, then
 * slept while m was popped, refilled and pushed back (on either stack), finds
 * the tag moved and retries; the link words are atomics, so its stale read of
 * a link being rewritten is not a data race. Host bitmap words are claimed by
 * CAS on the whole word: a bit can only be taken by the CAS that clears it.
 *
 * Invariant (quiescent):
 *     shared_free + in_use + cached + (capacity - carved) == capacity
 *     shared_free == rec_batch * |rec_head| + bits in rec_nc_bits
 *     |rec_head| + |rec_mfree| == mag_carved <= rec_nmag, no id twice
 *     0 <= carved <= capacity, carved only grows
 *     for every carved slot: GEN(sg) >= gen_base, and GEN(sg) - gen_base == number of frees
 * checked by dtact__arena_is_valid. Carving sets f->timer_slot to
 * DTACT__IDX_NONE; from then on the timer heaps own it (timer.c).
 *
 * Who writes what:
 *   rec_carved      CAS from any thread (dtact__rec_carve), only grows.
 *   rec_mag_carved  CAS from a spilling cache owner, only grows.
 *   rec_head, rec_mfree  tagged stacks (arena_internal.h), CAS from any thread.
 *   rec_mlink[m]    by the pusher of magazine m, before its CAS.
 *   rec_mag[m ...]  by the spiller holding m, before pushing it on rec_head.
 *   rec_nc_bits     CAS from any thread (host frees set, takers clear).
 *   f->sg           by carving (gen_base, FREE) and by free (gen + 1, FREE),
 *                   store-release, so a stale handle reads "finished".
 *   caches[i]       only by the thread that owns cache id i (no atomics except
 *                   the statistics, which get_stats reads racily).
 *
 * Paths. Alloc through a cache pops rec_idx[--n] (no atomics) and prefetches
 * the next record; an empty cache refills (above) or carves up to rec_batch
 * fresh slots (one CAS on rec_carved). Free pushes into the cache; a full
 * cache (2 * rec_batch) spills its rec_batch coldest entries (above).
 *
 * Statistics. in_use / high water are folded from each cache's `pending` count
 * at every refill and spill (once per <= 32 operations) and from every
 * NO_CACHE call; get_stats adds the unfolded pending counts. So in_use is exact
 * when quiescent, and the high water is sampled: it can miss a peak that lasts
 * less than one cache refill (it is never above the true peak).
 */
#include <stdlib.h>
#include <string.h>

#include "arena_internal.h"
#include "dtact.h"
#include "prim.h"

_Static_assert(sizeof(dtact__fiber_t) == 128, "a fiber record is two cache lines");
/* types.h declares no _Alignas(64) on the record; the array below is page
 * aligned and the stride is 128, so every record is 64-byte aligned anyway. */
_Static_assert(sizeof(dtact__fiber_t) % DTACT_CACHE_LINE == 0, "records stay line aligned");
_Static_assert(DTACT__MAX_CAPACITY < DTACT__IDX_NONE, "IDX_NONE is never an index");
_Static_assert(DTACT__REC_BATCH * 2 == DTACT__REC_CACHE, "a spill halves the cache");

static size_t dtact__round_page(size_t n, size_t page) { return (n + page - 1) & ~(page - 1); }

/* ------------------------------------------------------------ create */
int dtact__arena_create(dtact__arena_t **out, const dtact__arena_config_t *cfg) {
    if (out == NULL) return DTACT_ECONFIG;
    *out = NULL;
    if (cfg == NULL || cfg->capacity == 0 || cfg->capacity > DTACT__MAX_CAPACITY || cfg->ncaches > DTACT__MAX_CACHES)
        return DTACT_ECONFIG;
    if (cfg->default_stack > DTACT__STACK_MAX) return DTACT_ECONFIG;

    dtact__arena_t *a = NULL;
    if ((a = dtact__heap_alloc(DTACT_CACHE_LINE, sizeof *a)) == NULL) return DTACT_ENOMEM;
    memset(a, 0, sizeof *a);
    a->capacity = cfg->capacity;
    a->gen_base = cfg->gen_base & DTACT__HANDLE_GEN_MASK;
    if (a->gen_base == 0) a->gen_base = 1;
    a->ncaches = cfg->ncaches;
    /* Small pools get small caches, so that records idle in one worker's cache
     * cannot starve other threads: at most a quarter of the pool is cached. */
    a->rec_batch = DTACT__REC_BATCH;
    while (a->rec_batch > 1 && (uint64_t)a->rec_batch * 2 * (cfg->ncaches ? cfg->ncaches : 1) > cfg->capacity / 4)
        a->rec_batch /= 2;
    a->page = dtact__page_size();
    dtact__store_relaxed(&a->rec_head, DTACT__TS_EMPTY);  // relaxed: published by *out's hand-off
    dtact__store_relaxed(&a->rec_mfree, DTACT__TS_EMPTY); // relaxed: published by *out's hand-off
    /* Enough magazines for every index at once plus one per cache plus one:
     * see "Why the depot never runs out" above. */
    a->rec_nmag = (a->capacity + a->rec_batch - 1) / a->rec_batch + a->ncaches + 1;
    a->rec_nc_words = (a->capacity + 63) / 64;
    int rc = DTACT_ENOMEM;

    a->recs_len = dtact__round_page((size_t)a->capacity * sizeof(dtact__fiber_t), a->page);
    a->recs = dtact__mem_map(a->recs_len);
    if (a->recs == NULL) goto fail;
    /* Past its first 2 MiB (16384 records) the array may take transparent
     * huge pages: a spawn loop that outgrows its previous peak of live fibers
     * carves fresh records on its hot path, and a page fault per 32 of them
     * costs microseconds (40 us on the 2-core benchmark VM, where W3 through
     * launch + await kept growing its peak and faulted about 1000 times per
     * million spawns). A pool that stays under 16384 records keeps 4 KiB
     * steps; above, memory follows use in 2 MiB steps where THP is on. */
    uintptr_t hp = ((uintptr_t)a->recs + DTACT__HUGE_PAGE + DTACT__HUGE_PAGE - 1) & ~(uintptr_t)(DTACT__HUGE_PAGE - 1);
    if (hp < (uintptr_t)a->recs + a->recs_len) dtact__mem_hugepages((void *)hp, (uintptr_t)a->recs + a->recs_len - hp);
    /* magazines, their links and the host bitmap: reserved, touched on use */
    a->rec_mag_len = dtact__round_page((size_t)a->rec_nmag * a->rec_batch * sizeof(uint32_t), a->page);
    a->rec_mag = dtact__mem_map(a->rec_mag_len);
    if (a->rec_mag == NULL) goto fail;
    a->rec_mlink_len = dtact__round_page((size_t)a->rec_nmag * sizeof(uint64_t), a->page);
    a->rec_mlink = dtact__mem_map(a->rec_mlink_len);
    if (a->rec_mlink == NULL) goto fail;
    a->rec_nc_bits_len = dtact__round_page((size_t)a->rec_nc_words * sizeof(uint64_t), a->page);
    a->rec_nc_bits = dtact__mem_map(a->rec_nc_bits_len);
    if (a->rec_nc_bits == NULL) goto fail;
    if (a->ncaches) {
        if ((a->caches = dtact__heap_alloc(DTACT_CACHE_LINE, a->ncaches * sizeof(dtact__wcache_t))) == NULL) {
            a->caches = NULL;
            goto fail;
        }
        memset(a->caches, 0, a->ncaches * sizeof(dtact__wcache_t));
    }
    rc = dtact__stack_init(a, cfg);
    if (rc != DTACT_OK) goto fail;
    *out = a;
    return DTACT_OK;
fail:
    dtact__arena_destroy(a);
    return rc;
}

void dtact__arena_destroy(dtact__arena_t *a) {
    if (a == NULL) return;
    dtact__stack_fini(a);
    if (a->recs) dtact__mem_release(a->recs, a->recs_len);
    if (a->rec_mag) dtact__mem_release(a->rec_mag, a->rec_mag_len);
    if (a->rec_mlink) dtact__mem_release((void *)a->rec_mlink, a->rec_mlink_len);
    if (a->rec_nc_bits) dtact__mem_release((void *)a->rec_nc_bits, a->rec_nc_bits_len);
    dtact__heap_free(a->caches);
    dtact__heap_free(a);
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
        dtact__store_relaxed(&f->timer_slot, DTACT__IDX_NONE); // relaxed: before the release store below
        // release: pairs with the acquire load of sg in dtact__fiber_lookup
        dtact__store_release(&f->sg, DTACT__SG(a->gen_base, DTACT__ST_FREE));
    }
    *got = k;
    return c;
}

/* The rec_batch slots of magazine m. */
static inline uint32_t *dtact__mag(dtact__arena_t *a, uint32_t m) { return a->rec_mag + (size_t)m * a->rec_batch; }

/* Marks record i free in the host bitmap. Any thread. */
static void dtact__nc_put(dtact__arena_t *a, uint32_t i) {
    _Atomic uint64_t *w = &a->rec_nc_bits[i >> 6];
    uint64_t bit = (uint64_t)1 << (i & 63);
    uint64_t v = dtact__load_relaxed(w); // relaxed: the CAS below revalidates it
    // release: publishes the record (its sg and the last owner's writes) to
    // the taker's acquire CAS in dtact__nc_take; every write to a bitmap word
    // is an RMW, so the release sequence reaches any later taker
    while (!dtact__cas_weak_release(w, &v, v | bit)) {
    }
    dtact__store_relaxed(&a->rec_nc_hint, i >> 6); // relaxed: a scan hint only
    dtact__fetch_add_relaxed(&a->rec_nc_count, 1); // relaxed: a scan hint only
}

/* Claims up to `want` records from the host bitmap into out[]; returns how
 * many. Any thread. Cheap when the bitmap is (nearly) empty: rec_nc_count. */
static uint32_t dtact__nc_take(dtact__arena_t *a, uint32_t *out, uint32_t want) {
    if (dtact__load_relaxed(&a->rec_nc_count) <= 0) // relaxed: a hint; a miss falls through
        return 0;
    uint32_t nw = a->rec_nc_words, got = 0;
    uint32_t w = dtact__load_relaxed(&a->rec_nc_hint); // relaxed: a hint
    if (w >= nw) w = 0;
    for (uint32_t scanned = 0; scanned < nw && got < want; scanned++, w = w + 1 == nw ? 0 : w + 1) {
        _Atomic uint64_t *wp = &a->rec_nc_bits[w];
        uint64_t v = dtact__load_relaxed(wp); // relaxed: the CAS below revalidates it
        while (v != 0) {
            uint64_t take = v;
            uint32_t need = want - got;
            if ((uint32_t)__builtin_popcountll(v) > need) { /* the lowest `need` bits */
                uint64_t t = v;
                take = 0;
                for (uint32_t k = 0; k < need; k++, t &= t - 1)
                    take |= t & (~t + 1);
            }
            // acquire: pairs with the release CAS of dtact__nc_put (the freer's
            // writes to the records happen before ours)
            if (dtact__cas_weak_acquire(wp, &v, v & ~take)) {
                for (; take; take &= take - 1)
                    out[got++] = w * 64u + (uint32_t)__builtin_ctzll(take);
                break;
            }
        }
        if (got == want) {
            dtact__store_relaxed(&a->rec_nc_hint, w); // relaxed: a hint (bits may remain here)
            break;
        }
    }
    if (got) dtact__fetch_sub_relaxed(&a->rec_nc_count, (int64_t)got); // relaxed: a hint
    return got;
}

/* An empty magazine for a spill: from rec_mfree, else a never used id. Never
 * fails (see "Why the depot never runs out"). Cache owner only. */
static uint32_t dtact__mag_get(dtact__arena_t *a) {
    for (;;) {
        uint32_t len, m = dtact__ts_pop(&a->rec_mfree, a->rec_mlink, &len);
        if (m != DTACT__IDX_NONE) return m;
        uint32_t c = dtact__load_relaxed(&a->rec_mag_carved); // relaxed: the CAS revalidates it
        while (c < a->rec_nmag) {
            // acquire: stronger than needed (a fresh id carries no data; its
            // slots and link are published by our own push), used as a CAS
            if (dtact__cas_weak_acquire(&a->rec_mag_carved, &c, c + 1)) return c;
        }
        /* all carved: rec_mfree was refilled since the pop above; retry */
    }
}

/* Fills the (empty) cache from a full magazine, else from the host bitmap,
 * else by carving fresh slots. Returns the number of indices added. Touches
 * no record except when carving. Cache owner only. */
static uint32_t dtact__rec_refill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t n = wc->rec_n, len;
    uint32_t m = dtact__ts_pop(&a->rec_head, a->rec_mlink, &len);
    if (m != DTACT__IDX_NONE) {
        /* same order as spilled: the hottest of the batch ends on top */
        memcpy(wc->rec_idx + n, dtact__mag(a, m), len * sizeof(uint32_t));
        dtact__ts_push(&a->rec_mfree, a->rec_mlink, m, 0);
        dtact__fetch_sub_relaxed(&a->rec_shared_free, (int64_t)len); // relaxed: statistic
    } else if ((len = dtact__nc_take(a, wc->rec_idx + n, a->rec_batch)) != 0) {
        dtact__fetch_sub_relaxed(&a->rec_shared_free, (int64_t)len); // relaxed: statistic
    } else {
        uint32_t first = dtact__rec_carve(a, a->rec_batch, &len);
        if (first == DTACT__IDX_NONE) return 0;
        /* lowest index on top: fresh records are handed out in address order */
        for (uint32_t k = 0; k < len; k++)
            wc->rec_idx[n + len - 1 - k] = first + k;
    }
    wc->rec_n = n + len;
    return len;
}

/* Spills the a->rec_batch coldest cache entries as one full magazine (one CAS
 * to get an empty magazine, one to push it). Owner only. */
static void dtact__rec_spill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t *v = wc->rec_idx, b = a->rec_batch;
    uint32_t m = dtact__mag_get(a);
    memcpy(dtact__mag(a, m), v, b * sizeof(uint32_t));
    dtact__fetch_add_relaxed(&a->rec_shared_free, b); // relaxed: statistic
    dtact__ts_push(&a->rec_head, a->rec_mlink, m, b);
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
            /* The records handed out next are likely cold when many fibers
             * are live (a spawn loop): start fetching the first line of the
             * one DTACT__REC_AHEAD allocations ahead, so that its miss (often
             * a line another worker wrote last) overlaps with the spawns in
             * between. Only the first line: a spawn writes the second only
             * when it needs it (spawn.c), and fetching it would pull it away
             * from the worker that last ran the record, for nothing. */
            if (wc->rec_n >= DTACT__REC_AHEAD)
                __builtin_prefetch(&a->recs[wc->rec_idx[wc->rec_n - DTACT__REC_AHEAD]], 1);
            return f;
        }
        dtact__count(&wc->misses);
        if (dtact__rec_refill(a, wc) == 0) {
            dtact__cache_fold(a, wc);
            return NULL;
        }
        dtact__pend(&wc->rec_pending, 1);
        dtact__cache_fold(a, wc); /* after counting this one: the peak is sampled here */
        dtact__fiber_t *f = &a->recs[wc->rec_idx[--wc->rec_n]];
        for (uint32_t k = 1; k <= DTACT__REC_AHEAD && k <= wc->rec_n; k++) /* as above: the refill is cold */
            __builtin_prefetch(&a->recs[wc->rec_idx[wc->rec_n - k]], 1);
        return f;
    }
    /* host thread (or an out-of-range id): the host bitmap, else one full
     * magazine (keep one index, the rest go to the bitmap), else carve */
    dtact__fetch_add_relaxed(&a->nc_misses, 1); // relaxed: statistic
    uint32_t i;
    if (dtact__nc_take(a, &i, 1) == 1) {
        dtact__fetch_sub_relaxed(&a->rec_shared_free, 1); // relaxed: statistic
    } else {
        uint32_t len, m = dtact__ts_pop(&a->rec_head, a->rec_mlink, &len);
        if (m != DTACT__IDX_NONE) {
            uint32_t tmp[DTACT__REC_BATCH];
            memcpy(tmp, dtact__mag(a, m), len * sizeof(uint32_t));
            /* the magazine goes back before its indices leave it (the bound) */
            dtact__ts_push(&a->rec_mfree, a->rec_mlink, m, 0);
            i = tmp[len - 1];
            for (uint32_t k = 0; k + 1 < len; k++)
                dtact__nc_put(a, tmp[k]);
            dtact__fetch_sub_relaxed(&a->rec_shared_free, 1); // relaxed: statistic
        } else {
            i = dtact__rec_carve(a, 1, &len);
            if (i == DTACT__IDX_NONE) return NULL;
        }
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
        wc->rec_idx[wc->rec_n++] = (uint32_t)(f - a->recs); /* not f->index: line 1 may be cold here */
        dtact__pend(&wc->rec_pending, -1);
        return;
    }
    dtact__fetch_add_relaxed(&a->rec_shared_free, 1); // relaxed: statistic
    dtact__nc_put(a, (uint32_t)(f - a->recs));
    dtact__stat_fold(&a->rec_in_use, &a->rec_hw, -1);
}

int dtact__fiber_lookup(dtact__arena_t *a, uint64_t handle, dtact__fiber_t **out) {
    if (!(handle & DTACT__HANDLE_VALID)) return DTACT_EHANDLE;
    uint32_t idx = dtact__handle_index(handle);
    // acquire: pairs with the CAS that carved the slot in dtact__rec_carve
    if (idx >= a->capacity || idx >= dtact__load_acquire(&a->rec_carved)) return DTACT_EHANDLE;
    dtact__fiber_t *f = &a->recs[idx];
    // acquire: pairs with the store-release of sg in carve/free (and the
    // scheduler's transitions)
    uint64_t sg = dtact__load_acquire(&f->sg);
    uint64_t hgen = dtact__handle_gen(handle);
    if (hgen < a->gen_base || hgen > (DTACT__SG_GEN(sg) & DTACT__HANDLE_GEN_MASK)) return DTACT_EHANDLE;
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
    if (i >= n || seen[i]) return 0;
    seen[i] = 1;
    return 1;
}

int dtact__arena_is_valid(dtact__arena_t *a, dtact__arena_counts_t *out) {
    /* Quiescent only: relaxed loads throughout (no concurrent writer). */
    int ok = 1;
    dtact__arena_counts_t c;
    memset(&c, 0, sizeof c);
    uint32_t carved = dtact__load_relaxed(&a->rec_carved); // relaxed: quiescent
    uint8_t *seen = dtact__heap_calloc(carved ? carved : 1, 1);
    if (seen == NULL) return 0;
    c.capacity = a->capacity;
    c.carved = carved;
    /* magazines: each carved id on exactly one stack; full ones hold rec_batch */
    uint32_t mcarved = dtact__load_relaxed(&a->rec_mag_carved); // relaxed: quiescent
    uint8_t *mseen = dtact__heap_calloc(mcarved ? mcarved : 1, 1);
    if (mseen == NULL || mcarved > a->rec_nmag) ok = 0;
    c.mags_carved = mcarved;
    uint64_t h = dtact__load_relaxed(&a->rec_head); // relaxed: quiescent
    while (ok && DTACT__TS_IDX(h) != DTACT__IDX_NONE) {
        uint32_t m = DTACT__TS_IDX(h);
        ok = dtact__mark(mseen, m, mcarved);
        uint64_t link = ok ? dtact__load_relaxed(&a->rec_mlink[m]) : 0; // relaxed: quiescent
        if (DTACT__TS_LINK_LEN(link) != a->rec_batch) ok = 0;
        for (uint32_t k = 0; k < a->rec_batch && ok; k++) {
            ok = dtact__mark(seen, dtact__mag(a, m)[k], carved);
            c.shared_free++;
        }
        c.mags_full++;
        h = DTACT__TS_LINK_NEXT(link);
    }
    h = dtact__load_relaxed(&a->rec_mfree); // relaxed: quiescent
    while (ok && DTACT__TS_IDX(h) != DTACT__IDX_NONE) {
        ok = dtact__mark(mseen, DTACT__TS_IDX(h), mcarved);
        c.mags_free++;
        h = ok ? DTACT__TS_LINK_NEXT(dtact__load_relaxed(&a->rec_mlink[DTACT__TS_IDX(h)])) : 0; // relaxed: quiescent
    }
    if (c.mags_full + c.mags_free != mcarved) ok = 0;
    dtact__heap_free(mseen);
    /* host bitmap */
    for (uint32_t w = 0; w < a->rec_nc_words && ok; w++) {
        uint64_t v = dtact__load_relaxed(&a->rec_nc_bits[w]); // relaxed: quiescent
        for (; v && ok; v &= v - 1) {
            ok = dtact__mark(seen, w * 64u + (uint32_t)__builtin_ctzll(v), carved);
            c.nc_free++;
        }
    }
    c.shared_free += c.nc_free;
    if ((int64_t)c.nc_free != dtact__load_relaxed(&a->rec_nc_count)) // relaxed: quiescent
        ok = 0;
    for (uint32_t w = 0; w < a->ncaches && ok; w++) {
        for (uint32_t k = 0; k < a->caches[w].rec_n && ok; k++) {
            ok = dtact__mark(seen, a->caches[w].rec_idx[k], carved);
            c.cached++;
        }
    }
    for (uint32_t i = 0; i < carved && ok; i++) {
        uint64_t sg = dtact__load_relaxed(&a->recs[i].sg); // relaxed: quiescent
        if (DTACT__SG_GEN(sg) < a->gen_base || a->recs[i].index != i) ok = 0;
        if (!seen[i]) c.in_use++;
    }
    dtact__heap_free(seen);
    if ((int64_t)c.shared_free != dtact__load_relaxed(&a->rec_shared_free)) // relaxed: quiescent
        ok = 0;
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *sc = &a->cls[k];
        c.stk_carved[k] = dtact__load_relaxed(&sc->carved); // relaxed: quiescent
        uint64_t dirty = 0;
        for (int list = 0; list < 2; list++) {                                /* head (warm), then clean (purged) */
            uint64_t sh = dtact__load_relaxed(list ? &sc->clean : &sc->head); // relaxed: quiescent
            while (DTACT__TS_IDX(sh) != DTACT__IDX_NONE && ok) {
                uint64_t link = dtact__load_relaxed(&sc->blink[DTACT__TS_IDX(sh)]); // relaxed: quiescent
                c.stk_shared_free[k] += DTACT__TS_LINK_LEN(link);
                if (!list) dirty += DTACT__TS_LINK_LEN(link);
                if (c.stk_shared_free[k] > c.stk_carved[k]) ok = 0;
                sh = DTACT__TS_LINK_NEXT(link);
            }
        }
        if ((int64_t)dirty != dtact__load_relaxed(&sc->ndirty)) ok = 0; // relaxed: quiescent
        for (uint32_t w = 0; w < a->ncaches; w++)
            c.stk_cached[k] += a->caches[w].stk[k].n;
        if ((int64_t)c.stk_shared_free[k] != dtact__load_relaxed(&sc->nfree)) // relaxed: quiescent
            ok = 0;
    }
    if (c.shared_free + c.in_use + c.cached + (c.capacity - c.carved) != c.capacity) ok = 0;
    if (out) *out = c;
    return ok;
}
