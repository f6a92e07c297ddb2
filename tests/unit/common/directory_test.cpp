// The directory contract. Every backend must pass these; the fixture opens one by spec,
// so a MariaDB backend joins by adding its spec to the instantiation.
#include "pampero/common/directory.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "pampero/common/recipient_facts.hpp"
#include "test_support.hpp"

using namespace pampero;

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

class DirectoryContract : public ::testing::Test {
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

TEST_F(DirectoryContract, DomainsAndUsers) {
    EXPECT_TRUE(*dir_->is_local_domain("example.org"));
    EXPECT_FALSE(*dir_->is_local_domain("example.net"));
    auto a = dir_->find_user("alice@example.org");
    ASSERT_TRUE(a && a->has_value());
    EXPECT_EQ((*a)->level, 2);
    EXPECT_EQ((*a)->quota, 1000u);
    EXPECT_EQ((*a)->node, "node1");
    EXPECT_EQ((*a)->maildir, "example.org/alice/");
    auto b = dir_->find_user("bob@example.org");
    EXPECT_FALSE((*b)->level.has_value());
    EXPECT_FALSE((*b)->quota.has_value());
    EXPECT_FALSE(dir_->find_user("carol@example.org")->has_value());
}

TEST_F(DirectoryContract, AdminErrorsArePermanent) {
    auto dup = dir_->add_user(make_user("alice@example.org", 1, {}, "local", "x/"));
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().kind, ErrorKind::permanent);
    auto no_domain = dir_->add_user(make_user("zed@example.net", 1, {}, "local", "x/"));
    ASSERT_FALSE(no_domain);
    EXPECT_EQ(no_domain.error().kind, ErrorKind::permanent);
    auto del = dir_->del_user("nobody@example.org");
    ASSERT_FALSE(del);
    EXPECT_EQ(del.error().kind, ErrorKind::permanent);
    auto upd = dir_->update_user(make_user("nobody@example.org", 1, {}, "local", "x/"));
    ASSERT_FALSE(upd);
    EXPECT_EQ(upd.error().kind, ErrorKind::permanent);
}

TEST_F(DirectoryContract, UpdateAndDelete) {
    User u = **dir_->find_user("bob@example.org");
    u.level = 5;
    ASSERT_TRUE(dir_->update_user(u));
    EXPECT_EQ((*dir_->find_user("bob@example.org"))->level, 5);
    ASSERT_TRUE(dir_->del_user("bob@example.org"));
    EXPECT_FALSE(dir_->find_user("bob@example.org")->has_value());
    ASSERT_TRUE(dir_->del_domain("example.org"));
    EXPECT_FALSE(dir_->find_user("alice@example.org")->has_value());  // cascades
}

TEST_F(DirectoryContract, ListsWhiteBeatsBlackAndDomainsMatch) {
    EXPECT_EQ(*dir_->sender_listing("alice@example.org", "x@spam.example"), Listing::none);
    ASSERT_TRUE(dir_->add_list_entry({ListKind::black, "", "@spam.example"}));
    EXPECT_EQ(*dir_->sender_listing("alice@example.org", "x@spam.example"), Listing::black);
    EXPECT_EQ(*dir_->sender_listing("alice@example.org", "x@sub.spam.example"), Listing::none);
    ASSERT_TRUE(dir_->add_list_entry({ListKind::white, "alice@example.org", "x@spam.example"}));
    EXPECT_EQ(*dir_->sender_listing("alice@example.org", "x@spam.example"), Listing::white);
    EXPECT_EQ(*dir_->sender_listing("bob@example.org", "x@spam.example"), Listing::black);
    EXPECT_EQ(dir_->list_entries("")->size(), 1u);
    EXPECT_EQ(dir_->list_entries("alice@example.org")->size(), 1u);
    auto dup = dir_->add_list_entry({ListKind::black, "", "@spam.example"});
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().kind, ErrorKind::permanent);
    ASSERT_TRUE(dir_->del_list_entry({ListKind::black, "", "@spam.example"}));
    EXPECT_EQ(*dir_->sender_listing("bob@example.org", "x@spam.example"), Listing::none);
}

TEST_F(DirectoryContract, ContactsAndAliases) {
    EXPECT_FALSE(*dir_->is_contact("alice@example.org", "dana@friends.example"));
    ASSERT_EQ(*dir_->add_contacts("alice@example.org", {{"dana@friends.example", "Dana"}}), 1);
    EXPECT_TRUE(*dir_->is_contact("alice@example.org", "dana@friends.example"));
    EXPECT_FALSE(*dir_->is_contact("bob@example.org", "dana@friends.example"));
    ASSERT_TRUE(*dir_->add_contacts("alice@example.org", {{"dana@friends.example", ""}}));
    EXPECT_EQ(dir_->contacts("alice@example.org")->at(0).name,
              "Dana");  // empty name keeps the old one

    ASSERT_TRUE(dir_->add_alias({"postmaster@example.org", "alice@example.org"}));
    EXPECT_EQ(*dir_->find_alias("postmaster@example.org"),
              std::vector<std::string>{"alice@example.org"});
    EXPECT_TRUE(dir_->find_alias("nobody@example.org")->empty());
    auto r = resolve_recipient(*dir_, "postmaster@example.org", "example.org");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->exists);
    EXPECT_EQ(r->owner, "alice@example.org");
    EXPECT_EQ(r->level, 2);
    auto unknown = resolve_recipient(*dir_, "nobody@example.org", "example.org");
    EXPECT_TRUE(unknown->local_domain);
    EXPECT_FALSE(unknown->exists);
    auto remote = resolve_recipient(*dir_, "x@example.net", "example.net");
    EXPECT_FALSE(remote->local_domain);
    EXPECT_TRUE(remote->exists);
}

