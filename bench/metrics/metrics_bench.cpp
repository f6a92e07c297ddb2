// What the metrics cost on the hot path (common/metrics.hpp): one counter, a labelled
// series found by name, a histogram observation, and everything pampero-milter adds per
// message (a verdict, three recipient actions, five rule hits, two lists, the scan
// time), on 1 and 2 threads sharing the same counters (the worst case: one cache line
// bounced between cores). Also the scrape: rendering a page of 1,000 rule series.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "pampero/common/metrics.hpp"

using namespace pampero::metrics;

namespace {

struct Fixture {
    Registry reg;
    Counter& plain = reg.counter("plain_total", "p");
    CounterFamily& messages = reg.counter_family("messages_total", "m", {"verdict"});
    CounterFamily& recipients = reg.counter_family("recipients_total", "r", {"action"});
    CounterFamily& rules = reg.counter_family("rule_hits_total", "h", {"rule"});
    CounterFamily& lookups = reg.counter_family("lookups_total", "l", {"list"});
    CounterFamily& hits = reg.counter_family("hits_total", "h", {"list"});
    Histogram& scan = reg.histogram("scan_seconds", "s", kLatencyBuckets);
    std::vector<std::string> rule_names;
    Fixture() {
        for (int i = 0; i < 1000; ++i) {
            rule_names.push_back("RULE_NAME_NUMBER_" + std::to_string(i));
            rules.get({rule_names.back()});
        }
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

void BM_CounterInc(benchmark::State& state) {
    Counter& c = fixture().plain;
    for (auto _ : state) c.inc();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_FamilyGetInc(benchmark::State& state) {
    Fixture& f = fixture();
    std::size_t i = 0;
    for (auto _ : state) f.rules.get({f.rule_names[i++ % 1000]}).inc();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FamilyGetInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
    Histogram& h = fixture().scan;
    std::int64_t ns = 12345;
    for (auto _ : state) {
        h.observe(std::chrono::nanoseconds(ns));
        ns = (ns * 7 + 13) % 200'000'000;  // spread over the buckets
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// Everything the milter's Session adds for one scored message.
void BM_PerMessage(benchmark::State& state) {
    Fixture& f = fixture();
    std::size_t i = 0;
    for (auto _ : state) {
        ScopedTimer t(&f.scan);
        f.messages.get({"inbox"}).inc();
        f.recipients.get({"inbox"}).inc(2);
        f.recipients.get({"spam"}).inc(1);
        f.recipients.get({"reject"}).inc(0);
        for (int k = 0; k < 5; ++k) f.rules.get({f.rule_names[(i + k * 97) % 1000]}).inc();
        f.lookups.get({"zen.spamhaus.org"}).inc(2);
        f.lookups.get({"multi.surbl.org"}).inc(3);
        f.hits.get({"zen.spamhaus.org"}).inc();
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PerMessage)->Threads(1)->Threads(2);

void BM_Render1000Rules(benchmark::State& state) {
    Fixture& f = fixture();
    std::size_t bytes = 0;
    for (auto _ : state) bytes = f.reg.render().size();
    state.counters["page_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render1000Rules)->Unit(benchmark::kMillisecond);

}  // namespace
