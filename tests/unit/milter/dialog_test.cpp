// Dialog (dialog.hpp): the milter protocol of one connection without its socket. Packets
// go in as the MTA sends them; the reply bytes that come out are compared with what the
// codec encodes. Table-driven: every command before and after negotiation, with and
// without each NR_* / NO* flag; then macros, transactions, end of message and replies.
// The Session behind it is real (SQLite directory, memory state, shipped levels).
#include "dialog.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "macro_store.hpp"

using namespace pampero;
using namespace pampero::milter;
using namespace std::string_literals;

namespace {

using pampero::testing::make_user;

using pampero::testing::kGtube;

constexpr std::uint32_t kAllActions = 0x1ff;
constexpr std::uint32_t kAllProtocol = 0x1fffff;  // every SMFIP_* bit up to HDR_LEADSPC
// What the Dialog accepts of kAllProtocol (dialog.hpp says why).
constexpr std::uint32_t kWanted =
    proto::flag::rcpt_rej | proto::flag::no_unknown | proto::flag::header_leading_space |
    proto::flag::nr_header | proto::flag::nr_body | proto::flag::nr_eoh | proto::flag::no_helo |
    proto::flag::no_data | proto::flag::nr_mail;

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff),
            static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
}

// NUL-terminated strings back to back, as MAIL, RCPT, header and macro packets carry them.
std::string z(std::initializer_list<std::string> parts) {
    std::string out;
    for (const auto& p : parts) out += p + '\0';
    return out;
}

std::string negotiation(std::uint32_t protocol, std::uint32_t version = 6,
                        std::uint32_t actions = kAllActions) {
    return be32(version) + be32(actions) + be32(protocol);
}

const std::string kConnect = z({"mx.remote.example"}) + "4\x00\x19"s + z({"192.0.2.10"});

std::string simple(char c) {
    std::string out;
    EXPECT_TRUE(proto::encode_simple(out, c));
    return out;
}

std::string reply_code(const std::string& line) {
    std::string out;
    EXPECT_TRUE(proto::encode_reply_code(out, line));
    return out;
}

// The packets in `out`, each as its command octet and data.
std::vector<std::pair<char, std::string>> packets(std::string_view out) {
    std::vector<std::pair<char, std::string>> v;
    while (!out.empty()) {
        const auto f = proto::next_packet(out);
        EXPECT_EQ(f.status, proto::Framing::Status::ok);
        if (f.status != proto::Framing::Status::ok) break;
        v.emplace_back(f.packet.command, std::string(f.packet.data));
        out.remove_prefix(f.consumed);
    }
    return v;
}

std::string commands(std::string_view out) {
    std::string s;
    for (const auto& [c, d] : packets(out)) s += c;
    return s;
}

class DialogTest : public pampero::testing::MilterWorld {
  protected:
    void SetUp() override {
        make_world("pampero-dialog");
        if (HasFatalFailure()) return;
        dialog_ = std::make_unique<Dialog>(
            *services_, [this] { return "conn-" + std::to_string(++sessions_); });
    }
    void TearDown() override {
        dialog_.reset();
        MilterWorld::TearDown();
    }
    // Feeds one packet; the reply bytes of that packet alone.
    std::string send(char command, const std::string& data, bool expect_open = true) {
        std::string out;
        const bool open = dialog_->feed({command, data}, out);
        EXPECT_EQ(open, expect_open) << "command '" << command << "'";
        return out;
    }
    void negotiate(std::uint32_t protocol = kAllProtocol) {
        ASSERT_EQ(commands(send('O', negotiation(protocol))), "O");
    }
    // Negotiated, connected, MAIL sent: ready for RCPT.
    void open_transaction(const std::string& sender = "<x@remote.example>") {
        negotiate();
        ASSERT_EQ(send('C', kConnect), simple('c'));
        ASSERT_EQ(send('M', z({sender})), "");  // NR_MAIL
    }
    // Headers, body and end of message; the end of message's reply bytes.
    std::string message(const std::string& body,
                        std::vector<std::pair<std::string, std::string>> headers = {
                            {"From", "x@remote.example"}, {"Subject", "hi"}}) {
        for (const auto& [n, v] : headers) EXPECT_EQ(send('L', z({n, v})), "");
        EXPECT_EQ(send('N', ""), "");
        EXPECT_EQ(send('B', body), "");
        return send('E', "");
    }

