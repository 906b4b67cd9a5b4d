/* tests/example_net.h -- helpers of the tests that drive the socket examples
 * (tests/util_example_echo.c, tests/util_example_http.c) in-process: a
 * runtime with the examples' stack size, a listener on a free loopback port
 * served by the example's own accept loop on a fiber, and a plain blocking
 * client on the test's thread (receive timeouts turn a server that never
 * answers into a failed assertion instead of a hang).
 */
#ifndef DTACT_TESTS_EXAMPLE_NET_H
#define DTACT_TESTS_EXAMPLE_NET_H

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dtact.h"
#include "dtact_util.h"

/* The examples run their fibers on 16 KiB stacks; the tests do too, so that a
 * connection fiber that outgrew them would hit its guard page here. The
 * sanitizers' instrumentation grows frames, so their builds get 64 KiB. */
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
#define EXAMPLE_TEST_STACK (64u * 1024u)
#else
#define EXAMPLE_TEST_STACK (16u * 1024u)
#endif

struct example_server {
    void *rt;
    int port;
};

/* Starts a runtime of 2 workers and the accept loop `loop` (the example's)
 * on a listener bound to 127.0.0.1:0. */
static inline struct example_server example_server_start(void (*loop)(void *)) {
    struct example_server s;
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 1024;
    cfg.mStackSize = EXAMPLE_TEST_STACK;
    s.rt = dtact_init(&cfg);
    cr_assert_not_null(s.rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(dtact_start(s.rt), DTACT_OK);
    DtactTcpListener *ln = dtact_util_io_listener_bind("127.0.0.1:0");
    cr_assert_not_null(ln, "bind: %s", dtact_util_last_error_message());
    char addr[DTACT_UTIL_ADDR_MAX];
    cr_assert_eq(dtact_util_io_listener_local_addr(ln, addr, sizeof addr), 0);
    const char *colon = strrchr(addr, ':');
    cr_assert_not_null(colon, "local address %s", addr);
    s.port = atoi(colon + 1);
    cr_assert_gt(s.port, 0, "local address %s", addr);
    cr_assert_neq(dtact_fiber_launch(loop, ln), DTACT_INVALID_HANDLE);
    return s;
}

/* Shutdown wakes the accept loop (ESHUTDOWN: it closes the listener and
 * returns) and every connection fiber still waiting; destroy waits for them. */
static inline void example_server_stop(struct example_server *s) {
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(s->rt), DTACT_OK);
}

/* A blocking client connection to the server, TCP_NODELAY, 30 s receive timeout. */
static inline int client_connect(const struct example_server *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static inline void client_send(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        cr_assert_gt(k, 0, "send: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

static inline void client_send_str(int fd, const char *s) { client_send(fd, s, strlen(s)); }

/* Receives exactly n bytes (fails on end of stream, error or timeout). */
static inline void client_recv(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        cr_assert_gt(k, 0, "recv: %s (%zu bytes still expected)", k == 0 ? "end of stream" : strerror(errno), n);
        p += k;
        n -= (size_t)k;
    }
}

/* Receives exactly the bytes of `expected`. */
static inline void client_expect(int fd, const char *expected) {
    size_t n = strlen(expected);
    char *got = malloc(n + 1);
    cr_assert_not_null(got);
    client_recv(fd, got, n);
    got[n] = 0;
    cr_assert_str_eq(got, expected);
    free(got);
}

/* The server closed its side: the next receive is the end of the stream. */
static inline void client_expect_eof(int fd) {
    char c;
    ssize_t k;
    do {
        k = recv(fd, &c, 1, 0);
    } while (k < 0 && errno == EINTR);
    cr_assert_eq(k, 0, "expected the end of the stream, got %zd (%s)", k, k < 0 ? strerror(errno) : "a byte");
}

#endif
