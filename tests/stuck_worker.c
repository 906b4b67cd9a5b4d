/* Description: a worker stuck in a blocking call that was not offloaded (a
 * sleep, a read(2) on a blocking pipe) does not strand the work queued on it
 * or sent to it: its peers take the movable fibers and new work goes
 * elsewhere, while pinned (SameCore, same-thread switcher) and Critical
 * fibers stay and run when it comes back; the worker then works as before,
 * and every fiber runs exactly once (core/sysmon.c).
 *
 * No timing is asserted: each stuck fiber stays blocked until the test has
 * seen the work complete (or a generous bound passed, which then fails the
 * count), so the counts are observed while the worker is still stuck. */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "rt_util.h"

#define N 1000
#define BOUND_NS 10000000000ull /* 10 s: only a failing run waits this long */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void nap_us(unsigned us) {
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static atomic_int hits[N + 64];
static atomic_int ran_on[N + 64];
static atomic_int done;
static atomic_int stuck_w = -1;
static atomic_int inside;
static atomic_int seen_while_stuck = -1;
static dtact_handle_t handles[N + 64];
static int pipefd[2];

static void reset(void) {
    for (int i = 0; i < N + 64; i++) {
        atomic_store(&hits[i], 0);
        atomic_store(&ran_on[i], -1);
        handles[i] = DTACT_INVALID_HANDLE;
    }
    atomic_store(&done, 0);
    atomic_store(&stuck_w, -1);
    atomic_store(&inside, 0);
    atomic_store(&seen_while_stuck, -1);
}

static void count(void *arg) {
    int i = (int)(intptr_t)arg;
    atomic_store(&ran_on[i], dtact_current_worker());
    atomic_fetch_add(&hits[i], 1);
    atomic_fetch_add(&done, 1);
}

/* Waits (host thread) until *v reaches want or the bound passes. */
static int wait_for(atomic_int *v, int want) {
    uint64_t t0 = mono_ns();
    while (atomic_load(v) < want) {
        if (mono_ns() - t0 > BOUND_NS) return 0;
        nap_us(200);
    }
    return 1;
}

static void await_all(int n) {
    for (int i = 0; i < n; i++)
        if (handles[i] != DTACT_INVALID_HANDLE) cr_assert_eq(dtact_await(handles[i]), DTACT_OK, "fiber %d", i);
}

static void each_ran_once(int from, int to) {
    for (int i = from; i < to; i++)
        cr_assert_eq(atomic_load(&hits[i]), 1, "fiber %d ran %d times", i, atomic_load(&hits[i]));
}

/* ---- (a) a fiber sleeps in the C library: host launches run elsewhere */

/* Blocks its worker in nanosleep (never yields) until N fibers are done or
 * the bound passes, and records how many it saw done while blocking. */
static void sleeper(void *arg) {
    (void)arg;
    atomic_store(&stuck_w, dtact_current_worker());
    atomic_store(&inside, 1);
    uint64_t t0 = mono_ns();
    while (atomic_load(&done) < N && mono_ns() - t0 < BOUND_NS)
        nap_us(2000);
    atomic_store(&seen_while_stuck, atomic_load(&done));
}

Test(stuck_worker, host_launches_run_while_a_worker_sleeps) {
    void *rt = rt_up(2, 4096);
    reset();
    dtact_handle_t s = dtact_fiber_launch(sleeper, NULL);
    cr_assert_neq(s, DTACT_INVALID_HANDLE);
    cr_assert(wait_for(&inside, 1));
    for (int i = 0; i < N; i++) {
        handles[i] = dtact_fiber_launch(count, (void *)(intptr_t)i);
        cr_assert_neq(handles[i], DTACT_INVALID_HANDLE);
    }
    cr_assert_eq(dtact_await(s), DTACT_OK);
    cr_assert_eq(atomic_load(&seen_while_stuck), N, "only %d of %d launches ran while worker %d slept",
                 atomic_load(&seen_while_stuck), N, atomic_load(&stuck_w));
    await_all(N);
    each_ran_once(0, N);
    for (int i = 0; i < N; i++)
        cr_assert_neq(atomic_load(&ran_on[i]), atomic_load(&stuck_w), "fiber %d ran on the sleeping worker", i);
    rt_down(rt);
}

/* ---- (b) a fiber reads a blocking pipe: children spawned elsewhere all run */

static void reader(void *arg) {
    (void)arg;
    atomic_store(&stuck_w, dtact_current_worker());
    atomic_store(&inside, 1);
    char c;
    ssize_t r;
    while ((r = read(pipefd[0], &c, 1)) < 0 && errno == EINTR) {
    }
    cr_assert_eq(r, 1);
}

static void spawner(void *arg) {
    int n = (int)(intptr_t)arg;
    cr_assert_neq(dtact_current_worker(), atomic_load(&stuck_w), "the spawner ran on the stuck worker");
    for (int i = 0; i < n; i++) {
        handles[i] = dtact_fiber_launch(count, (void *)(intptr_t)i);
        cr_assert_neq(handles[i], DTACT_INVALID_HANDLE);
    }
}

