/* tests/switch_entry_return_death.c
 * Description: a context whose entry function returns ends in the
 * trampoline's finish path: dtact__context_returned() prints
 * "dtact: a fiber returned past its entry point" to stderr and the process
 * dies with SIGABRT, for all four variants.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_util.h"

static const char er_msg[] = "dtact: a fiber returned past its entry point";

static void er_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    /* returns: a bug the runtime must catch */
}

static void er_die(unsigned v) {
    static tu_stack st;
    static tu_ctx main_ctx, fib;
    if (tu_stack_alloc(&st, 64 * 1024) != 0) _exit(3);
    tu_ctx_init_thread(&main_ctx);
    tu_ctx_make(&fib, &st, er_entry, NULL, v);
    tu_switch(v, &main_ctx, &fib);
    _exit(4); /* unreachable: nothing switches back */
}

Test(switch_entry_return_death, cross_fp_aborts, .signal = SIGABRT) { er_die(DTACT__SW_CROSS_FP); }
Test(switch_entry_return_death, cross_nofp_aborts, .signal = SIGABRT) { er_die(DTACT__SW_CROSS_NOFP); }
Test(switch_entry_return_death, same_fp_aborts, .signal = SIGABRT) { er_die(DTACT__SW_SAME_FP); }
Test(switch_entry_return_death, same_nofp_aborts, .signal = SIGABRT) { er_die(DTACT__SW_SAME_NOFP); }

/* The message itself: run the dying fiber in a child whose stderr is a pipe. */
Test(switch_entry_return_death, prints_message_then_sigabrt) {
    for (unsigned i = 0; i < DTACT__SW_COUNT; i++) {
        unsigned v = tu_all_variants[i];
        int fds[2];
        cr_assert_eq(pipe(fds), 0, "pipe");
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork");
        if (pid == 0) {
            close(fds[0]);
            dup2(fds[1], STDERR_FILENO);
            signal(SIGABRT, SIG_DFL);
            er_die(v);
        }
        close(fds[1]);
        char buf[512];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof buf - 1 && (r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
            len += (size_t)r;
        buf[len] = '\0';
        close(fds[0]);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid");
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: child status %#x, expected SIGABRT",
                  tu_variant_name(v), status);
        cr_assert(strstr(buf, er_msg) != NULL, "%s: stderr was \"%s\"", tu_variant_name(v), buf);
    }
}
