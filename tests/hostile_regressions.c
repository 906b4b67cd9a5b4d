/* Description: regressions for what a hostile caller broke (the reliability
 * issue's list): destroy while host threads are inside join/await (a crash),
 * a generation-0 handle (accepted as finished), a stale handle of a destroyed
 * runtime (it named a live fiber of the next one), a sleep of UINT64_MAX ns
 * (returned at once), and a cancelled fiber's cleanup that awaits during
 * shutdown (destroy hung), and ASan poison left on a recycled stack (false
 * reports under AddressSanitizer). Each test failed before its fix. */
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "child_capture.h"
#include "rt_util.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- 1. destroy while host threads are inside dtact_join / dtact_await */

#define NJ 8

static void *park_until_shutdown(void *arg) {
    (void)arg;
    while (dtact_park(-1) == DTACT_OK) {
    }
    return (void *)(intptr_t)7;
}

typedef struct {
    dtact_handle_t h;
    int use_join;
    atomic_int entered;
    int rc;
} joiner_t;

static void *host_joiner(void *p) {
    joiner_t *j = p;
    atomic_store(&j->entered, 1);
    if (j->use_join) {
        void *res = NULL;
        j->rc = dtact_join(j->h, -1, &res);
        if (j->rc == DTACT_OK) cr_assert_eq(res, (void *)(intptr_t)7);
    } else {
        j->rc = dtact_await(j->h);
    }
    return NULL;
}

Test(hostile, destroy_waits_for_host_threads_inside_join_and_await, .timeout = 60) {
    for (int round = 0; round < 60; round++) {
        void *rt = rt_new(2, 256);
        cr_assert_eq(dtact_start(rt), DTACT_OK);
        dtact_spawn_attr_t a;
        dtact_spawn_attr_init(&a);
        a.flags = DTACT_SPAWN_JOINABLE;
        dtact_handle_t h;
        cr_assert_eq(dtact_spawn(&h, park_until_shutdown, NULL, &a), DTACT_OK);
        joiner_t js[NJ];
        pthread_t th[NJ];
        for (int i = 0; i < NJ; i++) {
            js[i].h = h;
            js[i].use_join = i & 1;
            atomic_store(&js[i].entered, 0);
            js[i].rc = 1;
            cr_assert_eq(pthread_create(&th[i], NULL, host_joiner, &js[i]), 0);
        }
        for (int i = 0; i < NJ; i++)
            while (!atomic_load(&js[i].entered))
                sched_yield();
        struct timespec d = {0, 2000000};
        nanosleep(&d, NULL); /* let them reach the wait */
        cr_assert_eq(dtact_destroy(rt), DTACT_OK);
        for (int i = 0; i < NJ; i++) {
            pthread_join(th[i], NULL);
            /* The fiber finished (woken by shutdown): joins get its result, or
             * find the record taken by another joiner, or the runtime gone. */
            int rc = js[i].rc;
            cr_assert(rc == DTACT_OK || rc == DTACT_ESTALE || rc == DTACT_ECANCELED || rc == DTACT_ENOTINIT ||
                          rc == DTACT_ENOTRUNNING,
                      "round %d joiner %d: %d (%s)", round, i, rc, dtact_strerror(rc));
        }
    }
}

/* ---- 2. a handle with generation 0 was never issued */

Test(hostile, generation_zero_is_an_invalid_handle) {
    void *rt = rt_new(1, 256);
    dtact_handle_t h0 = (1ull << 63) | 0u; /* valid bit, generation 0, slot 0 */
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t live;
    cr_assert_eq(dtact_spawn(&live, park_until_shutdown, NULL, &a), DTACT_OK); /* carves slot 0 */
    cr_assert_eq(dtact_await(h0), DTACT_EHANDLE);
    cr_assert_eq(dtact_join(h0, 0, NULL), DTACT_EHANDLE);
    cr_assert_eq(dtact_detach(h0), DTACT_EHANDLE);
    cr_assert_eq(dtact_is_finished(h0), DTACT_EHANDLE);
    cr_assert_eq(dtact_unpark(h0), DTACT_EHANDLE);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}

/* ---- 3. a stale handle of a destroyed runtime names no fiber of the next */

static void *answer(void *arg) { return arg; }

