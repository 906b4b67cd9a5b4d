/* core/fiber.c -- the fiber lifecycle: spawn, run, park/unpark, finish,
 * cancel, and the public launch / yield / sleep / park calls.
 *
 * State machine and generations: see types.h. The rules this file keeps:
 *  1. Every transition is a store by the owner of the state (the worker that
 *     runs the fiber) or a CAS that includes the generation (anyone else), so
 *     a wake-up aimed at a recycled record fails instead of waking a stranger.
 *  2. Only a successful CAS SUSPENDED -> READY enqueues a parked fiber: two
 *     wake-ups cannot both enqueue it. A wake-up that finds it RUNNING or
 *     SUSPENDING leaves a token (NOTIFIED) that its next park consumes.
 *  3. FINISHED and FREE are terminal for wake-ups, so a late wake-up of a
 *     finished fiber is harmless (it crashed the original).
 *  4. A fiber's end is published by its worker after the fiber has switched
 *     out for good (worker.c, ACT_FINISH), so whoever reaps the record can
 *     never race with code still running on the fiber's stack.
 *  5. Every spawned fiber either runs exactly once or, if shutdown comes first,
 *     is cancelled exactly once; in both cases its cleanup runs exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "switch.h"


/* ------------------------------------------------------------ wake-ups */

void dtact__unpark(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen) {
    uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with the release stores of the state
    for (;;) {
        if (DTACT__SG_GEN(sg) != gen) return;
        switch (DTACT__SG_STATE(sg)) {
        case DTACT__ST_SUSPENDED:
            if (dtact__cas_weak_acq_rel(&f->sg, &sg, DTACT__SG(gen, DTACT__ST_READY))) { // acq_rel: takes ownership of the parked fiber (pairs with after_switch's CAS to SUSPENDED, which published f->sp)
                dtact__schedule(rt, dtact__tls_worker(), f, 1);
                return;
            }
            break;
        case DTACT__ST_RUNNING:
        case DTACT__ST_SUSPENDING:
            if (dtact__cas_weak_acq_rel(&f->sg, &sg, DTACT__SG(gen, DTACT__ST_NOTIFIED))) return; // acq_rel: the token; pairs with park_self's CAS that consumes it
            break;
        default: /* READY, NOTIFIED: it will run anyway; FINISHED, FREE: terminal */
            return;
        }
    }
}

void dtact__park_self(dtact__worker_t *w, dtact__fiber_t *f, uint64_t deadline) {
    uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with a waker's CAS to NOTIFIED
    uint64_t gen = DTACT__SG_GEN(sg);
    if (DTACT__SG_STATE(sg) == DTACT__ST_NOTIFIED) {
        /* A token is pending: consume it and return. Only this fiber leaves NOTIFIED while running. */
        dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING)); // relaxed: wakers CAS from RUNNING, which re-reads
        return;
    }
    if (dtact__load_relaxed(&w->rt->shutdown)) return; // relaxed: callers re-check shutdown after every park
    uint64_t expect = DTACT__SG(gen, DTACT__ST_RUNNING);
    if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_SUSPENDING))) { // acq_rel: pairs with a waker's CAS
        dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING)); // NOTIFIED arrived: consume it
        return;
    }
    if (deadline) {
        uint32_t seq = dtact__fetch_add_relaxed(&f->wait_seq, 1u) + 1u; // relaxed: read back by timers_run on this or another worker after a queue handoff
        if (dtact__timer_add(w, deadline, f, gen, seq) != 0) deadline = 0; /* out of memory: degrade to a spurious wake-up */
        if (!deadline) {
            dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_RUNNING));
            return;
        }
    }
    dtact__fiber_switch_out(w, f, DTACT__ACT_PARK);
}

/* ------------------------------------------------------------ finish */

