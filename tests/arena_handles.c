/* Description: fiber handles are classified exactly: live and stale handles
 * resolve (the caller compares generations), forged (generation ahead), out of
 * range, never carved, 0 and bit-63-clear handles are DTACT_EHANDLE; records
 * are 128-byte, line-aligned, start at generation 1 and free bumps it. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "arena_internal.h"
#include "dtact.h"

static dtact__arena_t *mk(uint32_t cap, uint32_t ncaches) {
    dtact__arena_config_t cfg = {.capacity = cap, .default_stack = 16384, .ncaches = ncaches, .guard_pages = 1};
    dtact__arena_t *a = NULL;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    return a;
}

static uint64_t handle_of(dtact__fiber_t *f) {
    return dtact__handle_make(f->index, DTACT__SG_GEN(atomic_load(&f->sg)));
}

TestSuite(arena_handles);

Test(arena_handles, fresh_records_have_generation_one_and_free_bumps_it) {
    dtact__arena_t *a = mk(16, 1);
    dtact__fiber_t *f = dtact__fiber_alloc(a, 0);
    cr_assert_not_null(f);
    cr_assert_eq(atomic_load(&f->sg), DTACT__SG(1, DTACT__ST_FREE));
    cr_assert_eq((uintptr_t)f % 64, 0, "records are cache-line aligned");
    cr_assert_eq(dtact__fiber_at(a, f->index), f);
    dtact__fiber_free(a, 0, f);
    cr_assert_eq(atomic_load(&f->sg), DTACT__SG(2, DTACT__ST_FREE));
    dtact__fiber_t *g = dtact__fiber_alloc(a, 0);
    cr_assert_eq(g, f, "the cache is LIFO");
    cr_assert_eq(DTACT__SG_GEN(atomic_load(&g->sg)), 2);
    dtact__fiber_free(a, 0, g);
    dtact__arena_destroy(a);
}

Test(arena_handles, live_and_stale_handles_resolve) {
    dtact__arena_t *a = mk(16, 1);
    dtact__fiber_t *f = dtact__fiber_alloc(a, 0), *out = NULL;
    uint64_t h = handle_of(f);
    cr_assert_eq(dtact__fiber_lookup(a, h, &out), DTACT_OK);
    cr_assert_eq(out, f);
    dtact__fiber_free(a, 0, f);
    out = NULL;
    cr_assert_eq(dtact__fiber_lookup(a, h, &out), DTACT_OK, "stale: resolved, caller compares gen");
    cr_assert_eq(out, f);
    cr_assert_neq(DTACT__SG_GEN(atomic_load(&out->sg)), dtact__handle_gen(h));
    dtact__arena_destroy(a);
}

Test(arena_handles, forged_out_of_range_uncarved_and_malformed_are_rejected) {
    dtact__arena_t *a = mk(1000, 1);
    dtact__fiber_t *f = dtact__fiber_alloc(a, 0), *out = (dtact__fiber_t *)0x1;
    uint64_t gen = DTACT__SG_GEN(atomic_load(&f->sg));
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(f->index, gen + 1), &out), DTACT_EHANDLE, "forged");
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(1000, 1), &out), DTACT_EHANDLE, "index == capacity");
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(DTACT__MAX_CAPACITY, 1), &out), DTACT_EHANDLE);
    uint32_t carved = dtact__arena_carved(a);
    cr_assert_lt(carved, 1000u, "carving is lazy (one batch)");
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(carved, 1), &out), DTACT_EHANDLE, "never carved");
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(999, 1), &out), DTACT_EHANDLE, "never carved");
    cr_assert_eq(dtact__fiber_lookup(a, 0, &out), DTACT_EHANDLE, "handle 0");
    cr_assert_eq(dtact__fiber_lookup(a, dtact__handle_make(f->index, gen) & ~DTACT__HANDLE_VALID, &out), DTACT_EHANDLE,
                 "bit 63 clear");
    cr_assert_eq(out, (dtact__fiber_t *)0x1, "*out untouched on error");
    dtact__fiber_free(a, 0, f);
    dtact__arena_destroy(a);
}

Test(arena_handles, generation_survives_many_recycles) {
    dtact__arena_t *a = mk(4, 0);
    uint64_t last = 0;
    for (int i = 0; i < 1000; i++) {
        dtact__fiber_t *f = dtact__fiber_alloc(a, DTACT__NO_CACHE), *out;
        uint64_t h = handle_of(f);
        cr_assert_eq(dtact__fiber_lookup(a, h, &out), DTACT_OK);
        if (f->index == 0) {
            cr_assert_gt(dtact__handle_gen(h), last);
            last = dtact__handle_gen(h);
        }
        dtact__fiber_free(a, DTACT__NO_CACHE, f);
    }
    cr_assert_eq(dtact__arena_carved(a), 1u, "one record recycled through the shared list");
    cr_assert_eq(last, 1000u);
    dtact__arena_destroy(a);
}

Test(arena_handles, bad_configs_are_rejected) {
    dtact__arena_t *a = (dtact__arena_t *)0x1;
    dtact__arena_config_t cfg = {.capacity = 0, .default_stack = 0, .ncaches = 1, .guard_pages = 1};
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_ECONFIG);
    cr_assert_null(a);
    cfg.capacity = DTACT__MAX_CAPACITY + 1;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_ECONFIG);
    cfg.capacity = 8;
    cfg.default_stack = (size_t)DTACT__STACK_MAX + 1;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_ECONFIG);
    cr_assert_eq(dtact__arena_create(&a, NULL), DTACT_ECONFIG);
    cfg.default_stack = 0;
    cr_assert_eq(dtact__arena_create(&a, &cfg), DTACT_OK);
    cr_assert_eq(dtact__stack_class(a, 0), 2, "default stack 0 means 256 KiB");
    dtact__arena_destroy(a);
}

static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f) fclose(f);
    return n;
}

Test(arena_handles, destroy_unmaps_exactly_what_create_mapped) {
#if defined(DTACT_TSAN) || defined(DTACT_ASAN)
    cr_skip_test("the sanitizer runtime maps shadow and allocator memory on its own, so the count of maps moves");
#endif
    int before = count_maps();
    dtact__arena_t *a = mk(64, 2);
    cr_assert_eq(dtact__overflow_handler_install(a), DTACT_OK);
    dtact__stack_t *s[10];
    for (int i = 0; i < 10; i++)
        s[i] = dtact__stack_alloc(a, 0, i % DTACT__STACK_NCLASSES);
    cr_assert_gt(count_maps(), before);
    for (int i = 0; i < 10; i++)
        dtact__stack_free(a, 0, s[i]);
    dtact__overflow_handler_release(a);
    dtact__arena_destroy(a);
    cr_assert_eq(count_maps(), before, "every mapping (and split) is gone");
}
