/* Description: every public call rejects invalid input with its documented
 * error code (no crash, no abort): before init, bad configuration, bad
 * options, NULL functions, invalid or forged handles, wrong context. */
#include <string.h>

#include "rt_util.h"

static void noop(void *arg) { (void)arg; }
static void *noop_r(void *arg) { return arg; }

Test(api_invalid, before_init) {
    cr_assert_eq(dtact_fiber_launch(noop, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_ENOTINIT);
    dtact_handle_t h;
    cr_assert_eq(dtact_spawn(&h, noop_r, NULL, NULL), DTACT_ENOTINIT);
    cr_assert_eq(dtact_await(1ull << 63), DTACT_ENOTINIT);
    cr_assert_eq(dtact_join(1ull << 63, 0, NULL), DTACT_ENOTINIT);
    cr_assert_eq(dtact_detach(1ull << 63), DTACT_ENOTINIT);
    cr_assert_eq(dtact_unpark(1ull << 63), DTACT_ENOTINIT);
    cr_assert_eq(dtact_run(NULL), DTACT_ENOTINIT);
    cr_assert_eq(dtact_start(NULL), DTACT_ENOTINIT);
    cr_assert_eq(dtact_shutdown(), DTACT_ENOTINIT);
    cr_assert_eq(dtact_destroy(NULL), DTACT_ENOTINIT);
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(NULL, &st), DTACT_ENOTINIT);
    cr_assert_eq(dtact_yield(), DTACT_EPERM);
    cr_assert_eq(dtact_park(0), DTACT_EPERM);
    cr_assert_eq(dtact_self(), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_current_worker(), -1);
}

