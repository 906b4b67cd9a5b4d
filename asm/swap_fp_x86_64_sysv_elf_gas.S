/* asm/swap_fp_x86_64_sysv_elf_gas.S -- float context switchers, x86_64 System V, ELF, GNU as.
 *
 *   int dtact__swap_fp_cross(void **save_sp, void *load_sp, int pass);   variant 0
 *   int dtact__swap_fp_same (void **save_sp, void *load_sp, int pass);   variant 2
 *
 * `pass` becomes the return value seen by the context that is resumed (the
 * switch that suspended it "returns" pass); see PASS below.
 *
 * Frame pushed on the suspending context's stack (8 words, 64 bytes); *save_sp
 * receives the address of slot 0. make_x86_64_sysv_elf_gas.S builds the same
 * frame for a new float context (MXCSR 0x1F80, x87 CW 0x037F).
 *
 *   slot | offset | contents
 *   -----+--------+---------------------------------------------
 *     0  |  0x00  | MXCSR (bytes 0-3), x87 control word (bytes 4-5), unused (6-7)
 *     1  |  0x08  | r12
 *     2  |  0x10  | r13
 *     3  |  0x18  | r14
 *     4  |  0x20  | r15
 *     5  |  0x28  | rbx
 *     6  |  0x30  | rbp
 *     7  |  0x38  | resume address (the caller's return address)
 *
 * Slots 1-7 are exactly the no-float frame, so the two variants differ only
 * by slot 0. A context suspended by one variant must be resumed by the same
 * variant (core/switch.h).
 *
 * WHAT IS SAVED. The registers the System V AMD64 psABI (section 3.2.1, figure
 * 3.4) makes callee-saved: rbx, rbp, r12-r15, rsp (stored in *save_sp) and the
 * resume address, AND the FP control state the psABI also makes callee-saved:
 * the control bits of MXCSR (rounding mode, exception masks, FTZ/DAZ) and
 * the x87 control word (precision, rounding, masks). So each fiber owns its
 * rounding mode and exception masks: fesetround() in one fiber is invisible
 * to others.
 *
 * FP CONTROL. MXCSR is reloaded on every switch with the incoming control
 * bits and all status flags (bits 0-5) clear. The status flags are
 * caller-saved in the psABI (3.2.1), like the x87 status word, so a switch
 * may change them; they are not carried from context to context. Carrying
 * them (as Boost.Context does, and as this switch did before) makes the two
 * contexts' MXCSR values differ as soon as one side has done one inexact
 * float operation (PE is sticky; a fresh fiber starts at 0x1F80), and from
 * then on every switch writes a changed value into MXCSR. On an Intel Xeon
 * with AVX-512 that made the float switch bimodal, a 6 ns minimum before the
 * first float operation and a 48-57 ns median after it, with Boost's
 * jump_fcontext the same in the same binary (on the AMD EPYC machines the
 * value makes no difference). With the flags cleared, the value written
 * equals the current one whenever the control bits are equal, whatever
 * float work either side did earlier.
 *   The x87 control word is reloaded only when the incoming one differs from
 * the outgoing one, because fldcw is slow and partly serialising and almost
 * every fiber runs the default 0x037F.
 *   Not done: comparing MXCSR and skipping ldmxcsr. The outgoing value exists
 * only in memory (stmxcsr has no register form), and reading it back does
 * not store-forward on AMD Zen: that version cost 3.8 TSC ticks (1.8 ns)
 * more per switch there.
 * Cost, AMD EPYC reference VM (TSC 2.1 GHz), min of 400 x 20k switches:
 * no-float 4.8 ticks (2.3 ns), this switch 10.9 ticks (5.2 ns; 10.4 when it
 * carried the flags); of the 6 ticks between them, stmxcsr takes about 3.5,
 * the x87 word 1.5, ldmxcsr and the clearing of the flags 1.
 *
 * WHAT IS NOT SAVED, AND WHY THAT IS SAFE.
 *  - Caller-saved state: rax, rcx, rdx, rsi, rdi, r8-r11, all of xmm/ymm/zmm,
 *    the x87 register stack and status word, k0-7, rflags. The caller of
 *    this "function" has given them up (psABI 3.2.1); DF is clear on entry
 *    and exit as required.
 *  - The FS base (TLS) and GS base: per-thread kernel state, never saved by
 *    ANY variant; a fiber resumed on another thread sees that thread's errno
 *    and __thread variables (see "cross vs same" below).
 *  - The signal mask and sigaltstack: per thread, never switched (unlike
 *    swapcontext, no syscall). A signal delivered while a fiber runs is
 *    handled on the fiber's stack unless the thread has a sigaltstack, so
 *    fiber stacks must leave room for a signal frame (the signal-stack
 *    pitfall: a few KiB, more with AVX-512 state).
 *
 * CROSS VS SAME. Both symbols run the same instructions (two copies from one
 * macro, so profiles name the variant). What differs is the contract the
 * runtime keeps: a same-thread fiber is pinned to the worker that created it,
 * so every TLS address it computed stays valid; a cross-thread fiber may be
 * resumed by any worker, and this switcher guarantees it only that all
 * callee-saved and FP-control state travels with it while the TLS base does
 * not - after the resume, fs: names the NEW thread's TLS block.
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
 * PASS. The third argument (edx) is moved to eax before anything else, and
 * nothing below touches rax, so the resumed context's switch call returns it.
 * This lets a caller end in a tail call of the switch (`return swap(..)`):
 * the suspended function then needs no code after the switch, so no `ret`
 * runs on resume at all, and the return-stack buffer never mispredicts
 * (core/fiber.c, dtact_yield). A new context ignores it.
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

.macro DTACT_SWAP_FP name
    .text
    .p2align 6                      /* a line of its own: the ~90-byte hot path spans 2 lines, not 3 */
    .globl  \name
    .hidden \name
    .type   \name, @function
