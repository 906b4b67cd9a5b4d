/* core/reactor.c -- I/O readiness: dtact_wait_fd and dtact_fd_cancel.
 *
 * One readiness set per worker (edge-triggered: epoll, or io_uring multishot
 * polls -- the OS layer, core/prim_uring.c, holds both behind one interface;
 * the runtime chooses the backend at creation, rt->io_backend), created by
 * the worker's thread on the first fd a fiber waits for there. An fd is watched
 * once, by the set of the worker where a fiber first waited for it, and stays
 * watched (no system call per wait) until dtact_fd_cancel, Go's netpoll
 * design. Events go to a per-fd descriptor:
 *
 *   descriptor = { readers' queue, writers' queue, a ready token per side,
 *                  epoch (bumped by dtact_fd_cancel), watched_by }
 *
 * An edge with a waiter wakes every waiter of that side (they retry their
 * read or write; a waiter that loses waits again); an edge without a waiter
 * sets the side's token, which the next wait consumes at once. Token and
 * queue of a side are under the queue's lock, so the edge and a new waiter
 * cannot miss each other. The token keeps the bits of the edges it stands
 * for (HUP, ERR), so that the wait that consumes it reports them as a woken
 * waiter would: a caller that skips a read after a short one (util/handle.c)
 * must learn of an end of stream that came with the data it read. Events carry (epoch, fd): events of an fd number
 * that was cancelled and reused are ignored.
 *
 * The worker that owns a set reads it: when it goes idle it sleeps in the set
 * (mesh.c: readiness, a waker's eventfd write and its next timer end the same
 * sleep), and while busy it polls the set without waiting every housekeeping
 * round (loop.c, every 61st dispatch). A fiber is woken through the wait
 * queue (waitq.c) and runs on a worker of its affinity like any unparked
 * fiber, queued behind the fibers already runnable there (first come, first
 * served among connections). Timeouts are the fiber's timer; shutdown wakes
 * it with ESHUTDOWN.
 *
 * Plain threads wait in poll(2); with a runtime they poll in slices of
 * 20 ms so that dtact_fd_cancel ends their wait too (within a slice).
 *
 * The descriptors live in a two-level table indexed by fd (pages of 256,
 * allocated on first use, freed with the runtime).
 */
#include "internal.h"
#include "waitq.h"

#include <errno.h>

#define PAGE_BITS 8u
#define PAGE_SIZE_FDS (1u << PAGE_BITS)
#define MAX_FD (1u << 20)
#define NPAGES (MAX_FD >> PAGE_BITS)
#define WAKE_DATA UINT64_MAX
#define THREAD_SLICE_NS 20000000

/* 56 bytes: watched_by is 16 bits (at most DTACT__MAX_WORKERS = 1024 workers)
 * so that the two tokens fit in the same 8 bytes as the epoch; the three are
 * distinct objects, so writes to them under different locks do not race. */
typedef struct dtact__pollfd_s {
    dtact__waitq_t rq, wq;       /* readers, writers; each lock guards its side's token */
    _Atomic uint32_t epoch;      /* bumped by dtact_fd_cancel                       */
    _Atomic uint16_t watched_by; /* worker id + 1 whose set watches the fd, 0: none */
    uint8_t ready_r, ready_w;    /* edge tokens (their bits), under rq.lock / wq.lock */
} dtact__pollfd_t;
_Static_assert(DTACT__MAX_WORKERS < UINT16_MAX, "watched_by holds a worker id + 1");
_Static_assert(sizeof(void *) != 8 || sizeof(dtact__pollfd_t) == 56, "a descriptor is 56 bytes");
_Static_assert((DTACT__IO_IN | DTACT__IO_OUT | DTACT__IO_ERR | DTACT__IO_HUP) <= UINT8_MAX, "a token holds the bits");

struct dtact__io_s {
    dtact__waitq_t grow; /* its lock serialises page allocation */
    _Atomic(dtact__pollfd_t *) pages[NPAGES];
};

/* ------------------------------------------------------------ the fd table */

static struct dtact__io_s *io_table(dtact__rt_t *rt, int create) {
    struct dtact__io_s *io = dtact__load_acquire(&rt->io); // acquire: pairs with the publishing CAS
    if (io || !create) return io;
    struct dtact__io_s *fresh = dtact__heap_calloc(1, sizeof *fresh);
    if (!fresh) return NULL;
    // acq_rel: publishes the zeroed table; on failure acquires the winner's
    if (!dtact__cas_strong_acq_rel(&rt->io, &io, fresh)) {
        dtact__heap_free(fresh);
        return io;
    }
    return fresh;
}

