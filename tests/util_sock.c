/* tests/util_sock.c -- libdtact_util beyond TCP: UDP, Unix streams with peer
 * credentials, Unix datagrams, named pipes, lookup_host, the timer calls, and
 * hostile input (NULL handles and arguments, malformed addresses, zero and
 * huge lengths, wrong handle kinds, small output buffers).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_util.h"
#include "util_test.h"

#define MS 1000000LL

/* ------------------------------------------------------------------ UDP */

static void udp_fiber(void *arg) {
    (void)arg;
    char a_addr[DTACT_UTIL_ADDR_MAX], b_addr[DTACT_UTIL_ADDR_MAX], from[DTACT_UTIL_ADDR_MAX];
    DtactUdpSocket *a = dtact_util_io_udp_bind("127.0.0.1:0"), *b = dtact_util_io_udp_bind("127.0.0.1:0");
    UCHECK(a && b, "udp_bind: %s", ulast());
    UCHECK(dtact_util_io_udp_local_addr(a, a_addr, sizeof a_addr) == 0, "local_addr: %s", ulast());
    UCHECK(dtact_util_io_udp_local_addr(b, b_addr, sizeof b_addr) == 0, "local_addr: %s", ulast());
    UCHECK(strncmp(a_addr, "127.0.0.1:", 10) == 0, "local address %s", a_addr);
    /* send_to / recv_from */
    UCHECK(dtact_util_io_udp_send_to(a, (const uint8_t *)"ping", 4, b_addr) == 4, "send_to: %s", ulast());
    uint8_t buf[64];
    ptrdiff_t n = dtact_util_io_udp_recv_from(b, buf, sizeof buf, from, sizeof from);
    UCHECK(n == 4 && memcmp(buf, "ping", 4) == 0, "recv_from: %td %s", n, ulast());
    UCHECK(strcmp(from, a_addr) == 0, "sender %s, expected %s", from, a_addr);
    /* a datagram larger than the buffer is truncated to it */
    UCHECK(dtact_util_io_udp_send_to_timeout(b, (const uint8_t *)"0123456789", 10, from, 1000 * MS) == 10,
           "send_to_timeout: %s", ulast());
    n = dtact_util_io_udp_recv_from_timeout(a, buf, 4, NULL, 0, 1000 * MS);
    UCHECK(n == 4 && memcmp(buf, "0123", 4) == 0, "recv_from (truncated): %td %s", n, ulast());
    /* connect, send, recv */
    UCHECK(dtact_util_io_udp_connect(a, b_addr) == 0, "connect: %s", ulast());
    UCHECK(dtact_util_io_udp_connect(b, a_addr) == 0, "connect: %s", ulast());
    UCHECK(dtact_util_io_udp_send(a, (const uint8_t *)"abc", 3) == 3, "send: %s", ulast());
    UCHECK(dtact_util_io_udp_recv(b, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0, "recv: %s", ulast());
    UCHECK(dtact_util_io_udp_send_timeout(b, (const uint8_t *)"", 0, 1000 * MS) == 0, "empty send: %s", ulast());
    UCHECK(dtact_util_io_udp_recv_timeout(a, buf, sizeof buf, 1000 * MS) == 0, "empty datagram: %s", ulast());
    /* nothing more: timeouts */
    uint64_t t0 = dtact_now_ns();
    n = dtact_util_io_udp_recv_timeout(a, buf, sizeof buf, 20 * MS);
    UCHECK(n == -1 && dtact_util_last_error() == ETIMEDOUT, "recv_timeout: %td %s", n, ulast());
    UCHECK(dtact_now_ns() - t0 >= 20 * MS, "recv_timeout returned early");
    /* a sender address that does not fit: ENOSPC, the datagram is consumed */
    UCHECK(dtact_util_io_udp_send(b, (const uint8_t *)"x", 1) == 1, "send: %s", ulast());
    char tiny[4];
    n = dtact_util_io_udp_recv_from(a, buf, sizeof buf, tiny, sizeof tiny);
    UCHECK(n == -1 && dtact_util_last_error() == ENOSPC && tiny[0] == '\0', "recv_from small: %td %s", n, ulast());
    dtact_util_io_udp_close(a);
    dtact_util_io_udp_close(b);
}

Test(util_sock, udp_send_recv_send_to_recv_from) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_await(go(udp_fiber, NULL)), DTACT_OK);
    ucheck_assert();
    rt_down(rt);
}

