// Session: everything the milter decides, without libmilter. The directory is a real
// SQLite file, the state the memory backend, the engine the shipped levels plus test rules.
#include "session.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "pampero/classifier/model_set.hpp"

using namespace pampero;
using namespace pampero::milter;

namespace {

using pampero::testing::make_user;

using pampero::testing::kGtube;

class SessionTest : public pampero::testing::MilterWorld {
  protected:
    void SetUp() override { make_world("pampero-session"); }

    static void fillers(Session& s, int n) {
        for (int i = 0; i < n; ++i) s.header("X-Filler-" + std::to_string(i), "x");
    }

    Session open(const std::string& ip = "192.0.2.10") {
        Session s(*services_, "conn-test");
        EXPECT_EQ(s.connect(ip).kind, Reply::Kind::proceed);
        return s;
    }

    static void feed(Session& s, const std::string& subject, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> extra = {}) {
        s.header("From", "sender@remote.example");
        s.header("Subject", subject);
        for (const auto& [n, v] : extra) s.header(n, v);
        s.body(body);
    }
};

}  // namespace

TEST_F(SessionTest, UnknownLocalRecipientIs550AndRemoteIsLeftToTheMta) {
    Session s = open();
    s.mail_from("<sender@remote.example>", false);
    Reply r = s.rcpt("<nobody@example.org>", false);
    EXPECT_EQ(r.kind, Reply::Kind::reject);
    EXPECT_EQ(r.rcode, "550");
    EXPECT_EQ(r.xcode, "5.1.1");
    EXPECT_EQ(s.rcpt("<someone@elsewhere.example>", false).kind, Reply::Kind::proceed);
    EXPECT_EQ(s.rcpt("<Alice@Example.org>", false).kind, Reply::Kind::proceed);
    EXPECT_EQ(s.rcpt("<postmaster@example.org>", false).kind, Reply::Kind::proceed);  // alias
}

TEST_F(SessionTest, BanOnTheLimitAndAtTheNextConnection) {
    Session s = open("192.0.2.20");
    s.mail_from("<x@remote.example>", false);
    EXPECT_EQ(s.rcpt("<g1@example.org>", false).rcode, "550");
    EXPECT_EQ(s.rcpt("<g2@example.org>", true).kind,
              Reply::Kind::proceed);  // refused by the MTA, counted
    Reply third = s.rcpt("<g3@example.org>", false);
    EXPECT_EQ(third.kind, Reply::Kind::shutdown);
    EXPECT_EQ(third.rcode, "421");
    EXPECT_EQ(third.xcode, "4.7.0");
    Session again(*services_, "conn-2");
    EXPECT_EQ(again.connect("192.0.2.20").kind, Reply::Kind::shutdown);
    Session other(*services_, "conn-3");
    EXPECT_EQ(other.connect("192.0.2.21").kind, Reply::Kind::proceed);
}

// The dictionary-attack counters: unknown recipients (the MTA's refusals too), the ban,
// and the refusals of a banned client.
TEST_F(SessionTest, BansAndUnknownRecipientsAreCounted) {
    pampero::metrics::Registry reg;
    MilterMetrics m(reg);
    services_->metrics = &m;
    Session s = open("192.0.2.22");
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<g1@example.org>", false);
    s.rcpt("<g2@example.org>", true);
    EXPECT_EQ(m.bans.value(), 0u);
    EXPECT_EQ(s.rcpt("<g3@example.org>", false).kind, Reply::Kind::shutdown);
    EXPECT_EQ(m.unknown_recipients.value(), 3u);
    EXPECT_EQ(m.bans.value(), 1u);
    EXPECT_EQ(m.banned_refused.value(), 0u);
    Session again(*services_, "conn-2");
    EXPECT_EQ(again.connect("192.0.2.22").kind, Reply::Kind::shutdown);
    EXPECT_EQ(m.banned_refused.value(), 1u);
    EXPECT_EQ(m.tempfails.get({"state"}).value(), 0u);
    services_->metrics = nullptr;
}

TEST_F(SessionTest, MalformedRecipientIs501) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    Reply r = s.rcpt("<../../etc/passwd@example.org>", false);
    EXPECT_EQ(r.rcode, "501");
    EXPECT_EQ(r.xcode, "5.1.3");
}

