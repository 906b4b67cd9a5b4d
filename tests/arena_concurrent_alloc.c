/* Description: records and stacks allocated and freed concurrently through
 * worker caches and DTACT__NO_CACHE, with hand-offs so that one cache frees
 * what another allocated: no index is ever held twice, every slot is accounted
 * for at the end (in_use back to 0, all `capacity` slots reachable), and the
 * generations add up to the number of frees. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"
#include "test_scale.h"
#include "test_rng.h"

TestSuite(arena_concurrent_alloc);

enum { T = 4, CAP = 4096, HOLD = 256, BOXES = 64 };

typedef struct {
    dtact__arena_t *a;
    _Atomic int owner[CAP];
    _Atomic(dtact__fiber_t *) box[BOXES];
    _Atomic uint64_t frees;
    _Atomic int bad;
    unsigned iters;
} shared_t;

typedef struct {
    shared_t *sh;
    uint32_t cache;
    uint64_t seed;
} arg_t;

static void take(shared_t *sh, dtact__fiber_t *f) {
    if (atomic_exchange(&sh->owner[f->index], 1) != 0) atomic_store(&sh->bad, 1);
    f->arg = f; /* use the record like a spawner would */
}
static void give(shared_t *sh, uint32_t cache, dtact__fiber_t *f) {
    if (f->arg != f) atomic_store(&sh->bad, 2);
    atomic_store(&sh->owner[f->index], 0);
    dtact__fiber_free(sh->a, cache, f);
    atomic_fetch_add(&sh->frees, 1);
}

static void *worker(void *p) {
    arg_t *g = p;
    shared_t *sh = g->sh;
    dtact__fiber_t *held[HOLD];
    int n = 0;
    for (unsigned i = 0; i < sh->iters; i++) {
        uint64_t r = test_rng(&g->seed);
        if ((r & 3) != 0 && n < HOLD) {
            dtact__fiber_t *f = dtact__fiber_alloc(sh->a, g->cache);
            if (f) {
                take(sh, f);
                held[n++] = f;
            }
        } else if (n > 0) {
            dtact__fiber_t *f = held[--n];
            if ((r >> 8) % 8 == 0) {
                /* hand it to whoever finds the box next; own what was there */
                f = atomic_exchange(&sh->box[(r >> 16) % BOXES], f);
                if (f == NULL) continue;
            }
            give(sh, g->cache, f);
        }
        if ((r >> 24) % 64 == 0) /* drain bursts exercise spills */
            while (n > 0)
                give(sh, g->cache, held[--n]);
    }
    while (n > 0)
        give(sh, g->cache, held[--n]);
    return NULL;
}

Test(arena_concurrent_alloc, records_through_caches_and_no_cache) {
    shared_t *sh = calloc(1, sizeof *sh);
    dtact__arena_config_t cfg = {.capacity = CAP, .default_stack = 16384, .ncaches = T - 1, .guard_pages = 0};
    cr_assert_eq(dtact__arena_create(&sh->a, &cfg), DTACT_OK);
    sh->iters = dtact_test_scaled(2000000, 1);
    pthread_t t[T];
    arg_t g[T];
    for (int i = 0; i < T; i++) {
        g[i] = (arg_t){.sh = sh, .cache = i < T - 1 ? (uint32_t)i : DTACT__NO_CACHE, .seed = 0x9e37u * (i + 1)};
        pthread_create(&t[i], NULL, worker, &g[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&sh->bad), 0, "an index was held twice or a record was clobbered");
    for (int b = 0; b < BOXES; b++) {
        dtact__fiber_t *f = atomic_load(&sh->box[b]);
        if (f) give(sh, DTACT__NO_CACHE, f);
    }
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(sh->a, &c));
    cr_assert_eq(c.in_use, 0u);
    dtact__arena_stats_t st;
    dtact__arena_get_stats(sh->a, &st);
    cr_assert_eq(st.contexts_in_use, 0u);
    cr_assert_geq(st.contexts_high_water, 1u);
    cr_assert_leq(st.contexts_high_water, CAP);
    cr_assert_gt(st.cache_hits, 0u);
    /* generations: every free bumped exactly one slot once */
    uint64_t gens = 0;
    for (uint32_t i = 0; i < c.carved; i++)
        gens += DTACT__SG_GEN(atomic_load(&dtact__fiber_at(sh->a, i)->sg)) - 1;
    cr_assert_eq(gens, atomic_load(&sh->frees));
    /* every slot is reachable: the shared list and the carve index from a
     * host thread, then what each cache still holds */
    uint32_t got = 0;
    while (dtact__fiber_alloc(sh->a, DTACT__NO_CACHE))
        got++;
    for (uint32_t k = 0; k < T - 1; k++)
        while (dtact__fiber_alloc(sh->a, k))
            got++;
    cr_assert_eq(got, CAP);
    cr_assert_eq(dtact__arena_carved(sh->a), CAP);
    for (uint32_t i = 0; i < CAP; i++)
        dtact__fiber_free(sh->a, DTACT__NO_CACHE, dtact__fiber_at(sh->a, i));
    cr_assert(dtact__arena_is_valid(sh->a, &c));
    cr_assert_eq(c.shared_free, CAP);
    dtact__arena_destroy(sh->a);
    free(sh);
}

