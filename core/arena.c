/* core/arena.c -- fiber records: a dense, lazily carved array with per-worker
 * caches in front of an address-ordered depot (a two-level bitmap); and the
 * arena's create/destroy and statistics.
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
 * Free records live in three places: the owner-only worker caches (rec_idx,
 * up to 2 * rec_batch indices each), the depot (a bitmap, rec_bits: one bit
 * per free record), and the uncarved tail. No free list runs through the
 * records: spill and refill never load or store a record, so a cold record
 * costs a miss only when its new owner writes it (a store miss: cheap).
 *
 * The depot hands records out in address order. Spill (cache full) groups the
 * rec_batch coldest indices by bitmap word and sets their bits, one RMW per
 * word; refill (cache empty) first tries the few words its own cache spilled
 * into last (rec_home_lo..hi), then claims bits lowest first, by CAS, sweeping
 * forward from rec_cursor (next fit, wrapping once), and puts the lowest index
 * on top of the cache; carving hands out fresh slots in address order too.
 * Why the sweep: records are freed by whichever worker finishes the fiber, in
 * completion order, and LIFO magazines handed them back in that order: a
 * program that launches on one worker while another runs the fibers (the
 * original's dtact_fiber_launch + dtact_await) got its records shuffled a
 * little more by every round (57% of consecutive launches on neighbouring
 * records after ten rounds of a million), so launch, run and await missed the
 * cache on nearly every record (W3 1M: 145-227 ns/task against 60-75 for
 * spawn + join, whose joins free in handle order). The sweep also reuses the
 * records freed longest ago first, which the finisher no longer holds. Why the
 * home: a worker that frees what it allocates (fork-join) gets back records
 * still in its cache, as the magazines gave them (W5 fib(25) was ~4% slower
 * with the sweep alone); a worker that only allocates has no home.
 *
 * Summary. rec_sum has one bit per rec_bits word, set while the word may be
 * non-zero, so a sweep skips 64 empty words (4096 in-use records) per load.
 * A put whose RMW found its word empty sets the word's summary bit; a taker
 * that empties a word (or meets a summary bit whose word is empty) clears it
 * and then re-reads the word, and sets the bit again if a put filled the word
 * meanwhile. All four are seq_cst: either the put's summary set comes after
 * the clear in the summary word's order, or the taker's re-read comes after
 * the put's word RMW; so a non-zero word never keeps a clear summary bit
 * (quiescent), and no free record is stranded. rec_shared_free (bits set:
 * a put adds before it sets its bits, a take subtracts after it cleared its
 * own, so the count is never below the bits set) lets a take
 * skip an empty depot; a take that finds nothing while a put is in flight
 * just falls through (to carving, or NULL when the pool is exhausted), like a
 * pop racing with a push.
 *
 * Host threads (DTACT__NO_CACHE) have no cache: they take one bit, else carve
 * one slot, and free by setting one bit.
 *
 * Generations. rec_gen[i] mirrors record i's generation after its last free
 * at a detached fiber's end (0 before), stored with release after sg: an
 * await of a released handle (join.c) reads 8 dense bytes in handle order,
 * not a record line another worker may have rewritten since. A join's reap
 * skips the mirror (its waiters hold the record; a store into a line that 8
 * records freed on different workers share cost W5 ~5%), so rec_gen may lag
 * GEN(sg), never lead it: dtact__fiber_released answers only when certain
 * (the handle is older than rec_gen); anything else takes the record path.
 *
 * ABA. A bitmap word is claimed by CAS on the whole word: a bit can only be
 * taken by the CAS that clears it, and a record's index reaches the depot
 * only when its owner frees it.
 *
 * Invariant (quiescent):
 *     shared_free + in_use + cached + (capacity - carved) == capacity
 *     shared_free == bits in rec_bits == rec_shared_free, only carved indices
 *     every non-zero rec_bits word has its rec_sum bit set
 *     0 <= carved <= capacity, carved only grows
 *     for every carved slot: GEN(sg) >= gen_base, and GEN(sg) - gen_base == number of frees
 *     for every carved slot: rec_gen <= GEN(sg), and rec_gen is 0 or > gen_base
 * checked by dtact__arena_is_valid. Carving sets f->timer_slot to
 * DTACT__IDX_NONE; from then on the timer heaps own it (timer.c).
 *
 * Who writes what:
 *   rec_carved      CAS from any thread (dtact__rec_carve), only grows.
 *   rec_bits        RMW from any thread (puts set, takers clear by CAS).
 *   rec_sum         RMW from any thread (see Summary).
 *   rec_cursor, rec_shared_free  relaxed, from any thread (hints, a count).
 *   f->sg           by carving (gen_base, FREE) and by free (gen + 1, FREE),
 *                   store-release, so a stale handle reads "finished".
 *   rec_gen[i]      by a detached fiber's free, store-release after sg.
 *   caches[i]       only by the thread that owns cache id i (no atomics except
 *                   the statistics, which get_stats reads racily).
 *
 * Paths. Alloc through a cache pops rec_idx[--n] (no atomics) and prefetches
 * the record DTACT__REC_AHEAD allocations ahead; an empty cache refills
 * (above) or carves up to rec_batch fresh slots (one CAS on rec_carved). Free
 * pushes into the cache; a full cache (2 * rec_batch) spills its rec_batch
 * coldest entries (above).
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
    a->rec_words = (a->capacity + 63) / 64;
    a->rec_sum_words = (a->rec_words + 63) / 64;
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
    /* the depot bitmap, its summary and the generations: reserved, touched on use */
    a->rec_bits_len = dtact__round_page((size_t)a->rec_words * sizeof(uint64_t), a->page);
    a->rec_bits = dtact__mem_map(a->rec_bits_len);
    if (a->rec_bits == NULL) goto fail;
    a->rec_sum_len = dtact__round_page((size_t)a->rec_sum_words * sizeof(uint64_t), a->page);
    a->rec_sum = dtact__mem_map(a->rec_sum_len);
    if (a->rec_sum == NULL) goto fail;
    a->rec_gen_len = dtact__round_page((size_t)a->capacity * sizeof(uint64_t), a->page);
    a->rec_gen = dtact__mem_map(a->rec_gen_len);
    if (a->rec_gen == NULL) goto fail;
    if (a->ncaches) {
        if ((a->caches = dtact__heap_alloc(DTACT_CACHE_LINE, a->ncaches * sizeof(dtact__wcache_t))) == NULL) {
            a->caches = NULL;
            goto fail;
        }
        memset(a->caches, 0, a->ncaches * sizeof(dtact__wcache_t));
        for (uint32_t c = 0; c < a->ncaches; c++)
            a->caches[c].rec_home_lo = 1; /* no home yet (lo > hi) */
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
    if (a->rec_bits) dtact__mem_release((void *)a->rec_bits, a->rec_bits_len);
    if (a->rec_sum) dtact__mem_release((void *)a->rec_sum, a->rec_sum_len);
    if (a->rec_gen) dtact__mem_release((void *)a->rec_gen, a->rec_gen_len);
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

/* Sets `bits` in bitmap word w, and the summary bit of a word that was empty
 * (records going back, counted by the caller). Any thread. */
static void dtact__depot_put_word(dtact__arena_t *a, uint32_t w, uint64_t bits) {
    // seq_cst: release publishes the records (sg, the last owner's writes) to the taker's acquire
    // CAS in dtact__depot_word (every write here is an RMW: the release sequence reaches any later
    // taker); seq_cst orders it before our summary update against a taker's clear-then-reread
    uint64_t old = dtact__fetch_or_seq_cst(&a->rec_bits[w], bits);
    // seq_cst: the putter's half of the summary protocol (dtact__sum_clear)
    if (old == 0) dtact__fetch_or_seq_cst(&a->rec_sum[w >> 6], (uint64_t)1 << (w & 63));
}

/* Sets the bits of the n records idx[] (ascending) in the depot: one RMW per
 * bitmap word they share. Any thread. */
static void dtact__depot_put(dtact__arena_t *a, const uint32_t *idx, uint32_t n) {
    /* counted first, so the count never falls below the bits set (takers
     * subtract after they cleared theirs): a take skips only an empty depot */
    dtact__fetch_add_relaxed(&a->rec_shared_free, (int64_t)n); // relaxed: a count, and a scan hint
    int run = idx[n - 1] - idx[0] == n - 1; /* consecutive (ascending, no repeats): masks, not bit by bit */
    for (uint32_t k = 0; k < n;) {
        uint32_t w = idx[k] >> 6;
        uint64_t bits = 0;
        if (run) {
            uint32_t lo = idx[k] & 63, m = n - k < 64 - lo ? n - k : 64 - lo;
            bits = (m == 64 ? ~(uint64_t)0 : (((uint64_t)1 << m) - 1)) << lo;
            k += m;
        }
        for (; k < n && idx[k] >> 6 == w; k++)
            bits |= (uint64_t)1 << (idx[k] & 63);
        dtact__depot_put_word(a, w, bits);
    }
}

/* Clears the summary bit of bitmap word w, which was seen empty, unless a put
 * filled the word again meanwhile. Any thread. */
static void dtact__sum_clear(dtact__arena_t *a, uint32_t w) {
    _Atomic uint64_t *sp = &a->rec_sum[w >> 6];
    uint64_t bit = (uint64_t)1 << (w & 63);
    // seq_cst (this RMW, the load and the re-set): with the putter's two
    // seq_cst RMWs (word, then summary) either the putter's summary set comes
    // after our clear, or our re-read sees its word
    dtact__fetch_and_seq_cst(sp, ~bit);
    if (dtact__load_seq_cst(&a->rec_bits[w]) != 0) dtact__fetch_or_seq_cst(sp, bit);
}

/* Claims up to `need` (>= 1) records of bitmap word w, lowest first, into
 * out[]; returns how many. Any thread. */
static uint32_t dtact__depot_word(dtact__arena_t *a, uint32_t w, uint32_t *out, uint32_t need) {
    _Atomic uint64_t *wp = &a->rec_bits[w];
    uint64_t v = dtact__load_relaxed(wp), take; // relaxed: the CAS below revalidates it
    for (;;) {
        if (v == 0) {
            dtact__sum_clear(a, w); /* a stale summary bit */
            return 0;
        }
        uint32_t low = (uint32_t)__builtin_ctzll(v);
        uint64_t run = need >= 64 - low ? ~(uint64_t)0 << low : (((uint64_t)1 << need) - 1) << low;
        uint64_t rest;
        if ((v & run) == run) {
            rest = v & ~run; /* the common case: `need` free records in a row from the lowest */
        } else {
            rest = v; /* keep all but the lowest `need` */
            for (uint32_t k = 0; k < need && rest; k++)
                rest &= rest - 1;
        }
        take = v & ~rest;
        // acquire: pairs with the release half of dtact__depot_put's RMW (the
        // freer's writes to the records happen before ours)
        if (dtact__cas_weak_acquire(wp, &v, rest)) break;
    }
    uint32_t got = 0;
    for (uint64_t t = take; t; t &= t - 1)
        out[got++] = w * 64u + (uint32_t)__builtin_ctzll(t);
    if (v == take) dtact__sum_clear(a, w); /* we emptied it */
    return got;
}

/* Claims up to `want` records from the depot into out[], in address order
 * from the cursor on (next fit, wrapping once); returns how many. Any thread.
 * Cheap when the depot is (nearly) empty: rec_shared_free. */
static uint32_t dtact__depot_take(dtact__arena_t *a, uint32_t *out, uint32_t want) {
    if (dtact__load_relaxed(&a->rec_shared_free) <= 0) // relaxed: a hint; a miss falls through
        return 0;
    uint32_t ns = a->rec_sum_words, got = 0;
    uint32_t w0 = dtact__load_relaxed(&a->rec_cursor); // relaxed: a hint
    if (w0 >= a->rec_words) w0 = 0;
    uint32_t s = w0 >> 6, w = w0;
    /* pass 0 starts at the cursor's word; pass ns rereads the cursor's summary
     * word whole (the words below the cursor) */
    for (uint32_t pass = 0; pass <= ns && got < want; pass++, s = s + 1 == ns ? 0 : s + 1) {
        uint64_t sv = dtact__load_relaxed(&a->rec_sum[s]); // relaxed: a hint; the word's CAS decides
        if (pass == 0) sv &= ~(uint64_t)0 << (w0 & 63);
        for (; sv && got < want; sv &= sv - 1) {
            w = s * 64u + (uint32_t)__builtin_ctzll(sv);
            got += dtact__depot_word(a, w, out + got, want - got);
        }
    }
    if (got) {
        dtact__store_relaxed(&a->rec_cursor, w);                     // relaxed: a hint (bits may remain there)
        dtact__fetch_sub_relaxed(&a->rec_shared_free, (int64_t)got); // relaxed: a count, and a hint
    }
    return got;
}

/* Fills the (empty) cache from the depot, else by carving fresh slots.
 * Returns the number of indices added. Touches no record except when carving.
 * Cache owner only. Both hand out records in address order: lowest on top. */
static uint32_t dtact__rec_refill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t n = wc->rec_n, len = 0, tmp[DTACT__REC_BATCH];
    /* Home first: what this worker spilled last is likely still in its cache
     * (fork-join: the records it freed are the ones it reuses, as with LIFO
     * magazines); a worker that only allocates has no home and sweeps. */
    for (uint32_t w = wc->rec_home_lo; w <= wc->rec_home_hi && len < a->rec_batch; w++)
        if (dtact__load_relaxed(&a->rec_bits[w])) // relaxed: a hint; the word's CAS decides
            len += dtact__depot_word(a, w, tmp + len, a->rec_batch - len);
    wc->rec_home_lo = 1;
    wc->rec_home_hi = 0;
    if (len) dtact__fetch_sub_relaxed(&a->rec_shared_free, (int64_t)len); // relaxed: a count, and a hint
    if (len < a->rec_batch) len += dtact__depot_take(a, tmp + len, a->rec_batch - len);
    if (len != 0) {
        for (uint32_t k = 0; k < len; k++)
            wc->rec_idx[n + len - 1 - k] = tmp[k];
    } else {
        uint32_t first = dtact__rec_carve(a, a->rec_batch, &len);
        if (first == DTACT__IDX_NONE) return 0;
        for (uint32_t k = 0; k < len; k++)
            wc->rec_idx[n + len - 1 - k] = first + k;
    }
    wc->rec_n = n + len;
    return len;
}

