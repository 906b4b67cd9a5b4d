/* core/runtime.c -- the runtime's lifecycle: init, run/start, shutdown,
 * destroy, and statistics.
 *
 * One runtime per process at a time (the C API's calls take no runtime
 * argument), reachable through dtact__global_rt. Lifecycle calls are
 * serialised by a mutex; nothing on the spawn or switch path takes it.
 *
 * Shutdown is one protocol, written up and implemented in shutdown.c; this
 * file only starts it (dtact_shutdown, dtact_destroy) and waits for the
 * workers to leave their loops.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena_internal.h" /* DTACT__REC_CACHE */
#include "internal.h"
#include "switch.h"

/* The lifecycle lock: init, destroy and their checks are serialised by a
 * futex mutex (Drepper's three-state lock: 0 free, 1 held, 2 held with
 * waiters). Nothing on the spawn or switch path takes it. */
static _Atomic uint32_t lifecycle_word;

/* fork(). The child has none of the worker threads, so the parent's runtime
 * cannot run there: the child forgets it (its memory stays mapped, unused),
 * every call then returns DTACT_ENOTINIT as without a runtime, and the child
 * may dtact_init a runtime of its own. Registered once, at the first init. */
static _Atomic uint32_t fork_hook_set;

static void forked_child(void) {
    dtact__store_relaxed(&dtact__global_rt, NULL); // relaxed: the child has one thread now
    dtact__store_relaxed(&dtact__rt_pins, 0u);     // relaxed: pins of threads that do not exist here
    dtact__store_relaxed(&lifecycle_word, 0u);     // relaxed: a lock held by a thread that does not exist here
}

/* dtact_set_stack_guard_size: the guard gap of the runtimes created next. */
static _Atomic size_t guard_gap_bytes;

DTACT_API int dtact_set_stack_guard_size(size_t bytes) {
    if (bytes > DTACT__GUARD_GAP_MAX) return dtact__set_error(DTACT_EINVAL);
    dtact__store_relaxed(&guard_gap_bytes, bytes); // relaxed: read by the next dtact_init (a setting, no data)
    return DTACT_OK;
}

/* Runtime instances created so far (handle generation ranges, rt_create). */
static _Atomic uint64_t instances;
#define DTACT__GEN_INSTANCE_SHIFT 24
#define DTACT__GEN_INSTANCES ((1ull << (DTACT__HANDLE_GEN_BITS - DTACT__GEN_INSTANCE_SHIFT)) - 1)

static void lifecycle_lock(void) {
    uint32_t c = 0;
    if (dtact__cas_strong_acq_rel(&lifecycle_word, &c, 1u)) return; // acq_rel: acquires the previous holder's writes
    if (c != 2u) c = dtact__xchg_acq_rel(&lifecycle_word, 2u); // acq_rel: announce a waiter; 0 back means we took it
    while (c != 0u) {
        dtact__futex_wait(&lifecycle_word, 2u, -1);
        c = dtact__xchg_acq_rel(&lifecycle_word, 2u); // acq_rel: as above (stays 2: others may sleep too)
    }
}

static void lifecycle_unlock(void) {
    // acq_rel: releases our writes to the next holder
    if (dtact__xchg_acq_rel(&lifecycle_word, 0u) == 2u) dtact__futex_wake(&lifecycle_word, 1);
}

DTACT_API dtact_config_t dtact_default_config(void) {
    dtact_config_t c;
    memset(&c, 0, sizeof c);
    c.mSafetyLevel = 1;
    return c;
}

static void rt_free(dtact__rt_t *rt) {
    if (rt->workers) {
        dtact__reactor_free(rt);
        for (uint32_t i = 0; i < rt->nworkers; i++)
            dtact__timers_free(&rt->workers[i].timers);
        dtact__heap_free(rt->workers);
    }
    dtact__heap_free(rt->tsan_fibers);
    if (rt->side) dtact__mem_release(rt->side, rt->side_len);
    if (rt->arena) {
        dtact__overflow_handler_release(rt->arena);
        dtact__arena_destroy(rt->arena);
    }
    dtact__heap_free(rt);
}

_Static_assert(sizeof(dtact_config_t) == 16 && _Alignof(dtact_config_t) == 4, "the original's config layout");
_Static_assert(sizeof(dtact_spawn_options_t) == 4, "the original's options layout");
_Static_assert(offsetof(dtact_config_t, mFiberCapacity) == 8 && offsetof(dtact_config_t, mStackSize) == 12,
               "the original's config layout");

