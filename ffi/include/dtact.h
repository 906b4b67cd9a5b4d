/* dtact.h -- the stable C ABI of Dtact, a stackful fiber runtime.
 *
 * Conventions
 *  - Every function is callable from any thread unless its comment says
 *    "fiber only" (must run on a Dtact fiber) or "host only" (must not).
 *  - Functions returning int return DTACT_OK (0) or a negative DTACT_E* code;
 *    dtact_strerror() explains each. Functions returning a handle return
 *    DTACT_INVALID_HANDLE (0) on failure and leave the code in dtact_last_error().
 *  - Same major version => ABI compatible (ffi/dtact.map has one node per release).
 *  - C++: include as is; everything is extern "C".
 *
 * A program written against the original dtact.h (0.2.x: the C header of the
 * original Dtact, the earlier Rust implementation) compiles and runs
 * unchanged: the type names, field names, sizes and codes and the twelve
 * original functions are kept. Where the original returned void, some
 * functions now return an int status, which old callers may ignore.
 */
#ifndef DTACT_H
#define DTACT_H

#include <stddef.h>
#include <stdint.h>
/* Not needed by the declarations below, but the original dtact.h included them, and programs
 * written against it use bool, va_list, malloc/free without including them themselves. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- export */
#if defined(_WIN32)
#if defined(BUILDING_DTACT_SHARED)
#define DTACT_API __declspec(dllexport)
#elif defined(USING_DTACT_SHARED)
#define DTACT_API __declspec(dllimport)
#else
#define DTACT_API
#endif
#elif defined(__GNUC__)
#define DTACT_API __attribute__((visibility("default")))
#else
#define DTACT_API
#endif

#if defined(__cplusplus) && __cplusplus >= 201103L
#define DTACT_NORETURN [[noreturn]]
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define DTACT_NORETURN _Noreturn
#elif defined(__GNUC__)
#define DTACT_NORETURN __attribute__((noreturn))
#else
#define DTACT_NORETURN
#endif

/* --------------------------------------------------------------- version */
#define DTACT_VERSION_MAJOR 0
#define DTACT_VERSION_MINOR 4
#define DTACT_VERSION_PATCH 0
#define DTACT_VERSION_HEX ((DTACT_VERSION_MAJOR << 16) | (DTACT_VERSION_MINOR << 8) | DTACT_VERSION_PATCH)

/* dtact_version() returns the library's DTACT_VERSION_HEX (may differ from the header's). */
DTACT_API uint32_t dtact_version(void);
/* dtact_version_string() returns "major.minor.patch"; static storage. */
DTACT_API const char *dtact_version_string(void);

/* ---------------------------------------------------------------- errors */
#define DTACT_OK 0
#define DTACT_EINVAL (-1)       /* an argument or option code is out of range            */
#define DTACT_ENOTINIT (-2)     /* no runtime: dtact_init was not called (or destroyed)  */
#define DTACT_EALREADY (-3)     /* already initialised / already running                 */
#define DTACT_EHANDLE (-4)      /* handle never issued, forged or out of range           */
#define DTACT_ENULLFN (-5)      /* NULL function pointer                                 */
#define DTACT_ECONFIG (-6)      /* invalid configuration value                           */
#define DTACT_EEXHAUSTED (-7)   /* fiber or stack pool exhausted                         */
#define DTACT_ESHUTDOWN (-8)    /* the runtime is shutting down or shut down             */
#define DTACT_ETIMEDOUT (-9)    /* the timeout expired first (also a try-join that would wait) */
#define DTACT_EDEADLK (-10)     /* a fiber tried to await or join itself                 */
#define DTACT_ECANCELED (-11)   /* the fiber was cancelled before it ran                 */
#define DTACT_ENOMEM (-12)      /* a memory mapping or allocation failed                 */
#define DTACT_ESTALE (-13)      /* the fiber finished and its record was already released */
#define DTACT_EPERM (-14)       /* not allowed from this context (fiber vs host thread)  */
#define DTACT_ESYS (-15)        /* a system call failed (thread creation, ...)           */
#define DTACT_ENOTRUNNING (-16) /* the workers are not running and the call would block forever */
#define DTACT_EBUSY (-17)       /* a try-call would have to wait; an object still has waiters */
#define DTACT_ECLOSED (-18)     /* the channel is closed                                 */
#define DTACT_ERR_MIN (-18)

