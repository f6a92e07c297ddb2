// The directory contract on SQLite (directory_contract.cpp), and what only SQLite has: a
// file that can be missing, corrupt, replaced or made by another user.
#include "pampero/common/directory.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "directory_contract.hpp"
#include "pampero/common/recipient_facts.hpp"
#include "test_support.hpp"

using namespace pampero;
using pampero::testing::DirectoryContract;

namespace {

using pampero::testing::make_user;

std::string temp_db() {
    static int n = 0;
    const auto dir =
        std::filesystem::temp_directory_path() / ("pampero-dir-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / ("d" + std::to_string(++n) + ".db");
    std::filesystem::remove(path);
    return path.string();
}

const pampero::testing::DirectoryBackend kSqlite{"SQLite", [] { return "sqlite:" + temp_db(); }};

// The SQLite-only tests: the same start as the contract's, with the file's path at hand.
class SqliteDirectory : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = temp_db();
        auto d = open_directory("sqlite:" + path_, OpenMode::read_write);
        ASSERT_TRUE(d) << d.error().message;
        dir_ = std::move(d).value();
        ASSERT_TRUE(dir_->add_domain("example.org"));
        ASSERT_TRUE(
            dir_->add_user(make_user("alice@example.org", 2, 1000, "node1", "example.org/alice/")));
        ASSERT_TRUE(dir_->add_user(
            make_user("bob@example.org", std::nullopt, std::nullopt, "local", "example.org/bob/")));
    }
    std::string path_;
    std::unique_ptr<DirectoryAdmin> dir_;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backend, DirectoryContract, ::testing::Values(&kSqlite),
                         pampero::testing::backend_name);

TEST_F(SqliteDirectory, ReadOnlyOpenSeesWritesAndFailsTemporarilyWhenBroken) {
    auto ro = open_directory("sqlite:" + path_, OpenMode::read_only);
    ASSERT_TRUE(ro);
    EXPECT_TRUE(*(*ro)->is_local_domain("example.org"));
    dir_.reset();
    ro->reset();
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << std::string(4096, 'x');
    std::filesystem::remove(path_ + "-wal");  // WAL mode: the data would still be there
    std::filesystem::remove(path_ + "-shm");
    auto broken = open_directory("sqlite:" + path_, OpenMode::read_only);
    ASSERT_TRUE(broken);  // opening is lazy: the error comes with the first lookup
    auto r = (*broken)->find_user("alice@example.org");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
}

TEST(Directory, MissingFileIsTemporaryForDaemons) {
    auto d = open_directory("sqlite:/nonexistent/dir.db", OpenMode::read_only);
    ASSERT_TRUE(d);
    auto r = (*d)->is_local_domain("example.org");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::temporary);
}

TEST(Directory, UnknownSpecIsAConfigError) {
    auto d = open_directory("ldap://x", OpenMode::read_only);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, ErrorKind::config);
}

// Regression (issue 8): a daemon's open connection kept reading the deleted file's inode,
// so a user re-added to a recreated file stayed "unknown" (550 5.1.1, fed to the ban)
// until a restart; and a deleted file kept answering from the old data.
TEST_F(SqliteDirectory, ReplacedOrDeletedFileIsNoticedWithoutARestart) {
    auto ro = std::move(open_directory("sqlite:" + path_, OpenMode::read_only)).value();
    ASSERT_TRUE(ro->find_user("alice@example.org")->has_value());
    dir_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);

    auto gone = ro->find_user("alice@example.org");
    ASSERT_FALSE(gone);  // a deleted directory defers mail (4xx), never "unknown user"
    EXPECT_EQ(gone.error().kind, ErrorKind::temporary);

    auto fresh = std::move(open_directory("sqlite:" + path_, OpenMode::read_write)).value();
    ASSERT_TRUE(fresh->add_domain("example.org"));
    ASSERT_TRUE(
        fresh->add_user(make_user("carol@example.org", 1, {}, "local", "example.org/carol/")));
    auto carol = ro->find_user("carol@example.org");
    ASSERT_TRUE(carol) << carol.error().message;
    EXPECT_TRUE(carol->has_value());  // the new file, read by the old handle
    EXPECT_FALSE(ro->find_user("alice@example.org")->has_value());
}

// Regression (issue 8): pamperoctl made the database 0644 (0600 under umask 077) owned by
// whoever ran it, so daemons running as their own user could not use its -shm (WAL mode
// needs it writable even for readers), or could not read it at all.
TEST(Directory, NewFileIsMadeForTheDaemonsGroup) {
    const auto folder =
        std::filesystem::temp_directory_path() / ("pampero-dir-mode-" + std::to_string(getpid()));
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    const gid_t folder_group = 65534;  // nogroup: any group but ours
    ASSERT_EQ(chown(folder.c_str(), static_cast<uid_t>(-1), folder_group), 0) << "needs root";
    const mode_t old_umask = umask(077);
    struct Case {
        std::optional<unsigned> group;
        gid_t expect;
    };
    for (const Case c : {Case{std::nullopt, folder_group}, Case{0u, 0u}}) {
        const std::string path = (folder / "d.db").string();
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
        auto d = open_directory("sqlite:" + path, OpenMode::read_write, c.group);
        ASSERT_TRUE(d) << d.error().message;
        ASSERT_TRUE((*d)->add_domain("example.org"));
        for (const char* suffix : {"", "-wal", "-shm"}) {
            struct stat st {};
            ASSERT_EQ(stat((path + suffix).c_str(), &st), 0) << suffix;
            EXPECT_EQ(st.st_mode & 07777, 0660u) << path << suffix;
            EXPECT_EQ(st.st_gid, c.expect) << path << suffix;
        }
    }
    umask(old_umask);
    std::filesystem::remove_all(folder);
}

// A database made before user_limits existed: the daemons (read-only) go on reading it,
// and see the table once pamperoctl has opened the file writable, without a restart.
TEST(Directory, ADatabaseWithoutUserLimitsKeepsWorking) {
    const std::string path = temp_db();
    {
        auto d = open_directory("sqlite:" + path, OpenMode::read_write);
        ASSERT_TRUE(d) << d.error().message;
        ASSERT_TRUE((*d)->add_domain("example.org"));
        ASSERT_TRUE((*d)->add_user(
            pampero::testing::make_user("alice@example.org", 3, std::nullopt, "local", "a/")));
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE user_limits", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);

    auto ro = open_directory("sqlite:" + path, OpenMode::read_only);
    ASSERT_TRUE(ro);
    auto alice = (*ro)->find_user("alice@example.org");
    ASSERT_TRUE(alice) << alice.error().message;
    ASSERT_TRUE(alice->has_value());
    EXPECT_EQ((*alice)->level, 3);
    EXPECT_EQ((*alice)->limits, UserLimits{});
    ASSERT_TRUE((*ro)->users(""));

    auto rw = open_directory("sqlite:" + path, OpenMode::read_write);  // pamperoctl
    ASSERT_TRUE(rw) << rw.error().message;
    User u = **(*rw)->find_user("alice@example.org");
    u.limits.messages_per_hour = 4;
    ASSERT_TRUE((*rw)->update_user(u));
    EXPECT_EQ((*(*ro)->find_user("alice@example.org"))->limits.messages_per_hour, 4);
}
