// Issue 11's accuracy measure on the development corpus (../shared/corpus beside the
// source tree: ham 2,500, hard-ham 125, spam 500): 5-fold cross-validation of the rules
// with the classifier, every rule score (BAYES_* included) fitted on the four other folds
// with a nested CV for the buckets (cross_validation.hpp), at the default level. No message
// is scored by a classifier or a fit that learned it. Skipped when the corpus is absent
// (PAMPERO_CORPUS names another place). Both score sets (rules.hpp) are measured: the
// `classifier` set with the classifier voting, and the `no_classifier` set on the rules
// alone (a site that has not trained a classifier yet), each fitted as shipped in
// conf/rules.d/9x-fitted-*.scores.yaml.
//
// The target is at most 0.1% of ham (ordinary + hard: 2 of 2,625) out of the
// Inbox with at least 90% of spam out of it. Reached by the shipped procedure: the
// classifier's max_tokens chosen in each fold among kMaxTokensGrid by a CV inside its
// training folds, then the fit (cost 10, l2 1e-4): 2 hard ham out (0.08%) and 451 spam
// (90.2%); each fixed max_tokens gave 2-3 ham at 440-452 (CLASSIFIER-STATUS.md). The
// bounds asserted are the target's; the margin is one spam message, the noise level of
// this measure (a change that moves the classifier's last bits can move it by one or two).
// The two left out are commercial newsletters (Netscape, a movie-trivia list) that both
// the rules and the classifier (p > 0.999) call spam, each from a sender seen once.
// Without the classifier the ham bound holds (2 hard ham out, fit with a ham costing 40
// spam) at 27.2% of spam: the rules alone cannot do more without taking ham out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "pampero/classifier/cross_validation.hpp"
#include "pampero/verdict/decision.hpp"

using namespace pampero;
using namespace pampero::classifier;

namespace {

constexpr std::size_t kMaxHamOut = 2;       // of 2,625: the target (measured 2)
constexpr double kMinSpamOut = 0.90;        // the target (measured 0.902)
constexpr std::size_t kMaxHamOutRules = 2;  // of 2,625: the 0.1% (measured 2)
constexpr double kMinSpamOutRules = 0.25;   // measured 0.272

TEST(ClassifierCorpus, FiveFoldCrossValidationAtDefaultLevel) {
    // PAMPERO_CORPUS overrides the place (as for bench_scan).
    const char* env = std::getenv("PAMPERO_CORPUS");
    const auto dir =
        env ? std::filesystem::path(env)
            : std::filesystem::path(PAMPERO_SOURCE_DIR).parent_path() / "shared" / "corpus";
    if (!std::filesystem::is_directory(dir / "ham") || !std::filesystem::is_directory(dir / "spam"))
        GTEST_SKIP() << "development corpus not found at " << dir << ": accuracy not measured";
    auto rules = scan::RuleSet::load_dir(std::string(PAMPERO_SOURCE_DIR) + "/conf/rules.d");
    ASSERT_TRUE(rules) << rules.error().message;
    auto levels = scan::load_levels(std::string(PAMPERO_SOURCE_DIR) + "/conf/levels.yaml");
    ASSERT_TRUE(levels) << levels.error().message;
    const scan::Engine engine(*rules, *levels, scan::ScanBounds{});
    const auto& level = levels->fallback();

    auto corpus = load_corpus(dir.string(), engine, 5);
    ASSERT_TRUE(corpus) << corpus.error().message;
    CvOptions o;
    o.fit.tag = level.tag;
    o.fit_rules.tag = level.tag;
    o.shipped = bucket_scores(engine);
    o.fixed = fixed_scores(*corpus);
    o.grid = max_tokens_grid(o.classifier, o.fit);  // the shipped procedure
    auto outcomes = cross_validate(*corpus, o);
    ASSERT_TRUE(outcomes) << outcomes.error().message;

    // n, out: the classifier set (or the no_classifier set where it abstained), the shipped
    // scores, and the no_classifier set alone (a site without a classifier).
    std::map<std::string, std::pair<std::size_t, std::size_t>> fitted, shipped, alone;
    for (std::size_t i = 0; i < corpus->size(); ++i) {
        const auto& m = (*corpus)[i];
        const auto& r = (*outcomes)[i];
        auto out = [&](double s) {
            return scan::decide(s, Listing::none, false, level) != scan::Action::inbox;
        };
        ++fitted[m.label].first;
        fitted[m.label].second += out(r.fitted_score);
        ++shipped[m.label].first;
        shipped[m.label].second += out(r.shipped_score);
        ++alone[m.label].first;
        alone[m.label].second += out(r.rules_fitted_score);
        if (!m.spam && out(r.rules_fitted_score))
            std::printf("ham out of the Inbox without the classifier: %s/%s score %.1f\n",
                        m.label.c_str(), m.file.c_str(), r.rules_fitted_score);
        if (!m.spam && out(r.fitted_score))
            std::printf("ham out of the Inbox: %s/%s score %.1f %s p=%.6f\n", m.label.c_str(),
                        m.file.c_str(), r.fitted_score, r.bucket.c_str(), r.probability);
    }
    for (const auto* table : {&shipped, &fitted, &alone}) {
        std::printf("%s, out of the Inbox at level %d:",
                    table == &fitted  ? "classifier set, fitted"
                    : table == &alone ? "no_classifier set, fitted"
                                      : "shipped scores (in-sample)",
                    level.number);
        for (const char* c : {"ham", "hard-ham", "spam"}) {
            const auto [n, k] =
                (*table).count(c) ? (*table).at(c) : std::pair<std::size_t, std::size_t>{};
            std::printf(" %s %zu/%zu", c, k, n);
        }
        std::printf("\n");
    }
    const std::size_t ham_n = fitted["ham"].first + fitted["hard-ham"].first;
    const std::size_t ham_out = fitted["ham"].second + fitted["hard-ham"].second;
    const auto [spam_n, spam_out] = fitted["spam"];
    ASSERT_GT(ham_n, 0u);
    ASSERT_GT(spam_n, 0u);
    EXPECT_LE(ham_out, kMaxHamOut) << "of " << ham_n << " ham";
    EXPECT_GE(static_cast<double>(spam_out) / static_cast<double>(spam_n), kMinSpamOut)
        << spam_out << " of " << spam_n << " spam";
    // Without the classifier (the no_classifier set, what a site that has not trained one
    // yet runs).
    const std::size_t rules_ham_out = alone["ham"].second + alone["hard-ham"].second;
    EXPECT_LE(rules_ham_out, kMaxHamOutRules) << "of " << ham_n << " ham, no classifier";
    EXPECT_GE(static_cast<double>(alone["spam"].second) / static_cast<double>(spam_n),
              kMinSpamOutRules)
        << alone["spam"].second << " of " << spam_n << " spam, no classifier";
}

}  // namespace
