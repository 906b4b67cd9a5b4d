/* tests/switch_deep_recursion.c
 * Description: a fiber on a 1 MiB mmap'd stack (guard page below) recurses
 * through more than 200 KiB of frames, switching out to the main context at
 * the deepest point and back, for all four variants; every frame's data is
 * intact on the way up.
 */
#include <criterion/criterion.h>

#include "test_util.h"

#define DR_STACK (1024u * 1024u)
#define DR_FRAME 1024u
#define DR_DEPTH 256u /* >= 256 KiB of frames */

static unsigned dr_variant;
static tu_ctx dr_main, dr_fib;
static uintptr_t dr_top_frame, dr_deepest_frame;
static uint64_t dr_result;

/* The frame's buffer escapes into these opaque helpers, so no compiler can
 * shrink or split it: each level really uses DR_FRAME bytes of stack. */
TU_OPAQUE static void dr_fill(unsigned char *p, unsigned depth) {
    for (unsigned i = 0; i < DR_FRAME; i++)
        p[i] = (unsigned char)(depth + i);
}

TU_OPAQUE static uint64_t dr_damage(const unsigned char *p, unsigned depth) {
    uint64_t bad = 0;
    for (unsigned i = 0; i < DR_FRAME; i++)
        bad += p[i] != (unsigned char)(depth + i);
    return bad;
}

__attribute__((noinline)) static uint64_t dr_recurse(unsigned depth) {
    unsigned char pad[DR_FRAME];
    dr_fill(pad, depth);
    uint64_t below;
    if (depth == 0) {
        dr_deepest_frame = (uintptr_t)__builtin_frame_address(0);
        tu_switch(dr_variant, &dr_fib, &dr_main); /* suspend at the deepest point */
        below = 0;
    } else {
        below = dr_recurse(depth - 1);
    }
    return below + dr_damage(pad, depth) + 1; /* damage is 0 if the frame is intact */
}

static void dr_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    dr_top_frame = (uintptr_t)__builtin_frame_address(0);
    dr_result = dr_recurse(DR_DEPTH);
    tu_switch(dr_variant, &dr_fib, &dr_main);
    abort();
}

static void dr_run(unsigned v) {
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, DR_STACK), 0, "mmap");
    dr_variant = v;
    dr_result = 0;
    tu_ctx_init_thread(&dr_main);
    tu_ctx_make(&dr_fib, &st, dr_entry, NULL, v);
    tu_switch(v, &dr_main, &dr_fib); /* runs down to the deepest frame */
    uintptr_t used = dr_top_frame - dr_deepest_frame;
    tu_switch(v, &dr_main, &dr_fib); /* unwinds back up */
    tu_ctx_destroy(&dr_fib);
    tu_stack_free(&st);
    cr_assert_geq(used, 200u * 1024u, "%s: only %lu bytes of frames", tu_variant_name(v), (unsigned long)used);
    cr_assert_lt(used, DR_STACK, "%s", tu_variant_name(v));
    cr_assert_eq(dr_result, DR_DEPTH + 1, "%s: frame data corrupted (%llu)", tu_variant_name(v),
                 (unsigned long long)dr_result);
}

Test(switch_deep_recursion, cross_fp) { dr_run(DTACT__SW_CROSS_FP); }
Test(switch_deep_recursion, cross_nofp) { dr_run(DTACT__SW_CROSS_NOFP); }
Test(switch_deep_recursion, same_fp) { dr_run(DTACT__SW_SAME_FP); }
Test(switch_deep_recursion, same_nofp) { dr_run(DTACT__SW_SAME_NOFP); }
