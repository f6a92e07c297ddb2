#include "pampero/verdict/spam_headers.hpp"

#include <gtest/gtest.h>

using namespace pampero::scan;

TEST(SpamHeaders, FormatsScoreStarsAndStatus) {
    const Level ref{3, "standard", 5.0, 15.0};
    auto h = format_spam_headers(7.25, {{"A_RULE", 5.0, ""}, {"B_RULE", 2.25, ""}}, ref);
    EXPECT_EQ(h.score, "7.2");
    EXPECT_EQ(h.level, "*******");
    EXPECT_EQ(h.status, "Yes, score=7.2 tag=5.0 tests=A_RULE,B_RULE");
    auto clean = format_spam_headers(-1.0, {}, ref);
    EXPECT_EQ(clean.level, "");
    EXPECT_EQ(clean.status, "No, score=-1.0 tag=5.0 tests=none");
    EXPECT_EQ(format_spam_headers(1000, {}, ref).level.size(), 50u);  // bounded
    EXPECT_EQ(format_spam_headers(0.5, {{"SCAN_TRUNCATED", 0.5, ""}}, ref, true).status,
              "No, score=0.5 tag=5.0 tests=SCAN_TRUNCATED scan=partial");
}

TEST(SpamHeaders, ParsesScoreBack) {
    EXPECT_EQ(parse_spam_score("7.2"), 7.2);
    EXPECT_EQ(parse_spam_score(" -1.5 "), -1.5);
    EXPECT_FALSE(parse_spam_score(""));
    EXPECT_FALSE(parse_spam_score("seven"));
    EXPECT_FALSE(parse_spam_score("7.2 extra"));
    EXPECT_FALSE(parse_spam_score("nan"));
}

TEST(SpamHeaders, RecognizesOwnedHeaders) {
    EXPECT_TRUE(is_spam_header("X-Spam-Status"));
    EXPECT_TRUE(is_spam_header("x-spam-flag"));
    EXPECT_FALSE(is_spam_header("X-Spammy"));
    EXPECT_FALSE(is_spam_header("Subject"));
}