    int sessions_ = 0;
    std::unique_ptr<Dialog> dialog_;
};

// ---- which step owes a reply ----

struct StepRow {
    const char* name;
    std::uint32_t offered;  // the MTA's protocol flags
    char command;
    std::string data;
    bool replies;  // 'c' expected; otherwise nothing
};

class DialogStep : public DialogTest, public ::testing::WithParamInterface<StepRow> {};

TEST_P(DialogStep, Row) {
    const auto& row = GetParam();
    ASSERT_EQ(commands(send('O', negotiation(row.offered))), "O");
    if (row.command != 'C') send('C', kConnect);
    if (std::string_view("RTLNBEA").find(row.command) != std::string_view::npos)
        send('M', z({"<x@remote.example>"}));
    EXPECT_EQ(send(row.command, row.data), row.replies ? simple('c') : "");
}

const std::string kRcpt = z({"<someone@elsewhere.example>"});

INSTANTIATE_TEST_SUITE_P(
    Steps, DialogStep,
    ::testing::Values(
        // Everything offered: what Postfix offers, what we take (dialog.hpp).
        StepRow{"All_Connect", kAllProtocol, 'C', kConnect, true},
        StepRow{"All_HeloSkippedButSent", kAllProtocol, 'H', z({"client"}), true},
        StepRow{"All_MailNoReply", kAllProtocol, 'M', z({"<x@remote.example>"}), false},
        StepRow{"All_Rcpt", kAllProtocol, 'R', kRcpt, true},
        StepRow{"All_DataSkippedButSent", kAllProtocol, 'T', "", true},
        StepRow{"All_HeaderNoReply", kAllProtocol, 'L', z({"Subject", "hi"}), false},
        StepRow{"All_EndOfHeadersNoReply", kAllProtocol, 'N', "", false},
        StepRow{"All_BodyNoReply", kAllProtocol, 'B', "text", false},
        StepRow{"All_UnknownSkippedButSent", kAllProtocol, 'U', z({"XYZZY"}), true},
        StepRow{"All_MacrosNeverReply", kAllProtocol, 'D', "M" + z({"i", "Q1"}), false},
        StepRow{"All_AbortNeverReplies", kAllProtocol, 'A', "", false},
        // Nothing offered: every step answers.
        StepRow{"None_Connect", 0, 'C', kConnect, true},
        StepRow{"None_Helo", 0, 'H', z({"client"}), true},
        StepRow{"None_Mail", 0, 'M', z({"<x@remote.example>"}), true},
        StepRow{"None_Rcpt", 0, 'R', kRcpt, true}, StepRow{"None_Data", 0, 'T', "", true},
        StepRow{"None_Header", 0, 'L', z({"Subject", "hi"}), true},
        StepRow{"None_EndOfHeaders", 0, 'N', "", true}, StepRow{"None_Body", 0, 'B', "text", true},
        StepRow{"None_Unknown", 0, 'U', z({"XYZZY"}), true},
        StepRow{"None_MacrosNeverReply", 0, 'D', "C" + z({"j", "mx"}), false},
        StepRow{"None_AbortNeverReplies", 0, 'A', "", false},
        // One flag offered: that step alone goes quiet.
        StepRow{"NrHdr_Header", proto::flag::nr_header, 'L', z({"Subject", "hi"}), false},
        StepRow{"NrHdr_BodyStillReplies", proto::flag::nr_header, 'B', "text", true},
        StepRow{"NrBody_Body", proto::flag::nr_body, 'B', "text", false},
        StepRow{"NrBody_HeaderStillReplies", proto::flag::nr_body, 'L', z({"A", "b"}), true},
        StepRow{"NrEoh_EndOfHeaders", proto::flag::nr_eoh, 'N', "", false},
        StepRow{"NrMail_Mail", proto::flag::nr_mail, 'M', z({"<x@remote.example>"}), false},
        StepRow{"NrMail_RcptStillReplies", proto::flag::nr_mail, 'R', kRcpt, true},
        // Flags we do not take: those steps still answer.
        StepRow{"NrConn_NotTaken", proto::flag::nr_connect, 'C', kConnect, true},
        StepRow{"NrHelo_NotTaken", proto::flag::nr_helo, 'H', z({"client"}), true},
        StepRow{"NrRcpt_NotTaken", proto::flag::nr_rcpt, 'R', kRcpt, true},
        StepRow{"NrData_NotTaken", proto::flag::nr_data, 'T', "", true},
        StepRow{"NrUnkn_NotTaken", proto::flag::nr_unknown, 'U', z({"XYZZY"}), true},
        // Skipped but sent anyway (a client that ignores NOHELO / NODATA): answered.
        StepRow{"NoHelo_SentAnyway", proto::flag::no_helo, 'H', z({"client"}), true},
        StepRow{"NoData_SentAnyway", proto::flag::no_data, 'T', "", true}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- option negotiation ----

struct NegotiationRow {
    const char* name;
    std::uint32_t version, actions, protocol;
    std::uint32_t want_version, want_actions, want_protocol;
};

class DialogNegotiation : public DialogTest,
                          public ::testing::WithParamInterface<NegotiationRow> {};

TEST_P(DialogNegotiation, Row) {
    const auto& row = GetParam();
    EXPECT_EQ(dialog_->max_packet_length(), proto::kMaxNegotiationLength);
    std::string want;
    proto::encode_negotiation(want, {row.want_version, row.want_actions, row.want_protocol});
    EXPECT_EQ(send('O', negotiation(row.protocol, row.version, row.actions)), want);
    EXPECT_EQ(dialog_->max_packet_length(), proto::kMaxPacketLength);
}

constexpr std::uint32_t kOurActions =
    proto::action::add_headers | proto::action::change_headers | proto::action::delete_rcpt;

INSTANTIATE_TEST_SUITE_P(
    Offers, DialogNegotiation,
    ::testing::Values(
        NegotiationRow{"Everything", 6, kAllActions, kAllProtocol, 6, kOurActions, kWanted},
        NegotiationRow{"Nothing", 6, 0, 0, 6, 0, 0},
        NegotiationRow{"NewerVersion", 7, kAllActions, kAllProtocol, 6, kOurActions, kWanted},
        NegotiationRow{"Version2", 2, kAllActions, 0, 2, kOurActions, 0},
        NegotiationRow{"OnlyFlagsWeDoNotTake", 6, kAllActions,
                       proto::flag::nr_connect | proto::flag::nr_rcpt | proto::flag::no_body, 6,
                       kOurActions, 0},
        NegotiationRow{"SomeOfOurs", 6, proto::action::add_headers,
                       proto::flag::nr_header | proto::flag::no_helo | proto::flag::nr_data, 6,
                       proto::action::add_headers, proto::flag::nr_header | proto::flag::no_helo}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(DialogTest, VersionBelowTwoIsAProtocolError) {
    EXPECT_EQ(send('O', negotiation(kAllProtocol, 1), false), simple('t'));
}

// ---- protocol errors ----

struct ErrorRow {
    const char* name;
    bool negotiated;  // with every flag offered
    char command;
    std::string data;
    bool t;  // 't' expected (the MTA waits for a reply); otherwise nothing
};

class DialogError : public DialogTest, public ::testing::WithParamInterface<ErrorRow> {};

TEST_P(DialogError, Row) {
    const auto& row = GetParam();
    if (row.negotiated) negotiate();
    EXPECT_EQ(send(row.command, row.data, false), row.t ? simple('t') : "");
}

INSTANTIATE_TEST_SUITE_P(Errors, DialogError,
                         ::testing::Values(
                             // Before option negotiation: every command but 'O' ends the dialog.
                             ErrorRow{"Early_Connect", false, 'C', kConnect, true},
                             ErrorRow{"Early_Helo", false, 'H', z({"client"}), true},
                             ErrorRow{"Early_Mail", false, 'M', z({"<x@remote.example>"}), true},
                             ErrorRow{"Early_Rcpt", false, 'R', kRcpt, true},
                             ErrorRow{"Early_Data", false, 'T', "", true},
                             ErrorRow{"Early_Header", false, 'L', z({"Subject", "hi"}), true},
                             ErrorRow{"Early_EndOfHeaders", false, 'N', "", true},
                             ErrorRow{"Early_Body", false, 'B', "text", true},
                             ErrorRow{"Early_EndOfMessage", false, 'E', "", true},
                             ErrorRow{"Early_Unknown", false, 'U', z({"XYZZY"}), true},
                             ErrorRow{"Early_Macros", false, 'D', "C" + z({"j", "mx"}), false},
                             ErrorRow{"Early_Abort", false, 'A', "", false},
                             ErrorRow{"Early_Quit", false, 'Q', "", false},
                             ErrorRow{"Early_QuitNewConnection", false, 'K', "", false},
                             // Packets that do not decode: 't' only where a reply is owed.
                             ErrorRow{"ShortNegotiation", false, 'O', "abc", true},
                             ErrorRow{"UnknownCommandOctet", true, 'Z', "", true},
                             ErrorRow{"RcptWithoutNul", true, 'R', "<a@b.example>", true},
                             ErrorRow{"HeaderWithoutNulUnderNrHdr", true, 'L', "Subject", false},
                             ErrorRow{"MacrosWithoutStage", true, 'D', "", false},
                             ErrorRow{"ConnectBadFamily", true, 'C', z({"h"}) + "X", true},
                             ErrorRow{"ConnectAddressDoesNotParse", true, 'C',
                                      z({"h"}) + "4\x00\x19"s + z({"not-an-address"}), true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(DialogTest, HeaderWithoutNulGetsTWhenHeadersAreAnswered) {
    negotiate(0);
    EXPECT_EQ(send('L', "Subject", false), simple('t'));
}

TEST_F(DialogTest, FramingErrorIsAnsweredT) {
    std::string out;
    dialog_->framing_error("packet length 0", out);
    EXPECT_EQ(out, simple('t'));
}

// ---- connect: the client address forms ----

TEST_F(DialogTest, ConnectAcceptsEveryAddressForm) {
    negotiate();
    EXPECT_EQ(send('C', z({"h"}) + "6\x00\x19"s + z({"IPv6:2001:DB8::1"})), simple('c'));
    EXPECT_EQ(send('K', ""), "");
    EXPECT_EQ(send('C', z({"h"}) + "L\x00\x00"s + z({"/run/socket"})), simple('c'));
    EXPECT_EQ(send('K', ""), "");
    EXPECT_EQ(send('C', z({"h"}) + "U"), simple('c'));
}

// ---- macros: per stage, replaced by stage, cleared at the end of a transaction ----

TEST_F(DialogTest, AuthMacroSparesTheScanAndIsClearedAtEndOfMessage) {
    negotiate();
    ASSERT_EQ(send('C', kConnect), simple('c'));
    EXPECT_EQ(send('D', "M" + z({"{auth_authen}", "alice"})), "");
    EXPECT_EQ(send('M', z({"<alice@example.org>"})), "");
    EXPECT_EQ(send('R', z({"<bob@example.org>"})), simple('c'));
    auto p = packets(message(kGtube));
    ASSERT_FALSE(p.empty());
    EXPECT_EQ(p.back().first, 'c');  // authenticated: not scored
    // The next transaction has no {auth_authen}: scored, refused.
    EXPECT_EQ(send('M', z({"<alice@example.org>"})), "");
    EXPECT_EQ(send('R', z({"<bob@example.org>"})), simple('c'));
    p = packets(message(kGtube));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].first, 'y');
    EXPECT_EQ(p[0].second.substr(0, 10), "550 5.7.1 ");
}

TEST_F(DialogTest, AbortClearsTheTransactionsMacros) {
    negotiate();
    ASSERT_EQ(send('C', kConnect), simple('c'));
    EXPECT_EQ(send('D', "M" + z({"{auth_authen}", "alice"})), "");
    EXPECT_EQ(send('M', z({"<alice@example.org>"})), "");
    EXPECT_TRUE(dialog_->in_transaction());
    EXPECT_EQ(send('A', ""), "");
    EXPECT_FALSE(dialog_->in_transaction());
    EXPECT_EQ(send('M', z({"<alice@example.org>"})), "");
    EXPECT_EQ(send('R', z({"<bob@example.org>"})), simple('c'));
    const auto p = packets(message(kGtube));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].first, 'y');
}

TEST_F(DialogTest, ANewMacroPacketReplacesItsStage) {
    negotiate();
    ASSERT_EQ(send('C', kConnect), simple('c'));
    EXPECT_EQ(send('D', "M" + z({"{auth_authen}", "alice"})), "");
    EXPECT_EQ(send('D', "M" + z({"{mail_addr}", "alice@example.org"})), "");
    EXPECT_EQ(send('M', z({"<alice@example.org>"})), "");
    EXPECT_EQ(send('R', z({"<bob@example.org>"})), simple('c'));
    const auto p = packets(message(kGtube));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].first, 'y');  // {auth_authen} went with the first packet: scored
}

TEST_F(DialogTest, RcptMailerErrorCountsARecipientTheMtaRefused) {
    open_transaction();
    // Refused by the MTA itself ({rcpt_mailer} error): no 550 from us, but counted.
    EXPECT_EQ(send('D', "R" + z({"{rcpt_mailer}", "error"})), "");
    EXPECT_EQ(send('R', z({"<g1@example.org>"})), simple('c'));
    EXPECT_EQ(send('D', "R" + z({"{rcpt_mailer}", "local"})), "");
    EXPECT_EQ(send('R', z({"<g2@example.org>"})),
              reply_code("550 5.1.1 Recipient address rejected: User unknown"));
    // The third unknown recipient bans the client: 421, said by the MTA.
    EXPECT_EQ(send('R', z({"<g3@example.org>"})),
              reply_code("421 4.7.0 Too many unknown recipients, try again later"));
}

TEST(MacroStore, LatestStageFirstBracesOptionalClearFromAStage) {
    MacroStore m;
    m.set('C', {{"j", "mx"}, {"{daemon_name}", "smtpd"}});
    m.set('M', {{"{j}", "override"}, {"i", "Q1"}});
    m.set('X', {{"i", "ignored"}});  // not a libmilter stage
    EXPECT_EQ(m.get("{j}").value_or("-"), "override");
    EXPECT_EQ(m.get("daemon_name").value_or("-"), "smtpd");
    EXPECT_EQ(m.get("{i}").value_or("-"), "Q1");
    m.set('M', {{"x", "y"}});  // replaces the stage
    EXPECT_EQ(m.get("i"), std::nullopt);
    EXPECT_EQ(m.get("j").value_or("-"), "mx");
    m.set('R', {{"i", "Q2"}});
    m.clear_from('M');
    EXPECT_EQ(m.get("i"), std::nullopt);
    EXPECT_EQ(m.get("x"), std::nullopt);
    EXPECT_EQ(m.get("j").value_or("-"), "mx");
    m.clear_from('C');
    EXPECT_EQ(m.get("j"), std::nullopt);
}

// ---- QUIT, QUIT_NC ----

TEST_F(DialogTest, QuitEndsTheDialogWithoutAReply) {
    negotiate();
    EXPECT_EQ(send('Q', "", false), "");
}

TEST_F(DialogTest, QuitNewConnectionStartsANewSession) {
    open_transaction();
    EXPECT_EQ(dialog_->name(), "conn-1");
    EXPECT_TRUE(dialog_->in_transaction());
    EXPECT_EQ(send('K', ""), "");
    EXPECT_EQ(dialog_->name(), "conn-2");
    EXPECT_FALSE(dialog_->in_transaction());
    // Still negotiated: the new connection starts with 'C'.
    EXPECT_EQ(dialog_->max_packet_length(), proto::kMaxPacketLength);
    EXPECT_EQ(send('C', kConnect), simple('c'));
    EXPECT_EQ(send('M', z({"<x@remote.example>"})), "");
    EXPECT_EQ(send('R', z({"<alice@example.org>"})), simple('c'));
    // The old transaction's body is gone: a clean message passes.
    const auto p = packets(message("clean\r\n"));
    ASSERT_FALSE(p.empty());
    EXPECT_EQ(p.back().first, 'c');
}

// ---- end of message ----

TEST_F(DialogTest, EndOfMessageSendsEveryChangeThenTheVerdictInOneAppend) {
    open_transaction();
    EXPECT_EQ(send('R', z({"<alice@example.org>"})), simple('c'));  // level 1: inbox
    EXPECT_EQ(send('R', z({"<carol@example.org>"})), simple('c'));  // level 5: refused
    EXPECT_TRUE(dialog_->in_transaction());
    const std::string out =
        message("SCORE-SEVEN\r\n", {{"From", "x@remote.example"}, {"X-Spam-Status", "forged"}});
    EXPECT_FALSE(dialog_->in_transaction());
    const auto p = packets(out);
    EXPECT_EQ(commands(out), "-mhhhc");
    ASSERT_EQ(p.size(), 6u);
    EXPECT_EQ(p[0].second, z({"<carol@example.org>"}));
    EXPECT_EQ(p[1].second, be32(1) + z({"X-Spam-Status", ""}));
    EXPECT_EQ(p[2].second.substr(0, 13), "X-Spam-Score"s + '\0');
}

TEST_F(DialogTest, EndOfMessageRefusalIsOneReply) {
    open_transaction();
    EXPECT_EQ(send('R', z({"<bob@example.org>"})), simple('c'));
    EXPECT_EQ(message(kGtube), reply_code("550 5.7.1 Message refused as spam (score 1000.0)"));
}

TEST_F(DialogTest, AChangeThatCannotBeEncodedSendsNoneAnd451) {
    MilterConfig bounds;
    bounds.max_header_bytes = 2 * proto::kMaxPacketLength;  // the header is kept
    use_bounds(bounds);
    open_transaction();
    EXPECT_EQ(send('R', z({"<alice@example.org>"})), simple('c'));
    // An incoming X-Spam-* header whose name fits one 'L' packet (1 MiB) but not the 'm'
    // packet deleting it (index and two NULs more).
    const std::string name = "X-Spam-" + std::string(proto::kMaxPacketLength - 4 - 7, 'a');
    EXPECT_EQ(message("clean\r\n", {{"From", "x@remote.example"}, {name, ""}}),
              reply_code("451 4.3.0 Temporary internal failure, try again later"));
    EXPECT_FALSE(dialog_->in_transaction());
}

TEST_F(DialogTest, OverTheHeaderBoundIs552AtEndOfMessage) {
    MilterConfig bounds;
    bounds.max_headers = 1;
    use_bounds(bounds);
    open_transaction();
    EXPECT_EQ(send('R', z({"<alice@example.org>"})), simple('c'));
    const auto p = packets(message("clean\r\n"));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].first, 'y');
    EXPECT_EQ(p[0].second.substr(0, 10), "552 5.3.4 ");
}

