// dtact.hpp -- the C++ interface of Dtact: header-only, over the C ABI of dtact.h.
// C++11 or newer; no library of its own (link libdtact_core as for C).
//
// 1. The original's names. The original dtact.hpp wrapped dtact.h in `namespace dtact`, so
//    `dtact::dtact_config_t`, `dtact::dtact_spawn_options_t`, `dtact::dtact_handle_t` and every
//    function as `dtact::dtact_init(...)`, `dtact::dtact_fiber_launch(...)`, ... are declared
//    here (they are the C declarations, brought in with using-declarations; the unqualified C
//    names stay available too). Also: `operator==` / `!=` on dtact_config_t and
//    dtact_spawn_options_t (field by field; handles are integers and compare as such), and the
//    Rust enums of the original as C++ enums (Priority, Affinity, WorkloadKind, Switcher,
//    TopologyMode, SafetyLevel) with option structs built from them (Config, SpawnOptions: they
//    derive from the C structs, so they pass wherever those are expected).
//
// 2. RAII over the C API.
//    - dtact::Runtime: dtact_init in the constructor (and dtact_start unless told not to),
//      dtact_shutdown + dtact_destroy in the destructor. Not copyable; movable (a moved-from
//      Runtime owns nothing). Errors throw dtact::Error (a std::runtime_error with the code).
//    - dtact::Fiber: runs any callable (lambda, function object, function pointer; move-only
//      ones too) on a new joinable fiber. join() waits (on a fiber only that fiber waits; on a
//      thread the thread sleeps); the destructor joins unless detach() was called. Not copyable;
//      movable (like std::thread, assigning to a Fiber that still owns a fiber is refused).
//    - dtact::Task<R> (from dtact::spawn(f)): the same, and join() returns the callable's result.
//    - dtact::this_fiber::{yield, sleep_for, sleep_until, handle, worker}.
//
// 3. Synchronisation (dtact_sync.h) with the shapes of the standard library, so that
//    std::lock_guard, std::unique_lock, std::shared_lock and std::scoped_lock work with them:
//    dtact::mutex (Lockable + try_lock_for/try_lock_until), dtact::shared_mutex (the rwlock),
//    dtact::condition_variable (waits with std::unique_lock<dtact::mutex>), dtact::semaphore,
//    dtact::event, dtact::wait_group, dtact::barrier, and dtact::channel<T> for trivially
//    copyable T. On a fiber they suspend only the fiber. A wait that fails for another reason
//    than its timeout (the runtime shuts down, a call from a worker outside any fiber) throws
//    dtact::Error; timed forms return false on timeout, as in the standard library.
//
// Exceptions never cross the C boundary: the trampoline that runs the callable on the fiber
// catches everything. The exception of a joinable fiber is kept and rethrown by join() (in the
// joining thread or fiber). If nobody can receive it -- the fiber was detached, or the Fiber /
// Task was destroyed without join() having been called -- its what() is printed to stderr and
// std::terminate() is called, as for an exception escaping a std::thread. A fiber cancelled by
// shutdown before it started makes join() throw dtact::Error with code DTACT_ECANCELED.
//
// The callable and its result live in one heap block shared by the fiber and the Fiber object
// (an atomic count of two owners); the fiber's side is released by the launch's cleanup
// function, which the runtime runs exactly once, also for a cancelled fiber.
#ifndef DTACT_HPP
#define DTACT_HPP

#include "dtact.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <mutex>
#include <utility>

// ------------------------------------------------------------------ equality of the C structs
// In the global namespace, where the C types live, so that argument-dependent lookup finds them.
inline bool operator==(const dtact_config_t &a, const dtact_config_t &b) {
    return a.mWorkers == b.mWorkers && a.mSafetyLevel == b.mSafetyLevel && a.mTopologyMode == b.mTopologyMode &&
           a.mNuma == b.mNuma && a.mFiberCapacity == b.mFiberCapacity && a.mStackSize == b.mStackSize;
}
inline bool operator!=(const dtact_config_t &a, const dtact_config_t &b) { return !(a == b); }
inline bool operator==(const dtact_spawn_options_t &a, const dtact_spawn_options_t &b) {
    return a.mPriority == b.mPriority && a.mAffinity == b.mAffinity && a.mKind == b.mKind && a.mSwitcher == b.mSwitcher;
}
inline bool operator!=(const dtact_spawn_options_t &a, const dtact_spawn_options_t &b) { return !(a == b); }