/* dtact_strerror() returns a static, never-NULL English message for any code. */
DTACT_API const char *dtact_strerror(int code);
/* dtact_last_error() returns the code left by the last failing call on this thread (or DTACT_OK). */
DTACT_API int dtact_last_error(void);

/* Warnings: a value the original Dtact accepted but this one changes (a
 * configuration field clamped, rounded up or ignored) is reported, not
 * rejected. `code` is one of DTACT_WARN_*, `message` a static English
 * sentence naming the field and what was done. The default handler prints
 * "dtact: warning: <message>" to stderr. */
#define DTACT_WARN_CONFIG_ADJUSTED 1 /* a configuration value was clamped, rounded up or mapped */
#define DTACT_WARN_CONFIG_IGNORED 2  /* a configuration value has no effect in this build       */
#define DTACT_WARN_IO_BACKEND 3      /* the I/O backend asked for is unavailable: epoll is used    */
typedef void (*dtact_warning_fn)(int code, const char *message, void *user);
/* dtact_set_warning_handler() installs fn (NULL: drop warnings) for the whole
 * process and returns the previous handler; thread-safe. Calls to fn are
 * made on the thread that caused the warning (for configuration warnings,
 * the caller of dtact_init). dtact_reset_warning_handler() restores the default. */
DTACT_API dtact_warning_fn dtact_set_warning_handler(dtact_warning_fn fn, void *user);
DTACT_API void dtact_reset_warning_handler(void);

/* ---------------------------------------------------------------- handle */
/* dtact_handle_t names one fiber. A plain value: nothing to free. Bit 63 is
 * set on every valid handle; the rest holds a slot index and a 39-bit
 * generation, so a handle to a recycled slot is recognised as finished. */
typedef uint64_t dtact_handle_t;
#define DTACT_INVALID_HANDLE ((dtact_handle_t)0)

/* ---------------------------------------------------------------- config */
/* dtact_config_t: 0 in any field means "use the default" (see dtact_default_config).
 * 16 bytes, 4-byte aligned, field for field the original's layout. Every value
 * the original Dtact accepted is accepted: values this library treats
 * differently are adjusted and reported through the warning handler (above);
 * only a stack size above 64 MiB is rejected (DTACT_ECONFIG). */
typedef struct dtact_config_t {
    uint32_t mWorkers;     /* worker threads; 0 = one per online CPU; above 1024: 1024 (warning) */
    uint8_t mSafetyLevel;  /* 0: canary only; 1, 2: guard page below every stack while the
                                process's map budget allows, canary beyond (1 and 2 are equal);
                                above 2: 1 (warning), as in the original */
    uint8_t mTopologyMode; /* 0 P2P mesh; 1 global (deflect on load alone, ignore groups);
                                above 1: 0 (warning), as in the original */
    uint8_t mNuma;         /* NUMA node for the arena in the original; not supported: ignored (warning) */
    /* one padding byte, implicit as in the original, so positional initialisers keep their meaning */
    uint32_t mFiberCapacity; /* fibers that can be live at once (at least; records idle in worker
                                caches, up to 64 per worker, are added); 0 = 65536; above 16777215:
                                clamped (warning) */
    uint32_t mStackSize;     /* default stack bytes; 0 = 262144; 16 KiB .. 64 MiB, rounded up to a size
                                class (16, 64, 256 KiB, 1, 8, 64 MiB); below 16 KiB: 16 KiB (warning);
                                above 64 MiB: ECONFIG */
} dtact_config_t;

#define DTACT_PRIORITY_LOW 0
#define DTACT_PRIORITY_NORMAL 1
#define DTACT_PRIORITY_HIGH 2
#define DTACT_PRIORITY_CRITICAL 3

