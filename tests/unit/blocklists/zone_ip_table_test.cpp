// The IPv4 table alone (zone_ip_table.hpp, internal to libpampero-scan): ranges split into
// /32../8 blocks, the most specific block deciding, exclusions, both ends of the address
// space, the indexed levels and their key widths, and what it costs.
#include "zone_ip_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace pampero;
using namespace pampero::scan;
using namespace pampero::scan::zone_detail;

namespace {

// A table built from `ranges` {lo, hi, A (0 = exclusion)}, with its answers.
struct Built {
    ZoneAnswers answers;
    Ip4Table table;
};

struct Range {
    std::uint32_t lo, hi, a;
};

std::unique_ptr<Built> build(const std::vector<Range>& ranges) {
    auto b = std::make_unique<Built>();
    ZoneAnswersBuilder ab(b->answers);
    Ip4TableBuilder tb;
    for (const auto& r : ranges) tb.add_range(r.lo, r.hi, r.a ? ab.intern(r.a, "") : kExcluded);
    b->table = tb.build(ab);
    ab.finish();
    return b;
}

// The A values listed for `ip`, sorted, as "2,3" (127.0.0.x without the prefix) or "-".
std::string look(const Built& b, std::uint32_t ip) {
    const ZoneMatch m = b.table.lookup(ip, b.answers);
    std::vector<std::uint32_t> a;
    for (auto id : m.answers) a.push_back(b.answers.answers[id].a & 0xff);
    std::sort(a.begin(), a.end());
    std::string out;
    for (auto v : a) out.append(out.empty() ? "" : ",").append(std::to_string(v));
    return out.empty() ? "-" : out;
}

constexpr std::uint32_t A(unsigned n) {
    return 0x7f000000u | n;
}
constexpr std::uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

TEST(Ip4Table, EmptyTableListsNothing) {
    auto b = build({});
    EXPECT_EQ(look(*b, 0), "-");
    EXPECT_EQ(look(*b, 0xffffffffu), "-");
    EXPECT_EQ(b->table.memory(), 0u);
}

TEST(Ip4Table, RangeSplitIntoBlocksCoversExactlyTheRange) {
    // 10.0.0.255 - 10.2.1.0: a /32, 255 /24s, one /16, one /24 and one /32 at the end.
    auto b = build({{ip4(10, 0, 0, 255), ip4(10, 2, 1, 0), A(2)}});
    EXPECT_EQ(look(*b, ip4(10, 0, 0, 254)), "-");
    EXPECT_EQ(look(*b, ip4(10, 0, 0, 255)), "2");
    EXPECT_EQ(look(*b, ip4(10, 0, 1, 0)), "2");
    EXPECT_EQ(look(*b, ip4(10, 0, 255, 255)), "2");
    EXPECT_EQ(look(*b, ip4(10, 1, 128, 7)), "2");
    EXPECT_EQ(look(*b, ip4(10, 2, 0, 0)), "2");
    EXPECT_EQ(look(*b, ip4(10, 2, 1, 0)), "2");
    EXPECT_EQ(look(*b, ip4(10, 2, 1, 1)), "-");
    EXPECT_EQ(look(*b, ip4(10, 3, 0, 0)), "-");
}

TEST(Ip4Table, BothEndsOfTheAddressSpace) {
    // A range up to 255.255.255.255 must end (the split steps past 2^32 - 1).
    auto b = build({{0, 0, A(2)},
                    {ip4(255, 255, 255, 0), 0xffffffffu, A(3)},
                    {ip4(1, 0, 0, 0), ip4(1, 255, 255, 255), A(4)}});
    EXPECT_EQ(look(*b, 0), "2");
    EXPECT_EQ(look(*b, 1), "-");
    EXPECT_EQ(look(*b, 0xffffffffu), "3");
    EXPECT_EQ(look(*b, ip4(255, 255, 255, 0)), "3");
    EXPECT_EQ(look(*b, ip4(255, 255, 254, 255)), "-");
    EXPECT_EQ(look(*b, ip4(1, 2, 3, 4)), "4");
    EXPECT_EQ(look(*b, ip4(2, 0, 0, 0)), "-");
}

TEST(Ip4Table, MostSpecificBlockDecidesAndMergesItsEntries) {
    auto b = build({{ip4(10, 0, 0, 0), ip4(10, 255, 255, 255), A(2)},  // a /8
                    {ip4(10, 1, 0, 0), ip4(10, 1, 255, 255), A(3)},    // a /16 in it
                    {ip4(10, 1, 0, 0), ip4(10, 1, 255, 255), A(4)},    // same /16, other A
                    {ip4(10, 1, 2, 0), ip4(10, 1, 2, 255), 0},         // an excluded /24
                    {ip4(10, 1, 2, 3), ip4(10, 1, 2, 3), A(5)},        // a /32 in that
                    {ip4(10, 1, 3, 0), ip4(10, 1, 3, 255), A(6)},      // a /24 listed and
                    {ip4(10, 1, 3, 0), ip4(10, 1, 3, 255), 0}});       // excluded: excluded
    EXPECT_EQ(look(*b, ip4(10, 9, 9, 9)), "2");
    EXPECT_EQ(look(*b, ip4(10, 1, 9, 9)), "3,4");
    EXPECT_EQ(look(*b, ip4(10, 1, 2, 4)), "-");
    EXPECT_EQ(look(*b, ip4(10, 1, 2, 3)), "5");
    EXPECT_EQ(look(*b, ip4(10, 1, 3, 1)), "-");
}

TEST(Ip4Table, IndexedLevelsAgreeWithAModel) {
    // Enough keys at every level for its index (4,096 /32s and /24s, 256 /16s), over the
    // whole space, each key with one of three values; then addresses near each key.
    std::mt19937 rng(7);
    std::vector<Range> ranges;
    for (int i = 0; i < 6000; ++i) {
        const std::uint32_t x = rng();
        ranges.push_back({x, x, A(2 + i % 3)});
        const std::uint32_t n24 = rng() & 0xffffff00u;
        ranges.push_back({n24, n24 | 0xff, A(5)});
    }
    for (int i = 0; i < 300; ++i) {
        const std::uint32_t n16 = rng() & 0xffff0000u;
        ranges.push_back({n16, n16 | 0xffff, A(6)});
    }
    auto b = build(ranges);
    auto model = [&](std::uint32_t ip) {
        // The most specific block containing ip that has entries decides.
        for (std::uint32_t size : {1u, 256u, 65536u, 16777216u}) {
            std::vector<std::uint32_t> vals;
            for (const auto& r : ranges) {
                if (r.hi - r.lo + 1 == size && ip >= r.lo && ip <= r.hi) vals.push_back(r.a & 0xff);
            }
            if (vals.empty()) continue;
            std::sort(vals.begin(), vals.end());
            vals.erase(std::unique(vals.begin(), vals.end()), vals.end());
            std::string out;
            for (auto v : vals) out.append(out.empty() ? "" : ",").append(std::to_string(v));
            return out;
        }
        return std::string("-");
    };
    for (int i = 0; i < 400; ++i) {
        const auto& r = ranges[rng() % ranges.size()];
        for (std::uint32_t ip : {r.lo, r.hi, r.lo - 1, r.hi + 1, static_cast<std::uint32_t>(rng())})
            ASSERT_EQ(look(*b, ip), model(ip)) << ip;
    }
}

TEST(Ip4Table, MemoryOfAMillionAddresses) {
    // Indexed /32s keep 2 bytes a key plus a 256 KB index; one value for all costs nothing
    // per key, and more than one costs a byte per key (255 sets or fewer).
    std::vector<Range> one, three;
    for (std::uint32_t i = 0; i < 1'000'000; ++i) {
        const std::uint32_t x = i * 4099u;  // distinct, spread over the space
        one.push_back({x, x, A(2)});
        three.push_back({x, x, A(2 + i % 3)});
    }
    const std::size_t index = (65536 + 1) * 4;
    EXPECT_EQ(build(one)->table.memory(), index + 2'000'000);
    EXPECT_EQ(build(three)->table.memory(), index + 3'000'000);
}

}  // namespace
