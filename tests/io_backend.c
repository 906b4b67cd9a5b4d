/* tests/io_backend.c -- the reactor's two readiness backends (epoll, io_uring;
 * core/prim_uring.c): DTACT_IO_BACKEND and dtact_io_backend(); on each
 * backend, a close(2) after dtact_fd_cancel releases the file (the peer reads
 * EOF, a listener's port can be bound again), and many fds watched,
 * cancelled, closed and re-watched leave no poll behind in the rings
 * (/proc/self/fdinfo's PollList stays bounded); a forced io_uring that the
 * kernel refuses (a seccomp filter makes io_uring_setup fail with ENOSYS)
 * ends on epoll with a warning, never a failure to start.
 *
 * Each test sets DTACT_IO_BACKEND itself (each runs in its own process), so
 * the file tests both backends whatever the environment; io_uring parts skip,
 * saying why, where the machine has no io_uring (CI containers, qemu-user).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "dtact.h"
#include "rt_util.h"
#include "test_scale.h"

/* ------------------------------------------------------------ helpers */

static atomic_int warnings, warn_code;
static void on_warning(int code, const char *message, void *user) {
    (void)user;
    atomic_store(&warn_code, code);
    atomic_fetch_add(&warnings, 1);
    fprintf(stderr, "io_backend: warning %d: %s\n", code, message);
}

/* A started runtime on `backend` (DTACT_IO_BACKEND value). */
static void *up_on(const char *backend, uint32_t workers) {
    cr_assert_eq(setenv("DTACT_IO_BACKEND", backend, 1), 0);
    return rt_up(workers, 256);
}

/* Is io_uring usable here? (asks a runtime in auto mode) */
static int uring_here(void) {
    void *rt = up_on("auto", 1);
    int yes = strcmp(dtact_io_backend(), "io_uring") == 0;
    rt_down(rt);
    return yes;
}

/* Brings up a runtime on `backend`, or skips the test when it is io_uring and unavailable. */
static void *up_or_skip(const char *backend, uint32_t workers) {
    if (strcmp(backend, "io_uring") == 0 && !uring_here()) {
        cr_skip_test("io_uring is not available on this machine (kernel, sysctl, seccomp or qemu-user)");
    }
    void *rt = up_on(backend, workers);
    cr_assert_str_eq(dtact_io_backend(), backend);
    return rt;
}

static void sockpair(int sv[2]) {
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair: %s", strerror(errno));
    cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

/* The peer of a closed socket reads EOF (waits up to 30 s: a file never
 * released would hang here, not pass). */
static void assert_eof(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    cr_assert_eq(poll(&p, 1, 30000), 1, "the peer saw nothing: the closed socket was not released");
    char c;
    cr_assert_eq(read(fd, &c, 1), 0, "the peer read data or an error instead of EOF");
}

/* Entries of one list in the fdinfo of the process's io_uring instances
 * (/proc/self/fdinfo: a `header` line, then one line per entry starting with
 * `item`), summed over the rings, or -1 when no ring shows that list. */
static int ring_list_entries(const char *header, const char *item) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int total = -1;
    size_t hl = strlen(header), il = strlen(item);
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], link[64] = {0}, line[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        if (readlink(path, link, sizeof link - 1) <= 0 || strcmp(link, "anon_inode:[io_uring]") != 0) continue;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int in_list = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, header, hl) == 0) {
                in_list = 1;
                if (total < 0) total = 0;
            } else if (in_list && strncmp(line, item, il) == 0) {
                total++;
            } else {
                in_list = 0;
            }
        }
        fclose(f);
    }
    closedir(d);
    return total;
}

/* Armed polls ("PollList:", one "  op=..." line each). */
static int armed_polls(void) { return ring_list_entries("PollList:", "  op="); }

/* ------------------------------------------------------------ the query */

Test(io_backend, the_query_names_the_environment_s_choice) {
    cr_assert_str_eq(dtact_io_backend(), "none");
    dtact_set_warning_handler(on_warning, NULL);
    int uring = uring_here();
    cr_assert_eq(atomic_load(&warnings), 0, "auto warns about nothing");

    void *rt = up_on("epoll", 2);
    cr_assert_str_eq(dtact_io_backend(), "epoll");
    rt_down(rt);
    cr_assert_eq(atomic_load(&warnings), 0);

    rt = up_on("io_uring", 2);
    cr_assert_str_eq(dtact_io_backend(), uring ? "io_uring" : "epoll");
    rt_down(rt);
    cr_assert_eq(atomic_load(&warnings), uring ? 0 : 1, "a forced io_uring that is unavailable warns once");

    atomic_store(&warnings, 0);
    rt = up_on("kqueue", 2);
    cr_assert_str_eq(dtact_io_backend(), uring ? "io_uring" : "epoll", "an unknown value acts as auto");
    rt_down(rt);
    cr_assert_eq(atomic_load(&warnings), 1);
    cr_assert_eq(atomic_load(&warn_code), DTACT_WARN_IO_BACKEND);
    cr_assert_str_eq(dtact_io_backend(), "none");
    dtact_reset_warning_handler();
}

