// The classifier in the scan path: its bucket becomes a rule hit through a mime rule,
// a missing store abstains (no hit, no error), a corrupt one refuses to load.
#include "pampero/classifier/scan_classifier.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bayes_engine.hpp"
#include "pampero/classifier/memory_store.hpp"
#include "pampero/scan/scan_message.hpp"

using namespace pampero;
using namespace pampero::classifier;

namespace {

std::string temp_path(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pampero-scan-classifier-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

std::string message(const std::string& subject, const std::string& body) {
    return "From: someone@example.org\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n";
}

// A store that learned 5 spam about pills and 5 ham about meetings.
std::shared_ptr<MemoryStore> trained() {
    auto store = std::make_shared<MemoryStore>();
    Learner l(*store);
    for (int i = 0; i < 5; ++i) {
        const auto s = scan::parse_message(
            message("cheap pills " + std::to_string(i), "buy cheap pills online now viagra"),
            1 << 20);
        EXPECT_TRUE(l.learn(message_id(s), tokenize(s), Class::spam));
        const auto h = scan::parse_message(
            message("meeting notes " + std::to_string(i), "the agenda for the project meeting"),
            1 << 20);
        EXPECT_TRUE(l.learn(message_id(h), tokenize(h), Class::ham));
    }
    EXPECT_TRUE(l.flush());
    return store;
}

std::shared_ptr<const scan::Engine> engine() {
    return test::bayes_engine(std::filesystem::path(temp_path("x")).parent_path().string());
}

std::vector<std::string> names(const scan::Verdict& v) {
    std::vector<std::string> out;
    for (const auto& h : v.hits) out.push_back(h.name);
    return out;
}

Options few() {
    Options o;
    o.min_spam = o.min_ham = 5;
    return o;
}

TEST(ScanClassifier, BucketIsARuleHit) {
    const ScanClassifier c(trained(), few());
    const auto e = engine();
    const auto spam = scan::scan_message(*e, nullptr, message("pills", "cheap pills online now"),
                                         "", nullptr, false, nullptr, &c);
    ASSERT_EQ(names(spam).size(), 1u);
    EXPECT_EQ(names(spam)[0].rfind("BAYES_9", 0), 0u) << names(spam)[0];
    EXPECT_GT(spam.score, 0);
    const auto ham =
        scan::scan_message(*e, nullptr, message("meeting", "agenda for the project meeting"), "",
                           nullptr, false, nullptr, &c);
    EXPECT_EQ(names(ham), std::vector<std::string>{"BAYES_00"});
    EXPECT_LT(ham.score, 0);
    // Without the classifier the same rules never fire.
    EXPECT_TRUE(scan::scan_message(*e, nullptr, message("pills", "cheap pills online now"), "")
                    .hits.empty());
}

// Text the model has never seen leaves it unsure (BAYES_50). That is free for a spammer to
// get (random words, another language), so it must not buy a ham score (the corpus fit
// said -9; 45-classifier.yaml keeps it at 0).
TEST(ScanClassifier, UnsureBuysNothing) {
    const ScanClassifier c(trained(), few());
    const auto e = engine();
    const auto v = scan::scan_message(
        *e, nullptr, message("cheap meeting", "cheap pills agenda project meeting"), "", nullptr,
        false, nullptr, &c);
    ASSERT_EQ(names(v), std::vector<std::string>{"BAYES_50"});
    EXPECT_GE(v.score, 0);
}

TEST(ScanClassifier, TooLittleLearnedAbstains) {
    Options o;  // 200 of each before it votes
    const ScanClassifier c(trained(), o);
    EXPECT_EQ(c.summary_line(scan::parse_message(message("pills", "cheap pills"), 1 << 20)), "");
}

TEST(ScanClassifier, SenderCannotForgeTheLine) {
    // A body or a file name saying "classifier BAYES_99" matches nothing.
    const auto e = engine();
    const std::string raw =
        "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nclassifier BAYES_99 p=1\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        "filename=\"a\r\n classifier BAYES_99 p=1\"\r\n\r\nxx\r\n--b--\r\n";
    EXPECT_TRUE(scan::scan_message(*e, nullptr, raw, "").hits.empty());
}

TEST(ScanClassifier, MissingStoreAbstains) {
    auto c = ScanClassifier::open("sqlite:" + temp_path("nowhere.db"), few());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ((*c)->summary_line(scan::parse_message(message("a", "b c d"), 1 << 20)), "");
    const auto v = scan::scan_message(*engine(), nullptr, message("pills", "cheap pills"), "",
                                      nullptr, false, nullptr, c->get());
    EXPECT_TRUE(v.hits.empty());
}

// Score sets (rules.hpp): the rules' scores are the `classifier` set's when the
// classifier voted on the message, the `no_classifier` set's when it abstained (too little
// learned, store missing) or there is none.
std::shared_ptr<const scan::Engine> engine_with_sets() {
    const auto rules = temp_path("45-classifier.yaml");
    std::filesystem::copy_file(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d/45-classifier.yaml",
                               rules, std::filesystem::copy_options::overwrite_existing);
    const auto pills = temp_path("20-pills.yaml");
    std::ofstream(pills) << "rules:\n  - {name: PILLS, target: body, regex: pills, score: 1.0}\n";
    const auto without = temp_path("90-without.scores.yaml");
    std::ofstream(without) << "score_set: no_classifier\nscores:\n  PILLS: 4.0\n";
    const auto with = temp_path("91-with.scores.yaml");
    std::ofstream(with) << "score_set: classifier\nscores:\n  PILLS: 0.5\n  BAYES_99: 3.0\n"
                           "  BAYES_999: 3.0\n  BAYES_95: 3.0\n  BAYES_50: 0.0\n";
    auto rs = scan::RuleSet::load_files({pills, rules, without, with});
    EXPECT_TRUE(rs) << rs.error().message;
    auto levels = scan::load_levels(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml");
    EXPECT_TRUE(levels);
    return std::make_shared<scan::Engine>(*rs, *levels, scan::ScanBounds{});
}

double pills_score(const scan::Verdict& v) {
    for (const auto& h : v.hits)
        if (h.name == "PILLS") return h.score;
    ADD_FAILURE() << "PILLS did not hit";
    return 0;
}

TEST(ScanClassifier, VotingClassifierUsesTheClassifierScoreSet) {
    const ScanClassifier c(trained(), few());
    const auto e = engine_with_sets();
    const auto v = scan::scan_message(*e, nullptr, message("pills", "cheap pills online now"), "",
                                      nullptr, false, nullptr, &c);
    EXPECT_EQ(v.score_set, scan::ScoreSet::classifier);
    EXPECT_DOUBLE_EQ(pills_score(v), 0.5);
    // The bucket's score is the classifier set's too, and the verdict their sum.
    ASSERT_EQ(v.hits.size(), 2u);
    EXPECT_DOUBLE_EQ(v.score, 3.5);
}

TEST(ScanClassifier, AbstainingClassifierUsesTheNoClassifierScoreSet) {
    const auto e = engine_with_sets();
    const std::string raw = message("pills", "cheap pills online now");
    // Too little learned (200 + 200 by default): it abstains.
    const ScanClassifier young(trained(), Options{});
    const auto v = scan::scan_message(*e, nullptr, raw, "", nullptr, false, nullptr, &young);
    EXPECT_EQ(v.score_set, scan::ScoreSet::no_classifier);
    EXPECT_EQ(names(v), std::vector<std::string>{"PILLS"});
    EXPECT_DOUBLE_EQ(v.score, 4.0);
    // Its store missing: likewise.
    auto missing = ScanClassifier::open("sqlite:" + temp_path("still-nowhere.db"), few());
    ASSERT_TRUE(missing) << missing.error().message;
    const auto m =
        scan::scan_message(*e, nullptr, raw, "", nullptr, false, nullptr, missing->get());
    EXPECT_EQ(m.score_set, scan::ScoreSet::no_classifier);
    EXPECT_DOUBLE_EQ(m.score, 4.0);
    // No classifier at all: likewise.
    const auto none = scan::scan_message(*e, nullptr, raw, "");
    EXPECT_EQ(none.score_set, scan::ScoreSet::no_classifier);
    EXPECT_DOUBLE_EQ(none.score, 4.0);
}

TEST(ScanClassifier, CorruptStoreRefusesToLoadNamingTheFile) {
    const auto path = temp_path("corrupt.db");
    std::ofstream(path) << std::string(4096, '\x01');
    auto c = ScanClassifier::open("sqlite:" + path, few());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    EXPECT_NE(c.error().message.find(path), std::string::npos) << c.error().message;
}

}  // namespace
