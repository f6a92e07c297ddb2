// The signed spam verdict: key files, the body hash, sign and verify. Linked against
// pampero-verdict alone (no GMime, no engine), as the store will be.
#include "pampero/verdict/verdict_signature.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "test_support.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

const std::string kHexA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kHexB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kWeek = 7 * 86400;

VerdictKeys keys(const std::string& text) {
    auto k = VerdictKeys::parse(text, "test.keys");
    if (!k) throw std::runtime_error(k.error().message);
    return std::move(k).value();
}

// A message as the store gets it, with the verdict headers the milter would add.
std::string signed_message(const VerdictKey& key, const std::string& score, const std::string& body,
                           std::int64_t t = kNow) {
    VerdictFields f{score, "No, score=" + score + " tag=5.0 tests=none", "Hello there",
                    "<1@example.org>", body_hash(body)};
    return "Received: from mx by store\n"
           "Subject: Hello there\n"
           "Message-ID: <1@example.org>\n"
           "X-Spam-Score: " +
           score +
           "\n"
           "X-Spam-Status: " +
           f.status +
           "\n"
           "X-Spam-Signature: " +
           sign_verdict(key, t, f) +
           "\n"
           "\n" +
           body;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
}

}  // namespace

TEST(VerdictKeys, ParsesHexBase64CommentsAndOrder) {
    // 32 bytes of 0x41 in base64.
    const auto k = keys(
        "# rotation: new key second, then first\n"
        "k2024 " +
        kHexA +
        "   # the signing key\n"
        "\n"
        "   old.key_1  QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n");
    ASSERT_EQ(k.keys().size(), 2u);
    EXPECT_EQ(k.signing().id, "k2024");
    EXPECT_EQ(k.signing().secret.size(), 32u);
    EXPECT_EQ(static_cast<unsigned char>(k.signing().secret[1]), 0x11);
    ASSERT_NE(k.find("old.key_1"), nullptr);
    EXPECT_EQ(k.find("old.key_1")->secret, std::string(32, 'A'));
    EXPECT_EQ(k.find("nope"), nullptr);
}

TEST(VerdictKeys, BadFilesAreConfigErrorsNamingFileAndLine) {
    struct Case {
        std::string text;
        std::string expect;
    };
    const Case cases[] = {
        {"", "test.keys: no key"},
        {"# only a comment\n", "test.keys: no key"},
        {"k1\n", "test.keys:1: key 'k1' has no secret"},
        {"\nk1 " + kHexA + " extra\n", "test.keys:2: expected 'KEYID SECRET'"},
        {"k/1 " + kHexA + "\n", "test.keys:1: key id must be"},
        {"k1 " + kHexA + "\nk1 " + kHexB + "\n", "test.keys:2: key id 'k1' appears twice"},
        {"k1 c2hvcnQ=\n", "test.keys:1: key 'k1': the secret is 5 bytes, at least 32"},
        {"k1 " + kHexA.substr(0, 62) + "\n",
         "test.keys:1: key 'k1': the secret is neither hex nor base64"},
        {"k1 not*base64*at*all*not*base64*at*all*not*base64*at*all*xx\n", "neither hex nor base64"},
    };
    for (const auto& c : cases) {
        auto k = VerdictKeys::parse(c.text, "test.keys");
        ASSERT_FALSE(k) << c.text;
        EXPECT_EQ(k.error().kind, ErrorKind::config);
        EXPECT_NE(k.error().message.find(c.expect), std::string::npos) << k.error().message;
        EXPECT_EQ(k.error().message.find(kHexA.substr(0, 16)), std::string::npos)
            << "secret echoed";
    }
}

TEST(VerdictKeys, FileReadableByOthersOrMissingIsRefused) {
    const std::string path =
        pampero::testing::write_temp("pampero-verdict", "v.keys", "k1 " + kHexA + "\n");
    ASSERT_EQ(chmod(path.c_str(), 0640), 0);
    auto ok = VerdictKeys::load(path);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ((*ok)->signing().id, "k1");
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);
    auto open = VerdictKeys::load(path);
    ASSERT_FALSE(open);
    EXPECT_EQ(open.error().kind, ErrorKind::config);
    EXPECT_NE(open.error().message.find(path + ": readable by others (mode 0644)"),
              std::string::npos)
        << open.error().message;
    auto missing = VerdictKeys::load(path + ".absent");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find(path + ".absent"), std::string::npos);
}

