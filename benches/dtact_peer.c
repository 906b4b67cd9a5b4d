/* benches/dtact_peer.c -- Dtact on the peerbench workloads (../shared/bench/WORKLOADS.md), written against
 * the public C API only (dtact.h), doing the same work per workload as the peer programs
 * (../shared/bench/peers: go/main.go, tokio/src/main.rs, boost/fiber.cpp) with the same method and the same
 * output line, so that scripts/bench.sh can put them side by side in one run.
 *
 * usage: bench_dtact_peer WORKLOAD N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=10] [switcher=0..3]
 *                         [stack=BYTES] [join=spawn|await] [batches=5] [unit=1024] [factor=1000] [every=100]
 *                         [seed=42] [stats=0|1] [deflect=N]
 *   WORKLOAD  W2 | W2w | W3 | W4 | W5 | W7 | W8 | W9 | SKEW
 *   switcher  the context switcher of every spawned fiber (DTACT_SWITCHER_*), default 0 (CrossThreadFloat);
 *             the peer name printed is dtact (0), dtact-nofp (1), dtact-st (2), dtact-st-nofp (3)
 *   stack     dtact_config_t.mStackSize; default 16384 for W5 and W8, else 0 (the runtime's 256 KiB)
 *   join      W3/W4 only: spawn = dtact_spawn(DTACT_SPAWN_JOINABLE) + dtact_join(h, -1, &result), like
 *             tokio's JoinHandle (default); await = dtact_fiber_launch_ext (detached) + dtact_await, the
 *             W4 result in a per-fiber slot like Boost.Fiber's (peer name gets the suffix "-await")
 *   stats=1   after the measurement, print the scheduler's counters (dtact_get_stats: fibers moved between
 *             workers, chunks, work requests, parks, wake-ups) on one more line, then each worker's own
 *   deflect   N > 0: dtact_set_deflection_threshold(w, N) on every worker before the start (a large N turns
 *             the mesh's deflection off: what it moves, and what it costs, against the default)
 *   W9        skewed (the peerbench W9 of ../shared/bench/peers): N tasks spawned in order, every 100th spins
 *             1 ms by the clock, the others 1 us; prints ratio = makespan / (nominal work / WORKERS)
 *   SKEW      load balance under skew (docs/benchmarks.md): the root spawns N tasks in a fixed pseudo-random
 *             order (seed), every `every`-th of them (by a shuffled index) spinning factor x unit iterations of
 *             a dependent LCG step, the others unit iterations; then joins them all. Each task times its own
 *             body (CLOCK_MONOTONIC); per batch ratio = makespan / (sum of task times / WORKERS). One warm-up
 *             batch, then `batches` timed ones; each rep prints the median ratio (and min, max) and the median
 *             makespan; the same definition as benches/peers/go and benches/peers/tokio (workload SKEW)
 *
 * Runtime: dtact_init with mWorkers = WORKERS (W2: 1), mFiberCapacity large enough for every fiber of one
 * batch to be live at once (N + 1024, max 16777215), then dtact_start. The root of every workload is a fiber
 * of the runtime (spawned joinable with a 256 KiB stack): it runs the whole measurement (warm-ups,
 * calibration, timed repetitions) and prints; the host thread only waits for it with dtact_join. All
 * children are spawned from the root (W5: from their parent), with affinity Any, so the scheduler spreads
 * them.
 *
 * Method (as boost/common.hpp): a measurement is `batches` back-to-back runs of the workload, timed together
 * and divided by batches x operations. First one cold warm-up batch, and unless it took over 4 x mintime a
 * second one; while a run is shorter than mintime the batch count grows (at least x2, extrapolated to
 * 1.3 x mintime). Then `reps` timed repetitions, one line each. W8 has no warm-up (fresh process).
 *
 * Every workload validates its result (yield counts, join counts, the W4 sum, the fib value and the number
 * of fib calls, the W7 token sequence, the W8 wake count) and exits 1 with CHECK FAILED on stderr.
 */
#include "dtact.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ config, output */

static struct {
    const char *workload;
    uint64_t n;
    unsigned workers;
    int reps;
    double min_time;
    unsigned pairs;
    unsigned tasks;
    int switcher;
    uint32_t stack;
    int join_await;
    int stats;
    int deflect;
    unsigned batches;
    uint64_t unit, factor, every, seed;
} C = {NULL, 0, 0, 5, 0.25, 0, 10, 0, 0, 0, 0, 0, 5, 1024, 1000, 100, 42};