static dtact__pollfd_t *pollfd_get(dtact__rt_t *rt, int fd, int create) {
    if (fd < 0 || (uint32_t)fd >= MAX_FD) return NULL;
    struct dtact__io_s *io = io_table(rt, create);
    if (!io) return NULL;
    _Atomic(dtact__pollfd_t *) *slot = &io->pages[(uint32_t)fd >> PAGE_BITS];
    dtact__pollfd_t *page = dtact__load_acquire(slot); // acquire: pairs with the page's release store
    if (!page && create) {
        dtact__waitq_lock(&io->grow);
        page = dtact__load_relaxed(slot); // relaxed: under the grow lock
        if (!page) {
            page = dtact__heap_calloc(PAGE_SIZE_FDS, sizeof *page);
            if (page) dtact__store_release(slot, page); // release: publishes the zeroed page
        }
        dtact__waitq_unlock(&io->grow);
    }
    return page ? &page[(uint32_t)fd & (PAGE_SIZE_FDS - 1)] : NULL;
}

void dtact__reactor_free(dtact__rt_t *rt) {
    struct dtact__io_s *io = dtact__load_relaxed(&rt->io); // relaxed: quiescent (destroy)
    if (io) {
        for (uint32_t i = 0; i < NPAGES; i++)
            dtact__heap_free(dtact__load_relaxed(&io->pages[i])); // relaxed: quiescent
        dtact__heap_free(io);
        dtact__store_relaxed(&rt->io, NULL); // relaxed: quiescent
    }
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dtact__worker_t *w = &rt->workers[i];
        dtact__ioset_close(dtact__load_relaxed(&w->ioset)); // relaxed: quiescent
        int wfd = dtact__load_relaxed(&w->wakefd);          // relaxed: quiescent
        if (wfd >= 0) (void)dtact__fd_close(wfd);
        dtact__store_relaxed(&w->ioset, (dtact__ioset_t *)NULL); // relaxed: quiescent
        dtact__store_relaxed(&w->wakefd, -1);                    // relaxed: quiescent
    }
}

/* ------------------------------------------------------------ events */

/* An edge on one side: wake every waiter, or leave a token (the bits of
 * every edge since the last wait: DTACT__IO_* fit in 8 bits). */
static void edge(dtact__waitq_t *q, uint8_t *token, int bits) {
    dtact__waitq_lock(q);
    if (dtact__waitq_empty(q)) *token = (uint8_t)(*token | bits);
    dtact__wnode_t *all = dtact__waitq_take_all(q);
    dtact__waitq_unlock(q);
    dtact__wnode_wake_chain(all, bits);
}

static void dispatch_one(dtact__rt_t *rt, const dtact__io_event_t *ev) {
    /* A waker's eventfd write: it ended the sleep; nothing to do. The counter
     * is never read back: every write wakes the set's watch of it (edge-
     * triggered, and eventfd_write wakes its waiters whatever the count), and
     * a read would cost a system call per wake-up plus the POLLOUT edge it
     * makes (2^64 writes would fill it). */
    if (ev->data == WAKE_DATA) return;
    if (ev->events & DTACT__IO_OP) { /* a transfer of transfer.c completed: its node takes the result */
        dtact__wnode_wake((dtact__wnode_t *)(uintptr_t)ev->data, ev->res);
        return;
    }
    int fd = (int)(uint32_t)ev->data;
    dtact__pollfd_t *pd = pollfd_get(rt, fd, 0);
    // relaxed: a stale epoch only makes us ignore (or deliver) one spurious edge
    if (!pd || dtact__load_relaxed(&pd->epoch) != (uint32_t)(ev->data >> 32)) return;
    int bits = (int)(ev->events & (DTACT__IO_ERR | DTACT__IO_HUP));
    if (ev->events & DTACT__IO_IN) edge(&pd->rq, &pd->ready_r, bits | (int)DTACT__IO_IN);
    if (ev->events & DTACT__IO_OUT) edge(&pd->wq, &pd->ready_w, bits | (int)DTACT__IO_OUT);
}