// ---- a Reply as milter bytes ----

struct ReplyRow {
    const char* name;
    Reply reply;
    std::string want;
    bool encoded;
};

class EncodeReply : public ::testing::TestWithParam<ReplyRow> {};

TEST_P(EncodeReply, Row) {
    const auto& row = GetParam();
    std::string out = "before";
    EXPECT_EQ(encode_reply(out, row.reply), row.encoded);
    EXPECT_EQ(out, "before" + row.want);
}

INSTANTIATE_TEST_SUITE_P(
    Replies, EncodeReply,
    ::testing::Values(
        ReplyRow{"Proceed", Reply::ok(), simple('c'), true},
        ReplyRow{"RejectWithoutCode", Reply{Reply::Kind::reject, "", "", "x"}, simple('r'), true},
        ReplyRow{"TempfailWithoutCode", Reply{Reply::Kind::tempfail, "", "", ""}, simple('t'),
                 true},
        ReplyRow{"Shutdown", Reply::shutdown("bye"), reply_code("421 4.7.0 bye"), true},
        ReplyRow{"PercentDoubled", Reply::reject("550", "5.7.1", "100% spam, 50%% more"),
                 reply_code("550 5.7.1 100%% spam, 50%%%% more"), true},
        ReplyRow{"NoEnhancedCode", Reply::tempfail("451", "", "later"), reply_code("451 later"),
                 true},
        ReplyRow{"RejectTextWithNul", Reply::reject("550", "5.7.1", "a\0b"s), simple('r'), false},
        ReplyRow{"TempfailTextWithNul", Reply::tempfail("451", "4.3.0", "a\0b"s), simple('t'),
                 false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
