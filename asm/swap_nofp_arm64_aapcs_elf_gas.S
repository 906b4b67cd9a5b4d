/* asm/swap_nofp_arm64_aapcs_elf_gas.S -- no-float context switchers, AArch64 AAPCS64, ELF, GNU as.
 *
 *   int dtact__swap_nofp_cross(void **save_sp, void *load_sp, int pass);   variant 1
 *   int dtact__swap_nofp_same (void **save_sp, void *load_sp, int pass);   variant 3
 *                               x0               x1             w2
 *
 * Frame stored on the suspending context's stack (160 bytes, so sp stays
 * 16-byte aligned as AAPCS64 requires at every public interface); *save_sp
 * receives the address of slot 0. make_arm64_aapcs_elf_gas.S builds the same
 * frame for a new context.
 *
 *   slot | offset | contents
 *   -----+--------+----------------------------------------------
 *    0-7 |  0x00  | d8, d9, d10, d11, d12, d13, d14, d15 (low 64 bits of v8-v15)
 *   8-17 |  0x40  | x19, x20, x21, x22, x23, x24, x25, x26, x27, x28
 *     18 |  0x90  | x29 (frame pointer)
 *     19 |  0x98  | x30 (lr) = resume address, PAC-signed with the sp it resumes at
 *
 * WHAT IS SAVED. Everything AAPCS64 (section 6.1.1, "General-purpose
 * registers", and 6.1.2, "SIMD and Floating-Point registers") makes
 * callee-saved: x19-x28, the frame pointer x29, the link register x30 (the
 * resume address), sp (stored in *save_sp), and the bottom 64 bits of v8-v15
 * (d8-d15). d8-d15 are saved by EVERY variant, the no-float ones included:
 * they are callee-saved in the base ABI, compilers keep ordinary double
 * values in them across calls, and a "no-float" switch that dropped them
 * would corrupt any C code that uses floating point around a suspension
 * point (the bug of the original runtime, the earlier Rust Dtact).
 * The no-float variants do NOT save FPCR: it stays shared by all no-float
 * fibers of a thread (it belongs to the thread). That is correct as long as
 * no fiber of this variant changes the rounding mode or other FPCR fields
 * (fesetround, fesetenv); a fiber that does must use a float variant.
 *
 * WHAT IS NOT SAVED, AND WHY THAT IS SAFE.
 *  - Caller-saved state: x0-x18 (x18 is the platform register, unused as
 *    such on Linux), the upper 64 bits of v8-v15, all of v0-v7 and v16-v31,
 *    NZCV, and FPSR (cumulative exception flags, status, not control). The C
 *    caller of this "function" has already given them up.
 *  - TPIDR_EL0 (the TLS base): per-thread kernel state, never saved by ANY
 *    variant, so a fiber resumed on another thread sees that thread's errno
 *    and __thread variables (see "cross vs same" below).
 *  - The signal mask and sigaltstack: per thread, never switched (no
 *    syscall). A signal delivered while a fiber runs is handled on the
 *    fiber's stack unless the thread has a sigaltstack, so fiber stacks must
 *    leave room for a signal frame (the signal-stack pitfall: about 4.5 KiB
 *    on AArch64, much more with SVE/SME state).
 *
 * CROSS VS SAME. Both symbols run the same instructions (two copies from one
 * macro, so profiles name the variant). What differs is the contract the
 * runtime keeps: a same-thread fiber is pinned to the worker that created it,
 * so every TLS address it computed stays valid; a cross-thread fiber may be
 * resumed by any worker, and this switcher guarantees it only that all
 * callee-saved state travels with it while TPIDR_EL0 does not - after the
 * resume, TLS accesses name the NEW thread's block.
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
 * RESUME. With `ret` (through x30), unlike x86_64's indirect jmp: AArch64's
 * return predictor is a stack too, so `ret` to another context's address
 * mispredicts; but `br x30` would be a BTI-checked indirect branch whose
 * targets (return addresses after a `bl`) carry no landing pad, and would
 * fault on a BTI-guarded page. BTI does not check `ret` targets, so `ret` is
 * the only correct choice under branch protection.
 *
 * PASS. The third argument (w2) is moved to w0 after x0 has been used, and
 * the resumed context's switch call returns it. A caller can then end in a
 * tail call of the switch (`return swap(..)`), so that no code of the
 * suspended function runs on resume (core/fiber.c, dtact_yield). A new
 * context ignores it.
 *
 * PAC/BTI. Entries start with `bti c` (hint #34). The saved x30 is signed
 * with the A key and the resuming sp as modifier (paciasp, hint #25) and
 * authenticated after the frame is popped (autiasp, hint #29), so a resume
 * address overwritten in a suspended fiber's stack faults instead of
 * redirecting control; make_context signs the trampoline address the same
 * way (pacia1716). Hint-space encodings are NOPs on cores without FEAT_PAuth
 * / FEAT_BTI, so one binary runs everywhere (unlike PACIA, which raises
 * SIGILL there). The keys are per process, so a cross-thread resume
 * authenticates fine. The GNU property note declares BTI and PAC.
 */

