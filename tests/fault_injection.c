/* Description: fault injection (built only with -DDTACT_FAULT_INJECTION=ON):
 * for each kind of OS-layer call (memory map, reserve, commit/protect, thread
 * creation, heap allocation) and each path (init, start, spawn), the N-th
 * call of that kind made from the start of the path fails, for N = 1, 2, ...
 * until no call of that kind is left to fail. At every point: each call
 * returns OK or a documented error, the runtime still shuts down and is
 * destroyed, nothing is left behind (mappings: /proc/self/maps lines;
 * threads: /proc/self/task; fds: /proc/self/fd; heap blocks of the library),
 * and a fresh runtime can be initialised, run and destroyed afterwards.
 * Prints the fault points covered per kind and path. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dtact.h"
#include "prim.h"

#ifndef DTACT_FAULT_INJECTION
#error "tests/fault_injection.c needs -DDTACT_FAULT_INJECTION=ON"
#endif

#if defined(DTACT_ASAN)
#define ASAN 1
#else
#define ASAN 0
#endif

/* Once a known bug (fuzz/api_fuzz.c, DTACT_FUZZ_SKIP_INLINE_STACK_PAYLOAD):
 * in ASan builds an inline payload copied to a recycled stack tripped over the
 * stale redzones of a finished fiber's frames; fixed, so payloads go to stacks. */
#ifndef DTACT_FI_SKIP_INLINE_STACK_PAYLOAD
#define DTACT_FI_SKIP_INLINE_STACK_PAYLOAD 0 /* fixed in core (stacks unpoisoned when recycled) */
#endif
#define FIBER_PAYLOAD (DTACT_FI_SKIP_INLINE_STACK_PAYLOAD ? 64 : 1024) /* align 16 */
#define HOST_PAYLOAD (DTACT_FI_SKIP_INLINE_STACK_PAYLOAD ? 128 : 2048) /* align 64 */

#define N_MAX 400 /* more calls of one kind than any path makes */

static const char *const kind_name[DTACT__FAULT_KINDS] = {"map", "reserve", "commit/protect", "thread", "heap"};
enum { P_INIT, P_START, P_SPAWN, P_COUNT };
static const char *const path_name[P_COUNT] = {"init", "start", "spawn"};

/* ------------------------------------------------------------- resources */
static long count_dir(const char *path) {
    DIR *d = opendir(path);
    cr_assert_not_null(d, "opendir %s", path);
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n; /* for /proc/self/fd, the stream's own fd included: counts are only compared */
}

