/* core/stack.c -- fiber stacks: size classes, lazy creation, guard pages or
 * canaries, per-worker caches, and the overflow handler.
 *
 * Classes. 16 KiB, 64 KiB, 256 KiB, 1 MiB, 8 MiB. A request is rounded up to
 * the next class; 0 means the arena's default class (cfg->default_stack
 * rounded up, 256 KiB when 0). Anything above 8 MiB is rejected (class -1,
 * DTACT_ECONFIG at create): a 64 MiB class would cost 64 GiB of address space
 * for 1000 stacks for a need nobody has shown.
 *
 * Regions. Per class, create reserves once one PROT_NONE, MAP_NORESERVE region
 *     slots     = min(capacity, max(64, 64 GiB / slot_size))
 *     slot_size = page + class size
 *     slot id   = [ guard page | usable: base .. top ... slot end ]
 * so each class costs at most 64 GiB of address space and no memory. A slot is
 * *created* the first time it is carved: mprotect(RW) of its usable part (the
 * guard page stays PROT_NONE), or of the whole slot when it gets no guard.
 * Reuse never calls mprotect again.
 *
 * Guards vs canaries. Each guarded stack splits the region into two more
 * mappings, so guards are handed out while the map budget lasts:
 *     guard_budget = (max_map_count - maps at create - 1024) / 2
 * (per arena, read at create; 0 when cfg->guard_pages == 0). Beyond it a stack
 * is unguarded: its RW mapping merges with its unguarded neighbours and a
 * canary word at `base` (secret ^ base, secret random per arena) is checked by
 * the scheduler after every switch (dtact__stack_canary_ok).
 * A guarded stack's canary is the word 0: the base page is not touched (so a
 * stack costs one page until it grows), reading it yields 0, and any non-zero
 * write of the last word still fails the check; the guard page catches the
 * rest. (Writing a random canary there would cost a second page per stack and
 * break the 8 KiB-per-idle-stack budget.)
 *
 * Stagger. top = slot end - 128 * (id % 8), 16-byte aligned, so the hot top
 * frames of consecutive stacks do not alias in the L1 sets, while a fiber's
 * first frames still fit in its top page (a larger stagger made idle fibers
 * touch two pages). The usable depth is therefore size - up to 896 bytes; `size` reports the class size.
 *
 * Free lists and invariant (per class, quiescent):
 *     nfree + in_use + cached + (slots - carved) == slots
 * Per-worker LIFO caches of 32 (owner only), spilling/refilling 16 at a time
 * through a tagged batch stack of stack ids (arena_internal.h); batches are
 * linked through stack->next while owned. A spilled batch whose class already
 * has >= 4096 free stacks on the shared list is purged first (a low mark made
 * fork-join code purge and re-fault the same stacks, each purge a TLB shootdown):
 * madvise(MADV_DONTNEED) of [base page, top page), the top page stays.
 *
 * Who writes what: descriptors (desc[id]) by the creator, then by whoever owns
 * the stack (owner, next); carved by CAS; head by the tagged stack; nfree and
 * the statistics by relaxed RMW; the registry and the saved sigactions under
 * dtact__sig_mu (the handler reads the registry with acquire).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "arena_internal.h"
#include "dtact.h"

static const size_t dtact__class_size[DTACT__STACK_NCLASSES] = {
    16u * 1024u, 64u * 1024u, 256u * 1024u, 1024u * 1024u, 8u * 1024u * 1024u};

_Static_assert(DTACT__STK_BATCH * 2 == DTACT__STK_CACHE, "a spill halves the cache");

int dtact__stack_class_of(size_t bytes) {
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++)
        if (bytes <= dtact__class_size[k])
            return k;
    return -1;
}

int dtact__stack_class(dtact__arena_t *a, size_t bytes) {
    return bytes == 0 ? a->default_cls : dtact__stack_class_of(bytes);
}

size_t dtact__stack_class_size(int cls) {
    return cls >= 0 && cls < DTACT__STACK_NCLASSES ? dtact__class_size[cls] : 0;
}

/* ---------------------------------------------------------------- init */
/* Counts the lines of a /proc file (lines != 0) or parses its first number. */
static long dtact__read_proc(const char *path, int lines) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    long n = 0, v = 0;
    int digits = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (lines) {
                n += buf[i] == '\n';
            } else if (buf[i] >= '0' && buf[i] <= '9' && digits >= 0) {
                v = v * 10 + (buf[i] - '0');
                digits++;
            } else if (digits > 0) {
                digits = -1;
            }
        }
    }
    close(fd);
    return lines ? n : (digits != 0 ? v : -1);
}