/* Resolves defaults and maps what the original Dtact (the earlier Rust
 * implementation whose C API this library keeps) accepted: every value it ran
 * with runs here too, adjusted with a warning (errors.c) where this library
 * differs; only values that cannot work are rejected (DTACT_ECONFIG). */
static int config_resolve(const dtact_config_t *cfg, dtact_config_t *c) {
    *c = cfg ? *cfg : dtact_default_config();
    if (c->mSafetyLevel > 2) {
        dtact__warn(DTACT_WARN_CONFIG_ADJUSTED, "mSafetyLevel above 2 acts as 1 (guard pages), as in the original");
        c->mSafetyLevel = 1;
    }
    if (c->mTopologyMode > 1) {
        dtact__warn(DTACT_WARN_CONFIG_ADJUSTED, "mTopologyMode above 1 acts as 0 (P2P mesh), as in the original");
        c->mTopologyMode = 0;
    }
    if (c->mNuma != 0) {
        dtact__warn(DTACT_WARN_CONFIG_IGNORED, "mNuma (NUMA binding of the arena) is not supported and is ignored");
        c->mNuma = 0;
    }
    if (c->mWorkers == 0) c->mWorkers = dtact__cpu_count();
    if (c->mWorkers > DTACT__MAX_WORKERS) {
        dtact__warn(DTACT_WARN_CONFIG_ADJUSTED, "mWorkers above 1024 is clamped to 1024");
        c->mWorkers = DTACT__MAX_WORKERS;
    }
    if (c->mFiberCapacity == 0) c->mFiberCapacity = 65536;
    if (c->mFiberCapacity > DTACT__MAX_CAPACITY) {
        dtact__warn(DTACT_WARN_CONFIG_ADJUSTED, "mFiberCapacity above 16777215 is clamped to 16777215");
        c->mFiberCapacity = DTACT__MAX_CAPACITY;
    }
    if (c->mStackSize == 0) c->mStackSize = 256 * 1024;
    if (c->mStackSize < DTACT__STACK_MIN) {
        dtact__warn(DTACT_WARN_CONFIG_ADJUSTED, "mStackSize below 16 KiB is rounded up to 16 KiB");
        c->mStackSize = DTACT__STACK_MIN;
    }
    if (!dtact__stack_size_ok(c->mStackSize)) return DTACT_ECONFIG; /* above 64 MiB: no such stack class */
    return DTACT_OK;
}

/* The fiber running on the calling thread, for the overflow report (called
 * from the SIGSEGV handler: reads thread-local and owner-written fields only). */
static const dtact__fiber_t *current_fiber(void) {
    dtact__worker_t *w = dtact__tls_worker();
    return w ? w->current : NULL;
}

