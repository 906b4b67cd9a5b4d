/* core/chan.c -- bounded MPMC channels of fixed-size messages (dtact_sync.h).
 *
 * Buffered (capacity >= 1): a lock-free ring (chan.h; crossbeam's array
 * channel). A send claims position `tail` with one CAS when the slot's stamp
 * says it is free for this lap, copies the message in and publishes it with
 * a release store of the stamp; a receive claims `head` the same way and
 * gives the slot back for the next lap. Nothing else is on the fast path
 * except one load of the other side's waiter count.
 *
 * Blocking (buffered): a caller that finds the ring full (empty) first spins
 * briefly when its worker has nothing else to run (the other side is
 * usually running and a futex or park costs microseconds), then queues a
 * node on sendq (recvq), bumps nsendw (nrecvw) and re-checks the ring. The
 * counterpart changes the ring with a seq_cst CAS and then reads the count
 * with a seq_cst load; the waiter bumps the count with a seq_cst RMW and then
 * re-reads the position with a seq_cst load. In the single total order of
 * seq_cst operations one of the two comes second and sees the other: either
 * the waiter sees the change and retries, or the counterpart sees the waiter
 * and wakes it (the Dekker pattern; the lock is taken only then). A wake is a
 * hint: the woken caller retries the ring (it drains without further wakes
 * while data keeps coming), and a caller that may have absorbed a wake meant
 * for somebody else passes it on (dtact__chan_forward), so no wake is lost.
 * A woken caller that loses the race queues again at the front.
 *
 * Unbuffered (capacity 0): both queues, locked together (sendq, then recvq),
 * hold the waiting parties; a send takes the oldest live receiver and copies
 * the message straight into its buffer (a receive copies out of the oldest
 * sender's), then wakes it with the verdict. So the sender's completion is the
 * receiver's taking of the message, as Go's sudog elem.
 *
 * Close sets the mark bit of tail (one seq_cst RMW: EALREADY if it was set)
 * and wakes every queued node: buffered waiters retry and find the channel
 * closed (receivers drain first), unbuffered ones get DTACT_ECLOSED.
 *
 * Select nodes (chan_select.c) sit in the same queues; a waker claims the
 * select with one CAS before it uses a node and drops nodes whose select is
 * already decided.
 */
#include "chan.h"

#include <string.h>

#include "errors.h"
#include "internal.h"
#include "prim.h"

/* Before parking, a caller whose worker has nothing else to run polls for up to
 * SPIN_NS, yielding its thread between polls: the other side is usually running
 * (a park and a cross-worker wake cost microseconds, a futex wake of a sleeping
 * worker tens), and on a loaded machine the yield lets that other side have the
 * CPU instead of competing with it (measured: yielding halves the W11 time on a
 * busy 2-CPU VM, and costs nothing when no other thread is runnable). */
#define SPIN_NS 20000u

static inline unsigned char *slot_at(dtact_chan_t *ch, uint64_t pos) {
    return ch->slots + (size_t)(pos & (ch->mark - 1)) * ch->stride;
}
static inline _Atomic uint64_t *stamp_of(unsigned char *slot) { return (_Atomic uint64_t *)(void *)slot; }

/* Copies a message: the common small sizes without a call. */
static inline void copy_msg(void *dst, const void *src, size_t n) {
    switch (n) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, n);
    }
}

static void backoff(unsigned *k) {
    if (++*k < 64) {
        dtact__cpu_relax();
    } else {
        dtact__thread_yield(); /* the other side may be a preempted thread in the middle of a copy */
        *k = 32;
    }
}

static inline _Atomic uint32_t *count_of(dtact_chan_t *ch, int kind) {
    return kind == DTACT__CH_SEND ? &ch->nsendw : &ch->nrecvw;
}
static inline dtact__waitq_t *queue_of(dtact_chan_t *ch, int kind) {
    return kind == DTACT__CH_SEND ? &ch->sendq : &ch->recvq;
}

/* ------------------------------------------------------------ wake-ups */

int dtact__chan_claim(dtact__wnode_t *n) {
    dtact__sel_t *s = n->sel;
    if (!s) return 1;
    uint32_t exp = 0;
    // acq_rel: the one decision of the select; pairs with the selector's own CAS and its acquire reads
    return dtact__cas_strong_acq_rel(&s->claim, &exp, n->count + 1u);
}