static uint64_t dtact__random_secret(void *salt) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)salt;
    }
    return s | 1u; /* never 0 together with an even address */
}

static uint64_t dtact__canary_value(const dtact__arena_t *a, const void *base) {
    return a->secret ^ (uint64_t)(uintptr_t)base; /* base is page aligned, secret odd: never 0 */
}

int dtact__stack_init(dtact__arena_t *a, const dtact__arena_config_t *cfg) {
    a->default_cls = dtact__stack_class_of(cfg->default_stack ? cfg->default_stack : DTACT__STACK_DEFAULT);
    a->guard_pages = cfg->guard_pages != 0;
    a->secret = dtact__random_secret(a);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *c = &a->cls[k];
        dtact__store_relaxed(&c->head, DTACT__TS_EMPTY); // relaxed: published by create's hand-off
        c->size = dtact__class_size[k];
        c->slot_size = c->size + a->page;
        uint64_t by_budget = DTACT__STACK_CLASS_BUDGET / c->slot_size;
        if (by_budget < DTACT__STACK_MIN_SLOTS)
            by_budget = DTACT__STACK_MIN_SLOTS;
        c->slots = a->capacity < by_budget ? a->capacity : (uint32_t)by_budget;
        c->region_len = (size_t)c->slots * c->slot_size;
        void *r = mmap(NULL, c->region_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED)
            return DTACT_ENOMEM;
        c->region = r;
        c->desc_len = ((size_t)c->slots * sizeof(dtact__stack_t) + a->page - 1) & ~(a->page - 1);
        r = mmap(NULL, c->desc_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED)
            return DTACT_ENOMEM;
        c->desc = r;
        c->blink_len = ((size_t)c->slots * sizeof(uint64_t) + a->page - 1) & ~(a->page - 1);
        r = mmap(NULL, c->blink_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED)
            return DTACT_ENOMEM;
        c->blink = r;
    }
    a->guard_budget = 0;
    if (a->guard_pages) {
        long max = dtact__read_proc("/proc/sys/vm/max_map_count", 0);
        long cur = dtact__read_proc("/proc/self/maps", 1);
        if (max <= 0)
            max = 65530; /* the kernel default */
        if (cur < 0)
            cur = 0;
        long b = (max - cur - DTACT__MAP_MARGIN) / 2;
        a->guard_budget = b > 0 ? b : 0;
    }
    return DTACT_OK;
}

static void dtact__overflow_handler_release(dtact__arena_t *a);

void dtact__stack_fini(dtact__arena_t *a) {
    dtact__overflow_handler_release(a);
    for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
        dtact__stack_class_t *c = &a->cls[k];
        if (c->region)
            munmap(c->region, c->region_len);
        if (c->desc)
            munmap(c->desc, c->desc_len);
        if (c->blink)
            munmap((void *)c->blink, c->blink_len);
        c->region = NULL;
        c->desc = NULL;
        c->blink = NULL;
    }
}

void dtact__arena_set_guard_budget(dtact__arena_t *a, int64_t n) {
    a->guard_budget = dtact__load_relaxed(&a->guards_used) + n; // relaxed: test hook, quiescent
}

/* -------------------------------------------------------------- stacks */
/* Makes slot `id` usable (first use only). 0 on success. Any thread (the
 * caller owns the descriptor: it just carved or popped it). */
