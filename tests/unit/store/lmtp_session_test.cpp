// The LMTP dialog without a socket: each table row is one chunk a client sends and the
// replies the session must answer with (code and enhanced code of every line), against a
// real Store (SQLite directory, maildirs).
#include "lmtp_session.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <numeric>

#include "fixture.hpp"

using namespace pampero;
using namespace pampero::store;
using namespace store_test;

namespace {

struct Driven {
    std::string reply;
    bool closed = false;
};

// What Server::lmtp_session does with a chunk that arrived: command lines one at a time,
// DATA bytes as they are; an incomplete line waits in `pending` for the next chunk.
Driven drive(LmtpSession& s, std::string& pending, std::string_view chunk) {
    Driven d;
    pending.append(chunk);
    while (!d.closed) {
        if (s.in_data()) {
            LmtpSession::Output out;
            pending.erase(0, s.data(pending, out));
            d.reply += out.reply;
            if (s.in_data()) break;
            continue;
        }
        const auto lf = pending.find('\n');
        if (lf == std::string::npos) break;
        std::string line = pending.substr(0, lf);
        pending.erase(0, lf + 1);
        const bool too_long = line.size() + 1 > lmtp::kMaxCommandLine;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto out = too_long ? s.line_too_long() : s.command(line);
        d.reply += out.reply;
        d.closed = out.close;
    }
    return d;
}

// "250-a\r\n250 2.1.5 Ok\r\n354 End..\r\n" -> "250 250 2.1.5 354": each line's code and,
// when it has one, its enhanced code.
std::string codes(std::string_view wire) {
    std::string out;
    while (!wire.empty()) {
        const auto end = wire.find("\r\n");
        const std::string_view line = wire.substr(0, end);
        wire.remove_prefix(end == std::string_view::npos ? wire.size() : end + 2);
        if (!out.empty()) out += ' ';
        out += line.substr(0, 3);
        if (line.size() > 9 && line[3] == ' ' &&
            std::isdigit(static_cast<unsigned char>(line[4])) && line[5] == '.') {
            out += ' ';
            out += line.substr(4, line.find(' ', 4) - 4);
        }
    }
    return out;
}

struct Step {
    std::string send;
    std::string expect;  // codes() of the replies
    bool close = false;
    int repeat = 1;
};

struct Case {
    const char* name;
    std::vector<Step> steps;
    std::uint64_t size_limit = 10'000;
    std::uint64_t spool_threshold = 1'000'000;
};

// So a failing row is reported by its name, not as bytes.
void PrintTo(const Case& c, std::ostream* os) {
    *os << c.name;
}

const std::string kHello = "LHLO mx.test\r\n";
const std::string kLhloCodes = "250 250 250 250 250 250 250";
const std::string kMail = "MAIL FROM:<s@example.org>\r\n";
const std::string kAlice = "RCPT TO:<alice@example.com>\r\n";
const std::string kBob = "RCPT TO:<bob@example.com>\r\n";
const std::string kBody = "Subject: t\r\n\r\nhello\r\n.\r\n";

const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        {"Delivery",
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {kBody, "250 2.0.0"},
          {"QUIT\r\n", "221 2.0.0", true}}},
        {"EhloAndHeloAreNotLmtp",
         {{"EHLO mx.test\r\n", "500 5.5.1"},
          {"HELO mx.test\r\n", "500 5.5.1"},
          {kMail, "503 5.5.1"},
          {kHello, kLhloCodes},
          {kMail, "250 2.1.0"}}},
        {"OutOfOrder",
         {{kMail, "503 5.5.1"},  // before LHLO
          {kHello, kLhloCodes},
          {kAlice, "503 5.5.1"},      // RCPT before MAIL
          {"DATA\r\n", "503 5.5.1"},  // DATA before MAIL
          {kMail, "250 2.1.0"},
          {kMail, "503 5.5.1"},       // nested MAIL
          {"DATA\r\n", "503 5.5.1"},  // no recipient
          {"RCPT TO:<nobody@example.com>\r\n", "550 5.1.1"},
          {"DATA\r\n", "503 5.5.1"},  // still none accepted
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {kBody, "250 2.0.0"},
          {kAlice, "503 5.5.1"}}},  // the transaction ended with DATA
        {"Xforward",
         {{"XFORWARD IDENT=ABC\r\n", "503 5.5.1"},  // before LHLO
          {kHello, kLhloCodes},
          {"XFORWARD IDENT=4Qx1 NAME=mx.example\r\n", "250 2.0.0"},
          {"XFORWARD IDENT\r\n", "501 5.5.4"},
          {kMail, "250 2.1.0"},
          {"XFORWARD IDENT=ABC\r\n", "503 5.5.1"},  // inside a transaction
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {kBody, "250 2.0.0"},
          {"XFORWARD IDENT=DEF\r\n", "250 2.0.0"}}},
        {"BadSyntax",
         {{kHello, kLhloCodes},
          {"MAIL FROM:s@example.org\r\n", "501 5.5.4"},
          {"MAIL FROM:<s@example.org> SIZE=x\r\n", "501 5.5.4"},
          {"MAIL FROM:<s@example.org> FOO=1\r\n", "555 5.5.4"},
          {kMail, "250 2.1.0"},
          {"RCPT alice@example.com\r\n", "501 5.5.4"},
          {kAlice, "250 2.1.5"}}},
        {"UnknownAndHarmless",
         {{"FOO\r\n", "500 5.5.2"},
          {"NOOP\r\n", "250 2.0.0"},
          {"VRFY alice\r\n", "252 2.5.2"},
          {std::string(3000, 'x') + "\r\n", "500 5.5.2"},
          {kHello, kLhloCodes}}},
        {"TooManyErrors",
         {{kHello, kLhloCodes},
          {"FOO\r\n", "500 5.5.2", false, kMaxErrors},
          {"NOOP\r\n", "250 2.0.0"},  // good commands do not count
          {"FOO\r\n", "500 5.5.2 421 4.7.0", true}}},
        {"OverlongLinesCountAsErrors",
         {{std::string(3000, 'x') + "\r\n", "500 5.5.2", false, kMaxErrors},
          {std::string(3000, 'x') + "\r\n", "500 5.5.2 421 4.7.0", true}}},
        {"TooManyRecipients",
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5", false, static_cast<int>(kMaxRecipients)},
          {kBob, "452 4.5.3"},
          {"RSET\r\n", "250 2.0.0"},
          {kMail, "250 2.1.0"},
          {kBob, "250 2.1.5"}}},
        {"DotStuffingAndSplitData",
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {"Subject: dots\r\n\r\n..x\r\n.", ""},
          {"..\r\nlast\r\n", ""},
          {".\r\n", "250 2.0.0"},
          {"NOOP\r\n", "250 2.0.0"}}},
        {"SizeLimit",
         {{kHello, kLhloCodes},
          {"MAIL FROM:<s@example.org> SIZE=101\r\n", "552 5.3.4"},
          {"MAIL FROM:<s@example.org> SIZE=100\r\n", "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {"Subject: big\r\n\r\n" + std::string(200, 'b') + "\r\n.\r\n", "552 5.3.4 552 5.3.4"},
          {"NOOP\r\n", "250 2.0.0"}},
         100},
        {"PerRecipientReplies",  // bob's quota of 30 octets is too small for the message
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {kBob, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {"Subject: q\r\n\r\n" + std::string(60, 'q') + "\r\n.\r\n", "250 2.0.0 552 5.2.2"}}},
        {"Spooled",  // above the threshold the message goes through a spool file
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {"DATA\r\n", "354"},
          {"Subject: spooled\r\n\r\n", ""},
          {"..x\r\n.\r\n", "250 2.0.0"}},
         10'000,
         8},
        {"RsetClears",
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {"RSET\r\n", "250 2.0.0"},
          {"DATA\r\n", "503 5.5.1"},
          {kAlice, "503 5.5.1"},
          {kMail, "250 2.1.0"},
          {"DATA\r\n", "503 5.5.1"}}},
        {"LhloResets",
         {{kHello, kLhloCodes},
          {kMail, "250 2.1.0"},
          {kAlice, "250 2.1.5"},
          {kHello, kLhloCodes},
          {"DATA\r\n", "503 5.5.1"}}},
        {"QuitCloses", {{"QUIT\r\n", "221 2.0.0", true}}},
        {"PipelinedInOneChunk",
         {{kHello + kMail + kAlice + "DATA\r\n" + kBody + "NOOP\r\nQUIT\r\nNOOP\r\n",
           kLhloCodes + " 250 2.1.0 250 2.1.5 354 250 2.0.0 250 2.0.0 221 2.0.0", true}}},
    };
    return all;
}

