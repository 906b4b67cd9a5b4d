/* core/chan_select.c -- dtact_select: wait on several channel operations,
 * perform exactly one (dtact_sync.h; docs/chan.md).
 *
 * 1. Ready pass: the enabled cases in a fresh random permutation
 *    (Fisher-Yates, drawn lazily), each tried without waiting; the first that
 *    completes (or finds its channel closed) is the answer. Every ready case is
 *    equally likely to come first in a uniform permutation, so the choice among
 *    ready cases is uniform.
 * 2. Registration: one claim word (dtact__sel_t, on our stack) and one node
 *    per case. The unbuffered channels are locked together in address order,
 *    checked once more under the locks (as Go's pass 1 + 2: nothing can change
 *    between the check and the queueing), their nodes queued and the locks
 *    dropped; then the nodes of buffered channels are queued (count bumped, as
 *    a plain waiter) and each buffered case re-checked after all of them are in
 *    place (the Dekker re-check of chan.c). A ready one makes us claim our own
 *    select (SEL_SELF) and go round again.
 * 3. Wait on the private primary node; the first party to claim the select
 *    wins: an unbuffered counterpart has already handed the message over (the
 *    case is complete), a buffered one only says "ready" (a hint: we go round
 *    again, and pass the hint on afterwards if we did not use it), close says
 *    ECLOSED (unbuffered) or "ready" (buffered).
 * 4. Cleanup: a select that gives up claims SEL_CANCEL, so nobody can win it
 *    afterwards; a winner that beat us is waited for (its last touch), then
 *    every node still queued is unlinked. No node outlives the call.
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "errors.h"
#include "internal.h"
#include "prim.h"

#define SEL_MAX_CASES 65536u /* more cases: DTACT_EINVAL */
#define SEL_STACK_CASES 8u   /* up to this many, no heap */
#define SEL_AGAIN (-1000)    /* wait_round: go round again (no DTACT_E* code) */

/* xorshift64 per thread. noinline: a fiber may move to another thread across a
 * wait, and the thread-local's address must not be cached across it. */
