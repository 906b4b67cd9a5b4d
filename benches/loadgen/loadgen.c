/* loadgen: closed-loop loopback load generator for the I/O workloads W13 (echo), W14 (idle connections) and
 * W15 (HTTP/1.1 keep-alive) of docs/benchmarks.md.
 *
 *   loadgen echo HOST:PORT [conns=100] [threads=1] [duration=5] [warmup=1] [size=64] [label=value ...]
 *   loadgen http HOST:PORT [conns=100] [threads=1] [duration=5] [warmup=1] [path=/] [body=Hello, world!]
 *   loadgen idle HOST:PORT [conns=10000] [threads=1] [hold=0] [server_pid=PID] [window=256]
 *
 * Every thread owns connections i with i % threads == t and drives them with its own epoll instance over
 * nonblocking sockets. echo/http are closed loops: each connection has exactly one request in flight; when its
 * answer is complete and verified, the next request goes out at once. Requests answered in the first `warmup`
 * seconds are not counted; then `duration` seconds are measured: every answer completed in that window is
 * counted, and its latency (send of the first byte to the arrival of the last byte of the answer) goes into a per-thread log-linear histogram (32 sub-buckets per power
 * of two: <= 3.2% error) from which p50/p99/p99.9 are read. After the measured window no new requests are sent
 * and the ones in flight get up to 2 s to finish (their answers are verified too, not counted).
 *
 * echo: a request is `size` bytes that differ per connection and per request; the answer must be the same
 * bytes. http: `GET path HTTP/1.1` with a Host header (keep-alive is HTTP/1.1's default); the answer must be a
 * `HTTP/1.x 200` response with a Content-Length whose body equals `body`, with no `Connection: close` and nothing
 * after it. idle: opens `conns` connections (at most `window` not yet confirmed at a time, so that the
 * server's accept backlog never overflows), sends one byte on each and waits for its echo (so that every
 * server task exists and has gone back to blocking in its read), then prints `loadgen: ready ...` on stderr,
 * reads the server's VmRSS (server_pid=), holds the connections for `hold` seconds (0: until SIGINT, SIGTERM
 * or SIGUSR1), and checks each connection once more with one byte before closing.
 *
 * Any mismatch, unexpected close, socket error or failed connect is counted; the program exits 1 if any count
 * is non-zero (with `CHECK FAILED` on stderr), 2 on usage or setup errors. Output: one line on stdout,
 *   peer=... workload=... mode=echo conns=100 threads=1 ... rps=... p50_us=... p99_us=... errors=0
 * where every key=value argument the program does not know (peer=, workload=, workers=) is copied to the
 * front of the line as a label. RLIMIT_NOFILE is raised to what the connections need (as far as the hard
 * limit allows, and the hard limit too where permitted); the program says so on stderr when it cannot.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_ECHO, M_HTTP, M_IDLE };

/* ------------------------------------------------------------------------------------------- options */

static enum mode g_mode;
static struct sockaddr_in g_addr;
static char g_hostport[256];
static long g_conns = -1;
static int g_threads = 1;
static double g_duration = 5, g_warmup = 1, g_hold = 0;
static long g_size = 64;
static long g_window = 256;
static long g_server_pid;
static const char *g_path = "/";
static const char *g_body = "Hello, world!";
static char g_labels[1024];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* ------------------------------------------------------------------------------------------- histogram */

#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS) * SUB + SUB)

static unsigned bucket_of(uint64_t v) {
    if (v < SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - SUB_BITS;
    return (shift + 1) * SUB + (unsigned)((v >> shift) & (SUB - 1));
}

/* the middle of the bucket's value range */
static double bucket_mid(unsigned b) {
    if (b < SUB) return b;
    unsigned shift = b / SUB - 1;
    uint64_t lo = ((uint64_t)SUB + (b % SUB)) << shift;
    return (double)lo + (double)((1ull << shift) - 1) / 2.0;
}

/* ------------------------------------------------------------------------------------------- connections */

struct conn {
    int fd;
    int state; /* 0 connecting, 1 sending, 2 receiving, 3 idle/done, 4 dead */
    uint32_t id;
    uint64_t seq;
    uint64_t t_sent;
    size_t wpos, wlen, rpos;
    char *wbuf, *rbuf;
    size_t rcap;
    int want_out;
};

struct worker {
    pthread_t th;
    int idx;
    int ep;
    struct conn *c;
    long n;
    uint64_t *hist;
    uint64_t counted, all_done, errors, mismatches, closed, connect_fail;
    uint64_t lat_sum, lat_max;
    long inflight_left;
    char err_example[160];
};

static struct worker *g_w;
static pthread_barrier_t g_bar;
static _Atomic uint64_t g_t_start, g_t_measure, g_t_end;
static _Atomic int g_stop_sending;
static volatile sig_atomic_t g_signal;
static char g_http_req[512];
static size_t g_http_req_len;

static void note_error(struct worker *w, const struct conn *c, const char *what) {
    if (!w->err_example[0]) snprintf(w->err_example, sizeof w->err_example, "conn %u: %s", c->id, what);
}

static void set_events(struct worker *w, struct conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e) != 0) die("epoll_ctl MOD");
}