namespace dtact {

// ------------------------------------------------------------------ the original's names
using ::dtact_config_t;
using ::dtact_handle_t;
using ::dtact_spawn_attr_t;
using ::dtact_spawn_options_t;
using ::dtact_stats_t;

using ::dtact_abort;
using ::dtact_await;
using ::dtact_default_config;
using ::dtact_default_spawn_options;
using ::dtact_fiber_launch;
using ::dtact_fiber_launch_ext;
using ::dtact_fiber_launch_with_cleanup;
using ::dtact_fiber_launch_with_cleanup_ext;
using ::dtact_free_arg;
using ::dtact_init;
using ::dtact_run;
using ::dtact_shutdown;
// Added since the original:
using ::dtact_current_worker;
using ::dtact_destroy;
using ::dtact_detach;
using ::dtact_get_stats;
using ::dtact_get_worker_stats;
using ::dtact_is_finished;
using ::dtact_join;
using ::dtact_last_error;
using ::dtact_park;
using ::dtact_self;
using ::dtact_sleep_ns;
using ::dtact_spawn;
using ::dtact_spawn_attr_init;
using ::dtact_spawn_inline;
using ::dtact_start;
using ::dtact_strerror;
using ::dtact_unpark;
using ::dtact_version;
using ::dtact_version_string;
using ::dtact_yield;

// ------------------------------------------------------------------ codes as enums
enum class Priority : std::uint8_t {
    Low = DTACT_PRIORITY_LOW,
    Normal = DTACT_PRIORITY_NORMAL,
    High = DTACT_PRIORITY_HIGH,
    Critical = DTACT_PRIORITY_CRITICAL
};
enum class Affinity : std::uint8_t {
    SameCore = DTACT_AFFINITY_SAME_CORE,
    SameCCX = DTACT_AFFINITY_SAME_CCX,
    SameNUMA = DTACT_AFFINITY_SAME_NUMA,
    Any = DTACT_AFFINITY_ANY
};
enum class WorkloadKind : std::uint8_t {
    Compute = DTACT_KIND_COMPUTE,
    IO = DTACT_KIND_IO,
    Memory = DTACT_KIND_MEMORY,
    System = DTACT_KIND_SYSTEM
};
enum class Switcher : std::uint8_t {
    CrossThreadFloat = DTACT_SWITCHER_CROSS_THREAD_FLOAT,
    CrossThreadNoFloat = DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT,
    SameThreadFloat = DTACT_SWITCHER_SAME_THREAD_FLOAT,
    SameThreadNoFloat = DTACT_SWITCHER_SAME_THREAD_NO_FLOAT
};
enum class TopologyMode : std::uint8_t { P2PMesh = 0, Global = 1 };
enum class SafetyLevel : std::uint8_t { Safety0 = 0, Safety1 = 1, Safety2 = 2 };

// ------------------------------------------------------------------ errors
// Error: a failed C call. code() is the DTACT_E* code, what() its dtact_strerror text.
class Error : public std::runtime_error {
  public:
    explicit Error(int code, const char *where = nullptr)
        : std::runtime_error(where ? std::string(where) + ": " + dtact_strerror(code)
                                   : std::string(dtact_strerror(code))),
          code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

namespace detail {
inline int check(int rc, const char *where) {
    if (rc < 0) throw Error(rc, where);
    return rc;
}
} // namespace detail

// ------------------------------------------------------------------ option structs
// Config: a dtact_config_t that starts as dtact_default_config(); chainable setters.
struct Config : dtact_config_t {
    Config() : dtact_config_t(dtact_default_config()) {}
    Config(const dtact_config_t &c) : dtact_config_t(c) {} // NOLINT: implicit on purpose
    explicit Config(std::uint32_t workers_, std::uint32_t fiber_capacity = 0, std::uint32_t stack_size_ = 0)
        : dtact_config_t(dtact_default_config()) {
        mWorkers = workers_;
        mFiberCapacity = fiber_capacity;
        mStackSize = stack_size_;
    }
    Config &workers(std::uint32_t n) {
        mWorkers = n;
        return *this;
    }
    Config &capacity(std::uint32_t n) {
        mFiberCapacity = n;
        return *this;
    }
    Config &stack_size(std::uint32_t bytes) {
        mStackSize = bytes;
        return *this;
    }
    Config &safety(SafetyLevel s) {
        mSafetyLevel = static_cast<std::uint8_t>(s);
        return *this;
    }
    Config &topology(TopologyMode t) {
        mTopologyMode = static_cast<std::uint8_t>(t);
        return *this;
    }
};

// SpawnOptions: a dtact_spawn_options_t that starts as dtact_default_spawn_options().
struct SpawnOptions : dtact_spawn_options_t {
    SpawnOptions() : dtact_spawn_options_t(dtact_default_spawn_options()) {}
    SpawnOptions(const dtact_spawn_options_t &o) : dtact_spawn_options_t(o) {} // NOLINT: implicit on purpose
    SpawnOptions(Priority p, Affinity a = static_cast<Affinity>(dtact_default_spawn_options().mAffinity),
                 WorkloadKind k = WorkloadKind::Compute, Switcher s = Switcher::CrossThreadFloat)
        : dtact_spawn_options_t(dtact_default_spawn_options()) {
        mPriority = static_cast<std::uint8_t>(p);
        mAffinity = static_cast<std::uint8_t>(a);
        mKind = static_cast<std::uint8_t>(k);
        mSwitcher = static_cast<std::uint8_t>(s);
    }
    SpawnOptions &priority(Priority p) {
        mPriority = static_cast<std::uint8_t>(p);
        return *this;
    }
    SpawnOptions &affinity(Affinity a) {
        mAffinity = static_cast<std::uint8_t>(a);
        return *this;
    }
    SpawnOptions &kind(WorkloadKind k) {
        mKind = static_cast<std::uint8_t>(k);
        return *this;
    }
    SpawnOptions &switcher(Switcher s) {
        mSwitcher = static_cast<std::uint8_t>(s);
        return *this;
    }
};

// ------------------------------------------------------------------ runtime guard
class Runtime {
  public:
    // dtact_init(cfg), then dtact_start() when start_workers (the default): fibers run at once.
    // With start_workers false, call start() or run() (which blocks until shutdown) yourself.
    // Throws Error (EALREADY if a runtime exists: one per process).
    explicit Runtime(const dtact_config_t &cfg = dtact_default_config(), bool start_workers = true)
        : rt_(dtact_init(&cfg)) {
        if (!rt_) throw Error(dtact_last_error(), "dtact_init");
        if (start_workers) {
            int rc = dtact_start(rt_);
            if (rc != DTACT_OK) {
                dtact_destroy(rt_);
                throw Error(rc, "dtact_start");
            }
        }
    }
    ~Runtime() { reset(); }
    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;
    Runtime(Runtime &&o) noexcept : rt_(o.rt_) { o.rt_ = nullptr; }
    Runtime &operator=(Runtime &&o) noexcept {
        if (this != &o) {
            reset();
            rt_ = o.rt_;
            o.rt_ = nullptr;
        }
        return *this;
    }

