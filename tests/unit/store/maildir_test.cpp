// Maildir writing: path validation, atomic delivery, folders, stale tmp files, and the
// shared directory fsync under concurrency.
#include "maildir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <set>
#include <thread>

#include "fixture.hpp"

using namespace pampero::store;
using namespace store_test;

namespace {

struct PathRow {
    const char* relative;
    const char* want;  // nullptr: refused
};

void PrintTo(const PathRow& r, std::ostream* os) {
    std::string shown;
    for (const char* p = r.relative; *p; ++p)
        shown += (*p == '\n') ? std::string("\\n") : std::string(1, *p);
    *os << '"' << shown << '"' << (r.want ? " ok" : " refused");
}

class ResolveRows : public ::testing::TestWithParam<PathRow> {};

TEST_P(ResolveRows, StaysUnderTheRoot) {
    const auto r = resolve_maildir("/var/mail/p", GetParam().relative);
    if (GetParam().want) {
        ASSERT_TRUE(r.ok()) << GetParam().relative << ": " << r.error().message;
        EXPECT_EQ(*r, GetParam().want);
    } else {
        ASSERT_FALSE(r.ok()) << GetParam().relative << " -> " << *r;
        EXPECT_EQ(r.error().kind, pampero::ErrorKind::permanent);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResolveRows,
    ::testing::Values(PathRow{"example.com/alice/", "/var/mail/p/example.com/alice"},
                      PathRow{"example.com//alice", "/var/mail/p/example.com/alice"},
                      PathRow{"a+b=c@d_e-f", "/var/mail/p/a+b=c@d_e-f"}, PathRow{"", nullptr},
                      PathRow{"/", nullptr}, PathRow{"///", nullptr},
                      PathRow{"/etc/passwd", nullptr}, PathRow{"../x", nullptr},
                      PathRow{"a/../../x", nullptr}, PathRow{"a/./b", nullptr},
                      PathRow{"a/.Spam", nullptr}, PathRow{"a/b c", nullptr},
                      PathRow{"a/b\\c", nullptr}, PathRow{"a/b\nc", nullptr},
                      PathRow{"a/*", nullptr}));

TEST(Maildir, DeliverWritesOneCompleteFileIntoNew) {
    const std::string root = scratch("md") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    DirSync sync;
    const auto d = deliver_file(root, {"Return-Path: <a@b>\n", "Subject: s\n\nbody\n"}, sync);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->size, 36u);
    EXPECT_EQ(read_file(d->path), "Return-Path: <a@b>\nSubject: s\n\nbody\n");
    EXPECT_NE(d->path.find("/new/"), std::string::npos);
    EXPECT_NE(d->path.find(",S=36"), std::string::npos);
    EXPECT_EQ(files_in(root + "/new").size(), 1u);
    EXPECT_TRUE(files_in(root + "/tmp").empty());
    struct stat st {};
    ASSERT_EQ(stat(d->path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Maildir, WriteFailureLeavesNothing) {
    const std::string root = scratch("md") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    std::filesystem::remove_all(root + "/new");  // rename will fail
    DirSync sync;
    const auto d = deliver_file(root, {"x\n"}, sync);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().kind, pampero::ErrorKind::temporary);
    EXPECT_TRUE(files_in(root + "/tmp").empty());  // the tmp file was taken back
}

TEST(Maildir, FolderIsCreatedMarkedAndSubscribedOnce) {
    const std::string root = scratch("md") + "/u";
    ASSERT_TRUE(ensure_folder(root, "Spam").ok());
    for (const char* sub : {"/cur", "/new", "/tmp", "/.Spam/cur", "/.Spam/new", "/.Spam/tmp"}) {
        EXPECT_TRUE(std::filesystem::is_directory(root + sub)) << sub;
    }
    EXPECT_TRUE(std::filesystem::exists(root + "/.Spam/maildirfolder"));
    EXPECT_EQ(read_file(root + "/subscriptions"), "Spam\n");
    ASSERT_TRUE(ensure_folder(root, "Spam").ok());
    ASSERT_TRUE(ensure_folder(root, "Archive").ok());
    EXPECT_EQ(read_file(root + "/subscriptions"), "Spam\nArchive\n");
    EXPECT_EQ(folder_path(root, "Spam"), root + "/.Spam");
    EXPECT_EQ(folder_path(root, ""), root);
}

TEST(Maildir, UniqueNamesFollowTheRules) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string n = unique_name(42);
        EXPECT_TRUE(seen.insert(n).second) << n;
        EXPECT_EQ(n.find('/'), std::string::npos);
        EXPECT_EQ(n.find(':'), std::string::npos);  // ':' starts Maildir's info part
        EXPECT_NE(n.find(".M"), std::string::npos);
        EXPECT_TRUE(n.ends_with(",S=42"));
    }
}

TEST(Maildir, StaleTmpFilesGoAfter36Hours) {
    const std::string root = scratch("md") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    write_file(root + "/tmp/old", "x");
    write_file(root + "/tmp/fresh", "y");
    const time_t old = time(nullptr) - 37 * 3600;
    utimbuf t{old, old};
    ASSERT_EQ(utime((root + "/tmp/old").c_str(), &t), 0);
    EXPECT_EQ(remove_stale_tmp(root), 1);
    EXPECT_FALSE(std::filesystem::exists(root + "/tmp/old"));
    EXPECT_TRUE(std::filesystem::exists(root + "/tmp/fresh"));
}

TEST(DirSync, ConcurrentDeliveriesAllLandAndAllSucceed) {
    const std::string root = scratch("md") + "/u";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    DirSync sync;
    constexpr int kThreads = 8;
    constexpr int kEach = 25;
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) {
                if (deliver_file(root, {"m\n"}, sync).ok()) ++ok;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), kThreads * kEach);
    EXPECT_EQ(files_in(root + "/new").size(), static_cast<std::size_t>(kThreads * kEach));
    EXPECT_TRUE(files_in(root + "/tmp").empty());
}

TEST(DirSync, MissingDirectoryIsATemporaryError) {
    DirSync sync;
    const auto s = sync.sync("/nonexistent/pampero/new");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, pampero::ErrorKind::temporary);
}

}  // namespace