Test(util_sock, udp_ipv6_loopback_when_available) {
    DtactUdpSocket *a = dtact_util_io_udp_bind("[::1]:0");
    if (!a) {
        cr_skip_test("no IPv6 loopback here: %s", ulast());
        return;
    }
    char addr[DTACT_UTIL_ADDR_MAX], from[DTACT_UTIL_ADDR_MAX];
    cr_assert_eq(dtact_util_io_udp_local_addr(a, addr, sizeof addr), 0);
    cr_assert_eq(strncmp(addr, "[::1]:", 6), 0, "%s", addr);
    cr_assert_eq(dtact_util_io_udp_send_to(a, (const uint8_t *)"6", 1, addr), 1, "%s", ulast());
    uint8_t b;
    cr_assert_eq(dtact_util_io_udp_recv_from(a, &b, 1, from, sizeof from), 1, "%s", ulast());
    cr_assert_str_eq(from, addr);
    dtact_util_io_udp_close(a);
}

/* ------------------------------------------------------------------ Unix stream */

typedef struct ux {
    char path[108];
    DtactUnixListener *l;
} ux_t;

static void unix_server(void *arg) {
    ux_t *u = arg;
    DtactUnixStream *s = dtact_util_io_unix_listener_accept_timeout(u->l, 10000 * MS);
    UCHECK(s != NULL, "unix accept: %s", ulast());
    uint32_t uid = 0, gid = 0;
    int32_t pid = 0;
    UCHECK(dtact_util_io_unix_stream_peer_cred(s, &uid, &gid, &pid) == 0, "peer_cred: %s", ulast());
    UCHECK(uid == (uint32_t)getuid() && gid == (uint32_t)getgid() && pid == (int32_t)getpid(),
           "peer_cred %u %u %d, expected %u %u %d", uid, gid, pid, (unsigned)getuid(), (unsigned)getgid(),
           (int)getpid());
    UCHECK(dtact_util_io_unix_stream_peer_cred(s, NULL, NULL, NULL) == 0, "peer_cred(NULL...): %s", ulast());
    uint8_t buf[256];
    ptrdiff_t n;
    while ((n = dtact_util_io_unix_stream_read(s, buf, sizeof buf)) > 0)
        UCHECK(dtact_util_io_unix_stream_write_all(s, buf, (size_t)n) == n, "unix write_all: %s", ulast());
    UCHECK(n == 0, "unix read: %s", ulast());
    dtact_util_io_unix_stream_close(s);
}