/* Returns the a->rec_batch coldest cache entries to the depot, one RMW per bitmap word: an ascending run
 * (joins in handle order) as it is, else grouped by word as they come (a sort cost ~86 Ir each). Owner only. */
static void dtact__rec_spill(dtact__arena_t *a, dtact__wcache_t *wc) {
    uint32_t *v = wc->rec_idx, gw[DTACT__REC_BATCH], b = a->rec_batch, ng = 0, k = 1, lo = v[0] >> 6,
             hi = v[b - 1] >> 6;
    uint64_t gb[DTACT__REC_BATCH];
    while (k < b && v[k] > v[k - 1])
        k++;
    if (k == b) {
        dtact__depot_put(a, v, b);
    } else {
        for (k = 0, lo = UINT32_MAX, hi = 0; k < b; k++) {
            uint32_t w = v[k] >> 6, g = ng;
            while (g > 0 && gw[g - 1] != w) /* newest group first: neighbours share words */
                g--;
            if (g == 0) gw[ng] = w, gb[ng] = 0, g = ++ng, lo = w < lo ? w : lo, hi = w > hi ? w : hi;
            gb[g - 1] |= (uint64_t)1 << (v[k] & 63);
        }
        dtact__fetch_add_relaxed(&a->rec_shared_free, (int64_t)b); // relaxed: counted first, as dtact__depot_put
        for (uint32_t g = 0; g < ng; g++)
            dtact__depot_put_word(a, gw[g], gb[g]);
    }
    wc->rec_home_lo = lo;
    wc->rec_home_hi = hi - lo > 3 ? lo + 3 : hi; /* scattered: a few words */
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
    /* host thread (or an out-of-range id): the depot, else carve */
    dtact__fetch_add_relaxed(&a->nc_misses, 1); // relaxed: statistic
    uint32_t i, len;
    if (dtact__depot_take(a, &i, 1) == 0) {
        i = dtact__rec_carve(a, 1, &len);
        if (i == DTACT__IDX_NONE) return NULL;
    }
    dtact__stat_fold(&a->rec_in_use, &a->rec_hw, 1);
    return &a->recs[i];
}