#define DTACT_AFFINITY_SAME_CORE 0 /* pinned to the worker it is first queued on      */
#define DTACT_AFFINITY_SAME_CCX 1  /* may move among workers sharing its L3 cache      */
#define DTACT_AFFINITY_SAME_NUMA 2 /* may move among workers of its NUMA node          */
#define DTACT_AFFINITY_ANY 3       /* may move anywhere (the default)                   */

#define DTACT_KIND_COMPUTE 0 /* hints (see docs/scheduler.md): Compute and Memory fibers */
#define DTACT_KIND_IO 1      /* are deflected first; IO and System fibers stay local     */
#define DTACT_KIND_MEMORY 2
#define DTACT_KIND_SYSTEM 3

#define DTACT_SWITCHER_CROSS_THREAD_FLOAT 0
#define DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT                                                                           \
    1                                         /* "no float": the FP control state (rounding,
                                                 exceptions) is the worker's, shared by its
                                                 no-float fibers; workers start with the
                                                 default (round to nearest, all masked) */
#define DTACT_SWITCHER_SAME_THREAD_FLOAT 2    /* implies pinning */
#define DTACT_SWITCHER_SAME_THREAD_NO_FLOAT 3 /* implies pinning */

/* dtact_spawn_options_t: four codes; out-of-range codes make a launch fail with DTACT_EINVAL. */
typedef struct dtact_spawn_options_t {
    uint8_t mPriority;
    uint8_t mAffinity;
    uint8_t mKind;
    uint8_t mSwitcher;
} dtact_spawn_options_t;

/* dtact_default_config() returns {0, 1, 0, 0, 0, 0, 0}: every default. Pure. */
DTACT_API dtact_config_t dtact_default_config(void);
/* dtact_default_spawn_options() returns {Normal, Any, Compute, CrossThreadFloat}. Pure.
 * (The original defaulted to SameCore, which pinned every fiber to one worker.) */
DTACT_API dtact_spawn_options_t dtact_default_spawn_options(void);

/* ------------------------------------------------------------- lifecycle */
/* dtact_init() builds the process-wide runtime (arena, workers' state; no
 * threads yet) and returns it; NULL on failure (dtact_last_error(): ECONFIG,
 * EALREADY if one exists, ENOMEM). NULL cfg means defaults. */
DTACT_API void *dtact_init(const dtact_config_t *cfg);
/* dtact_run() starts the workers and blocks until dtact_shutdown() has been
 * called and every fiber has finished or been cancelled. Host only. Errors:
 * ENOTINIT, EINVAL (rt is not the runtime), EALREADY (already running or
 * started), EPERM (called on a fiber), ESHUTDOWN (already shut down), ESYS.
 * rt may be NULL, meaning the runtime (the original ignored its argument). */
DTACT_API int dtact_run(void *rt);
/* dtact_start() starts the workers and returns at once (for embedders); stop
 * with dtact_shutdown() then dtact_destroy(). Errors as dtact_run. */
DTACT_API int dtact_start(void *rt);
/* dtact_shutdown() asks the runtime to stop and returns at once; callable from
 * fibers and threads. Policy: new launches fail with ESHUTDOWN; fibers queued
 * but never started are cancelled (their cleanup runs, their joiners get
 * ECANCELED); started fibers are woken from every blocking call, which then
 * returns ESHUTDOWN, and run to completion. Idempotent. Returns ENOTINIT
 * without a runtime. */
