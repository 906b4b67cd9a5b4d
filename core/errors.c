/* core/errors.c -- error codes (dtact_strerror and the per-thread last
 * error), warnings, and the one fatal exit.
 *
 * Handle-returning calls cannot return a code, so every failing call also
 * stores its code in a thread-local slot that dtact_last_error() reads
 * (the errno model). Successful calls do not clear it.
 *
 * Warnings go to one process-wide handler (fn, user), a pair that must be
 * read and replaced together: a tiny spin lock guards it (warnings are rare,
 * and never on a hot path).
 */
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>

#include "atomic.h"
#include "dtact.h"

static _Thread_local int last_error __attribute__((tls_model("initial-exec"))); /* as tls_worker (worker.c) */

int dtact__set_error(int code) {
    last_error = code;
    return code;
}

DTACT_API int dtact_last_error(void) { return last_error; }

static void default_warning(int code, const char *message, void *user) {
    (void)code;
    (void)user;
    fprintf(stderr, "dtact: warning: %s\n", message);
}

static _Atomic uint32_t warn_lock;
static dtact_warning_fn warn_fn = default_warning; /* under warn_lock */
static void *warn_user;                            /* under warn_lock */

static void warn_acquire(void) {
    uint32_t z = 0;
    while (!dtact__cas_weak_acquire(&warn_lock, &z, 1u)) { // acquire: pairs with warn_release
        z = 0;
        dtact__cpu_relax();
    }
}
static void warn_release(void) {
    dtact__store_release(&warn_lock, 0u); // release: publishes the pair to the next holder
}

DTACT_API dtact_warning_fn dtact_set_warning_handler(dtact_warning_fn fn, void *user) {
    warn_acquire();
    dtact_warning_fn old = warn_fn;
    warn_fn = fn;
    warn_user = user;
    warn_release();
    return old;
}

DTACT_API void dtact_reset_warning_handler(void) { dtact_set_warning_handler(default_warning, NULL); }

void dtact__warn(int code, const char *message) {
    warn_acquire();
    dtact_warning_fn fn = warn_fn;
    void *user = warn_user;
    warn_release();
    if (fn) fn(code, message, user);
}

void dtact__fatal(const char *what, const char *detail) {
    fprintf(stderr, "dtact: %s: %s\n", what, detail ? detail : "");
    fflush(stderr);
    abort();
}

DTACT_API const char *dtact_strerror(int code) {
    switch (code) {
    case DTACT_OK: return "success";
    case DTACT_EINVAL: return "invalid argument or out-of-range option code";
    case DTACT_ENOTINIT: return "runtime not initialised (call dtact_init first)";
    case DTACT_EALREADY: return "runtime already initialised or already running";
    case DTACT_EHANDLE: return "invalid fiber handle (never issued, forged or out of range)";
    case DTACT_ENULLFN: return "null function pointer";
    case DTACT_ECONFIG: return "invalid configuration value";
    case DTACT_EEXHAUSTED: return "fiber or stack pool exhausted";
    case DTACT_ESHUTDOWN: return "runtime is shutting down or shut down";
    case DTACT_ETIMEDOUT: return "timed out";
    case DTACT_EDEADLK:
        return "deadlock: the caller would wait for itself (a fiber joining itself, a once calling itself)";
    case DTACT_ECANCELED: return "fiber was cancelled before it ran";
    case DTACT_ENOMEM: return "out of memory (mapping or allocation failed)";
    case DTACT_ESTALE: return "fiber finished and its record was already released";
    case DTACT_EPERM: return "operation not allowed from this context (fiber or host thread)";
    case DTACT_ESYS: return "system call failed";
    case DTACT_ENOTRUNNING: return "workers are not running: the wait could never end";
    case DTACT_EBUSY: return "busy: a try-call would have to wait, or the object still has waiters";
    case DTACT_ECLOSED: return "the channel is closed";
    default: return "unknown dtact error code";
    }
}

DTACT_API uint32_t dtact_version(void) { return DTACT_VERSION_HEX; }

#define DTACT__STR2(x) #x
#define DTACT__STR(x) DTACT__STR2(x)
DTACT_API const char *dtact_version_string(void) {
    return DTACT__STR(DTACT_VERSION_MAJOR) "." DTACT__STR(DTACT_VERSION_MINOR) "." DTACT__STR(DTACT_VERSION_PATCH);
}
