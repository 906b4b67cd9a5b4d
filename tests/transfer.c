/* tests/transfer.c -- dtact_recv_until / dtact_send_until: socket transfers
 * that suspend only the calling fiber (completed by the worker's io_uring, or
 * by readiness and retry on epoll and on plain threads). Echo over many
 * socket pairs; a stream larger than the socket buffers; deadlines, which
 * never lose data that arrives at the same time; shutdown(2) of the socket
 * and the runtime's shutdown end a transfer in flight; plain threads with and
 * without a runtime; hostile input. ctest runs it with DTACT_IO_BACKEND
 * unset (auto) and forced to epoll and to io_uring (transfer_epoll,
 * transfer_uring), like tests/reactor.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtact.h"
#include "rt_util.h"
#include "test_scale.h"

#define FOREVER UINT64_MAX

static void sockpair(int sv[2]) {
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0, "socketpair: %s", strerror(errno));
}

static uint64_t in_ms(int ms) { return dtact_now_ns() + (uint64_t)ms * 1000000u; }

static int recv_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ptrdiff_t r = dtact_recv_until(fd, buf + got, n - got, 0, FOREVER);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int send_full(int fd, const char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ptrdiff_t r = dtact_send_until(fd, buf + put, n - put, MSG_NOSIGNAL, FOREVER);
        if (r <= 0) return -1;
        put += (size_t)r;
    }
    return 0;
}

/* 1 when the runtime's backend is io_uring: transfers on its fibers complete there. */
static int uring_backend(void) { return strcmp(dtact_io_backend(), "io_uring") == 0; }

/* ------------------------------------------------------- echo over pairs */

#define MSG 64
struct conn {
    int srv, cli, rounds;
    atomic_int ok, completion;
};

static void echo_server(void *arg) {
    struct conn *c = arg;
    char buf[MSG];
    atomic_store(&c->completion, dtact_io_completion());
    for (int i = 0; i < c->rounds; i++) {
        cr_assert_eq(recv_full(c->srv, buf, MSG), 0);
        cr_assert_eq(send_full(c->srv, buf, MSG), 0);
    }
}

static void echo_client(void *arg) {
    struct conn *c = arg;
    char out[MSG], in[MSG];
    for (int i = 0; i < c->rounds; i++) {
        for (int k = 0; k < MSG; k++)
            out[k] = (char)(i * 31 + k + c->cli);
        cr_assert_eq(send_full(c->cli, out, MSG), 0);
        cr_assert_eq(recv_full(c->cli, in, MSG), 0);
        cr_assert_eq(memcmp(in, out, MSG), 0, "echo mismatch on round %d", i);
    }
    atomic_store(&c->ok, 1);
}

Test(transfer, echo_over_many_socket_pairs) {
    int pairs = (int)dtact_test_scaled(400, 40);
    void *rt = rt_up(2, 4096);
    struct conn *cs = calloc((size_t)pairs, sizeof *cs);
    dtact_handle_t *hs = calloc((size_t)pairs * 2, sizeof *hs);
    for (int i = 0; i < pairs; i++) {
        int sv[2];
        sockpair(sv);
        cs[i].srv = sv[0];
        cs[i].cli = sv[1];
        cs[i].rounds = 20;
        dtact_spawn_attr_t at;
        dtact_spawn_attr_init(&at);
        at.flags = DTACT_SPAWN_JOINABLE;
        cr_assert_eq(dtact_spawn(&hs[2 * i], (void *(*)(void *))(void *)echo_server, &cs[i], &at), DTACT_OK);
        cr_assert_eq(dtact_spawn(&hs[2 * i + 1], (void *(*)(void *))(void *)echo_client, &cs[i], &at), DTACT_OK);
    }
    for (int i = 0; i < 2 * pairs; i++)
        cr_assert_eq(dtact_join(hs[i], -1, NULL), DTACT_OK);
    for (int i = 0; i < pairs; i++) {
        cr_assert(atomic_load(&cs[i].ok));
        cr_assert_eq(atomic_load(&cs[i].completion), uring_backend(), "dtact_io_completion on a fiber");
        close(cs[i].srv);
        close(cs[i].cli);
    }
    cr_assert_eq(dtact_io_completion(), 0, "a plain thread never completes through a ring");
    free(cs);
    free(hs);
    rt_down(rt);
}

