// LMTP codec: table-driven command parsing with boundary rows, the DATA decoder fed in
// every possible split, and the reverse encoder.
#include "lmtp_codec.hpp"

#include <gtest/gtest.h>

using namespace pampero::store::lmtp;

namespace {

struct Row {
    const char* line;
    int code;              // 0: parses
    const char* enhanced;  // for errors
};

// Readable, stable test names in ctest (instead of the struct's bytes).
void PrintTo(const Row& r, std::ostream* os) {
    std::string shown;
    for (const char* p = r.line; *p && shown.size() < 40; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        shown += (c < 0x20 || c >= 0x7f) ? std::string("?") : std::string(1, *p);
    }
    *os << '"' << shown << "\" -> " << r.code;
}

class ParseRows : public ::testing::TestWithParam<Row> {};

TEST_P(ParseRows, ReplyOrCommand) {
    const Row& r = GetParam();
    const Parsed p = parse_command(r.line);
    if (r.code == 0) {
        ASSERT_TRUE(p.command.has_value()) << r.line << " -> " << (p.error ? p.error->wire() : "");
        EXPECT_FALSE(p.error.has_value());
    } else {
        ASSERT_FALSE(p.command.has_value()) << r.line;
        ASSERT_TRUE(p.error.has_value());
        EXPECT_EQ(p.error->code, r.code) << r.line;
        EXPECT_EQ(p.error->enhanced, r.enhanced) << r.line;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Commands, ParseRows,
    ::testing::Values(
        Row{"LHLO mx.example", 0, ""}, Row{"lhlo mx", 0, ""}, Row{"LHLO", 501, "5.5.4"},
        Row{"LHLO a b", 501, "5.5.4"}, Row{"HELO mx", 500, "5.5.1"}, Row{"EHLO mx", 500, "5.5.1"},
        Row{"MAIL FROM:<a@b.c>", 0, ""}, Row{"mail from:<>", 0, ""},
        Row{"MAIL FROM: <a@b.c>", 0, ""}, Row{"MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME", 0, ""},
        Row{"MAIL FROM:<a@b.c> BODY=7bit", 0, ""},
        Row{"MAIL FROM:<a@b.c> BODY=BINARYMIME", 501, "5.5.4"},
        Row{"MAIL FROM:<a@b.c> SIZE=12x", 501, "5.5.4"},
        Row{"MAIL FROM:<a@b.c> SIZE=", 501, "5.5.4"},
        Row{"MAIL FROM:<a@b.c> SMTPUTF8", 555, "5.5.4"}, Row{"MAIL FROM:a@b.c", 501, "5.5.4"},
        Row{"MAIL TO:<a@b.c>", 501, "5.5.4"}, Row{"MAIL FROM:<a@b.c", 501, "5.5.4"},
        Row{"MAIL FROM:<a b@c>", 501, "5.5.4"}, Row{"MAIL FROM:<a@b.c>junk", 501, "5.5.4"},
        Row{"MAIL FROM:<a@b.c> =x", 501, "5.5.4"}, Row{"RCPT TO:<u@example.com>", 0, ""},
        Row{"RCPT TO:<@relay.example:u@example.com>", 0, ""}, Row{"RCPT TO:<>", 501, "5.1.3"},
        Row{"RCPT TO:u@example.com", 501, "5.5.4"},
        Row{"RCPT TO:<u@example.com> XPAMPERO-LOCAL", 0, ""},
        Row{"RCPT TO:<u@example.com> XPAMPERO-LOCAL=1", 555, "5.5.4"},
        Row{"RCPT TO:<u@example.com> NOTIFY=NEVER", 555, "5.5.4"},
        Row{"RCPT TO:<u@example.com> A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11", 501, "5.5.4"},
        Row{"DATA", 0, ""}, Row{"DATA x", 501, "5.5.4"}, Row{"RSET", 0, ""},
        Row{"NOOP anything", 0, ""}, Row{"QUIT", 0, ""}, Row{"QUIT now", 501, "5.5.4"},
        Row{"VRFY u", 0, ""}, Row{"", 500, "5.5.2"}, Row{"   ", 500, "5.5.2"},
        Row{"FOO bar", 500, "5.5.2"}, Row{"MAIL\x01 FROM:<a@b>", 500, "5.5.2"},
        Row{"GET / HTTP/1.0", 500, "5.5.2"}, Row{"XFORWARD IDENT=4XyZ1", 0, ""},
        Row{"xforward ident=+5BUNAVAILABLE+5D NAME=mx", 0, ""}, Row{"XFORWARD", 501, "5.5.4"},
        Row{"XFORWARD IDENT", 501, "5.5.4"}, Row{"XFORWARD =x", 501, "5.5.4"},
        Row{"XFORWARD IDENT=+4", 501, "5.5.4"}, Row{"XFORWARD IDENT=+4g", 501, "5.5.4"},
        Row{"XFORWARD A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11", 501, "5.5.4"}));

TEST(ParseCommand, XforwardAttributesAreXtextDecoded) {
    auto p = parse_command("XFORWARD ident=AB+2BC NAME=[UNAVAILABLE]");
    ASSERT_TRUE(p.command);
    EXPECT_EQ(p.command->verb, Verb::xforward);
    ASSERT_EQ(p.command->params.size(), 2u);
    EXPECT_EQ(p.command->params[0], (std::pair<std::string, std::string>{"IDENT", "AB+C"}));
    EXPECT_EQ(p.command->params[1].first, "NAME");
    EXPECT_TRUE(parse_command("XFORWARD IDENT=" + std::string(kMaxXforwardValue, 'a')).command);
    EXPECT_EQ(
        parse_command("XFORWARD IDENT=" + std::string(kMaxXforwardValue + 1, 'a')).error->code,
        501);
}

TEST(ParseCommand, FieldsOfMailAndRcpt) {
    auto p = parse_command("MAIL FROM:<Sender@Example.org> SIZE=4096 BODY=8BITMIME");
    ASSERT_TRUE(p.command);
    EXPECT_EQ(p.command->verb, Verb::mail);
    EXPECT_EQ(p.command->path, "Sender@Example.org");
    ASSERT_TRUE(p.command->size);
    EXPECT_EQ(*p.command->size, 4096u);

    p = parse_command("RCPT TO:<@a,@b:user@example.com> XPAMPERO-LOCAL");
    ASSERT_TRUE(p.command);
    EXPECT_EQ(p.command->path, "user@example.com");  // source route dropped
    EXPECT_TRUE(p.command->local_only);

    p = parse_command("MAIL FROM:<a@b> SIZE=99999999999999999999");  // 20 digits: saturates
    ASSERT_TRUE(p.command);
    EXPECT_EQ(*p.command->size, std::numeric_limits<std::uint64_t>::max());
}

TEST(ParseCommand, LineLengthBoundary) {
    // kMaxCommandLine includes the CRLF the session stripped.
    const std::string at_limit = "NOOP " + std::string(kMaxCommandLine - 2 - 5, 'x');
    EXPECT_TRUE(parse_command(at_limit).command);
    const std::string over = at_limit + "x";
    auto p = parse_command(over);
    ASSERT_TRUE(p.error);
    EXPECT_EQ(p.error->code, 500);
}

TEST(ParseCommand, PathLengthBoundary) {
    const std::string local(64, 'a');
    std::string domain;
    while (domain.size() < kMaxPath - local.size() - 1) domain += "b";
    const std::string addr = local + "@" + domain;  // exactly kMaxPath
    ASSERT_EQ(addr.size(), kMaxPath);
    EXPECT_TRUE(parse_command("RCPT TO:<" + addr + ">").command);
    auto p = parse_command("RCPT TO:<" + addr + "c>");
    ASSERT_TRUE(p.error);
    EXPECT_EQ(p.error->code, 501);
    EXPECT_EQ(p.error->enhanced, "5.1.3");
}

TEST(Reply, Wire) {
    EXPECT_EQ((Reply{250, "2.1.5", "Ok"}).wire(), "250 2.1.5 Ok\r\n");
    EXPECT_EQ((Reply{221, "", "Bye"}).wire(), "221 Bye\r\n");
    EXPECT_EQ(wire_multiline(250, {"a", "b", "c"}), "250-a\r\n250-b\r\n250 c\r\n");
}

std::string decode_all(const std::string& wire, std::size_t split, std::size_t limit,
                       bool* overflow, std::size_t* consumed) {
    DataDecoder d(limit);
    std::size_t used = d.feed(std::string_view(wire).substr(0, split));
    if (!d.done()) used += d.feed(std::string_view(wire).substr(split));
    *overflow = d.overflow();
    *consumed = used;
    EXPECT_TRUE(d.done());
    return d.message();
}

TEST(DataDecoder, EveryChunkSplitGivesTheSameMessage) {
    const std::string wire =
        "Subject: x\r\n\r\n..leading dot\r\n..\r\n.a\r\nbare\rcr\r\nlast\r\n.\r\nQUIT\r\n";
    const std::string want = "Subject: x\n\n.leading dot\n.\na\nbare\rcr\nlast\n";
    for (std::size_t split = 0; split <= wire.size(); ++split) {
        bool overflow = true;
        std::size_t consumed = 0;
        EXPECT_EQ(decode_all(wire, split, 1 << 20, &overflow, &consumed), want)
            << "split " << split;
        EXPECT_FALSE(overflow);
        EXPECT_EQ(wire.substr(consumed), "QUIT\r\n") << "split " << split;  // pipelined rest
    }
}

TEST(DataDecoder, EmptyMessageAndBareLf) {
    DataDecoder d(100);
    EXPECT_EQ(d.feed(".\r\n"), 3u);
    EXPECT_TRUE(d.done());
    EXPECT_EQ(d.message(), "");

    DataDecoder lf(100);
    lf.feed("a\nb\n.\n");
    EXPECT_TRUE(lf.done());
    EXPECT_EQ(lf.message(), "a\nb\n");
}

TEST(DataDecoder, LimitBoundary) {
    // The decoded message (LF line ends) may be exactly `limit` octets.
    DataDecoder at(4);
    at.feed("abc\r\n.\r\n");
    EXPECT_TRUE(at.done());
    EXPECT_FALSE(at.overflow());
    EXPECT_EQ(at.message(), "abc\n");

    DataDecoder over(4);
    over.feed("abcd\r\n");
    over.feed(std::string(100000, 'x'));  // keeps reading, keeps nothing
    EXPECT_FALSE(over.done());
    over.feed("\r\n.\r\n");
    EXPECT_TRUE(over.done());
    EXPECT_TRUE(over.overflow());
    EXPECT_TRUE(over.message().empty());
    EXPECT_GT(over.octets(), 100000u);
}

TEST(EncodeData, RoundTripsThroughTheDecoder) {
    const std::string msg = "A: b\n\n.dot\n..two\nplain\n.\nend";
    const std::string wire = encode_data(msg);
    EXPECT_EQ(wire, "A: b\r\n\r\n..dot\r\n...two\r\nplain\r\n..\r\nend\r\n.\r\n");
    DataDecoder d(1000);
    EXPECT_EQ(d.feed(wire), wire.size());
    EXPECT_EQ(d.message(), msg + "\n");
}

TEST(ParseReplyLine, Forms) {
    auto r = parse_reply_line("250-2.1.5 Ok then");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->more);
    EXPECT_EQ(r->reply.code, 250);
    EXPECT_EQ(r->reply.enhanced, "2.1.5");
    EXPECT_EQ(r->reply.text, "Ok then");

    r = parse_reply_line("220 mx ESMTP");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->more);
    EXPECT_EQ(r->reply.enhanced, "");
    EXPECT_EQ(r->reply.text, "mx ESMTP");

    r = parse_reply_line("452 4.3.1 Insufficient system storage");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->reply.temporary());
    EXPECT_EQ(r->reply.enhanced, "4.3.1");

    EXPECT_FALSE(parse_reply_line("25"));
    EXPECT_FALSE(parse_reply_line("abc def"));
    EXPECT_FALSE(parse_reply_line("250x"));
    EXPECT_FALSE(parse_reply_line("700 no"));
}

}  // namespace
