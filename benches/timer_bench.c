/* benches/timer_bench.c -- Dtact on the timer workload W12 (docs/benchmarks.md, "Synchronisation and
 * timers"), written against the public API only (dtact.h, dtact_sync.h), doing the same work as the W12 of
 * the peer programs in benches/peers/ (go/main.go, tokio/src/main.rs, boost/sync_fiber.cpp), with the same
 * command line and output line, so that scripts/bench-sync.sh can put them side by side. (A program of its
 * own, apart from sync_bench.c, because it needs only the timers.)
 *
 * dtact-bench-requires: dtact_sleep_until dtact_now_ns
 * (CMakeLists.txt builds this program only when the core defines both.)
 *
 * usage: bench_timer_bench W12 N WORKERS [reps=5] [rounds=5] [seed=S]
 *   W12  N fibers each dtact_sleep_until(now + d), d pseudo-random 1..100 ms (splitmix64(seed ^ (round x N +
 *        i)), the same durations as the peers), `rounds` rounds (spawn all N, join all N); lateness =
 *        dtact_now_ns() after the wake - deadline over all N x rounds sleeps; one line per rep with p50_us,
 *        p99_us, max_us and cpu_s (getrusage user+sys over the rounds):
 *   peer=dtact workload=W12 n=100000 workers=2 rep=1 rounds=5 p50_us=.. p99_us=.. max_us=.. cpu_s=.. unit=us ...
 *
 * Runtime: dtact_init with mWorkers = WORKERS, mFiberCapacity >= N + slack, 16 KiB default stacks (100k
 * sleeping fibers), then dtact_start. The root is a joinable fiber (256 KiB stack) that spawns the sleepers
 * (affinity Any) and joins them, like the peers' spawned root task. A sleep that ends before its deadline,
 * or any error status, prints CHECK FAILED on stderr and exits 1.
 */
#include "dtact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static struct {
    const char *workload;
    uint64_t n;
    unsigned workers;
    int reps;
    unsigned rounds;
    uint64_t seed;
} C = {NULL, 0, 0, 5, 5, 42};

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
    fprintf(stderr, "usage: %s W12 N WORKERS [reps=5] [rounds=5] [seed=S]\n", prog);
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

static dtact_handle_t *g_h; /* N handles, reused by every round */

/* ------------------------------------------------------------------ W12 timers */

/* splitmix64: the same pseudo-random durations in every program of the comparison */
static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int64_t *g_late;

static void *w12_task(void *arg) {
    uint64_t idx = (uint64_t)(uintptr_t)arg;
    uint64_t ms = 1 + splitmix64(C.seed ^ idx) % 100; /* idx = round * n + i */
    uint64_t deadline = dtact_now_ns() + ms * 1000000ull;
    OK(dtact_sleep_until(deadline));
    uint64_t now = dtact_now_ns();
    g_late[idx] = now >= deadline ? (int64_t)(now - deadline) : -(int64_t)(deadline - now);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void w12(int rep) {
    uint64_t n = C.n, total = n * C.rounds;
    dtact_handle_t *hs = g_h;
    double t0 = now_s(), c0 = cpu_seconds();
    for (uint64_t r = 0; r < C.rounds; r++) {
        for (uint64_t i = 0; i < n; i++)
            hs[i] = spawn_join(w12_task, (void *)(uintptr_t)(r * n + i), &g_attr);
        for (uint64_t i = 0; i < n; i++)
            join_h(hs[i]);
    }
    double el = now_s() - t0, cpu = cpu_seconds() - c0;
    qsort(g_late, total, sizeof *g_late, cmp_i64);
    if (g_late[0] < 0) CHECK_FAIL("a sleep ended %lld ns before its deadline", (long long)-g_late[0]);
#define PCT(q) ((double)g_late[(uint64_t)((q) * (double)(total - 1))] / 1e3)
    printf("peer=dtact workload=W12 n=%llu workers=%u rep=%d rounds=%u p50_us=%.1f p99_us=%.1f max_us=%.1f "
           "cpu_s=%.3f unit=us elapsed_s=%.4f\n",
           (unsigned long long)n, C.workers, rep, C.rounds, PCT(0.5), PCT(0.99), PCT(1.0), cpu, el);
#undef PCT
    fflush(stdout);
}

static void *driver(void *arg) {
    (void)arg;
    for (int r = 1; r <= C.reps; r++)
        w12(r);
    return NULL;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc < 4) usage(argv[0]);
    char *end;
    C.workload = argv[1];
    if (strcmp(C.workload, "W12")) {
        fprintf(stderr, "bench_timer_bench: unknown workload %s\n", C.workload);
        return 2;
    }
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
        else if (KEY("rounds")) C.rounds = (unsigned)atoi(v);
        else if (KEY("seed")) C.seed = strtoull(v, NULL, 0);
        else if (KEY("mintime")) (void)v; /* accepted for a uniform command line; W12 is not calibrated */
        else usage(argv[0]);
#undef KEY
    }
    if (C.rounds == 0) usage(argv[0]);
    if (C.n + 1024 > 16777215) CHECK_FAIL("too many fibers (%llu)", (unsigned long long)C.n);
    uint64_t cap = C.n + 1024;
    if (cap < 65536) cap = 65536;

    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = C.workers;
    cfg.mFiberCapacity = (uint32_t)cap;
    cfg.mStackSize = 16384;
    void *rt = dtact_init(&cfg);
    if (!rt) CHECK_FAIL("dtact_init: %s", dtact_strerror(dtact_last_error()));

    dtact_spawn_attr_init(&g_attr);
    g_attr.flags = DTACT_SPAWN_JOINABLE;
    g_h = malloc(C.n * sizeof *g_h);
    g_late = malloc(C.n * C.rounds * sizeof *g_late);
    if (!g_h || !g_late) CHECK_FAIL("out of memory");

    OK(dtact_start(rt));
    dtact_spawn_attr_t ra = g_attr;
    ra.stack_size = 262144;
    join_h(spawn_join(driver, NULL, &ra));
    dtact_shutdown();
    OK(dtact_destroy(rt));
    fflush(stdout);
    return 0;
}
