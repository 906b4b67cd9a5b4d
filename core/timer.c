/* core/timer.c -- per-worker timers: a binary min-heap of deadlines.
 *
 * A fiber that parks with a deadline adds one entry to the heap of the worker
 * it parks on (fiber.c); the dispatch loop pops due entries (loop.c); a fiber
 * whose wait ended early removes its entry when it resumes on the same worker
 * (fiber.c, dtact__timers_cancel), else the entry is dropped as stale by the
 * next compaction. Every move of an entry records its index in the fiber's
 * `timer_slot` (relaxed: a hint that dtact__timers_cancel verifies against the
 * entry itself, because a stale entry of the same fiber in another worker's
 * heap may overwrite it). The heap grows with realloc on the park path, never
 * on the spawn path, and shrinks as it empties. See timer.h for the contract.
 */
#include "timer.h"

#include "atomic.h"
#include "dtact.h"
#include "prim.h"

#define MIN_CAP 64u

static inline void place(dtact__timer_t *h, uint32_t i, dtact__timer_t t) {
    h[i] = t;
    dtact__store_relaxed(&t.fiber->timer_slot, i); // relaxed: a hint, verified by cancel (see the top)
}

static void sift_up(dtact__timer_t *h, uint32_t i) {
    dtact__timer_t t = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h[p].deadline <= t.deadline) break;
        place(h, i, h[p]);
        i = p;
    }
    place(h, i, t);
}

static void sift_down(dtact__timer_t *h, uint32_t n, uint32_t i) {
    dtact__timer_t t = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1].deadline < h[c].deadline) c++;
        if (h[c].deadline >= t.deadline) break;
        place(h, i, h[c]);
        i = c;
    }
    place(h, i, t);
}

/* An entry whose wait is over: the fiber finished (generation) or its wait
 * ended (wait number). Relaxed loads: a stale "live" answer keeps an entry a
 * little longer, a "stale" answer is final (both only move forward). */
static int stale(const dtact__timer_t *e) {
    if (DTACT__SG_GEN(dtact__load_relaxed(&e->fiber->sg)) != e->gen) return 1;
    return dtact__load_relaxed(&e->fiber->wait_seq) != e->seq;
}

static int resize(dtact__timers_t *t, uint32_t cap) {
    dtact__timer_t *h = dtact__heap_realloc(t->heap, (size_t)cap * sizeof *h);
    if (!h) return 0;
    t->heap = h;
    t->cap = cap;
    return 1;
}

/* Drops stale entries and rebuilds the heap (O(n), amortised against the
 * additions that filled it). */
static void compact(dtact__timers_t *t) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (!stale(&t->heap[i])) t->heap[k++] = t->heap[i];
    t->n = k;
    dtact__store_relaxed(&t->pending, k); // relaxed: statistics
    for (uint32_t i = 0; i < k; i++)
        dtact__store_relaxed(&t->heap[i].fiber->timer_slot, i); // relaxed: a hint (see the top)
    for (uint32_t i = k / 2; i-- > 0;)
        sift_down(t->heap, k, i);
}

/* Removes the entry at index i. */
static void remove_at(dtact__timers_t *t, uint32_t i) {
    uint32_t last = --t->n;
    dtact__store_relaxed(&t->pending, t->n); // relaxed: statistics
    if (i != last) {
        t->heap[i] = t->heap[last];
        if (i > 0 && t->heap[(i - 1) / 2].deadline > t->heap[i].deadline) sift_up(t->heap, i);
        else sift_down(t->heap, t->n, i);
    }
    /* Give memory back as the heap empties (a burst of timed waits ended). */
    if (t->cap > MIN_CAP && t->n < t->cap / 4) {
        if (t->n == 0) {
            dtact__heap_free(t->heap);
            t->heap = NULL;
            t->cap = 0;
        } else {
            (void)resize(t, t->cap / 2); /* failure to shrink keeps the larger block */
        }
    }
}

int dtact__timers_add(dtact__timers_t *t, uint64_t deadline, dtact__fiber_t *f, uint64_t gen, uint32_t seq) {
    if (t->n == t->cap) {
        if (t->n) compact(t);
        /* Grow unless compaction freed at least a quarter. */
        if ((t->cap == 0 || t->n > t->cap - t->cap / 4) && !resize(t, t->cap ? t->cap * 2 : MIN_CAP) && t->n == t->cap)
            return DTACT_ENOMEM;
    }
    dtact__timer_t *e = &t->heap[t->n];
    e->deadline = deadline;
    e->fiber = f;
    e->gen = gen;
    e->seq = seq;
    sift_up(t->heap, t->n++);
    dtact__store_relaxed(&t->pending, t->n); // relaxed: statistics
    return DTACT_OK;
}

int dtact__timers_pop_due(dtact__timers_t *t, uint64_t now, dtact__timer_t *out) {
    if (!t->n || t->heap[0].deadline > now) return 0;
    *out = t->heap[0];
    remove_at(t, 0);
    return 1;
}

int dtact__timers_cancel(dtact__timers_t *t, dtact__fiber_t *f, uint32_t seq) {
    uint32_t i = dtact__load_relaxed(&f->timer_slot); // relaxed: a hint, verified below
    if (i >= t->n || t->heap[i].fiber != f || t->heap[i].seq != seq) return 0;
    remove_at(t, i);
    return 1;
}

void dtact__timers_free(dtact__timers_t *t) {
    dtact__heap_free(t->heap);
    t->heap = NULL;
    t->n = t->cap = 0;
    dtact__store_relaxed(&t->pending, 0u); // relaxed: statistics
}