\name:
    .cfi_startproc
    DTACT_ENDBR                     /* IBT landing pad (empty without CET)        */
    movl    %edx, %eax              /* the resumed context returns `pass`         */
    pushq   %rbp                    /* slot 6: rbp                                */
    .cfi_adjust_cfa_offset 8
    pushq   %rbx                    /* slot 5: rbx                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r15                    /* slot 4: r15                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r14                    /* slot 3: r14                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r13                    /* slot 2: r13                                */
    .cfi_adjust_cfa_offset 8
    pushq   %r12                    /* slot 1: r12                                */
    .cfi_adjust_cfa_offset 8
    leaq    -8(%rsp), %rsp          /* slot 0: room for the FP control words      */
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)                  /* slot 0 bytes 0-3 = MXCSR                   */
    fnstcw  4(%rsp)                 /* slot 0 bytes 4-5 = x87 control word        */
    movq    %rsp, (%rdi)            /* *save_sp = address of slot 0               */
    movzwl  4(%rsp), %edx           /* edx = our x87 CW (forwarded from fnstcw)   */
    movq    %rsi, %rsp              /* switch stacks: rsp = load_sp (same layout) */
    movl    (%rsp), %ecx            /* ecx = incoming MXCSR                       */
    andl    $0xFFC0, %ecx           /* keep its control bits, clear the status    */
    movl    %ecx, (%rsp)            /*   flags (caller-saved: see FP CONTROL)     */
    ldmxcsr (%rsp)                  /* MXCSR = incoming control bits, no flags    */
    cmpw    4(%rsp), %dx            /* incoming x87 CW == outgoing one?           */
    jne     .Lload_fpucw_\name      /* no: load it (rare, out of line)            */
.Lfpucw_done_\name:
    leaq    8(%rsp), %rsp           /* drop slot 0                                */
    .cfi_adjust_cfa_offset -8
    popq    %r12                    /* slot 1 -> r12                              */
    .cfi_adjust_cfa_offset -8
    popq    %r13                    /* slot 2 -> r13                              */
    .cfi_adjust_cfa_offset -8
    popq    %r14                    /* slot 3 -> r14                              */
    .cfi_adjust_cfa_offset -8
    popq    %r15                    /* slot 4 -> r15                              */
    .cfi_adjust_cfa_offset -8
    popq    %rbx                    /* slot 5 -> rbx                              */
    .cfi_adjust_cfa_offset -8
    popq    %rbp                    /* slot 6 -> rbp                              */
    .cfi_adjust_cfa_offset -8
    popq    %rcx                    /* slot 7: resume address (rcx is scratch)    */
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    DTACT_NOTRACK jmp *%rcx         /* resume the other context (see RESUME)      */
    .cfi_restore rip
    .cfi_adjust_cfa_offset 64       /* the out-of-line path runs with slot 0 on top */
.Lload_fpucw_\name:
    fldcw   4(%rsp)                 /* x87 CW = incoming slot 0 bytes 4-5         */
    jmp     .Lfpucw_done_\name      /* back to the main path                      */
    .cfi_endproc
    .size   \name, . - \name
.endm

DTACT_SWAP_FP dtact__swap_fp_cross
DTACT_SWAP_FP dtact__swap_fp_same

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
