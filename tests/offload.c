/* tests/offload.c -- dtact_blocking, the blocking offload pool: results, many
 * concurrent calls from fibers and threads, the worker keeps running other
 * fibers meanwhile, timeouts (a started call keeps running, a queued one is
 * withdrawn and never runs), shutdown while a fiber waits, bad input, use
 * without a runtime and across fork, pool growth/shrinking, churn, and the
 * round-trip cost of an empty call.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtact.h"
#include "internal.h"
#include "offload.h"
#include "rt_util.h"
#include "test_scale.h"

#define MS 1000000LL

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Polls cond (with a small sleep) until it holds or `ms` pass; returns it. */
#define WAIT_UNTIL(cond, ms)                                                                                           \
    ({                                                                                                                 \
        int64_t left_ = (ms);                                                                                          \
        while (!(cond) && left_-- > 0)                                                                                 \
            sleep_ms(1);                                                                                               \
        (cond);                                                                                                        \
    })

/* ------------------------------------------------------------ basics */
static void *add_one(void *arg) { return (void *)((intptr_t)arg + 1); }

Test(offload, result_without_a_runtime) {
    void *r = NULL;
    cr_assert_eq(dtact_blocking(add_one, (void *)41, -1, &r), DTACT_OK);
    cr_assert_eq((intptr_t)r, 42);
    cr_assert_eq(dtact_blocking(add_one, (void *)1, 5000 * MS, NULL), DTACT_OK); /* result may be NULL */
    cr_assert_geq(dtact__offload_threads(), 1u);
}

Test(offload, bad_input) {
    void *r = (void *)7;
    cr_assert_eq(dtact_blocking(NULL, NULL, -1, &r), DTACT_ENULLFN);
    cr_assert_eq(dtact_last_error(), DTACT_ENULLFN);
    cr_assert_eq((intptr_t)r, 7, "result untouched on failure");
    cr_assert_eq(dtact_blocking_set_max_threads(0), DTACT_EINVAL);
    cr_assert_eq(dtact_blocking_set_max_threads(4097), DTACT_EINVAL);
    cr_assert_eq(dtact_blocking_set_max_threads(4096), DTACT_OK);
    cr_assert_eq(dtact_blocking_set_max_threads(1), DTACT_OK);
    cr_assert_eq(dtact_blocking_set_max_threads(64), DTACT_OK);
}

static void *return_arg(void *arg) { return arg; }

Test(offload, across_runtime_cycles) {
    for (int i = 0; i < 3; i++) {
        void *rt = rt_up(1, 64);
        void *r = NULL;
        cr_assert_eq(dtact_blocking(add_one, (void *)(intptr_t)i, -1, &r), DTACT_OK);
        cr_assert_eq((intptr_t)r, i + 1);
        rt_down(rt);
        cr_assert_eq(dtact_blocking(add_one, (void *)(intptr_t)i, -1, &r), DTACT_OK);
        cr_assert_eq((intptr_t)r, i + 1);
    }
}

Test(offload, a_forked_child_starts_a_fresh_pool) {
#if defined(DTACT_TSAN)
    cr_skip_test("TSan does not support starting threads in a child forked from a multi-threaded process");
#endif
    cr_assert_eq(dtact_blocking(add_one, NULL, -1, NULL), DTACT_OK);
    cr_assert_geq(dtact__offload_threads(), 1u);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* The parent's helpers do not exist here: the pool starts again. */
        if (dtact__offload_threads() != 0) _exit(2);
        void *r = NULL;
        if (dtact_blocking(return_arg, (void *)99, 10000 * MS, &r) != DTACT_OK || (intptr_t)r != 99) _exit(3);
        _exit(0);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

/* ------------------------------------------------------------ many calls */
static atomic_int running, max_running, done_calls;

static void *sleepy(void *arg) {
    int now = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now)) {
    }
    sleep_ms(1 + (int64_t)((intptr_t)arg % 5));
    atomic_fetch_sub(&running, 1);
    return (void *)((intptr_t)arg * 3);
}

static void sleepy_fiber(void *arg) {
    void *r = NULL;
    int rc = dtact_blocking(sleepy, arg, -1, &r);
    cr_assert_eq(rc, DTACT_OK, "%s", dtact_strerror(rc));
    cr_assert_eq((intptr_t)r, (intptr_t)arg * 3);
    atomic_fetch_add(&done_calls, 1);
}

