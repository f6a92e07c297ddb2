// Directory lookups as the milter does them at RCPT: through the TTL cache (the hot path
// under a spam run) and, for comparison, straight to SQLite.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "pampero/common/directory.hpp"

using namespace pampero;

namespace {

constexpr int kUsers = 10000;

std::string make_directory() {
    static std::string path;
    if (!path.empty()) return path;
    path = (std::filesystem::temp_directory_path() /
            ("pampero-bench-" + std::to_string(getpid()) + ".db"))
               .string();
    std::filesystem::remove(path);
    auto d = open_directory("sqlite:" + path, OpenMode::read_write);
    if (!d) std::abort();
    (void)(*d)->add_domain("example.org");
    for (int i = 0; i < kUsers; ++i) {
        User u;
        u.address = "user" + std::to_string(i) + "@example.org";
        u.level = i % 5 + 1;
        u.node = "local";
        u.maildir = "example.org/user" + std::to_string(i) + "/";
        (void)(*d)->add_user(u);
    }
    return path;
}

std::vector<std::string> addresses() {
    std::vector<std::string> a;
    for (int i = 0; i < 1000; ++i)
        a.push_back("user" + std::to_string(i * 7 % kUsers) + "@example.org");
    return a;
}

}  // namespace

static void BM_FindUserCached(benchmark::State& state) {
    auto dir = make_cached_directory(
        std::move(open_directory("sqlite:" + make_directory(), OpenMode::read_only)).value(),
        std::chrono::seconds(30));
    const auto addrs = addresses();
    std::size_t i = 0;
    for (auto _ : state) {
        auto u = dir->find_user(addrs[i++ % addrs.size()]);
        benchmark::DoNotOptimize(u);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindUserCached)->Threads(1)->Threads(2);

static void BM_FindUserSqlite(benchmark::State& state) {
    auto dir = std::move(open_directory("sqlite:" + make_directory(), OpenMode::read_only)).value();
    const auto addrs = addresses();
    std::size_t i = 0;
    for (auto _ : state) {
        auto u = dir->find_user(addrs[i++ % addrs.size()]);
        benchmark::DoNotOptimize(u);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindUserSqlite);