TEST_F(SessionTest, GtubeRefusedForEveryone) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    s.rcpt("<bob@example.org>", false);
    feed(s, "hi", std::string(kGtube) + "\r\n");
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.kind, Reply::Kind::reject);
    EXPECT_EQ(eom.reply.rcode, "550");
    EXPECT_EQ(eom.reply.xcode, "5.7.1");
    EXPECT_TRUE(eom.delete_recipients.empty());
}

TEST_F(SessionTest, PerRecipientLevelsRemoveOnlyTheStrictOnes) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);       // level 1: tag 8 -> inbox
    s.rcpt("<bob@example.org>", false);         // level 3: tag 5, cutoff 15 -> spam
    s.rcpt("<postmaster@example.org>", false);  // alias of carol, level 5: cutoff 6 -> reject
    feed(s, "offer", "SCORE-SEVEN\r\n");
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.kind, Reply::Kind::proceed);
    EXPECT_EQ(eom.delete_recipients, std::vector<std::string>{"<postmaster@example.org>"});
    ASSERT_EQ(eom.add_headers.size(), 3u);
    EXPECT_EQ(eom.add_headers[0], (std::pair<std::string, std::string>{"X-Spam-Score", "7.0"}));
    EXPECT_EQ(eom.add_headers[2].second, "Yes, score=7.0 tag=5.0 tests=SEVEN");
    EXPECT_NE(eom.log_line.find("<alice@example.org>:inbox"), std::string::npos) << eom.log_line;
    EXPECT_NE(eom.log_line.find("<bob@example.org>:spam"), std::string::npos) << eom.log_line;
    EXPECT_NE(eom.log_line.find("<postmaster@example.org>:reject"), std::string::npos)
        << eom.log_line;
}

TEST_F(SessionTest, IncomingSpamHeadersAreDeletedHighestIndexFirst) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    feed(s, "hi", "clean\r\n",
         {{"X-Spam-Score", "-50"},
          {"Received", "x"},
          {"x-spam-score", "-60"},
          {"X-Spam-Flag", "NO"}});
    EndOfMessage eom = s.end_of_message();
    const std::vector<std::pair<std::string, int>> want{
        {"X-Spam-Flag", 1}, {"x-spam-score", 2}, {"X-Spam-Score", 1}};
    EXPECT_EQ(eom.delete_headers, want);
}

TEST_F(SessionTest, ListsAndContactsDecideBeforeTheScore) {
    ASSERT_TRUE(admin_->add_list_entry({ListKind::white, "carol@example.org", "@trusted.example"}));
    ASSERT_TRUE(admin_->add_list_entry({ListKind::black, "", "pest@bad.example"}));
    ASSERT_TRUE(*admin_->add_contacts("carol@example.org", {{"dana@friends.example", "Dana"}}));
    for (const char* sender : {"<boss@trusted.example>", "<dana@friends.example>"}) {
        Session s = open();
        s.mail_from(sender, false);
        s.rcpt("<carol@example.org>", false);
        feed(s, "x", std::string(kGtube));
        EndOfMessage eom = s.end_of_message();
        EXPECT_EQ(eom.reply.kind, Reply::Kind::proceed) << sender;
        EXPECT_TRUE(eom.delete_recipients.empty()) << sender;
    }
    Session s = open();
    s.mail_from("<pest@bad.example>", false);
    s.rcpt("<alice@example.org>", false);
    feed(s, "x", "clean");
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.rcode, "550");
    EXPECT_NE(eom.reply.text.find("black-listed"), std::string::npos);
}

TEST_F(SessionTest, AuthenticatedSendersAreNotScoredButRecipientsAreChecked) {
    Session s = open();
    s.mail_from("<alice@example.org>", true);
    EXPECT_EQ(s.rcpt("<nobody@example.org>", false).rcode, "550");
    s.rcpt("<bob@example.org>", false);
    feed(s, "x", std::string(kGtube), {{"X-Spam-Status", "forged"}});
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.kind, Reply::Kind::proceed);
    EXPECT_TRUE(eom.delete_recipients.empty());
    EXPECT_EQ(eom.delete_headers.size(), 1u);  // forged headers still go
    EXPECT_NE(eom.log_line.find("authenticated"), std::string::npos);
}

