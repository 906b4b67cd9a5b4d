/* Description: MPMC channels under load. 4 producers x 4 consumers, each
 * group 3 fibers and 1 host thread (2 host threads in all), millions of
 * messages (scaled by DTACT_TEST_SCALE): every message is received exactly
 * once (a seen-flag per message, plus count and sum), per producer in order,
 * over a large ring, a tiny ring and an unbuffered channel; a channel closed
 * at the end lets every consumer finish with ECLOSED. Also timed operations
 * racing with traffic: a timed-out call never consumes or sends a message. */
#include <pthread.h>
#include <stdlib.h>

#include "rt_util.h"

enum { P = 4, C = 4 };

typedef struct {
    dtact_chan_t *ch;
    uint64_t per; /* messages per producer */
    _Atomic unsigned char *seen;
    _Atomic uint64_t count, sum, dups, order_bad, timeouts;
    int timed; /* use timed calls with short timeouts, retrying */
} mp_t;

typedef struct {
    mp_t *m;
    uint64_t id;
} role_t;

/* Mostly short timeouts, now and then a long one: with only timeouts shorter
 * than the time a call needs to queue (qemu), the two sides of an unbuffered
 * channel would never meet. */
static int64_t timed_ns(int attempt) {
    static const int64_t t[4] = {20000, 10000, 40000, 2000000};
    return t[attempt & 3];
}

static void producer(void *arg) {
    role_t *r = arg;
    mp_t *m = r->m;
    for (uint64_t i = 0; i < m->per; i++) {
        uint64_t v = r->id * m->per + i + 1;
        if (m->timed) {
            int rc, attempt = 0;
            while ((rc = dtact_chan_timedsend(m->ch, &v, timed_ns(attempt++))) == DTACT_ETIMEDOUT)
                atomic_fetch_add(&m->timeouts, 1);
            cr_assert_eq(rc, DTACT_OK);
        } else {
            cr_assert_eq(dtact_chan_send(m->ch, &v), DTACT_OK);
        }
    }
}

static void consumer(void *arg) {
    role_t *r = arg;
    mp_t *m = r->m;
    uint64_t last[P] = {0};
    uint64_t v;
    int rc, attempt = 0;
    for (;;) {
        rc = m->timed ? dtact_chan_timedrecv(m->ch, &v, timed_ns(attempt++)) : dtact_chan_recv(m->ch, &v);
        if (rc == DTACT_ETIMEDOUT) {
            atomic_fetch_add(&m->timeouts, 1);
            continue;
        }
        if (rc != DTACT_OK) break;
        cr_assert(v >= 1 && v <= P * m->per, "message out of range: %llu", (unsigned long long)v);
        if (atomic_exchange(&m->seen[v - 1], 1)) atomic_fetch_add(&m->dups, 1);
        uint64_t p = (v - 1) / m->per;
        if (v <= last[p]) atomic_fetch_add(&m->order_bad, 1); /* one producer's messages stay in order */
        last[p] = v;
        atomic_fetch_add(&m->count, 1);
        atomic_fetch_add(&m->sum, v);
    }
    cr_assert_eq(rc, DTACT_ECLOSED);
}

static void *producer_t(void *arg) {
    producer(arg);
    return NULL;
}
static void *consumer_t(void *arg) {
    consumer(arg);
    return NULL;
}

static void run_mpmc(size_t cap, uint64_t per, int timed) {
    mp_t m = {.ch = dtact_chan_create(8, cap), .per = per, .timed = timed};
    cr_assert_not_null(m.ch);
    uint64_t total = P * per;
    m.seen = calloc(total, 1);
    role_t prod[P], cons[C];
    dtact_handle_t hp[P], hc[C];
    pthread_t tp, tc;
    for (int i = 0; i < C; i++) {
        cons[i] = (role_t){&m, (uint64_t)i};
        if (i == C - 1) pthread_create(&tc, NULL, consumer_t, &cons[i]);
        else hc[i] = dtact_fiber_launch(consumer, &cons[i]);
    }
    for (int i = 0; i < P; i++) {
        prod[i] = (role_t){&m, (uint64_t)i};
        if (i == P - 1) pthread_create(&tp, NULL, producer_t, &prod[i]);
        else hp[i] = dtact_fiber_launch(producer, &prod[i]);
    }
    for (int i = 0; i < P - 1; i++)
        cr_assert_eq(dtact_await(hp[i]), DTACT_OK);
    pthread_join(tp, NULL);
    cr_assert_eq(dtact_chan_close(m.ch), DTACT_OK);
    for (int i = 0; i < C - 1; i++)
        cr_assert_eq(dtact_await(hc[i]), DTACT_OK);
    pthread_join(tc, NULL);
    cr_assert_eq(atomic_load(&m.dups), 0, "messages received twice");
    cr_assert_eq(atomic_load(&m.count), total, "received %llu of %llu", (unsigned long long)atomic_load(&m.count),
                 (unsigned long long)total);
    cr_assert_eq(atomic_load(&m.sum), total * (total + 1) / 2);
    cr_assert_eq(atomic_load(&m.order_bad), 0, "a producer's messages arrived out of order");
    for (uint64_t i = 0; i < total; i++)
        cr_assert(atomic_load(&m.seen[i]), "message %llu lost", (unsigned long long)i + 1);
    cr_assert_eq(dtact_chan_destroy(m.ch), DTACT_OK, "no waiter left behind");
    free((void *)m.seen);
}

Test(chan_mpmc, big_ring_millions) {
    void *rt = rt_up(2, 256);
    run_mpmc(1024, dtact_test_scaled(500000, 2000), 0);
    rt_down(rt);
}

Test(chan_mpmc, tiny_ring) {
    void *rt = rt_up(2, 256);
    run_mpmc(1, dtact_test_scaled(50000, 500), 0);
    run_mpmc(3, dtact_test_scaled(50000, 500), 0);
    rt_down(rt);
}

Test(chan_mpmc, unbuffered) {
    void *rt = rt_up(2, 256);
    run_mpmc(0, dtact_test_scaled(20000, 500), 0);
    rt_down(rt);
}

Test(chan_mpmc, timed_calls_racing_traffic) {
    void *rt = rt_up(2, 256);
    run_mpmc(2, dtact_test_scaled(20000, 500), 1);
    run_mpmc(0, dtact_test_scaled(5000, 200), 1);
    rt_down(rt);
}
