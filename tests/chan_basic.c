/* Description: channel semantics (dtact_sync.h). FIFO order with one producer
 * and one consumer (fibers, threads, no runtime); try ops (EBUSY), timeouts that
 * never fire early, unbuffered rendezvous (a send completes only when a
 * receiver takes the message), close (every blocked sender and receiver is
 * woken and counted, receivers drain the buffer first, EALREADY), len and
 * capacity, and hostile inputs (NULL, elem 0, capacity too large, destroy
 * while waited on). */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "chan_util.h"
#include "rt_util.h"

#define NS_MS 1000000ll

/* CLOCK_MONOTONIC, the clock of every deadline (dtact_now_ns). */
static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct {
    dtact_chan_t *ch;
    uint64_t n;
    uint64_t got;
    int bad;
} fifo_t;

static void fifo_prod(void *arg) {
    fifo_t *f = arg;
    for (uint64_t i = 0; i < f->n; i++)
        cr_assert_eq(dtact_chan_send(f->ch, &i), DTACT_OK);
}
static void fifo_cons(void *arg) {
    fifo_t *f = arg;
    for (uint64_t i = 0; i < f->n; i++) {
        uint64_t v = ~0ull;
        cr_assert_eq(dtact_chan_recv(f->ch, &v), DTACT_OK);
        if (v != i) f->bad++;
        f->got++;
    }
}
static void *fifo_prod_t(void *arg) {
    fifo_prod(arg);
    return NULL;
}
static void *fifo_cons_t(void *arg) {
    fifo_cons(arg);
    return NULL;
}

static void fifo_run(size_t cap, int threads) {
    /* threads on a small ring sleep on a futex for nearly every message */
    uint64_t n = dtact_test_scaled(threads && cap < 64 ? 20000 : 400000, 2000);
    fifo_t f = {dtact_chan_create(8, cap), n, 0, 0};
    cr_assert_not_null(f.ch);
    if (threads) {
        pthread_t a, b;
        pthread_create(&b, NULL, fifo_cons_t, &f);
        pthread_create(&a, NULL, fifo_prod_t, &f);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    } else {
        dtact_handle_t b = dtact_fiber_launch(fifo_cons, &f), a = dtact_fiber_launch(fifo_prod, &f);
        cr_assert_eq(dtact_await(a), DTACT_OK);
        cr_assert_eq(dtact_await(b), DTACT_OK);
    }
    cr_assert_eq(f.got, f.n);
    cr_assert_eq(f.bad, 0, "messages out of order: %d", f.bad);
    cr_assert_eq(dtact_chan_len(f.ch), 0);
    cr_assert_eq(dtact_chan_destroy(f.ch), DTACT_OK);
}

Test(chan, fifo_fibers) {
    void *rt = rt_up(2, 64);
    fifo_run(1024, 0);
    fifo_run(1, 0);
    fifo_run(7, 0);
    fifo_run(0, 0);
    rt_down(rt);
}

Test(chan, fifo_threads_no_runtime) {
    fifo_run(1024, 1);
    fifo_run(3, 1);
    fifo_run(0, 1);
}

Test(chan, try_ops_len_capacity) {
    dtact_chan_t *ch = dtact_chan_create(sizeof(int), 3);
    cr_assert_eq(dtact_chan_capacity(ch), 3);
    int v = 0;
    cr_assert_eq(dtact_chan_try_recv(ch, &v), DTACT_EBUSY);
    cr_assert_eq(dtact_chan_timedrecv(ch, &v, 0), DTACT_ETIMEDOUT);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(dtact_chan_try_send(ch, &i), DTACT_OK);
        cr_assert_eq(dtact_chan_len(ch), (size_t)i);
    }
    int x = 4;
    cr_assert_eq(dtact_chan_try_send(ch, &x), DTACT_EBUSY);
    cr_assert_eq(dtact_chan_timedsend(ch, &x, 0), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_chan_send_until(ch, &x, 1), DTACT_ETIMEDOUT, "a deadline in the past does not wait");
    cr_assert_eq(dtact_chan_len(ch), 3);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(dtact_chan_try_recv(ch, &v), DTACT_OK);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(dtact_chan_try_recv(ch, &v), DTACT_EBUSY);
    /* wrap around the ring many times */
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(dtact_chan_try_send(ch, &i), DTACT_OK);
        cr_assert_eq(dtact_chan_try_recv(ch, &v), DTACT_OK);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);

    dtact_chan_t *u = dtact_chan_create(8, 0);
    uint64_t m = 1;
    cr_assert_eq(dtact_chan_try_send(u, &m), DTACT_EBUSY, "unbuffered: no receiver waits");
    cr_assert_eq(dtact_chan_try_recv(u, &m), DTACT_EBUSY);
    cr_assert_eq(dtact_chan_len(u), 0);
    cr_assert_eq(dtact_chan_capacity(u), 0);
    cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
}

