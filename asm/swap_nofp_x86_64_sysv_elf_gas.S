/* asm/swap_nofp_x86_64_sysv_elf_gas.S -- no-float context switchers, x86_64 System V, ELF, GNU as.
 *
 *   int dtact__swap_nofp_cross(void **save_sp, void *load_sp, int pass);   variant 1
 *   int dtact__swap_nofp_same (void **save_sp, void *load_sp, int pass);   variant 3
 *
 * Frame pushed on the suspending context's stack (7 words, 56 bytes); *save_sp
 * receives the address of slot 0. make_x86_64_sysv_elf_gas.S builds the same
 * frame for a new context.
 *
 *   slot | offset | contents
 *   -----+--------+---------------------------------------------
 *     0  |  0x00  | r12
 *     1  |  0x08  | r13
 *     2  |  0x10  | r14
 *     3  |  0x18  | r15
 *     4  |  0x20  | rbx
 *     5  |  0x28  | rbp
 *     6  |  0x30  | resume address (the caller's return address)
 *
 * WHAT IS SAVED. Exactly the registers the System V AMD64 psABI (section 3.2.1,
 * figure 3.4) makes callee-saved: rbx, rbp, r12-r15, plus rsp (stored in
 * *save_sp) and the resume address. Everything else is caller-saved, so the
 * C caller of this "function" has already given it up: rax, rcx, rdx, rsi,
 * rdi, r8-r11, xmm0-15/ymm/zmm, the x87 stack, k0-7, and the status flags.
 *
 * WHAT IS NOT SAVED, AND WHY THAT IS SAFE.
 *  - MXCSR control bits and the x87 control word. The psABI makes them
 *    callee-saved ("control bits of MXCSR and the x87 CW are callee-saved"),
 *    so a no-float switcher LEAVES THEM SHARED: they belong to the thread, not
 *    to the fiber. That is correct as long as no fiber of this variant
 *    changes them (fesetround, fesetenv, feenableexcept, -ffast-math's crtfastmath
 *    at startup is fine because it is process-wide). A fiber that changes them
 *    must use a float variant (asm/swap_fp_x86_64_sysv_elf_gas.S).
 *  - The FS base (TLS) and GS base. They are per-thread kernel state, never
 *    saved by ANY variant: a fiber resumed on another thread sees that
 *    thread's errno and __thread variables (see "cross vs same" below).
 *  - The signal mask and sigaltstack: per thread, never switched (unlike
 *    swapcontext, no syscall). A signal delivered while a fiber runs is
 *    handled on the fiber's stack unless the thread has a sigaltstack, so
 *    fiber stacks must leave room for a signal frame (the signal-stack
 *    pitfall: a few KiB, more with AVX-512 state).
 *  - The red zone. The switch is a call; the caller's red zone is dead across
 *    calls by definition, so pushing below rsp here is fine.
 *
 * CROSS VS SAME. Both symbols run the same instructions (two copies from one
 * macro, so profiles name the variant). What differs is the contract the
 * runtime keeps: a same-thread fiber is pinned to the worker that created it,
 * so every TLS address it computed stays valid; a cross-thread fiber may be
 * resumed by any worker, and the only thing this switcher guarantees it is
 * that all callee-saved state travels with it while the TLS base does not -
 * after the resume, fs: names the NEW thread's TLS block.
 *   Compiler TLS-address caching hazard: a compiler may compute &errno (the
 *   result of __errno_location(), which glibc declares const) or the address
 *   of a __thread variable once and keep it in a callee-saved register or a
 *   stack slot across a call that suspends the fiber - to C, a call cannot
 *   change the current thread. This switch restores that register or slot
 *   faithfully, so after a cross-thread resume the code dereferences the OLD
 *   thread's variable (a data race, or a use-after-free once it exits).
 *   How it is avoided: (1) every suspension point in the runtime is an opaque,
 *   non-inlined call, and the runtime code around it re-reads its per-worker
 *   state through a non-inlined accessor after the call instead of reusing
 *   anything computed before it; (2) users of cross-thread fibers must do the
 *   same - re-read errno / __thread variables through a non-inlined (noipa)
 *   accessor after any suspension point - or choose a same-thread switcher,
 *   whose fiber never changes thread so cached TLS addresses stay valid.
 *   tests/switch_cross_thread_tls.c checks that TLS follows the thread.
 *
 * RESUME. With an indirect `jmp` rather than `ret`: this switch never returns
 * to the address its own `call` pushed (it returns to the OTHER context's), so
 * a `ret` would always miss the return-stack buffer (8-11 ns per switch on
 * the reference machines); an indirect jmp is predicted by the BTB instead.
 *
 * PASS. The third argument (edx) is moved to eax first, and nothing below
 * touches rax, so the resumed context's switch call returns it. A caller can
 * then end in a tail call of the switch (`return swap(..)`): the suspended
 * function has no code left after the switch, no `ret` runs on resume, and
 * the return-stack buffer never mispredicts (core/fiber.c, dtact_yield).
 * A new context ignores it.
 *
 * CET. With -fcf-protection=branch (__CET__ bit 0) every entry starts with
 * endbr64 and the resume uses `notrack jmp`, because resume addresses are
 * return addresses (no endbr64 there). The GNU property note declares IBT
 * only. It must NOT declare SHSTK: the shadow stack is per thread, a switch
 * pops the shadow stack of the wrong context on the next `ret`, and per-fiber
 * shadow stacks (with restore tokens) are not implemented.
 */

