/* util/udp.c -- UDP sockets (dtact_util_io_udp_*). A target given by name is
 * resolved (handle-less, on the call's deadline) before the send waits. */
#include <errno.h>

#include "internal.h"

#define U(x) ((dtu_handle_t *)(x))

DTACT_UTIL_API DtactUdpSocket *dtact_util_io_udp_bind(const char *addr) {
    dtu_addrs_t a;
    int e = dtu_resolve(addr, SOCK_DGRAM, 1, DTU_FOREVER, &a);
    if (e) {
        dtu_fail(e, __func__, addr);
        return NULL;
    }
    for (size_t i = 0; i < a.n; i++) {
        int fd = dtu_socket(a.sa[i].ss_family, SOCK_DGRAM);
        if (fd < 0) {
            e = -fd;
            continue;
        }
        if (bind(fd, (struct sockaddr *)&a.sa[i], a.len[i]) == 0) {
            dtu_addrs_free(&a);
            dtu_handle_t *h = dtu_handle_new(fd, DTU_UDP);
            if (!h) dtu_fail(ENOMEM, __func__, addr);
            return (DtactUdpSocket *)h;
        }
        e = errno;
        (void)dtact_fd_close(fd);
    }
    dtu_addrs_free(&a);
    dtu_fail(e, __func__, addr);
    return NULL;
}

DTACT_UTIL_API int32_t dtact_util_io_udp_connect(DtactUdpSocket *socket, const char *addr) {
    if (!socket) return dtu_fail(EINVAL, __func__, addr);
    dtu_addrs_t a;
    int e = dtu_resolve(addr, SOCK_DGRAM, 0, DTU_FOREVER, &a);
    if (e) return dtu_fail(e, __func__, addr);
    int32_t r = dtu_api_connect_dgram(socket, DTU_UDP, (struct sockaddr *)&a.sa[0], a.len[0], __func__, addr);
    dtu_addrs_free(&a);
    return r;
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send(DtactUdpSocket *socket, const uint8_t *buf, size_t len) {
    return dtu_api_send(socket, DTU_UDP, buf, len, NULL, 0, DTU_FOREVER, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_timeout(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                        int64_t timeout_ns) {
    return dtu_api_send(socket, DTU_UDP, buf, len, NULL, 0, dtu_deadline(timeout_ns), __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv(DtactUdpSocket *socket, uint8_t *buf, size_t len) {
    return dtu_api_recv(socket, DTU_UDP, buf, len, NULL, 0, 0, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_timeout(DtactUdpSocket *socket, uint8_t *buf, size_t len,
                                                        int64_t timeout_ns) {
    return dtu_api_recv(socket, DTU_UDP, buf, len, NULL, 0, 0, timeout_ns, __func__);
}

static ptrdiff_t send_to(DtactUdpSocket *socket, const uint8_t *buf, size_t len, const char *target, int64_t timeout_ns,
                         const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    if (!socket) return dtu_fail(EINVAL, what, target);
    dtu_addrs_t a;
    int e = dtu_resolve(target, SOCK_DGRAM, 0, deadline, &a);
    if (e) return dtu_fail(e, what, target);
    ptrdiff_t n = dtu_api_send(socket, DTU_UDP, buf, len, (struct sockaddr *)&a.sa[0], a.len[0], deadline, what);
    dtu_addrs_free(&a);
    return n;
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_to(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                   const char *target) {
    return send_to(socket, buf, len, target, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_send_to_timeout(DtactUdpSocket *socket, const uint8_t *buf, size_t len,
                                                           const char *target, int64_t timeout_ns) {
    return send_to(socket, buf, len, target, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_from(DtactUdpSocket *socket, uint8_t *buf, size_t len, char *out_addr,
                                                     size_t out_addr_cap) {
    return dtu_api_recv(socket, DTU_UDP, buf, len, out_addr, out_addr_cap, 0, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_udp_recv_from_timeout(DtactUdpSocket *socket, uint8_t *buf, size_t len,
                                                             char *out_addr, size_t out_addr_cap, int64_t timeout_ns) {
    return dtu_api_recv(socket, DTU_UDP, buf, len, out_addr, out_addr_cap, 0, timeout_ns, __func__);
}

DTACT_UTIL_API int32_t dtact_util_io_udp_local_addr(DtactUdpSocket *socket, char *out, size_t cap) {
    return dtu_api_ip_name(socket, DTU_UDP, 0, out, cap, __func__);
}

DTACT_UTIL_API void dtact_util_io_udp_close(DtactUdpSocket *socket) { dtu_close(U(socket), DTU_UDP); }