Test(api_invalid, bad_config) {
    /* Only what cannot work is rejected; what the original accepted is
     * adjusted with a warning (tests/config_compat.c). */
    dtact_config_t c;
    dtact_warning_fn old = dtact_set_warning_handler(NULL, NULL);
    c = dtact_default_config();
    c.mStackSize = 0x7fffffff;
    cr_assert_null(dtact_init(&c));
    cr_assert_eq(dtact_last_error(), DTACT_ECONFIG);
    c = dtact_default_config();
    c.mStackSize = 64u * 1024 * 1024 + 4096;
    cr_assert_null(dtact_init(&c));
    cr_assert_eq(dtact_last_error(), DTACT_ECONFIG);
    dtact_set_warning_handler(old, NULL);
    /* Nothing was left behind: a good config still works. */
    void *rt = dtact_init(NULL);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

Test(api_invalid, double_init_and_run) {
    void *rt = rt_up(2, 128);
    cr_assert_null(dtact_init(NULL));
    cr_assert_eq(dtact_last_error(), DTACT_EALREADY);
    cr_assert_eq(dtact_start(rt), DTACT_EALREADY);
    cr_assert_eq(dtact_run(rt), DTACT_EALREADY);
    int x;
    cr_assert_eq(dtact_run(&x), DTACT_EINVAL);
    cr_assert_eq(dtact_destroy(&x), DTACT_EINVAL);
    rt_down(rt);
    /* after destroy, init works again */
    rt = rt_up(1, 16);
    rt_down(rt);
}

Test(api_invalid, launch_arguments) {
    void *rt = rt_up(2, 128);
    cr_assert_eq(dtact_fiber_launch(NULL, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_ENULLFN);
    dtact_spawn_options_t o = dtact_default_spawn_options();
    cr_assert_eq(o.mPriority, DTACT_PRIORITY_NORMAL);
    cr_assert_eq(o.mAffinity, DTACT_AFFINITY_ANY);
    o.mSwitcher = 4;
    cr_assert_eq(dtact_fiber_launch_ext(noop, NULL, &o), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    o = dtact_default_spawn_options();
    o.mPriority = 9;
    cr_assert_eq(dtact_fiber_launch_with_cleanup_ext(noop, NULL, noop, &o), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_EINVAL);
    o = dtact_default_spawn_options();
    o.mAffinity = 4;
    cr_assert_eq(dtact_fiber_launch_ext(noop, NULL, &o), DTACT_INVALID_HANDLE);
    o = dtact_default_spawn_options();
    o.mKind = 200;
    cr_assert_eq(dtact_fiber_launch_ext(noop, NULL, &o), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_spawn(NULL, noop_r, NULL, NULL), DTACT_EINVAL);
    dtact_handle_t h;
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = 0x80;
    cr_assert_eq(dtact_spawn(&h, noop_r, NULL, &a), DTACT_EINVAL);
    dtact_spawn_attr_init(&a);
    a.stack_size = 0x7fffffff;
    cr_assert_eq(dtact_spawn(&h, noop_r, NULL, &a), DTACT_EINVAL);
    dtact_spawn_attr_init(&a);
    a.reserved = 1;
    cr_assert_eq(dtact_spawn(&h, noop_r, NULL, &a), DTACT_EINVAL);
    char big[16];
    cr_assert_eq(dtact_spawn_inline(&h, noop_r, big, 0, 8, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_spawn_inline(&h, noop_r, big, sizeof big, 3, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_spawn_inline(&h, noop_r, big, DTACT_INLINE_MAX + 1, 8, NULL), DTACT_EINVAL);
    cr_assert_eq(dtact_spawn_inline(&h, noop_r, NULL, 8, 8, NULL), DTACT_EINVAL);
    rt_down(rt);
}

Test(api_invalid, handles) {
    void *rt = rt_up(2, 128);
    cr_assert_eq(dtact_await(0), DTACT_EHANDLE);                   /* handle 0 */
    cr_assert_eq(dtact_await(12345), DTACT_EHANDLE);               /* valid bit clear */
    cr_assert_eq(dtact_await((1ull << 63) | 5000), DTACT_EHANDLE); /* out of range */
    cr_assert_eq(dtact_await((1ull << 63) | 100), DTACT_EHANDLE);  /* never issued */
    dtact_handle_t h = dtact_fiber_launch(noop, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    dtact_handle_t forged = h + (100ull << 24); /* generation far ahead of the slot's */
    cr_assert_eq(dtact_await(forged), DTACT_EHANDLE);
    cr_assert_eq(dtact_join(forged, 0, NULL), DTACT_EHANDLE);
    cr_assert_eq(dtact_unpark(forged), DTACT_EHANDLE);
    cr_assert_eq(dtact_is_finished(forged), DTACT_EHANDLE);
    /* stale (finished and recycled): await returns at once, join says ESTALE */
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(dtact_is_finished(h), 1);
    cr_assert_eq(dtact_join(h, -1, NULL), DTACT_ESTALE);
    cr_assert_eq(dtact_detach(h), DTACT_ESTALE);
    cr_assert_eq(dtact_unpark(h), DTACT_OK); /* a late wake-up is harmless */
    rt_down(rt);
}

Test(api_invalid, strerror_covers_every_code) {
    const char *seen[32] = {0};
    for (int c = DTACT_ERR_MIN; c <= 0; c++) {
        const char *m = dtact_strerror(c);
        cr_assert_not_null(m);
        cr_assert_neq(strcmp(m, "unknown dtact error code"), 0, "code %d has no message", c);
        for (int k = 0; k < -DTACT_ERR_MIN + 1; k++)
            if (seen[k]) cr_assert_neq(strcmp(seen[k], m), 0, "two codes share a message");
        seen[-c] = m;
    }
    cr_assert_str_eq(dtact_strerror(-999), "unknown dtact error code");
    cr_assert_eq(dtact_version(), (uint32_t)DTACT_VERSION_HEX);
}

static dtact_handle_t self_h;
static int self_rc;
static void await_self(void *arg) {
    (void)arg;
    self_h = dtact_self();
    self_rc = dtact_await(self_h);
}

Test(api_invalid, await_self_is_an_error) {
    void *rt = rt_up(2, 128);
    run_root(await_self, NULL);
    cr_assert_eq(self_rc, DTACT_EDEADLK);
    rt_down(rt);
}

static int run_in_fiber_rc, destroy_in_fiber_rc;
static void run_from_fiber(void *rt) {
    run_in_fiber_rc = dtact_run(rt);
    destroy_in_fiber_rc = dtact_destroy(rt);
}

Test(api_invalid, run_and_destroy_from_a_fiber) {
    void *rt = dtact_init(NULL);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    run_root(run_from_fiber, rt);
    cr_assert_eq(run_in_fiber_rc, DTACT_EPERM);
    cr_assert_eq(destroy_in_fiber_rc, DTACT_EPERM);
    rt_down(rt);
}

Test(api_invalid, after_shutdown) {
    void *rt = rt_up(2, 128);
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_shutdown(), DTACT_OK); /* idempotent */
    cr_assert_eq(dtact_fiber_launch(noop, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_ESHUTDOWN);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(dtact_fiber_launch(noop, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_last_error(), DTACT_ENOTINIT);
}

Test(api_invalid, host_await_before_start) {
    void *rt = dtact_init(NULL);
    dtact_handle_t h = dtact_fiber_launch(noop, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(h), DTACT_ENOTRUNNING);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    rt_down(rt);
}

Test(api_invalid, original_config_layout_and_positional_init) {
    /* A program written for the header of the original Dtact (0.2.x, the earlier
     * Rust implementation whose C API this project keeps) may initialise
     * positionally. */
    dtact_config_t c = {2, 1, 0, 0, 1024, 65536};
    cr_assert_eq(sizeof c, 16);
    cr_assert_eq(sizeof(dtact_spawn_options_t), 4);
    cr_assert_eq(c.mFiberCapacity, 1024);
    cr_assert_eq(c.mStackSize, 65536);
    void *rt = dtact_init(&c);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}
