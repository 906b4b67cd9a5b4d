/* benches/sync_bench.c -- Dtact on the synchronisation workloads W7b, W7c, W10, W11
 * (docs/benchmarks.md, "Synchronisation and timers"), written against the public API only (dtact.h and
 * dtact_sync.h), doing the same work per workload as the peer programs in benches/peers/ (go/main.go,
 * tokio/src/main.rs, boost/sync_fiber.cpp), with the same command line and output line, so that
 * scripts/bench-sync.sh can put them side by side in one run. (W7 through dtact_park/dtact_unpark is
 * bench_dtact_peer's W7; the timer workload W12 is benches/timer_bench.c.)
 *
 * dtact-bench-requires: dtact_mutex_lock dtact_event_set dtact_chan_create
 * (CMakeLists.txt builds this program only when the core defines all of these.)
 *
 * usage: bench_sync_bench WORKLOAD N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [pin=1]
 *   W7b  P pairs (default WORKERS) bounce a token N times over two channels of capacity 1 (8-byte
 *        messages: the token is the message)                                             ns/round-trip
 *   W7c  the same through two auto-reset dtact_event_t; the token travels in a shared word  ns/round-trip
 *   W10  T fibers (default 4 x WORKERS) take one dtact_mutex_t N times in total around a plain
 *        increment; checks the counter                                                   ns/lock-unlock
 *   W11  one producer and one consumer fiber, a channel of C (default 1024) 8-byte messages, N messages
 *        (the u64 sequence); the consumer checks order and sum. pin=1 (default): both are spawned from
 *        the host thread with affinity SameCore, which queues them round robin on different workers and
 *        keeps them there; the line says where they ran (placement=cross|same)        ns/message
 *
 * Runtime: dtact_init with mWorkers = WORKERS, mFiberCapacity >= every fiber of a batch + slack, then
 * dtact_start. The root of every workload but W11 is a joinable fiber (256 KiB stack) that runs the
 * whole measurement; children are spawned from it with
 * affinity Any, like the peers' spawned root task. W11's measurement runs on the host thread (a spawn from
 * a fiber lands on the spawner's own worker; a spawn from the host goes round robin over the workers,
 * which is what places the two ends on different workers).
 *
 * Method (as the peers): a measurement is `batches` back-to-back runs of the workload timed together: one
 * cold warm-up batch, a second unless the first took over 4 x mintime, the batch count grows until a run
 * lasts mintime, then `reps` timed runs, one line each:
 *   peer=dtact workload=W10 n=1000000 workers=2 rep=1 batches=1 ns_per_op=41.20 unit=ns/lock-unlock ...
 * Every result is validated (token sequence, counter, message order and sum, every status
 * code); a wrong one prints CHECK FAILED on stderr and exits 1.
 */
#include "dtact.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    const char *workload;
    uint64_t n;
    unsigned workers;
    int reps;
    double min_time;
    unsigned pairs, tasks;
    size_t cap;
    int pin;
} C = {NULL, 0, 0, 5, 0.25, 0, 0, 1024, 1};

#define CHECK_FAIL(...)                                                                                                \
    do {                                                                                                               \
        fprintf(stderr, "peer=dtact workload=%s n=%llu CHECK FAILED: ", C.workload, (unsigned long long)C.n);          \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fprintf(stderr, "\n");                                                                                         \
        fflush(stdout);                                                                                                \
        fflush(stderr);                                                                                                \
        _Exit(1);                                                                                                      \
    } while (0)

#define OK(call)                                                                                                       \
    do {                                                                                                               \
        int rc_ = (call);                                                                                              \
        if (rc_ != DTACT_OK) CHECK_FAIL("%s: %s", #call, dtact_strerror(rc_));                                         \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s W7b|W7c|W10|W11 N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] "
            "[pin=0|1]\n",
            prog);
    exit(2);
}

/* ------------------------------------------------------------------ spawning */

static dtact_spawn_attr_t g_attr; /* joinable, affinity Any */

static dtact_handle_t spawn_join(void *(*fn)(void *), void *arg, const dtact_spawn_attr_t *attr) {
    dtact_handle_t h = DTACT_INVALID_HANDLE;
    int rc = dtact_spawn(&h, fn, arg, attr);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_spawn: %s", dtact_strerror(rc));
    return h;
}

