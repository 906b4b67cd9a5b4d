/* tests/switch_fp_state.c
 * Description: the float variants give each context its own FP control state
 * (x86_64: MXCSR and the x87 control word; aarch64: FPCR) across switches
 * where the other side changes it; a new float-variant fiber starts with the
 * default environment (MXCSR 0x1F80 / CW 0x037F / FPCR 0) and divides
 * correctly without SIGFPE even if its creator unmasked exceptions or changed
 * the rounding mode; MXCSR status flags are not carried (x86_64); the
 * no-float variants share the state, as documented;
 * snprintf("%f") and sscanf work on a fiber stack in every variant.
 */
#include <criterion/criterion.h>
#include <fenv.h>

#include "test_util.h"

/* ---------------------------------------------------------- raw control state */
#if defined(__x86_64__)
static uint32_t fs_get_mxcsr(void) {
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static void fs_set_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }
static uint16_t fs_get_fpucw(void) {
    uint16_t v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}
static void fs_set_fpucw(uint16_t v) { __asm__ volatile("fldcw %0" : : "m"(v)); }
/* The control part of the state, status flags masked out. */
static uint64_t fs_control(void) { return ((uint64_t)fs_get_fpucw() << 32) | (fs_get_mxcsr() & ~0x3Fu); }
static const uint64_t fs_default = ((uint64_t)0x037F << 32) | 0x1F80;
#elif defined(__aarch64__)
static uint64_t fs_get_fpcr(void) {
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void fs_set_fpcr(uint64_t v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }
static uint64_t fs_control(void) { return fs_get_fpcr(); }
static const uint64_t fs_default = 0;
#else
#error "switch_fp_state: unsupported architecture"
#endif

static unsigned fs_variant;
static tu_ctx fs_main, fs_fib;
static tu_stack fs_stack;

static void fs_setup(unsigned v, void (*entry)(void *)) {
    fs_variant = v;
    cr_assert_eq(tu_stack_alloc(&fs_stack, 256 * 1024), 0, "mmap");
    tu_ctx_init_thread(&fs_main);
    tu_ctx_make(&fs_fib, &fs_stack, entry, NULL, v);
}

static void fs_teardown(void) {
    tu_ctx_destroy(&fs_fib);
    tu_stack_free(&fs_stack);
}

/* ------------------------------------------ float variants keep their own state */
static int fs_fib_round0, fs_fib_round1;
static uint64_t fs_fib_ctl0;

static void fs_own_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    fs_fib_ctl0 = fs_control();
    fs_fib_round0 = fegetround();
    fesetround(FE_UPWARD); /* changes MXCSR.RC and the x87 CW's RC (or FPCR.RMode) */
    tu_switch(fs_variant, &fs_fib, &fs_main);
    fs_fib_round1 = fegetround(); /* main set FE_DOWNWARD meanwhile */
    fesetround(FE_TONEAREST);
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

static void fs_own_run(unsigned v) {
    fenv_t saved;
    fegetenv(&saved);
    fesetround(FE_TONEAREST);
    uint64_t main_ctl = fs_control();
    fs_setup(v, fs_own_entry);

    tu_switch(v, &fs_main, &fs_fib);
    int main_round = fegetround();
    uint64_t main_ctl_after = fs_control();
    fesetround(FE_DOWNWARD);
    tu_switch(v, &fs_main, &fs_fib);
    int main_round2 = fegetround();
    fesetenv(&saved);
    fs_teardown();

    cr_assert_eq(fs_fib_ctl0, fs_default, "%s: new fiber's FP control %#llx, expected default %#llx",
                 tu_variant_name(v), (unsigned long long)fs_fib_ctl0, (unsigned long long)fs_default);
    cr_assert_eq(fs_fib_round0, FE_TONEAREST, "%s: new fiber's rounding mode", tu_variant_name(v));
    cr_assert_eq(main_round, FE_TONEAREST, "%s: fiber's fesetround leaked into main", tu_variant_name(v));
    cr_assert_eq(main_ctl_after, main_ctl, "%s: main's FP control %#llx became %#llx", tu_variant_name(v),
                 (unsigned long long)main_ctl, (unsigned long long)main_ctl_after);
    cr_assert_eq(fs_fib_round1, FE_UPWARD, "%s: main's fesetround leaked into the fiber", tu_variant_name(v));
    cr_assert_eq(main_round2, FE_DOWNWARD, "%s: main's rounding mode not restored", tu_variant_name(v));
}

Test(switch_fp_state, cross_fp_owns_control_state) { fs_own_run(DTACT__SW_CROSS_FP); }
Test(switch_fp_state, same_fp_owns_control_state) { fs_own_run(DTACT__SW_SAME_FP); }

#if defined(__x86_64__)
/* The x87 control word specifically: precision control is not touched by
 * fesetround, so set it by hand (53-bit precision, 0x027F). */
static uint16_t fs_fib_cw;

static void fs_cw_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    fs_set_fpucw(0x027F);
    tu_switch(fs_variant, &fs_fib, &fs_main);
    fs_fib_cw = fs_get_fpucw();
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

/* MXCSR's status flags (bits 0-5) are caller-saved in the psABI and are not
 * carried: the resumed context's MXCSR holds its own control bits and no
 * flags, whatever flags either side had raised. (Carrying them made every
 * switch write a different MXCSR value once one side had done an inexact
 * float operation, which some cores charge heavily for.) */
static uint32_t fs_fib_mxcsr;

static void fs_flags_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    fs_fib_mxcsr = fs_get_mxcsr();
    fs_set_mxcsr(0x1F80 | 0x04 | 0x20); /* raise divide-by-zero and inexact here */
    tu_switch(fs_variant, &fs_fib, &fs_main);
    fs_fib_mxcsr = fs_get_mxcsr();
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

Test(switch_fp_state, mxcsr_status_flags_not_carried) {
    const unsigned vs[2] = {DTACT__SW_CROSS_FP, DTACT__SW_SAME_FP};
    for (int i = 0; i < 2; i++) {
        uint32_t orig = fs_get_mxcsr();
        fs_setup(vs[i], fs_flags_entry);
        fs_set_mxcsr(0x9F80 | 0x20); /* main: FTZ on (control), inexact raised (status) */
        tu_switch(vs[i], &fs_main, &fs_fib);
        uint32_t back1 = fs_get_mxcsr();
        uint32_t fib1 = fs_fib_mxcsr;
        fs_set_mxcsr(0x9F80 | 0x01); /* main: invalid raised before the next switch */
        tu_switch(vs[i], &fs_main, &fs_fib);
        uint32_t back2 = fs_get_mxcsr();
        uint32_t fib2 = fs_fib_mxcsr;
        fs_set_mxcsr(orig);
        fs_teardown();
        cr_assert_eq(fib1, 0x1F80, "%s: a new fiber saw MXCSR %#x", tu_variant_name(vs[i]), fib1);
        cr_assert_eq(back1, 0x9F80, "%s: main resumed with MXCSR %#x", tu_variant_name(vs[i]), back1);
        cr_assert_eq(fib2, 0x1F80, "%s: the fiber resumed with MXCSR %#x", tu_variant_name(vs[i]), fib2);
        cr_assert_eq(back2, 0x9F80, "%s: main resumed with MXCSR %#x", tu_variant_name(vs[i]), back2);
    }
}

Test(switch_fp_state, x87_control_word_preserved) {
    const unsigned vs[2] = {DTACT__SW_CROSS_FP, DTACT__SW_SAME_FP};
    for (int i = 0; i < 2; i++) {
        uint16_t orig = fs_get_fpucw();
        fs_setup(vs[i], fs_cw_entry);
        tu_switch(vs[i], &fs_main, &fs_fib);
        uint16_t after = fs_get_fpucw();
        fs_set_fpucw(0x0C7F); /* main: round toward zero */
        tu_switch(vs[i], &fs_main, &fs_fib);
        uint16_t after2 = fs_get_fpucw();
        fs_set_fpucw(orig);
        fs_teardown();
        cr_assert_eq(after, orig, "%s: x87 CW %#x became %#x", tu_variant_name(vs[i]), orig, after);
        cr_assert_eq(fs_fib_cw, 0x027F, "%s: fiber's x87 CW became %#x", tu_variant_name(vs[i]), fs_fib_cw);
        cr_assert_eq(after2, 0x0C7F, "%s: main's x87 CW became %#x", tu_variant_name(vs[i]), after2);
    }
}
#endif

/* ------------------------------ new float fibers start from the default env */
static uint64_t fs_new_ctl;
static uint64_t fs_q13, fs_q23;

static uint64_t fs_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void fs_default_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    fs_new_ctl = fs_control();
    volatile double one = 1.0, two = 2.0, three = 3.0;
    fs_q13 = fs_bits(one / three); /* inexact: SIGFPE if the precision exception were unmasked */
    fs_q23 = fs_bits(two / three); /* differs between round-to-nearest and toward zero */
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

static void fs_default_run(unsigned v) {
    fs_setup(v, fs_default_entry);
    fenv_t saved;
    fegetenv(&saved);
#if defined(__x86_64__)
    uint32_t mx = fs_get_mxcsr();
    uint16_t cw = fs_get_fpucw();
    /* Creator: every SSE exception unmasked, round toward zero, FTZ+DAZ;
     * x87: round toward zero. Nothing below computes in floating point until
     * the state is restored. */
    fs_set_fpucw(0x0C7F);
    fs_set_mxcsr(0x6000 | 0x8000 | 0x0040);
    tu_switch(v, &fs_main, &fs_fib);
    fs_set_mxcsr(mx);
    fs_set_fpucw(cw);
#else
    uint64_t fpcr = fs_get_fpcr();
    fs_set_fpcr((3u << 22) | (1u << 24) | (1u << 25)); /* round toward zero, FZ, DN */
    tu_switch(v, &fs_main, &fs_fib);
    fs_set_fpcr(fpcr);
#endif
    fesetenv(&saved);
    fs_teardown();
    const double e13 = 1.0 / 3.0, e23 = 2.0 / 3.0; /* folded at compile time, round to nearest */
    cr_assert_eq(fs_new_ctl, fs_default, "%s: new fiber's FP control %#llx, expected %#llx", tu_variant_name(v),
                 (unsigned long long)fs_new_ctl, (unsigned long long)fs_default);
    cr_assert_eq(fs_q13, fs_bits(e13), "%s: 1.0/3.0 = %#llx", tu_variant_name(v), (unsigned long long)fs_q13);
    cr_assert_eq(fs_q23, fs_bits(e23), "%s: 2.0/3.0 = %#llx (not rounded to nearest)", tu_variant_name(v),
                 (unsigned long long)fs_q23);
}

Test(switch_fp_state, new_cross_fp_fiber_has_default_env) { fs_default_run(DTACT__SW_CROSS_FP); }
Test(switch_fp_state, new_same_fp_fiber_has_default_env) { fs_default_run(DTACT__SW_SAME_FP); }

/* --------------------------------------- no-float variants share the state */
static void fs_shared_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    fesetround(FE_UPWARD);
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

static void fs_shared_run(unsigned v) {
    fenv_t saved;
    fegetenv(&saved);
    fesetround(FE_TONEAREST);
    fs_setup(v, fs_shared_entry);
    tu_switch(v, &fs_main, &fs_fib);
    int r = fegetround();
    fesetenv(&saved);
    fs_teardown();
    cr_assert_eq(r, FE_UPWARD, "%s: documented as sharing the thread's FP control state", tu_variant_name(v));
}

Test(switch_fp_state, cross_nofp_shares_control_state) { fs_shared_run(DTACT__SW_CROSS_NOFP); }
Test(switch_fp_state, same_nofp_shares_control_state) { fs_shared_run(DTACT__SW_SAME_NOFP); }

/* ------------------------------------------------- stdio formatting on a fiber */
static char fs_buf1[64], fs_buf2[64];
static double fs_scanned;
static int fs_scan_n;

static void fs_printf_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    volatile double a = 3.25, b = 1.0;
    snprintf(fs_buf1, sizeof fs_buf1, "%f", a);
    snprintf(fs_buf2, sizeof fs_buf2, "%.3f|%e|%g", b / 3.0, a * 1e10, a);
    fs_scan_n = sscanf("2.5 ", "%lf", &fs_scanned);
    tu_switch(fs_variant, &fs_fib, &fs_main);
    abort();
}

Test(switch_fp_state, snprintf_and_sscanf_on_fiber_stack) {
    for (unsigned i = 0; i < DTACT__SW_COUNT; i++) {
        unsigned v = tu_all_variants[i];
        memset(fs_buf1, 0, sizeof fs_buf1);
        memset(fs_buf2, 0, sizeof fs_buf2);
        fs_scanned = 0;
        fs_setup(v, fs_printf_entry);
        tu_switch(v, &fs_main, &fs_fib);
        fs_teardown();
        cr_assert_str_eq(fs_buf1, "3.250000", "%s", tu_variant_name(v));
        cr_assert_str_eq(fs_buf2, "0.333|3.250000e+10|3.25", "%s", tu_variant_name(v));
        cr_assert(fs_scan_n == 1 && fs_scanned == 2.5, "%s: sscanf", tu_variant_name(v));
    }
}