static void poll_rounds(dtact__worker_t *w, dtact__ioset_t *set) {
    for (int round = 0; round < 4; round++) {
        while (w->io_pos < w->io_nev)
            dispatch_one(w->rt, &w->io_ev[w->io_pos++]);
        int n = dtact__ioset_wait(set, w->io_ev, 64, 0);
        w->io_pos = 0;
        w->io_nev = n > 0 ? (uint32_t)n : 0;
        if (n < 64) {
            while (w->io_pos < w->io_nev)
                dispatch_one(w->rt, &w->io_ev[w->io_pos++]);
            return;
        }
    }
}

/* The fibers woken here queue at the back, behind the runnable ones
 * (io_fifo, read by dtact__schedule): a wake-up normally goes to the front,
 * but readiness wakes many connection fibers per poll, and at the front each
 * poll's batch would run before every fiber woken by the polls before it
 * (1,000 connections on a worker: p99 100 ms for a 10 ms mean). */
void dtact__reactor_poll(dtact__worker_t *w) {
    dtact__ioset_t *set = dtact__load_relaxed(&w->ioset); // relaxed: our own field
    if (!set) return;
    w->io_fifo = 1;
    poll_rounds(w, set);
    w->io_fifo = 0;
}

/* ------------------------------------------------------------ watching */

static int errno_code(int neg) {
    switch (-neg) {
    case EBADF:
    case EINVAL: return DTACT_EINVAL; /* not open, or not watchable (the set itself) */
    case ENOMEM:
    case ENOSPC: return DTACT_ENOMEM;
    default: return DTACT_ESYS;
    }
}

/* A set of the runtime's backend. A worker whose io_uring set cannot be made
 * where an epoll set can (the locked-memory limit, a seccomp filter added
 * since the probe) turns the runtime to epoll and warns: a worker never fails
 * to watch for want of a backend. */
static int set_create(dtact__rt_t *rt, dtact__ioset_t **out) {
    uint32_t backend = dtact__load_relaxed(&rt->io_backend); // relaxed: a setting
    int r = dtact__ioset_create(backend, out);
    if (r < 0 && backend != DTACT__IO_EPOLL && dtact__ioset_create(DTACT__IO_EPOLL, out) == 0) {
        dtact__store_relaxed(&rt->io_backend, DTACT__IO_EPOLL); // relaxed: a setting
        dtact__warn(DTACT_WARN_IO_BACKEND,
                    "a worker could not set up its io_uring instance; epoll is used from now on");
        r = 0;
    }
    return r;
}

/* The calling worker's set, created on first use: 0 and *out, or -errno. */
int dtact__reactor_set(dtact__worker_t *w, dtact__ioset_t **out) {
    dtact__ioset_t *set = dtact__load_relaxed(&w->ioset); // relaxed: only this thread creates it
    *out = set;
    if (set) return 0;
    int r = set_create(w->rt, &set);
    if (r < 0) return r;
    int wfd = dtact__wakefd_create();
    if (wfd < 0) {
        dtact__ioset_close(set);
        return wfd;
    }
    r = dtact__ioset_add(set, wfd, WAKE_DATA);
    if (r < 0) {
        (void)dtact__fd_close(wfd);
        dtact__ioset_close(set);
        return r;
    }
    dtact__store_relaxed(&w->wakefd, wfd); // relaxed: read by wakers only after they see sleep == 2
    /* relaxed: the owner reads it; other threads read it to unwatch an fd,
     * which they can only name after a registration made under a queue lock */
    dtact__store_relaxed(&w->ioset, set);
    *out = set;
    return 0;
}

/* Makes sure fd is watched. 0; 1 when it cannot be watched (a regular file
 * or a directory: always ready); or a negative DTACT code. */
static int watch(dtact__worker_t *w, dtact__pollfd_t *pd, int fd) {
    if (dtact__load_acquire(&pd->watched_by)) return 0; // acquire: pairs with the release below
    int rc = 0;
    dtact__waitq_lock(&pd->rq);
    if (!dtact__load_relaxed(&pd->watched_by)) { // relaxed: under the lock
        dtact__ioset_t *set;
        uint32_t epoch = dtact__load_relaxed(&pd->epoch); // relaxed: under the lock (cancel takes it)
        int r = dtact__reactor_set(w, &set);
        if (r == 0) r = dtact__ioset_add(set, fd, (uint64_t)epoch << 32 | (uint32_t)fd);
        if (r == -EPERM) rc = 1;
        else if (r < 0) rc = errno_code(r);
        else dtact__store_release(&pd->watched_by, (uint16_t)(w->id + 1u)); // release: the set exists
    }
    dtact__waitq_unlock(&pd->rq);
    return rc;
}

