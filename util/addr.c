/* util/addr.c -- address strings <-> socket addresses, and name resolution.
 *
 * "ip:port", "[ip6]:port" (a scope as "[fe80::1%eth0]:80"), "host:port". A
 * numeric host is converted by getaddrinfo with AI_NUMERICHOST, which does no
 * I/O. A name goes to getaddrinfo on the blocking-offload pool
 * (dtact_blocking), so a fiber waits without blocking its worker. The pool's
 * job may outlive the caller (a timeout lets the call return while
 * getaddrinfo goes on), so the job is a heap record with two references,
 * the caller's and the helper's; the last to drop it frees it and the result.
 *
 * Unix addresses: a path, or "@name" for the abstract namespace.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"

#define HOST_MAX 256

/* Splits host_port into host and port: 0 or EINVAL. */
static int split(const char *s, char host[HOST_MAX], char port[8]) {
    const char *h, *he, *p;
    if (s[0] == '[') {
        h = s + 1;
        he = strchr(h, ']');
        if (!he || he[1] != ':') return EINVAL;
        p = he + 2;
    } else {
        h = s;
        he = strrchr(s, ':');
        if (!he) return EINVAL;
        if (memchr(h, ':', (size_t)(he - h))) return EINVAL; /* a bare IPv6 address needs [ ] */
        p = he + 1;
    }
    size_t hl = (size_t)(he - h), pl = strlen(p);
    if (hl == 0 || hl >= HOST_MAX || pl == 0 || pl > 5) return EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9') return EINVAL;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535) return EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, 8, "%u", v);
    return 0;
}

static int gai_errno(int rc, int err) {
    switch (rc) {
    case 0: return 0;
    case EAI_AGAIN: return EAGAIN;
    case EAI_MEMORY: return ENOMEM;
    case EAI_SYSTEM: return err ? err : EIO;
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
    case EAI_FAIL: return ENXIO;
    default: return EINVAL;
    }
}

static int take(struct addrinfo *res, dtu_addrs_t *out) {
    size_t n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_addrlen <= sizeof(struct sockaddr_storage)) n++;
    if (n == 0) return ENXIO;
    out->sa = calloc(n, sizeof *out->sa);
    out->len = calloc(n, sizeof *out->len);
    if (!out->sa || !out->len) {
        dtu_addrs_free(out);
        return ENOMEM;
    }
    out->n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_addrlen > sizeof(struct sockaddr_storage)) continue;
        memcpy(&out->sa[out->n], a->ai_addr, a->ai_addrlen);
        out->len[out->n++] = a->ai_addrlen;
    }
    return 0;
}

void dtu_addrs_free(dtu_addrs_t *a) {
    free(a->sa);
    free(a->len);
    a->sa = NULL;
    a->len = NULL;
    a->n = 0;
}

typedef struct gai_job {
    atomic_uint refs; /* the caller's and the helper's */
    char host[HOST_MAX];
    char port[8];
    struct addrinfo hints;
    int rc, err;
    struct addrinfo *res;
} gai_job_t;

static void job_drop(gai_job_t *j) {
    if (atomic_fetch_sub(&j->refs, 1u) == 1u) {
        if (j->res) freeaddrinfo(j->res);
        free(j);
    }
}

static void *gai_run(void *arg) {
    gai_job_t *j = arg;
    j->rc = getaddrinfo(j->host, j->port, &j->hints, &j->res);
    j->err = errno;
    job_drop(j);
    return NULL;
}

int dtu_resolve(const char *host_port, int socktype, int passive, uint64_t deadline, dtu_addrs_t *out) {
    out->n = 0;
    out->sa = NULL;
    out->len = NULL;
    if (!host_port) return EINVAL;
    char host[HOST_MAX], port[8];
    int e = split(host_port, host, port);
    if (e) return e;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    /* numeric: no I/O, done here */
    struct addrinfo *res = NULL;
    hints.ai_flags |= AI_NUMERICHOST;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc == 0) {
        e = take(res, out);
        freeaddrinfo(res);
        return e;
    }
    if (rc != EAI_NONAME) return gai_errno(rc, errno);
    hints.ai_flags &= ~AI_NUMERICHOST; /* no AI_ADDRCONFIG: it hides localhost where only lo is up */
    /* a name: getaddrinfo on a helper thread */
    int64_t timeout = -1;
    if (deadline != DTU_FOREVER) {
        uint64_t now = dtact_now_ns();
        if (now >= deadline) return ETIMEDOUT;
        timeout = deadline - now > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(deadline - now);
    }
    gai_job_t *j = calloc(1, sizeof *j);
    if (!j) return ENOMEM;
    atomic_init(&j->refs, 2u);
    memcpy(j->host, host, sizeof host);
    memcpy(j->port, port, sizeof port);
    j->hints = hints;
    int r = dtact_blocking(gai_run, j, timeout, NULL);
    if (r == DTACT_OK) {
        e = gai_errno(j->rc, j->err);
        if (!e) e = take(j->res, out);
        job_drop(j);
        return e;
    }
    if (r == DTACT_ETIMEDOUT || r == DTACT_ESHUTDOWN) {
        job_drop(j); /* the helper still runs getaddrinfo and drops the other reference */
        return dtu_errno_of(r);
    }
    /* withdrawn or never submitted: getaddrinfo never runs */
    free(j);
    if (r == DTACT_ECANCELED) return deadline != DTU_FOREVER && dtact_now_ns() >= deadline ? ETIMEDOUT : ESHUTDOWN;
    return dtu_errno_of(r);
}

int dtu_format_ip(const struct sockaddr *sa, char *out, size_t cap) {
    char host[NI_MAXHOST], serv[NI_MAXSERV], buf[NI_MAXHOST + 16];
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        if (cap) out[0] = '\0';
        return EINVAL;
    }
    int n = snprintf(buf, sizeof buf, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) out[0] = '\0';
        return ENOSPC;
    }
    memcpy(out, buf, (size_t)n + 1);
    return 0;
}

int dtu_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len) {
    if (!path || !*path) return EINVAL;
    struct sockaddr_un *u = (struct sockaddr_un *)ss;
    memset(u, 0, sizeof *u);
    u->sun_family = AF_UNIX;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t pl = strlen(path);
    if (path[0] == '@') {
        if (pl - 1 > sizeof u->sun_path - 1) return ENAMETOOLONG;
        memcpy(u->sun_path + 1, path + 1, pl - 1); /* sun_path[0] = 0: abstract */
        *len = (socklen_t)(off + pl);
    } else {
        if (pl >= sizeof u->sun_path) return ENAMETOOLONG;
        memcpy(u->sun_path, path, pl + 1);
        *len = (socklen_t)(off + pl + 1);
    }
    return 0;
}

int dtu_format_unix(const struct sockaddr *sa, socklen_t len, char *out, size_t cap) {
    const struct sockaddr_un *u = (const struct sockaddr_un *)sa;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    char buf[sizeof u->sun_path + 2];
    size_t n = 0;
    if (len > off) {
        size_t pl = (size_t)len - off;
        if (pl > sizeof u->sun_path) pl = sizeof u->sun_path;
        if (u->sun_path[0] == '\0') {
            buf[n++] = '@';
            memcpy(buf + n, u->sun_path + 1, pl - 1);
            n += pl - 1;
        } else {
            size_t sl = strnlen(u->sun_path, pl);
            memcpy(buf, u->sun_path, sl);
            n = sl;
        }
    }
    buf[n] = '\0';
    if (n >= cap) {
        if (cap) out[0] = '\0';
        return ENOSPC;
    }
    memcpy(out, buf, n + 1);
    return 0;
}
