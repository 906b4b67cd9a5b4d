/* tests/reactor.c -- dtact_wait_fd / dtact_fd_cancel: fibers wait for fds
 * without blocking their worker; echo traffic over many socket pairs; write
 * readiness; timeouts; cancel from another fiber or thread; shutdown; plain
 * threads with and without a runtime; hostile input; readiness wakes queue
 * behind runnable fibers. ctest runs it three
 * times: as it is (DTACT_IO_BACKEND unset: auto) and with DTACT_IO_BACKEND
 * forced to epoll and to io_uring (reactor_epoll, reactor_uring).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtact.h"
#include "rt_util.h"
#include "test_scale.h"

static void nonblock(int fd) { cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0); }

static void sockpair(int sv[2]) {
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair: %s", strerror(errno));
    nonblock(sv[0]);
    nonblock(sv[1]);
}

/* read exactly n bytes from a non-blocking fd, waiting as needed */
static int read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            return -1;
        } else if (errno == EAGAIN) {
            int rc = dtact_wait_fd(fd, DTACT_IO_READ, -1);
            if (rc < 0) return rc;
        } else {
            return -1;
        }
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, buf + put, n - put);
        if (r > 0) {
            put += (size_t)r;
        } else if (errno == EAGAIN) {
            int rc = dtact_wait_fd(fd, DTACT_IO_WRITE, -1);
            if (rc < 0) return rc;
        } else {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------- echo over pairs */

#define MSG 64
struct conn {
    int srv, cli;
    int rounds;
    atomic_int ok;
};

static void echo_server(void *arg) {
    struct conn *c = arg;
    char buf[MSG];
    for (int i = 0; i < c->rounds; i++) {
        cr_assert_eq(read_full(c->srv, buf, MSG), 0);
        cr_assert_eq(write_full(c->srv, buf, MSG), 0);
    }
}

static void echo_client(void *arg) {
    struct conn *c = arg;
    char out[MSG], in[MSG];
    for (int i = 0; i < c->rounds; i++) {
        for (int k = 0; k < MSG; k++)
            out[k] = (char)(i * 31 + k + c->cli);
        cr_assert_eq(write_full(c->cli, out, MSG), 0);
        cr_assert_eq(read_full(c->cli, in, MSG), 0);
        cr_assert_eq(memcmp(in, out, MSG), 0, "echo mismatch on round %d", i);
    }
    atomic_store(&c->ok, 1);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

Test(reactor, echo_over_many_socket_pairs) {
    raise_nofile();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int pairs = (int)dtact_test_scaled(500, 50);
    if ((rlim_t)pairs * 2 + 64 > rl.rlim_cur) pairs = (int)((rl.rlim_cur - 64) / 2);
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
        cr_assert_eq(dtact_fd_close(cs[i].srv), DTACT_OK);
        cr_assert_eq(dtact_fd_close(cs[i].cli), DTACT_OK);
    }
    free(cs);
    free(hs);
    rt_down(rt);
}

/* ------------------------------------- the worker is not blocked by a wait */

static atomic_int quick_done;
static void quick(void *arg) {
    (void)arg;
    atomic_fetch_add(&quick_done, 1);
}

struct pipe_wait {
    int fd;
    atomic_int rc;
    atomic_int started;
};

static void pipe_reader(void *arg) {
    struct pipe_wait *p = arg;
    atomic_store(&p->started, 1);
    int rc = dtact_wait_fd(p->fd, DTACT_IO_READ, -1);
    atomic_store(&p->rc, rc);
}

Test(reactor, waiting_fiber_does_not_block_its_worker) {
    void *rt = rt_up(1, 4096);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    nonblock(pfd[0]);
    struct pipe_wait p = {pfd[0], 0, 0};
    dtact_handle_t r = dtact_fiber_launch(pipe_reader, &p);
    cr_assert(r);
    while (!atomic_load(&p.started))
        dtact_sleep_ns(100000);
    for (int i = 0; i < 1000; i++)
        cr_assert(dtact_fiber_launch(quick, NULL));
    uint64_t t0 = dtact_now_ns();
    while (atomic_load(&quick_done) < 1000 && dtact_now_ns() - t0 < 10000000000ull)
        dtact_sleep_ns(100000);
    cr_assert_eq(atomic_load(&quick_done), 1000, "only %d of 1000 fibers ran beside the waiting one",
                 atomic_load(&quick_done));
    cr_assert_eq(atomic_load(&p.rc), 0, "the reader returned early");
    cr_assert_eq(write(pfd[1], "x", 1), 1);
    cr_assert_eq(dtact_await(r), DTACT_OK);
    cr_assert(atomic_load(&p.rc) & (int)DTACT_IO_READ, "rc %d", atomic_load(&p.rc));
    dtact_fd_close(pfd[0]);
    close(pfd[1]);
    rt_down(rt);
}

/* ------------------------------------------------------------ write side */

static int wr_fd;
static atomic_int wr_blocked;
static void writer_fiber(void *arg) {
    (void)arg;
    static char chunk[65536];
    size_t total = 0;
    for (;;) { /* fill the socket buffer */
        ssize_t w = write(wr_fd, chunk, sizeof chunk);
        if (w > 0) total += (size_t)w;
        else break;
    }
    cr_assert_eq(errno, EAGAIN);
    atomic_store(&wr_blocked, 1);
    int rc = dtact_wait_fd(wr_fd, DTACT_IO_WRITE, 5000000000LL);
    cr_assert(rc > 0 && (rc & (int)DTACT_IO_WRITE), "write wait: %d", rc);
    cr_assert_gt(write(wr_fd, chunk, 1), 0);
    (void)total;
}

Test(reactor, write_readiness) {
    void *rt = rt_up(2, 64);
    int sv[2];
    sockpair(sv);
    wr_fd = sv[0];
    dtact_handle_t h = dtact_fiber_launch(writer_fiber, NULL);
    while (!atomic_load(&wr_blocked))
        dtact_sleep_ns(100000);
    dtact_sleep_ns(2000000);
    cr_assert_eq(dtact_is_finished(h), 0);
    char buf[65536];
    while (read(sv[1], buf, sizeof buf) > 0) { /* drain: the writer's side becomes writable */
    }
    cr_assert_eq(dtact_await(h), DTACT_OK);
    dtact_fd_close(sv[0]);
    close(sv[1]);
    rt_down(rt);
}

/* ------------------------------------------------------------ timeouts */

static void timeout_fiber(void *arg) {
    int fd = (int)(intptr_t)arg;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = dtact_now_ns();
        int rc = dtact_wait_fd(fd, DTACT_IO_READ, 3000000);
        cr_assert_eq(rc, DTACT_ETIMEDOUT);
        cr_assert_geq(dtact_now_ns() - t0, 3000000ull, "timed out early");
    }
    uint64_t d = dtact_now_ns() + 2000000;
    cr_assert_eq(dtact_wait_fd_until(fd, DTACT_IO_READ | DTACT_IO_WRITE, d), DTACT_ETIMEDOUT);
    cr_assert_geq(dtact_now_ns(), d);
}

