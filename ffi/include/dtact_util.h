/* dtact_util.h -- libdtact_util: sockets, DNS and timers over the Dtact runtime
 * (the socket layer of the original dtact-util C API, with the same names and
 * signatures, plus timed variants, error codes and a few calls a server needs).
 *
 * Link with -ldtact_util -ldtact_core (pkg-config dtact_util; CMake dtact::util).
 *
 * Blocking and fibers
 *  - Every call that can wait (accept, connect, read, write, recv, send, recv_from,
 *    send_to, lookup_host, pipe connect) suspends only the calling *fiber* when
 *    called on a Dtact fiber: the worker runs other fibers meanwhile (sockets are
 *    non-blocking; an EAGAIN waits with dtact_wait_fd and retries). Called on a
 *    plain thread -- also in a program that never called dtact_init -- the same
 *    call blocks the thread (poll(2)).
 *  - Every such call has a timed variant, suffix `_timeout`, taking a trailing
 *    `int64_t timeout_ns`: < 0 waits forever (the plain call), 0 tries once
 *    without waiting, > 0 waits at most that long; on expiry: -1 / NULL with
 *    ETIMEDOUT. A timeout covers the whole call (name resolution and every
 *    address tried by a connect; every chunk of a write_all).
 *  - Names ("localhost:80") are resolved with getaddrinfo on the blocking-offload
 *    pool (dtact_blocking), so a fiber never blocks its worker; numeric addresses
 *    are parsed without it.
 *
 * Handles
 *  - Opaque, one close/free function each. NULL handles and NULL or out-of-range
 *    arguments fail with EINVAL (never a crash); close/free of NULL does nothing.
 *  - Closing a handle while other fibers or threads are inside calls on it is
 *    allowed: those calls wake and fail with ECANCELED (a thread within ~20 ms);
 *    the handle's memory and descriptor are released when the last of them
 *    leaves. Closing twice, or using a handle after its close returned, is the
 *    caller's bug (undefined, as for POSIX close()).
 *  - A handle may be used by several fibers/threads at once (e.g. one reading,
 *    one writing); concurrent reads (or writes) of one stream interleave as the
 *    kernel's do.
 *  - Descriptors are close-on-exec. A write to a peer that has gone never
 *    raises SIGPIPE: it fails with EPIPE (or ECONNRESET).
 *
 * Conventions (as the original's)
 *  - Byte counts are ptrdiff_t: >= 0 bytes done (0 from a stream read = end of
 *    stream), -1 = error. Status is int32_t: 0 ok, -1 error. Handle returns:
 *    NULL = error. A length above PTRDIFF_MAX is EINVAL. A read or write of 0
 *    bytes on a stream returns 0 at once.
 *  - Addresses are strings: "127.0.0.1:8080", "[::1]:80" (names such as
 *    "localhost:80" where an address is connected to or sent to). Unix socket
 *    addresses are paths; a path starting with '@' names the Linux abstract
 *    namespace ("@name" = "\0name"; no file is created). Output address buffers:
 *    DTACT_UTIL_ADDR_MAX bytes are always enough.
 *
 * Errors
 *  dtact_util_last_error() returns the calling thread's last failure as a
 *  positive errno code, and dtact_util_last_error_message() a message naming
 *  the call (NULL while the thread has had no failure). Successful calls do not
 *  clear them (the errno model). A fiber may move to another worker thread when
 *  it waits: read them right after the failing call, before the next call that
 *  can wait. Codes Dtact itself produces:
 *    EINVAL       NULL handle or argument, malformed address, bad `how`/option,
 *                 length above PTRDIFF_MAX, a handle of the wrong kind
 *    ETIMEDOUT    a timed variant's timeout passed (also timeout 0 and the call
 *                 would have had to wait)
 *    ECANCELED    the handle was closed (by another fiber or thread) while the
 *                 call was in progress
 *    ESHUTDOWN    the runtime shut down while the calling fiber waited
 *    ENOSPC       an output string buffer is too small (see each call)
 *    ENAMETOOLONG a Unix socket path or pipe name is too long
 *    ENXIO        a host name could not be resolved (no such host or no address)
 *    EAGAIN       temporary resolver failure (EAI_AGAIN)
 *    ENOENT       a named pipe does not exist (no server created it)
 *    ENOMEM       out of memory
 *    EPERM        called on a worker thread outside any fiber (a fiber cleanup
 *                 run by the worker loop), where no wait is possible
 *  and every code the kernel returns, passed through unchanged: ECONNREFUSED,
 *  ECONNRESET, EPIPE, EADDRINUSE, EADDRNOTAVAIL, EACCES, ENETUNREACH, EMFILE,
 *  ENOTCONN, EMSGSIZE, ...
 *
 * Not here yet (see docs/util.md): files, processes, signals and the
 * in-process stream pair of the original dtact-util.
 */