TEST_F(SessionTest, BrokenDirectoryIsTemporaryNeverPermanent) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    ASSERT_EQ(s.rcpt("<alice@example.org>", false).kind, Reply::Kind::proceed);
    admin_.reset();
    std::ofstream(db_, std::ios::binary | std::ios::trunc) << std::string(8192, 'z');
    std::filesystem::remove(db_ + "-wal");
    std::filesystem::remove(db_ + "-shm");
    auto fresh = open_directory("sqlite:" + db_, OpenMode::read_only);
    directory_ = std::move(fresh).value();
    pampero::metrics::Registry reg;
    MilterMetrics m(reg);
    Services broken{*directory_, *guard_, *holder_, nullptr, {}, nullptr, nullptr, &m};
    Session b(broken, "conn-b");
    b.connect("192.0.2.30");
    b.mail_from("<x@remote.example>", false);
    Reply r = b.rcpt("<alice@example.org>", false);
    EXPECT_EQ(r.kind, Reply::Kind::tempfail);
    EXPECT_EQ(r.rcode, "451");
    EXPECT_EQ(r.xcode, "4.3.0");
    EXPECT_EQ(m.tempfails.get({"directory"}).value(), 1u);  // counted by its cause
    EXPECT_EQ(m.tempfails.get({"state"}).value(), 0u);
}

TEST_F(SessionTest, BodyIsBoundedByMaxMessageMemoryAndAPartialScanSaysSo) {
    MilterConfig m;
    m.scan_limit = 64 * 1024;
    m.max_message_memory = 256 * 1024;
    use_bounds(m);
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    s.header("Subject", "big");
    const std::string chunk(64 * 1024, 'a');
    for (int i = 0; i < 64; ++i) s.body(chunk);  // 4 MB, over what is kept
    s.body(kGtube);                              // beyond it: not seen
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.kind, Reply::Kind::proceed);
    ASSERT_EQ(eom.add_headers.size(), 3u);
    EXPECT_EQ(eom.add_headers[2].second, "No, score=0.0 tag=5.0 tests=none scan=partial");
    // A message within every bound is not marked.
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    feed(s, "small", "hello\r\n");
    eom = s.end_of_message();
    ASSERT_EQ(eom.add_headers.size(), 3u);
    EXPECT_EQ(eom.add_headers[2].second, "No, score=0.0 tag=5.0 tests=none");
}

// Issue 8: 100 KB of padding in one part hid the next from a 64 KB scan limit.
TEST_F(SessionTest, PaddingInOnePartDoesNotHideTheNext) {
    MilterConfig m;
    m.scan_limit = 64 * 1024;
    use_bounds(m);
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    s.header("Subject", "padded");
    s.header("MIME-Version", "1.0");
    s.header("Content-Type", "multipart/mixed; boundary=P");
    s.body("--P\r\nContent-Type: text/plain\r\n\r\n");
    for (int i = 0; i < 100; ++i) s.body(std::string(1000, 'z') + "\r\n");
    s.body("--P\r\nContent-Type: text/plain\r\n\r\n" + std::string(kGtube) + "\r\n--P--\r\n");
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.rcode, "550");
    EXPECT_EQ(eom.reply.xcode, "5.7.1");
}

// Issue 8: headers past the 2,000th were dropped, so a forged X-Spam-Score behind 2,100
// fillers was never deleted (and the store filed by it).
TEST_F(SessionTest, ForgedSpamHeaderBehindThousandsOfHeadersIsDeleted) {
    for (int n : {2100, 5000}) {
        Session s = open();
        s.mail_from("<x@remote.example>", false);
        s.rcpt("<alice@example.org>", false);
        s.header("X-Spam-Status", "No");
        fillers(s, n);
        s.header("X-Spam-Score", "0.0");
        s.header("x-spam-status", "No, FORGED");
        s.body("SCORE-SEVEN\r\n");
        EndOfMessage eom = s.end_of_message();
        const std::vector<std::pair<std::string, int>> want{
            {"x-spam-status", 2}, {"X-Spam-Score", 1}, {"X-Spam-Status", 1}};
        EXPECT_EQ(eom.delete_headers, want) << n;
        ASSERT_EQ(eom.add_headers.size(), 3u);
        EXPECT_EQ(eom.add_headers[0].second, "7.0");
    }
}

