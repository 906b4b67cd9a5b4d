/* Description: dtact_select. Fairness (two always-ready channels are each
 * chosen 40-60% of 100k selects), timeouts (never early, nothing consumed),
 * closed channels are ready with status ECLOSED, send and receive cases mixed
 * (buffered and unbuffered), selects from fibers and from plain threads
 * exchanging millions of messages through several channels with every message
 * delivered exactly once, disabled (NULL) cases and bad input. */
#include <pthread.h>
#include <time.h>

#include "chan_util.h"
#include "rt_util.h"

#define NS_MS 1000000ll

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

Test(chan_select, fairness_two_ready_channels) {
    dtact_chan_t *a = dtact_chan_create(4, 4), *b = dtact_chan_create(4, 4);
    int one = 1, v;
    uint64_t hits[2] = {0, 0};
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        /* keep both ready: each holds one message before every select */
        if (dtact_chan_len(a) == 0) cr_assert_eq(dtact_chan_try_send(a, &one), DTACT_OK);
        if (dtact_chan_len(b) == 0) cr_assert_eq(dtact_chan_try_send(b, &one), DTACT_OK);
        dtact_select_case_t cs[2] = {{a, DTACT_SELECT_RECV, &v, -1}, {b, DTACT_SELECT_RECV, &v, -1}};
        int r = dtact_select(cs, 2, 0);
        cr_assert(r == 0 || r == 1, "select returned %d", r);
        cr_assert_eq(cs[r].status, DTACT_OK);
        hits[r]++;
    }
    cr_assert(hits[0] > N * 40 / 100 && hits[0] < N * 60 / 100, "unfair: %llu / %llu", (unsigned long long)hits[0],
              (unsigned long long)hits[1]);
    /* also with a send case and a receive case, both ready */
    hits[0] = hits[1] = 0;
    dtact_chan_t *c = dtact_chan_create(4, 1);
    for (int i = 0; i < N; i++) {
        if (dtact_chan_len(a) == 0) cr_assert_eq(dtact_chan_try_send(a, &one), DTACT_OK);
        if (dtact_chan_len(c) == 1) cr_assert_eq(dtact_chan_try_recv(c, &v), DTACT_OK);
        dtact_select_case_t cs[3] = {
            {a, DTACT_SELECT_RECV, &v, -1}, {NULL, DTACT_SELECT_RECV, &v, -1}, {c, DTACT_SELECT_SEND, &one, -1}};
        int r = dtact_select(cs, 3, -1);
        cr_assert(r == 0 || r == 2, "select returned %d (a disabled case?)", r);
        hits[r / 2]++;
    }
    cr_assert(hits[0] > N * 40 / 100 && hits[0] < N * 60 / 100, "unfair: %llu / %llu", (unsigned long long)hits[0],
              (unsigned long long)hits[1]);
    dtact_chan_destroy(a);
    dtact_chan_destroy(b);
    dtact_chan_destroy(c);
}

static void timeout_body(void *arg) {
    (void)arg;
    dtact_chan_t *b = dtact_chan_create(8, 2), *u = dtact_chan_create(8, 0), *full = dtact_chan_create(8, 1);
    uint64_t v = 1, out = 0;
    cr_assert_eq(dtact_chan_send(full, &v), DTACT_OK);
    for (int64_t ms = 1; ms <= 16; ms *= 4) {
        dtact_select_case_t cs[4] = {{b, DTACT_SELECT_RECV, &out, -1},
                                     {u, DTACT_SELECT_RECV, &out, -1},
                                     {u, DTACT_SELECT_SEND, &v, -1},
                                     {full, DTACT_SELECT_SEND, &v, -1}};
        uint64_t t0 = mono_ns();
        cr_assert_eq(dtact_select(cs, 4, ms * NS_MS), DTACT_ETIMEDOUT);
        uint64_t el = mono_ns() - t0;
        cr_assert_geq(el, (uint64_t)(ms * NS_MS), "select timed out early: %llu ns", (unsigned long long)el);
        cr_assert_lt(el, (uint64_t)(ms * NS_MS + 2000 * NS_MS));
    }
    dtact_select_case_t cs[2] = {{b, DTACT_SELECT_RECV, &out, -1}, {u, DTACT_SELECT_SEND, &v, -1}};
    cr_assert_eq(dtact_select(cs, 2, 0), DTACT_ETIMEDOUT, "poll with nothing ready");
    uint64_t t0 = mono_ns();
    cr_assert_eq(dtact_select_until(cs, 2, t0 + 3 * NS_MS), DTACT_ETIMEDOUT);
    cr_assert_geq(mono_ns(), t0 + 3 * NS_MS);
    /* every case disabled: a plain sleep until the deadline */
    dtact_select_case_t none[1] = {{NULL, DTACT_SELECT_RECV, &out, -1}};
    t0 = mono_ns();
    cr_assert_eq(dtact_select(none, 1, 2 * NS_MS), DTACT_ETIMEDOUT);
    cr_assert_geq(mono_ns(), t0 + 2 * NS_MS);
    cr_assert_eq(dtact_select(NULL, 0, NS_MS), DTACT_ETIMEDOUT);
    cr_assert_eq(dtact_chan_len(full), 1, "a timed-out select sent nothing");
    cr_assert_eq(dtact_chan_destroy(b), DTACT_OK, "no select node left behind");
    cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(full), DTACT_OK);
}

