/* core/runq.c -- a worker's run queues (the data structure; see runq.h for
 * the layout and the invariants). Owner-only: no atomics.
 *
 * Dispatch order (runq_next). Highest priority first; every
 * DTACT__FAIR_PERIOD-th dispatch takes the oldest fiber of the lowest
 * non-empty priority instead when that priority is lower, or when that fiber
 * has already started (it yielded or was woken), so Low work and yielded
 * fibers are never starved by a stream of new high-priority or front-pushed
 * fibers. An unstarted fiber of the same priority waits its turn at the
 * front: starting old subtrees early would turn depth-first fork-join into
 * breadth-first and multiply the live stacks.
 *
 * Overflow. Chunks are built newest-first at spawn time, so that the owner,
 * which pulls the newest chunk, runs the overflow in the same depth-first
 * (LIFO) order as its deques; peers get the oldest chunk (like stealing from
 * the top in Cilk). Handing a chunk over or splicing one in is O(1): no
 * record between head and tail is touched (the loop prefetches each record
 * shortly before it runs).
 *
 * Checking. With DTACT_CHECK_QUEUES defined (CMake option of the same name)
 * every operation ends with a check: the O(1) invariants always, and a full
 * walk (runq_check) when the queue is small or once per `load` operations,
 * which keeps the amortised cost O(1) per operation on queues of a million.
 * A violation aborts with the invariant's description.
 */
#include "runq.h"

#include <stddef.h>

#include "atomic.h"
#include "errors.h"

#if defined(DTACT_CHECK_QUEUES)
static void check_after(dtact__runq_t *q) {
    const char *why = NULL;
    for (unsigned p = 0; p < DTACT__NPRIO; p++) {
        if (!q->q[p].head != !q->q[p].tail || !q->q[p].head != !((q->mask >> p) & 1u)) {
            why = "I3: a deque's head, tail and mask bit disagree";
            break;
        }
    }
    uint32_t load = dtact__runq_load(q) + q->st_n;
    if (!why && (load <= 64 || ++q->checks >= load)) {
        q->checks = 0;
        dtact__runq_check(q, &why);
    }
    if (DTACT_UNLIKELY(why != NULL)) dtact__fatal("run queue invariant violated", why);
}
#define CHECKED(q) check_after(q)
#else
#define CHECKED(q) ((void)(q))
#endif

/* ------------------------------------------------------------ deques */

static inline void link_front(dtact__runq_t *q, dtact__fiber_t *f) {
    dtact__deque_t *d = &q->q[f->priority];
    f->prev = NULL;
    f->next = d->head;
    if (d->head) d->head->prev = f;
    else d->tail = f;
    d->head = f;
    q->mask |= 1u << f->priority;
    q->len++;
    q->movable += !(f->flags & DTACT__F_PINNED);
}

static inline void link_back(dtact__runq_t *q, dtact__fiber_t *f) {
    dtact__deque_t *d = &q->q[f->priority];
    f->next = NULL;
    f->prev = d->tail;
    if (d->tail) d->tail->next = f;
    else d->head = f;
    d->tail = f;
    q->mask |= 1u << f->priority;
    q->len++;
    q->movable += !(f->flags & DTACT__F_PINNED);
}

static inline void unlink_one(dtact__runq_t *q, dtact__fiber_t *f) {
    dtact__deque_t *d = &q->q[f->priority];
    if (f->prev) f->prev->next = f->next;
    else d->head = f->next;
    if (f->next) f->next->prev = f->prev;
    else d->tail = f->prev;
    if (!d->head) q->mask &= ~(1u << f->priority);
    q->len--;
    q->movable -= !(f->flags & DTACT__F_PINNED);
    f->next = f->prev = NULL;
}

void dtact__runq_push_front(dtact__runq_t *q, dtact__fiber_t *f) {
    link_front(q, f);
    CHECKED(q);
}

void dtact__runq_push_back(dtact__runq_t *q, dtact__fiber_t *f) {
    link_back(q, f);
    CHECKED(q);
}

