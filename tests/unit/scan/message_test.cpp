// Message parsing: golden files (tests/data/messages/NAME.eml -> NAME.expected) and
// robustness against malformed MIME. Set PAMPERO_REGENERATE_GOLDEN=1 to rewrite the
// expected files after an intended change, then review the diff.
#include "pampero/mime/message.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "pampero/mime/parsed_mime.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::shared_ptr<const DomainReducer> test_reducer() {
    const std::string d = std::string(PAMPERO_TEST_DATA) + "/surbl/";
    auto r = DomainReducer::load("", d + "two-level-tlds", d + "three-level-tlds");
    return r ? std::move(r).value() : nullptr;
}

std::string escape_lines(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\r')
            out += "\\r";
        else
            out.push_back(c);
    }
    return out;
}

// The golden form of a parse: stable, readable, one fact a line.
std::string dump(const Message& m) {
    std::ostringstream o;
    o << "== headers\n";
    for (const auto& h : m.headers) o << h.name << ": " << escape_lines(h.value) << "\n";
    o << "== mime\n" << m.mime_summary;
    o << "== body_text\n" << escape_lines(m.body_text) << "\n";
    o << "== uris\n";
    for (const auto& u : m.uris) {
        o << u.url << " host=" << u.host << " ip=" << u.host_is_ip << " domain=" << u.domain
          << " surbl=" << u.surbl_domain << " flags=" << u.flags << "\n";
    }
    o << "== received_ips\n";
    for (const auto& ip : m.received_ips()) o << ip << "\n";
    return o.str();
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, ParseMatchesExpected) {
    const std::filesystem::path dir = std::filesystem::path(PAMPERO_TEST_DATA) / "messages";
    const auto eml = dir / (GetParam() + ".eml");
    const auto expected = dir / (GetParam() + ".expected");
    ParseOptions o;
    o.domains = test_reducer();
    ASSERT_TRUE(o.domains);
    const std::string got = dump(parse_message(read_file(eml), o));
    if (std::getenv("PAMPERO_REGENERATE_GOLDEN")) {
        std::ofstream(expected, std::ios::binary) << got;
    }
    ASSERT_TRUE(std::filesystem::exists(expected))
        << expected << " missing (PAMPERO_REGENERATE_GOLDEN=1)";
    EXPECT_EQ(got, read_file(expected)) << "golden file " << expected;

    // The same from a parse shared with the virus scanner, as the milter does it.
    const std::string raw = read_file(eml);
    const ParsedMime shared(raw);
    o.parsed = &shared;
    EXPECT_EQ(dump(parse_message(raw, o)), got) << "shared parse of " << eml;
}

