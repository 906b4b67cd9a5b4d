/* core/errors.c -- error codes: dtact_strerror and the per-thread last error.
 *
 * Handle-returning calls cannot return a code, so every failing call also
 * stores its code in a thread-local slot that dtact_last_error() reads
 * (the errno model). Successful calls do not clear it.
 */
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>

#include "dtact.h"

static _Thread_local int last_error;

int dtact__set_error(int code) {
    last_error = code;
    return code;
}

DTACT_API int dtact_last_error(void) { return last_error; }

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
    case DTACT_EDEADLK: return "a fiber cannot await or join itself";
    case DTACT_ECANCELED: return "fiber was cancelled before it ran";
    case DTACT_ENOMEM: return "out of memory (mapping or allocation failed)";
    case DTACT_ESTALE: return "fiber finished and its record was already released";
    case DTACT_EPERM: return "operation not allowed from this context (fiber or host thread)";
    case DTACT_ESYS: return "system call failed";
    case DTACT_ENOTRUNNING: return "workers are not running: the wait could never end";
    default: return "unknown dtact error code";
    }
}

DTACT_API uint32_t dtact_version(void) { return DTACT_VERSION_HEX; }

#define DTACT__STR2(x) #x
#define DTACT__STR(x) DTACT__STR2(x)
DTACT_API const char *dtact_version_string(void) {
    return DTACT__STR(DTACT_VERSION_MAJOR) "." DTACT__STR(DTACT_VERSION_MINOR) "." DTACT__STR(DTACT_VERSION_PATCH);
}