dtact__fiber_t *dtact__runq_next(dtact__runq_t *q) {
    uint32_t m = q->mask;
    if (!m) return NULL;
    unsigned hi = 31u - (unsigned)__builtin_clz(m);
    dtact__fiber_t *f = q->q[hi].head;
    if (DTACT_UNLIKELY((++q->tick % DTACT__FAIR_PERIOD) == 0)) {
        /* The fairness pick (top of file). */
        unsigned lo = (unsigned)__builtin_ctz(m);
        dtact__fiber_t *t = q->q[lo].tail;
        if (lo != hi || (t->flags & DTACT__F_STARTED)) f = t;
    }
    unlink_one(q, f);
    /* The fiber likely to run next is often cold (spawned long ago, or just
     * spliced in from a peer): start fetching both of its lines now, so the
     * miss overlaps with running f. */
    dtact__fiber_t *nx = q->q[hi].head;
    if (nx) {
        __builtin_prefetch(nx, 1);
        __builtin_prefetch((char *)nx + 64, 1);
    }
    CHECKED(q);
    return f;
}

dtact__fiber_t *dtact__runq_pick_direct(dtact__runq_t *q, dtact__fiber_t *f) {
    uint32_t m = q->mask;
    uint32_t t = q->tick + 1;
    /* The loop's housekeeping test reads the tick before its dispatch
     * advances it (runq.h, housekeeping_due); the fairness pick, after. */
    if (!m || dtact__runq_housekeeping_due(q) || t % DTACT__FAIR_PERIOD == 0) return NULL;
    dtact__fiber_t *next = q->q[31u - (unsigned)__builtin_clz(m)].head;
    if (!(next->flags & DTACT__F_STARTED) || next->variant != f->variant) return NULL;
    q->tick = t;
    unlink_one(q, next);
    link_back(q, f);
    CHECKED(q);
    return next;
}

void dtact__runq_splice(dtact__runq_t *q, dtact__fiber_t *head) {
    uint32_t n = head->chunk_len;
    dtact__fiber_t *tail = head->chunk_tail;
    dtact__deque_t *d = &q->q[head->priority];
    head->prev = d->tail;
    if (d->tail) d->tail->next = head;
    else d->head = head;
    d->tail = tail;
    tail->next = NULL;
    q->mask |= 1u << head->priority;
    q->len += n;
    /* A chunk of several fibers holds movable ones only (take_back's callers
     * and the overflow never take pinned ones); a single fiber may be a
     * pinned one woken from another thread. */
    q->movable += n > 1 ? n : !(head->flags & DTACT__F_PINNED);
    CHECKED(q);
}

uint32_t dtact__runq_splice_stack(dtact__runq_t *q, dtact__fiber_t *c) {
    /* The stack holds chunks newest first: reverse to keep arrival order. */
    dtact__fiber_t *rev = NULL;
    while (c) {
        dtact__fiber_t *nx = c->prev;
        c->prev = rev;
        rev = c;
        c = nx;
    }
    uint32_t total = 0;
    while (rev) {
        dtact__fiber_t *nextc = rev->prev;
        total += rev->chunk_len;
        dtact__runq_splice(q, rev);
        rev = nextc;
    }
    return total;
}

dtact__fiber_t *dtact__runq_take_back(dtact__runq_t *q, unsigned p, uint32_t want, uint32_t scan,
                                      int (*ok)(const dtact__fiber_t *f, void *ctx), void *ctx) {
    dtact__fiber_t *head = NULL, *tail = NULL;
    uint32_t n = 0, scanned = 0;
    dtact__fiber_t *f = q->q[p].tail;
    while (f && n < want && scanned < scan) {
        dtact__fiber_t *prev = f->prev;
        scanned++;
        if (ok(f, ctx)) {
            unlink_one(q, f);
            f->prev = tail;
            if (tail) tail->next = f;
            else head = f;
            tail = f;
            n++;
        }
        f = prev;
    }
    if (!n) return NULL;
    tail->next = NULL;
    head->chunk_len = (uint16_t)n;
    head->chunk_tail = tail;
    CHECKED(q);
    return head;
}

