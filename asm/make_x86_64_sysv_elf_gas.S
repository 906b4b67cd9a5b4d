/* asm/make_x86_64_sysv_elf_gas.S -- initial frames and the entry trampoline, x86_64 System V, ELF, GNU as.
 *
 *   void *dtact__make_context(void *stack_top, void (*entry)(void *), void *arg, unsigned variant);
 *                             rdi              rsi                     rdx        ecx
 *
 * Builds, below stack_top, the frame that the variant's switcher pops (see the
 * drawn frames in swap_fp_/swap_nofp_x86_64_sysv_elf_gas.S) and returns the
 * stack pointer to load. entry and arg travel in the callee-saved slots of r12
 * and r13; the resume slot points at dtact__trampoline_x86_64.
 *
 *   offset from stack_top | float frame (0, 2)       | no-float frame (1, 3)
 *   ----------------------+--------------------------+-----------------------
 *        -0x08            | 0 (fake return address)  | 0 (fake return address)
 *        -0x10            | 0 (padding)              | 0 (padding)
 *        -0x18            | resume = trampoline      | resume = trampoline
 *        -0x20            | rbp = 0                  | rbp = 0
 *        -0x28            | rbx = 0                  | rbx = 0
 *        -0x30            | r15 = 0                  | r15 = 0
 *        -0x38            | r14 = 0                  | r14 = 0
 *        -0x40            | r13 = arg                | r13 = arg
 *        -0x48            | r12 = entry              | r12 = entry  <- returned sp
 *        -0x50            | MXCSR 0x1F80, CW 0x037F  |                <- returned sp
 *
 * After the switch pops its frame and jumps to the trampoline, rsp = stack_top
 * - 0x10, which is 16-byte aligned; the trampoline's `call *%r12` pushes the
 * return address, so entry starts with rsp % 16 == 8 exactly as after any call
 * (psABI 3.2.2: "the value (%rsp + 8) is always a multiple of 16 when control
 * is transferred to the function entry point"). The frame uses 0x50 bytes,
 * within DTACT__INIT_FRAME_BYTES (256).
 *
 * The float frame's slot 0 holds the process's default FP environment - MXCSR
 * 0x1F80 (all exceptions masked, round to nearest, no FTZ/DAZ) and x87 control
 * word 0x037F (all masked, 64-bit precision, round to nearest) - not the
 * creator's, so a fiber never inherits unmasked exceptions (fixes the original
 * runtime's, the earlier Rust Dtact's, MXCSR = 0 SIGFPE). No-float fibers share their thread's state.
 *
 * The trampoline marks rip undefined (.cfi_undefined rip) so unwinders and
 * debuggers stop at the fiber's first frame, and rbp = 0 ends frame-pointer
 * walks. If entry returns, the `finish:` path calls dtact__context_returned(),
 * which prints and aborts; ud2 guards its noreturn promise.
 */

#if defined(__CET__) && (__CET__ & 1)
#  define DTACT_ENDBR endbr64
#else
#  define DTACT_ENDBR
#endif

    .text
    .p2align 4
    .globl  dtact__make_context
    .hidden dtact__make_context
    .type   dtact__make_context, @function
dtact__make_context:
    .cfi_startproc
    DTACT_ENDBR                         /* IBT landing pad (empty without CET)      */
    andq    $-16, %rdi                  /* defensively align stack_top down to 16   */
    xorl    %eax, %eax                  /* rax = 0, the value of every zero slot    */
    movq    %rax, -0x08(%rdi)           /* fake return address 0: ends unwinding    */
    movq    %rax, -0x10(%rdi)           /* padding (keeps entry's rsp 8 mod 16)     */
    leaq    dtact__trampoline_x86_64(%rip), %r8 /* r8 = trampoline address        */
    movq    %r8, -0x18(%rdi)            /* resume slot -> trampoline                */
    movq    %rax, -0x20(%rdi)           /* rbp = 0 (ends frame-pointer walks)       */
    movq    %rax, -0x28(%rdi)           /* rbx = 0                                  */
    movq    %rax, -0x30(%rdi)           /* r15 = 0                                  */
    movq    %rax, -0x38(%rdi)           /* r14 = 0                                  */
    movq    %rdx, -0x40(%rdi)           /* r13 = arg                                */
    movq    %rsi, -0x48(%rdi)           /* r12 = entry                              */
    leaq    -0x48(%rdi), %rax           /* rax = no-float frame (slot of r12)       */
    testl   $1, %ecx                    /* odd variant codes (1, 3) are no-float    */
    jnz     1f                          /* no-float: done                           */
    movabsq $0x0000037F00001F80, %r8    /* CW 0x037F in bytes 4-5, MXCSR 0x1F80 0-3 */
    movq    %r8, -0x50(%rdi)            /* float slot 0: default FP control state   */
    leaq    -0x50(%rdi), %rax           /* rax = float frame (slot 0)               */
1:  ret                                 /* return the sp to pass as load_sp         */
    .cfi_endproc
    .size   dtact__make_context, . - dtact__make_context

/* First code a new context runs, "returned to" by the switcher's jmp. */
    .p2align 4
    .type   dtact__trampoline_x86_64, @function
    .hidden dtact__trampoline_x86_64
dtact__trampoline_x86_64:
    .cfi_startproc
    .cfi_undefined rip                  /* no caller: unwinders stop here           */
    DTACT_ENDBR                         /* reached by an indirect jmp under IBT     */
    movq    %r13, %rdi                  /* first argument = arg (r13 slot)          */
    callq   *%r12                       /* entry(arg); rsp % 16 == 0 before call    */
finish:                                 /* entry returned: a bug in the fiber       */
    callq   dtact__context_returned@PLT /* prints and aborts, never returns         */
    ud2                                 /* trap if it ever did                      */
    .cfi_endproc
    .size   dtact__trampoline_x86_64, . - dtact__trampoline_x86_64

#if defined(__CET__) && (__CET__ & 1)
/* GNU property note: GNU_PROPERTY_X86_FEATURE_1_AND = IBT only (SHSTK is not
 * claimed: see the CET paragraph of swap_nofp_x86_64_sysv_elf_gas.S). */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                           /* n_namesz: "GNU\0"                        */
    .long   16                          /* n_descsz: one 16-byte property           */
    .long   5                           /* n_type: NT_GNU_PROPERTY_TYPE_0           */
    .asciz  "GNU"                       /* n_name                                   */
    .long   0xc0000002                  /* pr_type: GNU_PROPERTY_X86_FEATURE_1_AND  */
    .long   4                           /* pr_datasz                                */
    .long   1                           /* GNU_PROPERTY_X86_FEATURE_1_IBT           */
    .p2align 3                          /* pad to 8                                 */
#endif

/* Non-executable stack. */
.section .note.GNU-stack, "", %progbits
