/* tests/test_scale.h -- the stress-size scale factor, the one place that reads
 * DTACT_TEST_SCALE.
 *
 * DTACT_TEST_SCALE says how much of each stress size a test runs:
 *   v >= 1      a divisor: 10 runs a tenth of each size (scripts/test.sh sets
 *               10 for AddressSanitizer and 20 for ThreadSanitizer);
 *   0 < v < 1   a multiplier: 0.1 runs a tenth (scripts/test-aarch64.sh sets
 *               0.1 by default, because qemu runs the code 10-50x slower);
 *   unset, empty, 0 or unparsable: full size, or a twentieth in a sanitizer
 *               build (DTACT_ASAN / DTACT_TSAN) so that a bare ctest there
 *               still finishes.
 * A scale never makes a test bigger than its full size.
 *
 * dtact_test_scale()           the multiplier, in (0, 1].
 * dtact_test_scaled(n, min)    n scaled (n / v for a divisor, n * v for a
 *                              multiplier), rounded down, at least min.
 */
#ifndef DTACT_TESTS_TEST_SCALE_H
#define DTACT_TESTS_TEST_SCALE_H

#include <stdint.h>
#include <stdlib.h>

#if defined(DTACT_ASAN) || defined(DTACT_TSAN)
#define DTACT_TEST_SCALE_DEFAULT 20.0
#else
#define DTACT_TEST_SCALE_DEFAULT 1.0
#endif

/* The setting as written: a divisor (>= 1) or a multiplier (< 1), always > 0. */
static inline double dtact_test_scale_setting(void) {
    const char *e = getenv("DTACT_TEST_SCALE");
    if (e && *e) {
        double v = strtod(e, NULL);
        if (v > 0) return v;
    }
    return DTACT_TEST_SCALE_DEFAULT;
}

static inline double dtact_test_scale(void) {
    double v = dtact_test_scale_setting();
    return v >= 1 ? 1.0 / v : v;
}

static inline uint64_t dtact_test_scaled(uint64_t n, uint64_t min) {
    double v = dtact_test_scale_setting();
    /* divide by a divisor rather than multiply by its inverse: 600 / 10 is
     * exactly 60, 600 * (1.0 / 3) may round below the integer */
    double x = v >= 1 ? (double)n / v : (double)n * v;
    uint64_t r = x < 1.0 ? 0 : (uint64_t)x;
    return r < min ? min : r;
}

#endif /* DTACT_TESTS_TEST_SCALE_H */
