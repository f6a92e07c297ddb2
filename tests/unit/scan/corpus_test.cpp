// Accuracy on the development corpus (../shared/corpus beside the source tree: 2,500
// ham and 500 spam from the SpamAssassin public corpus). Uses the corpus: skipped when
// it is absent. Runs every message through the engine with the shipped rules at the
// default level and prints the share of spam and of ham that leave the Inbox; fails when
// more than 0.1% of ham leaves it, or when spam caught falls under a floor set a little
// below the measured figure (a rule change that loses much of it is a regression).
// PAMPERO_CORPUS_RULE_STATS=1 also prints each rule's hits in ham and in spam, and the
// ham that left the Inbox and the spam that stayed, for rule development.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "pampero/rules/engine.hpp"
#include "pampero/verdict/decision.hpp"

using namespace pampero;
using namespace pampero::scan;

namespace {

constexpr double kMaxHamMoved = 0.001;  // the bound: at most 0.1% of ham
// Regression floor, below the measured 29.6%. The shipped scores here are the
// no_classifier set (conf/rules.d/90-fitted-no-classifier.scores.yaml, fitted on this
// corpus and its hard ham with a ham costing 40 spam, so this figure is in-sample; its
// cross-validated one is 27.2% at 2 of 2,625 ham). The hand-picked scores caught 67.6% but
// took 65 of the 125 hard ham out of the Inbox (classifier_corpus_test, issue 11).
constexpr double kMinSpamCaught = 0.27;

std::filesystem::path corpus_dir() {
    return std::filesystem::path(PAMPERO_SOURCE_DIR).parent_path() / "shared" / "corpus";
}

std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".eml") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(Corpus, ShippedRulesAtDefaultLevel) {
    const auto dir = corpus_dir();
    if (!std::filesystem::is_directory(dir / "ham") ||
        !std::filesystem::is_directory(dir / "spam")) {
        GTEST_SKIP() << "development corpus not found at " << dir;
    }
    Config cfg;
    cfg.rules_dir = std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d";
    cfg.levels = std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml";
    auto engine = load_engine(cfg);
    ASSERT_TRUE(engine) << engine.error().message;
    const Level& level = (*engine)->levels().fallback();
    const bool stats = std::getenv("PAMPERO_CORPUS_RULE_STATS") != nullptr;

    std::map<std::string, std::pair<int, int>> rule_hits;  // name -> (ham, spam)
    auto run = [&](const std::filesystem::path& sub, bool is_spam, std::size_t& total,
                   std::size_t& moved) {
        for (const auto& f : files_in(dir / sub)) {
            const Verdict v = (*engine)->scan(read_file(f));
            ++total;
            const Action a = decide(v.score, Listing::none, false, level);
            if (stats && is_spam && a == Action::inbox) {
                std::string names;
                for (const auto& h : v.hits) names += " " + h.name;
                std::printf("spam missed: %s score %.1f:%s\n", f.filename().c_str(), v.score,
                            names.c_str());
            }
            if (stats && !is_spam && a == Action::inbox && v.score >= 3.0) {
                std::string names;
                for (const auto& h : v.hits) names += " " + h.name;
                std::printf("ham near: %s score %.1f:%s\n", f.filename().c_str(), v.score,
                            names.c_str());
            }
            if (a != Action::inbox) {
                ++moved;
                if (stats && !is_spam) {
                    std::string names;
                    for (const auto& h : v.hits) names += " " + h.name;
                    std::printf("ham moved: %s score %.1f:%s\n", f.filename().c_str(), v.score,
                                names.c_str());
                }
            }
            for (const auto& h : v.hits)
                (is_spam ? rule_hits[h.name].second : rule_hits[h.name].first)++;
        }
    };
    std::size_t ham = 0, ham_moved = 0, spam = 0, spam_moved = 0;
    run("ham", false, ham, ham_moved);
    run("spam", true, spam, spam_moved);
    ASSERT_GT(ham, 0u);
    ASSERT_GT(spam, 0u);

    if (stats) {
        for (const auto& [name, hs] : rule_hits)
            std::printf("%-28s ham %5d spam %4d\n", name.c_str(), hs.first, hs.second);
    }
    const double spam_rate = static_cast<double>(spam_moved) / static_cast<double>(spam);
    const double ham_rate = static_cast<double>(ham_moved) / static_cast<double>(ham);
    std::printf(
        "development corpus, level %d (tag %.1f, cutoff %.1f): spam out of the Inbox %zu/%zu = "
        "%.1f%%, "
        "ham out of the Inbox %zu/%zu = %.2f%%\n",
        level.number, level.tag, level.cutoff, spam_moved, spam, 100.0 * spam_rate, ham_moved, ham,
        100.0 * ham_rate);
    RecordProperty("spam_caught_percent", std::to_string(100.0 * spam_rate));
    RecordProperty("ham_moved_percent", std::to_string(100.0 * ham_rate));
    EXPECT_LE(static_cast<double>(ham_moved), kMaxHamMoved * static_cast<double>(ham))
        << "more than 0.1% of ham leaves the Inbox";
    EXPECT_GE(spam_rate, kMinSpamCaught) << "spam caught fell under the regression floor";
}

}  // namespace
