// tests/install/consumer.cpp -- the installed dtact.hpp, built by scripts/test-install.sh:
// the RAII runtime, a Task per term, results joined. Exits non-zero on a wrong result.
#include <cstdio>
#include <vector>

#include "dtact.hpp"

int main() {
    dtact::Runtime rt(dtact::Config().workers(2));
    std::vector<dtact::Task<long>> ts;
    for (long i = 1; i <= 100; i++)
        ts.push_back(dtact::spawn([i] { return i * i; }));
    long sum = 0;
    for (size_t i = 0; i < ts.size(); i++)
        sum += ts[i].join();
    std::printf("consumer (C++): sum of squares 1..100 = %ld\n", sum);
    return sum == 338350 ? 0 : 1;
}
