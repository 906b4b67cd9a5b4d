/* ffi/examples/http_server.c -- a small HTTP/1.1 server: one fiber per
 * connection, written as straight-line blocking code over dtact_util.h.
 *
 *   example_http_server [ADDR|PORT] [WORKERS]
 *       ADDR      "HOST:PORT" to listen on (a bare PORT means 127.0.0.1:PORT;
 *                 default 127.0.0.1:8080; port 0 picks a free one)
 *       WORKERS   worker threads (default 0: one per CPU)
 *   curl -v http://127.0.0.1:8080/
 *
 * Every request gets the same static answer, "Hello, world!" (HEAD: the same
 * head without the body). What the connection fiber handles:
 *   - keep-alive: HTTP/1.1 connections stay open until the client closes or
 *     sends "Connection: close" (answered with "Connection: close", then
 *     closed); HTTP/1.0 ones only with "Connection: keep-alive";
 *   - pipelining: several requests in one read are answered in order, their
 *     responses gathered into one write (OUT_MAX bytes at most);
 *   - requests split across reads: the head is parsed again when more bytes
 *     arrive (http_parse.h), nothing is answered before it is complete;
 *   - request bodies (Content-Length) are read and skipped;
 *   - a malformed request gets 400 and a head over HEAD_MAX bytes 431, then
 *     the connection is closed; the parser never reads past what arrived.
 * The connection's buffers live on its fiber's stack: 6 KiB of the 16 KiB
 * class; with the calls below them (a failing call formats its message on
 * the stack too) a connection uses at most about 12 KiB.
 *
 * The same program is the benchmark server of scripts/bench-io.sh for W15:
 * build/bench/dtact_http_server is this file (docs/benchmarks.md); its
 * keep-alive response is byte for byte the 78 bytes the tokio and
 * thread-per-connection peers send. It prints "ready: ..." once it listens
 * and runs until it is killed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dtact.h"
#include "dtact_util.h"
#include "http_parse.h"

#define HEAD_MAX 4096    /* the largest request head accepted (431 beyond) */
#define OUT_MAX 2048     /* responses gathered before a write */
#define RESPONSE_MAX 160 /* the longest response below */

