/* core/prim_linux.c -- Linux implementation of core/prim.h, with
 * prim_uring.c (the readiness sets) and prim_sysfs.c (the kernel's text
 * files) the only files in core/ that make system calls.
 *
 * Memory. Every mapping is private and anonymous. A reservation is PROT_NONE
 * with MAP_NORESERVE; commit is mprotect(RW), which keeps MAP_NORESERVE, so a
 * committed stack is charged no swap and its pages appear when touched. purge is
 * madvise(MADV_DONTNEED): private anonymous pages read as zero afterwards. Guard
 * regions: madvise(MADV_GUARD_INSTALL), probed once (prim.h). The mapping budget
 * is vm.max_map_count and the line count of /proc/self/maps (open/read: no malloc).
 *
 * Fault signals. One sigaction handler (SA_SIGINFO | SA_ONSTACK) serves
 * SIGSEGV and SIGBUS: it calls the hook with si_addr; when the hook returns it
 * chains to the saved disposition: a SA_SIGINFO handler gets (sig, si, uc), a
 * plain one (sig), and SIG_DFL or SIG_IGN (which the kernel overrides for a
 * fault) is reinstalled as SIG_DFL before returning, so the faulting
 * instruction re-executes and takes the default action. The hook pointer is
 * published with release before sigaction and read with acquire by the
 * handler; the saved dispositions are written before sigaction installs the
 * handler that reads them, and only by install/restore, which the caller
 * serialises.
 *
 * Futexes are used private (FUTEX_PRIVATE_FLAG): every waiter and waker is in
 * this process. Timeouts are relative (FUTEX_WAIT takes a relative timespec).
 */
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"

/* -------------------------------------------------------- fault injection */
#if defined(DTACT_FAULT_INJECTION)
static _Atomic uint64_t fi_nth[DTACT__FAULT_KINDS], fi_calls[DTACT__FAULT_KINDS], fi_hits[DTACT__FAULT_KINDS];
static _Atomic int64_t fi_heap_live;

void dtact__fault_arm(int kind, uint64_t n) {
    atomic_store(&fi_nth[kind], 0);
    atomic_store(&fi_calls[kind], 0);
    atomic_store(&fi_hits[kind], 0);
    atomic_store(&fi_nth[kind], n);
}
uint64_t dtact__fault_calls(int kind) { return atomic_load(&fi_calls[kind]); }
uint64_t dtact__fault_hits(int kind) { return atomic_load(&fi_hits[kind]); }
int64_t dtact__fault_heap_live(void) { return atomic_load(&fi_heap_live); }

/* Counts a call of kind; 1 when this one must fail. */
static int fi_fail(int kind) {
    uint64_t c = atomic_fetch_add(&fi_calls[kind], 1) + 1;
    uint64_t n = atomic_load(&fi_nth[kind]);
    if (n == 0 || c != n) return 0;
    atomic_fetch_add(&fi_hits[kind], 1);
    return 1;
}
#define FI_FAIL(kind) DTACT_UNLIKELY(fi_fail(DTACT__FAULT_##kind))
#define FI_HEAP_LIVE(d) atomic_fetch_add(&fi_heap_live, (d))
#else
#define FI_FAIL(kind) 0
#define FI_HEAP_LIVE(d) ((void)0)
#endif

/* ----------------------------------------------------------------- memory */
static _Atomic size_t dtact__page; /* 0 until first asked */

size_t dtact__page_size(void) {
    size_t p = dtact__load_relaxed(&dtact__page); // relaxed: every thread computes the same value
    if (DTACT_UNLIKELY(p == 0)) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096u;
        dtact__store_relaxed(&dtact__page, p); // relaxed: idempotent cache of a constant
    }
    return p;
}