Test(chan_select, timeout_fiber) {
    void *rt = rt_up(2, 64);
    run_root(timeout_body, NULL);
    rt_down(rt);
}

Test(chan_select, timeout_thread) { timeout_body(NULL); }

static void closed_body(void *arg) {
    (void)arg;
    dtact_chan_t *b = dtact_chan_create(8, 2), *u = dtact_chan_create(8, 0), *open = dtact_chan_create(8, 0);
    uint64_t v = 3, out = 0;
    cr_assert_eq(dtact_chan_send(b, &v), DTACT_OK);
    cr_assert_eq(dtact_chan_close(b), DTACT_OK);
    cr_assert_eq(dtact_chan_close(u), DTACT_OK);
    dtact_select_case_t cs[2] = {{b, DTACT_SELECT_RECV, &out, -1}, {open, DTACT_SELECT_RECV, &out, -1}};
    cr_assert_eq(dtact_select(cs, 2, -1), 0);
    cr_assert_eq(cs[0].status, DTACT_OK, "the buffered message is drained first");
    cr_assert_eq(out, 3);
    cr_assert_eq(dtact_select(cs, 2, -1), 0);
    cr_assert_eq(cs[0].status, DTACT_ECLOSED);
    dtact_select_case_t cu[2] = {{open, DTACT_SELECT_SEND, &v, -1}, {u, DTACT_SELECT_SEND, &v, -1}};
    cr_assert_eq(dtact_select(cu, 2, -1), 1);
    cr_assert_eq(cu[1].status, DTACT_ECLOSED);
    cr_assert_eq(dtact_chan_destroy(b), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(open), DTACT_OK);
}

Test(chan_select, closed_channels_are_ready) {
    void *rt = rt_up(2, 64);
    run_root(closed_body, NULL);
    rt_down(rt);
    closed_body(NULL);
}

/* A blocked select is woken by a close: unbuffered (ECLOSED hand-over) and buffered. */
typedef struct {
    dtact_chan_t *a, *b;
    int idx, status;
    atomic_int started;
} blocked_t;
static void blocked_select(void *arg) {
    blocked_t *s = arg;
    uint64_t out;
    dtact_select_case_t cs[2] = {{s->a, DTACT_SELECT_RECV, &out, -1}, {s->b, DTACT_SELECT_RECV, &out, -1}};
    atomic_store(&s->started, 1);
    s->idx = dtact_select(cs, 2, -1);
    s->status = s->idx >= 0 ? cs[s->idx].status : 0;
}

static void *blocked_select_t(void *arg) {
    blocked_select(arg);
    return NULL;
}