/* ------------------------------------------------------------ overflow */

static void overflow_seal(dtact__runq_t *q) {
    dtact__fiber_t *head = q->ob_head;
    head->chunk_len = (uint16_t)q->ob_n;
    head->chunk_tail = q->ob_tail;
    head->prev = NULL;                                    /* newer chunk: none */
    dtact__store_relaxed(&head->chunk_older, q->ovf_new); // relaxed: owner-only link (atomic for join.c's look())
    if (q->ovf_new) q->ovf_new->prev = head;
    else q->ovf_old = head;
    q->ovf_new = head;
    q->ovf_n += q->ob_n;
    q->ob_head = q->ob_tail = NULL;
    q->ob_n = 0;
}

void dtact__runq_overflow_push(dtact__runq_t *q, dtact__fiber_t *f) {
    f->prev = NULL;
    f->next = q->ob_head;
    if (q->ob_head) q->ob_head->prev = f;
    else q->ob_tail = f;
    q->ob_head = f;
    if (++q->ob_n == DTACT__CHUNK) overflow_seal(q);
    CHECKED(q);
}

/* Unlinks the newest chunk (the owner's end) or the oldest; the chunk being
 * built is sealed first when it is the newest work or the only work left. */
static dtact__fiber_t *overflow_take(dtact__runq_t *q, int newest) {
    if (q->ob_n && (newest || !q->ovf_old)) overflow_seal(q);
    dtact__fiber_t *head = newest ? q->ovf_new : q->ovf_old;
    if (!head) return NULL;
    dtact__fiber_t *older = dtact__load_relaxed(&head->chunk_older), *newer = head->prev; // relaxed: owner-only
    if (older) older->prev = newer;
    else q->ovf_old = newer;
    if (newer) dtact__store_relaxed(&newer->chunk_older, older); // relaxed: owner-only
    else q->ovf_new = older;
    dtact__store_relaxed(&head->chunk_older, NULL); // relaxed: owner-only
    head->prev = NULL;
    q->ovf_n -= head->chunk_len;
    return head;
}

uint32_t dtact__runq_overflow_pull(dtact__runq_t *q) {
    dtact__fiber_t *head = overflow_take(q, 1);
    if (!head) return 0;
    uint32_t n = head->chunk_len;
    dtact__runq_splice(q, head); /* checks */
    return n;
}

dtact__fiber_t *dtact__runq_overflow_take_oldest(dtact__runq_t *q) {
    dtact__fiber_t *head = overflow_take(q, 0);
    CHECKED(q);
    return head;
}

/* ------------------------------------------------------------ starved */

void dtact__runq_starve(dtact__runq_t *q, dtact__fiber_t *f) {
    f->next = NULL;
    f->prev = q->st_tail;
    if (q->st_tail) q->st_tail->next = f;
    else q->st_head = f;
    q->st_tail = f;
    q->st_n++;
    CHECKED(q);
}

uint32_t dtact__runq_unstarve(dtact__runq_t *q) {
    uint32_t n = q->st_n;
    dtact__fiber_t *f = q->st_head;
    q->st_head = q->st_tail = NULL;
    q->st_n = 0;
    while (f) {
        dtact__fiber_t *nx = f->next;
        link_back(q, f);
        f = nx;
    }
    CHECKED(q);
    return n;
}

/* ------------------------------------------------------------ checking */

/* Walks n fibers from head through next, checking the back links; returns the
 * last one, or NULL (with *why set) on a broken or short list. The first
 * fiber's prev is not checked (chunk heads use it for other links). */
