/* tests/util_tcp.c -- libdtact_util's TCP on fibers: 1,000 concurrent loopback
 * connections echoing checked bytes, half-close, reset, EPIPE without
 * SIGPIPE, the timed variants (accept, connect to a full backlog, read,
 * write into a full socket buffer, 0 = try once), close from another
 * fiber or thread waking a blocked call with ECANCELED, and the end of
 * stream after a short read (which makes the next read wait first).
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_util.h"
#include "test_scale.h"
#include "util_test.h"

/* ------------------------------------------------------------ many echoes */

typedef struct echo_ctx {
    DtactTcpListener *l;
    char addr[DTACT_UTIL_ADDR_MAX];
    uint32_t conns;
    dtact_barrier_t all_connected;
    atomic_uint accepted, served, verified;
} echo_ctx_t;

typedef struct conn {
    echo_ctx_t *ctx;
    uint32_t id;
    DtactTcpStream *s;
} conn_t;

static void echo_serve(void *arg) {
    conn_t *c = arg;
    uint8_t buf[4096];
    for (;;) {
        ptrdiff_t n = dtact_util_io_stream_read(c->s, buf, sizeof buf);
        UCHECK(n >= 0, "server read: %s", ulast());
        if (n == 0) break;
        UCHECK(dtact_util_io_stream_write_all(c->s, buf, (size_t)n) == n, "server write_all: %s", ulast());
    }
    dtact_util_io_stream_close(c->s);
    atomic_fetch_add(&c->ctx->served, 1);
    free(c);
}

static void acceptor(void *arg) {
    echo_ctx_t *x = arg;
    for (uint32_t i = 0; i < x->conns; i++) {
        conn_t *c = calloc(1, sizeof *c);
        UCHECK(c != NULL, "calloc");
        c->ctx = x;
        c->s = dtact_util_io_listener_accept(x->l);
        UCHECK(c->s != NULL, "accept %u: %s", i, ulast());
        atomic_fetch_add(&x->accepted, 1);
        UCHECK(dtact_fiber_launch(echo_serve, c) != DTACT_INVALID_HANDLE, "launch server");
    }
}

static void echo_client(void *arg) {
    conn_t *c = arg;
    echo_ctx_t *x = c->ctx;
    DtactTcpStream *s = dtact_util_io_stream_connect(x->addr);
    /* every connection is open at once before any traffic (a failed one arrives too, so none waits forever) */
    int b = dtact_barrier_wait(&x->all_connected);
    UCHECK(s != NULL, "connect %u: %s", c->id, ulast());
    UCHECK(b >= 0, "barrier: %d", b);
    uint8_t out[3000], in[3000];
    for (int round = 0; round < 3; round++) {
        size_t len = 500 + (size_t)((c->id * 7 + (uint32_t)round * 911) % 2500);
        for (size_t i = 0; i < len; i++)
            out[i] = pattern(c->id + (uint32_t)round, i);
        UCHECK(dtact_util_io_stream_write_all(s, out, len) == (ptrdiff_t)len, "client write_all: %s", ulast());
        size_t got = 0;
        while (got < len) {
            ptrdiff_t n = dtact_util_io_stream_read(s, in + got, len - got);
            UCHECK(n > 0, "client read %u: %td: %s", c->id, n, ulast());
            got += (size_t)n;
        }
        UCHECK(memcmp(in, out, len) == 0, "echo of connection %u differs", c->id);
    }
    UCHECK(dtact_util_io_stream_shutdown(s, 1) == 0, "shutdown: %s", ulast());
    uint8_t z;
    UCHECK(dtact_util_io_stream_read(s, &z, 1) == 0, "no end of stream after the server closed");
    dtact_util_io_stream_close(s);
    atomic_fetch_add(&x->verified, 1);
}