    void start() { detail::check(dtact_start(rt_), "dtact_start"); }
    // Blocks until dtact_shutdown() (from any fiber or thread) and every fiber has finished.
    void run() { detail::check(dtact_run(rt_), "dtact_run"); }
    // Asks the runtime to stop (see dtact_shutdown); the destructor then frees it.
    void shutdown() {
        if (rt_) dtact_shutdown();
    }
    dtact_stats_t stats() const {
        dtact_stats_t s;
        detail::check(dtact_get_stats(rt_, &s), "dtact_get_stats");
        return s;
    }
    void *get() const noexcept { return rt_; }
    explicit operator bool() const noexcept { return rt_ != nullptr; }

  private:
    void reset() noexcept {
        if (rt_) {
            dtact_shutdown();
            dtact_destroy(rt_);
            rt_ = nullptr;
        }
    }
    void *rt_;
};

// ------------------------------------------------------------------ fibers
namespace detail {

// The heap block shared by a fiber and its Fiber/Task object.
struct Block {
    std::atomic<int> owners{2}; // the fiber (released by the cleanup) and the object
    std::atomic<bool> detached{false};
    std::exception_ptr error; // set by the trampoline when the callable threw
    bool error_taken = false; // join() rethrew it
    virtual void run() = 0;
    virtual ~Block() {}

