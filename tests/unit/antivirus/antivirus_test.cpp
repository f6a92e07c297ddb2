// libclamav in-process, with signatures the test writes itself (no download here): an
// .ndb body signature for the EICAR test string.
#include "pampero/antivirus/antivirus.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "pampero/mime/message.hpp"
#include "pampero/mime/mime_leaves.hpp"  // what decides how a message is scanned

using namespace pampero;
using namespace pampero::scan;

namespace {

// Assembled at run time so this source file itself is no EICAR carrier.
std::string eicar() {
    return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") +
           "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += t[(n >> 6) & 63];
        out += t[n & 63];
    }
    if (i < in.size()) {
        unsigned n = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

class AntivirusTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("pampero-av-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        std::ofstream(dir_ / "pampero-test.ndb")
            << "Pampero.Test.EICAR:0:*:" << hex(eicar()) << "\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

}  // namespace

TEST_F(AntivirusTest, FindsEicarInPlainAndEncodedMail) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av) << av.error().message;
    EXPECT_EQ((*av)->signatures(), 1u);

    EXPECT_EQ((*av)->scan("Subject: hi\r\n\r\nnothing to see\r\n").outcome,
              VirusScan::Outcome::clean);
    auto plain = (*av)->scan("Subject: hi\r\n\r\n" + eicar() + "\r\n");
    EXPECT_EQ(plain.outcome, VirusScan::Outcome::virus);
    EXPECT_NE(plain.detail.find("Pampero.Test.EICAR"), std::string::npos) << plain.detail;

    const std::string mime =
        "From: a@example.org\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
        "--XYZ\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        "--XYZ\r\nContent-Type: application/octet-stream; name=\"invoice.com\"\r\n"
        "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
        "filename=\"invoice.com\"\r\n\r\n" +
        base64(eicar()) + "\r\n--XYZ--\r\n";
    auto attached = (*av)->scan(mime);
    EXPECT_EQ(attached.outcome, VirusScan::Outcome::virus) << attached.detail;
}

TEST_F(AntivirusTest, OverMaxSizeIsSkippedNotCleared) {
    auto av = Antivirus::load(dir_.string(), 64);
    ASSERT_TRUE(av);
    auto r = (*av)->scan(std::string(65, 'a'));
    EXPECT_EQ(r.outcome, VirusScan::Outcome::skipped);
    EXPECT_EQ((*av)->scan(std::string(64, 'a')).outcome, VirusScan::Outcome::clean);
}

TEST_F(AntivirusTest, BadOrMissingSignaturesAreConfigErrors) {
    auto missing = Antivirus::load((dir_ / "nope").string(), 1 << 20);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::config);
    std::ofstream(dir_ / "broken.ndb") << "this is not a signature\n";
    auto broken = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().kind, ErrorKind::config);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto empty = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_FALSE(empty);
}

TEST_F(AntivirusTest, WatcherSwapsOnChangeAndKeepsTheOldEngineOnABrokenSet) {
    auto first = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_TRUE(first);
    AntivirusWatcher w(dir_.string(), 1 << 20, *first);
    ASSERT_TRUE(w.refresh());
    EXPECT_EQ(w.get(), *first);  // nothing changed: same engine

    std::ofstream(dir_ / "more.ndb")
        << "Pampero.Test.Marker:0:*:" << hex("PAMPERO-AV-MARKER-1234") << "\n";
    ASSERT_TRUE(w.refresh());
    auto second = w.get();
    EXPECT_NE(second, *first);
    EXPECT_EQ(second->signatures(), 2u);
    EXPECT_EQ(second->scan("x PAMPERO-AV-MARKER-1234 y").outcome, VirusScan::Outcome::virus);
    EXPECT_EQ((*first)->scan("x PAMPERO-AV-MARKER-1234 y").outcome,
              VirusScan::Outcome::clean);  // old one still usable

    std::ofstream(dir_ / "zz-broken.ndb") << "garbage line\n";
    EXPECT_FALSE(w.refresh());
    EXPECT_EQ(w.get(), second);  // the broken set is refused, the running engine stays
    EXPECT_TRUE(w.refresh());    // and is not rebuilt again until it changes
}

