// blocklists_bench - mirror zone lookups, load time and memory.
//
//   bench_blocklists [google-benchmark flags]
//       Generates (deterministically) a 1,000,000-entry ip4set and a 500,000-entry dnset
//       in a temporary folder, loads them, prints load times and memory, then runs the
//       lookup benchmarks (items_per_second = lookups per second, one thread).
//   bench_blocklists --write-files DIR
//       Only writes DIR/bench.ip4set and DIR/bench.dnset (for bench/mirror-vs-rbldnsd).
//   bench_blocklists --rss DIR [ip4set|ip4tset]
//       Loads DIR's two files in a fresh process and prints "rss_kb N zone_kb M load_ms T",
//       the process' whole resident set after the load, as bench/mirror-vs-rbldnsd
//       compares it with rbldnsd's.
// The ip4set holds single addresses only, so the same file also loads as ip4tset.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pampero/scan/zone.hpp"

using namespace pampero;
using namespace pampero::scan;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kIpEntries = 1'000'000;
constexpr std::size_t kNameEntries = 500'000;

std::uint32_t ip_entry(std::size_t i) {
    // Spread over the whole space, unique: a bijective mix of the index.
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u + 0x9e3779b9u;
    x ^= x >> 16;
    x *= 0x45d9f3bu;
    x ^= x >> 16;
    return x;
}

std::string name_entry(std::size_t i, bool& wildcard) {
    std::uint64_t state = i * 0x9e3779b97f4a7c15ull + 17;
    auto rng = [&state] {  // splitmix64: cheap and deterministic per index
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return static_cast<std::uint32_t>(z ^ (z >> 31));
    };
    static const char* tlds[] = {"com", "net", "org", "info", "ru", "cn", "biz", "top", "xyz", "de"};
    const int len = 6 + static_cast<int>(rng() % 12);
    std::string s;
    for (int k = 0; k < len; ++k) s += static_cast<char>('a' + rng() % 26);
    s += std::to_string(i);
    s += '.';
    s += tlds[rng() % 10];
    wildcard = i % 5 == 0;
    return s;
}

void write_files(const fs::path& dir) {
    fs::create_directories(dir);
    {
        std::ofstream f(dir / "bench.ip4set");
        f << ":127.0.0.2:Listed, see https://bl.example/lookup?$\n127.0.0.2\n";
        for (std::size_t i = 0; i + 1 < kIpEntries; ++i) f << format_ipv4(ip_entry(i)) << '\n';
    }
    {
        std::ofstream f(dir / "bench.dnset");
        f << ":127.0.0.2:Listed, see https://bl.example/lookup?$\ntest\n";
        for (std::size_t i = 0; i + 1 < kNameEntries; ++i) {
            bool wild = false;
            const std::string n = name_entry(i, wild);
            f << (wild ? "." : "") << n << '\n';
        }
    }
}

long rss_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

struct Loaded {
    std::shared_ptr<const Zone> ip, names;
    double ip_ms = 0, names_ms = 0;
};

Loaded load(const fs::path& dir, ZoneFormat ipfmt) {
    Loaded l;
    auto t0 = std::chrono::steady_clock::now();
    auto a = Zone::load_file((dir / "bench.ip4set").string(), ipfmt);
    auto t1 = std::chrono::steady_clock::now();
    auto b = Zone::load_file((dir / "bench.dnset").string(), ZoneFormat::dnset);
    auto t2 = std::chrono::steady_clock::now();
    if (!a || !b) {
        std::fprintf(stderr, "load failed: %s\n", (!a ? a.error() : b.error()).message.c_str());
        std::exit(1);
    }
    l.ip = a.value();
    l.names = b.value();
    l.ip_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    l.names_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    return l;
}

Loaded* g_zones = nullptr;