    static void *trampoline(void *p) noexcept {
        Block *b = static_cast<Block *>(p);
        try {
            b->run();
        } catch (...) {
            b->error = std::current_exception();
        }
        return nullptr;
    }
    // The launch's cleanup: runs exactly once on the fiber after the callable (or when the
    // fiber is cancelled before it started).
    static void fiber_done(void *p) noexcept { static_cast<Block *>(p)->release(); }

    void release() noexcept {
        if (owners.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        if (error && !error_taken) unhandled();
        delete this;
    }
    void unhandled() noexcept {
        const char *what = "(not a std::exception)";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception &e) {
            what = e.what();
            report(what);
        } catch (...) {
        }
        report(what);
    }
    void report(const char *what) noexcept {
        std::fprintf(stderr, "dtact: an exception escaped a %s fiber, so nobody can receive it: %s; terminating\n",
                     detached.load() ? "detached" : "never joined", what);
        std::fflush(stderr);
        std::terminate();
    }
};

template <class R> struct Result {
    std::unique_ptr<R> value;
    template <class F> void set(F &f) { value.reset(new R(f())); }
    R take() { return std::move(*value); }
};
template <> struct Result<void> {
    template <class F> void set(F &f) { (void)f(); }
    void take() {}
};

template <class R> struct BlockR : Block { Result<R> result; };

template <class F, class R> struct BlockOf final : BlockR<R> {
    template <class G> explicit BlockOf(G &&g) : fn(std::forward<G>(g)) {}
    void run() override { this->result.set(fn); }
    F fn;
};

// What Fiber and Task share: the handle and the block.
class FiberBase {
  public:
    FiberBase(const FiberBase &) = delete;
    FiberBase &operator=(const FiberBase &) = delete;
    FiberBase(FiberBase &&o) noexcept : h_(o.h_), b_(o.b_) {
        o.h_ = DTACT_INVALID_HANDLE;
        o.b_ = nullptr;
    }
    FiberBase &operator=(FiberBase &&o) {
        if (this != &o) {
            if (joinable()) throw std::logic_error("dtact: assignment to a Fiber that still owns a fiber");
            h_ = o.h_;
            b_ = o.b_;
            o.h_ = DTACT_INVALID_HANDLE;
            o.b_ = nullptr;
        }
        return *this;
    }
    ~FiberBase() {
        if (!joinable()) return;
        dtact_join(h_, -1, nullptr); // errors (runtime gone, cancelled): nothing left to wait for
        Block *b = b_;
        b_ = nullptr;
        b->release(); // an unreceived exception terminates (see the top of the file)
    }

    bool joinable() const noexcept { return b_ != nullptr; }
    dtact_handle_t handle() const noexcept { return h_; }
    bool finished() const { return !joinable() || detail::check(dtact_is_finished(h_), "dtact_is_finished") == 1; }
    // Lets the fiber run on its own; its block is freed when it finishes.
    void detach() {
        if (!joinable()) throw std::logic_error("dtact: detach of a Fiber that owns no fiber");
        Block *b = b_;
        b_ = nullptr;
        b->detached.store(true);
        dtact_detach(h_);
        b->release();
    }

