/* core/offload.c -- dtact_blocking: run a blocking call on a helper thread and
 * wait for it without blocking a worker.
 *
 * The pool. One per process, not tied to a runtime (it serves plain threads
 * of a program that never called dtact_init, and survives init/destroy
 * cycles). Its state sits behind one futex mutex (Drepper's three-state
 * lock), taken for a few pointer updates per call: a FIFO of jobs, a LIFO
 * list of idle helpers, the thread count and the limit. The pool starts with
 * no thread. A call appends its job and then either hands the queue to the
 * most recently idled helper (marks it GO and futex-wakes it) or, when every
 * helper is busy and the pool is below its limit, starts a new detached
 * helper; above the limit the job waits in the FIFO for the next helper that
 * finishes. An idle helper that gets no work for idle_ns (10 s) takes itself
 * off the idle list and exits; so does a surplus helper (the limit was
 * lowered) that finds the queue empty. A helper decides to exit only under the
 * lock with the queue empty, so a queued job always has a helper that will
 * reach it. Threads are detached, so an exit needs no joiner; a helper's own
 * record (idle links, futex word) lives on its stack and is unlinked before it
 * exits. Thread creation runs under the lock (rare: growth only): a failure
 * with no helper alive withdraws the job and the call fails (ESYS/ENOMEM) with
 * fn not run; with helpers alive the job waits for one of them.
 *
 * A job. Heap-allocated by the caller, two references (caller, pool). The
 * caller's wait node (waitq.h) lives on its stack and is queued on the job's
 * own waitq before submission; it waits with dtact__wnode_wait (a fiber
 * parks, its worker runs other fibers; a thread futex-waits). A helper takes
 * the job off the FIFO and moves state QUEUED -> RUNNING by CAS, runs fn,
 * stores result, publishes DONE, pops the node under the job's waitq lock and
 * wakes it. A caller that gives up (deadline, shutdown) has already unlinked
 * its node (waitq's give-up), then tries QUEUED -> CANCELLED: if that wins the
 * job is withdrawn and the helper that later pops it skips fn; if it loses fn
 * runs or ran on the helper: DONE -> the result is returned after all (fn did
 * return), RUNNING -> the error is returned and the result will be dropped.
 * Each side drops its reference when done with the record; the last frees
 * it, so neither touches freed memory whichever leaves first, and the helper
 * never touches the caller's node unless it popped it (waitq's protocol makes
 * the caller wait for that wake).
 *
 * fork(). The child has none of the helper threads: an atfork child handler
 * resets the pool to empty (the queued jobs of the parent are leaked: their
 * callers do not exist in the child).
 */
#include "offload.h"

#include <errno.h>

#include "internal.h"
#include "waitq.h"

#define OFFLOAD_MAX_LIMIT 4096u
#define OFFLOAD_DEFAULT_MAX 64u
#define OFFLOAD_IDLE_NS 10000000000ull
#define OFFLOAD_STACK (1024u * 1024u) /* fn is arbitrary foreign code */

enum { JOB_QUEUED = 0, JOB_RUNNING = 1, JOB_DONE = 2, JOB_CANCELLED = 3 };
enum { H_IDLE = 0, H_SLEEPING = 1, H_GO = 2 };

typedef struct job_s job_t;
struct job_s {
    job_t *next; /* FIFO link, under the pool lock */
    void *(*fn)(void *);
    void *arg;
    void *result;           /* written by the helper before DONE            */
    _Atomic uint32_t state; /* JOB_*                                         */
    _Atomic uint32_t refs;  /* caller + pool                                 */
    dtact__waitq_t q;       /* the caller's node while it waits              */
};

typedef struct helper_s helper_t;
struct helper_s {
    helper_t *prev, *next; /* idle list, under the pool lock */
    _Atomic uint32_t word; /* H_*: futex word; GO stored by a claimer under the lock */
};

static struct {
    _Atomic uint32_t lock; /* 0 free, 1 held, 2 held with waiters */
    uint32_t threads;      /* helpers alive                        */
    uint32_t nidle;        /* helpers on the idle list              */
    uint32_t max;          /* the limit                             */
    uint32_t fork_hooked;
    uint64_t idle_ns;
    job_t *head, *tail; /* FIFO of submitted jobs (withdrawn ones stay until popped) */
    helper_t *idle;     /* idle helpers, most recently idled first */
} pool = {.max = OFFLOAD_DEFAULT_MAX, .idle_ns = OFFLOAD_IDLE_NS};