Test(offload, many_calls_from_fibers) {
    void *rt = rt_up(2, 1024);
    int n = (int)dtact_test_scaled(500, 50);
    dtact_handle_t *h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        h[i] = dtact_fiber_launch(sleepy_fiber, (void *)(intptr_t)i);
        cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
    }
    for (int i = 0; i < n; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    cr_assert_eq(atomic_load(&done_calls), n);
    cr_assert_gt(atomic_load(&max_running), 1, "the pool grew beyond one helper");
    cr_assert_leq(atomic_load(&max_running), 64);
    cr_assert_leq(dtact__offload_threads(), 64u);
    free(h);
    rt_down(rt);
}

struct thr_arg {
    int base, n;
};

static void *caller_thread(void *p) {
    struct thr_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        void *r = NULL;
        intptr_t v = a->base + i;
        if (dtact_blocking(sleepy, (void *)v, -1, &r) != DTACT_OK || (intptr_t)r != v * 3) return (void *)1;
        atomic_fetch_add(&done_calls, 1);
    }
    return NULL;
}

Test(offload, many_calls_from_threads_limit_respected) {
    cr_assert_eq(dtact_blocking_set_max_threads(6), DTACT_OK);
    enum { T = 16 };
    int per = (int)dtact_test_scaled(30, 3);
    pthread_t th[T];
    struct thr_arg a[T];
    for (int t = 0; t < T; t++) {
        a[t] = (struct thr_arg){t * 1000, per};
        cr_assert_eq(pthread_create(&th[t], NULL, caller_thread, &a[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        cr_assert_null(rv);
    }
    cr_assert_eq(atomic_load(&done_calls), T * per);
    cr_assert_gt(atomic_load(&max_running), 1);
    cr_assert_leq(atomic_load(&max_running), 6, "at most the limit run at once");
    cr_assert_leq(dtact__offload_threads(), 6u);
}

/* ------------------------------------------------ the worker is not blocked */
static atomic_int gate, gate_entered, gate_left, gate_forced;

/* Waits until the test opens the gate (or 30 s pass: then reports it). */
static void *gated(void *arg) {
    atomic_fetch_add(&gate_entered, 1);
    int64_t left = 30000;
    while (!atomic_load(&gate) && left-- > 0)
        sleep_ms(1);
    if (!atomic_load(&gate)) atomic_store(&gate_forced, 1);
    atomic_fetch_add(&gate_left, 1);
    return arg;
}

static atomic_int small_done, blocker_rc = 1;

static void blocker_fiber(void *arg) {
    (void)arg;
    void *r = NULL;
    atomic_store(&blocker_rc, dtact_blocking(gated, (void *)5, -1, &r));
    cr_assert_eq((intptr_t)r, 5);
}

static void small_fiber(void *arg) {
    (void)arg;
    atomic_fetch_add(&small_done, 1);
}

static void not_blocked_root(void *arg) {
    (void)arg;
    dtact_handle_t b = dtact_fiber_launch(blocker_fiber, NULL);
    cr_assert_neq(b, DTACT_INVALID_HANDLE);
    while (!atomic_load(&gate_entered))
        dtact_yield(); /* the blocker is waiting inside dtact_blocking now */
    enum { N = 1000 };
    static dtact_handle_t h[N];
    for (int i = 0; i < N; i++) {
        h[i] = dtact_fiber_launch(small_fiber, NULL);
        cr_assert_neq(h[i], DTACT_INVALID_HANDLE);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    cr_assert_eq(atomic_load(&small_done), N);
    cr_assert_eq(atomic_load(&gate_left), 0, "the blocking call is still in progress");
    atomic_store(&gate, 1);
    cr_assert_eq(dtact_await(b), DTACT_OK);
}

Test(offload, worker_keeps_running_other_fibers) {
    void *rt = rt_up(1, 2048); /* one worker: the blocker's worker runs the 1000 */
    run_root(not_blocked_root, NULL);
    cr_assert_eq(atomic_load(&blocker_rc), DTACT_OK);
    cr_assert_eq(atomic_load(&gate_forced), 0);
    rt_down(rt);
}

/* ------------------------------------------------------------ timeouts */
/* A call's own argument: fn marks entry, waits at the gate (so it runs on
 * after its caller has returned) and then still writes its argument. */
struct owned {
    atomic_int entered, done;
    int64_t value;
};
static struct owned owned_args[2][6];

static void *gated_owner(void *arg) {
    struct owned *o = arg;
    atomic_store(&o->entered, 1);
    gated(NULL);
    o->value *= 2;
    atomic_store(&o->done, 1);
    return NULL;
}

/* Times out calls with growing timeouts until one had started (a helper took
 * it before the deadline; under heavy load one may be withdrawn instead). */
static void timeout_case(struct owned *args) {
    atomic_store(&gate, 0);
    int started = -1;
    int64_t to = 20 * MS;
    for (int k = 0; k < 6 && started < 0; k++, to *= 3) {
        struct owned *o = &args[k];
        o->value = k;
        void *r = (void *)1;
        uint64_t t0 = dtact_now_ns();
        int rc = dtact_blocking(gated_owner, o, to, &r);
        uint64_t el = dtact_now_ns() - t0;
        cr_assert(rc == DTACT_ETIMEDOUT || rc == DTACT_ECANCELED, "%s", dtact_strerror(rc));
        cr_assert_eq(dtact_last_error(), rc);
        cr_assert_eq((intptr_t)r, 1, "result untouched");
        if (rc == DTACT_ECANCELED) { /* withdrawn before a helper took it: it never runs */
            cr_assert_eq(atomic_load(&o->entered), 0);
            continue;
        }
        cr_assert_geq(el, (uint64_t)to, "not early: %llu ns", (unsigned long long)el);
        cr_assert_lt(el, (uint64_t)to + 20000u * MS, "within a generous bound");
        if (WAIT_UNTIL(atomic_load(&o->entered), 1000)) started = k;
    }
    cr_assert_geq(started, 0, "some call had started when it timed out");
    cr_assert_eq(atomic_load(&args[started].done), 0, "fn keeps running after the timeout");
    atomic_store(&gate, 1);
    cr_assert(WAIT_UNTIL(atomic_load(&args[started].done), 20000), "fn completes later");
    cr_assert_eq(args[started].value, 2 * started);
}

static void timeout_fiber(void *arg) { timeout_case(arg); }

Test(offload, timeout_from_thread_and_fiber) {
    timeout_case(owned_args[0]);
    void *rt = rt_up(2, 64);
    run_root(timeout_fiber, owned_args[1]);
    rt_down(rt);
    cr_assert_eq(atomic_load(&gate_forced), 0);
    /* Calls that were still queued at their deadline never ran; the others finish. */
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 6; k++)
            if (atomic_load(&owned_args[i][k].entered))
                cr_assert(WAIT_UNTIL(atomic_load(&owned_args[i][k].done), 20000));
}

static atomic_int never_ran;
static void *never(void *arg) {
    atomic_fetch_add(&never_ran, 1);
    return arg;
}

static void *occupy_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)dtact_blocking(gated, NULL, -1, NULL);
}

static void withdrawn_case(int from_fiber);
static void withdrawn_fiber(void *arg) {
    (void)arg;
    withdrawn_case(1);
}

static void withdrawn_case(int from_fiber) {
    (void)from_fiber;
    uint64_t t0 = dtact_now_ns();
    int rc = dtact_blocking(never, NULL, 30 * MS, NULL);
    cr_assert_eq(rc, DTACT_ECANCELED, "a withdrawn call says fn never ran: %s", dtact_strerror(rc));
    cr_assert_geq(dtact_now_ns() - t0, 30u * MS);
}

Test(offload, withdrawn_job_never_runs) {
    cr_assert_eq(dtact_blocking_set_max_threads(1), DTACT_OK);
    cr_assert(WAIT_UNTIL(dtact__offload_threads() <= 1, 20000));
    pthread_t occ;
    cr_assert_eq(pthread_create(&occ, NULL, occupy_thread, NULL), 0);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_entered) == 1, 20000));
    cr_assert_eq(dtact__offload_threads(), 1u);
    withdrawn_case(0);
    void *rt = rt_up(1, 64);
    run_root(withdrawn_fiber, NULL);
    rt_down(rt);
    atomic_store(&gate, 1);
    void *rv;
    pthread_join(occ, &rv);
    cr_assert_eq((intptr_t)rv, DTACT_OK);
    /* FIFO: this call is behind the two withdrawn jobs, so the helper has
     * popped (and skipped) them when it runs this one. */
    void *r = NULL;
    cr_assert_eq(dtact_blocking(add_one, (void *)1, -1, &r), DTACT_OK);
    cr_assert_eq((intptr_t)r, 2);
    cr_assert_eq(atomic_load(&never_ran), 0, "a withdrawn job never runs");
    cr_assert_eq(dtact_blocking_set_max_threads(64), DTACT_OK);
}

