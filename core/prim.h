/* core/prim.h -- every operating-system service the core uses, behind one
 * contract (the habit of mimalloc's prim.h). Linux: core/prim_linux.c; a port
 * to another OS is one new prim_<os>.c. No other file in core/ makes a system
 * call or calls a libc system-call wrapper (mmap, sigaction, getrandom, open,
 * write, sysconf, ...); they call the functions below.
 *
 * Concerns, in order: memory (reserve / map / commit / protect / purge /
 * release, and the budget of mappings a process may have), randomness, fault
 * signals (one process-wide SIGSEGV/SIGBUS hook that chains to the previous
 * disposition, and per-thread alternate signal stacks), signal-safe output,
 * futexes, time, threads, CPU topology.
 *
 * Unless a line says otherwise a function may be called from any thread, and
 * none of them is async-signal-safe except those marked so.
 */
#ifndef DTACT_CORE_PRIM_H
#define DTACT_CORE_PRIM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ----------------------------------------------------------------- memory
 * Lengths and addresses passed to commit/protect/purge/release are page
 * multiples inside one region obtained from reserve or map. */
/* The page size in bytes (a power of two; constant for the process). */
size_t dtact__page_size(void);
/* Reserves len bytes of address space: inaccessible, costs no memory and no
 * swap reservation. NULL on failure. */
void *dtact__mem_reserve(size_t len);
/* Maps len bytes read-write, without swap reservation, zero-filled lazily (a
 * page costs memory when first touched). NULL on failure. */
void *dtact__mem_map(size_t len);
/* Makes [p, p+len) of a reservation read-write (zero-filled lazily): 0, or -1
 * when the OS refuses (out of memory or out of mappings). */
int dtact__mem_commit(void *p, size_t len);
/* Makes [p, p+len) inaccessible (a guard): 0, or -1. */
int dtact__mem_protect(void *p, size_t len);
/* Lets the OS back [p, p+len) of a mapping with huge pages where it can
 * (transparent huge pages; advisory: no effect where they are off). */
void dtact__mem_hugepages(void *p, size_t len);
/* Gives the pages of [p, p+len) back to the OS; the range stays accessible and
 * reads as zero afterwards. */
void dtact__mem_purge(void *p, size_t len);
/* Unmaps [p, p+len) (a whole region from reserve or map). */
void dtact__mem_release(void *p, size_t len);
/* Lightweight guard regions (Linux 6.13+ MADV_GUARD_INSTALL): an access to a
 * guarded page faults (SIGSEGV at the address) like PROT_NONE, but the pages
 * are marked in the page tables, inside the read-write mapping, so a guard
 * costs no mapping (no vm.max_map_count entry) and no memory; purge keeps it.
 * dtact__mem_guard_probed: 1 when they work here, 0 when not (an older
 * kernel answers EINVAL; an emulator that accepts the advice without acting
 * on it is caught by a probe: a system call must fail with EFAULT reading a
 * guarded page). The probe runs once per process.
 * dtact__mem_guard_install: guards [p, p+len) of a read-write range: 0 or -1. */
int dtact__mem_guard_probed(void);
int dtact__mem_guard_install(void *p, size_t len);
/* The most mappings the process may have (vm.max_map_count), or <= 0 unknown. */
long dtact__map_count_max(void);
/* The mappings the process has now, or -1 unknown. */
long dtact__map_count_now(void);

/* ------------------------------------------------------------------- heap
 * Every heap allocation of the library goes through these (so that the fault
 * injection hook below sees it). align is a power of two >= sizeof(void *),
 * or 0 for malloc's alignment. NULL on failure. Memory from any of them is
 * given back with dtact__heap_free (NULL is ignored). */
void *dtact__heap_alloc(size_t align, size_t size);
void *dtact__heap_calloc(size_t n, size_t size);
void *dtact__heap_realloc(void *p, size_t size);
void dtact__heap_free(void *p);

/* ------------------------------------------------------------- randomness */
/* Fills buf with len random bytes from the OS without blocking: 0, or -1 when
 * none are available (buf is then unspecified). */
int dtact__random_bytes(void *buf, size_t len);

