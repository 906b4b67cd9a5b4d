/* util/pipe.c -- named pipes, mapped to Unix stream sockets.
 *
 * The original's named pipes are Windows named pipes. Here the pipe <name>
 * is the abstract Unix socket "\0dtact-pipe/<name>": no file to create or
 * remove, gone when the server closes. A Windows-style "\\.\pipe\<name>"
 * means <name>. A server is a listening socket; each server_connect accepts
 * one client (as creating a new pipe instance and ConnectNamedPipe would).
 * A client finding no server gets ENOENT (the kernel's ECONNREFUSED for an
 * abstract name nobody listens on), as a missing Windows pipe would.
 */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"

#define PREFIX "dtact-pipe/"
#define WIN_PREFIX "\\\\.\\pipe\\"
#define U(x) ((dtu_handle_t *)(x))

static int pipe_addr(const char *name, struct sockaddr_storage *ss, socklen_t *len) {
    if (!name) return EINVAL;
    if (strncmp(name, WIN_PREFIX, strlen(WIN_PREFIX)) == 0) name += strlen(WIN_PREFIX);
    size_t nl = strlen(name);
    struct sockaddr_un *u = (struct sockaddr_un *)ss;
    if (nl == 0) return EINVAL;
    if (1 + strlen(PREFIX) + nl > sizeof u->sun_path) return ENAMETOOLONG;
    memset(u, 0, sizeof *u);
    u->sun_family = AF_UNIX;
    memcpy(u->sun_path + 1, PREFIX, strlen(PREFIX)); /* sun_path[0] = 0: abstract */
    memcpy(u->sun_path + 1 + strlen(PREFIX), name, nl);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(PREFIX) + nl);
    return 0;
}

DTACT_UTIL_API DtactNamedPipeServer *dtact_util_io_pipe_server_create(const char *name) {
    struct sockaddr_storage ss;
    socklen_t len;
    int e = pipe_addr(name, &ss, &len);
    if (e) {
        dtu_fail(e, __func__, name);
        return NULL;
    }
    dtu_handle_t *h = dtu_unix_listen(&ss, len, DTU_PIPE_SERVER, __func__);
    if (!h) dtu_fail(dtact_util_last_error(), __func__, name);
    return (DtactNamedPipeServer *)h;
}

DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_server_connect(DtactNamedPipeServer *server) {
    return dtu_api_accept(server, DTU_PIPE_SERVER, DTU_PIPE, -1, __func__);
}

DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_server_connect_timeout(DtactNamedPipeServer *server,
                                                                               int64_t timeout_ns) {
    return dtu_api_accept(server, DTU_PIPE_SERVER, DTU_PIPE, timeout_ns, __func__);
}

DTACT_UTIL_API void dtact_util_io_pipe_server_close(DtactNamedPipeServer *server) {
    dtu_close(U(server), DTU_PIPE_SERVER);
}

static DtactNamedPipeHandle *client_connect(const char *name, int64_t timeout_ns, const char *what) {
    uint64_t deadline = dtu_deadline(timeout_ns);
    struct sockaddr_storage ss;
    socklen_t len;
    int e = pipe_addr(name, &ss, &len);
    if (e) {
        dtu_fail(e, what, name);
        return NULL;
    }
    dtu_handle_t *h = dtu_unix_connect(&ss, len, DTU_PIPE, deadline, what, &e);
    if (!h) dtu_fail(e == ECONNREFUSED ? ENOENT : e, what, name);
    return (DtactNamedPipeHandle *)h;
}

DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_client_connect(const char *name) {
    return client_connect(name, -1, __func__);
}

DTACT_UTIL_API DtactNamedPipeHandle *dtact_util_io_pipe_client_connect_timeout(const char *name, int64_t timeout_ns) {
    return client_connect(name, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_read(DtactNamedPipeHandle *pipe, uint8_t *buf, size_t len) {
    return dtu_api_read(pipe, DTU_PIPE, buf, len, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_read_timeout(DtactNamedPipeHandle *pipe, uint8_t *buf, size_t len,
                                                         int64_t timeout_ns) {
    return dtu_api_read(pipe, DTU_PIPE, buf, len, timeout_ns, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_write(DtactNamedPipeHandle *pipe, const uint8_t *buf, size_t len) {
    return dtu_api_write(pipe, DTU_PIPE, buf, len, 0, -1, __func__);
}

DTACT_UTIL_API ptrdiff_t dtact_util_io_pipe_write_timeout(DtactNamedPipeHandle *pipe, const uint8_t *buf, size_t len,
                                                          int64_t timeout_ns) {
    return dtu_api_write(pipe, DTU_PIPE, buf, len, 0, timeout_ns, __func__);
}

DTACT_UTIL_API void dtact_util_io_pipe_close(DtactNamedPipeHandle *pipe) { dtu_close(U(pipe), DTU_PIPE); }