Test(chan_select, close_wakes_blocked_select) {
    void *rt = rt_up(2, 64);
    for (int k = 0; k < 2; k++) {
        blocked_t s = {.a = dtact_chan_create(8, 0), .b = dtact_chan_create(8, k ? 4 : 0)};
        dtact_handle_t h = dtact_fiber_launch(blocked_select, &s);
        chan_wait_queued(s.b, 1);
        cr_assert_eq(dtact_chan_destroy(s.b), DTACT_EBUSY);
        cr_assert_eq(dtact_chan_close(s.b), DTACT_OK);
        cr_assert_eq(dtact_await(h), DTACT_OK);
        cr_assert_eq(s.idx, 1);
        cr_assert_eq(s.status, DTACT_ECLOSED);
        cr_assert_eq(dtact_chan_destroy(s.a), DTACT_OK, "the select withdrew its other node");
        cr_assert_eq(dtact_chan_destroy(s.b), DTACT_OK);
    }
    rt_down(rt);
}

/* Traffic: producers select-send over K channels (mixed buffered and
 * unbuffered), consumers select-receive over all of them; fibers and threads. */
enum { K = 4, SP = 3, SC = 3 };
typedef struct {
    dtact_chan_t *ch[K];
    uint64_t per;
    _Atomic unsigned char *seen;
    _Atomic uint64_t count, sum, dups;
    atomic_int producers_left;
} traffic_t;
typedef struct {
    traffic_t *t;
    uint64_t id;
} trole_t;

static void sel_producer(void *arg) {
    trole_t *r = arg;
    traffic_t *t = r->t;
    for (uint64_t i = 0; i < t->per; i++) {
        uint64_t v = r->id * t->per + i + 1;
        dtact_select_case_t cs[K];
        for (int k = 0; k < K; k++)
            cs[k] = (dtact_select_case_t){t->ch[k], DTACT_SELECT_SEND, &v, -1};
        int x = dtact_select(cs, K, -1);
        cr_assert(x >= 0 && x < K, "select-send returned %d", x);
        cr_assert_eq(cs[x].status, DTACT_OK);
    }
    if (atomic_fetch_sub(&t->producers_left, 1) == 1)
        for (int k = 0; k < K; k++)
            cr_assert_eq(dtact_chan_close(t->ch[k]), DTACT_OK);
}

static void sel_consumer(void *arg) {
    trole_t *r = arg;
    traffic_t *t = r->t;
    uint64_t out[K];
    int open = K;
    dtact_select_case_t cs[K];
    for (int k = 0; k < K; k++)
        cs[k] = (dtact_select_case_t){t->ch[k], DTACT_SELECT_RECV, &out[k], -1};
    while (open) {
        int x = dtact_select(cs, K, -1);
        cr_assert(x >= 0 && x < K, "select-recv returned %d", x);
        if (cs[x].status == DTACT_ECLOSED) {
            cs[x].chan = NULL; /* disable it */
            open--;
            continue;
        }
        uint64_t v = out[x];
        cr_assert(v >= 1 && v <= SP * t->per);
        if (atomic_exchange(&t->seen[v - 1], 1)) atomic_fetch_add(&t->dups, 1);
        atomic_fetch_add(&t->count, 1);
        atomic_fetch_add(&t->sum, v);
    }
}
static void *sel_producer_t(void *arg) {
    sel_producer(arg);
    return NULL;
}
static void *sel_consumer_t(void *arg) {
    sel_consumer(arg);
    return NULL;
}

static void traffic(uint64_t per, size_t caps[K], int threads) {
    traffic_t t = {.per = per};
    for (int k = 0; k < K; k++)
        t.ch[k] = dtact_chan_create(8, caps[k]);
    uint64_t total = SP * per;
    t.seen = calloc(total, 1);
    atomic_store(&t.producers_left, SP);
    trole_t pr[SP], cr[SC];
    dtact_handle_t hp[SP], hc[SC];
    pthread_t tp[SP], tc[SC];
    for (int i = 0; i < SC; i++) {
        cr[i] = (trole_t){&t, (uint64_t)i};
        if (threads && i == 0) pthread_create(&tc[i], NULL, sel_consumer_t, &cr[i]);
        else hc[i] = dtact_fiber_launch(sel_consumer, &cr[i]);
    }
    for (int i = 0; i < SP; i++) {
        pr[i] = (trole_t){&t, (uint64_t)i};
        if (threads && i == 0) pthread_create(&tp[i], NULL, sel_producer_t, &pr[i]);
        else hp[i] = dtact_fiber_launch(sel_producer, &pr[i]);
    }
    for (int i = 0; i < SP; i++) {
        if (threads && i == 0) pthread_join(tp[i], NULL);
        else cr_assert_eq(dtact_await(hp[i]), DTACT_OK);
    }
    for (int i = 0; i < SC; i++) {
        if (threads && i == 0) pthread_join(tc[i], NULL);
        else cr_assert_eq(dtact_await(hc[i]), DTACT_OK);
    }
    cr_assert_eq(atomic_load(&t.dups), 0);
    cr_assert_eq(atomic_load(&t.count), total, "received %llu of %llu", (unsigned long long)atomic_load(&t.count),
                 (unsigned long long)total);
    cr_assert_eq(atomic_load(&t.sum), total * (total + 1) / 2);
    for (int k = 0; k < K; k++)
        cr_assert_eq(dtact_chan_destroy(t.ch[k]), DTACT_OK, "select nodes left behind on channel %d", k);
    free((void *)t.seen);
}