static void *dtact__mmap_anon(size_t len, int prot) {
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *dtact__mem_reserve(size_t len) { return FI_FAIL(RESERVE) ? NULL : dtact__mmap_anon(len, PROT_NONE); }

void *dtact__mem_map(size_t len) { return FI_FAIL(MAP) ? NULL : dtact__mmap_anon(len, PROT_READ | PROT_WRITE); }

int dtact__mem_commit(void *p, size_t len) {
    if (FI_FAIL(COMMIT)) return -1;
    return mprotect(p, len, PROT_READ | PROT_WRITE) == 0 ? 0 : -1;
}

int dtact__mem_protect(void *p, size_t len) {
    if (FI_FAIL(COMMIT)) return -1;
    return mprotect(p, len, PROT_NONE) == 0 ? 0 : -1;
}

void dtact__mem_hugepages(void *p, size_t len) { (void)madvise(p, len, MADV_HUGEPAGE); }

void dtact__mem_purge(void *p, size_t len) { (void)madvise(p, len, MADV_DONTNEED); }

void dtact__mem_release(void *p, size_t len) { (void)munmap(p, len); }

int dtact__mem_guard_install(void *p, size_t len) {
    return !FI_FAIL(COMMIT) && madvise(p, len, 102 /* MADV_GUARD_INSTALL, Linux 6.13 */) == 0 ? 0 : -1;
}

/* 1 when a guard region installed on a scratch page really guards it. */
static int dtact__guard_probe(void) {
    size_t pg = dtact__page_size();
    char *m = dtact__mmap_anon(2 * pg, PROT_READ | PROT_WRITE);
    int ok = 0, fd[2];
    if (m && madvise(m, pg, 102 /* MADV_GUARD_INSTALL */) == 0 && pipe2(fd, O_CLOEXEC) == 0) {
        errno = 0; /* the guarded page must fail with EFAULT, its neighbour pass */
        ok = write(fd[1], m, 1) < 0 && errno == EFAULT && write(fd[1], m + pg, 1) == 1;
        close(fd[0]), close(fd[1]);
    }
    if (m) munmap(m, 2 * pg);
    return ok;
}

int dtact__mem_guard_probed(void) {
    static _Atomic int state;            /* 0 unknown, 1 works, 2 does not */
    int s = dtact__load_relaxed(&state); // relaxed: a cached probe result, the same in every thread
    if (s == 0) dtact__store_relaxed(&state, s = dtact__guard_probe() ? 1 : 2); // relaxed: as above
    return s == 1;
}

/* Counts the lines of a /proc file (lines != 0) or parses its first number;
 * -1 when unreadable. */
static long dtact__read_proc(const char *path, int lines) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[4096];
    long n = 0, v = 0;
    int digits = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR)) {
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
    if (r < 0) return -1;
    return lines ? n : (digits != 0 ? v : -1);
}

long dtact__map_count_max(void) { return dtact__read_proc("/proc/sys/vm/max_map_count", 0); }

long dtact__map_count_now(void) { return dtact__read_proc("/proc/self/maps", 1); }

/* ------------------------------------------------------------------- heap */
void *dtact__heap_alloc(size_t align, size_t size) {
    if (FI_FAIL(HEAP)) return NULL;
    void *p = NULL;
    if (align == 0) p = malloc(size);
    else if (posix_memalign(&p, align, size) != 0) p = NULL;
    if (p) FI_HEAP_LIVE(1);
    return p;
}

void *dtact__heap_calloc(size_t n, size_t size) {
    if (FI_FAIL(HEAP)) return NULL;
    void *p = calloc(n, size);
    if (p) FI_HEAP_LIVE(1);
    return p;
}

void *dtact__heap_realloc(void *p, size_t size) {
    if (FI_FAIL(HEAP)) return NULL;
    void *q = realloc(p, size);
    if (q && !p) FI_HEAP_LIVE(1);
    return q;
}

void dtact__heap_free(void *p) {
    if (p) FI_HEAP_LIVE(-1);
    free(p);
}


/* ------------------------------------------------------------- randomness */
int dtact__random_bytes(void *buf, size_t len) {
    char *b = buf;
    while (len) {
        ssize_t r = getrandom(b, len, GRND_NONBLOCK);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        len -= (size_t)r;
    }
    return 0;
}

/* ---------------------------------------------------------- fault signals */
static _Atomic(dtact__fault_hook_t) dtact__hook;
static struct sigaction dtact__old_segv, dtact__old_bus; /* by install/restore only */

