// sync-fiber: Boost.Fiber on the synchronisation and timer workloads W7, W7b, W7c, W10, W11, W12
// (docs/benchmarks.md, "Synchronisation and timers"); the Dtact side is benches/sync_bench.c.
//
// usage: sync-fiber WORKLOAD N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [rounds=5]
//                   [seed=S] [stack=16384] [suspend=0|1]
//
//   W7   P pairs (default WORKERS) bounce a token N times over two unbuffered_channel<uint64_t>  ns/round-trip
//   W7b  the same over two buffered_channel<uint64_t>(2) (Boost's capacity must be a power of two
//        and one slot stays empty: 2 holds one message)                                        ns/round-trip
//   W7c  the same through two auto-reset events (fibers::mutex + condition_variable + flag); the
//        token travels in a shared word                                                        ns/round-trip
//   W10  T fibers (default 4 x WORKERS) take one fibers::mutex N times in total around a plain
//        increment; checks the counter                                                         ns/lock-unlock
//   W11  one producer, one consumer fiber, buffered_channel<uint64_t>(C) (default 1024, a power of
//        two: holds C-1 messages), N messages; the consumer checks order and sum               ns/message
//   W12  N fibers each this_fiber::sleep_until(now + d), d pseudo-random 1..100 ms (seed S), `rounds`
//        rounds; lateness = wake time - deadline; prints p50_us, p99_us, max_us, cpu_s (getrusage
//        user+sys over the rounds)
//
// Scheduler: algo::work_stealing over WORKERS threads (the main thread, whose main fiber is the root of
// every workload, plus WORKERS-1 helper threads whose main fibers wait for the end). Idle threads spin
// (suspend=0, work_stealing's default) in every workload, W12 included, so W12's cpu_s is about WORKERS x
// elapsed. suspend=1 makes idle threads sleep until their next timer instead; on a 2-vCPU VM that made W12's
// lateness grow with the number of sleepers (p50 0.4 s at 20k sleepers, 1.8 s at 100k): every timer expiry
// then costs a condition-variable wake-up. Fiber stacks: fixedsize_stack of `stack` bytes (default 16 KiB).
// W12's fibers are detached and counted out through a wait group.
// A measurement (all but W12) is `batches` back-to-back runs timed together: one cold warm-up, a second
// unless the first took over 4 x mintime, the batch count grows until a run lasts mintime, then `reps`
// timed runs, one line each:
//   peer=boost.fiber workload=W10 n=1000000 workers=2 rep=1 batches=1 ns_per_op=41.20 unit=ns/lock-unlock ...
// Every result is validated; a wrong one prints CHECK FAILED on stderr and exits 1.
#include <boost/fiber/all.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bf = boost::fibers;
using clk = std::chrono::steady_clock;

static struct {
    std::string workload;
    uint64_t n = 0;
    unsigned workers = 0;
    int reps = 5;
    double min_time = 0.25;
    unsigned pairs = 0, tasks = 0;
    size_t cap = 1024;
    unsigned rounds = 5;
    uint64_t seed = 42;
    size_t stack = 16384;
    int suspend = -1;
} C;

#define CHECK_FAIL(...)                                                                                                \
    do {                                                                                                               \
        std::fprintf(stderr, "peer=boost.fiber workload=%s n=%llu CHECK FAILED: ", C.workload.c_str(),                 \
                     (unsigned long long)C.n);                                                                         \
        std::fprintf(stderr, __VA_ARGS__);                                                                             \
        std::fprintf(stderr, "\n");                                                                                    \
        std::fflush(stdout);                                                                                           \
        std::fflush(stderr);                                                                                           \
        std::_Exit(1);                                                                                                 \
    } while (0)

static double now_s() { return std::chrono::duration<double>(clk::now().time_since_epoch()).count(); }

template <typename Fn> static bf::fiber spawn(Fn &&fn) {
    return bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(C.stack), std::forward<Fn>(fn));
}

// ------------------------------------------------------------------ W7 family