void dtact__fiber_finish(dtact__worker_t *w, dtact__fiber_t *f, int status) {
    dtact__rt_t *rt = w->rt;
    void *result = f->result;
    uint64_t gen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg)); // relaxed: only this worker changes the generation now
    /* Close the record (internal.h): one CAS, once no joiner holds the lock.
     * From here the waiter list and `joinable` are ours alone. */
    uint32_t v = dtact__load_relaxed(&f->lock); // relaxed: validated by the CAS
    for (;;) {
        if (v & DTACT__LOCKED) {
            dtact__cpu_relax();
            v = dtact__load_relaxed(&f->lock); // relaxed: spin until the joiner unlocks
        } else if (dtact__cas_weak_acquire(&f->lock, &v, dtact__closed_word(gen))) { // acquire: pairs with the last unlock (linked waiter records, joinable)
            break;
        }
    }
    int detached = !f->joinable;
    f->status = status;
    dtact__waiter_t *list = f->waiters;
    f->waiters = NULL;
    /* release: publishes result/status to late joiners, which acquire-load sg. */
    dtact__store_release(&f->sg, DTACT__SG(gen, detached ? DTACT__ST_FREE : DTACT__ST_FINISHED));
    while (list) {
        dtact__waiter_t *nx = list->next;
        dtact__fiber_t *wf = list->fiber;
        uint64_t wg = list->gen;
        list->result = result;
        list->status = status;
        if (wf) {
            dtact__store_release(&list->done, DTACT__WAIT_DONE); // release: pairs with the waiter's acquire load; the record may vanish after this
            dtact__unpark(rt, wf, wg);
        } else if (dtact__xchg_acq_rel(&list->done, DTACT__WAIT_DONE) == DTACT__WAIT_SLEEPING) {
            /* acq_rel: release publishes result/status to the host waiter; the old value says whether it sleeps.
             * The waiter may already have left (a spurious futex return saw DONE): a wake
             * of a dead stack address is harmless, every futex user loops on its condition. */
            dtact__futex_wake(&list->done, 1);
        }
        list = nx;
    }
    if (status == DTACT_OK) dtact__stat_inc(&w->st.completed);
    else dtact__stat_inc(&w->st.cancelled);
    if (detached) dtact__fiber_free(rt->arena, w->id, f);
}

/* Reaps a FINISHED record at generation gen: exactly one caller wins. */
int dtact__fiber_reap(dtact__rt_t *rt, dtact__fiber_t *f, uint64_t gen) {
    uint64_t expect = DTACT__SG(gen, DTACT__ST_FINISHED);
    if (!dtact__cas_strong_acq_rel(&f->sg, &expect, DTACT__SG(gen, DTACT__ST_FREE))) return 0; // acq_rel: the claim; pairs with finish's release store
    dtact__worker_t *w = dtact__tls_worker();
    dtact__fiber_free(rt->arena, (w && w->rt == rt) ? w->id : DTACT__NO_CACHE, f);
    return 1;
}

void dtact__fiber_cancel(dtact__worker_t *w, dtact__fiber_t *f) {
    /* Never started. The cleanup runs here, on the worker, exactly once (for
     * an inline payload, while the stack holding it is still bound). */
    if (f->cleanup) f->cleanup(f->arg);
    if (f->stack) {
        f->stack->owner = NULL;
        dtact__stack_free(w->rt->arena, w->id, f->stack);
        f->stack = NULL;
    }
    f->result = NULL;
    dtact__fiber_finish(w, f, DTACT_ECANCELED);
}

void dtact__fiber_entry(void *arg) {
    dtact__fiber_t *f = arg;
    if (f->flags & DTACT__F_RESULT_FN) f->result = f->fn.rfn(f->arg);
    else {
        f->result = NULL;
        f->fn.vfn(f->arg);
    }
    if (f->cleanup) f->cleanup(f->arg);
    /* The worker publishes the end once we are off this stack (rule 4). */
    dtact__fiber_switch_out(dtact__tls_worker(), f, DTACT__ACT_FINISH);
    dtact__context_returned();
}

void dtact__shutdown_sweep(dtact__rt_t *rt) {
    uint32_t zero = 0;
    if (dtact__load_relaxed(&rt->swept) || !dtact__cas_strong_acq_rel(&rt->swept, &zero, 1u)) return; // acq_rel: one sweeper
    uint32_t n = dtact__arena_carved(rt->arena);
    for (uint32_t i = 0; i < n; i++) {
        dtact__fiber_t *f = dtact__fiber_at(rt->arena, i);
        uint64_t sg = dtact__load_acquire(&f->sg); // acquire: pairs with state release stores
        unsigned st = DTACT__SG_STATE(sg);
        if (st == DTACT__ST_SUSPENDED || st == DTACT__ST_SUSPENDING || st == DTACT__ST_RUNNING)
            dtact__unpark(rt, f, DTACT__SG_GEN(sg));
    }
}

/* ------------------------------------------------------------ spawn */

static int options_valid(const dtact_spawn_options_t *o) {
    return o->mPriority <= 3 && o->mAffinity <= 3 && o->mKind <= 3 && o->mSwitcher <= 3;
}

