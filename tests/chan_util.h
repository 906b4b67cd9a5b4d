/* tests/chan_util.h -- waiting until callers are queued on a channel. A test
 * that needs a blocked party (destroy -> EBUSY, close wakes it) checks the
 * channel's wait queues instead of trusting a sleep to be long enough (qemu
 * and loaded CI machines stretch any sleep). */
#ifndef DTACT_TESTS_CHAN_UTIL_H
#define DTACT_TESTS_CHAN_UTIL_H

#include <criterion/criterion.h>

#include "chan.h"
#include "dtact.h"

static inline uint32_t chan_queued(dtact_chan_t *ch) {
    dtact__waitq_lock(&ch->sendq);
    uint32_t a = ch->sendq.n;
    dtact__waitq_unlock(&ch->sendq);
    dtact__waitq_lock(&ch->recvq);
    uint32_t b = ch->recvq.n;
    dtact__waitq_unlock(&ch->recvq);
    return a + b;
}

/* Waits (up to 60 s) until at least n callers are queued on ch. */
static inline void chan_wait_queued(dtact_chan_t *ch, uint32_t n) {
    uint64_t t0 = dtact_now_ns();
    while (chan_queued(ch) < n) {
        cr_assert_lt(dtact_now_ns() - t0, 60000000000ull, "%u callers never queued on the channel", n);
        dtact_sleep_ns(200000);
    }
}

#endif /* DTACT_TESTS_CHAN_UTIL_H */