// Issue 8: the Content-Transfer-Encoding behind 2,000 headers was dropped, so base64
// GTUBE was read as plain text and accepted.
TEST_F(SessionTest, Base64GtubeBehindThousandsOfHeadersIsRefused) {
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    fillers(s, 2100);
    s.header("Content-Type", "text/plain");
    s.header("Content-Transfer-Encoding", "base64");
    // GTUBE, base64-encoded
    s.body(
        "WEpTKkM0SkRCUUFETjEuTlNCTjMqMklETkVOKkdUVUJFLVNUQU5EQVJELUFOVEktVUJF\r\n"
        "LVRFU1QtRU1BSUwqQy4zNFg=\r\n");
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.rcode, "550");
}

TEST_F(SessionTest, TooManyHeadersAreRefused552NotDropped) {
    for (bool authenticated : {false, true}) {
        Session s = open();
        s.mail_from("<x@remote.example>", authenticated);
        s.rcpt("<alice@example.org>", false);
        fillers(s, 10000);                // the default max_headers ...
        s.header("X-Spam-Score", "0.0");  // ... and one more
        s.body("hello\r\n");
        EndOfMessage eom = s.end_of_message();
        EXPECT_EQ(eom.reply.kind, Reply::Kind::reject);
        EXPECT_EQ(eom.reply.rcode, "552");
        EXPECT_EQ(eom.reply.xcode, "5.3.4");
        EXPECT_EQ(eom.reply.text, "Message header too large: 10001 header fields (limit 10000)");
        EXPECT_NE(eom.log_line.find("refused: 10001 header fields"), std::string::npos)
            << eom.log_line;
        EXPECT_TRUE(eom.add_headers.empty());
    }
    // The next transaction on the connection starts from nothing.
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    fillers(s, 10001);
    EXPECT_EQ(s.end_of_message().reply.rcode, "552");
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    fillers(s, 10000);
    s.body("hello\r\n");
    EXPECT_EQ(s.end_of_message().reply.kind, Reply::Kind::proceed);
}

TEST_F(SessionTest, HeaderBytesOverTheBoundAreRefused552) {
    MilterConfig m;
    m.max_headers = 100;
    m.max_header_bytes = 16 * 1024;
    use_bounds(m);
    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    s.header("Subject", std::string(16 * 1024, 'x'));
    EndOfMessage eom = s.end_of_message();
    EXPECT_EQ(eom.reply.rcode, "552");
    EXPECT_EQ(eom.reply.xcode, "5.3.4");
    EXPECT_NE(eom.reply.text.find("bytes of header (limit 16384)"), std::string::npos)
        << eom.reply.text;
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<alice@example.org>", false);
    fillers(s, 101);
    EXPECT_EQ(s.end_of_message().reply.text,
              "Message header too large: 101 header fields (limit 100)");
}

