/* util/handle.c -- socket handles and the wait-and-retry loops every call uses.
 *
 * Every descriptor is non-blocking. A call tries its system call; on EAGAIN it
 * waits for readiness with dtact_wait_fd_until (a fiber parks in its worker's
 * reactor, a thread polls) on the call's deadline, then tries again
 * (readiness is a hint: the retry may see EAGAIN again). Before each wait, and
 * after a failure, the handle's closed flag is checked, so a call racing with
 * a close ends with ECANCELED. Handle life (refs, closed): see internal.h.
 *
 * Handles come from a pool of 16-byte slots carved from 4 KiB blocks (a free
 * list under a mutex; a connection takes and returns one), not one malloc
 * each, whose smallest block is 32 bytes: W14 counts every byte an idle
 * connection costs. The blocks are kept for reuse. Under AddressSanitizer handles are
 * malloc'ed, so that a use after close is still caught.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define DTU_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DTU_POOL 0
#endif
#endif
#ifndef DTU_POOL
#define DTU_POOL 1
#endif

#if DTU_POOL
#define SLOT 16u
#define POOL_PAGE 4096u
_Static_assert(sizeof(dtu_handle_t) <= SLOT && _Alignof(dtu_handle_t) <= SLOT, "a handle fits a slot");

typedef union slot {
    union slot *next; /* free */
    unsigned char bytes[SLOT];
} slot_t;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t *pool_free; /* under pool_lock */

static dtu_handle_t *handle_alloc(void) {
    pthread_mutex_lock(&pool_lock);
    if (!pool_free) {
        slot_t *page = malloc(POOL_PAGE);
        if (page) {
            for (size_t i = 0; i < POOL_PAGE / SLOT; i++)
                page[i].next = i + 1 < POOL_PAGE / SLOT ? &page[i + 1] : NULL;
            pool_free = page;
        }
    }
    slot_t *s = pool_free;
    if (s) pool_free = s->next;
    pthread_mutex_unlock(&pool_lock);
    return (dtu_handle_t *)(void *)s;
}

static void handle_free(dtu_handle_t *h) {
    slot_t *s = (slot_t *)(void *)h;
    pthread_mutex_lock(&pool_lock);
    s->next = pool_free;
    pool_free = s;
    pthread_mutex_unlock(&pool_lock);
}
#else
static dtu_handle_t *handle_alloc(void) { return malloc(sizeof(dtu_handle_t)); }
static void handle_free(dtu_handle_t *h) { free(h); }
#endif

uint64_t dtu_deadline(int64_t timeout_ns) {
    if (timeout_ns < 0) return DTU_FOREVER;
    uint64_t now = dtact_now_ns();
    if ((uint64_t)timeout_ns >= DTU_FOREVER - now) return DTU_FOREVER;
    return now + (uint64_t)timeout_ns;
}

int dtu_check_buf(const void *buf, size_t len) {
    if (len > (size_t)PTRDIFF_MAX) return EINVAL;
    if (!buf && len) return EINVAL;
    return 0;
}

