/* Description: an overflow is blamed on the fiber that overflowed. Once the
 * guard-page budget is used up, a fiber on an unguarded stack runs through
 * its own base into the stack below it and faults on that stack's guard page:
 * the report must name the running fiber, not the owner of the guard page. A
 * frame that jumps past the guard and the canary is caught at the next switch
 * by its stack pointer. Death tests in forked children, through a running
 * runtime. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "child_capture.h"
#include "arena_internal.h"
#include "internal.h"
#include "rt_util.h"

static dtact_handle_t victim_h, culprit_h;

static void victim(void *arg) {
    (void)arg;
    while (dtact_park(-1) == DTACT_OK) {
    }
}

static __attribute__((noinline)) uint64_t recurse(volatile char *prev, uint64_t n) {
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = prev ? prev[0] : 0;
    return n ? recurse(frame, n - 1) + (uint64_t)frame[511] : (uint64_t)frame[0];
}

static void culprit(void *arg) {
    (void)arg;
    recurse(NULL, 1u << 20); /* far deeper than its 16 KiB and its neighbour's */
}

static void overflow_through_neighbour(void *arg) {
    (void)arg;
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 16 * 1024;
    cfg.mSafetyLevel = 1;
    void *rt = dtact_init(&cfg);
    if (!rt) _exit(3);
    /* Only the first stack created gets a guard page; the next ones carry a
     * canary only (what happens once a big program uses up vm.max_map_count). */
    dtact__arena_set_guard_budget(((dtact__rt_t *)rt)->arena, 1);
    victim_h = dtact_fiber_launch(victim, NULL);   /* stack 0: guarded, lowest */
    culprit_h = dtact_fiber_launch(culprit, NULL); /* stack 1: unguarded, right above */
    fprintf(stderr, "culprit=0x%" PRIx64 " victim=0x%" PRIx64 "\n", culprit_h, victim_h);
    dtact_run(rt);
    _exit(4); /* not reached */
}

Test(stack_overflow_blame, the_report_names_the_fiber_that_ran_past_its_stack, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizers check stacks themselves");
#endif
    char buf[1024];
    int st = run_child(overflow_through_neighbour, NULL, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    uint64_t c = 0, v = 0;
    cr_assert_eq(sscanf(buf, "culprit=0x%" SCNx64 " victim=0x%" SCNx64, &c, &v), 2, "stderr: %s", buf);
    char want[160];
    snprintf(want, sizeof want, "dtact: stack overflow in fiber 0x%" PRIx64 " (it ran past its own stack", c);
    cr_assert(strstr(buf, want) != NULL, "want \"%s\" in: %s", want, buf);
    snprintf(want, sizeof want, "below fiber 0x%" PRIx64 "'s stack", v);
    cr_assert(strstr(buf, want) != NULL, "want \"%s\" in: %s", want, buf);
}

static void jump_the_guard(void *arg) {
    (void)arg;
    /* A frame bigger than the stack and its guard: the stack pointer lands
     * in the stack below (the parked victim's) without touching the guard
     * page on the way (the kind of frame -fstack-clash-protection would probe
     * page by page in the caller's code); the switch that follows catches it. */
    __asm__ __volatile__(
#if defined(__x86_64__)
        "mov %%rsp, %%rbx\n\t"
        "sub $0x12000, %%rsp\n\t"
        "call dtact_yield\n\t"
        "mov %%rbx, %%rsp\n\t" ::
            : "rbx", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory"
#else
        "mov x19, sp\n\t"
        "sub sp, sp, #0x12000\n\t"
        "bl dtact_yield\n\t"
        "mov sp, x19\n\t" ::
            : "x19", "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
              "x15", "x16", "x17", "x30", "memory"
#endif
    );
}

static void sp_below_base(void *arg) {
    (void)arg;
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact_init(&cfg);
    if (!rt) _exit(3);
    dtact_fiber_launch(victim, NULL); /* the stack below: 64 KiB + guard lower */
    dtact_handle_t h = dtact_fiber_launch(jump_the_guard, NULL);
    fprintf(stderr, "fiber=0x%" PRIx64 "\n", h);
    dtact_run(rt);
    _exit(4);
}

Test(stack_overflow_blame, a_frame_that_jumps_the_guard_is_caught_at_the_next_switch, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizers check stacks themselves");
#endif
    char buf[1024];
    int st = run_child(sp_below_base, NULL, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    uint64_t h = 0;
    cr_assert_eq(sscanf(buf, "fiber=0x%" SCNx64, &h), 1, "stderr: %s", buf);
    char want[160];
    snprintf(want, sizeof want, "dtact: stack overflow in fiber 0x%" PRIx64, h);
    cr_assert(strstr(buf, want) != NULL, "want \"%s\" in: %s", want, buf);
    cr_assert(strstr(buf, "stack pointer below the stack") != NULL, "stderr: %s", buf);
}