/* -------------------------------------- more than the socket buffers hold */

#define BIG (4u << 20)
struct stream {
    int fd;
    char *buf;
    atomic_int rc;
};

static void big_sender(void *arg) {
    struct stream *s = arg;
    atomic_store(&s->rc, send_full(s->fd, s->buf, BIG));
    shutdown(s->fd, SHUT_WR);
}

static void big_receiver(void *arg) {
    struct stream *s = arg;
    size_t got = 0;
    for (;;) {
        ptrdiff_t r = dtact_recv_until(s->fd, s->buf + got, BIG - got, 0, FOREVER);
        if (r < 0) {
            atomic_store(&s->rc, (int)r);
            return;
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got == BIG) {
            /* the end of stream follows: a receive of 1 more byte returns 0 */
            char extra;
            atomic_store(&s->rc, dtact_recv_until(s->fd, &extra, 1, 0, FOREVER) == 0 ? 0 : -100);
            return;
        }
    }
    atomic_store(&s->rc, -101);
}

Test(transfer, a_stream_larger_than_the_socket_buffers) {
    void *rt = rt_up(2, 64);
    int sv[2];
    sockpair(sv);
    int small = 16384;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct stream tx = {sv[0], malloc(BIG), 1}, rx = {sv[1], calloc(1, BIG), 1};
    for (uint32_t i = 0; i < BIG; i++)
        tx.buf[i] = (char)(i * 2654435761u >> 24);
    dtact_handle_t a = dtact_fiber_launch(big_sender, &tx), b = dtact_fiber_launch(big_receiver, &rx);
    cr_assert_eq(dtact_await(a), DTACT_OK);
    cr_assert_eq(dtact_await(b), DTACT_OK);
    cr_assert_eq(atomic_load(&tx.rc), 0);
    cr_assert_eq(atomic_load(&rx.rc), 0, "receiver rc %d", atomic_load(&rx.rc));
    cr_assert_eq(memcmp(tx.buf, rx.buf, BIG), 0, "the stream arrived changed");
    free(tx.buf);
    free(rx.buf);
    close(sv[0]);
    close(sv[1]);
    rt_down(rt);
}

/* ---------------------------------------------------------- deadlines */

struct timed {
    int fd;
    atomic_int rc;
    atomic_ullong waited;
};

static void timed_receiver(void *arg) {
    struct timed *t = arg;
    char b;
    uint64_t t0 = dtact_now_ns(), deadline = t0 + 20000000u;
    /* MSG_DONTWAIT is implied, so passing it changes nothing: the call still waits */
    ptrdiff_t r = dtact_recv_until(t->fd, &b, 1, MSG_DONTWAIT, deadline);
    atomic_store(&t->rc, (int)r); /* before `waited`, which the test thread waits for */
    atomic_store(&t->waited, dtact_now_ns() - t0);
    /* the socket still works after a timed-out receive: nothing was consumed */
    if (r == DTACT_ETIMEDOUT) {
        r = dtact_recv_until(t->fd, &b, 1, 0, in_ms(5000));
        if (r != 1 || b != 'x') atomic_store(&t->rc, -100);
    }
}

Test(transfer, a_deadline_ends_a_receive_and_loses_nothing) {
    void *rt = rt_up(2, 64);
    int sv[2];
    sockpair(sv);
    struct timed t = {sv[0], 1, 0};
    dtact_handle_t h = dtact_fiber_launch(timed_receiver, &t);
    while (atomic_load(&t.waited) == 0)
        usleep(1000);
    cr_assert_eq(atomic_load(&t.rc), DTACT_ETIMEDOUT, "rc %d", atomic_load(&t.rc));
    cr_assert_geq(atomic_load(&t.waited), 20000000ull, "returned %llu ns early",
                  20000000ull - (unsigned long long)atomic_load(&t.waited));
    cr_assert_eq(send(sv[1], "x", 1, 0), 1);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(atomic_load(&t.rc), DTACT_ETIMEDOUT, "the later receive failed");
    close(sv[0]);
    close(sv[1]);
    rt_down(rt);
}

/* Deadlines race with arrivals: each byte sent is received exactly once,
 * whether its receive timed out or not (a transfer that completed while it
 * was being cancelled counts). */