static int rt_create(const dtact_config_t *c, dtact__rt_t **out) {
    dtact__rt_t *rt =
        dtact__heap_alloc(DTACT_CACHE_LINE, (sizeof *rt + DTACT_CACHE_LINE - 1) & ~(size_t)(DTACT_CACHE_LINE - 1));
    if (!rt) return DTACT_ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->nworkers = c->mWorkers;
    rt->global_topology = c->mTopologyMode == 1;
    size_t wbytes = sizeof(dtact__worker_t) * rt->nworkers;
    rt->workers =
        dtact__heap_alloc(DTACT_CACHE_LINE, (wbytes + DTACT_CACHE_LINE - 1) & ~(size_t)(DTACT_CACHE_LINE - 1));
    if (!rt->workers) {
        rt_free(rt);
        return DTACT_ENOMEM;
    }
    memset(rt->workers, 0, wbytes);
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dtact__store_relaxed(&rt->workers[i].ioset, (dtact__ioset_t *)NULL); // relaxed: before the workers start
        dtact__store_relaxed(&rt->workers[i].wakefd, -1);                    // relaxed: before the workers start
    }
    dtact__share_init(rt);
    /* The I/O backend, read once per runtime (DTACT_IO_BACKEND; prim.h). */
    const char *why;
    dtact__store_relaxed(&rt->io_backend, dtact__io_backend_choose(&why)); // relaxed: before the workers start
    if (why) dtact__warn(DTACT_WARN_IO_BACKEND, why);
    /* Each runtime instance of the process issues handles from its own range
     * of 2^24 generations per slot, so a handle kept from a destroyed runtime
     * never names a fiber of this one (lookup: DTACT_EHANDLE). */
    // relaxed: a counter, under the lifecycle lock anyway
    uint64_t instance = dtact__fetch_add_relaxed(&instances, 1u) % DTACT__GEN_INSTANCES;
    /* Records: mFiberCapacity, plus what worker caches may hold (each keeps
     * up to DTACT__REC_CACHE free records that other workers cannot take), so
     * that mFiberCapacity fibers can always be live at once. */
    uint64_t records = (uint64_t)c->mFiberCapacity + (uint64_t)rt->nworkers * DTACT__REC_CACHE;
    if (records > DTACT__MAX_CAPACITY) records = DTACT__MAX_CAPACITY;
    dtact__arena_config_t ac = {(uint32_t)records,
                                c->mStackSize,
                                rt->nworkers,
                                c->mSafetyLevel > 0,
                                1 + (instance << DTACT__GEN_INSTANCE_SHIFT),
                                dtact__load_relaxed(&guard_gap_bytes)}; // relaxed: a setting read once per init
    int rc = dtact__arena_create(&rt->arena, &ac);
    if (rc != DTACT_OK) {
        rt->arena = NULL;
        rt_free(rt);
        return rc;
    }
    rt->recs = dtact__fiber_at(rt->arena, 0);
    rt->default_stack_class = dtact__stack_class(rt->arena, c->mStackSize);
    /* Side slots for small inline payloads: reserved, touched only when used. */
    rt->side_len = (size_t)records * DTACT__SIDE_SLOT;
    void *side = dtact__mem_map(rt->side_len);
    if (!side) {
        rt->side_len = 0;
        rt_free(rt);
        return DTACT_ENOMEM;
    }
    rt->side = side;
#if defined(DTACT_TSAN)
    rt->tsan_fibers = dtact__heap_calloc(records, sizeof(void *));
    if (!rt->tsan_fibers) {
        rt_free(rt);
        return DTACT_ENOMEM;
    }
#endif
    uint32_t ncpu = dtact__cpu_count();
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        dtact__worker_t *w = &rt->workers[i];
        w->rt = rt;
        w->id = i;
        w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
        dtact__store_relaxed(&w->deflect_at, DTACT__WATERMARK); // relaxed: before the workers start
        dtact__cpu_groups(i % ncpu, &w->ccx, &w->numa);
    }
    dtact__mon_setup(rt);
    dtact__overflow_set_current_fn(rt->arena, current_fiber);
    rc = dtact__overflow_handler_install(rt->arena);
    if (rc != DTACT_OK) {
        rt_free(rt);
        return rc;
    }
    *out = rt;
    return DTACT_OK;
}

DTACT_API void *dtact_init(const dtact_config_t *cfg) {
    /* On a worker (a fiber, or a cleanup run by the loop) the runtime exists
     * by definition; waiting for the lifecycle lock there could deadlock with
     * a dtact_destroy that is joining this very worker. */
    if (dtact__tls_worker()) {
        dtact__set_error(DTACT_EALREADY);
        return NULL;
    }
    dtact_config_t c;
    int rc = config_resolve(cfg, &c);
    if (rc != DTACT_OK) {
        dtact__set_error(rc);
        return NULL;
    }
    lifecycle_lock();
    // relaxed: under the lifecycle lock
    if (!dtact__load_relaxed(&fork_hook_set) && dtact__on_fork_child(forked_child) == 0)
        dtact__store_relaxed(&fork_hook_set, 1u); // relaxed: as above
    if (dtact__load_relaxed(&dtact__global_rt)) { // relaxed: under the lifecycle lock
        lifecycle_unlock();
        dtact__set_error(DTACT_EALREADY);
        return NULL;
    }
    dtact__rt_t *rt = NULL;
    rc = rt_create(&c, &rt);
    // release: publishes the runtime; pairs with dtact__rt_get
    if (rc == DTACT_OK) dtact__store_release(&dtact__global_rt, rt);
    lifecycle_unlock();
    if (rc != DTACT_OK) {
        dtact__set_error(rc);
        return NULL;
    }
    return rt;
}

static void join_workers(dtact__rt_t *rt, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        dtact__thread_join(&rt->workers[i].thread);
}

