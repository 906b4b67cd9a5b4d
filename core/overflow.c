/* core/overflow.c -- stack overflow reporting: the fault hook that recognises
 * guard page hits, the report for those and for dead canaries, the registry
 * of arenas the hook searches, and the per-thread alternate signal stacks the
 * hook runs on.
 *
 * Place in the memory layer. The top of it, beside arena.c: it reads the
 * arena and stack structures (arena_internal.h) and calls the OS layer
 * (prim.h: the fault hook, alternate stacks, the stderr write, memory); it
 * calls nothing in arena.c or stack.c, and they never call it. The runtime
 * registers an arena after dtact__arena_create (dtact__overflow_handler_install)
 * and unregisters it before dtact__arena_destroy (..._release); the scheduler
 * calls dtact__stack_overflow_abort when a canary check fails, and every
 * worker thread takes an alternate signal stack at start.
 *
 * Registry. Up to 64 arenas, one atomic pointer each. The first registration
 * installs the process-wide SIGSEGV/SIGBUS hook (dtact__fault_hook_install,
 * which saves the previous dispositions); the last release restores them.
 * Install and release are serialised by dtact__sig_mu, a spin lock (rare
 * calls, never taken in the hook); a slot is published with release and read
 * with acquire by the hook, which takes no lock.
 *
 * The hook (async-signal-safe). It finds the arena and class whose region
 * holds the faulting address; when the address lies in the guard page of a
 * carved slot (carved read with acquire, pairing with stack.c's carving CAS)
 * whose stack was created guarded, it counts the overflow, prints
 *     dtact: stack overflow in fiber 0x<handle> (stack <size> bytes, guard page hit at 0x<addr>)
 * with a hand-written formatter (no stdio) through dtact__write_stderr, and
 * aborts. Otherwise it returns and prim chains the fault to the previous
 * disposition.
 *
 * Alternate stacks. A guard page hit happens with the fiber's stack
 * exhausted, so the hook must run elsewhere: each worker maps a 64 KiB
 * alternate signal stack at start (unless the thread already has one: ASan,
 * the host program) and unmaps it at exit. Thread-local, no sharing.
 */
#include <stdlib.h>
#include <string.h>

#include "arena_internal.h"
#include "dtact.h"
#include "prim.h"

#define DTACT__MAX_ARENAS 64               /* arenas registered with the hook */
#define DTACT__ALTSTACK_SIZE (64u * 1024u) /* per worker thread               */

/* ------------------------------------------------------------- registry */
/* A tiny lock for install/release (rare, never taken in the hook). Not a
 * pthread mutex: the hook's file needs no threads API. */
static _Atomic int dtact__sig_mu;
static void dtact__sig_lock(void) {
    // acquire: pairs with the store-release in dtact__sig_unlock
    while (dtact__xchg_acquire(&dtact__sig_mu, 1))
        dtact__cpu_relax();
}
static void dtact__sig_unlock(void) {
    dtact__store_release(&dtact__sig_mu, 0); // release: pairs with the xchg-acquire in dtact__sig_lock
}
static unsigned dtact__sig_refs; /* registered arenas; under dtact__sig_mu */
static _Atomic(dtact__arena_t *) dtact__registry[DTACT__MAX_ARENAS];

/* The registry slot holding a, or -1. Caller holds dtact__sig_mu. */
static int dtact__registry_slot(const dtact__arena_t *a) {
    for (int r = 0; r < DTACT__MAX_ARENAS; r++)
        if (dtact__load_relaxed(&dtact__registry[r]) == a) // relaxed: writers hold dtact__sig_mu
            return r;
    return -1;
}

/* The arena whose stack regions contain p, or NULL. Async-signal-safe. */
static dtact__arena_t *dtact__registry_find(uintptr_t p, int *cls) {
    for (int r = 0; r < DTACT__MAX_ARENAS; r++) {
        // acquire: pairs with the release store in install
        dtact__arena_t *a = dtact__load_acquire(&dtact__registry[r]);
        if (a == NULL) continue;
        for (int k = 0; k < DTACT__STACK_NCLASSES; k++) {
            // acquire: pairs with the reserving CAS (stack.c)
            uintptr_t lo = (uintptr_t)dtact__load_acquire(&a->cls[k].region);
            if (!lo) continue;
            if (p >= lo && p - lo < a->cls[k].region_len) {
                *cls = k;
                return a;
            }
        }
    }
    return NULL;
}

/* --------------------------------------------------------------- report */
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

static size_t dtact__put_fiber(char *b, size_t i, size_t cap, const dtact__fiber_t *f) {
    // acquire: pairs with the scheduler's release transitions of sg (any load would do here)
    uint64_t sg = dtact__load_acquire((_Atomic uint64_t *)&f->sg);
    i = dtact__put_str(b, i, cap, "fiber 0x");
    return dtact__put_num(b, i, cap, dtact__handle_make(f->index, DTACT__SG_GEN(sg)), 16);
}

/* Async-signal-safe: formats by hand, dtact__write_stderr only. `culprit`,
 * when it is not the stack's owner, is the fiber that really overflowed: it
 * ran past its own unguarded stack into the guard below another's. */