Test(reactor, timeouts_never_early) {
    void *rt = rt_up(2, 64);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    nonblock(pfd[0]);
    run_root(timeout_fiber, (void *)(intptr_t)pfd[0]);
    /* a plain thread */
    uint64_t t0 = dtact_now_ns();
    cr_assert_eq(dtact_wait_fd(pfd[0], DTACT_IO_READ, 3000000), DTACT_ETIMEDOUT);
    cr_assert_geq(dtact_now_ns() - t0, 3000000ull);
    dtact_fd_close(pfd[0]);
    close(pfd[1]);
    rt_down(rt);
}

/* ------------------------------------------------------------ cancel */

static int cancel_fd;
static atomic_int cancel_rc = 1, cancel_started;
static void cancel_waiter(void *arg) {
    (void)arg;
    atomic_store(&cancel_started, 1);
    atomic_store(&cancel_rc, dtact_wait_fd(cancel_fd, DTACT_IO_READ, -1));
}
/* A cancel ends the waits in progress; one that comes before the waiter has
 * queued (a slow or loaded machine) leaves the later wait alone, so cancel
 * until the waiter has returned. */
static void canceller(void *arg) {
    (void)arg;
    while (!atomic_load(&cancel_started))
        dtact_yield();
    while (atomic_load(&cancel_rc) == 1) {
        dtact_sleep_ns(2000000);
        cr_assert_eq(dtact_fd_cancel(cancel_fd), DTACT_OK);
    }
}

static void *thread_waiter(void *arg) {
    (void)arg;
    atomic_store(&cancel_started, 1);
    atomic_store(&cancel_rc, dtact_wait_fd(cancel_fd, DTACT_IO_READ, -1));
    return NULL;
}

