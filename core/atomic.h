/* core/atomic.h -- atomic operations named by their memory order.
 *
 * Every atomic access in core/ goes through one of these wrappers, so that the
 * ordering is part of the name and `grep _relaxed core/` audits the tree (the
 * habit of mimalloc's atomic.h). Each call site carries a short comment naming
 * the operation it pairs with; a seq_cst operation says why acquire/release is
 * not enough.
 *
 * The wrappers are macros over C11 <stdatomic.h> so they work on any _Atomic
 * scalar or pointer type.
 */
#ifndef DTACT_CORE_ATOMIC_H
#define DTACT_CORE_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define dtact__load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define dtact__load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define dtact__load_seq_cst(p) atomic_load_explicit((p), memory_order_seq_cst)

#define dtact__store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define dtact__store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define dtact__store_seq_cst(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)

#define dtact__xchg_acq_rel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define dtact__xchg_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define dtact__xchg_seq_cst(p, v) atomic_exchange_explicit((p), (v), memory_order_seq_cst)

#define dtact__fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define dtact__fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define dtact__fetch_add_release(p, v) atomic_fetch_add_explicit((p), (v), memory_order_release)
#define dtact__fetch_add_seq_cst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define dtact__fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define dtact__fetch_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_release)
#define dtact__fetch_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define dtact__fetch_sub_seq_cst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define dtact__fetch_and_relaxed(p, v) atomic_fetch_and_explicit((p), (v), memory_order_relaxed)
#define dtact__fetch_and_release(p, v) atomic_fetch_and_explicit((p), (v), memory_order_release)
#define dtact__fetch_and_acq_rel(p, v) atomic_fetch_and_explicit((p), (v), memory_order_acq_rel)
#define dtact__fetch_and_seq_cst(p, v) atomic_fetch_and_explicit((p), (v), memory_order_seq_cst)
#define dtact__fetch_or_relaxed(p, v) atomic_fetch_or_explicit((p), (v), memory_order_relaxed)
#define dtact__fetch_or_release(p, v) atomic_fetch_or_explicit((p), (v), memory_order_release)
#define dtact__fetch_or_acq_rel(p, v) atomic_fetch_or_explicit((p), (v), memory_order_acq_rel)
#define dtact__fetch_or_seq_cst(p, v) atomic_fetch_or_explicit((p), (v), memory_order_seq_cst)

/* compare-and-swap: *expected is updated with the current value on failure. */
#define dtact__cas_weak_acq_rel(p, expected, desired)                                                                  \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_acq_rel, memory_order_acquire)
#define dtact__cas_strong_acq_rel(p, expected, desired)                                                                \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_acq_rel, memory_order_acquire)
#define dtact__cas_weak_release(p, expected, desired)                                                                  \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_release, memory_order_relaxed)
#define dtact__cas_weak_acquire(p, expected, desired)                                                                  \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_acquire, memory_order_relaxed)
#define dtact__cas_weak_relaxed(p, expected, desired)                                                                  \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_relaxed, memory_order_relaxed)
#define dtact__cas_strong_seq_cst(p, expected, desired)                                                                \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_seq_cst, memory_order_seq_cst)

#define dtact__fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#define dtact__fence_acquire() atomic_thread_fence(memory_order_acquire)
#define dtact__fence_release() atomic_thread_fence(memory_order_release)
/* Orders the compiler only (no instruction): the light side of an asymmetric
 * fence whose heavy side is dtact__membarrier (prim.h, sysmon.c). */
#define dtact__compiler_fence() atomic_signal_fence(memory_order_seq_cst)

/* A pause hint for spin loops. */
static inline void dtact__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#define DTACT_LIKELY(x) __builtin_expect(!!(x), 1)
#define DTACT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DTACT_CACHE_LINE 64

#endif /* DTACT_CORE_ATOMIC_H */