static _Thread_local uint64_t sel_rng;
__attribute__((noinline)) static uint32_t sel_random(uint32_t bound) {
    uint64_t x = sel_rng;
    if (!x) x = (dtact__now_ns() ^ (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ull) | 1u;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sel_rng = x;
    return (uint32_t)(((x * 0x2545f4914f6cdd1dull) >> 32) * bound >> 32);
}

static int kind_of(const dtact_select_case_t *c) {
    return c->op == DTACT_SELECT_SEND ? DTACT__CH_SEND : DTACT__CH_RECV;
}
static dtact__waitq_t *queue_of(dtact_chan_t *ch, int kind) { return kind == DTACT__CH_SEND ? &ch->sendq : &ch->recvq; }
static _Atomic uint32_t *count_of(dtact_chan_t *ch, int kind) {
    return kind == DTACT__CH_SEND ? &ch->nsendw : &ch->nrecvw;
}

/* One case, without waiting: DTACT_OK, DTACT_ECLOSED or DTACT_EBUSY. */
static int try_case(dtact_select_case_t *c) {
    dtact_chan_t *ch = c->chan;
    if (ch->cap) {
        return c->op == DTACT_SELECT_SEND ? dtact__chan_ring_send(ch, c->msg) : dtact__chan_ring_recv(ch, c->msg);
    }
    dtact__wnode_t *peer = NULL;
    dtact__chan_lock2(ch);
    int r = dtact__chan_unbuf_match(ch, kind_of(c), c->msg, &peer);
    dtact__chan_unlock2(ch);
    if (r == DTACT_OK) dtact__chan_wake(peer, DTACT_OK);
    return r;
}

/* Pass 1 in a random order: the index done, or -1. */
static int ready_pass(dtact_select_case_t *cases, size_t n, uint32_t *perm) {
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t k = 0; k < n; k++) {
        size_t j = k + sel_random((uint32_t)(n - k));
        uint32_t i = perm[j];
        perm[j] = perm[k];
        perm[k] = i;
        if (!cases[i].chan) continue;
        int r = try_case(&cases[i]);
        if (r != DTACT_EBUSY) {
            cases[i].status = r;
            return (int)i;
        }
    }
    return -1;
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (dtact_chan_t *const *)a, y = (uintptr_t) * (dtact_chan_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Work space of one select: nodes, the permutation, the unbuffered channels. */
typedef struct sel_space_s {
    dtact__wnode_t *nodes;
    uint32_t *perm;
    dtact_chan_t **chans;
} sel_space_t;

/* One round of registration and waiting (steps 2-4). Returns the index of a
 * completed unbuffered case (its status set), SEL_AGAIN to go round again with
 * *hint the buffered case that woke us (or -1), or an error. */
static int wait_round(dtact_select_case_t *cases, size_t n, sel_space_t *sp, uint64_t deadline, int *hint) {
    dtact__sel_t sel;
    int r = dtact__wnode_init(&sel.primary);
    if (r != DTACT_OK) return r;
    dtact__store_relaxed(&sel.claim, 0u); // relaxed: published by the queue locks below
    dtact__store_relaxed(&sel.done, 0u);  // relaxed: as above
    memset(&sel.q, 0, sizeof sel.q);
    dtact__waitq_lock(&sel.q);
    dtact__waitq_push(&sel.q, &sel.primary);
    dtact__waitq_unlock(&sel.q);

    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        dtact__wnode_t *nd = &sp->nodes[i];
        memset(nd, 0, sizeof *nd);
        if (!cases[i].chan) continue;
        nd->kind = (uint8_t)kind_of(&cases[i]);
        nd->count = (uint32_t)i;
        nd->arg = cases[i].msg;
        nd->sel = &sel;
        if (!cases[i].chan->cap) sp->chans[nu++] = cases[i].chan;
    }
    /* Unbuffered: check and queue under all their locks (address order, once each). */
    if (nu > 1) qsort(sp->chans, nu, sizeof *sp->chans, by_address);
    size_t m = 0;
    for (size_t i = 0; i < nu; i++)
        if (!m || sp->chans[m - 1] != sp->chans[i]) sp->chans[m++] = sp->chans[i];
    nu = m;
    for (size_t i = 0; i < nu; i++)
        dtact__chan_lock2(sp->chans[i]);
    int won = -1, st = DTACT_OK;
    dtact__wnode_t *peer = NULL;
    for (size_t k = 0; k < n && won < 0; k++) {
        uint32_t i = sp->perm[k];
        if (!cases[i].chan || cases[i].chan->cap) continue;
        st = dtact__chan_unbuf_match(cases[i].chan, kind_of(&cases[i]), cases[i].msg, &peer);
        if (st != DTACT_EBUSY) won = (int)i;
    }
    if (won < 0) {
        for (size_t i = 0; i < n; i++) {
            dtact_chan_t *ch = cases[i].chan;
            if (!ch || ch->cap) continue;
            dtact__waitq_push(queue_of(ch, sp->nodes[i].kind), &sp->nodes[i]);
            dtact__fetch_add_seq_cst(count_of(ch, sp->nodes[i].kind), 1u); // seq_cst: as every count change (chan.c)
        }
    }
    for (size_t i = nu; i-- > 0;)
        dtact__chan_unlock2(sp->chans[i]);
    if (won >= 0) {
        if (peer) dtact__chan_wake(peer, DTACT_OK);
        dtact__waitq_lock(&sel.q);
        dtact__waitq_remove(&sel.q, &sel.primary);
        dtact__waitq_unlock(&sel.q);
        cases[won].status = st;
        return won;
    }
    /* Buffered: queue every node, then re-check every case (Dekker, chan.c). */
    for (size_t i = 0; i < n; i++) {
        dtact_chan_t *ch = cases[i].chan;
        if (!ch || !ch->cap) continue;
        dtact__waitq_t *q = queue_of(ch, sp->nodes[i].kind);
        dtact__waitq_lock(q);
        dtact__waitq_push(q, &sp->nodes[i]);
        dtact__fetch_add_seq_cst(count_of(ch, sp->nodes[i].kind), 1u); // seq_cst: the waiter's half of the Dekker pair
        dtact__waitq_unlock(q);
    }
    for (size_t i = 0; i < n; i++) {
        dtact_chan_t *ch = cases[i].chan;
        if (!ch || !ch->cap) continue;
        if (sp->nodes[i].kind == DTACT__CH_SEND ? dtact__chan_send_ready(ch) : dtact__chan_recv_ready(ch)) {
            uint32_t exp = 0;
            // acq_rel: as a waker's claim (chan.c); failure means a waker won first
            dtact__cas_strong_acq_rel(&sel.claim, &exp, DTACT__SEL_SELF);
            break;
        }
    }
    int waited = 0;
    // acquire: a claim by a waker publishes its hand-off only with its wake (below); here it is a test
    if (dtact__load_acquire(&sel.claim) == 0) {
        r = dtact__wnode_wait(&sel.q, &sel.primary, deadline);
        waited = 1;
    }
    uint32_t c;
    if (waited && r == DTACT_OK) {
        c = dtact__load_acquire(&sel.claim); // acquire: the winner woke the primary after its claim
    } else {
        if (!waited) { /* withdraw the primary (a waker may be about to take it) */
            dtact__waitq_lock(&sel.q);
            if (sel.primary.linked) dtact__waitq_remove(&sel.q, &sel.primary);
            dtact__waitq_unlock(&sel.q);
        }
        c = 0;
        // acq_rel: closes the select: no claim can succeed after this
        if (!dtact__cas_strong_acq_rel(&sel.claim, &c, DTACT__SEL_CANCEL) && c != DTACT__SEL_SELF) {
            /* A waker won: wait for its last touch (the wake of the primary, or done). */
            unsigned spins = 0;
            // acquire: pair with the release of WOKEN (dtact__wnode_wake) and of done (dtact__chan_wake)
            while (dtact__load_acquire(&sel.primary.state) != DTACT__WN_WOKEN && !dtact__load_acquire(&sel.done)) {
                if (++spins > 64) dtact__thread_yield();
                else dtact__cpu_relax();
            }
        } else if (c == 0) {
            c = DTACT__SEL_CANCEL;
        }
    }
    /* No claim can happen any more: unlink what is still queued. */
    for (size_t i = 0; i < n; i++) {
        dtact_chan_t *ch = cases[i].chan;
        if (!ch) continue;
        dtact__waitq_t *q = queue_of(ch, sp->nodes[i].kind);
        dtact__waitq_lock(q);
        if (sp->nodes[i].linked) {
            dtact__waitq_remove(q, &sp->nodes[i]);
            dtact__fetch_sub_seq_cst(count_of(ch, sp->nodes[i].kind), 1u); // seq_cst: as every count change
        }
        dtact__waitq_unlock(q);
    }
    if (c == DTACT__SEL_CANCEL) return r; /* ETIMEDOUT or ESHUTDOWN: nothing happened */
    if (c == DTACT__SEL_SELF) return SEL_AGAIN;
    uint32_t i = c - 1u;
    if (!cases[i].chan->cap) {
        cases[i].status = sp->nodes[i].status;
        return (int)i;
    }
    *hint = (int)i;
    return SEL_AGAIN;
}

DTACT_API int dtact_select_until(dtact_select_case_t *cases, size_t n, uint64_t deadline) {
    if ((!cases && n) || n > SEL_MAX_CASES) return DTACT_EINVAL;
    size_t enabled = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cases[i].chan) continue;
        if ((cases[i].op != DTACT_SELECT_SEND && cases[i].op != DTACT_SELECT_RECV) || !cases[i].msg)
            return DTACT_EINVAL;
        enabled++;
    }
    if (!enabled && deadline == DTACT__FOREVER) return DTACT_EINVAL; /* would wait forever */
    dtact__wnode_t nodes_s[SEL_STACK_CASES];
    uint32_t perm_s[SEL_STACK_CASES];
    dtact_chan_t *chans_s[SEL_STACK_CASES];
    sel_space_t sp = {nodes_s, perm_s, chans_s};
    void *heap = NULL;
    if (n > SEL_STACK_CASES) {
        heap = dtact__heap_alloc(0, n * (sizeof(dtact__wnode_t) + sizeof(dtact_chan_t *) + sizeof(uint32_t)));
        if (!heap) return DTACT_ENOMEM;
        sp.nodes = heap;
        sp.chans = (dtact_chan_t **)(void *)(sp.nodes + n);
        sp.perm = (uint32_t *)(void *)(sp.chans + n);
    }
    int hint = -1, r;
    for (;;) {
        r = ready_pass(cases, n, sp.perm);
        if (hint >= 0) { /* the case that woke us: pass its readiness on if we did not use it */
            dtact__chan_forward(cases[hint].chan, kind_of(&cases[hint]));
            hint = -1;
        }
        if (r >= 0) break;
        if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) {
            r = DTACT_ETIMEDOUT;
            break;
        }
        r = wait_round(cases, n, &sp, deadline, &hint);
        if (r != SEL_AGAIN) break;
    }
    if (hint >= 0) dtact__chan_forward(cases[hint].chan, kind_of(&cases[hint]));
    dtact__heap_free(heap);
    return r;
}

DTACT_API int dtact_select(dtact_select_case_t *cases, size_t n, int64_t timeout_ns) {
    return dtact_select_until(cases, n, dtact__deadline_in(timeout_ns));
}