TEST(BodyHash, EmptyBodiesAndResetsStartFromNothing) {
    // SHA-256 of no bytes: an empty body, a body of whitespace, a finish() right after
    // another, and a reset() in the middle of a body all hash what came after.
    const std::string empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    EXPECT_EQ(body_hash(""), empty);
    EXPECT_EQ(body_hash(" \r\n\t\n"), empty);
    BodyHash h;
    EXPECT_EQ(h.finish(), empty);
    h.update("lost");
    h.reset();
    h.reset();
    EXPECT_EQ(h.finish(), empty);
    h.update("lost");
    h.reset();
    h.update("kept\r\n");
    EXPECT_EQ(h.finish(), body_hash("kept"));
    EXPECT_EQ(h.finish(), empty);
}

TEST(BodyHash, IgnoresWhitespaceLineEndsChunksAndLineBreaking) {
    const std::string milter_view = "Hello world,\r\n\r\n.a dotted line\r\nbye\r\n";
    const std::string store_view = "Hello world,\n\n.a dotted line\nbye\n";
    const std::string h = body_hash(milter_view);
    EXPECT_EQ(h.size(), 44u);  // base64 of 32 bytes
    EXPECT_EQ(body_hash(store_view), h);
    EXPECT_EQ(body_hash("Hello  world,\n\t\n.a dotted\r\n line\nbye"),
              h);  // folded, no final newline
    BodyHash chunks;
    for (char c : milter_view) chunks.update(std::string_view(&c, 1));
    EXPECT_EQ(chunks.finish(), h);
    chunks.update(store_view);  // finish() starts over
    EXPECT_EQ(chunks.finish(), h);
    EXPECT_NE(body_hash("Hello world,\n.a dotted line\nbye!\n"), h);
    EXPECT_NE(body_hash(""), h);
    // Longer than the hasher's block, whitespace at the block edges.
    std::string big;
    for (int i = 0; i < 3000; ++i) big += "abc \r\n";
    std::string squeezed;
    for (int i = 0; i < 3000; ++i) squeezed += "abc";
    EXPECT_EQ(body_hash(big), body_hash(squeezed));
}

TEST(Verdict, SignedMessageVerifiesWithItsScore) {
    const auto k = keys("k1 " + kHexA + "\n");
    const auto c =
        verify_message_verdict(&k, signed_message(k.signing(), "7.3", "body\n"), kNow + 60, kWeek);
    EXPECT_EQ(c.outcome, VerdictCheck::Outcome::valid) << c.reason;
    EXPECT_EQ(c.key_id, "k1");
    ASSERT_TRUE(c.score);
    EXPECT_DOUBLE_EQ(*c.score, 7.3);
    // CRLF line ends and a folded, re-spaced header verify the same.
    std::string crlf;
    for (char ch : signed_message(k.signing(), "7.3", "body\n")) {
        if (ch == '\n') crlf += '\r';
        crlf += ch;
    }
    EXPECT_EQ(verify_message_verdict(&k, crlf, kNow, kWeek).outcome, VerdictCheck::Outcome::valid);
    const auto folded = replace(signed_message(k.signing(), "7.3", "body\n"),
                                "Subject: Hello there", "Subject:Hello\n there");
    EXPECT_EQ(verify_message_verdict(&k, folded, kNow, kWeek).outcome,
              VerdictCheck::Outcome::valid);
}

