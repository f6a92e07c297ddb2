// The tokenizer: what becomes a token from a parsed message, and its bounds.
#include "pampero/classifier/tokenizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using namespace pampero;
using namespace pampero::classifier;

namespace {

std::set<std::string> texts(const std::string& raw) {
    std::set<std::string> out;
    for (auto& [t, s] : tokenize_verbose(scan::parse_message(raw, 1 << 20))) out.insert(s);
    return out;
}

const char* kPlain =
    "From: Alice Example <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: Cheap watches\r\n"
    "Message-ID: <abc123@mail.example.org>\r\n"
    "\r\n"
    "Buy cheap watches today, friend.\r\n";

TEST(Tokenizer, WordsPairsAndPrefixedHeaders) {
    const auto t = texts(kPlain);
    for (const char* want :
         {"buy", "cheap", "watches", "today", "friend", "buy cheap", "cheap watches",
          "subject:cheap", "subject:cheap watches", "from:alice@example.org",
          "from-domain:example.org", "from-name:alice", "to-domain:example.net",
          "msgid-domain:mail.example.org", "msgid-shape:a9@a.a.a"}) {
        EXPECT_TRUE(t.count(want)) << want;
    }
    // The window is two words (kOsbWindow): no pair two apart; punctuation is not a word.
    static_assert(kOsbWindow == 2, "the rows above assume a window of 2");
    EXPECT_FALSE(t.count("buy _ watches"));
    EXPECT_FALSE(t.count("today,"));
}

TEST(Tokenizer, HtmlIsRenderedNotTokenized) {
    const auto t = texts(
        "Subject: x\r\nContent-Type: text/html\r\n\r\n"
        "<html><body><font color=red size=7>Hello</font> <b>World</b></body></html>\r\n");
    EXPECT_TRUE(t.count("hello world"));
    EXPECT_TRUE(t.count("part:text/html"));
    for (const char* markup : {"font", "color", "red", "body", "html", "size"})
        EXPECT_FALSE(t.count(markup)) << markup;
}

TEST(Tokenizer, LongWordsBecomeOneSkipToken) {
    const std::string junk(200, 'Q');
    const auto t = texts("Subject: x\r\n\r\nsee " + junk + " here\r\n");
    EXPECT_TRUE(t.count("skip:q200"));
    EXPECT_FALSE(t.count(junk));
}

TEST(Tokenizer, UriDomainsAreTokens) {
    const auto t = texts("Subject: x\r\n\r\nGo to http://www.shop.example.com/buy now\r\n");
    EXPECT_TRUE(t.count("uri-domain:example.com"));
    EXPECT_TRUE(t.count("uri-host:www.shop.example.com"));
}

TEST(Tokenizer, TokenCountIsBounded) {
    std::string body;
    for (int i = 0; i < 20000; ++i) body += "w" + std::to_string(i) + " ";
    const auto tokens = tokenize(scan::parse_message("Subject: x\r\n\r\n" + body, 4 << 20));
    EXPECT_LE(tokens.size(), kMaxTokens);
    // Only kMaxBodyWords words are read: the last ones never become tokens.
    const auto t = texts("Subject: x\r\n\r\n" + body);
    EXPECT_TRUE(t.count("w0"));
    EXPECT_FALSE(t.count("w19999"));
}

TEST(Tokenizer, SortedDistinctAndStable) {
    const auto msg = scan::parse_message(std::string(kPlain) + "cheap cheap cheap\r\n", 1 << 20);
    const auto a = tokenize(msg);
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
    EXPECT_EQ(a, tokenize(msg));
    // The fast path (pairs hashed without their text) makes the same tokens as the
    // verbose one, which hashes each token's text: token i is token_of(text i).
    std::vector<Token> verbose;
    for (const auto& [t, text] : tokenize_verbose(msg)) {
        EXPECT_EQ(t, token_of(text)) << text;
        verbose.push_back(t);
    }
    EXPECT_EQ(a, verbose);
    // FNV-1a 64 of "a": the store outlives the binary, so the hash must never change.
    EXPECT_EQ(token_of("a"), 0xaf63dc4c8601ec8cull);
}

TEST(Tokenizer, OwnHeadersChangeNeitherTokensNorId) {
    const auto plain = scan::parse_message(kPlain, 1 << 20);
    const auto tagged = scan::parse_message(
        std::string("X-Spam-Status: Yes, score=9.0\r\nX-Spam-Flag: YES\r\n") + kPlain, 1 << 20);
    EXPECT_EQ(tokenize(plain), tokenize(tagged));
    EXPECT_EQ(message_id(plain), message_id(tagged));
    EXPECT_EQ(message_id(plain).size(), 16u);
    const auto other = scan::parse_message(std::string(kPlain) + "PS\r\n", 1 << 20);
    EXPECT_NE(message_id(plain), message_id(other));
}

}  // namespace
