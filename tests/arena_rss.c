/* Description: memory follows use. An arena for 100k fibers with 256 KiB
 * stacks costs < 16 MiB RSS right after creation, and an allocated stack with
 * one page touched costs <= 8 KiB RSS (guarded stacks: about 4 KiB + 64 B),
 * and canary checks of guarded stacks add nothing. Skipped under ASan/TSan (shadow memory
 * inflates RSS). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"

TestSuite(arena_rss);

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) sscanf(line + 6, "%ld", &v);
    if (f) fclose(f);
    return v;
}

static void skip_under_sanitizers(void) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizer shadow memory inflates RSS");
#endif
}

Test(arena_rss, create_100k_fibers_256k_stacks_under_16_mib) {
    skip_under_sanitizers();
    dtact__arena_config_t cfg = {.capacity = 100000, .default_stack = 256 * 1024, .ncaches = 64, .guard_pages = 1};
    dtact__arena_t *a;
    long before = rss_kib();
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    long after = rss_kib();
    cr_log_info("arena create: RSS %ld KiB -> %ld KiB (+%ld KiB)", before, after, after - before);
    fprintf(stderr, "arena_rss: create(100k, 256 KiB): +%ld KiB RSS\n", after - before);
    cr_assert_lt(after - before, 16 * 1024);
    dtact__arena_destroy(a);
}

Test(arena_rss, touched_stack_costs_at_most_8_kib) {
    skip_under_sanitizers();
    enum { N = 1000 };
    dtact__arena_config_t cfg = {.capacity = 2 * N, .default_stack = 256 * 1024, .ncaches = 1, .guard_pages = 1};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    static dtact__stack_t *s[N];
    long before = rss_kib();
    for (int i = 0; i < N; i++) {
        s[i] = dtact__stack_alloc(a, i % 2 ? 0 : DTACT__NO_CACHE, dtact__stack_class(a, 0));
        cr_assert_not_null(s[i]);
        cr_assert(s[i]->guarded);
        *((volatile uint64_t *)s[i]->top - 2) = 42;
    }
    long after = rss_kib();
    double per = (double)(after - before) * 1024.0 / N;
    cr_log_info("%d stacks: +%ld KiB RSS, %.0f bytes each", N, after - before, per);
    fprintf(stderr, "arena_rss: %d touched 256 KiB stacks: %.0f bytes RSS each\n", N, per);
    cr_assert_leq(per, 8192.0);
    /* The scheduler checks the canary after every switch. A guarded stack's
     * check reads its descriptor, not the stack: it must not fault in the
     * base page (on kernels without a shared zero page, e.g. VM sandboxes, a
     * mere read of it would cost a page). */
    for (int i = 0; i < N; i++)
        cr_assert(dtact__stack_canary_ok(s[i]));
    long checked = rss_kib();
    fprintf(stderr, "arena_rss: after one canary check each: %.0f bytes RSS each\n",
            (double)(checked - before) * 1024.0 / N);
    cr_assert_lt(checked - after, N * 4 / 10, "the checks touched %ld KiB", checked - after);
    for (int i = 0; i < N; i++)
        dtact__stack_free(a, i % 2 ? 0 : DTACT__NO_CACHE, s[i]);
    dtact__arena_destroy(a);
}