DTACT_API int dtact_shutdown(void);
/* Process-level rules.
 *  - fork(): a child forked after dtact_init has no worker threads, so the
 *    parent's runtime does not exist there: calls return ENOTINIT, and the
 *    child may dtact_init a runtime of its own (the parent's stays mapped).
 *  - A fiber must not call pthread_exit (nor be the target of pthread_cancel):
 *    its worker thread would end with it, stranding the fibers queued there.
 *    Dtact detects it and ends the process with a message naming the fiber.
 *  - SIGSEGV/SIGBUS: dtact_init installs a handler that reports stack
 *    overflows (naming the fiber) and passes every other fault to the handler
 *    found at init. An application that installs its own handler later should
 *    chain to the previous one to keep those reports; dtact_destroy leaves a
 *    handler installed after init in place.
 *  - Fiber code should be compiled with -fstack-clash-protection (the library
 *    is), so a frame larger than a page hits the guard page instead of jumping
 *    it; a stack pointer found outside its stack at a switch is reported too.
 * dtact_destroy() waits for the workers to exit (after dtact_shutdown), then
 * frees every byte of the runtime; dtact_init() may then be called again.
 * Host only. A runtime that never ran is destroyed at once (its queued fibers
 * are cancelled). It calls dtact_shutdown() itself if that was not done.
 * Errors: ENOTINIT, EINVAL (rt is not the runtime), EPERM (on a fiber).
 * rt may be NULL, meaning the runtime. */
DTACT_API int dtact_destroy(void *rt);

/* dtact_set_stack_guard_size() sets the inaccessible gap below every guarded
 * stack of the runtimes created after the call (default 0: one page, 4 KiB),
 * rounded up to pages. The gap is reserved address space, not memory: a
 * larger gap also catches frames of code built without -fstack-clash-
 * protection that jump a single page. Errors: EINVAL above 1 MiB. */
DTACT_API int dtact_set_stack_guard_size(size_t bytes);

/* dtact_set_deflection_threshold() tunes one worker: above `queued` queued
 * fibers (default 256, at least 32) it hands chunks of its work to a less
 * loaded peer (docs/scheduler.md). Callable from any thread, any time after
 * dtact_init. Errors: ENOTINIT, EINVAL (no such worker, or queued < 32). */
DTACT_API int dtact_set_deflection_threshold(uint32_t worker, uint32_t queued);

/* ---------------------------------------------------------------- spawn */
/* dtact_fiber_launch() runs func(arg) once on a new fiber with default options
 * and returns its handle at once. The caller owns arg, which must outlive the
 * fiber. Before the workers start, the fiber waits in a queue. Returns 0 and
 * sets dtact_last_error() on ENOTINIT, ENULLFN, EEXHAUSTED, ESHUTDOWN. */
DTACT_API dtact_handle_t dtact_fiber_launch(void (*func)(void *), void *arg);
/* dtact_fiber_launch_ext(): the same with options; NULL opts means defaults; EINVAL on bad codes. */
DTACT_API dtact_handle_t dtact_fiber_launch_ext(void (*func)(void *), void *arg, const dtact_spawn_options_t *opts);
/* dtact_fiber_launch_with_cleanup(): cleanup(arg) runs exactly once: on the
 * fiber after func returns and before the fiber counts as finished, or at
 * shutdown if the fiber is cancelled. NULL cleanup means none. */
DTACT_API dtact_handle_t dtact_fiber_launch_with_cleanup(void (*func)(void *), void *arg, void (*cleanup)(void *));
/* dtact_fiber_launch_with_cleanup_ext(): cleanup plus options. */
DTACT_API dtact_handle_t dtact_fiber_launch_with_cleanup_ext(void (*func)(void *), void *arg, void (*cleanup)(void *),
                                                             const dtact_spawn_options_t *opts);

#define DTACT_SPAWN_JOINABLE 0x1u     /* keep the record (and result) until dtact_join or dtact_detach */
#define DTACT_SPAWN_WAIT_IF_FULL 0x2u /* on a full pool, wait (yield / sleep) up to wait_ns, then EEXHAUSTED */

