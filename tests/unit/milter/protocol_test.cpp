// The milter protocol codec (protocol.hpp) and the socket syntax (server.hpp): framing at
// every split, every MTA command good and broken, reply packets byte for byte.
#include "protocol.hpp"

#include <gtest/gtest.h>

#include <list>
#include <string>
#include <variant>

#include "server.hpp"

using namespace pampero;
using namespace pampero::milter;
using namespace std::string_literals;

namespace {

// A packet as the MTA frames it: length (command included), command, data.
std::string packet(char command, const std::string& data) {
    const std::uint32_t n = static_cast<std::uint32_t>(data.size() + 1);
    std::string out;
    out += static_cast<char>(n >> 24);
    out += static_cast<char>(n >> 16 & 0xff);
    out += static_cast<char>(n >> 8 & 0xff);
    out += static_cast<char>(n & 0xff);
    out += command;
    return out + data;
}

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff),
            static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
}

// ---- framing ----

struct FramingRow {
    const char* name;
    std::string bytes;
    proto::Framing::Status status;
    char command;
    std::string data;
    std::size_t consumed;
};

class Framing : public ::testing::TestWithParam<FramingRow> {};

TEST_P(Framing, Row) {
    const auto& row = GetParam();
    const auto f = proto::next_packet(row.bytes);
    ASSERT_EQ(f.status, row.status) << f.error;
    if (row.status == proto::Framing::Status::ok) {
        EXPECT_EQ(f.packet.command, row.command);
        EXPECT_EQ(std::string(f.packet.data), row.data);
        EXPECT_EQ(f.consumed, row.consumed);
    } else {
        EXPECT_EQ(f.consumed, 0u);
    }
}

using S = proto::Framing::Status;
INSTANTIATE_TEST_SUITE_P(
    Rows, Framing,
    ::testing::Values(
        FramingRow{"empty", "", S::incomplete, 0, "", 0},
        FramingRow{"three_length_octets", "\0\0\0"s, S::incomplete, 0, "", 0},
        FramingRow{"length_only", "\0\0\0\1"s, S::incomplete, 0, "", 0},
        FramingRow{"command_only", "\0\0\0\1A"s, S::ok, 'A', "", 5},
        FramingRow{"data_short_by_one", "\0\0\0\4Babc"s.substr(0, 7), S::incomplete, 0, "", 0},
        FramingRow{"data", "\0\0\0\4Babc"s, S::ok, 'B', "abc", 8},
        FramingRow{"trailing_bytes_left", "\0\0\0\1Q\0\0"s, S::ok, 'Q', "", 5},
        FramingRow{"zero_length", "\0\0\0\0Q"s, S::error, 0, "", 0},
        FramingRow{"zero_length_alone", "\0\0\0\0"s, S::error, 0, "", 0},
        FramingRow{"at_the_bound", be32(proto::kMaxPacketLength), S::incomplete, 0, "", 0},
        FramingRow{"over_the_bound", be32(proto::kMaxPacketLength + 1), S::error, 0, "", 0},
        FramingRow{"huge", "\xff\xff\xff\xff"s, S::error, 0, "", 0},
        FramingRow{"http_request", "GET / HTTP/1.0\r\n\r\n", S::error, 0, "", 0}),
    [](const auto& info) { return std::string(info.param.name); });

// Before option negotiation the server passes kMaxNegotiationLength: an 'O' packet (13
// octets) passes, a peer announcing more than 1 KiB is refused before it sends it.
TEST(FramingBound, TheNegotiationBound) {
    const auto o =
        proto::next_packet(packet('O', std::string(12, '\0')), proto::kMaxNegotiationLength);
    EXPECT_EQ(o.status, S::ok);
    EXPECT_EQ(
        proto::next_packet(be32(proto::kMaxNegotiationLength), proto::kMaxNegotiationLength).status,
        S::incomplete);
    EXPECT_EQ(
        proto::next_packet(be32(proto::kMaxNegotiationLength + 1), proto::kMaxNegotiationLength)
            .status,
        S::error);
    EXPECT_EQ(proto::next_packet(be32(1024 * 1024), proto::kMaxNegotiationLength).status, S::error);
}

TEST(FramingBound, APacketExactlyAtTheBoundIsAccepted) {
    const std::string body(proto::kMaxPacketLength - 1, 'x');
    const auto f = proto::next_packet(packet('B', body));
    ASSERT_EQ(f.status, S::ok);
    EXPECT_EQ(f.packet.data.size(), body.size());
}