Test(hostile, handles_of_a_destroyed_runtime_stay_invalid_in_the_next, .timeout = 30) {
    void *rt = rt_new(1, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t old;
    cr_assert_eq(dtact_spawn(&old, answer, (void *)1, &a), DTACT_OK);
    while (dtact_is_finished(old) != 1)
        sched_yield();
    rt_down(rt); /* `old` is never joined */

    rt = rt_new(1, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    dtact_handle_t mine;
    cr_assert_eq(dtact_spawn(&mine, answer, (void *)42, &a), DTACT_OK);
    while (dtact_is_finished(mine) != 1)
        sched_yield();
    /* Same slot, new runtime: the old handle must not reach the new fiber. */
    cr_assert_eq(dtact_detach(old), DTACT_EHANDLE);
    cr_assert_eq(dtact_join(old, 0, NULL), DTACT_EHANDLE);
    cr_assert_eq(dtact_is_finished(old), DTACT_EHANDLE);
    void *res = NULL;
    cr_assert_eq(dtact_join(mine, -1, &res), DTACT_OK, "the owner still gets its result");
    cr_assert_eq(res, (void *)42);
    rt_down(rt);
}

/* ---- 7. dtact_sleep_ns(UINT64_MAX) on a fiber waits */

static atomic_int sleep_rc = 1;
static void long_sleeper(void *arg) {
    (void)arg;
    atomic_store(&sleep_rc, dtact_sleep_ns(UINT64_MAX));
}

Test(hostile, a_sleep_of_uint64_max_waits_until_shutdown, .timeout = 30) {
    void *rt = rt_new(1, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    atomic_store(&sleep_rc, 1);
    dtact_handle_t h = dtact_fiber_launch(long_sleeper, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 200000000u) {
        cr_assert_eq(atomic_load(&sleep_rc), 1, "returned early: %d", atomic_load(&sleep_rc));
        sched_yield();
    }
    rt_down(rt);
    cr_assert_eq(atomic_load(&sleep_rc), DTACT_ESHUTDOWN);
}

/* ---- 9. a cancelled fiber's cleanup that awaits during shutdown */

static dtact_handle_t target;
static atomic_int cleanup_rc[16], cleanups;

static void never_runs(void *arg) { (void)arg; }
static void awaiting_cleanup(void *arg) {
    intptr_t i = (intptr_t)arg;
    atomic_store(&cleanup_rc[i], dtact_await(target));
    atomic_fetch_add(&cleanups, 1);
}
static void parked(void *arg) {
    (void)arg;
    while (dtact_park(-1) == DTACT_OK) {
    }
}
static void master(void *arg) {
    (void)arg;
    target = dtact_fiber_launch(parked, NULL);
    for (intptr_t i = 0; i < 16; i++)
        dtact_fiber_launch_with_cleanup(never_runs, (void *)i, awaiting_cleanup);
    dtact_shutdown(); /* before the 16 start: they are cancelled, their cleanups run on the worker */
}

Test(hostile, a_cleanup_that_awaits_during_shutdown_does_not_hang, .timeout = 30) {
    void *rt = rt_new(1, 256);
    atomic_store(&cleanups, 0);
    cr_assert_neq(dtact_fiber_launch(master, NULL), DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_run(rt), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(atomic_load(&cleanups), 16, "every cleanup ran once");
    for (int i = 0; i < 16; i++) {
        int rc = atomic_load(&cleanup_rc[i]);
        cr_assert(rc == DTACT_ESHUTDOWN || rc == DTACT_OK, "cleanup %d: %d (%s)", i, rc, dtact_strerror(rc));
    }
}

/* ---- 10. a recycled stack carries no ASan poison of its previous fiber */

static __attribute__((noinline)) long deep_frame(volatile char *p) {
    volatile char local[3000];
    long sum = 0;
    for (int i = 0; i < 3000; i += 64)
        local[i] = p[0];
    for (int i = 0; i < 3000; i += 64)
        sum += local[i];
    return sum;
}
static void *big_frames(void *arg) {
    volatile char buf[6000];
    buf[0] = (char)(intptr_t)arg;
    /* returns with its frames' redzones still poisoned on the stack */
    return (void *)deep_frame(buf);
}
typedef struct {
    char bytes[3000];
} big_payload_t;
static void *read_payload(void *arg) {
    big_payload_t *p = arg;
    long sum = 0;
    for (int i = 0; i < 3000; i++)
        sum += p->bytes[i];
    return (void *)sum;
}

Test(hostile, recycled_stacks_carry_no_sanitizer_poison, .timeout = 60) {
    void *rt = rt_new(1, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    big_payload_t pl;
    memset(pl.bytes, 1, sizeof pl.bytes);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    for (int round = 0; round < 200; round++) {
        dtact_handle_t h;
        cr_assert_eq(dtact_spawn(&h, big_frames, (void *)1, &a), DTACT_OK);
        cr_assert_eq(dtact_join(h, -1, NULL), DTACT_OK);
        /* Larger than the side slot: copied to the top of a (recycled) stack at spawn. */
        cr_assert_eq(dtact_spawn_inline(&h, read_payload, &pl, sizeof pl, 8, &a), DTACT_OK);
        void *res = NULL;
        cr_assert_eq(dtact_join(h, -1, &res), DTACT_OK);
        cr_assert_eq((long)res, 3000);
    }
    rt_down(rt);
}

/* ---- an address-space limit (ulimit -v 4 GiB) fits a small runtime */

static atomic_int small_ran;
static void small_body(void *arg) {
    (void)arg;
    atomic_fetch_add(&small_ran, 1);
}

static void under_4gib(void *arg) {
    (void)arg;
    struct rlimit lim = {4ull << 30, 4ull << 30};
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(10);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 1024;
    void *rt = dtact_init(&cfg);
    if (!rt) _exit(11);
    if (dtact_start(rt) != DTACT_OK) _exit(12);
    dtact_handle_t h[64];
    for (int i = 0; i < 64; i++)
        if ((h[i] = dtact_fiber_launch(small_body, NULL)) == DTACT_INVALID_HANDLE) _exit(13);
    for (int i = 0; i < 64; i++)
        if (dtact_await(h[i]) != DTACT_OK) _exit(14);
    /* A class that does not fit is refused at spawn, not waited for forever. */
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.stack_size = 64u * 1024 * 1024;
    dtact_handle_t big;
    if (dtact_spawn(&big, answer, NULL, &a) != DTACT_ENOMEM) _exit(15);
    if (dtact_shutdown() != DTACT_OK || dtact_destroy(rt) != DTACT_OK) _exit(16);
    _exit(atomic_load(&small_ran) == 64 ? 0 : 17);
}

Test(hostile, a_small_runtime_fits_under_a_4_gib_address_space_limit, .timeout = 60) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("sanitizer runtimes reserve more than 4 GiB of address space themselves");
#endif
    char buf[256];
    int st = run_child(under_4gib, NULL, buf, sizeof buf);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x (exit code = failed step), stderr: %s", st, buf);
}

/* ---- after a spawn storm, mFiberCapacity fibers can still be live at once */

static void short_one(void *arg) { (void)arg; }
static void storm(void *arg) {
    (void)arg;
    for (int round = 0; round < 40; round++) {
        dtact_handle_t h[512];
        for (int i = 0; i < 512; i++)
            h[i] = dtact_fiber_launch(short_one, NULL);
        for (int i = 0; i < 512; i++)
            if (h[i]) dtact_await(h[i]);
    }
}
static atomic_int hold = 1;
static void *holder(void *arg) {
    while (atomic_load(&hold))
        dtact_sleep_ns(1000000);
    return arg;
}

Test(hostile, a_full_capacity_is_reachable_after_a_spawn_storm, .timeout = 120) {
    enum { CAP = 2048 };
    void *rt = rt_up(2, CAP);
    dtact_handle_t s = dtact_fiber_launch(storm, NULL); /* fills both workers' record caches */
    cr_assert_neq(s, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(s), DTACT_OK);
    atomic_store(&hold, 1);
    static dtact_handle_t live[CAP];
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    for (int i = 0; i < CAP; i++)
        cr_assert_eq(dtact_spawn(&live[i], holder, NULL, &a), DTACT_OK, "spawn %d of %d: %s", i, CAP,
                     dtact_strerror(dtact_last_error()));
    atomic_store(&hold, 0);
    for (int i = 0; i < CAP; i++)
        cr_assert_eq(dtact_join(live[i], -1, NULL), DTACT_OK);
    rt_down(rt);
}