static void unix_client(void *arg) {
    ux_t *u = arg;
    DtactUnixStream *c = dtact_util_io_unix_stream_connect_timeout(u->path, 10000 * MS);
    UCHECK(c != NULL, "unix connect %s: %s", u->path, ulast());
    uint8_t out[1000], in[1000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = pattern(7, i);
    UCHECK(dtact_util_io_unix_stream_write_all_timeout(c, out, sizeof out, 10000 * MS) == (ptrdiff_t)sizeof out,
           "unix write: %s", ulast());
    UCHECK(dtact_util_io_unix_stream_shutdown(c, 1) == 0, "unix shutdown: %s", ulast());
    size_t got = 0;
    ptrdiff_t n;
    while ((n = dtact_util_io_unix_stream_read_timeout(c, in + got, sizeof in - got, 10000 * MS)) > 0)
        got += (size_t)n;
    UCHECK(n == 0 && got == sizeof in && memcmp(in, out, got) == 0, "unix echo: got %zu, %td", got, n);
    UCHECK(dtact_util_io_unix_stream_write(c, out, 1) == -1 && dtact_util_last_error() == EPIPE,
           "write after shutdown: %s", ulast());
    dtact_util_io_unix_stream_close(c);
}

static void unix_round_trip(const char *path) {
    void *rt = rt_up(2, 64);
    ux_t u;
    snprintf(u.path, sizeof u.path, "%s", path);
    u.l = dtact_util_io_unix_listener_bind(u.path);
    cr_assert_not_null(u.l, "unix bind %s: %s", u.path, ulast());
    /* a second bind of the same path: EADDRINUSE */
    cr_assert_null(dtact_util_io_unix_listener_bind(u.path));
    cr_assert_eq(dtact_util_last_error(), EADDRINUSE, "%s", ulast());
    dtact_handle_t s = go(unix_server, &u), c = go(unix_client, &u);
    cr_assert_eq(dtact_await(c), DTACT_OK);
    cr_assert_eq(dtact_await(s), DTACT_OK);
    ucheck_assert();
    dtact_util_io_unix_listener_close(u.l);
    rt_down(rt);
}

Test(util_sock, unix_stream_abstract_with_peer_cred) {
    char p[64];
    snprintf(p, sizeof p, "@dtact-util-test-%d", (int)getpid());
    unix_round_trip(p);
}

Test(util_sock, unix_stream_path) {
    char dir[] = "/tmp/dtact-util-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char p[108];
    snprintf(p, sizeof p, "%s/sock", dir);
    unix_round_trip(p);
    cr_assert_eq(unlink(p), 0, "close does not remove the path"); /* documented */
    rmdir(dir);
}

Test(util_sock, unix_connect_errors) {
    cr_assert_null(dtact_util_io_unix_stream_connect("/nonexistent-dir-dtact/sock"));
    cr_assert_eq(dtact_util_last_error(), ENOENT, "%s", ulast());
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    cr_assert_null(dtact_util_io_unix_stream_connect(longp));
    cr_assert_eq(dtact_util_last_error(), ENAMETOOLONG);
    cr_assert_null(dtact_util_io_unix_listener_bind(""));
    cr_assert_eq(dtact_util_last_error(), EINVAL);
}

/* ------------------------------------------------------------------ Unix datagram */

static void unix_dgram_fiber(void *arg) {
    (void)arg;
    char pa[64], pb[64], from[DTACT_UTIL_ADDR_MAX];
    snprintf(pa, sizeof pa, "@dtact-util-dg-a-%d", (int)getpid());
    snprintf(pb, sizeof pb, "@dtact-util-dg-b-%d", (int)getpid());
    DtactUnixDatagram *a = dtact_util_io_unix_datagram_bind(pa), *b = dtact_util_io_unix_datagram_bind(pb);
    UCHECK(a && b, "datagram bind: %s", ulast());
    uint8_t buf[64];
    UCHECK(dtact_util_io_unix_datagram_send_to(a, (const uint8_t *)"one", 3, pb) == 3, "send_to: %s", ulast());
    ptrdiff_t n = dtact_util_io_unix_datagram_recv_from(b, buf, sizeof buf, from, sizeof from);
    UCHECK(n == 3 && memcmp(buf, "one", 3) == 0, "recv_from: %td %s", n, ulast());
    UCHECK(strcmp(from, pa) == 0, "sender %s, expected %s", from, pa);
    UCHECK(dtact_util_io_unix_datagram_connect(b, pa) == 0, "connect: %s", ulast());
    UCHECK(dtact_util_io_unix_datagram_send(b, (const uint8_t *)"two", 3) == 3, "send: %s", ulast());
    UCHECK(dtact_util_io_unix_datagram_recv(a, buf, sizeof buf) == 3 && memcmp(buf, "two", 3) == 0, "recv: %s",
           ulast());
    /* an autobound socket gets a kernel-chosen abstract name that replies reach */
    DtactUnixDatagram *c = dtact_util_io_unix_datagram_bind(NULL);
    UCHECK(c != NULL, "autobind: %s", ulast());
    UCHECK(dtact_util_io_unix_datagram_send_to_timeout(c, (const uint8_t *)"hi", 2, pa, 1000 * MS) == 2,
           "send_to_timeout: %s", ulast());
    n = dtact_util_io_unix_datagram_recv_from_timeout(a, buf, sizeof buf, from, sizeof from, 1000 * MS);
    UCHECK(n == 2 && from[0] == '@' && strlen(from) > 1, "recv_from autobound: %td '%s' %s", n, from, ulast());
    UCHECK(dtact_util_io_unix_datagram_send_to(a, (const uint8_t *)"re", 2, from) == 2, "reply: %s", ulast());
    UCHECK(dtact_util_io_unix_datagram_recv_timeout(c, buf, sizeof buf, 1000 * MS) == 2, "reply recv: %s", ulast());
    n = dtact_util_io_unix_datagram_recv_timeout(c, buf, sizeof buf, 10 * MS);
    UCHECK(n == -1 && dtact_util_last_error() == ETIMEDOUT, "recv_timeout: %s", ulast());
    dtact_util_io_unix_datagram_close(a);
    dtact_util_io_unix_datagram_close(b);
    dtact_util_io_unix_datagram_close(c);
}

Test(util_sock, unix_datagram) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_await(go(unix_dgram_fiber, NULL)), DTACT_OK);
    ucheck_assert();
    rt_down(rt);
}

