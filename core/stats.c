/* core/stats.c -- dtact_get_stats and dtact_get_worker_stats: the counters
 * of the workers (owner-written, read here racily) and of the arena.
 */
#include <string.h>

#include "internal.h"

static void add_worker(dtact_stats_t *o, dtact__worker_t *w) {
    dtact__wstats_t *s = &w->st;
    o->spawned += dtact__load_relaxed(&s->spawned); // relaxed: statistics are read racily
    o->completed += dtact__load_relaxed(&s->completed);
    o->cancelled += dtact__load_relaxed(&s->cancelled);
    o->yields += dtact__load_relaxed(&s->yields);
    o->deflected += dtact__load_relaxed(&s->deflected);
    o->chunks_moved += dtact__load_relaxed(&s->chunks_moved);
    o->requests += dtact__load_relaxed(&s->requests);
    o->parks += dtact__load_relaxed(&s->parks);
    o->wakes += dtact__load_relaxed(&s->wakes);
    o->timers += dtact__load_relaxed(&w->timers.pending); // relaxed: statistics
}

static int get_stats_in(dtact__rt_t *rt, void *p, dtact_stats_t *out) {
    if (!out || (p && p != rt)) return DTACT_EINVAL;
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < rt->nworkers; i++)
        add_worker(out, &rt->workers[i]);
    out->spawned += dtact__load_relaxed(&rt->host_spawned); // relaxed: statistics
    dtact__arena_stats_t a;
    dtact__arena_get_stats(rt->arena, &a);
    out->contexts_in_use = a.contexts_in_use;
    out->contexts_high_water = a.contexts_high_water;
    out->stacks_in_use = a.stacks_in_use;
    out->stacks_high_water = a.stacks_high_water;
    out->stacks_guarded = a.stacks_guarded;
    out->stacks_canary = a.stacks_canary;
    out->cache_hits = a.cache_hits;
    out->cache_misses = a.cache_misses;
    out->workers = rt->nworkers;
    return DTACT_OK;
}

DTACT_API int dtact_get_stats(void *p, dtact_stats_t *out) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    int rc = get_stats_in(rt, p, out);
    dtact__rt_leave(pinned);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}

DTACT_API int dtact_get_worker_stats(void *p, uint32_t w, dtact_stats_t *out) {
    int pinned;
    dtact__rt_t *rt = dtact__rt_enter(&pinned);
    if (!rt) return dtact__set_error(DTACT_ENOTINIT);
    int rc = DTACT_EINVAL;
    if (out && (!p || p == rt) && w < rt->nworkers) {
        memset(out, 0, sizeof *out);
        add_worker(out, &rt->workers[w]);
        out->workers = 1;
        rc = DTACT_OK;
    }
    dtact__rt_leave(pinned);
    return rc == DTACT_OK ? rc : dtact__set_error(rc);
}
