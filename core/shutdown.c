/* core/shutdown.c -- the shutdown protocol: stopping a runtime without
 * losing, running twice or hanging on any fiber.
 *
 * The protocol.
 *  1. dtact_shutdown stores rt->shutdown = 1 (seq_cst) and wakes every worker.
 *  2. From then on spawns fail with ESHUTDOWN. A host spawn increments
 *     host_spawned *before* it loads the flag (both seq_cst), so either it
 *     sees the flag and undoes itself, or every later termination check
 *     counts its fiber.
 *  3. The first worker to see the flag sweeps the arena and unparks every
 *     started fiber; every blocking call re-checks the flag after each park
 *     and returns ESHUTDOWN, so started fibers run to completion. A fiber that
 *     was never started is cancelled when a worker dequeues it: its cleanup
 *     runs, its joiners get ECANCELED.
 *  4. A worker with nothing queued checks termination: done == spawned, where
 *     done sums every worker's completed + cancelled counters (acquire) and
 *     the fibers retired off any worker (host_retired), and
 *     spawned, read afterwards, sums the workers' spawn counters (acquire)
 *     and host_spawned. Each fiber's spawn happens-before its completion, so
 *     reading completions first can only under-count done: a false "not yet"
 *     is re-checked later, a false "finished" cannot happen. A fiber spawned by
 *     a running fiber cannot be missed, because its spawner is itself counted
 *     as not done until it finishes, after the spawn.
 *  5. The worker that sees termination leaves its loop and wakes the others,
 *     which see it too. dtact_run joins the threads and returns; dtact_destroy
 *     then frees everything.
 * It cannot hang: every fiber is runnable or woken by the sweep, and every
 * blocking call returns after shutdown; it cannot leak: every record is either
 * finished (released) or unmapped with the arena by destroy.
 * A runtime that never ran (dtact_destroy before dtact_run/dtact_start) has
 * no worker to do steps 3-5: destroy cancels every fiber it holds on the
 * calling thread instead (dtact__shutdown_cancel_unstarted), through the same
 * retire path, so cleanups run exactly once and joiners see DTACT_ECANCELED.
 */
#include "internal.h"

void dtact__shutdown_begin(dtact__rt_t *rt) {
    // seq_cst: step 1, ordered against host spawns' counter increments (step 2)
    dtact__store_seq_cst(&rt->shutdown, 1u);
    dtact__wake_all_workers(rt);
}

void dtact__shutdown_sweep(dtact__rt_t *rt) {
    uint32_t zero = 0;
    // acq_rel: one sweeper
    if (dtact__load_relaxed(&rt->swept) || !dtact__cas_strong_acq_rel(&rt->swept, &zero, 1u)) return;
    uint32_t n = dtact__arena_carved(rt->arena);
    for (uint32_t i = 0; i < n; i++) {
        dtact__fiber_t *f = dtact__fiber_at(rt->arena, i);
        uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with state release stores
        unsigned st = DTACT__SG_STATE(sg);
        if (st == DTACT__ST_SUSPENDED || st == DTACT__ST_SUSPENDING || st == DTACT__ST_RUNNING)
            dtact__unpark(rt, f, DTACT__SG_GEN(sg));
    }
}

int dtact__rt_finished(dtact__rt_t *rt) {
    // acquire: pairs with retire's release (step 4)
    uint64_t done = dtact__load_acquire(&rt->host_retired), spawned = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dtact__wstats_t *s = &rt->workers[i].st;
        // acquire: pairs with stat_inc's release (step 4)
        done += dtact__load_acquire(&s->completed) + dtact__load_acquire(&s->cancelled);
    }
    for (uint32_t i = 0; i < rt->nworkers; i++)
        spawned += dtact__load_acquire(&rt->workers[i].st.spawned); // acquire: as above, read after the completions
    spawned += dtact__load_seq_cst(&rt->host_spawned);              // seq_cst: step 2
    return done == spawned;
}

void dtact__shutdown_cancel_unstarted(dtact__rt_t *rt) {
    uint32_t n = dtact__arena_carved(rt->arena);
    for (uint32_t i = 0; i < n; i++) {
        dtact__fiber_t *f = dtact__fiber_at(rt->arena, i);
        if (DTACT__SG_STATE(dtact__load_acquire(&f->sg)) == DTACT__ST_READY) // acquire: pairs with spawn's publication
            dtact__fiber_cancel(rt, NULL, f);
    }
}
