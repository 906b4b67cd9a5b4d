/* util/errors.c -- the per-thread last error of libdtact_util.
 *
 * The original dtact-util keeps one thread-local message; Dtact adds a
 * positive errno code beside it. Both are set by every failing call and left
 * alone by successful ones (the errno model). The message is formatted into a
 * thread-local buffer at the failure ("what: detail: strerror"), so reading it
 * costs nothing and it stays valid until the thread's next failure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MSG_CAP 256

static _Thread_local int last_code;
static _Thread_local char last_msg[MSG_CAP];

int dtu_fail(int code, const char *what, const char *detail) {
    char sbuf[96];
    const char *s = strerror_r(code, sbuf, sizeof sbuf); /* the GNU strerror_r: returns the text */
    if (detail && *detail) snprintf(last_msg, sizeof last_msg, "%s: %s: %s", what, detail, s);
    else snprintf(last_msg, sizeof last_msg, "%s: %s", what, s);
    last_code = code;
    return -1;
}

int dtu_errno_of(int dtact_code) {
    switch (dtact_code) {
    case DTACT_ETIMEDOUT: return ETIMEDOUT;
    case DTACT_ECLOSED: return ECANCELED;
    case DTACT_ECANCELED: return ECANCELED;
    case DTACT_ESHUTDOWN: return ESHUTDOWN;
    case DTACT_ENOMEM: return ENOMEM;
    case DTACT_EPERM: return EPERM;
    case DTACT_EINVAL: return EBADF; /* the fd was not open: a handle used after close */
    case DTACT_EEXHAUSTED: return EAGAIN;
    default: return EIO;
    }
}

DTACT_UTIL_API const char *dtact_util_last_error_message(void) { return last_code ? last_msg : NULL; }

DTACT_UTIL_API int dtact_util_last_error(void) { return last_code; }