  protected:
    FiberBase() : h_(DTACT_INVALID_HANDLE), b_(nullptr) {}
    template <class R, class F> void launch(F &&f, const dtact_spawn_options_t &opts, std::uint32_t stack_size) {
        typedef typename std::decay<F>::type Fn;
        BlockOf<Fn, R> *b = new BlockOf<Fn, R>(std::forward<F>(f));
        dtact_spawn_attr_t attr;
        dtact_spawn_attr_init(&attr);
        attr.options = opts;
        attr.flags = DTACT_SPAWN_JOINABLE;
        attr.stack_size = stack_size;
        attr.cleanup = &Block::fiber_done;
        int rc = dtact_spawn(&h_, &Block::trampoline, static_cast<Block *>(b), &attr);
        if (rc != DTACT_OK) {
            delete b;
            h_ = DTACT_INVALID_HANDLE;
            throw Error(rc, "dtact_spawn");
        }
        b_ = b;
    }
    // Waits, then returns the block (still owned by the caller) or throws.
    Block *wait() {
        if (!joinable()) throw std::logic_error("dtact: join of a Fiber that owns no fiber");
        int rc = dtact_join(h_, -1, nullptr);
        if (rc == DTACT_ETIMEDOUT || rc == DTACT_EDEADLK || rc == DTACT_ENOTRUNNING || rc == DTACT_EPERM)
            throw Error(rc, "dtact_join"); // the fiber may still run: keep owning it
        Block *b = b_;
        b_ = nullptr;
        if (rc != DTACT_OK) { // ECANCELED, ESHUTDOWN, ...: nothing ran, or we cannot wait more
            b->release();
            throw Error(rc, "dtact_join");
        }
        if (b->error) {
            std::exception_ptr e = b->error;
            b->error_taken = true;
            b->release();
            std::rethrow_exception(e);
        }
        return b;
    }

