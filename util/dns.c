/* util/dns.c -- dtact_util_io_lookup_host and dtact_util_io_init (the size of
 * the blocking-offload pool that runs getaddrinfo: addr.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

DTACT_UTIL_API void dtact_util_io_init(size_t workers) {
    if (workers == 0) return;
    (void)dtact_blocking_set_max_threads(workers > 4096 ? 4096u : (uint32_t)workers);
}

static ptrdiff_t lookup(const char *host_port, char *out, size_t out_cap, int64_t timeout_ns, const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    if (!out || !host_port) return dtu_fail(EINVAL, what, host_port);
    dtu_addrs_t a;
    /* SOCK_STREAM: one entry per address (not one per socket type) */
    int e = dtu_resolve(host_port, SOCK_STREAM, 0, deadline, &a);
    if (e) {
        if (out_cap) out[0] = '\0';
        return dtu_fail(e, what, host_port);
    }
    size_t used = 0;
    if (out_cap) out[0] = '\0';
    for (size_t i = 0; i < a.n; i++) {
        char one[DTACT_UTIL_ADDR_MAX];
        if (dtu_format_ip((struct sockaddr *)&a.sa[i], one, sizeof one) != 0) continue;
        size_t l = strlen(one) + (used ? 1 : 0);
        if (used + l + 1 > out_cap) {
            dtu_addrs_free(&a);
            return dtu_fail(ENOSPC, what, "the addresses do not fit in the buffer");
        }
        if (used) out[used++] = ';';
        memcpy(out + used, one, strlen(one) + 1);
        used += strlen(one);
    }
    ptrdiff_t n = (ptrdiff_t)a.n;
    dtu_addrs_free(&a);
    return n;
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_lookup_host(const char *host_port, char *out, size_t out_cap) {
    return lookup(host_port, out, out_cap, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_lookup_host_timeout(const char *host_port, char *out, size_t out_cap,
                                                           int64_t timeout_ns) {
    return lookup(host_port, out, out_cap, timeout_ns, __func__);
}
