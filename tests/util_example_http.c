/* tests/util_example_http.c -- the HTTP example (ffi/examples/http_server.c)
 * and its parser (ffi/examples/http_parse.h).
 *
 * The example's source is compiled into this program (its main renamed), and
 * its own accept loop serves a listener on a free loopback port from a
 * runtime in this process, with the example's 16 KiB stacks; a plain blocking
 * client on the test's thread drives it: keep-alive, pipelining, requests
 * split across reads, bodies, HTTP/1.0, Connection: close, garbage (400 and
 * close), a head over the limit (431 and close), many connections at once.
 * In-process rather than an exec'd binary, so that the same test runs under
 * the sanitizers and cross-built under qemu-aarch64.
 *
 * The parser is also tested alone: every prefix of a valid request is
 * incomplete, a decision once made (valid / invalid) never changes as bytes
 * are added, and random and mutated inputs never read past the buffer (ASan
 * builds check that) nor claim more head than there is.
 */
#define main http_server_main
#include "../ffi/examples/http_server.c"
#undef main

#include "example_net.h"
#include "test_rng.h"
#include "test_scale.h"

/* The response of the example to a keep-alive GET: the 78 bytes of the peers. */
#define OK_KEEP "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
#define OK_CLOSE                                                                                                       \
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!"
#define GET "GET / HTTP/1.1\r\nHost: test\r\n\r\n"

/* ------------------------------------------------------------------ the parser alone */

static int parse(const char *s, struct http_request *req) { return http_parse_request(s, strlen(s), 4096, req); }

Test(http_parse, a_complete_request_and_its_fields) {
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n";
    struct http_request req;
    cr_assert_eq(parse(s, &req), HTTP_PARSE_OK);
    cr_assert_eq(req.head_len, strlen(s));
    cr_assert_eq(req.method_len, 3);
    cr_assert_eq(memcmp(req.method, "GET", 3), 0);
    cr_assert_eq(req.target_len, strlen("/index.html?q=1"));
    cr_assert_eq(memcmp(req.target, "/index.html?q=1", req.target_len), 0);
    cr_assert_eq(req.minor_version, 1);
    cr_assert_eq(req.keep_alive, 1);
    cr_assert_eq(req.content_length, 0);
}

Test(http_parse, every_prefix_of_a_valid_request_is_incomplete) {
    const char *s = "\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n";
    struct http_request req;
    for (size_t k = 0; k < strlen(s); k++)
        cr_assert_eq(http_parse_request(s, k, 4096, &req), HTTP_PARSE_INCOMPLETE, "prefix of %zu bytes", k);
    cr_assert_eq(parse(s, &req), HTTP_PARSE_OK);
    cr_assert_eq(req.head_len, strlen(s), "the empty line before the request belongs to its head");
    cr_assert_eq(req.content_length, 5);
}

Test(http_parse, pipelined_requests_follow_the_head) {
    const char *s = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /3";
    struct http_request req;
    cr_assert_eq(parse(s, &req), HTTP_PARSE_OK);
    cr_assert_eq(req.keep_alive, 1);
    size_t off = req.head_len;
    cr_assert_eq(parse(s + off, &req), HTTP_PARSE_OK);
    cr_assert_eq(memcmp(req.target, "/2", 2), 0);
    cr_assert_eq(req.keep_alive, 0);
    off += req.head_len;
    cr_assert_eq(parse(s + off, &req), HTTP_PARSE_INCOMPLETE);
}

Test(http_parse, connection_semantics_by_version) {
    struct http_request req;
    cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n", &req), HTTP_PARSE_OK, "HTTP/1.0 needs no Host");
    cr_assert_eq(req.keep_alive, 0);
    cr_assert_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req), HTTP_PARSE_OK);
    cr_assert_eq(req.keep_alive, 1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, CLOSE\r\n\r\n", &req), HTTP_PARSE_OK);
    cr_assert_eq(req.keep_alive, 0);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", &req), HTTP_PARSE_OK);
    cr_assert_eq(req.keep_alive, 0, "close wins");
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nconnection:closed\r\n\r\n", &req), HTTP_PARSE_OK);
    cr_assert_eq(req.keep_alive, 1, "only the whole option counts");
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\ncontent-length:   7  \r\n\r\n", &req),
                 HTTP_PARSE_OK, "repeated equal lengths are one");
    cr_assert_eq(req.content_length, 7);
}

