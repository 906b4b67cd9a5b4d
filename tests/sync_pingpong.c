/* Description: no lost wake-ups. Pairs of fibers (launched from the host,
 * so placed round robin on the 2 workers, and free to migrate) ping-pong
 * through an auto-reset event, a semaphore and a condition variable, 1 million
 * signal/wait pairs in all per primitive at full scale (dtact_test_scaled).
 * Each hand-over passes a plain integer that the other side checks, so a lost
 * or duplicated wake-up fails at once (a lost one as a 10 s timeout instead of
 * a hang) and ThreadSanitizer checks the promised release/acquire orders. A
 * fiber/thread pair shows the same across the two kinds of waiter. */
#include "sync_util.h"

enum { PAIRS = 4 };
#define PP_TIMEOUT 10000000000ll

typedef struct pair {
    int kind; /* 0 event, 1 semaphore, 2 condition variable */
    uint64_t n;
    uint64_t value; /* plain: handed over by the primitive */
    dtact_event_t ev[2];
    dtact_sem_t sem[2];
    dtact_mutex_t m;
    dtact_cond_t cv[2];
    int turn; /* under m */
} pair_t;

static void give(pair_t *p, int to) {
    switch (p->kind) {
    case 0: cr_assert_eq(dtact_event_set(&p->ev[to]), DTACT_OK); break;
    case 1: cr_assert_eq(dtact_sem_post(&p->sem[to], 1), DTACT_OK); break;
    default:
        cr_assert_eq(dtact_mutex_lock(&p->m), DTACT_OK);
        p->turn = to;
        cr_assert_eq(dtact_cond_signal(&p->cv[to]), DTACT_OK);
        cr_assert_eq(dtact_mutex_unlock(&p->m), DTACT_OK);
        break;
    }
}

static void take(pair_t *p, int me) {
    switch (p->kind) {
    case 0: cr_assert_eq(dtact_event_timedwait(&p->ev[me], PP_TIMEOUT), DTACT_OK, "lost wake-up (event)"); break;
    case 1: cr_assert_eq(dtact_sem_timedwait(&p->sem[me], PP_TIMEOUT), DTACT_OK, "lost wake-up (semaphore)"); break;
    default:
        cr_assert_eq(dtact_mutex_lock(&p->m), DTACT_OK);
        while (p->turn != me) {
            int rc = dtact_cond_timedwait(&p->cv[me], &p->m, PP_TIMEOUT);
            cr_assert_eq(rc, DTACT_OK,
                         "lost wake-up (cond): side %d, turn %d, mutex %#x (queued %u), cond queued %u/%u", me, p->turn,
                         SU_MSTATE(&p->m), su_queued(SU_MQ(&p->m)), su_queued(SU_CQ(&p->cv[0])),
                         su_queued(SU_CQ(&p->cv[1])));
        }
        cr_assert_eq(dtact_mutex_unlock(&p->m), DTACT_OK);
        break;
    }
}

static void ping(pair_t *p) {
    for (uint64_t i = 0; i < p->n; i++) {
        p->value = 2 * i;
        give(p, 1);
        take(p, 0);
        cr_assert_eq(p->value, 2 * i + 1);
    }
}

static void pong(pair_t *p) {
    for (uint64_t i = 0; i < p->n; i++) {
        take(p, 1);
        cr_assert_eq(p->value, 2 * i);
        p->value = 2 * i + 1;
        give(p, 0);
    }
}

static void ping_f(void *a) { ping(a); }
static void pong_f(void *a) { pong(a); }
static void *ping_t(void *a) {
    ping(a);
    return NULL;
}

static pair_t pairs[PAIRS];

static void check_clean(pair_t *p) {
    for (int j = 0; j < 2; j++) {
        cr_assert_eq(dtact_event_destroy(&p->ev[j]), DTACT_OK);
        cr_assert_eq(dtact_sem_destroy(&p->sem[j]), DTACT_OK);
        cr_assert_eq(dtact_sem_value(&p->sem[j]), 0);
        cr_assert_eq(dtact_cond_destroy(&p->cv[j]), DTACT_OK);
    }
    cr_assert_eq(dtact_mutex_destroy(&p->m), DTACT_OK);
}

static void run_pairs(int kind) {
    void *rt = rt_up(2, 64);
    uint64_t total = dtact_test_scaled(1000000, 2000);
    memset(pairs, 0, sizeof pairs);
    dtact_handle_t h[2 * PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        pairs[i].kind = kind;
        pairs[i].n = total / PAIRS;
        h[2 * i] = dtact_fiber_launch(ping_f, &pairs[i]);
        h[2 * i + 1] = dtact_fiber_launch(pong_f, &pairs[i]);
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        cr_assert_eq(dtact_await(h[i]), DTACT_OK);
    for (int i = 0; i < PAIRS; i++)
        check_clean(&pairs[i]);
    /* A thread pings a fiber. */
    pair_t *p = &pairs[0];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->n = dtact_test_scaled(50000, 500);
    dtact_handle_t f = dtact_fiber_launch(pong_f, p);
    pthread_join(su_thread(ping_t, p), NULL);
    cr_assert_eq(dtact_await(f), DTACT_OK);
    check_clean(p);
    rt_down(rt);
}

Test(sync_pingpong, event_auto_reset) { run_pairs(0); }
Test(sync_pingpong, semaphore) { run_pairs(1); }
Test(sync_pingpong, cond) { run_pairs(2); }