static void timeouts_body(void *arg) {
    (void)arg;
    dtact_chan_t *b = dtact_chan_create(16, 1), *u = dtact_chan_create(16, 0);
    char msg[16] = "abc";
    cr_assert_eq(dtact_chan_send(b, msg), DTACT_OK);
    dtact_chan_t *chans[2] = {b, u};
    for (int k = 0; k < 2; k++) {
        for (int64_t ms = 1; ms <= 16; ms *= 4) {
            uint64_t t0 = mono_ns();
            cr_assert_eq(dtact_chan_timedsend(chans[k], msg, ms * NS_MS), DTACT_ETIMEDOUT);
            uint64_t el = mono_ns() - t0;
            cr_assert_geq(el, (uint64_t)(ms * NS_MS), "send timed out early: %llu ns", (unsigned long long)el);
            cr_assert_lt(el, (uint64_t)(ms * NS_MS + 2000 * NS_MS), "send timeout far too late");
        }
    }
    char out[16];
    cr_assert_eq(dtact_chan_recv(b, out), DTACT_OK);
    cr_assert_str_eq(out, "abc");
    for (int k = 0; k < 2; k++) {
        uint64_t t0 = mono_ns();
        cr_assert_eq(dtact_chan_recv_until(chans[k], out, t0 + 5 * NS_MS), DTACT_ETIMEDOUT);
        cr_assert_geq(mono_ns(), t0 + 5 * NS_MS, "recv timed out early");
    }
    cr_assert_eq(dtact_chan_destroy(b), DTACT_OK, "a timed-out waiter leaves nothing behind");
    cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
}

Test(chan, timeouts_never_early_fiber) {
    void *rt = rt_up(2, 64);
    run_root(timeouts_body, NULL);
    rt_down(rt);
}

Test(chan, timeouts_never_early_thread) { timeouts_body(NULL); }

/* Unbuffered: the sender is blocked until the receiver took the message. */
static atomic_int rv_sent, rv_started;
static void rv_sender(void *arg) {
    uint64_t m = 42;
    atomic_store(&rv_started, 1);
    cr_assert_eq(dtact_chan_send(arg, &m), DTACT_OK);
    atomic_store(&rv_sent, 1);
}

Test(chan, unbuffered_rendezvous) {
    void *rt = rt_up(2, 64);
    for (int round = 0; round < 20; round++) {
        dtact_chan_t *u = dtact_chan_create(8, 0);
        atomic_store(&rv_sent, 0);
        atomic_store(&rv_started, 0);
        dtact_handle_t h = dtact_fiber_launch(rv_sender, u);
        /* The sender must be blocked before destroy is tried (a destroy that
         * succeeded would free the channel under it): wait until it started,
         * then give it ample time to queue (qemu, a loaded CI machine). */
        chan_wait_queued(u, 1);
        dtact_sleep_ns(round == 0 ? 20 * NS_MS : NS_MS); /* and it stays blocked */
        cr_assert_eq(atomic_load(&rv_sent), 0, "a send on an unbuffered channel completed with no receiver");
        cr_assert_eq(dtact_chan_destroy(u), DTACT_EBUSY, "destroy while a sender waits");
        uint64_t v = 0;
        cr_assert_eq(dtact_chan_recv(u, &v), DTACT_OK);
        cr_assert_eq(v, 42);
        cr_assert_eq(dtact_await(h), DTACT_OK);
        cr_assert_eq(atomic_load(&rv_sent), 1);
        cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
    }
    rt_down(rt);
}

/* Close: count the blocked parties it wakes. */
typedef struct {
    dtact_chan_t *ch;
    atomic_int closed_seen, ok_seen, started;
} close_t;

static void close_sender(void *arg) {
    close_t *c = arg;
    uint64_t m = 7;
    atomic_fetch_add(&c->started, 1);
    int r = dtact_chan_send(c->ch, &m);
    if (r == DTACT_ECLOSED) atomic_fetch_add(&c->closed_seen, 1);
    else if (r == DTACT_OK) atomic_fetch_add(&c->ok_seen, 1);
}
static void close_receiver(void *arg) {
    close_t *c = arg;
    uint64_t m;
    atomic_fetch_add(&c->started, 1);
    int r;
    while ((r = dtact_chan_recv(c->ch, &m)) == DTACT_OK)
        atomic_fetch_add(&c->ok_seen, 1);
    if (r == DTACT_ECLOSED) atomic_fetch_add(&c->closed_seen, 1);
}
static void *close_receiver_t(void *arg) {
    close_receiver(arg);
    return NULL;
}
static void *close_sender_t(void *arg) {
    close_sender(arg);
    return NULL;
}

