/* tests/util_test.h -- helpers of the libdtact_util tests (tests/util_*.c).
 *
 * Criterion's assertions must run on the test's own thread, not on a fiber
 * stack, so code running on fibers records its first failed check with
 * UCHECK (the fiber function then returns) and the test asserts ucheck_ok()
 * afterwards. */
#ifndef DTACT_TESTS_UTIL_TEST_H
#define DTACT_TESTS_UTIL_TEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dtact.h"
#include "dtact_util.h"
#include "../util/internal.h" /* a test may watch a handle's count of calls in flight */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* UCHECK's messages may be cut: that is fine */
#endif

static atomic_int ucheck_failed;
static char ucheck_msg[512];

#define UCHECK(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            if (atomic_fetch_add(&ucheck_failed, 1) == 0) {                                                            \
                int off_ = snprintf(ucheck_msg, sizeof ucheck_msg, "%s:%d: %s: ", __FILE__, __LINE__, #cond);          \
                if (off_ > 0 && (size_t)off_ < sizeof ucheck_msg)                                                      \
                    snprintf(ucheck_msg + off_, sizeof ucheck_msg - (size_t)off_, __VA_ARGS__);                        \
            }                                                                                                          \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

static inline void ucheck_assert(void) { cr_assert_eq(atomic_load(&ucheck_failed), 0, "%s", ucheck_msg); }

/* The errno of the last dtact_util failure, with its message, for messages. */
static inline const char *ulast(void) {
    const char *m = dtact_util_last_error_message();
    return m ? m : "(no message)";
}

/* Raises RLIMIT_NOFILE to its hard limit; returns the soft limit after. */
static inline rlim_t raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* The byte pattern of connection c at offset i. */
static inline uint8_t pattern(uint32_t c, size_t i) { return (uint8_t)((c * 131u + i * 7u + (i >> 8)) & 0xffu); }

/* A loopback TCP listener on an ephemeral port; its address in addr. */
static inline DtactTcpListener *listen_any(char addr[DTACT_UTIL_ADDR_MAX]) {
    DtactTcpListener *l = dtact_util_io_listener_bind("127.0.0.1:0");
    cr_assert_not_null(l, "bind: %s", ulast());
    cr_assert_eq(dtact_util_io_listener_local_addr(l, addr, DTACT_UTIL_ADDR_MAX), 0, "local_addr: %s", ulast());
    return l;
}

/* Waits (on a plain thread) until `calls` calls are in flight on handle h:
 * they have entered it, so a close now cannot free it under them. */
static inline void wait_in_flight(const void *h, unsigned calls) {
    while (atomic_load(&((dtu_handle_t *)(uintptr_t)h)->refs) < 1u + calls)
        usleep(1000);
}

/* Launches fn(arg) on a fiber; dtact_await(handle) waits for it. */
static inline dtact_handle_t go(void (*fn)(void *), void *arg) {
    dtact_handle_t h = dtact_fiber_launch(fn, arg);
    cr_assert_neq(h, DTACT_INVALID_HANDLE, "launch: %s", dtact_strerror(dtact_last_error()));
    return h;
}

#endif