TEST_F(AntivirusTest, ConcurrentScansShareOneEngine) {
    auto av = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_TRUE(av);
    std::atomic<int> viruses{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                if ((*av)->scan("Subject: x\r\n\r\n" + eicar()).outcome ==
                    VirusScan::Outcome::virus)
                    ++viruses;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(viruses.load(), 200);
}

namespace {

// Every octet as =XX: the EICAR string appears nowhere in the raw message, only in the
// part GMime decodes.
std::string quoted_printable_all(const std::string& in) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : in) {
        out += '=';
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::uint32_t crc32(const std::string& s) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void le(std::string& out, std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A ZIP archive holding one stored (uncompressed) file: what libclamav has to unpack.
std::string zip_one(const std::string& name, const std::string& data) {
    std::string local, central, end;
    const auto n = static_cast<std::uint32_t>(data.size());
    const auto nl = static_cast<std::uint32_t>(name.size());
    le(local, 0x04034b50, 4), le(local, 10, 2), le(local, 0, 2), le(local, 0, 2), le(local, 0, 4);
    le(local, crc32(data), 4), le(local, n, 4), le(local, n, 4), le(local, nl, 2), le(local, 0, 2);
    local += name + data;
    le(central, 0x02014b50, 4), le(central, 20, 2), le(central, 10, 2), le(central, 0, 2);
    le(central, 0, 2), le(central, 0, 4), le(central, crc32(data), 4), le(central, n, 4);
    le(central, n, 4), le(central, nl, 2), le(central, 0, 2), le(central, 0, 2), le(central, 0, 2);
    le(central, 0, 2), le(central, 0, 4), le(central, 0, 4);
    central += name;
    le(end, 0x06054b50, 4), le(end, 0, 2), le(end, 0, 2), le(end, 1, 2), le(end, 1, 2);
    le(end, static_cast<std::uint32_t>(central.size()), 4);
    le(end, static_cast<std::uint32_t>(local.size()), 4), le(end, 0, 2);
    return local + central + end;
}

// A classic uuencoding (begin/end lines, 45 octets a line).
std::string uuencode(const std::string& name, const std::string& in) {
    auto enc = [](unsigned v) { return static_cast<char>(v ? (v & 63) + 32 : '`'); };
    std::string out = "begin 644 " + name + "\n";
    for (std::size_t i = 0; i < in.size(); i += 45) {
        const std::string chunk = in.substr(i, 45);
        out += enc(static_cast<unsigned>(chunk.size()));
        for (std::size_t j = 0; j < chunk.size(); j += 3) {
            unsigned char b[3] = {0, 0, 0};
            for (std::size_t k = 0; k < 3 && j + k < chunk.size(); ++k)
                b[k] = static_cast<unsigned char>(chunk[j + k]);
            out += enc(b[0] >> 2);
            out += enc(((b[0] & 3u) << 4) | (b[1] >> 4));
            out += enc(((b[1] & 15u) << 2) | (b[2] >> 6));
            out += enc(b[2] & 63u);
        }
        out += "\n";
    }
    return out + "`\nend\n";
}

const std::string kMultipartHead =
    "From: a@example.org\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: "
    "text/plain\r\n\r\nsee attached\r\n";

}  // namespace

// Each part is scanned as GMime decodes it, so an encoding that hides the string from the
// raw message hides nothing.
TEST_F(AntivirusTest, FindsEicarInEveryPartGMimeDecodes) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av) << av.error().message;
    const std::string qp =
        "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
        quoted_printable_all(eicar()) + "\r\n";
    ASSERT_EQ(qp.find("EICAR"), std::string::npos);
    EXPECT_EQ((*av)->scan(qp).outcome, VirusScan::Outcome::virus);

    const std::string inner =
        "Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        base64(eicar()) + "\r\n";
    const std::string nested =
        kMultipartHead + "--XYZ\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--XYZ--\r\n";
    EXPECT_EQ((*av)->scan(nested).outcome, VirusScan::Outcome::virus);
    // The same structure without the string is clean: the finding above is the string's.
    const std::string clean_inner = "Subject: fwd\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                                    base64("just a forwarded note") + "\r\n";
    EXPECT_EQ((*av)
                  ->scan(kMultipartHead + "--XYZ\r\nContent-Type: message/rfc822\r\n\r\n" +
                         clean_inner + "--XYZ--\r\n")
                  .outcome,
              VirusScan::Outcome::clean);
}

