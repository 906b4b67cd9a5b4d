/* benches/w1_switch.c -- W1 "switch" (../shared/bench/WORKLOADS.md): two
 * execution contexts on one thread ping-pong through the lowest-level switch
 * primitive; result in ns per one-way switch.
 *
 * Implementations: the four Dtact switchers (core/switch.h), glibc
 * swapcontext, and Boost.Context's jump_fcontext when the build found
 * libboost_context (DTACT_HAVE_BOOST_CONTEXT).
 *
 * Method: one main context and one fiber; the main loop resumes the fiber and
 * the fiber increments a counter and switches back, so one loop iteration is
 * one round trip = 2 switches. Each implementation is warmed up, then timed
 * `reps` times over n switches (n/2 round trips, CLOCK_MONOTONIC, plus rdtsc
 * ticks on x86_64), round-robin over the implementations; we print the median, min and max of ns/switch and the
 * ratio of the median to Boost.Context's median. The counter must equal the
 * number of round trips, or the program exits 1. Timer overhead (two
 * clock_gettime calls per rep of millions of switches) is below 0.01% and is
 * not subtracted. The thread is pinned to the CPU it starts on.
 *
 * Rows marked "flag set" run with FE_INEXACT set in the main context's MXCSR
 * (w1_flags), the state of any program that has done an inexact float
 * operation; the other rows run with all status flags clear. A float
 * switcher that reloads MXCSR on every switch then writes a different value
 * each time, which some cores charge heavily for (asm/swap_fp_x86_64_sysv_elf_gas.S).
 *
 * Usage: bench_w1_switch [reps=N] [n=N] [ucn=N]
 *   reps  timed repetitions per implementation (default 7, at least 5 recommended)
 *   n     switches per repetition (default 10000000)
 *   ucn   switches per repetition for swapcontext, which makes a syscall per
 *         switch (default n/20)
 */
#include "switch.h"

#include <fenv.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#define W1_HAVE_TSC 1
#endif

#define W1_STACK (256u * 1024u)

static uint64_t w1_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t w1_ticks(void) {
#ifdef W1_HAVE_TSC
    return __rdtsc();
#else
    return 0;
#endif
}

static void *w1_stack_alloc(void) {
    void *p = mmap(NULL, W1_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

/* One implementation under test: setup() creates the fiber and returns its
 * stack, run(r) performs r round trips and returns. Fibers stay suspended
 * between repetitions and are dropped with their stacks at the end. */
typedef struct w1_impl {
    const char *name;
    void *(*setup)(void);
    void (*run)(uint64_t rounds);
    int slow;  /* uses ucn instead of n */
    int dirty; /* runs with a sticky status flag (FE_INEXACT) set in the main context's MXCSR */
} w1_impl;

static uint64_t w1_counter; /* incremented by the fiber once per round trip */

/* ---------------------------------------------------------------- Dtact */
static void *w1_main_sp;

#define W1_DTACT(tag, fn, variant)                                                                                     \
    static void *w1_##tag##_fib_sp;                                                                                    \
    static void w1_##tag##_entry(void *arg) {                                                                          \
        (void)arg;                                                                                                     \
        for (;;) {                                                                                                     \
            w1_counter++;                                                                                              \
            fn(&w1_##tag##_fib_sp, w1_main_sp, 0);                                                                     \
        }                                                                                                              \
    }                                                                                                                  \
    static void *w1_##tag##_setup(void) {                                                                              \
        void *stack = w1_stack_alloc();                                                                                \
        w1_##tag##_fib_sp = dtact__make_context((char *)stack + W1_STACK, w1_##tag##_entry, NULL, variant);            \
        return stack;                                                                                                  \
    }                                                                                                                  \
    static void w1_##tag##_run(uint64_t rounds) {                                                                      \
        for (uint64_t i = 0; i < rounds; i++)                                                                          \
            fn(&w1_main_sp, w1_##tag##_fib_sp, 0);                                                                     \
    }

W1_DTACT(cross_fp, dtact__swap_fp_cross, DTACT__SW_CROSS_FP)
W1_DTACT(cross_nofp, dtact__swap_nofp_cross, DTACT__SW_CROSS_NOFP)
W1_DTACT(same_fp, dtact__swap_fp_same, DTACT__SW_SAME_FP)
W1_DTACT(same_nofp, dtact__swap_nofp_same, DTACT__SW_SAME_NOFP)


/* ---------------------------------------------------------------- glibc ucontext */
static ucontext_t w1_uc_main, w1_uc_fib;

static void w1_uc_entry(void) {
    for (;;) {
        w1_counter++;
        swapcontext(&w1_uc_fib, &w1_uc_main);
    }
}

static void *w1_uc_setup(void) {
    void *stack = w1_stack_alloc();
    getcontext(&w1_uc_fib);
    w1_uc_fib.uc_stack.ss_sp = stack;
    w1_uc_fib.uc_stack.ss_size = W1_STACK;
    w1_uc_fib.uc_link = NULL;
    makecontext(&w1_uc_fib, w1_uc_entry, 0);
    return stack;
}

static void w1_uc_run(uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++)
        swapcontext(&w1_uc_main, &w1_uc_fib);
}