Test(util_tcp, a_thousand_concurrent_echo_connections) {
    uint32_t want = (uint32_t)dtact_test_scaled(1000, 20);
    rlim_t lim = raise_nofile();
    if ((rlim_t)want * 2 + 64 > lim) {
        cr_skip_test("RLIMIT_NOFILE is %lu and cannot be raised: %u connections need %u descriptors",
                     (unsigned long)lim, want, want * 2 + 64);
        return;
    }
    void *rt = rt_up(2, 4 * want + 64);
    echo_ctx_t *x = calloc(1, sizeof *x);
    x->conns = want;
    x->l = listen_any(x->addr);
    cr_assert_eq(dtact_barrier_init(&x->all_connected, want), DTACT_OK);
    conn_t *cs = calloc(want, sizeof *cs);
    dtact_handle_t *hs = calloc(want + 1, sizeof *hs);
    hs[want] = go(acceptor, x);
    for (uint32_t i = 0; i < want; i++) {
        cs[i].ctx = x;
        cs[i].id = i;
        hs[i] = go(echo_client, &cs[i]);
    }
    for (uint32_t i = 0; i <= want; i++)
        cr_assert_eq(dtact_await(hs[i]), DTACT_OK);
    ucheck_assert();
    cr_assert_eq(atomic_load(&x->verified), want);
    while (atomic_load(&x->served) < want) /* the servers' last step follows the clients' end of stream */
        dtact_sleep_ns(1000000);
    ucheck_assert();
    dtact_util_io_listener_close(x->l);
    rt_down(rt);
    free(hs);
    free(cs);
    free(x);
}

/* ------------------------------------------------------------ half-close, reset, EPIPE */

#define MS 1000000LL

typedef struct pair {
    DtactTcpStream *a, *b; /* a: client, b: server side */
} pair_t;

static void make_pair(pair_t *p) {
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l = listen_any(addr);
    p->a = dtact_util_io_stream_connect(addr);
    cr_assert_not_null(p->a, "connect: %s", ulast());
    p->b = dtact_util_io_listener_accept(l);
    cr_assert_not_null(p->b, "accept: %s", ulast());
    dtact_util_io_listener_close(l);
}

