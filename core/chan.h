/* core/chan.h -- the channel's structure and the pieces chan_select.c shares
 * with chan.c (see chan.c for the design and docs/chan.md for the argument).
 *
 * A buffered channel (capacity >= 1) is a lock-free bounded ring of slots,
 * each a 64-bit stamp followed by the message (crossbeam's array channel, a
 * Vyukov queue with exact capacity): `tail` and `head` count positions as
 * lap | index, and the mark bit in `tail` says "closed". Blocked senders and
 * receivers wait in two wait queues (core/waitq.h); nsendw / nrecvw count the
 * nodes queued there (plus, briefly, ones being withdrawn) so that a running
 * sender or receiver learns with one load whether it must wake anybody.
 *
 * An unbuffered channel (capacity 0) has no ring: its two queues, always
 * locked together (sendq first, then recvq), hold the waiting parties, and a
 * sender hands its message straight to a queued receiver and vice versa.
 */
#ifndef DTACT_CORE_CHAN_H
#define DTACT_CORE_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "dtact.h"
#include "waitq.h"

struct dtact_chan {
    /* ---- read-only after create */
    size_t elem;      /* message bytes, 1 .. 65536                        */
    size_t cap;       /* capacity as created (0: unbuffered)              */
    size_t stride;    /* bytes per slot: 8-byte stamp + message, rounded  */
    uint64_t mark;    /* the closed bit of tail; mark - 1 masks the index  */
    uint64_t one_lap; /* 2 * mark: one turn of the ring                    */
    unsigned char *slots;
    /* ---- written by senders (tail) and receivers (head): own lines */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint64_t tail;
    _Alignas(DTACT_CACHE_LINE) _Atomic uint64_t head;
    /* ---- waiters: written rarely, read once per message by the other side */
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t nrecvw;
    _Alignas(DTACT_CACHE_LINE) _Atomic uint32_t nsendw;
    _Alignas(DTACT_CACHE_LINE) dtact__waitq_t recvq;
    _Alignas(DTACT_CACHE_LINE) dtact__waitq_t sendq;
};

/* A select in progress (chan_select.c): its case nodes sit in channel queues
 * with node->sel pointing here and node->count the case index. The first party
 * that moves `claim` from 0 to (index + 1) owns the select's outcome; the
 * selector itself claims SEL_SELF (it found a case ready and will retry) or
 * SEL_CANCEL (it gives up). The winner then wakes the selector's `primary`
 * node, which sleeps in the private queue `q`; a winner that finds it already
 * withdrawn stores done = 1 instead. Either store is its last touch. */
#define DTACT__SEL_SELF 0xfffffffeu
#define DTACT__SEL_CANCEL 0xffffffffu
typedef struct dtact__sel_s {
    _Atomic uint32_t claim;
    _Atomic uint32_t done;
    dtact__waitq_t q;
    dtact__wnode_t primary;
} dtact__sel_t;

/* Node kinds (node->kind): which side of a channel a node waits on. */
enum { DTACT__CH_SEND = 1, DTACT__CH_RECV = 2 };

/* The ring (buffered channels): DTACT_OK, DTACT_EBUSY (full / empty) or
 * DTACT_ECLOSED; a success wakes a waiter of the other side if one is queued. */
int dtact__chan_ring_send(dtact_chan_t *ch, const void *msg);
int dtact__chan_ring_recv(dtact_chan_t *ch, void *out);
/* Racy readiness for a waiter's re-check (sequentially consistent loads):
 * 1 if a receive (send) would not find the ring empty (full), or it is closed. */
int dtact__chan_recv_ready(dtact_chan_t *ch);
int dtact__chan_send_ready(dtact_chan_t *ch);
/* A caller that absorbed a wake-up (or a select hint) passes it on: wakes one
 * more waiter of that side if the ring still has messages (space) for it. */
void dtact__chan_forward(dtact_chan_t *ch, int kind);

/* Unbuffered channels: with both queue locks held (dtact__chan_lock2), tries
 * to complete a send (recv) with a queued counterpart. DTACT_OK (the
 * counterpart was taken off its queue and claimed; *out is it, to be woken with
 * dtact__chan_wake after the unlock), DTACT_ECLOSED, or DTACT_EBUSY. */
int dtact__chan_unbuf_match(dtact_chan_t *ch, int kind, void *buf, dtact__wnode_t **out);
void dtact__chan_lock2(dtact_chan_t *ch);
void dtact__chan_unlock2(dtact_chan_t *ch);

/* Wakes a node taken off a channel queue and claimed: a plain waiter through
 * its own node, a select case through its selector (dtact__sel_t). */
void dtact__chan_wake(dtact__wnode_t *n, int status);
/* Claims the select a popped node belongs to (1), or says it is already
 * decided (0: drop the node). Plain nodes always claim. */
int dtact__chan_claim(dtact__wnode_t *n);

#endif /* DTACT_CORE_CHAN_H */
