// ffi/examples/cpp_pipeline.cpp -- Dtact from C++: fibers run lambdas through
// a small RAII wrapper, return results through dtact_join, and a fiber
// awaits its children without blocking its worker thread.
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "dtact.h"

namespace {

// Runs f on a new joinable fiber; join() returns its result.
class Fiber {
  public:
    explicit Fiber(std::function<long()> f) : fn_(new std::function<long()>(std::move(f))) {
        dtact_spawn_attr_t attr;
        dtact_spawn_attr_init(&attr);
        attr.flags = DTACT_SPAWN_JOINABLE;
        int rc = dtact_spawn(&h_, &Fiber::trampoline, fn_.get(), &attr);
        if (rc != DTACT_OK) throw std::runtime_error(dtact_strerror(rc));
    }
    long join() {
        void *res = nullptr;
        int rc = dtact_join(h_, -1, &res);
        if (rc != DTACT_OK) throw std::runtime_error(dtact_strerror(rc));
        long v = *static_cast<long *>(res);
        delete static_cast<long *>(res);
        return v;
    }

  private:
    static void *trampoline(void *p) { return new long((*static_cast<std::function<long()> *>(p))()); }
    std::unique_ptr<std::function<long()>> fn_;
    dtact_handle_t h_ = DTACT_INVALID_HANDLE;
};

long fib(long n) {
    if (n < 2) return n;
    Fiber a([n] { return fib(n - 1); });
    long b = fib(n - 2);
    return a.join() + b;
}

} // namespace

int main() {
    dtact_config_t cfg = dtact_default_config();
    cfg.mWorkers = 2;
    void *rt = dtact_init(&cfg);
    if (!rt) {
        std::fprintf(stderr, "dtact_init: %s\n", dtact_strerror(dtact_last_error()));
        return 1;
    }
    if (dtact_start(rt) != DTACT_OK) return 1;
    Fiber root([] { return fib(20); });
    long v = root.join(); // a host thread joins: spins briefly, then sleeps on a futex
    std::printf("C++: fib(20) = %ld computed by fibers on 2 workers\n", v);
    dtact_shutdown();
    dtact_destroy(rt);
    return v == 6765 ? 0 : 1;
}