Test(reactor, cancel_wakes_fiber_and_thread_waiters) {
    void *rt = rt_up(2, 64);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    nonblock(pfd[0]);
    cancel_fd = pfd[0];
    dtact_handle_t a = dtact_fiber_launch(cancel_waiter, NULL);
    dtact_handle_t b = dtact_fiber_launch(canceller, NULL);
    cr_assert_eq(dtact_await(a), DTACT_OK);
    cr_assert_eq(dtact_await(b), DTACT_OK);
    cr_assert_eq(atomic_load(&cancel_rc), DTACT_ECLOSED);
    /* the fd can be waited for again after a cancel */
    cr_assert_eq(write(pfd[1], "y", 1), 1);
    struct pipe_wait p = {pfd[0], 0, 0};
    dtact_handle_t r = dtact_fiber_launch(pipe_reader, &p);
    cr_assert_eq(dtact_await(r), DTACT_OK);
    cr_assert(atomic_load(&p.rc) & (int)DTACT_IO_READ);
    char c;
    cr_assert_eq(read(pfd[0], &c, 1), 1);
    /* a thread waiter */
    atomic_store(&cancel_started, 0);
    atomic_store(&cancel_rc, 1);
    pthread_t th;
    pthread_create(&th, NULL, thread_waiter, NULL);
    while (!atomic_load(&cancel_started))
        dtact_sleep_ns(100000);
    while (atomic_load(&cancel_rc) == 1) { /* as in canceller() */
        dtact_sleep_ns(5000000);
        cr_assert_eq(dtact_fd_cancel(pfd[0]), DTACT_OK);
    }
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&cancel_rc), DTACT_ECLOSED);
    dtact_fd_close(pfd[0]);
    close(pfd[1]);
    rt_down(rt);
}

/* ------------------------------------------------------------ shutdown */

static atomic_int shut_rc = 1, shut_started;
static void shut_waiter(void *arg) {
    int fd = (int)(intptr_t)arg;
    atomic_store(&shut_started, 1);
    atomic_store(&shut_rc, dtact_wait_fd(fd, DTACT_IO_READ, -1));
}

Test(reactor, shutdown_wakes_waiters) {
    void *rt = rt_up(2, 64);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    nonblock(pfd[0]);
    cr_assert(dtact_fiber_launch(shut_waiter, (void *)(intptr_t)pfd[0]));
    while (!atomic_load(&shut_started))
        dtact_sleep_ns(100000);
    dtact_sleep_ns(2000000);
    rt_down(rt);
    cr_assert_eq(atomic_load(&shut_rc), DTACT_ESHUTDOWN, "rc %d", atomic_load(&shut_rc));
    close(pfd[0]);
    close(pfd[1]);
}

/* ------------------------------------------------ files, threads, input */

Test(reactor, regular_files_are_always_ready) {
    void *rt = rt_up(1, 64);
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    struct pipe_wait p = {fileno(f), 0, 0};
    dtact_handle_t h = dtact_fiber_launch(pipe_reader, &p);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert(atomic_load(&p.rc) & (int)DTACT_IO_READ);
    dtact_fd_cancel(fileno(f));
    fclose(f);
    rt_down(rt);
}

Test(reactor, plain_thread_without_runtime) {
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    cr_assert_eq(dtact_wait_fd(pfd[0], DTACT_IO_READ, 1000000), DTACT_ETIMEDOUT);
    cr_assert_eq(write(pfd[1], "z", 1), 1);
    cr_assert(dtact_wait_fd(pfd[0], DTACT_IO_READ, -1) & (int)DTACT_IO_READ);
    cr_assert(dtact_wait_fd(pfd[1], DTACT_IO_WRITE, 0) & (int)DTACT_IO_WRITE);
    cr_assert_eq(dtact_fd_cancel(pfd[0]), DTACT_OK); /* no runtime: nothing to wake */
    close(pfd[0]);
    close(pfd[1]);
}

