/* Description: stacks are guarded by guard regions (madvise(MADV_GUARD_INSTALL),
 * Linux 6.13+) where the kernel has them, and by PROT_NONE guard pages (one
 * more mapping each, while vm.max_map_count lasts) where it does not or when
 * DTACT_STACK_GUARD=mprotect forces the fallback. Checked here:
 *  - the kind an arena picks follows the probe and the environment variable;
 *  - with guard regions, stacks far beyond the old map budget (~32k) are all
 *    guarded, the mapping count stays flat, and a write below the last one's
 *    base still aborts with the guard page report;
 *  - with either kind, a fiber that recurses past its 16 KiB stack is stopped
 *    with "dtact: stack overflow in fiber 0x<handle> (stack 16384 bytes, guard
 *    page hit ...)", also when it runs on a stack that a deep fiber used before.
 * Under qemu-user guard regions are not available (qemu accepts the advice and
 * does nothing; the probe sees that): the region cases are skipped there and
 * the fallback is what runs. Death tests run in forked children. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "arena_internal.h"
#include "child_capture.h"
#include "dtact.h"

TestSuite(stack_guard_regions);

static long map_lines(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f) fclose(f);
    return n;
}

static dtact__arena_t *mk(uint32_t cap, int guards) {
    dtact__arena_config_t cfg = {.capacity = cap, .default_stack = 16384, .ncaches = 1, .guard_pages = guards};
    dtact__arena_t *a = NULL;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    return a;
}

Test(stack_guard_regions, the_guard_kind_follows_the_kernel_and_the_environment) {
    unsetenv("DTACT_STACK_GUARD");
    int regions = dtact__stack_guard_regions();
    cr_log_info("guard regions %s here", regions ? "work" : "do not work");
    fprintf(stderr, "stack_guard_regions: guard regions %s on this kernel\n", regions ? "work" : "do not work");
    dtact__arena_t *a = mk(4, 1);
    cr_assert_eq(a->guard_pages, regions ? DTACT__GUARD_MARKER : DTACT__GUARD_MPROTECT);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    cr_assert(s->guarded);
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);

    setenv("DTACT_STACK_GUARD", "mprotect", 1);
    cr_assert_eq(dtact__stack_guard_regions(), 0, "the variable turns guard regions off");
    a = mk(4, 1);
    cr_assert_eq(a->guard_pages, DTACT__GUARD_MPROTECT);
    long m0 = map_lines();
    s = dtact__stack_alloc(a, 0, 0);
    cr_assert(s->guarded);
    cr_assert_geq(map_lines(), m0 + 1, "a PROT_NONE guard page splits the region");
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);
    unsetenv("DTACT_STACK_GUARD");

    a = mk(4, 0);
    cr_assert_eq(a->guard_pages, DTACT__GUARD_NONE);
    s = dtact__stack_alloc(a, 0, 0);
    cr_assert_not(s->guarded);
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);
}

typedef struct {
    dtact__arena_t *a;
    dtact__stack_t *s;
} below_t;

static void write_below(void *p) {
    below_t *b = p;
    if (dtact__overflow_handler_install(b->a) != DTACT_OK) _exit(3);
    if (dtact__thread_sigaltstack_init() != DTACT_OK) _exit(3);
    ((volatile char *)b->s->base)[-1] = 1;
    _exit(4); /* not reached */
}

Test(stack_guard_regions, stacks_past_the_old_map_budget_are_guarded_without_mappings, .timeout = 120) {
    unsetenv("DTACT_STACK_GUARD");
    if (!dtact__stack_guard_regions()) cr_skip_test("no guard regions on this kernel (the fallback is tested below)");
    enum { N = 40000 }; /* the mprotect scheme guards about 32k stacks at vm.max_map_count = 65530 */
    dtact__arena_t *a = mk(N, 1);
    static dtact__stack_t *v[N];
    long m0 = map_lines();
    for (int i = 0; i < N; i++) {
        v[i] = dtact__stack_alloc(a, DTACT__NO_CACHE, 0);
        cr_assert_not_null(v[i]);
        cr_assert(v[i]->guarded, "stack %d is guarded", i);
        cr_assert(dtact__stack_canary_ok(v[i]));
    }
    long m1 = map_lines();
    fprintf(stderr, "stack_guard_regions: %d guarded stacks, /proc/self/maps %ld -> %ld lines\n", N, m0, m1);
    cr_assert_lt(m1 - m0, 64, "guard regions cost no mapping: %ld -> %ld", m0, m1);
    dtact__arena_stats_t st;
    dtact__arena_get_stats(a, &st);
    cr_assert_eq(st.stacks_guarded, N);
    cr_assert_eq(st.stacks_canary, 0);
    below_t b = {a, v[N - 1]};
    char buf[512];
    int rc = run_child(write_below, &b, buf, sizeof buf);
    cr_assert(WIFSIGNALED(rc) && WTERMSIG(rc) == SIGABRT, "status %#x, stderr: %s", rc, buf);
    char want[96];
    snprintf(want, sizeof want, "guard page hit at 0x%" PRIxPTR ")", (uintptr_t)v[N - 1]->base - 1);
    cr_assert(strstr(buf, want) != NULL, "want \"%s\" in: %s", want, buf);
    for (int i = 0; i < N; i++)
        dtact__stack_free(a, DTACT__NO_CACHE, v[i]);
    dtact__arena_destroy(a);
}

