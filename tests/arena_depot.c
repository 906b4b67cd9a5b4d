/* Description: the record depot (a bitmap of free records with a summary
 * level). Spill and refill move indices without touching a record (a refill
 * works with the record array PROT_NONE); the depot hands records out in
 * address order from its cursor whatever order they were freed in; host
 * threads (DTACT__NO_CACHE) free into it and allocate from it, and caches
 * refill from it before carving; the generation array (rec_gen) answers
 * "released?" for a handle without the record. Then a contention run: worker
 * caches and host threads allocate, free and hand records to each other for
 * many rounds; between rounds (all threads at a barrier)
 * dtact__arena_is_valid must hold and account for every record that the
 * threads hold, and no index is ever handed out twice. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"
#include "test_scale.h"
#include "test_rng.h"

TestSuite(arena_depot);

static dtact__arena_t *mk(uint32_t cap, uint32_t ncaches) {
    dtact__arena_config_t cfg = {.capacity = cap, .default_stack = 16384, .ncaches = ncaches, .guard_pages = 0};
    dtact__arena_t *a = NULL;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    return a;
}

Test(arena_depot, spill_and_refill_move_indices_without_touching_records) {
    enum { N = 4 * DTACT__REC_BATCH };
    dtact__arena_t *a = mk(4096, 2);
    cr_assert_eq(a->rec_batch, DTACT__REC_BATCH);
    dtact__fiber_t *f[N];
    for (int i = 0; i < N; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, 0));
    for (int i = 0; i < N; i++)
        dtact__fiber_free(a, 0, f[i]); /* cache 0 keeps 2 batches, spills 2 */
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, 2u * DTACT__REC_BATCH);
    cr_assert_eq(c.cached, 2u * DTACT__REC_BATCH);
    cr_assert_eq(c.depot_words, 1u, "the first 2 batches freed are records 0..63: one bitmap word");

    /* Refill through cache 1 with every record unreadable: the indices come
     * from the bitmap alone. */
    cr_assert_eq(mprotect(a->recs, a->recs_len, PROT_NONE), 0);
    dtact__fiber_t *g[2 * DTACT__REC_BATCH];
    for (int i = 0; i < 2 * DTACT__REC_BATCH; i++)
        cr_assert_not_null(g[i] = dtact__fiber_alloc(a, 1));
    cr_assert_eq(mprotect(a->recs, a->recs_len, PROT_READ | PROT_WRITE), 0);

    /* the spilled (coldest) records come back, each once, in address order,
     * and nothing was carved */
    for (int i = 0; i < 2 * DTACT__REC_BATCH; i++)
        cr_assert_eq(g[i]->index, (uint32_t)i, "allocation %d got record %u", i, g[i]->index);
    cr_assert_eq(dtact__arena_carved(a), (uint32_t)N);
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, 0u);
    cr_assert_eq(c.depot_words, 0u);
    cr_assert_eq(c.in_use, 2u * DTACT__REC_BATCH);
    for (int i = 0; i < 2 * DTACT__REC_BATCH; i++)
        dtact__fiber_free(a, 1, g[i]);
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.in_use, 0u);
    dtact__arena_destroy(a);
}

/* Records freed in a scattered order, by caches and host threads alike, come
 * back in address order: allocation i of a sweep gets the i-th lowest free
 * index (the cursor starts at word 0 here). */
Test(arena_depot, records_come_back_in_address_order_whatever_the_free_order) {
    enum { N = 1024, NC = 3 };
    dtact__arena_t *a = mk(1u << 16, NC);
    static dtact__fiber_t *f[N];
    for (int i = 0; i < N; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, DTACT__NO_CACHE));
    for (int i = 0; i < N; i++) /* 389 is prime to N: a permutation; the fourth "cache" is the host path */
        dtact__fiber_free(a, (i % (NC + 1)) == NC ? DTACT__NO_CACHE : (uint32_t)(i % (NC + 1)), f[(i * 389) % N]);
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.in_use, 0u);
    /* the caches keep their last entries; everything else is in the depot */
    uint8_t cached[N] = {0};
    for (uint32_t k = 0; k < NC; k++)
        for (uint32_t j = 0; j < a->caches[k].rec_n; j++)
            cached[a->caches[k].rec_idx[j]] = 1;
    uint32_t prev = 0, got = 0;
    dtact__fiber_t *h;
    while (got < c.shared_free && (h = dtact__fiber_alloc(a, DTACT__NO_CACHE)) != NULL) {
        cr_assert_eq(cached[h->index], 0);
        if (got) cr_assert_gt(h->index, prev, "allocation %u: record %u after %u", got, h->index, prev);
        prev = h->index;
        got++;
    }
    cr_assert_eq(got, c.shared_free);
    cr_assert_eq(dtact__arena_carved(a), (uint32_t)N, "the depot is used before carving");
    dtact__arena_destroy(a);
}