static void *join_h(dtact_handle_t h) {
    void *r = NULL;
    int rc = dtact_join(h, -1, &r);
    if (rc != DTACT_OK) CHECK_FAIL("dtact_join: %s", dtact_strerror(rc));
    return r;
}

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

/* ------------------------------------------------------------------ W7b / W7c pingpong */

/* One pair: W7b uses the two channels (req carries 2i+1, rep 2i+2), W7c the token word and two events. */
struct pair {
    _Alignas(64) _Atomic uint64_t tok;
    dtact_chan_t *req, *rep;
    dtact_event_t to_a, to_b;
    uint64_t m;
    _Atomic uint64_t *bad;
};
static struct pair *g_pairs;

static void *w7b_responder(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0, v;
    for (uint64_t i = 0; i < p->m; i++) {
        OK(dtact_chan_recv(p->req, &v));
        if (v != 2 * i + 1) ++bad;
        v = 2 * i + 2;
        OK(dtact_chan_send(p->rep, &v));
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static void *w7b_initiator(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0, v;
    for (uint64_t i = 0; i < p->m; i++) {
        v = 2 * i + 1;
        OK(dtact_chan_send(p->req, &v));
        OK(dtact_chan_recv(p->rep, &v));
        if (v != 2 * i + 2) ++bad;
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static void *w7c_responder(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < p->m; i++) {
        while (atomic_load_explicit(&p->tok, memory_order_acquire) < 2 * i + 1)
            OK(dtact_event_wait(&p->to_a));
        if (atomic_load_explicit(&p->tok, memory_order_acquire) != 2 * i + 1) ++bad;
        atomic_store_explicit(&p->tok, 2 * i + 2, memory_order_release);
        OK(dtact_event_set(&p->to_b));
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static void *w7c_initiator(void *arg) {
    struct pair *p = arg;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < p->m; i++) {
        atomic_store_explicit(&p->tok, 2 * i + 1, memory_order_release);
        OK(dtact_event_set(&p->to_a));
        while (atomic_load_explicit(&p->tok, memory_order_acquire) < 2 * i + 2)
            OK(dtact_event_wait(&p->to_b));
        if (atomic_load_explicit(&p->tok, memory_order_acquire) != 2 * i + 2) ++bad;
    }
    if (bad) atomic_fetch_add(p->bad, bad);
    return NULL;
}

static void w7(int events) {
    unsigned np = C.pairs;
    _Atomic uint64_t bad = 0;
    dtact_handle_t *hs = handles(2 * (uint64_t)np);
    for (unsigned q = 0; q < np; q++) {
        struct pair *p = &g_pairs[q];
        atomic_store(&p->tok, 0);
        p->m = C.n;
        p->bad = &bad;
        if (events) {
            OK(dtact_event_init(&p->to_a, DTACT_EVENT_AUTO_RESET, 0));
            OK(dtact_event_init(&p->to_b, DTACT_EVENT_AUTO_RESET, 0));
        } else {
            p->req = dtact_chan_create(sizeof(uint64_t), 1);
            p->rep = dtact_chan_create(sizeof(uint64_t), 1);
            if (!p->req || !p->rep) CHECK_FAIL("dtact_chan_create: %s", dtact_strerror(dtact_last_error()));
        }
        hs[2 * q] = spawn_join(events ? w7c_responder : w7b_responder, p, &g_attr);
        hs[2 * q + 1] = spawn_join(events ? w7c_initiator : w7b_initiator, p, &g_attr);
    }
    for (unsigned i = 0; i < 2 * np; i++)
        join_h(hs[i]);
    for (unsigned q = 0; q < np; q++) {
        struct pair *p = &g_pairs[q];
        if (events) {
            if (atomic_load(&p->tok) != 2 * C.n)
                CHECK_FAIL("pair %u ended at token %llu", q, (unsigned long long)atomic_load(&p->tok));
            OK(dtact_event_destroy(&p->to_a));
            OK(dtact_event_destroy(&p->to_b));
        } else {
            if (dtact_chan_len(p->req) || dtact_chan_len(p->rep)) CHECK_FAIL("pair %u: messages left over", q);
            OK(dtact_chan_destroy(p->req));
            OK(dtact_chan_destroy(p->rep));
        }
    }
    if (atomic_load(&bad)) CHECK_FAIL("%llu bad tokens", (unsigned long long)atomic_load(&bad));
}

static void batch_w7b(void) { w7(0); }
static void batch_w7c(void) { w7(1); }

/* ------------------------------------------------------------------ W10 mutex */

static dtact_mutex_t g_mutex;
static uint64_t g_counter; /* plain: only the mutex protects it */

static void *w10_task(void *arg) {
    uint64_t iters = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < iters; i++) {
        OK(dtact_mutex_lock(&g_mutex));
        g_counter++;
        OK(dtact_mutex_unlock(&g_mutex));
    }
    return NULL;
}

static void batch_w10(void) {
    unsigned nt = C.tasks;
    dtact_handle_t *hs = handles(nt);
    g_counter = 0;
    for (unsigned t = 0; t < nt; t++) {
        uint64_t iters = C.n / nt + (t < C.n % nt ? 1 : 0);
        hs[t] = spawn_join(w10_task, (void *)(uintptr_t)iters, &g_attr);
    }
    for (unsigned t = 0; t < nt; t++)
        join_h(hs[t]);
    if (g_counter != C.n) CHECK_FAIL("counter %llu != %llu", (unsigned long long)g_counter, (unsigned long long)C.n);
}

/* ------------------------------------------------------------------ W11 channel */

static dtact_spawn_attr_t g_attr_pin; /* joinable; SameCore with pin=1 */
static dtact_chan_t *g_ch;
static _Atomic int g_prod_worker, g_cons_worker;
static uint64_t g_cross, g_same; /* batches whose two ends ran on different / the same worker */

static void *w11_producer(void *arg) {
    (void)arg;
    atomic_store(&g_prod_worker, dtact_current_worker());
    for (uint64_t i = 0; i < C.n; i++)
        OK(dtact_chan_send(g_ch, &i));
    if (dtact_current_worker() != atomic_load(&g_prod_worker)) atomic_store(&g_prod_worker, -2); /* it moved */
    return NULL;
}

static void *w11_consumer(void *arg) {
    (void)arg;
    atomic_store(&g_cons_worker, dtact_current_worker());
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < C.n; i++) {
        OK(dtact_chan_recv(g_ch, &v));
        if (v != i) CHECK_FAIL("message %llu: got %llu", (unsigned long long)i, (unsigned long long)v);
        sum += v;
    }
    if (sum != C.n * (C.n - 1) / 2)
        CHECK_FAIL("sum %llu != %llu", (unsigned long long)sum, (unsigned long long)(C.n * (C.n - 1) / 2));
    if (dtact_current_worker() != atomic_load(&g_cons_worker)) atomic_store(&g_cons_worker, -3);
    return NULL;
}

static void batch_w11(void) {
    g_ch = dtact_chan_create(sizeof(uint64_t), C.cap);
    if (!g_ch) CHECK_FAIL("dtact_chan_create: %s", dtact_strerror(dtact_last_error()));
    dtact_handle_t c = spawn_join(w11_consumer, NULL, &g_attr_pin);
    dtact_handle_t p = spawn_join(w11_producer, NULL, &g_attr_pin);
    join_h(p);
    join_h(c);
    if (dtact_chan_len(g_ch)) CHECK_FAIL("messages left over");
    OK(dtact_chan_destroy(g_ch));
    int pw = atomic_load(&g_prod_worker), cw = atomic_load(&g_cons_worker);
    if (pw >= 0 && cw >= 0 && pw != cw) ++g_cross;
    else ++g_same;
}

/* ------------------------------------------------------------------ measurement */

static double time_batches(void (*batch)(void), uint64_t k) {
    double t0 = now_s();
    for (uint64_t i = 0; i < k; i++)
        batch();
    return now_s() - t0;
}

static void measure(void (*batch)(void), const char *unit, double ops, const char *extra) {
    uint64_t k = 1;
    double t = time_batches(batch, k);
    if (t < 4 * C.min_time) t = time_batches(batch, k);
    while (t < C.min_time) {
        uint64_t est = (uint64_t)ceil((double)k * 1.3 * C.min_time / fmax(t, 1e-7));
        k = est > 2 * k ? est : 2 * k;
        t = time_batches(batch, k);
    }
    for (int r = 1; r <= C.reps; r++) {
        g_cross = g_same = 0;
        double el = time_batches(batch, k);
        char pl[64] = "";
        if (batch == batch_w11)
            snprintf(pl, sizeof pl, " placement=%s", g_same ? (g_cross ? "mixed" : "same") : "cross");
        printf(
            "peer=dtact workload=%s n=%llu workers=%u rep=%d batches=%llu ns_per_op=%.2f unit=%s elapsed_s=%.4f%s%s\n",
            C.workload, (unsigned long long)C.n, C.workers, r, (unsigned long long)k, el * 1e9 / ((double)k * ops),
            unit, el, extra, pl);
        fflush(stdout);
    }
}

static void *driver(void *arg) {
    (void)arg;
    const char *w = C.workload;
    char ex[64];
    double pp = (double)C.n * C.pairs;
    if (!strcmp(w, "W7b")) {
        snprintf(ex, sizeof ex, " pairs=%u via=chan1", C.pairs);
        measure(batch_w7b, "ns/round-trip", pp, ex);
    } else if (!strcmp(w, "W7c")) {
        snprintf(ex, sizeof ex, " pairs=%u via=event", C.pairs);
        measure(batch_w7c, "ns/round-trip", pp, ex);
    } else if (!strcmp(w, "W10")) {
        snprintf(ex, sizeof ex, " tasks=%u", C.tasks);
        measure(batch_w10, "ns/lock-unlock", (double)C.n, ex);
    } else {
        snprintf(ex, sizeof ex, " cap=%zu pin=%d", C.cap, C.pin);
        measure(batch_w11, "ns/message", (double)C.n, ex);
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
        else if (KEY("cap")) C.cap = (size_t)strtoull(v, NULL, 10);
        else if (KEY("pin")) C.pin = atoi(v) != 0;
        else usage(argv[0]);
#undef KEY
    }
    const char *w = C.workload;
    if (strcmp(w, "W7b") && strcmp(w, "W7c") && strcmp(w, "W10") && strcmp(w, "W11")) {
        fprintf(stderr, "bench_sync_bench: unknown workload %s\n", w);
        return 2;
    }
    if (C.cap == 0) usage(argv[0]);
    if (C.pairs == 0) C.pairs = C.workers;
    if (C.tasks == 0) C.tasks = 4 * C.workers;

    uint64_t live = 64;
    if (!strcmp(w, "W7b") || !strcmp(w, "W7c")) live = 2 * (uint64_t)C.pairs;
    else if (!strcmp(w, "W10")) live = C.tasks;
    uint64_t cap = live + 1024;
    if (cap < 65536) cap = 65536;
    if (cap > 16777215) CHECK_FAIL("too many fibers (%llu)", (unsigned long long)live);

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = C.workers;
    cfg.mFiberCapacity = (uint32_t)cap;
    void *rt = dtact_init(&cfg);
    if (!rt) CHECK_FAIL("dtact_init: %s", dtact_strerror(dtact_last_error()));

    dtact_spawn_attr_init(&g_attr);
    g_attr.flags = DTACT_SPAWN_JOINABLE;
    g_attr_pin = g_attr;
    if (C.pin) g_attr_pin.options.mAffinity = DTACT_AFFINITY_SAME_CORE;

    g_pairs = aligned_alloc(64, sizeof(struct pair) * C.pairs);
    if (!g_pairs) CHECK_FAIL("out of memory");
    memset(g_pairs, 0, sizeof(struct pair) * C.pairs);

    OK(dtact_start(rt));
    if (!strcmp(w, "W11")) {
        driver(NULL); /* on the host thread: its spawns go round robin over the workers */
    } else {
        dtact_spawn_attr_t ra = g_attr;
        ra.stack_size = 262144;
        join_h(spawn_join(driver, NULL, &ra));
    }
    dtact_shutdown();
    OK(dtact_destroy(rt));
    fflush(stdout);
    return 0;
}