void dtact__chan_wake(dtact__wnode_t *n, int status) {
    dtact__sel_t *s = n->sel;
    if (!s) {
        dtact__wnode_wake(n, status);
        return;
    }
    n->status = status; /* the case's verdict, published by the release below */
    dtact__waitq_lock(&s->q);
    dtact__wnode_t *p = s->primary.linked ? dtact__waitq_pop(&s->q) : NULL;
    dtact__waitq_unlock(&s->q);
    if (p) dtact__wnode_wake(p, DTACT_OK);
    else dtact__store_release(&s->done, 1u); // release: the selector withdrew its primary node and waits for this
}

/* Takes the oldest live node off q (the caller holds q's lock): claimed, its
 * count decremented; NULL if none. Nodes of decided selects are dropped. */
static dtact__wnode_t *take_live(dtact__waitq_t *q, _Atomic uint32_t *cnt) {
    dtact__wnode_t *n;
    while ((n = dtact__waitq_pop(q)) != NULL) {
        dtact__fetch_sub_seq_cst(cnt, 1u); // seq_cst: the count is half of the Dekker pair (file comment)
        if (dtact__chan_claim(n)) return n;
    }
    return NULL;
}

/* Buffered: wakes the oldest live waiter of one side (a hint: it retries). */
static void wake_one(dtact_chan_t *ch, int kind) {
    dtact__waitq_t *q = queue_of(ch, kind);
    dtact__waitq_lock(q);
    dtact__wnode_t *n = take_live(q, count_of(ch, kind));
    dtact__waitq_unlock(q);
    if (n) dtact__chan_wake(n, DTACT_OK);
}

/* Wakes every node of a queue with `status` (close). */
static void wake_all(dtact_chan_t *ch, int kind, int status) {
    dtact__waitq_t *q = queue_of(ch, kind);
    dtact__wnode_t *list = NULL, *n;
    dtact__waitq_lock(q);
    while ((n = take_live(q, count_of(ch, kind))) != NULL) {
        n->next = list; /* the node is ours until woken */
        list = n;
    }
    dtact__waitq_unlock(q);
    while (list) {
        n = list;
        list = n->next;
        dtact__chan_wake(n, status);
    }
}

/* ------------------------------------------------------------ the ring */

int dtact__chan_ring_send(dtact_chan_t *ch, const void *msg) {
    unsigned k = 0;
    uint64_t tail = dtact__load_relaxed(&ch->tail); // relaxed: validated by the stamp and the CAS
    for (;;) {
        if (tail & ch->mark) return DTACT_ECLOSED;
        uint64_t idx = tail & (ch->mark - 1), lap = tail & ~(ch->one_lap - 1);
        uint64_t next = idx + 1 < ch->cap ? tail + 1 : lap + ch->one_lap;
        unsigned char *slot = slot_at(ch, tail);
        uint64_t stamp = dtact__load_acquire(stamp_of(slot)); // acquire: pairs with the receiver's release of the slot
        if (stamp == tail) {
            /* seq_cst: claims the slot, and is the first half of the sender's Dekker pair (file comment) */
            if (dtact__cas_strong_seq_cst(&ch->tail, &tail, next)) {
                copy_msg(slot + 8, msg, ch->elem);
                dtact__store_release(stamp_of(slot), tail + 1); // release: publishes the message to its receiver
                // seq_cst: second half of the Dekker pair: sees a receiver that queued before our CAS
                if (DTACT_UNLIKELY(dtact__load_seq_cst(&ch->nrecvw))) wake_one(ch, DTACT__CH_RECV);
                return DTACT_OK;
            }
        } else if (stamp + ch->one_lap == tail + 1) {
            // seq_cst: ordered after the waiter's count RMW (the recheck of a queued sender)
            uint64_t head = dtact__load_seq_cst(&ch->head);
            if (head + ch->one_lap == tail) return DTACT_EBUSY;
            backoff(&k);                           /* a receiver claimed the slot and is still copying */
            tail = dtact__load_relaxed(&ch->tail); // relaxed: as above
        } else {
            backoff(&k);
            tail = dtact__load_relaxed(&ch->tail); // relaxed: as above
        }
    }
}