/* ------------------------------------------------------------ close after cancel */

struct watch_arg {
    int fd;
    int64_t timeout;
    atomic_int rc, started;
};

static void wait_reader(void *p) {
    struct watch_arg *a = p;
    atomic_store(&a->started, 1);
    atomic_store(&a->rc, dtact_wait_fd(a->fd, DTACT_IO_READ, a->timeout));
}

/* Makes fd watched by some worker's set: a fiber waits for it briefly. */
static void watch_once(int fd) {
    struct watch_arg a = {fd, 1000000, 0, 0};
    run_root(wait_reader, &a);
    cr_assert_eq(atomic_load(&a.rc), DTACT_ETIMEDOUT);
}

static void cancel_and_close_in_fiber(void *p) {
    int fd = *(int *)p;
    cr_assert_eq(dtact_fd_close(fd), DTACT_OK);
}

static void close_after_cancel(const char *backend) {
    void *rt = up_or_skip(backend, 2);
    /* 1. Watched, idle; cancelled and closed by a plain thread. */
    int sv[2];
    sockpair(sv);
    watch_once(sv[0]);
    cr_assert_eq(dtact_fd_cancel(sv[0]), DTACT_OK);
    cr_assert_eq(close(sv[0]), 0);
    assert_eof(sv[1]);
    close(sv[1]);
    /* 2. Closed with dtact_fd_close by a fiber (on a worker: maybe the owner). */
    sockpair(sv);
    watch_once(sv[0]);
    run_root(cancel_and_close_in_fiber, &sv[0]);
    assert_eof(sv[1]);
    close(sv[1]);
    /* 3. A fiber waiting for it when a plain thread cancels: it ends with ECLOSED. */
    sockpair(sv);
    struct watch_arg a = {sv[0], -1, 0, 0};
    dtact_handle_t h = dtact_fiber_launch(wait_reader, &a);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    while (!atomic_load(&a.started))
        usleep(100);
    while (dtact_fd_cancel(sv[0]) == DTACT_OK && atomic_load(&a.rc) == 0)
        usleep(1000); /* until the waiter has queued and been ended (see tests/reactor.c) */
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(atomic_load(&a.rc), DTACT_ECLOSED);
    cr_assert_eq(close(sv[0]), 0);
    assert_eof(sv[1]);
    close(sv[1]);
    /* 4. A listener: once cancelled and closed, its port can be bound again at once
     *    (a poll still holding the socket would make bind fail with EADDRINUSE). */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(l, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
    socklen_t len = sizeof sa;
    cr_assert_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    cr_assert_eq(listen(l, 4), 0);
    watch_once(l);
    cr_assert_eq(dtact_fd_cancel(l), DTACT_OK);
    cr_assert_eq(close(l), 0);
    int l2 = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(l2, (struct sockaddr *)&sa, sizeof sa), 0, "rebind after cancel+close: %s", strerror(errno));
    close(l2);
    rt_down(rt);
}

Test(io_backend, close_after_cancel_releases_the_file_epoll) { close_after_cancel("epoll"); }
Test(io_backend, close_after_cancel_releases_the_file_io_uring) { close_after_cancel("io_uring"); }

/* ------------------------------------------------------------ no leak */

#define PAIRS 16

struct echo_arg {
    int fd;
    atomic_int rc;
};

/* Reads one byte (waiting for it), so that the fd is watched and sees edges. */
static void read_one(void *p) {
    struct echo_arg *a = p;
    char c;
    for (;;) {
        ssize_t r = read(a->fd, &c, 1);
        if (r == 1) break;
        int w = dtact_wait_fd(a->fd, DTACT_IO_READ, -1);
        if (w < 0) {
            atomic_store(&a->rc, w);
            return;
        }
    }
    atomic_store(&a->rc, 1);
}