    dtact_handle_t h_;
    Block *b_;
};

} // namespace detail

// Fiber: runs f() on a new fiber; the result, if any, is discarded (see Task for results).
class Fiber : public detail::FiberBase {
  public:
    Fiber() {}
    template <class F, class = typename std::enable_if<
                           !std::is_base_of<detail::FiberBase, typename std::decay<F>::type>::value>::type>
    explicit Fiber(F &&f, const dtact_spawn_options_t &opts = dtact_default_spawn_options(),
                   std::uint32_t stack_size = 0) {
        launch<void>(std::forward<F>(f), opts, stack_size); // the result of f(), if any, is dropped
    }
    Fiber(Fiber &&) = default;
    Fiber &operator=(Fiber &&) = default;
    // Waits for the fiber; rethrows the exception that escaped f, throws Error on ECANCELED etc.
    void join() { wait()->release(); }
};

// Task<R>: runs f() on a new fiber; join() returns its result. Made by dtact::spawn.
template <class R> class Task : public detail::FiberBase {
  public:
    Task() {}
    template <class F, class = typename std::enable_if<
                           !std::is_base_of<detail::FiberBase, typename std::decay<F>::type>::value>::type>
    explicit Task(F &&f, const dtact_spawn_options_t &opts = dtact_default_spawn_options(),
                  std::uint32_t stack_size = 0) {
        launch<R>(std::forward<F>(f), opts, stack_size);
    }
    Task(Task &&) = default;
    Task &operator=(Task &&) = default;
    R join() {
        detail::Block *b = wait();
        struct Release { // frees the block after the value has been moved out
            detail::Block *b;
            ~Release() { b->release(); }
        } guard = {b};
        return static_cast<detail::BlockR<R> *>(b)->result.take();
    }
};

// spawn(f[, options[, stack_size]]) -> Task<R> where R is what f() returns.
template <class F>
Task<typename std::decay<decltype(std::declval<typename std::decay<F>::type &>()())>::type>
spawn(F &&f, const dtact_spawn_options_t &opts = dtact_default_spawn_options(), std::uint32_t stack_size = 0) {
    typedef typename std::decay<decltype(std::declval<typename std::decay<F>::type &>()())>::type R;
    return Task<R>(std::forward<F>(f), opts, stack_size);
}

// ------------------------------------------------------------------ the calling fiber
namespace this_fiber {
// Puts the calling fiber behind every other ready fiber of its worker. Fiber only.
inline void yield() { detail::check(dtact_yield(), "dtact_yield"); }
// Suspends the calling fiber (or sleeps the calling thread) for at least d.
template <class Rep, class Period> inline void sleep_for(const std::chrono::duration<Rep, Period> &d) {
    long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    detail::check(dtact_sleep_ns(ns > 0 ? static_cast<std::uint64_t>(ns) : 0), "dtact_sleep_ns");
}
// The calling fiber's handle (DTACT_INVALID_HANDLE on a host thread).
inline dtact_handle_t handle() noexcept { return dtact_self(); }
// The index of the worker running the caller, or -1 on a host thread.
inline int worker() noexcept { return dtact_current_worker(); }
} // namespace this_fiber

// ------------------------------------------------------------------ synchronisation
namespace detail {
template <class Rep, class Period> inline std::int64_t to_ns(const std::chrono::duration<Rep, Period> &d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns > 0 ? static_cast<std::int64_t>(ns) : 0;
}
// A timed call: true on success, false on timeout, an exception for anything else.
inline bool timed(int rc, const char *where) {
    if (rc == DTACT_ETIMEDOUT || rc == DTACT_EBUSY) return false;
    check(rc, where);
    return true;
}
} // namespace detail

// A fiber-aware mutex (Lockable, TimedLockable). Not copyable or movable.
class mutex {
  public:
    mutex() noexcept : m_(DTACT_MUTEX_INIT) {}
    mutex(const mutex &) = delete;
    mutex &operator=(const mutex &) = delete;
    void lock() { detail::check(dtact_mutex_lock(&m_), "dtact_mutex_lock"); }
    bool try_lock() { return detail::timed(dtact_mutex_trylock(&m_), "dtact_mutex_trylock"); }
    template <class Rep, class Period> bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_mutex_timedlock(&m_, detail::to_ns(d)), "dtact_mutex_timedlock");
    }
    template <class Clock, class Dur> bool try_lock_until(const std::chrono::time_point<Clock, Dur> &t) {
        return try_lock_for(t - Clock::now());
    }
    void unlock() { detail::check(dtact_mutex_unlock(&m_), "dtact_mutex_unlock"); }
    dtact_mutex_t *native_handle() noexcept { return &m_; }

  private:
    dtact_mutex_t m_;
};

// A fiber-aware reader-writer lock (SharedMutex, SharedTimedMutex shapes).
class shared_mutex {
  public:
    shared_mutex() noexcept : l_(DTACT_RWLOCK_INIT) {}
    shared_mutex(const shared_mutex &) = delete;
    shared_mutex &operator=(const shared_mutex &) = delete;
    void lock() { detail::check(dtact_rwlock_wrlock(&l_), "dtact_rwlock_wrlock"); }
    bool try_lock() { return detail::timed(dtact_rwlock_trywrlock(&l_), "dtact_rwlock_trywrlock"); }
    template <class Rep, class Period> bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_rwlock_timedwrlock(&l_, detail::to_ns(d)), "dtact_rwlock_timedwrlock");
    }
    void unlock() { detail::check(dtact_rwlock_unlock(&l_), "dtact_rwlock_unlock"); }
    void lock_shared() { detail::check(dtact_rwlock_rdlock(&l_), "dtact_rwlock_rdlock"); }
    bool try_lock_shared() { return detail::timed(dtact_rwlock_tryrdlock(&l_), "dtact_rwlock_tryrdlock"); }
    template <class Rep, class Period> bool try_lock_shared_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_rwlock_timedrdlock(&l_, detail::to_ns(d)), "dtact_rwlock_timedrdlock");
    }
    void unlock_shared() { detail::check(dtact_rwlock_unlock(&l_), "dtact_rwlock_unlock"); }
    dtact_rwlock_t *native_handle() noexcept { return &l_; }

  private:
    dtact_rwlock_t l_;
};