int dtu_socket(int family, int type) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* Forgets fd in the reactor (a fiber may have waited for it), then closes it.
 * (dtact_fd_close would leave an fd beyond the reactor's range open.) */
static void fd_close(int fd) {
    (void)dtact_fd_cancel(fd);
    (void)close(fd);
}

dtu_handle_t *dtu_handle_new(int fd, uint32_t kind) {
    dtu_handle_t *h = handle_alloc();
    if (!h) {
        fd_close(fd);
        return NULL;
    }
    h->fd = fd;
    h->kind = (uint8_t)kind;
    atomic_init(&h->refs, 1u);
    atomic_init(&h->closed, 0u);
    atomic_init(&h->rd, 0u);
    return h;
}

int dtu_enter(dtu_handle_t *h, uint32_t kind) {
    if (!h || h->kind != kind) return EINVAL;
    atomic_fetch_add(&h->refs, 1u); /* seq_cst: see internal.h (Dekker with dtu_close) */
    if (atomic_load(&h->closed)) {
        dtu_leave(h);
        return ECANCELED;
    }
    return 0;
}

void dtu_leave(dtu_handle_t *h) {
    if (atomic_fetch_sub(&h->refs, 1u) == 1u) { /* acq_rel at least: the last one out frees */
        fd_close(h->fd);
        handle_free(h);
    }
}

void dtu_close(dtu_handle_t *h, uint32_t kind) {
    if (!h) return;
    if (h->kind != kind) {
        (void)dtu_fail(EINVAL, "close", "not a handle of this kind");
        return;
    }
    if (atomic_exchange(&h->closed, 1u)) return; /* closed twice: the caller's bug; ignore what we can */
    if (atomic_load(&h->refs) > 1u) {
        /* Calls are in flight: end them. shutdown wakes threads in poll (HUP,
         * also without a runtime) and makes every later try fail; the cancel
         * wakes fibers (and threads of a runtime) waiting in the reactor. An
         * unconnected socket answers ENOTCONN but is shut down all the same. */
        (void)shutdown(h->fd, SHUT_RDWR);
        (void)dtact_fd_cancel(h->fd);
    }
    dtu_leave(h);
}

static int is_closed(dtu_handle_t *h) { return h && atomic_load(&h->closed); }

int dtu_wait(dtu_handle_t *h, int fd, uint32_t events, uint64_t deadline) {
    if (is_closed(h)) return ECANCELED;
    if (deadline != DTU_FOREVER && dtact_now_ns() >= deadline) return ETIMEDOUT;
    int r = dtact_wait_fd_until(fd, events, deadline);
    /* a read wait that saw an end (HUP, ERR) notes it for dtu_read */
    if (h && r > 0 && (events & DTACT_IO_READ) && (r & (DTACT_IO_HUP | DTACT_IO_ERROR)))
        atomic_fetch_or_explicit(&h->rd, DTU_RD_ENDED, memory_order_relaxed); // relaxed: a hint (see dtu_read)
    if (is_closed(h)) return ECANCELED;
    return r > 0 ? 0 : dtu_errno_of(r);
}

/* After a failed system call with errno e: retry (0), wait (> 0: done by the
 * caller), or fail (-errno). */
static int after_fail(dtu_handle_t *h, int e) {
    if (e == EINTR) return 0;
    if (is_closed(h)) return -ECANCELED;
    if (e == EAGAIN || e == EWOULDBLOCK) return 1;
    return -e;
}

/* A fiber whose worker completes transfers in the kernel (io_uring: core's
 * dtact_recv_until / dtact_send_until) makes no readiness loop: the worker
 * submits the transfers of all its fibers together (core/transfer.c). A
 * close meanwhile shuts the socket down, which completes the transfer (0
 * bytes, EPIPE): it then reads as ECANCELED, as on the readiness way. */
static ptrdiff_t by_completion(dtu_handle_t *h, uint32_t side, uint8_t *buf, size_t len, uint64_t deadline) {
    for (;;) {
        if (is_closed(h)) return -ECANCELED;
        ptrdiff_t n = side == DTACT_IO_READ ? dtact_recv_until(h->fd, buf, len, 0, deadline)
                                            : dtact_send_until(h->fd, buf, len, MSG_NOSIGNAL, deadline);
        int e = n == DTACT_ESYS ? errno : n < 0 ? dtu_errno_of((int)n) : 0;
        if (is_closed(h)) return -ECANCELED;
        if (e == EINTR) continue;
        return e ? -e : n;
    }
}

/* Stream reads skip the read that would fail (Tokio's rule). A read shorter
 * than the buffer took all the stream had (TCP and Unix stream receives copy
 * until the queue is empty), so the next read waits for readiness first
 * instead of trying a receive that fails with EAGAIN: one system call less
 * per message in a request-response exchange (an echo server makes 2 instead
 * of 3). This is sound with edge-triggered readiness because every later
 * arrival (data, end of stream, error) makes a new edge, which wakes the wait
 * or leaves the fd's token for it (reactor.c). What a short read leaves
 * behind without a new edge is an end of stream or an error that came with
 * the data read (the receive returns the data and reports the end only on
 * the next call): its edge was consumed by the wait before that read, which
 * saw HUP or ERR (the reactor keeps those bits in tokens too) -- so once a
 * read wait saw them (DTU_RD_ENDED), reads are never skipped again. A wait
 * that times out still tries the receive (a zero timeout polls). On a plain
 * thread the wait is poll(2), level-triggered: the skip is merely harmless. */
ptrdiff_t dtu_read(dtu_handle_t *h, uint8_t *buf, size_t len, uint64_t deadline) {
    if (dtact_io_completion()) return by_completion(h, DTACT_IO_READ, buf, len, deadline);
    uint32_t rd = atomic_load_explicit(&h->rd, memory_order_relaxed); // relaxed: a hint, see above
    if (rd == DTU_RD_DRAINED) {
        atomic_fetch_and_explicit(&h->rd, ~DTU_RD_DRAINED, memory_order_relaxed); // relaxed: a hint
        int w = dtu_wait(h, h->fd, DTACT_IO_READ, deadline);
        if (w && w != ETIMEDOUT) return -w;
    }
    for (;;) {
        ssize_t n = recv(h->fd, buf, len, 0);
        if (n > 0) {
            if ((size_t)n < len && !(rd & DTU_RD_ENDED))
                atomic_fetch_or_explicit(&h->rd, DTU_RD_DRAINED, memory_order_relaxed); // relaxed: a hint
            return n;
        }
        if (n == 0) return is_closed(h) ? -ECANCELED : 0;
        int a = after_fail(h, errno);
        if (a < 0) return a;
        if (a == 0) continue;
        int w = dtu_wait(h, h->fd, DTACT_IO_READ, deadline);
        if (w) return -w;
        rd = atomic_load_explicit(&h->rd, memory_order_relaxed); // relaxed: a hint
    }
}

ptrdiff_t dtu_write(dtu_handle_t *h, const uint8_t *buf, size_t len, uint64_t deadline) {
    if (dtact_io_completion()) return by_completion(h, DTACT_IO_WRITE, (uint8_t *)(uintptr_t)buf, len, deadline);
    for (;;) {
        ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        int a = after_fail(h, errno);
        if (a < 0) return a;
        if (a == 0) continue;
        int w = dtu_wait(h, h->fd, DTACT_IO_WRITE, deadline);
        if (w) return -w;
    }
}

ptrdiff_t dtu_write_all(dtu_handle_t *h, const uint8_t *buf, size_t len, uint64_t deadline) {
    size_t done = 0;
    while (done < len) {
        ptrdiff_t n = dtu_write(h, buf + done, len - done, deadline);
        if (n < 0) return n;
        done += (size_t)n;
    }
    return (ptrdiff_t)len;
}

/* Sleeps a growing pause (1 ms doubling to 16 ms), at most until deadline:
 * 0, or ETIMEDOUT, ECANCELED, ESHUTDOWN. For a wait no readiness signals. */
static int backoff(dtu_handle_t *h, uint64_t deadline, uint64_t *pause) {
    if (is_closed(h)) return ECANCELED;
    uint64_t now = dtact_now_ns();
    if (deadline != DTU_FOREVER && now >= deadline) return ETIMEDOUT;
    uint64_t d = *pause;
    if (deadline != DTU_FOREVER && deadline - now < d) d = deadline - now;
    int r = dtact_sleep_ns(d);
    if (r != DTACT_OK) return dtu_errno_of(r);
    if (*pause < 16000000) *pause *= 2;
    return is_closed(h) ? ECANCELED : 0;
}

ptrdiff_t dtu_sendto(dtu_handle_t *h, const uint8_t *buf, size_t len, const struct sockaddr *to, socklen_t tolen,
                     uint64_t deadline) {
    uint64_t pause = 1000000;
    for (;;) {
        ssize_t n = sendto(h->fd, buf, len, MSG_NOSIGNAL, to, tolen);
        if (n >= 0) return n;
        int a = after_fail(h, errno);
        if (a < 0) return a;
        if (a == 0) continue;
        if (to && h->kind == DTU_UNIX_DGRAM) {
            /* an unconnected Unix datagram socket whose receiver is full: our
             * socket stays writable, the receiver's would signal room */
            int w = backoff(h, deadline, &pause);
            if (w) return -w;
            continue;
        }
        int w = dtu_wait(h, h->fd, DTACT_IO_WRITE, deadline);
        if (w) return -w;
    }
}

ptrdiff_t dtu_recvfrom(dtu_handle_t *h, uint8_t *buf, size_t len, struct sockaddr_storage *from, socklen_t *fromlen,
                       uint64_t deadline) {
    for (;;) {
        if (from) *fromlen = sizeof *from;
        ssize_t n = recvfrom(h->fd, buf, len, 0, (struct sockaddr *)from, from ? fromlen : NULL);
        if (n >= 0) {
            /* after a concurrent close's shutdown, a receive returns 0 */
            if (n == 0 && is_closed(h)) return -ECANCELED;
            return n;
        }
        int a = after_fail(h, errno);
        if (a < 0) return a;
        if (a == 0) continue;
        int w = dtu_wait(h, h->fd, DTACT_IO_READ, deadline);
        if (w) return -w;
    }
}

int dtu_accept(dtu_handle_t *h, uint64_t deadline) {
    for (;;) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) return fd;
        int e = errno;
        if (e == ECONNABORTED) continue; /* a client gave up before we took it */
        int a = after_fail(h, e);
        if (a < 0) return a;
        if (a == 0) continue;
        int w = dtu_wait(h, h->fd, DTACT_IO_READ, deadline);
        if (w) return -w;
    }
}

