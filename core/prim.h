/* core/prim.h -- the operating-system primitives the core needs, behind one
 * contract (the habit of mimalloc's prim.h): futex wait/wake, a monotonic
 * clock, threads, and CPU topology. Linux implementation: core/prim_linux.c.
 */
#ifndef DTACT_CORE_PRIM_H
#define DTACT_CORE_PRIM_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *addr == expected, at most timeout_ns (< 0: forever). Returns 0
 * when woken or the value differed, -1 on timeout. Spurious returns happen. */
int dtact__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);
/* Wakes up to n threads sleeping on addr (n = INT32_MAX: all). */
void dtact__futex_wake(_Atomic uint32_t *addr, int n);

/* Monotonic nanoseconds. */
uint64_t dtact__now_ns(void);
void dtact__sleep_ns(uint64_t ns);

typedef struct dtact__thread_s {
    unsigned long id; /* pthread_t */
} dtact__thread_t;

/* Starts fn(arg) on a new thread named `name`. Returns 0 or an errno value. */
int dtact__thread_start(dtact__thread_t *t, void *(*fn)(void *), void *arg, const char *name);
void dtact__thread_join(dtact__thread_t *t);

/* Online CPUs (>= 1). */
uint32_t dtact__cpu_count(void);
/* Topology groups of `cpu`: the id of its L3 cache domain (CCX) and of its
 * NUMA node, read from /sys; both 0 when unknown. */
void dtact__cpu_groups(uint32_t cpu, uint32_t *ccx, uint32_t *numa);

#endif /* DTACT_CORE_PRIM_H */