class LmtpSessionSteps : public ::testing::TestWithParam<Case> {};

struct Users {
    World w;
    Users() {
        EXPECT_TRUE(
            w.directory->add_user(user("alice@example.com", "n1", "example.com/alice/")).ok());
        EXPECT_TRUE(
            w.directory->add_user(user("bob@example.com", "n1", "example.com/bob/", {}, 30)).ok());
    }
    LmtpSessionConfig config(std::uint64_t size_limit, std::uint64_t spool_threshold) const {
        return {"mx.test", "lmtp-test", size_limit, spool_threshold, w.mail_root};
    }
};

// Every message file below `dir`.
std::vector<std::string> delivered(const std::string& dir) {
    std::vector<std::string> out;
    if (!std::filesystem::exists(dir)) return out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().parent_path().filename() == "new") {
            out.push_back(read_file(e.path().string()));
        }
    }
    return out;
}

TEST_P(LmtpSessionSteps, RepliesOfEveryStep) {
    const Case& c = GetParam();
    Users u;
    Store store(*u.w.directory, *u.w.holder);
    LmtpSession s(store, u.config(c.size_limit, c.spool_threshold));
    std::string pending;
    bool closed = false;
    int n = 0;
    for (const Step& step : c.steps) {
        for (int i = 0; i < step.repeat; ++i) {
            ++n;
            ASSERT_FALSE(closed) << "step " << n << " after the session closed";
            const Driven d = drive(s, pending, step.send);
            ASSERT_EQ(codes(d.reply), step.expect)
                << "step " << n << ": " << step.send.substr(0, 60) << "\n"
                << d.reply;
            ASSERT_EQ(d.closed, step.close) << "step " << n;
            closed = d.closed;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Table, LmtpSessionSteps, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LmtpSession, GreetingAndLhloText) {
    Users u;
    Store store(*u.w.directory, *u.w.holder);
    LmtpSession s(store, u.config(12345, 1'000'000));
    EXPECT_EQ(s.greeting(), "220 mx.test LMTP pampero-store ready\r\n");
    EXPECT_EQ(s.command("LHLO client.test").reply,
              "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
              "250-SIZE 12345\r\n250-XPAMPERO-LOCAL\r\n250 XFORWARD IDENT\r\n");
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(s.command("MAIL FROM:<>").reply, "250 2.1.0 Ok\r\n");
    EXPECT_TRUE(s.in_transaction());
    EXPECT_EQ(s.command("RSET").reply, "250 2.0.0 Ok\r\n");
    EXPECT_FALSE(s.in_transaction());
}

// What DATA decodes is what lands in the maildir: dot-unstuffed, LF line ends, in memory
// or through the spool file alike.
TEST(LmtpSession, DeliversTheUnstuffedMessage) {
    for (const std::uint64_t threshold : {std::uint64_t{1'000'000}, std::uint64_t{4}}) {
        Users u;
        Store store(*u.w.directory, *u.w.holder);
        LmtpSession s(store, u.config(10'000, threshold));
        std::string pending;
        const Driven d = drive(s, pending,
                               kHello + kMail + kAlice +
                                   "DATA\r\nSubject: d\r\n\r\n..one\r\n"
                                   "two\r\n...\r\n.\r\n");
        ASSERT_EQ(codes(d.reply), kLhloCodes + " 250 2.1.0 250 2.1.5 354 250 2.0.0");
        const auto got = delivered(u.w.mail_root + "/example.com/alice");
        ASSERT_EQ(got.size(), 1u) << "threshold " << threshold;
        EXPECT_NE(got[0].find("Subject: d\n\n.one\ntwo\n..\n"), std::string::npos) << got[0];
        // The spool file has no name: nothing is left in tmp/.
        EXPECT_TRUE(files_in(u.w.mail_root + "/example.com/alice/tmp").empty());
    }
}

// The connection going away during DATA acknowledges and delivers nothing.
TEST(LmtpSession, DataLostDeliversNothing) {
    Users u;
    Store store(*u.w.directory, *u.w.holder);
    LmtpSession s(store, u.config(10'000, 4));
    std::string pending;
    const Driven d = drive(s, pending, kHello + kMail + kAlice + "DATA\r\nSubject: lost\r\n\r\nx");
    ASSERT_EQ(codes(d.reply), kLhloCodes + " 250 2.1.0 250 2.1.5 354");
    ASSERT_TRUE(s.in_data());
    s.data_lost();
    EXPECT_FALSE(s.in_data());
    EXPECT_FALSE(s.in_transaction());
    EXPECT_TRUE(delivered(u.w.mail_root).empty());
}

// XFORWARD IDENT names the message in the log lines until the transaction ends;
// anything that does not look like a queue id is ignored.
TEST(LmtpSession, XforwardIdentIsTheLogIdForOneTransaction) {
    Users u;
    Store store(*u.w.directory, *u.w.holder);
    LmtpSession s(store, u.config(10'000, 1'000'000));
    std::string pending;
    drive(s, pending, kHello);
    EXPECT_EQ(s.log_id(), "lmtp-test");
    drive(s, pending, "XFORWARD IDENT=4ZqR7Tx1 NAME=x\r\n" + kMail + kAlice);
    EXPECT_EQ(s.log_id(), "4ZqR7Tx1");
    drive(s, pending, "DATA\r\n" + kBody);
    EXPECT_EQ(s.log_id(), "lmtp-test");  // forgotten at the end of the transaction
    drive(s, pending, "XFORWARD IDENT=+5BUNAVAILABLE+5D\r\n");
    EXPECT_EQ(s.log_id(), "lmtp-test");
    drive(s, pending, "XFORWARD IDENT=a+0Ab\r\n");  // a newline in a log line: no
    EXPECT_EQ(s.log_id(), "lmtp-test");
    drive(s, pending, "XFORWARD IDENT=ABC\r\nRSET\r\n");
    EXPECT_EQ(s.log_id(), "lmtp-test");
}

// What the store counts for one delivery and one unknown recipient.
TEST(LmtpSession, DeliveriesAreCounted) {
    Users u;
    pampero::metrics::Registry reg;
    StoreMetrics m(reg);
    Store store(*u.w.directory, *u.w.holder, &m);
    LmtpSession s(store, u.config(10'000, 1'000'000));
    std::string pending;
    const Driven d = drive(
        s, pending, kHello + kMail + kAlice + "RCPT TO:<nobody@example.com>\r\nDATA\r\n" + kBody);
    ASSERT_EQ(codes(d.reply), kLhloCodes + " 250 2.1.0 250 2.1.5 550 5.1.1 354 250 2.0.0");
    EXPECT_EQ(m.deliveries.get({"inbox", "delivered"}).value(), 1u);
    EXPECT_EQ(m.deliveries.get({"spam", "delivered"}).value(), 0u);
    EXPECT_EQ(m.recipients_refused.get({"unknown"}).value(), 1u);
    EXPECT_EQ(m.verdicts.get({"unsigned"}).value(), 1u);
    const auto buckets = m.fsync_seconds.bucket_counts();
    EXPECT_EQ(std::accumulate(buckets.begin(), buckets.end(), std::uint64_t{0}), 1u);
    EXPECT_NE(reg.render().find(
                  "pampero_store_deliveries_total{folder=\"inbox\",result=\"delivered\"} 1\n"),
              std::string::npos);
}

}  // namespace