INSTANTIATE_TEST_SUITE_P(Messages, Golden,
                         ::testing::Values("rfc2047-headers", "html-tricks", "charsets-base64",
                                           "nested-rfc822", "broken-mime", "idn-uris"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (auto& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

TEST(Message, HeadersDecodedUnfoldedAndRawKept) {
    auto m = parse_message(
        "Subject: =?utf-8?q?Caf=C3=A9?=\r\n =?utf-8?b?IQ==?=\r\nX-A: one\r\n\ttwo\r\n\r\nbody\r\n",
        1 << 20);
    ASSERT_EQ(m.headers.size(), 2u);
    EXPECT_EQ(m.headers[0].value, "Caf\xC3\xA9!");
    EXPECT_EQ(m.headers[0].raw, "=?utf-8?q?Caf=C3=A9?= =?utf-8?b?IQ==?=");
    EXPECT_EQ(m.headers[1].value, "one\ttwo");  // RFC 5322 unfolding drops the CRLF only
    ASSERT_NE(m.find("x-a"), nullptr);
    EXPECT_EQ(m.body_text, "body\r\n");
}

TEST(Message, Utf8CheckedWhereverASequenceFallsInEightOctetBlocks) {
    // Undeclared 8-bit text is kept when it is UTF-8 and read as Windows-1252 otherwise;
    // the check skips ASCII eight octets at a time, so the sequences go at every offset.
    for (std::size_t pad = 0; pad < 20; ++pad) {
        const std::string ascii(pad, 'a');
        SCOPED_TRACE(pad);
        const auto text = [&](const std::string& tail) {
            return parse_message("Subject: x\r\n\r\n" + ascii + tail + "\r\n", 1 << 20).body_text;
        };
        EXPECT_EQ(text("\xc3\xa9 ok"), ascii + "\xc3\xa9 ok\r\n");            // UTF-8 e-acute
        EXPECT_EQ(text("\xe2\x82\xac"), ascii + "\xe2\x82\xac\r\n");          // UTF-8 euro
        EXPECT_EQ(text("\xe9t\xe9"), ascii + "\xc3\xa9t\xc3\xa9\r\n");        // Latin-1 e-acute
        EXPECT_EQ(text("12345678\x80"), ascii + "12345678\xe2\x82\xac\r\n");  // cp1252 euro
    }
}

TEST(Message, ASharedParseIsUsedWhateverTheScanLimit) {
    // The engine parses the whole input and bounds what it keeps, so the parse shared
    // with the virus scanner stands for it even when the message is over the limit.
    const std::string raw = "Subject: big\r\nContent-Type: text/plain\r\n\r\n" +
                            std::string(2000, 'a') + " http://tail.example.com/\r\n";
    const ParsedMime whole(raw);
    ParseOptions o;
    o.limit = 1000;
    o.parsed = &whole;
    const Message cut = parse_message(raw, o);
    EXPECT_TRUE(cut.truncated);
    EXPECT_EQ(cut.partial, "text");
    EXPECT_EQ(cut.body_text.size(), 999u);             // one part: the limit less one separator
    EXPECT_TRUE(cut.uris.empty()) << cut.uris[0].url;  // the link lies past the limit
    o.parsed = nullptr;
    EXPECT_EQ(dump(parse_message(raw, o)), dump(cut));
    o.limit = raw.size();
    o.parsed = &whole;
    const Message all = parse_message(raw, o);
    EXPECT_FALSE(all.truncated);
    ASSERT_EQ(all.uris.size(), 1u);
    EXPECT_EQ(all.uris[0].host, "tail.example.com");
}

TEST(Message, ScanLimitCutsWhatRulesSee) {
    std::string raw = "Subject: big\r\n\r\n" + std::string(5000, 'a') + "TAIL";
    auto m = parse_message(raw, 1000);
    EXPECT_TRUE(m.truncated);
    EXPECT_EQ(m.partial, "text");
    EXPECT_NE(m.mime_summary.find("\nscan partial cut=text\n"), std::string::npos)
        << m.mime_summary;
    EXPECT_EQ(m.raw.size(), 1000u);
    EXPECT_EQ(m.raw_body.size(), 1000u);
    EXPECT_LE(m.body_text.size(), 1000u);
    EXPECT_EQ(m.body_text.find("TAIL"), std::string::npos);
    auto whole = parse_message(raw, raw.size());
    EXPECT_FALSE(whole.truncated);
    EXPECT_EQ(whole.partial, "");
    EXPECT_EQ(whole.mime_summary.find("scan partial"), std::string::npos);
    EXPECT_NE(whole.body_text.find("TAIL"), std::string::npos);
}

// Issue 8: 100 KB of padding in one part hid the part after it from a 64 KB scan limit.
std::string padded_multipart(const std::string& pad_type, std::size_t pad,
                             const std::string& tail_part) {
    std::string raw =
        "Subject: padded\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=P\r\n\r\n";
    raw += "--P\r\nContent-Type: " + pad_type + "\r\n\r\n";
    for (std::size_t n = 0; n < pad;) {
        raw += "lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n";
        n += 58;
    }
    raw += "--P\r\n" + tail_part + "\r\n--P--\r\n";
    return raw;
}

TEST(Message, PaddingInOnePartDoesNotHideTheNext) {
    const std::string raw = padded_multipart(
        "text/plain", 100 * 1024,
        "Content-Type: text/plain\r\n\r\nTHE-HIDDEN-WORDS http://hidden.example.com/");
    const Message m = parse_message(raw, 64 * 1024);
    EXPECT_NE(m.body_text.find("THE-HIDDEN-WORDS"), std::string::npos);
    EXPECT_NE(m.decoded_body.find("THE-HIDDEN-WORDS"), std::string::npos);
    ASSERT_EQ(m.uris.size(), 1u);
    EXPECT_EQ(m.uris[0].host, "hidden.example.com");
    EXPECT_LE(m.body_text.size(), 64u * 1024);
    EXPECT_LE(m.decoded_body.size(), 64u * 1024);
    EXPECT_TRUE(m.truncated);  // the padding itself was cut
    EXPECT_EQ(m.partial, "text");
    // The padding part's size is what it is, not what was read of it.
    EXPECT_NE(m.mime_summary.find("plain_bytes="), std::string::npos);
    EXPECT_GT(m.parts[1].size, 64u * 1024);
}

TEST(Message, PaddingDoesNotHideHtmlInANestedAlternative) {
    const std::string tail =
        "Content-Type: multipart/related; boundary=R\r\n\r\n--R\r\n"
        "Content-Type: multipart/alternative; boundary=A\r\n\r\n"
        "--A\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
        "--A\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        // <p>HIDDEN-IN-HTML<a href="http://html.example.com/">x</a></p>
        "PHA+SElEREVOLUlOLUhUTUw8YSBocmVmPSJodHRwOi8vaHRtbC5leGFtcGxlLmNvbS8i"
        "Png8L2E+PC9wPg==\r\n--A--\r\n--R--";
    const std::string raw = padded_multipart("text/html", 200 * 1024, tail);
    const Message m = parse_message(raw, 64 * 1024);
    EXPECT_NE(m.body_text.find("HIDDEN-IN-HTML"), std::string::npos);
    EXPECT_NE(m.body_text.find("plain words"), std::string::npos);
    bool found = false;
    for (const auto& u : m.uris) found = found || u.host == "html.example.com";
    EXPECT_TRUE(found);
    EXPECT_EQ(m.partial, "text");
}

TEST(Message, AMessageThatFitsIsNotPartial) {
    const std::string raw =
        padded_multipart("text/plain", 10 * 1024, "Content-Type: text/plain\r\n\r\nend");
    const Message m = parse_message(raw, 64 * 1024);
    EXPECT_FALSE(m.truncated);
    EXPECT_EQ(m.mime_summary.find("scan partial"), std::string::npos);
    EXPECT_NE(m.body_text.find("end"), std::string::npos);
}

TEST(Message, ACutInputIsPartial) {
    ParseOptions o;
    o.cut = true;
    const Message m = parse_message("Subject: x\r\n\r\nshort\r\n", o);
    EXPECT_TRUE(m.truncated);
    EXPECT_EQ(m.partial, "input");
    EXPECT_NE(m.mime_summary.find("scan partial cut=input\n"), std::string::npos);
}

TEST(Message, ABigAttachmentDoesNotMakeAMessagePartial) {
    // `full` and `rawbody` read the first scan_limit bytes; the text is all read.
    std::string raw =
        "Subject: pdf\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
        "--B\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n";
    for (int i = 0; i < 2000; ++i) raw += std::string(76, 'Q') + "\r\n";
    raw += "--B--\r\n";
    const Message m = parse_message(raw, 16 * 1024);
    EXPECT_FALSE(m.truncated) << m.partial;
    EXPECT_EQ(m.parts[2].size, 2000u * 57);  // counted, decoded, not kept
}

// Issue 8: the Content-Transfer-Encoding behind 2,000 headers was lost; every header
// within the bounds is read, and GMime finds the structure whatever comes before it.
TEST(Message, StructureBehindThousandsOfHeadersIsFound) {
    std::string raw;
    for (int i = 0; i < 5000; ++i) raw += "X-Filler-" + std::to_string(i) + ": x\r\n";
    raw +=
        "Subject: late\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "SElEREVOLUJBU0U2NA==\r\n";  // HIDDEN-BASE64
    const Message m = parse_message(raw, 64 * 1024);
    EXPECT_EQ(m.headers.size(), 5003u);
    ASSERT_NE(m.find("subject"), nullptr);
    EXPECT_EQ(m.find("subject")->value, "late");
    EXPECT_NE(m.body_text.find("HIDDEN-BASE64"), std::string::npos) << m.body_text;
    EXPECT_FALSE(m.truncated) << m.partial;
}

TEST(FairShares, Rows) {
    struct Row {
        std::vector<std::size_t> sizes;
        std::size_t budget;
        std::vector<std::size_t> shares;
    };
    const Row rows[] = {
        {{}, 100, {}},
        {{10}, 100, {10}},
        {{1000}, 100, {100}},
        {{1000, 10}, 100, {90, 10}},  // the short part is whole, the long one gets the rest
        {{10, 1000, 1000}, 100, {10, 45, 45}},
        {{50, 50}, 100, {50, 50}},  // exactly the budget
        {{51, 50}, 100, {50, 50}},
        {{1000, 1000, 1000}, 100, {33, 33, 34}},
        {{0, 5, 1000}, 0, {0, 0, 0}},
    };
    for (const auto& r : rows) {
        const auto got = fair_shares(r.sizes, r.budget);
        EXPECT_EQ(got, r.shares) << "budget " << r.budget;
        std::size_t sum = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_LE(got[i], r.sizes[i]);
            sum += got[i];
        }
        EXPECT_LE(sum, r.budget);
    }
}

TEST(Message, NotMimeAtAllIsOnePlainPart) {
    auto m = parse_message("just some words, no headers http://www.example.com/x\n", 1 << 20);
    ASSERT_FALSE(m.parts.empty());
    EXPECT_NE(m.body_text.find("just some words"), std::string::npos);
    ASSERT_EQ(m.uris.size(), 1u);
    EXPECT_EQ(m.uris[0].domain, "example.com");
}

TEST(Message, EmptyInput) {
    auto m = parse_message("", 1 << 20);
    EXPECT_TRUE(m.headers.empty());
    EXPECT_TRUE(m.uris.empty());
}

TEST(Message, HeaderCountIsBounded) {
    std::string raw;
    for (int i = 0; i < 3000; ++i) raw += "X-H: " + std::to_string(i) + "\r\n";
    raw += "\r\nbody\r\n";
    auto all = parse_message(raw, 1 << 20);  // within the default bound: every one
    EXPECT_EQ(all.headers.size(), 3000u);
    EXPECT_FALSE(all.truncated);
    ParseOptions o;
    o.max_headers = 1000;
    auto m = parse_message(raw, o);
    EXPECT_EQ(m.headers.size(), 1000u);
    EXPECT_EQ(m.partial, "headers");  // never silently
    EXPECT_EQ(m.body_text, "body\r\n");
}

TEST(Message, HeaderBytesAreBounded) {
    std::string raw;
    for (int i = 0; i < 3000; ++i) raw += "X-H: " + std::to_string(i) + "\r\n";
    raw += "\r\nbody\r\n";
    ParseOptions o;
    o.max_header_bytes = 16 * 1024;
    auto m = parse_message(raw, o);
    EXPECT_LT(m.headers.size(), 3000u);
    EXPECT_GT(m.headers.size(), 1000u);
    EXPECT_EQ(m.partial, "headers");
}

TEST(Message, HeaderValueIsBounded) {
    std::string raw = "Subject: " + std::string(200 * 1024, 'x') + "\r\n\r\nbody\r\n";
    auto m = parse_message(raw, 1 << 20);
    ASSERT_FALSE(m.headers.empty());
    EXPECT_EQ(m.headers[0].value.size(), kMaxHeaderValue);
    EXPECT_EQ(m.partial, "headers");
    // Folded: the continuation lines count.
    std::string folded = "Subject: a";
    for (int i = 0; i < 2000; ++i) folded += "\r\n " + std::string(60, 'y');
    auto f = parse_message(folded + "\r\n\r\nbody\r\n", 1 << 20);
    EXPECT_LE(f.headers[0].value.size(), kMaxHeaderValue);
    EXPECT_GT(f.headers[0].value.size(), kMaxHeaderValue - 2048);
    EXPECT_EQ(f.partial, "headers");
    auto fits = parse_message("Subject: " + std::string(1000, 'x') + "\r\n\r\nbody\r\n", 1 << 20);
    EXPECT_FALSE(fits.truncated);
}

TEST(Message, AbsurdMultipartNestingIsCutAtMaxDepth) {
    std::string raw = "Subject: deep\r\n";
    for (int i = 0; i < 5000; ++i) {
        raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
               std::to_string(i) + "\r\n";
    }
    raw += "Content-Type: text/plain\r\n\r\ndeepest text\r\n";
    auto m = parse_message(raw, 4 << 20);
    std::size_t max_depth = 0;
    for (const auto& p : m.parts) max_depth = std::max(max_depth, p.depth);
    EXPECT_LT(max_depth, kMaxMimeDepth);
    EXPECT_LE(m.parts.size(), kMaxParts);
    EXPECT_EQ(m.partial, "parts");
}

TEST(Message, AbsurdRfc822NestingIsCutAtMaxDepth) {
    std::string raw = "Subject: deep\r\n";
    for (int i = 0; i < 5000; ++i) raw += "Content-Type: message/rfc822\r\n\r\n";
    raw += "Content-Type: text/plain\r\n\r\ndeepest text\r\n";
    auto m = parse_message(raw, 4 << 20);
    std::size_t max_depth = 0;
    for (const auto& p : m.parts) max_depth = std::max(max_depth, p.depth);
    EXPECT_LT(max_depth, kMaxMimeDepth);
    EXPECT_EQ(m.partial, "parts");
}

TEST(Message, PartCountIsBounded) {
    std::string raw = "Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n";
    for (int i = 0; i < 2000; ++i)
        raw += "--x\r\nContent-Type: text/plain\r\n\r\npart " + std::to_string(i) + "\r\n";
    raw += "--x--\r\n";
    auto m = parse_message(raw, 4 << 20);
    EXPECT_EQ(m.parts.size(), kMaxParts);
    EXPECT_EQ(m.partial, "parts");
}

TEST(Message, UriCountIsBounded) {
    std::string raw = "Subject: links\r\n\r\n";
    for (int i = 0; i < 3000; ++i) raw += "http://h" + std::to_string(i) + ".example.com/\n";
    auto m = parse_message(raw, 4 << 20);
    EXPECT_EQ(m.uris.size(), kMaxUris);
    EXPECT_NE(m.partial.find("uris"), std::string::npos) << m.partial;
}

TEST(Message, UrisAreDistinctAndFactsListed) {
    auto m = parse_message(
        "Subject: x\r\n\r\nhttp://www.example.com/ http://www.example.com/ http://a.example.com/ "
        "http://0x7f000001/ http://[2001:db8::1]/\r\n",
        1 << 20);
    EXPECT_EQ(m.uris.size(), 4u);
    EXPECT_EQ(m.uri_hosts(), (std::vector<std::string>{"www.example.com", "a.example.com"}));
    EXPECT_EQ(m.uri_domains(), (std::vector<std::string>{"example.com"}));
    EXPECT_EQ(m.uri_ips(), (std::vector<std::string>{"127.0.0.1"}));
}

TEST(Message, ReceivedIpsTopFirstFromClauseOnly) {
    auto m = parse_message(
        "Received: from a.example (a.example [198.51.100.1]) by mx.example (Postfix) with ESMTP id "
        "1\r\n"
        "Received: from b.example ([203.0.113.9] helo=b) by a.example [192.0.2.1]\r\n"
        "Received: by c.example [192.0.2.77] with local\r\n"
        "Received: from d ([IPv6:2001:db8::1]) by e\r\n"
        "Subject: x\r\n\r\nbody\r\n",
        1 << 20);
    EXPECT_EQ(m.received_ips(), (std::vector<std::string>{"198.51.100.1", "203.0.113.9"}));
}

// Only a dotted quad the lists can look up (common/strings.hpp's parse_ipv4) counts: an
// octet with a leading zero (octal to inet_aton) or over 255 is no address, and the next
// bracket of the same "from" clause is tried.
TEST(Message, ReceivedIpsAreStrictDottedQuads) {
    auto m = parse_message(
        "Received: from a ([01.2.3.4]) (b [198.51.100.7]) by mx\r\n"
        "Received: from c ([203.0.113.256]) by mx\r\n"
        "Received: from d ([203.0.113.09]) by mx\r\n"
        "Received: from e ([192.0.2.10]) by mx\r\n"
        "Subject: x\r\n\r\nbody\r\n",
        1 << 20);
    EXPECT_EQ(m.received_ips(), (std::vector<std::string>{"198.51.100.7", "192.0.2.10"}));
}

// Messages a fuzzer or a spammer might send: each must parse without crashing or
// hanging (the test has a timeout) and keep whatever text can be read.
TEST(Message, MalformedInputsParse) {
    const std::vector<std::string> inputs = {
        std::string("\0\0\0\0", 4),
        "Content-Type: multipart/mixed\r\n\r\n--\r\n--\r\n",  // no boundary parameter
        "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\nx\r\n",
        "Content-Type: text/plain; charset=\"\r\n\r\ntext\r\n",  // unterminated quote
        "Content-Transfer-Encoding: base64\r\n\r\n====////****\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n=4=G=\r\n",
        "Subject: =?utf-8?q?=?=\r\nFrom: =?=?=?\r\n\r\n",
        ":\r\n: :\r\n\r\n",
        std::string(100000, '<'),
        "Content-Type: text/html\r\n\r\n" + std::string(50000, '<') + "a href='" +
            std::string(50000, '"'),
        "Content-Type: text/html\r\n\r\n<a href=\"" + std::string(100000, 'x'),
        "Content-Type: text/html\r\n\r\n" + std::string(20000, '&') + "#x" +
            std::string(20000, 'F'),
        "Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfe\x41",
        "Subject: \xff\xfe\xfd\r\n\x80\x81: \xc0\xc1\r\n\r\n\xf5\xf6\xf7",
        "Content-Type: message/rfc822\r\n\r\n",
    };
    // What every parse promises, whatever the input: the raw message kept as received,
    // decoded text in valid UTF-8 (the rules' regexes run in UTF-8 mode), the same parse
    // every time, and a scan limit that never cuts silently.
    auto valid_utf8 = [](std::string_view s) {
        for (std::size_t i = 0; i < s.size();) {
            const auto c = static_cast<unsigned char>(s[i]);
            const std::size_t n = c < 0x80         ? 1
                                  : (c >> 5) == 6  ? 2
                                  : (c >> 4) == 14 ? 3
                                  : (c >> 3) == 30 ? 4
                                                   : 0;
            if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4))
                return false;
            for (std::size_t k = 1; k < n; ++k) {
                if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
            }
            i += n;
        }
        return true;
    };
    for (const auto& in : inputs) {
        SCOPED_TRACE(escape_lines(in.substr(0, 80)));
        auto m = parse_message(in, 1 << 20);
        EXPECT_FALSE(m.mime_summary.empty());
        EXPECT_EQ(m.raw, in);
        EXPECT_FALSE(m.truncated);
        EXPECT_TRUE(valid_utf8(m.body_text));
        EXPECT_TRUE(valid_utf8(m.decoded_body));
        for (const auto& u : m.uris) EXPECT_TRUE(valid_utf8(u.url)) << u.url;
        EXPECT_EQ(dump(parse_message(in, 1 << 20)), dump(m));
        if (in.size() > 8) {
            // A scan limit bounds what the rules read (raw: the message's first `limit`
            // bytes; each text part: its share) and never cuts silently: either the
            // message says it was partly scanned or the rules read all its text.
            const std::size_t limit = in.size() / 2;
            auto cut = parse_message(in, limit);
            EXPECT_EQ(cut.raw, in.substr(0, limit));
            EXPECT_FALSE(cut.mime_summary.empty());
            if (!cut.truncated) {
                EXPECT_EQ(cut.body_text, m.body_text);
                EXPECT_EQ(cut.decoded_body, m.decoded_body);
            } else {
                EXPECT_NE(cut.mime_summary.find("scan partial"), std::string::npos);
            }
        }
    }
}

TEST(Message, ParsesFromManyThreadsAtOnce) {
    const std::string raw =
        read_file(std::filesystem::path(PAMPERO_TEST_DATA) / "messages" / "html-tricks.eml");
    const std::string want = dump(parse_message(raw, 1 << 20));
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            int good = 0;
            for (int i = 0; i < 50; ++i) good += dump(parse_message(raw, 1 << 20)) == want ? 1 : 0;
            ok[static_cast<std::size_t>(t)] = good;
        });
    }
    for (auto& t : threads) t.join();
    for (int v : ok) EXPECT_EQ(v, 50);
}

}  // namespace
