/* util/tcp.c -- TCP listeners and streams (dtact_util_io_listener_*,
 * dtact_util_io_stream_*). The waiting is in handle.c; this file makes the
 * sockets: bind (SO_REUSEADDR, backlog 1024, as tokio's TcpListener::bind)
 * and connect (each resolved address in turn, one deadline for all).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "internal.h"

#define BACKLOG 1024

DTACT_UTIL_API DtactTcpListener *dtact_util_io_listener_bind(const char *addr) {
    dtu_addrs_t a;
    int e = dtu_resolve(addr, SOCK_STREAM, 1, DTU_FOREVER, &a);
    if (e) {
        dtu_fail(e, __func__, addr);
        return NULL;
    }
    for (size_t i = 0; i < a.n; i++) {
        int fd = dtu_socket(a.sa[i].ss_family, SOCK_STREAM);
        if (fd < 0) {
            e = -fd;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a.sa[i], a.len[i]) == 0 && listen(fd, BACKLOG) == 0) {
            dtu_addrs_free(&a);
            dtu_handle_t *h = dtu_handle_new(fd, DTU_TCP_LISTENER);
            if (!h) dtu_fail(ENOMEM, __func__, addr);
            return (DtactTcpListener *)h;
        }
        e = errno;
        (void)dtact_fd_close(fd);
    }
    dtu_addrs_free(&a);
    dtu_fail(e, __func__, addr);
    return NULL;
}

DTACT_UTIL_API DtactTcpStream *dtact_util_io_listener_accept(DtactTcpListener *listener) {
    return dtu_api_accept(listener, DTU_TCP_LISTENER, DTU_TCP_STREAM, -1, __func__);
}

DTACT_UTIL_API DtactTcpStream *dtact_util_io_listener_accept_timeout(DtactTcpListener *listener, int64_t timeout_ns) {
    return dtu_api_accept(listener, DTU_TCP_LISTENER, DTU_TCP_STREAM, timeout_ns, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_listener_local_addr(DtactTcpListener *listener, char *out, size_t cap) {
    return dtu_api_ip_name(listener, DTU_TCP_LISTENER, 0, out, cap, __func__);
}

DTACT_UTIL_API void dtact_util_io_listener_close(DtactTcpListener *listener) {
    dtu_close((dtu_handle_t *)listener, DTU_TCP_LISTENER);
}

static DtactTcpStream *connect_to(const char *addr, int64_t timeout_ns, const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    dtu_addrs_t a;
    int e = dtu_resolve(addr, SOCK_STREAM, 0, deadline, &a);
    if (e) {
        dtu_fail(e, what, addr);
        return NULL;
    }
    for (size_t i = 0; i < a.n; i++) {
        int fd = dtu_connect(a.sa[i].ss_family, SOCK_STREAM, (struct sockaddr *)&a.sa[i], a.len[i], deadline);
        if (fd >= 0) {
            dtu_addrs_free(&a);
            dtu_handle_t *h = dtu_handle_new(fd, DTU_TCP_STREAM);
            if (!h) dtu_fail(ENOMEM, what, addr);
            return (DtactTcpStream *)h;
        }
        e = -fd;
        if (e == ETIMEDOUT || e == ESHUTDOWN) break; /* the deadline is shared: no time left */
    }
    dtu_addrs_free(&a);
    dtu_fail(e, what, addr);
    return NULL;
}

DTACT_UTIL_API DtactTcpStream *dtact_util_io_stream_connect(const char *addr) { return connect_to(addr, -1, __func__); }

DTACT_UTIL_API DtactTcpStream *dtact_util_io_stream_connect_timeout(const char *addr, int64_t timeout_ns) {
    return connect_to(addr, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_read(DtactTcpStream *stream, uint8_t *buf, size_t len) {
    return dtu_api_read(stream, DTU_TCP_STREAM, buf, len, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_read_timeout(DtactTcpStream *stream, uint8_t *buf, size_t len,
                                                           int64_t timeout_ns) {
    return dtu_api_read(stream, DTU_TCP_STREAM, buf, len, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write(DtactTcpStream *stream, const uint8_t *buf, size_t len) {
    return dtu_api_write(stream, DTU_TCP_STREAM, buf, len, 0, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_timeout(DtactTcpStream *stream, const uint8_t *buf, size_t len,
                                                            int64_t timeout_ns) {
    return dtu_api_write(stream, DTU_TCP_STREAM, buf, len, 0, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_all(DtactTcpStream *stream, const uint8_t *buf, size_t len) {
    return dtu_api_write(stream, DTU_TCP_STREAM, buf, len, 1, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_stream_write_all_timeout(DtactTcpStream *stream, const uint8_t *buf, size_t len,
                                                                int64_t timeout_ns) {
    return dtu_api_write(stream, DTU_TCP_STREAM, buf, len, 1, timeout_ns, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_stream_shutdown(DtactTcpStream *stream, int32_t how) {
    return dtu_api_shutdown(stream, DTU_TCP_STREAM, how, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_stream_set_nodelay(DtactTcpStream *stream, int32_t on) {
    dtu_handle_t *h = (dtu_handle_t *)stream;
    int e = dtu_enter(h, DTU_TCP_STREAM);
    if (e) return dtu_fail(e, __func__, NULL);
    int v = on != 0;
    e = setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) == 0 ? 0 : errno;
    dtu_leave(h);
    return e ? dtu_fail(e, __func__, NULL) : 0;
}

DTACT_UTIL_API int32_t dtact_util_io_stream_peer_addr(DtactTcpStream *stream, char *out, size_t cap) {
    return dtu_api_ip_name(stream, DTU_TCP_STREAM, 1, out, cap, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_stream_local_addr(DtactTcpStream *stream, char *out, size_t cap) {
    return dtu_api_ip_name(stream, DTU_TCP_STREAM, 0, out, cap, __func__);
}

DTACT_UTIL_API void dtact_util_io_stream_close(DtactTcpStream *stream) {
    dtu_close((dtu_handle_t *)stream, DTU_TCP_STREAM);
}
