// The store's decisions against a real SQLite directory and real files: which reply each
// recipient gets, which folder the copy lands in, quota, migration, errors.
#include "store.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "quota.hpp"

using namespace pampero;
using namespace pampero::store;
using namespace store_test;

namespace {

lmtp::Reply reply_of(const std::variant<Recipient, lmtp::Reply>& v) {
    if (const auto* r = std::get_if<lmtp::Reply>(&v)) return *r;
    return {250, "2.1.5", "Ok"};
}

Recipient recipient(Store& s, const std::string& addr) {
    auto v = s.accept_recipient(addr, false, std::nullopt);
    if (auto* r = std::get_if<lmtp::Reply>(&v)) ADD_FAILURE() << addr << ": " << r->wire();
    return std::get<Recipient>(v);
}

std::vector<std::string> messages(const std::string& folder_dir) {
    std::vector<std::string> out;
    for (const auto& f : files_in(folder_dir + "/new")) out.push_back(read_file(f));
    return out;
}

TEST(MessageHeaders, SpamScoreAndQueueId) {
    const std::string m =
        "Received: from a (a [192.0.2.1])\n\tby mx.pampero.test (Postfix) with ESMTP id "
        "4Xy7Qz1AbC\n"
        "\tfor <u@example.com>; Mon, 1 Jan 2024 00:00:00 +0000\n"
        "X-Spam-Score: 7.5\nSubject: x\n\nX-Spam-Score: 99\n";
    EXPECT_EQ(message_spam_score(m), 7.5);
    EXPECT_EQ(message_queue_id(m), "4Xy7Qz1AbC");
    EXPECT_FALSE(message_spam_score("Subject: x\n\nX-Spam-Score: 99\n"));  // body is not header
    EXPECT_FALSE(message_spam_score("X-Spam-Score: lots\n\n"));
    EXPECT_EQ(message_spam_score("x-spam-score:\n 3.0\n\n"), 3.0);  // folded, any case
    // Several (a forged one got past the milter): the highest, so a forgery can only file
    // a message more strictly (issue 8).
    EXPECT_EQ(message_spam_score("X-Spam-Score: 0.0\nSubject: x\nX-Spam-Score: 7.0\n\n"), 7.0);
    EXPECT_EQ(message_spam_score("X-Spam-Score: 9.5\nX-Spam-Score: 7.0\n\n"), 9.5);
    EXPECT_EQ(message_spam_score("X-Spam-Score: -100\nX-Spam-Score:\n 2.0\n\n"), 2.0);
    EXPECT_EQ(message_spam_score("X-Spam-Score: lots\nX-Spam-Score: -1.0\n\n"), -1.0);
    EXPECT_EQ(message_queue_id("Subject: x\n\n"), "");
}

TEST(Store, RecipientReplies) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/")).ok());
    ASSERT_TRUE(w.directory->add_alias({"sales@example.com", "alice@example.com"}).ok());
    Store s(*w.directory, *w.holder);

    auto r = reply_of(s.accept_recipient("not-an-address", false, {}));
    EXPECT_EQ(r.code, 501);
    EXPECT_EQ(r.enhanced, "5.1.3");
    r = reply_of(s.accept_recipient("../../etc/passwd@example.com", false, {}));
    EXPECT_EQ(r.code, 501);
    r = reply_of(s.accept_recipient("u@elsewhere.org", false, {}));
    EXPECT_EQ(r.code, 550);
    EXPECT_EQ(r.enhanced, "5.1.1");
    r = reply_of(s.accept_recipient("nobody@example.com", false, {}));
    EXPECT_EQ(r.code, 550);
    EXPECT_EQ(r.enhanced, "5.1.1");

    const Recipient a = recipient(s, "Alice@Example.COM");
    EXPECT_EQ(a.address, "alice@example.com");
    ASSERT_EQ(a.local.size(), 1u);
    EXPECT_EQ(a.local[0].root, w.mail_root + "/example.com/alice");
    EXPECT_EQ(a.local[0].quota, 1000u);  // default_quota
    EXPECT_TRUE(a.remote.empty());