/* ------------------------------------------------------------ shutdown */
static atomic_int shut_rc = 1;
static void shut_fiber(void *arg) {
    (void)arg;
    atomic_store(&shut_rc, dtact_blocking(gated, NULL, -1, NULL));
}

Test(offload, shutdown_while_a_fiber_waits) {
    void *rt = rt_up(1, 64);
    dtact_handle_t h = dtact_fiber_launch(shut_fiber, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_entered) == 1, 20000));
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(atomic_load(&shut_rc), DTACT_ESHUTDOWN);
    cr_assert_eq(atomic_load(&gate_left), 0);
    atomic_store(&gate, 1);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_left) == 1, 20000), "fn completes after the runtime is gone");
    /* The pool still works, with or without a runtime. */
    void *r = NULL;
    cr_assert_eq(dtact_blocking(add_one, (void *)2, -1, &r), DTACT_OK);
    cr_assert_eq((intptr_t)r, 3);
}

/* A cleanup run by a worker outside any fiber (a fiber cancelled at shutdown)
 * must not block its worker: EPERM, or ESHUTDOWN as the runtime is going. */
static atomic_int cleanup_rc = 1, cleanup_on_worker = -2;
static void blocking_cleanup(void *arg) {
    (void)arg;
    atomic_store(&cleanup_on_worker, dtact_current_worker());
    atomic_store(&cleanup_rc, dtact_blocking(never, NULL, -1, NULL));
}
static void nothing(void *arg) { (void)arg; }
static void hold_worker(void *arg) {
    (void)arg;
    dtact_handle_t h = dtact_fiber_launch_with_cleanup(nothing, NULL, blocking_cleanup);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    dtact_detach(h);
    atomic_store(&gate_entered, 1);
    while (!atomic_load(&gate)) /* keeps the only worker: the child stays queued */
        sleep_ms(1);
}