void BM_Ip4setLookup(benchmark::State& state) {
    // Half the queries are listed addresses, half random (almost all not listed).
    std::mt19937 rng(1);
    std::vector<std::uint32_t> q(1 << 20);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = i % 2 ? ip_entry(rng() % (kIpEntries - 1)) : rng();
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        hits += g_zones->ip->lookup_ip(q[i]).listed();
        i = (i + 1) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Ip4setLookup);

void BM_DnsetLookup(benchmark::State& state) {
    // Half listed names (exact, or under a wildcard), half unlisted names of the same shape.
    std::mt19937 rng(2);
    // The names sit in one buffer, as a message's URI domains do when the engine asks.
    std::string buf;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    for (std::size_t k = 0; k < (1 << 18); ++k) {
        bool wild = false;
        const std::size_t i = rng() % (kNameEntries - 1);
        std::string n = name_entry(i, wild);
        n = k % 2 ? (wild ? "www." + n : n) : "nx" + n;
        spans.emplace_back(buf.size(), n.size());
        buf += n;
    }
    std::vector<std::string_view> q;
    for (auto [off, len] : spans) q.emplace_back(buf.data() + off, len);
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        hits += g_zones->names->lookup_name(q[i]).listed();
        i = (i + 1) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DnsetLookup);

void BM_DnsetLookupBatch(benchmark::State& state) {
    // The same query mix, through lookup_names() in batches of 32 (a message's URI domains).
    std::mt19937 rng(2);
    std::string buf;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    for (std::size_t k = 0; k < (1 << 18); ++k) {
        bool wild = false;
        const std::size_t i = rng() % (kNameEntries - 1);
        std::string n = name_entry(i, wild);
        n = k % 2 ? (wild ? "www." + n : n) : "nx" + n;
        spans.emplace_back(buf.size(), n.size());
        buf += n;
    }
    std::vector<std::string_view> q;
    for (auto [off, len] : spans) q.emplace_back(buf.data() + off, len);
    constexpr std::size_t kBatch = 32;
    std::vector<ZoneMatch> out(kBatch);
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        g_zones->names->lookup_names(std::span<const std::string_view>(q.data() + i, kBatch), out);
        for (const auto& m : out) hits += m.listed();
        i = (i + kBatch) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations() * kBatch);
    state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations() * kBatch);
}
BENCHMARK(BM_DnsetLookupBatch);

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "--write-files") == 0) {
        write_files(argv[2]);
        return 0;
    }
    if (argc >= 3 && std::strcmp(argv[1], "--rss") == 0) {
        const ZoneFormat f = argc >= 4 && std::strcmp(argv[3], "ip4tset") == 0 ? ZoneFormat::ip4tset : ZoneFormat::ip4set;
        Loaded l = load(argv[2], f);
        malloc_trim(0);  // give back what the parser's temporaries left in the heap
        std::printf("rss_kb %ld zone_kb %zu load_ms %.0f\n", rss_kb(),
                    (l.ip->stats().memory + l.names->stats().memory) / 1024, l.ip_ms + l.names_ms);
        return 0;
    }
    char tmpl[] = "/tmp/pampero-bench-bl-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    const fs::path dir(tmpl);
    write_files(dir);
    const long before = rss_kb();
    Loaded l = load(dir, ZoneFormat::ip4set);
    malloc_trim(0);
    const long after = rss_kb();
    g_zones = &l;
    std::printf("blocklists: ip4set %zu entries loaded in %.0f ms (%zu KB of lookup structures)\n",
                l.ip->stats().entries, l.ip_ms, l.ip->stats().memory / 1024);
    std::printf("blocklists: dnset %zu entries loaded in %.0f ms (%zu KB of lookup structures)\n",
                l.names->stats().entries, l.names_ms, l.names->stats().memory / 1024);
    std::printf("blocklists: resident memory %.1f MB for both (process RSS %.1f MB after load)\n",
                static_cast<double>(after - before) / 1024.0, static_cast<double>(after) / 1024.0);
    std::fflush(stdout);
    fs::remove_all(dir);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