static void dtact__fault_handler(int sig, siginfo_t *si, void *uc) {
    int saved_errno = errno;
    // acquire: pairs with the release store in dtact__fault_hook_install
    dtact__fault_hook_t hook = dtact__load_acquire(&dtact__hook);
    if (hook) hook(si->si_addr);
    /* Not taken by the hook: the previous disposition. */
    struct sigaction *old = sig == SIGBUS ? &dtact__old_bus : &dtact__old_segv;
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
    } else if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
    }
    errno = saved_errno;
}

int dtact__fault_hook_install(dtact__fault_hook_t hook) {
    // release: pairs with the acquire load in dtact__fault_handler
    dtact__store_release(&dtact__hook, hook);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = dtact__fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &dtact__old_segv) != 0) goto fail;
    if (sigaction(SIGBUS, &sa, &dtact__old_bus) != 0) {
        sigaction(SIGSEGV, &dtact__old_segv, NULL);
        goto fail;
    }
    return 0;
fail:
    dtact__store_release(&dtact__hook, NULL); // release: as above (no hook)
    return -1;
}

/* Puts `old` back for sig, unless the application replaced our handler
 * meanwhile: its handler stays (it owns the signal now). */
static void dtact__restore_if_ours(int sig, const struct sigaction *old) {
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == dtact__fault_handler)
        sigaction(sig, old, NULL);
}

void dtact__fault_hook_restore(void) {
    dtact__restore_if_ours(SIGSEGV, &dtact__old_segv);
    dtact__restore_if_ours(SIGBUS, &dtact__old_bus);
    /* a fault already being delivered to our handler now chains directly */
    dtact__store_release(&dtact__hook, NULL); // release: pairs with the handler's acquire load
}

int dtact__altstack_present(size_t min_len) {
    stack_t cur;
    return sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= min_len;
}

int dtact__altstack_set(void *mem, size_t len) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = len;
    return sigaltstack(&ss, NULL) == 0 ? 0 : -1;
}

void dtact__altstack_clear(void) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
}

/* ----------------------------------------------------------------- output */
void dtact__write_stderr(const char *buf, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(2, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
}

/* ---------------------------------------------------------------- futexes */
int dtact__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT) return -1;
    return 0;
}

void dtact__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* ------------------------------------------------------------------- time */
uint64_t dtact__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dtact__sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void dtact__sleep_until_ns(uint64_t deadline) {
    struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    int r;
    while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR) {
    }
    (void)r;
}

/* ---------------------------------------------------------------- readiness */
int dtact__epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int dtact__epoll_add(int set, int fd, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = data;
    if (epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    if (errno != EEXIST) return -errno;
    /* Still watched from before (its earlier owner did not unwatch it): renew. */
    return epoll_ctl(set, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
}

int dtact__epoll_del(int set, int fd) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    return epoll_ctl(set, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : -errno;
}

static uint32_t io_bits(uint32_t e) {
    uint32_t r = 0;
    if (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) r |= DTACT__IO_IN;
    if (e & EPOLLRDHUP) r |= DTACT__IO_HUP; /* the peer's end of stream: a HUP of the read side */
    if (e & EPOLLOUT) r |= DTACT__IO_OUT;
    if (e & EPOLLERR) r |= DTACT__IO_ERR | DTACT__IO_IN | DTACT__IO_OUT; /* wake both sides: the call reports */
    if (e & EPOLLHUP) r |= DTACT__IO_HUP | DTACT__IO_IN | DTACT__IO_OUT;
    return r;
}

#if !defined(SYS_epoll_pwait2) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_epoll_pwait2 441
#endif

int dtact__epoll_wait(int set, dtact__io_event_t *out, int max, int64_t timeout_ns) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = -1;
#ifdef SYS_epoll_pwait2
    static _Atomic int no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) { // relaxed: a cached capability probe
        struct timespec ts, *tp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = (time_t)(timeout_ns / 1000000000);
            ts.tv_nsec = (long)(timeout_ns % 1000000000);
            tp = &ts;
        }
        n = (int)syscall(SYS_epoll_pwait2, set, evs, max, tp, NULL, 0);
        if (n < 0 && errno == ENOSYS) atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed); // relaxed: probe
    }
    if (n < 0 && atomic_load_explicit(&no_pwait2, memory_order_relaxed)) // relaxed: probe
