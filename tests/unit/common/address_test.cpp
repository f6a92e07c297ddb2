#include "pampero/common/address.hpp"

#include <gtest/gtest.h>

using namespace pampero;

struct AddressRow {
    const char* raw;
    const char* expected;  // nullptr: refused
};

class AddressTable : public ::testing::TestWithParam<AddressRow> {};

TEST_P(AddressTable, ParsesOrRefuses) {
    const auto& row = GetParam();
    auto a = parse_address(row.raw);
    if (!row.expected) {
        EXPECT_FALSE(a.has_value()) << row.raw << " -> " << (a ? a->full() : "");
    } else {
        ASSERT_TRUE(a.has_value()) << row.raw;
        EXPECT_EQ(a->full(), row.expected);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, AddressTable,
    ::testing::Values(
        AddressRow{"alice@example.org", "alice@example.org"},
        AddressRow{"<Alice@Example.ORG>", "alice@example.org"},
        AddressRow{" <bob+tag@sub.example.org.> ", "bob+tag@sub.example.org"},
        AddressRow{"a@b", "a@b"}, AddressRow{"", nullptr}, AddressRow{"<>", nullptr},
        AddressRow{"no-at-sign", nullptr}, AddressRow{"@example.org", nullptr},
        AddressRow{"alice@", nullptr}, AddressRow{"../../etc@example.org", nullptr},
        AddressRow{"a/b@example.org", nullptr}, AddressRow{"a\\b@example.org", nullptr},
        AddressRow{".alice@example.org", nullptr}, AddressRow{"al..ice@example.org", nullptr},
        AddressRow{"alice@exa mple.org", nullptr}, AddressRow{"alice@-example.org", nullptr},
        AddressRow{"alice@example..org", nullptr}, AddressRow{"ali ce@example.org", nullptr},
        AddressRow{"a\x01@example.org", nullptr}));

TEST(Address, LengthBounds) {
    const std::string local64(64, 'a');
    EXPECT_TRUE(parse_address(local64 + "@example.org"));
    EXPECT_FALSE(parse_address(local64 + "a@example.org"));
    std::string label63(63, 'b');
    EXPECT_TRUE(parse_address("a@" + label63 + ".org"));
    EXPECT_FALSE(parse_address("a@" + label63 + "b.org"));
    std::string longdomain;
    while (longdomain.size() < 260) longdomain += "abcdefghi.";
    EXPECT_FALSE(parse_address("a@" + longdomain + "org"));
}

TEST(Address, StripAngleBrackets) {
    EXPECT_EQ(strip_angle_brackets("<a@b>"), "a@b");
    EXPECT_EQ(strip_angle_brackets("<>"), "");
    EXPECT_EQ(strip_angle_brackets("a@b"), "a@b");
}