static void dtact__report_by(const dtact__stack_t *s, const dtact__fiber_t *culprit, const char *how, uintptr_t addr) {
    char b[320];
    const size_t cap = sizeof b;
    size_t i = dtact__put_str(b, 0, cap, "dtact: stack overflow in ");
    const dtact__fiber_t *f = s ? s->owner : NULL;
    if (culprit && culprit != f) {
        i = dtact__put_fiber(b, i, cap, culprit);
        i = dtact__put_str(b, i, cap, " (it ran past its own stack into the guard page below ");
        i = f ? dtact__put_fiber(b, i, cap, f) : dtact__put_str(b, i, cap, "a free stack");
        i = dtact__put_str(b, i, cap, "'s stack at 0x");
        i = dtact__put_num(b, i, cap, addr, 16);
        i = dtact__put_str(b, i, cap, ")\n");
        dtact__write_stderr(b, i);
        return;
    }
    if (f) i = dtact__put_fiber(b, i, cap, f);
    else i = dtact__put_str(b, i, cap, "unknown fiber");
    i = dtact__put_str(b, i, cap, " (stack ");
    i = dtact__put_num(b, i, cap, s ? s->size : 0, 10);
    i = dtact__put_str(b, i, cap, " bytes, ");
    i = dtact__put_str(b, i, cap, how);
    if (addr) {
        i = dtact__put_str(b, i, cap, " at 0x");
        i = dtact__put_num(b, i, cap, addr, 16);
    }
    i = dtact__put_str(b, i, cap, ")\n");
    dtact__write_stderr(b, i);
}

/* ----------------------------------------------------------------- hook */
/* Runs for every SIGSEGV/SIGBUS (prim.h): reports and aborts on a guard page
 * hit in a registered arena, returns for anything else. Async-signal-safe. */
static void dtact__overflow_hook(void *fault) {
    uintptr_t addr = (uintptr_t)fault;
    int k;
    dtact__arena_t *a = dtact__registry_find(addr, &k);
    if (a == NULL) return;
    dtact__stack_class_t *c = &a->cls[k];
    size_t off = addr - (uintptr_t)dtact__load_acquire(&c->region); // acquire: as in registry_find
    uint32_t id = (uint32_t)(off / c->slot_size);
    // acquire: pairs with the carving CAS in dtact__stack_carve (stack.c)
    if (off % c->slot_size < a->guard_gap && id < dtact__load_acquire(&c->carved)) {
        dtact__stack_t *s = &c->desc[id];
        if (s->base && s->guarded) {
            dtact__fetch_add_relaxed(&a->overflows, 1); // relaxed: statistic
            const dtact__fiber_t *cur = a->current_fiber ? a->current_fiber() : NULL;
            dtact__report_by(s, cur, "guard page hit", addr);
            abort();
        }
    }
}

void dtact__overflow_set_current_fn(dtact__arena_t *a, const dtact__fiber_t *(*fn)(void)) {
    a->current_fiber = fn; /* published to the hook by install's release store */
}

int dtact__overflow_handler_install(dtact__arena_t *a) {
    int rc = DTACT_OK;
    dtact__sig_lock();
    if (dtact__registry_slot(a) >= 0) goto out; /* already registered */
    int slot = dtact__registry_slot(NULL);
    if (slot < 0) {
        rc = DTACT_ENOMEM;
        goto out;
    }
    if (dtact__sig_refs == 0 && dtact__fault_hook_install(dtact__overflow_hook) != 0) {
        rc = DTACT_ESYS;
        goto out;
    }
    dtact__sig_refs++;
    // release: pairs with the acquire load in dtact__registry_find (the hook)
    dtact__store_release(&dtact__registry[slot], a);
out:
    dtact__sig_unlock();
    return rc;
}

void dtact__overflow_handler_release(dtact__arena_t *a) {
    if (a == NULL) return;
    dtact__sig_lock();
    int slot = dtact__registry_slot(a);
    if (slot >= 0) {
        // release: pairs with the hook's acquire load (it sees NULL or the arena)
        dtact__store_release(&dtact__registry[slot], NULL);
        if (--dtact__sig_refs == 0) dtact__fault_hook_restore();
    }
    dtact__sig_unlock();
}

void dtact__stack_overflow_abort(const dtact__stack_t *s, const char *how) {
    int k;
    dtact__arena_t *a = s ? dtact__registry_find((uintptr_t)s->base, &k) : NULL;
    if (a) dtact__fetch_add_relaxed(&a->overflows, 1); // relaxed: statistic
    dtact__report_by(s, NULL, how ? how : "canary destroyed", 0);
    abort();
}

/* ------------------------------------------------------ alternate stacks */
static _Thread_local void *dtact__alt_mem; /* ours, when we mapped one */

int dtact__thread_sigaltstack_init(void) {
    if (dtact__alt_mem) return DTACT_OK;
    if (dtact__altstack_present(DTACT__ALTSTACK_SIZE / 4))
        return DTACT_OK; /* the thread already has one (ASan, the host program) */
    void *m = dtact__mem_map(DTACT__ALTSTACK_SIZE);
    if (m == NULL) return DTACT_ENOMEM;
    if (dtact__altstack_set(m, DTACT__ALTSTACK_SIZE) != 0) {
        dtact__mem_release(m, DTACT__ALTSTACK_SIZE);
        return DTACT_ESYS;
    }
    dtact__alt_mem = m;
    return DTACT_OK;
}

void dtact__thread_sigaltstack_fini(void) {
    if (dtact__alt_mem == NULL) return;
    dtact__altstack_clear();
    dtact__mem_release(dtact__alt_mem, DTACT__ALTSTACK_SIZE);
    dtact__alt_mem = NULL;
}