TEST(Verdict, TamperingIsInvalid) {
    const auto k = keys("k1 " + kHexA + "\n");
    const std::string m = signed_message(k.signing(), "7.3", "buy now\n");
    struct Case {
        std::string message;
        std::string reason;
    };
    const Case cases[] = {
        {replace(m, "X-Spam-Score: 7.3", "X-Spam-Score: -99"), "does not match"},
        {replace(m, "tests=none", "tests=WHITELISTED"), "does not match"},
        {replace(m, "Subject: Hello there", "Subject: Invoice"), "does not match"},
        {replace(m, "Message-ID: <1@", "Message-ID: <2@"), "does not match"},
        {replace(m, "\nbuy now\n", "\nbuy later\n"),
         "body is not the one signed"},  // replayed signature
        {replace(m, "; t=", "; t=1"), "does not match"},
        {replace(m, "k=k1", "k=k9"), "unknown key 'k9'"},
        {replace(m, "v=1", "v=2"), "not version 1"},
        {replace(m, "X-Spam-Signature: v=1;", "X-Spam-Signature: v=1; x=y;"), "unknown tag"},
        {replace(m, "X-Spam-Score: 7.3\n", "X-Spam-Score: 7.3\nX-Spam-Score: -99\n"),
         "more than once"},
        {replace(m, "X-Spam-Score: 7.3\n", "X-Spam-Score: 7.3\nx-spam-score : -99\n"),
         "more than once"},
        {replace(m, "X-Spam-Score: 7.3\n", ""), "without X-Spam-Score"},
        {replace(m, "X-Spam-Signature: v=1;", "X-Spam-Signature: garbage;"), "malformed"},
        {"X-Spam-Signature: " + std::string(2000, 'a') + "\nX-Spam-Score: 1\n\nx\n", "too long"},
    };
    for (const auto& c : cases) {
        const auto r = verify_message_verdict(&k, c.message, kNow, kWeek);
        EXPECT_EQ(r.outcome, VerdictCheck::Outcome::invalid) << c.message;
        EXPECT_FALSE(r.score);
        EXPECT_NE(r.reason.find(c.reason), std::string::npos) << r.reason << "\n" << c.message;
    }
}

TEST(Verdict, UnsignedAgeAndNoKeys) {
    const auto k = keys("k1 " + kHexA + "\n");
    auto u = verify_message_verdict(&k, "Subject: x\nX-Spam-Score: -99\n\nbody\n", kNow, kWeek);
    EXPECT_EQ(u.outcome, VerdictCheck::Outcome::unsigned_verdict);
    EXPECT_EQ(u.reason, "X-Spam-Score without X-Spam-Signature");
    EXPECT_FALSE(u.score);
    // The signature must be in the header section, not the body.
    u = verify_message_verdict(&k, "Subject: x\n\n" + signed_message(k.signing(), "1.0", "b\n"),
                               kNow, kWeek);
    EXPECT_EQ(u.outcome, VerdictCheck::Outcome::unsigned_verdict);

    // Nor after a line that ends the header section as Postfix ends it.
    u = verify_message_verdict(
        &k, "Subject: x\nnot a header\n" + signed_message(k.signing(), "1.0", "b\n"), kNow, kWeek);
    EXPECT_EQ(u.outcome, VerdictCheck::Outcome::unsigned_verdict);

    const std::string old = signed_message(k.signing(), "1.0", "b\n", kNow - kWeek - 1);
    EXPECT_EQ(verify_message_verdict(&k, old, kNow, kWeek).outcome, VerdictCheck::Outcome::invalid);
    EXPECT_NE(verify_message_verdict(&k, old, kNow, kWeek).reason.find("older than"),
              std::string::npos);
    EXPECT_EQ(verify_message_verdict(&k, old, kNow, 0).outcome,
              VerdictCheck::Outcome::valid);  // no limit
    const std::string future =
        signed_message(k.signing(), "1.0", "b\n", kNow + kVerdictClockSkew + 1);
    EXPECT_EQ(verify_message_verdict(&k, future, kNow, kWeek).outcome,
              VerdictCheck::Outcome::invalid);

    // No key file here: nothing verifies.
    const auto none =
        verify_message_verdict(nullptr, signed_message(k.signing(), "1.0", "b\n"), kNow, kWeek);
    EXPECT_EQ(none.outcome, VerdictCheck::Outcome::invalid);
    EXPECT_NE(none.reason.find("no verdict_keys"), std::string::npos);
}

