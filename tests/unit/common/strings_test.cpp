#include "pampero/common/strings.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace pampero;

namespace {

struct Ipv4Row {
    const char* text;
    std::optional<std::uint32_t> strict;  // parse_ipv4
    std::optional<std::uint32_t> peer;    // parse_ipv4_peer
};

class Ipv4Table : public ::testing::TestWithParam<Ipv4Row> {};

TEST_P(Ipv4Table, ParsesOrRefuses) {
    const auto& r = GetParam();
    EXPECT_EQ(parse_ipv4(r.text), r.strict) << "'" << r.text << "'";
    EXPECT_EQ(parse_ipv4_peer(r.text), r.peer) << "'" << r.text << "'";
}

// Boundary rows: every form inet_pton accepts or refuses that a peer could send.
INSTANTIATE_TEST_SUITE_P(
    Rows, Ipv4Table,
    ::testing::Values(
        Ipv4Row{"1.2.3.4", 0x01020304u, 0x01020304u}, Ipv4Row{"0.0.0.0", 0u, 0u},
        Ipv4Row{"255.255.255.255", 0xffffffffu, 0xffffffffu},
        Ipv4Row{"127.0.0.2", 0x7f000002u, 0x7f000002u},
        Ipv4Row{"192.168.100.200", 0xc0a864c8u, 0xc0a864c8u},
        // empty and short or long
        Ipv4Row{"", {}, {}}, Ipv4Row{"1.2.3", {}, {}}, Ipv4Row{"1.2.3.4.5", {}, {}},
        Ipv4Row{"1", {}, {}}, Ipv4Row{"...", {}, {}}, Ipv4Row{"1..3.4", {}, {}},
        Ipv4Row{"1.2.3.", {}, {}}, Ipv4Row{".1.2.3", {}, {}},
        // leading zeros (inet_aton would read them as octal)
        Ipv4Row{"01.2.3.4", {}, {}}, Ipv4Row{"1.2.3.04", {}, {}}, Ipv4Row{"1.2.3.00", {}, {}},
        Ipv4Row{"001.2.3.4", {}, {}}, Ipv4Row{"0.0.0.10", 10u, 10u},
        // octets over 255, too many digits
        Ipv4Row{"256.1.1.1", {}, {}}, Ipv4Row{"1.2.3.256", {}, {}}, Ipv4Row{"1.2.3.999", {}, {}},
        Ipv4Row{"1.2.3.1000", {}, {}}, Ipv4Row{"4294967296.1.1.1", {}, {}},
        // trailing and leading garbage, other forms
        Ipv4Row{"1.2.3.4 ", {}, {}}, Ipv4Row{" 1.2.3.4", {}, {}}, Ipv4Row{"1.2.3.4x", {}, {}},
        Ipv4Row{"1.2.3.4.", {}, {}}, Ipv4Row{"1.2.3.-4", {}, {}}, Ipv4Row{"+1.2.3.4", {}, {}},
        Ipv4Row{"0x1.2.3.4", {}, {}}, Ipv4Row{"3232235777", {}, {}}, Ipv4Row{"x", {}, {}},
        Ipv4Row{"1.2.3.4\n", {}, {}},
        // the peer forms
        Ipv4Row{"[1.2.3.4]", {}, 0x01020304u}, Ipv4Row{"::ffff:1.2.3.4", {}, 0x01020304u},
        Ipv4Row{"::FFFF:1.2.3.4", {}, 0x01020304u}, Ipv4Row{"[1.2.3.4", {}, {}},
        Ipv4Row{"1.2.3.4]", {}, {}}, Ipv4Row{"[]", {}, {}}, Ipv4Row{"::ffff:", {}, {}},
        Ipv4Row{"::1", {}, {}}, Ipv4Row{"::ffff:01.2.3.4", {}, {}},
        Ipv4Row{"[::ffff:1.2.3.4]", {}, 0x01020304u}));

TEST(Ipv4, AgreesWithInetPtonOnDottedText) {
    // Every row above agrees with inet_pton; this walks more octet values to be sure.
    for (const char* o : {"0", "00", "1", "09", "10", "99", "100", "199", "255", "256", "300",
                          "010", "0000", "2550"}) {
        const std::string text = std::string("10.") + o + ".3." + o;
        in_addr a{};
        const bool pton = inet_pton(AF_INET, text.c_str(), &a) == 1;
        const auto got = parse_ipv4(text);
        EXPECT_EQ(got.has_value(), pton) << text;
        if (pton && got) {
            EXPECT_EQ(*got, ntohl(a.s_addr)) << text;
        }
    }
}

TEST(Ipv4, FormatsAndReverses) {
    EXPECT_EQ(format_ipv4(0x01020304u), "1.2.3.4");
    EXPECT_EQ(format_ipv4(0), "0.0.0.0");
    EXPECT_EQ(format_ipv4(0xffffffffu), "255.255.255.255");
    EXPECT_EQ(format_ipv4(0x0a00640bu), "10.0.100.11");
    EXPECT_EQ(reversed_ipv4(0x01020304u), "4.3.2.1");
    EXPECT_EQ(reversed_ipv4(0xc0a80001u), "1.0.168.192");
    char buf[kMaxIpv4Text];
    const std::size_t n = reversed_ipv4(0xffffffffu, buf);
    EXPECT_EQ(std::string(buf, n), "255.255.255.255");
    for (std::uint32_t ip : {0u, 1u, 0x7f000001u, 0xdeadbeefu, 0x00ff00ffu})
        EXPECT_EQ(parse_ipv4(format_ipv4(ip)), ip);
}

TEST(Ascii, LowerLeavesNonAsciiAlone) {
    EXPECT_EQ(ascii_lower("Received: FROM [1.2.3.4] @Z"), "received: from [1.2.3.4] @z");
    EXPECT_EQ(ascii_lower(""), "");
    EXPECT_EQ(ascii_lower("\xc3\x84\xc3\x96"), "\xc3\x84\xc3\x96");  // "ÄÖ": bytes kept
    EXPECT_EQ(ascii_lower('['), '[');                                // just past 'Z'
    EXPECT_EQ(ascii_lower('@'), '@');                                // just before 'A'
    std::string s = "MiXeD";
    ascii_lower_in_place(s);
    EXPECT_EQ(s, "mixed");
}

TEST(Ascii, CaseInsensitiveCompare) {
    EXPECT_TRUE(iequals("X-Spam-Score", "x-spam-score"));
    EXPECT_TRUE(iequals("", ""));
    EXPECT_FALSE(iequals("Subject", "Subjec"));
    EXPECT_FALSE(iequals("[", "{"));  // 0x5b and 0x7b differ by 0x20 but are not letters
    EXPECT_FALSE(iequals("\xc4", "\xe4"));
    EXPECT_TRUE(istarts_with("IPv6:::1", "ipv6:"));
    EXPECT_TRUE(istarts_with("abc", ""));
    EXPECT_FALSE(istarts_with("IPv", "ipv6:"));
    static_assert(iequals("Message-ID", "MESSAGE-id"));
}

}  // namespace

TEST(PercentDecode, DecodesEitherCaseAndRefusesABrokenEscape) {
    EXPECT_EQ(percent_decode("p%40ss%2fw%2Fd+x"), "p@ss/w/d+x");
    EXPECT_EQ(percent_decode(""), "");
    EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
    EXPECT_FALSE(percent_decode("%"));
    EXPECT_FALSE(percent_decode("abc%4"));
    EXPECT_FALSE(percent_decode("%zz"));
    EXPECT_FALSE(percent_decode("%-1"));
    EXPECT_FALSE(percent_decode("%+1"));
}