template <typename Chan, typename Make> static void w7_chan(uint64_t m, unsigned np, Make make) {
    std::atomic<uint64_t> bad{0};
    std::vector<std::unique_ptr<Chan>> chans;
    std::vector<bf::fiber> fs;
    for (unsigned p = 0; p < np; p++) {
        chans.push_back(make());
        chans.push_back(make());
        Chan *req = chans[2 * p].get(), *rep = chans[2 * p + 1].get();
        fs.push_back(spawn([=, &bad] { // responder
            uint64_t v = 0;
            for (uint64_t i = 0; i < m; i++) {
                if (req->pop(v) != bf::channel_op_status::success || v != 2 * i + 1) bad++;
                rep->push(2 * i + 2);
            }
        }));
        fs.push_back(spawn([=, &bad] { // initiator
            uint64_t v = 0;
            for (uint64_t i = 0; i < m; i++) {
                req->push(2 * i + 1);
                if (rep->pop(v) != bf::channel_op_status::success || v != 2 * i + 2) bad++;
            }
        }));
    }
    for (auto &f : fs)
        f.join();
    if (bad.load()) CHECK_FAIL("%llu bad tokens", (unsigned long long)bad.load());
}

// an auto-reset event: set stores the signal or hands it to one waiter; wait consumes it
struct event {
    bf::mutex mtx;
    bf::condition_variable cv;
    bool set_ = false;
    void set() {
        {
            std::unique_lock<bf::mutex> lk(mtx);
            set_ = true;
        }
        cv.notify_one();
    }
    void wait() {
        std::unique_lock<bf::mutex> lk(mtx);
        cv.wait(lk, [this] { return set_; });
        set_ = false;
    }
};

struct alignas(64) event_pair {
    std::atomic<uint64_t> tok{0};
    event to_a, to_b;
};

static void w7_event(uint64_t m, unsigned np) {
    std::atomic<uint64_t> bad{0};
    std::vector<std::unique_ptr<event_pair>> ps;
    std::vector<bf::fiber> fs;
    for (unsigned p = 0; p < np; p++) {
        ps.emplace_back(new event_pair);
        event_pair *e = ps.back().get();
        fs.push_back(spawn([=, &bad] {
            for (uint64_t i = 0; i < m; i++) {
                while (e->tok.load(std::memory_order_acquire) < 2 * i + 1)
                    e->to_a.wait();
                if (e->tok.load(std::memory_order_acquire) != 2 * i + 1) bad++;
                e->tok.store(2 * i + 2, std::memory_order_release);
                e->to_b.set();
            }
        }));
        fs.push_back(spawn([=, &bad] {
            for (uint64_t i = 0; i < m; i++) {
                e->tok.store(2 * i + 1, std::memory_order_release);
                e->to_a.set();
                while (e->tok.load(std::memory_order_acquire) < 2 * i + 2)
                    e->to_b.wait();
                if (e->tok.load(std::memory_order_acquire) != 2 * i + 2) bad++;
            }
        }));
    }
    for (auto &f : fs)
        f.join();
    if (bad.load()) CHECK_FAIL("%llu bad tokens", (unsigned long long)bad.load());
}

// ------------------------------------------------------------------ W10 mutex

static void w10(uint64_t total, unsigned nt) {
    bf::mutex mtx;
    uint64_t counter = 0; // plain: only the mutex protects it
    std::vector<bf::fiber> fs;
    for (unsigned t = 0; t < nt; t++) {
        uint64_t iters = total / nt + (t < total % nt ? 1 : 0);
        fs.push_back(spawn([&mtx, &counter, iters] {
            for (uint64_t i = 0; i < iters; i++) {
                mtx.lock();
                counter++;
                mtx.unlock();
            }
        }));
    }
    for (auto &f : fs)
        f.join();
    if (counter != total) CHECK_FAIL("counter %llu != %llu", (unsigned long long)counter, (unsigned long long)total);
}

// ------------------------------------------------------------------ W11 channel