Test(offload, worker_outside_a_fiber) {
    void *rt = rt_up(1, 64);
    dtact_handle_t h = dtact_fiber_launch(hold_worker, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_entered) == 1, 20000));
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    atomic_store(&gate, 1);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    int rc = atomic_load(&cleanup_rc);
    if (atomic_load(&cleanup_on_worker) >= 0)
        cr_assert(rc == DTACT_EPERM || rc == DTACT_ESHUTDOWN, "%s", dtact_strerror(rc));
    else cr_assert_eq(rc, DTACT_OK); /* run by a host thread: a plain blocking call */
    cr_assert_eq(atomic_load(&never_ran), rc == DTACT_OK ? 1 : 0);
}

/* The same on a worker thread of a running runtime (no shutdown): EPERM. A
 * worker runs user code outside a fiber only in rare paths, so this thread
 * poses as one (core/internal.h). */
static void *pose_as_worker(void *arg) {
    (void)arg;
    static dtact__rt_t fake_rt;
    static dtact__worker_t fake_w;
    fake_w.rt = &fake_rt;
    fake_w.current = NULL;
    dtact__tls_worker_set(&fake_w);
    intptr_t rc = dtact_blocking(never, NULL, -1, NULL);
    dtact__tls_worker_set(NULL);
    return (void *)rc;
}

Test(offload, worker_thread_outside_a_fiber_is_eperm) {
    pthread_t t;
    void *rv;
    cr_assert_eq(pthread_create(&t, NULL, pose_as_worker, NULL), 0);
    pthread_join(t, &rv);
    cr_assert_eq((intptr_t)rv, DTACT_EPERM);
    cr_assert_eq(atomic_load(&never_ran), 0);
}