/* ------------------------------------------------------------------ named pipes */

typedef struct pp {
    char name[64];
    DtactNamedPipeServer *srv;
} pp_t;

static void pipe_server(void *arg) {
    pp_t *p = arg;
    DtactNamedPipeHandle *h = dtact_util_io_pipe_server_connect_timeout(p->srv, 10000 * MS);
    UCHECK(h != NULL, "pipe server_connect: %s", ulast());
    uint8_t buf[16];
    ptrdiff_t n = dtact_util_io_pipe_read_timeout(h, buf, sizeof buf, 10000 * MS);
    UCHECK(n == 5 && memcmp(buf, "hello", 5) == 0, "pipe read: %td %s", n, ulast());
    UCHECK(dtact_util_io_pipe_write(h, (const uint8_t *)"world", 5) == 5, "pipe write: %s", ulast());
    dtact_util_io_pipe_close(h);
}

static void pipe_client(void *arg) {
    pp_t *p = arg;
    char win[96];
    snprintf(win, sizeof win, "\\\\.\\pipe\\%s", p->name); /* the Windows spelling names the same pipe */
    DtactNamedPipeHandle *h = dtact_util_io_pipe_client_connect(win);
    UCHECK(h != NULL, "pipe client_connect: %s", ulast());
    UCHECK(dtact_util_io_pipe_write_timeout(h, (const uint8_t *)"hello", 5, 10000 * MS) == 5, "pipe write: %s",
           ulast());
    uint8_t buf[16];
    size_t got = 0;
    ptrdiff_t n;
    while ((n = dtact_util_io_pipe_read(h, buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    UCHECK(n == 0 && got == 5 && memcmp(buf, "world", 5) == 0, "pipe reply: %zu %td", got, n);
    dtact_util_io_pipe_close(h);
}

Test(util_sock, named_pipe_round_trip) {
    void *rt = rt_up(2, 64);
    pp_t p;
    snprintf(p.name, sizeof p.name, "dtact-util-test-%d", (int)getpid());
    cr_assert_null(dtact_util_io_pipe_client_connect(p.name));
    cr_assert_eq(dtact_util_last_error(), ENOENT, "%s", ulast());
    p.srv = dtact_util_io_pipe_server_create(p.name);
    cr_assert_not_null(p.srv, "%s", ulast());
    cr_assert_null(dtact_util_io_pipe_server_create(p.name));
    cr_assert_eq(dtact_util_last_error(), EADDRINUSE, "%s", ulast());
    dtact_handle_t s = go(pipe_server, &p), c = go(pipe_client, &p);
    cr_assert_eq(dtact_await(c), DTACT_OK);
    cr_assert_eq(dtact_await(s), DTACT_OK);
    ucheck_assert();
    /* no client: server_connect_timeout expires */
    cr_assert_null(dtact_util_io_pipe_server_connect_timeout(p.srv, 10 * MS));
    cr_assert_eq(dtact_util_last_error(), ETIMEDOUT);
    dtact_util_io_pipe_server_close(p.srv);
    cr_assert_null(dtact_util_io_pipe_client_connect(p.name));
    cr_assert_eq(dtact_util_last_error(), ENOENT, "a closed server's pipe is gone: %s", ulast());
    char longn[200];
    memset(longn, 'p', sizeof longn - 1);
    longn[sizeof longn - 1] = '\0';
    cr_assert_null(dtact_util_io_pipe_server_create(longn));
    cr_assert_eq(dtact_util_last_error(), ENAMETOOLONG);
    cr_assert_null(dtact_util_io_pipe_server_create(""));
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    rt_down(rt);
}

/* ------------------------------------------------------------------ DNS */

static void dns_fiber(void *arg) {
    (void)arg;
    char out[1024];
    ptrdiff_t n = dtact_util_io_lookup_host("localhost:80", out, sizeof out);
    UCHECK(n >= 1, "lookup_host(localhost:80): %s", ulast());
    /* n addresses, ';'-separated, each ending in :80 */
    ptrdiff_t count = 1;
    for (char *p = out; *p; p++)
        count += *p == ';';
    UCHECK(count == n, "%td addresses announced, %td written: %s", n, count, out);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", out);
    for (char *save = NULL, *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        size_t l = strlen(t);
        UCHECK(l > 3 && strcmp(t + l - 3, ":80") == 0, "address %s", t);
    }
    /* a connect by name reaches a listener on the loopback */
    DtactTcpListener *l = dtact_util_io_listener_bind("127.0.0.1:0");
    UCHECK(l != NULL, "bind: %s", ulast());
    char la[DTACT_UTIL_ADDR_MAX], byname[DTACT_UTIL_ADDR_MAX + 16];
    UCHECK(dtact_util_io_listener_local_addr(l, la, sizeof la) == 0, "local_addr: %s", ulast());
    snprintf(byname, sizeof byname, "localhost:%s", strrchr(la, ':') + 1);
    DtactTcpStream *s = dtact_util_io_stream_connect_timeout(byname, 10000 * MS);
    UCHECK(s != NULL, "connect %s: %s", byname, ulast());
    char peer[DTACT_UTIL_ADDR_MAX];
    UCHECK(dtact_util_io_stream_peer_addr(s, peer, sizeof peer) == 0 && strcmp(peer, la) == 0, "peer %s, bound %s",
           peer, la);
    UCHECK(dtact_util_io_stream_set_nodelay(s, 1) == 0, "nodelay: %s", ulast());
    dtact_util_io_stream_close(s);
    dtact_util_io_listener_close(l);
}

Test(util_sock, lookup_host_and_connect_by_name) {
    void *rt = rt_up(2, 64);
    dtact_util_io_init(8);
    dtact_util_io_init(0);
    cr_assert_eq(dtact_await(go(dns_fiber, NULL)), DTACT_OK);
    ucheck_assert();
    rt_down(rt);
}

Test(util_sock, lookup_host_numeric_and_errors) {
    char out[256];
    cr_assert_eq(dtact_util_io_lookup_host("127.0.0.1:8080", out, sizeof out), 1, "%s", ulast());
    cr_assert_str_eq(out, "127.0.0.1:8080");
    cr_assert_eq(dtact_util_io_lookup_host("[::1]:443", out, sizeof out), 1, "%s", ulast());
    cr_assert_str_eq(out, "[::1]:443");
    /* too small: ENOSPC, out holds the whole addresses that fit (here none) */
    char small[8];
    cr_assert_eq(dtact_util_io_lookup_host("127.0.0.1:8080", small, sizeof small), -1);
    cr_assert_eq(dtact_util_last_error(), ENOSPC);
    cr_assert_str_eq(small, "");
    const char *bad[] = {"",    "localhost", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:8x",
                         ":80", "::1:80",    "[::1:80",   "[::1]80",    "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(dtact_util_io_lookup_host(bad[i], out, sizeof out), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(dtact_util_last_error(), EINVAL, "'%s': %s", bad[i], ulast());
    }
    cr_assert_eq(dtact_util_io_lookup_host(NULL, out, sizeof out), -1);
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    cr_assert_eq(dtact_util_io_lookup_host("127.0.0.1:1", NULL, 0), -1);
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    /* an unknown name: ENXIO (or, without a reachable resolver, EAGAIN / the timeout) */
    ptrdiff_t n = dtact_util_io_lookup_host_timeout("no-such-host.invalid:80", out, sizeof out, 3000 * MS);
    cr_assert_eq(n, -1);
    int e = dtact_util_last_error();
    cr_assert(e == ENXIO || e == EAGAIN || e == ETIMEDOUT, "unknown host: %s", ulast());
}

/* ------------------------------------------------------------------ timers */

static void timer_fiber(void *arg) {
    (void)arg;
    uint64_t t0 = dtact_now_ns();
    dtact_util_timer_sleep_ms(10);
    UCHECK(dtact_now_ns() - t0 >= 10 * MS, "sleep_ms(10) returned early");
    DtactInterval *iv = dtact_util_timer_interval_create(5);
    UCHECK(iv != NULL, "interval_create: %s", ulast());
    t0 = dtact_now_ns();
    dtact_util_timer_interval_tick(iv); /* the first tick is immediate */
    for (int i = 0; i < 3; i++)
        dtact_util_timer_interval_tick(iv);
    UCHECK(dtact_now_ns() - t0 >= 15 * MS, "3 ticks of 5 ms took less than 15 ms");
    dtact_util_timer_interval_free(iv);
}

Test(util_sock, timers_on_a_fiber_and_a_thread) {
    void *rt = rt_up(2, 64);
    cr_assert_eq(dtact_await(go(timer_fiber, NULL)), DTACT_OK);
    ucheck_assert();
    timer_fiber(NULL); /* on this thread */
    ucheck_assert();
    cr_assert_null(dtact_util_timer_interval_create(0));
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    dtact_util_timer_interval_tick(NULL);
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    dtact_util_timer_interval_free(NULL);
    rt_down(rt);
}

/* ------------------------------------------------------------------ hostile input */

#define EXPECT_ERR(call, code)                                                                                         \
    do {                                                                                                               \
        cr_assert_eq((long)(call), -1L, #call " did not fail");                                                        \
        cr_assert_eq(dtact_util_last_error(), (code), #call ": %s", ulast());                                          \
    } while (0)
#define EXPECT_NULL(call, code)                                                                                        \
    do {                                                                                                               \
        cr_assert_null((call), #call " did not fail");                                                                 \
        cr_assert_eq(dtact_util_last_error(), (code), #call ": %s", ulast());                                          \
    } while (0)

Test(util_sock, null_handles_and_arguments_fail_with_einval) {
    uint8_t b[8];
    char s[64];
    uint32_t u;
    int32_t i;
    cr_assert_null(dtact_util_last_error_message());
    cr_assert_eq(dtact_util_last_error(), 0);
    EXPECT_NULL(dtact_util_io_listener_bind(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_listener_accept(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_listener_accept_timeout(NULL, 0), EINVAL);
    EXPECT_ERR(dtact_util_io_listener_local_addr(NULL, s, sizeof s), EINVAL);
    EXPECT_NULL(dtact_util_io_stream_connect(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_stream_connect_timeout(NULL, 0), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_read(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_read_timeout(NULL, b, 1, 0), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_write(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_write_all(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_shutdown(NULL, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_set_nodelay(NULL, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_peer_addr(NULL, s, sizeof s), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_local_addr(NULL, s, sizeof s), EINVAL);
    EXPECT_NULL(dtact_util_io_udp_bind(NULL), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_connect(NULL, "127.0.0.1:1"), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_send(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_recv(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_send_to(NULL, b, 1, "127.0.0.1:1"), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_recv_from(NULL, b, 1, s, sizeof s), EINVAL);
    EXPECT_ERR(dtact_util_io_udp_local_addr(NULL, s, sizeof s), EINVAL);
    EXPECT_NULL(dtact_util_io_unix_listener_bind(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_unix_listener_accept(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_unix_stream_connect(NULL), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_read(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_write(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_write_all(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_shutdown(NULL, 2), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_peer_cred(NULL, &u, &u, &i), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_datagram_connect(NULL, "@x"), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_datagram_send(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_datagram_recv(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_datagram_send_to(NULL, b, 1, "@x"), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_datagram_recv_from(NULL, b, 1, s, sizeof s), EINVAL);
    EXPECT_NULL(dtact_util_io_pipe_server_create(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_pipe_server_connect(NULL), EINVAL);
    EXPECT_NULL(dtact_util_io_pipe_client_connect(NULL), EINVAL);
    EXPECT_ERR(dtact_util_io_pipe_read(NULL, b, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_pipe_write(NULL, b, 1), EINVAL);
    cr_assert_not_null(dtact_util_last_error_message());
    /* closing NULL does nothing */
    dtact_util_io_listener_close(NULL);
    dtact_util_io_stream_close(NULL);
    dtact_util_io_udp_close(NULL);
    dtact_util_io_unix_listener_close(NULL);
    dtact_util_io_unix_stream_close(NULL);
    dtact_util_io_unix_datagram_close(NULL);
    dtact_util_io_pipe_server_close(NULL);
    dtact_util_io_pipe_close(NULL);
}

Test(util_sock, bad_addresses_lengths_buffers_and_kinds) {
    const char *bad[] = {"", "nonsense", "1.2.3.4", "1.2.3.4:", "1.2.3.4:70000", "[::1]", "::1:80", "1.2.3.4:-1"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        EXPECT_NULL(dtact_util_io_listener_bind(bad[k]), EINVAL);
        EXPECT_NULL(dtact_util_io_stream_connect(bad[k]), EINVAL);
        EXPECT_NULL(dtact_util_io_udp_bind(bad[k]), EINVAL);
    }
    char addr[DTACT_UTIL_ADDR_MAX];
    DtactTcpListener *l = listen_any(addr);
    DtactTcpStream *a = dtact_util_io_stream_connect(addr);
    cr_assert_not_null(a, "%s", ulast());
    DtactTcpStream *b = dtact_util_io_listener_accept(l);
    cr_assert_not_null(b, "%s", ulast());
    uint8_t buf[8];
    /* zero lengths: 0 at once */
    cr_assert_eq(dtact_util_io_stream_read(a, buf, 0), 0);
    cr_assert_eq(dtact_util_io_stream_read(a, NULL, 0), 0);
    cr_assert_eq(dtact_util_io_stream_write(a, buf, 0), 0);
    cr_assert_eq(dtact_util_io_stream_write_all(a, NULL, 0), 0);
    /* NULL buffers with a length, lengths beyond PTRDIFF_MAX */
    EXPECT_ERR(dtact_util_io_stream_read(a, NULL, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_write(a, NULL, 1), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_read(a, buf, SIZE_MAX), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_write_all(a, buf, (size_t)PTRDIFF_MAX + 1), EINVAL);
    /* bad shutdown modes */
    EXPECT_ERR(dtact_util_io_stream_shutdown(a, 3), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_shutdown(a, -1), EINVAL);
    /* address buffers too small; NULL buffers */
    EXPECT_ERR(dtact_util_io_listener_local_addr(l, addr, 3), ENOSPC);
    cr_assert_str_eq(addr, "");
    EXPECT_ERR(dtact_util_io_stream_peer_addr(a, NULL, 10), EINVAL);
    EXPECT_ERR(dtact_util_io_stream_peer_addr(a, addr, 0), ENOSPC);
    /* a handle of another kind */
    EXPECT_ERR(dtact_util_io_udp_send((DtactUdpSocket *)(void *)a, buf, 1), EINVAL);
    EXPECT_NULL(dtact_util_io_listener_accept((DtactTcpListener *)(void *)a), EINVAL);
    EXPECT_ERR(dtact_util_io_unix_stream_read((DtactUnixStream *)(void *)b, buf, 1), EINVAL);
    dtact_util_io_udp_close((DtactUdpSocket *)(void *)a); /* refused: still open */
    cr_assert_eq(dtact_util_last_error(), EINVAL);
    cr_assert_eq(dtact_util_io_stream_write(a, (const uint8_t *)"k", 1), 1, "%s", ulast());
    cr_assert_eq(dtact_util_io_stream_read(b, buf, 1), 1, "%s", ulast());
    /* a message names the call */
    EXPECT_ERR(dtact_util_io_stream_shutdown(a, 9), EINVAL);
    cr_assert(strstr(dtact_util_last_error_message(), "dtact_util_io_stream_shutdown") != NULL, "%s", ulast());
    dtact_util_io_stream_close(a);
    dtact_util_io_stream_close(b);
    dtact_util_io_listener_close(l);
    /* in-use and unreachable addresses */
    DtactUdpSocket *u = dtact_util_io_udp_bind("127.0.0.1:0");
    cr_assert_not_null(u);
    char ua[DTACT_UTIL_ADDR_MAX];
    cr_assert_eq(dtact_util_io_udp_local_addr(u, ua, sizeof ua), 0);
    EXPECT_NULL(dtact_util_io_udp_bind(ua), EADDRINUSE);
    EXPECT_ERR(dtact_util_io_udp_send(u, buf, 1), EDESTADDRREQ);
    dtact_util_io_udp_close(u);
}