static void unblock(void) {
    char c = 1;
    cr_assert_eq(write(pipefd[1], &c, 1), 1);
}

Test(stuck_worker, children_spawned_elsewhere_run_while_a_worker_reads_a_pipe) {
    void *rt = rt_up(2, 4096);
    reset();
    cr_assert_eq(pipe(pipefd), 0);
    dtact_handle_t r = dtact_fiber_launch(reader, NULL);
    cr_assert(wait_for(&inside, 1));
    dtact_handle_t s = dtact_fiber_launch(spawner, (void *)(intptr_t)N);
    int all = wait_for(&done, N);
    int seen = atomic_load(&done);
    unblock(); /* the reader returns only now: what ran, ran while its worker was stuck */
    cr_assert(all, "only %d of %d children ran while worker %d was stuck in read()", seen, N, atomic_load(&stuck_w));
    cr_assert_eq(dtact_await(s), DTACT_OK);
    cr_assert_eq(dtact_await(r), DTACT_OK);
    await_all(N);
    each_ran_once(0, N);
    close(pipefd[0]);
    close(pipefd[1]);
    rt_down(rt);
}

/* ---- (c) pinned and Critical fibers stay; the worker then works as before */

#define MOVABLE 200
#define PINNED 16 /* SameCore */
#define SAMETHREAD 16
#define CRITICAL 4
#define AFTER 100 /* spawned by the stuck fiber once it is back */
static atomic_int stayers_run;

static void stayer(void *arg) {
    count(arg);
    atomic_fetch_add(&stayers_run, 1);
}

static void blocked_spawner(void *arg) {
    (void)arg;
    int me = dtact_current_worker();
    atomic_store(&stuck_w, me);
    int k = 0;
    dtact_spawn_options_t o = dtact_default_spawn_options();
    for (int i = 0; i < MOVABLE; i++, k++)
        handles[k] = dtact_fiber_launch(count, (void *)(intptr_t)k);
    o.mAffinity = DTACT_AFFINITY_SAME_CORE;
    for (int i = 0; i < PINNED; i++, k++)
        handles[k] = dtact_fiber_launch_ext(stayer, (void *)(intptr_t)k, &o);
    o = dtact_default_spawn_options();
    o.mSwitcher = DTACT_SWITCHER_SAME_THREAD_FLOAT;
    for (int i = 0; i < SAMETHREAD; i++, k++)
        handles[k] = dtact_fiber_launch_ext(stayer, (void *)(intptr_t)k, &o);
    o = dtact_default_spawn_options();
    o.mPriority = DTACT_PRIORITY_CRITICAL;
    for (int i = 0; i < CRITICAL; i++, k++)
        handles[k] = dtact_fiber_launch_ext(stayer, (void *)(intptr_t)k, &o);
    for (int i = 0; i < k; i++)
        cr_assert_neq(handles[i], DTACT_INVALID_HANDLE);
    atomic_store(&inside, 1);
    char c;
    ssize_t r;
    while ((r = read(pipefd[0], &c, 1)) < 0 && errno == EINTR) {
    }
    cr_assert_eq(r, 1);
    cr_assert_eq(dtact_current_worker(), me);
    /* Back: this worker's queue works as before. */
    dtact_handle_t h[AFTER];
    for (int i = 0; i < AFTER; i++)
        h[i] = dtact_fiber_launch(count, (void *)(intptr_t)(k + i));
    for (int i = 0; i < AFTER; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
}

Test(stuck_worker, pinned_and_critical_fibers_stay_and_run_when_it_returns) {
    void *rt = rt_up(2, 4096);
    reset();
    atomic_store(&stayers_run, 0);
    cr_assert_eq(pipe(pipefd), 0);
    dtact_handle_t r = dtact_fiber_launch(blocked_spawner, NULL);
    cr_assert(wait_for(&inside, 1));
    int all = wait_for(&done, MOVABLE);
    int stayed = atomic_load(&stayers_run);
    unblock();
    cr_assert(all, "only %d of %d movable fibers ran while their worker was stuck", atomic_load(&done), MOVABLE);
    cr_assert_eq(stayed, 0, "%d pinned or Critical fibers left the stuck worker", stayed);
    cr_assert_eq(dtact_await(r), DTACT_OK);
    int stay = PINNED + SAMETHREAD + CRITICAL;
    await_all(MOVABLE + stay);
    each_ran_once(0, MOVABLE + stay + AFTER);
    int x = atomic_load(&stuck_w);
    for (int i = MOVABLE; i < MOVABLE + stay; i++)
        cr_assert_eq(atomic_load(&ran_on[i]), x, "pinned fiber %d ran on worker %d, not %d", i, atomic_load(&ran_on[i]),
                     x);
    close(pipefd[0]);
    close(pipefd[1]);
    rt_down(rt);
}

/* ---- (d) the owner comes back at any moment, take-overs in progress or not */

#define ROUND_KIDS 8
static atomic_int rounds_read;

/* Reads one byte per round, blocking; between reads spawns ROUND_KIDS
 * children onto its own queue (they wait there while it blocks again, so a
 * peer takes them while it may come back at any moment). */
static void round_reader(void *arg) {
    int rounds = (int)(intptr_t)arg;
    atomic_store(&stuck_w, dtact_current_worker());
    atomic_store(&inside, 1);
    int k = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < ROUND_KIDS && k < N; i++, k++) {
            handles[k] = dtact_fiber_launch(count, (void *)(intptr_t)k);
            cr_assert_neq(handles[k], DTACT_INVALID_HANDLE);
        }
        char c;
        ssize_t n;
        while ((n = read(pipefd[0], &c, 1)) < 0 && errno == EINTR) {
        }
        cr_assert_eq(n, 1);
        atomic_fetch_add(&rounds_read, 1);
    }
}

