/* util/unix.c -- Unix stream sockets (listener, stream, peer credentials) and
 * Unix datagram sockets. Paths as in dtact_util.h ("@name": abstract).
 */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"

#define BACKLOG 1024
#define U(x) ((dtu_handle_t *)(x))

dtu_handle_t *dtu_unix_listen(const struct sockaddr_storage *ss, socklen_t len, uint32_t kind, const char *what) {
    int fd = dtu_socket(AF_UNIX, SOCK_STREAM);
    if (fd < 0) {
        dtu_fail(-fd, what, NULL);
        return NULL;
    }
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, BACKLOG) != 0) {
        int e = errno;
        (void)dtact_fd_close(fd);
        dtu_fail(e, what, NULL);
        return NULL;
    }
    dtu_handle_t *h = dtu_handle_new(fd, kind);
    if (!h) dtu_fail(ENOMEM, what, NULL);
    return h;
}

dtu_handle_t *dtu_unix_connect(const struct sockaddr_storage *ss, socklen_t len, uint32_t kind, uint64_t deadline,
                               const char *what, int *err) {
    int fd = dtu_connect(AF_UNIX, SOCK_STREAM, (const struct sockaddr *)ss, len, deadline);
    if (fd < 0) {
        *err = -fd;
        return NULL;
    }
    dtu_handle_t *h = dtu_handle_new(fd, kind);
    if (!h) *err = ENOMEM;
    (void)what;
    return h;
}

/* ------------------------------------------------------------------ stream */

DTACT_UTIL_API DtactUnixListener *dtact_util_io_unix_listener_bind(const char *path) {
    struct sockaddr_storage ss;
    socklen_t len;
    int e = dtu_unix_addr(path, &ss, &len);
    if (e) {
        dtu_fail(e, __func__, path);
        return NULL;
    }
    dtu_handle_t *h = dtu_unix_listen(&ss, len, DTU_UNIX_LISTENER, __func__);
    if (!h) dtu_fail(dtact_util_last_error(), __func__, path); /* again, naming the path */
    return (DtactUnixListener *)h;
}

DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_listener_accept(DtactUnixListener *listener) {
    return dtu_api_accept(listener, DTU_UNIX_LISTENER, DTU_UNIX_STREAM, -1, __func__);
}

DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_listener_accept_timeout(DtactUnixListener *listener,
                                                                           int64_t timeout_ns) {
    return dtu_api_accept(listener, DTU_UNIX_LISTENER, DTU_UNIX_STREAM, timeout_ns, __func__);
}

DTACT_UTIL_API void dtact_util_io_unix_listener_close(DtactUnixListener *listener) {
    dtu_close(U(listener), DTU_UNIX_LISTENER);
}

static DtactUnixStream *connect_path(const char *path, int64_t timeout_ns, const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    struct sockaddr_storage ss;
    socklen_t len;
    int e = dtu_unix_addr(path, &ss, &len);
    if (e) {
        dtu_fail(e, what, path);
        return NULL;
    }
    dtu_handle_t *h = dtu_unix_connect(&ss, len, DTU_UNIX_STREAM, deadline, what, &e);
    if (!h) dtu_fail(e, what, path);
    return (DtactUnixStream *)h;
}

DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_stream_connect(const char *path) {
    return connect_path(path, -1, __func__);
}

