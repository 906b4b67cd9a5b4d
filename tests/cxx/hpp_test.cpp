// tests/cxx/hpp_test.cpp -- ffi/include/dtact.hpp: the original's names (namespace dtact), the
// equality operators, the option structs and enums, and the RAII classes (Runtime, Fiber,
// Task, spawn, this_fiber), with the exception rules. Built as C++11 and as C++17 (ctest
// hpp_test_cxx11, hpp_test_cxx17). A failed CHECK prints the file, line and expression and aborts.
#include "dtact.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#if __cplusplus >= 201402L
#include <shared_mutex>
#endif
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                              \
            std::fflush(stderr);                                                                                       \
            std::abort();                                                                                              \
        }                                                                                                              \
    } while (0)

// ------------------------------------------------------------------ compile-time properties
static_assert(sizeof(dtact::dtact_config_t) == 16, "config layout");
static_assert(sizeof(dtact::dtact_spawn_options_t) == 4, "options layout");
static_assert(std::is_same<dtact::dtact_handle_t, std::uint64_t>::value, "handles are 64-bit integers");
static_assert(!std::is_copy_constructible<dtact::Runtime>::value && !std::is_copy_assignable<dtact::Runtime>::value,
              "Runtime is not copyable");
static_assert(std::is_move_constructible<dtact::Runtime>::value && std::is_move_assignable<dtact::Runtime>::value,
              "Runtime is movable");
static_assert(!std::is_copy_constructible<dtact::Fiber>::value && std::is_move_constructible<dtact::Fiber>::value,
              "Fiber: move-only");
static_assert(!std::is_copy_constructible<dtact::Task<int>>::value &&
                  std::is_move_constructible<dtact::Task<int>>::value,
              "Task: move-only");
static_assert(sizeof(dtact::Config) == sizeof(dtact_config_t) &&
                  sizeof(dtact::SpawnOptions) == sizeof(dtact_spawn_options_t),
              "the option structs add no data");

// ------------------------------------------------------------------ helpers
// Runs body in a child process (before this process has any threads) and returns its wait
// status; the child's stderr is captured into *err.
template <class F> static int in_child(F body, std::string *err) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        body();
        _exit(0);
    }
    close(fds[1]);
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        err->append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    return st;
}