static void rewatch_cycles(const char *backend) {
    void *rt = up_or_skip(backend, 2);
    int uring = strcmp(backend, "io_uring") == 0;
    int base = uring ? armed_polls() : -1; /* the wake eventfds' polls, if any yet */
    int rounds = (int)dtact_test_scaled(60, 4);
    int peak = 0;
    for (int r = 0; r < rounds; r++) {
        int sv[PAIRS][2];
        struct echo_arg a[PAIRS];
        dtact_handle_t h[PAIRS];
        for (int i = 0; i < PAIRS; i++) {
            sockpair(sv[i]);
            a[i].fd = sv[i][0];
            atomic_store(&a[i].rc, 0);
            h[i] = dtact_fiber_launch(read_one, &a[i]);
            cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
        }
        for (int i = 0; i < PAIRS; i++)
            cr_assert_eq(write(sv[i][1], "x", 1), 1);
        for (int i = 0; i < PAIRS; i++) {
            cr_assert_eq(dtact_await(h[i]), DTACT_OK);
            cr_assert_eq(atomic_load(&a[i].rc), 1);
        }
        if (uring) {
            int n = armed_polls();
            if (n > peak) peak = n;
        }
        /* Half are cancelled then closed, half closed with dtact_fd_close. */
        for (int i = 0; i < PAIRS; i++) {
            if (i & 1) {
                cr_assert_eq(dtact_fd_close(sv[i][0]), DTACT_OK);
            } else {
                cr_assert_eq(dtact_fd_cancel(sv[i][0]), DTACT_OK);
                cr_assert_eq(close(sv[i][0]), 0);
            }
            assert_eof(sv[i][1]);
            close(sv[i][1]);
        }
        if (uring && base >= 0) {
            /* Every watch of the round is gone: only the wake eventfds' polls remain (one per
             * worker that has a ring: at most the 2 workers). */
            int n = armed_polls();
            cr_assert_leq(n, 2, "round %d: %d polls still armed after every fd was cancelled", r, n);
        }
    }
    if (uring && base >= 0) cr_assert_leq(peak, PAIRS + 2, "at most one poll per watched fd (+ the wake fds)");
    rt_down(rt);
}

Test(io_backend, watch_cancel_rewatch_cycles_leave_nothing_behind_epoll) { rewatch_cycles("epoll"); }
Test(io_backend, watch_cancel_rewatch_cycles_leave_nothing_behind_io_uring) { rewatch_cycles("io_uring"); }

/* ------------------------------------------------------------ CQ overflow */

/* CQEs waiting in the kernel's overflow list of the process's rings. */
static int overflowed_cqes(void) { return ring_list_entries("CqOverflowList:", "  "); }

#define OV_PAIRS 64
#define OV_BYTES 40 /* per pair: 64 x 40 single-byte writes, well past the CQ's 1024 entries */

static atomic_int ov_go, ov_waiting;

struct ov_reader {
    int fd, want;
    atomic_int got;
};

static void ov_read(void *p) {
    struct ov_reader *a = p;
    int counted = 0;
    char buf[64];
    while (atomic_load(&a->got) < a->want) {
        ssize_t r = read(a->fd, buf, sizeof buf);
        if (r > 0) {
            atomic_fetch_add(&a->got, (int)r);
            continue;
        }
        cr_assert(r < 0 && errno == EAGAIN, "read: %zd %s", r, strerror(errno));
        if (!counted) atomic_fetch_add(&ov_waiting, counted = 1);
        /* 30 s: a lost edge fails the test instead of hanging it */
        int w = dtact_wait_fd(a->fd, DTACT_IO_READ, 30000000000);
        cr_assert_gt(w, 0, "fd %d: %s after %d bytes", a->fd, dtact_strerror(w), atomic_load(&a->got));
    }
}

static void ov_spin(void *p) {
    (void)p;
    while (!atomic_load(&ov_go)) {
    } /* holds the only worker: its CQ fills up and overflows */
}

/* The owner does not reap while readiness edges pour in: the CQ overflows, the
 * multishot polls end (no IORING_CQE_F_MORE) and must be re-armed, or later
 * edges would be lost and the readers would hang. */
