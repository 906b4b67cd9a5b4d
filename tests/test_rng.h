/* tests/test_rng.h -- the tests' pseudo-random numbers: Marsaglia's xorshift64
 * (13, 7, 17), one state word per thread, never 0. Enough for picking random
 * operations and fan-outs; not for anything statistical. */
#ifndef DTACT_TESTS_TEST_RNG_H
#define DTACT_TESTS_TEST_RNG_H

#include <stdint.h>

static inline uint64_t test_rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