/* ------------------------------------------------------------ waiting */

/* Queues n on one side unless its token is there (consumed: returns its bits, the side's among them). */
static int arm(dtact__waitq_t *q, uint8_t *token, dtact__wnode_t *n, int bit, dtact__pollfd_t *pd, uint32_t epoch) {
    int got = 0;
    dtact__waitq_lock(q);
    if (dtact__load_relaxed(&pd->epoch) != epoch) got = DTACT_ECLOSED; // relaxed: cancel bumps it under this lock
    else if (*token) {
        got = *token | bit;
        *token = 0;
    } else {
        dtact__waitq_push(q, n);
    }
    dtact__waitq_unlock(q);
    return got;
}

/* epoch: read before the fd was watched, so that a cancel between the watch
 * and the queueing (which unwatches the fd) ends this wait with ECLOSED
 * instead of leaving it queued on an fd that no set watches. */
static int wait_fiber(dtact__worker_t *w, dtact__pollfd_t *pd, uint32_t epoch, uint32_t events, uint64_t deadline) {
    dtact__wnode_t nr, nw;
    int want_r = (events & DTACT__IO_IN) != 0, want_w = (events & DTACT__IO_OUT) != 0;
    int rc = dtact__wnode_init(&nr);
    if (rc != DTACT_OK) return rc;
    nw = nr;
    int got_r = want_r ? arm(&pd->rq, &pd->ready_r, &nr, (int)DTACT__IO_IN, pd, epoch) : 0;
    int got_w = 0;
    if (got_r == 0 && want_w) got_w = arm(&pd->wq, &pd->ready_w, &nw, (int)DTACT__IO_OUT, pd, epoch);
    if (got_r || got_w) {
        if (want_r && !got_r) (void)dtact__wnode_cancel(&pd->rq, &nr);
        int r = got_r ? got_r : got_w;
        if (r < 0) return r;
        if (want_r && !got_r && nr.status > 0 && dtact__load_relaxed(&nr.state) == DTACT__WN_WOKEN) r |= nr.status;
        return r;
    }
    /* Queued on one or both sides: park until a side is woken. */
    for (;;) {
        // acquire: pairs with the release of WOKEN in dtact__wnode_wake
        int wr = want_r && dtact__load_acquire(&nr.state) == DTACT__WN_WOKEN;
        int ww = want_w && dtact__load_acquire(&nw.state) == DTACT__WN_WOKEN; // acquire: as above
        int give_up = 0;
        if (!wr && !ww) {
            // relaxed: polled; the shutdown sweep unparks every started fiber after setting it
            if (dtact__load_relaxed(&w->rt->shutdown)) give_up = DTACT_ESHUTDOWN;
            else if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) give_up = DTACT_ETIMEDOUT;
            else {
                dtact__park_self(w, nr.fiber, deadline == DTACT__FOREVER ? 0 : deadline);
                w = dtact__tls_worker();
                continue;
            }
        }
        /* Take back what is still queued; a side woken meanwhile counts. */
        int r = 0, closed = 0;
        if (want_r) {
            if (wr || !dtact__wnode_cancel(&pd->rq, &nr)) {
                if (nr.status < 0) closed = 1;
                else r |= nr.status;
            }
        }
        if (want_w) {
            if (ww || !dtact__wnode_cancel(&pd->wq, &nw)) {
                if (nw.status < 0) closed = 1;
                else r |= nw.status;
            }
        }
        if (r) return r;
        if (closed) return DTACT_ECLOSED;
        return give_up ? give_up : DTACT_ETIMEDOUT;
    }
}