/* A spill groups the cache's coldest entries by bitmap word as they come (no
 * sort): frees in runs that descend within ascending chunks (a worker running
 * fibers another one spawned) and in a random order each put the two coldest
 * batches in the depot once, in as many bitmap words as they span, and they
 * come back in address order. */
static void spill_order_case(const uint32_t *order, uint32_t n) {
    dtact__arena_t *a = mk(4096, 2);
    static dtact__fiber_t *f[512];
    cr_assert_leq(n, 512u);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, DTACT__NO_CACHE));
    for (uint32_t i = 0; i < 4 * DTACT__REC_BATCH; i++) /* two spills: the first 2 batches freed go */
        dtact__fiber_free(a, 0, f[order[i]]);
    uint8_t spilled[512] = {0}, word[512 / 64] = {0};
    uint32_t words = 0, lo = UINT32_MAX;
    for (uint32_t i = 0; i < 2 * DTACT__REC_BATCH; i++) {
        uint32_t x = f[order[i]]->index;
        spilled[x] = 1;
        if (!word[x >> 6]) words++, word[x >> 6] = 1;
        if (i >= DTACT__REC_BATCH && x >> 6 < lo) lo = x >> 6; /* the last spill's words */
    }
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, 2u * DTACT__REC_BATCH);
    cr_assert_eq(c.cached, 2u * DTACT__REC_BATCH);
    cr_assert_eq(c.depot_words, words);
    cr_assert_eq(a->caches[0].rec_home_lo, lo, "the home starts at the last spill's lowest word");
    uint32_t prev = 0;
    for (uint32_t i = 0; i < 2 * DTACT__REC_BATCH; i++) {
        dtact__fiber_t *g = dtact__fiber_alloc(a, 1);
        cr_assert_not_null(g);
        cr_assert(spilled[g->index], "allocation %u: record %u was not spilled", i, g->index);
        if (i) cr_assert_gt(g->index, prev, "allocation %u: record %u after %u", i, g->index, prev);
        prev = g->index;
    }
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, 0u);
    dtact__arena_destroy(a);
}

Test(arena_depot, a_spill_groups_any_free_order_by_word) {
    enum { N = 4 * DTACT__REC_BATCH, RUN = 12 };
    uint32_t order[N];
    for (uint32_t i = 0; i < N; i++) { /* descending runs of RUN, the runs ascending */
        uint32_t base = i / RUN * RUN, end = base + RUN < N ? base + RUN : N;
        order[i] = end - 1 - (i - base);
    }
    spill_order_case(order, N);
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 8; round++) { /* random orders over 8 words */
        uint32_t perm[512];
        for (uint32_t i = 0; i < 512; i++)
            perm[i] = i;
        for (uint32_t i = 511; i > 0; i--) {
            uint32_t j = (uint32_t)(test_rng(&rng) % (i + 1)), t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        spill_order_case(perm, 512);
    }
}

Test(arena_depot, host_threads_and_caches_share_the_depot) {
    enum { B = DTACT__REC_BATCH };
    dtact__arena_t *a = mk(4096, 1);
    dtact__fiber_t *f[3 * B];
    for (int i = 0; i < 3 * B; i++)
        f[i] = dtact__fiber_alloc(a, 0);
    for (int i = 0; i < 3 * B; i++)
        dtact__fiber_free(a, 0, f[i]); /* one batch in the depot, 2 batches cached */
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, (uint64_t)B);

    /* a host alloc takes the lowest index of the depot */
    dtact__fiber_t *h = dtact__fiber_alloc(a, DTACT__NO_CACHE);
    cr_assert_not_null(h);
    cr_assert_eq(h->index, 0u);
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, B - 1u);
    cr_assert_eq(c.in_use, 1u);
    /* host frees and allocs use the depot: no carving */
    dtact__fiber_free(a, DTACT__NO_CACHE, h);
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, (uint64_t)B);
    uint32_t carved = dtact__arena_carved(a);
    for (int i = 0; i < B; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, DTACT__NO_CACHE));
    cr_assert_eq(dtact__arena_carved(a), carved);
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.shared_free, 0u);
    cr_assert_eq(c.depot_words, 0u);
    for (int i = 0; i < B; i++)
        dtact__fiber_free(a, DTACT__NO_CACHE, f[i]);

    /* an empty cache refills from the depot before it carves */
    dtact__arena_t *b = a;
    for (int i = 0; i < 3 * B; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(b, 0));
    cr_assert_eq(dtact__arena_carved(b), carved);
    cr_assert(dtact__arena_is_valid(b, &c));
    cr_assert_eq(c.shared_free, 0u);
    cr_assert_eq(c.in_use, 3u * B);
    for (int i = 0; i < 3 * B; i++)
        dtact__fiber_free(b, 0, f[i]);
    cr_assert(dtact__arena_is_valid(b, &c));
    cr_assert_eq(c.in_use, 0u);
    dtact__arena_destroy(a);
}

