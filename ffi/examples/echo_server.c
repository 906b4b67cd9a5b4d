/* ffi/examples/echo_server.c -- a TCP echo server: one fiber per connection,
 * written as straight-line blocking code over dtact_util.h.
 *
 *   example_echo_server [ADDR|PORT] [WORKERS]
 *       ADDR      "HOST:PORT" to listen on (a bare PORT means 127.0.0.1:PORT;
 *                 default 127.0.0.1:7000; port 0 picks a free one)
 *       WORKERS   worker threads (default 0: one per CPU)
 *   printf 'hello\n' | nc -q1 127.0.0.1 7000
 *
 * The accept loop runs on a fiber and launches one fiber per connection,
 * which reads and writes back until the client closes. A read or an accept
 * that would block suspends only its fiber: the worker thread runs the other
 * fibers meanwhile, and an idle worker sleeps in its reactor (epoll) until a
 * socket is ready. So the code reads like a thread-per-connection server, and
 * costs a fiber (a record and a 16 KiB stack, of which an idle connection
 * touches a page or two) per connection instead of a thread.
 *
 * The same program is the benchmark server of scripts/bench-io.sh for W13
 * (echo) and W14 (idle connections): build/bench/dtact_echo_server and
 * dtact_idle_server are this file (docs/benchmarks.md). It prints "ready: ..."
 * once it listens and runs until it is killed.
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

/* One connection: echo everything until the client closes (or an error). The
 * buffer lives on the fiber's stack: 1 KiB of the 16 KiB. */
static void echo_connection(void *arg) {
    DtactTcpStream *conn = arg;
    uint8_t buf[1024];
    dtact_util_io_stream_set_nodelay(conn, 1); /* answers are small: send them at once */
    for (;;) {
        ptrdiff_t n = dtact_util_io_stream_read(conn, buf, sizeof buf);
        if (n <= 0) break; /* 0: the client closed; -1: an error */
        if (dtact_util_io_stream_write_all(conn, buf, (size_t)n) < 0) break;
    }
    dtact_util_io_stream_close(conn);
}

/* The accept loop: a fiber per accepted connection. It ends when accepting
 * fails for good (the runtime shuts down, or the listener is closed). */
static void echo_accept_loop(void *arg) {
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
        if (dtact_fiber_launch(echo_connection, conn) == DTACT_INVALID_HANDLE) {
            /* every fiber record is in use (mFiberCapacity), or the runtime shuts down */
            dtact_util_io_stream_close(conn);
            if (dtact_last_error() == DTACT_ESHUTDOWN) break;
        }
    }
    dtact_util_io_listener_close(listener);
}

/* "7000" -> "127.0.0.1:7000"; anything else is an address as it is. */
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
    listen_address(argc > 1 ? argv[1] : "7000", addr, sizeof addr);
    raise_fd_limit();

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 0;
    cfg.mFiberCapacity = 1u << 17; /* up to ~131k connections at once */
    cfg.mStackSize = 16 * 1024;    /* the smallest stack class: the fibers here use far less */
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
    printf("ready: echo server listening on %s\n", local);
    fflush(stdout);

    dtact_fiber_launch(echo_accept_loop, listener);
    dtact_run(rt); /* until dtact_shutdown(); here: until the process is killed */
    dtact_destroy(rt);
    return 0;
}