TEST_F(SessionTest, VirusIsRefusedWith554EvenForWhiteListedAndAuthenticatedSenders) {
    const auto sigs = dir_ / "sigs";
    std::filesystem::create_directories(sigs);
    std::string hex;
    for (unsigned char c : std::string("PAMPERO-SESSION-VIRUS-MARKER"))
        hex += fmt::format("{:02x}", c);
    std::ofstream(sigs / "t.ndb") << "Pampero.Test.Marker:0:*:" << hex << "\n";
    auto av = scan::Antivirus::load(sigs.string(), 1 << 20);
    ASSERT_TRUE(av) << av.error().message;
    scan::AntivirusWatcher watcher(sigs.string(), 1 << 20, *av);
    AntivirusConfig avc;
    avc.enabled = true;
    avc.max_size = 1 << 20;
    Services with_av{*directory_, *guard_, *holder_, &watcher, avc, nullptr};
    ASSERT_TRUE(admin_->add_list_entry({ListKind::white, "", "@trusted.example"}));
    for (bool authenticated : {false, true}) {
        Session s(with_av, "conn-av");
        s.connect("192.0.2.40");
        s.mail_from("<boss@trusted.example>", authenticated);
        s.rcpt("<alice@example.org>", false);
        feed(s, "x", "hello PAMPERO-SESSION-VIRUS-MARKER\r\n");
        EndOfMessage eom = s.end_of_message();
        EXPECT_EQ(eom.reply.rcode, "554") << authenticated;
        EXPECT_EQ(eom.reply.xcode, "5.7.1");
        EXPECT_NE(eom.reply.text.find("Pampero.Test.Marker"), std::string::npos) << eom.reply.text;
    }
    // Issue 8: an attachment behind 2,000 headers lost its MIME headers and was never
    // decoded for the virus scanner.
    {
        Session s(with_av, "conn-av-fillers");
        s.connect("192.0.2.42");
        s.mail_from("<x@remote.example>", false);
        s.rcpt("<alice@example.org>", false);
        fillers(s, 2100);
        s.header("MIME-Version", "1.0");
        s.header("Content-Type", "multipart/mixed; boundary=B");
        // base64 of "xx PAMPERO-SESSION-VIRUS-MARKER xx"
        s.body(
            "--B\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            "eHggUEFNUEVSTy1TRVNTSU9OLVZJUlVTLU1BUktFUiB4eA==\r\n--B--\r\n");
        EndOfMessage eom = s.end_of_message();
        EXPECT_EQ(eom.reply.rcode, "554");
    }
    Session clean(with_av, "conn-clean");
    clean.connect("192.0.2.41");
    clean.mail_from("<x@remote.example>", false);
    clean.rcpt("<alice@example.org>", false);
    feed(clean, "x", "nothing here\r\n");
    EXPECT_EQ(clean.end_of_message().reply.kind, Reply::Kind::proceed);
}

// Issue 8: the verdict is signed over the whole message, and what the store receives
// (the MTA's view after the milter's changes, LF line ends) verifies with the score.
TEST_F(SessionTest, VerdictIsSignedOverTheWholeMessageAndVerifiesAtTheStore) {
    auto parsed = scan::VerdictKeys::parse(std::string("mx1 ") + std::string(64, 'a'), "test");
    ASSERT_TRUE(parsed);
    Snapshot<const scan::VerdictKeys> keys(std::make_shared<const scan::VerdictKeys>(*parsed));
    services_->verdict_keys = &keys;
    const auto store_view = [](const std::vector<std::pair<std::string, std::string>>& kept,
                               const EndOfMessage& eom, const std::string& body) {
        std::string m;
        for (const auto& [n, v] : kept) m += n + ":" + v + "\n";
        for (const auto& [n, v] : eom.add_headers) m += n + ":" + v + "\n";
        std::string lf = body;
        for (auto at = lf.find("\r\n"); at != std::string::npos; at = lf.find("\r\n", at))
            lf.erase(at, 1);
        return m + "\n" + lf;
    };
    const auto now = static_cast<std::int64_t>(std::time(nullptr));

    for (bool verbatim : {false, true}) {
        Session s = open();
        s.set_verbatim_headers(verbatim);
        s.mail_from("<x@remote.example>", false);
        s.rcpt("<alice@example.org>", false);
        s.header("Subject",
                 verbatim ? " Cheap \r\n\tSCORE-SEVEN stuff" : "Cheap SCORE-SEVEN stuff");
        s.header("Message-ID", "<m1@remote.example>");
        s.header("X-Spam-Signature", "v=1; k=mx1; t=1; bh=forged; s=forged");
        // Over the 2 MB scan limit, in CRLF chunks: the hash covers all of it.
        std::string body = "SCORE-SEVEN\r\n";
        for (int i = 0; i < 40; ++i) body += std::string(64 * 1024 - 2, 'b') + "\r\n";
        body += ".dotted tail\r\n";
        for (std::size_t at = 0; at < body.size(); at += 65536)
            s.body(std::string_view(body).substr(at, 65536));
        EndOfMessage eom = s.end_of_message();
        ASSERT_EQ(eom.reply.kind, Reply::Kind::proceed);
        ASSERT_EQ(eom.add_headers.size(), 4u);
        EXPECT_EQ(eom.add_headers[3].first, "X-Spam-Signature");
        EXPECT_EQ(
            eom.add_headers[3].second.rfind(verbatim ? " v=1; k=mx1; t=" : "v=1; k=mx1; t=", 0),
            0u);
        ASSERT_EQ(eom.delete_headers.size(), 1u);  // the forged signature goes
        const std::vector<std::pair<std::string, std::string>> kept{
            {"Subject", " Cheap SCORE-SEVEN stuff"}, {"Message-ID", " <m1@remote.example>"}};
        const auto check =
            scan::verify_message_verdict(parsed.operator->(), store_view(kept, eom, body), now, 60);
        EXPECT_EQ(check.outcome, scan::VerdictCheck::Outcome::valid) << check.reason;
        ASSERT_TRUE(check.score);
        EXPECT_DOUBLE_EQ(*check.score, 7.0);
        // Past the scan limit still counts: a changed tail does not verify.
        std::string changed = body;
        changed.replace(changed.find(".dotted"), 7, ".DOTTED");
        EXPECT_EQ(scan::verify_message_verdict(parsed.operator->(), store_view(kept, eom, changed),
                                               now, 60)
                      .outcome,
                  scan::VerdictCheck::Outcome::invalid);
    }

    // Authenticated senders: not scored, but a signed 0.0 so the store does not treat
    // their mail as unsigned.
    Session s = open();
    s.mail_from("<alice@example.org>", true);
    s.rcpt("<bob@example.org>", false);
    feed(s, "from alice", std::string(kGtube) + "\r\n");
    EndOfMessage eom = s.end_of_message();
    ASSERT_EQ(eom.reply.kind, Reply::Kind::proceed);
    ASSERT_EQ(eom.add_headers.size(), 4u);
    EXPECT_EQ(eom.add_headers[0], (std::pair<std::string, std::string>{"X-Spam-Score", "0.0"}));
    EXPECT_NE(eom.add_headers[2].second.find("authenticated, not scored"), std::string::npos);
    const auto check = scan::verify_message_verdict(
        parsed.operator->(),
        store_view({{"From", "sender@remote.example"}, {"Subject", "from alice"}}, eom,
                   std::string(kGtube) + "\n"),
        now, 60);
    EXPECT_EQ(check.outcome, scan::VerdictCheck::Outcome::valid) << check.reason;

    // No key configured: the same headers, no signature.
    services_->verdict_keys = nullptr;
    Session plain = open();
    plain.mail_from("<x@remote.example>", false);
    plain.rcpt("<alice@example.org>", false);
    feed(plain, "hi", "clean\r\n");
    EXPECT_EQ(plain.end_of_message().add_headers.size(), 3u);
}

// milter.relay_check: pampero-policyd's relay and rate decisions at RCPT, for Sendmail.
TEST_F(SessionTest, RelayCheckRefusesRelayWithoutLoginAndLimitsLogins) {
    policy::StateSubscriberLookup subs(*state_);
    RateLimitConfig limits;
    limits.recipients_per_message = 2;
    policy::Engine relay(*state_, *directory_, subs, GuardConfig{3, 600, 3600}, limits);
    services_->relay = &relay;

    Session anon = open("192.0.2.20");
    anon.mail_from("<x@remote.example>", false);
    Reply r = anon.rcpt("<y@elsewhere.example>", false);
    EXPECT_EQ(r.kind, Reply::Kind::reject);
    EXPECT_EQ(r.rcode + " " + r.xcode, "554 5.7.1");
    EXPECT_EQ(anon.rcpt("<alice@example.org>", false).kind, Reply::Kind::proceed);

    Session user = open("192.0.2.21");
    user.mail_from("<alice@example.org>", true, "alice@example.org");
    EXPECT_EQ(user.rcpt("<a@elsewhere.example>", false).kind, Reply::Kind::proceed);
    // Postfix's queue id arrives with the first accepted RCPT: still the same message
    // (the count was split in two when the id was taken at each RCPT).
    user.set_queue_id("4ABC123");
    EXPECT_EQ(user.rcpt("<b@elsewhere.example>", false).kind, Reply::Kind::proceed);
    r = user.rcpt("<c@elsewhere.example>", false);
    EXPECT_EQ(r.kind, Reply::Kind::tempfail);
    EXPECT_EQ(r.rcode + " " + r.xcode, "450 4.7.1");
    EXPECT_NE(r.text.find("recipients_per_message"), std::string::npos);
    // The next message of the connection has its own count.
    user.mail_from("<alice@example.org>", true, "alice@example.org");
    EXPECT_EQ(user.rcpt("<d@elsewhere.example>", false).kind, Reply::Kind::proceed);
    EXPECT_TRUE(state_->get("rl:r:user:alice@example.org")->has_value());
}

TEST_F(SessionTest, WithoutRelayCheckRemoteRecipientsAreLeftToTheMta) {
    Session s = open("192.0.2.22");
    s.mail_from("<x@remote.example>", false);
    EXPECT_EQ(s.rcpt("<y@elsewhere.example>", false).kind, Reply::Kind::proceed);
}

// classifier.model: user (model_set.hpp): one message, each recipient scored with their
// own model. Bob's (level 3) learned this kind of mail as spam, carol's (level 5) as ham,
// alice has none (and there is no site model): spam for bob, Inbox for carol and alice;
// the headers carry the lowest verdict (no one's training makes another's mail spam); the
// log line gives each recipient's score and model.
TEST_F(SessionTest, PerUserModelsDecideEachRecipient) {
    using namespace pampero::classifier;
    std::filesystem::copy_file(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d/45-classifier.yaml",
                               dir_ / "rules.d" / "45-classifier.yaml");
    use_bounds(MilterConfig{});  // the engine again, with the BAYES_* rules
    ModelSetOptions mo;
    mo.kind = ModelKind::user;
    mo.store_template = "sqlite:" + (dir_ / "bayes.d" / "%m.db").string();
    const auto learn = [&](const std::string& user, Class pills) {
        auto store =
            open_model_store(model_spec(mo.store_template, user), classifier::OpenMode::create);
        ASSERT_TRUE(store) << store.error().message;
        Learner l(**store);
        for (int i = 0; i < 5; ++i) {
            const auto p = scan::parse_message(
                "Subject: cheap pills " + std::to_string(i) + "\r\n\r\nbuy cheap pills now\r\n",
                1 << 20);
            ASSERT_TRUE(l.learn(message_id(p), tokenize(p), pills));
            const auto m = scan::parse_message(
                "Subject: meeting " + std::to_string(i) + "\r\n\r\nthe project agenda\r\n",
                1 << 20);
            ASSERT_TRUE(l.learn(message_id(m), tokenize(m),
                                pills == Class::spam ? Class::ham : Class::spam));
        }
        ASSERT_TRUE(l.flush());
    };
    learn("bob@example.org", Class::spam);
    learn("carol@example.org", Class::ham);
    Options o;
    o.min_spam = o.min_ham = 5;
    const ModelSet models(nullptr, mo, o);
    services_->models = &models;

    Session s = open();
    s.mail_from("<x@remote.example>", false);
    s.rcpt("<bob@example.org>", false);
    s.rcpt("<carol@example.org>", false);
    s.rcpt("<alice@example.org>", false);
    feed(s, "cheap pills", "buy cheap pills now\r\n");
    EndOfMessage eom = s.end_of_message();
    services_->models = nullptr;
    EXPECT_EQ(eom.reply.kind, Reply::Kind::proceed);
    EXPECT_TRUE(eom.delete_recipients.empty());
    EXPECT_NE(eom.log_line.find("<bob@example.org>:spam(score=5.0 model=user:bob@example.org)"),
              std::string::npos)
        << eom.log_line;
    EXPECT_NE(
        eom.log_line.find("<carol@example.org>:inbox(score=-9.0 model=user:carol@example.org)"),
        std::string::npos)
        << eom.log_line;
    EXPECT_NE(eom.log_line.find("<alice@example.org>:inbox(score=0.0 model=none)"),
              std::string::npos)
        << eom.log_line;
    ASSERT_GE(eom.add_headers.size(), 3u);
    EXPECT_EQ(eom.add_headers[0], (std::pair<std::string, std::string>{"X-Spam-Score", "-9.0"}));
}
