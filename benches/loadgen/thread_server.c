/* thread_server: the blocking baseline of the I/O workloads (docs/benchmarks.md, W13-W15): one kernel thread per
 * connection, plain blocking sockets, no event loop. It is what a fiber-per-connection server is compared with
 * conceptually (the same straight-line code, but a thread per connection), and it validates loadgen end to end.
 *
 *   thread_server echo|idle|http PORT WORKERS [stack=65536]
 *
 * WORKERS is accepted for the harness's sake and ignored (there is no pool: every connection gets its own
 * thread, stack `stack` bytes). echo and idle are the same handler: read up to 1 KiB into a buffer on the
 * thread's stack and write it back (idle connections sit in that read). http: reads requests into a 4 KiB
 * buffer and answers each complete request head (`\r\n\r\n`; no request bodies) with a fixed HTTP/1.1 200
 * response with Content-Length 13 and body `Hello, world!`, keeping the connection open. Prints `ready` on
 * stdout once listening on 127.0.0.1:PORT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int g_http;

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void serve_echo(int fd) {
    char buf[1024];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0 || write_all(fd, buf, (size_t)k) != 0) return;
    }
}

static void serve_http(int fd) {
    char buf[4096];
    size_t len = 0;
    for (;;) {
        if (len == sizeof buf) return; /* request head too large */
        ssize_t k = recv(fd, buf + len, sizeof buf - len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        len += (size_t)k;
        size_t start = 0;
        char *end;
        while ((end = memmem(buf + start, len - start, "\r\n\r\n", 4)) != NULL) {
            if (write_all(fd, RESPONSE, sizeof RESPONSE - 1) != 0) return;
            start = (size_t)(end - buf) + 4;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
    }
}

static void *conn_main(void *arg) {
    int fd = (int)(long)arg;
    if (g_http) serve_http(fd);
    else serve_echo(fd);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "echo") && strcmp(argv[1], "idle") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: thread_server echo|idle|http PORT WORKERS [stack=BYTES]\n");
        return 2;
    }
    g_http = !strcmp(argv[1], "http");
    size_t stack = 65536;
    for (int i = 4; i < argc; i++)
        if (!strncmp(argv[i], "stack=", 6)) stack = (size_t)atol(argv[i] + 6);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4096) != 0) {
        perror("thread_server: listen");
        return 1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("thread_server: accept");
            if (errno == EMFILE || errno == ENFILE) {
                sleep(1);
                continue;
            }
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t th;
        if (pthread_create(&th, &attr, conn_main, (void *)(long)fd) != 0) {
            fprintf(stderr, "thread_server: pthread_create failed: closing a connection\n");
            close(fd);
        }
    }
}
