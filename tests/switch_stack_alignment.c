/* tests/switch_stack_alignment.c
 * Description: a new context's entry function runs with the stack aligned as
 * after a call (x86_64: rsp % 16 == 8 at entry, so frame addresses and
 * _Alignas(16) locals are 16-byte aligned; aarch64: sp % 16 == 0), both in
 * the entry function and in a nested call, on first entry and after further
 * switches, for all four variants; and it receives its argument intact.
 *
 * al_sp_at_entry() is a tiny asm function returning its own stack pointer on
 * entry: x86_64 expects 8 mod 16 (the return address was just pushed),
 * aarch64 expects 0 mod 16.
 */
#include <criterion/criterion.h>

#include "test_util.h"

#if defined(__x86_64__)
__asm__(".text\n.p2align 4\n.globl al_sp_at_entry\n.hidden al_sp_at_entry\n.type al_sp_at_entry, @function\n"
        "al_sp_at_entry:\n  movq %rsp, %rax\n  ret\n.size al_sp_at_entry, . - al_sp_at_entry\n");
#define AL_SP_MOD 8u
#elif defined(__aarch64__)
__asm__(".text\n.p2align 4\n.globl al_sp_at_entry\n.hidden al_sp_at_entry\n.type al_sp_at_entry, %function\n"
        "al_sp_at_entry:\n  hint #34\n  mov x0, sp\n  ret\n.size al_sp_at_entry, . - al_sp_at_entry\n");
#define AL_SP_MOD 0u
#else
#error "switch_stack_alignment: unsupported architecture"
#endif
uintptr_t al_sp_at_entry(void);

typedef struct al_obs {
    uintptr_t entry_local, entry_frame, entry_callsite_sp;
    uintptr_t nested_local, nested_frame, nested_callsite_sp;
    uintptr_t later_local, later_callsite_sp;
    void *arg;
} al_obs;

static unsigned al_variant;
static tu_ctx al_main, al_fib;
static al_obs al_o;

__attribute__((noinline)) static void al_nested(uintptr_t *local, uintptr_t *frame, uintptr_t *sp) {
    _Alignas(16) volatile char buf[16];
    buf[0] = 1;
    *local = (uintptr_t)&buf[0];
    *frame = (uintptr_t)__builtin_frame_address(0);
    *sp = al_sp_at_entry();
}

static void al_entry(void *arg) {
    TU_FIBER_START();
    _Alignas(16) volatile char buf[16];
    buf[0] = 1;
    al_o.arg = arg;
    al_o.entry_local = (uintptr_t)&buf[0];
    al_o.entry_frame = (uintptr_t)__builtin_frame_address(0);
    al_o.entry_callsite_sp = al_sp_at_entry();
    al_nested(&al_o.nested_local, &al_o.nested_frame, &al_o.nested_callsite_sp);
    tu_switch(al_variant, &al_fib, &al_main);
    uintptr_t frame;
    al_nested(&al_o.later_local, &frame, &al_o.later_callsite_sp);
    tu_switch(al_variant, &al_fib, &al_main);
    abort();
}

static void al_run(unsigned v) {
    static int token;
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 256 * 1024), 0, "mmap");
    al_variant = v;
    memset(&al_o, 0, sizeof al_o);
    tu_ctx_init_thread(&al_main);
    tu_ctx_make(&al_fib, &st, al_entry, &token, v);
    tu_switch(v, &al_main, &al_fib);
    tu_switch(v, &al_main, &al_fib);
    tu_ctx_destroy(&al_fib);
    tu_stack_free(&st);

    const char *n = tu_variant_name(v);
    cr_assert_eq(al_o.arg, (void *)&token, "%s: entry got the wrong argument", n);
    cr_assert_eq(al_o.entry_local % 16, 0, "%s: _Alignas(16) local in entry at %#lx", n,
                 (unsigned long)al_o.entry_local);
    cr_assert_eq(al_o.entry_frame % 16, 0, "%s: entry frame address %#lx", n, (unsigned long)al_o.entry_frame);
    cr_assert_eq(al_o.entry_callsite_sp % 16, AL_SP_MOD, "%s: sp at a call from entry %#lx", n,
                 (unsigned long)al_o.entry_callsite_sp);
    cr_assert_eq(al_o.nested_local % 16, 0, "%s: _Alignas(16) local in nested call", n);
    cr_assert_eq(al_o.nested_frame % 16, 0, "%s: nested frame address %#lx", n, (unsigned long)al_o.nested_frame);
    cr_assert_eq(al_o.nested_callsite_sp % 16, AL_SP_MOD, "%s: sp at a nested call", n);
    cr_assert_eq(al_o.later_local % 16, 0, "%s: local after a switch", n);
    cr_assert_eq(al_o.later_callsite_sp % 16, AL_SP_MOD, "%s: sp at a call after a switch", n);
    /* The initial frame stays within DTACT__INIT_FRAME_BYTES of the top. */
    cr_assert((uintptr_t)tu_stack_top(&st) - al_o.entry_callsite_sp < DTACT__INIT_FRAME_BYTES + 4096,
              "%s: entry frame too far below stack_top", n);
}

Test(switch_stack_alignment, cross_fp) { al_run(DTACT__SW_CROSS_FP); }
Test(switch_stack_alignment, cross_nofp) { al_run(DTACT__SW_CROSS_NOFP); }
Test(switch_stack_alignment, same_fp) { al_run(DTACT__SW_SAME_FP); }
Test(switch_stack_alignment, same_nofp) { al_run(DTACT__SW_SAME_NOFP); }

/* make_context writes nothing at or above stack_top and at most
 * DTACT__INIT_FRAME_BYTES below it, and returns a pointer inside that range. */
static void al_never(void *arg) {
    (void)arg;
    abort();
}

Test(switch_stack_alignment, make_context_stays_in_frame_budget) {
    for (unsigned i = 0; i < DTACT__SW_COUNT; i++) {
        _Alignas(16) unsigned char buf[1024];
        memset(buf, 0xA5, sizeof buf);
        unsigned char *top = buf + 512;
        void *sp = dtact__make_context(top, al_never, NULL, tu_all_variants[i]);
        cr_assert((unsigned char *)sp < top && (unsigned char *)sp >= top - DTACT__INIT_FRAME_BYTES, "sp");
        for (size_t k = 0; k < 512; k++)
            cr_assert_eq(buf[512 + k], 0xA5, "%s: wrote above stack_top", tu_variant_name(tu_all_variants[i]));
        for (size_t k = 0; k < 512 - DTACT__INIT_FRAME_BYTES; k++)
            cr_assert_eq(buf[k], 0xA5, "%s: wrote beyond the frame budget", tu_variant_name(tu_all_variants[i]));
    }
}
