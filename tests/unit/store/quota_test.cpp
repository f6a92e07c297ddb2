// Maildir++ quota: the maildirsize format, rebuilding from the folders, appends, limits.
#include "quota.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include "fixture.hpp"
#include "maildir.hpp"

using namespace pampero::store;
using namespace store_test;

namespace {

TEST(ParseMaildirsize, Forms) {
    auto m = parse_maildirsize("1000S\n100 1\n-40 -1\n25 1\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->limit_bytes, 1000u);
    EXPECT_FALSE(m->limit_messages);
    EXPECT_EQ(m->usage.bytes, 85);
    EXPECT_EQ(m->usage.messages, 1);

    m = parse_maildirsize("5000S,20C\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->limit_bytes, 5000u);
    EXPECT_EQ(m->limit_messages, 20u);
    EXPECT_EQ(m->usage.bytes, 0);

    m = parse_maildirsize("20C,5000S\n  7   2 \n");  // either order, extra blanks
    ASSERT_TRUE(m);
    EXPECT_EQ(m->usage.bytes, 7);

    m = parse_maildirsize("\n10 1\n");  // no limit
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->limit_bytes);

    m = parse_maildirsize("1000S\n10 1\n99 9");  // a line still being appended is ignored
    ASSERT_TRUE(m);
    EXPECT_EQ(m->usage.bytes, 10);

    EXPECT_FALSE(parse_maildirsize(""));
    EXPECT_FALSE(parse_maildirsize("1000X\n"));
    EXPECT_FALSE(parse_maildirsize("S\n"));
    EXPECT_FALSE(parse_maildirsize("1000S\nabc 1\n"));
    // Sums past int64 (found by fuzz_netstring): corrupt, so rebuilt, never wrapped.
    EXPECT_FALSE(parse_maildirsize("1S\n9223372036854775807 1\n1 1\n"));
    EXPECT_FALSE(parse_maildirsize("1S\n-9223372036854775807 1\n-2 1\n"));
    EXPECT_FALSE(parse_maildirsize("1S\n1 9223372036854775807\n1 1\n"));
    EXPECT_FALSE(parse_maildirsize("1000S\n10\n"));
    EXPECT_FALSE(parse_maildirsize("-5S\n"));
}

TEST(QuotaDefinition, Format) {
    EXPECT_EQ(quota_definition(314572800), "314572800S");
    EXPECT_EQ(quota_definition(10, 5), "10S,5C");
}

TEST(OverQuota, Boundary) {
    const QuotaUsage u{900, 3};
    EXPECT_FALSE(over_quota(u, 100, 1000));  // exactly full is allowed
    EXPECT_TRUE(over_quota(u, 101, 1000));
    EXPECT_FALSE(over_quota(u, 1u << 30, 0));            // 0: unlimited
    EXPECT_TRUE(over_quota(u, UINT64_MAX - 500, 1000));  // a huge SIZE= does not wrap
    EXPECT_FALSE(over_quota(QuotaUsage{-50, 0}, 1000, 1000));
}

TEST(Quota, RecalculateCountsEveryFolderBySizeInName) {
    const std::string root = scratch("q") + "/u";
    ASSERT_TRUE(ensure_folder(root, "Spam").ok());
    write_file(root + "/new/1.M1P1.h,S=100", std::string(7, 'x'));  // S= wins over the real size
    write_file(root + "/cur/2.M2P2.h,S=50:2,S", "y");
    write_file(root + "/cur/3.M3P3.h", std::string(30, 'z'));  // no S=: stat
    write_file(root + "/.Spam/new/4.M4P4.h,S=20", "s");
    write_file(root + "/tmp/5.M5P5.h,S=999", "t");  // tmp does not count
    const auto u = recalculate_quota(root, 5000);
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->bytes, 200);
    EXPECT_EQ(u->messages, 4);
    EXPECT_EQ(read_file(root + "/maildirsize"), "5000S\n200 4\n");
}

TEST(Quota, UsageAppendsAndRebuildsWhenTheLimitChanges) {
    const std::string root = scratch("q") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    write_file(root + "/new/1.M1P1.h,S=100", "x");
    auto u = quota_usage(root, 1000);  // missing file: built
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 100);
    ASSERT_TRUE(quota_add(root, 40, 1).ok());
    u = quota_usage(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 140);  // from the file, not a scan: the appended line counts
    EXPECT_EQ(read_file(root + "/maildirsize"), "1000S\n100 1\n40 1\n");
    u = quota_usage(root, 2000);  // new limit: rebuilt from the folders
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 100);
    EXPECT_EQ(read_file(root + "/maildirsize"), "2000S\n100 1\n");
}

TEST(Quota, OversizedOrMalformedFileIsRebuilt) {
    const std::string root = scratch("q") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    write_file(root + "/new/1.M1P1.h,S=10", "x");
    std::string big = "1000S\n";
    while (big.size() <= kMaxMaildirsize) big += "1 0\n";
    write_file(root + "/maildirsize", big);
    auto u = quota_usage(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 10);
    write_file(root + "/maildirsize", "garbage");
    u = quota_usage(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 10);
}

TEST(Quota, StaleOverQuotaFileIsRecheckedAgainstTheFolders) {
    const std::string root = scratch("q") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    write_file(root + "/maildirsize", "1000S\n1200 3\n");  // a client expunged without telling
    auto u = quota_usage(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 1200);  // fresh: trusted
    const time_t old = time(nullptr) - 16 * 60;
    utimbuf t{old, old};
    ASSERT_EQ(utime((root + "/maildirsize").c_str(), &t), 0);
    u = quota_usage(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 0);
}

TEST(Quota, MaildirNotMadeYetIsEmpty) {
    auto u = recalculate_quota("/nonexistent/pampero/u", 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 0);
    // Root made, tmp/ not yet (a concurrent first delivery): counted, nothing written.
    const std::string root = scratch("q") + "/u";
    std::filesystem::create_directories(root + "/new");
    write_file(root + "/new/1.M1P1.h,S=10", "x");
    u = recalculate_quota(root, 1000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes, 10);
    EXPECT_FALSE(std::filesystem::exists(root + "/maildirsize"));
}

TEST(Quota, UnreadableFolderIsTemporary) {
    const std::string root = scratch("q") + "/u";
    std::filesystem::create_directories(root);
    write_file(root + "/new", "a file where a folder should be");
    const auto u = recalculate_quota(root, 1000);
    ASSERT_FALSE(u.ok());
    EXPECT_EQ(u.error().kind, pampero::ErrorKind::temporary);
}

}  // namespace