static void kill_conn(struct worker *w, struct conn *c) {
    if (c->state == 4) return;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = 4;
}

/* fill the next request of c into wbuf */
static void make_request(struct conn *c) {
    if (g_mode == M_ECHO) {
        uint64_t x = ((uint64_t)c->id << 32) ^ c->seq ^ 0x9e3779b97f4a7c15ull;
        for (long i = 0; i < g_size; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c->wbuf[i] = (char)x;
        }
        c->wlen = (size_t)g_size;
    } else if (g_mode == M_HTTP) {
        memcpy(c->wbuf, g_http_req, g_http_req_len);
        c->wlen = g_http_req_len;
    } else {
        c->wbuf[0] = (char)('a' + c->seq % 26);
        c->wlen = 1;
    }
    c->wpos = 0;
    c->rpos = 0;
    c->seq++;
}

/* returns 0 on progress/wait, -1 when the connection died */
static int do_send(struct worker *w, struct conn *c) {
    while (c->wpos < c->wlen) {
        ssize_t k = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (k > 0) {
            c->wpos += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                c->want_out = 1;
                set_events(w, c, EPOLLIN | EPOLLOUT);
            }
            return 0;
        }
        w->errors++;
        note_error(w, c, k < 0 ? strerror(errno) : "send returned 0");
        kill_conn(w, c);
        return -1;
    }
    if (c->want_out) {
        c->want_out = 0;
        set_events(w, c, EPOLLIN);
    }
    c->state = 2;
    return 0;
}

static void start_request(struct worker *w, struct conn *c) {
    make_request(c);
    c->state = 1;
    c->t_sent = now_ns();
    do_send(w, c);
}

/* Checks the bytes received so far. Returns 1 when the answer is complete and correct, 0 when more is
 * needed, -1 on a mismatch. */
static int check_answer(struct conn *c) {
    if (g_mode == M_ECHO || g_mode == M_IDLE) {
        if (c->rpos < c->wlen) return memcmp(c->rbuf, c->wbuf, c->rpos) == 0 ? 0 : -1;
        if (c->rpos > c->wlen) return -1;
        return memcmp(c->rbuf, c->wbuf, c->wlen) == 0 ? 1 : -1;
    }
    /* http */
    c->rbuf[c->rpos] = 0;
    char *end = memmem(c->rbuf, c->rpos, "\r\n\r\n", 4);
    if (!end) return c->rpos + 1 >= c->rcap ? -1 : 0;
    size_t hlen = (size_t)(end - c->rbuf) + 4;
    if (strncmp(c->rbuf, "HTTP/1.", 7) != 0 || strncmp(c->rbuf + 8, " 200", 4) != 0) return -1;
    long clen = -1;
    for (char *p = strstr(c->rbuf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        char *h = p + 2;
        if (strncasecmp(h, "content-length:", 15) == 0) clen = strtol(h + 15, NULL, 10);
        else if (strncasecmp(h, "connection:", 11) == 0) {
            const char *v = h + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0) return -1;
        } else if (strncasecmp(h, "transfer-encoding:", 18) == 0)
            return -1; /* the static response must carry a Content-Length */
    }
    size_t blen = strlen(g_body);
    if (clen < 0 || (size_t)clen != blen) return -1;
    if (c->rpos < hlen + blen) return 0;
    if (c->rpos > hlen + blen) return -1;
    return memcmp(c->rbuf + hlen, g_body, blen) == 0 ? 1 : -1;
}

