/* Description: configurations the original Dtact accepted run here too: a
 * stack below 16 KiB is rounded up, a safety level above 2 acts as 1, a
 * topology mode above 1 acts as 0, a NUMA node is ignored, huge worker counts
 * and capacities are clamped, each with a documented warning through the
 * warning handler; only a stack above 64 MiB is rejected. dtact_run(NULL) and
 * dtact_destroy(NULL) mean "the runtime", as the original's argument was
 * ignored. */
#include <string.h>

#include "rt_util.h"

static int warnings[3];
static char last[256];

static void on_warning(int code, const char *message, void *user) {
    cr_assert_eq(user, (void *)warnings);
    cr_assert(code == DTACT_WARN_CONFIG_ADJUSTED || code == DTACT_WARN_CONFIG_IGNORED);
    warnings[code]++;
    strncpy(last, message, sizeof last - 1);
}

static atomic_int ran;
static void child(void *arg) {
    (void)arg;
    char buf[4096]; /* touches a page below the top: the stack is really 16 KiB */
    memset(buf, 1, sizeof buf);
    __asm__ __volatile__("" ::"r"(buf) : "memory");
    atomic_fetch_add(&ran, 1);
}

static void master(void *arg) {
    (void)arg;
    dtact_handle_t h[8];
    for (int i = 0; i < 8; i++)
        h[i] = dtact_fiber_launch(child, NULL);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    dtact_shutdown();
}

TestSuite(config_compat, .fini = dtact_reset_warning_handler);

Test(config_compat, the_originals_values_run_with_warnings) {
    memset(warnings, 0, sizeof warnings);
    dtact_set_warning_handler(on_warning, warnings);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mStackSize = 8192;
    cfg.mNuma = 1;
    cfg.mSafetyLevel = 7;
    cfg.mTopologyMode = 9;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(warnings[DTACT_WARN_CONFIG_ADJUSTED], 3, "stack, safety level, topology");
    cr_assert_eq(warnings[DTACT_WARN_CONFIG_IGNORED], 1, "numa");
    atomic_store(&ran, 0);
    cr_assert_neq(dtact_fiber_launch(master, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_run(NULL), DTACT_OK, "dtact_run(NULL) runs the runtime");
    cr_assert_eq(atomic_load(&ran), 8);
    cr_assert_eq(dtact_destroy(NULL), DTACT_OK);
    cr_assert_eq(dtact_destroy(NULL), DTACT_ENOTINIT);
}

Test(config_compat, huge_counts_are_clamped) {
    memset(warnings, 0, sizeof warnings);
    dtact_set_warning_handler(on_warning, warnings);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 5000;
    cfg.mFiberCapacity = 0xffffffffu;
    cfg.mStackSize = 16 * 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "dtact_init: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(warnings[DTACT_WARN_CONFIG_ADJUSTED], 2, "workers and capacity");
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_eq(st.workers, 1024u);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

Test(config_compat, only_a_stack_above_64_mib_is_rejected) {
    dtact_set_warning_handler(NULL, NULL);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 64u * 1024 * 1024 + 1;
    cr_assert_null(dtact_init(&cfg));
    cr_assert_eq(dtact_last_error(), DTACT_ECONFIG);
    cfg.mStackSize = 64u * 1024 * 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt, "64 MiB is in range: %s", dtact_strerror(dtact_last_error()));
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

Test(config_compat, the_default_handler_can_be_replaced_and_restored) {
    dtact_warning_fn old = dtact_set_warning_handler(on_warning, warnings);
    cr_assert_not_null(old, "a default handler is installed");
    cr_assert_eq(dtact_set_warning_handler(old, NULL), on_warning);
    dtact_reset_warning_handler();
}