int dtu_connect(int family, int type, const struct sockaddr *sa, socklen_t len, uint64_t deadline) {
    int fd = dtu_socket(family, type);
    if (fd < 0) return fd;
    uint64_t pause = 1000000;
    for (;;) {
        if (connect(fd, sa, len) == 0) return fd;
        int e = errno;
        if (e == EINPROGRESS || e == EINTR) {
            /* TCP: the handshake goes on; writable = done, SO_ERROR says how */
            int w = dtu_wait(NULL, fd, DTACT_IO_WRITE, deadline);
            if (w) {
                fd_close(fd);
                return -w;
            }
            int err = 0;
            socklen_t el = sizeof err;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
            if (err == 0) return fd;
            fd_close(fd);
            return -err;
        }
        if (e == EAGAIN && family == AF_UNIX) {
            /* the listener's queue is full; its socket, not ours, would signal room */
            int w = backoff(NULL, deadline, &pause);
            if (w) {
                fd_close(fd);
                return -w;
            }
            continue;
        }
        fd_close(fd);
        return -e;
    }
}

int dtu_shutdown(dtu_handle_t *h, int32_t how) {
    int m;
    switch (how) {
    case 0: m = SHUT_RD; break;
    case 1: m = SHUT_WR; break;
    case 2: m = SHUT_RDWR; break;
    default: return -EINVAL;
    }
    return shutdown(h->fd, m) == 0 ? 0 : -errno;
}