/* Every record in the depot at once, freed through many caches in a scattered
 * order; all of them can be taken again. */
Test(arena_depot, every_record_can_sit_in_the_depot) {
    enum { CAP = 1000, NC = 4 };
    dtact__arena_t *a = mk(CAP, NC);
    static dtact__fiber_t *f[CAP];
    for (int i = 0; i < CAP; i++) /* a host thread takes them all (carving one at a time) */
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, DTACT__NO_CACHE));
    cr_assert_null(dtact__fiber_alloc(a, 0));
    for (int i = 0; i < CAP; i++)
        dtact__fiber_free(a, (uint32_t)(i * 7 + 1) % NC, f[(i * 37) % CAP]);
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.in_use, 0u);
    cr_assert_eq(c.shared_free + c.cached, (uint64_t)CAP);
    /* and all of them can be taken again, through one cache */
    for (int i = 0; i < CAP - (int)c.cached + (int)a->caches[0].rec_n; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, 0));
    dtact__arena_destroy(a);
}

/* dtact__fiber_released: certain only for a handle whose record was freed
 * since; never for a live one, a forged one or one of another arena. */
Test(arena_depot, released_answers_from_the_generation_array) {
    dtact__arena_t *a = mk(4096, 1);
    dtact__fiber_t *f = dtact__fiber_alloc(a, 0);
    uint32_t i = (uint32_t)(f - a->recs);
    uint64_t gen = DTACT__SG_GEN(atomic_load(&f->sg));
    uint64_t h = dtact__handle_make(i, gen);
    cr_assert_eq(dtact__fiber_released(a, h), 0, "live");
    dtact__fiber_free_detached(a, 0, f);
    cr_assert_eq(dtact__fiber_released(a, h), 1, "freed");
    cr_assert_eq(dtact__fiber_released(a, dtact__handle_make(i, gen + 1)), 0, "the next generation is not issued yet");
    cr_assert_eq(dtact__fiber_released(a, dtact__handle_make(i, gen + 7)), 0, "forged: ahead");
    cr_assert_eq(dtact__fiber_released(a, dtact__handle_make(i, 0)), 0, "forged: below gen_base");
    cr_assert_eq(dtact__fiber_released(a, h & ~DTACT__HANDLE_VALID), 0, "not a handle");
    cr_assert_eq(dtact__fiber_released(a, dtact__handle_make(4096, gen)), 0, "out of range");
    cr_assert_eq(dtact__fiber_released(a, dtact__handle_make(i + 1, gen)), 0, "never freed");
    /* a reaped record (plain free) is not mirrored: not certain, the record answers */
    dtact__fiber_t *g = dtact__fiber_alloc(a, 0);
    uint64_t hg = dtact__handle_make((uint32_t)(g - a->recs), DTACT__SG_GEN(atomic_load(&g->sg)));
    dtact__fiber_free(a, 0, g);
    cr_assert_eq(dtact__fiber_released(a, hg), 0, "reaped: not mirrored");
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    dtact__arena_destroy(a);
}

/* ---------------------------------------------------------- contention */
enum { HOLD = 160, BOXES = 32, THREADS = 5, CACHES = 3 };

typedef struct {
    dtact__arena_t *a;
    _Atomic int *owner;
    _Atomic(dtact__fiber_t *) box[BOXES];
    pthread_barrier_t bar;
    unsigned rounds, iters;
    _Atomic int bad;
    _Atomic int64_t held; /* records held by the threads, summed at the barrier */
    _Atomic uint64_t allocs, nulls;
} hshared_t;

typedef struct {
    hshared_t *sh;
    uint32_t cache;
    uint64_t seed;
    int id;
} harg_t;

static void take(hshared_t *sh, dtact__fiber_t *f) {
    if (atomic_exchange(&sh->owner[f->index], 1) != 0) atomic_store(&sh->bad, 1);
    f->arg = f; /* write the record like a spawner */
    f->user = (void *)(uintptr_t)f->index;
}
static void give(hshared_t *sh, uint32_t cache, dtact__fiber_t *f) {
    if (f->arg != f || f->user != (void *)(uintptr_t)f->index) atomic_store(&sh->bad, 2);
    if (atomic_exchange(&sh->owner[f->index], 0) != 1) atomic_store(&sh->bad, 3);
    dtact__fiber_free(sh->a, cache, f);
}