.macro DTACT_SWAP_NOFP name
    .text
    .p2align 4
    .globl  \name
    .hidden \name
    .type   \name, %function
\name:
    .cfi_startproc
    hint    #34                     /* bti c: landing pad for indirect calls      */
    hint    #25                     /* paciasp: sign x30 (resume addr) with sp    */
    .cfi_negate_ra_state
    sub     sp, sp, #160            /* room for the frame (16-byte multiple)      */
    .cfi_adjust_cfa_offset 160
    stp     d8, d9, [sp, #0x00]     /* slots 0-1: d8, d9                          */
    stp     d10, d11, [sp, #0x10]   /* slots 2-3: d10, d11                        */
    stp     d12, d13, [sp, #0x20]   /* slots 4-5: d12, d13                        */
    stp     d14, d15, [sp, #0x30]   /* slots 6-7: d14, d15                        */
    stp     x19, x20, [sp, #0x40]   /* slots 8-9: x19, x20                        */
    stp     x21, x22, [sp, #0x50]   /* slots 10-11: x21, x22                      */
    stp     x23, x24, [sp, #0x60]   /* slots 12-13: x23, x24                      */
    stp     x25, x26, [sp, #0x70]   /* slots 14-15: x25, x26                      */
    stp     x27, x28, [sp, #0x80]   /* slots 16-17: x27, x28                      */
    stp     x29, x30, [sp, #0x90]   /* slots 18-19: x29, signed x30               */
    mov     x10, sp                 /* x10 = address of slot 0                    */
    str     x10, [x0]               /* *save_sp = it                              */
    mov     sp, x1                  /* switch stacks: sp = load_sp (same layout)  */
    mov     w0, w2                  /* the resumed context returns `pass`         */
    ldp     d8, d9, [sp, #0x00]     /* slots 0-1 -> d8, d9                        */
    ldp     d10, d11, [sp, #0x10]   /* slots 2-3 -> d10, d11                      */
    ldp     d12, d13, [sp, #0x20]   /* slots 4-5 -> d12, d13                      */
    ldp     d14, d15, [sp, #0x30]   /* slots 6-7 -> d14, d15                      */
    ldp     x19, x20, [sp, #0x40]   /* slots 8-9 -> x19, x20                      */
    ldp     x21, x22, [sp, #0x50]   /* slots 10-11 -> x21, x22                    */
    ldp     x23, x24, [sp, #0x60]   /* slots 12-13 -> x23, x24                    */
    ldp     x25, x26, [sp, #0x70]   /* slots 14-15 -> x25, x26                    */
    ldp     x27, x28, [sp, #0x80]   /* slots 16-17 -> x27, x28                    */
    ldp     x29, x30, [sp, #0x90]   /* slots 18-19 -> x29, x30 (still signed)     */
    add     sp, sp, #160            /* pop the frame: sp = resume sp              */
    .cfi_adjust_cfa_offset -160
    hint    #29                     /* autiasp: authenticate x30 against sp       */
    .cfi_negate_ra_state
    ret                             /* resume the other context (see RESUME)      */
    .cfi_endproc
    .size   \name, . - \name
.endm

DTACT_SWAP_NOFP dtact__swap_nofp_cross
DTACT_SWAP_NOFP dtact__swap_nofp_same

/* GNU property note: GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI | PAC. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                       /* n_namesz: "GNU\0"                          */
    .long   16                      /* n_descsz: one 16-byte property             */
    .long   5                       /* n_type: NT_GNU_PROPERTY_TYPE_0             */
    .asciz  "GNU"                   /* n_name                                     */
    .long   0xc0000000              /* pr_type: GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long   4                       /* pr_datasz                                  */
    .long   3                       /* BTI (bit 0) | PAC (bit 1)                  */
    .p2align 3                      /* pad to 8                                   */

/* Non-executable stack. */
.section .note.GNU-stack, "", %progbits