/* ---------------------------------------------------------- fault signals */
/* The hook run, on the faulting thread (on its alternate stack if it has
 * one), for every SIGSEGV/SIGBUS: addr is the faulting address. It must be
 * async-signal-safe. If it returns, the fault goes to the disposition that
 * was in place before dtact__fault_hook_install (handler, or default action). */
typedef void (*dtact__fault_hook_t)(void *addr);
/* Installs hook for SIGSEGV and SIGBUS, saving the previous dispositions:
 * 0, or -1 (nothing changed). Not reentrant: the caller serialises install
 * and restore, and calls install only when no hook is installed. */
int dtact__fault_hook_install(dtact__fault_hook_t hook);
/* Puts the saved dispositions back (after a successful install). */
void dtact__fault_hook_restore(void);
/* (Restore leaves a disposition the application installed after ours alone.) */
/* Does the calling thread already have an alternate signal stack of at least
 * min_len bytes? 1 or 0. */
int dtact__altstack_present(size_t min_len);
/* Makes [mem, mem+len) the calling thread's alternate signal stack: 0 or -1. */
int dtact__altstack_set(void *mem, size_t len);
/* Disables the calling thread's alternate signal stack. */
void dtact__altstack_clear(void);

/* ----------------------------------------------------------------- output */
/* Writes len bytes to stderr, retrying short writes. Async-signal-safe. */
void dtact__write_stderr(const char *buf, size_t len);

/* ---------------------------------------------------------------- readiness (reactor.c) */
/* Event bits, the values of poll(2)'s POLLIN/POLLOUT/POLLERR/POLLHUP (dtact.h's DTACT_IO_*). */
#define DTACT__IO_IN 0x001u
#define DTACT__IO_OUT 0x004u
#define DTACT__IO_ERR 0x008u
#define DTACT__IO_HUP 0x010u
#define DTACT__IO_OP 0x100u /* not readiness: an operation of dtact__ioset_op completed */
typedef struct dtact__io_event_s {
    uint64_t data;   /* what was registered with the fd; DTACT__IO_OP: the operation's tag */
    uint32_t events; /* DTACT__IO_*                                                         */
    int32_t res;     /* DTACT__IO_OP: the operation's result (bytes, or -errno)             */
} dtact__io_event_t;
/* Backends of a readiness set (core/prim_uring.c; the epoll one in
 * prim_linux.c). Both give edge-triggered IN|OUT readiness of watched fds. */
#define DTACT__IO_EPOLL 1u /* epoll(7), edge-triggered                                  */
#define DTACT__IO_URING 2u /* io_uring: a multishot IORING_OP_POLL_ADD per watched fd */
/* The backend a new runtime uses, chosen once per runtime creation from the
 * environment variable DTACT_IO_BACKEND (epoll, io_uring, auto; unset = auto)
 * and a probe of the kernel (cached for the process). auto: io_uring when the
 * kernel has what the backend needs (Linux >= 6.0: multishot poll, the
 * synchronous cancel), else epoll. *why (never NULL) is set to a static
 * sentence to report as a warning when the choice is not what was asked for
 * (io_uring forced but unavailable, an unknown value), else to NULL. */
uint32_t dtact__io_backend_choose(const char **why);
/* A readiness set: created by its owner thread, which alone adds fds to it
 * and waits in it; any thread may delete an fd from it. */
typedef struct dtact__ioset_s dtact__ioset_t;
/* Creates a set of the backend: 0 and *out, or -errno (the io_uring backend
 * also fails with -ENOSYS when this build has no io_uring support). */
int dtact__ioset_create(uint32_t backend, dtact__ioset_t **out);
void dtact__ioset_close(dtact__ioset_t *set); /* NULL is ignored; quiescent (no other caller) */
uint32_t dtact__ioset_backend(const dtact__ioset_t *set);
/* Watches fd for IN|OUT (edge-triggered, read hang-up included): 0, or
 * -errno (-EPERM: fd cannot be watched, a regular file). Owner thread only.
 * An fd still watched (with other data) is watched again with data. The low
 * half of data is fd or all ones (the io_uring set keeps only the high half:
 * 8 bytes per fd); other data fails with -EINVAL. */
