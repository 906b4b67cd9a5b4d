/* ffi/examples/c_async.c -- the master/worker program shape of the original
 * Dtact's examples/c_async.c, unchanged in its use of the API: a master fiber
 * launches worker fibers with options, awaits each, then shuts the runtime
 * down, which makes dtact_run return in main. Workers yield and sleep
 * (additions of this Dtact) to show interleaving without blocking a worker.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dtact.h"

#define NWORKERS 8

typedef struct {
    int id;
    uint64_t sum;
} job_t;

static job_t *results[NWORKERS];

/* Worker fiber that simulates asynchronous work. */
static void worker(void *arg) {
    job_t *job = arg;
    for (int step = 0; step < 3; step++) {
        for (uint64_t i = 0; i < 100000; i++)
            job->sum += i * (uint64_t)job->id;
        dtact_sleep_ns(1000000); /* suspends this fiber only */
        dtact_yield();
    }
    printf("  worker %d done on worker thread %d\n", job->id, dtact_current_worker());
}

/* Master fiber that spawns and joins other fibers. */
static void master(void *arg) {
    (void)arg;
    dtact_spawn_options_t opts = dtact_default_spawn_options();
    opts.mKind = DTACT_KIND_COMPUTE;
    opts.mSwitcher = DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT;
    dtact_handle_t handles[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) {
        job_t *job = malloc(sizeof *job);
        if (!job) abort();
        job->id = i + 1;
        job->sum = 0;
        results[i] = job;
        handles[i] = dtact_fiber_launch_ext(worker, job, &opts);
        if (handles[i] == DTACT_INVALID_HANDLE) {
            fprintf(stderr, "launch failed: %s\n", dtact_strerror(dtact_last_error()));
            abort();
        }
    }
    uint64_t total = 0;
    for (int i = 0; i < NWORKERS; i++) {
        dtact_await(handles[i]);
        total += results[i]->sum;
        dtact_free_arg(results[i]);
    }
    printf("master: %d workers joined, checksum %llu\n", NWORKERS, (unsigned long long)total);
    dtact_shutdown();
}

int main(void) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 1024;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact_init(&cfg);
    if (!rt) {
        fprintf(stderr, "dtact_init: %s\n", dtact_strerror(dtact_last_error()));
        return 1;
    }
    printf("dtact %s: 2 workers\n", dtact_version_string());
    dtact_fiber_launch(master, NULL);
    dtact_run(rt);
    dtact_stats_t st;
    dtact_get_stats(rt, &st);
    printf("stats: spawned %llu, completed %llu, yields %llu, chunks moved %llu, parks %llu\n",
           (unsigned long long)st.spawned, (unsigned long long)st.completed, (unsigned long long)st.yields,
           (unsigned long long)st.chunks_moved, (unsigned long long)st.parks);
    dtact_destroy(rt);
    return 0;
}
