/* tests/switch_callee_saved.c
 * Description: every callee-saved register (x86_64: rbx, rbp, r12-r15;
 * aarch64: x19-x29 and d8-d15) survives a switch in both directions, for all
 * four variants, while the other context loads different values into all of
 * them; and C doubles live across a switch keep their values.
 *
 * cs_plant_swap() is a tiny asm helper: it saves the real callee-saved
 * registers, loads the sentinels from in[], calls the switcher, and after the
 * switch returns stores the registers into out[] and restores the real ones.
 */
#include <criterion/criterion.h>

#include "test_util.h"

#if defined(__x86_64__)
#define CS_NREGS 6 /* rbx, rbp, r12, r13, r14, r15 */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl cs_plant_swap\n"
        ".hidden cs_plant_swap\n"
        ".type cs_plant_swap, @function\n"
        "cs_plant_swap:\n" /* rdi=in rsi=out rdx=fn rcx=save r8=load */
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  pushq %rsi\n" /* out; rsp is now 16-byte aligned */
        "  movq %rdx, %r11\n"
        "  movq %rdi, %r10\n"
        "  movq %rcx, %rdi\n"
        "  movq %r8, %rsi\n"
        "  movq 0(%r10), %rbx\n"
        "  movq 8(%r10), %rbp\n"
        "  movq 16(%r10), %r12\n"
        "  movq 24(%r10), %r13\n"
        "  movq 32(%r10), %r14\n"
        "  movq 40(%r10), %r15\n"
        "  call *%r11\n"
        "  popq %rax\n"
        "  movq %rbx, 0(%rax)\n"
        "  movq %rbp, 8(%rax)\n"
        "  movq %r12, 16(%rax)\n"
        "  movq %r13, 24(%rax)\n"
        "  movq %r14, 32(%rax)\n"
        "  movq %r15, 40(%rax)\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size cs_plant_swap, . - cs_plant_swap\n");
static const char *const cs_names[CS_NREGS] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
#elif defined(__aarch64__)
#define CS_NREGS 19 /* x19-x29, d8-d15 */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl cs_plant_swap\n"
        ".hidden cs_plant_swap\n"
        ".type cs_plant_swap, %function\n"
        "cs_plant_swap:\n" /* x0=in x1=out x2=fn x3=save x4=load */
        "  hint #34\n"
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n"
        "  stp x21, x22, [sp, #32]\n"
        "  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n"
        "  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  str x1, [sp, #160]\n"
        "  mov x9, x0\n"
        "  mov x10, x2\n"
        "  mov x0, x3\n"
        "  mov x1, x4\n"
        "  ldp x19, x20, [x9, #0]\n"
        "  ldp x21, x22, [x9, #16]\n"
        "  ldp x23, x24, [x9, #32]\n"
        "  ldp x25, x26, [x9, #48]\n"
        "  ldp x27, x28, [x9, #64]\n"
        "  ldr x29, [x9, #80]\n"
        "  ldp d8, d9, [x9, #88]\n"
        "  ldp d10, d11, [x9, #104]\n"
        "  ldp d12, d13, [x9, #120]\n"
        "  ldp d14, d15, [x9, #136]\n"
        "  blr x10\n"
        "  ldr x9, [sp, #160]\n"
        "  stp x19, x20, [x9, #0]\n"
        "  stp x21, x22, [x9, #16]\n"
        "  stp x23, x24, [x9, #32]\n"
        "  stp x25, x26, [x9, #48]\n"
        "  stp x27, x28, [x9, #64]\n"
        "  str x29, [x9, #80]\n"
        "  stp d8, d9, [x9, #88]\n"
        "  stp d10, d11, [x9, #104]\n"
        "  stp d12, d13, [x9, #120]\n"
        "  stp d14, d15, [x9, #136]\n"
        "  ldp x19, x20, [sp, #16]\n"
        "  ldp x21, x22, [sp, #32]\n"
        "  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n"
        "  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n"
        "  ret\n"
        ".size cs_plant_swap, . - cs_plant_swap\n");
static const char *const cs_names[CS_NREGS] = {"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
                                               "x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15"};
#else
#error "switch_callee_saved: unsupported architecture"
#endif

void cs_plant_swap(const uint64_t *in, uint64_t *out, dtact__swap_fn fn, void **save_sp, void *load_sp);

static unsigned cs_variant;
static tu_ctx cs_main, cs_fib;
static uint64_t cs_in_main[CS_NREGS], cs_out_main[CS_NREGS];
static uint64_t cs_in_fib[CS_NREGS], cs_out_fib[CS_NREGS];

