// Bounded random input through every codec (a smoke run of what a fuzz target would do):
// no crash, no hang, and each codec's invariants hold for arbitrary bytes.
#include <gtest/gtest.h>

#include <random>

#include "lmtp_codec.hpp"
#include "netstring.hpp"
#include "quota.hpp"
#include "socketmap.hpp"

using namespace pampero::store;

namespace {

std::string random_bytes(std::mt19937& rng, std::size_t max, const std::string& alphabet) {
    std::uniform_int_distribution<std::size_t> len(0, max);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string s(len(rng), '\0');
    for (auto& c : s) c = alphabet[pick(rng)];
    return s;
}

const std::string kAll = [] {
    std::string s;
    for (int c = 0; c < 256; ++c) s.push_back(static_cast<char>(c));
    return s;
}();
const std::string kLmtpish = "MAILRCPTDATAFROM:TO:<>@. =SIZEBODY8BITMIMEXPAMPERO-LOCAL\r\n\t01";
const std::string kNetish = "0123456789:,ab ";

TEST(FuzzSmoke, LmtpCommands) {
    std::mt19937 rng(20240501);
    for (int i = 0; i < 20000; ++i) {
        const std::string in = random_bytes(rng, 300, i % 2 ? kAll : kLmtpish);
        const auto p = lmtp::parse_command(in);
        ASSERT_NE(p.command.has_value(), p.error.has_value());
        if (p.error) {
            ASSERT_GE(p.error->code, 500);
            ASSERT_LT(p.error->code, 600);
        } else if (p.command->verb == lmtp::Verb::mail || p.command->verb == lmtp::Verb::rcpt) {
            ASSERT_LE(p.command->path.size(), lmtp::kMaxPath);
            ASSERT_LE(p.command->params.size(), lmtp::kMaxParams);
        }
    }
}

TEST(FuzzSmoke, DataDecoder) {
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
        const std::string in = random_bytes(rng, 400, ".\r\nab");
        lmtp::DataDecoder d(64);
        std::size_t used = 0;
        std::size_t pos = 0;
        while (pos < in.size() && !d.done()) {
            const std::size_t n = std::min<std::size_t>(1 + rng() % 7, in.size() - pos);
            const std::size_t u = d.feed(std::string_view(in).substr(pos, n));
            ASSERT_LE(u, n);
            used += u;
            pos += n;
            if (d.done()) break;
            ASSERT_EQ(u, n);  // not done: everything was consumed
        }
        ASSERT_LE(d.message().size(), 64u);
        if (d.done() && !d.overflow()) {
            // What we decoded, encoded again and decoded, is the same message.
            lmtp::DataDecoder again(1 << 20);
            again.feed(lmtp::encode_data(d.message()));
            ASSERT_TRUE(again.done());
            std::string m = d.message();
            if (!m.empty() && m.back() != '\n') m.push_back('\n');
            ASSERT_EQ(again.message(), m);
        }
        (void)used;
    }
}

TEST(FuzzSmoke, NetstringsAndRequests) {
    std::mt19937 rng(99);
    for (int i = 0; i < 20000; ++i) {
        const std::string in = random_bytes(rng, 40, i % 2 ? kAll : kNetish);
        const auto d = decode_netstring(in, 16);
        if (d.status == NetstringDecode::Status::ok) {
            ASSERT_LE(d.value.size(), 16u);
            ASSERT_LE(d.consumed, in.size());
            ASSERT_EQ(encode_netstring(d.value), in.substr(0, d.consumed));
        }
        const auto r = parse_socketmap_request(in);
        if (r) {
            ASSERT_FALSE(r->map.empty());
            ASSERT_FALSE(r->key.empty());
        }
    }
}

TEST(FuzzSmoke, Maildirsize) {
    std::mt19937 rng(3);
    for (int i = 0; i < 20000; ++i) {
        (void)parse_maildirsize(random_bytes(rng, 60, "0123456789SC, -\n"));
        (void)parse_maildirsize(random_bytes(rng, 60, kAll));
    }
}

}  // namespace