static int wait_thread(dtact__pollfd_t *pd, int fd, uint32_t events, uint64_t deadline) {
    uint32_t epoch = pd ? dtact__load_acquire(&pd->epoch) : 0; // acquire: pairs with cancel's release
    for (;;) {
        int64_t slice = -1;
        if (deadline != DTACT__FOREVER) {
            uint64_t now = dtact__now_ns();
            if (now >= deadline) slice = 0;
            else slice = deadline - now > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(deadline - now);
        }
        if (pd && (slice < 0 || slice > THREAD_SLICE_NS)) slice = THREAD_SLICE_NS;
        int r = dtact__poll_one(fd, events, slice);
        if (r > 0) return r;
        if (r < 0) return errno_code(r);
        if (pd && dtact__load_acquire(&pd->epoch) != epoch) return DTACT_ECLOSED; // acquire: as above
        if (deadline != DTACT__FOREVER && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    }
}

int dtact__wait_fd(int fd, uint32_t events, uint64_t deadline) {
    events &= DTACT__IO_IN | DTACT__IO_OUT;
    if (fd < 0 || (uint32_t)fd >= MAX_FD || !events) return DTACT_EINVAL;
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    dtact__worker_t *w = dtact__tls_worker();
    int rc;
    if (rt && w && w->rt == rt && w->current) {
        dtact__pollfd_t *pd = pollfd_get(rt, fd, 1);
        uint32_t epoch = pd ? dtact__load_acquire(&pd->epoch) : 0; // acquire: pairs with cancel's release
        if (!pd) rc = DTACT_ENOMEM;
        else if ((rc = watch(w, pd, fd)) == 1) rc = (int)events; /* not watchable: always ready */
        else if (rc == DTACT_OK) rc = wait_fiber(w, pd, epoch, events, deadline);
    } else if (w && !w->current) {
        rc = dtact__load_relaxed(&w->rt->shutdown) ? DTACT_ESHUTDOWN : DTACT_EPERM; // relaxed: the code only
    } else {
        /* A plain thread: poll(2), in slices when a runtime can cancel the fd. */
        rc = wait_thread(rt ? pollfd_get(rt, fd, 1) : NULL, fd, events, deadline);
    }
    dtact__rt_leave(pinned);
    return rc;
}

DTACT_API int dtact_wait_fd(int fd, uint32_t events, int64_t timeout_ns) {
    int rc = dtact__wait_fd(fd, events, dtact__deadline_in(timeout_ns));
    return rc >= 0 ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_wait_fd_until(int fd, uint32_t events, uint64_t deadline_ns) {
    int rc = dtact__wait_fd(fd, events, deadline_ns);
    return rc >= 0 ? rc : dtact__set_error(rc);
}

/* Wakes every waiter of one side with ECLOSED and drops its token. */
static void close_side(dtact__waitq_t *q, uint8_t *token) {
    dtact__waitq_lock(q);
    *token = 0;
    dtact__wnode_t *all = dtact__waitq_take_all(q);
    dtact__waitq_unlock(q);
    dtact__wnode_wake_chain(all, DTACT_ECLOSED);
}

DTACT_API int dtact_fd_close(int fd) {
    int rc = dtact_fd_cancel(fd);
    if (rc != DTACT_OK) return rc;
    return dtact__fd_close(fd) == 0 ? DTACT_OK : dtact__set_error(DTACT_ESYS);
}

DTACT_API int dtact_fd_cancel(int fd) {
    if (fd < 0 || (uint32_t)fd >= MAX_FD) return dtact__set_error(DTACT_EINVAL);
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return DTACT_OK; /* no runtime: nobody can wait in it */
    dtact__pollfd_t *pd = pollfd_get(rt, fd, 0);
    if (pd) {
        /* Unwatch and bump the epoch under the readers' lock (watch() and
         * arm() read both under it), then wake both sides. */
        dtact__waitq_lock(&pd->rq);
        uint32_t by = dtact__load_relaxed(&pd->watched_by); // relaxed: under the lock
        if (by) {
            // relaxed: published before watched_by
            dtact__ioset_t *set = dtact__load_relaxed(&rt->workers[by - 1].ioset);
            (void)dtact__ioset_del(
                set, fd); /* fails harmlessly if fd is already closed; io_uring: the poll is gone on return */
            dtact__store_relaxed(&pd->watched_by, (uint16_t)0); // relaxed: under the lock
        }
        dtact__waitq_unlock(&pd->rq);
        dtact__waitq_lock(&pd->wq);
        dtact__waitq_lock(&pd->rq);
        // release: pairs with the waiters' acquire loads (thread slices, fiber waits)
        dtact__fetch_add_release(&pd->epoch, 1u);
        dtact__waitq_unlock(&pd->rq);
        dtact__waitq_unlock(&pd->wq);
        close_side(&pd->rq, &pd->ready_r);
        close_side(&pd->wq, &pd->ready_w);
    }
    dtact__rt_leave(pinned);
    return DTACT_OK;
}

DTACT_API const char *dtact_io_backend(void) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return "none";
    uint32_t b = dtact__load_relaxed(&rt->io_backend); // relaxed: a setting
    dtact__rt_leave(pinned);
    return b == DTACT__IO_URING ? "io_uring" : "epoll";
}
