/* tests/sync_util.h -- helpers shared by the synchronisation tests
 * (tests/sync_*.c): the monotonic clock of dtact_now_ns() read directly, a
 * wait for an object's queue to reach a length (through core/sync.h's
 * layouts), and a plain-thread starter. */
#ifndef DTACT_TESTS_SYNC_UTIL_H
#define DTACT_TESTS_SYNC_UTIL_H

#include <pthread.h>
#include <time.h>

#include "rt_util.h"
#include "sync.h"

/* CLOCK_MONOTONIC in ns: the clock of dtact_now_ns() and of every *_until deadline. */
static inline uint64_t su_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void su_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The number of waiters queued on a waitq (under its lock). */
static inline uint32_t su_queued(dtact__waitq_t *q) {
    dtact__waitq_lock(q);
    uint32_t n = q->n;
    dtact__waitq_unlock(q);
    return n;
}

/* Waits (up to 10 s) until q holds n waiters; fails the test otherwise. */
static inline void su_wait_queued(dtact__waitq_t *q, uint32_t n) {
    uint64_t end = su_now() + 10000000000ull;
    while (su_queued(q) != n) {
        cr_assert_lt(su_now(), end, "queue never reached %u waiters (has %u)", n, su_queued(q));
        su_sleep_ms(1);
    }
}

/* A timed call that started at t0 with a timeout of ns: never early, and
 * within a generous bound (5 s: sanitizers and a loaded machine are slow). */
#define SU_ASSERT_WAITED(t0, ns)                                                                                       \
    do {                                                                                                               \
        uint64_t el_ = su_now() - (t0);                                                                                \
        cr_assert_geq(el_, (uint64_t)(ns), "returned early: %llu of %llu ns", (unsigned long long)el_,                 \
                      (unsigned long long)(ns));                                                                       \
        cr_assert_lt(el_, (uint64_t)(ns) + 5000000000ull, "took %llu ns", (unsigned long long)el_);                    \
    } while (0)

#define SU_MQ(m) (&((dtact__mutex_t *)(void *)(m))->q)
#define SU_MSTATE(m) atomic_load(&((dtact__mutex_t *)(void *)(m))->state)
#define SU_CQ(c) (&((dtact__cond_t *)(void *)(c))->q)
#define SU_RQ(l) (&((dtact__rwlock_t *)(void *)(l))->q)
#define SU_SQ(s) (&((dtact__sem_t *)(void *)(s))->q)
#define SU_EQ(e) (&((dtact__event_t *)(void *)(e))->q)
#define SU_GQ(g) (&((dtact__waitgroup_t *)(void *)(g))->q)
#define SU_BQ(b) (&((dtact__barrier_t *)(void *)(b))->q)
#define SU_OQ(o) (&((dtact__once_t *)(void *)(o))->q)

static inline pthread_t su_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

#endif
