/* Description: a worker's run queue (core/runq.c) keeps its invariants under
 * a long random mix of every operation, against a model that counts what was
 * put in and taken out; every fiber comes out exactly once; dispatch is highest
 * priority first with the periodic fairness pick; and dtact__runq_check (the
 * checker behind the DTACT_CHECK_QUEUES build option) reports each kind of
 * corruption planted in a healthy queue. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtact.h"
#include "runq.h"
#include "test_rng.h"

#define N 4096

static dtact__fiber_t *recs;
static uint8_t *where; /* 0 outside, 1 queued (deques or overflow) */

static void setup(void) {
    recs = aligned_alloc(64, sizeof(dtact__fiber_t) * N);
    cr_assert_not_null(recs);
    memset(recs, 0, sizeof(dtact__fiber_t) * N);
    where = calloc(N, 1);
    for (uint32_t i = 0; i < N; i++)
        recs[i].index = i;
}

static void teardown(void) {
    free(recs);
    free(where);
}

static void assert_ok(const dtact__runq_t *q) {
    const char *why = NULL;
    int ok = dtact__runq_check(q, &why);
    cr_assert(ok, "run queue invariant broken: %s", why ? why : "?");
}

/* A free record with random attributes, or NULL. */
static dtact__fiber_t *fresh(uint64_t *rng, int normal_movable) {
    for (int tries = 0; tries < 64; tries++) {
        uint32_t i = (uint32_t)(test_rng(rng) % N);
        if (where[i]) continue;
        dtact__fiber_t *f = &recs[i];
        f->priority = normal_movable ? DTACT_PRIORITY_NORMAL : (uint8_t)(test_rng(rng) % 4);
        f->flags = (!normal_movable && test_rng(rng) % 5 == 0) ? DTACT__F_PINNED : 0;
        if (!normal_movable && test_rng(rng) % 2) f->flags |= DTACT__F_STARTED;
        f->variant = (uint8_t)(test_rng(rng) % 2);
        where[i] = 1;
        return f;
    }
    return NULL;
}

static int not_pinned(const dtact__fiber_t *f, void *ctx) {
    (void)ctx;
    return !(f->flags & DTACT__F_PINNED);
}

TestSuite(runq, .init = setup, .fini = teardown);

Test(runq, random_operations_keep_the_invariants_and_lose_nothing) {
    dtact__runq_t q;
    memset(&q, 0, sizeof q);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    long in = 0, out = 0;
    for (int step = 0; step < 200000; step++) {
        unsigned op = (unsigned)(test_rng(&rng) % 10);
        dtact__fiber_t *f;
        switch (op) {
        case 0:
        case 1:
            if ((f = fresh(&rng, 0))) dtact__runq_push_front(&q, f), in++;
            break;
        case 2:
            if ((f = fresh(&rng, 0))) dtact__runq_push_back(&q, f), in++;
            break;
        case 3:
            if ((f = fresh(&rng, 1))) dtact__runq_overflow_push(&q, f), in++;
            break;
        case 4:
        case 5:
            if ((f = dtact__runq_next(&q))) {
                cr_assert_eq(where[f->index], 1, "a fiber came out twice");
                where[f->index] = 0;
                out++;
            }
            break;
        case 6: dtact__runq_overflow_pull(&q); break;
        case 7: { /* a peer takes the oldest overflow chunk, then gives it back */
            dtact__fiber_t *h = dtact__runq_overflow_take_oldest(&q);
            if (h) dtact__runq_splice(&q, h);
            break;
        }
        case 8: { /* a chunk taken from the back goes to a "peer", which splices it */
            unsigned p = (unsigned)(test_rng(&rng) % 4);
            dtact__fiber_t *h =
                dtact__runq_take_back(&q, p, 1 + (uint32_t)(test_rng(&rng) % 32), 128, not_pinned, NULL);
            if (h) {
                uint32_t n = 0;
                for (dtact__fiber_t *x = h; x; x = x->next) {
                    cr_assert_eq(x->priority, p);
                    cr_assert_eq(x->flags & DTACT__F_PINNED, 0);
                    n++;
                }
                cr_assert_eq(n, h->chunk_len);
                dtact__runq_splice(&q, h);
            }
            break;
        }
        case 9: { /* a yield of a running fiber */
            if ((f = fresh(&rng, 0))) {
                f->flags |= DTACT__F_STARTED;
                dtact__fiber_t *nx = dtact__runq_pick_direct(&q, f);
                in++;
                if (nx) {
                    cr_assert((nx->flags & DTACT__F_STARTED) && nx->variant == f->variant);
                    where[nx->index] = 0;
                    out++;
                } else {
                    dtact__runq_push_back(&q, f);
                }
            }
            break;
        }
        }
        if (step % 97 == 0) assert_ok(&q);
        cr_assert_eq((long)dtact__runq_load(&q), in - out);
    }
    assert_ok(&q);
    /* Drain everything: each fiber exactly once. */
    for (;;) {
        dtact__fiber_t *f = dtact__runq_next(&q);
        if (!f) {
            if (!dtact__runq_overflow_pull(&q)) break;
            continue;
        }
        cr_assert_eq(where[f->index], 1, "a fiber came out twice");
        where[f->index] = 0;
        out++;
    }
    cr_assert_eq(in, out, "put in %ld, took out %ld", in, out);
    for (uint32_t i = 0; i < N; i++)
        cr_assert_eq(where[i], 0, "fiber %u never came out", i);
    assert_ok(&q);
}