    const Recipient sales = recipient(s, "sales@example.com");
    EXPECT_EQ(sales.owner, "alice@example.com");
    ASSERT_EQ(sales.local.size(), 1u);
}

TEST(Store, MaildirEscapingTheRootIsRefusedAndNothingIsWritten) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("evil@example.com", "n1", "../../outside/")).ok());
    Store s(*w.directory, *w.holder);
    const auto r = reply_of(s.accept_recipient("evil@example.com", false, {}));
    EXPECT_EQ(r.code, 451);
    EXPECT_EQ(r.enhanced, "4.3.5");
    EXPECT_FALSE(std::filesystem::exists(w.dir + "/outside"));
    EXPECT_FALSE(std::filesystem::exists(w.mail_root));
}

TEST(Store, DirectoryTroubleIsTemporary) {
    World w;
    auto broken = open_directory("sqlite:" + w.dir + "/missing.db", OpenMode::read_only);
    ASSERT_TRUE(broken.ok());
    Store s(**broken, *w.holder);
    const auto r = reply_of(s.accept_recipient("alice@example.com", false, {}));
    EXPECT_EQ(r.code, 451);
    EXPECT_EQ(r.enhanced, "4.3.0");
}

TEST(Store, OverQuotaAtRcptAndAtData) {
    World w;
    ASSERT_TRUE(
        w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/", {}, 200)).ok());
    Store s(*w.directory, *w.holder);
    const Envelope env{"sender@other.org", "t", "h", ""};
    Recipient a = recipient(s, "alice@example.com");
    auto out = s.deliver(env, "Subject: one\n\n" + std::string(100, 'x') + "\n", {a});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].code, 250) << out[0].wire();
    // Second message would pass 200 bytes: refused at DATA, nothing added.
    out = s.deliver(env, "Subject: two\n\n" + std::string(100, 'y') + "\n", {a});
    EXPECT_EQ(out[0].code, 552);
    EXPECT_EQ(out[0].enhanced, "5.2.2");
    EXPECT_EQ(messages(w.mail_root + "/example.com/alice").size(), 1u);
    const auto usage = quota_usage(w.mail_root + "/example.com/alice", 200);
    ASSERT_TRUE(usage.ok());
    EXPECT_EQ(usage->messages, 1);
    // At RCPT: a SIZE hint that cannot fit.
    auto r = reply_of(s.accept_recipient("alice@example.com", false, 150));
    EXPECT_EQ(r.code, 552);
    r = reply_of(s.accept_recipient("alice@example.com", false, 10));
    EXPECT_EQ(r.code, 250);
}

