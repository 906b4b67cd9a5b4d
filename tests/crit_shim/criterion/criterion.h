/* tests/crit_shim/criterion/criterion.h -- a tiny, header-only stand-in for
 * Criterion, used ONLY by the aarch64 cross build (scripts/test-aarch64.sh),
 * because Debian's libcriterion-dev is not Multi-Arch: same (installing the
 * arm64 one removes the amd64 one).
 *
 * Supported: Test(suite, name, .signal=, .exit_code=, .timeout=, .init=,
 * .fini=, .disabled=, .description=), TestSuite(suite, .init=, .fini=,
 * .timeout=, .disabled=, .description=) (as in Criterion, the suite's init
 * runs before the test's and its fini after the test's; a test's own timeout
 * wins over the suite's), cr_assert, cr_assert_not, cr_assert_eq, _neq, _lt,
 * _leq, _gt, _geq, _str_eq, _str_neq, cr_skip_test, cr_log_info.
 * Every test runs in its own forked process (like Criterion), so .signal and
 * .timeout work; the program prints one line per test and a closing
 * "N passed, N failed" line, and exits non-zero if any test failed.
 * Command-line arguments (e.g. "--jobs 1") are accepted and ignored.
 * DTACT_TEST_SKIP (environment): whitespace-separated suite::name list of
 * tests not to run; each prints "[SKIP] suite::name (DTACT_TEST_SKIP)" and
 * counts as skipped. scripts/test-aarch64.sh uses it for the few tests that
 * cannot work under qemu-user, and prints why.
 *
 * Define exactly one translation unit per program (each tests/<name>.c is
 * one), because this header defines main().
 */
#ifndef DTACT_CRIT_SHIM_H
#define DTACT_CRIT_SHIM_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct crs_test {
    const char *suite, *name, *description;
    void (*fn)(void);
    void (*init)(void);
    void (*fini)(void);
    int signal, exit_code, disabled;
    double timeout;
};

#define CRS_MAX_TESTS 512
static struct crs_test *crs_tests[CRS_MAX_TESTS];
static int crs_ntests;

static void crs_register(struct crs_test *t) {
    if (crs_ntests < CRS_MAX_TESTS) crs_tests[crs_ntests++] = t;
}

#define Test(S, N, ...)                                                                                                \
    static void crs_fn_##S##_##N(void);                                                                                \
    static struct crs_test crs_desc_##S##_##N = {.suite = #S, .name = #N, .fn = crs_fn_##S##_##N, __VA_ARGS__};        \
    __attribute__((constructor)) static void crs_reg_##S##_##N(void) { crs_register(&crs_desc_##S##_##N); }            \
    static void crs_fn_##S##_##N(void)

struct crs_suite {
    const char *name, *description;
    void (*init)(void);
    void (*fini)(void);
    int disabled;
    double timeout;
};

#define CRS_MAX_SUITES 64
static struct crs_suite *crs_suites[CRS_MAX_SUITES];
static int crs_nsuites;

__attribute__((unused)) static void crs_register_suite(struct crs_suite *s) {
    if (crs_nsuites < CRS_MAX_SUITES) crs_suites[crs_nsuites++] = s;
}

static const struct crs_suite *crs_find_suite(const char *name) {
    for (int i = 0; i < crs_nsuites; i++)
        if (strcmp(crs_suites[i]->name, name) == 0) return crs_suites[i];
    return NULL;
}

#define TestSuite(S, ...)                                                                                              \
    static struct crs_suite crs_suite_##S = {.name = #S, __VA_ARGS__};                                                 \
    __attribute__((constructor)) static void crs_reg_suite_##S(void) { crs_register_suite(&crs_suite_##S); }           \
    extern int crs_test_suite_unused

#define CRS_EXIT_SKIP 77

/* No format attribute on purpose: the macros append an extra "" argument. */
static void crs_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "[----] %s:%d: Assertion failed: %s\n[----]   ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(NULL);
    _exit(1);
}

