// libFuzzer target: the RADIUS codec and accounting on arbitrary datagrams. Every packet
// that parses must re-encode to its own octets (up to its Length field); the datagram is
// handled as it came (it fails the authenticator almost always) and then re-signed with
// the secret, so the accounting logic sees every attribute mix the fuzzer makes; an
// answer must always be a valid, authentic Accounting-Response of 20 octets.
// clang-format off
// fuzz-sources: policyd/radius_packet.cpp policyd/radius_accounting.cpp policyd/radius_duplicates.cpp
// fuzz-sources: common/src/memory_state.cpp common/src/result.cpp common/src/ip_prefix.cpp
// fuzz-libs: libcrypto fmt
// fuzz-seeds: tests/data/radius
// clang-format on
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../policyd/radius_accounting.hpp"

using namespace pampero;
using namespace pampero::radius;

namespace {
void check_answer(const Outcome& o, const Packet& req, std::string_view secret) {
    const bool answered =
        o.kind == Outcome::Kind::recorded || o.kind == Outcome::Kind::retransmission;
    if (answered != !o.reply.empty()) std::abort();
    if (answered && (o.reply.size() != 20 || !verify_response(o.reply, req.authenticator, secret)))
        std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto state = make_memory_state({}, 1000);
    constexpr std::string_view kSecret = "fuzz";
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    auto p = parse_packet(in);
    static DuplicateCache dups{std::chrono::seconds(30), {}, 1000};
    Accounting acct(*state, AccountingSettings{}, dups);
    const auto raw = acct.handle(in, "192.0.2.1", 1, kSecret);
    if (!p) {
        if (raw.kind != Outcome::Kind::malformed || !raw.reply.empty()) std::abort();
        return 0;
    }
    const std::size_t len =
        (static_cast<std::uint8_t>(in[2]) << 8) | static_cast<std::uint8_t>(in[3]);
    auto again = encode_packet(*p);
    if (!again || *again != in.substr(0, len)) std::abort();
    check_answer(raw, *p, kSecret);
    auto signed_req = build_accounting_request(*p, kSecret);
    if (!signed_req) std::abort();
    if (!verify_accounting_request(*signed_req, kSecret)) std::abort();
    const auto o = acct.handle(*signed_req, "192.0.2.1", 2, kSecret);
    check_answer(o, *parse_packet(*signed_req), kSecret);
    (void)acct.sessions(100);
    return 0;
}
