// The signed verdict's cost: the milter hashes every body and signs once per message;
// the store verifies once per message (hashing the body again).
#include <benchmark/benchmark.h>

#include <string>

#include "pampero/verdict/verdict_signature.hpp"

using namespace pampero::scan;

namespace {

std::string text_body(std::size_t size) {
    std::string body;
    while (body.size() < size)
        body += "The quick brown fox jumps over the lazy dog, again and again.\r\n";
    return body;
}

const VerdictKeys& bench_keys() {
    static const VerdictKeys k =
        std::move(VerdictKeys::parse("k " + std::string(64, 'a'), "bench")).value();
    return k;
}

}  // namespace

static void BM_BodyHash(benchmark::State& state) {
    const std::string body = text_body(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(body_hash(body));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_BodyHash)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20);

static void BM_SignVerdict(benchmark::State& state) {
    const VerdictFields f{"7.0", "Yes, score=7.0 tag=5.0 tests=A,B", "Subject", "<id@x>",
                          body_hash("b")};
    std::int64_t t = 1'800'000'000;
    for (auto _ : state) benchmark::DoNotOptimize(sign_verdict(bench_keys().signing(), ++t, f));
}
BENCHMARK(BM_SignVerdict);

// The store's whole check on a message of the given body size.
static void BM_VerifyMessage(benchmark::State& state) {
    const std::string body = text_body(static_cast<std::size_t>(state.range(0)));
    const VerdictFields f{"7.0", "Yes, score=7.0", "Subject", "<id@x>", body_hash(body)};
    const std::string msg =
        "Subject: Subject\nMessage-ID: <id@x>\nX-Spam-Score: 7.0\nX-Spam-Status: " + f.status +
        "\nX-Spam-Signature: " + sign_verdict(bench_keys().signing(), 1, f) + "\n\n" + body;
    for (auto _ : state) {
        const auto c = verify_message_verdict(&bench_keys(), msg, 2, 0);
        if (c.outcome != VerdictCheck::Outcome::valid) state.SkipWithError("did not verify");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * msg.size()));
}
BENCHMARK(BM_VerifyMessage)->Arg(4 << 10)->Arg(64 << 10);