int dtact__ioset_add(dtact__ioset_t *set, int fd, uint64_t data);
/* Stops watching fd; any thread. When it returns the set holds no reference
 * to the file (io_uring: the poll is removed), so that a close(2) that
 * follows releases it. 0, or -errno (-ENOENT: not watched). */
int dtact__ioset_del(dtact__ioset_t *set, int fd);
/* Owner thread: waits up to timeout_ns (< 0: forever, 0: poll) for events:
 * their count (0 on timeout or EINTR), or -errno. Nanosecond timeouts (epoll:
 * where the kernel has epoll_pwait2, else rounded up to milliseconds). */
int dtact__ioset_wait(dtact__ioset_t *set, dtact__io_event_t *out, int max, int64_t timeout_ns);
/* Operations completed by the kernel (io_uring sets only; owner thread).
 * dtact__ioset_op queues a receive (DTACT__OP_RECV) or a send (DTACT__OP_SEND)
 * of len bytes at buf on socket fd with MSG_* flags; it is submitted with the
 * set's next wait (or sooner, when the queue is full), and its completion
 * comes back from dtact__ioset_wait as an event {tag, DTACT__IO_OP, result}.
 * buf must stay valid until then. 0, or -errno (-EOPNOTSUPP: the set is not
 * an io_uring one; -EAGAIN: the kernel takes no more submissions now). tag
 * is even and non-zero. dtact__ioset_op_cancel asks the kernel to end the
 * operation of tag early (its completion still comes, with -ECANCELED or
 * its result if it won the race): queued on the owner's ring when own, else
 * a synchronous cancel, which any thread may make. It returns 1 when the
 * kernel has the cancel (or cannot take one: a kernel without the
 * synchronous cancel), 0 when the operation was not found: it completed
 * already, or its owner has not submitted it yet, so the caller asks again
 * until the completion comes. */
#define DTACT__OP_RECV 1
#define DTACT__OP_SEND 2
/* One non-blocking recv(2) or send(2) (op), whatever the fd's mode: bytes, or -errno. */
ptrdiff_t dtact__sock_xfer(int op, int fd, void *buf, size_t len, int flags);
int dtact__ioset_op(dtact__ioset_t *set, int op, int fd, void *buf, size_t len, int flags, uint64_t tag);
int dtact__ioset_op_cancel(dtact__ioset_t *set, uint64_t tag, int own);
/* The epoll backend (prim_linux.c), called by prim_uring.c only: an epoll
 * descriptor >= 0 or -errno; add renews an fd already in the set (EEXIST). */
int dtact__epoll_create(void);
int dtact__epoll_add(int ep, int fd, uint64_t data);
int dtact__epoll_del(int ep, int fd);
int dtact__epoll_wait(int ep, dtact__io_event_t *out, int max, int64_t timeout_ns);
/* An eventfd to interrupt a wait: create (>= 0 or -errno), signal (each
 * signal wakes an edge-triggered watch of it; reactor.c never drains it). */
int dtact__wakefd_create(void);
void dtact__wakefd_signal(int fd);
/* close(2): 0 or -errno. */
int dtact__fd_close(int fd);
/* poll(2) on one descriptor: the ready DTACT__IO_* bits, 0 on timeout, -errno. */
int dtact__poll_one(int fd, uint32_t events, int64_t timeout_ns);

/* ---------------------------------------------------------------- futexes */
/* Sleeps while *addr == expected, at most timeout_ns (< 0: forever). Returns 0
 * when woken or the value differed, -1 on timeout. Spurious returns happen. */
int dtact__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);
/* Wakes up to n threads sleeping on addr (n = INT32_MAX: all). */
void dtact__futex_wake(_Atomic uint32_t *addr, int n);

/* ------------------------------------------------------------------- time */
/* Monotonic nanoseconds. */
uint64_t dtact__now_ns(void);
/* Sleeps the calling thread until dtact__now_ns() >= deadline (absolute, CLOCK_MONOTONIC). */
void dtact__sleep_until_ns(uint64_t deadline);
/* Sleeps ns nanoseconds (resumes after signals). */
void dtact__sleep_ns(uint64_t ns);

