#include "policy_codec.hpp"

#include <gtest/gtest.h>

using namespace pampero::policyd;

namespace {

std::vector<PolicyRequest> decode(std::string_view in, std::size_t chunk = 0) {
    PolicyDecoder d;
    std::vector<PolicyRequest> out;
    if (chunk == 0) {
        d.feed(in, out);
    } else {
        for (std::size_t i = 0; i < in.size(); i += chunk) d.feed(in.substr(i, chunk), out);
    }
    return out;
}

const std::string kRcpt =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
    "sasl_username=\nrecipient=bob@example.net\ninstance=123.456.7\n\n";

}  // namespace

TEST(PolicyCodec, DecodesARequestWholeOrAnOctetAtATime) {
    for (std::size_t chunk : {0, 1, 2, 7}) {
        auto r = decode(kRcpt, chunk);
        ASSERT_EQ(r.size(), 1u) << chunk;
        EXPECT_EQ(r[0].error, "");
        EXPECT_EQ(r[0].value("protocol_state"), "RCPT");
        EXPECT_EQ(r[0].value("client_address"), "192.0.2.1");
        EXPECT_TRUE(r[0].get("sasl_username").has_value());
        EXPECT_EQ(r[0].value("sasl_username"), "");
        EXPECT_FALSE(r[0].get("sender").has_value());
        EXPECT_EQ(r[0].value("recipient"), "bob@example.net");
    }
}

TEST(PolicyCodec, ManyRequestsOnOneStreamComeOutInOrder) {
    auto r = decode(kRcpt + kRcpt + "request=smtpd_access_policy\nprotocol_state=DATA\n\n");
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[2].value("protocol_state"), "DATA");
}

TEST(PolicyCodec, AnIncompleteRequestWaits) {
    PolicyDecoder d;
    std::vector<PolicyRequest> out;
    d.feed("request=smtpd_access_policy\nprotocol_state=RCPT\n", out);
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(d.idle());
    d.feed("\n", out);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_TRUE(d.idle());
}

TEST(PolicyCodec, CarriageReturnsAreTakenOff) {
    auto r = decode("request=smtpd_access_policy\r\nclient_address=192.0.2.1\r\n\r\n");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].error, "");
    EXPECT_EQ(r[0].value("client_address"), "192.0.2.1");
}

TEST(PolicyCodec, ValuesMayHoldEqualsSigns) {
    auto r = decode("request=smtpd_access_policy\nccert_subject=CN=a,O=b\n\n");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].value("ccert_subject"), "CN=a,O=b");
}

// Each malformed request is answered and the next one on the stream is read normally.
TEST(PolicyCodec, MalformedRequestsNameTheProblemAndTheStreamGoesOn) {
    struct Row {
        std::string request;
        std::string error_contains;
    };
    const std::vector<Row> rows = {
        {"protocol_state=RCPT\n\n", "no request="},
        {"request=something_else\n\n", "not smtpd_access_policy"},
        {"request=smtpd_access_policy\ngarbage line\n\n", "without '='"},
        {"request=smtpd_access_policy\n=value\n\n", "malformed attribute name"},
        {"request=smtpd_access_policy\nna me=x\n\n", "malformed attribute name"},
        {"request=smtpd_access_policy\n" + std::string(kMaxName + 1, 'n') + "=x\n\n",
         "malformed attribute name"},
        {"request=smtpd_access_policy\nx=" + std::string(kMaxLine, 'v') + "\n\n",
         "longer than 4096"},
        {"\x01\x02\x03\n\n", "without '='"},
    };
    for (const auto& row : rows) {
        for (std::size_t chunk : {0, 1, 1000}) {
            auto r = decode(row.request + kRcpt, chunk);
            ASSERT_EQ(r.size(), 2u) << row.request.substr(0, 60) << " chunk " << chunk;
            EXPECT_NE(r[0].error.find(row.error_contains), std::string::npos) << r[0].error;
            EXPECT_EQ(r[1].error, "");
            EXPECT_EQ(r[1].value("recipient"), "bob@example.net");
        }
    }
}

TEST(PolicyCodec, LineBoundIsExact) {
    const std::string at = "x=" + std::string(kMaxLine - 2, 'v');  // kMaxLine octets
    auto r = decode("request=smtpd_access_policy\n" + at + "\n\n");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].error, "");
    r = decode("request=smtpd_access_policy\n" + at + "\r\n\n");  // the CR does not count
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].error, "");
    r = decode("request=smtpd_access_policy\n" + at + "v\n\n", 1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].error, "");
}

TEST(PolicyCodec, AttributeCountIsBounded) {
    std::string at = "request=smtpd_access_policy\n";
    for (std::size_t i = 1; i < kMaxAttributes; ++i) at += "a" + std::to_string(i) + "=1\n";
    auto r = decode(at + "\n");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].error, "");
    EXPECT_EQ(r[0].attributes.size(), kMaxAttributes);
    r = decode(at + "one=more\nand=another\n\n" + kRcpt);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_NE(r[0].error.find("more than 128 attributes"), std::string::npos);
    EXPECT_LE(r[0].attributes.size(), kMaxAttributes);
    EXPECT_EQ(r[1].error, "");
}

TEST(PolicyCodec, AnOverlongLineIsNeverHeldWhole) {
    PolicyDecoder d;
    std::vector<PolicyRequest> out;
    const std::string big(1 << 20, 'v');
    d.feed("request=smtpd_access_policy\nx=", out);
    for (int i = 0; i < 8; ++i) d.feed(big, out);  // 8 MB of one line
    d.feed("\n\n", out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_NE(out[0].error.find("longer than"), std::string::npos);
    for (const auto& [n, v] : out[0].attributes) EXPECT_LE(v.size(), kMaxLine);
}

TEST(PolicyCodec, EmptyLinesBetweenRequestsAreIgnored) {
    auto r = decode("\n\n" + kRcpt + "\n");
    EXPECT_EQ(r.size(), 1u);
}

TEST(PolicyCodec, RepliesAreOneLine) {
    EXPECT_EQ(encode_reply("DUNNO"), "action=DUNNO\n\n");
    EXPECT_EQ(encode_reply("450 4.7.1 a\nb\rc"), "action=450 4.7.1 a b c\n\n");
    EXPECT_EQ(malformed_action("no request= attribute"),
              "DEFER_IF_PERMIT malformed policy request: no request= attribute");
}