Test(http_parse, malformed_heads_are_bad) {
    static const char *bad[] = {
        " GET / HTTP/1.1\r\nHost: x\r\n\r\n",                /* space before the method */
        "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",                /* two spaces */
        "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",                /* space after the version */
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",                 /* not HTTP/1 */
        "GET / HTTP/1.x\r\nHost: x\r\n\r\n",                 /* no digit */
        "GET / http/1.1\r\nHost: x\r\n\r\n",                 /* the version is case-sensitive */
        "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",             /* control character in the target */
        "GET / HTTP/1.1\nHost: x\n\n",                       /* bare LF */
        "GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",               /* CR not followed by LF */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                /* space before the colon */
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",      /* obsolete line folding */
        "GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n", /* no field name */
        "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",     /* no colon */
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n",     /* DEL in a value */
        "GET / HTTP/1.1\r\n\r\n",                            /* HTTP/1.1 without Host */
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",      /* two Hosts */
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", /* overflow */
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", /* bodies it cannot frame */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",                     /* a TLS ClientHello */
        "\r\r",
    };
    struct http_request req;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse(bad[i], &req), HTTP_PARSE_BAD, "case %zu: %s", i, bad[i]);
}

Test(http_parse, garbage_is_rejected_at_once_not_at_the_limit) {
    struct http_request req;
    cr_assert_eq(parse("\x16", &req), HTTP_PARSE_BAD);
    cr_assert_eq(parse("GET /\x00", &req), HTTP_PARSE_INCOMPLETE); /* strlen stops at the NUL */
    cr_assert_eq(http_parse_request("GET /\x00", 6, 4096, &req), HTTP_PARSE_BAD);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost x", &req), HTTP_PARSE_BAD);
}

Test(http_parse, the_head_limit) {
    char big[6000];
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
    memset(big + n, 'a', 4096 - n - 4);
    memcpy(big + 4096 - 4, "\r\n\r\n", 4); /* exactly 4096 bytes */
    struct http_request req;
    cr_assert_eq(http_parse_request(big, 4096, 4096, &req), HTTP_PARSE_OK);
    cr_assert_eq(req.head_len, 4096);
    cr_assert_eq(http_parse_request(big, 4096, 4095, &req), HTTP_PARSE_TOO_LARGE);
    cr_assert_eq(http_parse_request(big, 4000, 4096, &req), HTTP_PARSE_INCOMPLETE);
    memset(big + n, 'a', sizeof big - n);
    cr_assert_eq(http_parse_request(big, sizeof big, 4096, &req), HTTP_PARSE_TOO_LARGE);
    cr_assert_eq(http_parse_request(big, 4096, 4096, &req), HTTP_PARSE_TOO_LARGE);
}

/* The decision on a prefix is final: once OK it stays OK with the same head,
 * once BAD it stays BAD; and OK never claims more bytes than it was given. */
static void check_monotonic(const char *buf, size_t len) {
    int decided = HTTP_PARSE_INCOMPLETE;
    size_t head = 0;
    for (size_t k = 0; k <= len; k++) {
        struct http_request req;
        int r = http_parse_request(buf, k, 256, &req);
        if (r == HTTP_PARSE_OK) {
            cr_assert_leq(req.head_len, k);
            if (decided == HTTP_PARSE_OK) cr_assert_eq(req.head_len, head);
            head = req.head_len;
        }
        if (decided != HTTP_PARSE_INCOMPLETE) cr_assert_eq(r, decided, "prefix %zu of %zu changed its mind", k, len);
        decided = r;
    }
}