typedef struct payload_s {
    const void *src;
    size_t size, align;
} payload_t;

/* Places the payload where the fiber will use it in place: a small one in the
 * record's side slot (no stack needed until the fiber runs), a larger one at
 * the top of a stack bound now; f->sp then holds the top left for the initial
 * frame until the first run builds it. */
static int bind_payload(dtact__rt_t *rt, dtact__worker_t *w, dtact__fiber_t *f, const payload_t *pl) {
    if (pl->size + pl->align <= DTACT__SIDE_SLOT) {
        uintptr_t slot = (uintptr_t)(rt->side + (size_t)f->index * DTACT__SIDE_SLOT);
        uintptr_t at = (slot + pl->align - 1) & ~(uintptr_t)(pl->align - 1);
        memcpy((void *)at, pl->src, pl->size);
        f->arg = (void *)at;
        return DTACT_OK;
    }
    dtact__stack_t *s = dtact__stack_alloc(rt->arena, w ? w->id : DTACT__NO_CACHE, f->stack_class);
    if (!s) return DTACT_EEXHAUSTED;
    if (pl->size > s->size / 4) {
        dtact__stack_free(rt->arena, w ? w->id : DTACT__NO_CACHE, s);
        return DTACT_EINVAL;
    }
    uintptr_t at = ((uintptr_t)s->top - pl->size) & ~(uintptr_t)(pl->align - 1);
    memcpy((void *)at, pl->src, pl->size);
    s->owner = f;
    f->stack = s;
    f->arg = (void *)at;
    f->sp = (void *)(at & ~(uintptr_t)15);
    return DTACT_OK;
}