static int dtact__stack_create(dtact__arena_t *a, dtact__stack_class_t *c, dtact__stack_t *s, uint32_t id) {
    char *slot = c->region + (size_t)id * c->slot_size;
    int guarded = 0;
    // relaxed: a budget counter, no ordering
    if (a->guard_pages && dtact__fetch_add_relaxed(&a->guards_used, 1) < a->guard_budget) {
        if (mprotect(slot + a->page, c->size, PROT_READ | PROT_WRITE) == 0)
            guarded = 1;
        else
            a->guard_budget = 0; /* out of maps: stop trying (racy write of a hint) */
    }
    if (!guarded && mprotect(slot, c->slot_size, PROT_READ | PROT_WRITE) != 0)
        return -1;
    s->base = slot + a->page;
    s->size = c->size;
    s->top = (void *)(((uintptr_t)(slot + c->slot_size) - 128u * (id % 8u)) & ~(uintptr_t)15);
    s->cls = (uint32_t)(c - a->cls);
    s->id = id;
    s->guarded = (uint8_t)guarded;
    s->owner = NULL;
    s->next = NULL;
    if (guarded) {
        s->canary = 0; /* see the top comment: the untouched base word reads 0 */
        dtact__fetch_add_relaxed(&a->stk_guarded, 1); // relaxed: statistic
    } else {
        s->canary = dtact__canary_value(a, s->base);
        dtact__fetch_add_relaxed(&a->stk_canary, 1); // relaxed: statistic
    }
    return 0;
}

/* Carves one slot of class c and creates it. NULL when exhausted. */
static dtact__stack_t *dtact__stack_carve(dtact__arena_t *a, dtact__stack_class_t *c) {
    uint32_t id = dtact__load_relaxed(&c->carved); // relaxed: the CAS revalidates it
    do {
        if (id >= c->slots)
            return NULL;
        // acq_rel: pairs with the acquire load of carved in the overflow handler
    } while (!dtact__cas_weak_acq_rel(&c->carved, &id, id + 1));
    dtact__stack_t *s = &c->desc[id];
    s->id = id;
    s->cls = (uint32_t)(c - a->cls);
    s->base = NULL; /* created by dtact__stack_ready */
    return s;
}