static bool wait_for(const std::atomic<int> &v, int want) {
    for (int i = 0; i < 5000; i++) { // 5 s
        if (v.load() == want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

// ------------------------------------------------------------------ 1. the original's C names
// The original examples/c_async.c, in C++ through namespace dtact: a master fiber launches
// workers with every launch function, awaits them and shuts down, which makes dtact_run return.
namespace orig {
std::atomic<int> ran(0), cleaned(0);
struct Job {
    int id;
    int *out;
};
void worker(void *p) {
    Job *j = static_cast<Job *>(p);
    *j->out = j->id * j->id;
    ran++;
}
void cleanup(void *p) {
    (void)p;
    cleaned++;
}
void heap_worker(void *p) {
    *static_cast<int *>(p) += 1;
    ran++;
}
int results[4];
int *heap_arg;
void master(void *arg) {
    CHECK(arg == &results);
    dtact::dtact_spawn_options_t opts = dtact::dtact_default_spawn_options();
    opts.mKind = 1;     // IO
    opts.mSwitcher = 1; // CrossThreadNoFloat
    static Job jobs[4] = {{1, &results[0]}, {2, &results[1]}, {3, &results[2]}, {4, &results[3]}};
    dtact::dtact_handle_t h[5];
    h[0] = dtact::dtact_fiber_launch(worker, &jobs[0]);
    h[1] = dtact::dtact_fiber_launch_ext(worker, &jobs[1], &opts);
    h[2] = dtact::dtact_fiber_launch_with_cleanup(worker, &jobs[2], cleanup);
    h[3] = dtact::dtact_fiber_launch_with_cleanup_ext(worker, &jobs[3], cleanup, &opts);
    heap_arg = static_cast<int *>(std::malloc(sizeof(int)));
    *heap_arg = 41;
    h[4] = dtact::dtact_fiber_launch(heap_worker, heap_arg);
    for (int i = 0; i < 5; i++) {
        CHECK(h[i] != DTACT_INVALID_HANDLE);
        CHECK(h[i] == h[i]); // operator== on handles
        if (i) CHECK(h[i] != h[i - 1]);
    }
    for (int i = 0; i < 5; i++)
        dtact::dtact_await(h[i]); // suspends this fiber only
    CHECK(*heap_arg == 42);
    dtact::dtact_free_arg(heap_arg);
    dtact::dtact_free_arg(nullptr);
    dtact::dtact_shutdown(); // makes dtact_run return in main
}
} // namespace orig

static void test_original_names() {
    dtact::dtact_config_t cfg = dtact::dtact_default_config();
    cfg.mWorkers = 2;
    cfg.mFiberCapacity = 256;
    cfg.mStackSize = 64 * 1024;
    void *rt = dtact::dtact_init(&cfg);
    CHECK(rt != nullptr);
    CHECK(dtact::dtact_fiber_launch(orig::master, &orig::results) != DTACT_INVALID_HANDLE); // queued until run
    dtact::dtact_run(rt); // blocks until the master's dtact_shutdown
    CHECK(orig::ran == 5);
    CHECK(orig::cleaned == 2);
    for (int i = 0; i < 4; i++)
        CHECK(orig::results[i] == (i + 1) * (i + 1));
    CHECK(dtact::dtact_destroy(rt) == DTACT_OK);
    std::printf("ok: original names (namespace dtact), dtact_run/dtact_shutdown from a fiber\n");
}

// ------------------------------------------------------------------ 2. equality, options, enums
static void test_options() {
    CHECK(dtact::dtact_default_config() == dtact::dtact_default_config());
    dtact_config_t c = dtact::dtact_default_config();
    c.mStackSize = 1 << 20;
    CHECK(c != dtact::dtact_default_config());
    CHECK(!(c == dtact::dtact_default_config()));

    dtact::Config dc;
    CHECK(dc == dtact::dtact_default_config());
    dtact::Config c2(4, 1024, 128 * 1024);
    CHECK(c2.mWorkers == 4 && c2.mFiberCapacity == 1024 && c2.mStackSize == 128 * 1024);
    CHECK(c2.mSafetyLevel == dtact::dtact_default_config().mSafetyLevel);
    dc.workers(3)
        .capacity(512)
        .stack_size(65536)
        .safety(dtact::SafetyLevel::Safety2)
        .topology(dtact::TopologyMode::Global);
    CHECK(dc.mWorkers == 3 && dc.mFiberCapacity == 512 && dc.mStackSize == 65536 && dc.mSafetyLevel == 2 &&
          dc.mTopologyMode == 1);
    dtact::Config from_c(c);
    CHECK(from_c == c);

    CHECK(dtact::SpawnOptions() == dtact::dtact_default_spawn_options());
    dtact::SpawnOptions o(dtact::Priority::High, dtact::Affinity::Any, dtact::WorkloadKind::IO,
                          dtact::Switcher::SameThreadNoFloat);
    CHECK(o.mPriority == DTACT_PRIORITY_HIGH && o.mAffinity == DTACT_AFFINITY_ANY && o.mKind == DTACT_KIND_IO &&
          o.mSwitcher == DTACT_SWITCHER_SAME_THREAD_NO_FLOAT);
    CHECK(o != dtact::dtact_default_spawn_options());
    dtact::SpawnOptions p;
    p.priority(dtact::Priority::Critical)
        .affinity(dtact::Affinity::SameCCX)
        .kind(dtact::WorkloadKind::Memory)
        .switcher(dtact::Switcher::CrossThreadNoFloat);
    CHECK(p.mPriority == 3 && p.mAffinity == 1 && p.mKind == 2 && p.mSwitcher == 1);
    CHECK(static_cast<int>(dtact::Priority::Low) == 0 && static_cast<int>(dtact::Affinity::SameCore) == 0 &&
          static_cast<int>(dtact::WorkloadKind::System) == 3 &&
          static_cast<int>(dtact::Switcher::SameThreadFloat) == 2);
    std::printf("ok: operator==/!=, Config, SpawnOptions, enums\n");
}

// ------------------------------------------------------------------ 3. exceptions nobody receives
static void test_unreceived_exceptions() {
    std::string err;
    int st = in_child(
        [] {
            dtact::Runtime rt(dtact::Config().workers(1));
            dtact::Fiber f([] { throw std::runtime_error("detached boom"); });
            f.detach();
            std::this_thread::sleep_for(std::chrono::seconds(5));
            std::fprintf(stderr, "not terminated\n");
        },
        &err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(err.find("escaped a detached fiber") != std::string::npos);
    CHECK(err.find("detached boom") != std::string::npos);

    err.clear();
    st = in_child(
        [] {
            dtact::Runtime rt(dtact::Config().workers(1));
            {
                dtact::Fiber f([] { throw std::logic_error("unjoined boom"); });
            } // destructor joins
            std::fprintf(stderr, "not terminated\n");
        },
        &err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(err.find("escaped a never joined fiber") != std::string::npos);
    CHECK(err.find("unjoined boom") != std::string::npos);
    std::printf("ok: an exception nobody can receive terminates with a message\n");
}

// ------------------------------------------------------------------ 4. RAII
static long fib(long n) {
    if (n < 2) return n;
    dtact::Task<long> a = dtact::spawn([n] { return fib(n - 1); });
    long b = fib(n - 2);
    return a.join() + b; // on a fiber: only this fiber waits
}

struct MoveOnlyBody {
    std::unique_ptr<int> p;
    std::atomic<int> *out;
    void operator()() { out->store(*p); }
};

static int free_function_result() { return 7; }

static void test_runtime_and_fibers() {
    {
        dtact::Runtime rt(dtact::Config().workers(2).capacity(4096));
        CHECK(rt);
        // one runtime per process: a second one throws EALREADY
        bool threw = false;
        try {
            dtact::Runtime second;
        } catch (const dtact::Error &e) {
            threw = true;
            CHECK(e.code() == DTACT_EALREADY);
            CHECK(std::strlen(e.what()) > 0);
        }
        CHECK(threw);

        // move: the moved-from guard owns nothing, the target owns the runtime
        dtact::Runtime moved(std::move(rt));
        CHECK(!rt && moved);

        // Fiber: a lambda, joined
        std::atomic<int> v(0);
        dtact::Fiber f([&v] { v = 1; });
        CHECK(f.joinable());
        CHECK(f.handle() != DTACT_INVALID_HANDLE);
        f.join();
        CHECK(v == 1 && !f.joinable());

        // the destructor joins
        {
            dtact::Fiber g([&v] {
                dtact::this_fiber::sleep_for(std::chrono::milliseconds(20));
                v = 2;
            });
        }
        CHECK(v == 2);

        // detach: runs on its own
        std::atomic<int> d(0);
        dtact::Fiber h([&d] {
            dtact::this_fiber::yield();
            d = 1;
        });
        h.detach();
        CHECK(!h.joinable());
        CHECK(wait_for(d, 1));

        // move-only function object; function pointer; a moved Fiber
        std::atomic<int> m(0);
        MoveOnlyBody body;
        body.p.reset(new int(5));
        body.out = &m;
        dtact::Fiber mo(std::move(body));
        dtact::Fiber mo2(std::move(mo));
        CHECK(!mo.joinable() && mo2.joinable());
        mo2.join();
        CHECK(m == 5);
        CHECK(dtact::spawn(&free_function_result).join() == 7);
        dtact::Fiber discards([] { return 3; }); // a result a Fiber drops
        discards.join();

        // Task<R>: results, including from fibers spawning fibers
        CHECK(dtact::spawn([] { return 42; }).join() == 42);
        CHECK(dtact::spawn([] { return std::string("hello"); }).join() == "hello");
        CHECK(dtact::spawn([] { return fib(15); }).join() == 610);

        // exceptions: rethrown by join()
        dtact::Fiber thrower([] { throw std::runtime_error("boom"); });
        bool caught = false;
        try {
            thrower.join();
        } catch (const std::runtime_error &e) {
            caught = std::string(e.what()) == "boom";
        }
        CHECK(caught);
        dtact::Task<int> tthrow = dtact::spawn([]() -> int { throw 17; });
        caught = false;
        try {
            (void)tthrow.join();
        } catch (int x) {
            caught = x == 17;
        }
        CHECK(caught);

        // this_fiber; options: a same-thread fiber stays on its worker
        CHECK(dtact::this_fiber::worker() == -1 && dtact::this_fiber::handle() == DTACT_INVALID_HANDLE);
        dtact::Task<bool> pinned = dtact::spawn(
            [] {
                int w = dtact::this_fiber::worker();
                CHECK(w >= 0);
                CHECK(dtact::this_fiber::handle() != DTACT_INVALID_HANDLE);
                for (int i = 0; i < 10; i++)
                    dtact::this_fiber::yield();
                return dtact::this_fiber::worker() == w;
            },
            dtact::SpawnOptions().switcher(dtact::Switcher::SameThreadFloat), 64 * 1024);
        CHECK(pinned.join());

        // many fibers, joined in order
        std::vector<dtact::Task<int>> ts;
        for (int i = 0; i < 200; i++)
            ts.push_back(dtact::spawn([i] { return i * 2; }));
        long sum = 0;
        for (size_t i = 0; i < ts.size(); i++)
            sum += ts[i].join();
        CHECK(sum == 199 * 200);

        dtact_stats_t s = moved.stats();
        CHECK(s.workers == 2 && s.spawned >= 200);
    } // shutdown + destroy

    // a new runtime after the guard destroyed the first; run() blocks until shutdown
    {
        dtact::Runtime rt(dtact::Config().workers(2), false);
        std::atomic<int> v(0);
        dtact::Fiber master([&v] {
            dtact::Task<int> t = dtact::spawn([] { return 5; });
            v = t.join();
            dtact::dtact_shutdown();
        });
        rt.run();
        CHECK(v == 5);
        master.join();
    }
    // a fiber cancelled by shutdown before it started: join() throws ECANCELED
    {
        dtact::Runtime rt(dtact::Config().workers(1), false);
        dtact::Fiber never([] {
            std::fprintf(stderr, "FAIL: a fiber cancelled by shutdown ran\n");
            std::abort();
        });
        rt.shutdown();
        bool cancelled = false;
        try {
            never.join();
        } catch (const dtact::Error &e) {
            cancelled = e.code() == DTACT_ECANCELED || e.code() == DTACT_ENOTRUNNING;
            if (!cancelled) std::fprintf(stderr, "join after shutdown: %s\n", e.what());
        }
        CHECK(cancelled);
    }
    std::printf("ok: Runtime, Fiber, Task, spawn, this_fiber, exceptions through join\n");
}

// 3. The synchronisation wrappers work with the standard lock types, between fibers and threads.
static void test_sync() {
    dtact::Runtime rt(dtact::Config().workers(2).capacity(4096));
    // mutex + std::lock_guard: a non-atomic counter from 4 fibers and this thread
    dtact::mutex m;
    long counter = 0;
    {
        std::vector<dtact::Fiber> fs;
        for (int i = 0; i < 4; i++)
            fs.emplace_back([&] {
                for (int k = 0; k < 20000; k++) {
                    std::lock_guard<dtact::mutex> g(m);
                    counter++;
                }
            });
        for (int k = 0; k < 20000; k++) {
            std::lock_guard<dtact::mutex> g(m);
            counter++;
        }
    }
    CHECK(counter == 100000);
    CHECK(m.try_lock());
    CHECK(!m.try_lock_for(std::chrono::milliseconds(2)));
    m.unlock();

    // condition_variable + unique_lock: a hand-off from a fiber to this thread
    dtact::condition_variable cv;
    bool ready = false;
    dtact::Fiber producer([&] {
        dtact::this_fiber::sleep_for(std::chrono::milliseconds(5));
        std::lock_guard<dtact::mutex> g(m);
        ready = true;
        cv.notify_all();
    });
    {
        std::unique_lock<dtact::mutex> lk(m);
        cv.wait(lk, [&] { return ready; });
        CHECK(!cv.wait_for(lk, std::chrono::milliseconds(1), [] { return false; }));
    }
    producer.join();

    // shared_mutex + std::shared_lock
    dtact::shared_mutex sm;
    {
#if __cplusplus >= 201402L
        std::shared_lock<dtact::shared_mutex> r1(sm);
#else
        sm.lock_shared();
        struct Unlock {
            dtact::shared_mutex &s;
            ~Unlock() { s.unlock_shared(); }
        } r1 = {sm};
#endif
        CHECK(sm.try_lock_shared());
        sm.unlock_shared();
        CHECK(!sm.try_lock());
    }
    CHECK(sm.try_lock());
    sm.unlock();

    // channel<T>: ordered, closed
    dtact::channel<int> ch(8);
    dtact::Fiber sender([&] {
        for (int i = 0; i < 1000; i++)
            CHECK(ch.send(i));
        ch.close();
    });
    int v = -1, expect = 0;
    while (ch.recv(v))
        CHECK(v == expect++);
    CHECK(expect == 1000);
    CHECK(!ch.send(1));
    sender.join();

    // semaphore, event, wait_group, barrier
    dtact::semaphore sem(0);
    dtact::event ev(true); // manual reset: one set() releases both fibers
    dtact::wait_group wg;
    dtact::barrier bar(3);
    std::atomic<int> leaders(0);
    wg.add(2);
    std::vector<dtact::Fiber> fs;
    for (int i = 0; i < 2; i++)
        fs.emplace_back([&] {
            sem.acquire();
            ev.wait();
            if (bar.arrive_and_wait()) leaders++;
            wg.done();
        });
    CHECK(!sem.try_acquire_for(std::chrono::milliseconds(1)));
    sem.release(2);
    ev.set();
    if (bar.arrive_and_wait()) leaders++;
    wg.wait();
    CHECK(leaders == 1);
    for (auto &f : fs)
        f.join();
}

int main() {
    std::printf("dtact.hpp test, C++ %ld, library %s\n", static_cast<long>(__cplusplus), dtact::dtact_version_string());
    test_options();
    test_unreceived_exceptions(); // forks: before this process starts any thread
    test_original_names();
    test_runtime_and_fibers();
    test_sync();
    std::printf("all dtact.hpp checks passed\n");
    return 0;
}