/* dtact_spawn_attr_t: everything a spawn can say. Zero-initialise, then set fields. */
typedef struct dtact_spawn_attr_t {
    dtact_spawn_options_t options; /* all zero is NOT the default: use dtact_spawn_attr_init */
    uint32_t flags;                /* DTACT_SPAWN_*                                        */
    uint32_t stack_size;           /* 0: the runtime's default; at most 64 MiB (EINVAL
                                      above), rounded up to a size class: 16, 64, 256 KiB,
                                      1, 8, 64 MiB                                          */
    uint32_t reserved;             /* must be 0                                             */
    uint64_t wait_ns;              /* with DTACT_SPAWN_WAIT_IF_FULL                         */
    void (*cleanup)(void *arg);    /* as dtact_fiber_launch_with_cleanup                    */
} dtact_spawn_attr_t;

/* dtact_spawn_attr_init() fills *attr with the default options and no flags. */
DTACT_API void dtact_spawn_attr_init(dtact_spawn_attr_t *attr);
/* dtact_spawn() runs result = func(arg) on a new fiber; *out gets its handle.
 * NULL attr means defaults. A joinable fiber's result is returned by dtact_join.
 * *out is written before the new fiber can start (the fiber may read it there).
 * Errors: ENOTINIT, ENULLFN, EINVAL (out NULL, bad codes or stack size),
 * EEXHAUSTED, ESHUTDOWN.
 * Exhaustion: a spawn takes a fiber record, and EEXHAUSTED means all
 * mFiberCapacity records are in use (with DTACT_SPAWN_WAIT_IF_FULL, after
 * waiting up to wait_ns). A fiber takes its stack only when it first runs:
 * when every stack of its size class is in use it waits, without spinning,
 * until one is released (or shutdown cancels it); a spawn never fails for
 * want of a stack, except dtact_spawn_inline's large payloads below. When the
 * kernel refuses the memory of a stack's first use (ENOMEM from the commit),
 * the fiber waits the same way and the commit is retried, after 1 ms and then
 * at doubling intervals up to 128 ms, until it succeeds or shutdown. */
DTACT_API int dtact_spawn(dtact_handle_t *out, void *(*func)(void *), void *arg, const dtact_spawn_attr_t *attr);

/* DTACT_INLINE_MAX: the largest payload dtact_spawn_inline accepts. */
#define DTACT_INLINE_MAX 8192u
/* dtact_spawn_inline() copies `size` bytes from `payload` (aligned to
 * `align`, a power of two <= 64) into memory owned by the new fiber and runs
 * func(copy) on it, in place, with no heap allocation (the Rust crate places
 * futures this way). A payload of up to 256 bytes (alignment included) goes to
 * a slot beside the fiber's record, so the fiber needs no stack until it runs;
 * a larger one goes to the top of the fiber's own stack, bound at once. The cleanup in
 * attr, if any, receives the copy too (also when the fiber is cancelled).
 * Errors as dtact_spawn, and EINVAL for size 0, size > DTACT_INLINE_MAX, a
 * size over a quarter of the stack, or a bad alignment; EEXHAUSTED also when a
 * payload over 256 bytes finds no free stack of its class at spawn time, and
 * ENOMEM when the kernel refuses the memory of that stack's first use. */
DTACT_API int dtact_spawn_inline(dtact_handle_t *out, void *(*func)(void *), const void *payload, size_t size,
                                 size_t align, const dtact_spawn_attr_t *attr);

/* ------------------------------------------------------------ await/join */
/* dtact_await() returns once the fiber has finished or been cancelled (at once
 * if it already has, or its record was recycled). On a fiber it suspends only
 * that fiber; on a thread it spins briefly, then sleeps on a futex. Any number
 * of waiters. Returns OK, ECANCELED, EHANDLE, EDEADLK (own handle), ENOTINIT,
 * ENOTRUNNING (host thread, workers not running, fiber not finished),
 * ESHUTDOWN (a fiber's wait was interrupted by shutdown). */
DTACT_API int dtact_await(dtact_handle_t handle);
/* dtact_join() waits like dtact_await for at most timeout_ns (negative:
 * forever; 0: do not wait) and stores the fiber's result in *result (may be
 * NULL). For a joinable fiber a successful join releases its record: the next
 * join returns ESTALE. For a detached fiber the result is available only while
 * the record exists. Returns OK, ETIMEDOUT, ECANCELED, ESTALE and await's errors. */
