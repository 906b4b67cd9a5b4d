/* util/timer.c -- the original's timer calls, mapped onto the core's
 * dtact_sleep_ns and dtact_interval_t (a fiber waits alone, a thread sleeps).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct DtactInterval {
    dtact_interval_t iv;
};

static uint64_t ms_to_ns(uint64_t ms) { return ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u; }

DTACT_UTIL_API void dtact_util_timer_sleep_ms(uint64_t ms) {
    int r = dtact_sleep_ns(ms_to_ns(ms));
    if (r != DTACT_OK) (void)dtu_fail(dtu_errno_of(r), __func__, NULL);
}

DTACT_UTIL_API DtactInterval *dtact_util_timer_interval_create(uint64_t period_ms) {
    if (period_ms == 0) {
        (void)dtu_fail(EINVAL, __func__, "period 0");
        return NULL;
    }
    DtactInterval *i = malloc(sizeof *i);
    if (!i) {
        (void)dtu_fail(ENOMEM, __func__, NULL);
        return NULL;
    }
    int r = dtact_interval_init(&i->iv, ms_to_ns(period_ms));
    if (r != DTACT_OK) {
        free(i);
        (void)dtu_fail(EINVAL, __func__, NULL);
        return NULL;
    }
    return i;
}

DTACT_UTIL_API void dtact_util_timer_interval_tick(DtactInterval *interval) {
    if (!interval) {
        (void)dtu_fail(EINVAL, __func__, NULL);
        return;
    }
    int r = dtact_interval_tick(&interval->iv, NULL);
    if (r != DTACT_OK) (void)dtu_fail(dtu_errno_of(r), __func__, NULL);
}

DTACT_UTIL_API void dtact_util_timer_interval_free(DtactInterval *interval) { free(interval); }
