/* Description: dtact_yield really yields: two fibers on one worker that
 * alternately log and yield interleave (ABAB...), with every switcher
 * variant; a float-switcher fiber computes 1.0/3.0 correctly. */
#include <string.h>

#include "rt_util.h"

#define STEPS 5
static char log_buf[64];
static atomic_int log_len;

static void logger(void *arg) {
    char c = *(char *)arg;
    for (int i = 0; i < STEPS; i++) {
        log_buf[atomic_fetch_add(&log_len, 1)] = c;
        cr_assert_eq(dtact_yield(), DTACT_OK);
    }
}

static uint8_t sw;
/* The root queues both loggers before either runs, as the test of the original
 * Dtact (0.2.x, the earlier Rust implementation whose C API this project keeps)
 * did. */
static void root(void *arg) {
    (void)arg;
    static char a = 'A', b = 'B';
    dtact_spawn_options_t o = dtact_default_spawn_options();
    o.mSwitcher = sw;
    dtact_handle_t ha = dtact_fiber_launch_ext(logger, &a, &o);
    dtact_handle_t hb = dtact_fiber_launch_ext(logger, &b, &o);
    cr_assert_eq(dtact_await(ha), DTACT_OK);
    cr_assert_eq(dtact_await(hb), DTACT_OK);
}

static void interleave_with(uint8_t switcher) {
    void *rt = rt_up(1, 64);
    memset(log_buf, 0, sizeof log_buf);
    atomic_store(&log_len, 0);
    sw = switcher;
    run_root(root, NULL);
    cr_assert_eq(atomic_load(&log_len), 2 * STEPS);
    for (int i = 1; i < 2 * STEPS; i++)
        cr_assert_neq(log_buf[i], log_buf[i - 1], "no interleaving (switcher %u): %s", switcher, log_buf);
    rt_down(rt);
}

Test(yield, interleaves_cross_float) { interleave_with(DTACT_SWITCHER_CROSS_THREAD_FLOAT); }
Test(yield, interleaves_cross_nofloat) { interleave_with(DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT); }
Test(yield, interleaves_same_float) { interleave_with(DTACT_SWITCHER_SAME_THREAD_FLOAT); }
Test(yield, interleaves_same_nofloat) { interleave_with(DTACT_SWITCHER_SAME_THREAD_NO_FLOAT); }

static double third;
static void divide(void *arg) {
    volatile double one = 1.0, three = 3.0;
    (void)arg;
    third = one / three;
    dtact_yield();
    third += one / three - one / three;
}

Test(yield, float_fiber_computes_a_third) {
    void *rt = rt_up(2, 64);
    run_root(divide, NULL);
    cr_assert_float_eq(third, 1.0 / 3.0, 1e-15);
    rt_down(rt);
}
