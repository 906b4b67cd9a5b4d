/* tests/child_capture.h -- runs a function in a forked child with its stderr
 * captured, for death tests that check the message a fatal path prints. */
#ifndef DTACT_TESTS_CHILD_CAPTURE_H
#define DTACT_TESTS_CHILD_CAPTURE_H

#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child with stderr on a pipe; copies at most cap-1 bytes
 * of it to out (NUL-terminated) and returns the child's wait status. A child
 * still running after RUN_CHILD_LIMIT_S is killed (status: SIGKILL), so that
 * a hung child never outlives its test holding ctest's output pipe. */
#define RUN_CHILD_LIMIT_S 60
static inline int run_child(void (*fn)(void *), void *arg, char *out, size_t cap) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        fn(arg);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    char sink[256];
    time_t end = time(NULL) + RUN_CHILD_LIMIT_S;
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        int left = (int)(end - time(NULL));
        if (left <= 0 || poll(&pf, 1, left * 1000) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (n + 1 < cap) r = read(p[0], out + n, cap - 1 - n);
        else r = read(p[0], sink, sizeof sink);
        if (r <= 0) break;
        if (n + 1 < cap) n += (size_t)r;
    }
    out[n] = 0;
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (time(NULL) > end) kill(pid, SIGKILL);
        usleep(1000);
    }
    return st;
}

#endif
