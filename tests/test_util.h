/* tests/test_util.h -- helpers shared by the switcher tests (tests/switch_*.c).
 *
 * tu_stack_*   mmap'd fiber stacks with a PROT_NONE guard page below them.
 * tu_ctx       one execution context for the tests: its saved stack pointer
 *              plus what the sanitizers need to follow a stack switch.
 * tu_switch()  dtact__swap_table[variant] wrapped in the sanitizer fiber
 *              annotations: under AddressSanitizer (DTACT_ASAN)
 *              __sanitizer_start/finish_switch_fiber, under ThreadSanitizer
 *              (DTACT_TSAN) __tsan_switch_to_fiber. Every fiber entry function
 *              starts with TU_FIBER_START() to complete the first switch.
 * Stress sizes go through dtact_test_scaled() (tests/test_scale.h,
 * DTACT_TEST_SCALE).
 */
#ifndef DTACT_TESTS_TEST_UTIL_H
#define DTACT_TESTS_TEST_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "switch.h"
#include "test_scale.h"

#if defined(DTACT_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(DTACT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* A function the optimiser can neither inline nor see through (so a TLS
 * address it returns is recomputed at every call). */
#if defined(__clang__)
#define TU_OPAQUE __attribute__((noinline, optnone))
#else
#define TU_OPAQUE __attribute__((noinline, noipa))
#endif

#define TU_TIMEOUT 120.0

static const unsigned tu_all_variants[DTACT__SW_COUNT] = {DTACT__SW_CROSS_FP, DTACT__SW_CROSS_NOFP, DTACT__SW_SAME_FP,
                                                          DTACT__SW_SAME_NOFP};

static inline const char *tu_variant_name(unsigned v) {
    static const char *const names[DTACT__SW_COUNT] = {"cross-fp", "cross-nofp", "same-fp", "same-nofp"};
    return v < DTACT__SW_COUNT ? names[v] : "?";
}

/* ------------------------------------------------------------------ stacks */
typedef struct tu_stack {
    void *map; /* whole mapping, guard page included */
    size_t map_len;
    void *lo;    /* lowest usable byte */
    size_t size; /* usable bytes */
} tu_stack;

static inline int tu_stack_alloc(tu_stack *s, size_t size) {
    memset(s, 0, sizeof *s);
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096u;
    size = (size + page - 1) / page * page;
    void *m = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) return -1;
    if (mprotect(m, page, PROT_NONE) != 0) { /* guard page below the stack */
        munmap(m, size + page);
        return -1;
    }
    s->map = m;
    s->map_len = size + page;
    s->lo = (char *)m + page;
    s->size = size;
    return 0;
}

static inline void *tu_stack_top(const tu_stack *s) { return (char *)s->lo + s->size; }

static inline void tu_stack_free(tu_stack *s) {
    if (s->map) munmap(s->map, s->map_len);
    s->map = NULL;
}

/* ---------------------------------------------------------------- contexts */
typedef struct tu_ctx {
    void *sp;           /* saved stack pointer while suspended */
    const void *stk_lo; /* stack bounds, for ASan */
    size_t stk_size;
    void *asan_fake;  /* ASan fake-stack handle while suspended */
    void *tsan_fiber; /* TSan fiber handle */
    int owns_tsan_fiber;
} tu_ctx;

/* Describe the calling thread's own stack as a context (to switch back to). */
static inline void tu_ctx_init_thread(tu_ctx *c) {
    memset(c, 0, sizeof *c);
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo = NULL;
        size_t sz = 0;
        if (pthread_attr_getstack(&attr, &lo, &sz) == 0) {
            c->stk_lo = lo;
            c->stk_size = sz;
        }
        pthread_attr_destroy(&attr);
    }
#if defined(DTACT_TSAN)
    c->tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* A new context on stack s that will run entry(arg) with `variant`. */
static inline void tu_ctx_make(tu_ctx *c, tu_stack *s, void (*entry)(void *), void *arg, unsigned variant) {
    memset(c, 0, sizeof *c);
    c->sp = dtact__make_context(tu_stack_top(s), entry, arg, variant);
    c->stk_lo = s->lo;
    c->stk_size = s->size;
#if defined(DTACT_TSAN)
    c->tsan_fiber = __tsan_create_fiber(0);
    c->owns_tsan_fiber = 1;
#endif
}

static inline void tu_ctx_destroy(tu_ctx *c) {
#if defined(DTACT_TSAN)
    if (c->owns_tsan_fiber && c->tsan_fiber) __tsan_destroy_fiber(c->tsan_fiber);
#endif
    c->tsan_fiber = NULL;
    c->owns_tsan_fiber = 0;
}

/* Annotation halves, for tests that switch through their own asm helper. */
static inline void tu_before_switch(tu_ctx *from, tu_ctx *to) {
#if defined(DTACT_ASAN)
    __sanitizer_start_switch_fiber(&from->asan_fake, to->stk_lo, to->stk_size);
#endif
#if defined(DTACT_TSAN)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
}

static inline void tu_after_switch(tu_ctx *self) {
#if defined(DTACT_ASAN)
    __sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#endif
    (void)self;
}

/* Suspend `from` (the running context) and resume `to`, whose switch call
 * returns `pass`. Returns, when some context switches back to `from`, the
 * value that context passed. */
static inline int tu_switch_pass(unsigned variant, tu_ctx *from, tu_ctx *to, int pass) {
    tu_before_switch(from, to);
    int got = dtact__swap_table[variant](&from->sp, to->sp, pass);
    tu_after_switch(from);
    return got;
}

static inline void tu_switch(unsigned variant, tu_ctx *from, tu_ctx *to) { (void)tu_switch_pass(variant, from, to, 0); }

/* First statement of every fiber entry function. */
#if defined(DTACT_ASAN)
#define TU_FIBER_START() __sanitizer_finish_switch_fiber(NULL, NULL, NULL)
#else
#define TU_FIBER_START() ((void)0)
#endif

#endif /* DTACT_TESTS_TEST_UTIL_H */