DTACT_API int dtact_join(dtact_handle_t handle, int64_t timeout_ns, void **result);
/* dtact_detach() makes a joinable fiber detached: its record is released when
 * it finishes (at once if it already has). EHANDLE/ESTALE on bad handles. */
DTACT_API int dtact_detach(dtact_handle_t handle);
/* dtact_is_finished() returns 1 if finished (or recycled), 0 if not, or a negative error. */
DTACT_API int dtact_is_finished(dtact_handle_t handle);

/* ------------------------------------------------------ fiber operations */
/* dtact_yield() puts the calling fiber behind every other ready fiber of its
 * worker and runs them. Fiber only (EPERM on threads); returns ESHUTDOWN after
 * shutdown began (having yielded anyway). */
DTACT_API int dtact_yield(void);
/* dtact_self() returns the calling fiber's handle, or 0 on a host thread. */
DTACT_API dtact_handle_t dtact_self(void);
/* dtact_sleep_ns() suspends the calling fiber (or sleeps the calling thread) for
 * at least ns nanoseconds; ESHUTDOWN if shutdown interrupted it. */
DTACT_API int dtact_sleep_ns(uint64_t ns);
/* dtact_park() suspends the calling fiber until dtact_unpark() gives it a token
 * (returns at once if one is pending), timeout_ns < 0 means forever. Fiber only.
 * Returns OK, ETIMEDOUT, ESHUTDOWN, EPERM. Wake-ups may be spurious: park in a loop. */
DTACT_API int dtact_park(int64_t timeout_ns);
/* dtact_unpark() gives the fiber a wake-up token. Never blocks or switches.
 * A finished or recycled target is ignored (returns OK). EHANDLE on bad handles. */
DTACT_API int dtact_unpark(dtact_handle_t handle);
/* dtact_now_ns() -- the monotonic clock (CLOCK_MONOTONIC, ns) that every
 * absolute deadline (the *_until calls) is measured on. */
DTACT_API uint64_t dtact_now_ns(void);
/* dtact_sleep_until() suspends the calling fiber (or sleeps the thread) until
 * dtact_now_ns() >= deadline_ns (at once if it has passed). UINT64_MAX waits
 * until shutdown on a fiber, forever on a thread. OK or ESHUTDOWN. */
DTACT_API int dtact_sleep_until(uint64_t deadline_ns);
/* dtact_park_until() is dtact_park() with an absolute deadline (UINT64_MAX: none). */
DTACT_API int dtact_park_until(uint64_t deadline_ns);
/* dtact_join_until() is dtact_join() with an absolute deadline (UINT64_MAX: none). */
DTACT_API int dtact_join_until(dtact_handle_t handle, uint64_t deadline_ns, void **result);
/* dtact_current_worker() returns the index of the worker running the caller, or -1 on a host thread. */
DTACT_API int dtact_current_worker(void);

/* ------------------------------------------------------------------ misc */
/* ------------------------------------------------------------------ I/O readiness */
/* Event bits (the values of poll(2)'s POLLIN, POLLOUT, POLLERR, POLLHUP). */
#define DTACT_IO_READ 0x001u
#define DTACT_IO_WRITE 0x004u
#define DTACT_IO_ERROR 0x008u
#define DTACT_IO_HUP 0x010u
/* dtact_wait_fd() waits until fd is ready for `events` (DTACT_IO_READ and/or
 * DTACT_IO_WRITE): use it after a non-blocking read/write/accept/connect
 * returned EAGAIN, then retry the call (readiness is a hint: a retry may see
 * EAGAIN again). On a fiber only the fiber waits: the fd is watched by its
 * worker's reactor (epoll or io_uring, edge-triggered, watched once and kept until
 * dtact_fd_cancel/dtact_fd_close). On a plain thread it is poll(2).
 * Returns the ready bits (> 0; DTACT_IO_ERROR/HUP come with the side they
 * end: the peer's shutdown of its writing side is HUP with READ on a fiber),
 * or DTACT_ETIMEDOUT, DTACT_ESHUTDOWN (fiber), DTACT_ECLOSED
 * (dtact_fd_cancel ended the wait), DTACT_EINVAL (fd < 0 or not open, no
 * event bit), DTACT_EPERM (a worker thread outside any fiber), DTACT_ENOMEM.
 * A file that epoll cannot watch (a regular file) is always ready.
 * Contract: an fd that a fiber has waited for must be closed with
 * dtact_fd_close() (or dtact_fd_cancel() before close()): a reused fd number
 * would otherwise inherit a watch whose file is gone (and on io_uring the
 * watch's poll would keep the file open: a socket would send no FIN). */
