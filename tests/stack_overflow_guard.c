/* Description: a fiber that runs into its guard page is stopped with
 * "dtact: stack overflow in fiber 0x<handle> (stack <size> bytes, guard page
 * hit at 0x<addr>)" and SIGABRT: once by a direct write below base, once by
 * real recursion on the arena stack (ucontext) with the handler running on the
 * thread's sigaltstack. Faults elsewhere still reach the previous handler.
 * Release is idempotent, a no-op for an arena never (or unsuccessfully)
 * registered, frees its registry slot, and the last one restores the handler. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "arena.h"
#include "arena_internal.h"
#include "child_capture.h"
#include "dtact.h"

TestSuite(stack_overflow_guard);


typedef struct {
    dtact__arena_t *a;
    dtact__stack_t *s;
    dtact__fiber_t *f;
    char expect[128];
} fix_t;

static void setup(fix_t *x, size_t stack) {
    dtact__arena_config_t cfg = {.capacity = 4, .default_stack = stack, .ncaches = 1, .guard_pages = 1};
    cr_assert_eq(dtact__arena_create(&x->a, &cfg), DTACT_OK);
    cr_assert_eq(dtact__overflow_handler_install(x->a), DTACT_OK);
    cr_assert_eq(dtact__overflow_handler_install(x->a), DTACT_OK, "idempotent per arena");
    x->f = dtact__fiber_alloc(x->a, 0);
    dtact__fiber_free(x->a, 0, x->f); /* generation 2: the handle is not trivial */
    x->f = dtact__fiber_alloc(x->a, 0);
    x->s = dtact__stack_alloc(x->a, 0, dtact__stack_class(x->a, 0));
    cr_assert(x->s->guarded);
    x->s->owner = x->f;
    x->f->stack = x->s;
    uint64_t h = dtact__handle_make(x->f->index, DTACT__SG_GEN(atomic_load(&x->f->sg)));
    snprintf(x->expect, sizeof x->expect,
             "dtact: stack overflow in fiber 0x%" PRIx64 " (stack %zu bytes, guard page hit at 0x", h,
             (size_t)x->s->size);
}

static void teardown(fix_t *x) {
    dtact__stack_free(x->a, 0, x->s);
    dtact__fiber_free(x->a, 0, x->f);
    dtact__overflow_handler_release(x->a);
    dtact__overflow_handler_release(x->a); /* idempotent */
    dtact__arena_destroy(x->a);
}

static void write_below_base(void *p) {
    fix_t *x = p;
    if (dtact__thread_sigaltstack_init() != DTACT_OK) _exit(3);
    ((volatile char *)x->s->base)[-1] = 1;
    _exit(4); /* not reached */
}

