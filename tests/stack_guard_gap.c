/* Description: the guard gap below each stack is configurable
 * (dtact_set_stack_guard_size): with a 64 KiB gap, a write 40 KiB below a
 * fiber's stack (a frame that jumps a one-page guard, in code built without
 * -fstack-clash-protection) faults in the gap and is reported as that fiber's
 * overflow; sizes are rounded up to pages and above 1 MiB are refused. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "child_capture.h"
#include "rt_util.h"

static void jump_below(void *arg) {
    (void)arg;
    /* Far below this 16 KiB stack's base: past a one-page guard, inside a 64 KiB gap. */
    volatile char *p = (volatile char *)__builtin_frame_address(0) - (16 + 40) * 1024;
    *p = 1;
}

static void big_gap(void *arg) {
    (void)arg;
    if (dtact_set_stack_guard_size(64 * 1024) != DTACT_OK) _exit(3);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 16 * 1024;
    void *rt = dtact_init(&cfg);
    if (!rt) _exit(4);
    dtact_handle_t h = dtact_fiber_launch(jump_below, NULL);
    fprintf(stderr, "fiber=0x%" PRIx64 "\n", h);
    dtact_run(rt);
    _exit(5); /* not reached */
}

Test(stack_guard_gap, a_write_inside_a_wide_gap_is_reported_as_the_fibers_overflow, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer runtimes own SIGSEGV");
#endif
    char buf[1024];
    int st = run_child(big_gap, NULL, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    uint64_t h = 0;
    cr_assert_eq(sscanf(buf, "fiber=0x%" SCNx64, &h), 1, "stderr: %s", buf);
    char want[96];
    snprintf(want, sizeof want, "dtact: stack overflow in fiber 0x%" PRIx64, h);
    cr_assert(strstr(buf, want) != NULL && strstr(buf, "guard page hit") != NULL, "stderr: %s", buf);
}

static void yields_once(void *arg) {
    (void)arg;
    dtact_yield();
}

Test(stack_guard_gap, sizes_are_checked_and_apply_to_the_next_runtime) {
    cr_assert_eq(dtact_set_stack_guard_size((1u << 20) + 1), DTACT_EINVAL);
    cr_assert_eq(dtact_set_stack_guard_size(1u << 20), DTACT_OK);
    void *rt = rt_up(1, 64);
    dtact_handle_t h = dtact_fiber_launch(yields_once, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(h), DTACT_OK, "a runtime with a 1 MiB gap runs fibers");
    rt_down(rt);
    cr_assert_eq(dtact_set_stack_guard_size(0), DTACT_OK, "0 restores the default");
}
