// The reload holder's read (Snapshot<T>::get()): done for every message (engine, keys,
// blocklists) and for every mirror lookup (each list's zone), on every milter thread.
// Threads:2 has both cores reading the same holder at once, the contended case.
#include <benchmark/benchmark.h>

#include "pampero/common/snapshot.hpp"

namespace {

struct Payload {
    int value = 1;
};

pampero::Snapshot<const Payload>& holder() {
    static pampero::Snapshot<const Payload> h(std::make_shared<const Payload>());
    return h;
}

void BM_SnapshotGet(benchmark::State& state) {
    for (auto _ : state) {
        auto p = holder().get();
        benchmark::DoNotOptimize(p->value);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SnapshotGet)->Threads(1)->Threads(2);

}  // namespace