static void crs_skip(const char *fmt, ...) {
    fprintf(stderr, "[SKIP] ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(NULL);
    _exit(CRS_EXIT_SKIP);
}

static void crs_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[LOG ] ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

#define CRS_ASSERT_(cond, text, ...)                                                                                   \
    do {                                                                                                               \
        if (!(cond)) crs_fail(__FILE__, __LINE__, text, __VA_ARGS__);                                                  \
    } while (0)
#define CRS_ONE_(c, ...) CRS_ASSERT_((c), #c, __VA_ARGS__)
#define CRS_CMP_(op, a, b, ...) CRS_ASSERT_((a)op(b), #a " " #op " " #b, __VA_ARGS__)

#define cr_assert(...) CRS_ONE_(__VA_ARGS__, "")
#define CRS_NOT_(c, ...) CRS_ASSERT_(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_not(...) CRS_NOT_(__VA_ARGS__, "")
#define cr_assert_eq(...) CRS_CMP_(==, __VA_ARGS__, "")
#define cr_assert_neq(...) CRS_CMP_(!=, __VA_ARGS__, "")
#define cr_assert_lt(...) CRS_CMP_(<, __VA_ARGS__, "")
#define cr_assert_leq(...) CRS_CMP_(<=, __VA_ARGS__, "")
#define cr_assert_gt(...) CRS_CMP_(>, __VA_ARGS__, "")
#define cr_assert_geq(...) CRS_CMP_(>=, __VA_ARGS__, "")
#define CRS_STR_(eq, a, b, ...)                                                                                        \
    CRS_ASSERT_((strcmp((a), (b)) == 0) == (eq), (eq) ? #a " == " #b : #a " != " #b, __VA_ARGS__)
#define cr_assert_str_eq(...) CRS_STR_(1, __VA_ARGS__, "")
#define cr_assert_str_neq(...) CRS_STR_(0, __VA_ARGS__, "")
#define CRS_NULL_(p, ...) CRS_ASSERT_((p) == NULL, #p " == NULL", __VA_ARGS__)
#define CRS_NNULL_(p, ...) CRS_ASSERT_((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_null(...) CRS_NULL_(__VA_ARGS__, "")
#define cr_assert_not_null(...) CRS_NNULL_(__VA_ARGS__, "")
#define CRS_FEQ_(a, b, eps, ...) CRS_ASSERT_(((a) - (b) <= (eps)) && ((b) - (a) <= (eps)), #a " ~= " #b, __VA_ARGS__)
#define cr_assert_float_eq(...) CRS_FEQ_(__VA_ARGS__, "")
#define cr_skip_test(...) crs_skip(__VA_ARGS__)
#define cr_log_info(...) crs_log(__VA_ARGS__)

/* Whether "suite::name" is a whole word of the DTACT_TEST_SKIP list. */
static int crs_skip_listed(const struct crs_test *t) {
    const char *list = getenv("DTACT_TEST_SKIP");
    if (!list) return 0;
    size_t ls = strlen(t->suite), ln = strlen(t->name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != ',')
            e++;
        if ((size_t)(e - p) == ls + 2 + ln && strncmp(p, t->suite, ls) == 0 && strncmp(p + ls, "::", 2) == 0 &&
            strncmp(p + ls + 2, t->name, ln) == 0)
            return 1;
        p = e;
    }
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < crs_ntests; i++) {
        struct crs_test *t = crs_tests[i];
        const struct crs_suite *su = crs_find_suite(t->suite);
        if (t->disabled || (su && su->disabled)) {
            skipped++;
            continue;
        }
        if (crs_skip_listed(t)) {
            printf("[SKIP] %s::%s (DTACT_TEST_SKIP)\n", t->suite, t->name);
            skipped++;
            continue;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            signal(SIGALRM, SIG_DFL);
            double to = t->timeout > 0 ? t->timeout : su && su->timeout > 0 ? su->timeout : 600;
            alarm((unsigned)(to + 0.999));
            if (su && su->init) su->init();
            if (t->init) t->init();
            t->fn();
            if (t->fini) t->fini();
            if (su && su->fini) su->fini();
            fflush(NULL);
            _exit(0);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
            ;
        int ok;
        const char *why = "";
        char buf[96];
        if (WIFEXITED(st) && WEXITSTATUS(st) == CRS_EXIT_SKIP && !t->signal) {
            printf("[SKIP] %s::%s\n", t->suite, t->name);
            skipped++;
            continue;
        }
        if (t->signal) {
            ok = WIFSIGNALED(st) && WTERMSIG(st) == t->signal;
            if (!ok) {
                snprintf(buf, sizeof buf, "expected signal %d", t->signal);
                why = buf;
            }
        } else if (WIFSIGNALED(st)) {
            ok = 0;
            snprintf(buf, sizeof buf, "%s (signal %d)", WTERMSIG(st) == SIGALRM ? "timed out" : "crashed",
                     WTERMSIG(st));
            why = buf;
        } else {
            ok = WEXITSTATUS(st) == t->exit_code;
            if (!ok) {
                snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
                why = buf;
            }
        }
        printf("[%s] %s::%s%s%s\n", ok ? "PASS" : "FAIL", t->suite, t->name, ok ? "" : ": ", why);
        if (ok) passed++;
        else failed++;
    }
    printf("%d passed, %d failed%s", passed, failed, skipped ? "" : "\n");
    if (skipped) printf(", %d skipped\n", skipped);
    return failed ? 1 : 0;
}

#endif /* DTACT_CRIT_SHIM_H */
