/* tests/util_nort.c -- libdtact_util on plain threads in a program that never
 * creates a Dtact runtime (no test here calls dtact_init): every call blocks
 * its thread (poll), the timed variants expire, name resolution runs on the
 * blocking pool, and a close from another thread wakes a blocked call.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util_test.h"

#define MS 1000000LL

typedef struct srv {
    DtactTcpListener *l;
    int ok;
} srv_t;

static void *echo_thread(void *arg) {
    srv_t *s = arg;
    DtactTcpStream *c = dtact_util_io_listener_accept(s->l);
    if (!c) return NULL;
    uint8_t buf[1024];
    ptrdiff_t n;
    while ((n = dtact_util_io_stream_read(c, buf, sizeof buf)) > 0)
        if (dtact_util_io_stream_write_all(c, buf, (size_t)n) != n) break;
    s->ok = n == 0;
    dtact_util_io_stream_close(c);
    return NULL;
}

Test(util_nort, tcp_echo_between_threads) {
    srv_t s = {0};
    char addr[DTACT_UTIL_ADDR_MAX];
    s.l = listen_any(addr);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, echo_thread, &s), 0);
    DtactTcpStream *c = dtact_util_io_stream_connect(addr);
    cr_assert_not_null(c, "%s", ulast());
    static uint8_t out[200000], in[200000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = pattern(3, i);
    /* writes (try once) and reads (1 ms) alternate, so neither direction's buffers stall the echo */
    size_t put = 0, got = 0;
    while (got < sizeof in) {
        if (put < sizeof out) {
            ptrdiff_t w = dtact_util_io_stream_write_timeout(c, out + put, sizeof out - put, 0);
            if (w > 0) put += (size_t)w;
            else cr_assert_eq(dtact_util_last_error(), ETIMEDOUT, "%s", ulast());
        }
        ptrdiff_t n = dtact_util_io_stream_read_timeout(c, in + got, sizeof in - got, put < sizeof out ? 1 * MS : -1);
        if (n > 0) got += (size_t)n;
        else cr_assert_eq(dtact_util_last_error(), ETIMEDOUT, "%td %s", n, ulast());
    }
    cr_assert_eq(memcmp(in, out, sizeof in), 0);
    cr_assert_eq(dtact_util_io_stream_shutdown(c, 1), 0);
    uint8_t z;
    cr_assert_eq(dtact_util_io_stream_read(c, &z, 1), 0);
    pthread_join(th, NULL);
    cr_assert(s.ok);
    dtact_util_io_stream_close(c);
    dtact_util_io_listener_close(s.l);
}

Test(util_nort, timeouts_on_a_plain_thread) {
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l = listen_any(addr);
    uint64_t t0 = dtact_now_ns();
    cr_assert_null(dtact_util_io_listener_accept_timeout(l, 20 * MS));
    cr_assert_eq(dtact_util_last_error(), ETIMEDOUT, "%s", ulast());
    cr_assert_geq(dtact_now_ns() - t0, (uint64_t)(20 * MS));
    DtactTcpStream *c = dtact_util_io_stream_connect_timeout(addr, 5000 * MS);
    cr_assert_not_null(c, "%s", ulast());
    uint8_t b;
    t0 = dtact_now_ns();
    cr_assert_eq(dtact_util_io_stream_read_timeout(c, &b, 1, 20 * MS), -1);
    cr_assert_eq(dtact_util_last_error(), ETIMEDOUT);
    cr_assert_geq(dtact_now_ns() - t0, (uint64_t)(20 * MS));
    cr_assert_eq(dtact_util_io_stream_read_timeout(c, &b, 1, 0), -1);
    cr_assert_eq(dtact_util_last_error(), ETIMEDOUT);
    dtact_util_io_stream_close(c);
    dtact_util_io_listener_close(l);
    t0 = dtact_now_ns();
    dtact_util_timer_sleep_ms(5);
    cr_assert_geq(dtact_now_ns() - t0, (uint64_t)(5 * MS));
}

/* ------------------------------------------------------------ close wakes a blocked thread */

typedef struct blocked {
    DtactTcpListener *l;
    DtactTcpStream *s;
    DtactUdpSocket *u;
    atomic_int tid, entering, err;
    int which;
} blocked_t;

static void *blocked_thread(void *arg) {
    blocked_t *b = arg;
    atomic_store(&b->tid, (int)syscall(SYS_gettid));
    uint8_t buf[8];
    atomic_store(&b->entering, 1);
    long r;
    if (b->which == 0) r = dtact_util_io_stream_read(b->s, buf, sizeof buf);
    else if (b->which == 1) r = dtact_util_io_listener_accept(b->l) ? 0 : -1;
    else r = dtact_util_io_udp_recv(b->u, buf, sizeof buf);
    atomic_store(&b->err, r < 0 ? dtact_util_last_error() : 0);
    return NULL;
}