static char g_peer[48] = "dtact";

#define CHECK_FAIL(...)                                                                                                \
    do {                                                                                                               \
        fprintf(stderr, "peer=%s workload=%s n=%llu CHECK FAILED: ", g_peer, C.workload, (unsigned long long)C.n);     \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fprintf(stderr, "\n");                                                                                         \
        fflush(stdout);                                                                                                \
        fflush(stderr);                                                                                                \
        _Exit(1);                                                                                                      \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s W2|W2w|W3|W4|W5|W7|W8|W9|SKEW N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=10] "
            "[switcher=0..3] [stack=BYTES] [join=spawn|await] [batches=5] [unit=1024] [factor=1000] [every=100] "
            "[seed=42] [stats=0|1] [deflect=N]\n",
            prog);
    exit(2);
}

/* ------------------------------------------------------------------ spawning */

static dtact_spawn_attr_t g_attr_join; /* joinable, the chosen switcher */
static dtact_spawn_options_t g_opts;   /* for dtact_fiber_launch_ext (join=await) */

static dtact_handle_t spawn_join(void *(*fn)(void *), void *arg) {
    dtact_handle_t h = DTACT_INVALID_HANDLE;
    int rc = dtact_spawn(&h, fn, arg, &g_attr_join);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_spawn: %s", dtact_strerror(rc));
    return h;
}

static void *join_h(dtact_handle_t h) {
    void *r = NULL;
    int rc = dtact_join(h, -1, &r);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_join: %s", dtact_strerror(rc));
    return r;
}

static dtact_handle_t launch_detached(void (*fn)(void *), void *arg) {
    dtact_handle_t h = dtact_fiber_launch_ext(fn, arg, &g_opts);
    if (h == DTACT_INVALID_HANDLE) CHECK_FAIL("dtact_fiber_launch_ext: %s", dtact_strerror(dtact_last_error()));
    return h;
}

static void await_h(dtact_handle_t h) {
    int rc = dtact_await(h);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_await: %s", dtact_strerror(rc));
}

/* one big handle array, reused by every batch (like the peers' Vec::with_capacity per batch, minus the
 * allocation: a malloc of N x 8 bytes per batch would be the same for all runtimes and is left out) */
static dtact_handle_t *g_h;
static uint64_t g_hcap;

static dtact_handle_t *handles(uint64_t n) {
    if (n > g_hcap) {
        free(g_h);
        g_h = malloc(n * sizeof *g_h);
        if (!g_h) CHECK_FAIL("out of memory for %llu handles", (unsigned long long)n);
        g_hcap = n;
    }
    return g_h;
}

/* ------------------------------------------------------------------ W2 / W2w */

static void *w2_task(void *arg) {
    uint64_t per_task = (uint64_t)(uintptr_t)arg, c = 0;
    for (uint64_t i = 0; i < per_task; i++) {
        dtact_yield();
        ++c;
    }
    return (void *)(uintptr_t)c;
}

static void w2(uint64_t per_task, unsigned ntasks) {
    dtact_handle_t *hs = handles(ntasks);
    for (unsigned t = 0; t < ntasks; t++)
        hs[t] = spawn_join(w2_task, (void *)(uintptr_t)per_task);
    uint64_t total = 0;
    for (unsigned t = 0; t < ntasks; t++)
        total += (uint64_t)(uintptr_t)join_h(hs[t]);
    if (total != per_task * ntasks)
        CHECK_FAIL("yields %llu != %llu", (unsigned long long)total, (unsigned long long)(per_task * ntasks));
}

static void batch_w2(void) { w2(C.n, 2); }
static void batch_w2w(void) { w2(C.n, C.tasks); }

/* ------------------------------------------------------------------ W3 spawn_join */

static void *w3_task(void *arg) {
    (void)arg;
    return NULL;
}
static void w3_task_v(void *arg) { (void)arg; }