static inline void dtact__free_in(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f, int mirror) {
    // relaxed: the freeing thread owns the record (FINISHED/CANCELLED); no
    // other transition of sg succeeds from here
    uint64_t sg = dtact__load_relaxed(&f->sg);
    uint32_t i = (uint32_t)(f - a->recs); /* not f->index: line 1 may be cold here */
    // release: pairs with the acquire loads of sg by lookup and by stale
    // wakers/joiners (they see FREE with a newer generation)
    dtact__store_release(&f->sg, DTACT__SG(DTACT__SG_GEN(sg) + 1, DTACT__ST_FREE));
    // release: pairs with the acquire load in dtact__fiber_released (a waiter
    // that returns without touching the record sees what the fiber did)
    if (mirror) dtact__store_release(&a->rec_gen[i], DTACT__SG_GEN(sg) + 1);
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        if (DTACT_UNLIKELY(wc->rec_n == 2 * a->rec_batch)) {
            dtact__rec_spill(a, wc);
            dtact__cache_fold(a, wc);
        }
        wc->rec_idx[wc->rec_n++] = i;
        dtact__pend(&wc->rec_pending, -1);
        return;
    }
    dtact__depot_put(a, &i, 1);
    dtact__stat_fold(&a->rec_in_use, &a->rec_hw, -1);
}

