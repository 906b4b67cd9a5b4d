/* tests/util_example_echo.c -- the echo example (ffi/examples/echo_server.c).
 *
 * The example's source is compiled into this program (its main renamed), and
 * its own accept loop serves a listener on a free loopback port from a
 * runtime in this process, with the example's 16 KiB stacks; plain blocking
 * clients on the test's threads check every byte that comes back: 64-byte
 * messages (W13's), many connections open at once (W14's shape: each fiber
 * blocked in its read), a stream larger than the socket buffers written by a
 * second thread while the first reads, and a half-close. In-process rather
 * than an exec'd binary, so that the same test runs under the sanitizers and
 * cross-built under qemu-aarch64.
 */
#define main echo_server_main
#include "../ffi/examples/echo_server.c"
#undef main

#include <pthread.h>

#include "example_net.h"
#include "test_scale.h"

static struct example_server srv;
static void up(void) { srv = example_server_start(echo_accept_loop); }
static void down(void) { example_server_stop(&srv); }

static void fill(char *buf, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(seed * 131u + i * 7u + (i >> 8));
}

Test(echo_server, messages_come_back_byte_for_byte, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    for (unsigned r = 0; r < 100; r++) {
        char out[64], in[64];
        fill(out, sizeof out, r);
        client_send(fd, out, sizeof out);
        client_recv(fd, in, sizeof in);
        cr_assert_eq(memcmp(in, out, sizeof out), 0, "round %u", r);
    }
    close(fd);
}

Test(echo_server, many_connections_each_blocked_in_its_read, .init = up, .fini = down, .timeout = 120) {
    int conns = (int)dtact_test_scaled(200, 20);
    int *fd = calloc((size_t)conns, sizeof *fd);
    cr_assert_not_null(fd);
    /* open all and confirm each with one byte (W14), so every fiber exists and waits in its read */
    for (int i = 0; i < conns; i++) {
        fd[i] = client_connect(&srv);
        char c = (char)i, back = 0;
        client_send(fd[i], &c, 1);
        client_recv(fd[i], &back, 1);
        cr_assert_eq(back, c);
    }
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(srv.rt, &st), DTACT_OK);
    cr_assert_geq(st.contexts_in_use, (uint64_t)conns, "one fiber per connection");
    /* then traffic on all of them, interleaved */
    for (unsigned r = 0; r < 3; r++) {
        char out[64], in[64];
        for (int i = 0; i < conns; i++) {
            fill(out, sizeof out, r * 1000u + (unsigned)i);
            client_send(fd[i], out, sizeof out);
        }
        for (int i = 0; i < conns; i++) {
            fill(out, sizeof out, r * 1000u + (unsigned)i);
            client_recv(fd[i], in, sizeof in);
            cr_assert_eq(memcmp(in, out, sizeof out), 0, "connection %d round %u", i, r);
        }
    }
    for (int i = 0; i < conns; i++)
        close(fd[i]);
    free(fd);
}

struct sender {
    int fd;
    const char *buf;
    size_t n;
};

static void *send_all(void *arg) {
    struct sender *s = arg;
    size_t off = 0;
    while (off < s->n) {
        ssize_t k = send(s->fd, s->buf + off, s->n - off < 8192 ? s->n - off : 8192, MSG_NOSIGNAL);
        if (k <= 0) return (void *)1;
        off += (size_t)k;
    }
    shutdown(s->fd, SHUT_WR);
    return NULL;
}

Test(echo_server, a_stream_larger_than_the_socket_buffers, .init = up, .fini = down, .timeout = 120) {
    /* larger than loopback's buffers on both sides: the server's write has to wait for the client's reads */
    size_t n = (size_t)dtact_test_scaled(8 << 20, 1 << 20);
    char *out = malloc(n), *in = malloc(n);
    cr_assert(out && in);
    fill(out, n, 7);
    int fd = client_connect(&srv);
    struct sender s = {fd, out, n};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, send_all, &s), 0);
    client_recv(fd, in, n);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_null(rc, "send failed");
    cr_assert_eq(memcmp(in, out, n), 0);
    client_expect_eof(fd); /* our half-close reached the server, which closed its side */
    close(fd);
    free(out);
    free(in);
}

Test(echo_server, a_half_close_gets_the_rest_then_the_end, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    client_send_str(fd, "last words");
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    client_expect(fd, "last words");
    client_expect_eof(fd);
    close(fd);
}
