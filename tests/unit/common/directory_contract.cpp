// The directory contract: every backend must pass these (see directory_contract.hpp).
#include "directory_contract.hpp"

#include <atomic>
#include <thread>

#include "pampero/common/recipient_facts.hpp"

using namespace pampero;
using pampero::testing::DirectoryContract;
using pampero::testing::make_user;

TEST_P(DirectoryContract, DomainsAndUsers) {
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

TEST_P(DirectoryContract, AdminErrorsArePermanent) {
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

TEST_P(DirectoryContract, UpdateAndDelete) {
    User u = **dir_->find_user("bob@example.org");
    u.level = 5;
    ASSERT_TRUE(dir_->update_user(u));
    EXPECT_EQ((*dir_->find_user("bob@example.org"))->level, 5);
    ASSERT_TRUE(dir_->del_user("bob@example.org"));
    EXPECT_FALSE(dir_->find_user("bob@example.org")->has_value());
    ASSERT_TRUE(dir_->del_domain("example.org"));
    EXPECT_FALSE(dir_->find_user("alice@example.org")->has_value());  // cascades
}

TEST_P(DirectoryContract, ListsWhiteBeatsBlackAndDomainsMatch) {
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

TEST_P(DirectoryContract, ContactsAndAliases) {
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

TEST_P(DirectoryContract, CacheServesRepeatsUntilTtl) {
    auto cached = make_cached_directory(
        std::move(open_directory(spec_, OpenMode::read_only)).value(), std::chrono::seconds(60));
    EXPECT_FALSE(cached->find_user("carol@example.org")->has_value());
    ASSERT_TRUE(
        dir_->add_user(make_user("carol@example.org", 1, {}, "local", "example.org/carol/")));
    EXPECT_FALSE(cached->find_user("carol@example.org")->has_value());  // negative answer cached
    auto uncached = make_cached_directory(
        std::move(open_directory(spec_, OpenMode::read_only)).value(), std::chrono::seconds(0));
    EXPECT_TRUE(uncached->find_user("carol@example.org")->has_value());
}

// Past the TTL the source is asked again: a user added, or a level changed, shows up
// after the TTL and not before. A real 1 s TTL, polled (bounded) rather than slept.
TEST_P(DirectoryContract, CacheAnswersChangeAfterTtl) {
    using Clock = std::chrono::steady_clock;
    const auto ttl = std::chrono::seconds(1);
    auto cached =
        make_cached_directory(std::move(open_directory(spec_, OpenMode::read_only)).value(), ttl);
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

// Issue 10: a user's own rate limits, NULL (nullopt) meaning the site's.
TEST_P(DirectoryContract, UserLimitsRoundTripAndResetToTheSiteDefault) {
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
    auto ro = open_directory(spec_, OpenMode::read_only);
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

TEST_P(DirectoryContract, ReadOnlyOpenSeesWrites) {
    auto ro = open_directory(spec_, OpenMode::read_only);
    ASSERT_TRUE(ro) << ro.error().message;
    EXPECT_TRUE(*(*ro)->is_local_domain("example.org"));
    ASSERT_TRUE(dir_->add_domain("example.net"));
    EXPECT_TRUE(*(*ro)->is_local_domain("example.net"));
}

// Addresses arrive normalized (lowercase): every backend compares byte for byte, so a
// case or trailing-blank variant is another address (SQLite's BINARY collation; MariaDB's
// utf8mb4_nopad_bin, where the default collations would fold case and ignore the blank).
TEST_P(DirectoryContract, MatchingIsExactOnEveryBackend) {
    EXPECT_FALSE(dir_->find_user("Alice@example.org")->has_value());
    EXPECT_FALSE(dir_->find_user("alice@example.org ")->has_value());
    EXPECT_FALSE(*dir_->is_local_domain("EXAMPLE.org"));
    ASSERT_TRUE(dir_->add_domain("EXAMPLE.org"));  // another name, as in SQLite
    EXPECT_EQ(dir_->domains()->size(), 2u);
    ASSERT_TRUE(dir_->add_alias({"info@example.org", "alice@example.org"}));
    EXPECT_TRUE(dir_->find_alias("INFO@example.org")->empty());
}

TEST_P(DirectoryContract, TextRoundTripsAsUtf8) {
    const std::string name = "Zoë Ångström 日本 \xF0\x9F\x93\xA7";  // 4-byte UTF-8 too
    ASSERT_EQ(*dir_->add_contacts("alice@example.org", {{"zoe@friends.example", name}}), 1);
    EXPECT_EQ(dir_->contacts("alice@example.org")->at(0).name, name);
}

TEST_P(DirectoryContract, MigrationAndLongMaildirRoundTrip) {
    User u = **dir_->find_user("bob@example.org");
    u.maildir = "example.org/" + std::string(1500, 'b') + "/";  // beyond one fetch buffer
    u.migration = MailboxLocation{"node2", "example.org/bob-new/"};
    ASSERT_TRUE(dir_->update_user(u));
    auto got = **dir_->find_user("bob@example.org");
    EXPECT_EQ(got.maildir, u.maildir);
    ASSERT_TRUE(got.migration.has_value());
    EXPECT_EQ(got.migration->node, "node2");
    EXPECT_EQ(got.migration->maildir, "example.org/bob-new/");
    ASSERT_TRUE(dir_->update_user(u));  // unchanged values: still "found", not "no such user"
    u.migration.reset();
    ASSERT_TRUE(dir_->update_user(u));
    EXPECT_FALSE((*dir_->find_user("bob@example.org"))->migration.has_value());
    auto all = *dir_->users("");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].address, "alice@example.org");
    EXPECT_EQ(all[1].maildir, u.maildir);
}

// Every implementation is safe from many threads (directory.hpp): 8 threads, 200 lookups
// each, every answer right.
TEST_P(DirectoryContract, ManyThreadsGetTheRightAnswers) {
    auto ro = std::move(open_directory(spec_, OpenMode::read_only)).value();
    std::atomic<int> wrong{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const bool alice = (i + t) % 2 == 0;
                auto u = ro->find_user(alice ? "alice@example.org" : "carol@example.org");
                if (!u) {
                    ++errors;
                } else if (u->has_value() != alice || (alice && (*u)->level != 2)) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(errors.load(), 0);
}

// What pamperoctl migrate-directory copies: the whole directory, sorted.
TEST_P(DirectoryContract, WholeDirectoryReaders) {
    ASSERT_TRUE(dir_->add_alias({"postmaster@example.org", "alice@example.org"}));
    ASSERT_TRUE(dir_->add_alias({"info@example.org", "bob@example.org"}));
    ASSERT_TRUE(dir_->add_alias({"info@example.org", "alice@example.org"}));
    ASSERT_TRUE(dir_->add_list_entry({ListKind::white, "bob@example.org", "@friends.example"}));
    ASSERT_TRUE(dir_->add_list_entry({ListKind::black, "", "@spam.example"}));
    ASSERT_TRUE(dir_->add_list_entry({ListKind::white, "", "boss@partner.example"}));
    ASSERT_EQ(*dir_->add_contacts("bob@example.org", {{"x@friends.example", "X"}}), 1);
    ASSERT_EQ(*dir_->add_contacts("alice@example.org", {{"y@friends.example", ""}}), 1);

    const auto aliases = *dir_->aliases();
    ASSERT_EQ(aliases.size(), 3u);
    EXPECT_EQ(aliases[0].address, "info@example.org");
    EXPECT_EQ(aliases[0].target, "alice@example.org");
    EXPECT_EQ(aliases[2].address, "postmaster@example.org");
    const auto lists = *dir_->all_list_entries();
    ASSERT_EQ(lists.size(), 3u);
    EXPECT_EQ(lists[0].user, "");
    EXPECT_EQ(lists[0].kind, ListKind::black);
    EXPECT_EQ(lists[1].pattern, "boss@partner.example");
    EXPECT_EQ(lists[2].user, "bob@example.org");
    const auto contacts = *dir_->all_contacts();
    ASSERT_EQ(contacts.size(), 2u);
    EXPECT_EQ(contacts[0].first, "alice@example.org");
    EXPECT_EQ(contacts[1].second.name, "X");
}
