/* tests/switch_ten_million.c
 * Description: 10M switches (5M round trips) between two contexts pass a
 * token back and forth with a counter check on every round trip, for all four
 * variants; the token also travels as the switch's pass value (the resumed
 * side's switch call returns what the other side passed). DTACT_TEST_SCALE
 * scales the count (a twentieth by default under a sanitizer), see
 * tests/test_scale.h.
 */
#include <criterion/criterion.h>

#include "test_util.h"

static unsigned tm_variant;
static tu_ctx tm_main, tm_fib;
static uint64_t tm_token, tm_echo, tm_count, tm_bad_pass;

static void tm_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    int got = (int)(tm_token & 0x7fffffff); /* the first resume's value goes nowhere */
    for (;;) {
        tm_bad_pass += got != (int)(tm_token & 0x7fffffff);
        tm_echo = tm_token + 1;
        tm_count++;
        got = tu_switch_pass(tm_variant, &tm_fib, &tm_main, (int)(tm_echo & 0x7fffffff));
    }
}

static void tm_run(unsigned v) {
    uint64_t switches = dtact_test_scaled(10000000u, 1000u);
    uint64_t rounds = switches / 2;
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 64 * 1024), 0, "mmap");
    tm_variant = v;
    tm_count = 0;
    tm_bad_pass = 0;
    tu_ctx_init_thread(&tm_main);
    tu_ctx_make(&tm_fib, &st, tm_entry, NULL, v);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        tm_token = i * 3;
        int back = tu_switch_pass(v, &tm_main, &tm_fib, (int)(tm_token & 0x7fffffff));
        bad += tm_echo != i * 3 + 1;
        bad += back != (int)((i * 3 + 1) & 0x7fffffff);
    }
    tu_ctx_destroy(&tm_fib);
    tu_stack_free(&st);
    cr_assert_eq(bad, 0, "%s: %llu round trips returned a stale token", tu_variant_name(v), (unsigned long long)bad);
    cr_assert_eq(tm_bad_pass, 0, "%s: the fiber's switch returned a wrong pass value", tu_variant_name(v));
    cr_assert_eq(tm_count, rounds, "%s: fiber ran %llu times, expected %llu", tu_variant_name(v),
                 (unsigned long long)tm_count, (unsigned long long)rounds);
}

Test(switch_ten_million, cross_fp) { tm_run(DTACT__SW_CROSS_FP); }
Test(switch_ten_million, cross_nofp) { tm_run(DTACT__SW_CROSS_NOFP); }
Test(switch_ten_million, same_fp) { tm_run(DTACT__SW_SAME_FP); }
Test(switch_ten_million, same_nofp) { tm_run(DTACT__SW_SAME_NOFP); }