// libclamav's other parsers still run on the decoded parts: it unpacks an attached ZIP.
TEST_F(AntivirusTest, UnpacksAnArchiveAttachment) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av);
    auto mail = [](const std::string& content) {
        return kMultipartHead +
               "--XYZ\r\nContent-Type: application/zip; "
               "name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n"
               "Content-Disposition: attachment; filename=\"a.zip\"\r\n\r\n" +
               base64(zip_one("readme.com", content)) + "\r\n--XYZ--\r\n";
    };
    EXPECT_EQ((*av)->scan(mail(eicar())).outcome, VirusScan::Outcome::virus);
    EXPECT_EQ((*av)->scan(mail("harmless text")).outcome, VirusScan::Outcome::clean);
}

// What GMime leaves encoded (uuencode inside a text body) goes to libclamav's own mail
// parser, which undoes it.
TEST_F(AntivirusTest, FindsEicarUuencodedInsideATextBody) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av);
    const std::string uu = uuencode("eicar.com", eicar());
    ASSERT_EQ(uu.find("EICAR"), std::string::npos);
    // Headers libclamav recognises as mail (a bare "Subject:" is not enough for it).
    const std::string head =
        "From: a@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\n\r\nHere it is:\n\n";
    EXPECT_EQ((*av)->scan(head + uu + "\nbye\n").outcome, VirusScan::Outcome::virus);
    EXPECT_EQ((*av)->scan(head + uuencode("note.txt", "harmless") + "\nbye\n").outcome,
              VirusScan::Outcome::clean);
}

TEST(MimeLeaves, DecodesEachLeafPart) {
    const std::string m =
        kMultipartHead +
        "--XYZ\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "<p>caf=C3=A9</p>\r\n--XYZ\r\nContent-Type: application/pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        base64("%PDF-1.4 tiny") + "\r\n--XYZ--\r\n";
    const MimeLeaves l = mime_leaves(m);
    EXPECT_FALSE(l.whole_message);
    ASSERT_EQ(l.contents.size(), 3u);
    EXPECT_EQ(l.contents[0], "see attached");  // the CRLF before a boundary is the boundary's
    EXPECT_EQ(l.contents[1], "<p>caf\xc3\xa9</p>");
    EXPECT_EQ(l.contents[2], "%PDF-1.4 tiny");

    const MimeLeaves headers_only = mime_leaves("Subject: nothing\r\n");
    EXPECT_FALSE(headers_only.whole_message);
    EXPECT_TRUE(headers_only.contents.empty());
}

// Rows: what makes the caller hand the whole message to libclamav's mail parser.
TEST(MimeLeaves, LeavesToLibclamavWhatGMimeDoesNotUndo) {
    struct Row {
        std::string body;
        bool whole;
    };
    const std::vector<Row> rows = {
        {"begin 644 a.exe\nM5&AE\n`\nend\n", true},           // uuencode at the start
        {"text\r\nbegin 0755 run.sh\r\n`\r\nend\r\n", true},  // after a CRLF line
        {"text\nbegin 644 x", true},                          // last line, no newline
        {"we begin 644 days\n", false},                       // not at a line start
        {"begin 8 x\n", false},                               // not an octal mode
        {"begin 6\n", false},                                 // too short to be one
        {"begin meeting at 10\n", false},
        {"x\n=ybegin line=128 size=4 name=a\n", true},  // yEnc
        {"(This file must be converted with BinHex 4.0)\n:", true},
        {"plain words\n", false},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(mime_leaves("Subject: t\r\n\r\n" + r.body).whole_message, r.whole) << r.body;
    }
    auto part = [](const std::string& headers) {
        return kMultipartHead + "--XYZ\r\n" + headers + "\r\n\r\nAAAA\r\n--XYZ--\r\n";
    };
    EXPECT_TRUE(mime_leaves(part("Content-Type: application/ms-tnef")).whole_message);
    EXPECT_TRUE(mime_leaves(part("Content-Type: application/vnd.ms-tnef")).whole_message);
    EXPECT_TRUE(mime_leaves(part("Content-Type: application/octet-stream; name=\"WINMAIL.DAT\""))
                    .whole_message);
    EXPECT_TRUE(
        mime_leaves(part("Content-Type: message/partial; id=\"x\"; number=1")).whole_message);
    EXPECT_FALSE(mime_leaves(part("Content-Type: application/octet-stream; name=\"report.dat\""))
                     .whole_message);
}