// An incomplete packet whose length is known says how much it needs (for the caller to
// know; the server reserves nothing on its word: input_buffer.hpp); before the length is
// known it says nothing.
TEST(FramingNeeded, KnownOnceTheLengthIs) {
    EXPECT_EQ(proto::next_packet("\0\0\0"s).needed, 0u);
    EXPECT_EQ(proto::next_packet("\0\0\0\4Ba"s).needed, 8u);
    EXPECT_EQ(proto::next_packet(be32(proto::kMaxPacketLength)).needed,
              4 + proto::kMaxPacketLength);
    EXPECT_EQ(proto::next_packet("\0\0\0\4Babc"s).needed, 0u);  // complete: consumed says it
}

// A conversation as Postfix pipelines it, cut at every byte: the packets come out the
// same, in order, whatever the reads delivered.
TEST(FramingSplit, EverySplitGivesTheSamePackets) {
    const std::string stream = packet('D', "Cj\0mx.example\0"s) +
                               packet('C',
                                      "client\0004\x30\x39"
                                      "192.0.2.1\0"s) +
                               packet('L', "Subject\0 hi\0"s) + packet('B', "body\r\n") +
                               packet('E', "");
    const std::vector<char> expected{'D', 'C', 'L', 'B', 'E'};
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        std::string buffer;
        std::vector<char> got;
        for (const std::string& piece : {stream.substr(0, cut), stream.substr(cut)}) {
            buffer += piece;
            for (;;) {
                const auto f = proto::next_packet(buffer);
                ASSERT_NE(f.status, S::error) << "cut at " << cut;
                if (f.status == S::incomplete) break;
                got.push_back(f.packet.command);
                ASSERT_TRUE(proto::decode(f.packet)) << "cut at " << cut;
                buffer.erase(0, f.consumed);
            }
        }
        EXPECT_EQ(got, expected) << "cut at " << cut;
        EXPECT_TRUE(buffer.empty()) << "cut at " << cut;
    }
}

// ---- decoding ----

// The command's views point into its packet: keep every packet for the test's lifetime.
proto::Command decoded(char command, const std::string& data) {
    static std::list<std::string> packets;
    packets.push_back(data);
    auto c = proto::decode({command, packets.back()});
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return c ? *c : proto::Command{proto::Abort{}};
}

TEST(Decode, OptionNegotiation) {
    const auto c = decoded('O', be32(6) + be32(0x1ff) + be32(0x1fffff));
    const auto& o = std::get<proto::OptionNegotiation>(c);
    EXPECT_EQ(o.version, 6u);
    EXPECT_EQ(o.actions, 0x1ffu);
    EXPECT_EQ(o.protocol, 0x1fffffu);
    // Extra octets after the three words are ignored, as libmilter does.
    EXPECT_TRUE(std::holds_alternative<proto::OptionNegotiation>(
        decoded('O', be32(6) + be32(1) + be32(2) + "xx")));
}

TEST(Decode, Macros) {
    const auto c = decoded('D', "R{rcpt_mailer}\0error\0i\0QID1\0"s);
    const auto& m = std::get<proto::Macros>(c);
    EXPECT_EQ(m.stage, 'R');
    ASSERT_EQ(m.pairs.size(), 2u);
    EXPECT_EQ(m.pairs[0].first, "{rcpt_mailer}");
    EXPECT_EQ(m.pairs[0].second, "error");
    EXPECT_EQ(m.pairs[1].first, "i");
    EXPECT_EQ(m.pairs[1].second, "QID1");
    EXPECT_TRUE(std::get<proto::Macros>(decoded('D', "C")).pairs.empty());  // a stage, no macros
    EXPECT_EQ(std::get<proto::Macros>(decoded('D', "Mi\0\0"s)).pairs.at(0).second,
              "");  // empty value
}