int dtact__chan_ring_recv(dtact_chan_t *ch, void *out) {
    unsigned k = 0;
    uint64_t head = dtact__load_relaxed(&ch->head); // relaxed: validated by the stamp and the CAS
    for (;;) {
        uint64_t idx = head & (ch->mark - 1), lap = head & ~(ch->one_lap - 1);
        unsigned char *slot = slot_at(ch, head);
        uint64_t stamp = dtact__load_acquire(stamp_of(slot)); // acquire: pairs with the sender's release
        if (stamp == head + 1) {
            uint64_t next = idx + 1 < ch->cap ? head + 1 : lap + ch->one_lap;
            // seq_cst: claims the message, first half of the receiver's Dekker pair
            if (dtact__cas_strong_seq_cst(&ch->head, &head, next)) {
                copy_msg(out, slot + 8, ch->elem);
                dtact__store_release(stamp_of(slot), head + ch->one_lap); // release: the slot is free again
                // seq_cst: second half of the Dekker pair: sees a sender that queued before our CAS
                if (DTACT_UNLIKELY(dtact__load_seq_cst(&ch->nsendw))) wake_one(ch, DTACT__CH_SEND);
                return DTACT_OK;
            }
        } else if (stamp == head) {
            /* seq_cst: ordered after a waiter's count RMW; also the acquire that makes close happen
             * before the DTACT_ECLOSED it causes */
            uint64_t tail = dtact__load_seq_cst(&ch->tail);
            if ((tail & ~ch->mark) == head) return (tail & ch->mark) ? DTACT_ECLOSED : DTACT_EBUSY;
            backoff(&k);                           /* a sender claimed the slot and is still copying */
            head = dtact__load_relaxed(&ch->head); // relaxed: as above
        } else {
            backoff(&k);
            head = dtact__load_relaxed(&ch->head); // relaxed: as above
        }
    }
}

int dtact__chan_recv_ready(dtact_chan_t *ch) {
    uint64_t tail = dtact__load_seq_cst(&ch->tail); // seq_cst: after the waiter's count RMW (Dekker)
    uint64_t head = dtact__load_seq_cst(&ch->head); // seq_cst: as above
    return (tail & ch->mark) || tail != head;
}

int dtact__chan_send_ready(dtact_chan_t *ch) {
    uint64_t tail = dtact__load_seq_cst(&ch->tail); // seq_cst: after the waiter's count RMW (Dekker)
    uint64_t head = dtact__load_seq_cst(&ch->head); // seq_cst: as above
    return (tail & ch->mark) || head + ch->one_lap != tail;
}

void dtact__chan_forward(dtact_chan_t *ch, int kind) {
    if (!ch->cap) return; /* unbuffered wakes are hand-offs, never hints */
    // seq_cst: as the fast path's check
    if (!dtact__load_seq_cst(count_of(ch, kind))) return;
    if (kind == DTACT__CH_RECV ? dtact__chan_recv_ready(ch) : dtact__chan_send_ready(ch)) wake_one(ch, kind);
}

/* ------------------------------------------------------------ waiting */

/* Polls while the other side is likely to act within a few microseconds and
 * this worker has nothing else to run (SPIN_NS). 1 when the ring became ready. */
static int spin_ready(dtact_chan_t *ch, int kind, uint64_t deadline) {
    dtact__worker_t *w = dtact__tls_worker();
    if (w) {
        int in = dtact__rq_enter(w); /* a read of our queues, lent out while we run (sysmon.c) */
        uint32_t queued = dtact__runq_load(&w->rq);
        dtact__rq_leave(w, in);
        if (queued) return 0; /* other fibers wait to run here */
    }
    uint64_t until = dtact__now_ns() + SPIN_NS;
    if (until > deadline) until = deadline;
    /* Watch the stamp of the slot we need, not the other side's position: the
     * other side writes its position on every message, and reading it here
     * would pull that cache line away from it each time. */
    _Atomic uint64_t *pos = kind == DTACT__CH_RECV ? &ch->head : &ch->tail;
    for (unsigned i = 1;; i++) {
        uint64_t p = dtact__load_relaxed(pos); // relaxed: a hint; the retry re-validates
        uint64_t want = kind == DTACT__CH_RECV ? p + 1 : p;
        if (dtact__load_relaxed(stamp_of(slot_at(ch, p))) == want) return 1; // relaxed: a hint, as above
        dtact__cpu_relax();
        if (!(i & 31)) {
            if (kind == DTACT__CH_RECV ? dtact__chan_recv_ready(ch) : dtact__chan_send_ready(ch)) return 1;
            if (dtact__now_ns() >= until) return 0;
            if (w && dtact__load_relaxed(&w->inbox)) return 0; // relaxed: a hint: work arrived for this worker
            dtact__thread_yield();
        }
    }
}