static int spawn_impl(dtact_handle_t *out, int result_fn, void *fn, void *arg, void (*cleanup)(void *),
                      const dtact_spawn_options_t *opts, uint32_t flags, uint32_t stack_size, uint64_t wait_ns,
                      const payload_t *pl) {
    dtact__rt_t *rt = dtact__rt_get();
    if (!rt) return DTACT_ENOTINIT;
    if (!fn) return DTACT_ENULLFN;
    dtact_spawn_options_t o = opts ? *opts : dtact_default_spawn_options();
    if (!options_valid(&o)) return DTACT_EINVAL;
    if (flags & ~(DTACT_SPAWN_JOINABLE | DTACT_SPAWN_WAIT_IF_FULL)) return DTACT_EINVAL;
    int cls = stack_size ? dtact__stack_class(rt->arena, stack_size) : rt->default_stack_class;
    if (cls < 0) return DTACT_EINVAL;
    if (dtact__load_relaxed(&rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: host spawns re-check with seq_cst below; see runtime.c

    dtact__worker_t *w = dtact__tls_worker();
    if (w && w->rt != rt) w = NULL;
    dtact__fiber_t *f = dtact__fiber_alloc(rt->arena, w ? w->id : DTACT__NO_CACHE);
    if (DTACT_UNLIKELY(!f)) {
        if (!(flags & DTACT_SPAWN_WAIT_IF_FULL)) return DTACT_EEXHAUSTED;
        uint64_t deadline = dtact__now_ns() + wait_ns;
        while (!f) {
            if (dtact__now_ns() >= deadline) return DTACT_EEXHAUSTED;
            if (dtact__load_relaxed(&rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
            if (w && w->current) dtact_yield();
            else dtact__sleep_ns(20000);
            w = dtact__tls_worker();
            if (w && w->rt != rt) w = NULL;
            f = dtact__fiber_alloc(rt->arena, w ? w->id : DTACT__NO_CACHE);
        }
    }
    uint64_t gen = DTACT__SG_GEN(dtact__load_relaxed(&f->sg)); // relaxed: a FREE record belongs to its allocator
    f->sp = NULL;
    f->next = f->prev = NULL;
    f->stack = NULL;
    if (result_fn) f->fn.rfn = (void *(*)(void *))fn;
    else f->fn.vfn = (void (*)(void *))fn;
    f->arg = arg;
    f->variant = o.mSwitcher;
    f->priority = o.mPriority;
    f->affinity = o.mAffinity;
    f->kind = o.mKind;
    f->flags = (uint8_t)((result_fn ? DTACT__F_RESULT_FN : 0) |
                         ((o.mAffinity == DTACT_AFFINITY_SAME_CORE || o.mSwitcher >= 2) ? DTACT__F_PINNED : 0));
    f->joinable = (flags & DTACT_SPAWN_JOINABLE) ? 1 : 0;
    f->stack_class = (uint8_t)cls;
    f->cleanup = cleanup;
    f->result = NULL;
    f->waiters = NULL;
    f->status = DTACT_OK;
    f->chunk_len = 0;
    f->started = 0;
    f->user = NULL;
    if (pl) {
        int prc = bind_payload(rt, w, f, pl);
        if (prc != DTACT_OK) {
            dtact__fiber_free(rt->arena, w ? w->id : DTACT__NO_CACHE, f);
            return prc;
        }
    }
    if (w) {
        f->home = (uint16_t)w->id;
        dtact__stat_inc(&w->st.spawned);
    } else {
        f->home = (uint16_t)(dtact__fetch_add_relaxed(&rt->host_rr, 1u) % rt->nworkers); // relaxed: round robin
        dtact__fetch_add_seq_cst(&rt->host_spawned, 1u); // seq_cst: ordered before the shutdown check below (runtime.c, "termination")
        if (dtact__load_seq_cst(&rt->shutdown)) {
            dtact__fetch_sub_seq_cst(&rt->host_spawned, 1u);
            if (f->stack) dtact__stack_free(rt->arena, DTACT__NO_CACHE, f->stack);
            f->stack = NULL;
            dtact__fiber_free(rt->arena, DTACT__NO_CACHE, f);
            return DTACT_ESHUTDOWN;
        }
    }
    dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_READY)); // relaxed: published by the enqueue (local: same thread; inbox: release CAS)
    *out = dtact__handle_make(f->index, gen);
    dtact__schedule(rt, w, f, 1);
    return DTACT_OK;
}

static dtact_handle_t launch(void (*func)(void *), void *arg, void (*cleanup)(void *),
                             const dtact_spawn_options_t *opts) {
    dtact_handle_t h = DTACT_INVALID_HANDLE;
    int rc = spawn_impl(&h, 0, (void *)func, arg, cleanup, opts, 0, 0, 0, NULL);
    if (rc != DTACT_OK) {
        dtact__set_error(rc);
        return DTACT_INVALID_HANDLE;
    }
    return h;
}

DTACT_API dtact_handle_t dtact_fiber_launch(void (*func)(void *), void *arg) { return launch(func, arg, NULL, NULL); }
DTACT_API dtact_handle_t dtact_fiber_launch_ext(void (*func)(void *), void *arg, const dtact_spawn_options_t *opts) {
    return launch(func, arg, NULL, opts);
}
DTACT_API dtact_handle_t dtact_fiber_launch_with_cleanup(void (*func)(void *), void *arg, void (*cleanup)(void *)) {
    return launch(func, arg, cleanup, NULL);
}
DTACT_API dtact_handle_t dtact_fiber_launch_with_cleanup_ext(void (*func)(void *), void *arg, void (*cleanup)(void *),
                                                             const dtact_spawn_options_t *opts) {
    return launch(func, arg, cleanup, opts);
}

DTACT_API void dtact_spawn_attr_init(dtact_spawn_attr_t *attr) {
    if (!attr) return;
    memset(attr, 0, sizeof *attr);
    attr->options = dtact_default_spawn_options();
}

DTACT_API int dtact_spawn(dtact_handle_t *out, void *(*func)(void *), void *arg, const dtact_spawn_attr_t *attr) {
    if (!out) return dtact__set_error(DTACT_EINVAL);
    *out = DTACT_INVALID_HANDLE;
    dtact_spawn_attr_t def;
    if (!attr) {
        dtact_spawn_attr_init(&def);
        attr = &def;
    }
    if (attr->reserved) return dtact__set_error(DTACT_EINVAL);
    int rc = spawn_impl(out, 1, (void *)func, arg, attr->cleanup, &attr->options, attr->flags, attr->stack_size,
                        attr->wait_ns, NULL);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_spawn_inline(dtact_handle_t *out, void *(*func)(void *), const void *payload, size_t size,
                                 size_t align, const dtact_spawn_attr_t *attr) {
    if (!out) return dtact__set_error(DTACT_EINVAL);
    *out = DTACT_INVALID_HANDLE;
    if (!payload || size == 0 || size > DTACT_INLINE_MAX || align == 0 || align > 64 || (align & (align - 1)))
        return dtact__set_error(DTACT_EINVAL);
    dtact_spawn_attr_t def;
    if (!attr) {
        dtact_spawn_attr_init(&def);
        attr = &def;
    }
    if (attr->reserved) return dtact__set_error(DTACT_EINVAL);
    payload_t pl = {payload, size, align};
    int rc = spawn_impl(out, 1, (void *)func, NULL, attr->cleanup, &attr->options, attr->flags, attr->stack_size,
                        attr->wait_ns, &pl);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API dtact_spawn_options_t dtact_default_spawn_options(void) {
    dtact_spawn_options_t o = {DTACT_PRIORITY_NORMAL, DTACT_AFFINITY_ANY, DTACT_KIND_COMPUTE,
                               DTACT_SWITCHER_CROSS_THREAD_FLOAT};
    return o;
}

/* ------------------------------------------------------------ fiber calls */

/* The calling fiber and its worker, or NULL. */
static dtact__fiber_t *self_fiber(dtact__worker_t **wp) {
    dtact__worker_t *w = dtact__tls_worker();
    *wp = w;
    return w ? w->current : NULL;
}

DTACT_API int dtact_yield(void) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return dtact__set_error(DTACT_EPERM);
    dtact__stat_inc(&w->st.yields);
    dtact__fiber_t *next = dtact__yield_pick(w, f);
    if (DTACT_LIKELY(next != NULL)) {
        /* A tail call (optimised builds): this fiber resumes straight in our
         * caller, with the value its resumer passes: DTACT_OK from another
         * direct yield (which has just seen no shutdown), the shutdown status
         * from the loop (switch_in). No `ret` runs on resume, so the return-
         * stack buffer stays in step (asm/: PASS). */
        return dtact__swap_table[f->variant](&f->sp, next->sp, DTACT_OK);
    }
    dtact__fiber_switch_out(w, f, DTACT__ACT_YIELD);
    w = dtact__tls_worker(); /* may have moved */
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: informational
    return DTACT_OK;
}

DTACT_API dtact_handle_t dtact_self(void) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return DTACT_INVALID_HANDLE;
    return dtact__handle_make(f->index, dtact__fiber_gen(f));
}

DTACT_API int dtact_current_worker(void) {
    dtact__worker_t *w = dtact__tls_worker();
    return w ? (int)w->id : -1;
}

DTACT_API int dtact_park(int64_t timeout_ns) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) return dtact__set_error(DTACT_EPERM);
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
    uint64_t deadline = timeout_ns >= 0 ? dtact__now_ns() + (uint64_t)timeout_ns : 0;
    if (timeout_ns == 0) return DTACT_ETIMEDOUT;
    dtact__park_self(w, f, deadline);
    w = dtact__tls_worker();
    if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
    if (deadline && dtact__now_ns() >= deadline) return DTACT_ETIMEDOUT;
    return DTACT_OK;
}