DTACT_API int dtact_wait_fd(int fd, uint32_t events, int64_t timeout_ns);
DTACT_API int dtact_wait_fd_until(int fd, uint32_t events, uint64_t deadline_ns);
/* dtact_fd_cancel() wakes every fiber or thread waiting for fd with
 * DTACT_ECLOSED (threads within 20 ms) and stops watching it. OK or EINVAL. */
DTACT_API int dtact_fd_cancel(int fd);
/* dtact_fd_close() is dtact_fd_cancel() then close(2): OK, EINVAL, ESYS. */
DTACT_API int dtact_fd_close(int fd);
/* dtact_io_backend() names the readiness backend of the current runtime's
 * reactor: "io_uring" (one ring per worker, a multishot poll per watched fd)
 * or "epoll"; "none" without a runtime. Never NULL, static. Each runtime
 * chooses when it is created, from the environment variable
 * DTACT_IO_BACKEND: "epoll", "io_uring", or "auto" (the default: io_uring
 * where the kernel allows it -- Linux 6.0 or later, not disabled by
 * kernel.io_uring_disabled or a seccomp filter, not under qemu-user --
 * else epoll). A forced io_uring that is unavailable falls back to epoll
 * with a DTACT_WARN_IO_BACKEND warning; the runtime always starts. */
DTACT_API const char *dtact_io_backend(void);

/* dtact_recv_until() and dtact_send_until() are recv(2) and send(2) on a
 * socket (flags: MSG_*; MSG_DONTWAIT is implied) that suspend only the
 * calling fiber until the transfer happened, deadline_ns passed (UINT64_MAX:
 * none) or the runtime shuts down; on a plain thread they block it. On a
 * fiber whose worker uses the io_uring backend the kernel completes the
 * transfer itself (IORING_OP_RECV/SEND): the fiber's worker submits the
 * transfers of all its fibers in one system call when it runs out of work,
 * instead of a system call per transfer; elsewhere they wait for readiness
 * and retry (dtact_wait_fd). The buffer must stay valid until the call
 * returns (it does not return before the kernel is done with it).
 * Returns the bytes transferred (0 from a receive: end of stream), or
 * DTACT_ETIMEDOUT, DTACT_ESHUTDOWN, DTACT_EINVAL (fd < 0, buf NULL with
 * len > 0), DTACT_EPERM (a worker thread outside any fiber), DTACT_ECLOSED
 * (readiness way: dtact_fd_cancel), or DTACT_ESYS with errno set to the
 * system's error (ECONNRESET, EPIPE, ENOTSOCK, ...). A transfer in flight is
 * ended by shutdown(2) of the socket (a receive returns 0, a send EPIPE), not
 * by dtact_fd_cancel. */
DTACT_API ptrdiff_t dtact_recv_until(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns);
DTACT_API ptrdiff_t dtact_send_until(int fd, const void *buf, size_t len, int flags, uint64_t deadline_ns);
/* dtact_io_completion() returns 1 when the calling fiber's dtact_recv_until
 * and dtact_send_until are completed by its worker's io_uring, 0 otherwise
 * (a plain thread, the epoll backend): a caller may then prefer its own
 * readiness loop. */
DTACT_API int dtact_io_completion(void);