TEST(Store, OverQuotaTempfailWhenConfigured) {
    World w("  over_quota_tempfail: true\n");
    ASSERT_TRUE(
        w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/", {}, 50)).ok());
    Store s(*w.directory, *w.holder);
    Recipient a = recipient(s, "alice@example.com");
    const auto out =
        s.deliver({"s@o.org", "t", "h", ""}, "Subject: x\n\n" + std::string(100, 'x') + "\n", {a});
    EXPECT_EQ(out[0].code, 452);
    EXPECT_EQ(out[0].enhanced, "4.2.2");
}

TEST(Store, FolderFollowsScoreLevelAndLists) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("std@example.com", "n1", "example.com/std/", {}, 100000))
                    .ok());  // 5/15
    ASSERT_TRUE(w.directory->add_user(user("tol@example.com", "n1", "example.com/tol/", 1, 100000))
                    .ok());  // 8/30
    ASSERT_TRUE(
        w.directory->add_list_entry({ListKind::white, "std@example.com", "friend@other.org"}).ok());
    ASSERT_TRUE(
        w.directory->add_list_entry({ListKind::black, "tol@example.com", "@spammer.test"}).ok());
    ASSERT_TRUE(w.directory->add_contacts("tol@example.com", {{"mum@family.org", "Mum"}}).ok());
    Store s(*w.directory, *w.holder);
    const std::vector<Recipient> both{recipient(s, "std@example.com"),
                                      recipient(s, "tol@example.com")};
    const std::string std_inbox = w.mail_root + "/example.com/std";
    const std::string tol_inbox = w.mail_root + "/example.com/tol";

    struct Case {
        std::string sender;
        std::string score;
        bool std_spam;
        bool tol_spam;
    };
    const Case cases[] = {
        {"a@other.org", "", false, false},        // no score: inbox
        {"a@other.org", "4.9", false, false},     // below both tags
        {"a@other.org", "6.0", true, false},      // std: 5 <= 6 < 15; tol: below 8
        {"a@other.org", "40", true, true},        // reject for both: filed in Spam, not lost
        {"friend@other.org", "40", false, true},  // std white-lists the sender
        {"x@spammer.test", "0", false, true},     // tol black-lists the domain
        {"mum@family.org", "20", true, false},    // tol's contact skips scoring
    };
    std::size_t std_spam = 0;
    std::size_t tol_spam = 0;
    std::size_t n = 0;
    for (const auto& c : cases) {
        ++n;
        const std::string head = "Subject: case " + std::to_string(n) + "\n";
        const std::string msg =
            c.score.empty() ? head + "\nbody\n" : signed_message(head, c.score, "body\n");
        const auto out = s.deliver({c.sender, "t", "h", ""}, msg, both);
        ASSERT_EQ(out.size(), 2u);
        EXPECT_EQ(out[0].code, 250) << out[0].wire();
        EXPECT_EQ(out[1].code, 250) << out[1].wire();
        std_spam += c.std_spam;
        tol_spam += c.tol_spam;
        EXPECT_EQ(messages(std_inbox + "/.Spam").size(), std_spam) << "case " << n;
        EXPECT_EQ(messages(std_inbox).size(), n - std_spam) << "case " << n;
        EXPECT_EQ(messages(tol_inbox + "/.Spam").size(), tol_spam) << "case " << n;
        EXPECT_EQ(messages(tol_inbox).size(), n - tol_spam) << "case " << n;
    }
    EXPECT_EQ(read_file(std_inbox + "/subscriptions"), "Spam\n");
}

// Issue 8: X-Spam-Score used to decide the folder whoever wrote it.
TEST(Store, UnsignedOrForgedVerdictNeverChoosesTheFolder) {
    const auto run = [](const std::string& extra, const std::string& sender,
                        const std::string& msg) {
        World w(extra);
        EXPECT_TRUE(w.directory->add_user(user("std@example.com", "n1", "example.com/std/"))
                        .ok());  // tag 5
        EXPECT_TRUE(
            w.directory->add_list_entry({ListKind::white, "std@example.com", "friend@other.org"})
                .ok());
        Store s(*w.directory, *w.holder);
        const auto out = s.deliver({sender, "t", "h", ""}, msg, {recipient(s, "std@example.com")});
        const std::string root = w.mail_root + "/example.com/std";
        if (out[0].code != 250)
            return out[0].wire().substr(0, 9) + (messages(root).empty() ? "" : "+written");
        return std::string(messages(root).size() == 1 ? "inbox" : "") +
               (messages(root + "/.Spam").size() == 1 ? "spam" : "");
    };
    const std::string spam40 = signed_message("Subject: hi\n", "40", "buy now\n");
    const auto change = [](std::string m, const std::string& from, const std::string& to) {
        return m.replace(m.find(from), from.size(), to);
    };
    const auto other_key = scan::VerdictKeys::parse("other " + std::string(64, 'e'), "t");
    struct Case {
        std::string extra;
        std::string sender;
        std::string msg;
        std::string expect;
    };
    const Case cases[] = {
        {"", "a@o.org", spam40, "spam"},  // signed: filed by score
        {"", "a@o.org", signed_message("Subject: hi\n", "1.0", "x\n"), "inbox"},
        {"", "a@o.org", "Subject: hi\nX-Spam-Score: 40\n\nx\n", "inbox"},  // unsigned: as unscored
        {"  unsigned: spam\n", "a@o.org", "Subject: hi\nX-Spam-Score: -99\n\nx\n", "spam"},
        {"  unsigned: spam\n", "a@o.org", "Subject: hi\n\nx\n", "spam"},
        {"  unsigned: tempfail\n", "a@o.org", "Subject: hi\nX-Spam-Score: -99\n\nx\n", "451 4.7.0"},
        {"  unsigned: tempfail\n", "friend@other.org", "Subject: hi\n\nx\n",
         "inbox"},  // white list
        {"", "a@o.org", change(spam40, "X-Spam-Score: 40", "X-Spam-Score: -99"),
         "spam"},  // bad_signature
        {"", "a@o.org", change(spam40, "buy now", "hello"),
         "spam"},  // a signature replayed on another body
        {"", "a@o.org", signed_message("Subject: hi\n", "-5", "x\n", other_key->signing()), "spam"},
        {"", "friend@other.org", change(spam40, "X-Spam-Score: 40", "X-Spam-Score: -99"), "inbox"},
        {"  bad_signature: inbox\n", "a@o.org",
         change(spam40, "X-Spam-Score: 40", "X-Spam-Score: 40.5"), "inbox"},
        {"  bad_signature: tempfail\n", "a@o.org", change(spam40, "buy now", "hello"), "451 4.7.0"},
        {"  verdict_max_age: 1\n", "a@o.org", spam40, "spam"},  // a fresh signature is still good
    };
    int n = 0;
    for (const auto& c : cases) {
        EXPECT_EQ(run(c.extra, c.sender, c.msg), c.expect) << "case " << ++n << ": " << c.msg;
    }
}