static void close_case(size_t cap, int senders) {
    close_t c = {.ch = dtact_chan_create(8, cap)};
    enum { F = 12, T = 2 };
    dtact_handle_t h[F];
    pthread_t th[T];
    uint64_t m = 5;
    if (senders)
        for (size_t i = 0; i < cap; i++)
            cr_assert_eq(dtact_chan_try_send(c.ch, &m), DTACT_OK);
    for (int i = 0; i < F; i++)
        h[i] = dtact_fiber_launch(senders ? close_sender : close_receiver, &c);
    for (int i = 0; i < T; i++)
        pthread_create(&th[i], NULL, senders ? close_sender_t : close_receiver_t, &c);
    chan_wait_queued(c.ch, F + T);
    cr_assert_eq(dtact_chan_destroy(c.ch), DTACT_EBUSY);
    cr_assert_eq(atomic_load(&c.closed_seen), 0);
    cr_assert_eq(dtact_chan_close(c.ch), DTACT_OK);
    cr_assert_eq(dtact_chan_close(c.ch), DTACT_EALREADY);
    cr_assert_eq(dtact_chan_is_closed(c.ch), 1);
    for (int i = 0; i < F; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&c.closed_seen), F + T, "every blocked party is woken with ECLOSED");
    cr_assert_eq(atomic_load(&c.ok_seen), 0);
    if (senders) { /* the buffered messages stay readable after close */
        for (size_t i = 0; i < cap; i++)
            cr_assert_eq(dtact_chan_recv(c.ch, &m), DTACT_OK);
    }
    cr_assert_eq(dtact_chan_recv(c.ch, &m), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_send(c.ch, &m), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_try_send(c.ch, &m), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_destroy(c.ch), DTACT_OK);
}

Test(chan, close_wakes_every_blocked_party) {
    void *rt = rt_up(2, 64);
    close_case(4, 1);
    close_case(4, 0);
    close_case(0, 1);
    close_case(0, 0);
    rt_down(rt);
}

Test(chan, close_drains_buffer_first) {
    void *rt = rt_up(2, 64);
    dtact_chan_t *ch = dtact_chan_create(8, 16);
    for (uint64_t i = 0; i < 10; i++)
        cr_assert_eq(dtact_chan_send(ch, &i), DTACT_OK);
    cr_assert_eq(dtact_chan_close(ch), DTACT_OK);
    uint64_t v;
    for (uint64_t i = 0; i < 10; i++) {
        cr_assert_eq(dtact_chan_recv(ch, &v), DTACT_OK);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(dtact_chan_recv(ch, &v), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_try_recv(ch, &v), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_timedrecv(ch, &v, 1000), DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);
    rt_down(rt);
}

Test(chan, hostile_inputs) {
    uint64_t m = 0;
    cr_assert_null(dtact_chan_create(0, 4));
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    cr_assert_null(dtact_chan_create(65537, 4));
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    cr_assert_null(dtact_chan_create(8, ((size_t)1 << 24) + 1));
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    cr_assert_null(dtact_chan_create(8, SIZE_MAX));
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    dtact_chan_t *big = dtact_chan_create(65536, 1);
    cr_assert_not_null(big, "the largest element size is accepted");
    static char buf[65536];
    memset(buf, 0x5a, sizeof buf);
    cr_assert_eq(dtact_chan_send(big, buf), DTACT_OK);
    static char out[65536];
    cr_assert_eq(dtact_chan_recv(big, out), DTACT_OK);
    cr_assert_eq(memcmp(buf, out, sizeof buf), 0);
    cr_assert_eq(dtact_chan_destroy(big), DTACT_OK);

    cr_assert_eq(dtact_chan_destroy(NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_close(NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_send(NULL, &m), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_try_send(NULL, &m), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_timedsend(NULL, &m, 5), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_send_until(NULL, &m, 5), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_recv(NULL, &m), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_try_recv(NULL, &m), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_timedrecv(NULL, &m, 5), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_recv_until(NULL, &m, 5), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_len(NULL), 0);
    cr_assert_eq(dtact_chan_capacity(NULL), 0);
    cr_assert_eq(dtact_chan_is_closed(NULL), DTACT_EINVAL);
    dtact_chan_t *ch = dtact_chan_create(8, 2);
    cr_assert_eq(dtact_chan_send(ch, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_recv(ch, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_chan_is_closed(ch), 0);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);
}

/* A receiver thread blocks with no runtime; destroy says EBUSY until it leaves. */
static void *blocked_recv(void *arg) {
    uint64_t v;
    cr_assert_eq(dtact_chan_recv(arg, &v), DTACT_OK);
    cr_assert_eq(v, 99);
    return NULL;
}

Test(chan, destroy_while_waited_on) {
    dtact_chan_t *ch = dtact_chan_create(8, 4);
    pthread_t t;
    pthread_create(&t, NULL, blocked_recv, ch);
    chan_wait_queued(ch, 1);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_EBUSY);
    uint64_t v = 99;
    cr_assert_eq(dtact_chan_send(ch, &v), DTACT_OK);
    pthread_join(t, NULL);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);
}
