// The tokenizer: what becomes a token from a parsed message, and its bounds.
#include "pampero/classifier/tokenizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

// The tokens of real messages, pinned: the store outlives the binary, so a faster
// tokenizer must make exactly the tokens (and hashes) the old one made. Each row is a
// sample message of tests/data and the FNV-1a 64 of its sorted token list (and the
// count), taken from the tokenizer before it was rewritten to hash in place. With
// PAMPERO_TOKEN_DIGEST_CORPUS=DIR it also prints one digest over every *.eml under DIR
// (the development corpus: compare the line before and after a tokenizer change).
std::string digest(const std::vector<Token>& tokens) {
    std::string bytes(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(Token));
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(token_of(bytes)));
    return out;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::filesystem::path> emls(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
        if (e.path().extension() == ".eml") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

TEST(Tokenizer, PinnedTokensOfSampleMessages) {
    const std::map<std::string, std::string> pinned = {
        {"demo/bulk-offer.eml", "d2d6d50ec7c0462f 74"},
        {"demo/ham-1-out-of-office.eml", "f624734c0f679095 98"},
        {"demo/ham-2-use-perl.eml", "7862cdfdf909af39 186"},
        {"demo/ham-3.eml", "ee7f19362dea7780 139"},
        {"demo/learn/ham/ham-01.eml", "e0b39c25d23a88a7 140"},
        {"demo/learn/ham/ham-02.eml", "10f1e839cd4b92e8 123"},
        {"demo/learn/ham/ham-03.eml", "0c6f2ae46af1f8f5 107"},
        {"demo/learn/ham/ham-04.eml", "6df02973ee3bef3c 92"},
        {"demo/learn/ham/ham-05.eml", "5aeeb35f207adf2d 97"},
        {"demo/learn/ham/ham-06.eml", "b4eac7741f92d677 101"},
        {"demo/learn/ham/ham-07.eml", "8ceb6b70ca2bc2f9 89"},
        {"demo/learn/ham/ham-08.eml", "19ee2ecc8c0acd5f 105"},
        {"demo/learn/ham/ham-09.eml", "121bcd087977e854 107"},
        {"demo/learn/ham/ham-10.eml", "5f9bcc90c4d879b3 95"},
        {"demo/learn/ham/ham-11.eml", "2e086455294386ac 95"},
        {"demo/learn/ham/ham-12.eml", "ac557ddbc9aab796 86"},
        {"demo/learn/spam/spam-01.eml", "5079c831d6d3b183 113"},
        {"demo/learn/spam/spam-02.eml", "407f854e9d49f48a 94"},
        {"demo/learn/spam/spam-03.eml", "7b3b01730d69ba5b 112"},
        {"demo/learn/spam/spam-04.eml", "d261e05dc6861d77 109"},
        {"demo/learn/spam/spam-05.eml", "463b8b9c91b33ea8 101"},
        {"demo/learn/spam/spam-06.eml", "167fa81cfc957adc 93"},
        {"demo/learn/spam/spam-07.eml", "c37d7db508b68c3f 106"},
        {"demo/learn/spam/spam-08.eml", "4bb8840705a3367d 93"},
        {"demo/learn/spam/spam-09.eml", "9ed32108551a7243 94"},
        {"demo/learn/spam/spam-10.eml", "3a4dadca6e92eb47 97"},
        {"demo/learn/spam/spam-11.eml", "36bd02d59ebcd92b 109"},
        {"demo/learn/spam/spam-12.eml", "f457d9bdafa0dd21 107"},
        {"messages/broken-mime.eml", "a445594d25f54259 56"},
        {"messages/charsets-base64.eml", "98ff291a570a7857 31"},
        {"messages/html-tricks.eml", "fd442980c99c291a 68"},
        {"messages/idn-uris.eml", "6217b4423435e347 76"},
        {"messages/nested-rfc822.eml", "2568e2425382d246 28"},
        {"messages/rfc2047-headers.eml", "74c6ef7c0b13bb43 59"},
    };
    const std::filesystem::path data(PAMPERO_TEST_DATA);
    std::size_t n = 0;
    for (const auto& p : emls(data)) {
        const auto tokens = tokenize(scan::parse_message(slurp(p), 2 << 20));
        const std::string name = std::filesystem::relative(p, data).string();
        const std::string got = digest(tokens) + " " + std::to_string(tokens.size());
        const auto it = pinned.find(name);
        EXPECT_TRUE(it != pinned.end() && it->second == got)
            << "{\"" << name << "\", \"" << got << "\"},";
        ++n;
    }
    EXPECT_EQ(n, pinned.size());
    if (const char* corpus = std::getenv("PAMPERO_TOKEN_DIGEST_CORPUS")) {
        std::string all;
        std::size_t count = 0;
        for (const auto& p : emls(corpus)) {
            const auto tokens = tokenize(scan::parse_message(slurp(p), 2 << 20));
            all += digest(tokens);
            count += tokens.size();
        }
        std::printf("corpus token digest: %s over %zu tokens\n", digest({token_of(all)}).c_str(),
                    count);
    }
}

}  // namespace