TEST(Verdict, RotationOldKeyStillVerifiesNewKeySigns) {
    const auto before = keys("old " + kHexA + "\n");
    const auto during = keys("old " + kHexA + "\nnew " + kHexB + "\n");  // step 1: new key second
    const auto moved = keys("new " + kHexB + "\nold " + kHexA + "\n");   // step 2: new key first
    const auto after = keys("new " + kHexB + "\n");                      // step 3: old key gone
    const std::string by_old = signed_message(before.signing(), "2.0", "b\n");
    const std::string by_new = signed_message(moved.signing(), "2.0", "b\n");
    EXPECT_EQ(moved.signing().id, "new");
    for (const VerdictKeys* k : {&before, &during, &moved}) {
        EXPECT_EQ(verify_message_verdict(k, by_old, kNow, kWeek).outcome,
                  VerdictCheck::Outcome::valid);
    }
    for (const VerdictKeys* k : {&during, &moved, &after}) {
        EXPECT_EQ(verify_message_verdict(k, by_new, kNow, kWeek).outcome,
                  VerdictCheck::Outcome::valid);
    }
    EXPECT_EQ(verify_message_verdict(&after, by_old, kNow, kWeek).outcome,
              VerdictCheck::Outcome::invalid);
    // Same id, different secret: the signature does not match.
    const auto impostor = keys("old " + kHexB + "\n");
    EXPECT_EQ(verify_message_verdict(&impostor, by_old, kNow, kWeek).outcome,
              VerdictCheck::Outcome::invalid);
}

TEST(Verdict, KnownAnswer) {
    // Pins the wire format: tests/integration/harness.py signs the same way in Python.
    const auto k = keys("k1 " + kHexA + "\n");
    const VerdictFields f{" 7.3", " Yes, score=7.3 tag=5.0 tests=X", "Hi", "<a@b>",
                          body_hash("body\r\n")};
    EXPECT_EQ(sign_verdict(k.signing(), 1700000000, f),
              "v=1; k=k1; t=1700000000; bh=Iw2DWNyOiJC0xY3utikS7i8gNXrpKlzIYbmOaP4xrLU=; "
              "s=QiNXQ8oTQpaA7DbwJxCsnyRxIrEp4szKVgaKh9JuqlI=");
}

TEST(Verdict, KnownAnswerWhateverKeySignedBefore) {
    // The HMAC context is kept per thread for the last key used: a change of key (a
    // rotation, another key of the same length, a reload) must be seen at every call.
    const auto a = keys("k1 " + kHexA + "\n");
    const auto b = keys("k1 " + kHexB + "\n");
    const VerdictFields f{" 7.3", " Yes, score=7.3 tag=5.0 tests=X", "Hi", "<a@b>",
                          body_hash("body\r\n")};
    const std::string by_a =
        "v=1; k=k1; t=1700000000; bh=Iw2DWNyOiJC0xY3utikS7i8gNXrpKlzIYbmOaP4xrLU=; "
        "s=QiNXQ8oTQpaA7DbwJxCsnyRxIrEp4szKVgaKh9JuqlI=";
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(sign_verdict(a.signing(), 1700000000, f), by_a);
        EXPECT_EQ(sign_verdict(a.signing(), 1700000000, f), by_a);  // the kept context again
        const std::string by_b = sign_verdict(b.signing(), 1700000000, f);
        EXPECT_NE(by_b, by_a);
        EXPECT_EQ(verify_verdict(&b, by_b, f, 1700000000, 0).outcome, VerdictCheck::Outcome::valid);
        EXPECT_EQ(verify_verdict(&a, by_b, f, 1700000000, 0).outcome,
                  VerdictCheck::Outcome::invalid);
    }
}

// Bounded random input (a smoke run of tests/fuzz/fuzz_verdict.cpp): no crash, and only
// a valid outcome carries a score.
TEST(Verdict, RandomInputNeverCrashesNorVerifies) {
    const auto k = keys("k1 " + kHexA + "\n");
    const std::string alphabet = "X-Spam-Signature:Score;v=1k=t=bh=s= \t\r\n0123456789+/=abcQ";
    std::uint32_t state = 12345;
    const auto next = [&] { return state = state * 1103515245u + 12345u; };
    for (int i = 0; i < 20000; ++i) {
        std::string in(next() % 300, '\0');
        for (auto& c : in)
            c = (i % 2) ? static_cast<char>(next() >> 16)
                        : alphabet[(next() >> 16) % alphabet.size()];
        if (i % 3 == 0) in = "X-Spam-Score: 1\nX-Spam-Signature: v=1; k=k1; " + in;
        const auto c = verify_message_verdict(&k, in, kNow, kWeek);
        ASSERT_NE(c.outcome, VerdictCheck::Outcome::valid) << in;
        ASSERT_FALSE(c.score);
        (void)VerdictKeys::parse(in, "random");
    }
}