#ifndef DTACT_UTIL_H
#define DTACT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dtact.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DTACT_UTIL_API __attribute__((visibility("default")))
#else
#define DTACT_UTIL_API
#endif

/* Enough for every address string this library writes (IPv6 with scope and
 * port, a Unix path, the terminating NUL). */
#define DTACT_UTIL_ADDR_MAX 128

typedef struct DtactTcpListener DtactTcpListener;
typedef struct DtactTcpStream DtactTcpStream;
typedef struct DtactUdpSocket DtactUdpSocket;
typedef struct DtactUnixListener DtactUnixListener;
typedef struct DtactUnixStream DtactUnixStream;
typedef struct DtactUnixDatagram DtactUnixDatagram;
typedef struct DtactNamedPipeServer DtactNamedPipeServer;
typedef struct DtactNamedPipeHandle DtactNamedPipeHandle;
typedef struct DtactInterval DtactInterval;

/* ---------------------------------------------------------------- errors */
/* The calling thread's last failure: a message (thread-local storage, valid
 * until the thread's next failure), or NULL when there has been none. */
DTACT_UTIL_API const char *dtact_util_last_error_message(void);
/* The calling thread's last failure as a positive errno code; 0 when none. */
DTACT_UTIL_API int dtact_util_last_error(void);

/* ------------------------------------------------------------------ init */
/* dtact_util_io_init() sizes the blocking-offload pool that resolves names
 * (dtact_blocking_set_max_threads; it is process-wide and shared with every
 * dtact_blocking user) to `workers` threads, at most 4096; 0 leaves the pool
 * as it is (default 64). Optional: sockets need no init. Safe to call any
 * number of times, from any thread. */
DTACT_UTIL_API void dtact_util_io_init(size_t workers);

/* ----------------------------------------------------------------- timer */
/* Sleep ms milliseconds (a fiber sleeps alone; a thread sleeps). */
DTACT_UTIL_API void dtact_util_timer_sleep_ms(uint64_t ms);
/* A repeating tick every period_ms (> 0, else NULL with EINVAL); the first tick
 * is immediate (as tokio's). Missed ticks are skipped (dtact_interval_tick). */
DTACT_UTIL_API DtactInterval *dtact_util_timer_interval_create(uint64_t period_ms);
/* Waits for the next tick (returns at once on NULL, with EINVAL; a fiber's wait
 * ends early with ESHUTDOWN when the runtime shuts down). */
DTACT_UTIL_API void dtact_util_timer_interval_tick(DtactInterval *interval);
DTACT_UTIL_API void dtact_util_timer_interval_free(DtactInterval *interval);

/* ------------------------------------------------------------------- TCP */
/* Binds and listens on addr ("0.0.0.0:8080", "[::1]:0", "localhost:0": the
 * first resolved address that binds), SO_REUSEADDR, backlog 1024. */
DTACT_UTIL_API DtactTcpListener *dtact_util_io_listener_bind(const char *addr);
DTACT_UTIL_API DtactTcpStream *dtact_util_io_listener_accept(DtactTcpListener *listener);
DTACT_UTIL_API DtactTcpStream *dtact_util_io_listener_accept_timeout(DtactTcpListener *listener, int64_t timeout_ns);
/* Writes the bound address ("127.0.0.1:40321") into out; 0, or -1 with ENOSPC
 * when it does not fit in cap bytes (out then holds ""). */
DTACT_UTIL_API int32_t dtact_util_io_listener_local_addr(DtactTcpListener *listener, char *out, size_t cap);
DTACT_UTIL_API void dtact_util_io_listener_close(DtactTcpListener *listener);

/* Connects to addr, trying each resolved address in turn (the last error is
 * reported when all fail). */