/* ------------------------------------------------------------ growth and shrinking */
Test(offload, idle_helpers_exit_and_limit_lowering_retires) {
    cr_assert_eq(dtact_blocking_set_max_threads(8), DTACT_OK);
    enum { T = 8 };
    pthread_t th[T];
    atomic_store(&gate, 0);
    for (int t = 0; t < T; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, occupy_thread, NULL), 0);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_entered) == T, 20000));
    cr_assert_eq(dtact__offload_threads(), 8u, "grown to the limit");
    atomic_store(&gate, 1);
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    cr_assert(WAIT_UNTIL(dtact__offload_idle() == 8, 20000));
    cr_assert_eq(dtact_blocking_set_max_threads(2), DTACT_OK);
    cr_assert(WAIT_UNTIL(dtact__offload_threads() == 2, 20000), "surplus retired: %u", dtact__offload_threads());
    dtact__offload_set_idle_ns(20 * MS);
    cr_assert_eq(dtact_blocking(add_one, NULL, -1, NULL), DTACT_OK); /* an idle helper restarts its wait */
    cr_assert(WAIT_UNTIL(dtact__offload_threads() == 0, 20000), "idle helpers exit: %u", dtact__offload_threads());
    void *r = NULL;
    cr_assert_eq(dtact_blocking(add_one, (void *)9, -1, &r), DTACT_OK); /* and come back */
    cr_assert_eq((intptr_t)r, 10);
}

/* ------------------------------------------------------------ churn */
struct churn_job {
    atomic_int ran;
    int64_t v;
};

static atomic_int churn_ok, churn_to, churn_started, churn_finished;

static void *churn_fn(void *arg) {
    struct churn_job *j = arg;
    atomic_fetch_add(&churn_started, 1);
    atomic_fetch_add(&j->ran, 1);
    if (j->v % 7 == 0) sleep_ms(1);
    atomic_fetch_add(&churn_finished, 1);
    return (void *)(intptr_t)(j->v * 2);
}

static void churn_one(struct churn_job *j, int64_t v) {
    j->v = v;
    int64_t to = (v % 3 == 0) ? -1 : (v % 3 == 1 ? 0 : (int64_t)(v % 200) * 1000);
    void *r = NULL;
    int rc = dtact_blocking(churn_fn, j, to, &r);
    if (rc == DTACT_OK) {
        cr_assert_eq((intptr_t)r, v * 2);
        cr_assert_eq(atomic_load(&j->ran), 1);
        atomic_fetch_add(&churn_ok, 1);
    } else {
        cr_assert(rc == DTACT_ETIMEDOUT || rc == DTACT_ECANCELED, "%s", dtact_strerror(rc));
        cr_assert_neq(to, -1);
        if (rc == DTACT_ECANCELED) cr_assert_eq(atomic_load(&j->ran), 0, "a withdrawn call never runs");
        atomic_fetch_add(&churn_to, 1);
    }
}

static struct churn_job *churn_jobs;
static int churn_per;

static void churn_fiber(void *arg) {
    intptr_t k = (intptr_t)arg;
    for (int i = 0; i < churn_per; i++)
        churn_one(&churn_jobs[k * churn_per + i], k * churn_per + i);
}

static void *churn_thread(void *arg) {
    churn_fiber(arg);
    return NULL;
}

static atomic_int stop_knob;
static void *knob_thread(void *arg) {
    (void)arg;
    uint32_t n = 1;
    while (!atomic_load(&stop_knob)) {
        dtact_blocking_set_max_threads(n);
        n = n % 6 + 1;
        sleep_ms(1);
    }
    dtact_blocking_set_max_threads(64);
    return NULL;
}

Test(offload, churn) {
    enum { FIBERS = 16, THREADS = 4 };
    churn_per = (int)dtact_test_scaled(400, 20);
    churn_jobs = calloc((size_t)(FIBERS + THREADS) * (size_t)churn_per, sizeof *churn_jobs);
    dtact__offload_set_idle_ns(1 * MS); /* helpers come and go all the time */
    void *rt = rt_up(2, 256);
    pthread_t knob, th[THREADS];
    cr_assert_eq(pthread_create(&knob, NULL, knob_thread, NULL), 0);
    dtact_handle_t h[FIBERS];
    for (intptr_t k = 0; k < FIBERS; k++)
        h[k] = dtact_fiber_launch(churn_fiber, (void *)k);
    for (intptr_t t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, churn_thread, (void *)(FIBERS + t)), 0);
    for (int k = 0; k < FIBERS; k++)
        cr_assert_eq(dtact_await(h[k]), DTACT_OK);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&stop_knob, 1);
    pthread_join(knob, NULL);
    rt_down(rt);
    int total = (FIBERS + THREADS) * churn_per;
    cr_assert_eq(atomic_load(&churn_ok) + atomic_load(&churn_to), total);
    /* Every fn that started finishes; none runs twice; each OK call ran once. */
    cr_assert(WAIT_UNTIL(atomic_load(&churn_finished) == atomic_load(&churn_started), 20000));
    int ran = 0;
    for (int i = 0; i < total; i++) {
        int r = atomic_load(&churn_jobs[i].ran);
        cr_assert_leq(r, 1);
        ran += r;
    }
    cr_assert_eq(ran, atomic_load(&churn_started));
    cr_assert_geq(ran, atomic_load(&churn_ok));
    cr_assert(WAIT_UNTIL(dtact__offload_threads() == 0, 20000), "all helpers exit when idle");
    free(churn_jobs);
}