static void w11(uint64_t cnt, size_t cap) {
    bf::buffered_channel<uint64_t> ch(cap);
    std::string err;
    bf::fiber prod = spawn([&] {
        for (uint64_t i = 0; i < cnt; i++)
            ch.push(i);
    });
    bf::fiber cons = spawn([&] {
        uint64_t sum = 0, v = 0;
        char buf[128];
        for (uint64_t i = 0; i < cnt; i++) {
            if (ch.pop(v) != bf::channel_op_status::success || v != i) {
                std::snprintf(buf, sizeof buf, "message %llu: got %llu", (unsigned long long)i, (unsigned long long)v);
                err = buf;
                return;
            }
            sum += v;
        }
        if (sum != cnt * (cnt - 1) / 2) {
            std::snprintf(buf, sizeof buf, "sum %llu != %llu", (unsigned long long)sum,
                          (unsigned long long)(cnt * (cnt - 1) / 2));
            err = buf;
        }
    });
    cons.join();
    if (!err.empty()) CHECK_FAIL("%s", err.c_str());
    prod.join();
}

// ------------------------------------------------------------------ W12 timers

// splitmix64: the same pseudo-random durations in every program of the comparison
static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double cpu_seconds() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// a wait group: the root waits until every fiber of the round has counted itself out
struct waitgroup {
    bf::mutex mtx;
    bf::condition_variable cv;
    uint64_t left = 0;
    void done() {
        std::unique_lock<bf::mutex> lk(mtx);
        if (--left == 0) cv.notify_all();
    }
    void wait() {
        std::unique_lock<bf::mutex> lk(mtx);
        cv.wait(lk, [this] { return left == 0; });
    }
};

static void w12(int rep) {
    uint64_t n = C.n;
    std::vector<int64_t> late(n * C.rounds);
    double t0 = now_s(), c0 = cpu_seconds();
    for (uint64_t r = 0; r < C.rounds; r++) {
        waitgroup wg;
        wg.left = n;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t ms = 1 + splitmix64(C.seed ^ (r * n + i)) % 100;
            int64_t *slot = &late[r * n + i];
            spawn([ms, slot, &wg] {
                clk::time_point deadline = clk::now() + std::chrono::milliseconds(ms);
                boost::this_fiber::sleep_until(deadline);
                *slot = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - deadline).count();
                wg.done();
            }).detach();
        }
        wg.wait();
    }
    double el = now_s() - t0, cpu = cpu_seconds() - c0;
    std::sort(late.begin(), late.end());
    if (late[0] < 0) CHECK_FAIL("a sleep ended %lld ns before its deadline", (long long)-late[0]);
    auto pct = [&](double q) { return (double)late[(size_t)(q * (double)(late.size() - 1))] / 1e3; };
    std::printf("peer=boost.fiber workload=W12 n=%llu workers=%u rep=%d rounds=%u p50_us=%.1f p99_us=%.1f max_us=%.1f "
                "cpu_s=%.3f unit=us elapsed_s=%.4f suspend=%d\n",
                (unsigned long long)n, C.workers, rep, C.rounds, pct(0.5), pct(0.99), pct(1.0), cpu, el, C.suspend);
    std::fflush(stdout);
}

// ------------------------------------------------------------------ measurement

static double time_batches(const std::function<void()> &batch, uint64_t k) {
    double t0 = now_s();
    for (uint64_t i = 0; i < k; i++)
        batch();
    return now_s() - t0;
}

static void measure(const std::function<void()> &batch, const char *unit, double ops, const std::string &extra) {
    uint64_t k = 1;
    double t = time_batches(batch, k);
    if (t < 4 * C.min_time) t = time_batches(batch, k);
    while (t < C.min_time) {
        uint64_t est = (uint64_t)std::ceil((double)k * 1.3 * C.min_time / std::fmax(t, 1e-7));
        k = est > 2 * k ? est : 2 * k;
        t = time_batches(batch, k);
    }
    for (int r = 1; r <= C.reps; r++) {
        double el = time_batches(batch, k);
        std::printf("peer=boost.fiber workload=%s n=%llu workers=%u rep=%d batches=%llu ns_per_op=%.2f unit=%s "
                    "elapsed_s=%.4f%s suspend=%d\n",
                    C.workload.c_str(), (unsigned long long)C.n, C.workers, r, (unsigned long long)k,
                    el * 1e9 / ((double)k * ops), unit, el, extra.c_str(), C.suspend);
        std::fflush(stdout);
    }
}

// ------------------------------------------------------------------ main

[[noreturn]] static void usage() {
    std::fprintf(stderr,
                 "usage: sync-fiber W7|W7b|W7c|W10|W11|W12 N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] "
                 "[cap=C] [rounds=5] [seed=S] [stack=16384] [suspend=0|1]\n");
    std::exit(2);
}