DTACT_UTIL_API DtactTcpStream *dtact_util_io_stream_connect(const char *addr);
DTACT_UTIL_API DtactTcpStream *dtact_util_io_stream_connect_timeout(const char *addr, int64_t timeout_ns);
/* Reads up to len bytes: waits until at least one byte (or the end of the
 * stream: 0) is there. */
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_read(DtactTcpStream *stream, uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_read_timeout(DtactTcpStream *stream, uint8_t *buf, size_t len,
                                                           int64_t timeout_ns);
/* Writes up to len bytes: waits until at least one byte can be written and
 * returns how many were (may be fewer than len, like tokio's write). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write(DtactTcpStream *stream, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_timeout(DtactTcpStream *stream, const uint8_t *buf, size_t len,
                                                            int64_t timeout_ns);
/* Writes all len bytes: returns len, or -1 (a prefix may have been sent). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_all(DtactTcpStream *stream, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_all_timeout(DtactTcpStream *stream, const uint8_t *buf, size_t len,
                                                                int64_t timeout_ns);
/* Half-close: how 0 = no more reads, 1 = no more writes (the peer reads end of
 * stream, and may still write back), 2 = both. 0 or -1 (EINVAL, ENOTCONN). */
DTACT_UTIL_API int32_t dtact_util_io_stream_shutdown(DtactTcpStream *stream, int32_t how);
/* TCP_NODELAY on (on != 0) or off. 0 or -1. */
DTACT_UTIL_API int32_t dtact_util_io_stream_set_nodelay(DtactTcpStream *stream, int32_t on);
/* The peer's / the local address as "ip:port" ("[v6]:port"); 0, or -1 with
 * ENOSPC when it does not fit (out then holds ""), ENOTCONN. */
DTACT_UTIL_API int32_t dtact_util_io_stream_peer_addr(DtactTcpStream *stream, char *out, size_t cap);
DTACT_UTIL_API int32_t dtact_util_io_stream_local_addr(DtactTcpStream *stream, char *out, size_t cap);
DTACT_UTIL_API void dtact_util_io_stream_close(DtactTcpStream *stream);

/* ------------------------------------------------------------------- UDP */
DTACT_UTIL_API DtactUdpSocket *dtact_util_io_udp_bind(const char *addr);
/* Sets the default peer (send/recv then talk to it only). May resolve a name. */
DTACT_UTIL_API int32_t dtact_util_io_udp_connect(DtactUdpSocket *socket, const char *addr);
/* One datagram to the connected peer: returns len (EDESTADDRREQ without a peer;
 * EMSGSIZE when too large; a datagram of 0 bytes is sent). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send(DtactUdpSocket *socket, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_timeout(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                        int64_t timeout_ns);
/* One datagram: its length (the excess beyond len is discarded). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv(DtactUdpSocket *socket, uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_timeout(DtactUdpSocket *socket, uint8_t *buf, size_t len,
                                                        int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_to(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                   const char *target);
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_to_timeout(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                           const char *target, int64_t timeout_ns);
/* One datagram, and its sender's address in out_addr (out_addr may be NULL
 * with out_addr_cap 0). When the address does not fit: -1 with ENOSPC and
 * the datagram is consumed (DTACT_UTIL_ADDR_MAX bytes always fit). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_from(DtactUdpSocket *socket, uint8_t *buf, size_t len, char *out_addr,
                                                     size_t out_addr_cap);
DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_from_timeout(DtactUdpSocket *socket, uint8_t *buf, size_t len,
                                                             char *out_addr, size_t out_addr_cap, int64_t timeout_ns);
/* The bound address ("127.0.0.1:5353"); as dtact_util_io_listener_local_addr. */
DTACT_UTIL_API int32_t dtact_util_io_udp_local_addr(DtactUdpSocket *socket, char *out, size_t cap);
DTACT_UTIL_API void dtact_util_io_udp_close(DtactUdpSocket *socket);

/* ----------------------------------------------------------- Unix stream */
/* Binds and listens on a path ("@name": abstract). The path must not exist
 * (EADDRINUSE); close does not remove it. Too long: ENAMETOOLONG. */
DTACT_UTIL_API DtactUnixListener *dtact_util_io_unix_listener_bind(const char *path);
DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_listener_accept(DtactUnixListener *listener);
DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_listener_accept_timeout(DtactUnixListener *listener,
                                                                           int64_t timeout_ns);
DTACT_UTIL_API void dtact_util_io_unix_listener_close(DtactUnixListener *listener);
/* Connects to a path. A listener whose queue is full is retried (short sleeps)
 * until it accepts or the timeout passes. */
DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_stream_connect(const char *path);
DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_stream_connect_timeout(const char *path, int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_read(DtactUnixStream *stream, uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_read_timeout(DtactUnixStream *stream, uint8_t *buf, size_t len,
                                                                int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write(DtactUnixStream *stream, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_timeout(DtactUnixStream *stream, const uint8_t *buf,
                                                                 size_t len, int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_all(DtactUnixStream *stream, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_all_timeout(DtactUnixStream *stream, const uint8_t *buf,
                                                                     size_t len, int64_t timeout_ns);
DTACT_UTIL_API int32_t dtact_util_io_unix_stream_shutdown(DtactUnixStream *stream, int32_t how);
/* The peer's credentials when it connected (SO_PEERCRED); any out pointer may
 * be NULL. 0 or -1. */
DTACT_UTIL_API int32_t dtact_util_io_unix_stream_peer_cred(DtactUnixStream *stream, uint32_t *uid, uint32_t *gid,
                                                           int32_t *pid);
DTACT_UTIL_API void dtact_util_io_unix_stream_close(DtactUnixStream *stream);

/* --------------------------------------------------------- Unix datagram */
/* Binds to a path ("@name": abstract); NULL or "" binds to a fresh abstract
 * name chosen by the kernel (so that replies can reach it). */
DTACT_UTIL_API DtactUnixDatagram *dtact_util_io_unix_datagram_bind(const char *path);
DTACT_UTIL_API int32_t dtact_util_io_unix_datagram_connect(DtactUnixDatagram *socket, const char *path);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send(DtactUnixDatagram *socket, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_timeout(DtactUnixDatagram *socket, const uint8_t *buf,
                                                                  size_t len, int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv(DtactUnixDatagram *socket, uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_timeout(DtactUnixDatagram *socket, uint8_t *buf, size_t len,
                                                                  int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_to(DtactUnixDatagram *socket, const uint8_t *buf, size_t len,
                                                             const char *path);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_to_timeout(DtactUnixDatagram *socket, const uint8_t *buf,
                                                                     size_t len, const char *path, int64_t timeout_ns);
/* As udp_recv_from; the sender's address is its path ("@name" when abstract,
 * "" when the sender is unbound). */
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_from(DtactUnixDatagram *socket, uint8_t *buf, size_t len,
                                                               char *out_addr, size_t out_addr_cap);
DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_from_timeout(DtactUnixDatagram *socket, uint8_t *buf,
                                                                       size_t len, char *out_addr, size_t out_addr_cap,
                                                                       int64_t timeout_ns);
DTACT_UTIL_API void dtact_util_io_unix_datagram_close(DtactUnixDatagram *socket);

/* ----------------------------------------------------------- named pipes */
/* Windows named pipes in the original. Here a pipe is a Unix stream socket in
 * the Linux abstract namespace, "\0dtact-pipe/<name>" (no file; gone when the
 * server closes; visible to every process of the network namespace, so the
 * server should check its client (no peer_cred here yet) when that matters).
 * A Windows-style "\\.\pipe\<name>" is accepted and means <name>. The name
 * is 1..96 bytes (ENAMETOOLONG / EINVAL otherwise). */
DTACT_UTIL_API DtactNamedPipeServer *dtact_util_io_pipe_server_create(const char *name);
/* Waits for the next client and returns its connection (call again for more). */
DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_server_connect(DtactNamedPipeServer *server);
DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_server_connect_timeout(DtactNamedPipeServer *server,
                                                                               int64_t timeout_ns);
DTACT_UTIL_API void dtact_util_io_pipe_server_close(DtactNamedPipeServer *server);
/* ENOENT when no server has created the pipe. */
DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_client_connect(const char *name);
DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_client_connect_timeout(const char *name, int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_read(DtactNamedPipeHandle *pipe, uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_read_timeout(DtactNamedPipeHandle *pipe, uint8_t *buf, size_t len,
                                                         int64_t timeout_ns);
DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_write(DtactNamedPipeHandle *pipe, const uint8_t *buf, size_t len);
DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_write_timeout(DtactNamedPipeHandle *pipe, const uint8_t *buf, size_t len,
                                                          int64_t timeout_ns);
DTACT_UTIL_API void dtact_util_io_pipe_close(DtactNamedPipeHandle *pipe);

/* ------------------------------------------------------------------- DNS */
/* Resolves "host:port" ("localhost:80", "[::1]:443", "example.org:0") and
 * writes every address, as "ip:port", into out: one NUL-terminated string,
 * the addresses separated by ';'. Returns the number of addresses (>= 1).
 * When they do not all fit in out_cap bytes: -1 with ENOSPC, and out holds as
 * many whole addresses as fit (possibly ""). Errors: EINVAL (no ":port",
 * NULL), ENXIO (unknown host), EAGAIN (resolver temporarily failed),
 * ETIMEDOUT. */
DTACT_UTIL_API ptrdiff_t dtact_util_io_lookup_host(const char *host_port, char *out, size_t out_cap);
DTACT_UTIL_API ptrdiff_t dtact_util_io_lookup_host_timeout(const char *host_port, char *out, size_t out_cap,
                                                           int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* DTACT_UTIL_H */
