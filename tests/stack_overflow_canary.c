/* Description: a destroyed canary is detected by dtact__stack_canary_ok and
 * dtact__stack_overflow_abort stops the program with "dtact: stack overflow in
 * fiber 0x<handle> (stack <size> bytes, canary destroyed)" (or "unknown fiber"
 * when no fiber owns the stack) and SIGABRT. A guarded stack has no canary on
 * the stack: its check reads the descriptor and never touches the base page
 * (the guard below catches an overflow). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "arena_internal.h"
#include "child_capture.h"
#include "dtact.h"

TestSuite(stack_overflow_canary);


static void check_and_abort(void *p) {
    dtact__stack_t *s = p;
    if (!dtact__stack_canary_ok(s)) dtact__stack_overflow_abort(s, "canary destroyed");
    _exit(5);
}

static void canary_case(int with_owner) {
    const int guards = 0;
    dtact__arena_config_t cfg = {.capacity = 4, .default_stack = 16384, .ncaches = 1, .guard_pages = guards};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    cr_assert_eq(dtact__overflow_handler_install(a), DTACT_OK);
    dtact__fiber_t *f = dtact__fiber_alloc(a, 0);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    cr_assert_eq(s->guarded, guards);
    s->owner = with_owner ? f : NULL;
    cr_assert(dtact__stack_canary_ok(s));
    *(volatile uint64_t *)s->base = 0x4141414141414141ull; /* a deep frame wrote here */
    cr_assert_not(dtact__stack_canary_ok(s));
    char buf[512], want[160];
    if (with_owner)
        snprintf(want, sizeof want,
                 "dtact: stack overflow in fiber 0x%" PRIx64 " (stack 16384 bytes, canary destroyed)\n",
                 dtact__handle_make(f->index, DTACT__SG_GEN(atomic_load(&f->sg))));
    else snprintf(want, sizeof want, "dtact: stack overflow in unknown fiber (stack 16384 bytes, canary destroyed)\n");
    int st = run_child(check_and_abort, s, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    cr_assert(strstr(buf, "stack overflow in") != NULL, "stderr: %s", buf);
    cr_assert(strstr(buf, want) != NULL, "want \"%s\" in: %s", want, buf);
    *(volatile uint64_t *)s->base = s->canary;
    dtact__stack_free(a, 0, s);
    dtact__fiber_free(a, 0, f);
    dtact__overflow_handler_release(a);
    dtact__arena_destroy(a);
}

Test(stack_overflow_canary, canary_stack_reports_the_fiber) { canary_case(1); }
Test(stack_overflow_canary, ownerless_stack_reports_unknown_fiber) { canary_case(0); }

Test(stack_overflow_canary, a_guarded_stack_check_leaves_the_stack_alone) {
    dtact__arena_config_t cfg = {.capacity = 4, .default_stack = 16384, .ncaches = 1, .guard_pages = 1};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    cr_assert(s->guarded);
    cr_assert_eq((const void *)s->canary_at, (const void *)&s->canary, "the check reads the descriptor");
    cr_assert(dtact__stack_canary_ok(s));
#if !defined(DTACT_ASAN) && !defined(DTACT_TSAN)
    /* the base page was never touched: allocation and checks left it out of memory */
    unsigned char v = 1;
    cr_assert_eq(mincore((void *)((uintptr_t)s->base & ~(uintptr_t)4095), 4096, &v), 0);
    cr_assert_eq(v & 1, 0, "the base page of a guarded stack is not resident");
#endif
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);
}