/* Keeps the other worker busy (never hungry, never asleep), so that the
 * reader's children leave it only by take-overs, not by feeding. */
static atomic_int stop_busy;
static void busy(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_busy))
        dtact_yield();
}

Test(stuck_worker, every_fiber_runs_once_when_the_owner_returns_during_take_overs) {
    void *rt = rt_up(2, 4096);
    reset();
    atomic_store(&rounds_read, 0);
    atomic_store(&stop_busy, 0);
    cr_assert_eq(pipe(pipefd), 0);
    int rounds = (int)dtact_test_scaled(100, 20);
    if (rounds * ROUND_KIDS > N) rounds = N / ROUND_KIDS;
    dtact_handle_t r = dtact_fiber_launch(round_reader, (void *)(intptr_t)rounds);
    cr_assert(wait_for(&inside, 1));
    dtact_handle_t b = dtact_fiber_launch(busy, NULL);
    unsigned seed = 12345;
    for (int i = 0; i < rounds; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Around the detection (1 ms, and a busy worker looks every 4 ms):
         * some rounds are taken over, some not, some while the owner returns. */
        nap_us((seed >> 16) % 7000u);
        unblock();
    }
    cr_assert_eq(dtact_await(r), DTACT_OK);
    atomic_store(&stop_busy, 1);
    cr_assert_eq(dtact_await(b), DTACT_OK);
    int kids = rounds * ROUND_KIDS;
    await_all(kids);
    cr_assert_eq(atomic_load(&done), kids);
    each_ran_once(0, kids);
    close(pipefd[0]);
    close(pipefd[1]);
    rt_down(rt);
}

/* ---- (e) an idle runtime with a stuck worker: nothing else to do, no crash,
 * and the runtime shuts down once it returns */
Test(stuck_worker, shutdown_after_a_stuck_episode) {
    void *rt = rt_up(3, 1024);
    reset();
    cr_assert_eq(pipe(pipefd), 0);
    dtact_handle_t r = dtact_fiber_launch(reader, NULL);
    cr_assert(wait_for(&inside, 1));
    nap_us(5000); /* let the peers see it stuck (not asserted: either way must work) */
    for (int i = 0; i < 64; i++)
        handles[i] = dtact_fiber_launch(count, (void *)(intptr_t)i);
    cr_assert(wait_for(&done, 64), "only %d of 64 launches ran", atomic_load(&done));
    unblock();
    cr_assert_eq(dtact_await(r), DTACT_OK);
    await_all(64);
    each_ran_once(0, 64);
    close(pipefd[0]);
    close(pipefd[1]);
    rt_down(rt);
}

/* ---- (f) a movable fiber woken from the host while its worker is stuck
 * runs elsewhere */
static atomic_int go, parked_on = -1;
static dtact_handle_t parked_h;

static void parker(void *arg) {
    (void)arg;
    atomic_store(&parked_on, dtact_current_worker());
    while (!atomic_load(&go))
        dtact_park(-1);
    count((void *)(intptr_t)0);
}

static void park_then_block(void *arg) {
    (void)arg;
    parked_h = dtact_fiber_launch(parker, NULL);
    cr_assert_neq(parked_h, DTACT_INVALID_HANDLE);
    while (atomic_load(&parked_on) < 0)
        dtact_yield(); /* the child runs (here, or on a peer fed with it) and parks */
    reader(NULL);
}

Test(stuck_worker, a_fiber_woken_from_the_host_runs_while_its_worker_is_stuck) {
    void *rt = rt_up(2, 1024);
    reset();
    atomic_store(&go, 0);
    atomic_store(&parked_on, -1);
    cr_assert_eq(pipe(pipefd), 0);
    dtact_handle_t r = dtact_fiber_launch(park_then_block, NULL);
    cr_assert(wait_for(&inside, 1));
    atomic_store(&go, 1);
    cr_assert_eq(dtact_unpark(parked_h), DTACT_OK);
    int ran = wait_for(&done, 1);
    unblock();
    cr_assert(ran, "the woken fiber (parked on worker %d) did not run while worker %d was stuck",
              atomic_load(&parked_on), atomic_load(&stuck_w));
    cr_assert_eq(dtact_await(r), DTACT_OK);
    cr_assert_eq(dtact_await(parked_h), DTACT_OK);
    each_ran_once(0, 1);
    close(pipefd[0]);
    close(pipefd[1]);
    rt_down(rt);
}