Test(chan_select, traffic_fibers_mixed) {
    void *rt = rt_up(2, 256);
    size_t caps[K] = {0, 1, 16, 0};
    traffic(dtact_test_scaled(100000, 500), caps, 0);
    size_t buf[K] = {64, 1, 16, 1024};
    traffic(dtact_test_scaled(300000, 1000), buf, 0);
    rt_down(rt);
}

Test(chan_select, traffic_threads_mixed) {
    void *rt = rt_up(2, 256);
    size_t caps[K] = {0, 4, 0, 32};
    traffic(dtact_test_scaled(30000, 300), caps, 1);
    rt_down(rt);
}

/* Timed selects racing traffic: producers send with short timeouts and retry,
 * consumers select with short timeouts and retry. A select that reports
 * ETIMEDOUT took nothing, one that reports a case took exactly its message:
 * every message arrives exactly once. */
/* Mostly short timeouts, now and then a long one: with only timeouts shorter
 * than the time a select needs to queue (qemu), no two parties of an
 * unbuffered channel would ever meet. */
static int64_t timed_ns(int attempt) {
    static const int64_t t[4] = {10000, 30000, 15000, 2000000};
    return t[attempt & 3];
}

static void timed_producer(void *arg) {
    trole_t *r = arg;
    traffic_t *t = r->t;
    for (uint64_t i = 0; i < t->per; i++) {
        uint64_t v = r->id * t->per + i + 1;
        dtact_select_case_t cs[K];
        for (int k = 0; k < K; k++)
            cs[k] = (dtact_select_case_t){t->ch[k], DTACT_SELECT_SEND, &v, -1};
        int x, attempt = 0;
        while ((x = dtact_select(cs, K, timed_ns(attempt++))) == DTACT_ETIMEDOUT) {
        }
        cr_assert(x >= 0 && x < K && cs[x].status == DTACT_OK, "select-send returned %d", x);
    }
    if (atomic_fetch_sub(&t->producers_left, 1) == 1)
        for (int k = 0; k < K; k++)
            cr_assert_eq(dtact_chan_close(t->ch[k]), DTACT_OK);
}

static void timed_consumer(void *arg) {
    trole_t *r = arg;
    traffic_t *t = r->t;
    uint64_t out[K];
    int open = K;
    dtact_select_case_t cs[K];
    for (int k = 0; k < K; k++)
        cs[k] = (dtact_select_case_t){t->ch[k], DTACT_SELECT_RECV, &out[k], -1};
    int attempt = 0;
    while (open) {
        for (int k = 0; k < K; k++)
            out[k] = 0;
        int x = dtact_select(cs, K, timed_ns(attempt++));
        if (x == DTACT_ETIMEDOUT) {
            for (int k = 0; k < K; k++)
                cr_assert_eq(out[k], 0, "a timed-out select received a message");
            continue;
        }
        cr_assert(x >= 0 && x < K, "select-recv returned %d", x);
        if (cs[x].status == DTACT_ECLOSED) {
            cs[x].chan = NULL;
            open--;
            continue;
        }
        uint64_t v = out[x];
        cr_assert(v >= 1 && v <= SP * t->per);
        if (atomic_exchange(&t->seen[v - 1], 1)) atomic_fetch_add(&t->dups, 1);
        atomic_fetch_add(&t->count, 1);
        atomic_fetch_add(&t->sum, v);
    }
}

