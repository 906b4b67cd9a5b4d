/* tests/switch_ten_million.c
 * Description: 10M switches (5M round trips) between two contexts pass a
 * token back and forth with a counter check on every round trip, for all four
 * variants. DTACT_TEST_SCALE multiplies the count (default 0.05 under a
 * sanitizer), see tests/test_util.h.
 */
#include <criterion/criterion.h>

#include "test_util.h"

static unsigned tm_variant;
static tu_ctx tm_main, tm_fib;
static uint64_t tm_token, tm_echo, tm_count;

static void tm_entry(void *arg)
{
    (void)arg;
    TU_FIBER_START();
    for (;;) {
        tm_echo = tm_token + 1;
        tm_count++;
        tu_switch(tm_variant, &tm_fib, &tm_main);
    }
}

static void tm_run(unsigned v)
{
    uint64_t switches = tu_scaled(10000000u, 1000u);
    uint64_t rounds = switches / 2;
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 64 * 1024), 0, "mmap");
    tm_variant = v;
    tm_count = 0;
    tu_ctx_init_thread(&tm_main);
    tu_ctx_make(&tm_fib, &st, tm_entry, NULL, v);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        tm_token = i * 3;
        tu_switch(v, &tm_main, &tm_fib);
        bad += tm_echo != i * 3 + 1;
    }
    tu_ctx_destroy(&tm_fib);
    tu_stack_free(&st);
    cr_assert_eq(bad, 0, "%s: %llu round trips returned a stale token", tu_variant_name(v), (unsigned long long)bad);
    cr_assert_eq(tm_count, rounds, "%s: fiber ran %llu times, expected %llu", tu_variant_name(v),
                 (unsigned long long)tm_count, (unsigned long long)rounds);
}

Test(switch_ten_million, cross_fp) { tm_run(DTACT__SW_CROSS_FP); }
Test(switch_ten_million, cross_nofp) { tm_run(DTACT__SW_CROSS_NOFP); }
Test(switch_ten_million, same_fp) { tm_run(DTACT__SW_SAME_FP); }
Test(switch_ten_million, same_nofp) { tm_run(DTACT__SW_SAME_NOFP); }
