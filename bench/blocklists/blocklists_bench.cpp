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

#include "pampero/lists/zone.hpp"

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

// Entry i of the dnset, shaped like real URI domains: 70% name.tld, 15% under a two-label
// public suffix (name.co.uk), 15% a host under a shared-hosting domain (name.github.io).
// Every 5th is a wildcard with its own name (".name"), every 7th otherwise a wildcard for
// subdomains only ("*.name"); the rest are exact names.
enum class Kind { exact, both, subdomains };

std::string name_entry(std::size_t i, Kind& kind) {
    std::uint64_t state = i * 0x9e3779b97f4a7c15ull + 17;
    auto rng = [&state] {  // splitmix64: cheap and deterministic per index
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return static_cast<std::uint32_t>(z ^ (z >> 31));
    };
    static const char* tlds[] = {"com", "net", "org", "info", "ru",
                                 "cn",  "biz", "top", "xyz",  "de"};
    static const char* suffixes[] = {"co.uk", "com.br", "com.au", "co.jp", "org.uk"};
    static const char* hosts[] = {"blogspot.com", "github.io", "web.app", "wixsite.com",
                                  "netlify.app"};
    const int len = 6 + static_cast<int>(rng() % 12);
    std::string s;
    for (int k = 0; k < len; ++k) s += static_cast<char>('a' + rng() % 26);
    s += std::to_string(i);
    s += '.';
    const std::uint32_t shape = rng() % 100;
    s += shape < 70 ? tlds[rng() % 10] : shape < 85 ? suffixes[rng() % 5] : hosts[rng() % 5];
    kind = i % 5 == 0 ? Kind::both : i % 7 == 0 ? Kind::subdomains : Kind::exact;
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
        // Every 100th entry (a wildcard) also has an exclusion for its www. subdomain.
        std::ofstream f(dir / "bench.dnset");
        f << ":127.0.0.2:Listed, see https://bl.example/lookup?$\ntest\n";
        for (std::size_t i = 0; i + 1 < kNameEntries; ++i) {
            Kind kind;
            const std::string n = name_entry(i, kind);
            f << (kind == Kind::both ? "." : kind == Kind::subdomains ? "*." : "") << n << '\n';
            if (i % 100 == 0) f << "!www." << n << '\n';
        }
    }
}

// The dnset queries: URI domains as a message has them, in one buffer (as the engine's
// are). 3/8 listed (an exact name; a subdomain one to three labels under a wildcard),
// 5/8 not: names of the same shape that are not in the list, their subdomains (every
// parent up to the deepest wildcard is probed), subdomains of exact-only entries and the
// excluded www. names. About 40% are listed.
struct NameQueries {
    std::string buf;
    std::vector<std::string_view> q;
};

const NameQueries& name_queries() {
    static const NameQueries queries = [] {
        NameQueries nq;
        std::mt19937 rng(2);
        static const char* subs[] = {"www.", "mail.", "a.b.", "img.cdn.s3."};
        std::vector<std::pair<std::size_t, std::size_t>> spans;
        for (std::size_t k = 0; k < (1 << 18); ++k) {
            Kind kind;
            const std::size_t i = rng() % (kNameEntries - 1);
            const std::string n = name_entry(i, kind);
            const std::string sub = subs[rng() % 4];
            std::string q;
            switch (k % 8) {
                case 0:
                case 1:
                    q = kind == Kind::subdomains ? "www." + n : n;
                    break;  // listed
                case 2:
                    q = kind == Kind::exact ? n : sub + n;
                    break;  // listed (bar a www. exclusion)
                case 3:
                    q = "www." + n;
                    break;  // listed under a wildcard, else not
                case 4:
                case 5:
                    q = "nx" + n;
                    break;
                case 6:
                    q = "www.nx" + n;
                    break;
                default:
                    q = "cdn.img.nx" + n;
                    break;
            }
            spans.emplace_back(nq.buf.size(), q.size());
            nq.buf += q;
        }
        for (auto [off, len] : spans) nq.q.emplace_back(nq.buf.data() + off, len);
        return nq;
    }();
    return queries;
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
    for (std::size_t i = 0; i < q.size(); ++i)
        q[i] = i % 2 ? ip_entry(rng() % (kIpEntries - 1)) : rng();
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        hits += g_zones->ip->lookup_ip(q[i]).listed();
        i = (i + 1) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] =
        static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Ip4setLookup);

void BM_DnsetLookup(benchmark::State& state) {
    // One name at a time (lookup_name: the engine's query path, a DNS-like single answer).
    const auto& q = name_queries().q;
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        hits += g_zones->names->lookup_name(q[i]).listed();
        i = (i + 1) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] =
        static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DnsetLookup);

void BM_DnsetLookupBatch(benchmark::State& state) {
    // The same queries through lookup_names(), what the engine calls with a message's URI
    // domains, in batches of state.range(0).
    const auto& q = name_queries().q;
    const auto batch = static_cast<std::size_t>(state.range(0));
    std::vector<ZoneMatch> out(batch);
    std::size_t i = 0, hits = 0;
    for (auto _ : state) {
        g_zones->names->lookup_names(std::span<const std::string_view>(q.data() + i, batch), out);
        for (const auto& m : out) hits += m.listed();
        i = (i + batch) & (q.size() - 1);
    }
    benchmark::DoNotOptimize(hits);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    state.counters["hit_ratio"] =
        static_cast<double>(hits) / static_cast<double>(state.iterations() * batch);
}
BENCHMARK(BM_DnsetLookupBatch)->Arg(4)->Arg(32);

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "--write-files") == 0) {
        write_files(argv[2]);
        return 0;
    }
    if (argc >= 3 && std::strcmp(argv[1], "--rss") == 0) {
        const ZoneFormat f = argc >= 4 && std::strcmp(argv[3], "ip4tset") == 0 ? ZoneFormat::ip4tset
                                                                               : ZoneFormat::ip4set;
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
