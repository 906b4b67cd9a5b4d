/* Description: channel allocation failures (builds with
 * -DDTACT_FAULT_INJECTION=ON; skipped otherwise): dtact_chan_create returns
 * NULL with DTACT_ENOMEM when its heap call fails and leaks nothing, and a
 * select over more cases than fit on the stack returns DTACT_ENOMEM without
 * touching any channel. */
#include "rt_util.h"

#if defined(DTACT_FAULT_INJECTION)
#include "prim.h"

Test(chan_fault, create_enomem) {
    int64_t live = dtact__fault_heap_live();
    dtact__fault_arm(DTACT__FAULT_HEAP, 1);
    cr_assert_null(dtact_chan_create(8, 16));
    cr_assert_eq(dtact_last_error(), DTACT_ENOMEM);
    cr_assert_eq(dtact__fault_hits(DTACT__FAULT_HEAP), 1);
    dtact__fault_arm(DTACT__FAULT_HEAP, 0);
    cr_assert_eq(dtact__fault_heap_live(), live, "nothing leaked");
    dtact_chan_t *ch = dtact_chan_create(8, 16);
    cr_assert_not_null(ch, "works again once the fault is gone");
    cr_assert_eq(dtact__fault_heap_live(), live + 1);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);
    cr_assert_eq(dtact__fault_heap_live(), live);
}

Test(chan_fault, select_enomem) {
    dtact_chan_t *ch = dtact_chan_create(8, 1);
    uint64_t v = 4;
    cr_assert_eq(dtact_chan_send(ch, &v), DTACT_OK);
    dtact_select_case_t cs[20];
    for (int i = 0; i < 20; i++)
        cs[i] = (dtact_select_case_t){ch, DTACT_SELECT_RECV, &v, -1};
    dtact__fault_arm(DTACT__FAULT_HEAP, 1);
    cr_assert_eq(dtact_select(cs, 20, -1), DTACT_ENOMEM);
    dtact__fault_arm(DTACT__FAULT_HEAP, 0);
    cr_assert_eq(dtact_chan_len(ch), 1, "nothing consumed");
    cr_assert_geq(dtact_select(cs, 20, -1), 0);
    cr_assert_eq(dtact_chan_len(ch), 0);
    cr_assert_eq(dtact_chan_destroy(ch), DTACT_OK);
}
#else
Test(chan_fault, needs_fault_injection) { cr_skip_test("build with -DDTACT_FAULT_INJECTION=ON"); }
#endif