/* The thread's scheduler state from /proc ('S': asleep, here in poll). */
static char thread_state(int tid) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    char *p = fgets(line, sizeof line, f);
    fclose(f);
    if (!p) return '?';
    p = strrchr(line, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static void close_wakes_thread(int which) {
    blocked_t b;
    memset(&b, 0, sizeof b);
    b.which = which;
    char addr[DTACT_UTIL_ADDR_MAX];
    b.l = listen_any(addr);
    DtactTcpStream *peer = NULL;
    if (which == 0) {
        peer = dtact_util_io_stream_connect(addr);
        cr_assert_not_null(peer);
        b.s = dtact_util_io_listener_accept(b.l);
        cr_assert_not_null(b.s);
    }
    if (which == 2) {
        b.u = dtact_util_io_udp_bind("127.0.0.1:0");
        cr_assert_not_null(b.u);
    }
    atomic_store(&b.err, -1);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, blocked_thread, &b), 0);
    /* the call must be in progress before the close (a call after close is the caller's bug):
     * wait until it has entered the handle, then (for the coverage of the wake from poll, not
     * for correctness) until the thread has been asleep for 20 consecutive looks */
    while (!atomic_load(&b.entering))
        usleep(1000);
    wait_in_flight(which == 0 ? (void *)b.s : which == 1 ? (void *)b.l : (void *)b.u, 1);
    for (int asleep = 0; asleep < 20;) {
        asleep = thread_state(atomic_load(&b.tid)) == 'S' ? asleep + 1 : 0;
        usleep(1000);
    }
    if (which == 0) dtact_util_io_stream_close(b.s);
    else if (which == 1) dtact_util_io_listener_close(b.l);
    else dtact_util_io_udp_close(b.u);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&b.err), ECANCELED, "woken with errno %d", atomic_load(&b.err));
    if (which != 1) dtact_util_io_listener_close(b.l);
    if (peer) dtact_util_io_stream_close(peer);
}

Test(util_nort, close_from_another_thread_wakes_a_blocked_read) { close_wakes_thread(0); }
Test(util_nort, close_from_another_thread_wakes_a_blocked_accept) { close_wakes_thread(1); }
Test(util_nort, close_from_another_thread_wakes_a_blocked_udp_recv) { close_wakes_thread(2); }

/* ------------------------------------------------------------ the rest, briefly */

typedef struct pipe_srv {
    DtactNamedPipeServer *srv;
    int ok;
} pipe_srv_t;

static void *pipe_thread(void *arg) {
    pipe_srv_t *p = arg;
    DtactNamedPipeHandle *h = dtact_util_io_pipe_server_connect(p->srv);
    if (!h) return NULL;
    uint8_t buf[8];
    ptrdiff_t n = dtact_util_io_pipe_read(h, buf, sizeof buf);
    p->ok = n == 4 && dtact_util_io_pipe_write(h, buf, 4) == 4;
    dtact_util_io_pipe_close(h);
    return NULL;
}

Test(util_nort, dns_unix_udp_and_pipes_without_a_runtime) {
    char out[512];
    cr_assert_geq(dtact_util_io_lookup_host("localhost:0", out, sizeof out), 1, "%s", ulast());
    /* named pipe */
    char name[64];
    snprintf(name, sizeof name, "nort-%d", (int)getpid());
    pipe_srv_t p = {dtact_util_io_pipe_server_create(name), 0};
    cr_assert_not_null(p.srv, "%s", ulast());
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, pipe_thread, &p), 0);
    DtactNamedPipeHandle *h = dtact_util_io_pipe_client_connect(name);
    cr_assert_not_null(h, "%s", ulast());
    cr_assert_eq(dtact_util_io_pipe_write(h, (const uint8_t *)"pipe", 4), 4);
    uint8_t buf[8];
    cr_assert_eq(dtact_util_io_pipe_read(h, buf, sizeof buf), 4);
    cr_assert_eq(memcmp(buf, "pipe", 4), 0);
    pthread_join(th, NULL);
    cr_assert(p.ok);
    dtact_util_io_pipe_close(h);
    dtact_util_io_pipe_server_close(p.srv);
    /* UDP */
    DtactUdpSocket *u = dtact_util_io_udp_bind("127.0.0.1:0");
    char ua[DTACT_UTIL_ADDR_MAX], from[DTACT_UTIL_ADDR_MAX];
    cr_assert_eq(dtact_util_io_udp_local_addr(u, ua, sizeof ua), 0);
    cr_assert_eq(dtact_util_io_udp_send_to(u, (const uint8_t *)"self", 4, ua), 4, "%s", ulast());
    cr_assert_eq(dtact_util_io_udp_recv_from(u, buf, sizeof buf, from, sizeof from), 4, "%s", ulast());
    cr_assert_str_eq(from, ua);
    dtact_util_io_udp_close(u);
    /* Unix datagram */
    char dp[64];
    snprintf(dp, sizeof dp, "@nort-dg-%d", (int)getpid());
    DtactUnixDatagram *d = dtact_util_io_unix_datagram_bind(dp);
    cr_assert_not_null(d, "%s", ulast());
    cr_assert_eq(dtact_util_io_unix_datagram_send_to(d, (const uint8_t *)"dg", 2, dp), 2, "%s", ulast());
    cr_assert_eq(dtact_util_io_unix_datagram_recv_from(d, buf, sizeof buf, from, sizeof from), 2, "%s", ulast());
    cr_assert_str_eq(from, dp);
    dtact_util_io_unix_datagram_close(d);
}
