/* core/switch.c -- C glue for the context switchers in asm/.
 *
 * The switchers themselves, dtact__make_context() and the entry trampoline are
 * written in assembly, one file per operation, architecture and ABI
 * (asm/swap_{fp,nofp}_<arch>_<abi>_elf_gas.S, asm/make_<arch>_<abi>_elf_gas.S;
 * see asm/README.md). What the variants save, what they do not save and why,
 * and the TLS-address caching hazard of cross-thread fibers are documented at
 * the top of the swap files and argued in docs/switch-correctness.md.
 *
 * This file holds the variant table and the function the trampoline calls when
 * a context's entry function returns.
 */
#include "switch.h"

#include <stdlib.h>

#include "prim.h"

/* Indexed by variant code, the dtact_spawn_options_t.mSwitcher values. */
const dtact__swap_fn dtact__swap_table[DTACT__SW_COUNT] = {
    [DTACT__SW_CROSS_FP] = dtact__swap_fp_cross,
    [DTACT__SW_CROSS_NOFP] = dtact__swap_nofp_cross,
    [DTACT__SW_SAME_FP] = dtact__swap_fp_same,
    [DTACT__SW_SAME_NOFP] = dtact__swap_nofp_same,
};

/* dtact__context_returned() runs on the fiber's own stack, reached from the
 * trampoline's finish: path, so it uses only dtact__write_stderr (write(2))
 * and abort(): no stdio locks (the fiber may have been interrupted in stdio),
 * no allocation. */
void dtact__context_returned(void) {
    static const char msg[] = "dtact: a fiber returned past its entry point\n";
    dtact__write_stderr(msg, sizeof msg - 1);
    abort();
}

void dtact__fp_env_default(void) {
#if defined(__x86_64__)
    unsigned int mxcsr = 0x1F80u;
    unsigned short fcw = 0x037Fu;
    __asm__ __volatile__("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(fcw));
#elif defined(__aarch64__)
    __asm__ __volatile__("msr fpcr, %0" : : "r"(0ul));
#endif
}