TEST(Store, WithoutAKeyFileEveryVerdictIsUnsigned) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("std@example.com", "n1", "example.com/std/")).ok());
    write_file(w.dir + "/nokeys.yaml",
               "directory: sqlite:dir.db\nlevels: levels.yaml\nstore:\n  mail_root: " +
                   w.mail_root + "\n  node: n1\n  bad_signature: tempfail\n");
    auto snap = load_snapshot(w.dir + "/nokeys.yaml");
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_EQ((*snap)->verdict_keys, nullptr);
    w.holder->set(*snap);
    Store s(*w.directory, *w.holder);
    const auto out =
        s.deliver({"a@o.org", "t", "h", ""}, signed_message("Subject: x\n", "1.0", "x\n"),
                  {recipient(s, "std@example.com")});
    EXPECT_EQ(out[0].code, 451);  // a signature it cannot check is not trusted

    // A key file others may read refuses the configuration, naming the file.
    write_file(w.dir + "/open.keys", std::string("k ") + kVerdictSecret + "\n");
    std::filesystem::permissions(w.dir + "/open.keys", std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);
    write_file(w.dir + "/open.yaml",
               "levels: levels.yaml\nverdict_keys: open.keys\nstore:\n  mail_root: /m\n");
    auto bad = load_snapshot(w.dir + "/open.yaml");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::config);
    EXPECT_NE(bad.error().message.find(w.dir + "/open.keys: readable by others"), std::string::npos)
        << bad.error().message;
}

TEST(Snapshot, UnverifiedRulesAreCheckedOnLoad) {
    World w;
    write_file(w.dir + "/rule.yaml",
               "levels: levels.yaml\nstore:\n  mail_root: /m\n  unsigned: maybe\n");
    auto bad = load_snapshot(w.dir + "/rule.yaml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("must be inbox, spam or tempfail"), std::string::npos)
        << bad.error().message;
    EXPECT_NE(bad.error().message.find("rule.yaml:4"), std::string::npos) << bad.error().message;
    const auto s = w.holder->get();  // the defaults: unsigned inbox, bad signatures spam, 7 days
    EXPECT_EQ(s->config.store.unsigned_rule, UnverifiedRule::inbox);
    EXPECT_EQ(s->config.store.bad_signature_rule, UnverifiedRule::spam);
    EXPECT_EQ(s->config.store.verdict_max_age, 7 * 86400);
    ASSERT_NE(s->verdict_keys, nullptr);
    EXPECT_EQ(s->verdict_keys->signing().id, "test");
}

TEST(Store, AddsReturnPathAndDeliveredTo) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/")).ok());
    Store s(*w.directory, *w.holder);
    const auto out = s.deliver({"", "t", "h", ""}, "Subject: bounce\n\nx\n",
                               {recipient(s, "alice@example.com")});
    ASSERT_EQ(out[0].code, 250);
    const auto m = messages(w.mail_root + "/example.com/alice");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0], "Return-Path: <>\nDelivered-To: alice@example.com\nSubject: bounce\n\nx\n");
}