static void batch_w3(void) {
    uint64_t n = C.n;
    dtact_handle_t *hs = handles(n);
    uint64_t joined = 0;
    if (!C.join_await) {
        for (uint64_t i = 0; i < n; i++)
            hs[i] = spawn_join(w3_task, NULL);
        for (uint64_t i = 0; i < n; i++) {
            join_h(hs[i]);
            ++joined;
        }
    } else {
        for (uint64_t i = 0; i < n; i++)
            hs[i] = launch_detached(w3_task_v, NULL);
        for (uint64_t i = 0; i < n; i++) {
            await_h(hs[i]);
            ++joined;
        }
    }
    if (joined != n) CHECK_FAIL("joined %llu != %llu", (unsigned long long)joined, (unsigned long long)n);
}

/* ------------------------------------------------------------------ W4 hot_core */

static inline uint64_t w4_sum(void) {
    volatile uint64_t acc = 0;
    for (uint64_t j = 0; j < 100; j++)
        acc = acc + j;
    return acc;
}
static void *w4_task(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)w4_sum();
}
static void w4_task_slot(void *arg) { *(uint64_t *)arg = w4_sum(); }

static uint64_t *g_slots;

static void batch_w4(void) {
    uint64_t n = C.n, sum = 0;
    dtact_handle_t *hs = handles(n);
    if (!C.join_await) {
        for (uint64_t i = 0; i < n; i++)
            hs[i] = spawn_join(w4_task, NULL);
        for (uint64_t i = 0; i < n; i++)
            sum += (uint64_t)(uintptr_t)join_h(hs[i]);
    } else {
        if (!g_slots && !(g_slots = calloc(n, sizeof *g_slots))) CHECK_FAIL("out of memory");
        for (uint64_t i = 0; i < n; i++) {
            g_slots[i] = 0;
            hs[i] = launch_detached(w4_task_slot, &g_slots[i]);
        }
        for (uint64_t i = 0; i < n; i++) {
            await_h(hs[i]);
            sum += g_slots[i];
        }
    }
    if (sum != n * 4950) CHECK_FAIL("sum %llu != %llu", (unsigned long long)sum, (unsigned long long)(n * 4950));
}

/* ------------------------------------------------------------------ W5 fib_tree */

/* calls counted per worker (a fiber is not preempted between reading its worker index and the plain
 * increment, so no atomic RMW is needed); padded to a cache line each */
struct padded_count {
    _Alignas(64) uint64_t v;
};
static struct padded_count *g_calls;

static void count_call(void) {
    int w = dtact_current_worker();
    uint64_t v = __atomic_load_n(&g_calls[w].v, __ATOMIC_RELAXED);
    __atomic_store_n(&g_calls[w].v, v + 1, __ATOMIC_RELAXED);
}

static void *fib(void *arg) {
    uint64_t k = (uint64_t)(uintptr_t)arg;
    count_call();
    if (k < 2) return (void *)(uintptr_t)k;
    dtact_handle_t a = spawn_join(fib, (void *)(uintptr_t)(k - 1));
    dtact_handle_t b = spawn_join(fib, (void *)(uintptr_t)(k - 2));
    uint64_t ra = (uint64_t)(uintptr_t)join_h(a);
    uint64_t rb = (uint64_t)(uintptr_t)join_h(b);
    return (void *)(uintptr_t)(ra + rb);
}

static uint64_t fib_seq(uint64_t k) {
    uint64_t a = 0, b = 1;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}
static uint64_t fib_calls(uint64_t k) { return 2 * fib_seq(k + 1) - 1; }

static void batch_w5(void) {
    for (unsigned w = 0; w < C.workers; w++)
        __atomic_store_n(&g_calls[w].v, 0, __ATOMIC_RELAXED);
    uint64_t r = (uint64_t)(uintptr_t)join_h(spawn_join(fib, (void *)(uintptr_t)C.n));
    if (r != fib_seq(C.n))
        CHECK_FAIL("fib(%llu) = %llu, want %llu", (unsigned long long)C.n, (unsigned long long)r,
                   (unsigned long long)fib_seq(C.n));
    uint64_t calls = 0;
    for (unsigned w = 0; w < C.workers; w++)
        calls += __atomic_load_n(&g_calls[w].v, __ATOMIC_RELAXED);
    if (calls != fib_calls(C.n))
        CHECK_FAIL("fib calls %llu != %llu", (unsigned long long)calls, (unsigned long long)fib_calls(C.n));
}

