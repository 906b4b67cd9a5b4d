/* Description: stack size classes round up (16 KiB .. 64 MiB, above is
 * rejected; the range is the one dtact__stack_size_ok accepts, and the 64 MiB
 * class reserves at most 64 GiB), [base, top) is usable, top is 16-byte
 * aligned and staggered, the guard page below base really is PROT_NONE (a
 * read faults, in a child),
 * stacks fall back to canaries when the guard budget runs out, reuse keeps the
 * same stack, and stacks freed above the high-water mark give their pages back. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"

TestSuite(stack_classes);

static dtact__arena_t *mk(uint32_t cap, size_t def, int guards) {
    dtact__arena_config_t cfg = {.capacity = cap, .default_stack = def, .ncaches = 1, .guard_pages = guards};
    dtact__arena_t *a = NULL;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    return a;
}

Test(stack_classes, sizes_round_up_to_a_class) {
    dtact__arena_t *a = mk(4, 100 * 1024, 1);
    cr_assert_eq(dtact__stack_class(a, 0), 2, "default 100 KiB -> 256 KiB");
    cr_assert_eq(dtact__stack_class(a, 1), 0);
    cr_assert_eq(dtact__stack_class(a, 16384), 0);
    cr_assert_eq(dtact__stack_class(a, 16385), 1);
    cr_assert_eq(dtact__stack_class(a, 65536), 1);
    cr_assert_eq(dtact__stack_class(a, 262144), 2);
    cr_assert_eq(dtact__stack_class(a, 262145), 3);
    cr_assert_eq(dtact__stack_class(a, 8u << 20), 4);
    cr_assert_eq(dtact__stack_class(a, (8u << 20) + 1), 5);
    cr_assert_eq(dtact__stack_class(a, 64u << 20), 5);
    cr_assert_eq(dtact__stack_class(a, (64u << 20) + 1), -1);
    cr_assert_eq(dtact__stack_class(a, SIZE_MAX), -1);
    size_t want[] = {16384, 65536, 262144, 1u << 20, 8u << 20, 64u << 20};
    cr_assert_eq(DTACT__STACK_NCLASSES, 6);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++)
        cr_assert_eq(dtact__stack_class_size(k), want[k]);
    cr_assert_eq(dtact__stack_class_size(-1), 0u);
    cr_assert_eq(dtact__stack_class_size(DTACT__STACK_NCLASSES), 0u);
    dtact__arena_destroy(a);
}

Test(stack_classes, one_range_for_config_and_classes) {
    cr_assert_eq(DTACT__STACK_MIN, dtact__stack_class_size(0));
    cr_assert_eq(DTACT__STACK_MAX, dtact__stack_class_size(DTACT__STACK_NCLASSES - 1));
    cr_assert_not(dtact__stack_size_ok(0));
    cr_assert_not(dtact__stack_size_ok(DTACT__STACK_MIN - 1));
    cr_assert(dtact__stack_size_ok(DTACT__STACK_MIN));
    cr_assert(dtact__stack_size_ok(DTACT__STACK_MAX));
    cr_assert_not(dtact__stack_size_ok((size_t)DTACT__STACK_MAX + 1));
    /* every size the range accepts has a class, as the arena's default too */
    dtact__arena_t *a = mk(4, DTACT__STACK_MAX, 1);
    cr_assert_eq(dtact__stack_class(a, 0), DTACT__STACK_NCLASSES - 1);
    dtact__arena_destroy(a);
    dtact__arena_config_t cfg = {.capacity = 4, .default_stack = (size_t)DTACT__STACK_MAX + 1, .ncaches = 1};
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_ECONFIG);
    cr_assert_null(a);
}

Test(stack_classes, largest_class_reservation_is_bounded) {
    /* a huge pool: the 64 MiB class still reserves at most 64 GiB */
    dtact__arena_t *a = mk(1u << 20, 0, 0);
    dtact__stack_class_t *c = &a->cls[DTACT__STACK_NCLASSES - 1];
    cr_assert_leq(c->region_len, DTACT__STACK_CLASS_BUDGET);
    cr_assert_eq(c->slots, DTACT__STACK_CLASS_BUDGET / c->slot_size);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++)
        cr_assert_leq(a->cls[k].region_len, DTACT__STACK_CLASS_BUDGET);
    dtact__arena_destroy(a);
}

Test(stack_classes, every_class_is_usable_aligned_and_staggered) {
    dtact__arena_t *a = mk(40, 0, 1);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_t *s[33];
        for (int i = 0; i < 33; i++) {
            s[i] = dtact__stack_alloc(a, 0, k);
            cr_assert_not_null(s[i]);
            cr_assert_eq(s[i]->size, dtact__stack_class_size(k));
            cr_assert_eq((int)s[i]->cls, k);
            cr_assert_eq((uintptr_t)s[i]->top % 16, 0);
            cr_assert_eq((char *)s[i]->top, (char *)s[i]->base + s[i]->size - 128 * (s[i]->id % 8));
            cr_assert(s[i]->guarded);
            cr_assert(dtact__stack_canary_ok(s[i]));
        }
        cr_assert_neq(s[0]->top, s[1]->top);
        /* the whole usable range is writable (stay off the canary word) */
        memset((char *)s[0]->base + 8, 0xab, (size_t)((char *)s[0]->top - (char *)s[0]->base) - 8);
        cr_assert(dtact__stack_canary_ok(s[0]));
        for (int i = 0; i < 33; i++)
            dtact__stack_free(a, 0, s[i]);
    }
    dtact__arena_stats_t st;
    dtact__arena_get_stats(a, &st);
    cr_assert_eq(st.stacks_guarded, DTACT__STACK_NCLASSES * 33);
    cr_assert_eq(st.stacks_canary, 0);
    cr_assert_eq(st.stacks_in_use, 0);
    cr_assert_geq(st.stacks_high_water, 33);
    dtact__arena_destroy(a);
}

