/* Description: the shared free list is ABA-safe. A deterministic interleaving
 * (popper reads head X and its link Y, then sleeps while another thread pops X,
 * pops Y and pushes X back) makes an untagged Treiber stack install Y -- a
 * record that is in use -- as the new head; the tagged head of the arena makes
 * the sleeping popper's CAS fail and retry. Then a contention run drives the
 * arena's host (NO_CACHE) path many times (the record depot is a bitmap, not
 * a stack: tests/arena_depot.c; the tagged stacks hold the stack pool's free
 * batches). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"
#include "test_scale.h"

TestSuite(arena_aba);

/* A naive, untagged Treiber stack of single indices, for comparison. */
typedef struct {
    _Atomic uint32_t head;
    uint32_t next[8];
} naive_t;
static void naive_push(naive_t *n, uint32_t i) {
    uint32_t h = atomic_load(&n->head);
    do
        n->next[i] = h;
    while (!atomic_compare_exchange_weak(&n->head, &h, i));
}
static uint32_t naive_pop(naive_t *n) {
    uint32_t h = atomic_load(&n->head);
    while (h != DTACT__IDX_NONE && !atomic_compare_exchange_weak(&n->head, &h, n->next[h])) {
    }
    return h;
}

enum { X = 0, Y = 1, Z = 2 };

Test(arena_aba, untagged_stack_corrupts_in_the_interleaving) {
    naive_t n = {.head = DTACT__IDX_NONE};
    naive_push(&n, Z);
    naive_push(&n, Y);
    naive_push(&n, X); /* X -> Y -> Z */
    /* T1 starts a pop: reads head X and its next Y, then is preempted. */
    uint32_t h = atomic_load(&n.head), next = n.next[h];
    cr_assert_eq(h, X);
    cr_assert_eq(next, Y);
    /* T2: pops X, pops Y (now in use by T2), pushes X back. */
    cr_assert_eq(naive_pop(&n), X);
    cr_assert_eq(naive_pop(&n), Y);
    naive_push(&n, X); /* X -> Z */
    /* T1 resumes: its CAS succeeds because the head is X again... */
    cr_assert(atomic_compare_exchange_strong(&n.head, &h, next));
    /* ...and the list now hands out Y, which T2 still holds: corruption. */
    cr_assert_eq(naive_pop(&n), Y, "the untagged stack gives out an index that is in use");
}

Test(arena_aba, tagged_batch_stack_survives_the_interleaving) {
    _Atomic uint64_t head = DTACT__TS_EMPTY;
    _Atomic uint64_t blink[3];
    for (int i = 0; i < 3; i++)
        atomic_init(&blink[i], 0);
    uint32_t len;
    dtact__ts_push(&head, blink, Z, 1);
    dtact__ts_push(&head, blink, Y, 1);
    dtact__ts_push(&head, blink, X, 1); /* X -> Y -> Z */
    /* T1 starts a pop and is preempted before its CAS. */
    uint64_t h = atomic_load(&head);
    uint64_t link = dtact__ts_link(blink, h);
    cr_assert_eq(DTACT__TS_IDX(h), X);
    cr_assert_eq(DTACT__TS_LINK_NEXT(link), Y);
    /* T2: pops X, pops Y, pushes X back. */
    cr_assert_eq(dtact__ts_pop(&head, blink, &len), X);
    cr_assert_eq(dtact__ts_pop(&head, blink, &len), Y);
    dtact__ts_push(&head, blink, X, 1); /* X -> Z */
    uint64_t now = atomic_load(&head);
    cr_assert_eq(DTACT__TS_IDX(now), DTACT__TS_IDX(h), "same index on top: an untagged CAS would succeed");
    cr_assert_neq(now, h, "but the tag moved");
    /* T1 resumes: the CAS fails and reloads the head. */
    cr_assert_not(dtact__ts_pop_commit(&head, &h, link));
    cr_assert_eq(h, now);
    /* T1 retries properly: X then Z, never Y. */
    cr_assert_eq(dtact__ts_pop(&head, blink, &len), X);
    cr_assert_eq(dtact__ts_pop(&head, blink, &len), Z);
    cr_assert_eq(dtact__ts_pop(&head, blink, &len), DTACT__IDX_NONE);
}

Test(arena_aba, batches_keep_their_length_and_order) {
    dtact__arena_config_t cfg = {.capacity = 256, .default_stack = 16384, .ncaches = 1, .guard_pages = 0};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    dtact__fiber_t *f[200];
    for (int i = 0; i < 200; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, 0));
    for (int i = 0; i < 200; i++)
        dtact__fiber_free(a, 0, f[i]);
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    cr_assert_eq(c.in_use, 0u);
    cr_assert_eq(c.shared_free + c.cached, c.carved);
    cr_assert_leq(c.cached, DTACT__REC_CACHE);
    cr_assert_eq(c.shared_free % DTACT__REC_BATCH, 0u, "spills move whole batches");
    dtact__arena_destroy(a);
}

/* Contention: every thread allocates and frees through the NO_CACHE path
 * (the depot bitmap, claimed by CAS), with a per-slot owner flag that detects
 * an index handed out twice. */
typedef struct {
    dtact__arena_t *a;
    _Atomic int *owner;
    unsigned iters;
    _Atomic int bad;
} ctx_t;

static void *hammer(void *p) {
    ctx_t *c = p;
    dtact__fiber_t *held[4];
    for (unsigned i = 0; i < c->iters; i++) {
        int n = 0;
        for (; n < 4; n++) {
            held[n] = dtact__fiber_alloc(c->a, DTACT__NO_CACHE);
            if (!held[n]) break;
            if (atomic_exchange(&c->owner[held[n]->index], 1) != 0) atomic_store(&c->bad, 1);
        }
        while (n--) {
            atomic_store(&c->owner[held[n]->index], 0);
            dtact__fiber_free(c->a, DTACT__NO_CACHE, held[n]);
        }
    }
    return NULL;
}

Test(arena_aba, no_cache_contention_never_hands_out_an_index_twice) {
    enum { T = 4, CAP = 16 };
    dtact__arena_config_t cfg = {.capacity = CAP, .default_stack = 16384, .ncaches = 0, .guard_pages = 0};
    ctx_t c = {.iters = dtact_test_scaled(200000, 1)};
    cr_assert_eq(dtact__arena_create(&c.a, &cfg), DTACT_OK);
    c.owner = calloc(CAP, sizeof *c.owner);
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        pthread_create(&t[i], NULL, hammer, &c);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.bad), 0, "an index was handed out twice");
    dtact__arena_counts_t k;
    cr_assert(dtact__arena_is_valid(c.a, &k));
    cr_assert_eq(k.in_use, 0u);
    free(c.owner);
    dtact__arena_destroy(c.a);
}