/* Withdraws a node queued on q that was not waited on: 1 if it was still
 * queued, 0 if a waker had taken it (its wake is then absorbed: we wait until
 * the waker is done with the node). */
static int withdraw(dtact__waitq_t *q, _Atomic uint32_t *cnt, dtact__wnode_t *n) {
    dtact__waitq_lock(q);
    int linked = n->linked;
    if (linked) {
        dtact__waitq_remove(q, n);
        dtact__fetch_sub_seq_cst(cnt, 1u); // seq_cst: as every count change
    }
    dtact__waitq_unlock(q);
    if (linked) return 1;
    unsigned k = 0;
    // acquire: pairs with the release of WOKEN in dtact__wnode_wake
    while (dtact__load_acquire(&n->state) != DTACT__WN_WOKEN)
        backoff(&k);
    return 0;
}

/* A buffered send (kind SEND, buf the message) or receive (kind RECV, buf
 * the destination) that waits until the deadline. */
static int ring_wait(dtact_chan_t *ch, int kind, void *buf, uint64_t deadline) {
    dtact__waitq_t *q = queue_of(ch, kind);
    _Atomic uint32_t *cnt = count_of(ch, kind);
    int absorbed = 0, again = 0, r;
    for (;;) {
        r = kind == DTACT__CH_SEND ? dtact__chan_ring_send(ch, buf) : dtact__chan_ring_recv(ch, buf);
        if (r != DTACT_EBUSY) break;
        if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) {
            r = DTACT_ETIMEDOUT;
            break;
        }
        if (spin_ready(ch, kind, deadline)) continue;
        dtact__wnode_t n;
        r = dtact__wnode_init(&n);
        if (r != DTACT_OK) break;
        n.kind = (uint8_t)kind;
        dtact__waitq_lock(q);
        if (again) dtact__waitq_push_front(q, &n); /* woken and beaten: keep our place */
        else dtact__waitq_push(q, &n);
        dtact__fetch_add_seq_cst(cnt, 1u); // seq_cst: the waiter's half of the Dekker pair
        dtact__waitq_unlock(q);
        r = kind == DTACT__CH_SEND ? dtact__chan_ring_send(ch, buf) : dtact__chan_ring_recv(ch, buf);
        if (r != DTACT_EBUSY) {
            if (!withdraw(q, cnt, &n)) absorbed = 1;
            break;
        }
        r = dtact__wnode_wait(q, &n, deadline);
        if (r != DTACT_OK) {                   /* ETIMEDOUT / ESHUTDOWN: dtact__wnode_wait unlinked the node */
            dtact__fetch_sub_seq_cst(cnt, 1u); // seq_cst: as every count change
            break;
        }
        absorbed = again = 1; /* woken (the waker took the node and its count): retry */
    }
    if (absorbed) dtact__chan_forward(ch, kind);
    return r;
}

/* ------------------------------------------------------------ unbuffered */

void dtact__chan_lock2(dtact_chan_t *ch) {
    dtact__waitq_lock(&ch->sendq);
    dtact__waitq_lock(&ch->recvq);
}
void dtact__chan_unlock2(dtact_chan_t *ch) {
    dtact__waitq_unlock(&ch->recvq);
    dtact__waitq_unlock(&ch->sendq);
}

int dtact__chan_unbuf_match(dtact_chan_t *ch, int kind, void *buf, dtact__wnode_t **out) {
    // relaxed: close sets the mark under both locks, which we hold
    if (dtact__load_relaxed(&ch->tail) & ch->mark) return DTACT_ECLOSED;
    int other = kind == DTACT__CH_SEND ? DTACT__CH_RECV : DTACT__CH_SEND;
    dtact__wnode_t *n = take_live(queue_of(ch, other), count_of(ch, other));
    if (!n) return DTACT_EBUSY;
    if (kind == DTACT__CH_SEND) memcpy(n->arg, buf, ch->elem);
    else memcpy(buf, n->arg, ch->elem);
    *out = n;
    return DTACT_OK;
}