// A condition variable for dtact::mutex. Wake-ups may be spurious: use the predicate forms.
class condition_variable {
  public:
    condition_variable() noexcept : c_(DTACT_COND_INIT) {}
    condition_variable(const condition_variable &) = delete;
    condition_variable &operator=(const condition_variable &) = delete;
    void notify_one() noexcept { (void)dtact_cond_signal(&c_); }
    void notify_all() noexcept { (void)dtact_cond_broadcast(&c_); }
    void wait(std::unique_lock<mutex> &lk) {
        detail::check(dtact_cond_wait(&c_, lk.mutex()->native_handle()), "dtact_cond_wait");
    }
    template <class Pred> void wait(std::unique_lock<mutex> &lk, Pred pred) {
        while (!pred())
            wait(lk);
    }
    // false when the timeout expired.
    template <class Rep, class Period>
    bool wait_for(std::unique_lock<mutex> &lk, const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_cond_timedwait(&c_, lk.mutex()->native_handle(), detail::to_ns(d)),
                             "dtact_cond_timedwait");
    }
    template <class Rep, class Period, class Pred>
    bool wait_for(std::unique_lock<mutex> &lk, const std::chrono::duration<Rep, Period> &d, Pred pred) {
        std::uint64_t deadline = dtact_now_ns() + static_cast<std::uint64_t>(detail::to_ns(d));
        while (!pred()) {
            int rc = dtact_cond_wait_until(&c_, lk.mutex()->native_handle(), deadline);
            if (rc == DTACT_ETIMEDOUT) return pred();
            detail::check(rc, "dtact_cond_wait_until");
        }
        return true;
    }

  private:
    dtact_cond_t c_;
};

// A counting semaphore.
class semaphore {
  public:
    explicit semaphore(std::uint32_t count = 0) { detail::check(dtact_sem_init(&s_, count), "dtact_sem_init"); }
    semaphore(const semaphore &) = delete;
    semaphore &operator=(const semaphore &) = delete;
    void acquire() { detail::check(dtact_sem_wait(&s_), "dtact_sem_wait"); }
    bool try_acquire() { return detail::timed(dtact_sem_trywait(&s_), "dtact_sem_trywait"); }
    template <class Rep, class Period> bool try_acquire_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_sem_timedwait(&s_, detail::to_ns(d)), "dtact_sem_timedwait");
    }
    void release(std::uint32_t n = 1) { detail::check(dtact_sem_post(&s_, n), "dtact_sem_post"); }
    int value() noexcept { return dtact_sem_value(&s_); }

  private:
    dtact_sem_t s_;
};

// An event: auto reset (wakes one waiter per set) or manual reset (stays set until reset()).
class event {
  public:
    explicit event(bool manual_reset = false, bool initially_set = false) {
        detail::check(dtact_event_init(&e_, manual_reset ? DTACT_EVENT_MANUAL_RESET : DTACT_EVENT_AUTO_RESET,
                                       initially_set ? 1 : 0),
                      "dtact_event_init");
    }
    event(const event &) = delete;
    event &operator=(const event &) = delete;
    void set() { detail::check(dtact_event_set(&e_), "dtact_event_set"); }
    void reset() { detail::check(dtact_event_reset(&e_), "dtact_event_reset"); }
    void wait() { detail::check(dtact_event_wait(&e_), "dtact_event_wait"); }
    bool try_wait() { return detail::timed(dtact_event_trywait(&e_), "dtact_event_trywait"); }
    template <class Rep, class Period> bool wait_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_event_timedwait(&e_, detail::to_ns(d)), "dtact_event_timedwait");
    }

  private:
    dtact_event_t e_;
};

