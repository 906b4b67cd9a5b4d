/* util/calls.c -- the bodies the public calls of every socket kind share:
 * argument checks, enter/leave of the handle (internal.h), the deadline, and
 * recording a failure (errors.c) under the public function's name.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

void *dtu_api_accept(void *hv, uint32_t kind, uint32_t newkind, int64_t timeout_ns, const char *what) {
    dtu_handle_t *h = hv;
    uint64_t deadline = dtu_deadline(timeout_ns);
    int e = dtu_enter(h, kind);
    if (e) {
        dtu_fail(e, what, NULL);
        return NULL;
    }
    int fd = dtu_accept(h, deadline);
    dtu_leave(h);
    if (fd < 0) {
        dtu_fail(-fd, what, NULL);
        return NULL;
    }
    dtu_handle_t *s = dtu_handle_new(fd, newkind);
    if (!s) dtu_fail(ENOMEM, what, NULL);
    return s;
}

ptrdiff_t dtu_api_read(void *hv, uint32_t kind, uint8_t *buf, size_t len, int64_t timeout_ns, const char *what) {
    dtu_handle_t *h = hv;
    uint64_t deadline = dtu_deadline(timeout_ns);
    int e = dtu_check_buf(buf, len);
    if (!e) e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    ptrdiff_t n = len ? dtu_read(h, buf, len, deadline) : 0;
    dtu_leave(h);
    return n < 0 ? dtu_fail((int)-n, what, NULL) : n;
}

ptrdiff_t dtu_api_write(void *hv, uint32_t kind, const uint8_t *buf, size_t len, int all, int64_t timeout_ns,
                        const char *what) {
    dtu_handle_t *h = hv;
    uint64_t deadline = dtu_deadline(timeout_ns);
    int e = dtu_check_buf(buf, len);
    if (!e) e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    ptrdiff_t n = 0;
    if (len) n = all ? dtu_write_all(h, buf, len, deadline) : dtu_write(h, buf, len, deadline);
    dtu_leave(h);
    return n < 0 ? dtu_fail((int)-n, what, NULL) : n;
}

int32_t dtu_api_shutdown(void *hv, uint32_t kind, int32_t how, const char *what) {
    dtu_handle_t *h = hv;
    int e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    int r = dtu_shutdown(h, how);
    dtu_leave(h);
    return r < 0 ? dtu_fail(-r, what, NULL) : 0;
}

ptrdiff_t dtu_api_send(void *hv, uint32_t kind, const uint8_t *buf, size_t len, const struct sockaddr *to,
                       socklen_t tolen, uint64_t deadline, const char *what) {
    dtu_handle_t *h = hv;
    int e = dtu_check_buf(buf, len);
    if (!e) e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    ptrdiff_t n = dtu_sendto(h, buf, len, to, tolen, deadline);
    dtu_leave(h);
    return n < 0 ? dtu_fail((int)-n, what, NULL) : n;
}

ptrdiff_t dtu_api_recv(void *hv, uint32_t kind, uint8_t *buf, size_t len, char *out_addr, size_t cap, int unix_addr,
                       int64_t timeout_ns, const char *what) {
    dtu_handle_t *h = hv;
    uint64_t deadline = dtu_deadline(timeout_ns);
    int e = dtu_check_buf(buf, len);
    if (!e && !out_addr && cap) e = EINVAL;
    if (!e) e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    memset(&from, 0, sizeof from);
    ptrdiff_t n = dtu_recvfrom(h, buf, len, out_addr ? &from : NULL, &fl, deadline);
    dtu_leave(h);
    if (n < 0) return dtu_fail((int)-n, what, NULL);
    if (out_addr) {
        e = unix_addr ? dtu_format_unix((struct sockaddr *)&from, fl, out_addr, cap)
                      : dtu_format_ip((struct sockaddr *)&from, out_addr, cap);
        if (e) return dtu_fail(e, what, "the sender's address does not fit");
    }
    return n;
}

int32_t dtu_api_connect_dgram(void *hv, uint32_t kind, const struct sockaddr *sa, socklen_t len, const char *what,
                              const char *target) {
    dtu_handle_t *h = hv;
    int e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, target);
    int r = connect(h->fd, sa, len) == 0 ? 0 : errno;
    dtu_leave(h);
    return r ? dtu_fail(r, what, target) : 0;
}

int32_t dtu_api_ip_name(void *hv, uint32_t kind, int peer, char *out, size_t cap, const char *what) {
    dtu_handle_t *h = hv;
    if (!out) return dtu_fail(EINVAL, what, NULL);
    int e = dtu_enter(h, kind);
    if (e) return dtu_fail(e, what, NULL);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int r = peer ? getpeername(h->fd, (struct sockaddr *)&ss, &sl) : getsockname(h->fd, (struct sockaddr *)&ss, &sl);
    e = r == 0 ? 0 : errno;
    dtu_leave(h);
    if (!e) e = dtu_format_ip((struct sockaddr *)&ss, out, cap);
    else if (cap) out[0] = '\0';
    return e ? dtu_fail(e, what, NULL) : 0;
}
