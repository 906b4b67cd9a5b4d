/* core/switch.h -- the context switchers (implemented in asm/) and stack setup.
 *
 * A suspended execution context is represented by one word: its saved stack
 * pointer. Everything else a context needs (callee-saved registers, the resume
 * address and, in the float variants, the FP control state) lives on its own
 * stack below that pointer, pushed there by the switch that suspended it.
 *
 *   int dtact__swap_<variant>(&from->sp, to->sp, pass)
 *
 * saves the caller's callee-saved state on the current stack, stores the stack
 * pointer into *save_sp, loads load_sp and restores the state found there, then
 * resumes the other context. To the code on either side the switch looks like an
 * ordinary function call that returns; the resumed side's call returns `pass`
 * (so the last thing a function does can be `return swap(...)`, a tail call:
 * the resumed context then continues straight in its caller, with no `ret`
 * that the return-stack buffer would mispredict).
 *
 * Variants (chosen per fiber; the codes are those of the public
 * dtact_spawn_options_t.mSwitcher field):
 *   0 cross-thread, float     -- saves the FP control state (x86_64: MXCSR and
 *                                the x87 control word; aarch64: FPCR)
 *   1 cross-thread, no float  -- leaves the FP control state shared
 *   2 same-thread,  float
 *   3 same-thread,  no float
 * Both sides of one fiber's switches must use the same variant, because the
 * float variants leave one more word on the stack. The runtime always switches
 * into and out of a fiber with that fiber's variant.
 *
 * The asm files document exactly what each variant saves and what the
 * same-thread promise adds (see asm/README.md and docs/switch-correctness.md).
 */
#ifndef DTACT_CORE_SWITCH_H
#define DTACT_CORE_SWITCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DTACT__SW_CROSS_FP = 0,
    DTACT__SW_CROSS_NOFP = 1,
    DTACT__SW_SAME_FP = 2,
    DTACT__SW_SAME_NOFP = 3,
    DTACT__SW_COUNT = 4
};

typedef int (*dtact__swap_fn)(void **save_sp, void *load_sp, int pass);

/* The four switchers. Not thread-safe with respect to the same context:
 * a context may be resumed by exactly one switch. */
int dtact__swap_fp_cross(void **save_sp, void *load_sp, int pass);
int dtact__swap_nofp_cross(void **save_sp, void *load_sp, int pass);
int dtact__swap_fp_same(void **save_sp, void *load_sp, int pass);
int dtact__swap_nofp_same(void **save_sp, void *load_sp, int pass);

/* Indexed by variant code. */
extern const dtact__swap_fn dtact__swap_table[DTACT__SW_COUNT];

/* True for variants 0 and 2. */
static inline int dtact__variant_saves_fp(unsigned variant) { return (variant & 1u) == 0; }

/* dtact__make_context() builds, below stack_top, the initial frame of a new
 * context for `variant` and returns the stack pointer to pass as load_sp to
 * that variant's switch. The first switch into it calls entry(arg) on the new
 * stack with a 16-byte aligned stack (as after a call instruction), and, for
 * the float variants, the process's default FP environment (MXCSR 0x1F80 and
 * x87 control word 0x037F on x86_64; FPCR 0 on aarch64). If entry returns, the
 * context calls dtact__context_returned(), which never returns.
 * stack_top must be 16-byte aligned. Writes at most DTACT__INIT_FRAME_BYTES
 * bytes below stack_top. */
void *dtact__make_context(void *stack_top, void (*entry)(void *), void *arg, unsigned variant);
#define DTACT__INIT_FRAME_BYTES 256

/* Resets the calling thread's FP control state to the process default (the
 * one dtact__make_context gives float fibers): x86_64 MXCSR 0x1F80 and x87
 * control word 0x037F, aarch64 FPCR 0. Worker threads call it first, so
 * no-float fibers (which share their worker's state) start from the default,
 * whatever the thread that started the runtime had set. */
void dtact__fp_env_default(void);

/* Called (from the asm trampoline) when a context's entry function returns.
 * Prints a message and aborts: returning past a fiber's entry is a bug. */
void dtact__context_returned(void) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* DTACT_CORE_SWITCH_H */
