/* Description: a fiber record keeps nothing of its previous fiber. A spawn
 * writes a record's second cache line only when the new fiber needs it
 * (joinable, a cleanup); the finisher clears those fields instead
 * (core/fiber.c, retire), and so does a spawn that fails after taking a
 * record (core/spawn.c, unspawn). These tests reuse records across joinable,
 * detached, cleanup-bearing and failed spawns and check that no attribute
 * leaks into the next fiber, and that dtact_await keeps its documented
 * answers (double await, await of a handle whose record was reused, bad
 * and forged handles, its own handle). Records are reused by spawning from one fiber on
 * a 1-worker runtime: its record cache hands back the record it freed last. */
#include "rt_util.h"

static atomic_int cleanups;

static void count_cleanup(void *arg) {
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

static void nothing(void *arg) { (void)arg; }
static void *ret_arg(void *arg) { return arg; }

static dtact_handle_t launch(void (*fn)(void *), void *arg) {
    dtact_handle_t h = dtact_fiber_launch(fn, arg);
    cr_assert_neq(h, DTACT_INVALID_HANDLE, "launch: %s", dtact_strerror(dtact_last_error()));
    return h;
}

/* A detached fiber's record is released as it finishes: a join after the
 * await finds it gone (ESTALE), where a joinable one would still be there. */
static void assert_detached(dtact_handle_t h) {
    cr_assert_eq(dtact_await(h), DTACT_OK);
    void *r = (void *)1;
    cr_assert_eq(dtact_join(h, 0, &r), DTACT_ESTALE, "a detached fiber kept its record");
}

enum { ROUNDS = 200 };

/* ---------------------------------------------------------------- joinable -> detached */

static void joinable_then_detached(void *arg) {
    (void)arg;
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    for (int i = 0; i < ROUNDS; i++) {
        dtact_handle_t j;
        cr_assert_eq(dtact_spawn(&j, ret_arg, (void *)(uintptr_t)(i + 1), &a), DTACT_OK);
        void *r = NULL;
        cr_assert_eq(dtact_join(j, -1, &r), DTACT_OK);
        cr_assert_eq((uintptr_t)r, (uintptr_t)(i + 1));
        /* the reaped record is the next one handed out: launch on it */
        assert_detached(launch(nothing, NULL));
    }
}

Test(join_record_reuse, a_reaped_joinable_record_makes_no_joinable_launch) {
    void *rt = rt_up(1, 1024);
    run_root(joinable_then_detached, NULL);
    dtact_stats_t st;
    cr_assert_eq(dtact_get_stats(rt, &st), DTACT_OK);
    cr_assert_leq(st.contexts_in_use, 1, "records leaked: %llu in use", (unsigned long long)st.contexts_in_use);
    rt_down(rt);
}

/* ---------------------------------------------------------------- joinable results */

static void joinable_results(void *arg) {
    (void)arg;
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    for (int i = 0; i < ROUNDS; i++) {
        /* a result, then NULL on the same record: the second join must not see the first's */
        void *want = (i % 2) ? NULL : (void *)(uintptr_t)(0x1000 + i);
        dtact_handle_t j;
        cr_assert_eq(dtact_spawn(&j, ret_arg, want, &a), DTACT_OK);
        void *r = (void *)1;
        cr_assert_eq(dtact_join(j, -1, &r), DTACT_OK);
        cr_assert_eq(r, want);
    }
}

Test(join_record_reuse, each_join_gets_its_own_fibers_result) {
    void *rt = rt_up(1, 1024);
    run_root(joinable_results, NULL);
    rt_down(rt);
}

/* ---------------------------------------------------------------- cleanup -> plain */

static void cleanup_then_plain(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        dtact_handle_t h = dtact_fiber_launch_with_cleanup(nothing, NULL, count_cleanup);
        cr_assert_neq(h, DTACT_INVALID_HANDLE);
        cr_assert_eq(dtact_await(h), DTACT_OK);
        cr_assert_eq(atomic_load(&cleanups), i + 1, "cleanup ran %d times for %d fibers", atomic_load(&cleanups),
                     i + 1);
        assert_detached(launch(nothing, NULL)); /* same record, no cleanup */
        cr_assert_eq(atomic_load(&cleanups), i + 1, "a plain launch ran the previous fiber's cleanup");
    }
}

