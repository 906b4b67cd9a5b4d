/* util/internal.h -- libdtact_util's private declarations.
 *
 * A socket handle (every public handle type but DtactInterval) is one
 * dtu_handle_t: the descriptor, its kind, the read hint of stream reads
 * (handle.c), and two words that make closing safe while other fibers or
 * threads are inside calls on it:
 *
 *   refs    1 for the owner + 1 per call in flight
 *   closed  set once by close
 *
 * A call enters (refs++, then checks closed: ECANCELED if set) and leaves
 * (refs--). Close sets closed, reads refs, and when calls are in flight shuts
 * the socket down (a thread blocked in poll sees HUP, even without a runtime)
 * and cancels the fd in the reactor (a waiting fiber wakes with ECLOSED);
 * then it drops the owner's reference. Whoever drops the last reference
 * closes the descriptor (dtact_fd_close: the reactor forgets it before the
 * number can be reused) and frees the handle. Both closed and refs are
 * sequentially consistent, so that of a close and a call entering at once at
 * least one sees the other (the store-then-load pairs of Dekker's protocol).
 */
#ifndef DTACT_UTIL_INTERNAL_H
#define DTACT_UTIL_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dtact.h"
#include "dtact_util.h"

#define DTU_FOREVER UINT64_MAX

enum dtu_kind {
    DTU_TCP_LISTENER = 1,
    DTU_TCP_STREAM,
    DTU_UDP,
    DTU_UNIX_LISTENER,
    DTU_UNIX_STREAM,
    DTU_UNIX_DGRAM,
    DTU_PIPE_SERVER,
    DTU_PIPE,
};

typedef struct dtu_handle {
    int fd;
    atomic_uint refs;
    uint8_t kind; /* enum dtu_kind */
    atomic_uchar closed;
    atomic_uchar rd; /* stream reads: DTU_RD_* (handle.c, dtu_read); relaxed: a hint */
} dtu_handle_t;

/* dtu_handle_t.rd */
#define DTU_RD_DRAINED 1u /* the last read was short: wait before the next one */
#define DTU_RD_ENDED 2u   /* a read wait reported HUP or ERR: never skip a read */

/* ---------------------------------------------------------------- errors.c */
/* Records code (a positive errno) and "what: detail: strerror" for the calling
 * thread; returns -1. detail may be NULL. */
int dtu_fail(int code, const char *what, const char *detail);
/* errno of a DTACT_E* code (negative). */
int dtu_errno_of(int dtact_code);

/* ---------------------------------------------------------------- handle.c */
/* A deadline on dtact_now_ns()'s clock from a relative timeout (< 0: forever). */
uint64_t dtu_deadline(int64_t timeout_ns);
/* A new handle owning fd (refs 1), or NULL (ENOMEM; fd is closed). */
dtu_handle_t *dtu_handle_new(int fd, uint32_t kind);
/* 0, or a positive errno: EINVAL (NULL or wrong kind), ECANCELED (closed). */
int dtu_enter(dtu_handle_t *h, uint32_t kind);
void dtu_leave(dtu_handle_t *h);
void dtu_close(dtu_handle_t *h, uint32_t kind);
/* Waits for fd to be ready for events (DTACT_IO_*) until deadline: 0 or a
 * positive errno (ETIMEDOUT, ECANCELED, ESHUTDOWN, ...). h may be NULL (a
 * socket not yet handed out). A read wait that reports HUP or ERR sets
 * DTU_RD_ENDED in h->rd (dtu_read). */
int dtu_wait(dtu_handle_t *h, int fd, uint32_t events, uint64_t deadline);
/* The stream calls: a positive count or 0, or -(errno). */
ptrdiff_t dtu_read(dtu_handle_t *h, uint8_t *buf, size_t len, uint64_t deadline);
ptrdiff_t dtu_write(dtu_handle_t *h, const uint8_t *buf, size_t len, uint64_t deadline);
ptrdiff_t dtu_write_all(dtu_handle_t *h, const uint8_t *buf, size_t len, uint64_t deadline);
/* Datagrams: to (NULL: the connected peer); from (NULL: not wanted). */
ptrdiff_t dtu_sendto(dtu_handle_t *h, const uint8_t *buf, size_t len, const struct sockaddr *to, socklen_t tolen,
                     uint64_t deadline);