struct race {
    int fd, n;
    atomic_int got, bad, timeouts;
};

static void race_receiver(void *arg) {
    struct race *r = arg;
    unsigned char expect = 0;
    int got = 0;
    uint64_t give_up = in_ms(20000);
    while (got < r->n && dtact_now_ns() < give_up) {
        unsigned char b;
        ptrdiff_t k = dtact_recv_until(r->fd, &b, 1, 0, dtact_now_ns() + 30000u * (uint64_t)(1 + got % 5));
        if (k == DTACT_ETIMEDOUT) {
            atomic_fetch_add(&r->timeouts, 1);
            continue;
        }
        if (k != 1 || b != expect) {
            atomic_store(&r->bad, 1);
            break;
        }
        expect++;
        got++;
    }
    atomic_store(&r->got, got);
}

static void race_sender(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < r->n; i++) {
        unsigned char b = (unsigned char)i;
        cr_assert_eq(dtact_send_until(r->fd, &b, 1, MSG_NOSIGNAL, FOREVER), 1);
        if (i % 3 == 0) dtact_sleep_ns(20000u * (uint64_t)(i % 7));
    }
}

Test(transfer, deadlines_racing_with_arrivals_lose_no_byte) {
    void *rt = rt_up(2, 64);
    int rounds = (int)dtact_test_scaled(4, 1), timeouts = 0;
    for (int k = 0; k < rounds; k++) {
        int sv[2];
        sockpair(sv);
        struct race rr = {sv[0], (int)dtact_test_scaled(2000, 200), 0, 0, 0}, rs = {sv[1], rr.n, 0, 0, 0};
        dtact_handle_t a = dtact_fiber_launch(race_receiver, &rr), b = dtact_fiber_launch(race_sender, &rs);
        cr_assert_eq(dtact_await(b), DTACT_OK);
        cr_assert_eq(dtact_await(a), DTACT_OK);
        cr_assert_eq(atomic_load(&rr.bad), 0, "a byte was lost, doubled or reordered (round %d)", k);
        cr_assert_eq(atomic_load(&rr.got), rr.n, "round %d: %d of %d bytes", k, atomic_load(&rr.got), rr.n);
        timeouts += atomic_load(&rr.timeouts);
        close(sv[0]);
        close(sv[1]);
    }
    /* the race was run: receives did time out (on io_uring each was a cancel) */
    cr_assert_gt(timeouts, 0, "no receive timed out: the deadlines never raced");
    fprintf(stderr, "transfer: %d receives timed out\n", timeouts);
    rt_down(rt);
}

/* ----------------------------------------------- ends of a transfer in flight */

struct inflight {
    int fd;
    atomic_int started;
    atomic_long rc;
    atomic_int err;
};

static void blocked_receiver(void *arg) {
    struct inflight *p = arg;
    char b[16];
    atomic_store(&p->started, 1);
    ptrdiff_t r = dtact_recv_until(p->fd, b, sizeof b, 0, FOREVER);
    atomic_store(&p->err, r == DTACT_ESYS ? errno : 0);
    atomic_store(&p->rc, (long)r);
}

Test(transfer, shutdown_of_the_socket_ends_a_receive_in_flight) {
    void *rt = rt_up(2, 64);
    int sv[2];
    sockpair(sv);
    struct inflight p = {sv[0], 0, 1, 0};
    dtact_handle_t h = dtact_fiber_launch(blocked_receiver, &p);
    while (!atomic_load(&p.started))
        usleep(1000);
    usleep(20000);
    cr_assert_eq(atomic_load(&p.rc), 1, "the receive returned before the shutdown");
    cr_assert_eq(shutdown(sv[0], SHUT_RDWR), 0);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(atomic_load(&p.rc), 0, "rc %ld", atomic_load(&p.rc));
    close(sv[0]);
    close(sv[1]);
    rt_down(rt);
}

static void closed_peer_sender(void *arg) {
    struct inflight *p = arg;
    char b[1024] = {0};
    ptrdiff_t r;
    do
        r = dtact_send_until(p->fd, b, sizeof b, MSG_NOSIGNAL, in_ms(5000));
    while (r > 0);
    atomic_store(&p->err, r == DTACT_ESYS ? errno : 0);
    atomic_store(&p->rc, (long)r);
}