// Past the engine's bounds nothing is skipped: the whole message goes to libclamav.
TEST(MimeLeaves, DeepNestingGoesToLibclamav) {
    auto nested = [](std::size_t depth) {
        std::string head, tail;
        for (std::size_t i = 0; i < depth; ++i) {
            head += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) +
                    "\"\r\n\r\n--b" + std::to_string(i) + "\r\n";
            tail = "\r\n--b" + std::to_string(i) + "--" + tail;
        }
        return "Subject: deep\r\nMIME-Version: 1.0\r\n" + head +
               "Content-Type: text/plain\r\n\r\nleaf" + tail + "\r\n";
    };
    const MimeLeaves shallow = mime_leaves(nested(3));
    EXPECT_FALSE(shallow.whole_message);
    ASSERT_EQ(shallow.contents.size(), 1u);
    EXPECT_EQ(shallow.contents[0].substr(0, 4), "leaf");
    EXPECT_TRUE(mime_leaves(nested(kMaxMimeDepth + 2)).whole_message);
}

// The milter parses a message once for the virus scanner and the engine: each reads the
// shared parse as if it were its own, in either order and more than once (decoding a
// part must not use it up).
TEST_F(AntivirusTest, OneParseServesTheVirusScanAndTheEngine) {
    auto av = Antivirus::load(dir_.string(), 10 << 20);
    ASSERT_TRUE(av);
    const std::string m =
        kMultipartHead +
        "--XYZ\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "<p>visit <a href=3D\"http://shop.example.com/\">us</a></p>\r\n--XYZ\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        base64(eicar()) + "\r\n--XYZ--\r\n";
    const ParsedMime parsed(m);
    const Message alone = parse_message(m, 1 << 20);
    ParseOptions o;
    o.limit = 1 << 20;
    o.parsed = &parsed;
    for (int round = 0; round < 2; ++round) {
        const Message shared = parse_message(m, o);
        EXPECT_EQ(shared.body_text, alone.body_text);
        EXPECT_EQ(shared.mime_summary, alone.mime_summary);
        ASSERT_EQ(shared.uris.size(), 1u);
        EXPECT_EQ(shared.uris[0].host, "shop.example.com");

        const MimeLeaves leaves = mime_leaves(m, &parsed);
        EXPECT_EQ(leaves.contents, mime_leaves(m).contents);
        ASSERT_EQ(leaves.contents.size(), 3u);
        EXPECT_EQ(leaves.contents[2], eicar());
        EXPECT_EQ((*av)->scan(m, &parsed).outcome, VirusScan::Outcome::virus);
    }
    // A parse of other bytes (here: of a clean message of another length) is not taken
    // for this message's.
    const ParsedMime other("Subject: other\r\n\r\nclean\r\n");
    EXPECT_EQ((*av)->scan(m, &other).outcome, VirusScan::Outcome::virus);
    EXPECT_EQ(mime_leaves(m, &other).contents.size(), 3u);
}

// Regression (issue 8): a signature folder removed while running has the empty
// fingerprint, which was also the "nothing failed yet" value, so it was taken as already
// reported and nothing was said. Now: reported once, the old engine keeps serving, and
// the folder's return is a reload.
TEST_F(AntivirusTest, WatcherReportsARemovedFolderOnceAndReloadsWhenItReturns) {
    auto first = Antivirus::load(dir_.string(), 1 << 20);
    ASSERT_TRUE(first);
    AntivirusWatcher w(dir_.string(), 1 << 20, *first);
    std::filesystem::remove_all(dir_);
    auto gone = w.refresh();
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, ErrorKind::temporary);
    EXPECT_NE(gone.error().message.find(dir_.string()), std::string::npos);
    EXPECT_EQ(w.get(), *first);  // the running engine keeps serving
    EXPECT_TRUE(w.refresh());    // said once, not at every check

    std::filesystem::create_directories(dir_);  // emptied is the same as gone
    EXPECT_TRUE(w.refresh());
    EXPECT_EQ(w.get(), *first);

    std::ofstream(dir_ / "pampero-test.ndb") << "Pampero.Test.EICAR:0:*:" << hex(eicar()) << "\n";
    ASSERT_TRUE(w.refresh());
    EXPECT_NE(w.get(), *first);  // back: a new engine
    EXPECT_EQ(w.get()->scan(eicar()).outcome, VirusScan::Outcome::virus);

    std::filesystem::remove_all(dir_);  // and a second removal is reported again
    EXPECT_FALSE(w.refresh());
}