static void check_quiescent(hshared_t *sh) {
    int64_t boxed = 0;
    for (int b = 0; b < BOXES; b++)
        boxed += atomic_load(&sh->box[b]) != NULL;
    dtact__arena_counts_t c;
    if (!dtact__arena_is_valid(sh->a, &c)) atomic_store(&sh->bad, 4);
    else if ((int64_t)c.in_use != atomic_load(&sh->held) + boxed) atomic_store(&sh->bad, 5);
    dtact__arena_stats_t st;
    dtact__arena_get_stats(sh->a, &st);
    if (st.contexts_in_use != c.in_use) atomic_store(&sh->bad, 7);
}

static void *hworker(void *p) {
    harg_t *g = p;
    hshared_t *sh = g->sh;
    dtact__fiber_t *held[HOLD];
    int n = 0;
    for (unsigned r = 0; r < sh->rounds; r++) {
        /* some rounds fill up (exhaustion, spills), others drain (refills) */
        unsigned bias = (r + (unsigned)g->id) % 4;
        for (unsigned i = 0; i < sh->iters; i++) {
            uint64_t x = test_rng(&g->seed);
            if ((x & 3) < (bias == 0 ? 1u : 3u) && n < HOLD) {
                dtact__fiber_t *f = dtact__fiber_alloc(sh->a, g->cache);
                atomic_fetch_add_explicit(&sh->allocs, 1, memory_order_relaxed);
                if (f) {
                    take(sh, f);
                    held[n++] = f;
                } else {
                    atomic_fetch_add_explicit(&sh->nulls, 1, memory_order_relaxed);
                }
            } else if (n > 0) {
                /* free a random held record, not always the newest */
                int k = (int)((x >> 8) % (uint64_t)n);
                dtact__fiber_t *f = held[k];
                held[k] = held[--n];
                if ((x >> 20) % 4 == 0) { /* hand it over: free what was in the box */
                    f = atomic_exchange(&sh->box[(x >> 24) % BOXES], f);
                    if (f == NULL) continue;
                }
                give(sh, g->cache, f);
            }
            if ((x >> 32) % 512 == 0) /* bursts: a cache spills several batches */
                while (n > 0)
                    give(sh, g->cache, held[--n]);
        }
        atomic_fetch_add(&sh->held, n);
        if (pthread_barrier_wait(&sh->bar) == PTHREAD_BARRIER_SERIAL_THREAD) check_quiescent(sh);
        pthread_barrier_wait(&sh->bar);
        atomic_fetch_sub(&sh->held, n);
    }
    while (n > 0)
        give(sh, g->cache, held[--n]);
    return NULL;
}

static void contention(uint32_t cap, unsigned rounds, unsigned iters) {
    hshared_t *sh = calloc(1, sizeof *sh);
    sh->a = mk(cap, CACHES);
    sh->owner = calloc(cap, sizeof *sh->owner);
    sh->rounds = rounds;
    sh->iters = iters;
    pthread_barrier_init(&sh->bar, NULL, THREADS);
    pthread_t t[THREADS];
    harg_t g[THREADS];
    for (int i = 0; i < THREADS; i++) {
        g[i] = (harg_t){.sh = sh,
                        .cache = i < CACHES ? (uint32_t)i : DTACT__NO_CACHE,
                        .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) + cap,
                        .id = i};
        pthread_create(&t[i], NULL, hworker, &g[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&sh->bad), 0,
                 "failure %d: an index was handed out twice, a record was clobbered "
                 "or the arena was inconsistent at a barrier",
                 atomic_load(&sh->bad));
    for (int b = 0; b < BOXES; b++) {
        dtact__fiber_t *f = atomic_load(&sh->box[b]);
        if (f) give(sh, DTACT__NO_CACHE, f);
    }
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(sh->a, &c));
    cr_assert_eq(c.in_use, 0u);
    cr_assert_eq(c.shared_free + c.cached, c.carved);
    cr_log_info("cap %u batch %u: %llu allocs, %llu NULL", cap, sh->a->rec_batch, (unsigned long long)sh->allocs,
                (unsigned long long)sh->nulls);
    /* every slot reachable again: host thread first, then each cache's leftovers */
    uint32_t got = 0;
    while (dtact__fiber_alloc(sh->a, DTACT__NO_CACHE))
        got++;
    for (uint32_t k = 0; k < CACHES; k++)
        while (dtact__fiber_alloc(sh->a, k))
            got++;
    cr_assert_eq(got, cap);
    pthread_barrier_destroy(&sh->bar);
    free(sh->owner);
    dtact__arena_destroy(sh->a);
    free(sh);
}

/* capacity below what the threads try to hold: exhaustion and full depot */
Test(arena_depot, contention_small_pool_never_hands_out_an_index_twice, .timeout = 300) {
    contention(600, dtact_test_scaled(2000, 1) + 2, 4000);
}
/* full-size batches (32) */
Test(arena_depot, contention_full_batches_never_hands_out_an_index_twice, .timeout = 300) {
    contention(4096, dtact_test_scaled(2000, 1) + 2, 4000);
}
