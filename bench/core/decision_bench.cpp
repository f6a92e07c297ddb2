// The per-recipient decision: run for every recipient of every message.
#include <benchmark/benchmark.h>

#include "pampero/verdict/decision.hpp"

using namespace pampero;

static void BM_Decide(benchmark::State& state) {
    const scan::Level level{3, "standard", 5.0, 15.0};
    double score = 0;
    for (auto _ : state) {
        score = score > 20 ? -2 : score + 0.37;  // walks all three outcomes
        benchmark::DoNotOptimize(scan::decide(score, Listing::none, false, level));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decide);
