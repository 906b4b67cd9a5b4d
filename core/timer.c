/* core/timer.c -- per-worker timers: a binary min-heap of deadlines.
 *
 * A fiber that parks with a deadline adds one entry to the heap of the worker
 * it parks on (fiber.c); the dispatch loop pops due entries (loop.c). Entries
 * are not removed when their wait ends early: a stale entry is recognised by
 * its wait number when it comes due. The heap grows with realloc, on the park
 * path, never on the spawn path. See timer.h for the contract.
 */
#include "timer.h"

#include "dtact.h"
#include "prim.h"

static void sift_up(dtact__timer_t *h, uint32_t i) {
    dtact__timer_t t = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h[p].deadline <= t.deadline) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = t;
}

static void sift_down(dtact__timer_t *h, uint32_t n, uint32_t i) {
    dtact__timer_t t = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1].deadline < h[c].deadline) c++;
        if (h[c].deadline >= t.deadline) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = t;
}

int dtact__timers_add(dtact__timers_t *t, uint64_t deadline, dtact__fiber_t *f, uint64_t gen, uint32_t seq) {
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        dtact__timer_t *h = dtact__heap_realloc(t->heap, (size_t)cap * sizeof *h);
        if (!h) return DTACT_ENOMEM;
        t->heap = h;
        t->cap = cap;
    }
    dtact__timer_t *e = &t->heap[t->n];
    e->deadline = deadline;
    e->fiber = f;
    e->gen = gen;
    e->seq = seq;
    sift_up(t->heap, t->n++);
    return DTACT_OK;
}

int dtact__timers_pop_due(dtact__timers_t *t, uint64_t now, dtact__timer_t *out) {
    if (!t->n || t->heap[0].deadline > now) return 0;
    *out = t->heap[0];
    t->heap[0] = t->heap[--t->n];
    if (t->n) sift_down(t->heap, t->n, 0);
    return 1;
}

void dtact__timers_free(dtact__timers_t *t) {
    dtact__heap_free(t->heap);
    t->heap = NULL;
    t->n = t->cap = 0;
}