/* ---------------------------------------------------------------- Boost.Context */
#ifdef DTACT_HAVE_BOOST_CONTEXT
/* extern "C" in libboost_context (boost/context/detail/fcontext.hpp). */
typedef struct {
    void *fctx;
    void *data;
} dtact_bc_transfer_t;
dtact_bc_transfer_t jump_fcontext(void *to, void *vp);
void *make_fcontext(void *sp, size_t size, void (*fn)(dtact_bc_transfer_t));

static void *w1_bc_fib;

static void w1_bc_entry(dtact_bc_transfer_t t) {
    void *back = t.fctx;
    for (;;) {
        w1_counter++;
        t = jump_fcontext(back, NULL);
        back = t.fctx;
    }
}

static void *w1_bc_setup(void) {
    void *stack = w1_stack_alloc();
    w1_bc_fib = make_fcontext((char *)stack + W1_STACK, W1_STACK, w1_bc_entry);
    return stack;
}

static void w1_bc_run(uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        dtact_bc_transfer_t t = jump_fcontext(w1_bc_fib, NULL);
        w1_bc_fib = t.fctx;
    }
}
#endif

static const w1_impl w1_impls[] = {
    {"dtact cross fp (0)", w1_cross_fp_setup, w1_cross_fp_run, 0, 0},
    {"dtact cross fp (0), flag set", w1_cross_fp_setup, w1_cross_fp_run, 0, 1},
    {"dtact cross nofp (1)", w1_cross_nofp_setup, w1_cross_nofp_run, 0, 0},
    {"dtact same fp (2)", w1_same_fp_setup, w1_same_fp_run, 0, 0},
    {"dtact same nofp (3)", w1_same_nofp_setup, w1_same_nofp_run, 0, 0},
    {"glibc swapcontext", w1_uc_setup, w1_uc_run, 1, 0},
#ifdef DTACT_HAVE_BOOST_CONTEXT
    {"boost jump_fcontext", w1_bc_setup, w1_bc_run, 0, 0},
    {"boost jump_fcontext, flag set", w1_bc_setup, w1_bc_run, 0, 1},
#endif
};
#define W1_NIMPL (sizeof w1_impls / sizeof w1_impls[0])

static int w1_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct w1_result {
    double med, min, max, tick_med;
} w1_result;

