/* Description: fibers waiting for a stack do not spin. With every stack of
 * the 64 MiB class (1023 slots) held by parked fibers, 477 more fibers of
 * that class wait for a stack: the workers sleep meanwhile (the process uses
 * a small fraction of a core, where the workers used to spin at 100%), and
 * once the parked fibers are released every waiting fiber gets a stack and
 * runs exactly once. At shutdown, fibers still waiting are cancelled. */
#include <sys/resource.h>
#include <time.h>

#include "rt_util.h"

#define N 1500
#define BIG (64u * 1024 * 1024)

static atomic_int ran[N], cleaned[N];
static _Atomic dtact_handle_t handles[N];
static atomic_int release;

static void *holder(void *arg) {
    intptr_t i = (intptr_t)arg;
    atomic_fetch_add(&ran[i], 1);
    atomic_store(&handles[i], dtact_self());
    while (!atomic_load(&release))
        if (dtact_park(-1) == DTACT_ESHUTDOWN) break;
    return NULL;
}
static void cleanup(void *arg) { atomic_fetch_add(&cleaned[(intptr_t)arg], 1); }

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static int count(atomic_int *a) {
    int n = 0;
    for (int i = 0; i < N; i++)
        n += atomic_load(&a[i]);
    return n;
}

static void spawn_all(void) {
    dtact_spawn_attr_t a;
    dtact_spawn_attr_init(&a);
    a.stack_size = BIG;
    a.cleanup = cleanup;
    for (intptr_t i = 0; i < N; i++) {
        atomic_store(&ran[i], 0);
        atomic_store(&cleaned[i], 0);
        atomic_store(&handles[i], 0);
        dtact_handle_t h;
        cr_assert_eq(dtact_spawn(&h, holder, (void *)i, &a), DTACT_OK);
    }
}

Test(stack_starvation, waiting_for_a_stack_sleeps_and_every_fiber_runs_once, .timeout = 120) {
    atomic_store(&release, 0);
    void *rt = rt_up(2, 4096);
    spawn_all();
    /* Wait until the class is full: 1023 holders parked, the rest waiting. */
    for (int k = 0; k < 2000 && count(ran) < 1023; k++)
        sleep_ms(5);
    int running = count(ran);
    cr_assert(running >= 1000 && running < N, "%d started", running);
    sleep_ms(50);
    double c0 = cpu_seconds();
    sleep_ms(400);
    double used = cpu_seconds() - c0;
    cr_assert(used < 0.2, "%.3f s of CPU in 0.4 s while fibers wait for stacks (spinning?)", used);
    /* Release everything: waiting fibers get the freed stacks. */
    atomic_store(&release, 1);
    for (int k = 0; k < 4000 && count(cleaned) < N; k++) {
        for (int i = 0; i < N; i++) {
            dtact_handle_t h = atomic_load(&handles[i]);
            if (h) dtact_unpark(h);
        }
        sleep_ms(5);
    }
    cr_assert_eq(count(cleaned), N, "every cleanup ran once");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&ran[i]), 1, "fiber %d ran %d times", i, atomic_load(&ran[i]));
        cr_assert_eq(atomic_load(&cleaned[i]), 1);
    }
    rt_down(rt);
}

Test(stack_starvation, fibers_still_waiting_at_shutdown_are_cancelled, .timeout = 120) {
    atomic_store(&release, 0);
    void *rt = rt_up(2, 4096);
    spawn_all();
    for (int k = 0; k < 2000 && count(ran) < 1023; k++)
        sleep_ms(5);
    cr_assert(count(ran) < N);
    rt_down(rt); /* holders are woken (ESHUTDOWN) and finish; the waiting ones are cancelled */
    cr_assert_eq(count(cleaned), N, "every cleanup ran once");
    for (int i = 0; i < N; i++)
        cr_assert_leq(atomic_load(&ran[i]), 1);
}
