/* core/transfer.c -- dtact_recv_until and dtact_send_until: socket transfers
 * that suspend only the calling fiber.
 *
 * Two ways, chosen per call:
 *
 *  - Completion (a fiber on a worker whose set is an io_uring one): the
 *    fiber queues an IORING_OP_RECV/SEND on its worker's ring
 *    (dtact__ioset_op) with a wait node on its own stack as the tag, and
 *    parks. Nothing is submitted yet: the worker submits every queued
 *    operation at once when its run queue runs dry, at its housekeeping
 *    rounds and when it sleeps (prim_uring.c), so one io_uring_enter carries
 *    the transfers of every fiber that ran since. The kernel does the
 *    transfer (at once when it can, else when the socket is ready) and posts
 *    a CQE; the worker reaps it and the reactor (reactor.c) stores the result
 *    in the node and unparks the fiber, at the back of the queue like a
 *    readiness wake-up. A readiness design makes two system calls per
 *    request-response exchange (the receive and the send; io_uring's sleep
 *    and wake-up come on top) where this one makes a share of one: on a
 *    machine where a system call costs a microsecond (a virtual machine),
 *    that is most of a server's own CPU time per request.
 *
 *    The kernel writes into (or reads from) the caller's buffer until the
 *    CQE, so the call never returns before it: a deadline or the runtime's
 *    shutdown asks the kernel to cancel the operation (on the ring it was
 *    queued on: our own SQ when the fiber still runs on that worker, else
 *    the synchronous cancel, which any thread may make, asked again every
 *    millisecond until it finds the operation, which its owner may not have
 *    submitted yet) and then waits for the CQE. A transfer that completed
 *    meanwhile counts (its bytes are returned); a cancelled one returns
 *    DTACT_ETIMEDOUT or DTACT_ESHUTDOWN.
 *    dtact_fd_cancel does not end a transfer in flight: shutdown(2) of the
 *    socket does (the kernel completes it: 0 bytes, or EPIPE), which is what
 *    the socket layer's close does (util/handle.c).
 *
 *  - Readiness (a plain thread, or the epoll backend): a non-blocking
 *    recv/send, and on EAGAIN a wait for readiness (dtact__wait_fd: the
 *    worker's reactor, or poll(2) on a thread), then again.
 */
#include "internal.h"
#include "waitq.h"

#include <errno.h>

/* How often a cancel that found nothing is asked again (see by_completion). */
#define DTACT__CANCEL_RETRY_NS 1000000ull

static ptrdiff_t sys_error(int neg_errno) {
    dtact__set_error(DTACT_ESYS);
    errno = -neg_errno; /* after set_error: the caller reads it */
    return DTACT_ESYS;
}

/* The completion way; w runs the calling fiber and its set is an io_uring
 * one. DTACT_OK and the kernel's result in *res (bytes, or -errno), or a
 * DTACT code (DTACT_EBUSY: not queued, the SQ is full and stuck). */
static int by_completion(dtact__worker_t *w, dtact__ioset_t *set, int op, int fd, void *buf, size_t len, int flags,
                         uint64_t deadline, ptrdiff_t *res) {
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return rc;
    dtact__worker_t *owner = w;
    int r = dtact__ioset_op(set, op, fd, buf, len, flags, (uint64_t)(uintptr_t)&n);
    if (r < 0) return DTACT_EBUSY;
    int gave_up = 0, asked = 0; /* asked: the kernel has our cancel */
    uint64_t ask_at = 0;
    for (;;) {
        // acquire: pairs with the release of WOKEN in dtact__wnode_wake (the reactor's completion)
        if (dtact__load_acquire(&n.state) == DTACT__WN_WOKEN) break;
        // relaxed: polled; the shutdown sweep unparks every started fiber after setting it
        int down = dtact__load_relaxed(&w->rt->shutdown) != 0;
        if (!gave_up) {
            if (down) gave_up = DTACT_ESHUTDOWN;
            else if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) gave_up = DTACT_ETIMEDOUT;
        }
        uint64_t now = gave_up && !asked ? dtact__now_ns() : 0;
        if (now && now >= ask_at) {
            /* The cancel is asynchronous: wait for the CQE all the same. A
             * cancel from another worker finds nothing while the owner has
             * not submitted the operation yet: ask again a little later
             * (else the receive would be armed after the cancel, for good). */
            asked = dtact__ioset_op_cancel(set, (uint64_t)(uintptr_t)&n, w == owner);
            ask_at = now + DTACT__CANCEL_RETRY_NS;
            continue;
        }
        /* A park returns at once while the runtime shuts down: yield instead,
         * so that the loop reaps the CQE (at its housekeeping rounds). */
        if (down) dtact__switch_out(w, n.fiber, DTACT__ACT_YIELD);
        else dtact__park_self(w, n.fiber, gave_up ? (asked ? 0 : ask_at) : deadline == DTACT__FOREVER ? 0 : deadline);
        w = dtact__tls_worker();
    }
    if (n.status == -ECANCELED && gave_up) return gave_up;
    *res = n.status;
    return DTACT_OK;
}

static ptrdiff_t transfer(int op, int fd, void *buf, size_t len, int flags, uint64_t deadline) {
    if (fd < 0 || (!buf && len) || len > (size_t)PTRDIFF_MAX) return dtact__set_error(DTACT_EINVAL);
    dtact__worker_t *w = dtact__tls_worker();
    if (w && w->current) {
        dtact__ioset_t *set = NULL;
        // relaxed: a setting
        if (dtact__load_relaxed(&w->rt->io_backend) == DTACT__IO_URING && dtact__reactor_set(w, &set) == 0 &&
            dtact__ioset_backend(set) == DTACT__IO_URING) {
            ptrdiff_t res = 0;
            int r = by_completion(w, set, op, fd, buf, len, flags, deadline, &res);
            if (r == DTACT_OK) return res >= 0 ? res : sys_error((int)res);
            if (r != DTACT_EBUSY) return dtact__set_error(r);
            /* the kernel takes no submission now: the readiness way */
        }
    }
    for (;;) {
        ptrdiff_t n = dtact__sock_xfer(op, fd, buf, len, flags);
        if (n >= 0) return n;
        if (n == -EINTR) continue;
        if (n != -EAGAIN && n != -EWOULDBLOCK) return sys_error((int)n);
        int r = dtact__wait_fd(fd, op == DTACT__OP_RECV ? DTACT__IO_IN : DTACT__IO_OUT, deadline);
        if (r < 0) return dtact__set_error(r);
    }
}

DTACT_API ptrdiff_t dtact_recv_until(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns) {
    return transfer(DTACT__OP_RECV, fd, buf, len, flags, deadline_ns);
}

DTACT_API ptrdiff_t dtact_send_until(int fd, const void *buf, size_t len, int flags, uint64_t deadline_ns) {
    return transfer(DTACT__OP_SEND, fd, (void *)(uintptr_t)buf, len, flags, deadline_ns);
}

DTACT_API int dtact_io_completion(void) {
    dtact__worker_t *w = dtact__tls_worker();
    // relaxed: a setting
    return w && w->current && dtact__load_relaxed(&w->rt->io_backend) == DTACT__IO_URING;
}
