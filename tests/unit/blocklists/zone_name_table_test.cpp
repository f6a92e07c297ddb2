// The name table alone (zone_name_table.hpp, internal to libpampero-scan): what its builder
// accepts and refuses, one record per distinct name whatever its kinds, value ids at each
// width, exact versus wildcard, and the pipelined lookup agreeing with the single one.
#include "zone_name_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pampero;
using namespace pampero::scan;
using namespace pampero::scan::zone_detail;

namespace {

struct Entry {
    std::string name;
    NameKind kind;
    std::uint32_t a;  // 0 = exclusion
};

struct Built {
    ZoneAnswers answers;
    NameTable table;
};

std::unique_ptr<Built> build(const std::vector<Entry>& entries, std::size_t buckets = 0) {
    auto b = std::make_unique<Built>();
    ZoneAnswersBuilder ab(b->answers);
    NameTableBuilder tb(NameTableBuilder::Options{buckets});
    for (const auto& e : entries) tb.add(e.name, e.kind, e.a ? ab.intern(e.a, "") : kExcluded);
    b->table = tb.build(ab);
    ab.finish();
    return b;
}

// "A1,A2@entry" (A values sorted, in full) or "-".
std::string show(const Built& b, const ZoneMatch& m) {
    if (!m.listed()) return "-";
    std::vector<std::uint32_t> a;
    for (auto id : m.answers) a.push_back(b.answers.answers[id].a);
    std::sort(a.begin(), a.end());
    std::string out;
    for (auto v : a) out.append(out.empty() ? "" : ",").append(std::to_string(v));
    return out + "@" + std::string(m.entry);
}

std::string look(const Built& b, std::string_view name) {
    return show(b, b.table.lookup(name, b.answers));
}

TEST(NameTableBuilder, RefusesNamesItCannotStore) {
    NameTableBuilder tb;
    EXPECT_THROW(tb.add("", NameKind::exact, 0), std::invalid_argument);
    EXPECT_THROW(tb.add(std::string(Zone::kMaxNameLength + 1, 'a'), NameKind::exact, 0),
                 std::invalid_argument);
    EXPECT_NO_THROW(tb.add(std::string(Zone::kMaxNameLength, 'a'), NameKind::exact, 0));
}

TEST(NameTableBuilder, EmptyTableListsNothing) {
    auto b = build({});
    EXPECT_EQ(b->table.size(), 0u);
    EXPECT_EQ(look(*b, "example.com"), "-");
    std::vector<std::string_view> names{"a", "b.c"};
    std::vector<ZoneMatch> out(2);
    b->table.lookup_many(names, out, b->answers);
    EXPECT_FALSE(out[0].listed());
    EXPECT_FALSE(out[1].listed());
}

TEST(NameTableBuilder, OneRecordPerNameLowercasedWhateverItsKinds) {
    auto b = build({{"Example.COM", NameKind::exact, 2},
                    {"example.com", NameKind::wildcard, 3},
                    {"EXAMPLE.com", NameKind::exact, 4},
                    {"other.test", NameKind::wildcard, 5}});
    EXPECT_EQ(b->table.size(), 2u);
    // The exact entries of a name merge; its wildcard entry answers for the names under it.
    EXPECT_EQ(look(*b, "example.com"), "2,4@example.com");
    EXPECT_EQ(look(*b, "WWW.Example.com."), "3@example.com");
    EXPECT_EQ(look(*b, "other.test"), "-");  // a wildcard only: not the name itself
    EXPECT_EQ(look(*b, "a.b.other.test"), "5@other.test");
}

TEST(NameTableBuilder, ExclusionsStopTheSearchWhereTheyAre) {
    auto b = build({{"example.com", NameKind::wildcard, 2},
                    {"www.example.com", NameKind::exact, 0},
                    {"sub.example.com", NameKind::wildcard, 0},
                    {"sub.example.com", NameKind::wildcard, 3},
                    {"only.example.com", NameKind::exact, 4}});
    EXPECT_EQ(look(*b, "www.example.com"), "-");  // an exact exclusion
    EXPECT_EQ(look(*b, "a.www.example.com"), "2@example.com");
    EXPECT_EQ(look(*b, "a.sub.example.com"), "-");  // an excluded wildcard beats a listed one
    EXPECT_EQ(look(*b, "sub.example.com"), "2@example.com");
    // An exact-only name is no wildcard: the names under it go on to its parents.
    EXPECT_EQ(look(*b, "x.only.example.com"), "2@example.com");
}

TEST(NameTableBuilder, ValueIdsAtEveryWidth) {
    // n distinct answers give n value sets: one (no id bytes), 200 (1 byte), 300 (2 bytes),
    // 70,000 (4 bytes). Each name must come back with its own, exact and wildcard alike.
    for (std::uint32_t n : {1u, 200u, 300u, 70000u}) {
        std::vector<Entry> entries;
        for (std::uint32_t i = 0; i < n; ++i) {
            entries.push_back({"n" + std::to_string(i) + ".test", NameKind::exact, 1000 + i});
            entries.push_back(
                {"n" + std::to_string(i) + ".test", NameKind::wildcard, 1000 + (i + 1) % n});
        }
        auto b = build(entries);
        ASSERT_EQ(b->table.size(), n);
        for (std::uint32_t i = 0; i < n; i += (n > 1000 ? 97 : 1)) {
            const std::string name = "n" + std::to_string(i) + ".test";
            ASSERT_EQ(look(*b, name), std::to_string(1000 + i) + "@" + name) << n;
            ASSERT_EQ(look(*b, "x." + name), std::to_string(1000 + (i + 1) % n) + "@" + name) << n;
        }
    }
}

TEST(NameTableBuilder, RecordsCostTheirNameTwoBytesAndTheirIds) {
    // One bucket of 32 bytes for each 8 names plus one, and the arena: 2 + name + 2 x width
    // for each record, plus 1 (offset 0 is no record) and 8 (word reads past the end),
    // rounded up to pages.
    auto bytes = [](std::size_t names, std::size_t record) {
        const std::size_t raw = (names / 8 + 1) * 32 + names * record + 9;
        return (raw + 4095) & ~std::size_t{4095};
    };
    std::vector<Entry> same, differ;
    for (int i = 0; i < 8000; ++i) {
        const std::string name = "n" + std::to_string(10000 + i) + ".test";  // 11 bytes
        same.push_back({name, NameKind::exact, 2});
        differ.push_back({name, NameKind::exact, static_cast<std::uint32_t>(2 + i % 3)});
    }
    EXPECT_EQ(build(same)->table.memory(), bytes(8000, 2 + 11));
    EXPECT_EQ(build(differ)->table.memory(), bytes(8000, 2 + 11 + 2));
}

TEST(NameTable, LookupManyAnswersAsLookupForAnyBatchAndBucketCount) {
    std::vector<Entry> entries;
    std::vector<std::string> queries;
    for (int i = 0; i < 2000; ++i) {
        const std::string n = "h" + std::to_string(i) + ".d" + std::to_string(i % 37) + ".test";
        const NameKind kind = i % 3 == 0 ? NameKind::wildcard : NameKind::exact;
        entries.push_back({n, kind, static_cast<std::uint32_t>(2 + i % 5)});
        if (i % 11 == 0) entries.push_back({"www." + n, NameKind::exact, 0});
        queries.push_back(n);
        queries.push_back("www." + n);
        queries.push_back("a.b." + n);
        queries.push_back("NX" + n);
    }
    queries.push_back("");
    queries.push_back(".");
    queries.push_back(std::string(Zone::kMaxNameLength + 1, 'a'));
    std::vector<std::string_view> views(queries.begin(), queries.end());
    for (std::size_t buckets : {0, 1, 3}) {
        auto b = build(entries, buckets);
        for (std::size_t len : {std::size_t{1}, std::size_t{6}, std::size_t{7}, views.size()}) {
            std::vector<ZoneMatch> out(len);
            b->table.lookup_many(std::span<const std::string_view>(views.data(), len), out,
                                 b->answers);
            for (std::size_t k = 0; k < len; ++k)
                ASSERT_EQ(show(*b, out[k]), look(*b, views[k])) << views[k] << " " << buckets;
        }
        EXPECT_EQ(look(*b, "h3.d3.test"), "-");  // a wildcard only
        EXPECT_EQ(look(*b, "x.h3.d3.test"), "5@h3.d3.test");
    }
}

}  // namespace