ptrdiff_t dtu_recvfrom(dtu_handle_t *h, uint8_t *buf, size_t len, struct sockaddr_storage *from, socklen_t *fromlen,
                       uint64_t deadline);
/* accept4 with the wait: the new fd, or -(errno). */
int dtu_accept(dtu_handle_t *h, uint64_t deadline);
/* A non-blocking connect of a new socket to sa: the fd, or -(errno). */
int dtu_connect(int family, int type, const struct sockaddr *sa, socklen_t len, uint64_t deadline);
/* shutdown(2) on an entered handle: 0 or -(errno). */
int dtu_shutdown(dtu_handle_t *h, int32_t how);
/* A new non-blocking, close-on-exec socket: fd or -(errno). */
int dtu_socket(int family, int type);
/* Checks a caller's buffer: 0, or EINVAL (NULL buf with len > 0, len > PTRDIFF_MAX). */
int dtu_check_buf(const void *buf, size_t len);

/* ---------------------------------------------------------------- addr.c */
/* A resolved address list (getaddrinfo's, or one parsed numeric address). */
typedef struct dtu_addrs {
    size_t n;
    struct sockaddr_storage *sa;
    socklen_t *len;
} dtu_addrs_t;
/* Parses "ip:port" / "[ip6]:port" / "host:port". Numeric: no resolution.
 * Names: getaddrinfo on the blocking pool (unless allow_names is 0:
 * EINVAL). socktype SOCK_STREAM or SOCK_DGRAM; passive for bind. 0 or a
 * positive errno; the caller frees with dtu_addrs_free. */
int dtu_resolve(const char *host_port, int socktype, int passive, uint64_t deadline, dtu_addrs_t *out);
void dtu_addrs_free(dtu_addrs_t *a);
/* "ip:port" / "[ip6]:port" of an IP address: 0 or ENOSPC (out = "" if cap). */
int dtu_format_ip(const struct sockaddr *sa, char *out, size_t cap);
/* A Unix path ("@x" = abstract) into a sockaddr_un: 0 or EINVAL/ENAMETOOLONG. */
int dtu_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len);
/* The path of a sockaddr_un ("@x" abstract, "" unnamed): 0 or ENOSPC. */
int dtu_format_unix(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);

/* ---------------------------------------------------------------- unix.c (for pipe.c) */
dtu_handle_t *dtu_unix_listen(const struct sockaddr_storage *ss, socklen_t len, uint32_t kind, const char *what);
dtu_handle_t *dtu_unix_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t kind, uint64_t deadline,
                               const char *what, int *err);

/* ---------------------------------------------------------------- calls.c */
/* The public calls' common bodies: check the arguments, enter the handle,
 * do the call on the deadline, leave, record a failure under `what`. */
void *dtu_api_accept(void *h, uint32_t kind, uint32_t newkind, int64_t timeout_ns, const char *what);
ptrdiff_t dtu_api_read(void *h, uint32_t kind, uint8_t *buf, size_t len, int64_t timeout_ns, const char *what);
ptrdiff_t dtu_api_write(void *h, uint32_t kind, const uint8_t *buf, size_t len, int all, int64_t timeout_ns,
                        const char *what);
int32_t dtu_api_shutdown(void *h, uint32_t kind, int32_t how, const char *what);
/* to NULL: the connected peer; target (for messages) may be NULL. */
ptrdiff_t dtu_api_send(void *h, uint32_t kind, const uint8_t *buf, size_t len, const struct sockaddr *to,
                       socklen_t tolen, uint64_t deadline, const char *what);
/* out_addr may be NULL with cap 0; unix: format as a Unix path. */
ptrdiff_t dtu_api_recv(void *h, uint32_t kind, uint8_t *buf, size_t len, char *out_addr, size_t cap, int unix_addr,
                       int64_t timeout_ns, const char *what);
/* connect(2) of an existing handle's socket to sa (UDP, Unix datagram). */
int32_t dtu_api_connect_dgram(void *h, uint32_t kind, const struct sockaddr *sa, socklen_t len, const char *what,
                              const char *target);
/* getsockname/getpeername formatted as an IP address. */
int32_t dtu_api_ip_name(void *h, uint32_t kind, int peer, char *out, size_t cap, const char *what);

#endif
