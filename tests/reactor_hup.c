/* tests/reactor_hup.c -- a hang-up without readability ends a read wait: a TCP
 * listener that is shut down reports EPOLLHUP|EPOLLOUT but no EPOLLIN, and a
 * fiber waiting in dtact_wait_fd(READ) for it must wake (as poll(2) would;
 * the OS layer's io_bits gives HUP and ERR to both sides). libdtact_util's
 * close relies on it: it shuts a listener down to end a fiber's accept.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtact.h"
#include "rt_util.h"

typedef struct hup {
    int fd;
    atomic_int started, result;
} hup_t;

static void waiter(void *arg) {
    hup_t *h = arg;
    atomic_store(&h->started, 1);
    atomic_store(&h->result, dtact_wait_fd(h->fd, DTACT_IO_READ, 10000000000LL));
}

Test(reactor_hup, a_shut_down_listener_wakes_a_read_waiter) {
    void *rt = rt_up(2, 64);
    hup_t h;
    memset(&h, 0, sizeof h);
    h.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(h.fd, (struct sockaddr *)&sin, sizeof sin), 0);
    cr_assert_eq(listen(h.fd, 4), 0);
    /* shut down first: the waiter's watch then finds HUP already there, or sees it arrive */
    dtact_handle_t f = dtact_fiber_launch(waiter, &h);
    cr_assert_neq(f, DTACT_INVALID_HANDLE);
    while (!atomic_load(&h.started))
        usleep(1000);
    cr_assert_eq(shutdown(h.fd, SHUT_RDWR), 0);
    cr_assert_eq(dtact_await(f), DTACT_OK);
    int r = atomic_load(&h.result);
    cr_assert_gt(r, 0, "wait ended with %d (%s), not readiness", r, r < 0 ? dtact_strerror(r) : "");
    cr_assert(r & DTACT_IO_HUP, "no HUP bit in %#x", r);
    cr_assert_eq(dtact_fd_close(h.fd), DTACT_OK);
    rt_down(rt);
}
