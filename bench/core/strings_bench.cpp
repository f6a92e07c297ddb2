// common/strings.hpp on the blocklist path: every client, Received and URI address of a
// message is parsed (parse_ipv4_peer), and each dnset or DNS lookup of one is a reversed
// name (reversed_ipv4, the buffer form the zone uses).
#include <benchmark/benchmark.h>

#include "pampero/common/strings.hpp"

namespace {

const char* const kAddresses[] = {"192.0.2.10",          "10.1.2.3", "203.0.113.255", "8.8.8.8",
                                  "::ffff:198.51.100.7", "1.2.3"};

void BM_ParseIpv4Peer(benchmark::State& state) {
    std::size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(pampero::parse_ipv4_peer(kAddresses[i++ % 6]));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseIpv4Peer);

void BM_ReversedIpv4(benchmark::State& state) {
    std::uint32_t ip = 0xc0000201;
    for (auto _ : state) {
        char buf[pampero::kMaxIpv4Text];
        const std::size_t n = pampero::reversed_ipv4(ip, buf);
        benchmark::DoNotOptimize(buf);
        benchmark::DoNotOptimize(n);
        ip += 0x01010101;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReversedIpv4);

}  // namespace