static void half_close_fiber(void *arg) {
    pair_t *p = arg;
    UCHECK(dtact_util_io_stream_write_all(p->a, (const uint8_t *)"hello", 5) == 5, "write: %s", ulast());
    UCHECK(dtact_util_io_stream_shutdown(p->a, 1) == 0, "shutdown(write): %s", ulast());
    uint8_t buf[16];
    size_t got = 0;
    ptrdiff_t n;
    while ((n = dtact_util_io_stream_read(p->b, buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    UCHECK(n == 0 && got == 5 && memcmp(buf, "hello", 5) == 0, "server got %zu bytes then %td", got, n);
    /* the half-closed side still reads what the peer writes back */
    UCHECK(dtact_util_io_stream_write_all(p->b, (const uint8_t *)"bye", 3) == 3, "write back: %s", ulast());
    dtact_util_io_stream_close(p->b);
    got = 0;
    while ((n = dtact_util_io_stream_read(p->a, buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    UCHECK(n == 0 && got == 3 && memcmp(buf, "bye", 3) == 0, "client got %zu bytes then %td", got, n);
    /* writing after shutdown(write) fails with EPIPE, without SIGPIPE */
    UCHECK(dtact_util_io_stream_write(p->a, (const uint8_t *)"x", 1) == -1 && dtact_util_last_error() == EPIPE,
           "write after shutdown: %s", ulast());
    dtact_util_io_stream_close(p->a);
}

Test(util_tcp, half_close_lets_the_peer_read_the_end_and_write_back) {
    void *rt = rt_up(2, 64);
    pair_t p;
    make_pair(&p);
    cr_assert_eq(dtact_await(go(half_close_fiber, &p)), DTACT_OK);
    ucheck_assert();
    rt_down(rt);
}

/* A read shorter than the buffer makes the next read wait for readiness
 * before it tries (util/handle.c): an end of stream that came with the data
 * of the short read makes no new edge, so the next read must still see it.
 * Three orders: the reader waits when data and FIN arrive (their edge wakes
 * it), the reader is busy elsewhere (the edge becomes the fd's token), and
 * the fd was never watched (the first watch finds the end). Each read is
 * timed: a lost end costs the whole timeout (the read then tries the receive
 * and sees the end), not a hang. */
typedef struct end_ctx {
    pair_t p;
    int order;        /* 0: reader waiting, 1: reader busy, 2: never watched */
    atomic_int sent;  /* the writer wrote "abc" and shut down */
    atomic_int ready; /* the reader's first exchange is done (orders 0 and 1) */
} end_ctx_t;

static void end_writer(void *arg) {
    end_ctx_t *e = arg;
    while (e->order != 2 && !atomic_load(&e->ready))
        dtact_yield();
    for (int i = 0; e->order == 0 && i < 8; i++) /* most often the reader is parked by now; any order is correct */
        dtact_yield();
    UCHECK(dtact_util_io_stream_write_all(e->p.a, (const uint8_t *)"abc", 3) == 3, "write: %s", ulast());
    UCHECK(dtact_util_io_stream_shutdown(e->p.a, 1) == 0, "shutdown(write): %s", ulast());
    atomic_store(&e->sent, 1);
}

static void end_reader(void *arg) {
    end_ctx_t *e = arg;
    uint8_t buf[16];
    if (e->order != 2) {
        /* a first short exchange: the fd is watched, and the short read skips the next try */
        UCHECK(dtact_util_io_stream_write_all(e->p.a, (const uint8_t *)"x", 1) == 1, "write: %s", ulast());
        UCHECK(dtact_util_io_stream_read_timeout(e->p.b, buf, sizeof buf, 10000 * MS) == 1, "first read: %s", ulast());
    }
    atomic_store(&e->ready, 1);
    while (e->order != 0 && !atomic_load(&e->sent))
        dtact_yield();
    size_t got = 0;
    ptrdiff_t n;
    uint64_t t0 = dtact_now_ns();
    while ((n = dtact_util_io_stream_read_timeout(e->p.b, buf + got, sizeof buf - got, 10000 * MS)) > 0)
        got += (size_t)n;
    uint64_t dt = dtact_now_ns() - t0;
    UCHECK(n == 0 && got == 3 && memcmp(buf, "abc", 3) == 0, "order %d: %zu bytes, then %td (%s)", e->order, got, n,
           n < 0 ? ulast() : "");
    /* a lost end would be seen only by the receive after the skipped wait's timeout */
    UCHECK(dt < 10000 * MS, "order %d: the end of stream took the whole read timeout", e->order);
}

Test(util_tcp, a_short_read_then_the_end_of_stream_that_came_with_it) {
    void *rt = rt_up(2, 64);
    for (int round = 0; round < 30; round++) {
        end_ctx_t e;
        memset(&e, 0, sizeof e);
        e.order = round % 3;
        make_pair(&e.p);
        dtact_handle_t r = go(end_reader, &e), w = go(end_writer, &e);
        cr_assert_eq(dtact_await(w), DTACT_OK);
        cr_assert_eq(dtact_await(r), DTACT_OK);
        ucheck_assert();
        dtact_util_io_stream_close(e.p.a);
        dtact_util_io_stream_close(e.p.b);
    }
    rt_down(rt);
}

static void reset_fiber(void *arg) {
    DtactTcpStream *s = arg;
    uint8_t buf[8];
    ptrdiff_t n = dtact_util_io_stream_read(s, buf, sizeof buf);
    UCHECK(n == -1 && dtact_util_last_error() == ECONNRESET, "read after the peer's reset: %td, %s", n, ulast());
    dtact_util_io_stream_close(s);
}

Test(util_tcp, a_reset_peer_gives_econnreset) {
    void *rt = rt_up(2, 64);
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l = listen_any(addr);
    /* the peer: a plain socket closed with SO_LINGER 0 (an RST) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)atoi(strrchr(addr, ':') + 1));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sl), 0);
    DtactTcpStream *s = dtact_util_io_listener_accept(l);
    cr_assert_not_null(s, "accept: %s", ulast());
    struct linger lg = {1, 0};
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
    cr_assert_eq(dtact_await(go(reset_fiber, s)), DTACT_OK);
    ucheck_assert();
    dtact_util_io_listener_close(l);
    rt_down(rt);
}

static void epipe_fiber(void *arg) {
    pair_t *p = arg;
    dtact_util_io_stream_close(p->b);
    uint8_t chunk[1024];
    memset(chunk, 'x', sizeof chunk);
    int err = 0;
    for (int i = 0; i < 10000 && !err; i++)
        if (dtact_util_io_stream_write(p->a, chunk, sizeof chunk) < 0) err = dtact_util_last_error();
    UCHECK(err == EPIPE || err == ECONNRESET, "writes to a closed peer never failed (last %d: %s)", err, ulast());
    dtact_util_io_stream_close(p->a);
}

Test(util_tcp, writing_to_a_closed_peer_fails_without_sigpipe) {
    void *rt = rt_up(2, 64);
    pair_t p;
    make_pair(&p);
    cr_assert_eq(dtact_await(go(epipe_fiber, &p)), DTACT_OK);
    ucheck_assert();
    rt_down(rt);
}

/* ------------------------------------------------------------ timeouts */


typedef struct tmo {
    pair_t p;
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l;
} tmo_t;

static void timeouts_fiber(void *arg) {
    tmo_t *t = arg;
    uint8_t buf[64];
    /* accept */
    uint64_t t0 = dtact_now_ns();
    DtactTcpStream *s = dtact_util_io_listener_accept_timeout(t->l, 30 * MS);
    uint64_t dt = dtact_now_ns() - t0;
    UCHECK(s == NULL && dtact_util_last_error() == ETIMEDOUT, "accept_timeout: %s", ulast());
    UCHECK(dt >= 30 * MS, "accept_timeout returned early (%llu ns)", (unsigned long long)dt);
    UCHECK(dt < 30000 * MS, "accept_timeout took %llu ns", (unsigned long long)dt);
    /* read: nothing comes */
    t0 = dtact_now_ns();
    ptrdiff_t n = dtact_util_io_stream_read_timeout(t->p.a, buf, sizeof buf, 30 * MS);
    dt = dtact_now_ns() - t0;
    UCHECK(n == -1 && dtact_util_last_error() == ETIMEDOUT, "read_timeout: %td %s", n, ulast());
    UCHECK(dt >= 30 * MS, "read_timeout returned early (%llu ns)", (unsigned long long)dt);
    /* 0: try once */
    UCHECK(dtact_util_io_stream_read_timeout(t->p.a, buf, sizeof buf, 0) == -1 && dtact_util_last_error() == ETIMEDOUT,
           "read_timeout(0): %s", ulast());
    UCHECK(dtact_util_io_stream_write_timeout(t->p.b, (const uint8_t *)"ab", 2, 0) == 2, "write_timeout(0): %s",
           ulast());
    UCHECK(dtact_util_io_stream_read_timeout(t->p.a, buf, sizeof buf, 1000 * MS) == 2, "read_timeout: %s", ulast());
    /* write: nobody reads, so the socket buffers fill */
    static uint8_t chunk[65536];
    int err = 0;
    for (int i = 0; i < 100000 && !err; i++)
        if (dtact_util_io_stream_write_timeout(t->p.a, chunk, sizeof chunk, 20 * MS) < 0) err = dtact_util_last_error();
    UCHECK(err == ETIMEDOUT, "write_timeout into full buffers: %d %s", err, ulast());
    /* write_all: the kernel may still find room for another chunk after the
     * timeout above (the loopback peer's receive window grows), so a call
     * may succeed; it must then have written everything, and one of a
     * bounded number of calls must time out. */
    int timed_out = 0;
    for (int i = 0; i < 10000 && !timed_out; i++) {
        ptrdiff_t w = dtact_util_io_stream_write_all_timeout(t->p.a, chunk, sizeof chunk, 20 * MS);
        if (w == -1) {
            UCHECK(dtact_util_last_error() == ETIMEDOUT, "write_all_timeout: %s", ulast());
            timed_out = 1;
        } else {
            UCHECK(w == (ptrdiff_t)sizeof chunk, "write_all_timeout wrote %td of %zu", w, sizeof chunk);
            if (w != (ptrdiff_t)sizeof chunk) break;
        }
    }
    UCHECK(timed_out, "write_all_timeout into full buffers never timed out");
}

Test(util_tcp, timed_variants_expire_with_etimedout) {
    void *rt = rt_up(2, 64);
    tmo_t t;
    make_pair(&t.p);
    t.l = listen_any(t.addr);
    cr_assert_eq(dtact_await(go(timeouts_fiber, &t)), DTACT_OK);
    ucheck_assert();
    dtact_util_io_stream_close(t.p.a);
    dtact_util_io_stream_close(t.p.b);
    dtact_util_io_listener_close(t.l);
    rt_down(rt);
}

/* A listener with backlog 0 that nobody accepts: once its accept queue holds
 * one connection, the kernel drops every further SYN, so a connect can only
 * time out (the client would retransmit for minutes). */
static void connect_timeout_fiber(void *arg) {
    const char *addr = arg;
    DtactTcpStream *held[8] = {0};
    int timed_out = 0, i;
    for (i = 0; i < 8 && !timed_out; i++) {
        uint64_t t0 = dtact_now_ns();
        held[i] = dtact_util_io_stream_connect_timeout(addr, 100 * MS);
        if (!held[i]) {
            UCHECK(dtact_util_last_error() == ETIMEDOUT, "connect_timeout: %s", ulast());
            UCHECK(dtact_now_ns() - t0 >= 100 * MS, "connect_timeout returned early");
            timed_out = 1;
        }
    }
    for (int k = 0; k < 8; k++)
        if (held[k]) dtact_util_io_stream_close(held[k]);
    UCHECK(timed_out, "8 connects to a backlog-0 listener all succeeded");
}

Test(util_tcp, connect_to_a_full_backlog_times_out) {
    void *rt = rt_up(2, 64);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sl), 0);
    cr_assert_eq(listen(fd, 0), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sin.sin_port));
    cr_assert_eq(dtact_await(go(connect_timeout_fiber, addr)), DTACT_OK);
    ucheck_assert();
    close(fd);
    rt_down(rt);
}

Test(util_tcp, connect_refused) {
    /* a port nobody listens on: bind one, read its number, close it */
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l = listen_any(addr);
    dtact_util_io_listener_close(l);
    cr_assert_null(dtact_util_io_stream_connect(addr));
    cr_assert_eq(dtact_util_last_error(), ECONNREFUSED, "%s", ulast());
    cr_assert_not_null(dtact_util_last_error_message());
}

/* ------------------------------------------------------------ close wakes waiters */

typedef struct waker {
    pair_t p;
    DtactTcpListener *l;
    atomic_int result, err, accept_err;
} waker_t;

static void blocked_reader(void *arg) {
    waker_t *w = arg;
    uint8_t buf[8];
    ptrdiff_t n = dtact_util_io_stream_read_timeout(w->p.a, buf, sizeof buf, 60000 * MS);
    atomic_store(&w->err, n < 0 ? dtact_util_last_error() : 0);
    atomic_store(&w->result, (int)n);
}

static void blocked_acceptor(void *arg) {
    waker_t *w = arg;
    DtactTcpStream *s = dtact_util_io_listener_accept_timeout(w->l, 60000 * MS);
    atomic_store(&w->accept_err, s ? -1 : dtact_util_last_error());
}

static void closer_fiber(void *arg) {
    waker_t *w = arg;
    dtact_util_io_stream_close(w->p.a);
    dtact_util_io_listener_close(w->l);
}

static void *closer_thread(void *arg) {
    closer_fiber(arg);
    return NULL;
}

static void close_wakes(int from_thread) {
    void *rt = rt_up(2, 64);
    waker_t w;
    memset(&w, 0, sizeof w);
    char addr[DTACT_UTIL_ADDR_MAX];
    make_pair(&w.p);
    w.l = listen_any(addr);
    atomic_store(&w.result, 1);
    dtact_handle_t r = go(blocked_reader, &w), a = go(blocked_acceptor, &w);
    wait_in_flight(w.p.a, 1);
    wait_in_flight(w.l, 1);
    dtact_sleep_ns(5000000); /* most likely parked by now (either way the call must end with ECANCELED) */
    if (from_thread) {
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, closer_thread, &w), 0);
        pthread_join(th, NULL);
    } else {
        cr_assert_eq(dtact_await(go(closer_fiber, &w)), DTACT_OK);
    }
    cr_assert_eq(dtact_await(r), DTACT_OK);
    cr_assert_eq(dtact_await(a), DTACT_OK);
    cr_assert_eq(atomic_load(&w.result), -1);
    cr_assert_eq(atomic_load(&w.err), ECANCELED, "read woken with errno %d", atomic_load(&w.err));
    cr_assert_eq(atomic_load(&w.accept_err), ECANCELED, "accept woken with errno %d", atomic_load(&w.accept_err));
    /* the peer sees the end of the stream */
    uint8_t b;
    cr_assert_eq(dtact_util_io_stream_read(w.p.b, &b, 1), 0);
    dtact_util_io_stream_close(w.p.b);
    rt_down(rt);
}

Test(util_tcp, close_from_another_fiber_wakes_blocked_calls) { close_wakes(0); }

Test(util_tcp, close_from_another_thread_wakes_blocked_calls) { close_wakes(1); }

/* Close with several calls in flight: each wakes, the last one out frees (nothing leaks: ASan). */
static void racer(void *arg) {
    DtactTcpStream *s = arg;
    uint8_t b;
    (void)dtact_util_io_stream_read_timeout(s, &b, 1, 2000 * MS);
}

Test(util_tcp, close_with_several_calls_in_flight) {
    void *rt = rt_up(2, 256);
    int rounds = (int)dtact_test_scaled(100, 10);
    for (int i = 0; i < rounds; i++) {
        pair_t p;
        make_pair(&p);
        dtact_handle_t hs[4];
        for (int k = 0; k < 4; k++)
            hs[k] = go(racer, p.a);
        wait_in_flight(p.a, 4);
        dtact_util_io_stream_close(p.a);
        for (int k = 0; k < 4; k++)
            cr_assert_eq(dtact_await(hs[k]), DTACT_OK);
        dtact_util_io_stream_close(p.b);
    }
    rt_down(rt);
}

/* Shutdown of the runtime wakes a fiber blocked in a read with ESHUTDOWN. */
static void shutdown_reader(void *arg) {
    waker_t *w = arg;
    uint8_t b;
    atomic_store(&w->result, 1);
    ptrdiff_t n = dtact_util_io_stream_read(w->p.a, &b, 1);
    atomic_store(&w->err, n < 0 ? dtact_util_last_error() : 0);
}

Test(util_tcp, runtime_shutdown_wakes_a_reader_with_eshutdown) {
    void *rt = rt_up(2, 64);
    waker_t w;
    memset(&w, 0, sizeof w);
    make_pair(&w.p);
    atomic_store(&w.err, -1);
    (void)go(shutdown_reader, &w);
    /* once the fiber has started, shutdown ends its read whether it is parked yet or not */
    while (!atomic_load(&w.result))
        dtact_sleep_ns(1000000);
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(atomic_load(&w.err), ESHUTDOWN, "errno %d", atomic_load(&w.err));
    dtact_util_io_stream_close(w.p.a);
    dtact_util_io_stream_close(w.p.b);
}

/* The same in rounds, with readers on both workers: shutdown catches some of
 * them between queuing their receive and their worker submitting it, and the
 * sweep may run them on the other worker, whose cancel then finds nothing in
 * the kernel yet (it is asked again until it does: a receive armed after the
 * only cancel hung dtact_destroy for good, 1 run in 10 under TSan). */
#define SHUT_READERS 6

typedef struct shut_round {
    pair_t p[SHUT_READERS];
    atomic_int started, err[SHUT_READERS];
} shut_round_t;

typedef struct shut_reader {
    shut_round_t *r;
    int i;
} shut_reader_t;

static void round_reader(void *arg) {
    shut_reader_t *sr = arg;
    uint8_t b;
    atomic_fetch_add(&sr->r->started, 1);
    ptrdiff_t n = dtact_util_io_stream_read(sr->r->p[sr->i].a, &b, 1);
    atomic_store(&sr->r->err[sr->i], n < 0 ? dtact_util_last_error() : 0);
}

Test(util_tcp, runtime_shutdown_in_rounds_wakes_every_reader, .timeout = 300) {
    int rounds = (int)dtact_test_scaled(200, 20);
    for (int k = 0; k < rounds; k++) {
        void *rt = rt_up(2, 64);
        shut_round_t r;
        shut_reader_t sr[SHUT_READERS];
        memset(&r, 0, sizeof r);
        for (int i = 0; i < SHUT_READERS; i++) {
            make_pair(&r.p[i]);
            atomic_store(&r.err[i], -1);
            sr[i] = (shut_reader_t){&r, i};
            (void)go(round_reader, &sr[i]);
        }
        /* shut down as the readers start: some are parked, some queuing, some not yet begun */
        while (atomic_load(&r.started) < 1 + k % SHUT_READERS)
            sched_yield();
        cr_assert_eq(dtact_shutdown(), DTACT_OK);
        cr_assert_eq(dtact_destroy(rt), DTACT_OK);
        /* a started reader ends with ESHUTDOWN; one never started is cancelled (its -1 stays) */
        int unstarted = 0;
        for (int i = 0; i < SHUT_READERS; i++) {
            int e = atomic_load(&r.err[i]);
            cr_assert(e == ESHUTDOWN || e == -1, "round %d reader %d: errno %d", k, i, e);
            unstarted += e == -1;
            dtact_util_io_stream_close(r.p[i].a);
            dtact_util_io_stream_close(r.p[i].b);
        }
        cr_assert_eq(unstarted, SHUT_READERS - atomic_load(&r.started), "round %d", k);
    }
}