#if defined(__CET__) && (__CET__ & 1)
#  define DTACT_ENDBR endbr64
#  define DTACT_NOTRACK notrack
#else
#  define DTACT_ENDBR
#  define DTACT_NOTRACK
#endif

.macro DTACT_SWAP_NOFP name
    .text
    .p2align 4
    .globl  \name
    .hidden \name
    .type   \name, @function
\name:
    .cfi_startproc
    DTACT_ENDBR                     /* IBT landing pad (empty without CET)        */
    movl    %edx, %eax              /* the resumed context returns `pass`         */
    pushq   %rbp                    /* slot 5: rbp                                */
    .cfi_adjust_cfa_offset 8
    pushq   %rbx                    /* slot 4: rbx                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r15                    /* slot 3: r15                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r14                    /* slot 2: r14                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r13                    /* slot 1: r13                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r12                    /* slot 0: r12                                */
    .cfi_adjust_cfa_offset 8
    movq    %rsp, (%rdi)            /* *save_sp = address of slot 0               */
    movq    %rsi, %rsp              /* switch stacks: rsp = load_sp (same layout) */
    popq    %r12                    /* slot 0 -> r12                              */
    .cfi_adjust_cfa_offset -8
    popq    %r13                    /* slot 1 -> r13                              */
    .cfi_adjust_cfa_offset -8
    popq    %r14                    /* slot 2 -> r14                              */
    .cfi_adjust_cfa_offset -8
    popq    %r15                    /* slot 3 -> r15                              */
    .cfi_adjust_cfa_offset -8
    popq    %rbx                    /* slot 4 -> rbx                              */
    .cfi_adjust_cfa_offset -8
    popq    %rbp                    /* slot 5 -> rbp                              */
    .cfi_adjust_cfa_offset -8
    popq    %rcx                    /* slot 6: resume address (rcx is scratch)    */
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    DTACT_NOTRACK jmp *%rcx         /* resume the other context (see RESUME)      */
    .cfi_endproc
    .size   \name, . - \name
.endm

DTACT_SWAP_NOFP dtact__swap_nofp_cross
DTACT_SWAP_NOFP dtact__swap_nofp_same

#if defined(__CET__) && (__CET__ & 1)
/* GNU property note: GNU_PROPERTY_X86_FEATURE_1_AND = IBT (bit 0) only; see CET above. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                       /* n_namesz: "GNU\0"                          */
    .long   16                      /* n_descsz: one 16-byte property             */
    .long   5                       /* n_type: NT_GNU_PROPERTY_TYPE_0             */
    .asciz  "GNU"                   /* n_name                                     */
    .long   0xc0000002              /* pr_type: GNU_PROPERTY_X86_FEATURE_1_AND    */
    .long   4                       /* pr_datasz                                  */
    .long   1                       /* GNU_PROPERTY_X86_FEATURE_1_IBT             */
    .p2align 3                      /* pad to 8                                   */
#endif

/* Non-executable stack. */
.section .note.GNU-stack, "", %progbits
