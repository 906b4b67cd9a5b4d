/* C fiber functions launched from Rust (rust/mixed/tests/c_fibers.rs) with dtact_fiber_launch. */
#include <stdint.h>
#include "dtact.h"

typedef struct c_job_t {
    uint64_t n;    /* in: sum 1..n                         */
    uint64_t sum;  /* out                                   */
    int yields_ok; /* out: dtact_yield returned DTACT_OK    */
    int on_fiber;  /* out: dtact_self() was a valid handle  */
} c_job_t;

/* Sums 1..n, yielding every 100 steps. */
void c_sum_fiber(void *arg) {
    c_job_t *j = (c_job_t *)arg;
    j->on_fiber = dtact_self() != DTACT_INVALID_HANDLE;
    j->yields_ok = 1;
    uint64_t s = 0;
    for (uint64_t i = 1; i <= j->n; i++) {
        s += i;
        if (i % 100 == 0 && dtact_yield() != DTACT_OK) j->yields_ok = 0;
    }
    j->sum = s;
}
