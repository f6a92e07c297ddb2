// The RADIUS codec: a packet radclient sent (tests/data/radius), boundary rows for the
// parser's bounds, and both authenticators against values computed independently
// (Python's hashlib over the same octets).
#include "radius_packet.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

using namespace pampero::radius;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

std::string unhex(std::string_view h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

std::string header(std::uint8_t code, std::uint8_t id, std::size_t len) {
    std::string h(20, '\0');
    h[0] = static_cast<char>(code);
    h[1] = static_cast<char>(id);
    h[2] = static_cast<char>(len >> 8);
    h[3] = static_cast<char>(len & 0xff);
    return h;
}

// radclient 3.2: Start, alice, 10.1.2.3, sess-1, interval 300; secret testing123.
const std::string kRadclientStart =
    read_file(std::string(PAMPERO_TEST_DATA) + "/radius/radclient-start-testing123.bin");

}  // namespace

TEST(RadiusPacket, ParsesWhatRadclientSent) {
    ASSERT_EQ(kRadclientStart.size(), 53u);
    auto p = parse_packet(kRadclientStart);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(p->code, kAccountingRequest);
    EXPECT_EQ(p->identifier, 0x66);
    EXPECT_EQ(to_hex(p->authenticator), "36d0226c8950b0f0fd4639e222696f32");
    EXPECT_EQ(p->integer(kAcctStatusType), kStart);
    EXPECT_EQ(p->text(kUserName), "alice");
    EXPECT_EQ(p->ipv4(kFramedIpAddress), "10.1.2.3");
    EXPECT_EQ(p->text(kAcctSessionId), "sess-1");
    EXPECT_EQ(p->integer(kAcctInterimInterval), 300u);
    EXPECT_FALSE(p->ipv6(kFramedIpv6Address));
}

TEST(RadiusPacket, RequestAuthenticatorOfRadclientsPacket) {
    EXPECT_TRUE(verify_accounting_request(kRadclientStart, "testing123"));
    EXPECT_FALSE(verify_accounting_request(kRadclientStart, "testing124"));
    EXPECT_FALSE(verify_accounting_request(kRadclientStart, ""));
    std::string altered = kRadclientStart;
    altered[30] ^= 1;  // one bit of an attribute
    EXPECT_FALSE(verify_accounting_request(altered, "testing123"));
    // Padding beyond the Length field is not part of the packet (RFC 2865 3).
    EXPECT_TRUE(verify_accounting_request(kRadclientStart + "xyz", "testing123"));
}

TEST(RadiusPacket, ResponseAuthenticatorMatchesAnIndependentMd5) {
    auto p = parse_packet(kRadclientStart);
    ASSERT_TRUE(p);
    const std::string r = build_accounting_response(p->identifier, p->authenticator, "testing123");
    EXPECT_EQ(r, unhex("0566001405c0363dbfd262d7262674b58625c571"));
    EXPECT_TRUE(verify_response(r, p->authenticator, "testing123"));
    EXPECT_FALSE(verify_response(r, p->authenticator, "other"));
}

TEST(RadiusPacket, BuiltRequestsRoundTrip) {
    Packet p;
    p.identifier = 7;
    p.attributes = {integer_attribute(kAcctStatusType, kStart), text_attribute(kUserName, "bob"),
                    *ipv4_attribute(kFramedIpAddress, "192.0.2.9"),
                    *ipv6_attribute(kFramedIpv6Address, "2001:db8::9")};
    auto raw = build_accounting_request(p, "s3cret");
    ASSERT_TRUE(raw);
    EXPECT_TRUE(verify_accounting_request(*raw, "s3cret"));
    auto back = parse_packet(*raw);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->identifier, 7);
    EXPECT_EQ(back->ipv4(kFramedIpAddress), "192.0.2.9");
    EXPECT_EQ(back->ipv6(kFramedIpv6Address), "2001:db8::9");
    EXPECT_EQ(back->text(kUserName), "bob");
    EXPECT_FALSE(ipv4_attribute(kFramedIpAddress, "nope"));
    // Over the bounds: a 254-octet value, a packet past 4096 octets.
    Packet big;
    big.attributes = {text_attribute(kUserName, std::string(254, 'a'))};
    EXPECT_FALSE(encode_packet(big));
    big.attributes.assign(17, text_attribute(kUserName, std::string(253, 'a')));
    EXPECT_FALSE(encode_packet(big));
}

struct ParseRow {
    const char* name;
    std::string datagram;
    bool ok;
};

TEST(RadiusPacket, BoundsOfTheParser) {
    const std::string attr = std::string("\x01\x03x", 3);
    const ParseRow rows[] = {
        {"empty", "", false},
        {"19 octets", std::string(19, '\0'), false},
        {"length 19", header(4, 1, 19), false},
        {"length 20, no attributes", header(4, 1, 20), true},
        {"length beyond datagram", header(4, 1, 21), false},
        {"length 4097", header(4, 1, 4097) + std::string(4077, '\0'), false},
        {"one attribute", header(4, 1, 23) + attr, true},
        {"attribute length 1", header(4, 1, 22) + std::string("\x01\x01", 2), false},
        {"attribute length 0", header(4, 1, 22) + std::string("\x01\x00", 2), false},
        {"attribute past the end", header(4, 1, 23) + std::string("\x01\x04xy", 4), false},
        {"a lone trailing octet", header(4, 1, 24) + attr + "\x01", false},
        {"empty value (length 2)", header(4, 1, 22) + std::string("\x01\x02", 2), true},
        {"padding after Length", header(4, 1, 23) + attr + "garbage", true},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(parse_packet(r.datagram).ok(), r.ok) << r.name;
    }
    // Exactly 4096 octets, filled by attributes: the largest packet there is.
    std::string max = header(4, 1, 4096);
    while (max.size() + 255 <= 4096) max += std::string("\x1a\xff", 2) + std::string(253, 'v');
    const std::size_t rest = 4096 - max.size();
    ASSERT_GE(rest, 2u);
    max += std::string(1, '\x1a') + std::string(1, static_cast<char>(rest)) +
           std::string(rest - 2, 'v');
    ASSERT_EQ(max.size(), 4096u);
    auto p = parse_packet(max);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(p->attributes.size(), 16u);
}