static void pool_lock(void) {
    uint32_t c = 0;
    if (dtact__cas_strong_acq_rel(&pool.lock, &c, 1u)) return; // acq_rel: acquires the previous holder's writes
    if (c != 2u) c = dtact__xchg_acq_rel(&pool.lock, 2u);      // acq_rel: announce a waiter; 0 back means we took it
    while (c != 0u) {
        dtact__futex_wait(&pool.lock, 2u, -1);
        c = dtact__xchg_acq_rel(&pool.lock, 2u); // acq_rel: as above (stays 2: others may sleep too)
    }
}

static void pool_unlock(void) {
    // acq_rel: releases our writes to the next holder
    if (dtact__xchg_acq_rel(&pool.lock, 0u) == 2u) dtact__futex_wake(&pool.lock, 1);
}

static void forked_child(void) {
    dtact__store_relaxed(&pool.lock, 0u); // relaxed: the child has one thread; a holder may not exist here
    pool.threads = 0;
    pool.nidle = 0;
    pool.idle = NULL;
    pool.head = pool.tail = NULL;
}

/* ------------------------------------------------------ helper side */
static void job_release(job_t *j) {
    // acq_rel: the last owner sees every write of the other before it frees
    if (dtact__fetch_sub_acq_rel(&j->refs, 1u) == 1u) dtact__heap_free(j);
}

static void run_job(job_t *j) {
    uint32_t exp = JOB_QUEUED;
    // acq_rel: one of this CAS and the caller's QUEUED -> CANCELLED wins
    if (dtact__cas_strong_acq_rel(&j->state, &exp, JOB_RUNNING)) {
        j->result = j->fn(j->arg);
        dtact__store_release(&j->state, JOB_DONE); // release: publishes result to a caller that gave up
        dtact__waitq_lock(&j->q);
        dtact__wnode_t *n = dtact__waitq_pop(&j->q);
        dtact__waitq_unlock(&j->q);
        if (n) dtact__wnode_wake(n, DTACT_OK); /* publishes result (release) */
    }
    job_release(j);
}

static void idle_push(helper_t *h) {
    h->prev = NULL;
    h->next = pool.idle;
    if (pool.idle) pool.idle->prev = h;
    pool.idle = h;
    pool.nidle++;
}

static void idle_unlink(helper_t *h) {
    if (h->prev) h->prev->next = h->next;
    else pool.idle = h->next;
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = NULL;
    pool.nidle--;
}

/* Under the lock: takes h off the idle list and lets it run. */
static void helper_go(helper_t *h) {
    idle_unlink(h);
    // acq_rel: release publishes the queue to h (it relocks anyway); the old value says whether it sleeps
    if (dtact__xchg_acq_rel(&h->word, H_GO) == H_SLEEPING) dtact__futex_wake(&h->word, 1);
}

/* Without the lock: waits until claimed (GO) or the deadline. */
static void idle_wait(helper_t *h, uint64_t deadline) {
    for (;;) {
        uint32_t w = dtact__load_acquire(&h->word); // acquire: pairs with helper_go's exchange
        if (w == H_GO) return;
        uint64_t now = dtact__now_ns();
        if (now >= deadline) return;
        if (w == H_IDLE) {
            uint32_t exp = H_IDLE;
            // acq_rel: a failure means GO arrived (seen by the next load)
            if (!dtact__cas_strong_acq_rel(&h->word, &exp, H_SLEEPING)) continue;
        }
        uint64_t left = deadline - now;
        dtact__futex_wait(&h->word, H_SLEEPING, left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)left);
    }
}

static void *helper_main(void *unused) {
    (void)unused;
    helper_t self = {NULL, NULL, H_IDLE};
    dtact__thread_set_name("dtact-blocking");
    pool_lock();
    for (;;) {
        job_t *j = pool.head;
        if (j) {
            pool.head = j->next;
            if (!pool.head) pool.tail = NULL;
            pool_unlock();
            run_job(j);
            pool_lock();
            continue;
        }
        if (pool.threads > pool.max) break;       /* surplus after a lower limit */
        dtact__store_relaxed(&self.word, H_IDLE); // relaxed: read by claimers under the lock we hold
        idle_push(&self);
        uint64_t now = dtact__now_ns(), deadline = now + pool.idle_ns;
        if (deadline < now) deadline = UINT64_MAX;
        pool_unlock();
        idle_wait(&self, deadline);
        pool_lock();
        // relaxed: GO is stored under the lock we hold again
        if (dtact__load_relaxed(&self.word) != H_GO) {
            idle_unlink(&self); /* timed out, nobody claimed us */
            if (!pool.head) break;
        }
    }
    pool.threads--;
    pool_unlock();
    return NULL;
}