/* ------------------------------------------------------------ cost */
static void *empty(void *arg) { return arg; }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t *cost_ns;
static int cost_n;

static void cost_loop(void *arg) {
    (void)arg;
    for (int i = 0; i < cost_n; i++) {
        uint64_t t0 = dtact_now_ns();
        cr_assert_eq(dtact_blocking(empty, NULL, -1, NULL), DTACT_OK);
        cost_ns[i] = dtact_now_ns() - t0;
    }
}

static uint64_t median_cost(uint64_t *p90) {
    qsort(cost_ns, (size_t)cost_n, sizeof *cost_ns, cmp_u64);
    *p90 = cost_ns[cost_n * 9 / 10];
    return cost_ns[cost_n / 2];
}

Test(offload, round_trip_cost) {
    cost_n = (int)dtact_test_scaled(5000, 200);
    cost_ns = calloc((size_t)cost_n, sizeof *cost_ns);
    void *rt = rt_up(1, 64);
    run_root(cost_loop, NULL);
    uint64_t fib90, thr90, fib = median_cost(&fib90);
    rt_down(rt);
    cost_loop(NULL);
    uint64_t thr = median_cost(&thr90);
    fprintf(stderr,
            "offload: empty dtact_blocking round trip (%d calls): fiber median %llu ns (p90 %llu), thread %llu ns (p90 "
            "%llu)\n",
            cost_n, (unsigned long long)fib, (unsigned long long)fib90, (unsigned long long)thr,
            (unsigned long long)thr90);
    free(cost_ns);
}

#if defined(DTACT_FAULT_INJECTION)
#include "prim.h"
/* No helper alive and none can be started: the call fails, fn not run. */
Test(offload, no_helper_can_start) {
    dtact__fault_arm(DTACT__FAULT_THREAD, 1);
    cr_assert_eq(dtact_blocking(never, NULL, -1, NULL), DTACT_ESYS);
    dtact__fault_arm(DTACT__FAULT_HEAP, 1);
    cr_assert_eq(dtact_blocking(never, NULL, -1, NULL), DTACT_ENOMEM);
    dtact__fault_arm(DTACT__FAULT_HEAP, 0);
    dtact__fault_arm(DTACT__FAULT_THREAD, 0);
    cr_assert_eq(atomic_load(&never_ran), 0);
    cr_assert_eq(dtact__offload_threads(), 0u);
    /* With a helper alive (busy), a failed start leaves the job queued. */
    pthread_t occ, second;
    atomic_store(&gate, 0);
    cr_assert_eq(pthread_create(&occ, NULL, occupy_thread, NULL), 0);
    cr_assert(WAIT_UNTIL(atomic_load(&gate_entered) == 1, 20000));
    dtact__fault_arm(DTACT__FAULT_THREAD, 1);
    cr_assert_eq(pthread_create(&second, NULL, occupy_thread, NULL), 0);
    cr_assert(WAIT_UNTIL(dtact__fault_hits(DTACT__FAULT_THREAD) == 1, 20000));
    dtact__fault_arm(DTACT__FAULT_THREAD, 0);
    cr_assert_eq(dtact__offload_threads(), 1u);
    atomic_store(&gate, 1);
    void *rv1, *rv2;
    pthread_join(occ, &rv1);
    pthread_join(second, &rv2);
    cr_assert_eq((intptr_t)rv1, DTACT_OK);
    cr_assert_eq((intptr_t)rv2, DTACT_OK, "the queued job ran on the busy helper once it was free");
    cr_assert_eq(atomic_load(&gate_entered), 2);
}
#endif