static void on_readable(struct worker *w, struct conn *c) {
    for (;;) {
        size_t room = c->rcap - 1 - c->rpos;
        if (room == 0) {
            w->mismatches++;
            note_error(w, c, "answer longer than expected");
            kill_conn(w, c);
            return;
        }
        ssize_t k = recv(c->fd, c->rbuf + c->rpos, room, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (k <= 0) {
            if (k == 0) {
                w->closed++;
                note_error(w, c, "closed by the server");
            } else {
                w->errors++;
                note_error(w, c, strerror(errno));
            }
            kill_conn(w, c);
            return;
        }
        if (c->state != 2) { /* bytes nobody asked for */
            w->mismatches++;
            note_error(w, c, "unsolicited bytes");
            kill_conn(w, c);
            return;
        }
        c->rpos += (size_t)k;
        int r = check_answer(c);
        if (r < 0) {
            w->mismatches++;
            note_error(w, c, g_mode == M_HTTP ? "bad HTTP response" : "echo differs from the request");
            kill_conn(w, c);
            return;
        }
        if (r == 0) continue;
        /* complete */
        uint64_t t = now_ns();
        w->all_done++;
        if (g_mode != M_IDLE && t >= atomic_load_explicit(&g_t_measure, memory_order_relaxed) &&
            t < atomic_load_explicit(&g_t_end, memory_order_relaxed)) {
            uint64_t lat = t - c->t_sent;
            w->hist[bucket_of(lat)]++;
            w->counted++;
            w->lat_sum += lat;
            if (lat > w->lat_max) w->lat_max = lat;
        }
        c->state = 3;
        if (g_mode == M_IDLE) return;
        if (atomic_load_explicit(&g_stop_sending, memory_order_relaxed)) {
            w->inflight_left--;
            return;
        }
        start_request(w, c);
        return;
    }
}

static void on_event(struct worker *w, struct conn *c, uint32_t ev) {
    if (c->state == 4) return;
    if (c->state == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            w->connect_fail++;
            errno = err;
            note_error(w, c, strerror(err));
            kill_conn(w, c);
            return;
        }
        c->state = 3;
        set_events(w, c, EPOLLIN);
        if (g_mode == M_IDLE) /* confirm at once that the server runs a task for it */
            start_request(w, c);
        return;
    }
    if ((ev & EPOLLOUT) && c->state == 1) do_send(w, c);
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(w, c);
}

static int open_conn(struct worker *w, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = 0;
    c->want_out = 0;
    int r = connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr);
    if (r != 0 && errno != EINPROGRESS) {
        w->connect_fail++;
        note_error(w, c, strerror(errno));
        close(c->fd);
        c->state = 4;
        return -1;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &e) != 0) die("epoll_ctl ADD");
    if (r == 0) { /* connected at once */
        c->state = 3;
        set_events(w, c, EPOLLIN);
        if (g_mode == M_IDLE) start_request(w, c);
    }
    return 0;
}

static int poll_once(struct worker *w, int timeout_ms) {
    struct epoll_event ev[256];
    int k = epoll_wait(w->ep, ev, 256, timeout_ms);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < k; i++)
        on_event(w, ev[i].data.ptr, ev[i].events);
    return k < 0 ? 0 : k;
}

static long count_state(struct worker *w, int state) {
    long k = 0;
    for (long i = 0; i < w->n; i++)
        k += w->c[i].state == state;
    return k;
}

/* connects every connection of w, at most `window` not yet established at a time (idle: not yet established
 * or not yet echoed, so that the server's accept queue stays short) */
static void connect_all(struct worker *w) {
    long next = 0, pending = 0;
    uint64_t deadline = now_ns() + 30ull * 1000000000u;
    while (next < w->n || pending > 0) {
        while (next < w->n && pending < g_window) {
            if (open_conn(w, &w->c[next]) == 0) pending++;
            next++;
        }
        poll_once(w, 10);
        pending = count_state(w, 0) + count_state(w, 1) + count_state(w, 2);
        if (now_ns() > deadline) {
            for (long i = 0; i < w->n; i++)
                if (w->c[i].state <= 2) {
                    w->connect_fail++;
                    note_error(w, &w->c[i], "connect (and first echo) timed out (30 s)");
                    kill_conn(w, &w->c[i]);
                }
            break;
        }
    }
}