static long count_maps(void) {
    FILE *fp = fopen("/proc/self/maps", "r");
    cr_assert_not_null(fp);
    long n = 0;
    int c;
    while ((c = fgetc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

typedef struct snap_s {
    long maps, tasks, fds;
    int64_t heap;
} snap_t;

static snap_t snap(void) {
    snap_t s = {count_maps(), count_dir("/proc/self/task"), count_dir("/proc/self/fd"), dtact__fault_heap_live()};
    return s;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* After a destroy the joined threads leave /proc/self/task within moments. */
static void assert_clean(const snap_t *before, const char *what) {
    snap_t now = snap();
    for (int i = 0; i < 200 && (now.tasks != before->tasks || (now.maps != before->maps && !ASAN)); i++) {
        sleep_ms(5);
        now = snap();
    }
    cr_assert_eq(now.tasks, before->tasks, "%s: threads %ld before, %ld after", what, before->tasks, now.tasks);
#if !defined(                                                                                                          \
    DTACT_ASAN) /* ASan maps regions for its own allocator as it goes: LeakSanitizer and the heap count stand in */
    cr_assert_eq(now.maps, before->maps, "%s: mappings %ld before, %ld after", what, before->maps, now.maps);
#endif
    cr_assert_eq(now.fds, before->fds, "%s: fds %ld before, %ld after", what, before->fds, now.fds);
    cr_assert_eq(now.heap, before->heap, "%s: heap blocks %lld before, %lld after", what, (long long)before->heap,
                 (long long)now.heap);
}

/* -------------------------------------------------------------- scenario */
static int in_set(int rc, const int *set, int n) {
    for (int i = 0; i < n; i++)
        if (rc == set[i]) return 1;
    return 0;
}
#define EXPECT(what, rc, ...)                                                                                          \
    do {                                                                                                               \
        const int set_[] = {__VA_ARGS__};                                                                              \
        int rc_ = (rc);                                                                                                \
        cr_assert(in_set(rc_, set_, (int)(sizeof set_ / sizeof set_[0])), "%s: %s returned %d (%s)", ctx, what, rc_,   \
                  dtact_strerror(rc_));                                                                                \
    } while (0)

/* An inline fiber: its copy must be intact (every byte 5): 42, else 0. */
static void *child(void *copy) {
    for (int i = 0; i < 64; i++)
        if (((unsigned char *)copy)[i] != 5) return NULL;
    return (void *)42;
}

/* The fiber: a timed sleep (timer heap), a yield, a child with a payload that
 * needs a stack at spawn (stack commit on the spawning worker), joined. Its
 * result is its first unexpected status, or 42. */
static void *body(void *arg) {
    (void)arg;
    int rc = dtact_sleep_ns(100000);
    if (rc != DTACT_OK) return (void *)(intptr_t)(1000 - rc);
    rc = dtact_yield();
    if (rc != DTACT_OK) return (void *)(intptr_t)(2000 - rc);
    char payload[FIBER_PAYLOAD];
    memset(payload, 5, sizeof payload);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t h;
    rc = dtact_spawn_inline(&h, child, payload, sizeof payload, 16, &a);
    if (rc == DTACT_EEXHAUSTED || rc == DTACT_ENOMEM) return (void *)42; /* a failed stack commit: documented */
    if (rc != DTACT_OK) return (void *)(intptr_t)(3000 - rc);
    void *res = NULL;
    rc = dtact_join(h, 5000000000LL, &res);
    if (rc != DTACT_OK) return (void *)(intptr_t)(4000 - rc);
    if (res != (void *)42) return (void *)5000; /* the copy was not intact */
    return (void *)42;
}

/* One run of init, start, spawn + join, shutdown, destroy, with kind armed
 * to fail its n-th call from the start of `path` (n = 0: no fault). Returns
 * the faults injected. ctx names the point in messages. */
static uint64_t scenario(int kind, int path, uint64_t n, const char *ctx) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 64;
    cfg.mStackSize = 64 * 1024;
    cfg.mSafetyLevel = 1; /* guard pages: a commit per stack */
    if (path == P_INIT) dtact__fault_arm(kind, n);
    void *rt = dtact_init(&cfg);
    if (!rt) {
        EXPECT("dtact_init", dtact_last_error(), DTACT_ENOMEM, DTACT_ESYS);
        goto out;
    }
    if (path == P_START) dtact__fault_arm(kind, n);
    int started = dtact_start(rt);
    EXPECT("dtact_start", started, DTACT_OK, DTACT_ESYS, DTACT_ENOMEM);
    if (path == P_SPAWN) dtact__fault_arm(kind, n);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    dtact_handle_t h1 = 0, h2 = 0;
    int rc1 = dtact_spawn(&h1, body, NULL, &a);
    char payload[HOST_PAYLOAD];
    memset(payload, 5, sizeof payload);
    int rc2 = dtact_spawn_inline(&h2, child, payload, sizeof payload, 64, &a); /* a stack bound by the host */
    if (started == DTACT_OK) {
        EXPECT("dtact_spawn", rc1, DTACT_OK, DTACT_EEXHAUSTED, DTACT_ENOMEM);
        EXPECT("dtact_spawn_inline", rc2, DTACT_OK, DTACT_EEXHAUSTED, DTACT_ENOMEM);
    } else {
        EXPECT("dtact_spawn after a failed start", rc1, DTACT_ESHUTDOWN);
        EXPECT("dtact_spawn_inline after a failed start", rc2, DTACT_ESHUTDOWN);
    }
    if (rc1 == DTACT_OK) {
        void *res = NULL;
        int rc = dtact_join(h1, 10000000000LL, &res);
        EXPECT("dtact_join", rc, DTACT_OK);
        cr_assert_eq((intptr_t)res, 42, "%s: the fiber saw an undocumented status (result %ld)", ctx,
                     (long)(intptr_t)res);
    }
    if (rc2 == DTACT_OK) {
        void *res = NULL;
        EXPECT("dtact_join (inline)", dtact_join(h2, 10000000000LL, &res), DTACT_OK);
        cr_assert_eq((intptr_t)res, 42, "%s: the inline payload's copy was not intact", ctx);
    }
    EXPECT("dtact_shutdown", dtact_shutdown(), DTACT_OK);
    EXPECT("dtact_destroy", dtact_destroy(rt), DTACT_OK);
out:;
    uint64_t hits = n ? dtact__fault_hits(kind) : 0;
    dtact__fault_arm(kind, 0);
    return hits;
}

Test(fault_injection, every_point_of_init_start_spawn, .timeout = 600) {
    dtact_set_warning_handler(NULL, NULL);
    /* One malloc arena: glibc would otherwise map a new arena (2 mappings)
     * whenever two threads first allocate at once, which is not ours. */
    mallopt(M_ARENA_MAX, 1);
    /* Warm up: the C library caches thread stacks and per-thread malloc arenas. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(scenario(0, P_INIT, 0, "warm-up"), 0);
    snap_t base = snap();
    int points[DTACT__FAULT_KINDS][P_COUNT];
    int total = 0;
    for (int k = 0; k < DTACT__FAULT_KINDS; k++) {
        for (int p = 0; p < P_COUNT; p++) {
            points[k][p] = 0;
            uint64_t n;
            for (n = 1; n <= N_MAX; n++) {
                char ctx[96];
                snprintf(ctx, sizeof ctx, "%s fault #%llu from %s", kind_name[k], (unsigned long long)n, path_name[p]);
                uint64_t hits = scenario(k, p, n, ctx);
                assert_clean(&base, ctx);
                /* the runtime can be initialised (and run) again */
                snprintf(ctx, sizeof ctx, "re-init after %s fault #%llu from %s", kind_name[k], (unsigned long long)n,
                         path_name[p]);
                cr_assert_eq(scenario(k, P_INIT, 0, ctx), 0);
                assert_clean(&base, ctx);
                if (hits == 0) break;
                points[k][p]++;
            }
            cr_assert_leq(n, N_MAX, "%s from %s: more than %d calls", kind_name[k], path_name[p], N_MAX);
            total += points[k][p];
        }
    }
    printf("fault points covered (kind: init / start / spawn paths; a path's count includes the calls of the later"
           " steps of the same run)\n");
    for (int k = 0; k < DTACT__FAULT_KINDS; k++)
        printf("  %-15s %3d / %3d / %3d\n", kind_name[k], points[k][P_INIT], points[k][P_START], points[k][P_SPAWN]);
    printf("  total           %d\n", total);
    fflush(stdout);
}