/* ------------------------------------------------------- through a runtime */
static __attribute__((noinline)) uint64_t recurse(volatile char *prev, uint64_t n) {
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = prev ? prev[0] : 0;
    return n ? recurse(frame, n - 1) + (uint64_t)frame[511] : (uint64_t)frame[0];
}

static volatile uint64_t sink;
static volatile uintptr_t deep_low, deep_top;

static __attribute__((noinline)) void note_low(volatile char *p) { deep_low = (uintptr_t)p; }
static __attribute__((noinline)) uint64_t recurse_noting(volatile char *prev, uint64_t n) {
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = prev ? prev[0] : 0;
    if (n == 0) note_low(frame);
    return n ? recurse_noting(frame, n - 1) + (uint64_t)frame[511] : (uint64_t)frame[0];
}

static void deep(void *arg) { /* about 10 KiB of its 16 KiB, then returns */
    (void)arg;
    volatile char top;
    deep_top = (uintptr_t)&top;
    sink = recurse_noting(NULL, 18);
}

static void overflow(void *arg) {
    (void)arg;
    volatile char top;
    /* after the deep fiber: its stack, reused (one worker, LIFO stack cache;
     * two different stacks lie at least a slot, 20 KiB, apart) */
    uintptr_t me = (uintptr_t)&top;
    if (deep_top && (me > deep_top ? me - deep_top : deep_top - me) > 4096) {
        fprintf(stderr, "not the deep fiber's stack\n");
        _exit(5);
    }
    fprintf(stderr, "fiber=0x%" PRIx64 "\n", dtact_self()); /* before the report: the abort ends the child */
    sink = recurse(NULL, 1u << 20);
}

static void overflow_child(void *arg) {
    const char *kind = arg;
    if (strncmp(kind, "mprotect", 8) == 0) setenv("DTACT_STACK_GUARD", "mprotect", 1);
    else unsetenv("DTACT_STACK_GUARD");
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 16 * 1024;
    void *rt = dtact_init(&cfg);
    if (!rt || dtact_start(rt) != DTACT_OK) _exit(3);
    if (strstr(kind, "reuse")) {
        dtact_handle_t d = dtact_fiber_launch(deep, NULL);
        if (d == DTACT_INVALID_HANDLE || dtact_await(d) != DTACT_OK) _exit(3);
        if (deep_top - deep_low < 8192) {
            fprintf(stderr, "the deep fiber used only %lu bytes\n", (unsigned long)(deep_top - deep_low));
            _exit(6);
        }
    }
    dtact_await(dtact_fiber_launch(overflow, NULL));
    _exit(4); /* not reached */
}

static void expect_overflow_report(const char *kind) {
    char buf[1024];
    int st = run_child(overflow_child, (void *)kind, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: status %#x, stderr: %s", kind, st, buf);
    uint64_t h = 0;
    const char *at = strstr(buf, "fiber=0x");
    cr_assert(at && sscanf(at, "fiber=0x%" SCNx64, &h) == 1, "%s: stderr: %s", kind, buf);
    char want[160];
    snprintf(want, sizeof want, "dtact: stack overflow in fiber 0x%" PRIx64 " (stack 16384 bytes, guard page hit at 0x",
             h);
    cr_assert(strstr(buf, want) != NULL, "%s: want \"%s\" in: %s", kind, want, buf);
}

Test(stack_guard_regions, an_overflow_is_reported_with_guard_regions, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizers check stacks themselves");
#endif
    unsetenv("DTACT_STACK_GUARD");
    if (!dtact__stack_guard_regions()) cr_skip_test("no guard regions on this kernel");
    expect_overflow_report("auto");
    expect_overflow_report("auto reuse");
}

Test(stack_guard_regions, an_overflow_is_reported_with_the_mprotect_fallback, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizers check stacks themselves");
#endif
    expect_overflow_report("mprotect");
    expect_overflow_report("mprotect reuse");
}