DTACT_API int dtact_unpark(dtact_handle_t handle) {
    dtact__rt_t *rt = dtact__rt_get();
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    dtact__fiber_t *f;
    int rc = dtact__fiber_lookup(rt->arena, handle, &f);
    if (rc != DTACT_OK) return dtact__set_error(rc);
    uint64_t gen = DTACT__SG_GEN(dtact__load_acquire(&f->sg)); // acquire: pairs with state release stores
    /* Handles carry the low 39 bits; a mismatch means the fiber is gone. unpark's CAS re-checks the full value. */
    if ((gen & DTACT__HANDLE_GEN_MASK) == dtact__handle_gen(handle)) dtact__unpark(rt, f, gen);
    return DTACT_OK;
}

DTACT_API int dtact_sleep_ns(uint64_t ns) {
    dtact__worker_t *w;
    dtact__fiber_t *f = self_fiber(&w);
    if (!f) {
        dtact__sleep_ns(ns);
        return DTACT_OK;
    }
    uint64_t deadline = dtact__now_ns() + ns;
    if (deadline == 0) deadline = 1;
    for (;;) {
        if (dtact__load_relaxed(&w->rt->shutdown)) return DTACT_ESHUTDOWN; // relaxed: polled
        if (dtact__now_ns() >= deadline) return DTACT_OK;
        dtact__park_self(w, f, deadline);
        w = dtact__tls_worker();
    }
}

DTACT_API void dtact_free_arg(void *arg) { free(arg); }

DTACT_API void dtact_abort(void) {
    static const char msg[] = "dtact: a fiber returned past its entry point (dtact_abort)\n";
    fwrite(msg, 1, sizeof msg - 1, stderr);
    abort();
}
