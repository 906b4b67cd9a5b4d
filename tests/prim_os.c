/* Description: the OS layer (core/prim.h) keeps its contract: the page size is
 * a power of two; a reservation faults until committed, a commit is read-write
 * and zero, a protect makes a guard again, a purge reads back zero, a release
 * unmaps; a commit in the middle of a reservation costs two more maps; the map
 * budget is readable; random bytes are random; the fault hook sees the fault
 * address and chains to the previous handler, and restore brings that handler
 * back; an alternate signal stack can be set, seen and cleared; stderr writes
 * arrive whole. */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_capture.h"
#include "prim.h"

TestSuite(prim_os);

static int child_status(void (*fn)(void *), void *arg) {
    char buf[256];
    return run_child(fn, arg, buf, sizeof buf);
}

static void touch(void *p) {
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    *(volatile char *)p = 1;
    _exit(0);
}

static int faults(void *p) {
    int st = child_status(touch, p);
    return WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS);
}

Test(prim_os, page_size) {
    size_t pg = dtact__page_size();
    cr_assert_geq(pg, 4096u);
    cr_assert_eq(pg & (pg - 1), 0u);
    cr_assert_eq(pg, (size_t)sysconf(_SC_PAGESIZE));
    cr_assert_eq(dtact__page_size(), pg, "constant");
}

Test(prim_os, reserve_commit_protect_purge_release) {
    size_t pg = dtact__page_size();
    char *r = dtact__mem_reserve(4 * pg);
    cr_assert_not_null(r);
    cr_assert(faults(r + pg), "a reservation is inaccessible");
    cr_assert_eq(dtact__mem_commit(r + pg, 2 * pg), 0);
    for (size_t i = 0; i < 2 * pg; i++)
        cr_assert_eq(r[pg + i], 0, "committed pages read zero");
    memset(r + pg, 0x5a, 2 * pg);
    cr_assert_eq(r[2 * pg + 7], 0x5a);
    cr_assert(faults(r), "the page below stays a guard");
    cr_assert(faults(r + 3 * pg), "the page above stays a guard");
    dtact__mem_purge(r + pg, 2 * pg);
    cr_assert_eq(r[pg], 0, "purged pages read zero");
    cr_assert_eq(r[3 * pg - 1], 0);
    r[pg] = 3; /* still accessible after a purge */
    cr_assert_eq(dtact__mem_protect(r + 2 * pg, pg), 0);
    cr_assert(faults(r + 2 * pg), "protect makes a guard");
    cr_assert_eq(r[pg], 3);
    dtact__mem_release(r, 4 * pg);
}

Test(prim_os, map_is_read_write_and_zero) {
    size_t pg = dtact__page_size();
    unsigned char *m = dtact__mem_map(3 * pg);
    cr_assert_not_null(m);
    for (size_t i = 0; i < 3 * pg; i += 64)
        cr_assert_eq(m[i], 0);
    memset(m, 0xff, 3 * pg);
    cr_assert_eq(m[3 * pg - 1], 0xff);
    dtact__mem_release(m, 3 * pg);
}

Test(prim_os, map_budget) {
    long max = dtact__map_count_max(), now = dtact__map_count_now();
    cr_assert_gt(max, 0, "vm.max_map_count is readable on Linux");
    cr_assert_gt(now, 0);
    cr_assert_lt(now, max);
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer runtime maps memory on its own, so the count of maps moves");
#endif
    size_t pg = dtact__page_size();
    char *r = dtact__mem_reserve(3 * pg);
    cr_assert_not_null(r);
    long before = dtact__map_count_now();
    cr_assert_eq(dtact__mem_commit(r + pg, pg), 0);
    cr_assert_eq(dtact__map_count_now(), before + 2, "a commit in the middle splits the region in three");
    dtact__mem_release(r, 3 * pg);
    cr_assert_eq(dtact__map_count_now(), before - 1, "release unmaps all three");
}

Test(prim_os, random_bytes) {
    uint64_t a[4] = {0}, b[4] = {0};
    cr_assert_eq(dtact__random_bytes(a, sizeof a), 0);
    cr_assert_eq(dtact__random_bytes(b, sizeof b), 0);
    cr_assert(memcmp(a, b, sizeof a) != 0, "two draws differ");
    cr_assert(a[0] | a[1] | a[2] | a[3], "not all zero");
    unsigned char odd[3];
    cr_assert_eq(dtact__random_bytes(odd, sizeof odd), 0);
    cr_assert_eq(dtact__random_bytes(odd, 0), 0);
}

static void *volatile hook_addr;
static void hook(void *addr) { hook_addr = addr; }
static void prev_handler(int sig) {
    (void)sig;
    _exit(hook_addr == (void *)16 ? 7 : 8);
}
static volatile uintptr_t bad_addr = 16;

static void fault_child(void *p) {
    (void)p;
    *(volatile int *)bad_addr = 1;
    _exit(4);
}

Test(prim_os, fault_hook_chains_and_restores) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer runtimes own SIGSEGV");
#endif
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prev_handler;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
    cr_assert_eq(dtact__fault_hook_install(hook), 0);
    sigaction(SIGSEGV, NULL, &cur);
    cr_assert(cur.sa_flags & SA_SIGINFO, "ours is installed");
    sigaction(SIGBUS, NULL, &cur);
    cr_assert(cur.sa_flags & SA_SIGINFO, "for SIGBUS too");
    int st = child_status(fault_child, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7, "the hook saw the address, then the previous handler ran (%#x)",
              st);
    dtact__fault_hook_restore();
    sigaction(SIGSEGV, NULL, &cur);
    cr_assert_eq((void *)cur.sa_handler, (void *)prev_handler);
    sigaction(SIGBUS, NULL, &cur);
    cr_assert_eq((void *)cur.sa_handler, (void *)SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
}

static void default_child(void *p) {
    (void)p;
    if (dtact__fault_hook_install(hook) != 0) _exit(3);
    *(volatile int *)bad_addr = 1; /* hook returns, SIG_DFL comes back, the retry kills */
    _exit(4);
}

Test(prim_os, fault_hook_falls_back_to_the_default_action) {
#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
    cr_skip_test("the sanitizer runtimes own SIGSEGV");
#endif
    signal(SIGSEGV, SIG_DFL);
    int st = child_status(default_child, NULL);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x", st);
}

static void altstack_child(void *p) {
    size_t len = 64 * 1024;
    (void)p;
    dtact__altstack_clear();
    if (dtact__altstack_present(1)) _exit(2);
    void *m = dtact__mem_map(len);
    if (!m || dtact__altstack_set(m, len) != 0) _exit(3);
    if (!dtact__altstack_present(len) || dtact__altstack_present(len + 1)) _exit(4);
    dtact__altstack_clear();
    if (dtact__altstack_present(1)) _exit(5);
    dtact__mem_release(m, len);
    _exit(0);
}

Test(prim_os, alternate_signal_stack) {
    /* in a child: the sanitizer runtimes own the test thread's alternate stack */
    int st = child_status(altstack_child, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

static void say(void *p) {
    dtact__write_stderr(p, strlen(p));
    dtact__thread_yield();
    dtact__write_stderr("!\n", 2);
}

Test(prim_os, write_stderr_and_yield) {
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char out[4096];
    int st = run_child(say, big, out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(strlen(out), sizeof big - 1 + 2);
    cr_assert_eq(memcmp(out, big, sizeof big - 1), 0);
    cr_assert_str_eq(out + sizeof big - 1, "!\n");
}