TEST(Store, MigrationDeliversToBothLocations) {
    World w;
    User u = user("mover@example.com", "n1", "example.com/mover/");
    u.migration = MailboxLocation{"n1", "newdisk/example.com/mover/"};
    ASSERT_TRUE(w.directory->add_user(u).ok());
    Store s(*w.directory, *w.holder);
    const Recipient r = recipient(s, "mover@example.com");
    ASSERT_EQ(r.local.size(), 2u);
    const auto out = s.deliver({"a@b.org", "t", "h", ""}, "Subject: m\n\nx\n", {r});
    EXPECT_EQ(out[0].code, 250) << out[0].wire();
    EXPECT_EQ(messages(w.mail_root + "/example.com/mover").size(), 1u);
    EXPECT_EQ(messages(w.mail_root + "/newdisk/example.com/mover").size(), 1u);
}

TEST(Store, WriteErrorIsTemporaryAndLeavesNoMessage) {
    World w;
    ASSERT_TRUE(w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/")).ok());
    Store s(*w.directory, *w.holder);
    const std::string root = w.mail_root + "/example.com/alice";
    ASSERT_TRUE(ensure_folder(root, "").ok());
    const Recipient a = recipient(s, "alice@example.com");
    std::filesystem::remove_all(root + "/new");  // the disk goes bad between RCPT and DATA
    write_file(root + "/new", "not a directory");
    const auto out = s.deliver({"a@b.org", "t", "h", ""}, "Subject: x\n\nx\n", {a});
    EXPECT_EQ(out[0].code, 452);
    EXPECT_EQ(out[0].enhanced, "4.3.1");
    EXPECT_TRUE(files_in(root + "/tmp").empty());
}

TEST(Store, RemoteNodes) {
    World plain;
    ASSERT_TRUE(plain.directory->add_user(user("far@example.com", "n2", "example.com/far/")).ok());
    Store s1(*plain.directory, *plain.holder);
    auto r = reply_of(s1.accept_recipient("far@example.com", false, {}));
    EXPECT_EQ(r.code, 451);  // n2 is not configured: defer, never bounce
    EXPECT_EQ(r.enhanced, "4.3.5");

    World w("  nodes:\n    n2: inet:2424@127.0.0.1\n");
    ASSERT_TRUE(w.directory->add_user(user("far@example.com", "n2", "example.com/far/")).ok());
    Store s(*w.directory, *w.holder);
    const Recipient far = recipient(s, "far@example.com");
    EXPECT_TRUE(far.local.empty());
    ASSERT_EQ(far.remote.size(), 1u);
    EXPECT_EQ(far.remote[0].node, "n2");
    // A forwarded copy (XPAMPERO-LOCAL) for a user this node does not hold: defer, saying
    // the mailbox moved (4.1.6), which the forwarding node reads (issue 12).
    r = reply_of(s.accept_recipient("far@example.com", true, {}));
    EXPECT_EQ(r.code, 451);
    EXPECT_EQ(r.enhanced, "4.1.6");
    // Nothing listens on n2's port: the forward fails temporarily.
    const auto out = s.deliver({"a@b.org", "t", "h", ""}, "Subject: x\n\nx\n", {far});
    EXPECT_EQ(out[0].code, 451);
    EXPECT_EQ(out[0].enhanced, "4.4.1");
}

TEST(Snapshot, BadSocketSpecIsAConfigError) {
    World w;
    write_file(w.dir + "/bad.yaml", "levels: levels.yaml\nstore:\n  lmtp: tcp:24\n");
    const auto s = load_snapshot(w.dir + "/bad.yaml");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, ErrorKind::config);
    EXPECT_NE(s.error().message.find("bad.yaml"), std::string::npos);
}

}  // namespace