Test(http_parse, random_and_mutated_input) {
    static const char seed[] = "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n";
    static const char alphabet[] = "GET /HTP1.\r\n:HostConnection-Length0123456789 \t\x01\x7f\x80\xff";
    uint64_t rng = 12345;
    int rounds = (int)dtact_test_scaled(20000, 500);
    for (int i = 0; i < rounds; i++) {
        /* exactly-sized heap copies, so that ASan sees any read past the end */
        size_t len;
        char *buf;
        if (i % 2 == 0) {
            len = sizeof seed - 1;
            buf = malloc(len);
            cr_assert_not_null(buf);
            memcpy(buf, seed, len);
            int mutations = 1 + (int)(test_rng(&rng) % 3);
            for (int m = 0; m < mutations; m++)
                buf[test_rng(&rng) % len] = alphabet[test_rng(&rng) % (sizeof alphabet - 1)];
        } else {
            len = 1 + test_rng(&rng) % 300;
            buf = malloc(len);
            cr_assert_not_null(buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = alphabet[test_rng(&rng) % (sizeof alphabet - 1)];
        }
        check_monotonic(buf, len);
        free(buf);
    }
}

/* ------------------------------------------------------------------ the server */

static struct example_server srv;
static void up(void) { srv = example_server_start(http_accept_loop); }
static void down(void) { example_server_stop(&srv); }

Test(http_server, two_keep_alive_requests_on_one_connection, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    client_send_str(fd, GET);
    client_expect(fd, OK_KEEP);
    client_send_str(fd, "GET /second HTTP/1.1\r\nHost: test\r\n\r\n");
    client_expect(fd, OK_KEEP);
    close(fd);
}

Test(http_server, pipelined_requests_are_answered_in_order, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    /* a pair in one send; the second's HEAD answer proves the order */
    client_send_str(fd, GET "HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    client_expect(fd, OK_KEEP "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n");
    /* 200 in one send: more than the input buffer and more than one gathered write */
    enum { N = 200 };
    size_t one = strlen(GET);
    char *many = malloc(N * one + 1);
    cr_assert_not_null(many);
    for (int i = 0; i < N; i++)
        memcpy(many + (size_t)i * one, GET, one);
    many[N * one] = 0;
    client_send_str(fd, many);
    for (int i = 0; i < N; i++)
        client_expect(fd, OK_KEEP);
    free(many);
    close(fd);
}

Test(http_server, requests_split_across_reads, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    /* byte by byte (each byte its own segment: the server may read them one at a time) */
    const char *req = GET;
    for (size_t i = 0; i < strlen(req); i++) {
        client_send(fd, req + i, 1);
        if (i % 8 == 0) usleep(1000); /* not needed for correctness: makes separate reads likely */
    }
    client_expect(fd, OK_KEEP);
    /* a split that falls inside the second of two pipelined requests, and inside a CRLF */
    client_send_str(fd, GET "GET / HTTP/1.1\r\nHo");
    usleep(2000);
    client_send_str(fd, "st: test\r");
    usleep(2000);
    client_send_str(fd, "\n\r\n");
    client_expect(fd, OK_KEEP OK_KEEP);
    close(fd);
}

Test(http_server, a_body_is_skipped_even_across_reads, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    client_send_str(fd, "POST /form HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello");
    client_expect(fd, OK_KEEP);
    usleep(2000);
    client_send_str(fd, "world" GET); /* "world" ends the body, the GET follows */
    client_expect(fd, OK_KEEP);
    close(fd);
}

Test(http_server, connection_close_is_honoured, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    /* the request after the one that says close is never answered */
    client_send_str(fd, GET "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" GET);
    client_expect(fd, OK_KEEP OK_CLOSE);
    client_expect_eof(fd);
    close(fd);
}

Test(http_server, http_1_0_closes_unless_asked_to_keep_alive, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    client_send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    client_expect(fd,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"
                  "Hello, world!");
    client_send_str(fd, "GET / HTTP/1.0\r\n\r\n");
    client_expect(fd, OK_CLOSE);
    client_expect_eof(fd);
    close(fd);
}

Test(http_server, garbage_gets_400_and_the_connection_closed, .init = up, .fini = down, .timeout = 60) {
    static const char *garbage[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",       /* TLS to a plain HTTP port */
        "GET / HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n", /* no colon */
        "GET / HTTP/1.1\nHost: test\n\n",                     /* bare LF */
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        int fd = client_connect(&srv);
        client_send_str(fd, garbage[i]);
        client_expect(fd, bad);
        client_expect_eof(fd);
        close(fd);
    }
    /* a valid request first: answered, then the garbage after it gets 400 */
    int fd = client_connect(&srv);
    client_send_str(fd, GET "\x01\x02\x03 nonsense\r\n\r\n");
    client_expect(fd, OK_KEEP);
    client_expect(fd, bad);
    client_expect_eof(fd);
    close(fd);
    /* the server still serves */
    fd = client_connect(&srv);
    client_send_str(fd, GET);
    client_expect(fd, OK_KEEP);
    close(fd);
}

Test(http_server, a_head_over_the_limit_gets_431_and_close, .init = up, .fini = down, .timeout = 60) {
    int fd = client_connect(&srv);
    /* 16 KiB of one header: the server answers after 4 KiB and drops the rest before closing,
     * so that the answer is not destroyed by a reset */
    size_t n = 16384;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    size_t h = (size_t)snprintf(big, n, "GET / HTTP/1.1\r\nHost: test\r\nX-Big: ");
    memset(big + h, 'a', n - h);
    big[n] = 0;
    client_send_str(fd, big);
    client_expect(fd, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    client_expect_eof(fd);
    free(big);
    close(fd);
}

Test(http_server, many_connections_at_once, .init = up, .fini = down, .timeout = 120) {
    int conns = (int)dtact_test_scaled(100, 10);
    int rounds = 5;
    int *fd = calloc((size_t)conns, sizeof *fd);
    cr_assert_not_null(fd);
    for (int i = 0; i < conns; i++)
        fd[i] = client_connect(&srv);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < conns; i++)
            client_send_str(fd[i], GET);
        for (int i = 0; i < conns; i++)
            client_expect(fd[i], OK_KEEP);
    }
    for (int i = 0; i < conns; i++)
        close(fd[i]);
    free(fd);
}