Test(runq, highest_priority_first_with_a_bounded_wait_for_low) {
    dtact__runq_t q;
    memset(&q, 0, sizeof q);
    recs[0].priority = DTACT_PRIORITY_LOW;
    dtact__runq_push_back(&q, &recs[0]);
    for (uint32_t i = 1; i < 200; i++) {
        recs[i].priority = DTACT_PRIORITY_HIGH;
        dtact__runq_push_back(&q, &recs[i]);
    }
    int low_at = -1;
    for (int k = 0; k < 200; k++) {
        dtact__fiber_t *f = dtact__runq_next(&q);
        cr_assert_not_null(f);
        if (f == &recs[0]) low_at = k;
    }
    cr_assert(low_at >= 0 && low_at < (int)DTACT__FAIR_PERIOD, "Low ran at dispatch %d", low_at);
    cr_assert_null(dtact__runq_next(&q));
}

/* A healthy queue of 3 priorities, an overflow chunk and a building chunk. */
static void build(dtact__runq_t *q) {
    memset(q, 0, sizeof *q);
    for (uint32_t i = 0; i < 30; i++) {
        recs[i].priority = (uint8_t)(i % 3);
        dtact__runq_push_back(q, &recs[i]);
    }
    for (uint32_t i = 30; i < 30 + DTACT__CHUNK + 5; i++) {
        recs[i].priority = DTACT_PRIORITY_NORMAL;
        dtact__runq_overflow_push(q, &recs[i]);
    }
    assert_ok(q);
}

static void expect_broken(const dtact__runq_t *q, const char *what) {
    const char *why = NULL;
    cr_assert_eq(dtact__runq_check(q, &why), 0, "planted corruption not found: %s", what);
    cr_assert_not_null(why);
}

Test(runq, the_checker_finds_planted_corruption) {
    dtact__runq_t q;
    build(&q);
    q.len++;
    expect_broken(&q, "len off by one");

    build(&q);
    q.movable--;
    expect_broken(&q, "movable off by one");

    build(&q);
    q.mask |= 1u << 3;
    expect_broken(&q, "mask bit of an empty deque");

    build(&q);
    recs[3].prev = &recs[9];
    expect_broken(&q, "a wrong back link");

    build(&q);
    recs[4].priority = DTACT_PRIORITY_CRITICAL;
    expect_broken(&q, "a fiber in the deque of another priority");

    build(&q);
    q.q[1].tail->next = q.q[1].head;
    expect_broken(&q, "a cycle");

    build(&q);
    q.ovf_n++;
    expect_broken(&q, "overflow count off by one");

    build(&q);
    q.ob_tail = q.ob_head;
    expect_broken(&q, "wrong tail of the building chunk");
}