Test(transfer, sending_to_a_closed_peer_fails_with_epipe) {
    void *rt = rt_up(2, 64);
    int sv[2];
    sockpair(sv);
    close(sv[1]);
    struct inflight p = {sv[0], 0, 1, 0};
    cr_assert_eq(dtact_await(dtact_fiber_launch(closed_peer_sender, &p)), DTACT_OK);
    cr_assert_eq(atomic_load(&p.rc), DTACT_ESYS);
    cr_assert_eq(atomic_load(&p.err), EPIPE, "errno %d", atomic_load(&p.err));
    cr_assert_eq(dtact_last_error(), DTACT_OK, "the fiber's error stays on its thread");
    close(sv[0]);
    rt_down(rt);
}

Test(transfer, the_runtimes_shutdown_ends_a_receive_in_flight) {
    for (int k = 0; k < (int)dtact_test_scaled(20, 4); k++) {
        void *rt = rt_up(2, 64);
        int sv[2];
        sockpair(sv);
        struct inflight p = {sv[0], 0, 1, 0};
        (void)dtact_fiber_launch(blocked_receiver, &p);
        while (!atomic_load(&p.started))
            usleep(100);
        if (k & 1) usleep(2000); /* parked by now; else maybe not yet */
        rt_down(rt);
        cr_assert_eq(atomic_load(&p.rc), DTACT_ESHUTDOWN, "round %d: rc %ld", k, atomic_load(&p.rc));
        close(sv[0]);
        close(sv[1]);
    }
}

/* -------------------------------------------------- threads, input */

static void *thread_echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    if (recv_full(fd, buf, MSG) != 0) return (void *)1;
    return (void *)(intptr_t)(send_full(fd, buf, MSG) != 0);
}

static void thread_round_trip(void) {
    int sv[2];
    sockpair(sv);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, thread_echo, (void *)(intptr_t)sv[0]), 0);
    char out[MSG], in[MSG];
    memset(out, 'q', sizeof out);
    usleep(10000); /* the thread blocks in its receive first */
    cr_assert_eq(send_full(sv[1], out, MSG), 0);
    cr_assert_eq(recv_full(sv[1], in, MSG), 0);
    cr_assert_eq(memcmp(in, out, MSG), 0);
    void *res;
    pthread_join(t, &res);
    cr_assert_null(res);
    char b;
    cr_assert_eq(dtact_recv_until(sv[1], &b, 1, 0, in_ms(20)), DTACT_ETIMEDOUT);
    close(sv[0]);
    close(sv[1]);
}

Test(transfer, plain_threads_with_and_without_a_runtime) {
    thread_round_trip();
    void *rt = rt_up(2, 64);
    thread_round_trip();
    rt_down(rt);
}

static void hostile_calls(void *arg) {
    atomic_int *ok = arg;
    char b[4];
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    cr_assert_eq(dtact_recv_until(-1, b, 1, 0, FOREVER), DTACT_EINVAL);
    cr_assert_eq(dtact_send_until(-5, b, 1, 0, FOREVER), DTACT_EINVAL);
    cr_assert_eq(dtact_recv_until(pfd[0], NULL, 4, 0, FOREVER), DTACT_EINVAL);
    cr_assert_eq(dtact_recv_until(pfd[0], b, 1, 0, FOREVER), DTACT_ESYS, "a pipe is not a socket");
    cr_assert_eq(errno, ENOTSOCK, "errno %d", errno);
    close(pfd[0]);
    close(pfd[1]);
    cr_assert_eq(dtact_recv_until(pfd[0], b, 1, 0, FOREVER), DTACT_ESYS, "a closed fd");
    cr_assert_eq(errno, EBADF, "errno %d", errno);
    cr_assert_eq(dtact_last_error(), DTACT_ESYS);
    atomic_store(ok, 1);
}

Test(transfer, hostile_input) {
    void *rt = rt_up(1, 64);
    atomic_int ok = 0;
    cr_assert_eq(dtact_await(dtact_fiber_launch(hostile_calls, &ok)), DTACT_OK);
    cr_assert(atomic_load(&ok));
    rt_down(rt);
    atomic_store(&ok, 0);
    hostile_calls(&ok); /* the same on a plain thread without a runtime */
    cr_assert(atomic_load(&ok));
}