static int unbuf_op(dtact_chan_t *ch, int kind, void *buf, uint64_t deadline, int is_try) {
    dtact__wnode_t n, *peer = NULL;
    int r = DTACT_OK;
    if (!is_try && deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) is_try = 2;
    if (!is_try) r = dtact__wnode_init(&n);
    dtact__chan_lock2(ch);
    int m = dtact__chan_unbuf_match(ch, kind, buf, &peer);
    if (m != DTACT_EBUSY || is_try || r != DTACT_OK) {
        dtact__chan_unlock2(ch);
        if (m == DTACT_OK) dtact__chan_wake(peer, DTACT_OK);
        if (m != DTACT_EBUSY) return m;
        return is_try == 1 ? DTACT_EBUSY : is_try ? DTACT_ETIMEDOUT : r;
    }
    n.kind = (uint8_t)kind;
    n.arg = buf;
    dtact__waitq_push(queue_of(ch, kind), &n);
    dtact__fetch_add_seq_cst(count_of(ch, kind), 1u); // seq_cst: as every count change
    dtact__chan_unlock2(ch);
    r = dtact__wnode_wait(queue_of(ch, kind), &n, deadline);
    // seq_cst: as every count change
    if (r == DTACT_ETIMEDOUT || r == DTACT_ESHUTDOWN) dtact__fetch_sub_seq_cst(count_of(ch, kind), 1u);
    return r;
}

/* ------------------------------------------------------------ public */

DTACT_API dtact_chan_t *dtact_chan_create(size_t elem_size, size_t capacity) {
    if (elem_size == 0 || elem_size > 65536 || capacity > ((size_t)1 << 24)) {
        dtact__set_error(DTACT_EINVAL);
        return NULL;
    }
    size_t stride = (8 + elem_size + 7) & ~(size_t)7;
    size_t head = (sizeof(dtact_chan_t) + DTACT_CACHE_LINE - 1) & ~(size_t)(DTACT_CACHE_LINE - 1);
    dtact_chan_t *ch = dtact__heap_alloc(DTACT_CACHE_LINE, head + capacity * stride);
    if (!ch) {
        dtact__set_error(DTACT_ENOMEM);
        return NULL;
    }
    memset(ch, 0, sizeof *ch);
    uint64_t mark = 1;
    while (mark < (uint64_t)capacity + 1)
        mark <<= 1;
    ch->elem = elem_size;
    ch->cap = capacity;
    ch->stride = stride;
    ch->mark = mark;
    ch->one_lap = mark << 1;
    ch->slots = (unsigned char *)ch + head;
    for (size_t i = 0; i < capacity; i++) {
        // relaxed: the channel reaches other threads only through the caller's own hand-over of the pointer
        dtact__store_relaxed(stamp_of(ch->slots + i * stride), (uint64_t)i);
    }
    return ch;
}

DTACT_API int dtact_chan_destroy(dtact_chan_t *ch) {
    if (!ch) return DTACT_EINVAL;
    dtact__chan_lock2(ch);
    // seq_cst: counts include nodes being withdrawn, so a waiter still inside is seen
    int busy = dtact__load_seq_cst(&ch->nsendw) || dtact__load_seq_cst(&ch->nrecvw) ||
               !dtact__waitq_empty(&ch->sendq) || !dtact__waitq_empty(&ch->recvq);
    dtact__chan_unlock2(ch);
    if (busy) return DTACT_EBUSY;
    dtact__heap_free(ch);
    return DTACT_OK;
}

/* Sets the closed mark; returns tail as it was. */
static uint64_t set_mark(dtact_chan_t *ch) {
    uint64_t old = dtact__load_relaxed(&ch->tail); // relaxed: validated by the CAS
    /* seq_cst: a release for the receivers that report ECLOSED, and ordered before the queue scans that
     * follow (a waiter that queues after a scan re-reads tail after its lock acquire and sees the mark). */
    while (!(old & ch->mark) && !dtact__cas_strong_seq_cst(&ch->tail, &old, old | ch->mark)) {
    }
    return old;
}

