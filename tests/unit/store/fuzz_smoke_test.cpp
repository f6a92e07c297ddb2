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
        for (const auto& in :
             {random_bytes(rng, 60, "0123456789SC, -\n"), random_bytes(rng, 60, kAll)}) {
            const auto m = parse_maildirsize(in);
            // Without a newline there is no definition line: never a parse.
            if (in.find('\n') == std::string::npos) {
                ASSERT_FALSE(m) << in;
            }
            if (!m) continue;
            // A partial last line (being appended) never changes what was read.
            const auto more = parse_maildirsize(in + "12");
            ASSERT_TRUE(more) << in;
            ASSERT_EQ(more->usage.bytes, m->usage.bytes) << in;
            ASSERT_EQ(more->usage.messages, m->usage.messages) << in;
            ASSERT_EQ(more->limit_bytes, m->limit_bytes) << in;
        }
    }
    // Well-formed files built at random: the parse is the sum of their lines, and the
    // definition is what quota_definition() wrote.
    std::uniform_int_distribution<std::int64_t> amount(-100000, 100000000);
    std::uniform_int_distribution<int> lines(0, 30);
    for (int i = 0; i < 5000; ++i) {
        const std::uint64_t limit = static_cast<std::uint64_t>(amount(rng) & 0x7fffffff);
        const bool with_count = i % 2 == 0;
        std::string file =
            quota_definition(limit, with_count ? std::optional<std::uint64_t>(i) : std::nullopt) +
            "\n";
        std::int64_t bytes = 0;
        std::int64_t messages = 0;
        for (int n = lines(rng); n > 0; --n) {
            const std::int64_t b = amount(rng);
            const std::int64_t c = amount(rng) % 100;
            bytes += b;
            messages += c;
            file += std::to_string(b) + (n % 3 ? " " : "   ") + std::to_string(c) + "\n";
        }
        const auto m = parse_maildirsize(file);
        ASSERT_TRUE(m) << file;
        ASSERT_EQ(m->limit_bytes, std::optional<std::uint64_t>(limit)) << file;
        ASSERT_EQ(m->limit_messages, with_count ? std::optional<std::uint64_t>(i) : std::nullopt)
            << file;
        ASSERT_EQ(m->usage.bytes, bytes) << file;
        ASSERT_EQ(m->usage.messages, messages) << file;
        // One corrupt line makes the whole file unreadable (the caller rebuilds it).
        ASSERT_FALSE(parse_maildirsize(file + "12 x\n")) << file;
    }
}

}  // namespace
