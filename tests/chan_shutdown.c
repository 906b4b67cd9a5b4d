/* Description: dtact_shutdown wakes fibers blocked in every channel call
 * (send on a full ring, receive on an empty one, both sides of an unbuffered
 * channel, select, timed variants) with DTACT_ESHUTDOWN; nothing was sent or
 * consumed, no waiter is left, and every channel can then be destroyed. */
#include "chan_util.h"
#include "rt_util.h"

#define NS_MS 1000000ll

enum { KINDS = 7, EACH = 3 };
static atomic_int started, result[KINDS * EACH];
static dtact_chan_t *full, *empty, *unbuf_s, *unbuf_r; /* unbuffered: senders only, receivers only */

static void blocked(void *arg) {
    int i = (int)(intptr_t)arg;
    uint64_t v = 1, out = 0;
    atomic_fetch_add(&started, 1);
    int r;
    switch (i % KINDS) {
    case 0: r = dtact_chan_send(full, &v); break;
    case 1: r = dtact_chan_recv(empty, &out); break;
    case 2: r = dtact_chan_send(unbuf_s, &v); break;
    case 3: r = dtact_chan_recv(unbuf_r, &out); break;
    case 4: r = dtact_chan_timedrecv(empty, &out, 60000 * NS_MS); break;
    case 5: r = dtact_chan_timedsend(unbuf_s, &v, 60000 * NS_MS); break;
    default: {
        dtact_select_case_t cs[3] = {{empty, DTACT_SELECT_RECV, &out, -1},
                                     {unbuf_r, DTACT_SELECT_RECV, &out, -1},
                                     {full, DTACT_SELECT_SEND, &v, -1}};
        r = dtact_select(cs, 3, -1);
    }
    }
    atomic_store(&result[i], r);
}

Test(chan_shutdown, wakes_blocked_fibers) {
    void *rt = rt_up(2, 256);
    full = dtact_chan_create(8, 2);
    empty = dtact_chan_create(8, 8);
    unbuf_s = dtact_chan_create(8, 0);
    unbuf_r = dtact_chan_create(8, 0);
    uint64_t v = 9;
    cr_assert_eq(dtact_chan_send(full, &v), DTACT_OK);
    cr_assert_eq(dtact_chan_send(full, &v), DTACT_OK);
    for (int i = 0; i < KINDS * EACH; i++) {
        atomic_store(&result[i], 1);
        cr_assert_neq(dtact_fiber_launch(blocked, (void *)(intptr_t)i), DTACT_INVALID_HANDLE);
    }
    while (atomic_load(&started) < KINDS * EACH)
        dtact_sleep_ns(NS_MS);
    /* Every caller queued: full 3 senders + 3 selects, empty 3 + 3 timed
     * receivers + 3 selects, unbuf_s 3 + 3 timed senders, unbuf_r 3 + 3 selects. */
    chan_wait_queued(full, 2 * EACH);
    chan_wait_queued(empty, 3 * EACH);
    chan_wait_queued(unbuf_s, 2 * EACH);
    chan_wait_queued(unbuf_r, 2 * EACH);
    cr_assert_eq(dtact_chan_destroy(unbuf_s), DTACT_EBUSY);
    cr_assert_eq(dtact_chan_destroy(unbuf_r), DTACT_EBUSY);
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK, "every blocked fiber was woken and finished");
    for (int i = 0; i < KINDS * EACH; i++)
        cr_assert_eq(atomic_load(&result[i]), DTACT_ESHUTDOWN, "call kind %d returned %d", i % KINDS,
                     atomic_load(&result[i]));
    cr_assert_eq(dtact_chan_len(full), 2, "nothing was sent");
    cr_assert_eq(dtact_chan_len(empty), 0);
    cr_assert_eq(dtact_chan_destroy(full), DTACT_OK, "no waiter left");
    cr_assert_eq(dtact_chan_destroy(empty), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(unbuf_s), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(unbuf_r), DTACT_OK);
}