static const dtact__fiber_t *walk(const dtact__fiber_t *head, uint32_t n, int prio, const char **why) {
    const dtact__fiber_t *f = head, *last = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!f) {
            *why = "I1/I5: a list is shorter than its count";
            return NULL;
        }
        if (last && f->prev != last) {
            *why = "I4: a back link does not match";
            return NULL;
        }
        if (prio >= 0 && f->priority != (unsigned)prio) {
            *why = "I4: a fiber sits in the deque of another priority";
            return NULL;
        }
        last = f;
        f = f->next;
    }
    if (f) {
        *why = "I1/I5: a list is longer than its count";
        return NULL;
    }
    return last;
}

int dtact__runq_check(const dtact__runq_t *q, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    uint32_t len = 0, movable = 0;
    for (unsigned p = 0; p < DTACT__NPRIO; p++) {
        const dtact__deque_t *d = &q->q[p];
        if (!d->head != !((q->mask >> p) & 1u) || !d->head != !d->tail) {
            *why = "I3: a deque's head, tail and mask bit disagree";
            return 0;
        }
        if (!d->head) continue;
        if (d->head->prev) {
            *why = "I4: a deque's head has a back link";
            return 0;
        }
        uint32_t n = 0;
        for (const dtact__fiber_t *f = d->head; f; f = f->next) {
            if (++n > q->len) {
                *why = "I1: the deques hold more fibers than len (or a cycle)";
                return 0;
            }
            movable += !(f->flags & DTACT__F_PINNED);
        }
        if (walk(d->head, n, (int)p, why) != d->tail) {
            if (!*why) *why = "I4: a deque's tail is not its last fiber";
            return 0;
        }
        for (unsigned o = 0; o < p; o++) {
            if (q->q[o].head == d->head) {
                *why = "I6: two deques share a fiber";
                return 0;
            }
        }
        len += n;
    }
    if (len != q->len) {
        *why = "I1: len differs from the deques' lengths";
        return 0;
    }
    if (movable != q->movable) {
        *why = "I2: movable differs from the unpinned fibers queued";
        return 0;
    }
    if (q->ob_n >= DTACT__CHUNK || !q->ob_head != !q->ob_n || !q->ob_tail != !q->ob_n) {
        *why = "I5: the chunk being built is inconsistent";
        return 0;
    }
    if (q->ob_n) {
        if (q->ob_head->prev) {
            *why = "I5: the building chunk's head has a back link";
            return 0;
        }
        if (walk(q->ob_head, q->ob_n, -1, why) != q->ob_tail) {
            if (!*why) *why = "I5: the building chunk's tail is wrong";
            return 0;
        }
    }
    uint32_t ovf = 0;
    const dtact__fiber_t *newer = NULL;
    for (const dtact__fiber_t *h = q->ovf_new; h; h = dtact__load_relaxed(&h->chunk_older)) {
        if (h->prev != newer) {
            *why = "I5: an overflow chunk's newer link does not match";
            return 0;
        }
        if (h->chunk_len == 0 || h->chunk_len > DTACT__CHUNK) {
            *why = "I5: an overflow chunk has a bad length";
            return 0;
        }
        ovf += h->chunk_len;
        if (ovf > q->ovf_n) {
            *why = "I5: the overflow holds more fibers than ovf_n (or a cycle)";
            return 0;
        }
        if (walk(h, h->chunk_len, h->priority, why) != h->chunk_tail) {
            if (!*why) *why = "I5: an overflow chunk's tail is wrong";
            return 0;
        }
        newer = h;
    }
    if (ovf != q->ovf_n || newer != q->ovf_old) {
        *why = "I5: ovf_n or the oldest chunk does not match the chunks";
        return 0;
    }
    if (!q->st_head != !q->st_n || !q->st_tail != !q->st_n || (q->st_head && q->st_head->prev)) {
        *why = "I7: the starved list is inconsistent";
        return 0;
    }
    if (q->st_n && walk(q->st_head, q->st_n, -1, why) != q->st_tail) {
        if (!*why) *why = "I7: the starved list's tail is wrong";
        return 0;
    }
    return 1;
}