/* ------------------------------------------------------------------ W7 pingpong */

/* Per pair: the responder A waits until tok == 2i+1, checks it, stores 2i+2 and unparks B; the initiator B
 * stores 2i+1, unparks A and waits until tok == 2i+2 (the two tokio Notify / Go channels of the peers are a
 * token word plus dtact_park/dtact_unpark here; park may wake spuriously, so both park in a loop). */
struct pair {
    _Alignas(64) _Atomic uint64_t tok;
    _Atomic dtact_handle_t a, b;
    uint64_t m;
    _Atomic uint64_t *bad;
};

static void *w7_responder(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < p->m; i++) {
        uint64_t t;
        while ((t = atomic_load_explicit(&p->tok, memory_order_acquire)) < 2 * i + 1)
            dtact_park(-1);
        if (t != 2 * i + 1) ++bad;
        atomic_store_explicit(&p->tok, 2 * i + 2, memory_order_release);
        dtact_unpark(atomic_load_explicit(&p->b, memory_order_acquire));
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static void *w7_initiator(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0;
    atomic_store_explicit(&p->b, dtact_self(), memory_order_release);
    dtact_handle_t a = atomic_load_explicit(&p->a, memory_order_acquire);
    for (uint64_t i = 0; i < p->m; i++) {
        atomic_store_explicit(&p->tok, 2 * i + 1, memory_order_release);
        dtact_unpark(a);
        uint64_t t;
        while ((t = atomic_load_explicit(&p->tok, memory_order_acquire)) < 2 * i + 2)
            dtact_park(-1);
        if (t != 2 * i + 2) ++bad;
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static struct pair *g_pairs;

static void batch_w7(void) {
    unsigned np = C.pairs;
    _Atomic uint64_t bad = 0;
    dtact_handle_t *hs = handles(2 * (uint64_t)np);
    for (unsigned q = 0; q < np; q++) {
        struct pair *p = &g_pairs[q];
        atomic_store(&p->tok, 0);
        atomic_store(&p->b, DTACT_INVALID_HANDLE);
        p->m = C.n;
        p->bad = &bad;
        hs[2 * q] = spawn_join(w7_responder, p);
        atomic_store_explicit(&p->a, hs[2 * q], memory_order_release);
        hs[2 * q + 1] = spawn_join(w7_initiator, p);
    }
    for (unsigned i = 0; i < 2 * np; i++)
        join_h(hs[i]);
    for (unsigned q = 0; q < np; q++)
        if (atomic_load(&g_pairs[q].tok) != 2 * C.n)
            CHECK_FAIL("pair %u ended at token %llu", q, (unsigned long long)atomic_load(&g_pairs[q].tok));
    if (atomic_load(&bad)) CHECK_FAIL("%llu bad tokens", (unsigned long long)atomic_load(&bad));
}

/* ------------------------------------------------------------------ SKEW load balance under skew */

/* The same in every program of the comparison (benches/peers/go, benches/peers/tokio). */
static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* the work: `iters` dependent multiply-add steps (about 1 ns each), not foldable by the compiler */
static __attribute__((noinline)) uint64_t skew_spin(uint64_t x, uint64_t iters) {
    for (uint64_t k = 0; k < iters; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t *g_skew_iters; /* per spawn position: the task's iterations */
static uint64_t *g_skew_dur;   /* per spawn position: its measured run time, ns */
static uint64_t g_skew_sum;    /* checksum of the results of the warm-up batch */

static void skew_setup(void) {
    uint64_t n = C.n;
    uint64_t *perm = malloc(n * sizeof *perm);
    g_skew_iters = malloc(n * sizeof *g_skew_iters);
    g_skew_dur = malloc(n * sizeof *g_skew_dur);
    if (!perm || !g_skew_iters || !g_skew_dur) CHECK_FAIL("out of memory");
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n - 1; i > 0; i--) { /* Fisher-Yates with splitmix64(seed + i) */
        uint64_t j = splitmix64(C.seed + i) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint64_t i = 0; i < n; i++)
        g_skew_iters[i] = perm[i] % C.every == 0 ? C.unit * C.factor : C.unit;
    free(perm);
}

static void *skew_task(void *arg) {
    uint64_t i = (uint64_t)(uintptr_t)arg;
    uint64_t t0 = now_ns();
    uint64_t x = skew_spin(i + 1, g_skew_iters[i]);
    g_skew_dur[i] = now_ns() - t0;
    return (void *)(uintptr_t)x;
}

/* one batch: returns makespan / (work / W); *span_ns and *work_ns get the two times */
static double skew_batch(uint64_t *span_ns, uint64_t *work_ns) {
    uint64_t n = C.n, sum = 0, work = 0;
    dtact_handle_t *hs = handles(n);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        hs[i] = spawn_join(skew_task, (void *)(uintptr_t)i);
    for (uint64_t i = 0; i < n; i++)
        sum += (uint64_t)(uintptr_t)join_h(hs[i]);
    uint64_t span = now_ns() - t0;
    for (uint64_t i = 0; i < n; i++)
        work += g_skew_dur[i];
    if (!g_skew_sum) g_skew_sum = sum;
    else if (sum != g_skew_sum)
        CHECK_FAIL("checksum %llu != %llu", (unsigned long long)sum, (unsigned long long)g_skew_sum);
    *span_ns = span;
    *work_ns = work;
    return (double)span / ((double)work / (double)C.workers);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void skew(void) {
    uint64_t span, work, nlong = 0;
    skew_setup();
    for (uint64_t i = 0; i < C.n; i++)
        nlong += g_skew_iters[i] != C.unit;
    skew_batch(&span, &work); /* warm-up, and the checksum */
    unsigned b = C.batches ? C.batches : 1;
    double *r = malloc(b * sizeof *r), *s = malloc(b * sizeof *s), *wk = malloc(b * sizeof *wk);
    if (!r || !s || !wk) CHECK_FAIL("out of memory");
    for (int rep = 1; rep <= C.reps; rep++) {
        for (unsigned k = 0; k < b; k++) {
            r[k] = skew_batch(&span, &work);
            s[k] = (double)span;
            wk[k] = (double)work;
        }
        qsort(r, b, sizeof *r, cmp_double);
        qsort(s, b, sizeof *s, cmp_double);
        qsort(wk, b, sizeof *wk, cmp_double);
        printf("peer=%s workload=SKEW n=%llu workers=%u rep=%d batches=%u ratio=%.4f ratio_min=%.4f ratio_max=%.4f "
               "makespan_ns=%.0f work_ns=%.0f ns_per_op=%.2f unit=ratio long=%llu factor=%llu unit_iters=%llu "
               "switcher=%d\n",
               g_peer, (unsigned long long)C.n, C.workers, rep, b, r[b / 2], r[0], r[b - 1], s[b / 2], wk[b / 2],
               s[b / 2] / (double)C.n, (unsigned long long)nlong, (unsigned long long)C.factor,
               (unsigned long long)C.unit, C.switcher);
        fflush(stdout);
    }
    free(r);
    free(s);
    free(wk);
}

/* ------------------------------------------------------------------ W8 memory */

static void read_status(long *rss, long *hwm) {
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *hwm = -1;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) *rss = atol(line + 6);
        else if (!strncmp(line, "VmHWM:", 6)) *hwm = atol(line + 6);
    }
    fclose(f);
}

static _Atomic int g_released;
static _Atomic uint64_t g_parked, g_woke;

static void *w8_task(void *arg) {
    (void)arg;
    atomic_fetch_add(&g_parked, 1);
    while (!atomic_load_explicit(&g_released, memory_order_acquire))
        dtact_park(-1);
    atomic_fetch_add(&g_woke, 1);
    return (void *)(uintptr_t)1;
}

static void w8(void) {
    uint64_t n = C.n;
    long rss0, hwm0, rss1, hwm1;
    read_status(&rss0, &hwm0);
    double t0 = now_s();
    dtact_handle_t *hs = handles(n); /* allocated after the first reading, like the peers' Vec */
    for (uint64_t i = 0; i < n; i++)
        hs[i] = spawn_join(w8_task, NULL);
    while (atomic_load(&g_parked) < n)
        dtact_yield();
    read_status(&rss1, &hwm1);
    atomic_store_explicit(&g_released, 1, memory_order_release);
    for (uint64_t i = 0; i < n; i++)
        dtact_unpark(hs[i]);
    uint64_t woke = 0;
    for (uint64_t i = 0; i < n; i++)
        woke += (uint64_t)(uintptr_t)join_h(hs[i]);
    double el = now_s() - t0;
    if (woke != n || atomic_load(&g_woke) != n)
        CHECK_FAIL("woke %llu (counter %llu) != %llu", (unsigned long long)woke,
                   (unsigned long long)atomic_load(&g_woke), (unsigned long long)n);
    printf("peer=%s workload=W8 n=%llu workers=%u rep=1 batches=1 bytes_per_task=%.1f rss_delta_per_task=%.1f "
           "rss_before_kb=%ld hwm_before_kb=%ld rss_parked_kb=%ld hwm_parked_kb=%ld elapsed_s=%.4f stack=%u "
           "switcher=%d\n",
           g_peer, (unsigned long long)n, C.workers, (double)(hwm1 - rss0) * 1024.0 / (double)n,
           (double)(rss1 - rss0) * 1024.0 / (double)n, rss0, hwm0, rss1, hwm1, el, C.stack, C.switcher);
    fflush(stdout);
}

/* ------------------------------------------------------------------ measurement */


static double time_batches(void (*batch)(void), uint64_t k) {
    double t0 = now_s();
    for (uint64_t i = 0; i < k; i++)
        batch();
    return now_s() - t0;
}

static uint64_t calibrate(void (*batch)(void)) {
    uint64_t k = 1;
    double t = time_batches(batch, k);                  /* cold warm-up */
    if (t < 4 * C.min_time) t = time_batches(batch, k); /* a cold run can be much slower (page faults) */
    while (t < C.min_time) {
        uint64_t est = (uint64_t)ceil((double)k * 1.3 * C.min_time / fmax(t, 1e-7));
        k = est > 2 * k ? est : 2 * k;
        t = time_batches(batch, k);
    }
    return k;
}

static void measure(void (*batch)(void), const char *unit, double ops, const char *extra) {
    uint64_t k = calibrate(batch);
    for (int r = 1; r <= C.reps; r++) {
        double el = time_batches(batch, k);
        printf("peer=%s workload=%s n=%llu workers=%u rep=%d batches=%llu ns_per_op=%.2f unit=%s elapsed_s=%.4f "
               "stack=%u switcher=%d%s\n",
               g_peer, C.workload, (unsigned long long)C.n, C.workers, r, (unsigned long long)k,
               el * 1e9 / ((double)k * ops), unit, el, C.stack, C.switcher, extra);
        fflush(stdout);
    }
}

/* ------------------------------------------------------------------ W9 skewed (the peerbench's) */

static void w9_spin(uint64_t ns) {
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < ns) {
    }
}

static void *w9_task(void *arg) {
    w9_spin((uint64_t)(uintptr_t)arg);
    return (void *)(uintptr_t)1;
}

static void batch_w9(void) {
    uint64_t n = C.n, ran = 0;
    dtact_handle_t *hs = handles(n);
    for (uint64_t i = 0; i < n; i++)
        hs[i] = spawn_join(w9_task, (void *)(uintptr_t)(i % 100 == 0 ? 1000000u : 1000u));
    for (uint64_t i = 0; i < n; i++)
        ran += (uint64_t)(uintptr_t)join_h(hs[i]);
    if (ran != n) CHECK_FAIL("ran %llu != %llu", (unsigned long long)ran, (unsigned long long)n);
}

static void w9(void) {
    uint64_t n = C.n, nlong = (n + 99) / 100;
    double ideal = ((double)(n - nlong) * 1e-6 + (double)nlong * 1e-3) / (double)C.workers;
    uint64_t k = calibrate(batch_w9);
    for (int r = 1; r <= C.reps; r++) {
        double el = time_batches(batch_w9, k);
        printf("peer=%s workload=W9 n=%llu workers=%u rep=%d batches=%llu ratio=%.4f unit=makespan/ideal "
               "elapsed_s=%.4f makespan_s=%.4f ideal_s=%.4f switcher=%d\n",
               g_peer, (unsigned long long)n, C.workers, r, (unsigned long long)k, el / (double)k / ideal, el,
               el / (double)k, ideal, C.switcher);
        fflush(stdout);
    }
}

static void *driver(void *arg) {
    (void)arg;
    const char *w = C.workload;
    char ex[96];
    if (!strcmp(w, "W2")) {
        measure(batch_w2, "ns/yield", 2.0 * (double)C.n, " tasks=2 runtime_workers=1");
    } else if (!strcmp(w, "W2w")) {
        snprintf(ex, sizeof ex, " tasks=%u", C.tasks);
        measure(batch_w2w, "ns/yield", (double)C.tasks * (double)C.n, ex);
    } else if (!strcmp(w, "W3")) {
        snprintf(ex, sizeof ex, " join=%s", C.join_await ? "await" : "spawn");
        measure(batch_w3, "ns/task", (double)C.n, ex);
    } else if (!strcmp(w, "W4")) {
        snprintf(ex, sizeof ex, " join=%s", C.join_await ? "await" : "spawn");
        measure(batch_w4, "ns/task", (double)C.n, ex);
    } else if (!strcmp(w, "W5")) {
        snprintf(ex, sizeof ex, " tasks=%llu", (unsigned long long)fib_calls(C.n));
        measure(batch_w5, "ns/task", (double)fib_calls(C.n), ex);
    } else if (!strcmp(w, "W7")) {
        snprintf(ex, sizeof ex, " pairs=%u", C.pairs);
        measure(batch_w7, "ns/round-trip", (double)C.n * C.pairs, ex);
    } else if (!strcmp(w, "W8")) {
        w8();
    } else if (!strcmp(w, "W9")) {
        w9();
    } else if (!strcmp(w, "SKEW")) {
        skew();
    }
    return NULL;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc < 4) usage(argv[0]);
    char *end;
    C.workload = argv[1];
    C.n = strtoull(argv[2], &end, 10);
    if (*end || C.n == 0) usage(argv[0]);
    C.workers = (unsigned)strtoul(argv[3], &end, 10);
    if (*end || C.workers == 0 || C.workers > 1024) usage(argv[0]);
    int stack_set = 0;
    for (int i = 4; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) usage(argv[0]);
        size_t kl = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
#define KEY(s) (kl == strlen(s) && !strncmp(argv[i], s, kl))
        if (KEY("reps")) C.reps = atoi(v);
        else if (KEY("mintime")) C.min_time = atof(v);
        else if (KEY("pairs")) C.pairs = (unsigned)atoi(v);
        else if (KEY("tasks")) C.tasks = (unsigned)atoi(v);
        else if (KEY("switcher")) C.switcher = atoi(v);
        else if (KEY("stack")) C.stack = (uint32_t)strtoul(v, NULL, 10), stack_set = 1;
        else if (KEY("batches")) C.batches = (unsigned)atoi(v);
        else if (KEY("stats")) C.stats = atoi(v);
        else if (KEY("unit")) C.unit = strtoull(v, NULL, 10);
        else if (KEY("factor")) C.factor = strtoull(v, NULL, 10);
        else if (KEY("every")) C.every = strtoull(v, NULL, 10);
        else if (KEY("seed")) C.seed = strtoull(v, NULL, 0);
        else if (KEY("deflect")) C.deflect = atoi(v);
        else if (KEY("join")) {
            if (!strcmp(v, "await")) C.join_await = 1;
            else if (strcmp(v, "spawn")) usage(argv[0]);
        } else usage(argv[0]);
#undef KEY
    }
    if (C.switcher < 0 || C.switcher > 3) usage(argv[0]);
    if (C.pairs == 0) C.pairs = C.workers;
    if (C.unit == 0 || C.factor == 0 || C.every == 0) usage(argv[0]);
    const char *w = C.workload;
    if (strcmp(w, "W2") && strcmp(w, "W2w") && strcmp(w, "W3") && strcmp(w, "W4") && strcmp(w, "W5") &&
        strcmp(w, "W7") && strcmp(w, "W8") && strcmp(w, "W9") && strcmp(w, "SKEW")) {
        fprintf(stderr, "bench_dtact_peer: unknown workload %s\n", w);
        return 2;
    }
    if (!strcmp(w, "W2")) C.workers = 1; /* like the peers: W2 runs on one worker whatever WORKERS says */
    if (!stack_set && (!strcmp(w, "W5") || !strcmp(w, "W8"))) C.stack = 16384;

    static const char *names[] = {"dtact", "dtact-nofp", "dtact-st", "dtact-st-nofp"};
    snprintf(g_peer, sizeof g_peer, "%s%s", names[C.switcher],
             (C.join_await && (!strcmp(w, "W3") || !strcmp(w, "W4"))) ? "-await" : "");

    /* capacity: every fiber of one batch may be live at once, plus the root and some slack */
    uint64_t live = 64;
    if (!strcmp(w, "W3") || !strcmp(w, "W4") || !strcmp(w, "W8") || !strcmp(w, "W9") || !strcmp(w, "SKEW")) live = C.n;
    else if (!strcmp(w, "W5")) live = fib_calls(C.n);
    else if (!strcmp(w, "W7")) live = 2 * (uint64_t)C.pairs;
    else if (!strcmp(w, "W2w")) live = C.tasks;
    uint64_t cap = live + 1024;
    if (cap < 65536) cap = 65536;
    if (cap > 16777215) cap = 16777215;

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = C.workers;
    cfg.mFiberCapacity = (uint32_t)cap;
    cfg.mStackSize = C.stack;
    void *rt = dtact_init(&cfg);
    if (!rt) CHECK_FAIL("dtact_init: %s", dtact_strerror(dtact_last_error()));

    dtact_spawn_attr_init(&g_attr_join);
    g_attr_join.flags = DTACT_SPAWN_JOINABLE;
    g_attr_join.options.mSwitcher = (uint8_t)C.switcher;
    g_opts = dtact_default_spawn_options();
    g_opts.mSwitcher = (uint8_t)C.switcher;

    g_calls = aligned_alloc(64, sizeof(struct padded_count) * C.workers);
    g_pairs = aligned_alloc(64, sizeof(struct pair) * (C.pairs ? C.pairs : 1));
    if (!g_calls || !g_pairs) CHECK_FAIL("out of memory");
    memset(g_calls, 0, sizeof(struct padded_count) * C.workers);
    memset(g_pairs, 0, sizeof(struct pair) * (C.pairs ? C.pairs : 1));

    if (C.deflect)
        for (uint32_t i = 0; i < C.workers; i++)
            dtact_set_deflection_threshold(i, (uint32_t)C.deflect);
    int rc = dtact_start(rt);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_start: %s", dtact_strerror(rc));

    /* the root: a joinable fiber with a 256 KiB stack (stdio and /proc reading on it) */
    dtact_spawn_attr_t ra = g_attr_join;
    ra.stack_size = 262144;
    dtact_handle_t root = DTACT_INVALID_HANDLE;
    rc = dtact_spawn(&root, driver, NULL, &ra);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_spawn(root): %s", dtact_strerror(rc));
    rc = dtact_join(root, -1, NULL);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_join(root): %s", dtact_strerror(rc));

    if (C.stats) { /* the scheduler's counters over the whole process (dtact_stats_t) */
        dtact_stats_t st;
        if (dtact_get_stats(rt, &st) == DTACT_OK)
            printf("peer=%s workload=%s stats: spawned=%llu deflected=%llu chunks_moved=%llu requests=%llu parks=%llu "
                   "wakes=%llu\n",
                   g_peer, C.workload, (unsigned long long)st.spawned, (unsigned long long)st.deflected,
                   (unsigned long long)st.chunks_moved, (unsigned long long)st.requests, (unsigned long long)st.parks,
                   (unsigned long long)st.wakes);
        for (uint32_t i = 0; i < C.workers; i++) /* and each worker's own */
            if (dtact_get_worker_stats(rt, i, &st) == DTACT_OK)
                printf("peer=%s workload=%s worker=%u stats: spawned=%llu completed=%llu deflected=%llu "
                       "chunks_moved=%llu requests=%llu parks=%llu wakes=%llu\n",
                       g_peer, C.workload, i, (unsigned long long)st.spawned, (unsigned long long)st.completed,
                       (unsigned long long)st.deflected, (unsigned long long)st.chunks_moved,
                       (unsigned long long)st.requests, (unsigned long long)st.parks, (unsigned long long)st.wakes);
    }
    dtact_shutdown();
    rc = dtact_destroy(rt);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_destroy: %s", dtact_strerror(rc));
    fflush(stdout);
    return 0;
}