static bf::mutex g_end_mtx;
static bf::condition_variable g_end_cv;
static bool g_end = false;

int main(int argc, char **argv) {
    if (argc < 4) usage();
    char *end;
    C.workload = argv[1];
    C.n = std::strtoull(argv[2], &end, 10);
    if (*end || C.n == 0) usage();
    C.workers = (unsigned)std::strtoul(argv[3], &end, 10);
    if (*end || C.workers == 0) usage();
    for (int i = 4; i < argc; i++) {
        const char *eq = std::strchr(argv[i], '=');
        if (!eq) usage();
        std::string k(argv[i], (size_t)(eq - argv[i]));
        const char *v = eq + 1;
        if (k == "reps") C.reps = std::atoi(v);
        else if (k == "mintime") C.min_time = std::atof(v);
        else if (k == "pairs") C.pairs = (unsigned)std::atoi(v);
        else if (k == "tasks") C.tasks = (unsigned)std::atoi(v);
        else if (k == "cap") C.cap = (size_t)std::strtoull(v, nullptr, 10);
        else if (k == "rounds") C.rounds = (unsigned)std::atoi(v);
        else if (k == "seed") C.seed = std::strtoull(v, nullptr, 0);
        else if (k == "stack") C.stack = (size_t)std::strtoull(v, nullptr, 10);
        else if (k == "suspend") C.suspend = std::atoi(v) != 0;
        else usage();
    }
    const std::string &w = C.workload;
    if (w != "W7" && w != "W7b" && w != "W7c" && w != "W10" && w != "W11" && w != "W12") {
        std::fprintf(stderr, "sync-fiber: unknown workload %s\n", w.c_str());
        return 2;
    }
    if (C.rounds == 0 || C.cap < 2 || (C.cap & (C.cap - 1))) usage();
    if (C.pairs == 0) C.pairs = C.workers;
    if (C.tasks == 0) C.tasks = 4 * C.workers;
    if (C.suspend < 0) C.suspend = 0;

    std::vector<std::thread> helpers;
    for (unsigned i = 1; i < C.workers; i++)
        helpers.emplace_back([] {
            bf::use_scheduling_algorithm<bf::algo::work_stealing>(C.workers, C.suspend != 0);
            std::unique_lock<bf::mutex> lk(g_end_mtx);
            g_end_cv.wait(lk, [] { return g_end; });
        });
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(C.workers, C.suspend != 0); // waits for all W

    char ex[64];
    double pp = (double)C.n * C.pairs;
    std::snprintf(ex, sizeof ex, " pairs=%u", C.pairs);
    if (w == "W7") {
        measure(
            [] {
                w7_chan<bf::unbuffered_channel<uint64_t>>(
                    C.n, C.pairs, [] { return std::make_unique<bf::unbuffered_channel<uint64_t>>(); });
            },
            "ns/round-trip", pp, std::string(ex) + " via=unbuffered_channel");
    } else if (w == "W7b") {
        measure(
            [] {
                w7_chan<bf::buffered_channel<uint64_t>>(
                    C.n, C.pairs, [] { return std::make_unique<bf::buffered_channel<uint64_t>>(2); });
            },
            "ns/round-trip", pp, std::string(ex) + " via=buffered_channel2");
    } else if (w == "W7c") {
        measure([] { w7_event(C.n, C.pairs); }, "ns/round-trip", pp, std::string(ex) + " via=event");
    } else if (w == "W10") {
        std::snprintf(ex, sizeof ex, " tasks=%u", C.tasks);
        measure([] { w10(C.n, C.tasks); }, "ns/lock-unlock", (double)C.n, ex);
    } else if (w == "W11") {
        std::snprintf(ex, sizeof ex, " cap=%zu", C.cap);
        measure([] { w11(C.n, C.cap); }, "ns/message", (double)C.n, ex);
    } else {
        for (int r = 1; r <= C.reps; r++)
            w12(r);
    }

    {
        std::unique_lock<bf::mutex> lk(g_end_mtx);
        g_end = true;
    }
    g_end_cv.notify_all();
    for (auto &t : helpers)
        t.join();
    return 0;
}
