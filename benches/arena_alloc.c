/* benches/arena_alloc.c -- cost of giving a fiber its memory: one record
 * (128 B) plus one stack, allocated and freed, against malloc/free of the same
 * sizes, in the same run.
 *
 * Method: each thread repeats bursts of B = 16 allocations (record, then
 * stack) followed by 16 frees in LIFO order, for n pairs per rep; a pair is one
 * record+stack allocation and its free. One thread uses worker cache 0; two
 * threads use caches 0 and 1 concurrently (ns/pair is per thread, wall time /
 * pairs per thread). The malloc side does malloc(128) + malloc(stack size) and
 * frees both (glibc: per-thread arenas and tcache). Stacks are not touched on
 * either side (mmap'd pages are not committed until used; malloc may reuse
 * committed heap). glibc is measured twice: with its defaults, then tuned
 * with mallopt (no trimming, no mmap below 32 MiB, 16 MiB top pad), since by
 * default a burst of 64 KiB blocks makes it call brk/mmap. Each case is warmed up once, then timed `reps` times; the
 * table shows the median (min .. max) in ns per pair.
 *
 * Usage: bench_arena_alloc [reps=N] [n=N]   (defaults 7, 2000000; untuned
 * glibc runs n/50 pairs per rep)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "dtact.h"

enum { B = 16 };

typedef struct {
    dtact__arena_t *a;
    int cls;
    size_t stack;
    uint32_t cache;
    long n;
    int use_malloc;
    pthread_barrier_t *bar;
    double ns;
} job_t;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static _Thread_local volatile uintptr_t sink; /* per thread: no false sharing */

static void run_arena(job_t *j) {
    dtact__fiber_t *f[B];
    dtact__stack_t *s[B];
    for (long i = 0; i < j->n; i += B) {
        for (int k = 0; k < B; k++) {
            f[k] = dtact__fiber_alloc(j->a, j->cache);
            s[k] = dtact__stack_alloc(j->a, j->cache, j->cls);
            if (!f[k] || !s[k]) {
                fprintf(stderr, "arena exhausted\n");
                exit(1);
            }
            f[k]->stack = s[k];
        }
        for (int k = B - 1; k >= 0; k--) {
            sink += (uintptr_t)f[k]->stack;
            dtact__stack_free(j->a, j->cache, s[k]);
            dtact__fiber_free(j->a, j->cache, f[k]);
        }
    }
}

static void run_malloc(job_t *j) {
    void *f[B], *s[B];
    for (long i = 0; i < j->n; i += B) {
        for (int k = 0; k < B; k++) {
            f[k] = malloc(128);
            s[k] = malloc(j->stack);
            if (!f[k] || !s[k]) exit(1);
            *(void **)f[k] = s[k];
        }
        for (int k = B - 1; k >= 0; k--) {
            sink += (uintptr_t) * (void **)f[k];
            free(s[k]);
            free(f[k]);
        }
    }
}

static void *thread_main(void *p) {
    job_t *j = p;
    pthread_barrier_wait(j->bar);
    double t0 = now_ns();
    if (j->use_malloc) run_malloc(j);
    else run_arena(j);
    j->ns = (now_ns() - t0) / (double)j->n;
    return NULL;
}

/* One rep with `threads` threads; returns the slowest thread's ns/pair. */
static double rep(dtact__arena_t *a, int cls, size_t stack, int threads, int use_malloc, long n) {
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    job_t j[2];
    pthread_t t[2];
    for (int i = 0; i < threads; i++) {
        j[i] = (job_t){
            .a = a, .cls = cls, .stack = stack, .cache = (uint32_t)i, .n = n, .use_malloc = use_malloc, .bar = &bar};
        pthread_create(&t[i], NULL, thread_main, &j[i]);
    }
    double worst = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (j[i].ns > worst) worst = j[i].ns;
    }
    pthread_barrier_destroy(&bar);
    return worst;
}

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
    int reps = 7;
    long n = 2000000;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "reps=", 5) == 0) reps = atoi(argv[i] + 5);
        else if (strncmp(argv[i], "n=", 2) == 0) n = atol(argv[i] + 2);
    }
    if (reps < 1 || reps > 101 || n < B) return 2;
    n -= n % B;
    size_t sizes[] = {64u * 1024u, 256u * 1024u};
    printf("+build: %s, %s, reps=%d n=%ld burst=%d\n", __VERSION__,
#ifdef __OPTIMIZE__
           "optimized",
#else
           "unoptimized",
#endif
           reps, n, B);
    /* results[size][threads-1][impl]: impl 0 arena, 1 glibc default, 2 glibc tuned */
    double med[2][2][3], lo[2][2][3], hi[2][2][3];
    int slower = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            /* glibc trims the heap top and mmaps >= 128 KiB blocks by default,
             * which makes stack-sized blocks cost syscalls; the tuned pass
             * turns both off, the fairest malloc we can offer. */
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TOP_PAD, 16 << 20);
        }
        for (int z = 0; z < 2; z++) {
            dtact__arena_config_t cfg = {.capacity = 4096, .default_stack = sizes[z], .ncaches = 2, .guard_pages = 1};
            dtact__arena_t *a;
            if (dtact__arena_create(&a, &cfg) != DTACT_OK) return 1;
            int cls = dtact__stack_class(a, 0);
            for (int threads = 1; threads <= 2; threads++) {
                for (int m = pass; m < 2; m++) {
                    double r[101];
                    /* untuned glibc makes syscalls: fewer pairs per rep */
                    long nn = (m == 1 && pass == 0) ? (n / 50 > B ? n / 50 - (n / 50) % B : B) : n;
                    rep(a, cls, sizes[z], threads, m, nn / 10 + B); /* warm-up */
                    for (int i = 0; i < reps; i++)
                        r[i] = rep(a, cls, sizes[z], threads, m, nn);
                    qsort(r, (size_t)reps, sizeof r[0], cmp);
                    int impl = m == 0 ? 0 : 1 + pass;
                    med[z][threads - 1][impl] = r[reps / 2];
                    lo[z][threads - 1][impl] = r[0];
                    hi[z][threads - 1][impl] = r[reps - 1];
                }
            }
            dtact__arena_destroy(a);
        }
    }
    printf("\n| stack | threads | arena ns/pair | glibc malloc ns/pair | glibc tuned ns/pair | tuned / arena |\n");
    printf("|------:|--------:|--------------:|---------------------:|--------------------:|--------------:|\n");
    for (int z = 0; z < 2; z++)
        for (int t = 0; t < 2; t++) {
            double *m = med[z][t], *l = lo[z][t], *h = hi[z][t];
            printf("| %zu KiB | %d | %.1f (%.1f .. %.1f) | %.1f (%.1f .. %.1f) | %.1f (%.1f .. %.1f) | %.2fx |\n",
                   sizes[z] / 1024, t + 1, m[0], l[0], h[0], m[1], l[1], h[1], m[2], l[2], h[2], m[2] / m[0]);
            if (m[0] >= m[1] || m[0] >= m[2]) slower = 1;
        }
    if (slower) printf("\nnote: the arena was not faster than malloc in at least one case\n");
    return 0;
}
