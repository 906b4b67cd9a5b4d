/* core/worker.c -- which worker a thread is, and the switches between a
 * worker's dispatch loop and its fibers.
 *
 * The switch. The loop (loop.c) switches into a fiber with that fiber's
 * switcher variant, saving its own context in w->sched_sp; the fiber switches
 * back with the same variant and leaves in w->action what it wants done. The
 * loop then completes the transition on its own stack (re-queue, finish the
 * park, retire the fiber), which is what makes it safe for another worker to
 * resume a parked fiber the moment it is woken: by then the fiber is no
 * longer running on this worker's stack.
 *
 * Sanitizers. ASan and TSan are told about every switch (fiber-switch
 * annotations): ASan needs the bounds of the stack being entered, TSan the
 * fiber id of the context being entered (rt->tsan_fibers, one per record,
 * created when the fiber is first prepared and destroyed when it retires).
 *
 * TLS. A cross-thread fiber can resume on another worker. Core code never
 * caches the worker pointer across a switch: dtact__tls_worker() is an opaque
 * (noinline) call that recomputes the thread-local address each time.
 *
 * This file is the bottom of the scheduler layers: it calls only the
 * switchers (asm/, switch.h) and the sanitizer runtimes.
 */
#include "internal.h"
#include "switch.h"

#if defined(DTACT_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(DTACT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

_Atomic(dtact__rt_t *) dtact__global_rt;
_Atomic uint64_t dtact__rt_pins;

/* initial-exec: one %fs-relative load, where the default model of position-
 * independent code calls __tls_get_addr on every access (spawn, join and
 * yield each read it). The library is linked at start-up or dlopen'ed into
 * glibc's surplus static TLS, which has room for one pointer. */
_Thread_local dtact__worker_t *dtact__tls_worker_var __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) dtact__worker_t *dtact__tls_worker(void) {
    dtact__worker_t *w = dtact__tls_worker_var;
    __asm__ __volatile__("" ::: "memory");
    return w;
}

__attribute__((noinline, cold)) dtact__rt_t *dtact__rt_pin_slow(int *pinned) {
    *pinned = 0;
    if (!dtact__rt_get()) return NULL;
    dtact__fetch_add_seq_cst(&dtact__rt_pins, 1u); // seq_cst: Dekker with destroy (unpublish, then read the pins)
    dtact__rt_t *rt = dtact__load_seq_cst(&dtact__global_rt); // seq_cst: the other half; NULL means destroy has begun
    if (!rt) {
        dtact__fetch_sub_release(&dtact__rt_pins, 1u); // release: nothing was touched
        return NULL;
    }
    *pinned = 1;
    return rt;
}

__attribute__((noinline, cold)) void dtact__rt_unpin(void) {
    dtact__fetch_sub_release(&dtact__rt_pins, 1u); // release: our accesses to rt happen before destroy's acquire of 0
}

void dtact__tls_worker_set(dtact__worker_t *w) {
    dtact__tls_worker_var = w;
#if defined(DTACT_TSAN)
    if (w) w->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void dtact__switch_in(dtact__worker_t *w, dtact__fiber_t *f) {
#if defined(DTACT_TSAN)
    __tsan_switch_to_fiber(w->rt->tsan_fibers[f->index], 0);
#endif
#if defined(DTACT_ASAN)
    __sanitizer_start_switch_fiber(&w->asan_fake, f->stack->base, f->stack->size);
#endif
    /* What the fiber's dtact_yield returns if it suspended in a direct yield
     * (runq_pick_direct); other suspension points ignore it. */
    // relaxed: informational, as in dtact_yield
    int pass = dtact__load_relaxed(&w->rt->shutdown) ? DTACT_ESHUTDOWN : DTACT_OK;
    dtact__swap_table[f->variant](&w->sched_sp, f->sp, pass);
#if defined(DTACT_ASAN)
    __sanitizer_finish_switch_fiber(w->asan_fake, NULL, NULL);
#endif
}

void dtact__switch_out(dtact__worker_t *w, dtact__fiber_t *f, enum dtact__action action) {
    w->action = action;
#if defined(DTACT_TSAN)
    __tsan_switch_to_fiber(w->tsan_fiber, 0);
#endif
#if defined(DTACT_ASAN)
    void *fake = NULL;
    /* A finishing fiber never comes back: NULL tells ASan to drop its fake stack. */
    __sanitizer_start_switch_fiber(action == DTACT__ACT_FINISH ? NULL : &fake, w->asan_bottom, w->asan_size);
#endif
    dtact__swap_table[f->variant](&f->sp, w->sched_sp, 0); /* the loop ignores the value */
#if defined(DTACT_ASAN)
    /* Resumed, possibly on another worker: learn that worker's loop stack. */
    dtact__worker_t *now = dtact__tls_worker();
    __sanitizer_finish_switch_fiber(fake, &now->asan_bottom, &now->asan_size);
#endif
}

void dtact__switch_first_entry(void) {
#if defined(DTACT_ASAN)
    dtact__worker_t *w = dtact__tls_worker();
    __sanitizer_finish_switch_fiber(NULL, &w->asan_bottom, &w->asan_size);
#endif
}