Test(join_record_reuse, a_cleanup_is_not_inherited_by_the_next_fiber) {
    atomic_store(&cleanups, 0);
    void *rt = rt_up(1, 1024);
    run_root(cleanup_then_plain, NULL);
    rt_down(rt);
    cr_assert_eq(atomic_load(&cleanups), ROUNDS);
}

/* ---------------------------------------------------------------- failed spawn -> plain */

static void failed_then_plain(void *arg) {
    (void)arg;
    static char big[8192];
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    a.cleanup = count_cleanup;
    a.stack_size = 16384; /* a quarter of it is 4 KiB: the 8 KiB payload is refused after the record was taken */
    for (int i = 0; i < ROUNDS; i++) {
        dtact_handle_t j = 1;
        cr_assert_eq(dtact_spawn_inline(&j, ret_arg, big, sizeof big, 8, &a), DTACT_EINVAL);
        cr_assert_eq(j, DTACT_INVALID_HANDLE);
        assert_detached(launch(nothing, NULL));
    }
    cr_assert_eq(atomic_load(&cleanups), 0, "a failed spawn's cleanup ran on another fiber");
}

Test(join_record_reuse, a_failed_spawn_leaves_a_clean_record) {
    atomic_store(&cleanups, 0);
    void *rt = rt_up(1, 1024);
    run_root(failed_then_plain, NULL);
    rt_down(rt);
    cr_assert_eq(atomic_load(&cleanups), 0);
}

/* ---------------------------------------------------------------- await answers */

static atomic_int gate;

static void gated(void *arg) {
    (void)arg;
    while (!atomic_load(&gate))
        dtact_yield();
}

static void self_await(void *arg) {
    (void)arg;
    cr_assert_eq(dtact_await(dtact_self()), DTACT_EDEADLK);
}

static void await_answers(void *arg) {
    (void)arg;
    /* double await */
    dtact_handle_t h = launch(nothing, NULL);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    /* the old handle's record now runs another fiber, which is still live:
     * await of the old handle returns at once (it finished), never waits for
     * the new one */
    atomic_store(&gate, 0);
    dtact_handle_t live = launch(gated, NULL);
    cr_assert_neq(live, h);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(dtact_is_finished(h), 1);
    cr_assert_eq(dtact_is_finished(live), 0);
    atomic_store(&gate, 1);
    cr_assert_eq(dtact_await(live), DTACT_OK);
    /* bad handles and its own handle */
    cr_assert_eq(dtact_await(DTACT_INVALID_HANDLE), DTACT_EHANDLE);
    cr_assert_eq(dtact_await((dtact_handle_t)0x1234), DTACT_EHANDLE);
    /* the released handle's answers come from the arena's generation array
     * (arena.c): a forged generation ahead of the record's is still no
     * handle, and a join of the released detached fiber is still stale */
    cr_assert_eq(dtact_await(h + (1000ull << 24)), DTACT_EHANDLE);
    cr_assert_eq(dtact_is_finished(h + (1000ull << 24)), DTACT_EHANDLE);
    cr_assert_eq(dtact_join(h, 0, NULL), DTACT_ESTALE);
    dtact_handle_t s = launch(self_await, NULL);
    cr_assert_eq(dtact_await(s), DTACT_OK);
}

Test(join_record_reuse, await_answers_are_unchanged) {
    void *rt = rt_up(1, 1024);
    run_root(await_answers, NULL);
    rt_down(rt);
}
