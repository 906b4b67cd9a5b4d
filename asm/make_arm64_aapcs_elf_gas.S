/* asm/make_arm64_aapcs_elf_gas.S -- initial frames and the entry trampoline, AArch64 AAPCS64, ELF, GNU as.
 *
 *   void *dtact__make_context(void *stack_top, void (*entry)(void *), void *arg, unsigned variant);
 *                             x0               x1                      x2         w3
 *
 * Builds, below stack_top, the frame that the variant's switcher pops (see the
 * drawn frames in swap_fp_/swap_nofp_arm64_aapcs_elf_gas.S) and returns the
 * stack pointer to load. entry and arg travel in the callee-saved slots of x19
 * and x20; the x30 slot holds dtact__trampoline_arm64, signed like every saved
 * resume address (pacia1716 with the resuming sp as modifier).
 *
 *   offset from stack_top | float frame (0, 2)       | no-float frame (1, 3)
 *   ----------------------+--------------------------+-----------------------
 *        -0x08            | 0 (padding)              | x30 = trampoline (signed)
 *        -0x10            | FPCR = 0                 | x29 = 0
 *        -0x18            | x30 = trampoline (signed)| x28 = 0
 *        -0x20            | x29 = 0                  | x27 = 0
 *        -0x28            | x28 = 0                  | x26 = 0
 *        -0x30 .. -0x58   | x27 .. x22 = 0           | x25 .. x20: x25-x21 = 0,
 *                         |                          |   x20 = arg (-0x58)
 *        -0x60            | x21 = 0                  | x19 = entry
 *        -0x68            | x20 = arg                | d15 = 0
 *        -0x70            | x19 = entry              | d14 = 0
 *        -0x78 .. -0xa0   | d15 .. d10 = 0           | d13 .. d8 = 0  <- returned sp (-0xa0)
 *        -0xa8, -0xb0     | d9, d8 = 0  <- returned sp (-0xb0)
 *
 * After the switch pops its frame, sp = stack_top (16-byte aligned: AAPCS64
 * 6.4.5.1 requires sp % 16 == 0 at every public interface) and `ret` lands in
 * the trampoline, which calls entry(arg) with `blr`, so entry starts with
 * sp % 16 == 0 and x30 pointing back into the trampoline. The frame uses at
 * most 0xb0 bytes, within DTACT__INIT_FRAME_BYTES (256).
 *
 * The float frame holds FPCR = 0, the Linux default (round to nearest, no
 * flush-to-zero, no default-NaN, all traps disabled), not the creator's. The
 * original runtime's (the earlier Rust Dtact's) unseeded control state is what made its fibers trap.
 *
 * The trampoline marks x30 undefined (.cfi_undefined x30) so unwinders and
 * debuggers stop at the fiber's first frame, and x29 = 0 ends frame-record
 * walks. If entry returns, the `finish:` path calls dtact__context_returned(),
 * which prints and aborts; brk guards its noreturn promise.
 */

    .text
    .p2align 4
    .globl  dtact__make_context
    .hidden dtact__make_context
    .type   dtact__make_context, %function
dtact__make_context:
    .cfi_startproc
    hint    #34                         /* bti c: landing pad for indirect calls    */
    and     x0, x0, #~15                /* defensively align stack_top down to 16   */
    mov     x16, x0                     /* x16 = modifier: the sp the swap resumes at */
    adrp    x17, dtact__trampoline_arm64 /* x17 = trampoline page                    */
    add     x17, x17, :lo12:dtact__trampoline_arm64 /* x17 = trampoline address     */
    hint    #8                          /* pacia1716: sign x17 with x16 (NOP w/o PAuth) */
    tbnz    w3, #0, 1f                  /* odd variant codes (1, 3) are no-float    */
    stp     xzr, xzr, [x0, #-0x10]!     /* float: FPCR = 0, padding = 0; x0 -= 16   */
1:  stp     xzr, x17, [x0, #-0x10]      /* x29 = 0, x30 = signed trampoline         */
    stp     xzr, xzr, [x0, #-0x20]      /* x27 = 0, x28 = 0                         */
    stp     xzr, xzr, [x0, #-0x30]      /* x25 = 0, x26 = 0                         */
    stp     xzr, xzr, [x0, #-0x40]      /* x23 = 0, x24 = 0                         */
    stp     xzr, xzr, [x0, #-0x50]      /* x21 = 0, x22 = 0                         */
    stp     x1, x2, [x0, #-0x60]        /* x19 = entry, x20 = arg                   */
    stp     xzr, xzr, [x0, #-0x70]      /* d14 = 0, d15 = 0                         */
    stp     xzr, xzr, [x0, #-0x80]      /* d12 = 0, d13 = 0                         */
    stp     xzr, xzr, [x0, #-0x90]      /* d10 = 0, d11 = 0                         */
    stp     xzr, xzr, [x0, #-0xa0]!     /* d8 = 0, d9 = 0; x0 = slot 0              */
    ret                                 /* return the sp to pass as load_sp         */
    .cfi_endproc
    .size   dtact__make_context, . - dtact__make_context

/* First code a new context runs, "returned to" by the switcher's ret (BTI
 * does not check ret targets; the landing pad is there for symmetry). */
    .p2align 4
    .type   dtact__trampoline_arm64, %function
    .hidden dtact__trampoline_arm64
dtact__trampoline_arm64:
    .cfi_startproc
    .cfi_undefined x30                  /* no caller: unwinders stop here           */
    hint    #34                         /* bti c                                    */
    mov     x0, x20                     /* first argument = arg (x20 slot)          */
    blr     x19                         /* entry(arg); sp % 16 == 0                 */
finish:                                 /* entry returned: a bug in the fiber       */
    bl      dtact__context_returned     /* prints and aborts, never returns         */
    brk     #0x3e8                      /* trap if it ever did                      */
    .cfi_endproc
    .size   dtact__trampoline_arm64, . - dtact__trampoline_arm64

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