static double w1_median(double *v, unsigned k) {
    qsort(v, k, sizeof v[0], w1_cmp);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* The FP status flags of the main context for the next run: all clear, or
 * FE_INEXACT set, as after any inexact float operation in the program (the
 * report's divisions, vector code). The fiber's saved MXCSR stays 0x1F80, so
 * with the flag set the two contexts' MXCSR values differ: a switcher that
 * reloads MXCSR on every switch writes a new value each time. */
static void w1_flags(int dirty) {
    feclearexcept(FE_ALL_EXCEPT);
    if (dirty) feraiseexcept(FE_INEXACT);
}

/* Repetitions run round-robin over the implementations (rep 0 of each, then
 * rep 1 of each, ...), so load from other processes hits all of them alike. */
static int w1_measure_all(uint64_t n, uint64_t ucn, unsigned reps, w1_result *out) {
    enum { MAXREP = 64 };
    static double ns[W1_NIMPL][MAXREP], tk[W1_NIMPL][MAXREP];
    void *stacks[W1_NIMPL];
    uint64_t expect[W1_NIMPL], got[W1_NIMPL];
    int failed = 0;
    if (reps > MAXREP) reps = MAXREP;
    for (size_t i = 0; i < W1_NIMPL; i++) {
        uint64_t rounds = (w1_impls[i].slow ? ucn : n) / 2;
        w1_counter = 0;
        stacks[i] = w1_impls[i].setup();
        expect[i] = rounds / 10 + 1;
        w1_flags(w1_impls[i].dirty);
        w1_impls[i].run(expect[i]); /* warm-up: caches, predictors, stack page faults */
        got[i] = w1_counter;
    }
    for (unsigned r = 0; r < reps; r++) {
        for (size_t i = 0; i < W1_NIMPL; i++) {
            uint64_t rounds = (w1_impls[i].slow ? ucn : n) / 2;
            w1_counter = 0;
            w1_flags(w1_impls[i].dirty);
            uint64_t t0 = w1_ticks(), n0 = w1_now_ns();
            w1_impls[i].run(rounds);
            uint64_t n1 = w1_now_ns(), t1 = w1_ticks();
            got[i] += w1_counter;
            expect[i] += rounds;
            ns[i][r] = (double)(n1 - n0) / (double)(2 * rounds); /* a round trip is 2 switches */
            tk[i][r] = (double)(t1 - t0) / (double)(2 * rounds);
        }
    }
    for (size_t i = 0; i < W1_NIMPL; i++) {
        munmap(stacks[i], W1_STACK); /* the fiber stays suspended for good */
        if (got[i] != expect[i]) {
            fprintf(stderr, "w1: %s: counter %llu, expected %llu\n", w1_impls[i].name, (unsigned long long)got[i],
                    (unsigned long long)expect[i]);
            failed = 1;
        }
        out[i].med = w1_median(ns[i], reps);
        out[i].tick_med = w1_median(tk[i], reps);
        out[i].min = ns[i][0];
        out[i].max = ns[i][reps - 1];
    }
    return failed ? -1 : 0;
}

static void w1_print_build(uint64_t n, uint64_t ucn, unsigned reps) {
#if defined(__x86_64__)
    const char *arch = "x86_64";
#elif defined(__aarch64__)
    const char *arch = "aarch64";
#else
    const char *arch = "unknown";
#endif
#if defined(__clang__)
    const char *cc = "clang";
#elif defined(__GNUC__)
    const char *cc = "gcc";
#else
    const char *cc = "cc";
#endif
    printf("+build: workload=W1 switch, arch=%s, compiler=%s %s\n", arch, cc, __VERSION__);
    printf("+build: flags:%s%s%s%s%s%s\n",
#ifdef __OPTIMIZE__
           " optimized",
#else
           " -O0",
#endif
#ifdef NDEBUG
           " -DNDEBUG",
#else
           "",
#endif
#ifdef __PIE__
           " -fPIE",
#else
           "",
#endif
#ifdef __CET__
           " -fcf-protection",
#else
           "",
#endif
#if defined(__SANITIZE_ADDRESS__)
           " -fsanitize=address",
#else
           "",
#endif
#ifdef DTACT_HAVE_BOOST_CONTEXT
           " boost_context=yes"
#else
           " boost_context=no"
#endif
    );
    printf("+build: n=%llu switches/rep (swapcontext: %llu), reps=%u, warm-up=n/10, reps interleaved round-robin, "
           "median of reps, "
           "1 round trip = 2 switches, pinned to cpu %d\n",
           (unsigned long long)n, (unsigned long long)ucn, reps, sched_getcpu());
}

int main(int argc, char **argv) {
    unsigned reps = 7;
    uint64_t n = 10000000, ucn = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "reps=", 5) == 0) reps = (unsigned)strtoul(argv[i] + 5, NULL, 10);
        else if (strncmp(argv[i], "n=", 2) == 0) n = strtoull(argv[i] + 2, NULL, 10);
        else if (strncmp(argv[i], "ucn=", 4) == 0) ucn = strtoull(argv[i] + 4, NULL, 10);
        else {
            fprintf(stderr, "usage: %s [reps=N] [n=N] [ucn=N]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (n < 2) n = 2;
    if (ucn == 0) ucn = n / 20 < 2 ? 2 : n / 20;

    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    w1_print_build(n, ucn, reps);

    w1_result res[W1_NIMPL];
    int failed = w1_measure_all(n, ucn, reps, res) != 0;
    double boost_med = 0;
    for (size_t i = 0; i < W1_NIMPL; i++)
        if (strstr(w1_impls[i].name, "boost")) boost_med = res[i].med;

    printf("\n| impl | ns/switch (median) | min | max | ratio vs boost fcontext |%s\n",
#ifdef W1_HAVE_TSC
           " TSC ticks/switch (median) |"
#else
           ""
#endif
    );
    printf("|---|---:|---:|---:|---:|%s\n",
#ifdef W1_HAVE_TSC
           "---:|"
#else
           ""
#endif
    );
    for (size_t i = 0; i < W1_NIMPL; i++) {
        char ratio[32];
        if (boost_med > 0) snprintf(ratio, sizeof ratio, "%.2f", res[i].med / boost_med);
        else snprintf(ratio, sizeof ratio, "n/a");
        printf("| %s | %.2f | %.2f | %.2f | %s |", w1_impls[i].name, res[i].med, res[i].min, res[i].max, ratio);
#ifdef W1_HAVE_TSC
        printf(" %.1f |", res[i].tick_med);
#endif
        printf("\n");
    }
    if (failed) fprintf(stderr, "w1: counter check FAILED\n");
    return failed;
}