static int child_status(void (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

static void read_below_base(void *p) {
    dtact__stack_t *s = p;
    volatile char c = ((volatile char *)s->base)[-1];
    (void)c;
}

Test(stack_classes, guard_page_is_prot_none) {
    dtact__arena_t *a = mk(4, 16384, 1);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    cr_assert(s->guarded);
    int st = child_status(read_below_base, s);
    cr_assert(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS),
              "reading base - 1 must fault (status %#x)", st);
    /* the base itself is readable */
    cr_assert(dtact__stack_canary_ok(s));
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);
}

Test(stack_classes, canary_only_and_budget_fallback) {
    dtact__arena_t *a = mk(8, 16384, 0);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    cr_assert_not(s->guarded);
    cr_assert_neq(s->canary, 0, "a real canary");
    cr_assert_eq(s->canary, *(uint64_t *)s->base);
    cr_assert_eq(child_status(read_below_base, s), 0, "no guard page: the slot is one RW mapping");
    dtact__stack_free(a, 0, s);
    dtact__arena_destroy(a);

    a = mk(8, 16384, 1);
    dtact__arena_set_guard_budget(a, 2);
    dtact__stack_t *v[4];
    for (int i = 0; i < 4; i++)
        v[i] = dtact__stack_alloc(a, DTACT__NO_CACHE, 0);
    cr_assert(v[0]->guarded && v[1]->guarded);
    cr_assert(!v[2]->guarded && !v[3]->guarded, "budget spent: canaries");
    cr_assert_neq(v[2]->canary, v[3]->canary, "canary depends on the address");
    dtact__arena_stats_t st;
    dtact__arena_get_stats(a, &st);
    cr_assert_eq(st.stacks_guarded, 2);
    cr_assert_eq(st.stacks_canary, 2);
    for (int i = 0; i < 4; i++)
        dtact__stack_free(a, DTACT__NO_CACHE, v[i]);
    dtact__arena_destroy(a);
}

Test(stack_classes, reuse_returns_the_same_stack) {
    dtact__arena_t *a = mk(8, 16384, 1);
    dtact__stack_t *s = dtact__stack_alloc(a, 0, 0);
    void *base = s->base;
    *((volatile uint64_t *)s->top - 1) = 7;
    dtact__stack_free(a, 0, s);
    dtact__stack_t *t = dtact__stack_alloc(a, 0, 0);
    cr_assert_eq(t, s);
    cr_assert_eq(t->base, base);
    cr_assert_eq(*((volatile uint64_t *)t->top - 1), 7, "no purge below the high-water mark");
    dtact__stack_free(a, 0, t);
    dtact__arena_destroy(a);
}

static int resident(void *p) {
    unsigned char v = 0;
    void *pg = (void *)((uintptr_t)p & ~(uintptr_t)4095);
    cr_assert_eq(mincore(pg, 4096, &v), 0);
    return v & 1;
}

Test(stack_classes, stacks_above_high_water_are_purged_at_idle_time_after_a_quiet_second) {
    enum { N = DTACT__STACK_HWM + 64 };
    dtact__arena_t *a = mk(N, 65536, 0);
    static dtact__stack_t *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = dtact__stack_alloc(a, DTACT__NO_CACHE, 1);
        cr_assert_not_null(s[i]);
        memset((char *)s[i]->base + 8, 1, 8192); /* two low pages */
        *((volatile uint64_t *)s[i]->top - 1) = 9;
    }
    for (int i = 0; i < N; i++)
        dtact__stack_free(a, DTACT__NO_CACHE, s[i]);
    /* Nothing is purged on the free path. */
    cr_assert(resident((char *)s[N - 1]->base + 4096), "not purged on free");
    /* A trim while demand is recent does nothing and names when to retry. */
    uint64_t now = dtact_now_ns();
    uint64_t again = dtact__stack_trim(a, now, 1000);
    cr_assert_gt(again, now, "retry later");
    cr_assert(resident((char *)s[N - 1]->base + 4096));
    /* After a quiet second the surplus goes (whole stacks), HWM stacks stay. */
    cr_assert_eq(dtact__stack_trim(a, now + 2000000000ull, 1000), 0);
    int purged = 0, kept = 0;
    for (int i = 0; i < N; i++) {
        if (resident((char *)s[i]->base + 4096)) kept++;
        else {
            purged++;
            cr_assert_not(resident((char *)s[i]->top - 8), "the whole stack is purged");
        }
    }
    cr_assert_geq(purged, 64 - 16, "purged %d", purged); /* batch granularity: 16 */
    cr_assert_geq(kept, DTACT__STACK_HWM - 16, "kept %d", kept);
    for (int i = 0; i < N; i++) {
        dtact__stack_t *t = dtact__stack_alloc(a, DTACT__NO_CACHE, 1);
        cr_assert(dtact__stack_canary_ok(t), "canary rewritten after a purge");
        s[i] = t;
    }
    for (int i = 0; i < N; i++)
        dtact__stack_free(a, DTACT__NO_CACHE, s[i]);
    dtact__arena_destroy(a);
}
