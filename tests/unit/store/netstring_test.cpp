#include "netstring.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace pampero::store;
using S = NetstringDecode::Status;

namespace {

struct Row {
    std::string input;
    S status;
    std::string value;
    std::size_t consumed;
};

void PrintTo(const Row& r, std::ostream* os) {
    *os << '"' << r.input.substr(0, 24) << (r.input.size() > 24 ? "...\"" : "\"");
}

class NetstringRows : public ::testing::TestWithParam<Row> {};

TEST_P(NetstringRows, Decode) {
    const Row& r = GetParam();
    const auto d = decode_netstring(r.input, 20);
    EXPECT_EQ(d.status, r.status) << r.input;
    if (r.status == S::ok) {
        EXPECT_EQ(d.value, r.value);
        EXPECT_EQ(d.consumed, r.consumed);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, NetstringRows,
    ::testing::Values(Row{"0:,", S::ok, "", 3}, Row{"5:hello,", S::ok, "hello", 8},
                      Row{"5:hello,6:more..", S::ok, "hello", 8},  // pipelined rest left alone
                      Row{"20:" + std::string(20, 'x') + ",", S::ok, std::string(20, 'x'),
                          24},                                                   // at max
                      Row{"21:" + std::string(21, 'x') + ",", S::error, "", 0},  // max + 1
                      Row{"", S::incomplete, "", 0}, Row{"5", S::incomplete, "", 0},
                      Row{"5:hel", S::incomplete, "", 0}, Row{"5:hello", S::incomplete, "", 0},
                      Row{"5:hello;", S::error, "", 0}, Row{":x,", S::error, "", 0},
                      Row{"x:abc,", S::error, "", 0}, Row{"05:hello,", S::error, "", 0},
                      Row{"-1:,", S::error, "", 0}, Row{"12345678901:", S::error, "", 0},
                      Row{"12345678901", S::error, "", 0}));

TEST(Netstring, EncodeRoundTrip) {
    for (const std::string& s :
         std::vector<std::string>{"", "a", "mailbox user@example.com", std::string(1000, 'z')}) {
        const std::string e = encode_netstring(s);
        const auto d = decode_netstring(e, 100000);
        ASSERT_EQ(d.status, S::ok);
        EXPECT_EQ(d.value, s);
        EXPECT_EQ(d.consumed, e.size());
    }
    EXPECT_EQ(encode_netstring("OK x"), "4:OK x,");
}

}  // namespace