static const char BODY[] = "Hello, world!";
static const char HEAD_200[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
static const char BAD_REQUEST[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char TOO_LARGE[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static size_t append(char *out, size_t len, const char *s) {
    size_t n = strlen(s);
    memcpy(out + len, s, n);
    return len + n;
}

/* Appends the response to `req` to out[0..len) and returns the new length. */
static size_t respond(char *out, size_t len, const struct http_request *req) {
    len = append(out, len, HEAD_200);
    if (!req->keep_alive) {
        len = append(out, len, "Connection: close\r\n");
    } else if (req->minor_version == 0) { /* HTTP/1.0 closes unless told otherwise */
        len = append(out, len, "Connection: keep-alive\r\n");
    }
    len = append(out, len, "\r\n");
    int head_only = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (!head_only) len = append(out, len, BODY);
    return len;
}

/* Closes a connection the server gives up on while the client may still be
 * sending: closing with unread bytes makes the kernel send a reset, which can
 * destroy the response before the client reads it. So: end our side, read
 * and drop what still comes (for up to a second, at most 64 KiB), then close. */
static void close_after_response(DtactTcpStream *conn) {
    uint8_t sink[512];
    size_t dropped = 0;
    dtact_util_io_stream_shutdown(conn, 1); /* 1: no more writes */
    uint64_t deadline = dtact_now_ns() + 1000000000ull;
    while (dropped < 65536) {
        uint64_t now = dtact_now_ns();
        if (now >= deadline) break;
        ptrdiff_t n = dtact_util_io_stream_read_timeout(conn, sink, sizeof sink, (int64_t)(deadline - now));
        if (n <= 0) break;
        dropped += (size_t)n;
    }
    dtact_util_io_stream_close(conn);
}

/* What a connection carries from one batch of requests to the next. */
struct conn_state {
    uint64_t body_left; /* body bytes of the last request still to skip */
    int keep_open;      /* 0: the last answer closes the connection */
};

/* Answers the complete requests at the start of in[0..len), in order, into
 * out (*out_len grows, up to OUT_MAX); stops at an incomplete request, after
 * an answer that closes the connection, or when out is full. Returns the
 * bytes of `in` it used up. */
static size_t answer_requests(const char *in, size_t len, char *out, size_t *out_len, struct conn_state *st) {
    size_t used = 0;
    while (st->keep_open && *out_len + RESPONSE_MAX <= OUT_MAX) {
        if (st->body_left > 0) { /* this server does not look at request bodies */
            size_t skip = len - used < st->body_left ? len - used : (size_t)st->body_left;
            used += skip;
            st->body_left -= skip;
            if (st->body_left > 0) break;
        }
        struct http_request req;
        int r = http_parse_request(in + used, len - used, HEAD_MAX, &req);
        if (r == HTTP_PARSE_INCOMPLETE) break;
        if (r != HTTP_PARSE_OK) {
            *out_len = append(out, *out_len, r == HTTP_PARSE_TOO_LARGE ? TOO_LARGE : BAD_REQUEST);
            st->keep_open = 0;
            break;
        }
        *out_len = respond(out, *out_len, &req);
        used += req.head_len;
        st->body_left = req.content_length;
        st->keep_open = req.keep_alive;
    }
    return used;
}

/* One connection: read requests, answer each in order, until the client
 * closes, asks to close, or sends something that is not a request. */
static void http_connection(void *arg) {
    DtactTcpStream *conn = arg;
    char in[HEAD_MAX]; /* received bytes not handled yet: at most one incomplete head */
    char out[OUT_MAX]; /* responses not written yet */
    size_t in_len = 0;
    struct conn_state st = {0, 1};

    dtact_util_io_stream_set_nodelay(conn, 1); /* answers are small: send them at once */
    while (st.keep_open) {
        ptrdiff_t n = dtact_util_io_stream_read(conn, (uint8_t *)in + in_len, sizeof in - in_len);
        if (n <= 0) { /* 0: the client closed; -1: an error */
            dtact_util_io_stream_close(conn);
            return;
        }
        in_len += (size_t)n;
        /* answer every complete request received so far, a buffer of responses per write */
        size_t used = 0, done;
        do {
            size_t out_len = 0;
            done = answer_requests(in + used, in_len - used, out, &out_len, &st);
            used += done;
            if (out_len > 0 && dtact_util_io_stream_write_all(conn, (uint8_t *)out, out_len) < 0) {
                dtact_util_io_stream_close(conn); /* the client is gone */
                return;
            }
        } while (done > 0 && st.keep_open);
        memmove(in, in + used, in_len - used); /* keep the start of the next request */
        in_len -= used;
    }
    close_after_response(conn);
}

/* The accept loop: a fiber per accepted connection. It ends when accepting
 * fails for good (the runtime shuts down, or the listener is closed). */
static void http_accept_loop(void *arg) {
    DtactTcpListener *listener = arg;
    for (;;) {
        DtactTcpStream *conn = dtact_util_io_listener_accept(listener);
        if (!conn) {
            int err = dtact_util_last_error();
            if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS) {
                dtact_sleep_ns(10 * 1000 * 1000); /* out of descriptors: let connections close, then retry */
                continue;
            }
            break;
        }
        if (dtact_fiber_launch(http_connection, conn) == DTACT_INVALID_HANDLE) {
            /* every fiber record is in use (mFiberCapacity), or the runtime shuts down */
            dtact_util_io_stream_close(conn);
            if (dtact_last_error() == DTACT_ESHUTDOWN) break;
        }
    }
    dtact_util_io_listener_close(listener);
}

/* "8080" -> "127.0.0.1:8080"; anything else is an address as it is. */
static void listen_address(const char *arg, char *out, size_t cap) {
    if (arg[0] != '\0' && strspn(arg, "0123456789") == strlen(arg)) {
        snprintf(out, cap, "127.0.0.1:%s", arg);
    } else {
        snprintf(out, cap, "%s", arg);
    }
}

/* Every connection is a descriptor: allow as many as the hard limit does. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    char addr[256];
    listen_address(argc > 1 ? argv[1] : "8080", addr, sizeof addr);
    raise_fd_limit();

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 0;
    cfg.mFiberCapacity = 1u << 17; /* up to ~131k connections at once */
    cfg.mStackSize = 16 * 1024;    /* the smallest stack class: enough (see the top) */
    void *rt = dtact_init(&cfg);
    if (!rt) {
        fprintf(stderr, "dtact_init: %s\n", dtact_strerror(dtact_last_error()));
        return 1;
    }
    DtactTcpListener *listener = dtact_util_io_listener_bind(addr);
    if (!listener) {
        fprintf(stderr, "listen on %s: %s\n", addr, dtact_util_last_error_message());
        return 1;
    }
    char local[DTACT_UTIL_ADDR_MAX] = "?";
    dtact_util_io_listener_local_addr(listener, local, sizeof local);
    printf("ready: HTTP server listening on %s\n", local);
    fflush(stdout);

    dtact_fiber_launch(http_accept_loop, listener);
    dtact_run(rt); /* until dtact_shutdown(); here: until the process is killed */
    dtact_destroy(rt);
    return 0;
}