static void cs_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    /* Plant the fiber's sentinels and switch back to main, which checks its own. */
    tu_before_switch(&cs_fib, &cs_main);
    cs_plant_swap(cs_in_fib, cs_out_fib, dtact__swap_table[cs_variant], &cs_fib.sp, cs_main.sp);
    tu_after_switch(&cs_fib);
    /* Resumed by main: cs_out_fib now holds what the switch restored to us. */
    tu_switch(cs_variant, &cs_fib, &cs_main);
    abort(); /* never resumed again */
}

static void cs_fill(uint64_t *a, uint64_t seed) {
    for (int i = 0; i < CS_NREGS; i++)
        a[i] = (seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(i + 1) * 0x0101010101010101ull) ^ 0x8000000000000001ull;
}

static void cs_run(unsigned v) {
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 256 * 1024), 0, "mmap");
    cs_variant = v;
    cs_fill(cs_in_main, 1000 + v);
    cs_fill(cs_in_fib, 2000 + v);
    memset(cs_out_main, 0, sizeof cs_out_main);
    memset(cs_out_fib, 0, sizeof cs_out_fib);
    tu_ctx_init_thread(&cs_main);
    tu_ctx_make(&cs_fib, &st, cs_entry, NULL, v);

    tu_before_switch(&cs_main, &cs_fib);
    cs_plant_swap(cs_in_main, cs_out_main, dtact__swap_table[v], &cs_main.sp, cs_fib.sp);
    tu_after_switch(&cs_main);
    for (int i = 0; i < CS_NREGS; i++)
        cr_assert_eq(cs_out_main[i], cs_in_main[i], "%s: main's %s: got %#llx, planted %#llx", tu_variant_name(v),
                     cs_names[i], (unsigned long long)cs_out_main[i], (unsigned long long)cs_in_main[i]);

    tu_switch(v, &cs_main, &cs_fib);
    for (int i = 0; i < CS_NREGS; i++)
        cr_assert_eq(cs_out_fib[i], cs_in_fib[i], "%s: fiber's %s: got %#llx, planted %#llx", tu_variant_name(v),
                     cs_names[i], (unsigned long long)cs_out_fib[i], (unsigned long long)cs_in_fib[i]);
    tu_ctx_destroy(&cs_fib);
    tu_stack_free(&st);
}

Test(switch_callee_saved, cross_fp) { cs_run(DTACT__SW_CROSS_FP); }
Test(switch_callee_saved, cross_nofp) { cs_run(DTACT__SW_CROSS_NOFP); }
Test(switch_callee_saved, same_fp) { cs_run(DTACT__SW_SAME_FP); }
Test(switch_callee_saved, same_nofp) { cs_run(DTACT__SW_SAME_NOFP); }

/* C-level: doubles (kept in d8-d15 on aarch64, spilled on x86_64) and integers
 * live across switches keep their values while the other side computes. */
static double cs_sink;

static void cs_fp_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    for (;;) {
        volatile double k = 7.0;
        double a = k * 1.25, b = k * -3.5, c = k / 9.0, d = k + 1e-3;
        tu_switch(cs_variant, &cs_fib, &cs_main);
        cs_sink = a + b + c + d; /* clobbers FP registers of main's side too */
        if (a != 8.75 || b != -24.5 || c != 7.0 / 9.0 || d != 7.0 + 1e-3) cs_sink = -1.0;
    }
}

static void cs_fp_run(unsigned v) {
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 256 * 1024), 0, "mmap");
    cs_variant = v;
    tu_ctx_init_thread(&cs_main);
    tu_ctx_make(&cs_fib, &st, cs_fp_entry, NULL, v);
    volatile double seed = 3.0;
    double x = seed * 2.0, y = seed / 7.0, z = seed - 0.5;
    for (int i = 0; i < 100; i++) {
        tu_switch(v, &cs_main, &cs_fib);
        cr_assert(x == 6.0 && y == 3.0 / 7.0 && z == 2.5, "%s: main's doubles changed", tu_variant_name(v));
        if (i > 0) cr_assert(cs_sink != -1.0, "%s: fiber's doubles changed", tu_variant_name(v));
        x += 0.0;
    }
    tu_ctx_destroy(&cs_fib);
    tu_stack_free(&st);
}

Test(switch_callee_saved, doubles_live_across_switch) {
    for (unsigned i = 0; i < DTACT__SW_COUNT; i++)
        cs_fp_run(tu_all_variants[i]);
}
