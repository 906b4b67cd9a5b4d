/* tests/install/consumer.c -- a program written against the original dtact.h (0.2.x), built
 * against an installed Dtact by scripts/test-install.sh (find_package, pkg-config, shared and
 * static, add_subdirectory). Like the original examples/c_async.c: main fills a config, inits,
 * launches a master fiber and blocks in dtact_run; the master launches workers with options,
 * awaits them and shuts down.
 *
 * It uses bool, va_list and malloc/free without including <stdbool.h>, <stdarg.h> or
 * <stdlib.h>: the original dtact.h included them, and old sources rely on it (compiled with
 * -Werror, an implicit declaration would fail the build). Exits non-zero on any mismatch. */
#include <stdio.h>

#include "dtact.h"

#define N 64

typedef struct job {
    int id;
    long result;
} job_t;

static int say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

static void work(void *p) {
    job_t *j = (job_t *)p;
    j->result = (long)j->id * j->id;
}

static void master(void *arg) {
    job_t *jobs = (job_t *)arg;
    dtact_spawn_options_t opts = dtact_default_spawn_options();
    opts.mKind = 1;     /* IO */
    opts.mSwitcher = 1; /* CrossThreadNoFloat */
    dtact_handle_t *hs = (dtact_handle_t *)malloc(N * sizeof *hs);
    for (int i = 0; i < N; i++) {
        jobs[i].id = i;
        hs[i] = dtact_fiber_launch_ext(work, &jobs[i], &opts);
    }
    for (int i = 0; i < N; i++)
        dtact_await(hs[i]); /* suspends the master only */
    free(hs);
    dtact_shutdown(); /* makes dtact_run return in main */
}

int main(void) {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 1024;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact_init(&cfg);
    job_t *jobs = (job_t *)malloc(N * sizeof *jobs);
    dtact_fiber_launch(master, jobs);
    dtact_run(rt);
    bool ok = true;
    for (int i = 0; i < N; i++)
        ok = ok && jobs[i].result == (long)i * i;
    dtact_free_arg(jobs);
    say("consumer (C): %d fibers, %s, library %s\n", N, ok ? "ok" : "WRONG RESULTS", dtact_version_string());
    return ok ? 0 : 1;
}