Test(chan_select, timed_selects_racing_traffic) {
    void *rt = rt_up(2, 256);
    size_t caps[2][K] = {{0, 0, 0, 0}, {0, 1, 0, 2}};
    for (int round = 0; round < 2; round++) {
        traffic_t t = {.per = dtact_test_scaled(20000, 300)};
        for (int k = 0; k < K; k++)
            t.ch[k] = dtact_chan_create(8, caps[round][k]);
        uint64_t total = SP * t.per;
        t.seen = calloc(total, 1);
        atomic_store(&t.producers_left, SP);
        trole_t pr[SP], cr[SC];
        dtact_handle_t h[SP + SC];
        for (int i = 0; i < SC; i++) {
            cr[i] = (trole_t){&t, (uint64_t)i};
            h[i] = dtact_fiber_launch(timed_consumer, &cr[i]);
        }
        for (int i = 0; i < SP; i++) {
            pr[i] = (trole_t){&t, (uint64_t)i};
            h[SC + i] = dtact_fiber_launch(timed_producer, &pr[i]);
        }
        for (int i = 0; i < SP + SC; i++)
            cr_assert_eq(dtact_await(h[i]), DTACT_OK);
        cr_assert_eq(atomic_load(&t.dups), 0);
        cr_assert_eq(atomic_load(&t.count), total);
        cr_assert_eq(atomic_load(&t.sum), total * (total + 1) / 2);
        for (int k = 0; k < K; k++)
            cr_assert_eq(dtact_chan_destroy(t.ch[k]), DTACT_OK);
        free((void *)t.seen);
    }
    rt_down(rt);
}

/* Plain threads only, no runtime. */
Test(chan_select, from_threads_without_runtime) {
    dtact_chan_t *u = dtact_chan_create(8, 0), *b = dtact_chan_create(8, 1);
    pthread_t t;
    blocked_t s = {.a = u, .b = b};
    pthread_create(&t, NULL, blocked_select_t, &s);
    while (!atomic_load(&s.started))
        dtact_sleep_ns(NS_MS);
    dtact_sleep_ns(10 * NS_MS);
    uint64_t v = 77;
    cr_assert_eq(dtact_chan_send(u, &v), DTACT_OK, "hand-off to a selecting thread");
    pthread_join(t, NULL);
    cr_assert_eq(s.idx, 0);
    cr_assert_eq(s.status, DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(u), DTACT_OK);
    cr_assert_eq(dtact_chan_destroy(b), DTACT_OK);
}

Test(chan_select, bad_input) {
    uint64_t v = 0;
    dtact_chan_t *b = dtact_chan_create(8, 1);
    cr_assert_eq(dtact_select(NULL, 1, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_select(NULL, 0, -1), DTACT_EINVAL, "nothing to wait for, forever");
    dtact_select_case_t none[2] = {{NULL, DTACT_SELECT_RECV, &v, -1}, {NULL, 0, NULL, -1}};
    cr_assert_eq(dtact_select(none, 2, -1), DTACT_EINVAL);
    dtact_select_case_t bad_op[1] = {{b, 7, &v, -1}};
    cr_assert_eq(dtact_select(bad_op, 1, 0), DTACT_EINVAL);
    dtact_select_case_t no_buf[1] = {{b, DTACT_SELECT_RECV, NULL, -1}};
    cr_assert_eq(dtact_select(no_buf, 1, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_select_until(bad_op, 1, 0), DTACT_EINVAL);
    /* many cases (heap work space) on the same channel */
    dtact_select_case_t many[100];
    for (int i = 0; i < 100; i++)
        many[i] = (dtact_select_case_t){b, DTACT_SELECT_RECV, &v, -1};
    cr_assert_eq(dtact_select(many, 100, NS_MS), DTACT_ETIMEDOUT);
    v = 5;
    cr_assert_eq(dtact_chan_send(b, &v), DTACT_OK);
    v = 0;
    int x = dtact_select(many, 100, -1);
    cr_assert(x >= 0 && x < 100);
    cr_assert_eq(v, 5);
    cr_assert_eq(dtact_chan_destroy(b), DTACT_OK);
}