#endif
    {
        int ms = timeout_ns < 0 ? -1
                                : (int)((timeout_ns + 999999) / 1000000 > 0x7fffffff ? 0x7fffffff
                                                                                     : (timeout_ns + 999999) / 1000000);
        n = epoll_wait(set, evs, max, ms);
    }
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].data = evs[i].data.u64;
        out[i].events = io_bits(evs[i].events);
    }
    return n;
}

int dtact__wakefd_create(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

void dtact__wakefd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one); /* EAGAIN: the count is full (2^64 - 1 writes) */
    (void)r;
}

int dtact__fd_close(int fd) { return close(fd) == 0 ? 0 : -errno; }

int dtact__poll_one(int fd, uint32_t events, int64_t timeout_ns) {
    struct pollfd p = {fd, (short)(events & (DTACT__IO_IN | DTACT__IO_OUT)), 0};
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    int n = ppoll(&p, 1, tp, NULL);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    if (n == 0) return 0;
    uint32_t r = 0;
    if (p.revents & POLLIN) r |= DTACT__IO_IN;
    if (p.revents & POLLOUT) r |= DTACT__IO_OUT;
    if (p.revents & POLLERR) r |= DTACT__IO_ERR;
    if (p.revents & POLLHUP) r |= DTACT__IO_HUP;
    if (p.revents & POLLNVAL) return -EBADF;
    return (int)r;
}

/* ---------------------------------------------------------------- threads */
int dtact__thread_start(dtact__thread_t *t, void *(*fn)(void *), void *arg, const char *name) {
    if (FI_FAIL(THREAD)) return EAGAIN;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (r != 0) return r;
    if (name) pthread_setname_np(th, name);
    t->id = (unsigned long)th;
    return 0;
}

void dtact__thread_join(dtact__thread_t *t) { pthread_join((pthread_t)t->id, NULL); }

int dtact__thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size) {
    if (FI_FAIL(THREAD)) return EAGAIN;
    pthread_t th;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return EAGAIN;
    pthread_attr_setstacksize(&attr, stack_size);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return r;
}

void dtact__thread_set_name(const char *name) { pthread_setname_np(pthread_self(), name); }

static pthread_key_t dtact__exit_key;
static pthread_once_t dtact__exit_once = PTHREAD_ONCE_INIT;
static _Atomic(void (*)(void *)) dtact__exit_fn; /* one watcher function for the process (the loop's) */
static int dtact__exit_key_ok;

static void dtact__exit_destructor(void *arg) {
    void (*fn)(void *) = dtact__load_relaxed(&dtact__exit_fn); // relaxed: stored earlier by this same thread
    if (arg && fn) fn(arg);
}
static void dtact__exit_key_init(void) {
    dtact__exit_key_ok = pthread_key_create(&dtact__exit_key, dtact__exit_destructor) == 0;
}

int dtact__thread_exit_watch(void (*fn)(void *), void *arg) {
    pthread_once(&dtact__exit_once, dtact__exit_key_init);
    if (!dtact__exit_key_ok) return -1;
    dtact__store_relaxed(&dtact__exit_fn,
                         fn); // relaxed: every watcher stores the same function; read back by its own thread
    return pthread_setspecific(dtact__exit_key, arg) == 0 ? 0 : -1;
}

void dtact__thread_exit_unwatch(void) {
    if (dtact__exit_key_ok) pthread_setspecific(dtact__exit_key, NULL); /* NULL values get no destructor call */
}

int dtact__on_fork_child(void (*fn)(void)) { return pthread_atfork(NULL, NULL, fn) == 0 ? 0 : -1; }

void dtact__thread_yield(void) { sched_yield(); }

/* ------------------------------------------------------- process barriers */
int dtact__membarrier_register(void) {
#if defined(__NR_membarrier)
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return -1;
    return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

int dtact__membarrier(void) {
#if defined(__NR_membarrier)
    return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) == 0 ? 0 : -1;
#else
    return -1;
#endif
}