/* ------------------------------------------------------------------ blocking offload */
/* dtact_blocking() runs fn(arg) on a helper thread and waits for it: a fiber is
 * suspended (its worker runs other fibers meanwhile), a plain thread blocks.
 * For calls that cannot be made asynchronous: getaddrinfo, a slow file
 * system, a foreign library that blocks. *result (if not NULL) receives fn's
 * return value.
 * The helpers are one process-wide pool, started on first use, grown on
 * demand up to dtact_blocking_set_max_threads() threads (default 64) and
 * shrunk when idle; calls beyond that wait in FIFO order for a helper.
 * timeout_ns < 0 waits for fn. When the wait ends first (the timeout, or
 * the shutdown of a fiber's runtime): a call that had not started is
 * withdrawn and DTACT_ECANCELED says fn never ran and never will (the caller
 * still owns arg); a call that had started keeps running on its helper and
 * DTACT_ETIMEDOUT / DTACT_ESHUTDOWN say so: its result is dropped and `arg`
 * must stay valid until fn returns (let fn own it).
 * Returns DTACT_OK, ENULLFN, ETIMEDOUT, ESHUTDOWN, ECANCELED, EPERM (a worker
 * thread outside any fiber), ENOMEM or ESYS (no helper could be started and
 * none will become free: fn was not run). */
DTACT_API int dtact_blocking(void *(*fn)(void *), void *arg, int64_t timeout_ns, void **result);
/* dtact_blocking_set_max_threads() sets the pool's limit (1 .. 4096; EINVAL
 * otherwise); lowering it retires surplus helpers as they become idle. */
DTACT_API int dtact_blocking_set_max_threads(uint32_t n);

/* dtact_free_arg() calls free(arg) if arg is not NULL (for malloc'd arguments). */
DTACT_API void dtact_free_arg(void *arg);
/* dtact_abort() prints that a fiber returned past its entry point and aborts. Not a user call. */
DTACT_NORETURN DTACT_API void dtact_abort(void);

/* ----------------------------------------------------------------- stats */
typedef struct dtact_stats_t {
    uint64_t spawned;         /* fibers launched                                    */
    uint64_t completed;       /* fibers whose function returned                    */
    uint64_t cancelled;       /* fibers cancelled before they ran                  */
    uint64_t yields;          /* dtact_yield calls                                 */
    uint64_t deflected;       /* fibers moved to another worker                    */
    uint64_t chunks_moved;    /* chunks (batches of fibers) sent between workers   */
    uint64_t requests;        /* work requests sent by idle workers                */
    uint64_t parks;           /* times a worker went to sleep on its futex          */
    uint64_t wakes;           /* futex wake-ups of sleeping workers                 */
    uint64_t contexts_in_use; /* fiber records allocated now                       */
    uint64_t contexts_high_water;
    uint64_t stacks_in_use; /* stacks bound to started, unfinished fibers        */
    uint64_t stacks_high_water;
    uint64_t stacks_guarded; /* stacks created with a guard page                  */
    uint64_t stacks_canary;  /* stacks created with a canary only                 */
    uint64_t cache_hits;     /* record/stack allocations served by a worker cache */
    uint64_t cache_misses;
    uint32_t workers;
    uint32_t timers; /* timer entries held by the workers' heaps (timed waits in progress) */
} dtact_stats_t;

/* dtact_get_stats() fills *out (summed over workers; counters are read racily). */
DTACT_API int dtact_get_stats(void *rt, dtact_stats_t *out);
/* dtact_get_worker_stats() fills *out with worker w's own counters (the
 * pool-wide fields are left 0). EINVAL if w is out of range. */
DTACT_API int dtact_get_worker_stats(void *rt, uint32_t w, dtact_stats_t *out);

#ifdef __cplusplus
}
#endif

/* Fiber-aware mutex, rwlock, condition variable, semaphore, event, wait
 * group, barrier, once, channel and select, and intervals. */
#include "dtact_sync.h"

#endif /* DTACT_H */