DTACT_UTIL_API DtactUnixStream *dtact_util_io_unix_stream_connect_timeout(const char *path, int64_t timeout_ns) {
    return connect_path(path, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_read(DtactUnixStream *stream, uint8_t *buf, size_t len) {
    return dtu_api_read(stream, DTU_UNIX_STREAM, buf, len, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_read_timeout(DtactUnixStream *stream, uint8_t *buf, size_t len,
                                                                int64_t timeout_ns) {
    return dtu_api_read(stream, DTU_UNIX_STREAM, buf, len, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write(DtactUnixStream *stream, const uint8_t *buf, size_t len) {
    return dtu_api_write(stream, DTU_UNIX_STREAM, buf, len, 0, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_timeout(DtactUnixStream *stream, const uint8_t *buf,
                                                                 size_t len, int64_t timeout_ns) {
    return dtu_api_write(stream, DTU_UNIX_STREAM, buf, len, 0, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_all(DtactUnixStream *stream, const uint8_t *buf, size_t len) {
    return dtu_api_write(stream, DTU_UNIX_STREAM, buf, len, 1, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_stream_write_all_timeout(DtactUnixStream *stream, const uint8_t *buf,
                                                                     size_t len, int64_t timeout_ns) {
    return dtu_api_write(stream, DTU_UNIX_STREAM, buf, len, 1, timeout_ns, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_unix_stream_shutdown(DtactUnixStream *stream, int32_t how) {
    return dtu_api_shutdown(stream, DTU_UNIX_STREAM, how, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_unix_stream_peer_cred(DtactUnixStream *stream, uint32_t *uid, uint32_t *gid,
                                                           int32_t *pid) {
    dtu_handle_t *h = U(stream);
    int e = dtu_enter(h, DTU_UNIX_STREAM);
    if (e) return dtu_fail(e, __func__, NULL);
    struct ucred c;
    socklen_t cl = sizeof c;
    e = getsockopt(h->fd, SOL_SOCKET, SO_PEERCRED, &c, &cl) == 0 ? 0 : errno;
    dtu_leave(h);
    if (e) return dtu_fail(e, __func__, NULL);
    if (uid) *uid = (uint32_t)c.uid;
    if (gid) *gid = (uint32_t)c.gid;
    if (pid) *pid = (int32_t)c.pid;
    return 0;
}

DTACT_UTIL_API void dtact_util_io_unix_stream_close(DtactUnixStream *stream) { dtu_close(U(stream), DTU_UNIX_STREAM); }

/* ---------------------------------------------------------------- datagram */

DTACT_UTIL_API DtactUnixDatagram *dtact_util_io_unix_datagram_bind(const char *path) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (!path || !*path) {
        /* autobind: the kernel picks a fresh abstract name */
        memset(&ss, 0, sizeof ss);
        ss.ss_family = AF_UNIX;
        len = sizeof(sa_family_t);
    } else {
        int e = dtu_unix_addr(path, &ss, &len);
        if (e) {
            dtu_fail(e, __func__, path);
            return NULL;
        }
    }
    int fd = dtu_socket(AF_UNIX, SOCK_DGRAM);
    if (fd < 0) {
        dtu_fail(-fd, __func__, path);
        return NULL;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        (void)dtact_fd_close(fd);
        dtu_fail(e, __func__, path);
        return NULL;
    }
    dtu_handle_t *h = dtu_handle_new(fd, DTU_UNIX_DGRAM);
    if (!h) dtu_fail(ENOMEM, __func__, path);
    return (DtactUnixDatagram *)h;
}

DTACT_UTIL_API int32_t dtact_util_io_unix_datagram_connect(DtactUnixDatagram *socket, const char *path) {
    struct sockaddr_storage ss;
    socklen_t len;
    int e = dtu_unix_addr(path, &ss, &len);
    if (e) return dtu_fail(e, __func__, path);
    return dtu_api_connect_dgram(socket, DTU_UNIX_DGRAM, (struct sockaddr *)&ss, len, __func__, path);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send(DtactUnixDatagram *socket, const uint8_t *buf, size_t len) {
    return dtu_api_send(socket, DTU_UNIX_DGRAM, buf, len, NULL, 0, DTU_FOREVER, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_timeout(DtactUnixDatagram *socket, const uint8_t *buf,
                                                                  size_t len, int64_t timeout_ns) {
    return dtu_api_send(socket, DTU_UNIX_DGRAM, buf, len, NULL, 0, dtu_deadline(timeout_ns), __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv(DtactUnixDatagram *socket, uint8_t *buf, size_t len) {
    return dtu_api_recv(socket, DTU_UNIX_DGRAM, buf, len, NULL, 0, 1, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_timeout(DtactUnixDatagram *socket, uint8_t *buf, size_t len,
                                                                  int64_t timeout_ns) {
    return dtu_api_recv(socket, DTU_UNIX_DGRAM, buf, len, NULL, 0, 1, timeout_ns, __func__);
}

static ptrdiff_t send_to(DtactUnixDatagram *socket, const uint8_t *buf, size_t len, const char *path,
                         int64_t timeout_ns, const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    struct sockaddr_storage ss;
    socklen_t sl;
    int e = dtu_unix_addr(path, &ss, &sl);
    if (e) return dtu_fail(e, what, path);
    return dtu_api_send(socket, DTU_UNIX_DGRAM, buf, len, (struct sockaddr *)&ss, sl, deadline, what);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_to(DtactUnixDatagram *socket, const uint8_t *buf, size_t len,
                                                             const char *path) {
    return send_to(socket, buf, len, path, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_send_to_timeout(DtactUnixDatagram *socket, const uint8_t *buf,
                                                                     size_t len, const char *path, int64_t timeout_ns) {
    return send_to(socket, buf, len, path, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_from(DtactUnixDatagram *socket, uint8_t *buf, size_t len,
                                                               char *out_addr, size_t out_addr_cap) {
    return dtu_api_recv(socket, DTU_UNIX_DGRAM, buf, len, out_addr, out_addr_cap, 1, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_unix_datagram_recv_from_timeout(DtactUnixDatagram *socket, uint8_t *buf,
                                                                       size_t len, char *out_addr, size_t out_addr_cap,
                                                                       int64_t timeout_ns) {
    return dtu_api_recv(socket, DTU_UNIX_DGRAM, buf, len, out_addr, out_addr_cap, 1, timeout_ns, __func__);
}

DTACT_UTIL_API void dtact_util_io_unix_datagram_close(DtactUnixDatagram *socket) {
    dtu_close(U(socket), DTU_UNIX_DGRAM);
}