/* idle mode: one byte per connection and its echo, at most `window` outstanding */
static void ping_all(struct worker *w) {
    long next = 0;
    uint64_t deadline = now_ns() + 60ull * 1000000000u;
    for (;;) {
        long outstanding = count_state(w, 1) + count_state(w, 2);
        while (next < w->n && outstanding < g_window) {
            struct conn *c = &w->c[next++];
            if (c->state == 3) {
                start_request(w, c);
                outstanding++;
            }
        }
        if (next >= w->n && outstanding == 0) break;
        poll_once(w, 10);
        if (now_ns() > deadline) {
            for (long i = 0; i < w->n; i++)
                if (w->c[i].state == 1 || w->c[i].state == 2) {
                    w->errors++;
                    note_error(w, &w->c[i], "no echo within 60 s");
                    kill_conn(w, &w->c[i]);
                }
            break;
        }
    }
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) die("epoll_create1");
    connect_all(w);
    if (g_mode == M_IDLE) {
        pthread_barrier_wait(&g_bar); /* main: ready, RSS, hold */
        pthread_barrier_wait(&g_bar);
        ping_all(w);
        for (long i = 0; i < w->n; i++)
            kill_conn(w, &w->c[i]);
        return NULL;
    }
    pthread_barrier_wait(&g_bar); /* all connected; main sets the clock */
    pthread_barrier_wait(&g_bar);
    for (long i = 0; i < w->n; i++)
        if (w->c[i].state == 3) start_request(w, &w->c[i]);
    uint64_t end = atomic_load(&g_t_end);
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        uint64_t left_ms = (end - t) / 1000000u + 1;
        poll_once(w, left_ms > 100 ? 100 : (int)left_ms);
    }
    atomic_store(&g_stop_sending, 1);
    w->inflight_left = count_state(w, 1) + count_state(w, 2);
    uint64_t drain_end = now_ns() + 2000000000ull;
    while (w->inflight_left > 0 && now_ns() < drain_end) {
        poll_once(w, 10);
        w->inflight_left = count_state(w, 1) + count_state(w, 2);
    }
    if (w->inflight_left > 0) {
        w->errors += (uint64_t)w->inflight_left;
        snprintf(w->err_example, sizeof w->err_example, "%ld requests unanswered 2 s after the end", w->inflight_left);
    }
    for (long i = 0; i < w->n; i++)
        kill_conn(w, &w->c[i]);
    return NULL;
}

/* ------------------------------------------------------------------------------------------- main */

static long vmrss_kb(long pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15), -1 if unreadable */
static double cpu_s(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void sleep_until(uint64_t t) {
    for (uint64_t n = now_ns(); n < t; n = now_ns()) {
        uint64_t d = t - n;
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
        nanosleep(&ts, NULL);
    }
}

static void on_signal(int s) { g_signal = s; }

static void raise_nofile(long need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
    rlim_t want = (rlim_t)need;
    if (rl.rlim_cur >= want) return;
    if (rl.rlim_max < want) {
        struct rlimit r2 = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &r2) == 0) {
            fprintf(stderr, "loadgen: RLIMIT_NOFILE raised to %ld (hard limit too)\n", need);
            return;
        }
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        fprintf(stderr,
                "loadgen: RLIMIT_NOFILE hard limit is %llu, %ld descriptors needed for %ld connections: "
                "not possible here (raise it with ulimit -Hn as root)\n",
                (unsigned long long)rl.rlim_max, need, g_conns);
        exit(2);
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit");
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen echo|http|idle HOST:PORT [conns=N] [threads=T] [duration=S] [warmup=S]\n"
                    "               [size=B] [path=/] [body=TEXT] [hold=S] [server_pid=PID] [window=N]\n"
                    "               [label=value ...]   (see the comment at the top of loadgen.c)\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 3) usage();
    if (!strcmp(argv[1], "echo")) g_mode = M_ECHO;
    else if (!strcmp(argv[1], "http")) g_mode = M_HTTP;
    else if (!strcmp(argv[1], "idle")) g_mode = M_IDLE;
    else usage();
    snprintf(g_hostport, sizeof g_hostport, "%s", argv[2]);
    char *colon = strrchr(g_hostport, ':');
    if (!colon) usage();
    *colon = 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(g_hostport, colon + 1, &hints, &ai) != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s\n", argv[2]);
        return 2;
    }
    memcpy(&g_addr, ai->ai_addr, sizeof g_addr);
    freeaddrinfo(ai);
    *colon = ':';

    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) usage();
        size_t kl = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