/* Stacks: same shape, 16 KiB class, small capacity so the class runs dry. */
typedef struct {
    dtact__arena_t *a;
    _Atomic int owner[256];
    _Atomic int bad;
    unsigned iters;
} sshared_t;
typedef struct {
    sshared_t *sh;
    uint32_t cache;
} sarg_t;

static void *sworker(void *p) {
    sarg_t *g = p;
    sshared_t *sh = g->sh;
    dtact__stack_t *held[32];
    int n = 0;
    uint64_t seed = 0x1234567u + g->cache;
    for (unsigned i = 0; i < sh->iters; i++) {
        uint64_t r = test_rng(&seed);
        if ((r & 1) && n < 32) {
            dtact__stack_t *s = dtact__stack_alloc(sh->a, g->cache, 0);
            if (s) {
                if (atomic_exchange(&sh->owner[s->id], 1) != 0 || !dtact__stack_canary_ok(s)) atomic_store(&sh->bad, 1);
                *((volatile uint64_t *)s->top - 1) = (uint64_t)(uintptr_t)s; /* touch the top */
                held[n++] = s;
            }
        } else if (n > 0) {
            dtact__stack_t *s = held[--n];
            if (*((volatile uint64_t *)s->top - 1) != (uint64_t)(uintptr_t)s) atomic_store(&sh->bad, 2);
            atomic_store(&sh->owner[s->id], 0);
            dtact__stack_free(sh->a, g->cache, s);
        }
    }
    while (n > 0) {
        dtact__stack_t *s = held[--n];
        atomic_store(&sh->owner[s->id], 0);
        dtact__stack_free(sh->a, g->cache, s);
    }
    return NULL;
}

Test(arena_concurrent_alloc, stacks_through_caches_and_no_cache) {
    sshared_t *sh = calloc(1, sizeof *sh);
    dtact__arena_config_t cfg = {.capacity = 256, .default_stack = 16384, .ncaches = 2, .guard_pages = 1};
    cr_assert_eq(dtact__arena_create(&sh->a, &cfg), DTACT_OK);
    sh->iters = dtact_test_scaled(400000, 1);
    pthread_t t[3];
    sarg_t g[3] = {{sh, 0}, {sh, 1}, {sh, DTACT__NO_CACHE}};
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, sworker, &g[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&sh->bad), 0);
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(sh->a, &c));
    cr_assert_eq(c.stk_shared_free[0] + c.stk_cached[0], c.stk_carved[0], "no stack lost");
    dtact__arena_stats_t st;
    dtact__arena_get_stats(sh->a, &st);
    cr_assert_eq(st.stacks_in_use, 0u);
    cr_assert_eq(st.stacks_guarded + st.stacks_canary, c.stk_carved[0]);
    dtact__arena_destroy(sh->a);
    free(sh);
}