void dtact__fiber_free(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f) { dtact__free_in(a, cache, f, 0); }

void dtact__fiber_free_detached(dtact__arena_t *a, uint32_t cache, dtact__fiber_t *f) {
    dtact__free_in(a, cache, f, 1);
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

int dtact__fiber_released(dtact__arena_t *a, uint64_t handle) {
    if (!(handle & DTACT__HANDLE_VALID)) return 0;
    uint32_t idx = dtact__handle_index(handle);
    if (idx >= a->capacity) return 0;
    // acquire: pairs with the release store in dtact__fiber_free
    uint64_t g = dtact__load_acquire(&a->rec_gen[idx]) & DTACT__HANDLE_GEN_MASK;
    uint64_t hgen = dtact__handle_gen(handle);
    return hgen >= a->gen_base && hgen < g;
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
    /* the depot: only carved records, each once; a summary bit per non-zero word */
    for (uint32_t w = 0; w < a->rec_words && ok; w++) {
        uint64_t v = dtact__load_relaxed(&a->rec_bits[w]); // relaxed: quiescent
        if (v == 0) continue;
        c.depot_words++;
        if (!(dtact__load_relaxed(&a->rec_sum[w >> 6]) & ((uint64_t)1 << (w & 63)))) ok = 0; // relaxed: quiescent
        for (; v && ok; v &= v - 1) {
            ok = dtact__mark(seen, w * 64u + (uint32_t)__builtin_ctzll(v), carved);
            c.shared_free++;
        }
    }
    for (uint32_t w = 0; w < a->ncaches && ok; w++) {
        for (uint32_t k = 0; k < a->caches[w].rec_n && ok; k++) {
            ok = dtact__mark(seen, a->caches[w].rec_idx[k], carved);
            c.cached++;
        }
    }
    for (uint32_t i = 0; i < carved && ok; i++) {
        uint64_t sg = dtact__load_relaxed(&a->recs[i].sg); // relaxed: quiescent
        if (DTACT__SG_GEN(sg) < a->gen_base || a->recs[i].index != i) ok = 0;
        uint64_t g = dtact__load_relaxed(&a->rec_gen[i]); // relaxed: quiescent
        if (g > DTACT__SG_GEN(sg) || (g != 0 && g <= a->gen_base)) ok = 0;
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