TEST_F(DirectoryContract, ReadOnlyOpenSeesWritesAndFailsTemporarilyWhenBroken) {
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

TEST_F(DirectoryContract, CacheServesRepeatsUntilTtl) {
    auto cached = make_cached_directory(
        std::move(open_directory("sqlite:" + path_, OpenMode::read_only)).value(),
        std::chrono::seconds(60));
    EXPECT_FALSE(cached->find_user("carol@example.org")->has_value());
    ASSERT_TRUE(
        dir_->add_user(make_user("carol@example.org", 1, {}, "local", "example.org/carol/")));
    EXPECT_FALSE(cached->find_user("carol@example.org")->has_value());  // negative answer cached
    auto uncached = make_cached_directory(
        std::move(open_directory("sqlite:" + path_, OpenMode::read_only)).value(),
        std::chrono::seconds(0));
    EXPECT_TRUE(uncached->find_user("carol@example.org")->has_value());
}

// Past the TTL the source is asked again: a user added, or a level changed, shows up
// after the TTL and not before. A real 1 s TTL, polled (bounded) rather than slept.
TEST_F(DirectoryContract, CacheAnswersChangeAfterTtl) {
    using Clock = std::chrono::steady_clock;
    const auto ttl = std::chrono::seconds(1);
    auto cached = make_cached_directory(
        std::move(open_directory("sqlite:" + path_, OpenMode::read_only)).value(), ttl);
    const auto t0 = Clock::now();
    EXPECT_FALSE(cached->find_user("carol@example.org")->has_value());
    EXPECT_EQ((*cached->find_user("alice@example.org"))->level, 2);
    ASSERT_TRUE(
        dir_->add_user(make_user("carol@example.org", 1, {}, "local", "example.org/carol/")));
    auto alice = make_user("alice@example.org", 4, 1000, "node1", "example.org/alice/");
    ASSERT_TRUE(dir_->update_user(alice));
    const bool cached_still = !cached->find_user("carol@example.org")->has_value();
    const auto level_now = (*cached->find_user("alice@example.org"))->level;
    if (Clock::now() - t0 < ttl) {  // a machine slower than the TTL cannot tell; never seen
        EXPECT_TRUE(cached_still);
        EXPECT_EQ(level_now, 2);
    }
    const auto deadline = t0 + std::chrono::seconds(20);
    while (!cached->find_user("carol@example.org")->has_value() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(Clock::now() - t0, ttl);  // the monotonic clock: never before the TTL
    EXPECT_TRUE(cached->find_user("carol@example.org")->has_value());
    EXPECT_EQ((*cached->find_user("alice@example.org"))->level, 4);
}

// Regression (issue 8): a daemon's open connection kept reading the deleted file's inode,
// so a user re-added to a recreated file stayed "unknown" (550 5.1.1, fed to the ban)
// until a restart; and a deleted file kept answering from the old data.
TEST_F(DirectoryContract, ReplacedOrDeletedFileIsNoticedWithoutARestart) {
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

// Issue 10: a user's own rate limits, NULL (nullopt) meaning the site's.
TEST_F(DirectoryContract, UserLimitsRoundTripAndResetToTheSiteDefault) {
    EXPECT_EQ((*dir_->find_user("alice@example.org"))->limits, UserLimits{});
    User u = **dir_->find_user("alice@example.org");
    u.limits.messages_per_hour = 10;
    u.limits.recipients_per_message = 0;  // no limit for this user
    ASSERT_TRUE(dir_->update_user(u));
    const UserLimits want{10, std::nullopt, 0};
    EXPECT_EQ((*dir_->find_user("alice@example.org"))->limits, want);
    const auto all = *dir_->users("example.org");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].limits, want);
    EXPECT_EQ(all[1].limits, UserLimits{});
    auto ro = open_directory("sqlite:" + path_, OpenMode::read_only);
    ASSERT_TRUE(ro);
    EXPECT_EQ((*(*ro)->find_user("alice@example.org"))->limits, want);
    u.limits = {};
    ASSERT_TRUE(dir_->update_user(u));
    EXPECT_EQ((*dir_->find_user("alice@example.org"))->limits, UserLimits{});
    User carol = make_user("carol@example.org", std::nullopt, std::nullopt, "local", "c/");
    carol.limits.recipients_per_hour = 7;
    ASSERT_TRUE(dir_->add_user(carol));
    EXPECT_EQ((*dir_->find_user("carol@example.org"))->limits.recipients_per_hour, 7);
    ASSERT_TRUE(dir_->del_user("carol@example.org"));  // its limits go with it
    ASSERT_TRUE(
        dir_->add_user(make_user("carol@example.org", std::nullopt, std::nullopt, "local", "c/")));
    EXPECT_EQ((*dir_->find_user("carol@example.org"))->limits, UserLimits{});
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