Test(stack_overflow_guard, write_into_guard_page_aborts_with_message) {
    fix_t x;
    setup(&x, 65536);
    char buf[512];
    int st = run_child(write_below_base, &x, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    cr_assert(strstr(buf, "stack overflow in fiber") != NULL, "stderr: %s", buf);
    cr_assert(strstr(buf, x.expect) != NULL, "want \"%s\" in: %s", x.expect, buf);
    char addr[40];
    snprintf(addr, sizeof addr, "at 0x%" PRIxPTR ")\n", (uintptr_t)x.s->base - 1);
    cr_assert(strstr(buf, addr) != NULL, "want %s in: %s", addr, buf);
    teardown(&x);
}

static ucontext_t main_uc, fib_uc;
static volatile uint64_t sink;

static uint64_t recurse(uint64_t n) {
    volatile char pad[512];
    pad[0] = (char)n;
    pad[511] = (char)n;
    sink += pad[0];
    return n == 0 ? 0 : recurse(n - 1) + pad[511];
}
static void fiber_body(void) { sink = recurse(1u << 30); }

static void recurse_on_arena_stack(void *p) {
    fix_t *x = p;
    if (dtact__thread_sigaltstack_init() != DTACT_OK) _exit(3);
    getcontext(&fib_uc);
    fib_uc.uc_stack.ss_sp = x->s->base;
    fib_uc.uc_stack.ss_size = (size_t)((char *)x->s->top - (char *)x->s->base);
    fib_uc.uc_link = &main_uc;
    makecontext(&fib_uc, fiber_body, 0);
    swapcontext(&main_uc, &fib_uc);
    _exit(4); /* not reached */
}

Test(stack_overflow_guard, recursion_on_a_fiber_stack_hits_the_guard) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("ucontext stack switching is not supported by the sanitizer runtimes");
#endif
    fix_t x;
    setup(&x, 16384);
    char buf[512];
    int st = run_child(recurse_on_arena_stack, &x, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    cr_assert(strstr(buf, x.expect) != NULL, "want \"%s\" in: %s", x.expect, buf);
    teardown(&x);
}

static volatile uintptr_t bad_addr = 16; /* an unmapped page, not in any arena */

static void null_deref(void *p) {
    (void)p;
    dtact__thread_sigaltstack_init();
    *(volatile int *)bad_addr = 1;
    _exit(4);
}

Test(stack_overflow_guard, unrelated_faults_reach_the_default_action) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer's own SEGV handler reports the fault and exits");
#endif
    fix_t x;
    setup(&x, 16384);
    char buf[512];
    int st = run_child(null_deref, &x, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x, stderr: %s", st, buf);
    cr_assert(strstr(buf, "stack overflow") == NULL, "stderr: %s", buf);
    teardown(&x);
}

static int prev_called;
static void prev_handler(int sig) {
    (void)sig;
    prev_called = 1;
    signal(SIGSEGV, SIG_DFL);
}
static void chain_child(void *p) {
    (void)p;
    *(volatile int *)bad_addr = 1; /* prev_handler resets to SIG_DFL, the retry kills us */
    _exit(4);
}

Test(stack_overflow_guard, previous_handler_is_chained_and_restored) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer runtimes own SIGSEGV");
#endif
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prev_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    fix_t x;
    setup(&x, 16384);
    sigaction(SIGSEGV, NULL, &cur);
    cr_assert(cur.sa_flags & SA_SIGINFO, "ours is installed");
    char buf[64];
    int st = run_child(chain_child, NULL, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x", st);
    teardown(&x); /* last arena: the previous handler comes back */
    sigaction(SIGSEGV, NULL, &cur);
    cr_assert_eq((void *)cur.sa_handler, (void *)prev_handler);
    signal(SIGSEGV, SIG_DFL);
}

Test(stack_overflow_guard, release_is_idempotent_and_safe_when_not_registered) {
    enum { N = 65 }; /* one more than the registry holds */
    dtact__arena_config_t cfg = {.capacity = 4, .default_stack = 16384, .ncaches = 1, .guard_pages = 1};
    dtact__arena_t *a[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(dtact__arena_create(&a[i], &cfg), DTACT_OK);
    dtact__overflow_handler_release(a[0]); /* never installed */
    dtact__overflow_handler_release(NULL);
    struct sigaction before, cur;
    sigaction(SIGSEGV, NULL, &before);
    for (int i = 0; i < N - 1; i++)
        cr_assert_eq(dtact__overflow_handler_install(a[i]), DTACT_OK);
    cr_assert_eq(dtact__overflow_handler_install(a[N - 1]), DTACT_ENOMEM, "the registry is full");
    cr_assert_eq(dtact__overflow_handler_install(a[3]), DTACT_OK, "a registered arena stays registered");
    dtact__overflow_handler_release(a[N - 1]); /* its install failed: a no-op */
    dtact__overflow_handler_release(a[5]);
    dtact__overflow_handler_release(a[5]);
    cr_assert_eq(dtact__overflow_handler_install(a[N - 1]), DTACT_OK, "a released slot is reused");
    for (int i = 0; i < N; i++) {
        dtact__overflow_handler_release(a[i]);
        dtact__overflow_handler_release(a[i]);
    }
#if !defined(DTACT_ASAN) && !defined(DTACT_TSAN)
    sigaction(SIGSEGV, NULL, &cur);
    cr_assert_eq((void *)cur.sa_handler, (void *)before.sa_handler, "the last release restores the disposition");
    cr_assert_eq(cur.sa_flags & SA_SIGINFO, before.sa_flags & SA_SIGINFO);
#else
    (void)cur;
#endif
    /* installable again from scratch */
    cr_assert_eq(dtact__overflow_handler_install(a[0]), DTACT_OK);
    dtact__overflow_handler_release(a[0]);
    for (int i = 0; i < N; i++)
        dtact__arena_destroy(a[i]);
}
