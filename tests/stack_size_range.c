/* Description: the public API accepts every stack size up to 64 MiB and
 * rejects one byte more: a fiber spawned with attr.stack_size just above
 * 8 MiB, and one with 64 MiB, run and really have that much stack (each
 * touches every page of a buffer larger than the class below its own);
 * stack_size 64 MiB + 1 is DTACT_EINVAL; mStackSize 64 MiB is accepted as the
 * runtime's default and 64 MiB + 1 is DTACT_ECONFIG. */
#include <string.h>

#include "rt_util.h"

#define MIB (1024u * 1024u)

/* Touches every page of an alloca'd buffer of *arg bytes; returns the sum of
 * what it wrote, read back (so nothing is optimised away). */
static void *deep(void *arg) {
    size_t n = *(size_t *)arg;
    volatile unsigned char *b = __builtin_alloca(n);
    for (size_t i = 0; i < n; i += 4096)
        b[i] = (unsigned char)(i >> 12);
    size_t sum = 0;
    for (size_t i = 0; i < n; i += 4096)
        sum += b[i];
    return (void *)sum;
}

static size_t expect_sum(size_t n) {
    size_t sum = 0;
    for (size_t i = 0; i < n; i += 4096)
        sum += (unsigned char)(i >> 12);
    return sum;
}

/* Spawns deep(use) with the given stack size, joins it, checks its result. */
static void spawn_and_use(uint32_t stack_size, size_t use) {
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    a.stack_size = stack_size;
    dtact_handle_t h;
    cr_assert_eq(dtact_spawn(&h, deep, &use, &a), DTACT_OK, "stack_size %u", stack_size);
    void *r = NULL;
    cr_assert_eq(dtact_join(h, -1, &r), DTACT_OK);
    cr_assert_eq((size_t)r, expect_sum(use), "stack_size %u", stack_size);
}

Test(stack_size_range, just_above_8_mib_runs_with_more_than_8_mib) {
    void *rt = rt_up(2, 64);
    spawn_and_use(8 * MIB + 1, 8 * MIB + 512 * 1024);
    rt_down(rt);
}

Test(stack_size_range, max_64_mib_runs_with_almost_64_mib) {
    void *rt = rt_up(2, 64);
    spawn_and_use(64 * MIB, 63 * MIB);
    rt_down(rt);
}

Test(stack_size_range, one_byte_over_64_mib_is_einval) {
    void *rt = rt_up(2, 64);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.stack_size = 64 * MIB + 1;
    dtact_handle_t h = DTACT_INVALID_HANDLE;
    size_t use = 4096;
    cr_assert_eq(dtact_spawn(&h, deep, &use, &a), DTACT_EINVAL);
    /* the runtime is unaffected: the largest size still works */
    spawn_and_use(64 * MIB, 4096);
    rt_down(rt);
}

Test(stack_size_range, config_default_of_64_mib) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 64 * MIB + 1;
    cr_assert_null(dtact_init(&cfg));
    cr_assert_eq(dtact_last_error(), DTACT_ECONFIG);
    cfg.mStackSize = 64 * MIB;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    spawn_and_use(0, 40 * MIB); /* the default class is the 64 MiB one */
    rt_down(rt);
}
