/* tests/child_capture.h -- runs a function in a forked child with its stderr
 * captured, for death tests that check the message a fatal path prints. */
#ifndef DTACT_TESTS_CHILD_CAPTURE_H
#define DTACT_TESTS_CHILD_CAPTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child with stderr on a pipe; copies at most cap-1 bytes
 * of it to out (NUL-terminated) and returns the child's wait status. */
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
    while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

#endif
