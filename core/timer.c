/* core/timer.c -- per-worker timers: a binary min-heap of deadlines.
 *
 * A fiber that parks with a deadline adds one entry to the heap of the worker
 * it parks on; the entry names the fiber, its generation and the number of
 * that wait (fiber->wait_seq). When the deadline passes, the worker unparks the
 * fiber only if both still match, so an entry outliving its wait (the fiber
 * was woken earlier, or finished) is ignored. Entries are never removed early:
 * cancelling would need the heap of another worker when the fiber has moved.
 * The heap is owned by its worker (no atomics) and grows with realloc, which
 * happens on the park path, never on the spawn path.
 */
#include <stdlib.h>

#include "internal.h"

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

int dtact__timer_add(dtact__worker_t *w, uint64_t deadline, dtact__fiber_t *f, uint64_t gen, uint32_t seq) {
    if (w->ntimers == w->timers_cap) {
        uint32_t cap = w->timers_cap ? w->timers_cap * 2 : 64;
        dtact__timer_t *n = realloc(w->timers, (size_t)cap * sizeof *n);
        if (!n) return DTACT_ENOMEM;
        w->timers = n;
        w->timers_cap = cap;
    }
    dtact__timer_t *t = &w->timers[w->ntimers];
    t->deadline = deadline;
    t->fiber = f;
    t->gen = gen;
    t->seq = seq;
    sift_up(w->timers, w->ntimers++);
    return DTACT_OK;
}

uint64_t dtact__timers_run(dtact__worker_t *w, uint64_t now) {
    while (w->ntimers && w->timers[0].deadline <= now) {
        dtact__timer_t t = w->timers[0];
        w->timers[0] = w->timers[--w->ntimers];
        if (w->ntimers) sift_down(w->timers, w->ntimers, 0);
        if (dtact__load_relaxed(&t.fiber->wait_seq) == t.seq) // relaxed: a stale match only causes a spurious wake-up, which parks tolerate
            dtact__unpark(w->rt, t.fiber, t.gen);
    }
    return w->ntimers ? w->timers[0].deadline : 0;
}

void dtact__timers_free(dtact__worker_t *w) {
    free(w->timers);
    w->timers = NULL;
    w->ntimers = w->timers_cap = 0;
}
