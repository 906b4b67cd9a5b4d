/* Description: a full record pool and a full stack class return NULL, and
 * allocation works again after some are freed (through a cache and through
 * DTACT__NO_CACHE). */
#include <criterion/criterion.h>
#include <stdint.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"

TestSuite(arena_exhaustion);

static void records(uint32_t cache) {
    enum { CAP = 8 };
    dtact__arena_config_t cfg = {.capacity = CAP, .default_stack = 16384, .ncaches = 1, .guard_pages = 1};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    dtact__fiber_t *f[CAP];
    for (int i = 0; i < CAP; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, cache));
    cr_assert_null(dtact__fiber_alloc(a, cache));
    cr_assert_null(dtact__fiber_alloc(a, cache), "still exhausted");
    for (int i = 0; i < 3; i++)
        dtact__fiber_free(a, cache, f[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(f[i] = dtact__fiber_alloc(a, cache));
    cr_assert_null(dtact__fiber_alloc(a, cache));
    dtact__arena_stats_t st;
    dtact__arena_get_stats(a, &st);
    cr_assert_eq(st.contexts_in_use, CAP);
    cr_assert_eq(st.contexts_high_water, CAP);
    for (int i = 0; i < CAP; i++)
        dtact__fiber_free(a, cache, f[i]);
    dtact__arena_get_stats(a, &st);
    cr_assert_eq(st.contexts_in_use, 0u);
    dtact__arena_counts_t c;
    cr_assert(dtact__arena_is_valid(a, &c));
    dtact__arena_destroy(a);
}

Test(arena_exhaustion, records_through_a_cache) { records(0); }
Test(arena_exhaustion, records_through_no_cache) { records(DTACT__NO_CACHE); }

static void stacks(uint32_t cache, int cls) {
    enum { CAP = 8 };
    dtact__arena_config_t cfg = {.capacity = CAP, .default_stack = 65536, .ncaches = 1, .guard_pages = 1};
    dtact__arena_t *a;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    dtact__stack_t *s[CAP];
    for (int i = 0; i < CAP; i++)
        cr_assert_not_null(s[i] = dtact__stack_alloc(a, cache, cls));
    cr_assert_null(dtact__stack_alloc(a, cache, cls));
    cr_assert_not_null(dtact__stack_alloc(a, cache, cls == 0 ? 1 : 0), "other classes are separate");
    for (int i = 0; i < 2; i++)
        dtact__stack_free(a, cache, s[i]);
    for (int i = 0; i < 2; i++)
        cr_assert_not_null(s[i] = dtact__stack_alloc(a, cache, cls));
    cr_assert_null(dtact__stack_alloc(a, cache, cls));
    cr_assert_null(dtact__stack_alloc(a, cache, -1));
    cr_assert_null(dtact__stack_alloc(a, cache, DTACT__STACK_NCLASSES));
    for (int i = 0; i < CAP; i++)
        dtact__stack_free(a, cache, s[i]);
    dtact__arena_destroy(a); /* the other-class stack is reclaimed by destroy */
}

Test(arena_exhaustion, stack_class_through_a_cache) { stacks(0, 1); }
Test(arena_exhaustion, stack_class_through_no_cache) { stacks(DTACT__NO_CACHE, 3); }