DTACT_API int dtact_chan_close(dtact_chan_t *ch) {
    if (!ch) return DTACT_EINVAL;
    if (!ch->cap) {
        dtact__chan_lock2(ch);
        uint64_t old = set_mark(ch);
        dtact__wnode_t *list = NULL, *n;
        if (!(old & ch->mark)) {
            for (int kind = DTACT__CH_SEND; kind <= DTACT__CH_RECV; kind++)
                while ((n = take_live(queue_of(ch, kind), count_of(ch, kind))) != NULL) {
                    n->next = list;
                    list = n;
                }
        }
        dtact__chan_unlock2(ch);
        while (list) {
            n = list;
            list = n->next;
            dtact__chan_wake(n, DTACT_ECLOSED);
        }
        return (old & ch->mark) ? DTACT_EALREADY : DTACT_OK;
    }
    uint64_t old = set_mark(ch);
    if (old & ch->mark) return DTACT_EALREADY;
    wake_all(ch, DTACT__CH_SEND, DTACT_OK);
    wake_all(ch, DTACT__CH_RECV, DTACT_OK);
    return DTACT_OK;
}

static int send_until(dtact_chan_t *ch, const void *msg, uint64_t deadline, int is_try) {
    if (!ch || !msg) return DTACT_EINVAL;
    if (!ch->cap) return unbuf_op(ch, DTACT__CH_SEND, (void *)msg, deadline, is_try);
    int r = dtact__chan_ring_send(ch, msg);
    if (DTACT_LIKELY(r != DTACT_EBUSY)) return r;
    if (is_try) return DTACT_EBUSY;
    return ring_wait(ch, DTACT__CH_SEND, (void *)msg, deadline);
}

static int recv_until(dtact_chan_t *ch, void *out, uint64_t deadline, int is_try) {
    if (!ch || !out) return DTACT_EINVAL;
    if (!ch->cap) return unbuf_op(ch, DTACT__CH_RECV, out, deadline, is_try);
    int r = dtact__chan_ring_recv(ch, out);
    if (DTACT_LIKELY(r != DTACT_EBUSY)) return r;
    if (is_try) return DTACT_EBUSY;
    return ring_wait(ch, DTACT__CH_RECV, out, deadline);
}

DTACT_API int dtact_chan_send(dtact_chan_t *ch, const void *msg) { return send_until(ch, msg, DTACT__FOREVER, 0); }
DTACT_API int dtact_chan_try_send(dtact_chan_t *ch, const void *msg) { return send_until(ch, msg, 0, 1); }
DTACT_API int dtact_chan_timedsend(dtact_chan_t *ch, const void *msg, int64_t timeout_ns) {
    return send_until(ch, msg, dtact__deadline_in(timeout_ns), 0);
}
DTACT_API int dtact_chan_send_until(dtact_chan_t *ch, const void *msg, uint64_t deadline_ns) {
    return send_until(ch, msg, deadline_ns, 0);
}
DTACT_API int dtact_chan_recv(dtact_chan_t *ch, void *out) { return recv_until(ch, out, DTACT__FOREVER, 0); }
DTACT_API int dtact_chan_try_recv(dtact_chan_t *ch, void *out) { return recv_until(ch, out, 0, 1); }
DTACT_API int dtact_chan_timedrecv(dtact_chan_t *ch, void *out, int64_t timeout_ns) {
    return recv_until(ch, out, dtact__deadline_in(timeout_ns), 0);
}
DTACT_API int dtact_chan_recv_until(dtact_chan_t *ch, void *out, uint64_t deadline_ns) {
    return recv_until(ch, out, deadline_ns, 0);
}

DTACT_API size_t dtact_chan_len(dtact_chan_t *ch) {
    if (!ch || !ch->cap) return 0;
    for (;;) {
        uint64_t tail = dtact__load_seq_cst(&ch->tail);       // seq_cst: a consistent snapshot of both positions
        uint64_t head = dtact__load_seq_cst(&ch->head);       // seq_cst: as above
        if (dtact__load_seq_cst(&ch->tail) != tail) continue; // seq_cst: as above
        uint64_t hix = head & (ch->mark - 1), tix = tail & (ch->mark - 1);
        if (hix < tix) return (size_t)(tix - hix);
        if (hix > tix) return (size_t)(ch->cap - hix + tix);
        return (tail & ~ch->mark) == head ? 0 : ch->cap;
    }
}

DTACT_API size_t dtact_chan_capacity(dtact_chan_t *ch) { return ch ? ch->cap : 0; }

DTACT_API int dtact_chan_is_closed(dtact_chan_t *ch) {
    if (!ch) return DTACT_EINVAL;
    return (dtact__load_acquire(&ch->tail) & ch->mark) ? 1 : 0; // acquire: pairs with close's RMW
}