static void hostile_fiber(void *arg) {
    (void)arg;
    cr_assert_eq(dtact_wait_fd(-1, DTACT_IO_READ, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_wait_fd(0, 0, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_wait_fd(1 << 30, DTACT_IO_READ, 0), DTACT_EINVAL);
    int fd = dup(2);
    close(fd); /* now a closed descriptor */
    int rc = dtact_wait_fd(fd, DTACT_IO_READ, 1000000);
    cr_assert(rc == DTACT_EINVAL, "closed fd: %d", rc);
}

Test(reactor, hostile_input) {
    void *rt = rt_up(1, 64);
    run_root(hostile_fiber, NULL);
    cr_assert_eq(dtact_wait_fd(-5, DTACT_IO_READ, 0), DTACT_EINVAL);
    cr_assert_eq(dtact_fd_cancel(-1), DTACT_EINVAL);
    cr_assert_eq(dtact_fd_close(-1), DTACT_EINVAL);
    rt_down(rt);
}

/* ------------------------------------------------------- the backend */

/* ----------------------------- readiness queues behind runnable fibers */

/* A fiber woken by readiness is queued behind the fibers already runnable on
 * its worker, not in front of them (reactor.c): with one worker, every busy
 * fiber (each yields in a loop) has a turn after the edge and before the woken
 * reader runs. In front, a poll's batch would overtake the fibers woken by the
 * polls before it, and a server's p99 would grow with its connection count.
 * The reader must also wake soon while the others yield: a stream of direct
 * yields (fiber_api.c) still lets the loop poll the set every housekeeping
 * round, 61 dispatches (runq.c, pick_direct; it used to skip all but one
 * round in 64, and the edge waited ~3,900 dispatches), so no fiber has
 * more than a few turns between the edge and the reader's run. */
#define ORDER_BUSY 200
static struct {
    int sv[2];
    atomic_int armed, wrote, done;
    atomic_uint turns[ORDER_BUSY];
    unsigned snap[ORDER_BUSY];
    atomic_int behind, most, rc, gave_up;
} ord;

static void *order_reader(void *arg) {
    (void)arg;
    atomic_store(&ord.armed, 1);
    int rc = dtact_wait_fd(ord.sv[0], DTACT_IO_READ, -1);
    int behind = 0, most = 0;
    for (int i = 0; i < ORDER_BUSY; i++) {
        int turns = (int)(atomic_load(&ord.turns[i]) - ord.snap[i]);
        behind += turns != 0;
        if (turns > most) most = turns;
    }
    atomic_store(&ord.most, most);
    char c;
    if (read(ord.sv[0], &c, 1) != 1) rc = -1000;
    atomic_store(&ord.behind, behind);
    atomic_store(&ord.rc, rc);
    atomic_store(&ord.done, 1);
    return NULL;
}

static void *order_busy(void *arg) {
    int id = (int)(intptr_t)arg;
    int k;
    for (k = 0; k < 20000 && !atomic_load(&ord.done); k++) {
        if (id == 0 && atomic_load(&ord.armed) && !atomic_load(&ord.wrote)) {
            for (int i = 0; i < ORDER_BUSY; i++)
                ord.snap[i] = atomic_load(&ord.turns[i]);
            atomic_store(&ord.wrote, write(ord.sv[1], "x", 1) == 1 ? 1 : -1);
        }
        atomic_fetch_add(&ord.turns[id], 1u);
        dtact_yield();
    }
    if (k == 20000) atomic_store(&ord.gave_up, 1);
    return NULL;
}

static void order_root(void *arg) {
    (void)arg;
    dtact_spawn_attr_t at;
    dtact_spawn_attr_init(&at);
    at.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t hs[ORDER_BUSY + 1];
    cr_assert_eq(dtact_spawn(&hs[ORDER_BUSY], order_reader, NULL, &at), DTACT_OK);
    for (int i = 0; i < ORDER_BUSY; i++)
        cr_assert_eq(dtact_spawn(&hs[i], order_busy, (void *)(intptr_t)i, &at), DTACT_OK);
    for (int i = 0; i <= ORDER_BUSY; i++)
        cr_assert_eq(dtact_join(hs[i], -1, NULL), DTACT_OK);
}

Test(reactor, readiness_queues_behind_runnable_fibers) {
    sockpair(ord.sv);
    void *rt = rt_up(1, 1024);
    run_root(order_root, NULL);
    cr_assert_eq(atomic_load(&ord.wrote), 1);
    cr_assert_eq(atomic_load(&ord.gave_up), 0, "the reader was not woken while the other fibers yielded");
    cr_assert_leq(atomic_load(&ord.most), 4, "a fiber had %d turns between the edge and the reader's run",
                  atomic_load(&ord.most));
    cr_assert_gt(atomic_load(&ord.rc), 0, "wait and read: %d", atomic_load(&ord.rc));
    cr_assert_eq(atomic_load(&ord.behind), ORDER_BUSY, "only %d of %d runnable fibers ran before the woken reader",
                 atomic_load(&ord.behind), ORDER_BUSY);
    cr_assert_eq(dtact_fd_close(ord.sv[0]), DTACT_OK);
    cr_assert_eq(dtact_fd_close(ord.sv[1]), DTACT_OK);
    rt_down(rt);
}

/* The run is on the backend DTACT_IO_BACKEND asks for; a forced io_uring that
 * this machine lacks (an old kernel, a container's seccomp policy, qemu-user)
 * ran on epoll instead: skipped, saying so. */
Test(reactor, runs_on_the_backend_the_environment_asks_for) {
    const char *want = getenv("DTACT_IO_BACKEND");
    void *rt = rt_up(1, 64);
    const char *got = dtact_io_backend();
    cr_assert(strcmp(got, "epoll") == 0 || strcmp(got, "io_uring") == 0, "backend %s", got);
    rt_down(rt);
    if (!want || !*want || strcmp(want, "auto") == 0) return;
    if (strcmp(want, "io_uring") == 0 && strcmp(got, "io_uring") != 0)
        cr_skip_test("DTACT_IO_BACKEND=io_uring but io_uring is unavailable on this machine: this run used epoll");
    cr_assert_str_eq(got, want);
}