/* A stack whose commit fails when no other stack is in use, so no release
 * will ever come: the fiber still runs, once the commit is retried (loop.c,
 * the retry deadline). Once this waited for a release that never came: the
 * joiner timed out (CI saw it as "commit/protect fault #3 from start"). */
static void *leaf(void *arg) { return arg; }
static void *holder(void *arg) {
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    a.stack_size = (uint32_t)(uintptr_t)arg;  /* a class with no stack yet: its first use commits */
    dtact__fault_arm(DTACT__FAULT_COMMIT, 1); /* the child's stack: no other stack of its class exists */
    dtact_handle_t h;
    int rc = dtact_spawn(&h, leaf, (void *)7, &a);
    if (rc != DTACT_OK) return (void *)(intptr_t)(100 - rc);
    void *res = NULL;
    rc = dtact_join(h, 10000000000LL, &res);
    if (rc != DTACT_OK) return (void *)(intptr_t)(200 - rc);
    return res;
}

Test(fault_injection, a_failed_stack_commit_is_retried, .timeout = 60) {
    dtact_set_warning_handler(NULL, NULL);
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 1;
    cfg.mFiberCapacity = 16;
    cfg.mStackSize = 64 * 1024;
    cfg.mSafetyLevel = 1;
    void *rt = dtact_init(&cfg);
    cr_assert_not_null(rt);
    cr_assert_eq(dtact_start(rt), DTACT_OK);
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.flags = DTACT_SPAWN_JOINABLE;
    static const uint32_t child_stack[] = {16 * 1024, 256 * 1024, 1024 * 1024};
    for (int round = 0; round < 3; round++) { /* the backoff starts over after a success */
        dtact_handle_t h;
        cr_assert_eq(dtact_spawn(&h, holder, (void *)(uintptr_t)child_stack[round], &a), DTACT_OK);
        void *res = NULL;
        cr_assert_eq(dtact_join(h, 20000000000LL, &res), DTACT_OK);
        cr_assert_eq((intptr_t)res, 7, "round %d: the holder saw %ld", round, (long)(intptr_t)res);
        cr_assert_eq(dtact__fault_hits(DTACT__FAULT_COMMIT), 1, "round %d: the commit did not fail once", round);
        dtact__fault_arm(DTACT__FAULT_COMMIT, 0);
    }
    cr_assert_eq(dtact_shutdown(), DTACT_OK);
    cr_assert_eq(dtact_destroy(rt), DTACT_OK);
}