Test(io_backend, multishot_polls_ended_by_a_cq_overflow_are_re_armed) {
    void *rt = up_or_skip("io_uring", 1);
    static int sv[OV_PAIRS][2];
    static struct ov_reader rd[OV_PAIRS];
    dtact_handle_t h[OV_PAIRS];
    for (int i = 0; i < OV_PAIRS; i++) {
        sockpair(sv[i]);
        rd[i].fd = sv[i][0];
        rd[i].want = OV_BYTES + 1;
        atomic_store(&rd[i].got, 0);
        h[i] = dtact_fiber_launch(ov_read, &rd[i]);
        cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
    }
    while (atomic_load(&ov_waiting) < OV_PAIRS)
        usleep(1000);
    dtact_handle_t spin = dtact_fiber_launch(ov_spin, NULL);
    cr_assert_neq(spin, DTACT_INVALID_HANDLE);
    usleep(20000); /* only lets the spinner start: the test holds either way */
    for (int k = 0; k < OV_BYTES; k++) {
        for (int i = 0; i < OV_PAIRS; i++)
            cr_assert_eq(write(sv[i][1], "z", 1), 1);
        usleep(200); /* lets the owner's task work post the round's CQEs */
    }
    int ov = overflowed_cqes();
    atomic_store(&ov_go, 1);
    cr_assert_eq(dtact_await(spin), DTACT_OK);
    if (ov <= 0) fprintf(stderr, "io_backend: note: the CQ did not overflow this time (%d)\n", ov);
    /* Phase 2, once every reader has taken phase 1's bytes (and so waits again):
     * one more byte each; only re-armed polls can wake the readers. */
    for (int i = 0; i < OV_PAIRS; i++)
        while (atomic_load(&rd[i].got) < OV_BYTES)
            usleep(1000);
    for (int i = 0; i < OV_PAIRS; i++)
        cr_assert_eq(write(sv[i][1], "!", 1), 1);
    for (int i = 0; i < OV_PAIRS; i++) {
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
        cr_assert_eq(atomic_load(&rd[i].got), OV_BYTES + 1);
        cr_assert_eq(dtact_fd_close(sv[i][0]), DTACT_OK);
        close(sv[i][1]);
    }
    rt_down(rt);
}

/* ------------------------------------------------------------ fallback */

#if defined(__linux__) && defined(__NR_io_uring_setup)
/* Makes io_uring_setup fail with ENOSYS in this process, as a container's seccomp policy does. */
static int block_io_uring(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#else
static int block_io_uring(void) { return -1; }
#endif

static void echo_once(void *p) {
    int *sv = p;
    (void)dtact_wait_fd(sv[0], DTACT_IO_READ, 1000000); /* watches it: the worker sets up its readiness set */
    struct echo_arg a = {sv[0], 0};
    read_one(&a);
    cr_assert_eq(atomic_load(&a.rc), 1);
}

/* In a child: the runtime on a forced io_uring that seccomp blocks. late: a runtime was
 * made before the filter, so the process's probe said yes and the worker's own ring
 * setup is what fails. Exit 0: epoll with one warning; 77: the filter could not be
 * installed (and io_uring would have worked without it). */
static int fallback_child(int late) {
    if (late) rt_down(up_on("io_uring", 1));
    /* Without seccomp (qemu-user), the early case still holds where io_uring is unavailable anyway. */
    if (block_io_uring() != 0 && (late || uring_here())) return 77;
    dtact_set_warning_handler(on_warning, NULL);
    void *rt = up_on("io_uring", 1);
    int sv[2];
    sockpair(sv);
    cr_assert_eq(write(sv[1], "y", 1), 1);
    run_root(echo_once, sv); /* a worker sets up its readiness set and waits in it */
    if (strcmp(dtact_io_backend(), "epoll") != 0) return 2;
    if (atomic_load(&warnings) != 1 || atomic_load(&warn_code) != DTACT_WARN_IO_BACKEND) return 3;
    cr_assert_eq(dtact_fd_close(sv[0]), DTACT_OK);
    close(sv[1]);
    rt_down(rt);
    return 0;
}

static void fallback(int late) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) _exit(fallback_child(late));
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "the child died (status %d)", st);
    if (WEXITSTATUS(st) == 77) cr_skip_test("a seccomp filter cannot be installed here (qemu-user?)");
    cr_assert_eq(WEXITSTATUS(st), 0, "child: %s",
                 WEXITSTATUS(st) == 2 ? "the backend is not epoll" : "not exactly one DTACT_WARN_IO_BACKEND warning");
}

Test(io_backend, a_forced_io_uring_that_seccomp_blocks_falls_back_to_epoll_with_a_warning) { fallback(0); }
Test(io_backend, a_worker_whose_ring_cannot_be_set_up_falls_back_to_epoll_with_a_warning) { fallback(1); }