/* ---------------------------------------------------------------- threads */
typedef struct dtact__thread_s {
    unsigned long id; /* pthread_t */
} dtact__thread_t;

/* Starts fn(arg) on a new thread named `name`. Returns 0 or an errno value. */
int dtact__thread_start(dtact__thread_t *t, void *(*fn)(void *), void *arg, const char *name);
/* Waits for a thread started by dtact__thread_start to end. */
void dtact__thread_join(dtact__thread_t *t);
/* Starts fn(arg) on a new detached thread (nobody joins it; its resources go
 * back when fn returns) with a stack of stack_size bytes. 0 or an errno value
 * (fault injection: DTACT__FAULT_THREAD). */
int dtact__thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size);
/* Names the calling thread (at most 15 characters are kept). */
void dtact__thread_set_name(const char *name);
/* Thread-exit watch: after dtact__thread_exit_watch(fn, arg), fn(arg) runs if
 * the calling thread ends (pthread_exit, cancellation) before it calls
 * dtact__thread_exit_unwatch(). 0 or -1. */
int dtact__thread_exit_watch(void (*fn)(void *), void *arg);
void dtact__thread_exit_unwatch(void);
/* Runs fn in the child after every fork() of the process (pthread_atfork);
 * call once. 0 or -1. */
int dtact__on_fork_child(void (*fn)(void));
/* Lets another ready thread run on this CPU (a hint; returns at once when
 * none is ready). */
void dtact__thread_yield(void);
int dtact__thread_schedstat(int *fd, uint64_t *cpu_ns, uint64_t *delay_ns);

/* ------------------------------------------------------- process barriers
 * The heavy side of an asymmetric fence (sysmon.c): dtact__membarrier makes
 * every other running thread of the process execute a full memory barrier
 * before it returns, so a thread that orders its own accesses with a compiler
 * barrier only still cannot have a store reordered after a later load across
 * it. Register once (0, or -1 when the kernel lacks it, Linux < 4.14 or a
 * filter); then each call returns 0, or -1 (the barrier did not happen). */
int dtact__membarrier_register(void);
int dtact__membarrier(void);

/* --------------------------------------------------------------- topology */
/* Online CPUs (>= 1). */
uint32_t dtact__cpu_count(void);
/* Topology groups of `cpu`: the id of its L3 cache domain (CCX) and of its
 * NUMA node, read from /sys; both 0 when unknown. */
void dtact__cpu_groups(uint32_t cpu, uint32_t *ccx, uint32_t *numa);

/* -------------------------------------------------------- fault injection
 * Test builds only (CMake -DDTACT_FAULT_INJECTION=ON; never in a release):
 * dtact__fault_arm(kind, n) makes the n-th call of that kind from now fail
 * once, as the OS would (mem_*: NULL or -1; thread_start: EAGAIN; heap: NULL).
 * n = 0 disarms. Counting is process-wide and thread-safe. */
#if defined(DTACT_FAULT_INJECTION)
enum dtact__fault_kind {
    DTACT__FAULT_MAP,     /* dtact__mem_map                                  */
    DTACT__FAULT_RESERVE, /* dtact__mem_reserve                              */
    DTACT__FAULT_COMMIT,  /* dtact__mem_commit and dtact__mem_protect        */
    DTACT__FAULT_THREAD,  /* dtact__thread_start                             */
    DTACT__FAULT_HEAP,    /* dtact__heap_alloc / _calloc / _realloc          */
    DTACT__FAULT_KINDS
};
/* Arms kind to fail its n-th call from now (0: disarm); resets its counters. */
void dtact__fault_arm(int kind, uint64_t n);
/* Calls of kind since it was last armed. */
uint64_t dtact__fault_calls(int kind);
/* Failures injected into kind since it was last armed (0 or 1). */
uint64_t dtact__fault_hits(int kind);
/* Heap blocks allocated through dtact__heap_* and not yet freed. */
int64_t dtact__fault_heap_live(void);
#endif

#endif /* DTACT_CORE_PRIM_H */