/* Drops the pages of a stack whose class has enough free ones. */
static void dtact__stack_purge(dtact__arena_t *a, dtact__stack_t *s) {
    uintptr_t lo = (uintptr_t)s->base & ~(uintptr_t)(a->page - 1);
    uintptr_t hi = ((uintptr_t)s->top - 1) & ~(uintptr_t)(a->page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Pushes a chain of n owned stacks (v[0..n-1]) as one batch. */
static void dtact__stack_push(dtact__arena_t *a, dtact__stack_class_t *c, dtact__stack_t **v, uint32_t n) {
    // relaxed: a heuristic (madvise high-water); exactness not needed
    int purge = dtact__load_relaxed(&c->nfree) >= DTACT__STACK_HWM;
    for (uint32_t k = 0; k < n; k++) {
        if (purge && v[k]->base)
            dtact__stack_purge(a, v[k]);
        v[k]->next = k + 1 < n ? v[k + 1] : NULL;
    }
    dtact__fetch_add_relaxed(&c->nfree, (int64_t)n); // relaxed: statistic/heuristic
    dtact__ts_push(&c->head, c->blink, v[0]->id, n);
}

/* Makes a stack taken from a list ready: creates it if needed, rewrites an
 * unguarded stack's canary (a purge may have zeroed it). 0 on success. */
static int dtact__stack_ready(dtact__arena_t *a, dtact__stack_t *s) {
    if (DTACT_UNLIKELY(s->base == NULL) && dtact__stack_create(a, &a->cls[s->cls], s, s->id) != 0)
        return -1;
    if (!s->guarded)
        *(volatile uint64_t *)s->base = s->canary;
    s->owner = NULL;
    return 0;
}

dtact__stack_t *dtact__stack_alloc(dtact__arena_t *a, uint32_t cache, int cls) {
    if (cls < 0 || cls >= DTACT__STACK_NCLASSES)
        return NULL;
    dtact__stack_class_t *c = &a->cls[cls];
    dtact__stack_t *s;
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        dtact__stk_cache_t *sc = &wc->stk[cls];
        int hit = sc->n != 0;
        if (DTACT_LIKELY(hit)) {
            // relaxed load + store: owner-only counter, read racily by get_stats
            dtact__store_relaxed(&wc->hits, dtact__load_relaxed(&wc->hits) + 1);
            s = sc->s[--sc->n];
        } else {
            // relaxed load + store: owner-only counter, read racily by get_stats
            dtact__store_relaxed(&wc->misses, dtact__load_relaxed(&wc->misses) + 1);
            uint32_t len, id = dtact__ts_pop(&c->head, c->blink, &len);
            if (id != DTACT__IDX_NONE) {
                dtact__fetch_sub_relaxed(&c->nfree, (int64_t)len); // relaxed: statistic
                dtact__stack_t *t = &c->desc[id];
                for (uint32_t k = 0; k < len; k++, t = t->next)
                    sc->s[len - 1 - k] = t;
                sc->n = len;
                s = sc->s[--sc->n];
            } else {
                s = dtact__stack_carve(a, c);
                if (s == NULL)
                    return NULL;
            }
        }
        if (DTACT_UNLIKELY(dtact__stack_ready(a, s) != 0)) {
            sc->s[sc->n++] = s; /* keep the uncreated slot; creation retried later */
            return NULL;
        }
        int64_t p = dtact__load_relaxed(&wc->stk_pending) + 1; // relaxed: owner's counter
        if (hit) {
            dtact__store_relaxed(&wc->stk_pending, p); // relaxed: read racily by get_stats
        } else {
            /* a miss samples the peak, this stack included */
            dtact__store_relaxed(&wc->stk_pending, 0); // relaxed: read racily by get_stats
            dtact__stat_fold(&a->stk_in_use, &a->stk_hw, p);
        }
        return s;
    }
    dtact__fetch_add_relaxed(&a->nc_misses, 1); // relaxed: statistic
    uint32_t len, id = dtact__ts_pop(&c->head, c->blink, &len);
    if (id != DTACT__IDX_NONE) {
        s = &c->desc[id];
        if (len > 1)
            dtact__ts_push(&c->head, c->blink, s->next->id, len - 1);
        dtact__fetch_sub_relaxed(&c->nfree, 1); // relaxed: statistic
    } else {
        s = dtact__stack_carve(a, c);
        if (s == NULL)
            return NULL;
    }
    if (DTACT_UNLIKELY(dtact__stack_ready(a, s) != 0)) {
        dtact__stack_push(a, c, &s, 1);
        return NULL;
    }
    dtact__stat_fold(&a->stk_in_use, &a->stk_hw, 1);
    return s;
}

void dtact__stack_free(dtact__arena_t *a, uint32_t cache, dtact__stack_t *s) {
    dtact__stack_class_t *c = &a->cls[s->cls];
    s->owner = NULL;
    if (DTACT_LIKELY(cache < a->ncaches)) {
        dtact__wcache_t *wc = &a->caches[cache];
        dtact__stk_cache_t *sc = &wc->stk[s->cls];
        if (DTACT_UNLIKELY(sc->n == DTACT__STK_CACHE)) {
            dtact__stack_push(a, c, sc->s, DTACT__STK_BATCH); /* the coldest half */
            memmove(sc->s, sc->s + DTACT__STK_BATCH, (DTACT__STK_CACHE - DTACT__STK_BATCH) * sizeof sc->s[0]);
            sc->n -= DTACT__STK_BATCH;
            int64_t p = dtact__load_relaxed(&wc->stk_pending); // relaxed: owner's counter
            dtact__store_relaxed(&wc->stk_pending, 0);          // relaxed: read racily by get_stats
            dtact__stat_fold(&a->stk_in_use, &a->stk_hw, p);
        }
        sc->s[sc->n++] = s;
        // relaxed load + store: owner-only counter, read racily by get_stats
        dtact__store_relaxed(&wc->stk_pending, dtact__load_relaxed(&wc->stk_pending) - 1);
        return;
    }
    dtact__stack_push(a, c, &s, 1);
    dtact__stat_fold(&a->stk_in_use, &a->stk_hw, -1);
}

/* ------------------------------------------------------------ overflow */
/* A tiny lock for install/release (rare, never taken in the handler). Not a
 * pthread mutex so that this file needs no <pthread.h>. */
static _Atomic int dtact__sig_mu;
static void dtact__sig_lock(void) {
    // acquire: pairs with the store-release in dtact__sig_unlock
    while (dtact__xchg_acquire(&dtact__sig_mu, 1))
        dtact__cpu_relax();
}
static void dtact__sig_unlock(void) {
    dtact__store_release(&dtact__sig_mu, 0); // release: pairs with the xchg-acquire in dtact__sig_lock
}
static unsigned dtact__sig_refs;                 /* under dtact__sig_mu */
static struct sigaction dtact__old_segv, dtact__old_bus; /* under dtact__sig_mu; read by the handler */
static _Atomic(dtact__arena_t *) dtact__registry[DTACT__MAX_ARENAS];

static size_t dtact__put_str(char *b, size_t i, size_t cap, const char *s) {
    while (*s && i < cap)
        b[i++] = *s++;
    return i;
}
static size_t dtact__put_num(char *b, size_t i, size_t cap, uint64_t v, unsigned base) {
    char t[24];
    size_t n = 0;
    do {
        t[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n && i < cap)
        b[i++] = t[--n];
    return i;
}

/* Async-signal-safe: formats by hand, write(2) only. */
static void dtact__report(const dtact__stack_t *s, const char *how, uintptr_t addr) {
    char b[256];
    const size_t cap = sizeof b;
    size_t i = dtact__put_str(b, 0, cap, "dtact: stack overflow in ");
    const dtact__fiber_t *f = s ? s->owner : NULL;
    if (f) {
        // acquire: pairs with the scheduler's release transitions of sg (any load would do here)
        uint64_t sg = dtact__load_acquire((_Atomic uint64_t *)&f->sg);
        i = dtact__put_str(b, i, cap, "fiber 0x");
        i = dtact__put_num(b, i, cap, dtact__handle_make(f->index, DTACT__SG_GEN(sg)), 16);
    } else {
        i = dtact__put_str(b, i, cap, "unknown fiber");
    }
    i = dtact__put_str(b, i, cap, " (stack ");
    i = dtact__put_num(b, i, cap, s ? s->size : 0, 10);
    i = dtact__put_str(b, i, cap, " bytes, ");
    i = dtact__put_str(b, i, cap, how);
    if (addr) {
        i = dtact__put_str(b, i, cap, " at 0x");
        i = dtact__put_num(b, i, cap, addr, 16);
    }
    i = dtact__put_str(b, i, cap, ")\n");
    size_t off = 0;
    while (off < i) {
        ssize_t w = write(2, b + off, i - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

/* The arena whose stack regions contain p, or NULL. Async-signal-safe. */
static dtact__arena_t *dtact__registry_find(uintptr_t p, int *cls) {
    for (int r = 0; r < DTACT__MAX_ARENAS; r++) {
        dtact__arena_t *a = dtact__load_acquire(&dtact__registry[r]); // acquire: pairs with the release store in install
        if (a == NULL)
            continue;
        for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
            uintptr_t lo = (uintptr_t)a->cls[k].region;
            if (p >= lo && p - lo < a->cls[k].region_len) {
                *cls = k;
                return a;
            }
        }
    }
    return NULL;
}

static void dtact__segv_handler(int sig, siginfo_t *si, void *uc) {
    uintptr_t addr = (uintptr_t)si->si_addr;
    int k;
    dtact__arena_t *a = dtact__registry_find(addr, &k);
    if (a) {
        dtact__stack_class_t *c = &a->cls[k];
        size_t off = addr - (uintptr_t)c->region;
        uint32_t id = (uint32_t)(off / c->slot_size);
        // acquire: pairs with the carving CAS in dtact__stack_carve
        if (off % c->slot_size < a->page && id < dtact__load_acquire(&c->carved)) {
            dtact__stack_t *s = &c->desc[id];
            if (s->base && s->guarded) {
                dtact__fetch_add_relaxed(&a->overflows, 1); // relaxed: statistic
                dtact__report(s, "guard page hit", addr);
                abort();
            }
        }
    }
    /* Not ours: chain to the previous disposition. */
    struct sigaction *old = sig == SIGBUS ? &dtact__old_bus : &dtact__old_segv;
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* SIG_DFL (or IGN, which the kernel overrides for a fault): reset and
     * return, so the faulting instruction re-raises with the default action. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

int dtact__overflow_handler_install(dtact__arena_t *a) {
    int rc = DTACT_OK;
    dtact__sig_lock();
    if (a->handler_installed)
        goto out;
    int slot = -1;
    for (int r = 0; r < DTACT__MAX_ARENAS && slot < 0; r++)
        if (dtact__load_relaxed(&dtact__registry[r]) == NULL) // relaxed: writers hold dtact__sig_mu
            slot = r;
    if (slot < 0) {
        rc = DTACT_ENOMEM;
        goto out;
    }
    if (dtact__sig_refs == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = dtact__segv_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &dtact__old_segv) != 0) {
            rc = DTACT_ESYS;
            goto out;
        }
        if (sigaction(SIGBUS, &sa, &dtact__old_bus) != 0) {
            sigaction(SIGSEGV, &dtact__old_segv, NULL);
            rc = DTACT_ESYS;
            goto out;
        }
    }
    dtact__sig_refs++;
    // release: pairs with the acquire load in dtact__registry_find (the handler)
    dtact__store_release(&dtact__registry[slot], a);
    a->handler_installed = 1;
out:
    dtact__sig_unlock();
    return rc;
}

static void dtact__overflow_handler_release(dtact__arena_t *a) {
    dtact__sig_lock();
    if (a->handler_installed) {
        for (int r = 0; r < DTACT__MAX_ARENAS; r++)
            if (dtact__load_relaxed(&dtact__registry[r]) == a) // relaxed: writers hold dtact__sig_mu
                dtact__store_release(&dtact__registry[r], NULL); // release: pairs with the handler's acquire load
        a->handler_installed = 0;
        if (--dtact__sig_refs == 0) {
            sigaction(SIGSEGV, &dtact__old_segv, NULL);
            sigaction(SIGBUS, &dtact__old_bus, NULL);
        }
    }
    dtact__sig_unlock();
}

void dtact__stack_overflow_abort(const dtact__stack_t *s, const char *how) {
    int k;
    dtact__arena_t *a = s ? dtact__registry_find((uintptr_t)s->base, &k) : NULL;
    if (a)
        dtact__fetch_add_relaxed(&a->overflows, 1); // relaxed: statistic
    dtact__report(s, how ? how : "canary destroyed", 0);
    abort();
}

/* ------------------------------------------------------- sigaltstack */
static _Thread_local void *dtact__alt_mem;

int dtact__thread_sigaltstack_init(void) {
    if (dtact__alt_mem)
        return DTACT_OK;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= DTACT__ALTSTACK_SIZE / 4)
        return DTACT_OK; /* the thread already has one (ASan, the host program) */
    void *m = mmap(NULL, DTACT__ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return DTACT_ENOMEM;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = m;
    ss.ss_size = DTACT__ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(m, DTACT__ALTSTACK_SIZE);
        return DTACT_ESYS;
    }
    dtact__alt_mem = m;
    return DTACT_OK;
}

void dtact__thread_sigaltstack_fini(void) {
    if (dtact__alt_mem == NULL)
        return;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(dtact__alt_mem, DTACT__ALTSTACK_SIZE);
    dtact__alt_mem = NULL;
}