#define KEY(s) (kl == strlen(s) && !strncmp(argv[i], s, kl))
        if (KEY("conns")) g_conns = atol(v);
        else if (KEY("threads")) g_threads = atoi(v);
        else if (KEY("duration")) g_duration = atof(v);
        else if (KEY("warmup")) g_warmup = atof(v);
        else if (KEY("hold")) g_hold = atof(v);
        else if (KEY("size")) g_size = atol(v);
        else if (KEY("window")) g_window = atol(v);
        else if (KEY("server_pid")) g_server_pid = atol(v);
        else if (KEY("path")) g_path = v;
        else if (KEY("body")) g_body = v;
        else { /* a label, copied to the output line */ size_t l = strlen(g_labels);
            snprintf(g_labels + l, sizeof g_labels - l, "%s ", argv[i]);
        }
#undef KEY
    }
    if (g_conns < 0) g_conns = g_mode == M_IDLE ? 10000 : 100;
    if (g_conns < 1 || g_threads < 1 || g_size < 1 || g_window < 1 || g_duration <= 0 || g_warmup < 0) usage();
    if (g_threads > g_conns) g_threads = (int)g_conns;
    raise_nofile(g_conns + 64);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    if (g_mode == M_HTTP)
        g_http_req_len =
            (size_t)snprintf(g_http_req, sizeof g_http_req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", g_path, g_hostport);
    size_t wcap = g_mode == M_ECHO ? (size_t)g_size : g_mode == M_HTTP ? g_http_req_len : 1;
    size_t rcap = g_mode == M_ECHO ? (size_t)g_size + 1 : g_mode == M_HTTP ? 4096 : 2;

    g_w = calloc((size_t)g_threads, sizeof *g_w);
    struct conn *all = calloc((size_t)g_conns, sizeof *all);
    char *bufs = malloc((size_t)g_conns * (wcap + rcap));
    if (!g_w || !all || !bufs) die("malloc");
    long base = 0;
    for (int t = 0; t < g_threads; t++) {
        struct worker *w = &g_w[t];
        w->idx = t;
        w->n = g_conns / g_threads + (t < g_conns % g_threads);
        w->c = all + base;
        w->hist = calloc(NBUCKETS, sizeof(uint64_t));
        for (long i = 0; i < w->n; i++) {
            struct conn *c = &w->c[i];
            c->id = (uint32_t)(base + i);
            c->wbuf = bufs + (size_t)(base + i) * (wcap + rcap);
            c->rbuf = c->wbuf + wcap;
            c->rcap = rcap;
            c->state = 4;
        }
        base += w->n;
    }

    long rss_before = g_server_pid ? vmrss_kb(g_server_pid) : -1;
    if (g_server_pid && rss_before < 0) {
        fprintf(stderr, "loadgen: cannot read /proc/%ld/status\n", g_server_pid);
        return 2;
    }
    pthread_barrier_init(&g_bar, NULL, (unsigned)g_threads + 1);
    uint64_t t0 = now_ns();
    atomic_store(&g_t_start, t0);
    for (int t = 0; t < g_threads; t++)
        if (pthread_create(&g_w[t].th, NULL, worker_main, &g_w[t]) != 0) die("pthread_create");
    pthread_barrier_wait(&g_bar); /* all connected (idle: and pinged) */
    uint64_t t_ready = now_ns();
    long rss_after = -1;
    double held = 0, srv_cpu0 = -1, srv_cpu1 = -1, gen_cpu0 = -1, gen_cpu1 = -1;
    if (g_mode == M_IDLE) {
        long ok = 0;
        for (int t = 0; t < g_threads; t++)
            ok += count_state(&g_w[t], 3);
        if (g_server_pid) rss_after = vmrss_kb(g_server_pid);
        fprintf(stderr, "loadgen: ready: %ld of %ld connections open and answered in %.2f s\n", ok, g_conns,
                (double)(t_ready - t0) / 1e9);
        uint64_t until = g_hold > 0 ? t_ready + (uint64_t)(g_hold * 1e9) : UINT64_MAX;
        while (!g_signal && now_ns() < until) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
        held = (double)(now_ns() - t_ready) / 1e9;
        pthread_barrier_wait(&g_bar);
    } else {
        uint64_t s = now_ns();
        atomic_store(&g_t_measure, s + (uint64_t)(g_warmup * 1e9));
        atomic_store(&g_t_end, s + (uint64_t)((g_warmup + g_duration) * 1e9));
        pthread_barrier_wait(&g_bar);
        /* CPU time of the server and of the generator over the measured window */
        sleep_until(atomic_load(&g_t_measure));
        srv_cpu0 = g_server_pid ? cpu_s(g_server_pid) : -1;
        gen_cpu0 = cpu_s((long)getpid());
        sleep_until(atomic_load(&g_t_end));
        srv_cpu1 = g_server_pid ? cpu_s(g_server_pid) : -1;
        gen_cpu1 = cpu_s((long)getpid());
    }
    for (int t = 0; t < g_threads; t++)
        pthread_join(g_w[t].th, NULL);

    uint64_t counted = 0, errors = 0, mism = 0, closed = 0, cfail = 0, lat_sum = 0, lat_max = 0, done = 0;
    static uint64_t hist[NBUCKETS];
    const char *example = NULL;
    for (int t = 0; t < g_threads; t++) {
        struct worker *w = &g_w[t];
        counted += w->counted;
        done += w->all_done;
        errors += w->errors;
        mism += w->mismatches;
        closed += w->closed;
        cfail += w->connect_fail;
        lat_sum += w->lat_sum;
        if (w->lat_max > lat_max) lat_max = w->lat_max;
        for (unsigned b = 0; b < NBUCKETS; b++)
            hist[b] += w->hist[b];
        if (!example && w->err_example[0]) example = w->err_example;
    }
    uint64_t bad = errors + mism + closed + cfail;

    if (g_mode == M_IDLE) {
        double bpc =
            rss_before >= 0 && rss_after >= 0 ? (double)(rss_after - rss_before) * 1024.0 / (double)g_conns : -1;
        printf("%smode=idle conns=%ld threads=%d connect_s=%.3f held_s=%.2f rss_before_kb=%ld rss_after_kb=%ld "
               "bytes_per_conn=%.0f echoes=%llu errors=%llu mismatches=%llu closed=%llu connect_fail=%llu\n",
               g_labels, g_conns, g_threads, (double)(t_ready - t0) / 1e9, held, rss_before, rss_after, bpc,
               (unsigned long long)done, (unsigned long long)errors, (unsigned long long)mism,
               (unsigned long long)closed, (unsigned long long)cfail);
    } else {
        double pct[3] = {0.50, 0.99, 0.999}, val[3] = {0, 0, 0};
        uint64_t acc = 0;
        int k = 0;
        for (unsigned b = 0; b < NBUCKETS && k < 3; b++) {
            acc += hist[b];
            while (k < 3 && counted && (double)acc >= pct[k] * (double)counted)
                val[k++] = bucket_mid(b);
        }
        double srv = srv_cpu0 >= 0 && srv_cpu1 >= 0 ? srv_cpu1 - srv_cpu0 : -1;
        double gen = gen_cpu0 >= 0 && gen_cpu1 >= 0 ? gen_cpu1 - gen_cpu0 : -1;
        printf("%smode=%s conns=%ld threads=%d duration_s=%.2f warmup_s=%.2f %s%ld requests=%llu rps=%.0f "
               "p50_us=%.1f p99_us=%.1f p999_us=%.1f mean_us=%.1f max_us=%.1f server_cpu_s=%.2f "
               "server_cpu_us_per_req=%.2f gen_cpu_s=%.2f gen_cpu_us_per_req=%.2f errors=%llu mismatches=%llu "
               "closed=%llu connect_fail=%llu\n",
               g_labels, g_mode == M_ECHO ? "echo" : "http", g_conns, g_threads, g_duration, g_warmup,
               g_mode == M_ECHO ? "size=" : "body_bytes=", g_mode == M_ECHO ? g_size : (long)strlen(g_body),
               (unsigned long long)counted, (double)counted / g_duration, val[0] / 1e3, val[1] / 1e3, val[2] / 1e3,
               counted ? (double)lat_sum / (double)counted / 1e3 : 0.0, (double)lat_max / 1e3, srv,
               srv >= 0 && counted ? srv * 1e6 / (double)counted : -1, gen,
               gen >= 0 && counted ? gen * 1e6 / (double)counted : -1, (unsigned long long)errors,
               (unsigned long long)mism, (unsigned long long)closed, (unsigned long long)cfail);
    }
    fflush(stdout);
    if (bad || (g_mode != M_IDLE && counted == 0)) {
        fprintf(stderr, "loadgen: CHECK FAILED: %llu errors, %llu mismatches, %llu closed, %llu failed connects%s%s\n",
                (unsigned long long)errors, (unsigned long long)mism, (unsigned long long)closed,
                (unsigned long long)cfail, example ? "; first: " : "", example ? example : "");
        return 1;
    }
    return 0;
}
