/* Description: an idle runtime parks its workers (CPU time over one second
 * stays under 5% of a core), and late or duplicate wake-ups of finished and
 * recycled fibers are harmless (the original Dtact -- 0.2.x, the earlier Rust
 * implementation whose C API this project keeps -- aborted on them). */
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include "rt_util.h"

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void work(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++)
        dtact_yield();
}

Test(idle, idle_runtime_parks) {
    void *rt = rt_up(2, 256);
    run_root(work, NULL);      /* the workers have run something, then go idle */
    dtact_sleep_ns(100000000); /* let them finish spinning and park */
    double c0 = cpu_seconds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dtact_sleep_ns(1000000000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double used = cpu_seconds() - c0;
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(used, 0.05 * wall, "idle runtime used %.3f s of CPU in %.3f s", used, wall);
    dtact_stats_t st;
    dtact_get_stats(rt, &st);
    cr_assert_gt(st.parks, 0);
    rt_down(rt);
}

static atomic_int stop_waking;
static _Atomic dtact_handle_t recent[64];
static atomic_uint recent_n;

static void *late_waker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_waking)) {
        unsigned n = atomic_load(&recent_n);
        for (unsigned i = 0; i < 64 && i < n; i++) {
            int rc = dtact_unpark(atomic_load(&recent[i]));
            cr_assert(rc == DTACT_OK, "unpark of a stale handle: %s", dtact_strerror(rc));
        }
    }
    return NULL;
}

static void quick(void *arg) { (void)arg; }

static void parker_once(void *arg) {
    atomic_int *flag = arg;
    while (!atomic_load(flag))
        dtact_park(1000000);
}

Test(late_wake, stale_handles_are_harmless) {
    void *rt = rt_up(2, 256);
    pthread_t th;
    pthread_create(&th, NULL, late_waker, NULL);
    uint64_t rounds = dtact_test_scaled(20000, 1);
    for (uint64_t r = 0; r < rounds; r++) {
        dtact_handle_t h = dtact_fiber_launch(quick, NULL);
        cr_assert_neq(h, DTACT_INVALID_HANDLE);
        cr_assert_eq(dtact_await(h), DTACT_OK);
        atomic_store(&recent[r % 64], h); /* finished: its slot is recycled by the next launches */
        if (atomic_load(&recent_n) < 64) atomic_fetch_add(&recent_n, 1);
    }
    /* a parked fiber woken spuriously by stale wake-ups still waits for its condition */
    static atomic_int flag;
    dtact_handle_t p = dtact_fiber_launch(parker_once, &flag);
    dtact_sleep_ns(20000000);
    cr_assert_eq(dtact_is_finished(p), 0);
    atomic_store(&flag, 1);
    cr_assert_eq(dtact_await(p), DTACT_OK);
    atomic_store(&stop_waking, 1);
    pthread_join(th, NULL);
    rt_down(rt);
}
