/* core/spawn.c -- creating fibers: dtact_spawn, dtact_spawn_inline and the
 * dtact_fiber_launch family of the original Dtact (the earlier Rust
 * implementation whose C API this library keeps).
 *
 * A spawn takes a record from the arena (no stack yet: a fiber gets its stack
 * when it first runs, loop.c), fills it, makes it READY and hands it to the
 * mesh (dtact__schedule): on a worker, to the front of its own queue (or its
 * overflow); from any other thread, to a worker's inbox, round robin. No
 * system call, lock or heap allocation on this path.
 *
 * Inline payloads (dtact_spawn_inline, used by the Rust crate to place a
 * future on the fiber): a small payload goes to the record's side slot, a
 * larger one to the top of a stack bound at spawn time.
 *
 * Shutdown. A host spawn increments rt->host_spawned before it loads the
 * shutdown flag (both seq_cst; shutdown.c, step 2): either it sees the flag
 * and undoes itself, or the termination check counts its fiber.
 */
#include <string.h>

#include "internal.h"

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
        uintptr_t slot = (uintptr_t)(rt->side + (size_t)(f - rt->recs) * DTACT__SIDE_SLOT);
        uintptr_t at = (slot + pl->align - 1) & ~(uintptr_t)(pl->align - 1);
        memcpy((void *)at, pl->src, pl->size);
        f->arg = (void *)at;
        return DTACT_OK;
    }
    int why;
    dtact__stack_t *s = dtact__stack_alloc_why(rt->arena, w ? w->id : DTACT__NO_CACHE, f->stack_class, &why);
    if (!s) return why; /* DTACT_EEXHAUSTED, or DTACT_ENOMEM: its commit failed */
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

/* Gives back a record this spawn took and wrote but never published, in the
 * state spawn expects of a free one (line 1: see spawn_in). */
static void unspawn(dtact__rt_t *rt, uint32_t cache, dtact__fiber_t *f) {
    f->joinable = 0;
    f->cleanup = NULL;
    dtact__fiber_free(rt->arena, cache, f);
}

static int spawn_in(dtact__rt_t *rt, dtact_handle_t *out, int result_fn, void *fn, void *arg, void (*cleanup)(void *),
                    const dtact_spawn_options_t *opts, uint32_t flags, uint32_t stack_size, uint64_t wait_ns,
                    const payload_t *pl) {
    if (!fn) return DTACT_ENULLFN;
    dtact_spawn_options_t o = opts ? *opts : dtact_default_spawn_options();
    if (!options_valid(&o)) return DTACT_EINVAL;
    if (flags & ~(DTACT_SPAWN_JOINABLE | DTACT_SPAWN_WAIT_IF_FULL)) return DTACT_EINVAL;
    int cls = stack_size ? dtact__stack_class(rt->arena, stack_size) : rt->default_stack_class;
    if (cls < 0) return DTACT_EINVAL;
    if (stack_size && cls != rt->default_stack_class) {
        int rrc = dtact__stack_class_reserve(rt->arena, cls); /* first fiber of this size: reserve its class */
        if (rrc != DTACT_OK) return rrc;
    }
    // relaxed: host spawns re-check with seq_cst below; see runtime.c
    if (dtact__load_relaxed(&rt->shutdown)) return DTACT_ESHUTDOWN;

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
    f->stack_class = (uint8_t)cls;
    /* release fence: orders the generation change of the free that gave us
     * this record before every later store to it from this thread (the
     * overflow's chunk_older shares result's word), for a late joiner of the
     * previous generation that reads result/status and then re-checks sg
     * (join.c, look(): the writer's half of a sequence lock). */
    dtact__fence_release();
    /* Line 1 (types.h) is left alone unless this spawn needs it: a free
     * record has joinable == 0 and cleanup == NULL (the finisher clears them:
     * fiber.c, retire; a failed spawn too: unspawn), waiters == NULL (retire
     * takes the list), result and status are written before the end is
     * published (fiber.c), chunk fields only matter on chunk heads (runq.c),
     * `user` is not written yet. A detached fiber's line 1 then stays with
     * the worker that runs and retires it, instead of crossing to the
     * spawner and back per fiber. */
    if (flags & DTACT_SPAWN_JOINABLE) f->joinable = 1;
    if (cleanup) f->cleanup = cleanup;
    if (pl) {
        int prc = bind_payload(rt, w, f, pl);
        if (prc != DTACT_OK) {
            unspawn(rt, w ? w->id : DTACT__NO_CACHE, f);
            return prc;
        }
    }
    if (w) {
        f->home = (uint16_t)w->id;
        dtact__stat_inc(&w->st.spawned);
    } else {
        uint32_t to = (uint32_t)(dtact__fetch_add_relaxed(&rt->host_rr, 1u) % rt->nworkers); // relaxed: round robin
        // relaxed: a hint; not to a worker stuck in a fiber (sysmon.c)
        if (DTACT_UNLIKELY(dtact__load_relaxed(&rt->n_stuck))) to = dtact__mon_redirect(rt, to, NULL);
        f->home = (uint16_t)to;
        dtact__fetch_add_seq_cst(&rt->host_spawned,
                                 1u); // seq_cst: ordered before the shutdown check below (runtime.c, "termination")
        if (dtact__load_seq_cst(&rt->shutdown)) {
            dtact__fetch_sub_seq_cst(&rt->host_spawned, 1u);
            dtact__fiber_release_stack(rt, DTACT__NO_CACHE, f);
            unspawn(rt, DTACT__NO_CACHE, f);
            return DTACT_ESHUTDOWN;
        }
    }
    // relaxed: published by the enqueue (local: same thread; inbox: release CAS)
    dtact__store_relaxed(&f->sg, DTACT__SG(gen, DTACT__ST_READY));
    /* before the schedule: the new fiber may read *out (dtact.h) */
    *out = dtact__handle_make((uint32_t)(f - rt->recs), gen);
    dtact__schedule(rt, w, f, 1);
    return DTACT_OK;
}

static int spawn_impl(dtact_handle_t *out, int result_fn, void *fn, void *arg, void (*cleanup)(void *),
                      const dtact_spawn_options_t *opts, uint32_t flags, uint32_t stack_size, uint64_t wait_ns,
                      const payload_t *pl) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return DTACT_ENOTINIT;
    int rc = spawn_in(rt, out, result_fn, fn, arg, cleanup, opts, flags, stack_size, wait_ns, pl);
    dtact__rt_leave(pinned);
    return rc;
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