/* ------------------------------------------------------ caller side */
/* Queues j and makes sure a helper will reach it: DTACT_OK, or an error with
 * j not queued (no helper alive and none could be started). */
static int submit(job_t *j) {
    pool_lock();
    if (!pool.fork_hooked && dtact__on_fork_child(forked_child) == 0) pool.fork_hooked = 1;
    j->next = NULL;
    if (pool.tail) pool.tail->next = j;
    else pool.head = j;
    pool.tail = j;
    if (pool.idle) {
        helper_go(pool.idle);
    } else if (pool.threads < pool.max) {
        int e = dtact__thread_start_detached(helper_main, NULL, OFFLOAD_STACK);
        if (e == 0) {
            pool.threads++;
        } else if (pool.threads == 0) {
            /* Nobody will run it: withdraw it (it is the tail). */
            job_t *prev = NULL;
            for (job_t *p = pool.head; p != j; p = p->next)
                prev = p;
            if (prev) prev->next = NULL;
            else pool.head = NULL;
            pool.tail = prev;
            pool_unlock();
            return e == ENOMEM ? DTACT_ENOMEM : DTACT_ESYS;
        }
    }
    pool_unlock();
    return DTACT_OK;
}

DTACT_API int dtact_blocking(void *(*fn)(void *), void *arg, int64_t timeout_ns, void **result) {
    if (!fn) return dtact__set_error(DTACT_ENULLFN);
    uint64_t deadline = dtact__deadline_in(timeout_ns);
    dtact__wnode_t n;
    int rc = dtact__wnode_init(&n);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    job_t *j = dtact__heap_alloc(0, sizeof *j);
    if (!j) return dtact__set_error(DTACT_ENOMEM);
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    j->result = NULL;
    dtact__store_relaxed(&j->state, JOB_QUEUED); // relaxed: published by the pool lock's release in submit
    dtact__store_relaxed(&j->refs, 2u);          // relaxed: as above
    dtact__store_relaxed(&j->q.lock, 0u);        // relaxed: as above
    j->q.n = 0;
    j->q.head = j->q.tail = NULL;
    dtact__waitq_push(&j->q, &n); /* the job is not shared yet: no lock */
    rc = submit(j);
    if (rc != DTACT_OK) {
        dtact__heap_free(j);
        return dtact__set_error(rc);
    }
    rc = dtact__wnode_wait(&j->q, &n, deadline);
    if (rc != DTACT_OK) {
        /* Gave up (ETIMEDOUT, ESHUTDOWN) with the node unlinked: withdraw the
         * job if no helper took it yet. */
        uint32_t exp = JOB_QUEUED;
        // acq_rel: against the helper's QUEUED -> RUNNING; a failure acquires DONE's release (the result)
        if (dtact__cas_strong_acq_rel(&j->state, &exp, JOB_CANCELLED)) rc = DTACT_ECANCELED; /* fn never runs */
        else if (exp == JOB_DONE) rc = DTACT_OK;
    }
    if (rc == DTACT_OK && result) *result = j->result;
    job_release(j);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_blocking_set_max_threads(uint32_t n) {
    if (n < 1 || n > OFFLOAD_MAX_LIMIT) return dtact__set_error(DTACT_EINVAL);
    pool_lock();
    pool.max = n;
    /* Wake idle surplus helpers: each finds the queue empty and the pool
     * above its limit, and exits (the rest go back to idle). */
    uint32_t surplus = pool.threads > n ? pool.threads - n : 0;
    while (surplus-- > 0 && pool.idle)
        helper_go(pool.idle);
    pool_unlock();
    return DTACT_OK;
}

uint32_t dtact__offload_threads(void) {
    pool_lock();
    uint32_t t = pool.threads;
    pool_unlock();
    return t;
}

uint32_t dtact__offload_idle(void) {
    pool_lock();
    uint32_t t = pool.nidle;
    pool_unlock();
    return t;
}

void dtact__offload_set_idle_ns(uint64_t ns) {
    pool_lock();
    pool.idle_ns = ns;
    while (pool.idle) /* each restarts its wait with the new timeout */
        helper_go(pool.idle);
    pool_unlock();
}