TEST(Decode, ConnectFamilies) {
    auto c = std::get<proto::Connect>(decoded('C',
                                              "mx.example\0004\x01\xbb"
                                              "192.0.2.1\0"s));
    EXPECT_EQ(c.hostname, "mx.example");
    EXPECT_EQ(c.family, '4');
    EXPECT_EQ(c.port, 443);
    EXPECT_EQ(c.address, "192.0.2.1");
    c = std::get<proto::Connect>(decoded('C', "h\0006\0\x19IPv6:2001:db8::1\0"s));
    EXPECT_EQ(c.family, '6');
    EXPECT_EQ(c.port, 25);
    EXPECT_EQ(c.address, "IPv6:2001:db8::1");
    c = std::get<proto::Connect>(decoded('C', "localhost\0L\0\0/run/x.sock\0"s));
    EXPECT_EQ(c.family, 'L');
    EXPECT_EQ(c.address, "/run/x.sock");
    c = std::get<proto::Connect>(decoded('C', "unknown\0U"s));  // no port, no address
    EXPECT_EQ(c.family, 'U');
    EXPECT_EQ(c.address, "");
}

TEST(Decode, EnvelopeHeaderBodyAndBareCommands) {
    const auto mail = std::get<proto::Mail>(decoded('M', "<a@example.org>\0SIZE=10\0"s));
    ASSERT_EQ(mail.args.size(), 2u);
    EXPECT_EQ(mail.args[0], "<a@example.org>");
    EXPECT_EQ(mail.args[1], "SIZE=10");
    EXPECT_EQ(std::get<proto::Rcpt>(decoded('R', "<b@example.org>\0"s)).args.at(0),
              "<b@example.org>");
    const auto h = std::get<proto::Header>(decoded('L', "Subject\0 hello\r\n world\0"s));
    EXPECT_EQ(h.name, "Subject");
    EXPECT_EQ(h.value, " hello\r\n world");
    EXPECT_EQ(std::get<proto::Header>(decoded('L', "X-Empty\0\0"s)).value, "");
    EXPECT_EQ(std::get<proto::Body>(decoded('B', "a\0b"s)).chunk, "a\0b"s);  // binary body
    EXPECT_EQ(std::get<proto::Body>(decoded('B', "")).chunk, "");
    EXPECT_EQ(std::get<proto::EndOfMessage>(decoded('E', "last")).chunk, "last");
    EXPECT_EQ(std::get<proto::Helo>(decoded('H', "client.example\0"s)).hostname, "client.example");
    EXPECT_EQ(std::get<proto::Unknown>(decoded('U', "XYZZY\0"s)).command, "XYZZY");
    EXPECT_TRUE(std::holds_alternative<proto::Data>(decoded('T', "")));
    EXPECT_TRUE(std::holds_alternative<proto::EndOfHeaders>(decoded('N', "")));
    EXPECT_TRUE(std::holds_alternative<proto::Abort>(decoded('A', "")));
    EXPECT_TRUE(std::holds_alternative<proto::Quit>(decoded('Q', "")));
    EXPECT_TRUE(std::holds_alternative<proto::QuitNewConnection>(decoded('K', "")));
}

struct BadRow {
    const char* name;
    char command;
    std::string data;
    const char* why;
};

class DecodeErrors : public ::testing::TestWithParam<BadRow> {};

