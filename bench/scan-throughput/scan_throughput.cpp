// scan_throughput - messages per second through scan::Engine on N threads.
//
//   bench_scan_throughput --rules-dir DIR --levels FILE [--threads N] [--passes P]
//                         [--max-seconds S] FILE_OR_DIR...
//
// Loads the rule set the way the daemons do (scan::load_engine), reads every message into
// memory first (directories: every regular file in them, sorted), runs one untimed
// warm-up pass, then P timed passes over all messages with N threads pulling the next
// message from a shared counter. Each message is scanned with Engine::scan(raw): parse
// (MIME, decoding, HTML to text, URIs) and all rules, no blocklists, no antivirus.
// Stops early after --max-seconds (bounded), counting only completed messages.
// Prints one line: "messages=M seconds=S rate=R cpu_seconds=C threads=N rules=K bytes=B score_sum=X".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "pampero/common/config.hpp"
#include "pampero/scan/engine.hpp"

namespace fs = std::filesystem;
using pampero::scan::Engine;

namespace {

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "bench_scan_throughput: %s\nusage: bench_scan_throughput --rules-dir DIR "
                 "--levels FILE [--threads N] [--passes P] [--max-seconds S] FILE_OR_DIR...\n",
                 why);
    std::exit(2);
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "bench_scan_throughput: cannot read %s\n", p.c_str());
        std::exit(1);
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
    pampero::Config config;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    int passes = 3;
    double max_seconds = 120;
    std::vector<fs::path> inputs;
    bool have_rules = false, have_levels = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--rules-dir") {
            config.rules_dir = next();
            have_rules = true;
        } else if (a == "--levels") {
            config.levels = next();
            have_levels = true;
        } else if (a == "--threads") {
            threads = static_cast<unsigned>(std::max(1, std::atoi(next().c_str())));
        } else if (a == "--passes") {
            passes = std::max(1, std::atoi(next().c_str()));
        } else if (a == "--max-seconds") {
            max_seconds = std::atof(next().c_str());
        } else if (!a.empty() && a[0] == '-') {
            usage(("unknown option " + a).c_str());
        } else {
            inputs.emplace_back(a);
        }
    }
    if (!have_rules || !have_levels) usage("--rules-dir and --levels are required");
    if (inputs.empty()) usage("no messages given");
    config.file = config.rules_dir + "/pampero.yaml";

    auto engine_r = pampero::scan::load_engine(config);
    if (!engine_r) {
        std::fprintf(stderr, "bench_scan_throughput: rules: %s\n", engine_r.error().message.c_str());
        return 1;
    }
    std::shared_ptr<const Engine> engine = engine_r.value();

    std::vector<fs::path> files;
    for (const auto& in : inputs) {
        if (fs::is_directory(in)) {
            std::vector<fs::path> here;
            for (const auto& e : fs::directory_iterator(in))
                if (e.is_regular_file()) here.push_back(e.path());
            std::sort(here.begin(), here.end());
            files.insert(files.end(), here.begin(), here.end());
        } else {
            files.push_back(in);
        }
    }
    if (files.empty()) usage("no message files found");
    std::vector<std::string> messages;
    messages.reserve(files.size());
    std::size_t bytes = 0;
    for (const auto& f : files) {
        messages.push_back(slurp(f));
        bytes += messages.back().size();
    }

    // Warm-up: one pass, single thread (page faults, Hyperscan scratch, GMime init).
    double score_sum = 0;
    for (const auto& m : messages) score_sum += engine->scan(m).score;

    auto cpu_now = [] {
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    };
    const double cpu0 = cpu_now();
    const std::size_t total = messages.size() * static_cast<std::size_t>(passes);
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::atomic<bool> stop{false};
    const auto t0 = std::chrono::steady_clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(max_seconds);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            std::size_t mine = 0;
            for (;;) {
                if (stop.load(std::memory_order_relaxed)) break;
                std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= total) break;
                auto v = engine->scan(messages[i % messages.size()]);
                (void)v;
                ++mine;
                if ((mine & 63) == 0 && std::chrono::steady_clock::now() > deadline)
                    stop.store(true, std::memory_order_relaxed);
            }
            done.fetch_add(mine, std::memory_order_relaxed);
        });
    }
    for (auto& th : pool) th.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_now() - cpu0;
    const std::size_t n = done.load();
    std::printf("messages=%zu seconds=%.3f rate=%.1f cpu_seconds=%.3f threads=%u rules=%zu files=%zu bytes=%zu "
                "score_sum=%.1f%s\n",
                n, secs, n / secs, cpu, threads, engine->rule_count(), messages.size(), bytes,
                score_sum, stop.load() ? " stopped_at_time_limit=1" : "");
    return 0;
}