// Go's sync.WaitGroup.
class wait_group {
  public:
    wait_group() noexcept : g_(DTACT_WAITGROUP_INIT) {}
    wait_group(const wait_group &) = delete;
    wait_group &operator=(const wait_group &) = delete;
    void add(std::int64_t delta = 1) { detail::check(dtact_waitgroup_add(&g_, delta), "dtact_waitgroup_add"); }
    void done() { detail::check(dtact_waitgroup_done(&g_), "dtact_waitgroup_done"); }
    void wait() { detail::check(dtact_waitgroup_wait(&g_), "dtact_waitgroup_wait"); }
    template <class Rep, class Period> bool wait_for(const std::chrono::duration<Rep, Period> &d) {
        return detail::timed(dtact_waitgroup_timedwait(&g_, detail::to_ns(d)), "dtact_waitgroup_timedwait");
    }

  private:
    dtact_waitgroup_t g_;
};

// A reusable barrier; arrive_and_wait() returns true for exactly one party per round.
class barrier {
  public:
    explicit barrier(std::uint32_t parties) { detail::check(dtact_barrier_init(&b_, parties), "dtact_barrier_init"); }
    barrier(const barrier &) = delete;
    barrier &operator=(const barrier &) = delete;
    bool arrive_and_wait() {
        return detail::check(dtact_barrier_wait(&b_), "dtact_barrier_wait") == DTACT_BARRIER_LEADER;
    }

  private:
    dtact_barrier_t b_;
};

// A bounded MPMC channel of T (trivially copyable), capacity 0 = rendezvous.
template <class T> class channel {
    static_assert(std::is_trivially_copyable<T>::value,
                  "dtact::channel<T> copies T by value: T must be trivially copyable");

  public:
    explicit channel(std::size_t capacity) : ch_(dtact_chan_create(sizeof(T), capacity)) {
        if (!ch_) throw Error(dtact_last_error(), "dtact_chan_create");
    }
    ~channel() {
        if (ch_) (void)dtact_chan_destroy(ch_);
    }
    channel(const channel &) = delete;
    channel &operator=(const channel &) = delete;
    // false when the channel is closed.
    bool send(const T &v) {
        int rc = dtact_chan_send(ch_, &v);
        if (rc == DTACT_ECLOSED) return false;
        detail::check(rc, "dtact_chan_send");
        return true;
    }
    bool try_send(const T &v) { return detail::timed(dtact_chan_try_send(ch_, &v), "dtact_chan_try_send"); }
    // false when the channel is closed and drained.
    bool recv(T &out) {
        int rc = dtact_chan_recv(ch_, &out);
        if (rc == DTACT_ECLOSED) return false;
        detail::check(rc, "dtact_chan_recv");
        return true;
    }
    bool try_recv(T &out) {
        int rc = dtact_chan_try_recv(ch_, &out);
        if (rc == DTACT_ECLOSED) return false;
        return detail::timed(rc, "dtact_chan_try_recv");
    }
    void close() noexcept { (void)dtact_chan_close(ch_); }
    std::size_t size() const noexcept { return dtact_chan_len(ch_); }
    std::size_t capacity() const noexcept { return dtact_chan_capacity(ch_); }
    dtact_chan_t *native_handle() noexcept { return ch_; }

  private:
    dtact_chan_t *ch_;
};

namespace this_fiber {
// Suspends the calling fiber (or sleeps the thread) until the steady-clock time point t.
template <class Dur> inline void sleep_until(const std::chrono::time_point<std::chrono::steady_clock, Dur> &t) {
    auto d = t - std::chrono::steady_clock::now();
    if (d.count() > 0) sleep_for(d);
}
} // namespace this_fiber

} // namespace dtact

#endif // DTACT_HPP
