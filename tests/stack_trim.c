/* tests/stack_trim.c -- free stacks are purged at idle time, not on the free
 * path: after a burst of 12k live fibers ends, the surplus of free stacks
 * (beyond the 4096 kept resident) stays resident while more bursts may come,
 * and its pages go back to the OS once the runtime has been idle for about a
 * second. Skipped under ASan/TSan (shadow memory inflates RSS).
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtact.h"
#include "rt_util.h"

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) sscanf(line + 6, "%ld", &v);
    if (f) fclose(f);
    return v;
}

#define BURST 12000
static atomic_int finished;

static void sleeper(void *arg) {
    (void)arg;
    volatile char frame[6000]; /* touch a second page of the 16 KiB stack */
    frame[0] = 1;
    frame[sizeof frame - 1] = 1;
    dtact_sleep_ns(600000000); /* all BURST fibers are live at once */
    atomic_fetch_add(&finished, 1);
}

static void burst(void) {
    atomic_store(&finished, 0);
    dtact_spawn_options_t o = dtact_default_spawn_options();
    for (int i = 0; i < BURST; i++)
        cr_assert(dtact_fiber_launch_ext(sleeper, NULL, &o));
    while (atomic_load(&finished) < BURST)
        dtact_sleep_ns(5000000);
}

Test(stack_trim, surplus_free_stacks_are_purged_after_a_quiet_second) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizer shadow memory inflates RSS");
#endif
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = BURST + 1024;
    cfg.mStackSize = 16 * 1024;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    long before = rss_kib();
    burst();
    dtact_sleep_ns(200000000);
    long after_burst = rss_kib();
    /* A second burst right away: no purge in between (demand is recent). */
    burst();
    long after_second = rss_kib();
    /* Idle for a while: the surplus (about 8k stacks, 8 KiB touched each) goes. */
    long now = after_second;
    for (int i = 0; i < 60 && now >= after_second - 24 * 1024; i++) {
        dtact_sleep_ns(100000000);
        now = rss_kib();
        if (getenv("TRIM_DEBUG")) fprintf(stderr, "idle %d: %ld KiB\n", i, now);
    }
    cr_log_info("RSS KiB: before %ld, after burst %ld, after second burst %ld, idle %ld", before, after_burst,
                after_second, now);
    cr_assert_gt(after_burst - before, 40 * 1024, "the burst's stacks were not resident (%ld KiB)",
                 after_burst - before);
    cr_assert_lt(now, after_second - 24 * 1024, "idle did not return the surplus stacks: %ld -> %ld KiB", after_second,
                 now);
    rt_down(rt);
}
