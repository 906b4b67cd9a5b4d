/* Description: the documented edges of a runtime's life. In a child forked
 * after init the parent's runtime is gone (calls return ENOTINIT) and the
 * child can start its own; a fiber that calls pthread_exit ends the process
 * with a message naming it instead of hanging shutdown; destroy leaves alone
 * a SIGSEGV handler the application installed after init; no-float fibers
 * start from the default FP control state whatever the starting thread set. */
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "child_capture.h"
#include "rt_util.h"

/* ---- fork */

static atomic_int child_ran;
static void child_body(void *arg) {
    (void)arg;
    atomic_fetch_add(&child_ran, 1);
}

static void in_forked_child(void *arg) {
    (void)arg;
    if (dtact_fiber_launch(child_body, NULL) != DTACT_INVALID_HANDLE) _exit(10);
    if (dtact_last_error() != DTACT_ENOTINIT) _exit(11);
    if (dtact_shutdown() != DTACT_ENOTINIT) _exit(12);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 64;
    void *rt = dtact_init(&cfg);
    if (!rt) _exit(13);
    if (dtact_start(rt) != DTACT_OK) _exit(14);
    dtact_handle_t h = dtact_fiber_launch(child_body, NULL);
    if (h == DTACT_INVALID_HANDLE || dtact_await(h) != DTACT_OK) _exit(15);
    if (dtact_shutdown() != DTACT_OK || dtact_destroy(rt) != DTACT_OK) _exit(16);
    _exit(atomic_load(&child_ran) == 1 ? 0 : 17);
}

Test(lifecycle_edges, a_forked_child_forgets_the_parents_runtime_and_may_start_its_own, .timeout = 60) {
#if defined(DTACT_TSAN)
    cr_skip_test("TSan does not support starting threads in a child forked from a multi-threaded process");
#endif
#if defined(DTACT_ASAN)
    /* clang 14's ASan: a parent thread inside the allocator at the fork leaves
     * its lock held in the child, whose new worker then waits for it forever
     * (seen in CI: the child's dtact-worker-0 blocked in the allocator's Refill) */
    cr_skip_test("ASan's allocator is not fork-safe in a multi-threaded process: the child can deadlock");
#endif
    void *rt = rt_new(2, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    atomic_store(&child_ran, 0);
    char buf[256];
    int st = run_child(in_forked_child, NULL, buf, sizeof buf);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x (exit code = failed step), stderr: %s", st, buf);
    /* The parent's runtime is untouched. */
    dtact_handle_t h = dtact_fiber_launch(child_body, NULL);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    rt_down(rt);
}

/* ---- pthread_exit on a fiber */

static void exits_its_thread(void *arg) {
    (void)arg;
    pthread_exit(NULL);
}

static void pthread_exit_on_fiber(void *arg) {
    (void)arg;
    void *rt = rt_new(2, 256);
    dtact_handle_t h = dtact_fiber_launch(exits_its_thread, NULL);
    fprintf(stderr, "fiber=0x%llx\n", (unsigned long long)h);
    dtact_start(rt);
    dtact_await(h);
    dtact_shutdown();
    dtact_destroy(rt);
    _exit(0); /* not reached: the process ends with a message */
}

Test(lifecycle_edges, pthread_exit_on_a_fiber_ends_the_process_with_a_message, .timeout = 60) {
#if defined(DTACT_TSAN)
    cr_skip_test("TSan's pthread_exit interceptor aborts on a thread that exits from a foreign stack");
#endif
    char buf[1024];
    int st = run_child(pthread_exit_on_fiber, NULL, buf, sizeof buf);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, buf);
    unsigned long long h = 0;
    cr_assert_eq(sscanf(buf, "fiber=0x%llx", &h), 1, "stderr: %s", buf);
    char want[64];
    snprintf(want, sizeof want, "inside fiber 0x%llx", h);
    cr_assert(strstr(buf, "pthread_exit") != NULL && strstr(buf, want) != NULL, "stderr: %s", buf);
}

/* ---- the application's SIGSEGV handler survives destroy */

static void app_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
}

Test(lifecycle_edges, destroy_keeps_a_sigsegv_handler_installed_after_init) {
    void *rt = rt_new(1, 256);
    struct sigaction sa, old, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = app_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
    cr_assert_eq(sigaction(SIGSEGV, NULL, &now), 0);
    cr_assert((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == app_handler, "destroy replaced the handler");
    cr_assert_eq(sigaction(SIGSEGV, &old, NULL), 0);
}

/* ---- no-float fibers start from the default FP control state */

static atomic_int seen_round = -1;
static void read_rounding(void *arg) {
    (void)arg;
    atomic_store(&seen_round, fegetround());
}

Test(lifecycle_edges, no_float_fibers_start_from_the_default_fp_state) {
    cr_assert_eq(fesetround(FE_TOWARDZERO), 0);
    void *rt = rt_new(1, 256);
    cr_assert_eq(dtact_start(rt), DTACT_OK); /* workers are created by this thread */
    cr_assert_eq(fesetround(FE_TONEAREST), 0);
    dtact_spawn_options_t o = dtact_default_spawn_options();
    o.mSwitcher = DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT;
    dtact_handle_t h = dtact_fiber_launch_ext(read_rounding, NULL, &o);
    cr_assert_neq(h, DTACT_INVALID_HANDLE);
    cr_assert_eq(dtact_await(h), DTACT_OK);
    cr_assert_eq(atomic_load(&seen_round), FE_TONEAREST, "a no-float fiber inherited the starter's rounding mode");
    rt_down(rt);
}