TEST_P(DecodeErrors, Row) {
    const auto& row = GetParam();
    const auto c = proto::decode({row.command, row.data});
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::permanent);
    EXPECT_NE(c.error().message.find(row.why), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DecodeErrors,
    ::testing::Values(BadRow{"optneg_empty", 'O', "", "shorter than 12"},
                      BadRow{"optneg_eleven", 'O', std::string(11, '\0'), "shorter than 12"},
                      BadRow{"macro_no_stage", 'D', "", "without a stage"},
                      BadRow{"macro_no_value", 'D', "Mi\0"s, "without a value"},
                      BadRow{"macro_missing_nul", 'D', "Mi\0QID"s, "NUL"},
                      BadRow{"macro_too_many", 'D',
                             [] {
                                 std::string d = "M";
                                 for (std::size_t i = 0; i <= proto::kMaxMacros; ++i)
                                     d += "n\0v\0"s;
                                 return d;
                             }(),
                             "too many"},
                      BadRow{"connect_empty", 'C', "", "hostname"},
                      BadRow{"connect_no_family", 'C', "host\0"s, "no address family"},
                      BadRow{"connect_bad_family", 'C', "host\0X\0\0a\0"s,
                             "unknown address family"},
                      BadRow{"connect_truncated_port", 'C', "host\0004\x01"s, "truncated port"},
                      BadRow{"connect_no_address", 'C', "host\0004\0\x19"s, "address"},
                      BadRow{"connect_address_missing_nul", 'C',
                             "host\0004\0\x19"
                             "192.0.2.1"s,
                             "address"},
                      BadRow{"helo_missing_nul", 'H', "client", "NUL"},
                      BadRow{"mail_empty", 'M', "", "no address"},
                      BadRow{"mail_missing_nul", 'M', "<a@b>", "NUL"},
                      BadRow{"rcpt_missing_nul", 'R', "<a@b>\0SIZE"s, "NUL"},
                      BadRow{"rcpt_too_many_args", 'R',
                             [] {
                                 std::string d;
                                 for (std::size_t i = 0; i <= proto::kMaxArgs + 1; ++i) d += "x\0"s;
                                 return d;
                             }(),
                             "too many"},
                      BadRow{"header_name_only", 'L', "Subject\0"s, "exactly"},
                      BadRow{"header_three_strings", 'L', "a\0b\0c\0"s, "exactly"},
                      BadRow{"header_missing_nul", 'L', "Subject\0hi"s, "NUL"},
                      BadRow{"header_empty", 'L', "", "exactly"},
                      BadRow{"unknown_missing_nul", 'U', "XYZZY", "NUL"},
                      BadRow{"unknown_command", 'X', "junk", "unknown command"},
                      BadRow{"nul_command", '\0', "", "unknown command"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- encoding: golden bytes ----

TEST(Encode, GoldenBytes) {
    std::string out;
    ASSERT_TRUE(proto::encode_simple(out, 'c'));
    EXPECT_EQ(out, "\0\0\0\1c"s);
    out.clear();
    ASSERT_TRUE(proto::encode_reply_code(out, "550 5.1.1 No such user here"));
    EXPECT_EQ(out, "\0\0\0\x1dy550 5.1.1 No such user here\0"s);
    out.clear();
    ASSERT_TRUE(proto::encode_delete_rcpt(out, "<carol@example.org>"));
    EXPECT_EQ(out, "\0\0\0\x15-<carol@example.org>\0"s);
    out.clear();
    ASSERT_TRUE(proto::encode_add_header(out, "X-Spam-Score", " 7.0"));
    EXPECT_EQ(out, "\0\0\0\x13hX-Spam-Score\0 7.0\0"s);
    out.clear();
    ASSERT_TRUE(proto::encode_change_header(out, 2, "X-Spam-Status", ""));  // delete the 2nd
    EXPECT_EQ(out, "\0\0\0\x14m\0\0\0\2X-Spam-Status\0\0"s);
    out.clear();
    proto::encode_negotiation(out, {6, 0x19, 0x1c0880});
    EXPECT_EQ(out, "\0\0\0\x0dO\0\0\0\6\0\0\0\x19\0\x1c\x08\x80"s);
}

TEST(Encode, SeveralPacketsAppendInOrder) {
    std::string out;
    ASSERT_TRUE(proto::encode_delete_rcpt(out, "<a@b>"));
    ASSERT_TRUE(proto::encode_add_header(out, "X", "y"));
    ASSERT_TRUE(proto::encode_simple(out, 'c'));
    auto first = proto::next_packet(out);
    ASSERT_EQ(first.status, S::ok);
    EXPECT_EQ(first.packet.command, '-');
    auto second = proto::next_packet(std::string_view(out).substr(first.consumed));
    ASSERT_EQ(second.status, S::ok);
    EXPECT_EQ(second.packet.command, 'h');
    auto third = proto::next_packet(std::string_view(out).substr(first.consumed + second.consumed));
    ASSERT_EQ(third.status, S::ok);
    EXPECT_EQ(third.packet.command, 'c');
    EXPECT_EQ(first.consumed + second.consumed + third.consumed, out.size());
}

TEST(Encode, RefusesWhatCannotBeFramed) {
    std::string out = "kept";
    EXPECT_FALSE(proto::encode_reply_code(out, "550 5.7.1 a\0b"s));
    EXPECT_FALSE(proto::encode_delete_rcpt(out, "<a\0@b>"s));
    EXPECT_FALSE(proto::encode_add_header(out, "X\0Y"s, "v"));
    EXPECT_FALSE(proto::encode_change_header(out, 1, "X", "v\0w"s));
    EXPECT_FALSE(proto::encode_add_header(out, "X", std::string(proto::kMaxPacketLength, 'v')));
    EXPECT_EQ(out, "kept");  // nothing half-written
}

}  // namespace