static int start_in(dtact__rt_t *rt, void *p, int blocking);

static int start_workers(void *p, int blocking) {
    if (dtact__tls_worker()) return DTACT_EPERM;
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return DTACT_ENOTINIT;
    int rc = start_in(rt, p, blocking);
    dtact__rt_leave(pinned);
    return rc;
}

static int start_in(dtact__rt_t *rt, void *p, int blocking) {
    if (p && p != rt) return DTACT_EINVAL; /* NULL: the runtime, as the original's dtact_run(NULL) */
    if (dtact__tls_worker()) return DTACT_EPERM;
    uint32_t expect = DTACT__RT_INIT;
    if (!dtact__cas_strong_acq_rel(&rt->phase, &expect, DTACT__RT_RUNNING)) // acq_rel: exactly one starter
        return expect == DTACT__RT_RUNNING ? DTACT_EALREADY : DTACT_ESHUTDOWN;
    /* A shutdown that came before the start still runs the workers: they cancel the queued fibers and exit. */
    rt->blocking_run = (uint32_t)blocking;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        char name[32];
        snprintf(name, sizeof name, "dtact-worker-%u", i % 100u);
        int e = dtact__thread_start(&rt->workers[i].thread, dtact__worker_main, &rt->workers[i], name);
        if (e != 0) {
            /* Undo the partial start: stop what runs, cancel the rest. */
            dtact__shutdown_begin(rt);
            join_workers(rt, i);
            dtact__store_release(&rt->phase, DTACT__RT_STOPPED); // release: pairs with wait_host's acquire
            return DTACT_ESYS;
        }
    }
    if (!blocking) return DTACT_OK;
    join_workers(rt, rt->nworkers);
    dtact__store_release(&rt->phase, DTACT__RT_STOPPED); // release: pairs with destroy / wait_host
    return DTACT_OK;
}

DTACT_API int dtact_run(void *rt) {
    int rc = start_workers(rt, 1);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_start(void *rt) {
    int rc = start_workers(rt, 0);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_shutdown(void) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__shutdown_begin(rt);
    dtact__rt_leave(pinned);
    return DTACT_OK;
}

DTACT_API int dtact_destroy(void *p) {
    if (dtact__tls_worker()) return dtact__set_error(DTACT_EPERM);
    lifecycle_lock();
    dtact__rt_t *rt = dtact__load_relaxed(&dtact__global_rt); // relaxed: under the lifecycle lock
    if (!rt) {
        lifecycle_unlock();
        return dtact__set_error(DTACT_ENOTINIT);
    }
    if (p && p != rt) {
        lifecycle_unlock();
        return dtact__set_error(DTACT_EINVAL);
    }
    dtact__shutdown_begin(rt);
    for (;;) {
        uint32_t phase = dtact__load_acquire(&rt->phase); // acquire: pairs with start_workers
        if (phase == DTACT__RT_RUNNING) {
            if (rt->blocking_run) {
                /* Another thread is in dtact_run: wait for it to join the workers. */
                // acquire: pairs with run's release
                while (dtact__load_acquire(&rt->phase) != DTACT__RT_STOPPED)
                    dtact__sleep_ns(1000000);
            } else {
                join_workers(rt, rt->nworkers);
                dtact__store_release(&rt->phase, DTACT__RT_STOPPED); // release: pairs with wait_host
            }
        } else if (phase == DTACT__RT_INIT) {
            /* Never ran: cancel what was queued (cleanups run here, exactly once),
             * unless a start wins the race for the phase: then stop it as above. */
            uint32_t expect = DTACT__RT_INIT;
            // acq_rel: no start may begin now
            if (!dtact__cas_strong_acq_rel(&rt->phase, &expect, DTACT__RT_STOPPED)) continue;
            dtact__shutdown_cancel_unstarted(rt);
        }
        break;
    }
    /* Unpublish, then wait for the calls still inside (host joiners poll the
     * phase, now STOPPED, and leave with DTACT_ENOTRUNNING). */
    dtact__store_seq_cst(&dtact__global_rt, NULL); // seq_cst: Dekker with dtact__rt_enter's pin
    while (dtact__load_acquire(&dtact__rt_pins) != 0)
        dtact__sleep_ns(200000); // acquire: pairs with rt_leave's release
    lifecycle_unlock();
    rt_free(rt);
    return DTACT_OK;
}
